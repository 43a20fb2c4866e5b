"""In-memory records. Mutable on purpose: tests may tweak state to set up scenarios.

A record's JSON is its ``SHAPE``: the API's field names in the API's order, each
read from the attribute of the same name. A new object type is a dataclass
deriving from ``Record`` plus one ``Shape`` line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, TypedDict

from ._clock import format_timestamp
from ._pdf import minimal_pdf

# The record types, which the package root exports.
__all__ = [
    "AppliedDiscount",
    "BillingPortalSession",
    "CardOptions",
    "Charge",
    "CheckoutSession",
    "Customer",
    "Discount",
    "Document",
    "PaymentMethod",
    "Price",
    "PriceMigration",
    "Product",
    "Redemption",
    "Refund",
    "SetupSession",
    "Subscription",
    "UploadedImage",
    "WebhookEndpoint",
]

SETUP_PAGE_URL = "https://secured.ching.co.il/setup/"

# Live-mode sessions start in ``requires_action`` (3DS on a Grow page); both are "open".
OPEN_SESSION_STATUSES = frozenset({"pending", "requires_action"})


class Shape:
    """An object's JSON: ``id`` and ``object``, then the named fields in order.

    ``fields`` is space-separated, ``wire=attribute`` where the names differ
    (``taxId=tax_id``). Datetimes are written in the API's timestamp format.
    An object the API sends without ``object`` has ``kind=None``; one it
    sends without ``id`` (a webhook endpoint's create answer) ``with_id=False``.
    """

    __slots__ = ("_fields", "_with_id", "kind")

    def __init__(self, kind: str | None, fields: str, *, with_id: bool = True) -> None:
        self.kind = kind
        self._with_id = with_id
        pairs = (name.partition("=") for name in fields.split())
        self._fields = tuple((wire, attr or wire) for wire, _, attr in pairs)

    def render(self, record: Any) -> dict[str, Any]:
        data: dict[str, Any] = {"id": record.id} if self._with_id else {}
        if self.kind is not None:
            data["object"] = self.kind
        for wire, attr in self._fields:
            value = getattr(record, attr)
            data[wire] = format_timestamp(value) if isinstance(value, datetime) else value
        return data


class Record:
    """A stored object whose ``to_json`` is its class's ``SHAPE``."""

    __slots__ = ()
    SHAPE: ClassVar[Shape]

    def to_json(self) -> dict[str, Any]:
        """The object as the API sends it."""
        return self.SHAPE.render(self)


@dataclass(slots=True, kw_only=True)
class Customer(Record):
    """A customer as the fake stores it; ``deleted`` once soft-deleted."""

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
        """The customer as the API sends it; a deleted one as its tombstone."""
        if self.deleted:
            return {"id": self.id, "object": "customer", "deleted": True}
        return Record.to_json(self)


class CardOptions(TypedDict, total=False):
    """The test card a helper attaches (``add_payment_method``,
    ``complete_setup_session``): ``brand`` ("visa" by default) and ``last4``
    ("4242"); ``declines=True`` makes every charge on it fail (402)."""

    declines: bool
    brand: str
    last4: str


@dataclass(slots=True, kw_only=True)
class PaymentMethod(Record):
    """A saved card; ``declines=True`` makes every charge on it fail."""

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
    declines_left: int = 0  # fake-only: this many next charges fail (see decline_next_charges)
    is_default: bool = False  # the customer's default card (its first saved one, or set_default)

    SHAPE = Shape(
        "payment_method",
        "customer type brand last4 exp_month exp_year status is_default livemode created",
    )


@dataclass(slots=True, kw_only=True)
class Refund(Record):
    """A refund of (part of) a charge."""

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


class HostedSession:
    """A hosted page's session (setup, checkout): open until it expires, and
    expiry is derived from the clock, so advancing time expires open sessions.
    Not a Record: its JSON depends on the clock."""

    __slots__ = ()
    SHAPE: ClassVar[Shape]
    id: str
    status: str
    livemode: bool
    expires_at: datetime

    def status_at(self, now: datetime) -> str:
        """The status at ``now``: an open session past ``expires_at`` is ``expired``."""
        if self.status in OPEN_SESSION_STATUSES and now >= self.expires_at:
            return "expired"
        return self.status

    def to_json(self, now: datetime) -> dict[str, Any]:
        """The session as the API sends it at ``now`` (an open one past
        ``expires_at`` is ``expired``)."""
        data = self.SHAPE.render(self)
        data["status"] = self.status_at(now)
        return data


@dataclass(slots=True, kw_only=True)
class SetupSession(HostedSession):
    """A hosted card set-up page; it expires on the fake's clock."""

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
        """The hosted page the customer is sent to."""
        return SETUP_PAGE_URL + self.id


@dataclass(slots=True, kw_only=True)
class Charge(Record):
    """A charge as the fake stores it, with the header it was created with."""

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
    create_document: bool = True  # False: a checkout's create_document=false (fake-only)

    SHAPE = Shape(
        "charge",
        "customer payment_method amount amount_captured currency status description"
        " installments captured capture_method authorized_at capturable_until captured_at"
        " cancellation_reason refunded_amount failure_code failure_message document"
        " metadata livemode created card_brand card_last4 wallet_method",
    )

    def to_json(self) -> dict[str, Any]:
        """The charge as the API sends it (``installments`` as ``{"count": n}``)."""
        data = Record.to_json(self)
        data["installments"] = {"count": self.installments}
        return data


# -- documents and webhook endpoints --------------------------------------------------

DOCUMENT_FILES_URL = "https://files.ching.co.il/doc/"


@dataclass(slots=True, kw_only=True)
class Document(Record):
    """A tax document, issued when a charge is captured (DOCS:documents)."""

    id: str
    type: str
    status: str
    number: str
    amount: int
    currency: str
    vat_rate: float
    vat_amount: int
    allocation_number: str
    sent_to_customer: bool
    metadata: dict[str, Any]
    livemode: bool
    issued_at: datetime
    created: datetime
    charge: str  # fake-only: the charge it was issued for; not part of the API shape
    customer_name: str | None = None  # fake-only: printed on the PDF

    SHAPE = Shape(
        "document",
        "type status number amount currency vat_rate vat_amount allocation_number pdf_url"
        " sent_to_customer metadata livemode issued_at created",
    )

    @property
    def pdf_url(self) -> str:
        """Where the API says the PDF is (the fake serves it at ``GET /documents/:id/pdf``)."""
        return f"{DOCUMENT_FILES_URL}{self.id}.pdf"

    def pdf(self) -> bytes:
        """The document as ``GET /documents/:id/pdf`` serves it: a real, small PDF."""
        title = f"Tax invoice / receipt {self.number}"
        money = f"{self.amount // 100}.{self.amount % 100:02d} {self.currency.upper()}"
        vat = f"{self.vat_amount // 100}.{self.vat_amount % 100:02d}"
        return minimal_pdf(
            [
                title,
                f"Document {self.id}, allocation number {self.allocation_number}",
                f"Issued {format_timestamp(self.issued_at)}",
                f"Customer: {self.customer_name or '-'}",
                f"Charge {self.charge}: {money}, of which VAT {vat} ({self.vat_rate:.0%})",
                "Issued by FakeChing (ching_async.testing): not a real tax document",
            ],
            title=title,
        )


@dataclass(slots=True, kw_only=True)
class WebhookEndpoint(Record):
    """A registered URL; ids are numbers, and the secret is shown once, by create."""

    id: int
    url: str
    events: list[str]  # as sent; "*" for every type
    secret: str
    livemode: bool  # an endpoint gets the events of its own mode only
    created: datetime
    active: bool = True

    SHAPE = Shape(None, "url events active livemode created")  # GET /webhooks: no secret
    CREATED = Shape(None, "url events secret active livemode", with_id=False)

    def wants(self, event_type: str, livemode: bool) -> bool:
        """Whether an event of this type and mode is delivered here."""
        if livemode != self.livemode or not self.active:
            return False
        return "*" in self.events or event_type in self.events

    def created_json(self) -> dict[str, Any]:
        """The answer to ``POST /webhooks``: the secret, and no id."""
        return self.CREATED.render(self)


# -- products, prices and discounts ---------------------------------------------------
# (Records alike in shape only: each declares its own fields, as the API's objects do.)

IMAGE_FILES_URL = "https://files.ching.co.il/images/"
# The image types ``POST /products/upload_image`` takes, by their file suffix.
IMAGE_SUFFIXES = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}


@dataclass(slots=True, kw_only=True)
class Product(Record):
    """A product; ``active=False`` once retired."""

    id: str
    name: str
    description: str | None
    image_url: str | None
    features: list[dict[str, Any]] | None  # [{"title", "subtitle"?}]
    metadata: dict[str, Any]
    livemode: bool
    created: datetime
    active: bool = True
    unlisted: bool = False  # dashboard only: the API refuses it from an API key

    SHAPE = Shape(
        "product", "name description image_url features active unlisted metadata livemode created"
    )


@dataclass(slots=True, kw_only=True)
class UploadedImage:
    """An image ``POST /products/upload_image`` hosted (fake-only: the API lists none)."""

    url: str
    content_type: str
    filename: str | None
    data: bytes
    livemode: bool
    created: datetime


@dataclass(slots=True, kw_only=True)
class PriceMigration:
    """A change ``POST /prices/:id`` made or scheduled (fake-only: the API shows none).

    ``status``: ``scheduled`` (pending until ``effective_date``), ``applied`` or
    ``canceled`` (withdrawn by ``DELETE /prices/:id/pending_migration``, or replaced
    by a later scheduled change).
    """

    apply_mode: str  # now | new_subscribers_only | scheduled
    changes: dict[str, Any]  # unit_amount, trial_period_days, tax_mode, metadata
    effective_date: datetime | None
    created: datetime
    status: str


@dataclass(slots=True, kw_only=True)
class Price(Record):
    """A price of a product, one-time or recurring, with its changes in ``migrations``."""

    id: str
    product: str
    currency: str
    unit_amount: int
    tax_mode: str
    type: str  # one_time | recurring
    recurring: dict[str, Any] | None  # {interval, interval_count, trial_period_days}
    metadata: dict[str, Any]
    livemode: bool
    created: datetime
    active: bool = True  # False once archived (in the dashboard: see FakeChing.archive_price)
    migrations: list[PriceMigration] = field(default_factory=list)  # oldest first

    SHAPE = Shape(
        "price",
        "product currency unit_amount tax_mode type recurring active metadata livemode created",
    )

    @property
    def pending_migration(self) -> PriceMigration | None:
        """The scheduled change still to apply, if any."""
        return next((m for m in self.migrations if m.status == "scheduled"), None)


@dataclass(slots=True, kw_only=True)
class Redemption(Record):
    """One use of a discount rule; a row of ``GET /discounts/:id/redemptions``."""

    customer: str
    customer_name: str | None
    customer_email: str | None
    subscription: str | None
    charge: str | None  # None for a free or trial redemption
    charge_amount: int | None
    currency: str
    amount_saved: int
    created: datetime

    # A row, not an API object: no ``id`` or ``object``.
    SHAPE = Shape(
        None,
        "customer customer_name customer_email subscription charge charge_amount currency"
        " amount_saved created",
        with_id=False,
    )


@dataclass(slots=True, kw_only=True)
class Discount(Record):
    """A discount rule, automatic or by code; ``archived`` once archived."""

    id: str
    name: str
    redemption: str  # automatic | code
    code: str | None
    target_type: str  # order | products | prices
    targets: list[str]
    value_type: str  # percent | amount | override
    value: int
    value_tax_mode: str | None
    currency: str | None
    duration: str  # once | n_charges | until_date | forever
    duration_charges: int | None
    duration_until: datetime | None
    active_from: datetime | None
    active_until: datetime | None
    max_redemptions: int | None
    max_redemptions_per_customer: int | None
    active: bool
    metadata: dict[str, Any]
    livemode: bool
    created: datetime
    times_redeemed: int = 0
    archived: bool = False
    redemptions: list[Redemption] = field(default_factory=list)  # oldest first

    SHAPE = Shape(
        "discount",
        "name redemption code target_type targets value_type value value_tax_mode currency"
        " duration duration_charges duration_until active_from active_until max_redemptions"
        " max_redemptions_per_customer times_redeemed active archived metadata livemode created",
    )


# -- checkout sessions and the billing portal -----------------------------------------

CHECKOUT_PAGE_URL = "https://secured.ching.co.il/checkout/"
PORTAL_PAGE_URL = "https://secured.ching.co.il/portal/"


@dataclass(slots=True, kw_only=True)
class CheckoutSession(HostedSession):
    """A hosted checkout (``co_...``), with what it was created with.

    ``status``: ``pending`` until a completion succeeds (a declined card leaves it
    open for another try), then ``succeeded``; ``expired`` 30 minutes after it was
    made if still pending.
    """

    id: str
    customer: str
    success_url: str
    cancel_url: str
    price: str | None
    line_items: list[dict[str, Any]] | None  # as sent: name, amount_agorot, quantity...
    coupon_codes: list[str]
    capture_method: str  # automatic | manual
    create_document: bool
    payment_methods: list[str]  # [] means both card and wallet
    background_color: str | None
    auto_open_wallets: bool
    livemode: bool
    expires_at: datetime
    created: datetime
    status: str = "pending"
    # Fake-only, not part of the API shape: the charges attempted on the page
    # (declined ones too), oldest first, the discount rules the paid one used,
    # and the subscription a recurring price's session started.
    charges: list[str] = field(default_factory=list)
    discounts: list[str] = field(default_factory=list)
    subscription: str | None = None

    # The merchant GET (documented by PLUG only: the create's fields and a status).
    SHAPE: ClassVar[Shape] = Shape(None, "status url embed_url expires_at")
    CREATED: ClassVar[Shape] = Shape(None, "url embed_url expires_at")

    @property
    def url(self) -> str:
        """The hosted page the customer is sent to."""
        return CHECKOUT_PAGE_URL + self.id

    @property
    def embed_url(self) -> str:
        """The same page for an iframe (embedded checkout)."""
        return CHECKOUT_PAGE_URL + self.id + "/embed"

    def created_json(self) -> dict[str, Any]:
        """The answer to ``POST /checkout_sessions``: ``{id, url, embed_url, expires_at}``."""
        return self.CREATED.render(self)


@dataclass(slots=True, kw_only=True)
class BillingPortalSession(Record):
    """A portal link; ``id`` is its token (fake-only: the API's answer has no id)."""

    id: str
    customer: str
    return_url: str | None
    livemode: bool
    expires_at: datetime
    created: datetime

    # DOCS:billing_portal's answer (PLUG's adds the token).
    SHAPE = Shape(None, "url expires_at return_url", with_id=False)

    @property
    def url(self) -> str:
        """The portal link; it signs the customer in until ``expires_at``."""
        return PORTAL_PAGE_URL + self.id


# -- subscriptions (the billing engine that moves them on the clock: _billing) ---------


@dataclass(slots=True, kw_only=True)
class AppliedDiscount(Record):
    """A discount rule attached to a subscription (``di_...``): ``active``, then
    ``completed`` when its duration runs out, or ``canceled`` with the subscription."""

    id: str
    subscription: str
    rule: Discount
    started_at: datetime
    livemode: bool
    created: datetime
    status: str = "active"
    charges_applied: int = 0

    SHAPE = Shape(
        "applied_discount",
        "subscription discount_row_id status charges_applied duration_charges started_at"
        " ends_at livemode created",
    )

    @property
    def discount_row_id(self) -> str:
        """The rule's id (``disc_...``), as the API names it here."""
        return self.rule.id

    @property
    def duration_charges(self) -> int | None:
        """How many charges it takes off: 1 for ``once``, the rule's count for
        ``n_charges``, else None (no limit by count)."""
        return 1 if self.rule.duration == "once" else self.rule.duration_charges

    @property
    def ends_at(self) -> datetime | None:
        """When an ``until_date`` rule stops applying, else None."""
        return self.rule.duration_until if self.rule.duration == "until_date" else None

    @property
    def charges_remaining(self) -> int | None:
        """Charges it will still take off (None: no limit by count)."""
        limit = self.duration_charges
        return None if limit is None else limit - self.charges_applied


@dataclass(slots=True, kw_only=True)
class Subscription:
    """One customer's plan. Rendered by the billing engine (``Billing.render``):
    its ``next_charge_*`` estimate reads prices and discounts."""

    id: str
    customer: str
    default_payment_method: str | None
    status: str
    currency: str
    price: str  # the one item's price
    item_id: str
    billing_cycle_anchor: datetime
    current_period_start: datetime
    current_period_end: datetime
    metadata: dict[str, Any]
    livemode: bool
    created: datetime
    trial_end: datetime | None = None
    cancel_at_period_end: bool = False
    latest_charge: str | None = None
    pending_price: str | None = None
    pending_effective_at: datetime | None = None
    quantity: int = 1
    # Fake-only (not in the API shape) -----------------------------------------
    discounts: list[AppliedDiscount] = field(default_factory=list)
    # The amount a `new_subscribers_only` price change left this subscription
    # on (None: it pays the price's unit_amount).
    locked_amount: int | None = None
    # Periods since the anchor, and the interval they are counted in (a new
    # price with another interval re-anchors at its first renewal).
    period_index: int = 0
    anchor_recurring: dict[str, Any] = field(default_factory=dict)
    trial_notice_sent: bool = False
    past_due_since: datetime | None = None
    retries: int = 0  # dunning retries made since past_due_since
    canceled_at: datetime | None = None
    version: int = 0  # bumped on every reschedule: older queue entries are stale

    SHAPE = Shape(
        "subscription",
        "customer default_payment_method status currency items billing_cycle_anchor"
        " current_period_start current_period_end cancel_at_period_end latest_charge trial_end"
        " pending_price pending_effective_at",
    )
    TAIL = Shape(None, "metadata livemode created", with_id=False)

    @property
    def items(self) -> list[dict[str, Any]]:
        """The API's ``items``: the one item, its price and quantity."""
        return [{"id": self.item_id, "price": self.price, "quantity": self.quantity}]

    def active_discounts(self) -> list[AppliedDiscount]:
        """The applied discounts still taking money off."""
        return [d for d in self.discounts if d.status == "active"]
