"""The arq side: the shard function, worker settings, and running a worker."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from arq.connections import RedisSettings, create_pool
from arq.worker import Function, Retry, Worker, create_worker, func
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .. import Client
from ._keys import DEFAULT_QUEUE, SHARD_FUNCTION
from ._shard import ScaleoutConfigError, ShardRun, one_line

__all__ = [
    "DEFAULT_JOB_TIMEOUT",
    "WorkerSettings",
    "redis_url_from_env",
    "run_worker",
    "shard_function",
    "shutdown",
    "startup",
    "work",
    "worker_settings",
]

logger = logging.getLogger("ching_async.scaleout")

DEFAULT_JOB_TIMEOUT = 300.0
"""Seconds arq gives one run of a shard; a dead worker's shards run again after it."""
DEFAULT_MAX_JOBS = 4
DEFAULT_MAX_TRIES = 1000  # each slice of a shard is one try
REDIS_URL_ENV = "CHING_REDIS_URL"
CLIENT_KEY = "ching_client"
_OWNS_CLIENT = "_ching_owns_client"
_CLIENT_OPTIONS = "ching_client_options"


def redis_url_from_env() -> str:
    return os.environ.get(REDIS_URL_ENV) or "redis://127.0.0.1:6379"


def shard_function(
    *, job_timeout: float = DEFAULT_JOB_TIMEOUT, max_tries: int = DEFAULT_MAX_TRIES
) -> Function:
    """The arq function that charges one shard, to add to your own WorkerSettings.

    It uses ``ctx["ching_client"]`` (set it in your on_startup, or add
    `startup` and `shutdown` below). Its result is not kept (the results are in
    the job's Redis keys), so a finished shard can be queued again to resume.
    """

    async def ching_charge_shard(ctx: dict[str, Any], job_id: str, shard: int) -> str:
        client = ctx.get(CLIENT_KEY)
        if not isinstance(client, Client):
            raise ScaleoutConfigError(
                f"no ching_async.Client in ctx[{CLIENT_KEY!r}]: add ching_async.scaleout.startup "
                "to on_startup, or set it yourself"
            )
        run = ShardRun(ctx["redis"], client, job_id, shard, job_timeout=job_timeout)
        try:
            outcome = await run.run()
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise Retry(defer=5) from exc  # Redis is back soon, or the tries run out
        if outcome == "slice":
            raise Retry()  # the next slice, at once, on whichever worker is free
        return f"{outcome}: {run.charged} result(s) stored"

    return func(
        ching_charge_shard,
        name=SHARD_FUNCTION,
        timeout=job_timeout,
        keep_result=0,
        max_tries=max_tries,
    )


async def startup(ctx: dict[str, Any]) -> None:
    """arq on_startup: a ching_async.Client in ``ctx["ching_client"]``, unless one is there.

    It is built from $CHING_API_KEY and $CHING_BASE_URL, with the options in
    ``ctx["ching_client_options"]`` if any.
    """
    if ctx.get(CLIENT_KEY) is None:
        ctx[CLIENT_KEY] = Client(**dict(ctx.get(_CLIENT_OPTIONS) or {}))
        ctx[_OWNS_CLIENT] = True


async def shutdown(ctx: dict[str, Any]) -> None:
    """arq on_shutdown: close the client `startup` made."""
    if ctx.pop(_OWNS_CLIENT, False):
        client = ctx.pop(CLIENT_KEY)
        await client.aclose()


def worker_settings(
    redis_url: str | None = None,
    *,
    queue_name: str = DEFAULT_QUEUE,
    max_jobs: int = DEFAULT_MAX_JOBS,
    job_timeout: float = DEFAULT_JOB_TIMEOUT,
    max_tries: int = DEFAULT_MAX_TRIES,
    client_options: Mapping[str, Any] | None = None,
    client: Client | None = None,
    burst: bool = False,
    poll_delay: float = 0.5,
    **worker_options: Any,
) -> dict[str, Any]:
    """arq worker settings (a dict for ``arq.worker.create_worker``) that charge shards.

    `max_jobs` is how many shards one worker charges at once (each with the
    job's per-shard concurrency). `job_timeout` bounds one run of a shard: a
    run stops taking items well before it and the shard is continued by the
    next run, and a worker that dies is noticed by arq `job_timeout + 10`
    seconds after its run started. `client_options` go to the
    ``ching_async.Client`` the worker makes at startup (the key and base URL
    default to $CHING_API_KEY and $CHING_BASE_URL); or pass your own open
    `client` (it is not closed).
    """
    ctx: dict[str, Any] = {_CLIENT_OPTIONS: dict(client_options or {})}
    if client is not None:
        ctx[CLIENT_KEY] = client
    return {
        "functions": [shard_function(job_timeout=job_timeout, max_tries=max_tries)],
        "redis_settings": RedisSettings.from_dsn(redis_url or redis_url_from_env()),
        "queue_name": queue_name,
        "max_jobs": max_jobs,
        "job_timeout": job_timeout,
        "keep_result": 0,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "ctx": ctx,
        "burst": burst,
        "poll_delay": poll_delay,
        **worker_options,
    }


class WorkerSettings:
    """For the arq command line: ``arq ching_async.scaleout.WorkerSettings``.

    Redis from $CHING_REDIS_URL (default redis://127.0.0.1:6379), CHING from
    $CHING_API_KEY and $CHING_BASE_URL.
    """

    functions: ClassVar[list[Function]] = [shard_function()]
    redis_settings = RedisSettings.from_dsn(redis_url_from_env())
    queue_name = DEFAULT_QUEUE
    max_jobs = DEFAULT_MAX_JOBS
    job_timeout = DEFAULT_JOB_TIMEOUT
    keep_result = 0
    on_startup = startup
    on_shutdown = shutdown


async def work(redis_url: str | None = None, **settings: Any) -> None:
    """Run a worker in the running event loop until SIGINT/SIGTERM (or, with
    ``burst=True``, until the queue is empty). Takes `worker_settings` arguments.

    A Redis outage does not stop it: it says so on the ``ching_async.scaleout``
    logger, waits for Redis with backoff, and carries on. Shard runs in progress
    meanwhile fail their Redis writes and are run again (their rows stay open)."""
    url = redis_url or redis_url_from_env()
    worker = create_worker(worker_settings(url, **settings))
    stopped = asyncio.Event()  # a signal, also while Redis is down and arq is not running
    worker.on_stop = lambda _signal: stopped.set()
    try:
        while True:
            try:
                await worker.async_run()
                return
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # we were cancelled, not stopped by a signal
                return
            except REDIS_DOWN as exc:
                if not await _wait_for_redis(worker, _safe_url(url), exc, stopped):
                    return
                _recover_slots(worker)
    finally:
        await close_worker(worker)


REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)
REDIS_BACKOFF = (0.5, 5.0)  # first and longest wait between two tries to reach Redis
REMIND_EVERY = 30.0  # seconds between two "still waiting for Redis" lines


async def _wait_for_redis(
    worker: Worker, url: str, error: BaseException, stopped: asyncio.Event
) -> bool:
    """Wait until Redis answers again (True), or a signal asks to stop (False)."""
    logger.warning(
        "lost Redis at %s (%s); waiting for it to come back, then taking shards again "
        "(Ctrl-C to stop)",
        url,
        one_line(error),
    )
    loop = asyncio.get_running_loop()
    down_since = reminded = loop.time()
    delay, longest = REDIS_BACKOFF
    while not stopped.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopped.wait(), delay)
        if stopped.is_set():
            break
        try:
            await _ping(worker)
        except REDIS_DOWN as exc:
            delay = min(longest, delay * 2)
            if loop.time() - reminded >= REMIND_EVERY:
                reminded = loop.time()
                logger.warning(
                    "still waiting for Redis at %s (down %.0fs: %s)",
                    url,
                    loop.time() - down_since,
                    one_line(exc),
                )
            continue
        logger.warning(
            "Redis at %s is back after %.1fs; taking shards again", url, loop.time() - down_since
        )
        return True
    return False


async def _ping(worker: Worker) -> None:
    if worker._pool is None:  # Redis was gone before arq's first connection
        settings = worker.redis_settings
        assert settings is not None  # worker_settings always sets it
        pool = await create_pool(dataclasses.replace(settings, conn_retries=0))
        await pool.aclose()
        return
    # Idle connections to the Redis that went away are dead: start afresh.
    await worker.pool.connection_pool.disconnect(inuse_connections=False)
    await worker.pool.ping()


def _recover_slots(worker: Worker) -> None:
    """Forget job tasks that ended while Redis was down (their errors are Redis's), and
    give back the job slots arq took for jobs it could not start: without this, every
    outage would leave the worker able to run fewer shards at once. Called once Redis
    is back, so the slot callbacks of tasks that ended meanwhile have run."""
    for job_id, task in list(worker.tasks.items()):
        if task.done():
            del worker.tasks[job_id]
            if not task.cancelled() and task.exception() is not None:
                logger.debug("job %s ended while Redis was down: %r", job_id, task.exception())
    leaked = worker.job_counter - sum(not t.done() for t in worker.tasks.values())
    for _ in range(max(0, leaked)):
        worker.job_counter -= 1
        worker.sem.release()


def _safe_url(url: str) -> str:
    """The Redis URL without its password, for log lines."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


async def close_worker(worker: Worker) -> None:
    """`worker.close()`, without the DeprecationWarning arq 0.28 triggers in redis-py 5,
    and without a traceback when Redis is gone: the connections are dropped anyway."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Call to deprecated close", DeprecationWarning)
        try:
            await worker.close()
        except REDIS_DOWN as exc:
            logger.warning("Redis unreachable while stopping (%s)", one_line(exc))
            # close() stopped at the first task that failed on Redis; the rest were
            # cancelled by then and must end before the client they use is closed.
            await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
            await shutdown(worker.ctx)
            with contextlib.suppress(*REDIS_DOWN):
                await worker.pool.close(close_connection_pool=True)


def run_worker(redis_url: str | None = None, **settings: Any) -> None:
    """`work` in a new event loop: ``run_worker("redis://...", max_jobs=8)``."""
    asyncio.run(work(redis_url, **settings))
