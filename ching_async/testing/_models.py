"""In-memory records. Mutable on purpose: tests may tweak state to set up scenarios.

A record's JSON is its ``SHAPE``: the API's field names in the API's order, each
read from the attribute of the same name. A new object type is a dataclass
deriving from ``Record`` plus one ``Shape`` line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from ._clock import format_timestamp

SETUP_PAGE_URL = "https://secured.ching.co.il/setup/"

# Live-mode sessions start in ``requires_action`` (3DS on a Grow page); both are "open".
OPEN_SESSION_STATUSES = frozenset({"pending", "requires_action"})


class Shape:
    """An object's JSON: ``id`` and ``object``, then the named fields in order.

    ``fields`` is space-separated, ``wire=attribute`` where the names differ
    (``taxId=tax_id``). Datetimes are written in the API's timestamp format.
    """

    __slots__ = ("_fields", "kind")

    def __init__(self, kind: str, fields: str) -> None:
        self.kind = kind
        pairs = (name.partition("=") for name in fields.split())
        self._fields = tuple((wire, attr or wire) for wire, _, attr in pairs)

    def render(self, record: Any) -> dict[str, Any]:
        data: dict[str, Any] = {"id": record.id, "object": self.kind}
        for wire, attr in self._fields:
            value = getattr(record, attr)
            data[wire] = format_timestamp(value) if isinstance(value, datetime) else value
        return data


class Record:
    """A stored object whose ``to_json`` is its class's ``SHAPE``."""

    __slots__ = ()
    SHAPE: ClassVar[Shape]

    def to_json(self) -> dict[str, Any]:
        return self.SHAPE.render(self)


@dataclass(slots=True, kw_only=True)
class Customer(Record):
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

    SHAPE = Shape("customer", "name email phone taxId=tax_id locale metadata livemode created")

    def to_json(self) -> dict[str, Any]:
        if self.deleted:
            return {"id": self.id, "object": "customer", "deleted": True}
        return Record.to_json(self)


@dataclass(slots=True, kw_only=True)
class PaymentMethod(Record):
    id: str
    customer: str
    brand: str
    last4: str
    declines: bool  # fake-only: every charge on this card fails with ``card_declined``
    livemode: bool
    created: datetime
    type: ClassVar[str] = "card"  # the only kind the fake stores
    exp_month: int = 12
    exp_year: int = 2030
    status: str = "active"  # "inactive" once detached

    SHAPE = Shape(
        "payment_method",
        "customer type brand last4 exp_month exp_year status livemode created",
    )


@dataclass(slots=True, kw_only=True)
class Refund(Record):
    id: str
    charge: str
    amount: int
    currency: str
    status: str
    reason: str | None
    metadata: dict[str, Any]
    livemode: bool
    created: datetime

    SHAPE = Shape("refund", "charge amount currency status reason metadata livemode created")


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

    SHAPE: ClassVar[Shape] = Shape(
        "setup_session",
        "customer status url success_url cancel_url metadata livemode expires_at created",
    )

    @property
    def url(self) -> str:
        return SETUP_PAGE_URL + self.id

    def status_at(self, now: datetime) -> str:
        """Expiry is derived from the clock, so advancing time expires open sessions."""
        if self.status in OPEN_SESSION_STATUSES and now >= self.expires_at:
            return "expired"
        return self.status

    def to_json(self, now: datetime) -> dict[str, Any]:
        # Not a Record: its JSON depends on the clock.
        data = self.SHAPE.render(self)
        data["status"] = self.status_at(now)
        return data


@dataclass(slots=True, kw_only=True)
class Charge(Record):
    id: str
    customer: str
    payment_method: str
    amount: int
    currency: str
    status: str
    description: str | None
    installments: int  # ``{"count": installments}`` on the wire
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

    SHAPE = Shape(
        "charge",
        "customer payment_method amount amount_captured currency status description"
        " installments captured capture_method authorized_at capturable_until captured_at"
        " cancellation_reason refunded_amount failure_code failure_message document"
        " metadata livemode created card_brand card_last4 wallet_method",
    )

    def to_json(self) -> dict[str, Any]:
        data = Record.to_json(self)
        data["installments"] = {"count": self.installments}
        return data
