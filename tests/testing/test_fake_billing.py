"""FakeChing's billing engine, one lifecycle rule per test, on a fixed clock that
only `fake.advance` moves: the exact events each step fires, when, and the
charges, documents and subscription states it leaves (REFERENCE.md 9, 11, 12)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

import ching_async
from ching_async import SubscriptionStatus
from ching_async.testing import FakeChing
from ching_async.webhooks import aiohttp_handler
from tests._support.billing import Events, Plan
from tests._support.fake_client import client_for
from tests._support.loopback import serving

START = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)  # a month end: periods clamp (Feb 28)
DAY = timedelta(days=1)


@pytest.fixture
async def fake() -> AsyncIterator[FakeChing]:
    async with FakeChing(seed=3, clock=lambda: START, webhook_delivery="manual") as server:
        yield server


@pytest.fixture
def plan(fake: FakeChing) -> Plan:
    plan = Plan.on(fake)
    # Registered after the seeding: only what the test does is recorded.
    fake.add_webhook_endpoint("http://127.0.0.1:9/hooks")
    return plan


@pytest.fixture
async def ching(fake: FakeChing) -> AsyncIterator[ching_async.Client]:
    async with client_for(fake) as client:
        yield client


def monthly(fake: FakeChing, amount: int, **recurring: Any) -> str:
    product = fake.add_product(name=f"Plan {amount}").id
    shape = {"interval": "month", **recurring}
    return fake.add_price(product, unit_amount=amount, type="recurring", recurring=shape).id


def amounts(fake: FakeChing, plan: Plan) -> list[tuple[int, str]]:
    return [(c.amount, c.status) for c in fake.charges_for(plan.customer)]


# ------------------------------------------------------------ renewals
async def test_each_period_end_charges_the_card_and_issues_a_document(
    fake: FakeChing, plan: Plan
) -> None:
    events = Events(fake)
    sub = fake.add_subscription(plan.customer, plan.pro, payment_method=plan.card)
    assert events.types() == ["subscription.created", "charge.succeeded"]
    assert (sub.current_period_start, sub.current_period_end) == (
        START,
        datetime(2026, 2, 28, 9, tzinfo=UTC),
    )
    fake.advance(28 * DAY)  # to Feb 28, 09:00 exactly
    assert events.timed() == [
        ("charge.succeeded", datetime(2026, 2, 28, 9, tzinfo=UTC)),
        ("subscription.updated", datetime(2026, 2, 28, 9, tzinfo=UTC)),
    ]
    fake.advance(365 * DAY)
    # The anchor's day every month, clamped in February only.
    assert fake.subscription(sub.id).current_period_end == datetime(2027, 3, 31, 9, tzinfo=UTC)
    charges = fake.charges_for(plan.customer)
    assert [c.created.date().isoformat() for c in charges[:4]] == [
        "2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30",
    ]  # fmt: skip
    assert len(charges) == 14
    assert {c.amount for c in charges} == {9900}
    assert {c.payment_method for c in charges} == {plan.card}
    assert [d.charge for d in fake.documents()] == [c.id for c in charges]
    assert fake.subscription(sub.id).latest_charge == charges[-1].id


async def test_nothing_is_charged_during_a_trial_or_for_a_free_plan(
    fake: FakeChing, plan: Plan
) -> None:
    free = monthly(fake, 0)
    events = Events(fake)
    sub = fake.add_subscription(plan.customer, free)
    assert (sub.status, sub.default_payment_method) == ("active", None)
    fake.advance(62 * DAY)
    assert events.types() == [
        "subscription.created",
        "subscription.updated",
        "subscription.updated",
    ]
    assert (fake.charges(), fake.documents()) == ([], [])


async def test_a_trial_warns_3_days_before_its_end_then_charges(
    fake: FakeChing, plan: Plan
) -> None:
    trial = monthly(fake, 9900, trial_period_days=14)
    events = Events(fake)
    sub = fake.add_subscription(plan.customer, trial)
    trial_end = START + 14 * DAY
    assert (sub.status, sub.trial_end, sub.current_period_end) == ("trialing", trial_end, trial_end)
    assert events.types() == ["subscription.created"]
    assert fake.charges() == []
    fake.advance(10 * DAY)
    assert events.types() == []
    fake.advance(5 * DAY)
    assert events.timed() == [
        ("subscription.trial_will_end", trial_end - 3 * DAY),
        ("charge.succeeded", trial_end),
        ("subscription.updated", trial_end),
    ]
    after = fake.subscription(sub.id)
    assert (after.status, after.billing_cycle_anchor) == ("active", trial_end)
    assert after.current_period_end == datetime(2026, 3, 14, 9, tzinfo=UTC)
    assert amounts(fake, plan) == [(9900, "succeeded")]


async def test_a_trial_of_under_3_days_warns_at_once(fake: FakeChing, plan: Plan) -> None:
    events = Events(fake)
    fake.add_subscription(plan.customer, monthly(fake, 9900, trial_period_days=2))
    assert events.types() == ["subscription.created", "subscription.trial_will_end"]


# -------------------------------------------------------------- dunning
async def test_a_declined_renewal_is_retried_on_days_3_7_14_then_canceled(
    fake: FakeChing, plan: Plan
) -> None:
    sub = fake.add_subscription(plan.customer, plan.pro)
    fake.decline_next_charges(plan.card)
    events = Events(fake)
    renewal = sub.current_period_end
    fake.advance(28 * DAY)
    assert events.timed() == [("charge.failed", renewal), ("subscription.updated", renewal)]
    assert fake.subscription(sub.id).status == "past_due"
    update = fake.webhook_events()[-1].to_json()["data"]
    assert (update["status"], update["previous_status"]) == ("past_due", "active")
    fake.advance(14 * DAY)
    assert events.timed() == [
        ("charge.failed", renewal + 3 * DAY),
        ("charge.failed", renewal + 7 * DAY),
        ("charge.failed", renewal + 14 * DAY),
        ("subscription.canceled", renewal + 14 * DAY),
    ]
    assert fake.subscription(sub.id).status == "canceled"
    fake.advance(90 * DAY)
    assert events.types() == []
    assert amounts(fake, plan) == [(9900, "succeeded")] + [(9900, "failed")] * 4


async def test_a_retry_that_is_paid_makes_it_active_again(fake: FakeChing, plan: Plan) -> None:
    sub = fake.add_subscription(plan.customer, plan.pro)
    fake.decline_next_charges(plan.card, 2)  # the renewal and the day-3 retry
    events = Events(fake)
    fake.advance(28 * DAY + 7 * DAY)
    assert events.types() == [
        "charge.failed",
        "subscription.updated",  # past_due
        "charge.failed",  # day 3
        "charge.succeeded",  # day 7
        "subscription.updated",  # active
    ]
    after = fake.subscription(sub.id)
    assert after.status == "active"
    assert after.current_period_end == datetime(2026, 3, 31, 9, tzinfo=UTC)  # dates kept
    fake.advance(24 * DAY)
    assert events.types() == ["charge.succeeded", "subscription.updated"]


async def test_an_incomplete_subscription_expires_after_23_hours(
    fake: FakeChing, ching: ching_async.Client, plan: Plan
) -> None:
    fake.decline_next_charges(plan.card, 1)
    events = Events(fake)
    sub = await ching.subscriptions.create(
        customer=plan.customer, price=plan.pro, payment_method=plan.card
    )
    assert sub.status is SubscriptionStatus.INCOMPLETE
    assert events.types() == ["subscription.created", "charge.failed"]
    fake.advance(timedelta(hours=22, minutes=59))
    assert events.types() == []
    fake.advance(timedelta(minutes=1))
    assert events.timed() == [("subscription.updated", START + timedelta(hours=23))]
    assert (await ching.subscriptions.retrieve(sub.id)).status is (
        SubscriptionStatus.INCOMPLETE_EXPIRED
    )
    fake.advance(90 * DAY)  # the renewal cron skips it
    assert events.types() == []
    assert len(fake.charges()) == 1


# ----------------------------------------------------------- cancellation
async def test_cancel_at_period_end_stays_active_until_then(
    fake: FakeChing, ching: ching_async.Client, plan: Plan
) -> None:
    sub = fake.add_subscription(plan.customer, plan.pro)
    events = Events(fake)
    fake.advance(10 * DAY)
    marked = await ching.subscriptions.cancel(sub.id, cancel_at_period_end=True)
    assert (marked.status, marked.cancel_at_period_end) == (SubscriptionStatus.ACTIVE, True)
    assert (marked.next_charge_amount, marked.next_charge_discounts) == (None, [])
    fake.advance(17 * DAY)
    assert (await ching.subscriptions.retrieve(sub.id)).status is SubscriptionStatus.ACTIVE
    fake.advance(1 * DAY)
    assert events.timed() == [
        ("subscription.updated", START + 10 * DAY),
        ("subscription.canceled", sub.current_period_end),
    ]
    assert len(fake.charges()) == 1  # never renewed
    again = await ching.subscriptions.cancel(sub.id)  # an ended one is answered as it is
    assert again.status is SubscriptionStatus.CANCELED
    assert events.types() == []


# ----------------------------------------------------------- price changes
async def test_an_upgrade_is_charged_for_the_days_left_and_keeps_the_renewal_date(
    fake: FakeChing, ching: ching_async.Client, plan: Plan
) -> None:
    sub = fake.add_subscription(plan.customer, plan.basic)  # Jan 31 -> Feb 28: 28 days
    fake.advance(7 * DAY + timedelta(hours=1))  # 20 days and 23 hours left: 21 days
    events = Events(fake)
    change = await ching.subscriptions.change_price(sub.id, price=plan.team)
    assert (change.kind, change.applied, change.charge_amount) == ("upgrade", True, 10500)
    assert change.subscription is not None
    assert change.subscription.current_period_end == sub.current_period_end
    assert events.types() == ["charge.succeeded", "subscription.updated"]
    assert fake.documents()[-1].amount == 10500  # (199.00 - 49.00) / 30 x 21
    fake.advance(21 * DAY)
    assert amounts(fake, plan)[-1] == (19900, "succeeded")


async def test_a_downgrade_waits_for_the_period_end_and_same_withdraws_it(
    fake: FakeChing, ching: ching_async.Client, plan: Plan
) -> None:
    sub = fake.add_subscription(plan.customer, plan.team)
    events = Events(fake)
    change = await ching.subscriptions.change_price(sub.id, price=plan.basic)
    assert (change.kind, change.applied, change.scheduled_for) == (
        "downgrade",
        False,
        sub.current_period_end,
    )
    assert change.subscription is not None
    assert (change.subscription.pending_price, change.subscription.next_charge_amount) == (
        plan.basic,
        4900,
    )
    same = await ching.subscriptions.change_price(sub.id, price=plan.team)
    assert (same.kind, same.applied, same.scheduled_for) == ("same", False, None)
    assert same.subscription is not None
    assert same.subscription.pending_price is None
    await ching.subscriptions.change_price(sub.id, price=plan.pro)
    assert events.types() == ["subscription.updated"] * 3
    with pytest.raises(ching_async.DowngradeImmediateNotSupportedError):
        await ching.subscriptions.change_price(
            sub.id, price=plan.basic, change_timing="immediately"
        )
    assert fake.subscription(sub.id).pending_price == plan.pro  # the refusal changed nothing
    fake.advance(28 * DAY)
    after = fake.subscription(sub.id)
    assert (after.price, after.pending_price, after.pending_effective_at) == (plan.pro, None, None)
    assert amounts(fake, plan) == [(19900, "succeeded"), (9900, "succeeded")]


async def test_an_upgrade_at_period_end_charges_nothing_now(
    fake: FakeChing, ching: ching_async.Client, plan: Plan
) -> None:
    sub = fake.add_subscription(plan.customer, plan.basic)
    change = await ching.subscriptions.change_price(
        sub.id, price=plan.team, change_timing="at_period_end"
    )
    assert (change.kind, change.applied, change.charge_amount) == ("upgrade", False, None)
    fake.advance(28 * DAY)
    assert amounts(fake, plan) == [(4900, "succeeded"), (19900, "succeeded")]


# ------------------------------------------------------- price apply modes
@pytest.mark.parametrize(
    ("apply_mode", "existing", "newcomer"),
    [("now", 12900, 12900), ("new_subscribers_only", 9900, 12900)],
)
async def test_a_price_change_reaches_existing_subscriptions_as_its_mode_says(
    fake: FakeChing,
    ching: ching_async.Client,
    plan: Plan,
    apply_mode: str,
    existing: int,
    newcomer: int,
) -> None:
    old = fake.add_subscription(plan.customer, plan.pro)
    await ching.prices.update(plan.pro, apply_mode=apply_mode, unit_amount=12900)  # type: ignore[arg-type]
    other = fake.add_customer(name="Noa")
    new = fake.add_subscription(other.id, plan.pro)
    assert [c.amount for c in fake.charges_for(other.id)] == [newcomer]
    assert (await ching.subscriptions.retrieve(old.id)).next_charge_amount == existing
    assert (await ching.subscriptions.retrieve(new.id)).next_charge_amount == newcomer
    fake.advance(28 * DAY)
    assert amounts(fake, plan) == [(9900, "succeeded"), (existing, "succeeded")]
    if apply_mode == "new_subscribers_only":  # a later `now` change reaches everyone
        await ching.prices.update(plan.pro, apply_mode="now", unit_amount=13900)
        fake.advance(31 * DAY)
        assert amounts(fake, plan)[-1] == (13900, "succeeded")


async def test_a_scheduled_price_change_reaches_renewals_after_its_date(
    fake: FakeChing, ching: ching_async.Client, plan: Plan
) -> None:
    fake.add_subscription(plan.customer, plan.pro)
    when = START + 40 * DAY  # between the renewals of Feb 28 and Mar 31
    await ching.prices.update(
        plan.pro, apply_mode="scheduled", effective_date=when, unit_amount=12900
    )
    fake.advance(60 * DAY)
    assert [a for a, _ in amounts(fake, plan)] == [9900, 9900, 12900]


# ---------------------------------------------------------------- discounts
@pytest.mark.parametrize(
    ("duration", "extra", "discounted", "expired_at"),
    [
        ("once", {}, 1, START),
        ("n_charges", {"duration_charges": 3}, 3, datetime(2026, 3, 31, 9, tzinfo=UTC)),
        ("until_date", {"duration_until": "2026-04-15T00:00:00Z"}, 3,
         datetime(2026, 4, 15, tzinfo=UTC)),
        ("forever", {}, 5, None),
    ],
)  # fmt: skip
async def test_a_discount_lasts_its_duration(
    fake: FakeChing,
    ching: ching_async.Client,
    plan: Plan,
    duration: str,
    extra: dict[str, Any],
    discounted: int,
    expired_at: datetime | None,
) -> None:
    rule = fake.add_discount(code="LAUNCH", value=2000, duration=duration, **extra)
    events = Events(fake)
    sub = await ching.subscriptions.create(
        customer=plan.customer, price=plan.pro, payment_method=plan.card, discounts=["LAUNCH"]
    )
    fake.advance(4 * 31 * DAY)  # 4 renewals: 5 charges
    assert [a for a, _ in amounts(fake, plan)] == [7920] * discounted + [9900] * (5 - discounted)
    fired = [(e.type, e.created) for e in events.new() if e.type.startswith("discount.")]
    assert fired == [("discount.applied", START)] + (
        [("discount.expired", expired_at)] if expired_at else []
    )
    [applied] = fake.subscription(sub.id).discounts
    assert applied.status == ("active" if expired_at is None else "completed")
    assert applied.to_json()["discount_row_id"] == rule.id
    assert fake.discount(rule.id).times_redeemed == 1
    listed = await ching.discounts.redemptions(rule.id)
    assert [(r.subscription, r.amount_saved) for r in listed.redemptions] == [(sub.id, 1980)]
    assert [(a.subscription, a.status) for a in listed.applied_discounts] == [
        (sub.id, applied.status)
    ]


async def test_the_next_charge_estimate_counts_the_discounts_still_running(
    fake: FakeChing, ching: ching_async.Client, plan: Plan
) -> None:
    fake.add_discount(code="TWICE", value=2000, duration="n_charges", duration_charges=2)
    fake.add_discount(
        name="Loyal", redemption="automatic", code=None, value_type="amount", value=500,
        currency="ils", duration="forever", target_type="prices", targets=[plan.pro],
    )  # fmt: skip
    fake.add_discount(
        name="Other plan", redemption="automatic", code=None, target_type="prices",
        targets=[plan.basic], duration="forever",
    )  # fmt: skip
    sub = await ching.subscriptions.create(
        customer=plan.customer, price=plan.pro, payment_method=plan.card, discounts=["twice"]
    )
    assert [c.amount for c in fake.charges()] == [9900 - 1980 - 500]  # 20%, then 5.00 off
    assert (sub.next_charge_subtotal, sub.next_charge_discount_amount) == (9900, 2480)
    lines = [(d.name, d.amount_off, d.charges_remaining) for d in sub.next_charge_discounts or ()]
    assert lines == [("Test Discount", 1980, 1), ("Loyal", 500, None)]
    fake.advance(28 * DAY)
    now = await ching.subscriptions.retrieve(sub.id)
    assert (now.next_charge_amount, len(now.next_charge_discounts or ())) == (9400, 1)


async def test_a_code_that_cannot_apply_is_refused_with_its_reason(
    fake: FakeChing, ching: ching_async.Client, plan: Plan
) -> None:
    fake.add_discount(code="BASIC", target_type="prices", targets=[plan.basic])
    fake.add_discount(code="OVER", max_redemptions=1)
    fake.add_subscription(fake.add_customer().id, plan.basic, discounts=["OVER"])
    for code, reason in [("NOPE", "discount_code_not_found"), ("BASIC", "not_applicable"),
                         ("OVER", "exhausted")]:  # fmt: skip
        with pytest.raises(ching_async.BadRequestError) as refused:
            await ching.subscriptions.create(
                customer=plan.customer, price=plan.pro, payment_method=plan.card, discounts=[code]
            )
        assert refused.value.code == reason
    assert [s.customer for s in fake.subscriptions()] != [plan.customer]
    assert fake.charges_for(plan.customer) == []


# -------------------------------------------------------------- delivery
async def test_billing_events_reach_a_receiver_signed(fake: FakeChing, plan: Plan) -> None:
    received: list[ching_async.Event] = []

    async def on_event(event: ching_async.Event) -> None:
        received.append(event)

    app = web.Application()
    secret = "whsec_" + "5" * 32
    app.router.add_post("/hooks", aiohttp_handler(secret, on_event))
    async with serving(app) as url:
        fake.add_webhook_endpoint(url + "/hooks", secret=secret)
        sub = fake.add_subscription(plan.customer, plan.pro)
        renewal = sub.current_period_end
        fake.advance(28 * DAY)
        await fake.deliver_pending()
    kinds = [(e.type, type(e.data).__name__) for e in received]
    assert kinds == [
        ("subscription.created", "Subscription"),
        ("charge.succeeded", "Charge"),
        ("charge.succeeded", "Charge"),
        ("subscription.updated", "Subscription"),
    ]
    updated = received[-1].data
    assert isinstance(updated, ching_async.Subscription)
    assert (updated.id, updated.previous_status, updated.current_period_start) == (
        sub.id,
        SubscriptionStatus.ACTIVE,
        renewal,
    )
