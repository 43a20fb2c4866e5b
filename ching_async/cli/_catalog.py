"""``ching products|prices|discounts ...``: what you sell, what it costs, and
discount rules.

Creates are made exactly once (``_once.create_once``); every write asks first
in live mode (``--yes`` skips the question; without a terminal, ``--yes`` is
required). Options are named as the SDK's arguments.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

from .. import CLEAR, Client, Product, ProductFeature
from ._confirm import ask, needs_confirmation
from ._env import call, list_command, owned_command, retrieve_command
from ._errors import UsageError
from ._once import Wording, by_key, create_once, find_command, found_by_key
from ._options import Handler, api_arguments
from ._output import Output

__all__ = [
    "confirmed_write",
    "write_command",
    "discounts_archive",
    "discounts_create",
    "discounts_find",
    "discounts_get",
    "discounts_list",
    "discounts_redemptions",
    "discounts_targets",
    "discounts_update",
    "prices_cancel_migration",
    "prices_create",
    "prices_find",
    "prices_get",
    "prices_list",
    "prices_update",
    "products_create",
    "products_find",
    "products_get",
    "products_list",
    "products_update",
    "products_upload_image",
]

T = TypeVar("T")


async def confirmed_write(
    out: Output,
    args: argparse.Namespace,
    action: str,
    request: Callable[[Client], Awaitable[T]],
    show: Callable[[T], None],
) -> int:
    """A write other than a create: asked first in live mode, then one request."""

    async def confirmed(client: Client) -> T:
        if needs_confirmation(client, yes=args.yes, action=action):
            ask(out, f"{action[0].upper()}{action[1:]} in live mode?")
        return await request(client)

    return await call(out, confirmed, show)


def write_command(
    action: Callable[[argparse.Namespace], str],
    request: Callable[[Client, argparse.Namespace], Awaitable[Any]],
    show: Callable[[Output, argparse.Namespace], Callable[[Any], None]],
) -> Handler:
    """A write command that is one request, `request(client, args)`: asked
    first in live mode (`action(args)` names it), its answer shown by `show(out, args)`."""

    async def write(args: argparse.Namespace, out: Output) -> int:
        return await confirmed_write(
            out, args, action(args), lambda client: request(client, args), show(out, args)
        )

    return write


def creates(noun: str, *, find: str) -> Wording:
    """How a create command speaks of the `noun` it makes."""
    return Wording(noun=noun, verb="create it", done="created", find=find, request="create request")


# ------------------------------------------------------------------ products
PRODUCT = creates("product", find="ching products find")


def parse_feature(text: str) -> ProductFeature:
    """``Title|Subtitle`` (the official CLI's spelling) or ``Title``."""
    title, _, subtitle = text.partition("|")
    if not title.strip():
        raise UsageError(f"a feature needs a title: 'Title' or 'Title|Subtitle', got {text!r}")
    return ProductFeature(title.strip(), subtitle.strip() or None)


PRODUCT_CHANGES = ("name", "description", "image_url", "active", "metadata")


async def _image_url(client: Client, args: argparse.Namespace) -> str | None:
    """--image-url as given, or the URL of --image FILE once uploaded."""
    if args.image is None:
        image_url: str | None = args.image_url
        return image_url
    return await client.products.upload_image(Path(args.image))


# The three creates are alike in shape only: each hands create_once its own request.
async def products_create(args: argparse.Namespace, out: Output) -> int:
    features = [parse_feature(f) for f in args.feature or ()]

    async def create(client: Client, assume_new: bool) -> Product:
        return await client.products.create(
            name=args.name,
            description=args.description,
            image_url=await _image_url(client, args),
            features=features or None,
            metadata=args.metadata,
            idempotency_key=args.idempotency_key,
            assume_new=assume_new,
        )

    return await create_once(
        out,
        args,
        PRODUCT,
        action="creating a product",
        find=by_key("products"),
        create=create,
        question=f"Create product {args.name!r} in live mode?",
        show=out.product,
    )


async def products_update(args: argparse.Namespace, out: Output) -> int:
    changes: dict[str, Any] = {
        k: v for k, v in api_arguments(args, *PRODUCT_CHANGES).items() if v is not None
    }
    if args.clear_description:
        changes["description"] = CLEAR
    if args.clear_image:
        changes["image_url"] = CLEAR
    if args.clear_features:
        changes["features"] = CLEAR
    elif args.feature:
        changes["features"] = [parse_feature(f) for f in args.feature]
    add = [parse_feature(f) for f in args.add_feature or ()]
    if not (changes or add or args.image):
        raise UsageError("nothing to update: give at least one option (see --help)")

    async def update(client: Client) -> Product:
        if add:
            # The API replaces the whole list: read it, then send it with the new ones.
            current = await client.products.retrieve(args.id)
            changes["features"] = [*(current.features or ()), *add]
        if args.image:
            changes["image_url"] = await client.products.upload_image(Path(args.image))
        return await client.products.update(args.id, **changes)

    return await confirmed_write(
        out,
        args,
        f"updating product {args.id}",
        update,
        partial(out.product, title="Product updated"),
    )


async def products_upload_image(args: argparse.Namespace, out: Output) -> int:
    async def upload(client: Client) -> str:
        return await client.products.upload_image(
            Path(args.file), content_type=args.content_type, filename=args.filename
        )

    def show(url: str) -> None:
        if out.json_mode:
            out.emit_json({"url": url})
        else:
            out.print(url)

    return await confirmed_write(out, args, f"uploading {args.file}", upload, show)


products_get = retrieve_command("products", "product")
products_list = list_command("products", "products")
products_find = find_command("products", "product", "product")


# -------------------------------------------------------------------- prices
PRICE_FIELDS = ("product", "unit_amount", "type", "currency", "tax_mode", "metadata")


RECURRING_OPTIONS = {
    "interval": "--interval",
    "interval_count": "--interval-count",
    "trial_period_days": "--trial-period-days",
}


def _recurring(args: argparse.Namespace) -> dict[str, Any] | None:
    """`recurring=` from --interval, --interval-count and --trial-period-days."""
    given = {k: v for k, v in api_arguments(args, *RECURRING_OPTIONS).items() if v is not None}
    if args.type != "recurring":
        if given:
            options = ", ".join(RECURRING_OPTIONS[name] for name in given)
            raise UsageError(f"{options}: for --type recurring only")
        return None
    if "interval" not in given:
        raise UsageError("--type recurring needs --interval (month or year; day and week too)")
    return given


async def prices_create(args: argparse.Namespace, out: Output) -> int:
    recurring = _recurring(args)
    words = creates("price", find=f"ching prices find {args.product}")

    return await create_once(
        out,
        args,
        words,
        action=f"creating a price of {args.product}",
        find=lambda client, key: client.prices.find_by_idempotency_key(args.product, key),
        create=lambda client, assume_new: client.prices.create(
            **api_arguments(args, *PRICE_FIELDS),
            recurring=recurring,
            idempotency_key=args.idempotency_key,
            assume_new=assume_new,
        ),
        question=f"Create a price of {args.product} in live mode?",
        show=out.price,
    )


prices_update = write_command(
    lambda args: f"updating price {args.id} ({args.apply_mode})",
    lambda client, args: client.prices.update(
        args.id,
        **api_arguments(args, "apply_mode", "effective_date", "unit_amount", "tax_mode"),
        trial_period_days=CLEAR if args.clear_trial else args.trial_period_days,
        metadata=args.metadata,
    ),
    lambda out, args: partial(out.price, title=f"Price updated ({args.apply_mode})"),
)
prices_cancel_migration = write_command(
    lambda args: f"canceling the pending change of price {args.id}",
    lambda client, args: client.prices.cancel_pending_migration(args.id),
    lambda out, _: partial(out.price, title="Pending change canceled"),
)


ACTIVE_FILTER: dict[str | None, bool | Literal["all"] | None] = {
    "true": True,
    "false": False,
    "all": "all",
    None: None,
}


async def prices_list(args: argparse.Namespace, out: Output) -> int:
    active = ACTIVE_FILTER[args.active]
    return await call(
        out, lambda client: client.prices.list(product=args.product, active=active), out.prices
    )


async def prices_find(args: argparse.Namespace, out: Output) -> int:
    return await call(
        out,
        lambda client: client.prices.find_by_idempotency_key(args.product, args.key),
        found_by_key(out, "price", args.key, out.price, f" of {args.product}"),
    )


prices_get = retrieve_command("prices", "price")


# ----------------------------------------------------------------- discounts
DISCOUNT = creates("discount rule", find="ching discounts find")
DISCOUNT_FIELDS = (
    "name", "redemption", "code", "target_type", "value_type", "value", "value_tax_mode",
    "currency", "duration", "duration_charges", "duration_until", "active_from", "active_until",
    "max_redemptions", "max_redemptions_per_customer", "active", "metadata",
)  # fmt: skip
MUTABLE = ("name", "active", "active_from", "active_until", "max_redemptions",
           "max_redemptions_per_customer", "metadata")  # fmt: skip


def targets(values: list[str] | None) -> list[str] | None:
    """Repeated --target, each a comma-separated list, as one list."""
    ids = [part.strip() for value in values or () for part in value.split(",") if part.strip()]
    return ids or None


async def discounts_create(args: argparse.Namespace, out: Output) -> int:
    return await create_once(
        out,
        args,
        DISCOUNT,
        action="creating a discount rule",
        find=by_key("discounts"),
        create=lambda client, assume_new: client.discounts.create(
            **api_arguments(args, *DISCOUNT_FIELDS),
            targets=targets(args.target),
            idempotency_key=args.idempotency_key,
            assume_new=assume_new,
        ),
        question=f"Create discount rule {args.name!r} in live mode?",
        show=out.discount,
    )


async def discounts_update(args: argparse.Namespace, out: Output) -> int:
    changes = {k: v for k, v in api_arguments(args, *MUTABLE).items() if v is not None}
    if not changes:
        raise UsageError("nothing to update: give at least one option (see --help)")
    return await confirmed_write(
        out,
        args,
        f"updating discount rule {args.id}",
        lambda client: client.discounts.update(args.id, **changes),
        partial(out.discount, title="Discount rule updated"),
    )


async def discounts_targets(args: argparse.Namespace, out: Output) -> int:
    ids = targets(args.target)
    if ids is None:
        raise UsageError("--target needs at least one product or price id")
    return await confirmed_write(
        out,
        args,
        f"replacing the targets of discount rule {args.id}",
        lambda client: client.discounts.replace_targets(args.id, targets=ids),
        partial(out.discount, title="Discount rule's targets replaced"),
    )


discounts_archive = write_command(
    lambda args: f"archiving discount rule {args.id}",
    lambda client, args: client.discounts.archive(args.id),
    lambda out, _: partial(
        out.discount, title="Discount rule archived (applied discounts run out their duration)"
    ),
)


discounts_redemptions = owned_command("discounts", "redemptions", "redemptions", "discount")
discounts_get = retrieve_command("discounts", "discount")
discounts_list = list_command("discounts", "discounts")
discounts_find = find_command("discounts", "discount", "discount rule")
