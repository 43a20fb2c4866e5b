"""The transport's pool gate: FIFO, bounded, and never loses a slot to a cancellation."""

from __future__ import annotations

import asyncio

import pytest

from ching_async._aiohttp import PoolSlots


@pytest.fixture
async def held() -> PoolSlots:
    """A gate of one slot, taken."""
    slots = PoolSlots(1)
    await slots.acquire()
    return slots


def give_back(slots: PoolSlots) -> None:
    """Release the one slot left taken: the gate must then be as new."""
    slots.release()
    assert slots.free == 1
    assert not slots.waiters


async def test_free_slots_are_taken_at_once_and_counted() -> None:
    slots = PoolSlots(2)
    assert slots.take_free()
    assert slots.take_free()
    assert not slots.take_free()
    slots.release()
    assert slots.free == 1


async def test_waiters_get_slots_in_arrival_order(held: PoolSlots) -> None:
    order: list[int] = []

    async def wait(n: int) -> None:
        await held.acquire()
        order.append(n)

    tasks = [asyncio.create_task(wait(n)) for n in range(3)]
    await asyncio.sleep(0)
    assert len(held.waiters) == 3
    assert not held.take_free(), "a newcomer must not jump the queue"
    for _ in range(3):
        held.release()
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2]
    give_back(held)


async def test_a_cancelled_waiter_leaves_the_queue(held: PoolSlots) -> None:
    task = asyncio.create_task(held.acquire())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not held.waiters
    give_back(held)


async def test_a_slot_handed_to_a_waiter_cancelled_at_that_moment_is_passed_on(
    held: PoolSlots,
) -> None:
    first = asyncio.create_task(held.acquire())
    second = asyncio.create_task(held.acquire())
    await asyncio.sleep(0)
    held.release()  # hands the slot to `first`...
    first.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)  # the slot went on to `second`
    give_back(held)


async def test_a_timed_out_wait_gives_nothing_back_that_it_did_not_take(held: PoolSlots) -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await held.acquire()
    give_back(held)
