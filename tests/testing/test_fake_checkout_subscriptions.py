"""fake.complete_checkout on a session selling a recurring price, alone or with
line items (a mixed session): the subscription it starts, the one charge of
the first period and the lines, its document, and the exact events, in order
(REFERENCE.md 8.2, 8.3 and 9); then the billing engine renews it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import ching_async
from ching_async.testing import FakeApiError, FakeChing
from tests._support.billing import Events
from tests._support.checkout import URLS, Shop, shop

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)  # a month of 31 days: renews on April 1
MONTH = timedelta(days=31)
SETUP = {"name": "Setup", "amount_agorot": 2000}


@pytest.fixture
def fake_ching_options() -> dict[str, Any]:
    return {"seed": 5, "clock": lambda: START, "webhook_delivery": "manual"}


@pytest.fixture
def sells(fake: FakeChing) -> Shop:
    sells = shop(fake)
    fake.add_webhook_endpoint("http://127.0.0.1:9/events")  # after the seeding
    return sells


async def open_session(ching: ching_async.Client, customer: str, **body: Any) -> str:
    session = await ching.checkout_sessions.create(customer=customer, **URLS, **body)
    return session.id


def trial_price(fake: FakeChing, sells: Shop, days: int) -> str:
    recurring = {"interval": "month", "trial_period_days": days}
    return fake.add_price(sells.product, unit_amount=4900, type="recurring", recurring=recurring).id


@pytest.mark.parametrize(
    ("line_items", "first"), [(None, 4900), ([SETUP], 6900)], ids=["recurring", "mixed"]
)
async def test_the_first_period_is_charged_with_the_lines_then_the_plan_renews(
    fake: FakeChing,
    sells: Shop,
    ching_client: ching_async.Client,
    line_items: list[dict[str, Any]] | None,
    first: int,
) -> None:
    session_id = await open_session(
        ching_client, sells.customer, price=sells.monthly, line_items=line_items
    )
    events = Events(fake)
    charge = fake.complete_checkout(session_id)

    assert charge is not None
    assert (charge.amount, charge.status, charge.customer) == (first, "succeeded", sells.customer)
    [sub] = fake.subscriptions()
    assert (sub.customer, sub.price, sub.status, sub.latest_charge) == (
        sells.customer,
        sells.monthly,
        "active",
        charge.id,
    )
    assert sub.default_payment_method == charge.payment_method
    assert (sub.current_period_start, sub.current_period_end) == (START, START + MONTH)
    [document] = fake.documents()
    assert (document.charge, document.amount) == (charge.id, first)
    created, paid = events.new()
    assert (created.type, paid.type) == ("subscription.created", "charge.succeeded")
    assert (created.data["id"], created.data["status"]) == (sub.id, "active")
    assert created.data["latest_charge"] == paid.data["id"] == charge.id
    assert paid.data["document"] == document.id
    stored = fake.checkout_session(session_id)
    assert (stored.status, stored.subscription, stored.charges) == (
        "succeeded",
        sub.id,
        [charge.id],
    )
    # The card typed on the page bills the subscription; it is not saved to the customer.
    assert fake.payment_method(charge.payment_method).status == "active"
    assert fake.payment_methods_for(sells.customer) == []
    assert (await ching_client.checkout_sessions.retrieve(session_id)).status == "succeeded"
    got = await ching_client.subscriptions.retrieve(sub.id)
    assert (got.status, got.next_charge_amount) == ("active", 4900)
    with pytest.raises(FakeApiError, match="SESSION_NOT_PENDING"):
        fake.complete_checkout(session_id)

    fake.advance(MONTH)  # the renewal bills the plan alone, to the same card
    assert events.timed() == [
        ("charge.succeeded", START + MONTH),
        ("subscription.updated", START + MONTH),
    ]
    renewal = fake.charges_for(sells.customer)[-1]
    assert (renewal.amount, renewal.payment_method) == (4900, charge.payment_method)
    assert fake.subscription(sub.id).latest_charge == renewal.id


@pytest.mark.parametrize(
    ("line_items", "now", "events_now"),
    [
        (None, None, ["subscription.created"]),
        ([SETUP], 2000, ["subscription.created", "charge.succeeded"]),
    ],
    ids=["recurring", "mixed"],
)
async def test_in_a_trial_only_the_lines_are_charged_and_the_plan_at_its_end(
    fake: FakeChing,
    sells: Shop,
    ching_client: ching_async.Client,
    line_items: list[dict[str, Any]] | None,
    now: int | None,
    events_now: list[str],
) -> None:
    trial = trial_price(fake, sells, 7)
    session_id = await open_session(
        ching_client, sells.customer, price=trial, line_items=line_items
    )
    events = Events(fake)
    charge = fake.complete_checkout(session_id)

    assert (charge.amount if charge is not None else None) == now
    [sub] = fake.subscriptions()
    assert (sub.status, sub.trial_end, sub.current_period_end) == (
        "trialing",
        START + timedelta(days=7),
        START + timedelta(days=7),
    )
    assert events.types() == events_now
    assert fake.checkout_session(session_id).status == "succeeded"
    assert sub.default_payment_method is not None

    fake.advance(timedelta(days=7))
    assert events.timed() == [
        ("subscription.trial_will_end", START + timedelta(days=4)),
        ("charge.succeeded", START + timedelta(days=7)),
        ("subscription.updated", START + timedelta(days=7)),
    ]
    plan_charge = fake.charges_for(sells.customer)[-1]
    assert (plan_charge.amount, plan_charge.payment_method) == (4900, sub.default_payment_method)
    assert fake.subscription(sub.id).status == "active"


async def test_a_declined_charge_leaves_it_incomplete_until_another_try_pays(
    fake: FakeChing, sells: Shop, ching_client: ching_async.Client
) -> None:
    session_id = await open_session(
        ching_client, sells.customer, price=sells.monthly, line_items=[SETUP]
    )
    events = Events(fake)
    declined = fake.complete_checkout(session_id, declines=True)

    assert declined is not None
    assert (declined.amount, declined.status) == (6900, "failed")
    [sub] = fake.subscriptions()
    assert (sub.status, sub.latest_charge) == ("incomplete", declined.id)
    created, failed = events.new()
    assert (created.type, created.data["status"], failed.type) == (
        "subscription.created",
        "incomplete",
        "charge.failed",
    )
    assert fake.checkout_session(session_id).status == "pending"  # open for another try
    assert fake.payment_method(declined.payment_method).status == "inactive"

    paid = fake.complete_checkout(session_id, card_index=1)

    assert paid is not None
    assert (paid.amount, paid.status) == (6900, "succeeded")
    assert [s.id for s in fake.subscriptions()] == [sub.id]  # the same one, not a second
    assert (sub.status, sub.latest_charge, sub.default_payment_method) == (
        "active",
        paid.id,
        paid.payment_method,
    )
    updated, succeeded = events.new()  # updated, not created (SKILL; SKILL-WH)
    assert (updated.type, updated.data["previous_status"], updated.data["status"]) == (
        "subscription.updated",
        "incomplete",
        "active",
    )
    assert (succeeded.type, succeeded.data["id"]) == ("charge.succeeded", paid.id)
    stored = fake.checkout_session(session_id)
    assert (stored.status, stored.charges) == ("succeeded", [declined.id, paid.id])
    assert [d.charge for d in fake.documents()] == [paid.id]
    fake.advance(timedelta(hours=23))  # paid: it does not expire as an incomplete one would
    assert fake.subscription(sub.id).status == "active"
    assert events.types() == []


async def test_a_rule_on_the_plan_lasts_on_the_subscription_one_on_a_line_is_used_once(
    fake: FakeChing, sells: Shop, ching_client: ching_async.Client
) -> None:
    setup = fake.add_product(name="Setup").id
    on_plan = fake.add_discount(
        name="First month",
        redemption="automatic",
        target_type="prices",
        targets=[sells.monthly],
        value_type="amount",
        value=1000,
        currency="ils",
    )
    on_line = fake.add_discount(
        name="Half setup", code="SETUP50", target_type="products", targets=[setup], value=5000
    )
    session_id = await open_session(
        ching_client,
        sells.customer,
        price=sells.monthly,
        line_items=[{**SETUP, "product": setup}],
        coupon_codes=["SETUP50"],
    )
    events = Events(fake)
    charge = fake.complete_checkout(session_id)

    assert charge is not None
    assert charge.amount == (4900 - 1000) + (2000 - 1000)
    [sub] = fake.subscriptions()
    assert events.types() == [
        "subscription.created",
        "discount.applied",
        "charge.succeeded",
        "discount.expired",  # a `once` rule, used by the first charge
    ]
    [applied] = sub.discounts
    assert (applied.rule.id, applied.status, applied.charges_applied) == (
        on_plan.id,
        "completed",
        1,
    )
    assert [(r.subscription, r.charge, r.amount_saved) for r in on_plan.redemptions] == [
        (sub.id, charge.id, 1000)
    ]
    assert [(r.subscription, r.charge, r.amount_saved) for r in on_line.redemptions] == [
        (None, charge.id, 1000)
    ]
    assert fake.checkout_session(session_id).discounts == [on_plan.id, on_line.id]

    fake.advance(MONTH)
    assert fake.charges_for(sells.customer)[-1].amount == 4900  # both were for once


async def test_a_saved_card_bills_it_and_no_document_is_asked_for_the_first_charge(
    fake: FakeChing, sells: Shop, ching_client: ching_async.Client
) -> None:
    card = fake.add_payment_method(sells.customer).id
    session_id = await open_session(
        ching_client, sells.customer, price=sells.monthly, create_document=False
    )
    charge = fake.complete_checkout(session_id, payment_method=card)

    assert charge is not None
    assert (charge.payment_method, charge.document) == (card, None)
    [sub] = fake.subscriptions()
    assert sub.default_payment_method == card
    assert [c.id for c in fake.payment_methods_for(sells.customer)] == [card]  # still saved
    fake.advance(MONTH)
    renewal = fake.charges_for(sells.customer)[-1]
    assert (renewal.payment_method, renewal.amount) == (card, 4900)
    assert [d.charge for d in fake.documents()] == [renewal.id]  # renewals have theirs


async def test_a_declined_trial_checkout_paid_on_another_try_is_trialing(
    fake: FakeChing, sells: Shop, ching_client: ching_async.Client
) -> None:
    trial = trial_price(fake, sells, 14)
    session_id = await open_session(ching_client, sells.customer, price=trial, line_items=[SETUP])
    events = Events(fake)
    declined = fake.complete_checkout(session_id, declines=True)
    assert declined is not None
    assert declined.amount == 2000  # the lines only: the plan waits for the trial's end
    [sub] = fake.subscriptions()
    assert sub.status == "incomplete"
    paid = fake.complete_checkout(session_id)
    assert paid is not None
    assert (paid.amount, sub.status) == (2000, "trialing")
    assert events.types() == [
        "subscription.created",
        "charge.failed",
        "subscription.updated",
        "charge.succeeded",
    ]


async def test_a_free_plan_starts_with_nothing_charged(
    fake: FakeChing, sells: Shop, ching_client: ching_async.Client
) -> None:
    free = fake.add_price(
        sells.product, unit_amount=0, type="recurring", recurring={"interval": "month"}
    ).id
    session_id = await open_session(ching_client, sells.customer, price=free)
    events = Events(fake)
    assert fake.complete_checkout(session_id) is None
    [sub] = fake.subscriptions()
    assert (sub.status, sub.latest_charge) == ("active", None)
    assert events.types() == ["subscription.created"]
    assert fake.charges() == []
    assert fake.checkout_session(session_id).status == "succeeded"
