"""A retried call's record, built without I/O for the tests of what the loop
makes of it: `record` (a `Call` whose steps saw what it is given) and
`Reconciled` (a reconciled call's class, as the loop reads it); and
`unreadable_result`, the error of a POST whose 2xx answer cannot be read."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Literal

import attrs
import pytest

import ching_async
from ching_async._messages import Handler, Request, Response
from ching_async._retry import RetryClass
from ching_async._retry_outcome import Call

KEY = "k-1"


@attrs.frozen
class Reconciled:
    """A reconciled call's class whose lookup is never expected to run."""

    resolve_hint: str = "resolve it later by its idempotency key"
    customer: str | None = "cus_1"
    look_first: bool = False
    keyed: bool = False
    on_full_window: Literal["raise", "send"] = "raise"

    async def lookup(self, request: Request, send: Handler, *, sent: bool) -> Response | None:
        raise AssertionError("no lookup expected")


def post(key: str | None = KEY) -> Request:
    """A POST /charges with idempotency key `key`."""
    return Request("POST", "/charges", "https://api.test", idempotency_key=key)


def record(retry: RetryClass, sends: int = 1, key: str | None = KEY, **seen: Any) -> Call:
    """The record of a POST with `key` after `sends` sends whose steps saw
    `seen` (result, last_response, last_error, lookup_error, in_doubt,
    settle_until)."""
    call = Call(post(key), retry, deadline=1060.0, max_sends=3, looks_first=False)
    call.sends = sends
    for name, value in seen.items():
        setattr(call, name, value)
    return call


async def unreadable_result(call: Awaitable[Any], path: str) -> ching_async.UnreadableResultError:
    """The error `call`, a POST to `path` answered 2xx unreadably, ends in:
    caught as README's examples catch an unknown outcome (`except
    OutcomeUnknownError`), in doubt, after one attempt, naming its key."""
    with pytest.raises(ching_async.OutcomeUnknownError) as caught:
        await call
    exc = caught.value
    assert type(exc) is ching_async.UnreadableResultError, repr(exc)
    assert isinstance(exc, ching_async.ResponseDecodeError)  # what `except` caught before
    assert exc.outcome_unknown is True
    assert (exc.method, exc.path, exc.attempts) == ("POST", path, 1)
    assert exc.status in (200, 201)
    assert exc.idempotency_key, "every POST has one"
    assert f"idempotency_key={exc.idempotency_key}" in str(exc)
    assert "outcome_unknown=True" in str(exc)
    return exc
