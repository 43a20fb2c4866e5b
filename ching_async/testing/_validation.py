"""Request-body validation with the API's 422 ``INVALID_FIELD`` + ``issues`` answers."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from ._envelope import Issue, IssuePath, invalid_fields

JSONObject = dict[str, Any]

CANCELLATION_REASONS = ("requested_by_customer", "fraudulent", "abandoned")


# Alike ching_async's bulk ChargeParams on purpose: the fake shares no code with the client.
@dataclass(frozen=True, slots=True)
class ChargeParams:
    customer: str
    payment_method: str
    amount: int
    currency: str = "ils"
    description: str | None = None
    installments: int = 1
    metadata: JSONObject | None = None


@dataclass(frozen=True, slots=True)
class SetupSessionParams:
    customer: str
    success_url: str
    cancel_url: str
    metadata: JSONObject | None = None


def is_positive_int(value: object) -> TypeGuard[int]:
    # bool is an int subclass; JSON ``true`` must not pass as amount 1.
    return type(value) is int and value > 0


class _Fields:
    """Collects every issue of a body before failing, as the real API lists them all.

    Optional fields may be absent or ``null`` (treated as absent).
    """

    def __init__(self, body: JSONObject) -> None:
        self._body = body
        self.issues: list[Issue] = []

    def _fail(self, path: IssuePath, message: str) -> None:
        self.issues.append(Issue(path, message))

    # Required getters return a placeholder on failure; ``check()`` raises before use.
    def required_string(self, name: str) -> str:
        return self.string(name, required=True) or ""

    def required_positive_int(self, name: str) -> int:
        return self.positive_int_at(self._body.get(name), (name,), required=True) or 0

    def string(self, name: str, *, required: bool = False) -> str | None:
        value = self._body.get(name)
        if value is None:
            if required:
                self._fail((name,), "Required")
            return None
        if not isinstance(value, str):
            self._fail((name,), "Expected string")
            return None
        return value

    def positive_int(self, name: str) -> int | None:
        return self.positive_int_at(self._body.get(name), (name,), required=False)

    def positive_int_at(self, value: object, path: IssuePath, *, required: bool) -> int | None:
        if value is None:
            if required:
                self._fail(path, "Required")
            return None
        if not is_positive_int(value):
            self._fail(path, "Expected a positive integer")
            return None
        return value

    def obj(self, name: str) -> JSONObject | None:
        value = self._body.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            self._fail((name,), "Expected object")
            return None
        return value

    def currency(self) -> str:
        value = self.string("currency")
        if value is None:
            return "ils"
        if len(value) != 3 or not (value.isascii() and value.isalpha()):
            self._fail(("currency",), "Expected a 3-letter ISO 4217 currency code")
        return value.lower()

    def installments(self) -> int:
        plan = self.obj("installments")
        if plan is None:
            return 1
        count = self.positive_int_at(plan.get("count"), ("installments", "count"), required=False)
        return 1 if count is None else count

    def check(self) -> None:
        if self.issues:
            raise invalid_fields(self.issues)

    # -- products, prices and discounts ----------------------------------------

    def one_of(self, name: str, allowed: Sequence[str], *, required: bool = False) -> str | None:
        value = self.string(name, required=required)
        if value is not None and value not in allowed:
            self._fail((name,), f"Expected one of: {', '.join(allowed)}")
            return None
        return value

    def boolean(self, name: str) -> bool | None:
        value = self._body.get(name)
        if value is not None and not isinstance(value, bool):
            self._fail((name,), "Expected boolean")
            return None
        return value

    def int_at(
        self, value: object, path: IssuePath, *, minimum: int, required: bool = False
    ) -> int | None:
        """An integer >= ``minimum`` (JSON ``true`` is not one)."""
        if value is None:
            if required:
                self._fail(path, "Required")
            return None
        if type(value) is not int or value < minimum:
            self._fail(path, f"Expected an integer >= {minimum}")
            return None
        return value

    def integer(self, name: str, *, minimum: int, required: bool = False) -> int | None:
        return self.int_at(self._body.get(name), (name,), minimum=minimum, required=required)

    def moment(self, name: str) -> datetime | None:
        """An ISO-8601 date and time (with an offset or ``Z``)."""
        value = self.string(name)
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is None or moment.utcoffset() is None:
            self._fail((name,), "Expected an ISO-8601 datetime with a time zone")
            return None
        return moment.astimezone(UTC)

    def https_url(self, name: str) -> str | None:
        value = self.string(name)
        if value is not None and not (value.startswith("https://") and is_webhook_url(value)):
            self._fail((name,), "Expected an https:// URL")
            return None
        return value

    def only(self, allowed: Sequence[str]) -> None:
        """A strict body: every key not in ``allowed`` is an issue."""
        for key in self._body:
            if key not in allowed:
                self._fail((key,), "Unrecognized key")

    def nulls(self, names: Sequence[str]) -> dict[str, None]:
        """The nullable ``names`` sent as ``null`` (an update clears them)."""
        return {name: None for name in names if name in self._body and self._body[name] is None}


def parse_charge(body: JSONObject) -> ChargeParams:
    fields = _Fields(body)
    customer = fields.required_string("customer")
    payment_method = fields.required_string("payment_method")
    amount = fields.required_positive_int("amount")
    currency = fields.currency()
    description = fields.string("description")
    installments = fields.installments()
    metadata = fields.obj("metadata")
    fields.check()
    return ChargeParams(
        customer, payment_method, amount, currency, description, installments, metadata
    )


def parse_setup_session(body: JSONObject) -> SetupSessionParams:
    fields = _Fields(body)
    customer = fields.required_string("customer")
    success_url = fields.required_string("success_url")
    cancel_url = fields.required_string("cancel_url")
    metadata = fields.obj("metadata")
    fields.check()
    return SetupSessionParams(customer, success_url, cancel_url, metadata)


def parse_capture(body: JSONObject) -> int | None:
    """The optional partial-capture ``amount``."""
    fields = _Fields(body)
    amount = fields.positive_int("amount")
    fields.check()
    return amount


def parse_cancel(body: JSONObject) -> str:
    """The ``cancellation_reason``, defaulting to ``requested_by_customer``."""
    fields = _Fields(body)
    reason = fields.string("cancellation_reason")
    if reason is not None and reason not in CANCELLATION_REASONS:
        fields.issues.append(
            Issue(("cancellation_reason",), f"Expected one of: {', '.join(CANCELLATION_REASONS)}")
        )
    fields.check()
    return reason or CANCELLATION_REASONS[0]


# -- customers, payment methods, refunds -------------------------------------------

REFUND_REASONS = ("requested_by_customer", "duplicate", "fraudulent")
IDENTIFY_BY = {"email": "email", "taxId": "tax_id", "phone": "phone"}  # wire -> field
TEST_CARDS = (("visa", "4242"), ("mastercard", "4444"), ("amex", "8431"))  # by card_index
_CUSTOMER_STRINGS = (("name", "name"), ("email", "email"), ("phone", "phone"),
                     ("taxId", "tax_id"), ("locale", "locale"))  # fmt: skip
_PHONE_PUNCTUATION = str.maketrans("", "", " -().")


def normalize_phone(raw: str) -> str | None:
    """E.164, as the API stores phones: ``054-987-6543`` -> ``+972549876543``."""
    compact = raw.translate(_PHONE_PUNCTUATION)
    if compact.startswith("+"):
        digits = compact[1:]
    elif compact.startswith("00"):
        digits = compact[2:]
    elif compact.startswith("0"):
        digits = "972" + compact[1:]
    else:
        digits = compact
    if not (digits.isascii() and digits.isdigit()) or not 8 <= len(digits) <= 15:
        return None
    return "+" + digits


@dataclass(frozen=True, slots=True)
class CustomerParams:
    """Only the fields that were sent (patch semantics), by model attribute name."""

    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class UpsertParams:
    identify_by: str  # model attribute: "email", "tax_id" or "phone"
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RefundParams:
    charge: str
    amount: int
    reason: str | None
    metadata: JSONObject | None


def _customer_fields(fields: _Fields) -> dict[str, Any]:
    sent: dict[str, Any] = {}
    for wire, attr in _CUSTOMER_STRINGS:
        value = fields.string(wire)
        if value is not None:
            sent[attr] = value
    email = sent.get("email")
    if email is not None and (email.count("@") != 1 or email.split("@")[1].count(".") < 1):
        fields.issues.append(Issue(("email",), "Invalid email"))
    phone = sent.get("phone")
    if phone is not None:
        normalized = normalize_phone(phone)
        if normalized is None:
            fields.issues.append(Issue(("phone",), "Invalid phone number"))
        sent["phone"] = normalized
    metadata = fields.obj("metadata")
    if metadata is not None:
        sent["metadata"] = metadata
    return sent


def parse_customer_create(body: JSONObject) -> CustomerParams:
    # "Only name is required" (DOCS:guide-ecommerce); email is optional.
    fields = _Fields(body)
    fields.required_string("name")
    sent = _customer_fields(fields)
    fields.check()
    return CustomerParams(sent)


def parse_customer_update(body: JSONObject) -> CustomerParams:
    fields = _Fields(body)
    sent = _customer_fields(fields)
    fields.check()
    return CustomerParams(sent)


def parse_upsert(body: JSONObject) -> UpsertParams:
    fields = _Fields(body)
    identify_by = fields.required_string("identifyBy")
    if body.get("identifyBy") is not None and identify_by not in IDENTIFY_BY:
        fields.issues.append(Issue(("identifyBy",), f"Expected one of: {', '.join(IDENTIFY_BY)}"))
    sent = _customer_fields(fields)
    attr = IDENTIFY_BY.get(identify_by)
    if attr is not None and body.get(identify_by) is None:
        fields.issues.append(Issue((identify_by,), f"Required when identifyBy is {identify_by}"))
    fields.check()
    assert attr is not None
    return UpsertParams(attr, sent)


def parse_test_card(body: JSONObject) -> tuple[str, int]:
    """``(customer, card_index)``; ``card_index`` is 0-2 and defaults to 0."""
    fields = _Fields(body)
    customer = fields.required_string("customer")
    index = body.get("card_index")
    if index is not None and (type(index) is not int or not 0 <= index < len(TEST_CARDS)):
        fields.issues.append(Issue(("card_index",), "Expected an integer from 0 to 2"))
    fields.check()
    return customer, index if isinstance(index, int) else 0


def parse_refund(body: JSONObject) -> RefundParams:
    fields = _Fields(body)
    charge = fields.required_string("charge")
    amount = fields.required_positive_int("amount")
    reason = fields.string("reason")
    if reason is not None and reason not in REFUND_REASONS:
        fields.issues.append(Issue(("reason",), f"Expected one of: {', '.join(REFUND_REASONS)}"))
    metadata = fields.obj("metadata")
    fields.check()
    return RefundParams(charge, amount, reason, metadata)


# -- webhook endpoints --------------------------------------------------------------


def is_webhook_url(value: object) -> bool:
    """An absolute http(s) URL (the schema does not insist on https)."""
    if not isinstance(value, str) or any(ch.isspace() for ch in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def parse_webhook_endpoint(body: JSONObject) -> tuple[str, list[str]]:
    """``(url, events)``: both required; ``events`` a non-empty list of strings."""
    fields = _Fields(body)
    url = fields.required_string("url")
    if body.get("url") is not None and isinstance(url, str) and not is_webhook_url(url):
        fields.issues.append(Issue(("url",), "Invalid url"))
    events = body.get("events")
    if events is None:
        fields.issues.append(Issue(("events",), "Required"))
    elif not isinstance(events, list) or not events:
        fields.issues.append(Issue(("events",), "Expected a non-empty array of event types"))
    else:
        for index, event in enumerate(events):
            if not isinstance(event, str) or not event:
                fields.issues.append(Issue(("events", index), "Expected a non-empty string"))
    fields.check()
    return url, list(events) if isinstance(events, list) else []


# -- products, prices and discounts ------------------------------------------------

# The validated fields of a body, by record attribute; an update's holds what was sent.
Sent = dict[str, Any]

TAX_MODES = ("inclusive", "exclusive")
PRICE_TYPES = ("one_time", "recurring")
INTERVALS = ("day", "week", "month", "year")  # the docs say month|year; the CLI sends all four
APPLY_MODES = ("now", "new_subscribers_only", "scheduled")
REDEMPTIONS = ("automatic", "code")
TARGET_TYPES = ("order", "products", "prices")
VALUE_TYPES = ("percent", "amount", "override")
DURATIONS = ("once", "n_charges", "until_date", "forever")
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")
MAX_IMAGE_BYTES = 2 * 1024 * 1024
MAX_PERCENT = 10_000  # basis points
MAX_NAME_LENGTH = 255
DISCOUNT_CODE = re.compile(r"[A-Z0-9_-]{1,64}")
_DISCOUNT_MUTABLE = ("name", "active", "active_from", "active_until", "max_redemptions",
                     "max_redemptions_per_customer", "metadata")  # fmt: skip


def _put(sent: Sent, name: str, value: Any) -> None:
    if value is not None:
        sent[name] = value


def _features(fields: _Fields, body: JSONObject) -> list[dict[str, Any]] | None:
    value = body.get("features")
    if value is None:
        return None
    if not isinstance(value, list):
        fields.issues.append(Issue(("features",), "Expected array"))
        return None
    features = []
    for index, item in enumerate(value):
        title = item.get("title") if isinstance(item, dict) else None
        subtitle = item.get("subtitle") if isinstance(item, dict) else None
        if not isinstance(title, str) or not title:
            fields.issues.append(Issue(("features", index, "title"), "Required"))
        elif subtitle is not None and not isinstance(subtitle, str):
            fields.issues.append(Issue(("features", index, "subtitle"), "Expected string"))
        else:
            features.append({"title": title, "subtitle": subtitle})
    return features


def parse_product(body: JSONObject, *, update: bool = False) -> Sent:
    """``POST /products`` (``name`` required) or ``POST /products/:id`` (all optional;
    ``description``, ``image_url`` and ``features`` may be ``null``)."""
    fields = _Fields(body)
    sent: Sent = {}
    name = fields.string("name", required=not update)
    if name is not None and not name.strip():
        fields.issues.append(Issue(("name",), "Expected a non-empty string"))
    _put(sent, "name", name)
    _put(sent, "description", fields.string("description"))
    _put(sent, "image_url", fields.https_url("image_url"))
    _put(sent, "features", _features(fields, body))
    _put(sent, "metadata", fields.obj("metadata"))
    if update:
        _put(sent, "active", fields.boolean("active"))
        sent.update(fields.nulls(("description", "image_url", "features")))
    if "unlisted" in body:
        fields.issues.append(Issue(("unlisted",), "unlisted is set in the dashboard only"))
    fields.check()
    return sent


@dataclass(frozen=True, slots=True)
class ImageUpload:
    content: bytes
    content_type: str
    filename: str | None


def parse_image_upload(body: JSONObject) -> ImageUpload:
    """``content``: base64 without a ``data:`` prefix, at most 2 MB decoded."""
    fields = _Fields(body)
    encoded = fields.required_string("content")
    content_type = fields.one_of("content_type", IMAGE_TYPES) or IMAGE_TYPES[0]
    filename = fields.string("filename")
    content = b""
    if body.get("content") is not None and isinstance(body.get("content"), str):
        try:
            content = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            fields.issues.append(Issue(("content",), "Expected base64 (without a data: prefix)"))
        if len(content) > MAX_IMAGE_BYTES:
            fields.issues.append(Issue(("content",), "Image must be at most 2 MB"))
        elif not content and not fields.issues:
            fields.issues.append(Issue(("content",), "Image is empty"))
    fields.check()
    return ImageUpload(content, content_type, filename)


def _recurring(fields: _Fields, body: JSONObject) -> dict[str, Any] | None:
    value = fields.obj("recurring")
    if value is None:
        return None
    interval = value.get("interval")
    if interval not in INTERVALS:
        fields.issues.append(
            Issue(("recurring", "interval"), f"Expected one of: {', '.join(INTERVALS)}")
        )
    count = fields.int_at(value.get("interval_count"), ("recurring", "interval_count"), minimum=1)
    trial = fields.int_at(
        value.get("trial_period_days"), ("recurring", "trial_period_days"), minimum=0
    )
    return {"interval": interval, "interval_count": count or 1, "trial_period_days": trial}


def parse_price(body: JSONObject) -> Sent:
    """``POST /prices``: ``recurring`` exactly when ``type`` is recurring."""
    fields = _Fields(body)
    sent: Sent = {
        "product": fields.required_string("product"),
        "unit_amount": fields.integer("unit_amount", minimum=0, required=True),
        "type": fields.one_of("type", PRICE_TYPES, required=True),
        "currency": fields.currency(),
        "tax_mode": fields.one_of("tax_mode", TAX_MODES) or TAX_MODES[0],
        "recurring": _recurring(fields, body),
        "metadata": fields.obj("metadata") or {},
    }
    if sent["type"] == "recurring" and sent["recurring"] is None:
        fields.issues.append(Issue(("recurring",), "Required for recurring prices"))
    if sent["type"] == "one_time" and sent["recurring"] is not None:
        fields.issues.append(Issue(("recurring",), "Only for recurring prices"))
    for key in ("name", "active", "trial_period_days"):  # documented as absent on create
        if key in body:
            fields.issues.append(Issue((key,), "Unrecognized key"))
    fields.check()
    return sent


def parse_price_update(body: JSONObject) -> Sent:
    """``POST /prices/:id``: strict (unknown keys refused); ``effective_date``
    exactly when ``apply_mode`` is scheduled."""
    fields = _Fields(body)
    fields.only(("apply_mode", "effective_date", "unit_amount", "trial_period_days",
                 "tax_mode", "metadata"))  # fmt: skip
    sent: Sent = {"apply_mode": fields.one_of("apply_mode", APPLY_MODES, required=True)}
    _put(sent, "effective_date", fields.moment("effective_date"))
    _put(sent, "unit_amount", fields.integer("unit_amount", minimum=0))
    _put(sent, "trial_period_days", fields.integer("trial_period_days", minimum=0))
    _put(sent, "tax_mode", fields.one_of("tax_mode", TAX_MODES))
    _put(sent, "metadata", fields.obj("metadata"))
    sent.update(fields.nulls(("trial_period_days",)))
    scheduled = sent["apply_mode"] == "scheduled"
    if scheduled and body.get("effective_date") is None:
        fields.issues.append(Issue(("effective_date",), "Required when apply_mode is scheduled"))
    if not scheduled and "effective_date" in body:
        fields.issues.append(Issue(("effective_date",), "Only when apply_mode is scheduled"))
    fields.check()
    return sent


def _name(fields: _Fields, *, required: bool) -> str | None:
    name = fields.string("name", required=required)
    if name is not None and not 1 <= len(name) <= MAX_NAME_LENGTH:
        fields.issues.append(Issue(("name",), f"Expected 1-{MAX_NAME_LENGTH} characters"))
    return name


def _window(fields: _Fields, sent: Sent) -> None:
    start, end = sent.get("active_from"), sent.get("active_until")
    if start is not None and end is not None and end <= start:
        fields.issues.append(Issue(("active_until",), "Must be after active_from"))


def _discount_mutable(fields: _Fields, *, create: bool) -> Sent:
    sent: Sent = {}
    _put(sent, "name", _name(fields, required=create))
    _put(sent, "active", fields.boolean("active"))
    _put(sent, "active_from", fields.moment("active_from"))
    _put(sent, "active_until", fields.moment("active_until"))
    _put(sent, "max_redemptions", fields.integer("max_redemptions", minimum=1))
    _put(
        sent,
        "max_redemptions_per_customer",
        fields.integer("max_redemptions_per_customer", minimum=1),
    )
    _put(sent, "metadata", fields.obj("metadata"))
    _window(fields, sent)
    return sent


def _targets(fields: _Fields, body: JSONObject) -> list[str] | None:
    value = body.get("targets")
    if value is not None and (
        not isinstance(value, list) or not all(isinstance(t, str) and t for t in value)
    ):
        fields.issues.append(Issue(("targets",), "Expected an array of ids"))
        return None
    return value


def parse_targets(body: JSONObject) -> list[str]:
    """``POST /discounts/:id/targets``: ``{"targets": [ids]}``."""
    fields = _Fields(body)
    targets = _targets(fields, body)
    if body.get("targets") is None:
        fields.issues.append(Issue(("targets",), "Required"))
    fields.check()
    return targets or []


def _sent_only_for(
    fields: _Fields, body: JSONObject, name: str, when: str, holds: bool, *, required: bool
) -> None:
    """``name`` must be sent when ``holds`` (if ``required``), and only then."""
    if holds and required and body.get(name) is None:
        fields.issues.append(Issue((name,), f"Required when {when}"))
    if not holds and body.get(name) is not None:
        fields.issues.append(Issue((name,), f"Only when {when}"))


def parse_discount(body: JSONObject) -> Sent:
    """``POST /discounts``, with the rules between its fields (SKILL-EP)."""
    fields = _Fields(body)
    sent = _discount_mutable(fields, create=True)
    redemption = fields.one_of("redemption", REDEMPTIONS, required=True)
    code = fields.string("code")
    if code is not None:
        code = code.upper()
        if not DISCOUNT_CODE.fullmatch(code):
            fields.issues.append(Issue(("code",), "Expected 1-64 of A-Z, 0-9, _ and -"))
    _sent_only_for(fields, body, "code", "redemption is code", redemption == "code", required=True)
    target_type = fields.one_of("target_type", TARGET_TYPES, required=True)
    targets = _targets(fields, body)
    if target_type in ("products", "prices") and not targets:
        fields.issues.append(Issue(("targets",), f"Required when target_type is {target_type}"))
    value_type = fields.one_of("value_type", VALUE_TYPES, required=True)
    value = fields.integer("value", minimum=0, required=True)
    if value_type == "percent" and value is not None and value > MAX_PERCENT:
        fields.issues.append(
            Issue(("value",), f"Percent is in basis points, at most {MAX_PERCENT}")
        )
    override = value_type == "override"
    _sent_only_for(
        fields, body, "value_tax_mode", "value_type is override", override, required=False
    )
    value_tax_mode = fields.one_of("value_tax_mode", TAX_MODES)
    _sent_only_for(fields, body, "currency", "value_type is amount or override",
                   value_type != "percent", required=False)  # fmt: skip
    currency = fields.currency() if value_type != "percent" else None
    duration = fields.one_of("duration", DURATIONS, required=True)
    charges = fields.integer("duration_charges", minimum=1)
    until = fields.moment("duration_until")
    _sent_only_for(fields, body, "duration_charges", "duration is n_charges",
                   duration == "n_charges", required=True)  # fmt: skip
    _sent_only_for(fields, body, "duration_until", "duration is until_date",
                   duration == "until_date", required=True)  # fmt: skip
    fields.check()
    return {
        **sent,
        "redemption": redemption,
        "code": code,
        "target_type": target_type,
        "targets": targets or [],
        "value_type": value_type,
        "value": value,
        "value_tax_mode": (value_tax_mode or "inclusive") if override else None,
        "currency": currency,
        "duration": duration,
        "duration_charges": charges,
        "duration_until": until,
    }


def parse_discount_update(body: JSONObject) -> Sent:
    """``POST /discounts/:id``: the mutable fields only."""
    fields = _Fields(body)
    sent = _discount_mutable(fields, create=False)
    for key in body:
        if key not in _DISCOUNT_MUTABLE:
            fields.issues.append(Issue((key,), "Not a mutable field"))
    fields.check()
    return sent
