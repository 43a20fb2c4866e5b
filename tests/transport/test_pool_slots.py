"""The transport's pool gate (an asyncio.Semaphore): FIFO, bounded, and never
loses a slot to a cancellation. The transport relies on these three; they are
checked on each Python the suite runs on."""

from __future__ import annotations

import asyncio

import pytest

from ching_async._aiohttp import AiohttpTransport
from tests._support.hostile import free_slots


@pytest.fixture
async def held() -> asyncio.Semaphore:
    """The gate of a one-connection transport, its slot taken."""
    slots = AiohttpTransport(max_connections=1)._slots
    await slots.acquire()
    return slots


async def give_back(slots: asyncio.Semaphore) -> None:
    """Release the one slot left taken: the gate must then be as new."""
    slots.release()
    assert await free_slots(slots) == 1


async def test_free_slots_are_taken_at_once_and_counted() -> None:
    slots = AiohttpTransport(max_connections=2)._slots
    assert await free_slots(slots) == 2
    await slots.acquire()
    assert await free_slots(slots) == 1


async def test_waiters_get_slots_in_arrival_order(held: asyncio.Semaphore) -> None:
    order: list[int] = []

    async def wait(n: int) -> None:
        await held.acquire()
        order.append(n)

    tasks = [asyncio.create_task(wait(n)) for n in range(3)]
    await asyncio.sleep(0)
    for _ in range(3):
        held.release()
        assert held.locked(), "a newcomer must not jump the queue"
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2]
    await give_back(held)


async def test_a_cancelled_waiter_leaves_the_queue(held: asyncio.Semaphore) -> None:
    task = asyncio.create_task(held.acquire())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await give_back(held)


async def test_a_slot_handed_to_a_waiter_cancelled_at_that_moment_is_passed_on(
    held: asyncio.Semaphore,
) -> None:
    first = asyncio.create_task(held.acquire())
    second = asyncio.create_task(held.acquire())
    await asyncio.sleep(0)
    held.release()  # hands the slot to `first`...
    first.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)  # the slot went on to `second`
    await give_back(held)


async def test_a_timed_out_wait_gives_nothing_back_that_it_did_not_take(
    held: asyncio.Semaphore,
) -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await held.acquire()
    await give_back(held)
