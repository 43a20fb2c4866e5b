"""The ready-made webhook receivers behind `ching_async.webhooks`.

Both read the raw body before anything parses it, verify it, then call the
user's callback:

- bad or missing signature, or a signed body that is not an event: 400;
- the callback raised: 500, so that CHING delivers the event again;
- otherwise: 200 `{"received": true}`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import orjson

from ._errors import InvalidParameterError
from ._models import Event
from .webhooks import (
    SIGNATURE_HEADER,
    OnEvent,
    SignatureVerificationError,
    WebhookPayloadError,
    _secret_bytes,
    construct_event,
)

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["ASGIApp", "make_aiohttp_handler", "make_asgi_app"]

logger = logging.getLogger("ching_async.webhooks")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_RECEIVED = orjson.dumps({"received": True})


def _error_body(message: str) -> bytes:
    return orjson.dumps({"error": message})


def _check_callback(on_event: object) -> None:
    if not callable(on_event):
        raise InvalidParameterError(f"on_event must be callable, got {on_event!r}")


async def _handle(
    body: bytes, signature: str | None, secret: str | bytes, on_event: OnEvent
) -> tuple[int, bytes]:
    """The shared decision: (status, JSON body) for one delivery."""
    try:
        event = construct_event(body, signature, secret)
    except SignatureVerificationError as exc:
        logger.warning("rejected a webhook delivery: %s", exc)
        return 400, _error_body("invalid signature")
    except WebhookPayloadError as exc:
        logger.warning("rejected a webhook delivery: %s", exc)
        return 400, _error_body("invalid payload")
    try:
        await _dispatch(on_event, event)
    except Exception:
        logger.exception("webhook handler failed for event %s (%s)", event.id, event.type)
        return 500, _error_body("handler failed")
    return 200, _RECEIVED


async def _dispatch(on_event: OnEvent, event: Event) -> None:
    result = on_event(event)
    if inspect.isawaitable(result):
        await result


# ------------------------------------------------------------------ aiohttp
def make_aiohttp_handler(
    secret: str | bytes, on_event: OnEvent
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    from aiohttp import web

    _secret_bytes(secret)  # fail at wiring time, not on the first delivery
    _check_callback(on_event)

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return web.Response(
                status=405,
                body=_error_body("method not allowed"),
                content_type="application/json",
                headers={"Allow": "POST"},
            )
        body = await request.read()  # raw bytes; capped by client_max_size (413)
        signature = request.headers.get(SIGNATURE_HEADER)
        status, answer = await _handle(body, signature, secret, on_event)
        return web.Response(status=status, body=answer, content_type="application/json")

    return handle


# --------------------------------------------------------------------- ASGI
_SIGNATURE_HEADER_BYTES = SIGNATURE_HEADER.lower().encode("latin-1")


def make_asgi_app(secret: str | bytes, on_event: OnEvent, *, max_body_bytes: int) -> ASGIApp:
    _secret_bytes(secret)
    _check_callback(on_event)
    if type(max_body_bytes) is not int or max_body_bytes < 1:
        raise InvalidParameterError(
            f"max_body_bytes must be a positive int, got {max_body_bytes!r}"
        )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # websockets: not ours; closing without accepting refuses them
        if scope["method"] != "POST":
            await _respond(send, 405, _error_body("method not allowed"), allow=True)
            return
        try:
            body = await _read_body(receive, max_body_bytes)
        except _ClientGone:
            return
        if body is None:
            await _respond(send, 413, _error_body("body too large"))
            return
        status, answer = await _handle(body, _signature(scope), secret, on_event)
        await _respond(send, status, answer)

    return app


class _ClientGone(Exception):
    """The client disconnected before the whole body arrived."""


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole raw body, or None when it exceeds `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _signature(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == _SIGNATURE_HEADER_BYTES:
            return bytes(value).decode("latin-1")
    return None


async def _respond(send: Send, status: int, body: bytes, *, allow: bool = False) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
    ]
    if allow:
        headers.append((b"allow", b"POST"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
