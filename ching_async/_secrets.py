"""The API key and everything that keeps it secret: the key type, redaction
of server text that may echo it (in any JSON spelling), and the one helper
that stamps an error with the request it came from, redacted.

Nothing here imports the message classes: functions take what they need
(headers, text), so that every other module can depend on this one.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar

from multidict import CIMultiDict

from ._errors import APIConnectionError, APIError, InvalidParameterError

__all__ = [
    "BODY_EXCERPT_CHARS",
    "MIN_SECRET_LENGTH",
    "REDACTED_HEADERS",
    "ApiKey",
    "HiddenSecrets",
    "attach_context",
    "body_excerpt",
    "exception_detail",
    "redact_headers",
    "redacted_head",
    "request_secrets",
    "response_headers",
    "split_credentials",
    "scrub_json",
    "scrub_secrets",
]

BODY_EXCERPT_CHARS = 500
REDACTED_HEADERS = frozenset({"authorization"})
# Credentials at least this long are scrubbed from text; shorter ones could
# not be told apart from ordinary words, so ApiKey refuses them.
MIN_SECRET_LENGTH = 8
_KEY_FORBIDDEN = re.compile(r"[^\x21-\x7e]")


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
        if len(secret) < MIN_SECRET_LENGTH:
            # CHING keys are far longer, and redaction skips shorter secrets.
            raise InvalidParameterError(
                f"api_key is shorter than {MIN_SECRET_LENGTH} characters, so it is not a CHING "
                "key; check how it was loaded"
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

    def __reduce__(self) -> Any:
        # A pickle would carry the secret in clear (to a cache, a task queue,
        # a crash report): refused, as for a socket. Copies share the key.
        raise TypeError("an API key cannot be pickled; each process loads its own")

    def __copy__(self) -> ApiKey:
        return self

    def __deepcopy__(self, memo: Any) -> ApiKey:
        return self


_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]+")


class _Carrier(Protocol):
    """What redaction reads of a request: its headers."""

    @property
    def headers(self) -> Mapping[str, str]: ...


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """`headers` to show: credential headers' values as `<redacted>`."""
    return {k: ("<redacted>" if k.lower() in REDACTED_HEADERS else v) for k, v in headers.items()}


def split_credentials(headers: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(`headers` without the credential headers, the credential headers)."""
    kept: dict[str, str] = {}
    credentials: dict[str, str] = {}
    for name, value in headers.items():
        (credentials if name.lower() in REDACTED_HEADERS else kept)[name] = value
    return kept, credentials


def request_secrets(request: _Carrier) -> list[str]:
    """The credentials a request carries (its bearer token), for redaction."""
    secrets = []
    for name, value in request.headers.items():
        if name.lower() in REDACTED_HEADERS:
            secret = value.split(" ", 1)[-1].strip()
            if len(secret) >= MIN_SECRET_LENGTH:
                secrets.append(secret)
    if not secrets:  # a request handed to a user middleware keeps them hidden
        hidden = getattr(request, "_hidden_secrets", None)
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


def scrub_json(value: Any, secrets: Sequence[str]) -> Any:
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


_E = TypeVar("_E", bound=APIError | APIConnectionError)


class _Source(_Carrier, Protocol):
    """What an error's context is taken from: the request it belongs to."""

    @property
    def method(self) -> str: ...

    @property
    def path(self) -> str: ...

    @property
    def attempt(self) -> int: ...

    @property
    def idempotency_key(self) -> str | None: ...


def response_headers(headers: Mapping[str, str], secrets: Sequence[str]) -> CIMultiDict[str]:
    """A copy of a response's headers to hand out (on results and errors):
    picklable, case-insensitive, and without `secrets` in any value."""
    copy = CIMultiDict(headers)
    if secrets:
        text = " ".join(copy.values())
        # Scrub only when scrub_secrets could change something: a secret, or
        # a backslash (a JSON-escaped spelling of one).
        suspect = "\\" in text
        for secret in secrets:
            suspect = suspect or secret in text
        if suspect:
            scrubbed = [(name, scrub_secrets(value, secrets)) for name, value in copy.items()]
            copy = CIMultiDict(scrubbed)
    return copy


def attach_context(
    error: _E,
    request: _Source,
    *,
    attempts: int | None = None,
    request_id: str | None = None,
    outcome_unknown: bool = False,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> _E:
    """Stamp `error` with the request it came from (method, path, attempts,
    idempotency key, the server's request id) and blank out the request's own
    credential wherever the server echoed it into the error (message, code,
    issues, request id, the excerpt of `body`), so that str(err), repr(err)
    and logs never carry the key. The one place errors get their context."""
    error._set_context(
        method=request.method,
        path=request.path,
        attempts=request.attempt if attempts is None else attempts,
        idempotency_key=request.idempotency_key,
        request_id=request_id,
        outcome_unknown=outcome_unknown,
    )
    secrets = request_secrets(request)
    if isinstance(error, APIError):
        if headers is not None:
            error.headers = response_headers(headers, secrets)
        if body is not None:
            # Cut after the key is removed, so that no head of it survives.
            error.body = body_excerpt(body, secrets)
        if secrets:
            error.body = scrub_secrets(error.body, secrets)
            if error.code is not None:
                error.code = scrub_secrets(error.code, secrets)
            if error.issues:
                error.issues = tuple(scrub_json(dict(issue), secrets) for issue in error.issues)
    if secrets:
        error.message = scrub_secrets(error.message, secrets)
        if error.request_id is not None:
            error.request_id = scrub_secrets(error.request_id, secrets)
        error.args = (error.message,)
    return error
