"""The middleware chain and the built-in middlewares.

A middleware is `async (request, call_next) -> response` over the library's
own frozen Request/Response. The client's chain, outermost first:

    idempotency key -> retry/backoff/reconcile -> user middlewares
        -> auth -> logging -> transport

The idempotency key sits outside retry so every attempt carries the same key;
user middlewares, auth and logging sit inside it so they see every attempt.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Sequence

import attrs

from ._errors import APIConnectionError, InvalidParameterError
from ._http import Handler, Middleware, Request, Response

__all__ = [
    "ApiKey",
    "AuthMiddleware",
    "IdempotencyMiddleware",
    "LoggingMiddleware",
    "build_chain",
    "new_idempotency_key",
    "validate_idempotency_key",
]

logger = logging.getLogger("ching_async")

# Keys are printable ASCII; anything else (a pasted NBSP, a BOM, a newline)
# is a loading mistake and could smuggle bytes into the header.
_KEY_FORBIDDEN = re.compile(r"[^\x21-\x7e]")
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")


def build_chain(middlewares: Sequence[Middleware], transport: Handler) -> Handler:
    """Compose middlewares around the transport into one handler."""
    handler = transport
    for middleware in reversed(middlewares):
        handler = _bind(middleware, handler)
    return handler


def _bind(middleware: Middleware, call_next: Handler) -> Handler:
    async def handle(request: Request) -> Response:
        return await middleware(request, call_next)

    return handle


# ---------------------------------------------------------------- API key
class ApiKey:
    """Holds the secret; its repr and str never show it."""

    __slots__ = ("_secret",)

    def __init__(self, secret: object) -> None:
        if not isinstance(secret, str):
            raise InvalidParameterError(
                "api_key must be a string: pass Client(api_key=...) or set CHING_API_KEY"
            )
        if not secret.strip():
            raise InvalidParameterError(
                "api_key is empty: pass Client(api_key=...) or set CHING_API_KEY"
            )
        if _KEY_FORBIDDEN.search(secret):
            # Never echo the key itself, not even in this message.
            raise InvalidParameterError(
                "api_key contains whitespace, control or non-ASCII characters; "
                "check how it was loaded"
            )
        self._secret = secret

    @property
    def mode(self) -> str:
        """ "test", "live", or "unknown" (test or live mode is baked into the key)."""
        if self._secret.startswith(("ck_test_", "sk_test_")):
            return "test"
        if self._secret.startswith(("ck_live_", "sk_live_")):
            return "live"
        return "unknown"

    def authorization(self) -> str:
        return "Bearer " + self._secret

    def __repr__(self) -> str:
        return f"<ApiKey mode={self.mode} (redacted)>"

    __str__ = __repr__


class AuthMiddleware:
    """Adds `Authorization: Bearer <key>` to every attempt."""

    def __init__(self, api_key: ApiKey) -> None:
        self._header = {"Authorization": api_key.authorization()}

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        return await call_next(request.with_headers(self._header))

    def __repr__(self) -> str:
        return "AuthMiddleware(<redacted>)"


# ----------------------------------------------------------- idempotency
def new_idempotency_key() -> str:
    return str(uuid.uuid4())


def validate_idempotency_key(key: object) -> str:
    if not isinstance(key, str) or not _IDEMPOTENCY_KEY.fullmatch(key):
        raise InvalidParameterError(
            "idempotency_key must be 1-255 printable ASCII characters without spaces"
        )
    return key


class IdempotencyMiddleware:
    """Every POST carries one Idempotency-Key per logical call, on every attempt.

    The key is minted when the logical request is built (so that it can also be
    written into a charge's metadata); this middleware mints one for any POST
    that arrives without, and stamps the header once, outside the retry loop.
    """

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        if request.method != "POST":
            return await call_next(request)
        key = request.idempotency_key or new_idempotency_key()
        stamped = request.with_headers({"Idempotency-Key": key})
        if request.idempotency_key is None:
            stamped = attrs.evolve(stamped, idempotency_key=key)
        return await call_next(stamped)


# --------------------------------------------------------------- logging
class LoggingMiddleware:
    """Logs each attempt at DEBUG: method, path, status, attempt, duration.

    Headers and bodies are never logged, so the key cannot leak through here.
    """

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        if not logger.isEnabledFor(logging.DEBUG):
            return await call_next(request)
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except APIConnectionError as exc:
            logger.debug(
                "%s %s failed: %s (attempt %d, %.1f ms)",
                request.method,
                request.path,
                type(exc).__name__,
                request.attempt,
                (time.perf_counter() - started) * 1000,
            )
            raise
        logger.debug(
            "%s %s -> %d (attempt %d, %.1f ms)",
            request.method,
            request.path,
            response.status,
            request.attempt,
            (time.perf_counter() - started) * 1000,
        )
        return response
