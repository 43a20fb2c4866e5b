"""Bulk engine benchmarks: create_many throughput and peak memory against FakeChing.

Each run starts a fresh FakeChing in its own process (seeded with 1,000
customers and cards, request log off) and a fresh client worker process, so
the worker's peak RSS is the client's alone.

    throughput   items/s of `charges.create_many` with a journal (with
                 assume_new=True, and with a lookup before each send) against
                 the baseline: a hand-written
                 asyncio.Semaphore + gather loop of `charges.create` at the same
                 concurrency. Reported as wall us/item (lower is better); the
                 target "at least 0.8x the baseline's throughput" is a ratio of
                 at most 1.25.
    peak RSS     the worker's ru_maxrss after create_many over 10,000 and over
                 100,000 items; the target is a difference of at most 10 MiB.

Run alone: python benchmarks/bench_bulk.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import add_ratios, format_table, row

CONCURRENCY = 64
CUSTOMERS = 1_000
THROUGHPUT = "create_many throughput, c=64"
MEMORY = "create_many peak RSS"
RSS_TARGET_MIB = 10.0


# ------------------------------------------------------------------- server
async def serve() -> None:
    from ching_async.testing import FakeChing

    async with FakeChing(log_requests=False) as fake:
        cards = []
        for n in range(CUSTOMERS):
            customer = fake.add_customer(name=f"Customer {n}", email=f"c{n}@example.com")
            cards.append([customer.id, fake.add_payment_method(customer.id).id])
        print(json.dumps({"url": fake.url, "key": fake.api_key, "cards": cards}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


class FakeProcess:
    def __enter__(self) -> dict[str, Any]:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        info: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return info

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()  # the server exits when its stdin closes
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ------------------------------------------------------------------- worker
def items(cards: list[list[str]], count: int) -> Iterator[dict[str, Any]]:
    for i in range(count):
        customer, card = cards[i % len(cards)]
        yield {"customer": customer, "payment_method": card, "amount": 100 + i}


async def run_mode(mode: str, count: int, server: dict[str, Any]) -> dict[str, float]:
    import ching_async

    cards = server["cards"]
    async with ching_async.Client(
        server["key"], base_url=server["url"], max_connections=CONCURRENCY
    ) as client:
        started = time.perf_counter()
        if mode == "baseline":
            gate = asyncio.Semaphore(CONCURRENCY)

            async def one(params: dict[str, Any]) -> None:
                async with gate:
                    await client.charges.create(**params)

            await asyncio.gather(*(one(p) for p in items(cards, count)))
        else:
            with tempfile.TemporaryDirectory() as tmp:
                journal = os.path.join(tmp, "job.jsonl")
                run = client.charges.create_many(
                    items(cards, count),
                    job_id=f"bench-{mode}-{count}",
                    concurrency=CONCURRENCY,
                    journal=journal,
                    assume_new=mode == "assume_new",
                )
                async with run:
                    async for result in run:
                        if not result.ok:
                            raise RuntimeError(f"item {result.index}: {result.error_message}")
        seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "us_per_item": seconds / count * 1e6,
        "items_per_s": count / seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def worker(mode: str, count: int) -> None:
    server = json.loads(sys.stdin.readline())
    print(json.dumps(asyncio.run(run_mode(mode, count, server))), flush=True)


def measure(mode: str, count: int) -> dict[str, float]:
    with FakeProcess() as server:
        out = subprocess.run(
            [sys.executable, __file__, "--worker", mode, str(count)],
            input=json.dumps(server) + "\n",
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
    result: dict[str, float] = json.loads(out.stdout)
    return result


# --------------------------------------------------------------- scenarios
MODES = {
    "baseline": "Semaphore + gather of charges.create",
    "assume_new": "create_many, journal, assume_new=True",
    "journal": "create_many, journal, lookup before each send",
}
# The target compares like with like: the loop sends each charge once and so
# does create_many with assume_new; without it a job's first run looks every
# item up first (one GET more per item), which the table shows for information.
TARGETED = {"assume_new"}


def run(quick: bool, log: Callable[[str], None] = print) -> tuple[list[dict[str, Any]], str]:
    # 5 rounds (was 3): a run is one ~4 s job, and this VM's speed drifts over
    # seconds, so the median needs more than three of them.
    small, large, rounds = (2_000, 20_000, 2) if quick else (10_000, 100_000, 5)
    samples: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    started = time.perf_counter()
    for _ in range(rounds):  # interleaved: A, B, C, A, B, C, ...
        for mode in MODES:
            samples[mode].append(measure(mode, small))
    log(
        f"  {THROUGHPUT}: {rounds} rounds x {small:,} items in {time.perf_counter() - started:.0f}s"
    )
    rows = [
        row(
            THROUGHPUT,
            label,
            "wall us/item",
            [s["us_per_item"] for s in samples[mode]],
            rate=[s["items_per_s"] for s in samples[mode]],
            baseline=mode == "baseline",
            target=1.25 if mode in TARGETED else None,
        )
        for mode, label in MODES.items()
    ]
    started = time.perf_counter()
    peaks = {count: measure("assume_new", count)["peak_rss_mib"] for count in (small, large)}
    log(f"  {MEMORY}: {small:,} and {large:,} items in {time.perf_counter() - started:.0f}s")
    delta = peaks[large] - peaks[small]
    rows.append(row(MEMORY, f"create_many, {small:,} items", "peak RSS MiB", [peaks[small]]))
    rows.append(row(MEMORY, f"create_many, {large:,} items", "peak RSS MiB", [peaks[large]]))
    verdict = "PASS" if delta <= RSS_TARGET_MIB else "FAIL"
    line = (
        f"create_many peak RSS: {peaks[small]:.1f} MiB at {small:,} items, "
        f"{peaks[large]:.1f} MiB at {large:,} items: {delta:+.1f} MiB "
        f"(target <= +{RSS_TARGET_MIB:g} MiB): {verdict}"
    )
    return rows, line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve())
        return
    if args.worker:
        worker(args.worker[0], int(args.worker[1]))
        return
    rows, line = run(args.quick)
    add_ratios(rows)
    print(format_table(rows))
    print(line)


if __name__ == "__main__":
    main()
