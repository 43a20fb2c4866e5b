"""The CHING protocol without I/O: URL and path encoding, JSON bodies,
Retry-After, and a response's envelope turned into its data or the typed
error it means. Plain functions over messages, tested without a network and
shared by every transport (the model is gidgethub's sansio module).
"""

from __future__ import annotations

import email.utils
import ipaddress
import itertools
import math
import operator
import re
import time
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import orjson

from ._errors import (
    APIError,
    InvalidParameterError,
    RateLimitError,
    ResponseDecodeError,
    UnreadableResultError,
    error_class_for,
    error_class_for_status,
)
from ._messages import PARSED_BODY, Request, Response
from ._secrets import attach_context

__all__ = [
    "MAX_ISSUES",
    "UNSENDABLE_IN_URL",
    "accepted_but_unreadable",
    "check_sendable_url",
    "forget_parse",
    "is_loopback",
    "decode_envelope",
    "encode_json",
    "error_from_envelope",
    "parse_retry_after",
    "success_envelope",
    "path_segment",
    "unreadable_answer",
    "unreadable_error",
]


# --------------------------------------------------------------------- URLs
_DOT_SEGMENTS = {".": "%2E", "..": "%2E%2E"}


def path_segment(value: str) -> str:
    """Percent-encode one path segment so that no id can reach another route.

    `quote(safe="")` encodes "/", "?" and "#"; dot segments are encoded too,
    because "." and ".." would otherwise be resolved away by URL normalisation.
    """
    return _DOT_SEGMENTS.get(value) or quote(value, safe="")


# Characters that may not go into a request line as is: the base URL check
# (Client) and the transport's check of every URL share this one rule.
UNSENDABLE_IN_URL = re.compile(r"[\x00-\x20\x7f]")


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
    """The body parsed (or _TOO_DENSE / _NOT_JSON), once per response: a
    success envelope's parse is kept on it. Nothing mutates what it returns
    (but decode_list empties a list it failed to decode, and forgets it)."""
    memo = response.__dict__
    parsed = memo.get(PARSED_BODY, _UNPARSED)
    if parsed is _UNPARSED:
        parsed = _parse(response.body)
        # Only a success is kept: an error's traceback keeps its response
        # alive, and must not keep a large error body's parse with it.
        if type(parsed) is dict and parsed.get("success") is True:
            memo[PARSED_BODY] = parsed
    return parsed


def success_envelope(response: Response) -> dict[str, Any]:
    """The whole envelope of a response `decode_envelope` accepted (what the
    server sends beside `data` too), from the parse kept on it."""
    parsed = _parse_json(response)
    assert type(parsed) is dict, "decode_envelope accepted this response first"
    return parsed


def forget_parse(response: Response) -> None:
    """Drop the kept parse (a decode failed: the error outlives the call)."""
    response.__dict__.pop(PARSED_BODY, None)


def _parse(body: bytes) -> Any:
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
_UNPARSED = object()


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
        error = unreadable_answer(message, response)
    else:
        error = _unexpected_body(response, parsed)
    # The error's traceback keeps this frame (and the response) alive as
    # long as the error lives: it must not keep the whole parsed body too.
    del parsed
    raise error


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
    code = code if isinstance(code, str) else None
    message = error.get("message")
    issues = error.get("issues")
    if not isinstance(issues, list):
        issues = error.get("details")  # the official CLI's name for the same list
    cls = error_class_for(status, code)
    kept, omitted = _clean_issues(issues)
    exc = cls(
        message if isinstance(message, str) and message else f"HTTP {response.status}",
        status=status,
        code=code,
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


def unreadable_error(
    message: str, request: Request, status: int, *, outcome_unknown: bool
) -> ResponseDecodeError:
    """The error of an answer to `request` whose body cannot be read, without
    its context (the caller attaches it): when the request may have taken
    effect, an UnreadableResultError, which `except OutcomeUnknownError`
    catches too (a POST answered 2xx most likely did); else a plain
    ResponseDecodeError. The one place either is made for an answer."""
    if outcome_unknown:
        key = request.idempotency_key or ""
        return UnreadableResultError(message, idempotency_key=key, status=status)
    return ResponseDecodeError(message, status=status)


def unreadable_answer(message: str, response: Response) -> ResponseDecodeError:
    """The error of a response whose body (or the object in it) cannot be
    read, with the response's context: in doubt for a POST CHING accepted."""
    unknown = accepted_but_unreadable(response)
    error = unreadable_error(message, response.request, response.status, outcome_unknown=unknown)
    return _with_response(error, response)


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


_E = TypeVar("_E", bound=APIError)


def _with_response(exc: _E, response: Response) -> _E:
    attach_context(
        exc,
        response.request,
        attempts=response.attempts,
        request_id=response.request_id,
        # An UnreadableResultError is in doubt whatever the response says.
        outcome_unknown=response.outcome_unknown or exc.outcome_unknown,
        body=response.body,
        headers=response.headers,
    )
    if isinstance(exc, RateLimitError):
        exc.retry_after = parse_retry_after(response.headers.get("retry-after"))
    return exc
