"""Scale-out over arq and a real Redis, with in-process workers against FakeChing."""

from __future__ import annotations

import asyncio
import hashlib
import re
import subprocess
import sys
import textwrap
from collections import Counter
from typing import Any

import orjson
import pytest

import ching_async
from ching_async import Outcome, scaleout
from ching_async.scaleout import JobKeys
from ching_async.testing import FakeChing, Fault
from tests._support.fake_client import items, seed

from .conftest import BOUND, client_options, run_burst_worker

KEY = ching_async.IDEMPOTENCY_METADATA_KEY
ONE_ITEM = [{"customer": "cus_1", "payment_method": "pm_1", "amount": 5}]


def charges_per_key(fake: FakeChing) -> Counter[str]:
    return Counter(str(c.metadata.get(KEY)) for c in fake.charges())


async def all_results(redis: Any, job_id: str) -> list[ching_async.ChargeResult]:
    return [r async for r in scaleout.results(redis, job_id)]


# ------------------------------------------------------------------ partitioning
def test_shard_of_is_blake2b_of_the_customer_modulo_shards() -> None:
    digest = hashlib.blake2b(b"cus_V8ltq1pK_MWH", digest_size=8).digest()
    assert scaleout.shard_of("cus_V8ltq1pK_MWH", 16) == int.from_bytes(digest, "big") % 16
    # Stable across processes (Python's hash() is salted per process).
    code = "from ching_async.scaleout import shard_of; print(shard_of('cus_V8ltq1pK_MWH', 97))"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
            env={"PYTHONHASHSEED": seed_value, "PATH": ""},
        ).stdout.strip()
        for seed_value in ("1", "2")
    }
    assert outputs == {str(scaleout.shard_of("cus_V8ltq1pK_MWH", 97))}
    spread = Counter(scaleout.shard_of(f"cus_{n:08d}", 8) for n in range(8000))
    assert set(spread) == set(range(8))
    assert min(spread.values()) > 850


def test_importing_without_arq_says_which_extra_to_install() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["arq"] = None  # as if the extra were not installed
        import ching_async
        assert "ching_async.scaleout" not in sys.modules
        try:
            import ching_async.scaleout
        except ImportError as exc:
            print(exc)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert "pip install 'ching-async[arq]'" in out.stdout


def test_import_ching_async_does_not_import_scaleout() -> None:
    code = (
        "import sys, ching_async; "
        "print('ching_async.scaleout' in sys.modules, 'arq' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert out.stdout.split() == ["False", "False"]


async def test_items_of_one_customer_share_a_shard(redis) -> None:
    cards = [(f"cus_{n:06d}", f"pm_{n:06d}") for n in range(50)]
    await scaleout.enqueue(redis, items(cards, 1000), job_id="part", shards=7)
    keys = JobKeys("part")
    shard_of_customer: dict[str, int] = {}
    seen = []
    for n in range(7):
        for raw in await redis.lrange(keys.items(n), 0, -1):
            item = orjson.loads(raw)
            seen.append(item["i"])
            assert shard_of_customer.setdefault(item["customer"], n) == n
            assert n == scaleout.shard_of(item["customer"], 7)
    assert sorted(seen) == list(range(1000))


def test_every_key_of_a_shard_is_expired_and_deleted_with_it() -> None:
    keys = JobKeys("j")
    parts = [keys.items(3), keys.state(3), keys.results(3), keys.counts(3), keys.open(3)]
    assert keys.of_shard(3) == parts
    assert parts[0] == "ching:job:{j}:shard:3:items"
    assert keys.open.__doc__ == "The `open` key of shard `n`."


@pytest.mark.parametrize("bad", ["a{b", "a}b", "a b", "", "x" * 201, 7])
async def test_job_ids_with_braces_or_spaces_are_rejected_before_redis_is_touched(
    bad: Any,
) -> None:
    # Braces would end the Redis hash tag the id sits in; a bulk job takes them.
    message = "job_id must be 1-200 printable ASCII characters without spaces, '{' or '}'"
    with pytest.raises(ching_async.InvalidParameterError, match=re.escape(message)):
        await scaleout.enqueue(None, ONE_ITEM, job_id=bad)  # type: ignore[arg-type]
    with pytest.raises(ching_async.InvalidParameterError, match=re.escape(message)):
        await scaleout.progress(None, bad)  # type: ignore[arg-type]
    with pytest.raises(ching_async.InvalidParameterError, match=re.escape(message)):
        await anext(scaleout.results(None, bad))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("option", "message"),
    [
        *(
            ({"shards": bad}, f"shards must be an int from 1 to 10000, got {bad!r}")
            for bad in (0, 10_001, True, "4", 2.0)
        ),
        ({"items": 42}, "items must be an iterable or an async iterable"),
        ({"ttl": None}, "ttl must be a number of seconds >= 0, got NoneType None"),
        ({"ttl": "3600"}, "ttl must be a number of seconds >= 0, got str '3600'"),
        ({"ttl": 59.5}, "ttl must be at least 60 seconds, got 59.5"),
    ],
    ids=repr,
)
async def test_bad_arguments_are_refused_before_redis_is_touched(
    option: dict[str, Any], message: str
) -> None:
    arguments = {"items": ONE_ITEM, "job_id": "j", **option}
    with pytest.raises(ching_async.InvalidParameterError, match=f"^{re.escape(message)}$"):
        await scaleout.enqueue(None, **arguments)  # type: ignore[arg-type]


# --------------------------------------------------------------------- the job
async def test_every_item_charged_once_with_declines_invalid_items_and_own_keys(
    redis, redis_url, fake
) -> None:
    cards = seed(fake, 40, declining=4)
    rows: list[Any] = list(items(cards, 200))
    rows[7] = {**rows[7], "idempotency_key": "invoice-7"}
    rows.append({"customer": cards[0][0], "payment_method": cards[0][1], "amount": "49.90"})
    rows.append({"payment_method": "pm_x", "amount": 100})
    job = await scaleout.enqueue(
        redis, iter(rows), job_id="nov", shards=4, concurrency=4, shutdown_grace=0.5
    )
    assert (job.items, job.shards, job.resumed) == (202, 4, False)
    assert job.queued_shards == (0, 1, 2, 3)

    await run_burst_worker(redis_url, fake)

    snapshot = await scaleout.progress(redis, "nov")
    assert snapshot.complete
    assert snapshot.finished
    assert not snapshot.stalled
    s = snapshot.summary
    assert (s.succeeded, s.declined, s.failed, s.unknown) == (180, 20, 2, 0)
    results = await all_results(redis, "nov")
    assert sorted(r.index for r in results) == list(range(202))
    by_index = {r.index: r for r in results}
    assert by_index[7].idempotency_key == "invoice-7"
    assert by_index[8].idempotency_key == "nov:8"
    assert by_index[200].outcome is Outcome.FAILED
    assert "amount" in by_index[200].error_message
    assert by_index[201].outcome is Outcome.FAILED
    assert "customer" in by_index[201].error_message
    succeeded = [r for r in results if r.outcome is Outcome.SUCCEEDED]
    assert snapshot.charged == {"ils": sum(r.params.amount for r in succeeded)}
    assert s.amount_charged == snapshot.charged["ils"]
    # One charge per item the server accepted (declines included), none for the bad rows.
    per_key = charges_per_key(fake)
    assert set(per_key.values()) == {1}
    assert set(per_key) == {r.idempotency_key for r in results if r.index < 200}
    charge_ids = {c.metadata[KEY]: c.id for c in fake.charges()}
    assert all(charge_ids[r.idempotency_key] == r.charge_id for r in succeeded)
    # Freshly enqueued items were never in doubt: no lookup before sending.
    assert not [r for r in fake.requests() if r.method == "GET"]


async def test_redis_layout_and_expiry(redis, redis_url, fake) -> None:
    cards = seed(fake, 5)
    await scaleout.enqueue(
        redis, items(cards, 20), job_id="lay.out:1", shards=2, ttl=3600, shutdown_grace=0.5
    )
    await run_burst_worker(redis_url, fake)
    names = sorted(k.decode() for k in await redis.keys("ching:job:*"))
    expected = {"ching:job:{lay.out:1}:meta"}
    for n in range(2):
        base = f"ching:job:{{lay.out:1}}:shard:{n}"
        expected |= {f"{base}:items", f"{base}:state", f"{base}:results", f"{base}:counts"}
    assert set(names) == expected  # `open` is gone: nothing is in doubt
    for name in names:
        assert 3500 < await redis.ttl(name) <= 3600
    meta = await redis.hgetall("ching:job:{lay.out:1}:meta")
    assert meta[b"status"] == b"enqueued"
    assert meta[b"items"] == b"20"
    assert meta[b"shards"] == b"2"
    stored = await redis.hgetall("ching:job:{lay.out:1}:shard:0:results")
    index, value = next(iter(stored.items()))
    result = orjson.loads(value)
    assert result["outcome"] == "succeeded"
    assert result["final"] is True
    assert result["key"] == f"lay.out:1:{int(index)}"
    assert result["charge_id"].startswith("ch_")
    counts = await redis.hgetall("ching:job:{lay.out:1}:shard:0:counts")
    assert int(counts[b"succeeded"]) == len(stored)


async def test_default_expiry_is_seven_days(redis) -> None:
    await scaleout.enqueue(redis, ONE_ITEM, job_id="week", shards=1)
    ttl = await redis.ttl("ching:job:{week}:shard:0:items")
    assert 7 * 86400 - 60 < ttl <= 7 * 86400


async def test_enqueue_streams_items_in_chunks(redis) -> None:
    keys = JobKeys("stream")
    pushed_while_reading: list[int] = []

    async def rows():
        for i in range(5000):
            if i == 3500:
                lengths = [await redis.llen(keys.items(n)) for n in range(4)]
                pushed_while_reading.append(sum(lengths))
            yield {"customer": f"cus_{i % 300}", "payment_method": "pm_1", "amount": 100}

    job = await scaleout.enqueue(redis, rows(), job_id="stream", shards=4)
    assert job.items == 5000
    # Chunks of 1,000 reached Redis before the iterator was exhausted.
    assert pushed_while_reading == [3000]


async def test_enqueue_again_resumes_without_pushing_or_queueing_twice(
    redis, redis_url, fake
) -> None:
    cards = seed(fake, 10)
    first = await scaleout.enqueue(
        redis, items(cards, 50), job_id="twice", shards=3, shutdown_grace=0.5
    )
    again = await scaleout.enqueue(redis, items(cards, 50), job_id="twice")
    assert again.resumed
    assert again.queued_shards == ()
    assert again.items == 50
    assert await redis.zcard(scaleout.DEFAULT_QUEUE) == len(first.queued_shards) == 3
    assert sum([await redis.llen(JobKeys("twice").items(n)) for n in range(3)]) == 50

    await run_burst_worker(redis_url, fake)
    done = await scaleout.enqueue(redis, None, job_id="twice")
    assert done.resumed
    assert done.queued_shards == ()
    await run_burst_worker(redis_url, fake)
    assert len(fake.charges()) == 50
    assert set(charges_per_key(fake).values()) == {1}


async def test_enqueue_conflicts(redis) -> None:
    rows = [{"customer": "cus_1", "payment_method": "pm_1", "amount": n} for n in range(1, 4)]
    await scaleout.enqueue(redis, rows, job_id="c", shards=2)
    with pytest.raises(scaleout.JobConflictError, match="different items"):
        await scaleout.enqueue(redis, rows[:2], job_id="c")
    with pytest.raises(scaleout.JobConflictError, match="2 shards"):
        await scaleout.enqueue(redis, rows, job_id="c", shards=3)
    with pytest.raises(scaleout.JobNotFoundError):
        await scaleout.progress(redis, "nope")
    with pytest.raises(ching_async.InvalidParameterError, match="does not exist"):
        await scaleout.enqueue(redis, None, job_id="nope")
    assert not await redis.exists(JobKeys("nope").meta)


async def test_a_dead_enqueuers_partial_push_is_replaced(redis, redis_url, fake) -> None:
    cards = seed(fake, 3)

    async def dies_midway():
        for i, row in enumerate(items(cards, 2500)):
            if i == 2200:
                raise RuntimeError("killed")
            yield row

    with pytest.raises(RuntimeError):
        await scaleout.enqueue(redis, dies_midway(), job_id="half", shards=2)
    with pytest.raises(scaleout.JobConflictError, match="being enqueued"):
        await scaleout.enqueue(redis, items(cards, 30), job_id="half", shards=2)
    await redis.hset(JobKeys("half").meta, "lease", "0")  # the lease ran out
    job = await scaleout.enqueue(
        redis, items(cards, 30), job_id="half", shards=2, shutdown_grace=0.5
    )
    assert job.items == 30
    assert not job.resumed
    await run_burst_worker(redis_url, fake)
    assert len(fake.charges()) == 30


# ------------------------------------------------------------- crash safety
async def test_in_doubt_items_wait_for_orphans_then_are_looked_up(redis, redis_url, fake) -> None:
    """A previous run died a moment ago with item 0 in flight; the server commits
    it 0.8 s later. The next run waits (client timeout + heartbeat) before
    looking it up, so it finds the charge instead of making a second one."""
    ((customer, card),) = seed(fake, 1)
    rows = [{"customer": customer, "payment_method": card, "amount": 700 + i} for i in range(3)]
    await scaleout.enqueue(redis, rows, job_id="orphan", shards=1, shutdown_grace=0.5)
    keys = JobKeys("orphan")
    seconds, _ = await redis.time()
    await redis.hset(keys.state(0), mapping={"heartbeat": str(seconds), "status": "running"})
    await redis.sadd(keys.open(0), 0)
    asyncio.get_running_loop().call_later(
        0.8, lambda: fake.add_charge(customer, card, amount=700, metadata={KEY: "orphan:0"})
    )
    started = asyncio.get_running_loop().time()
    await run_burst_worker(redis_url, fake)
    assert asyncio.get_running_loop().time() - started >= 1.0
    assert sorted(charges_per_key(fake).items()) == [
        ("orphan:0", 1),
        ("orphan:1", 1),
        ("orphan:2", 1),
    ]
    lookups = [r for r in fake.requests() if r.method == "GET"]
    assert len(lookups) == 1  # only the item in doubt was looked up
    snapshot = await scaleout.progress(redis, "orphan")
    assert snapshot.summary.succeeded == 3
    assert snapshot.shards[0].in_doubt == 0


async def test_final_results_are_skipped_and_the_rest_reconciled_on_resume(
    redis, redis_url, fake
) -> None:
    cards = seed(fake, 4)
    # The first POST fails with a 503 and no retries are left: a non-final failure.
    fake.faults.add(Fault.status(503), method="POST", path="/charges", times=1)
    await scaleout.enqueue(
        redis, items(cards, 12), job_id="again", shards=1, concurrency=1, shutdown_grace=0.5
    )
    await run_burst_worker(redis_url, fake, client={"max_retries": 0})
    first = await scaleout.progress(redis, "again")
    assert (first.summary.succeeded, first.summary.failed) == (11, 1)
    assert first.complete
    assert first.shards[0].in_doubt == 1
    posts_before = len(fake.requests_to("POST", "/charges"))

    job = await scaleout.enqueue(redis, None, job_id="again")
    assert job.resumed
    assert job.queued_shards == (0,)
    assert not (await scaleout.progress(redis, "again")).complete
    await run_burst_worker(redis_url, fake)

    second = await scaleout.progress(redis, "again")
    assert (second.summary.succeeded, second.summary.failed, second.done) == (12, 0, 12)
    assert second.shards[0].in_doubt == 0
    assert second.shards[0].runs == 2
    # Only the failed item was sent again (after a lookup); final ones were skipped.
    assert len(fake.requests_to("POST", "/charges")) == posts_before + 1
    assert len(fake.charges()) == 12
    assert set(charges_per_key(fake).values()) == {1}


async def test_a_long_shard_runs_in_slices(redis, redis_url, fake) -> None:
    cards = seed(fake, 20)
    fake.faults.add(Fault.latency(0.05), method="POST", path="/charges")
    await scaleout.enqueue(
        redis, items(cards, 120), job_id="slices", shards=1, concurrency=2, shutdown_grace=0.3
    )
    await run_burst_worker(redis_url, fake, job_timeout=4)
    snapshot = await scaleout.progress(redis, "slices")
    assert snapshot.complete
    assert snapshot.done == 120
    assert snapshot.shards[0].runs >= 2  # stopped inside arq's timeout, continued by Retry
    assert not [r for r in fake.requests() if r.method == "GET"]  # clean slice ends: no doubt
    assert len(fake.charges()) == 120
    assert set(charges_per_key(fake).values()) == {1}


async def test_a_run_that_loses_the_shard_stops_sending(redis, fake) -> None:
    from ching_async.scaleout._shard import ShardRun

    cards = seed(fake, 30)
    fake.faults.add(Fault.latency(0.05), method="POST", path="/charges")
    await scaleout.enqueue(
        redis, items(cards, 300), job_id="lost", shards=1, concurrency=2, shutdown_grace=0.3
    )
    async with ching_async.Client(**client_options(fake)) as client:
        run = ShardRun(redis, client, "lost", 0, job_timeout=60)
        task = asyncio.create_task(run.run())
        await asyncio.sleep(0.5)
        await redis.hset(JobKeys("lost").state(0), "owner", "someone-else")
        outcome = await asyncio.wait_for(task, 10)
    assert outcome == "lost"
    sent = len(fake.charges())
    assert 0 < sent < 300
    state = await redis.hgetall(JobKeys("lost").state(0))
    assert state[b"owner"] == b"someone-else"
    assert state[b"status"] == b"running"


async def test_a_failed_shard_is_reported_stalled_and_resumes(redis, redis_url, fake) -> None:
    cards = seed(fake, 6)
    await scaleout.enqueue(redis, items(cards, 30), job_id="stall", shards=2, shutdown_grace=0.5)
    # job_timeout too short for the client's settle wait: every run fails at once.
    # keep_result: a worker that keeps failed jobs' results must not block a resume.
    await run_burst_worker(redis_url, fake, job_timeout=2, keep_result=3600)
    async with asyncio.timeout(BOUND):
        snapshots = [s async for s in scaleout.watch(redis, "stall", interval=0.05)]
    last = snapshots[-1]
    assert last.finished
    assert not last.complete
    assert last.stalled == (0, 1)
    assert all(s.status == "error" and "job_timeout" in (s.error or "") for s in last.shards)

    job = await scaleout.enqueue(redis, None, job_id="stall")
    assert job.queued_shards == (0, 1)
    await run_burst_worker(redis_url, fake)
    final = await scaleout.progress(redis, "stall")
    assert final.complete
    assert final.done == 30
    assert not final.stalled
    assert len(fake.charges()) == 30


async def test_watch_follows_a_running_job(redis, redis_url, fake) -> None:
    cards = seed(fake, 10)
    fake.faults.add(Fault.latency(0.01), method="POST", path="/charges")
    await scaleout.enqueue(
        redis, items(cards, 100), job_id="w", shards=2, concurrency=2, shutdown_grace=0.5
    )
    worker = asyncio.create_task(run_burst_worker(redis_url, fake))
    async with asyncio.timeout(BOUND):
        seen = [s.done async for s in scaleout.watch(redis, "w", interval=0.05)]
        await worker
    assert seen == sorted(seen)
    assert seen[-1] == 100
    assert len(set(seen)) > 2


async def test_rate_limit_is_split_across_shards_and_resume_keeps_options(redis) -> None:
    from ching_async.scaleout._shard import _Options

    await scaleout.enqueue(redis, ONE_ITEM, job_id="rate", shards=4, rate_limit=20, concurrency=3)

    async def options() -> _Options:
        meta = await redis.hgetall(JobKeys("rate").meta)
        return _Options.from_meta({k.decode(): v.decode() for k, v in meta.items()})

    first = await options()
    assert (first.rate_limit, first.concurrency, first.shutdown_grace) == (5.0, 3, 5.0)
    # A resume changes only the options it is given.
    await scaleout.enqueue(redis, None, job_id="rate", concurrency=5)
    resumed = await options()
    assert (resumed.rate_limit, resumed.concurrency, resumed.shutdown_grace) == (5.0, 5, 5.0)
