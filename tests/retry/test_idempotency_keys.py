"""The idempotency keys the library makes for a POST that has none, as the
transport gets them."""

from __future__ import annotations

import uuid

import ching_async
from ching_async.testing import MockTransport, envelope_response
from tests._support.scripted import CHARGE, TEST_KEY


async def test_made_keys_are_random_version_4_uuids() -> None:
    transport = MockTransport(lambda request: envelope_response(request, CHARGE))
    async with ching_async.Client(TEST_KEY, transport=transport) as client:
        for _ in range(2000):
            await client.charges.create(customer="cus_1", payment_method="pm_1", amount=100)
    keys = [request.headers["Idempotency-Key"] for request in transport.requests()]
    assert len(keys) == 2000
    assert len(set(keys)) == len(keys)
    for key in keys:
        parsed = uuid.UUID(key)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == key  # canonical: lower case, dashes in place
    # Only the version digit and the variant's two bits are fixed: every
    # other digit, the variant digit's two random bits too, takes each value.
    for position in (0, 15, 19, 35):
        assert len({key[position] for key in keys}) == (4 if position == 19 else 16)
