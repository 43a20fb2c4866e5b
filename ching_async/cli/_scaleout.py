"""The scale-out commands: ``ching bulk-charge FILE --redis URL`` and ``ching worker``.

``bulk-charge --redis`` validates the file exactly as the single-machine path
does, enqueues the rows in Redis (sharded by customer), then follows the job
with the same progress bar and summary; ``ching worker`` charges the shards.
Both need the optional extra: ``pip install 'ching-async[arq]'``. Nothing here
imports arq until a command runs, so ``ching --help`` works without it.

Wiring (in ``_app.build_parser``): the bulk-charge handler becomes
``lazy_handler("._scaleout", "bulk_charge")`` (it hands runs without ``--redis`` to
``_bulk_charge.bulk_charge``), ``add_bulk_charge_options(p)`` adds the
options to the bulk-charge parser, and ``add_worker_command(commands,
parents=[common])`` adds ``ching worker``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import logging.config
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ._errors import CliError, ConfigError, ExitCode, UsageError
from ._options import add_command, count, lazy_handler, positive_float, positive_int, seconds

if TYPE_CHECKING:  # the commands import these when they run: `ching --help` stays fast
    from ._bulk_charge import JobReport
    from ._csv import BillingFile
    from ._output import Output

__all__ = [
    "add_bulk_charge_options",
    "add_worker_command",
    "bulk_charge",
    "bulk_charge_distributed",
    "worker",
]

REDIS_URL_ENV = "CHING_REDIS_URL"
DEFAULT_QUEUE = "ching:queue"  # = ching_async.scaleout.DEFAULT_QUEUE (not imported: needs arq)
DEFAULT_SHARDS = 16
DEFAULT_SHUTDOWN_GRACE = 5.0  # what bulk-charge --redis enqueues jobs with
FOLLOW_INTERVAL = 0.5

WORKER_DESCRIPTION = """\
Charge the shards of jobs enqueued with `ching bulk-charge FILE --redis URL`,
on as many machines as you like. A worker takes whole shards (all of a
customer's rows are in one shard), --max-jobs at a time, so a job keeps at
most --shards runs busy across all workers. Needs CHING_API_KEY or --api-key
(and CHING_BASE_URL for another API): every worker of a job must use the same
CHING account.

A worker that dies is replaced by arq: its shards are run again by another
worker about --job-timeout + 10 s after they started, and the rows that were
in flight are looked up by their idempotency keys before anything is resent.
Ctrl-C (SIGINT/SIGTERM) stops taking shards and hands the running ones back.
"""


# ------------------------------------------------------------------ parsers
def add_bulk_charge_options(p: argparse.ArgumentParser) -> None:
    """The --redis options of ``ching bulk-charge``."""
    group = p.add_argument_group("scale-out over Redis (needs: pip install 'ching-async[arq]')")
    group.add_argument(
        "--redis",
        metavar="URL",
        help="enqueue the rows in Redis (e.g. redis://10.0.0.5:6379) for `ching worker` "
        "processes to charge, and follow the job here; re-run to follow again or resume",
    )
    group.add_argument(
        "--shards",
        type=positive_int,
        metavar="N",
        help=f"with --redis: split the rows into N shards by customer (default "
        f"{DEFAULT_SHARDS}); a shard is charged by one worker at a time, with --concurrency "
        "charges in flight and --rate divided evenly between the shards",
    )
    group.add_argument(
        "--queue",
        metavar="NAME",
        help=f"with --redis: the arq queue the workers listen on (default {DEFAULT_QUEUE})",
    )
    group.add_argument(
        "--detach",
        action="store_true",
        help="with --redis: enqueue and exit without following the job",
    )
    group.add_argument(
        "--lookup-first",
        action="store_true",
        help="with --redis: look every row up before its first charge (one extra request "
        "each); for a job id that may have run before with Redis state now lost",
    )


def add_worker_command(
    commands: Any, *, parents: Sequence[argparse.ArgumentParser] = ()
) -> argparse.ArgumentParser:
    """Add ``ching worker`` to the subcommands `commands`."""
    p = add_command(
        commands,
        "worker",
        "charge jobs enqueued with bulk-charge --redis (run one per machine)",
        lazy_handler("._scaleout", "worker"),
        parents=parents,
        description=WORKER_DESCRIPTION,
    )
    p.add_argument(
        "--redis",
        metavar="URL",
        help=f"Redis to take shards from (default ${REDIS_URL_ENV}, else redis://127.0.0.1:6379)",
    )
    p.add_argument(
        "--queue",
        default=DEFAULT_QUEUE,
        metavar="NAME",
        help=f"arq queue (default {DEFAULT_QUEUE})",
    )
    p.add_argument(
        "--max-jobs",
        type=positive_int,
        default=4,
        metavar="N",
        help="shards this worker charges at once (default 4)",
    )
    p.add_argument(
        "--job-timeout",
        type=positive_float,
        default=300.0,
        metavar="SECONDS",
        help="longest run of one shard before it is continued by a fresh run; a dead "
        "worker's shards are picked up this long (+10 s) after they started (default 300)",
    )
    p.add_argument(
        "--burst",
        action="store_true",
        help="exit once the queue is empty",
    )
    p.add_argument("--verbose", action="store_true", help="log every shard run")
    client = p.add_argument_group("the worker's CHING client")
    client.add_argument(
        "--timeout",
        type=positive_float,
        default=30.0,
        metavar="SECONDS",
        help="one attempt's timeout (default 30)",
    )
    client.add_argument(
        "--total-timeout",
        type=positive_float,
        default=120.0,
        metavar="SECONDS",
        help="one charge's deadline, every attempt and lookup included (default 120)",
    )
    client.add_argument(
        "--max-retries",
        type=count,
        default=2,
        metavar="N",
        help="re-sends after a failure that provably charged nothing (default 2)",
    )
    client.add_argument(
        "--settle",
        type=seconds,
        default=30.0,
        metavar="SECONDS",
        help="after a POST failure CHING did not answer itself (a timeout, a 504), how long "
        "the server may still be committing it: an empty lookup proves the charge absent "
        "only this long after the failure; keep it above the longest time CHING spends on "
        "a request (default 30)",
    )
    return p


# ------------------------------------------------------------------ bulk-charge
async def bulk_charge(args: argparse.Namespace, out: Output) -> int:
    """``ching bulk-charge``: over Redis with --redis, else on this machine."""
    if getattr(args, "redis", None) is None:
        for flag in ("shards", "queue", "detach", "lookup_first"):
            if getattr(args, flag, None):
                raise UsageError(f"--{flag.replace('_', '-')} needs --redis URL")
        from ._bulk_charge import bulk_charge as on_this_machine

        return await on_this_machine(args, out)
    if getattr(args, "new_job", False):
        # Scale-out keeps its own record of sent items in Redis (--lookup-first
        # is its opposite switch); --new-job is for the single-machine journal.
        raise UsageError("--new-job applies without --redis only")
    if getattr(args, "row_rate", None) is not None:
        raise UsageError("--row-rate applies without --redis only (--rate is shared by the shards)")
    if getattr(args, "fake", False) or getattr(args, "api_key", None) is not None:
        raise UsageError(
            "--fake and --api-key apply without --redis only: with --redis, the workers "
            "charge with their own key"
        )
    return await bulk_charge_distributed(args, out)


async def bulk_charge_distributed(args: argparse.Namespace, out: Output) -> int:
    from ._bulk_charge import _print_dry_run, check_job_options, validated_file

    check_job_options(args)
    if getattr(args, "journal", None) or getattr(args, "no_journal", False):
        raise UsageError(
            "--journal/--no-journal are for runs on this machine: with --redis the job's "
            "state (and its resume) lives in Redis"
        )
    billing, validation = validated_file(args)
    if args.dry_run:
        return _print_dry_run(out, billing, validation)
    scaleout = _import_scaleout()  # a clear UsageError without the arq extra
    from redis.exceptions import RedisError

    redis = await _connect(args.redis)
    try:
        return await _enqueue_and_follow(scaleout, redis, args, out, billing)
    except RedisError as exc:
        raise CliError(
            f"lost Redis at {args.redis}: {exc}; the job is safe (its state is in Redis and "
            "the workers carry on): re-run the same command to follow it again"
        ) from None
    finally:
        await redis.aclose()


async def _enqueue_and_follow(
    scaleout: ModuleType,
    redis: Any,
    args: argparse.Namespace,
    out: Output,
    billing: BillingFile,
) -> int:
    from ._bulk_charge import print_report

    job_id: str = args.job_id
    queue = args.queue or DEFAULT_QUEUE
    try:
        job = await scaleout.enqueue(
            redis,
            billing.params(),
            job_id=job_id,
            shards=args.shards,
            concurrency=args.concurrency,
            rate_limit=args.rate,
            lookup_first=args.lookup_first,
            queue_name=queue,
        )
    except scaleout.JobConflictError as exc:
        raise UsageError(str(exc)) from None
    _announce(out, job, args.redis)
    if args.detach:
        return _print_detached(out, job, args.redis)
    if not await redis.exists(queue + ":health-check"):
        out.notice(
            f"no worker has reported on queue {queue!r} yet: start `ching worker --redis "
            f"{args.redis}{'' if queue == DEFAULT_QUEUE else ' --queue ' + queue}` on one "
            "or more machines"
        )
    report, last = await _follow(scaleout, redis, args, out, billing, job)
    if out.json_mode:
        out.emit_json(
            {
                **report.to_json(),
                "redis": args.redis,
                "queue": queue,
                "shards": job.shards,
                "stalled_shards": list(last.stalled),
            }
        )
    else:
        print_report(out, report, title=f"Job {job_id!r} ({job.shards} shards, over Redis)")
        out.print(
            f"State in Redis: ching:job:{{{job_id}}}:* (kept 7 days); re-run the same "
            "command to see this report again, or to reconcile rows left unknown"
        )
    if last.stalled:
        details = [
            f"shard {s.shard}: {s.error or 'its arq job ended before the shard was finished'}"
            for s in last.shards
            if s.stalled
        ]
        out.error(
            f"{len(details)} shard(s) stopped before finishing; fix the cause and re-run "
            "the same command to resume them",
            details,
        )
        return ExitCode.FAILED
    return report.exit_code


async def _follow(
    scaleout: ModuleType,
    redis: Any,
    args: argparse.Namespace,
    out: Output,
    billing: BillingFile,
    job: Any,
) -> tuple[JobReport, Any]:
    from ._bulk_charge import JobReport, ResultsWriter
    from ._progress import BulkProgress

    rows = job.items
    report = JobReport(job_id=job.job_id, rows=rows, source=str(billing.path))
    started = time.perf_counter()
    last = None
    try:
        with BulkProgress(
            out.stderr,
            rows,
            mode=args.progress,
            label=f"charging ({job.shards} shards)",
            console=out.err_console,
        ) as bar:
            async for snapshot in scaleout.watch(redis, job.job_id, interval=FOLLOW_INTERVAL):
                bar.update(snapshot.summary)
                last = snapshot
    except asyncio.CancelledError:
        done = f"{last.done:,} of {rows:,} rows done" if last is not None else "started"
        out.interrupted(
            f"following job {job.job_id!r} ({done}): it keeps running on the workers; "
            "re-run the same command to follow it again (nothing is enqueued twice)"
        )
        raise
    report.seconds = time.perf_counter() - started
    # The per-row results, streamed from Redis: the report's counts, --output.
    writer = ResultsWriter(Path(args.output)) if args.output else None
    try:
        async for result in scaleout.results(redis, job.job_id):
            report.add(billing.row_of(result.index), result, writer)
    finally:
        if writer is not None:
            writer.close()
    report.failures.sort(key=lambda failure: int(failure["row"]))
    report.output = str(writer.path) if writer is not None else None
    return report, last


def _announce(out: Output, job: Any, redis_url: str) -> None:
    if job.resumed:
        queued = (
            f"shard(s) {', '.join(map(str, job.queued_shards))} queued again"
            if job.queued_shards
            else "nothing to queue again"
        )
        out.notice(f"job {job.job_id!r} is already in Redis at {redis_url} ({queued})")
    else:
        out.notice(
            f"enqueued job {job.job_id!r}: {job.items:,} rows in {job.shards} shards "
            f"(by customer) at {redis_url}, queue {job.queue_name!r}"
        )


def _print_detached(out: Output, job: Any, redis_url: str) -> int:
    if out.json_mode:
        out.emit_json(
            {
                "job_id": job.job_id,
                "rows": job.items,
                "shards": job.shards,
                "resumed": job.resumed,
                "queued_shards": list(job.queued_shards),
                "redis": redis_url,
                "queue": job.queue_name,
            }
        )
    else:
        out.print(
            f"Job {job.job_id!r}: {job.items:,} rows in {job.shards} shards, in Redis at "
            f"{redis_url}. Follow it by running the same command without --detach."
        )
    return ExitCode.OK


# ------------------------------------------------------------------ worker
async def worker(args: argparse.Namespace, out: Output) -> int:
    """``ching worker``: charge shards until Ctrl-C (or, with --burst, an empty queue)."""
    from .. import AuthenticationError, ChingError, PermissionDeniedError, RetryPolicy
    from ._env import API_KEY_ENV, api_key_from_env, current_target
    from ._output import describe_error

    target = current_target()
    needs = (
        f"set {API_KEY_ENV} or pass --api-key (and CHING_BASE_URL for another API, e.g. a "
        "`python -m ching_async.testing` fake); every worker of a job must use the same "
        "CHING account"
    )
    if target.fake:
        raise UsageError(f"ching worker charges for real, never on an embedded fake: {needs}")
    if target.api_key is None and api_key_from_env() is None:
        raise ConfigError(f"ching worker charges for real: {needs}")
    scaleout = _import_scaleout()
    redis_url = args.redis or os.environ.get(REDIS_URL_ENV) or "redis://127.0.0.1:6379"
    _configure_logging(args.verbose)
    async with target.client(
        timeout=args.timeout,
        total_timeout=args.total_timeout,
        max_retries=args.max_retries,
        retry_policy=RetryPolicy(settle=args.settle),
    ) as client:
        from ching_async.scaleout._shard import min_job_timeout, settle_window

        window = settle_window(client)
        shortest = math.ceil(min_job_timeout(window, DEFAULT_SHUTDOWN_GRACE))
        if args.job_timeout < shortest:
            raise UsageError(
                f"--job-timeout must be at least {shortest} s: a shard run taking over rows "
                f"in doubt first waits up to {window:g} s (--settle or --timeout, whichever "
                "is longer, and a heartbeat) for requests an earlier run sent to settle, "
                "and must end well inside the timeout"
            )
        try:  # the key, once, before taking any shard
            await client.charges.list()
        except (AuthenticationError, PermissionDeniedError) as exc:
            raise ConfigError(f"the API refused the key: {describe_error(exc)}") from None
        except ChingError as exc:
            raise CliError(
                f"cannot reach the API at {client.base_url}: {describe_error(exc)}"
            ) from None
        redis = await _connect(redis_url)  # fail here, clearly, if Redis is unreachable
        await redis.aclose()
        out.notice(
            f"worker charging at {client.base_url} in {client.mode} mode; shards from queue "
            f"{args.queue!r} at {redis_url}, {args.max_jobs} at a time; Ctrl-C to stop"
        )
        from redis.exceptions import RedisError

        try:  # an outage is ridden out inside; anything else Redis says ends here
            await scaleout.work(
                redis_url,
                client=client,
                queue_name=args.queue,
                max_jobs=args.max_jobs,
                job_timeout=args.job_timeout,
                burst=args.burst,
            )
        except RedisError as exc:
            raise CliError(f"Redis at {redis_url} failed: {type(exc).__name__}: {exc}") from None
    return ExitCode.OK


def _configure_logging(verbose: bool) -> None:
    from arq.logs import default_log_config

    config = default_log_config(verbose)
    level = "DEBUG" if verbose else "INFO"
    config["loggers"]["ching_async.scaleout"] = {"handlers": ["arq.standard"], "level": level}
    if not verbose:  # a line per shard run is noise at scale: warnings and errors only
        config["loggers"]["arq"]["level"] = "WARNING"
    logging.config.dictConfig(config)


# ------------------------------------------------------------------ helpers
def _import_scaleout() -> ModuleType:
    try:
        return importlib.import_module("ching_async.scaleout")
    except ImportError as exc:
        raise UsageError(str(exc)) from None


async def _connect(url: str) -> Any:
    from arq import create_pool
    from arq.connections import RedisSettings
    from redis.exceptions import RedisError

    try:
        settings = RedisSettings.from_dsn(url)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"--redis {url!r} is not a Redis URL: {exc}") from None
    settings.conn_retries = 1
    settings.conn_timeout = 5
    try:
        return await create_pool(settings)
    except (RedisError, OSError) as exc:
        raise CliError(f"cannot reach Redis at {url}: {exc}") from None
