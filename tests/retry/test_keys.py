"""The rules for an idempotency key across a client's calls (`KeyRegistry`):
which call that ended in doubt leaves its key unsettled, until when, and
how many keys it remembers. No I/O: the times are given, not read."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

import ching_async
from ching_async._messages import Request, Response
from ching_async._retry import Resend, RetryPolicy
from ching_async._retry_loop import _MAX_UNSETTLED, _MAX_USED, KeyRegistry, RetryLoop
from ching_async._retry_outcome import Call
from tests._support.retry import KEY, Reconciled, post, record

NOW = 1000.0
SETTLE = 30.0


@pytest.mark.parametrize(
    ("call", "cancelled", "unsettled_until"),
    [
        # A reconciled send in doubt: the key settles when the call's own
        # settle time ends; cancelled mid-send, a whole settle time from now.
        (record(Reconciled(), settle_until=NOW + 12.0), False, NOW + 12.0),
        (record(Reconciled(), settle_until=NOW + 12.0), True, NOW + SETTLE),
        # Its settle time already over (a failure CHING answered): nothing to wait for.
        (record(Reconciled(), settle_until=0.0), False, 0.0),
        # Nothing sent (a caller's key looked up first, then cancelled): no doubt of its own.
        (record(Reconciled(), sends=0, settle_until=NOW + 12.0), True, 0.0),
        # Not reconciled: no lookup ever reads its key.
        (record(Resend.SAFE, settle_until=NOW + 12.0), True, 0.0),
    ],
    ids=["in-doubt", "cancelled", "settled", "nothing-sent", "not-reconciled"],
)
def test_which_call_in_doubt_leaves_its_key_unsettled(
    call: Call, cancelled: bool, unsettled_until: float
) -> None:
    keys = KeyRegistry()
    keys.remember_doubt(call, cancelled=cancelled, now=NOW, settle=SETTLE)
    assert keys.settle_until(KEY) == unsettled_until


def test_a_call_without_a_key_leaves_nothing() -> None:
    keys = KeyRegistry()
    keys.remember_doubt(record(Reconciled(), key=None), cancelled=True, now=NOW, settle=SETTLE)
    assert keys.settle_until("") == 0.0
    assert not keys._unsettled


def test_a_later_doubt_never_shortens_an_earlier_one() -> None:
    keys = KeyRegistry()
    keys.remember_doubt(record(Reconciled()), cancelled=True, now=NOW, settle=SETTLE)
    shorter = record(Reconciled(), settle_until=NOW + 5.0)
    keys.remember_doubt(shorter, cancelled=False, now=NOW + 1.0, settle=SETTLE)
    assert keys.settle_until(KEY) == NOW + SETTLE


def test_a_key_is_used_first_once_and_the_least_recently_used_is_forgotten() -> None:
    keys = KeyRegistry()
    assert keys.first_use("inv-1") is True
    assert keys.first_use("inv-2") is True
    assert keys.first_use("inv-1") is False  # used again: now the most recent
    for n in range(_MAX_USED - 2):
        keys.first_use(f"other-{n}")
    keys.first_use("one-more")  # full: the least recently used, inv-2, is forgotten
    assert keys.first_use("inv-2") is True  # ... and inv-1 with it, to make room
    assert keys.first_use("inv-1") is True
    assert keys.first_use("one-more") is False


def test_it_remembers_a_bounded_number_of_keys() -> None:
    """Beyond _MAX_UNSETTLED keys still settling, none more; keys whose settle
    time is over make room again."""
    keys = KeyRegistry()
    for n in range(_MAX_UNSETTLED):  # k-0, k-2, ... settle until NOW + 1; k-1, k-3, ... NOW + 2
        call = record(Reconciled(), key=f"k-{n}", settle_until=NOW + 1.0 + n % 2)
        keys.remember_doubt(call, cancelled=False, now=NOW, settle=SETTLE)
    late = record(Reconciled(), key="late", settle_until=NOW + 10.0)
    keys.remember_doubt(late, cancelled=False, now=NOW, settle=SETTLE)
    assert keys.settle_until("late") == 0.0  # full: not remembered
    assert keys.settle_until("k-1") == NOW + 2.0  # the keys it holds are kept
    keys.remember_doubt(late, cancelled=False, now=NOW + 1.5, settle=SETTLE)
    assert keys.settle_until("late") == NOW + 10.0
    assert keys.settle_until("k-0") == 0.0  # over: dropped to make room
    assert keys.settle_until("k-1") == NOW + 2.0


class LookupFails(Reconciled):
    async def lookup(self, request: Request, send: object, *, sent: bool) -> Response | None:
        raise ching_async.APIConnectionError("the lookup dropped")


async def dropped(request: Request) -> Response:
    raise ching_async.APIConnectionError("dropped", may_have_reached_server=True)


async def unknown(loop: RetryLoop) -> None:
    """A charge whose POST dropped and whose every lookup fails: unknown."""
    with pytest.raises(ching_async.OutcomeUnknownError):
        await loop.run(post(), LookupFails(), dropped)


async def cancelled(loop: RetryLoop) -> None:
    """A charge cancelled while its POST is in flight."""
    sent = asyncio.Event()

    async def hangs(request: Request) -> Response:
        sent.set()
        await asyncio.Event().wait()
        raise AssertionError("never answered")

    task = asyncio.create_task(loop.run(post(), Reconciled(), hangs))
    await sent.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize("end", [unknown, cancelled], ids=["unknown", "cancelled"])
@pytest.mark.parametrize(
    ("policy", "settling"),
    [
        (RetryPolicy(initial_backoff=0.0, settle=SETTLE), SETTLE),
        # No waits at all: no settle time either, for the next call with the key.
        (RetryPolicy(instant=True, settle=SETTLE), 0.0),
    ],
    ids=["settle", "instant"],
)
async def test_a_call_that_ends_in_doubt_leaves_its_key_settling(
    end: Callable[[RetryLoop], Awaitable[None]], policy: RetryPolicy, settling: float
) -> None:
    """After a call ends in doubt, the loop's `settling(key)` says how long a
    lookup by the key proves nothing (`find_by_idempotency_key` reads it)."""
    loop = RetryLoop(policy, max_retries=2, total_timeout=60.0)
    await end(loop)
    assert loop.settling(KEY) == pytest.approx(settling, abs=1.0)
