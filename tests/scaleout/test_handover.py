"""A shard changing hands (issue 19, defects 6 and 7): a run that outlasts its soft
stop must not mark the shard done with rows never sent, and the next run must not
prove a row absent before the run that sent it could have (the client's settle
rule after an ambiguous failure)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

import ching_async
from ching_async import scaleout
from ching_async.scaleout import JobKeys
from ching_async.scaleout._shard import ShardRun
from ching_async.testing import FakeChing, Fault
from tests._support.fake_client import items, seed

from .chaos_proxy import ChaosProxy
from .conftest import client_options, run_burst_worker, wait_until

pytestmark = pytest.mark.slow

KEY = ching_async.IDEMPOTENCY_METADATA_KEY
SETTLE = 5.0  # the workers' RetryPolicy.settle
COMMIT_AFTER = 4.5  # a 504'd POST is committed this long after it was sent (< SETTLE)


def charges_per_key(fake: FakeChing) -> Counter[str]:
    return Counter(str(c.metadata.get(KEY)) for c in fake.charges())


async def leave_open(redis: Any, job_id: str, *indexes: int, seconds_ago: float) -> None:
    """As a run that died `seconds_ago` (its last heartbeat) with `indexes` in flight."""
    keys = JobKeys(job_id)
    now, _ = await redis.time()
    beat = str(now - seconds_ago)
    await redis.hset(keys.state(0), mapping={"heartbeat": beat, "status": "running"})
    await redis.sadd(keys.open(0), *indexes)


# ------------------------------------------------------------------ defect 6
async def test_a_first_pass_that_outlasts_the_soft_stop_leaves_the_rest_to_a_new_run(
    redis, redis_url, fake
) -> None:
    """A dead run left two rows of one customer open (long ago: no wait). Their
    re-sends are slow, one after the other, so the pass over the open rows ends
    after the run's soft stop, though its source of rows was used up long before.
    The other 28 rows were never sent: the run must end as a slice, and the next
    run charge them, not mark the shard done."""
    cards = seed(fake, 8)
    customer, card = cards[0]
    rows: list[dict[str, Any]] = [
        {"customer": customer, "payment_method": card, "amount": 500 + i} for i in range(2)
    ]
    rows += items(cards[1:], 28)
    await scaleout.enqueue(
        redis, rows, job_id="outlast", shards=1, concurrency=4, shutdown_grace=0.3
    )
    await leave_open(redis, "outlast", 0, 1, seconds_ago=600)
    # Under the 4 s attempt timeout, 6.4 s for both: past the soft stop of a
    # 9 s job timeout (5.85 s), well before its hard stop (7.8 s).
    fake.faults.add(Fault.latency(3.2), method="POST", path="/charges", times=2)

    await run_burst_worker(redis_url, fake, job_timeout=9, client={"timeout": 4.0})

    snapshot = await scaleout.progress(redis, "outlast")
    assert (snapshot.done, snapshot.summary.succeeded) == (30, 30)
    assert snapshot.complete
    assert snapshot.shards[0].in_doubt == 0
    assert snapshot.shards[0].runs == 2  # the first run was a slice, not the end
    assert charges_per_key(fake) == Counter({f"outlast:{i}": 1 for i in range(30)})


async def test_a_shard_is_done_only_when_every_row_has_a_result(
    redis, fake, monkeypatch, caplog
) -> None:
    """Whatever a run believes about its passes, the shard is not marked done while
    a row has no result: the run ends as a slice and the next one goes on."""
    cards = seed(fake, 3)
    await scaleout.enqueue(redis, items(cards, 6), job_id="believes", shards=1)
    async with ching_async.Client(**client_options(fake)) as client:
        run = ShardRun(redis, client, "believes", 0, job_timeout=30)

        async def pass_that_sends_nothing(*args: Any, **kwargs: Any) -> bool:
            return True  # "got to the end"

        monkeypatch.setattr(run, "_pass", pass_that_sends_nothing)
        with caplog.at_level(logging.WARNING, logger="ching_async.scaleout"):
            assert await run.run() == "slice"
    assert "without a result" in caplog.text
    snapshot = await scaleout.progress(redis, "believes")
    assert snapshot.shards[0].status == "queued"
    assert not snapshot.complete
    assert not fake.charges()


# ------------------------------------------------------------------ defect 7
@pytest.fixture
async def late_504(fake: FakeChing) -> AsyncIterator[tuple[ChaosProxy, set[str]]]:
    """A gateway in front of the fake: the first POST of each key in the returned set
    is answered 504 at once and committed COMMIT_AFTER seconds later."""
    keys: set[str] = set()

    def choose(request: web.Request, body: bytes) -> str | None:
        for key in list(keys):
            if f'"{key}"'.encode() in body:
                keys.discard(key)
                return "gateway_504"
        return None

    async with ChaosProxy(
        fake.root_url,
        choose=choose,
        attempt_timeout=1.0,
        commit_delay=(COMMIT_AFTER, COMMIT_AFTER),
    ) as proxy:
        yield proxy, keys


def settling_client(fake: FakeChing, proxy: ChaosProxy) -> dict[str, Any]:
    """A worker client that keeps the settle rule (not instant), with quick backoff."""
    policy = ching_async.RetryPolicy(settle=SETTLE, initial_backoff=0.05, max_backoff=0.1)
    return client_options(
        fake, base_url=proxy.url, retry_policy=policy, timeout=1.0, total_timeout=30.0
    )


async def test_a_run_stopped_mid_settle_hands_over_the_settle_wait(
    redis, fake, late_504, caplog
) -> None:
    """SIGTERM (arq cancels the run) while a 504'd POST is settling; the server
    commits it 4.5 s after it was sent. The next run must not look it up before
    the settle time has passed, so it finds the charge instead of making another."""
    proxy, keys = late_504
    ((customer, card),) = seed(fake, 1)
    rows = [{"customer": customer, "payment_method": card, "amount": 4990}]
    await scaleout.enqueue(redis, rows, job_id="term", shards=1, shutdown_grace=0.3)
    keys.add("term:0")
    async with ching_async.Client(**settling_client(fake, proxy)) as client:
        first = asyncio.create_task(ShardRun(redis, client, "term", 0, job_timeout=30).run())
        await wait_until(lambda: proxy.counts["gateway_504"], within=10, what="the 504")
        await asyncio.sleep(0.5)
        first.cancel()  # what arq does to the running jobs on SIGTERM
        with pytest.raises(asyncio.CancelledError):
            await first
    assert (await scaleout.progress(redis, "term")).shards[0].in_doubt == 1

    # The next run is another worker's: its client knows nothing of the first send.
    async with ching_async.Client(**settling_client(fake, proxy)) as client:
        with caplog.at_level(logging.INFO, logger="ching_async.scaleout"):
            async with asyncio.timeout(20):
                outcome = await ShardRun(redis, client, "term", 0, job_timeout=30).run()
    assert outcome == "done"
    await proxy.drain()
    assert charges_per_key(fake) == Counter({"term:0": 1})
    (result,) = [r async for r in scaleout.results(redis, "term")]
    assert result.charge_id == fake.charges()[0].id
    assert "may still be committing" in caplog.text  # the wait says what it waits for


async def test_a_slice_deadline_mid_settle_hands_over_the_settle_wait(
    redis, redis_url, fake, late_504
) -> None:
    """One worker. Ten rows of one customer go one at a time (slow answers), so the
    last is sent after the soft stop; a 504 answers it and the server commits it
    4.5 s later, past the run's hard stop. The run is cut mid-settle and the next
    slice, on the same worker, must wait out the settle before its lookup."""
    proxy, keys = late_504
    ((customer, card),) = seed(fake, 1)
    rows = [{"customer": customer, "payment_method": card, "amount": 100 + i} for i in range(10)]
    await scaleout.enqueue(
        redis, rows, job_id="slice", shards=1, concurrency=10, shutdown_grace=0.3
    )
    keys.add("slice:9")
    # Rows 0-8 take 0.8 s each: row 9 is sent about 7.2 s in, between the soft
    # stop (6.5 s) and the hard stop (8.7 s) of a 10 s job timeout.
    fake.faults.add(Fault.latency(0.8), method="POST", path="/charges", times=9)

    await run_burst_worker(redis_url, fake, job_timeout=10, client=settling_client(fake, proxy))

    await proxy.drain()
    assert proxy.counts["gateway_504"] == 1
    snapshot = await scaleout.progress(redis, "slice")
    assert snapshot.shards[0].runs >= 2  # handed over at the slice deadline
    assert (snapshot.done, snapshot.summary.succeeded) == (10, 10)
    assert charges_per_key(fake) == Counter({f"slice:{i}": 1 for i in range(10)})
