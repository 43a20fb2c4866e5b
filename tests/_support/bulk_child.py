"""A bulk job with a journal in a child process, so that a test can SIGKILL it.

`bulk_child(...)` starts it; `kill_after(proc, n)` SIGKILLs it once it has
printed `n` results. The child (this file run as a script)

    python tests/_support/bulk_child.py URL API_KEY JOURNAL CARDS_JSON JOB_ID ROWS

charges ROWS items made as `fake_client.items` makes them (item i: card i mod
len(cards), amount 1000 + i), 8 at a time, and prints each finished item's
index, flushed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import orjson

import ching_async
from ching_async.testing import FakeChing


async def bulk_child(
    fake: FakeChing, cards: list[tuple[str, str]], journal: Path, *, job_id: str, rows: int
) -> asyncio.subprocess.Process:
    """The child, charging `rows` items of job `job_id` on `fake` with `journal`."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        fake.url,
        fake.api_key,
        str(journal),
        orjson.dumps(cards).decode(),
        job_id,
        str(rows),
        stdout=asyncio.subprocess.PIPE,
    )


async def kill_after(proc: asyncio.subprocess.Process, results: int) -> None:
    """SIGKILL the child once it has printed `results` results."""
    assert proc.stdout is not None
    for _ in range(results):
        await asyncio.wait_for(proc.stdout.readline(), timeout=30)
    os.kill(proc.pid, signal.SIGKILL)
    await proc.wait()
    assert proc.returncode == -signal.SIGKILL


async def _main() -> None:
    url, key, journal, cards_json, job_id, rows = sys.argv[1:7]
    cards = orjson.loads(cards_json)
    items = (
        {
            "customer": cards[i % len(cards)][0],
            "payment_method": cards[i % len(cards)][1],
            "amount": 1000 + i,
        }
        for i in range(int(rows))
    )
    async with (
        ching_async.Client(key, base_url=url) as client,
        client.charges.create_many(items, job_id=job_id, concurrency=8, journal=journal) as run,
    ):
        async for result in run:
            print(result.index, flush=True)


if __name__ == "__main__":
    asyncio.run(_main())
