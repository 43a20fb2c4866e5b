"""Charging one shard: the arq job a worker runs.

Why this is exactly-once across machines without a distributed lock:
- every item of a customer is in one shard (blake2b of the customer id), and
  arq runs one job id at a time, so a customer's charges are only ever sent
  by one run at a time: the per-customer single flight of `create_many` (and
  with it the 100-newest-charges window reconciliation relies on) holds;
- an item's key is `<job_id>:<global index>` (or its own) whichever run sends it;
- before an item is handed to `create_many` it is added to the shard's `open`
  set (awaited, so before anything is sent); it leaves the set only when a
  final result is stored. A run that died leaves its in-flight items there.

A run:
1. claims the shard (a fresh owner token; the previous run's last heartbeat
   plus its settle window is folded into the shard's `quiet_at`);
2. if items are open (in doubt), waits until `quiet_at`: the previous run's
   last heartbeat plus its settle window (`settle_window`: a heartbeat, and
   the client's `RetryPolicy.settle` or attempt timeout, whichever is longer).
   A request it sent, even one answered by a 504 just before it was handed
   over or killed, may be committed on the server until then, and an empty
   lookup before then would prove nothing: the client's own settle rule,
   carried across the hand-over. (`RetryPolicy(instant=True)` skips the
   settle, as the client does; the attempt timeout still applies.)
3. pass 1: the open items, each looked up by its key before it is sent again
   (`create_many` without `assume_new`);
4. pass 2: the items with no result yet, sent without a lookup (nothing can
   have sent them: they were never open), unless the job asked `lookup_first`.
   It starts only if the soft stop has not come: a pass 1 that outlasts it
   ends the run as a slice, never as done. The shard is marked done only
   when every item has a stored result (checked in Redis by FINISH);
5. stops taking items well inside the arq job timeout and cancels what is
   still in flight shortly after (those stay open; see `stop_times`), then
   asks arq to run it again (`Retry`):
   a shard of any size runs in slices, so a dead worker's shard is picked up
   after `job_timeout + 10` s, not after the whole shard's running time.

Each run also checks, with every dispatch and heartbeat, that it still owns
the shard; a run that finds another owner stops sending at once (a guard for
a worker frozen past its arq timeout, not something arq lets happen otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import uuid
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

import attrs

from .._bulk import ChargeParams
from .._errors import AuthenticationError, PermissionDeniedError
from . import _scripts
from ._codec import decode_item, invalid_record, result_record
from ._keys import JobKeys

if TYPE_CHECKING:
    from .. import Client

__all__ = ["HEARTBEAT", "ScaleoutConfigError", "ShardRun", "min_job_timeout", "settle_window"]

logger = logging.getLogger("ching_async.scaleout")

HEARTBEAT = 1.0  # seconds between a run's heartbeats
SOFT_STOP = 0.75  # of a run's time budget: stop taking items
CHUNK = 1000  # items read from Redis at a time
DISPATCH_BATCH = 8  # items marked open per round trip


class ScaleoutConfigError(RuntimeError):
    """The worker's settings cannot work (e.g. a job timeout shorter than the settle
    wait, or an API key the API refuses)."""


class ShardRun:
    def __init__(
        self,
        redis: Any,
        client: Client,
        job_id: str,
        shard: int,
        *,
        job_timeout: float,
        worker: str | None = None,
    ) -> None:
        self._redis = redis
        self._client = client
        self.job_id = job_id
        self.shard = shard
        self.keys = JobKeys(job_id)
        self._job_timeout = job_timeout
        self._worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self._token = uuid.uuid4().hex
        self._stop = False
        self._lost = False
        self._ttl_ms = 0
        self._record = redis.register_script(_scripts.RECORD)
        self._dispatch = redis.register_script(_scripts.DISPATCH)
        self.charged = 0  # results stored by this run
        # Marked open by this run (and not open before), not yet handed to create_many.
        self._never_sent: set[int] = set()

    # ----------------------------------------------------------------- run
    async def run(self) -> str:
        """Charge what is left of the shard. Returns done, slice (more to do), lost or gone."""
        meta = {_s(k): _s(v) for k, v in (await self._redis.hgetall(self.keys.meta)).items()}
        if meta.get("status") != "enqueued":
            logger.warning("job %s: not found in Redis (expired or deleted)", self.job_id)
            return "gone"
        options = _Options.from_meta(meta)
        self._ttl_ms = int(options.ttl * 1000)
        loop = asyncio.get_running_loop()
        started = loop.time()
        budget, cutoff = stop_times(self._job_timeout, options.shutdown_grace)
        soft, hard = started + budget, started + cutoff
        window = settle_window(self._client)
        claim = self._redis.register_script(_scripts.CLAIM)
        quiet_at, now = await claim(
            keys=[self.keys.state(self.shard)],
            args=[self._token, self._worker, self._ttl_ms, repr(window)],
        )
        beat = asyncio.create_task(self._beat())
        deadline = loop.call_at(soft, self._soft_stop)
        try:
            if not window < budget:
                raise ScaleoutConfigError(
                    f"job_timeout {self._job_timeout:g}s is too short: a shard run may first "
                    f"wait {window:g}s (heartbeat + the client's settle or attempt timeout, "
                    "whichever is longer) for a previous run's requests to settle, and must "
                    f"end {options.shutdown_grace:g}s (shutdown_grace) and a margin before the "
                    "timeout; use a job_timeout of at least "
                    f"{math.ceil(min_job_timeout(window, options.shutdown_grace))}s"
                )
            open_now = {int(m) for m in await self._redis.smembers(self.keys.open(self.shard))}
            finished = True
            if open_now:
                quiet = await self._settle(float(_s(quiet_at)), float(_s(now)), soft - loop.time())
                finished = quiet and await self._pass(options, hard, only=open_now, lookup=True)
            # A pass 1 that outlasted the soft stop leaves pass 2 to the next run.
            finished = finished and not self._stop
            if finished:
                finished = await self._pass(options, hard, only=None, lookup=options.lookup_first)
        except asyncio.CancelledError:  # the worker is shutting down: arq runs it again
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._finish("queued"), 1.0)
            raise
        except Exception as exc:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._finish("error", f"{type(exc).__name__}: {exc}"), 1.0)
            raise
        finally:
            deadline.cancel()
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
        if self._lost:
            logger.warning(
                "job %s shard %d: taken by another run; stopped", self.job_id, self.shard
            )
            return "lost"
        if finished and await self._finish("done") != -1:
            return "done"
        if finished:
            logger.warning(
                "job %s shard %d: items without a result are left; a fresh run continues",
                self.job_id,
                self.shard,
            )
        await self._finish("queued")
        return "slice"

    def _soft_stop(self) -> None:
        self._stop = True

    async def _settle(self, quiet_at: float, now: float, before_stop: float) -> bool:
        """Wait until a lookup of the open items proves absence (see `quiet_at` in the
        module docstring). False if that is past this run's soft stop: the run ends
        as a slice and the next one waits for the rest."""
        wait = quiet_at - now
        if wait <= 0:
            return True
        logger.info(
            "job %s shard %d: waiting %.1fs before looking up the items in doubt: requests "
            "an earlier run sent may still be committing on the server (its client's "
            "RetryPolicy.settle or attempt timeout after its last heartbeat)",
            self.job_id,
            self.shard,
            wait,
        )
        await asyncio.sleep(max(0.0, min(wait, before_stop)))
        return wait <= before_stop

    async def _beat(self) -> None:
        script = self._redis.register_script(_scripts.BEAT)
        while True:
            await asyncio.sleep(HEARTBEAT)
            try:
                owned = await script(keys=[self.keys.state(self.shard)], args=[self._token])
            except Exception as exc:  # Redis hiccup: the next dispatch or record will tell
                logger.warning(
                    "job %s shard %d: heartbeat failed (%s: %s)",
                    self.job_id,
                    self.shard,
                    type(exc).__name__,
                    one_line(exc),
                )
                continue
            if not owned:
                self._lost = self._stop = True
                return

    async def _finish(self, status: str, error: str = "") -> int:
        script = self._redis.register_script(_scripts.FINISH)
        keys = [self.keys.state(self.shard), self.keys.results(self.shard)]
        return int(
            await script(
                keys=[*keys, self.keys.items(self.shard)],
                args=[self._token, status, error, self._ttl_ms],
            )
        )

    # --------------------------------------------------------------- passes
    async def _pass(
        self, options: _Options, hard: float, *, only: set[int] | None, lookup: bool
    ) -> bool:
        """One pass over the shard through `create_many`. True when it got to the end."""
        by_local: dict[int, int] = {}  # create_many's index -> global index
        state = {"exhausted": False}

        async def source() -> AsyncGenerator[ChargeParams, None]:
            local = 0
            async with contextlib.aclosing(self._items(only)) as items:
                async for index, params in items:
                    by_local[local] = index
                    local += 1
                    yield params
            state["exhausted"] = not self._stop

        feed = source()
        run = self._client.charges.create_many(
            feed,
            job_id=self.job_id,
            concurrency=options.concurrency,
            rate_limit=options.rate_limit,
            one_per_customer=options.one_per_customer,
            assume_new=not lookup,
            shutdown_grace=options.shutdown_grace,
        )
        try:
            async with asyncio.timeout_at(hard), run:
                async for result in run:
                    if isinstance(result.error, AuthenticationError | PermissionDeniedError):
                        # Every other item would fail the same way, and a 4xx is final:
                        # stop before the worker's bad key marks the whole job failed.
                        # (The item stays open: nothing was charged, a lookup will say so.)
                        raise ScaleoutConfigError(
                            f"the API refused this worker's key ({result.error}); fix it and "
                            "enqueue the job again to resume"
                        )
                    await self._store(by_local.pop(result.index), result_record(result))
        except TimeoutError:  # in-flight items were cancelled; they stay open
            self._stop = True
            return False
        finally:
            with contextlib.suppress(RuntimeError):
                await feed.aclose()
            await self._unmark_unsent()
        return state["exhausted"]

    async def _unmark_unsent(self) -> None:
        """Items this run marked open and never sent are not in doubt: unmark them,
        so the next run neither waits for them to settle nor looks them up."""
        if not self._never_sent:
            return
        indexes, self._never_sent = sorted(self._never_sent), set()
        script = self._redis.register_script(_scripts.UNMARK)
        with contextlib.suppress(Exception):  # left open, they are only looked up
            await asyncio.shield(
                script(
                    keys=[self.keys.state(self.shard), self.keys.open(self.shard)],
                    args=[self._token, *indexes],
                )
            )

    async def _items(self, only: set[int] | None) -> AsyncGenerator[tuple[int, ChargeParams], None]:
        """The shard's items to send, in order, each marked open before it is yielded."""
        key = self.keys.items(self.shard)
        remaining = None if only is None else set(only)
        start = 0
        while not self._stop:
            raw = await self._redis.lrange(key, start, start + CHUNK - 1)
            if not raw:
                return
            start += len(raw)
            decoded = [decode_item(r) for r in raw]
            if remaining is not None:
                chosen = [d for d in decoded if d[0] in remaining]
                remaining.difference_update(d[0] for d in chosen)
            else:
                chosen = await self._unsent(decoded)
            pending: list[tuple[int, ChargeParams]] = []
            for index, params, invalid in chosen:
                if params is None:
                    message = str((invalid or {}).get("invalid", "invalid item"))
                    await self._store(index, invalid_record(f"{self.job_id}:{index}", message))
                    continue
                if params.idempotency_key is None:
                    params = attrs.evolve(params, idempotency_key=f"{self.job_id}:{index}")
                pending.append((index, params))
            for at in range(0, len(pending), DISPATCH_BATCH):
                batch = pending[at : at + DISPATCH_BATCH]
                if self._stop or not await self._mark_open([i for i, _ in batch]):
                    return
                if remaining is None:  # never open before: unmark if not sent after all
                    self._never_sent.update(i for i, _ in batch)
                for item in batch:
                    if self._stop:
                        return
                    self._never_sent.discard(item[0])
                    yield item
            if remaining is not None and not remaining:
                return

    async def _unsent(
        self, decoded: list[tuple[int, ChargeParams | None, Any]]
    ) -> list[tuple[int, ChargeParams | None, Any]]:
        """The items that have no result and are not open: never sent by anyone."""
        indexes = [d[0] for d in decoded]
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hmget(self.keys.results(self.shard), indexes)
            pipe.smismember(self.keys.open(self.shard), indexes)
            results, opened = await pipe.execute()
        return [
            d
            for d, result, is_open in zip(decoded, results, opened, strict=True)
            if result is None and not is_open
        ]

    async def _mark_open(self, indexes: list[int]) -> bool:
        owned = await self._dispatch(
            keys=[self.keys.state(self.shard), self.keys.open(self.shard)],
            args=[self._token, self._ttl_ms, *indexes],
        )
        if not owned:
            self._lost = self._stop = True
        return bool(owned)

    async def _store(self, index: int, stored: Any) -> None:
        await self._record(
            keys=[
                self.keys.results(self.shard),
                self.keys.counts(self.shard),
                self.keys.open(self.shard),
                self.keys.state(self.shard),
            ],
            args=[
                index,
                stored.json,
                stored.outcome.value,
                1 if stored.final else 0,
                stored.amount,
                stored.currency,
                self._ttl_ms,
            ],
        )
        self.charged += 1


def one_line(error: BaseException) -> str:
    """An error as one short log line (never a traceback)."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def stop_times(job_timeout: float, shutdown_grace: float) -> tuple[float, float]:
    """(stop taking items, cancel what is in flight), in seconds after a run starts.

    The hard stop leaves the shutdown grace and a margin (10% of the timeout,
    at most 10 s) before arq's timeout, which would fail the job instead of
    continuing it.
    """
    hard = job_timeout - shutdown_grace - min(10.0, 0.1 * job_timeout)
    return hard * SOFT_STOP, hard


def settle_window(client: Client) -> float:
    """Seconds after a run's last heartbeat during which a request it sent may still be
    committed on the server: its next run looks the open items up only after that.

    A heartbeat (the run may have sent until its next one), then the client's
    `RetryPolicy.settle` (an empty lookup proves absence only that long after an
    ambiguous failure), or the attempt timeout if longer. `instant=True` skips
    the settle, as the client itself does."""
    policy = client.retry_policy
    settle = 0.0 if policy.instant else policy.settle
    return HEARTBEAT + max(client.timeout, settle)


def min_job_timeout(window: float, shutdown_grace: float) -> float:
    """The shortest job timeout whose runs can wait `window` (see `settle_window`)
    before their soft stop."""
    return (window / SOFT_STOP + shutdown_grace) / 0.9 + 1


@attrs.frozen
class _Options:
    concurrency: int
    rate_limit: float | None
    one_per_customer: bool
    shutdown_grace: float
    lookup_first: bool
    ttl: float

    @classmethod
    def from_meta(cls, meta: dict[str, str]) -> _Options:
        shards = int(meta.get("shards", "1"))
        rate = meta.get("rate_limit") or ""
        return cls(
            concurrency=int(meta.get("concurrency", "16")),
            rate_limit=float(rate) / shards if rate else None,
            one_per_customer=meta.get("one_per_customer", "1") == "1",
            shutdown_grace=float(meta.get("shutdown_grace", "5.0")),
            lookup_first=meta.get("lookup_first", "0") == "1",
            ttl=float(meta.get("ttl", str(7 * 86400))),
        )


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
