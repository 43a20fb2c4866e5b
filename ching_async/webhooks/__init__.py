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

Inside the package: `_signing` (signature and event decoding), `_delivery`
(the answer both receivers give), `_aiohttp` and `_asgi` (one receiver each).
"""

from .._models import Event
from ._aiohttp import aiohttp_handler
from ._asgi import asgi_app
from ._delivery import OnEvent
from ._signing import (
    SIGNATURE_HEADER,
    SignatureVerificationError,
    WebhookPayloadError,
    compute_signature,
    construct_event,
    verify_signature,
)

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
