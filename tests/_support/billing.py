"""Subscriptions as REFERENCE.md section 9 documents them, every field
filled, a plan to subscribe to on a FakeChing, and the events a fake fired."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from ching_async.testing import FakeChing

SUBSCRIPTION: dict[str, Any] = {
    "id": "sub_4Tg8Lq2Wm1",
    "object": "subscription",
    "customer": "cus_V8ltq1pK_MWH",
    "default_payment_method": "pm_WMc9X22NT1af",
    "status": "active",
    "currency": "ils",
    "items": [{"id": "si_Zr8m1", "price": "price_Qm3v8KdX1p", "quantity": 1}],
    "billing_cycle_anchor": "2026-05-02T10:00:00.000Z",
    "current_period_start": "2026-05-02T10:00:00.000Z",
    "current_period_end": "2026-06-02T10:00:00.000Z",
    "cancel_at_period_end": False,
    "latest_charge": "ch_9mTPfRSDmEOU",
    "trial_end": None,
    "pending_price": "price_Basic1",
    "pending_effective_at": "2026-06-02T10:00:00.000Z",
    "next_charge_subtotal": 4900,
    "next_charge_discount_amount": 980,
    "next_charge_amount": 3920,
    "next_charge_discounts": [
        {
            "name": "Launch",
            "value_type": "percent",
            "value": 2000,
            "duration": "n_charges",
            "amount_off": 980,
            "charges_remaining": 2,
        }
    ],
    "metadata": {"account": "42"},
    "livemode": False,
    "created": "2026-05-02T10:00:00.000Z",
}
PRICE_CHANGE: dict[str, Any] = {
    "kind": "upgrade",
    "applied": True,
    "scheduled_for": None,
    "charge_amount": 7000,
    "charge_currency": "ils",
    "subscription": SUBSCRIPTION,
}
# subscription.updated: the object, and the status it had (SKILL-WH).
SUBSCRIPTION_UPDATED_EVENT: dict[str, Any] = {
    "id": "evt_3Fh",
    "type": "subscription.updated",
    "data": {**SUBSCRIPTION, "status": "past_due", "previous_status": "active"},
    "livemode": False,
    "created": "2026-06-02T10:00:01.000Z",
}


@attrs.frozen
class Plan:
    """A customer with a card, and monthly prices of one product on a FakeChing."""

    customer: str
    card: str
    basic: str  # 49.00 ILS a month
    pro: str  # 99.00 ILS a month
    team: str  # 199.00 ILS a month

    @classmethod
    def on(cls, fake: FakeChing, *, livemode: bool = False) -> Plan:
        mode = {"livemode": livemode}
        customer = fake.add_customer(name="Tal Levi", email="tal@example.com", **mode).id
        card = fake.add_payment_method(customer, **mode).id
        product = fake.add_product(name=PLANS, **mode).id

        def monthly(amount: int) -> str:
            recurring = {"interval": "month"}
            return fake.add_price(
                product, unit_amount=amount, type="recurring", recurring=recurring, **mode
            ).id

        return cls(customer, card, monthly(4900), monthly(9900), monthly(19900))

    @classmethod
    def of(cls, fake: FakeChing, *, livemode: bool = False) -> Plan:
        """The plan `on` seeded on this fake in this mode (seeded now if it was not)."""
        products = [p for p in fake.products() if p.name == PLANS and p.livemode == livemode]
        if not products:
            return cls.on(fake, livemode=livemode)
        prices = sorted(fake.prices(products[0].id), key=lambda p: p.unit_amount)
        customer = next(
            c.id for c in fake.customers() if c.name == "Tal Levi" and c.livemode == livemode
        )
        card = fake.payment_methods_for(customer)[0].id
        return cls(customer, card, *(p.id for p in prices))


PLANS = "Plans"  # the product of a Plan's prices


class Events:
    """The events fired since the last look, as (type, when) or types."""

    def __init__(self, fake: FakeChing) -> None:
        self.fake = fake
        self.seen = len(fake.webhook_events())

    def new(self) -> list[Any]:
        events = self.fake.webhook_events()[self.seen :]
        self.seen += len(events)
        return events

    def types(self) -> list[str]:
        return [e.type for e in self.new()]

    def timed(self) -> list[tuple[str, datetime]]:
        return [(e.type, e.created) for e in self.new()]
