"""The transport seam: what a Client needs from whatever sends its requests.

A transport is the innermost step of the chain. Everything above it (the
idempotency key, retry and reconciliation, user middlewares, auth, logging,
decoding) is the same whichever transport sends. The default is
AiohttpTransport (`_aiohttp.py`); `ching_async.testing.MockTransport`
answers in-process.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from ._errors import APIConnectionError, APIError, InvalidParameterError, ResponseDecodeError
from ._messages import BodySink, Handler, Request, Response
from ._protocol import unreadable_error
from ._secrets import attach_context

__all__ = [
    "DEFAULT_MAX_DOWNLOAD_BYTES",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "SinkFeed",
    "Transport",
    "checked_transport",
    "streams_to_sink",
    "too_large",
    "write_to_sink",
]

DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
# A tax document's PDF is tens of KiB; a body far beyond that is not one.
DEFAULT_MAX_DOWNLOAD_BYTES = 32 * 1024 * 1024
# The size of the pieces a body a transport read whole is handed to a sink in.
SINK_CHUNK = 64 * 1024


@runtime_checkable
class Transport(Protocol):
    """Sends one attempt of a request and returns its complete response.

    `handle` gets the request as the auth step leaves it: the `Authorization`
    header is on it, because the transport sends it. It sends
    `request.method` to `request.url` with `request.headers` and
    `request.body`, within `request.timeout` seconds, and returns a
    `Response` for that request with the whole body read. It never retries
    and never follows a redirect (a 3xx is a response like any other).

    When no response comes, it raises `APIConnectionError` (or
    `APITimeoutError`) with `may_have_reached_server=False` only when the
    request provably never left (no connection was made): a POST is then
    re-sent blindly. Anything that may have been sent keeps the default
    `True`, and a money-moving POST is reconciled before it is re-sent.
    Any other exception propagates to the caller unchanged, and is not retried.

    A body longer than the client's `max_response_bytes` ends the call in
    `ResponseDecodeError` whichever transport read it (for a POST an
    `UnreadableResultError`; a reconciled POST's 2xx is looked up first); a
    transport that reads from a network should stop reading there itself.

    A download (`documents.download_pdf`) sets `request.sink`. A transport
    that streams hands a 2xx body to it in chunks (`SinkFeed`: `start`, then
    `write` per chunk, at most `sink.limit` bytes, the Client's
    `max_download_bytes`) and returns the Response with an empty body and
    `streamed=True`; any other status is read into `body` as usual. A
    transport that ignores `sink` returns the whole body, and the client
    writes it to the sink itself, under the same limit and checks (holding
    it in memory meanwhile). The client follows a download's redirects
    itself: each is one more request to `request.url`, which may be on
    another origin than the client's base URL (and then has no
    `Authorization` header).

    `handle` is a coroutine function (`async def`); a Client refuses a
    transport whose `handle` is not. The client never closes a transport it
    was given: whoever made it closes it (as with `session=`).
    """

    async def handle(self, request: Request) -> Response:
        """Send one attempt and return the server's answer (see the class docstring)."""
        ...


def checked_transport(transport: object, max_response_bytes: int) -> Handler:
    """A caller's transport as the chain's last handler, with the parts of the
    contract the client can check enforced: it returns a Response no longer
    than `max_response_bytes`, and its connection errors carry the attempt."""
    if (
        isinstance(transport, type)  # the class, not an instance of it
        or not isinstance(transport, Transport)
        or not callable(transport.handle)
    ):
        got = repr(transport) if isinstance(transport, type) else type(transport).__name__
        raise InvalidParameterError(
            f"transport must be an object with an async method handle(request) -> Response,"
            f" got {got}"
        )
    handle = transport.handle
    name = type(transport).__name__
    # A plain `def handle` that returns an awaitable (a wrapper delegating to
    # another transport) is taken too: its result is checked on each call.
    checked = not _is_async(handle)

    async def send(request: Request) -> Response:
        try:
            result = handle(request)
            if checked and not inspect.isawaitable(result):
                raise InvalidParameterError(
                    f"transport {name}.handle returned {type(result).__name__}, not an"
                    " awaitable: make it async def handle(self, request) -> Response"
                )
            response = await result
        except APIConnectionError as error:
            if error.method is None:
                attach_context(error, request)
            raise
        if not isinstance(response, Response):
            raise InvalidParameterError(
                f"transport {name}.handle returned {type(response).__name__}, not a Response"
            )
        sink = request.sink
        if sink is not None and streams_to_sink(request, response.status):
            if len(response.body) > sink.limit:  # a body read whole: written by the client
                raise too_large(response.status, request, sink.limit, "not written")
        elif len(response.body) > max_response_bytes:
            raise too_large(response.status, request, max_response_bytes, "not decoded")
        return response

    return send


def _is_async(handle: Callable[..., object]) -> bool:
    """`async def` (iscoroutinefunction also sees through functools.partial and
    AsyncMock), or an object whose `__call__` is."""
    return inspect.iscoroutinefunction(handle) or inspect.iscoroutinefunction(type(handle).__call__)


def streams_to_sink(request: Request, status: int) -> bool:
    """Whether this answer's body goes to the request's sink: a download's 2xx."""
    return request.sink is not None and 200 <= status < 300


class SinkFeed:
    """Hands one attempt's body to `request.sink`, chunk by chunk, under its
    limit; the sink's own errors get the request's context. Shared by the
    streaming transport and `write_to_sink`."""

    __slots__ = ("_request", "_sink", "_status", "total")

    def __init__(self, request: Request, sink: BodySink, status: int, length: int | None) -> None:
        self._request = request
        self._sink = sink
        self._status = status
        if length is not None and length > sink.limit:
            raise too_large(status, request, sink.limit)
        self.total = 0
        sink.start()

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if self.total > self._sink.limit:
            raise too_large(self._status, self._request, self._sink.limit)
        try:
            self._sink.write(chunk)
        except (APIError, APIConnectionError) as error:
            raise attach_context(error, self._request) from None


def write_to_sink(response: Response) -> Response:
    """A download's 2xx that arrived with its whole body (a transport or a
    middleware that does not stream): written to the sink here, as a
    streaming transport would have, and returned as streamed."""
    request = response.request
    sink = request.sink
    if response.streamed or sink is None or not streams_to_sink(request, response.status):
        return response
    body = response.body
    feed = SinkFeed(request, sink, response.status, len(body))
    for offset in range(0, len(body), SINK_CHUNK):
        feed.feed(body[offset : offset + SINK_CHUNK])
    return response.replace(body=b"", streamed=True)


def too_large(
    status: int,
    request: Request,
    limit: int,
    fate: str = "not read",
) -> ResponseDecodeError:
    """The error for a body over `limit`: a POST may have taken effect
    (UnreadableResultError; the retry loop reconciles a 2xx's)."""
    setting = "max_download_bytes" if streams_to_sink(request, status) else "max_response_bytes"
    message = f"response body exceeds {setting} ({limit} bytes); {fate}"
    unknown = request.method != "GET"
    error = unreadable_error(message, request, status, outcome_unknown=unknown)
    return attach_context(error, request, outcome_unknown=unknown)
