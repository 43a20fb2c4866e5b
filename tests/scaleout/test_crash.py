"""A worker killed with SIGKILL mid-shard: arq runs its shards again elsewhere,
the in-flight items are reconciled, and every item is charged exactly once."""

from __future__ import annotations

import os
import signal
from collections import Counter

import pytest

import ching_async
from ching_async import Outcome, scaleout
from ching_async.testing import Fault
from tests._support.fake_client import items, seed

from .conftest import wait_until

pytestmark = pytest.mark.slow

JOB_TIMEOUT = 5.0  # arq notices the dead worker JOB_TIMEOUT + 10 s after its run started


async def test_sigkilled_worker_is_reconciled_not_recharged(
    redis, redis_url, fake, worker_processes
) -> None:
    cards = seed(fake, 60)
    count = 480
    # Slow charges, some much slower: a killed worker leaves requests that the
    # server still commits after the worker is gone.
    fake.faults.add(Fault.latency(0.4), method="POST", path="/charges", rate=0.2)
    fake.faults.add(Fault.latency(0.08), method="POST", path="/charges", rate=0.8)
    job = await scaleout.enqueue(
        redis,
        items(cards, count),
        job_id="crash-nov",
        shards=6,
        concurrency=3,
        shutdown_grace=0.5,
    )
    assert job.queued_shards == (0, 1, 2, 3, 4, 5)

    victim = worker_processes.start(redis_url, fake, job_timeout=JOB_TIMEOUT, max_jobs=3)
    survivor = worker_processes.start(redis_url, fake, job_timeout=JOB_TIMEOUT, max_jobs=3)
    tag = f":{victim.pid}"

    async def victim_progress() -> int:
        snapshot = await scaleout.progress(redis, "crash-nov")
        return sum(s.done for s in snapshot.shards if (s.worker or "").endswith(tag))

    try:
        await wait_until(
            lambda: _at_least(victim_progress(), 25), within=15, what="the victim to charge"
        )
        os.kill(victim.pid, signal.SIGKILL)
        assert victim.wait(10) == -signal.SIGKILL
        at_kill = await scaleout.progress(redis, "crash-nov")
        victim_shards = [s.shard for s in at_kill.shards if (s.worker or "").endswith(tag)]
        in_doubt_at_kill = sum(at_kill.shards[n].in_doubt for n in victim_shards)
        assert victim_shards
        assert in_doubt_at_kill > 0
        assert not at_kill.complete

        final = await wait_until(
            lambda: _finished(redis), within=35, what="the survivor to finish every shard"
        )
    except BaseException:
        print(worker_processes.logs())
        raise

    # A complete result set ...
    assert final.complete
    assert not final.stalled
    assert (final.done, final.summary.succeeded, final.summary.unknown) == (count, count, 0)
    results = [r async for r in scaleout.results(redis, "crash-nov")]
    assert sorted(r.index for r in results) == list(range(count))
    assert all(r.outcome is Outcome.SUCCEEDED for r in results)
    # ... and exactly one charge per item, the one each result names.
    key = ching_async.IDEMPOTENCY_METADATA_KEY
    per_key = Counter(str(c.metadata.get(key)) for c in fake.charges())
    assert per_key == Counter({f"crash-nov:{i}": 1 for i in range(count)})
    by_key = {c.metadata[key]: c.id for c in fake.charges()}
    assert all(by_key[r.idempotency_key] == r.charge_id for r in results)
    # The victim's shards were run again by the survivor, which looked the
    # in-doubt items up instead of sending them blindly.
    for n in victim_shards:
        assert final.shards[n].runs >= 2
        assert final.shards[n].worker == f"{final.shards[n].worker.split(':')[0]}:{survivor.pid}"
    lookups = [r for r in fake.requests() if r.method == "GET" and r.query.get("customer")]
    assert len(lookups) >= in_doubt_at_kill


async def _at_least(value: object, minimum: int) -> bool:
    return await value >= minimum  # type: ignore[misc, operator]


async def _finished(redis: object) -> object:
    snapshot = await scaleout.progress(redis, "crash-nov")  # type: ignore[arg-type]
    return snapshot if snapshot.finished else None
