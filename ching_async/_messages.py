"""The library's own messages: a frozen Request going down the chain and a
frozen Response coming back up. They carry no domain logic; the pure
functions over them live in _protocol, redaction in _secrets.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode

import attrs
from multidict import CIMultiDict, CIMultiDictProxy

from ._secrets import (
    HiddenSecrets,
    redact_headers,
    request_secrets,
    scrub_secrets,
    split_credentials,
)

__all__ = [
    "BodySink",
    "Handler",
    "PARSED_BODY",
    "Middleware",
    "Request",
    "Response",
    "credential_headers",
    "without_credentials",
]

_T = TypeVar("_T")

# Where _protocol keeps a response's parsed body, so that the retry loop's
# look at a reconciled POST's answer and the decoding after it parse it once
# (the POST create target, benchmarks/README.md).
PARSED_BODY = "_parsed_body"

_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-ching-request-id")


def _copy(obj: _T, changes: dict[str, Any]) -> _T:
    """attrs.evolve for these validator-free frozen classes, as a merged copy
    of the instance dict: a call makes several (kept for the POST create
    target; see benchmarks/README.md)."""
    new = object.__new__(type(obj))
    object.__setattr__(new, "__dict__", obj.__dict__ | changes)
    return new


class BodySink(Protocol):
    """Where a download's 2xx body goes instead of `Response.body` (`Request.sink`).

    A transport that honours it reads the body in chunks and hands each to
    `write`, never holding the whole body: `start` before the first chunk of
    each attempt (a retry starts over: whatever an earlier attempt wrote is
    discarded), never more than `limit` bytes in all. `write` may raise an
    `APIError` such as `ResponseDecodeError` (the body is not what was asked
    for) or an `OSError` (the disk); either ends the call.
    """

    @property
    def limit(self) -> int:
        """The most bytes the body may have (the Client's `max_download_bytes`)."""
        ...

    def start(self) -> None:
        """A new attempt's body begins: discard anything written before."""
        ...

    def write(self, chunk: bytes) -> None:
        """The next chunk of the body."""
        ...


@attrs.frozen(repr=False, slots=False)
class Request:
    """One logical API call, as it travels down the middleware chain.

    `path` is relative to the client's base URL and already percent-encoded.
    Middlewares derive new requests with `with_headers`/`evolve`; they never mutate.
    """

    method: str
    path: str
    base_url: str
    query: tuple[tuple[str, str], ...] = ()
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes | None = None
    idempotency_key: str | None = None
    attempt: int = 1
    timeout: float = 30.0
    # time.monotonic() by which the whole logical call must end (set by retry).
    deadline: float | None = None
    # A download: a 2xx body goes here, in chunks, instead of Response.body.
    sink: BodySink | None = attrs.field(default=None, eq=False)
    # The secrets of credential headers taken off this request before a user
    # middleware saw it: kept for redaction only (see without_credentials).
    _hidden_secrets: HiddenSecrets | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def url(self) -> str:
        """The full URL: base URL, path and query."""
        url = self.base_url + self.path
        if self.query:
            url += "?" + urlencode(self.query)
        return url

    def with_headers(self, extra: Mapping[str, str]) -> Request:
        """A copy with `extra` headers added (or replaced)."""
        return _copy(self, {"headers": {**self.headers, **extra}})

    def replace(self, **changes: Any) -> Request:
        """A copy with `changes` applied (the frozen request is never mutated)."""
        return _copy(self, changes)

    def __repr__(self) -> str:
        return (
            f"Request(method={self.method!r}, path={self.path!r}, query={self.query!r}, "
            f"headers={redact_headers(self.headers)!r}, attempt={self.attempt}, "
            f"idempotency_key={self.idempotency_key!r})"
        )


def _case_insensitive(headers: Mapping[str, str]) -> Mapping[str, str]:
    if isinstance(headers, CIMultiDictProxy | CIMultiDict):
        return headers  # what the transport hands over: no copy
    return CIMultiDictProxy(CIMultiDict(headers))


@attrs.frozen(repr=False, slots=False)
class Response:
    """A complete HTTP response (body fully read, size-capped) plus its provenance.

    Header lookups are case-insensitive, whoever built the response.
    """

    status: int
    headers: Mapping[str, str] = attrs.field(converter=_case_insensitive)
    body: bytes
    request: Request
    attempts: int = 1
    elapsed: float = 0.0
    # Set by the retry middleware when a non-retryable POST failed in a way
    # that may still have taken effect on the server.
    outcome_unknown: bool = False
    # Set when the result was found by reconciliation rather than returned by the POST.
    reconciled: bool = False
    # Set when the 2xx body went to `request.sink` (a download): `body` is then empty.
    streamed: bool = False

    @property
    def request_id(self) -> str | None:
        """The server's request id header, if it sent one (never holding the key)."""
        return self.request_id_without(request_secrets(self.request))

    def request_id_without(self, secrets: Sequence[str]) -> str | None:
        """request_id, for a caller that has the request's secrets at hand."""
        for name in _REQUEST_ID_HEADERS:
            value = self.headers.get(name)
            if value:
                # A server or proxy that echoes the Authorization header here
                # must not put the key into RequestInfo or error messages.
                return scrub_secrets(value, secrets)
        return None

    def replace(self, **changes: Any) -> Response:
        """A copy with `changes` applied (the frozen response is never mutated);
        `headers` must stay case-insensitive."""
        new = _copy(self, changes)
        if "body" in changes:  # the old body's parse (see _protocol) stays behind
            new.__dict__.pop(PARSED_BODY, None)
        return new

    def __repr__(self) -> str:
        return (
            f"Response(status={self.status}, method={self.request.method!r}, "
            f"path={self.request.path!r}, attempts={self.attempts}, bytes={len(self.body)})"
        )


Handler = Callable[[Request], Awaitable[Response]]
"""What a middleware calls to pass the request on: `await call_next(request)`."""
Middleware = Callable[[Request, Handler], Awaitable[Response]]
"""`async (request, call_next) -> response`, run once per attempt (or, in
`call_middlewares`, once per call)."""


def without_credentials(request: Request) -> Request | None:
    """`request` without its credential headers (their secrets kept for
    redaction only), or None when it has none."""
    kept, credentials = split_credentials(request.headers)
    if not credentials:
        return None
    return attrs.evolve(
        request, headers=kept, hidden_secrets=HiddenSecrets(request_secrets(request))
    )


def credential_headers(request: Request) -> dict[str, str]:
    return split_credentials(request.headers)[1]
