"""Enqueueing a job: stream the items into per-shard Redis lists, then queue one
arq job per shard."""

from __future__ import annotations

import functools
import hashlib
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import attrs
from arq.constants import job_key_prefix, result_key_prefix

from .._bulk import ChargeParams
from .._errors import ChingError, InvalidParameterError
from .._validation import (
    check_count,
    check_flag,
    check_items,
    check_job_id,
    check_rate,
    check_seconds,
)
from . import _scripts
from ._codec import encode_invalid, encode_item, to_params
from ._keys import DEFAULT_QUEUE, SHARD_FUNCTION, JobKeys, arq_job_id, shard_of

if TYPE_CHECKING:
    from arq.connections import ArqRedis

__all__ = ["DEFAULT_SHARDS", "DEFAULT_TTL", "EnqueuedJob", "JobConflictError", "enqueue"]

DEFAULT_SHARDS = 16
"""Shards of a job when `enqueue` is not told (`shards=`)."""
MAX_SHARDS = 10_000
DEFAULT_TTL = timedelta(days=7)
"""How long a job's Redis keys live after its last enqueue."""
CHUNK = 1000  # items per round trip to Redis
LEASE = 60.0  # seconds an enqueuer holds a job between two chunks


class JobConflictError(InvalidParameterError):
    """The job id is taken: by different items, or by an enqueue still running."""


@attrs.frozen
class EnqueuedJob:
    """What `enqueue` did: the job's size and the shards this call queued."""

    job_id: str
    items: int  # items in the job
    shards: int
    resumed: bool  # the job already existed: nothing was pushed again
    queued_shards: tuple[int, ...]  # shards queued by this call (the rest were done or queued)
    queue_name: str


async def enqueue(
    redis: ArqRedis,
    items: Iterable[Any] | AsyncIterable[Any] | None,
    *,
    job_id: str,
    shards: int | None = None,
    concurrency: int | None = None,
    rate_limit: float | None = None,
    one_per_customer: bool | None = None,
    shutdown_grace: float | None = None,
    lookup_first: bool = False,
    queue_name: str = DEFAULT_QUEUE,
    ttl: timedelta | float = DEFAULT_TTL,
) -> EnqueuedJob:
    """Put a bulk charging job in Redis for arq workers to charge.

    Items (ChargeParams or mappings, as for `charges.create_many`) are read
    lazily and pushed in chunks of 1,000 to the list of their shard: the
    blake2b hash of the customer id modulo `shards`, so every item of one
    customer is charged by one shard, one at a time. Item `i` keeps the key
    `<job_id>:<i>` (or its own), whichever worker charges it.

    Then one arq job per shard is queued, with the deterministic arq job id
    ``ching:<job_id>:shard:<n>``, so it is never queued twice.

    Calling it again for an existing job resumes it: nothing is pushed again
    (the items, if given, must be the same ones: JobConflictError otherwise;
    pass None to skip that check), the options passed (not None) replace the
    job's, and the shards that are not finished, or hold results to
    reconcile, are queued again.

    `concurrency` (default 16) is per shard; `rate_limit` (requests per
    second, default none) is for the whole job and is split evenly across the
    shards; `one_per_customer` (default True) and `shutdown_grace` (default
    5 s) are `create_many`'s. `lookup_first=True` (new jobs only) looks up
    every item before its first send (one extra GET each, and one per run): use it when this
    job id may have run before with Redis state that is now gone.
    """
    check_job_id(job_id, hash_tag=True)
    if items is not None:
        check_items(items)
    if shards is not None:
        check_count("shards", shards, maximum=MAX_SHARDS)
    if concurrency is not None:
        check_count("concurrency", concurrency)
    if shutdown_grace is not None:
        check_seconds("shutdown_grace", shutdown_grace)
    if one_per_customer is not None:
        check_flag("one_per_customer", one_per_customer)
    check_flag("lookup_first", lookup_first)
    if rate_limit is not None:
        check_rate("rate_limit", rate_limit)
    ttl_s = ttl.total_seconds() if isinstance(ttl, timedelta) else check_seconds("ttl", ttl)
    if not ttl_s >= 60:
        raise InvalidParameterError(f"ttl must be at least 60 seconds, got {ttl!r}")
    given: dict[str, Any] = {"ttl": repr(ttl_s)}  # what a resume changes
    if concurrency is not None:
        given["concurrency"] = concurrency
    if rate_limit is not None:
        given["rate_limit"] = repr(float(rate_limit))
    if one_per_customer is not None:
        given["one_per_customer"] = int(bool(one_per_customer))
    if shutdown_grace is not None:
        given["shutdown_grace"] = repr(float(shutdown_grace))
    options = {
        "concurrency": 16,
        "rate_limit": "",
        "one_per_customer": 1,
        "shutdown_grace": "5.0",
        **given,
        "lookup_first": int(bool(lookup_first)),
        "queue": queue_name,
    }
    pusher = _Pusher(redis, job_id, shards or DEFAULT_SHARDS, ttl_s)
    verdict, previous = await pusher.begin()
    if verdict == "busy":
        raise JobConflictError(
            f"job {job_id!r} is being enqueued by another process right now; try again later"
        )
    if verdict == "exists":
        return await _resume(redis, items, job_id, shards, given, queue_name, ttl_s)
    if verdict == "takeover" and previous.isdigit():
        await pusher.clear(int(previous))  # a dead enqueuer's partial push: nothing was queued
    if items is None:
        await _delete(redis, JobKeys(job_id), pusher.shards)
        raise InvalidParameterError(f"job {job_id!r} does not exist: pass its items")
    count, shard_items, fingerprint = await pusher.push(_aiter(items))
    fields = {
        **options,
        "job_id": job_id,
        "items": count,
        "fingerprint": fingerprint,
        "shard_items": ",".join(map(str, shard_items)),
        "created": repr(time.time()),
    }
    if not await pusher.commit(fields):
        raise JobConflictError(f"job {job_id!r} was taken over by another enqueuer")
    queued = await _queue_shards(
        redis, JobKeys(job_id), job_id, shard_items, queue_name, ttl_s, only_unfinished=False
    )
    return EnqueuedJob(job_id, count, pusher.shards, False, queued, queue_name)


async def _resume(
    redis: Any,
    items: Iterable[Any] | AsyncIterable[Any] | None,
    job_id: str,
    shards: int | None,
    options: dict[str, Any],
    queue_name: str,
    ttl_s: float,
) -> EnqueuedJob:
    keys = JobKeys(job_id)
    meta = _text(await redis.hgetall(keys.meta))
    stored_shards = int(meta["shards"])
    if shards is not None and shards != stored_shards:
        raise JobConflictError(
            f"job {job_id!r} was enqueued with {stored_shards} shards, not {shards}"
        )
    if items is not None:
        count, fingerprint = await _fingerprint(_aiter(items))
        if fingerprint != meta.get("fingerprint"):
            raise JobConflictError(
                f"job {job_id!r} already exists with different items ({meta.get('items')} "
                f"then, {count} now); items are matched by position, so resuming it with "
                "these could charge the wrong ones. Use a new job id"
            )
    if meta.get("queue", queue_name) != queue_name:
        raise JobConflictError(
            f"job {job_id!r} was enqueued on queue {meta.get('queue')!r}, not {queue_name!r}"
        )
    await redis.hset(keys.meta, mapping=options)
    shard_items = [int(n) for n in meta["shard_items"].split(",")]
    queued = await _queue_shards(
        redis, keys, job_id, shard_items, queue_name, ttl_s, only_unfinished=True
    )
    return EnqueuedJob(job_id, int(meta["items"]), stored_shards, True, queued, queue_name)


async def _queue_shards(
    redis: Any,
    keys: JobKeys,
    job_id: str,
    shard_items: list[int],
    queue_name: str,
    ttl_s: float,
    *,
    only_unfinished: bool,
) -> tuple[int, ...]:
    ttl_ms = int(ttl_s * 1000)
    async with redis.pipeline(transaction=False) as pipe:
        for n in range(len(shard_items)):
            pipe.hget(keys.state(n), "status")
            pipe.scard(keys.open(n))
        answers = await pipe.execute()
    queued = []
    for n, count in enumerate(shard_items):
        status, open_count = answers[2 * n], answers[2 * n + 1]
        finished = status in (b"done", "done") and not open_count
        async with redis.pipeline(transaction=False) as pipe:
            for key in [keys.meta, *keys.of_shard(n)]:
                pipe.pexpire(key, ttl_ms)
            if count == 0 or (only_unfinished and finished):
                if status is None:
                    pipe.hset(keys.state(n), mapping={"status": "done", "items": count})
                    pipe.pexpire(keys.state(n), ttl_ms)
                await pipe.execute()
                continue
            pipe.hset(keys.state(n), mapping={"status": "queued", "items": count})
            pipe.pexpire(keys.state(n), ttl_ms)
            await pipe.execute()
        queue_it = functools.partial(
            redis.enqueue_job,
            SHARD_FUNCTION,
            job_id,
            n,
            _job_id=arq_job_id(job_id, n),
            _queue_name=queue_name,
            _expires=ttl_s,
        )
        job = await queue_it()
        if job is None and await _drop_kept_result(redis, arq_job_id(job_id, n)):
            job = await queue_it()
        if job is not None:
            queued.append(n)
    return tuple(queued)


async def _drop_kept_result(redis: Any, arq_id: str) -> bool:
    """A finished arq job whose result arq kept blocks its id: drop the result.

    (The shard function keeps none, but a worker keeps failed jobs' results.)
    """
    if await redis.exists(job_key_prefix + arq_id):
        return False  # queued or running: that run will do
    return bool(await redis.delete(result_key_prefix + arq_id))


class _Pusher:
    def __init__(self, redis: Any, job_id: str, shards: int, ttl_s: float) -> None:
        self._redis = redis
        self.keys = JobKeys(job_id)
        self.shards = shards
        self._ttl_ms = int(ttl_s * 1000)
        self._token = uuid.uuid4().hex
        self._push = redis.register_script(_scripts.PUSH)

    async def begin(self) -> tuple[str, str]:
        script = self._redis.register_script(_scripts.BEGIN)
        verdict, previous = await script(
            keys=[self.keys.meta],
            args=[self._token, int(LEASE * 1000), self._ttl_ms, self.shards],
        )
        return _str(verdict), _str(previous)

    async def clear(self, shards: int) -> None:
        await _delete(self._redis, self.keys, shards, keep_meta=True)

    async def push(self, items: AsyncIterator[Any]) -> tuple[int, list[int], str]:
        buffers: list[list[bytes]] = [[] for _ in range(self.shards)]
        counts = [0] * self.shards
        digest = hashlib.sha256()
        buffered = index = 0
        async for item in items:
            encoded, shard = _encode(index, item, self.shards)
            digest.update(encoded + b"\n")
            buffers[shard].append(encoded)
            counts[shard] += 1
            index += 1
            buffered += 1
            if buffered >= CHUNK:
                await self._flush(buffers)
                buffered = 0
        await self._flush(buffers)
        return index, counts, digest.hexdigest()

    async def _flush(self, buffers: list[list[bytes]]) -> None:
        used = [n for n, buffer in enumerate(buffers) if buffer]
        keys = [self.keys.meta, *(self.keys.items(n) for n in used)]
        args: list[Any] = [self._token, int(LEASE * 1000), self._ttl_ms]
        args += [len(buffers[n]) for n in used]
        for n in used:
            args += buffers[n]
        if not await self._push(keys=keys, args=args):
            raise JobConflictError(
                f"job {self.keys.job_id!r} was taken over by another enqueuer while pushing"
            )
        for n in used:
            buffers[n].clear()

    async def commit(self, fields: dict[str, Any]) -> bool:
        script = self._redis.register_script(_scripts.COMMIT)
        args: list[Any] = [self._token, self._ttl_ms]
        for name, value in fields.items():
            args += [name, value]
        return bool(await script(keys=[self.keys.meta], args=args))


def _encode(index: int, item: Any, shards: int) -> tuple[bytes, int]:
    try:
        params = to_params(item)
    except ChingError as exc:
        if isinstance(item, ChargeParams):
            customer: Any = item.customer
        else:
            customer = item.get("customer") if isinstance(item, Mapping) else None
        shard = shard_of(customer, shards) if isinstance(customer, str) else 0
        return encode_invalid(index, item, exc), shard
    return encode_item(index, params), shard_of(params.customer, shards)


async def _fingerprint(items: AsyncIterator[Any]) -> tuple[int, str]:
    digest = hashlib.sha256()
    count = 0
    async for item in items:
        encoded, _ = _encode(count, item, 1)
        digest.update(encoded + b"\n")
        count += 1
    return count, digest.hexdigest()


async def _delete(redis: Any, keys: JobKeys, shards: int, *, keep_meta: bool = False) -> None:
    names = [] if keep_meta else [keys.meta]
    for n in range(shards):
        names += keys.of_shard(n)
    for start in range(0, len(names), 500):
        await redis.delete(*names[start : start + 500])


async def _aiter(items: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:  # checked by enqueue: an iterable
        for item in items:
            yield item


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _text(mapping: dict[Any, Any]) -> dict[str, str]:
    return {_str(k): _str(v) for k, v in mapping.items()}
