"""Plain frozen attrs models. No I/O; decoding and serializing rules live in _convert."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

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


# The API's enums, one member per documented value (alike in shape only).
class SetupSessionStatus(StrEnum):
    """Where a setup session stands (`pending` until the customer finishes)."""

    PENDING = "pending"
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"
    EXPIRED = "expired"
    FAILED = "failed"


class ChargeStatus(StrEnum):
    """A charge's status (`requires_capture`: authorized, waiting for capture;
    `pending` and `processing`: not settled yet)."""

    PENDING = "pending"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REQUIRES_CAPTURE = "requires_capture"
    CANCELED = "canceled"


class CaptureMethod(StrEnum):
    """`automatic` charges at once; `manual` holds the amount until capture."""

    AUTOMATIC = "automatic"
    MANUAL = "manual"


class CancellationReason(StrEnum):
    """Why an authorized charge was canceled. `expired` is set by CHING
    itself (the daily sweep cancels a hold at `capturable_until`): it is read
    in responses and events, and `charges.cancel` does not accept it."""

    REQUESTED_BY_CUSTOMER = "requested_by_customer"
    FRAUDULENT = "fraudulent"
    ABANDONED = "abandoned"
    EXPIRED = "expired"


class Codec(Protocol):
    """What a model serializes through: `_convert`, which holds the rules."""

    def to_dict(self, model: Model) -> dict[str, Any]: ...
    def to_json(self, model: Model) -> str: ...
    def pydantic_core_schema(self, cls: type[Model]) -> Any: ...
    def pydantic_serializer(self, cls: type[Model]) -> Any: ...
    def json_schema(self, cls: type[Model]) -> dict[str, Any]: ...


# Installed by _convert when it is imported (always, by `import ching_async`):
# the converter imports these models, so they cannot import it back.
_codec: Codec | None = None


def install_codec(codec: Codec) -> None:
    global _codec
    _codec = codec


def _get_codec() -> Codec:
    if _codec is None:
        raise RuntimeError("ching_async._convert is not imported: import ching_async first")
    return _codec


class _PydanticSerializer:
    """`Model.__pydantic_serializer__`, made on first use: where pydantic has
    no schema for a value (inside an `Any`, a `dict[str, Any]`, a route
    returning `dict`), it serializes it with this attribute if it has one."""

    def __get__(self, model: Model | None, cls: type[Model]) -> Any:
        try:
            return _get_codec().pydantic_serializer(cls)
        except ImportError:  # no pydantic installed: no such attribute
            raise AttributeError("__pydantic_serializer__") from None


class Model:
    """Base of the API objects: JSON-ready output and pydantic support.

    `to_dict()` is the object in the API's wire shape, as `ching_async`
    decodes it: ISO-8601 timestamps, enum values as strings (a value this
    version does not know as it came), nested objects as dicts. It holds
    exactly the model's fields: not `raw` (the payload as received, where
    fields this version does not know stay) and not `request_info`.
    """

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """The object as a JSON-ready dict in the API's wire shape (a new dict each call)."""
        return _get_codec().to_dict(self)

    def to_json(self) -> str:
        """`to_dict()` as compact JSON text."""
        return _get_codec().to_json(self)

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        # `dict(model) == model.to_dict()`: what FastAPI's jsonable_encoder
        # tries on an object it does not know (a handler without a return type).
        return iter(self.to_dict().items())

    __pydantic_serializer__ = _PydanticSerializer()

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """pydantic v2: validates an instance or a wire-shape dict (decoded by
        ching_async's rules), serializes with `to_dict()`. Imports pydantic
        only when pydantic asks."""
        return _get_codec().pydantic_core_schema(cls)

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        """The JSON schema of `to_dict()`'s output (for OpenAPI documents)."""
        return _get_codec().json_schema(cls)


@attrs.frozen(slots=False)  # keeps a __dict__, as in earlier releases
class RequestInfo:
    """Where a result came from. Attached to every decoded model as `request_info`."""

    method: str
    path: str
    status: int
    attempts: int
    idempotency_key: str | None
    request_id: str | None
    # True when the object was found by a lookup by its idempotency key
    # rather than returned by the POST (after an ambiguous failure, or before
    # the first send when the caller's key had been used already).
    reconciled: bool = False
    # The response's headers (case-insensitive; a value that echoed the API
    # key has it replaced by "<redacted>").
    headers: Mapping[str, str] = attrs.field(factory=dict, eq=False, repr=False)

    @property
    def found_existing(self) -> bool:
        """True when the caller's idempotency key had made this object already
        (an earlier call): it was found before anything was sent."""
        return self.reconciled and self.attempts == 0


@attrs.frozen
class Installments(Model):
    """An installment plan: the charge is split over `count` monthly payments."""

    count: int = 1


@attrs.frozen(slots=False)
class ApiObject(Model):
    """Base of the objects decoded from a response: where each came from.

    Keyword-only, so a subclass's positional arguments are its own fields in
    order. Not slotted: its subclasses are decoded by filling their __dict__
    (see _fastdecode), which slot descriptors here would shadow.
    """

    # Filled in by decoding; excluded from eq and repr.
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, repr=False, kw_only=True)
    request_info: RequestInfo | None = attrs.field(default=None, eq=False, repr=False, kw_only=True)


# Each API object declares its own wire fields, the ones it shares with others
# (`id`, `metadata`, `livemode`, `created`) too, so the models look alike line
# by line: those fields are positional, and a base class holding them would
# put them first.
@attrs.frozen(slots=False)  # decoded by filling __dict__ (see _fastdecode)
class SetupSession(ApiObject):
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


@attrs.frozen(slots=False)  # decoded by filling __dict__ (see _fastdecode)
class Charge(ApiObject):
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


# --------------------------------------------------- customers, cards, refunds
class RefundStatus(StrEnum):
    """A refund's status."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RefundReason(StrEnum):
    """Why a charge was refunded."""

    REQUESTED_BY_CUSTOMER = "requested_by_customer"
    DUPLICATE = "duplicate"
    FRAUDULENT = "fraudulent"


class UpsertAction(StrEnum):
    """What `customers.upsert` did."""

    CREATED = "created"
    UPDATED = "updated"


@attrs.frozen(slots=False)  # decoded by filling __dict__ (see _fastdecode)
class Customer(ApiObject):
    """An end-payer (`cus_...`).

    Only `id` is guaranteed: a soft-deleted customer is answered as the
    tombstone `{id, object, deleted: true}`. `tax_id` is read from `tax_id` or
    `taxId` (the API's request spelling).
    """

    id: str
    object: str = "customer"
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    tax_id: str | None = None
    locale: str | None = None
    metadata: dict[str, Any] | None = None
    livemode: bool | None = None
    created: datetime | None = None
    # True on the tombstone of a soft-deleted customer.
    deleted: bool | None = None


@attrs.frozen
class UpsertResult(Model):
    """What `customers.upsert` did: the customer, and whether it was created.

    `action` is the server's word ("created" or "updated"; a plain `str` for a
    value this version does not know, None when the server sent none).
    `created` is True/False from it, None when the server did not say.
    `raw` is the whole response envelope.
    """

    customer: Customer
    action: UpsertAction | str | None
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, repr=False, kw_only=True)

    @property
    def created(self) -> bool | None:
        """True when upsert created the customer, False when it updated one, None when unsaid."""
        if self.action == UpsertAction.CREATED:
            return True
        if self.action == UpsertAction.UPDATED:
            return False
        return None


@attrs.frozen(slots=False)  # decoded by filling __dict__ (see _fastdecode)
class PaymentMethod(ApiObject):
    """A saved card (`pm_...`).

    Sources show the card details both flat (`brand`, `last4`, ...) and nested
    under `card`; either way they land on the flat fields. `status` is
    "active" for a usable card ("inactive" once detached, in the fake).
    """

    id: str
    object: str = "payment_method"
    customer: str | None = None
    type: str | None = None
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    status: str | None = None
    is_default: bool | None = None
    livemode: bool | None = None
    created: datetime | None = None


@attrs.frozen(slots=False)  # decoded by filling __dict__ (see _fastdecode)
class Refund(ApiObject):
    """A (partial) reversal of a captured charge, in agorot.

    Only `id` is guaranteed; no public source shows the full object.
    """

    id: str
    amount: int | None = None
    status: RefundStatus | str | None = None
    object: str = "refund"
    charge: str | None = None
    currency: str | None = None
    reason: RefundReason | str | None = None
    metadata: dict[str, Any] | None = None
    livemode: bool | None = None
    created: datetime | None = None


# ------------------------------------------ documents and webhook endpoints
class DocumentType(StrEnum):
    """The kind of tax document (`tax_invoice_receipt` for a paid charge)."""

    TAX_INVOICE_RECEIPT = "tax_invoice_receipt"
    RECEIPT = "receipt"


class DocumentStatus(StrEnum):
    """A document's status."""

    ISSUED = "issued"


@attrs.frozen(slots=False)  # decoded by filling __dict__ (see _fastdecode)
class Document(ApiObject):
    """A tax document (`doc_...`): a tax invoice-receipt or a receipt, issued
    by CHING when a charge succeeds (at capture, for a manual capture).

    Amounts are in agorot; `vat_rate` is a fraction (0.18). Older documents
    may get `number` and `pdf_url` on their first read. Only `id` is
    guaranteed. Download its PDF with `documents.download_pdf`.
    """

    id: str
    object: str = "document"
    type: DocumentType | str | None = None
    status: DocumentStatus | str | None = None
    number: str | None = None
    amount: int | None = None
    currency: str | None = None
    vat_rate: float | None = None
    vat_amount: int | None = None
    allocation_number: str | None = None
    pdf_url: str | None = None
    sent_to_customer: bool | None = None
    metadata: dict[str, Any] | None = None
    livemode: bool | None = None
    issued_at: datetime | None = None
    created: datetime | None = None


@attrs.frozen(slots=False)  # decoded by filling __dict__ (see _fastdecode)
class WebhookEndpoint(ApiObject):
    """A URL CHING delivers the events of one mode to, signed with `secret`.

    `secret` (`whsec_...`) is in `create`'s answer only, and only once (it is
    left out of the repr); `list` shows `id` and `created` but never the
    secret. The create answer has no `id`: list the endpoints to learn it.
    Ids are numbers.
    """

    url: str
    events: list[str]
    id: int | None = None
    secret: str | None = attrs.field(default=None, repr=False)
    active: bool | None = None
    livemode: bool | None = None
    created: datetime | None = None


__all__ += ["Document", "DocumentStatus", "DocumentType", "WebhookEndpoint"]
# ------------------------------------ end of documents and webhook endpoints


# ------------------------------------------------ products, prices and discounts
class TaxMode(StrEnum):
    """Whether an amount includes VAT (`inclusive`, the default) or VAT is
    added at charge time (`exclusive`)."""

    INCLUSIVE = "inclusive"
    EXCLUSIVE = "exclusive"


class PriceType(StrEnum):
    """A price charged once, or every billing interval."""

    ONE_TIME = "one_time"
    RECURRING = "recurring"


class RecurringInterval(StrEnum):
    """A recurring price's billing interval. The docs list `month` and
    `year`; the official CLI also sends `day` and `week`."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class PriceApplyMode(StrEnum):
    """How `prices.update` reaches existing subscriptions: `now`, only
    `new_subscribers_only`, or `scheduled` for `effective_date`."""

    NOW = "now"
    NEW_SUBSCRIBERS_ONLY = "new_subscribers_only"
    SCHEDULED = "scheduled"


class DiscountRedemption(StrEnum):
    """How a discount rule applies: by itself (`automatic`) or with its `code`."""

    AUTOMATIC = "automatic"
    CODE = "code"


class DiscountTargetType(StrEnum):
    """What a discount rule takes off: the whole `order`, or the listed
    `products` or `prices`."""

    ORDER = "order"
    PRODUCTS = "products"
    PRICES = "prices"


class DiscountValueType(StrEnum):
    """How a discount's `value` reads: `percent` in basis points (2000 is
    20%), `amount` agorot off, or `override`: the agorot unit price to charge."""

    PERCENT = "percent"
    AMOUNT = "amount"
    OVERRIDE = "override"


class DiscountDuration(StrEnum):
    """How long an applied discount lasts on a subscription."""

    ONCE = "once"
    N_CHARGES = "n_charges"
    UNTIL_DATE = "until_date"
    FOREVER = "forever"


class AppliedDiscountStatus(StrEnum):
    """An applied discount: `active`, then `completed` or `canceled`."""

    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELED = "canceled"


@attrs.frozen
class ProductFeature(Model):
    """One line of a product's feature list, shown on hosted checkout."""

    title: str
    subtitle: str | None = None


@attrs.frozen(slots=False)  # decoded by filling __dict__ (see _fastdecode)
class Product(ApiObject):
    """Something you sell (`prod_...`); its prices say what it costs.

    Only `id` is guaranteed. `unlisted` is set in the dashboard only (the API
    refuses it from an API key). There is no delete: deactivate with
    `products.update(id, active=False)`.
    """

    id: str
    object: str = "product"
    name: str | None = None
    description: str | None = None
    image_url: str | None = None
    features: list[ProductFeature] | None = None
    active: bool | None = None
    unlisted: bool | None = None
    metadata: dict[str, Any] | None = None
    livemode: bool | None = None
    created: datetime | None = None


@attrs.frozen
class Recurring(Model):
    """A recurring price's billing: every `interval_count` `interval`s, after
    an optional free trial of `trial_period_days`."""

    interval: RecurringInterval | str
    interval_count: int | None = None
    trial_period_days: int | None = None


@attrs.frozen(slots=False)  # decoded by filling __dict__ (see _fastdecode)
class Price(ApiObject):
    """What a product costs (`price_...`), in agorot: once (`one_time`) or
    every `recurring` interval.

    Only `id` is guaranteed: `prices.cancel_pending_migration` may answer
    without the price, and then returns one with its id alone.
    """

    id: str
    object: str = "price"
    product: str | None = None
    currency: str | None = None
    unit_amount: int | None = None
    tax_mode: TaxMode | str | None = None
    type: PriceType | str | None = None
    recurring: Recurring | None = None
    active: bool | None = None
    metadata: dict[str, Any] | None = None
    livemode: bool | None = None
    created: datetime | None = None


@attrs.frozen(slots=False)  # decoded by filling __dict__ (see _fastdecode)
class Discount(ApiObject):
    """A discount rule (`disc_...`): automatic, or redeemed with its `code`
    (codes are not unique: several rules may share one).

    `targets` are the ids of the products or prices it applies to (None or
    empty for an `order` rule). `retrieve` answers with the targets resolved;
    their ids land here, the objects stay in `raw["targets"]`. Only `id` is
    guaranteed.
    """

    id: str
    object: str = "discount"
    name: str | None = None
    redemption: DiscountRedemption | str | None = None
    code: str | None = None
    target_type: DiscountTargetType | str | None = None
    targets: list[str] | None = None
    value_type: DiscountValueType | str | None = None
    value: int | None = None
    value_tax_mode: TaxMode | str | None = None
    currency: str | None = None
    duration: DiscountDuration | str | None = None
    duration_charges: int | None = None
    duration_until: datetime | None = None
    active_from: datetime | None = None
    active_until: datetime | None = None
    max_redemptions: int | None = None
    max_redemptions_per_customer: int | None = None
    times_redeemed: int | None = None
    active: bool | None = None
    archived: bool | None = None
    metadata: dict[str, Any] | None = None
    livemode: bool | None = None
    created: datetime | None = None


@attrs.frozen(slots=False)  # decoded by filling __dict__ (see _fastdecode)
class Redemption(ApiObject):
    """One use of a discount rule. `charge` and `charge_amount` are None for
    a free or trial redemption; amounts in agorot."""

    customer: str | None = None
    customer_name: str | None = None
    customer_email: str | None = None
    subscription: str | None = None
    charge: str | None = None
    charge_amount: int | None = None
    currency: str | None = None
    amount_saved: int | None = None
    created: datetime | None = None


@attrs.frozen(slots=False)  # decoded by filling __dict__ (see _fastdecode)
class AppliedDiscount(ApiObject):
    """A discount rule attached to a subscription (`di_...`), as listed by
    `discounts.redemptions` and carried by `discount.applied` and
    `discount.expired` events (which add `discount_row_id`, `livemode` and
    `created`)."""

    id: str | None = None
    object: str = "applied_discount"
    subscription: str | None = None
    status: AppliedDiscountStatus | str | None = None
    charges_applied: int | None = None
    duration_charges: int | None = None
    started_at: datetime | None = None
    ends_at: datetime | None = None
    discount_row_id: str | None = None
    livemode: bool | None = None
    created: datetime | None = None


@attrs.frozen(slots=False)  # decoded by filling __dict__ (see _fastdecode)
class Redemptions(ApiObject):
    """What `discounts.redemptions` answers: each use of the rule, and the
    subscriptions it is applied to."""

    redemptions: list[Redemption] = attrs.field(factory=list)
    applied_discounts: list[AppliedDiscount] = attrs.field(factory=list)


__all__ += [
    "AppliedDiscount",
    "AppliedDiscountStatus",
    "Discount",
    "DiscountDuration",
    "DiscountRedemption",
    "DiscountTargetType",
    "DiscountValueType",
    "Price",
    "PriceApplyMode",
    "PriceType",
    "Product",
    "ProductFeature",
    "Recurring",
    "RecurringInterval",
    "Redemption",
    "Redemptions",
    "TaxMode",
]
# ----------------------------------------- end of products, prices and discounts


# ------------------------------------------ checkout sessions and the billing portal
class CheckoutSessionStatus(StrEnum):
    """Where a checkout session stands: `pending` until the customer pays on
    the hosted page. The merchant retrieve is documented by one source
    (PLUG), which lists these five."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELED = "canceled"


@attrs.frozen
class LineItem(Model):
    """One line of a checkout cart, in agorot. `amount_agorot` is signed (a
    negative line shows as a discount); `quantity` is 1 to 1000 (1 when
    None). `price` or `product` links the line to the catalog, so that
    discounts targeting them apply; `image_url` must be https."""

    name: str
    amount_agorot: int
    quantity: int | None = None
    description: str | None = None
    image_url: str | None = None
    price: str | None = None
    product: str | None = None


@attrs.frozen(slots=False)  # decoded by filling __dict__ (see _fastdecode)
class CheckoutSession(ApiObject):
    """A hosted checkout page (`co_...`): send the customer to `url`, or put
    `embed_url` in an iframe. It expires 30 minutes after it is made.

    `create` answers `id`, `url`, `embed_url` and `expires_at`; `status` comes
    with `retrieve` (documented by one source). Only `id` is guaranteed. The
    charge a checkout makes reaches you by webhook (`charge.succeeded`, or
    `charge.authorized` for manual capture), not on the session.
    """

    id: str
    url: str | None = None
    embed_url: str | None = None
    expires_at: datetime | None = None
    status: CheckoutSessionStatus | str | None = None


@attrs.frozen(slots=False)  # decoded by filling __dict__ (see _fastdecode)
class BillingPortalSession(ApiObject):
    """A short-lived link to a customer's billing portal (invoices, cards,
    subscriptions): send the customer to `url`. It has no id.

    Sources disagree on how long it lives (24 hours, 30 minutes, about an
    hour): read `expires_at`. `token` is in one source's answer only. The
    URL (and its token) signs the customer in until it expires, so both are
    left out of the repr.
    """

    url: str = attrs.field(repr=False)
    expires_at: datetime | None = None
    return_url: str | None = None
    token: str | None = attrs.field(default=None, repr=False)


__all__ += [
    "BillingPortalSession",
    "CheckoutSession",
    "CheckoutSessionStatus",
    "LineItem",
]


# ----------------------------------- end of checkout sessions and the billing portal
# ---------------------------------------------------------------- subscriptions
class SubscriptionStatus(StrEnum):
    """Where a subscription stands. Only `active` and `trialing` are billed;
    `incomplete` (its first charge failed) becomes `incomplete_expired` after
    23 hours; `past_due` (a renewal failed) is retried on days 3, 7 and 14,
    then `canceled`."""

    ACTIVE = "active"
    TRIALING = "trialing"
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    PAST_DUE = "past_due"
    CANCELED = "canceled"


class PriceChangeKind(StrEnum):
    """What `subscriptions.change_price` made of a new price: an `upgrade`
    (a higher cost per day), a `downgrade`, or the `same` price."""

    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"
    SAME = "same"


class ChangeTiming(StrEnum):
    """When a price change takes effect: `immediately` (an upgrade is charged
    pro rata for the days left) or `at_period_end`."""

    IMMEDIATELY = "immediately"
    AT_PERIOD_END = "at_period_end"


@attrs.frozen
class SubscriptionItem(Model):
    """What a subscription bills (`si_...`): `quantity` of `price` (its id)."""

    id: str | None = None
    price: str | None = None
    quantity: int | None = None


@attrs.frozen
class NextChargeDiscount(Model):
    """A discount the next charge will take off (`amount_off` agorot):
    `charges_remaining` for an `n_charges` discount, `ends_at` for `until_date`."""

    name: str | None = None
    value_type: DiscountValueType | str | None = None
    value: int | None = None
    duration: DiscountDuration | str | None = None
    amount_off: int | None = None
    charges_remaining: int | None = None
    ends_at: datetime | None = None


@attrs.frozen(slots=False)  # decoded by filling __dict__ (see _fastdecode)
class Subscription(ApiObject):
    """A customer's plan (`sub_...`), billed every period from its default card.

    `retrieve` answers the whole object; `list` rows have empty `items`, no
    `pending_*` or `next_charge_*`, and add `customer_name`. `pending_price`
    is a change scheduled for `pending_effective_at` (a downgrade waits for
    the period end); `next_charge_*` estimate the next charge in agorot.
    After a declined first charge the subscription is `incomplete` and
    `latest_charge` is the failed charge. `previous_status` is set in
    `subscription.updated` events only. Only `id` is guaranteed.
    """

    id: str
    object: str = "subscription"
    customer: str | None = None
    default_payment_method: str | None = None
    status: SubscriptionStatus | str | None = None
    currency: str | None = None
    items: list[SubscriptionItem] | None = None
    billing_cycle_anchor: datetime | None = None
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    cancel_at_period_end: bool | None = None
    latest_charge: str | None = None
    trial_end: datetime | None = None
    pending_price: str | None = None
    pending_effective_at: datetime | None = None
    next_charge_subtotal: int | None = None
    next_charge_discount_amount: int | None = None
    next_charge_amount: int | None = None
    next_charge_discounts: list[NextChargeDiscount] | None = None
    metadata: dict[str, Any] | None = None
    livemode: bool | None = None
    created: datetime | None = None
    # Only on list items.
    customer_name: str | None = None
    # Only in subscription.updated events.
    previous_status: SubscriptionStatus | str | None = None

    @property
    def price(self) -> str | None:
        """The id of the price billed now (the first item's), if the object
        has its items (a list row has none)."""
        return self.items[0].price if self.items else None


@attrs.frozen(slots=False)  # decoded by filling __dict__ (see _fastdecode)
class PriceChange(ApiObject):
    """What `subscriptions.change_price` did: its `kind`, whether it was
    `applied` now or is `scheduled_for` a date, what an applied upgrade
    charged (`charge_amount` agorot in `charge_currency`; None when nothing
    was charged), and the `subscription` after it.

    Found by reconciliation after a lost answer (`request_info.reconciled`),
    `kind`, `charge_amount` and `charge_currency` are None: the subscription
    read back shows the change, not what it cost (`subscription.latest_charge`
    is an applied upgrade's charge).
    """

    kind: PriceChangeKind | str | None = None
    applied: bool | None = None
    scheduled_for: datetime | None = None
    charge_amount: int | None = None
    charge_currency: str | None = None
    subscription: Subscription | None = None


__all__ += [
    "ChangeTiming",
    "NextChargeDiscount",
    "PriceChange",
    "PriceChangeKind",
    "Subscription",
    "SubscriptionItem",
    "SubscriptionStatus",
]
# ---------------------------------------------------------- end of subscriptions


EventData = (
    Charge
    | SetupSession
    | Customer
    | Refund
    | PaymentMethod
    | Discount
    | AppliedDiscount
    | Subscription
    | dict[str, Any]
)
"""What `Event.data` holds: the model its type's prefix names, or the plain dict
for another type or a payload that does not decode."""


@attrs.frozen
class Event(Model):
    """A webhook event, as returned by `ching_async.webhooks.construct_event`.

    `data` is a model when the type's prefix says which (charge.* -> Charge,
    setup_session.* -> SetupSession, customer.* -> Customer, refund.* ->
    Refund, payment_method.* -> PaymentMethod, discount.* -> Discount,
    subscription.* -> Subscription, or AppliedDiscount when the data says
    `object: "applied_discount"`, as for discount.applied and
    discount.expired) and the payload decodes; the
    plain dict otherwise (unknown types and odd payloads never fail).
    """

    id: str
    type: str
    data: EventData | None = None
    livemode: bool | None = None
    created: datetime | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, repr=False, kw_only=True)


__all__ += [
    "Customer",
    "Event",
    "EventData",
    "PaymentMethod",
    "Refund",
    "RefundReason",
    "RefundStatus",
    "UpsertAction",
    "UpsertResult",
]
