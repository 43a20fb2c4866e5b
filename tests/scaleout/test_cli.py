"""``ching bulk-charge FILE --redis URL`` and ``ching worker``, against a real Redis."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import ching_async
from ching_async.cli import _scaleout
from ching_async.cli._errors import ConfigError, ExitCode, UsageError
from ching_async.cli._output import Output
from ching_async.testing import FakeChing
from tests._support.fake_client import seed

from .conftest import BOUND, client_options

KEY = ching_async.IDEMPOTENCY_METADATA_KEY


def write_csv(path: Path, cards: list[tuple[str, str]], rows: int) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer", "payment_method", "amount", "description"])
        for i in range(rows):
            customer, card = cards[i % len(cards)]
            writer.writerow([customer, card, 1000 + i, f"Invoice {i}"])
    return path


def bulk_args(file: Path, redis_url: str | None, **overrides: Any) -> argparse.Namespace:
    values: dict[str, Any] = {
        "file": str(file),
        "job_id": "may",
        "concurrency": 4,
        "rate": None,
        "journal": None,
        "no_journal": False,
        "output": None,
        "dry_run": False,
        "progress": "lines",
        "redis": redis_url,
        "shards": 4,
        "queue": None,
        "detach": False,
        "lookup_first": False,
        "json": False,
    }
    values.update(overrides)
    return argparse.Namespace(**values)


def output(json_mode: bool = False) -> tuple[Output, io.StringIO, io.StringIO]:
    stdout, stderr = io.StringIO(), io.StringIO()
    return Output(json_mode=json_mode, stdout=stdout, stderr=stderr), stdout, stderr


@pytest.fixture
async def background_worker(redis_url: str, fake: FakeChing) -> AsyncIterator[None]:
    from arq.worker import create_worker

    from ching_async.scaleout import worker_settings
    from ching_async.scaleout._worker import close_worker

    worker = create_worker(
        worker_settings(
            redis_url,
            handle_signals=False,
            poll_delay=0.05,
            job_timeout=10,
            client_options=client_options(fake),
        )
    )
    task = asyncio.create_task(worker.async_run())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await close_worker(worker)


async def test_bulk_charge_over_redis_follows_to_the_usual_report(
    redis_url, fake, background_worker, tmp_path
) -> None:
    cards = seed(fake, 8, declining=1)
    file = write_csv(tmp_path / "may.csv", cards, 40)
    results_csv = tmp_path / "results.csv"
    out, stdout, stderr = output()
    async with asyncio.timeout(BOUND):
        code = await _scaleout.bulk_charge(bulk_args(file, redis_url, output=str(results_csv)), out)
    assert code == ExitCode.FAILED  # five rows were declined
    assert "enqueued job 'may': 40 rows in 4 shards (by customer)" in stderr.getvalue()
    assert "charging (4 shards): 40/40 rows (100%)" in stderr.getvalue()
    text = stdout.getvalue()
    assert "Job 'may' (4 shards, over Redis): 40 of 40 rows" in text
    assert "Rows not charged:" in text
    assert "row 2: declined" in text  # rows are numbered as in the file
    with results_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(int(r["row"]) for r in rows) == list(range(2, 42))
    assert Counter(r["outcome"] for r in rows) == {"succeeded": 35, "declined": 5}
    per_key = Counter(c.metadata[KEY] for c in fake.charges())
    assert set(per_key) == {f"may:{i}" for i in range(40)}
    assert set(per_key.values()) == {1}

    # The same command again: nothing is enqueued twice, the same report comes back.
    posts = len(fake.requests_to("POST", "/charges"))
    out, stdout, stderr = output(json_mode=True)
    async with asyncio.timeout(BOUND):
        assert await _scaleout.bulk_charge(bulk_args(file, redis_url), out) == ExitCode.FAILED
    assert "already in Redis" in stderr.getvalue()
    assert len(fake.requests_to("POST", "/charges")) == posts
    import json

    report = json.loads(stdout.getvalue())
    assert (report["rows"], report["succeeded"], report["declined"]) == (40, 35, 5)
    assert (report["shards"], report["stalled_shards"]) == (4, [])


async def test_detach_enqueues_and_exits(redis, redis_url, fake, tmp_path) -> None:
    cards = seed(fake, 3)
    file = write_csv(tmp_path / "d.csv", cards, 10)
    out, stdout, _ = output(json_mode=True)
    code = await _scaleout.bulk_charge(
        bulk_args(file, redis_url, detach=True, shards=2, queue="billing"), out
    )
    assert code == ExitCode.OK
    assert '"queued_shards": [\n    0,\n    1\n  ]' in stdout.getvalue()
    assert await redis.zcard("billing") == 2
    assert not fake.charges()


async def test_usage_errors_send_nothing(redis, redis_url, tmp_path) -> None:
    file = tmp_path / "bad.csv"
    file.write_text("customer,payment_method,amount\ncus_1,pm_1,49.90\n")
    out, _, _ = output()
    with pytest.raises(UsageError, match="invalid"):
        await _scaleout.bulk_charge(bulk_args(file, redis_url), out)
    with pytest.raises(UsageError, match="--journal"):
        await _scaleout.bulk_charge(bulk_args(file, redis_url, journal="j.jsonl"), out)
    with pytest.raises(UsageError, match="--shards needs --redis"):
        await _scaleout.bulk_charge(bulk_args(file, None), out)
    assert await redis.dbsize() == 0


async def test_worker_command_needs_a_key_then_charges(
    redis, redis_url, fake, tmp_path, monkeypatch
) -> None:
    from ching_async import scaleout

    args = argparse.Namespace(
        redis=redis_url,
        queue=scaleout.DEFAULT_QUEUE,
        max_jobs=2,
        job_timeout=60.0,
        burst=True,
        verbose=False,
        timeout=30.0,
        total_timeout=120.0,
        max_retries=2,
        settle=30.0,
    )
    monkeypatch.delenv("CHING_API_KEY", raising=False)
    out, _, _ = output()
    with pytest.raises(ConfigError, match="CHING_API_KEY or pass --api-key"):
        await _scaleout.worker(args, out)
    monkeypatch.setenv("CHING_API_KEY", fake.api_key)
    monkeypatch.setenv("CHING_BASE_URL", fake.url)
    monkeypatch.setattr(_scaleout, "_configure_logging", lambda verbose: None)
    with pytest.raises(UsageError, match="--job-timeout must be at least 53 s"):
        await _scaleout.worker(argparse.Namespace(**{**vars(args), "job_timeout": 10.0}), out)
    # The minimum follows the settle window: a longer --settle needs a longer timeout.
    with pytest.raises(UsageError, match=r"at least 97 s: .* up to 61 s \(--settle"):
        await _scaleout.worker(argparse.Namespace(**{**vars(args), "settle": 60.0}), out)

    cards = seed(fake, 4)
    rows = [{"customer": c, "payment_method": p, "amount": 100} for c, p in cards * 3]
    await scaleout.enqueue(redis, rows, job_id="w", shards=2, shutdown_grace=0.5)
    out, _, stderr = output()
    async with asyncio.timeout(BOUND):
        assert await _scaleout.worker(args, out) == ExitCode.OK
    assert "worker charging at" in stderr.getvalue()
    assert len(fake.charges()) == 12
    assert (await scaleout.progress(redis, "w")).complete


async def test_a_worker_whose_key_is_refused_stops_its_shard(redis, redis_url, fake) -> None:
    from ching_async import scaleout

    from .conftest import run_burst_worker

    cards = seed(fake, 4)
    rows = [{"customer": c, "payment_method": p, "amount": 100} for c, p in cards * 5]
    await scaleout.enqueue(redis, rows, job_id="refused", shards=1, shutdown_grace=0.5)
    bad_key = "ck_test_" + "0" * 64
    await run_burst_worker(redis_url, fake, client={"api_key": bad_key})
    snapshot = await scaleout.progress(redis, "refused")
    assert snapshot.done == 0  # nothing was marked failed for good
    assert snapshot.stalled == (0,)
    assert "refused this worker's key" in (snapshot.shards[0].error or "")
    await scaleout.enqueue(redis, None, job_id="refused")
    await run_burst_worker(redis_url, fake)
    final = await scaleout.progress(redis, "refused")
    assert final.complete
    assert final.summary.succeeded == 20


def test_parser_options() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command")
    bulk = commands.add_parser("bulk-charge")
    bulk.add_argument("file")
    _scaleout.add_bulk_charge_options(bulk)
    _scaleout.add_worker_command(commands)
    args = parser.parse_args(["bulk-charge", "f.csv", "--redis", "redis://h:1", "--shards", "8"])
    assert (args.redis, args.shards, args.queue, args.detach) == ("redis://h:1", 8, None, False)
    args = parser.parse_args(["worker", "--max-jobs", "3", "--burst"])
    assert (args.max_jobs, args.burst, args.queue) == (3, True, "ching:queue")
    assert args.job_timeout == 300
    assert (args.timeout, args.total_timeout, args.max_retries, args.settle) == (30, 120, 2, 30)
    assert callable(args.handler)
    client_flags = ["--timeout", "2.5", "--total-timeout", "20", "--max-retries", "0"]
    args = parser.parse_args(["worker", *client_flags, "--settle", "4"])
    assert (args.timeout, args.total_timeout, args.max_retries, args.settle) == (2.5, 20, 0, 4)
    for bad in (["--timeout", "0"], ["--settle", "-1"], ["--max-retries", "x"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["worker", *bad])


async def test_the_ching_command_end_to_end(redis, redis_url, fake, tmp_path) -> None:
    """`ching bulk-charge --redis --detach`, `ching worker --burst`, then
    `ching bulk-charge --redis` again for the report: real processes, real argv."""
    import os
    import sys

    cards = seed(fake, 5, declining=0)
    file = write_csv(tmp_path / "e2e.csv", cards, 25)
    env = {**os.environ, "CHING_API_KEY": fake.api_key, "CHING_BASE_URL": fake.url}

    async def ching(*argv: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ching_async.cli",
            *argv,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(BOUND):
                stdout, stderr = await process.communicate()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode is not None
        return process.returncode, stdout.decode(), stderr.decode()

    base = ["bulk-charge", str(file), "--job-id", "e2e", "--redis", redis_url, "--shards", "3"]
    code, stdout, stderr = await ching(*base, "--detach")
    assert code == ExitCode.OK, stderr
    assert "25 rows in 3 shards" in stdout
    code, _, stderr = await ching("worker", "--redis", redis_url, "--burst", "--job-timeout", "60")
    assert code == ExitCode.OK, stderr
    assert "worker charging at" in stderr
    code, stdout, stderr = await ching(*base, "--progress", "off")
    assert code == ExitCode.OK, stderr
    assert "Job 'e2e' (3 shards, over Redis): 25 of 25 rows" in stdout
    assert len(fake.charges()) == 25
