"""AsyncList: awaited for a list, or iterated; each use fetches again."""

from __future__ import annotations

import asyncio

import pytest

import ching_async
from ching_async._listing import AsyncList, Page
from ching_async.testing import MockTransport, envelope_response
from tests._support import hostile
from tests._support.scripted import TEST_KEY, Script, envelope


def counting_list(fetches: list[int]) -> AsyncList[str]:
    async def fetch() -> Page[str]:
        fetches.append(1)
        return Page(
            raw_items=["a", "b", "c"],
            decode_item=str.upper,
            decode_all=lambda items: [item.upper() for item in items],
        )

    return AsyncList(fetch)


async def test_awaiting_decodes_the_whole_page() -> None:
    fetches: list[int] = []
    listing = counting_list(fetches)
    assert await listing == ["A", "B", "C"]
    assert await listing == ["A", "B", "C"], "each use sends the request again"
    assert len(fetches) == 2


async def test_iterating_decodes_item_by_item() -> None:
    fetches: list[int] = []
    assert [item async for item in counting_list(fetches)] == ["A", "B", "C"]
    assert len(fetches) == 1


# asyncio.run() and create_task() take coroutines only: a list is one.
def test_asyncio_run_takes_a_list() -> None:
    fetches: list[int] = []
    listing = counting_list(fetches)
    assert asyncio.iscoroutine(listing)
    assert asyncio.run(listing) == ["A", "B", "C"]
    assert asyncio.run(listing) == ["A", "B", "C"], "run again, it fetches again"
    assert len(fetches) == 2


async def test_create_task_and_task_groups_take_a_list() -> None:
    fetches: list[int] = []
    assert await asyncio.create_task(counting_list(fetches)) == ["A", "B", "C"]
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(counting_list(fetches)) for _ in range(3)]
    assert [task.result() for task in tasks] == [["A", "B", "C"]] * 3
    assert len(fetches) == 4


async def test_a_cancelled_task_stops_the_fetch_and_the_list_can_be_used_again() -> None:
    started, finished = asyncio.Event(), []

    async def slow() -> Page[str]:
        started.set()
        await asyncio.sleep(30)
        finished.append(1)
        return Page(raw_items=["a"], decode_item=str.upper, decode_all=lambda i: ["A"])

    listing = AsyncList(slow)
    task = asyncio.create_task(listing)
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not finished
    started.clear()
    again = asyncio.create_task(listing)
    await started.wait()
    again.cancel()
    with pytest.raises(asyncio.CancelledError):
        await again


async def test_a_failed_fetch_raises_from_the_task_and_ends_the_run() -> None:
    calls: list[int] = []

    async def failing() -> Page[str]:
        calls.append(1)
        if len(calls) == 1:
            raise ching_async.APIConnectionError("down")
        return Page(raw_items=["a"], decode_item=str.upper, decode_all=lambda i: ["A"])

    listing = AsyncList(failing)
    with pytest.raises(ching_async.APIConnectionError, match="down"):
        await asyncio.create_task(listing)
    assert await asyncio.create_task(listing) == ["A"]
    listing.close()  # nothing under way: nothing to do


def test_asyncio_run_a_client_list() -> None:
    def answer(request: ching_async.Request) -> ching_async.Response:
        assert dict(request.query) == {"customer": "cus_1"}
        return envelope_response(request, [hostile.CHARGE, hostile.CHARGE])

    client = ching_async.Client(TEST_KEY, transport=MockTransport(answer))
    charges = asyncio.run(client.charges.list(customer="cus_1"))
    assert [c.id for c in charges] == [hostile.CHARGE["id"]] * 2


async def test_create_task_a_client_list(scripted: Script, client: ching_async.Client) -> None:
    scripted.on("GET", "/ching/v1/refunds", envelope([{"id": "re_1"}]))
    refunds = await asyncio.create_task(client.refunds.list())
    assert [r.id for r in refunds] == ["re_1"]
