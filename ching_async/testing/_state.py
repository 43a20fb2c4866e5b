"""The fake's in-memory ledger and the business rules of each operation.

Every operation is synchronous, so a request's state change is atomic with respect to
other requests on the event loop. Indexes keep reads O(result), not O(all charges).

Each object type is a ``Table``: its records by id, its id prefix and its 404. A new
type is one ``Table`` line in ``Ledger.__init__`` plus the operations it documents.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, Protocol, TypeVar, Unpack

from ._envelope import FakeApiError, Issue, Reply, invalid_fields, not_found
from ._ids import IdFactory

# The record types (_server imports them too: each module imports what it uses).
from ._models import (
    IMAGE_FILES_URL,
    IMAGE_SUFFIXES,
    OPEN_SESSION_STATUSES,
    BillingPortalSession,
    CardOptions,
    Charge,
    CheckoutSession,
    Customer,
    Discount,
    Document,
    HostedSession,
    PaymentMethod,
    Price,
    PriceMigration,
    Product,
    Redemption,
    Refund,
    SetupSession,
    Subscription,
    UploadedImage,
    WebhookEndpoint,
)
from ._subscriptions import Schedule, check_deletable, price_changed
from ._validation import (
    TEST_CARDS,
    ChargeParams,
    CustomerParams,
    ImageUpload,
    RefundParams,
    Sent,
    SetupSessionParams,
    UpsertParams,
)

SESSION_LIFETIME = timedelta(hours=24)
AUTHORIZATION_WINDOW = timedelta(days=7)
LIST_LIMIT = 100
DECLINE_CODE = "card_declined"
DECLINE_MESSAGE = "The card was declined."
VAT_RATE = 0.18  # Israel's VAT; prices include it
FIRST_DOCUMENT_NUMBER = 1001

# (event type, livemode, snapshot of the object) -> None; see _webhooks.
EventSink = Callable[[str, bool, Callable[[], dict[str, Any]]], None]


class _Stored(Protocol):
    @property
    def id(self) -> str | int: ...  # webhook endpoints have numeric ids

    @property
    def livemode(self) -> bool: ...


R = TypeVar("R", bound=_Stored)
H = TypeVar("H", bound=HostedSession)


class Table(dict[str, R]):
    """One object type's records by id; insertion order is creation order."""

    def __init__(self, kind: str, prefix: str) -> None:
        super().__init__()
        self.kind = kind  # as the 404 names it: "No such setup session: seti_..."
        self.prefix = prefix  # of its ids: "seti" -> "seti_9mTPfRSDmEOU"
        self.last_number = 0  # the last numeric id given (types with numeric ids)

    def next_number(self) -> int:
        """A new numeric id (webhook endpoints: 1, 2, 3...; never reused),
        stored under its str like every key of a Table."""
        self.last_number += 1
        return self.last_number

    def find(self, object_id: str) -> R:
        """The record, or the API's 404 ``NOT_FOUND``."""
        try:
            return self[object_id]
        except KeyError:
            raise not_found(self.kind, object_id) from None

    def newest(
        self, livemode: bool, *, keep: Callable[[R], bool] | None = None, limit: int = LIST_LIMIT
    ) -> list[R]:
        """Newest first, at most ``limit``, of one mode: the API's unfiltered lists."""
        found = (
            r
            for r in reversed(self.values())
            if r.livemode == livemode and (keep is None or keep(r))
        )
        return list(islice(found, limit))


# What a discount rule is created with when the body leaves it out.
_DISCOUNT_DEFAULTS: dict[str, Any] = dict.fromkeys(
    ("active_from", "active_until", "max_redemptions", "max_redemptions_per_customer", "metadata")
) | {"active": True}


def _set_fields(record: Any, sent: Sent) -> None:
    """Set what an update sent; ``metadata`` is merged, as customers' is."""
    for name, value in sent.items():
        if name == "metadata":
            record.metadata = {**record.metadata, **value}
        else:
            setattr(record, name, value)


class Ledger:
    def __init__(self, clock: Callable[[], datetime], ids: IdFactory) -> None:
        self.now = clock
        self._ids = ids
        # One Table line per object type, alike by design (see the module docstring).
        self.customers = Table[Customer]("customer", "cus")
        self.payment_methods = Table[PaymentMethod]("payment method", "pm")
        self.setup_sessions = Table[SetupSession]("setup session", "seti")
        self.charges = Table[Charge]("charge", "ch")
        self.refunds = Table[Refund]("refund", "re")
        self.documents = Table[Document]("document", "doc")
        self.webhook_endpoints = Table[WebhookEndpoint]("webhook endpoint", "")
        self.products = Table[Product]("product", "prod")
        self.prices = Table[Price]("price", "price")
        self.discounts = Table[Discount]("discount", "disc")
        self.subscriptions = Table[Subscription]("subscription", "sub")
        # The hosted pages of checkout and the billing portal (see _checkout).
        self.checkout_sessions = Table[CheckoutSession]("checkout session", "co")
        self.portal_sessions = Table[BillingPortalSession]("billing portal session", "bps")
        self.express_checkout = True  # the project's wallets setting (auto_open_wallets)
        self.images: list[UploadedImage] = []
        self._scheduled: dict[str, Price] = {}  # prices with a pending migration
        self._charges_by_customer: dict[str, list[Charge]] = {}
        self._pms_by_customer: dict[str, list[PaymentMethod]] = {}
        self._charges_by_idempotency_key: dict[str, list[Charge]] = {}
        self.on_event: EventSink | None = None
        # GET /documents/:id/pdf's redirect instead of the PDF, given the id
        # and the ?hop= (FakeChing.redirect_pdfs; _files).
        self.pdf_redirect: Callable[[str, str | None], Reply | None] | None = None
        self.schedule = Schedule()  # when subscriptions are due (see _billing)

    def _new_id(self, table: Table[Any]) -> str:
        return self._ids.new_id(table.prefix, table)

    def _emit(self, event_type: str, livemode: bool, snapshot: Callable[[], Any]) -> None:
        if self.on_event is not None:
            self.on_event(event_type, livemode, snapshot)

    # -- customers and payment methods ------------------------------------------------

    def create_customer(
        self,
        params: CustomerParams,
        *,
        livemode: bool,
        customer_id: str | None = None,
        unique_email: bool = False,
    ) -> Customer:
        """``customer_id``: a chosen id (seeding only); taking one twice is a ValueError.
        ``unique_email`` (the API's create): 409 ``EMAIL_EXISTS`` when a customer
        of this mode already has the email."""
        if unique_email:
            self._refuse_taken_email(params.fields.get("email"), livemode, None)
        if customer_id is None:
            customer_id = self._new_id(self.customers)
        elif customer_id in self.customers:
            raise ValueError(f"customer {customer_id!r} already exists")
        fields: dict[str, Any] = {"name": None, "email": None, **params.fields}
        fields["metadata"] = dict(fields.get("metadata") or {})
        customer = Customer(id=customer_id, livemode=livemode, created=self.now(), **fields)
        self.customers[customer.id] = customer
        self._pms_by_customer[customer.id] = []
        self._emit("customer.created", livemode, customer.to_json)
        return customer

    def live_customer(self, customer_id: str) -> Customer:
        """A customer that is not soft-deleted (deleted ones can no longer change)."""
        customer = self.customers.find(customer_id)
        if customer.deleted:
            raise not_found(self.customers.kind, customer_id)
        return customer

    def update_customer(self, customer_id: str, params: CustomerParams) -> Customer:
        customer = self.live_customer(customer_id)
        self._refuse_taken_email(params.fields.get("email"), customer.livemode, customer.id)
        self._patch(customer, params.fields)
        return customer

    def _refuse_taken_email(self, email: object, livemode: bool, own_id: str | None) -> None:
        """409 ``EMAIL_EXISTS``: another live customer of this mode has ``email``."""
        if email is None:
            return
        for other in self.customers.values():
            if (
                other.email == email
                and other.id != own_id
                and other.livemode == livemode
                and not other.deleted
            ):
                raise FakeApiError(409, "EMAIL_EXISTS", "A customer with that email already exists")

    def _patch(self, customer: Customer, fields: dict[str, Any]) -> None:
        for name, value in fields.items():
            if name == "metadata":
                customer.metadata = {**customer.metadata, **value}
            else:
                setattr(customer, name, value)
        self._emit("customer.updated", customer.livemode, customer.to_json)

    def upsert_customer(self, params: UpsertParams, *, livemode: bool) -> tuple[Customer, str]:
        """Patch the newest live customer of this mode matching the field, else create."""
        wanted = params.fields[params.identify_by]
        for customer in reversed(self.customers.values()):
            if (
                not customer.deleted
                and customer.livemode == livemode
                and getattr(customer, params.identify_by) == wanted
            ):
                self._patch(customer, params.fields)
                return customer, "updated"
        return self.create_customer(CustomerParams(params.fields), livemode=livemode), "created"

    def delete_customer(self, customer_id: str) -> Customer:
        """Soft delete, idempotent: the tombstone stays; saved cards are detached."""
        customer = self.customers.find(customer_id)
        if not customer.deleted:
            check_deletable(self.subscriptions.values(), customer_id)
            for method in self.payment_methods_of(customer_id):
                self.detach_payment_method(method.id)
            customer.deleted = True
            self._emit("customer.deleted", customer.livemode, customer.to_json)
        return customer

    def add_payment_method(
        self,
        customer_id: str,
        *,
        livemode: bool,
        saved: bool = True,
        declines: bool = False,
        brand: str = "visa",
        last4: str = "4242",
    ) -> PaymentMethod:
        """``saved=False``: a card typed on a hosted checkout page, on record (its
        charge names it) but not among the customer's cards, and no event."""
        customer = self.customers.find(customer_id)
        method = PaymentMethod(
            id=self._new_id(self.payment_methods),
            customer=customer.id,
            brand=brand,
            last4=last4,
            declines=declines,
            livemode=livemode,
            created=self.now(),
        )
        self.payment_methods[method.id] = method
        if saved:
            method.is_default = self.default_payment_method(customer.id) is None
            self._pms_by_customer[customer.id].append(method)
            self._emit("payment_method.attached", livemode, method.to_json)
        return method

    def default_payment_method(self, customer_id: str) -> PaymentMethod | None:
        """The customer's default card, if an active one is."""
        methods = self._pms_by_customer.get(customer_id, ())
        return next((m for m in methods if m.is_default and m.status == "active"), None)

    def set_default_payment_method(self, method_id: str) -> dict[str, Any]:
        """``POST /payment_methods/:id/set_default``: answers ``{id, is_default}``
        (the one source's shape). A detached card cannot be the default."""
        method = self.payment_methods.find(method_id)
        if method.status != "active":
            raise FakeApiError(
                400, "payment_method_not_active", f"Payment method {method_id} is {method.status}"
            )
        for other in self._pms_by_customer.get(method.customer, ()):
            other.is_default = other is method
        return {"id": method.id, "is_default": True}

    def payment_methods_of(self, customer_id: str) -> list[PaymentMethod]:
        """The customer's active (attached) cards, oldest first."""
        methods = self._pms_by_customer.get(customer_id, ())
        return [method for method in methods if method.status == "active"]

    def inactive_payment_methods_of(self, customer_id: str) -> list[PaymentMethod]:
        """The customer's detached cards, newest first (at most LIST_LIMIT)."""
        methods = reversed(self._pms_by_customer.get(customer_id, ()))
        return list(islice((m for m in methods if m.status != "active"), LIST_LIMIT))

    def detach_payment_method(self, method_id: str) -> PaymentMethod:
        method = self.payment_methods.find(method_id)
        if method.status != "active":
            raise FakeApiError(
                400, "payment_method_not_active", f"Payment method {method_id} is {method.status}"
            )
        method.status = "inactive"
        method.is_default = False  # the customer has no default until one is set
        self._emit("payment_method.detached", method.livemode, method.to_json)
        return method

    def create_test_card(
        self, customer_id: str, card_index: int, *, livemode: bool
    ) -> PaymentMethod:
        if livemode:
            raise FakeApiError(403, "NO_ACCESS", "Test cards can only be created in test mode")
        customer = self.live_customer(customer_id)
        if customer.livemode:
            raise FakeApiError(
                400, "INVALID_FIELD", "Test cards cannot be attached to live customers"
            )
        brand, last4 = TEST_CARDS[card_index]
        return self.add_payment_method(customer.id, brand=brand, last4=last4, livemode=False)

    # -- setup sessions ---------------------------------------------------------------

    def create_setup_session(self, params: SetupSessionParams, *, livemode: bool) -> SetupSession:
        customer = self.customers.find(params.customer)
        now = self.now()
        session = SetupSession(
            id=self._new_id(self.setup_sessions),
            customer=customer.id,
            status="requires_action" if livemode else "pending",
            success_url=params.success_url,
            cancel_url=params.cancel_url,
            metadata=params.metadata if params.metadata is not None else {},
            livemode=livemode,
            expires_at=now + SESSION_LIFETIME,
            created=now,
        )
        self.setup_sessions[session.id] = session
        return session

    def open_session(self, table: Table[H], session_id: str) -> H:
        """A hosted page's session that is still open, else 400 ``SESSION_EXPIRED``
        or ``SESSION_NOT_PENDING`` (DOCS:errors: setup and checkout sessions)."""
        session = table.find(session_id)
        status = session.status_at(self.now())
        what = table.kind[0].upper() + table.kind[1:]
        if status == "expired":
            raise FakeApiError(400, "SESSION_EXPIRED", f"{what} {session_id} has expired")
        if status not in OPEN_SESSION_STATUSES:
            raise FakeApiError(400, "SESSION_NOT_PENDING", f"{what} {session_id} is {status}")
        return session

    def cancel_setup_session(self, session_id: str) -> SetupSession:
        session = self.open_session(self.setup_sessions, session_id)
        session.status = "canceled"
        return session

    def complete_setup_session(self, session_id: str, **card: Unpack[CardOptions]) -> PaymentMethod:
        session = self.open_session(self.setup_sessions, session_id)
        method = self.add_payment_method(session.customer, livemode=session.livemode, **card)
        session.status = "succeeded"
        session.payment_method = method.id
        return method

    # -- charges ----------------------------------------------------------------------

    def _chargeable_method(self, params: ChargeParams) -> PaymentMethod:
        customer = self.customers.find(params.customer)
        method = self.payment_methods.get(params.payment_method)
        if method is None:
            raise not_found(self.payment_methods.kind, params.payment_method)
        if method.customer != customer.id:
            raise invalid_fields(
                [Issue(("payment_method",), "Payment method does not belong to the customer")]
            )
        if method.status != "active":
            raise invalid_fields([Issue(("payment_method",), "Payment method is not active")])
        return method

    def create_charge(
        self,
        params: ChargeParams,
        *,
        livemode: bool,
        idempotency_key: str | None = None,
        capture_method: str = "automatic",
        create_document: bool = True,
    ) -> Charge:
        """Store the attempt, declined or not, as processors keep failed charges too.
        ``create_document=False`` (a checkout's): no tax document at capture."""
        method = self._chargeable_method(params)
        charge = Charge(
            id=self._new_id(self.charges),
            customer=params.customer,
            payment_method=method.id,
            amount=params.amount,
            currency=params.currency,
            status="failed",
            description=params.description,
            installments=params.installments,
            capture_method=capture_method,
            created=self.now(),
            livemode=livemode,
            card_brand=method.brand,
            card_last4=method.last4,
            metadata=params.metadata if params.metadata is not None else {},
            idempotency_key=idempotency_key,
            create_document=create_document,
        )
        if method.declines or method.declines_left:
            method.declines_left = max(0, method.declines_left - 1)
            charge.failure_code, charge.failure_message = DECLINE_CODE, DECLINE_MESSAGE
        else:
            self._authorize(charge)
        self._store_charge(charge)
        event = {"failed": "charge.failed", "requires_capture": "charge.authorized"}
        self._emit(event.get(charge.status, "charge.succeeded"), livemode, charge.to_json)
        return charge

    def _authorize(self, charge: Charge) -> None:
        charge.authorized_at = charge.created
        if charge.capture_method == "manual":
            charge.status = "requires_capture"
            charge.capturable_until = charge.created + AUTHORIZATION_WINDOW
        else:
            # Captured as it is authorized: one instant, not a second clock read.
            self._mark_captured(charge, charge.amount, charge.created)

    def _mark_captured(self, charge: Charge, amount: int, at: datetime) -> None:
        # The tax document is issued on capture (deferred for manual capture).
        charge.status = "succeeded"
        charge.captured = True
        charge.amount_captured = amount
        charge.captured_at = at
        if charge.create_document:
            charge.document = self._issue_document(charge, amount, at).id

    def _store_charge(self, charge: Charge) -> None:
        self.charges[charge.id] = charge
        self._charges_by_customer.setdefault(charge.customer, []).append(charge)
        if charge.idempotency_key is not None:
            self._charges_by_idempotency_key.setdefault(charge.idempotency_key, []).append(charge)

    def capture_charge(self, charge_id: str, amount: int | None) -> Charge:
        charge = self.charges.find(charge_id)
        if charge.status != "requires_capture":
            raise FakeApiError(
                400, "charge_not_capturable", f"Charge {charge_id} is {charge.status}"
            )
        if charge.capturable_until is not None and self.now() > charge.capturable_until:
            raise FakeApiError(
                400, "charge_authorization_expired", f"Authorization of {charge_id} expired"
            )
        if amount is not None and amount > charge.amount:
            raise FakeApiError(
                400,
                "capture_amount_too_large",
                f"Capture amount {amount} exceeds the authorized {charge.amount}",
            )
        self._mark_captured(charge, charge.amount if amount is None else amount, self.now())
        self._emit("charge.captured", charge.livemode, charge.to_json)
        return charge

    def expire_authorizations(self) -> list[Charge]:
        """CHING's daily sweep: every hold past ``capturable_until`` is canceled
        with ``cancellation_reason`` ``expired`` (and ``charge.canceled`` fires)."""
        now = self.now()
        expired = [
            charge
            for charge in self.charges.values()
            if charge.status == "requires_capture"
            and charge.capturable_until is not None
            and now >= charge.capturable_until
        ]
        for charge in expired:
            charge.status = "canceled"
            charge.cancellation_reason = "expired"
            self._emit("charge.canceled", charge.livemode, charge.to_json)
        return expired

    def cancel_charge(self, charge_id: str, reason: str) -> Charge:
        charge = self.charges.find(charge_id)
        if charge.status != "requires_capture":
            raise FakeApiError(
                400, "charge_not_cancelable", f"Charge {charge_id} is {charge.status}"
            )
        charge.status = "canceled"
        charge.cancellation_reason = reason
        self._emit("charge.canceled", charge.livemode, charge.to_json)
        return charge

    # -- refunds ----------------------------------------------------------------------

    def create_refund(self, params: RefundParams, *, livemode: bool) -> Refund:
        """Refund part or all of what was captured and not yet refunded."""
        charge = self.charges.find(params.charge)
        if charge.status != "succeeded" or not charge.captured:
            raise FakeApiError(
                400, "charge_not_refundable", f"Charge {charge.id} is {charge.status}"
            )
        remaining = (charge.amount_captured or 0) - charge.refunded_amount
        if params.amount > remaining:
            raise FakeApiError(
                400,
                "refund_amount_too_large",
                f"Refund amount {params.amount} exceeds the {remaining} left to refund",
            )
        refund = Refund(
            id=self._new_id(self.refunds),
            charge=charge.id,
            amount=params.amount,
            currency=charge.currency,
            status="succeeded",
            reason=params.reason,
            metadata=params.metadata if params.metadata is not None else {},
            livemode=livemode,
            created=self.now(),
        )
        charge.refunded_amount += params.amount
        self.refunds[refund.id] = refund
        self._emit("refund.created", livemode, refund.to_json)
        return refund

    # -- documents and webhook endpoints -----------------------------------------------

    def _issue_document(self, charge: Charge, amount: int, at: datetime) -> Document:
        """The tax invoice-receipt of a captured charge (DOCS:guide-invoicing)."""
        customer = self.customers.get(charge.customer)
        number = FIRST_DOCUMENT_NUMBER + len(self.documents)
        document = Document(
            id=self._new_id(self.documents),
            type="tax_invoice_receipt",
            status="issued",
            number=str(number),
            amount=amount,
            currency=charge.currency,
            vat_rate=VAT_RATE,
            vat_amount=round(amount * VAT_RATE / (1 + VAT_RATE)),
            allocation_number=f"REC-{number}",
            sent_to_customer=customer is not None and customer.email is not None,
            metadata={},
            livemode=charge.livemode,
            issued_at=at,
            created=at,
            charge=charge.id,
            customer_name=customer.name if customer is not None else None,
        )
        self.documents[document.id] = document
        return document

    def create_webhook_endpoint(
        self, url: str, events: list[str], *, livemode: bool, secret: str | None = None
    ) -> WebhookEndpoint:
        """Like the API, registering the same URL and events twice makes two endpoints."""
        endpoint = WebhookEndpoint(
            id=self.webhook_endpoints.next_number(),
            url=url,
            events=list(events),
            secret=secret if secret is not None else self._ids.webhook_secret(),
            livemode=livemode,
            created=self.now(),
        )
        self.webhook_endpoints[str(endpoint.id)] = endpoint
        return endpoint

    def delete_webhook_endpoint(self, endpoint_id: str, *, livemode: bool) -> None:
        """An endpoint of the other mode is not found, as the API scopes them by mode."""
        endpoint = self.webhook_endpoints.get(endpoint_id)
        if endpoint is None or endpoint.livemode != livemode:
            raise not_found(self.webhook_endpoints.kind, endpoint_id)
        del self.webhook_endpoints[endpoint_id]

    # -- products, prices and discounts -----------------------------------------------

    def create_product(self, sent: Sent, *, livemode: bool) -> Product:
        product = Product(
            id=self._new_id(self.products),
            name=sent["name"],
            description=sent.get("description"),
            image_url=sent.get("image_url"),
            features=sent.get("features"),
            metadata=dict(sent.get("metadata") or {}),
            livemode=livemode,
            created=self.now(),
            active=sent.get("active", True),
        )
        self.products[product.id] = product
        return product

    def update_product(self, product_id: str, sent: Sent) -> Product:
        product = self.products.find(product_id)
        _set_fields(product, sent)
        return product

    def upload_image(self, upload: ImageUpload, *, livemode: bool) -> UploadedImage:
        """Host the image; like the API, the same image twice is two uploads."""
        name = self._ids.new_id("img")
        suffix = IMAGE_SUFFIXES[upload.content_type]
        image = UploadedImage(
            url=f"{IMAGE_FILES_URL}{name}.{suffix}",
            content_type=upload.content_type,
            filename=upload.filename,
            data=upload.content,
            livemode=livemode,
            created=self.now(),
        )
        self.images.append(image)
        return image

    def create_price(self, sent: Sent, *, livemode: bool) -> Price:
        product = self.products.find(sent["product"])
        price = Price(
            id=self._new_id(self.prices),
            product=product.id,
            currency=sent["currency"],
            unit_amount=sent["unit_amount"],
            tax_mode=sent["tax_mode"],
            type=sent["type"],
            recurring=sent["recurring"],
            metadata=dict(sent["metadata"]),
            livemode=livemode,
            created=self.now(),
            active=sent.get("active", True),
        )
        self.prices[price.id] = price
        return price

    def price(self, price_id: str) -> Price:
        """The price as of now: a scheduled change that is due has applied."""
        self._apply_due_migrations()
        return self.prices.find(price_id)

    def all_prices(self, product: str | None = None) -> list[Price]:
        """Every price (of ``product``), as of now, oldest first."""
        self._apply_due_migrations()
        return [p for p in self.prices.values() if product in (None, p.product)]

    def list_prices(self, livemode: bool, product: str | None, active: str) -> list[Price]:
        """``GET /prices?product=&active=true|false|all`` (active only by default)."""
        self._apply_due_migrations()
        wanted = {"true": (True,), "false": (False,), "all": (True, False)}[active]
        return self.prices.newest(
            livemode,
            keep=lambda p: p.active in wanted and (product is None or p.product == product),
        )

    def update_price(self, price_id: str, sent: Sent) -> Price:
        """Apply a change now (``now``, ``new_subscribers_only``: see
        ``_subscriptions.price_changed``), or schedule it, replacing a pending one."""
        price = self.price(price_id)
        if not price.active:
            raise FakeApiError(400, "price_archived", f"Price {price_id} is archived")
        changes = {k: v for k, v in sent.items() if k not in ("apply_mode", "effective_date")}
        if "trial_period_days" in changes and price.recurring is None:
            raise invalid_fields(
                [Issue(("trial_period_days",), "Only recurring prices have a trial")]
            )
        now = self.now()
        when = sent.get("effective_date")
        if when is not None and when <= now:
            raise invalid_fields([Issue(("effective_date",), "Must be in the future")])
        migration = PriceMigration(
            apply_mode=sent["apply_mode"],
            changes=changes,
            effective_date=when,
            created=now,
            status="scheduled",
        )
        pending = price.pending_migration
        if when is not None:
            if pending is not None:
                pending.status = "canceled"  # replaced
            self._scheduled[price.id] = price
        else:
            self._apply(price, migration)
        price.migrations.append(migration)
        return price

    def cancel_price_migration(self, price_id: str) -> Price:
        """Withdraw the pending change; with none pending there is nothing to do."""
        price = self.price(price_id)
        pending = price.pending_migration
        if pending is not None:
            pending.status = "canceled"
            self._scheduled.pop(price.id, None)
        return price

    def _apply(self, price: Price, migration: PriceMigration) -> None:
        amount_before = price.unit_amount
        changes = dict(migration.changes)
        if "trial_period_days" in changes and price.recurring is not None:
            price.recurring = {
                **price.recurring,
                "trial_period_days": changes.pop("trial_period_days"),
            }
        _set_fields(price, changes)
        migration.status = "applied"
        price_changed(self.subscriptions.values(), price.id, migration, amount_before)

    def _apply_due_migrations(self) -> None:
        now = self.now()
        for price in list(self._scheduled.values()):
            pending = price.pending_migration
            if pending is None:
                del self._scheduled[price.id]
            elif pending.effective_date is not None and pending.effective_date <= now:
                self._apply(price, pending)
                del self._scheduled[price.id]

    def archive_price(self, price_id: str) -> Price:
        """The dashboard's archive (no API endpoint): a later use is ``price_archived``."""
        price = self.price(price_id)
        price.active = False
        return price

    def create_discount(self, sent: Sent, *, livemode: bool) -> Discount:
        self._check_targets(sent["target_type"], sent["targets"], livemode)
        fields = {**_DISCOUNT_DEFAULTS, **sent}
        fields["metadata"] = dict(fields["metadata"] or {})
        discount = Discount(
            id=self._new_id(self.discounts), livemode=livemode, created=self.now(), **fields
        )
        self.discounts[discount.id] = discount
        self._emit("discount.created", livemode, discount.to_json)
        return discount

    def update_discount(self, discount_id: str, sent: Sent) -> Discount:
        discount = self.discounts.find(discount_id)
        start = sent.get("active_from", discount.active_from)
        end = sent.get("active_until", discount.active_until)
        if start is not None and end is not None and end <= start:
            raise invalid_fields([Issue(("active_until",), "Must be after active_from")])
        _set_fields(discount, sent)
        self._emit("discount.updated", discount.livemode, discount.to_json)
        return discount

    def replace_discount_targets(self, discount_id: str, targets: list[str]) -> Discount:
        discount = self.discounts.find(discount_id)
        if discount.target_type == "order":
            raise FakeApiError(
                400, "targets_not_supported", f"Discount {discount_id} applies to the whole order"
            )
        self._check_targets(discount.target_type, targets, discount.livemode)
        discount.targets = list(dict.fromkeys(targets))
        self._emit("discount.updated", discount.livemode, discount.to_json)
        return discount

    def archive_discount(self, discount_id: str) -> Discount:
        """Soft delete, idempotent: ``discount.deleted`` fires the first time only."""
        discount = self.discounts.find(discount_id)
        if not discount.archived:
            discount.archived = True
            discount.active = False
            self._emit("discount.deleted", discount.livemode, discount.to_json)
        return discount

    def _check_targets(self, target_type: str, targets: list[str], livemode: bool) -> None:
        if target_type == "order":
            if targets:
                raise FakeApiError(
                    400, "targets_not_supported", "An order discount takes no targets"
                )
            return
        table: Table[Any] = self.products if target_type == "products" else self.prices
        for target in targets:
            found = table.get(target)
            if found is None or found.livemode != livemode:
                raise FakeApiError(
                    400, "target_not_found", f"No such {table.kind} to target: {target}"
                )

    def discounts_with_code(self, code: str, *, livemode: bool) -> list[Discount]:
        """The rules a code redeems (codes are not unique), newest first; archived
        ones left out. Case does not matter: codes are stored upper-cased."""
        wanted = code.upper()
        return self.discounts.newest(
            livemode, keep=lambda d: d.code == wanted and not d.archived, limit=len(self.discounts)
        )

    def add_redemption(
        self,
        rule: Discount,
        customer: str,
        amount_saved: int,
        charge: Charge | None = None,
        subscription: str | None = None,
    ) -> Redemption:
        """Record a use of ``rule`` by ``customer`` (its id): a redemptions row,
        ``times_redeemed`` counted up. ``charge``, if any, gives the row its
        amount and currency."""
        who = self.customers.find(customer)
        redemption = Redemption(
            customer=who.id,
            customer_name=who.name,
            customer_email=who.email,
            subscription=subscription,
            charge=charge.id if charge is not None else None,
            charge_amount=charge.amount if charge is not None else None,
            currency=charge.currency if charge is not None else (rule.currency or "ils"),
            amount_saved=amount_saved,
            created=self.now(),
        )
        rule.redemptions.append(redemption)
        rule.times_redeemed += 1
        return redemption

    # -- queries ----------------------------------------------------------------------

    def all_charges(self) -> list[Charge]:
        return list(self.charges.values())

    def charges_of(self, customer_id: str) -> list[Charge]:
        return list(self._charges_by_customer.get(customer_id, ()))

    def recent_charges(self, customer_id: str | None, limit: int = LIST_LIMIT) -> list[Charge]:
        """Newest first, at most ``limit``: walks the tail of an index, never everything."""
        if customer_id is None:
            return list(islice(reversed(self.charges.values()), limit))
        return list(islice(reversed(self._charges_by_customer.get(customer_id, [])), limit))

    def charges_by_idempotency_key(self) -> dict[str, list[Charge]]:
        return {key: list(group) for key, group in self._charges_by_idempotency_key.items()}

    def iter_charges(self) -> Iterator[Charge]:
        return iter(self.charges.values())
