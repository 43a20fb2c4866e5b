"""The Client: configuration, the chain, and its transport."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import warnings
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ._aiohttp import AiohttpTransport
from ._errors import ClientStateError, InvalidParameterError
from ._messages import Handler, Middleware
from ._middleware import (
    AuthMiddleware,
    LoggingMiddleware,
    build_chain,
    checked_user_middleware,
)
from ._protocol import UNSENDABLE_IN_URL
from ._requester import Requester
from ._resources._charges import Charges
from ._resources._customers import Customers
from ._resources._payment_methods import PaymentMethods
from ._resources._refunds import Refunds
from ._resources._setup_sessions import SetupSessions
from ._retry import RetryLoop, RetryPolicy
from ._secrets import ApiKey
from ._transport import DEFAULT_MAX_RESPONSE_BYTES, Transport, checked_transport
from ._validation import check_flag

if TYPE_CHECKING:
    import aiohttp

__all__ = ["DEFAULT_BASE_URL", "Client"]

DEFAULT_BASE_URL = "https://api.ching.co.il/ching/v1"
logger = logging.getLogger("ching_async")


class Client:
    """An asyncio client for the CHING API. Create one per process and share it.

    The key defaults to $CHING_API_KEY and the base URL to $CHING_BASE_URL,
    then to the production API.

    `timeout` bounds each attempt; `total_timeout` bounds a whole call across
    retries, reconciliation lookups and backoff sleeps.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 30.0,
        total_timeout: float = 120.0,
        max_retries: int = 2,
        max_connections: int = 100,
        session: aiohttp.ClientSession | None = None,
        middlewares: Sequence[Middleware] = (),
        retry_policy: RetryPolicy | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        verify_tls: bool = True,
        transport: Transport | None = None,
    ) -> None:
        self._api_key = ApiKey(api_key if api_key is not None else os.environ.get("CHING_API_KEY"))
        if base_url is None:
            base_url = os.environ.get("CHING_BASE_URL") or DEFAULT_BASE_URL
        self.base_url = _check_base_url(base_url, self._api_key)
        self.timeout = _positive("timeout", timeout)
        self.total_timeout = _positive("total_timeout", total_timeout)
        self.max_retries = _count("max_retries", max_retries, minimum=0)
        self.max_connections = _count("max_connections", max_connections, minimum=1)
        self.retry_policy = _check_retry_policy(retry_policy)
        max_bytes = _count("max_response_bytes", max_response_bytes, minimum=1)
        tls = check_flag("verify_tls", verify_tls)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        # The transport the client made, and so closes; never a caller's.
        self._own_transport: AiohttpTransport | None = None
        send: Handler
        if transport is None:
            if not tls:
                _warn_tls_disabled()
            self._own_transport = AiohttpTransport(
                session,
                max_response_bytes=max_bytes,
                verify_tls=tls,
                max_connections=self.max_connections,
            )
            send = self._own_transport.handle
        else:
            if session is not None or not tls:
                raise InvalidParameterError(
                    "session= and verify_tls= configure the default aiohttp transport;"
                    " with transport=, configure your transport instead"
                )
            send = checked_transport(transport, max_bytes)
        attempt = build_chain(
            [*_check_middlewares(middlewares), AuthMiddleware(self._api_key), LoggingMiddleware()],
            send,
        )
        retry = RetryLoop(
            self.retry_policy, max_retries=self.max_retries, total_timeout=self.total_timeout
        )
        requester = Requester(
            base_url=self.base_url,
            mode=self.mode,
            timeout=self.timeout,
            retry=retry,
            attempt=attempt,
            check_usable=self._check_usable,
        )
        self.setup_sessions = SetupSessions(requester)
        self.charges = Charges(requester)
        self.customers = Customers(requester)
        self.payment_methods = PaymentMethods(requester)
        self.refunds = Refunds(requester)

    @property
    def mode(self) -> str:
        """ "test" or "live" (from the key's prefix), or "unknown"."""
        return self._api_key.mode

    def __repr__(self) -> str:
        return f"<ching_async.Client base_url={self.base_url!r} mode={self.mode}>"

    # ------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> Client:
        self._check_usable()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool. A session or transport passed in is
        left open: whoever made it closes it."""
        if self._closed:
            return
        self._closed = True
        if self._own_transport is not None:
            await self._own_transport.aclose()

    @property
    def closed(self) -> bool:
        """True once `aclose()` (or leaving `async with`) has closed the client."""
        return self._closed

    def _check_usable(self) -> asyncio.AbstractEventLoop:
        if self._closed:
            raise ClientStateError("this Client is closed; create a new one")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise ClientStateError(
                "this Client is bound to the event loop it was first used in; "
                "create one Client per event loop"
            )
        return loop


def _positive(name: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 < value < float("inf")
    ):
        raise InvalidParameterError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def _check_retry_policy(policy: object) -> RetryPolicy:
    if policy is None:
        return RetryPolicy()
    if not isinstance(policy, RetryPolicy):
        raise InvalidParameterError(f"retry_policy must be a RetryPolicy, got {policy!r}")
    return policy


def _check_middlewares(middlewares: object) -> tuple[Middleware, ...]:
    if isinstance(middlewares, str | bytes) or not isinstance(middlewares, Iterable):
        raise InvalidParameterError(
            f"middlewares must be a sequence of callables, got {middlewares!r}"
        )
    chain = tuple(middlewares)
    for middleware in chain:
        if not callable(middleware):
            raise InvalidParameterError(
                f"each middleware must be callable (request, call_next), got {middleware!r}"
            )
    return tuple(checked_user_middleware(middleware) for middleware in chain)


def _count(name: str, value: object, *, minimum: int) -> int:
    if type(value) is not int or value < minimum:
        raise InvalidParameterError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_base_url(base_url: object, api_key: ApiKey) -> str:
    if not isinstance(base_url, str):
        raise InvalidParameterError(f"base_url must be a string, got {base_url!r}")
    if UNSENDABLE_IN_URL.search(base_url):
        # urlsplit quietly drops CR/LF/tab and keeps spaces, which would then
        # end up in the request line.
        raise InvalidParameterError("base_url must not contain whitespace or control characters")
    try:
        parts = urlsplit(base_url)
        if parts.port == 0:  # .port raises ValueError for a port out of range
            raise ValueError("port 0")
    except ValueError as exc:
        raise InvalidParameterError(f"base_url is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParameterError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
    if "@" in parts.netloc:
        # Never echo it: the part before "@" is a password.
        raise InvalidParameterError("base_url must not contain credentials (user:password@)")
    if parts.query or parts.fragment:
        raise InvalidParameterError("base_url must not have a query or fragment")
    if parts.scheme == "http" and api_key.mode == "live" and not _is_loopback(parts.hostname):
        raise InvalidParameterError(
            "refusing to send a live API key over plain http:// to a non-loopback host"
        )
    return base_url.rstrip("/")


def _warn_tls_disabled() -> None:
    message = "TLS certificate verification is DISABLED for this ching_async Client"
    logger.warning(message)
    warnings.warn(message, stacklevel=3)
