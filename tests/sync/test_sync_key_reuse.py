"""SyncClient refuses an idempotency key reused with other parameters as the
async client does: the same IdempotencyKeyReusedError, from many threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import ching_async
from ching_async.testing import FakeChing

from .conftest import MakeSync

CALLS = 40
KEYS = 7


def test_forty_calls_with_seven_keys_never_get_a_charge_for_another_amount(
    fake: FakeChing, make_sync: MakeSync
) -> None:
    """Call i charges 1000 + 100 * (i % 3) with key "inv-<i % 7>", from 8
    threads: each gets a charge of its own amount, or the refusal naming the
    key's charge and both amounts; the server holds one charge per key."""
    customer = fake.add_customer(email="tal@example.com").id
    card = fake.add_payment_method(customer).id
    sync = make_sync()

    def call(i: int) -> ching_async.Charge | ching_async.IdempotencyKeyReusedError:
        try:
            return sync.charges.create(
                customer=customer,
                payment_method=card,
                amount=1000 + 100 * (i % 3),
                idempotency_key=f"inv-{i % KEYS}",
            )
        except ching_async.IdempotencyKeyReusedError as exc:
            return exc

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(CALLS)))

    charges = {c.metadata[ching_async.IDEMPOTENCY_METADATA_KEY]: c for c in fake.charges()}
    assert len(fake.charges()) == len(charges) == KEYS
    refused = 0
    for i, result in enumerate(results):
        amount, key = 1000 + 100 * (i % 3), f"inv-{i % KEYS}"
        made = charges[key]
        if isinstance(result, ching_async.IdempotencyKeyReusedError):
            refused += 1
            assert (result.idempotency_key, result.found_id) == (key, made.id)
            assert result.differences == (("amount", amount, made.amount),)
            assert result.outcome_unknown is False
        else:
            assert (result.id, result.amount) == (made.id, amount)
    assert refused > 0
