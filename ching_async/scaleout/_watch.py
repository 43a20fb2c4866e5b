"""Following a job: progress snapshots, and the per-item results."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

import attrs
import orjson
from arq.constants import job_key_prefix

from .._bulk import BulkSummary, ChargeResult, Outcome
from .._errors import InvalidParameterError
from .._validation import check_job_id
from ._codec import decode_item, stored_to_result
from ._keys import JobKeys, arq_job_id
from ._shard import HEARTBEAT

if TYPE_CHECKING:
    from arq.connections import ArqRedis

__all__ = ["JobNotFoundError", "JobProgress", "ShardProgress", "progress", "results", "watch"]

STALL_AFTER = 3 * HEARTBEAT + 2  # seconds without a heartbeat, and no arq job: stalled
CHUNK = 1000


class JobNotFoundError(InvalidParameterError):
    """No such job in Redis (never enqueued, deleted, or expired)."""


@attrs.frozen
class ShardProgress:
    """One shard's part of a `JobProgress`."""

    shard: int
    items: int
    done: int  # items with a result (final or not)
    in_doubt: int  # items that may have been sent and have no final result
    status: str  # queued | running | done | error
    runs: int  # runs (arq tries) that claimed the shard
    worker: str | None  # host:pid of the last run
    heartbeat_age: float | None  # seconds since the last run's last sign of life
    error: str | None
    stalled: bool  # not done, no arq job left to run it: re-enqueue to resume


@attrs.frozen
class JobProgress:
    """A snapshot of a job's progress (`progress`, `watch`)."""

    job_id: str
    items: int
    shards: tuple[ShardProgress, ...]
    summary: BulkSummary  # counts by outcome, over the items with a result
    charged: Mapping[str, int]  # currency -> smallest units charged

    @property
    def done(self) -> int:
        """Items with a result, final or not."""
        return self.summary.total

    @property
    def complete(self) -> bool:
        """Every shard ran to its end (some items may still be unknown or failed)."""
        return all(s.status == "done" for s in self.shards)

    @property
    def stalled(self) -> tuple[int, ...]:
        """The shards not done with no arq job left to run them: enqueue again to resume."""
        return tuple(s.shard for s in self.shards if s.stalled)

    @property
    def finished(self) -> bool:
        """Nothing more will happen without a new enqueue: complete, or the rest stalled."""
        return all(s.status == "done" or s.stalled for s in self.shards)


async def progress(redis: ArqRedis, job_id: str) -> JobProgress:
    """One snapshot of a job's progress, from its Redis keys."""
    keys = JobKeys(check_job_id(job_id, hash_tag=True))
    r: Any = redis
    async with r.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.meta)
        pipe.time()
        meta_raw, (seconds, micros) = await pipe.execute()
    meta = _text(meta_raw)
    if meta.get("status") != "enqueued":
        raise JobNotFoundError(f"job {job_id!r} is not in Redis (or is still being enqueued)")
    now = int(seconds) + int(micros) / 1e6
    shard_count = int(meta["shards"])
    shard_items = [int(n) for n in meta["shard_items"].split(",")]
    async with r.pipeline(transaction=False) as pipe:
        for n in range(shard_count):
            pipe.hgetall(keys.state(n))
            pipe.hgetall(keys.counts(n))
            pipe.scard(keys.open(n))
            pipe.exists(job_key_prefix + arq_job_id(job_id, n))
        answers = await pipe.execute()
    summary = BulkSummary()
    charged: dict[str, int] = {}
    shards = []
    for n in range(shard_count):
        state, counts = _text(answers[4 * n]), _text(answers[4 * n + 1])
        in_doubt, queued = int(answers[4 * n + 2]), bool(answers[4 * n + 3])
        done = 0
        for outcome in Outcome:
            count = int(counts.get(outcome.value, 0))
            setattr(summary, outcome.value, getattr(summary, outcome.value) + count)
            done += count
        for field, value in counts.items():
            if field.startswith("amount:"):
                currency = field.removeprefix("amount:")
                charged[currency] = charged.get(currency, 0) + int(value)
                summary.amount_charged += int(value)
        status = state.get("status", "queued")
        heartbeat = state.get("heartbeat")
        age = now - float(heartbeat) if heartbeat else None
        stalled = (
            status != "done"
            and not queued
            and (status == "error" or age is None or age > STALL_AFTER)
        )
        shards.append(
            ShardProgress(
                shard=n,
                items=shard_items[n],
                done=done,
                in_doubt=in_doubt,
                status=status,
                runs=int(state.get("runs", 0)),
                worker=state.get("worker"),
                heartbeat_age=age,
                error=state.get("error"),
                stalled=stalled,
            )
        )
    return JobProgress(job_id, int(meta["items"]), tuple(shards), summary, charged)


async def watch(
    redis: ArqRedis, job_id: str, *, interval: float = 0.5
) -> AsyncIterator[JobProgress]:
    """A snapshot every `interval` seconds, until the job is finished (the last one says so)."""
    while True:
        snapshot = await progress(redis, job_id)
        yield snapshot
        if snapshot.finished:
            return
        await asyncio.sleep(interval)


async def results(redis: ArqRedis, job_id: str) -> AsyncIterator[ChargeResult]:
    """Every item that has a result, as a ChargeResult (shard by shard, in job order
    within a shard). `charge` and `error` are not stored: see `charge_id` and
    `error_message`. Streams: memory does not grow with the job."""
    keys = JobKeys(check_job_id(job_id, hash_tag=True))
    r: Any = redis
    meta = _text(await r.hgetall(keys.meta))
    if meta.get("status") != "enqueued":
        raise JobNotFoundError(f"job {job_id!r} is not in Redis (or is still being enqueued)")
    for n in range(int(meta["shards"])):
        start = 0
        while True:
            raw = await r.lrange(keys.items(n), start, start + CHUNK - 1)
            if not raw:
                break
            start += len(raw)
            decoded = [decode_item(item) for item in raw]
            stored = await r.hmget(keys.results(n), [d[0] for d in decoded])
            for (index, params, invalid), value in zip(decoded, stored, strict=True):
                if value is None:
                    continue
                item = params if params is not None else (invalid or {}).get("item")
                yield stored_to_result(index, item, orjson.loads(value))


def _text(mapping: Mapping[Any, Any]) -> dict[str, str]:
    return {_s(k): _s(v) for k, v in mapping.items()}


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
