"""Plain frozen attrs models. No I/O; decoding rules live in _convert."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import attrs

__all__ = [
    "CancellationReason",
    "CaptureMethod",
    "Charge",
    "ChargeStatus",
    "Installments",
    "RequestInfo",
    "SetupSession",
    "SetupSessionStatus",
]


class SetupSessionStatus(StrEnum):
    PENDING = "pending"
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"
    EXPIRED = "expired"
    FAILED = "failed"


class ChargeStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REQUIRES_CAPTURE = "requires_capture"
    CANCELED = "canceled"


class CaptureMethod(StrEnum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"


class CancellationReason(StrEnum):
    REQUESTED_BY_CUSTOMER = "requested_by_customer"
    FRAUDULENT = "fraudulent"
    ABANDONED = "abandoned"


@attrs.frozen
class RequestInfo:
    """Where a result came from. Attached to every decoded model as `request_info`."""

    method: str
    path: str
    status: int
    attempts: int
    idempotency_key: str | None
    request_id: str | None
    # True when the object was found by reconciliation after an ambiguous failure.
    reconciled: bool = False


@attrs.frozen
class Installments:
    """An installment plan: the charge is split over `count` monthly payments."""

    count: int = 1


@attrs.frozen
class SetupSession:
    """A hosted page that attaches a new card to a customer.

    Only `id` and `status` are guaranteed: cancel answers with just those two.
    Enum fields hold a plain `str` when the server sends a value this version
    does not know. `raw` is the payload as received.
    """

    id: str
    status: SetupSessionStatus | str
    object: str = "setup_session"
    customer: str | None = None
    url: str | None = None
    success_url: str | None = None
    cancel_url: str | None = None
    metadata: dict[str, Any] | None = None
    livemode: bool | None = None
    expires_at: datetime | None = None
    created: datetime | None = None
    # Provenance, filled in by decoding; excluded from eq and repr.
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, repr=False, kw_only=True)
    request_info: RequestInfo | None = attrs.field(
        default=None, eq=False, repr=False, kw_only=True
    )


@attrs.frozen
class Charge:
    """A charge of a saved card, in the currency's smallest unit (agorot for ILS)."""

    id: str
    amount: int
    status: ChargeStatus | str
    object: str = "charge"
    customer: str | None = None
    payment_method: str | None = None
    amount_captured: int | None = None
    currency: str = "ils"
    description: str | None = None
    installments: Installments | None = None
    captured: bool | None = None
    capture_method: CaptureMethod | str | None = None
    authorized_at: datetime | None = None
    capturable_until: datetime | None = None
    captured_at: datetime | None = None
    cancellation_reason: CancellationReason | str | None = None
    refunded_amount: int | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    document: str | None = None
    metadata: dict[str, Any] | None = None
    livemode: bool | None = None
    created: datetime | None = None
    card_brand: str | None = None
    card_last4: str | None = None
    wallet_method: str | None = None
    # Only on list items.
    customer_name: str | None = None
    # Provenance, filled in by decoding; excluded from eq and repr.
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, repr=False, kw_only=True)
    request_info: RequestInfo | None = attrs.field(
        default=None, eq=False, repr=False, kw_only=True
    )
