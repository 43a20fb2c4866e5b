"""The default transport, and the only module that touches aiohttp's request API.

AiohttpTransport sends one Request and returns one fully-read Response
(size-capped), or raises APIConnectionError/APITimeoutError saying whether
the request may have reached the server (the contract in `_transport.py`).
A download's 2xx body (`Request.sink`) is streamed into the sink instead,
one read chunk at a time.
It never retries, follows no redirects, and keeps aiohttp exceptions (which
can carry request headers) out of the raised error's chain.

aiohttp behaviour this module relies on beyond its documented API, each
checked by tests/transport/test_aiohttp_hooks.py so that an aiohttp upgrade
that drops one fails there, by name:

- `ClientSession._retry_connection` (listed in ClientSession.ATTRS): set to
  False on the sessions we own, because aiohttp's silent re-send of an
  idempotent request on a dropped pooled connection would escape
  max_retries and user middlewares (new_session).
- `TCPConnector.connect(req, traces, timeout)` receives the request's own
  ClientTimeout object unchanged: the per-attempt "still connecting" mark
  rides on it (_MarkedTimeout, _Connector.connect).
- `TCPConnector._create_connection` returns a protocol whose `.transport` is
  the asyncio transport, and CPython's selector transport (and SSL protocol)
  read up to `max_size` bytes at a time: both are used to cap the read size
  (cap_read_size).
- aiohttp.ClientTimeout is an attrs class that can be subclassed with one
  more field (_MarkedTimeout).
"""

from __future__ import annotations

import asyncio
import io
import time
import urllib.request
from collections.abc import Coroutine, Mapping
from typing import Any

import aiohttp
import attr
from aiohttp.client import ClientSession
from aiohttp.client_reqrep import ClientRequest
from aiohttp.connector import Connection
from aiohttp.tracing import Trace
from multidict import CIMultiDict
from yarl import URL

from ._errors import APIConnectionError, APITimeoutError, ClientStateError, InvalidParameterError
from ._messages import Request, Response
from ._protocol import check_sendable_url, is_loopback
from ._secrets import attach_context, exception_detail, request_secrets
from ._transport import DEFAULT_MAX_RESPONSE_BYTES, SinkFeed, streams_to_sink, too_large
from ._version import __version__

__all__ = ["AiohttpTransport", "check_session", "new_session"]

_READ_CHUNK = 64 * 1024


class AiohttpTransport:
    """Sends over `session`, or over a pool of its own (opened lazily in the
    running loop, closed by aclose). A caller's session is never closed here."""

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        connect_timeout: float = 10.0,
        verify_tls: bool = True,
        max_connections: int = 100,
        app_info: str | None = None,
        proxy: str | None = None,
        trust_env: bool = False,
    ) -> None:
        self._session = check_session(session)
        self._owns_session = session is None
        self._closed = False
        self._max_connections = max_connections
        # A session of our own (new_session) carries the static headers itself.
        self._static_on_session = self._owns_session
        # The pool's connections, taken in arrival order (see handle).
        self._slots = asyncio.Semaphore(max_connections)
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._urls: dict[str, URL] = {}
        self._max_bytes = max_response_bytes
        self._connect_timeout = connect_timeout
        # aiohttp: ssl=True is default verification; False disables it.
        self._ssl = verify_tls
        user_agent = _USER_AGENT if app_info is None else f"{_USER_AGENT} {app_info}"
        self._static = {**_STATIC_HEADERS, "User-Agent": user_agent}
        self._static_post = {**self._static, **_CONTENT_TYPE}
        self._proxy = proxy
        # Proxies from the environment, looked up once per origin: aiohttp's
        # own trust_env reads them (and ~/.netrc) in a thread on every request.
        self._env_proxies: dict[tuple[str, str], str | None] | None = {} if trust_env else None

    async def aclose(self) -> None:
        """Close the pool (a caller's session is left open, and no longer used)."""
        if self._closed:
            return
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        # Checked at each attempt: the call may have waited for a pool slot
        # since it started, and a closed transport must never open a new
        # (never closed) session.
        if self._closed:
            raise ClientStateError("this Client is closed; create a new one")
        session = self._session
        if session is None:
            session = self._session = new_session(self._max_connections, self._static)
        return session

    async def handle(self, request: Request) -> Response:
        # Wait for a pool slot before the attempt's clock starts: a request
        # that times out while queued provably never left, so it is safe to
        # retry even for a POST. aiohttp's own pool wait would count against
        # the attempt timeout and make such a timeout look ambiguous.
        if not await self._take_slot(request):
            raise _queued_too_long(request)
        error: APIConnectionError
        seconds = request.timeout
        mark: _ConnectMark | None = None
        try:
            # Only now: the client may have been closed while this call was
            # queued (ClientStateError), or a caller may have closed its own
            # session, where aiohttp would raise a bare RuntimeError.
            session = self._get_session()
            if session.closed:
                raise ClientStateError("the aiohttp session is closed; nothing was sent")
            started = time.monotonic()
            seconds = _attempt_seconds(request, started)
            if seconds <= 0:
                raise _queued_too_long(request)
            # The attempt's own proof of "still connecting", see _ConnectMark.
            mark = _ConnectMark() if seconds <= self._connect_timeout else None
            url = self._url(request)
            async with session.request(
                request.method,
                url,
                data=_payload(request.body),
                headers=self._wire_headers(request),
                proxy=self._proxy if self._env_proxies is None else self._proxy_from_env(url),
                timeout=self._timeout(seconds, mark, cache=seconds == request.timeout),
                allow_redirects=False,
                ssl=self._ssl,
            ) as resp:
                streamed = streams_to_sink(request, resp.status)
                if streamed:
                    await self._stream(resp, request)
                    body = b""
                else:
                    body = await self._read_capped(resp, request)
                return Response(
                    status=resp.status,
                    headers=resp.headers,
                    body=body,
                    request=request,
                    attempts=request.attempt,
                    elapsed=time.monotonic() - started,
                    streamed=streamed,
                )
        except aiohttp.ClientError as exc:
            error = _connection_error(exc, request)
        except TimeoutError:
            # aiohttp's total timer can fire before its connect timer (a cut
            # attempt has both the same length): a request whose connection
            # never came was not sent, whichever timer ended it. Only positive
            # evidence counts: a path that skips our connector stays cautious.
            never_connected = mark is not None and mark.state is _STARTED
            error = APITimeoutError(
                f"request timed out after {round(seconds, 3):g}s"
                + (" while connecting; the request was not sent" if never_connected else ""),
                may_have_reached_server=not never_connected,
            )
        finally:
            self._slots.release()
        # Raised outside the except block: aiohttp's exception (which may carry
        # request headers) stays out of __cause__ and __context__.
        raise attach_context(error, request)

    async def _take_slot(self, request: Request) -> bool:
        """Take a pool slot for this request, waiting at most until its deadline."""
        if not self._slots.locked():
            return await self._slots.acquire()  # free and nobody queued: at once
        wait = request.timeout if request.deadline is None else request.deadline - time.monotonic()
        try:
            async with asyncio.timeout(max(0.0, wait)):
                await self._slots.acquire()
        except TimeoutError:
            return False
        return True

    def _wire_headers(self, request: Request) -> Mapping[str, str]:
        json_body = request.method == "POST" or request.body
        if self._static_on_session:
            # aiohttp merges these over the session's headers; the request's own
            # win, whatever their case (its merge is case-insensitive).
            return {**_CONTENT_TYPE, **request.headers} if json_body else request.headers
        # A caller's session: the static headers go with each request.
        headers = CIMultiDict(self._static_post if json_body else self._static)
        headers.update(request.headers)  # the request's own headers win, whatever their case
        return headers

    def _proxy_from_env(self, url: URL) -> str | None:
        assert self._env_proxies is not None
        origin = (url.scheme, url.host or "")
        if origin not in self._env_proxies:
            self._env_proxies[origin] = env_proxy(*origin)
        return self._env_proxies[origin]

    def _url(self, request: Request) -> URL:
        # A client sends to few URLs again and again (POST /charges above all):
        # each is checked and parsed once. yarl URLs are immutable.
        url = request.url
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = URL(check_sendable_url(url), encoded=True)
            if len(self._urls) < _URLS_KEPT:
                self._urls[url] = parsed
        return parsed

    def _timeout(
        self, seconds: float, mark: _ConnectMark | None, *, cache: bool = True
    ) -> aiohttp.ClientTimeout:
        connect = min(seconds, self._connect_timeout)
        if mark is not None:
            return _MarkedTimeout(total=seconds, connect=connect, mark=mark)
        # Almost every attempt uses the client's one timeout: build it once.
        # An attempt cut to what is left of its deadline is a one-off: not cached.
        cached = self._timeouts.get(seconds)
        if cached is None:
            cached = aiohttp.ClientTimeout(total=seconds, connect=connect)
            if cache and len(self._timeouts) < 64:
                self._timeouts[seconds] = cached
        return cached

    async def _stream(self, resp: aiohttp.ClientResponse, request: Request) -> None:
        """A download's 2xx body, chunk by chunk into `request.sink`: never
        more than one chunk of it in memory here."""
        assert request.sink is not None
        feed = SinkFeed(request, request.sink, resp.status, _decoded_length(resp))
        while chunk := await resp.content.read(_READ_CHUNK):
            feed.feed(chunk)

    async def _read_capped(self, resp: aiohttp.ClientResponse, request: Request) -> bytes:
        length = _decoded_length(resp)
        if length is not None and length <= self._max_bytes:
            return await resp.read()
        if length is not None:
            raise too_large(resp.status, request, self._max_bytes)
        chunks: list[bytes] = []
        total = 0
        while chunk := await resp.content.read(_READ_CHUNK):
            total += len(chunk)
            if total > self._max_bytes:
                raise too_large(resp.status, request, self._max_bytes)
            chunks.append(chunk)
        return b"".join(chunks)


def _decoded_length(resp: aiohttp.ClientResponse) -> int | None:
    """The body's length, when Content-Length says it: the wire length of a
    compressed body says nothing about its decoded size (the stream is read
    under the cap instead)."""
    if resp.headers.get("Content-Encoding", "identity").strip().lower() != "identity":
        return None
    return resp.content_length


_URLS_KEPT = 256

_USER_AGENT = f"ching-async/{__version__} aiohttp/{aiohttp.__version__}"


_STATIC_HEADERS = {"Accept": "application/json", "User-Agent": _USER_AGENT}
# aiohttp sends bytes above 1 MiB in one write and warns (ResourceWarning);
# a file object it writes in chunks (a product image's upload is up to 2.7 MB).
_LARGE_BODY = 2**20


def _payload(body: bytes | None) -> bytes | io.BytesIO | None:
    return io.BytesIO(body) if body is not None and len(body) > _LARGE_BODY else body


# A body-less POST is declared JSON too (as the API documents every call);
# left alone, aiohttp labels it application/octet-stream.
_CONTENT_TYPE = {"Content-Type": "application/json"}


# asyncio's selector transport reads each arrival with recv(256 KiB), which
# allocates a 256 KiB bytes object per read. Whether glibc serves that from the
# heap or from a fresh mmap depends on what the process freed before (glibc's
# dynamic mmap threshold; cpython#85451). In the mmap regime every response
# costs an mmap, page faults, an mremap and a munmap (numbers in
# benchmarks/README.md). Reads of at most 64 KiB (aiohttp's own read chunk)
# stay below the threshold, whatever the process did before.
_RECV_SIZE = 64 * 1024


def cap_read_size(transport: object) -> None:
    """Make a selector transport (and, under TLS, its SSL protocol) read at
    most _RECV_SIZE bytes at a time. A transport without the CPython
    `max_size` attribute (uvloop's) is left alone."""
    for reader in (transport, getattr(transport, "_ssl_protocol", None)):
        size = getattr(reader, "max_size", None)
        if type(size) is int and size > _RECV_SIZE:
            reader.max_size = _RECV_SIZE  # type: ignore[union-attr]


# aiohttp's total timer fires before its connect timer when both have the
# same length (an attempt's timeout at most connect_timeout, e.g. one cut to
# what is left of its deadline): such a timeout during connect would read as
# "may have been sent". For those attempts only, the transport gives the
# attempt a _ConnectMark of its own, carried by the attempt's own
# ClientTimeout (aiohttp hands the request's timeout object to
# connector.connect unchanged), and _Connector.connect records on it:
# _STARTED while it waits for the attempt's first connection, _DONE once it
# has it. Only _STARTED after a timeout proves nothing was sent. No state
# (connect() never ran, as under aioresponses or with a caller's session)
# and _AGAIN (a second connect() in one attempt: a re-send on a new
# connection) prove nothing.
#
# The mark must belong to the attempt alone: a ContextVar here was shared by
# every task started with one contextvars.Context (as BulkRun's workers were),
# so one attempt's timeout could read another's "still connecting" and re-send
# a POST that had been sent.
_STARTED, _DONE, _AGAIN = "started", "done", "again"


class _ConnectMark:
    """How far one attempt got with its connection."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state: str | None = None


@attr.s(frozen=True, slots=True, kw_only=True)
class _MarkedTimeout(aiohttp.ClientTimeout):
    """An attempt's ClientTimeout that carries the attempt's _ConnectMark to
    _Connector.connect."""

    mark: _ConnectMark = attr.ib(eq=False, repr=False)


class _Connector(aiohttp.TCPConnector):
    """A TCPConnector whose new connections read with cap_read_size, and which
    records on an attempt's _ConnectMark whether it is still waiting for a
    connection."""

    def connect(
        self, req: ClientRequest, traces: list[Trace], timeout: aiohttp.ClientTimeout
    ) -> Coroutine[Any, Any, Connection]:
        connecting = super().connect(req, traces, timeout)
        if not isinstance(timeout, _MarkedTimeout):
            # The connect timer fires first, and says "not sent" itself.
            return connecting
        # A plain method, not a coroutine: the unmarked case above adds no frame.
        return _marked(connecting, timeout.mark)

    async def _create_connection(self, *args: Any, **kwargs: Any) -> Any:
        protocol = await super()._create_connection(*args, **kwargs)
        cap_read_size(getattr(protocol, "transport", None))
        return protocol


async def _marked(connecting: Coroutine[Any, Any, Connection], mark: _ConnectMark) -> Connection:
    first = mark.state is None
    mark.state = _STARTED if first else _AGAIN
    connection = await connecting
    if first:
        mark.state = _DONE
    return connection


def check_session(session: object) -> aiohttp.ClientSession | None:
    # aiohttp.ClientSession may be patched by test tools; the class itself is checked.
    if session is not None and not isinstance(session, ClientSession):
        raise InvalidParameterError(
            f"session must be an aiohttp.ClientSession, got {type(session).__name__}"
        )
    return session


def new_session(
    max_connections: int, headers: Mapping[str, str] = _STATIC_HEADERS
) -> aiohttp.ClientSession:
    """A session for a transport that owns its pool.

    The static headers are the session's default headers, set once rather
    than merged into every request.
    """
    connector = _Connector(limit=max_connections, limit_per_host=max_connections)
    # Our own transport sets per-attempt timeouts; the session default is off.
    session = aiohttp.ClientSession(
        connector=connector,
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=None),
        raise_for_status=False,
        auto_decompress=True,
    )
    # aiohttp's own silent re-send has no public switch (module docstring).
    if hasattr(session, "_retry_connection"):
        session._retry_connection = False
    return session


def env_proxy(scheme: str, host: str) -> str | None:
    """The proxy HTTPS_PROXY / HTTP_PROXY / ALL_PROXY name for `scheme://host`,
    unless NO_PROXY exempts the host (the standard library's reading of them).
    Loopback hosts never go through one: the proxy's loopback is not ours
    (a test's FakeChing on 127.0.0.1 behind a corporate HTTP_PROXY)."""
    if is_loopback(host):
        return None
    proxies = urllib.request.getproxies()
    proxy = proxies.get(scheme) or proxies.get("all")
    if proxy is None or urllib.request.proxy_bypass(host):
        return None
    return proxy


# A wait before the attempt shorter than this leaves its timeout as set: one
# cached ClientTimeout instead of a new one per call.
_DEADLINE_SLACK = 0.01


def _attempt_seconds(request: Request, now: float) -> float:
    """The attempt's timeout, cut to what is left of the call's deadline when a
    wait before it (for a pooled connection, a bulk job's pause) used up some
    of it. Without the cut, such an attempt could end up to `timeout` past
    `total_timeout`."""
    if request.deadline is None:
        return request.timeout
    left = request.deadline - now
    if left <= 0 or left < request.timeout - _DEADLINE_SLACK:
        return left
    return request.timeout


def _queued_too_long(request: Request) -> APITimeoutError:
    error = APITimeoutError(
        "the call's deadline passed before this attempt could be sent "
        "(waiting for a pooled connection, a bulk job's pause); the request was not sent",
        may_have_reached_server=False,
    )
    return attach_context(error, request)


def _connection_error(exc: aiohttp.ClientError, request: Request) -> APIConnectionError:
    """Map an aiohttp failure, recording whether the request may have been sent."""
    name = type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return APITimeoutError(f"connecting timed out ({name})", may_have_reached_server=False)
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return APITimeoutError(f"the server did not answer in time ({name})")
    if isinstance(exc, aiohttp.InvalidURL) and not isinstance(
        exc, aiohttp.InvalidUrlRedirectClientError
    ):
        # aiohttp refuses the URL before connecting (e.g. a non-canonical
        # IPv4 host such as 127.1): nothing was sent.
        return APIConnectionError(
            f"aiohttp refused the URL, nothing was sent ({name}: {exc})",
            may_have_reached_server=False,
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        # The TCP/TLS connection was never established: nothing was sent.
        return APIConnectionError(
            f"could not connect to {exc.host}:{exc.port} ({name}: {exc.os_error})",
            may_have_reached_server=False,
        )
    # aiohttp's text may quote the response's bytes: scrubbed of the request's key.
    detail = exception_detail(exc, request_secrets(request))
    return APIConnectionError(f"connection failed after the request was sent ({name}: {detail})")
