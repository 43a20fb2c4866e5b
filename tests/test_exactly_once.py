"""Exactly-once charging against a FakeChing that, like CHING, does not deduplicate."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

import ching_async
from ching_async.testing import FakeChing, Fault


def load_chaos() -> ModuleType:
    path = Path(__file__).resolve().parent.parent / "examples" / "chaos.py"
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
    posts = [r for r in fake.requests if r.method == "POST"]
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
            customer=customer, payment_method=card, amount=4990, idempotency_key="inv-1"
        )
    assert info.value.customer == customer
    assert info.value.idempotency_key == "inv-1"
    assert "inv-1" in str(info.value)
    fake.faults.clear()
    found = await client.charges.find_by_idempotency_key(customer, "inv-1")
    assert found is not None
    assert [c.id for c in fake.charges_for(customer)] == [found.id]
    # Retrying the same logical charge with the same key never charges twice
    # when the first one is found.
    fake.faults.add(Fault.status(503), method="POST", path="/charges", times=1)
    again = await client.charges.create(
        customer=customer, payment_method=card, amount=4990, idempotency_key="inv-1"
    )
    assert again.id == found.id
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
    captures = [r for r in fake.requests if r.method == "POST"]
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
    assert len([r for r in fake.requests if r.method == "POST"]) == 1
