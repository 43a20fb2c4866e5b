"""Request-body validation with the API's 422 ``INVALID_FIELD`` + ``issues`` answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeGuard

from ._envelope import Issue, IssuePath, invalid_fields

JSONObject = dict[str, Any]

CANCELLATION_REASONS = ("requested_by_customer", "fraudulent", "abandoned")


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
