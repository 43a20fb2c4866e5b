"""Exactly-once charging against a FakeChing that, like CHING, does not deduplicate."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import ching_async
from ching_async.testing import FakeChing, Fault


def load_chaos() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "examples" / "chaos.py"
    spec = importlib.util.spec_from_file_location("chaos_example", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
async def test_chaos_500_concurrent_creates_charge_each_exactly_once() -> None:
    report = await load_chaos().run_chaos(500, seed=11, customers=50)
    # The faults really happened, in roughly the requested proportions.
    assert report.faults["commit_then_drop"] >= 25
    assert report.faults["status"] >= 25
    assert report.faults["commit_then_delay"] >= 10
    assert report.faults["rate_limited"] >= 10
    assert report.reconciliations > 0
    # Nothing but a Charge or an OutcomeUnknownError came back.
    assert report.other_errors == {}
    assert len(report.charges) + len(report.unknown) == 500
    # Every returned Charge is exactly one server charge, with its own key.
    for key, charge in report.charges.items():
        assert report.server_by_key[key] == [charge.id]
    # No duplicates at all on the server.
    assert report.duplicates == 0
    assert report.server_charges == len(report.server_by_key)
    # Reconciliation settled every call: lookups are never faulted here, so
    # no call may end in OutcomeUnknownError (a loop over such outcomes used
    # to stand here and never ran: there were none).
    assert report.unknown == {}
    assert len(report.charges) == 500


@pytest.fixture
async def fake() -> FakeChing:
    async with FakeChing() as fake:
        yield fake


@pytest.fixture
async def client(fake: FakeChing) -> ching_async.Client:
    async with ching_async.Client(
        fake.api_key,
        base_url=fake.url,
        timeout=0.3,
        retry_policy=ching_async.RetryPolicy(instant=True),
    ) as client:
        yield client


def seed_card(fake: FakeChing) -> tuple[str, str]:
    customer = fake.add_customer(name="Tal Levi", email="tal@example.com")
    return customer.id, fake.add_payment_method(customer.id).id


async def test_commit_then_drop_returns_the_committed_charge(fake, client) -> None:
    customer, card = seed_card(fake)
    fake.faults.add(Fault.commit_then_drop(), method="POST", path="/charges", times=1)
    charge = await client.charges.create(customer=customer, payment_method=card, amount=4990)
    assert [c.id for c in fake.charges_for(customer)] == [charge.id]
    assert charge.request_info.reconciled is True
    assert charge.metadata == {
        ching_async.IDEMPOTENCY_METADATA_KEY: charge.request_info.idempotency_key
    }


async def test_commit_then_slow_answer_is_not_charged_twice(fake, client) -> None:
    customer, card = seed_card(fake)
    fake.faults.add(Fault.commit_then_delay(1.0), method="POST", path="/charges", times=1)
    charge = await client.charges.create(customer=customer, payment_method=card, amount=4990)
    assert len(fake.charges_for(customer)) == 1
    assert charge.request_info.reconciled is True


async def test_503_before_processing_is_resent_once(fake, client) -> None:
    customer, card = seed_card(fake)
    fake.faults.add(Fault.status(503), method="POST", path="/charges", times=1)
    charge = await client.charges.create(
        customer=customer, payment_method=card, amount=4990, metadata={"invoice": "7"}
    )
    posts = [r for r in fake.requests() if r.method == "POST"]
    assert len(posts) == 2
    assert posts[0].headers["Idempotency-Key"] == posts[1].headers["Idempotency-Key"]
    assert [c.id for c in fake.charges_for(customer)] == [charge.id]
    assert charge.metadata["invoice"] == "7"
    assert charge.request_info.attempts == 2


async def test_rerun_with_the_same_key_after_unknown_outcome_finds_the_charge(fake, client) -> None:
    customer, card = seed_card(fake)
    # Commit, drop, and make every lookup fail too: the outcome is unknown.
    fake.faults.add(Fault.commit_then_drop(), method="POST", path="/charges", times=1)
    fake.faults.add(Fault.status(503), method="GET", path="/charges")
    with pytest.raises(ching_async.OutcomeUnknownError) as info:
        await client.charges.create(
            customer=customer,
            payment_method=card,
            amount=4990,
            idempotency_key="inv-1",
            assume_new=True,  # else the failing lookups would stop it before sending
        )
    assert info.value.customer == customer
    assert info.value.idempotency_key == "inv-1"
    assert "inv-1" in str(info.value)
    fake.faults.clear()
    found = await client.charges.find_by_idempotency_key(customer, "inv-1")
    assert found is not None
    assert [c.id for c in fake.charges_for(customer)] == [found.id]
    # Retrying the same logical charge with the same key never charges twice:
    # the charge is found before anything is sent.
    posts = len(fake.requests_to("POST", "/charges"))
    again = await client.charges.create(
        customer=customer, payment_method=card, amount=4990, idempotency_key="inv-1"
    )
    assert again.id == found.id
    assert again.request_info.found_existing is True
    assert len(fake.requests_to("POST", "/charges")) == posts
    assert len(fake.charges_for(customer)) == 1


async def test_find_by_idempotency_key_none_when_absent(fake, client) -> None:
    customer, card = seed_card(fake)
    await client.charges.create(customer=customer, payment_method=card, amount=100)
    assert await client.charges.find_by_idempotency_key(customer, "never-used") is None


async def test_capture_after_commit_then_drop_is_reconciled(fake, client) -> None:
    customer, card = seed_card(fake)
    held = fake.add_charge(customer, card, amount=9000, capture_method="manual")
    fake.faults.add(Fault.commit_then_drop(), method="POST", path="/charges/{id}/capture", times=1)
    charge = await client.charges.capture(held.id, amount=5000)
    assert charge.status == ching_async.ChargeStatus.SUCCEEDED
    assert charge.amount_captured == 5000
    assert charge.request_info.reconciled is True
    captures = [r for r in fake.requests() if r.method == "POST"]
    assert len(captures) == 1


async def test_cancel_after_commit_then_drop_is_reconciled(fake, client) -> None:
    customer, card = seed_card(fake)
    held = fake.add_charge(customer, card, amount=9000, capture_method="manual")
    fake.faults.add(Fault.commit_then_drop(), method="POST", path="/charges/{id}/cancel", times=1)
    charge = await client.charges.cancel(held.id, cancellation_reason="fraudulent")
    assert charge.status == ching_async.ChargeStatus.CANCELED
    assert charge.cancellation_reason == ching_async.CancellationReason.FRAUDULENT


async def test_setup_session_create_ambiguous_failure_is_not_resent(fake, client) -> None:
    customer, _ = seed_card(fake)
    fake.faults.add(Fault.commit_then_drop(), method="POST", path="/setup_sessions", times=1)
    with pytest.raises(ching_async.APIConnectionError) as info:
        await client.setup_sessions.create(
            customer=customer, success_url="https://a.example/ok", cancel_url="https://a.example/no"
        )
    assert info.value.outcome_unknown is True
    assert len([r for r in fake.requests() if r.method == "POST"]) == 1


# ------------------------------------------------ a caller's own idempotency key
# "The same key never makes two objects": a create with the caller's key looks
# for an object made with it before the first send (issue 19, defect 2).


async def test_the_same_key_twice_charges_once(fake, client) -> None:
    customer, card = seed_card(fake)
    first = await client.charges.create(
        customer=customer, payment_method=card, amount=4990, idempotency_key="invoice-K1"
    )
    again = await client.charges.create(
        customer=customer, payment_method=card, amount=4990, idempotency_key="invoice-K1"
    )
    assert again.id == first.id
    assert first.request_info.found_existing is False
    assert again.request_info.found_existing is True
    assert again.request_info.attempts == 0
    assert again.request_info.method == "POST"
    assert again.request_info.idempotency_key == "invoice-K1"
    assert len(fake.requests_to("POST", "/charges")) == 1
    assert len(fake.charges_for(customer)) == 1


async def test_assume_new_with_a_key_this_client_used_charges_once(fake, client) -> None:
    # assume_new skips the lookup of a key never used; one this client used
    # (concurrently, or earlier) is looked up after all.
    customer, card = seed_card(fake)

    def create(key: str) -> Any:
        return client.charges.create(
            customer=customer,
            payment_method=card,
            amount=4990,
            idempotency_key=key,
            assume_new=True,
        )

    first, second = await asyncio.gather(create("invoice-K5"), create("invoice-K5"))
    third = await create("invoice-K5")
    assert first.id == second.id == third.id
    assert [c.request_info.found_existing for c in (first, second, third)] == [False, True, True]
    assert len(fake.charges_for(customer)) == 1
    # A new key with assume_new: nothing is looked up before the send.
    before = len(fake.requests())
    await create("invoice-K6")
    assert [r.method for r in fake.requests()[before:]] == ["POST"]


async def test_the_same_key_from_another_client_charges_once(fake, client) -> None:
    # A worker restarted after a crash: a new process, a new client.
    customer, card = seed_card(fake)
    await client.charges.create(
        customer=customer, payment_method=card, amount=4990, idempotency_key="invoice-K2"
    )
    async with ching_async.Client(fake.api_key, base_url=fake.url) as restarted:
        again = await restarted.charges.create(
            customer=customer, payment_method=card, amount=4990, idempotency_key="invoice-K2"
        )
    assert again.request_info.found_existing is True
    assert len(fake.charges_for(customer)) == 1


async def test_concurrent_calls_with_one_key_charge_once(fake, client) -> None:
    customer, card = seed_card(fake)
    fake.faults.add(Fault.latency(0.1), method="POST", path="/charges")
    charges = await asyncio.gather(
        *(
            client.charges.create(
                customer=customer, payment_method=card, amount=4990, idempotency_key="order-9"
            )
            for _ in range(8)
        )
    )
    assert len({charge.id for charge in charges}) == 1
    assert sum(not c.request_info.found_existing for c in charges) == 1
    assert len(fake.charges_for(customer)) == 1


async def test_a_found_decline_is_a_decline_again(fake, client) -> None:
    customer = fake.add_customer(email="tal@example.com")
    card = fake.add_payment_method(customer.id, declines=True)
    for _ in range(2):
        with pytest.raises(ching_async.CardDeclinedError):
            await client.charges.create(
                customer=customer.id, payment_method=card.id, amount=100, idempotency_key="d-1"
            )
    assert len(fake.charges_for(customer.id)) == 1


async def test_a_minted_key_is_not_looked_up(fake, client) -> None:
    customer, card = seed_card(fake)
    await client.charges.create(customer=customer, payment_method=card, amount=100)
    await client.charges.create(
        customer=customer, payment_method=card, amount=100, idempotency_key="k", assume_new=True
    )
    assert [r.method for r in fake.requests()] == ["POST", "POST"]


def full_window(fake: FakeChing) -> tuple[str, str]:
    customer, card = seed_card(fake)
    for n in range(100):
        fake.add_charge(customer, card, amount=100 + n)
    return customer, card


async def test_a_full_window_stops_a_keyed_create_before_sending(fake, client) -> None:
    customer, card = full_window(fake)
    with pytest.raises(ching_async.LookupInconclusiveError) as info:
        await client.charges.create(
            customer=customer, payment_method=card, amount=4990, idempotency_key="late-1"
        )
    err = info.value
    assert not isinstance(err, ching_async.OutcomeUnknownError)
    assert (err.method, err.path, err.idempotency_key) == ("POST", "/charges", "late-1")
    assert err.outcome_unknown is False
    assert "on_full_window='send'" in str(err)
    assert fake.requests_to("POST", "/charges") == []


async def test_a_full_window_sends_when_the_caller_says_so(fake, client) -> None:
    customer, card = full_window(fake)
    charge = await client.charges.create(
        customer=customer,
        payment_method=card,
        amount=4990,
        idempotency_key="late-2",
        on_full_window="send",
    )
    assert charge.request_info.found_existing is False
    assert len(fake.charges_for(customer)) == 101


@pytest.mark.parametrize(
    ("option", "value"),
    [("on_full_window", "maybe"), ("on_full_window", None), ("assume_new", "yes")],
)
async def test_bad_key_options_are_typed_errors(fake, client, option: str, value: object) -> None:
    customer, card = seed_card(fake)
    with pytest.raises(ching_async.InvalidParameterError, match=option):
        await client.charges.create(
            customer=customer, payment_method=card, amount=1, idempotency_key="k", **{option: value}
        )
    with pytest.raises(ching_async.InvalidParameterError, match=option):
        await client.refunds.create(charge="ch_1", amount=1, idempotency_key="k", **{option: value})
    assert fake.requests() == []


def settling_client(
    fake: FakeChing, settle: float, *middlewares: ching_async.Middleware
) -> ching_async.Client:
    return ching_async.Client(
        fake.api_key,
        base_url=fake.url,
        timeout=0.3,
        total_timeout=3.0 * settle,
        max_retries=0,
        retry_policy=ching_async.RetryPolicy(settle=settle, initial_backoff=0.01),
        middlewares=middlewares,
    )


def committing_late(fake: FakeChing) -> tuple[str, str]:
    """A customer and card whose next charge the server commits 1 s late."""
    customer, card = seed_card(fake)
    fake.faults.add(Fault.latency(1.0), method="POST", path="/charges", times=1)
    return customer, card


async def cancelled_mid_send(c: ching_async.Client, **create: Any) -> None:
    """charges.create cancelled by the caller's own deadline while its POST
    is at the server."""
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await c.charges.create(**create)


async def test_a_retry_right_after_an_unknown_outcome_waits_for_the_settle_time(fake) -> None:
    """The first call times out while the server still commits (1 s late),
    and its lookups fail: OutcomeUnknownError. A retry with the same key at
    once must not take an empty lookup as proof before the settle time: it
    waits and finds the charge instead of charging again."""
    customer, card = committing_late(fake)
    to_fail = 0

    async def two_lookups_after_the_post_fail(
        request: ching_async.Request, call_next: ching_async.Handler
    ) -> ching_async.Response:
        nonlocal to_fail
        if request.method == "POST":
            to_fail = 2
        elif to_fail:
            to_fail -= 1
            return ching_async.Response(
                status=503, headers={}, body=b"<html>busy</html>", request=request
            )
        return await call_next(request)

    async with settling_client(fake, 1.5, two_lookups_after_the_post_fail) as c:
        with pytest.raises(ching_async.OutcomeUnknownError):
            await c.charges.create(
                customer=customer, payment_method=card, amount=4990, idempotency_key="inv-7"
            )
        assert fake.charges_for(customer) == []  # still committing
        again = await c.charges.create(
            customer=customer, payment_method=card, amount=4990, idempotency_key="inv-7"
        )
    assert again.request_info.found_existing is True
    assert len(fake.charges_for(customer)) == 1


async def test_a_retry_right_after_a_cancelled_call_waits_for_the_settle_time(fake) -> None:
    """A handler's own deadline cancels the call mid-send (the server commits
    1 s later). A retry with the same key at once finds the charge."""
    customer, card = committing_late(fake)
    async with settling_client(fake, 1.5) as c:
        await cancelled_mid_send(
            c, customer=customer, payment_method=card, amount=4990, idempotency_key="inv-8"
        )
        again = await c.charges.create(
            customer=customer, payment_method=card, amount=4990, idempotency_key="inv-8"
        )
    assert again.request_info.found_existing is True
    assert len(fake.charges_for(customer)) == 1


async def test_a_call_with_a_key_in_flight_waits_for_it_and_finds_its_charge(fake) -> None:
    customer, card = committing_late(fake)
    async with ching_async.Client(fake.api_key, base_url=fake.url, timeout=5) as slow:
        first = asyncio.create_task(
            slow.charges.create(
                customer=customer, payment_method=card, amount=1, idempotency_key="busy"
            )
        )
        await asyncio.sleep(0.2)  # the first call's POST is at the server now
        second = await slow.charges.create(
            customer=customer, payment_method=card, amount=1, idempotency_key="busy"
        )
        charge = await first
    assert second.id == charge.id  # waited for the first, then found its charge
    assert second.request_info.found_existing is True
    assert len(fake.charges_for(customer)) == 1


async def test_the_same_refund_key_twice_refunds_once(fake, client) -> None:
    customer, card = seed_card(fake)
    charge = fake.add_charge(customer, card, amount=5000)
    first = await client.refunds.create(charge=charge.id, amount=1000, idempotency_key="rf-1")
    again = await client.refunds.create(charge=charge.id, amount=1000, idempotency_key="rf-1")
    assert again.id == first.id
    assert again.request_info.found_existing is True
    assert len(fake.refunds_for(charge.id)) == 1


async def test_a_full_refund_retried_with_its_key_returns_the_refund(fake, client) -> None:
    # Nothing is left to refund the second time: that is this key's own refund.
    customer, card = seed_card(fake)
    charge = fake.add_charge(customer, card, amount=5000)
    first = await client.refunds.create(charge=charge.id, idempotency_key="rf-all")
    again = await client.refunds.create(charge=charge.id, idempotency_key="rf-all")
    assert again.id == first.id
    assert again.request_info.found_existing is True
    assert (again.request_info.method, again.request_info.attempts) == ("POST", 0)
    # The lookup's answer headers, as every found result keeps them.
    assert again.request_info.headers["content-type"].startswith("application/json")
    assert len(fake.refunds_for(charge.id)) == 1
    with pytest.raises(ching_async.InvalidParameterError, match="nothing left"):
        await client.refunds.create(charge=charge.id, idempotency_key="rf-other")


async def test_find_by_idempotency_key_right_after_a_call_in_doubt_proves_nothing(fake) -> None:
    """A call cancelled mid-send (the server commits 1 s later): looking its key
    up at once must not answer "never made" (a caller would charge again); it
    is inconclusive until the settle time has passed, then it finds the charge."""
    customer, card = committing_late(fake)
    async with settling_client(fake, 1.5) as c:
        await cancelled_mid_send(
            c,
            customer=customer,
            payment_method=card,
            amount=4990,
            idempotency_key="inv-10",
            assume_new=True,
        )
        with pytest.raises(ching_async.LookupInconclusiveError, match="ended in doubt"):
            await c.charges.find_by_idempotency_key(customer, "inv-10")
        await asyncio.sleep(1.6)
        found = await c.charges.find_by_idempotency_key(customer, "inv-10")
    assert found is not None
    assert len(fake.charges_for(customer)) == 1
