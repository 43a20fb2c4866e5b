"""The library's own request/response objects and the pure functions around them.

Nothing here does I/O: building URLs, encoding bodies, parsing Retry-After and
classifying a response into data or a typed error are all plain functions, so
they are tested without a network and shared by every transport.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlencode

import attrs
import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from ._errors import (
    APIError,
    InvalidParameterError,
    RateLimitError,
    ResponseDecodeError,
    error_class_for_status,
)

if TYPE_CHECKING:
    from ._reconcile import Reconciler

__all__ = [
    "Handler",
    "Middleware",
    "Request",
    "Response",
    "build_url",
    "decode_envelope",
    "encode_json",
    "error_from_response",
    "parse_retry_after",
    "path_segment",
    "redact_credentials",
]

_T = TypeVar("_T")

BODY_EXCERPT_CHARS = 500
_REDACTED_HEADERS = frozenset({"authorization"})
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-ching-request-id")


def _redact(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: ("<redacted>" if k.lower() in _REDACTED_HEADERS else v) for k, v in headers.items()}


def _replace(obj: _T, changes: dict[str, Any]) -> _T:
    """attrs.evolve for our validator-free, slot-less frozen classes, about 8x
    cheaper: a copy of the instance dict (the chain derives ~4 per call)."""
    new = object.__new__(type(obj))
    state = obj.__dict__.copy()
    state.update(changes)
    object.__setattr__(new, "__dict__", state)
    return new


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
    # Retry policy: a request is "safe" to re-send blindly (GET) or not (POST).
    safe_to_retry: bool = False
    idempotency_key: str | None = None
    attempt: int = 1
    timeout: float = 30.0
    # time.monotonic() by which the whole logical call must end (set by retry).
    deadline: float | None = None
    # Consulted by the retry middleware after an ambiguous failure (see _reconcile).
    reconciler: Reconciler | None = None

    @property
    def url(self) -> str:
        url = self.base_url + self.path
        if self.query:
            url += "?" + urlencode(self.query)
        return url

    def with_headers(self, extra: Mapping[str, str]) -> Request:
        return _replace(self, {"headers": {**self.headers, **extra}})

    def replace(self, **changes: Any) -> Request:
        """A copy with `changes` applied (the frozen request is never mutated)."""
        return _replace(self, changes)

    def __repr__(self) -> str:
        return (
            f"Request(method={self.method!r}, path={self.path!r}, query={self.query!r}, "
            f"headers={_redact(self.headers)!r}, attempt={self.attempt}, "
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

    @property
    def request_id(self) -> str | None:
        for name in _REQUEST_ID_HEADERS:
            value = self.headers.get(name)
            if value:
                return value
        return None

    def replace(self, **changes: Any) -> Response:
        """A copy with `changes` applied; `headers` must stay case-insensitive."""
        return _replace(self, changes)

    def __repr__(self) -> str:
        return (
            f"Response(status={self.status}, method={self.request.method!r}, "
            f"path={self.request.path!r}, attempts={self.attempts}, bytes={len(self.body)})"
        )


Handler = Callable[[Request], Awaitable[Response]]
Middleware = Callable[[Request, Handler], Awaitable[Response]]


# --------------------------------------------------------------------- URLs
_DOT_SEGMENTS = {".": "%2E", "..": "%2E%2E"}


def path_segment(value: str) -> str:
    """Percent-encode one path segment so that no id can reach another route.

    `quote(safe="")` encodes "/", "?" and "#"; dot segments are encoded too,
    because "." and ".." would otherwise be resolved away by URL normalisation.
    """
    return _DOT_SEGMENTS.get(value) or quote(value, safe="")


def build_url(base_url: str, path: str, query: Mapping[str, str] | None = None) -> str:
    url = base_url.rstrip("/") + path
    if query:
        url += "?" + urlencode(list(query.items()))
    return url


def encode_json(payload: Mapping[str, Any]) -> bytes:
    try:
        return orjson.dumps(payload)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise InvalidParameterError(f"request body is not JSON-serializable: {exc}") from None


# ---------------------------------------------------------------- Retry-After
def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date).

    Returns None when absent or unparseable; never negative.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return _retry_after_from_date(value, now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


def _retry_after_from_date(value: str, now: float | None) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:
            return None
        current = time.time() if now is None else now
        return max(0.0, when.timestamp() - current)
    except (TypeError, ValueError, IndexError, OverflowError):
        # e.g. a year beyond datetime's range ("Mon, 01 Jan 99999999999 ...")
        return None


# ------------------------------------------------------------- classification
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]+")


def body_excerpt(body: bytes) -> str:
    """A short, single-line, printable excerpt of a body for error messages."""
    text = body[: BODY_EXCERPT_CHARS * 4].decode("utf-8", errors="replace")
    text = _CONTROL_CHARS.sub(" ", text).strip()
    if len(text) > BODY_EXCERPT_CHARS:
        text = text[:BODY_EXCERPT_CHARS] + "..."
    return text


def _parse_json(response: Response) -> Any:
    try:
        return orjson.loads(response.body)
    except orjson.JSONDecodeError:
        return _NOT_JSON
    except RecursionError:  # pragma: no cover - orjson bounds nesting itself
        return _NOT_JSON


_NOT_JSON = object()


def decode_envelope(response: Response) -> Any:
    """Return the envelope's `data`, or raise the typed error the response means.

    - 2xx with `success: true`: the data (None when the endpoint sends none).
    - `success: false` on any status: the error class of the status (400 when a
      2xx carries a failure, as the official CLI treats it).
    - anything else: ResponseDecodeError for 2xx, the status's class otherwise.
    """
    parsed = _parse_json(response)
    ok = 200 <= response.status < 300
    if isinstance(parsed, dict):
        success = parsed.get("success")
        if ok and success is True:
            return parsed.get("data")
        if success is False:
            raise error_from_envelope(response, parsed)
    if ok:
        reason = "not JSON" if parsed is _NOT_JSON else "not a CHING envelope"
        if not response.body:
            reason = "empty"
        raise _with_response(
            ResponseDecodeError(
                f"response body is {reason}",
                status=response.status,
                body=body_excerpt(response.body),
            ),
            response,
        )
    raise error_from_response(response)


def error_from_response(response: Response) -> APIError:
    """The typed error for a non-2xx response whose body is not an error envelope."""
    parsed = _parse_json(response)
    if isinstance(parsed, dict) and parsed.get("success") is False:
        return error_from_envelope(response, parsed)
    message = f"HTTP {response.status} with an unexpected body"
    if not response.body:
        message = f"HTTP {response.status} with an empty body"
    cls = error_class_for_status(response.status)
    return _with_response(
        cls(message, status=response.status, body=body_excerpt(response.body)), response
    )


def error_from_envelope(response: Response, envelope: Mapping[str, Any]) -> APIError:
    error = envelope.get("error")
    if not isinstance(error, dict):
        error = {}
    status = response.status if response.status >= 400 else _failure_status(error)
    code = error.get("code")
    message = error.get("message")
    issues = error.get("issues")
    if not isinstance(issues, list):
        issues = error.get("details")  # the official CLI's name for the same list
    cls = error_class_for_status(status)
    exc = cls(
        message if isinstance(message, str) and message else f"HTTP {response.status}",
        status=status,
        code=code if isinstance(code, str) else None,
        issues=_clean_issues(issues),
        body=body_excerpt(response.body),
    )
    return _with_response(exc, response)


def _failure_status(error: Mapping[str, Any]) -> int:
    """Status for `success: false` on a 2xx: the body's own, else 400."""
    status = error.get("status")
    return status if type(status) is int and 400 <= status <= 599 else 400


def accepted_but_unreadable(response: Response) -> bool:
    """A POST the server accepted (2xx) whose answer could not be read: the
    object most likely exists, so the outcome is not "nothing happened"."""
    return response.request.method == "POST" and 200 <= response.status < 300


def _clean_issues(issues: Any) -> list[Mapping[str, Any]]:
    if not isinstance(issues, list):
        return []
    return [item for item in issues if isinstance(item, dict)]


def redact_credentials(exc: APIError, request: Request) -> None:
    """Blank out the request's own credential wherever the server echoed it back
    (message, body excerpt), so that str(err) and logs never carry the key."""
    for name, value in request.headers.items():
        if name.lower() not in _REDACTED_HEADERS:
            continue
        secret = value.split(" ", 1)[-1].strip()
        if len(secret) < 8 or (secret not in exc.message and secret not in exc.body):
            continue
        exc.message = exc.message.replace(secret, "<redacted>")
        exc.body = exc.body.replace(secret, "<redacted>")
        exc.args = (exc.message,)


def _with_response(exc: APIError, response: Response) -> APIError:
    redact_credentials(exc, response.request)
    exc._set_context(
        method=response.request.method,
        path=response.request.path,
        attempts=response.attempts,
        idempotency_key=response.request.idempotency_key,
        request_id=response.request_id,
        outcome_unknown=response.outcome_unknown
        or (isinstance(exc, ResponseDecodeError) and accepted_but_unreadable(response)),
    )
    if isinstance(exc, RateLimitError):
        exc.retry_after = parse_retry_after(response.headers.get("retry-after"))
    return exc
