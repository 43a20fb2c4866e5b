"""The idempotency keys the library makes for a POST that has none."""

from __future__ import annotations

import uuid

from ching_async._idempotency import new_idempotency_key


def test_made_keys_are_random_version_4_uuids() -> None:
    keys = [new_idempotency_key() for _ in range(4000)]
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
