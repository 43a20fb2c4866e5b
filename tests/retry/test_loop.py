"""The retry loop around `decide`: each decision is observable."""

from __future__ import annotations

import logging

import pytest

import ching_async
from ching_async.testing import FakeChing, Fault


async def test_each_decision_is_logged_with_reason_attempt_and_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with FakeChing() as fake:
        customer = fake.add_customer(email="tal@example.com")
        card = fake.add_payment_method(customer.id)
        fake.faults.add(Fault.commit_then_drop(), method="POST", path="/charges", times=1)
        async with ching_async.Client(
            fake.api_key, base_url=fake.url, retry_policy=ching_async.RetryPolicy(instant=True)
        ) as client:
            with caplog.at_level(logging.DEBUG, logger="ching_async.retry"):
                charge = await client.charges.create(
                    customer=customer.id, payment_method=card.id, amount=100, idempotency_key="o-1"
                )
    assert charge.request_info.reconciled is True
    records = [r for r in caplog.records if r.name == "ching_async.retry"]
    steps = [(r.ching_seen, r.ching_action, r.levelno) for r in records]  # type: ignore[attr-defined]
    assert steps == [
        ("absent", "send", logging.DEBUG),  # the caller's key, looked up first
        ("unanswered failure", "look", logging.INFO),  # the dropped connection: reconcile
        ("found", "return", logging.INFO),  # reconciliation found the charge
    ]
    assert {r.ching_idempotency_key for r in records} == {"o-1"}  # type: ignore[attr-defined]
    assert [r.ching_attempt for r in records] == [0, 1, 1]  # type: ignore[attr-defined]
    assert all(r.ching_reason for r in records)  # type: ignore[attr-defined]
    assert "o-1" in records[-1].getMessage()
    assert all(r.ching_request_id is None for r in records)  # type: ignore[attr-defined]
    assert "request id None" in records[-1].getMessage()
