"""Scale-out chaos: several `ching worker` processes on a real Redis, SIGKILLed and
SIGTERMed at seeded random moments, slices short enough that shards change hands
while a charge is still settling, and faults of every kind on ``POST /charges``
(see chaos_proxy). Every row must end with exactly one charge on the server and
a final result in Redis.

The default run takes about a minute. ``CHING_CHAOS_LONG=1`` adds a longer run
(more rows, more kills); ``CHING_CHAOS_SEED`` picks another seed. Which request
draws which fault depends on the order requests arrive from the processes, so a
seed fixes the kill schedule and the fault mix, not each request's fault.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest

import ching_async
from ching_async import Outcome, scaleout
from ching_async.scaleout import JobKeys
from ching_async.testing import FakeChing
from tests._support.fake_client import seed as seed_customers

from .chaos_proxy import KINDS, ChaosProxy

pytestmark = pytest.mark.slow

KEY = ching_async.IDEMPOTENCY_METADATA_KEY
SEED = int(os.environ.get("CHING_CHAOS_SEED", "1919"))
LONG = os.environ.get("CHING_CHAOS_LONG") == "1"

# The workers' client: short attempts, and a settle window longer than any late
# commit the proxy makes (MAX_COMMIT_DELAY after the request, plus one attempt
# timeout for a held request).
TIMEOUT = 0.5
SETTLE = 4.0
# Late commits land after the old hand-over wait (one attempt timeout and a
# heartbeat after the last run's last heartbeat) and before SETTLE.
MAX_COMMIT_DELAY = 3.4
JOB_TIMEOUT = 14.0  # a run stops taking rows about 9 s in: several slices per shard
GRACE = 0.5
RATES = {
    "reset_before": 0.08,
    "commit_then_drop": 0.07,
    "status_503": 0.06,
    "late_commit": 0.05,
    "gateway_504": 0.06,
}  # 32% of the POSTs


@attrs.frozen
class Plan:
    rows: int
    customers: int
    shards: int
    workers: int
    events: int  # kills, each followed by a fresh worker
    bound: float  # seconds the job may take before the test gives up


SHORT = Plan(rows=400, customers=200, shards=8, workers=3, events=4, bound=100)
LONGER = Plan(rows=3000, customers=1000, shards=16, workers=3, events=16, bound=600)


class Workers:
    """`ching worker` processes; each one is killed at teardown whatever happens."""

    def __init__(self, directory: Path, redis_url: str, proxy: ChaosProxy, api_key: str) -> None:
        self.directory = directory
        self.argv = [
            sys.executable,
            "-m",
            "ching_async.cli",
            "worker",
            "--redis",
            redis_url,
            "--job-timeout",
            str(JOB_TIMEOUT),
            "--max-jobs",
            "2",
            "--timeout",
            str(TIMEOUT),
            "--total-timeout",
            "15",
            "--max-retries",
            "3",
            "--settle",
            str(SETTLE),
        ]
        self.env = {
            **os.environ,
            "CHING_API_KEY": api_key,
            "CHING_BASE_URL": proxy.url,
            "PYTHONUNBUFFERED": "1",
        }
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = (self.directory / f"worker-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        log.close()
        self.processes.append(process)
        return process

    def live(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.processes if p.poll() is None]

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.directory.glob("worker-*.log"))
        )

    def stop_all(self) -> None:
        for process in self.live():
            process.send_signal(signal.SIGKILL)
        for process in self.processes:
            process.wait(10)


@pytest.mark.parametrize(
    "plan",
    [
        pytest.param(SHORT, id="short"),
        pytest.param(
            LONGER,
            id="long",
            marks=pytest.mark.skipif(
                not LONG, reason="the long chaos run takes minutes: set CHING_CHAOS_LONG=1"
            ),
        ),
    ],
)
async def test_scaleout_chaos_charges_every_row_exactly_once(
    plan: Plan, redis: Any, redis_url: str, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    job_id = f"chaos-{SEED}"
    async with FakeChing(seed=SEED, log_requests=False) as fake:
        cards = seed_customers(fake, plan.customers)
        rows = [
            {"customer": c, "payment_method": p, "amount": 100 + i}
            for i, (c, p) in enumerate(cards[i % len(cards)] for i in range(plan.rows))
        ]
        await scaleout.enqueue(
            redis, rows, job_id=job_id, shards=plan.shards, concurrency=4, shutdown_grace=GRACE
        )
        async with ChaosProxy(
            fake.root_url,
            seed=SEED,
            rates=RATES,
            attempt_timeout=TIMEOUT,
            commit_delay=(0.1, MAX_COMMIT_DELAY),
        ) as proxy:
            workers = Workers(tmp_path, redis_url, proxy, fake.api_key)
            try:
                for _ in range(plan.workers):
                    workers.start()
                kills = await _chaos(plan, rng, workers, redis, job_id)
                final = await _until_finished(redis, job_id, plan.bound)
                resumes = 0
                while not _all_final(final) and resumes < 3:
                    # As re-running `bulk-charge` does: queue what is unfinished again.
                    resumes += 1
                    await scaleout.enqueue(redis, None, job_id=job_id)
                    final = await _until_finished(redis, job_id, plan.bound)
            except BaseException:
                print(workers.logs())
                raise
            finally:
                workers.stop_all()
            await proxy.drain()  # every late commit has landed before counting
            faults = dict(proxy.counts)
        report = await _count(redis, job_id, plan.rows, fake)
    summary = (
        f"seed={SEED} rows={plan.rows} kills={dict(kills)} resumes={resumes} "
        f"faults={faults} {report}"
    )
    print(summary)
    assert set(faults) == set(KINDS), summary  # every kind of fault happened
    assert kills["SIGKILL"] >= 1, summary
    assert kills["SIGTERM"] >= 1, summary
    assert report["duplicates"] == 0, summary
    assert report["missing"] == 0, summary
    assert report["without_final_result"] == 0, summary
    assert report["mismatched"] == 0, summary


async def _chaos(
    plan: Plan, rng: random.Random, workers: Workers, redis: Any, job_id: str
) -> Counter[str]:
    """Kill a random worker now and then (SIGKILL or SIGTERM), starting a fresh one
    each time, until the events are spent or the job is finished."""
    kills: Counter[str] = Counter()
    for n in range(plan.events):
        await asyncio.sleep(rng.uniform(2.0, 6.0))
        if (await scaleout.progress(redis, job_id)).finished:
            break
        live = workers.live()
        if not live:
            break
        victim = rng.choice(live)
        # At least one of each, then at random.
        how = signal.SIGKILL if n == 0 else signal.SIGTERM if n == 1 else None
        how = how or rng.choice([signal.SIGKILL, signal.SIGTERM])
        victim.send_signal(how)
        kills[how.name] += 1
        workers.start()
    return kills


async def _until_finished(redis: Any, job_id: str, bound: float) -> Any:
    async with asyncio.timeout(bound):
        while True:
            snapshot = await scaleout.progress(redis, job_id)
            if snapshot.finished:
                return snapshot
            await asyncio.sleep(0.25)


def _all_final(snapshot: Any) -> bool:
    return bool(snapshot.complete and not any(s.in_doubt for s in snapshot.shards))


async def _count(redis: Any, job_id: str, rows: int, fake: FakeChing) -> dict[str, int]:
    """Duplicates and missing rows on the server; rows without a final result in Redis."""
    per_key = Counter(str(c.metadata.get(KEY)) for c in fake.charges())
    charge_of = {str(c.metadata.get(KEY)): c.id for c in fake.charges()}
    keys = JobKeys(job_id)
    final: dict[int, dict[str, Any]] = {}
    for n in range(int(await redis.hget(keys.meta, "shards"))):
        for index, raw in (await redis.hgetall(keys.results(n))).items():
            stored = orjson.loads(raw)
            if stored["final"]:
                final[int(index)] = stored
    expected = [f"{job_id}:{i}" for i in range(rows)]
    return {
        "charges": sum(per_key.values()),
        "duplicates": sum(per_key[k] - 1 for k in expected if per_key[k] > 1),
        "missing": sum(1 for k in expected if per_key[k] == 0),
        "without_final_result": rows - len(final),
        "not_succeeded": sum(1 for r in final.values() if r["outcome"] != Outcome.SUCCEEDED),
        # A final result naming another charge than the one the server holds.
        "mismatched": sum(
            1
            for i, r in final.items()
            if r.get("charge_id") and r["charge_id"] != charge_of.get(f"{job_id}:{i}")
        ),
    }
