"""MockTransport: answer a Client's requests in-process, without a server.

    def handler(request: ching_async.Request) -> ching_async.Response:
        return envelope_response(request, {"id": "ch_1", ...})

    transport = MockTransport(handler)
    async with ching_async.Client("ck_test_...", transport=transport) as client:
        ...
    [request] = transport.requests()

Everything above the transport still runs: validation, the idempotency key,
retry and reconciliation, your middlewares, auth and decoding.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, TypedDict, Unpack

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from .._errors import InvalidParameterError
from .._messages import Request, Response
from .._secrets import REDACTED_HEADERS

MockHandler = Callable[[Request], Response | Awaitable[Response]]
"""A `MockTransport`'s handler, plain or async: each attempt's `Request` in, a `Response` out."""


class MockTransport:
    """A transport that answers each request with `handler(request)`.

    `handler` is a plain or async function returning a `Response` (build one
    with `json_response`, `envelope_response` or `error_response`). It may
    raise `APIConnectionError` or `APITimeoutError` to simulate a failure:
    `may_have_reached_server=False` for a request that was never sent, the
    default `True` for one that may have been. No timeout is applied.

    `requests()` lists every request in the order received, retries and
    reconciliation lookups included, with the headers the transport got
    (`Authorization` too); their reprs show the key as `<redacted>`.
    """

    def __init__(self, handler: MockHandler) -> None:
        if not callable(handler):
            raise InvalidParameterError(f"handler must be callable, got {handler!r}")
        self._handler = handler
        self._requests: list[Request] = []

    async def handle(self, request: Request) -> Response:
        """Record the attempt and answer it with the handler's ``Response``."""
        # What the handler sees is what is recorded: headers that hide the key in a repr.
        request = request.replace(headers=RecordedHeaders(request.headers))
        self._requests.append(request)
        result = self._handler(request)
        if inspect.isawaitable(result):
            result = await result
        return result

    def __repr__(self) -> str:
        return f"<MockTransport handler={self._handler!r} requests={len(self._requests)}>"

    def requests(self) -> list[Request]:
        """Every request received so far, oldest first."""
        return list(self._requests)


class RecordedHeaders(Mapping[str, str]):
    """A request's headers as a transport got them: looked up in any case,
    shown with credential headers as `<redacted>`."""

    __slots__ = ("_headers",)

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = CIMultiDictProxy(CIMultiDict(headers))

    def __getitem__(self, name: str) -> str:
        return self._headers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers)

    def __len__(self) -> int:
        return len(self._headers)

    def __repr__(self) -> str:
        shown = {
            name: "<redacted>" if name.lower() in REDACTED_HEADERS else value
            for name, value in self._headers.items()
        }
        return f"RecordedHeaders({shown!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # A pickle (a failing test's report, a multiprocessing queue) keeps no key.
        return (RecordedHeaders, (_without_credentials(self._headers),))


def _without_credentials(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in REDACTED_HEADERS}


class ResponseOptions(TypedDict, total=False):
    """`json_response`'s keywords, which `envelope_response` takes too: the
    HTTP `status` (200 by default) and `headers` added to (or replacing)
    `Content-Type: application/json`."""

    status: int
    headers: Mapping[str, str] | None


def json_response(
    request: Request,
    value: Any,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A response to `request` whose body is `value` as JSON."""
    merged = {"Content-Type": "application/json", **(headers or {})}
    return Response(status, merged, orjson.dumps(value), request, attempts=request.attempt)


def envelope_response(request: Request, data: Any, **options: Unpack[ResponseOptions]) -> Response:
    """CHING's success envelope around `data`: `{"success": true, "data": ...}`.
    `options` as for `json_response` (`ResponseOptions`): `status`, `headers`."""
    return json_response(request, {"success": True, "data": data}, **options)


def error_response(
    request: Request,
    status: int,
    *,
    code: str = "ERROR",
    message: str = "error",
    issues: list[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """CHING's error envelope: `{"success": false, "error": {...}}`."""
    error: dict[str, Any] = {"status": status, "code": code, "message": message}
    if issues is not None:
        error["issues"] = issues
    return json_response(
        request, {"success": False, "error": error}, status=status, headers=headers
    )
