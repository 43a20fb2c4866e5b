"""The plain ASGI 3 receiver: no framework, mountable in Starlette or FastAPI."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .._validation import check_count
from ._delivery import OnEvent, check_receiver, error_body, handle_delivery
from ._signing import SIGNATURE_HEADER

__all__ = ["ASGIApp", "asgi_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_SIGNATURE_HEADER_BYTES = SIGNATURE_HEADER.lower().encode("latin-1")


def asgi_app(
    secret: str | bytes, on_event: OnEvent, *, max_body_bytes: int = 1024 * 1024
) -> ASGIApp:
    """A plain ASGI 3 app that receives webhooks at whatever path it is mounted on.

    FastAPI/Starlette: `app.mount("/webhooks/ching", asgi_app(secret, on_event))`.
    A body larger than `max_body_bytes` is answered 413.
    """
    check_receiver(secret, on_event)
    check_count("max_body_bytes", max_body_bytes)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # websockets: not ours; closing without accepting refuses them
        if scope["method"] != "POST":
            await _respond(send, 405, error_body("method not allowed"), allow=True)
            return
        try:
            body = await _read_body(receive, max_body_bytes)
        except _ClientGone:
            return
        if body is None:
            await _respond(send, 413, error_body("body too large"))
            return
        status, answer = await handle_delivery(body, _signature(scope), secret, on_event)
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
