"""refunds.*: exactly-once create (marker + reconciliation), retrieve, list."""

from __future__ import annotations

import pytest

import ching_async
from ching_async import IDEMPOTENCY_METADATA_KEY as MARKER
from ching_async import Refund, RefundReason, RefundStatus
from ching_async.testing import FakeChing, Fault
from tests._support.fake_client import AMBIGUOUS_FAULTS, client_for, raw_call, sent


@pytest.fixture
def charge(fake: FakeChing) -> str:
    customer = fake.add_customer(name="Tal Levi", email="tal@example.com")
    return fake.add_charge(customer.id, amount=9900).id


async def test_create_a_partial_refund(
    fake: FakeChing, ching: ching_async.Client, charge: str
) -> None:
    refund = await ching.refunds.create(
        charge=charge, amount=2500, reason="requested_by_customer", metadata={"ticket": "T-7"}
    )
    [request] = sent(fake, "POST", "/refunds")
    key = request.idempotency_key
    assert key is not None
    assert request.body == {
        "charge": charge,
        "amount": 2500,
        "reason": "requested_by_customer",
        "metadata": {"ticket": "T-7", MARKER: key},
    }
    assert isinstance(refund, Refund)
    assert refund.id.startswith("re_")
    assert (refund.charge, refund.amount, refund.currency) == (charge, 2500, "ils")
    assert refund.status is RefundStatus.SUCCEEDED
    assert refund.reason is RefundReason.REQUESTED_BY_CUSTOMER
    assert refund.metadata == {"ticket": "T-7", MARKER: key}
    assert refund.request_info is not None
    assert refund.request_info.idempotency_key == key
    assert refund.request_info.reconciled is False
    assert fake.charge(charge).refunded_amount == 2500
    assert (await ching.charges.retrieve(charge)).refunded_amount == 2500


async def test_amount_none_refunds_what_is_left(
    fake: FakeChing, ching: ching_async.Client, charge: str
) -> None:
    await ching.refunds.create(charge=charge, amount=1000)
    rest = await ching.refunds.create(charge=charge)
    assert rest.amount == 8900
    assert sent(fake, "POST", "/refunds")[1].body["amount"] == 8900
    assert len(sent(fake, "GET", "/charges/{id}")) == 1
    assert fake.charge(charge).refunded_amount == 9900
    with pytest.raises(ching_async.InvalidParameterError, match="nothing left to refund"):
        await ching.refunds.create(charge=charge)
    assert len(sent(fake, "POST", "/refunds")) == 2


async def test_refunding_more_than_is_left_is_a_bad_request(
    fake: FakeChing, ching: ching_async.Client, charge: str
) -> None:
    with pytest.raises(ching_async.BadRequestError) as caught:
        await ching.refunds.create(charge=charge, amount=9901)
    assert caught.value.code == "refund_amount_too_large"
    assert fake.refunds() == []


async def test_an_uncaptured_charge_is_not_refundable(
    fake: FakeChing, ching: ching_async.Client
) -> None:
    customer = fake.add_customer(name="Tal", email="tal@example.com")
    held = fake.add_charge(customer.id, amount=5000, capture_method="manual")
    with pytest.raises(ching_async.BadRequestError) as caught:
        await ching.refunds.create(charge=held.id)  # amount taken from the charge: 5000
    assert caught.value.code == "charge_not_refundable"


async def test_unknown_charge_is_not_found(ching: ching_async.Client) -> None:
    with pytest.raises(ching_async.NotFoundError):
        await ching.refunds.create(charge="ch_missing", amount=100)
    with pytest.raises(ching_async.NotFoundError):
        await ching.refunds.create(charge="ch_missing")  # the lookup of the amount


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": 10.5}, "amount"),
        ({"amount": True}, "amount"),
        ({"reason": "changed_my_mind"}, "reason"),
        ({"metadata": {MARKER: "mine"}}, "reserved"),
        ({"metadata": []}, "metadata"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"charge": "ch 1"}, "charge"),
    ],
)
async def test_bad_arguments_fail_before_sending(
    fake: FakeChing, ching: ching_async.Client, charge: str, kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(ching_async.InvalidParameterError, match=match):
        await ching.refunds.create(**{"charge": charge, **kwargs})  # type: ignore[arg-type]
    assert fake.requests() == []


async def test_own_idempotency_key_is_used_as_marker(
    fake: FakeChing, ching: ching_async.Client, charge: str
) -> None:
    refund = await ching.refunds.create(charge=charge, amount=100, idempotency_key="rma-77")
    assert refund.metadata == {MARKER: "rma-77"}
    assert sent(fake, "POST", "/refunds")[0].idempotency_key == "rma-77"
    found = await ching.refunds.find_by_idempotency_key("rma-77")
    assert found == refund


# ------------------------------------------------------------- exactly once
@pytest.mark.parametrize(("fault", "posts", "reconciled"), AMBIGUOUS_FAULTS)
async def test_an_ambiguous_refund_is_made_once(
    fake: FakeChing,
    ching: ching_async.Client,
    charge: str,
    fault: Fault,
    posts: int,
    reconciled: bool,
) -> None:
    fake.faults.add(fault, method="POST", path="/refunds", times=1)
    refund = await ching.refunds.create(charge=charge, amount=3000)
    assert [r.id for r in fake.refunds()] == [refund.id]
    assert fake.charge(charge).refunded_amount == 3000
    assert refund.request_info is not None
    assert refund.request_info.reconciled is reconciled
    # One lookup; a send again only after it proved the refund absent, and
    # then the same request: the same key, the same body.
    assert len(sent(fake, "GET", "/refunds")) == 1
    sends = sent(fake, "POST", "/refunds")
    assert len(sends) == posts
    first = sends[0]
    assert all((r.idempotency_key, r.body) == (first.idempotency_key, first.body) for r in sends)


async def test_outcome_unknown_when_reconciliation_cannot_tell_then_resolved_later(
    fake: FakeChing, ching: ching_async.Client, charge: str
) -> None:
    fake.faults.add(Fault.commit_then_drop(), method="POST", path="/refunds", times=1)
    lookups = fake.faults.add(Fault.status(503), method="GET", path="/refunds")
    with pytest.raises(ching_async.OutcomeUnknownError) as caught:
        await ching.refunds.create(charge=charge, amount=3000)
    error = caught.value
    assert error.outcome_unknown is True
    assert len(sent(fake, "POST", "/refunds")) == 1  # never re-sent blindly
    fake.faults.remove(lookups)
    found = await ching.refunds.find_by_idempotency_key(error.idempotency_key)
    assert found is not None
    assert [r.id for r in fake.refunds()] == [found.id]


async def test_without_the_marker_an_ambiguous_failure_is_raised(
    fake: FakeChing, ching: ching_async.Client, charge: str
) -> None:
    fake.faults.add(Fault.status(503), method="POST", path="/refunds", times=1)
    with pytest.raises(ching_async.InternalServerError) as caught:
        await ching.refunds.create(charge=charge, amount=3000, mark_idempotency_key=False)
    assert caught.value.outcome_unknown is True
    [request] = sent(fake, "POST", "/refunds")
    assert "metadata" not in request.body


async def test_find_by_idempotency_key_cannot_tell_outside_the_100_newest(
    fake: FakeChing, ching: ching_async.Client, charge: str
) -> None:
    """The refund exists beyond the window: never None (which reads as
    "not made" and invites refunding again)."""
    first = await ching.refunds.create(charge=charge, amount=1, idempotency_key="oldest")
    for _ in range(100):
        await ching.refunds.create(charge=charge, amount=1)
    with pytest.raises(ching_async.LookupInconclusiveError, match="'oldest'"):
        await ching.refunds.find_by_idempotency_key("oldest")
    assert await ching.refunds.retrieve(first.id) == first


async def test_concurrent_refunds_under_faults_each_happen_exactly_once(
    fake: FakeChing, ching: ching_async.Client
) -> None:
    import asyncio

    customer = fake.add_customer(name="Tal", email="tal@example.com")
    charges = [fake.add_charge(customer.id, amount=1000).id for _ in range(30)]
    fake.faults.add(Fault.commit_then_drop(), method="POST", path="/refunds", rate=0.3)
    fake.faults.add(Fault.status(503), method="POST", path="/refunds", rate=0.2)
    results = await asyncio.gather(
        *(ching.refunds.create(charge=c, amount=400) for c in charges), return_exceptions=True
    )
    refunds = [r for r in results if isinstance(r, Refund)]
    unknown = [r for r in results if isinstance(r, ching_async.OutcomeUnknownError)]
    assert len(refunds) + len(unknown) == 30
    assert len(refunds) >= 25
    for refund in refunds:
        assert [r.id for r in fake.refunds_for(refund.charge or "")] == [refund.id]
    assert all(fake.charge(c).refunded_amount in (0, 400) for c in charges)
    assert len(fake.refunds()) == len({r.charge for r in fake.refunds()})


# ------------------------------------------------------------ read, list
async def test_retrieve_and_list(fake: FakeChing, ching: ching_async.Client, charge: str) -> None:
    first = await ching.refunds.create(charge=charge, amount=100)
    second = await ching.refunds.create(charge=charge, amount=200, reason=RefundReason.DUPLICATE)
    assert await ching.refunds.retrieve(first.id) == first
    listed = await ching.refunds.list()
    assert [r.id for r in listed] == [second.id, first.id]
    assert [r.id async for r in ching.refunds.list()] == [second.id, first.id]
    assert listed[0].reason is RefundReason.DUPLICATE
    with pytest.raises(ching_async.NotFoundError):
        await ching.refunds.retrieve("re_missing")


async def test_the_fake_validates_refund_bodies(fake: FakeChing, charge: str) -> None:
    status, payload = await raw_call(fake, "POST", "/refunds", {"charge": charge, "reason": "x"})
    assert status == 422
    assert payload["error"]["code"] == "INVALID_FIELD"
    assert [i["path"] for i in payload["error"]["issues"]] == [["amount"], ["reason"]]
    status, payload = await raw_call(fake, "GET", "/refunds?charge=" + charge)
    assert (status, payload["data"]) == (200, [])  # query parameters are ignored


async def test_live_refunds_are_listed_in_live_mode_only(fake: FakeChing, charge: str) -> None:
    async with client_for(fake, api_key=fake.live_api_key) as live:
        refund = await live.refunds.create(charge=charge, amount=100)
        assert refund.livemode is True
        assert [r.id for r in await live.refunds.list()] == [refund.id]
    async with client_for(fake) as test:
        assert await test.refunds.list() == []
