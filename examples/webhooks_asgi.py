"""Receive CHING webhooks in a plain ASGI app: no framework needed.

Run it with any ASGI server, for example:

    CHING_WEBHOOK_SECRET=whsec_... uvicorn examples.webhooks_asgi:app --port 8000

and point a CHING webhook endpoint (or `FakeChing.add_webhook_endpoint`) at
http://localhost:8000/webhooks/ching.

With Starlette or FastAPI, mount the receiver instead of routing by hand:

    app.mount("/webhooks/ching", make_receiver(secret, handle_event))

What matters, whatever the framework:

1. The signature covers the raw body: the receiver reads the bytes before
   anything parses them (`ching_async.webhooks.asgi_app` does this).
2. A bad or missing signature gets 400; a verified event gets 200 quickly.
   Keep the work short (record the event, enqueue the job); raise to get a
   500, and CHING delivers the event again later.
3. Deliveries repeat (a retry after a lost answer, or after your 500), so
   handling must be idempotent by event id. `SeenEvents` shows the idea in
   memory; in production, insert `event.id` into a table with a UNIQUE
   constraint in the same transaction as the work, and skip on conflict.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ching_async import Charge, Refund
from ching_async.webhooks import Event, asgi_app

logger = logging.getLogger("webhooks_asgi")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Handler = Callable[[Event], Awaitable[None]]

WEBHOOK_PATH = "/webhooks/ching"


class SeenEvents:
    """Ids of events already handled, bounded (the oldest are forgotten first).

    In memory and per process: enough for a demo or a single worker. Use a
    database table with a unique event id when you run more than one.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        self._ids[event_id] = None
        self._ids.move_to_end(event_id)
        while len(self._ids) > self._capacity:
            self._ids.popitem(last=False)


def make_receiver(secret: str, handle: Handler, seen: SeenEvents | None = None) -> ASGIApp:
    """The webhook receiver: verify, skip repeats, handle, remember."""
    seen = seen if seen is not None else SeenEvents()

    async def on_event(event: Event) -> None:
        if event.id in seen:
            logger.info("repeat delivery of %s, already handled", event.id)
            return
        await handle(event)  # if this raises: 500, not remembered, CHING retries
        seen.add(event.id)

    return asgi_app(secret, on_event)


async def handle_event(event: Event) -> None:
    """Your business logic; `event.data` is typed when the event type says so."""
    if event.type == "charge.succeeded" and isinstance(event.data, Charge):
        logger.info("paid: %s %s agorot", event.data.id, event.data.amount)
    elif event.type == "refund.created" and isinstance(event.data, Refund):
        logger.info("refunded: %s %s agorot", event.data.charge, event.data.amount)
    else:
        logger.info("ignored %s", event.type)


def make_app(secret: str, handle: Handler = handle_event) -> ASGIApp:
    """A whole ASGI app: the receiver at WEBHOOK_PATH, /healthz, 404 elsewhere."""
    receiver = make_receiver(secret, handle)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == WEBHOOK_PATH:
            await receiver(scope, receive, send)
        elif scope["type"] == "http":
            found = scope["path"] == "/healthz"
            await _text(send, 200 if found else 404, b"ok" if found else b"not found")
        elif scope["type"] == "lifespan":
            await receiver(scope, receive, send)  # answers startup/shutdown

    return app


async def _text(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """`uvicorn examples.webhooks_asgi:app`: the secret comes from $CHING_WEBHOOK_SECRET."""
    global _app
    if _app is None:
        secret = os.environ.get("CHING_WEBHOOK_SECRET")
        if not secret:
            raise RuntimeError("set CHING_WEBHOOK_SECRET to the endpoint's whsec_... secret")
        _app = make_app(secret)
    await _app(scope, receive, send)


_app: ASGIApp | None = None
