from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict, Unpack

from .._decode import decode_image_url
from .._errors import InvalidParameterError
from .._listing import AsyncList
from .._models import Product, ProductFeature
from .._retry import Resend
from .._validation import (
    IMAGE_TYPES,
    MAX_IMAGE_BYTES,
    Clear,
    Fields,
    check_features,
    check_flag,
    check_https_url,
    check_id,
    check_image,
    check_image_filename,
    check_metadata,
    check_optional_text,
    check_text,
    clearable,
)
from ._base import Listed, Marking, Resource, marked

__all__ = ["Products"]

PRODUCTS_PATH = "/products"
# The 100 newest products, project-wide: the API has no filter. Nothing is
# compared with a found product: `update` may change every field it was
# created with, so a re-run after a rename must still find it.
_LISTED = Listed(PRODUCTS_PATH)
_CREATE = Fields(
    {
        "name": check_text,
        "description": check_optional_text,
        "image_url": check_https_url,
        "features": check_features,
    },
    required=("name",),
)
_UPDATE = Fields(
    {
        "name": check_text,
        "description": clearable(check_optional_text),
        "image_url": clearable(check_https_url),
        "features": clearable(check_features),
        "active": check_flag,
        "metadata": check_metadata,
    }
)

Features = Sequence[ProductFeature | Mapping[str, str | None]]


class ProductChanges(TypedDict, total=False):
    """What `products.update` may change; None (the default) leaves a field
    unchanged, `CLEAR` empties a nullable one."""

    name: str | None
    description: str | Clear | None
    image_url: str | Clear | None
    features: Features | Clear | None  # replaces the whole list
    active: bool | None
    metadata: Mapping[str, Any] | None


class Products(Resource):
    """`/products`: what you sell; its prices say what it costs.

    Retry policy, by what a repeat would do on the server:

    - `create` is exactly-once like `refunds.create` (a second product would
      show up on hosted pages and in reports): its idempotency key is stored
      in the product's metadata under `IDEMPOTENCY_METADATA_KEY`, and after an
      ambiguous failure the client looks for it among the 100 newest products
      (`GET /products`, project-wide: no filter is documented) before it
      sends again.
    - `update` sets the given fields (it never adds to them), so it is
      retried like a GET.
    - `upload_image` is retried like a GET: a repeat hosts the same image
      again, and an image no product uses is harmless.

    There is no delete: deactivate a product with `update(id, active=False)`.
    `unlisted` is left out on purpose: the API refuses it from an API key
    (it is set in the dashboard).
    """

    async def create(
        self,
        *,
        name: str,
        description: str | None = None,
        image_url: str | None = None,
        features: Features | None = None,
        metadata: Mapping[str, Any] | None = None,
        **marking: Unpack[Marking],
    ) -> Product:
        """Create a product (active from the start).

        `features`: `[{"title": "SSO", "subtitle": "SAML and OIDC"}]` or
        ProductFeature, shown on hosted checkout. `image_url` must be https
        (`upload_image` hosts one for you).

        Idempotency options (`marking`) as for `charges.create`:
        `idempotency_key`, `mark_idempotency_key`, `on_full_window`,
        `assume_new`. With your own `idempotency_key`, a product already made
        with it is returned (`request_info.found_existing`) instead of a
        second one, whatever its fields now (`update` may change each, so
        none is compared); when the 100 newest products lack it and they are
        100, `LookupInconclusiveError`, nothing sent, unless
        `on_full_window="send"`.
        """
        payload = _CREATE.body_of(locals())
        how = marked(_LISTED, payload, metadata, **marking)
        return await self._create_marked(Product, PRODUCTS_PATH, payload, how)

    async def update(self, id: str, **changes: Unpack[ProductChanges]) -> Product:
        """Change the given fields (`ProductChanges`: `name`, `description`,
        `image_url`, `features`, `active`, `metadata`); None leaves a field
        unchanged and `ching_async.CLEAR` empties `description`, `image_url`
        or `features`.

        `features` replaces the whole list (to add one, pass the current
        `product.features` plus the new one). `active=False` hides the
        product from new purchases.
        """
        path = PRODUCTS_PATH + "/" + check_id("id", id)
        payload = _UPDATE.body(**changes)
        if not payload:
            raise InvalidParameterError("update needs at least one field to change")
        return await self._call(Product, "POST", path, body=payload, retry=Resend.SAFE)

    async def upload_image(
        self,
        image: str | os.PathLike[str] | bytes,
        *,
        content_type: str | None = None,
        filename: str | None = None,
    ) -> str:
        """Host an image for `image_url` and return its URL.

        `image`: a path to a file (str or pathlib.Path), or its bytes; a PNG, JPEG, WebP or GIF of
        at most 2 MB. Its type is read from its first bytes; `content_type`
        ("image/png", "image/jpeg", "image/webp" or "image/gif"), if given,
        must agree. `filename` (without extension) defaults to the file's
        name for a path.

        Safe to retry (and retried like a GET): a repeat hosts the image
        again, and an image no product uses is harmless.
        """
        data: object = image
        if isinstance(image, str | os.PathLike):
            path = Path(image)
            if filename is None:
                filename = path.stem
            data = await asyncio.to_thread(_read_image, path)
        content, kind = check_image("image", data, content_type)
        payload = {"content": base64.b64encode(content).decode(), "content_type": kind}
        if filename is not None:
            payload["filename"] = check_image_filename("filename", filename)
        return await self._call(
            str,
            "POST",
            PRODUCTS_PATH + "/upload_image",
            body=payload,
            retry=Resend.SAFE,
            decode=decode_image_url,
        )

    # Alike in shape only to refunds' and discounts': each is one shared call.
    async def retrieve(self, id: str) -> Product:
        """The product `id` (`prod_...`)."""
        return await self._call(Product, "GET", PRODUCTS_PATH + "/" + check_id("id", id))

    def list(self) -> AsyncList[Product]:
        """The 100 newest products, newest first. Awaitable and async-iterable."""
        return self._list(Product, PRODUCTS_PATH, None)

    async def find_by_idempotency_key(self, key: str) -> Product | None:
        """The product created with this idempotency key, or None when it
        provably does not exist; LookupInconclusiveError, never None, when
        the 100 newest products lack it and are 100 (as
        `refunds.find_by_idempotency_key`). Resolves an OutcomeUnknownError.
        """
        return await self._find_by_marker(Product, _LISTED, key)


def _read_image(path: Path) -> bytes:
    """The file's bytes, refused unread when it is larger than an image may be."""
    suffix = path.suffix.lower()
    if suffix and not any(suffix in suffixes for suffixes in IMAGE_TYPES.values()):
        raise InvalidParameterError(
            f"image {str(path)!r} is not a .png, .jpg, .jpeg, .webp or .gif file"
        )
    try:
        size = path.stat().st_size
        if size > MAX_IMAGE_BYTES:
            raise InvalidParameterError(
                f"image {str(path)!r} must be at most 2 MB ({MAX_IMAGE_BYTES} bytes), got {size}"
            )
        return path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InvalidParameterError(f"cannot read image {str(path)!r}: {reason}") from None
