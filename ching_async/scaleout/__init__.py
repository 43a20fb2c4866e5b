"""Scale a bulk charging job out over many machines, with arq and Redis.

    pip install 'ching-async[arq]'

Enqueue (anywhere)::

    from arq import create_pool
    from arq.connections import RedisSettings
    from ching_async import scaleout

    redis = await create_pool(RedisSettings.from_dsn("redis://10.0.0.5:6379"))
    job = await scaleout.enqueue(redis, rows(), job_id="billing-2026-11", shards=32)
    async for snapshot in scaleout.watch(redis, "billing-2026-11"):
        print(snapshot.done, "/", snapshot.items, snapshot.summary)
    async for result in scaleout.results(redis, "billing-2026-11"):
        ...

Charge (on each of N machines)::

    CHING_API_KEY=ck_live_... CHING_REDIS_URL=redis://10.0.0.5:6379 ching worker
    # or: arq ching_async.scaleout.WorkerSettings

Items are partitioned by customer (blake2b of the customer id, modulo the
shard count), and each shard is one arq job charged with
`charges.create_many`: a customer's charges are only ever sent by one shard,
and arq runs one job id at a time, so the per-customer single flight and the
reconciliation it protects hold across machines without a distributed lock.
See `_shard` for crash safety and `_keys` for the Redis layout.

Not imported by ``import ching_async``.
"""

from __future__ import annotations

try:
    import arq  # noqa: F401
    import redis.asyncio  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        f"ching_async.scaleout needs the optional arq extra: pip install 'ching-async[arq]' ({exc})"
    ) from exc

from ._enqueue import DEFAULT_SHARDS, DEFAULT_TTL, EnqueuedJob, JobConflictError, enqueue
from ._keys import DEFAULT_QUEUE, JobKeys, arq_job_id, shard_of
from ._shard import ScaleoutConfigError
from ._watch import JobNotFoundError, JobProgress, ShardProgress, progress, results, watch
from ._worker import (
    DEFAULT_JOB_TIMEOUT,
    WorkerSettings,
    run_worker,
    shard_function,
    shutdown,
    startup,
    work,
    worker_settings,
)

__all__ = [
    "DEFAULT_JOB_TIMEOUT",
    "DEFAULT_QUEUE",
    "DEFAULT_SHARDS",
    "DEFAULT_TTL",
    "EnqueuedJob",
    "JobConflictError",
    "JobKeys",
    "JobNotFoundError",
    "JobProgress",
    "ScaleoutConfigError",
    "ShardProgress",
    "WorkerSettings",
    "arq_job_id",
    "enqueue",
    "progress",
    "results",
    "run_worker",
    "shard_function",
    "shard_of",
    "shutdown",
    "startup",
    "watch",
    "work",
    "worker_settings",
]
