"""A bulk run starts items only as its results are taken: at most `concurrency`
ahead of them. A run no longer read sends nothing new, and one dropped without
being closed stops and closes itself, with a ResourceWarning."""

from __future__ import annotations

import asyncio
import gc
import warnings
from pathlib import Path

import orjson
import pytest

import ching_async
from ching_async.testing import FakeChing
from tests._support.fake_client import items, seed

CONCURRENCY = 4


async def settled_count(fake: FakeChing) -> int:
    """The fake's charges once every send in flight has had time to end."""
    await asyncio.sleep(0.3)
    return len(fake.charges())


async def test_a_run_no_longer_read_starts_nothing_new(fake, client) -> None:
    cards = seed(fake, 50)
    run = client.charges.create_many(
        items(cards, 50), job_id="kept", concurrency=CONCURRENCY, assume_new=True
    )
    async for _ in run:
        break  # the run is still referenced here, and not closed
    charged = await settled_count(fake)
    # The result taken, and at most `concurrency` items started after it.
    assert 1 <= charged <= 1 + CONCURRENCY
    assert await settled_count(fake) == charged
    taken = [await anext(run) for _ in range(3)]  # reading again: the run goes on
    assert all(r.ok for r in taken)
    await run.aclose()
    assert len(fake.charges()) <= 4 + CONCURRENCY


async def test_slots_bound_what_is_started_ahead_of_the_results_taken(fake, client) -> None:
    cards = seed(fake, 50)
    started: list[int] = []

    def watched() -> object:
        for index, item in enumerate(items(cards, 50)):
            started.append(index)
            yield item

    async with client.charges.create_many(
        watched(), job_id="slots", concurrency=CONCURRENCY, assume_new=True
    ) as run:
        taken = 0
        async for _ in run:
            taken += 1
            await asyncio.sleep(0.01)  # a consumer slower than the sends
            assert len(started) <= taken + CONCURRENCY
    assert taken == 50


@pytest.mark.parametrize("journal", [False, True], ids=["no-journal", "journal"])
async def test_a_run_dropped_unclosed_stops_and_closes_with_a_resource_warning(
    fake: FakeChing, client: ching_async.Client, tmp_path: Path, journal: bool
) -> None:
    cards = seed(fake, 50)
    path = tmp_path / "job.jsonl"

    async def take_one_and_leave() -> None:
        async for _ in client.charges.create_many(
            items(cards, 50),
            job_id="dropped",
            concurrency=CONCURRENCY,
            assume_new=True,
            journal=path if journal else None,
        ):
            break  # no `async with`: the run's last reference goes with the loop

    with pytest.warns(ResourceWarning, match="bulk run 'dropped' was dropped"):
        await take_one_and_leave()
    charged = await settled_count(fake)
    assert 1 <= charged <= 1 + CONCURRENCY
    assert await settled_count(fake) == charged
    if journal:
        # Closed as aclose() closes it: the sends in flight ended, nothing left in doubt.
        records = [orjson.loads(line) for line in path.read_bytes().splitlines()]
        assert records[-1]["t"] == "closed"
        assert sum(r["t"] == "done" for r in records) == charged


async def test_a_run_read_to_its_end_or_never_begun_warns_of_nothing(fake, client) -> None:
    cards = seed(fake, 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = client.charges.create_many(items(cards, 3), job_id="whole", assume_new=True)
        assert len([r async for r in run]) == 3
        del run
        unused = client.charges.create_many(items(cards, 3), job_id="never", assume_new=True)
        del unused
        gc.collect()
    assert [w.message for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert len(fake.charges()) == 3
