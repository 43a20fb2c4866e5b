"""subscriptions.change_price and subscriptions.cancel under faults: reconciled
by reading the subscription back, so never two upgrade charges (nor two
cancellations) for one call. (subscriptions.create is exactly once by its
marker: test_catalog_exactly_once.)"""

from __future__ import annotations

import attrs
import pytest

import ching_async
from ching_async import PriceChangeKind, SubscriptionStatus
from ching_async.testing import FakeChing, Fault
from tests._support.billing import Plan
from tests._support.fake_client import AMBIGUOUS_FAULTS, sent, settling_client

CHANGE = "/subscriptions/{id}/change_price"
CANCEL = "/subscriptions/{id}/cancel"


@pytest.fixture
def plan(fake: FakeChing) -> Plan:
    return Plan.on(fake)


@attrs.frozen
class Ambiguous:
    """A fault that leaves a POST in doubt, the POSTs the call then takes,
    and whether its answer is the one read back."""

    fault: Fault
    posts: int
    reconciled: bool


@pytest.fixture(params=[pytest.param(Ambiguous(*p.values), id=p.id) for p in AMBIGUOUS_FAULTS])
def ambiguous(request: pytest.FixtureRequest) -> Ambiguous:
    case: Ambiguous = request.param
    return case


def upgrade_charges(fake: FakeChing, plan: Plan) -> list[ching_async.testing.Charge]:
    """The charges after the first period's."""
    return fake.charges_for(plan.customer)[1:]


async def test_an_ambiguous_upgrade_is_charged_once(
    fake: FakeChing, ching: ching_async.Client, plan: Plan, ambiguous: Ambiguous
) -> None:
    sub = fake.add_subscription(plan.customer, plan.basic)
    fake.faults.add(ambiguous.fault, method="POST", path=CHANGE, times=1)
    change = await ching.subscriptions.change_price(sub.id, price=plan.team)
    [charge] = upgrade_charges(fake, plan)
    assert len(sent(fake, "POST", CHANGE)) == ambiguous.posts
    assert change.request_info is not None
    reconciled = change.request_info.reconciled
    assert reconciled is ambiguous.reconciled
    assert change.applied is True
    assert change.subscription is not None
    assert (change.subscription.price, change.subscription.latest_charge) == (plan.team, charge.id)
    if reconciled:  # read back: the subscription shows the change, not its cost
        assert (change.kind, change.charge_amount) == (None, None)
        assert [r.path for r in sent(fake, "GET", "/subscriptions/{id}")] == [
            f"/subscriptions/{sub.id}"
        ]
    else:
        assert (change.kind, change.charge_amount) == (PriceChangeKind.UPGRADE, charge.amount)
    assert [s.id for s in fake.subscriptions()] == [sub.id]


async def test_an_upgrade_that_commits_after_a_timeout_is_found_after_the_settle_time(
    fake: FakeChing, plan: Plan
) -> None:
    sub = fake.add_subscription(plan.customer, plan.basic)
    fake.faults.add(Fault.latency(1.0), method="POST", path=CHANGE, times=1)
    async with settling_client(fake) as ching:
        change = await ching.subscriptions.change_price(sub.id, price=plan.team)
    await fake.wait_for_commits()
    assert len(upgrade_charges(fake, plan)) == 1
    assert len(sent(fake, "POST", CHANGE)) == 1
    assert change.request_info is not None
    assert change.request_info.reconciled is True


async def test_a_change_at_period_end_is_reconciled_by_its_pending_price(
    fake: FakeChing, ching: ching_async.Client, plan: Plan
) -> None:
    sub = fake.add_subscription(plan.customer, plan.team)
    fake.faults.add(Fault.commit_then_drop(), method="POST", path=CHANGE, times=1)
    change = await ching.subscriptions.change_price(
        sub.id, price=plan.basic, change_timing="at_period_end"
    )
    assert (change.applied, change.scheduled_for) == (False, sub.current_period_end)
    assert change.subscription is not None
    assert change.subscription.pending_price == plan.basic
    assert change.request_info is not None
    assert change.request_info.reconciled is True
    assert len(sent(fake, "POST", CHANGE)) == 1
    assert upgrade_charges(fake, plan) == []


async def test_a_downgrade_with_the_default_timing_is_scheduled_again_not_charged(
    fake: FakeChing, ching: ching_async.Client, plan: Plan
) -> None:
    # A pending price proves nothing for the default timing (the next test):
    # the downgrade is sent again, which only schedules it again.
    sub = fake.add_subscription(plan.customer, plan.team)
    fake.faults.add(Fault.commit_then_drop(), method="POST", path=CHANGE, times=1)
    change = await ching.subscriptions.change_price(sub.id, price=plan.basic)
    assert (change.applied, change.scheduled_for) == (False, sub.current_period_end)
    assert change.kind == PriceChangeKind.DOWNGRADE
    assert len(sent(fake, "POST", CHANGE)) == 2
    assert upgrade_charges(fake, plan) == []
    assert (await ching.subscriptions.retrieve(sub.id)).pending_price == plan.basic


@pytest.mark.parametrize("timing", [None, "immediately"], ids=["default", "immediately"])
async def test_an_upgrade_now_is_not_taken_for_the_same_price_left_pending_earlier(
    fake: FakeChing, ching: ching_async.Client, plan: Plan, timing: str | None
) -> None:
    # An earlier call deferred the upgrade; this one upgrades now, and its
    # first send never reached the server: the pending price proves nothing.
    sub = fake.add_subscription(plan.customer, plan.basic)
    await ching.subscriptions.change_price(sub.id, price=plan.team, change_timing="at_period_end")
    fake.faults.add(Fault.status(503), method="POST", path=CHANGE, times=1)
    change = await ching.subscriptions.change_price(
        sub.id,
        price=plan.team,
        change_timing=timing,  # type: ignore[arg-type]
    )
    assert len(sent(fake, "POST", CHANGE)) == 3  # the deferral, the 503, the send again
    assert change.applied is True
    assert change.request_info is not None
    assert change.request_info.reconciled is False
    assert len(upgrade_charges(fake, plan)) == 1
    assert (await ching.subscriptions.retrieve(sub.id)).price == plan.team


async def test_outcome_unknown_when_the_read_back_fails_then_the_subscription_tells(
    fake: FakeChing, ching: ching_async.Client, plan: Plan
) -> None:
    sub = fake.add_subscription(plan.customer, plan.basic)
    fake.faults.add(Fault.commit_then_drop(), method="POST", path=CHANGE, times=1)
    failing = fake.faults.add(Fault.status(503), method="GET", path="/subscriptions/{id}")
    with pytest.raises(ching_async.OutcomeUnknownError) as caught:
        await ching.subscriptions.change_price(sub.id, price=plan.team)
    assert caught.value.outcome_unknown is True
    assert len(sent(fake, "POST", CHANGE)) == 1  # never re-sent blindly
    fake.faults.remove(failing)
    assert (await ching.subscriptions.retrieve(sub.id)).price == plan.team
    assert len(upgrade_charges(fake, plan)) == 1


@pytest.mark.parametrize("at_period_end", [None, True])
async def test_an_ambiguous_cancel_cancels_once(
    fake: FakeChing,
    ching: ching_async.Client,
    plan: Plan,
    ambiguous: Ambiguous,
    at_period_end: bool | None,
) -> None:
    fake.add_webhook_endpoint(
        "http://127.0.0.1:9/hook", events=["subscription.canceled", "subscription.updated"]
    )
    sub = fake.add_subscription(plan.customer, plan.pro)
    fake.faults.add(ambiguous.fault, method="POST", path=CANCEL, times=1)
    canceled = await ching.subscriptions.cancel(sub.id, cancel_at_period_end=at_period_end)
    assert len(sent(fake, "POST", CANCEL)) == ambiguous.posts
    assert canceled.request_info is not None
    assert canceled.request_info.reconciled is ambiguous.reconciled
    wanted = SubscriptionStatus.ACTIVE if at_period_end else SubscriptionStatus.CANCELED
    assert (canceled.status, fake.subscription(sub.id).status) == (wanted, wanted)
    event = "subscription.updated" if at_period_end else "subscription.canceled"
    assert [e.type for e in fake.webhook_events()] == [event]
    assert len(fake.charges()) == 1
