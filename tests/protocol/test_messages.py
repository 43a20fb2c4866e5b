"""Request and Response: copies never mutate the original, and stay frozen."""

from __future__ import annotations

import attrs
import pytest

from ching_async._messages import Request


def _request() -> Request:
    return Request(
        method="POST",
        path="/charges",
        base_url="http://127.0.0.1:1/ching/v1",
        query=(("customer", "cus_1"),),
        headers={"Idempotency-Key": "k-1"},
        body=b"{}",
        idempotency_key="k-1",
        timeout=7.5,
    )


def test_copies_leave_the_original_alone_and_stay_frozen() -> None:
    original = _request()
    copy = original.with_headers({"Authorization": "Bearer ck_test_abcdefgh"})
    assert original.headers == {"Idempotency-Key": "k-1"}
    assert copy.headers == {"Idempotency-Key": "k-1", "Authorization": "Bearer ck_test_abcdefgh"}
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        copy.attempt = 3  # type: ignore[misc]
