"""The attempt chain: what every attempt of a call passes through between
the retry loop and the transport.

A middleware is `async (request, call_next) -> response` over the library's
own frozen Request/Response. Each attempt, outermost first:

    (a bulk job's pacing) -> user middlewares -> auth -> logging
        -> (a download's Accept header and redirects, `_redirect.py`) -> transport

They sit inside the retry loop, so they see every attempt and every lookup.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Sequence

from ._errors import APIConnectionError, InvalidParameterError
from ._messages import (
    Handler,
    Middleware,
    Request,
    Response,
    credential_headers,
    without_credentials,
)
from ._secrets import ApiKey
from ._validation import BAD_IN_HEADER

__all__ = [
    "AuthMiddleware",
    "LoggingMiddleware",
    "build_chain",
]

logger = logging.getLogger("ching_async")


def build_chain(middlewares: Sequence[Middleware], transport: Handler) -> Handler:
    """Compose middlewares around the transport into one handler."""
    handler = transport
    for middleware in reversed(middlewares):
        handler = _link(middleware, handler)
    return handler


def _link(middleware: Middleware, call_next: Handler) -> Handler:
    """One middleware bound to the rest of the chain."""

    def link(request: Request) -> Awaitable[Response]:
        return middleware(request, call_next)

    return link


def checked_user_middleware(middleware: Middleware) -> Middleware:
    """`middleware` with its contract checked: it forwards a Request whose
    headers are str without CR, LF or NUL, and returns a Response. A broken
    one gets an InvalidParameterError naming it, not an AttributeError from
    the retry step or aiohttp's header-injection ValueError. Only the user's
    middlewares are wrapped: the built-in ones pay nothing.

    The response the middleware gets back carries the request as the
    transport sent it, Authorization header included: the middleware gets it
    without that header, and the header goes back on whatever the middleware
    returns, because errors built from the response are redacted by the
    secrets of its request (and reconciliation's found answers take them).
    """
    name = getattr(middleware, "__qualname__", None) or type(middleware).__qualname__

    async def checked(request: Request, call_next: Handler) -> Response:
        credentials: dict[str, str] = {}

        async def forward(forwarded: Request) -> Response:
            _check_forwarded(name, forwarded)
            response = await call_next(forwarded)
            hidden = without_credentials(response.request)
            if hidden is None:
                return response
            credentials.update(credential_headers(response.request))
            return response.replace(request=hidden)

        result = await middleware(request, forward)
        if not isinstance(result, Response):
            raise InvalidParameterError(
                f"middleware {name} returned {type(result).__name__}, not a Response: "
                "return await call_next(request) (or a Response of its own)"
            )
        if credentials and not credential_headers(result.request):
            result = result.replace(request=result.request.with_headers(credentials))
        return result

    return checked


def _check_forwarded(name: str, request: object) -> None:
    if not isinstance(request, Request):
        raise InvalidParameterError(
            f"middleware {name} passed {type(request).__name__} to call_next, not a Request"
        )
    for header, value in request.headers.items():
        if type(header) is not str or type(value) is not str:
            raise InvalidParameterError(
                f"middleware {name} set header {header!r} to a {type(value).__name__}; "
                "header names and values must be str"
            )
        if BAD_IN_HEADER.search(header) or BAD_IN_HEADER.search(value):
            # The value is not echoed: it may be a credential.
            raise InvalidParameterError(
                f"middleware {name} set header {header!r} with CR, LF or NUL in it"
            )


class AuthMiddleware:
    """Adds `Authorization: Bearer <key>` to every attempt."""

    def __init__(self, api_key: ApiKey) -> None:
        self._header = {"Authorization": api_key.authorization()}

    def __call__(self, request: Request, call_next: Handler) -> Awaitable[Response]:
        return call_next(request.with_headers(self._header))

    def __repr__(self) -> str:
        return "AuthMiddleware(<redacted>)"


# --------------------------------------------------------------- logging
class LoggingMiddleware:
    """Logs each attempt at DEBUG: method, path, status, attempt, duration,
    idempotency key and the server's request id.

    Headers and bodies are never logged, so the key cannot leak through here.
    """

    def __call__(self, request: Request, call_next: Handler) -> Awaitable[Response]:
        if not logger.isEnabledFor(logging.DEBUG):
            return call_next(request)
        return self._logged(request, call_next)

    async def _logged(self, request: Request, call_next: Handler) -> Response:
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except APIConnectionError as exc:
            _log_attempt(request, started, type(exc).__name__, None)
            raise
        _log_attempt(request, started, str(response.status), response.request_id)
        return response


def _log_attempt(request: Request, started: float, result: str, request_id: str | None) -> None:
    milliseconds = (time.perf_counter() - started) * 1000
    logger.debug(
        "%s %s -> %s (attempt %d, %.1f ms, idempotency key %s, request id %s)",
        request.method,
        request.path,
        result,
        request.attempt,
        milliseconds,
        request.idempotency_key,
        request_id,
        extra={
            "ching_method": request.method,
            "ching_path": request.path,
            "ching_attempt": request.attempt,
            "ching_status": result,
            "ching_idempotency_key": request.idempotency_key,
            "ching_request_id": request_id,
            "ching_elapsed_ms": milliseconds,
        },
    )
