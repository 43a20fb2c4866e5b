"""The fake's in-memory ledger and the business rules of each operation.

Every operation is synchronous, so a request's state change is atomic with respect to
other requests on the event loop. Indexes keep reads O(result), not O(all charges).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from ._envelope import FakeApiError, Issue, invalid_fields, not_found
from ._ids import IdFactory
from ._models import OPEN_SESSION_STATUSES, Charge, Customer, PaymentMethod, SetupSession
from ._validation import ChargeParams, SetupSessionParams

SESSION_LIFETIME = timedelta(hours=24)
AUTHORIZATION_WINDOW = timedelta(days=7)
LIST_LIMIT = 100
DECLINE_CODE = "card_declined"
DECLINE_MESSAGE = "The card was declined."


class Ledger:
    def __init__(self, clock: Callable[[], datetime], ids: IdFactory) -> None:
        self.now = clock
        self._ids = ids
        self.customers: dict[str, Customer] = {}
        self.payment_methods: dict[str, PaymentMethod] = {}
        self.setup_sessions: dict[str, SetupSession] = {}
        self.charges: dict[str, Charge] = {}  # insertion order == creation order
        self._charges_by_customer: dict[str, list[Charge]] = {}
        self._pms_by_customer: dict[str, list[PaymentMethod]] = {}
        self._charges_by_idempotency_key: dict[str, list[Charge]] = {}

    # -- customers and payment methods ------------------------------------------------

    def add_customer(
        self,
        *,
        name: str,
        email: str | None,
        customer_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        livemode: bool = False,
    ) -> Customer:
        if customer_id is None:
            customer_id = self._ids.new_id("cus", self.customers)
        elif customer_id in self.customers:
            raise ValueError(f"customer {customer_id!r} already exists")
        customer = Customer(
            id=customer_id,
            name=name,
            email=email,
            metadata=dict(metadata or {}),
            livemode=livemode,
            created=self.now(),
        )
        self.customers[customer.id] = customer
        self._pms_by_customer[customer.id] = []
        return customer

    def add_payment_method(
        self, customer_id: str, *, declines: bool, brand: str, last4: str, livemode: bool
    ) -> PaymentMethod:
        customer = self.get_customer(customer_id)
        method = PaymentMethod(
            id=self._ids.new_id("pm", self.payment_methods),
            customer=customer.id,
            brand=brand,
            last4=last4,
            declines=declines,
            livemode=livemode,
            created=self.now(),
        )
        self.payment_methods[method.id] = method
        self._pms_by_customer[customer.id].append(method)
        return method

    def payment_methods_of(self, customer_id: str) -> list[PaymentMethod]:
        return list(self._pms_by_customer.get(customer_id, ()))

    def get_customer(self, customer_id: str) -> Customer:
        try:
            return self.customers[customer_id]
        except KeyError:
            raise not_found("customer", customer_id) from None

    # -- setup sessions ---------------------------------------------------------------

    def get_setup_session(self, session_id: str) -> SetupSession:
        try:
            return self.setup_sessions[session_id]
        except KeyError:
            raise not_found("setup session", session_id) from None

    def create_setup_session(self, params: SetupSessionParams, *, livemode: bool) -> SetupSession:
        customer = self.get_customer(params.customer)
        now = self.now()
        session = SetupSession(
            id=self._ids.new_id("seti", self.setup_sessions),
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

    def _open_session(self, session_id: str) -> SetupSession:
        session = self.get_setup_session(session_id)
        status = session.status_at(self.now())
        if status == "expired":
            raise FakeApiError(400, "SESSION_EXPIRED", f"Setup session {session_id} has expired")
        if status not in OPEN_SESSION_STATUSES:
            raise FakeApiError(
                400, "SESSION_NOT_PENDING", f"Setup session {session_id} is {status}"
            )
        return session

    def cancel_setup_session(self, session_id: str) -> SetupSession:
        session = self._open_session(session_id)
        session.status = "canceled"
        return session

    def complete_setup_session(
        self, session_id: str, *, declines: bool, brand: str, last4: str
    ) -> PaymentMethod:
        session = self._open_session(session_id)
        method = self.add_payment_method(
            session.customer, declines=declines, brand=brand, last4=last4, livemode=session.livemode
        )
        session.status = "succeeded"
        session.payment_method = method.id
        return method

    # -- charges ----------------------------------------------------------------------

    def get_charge(self, charge_id: str) -> Charge:
        try:
            return self.charges[charge_id]
        except KeyError:
            raise not_found("charge", charge_id) from None

    def _chargeable_method(self, params: ChargeParams) -> PaymentMethod:
        customer = self.get_customer(params.customer)
        method = self.payment_methods.get(params.payment_method)
        if method is None:
            raise not_found("payment method", params.payment_method)
        if method.customer != customer.id:
            raise invalid_fields(
                [Issue(("payment_method",), "Payment method does not belong to the customer")]
            )
        return method

    def create_charge(
        self,
        params: ChargeParams,
        *,
        livemode: bool,
        idempotency_key: str | None = None,
        capture_method: str = "automatic",
    ) -> Charge:
        """Store the attempt, declined or not, as processors keep failed charges too."""
        method = self._chargeable_method(params)
        charge = Charge(
            id=self._ids.new_id("ch", self.charges),
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
        )
        if method.declines:
            charge.failure_code, charge.failure_message = DECLINE_CODE, DECLINE_MESSAGE
        else:
            self._authorize(charge)
        self._store_charge(charge)
        return charge

    def _authorize(self, charge: Charge) -> None:
        charge.authorized_at = charge.created
        if charge.capture_method == "manual":
            charge.status = "requires_capture"
            charge.capturable_until = charge.created + AUTHORIZATION_WINDOW
        else:
            self._mark_captured(charge, charge.amount)

    def _mark_captured(self, charge: Charge, amount: int) -> None:
        # The tax document is issued on capture (deferred for manual capture).
        charge.status = "succeeded"
        charge.captured = True
        charge.amount_captured = amount
        charge.captured_at = self.now()
        charge.document = self._ids.new_id("doc")

    def _store_charge(self, charge: Charge) -> None:
        self.charges[charge.id] = charge
        self._charges_by_customer.setdefault(charge.customer, []).append(charge)
        if charge.idempotency_key is not None:
            self._charges_by_idempotency_key.setdefault(charge.idempotency_key, []).append(charge)

    def capture_charge(self, charge_id: str, amount: int | None) -> Charge:
        charge = self.get_charge(charge_id)
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
        self._mark_captured(charge, charge.amount if amount is None else amount)
        return charge

    def cancel_charge(self, charge_id: str, reason: str) -> Charge:
        charge = self.get_charge(charge_id)
        if charge.status != "requires_capture":
            raise FakeApiError(
                400, "charge_not_cancelable", f"Charge {charge_id} is {charge.status}"
            )
        charge.status = "canceled"
        charge.cancellation_reason = reason
        return charge

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
