"""The Client: configuration, the chain, and its transport."""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, NamedTuple

from ._aiohttp import AiohttpTransport
from ._errors import ClientStateError, InvalidParameterError
from ._logs import setup_from_env
from ._messages import Handler, Middleware
from ._middleware import (
    AuthMiddleware,
    LoggingMiddleware,
    build_chain,
    checked_user_middleware,
)
from ._redirect import DownloadStep
from ._requester import Requester
from ._resources._charges import Charges
from ._resources._checkout import BillingPortalSessions, CheckoutSessions
from ._resources._customers import Customers
from ._resources._discounts import Discounts
from ._resources._documents import Documents
from ._resources._payment_methods import PaymentMethods
from ._resources._prices import Prices
from ._resources._products import Products
from ._resources._refunds import Refunds
from ._resources._setup_sessions import SetupSessions
from ._resources._subscriptions import Subscriptions
from ._resources._webhook_endpoints import WebhookEndpoints
from ._retry import RetryPolicy
from ._retry_loop import RetryLoop
from ._secrets import ApiKey
from ._transport import (
    DEFAULT_MAX_DOWNLOAD_BYTES,
    DEFAULT_MAX_RESPONSE_BYTES,
    Transport,
    checked_transport,
)
from ._validation import (
    check_app_info,
    check_base_url,
    check_count,
    check_extra_headers,
    check_flag,
    check_instance,
    check_middlewares,
    check_positive_seconds,
    check_proxy_url,
)

if TYPE_CHECKING:
    import aiohttp

__all__ = ["DEFAULT_BASE_URL", "Client"]

DEFAULT_BASE_URL = "https://api.ching.co.il/ching/v1"
"""The production API, used when neither `base_url` nor `$CHING_BASE_URL` is set."""
logger = logging.getLogger("ching_async")


class _TestDefaults(NamedTuple):
    api_key: str
    base_url: str
    retry_policy: RetryPolicy


# Test mode: set and restored only by ching_async.testing.ching_test_mode. While
# set, a Client built without api_key / base_url / retry_policy takes them from
# here (ahead of $CHING_API_KEY / $CHING_BASE_URL), so a client that an app makes
# for itself reaches the fake and retries without waiting. A plain global, not a
# contextvar: the app under test may build its client on another thread.
_test_defaults: _TestDefaults | None = None


class Client:
    """An asyncio client for the CHING API. Create one per process and share it.

    The key defaults to $CHING_API_KEY and the base URL to $CHING_BASE_URL,
    then to the production API.

    `timeout` bounds each attempt; `total_timeout` bounds a whole call across
    retries, reconciliation lookups and backoff sleeps. `max_response_bytes`
    caps a JSON answer; `max_download_bytes` caps a downloaded document's
    PDF, which is streamed to its destination, never held whole.
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
        call_middlewares: Sequence[Middleware] = (),
        retry_policy: RetryPolicy | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        verify_tls: bool = True,
        transport: Transport | None = None,
        app_info: str | None = None,
        proxy: str | None = None,
        trust_env: bool | None = None,
    ) -> None:
        setup_from_env()
        test = _test_defaults
        if test is not None:  # ching_async.testing.ching_test_mode is on
            api_key = test.api_key if api_key is None else api_key
            base_url = test.base_url if base_url is None else base_url
            retry_policy = test.retry_policy if retry_policy is None else retry_policy
        self._api_key = ApiKey(api_key if api_key is not None else os.environ.get("CHING_API_KEY"))
        if base_url is None:
            base_url = os.environ.get("CHING_BASE_URL") or DEFAULT_BASE_URL
        self.base_url = check_base_url(base_url, self._api_key)
        self.timeout = check_positive_seconds("timeout", timeout)
        self.total_timeout = check_positive_seconds("total_timeout", total_timeout)
        self.max_retries = check_count("max_retries", max_retries, minimum=0)
        self.max_connections = check_count("max_connections", max_connections, minimum=1)
        self.retry_policy = (
            RetryPolicy()
            if retry_policy is None
            else check_instance("retry_policy", retry_policy, RetryPolicy)
        )
        max_bytes = check_count("max_response_bytes", max_response_bytes, minimum=1)
        self.max_download_bytes = check_count("max_download_bytes", max_download_bytes, minimum=1)
        tls = check_flag("verify_tls", verify_tls)
        if app_info is not None:
            app_info = check_app_info(app_info)
        if proxy is not None:
            proxy = check_proxy_url(proxy)
        if trust_env is not None:
            trust_env = check_flag("trust_env", trust_env)
        send: Handler
        own_transport: AiohttpTransport | None = None
        if transport is None:
            if not tls:
                _warn_tls_disabled()
            if session is not None and (proxy is not None or trust_env is not None):
                raise InvalidParameterError(
                    "proxy= and trust_env= configure the client's own session;"
                    " with session=, configure your session instead"
                )
            own_transport = AiohttpTransport(
                session,
                max_response_bytes=max_bytes,
                verify_tls=tls,
                max_connections=self.max_connections,
                app_info=app_info,
                proxy=proxy,
                # Like httpx and requests: HTTPS_PROXY and friends count.
                trust_env=session is None and proxy is None and trust_env is not False,
            )
            send = own_transport.handle
        else:
            given = (session, app_info, proxy, trust_env)
            if any(option is not None for option in given) or not tls:
                raise InvalidParameterError(
                    "session=, verify_tls=, app_info=, proxy= and trust_env= configure the"
                    " default aiohttp transport; with transport=, configure your transport instead"
                )
            send = checked_transport(transport, max_bytes)
        self._life = _Lifecycle(own_transport)
        user = _user_middlewares("middlewares", middlewares)
        # A download's Accept header and redirects: below auth, above the transport.
        auth, download = AuthMiddleware(self._api_key), DownloadStep(self.base_url)
        attempt = build_chain([*user, auth, LoggingMiddleware(), download], send)
        retry = RetryLoop(
            self.retry_policy, max_retries=self.max_retries, total_timeout=self.total_timeout
        )
        self._attach(
            Requester(
                base_url=self.base_url,
                mode=self.mode,
                timeout=self.timeout,
                retry=retry,
                attempt=attempt,
                check_usable=self._life.check_usable,
                call_middlewares=_user_middlewares("call_middlewares", call_middlewares),
                max_download_bytes=self.max_download_bytes,
            )
        )

    def _attach(self, requester: Requester) -> None:
        """The resource groups, all sending through `requester`."""
        # One line per group, alike by design: the list of groups (SyncClient mirrors it).
        self._requester = requester
        self.setup_sessions = SetupSessions(requester)
        self.charges = Charges(requester)
        self.customers = Customers(requester)
        self.payment_methods = PaymentMethods(requester)
        self.refunds = Refunds(requester)
        self.products = Products(requester)
        self.prices = Prices(requester)
        self.discounts = Discounts(requester)
        self.documents = Documents(requester)
        self.webhook_endpoints = WebhookEndpoints(requester)
        self.subscriptions = Subscriptions(requester)
        self.checkout_sessions = CheckoutSessions(requester)
        self.billing_portal_sessions = BillingPortalSessions(requester)

    @property
    def headers(self) -> Mapping[str, str]:
        """Headers sent with every call (set with `with_options(headers=...)`)."""
        return self._requester.headers

    def with_options(
        self,
        *,
        timeout: float | None = None,
        total_timeout: float | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Client:
        """A view of this client with other settings, for one call or kept.

        It shares this client's connection pool, middlewares, key and
        lifecycle (closing either closes both) and costs no new session.
        Options left out (None) keep this client's values; `headers` are
        added to this client's own (a view of a view merges both).

            fast = client.with_options(total_timeout=3, max_retries=1)
            charge = await fast.charges.create(...)
        """
        view = copy.copy(self)
        if timeout is not None:
            view.timeout = check_positive_seconds("timeout", timeout)
        if total_timeout is not None:
            view.total_timeout = check_positive_seconds("total_timeout", total_timeout)
        if max_retries is not None:
            view.max_retries = check_count("max_retries", max_retries, minimum=0)
        if retry_policy is not None:
            view.retry_policy = check_instance("retry_policy", retry_policy, RetryPolicy)
        merged = {**self.headers, **check_extra_headers(headers)} if headers else self.headers
        view._attach(
            self._requester.with_settings(
                timeout=view.timeout,
                total_timeout=view.total_timeout,
                max_retries=view.max_retries,
                retry_policy=view.retry_policy,
                headers=merged,
            )
        )
        return view

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
        """Close the connection pool (of this client and every view of it).
        A session or transport passed in is left open: whoever made it closes it."""
        await self._life.aclose()

    @property
    def closed(self) -> bool:
        """True once `aclose()` (or leaving `async with`) has closed the client
        (or a view of it, or the client it is a view of)."""
        return self._life.closed

    def _check_usable(self) -> asyncio.AbstractEventLoop:
        return self._life.check_usable()


class _Lifecycle:
    """What a client and its views share: the event loop it is bound to,
    whether it is closed, and the transport it made (and so closes)."""

    def __init__(self, own_transport: AiohttpTransport | None) -> None:
        self.own_transport = own_transport
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closed = False

    def check_usable(self) -> asyncio.AbstractEventLoop:
        if self.closed:
            raise ClientStateError("this Client is closed; create a new one")
        loop = asyncio.get_running_loop()
        if self.loop is None:
            self.loop = loop
        elif self.loop is not loop:
            raise ClientStateError(
                "this Client is bound to the event loop it was first used in, and each "
                "asyncio.run() makes a new one: create one Client per event loop (inside "
                "the coroutine asyncio.run runs), or use ching_async.SyncClient from code "
                "that is not async"
            )
        return loop

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.own_transport is not None:
            await self.own_transport.aclose()


def _user_middlewares(name: str, middlewares: object) -> tuple[Middleware, ...]:
    """A caller's middlewares, checked, each wrapped to check its contract."""
    return tuple(map(checked_user_middleware, check_middlewares(name, middlewares)))


def _warn_tls_disabled() -> None:
    message = "TLS certificate verification is DISABLED for this ching_async Client"
    logger.warning(message)
    warnings.warn(message, stacklevel=3)
