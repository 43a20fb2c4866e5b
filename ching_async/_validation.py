"""Argument checks done before any request is sent. Each raises InvalidParameterError."""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import orjson

from ._errors import InvalidParameterError
from ._models import CancellationReason, Installments, RefundReason
from ._protocol import path_segment

__all__ = [
    "check_amount",
    "check_app_info",
    "check_cancellation_reason",
    "check_count",
    "check_currency",
    "check_flag",
    "check_id",
    "check_installments",
    "check_metadata",
    "check_optional_text",
    "check_rate",
    "check_redirect_url",
    "check_extra_headers",
    "check_positive_seconds",
    "check_proxy_url",
    "check_seconds",
]

_FORBIDDEN_IN_ID = re.compile(r"[\s\x00-\x1f\x7f]")
_CURRENCY = re.compile(r"[A-Za-z]{3}")
MAX_ID_LENGTH = 255


def _fail(message: str) -> InvalidParameterError:
    return InvalidParameterError(message)


def check_id(name: str, value: object) -> str:
    """Validate an object id and return it encoded as exactly one path segment."""
    return path_segment(check_plain_id(name, value))


def check_plain_id(name: str, value: object) -> str:
    """Validate an id sent in a body or query (not in a path); returns it unchanged."""
    if type(value) is str and value.isidentifier() and len(value) <= MAX_ID_LENGTH:
        return value  # CHING's ids (cus_..., pm_...): letters, digits, underscores
    if not isinstance(value, str) or not value:
        raise _fail(f"{name} must be a non-empty string, got {_describe(value)}")
    if len(value) > MAX_ID_LENGTH:
        raise _fail(f"{name} must be at most {MAX_ID_LENGTH} characters, got {len(value)}")
    if _FORBIDDEN_IN_ID.search(value):
        raise _fail(f"{name} must not contain whitespace or control characters: {value!r}")
    if not _is_utf8_encodable(value):
        # A lone surrogate (Python's stand-in for an undecodable byte, e.g. in
        # a command-line argument) cannot go into a URL or a JSON body.
        raise _fail(f"{name} must be valid Unicode text (it has a lone surrogate): {value!r}")
    return value


def _is_utf8_encodable(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def check_amount(name: str, value: object) -> int:
    # bool is an int subclass; True must not become a 1-agora charge.
    if type(value) is not int:
        raise _fail(
            f"{name} must be an int number of agorot (49.90 ILS = 4990), got {_describe(value)}"
        )
    if value <= 0:
        raise _fail(f"{name} must be greater than 0, got {value}")
    return value


def check_currency(name: str, value: object) -> str:
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise _fail(f"{name} must be a 3-letter ISO 4217 code such as 'ils', got {value!r}")
    return value.lower()


def check_installments(name: str, value: object) -> dict[str, int]:
    count = value.count if isinstance(value, Installments) else value
    if type(count) is not int or count < 1:
        raise _fail(f"{name} must be an int >= 1 or Installments, got {_describe(value)}")
    return {"count": count}


def check_cancellation_reason(name: str, value: object) -> str:
    # `expired` is CHING's own (the sweep of holds past capturable_until), never a request's.
    allowed = [r.value for r in CancellationReason if r is not CancellationReason.EXPIRED]
    return _one_of(name, value, allowed)


def check_metadata(name: str, value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(f"{name} must be a mapping with string keys, got {_describe(value)}")
    for key in value:
        if not isinstance(key, str):
            raise _fail(f"{name} keys must be strings, got {key!r}")
    try:
        orjson.dumps(dict(value))
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise _fail(f"{name} must be JSON-serializable: {exc}") from None
    if not _all_finite(value):
        # orjson would silently send NaN/Infinity as null.
        raise _fail(f"{name} must not contain NaN or infinite numbers")
    return dict(value)


def _all_finite(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Mapping):
        return all(_all_finite(item) for item in value.values())
    if isinstance(value, list | tuple):
        return all(_all_finite(item) for item in value)
    return True


def check_optional_text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise _fail(f"{name} must be a string, got {_describe(value)}")
    return value


def check_redirect_url(name: str, value: object) -> str:
    if not isinstance(value, str) or _FORBIDDEN_IN_ID.search(value):
        raise _fail(f"{name} must be an absolute http(s) URL string, got {value!r}")
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise _fail(f"{name} must be an absolute http(s) URL, got {value!r}")
    return value


def check_flag(name: str, value: object) -> bool:
    """A real bool: a truthy string such as "false" or "no" must not switch
    a safety setting on (or off)."""
    if value is not True and value is not False:
        raise _fail(f"{name} must be True or False, got {_describe(value)}")
    return value


def check_seconds(name: str, value: object) -> float:
    """A finite number of seconds >= 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise _fail(f"{name} must be a number of seconds >= 0, got {_describe(value)}")
    return float(value)


def check_count(name: str, value: object, *, minimum: int = 1) -> int:
    """An int >= `minimum` (a concurrency, a number of shards, of retries...)."""
    if type(value) is not int or value < minimum:
        raise _fail(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def check_rate(name: str, value: object, *, unit: str = "requests/s") -> float:
    """A rate > 0 (requests per second unless `unit` says otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise _fail(f"{name} must be > 0 {unit}, got {value!r}")
    return float(value)


def _one_of(name: str, value: object, allowed: Collection[str]) -> str:
    if isinstance(value, str) and value in allowed:
        return str(value)  # an enum member's value
    raise _fail(f"{name} must be one of {list(allowed)}, got {value!r}")


def _describe(value: object) -> str:
    return f"{type(value).__name__} {value!r}"[:120]


__all__ += ["check_plain_id"]


# ------------------------------------------------- customers, cards, refunds
_EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+")
MAX_EMAIL_LENGTH = 254
TEST_CARD_INDEXES = range(3)  # 0 = visa, 1 = mastercard, 2 = amex
# Python spelling -> the API's `identifyBy` value.
IDENTIFY_BY = {"email": "email", "tax_id": "taxId", "phone": "phone"}


def check_email(name: str, value: object) -> str:
    """A plausible address (one @, no spaces); the server validates further."""
    if not isinstance(value, str) or not _EMAIL.fullmatch(value):
        raise _fail(f"{name} must be an email address such as 'tal@example.com', got {value!r}")
    if len(value) > MAX_EMAIL_LENGTH:
        raise _fail(f"{name} must be at most {MAX_EMAIL_LENGTH} characters, got {len(value)}")
    return value


def check_text(name: str, value: object) -> str:
    """A non-blank single-line string (names, phones, tax ids, locales)."""
    if not isinstance(value, str) or not value.strip():
        raise _fail(f"{name} must be a non-empty string, got {_describe(value)}")
    if _CONTROL.search(value):
        raise _fail(f"{name} must not contain control characters: {value!r}")
    return value


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_card_index(name: str, value: object) -> int:
    if type(value) is not int or value not in TEST_CARD_INDEXES:
        raise _fail(
            f"{name} must be an int 0-2 (0 = visa, 1 = mastercard, 2 = amex), "
            f"got {_describe(value)}"
        )
    return value


def check_refund_reason(name: str, value: object) -> str:
    return _one_of(name, value, [reason.value for reason in RefundReason])


# Keys are printable ASCII; anything else (a pasted NBSP, a BOM, a newline)
# is a loading mistake and could smuggle bytes into the header.
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")


def check_idempotency_key(value: object) -> str:
    if not isinstance(value, str) or not _IDEMPOTENCY_KEY.fullmatch(value):
        raise _fail("idempotency_key must be 1-255 printable ASCII characters without spaces")
    return value


ON_FULL_WINDOW = ("raise", "send")


def check_on_full_window(value: object) -> str:
    return _one_of("on_full_window", value, ON_FULL_WINDOW)


def check_identify_by(value: object) -> str:
    """Returns the Python spelling; IDENTIFY_BY maps it to the wire value."""
    return _one_of("identify_by", value, IDENTIFY_BY)


__all__ += [
    "check_card_index",
    "check_email",
    "check_identify_by",
    "check_idempotency_key",
    "check_on_full_window",
    "check_refund_reason",
    "check_text",
]


# ------------------------------------------ documents and webhook endpoints
def check_webhook_endpoint_id(name: str, value: object) -> int:
    """Webhook endpoint ids are numbers (the list shows them)."""
    if type(value) is not int or value < 1:
        raise _fail(
            f"{name} must be a webhook endpoint's number (an int >= 1), got {_describe(value)}"
        )
    return value


_EVENT_TYPE = re.compile(r"[\x21-\x7e]{1,100}")


def check_event_types(name: str, value: object) -> list[str]:
    """A non-empty list of event types ("charge.succeeded", or "*" for all),
    each once, in the order given (repeats dropped, as the official CLI does)."""
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise _fail(
            f"{name} must be a list of event types such as ['charge.succeeded'] (['*'] for all),"
            f" got {_describe(value)}"
        )
    if not value:
        raise _fail(f"{name} must name at least one event type (['*'] for all)")
    for event in value:
        if not isinstance(event, str) or not _EVENT_TYPE.fullmatch(event):
            raise _fail(
                "each event type must be 1-100 printable ASCII characters without spaces, "
                f"got {_describe(event)}"
            )
    return list(dict.fromkeys(value))


def check_download_destination(name: str, value: object) -> Path | BinaryIO:
    """A path to write to (str or os.PathLike; its directory must exist), or
    a binary file object open for writing."""
    if isinstance(value, str | os.PathLike):
        try:
            path = Path(value)
        except TypeError:  # a PathLike whose __fspath__ returns bytes
            raise _fail(f"{name} must be a str path, got {_describe(value)}") from None
        if not str(path) or str(path) == ".":
            raise _fail(f"{name} must name a file, got an empty path")
        if path.is_dir():
            raise _fail(f"{name} {str(path)!r} is a directory; name the file to write")
        if not path.parent.is_dir():
            raise _fail(f"{name}'s directory {str(path.parent)!r} does not exist")
        return path
    if isinstance(value, io.TextIOBase):
        raise _fail(f"{name} is a text file; open it in binary mode ('wb')")
    write = getattr(value, "write", None)
    if not callable(write):
        raise _fail(
            f"{name} must be a path (str or pathlib.Path) or a binary file object "
            f"open for writing, got {_describe(value)}"
        )
    if getattr(value, "closed", False) is True:
        raise _fail(f"{name} file object is closed")
    writable = getattr(value, "writable", None)
    if callable(writable) and not writable():
        raise _fail(f"{name} file object is not open for writing")
    return value  # type: ignore[return-value]


__all__ += ["check_download_destination", "check_event_types", "check_webhook_endpoint_id"]
# ------------------------------------ end of documents and webhook endpoints


# ---------------------------------------------------------- client settings
def check_positive_seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise _fail(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


# Set by the client itself: a caller's value would break auth, exactly-once
# or the framing of the request.
_RESERVED_HEADERS = frozenset(
    {"authorization", "idempotency-key", "content-type"}
    | {"content-length", "host", "transfer-encoding"}
)
_BAD_IN_HEADER = re.compile(r"[\r\n\x00]")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def check_extra_headers(value: object) -> dict[str, str]:
    """Headers a caller adds to every call (str names and values, no CR, LF
    or NUL, none the client sets itself)."""
    if not isinstance(value, Mapping):
        raise _fail(f"headers must be a mapping of str to str, got {_describe(value)}")
    headers: dict[str, str] = {}
    for name, text in value.items():
        if type(name) is not str or not _HEADER_NAME.fullmatch(name):
            raise _fail(f"header name {name!r} is not a valid HTTP header name")
        if name.lower() in _RESERVED_HEADERS:
            hint = "; pass idempotency_key= to the call" if "idem" in name.lower() else ""
            raise _fail(f"header {name!r} is set by the client itself{hint}")
        if type(text) is not str or _BAD_IN_HEADER.search(text):
            # The value is not echoed: it may be a credential.
            raise _fail(f"header {name!r} must be a str without CR, LF or NUL")
        headers[name] = text
    return headers


_APP_INFO = re.compile(r"[\x20-\x7e]{1,200}")


def check_app_info(value: object) -> str:
    """What goes after the library's own User-Agent ("myshop/1.4")."""
    if not isinstance(value, str) or not _APP_INFO.fullmatch(value) or not value.strip():
        raise _fail(
            "app_info must be 1-200 printable ASCII characters (e.g. 'myshop/1.4'),"
            f" got {_describe(value)}"
        )
    return value.strip()


def check_proxy_url(value: object) -> str:
    """An http(s) proxy URL; never echoed (it may carry a password)."""
    if not isinstance(value, str):
        raise _fail(f"proxy must be a URL string, got {type(value).__name__}")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises ValueError for a port out of range)
    except ValueError:
        raise _fail("proxy is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or _BAD_IN_HEADER.search(value):
        raise _fail("proxy must be an absolute http:// or https:// URL")
    return value


# ------------------------------------------------------------ request bodies
# (argument name, value) -> the value to send: every check above but the
# idempotency key's and the options' has this shape, so a table can hold it.
Check = Callable[[str, Any], Any]


class Fields:
    """An endpoint's body fields, declared once: each argument's check, the
    ones that must be given, and the API's name where it differs from Python's.

    `body(**values)` returns the values checked, under the API's names, in the
    declared order; None leaves an optional field out. It is compiled from the
    table into straight-line code (as attrs writes an `__init__`), so that it
    costs what hand-written checks cost: charges.create is on the hot path.
    """

    body: Callable[..., dict[str, Any]]

    def __init__(
        self,
        checks: Mapping[str, Check],
        *,
        required: Iterable[str] = (),
        wire: Mapping[str, str] | None = None,
    ) -> None:
        wire, required = wire or {}, frozenset(required)
        if not all(name.isidentifier() and not name.startswith("_") for name in checks):
            raise ValueError(f"field names must be argument names: {list(checks)}")
        lines = [
            f"def body(*, {''.join(f'{name}=None, ' for name in checks)}**_unknown):",
            "    if _unknown:  # a name that came in through **fields",
            "        raise TypeError(f'unexpected keyword argument {next(iter(_unknown))!r}')",
            "    _body = {}",
        ]
        for name in checks:
            put = f"_body[{wire.get(name, name)!r}] = _check_{name}({name!r}, {name})"
            lines += [f"    {put}"] if name in required else [f"    if {name} is not None: {put}"]
        lines.append("    return _body")
        namespace: dict[str, Any] = {f"_check_{name}": check for name, check in checks.items()}
        exec("\n".join(lines), namespace)
        self.body = namespace["body"]


# charges.create's, and a bulk item's before anything is sent.
CHARGE_FIELDS = Fields(
    {
        "customer": check_plain_id,
        "payment_method": check_plain_id,
        "amount": check_amount,
        "currency": check_currency,
        "description": check_optional_text,
        "installments": check_installments,
        "metadata": check_metadata,
    },
    required=("customer", "payment_method", "amount", "currency"),
)

__all__ += ["CHARGE_FIELDS", "Check", "Fields"]
