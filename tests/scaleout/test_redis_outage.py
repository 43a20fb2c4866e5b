"""Issue 19, defect 8: a Redis restart must not stop the workers. Redis (with AOF)
goes away for 2.4 s mid-job and comes back with the job intact; every `ching
worker`, busy or idle, waits for it, says so on stderr without a traceback, and
finishes the job: one charge per row."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from arq import create_pool
from arq.connections import RedisSettings

import ching_async
from ching_async import scaleout
from ching_async.testing import FakeChing, Fault
from tests._support.fake_client import items, seed

from .conftest import RedisServer, find_redis_server, wait_until

pytestmark = pytest.mark.slow

KEY = ching_async.IDEMPOTENCY_METADATA_KEY
OUTAGE = 2.4


async def test_workers_ride_out_a_redis_restart(fake: FakeChing, tmp_path: Path) -> None:
    binary = find_redis_server()
    if binary is None:
        pytest.skip("no redis-server binary found (apt-get install -y redis-server)")
    (tmp_path / "redis").mkdir()
    server = RedisServer(binary, tmp_path / "redis", appendonly=True)
    server.start()
    processes: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        pool = await create_pool(RedisSettings.from_dsn(server.url))
        try:
            cards = seed(fake, 40)
            fake.faults.add(Fault.latency(0.15), method="POST", path="/charges")
            await scaleout.enqueue(
                pool, items(cards, 200), job_id="outage", shards=4, concurrency=2
            )

            def worker(name: str, *extra: str) -> None:
                log = tmp_path / f"{name}.log"
                argv = [sys.executable, "-m", "ching_async.cli", "worker", "--redis", server.url]
                argv += ["--job-timeout", "10", "--timeout", "1", "--settle", "1", *extra]
                env = {**os.environ, "CHING_API_KEY": fake.api_key, "CHING_BASE_URL": fake.url}
                with log.open("wb") as out:
                    process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
                processes.append((process, log))

            worker("busy-1", "--max-jobs", "2")
            worker("busy-2", "--max-jobs", "2")
            worker("idle", "--queue", "nothing-here")  # polls Redis, never has a job

            async def charged() -> int:
                return (await scaleout.progress(pool, "outage")).done

            await wait_until(lambda: _at_least(charged(), 30), within=20, what="charging")
            server.stop()
            await asyncio.sleep(OUTAGE)
            server.start(same_port=True)
            await asyncio.sleep(1.0)
            exited = {log.stem: p.returncode for p, log in processes if p.poll() is not None}
            assert not exited, _logs(processes)

            final = await wait_until(
                lambda: _finished(pool), within=60, what="the job to finish after the outage"
            )
        finally:
            await pool.aclose()
        assert final.complete
        assert (final.done, final.summary.succeeded) == (200, 200)
        assert Counter(c.metadata[KEY] for c in fake.charges()) == Counter(
            {f"outage:{i}": 1 for i in range(200)}
        )
        for process, _ in processes:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(15) for process, _ in processes]
        assert codes == [0, 0, 0], _logs(processes)
        for _, log in processes:
            text = log.read_text(errors="replace")
            assert "lost Redis at" in text, text
            assert "is back after" in text, text
            assert "Traceback" not in text, text
    finally:
        for process, _ in processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
        server.stop()


async def _at_least(value: object, minimum: int) -> bool:
    return await value >= minimum  # type: ignore[misc, operator]


async def _finished(pool: object) -> object:
    snapshot = await scaleout.progress(pool, "outage")  # type: ignore[arg-type]
    return snapshot if snapshot.finished else None


def _logs(processes: list[tuple[subprocess.Popen[bytes], Path]]) -> str:
    return "\n".join(
        f"--- {log.name} (exit {p.poll()})\n{log.read_text(errors='replace')[-3000:]}"
        for p, log in processes
    )


async def test_job_slots_taken_for_jobs_that_never_started_are_given_back(
    redis_url: str,
) -> None:
    """arq takes a job slot before it reads the job from Redis; a Redis error there
    keeps the slot. After an outage the worker gives such slots back (or each
    outage would leave it able to run fewer shards), and keeps running jobs' slots."""
    from arq.worker import create_worker

    from ching_async.scaleout import worker_settings
    from ching_async.scaleout._worker import _recover_slots

    worker = create_worker(worker_settings(redis_url, max_jobs=2, handle_signals=False))
    running = asyncio.create_task(asyncio.sleep(30))
    try:
        for _ in range(2):  # one running job, one that failed on Redis before starting
            await worker.sem.acquire()
            worker.job_counter += 1
        worker.tasks["running"] = running
        _recover_slots(worker)
        assert worker.job_counter == 1
        # arq's semaphore holds max_jobs + 1 permits: the given-back one and the
        # spare are free, the running job keeps its own.
        for _ in range(2):
            await asyncio.wait_for(worker.sem.acquire(), 1)
        assert worker.sem.locked()
    finally:
        running.cancel()


def test_log_lines_hide_the_redis_password() -> None:
    from ching_async.scaleout._worker import _safe_url

    assert _safe_url("redis://:s3cret@10.0.0.5:6379/0") == "redis://:***@10.0.0.5:6379/0"
    assert _safe_url("rediss://u:s3cret@h/1") == "rediss://u:***@h/1"
    assert _safe_url("redis://10.0.0.5:6379") == "redis://10.0.0.5:6379"
