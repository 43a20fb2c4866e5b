"""In-memory records. Mutable on purpose: tests may tweak state to set up scenarios."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ._clock import format_optional, format_timestamp

SETUP_PAGE_URL = "https://secured.ching.co.il/setup/"

# Live-mode sessions start in ``requires_action`` (3DS on a Grow page); both are "open".
OPEN_SESSION_STATUSES = frozenset({"pending", "requires_action"})


@dataclass(slots=True, kw_only=True)
class Customer:
    id: str
    name: str | None
    email: str | None
    metadata: dict[str, Any]
    livemode: bool
    created: datetime
    phone: str | None = None  # stored normalized to E.164, as the API documents
    tax_id: str | None = None  # ``taxId`` on the wire
    locale: str | None = None
    deleted: bool = False  # soft delete: the record stays, answered as a tombstone

    def to_json(self) -> dict[str, Any]:
        if self.deleted:
            return {"id": self.id, "object": "customer", "deleted": True}
        return {
            "id": self.id,
            "object": "customer",
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "taxId": self.tax_id,
            "locale": self.locale,
            "metadata": self.metadata,
            "livemode": self.livemode,
            "created": format_timestamp(self.created),
        }


@dataclass(slots=True, kw_only=True)
class PaymentMethod:
    id: str
    customer: str
    brand: str
    last4: str
    declines: bool  # fake-only: every charge on this card fails with ``card_declined``
    livemode: bool
    created: datetime
    exp_month: int = 12
    exp_year: int = 2030
    status: str = "active"  # "inactive" once detached

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "payment_method",
            "customer": self.customer,
            "type": "card",
            "brand": self.brand,
            "last4": self.last4,
            "exp_month": self.exp_month,
            "exp_year": self.exp_year,
            "status": self.status,
            "livemode": self.livemode,
            "created": format_timestamp(self.created),
        }


@dataclass(slots=True, kw_only=True)
class Refund:
    id: str
    charge: str
    amount: int
    currency: str
    status: str
    reason: str | None
    metadata: dict[str, Any]
    livemode: bool
    created: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "refund",
            "charge": self.charge,
            "amount": self.amount,
            "currency": self.currency,
            "status": self.status,
            "reason": self.reason,
            "metadata": self.metadata,
            "livemode": self.livemode,
            "created": format_timestamp(self.created),
        }


@dataclass(slots=True, kw_only=True)
class SetupSession:
    id: str
    customer: str
    status: str
    success_url: str
    cancel_url: str
    metadata: dict[str, Any]
    livemode: bool
    expires_at: datetime
    created: datetime
    payment_method: str | None = None  # attached on completion; not part of the API shape

    def status_at(self, now: datetime) -> str:
        """Expiry is derived from the clock, so advancing time expires open sessions."""
        if self.status in OPEN_SESSION_STATUSES and now >= self.expires_at:
            return "expired"
        return self.status

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "setup_session",
            "customer": self.customer,
            "status": self.status_at(now),
            "url": SETUP_PAGE_URL + self.id,
            "success_url": self.success_url,
            "cancel_url": self.cancel_url,
            "metadata": self.metadata,
            "livemode": self.livemode,
            "expires_at": format_timestamp(self.expires_at),
            "created": format_timestamp(self.created),
        }


@dataclass(slots=True, kw_only=True)
class Charge:
    id: str
    customer: str
    payment_method: str
    amount: int
    currency: str
    status: str
    description: str | None
    installments: int
    capture_method: str
    created: datetime
    livemode: bool
    card_brand: str
    card_last4: str
    metadata: dict[str, Any] = field(default_factory=dict)
    amount_captured: int | None = None
    captured: bool = False
    authorized_at: datetime | None = None
    capturable_until: datetime | None = None
    captured_at: datetime | None = None
    cancellation_reason: str | None = None
    refunded_amount: int = 0
    failure_code: str | None = None
    failure_message: str | None = None
    document: str | None = None
    wallet_method: str | None = None
    idempotency_key: str | None = None  # the header it was created with; not in the API shape

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "charge",
            "customer": self.customer,
            "payment_method": self.payment_method,
            "amount": self.amount,
            "amount_captured": self.amount_captured,
            "currency": self.currency,
            "status": self.status,
            "description": self.description,
            "installments": {"count": self.installments},
            "captured": self.captured,
            "capture_method": self.capture_method,
            "authorized_at": format_optional(self.authorized_at),
            "capturable_until": format_optional(self.capturable_until),
            "captured_at": format_optional(self.captured_at),
            "cancellation_reason": self.cancellation_reason,
            "refunded_amount": self.refunded_amount,
            "failure_code": self.failure_code,
            "failure_message": self.failure_message,
            "document": self.document,
            "metadata": self.metadata,
            "livemode": self.livemode,
            "created": format_timestamp(self.created),
            "card_brand": self.card_brand,
            "card_last4": self.card_last4,
            "wallet_method": self.wallet_method,
        }
