"""The library's own request/response objects and the pure functions around them.

Nothing here does I/O: building URLs, encoding bodies, parsing Retry-After and
classifying a response into data or a typed error are all plain functions, so
they are tested without a network and shared by every transport.
"""

from __future__ import annotations

import email.utils
import functools
import itertools
import math
import operator
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlencode

import attrs
import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from ._errors import (
    APIConnectionError,
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
    "check_sendable_url",
    "decode_envelope",
    "encode_json",
    "error_from_response",
    "exception_detail",
    "parse_retry_after",
    "path_segment",
    "redact_credentials",
]

_T = TypeVar("_T")

BODY_EXCERPT_CHARS = 500
REDACTED_HEADERS = frozenset({"authorization"})
# Credentials at least this long are scrubbed from text; shorter ones could
# not be told apart from ordinary words, so ApiKey refuses them.
MIN_SECRET_LENGTH = 8
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-ching-request-id")


def _redact(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: ("<redacted>" if k.lower() in REDACTED_HEADERS else v) for k, v in headers.items()}


_new = object.__new__
_set_dict = object.__setattr__


def _replace(obj: _T, changes: dict[str, Any]) -> _T:
    """attrs.evolve for our validator-free, slot-less frozen classes, about 8x
    cheaper: a merged copy of the instance dict (the chain derives ~4 per call;
    the one-step merge and bound names save ~1,000 instructions each)."""
    new = _new(type(obj))
    _set_dict(new, "__dict__", obj.__dict__ | changes)
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

    @classmethod
    def logical(
        cls,
        method: str,
        path: str,
        base_url: str,
        query: tuple[tuple[str, str], ...],
        headers: Mapping[str, str],
        body: bytes | None,
        safe_to_retry: bool,
        idempotency_key: str | None,
        timeout: float,
        reconciler: Reconciler | None,
    ) -> Request:
        """The client's constructor for a call's first request (attempt 1, no
        deadline yet): fills the instance dict in one step, like
        Response.received. Instead of copying a prototype with 8 keyword
        changes: ~8,000 instructions less per POST (measured end to end)."""
        request = _new(cls)
        _set_dict(
            request,
            "__dict__",
            {
                "method": method,
                "path": path,
                "base_url": base_url,
                "query": query,
                "headers": headers,
                "body": body,
                "safe_to_retry": safe_to_retry,
                "idempotency_key": idempotency_key,
                "attempt": 1,
                "timeout": timeout,
                "deadline": None,
                "reconciler": reconciler,
            },
        )
        return request

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
                # A server or proxy that echoes the Authorization header here
                # must not put the key into RequestInfo or error messages.
                return scrub_secrets(value, request_secrets(self.request))
        return None

    def replace(self, **changes: Any) -> Response:
        """A copy with `changes` applied; `headers` must stay case-insensitive."""
        return _replace(self, changes)

    @classmethod
    def received(
        cls,
        status: int,
        headers: CIMultiDictProxy[str],
        body: bytes,
        request: Request,
        elapsed: float,
    ) -> Response:
        """The transport's constructor: skips attrs' per-field frozen setattr
        (the headers are case-insensitive already). About 1.5 us a response."""
        response = _new(cls)
        _set_dict(
            response,
            "__dict__",
            {
                "status": status,
                "headers": headers,
                "body": body,
                "request": request,
                "attempts": request.attempt,
                "elapsed": elapsed,
                "outcome_unknown": False,
                "reconciled": False,
            },
        )
        return response

    def __repr__(self) -> str:
        return (
            f"Response(status={self.status}, method={self.request.method!r}, "
            f"path={self.request.path!r}, attempts={self.attempts}, bytes={len(self.body)})"
        )


_E = TypeVar("_E", bound=APIConnectionError)


def from_request(error: _E, request: Request) -> _E:
    """Stamp a connection-level error with the attempt it came from."""
    error._set_context(
        method=request.method,
        path=request.path,
        attempts=request.attempt,
        idempotency_key=request.idempotency_key,
    )
    return error


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


# Characters that may not go into a request line as is: the base URL check
# (Client) and the transport's check of every URL share this one rule.
UNSENDABLE_IN_URL = re.compile(r"[\x00-\x20\x7f]")


def check_sendable_url(url: str) -> str:
    """`url` if it can go into a request line as is, else InvalidParameterError.

    The client's own paths are percent-encoded (`path_segment`), but a
    middleware may rewrite `Request.path`: a raw space would split the
    request line (`GET /charges/ch_1 HTTP/1.1X-Injected: 1 HTTP/1.1`), and
    aiohttp passes spaces through when it is told the URL is encoded.
    """
    bad = UNSENDABLE_IN_URL.search(url)
    if bad is not None:
        raise InvalidParameterError(
            f"request URL has a space or control character ({bad.group()!r} at offset"
            f" {bad.start()}); percent-encode the path"
        )
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


def request_secrets(request: Request) -> list[str]:
    """The credentials this request carries (its bearer token), for redaction."""
    secrets = []
    for name, value in request.headers.items():
        if name.lower() in REDACTED_HEADERS:
            secret = value.split(" ", 1)[-1].strip()
            if len(secret) >= MIN_SECRET_LENGTH:
                secrets.append(secret)
    if not secrets:  # a request handed to a user middleware keeps them hidden
        hidden = request.__dict__.get("_hidden_secrets")
        if hidden is not None:
            secrets += hidden.values
    return secrets


class HiddenSecrets:
    """The secrets of credential headers taken off a request before a user
    middleware sees it (see checked_user_middleware), kept so that the
    response's request id and errors stay redacted. Shows as <redacted>; a
    pickle of it keeps nothing."""

    __slots__ = ("values",)

    def __init__(self, values: Sequence[str]) -> None:
        self.values = tuple(values)

    def __repr__(self) -> str:
        return "<redacted>"

    def __reduce__(self) -> tuple[Any, ...]:
        return (HiddenSecrets, ((),))

    def __copy__(self) -> HiddenSecrets:
        return self

    def __deepcopy__(self, memo: Any) -> HiddenSecrets:
        return self


def without_credentials(request: Request) -> Request | None:
    """`request` without its credential headers (their secrets kept for
    redaction only), or None when it has none."""
    headers = request.headers
    if not any(name.lower() in REDACTED_HEADERS for name in headers):
        return None
    kept = {k: v for k, v in headers.items() if k.lower() not in REDACTED_HEADERS}
    return _replace(
        request, {"headers": kept, "_hidden_secrets": HiddenSecrets(request_secrets(request))}
    )


def credential_headers(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.headers.items() if k.lower() in REDACTED_HEADERS}


def scrub_secrets(text: str, secrets: Sequence[str]) -> str:
    """`text` with every secret replaced, whether literal or spelled with JSON
    string escapes (a server may echo the key as `ck\\u005ftest...`, the same
    JSON value)."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "<redacted>")
    if "\\" in text:  # no backslash, no escape: the usual case ends here
        for secret in secrets:
            text = _spellings(secret).sub("<redacted>", text)
    return text


_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def _hex4(code: int) -> str:
    """A regex for `\\uXXXX` of `code`, hex digits in either case."""
    return "\\\\u" + "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in f"{code:04x}")


@functools.lru_cache(maxsize=16)
def _spellings(secret: str) -> re.Pattern[str]:
    """A regex for every way JSON can spell `secret` in a string: each
    character literal, as `\\uXXXX` (either case), as a surrogate pair beyond
    the BMP, or as its short escape (`\\/`, `\\"`, `\\\\`, ...)."""
    parts = []
    for char in secret:
        code = ord(char)
        forms = [re.escape(char)]
        if code > 0xFFFF:
            high, low = divmod(code - 0x10000, 0x400)
            forms.append(_hex4(0xD800 + high) + _hex4(0xDC00 + low))
        else:
            forms.append(_hex4(code))
        short = _SHORT_ESCAPES.get(char)
        if short is not None:
            forms.append(re.escape(short))
        parts.append("(?:" + "|".join(forms) + ")")
    return re.compile("".join(parts))


def body_excerpt(body: bytes, secrets: Sequence[str] = ()) -> str:
    """A short, single-line, printable excerpt of a body for error messages.

    The excerpt comes from the body's first characters; a secret that starts
    among them is replaced whole, in any spelling, even where it runs past
    them (collapsing control characters can pull text from the end of that
    window into the excerpt, so no head of one may survive there).
    """
    head = BODY_EXCERPT_CHARS * 4
    # A secret starting at the window's last character, every character of
    # it spelled as an escape (a surrogate pair: 12 bytes), is still read whole.
    longest = max(map(len, secrets), default=0)
    window = body[: head * 4 + 12 * longest]
    text = _redacted_head(window.decode("utf-8", errors="replace"), head, secrets)
    text = _CONTROL_CHARS.sub(" ", text).strip()
    if len(text) > BODY_EXCERPT_CHARS:
        text = text[:BODY_EXCERPT_CHARS] + "..."
    return text


def redacted_head(text: str, limit: int, secrets: Sequence[str]) -> str:
    """`text[:limit]` with every secret that starts before `limit` replaced,
    in any spelling, even where it runs past `limit`."""
    longest = max(map(len, secrets), default=0)
    return _redacted_head(text[: limit + 12 * longest], limit, secrets)


def _redacted_head(text: str, limit: int, secrets: Sequence[str]) -> str:
    spans = sorted(
        match.span() for secret in secrets for match in _spellings(secret).finditer(text)
    )
    out: list[str] = []
    pos = 0
    for start, end in spans:
        if start >= limit:
            break
        if start < pos:  # overlaps one replaced already
            pos = max(pos, end)
            continue
        out += (text[pos:start], "<redacted>")
        pos = end
    if pos < limit:
        out.append(text[pos:limit])
    return "".join(out)


def exception_detail(exc: BaseException, secrets: Sequence[str]) -> str:
    """`str(exc)` of another library's exception as one short line without
    `secrets`. Such text may quote the server's bytes (aiohttp's parser errors
    quote the offending line, and a server may echo the Authorization header)."""
    text = _CONTROL_CHARS.sub(" ", scrub_secrets(str(exc), secrets))
    text = " ".join(text.split())
    if len(text) > BODY_EXCERPT_CHARS:
        text = text[:BODY_EXCERPT_CHARS] + "..."
    return text


def _scrub_json(value: Any, secrets: Sequence[str]) -> Any:
    """`value` with every string in it scrubbed (iterative: payloads nest deep)."""
    if isinstance(value, str):
        return scrub_secrets(value, secrets)
    if not isinstance(value, dict | list):
        return value
    root: Any = {} if isinstance(value, dict) else [None] * len(value)
    stack: list[tuple[Any, Any]] = [(value, root)]
    while stack:
        src, dst = stack.pop()
        for key, item in src.items() if isinstance(src, dict) else enumerate(src):
            new: Any = item
            if isinstance(item, str):
                new = scrub_secrets(item, secrets)
            elif isinstance(item, dict):
                new = {}
                stack.append((item, new))
            elif isinstance(item, list):
                new = [None] * len(item)
                stack.append((item, new))
            dst[scrub_secrets(key, secrets) if isinstance(key, str) else key] = new
    return root


# Parsing costs orjson about 16 bytes per body byte for typical JSON, and
# it runs on the event loop. Tiny objects or arrays cost more: a body of
# `[{},{},...]` takes 36 per byte, and an error would keep every issue.
# A body above _SCAN_ABOVE is first counted (two C-speed passes, a small
# fraction of the parse) and refused unparsed when it holds more objects and
# arrays than _FREE_CONTAINERS plus one per _BYTES_PER_CONTAINER bytes: at
# that density the worst shape costs about what a body of one-character
# strings does (under 30 per byte), which no container count can catch.
# A list of 100 charges has one per ~200 bytes, an error's issues one per
# ~20-50. Below _SCAN_ABOVE the worst case is a couple of MB and a millisecond.
_SCAN_ABOVE = 64 * 1024
_BYTES_PER_CONTAINER = 16
_FREE_CONTAINERS = 1024


def _parse_json(response: Response) -> Any:
    body = response.body
    if len(body) > _SCAN_ABOVE and _containers(body) > _container_budget(body):
        return _TOO_DENSE
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return _NOT_JSON
    except RecursionError:  # pragma: no cover - orjson bounds nesting itself
        return _NOT_JSON


def _containers(body: bytes) -> int:
    """Objects and arrays in `body`, give or take brackets inside strings."""
    return body.count(b"{") + body.count(b"[")


def _container_budget(body: bytes) -> int:
    return _FREE_CONTAINERS + len(body) // _BYTES_PER_CONTAINER


def _too_dense_reason(body: bytes) -> str:
    return (
        f"holds {_containers(body)} JSON objects and arrays in {len(body)} bytes, more than "
        f"decoding allows ({_FREE_CONTAINERS} plus one per {_BYTES_PER_CONTAINER} bytes: "
        f"{_container_budget(body)}); not decoded"
    )


_NOT_JSON = object()
_TOO_DENSE = object()


def decode_envelope(response: Response) -> Any:
    """Return the envelope's `data`, or raise the typed error the response means.

    - 2xx with `success: true`: the data (None when the endpoint sends none).
    - `success: false` on any status: the error class of the status (400 when a
      2xx carries a failure, as the official CLI treats it).
    - anything else: ResponseDecodeError for 2xx, the status's class otherwise.
    """
    parsed = _parse_json(response)
    ok = 200 <= response.status < 300
    success = parsed.get("success") if isinstance(parsed, dict) else None
    if ok and success is True:
        return parsed.get("data")
    error: APIError
    if ok and success is not False:
        if parsed is _TOO_DENSE:
            message = "response body " + _too_dense_reason(response.body)
        elif not response.body:
            message = "response body is empty"
        else:
            message = "response body is " + (
                "not JSON" if parsed is _NOT_JSON else "not a CHING envelope"
            )
        error = _with_response(ResponseDecodeError(message, status=response.status), response)
    else:
        error = _unexpected_body(response, parsed)
    # The error's traceback keeps this frame alive as long as the error
    # lives: it must not keep the whole parsed body too.
    del parsed
    raise error


def error_envelope(response: Response) -> dict[str, Any] | None:
    """The body if it is CHING's JSON error envelope (`success: false`), else None."""
    parsed = _parse_json(response)
    if isinstance(parsed, dict) and parsed.get("success") is False:
        return parsed
    return None


def error_from_response(response: Response) -> APIError:
    """The typed error for a non-2xx response, from its error envelope if it has one."""
    return _unexpected_body(response, _parse_json(response))


def _unexpected_body(response: Response, parsed: Any) -> APIError:
    if isinstance(parsed, dict) and parsed.get("success") is False:
        return error_from_envelope(response, parsed)
    message = f"HTTP {response.status} with an unexpected body"
    if not response.body:
        message = f"HTTP {response.status} with an empty body"
    elif parsed is _TOO_DENSE:
        message = f"HTTP {response.status} with a body that {_too_dense_reason(response.body)}"
    cls = error_class_for_status(response.status)
    return _with_response(cls(message, status=response.status), response)


def error_from_envelope(response: Response, envelope: Mapping[str, Any]) -> APIError:
    error = envelope.get("error")
    if not isinstance(error, dict):
        error = {}
    # Only a 2xx that carries a failure takes the body's status; a 1xx or 3xx
    # stays what it was (an APIError of that status).
    status = _failure_status(error) if 200 <= response.status < 300 else response.status
    code = error.get("code")
    message = error.get("message")
    issues = error.get("issues")
    if not isinstance(issues, list):
        issues = error.get("details")  # the official CLI's name for the same list
    cls = error_class_for_status(status)
    kept, omitted = _clean_issues(issues)
    exc = cls(
        message if isinstance(message, str) and message else f"HTTP {response.status}",
        status=status,
        code=code if isinstance(code, str) else None,
        issues=kept,
        issues_omitted=omitted,
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


# An error keeps this many of the server's issues (a request has far fewer
# fields); the rest are only counted, so that an error never holds a huge list.
MAX_ISSUES = 100


def _clean_issues(issues: Any) -> tuple[list[Mapping[str, Any]], int]:
    """The first MAX_ISSUES objects of `issues`, and how many more it has."""
    if not isinstance(issues, list):
        return [], 0
    kept: list[Mapping[str, Any]] = []
    for index, item in enumerate(issues):
        if type(item) is dict:
            if len(kept) == MAX_ISSUES:
                return kept, operator.countOf(
                    map(type, itertools.islice(issues, index, None)), dict
                )
            kept.append(item)
    return kept, 0


def redact_credentials(exc: APIError, request: Request, body: bytes | None = None) -> None:
    """Blank out the request's own credential wherever the server echoed it back
    (message, code, issues, request id, body excerpt), so that str(err),
    repr(err) and logs never carry the key. Given the `body`, the excerpt is
    cut again with the key removed first, so that no head of it survives."""
    secrets = request_secrets(request)
    if body is not None:
        exc.body = body_excerpt(body, secrets)
    if not secrets:
        return
    exc.message = scrub_secrets(exc.message, secrets)
    exc.body = scrub_secrets(exc.body, secrets)
    if exc.code is not None:
        exc.code = scrub_secrets(exc.code, secrets)
    if exc.request_id is not None:
        exc.request_id = scrub_secrets(exc.request_id, secrets)
    if exc.issues:
        exc.issues = tuple(_scrub_json(dict(issue), secrets) for issue in exc.issues)
    exc.args = (exc.message,)


def _with_response(exc: APIError, response: Response) -> APIError:
    exc._set_context(
        method=response.request.method,
        path=response.request.path,
        attempts=response.attempts,
        idempotency_key=response.request.idempotency_key,
        request_id=response.request_id,
        outcome_unknown=response.outcome_unknown
        or (isinstance(exc, ResponseDecodeError) and accepted_but_unreadable(response)),
    )
    redact_credentials(exc, response.request, response.body)  # after: request_id too
    if isinstance(exc, RateLimitError):
        exc.retry_after = parse_retry_after(response.headers.get("retry-after"))
    return exc
