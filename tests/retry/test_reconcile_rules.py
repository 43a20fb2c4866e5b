"""When an empty lookup may prove absence: settling, full windows, declines."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

import ching_async
from ching_async._transport import DEFAULT_MAX_RESPONSE_BYTES
from ching_async.testing import FakeChing, Fault
from tests._support.scripted import CHARGE, TEST_KEY, Script, envelope, error, raw

CHARGES = "/ching/v1/charges"


def settle_client(scripted: Script, settle: float, **kw: object) -> ching_async.Client:
    policy = ching_async.RetryPolicy(initial_backoff=0.001, max_backoff=0.002, settle=settle)
    options = {**scripted.client_options(), **kw}
    return ching_async.Client(TEST_KEY, retry_policy=policy, **options)  # type: ignore[arg-type]


async def test_a_slow_server_is_not_charged_twice() -> None:
    # The server finishes the first send 1 s in, long after the 0.3 s timeout.
    async with FakeChing() as fake:
        customer = fake.add_customer(email="tal@example.com")
        card = fake.add_payment_method(customer.id)
        fake.faults.add(Fault.latency(1.0), method="POST", path="/charges", times=1)
        policy = ching_async.RetryPolicy(initial_backoff=0.001, max_backoff=0.002, settle=1.5)
        async with ching_async.Client(
            fake.api_key, base_url=fake.url, timeout=0.3, retry_policy=policy
        ) as client:
            charge = await create(client, customer.id, card.id)
        assert [c.id for c in fake.charges_for(customer.id)] == [charge.id]
        assert charge.request_info.reconciled is True


async def create(client: ching_async.Client, customer: str, card: str) -> ching_async.Charge:
    return await client.charges.create(customer=customer, payment_method=card, amount=4990)


@pytest.mark.parametrize("status", [503, 501, 507])
async def test_a_charge_committed_after_its_5xx_is_not_charged_twice(status: int) -> None:
    # The server answers a 5xx with CHING's own error envelope, the usual 503
    # or any other, and the charge is recorded 0.3 s later: an empty lookup
    # right after the 5xx proves nothing.
    async with FakeChing() as fake:
        customer = fake.add_customer(email="tal@example.com")
        card = fake.add_payment_method(customer.id)
        fault = Fault.status_then_commit(status, 0.3)
        fake.faults.add(fault, method="POST", path="/charges", times=1)
        policy = ching_async.RetryPolicy(initial_backoff=0.001, max_backoff=0.002, settle=1.0)
        async with ching_async.Client(
            fake.api_key, base_url=fake.url, retry_policy=policy
        ) as client:
            charge = await create(client, customer.id, card.id)
        assert [c.id for c in fake.charges_for(customer.id)] == [charge.id]
        assert charge.request_info.reconciled is True
        assert fake.duplicates_by_idempotency_key() == {}


@pytest.mark.parametrize(
    "failure",
    [error(503, "SERVICE_UNAVAILABLE"), raw(502, b"<html>bad gateway</html>")],
    ids=["ching-error-envelope", "proxy-error-page"],
)
async def test_a_5xx_waits_before_resending(scripted: Script, failure: Any) -> None:
    scripted.on("POST", CHARGES, failure, envelope(CHARGE))
    scripted.on("GET", CHARGES, envelope([]))
    async with settle_client(scripted, 0.6) as client:
        started = time.monotonic()
        charge = await create(client, "cus_1", "pm_1")
    assert time.monotonic() - started >= 0.55
    lookups = scripted.seen_at("GET", CHARGES)
    assert len(lookups) == 2  # one at once, one after settling
    assert charge.request_info.attempts == 2


async def test_unanswered_failure_past_the_deadline_is_unknown(scripted: Script) -> None:
    scripted.on("POST", CHARGES, raw(504, b""))
    scripted.on("GET", CHARGES, envelope([]))
    async with settle_client(scripted, 30, total_timeout=1.0) as client:
        with pytest.raises(ching_async.OutcomeUnknownError):
            await create(client, "cus_1", "pm_1")
    assert len(scripted.seen_at("POST", CHARGES)) == 1


async def test_a_full_window_cannot_prove_absence(scripted: Script, client) -> None:
    others = [CHARGE | {"id": f"ch_{n}"} for n in range(100)]
    scripted.on("POST", CHARGES, error(503))
    scripted.on("GET", CHARGES, envelope(others))
    with pytest.raises(ching_async.OutcomeUnknownError) as info:
        await create(client, "cus_1", "pm_1")
    assert len(scripted.seen_at("POST", CHARGES)) == 1
    assert isinstance(info.value.__cause__, ching_async.LookupInconclusiveError)
    assert "absence cannot be proven" in str(info.value.__cause__)


async def test_a_lookup_answer_that_is_not_a_list_proves_nothing(scripted: Script, client) -> None:
    scripted.on("POST", CHARGES, error(503))
    scripted.on("GET", CHARGES, envelope({"unexpected": "shape"}))
    with pytest.raises(ching_async.OutcomeUnknownError):
        await create(client, "cus_1", "pm_1")
    assert len(scripted.seen_at("POST", CHARGES)) == 1, "re-sent on an unreadable lookup"


async def test_a_list_whose_rows_lack_metadata_proves_nothing(scripted: Script, client) -> None:
    # A reduced list row (no metadata key at all) may be the object made by
    # the lost first send: never re-sent on such a list.
    row = {k: v for k, v in CHARGE.items() if k != "metadata"}
    scripted.on("POST", CHARGES, error(503))
    scripted.on("GET", CHARGES, envelope([row]))
    with pytest.raises(ching_async.OutcomeUnknownError) as info:
        await create(client, "cus_1", "pm_1")
    assert len(scripted.seen_at("POST", CHARGES)) == 1, "re-sent on rows without metadata"
    assert isinstance(info.value.__cause__, ching_async.LookupInconclusiveError)
    assert "without their metadata" in str(info.value.__cause__)


async def test_rows_with_null_metadata_still_prove_absence(scripted: Script, client) -> None:
    scripted.on("GET", CHARGES, envelope([CHARGE | {"id": "ch_plain", "metadata": None}]))
    assert await client.charges.find_by_idempotency_key("cus_1", "inv-1") is None


KEY = "inv-2026-11-0042"


@pytest.mark.parametrize("listed", [0, 99])
async def test_find_by_idempotency_key_proves_absence_only_below_the_limit(
    scripted: Script, client, listed: int
) -> None:
    others = [CHARGE | {"id": f"ch_{n}", "metadata": {}} for n in range(listed)]
    scripted.on("GET", CHARGES, envelope(others))
    assert await client.charges.find_by_idempotency_key("cus_1", KEY) is None


async def test_find_by_idempotency_key_in_a_full_list(scripted: Script, client) -> None:
    """Not among 100 newest: it may exist beyond them, so never None."""
    others = [CHARGE | {"id": f"ch_{n}", "metadata": {}} for n in range(100)]
    mine = CHARGE | {"id": "ch_mine", "metadata": {ching_async.IDEMPOTENCY_METADATA_KEY: KEY}}
    scripted.on("GET", CHARGES, envelope(others), envelope([mine, *others[1:]]))
    with pytest.raises(ching_async.LookupInconclusiveError) as info:
        await client.charges.find_by_idempotency_key("cus_1", KEY)
    assert info.value.method == "GET"
    assert info.value.path == "/charges"
    assert KEY in str(info.value)
    found = await client.charges.find_by_idempotency_key("cus_1", KEY)
    assert found is not None
    assert found.id == "ch_mine"


async def test_refunds_find_by_idempotency_key_in_a_full_list(scripted: Script, client) -> None:
    refund = {"id": "re_1", "object": "refund", "amount": 100, "metadata": {}}
    scripted.on(
        "GET",
        "/ching/v1/refunds",
        envelope([refund] * 99),
        envelope([refund] * 100),
    )
    assert await client.refunds.find_by_idempotency_key(KEY) is None
    with pytest.raises(ching_async.LookupInconclusiveError):
        await client.refunds.find_by_idempotency_key(KEY)


async def test_a_declined_charge_found_by_reconciliation_raises_card_declined() -> None:
    async with FakeChing() as fake:
        customer = fake.add_customer(email="tal@example.com")
        card = fake.add_payment_method(customer.id, declines=True)
        fake.faults.add(Fault.commit_then_drop(), method="POST", path="/charges", times=1)
        async with ching_async.Client(
            fake.api_key, base_url=fake.url, retry_policy=ching_async.RetryPolicy(instant=True)
        ) as client:
            with pytest.raises(ching_async.CardDeclinedError) as info:
                await create(client, customer.id, card.id)
        assert info.value.code == "CHARGE_FAILED"
        assert len(fake.charges_for(customer.id)) == 1


@pytest.fixture
async def closing_fake() -> AsyncIterator[FakeChing]:
    async with FakeChing() as fake:
        yield fake


async def test_client_closed_during_reconciliation_is_an_unknown_outcome(
    closing_fake: FakeChing,
) -> None:
    fake = closing_fake
    customer = fake.add_customer(email="tal@example.com")
    card = fake.add_payment_method(customer.id)
    fake.faults.add(Fault.commit_then_drop(), method="POST", path="/charges", times=1)
    policy = ching_async.RetryPolicy(initial_backoff=0.3, max_backoff=0.3, jitter=False)
    client = ching_async.Client(fake.api_key, base_url=fake.url, retry_policy=policy)
    call = asyncio.create_task(create(client, customer.id, card.id))
    while not fake.charges_for(customer.id):  # noqa: ASYNC110 - waiting for the first send
        await asyncio.sleep(0.01)
    await client.aclose()  # during the backoff before the lookup
    with pytest.raises(ching_async.OutcomeUnknownError):
        await call


# ---------------------------------------------------------------- unreadable 2xx
# A reconciled POST answered 2xx with a body that cannot be read: the server
# most likely applied it. It is reconciled like any ambiguous answer.

_WHOLE = orjson.dumps({"success": True, "data": CHARGE})
OVER_THE_CAP = _WHOLE + b" " * (DEFAULT_MAX_RESPONSE_BYTES + 1 - len(_WHOLE))

UNREADABLE_2XX = [
    pytest.param(raw(200, orjson.dumps({"success": True, "data": CHARGE})[:150]), id="truncated"),
    pytest.param(raw(200, b"<html>ok</html>"), id="html"),
    pytest.param(raw(201, b"", content_type="application/json"), id="empty"),
    pytest.param(raw(200, b'["success"]', content_type="application/json"), id="not-envelope"),
    # A charge that would decode, over max_response_bytes: refused unread.
    pytest.param(raw(200, OVER_THE_CAP, content_type="application/json"), id="over-the-cap"),
]


def marked_charge(key: str, **changes: Any) -> dict[str, Any]:
    """The charge `create` made with `key`."""
    made = {"customer": "cus_1", "payment_method": "pm_1", "amount": 4990}
    return CHARGE | made | {"metadata": {ching_async.IDEMPOTENCY_METADATA_KEY: key}} | changes


@pytest.mark.parametrize("answer", UNREADABLE_2XX)
async def test_an_unreadable_2xx_found_by_its_marker_is_the_result(
    scripted: Script, client, answer
) -> None:
    scripted.on("POST", CHARGES, answer)
    # Absent before the first send (the caller's key is looked up among the
    # customer's charges, then the project's), then found.
    scripted.on("GET", CHARGES, envelope([]), envelope([]), envelope([marked_charge("order-7")]))
    charge = await client.charges.create(
        customer="cus_1", payment_method="pm_1", amount=4990, idempotency_key="order-7"
    )
    assert charge.id == CHARGE["id"]
    assert charge.request_info.reconciled is True
    assert charge.request_info.attempts == 1
    assert len(scripted.seen_at("POST", CHARGES)) == 1


@pytest.mark.parametrize("answer", UNREADABLE_2XX)
async def test_an_unreadable_2xx_proven_absent_is_sent_again(
    scripted: Script, client, answer
) -> None:
    scripted.on("POST", CHARGES, answer, envelope(CHARGE))
    scripted.on("GET", CHARGES, envelope([]))
    charge = await create(client, "cus_1", "pm_1")
    assert charge.request_info.attempts == 2
    assert charge.request_info.reconciled is False
    assert len(scripted.seen_at("POST", CHARGES)) == 2


@pytest.mark.parametrize("answer", [raw(200, b"{"), *UNREADABLE_2XX])
async def test_an_unreadable_2xx_that_cannot_be_looked_up_is_an_unknown_outcome(
    scripted: Script, client, answer
) -> None:
    others = [CHARGE | {"id": f"ch_{n}"} for n in range(100)]
    scripted.on("POST", CHARGES, answer)
    scripted.on("GET", CHARGES, envelope(others))
    with pytest.raises(ching_async.OutcomeUnknownError) as info:
        await client.charges.create(
            customer="cus_1",
            payment_method="pm_1",
            amount=4990,
            idempotency_key="order-8",
            assume_new=True,  # else the full list stops it before the send
        )
    assert type(info.value) is ching_async.OutcomeUnknownError
    assert info.value.idempotency_key == "order-8"
    assert info.value.status in (200, 201)
    assert len(scripted.seen_at("POST", CHARGES)) == 1


@pytest.mark.parametrize("answer", UNREADABLE_2XX)
async def test_an_unreadable_2xx_proven_absent_with_no_attempts_left_is_known(
    scripted: Script, make_client, answer
) -> None:
    scripted.on("POST", CHARGES, answer)
    scripted.on("GET", CHARGES, envelope([]))
    with pytest.raises(ching_async.ResponseDecodeError) as info:
        await create(make_client(max_retries=0), "cus_1", "pm_1")
    assert type(info.value) is ching_async.ResponseDecodeError
    assert not isinstance(info.value, ching_async.OutcomeUnknownError)
    assert info.value.outcome_unknown is False
    assert info.value.status in (200, 201)
    assert (info.value.method, info.value.attempts) == ("POST", 1)


@pytest.mark.parametrize("answer", [raw(200, b"\x00\x01"), *UNREADABLE_2XX])
async def test_an_unreadable_2xx_to_a_capture_is_reconciled_by_state(
    scripted: Script, client, answer
) -> None:
    path = f"{CHARGES}/{CHARGE['id']}"
    scripted.on("POST", path + "/capture", answer)
    scripted.on("GET", path, envelope(CHARGE))
    charge = await client.charges.capture(CHARGE["id"])
    assert charge.request_info.reconciled is True
    assert len(scripted.seen_at("POST", path + "/capture")) == 1


async def test_a_failure_envelope_on_a_2xx_is_an_answer_not_a_doubt(
    scripted: Script, client
) -> None:
    failure = {"success": False, "error": {"status": 400, "code": "BAD", "message": "no"}}
    scripted.on("POST", CHARGES, raw(200, orjson.dumps(failure), content_type="application/json"))
    with pytest.raises(ching_async.BadRequestError):
        await create(client, "cus_1", "pm_1")
    assert scripted.seen_at("GET", CHARGES) == []
