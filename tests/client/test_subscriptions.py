"""subscriptions.*: the wire of each endpoint (read on the server), decoding,
the typed errors of the documented codes, both answers to a declined first
charge, and argument validation (nothing sent)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest

import ching_async
from ching_async import (
    IDEMPOTENCY_METADATA_KEY as MARKER,
)
from ching_async import (
    ChangeTiming,
    PriceChange,
    PriceChangeKind,
    Subscription,
    SubscriptionItem,
    SubscriptionStatus,
)
from ching_async.testing import FakeChing
from ching_async.webhooks import compute_signature, construct_event
from tests._support.billing import PRICE_CHANGE, SUBSCRIPTION, SUBSCRIPTION_UPDATED_EVENT, Plan
from tests._support.fake_client import sent
from tests._support.scripted import Script, envelope


@pytest.fixture
def plan(fake: FakeChing) -> Plan:
    return Plan.on(fake)


async def test_create_sends_the_documented_body_and_charges_the_first_period(
    fake: FakeChing, ching: ching_async.Client, plan: Plan
) -> None:
    launch = fake.add_discount(code="LAUNCH", value=2000, duration="once")
    loyal = fake.add_discount(code="LOYAL", value=500, value_type="amount", currency="ils",
                              duration="forever")  # fmt: skip
    sub = await ching.subscriptions.create(
        customer=plan.customer,
        price=plan.pro,
        payment_method=plan.card,
        discounts=[{"code": "launch"}, {"discount": loyal.id}],
        metadata={"account": "42"},
    )
    [request] = sent(fake, "POST", "/subscriptions")
    assert request.body == {
        "customer": plan.customer,
        "price": plan.pro,
        "payment_method": plan.card,
        "discounts": [{"code": "LAUNCH"}, {"discount": loyal.id}],
        "metadata": {"account": "42", MARKER: request.idempotency_key},
    }
    [charge] = fake.charges()
    assert charge.amount == 9900 - 1980 - 500  # 20% off, then 5.00 off what is left
    assert (sub.status, sub.price, sub.latest_charge) == (
        SubscriptionStatus.ACTIVE,
        plan.pro,
        charge.id,
    )
    assert sub.items == [SubscriptionItem(sub.items[0].id, plan.pro, 1)]
    assert sub.items[0].id is not None
    assert sub.items[0].id.startswith("si_")
    assert sub.metadata == {"account": "42", MARKER: request.idempotency_key}
    # The `once` discount is used up: the next charge takes the forever one off only.
    assert (sub.next_charge_subtotal, sub.next_charge_discount_amount) == (9900, 500)
    assert sub.next_charge_amount == 9400
    assert [d.name for d in sub.next_charge_discounts or ()] == [loyal.name]
    assert [a.status for a in fake.subscription(sub.id).discounts] == ["completed", "active"]
    assert fake.discount(launch.id).times_redeemed == 1


async def test_a_bare_code_is_sent_as_a_code_and_a_free_plan_needs_no_card(
    fake: FakeChing, ching: ching_async.Client, plan: Plan
) -> None:
    fake.add_discount(code="FREE100", value=10000, duration="forever")
    free = fake.add_price(
        fake.add_product(name="Free").id,
        unit_amount=0,
        type="recurring",
        recurring={"interval": "month"},
    )
    sub = await ching.subscriptions.create(
        customer=plan.customer, price=free.id, discounts=["free100"], mark_idempotency_key=False
    )
    [request] = sent(fake, "POST", "/subscriptions")
    assert request.body == {
        "customer": plan.customer,
        "price": free.id,
        "discounts": [{"code": "FREE100"}],
    }
    assert sub.status is SubscriptionStatus.ACTIVE
    assert (sub.latest_charge, sub.default_payment_method, fake.charges()) == (None, None, [])


async def test_retrieve_and_list(fake: FakeChing, ching: ching_async.Client, plan: Plan) -> None:
    first = fake.add_subscription(plan.customer, plan.basic)
    second = fake.add_subscription(plan.customer, plan.pro)
    got = await ching.subscriptions.retrieve(first.id)
    assert [r.path for r in sent(fake, "GET", "/subscriptions/{id}")] == [
        f"/subscriptions/{first.id}"
    ]
    assert (got.id, got.price, got.next_charge_amount) == (first.id, plan.basic, 4900)
    assert got.request_info is not None
    assert got.request_info.method == "GET"
    rows = await ching.subscriptions.list()
    [listed] = sent(fake, "GET", "/subscriptions")
    assert dict(listed.query) == {}
    assert [r.id for r in rows] == [second.id, first.id]
    # Rows: items empty, no estimate, the customer's name.
    assert {(r.items == [], r.next_charge_amount, r.customer_name) for r in rows} == {
        (True, None, "Tal Levi")
    }
    assert [s.id async for s in ching.subscriptions.list()] == [second.id, first.id]


@pytest.mark.parametrize(
    ("at_period_end", "body", "status", "event"),
    [
        (None, None, SubscriptionStatus.CANCELED, "subscription.canceled"),
        (False, {"cancel_at_period_end": False}, SubscriptionStatus.CANCELED,
         "subscription.canceled"),
        (True, {"cancel_at_period_end": True}, SubscriptionStatus.ACTIVE, "subscription.updated"),
    ],
)  # fmt: skip
async def test_cancel(
    fake: FakeChing,
    ching: ching_async.Client,
    plan: Plan,
    at_period_end: bool | None,
    body: dict[str, Any] | None,
    status: SubscriptionStatus,
    event: str,
) -> None:
    fake.add_webhook_endpoint("http://127.0.0.1:9/hook", events=[event])
    sub = fake.add_subscription(plan.customer, plan.pro)
    canceled = await ching.subscriptions.cancel(sub.id, cancel_at_period_end=at_period_end)
    [request] = sent(fake, "POST", "/subscriptions/{id}/cancel")
    assert request.path == f"/subscriptions/{sub.id}/cancel"
    assert request.body == body
    assert canceled.status is status
    assert canceled.cancel_at_period_end is (at_period_end is True)
    assert [e.type for e in fake.webhook_events()] == [event]


@pytest.mark.parametrize(
    ("timing", "wanted", "kind", "applied", "charged"),
    [
        (None, "team", PriceChangeKind.UPGRADE, True, 100_00),
        (ChangeTiming.AT_PERIOD_END, "team", PriceChangeKind.UPGRADE, False, None),
        (None, "basic", PriceChangeKind.DOWNGRADE, False, None),
        ("at_period_end", "basic", PriceChangeKind.DOWNGRADE, False, None),
        (None, "pro", PriceChangeKind.SAME, False, None),
    ],
)
async def test_change_price(
    fake: FakeChing,
    ching: ching_async.Client,
    plan: Plan,
    timing: ChangeTiming | str | None,
    wanted: str,
    kind: PriceChangeKind,
    applied: bool,
    charged: int | None,
) -> None:
    sub = fake.add_subscription(plan.customer, plan.pro)
    price = getattr(plan, wanted)
    change = await ching.subscriptions.change_price(sub.id, price=price, change_timing=timing)
    [request] = sent(fake, "POST", "/subscriptions/{id}/change_price")
    assert request.path == f"/subscriptions/{sub.id}/change_price"
    assert request.body == ({"price": price} if timing is None else
                            {"price": price, "change_timing": str(timing)})  # fmt: skip
    assert isinstance(change, PriceChange)
    if charged:  # 100.00 ILS more a month, for the days of the period left: all of them
        days = (sub.current_period_end - sub.current_period_start).days
        charged = round(charged * days / 30)
    assert (change.kind, change.applied, change.charge_amount) == (kind, applied, charged)
    assert change.charge_currency == ("ils" if charged else None)
    assert change.subscription is not None
    assert change.subscription.price == (price if applied else plan.pro)
    scheduled = not applied and kind is not PriceChangeKind.SAME
    assert change.subscription.pending_price == (price if scheduled else None)
    assert change.scheduled_for == (sub.current_period_end if scheduled else None)
    assert len(fake.charges()) == (2 if charged else 1)


# ----------------------------------------------------------- typed errors
async def test_each_documented_code_raises_its_class(
    fake: FakeChing, ching: ching_async.Client, plan: Plan
) -> None:
    sub = fake.add_subscription(plan.customer, plan.pro)
    with pytest.raises(ching_async.DowngradeImmediateNotSupportedError) as downgrade:
        await ching.subscriptions.change_price(
            sub.id, price=plan.basic, change_timing="immediately"
        )
    assert isinstance(downgrade.value, ching_async.BadRequestError)
    assert (downgrade.value.status, downgrade.value.code) == (
        400,
        "DOWNGRADE_IMMEDIATE_NOT_SUPPORTED",
    )
    one_time = fake.add_price(fake.add_product(name="Setup").id, unit_amount=5000).id
    with pytest.raises(ching_async.PriceNotRecurringError):
        await ching.subscriptions.change_price(sub.id, price=one_time)
    with pytest.raises(ching_async.PriceNotRecurringError):
        await ching.subscriptions.create(
            customer=plan.customer, price=one_time, payment_method=plan.card
        )
    fake.archive_price(plan.team)
    with pytest.raises(ching_async.PriceArchivedError):
        await ching.subscriptions.change_price(sub.id, price=plan.team)
    with pytest.raises(ching_async.CustomerHasActiveSubscriptionError) as busy:
        await ching.customers.delete(plan.customer)
    assert isinstance(busy.value, ching_async.ConflictError)
    await ching.subscriptions.cancel(sub.id)
    assert (await ching.customers.delete(plan.customer)).deleted is True
    assert fake.subscription(sub.id).price == plan.pro  # no refused change took


async def test_a_declined_first_charge_leaves_an_incomplete_subscription(
    fake: FakeChing, ching: ching_async.Client, plan: Plan
) -> None:
    fake.decline_next_charges(plan.card, 1)
    sub = await ching.subscriptions.create(
        customer=plan.customer, price=plan.pro, payment_method=plan.card
    )
    [charge] = fake.charges()
    assert (sub.status, sub.latest_charge) == (SubscriptionStatus.INCOMPLETE, charge.id)
    assert (await ching.charges.retrieve(charge.id)).status == ching_async.ChargeStatus.FAILED
    assert [s.id for s in fake.subscriptions()] == [sub.id]


async def test_or_a_402_card_declined_and_no_subscription(
    fake: FakeChing, ching: ching_async.Client, plan: Plan
) -> None:
    fake.declined_first_charge = "charge_failed"
    fake.decline_next_charges(plan.card)
    with pytest.raises(ching_async.CardDeclinedError) as declined:
        await ching.subscriptions.create(
            customer=plan.customer, price=plan.pro, payment_method=plan.card
        )
    assert (declined.value.status, declined.value.code) == (402, "CHARGE_FAILED")
    assert declined.value.outcome_unknown is False
    assert fake.subscriptions() == []
    assert [c.status for c in fake.charges()] == ["failed"]
    assert len(sent(fake, "POST", "/subscriptions")) == 1  # a refusal is not retried


# ---------------------------------------------------------------- decoding
async def test_the_documented_objects_decode(scripted: Script, client: ching_async.Client) -> None:
    # An item's price may come as the price object: its id is kept.
    objects = {**SUBSCRIPTION, "items": [{"id": "si_1", "price": {"id": "price_X"}, "quantity": 2}]}
    scripted.on("GET", "/ching/v1/subscriptions/sub_4Tg8Lq2Wm1", envelope(SUBSCRIPTION))
    scripted.on("GET", "/ching/v1/subscriptions/sub_X", envelope(objects))
    scripted.on(
        "POST", "/ching/v1/subscriptions/sub_4Tg8Lq2Wm1/change_price", envelope(PRICE_CHANGE)
    )
    sub = await client.subscriptions.retrieve("sub_4Tg8Lq2Wm1")
    change = await client.subscriptions.change_price("sub_4Tg8Lq2Wm1", price="price_Pro")
    lines = [{**line, "ends_at": None} for line in SUBSCRIPTION["next_charge_discounts"]]
    assert sub.to_dict() == SUBSCRIPTION | {
        "next_charge_discounts": lines,
        "customer_name": None,
        "previous_status": None,
    }
    assert sub.pending_price == "price_Basic1"
    assert sub.next_charge_discounts is not None
    assert sub.next_charge_discounts[0].charges_remaining == 2
    assert change.kind is PriceChangeKind.UPGRADE
    assert change.subscription == sub
    with_objects = await client.subscriptions.retrieve("sub_X")
    assert (with_objects.price, with_objects.items[0].quantity if with_objects.items else 0) == (
        "price_X",
        2,
    )
    assert with_objects.raw["items"][0]["price"] == {"id": "price_X"}


def test_subscription_events_decode_with_the_previous_status() -> None:
    body = orjson.dumps(SUBSCRIPTION_UPDATED_EVENT)
    secret = "whsec_test"
    event = construct_event(body, compute_signature(body, secret), secret)
    assert isinstance(event.data, Subscription)
    assert (event.data.status, event.data.previous_status) == (
        SubscriptionStatus.PAST_DUE,
        SubscriptionStatus.ACTIVE,
    )
    unknown = {**SUBSCRIPTION_UPDATED_EVENT, "data": {**SUBSCRIPTION, "status": "paused"}}
    body = orjson.dumps(unknown)
    event = construct_event(body, compute_signature(body, secret), secret)
    assert isinstance(event.data, Subscription)
    assert event.data.status == "paused"  # a status this version does not know stays a str


# -------------------------------------------------------------- validation
GOOD: dict[str, Any] = {"customer": "cus_1", "price": "price_1", "payment_method": "pm_1"}
Call = Callable[[ching_async.Client], Awaitable[Any]]


def create(**changes: Any) -> Call:
    return lambda c: c.subscriptions.create(**{**GOOD, **changes})


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (create(customer=""), "customer"),
        (create(customer=None), "customer"),
        (create(price=42), "price"),
        (create(payment_method="pm 1"), "payment_method"),
        (create(discounts="LAUNCH"), "discounts"),
        (create(discounts=[{"code": "LAUNCH", "discount": "disc_1"}]), "exactly one"),
        (create(discounts=[{}]), "exactly one"),
        (create(discounts=[{"coupon": "X"}]), "unknown keys"),
        (create(discounts=[{"code": "no spaces"}]), r"discounts\[0\]\.code"),
        (create(discounts=[42]), r"discounts\[0\]"),
        (create(metadata=["a"]), "metadata"),
        (create(metadata={MARKER: "x"}), "reserved"),
        (create(idempotency_key="has space"), "idempotency"),
        (lambda c: c.subscriptions.retrieve(""), "id"),
        (lambda c: c.subscriptions.cancel("sub_1", cancel_at_period_end="yes"), "cancel_at"),
        (lambda c: c.subscriptions.change_price("sub_1", price=""), "price"),
        (lambda c: c.subscriptions.change_price("sub_1", price="p", change_timing="now"),
         "change_timing"),
        (lambda c: c.subscriptions.find_by_idempotency_key("has space"), "idempotency"),
    ],
)  # fmt: skip
async def test_bad_arguments_are_refused_before_anything_is_sent(
    fake: FakeChing, ching: ching_async.Client, call: Call, match: str
) -> None:
    with pytest.raises(ching_async.InvalidParameterError, match=match):
        await call(ching)
    assert fake.requests() == []
