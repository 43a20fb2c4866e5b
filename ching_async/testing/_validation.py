"""Request-body validation with the API's 422 ``INVALID_FIELD`` + ``issues`` answers."""

from __future__ import annotations

from dataclasses import dataclass
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
