"""Verify and decode CHING webhook deliveries.

    from ching_async.webhooks import construct_event

    event = construct_event(raw_body, headers.get("Ching-Signature"), secret)

CHING signs each delivery with `Ching-Signature`: the lowercase hex
HMAC-SHA256 of the raw request body, keyed with the endpoint's secret
(`whsec_...`). There is no timestamp in the scheme, so verify the exact bytes
you received, before any JSON parsing.

Deliveries can repeat (CHING retries non-2xx answers for days, and a delivery
whose answer was lost is sent again): make your handling idempotent by event
id. Events can also arrive out of order: compare `event.created`.

Ready-made receivers, both reading the raw body first, answering 400 to a bad
signature, 500 when your callback raises (so CHING delivers again) and 200
otherwise:

- `aiohttp_handler(secret, on_event)`: an aiohttp.web handler;
- `asgi_app(secret, on_event)`: a plain ASGI app (mount it in Starlette or
  FastAPI, or serve it with any ASGI server).

Keep `on_event` fast: record the event (or enqueue the work) and return.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from ._convert import structure
from ._errors import ChingError, InvalidParameterError
from ._models import Event

if TYPE_CHECKING:
    from aiohttp import web

    from ._webhook_receivers import ASGIApp

__all__ = [
    "SIGNATURE_HEADER",
    "Event",
    "OnEvent",
    "SignatureVerificationError",
    "WebhookPayloadError",
    "aiohttp_handler",
    "asgi_app",
    "compute_signature",
    "construct_event",
    "verify_signature",
]

SIGNATURE_HEADER = "Ching-Signature"
_FORBIDDEN_IN_SECRET = re.compile(r"[\s\x00-\x1f\x7f]")

# Your callback: sync or async, given each verified event.
OnEvent = Callable[[Event], Awaitable[Any] | Any]


class SignatureVerificationError(ChingError):
    """The `Ching-Signature` header is missing or does not match the body."""


class WebhookPayloadError(ChingError):
    """The body is correctly signed but is not a CHING event (no JSON object
    with a string `id` and `type`)."""


def _secret_bytes(secret: object) -> bytes:
    if isinstance(secret, bytes) and secret:
        return secret
    if not isinstance(secret, str) or not secret:
        raise InvalidParameterError("secret must be the endpoint's non-empty whsec_... string")
    if _FORBIDDEN_IN_SECRET.search(secret):
        # A trailing newline from a file or env var would fail every delivery.
        raise InvalidParameterError(
            "secret contains whitespace or control characters; check how it was loaded"
        )
    try:
        return secret.encode()
    except UnicodeEncodeError:
        raise InvalidParameterError(
            "secret is not valid Unicode text (it has a lone surrogate); check how it was loaded"
        ) from None


def _payload_bytes(payload: object) -> bytes:
    if isinstance(payload, bytes | bytearray | memoryview):
        return bytes(payload)
    raise InvalidParameterError(
        "payload must be the raw request body as bytes (not parsed or re-encoded JSON), "
        f"got {type(payload).__name__}"
    )


def compute_signature(payload: bytes, secret: str | bytes) -> str:
    """The `Ching-Signature` value for a body: lowercase hex HMAC-SHA256."""
    return hmac.new(_secret_bytes(secret), _payload_bytes(payload), hashlib.sha256).hexdigest()


def verify_signature(payload: bytes, signature: str | None, secret: str | bytes) -> None:
    """Raise SignatureVerificationError unless `signature` signs `payload`.

    Compared in constant time. Surrounding whitespace and upper-case hex in
    the header are tolerated.
    """
    expected = compute_signature(payload, secret)
    if not isinstance(signature, str) or not signature.strip():
        raise SignatureVerificationError(f"missing {SIGNATURE_HEADER} header")
    received = signature.strip().lower().encode("utf-8", "replace")
    if not hmac.compare_digest(expected.encode("ascii"), received):
        raise SignatureVerificationError(
            f"{SIGNATURE_HEADER} does not match the body: wrong secret, or the body "
            "was changed (parsed and re-serialized?) before verification"
        )


def construct_event(payload: bytes, signature: str | None, secret: str | bytes) -> Event:
    """Verify a delivery and decode it into an Event.

    `payload` is the raw request body; `signature` the `Ching-Signature`
    header (None if absent); `secret` the endpoint's `whsec_...` secret.

    `event.data` is a Charge, SetupSession, Customer, Refund or
    PaymentMethod when the type says so and the payload decodes, the plain
    dict otherwise: unknown event types never fail (data nested deeper than
    100 levels is refused, as in every model).

    Raises SignatureVerificationError (bad or missing signature),
    WebhookPayloadError (signed, but not an event), InvalidParameterError
    (payload not bytes, empty secret).
    """
    body = _payload_bytes(payload)
    verify_signature(body, signature, secret)
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise WebhookPayloadError("webhook body is not JSON") from None
    try:
        return structure(parsed, Event)
    except TypeError as exc:
        raise WebhookPayloadError(f"webhook body is not a CHING event: {exc}") from None


def aiohttp_handler(
    secret: str | bytes, on_event: OnEvent
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """An aiohttp.web handler: `app.router.add_post("/webhooks/ching", handler)`.

    The body size limit is the application's `client_max_size` (1 MiB by
    default); a larger body is answered 413.
    """
    from ._webhook_receivers import make_aiohttp_handler

    return make_aiohttp_handler(secret, on_event)


def asgi_app(
    secret: str | bytes, on_event: OnEvent, *, max_body_bytes: int = 1024 * 1024
) -> ASGIApp:
    """A plain ASGI 3 app that receives webhooks at whatever path it is mounted on.

    FastAPI/Starlette: `app.mount("/webhooks/ching", asgi_app(secret, on_event))`.
    """
    from ._webhook_receivers import make_asgi_app

    return make_asgi_app(secret, on_event, max_body_bytes=max_body_bytes)
