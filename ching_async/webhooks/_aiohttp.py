"""The aiohttp.web receiver.

aiohttp.web is imported when a handler is built, not when this module is:
`import ching_async.webhooks` must not cost an aiohttp.web import to users of
`construct_event` or of the ASGI receiver.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ._delivery import OnEvent, check_receiver, error_body, handle_delivery
from ._signing import SIGNATURE_HEADER

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["aiohttp_handler"]


def aiohttp_handler(
    secret: str | bytes, on_event: OnEvent
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """An aiohttp.web handler: `app.router.add_post("/webhooks/ching", handler)`.

    The body size limit is the application's `client_max_size` (1 MiB by
    default); a larger body is answered 413.
    """
    from aiohttp import web

    check_receiver(secret, on_event)

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return web.Response(
                status=405,
                body=error_body("method not allowed"),
                content_type="application/json",
                headers={"Allow": "POST"},
            )
        body = await request.read()  # raw bytes; capped by client_max_size (413)
        signature = request.headers.get(SIGNATURE_HEADER)
        status, answer = await handle_delivery(body, signature, secret, on_event)
        return web.Response(status=status, body=answer, content_type="application/json")

    return handle
