"""Argument checks done before any request is sent. Each raises InvalidParameterError."""

from __future__ import annotations

import enum
import io
import math
import os
import re
from collections.abc import AsyncIterable, Callable, Collection, Iterable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO, TypeVar
from urllib.parse import urlsplit

import orjson

from ._convert import format_timestamp
from ._errors import InvalidParameterError
from ._messages import Middleware
from ._models import (
    CancellationReason,
    CaptureMethod,
    DiscountDuration,
    DiscountRedemption,
    DiscountTargetType,
    DiscountValueType,
    Installments,
    LineItem,
    PriceApplyMode,
    PriceType,
    ProductFeature,
    Recurring,
    RecurringInterval,
    RefundReason,
)
from ._protocol import UNSENDABLE_IN_URL, is_loopback, path_segment
from ._secrets import ApiKey

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


# JSON's exact integer range (the API's and the decoder's): a larger amount
# cannot be sent as written, nor read back the same.
MAX_AMOUNT = 2**53 - 1


def check_amount(name: str, value: object) -> int:
    # bool is an int subclass; True must not become a 1-agora charge.
    if type(value) is not int:
        raise _fail(
            f"{name} must be an int number of agorot (49.90 ILS = 4990), got {_describe(value)}"
        )
    if value <= 0:
        raise _fail(f"{name} must be greater than 0, got {value}")
    if value > MAX_AMOUNT:
        raise _fail(f"{name} must be at most {MAX_AMOUNT} agorot (2**53 - 1), got {value}")
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


def check_count(name: str, value: object, *, minimum: int = 1, maximum: int | None = None) -> int:
    """An int >= `minimum`, and <= `maximum` if given (a concurrency, a number
    of shards, of retries...)."""
    if maximum is not None:
        if type(value) is not int or not minimum <= value <= maximum:
            raise _fail(f"{name} must be an int from {minimum} to {maximum}, got {value!r}")
    elif type(value) is not int or value < minimum:
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


# ------------------------------------------- products, prices and discounts
class Clear(enum.Enum):
    """The type of `CLEAR`."""

    CLEAR = "CLEAR"

    def __repr__(self) -> str:
        return "ching_async.CLEAR"


CLEAR = Clear.CLEAR
"""An update's argument that sends null, clearing a nullable field (None, the
default, leaves the field unchanged)."""


def clearable(check: Check) -> Check:
    """`check` for a nullable field: `CLEAR` passes as None (JSON null)."""

    def checked(name: str, value: Any) -> Any:
        return None if value is CLEAR else check(name, value)

    return checked


def one_of(enum_cls: type[StrEnum]) -> Check:
    """A check that takes one of the enum's values (a member or its str)."""
    allowed = [member.value for member in enum_cls]
    return lambda name, value: _one_of(name, value, allowed)


MAX_NAME_LENGTH = 255


def check_name(name: str, value: object) -> str:
    """A non-blank single-line name of at most 255 characters."""
    text = check_text(name, value)
    if len(text) > MAX_NAME_LENGTH:
        raise _fail(f"{name} must be at most {MAX_NAME_LENGTH} characters, got {len(text)}")
    return text


def check_https_url(name: str, value: object) -> str:
    """An absolute https:// URL (images on hosted pages must be https)."""
    url = check_redirect_url(name, value)
    if not url.startswith("https://"):
        raise _fail(f"{name} must be an https:// URL, got {value!r}")
    return url


def check_agorot_or_zero(name: str, value: object) -> int:
    """An int number of agorot >= 0 (a price of 0 is a free plan)."""
    if type(value) is not int or value < 0:
        raise _fail(
            f"{name} must be an int number of agorot >= 0 (49.90 ILS = 4990), "
            f"got {_describe(value)}"
        )
    return value


def check_positive_int(name: str, value: object) -> int:
    return check_count(name, value, minimum=1)


def check_non_negative_int(name: str, value: object) -> int:
    return check_count(name, value, minimum=0)


def check_active_filter(name: str, value: object) -> str:
    """A list's `active` filter: True, False or "all", as the query spells it."""
    if value is True or value is False:
        return "true" if value else "false"
    if value == "all" and isinstance(value, str):
        return "all"
    raise _fail(f"{name} must be True, False or 'all', got {_describe(value)}")


def check_moment(name: str, value: object) -> str:
    """A timezone-aware datetime, or an ISO-8601 string with an offset or
    "Z", sent in the API's spelling (`2026-05-01T00:00:00.000Z`)."""
    moment = parse_moment(name, value)
    return format_timestamp(moment.astimezone(UTC))


def parse_moment(name: str, value: object) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise _fail(
                f"{name} must be an ISO-8601 date and time such as "
                f"'2026-05-01T00:00:00Z', got {value!r}"
            ) from None
    if not isinstance(value, datetime):
        raise _fail(f"{name} must be a timezone-aware datetime, got {_describe(value)}")
    if value.utcoffset() is None:
        raise _fail(
            f"{name} must be timezone-aware (e.g. datetime(..., tzinfo=UTC) or a '...Z' "
            f"string): a naive time is ambiguous, got {value!r}"
        )
    return value


def check_id_list(name: str, value: object) -> list[str]:
    """A non-empty list of ids, each once, in the order given."""
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise _fail(f"{name} must be a list of ids, got {_describe(value)}")
    if not value:
        raise _fail(f"{name} must hold at least one id")
    return list(dict.fromkeys(check_plain_id(f"{name}[{i}]", v) for i, v in enumerate(value)))


def _exact_keys(name: str, value: object, allowed: Collection[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(f"{name} must be a mapping, got {_describe(value)}")
    unknown = [key for key in value if key not in allowed]
    if unknown:
        raise _fail(f"{name} has unknown keys {unknown}; it takes {list(allowed)}")
    return value


_FEATURE_KEYS = ("title", "subtitle")


def check_features(name: str, value: object) -> list[dict[str, str]]:
    """Product features: a list of `{"title": ..., "subtitle": ...}` mappings
    or ProductFeature, `subtitle` optional."""
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise _fail(f"{name} must be a list of {{'title': ...}} mappings, got {_describe(value)}")
    features = []
    for index, item in enumerate(value):
        where = f"{name}[{index}]"
        if isinstance(item, ProductFeature):
            item = {"title": item.title, "subtitle": item.subtitle}
        fields = _exact_keys(where, item, _FEATURE_KEYS)
        if "title" not in fields:
            raise _fail(f"{where} needs a title")
        feature = {"title": check_text(f"{where}.title", fields["title"])}
        if fields.get("subtitle") is not None:
            feature["subtitle"] = check_text(f"{where}.subtitle", fields["subtitle"])
        features.append(feature)
    return features


_RECURRING_KEYS = ("interval", "interval_count", "trial_period_days")
_check_interval = one_of(RecurringInterval)


def check_recurring(name: str, value: object) -> dict[str, Any]:
    """A recurring price's billing: `{"interval": "month", "interval_count":
    1, "trial_period_days": 14}` (only `interval` required) or Recurring."""
    if isinstance(value, Recurring):
        value = {k: getattr(value, k) for k in _RECURRING_KEYS if getattr(value, k) is not None}
    fields = _exact_keys(name, value, _RECURRING_KEYS)
    if fields.get("interval") is None:
        raise _fail(f"{name} needs an interval: one of {[i.value for i in RecurringInterval]}")
    recurring = {"interval": _check_interval(f"{name}.interval", fields["interval"])}
    if fields.get("interval_count") is not None:
        count = check_positive_int(f"{name}.interval_count", fields["interval_count"])
        recurring["interval_count"] = count
    if fields.get("trial_period_days") is not None:
        days = check_non_negative_int(f"{name}.trial_period_days", fields["trial_period_days"])
        recurring["trial_period_days"] = days
    return recurring


def check_price_rules(body: Mapping[str, Any]) -> None:
    """What `prices.create` needs beyond each field's own check."""
    _needs(body, "recurring", when=("type", PriceType.RECURRING), hint='{"interval": "month"}')


def check_migration_rules(body: Mapping[str, Any]) -> None:
    """What `prices.update` needs beyond each field's own check."""
    _needs(body, "effective_date", when=("apply_mode", PriceApplyMode.SCHEDULED))
    if not set(body) - {"apply_mode", "effective_date"}:
        raise _fail(
            "update needs at least one change: unit_amount, trial_period_days, tax_mode or metadata"
        )


_DISCOUNT_CODE = re.compile(r"[A-Z0-9_-]{1,64}")
MAX_PERCENT = 10_000  # basis points: 100%


def check_discount_code(name: str, value: object) -> str:
    """1-64 of A-Z, 0-9, _ and -, upper-cased as the API stores it."""
    code = value.upper() if isinstance(value, str) else value
    if not isinstance(code, str) or not _DISCOUNT_CODE.fullmatch(code):
        raise _fail(
            f"{name} must be 1-64 letters, digits, '_' or '-' (upper-cased: 'launch' is "
            f"'LAUNCH'), got {_describe(value)}"
        )
    return code


# The id prefix of each target type's targets.
TARGET_PREFIXES = {DiscountTargetType.PRODUCTS: "prod_", DiscountTargetType.PRICES: "price_"}


def check_targets_of(target_type: str, targets: list[str]) -> None:
    """Targets of a products (prices) rule are product (price) ids."""
    prefix = TARGET_PREFIXES[DiscountTargetType(target_type)]
    wrong = [target for target in targets if not target.startswith(prefix)]
    if wrong:
        raise _fail(f"target_type={target_type!r} takes {prefix}... ids, got {wrong}")


def check_same_kind_targets(targets: list[str]) -> None:
    """A target replacement is all product ids or all price ids."""
    prefixes = tuple(TARGET_PREFIXES.values())
    kinds = {next((p for p in prefixes if t.startswith(p)), None) for t in targets}
    if len(kinds) != 1 or None in kinds:
        raise _fail(f"targets must be all product ids (prod_...) or all price ids, got {targets}")


# What a discount's `value` is, by its value_type: the words of its error.
_DISCOUNT_VALUES = {
    DiscountValueType.PERCENT: (
        f"in basis points for value_type='percent': an int from 0 to {MAX_PERCENT} (2000 is 20%)"
    ),
    DiscountValueType.AMOUNT: (
        "the agorot off for value_type='amount': an int >= 0 (49.90 ILS = 4990)"
    ),
    DiscountValueType.OVERRIDE: (
        "the unit price to charge for value_type='override': an int number of agorot >= 0 "
        "(49.90 ILS = 4990)"
    ),
}


def _check_discount_value(value_type: str, value: object) -> None:
    """A discount's `value` as `value_type` (already checked) reads it."""
    top = MAX_PERCENT if value_type == DiscountValueType.PERCENT else None
    if type(value) is not int or value < 0 or (top is not None and value > top):
        meaning = _DISCOUNT_VALUES[DiscountValueType(value_type)]
        raise _fail(f"value is {meaning}, got {_describe(value)}")


def checked_with_others(name: str, value: object) -> object:
    """The check of a field whose meaning another field gives (a discount's
    `value`): left to the body's rules, which see both."""
    return value


def check_discount_rules(body: Mapping[str, Any]) -> None:
    """What `discounts.create` needs beyond each field's own check: a
    `value` as its `value_type` reads it, the fields that go with
    `redemption`, `target_type`, `value_type` and `duration`, and a window
    that ends after it starts."""
    value_type = body["value_type"]
    _check_discount_value(value_type, body["value"])
    _needs(body, "code", when=("redemption", DiscountRedemption.CODE))
    if body["target_type"] == DiscountTargetType.ORDER:
        if "targets" in body:
            raise _fail(
                'target_type="order" takes no targets (the API answers targets_not_supported)'
            )
    elif "targets" not in body:
        raise _fail(f"target_type={body['target_type']!r} needs targets=[...] (ids)")
    else:
        check_targets_of(body["target_type"], body["targets"])
    _needs(body, "value_tax_mode", when=("value_type", DiscountValueType.OVERRIDE), optional=True)
    if value_type == DiscountValueType.PERCENT and "currency" in body:
        raise _fail("currency= is for value_type 'amount' or 'override', not 'percent'")
    _needs(body, "duration_charges", when=("duration", DiscountDuration.N_CHARGES))
    _needs(body, "duration_until", when=("duration", DiscountDuration.UNTIL_DATE))
    check_window(body)


def _needs(
    body: Mapping[str, Any],
    field: str,
    *,
    when: tuple[str, str],
    optional: bool = False,
    hint: str = "...",
) -> None:
    """`field` is given when body[when[0]] is when[1] (unless `optional`),
    and only then."""
    key, value = when
    if body[key] == value:
        if not optional and field not in body:
            raise _fail(f"{key}={str(value)!r} needs {field}={hint}")
    elif field in body:
        raise _fail(f"{field}= is for {key}={str(value)!r} only, got {key}={body[key]!r}")


def check_window(body: Mapping[str, Any]) -> None:
    """`active_until` after `active_from`, when both are given."""
    start, end = body.get("active_from"), body.get("active_until")
    if start is None or end is None:
        return
    if datetime.fromisoformat(end) <= datetime.fromisoformat(start):
        raise _fail(f"active_until ({end}) must be after active_from ({start})")


# An image for `products.upload_image`: what the API takes.
MAX_IMAGE_BYTES = 2 * 1024 * 1024
IMAGE_TYPES = {  # content type -> file name suffixes
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    "image/webp": (".webp",),
    "image/gif": (".gif",),
}


def sniff_image(data: bytes) -> str | None:
    """The content type the bytes' signature shows, if one of IMAGE_TYPES."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


def check_image(name: str, data: object, content_type: object) -> tuple[bytes, str]:
    """The image's bytes and content type: at most 2 MB of PNG, JPEG, WebP or
    GIF, whose bytes are what `content_type` (if given) says."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise _fail(f"{name} must be bytes or a pathlib.Path, got {_describe(data)}")
    data = bytes(data)
    if not data:
        raise _fail(f"{name} is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise _fail(f"{name} must be at most 2 MB ({MAX_IMAGE_BYTES} bytes), got {len(data)}")
    kind = sniff_image(data)
    if content_type is not None:
        content_type = _one_of("content_type", content_type, IMAGE_TYPES)
    if kind is None:
        raise _fail(f"{name} is not a PNG, JPEG, WebP or GIF image (by its first bytes)")
    if content_type is not None and content_type != kind:
        raise _fail(f"{name} is {kind} by its first bytes, not content_type={content_type!r}")
    return data, kind


_FILENAME = re.compile(r"[^/\\\x00-\x1f\x7f]{1,200}")


def check_image_filename(name: str, value: object) -> str:
    """A file name without a directory and without an image extension (the
    API adds the one of the content type)."""
    if not isinstance(value, str) or not _FILENAME.fullmatch(value) or not value.strip():
        raise _fail(f"{name} must be a file name without '/' (1-200 characters), got {value!r}")
    if value.lower().endswith(tuple(s for suffixes in IMAGE_TYPES.values() for s in suffixes)):
        raise _fail(f"{name} is without its extension: {value.rsplit('.', 1)[0]!r}, not {value!r}")
    return value


__all__ += [
    "CLEAR",
    "Clear",
    "check_active_filter",
    "IMAGE_TYPES",
    "MAX_IMAGE_BYTES",
    "check_agorot_or_zero",
    "check_discount_code",
    "check_discount_rules",
    "checked_with_others",
    "check_features",
    "check_https_url",
    "check_id_list",
    "check_image",
    "check_image_filename",
    "check_migration_rules",
    "check_moment",
    "check_name",
    "check_non_negative_int",
    "check_positive_int",
    "check_price_rules",
    "check_recurring",
    "check_same_kind_targets",
    "check_window",
    "clearable",
    "one_of",
]
# ------------------------------------ end of products, prices and discounts


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
# What no header name or value may hold (a request's framing): also checked
# on what a user middleware forwards (`_middleware.py`).
BAD_IN_HEADER = re.compile(r"[\r\n\x00]")
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
        if type(text) is not str or BAD_IN_HEADER.search(text):
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
    if parts.scheme not in ("http", "https") or not parts.hostname or BAD_IN_HEADER.search(value):
        raise _fail("proxy must be an absolute http:// or https:// URL")
    return value


_T = TypeVar("_T")


def check_instance(name: str, value: object, cls: type[_T]) -> _T:
    """An instance of `cls`, for a setting that is an object of the library's
    (a RetryPolicy): `cls` is passed in because the modules that define such
    classes import this one."""
    if not isinstance(value, cls):
        raise _fail(f"{name} must be a {cls.__name__}, got {value!r}")
    return value


def check_middlewares(name: str, value: object) -> tuple[Middleware, ...]:
    """A sequence of middlewares, each a callable (request, call_next); the
    client then wraps each with its contract checked (`_middleware.py`)."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise _fail(f"{name} must be a sequence of callables, got {value!r}")
    chain = tuple(value)
    for middleware in chain:
        if not callable(middleware):
            raise _fail(
                f"each middleware must be callable (request, call_next), got {middleware!r}"
            )
    return chain


_NETLOC_END = re.compile(r"[/?#]")


def check_base_url(value: object, api_key: ApiKey) -> str:
    """The API's absolute http(s) URL, without a trailing slash; plain http://
    with a live key only to a loopback host. One with a password is never echoed."""
    if not isinstance(value, str):
        raise _fail(f"base_url must be a string, got {value!r}")
    if UNSENDABLE_IN_URL.search(value):
        # urlsplit quietly drops CR/LF/tab and keeps spaces, which would then
        # end up in the request line.
        raise _fail("base_url must not contain whitespace or control characters")
    # Checked first, on the text of the netloc as urlsplit reads it (after "//",
    # up to "/", "?" or "#"): the part before "@" is a password, and urlsplit's
    # own errors quote the netloc.
    if "@" in _NETLOC_END.split(value.partition("//")[2], maxsplit=1)[0]:
        raise _fail("base_url must not contain credentials (user:password@)")
    try:
        parts = urlsplit(value)
        if parts.port == 0:  # .port raises ValueError for a port out of range
            raise ValueError("port 0")
    except ValueError as exc:
        raise _fail(f"base_url is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail(f"base_url must be an absolute http(s) URL, got {value!r}")
    if parts.query or parts.fragment:
        raise _fail("base_url must not have a query or fragment")
    if parts.scheme == "http" and api_key.mode == "live" and not is_loopback(parts.hostname):
        raise _fail("refusing to send a live API key over plain http:// to a non-loopback host")
    return value.rstrip("/")


# A bulk job's id goes into each item's idempotency key (`<job_id>:<index>`).
_JOB_ID = re.compile(r"[\x21-\x7e]{1,200}")


def check_job_id(value: object, *, hash_tag: bool = False) -> str:
    """1-200 printable ASCII characters without spaces; with `hash_tag`,
    without braces too (scaleout puts the id in a Redis key's hash tag)."""
    if (
        not isinstance(value, str)
        or not _JOB_ID.fullmatch(value)
        or (hash_tag and ("{" in value or "}" in value))
    ):
        braces = ", '{' or '}'" if hash_tag else ""
        raise _fail(f"job_id must be 1-200 printable ASCII characters without spaces{braces}")
    return value


def check_items(value: object) -> Iterable[Any] | AsyncIterable[Any]:
    """A bulk job's items: an iterable or an async iterable (read lazily)."""
    if not isinstance(value, Iterable | AsyncIterable):
        raise _fail("items must be an iterable or an async iterable")
    return value


__all__ += ["check_base_url", "check_instance", "check_items", "check_job_id", "check_middlewares"]


# ------------------------------------------------------------ request bodies
# (argument name, value) -> the value to send: every check above but the
# idempotency key's and the options' has this shape, so a table can hold it.
Check = Callable[[str, Any], Any]


class Fields:
    """An endpoint's body fields, declared once: each argument's check, the
    ones that must be given, and the API's name where it differs from Python's.

    `body(**values)` returns the values checked, under the API's names, in the
    declared order; None leaves an optional field out. `body_of(arguments)`
    does the same with the values a mapping holds under the fields' names (a
    name it lacks is None): a method whose fields are its own parameters
    passes `locals()`, as its first statement, so that each field is named in
    its signature and in the table, not a third time in a call.
    """

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
        # (name, the API's name, check, required), in the declared order.
        self._fields = tuple(
            (name, wire.get(name, name), check, name in required) for name, check in checks.items()
        )

    def body(self, **values: Any) -> dict[str, Any]:
        for name in values:
            if not any(name == field[0] for field in self._fields):
                # A name that came in through **fields.
                raise TypeError(f"unexpected keyword argument {name!r}")
        return self.body_of(values)

    def body_of(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for name, wire_name, check, required in self._fields:
            value = arguments.get(name)
            if required or value is not None:
                body[wire_name] = check(name, value)
        return body


# charges.create's body (its metadata goes through `marked`, with the marker),
# and a bulk item's checks before anything is sent.
CHARGE_FIELDS = Fields(
    {
        "customer": check_plain_id,
        "payment_method": check_plain_id,
        "amount": check_amount,
        "currency": check_currency,
        "description": check_optional_text,
        "installments": check_installments,
    },
    required=("customer", "payment_method", "amount", "currency"),
)

__all__ += ["CHARGE_FIELDS", "Check", "Fields"]


# ----------------------------------------- checkout sessions and the billing portal
MAX_LINE_ITEMS = 50
MAX_QUANTITY = 1000
MAX_COUPON_CODES = 20
MAX_COUPON_CODE_LENGTH = 64
CHECKOUT_PAYMENT_METHODS = ("card", "wallet")
_CSS_HEX = re.compile(r"#(?:[0-9A-Fa-f]{3}|[0-9A-Fa-f]{6}|[0-9A-Fa-f]{8})")
_BLANK_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


def check_signed_agorot(name: str, value: object) -> int:
    """An int number of agorot of either sign (a negative cart line is a discount)."""
    if type(value) is not int:
        raise _fail(
            f"{name} must be an int number of agorot (49.90 ILS = 4990; negative for a "
            f"discount line), got {_describe(value)}"
        )
    return value


def check_quantity(name: str, value: object) -> int:
    """A line item's quantity: an int from 1 to 1000."""
    if type(value) is not int or not 1 <= value <= MAX_QUANTITY:
        raise _fail(f"{name} must be an int from 1 to {MAX_QUANTITY}, got {_describe(value)}")
    return value


_LINE_ITEM = Fields(
    {
        "name": check_text,
        "amount_agorot": check_signed_agorot,
        "quantity": check_quantity,
        "description": check_optional_text,
        "image_url": check_https_url,
        "price": check_plain_id,
        "product": check_plain_id,
    },
    required=("name", "amount_agorot"),
)
_LINE_ITEM_KEYS = ("name", "amount_agorot", "quantity", "description", "image_url", "price",
                   "product")  # fmt: skip


def check_line_items(name: str, value: object) -> list[dict[str, Any]]:
    """A cart: 1 to 50 line items, each a LineItem or a mapping of its fields
    (`name` and `amount_agorot` required)."""
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise _fail(
            f"{name} must be a list of line items such as {{'name': 'T-shirt', "
            f"'amount_agorot': 4990}}, got {_describe(value)}"
        )
    if not 1 <= len(value) <= MAX_LINE_ITEMS:
        raise _fail(f"{name} must hold 1 to {MAX_LINE_ITEMS} line items, got {len(value)}")
    lines = []
    for index, item in enumerate(value):
        where = f"{name}[{index}]"
        if isinstance(item, LineItem):
            item = {key: getattr(item, key) for key in _LINE_ITEM_KEYS}
        fields = _exact_keys(where, item, _LINE_ITEM_KEYS)
        try:
            lines.append(_LINE_ITEM.body(**fields))
        except InvalidParameterError as exc:
            raise _fail(f"{where}: {exc}") from None
    return lines


def check_coupon_codes(name: str, value: object) -> list[str]:
    """At most 20 codes, each 1-64 characters without spaces, as given."""
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise _fail(f"{name} must be a list of codes such as ['LAUNCH'], got {_describe(value)}")
    if len(value) > MAX_COUPON_CODES:
        raise _fail(f"{name} must hold at most {MAX_COUPON_CODES} codes, got {len(value)}")
    for code in value:
        if (
            not isinstance(code, str)
            or not 1 <= len(code) <= MAX_COUPON_CODE_LENGTH
            or _BLANK_OR_CONTROL.search(code)
        ):
            raise _fail(
                f"each of {name} must be 1-{MAX_COUPON_CODE_LENGTH} characters without "
                f"spaces, got {_describe(code)}"
            )
    return list(value)


def check_checkout_payment_methods(name: str, value: object) -> list[str]:
    """ "card" and/or "wallet" (an empty list means both), each once."""
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise _fail(f"{name} must be a list such as ['card', 'wallet'], got {_describe(value)}")
    return list(dict.fromkeys(_one_of(name, m, CHECKOUT_PAYMENT_METHODS) for m in value))


def check_background_color(name: str, value: object) -> str:
    """A CSS hex color: #rgb, #rrggbb or #rrggbbaa."""
    if not isinstance(value, str) or not _CSS_HEX.fullmatch(value):
        raise _fail(
            f"{name} must be a CSS hex color (#rgb, #rrggbb or #rrggbbaa), got {_describe(value)}"
        )
    return value


def check_checkout_rules(body: Mapping[str, Any]) -> None:
    """What `checkout_sessions.create` needs beyond each field's own check:
    `price`, `line_items` or both (a mixed session: a recurring plan plus
    one-time items, which takes no manual capture, `payment_methods` or
    `auto_open_wallets`), a cart that adds up to 0 or more, and what
    `auto_open_wallets` needs. (Whether `price` is recurring only the server
    knows.)"""
    if "price" not in body and "line_items" not in body:
        raise _fail(
            "give price= (one price), line_items= (a cart), or both (a recurring plan "
            "plus one-time items)"
        )
    mixed = "price" in body and "line_items" in body
    manual = body.get("capture_method") == CaptureMethod.MANUAL
    wallets = body.get("auto_open_wallets") is True
    if mixed:
        refused = [
            option
            for option, given in (
                ("capture_method='manual'", manual),
                ("payment_methods=", "payment_methods" in body),
                ("auto_open_wallets=True", wallets),
            )
            if given
        ]
        if refused:
            raise _fail(
                f"{' and '.join(refused)}: not for a mixed session (price= with line_items=); "
                "for one-time prices and carts only"
            )
    if "line_items" in body:
        total = sum(line["amount_agorot"] * line.get("quantity", 1) for line in body["line_items"])
        if total < 0:
            raise _fail(f"line_items add up to {total} agorot; a cart's total must be 0 or more")
    if wallets:
        if body.get("payment_methods") and "wallet" not in body["payment_methods"]:
            raise _fail("auto_open_wallets=True needs 'wallet' among payment_methods")
        if manual:
            raise _fail("auto_open_wallets=True does not go with capture_method='manual'")


__all__ += [
    "check_background_color",
    "check_checkout_payment_methods",
    "check_checkout_rules",
    "check_coupon_codes",
    "check_line_items",
    "check_quantity",
    "check_signed_agorot",
]


# ---------------------------------- end of checkout sessions and the billing portal
# ------------------------------------------------------------- subscriptions
def check_subscription_discounts(name: str, value: object) -> list[dict[str, str]]:
    """`[{"code": "LAUNCH"}, {"discount": "disc_..."}]`: each entry a code
    (upper-cased, as `check_discount_code`) or a rule's id; a bare string is
    taken as a code."""
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise _fail(
            f"{name} must be a list of {{'code': ...}} or {{'discount': 'disc_...'}}, "
            f"got {_describe(value)}"
        )
    entries: list[dict[str, str]] = []
    for i, entry in enumerate(value):
        where = f"{name}[{i}]"
        if isinstance(entry, str):
            entry = {"code": entry}
        given = _exact_keys(where, entry, ("code", "discount"))
        if len(given) != 1:
            raise _fail(f"{where} takes exactly one of 'code' and 'discount', got {dict(given)}")
        if "code" in given:
            entries.append({"code": check_discount_code(f"{where}.code", given["code"])})
        else:
            entries.append({"discount": check_plain_id(f"{where}.discount", given["discount"])})
    return entries


__all__ += ["check_subscription_discounts"]
