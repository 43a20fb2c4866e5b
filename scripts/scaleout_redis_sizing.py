"""Measure the Redis memory a scaled-out job takes: items, then results.

    .venv/bin/python scripts/scaleout_redis_sizing.py            # 100,000 items
    .venv/bin/python scripts/scaleout_redis_sizing.py --items 20000 --shards 8

Starts a throwaway redis-server (from $PATH, --save '' --appendonly no) on a
free port unless --redis URL is given (that database is FLUSHed: use a
scratch one), enqueues --items small billing rows, reads INFO memory, then
charges the job with in-process arq workers against an in-process FakeChing
and reads INFO memory again.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import create_worker

import ching_async
from ching_async import scaleout
from ching_async.scaleout._worker import close_worker
from ching_async.testing import FakeChing


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("no redis-server on PATH (apt-get install -y redis-server), or pass --redis URL")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    process.kill()
    sys.exit("redis-server did not start")


async def used_memory(redis: Any) -> int:
    info = await redis.info("memory")
    return int(info["used_memory"])


def rows(cards: list[tuple[str, str]], count: int) -> Iterator[dict[str, Any]]:
    for i in range(count):
        customer, card = cards[i % len(cards)]
        yield {
            "customer": customer,
            "payment_method": card,
            "amount": 4990,
            "description": f"Invoice 2026-11-{i:06d}",
        }


async def key_memory(redis: Any, job_id: str, shards: int) -> dict[str, int]:
    keys = scaleout.JobKeys(job_id)
    totals = {"items": 0, "results": 0, "counts": 0, "state": 0, "open": 0}
    for n in range(shards):
        for kind in totals:
            size = await redis.memory_usage(getattr(keys, kind)(n), samples=0)
            totals[kind] += int(size or 0)
    return totals


def mib(value: int) -> str:
    return f"{value / 2**20:7.1f} MiB"


async def main(args: argparse.Namespace) -> None:
    async with FakeChing(log_requests=False) as fake:
        cards = []
        for n in range(args.customers):
            customer = fake.add_customer(name=f"Customer {n}", email=f"c{n}@example.com")
            cards.append((customer.id, fake.add_payment_method(customer.id).id))
        redis = await create_pool(RedisSettings.from_dsn(args.redis))
        try:
            await redis.flushdb()
            base = await used_memory(redis)
            started = time.perf_counter()
            job = await scaleout.enqueue(
                redis,
                rows(cards, args.items),
                job_id="sizing",
                shards=args.shards,
                concurrency=args.concurrency,
            )
            enqueue_s = time.perf_counter() - started
            after_items = await used_memory(redis)
            items_keys = await key_memory(redis, "sizing", args.shards)

            settings = scaleout.worker_settings(
                args.redis,
                burst=True,
                handle_signals=False,
                max_jobs=args.shards,
                poll_delay=0.05,
                job_timeout=600,
                client_options={
                    "api_key": fake.api_key,
                    "base_url": fake.url,
                    "retry_policy": ching_async.RetryPolicy(instant=True),
                },
            )
            worker = create_worker(settings)
            started = time.perf_counter()
            try:
                await worker.async_run()
            finally:
                await close_worker(worker)
            charge_s = time.perf_counter() - started
            snapshot = await scaleout.progress(redis, "sizing")
            after_results = await used_memory(redis)
            result_keys = await key_memory(redis, "sizing", args.shards)
        finally:
            await redis.aclose()
    per = 100_000 / job.items
    print(
        f"job: {job.items:,} items, {job.shards} shards, {args.customers:,} customers; "
        f"redis used_memory before: {mib(base)}"
    )
    print(
        f"enqueue: {enqueue_s:.1f} s; used_memory +{mib(after_items - base)} "
        f"({(after_items - base) / job.items:.0f} B/item); "
        f"items lists {mib(items_keys['items'])}"
    )
    print(f"charged: {snapshot.summary} in {charge_s:.1f} s ({job.items / charge_s:,.0f}/s)")
    print(
        f"after results: used_memory +{mib(after_results - base)} total "
        f"({(after_results - base) / job.items:.0f} B/item); results hashes "
        f"{mib(result_keys['results'])}, items {mib(result_keys['items'])}, counts+state+open "
        f"{result_keys['counts'] + result_keys['state'] + result_keys['open']:,} B"
    )
    print(
        f"per 100,000 items: items {mib(int((after_items - base) * per))}, "
        f"items + results {mib(int((after_results - base) * per))}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--redis", help="a scratch Redis URL (FLUSHed); default: start one")
    arguments = parser.parse_args()
    server = None
    with tempfile.TemporaryDirectory() as directory:
        if arguments.redis is None:
            server, arguments.redis = start_redis(Path(directory))
        try:
            asyncio.run(main(arguments))
        finally:
            if server is not None:
                server.terminate()
                server.wait(10)
