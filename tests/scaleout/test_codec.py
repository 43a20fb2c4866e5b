"""A shard's stored result is final only when create_many's is: a charge the
server returned not settled yet (or canceled) stays open for the next run."""

from __future__ import annotations

import pytest

from ching_async import Charge, ChargeParams, ChargeResult, Outcome
from ching_async._bulk import classify_charge
from ching_async._convert import structure
from ching_async.scaleout._codec import result_record
from tests._support.scripted import CHARGE


@pytest.mark.parametrize(
    "status", ["succeeded", "failed", "pending", "processing", "requires_capture", "canceled"]
)
def test_a_stored_charge_is_final_only_once_it_has_settled(status: str) -> None:
    charge = structure({**CHARGE, "status": status}, Charge)
    outcome, final = classify_charge(charge)
    params = ChargeParams(customer="cus_1", payment_method="pm_1", amount=charge.amount)
    result = ChargeResult(
        index=0, params=params, outcome=outcome, idempotency_key="job:0", charge=charge
    )
    stored = result_record(result)
    assert stored.final is final is (status in ("succeeded", "failed"))
    assert stored.outcome is outcome
    assert stored.amount == (charge.amount if outcome is Outcome.SUCCEEDED else 0)
