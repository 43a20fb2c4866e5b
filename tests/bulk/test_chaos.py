"""Exactly one charge per row through >= 30% faults on POST /charges and SIGKILLs.

The client (tests/_support/chaos_child.py) runs in a child process with a short attempt
timeout (0.3 s, under the 10 s connect cap, so the transport's connect marks are in
play) and a settle (1.0 s) longer than the fake's late commits (0.6 s). The FakeChing
is served by this process: it outlives every kill, and a killed client's late
commits still land. The server's state is the oracle: every row's idempotency
marker (in the charge's metadata) must be on exactly one charge, and every row must
end with a final result that names that charge.

Seeded (fault draws, kill points, ids). ``CHING_CHAOS_SEED=N`` picks another seed;
``CHING_CHAOS_LONG=1`` runs the long variants (5x the rows, more kills).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

import ching_async
from ching_async.testing import FakeChing, Fault, RequestRecord

CHILD = Path(__file__).resolve().parents[1] / "_support" / "chaos_child.py"

TIMEOUT = 0.3  # the client's attempt timeout: at or under the 10 s connect cap
LATE = 0.6  # how long after the client saw a failure the fake still commits
SETTLE = 1.0  # RetryPolicy.settle: longer than LATE, so an empty lookup then is proof
TOTAL_TIMEOUT = 5.0  # also what a resumed job waits for a killed run's calls to end

# On POST /charges, 32% of requests in all; one seeded draw per request.
FAULTS: tuple[tuple[Fault, float], ...] = (
    (Fault.reset_before(), 0.07),  # connection reset before commit
    (Fault.commit_then_drop(), 0.05),  # committed, the answer never comes
    (Fault.status(503), 0.05),  # CHING's 503 envelope: nothing committed
    (Fault.latency(LATE), 0.05),  # past the attempt timeout; commits after it
    (Fault.html_then_commit(504, LATE), 0.05),  # a gateway's 504 page; commits later
    (Fault.commit_then_delay(LATE), 0.02),  # committed, answered past the timeout
    (Fault.rate_limited(retry_after=0.1), 0.03),
)
FINAL = ("succeeded", "declined")

LONG = os.environ.get("CHING_CHAOS_LONG") == "1"
long_only = pytest.mark.skipif(
    not LONG, reason="long chaos run (minutes); set CHING_CHAOS_LONG=1 to run it"
)


@dataclass(frozen=True)
class Scale:
    rows: int
    customers: int  # rows per customer stay far under the 100-newest lookup window
    kills: int
    concurrency: int = 32


DEFAULT_BULK = Scale(rows=4000, customers=400, kills=3)
LONG_BULK = Scale(rows=20_000, customers=2000, kills=6, concurrency=64)
DEFAULT_GATHER = Scale(rows=3000, customers=300, kills=1)
LONG_GATHER = Scale(rows=15_000, customers=1500, kills=1)


def chaos_seed(default: int) -> int:
    return int(os.environ.get("CHING_CHAOS_SEED", default))


# ----------------------------------------------------------------------- harness


@dataclass
class Child:
    """One run of the client process, and what it printed before it ended."""

    results: list[dict[str, Any]] = field(default_factory=list)
    returncode: int | None = None
    killed: bool = False
    stderr: str = ""


async def run_child(config: Path, stderr: Path, *, kill_after: int | None) -> Child:
    """Run the child; SIGKILL it once it has printed ``kill_after`` rows it finished
    itself (rows replayed from a journal do not count)."""
    child = Child()
    with stderr.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(CHILD), str(config), stdout=asyncio.subprocess.PIPE, stderr=err
        )
        assert proc.stdout is not None
        fresh = 0
        try:
            async with asyncio.timeout(300):  # a hung child fails the test instead of CI
                while line := await proc.stdout.readline():
                    result = orjson.loads(line)
                    child.results.append(result)
                    fresh += not result["j"]
                    if fresh == kill_after and not child.killed:
                        proc.send_signal(signal.SIGKILL)
                        child.killed = True
                child.returncode = await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    child.stderr = await asyncio.to_thread(stderr.read_text, errors="replace")
    return child


def seed_customers(fake: FakeChing, count: int) -> list[tuple[str, str]]:
    cards = []
    for n in range(count):
        customer = fake.add_customer(name=f"Chaos {n}", email=f"chaos{n}@example.com")
        # A few cards decline: a declined row is a final result too (one failed charge).
        card = fake.add_payment_method(customer.id, declines=n % 41 == 0)
        cards.append((customer.id, card.id))
    return cards


def inject_faults(fake: FakeChing) -> None:
    for fault, rate in FAULTS:
        fake.faults.add(fault, rate=rate, method="POST", path="/charges")


def charges_by_marker(fake: FakeChing) -> dict[str, list[ching_async.testing.Charge]]:
    groups: dict[str, list[ching_async.testing.Charge]] = {}
    for charge in fake.charges():
        marker = charge.metadata.get(ching_async.IDEMPOTENCY_METADATA_KEY)
        groups.setdefault(str(marker), []).append(charge)
    return groups


def timeline(fake: FakeChing, key: str, customer: str) -> str:
    """The server's view of one row: its POSTs and the customer's lookups, in log
    order (a request is logged when it is answered or, if later, when it commits)."""

    def about_row(record: RequestRecord) -> bool:
        if record.method == "GET":
            return record.query.get("customer") == customer
        body = record.body if isinstance(record.body, dict) else {}
        metadata = body.get("metadata") or {}
        return record.method == "POST" and metadata.get(ching_async.IDEMPOTENCY_METADATA_KEY) == key

    lines = [
        f"  {r.at.time().isoformat()} {r.method} {r.path} "
        f"fault={r.fault.kind if r.fault else None} status={r.status}"
        for r in fake.requests()
        if about_row(r)
    ]
    return f"{key} ({customer}):\n" + "\n".join(lines)


@dataclass
class Verdict:
    """What the server holds against what the client reported."""

    rows: int
    duplicates: dict[str, int]  # key -> extra charges
    missing: list[int]  # rows with no charge on the server
    foreign: int  # charges carrying no marker of this job
    unfinished: list[int]  # rows without a final result
    mismatched: list[int]  # a result naming a charge that is not the row's one charge
    fault_share: float
    fault_kinds: Counter[str]
    details: list[str]

    @property
    def duplicate_charges(self) -> int:
        return sum(self.duplicates.values())

    def summary(self) -> str:
        return (
            f"rows={self.rows} duplicate_charges={self.duplicate_charges} "
            f"rows_charged_twice={len(self.duplicates)} missing={len(self.missing)} "
            f"foreign={self.foreign} unfinished={len(self.unfinished)} "
            f"mismatched={len(self.mismatched)} fault_share={self.fault_share:.3f} "
            f"faults={dict(self.fault_kinds)}"
        )


async def judge(
    fake: FakeChing,
    job_id: str,
    rows: int,
    cards: list[tuple[str, str]],
    final: dict[int, dict[str, Any]],
) -> Verdict:
    async with asyncio.timeout(30):
        await fake.wait_for_commits()  # a killed run's late commits count too
    groups = charges_by_marker(fake)
    posts = fake.requests_to("POST", "/charges")
    kinds = Counter(str(r.fault.kind) for r in posts if r.fault is not None)
    verdict = Verdict(
        rows=rows,
        duplicates={},
        missing=[],
        foreign=sum(
            len(group) for marker, group in groups.items() if not marker.startswith(job_id + ":")
        ),
        unfinished=[],
        mismatched=[],
        fault_share=sum(kinds.values()) / max(len(posts), 1),
        fault_kinds=kinds,
        details=[],
    )
    for index in range(rows):
        key = f"{job_id}:{index}"
        group = groups.get(key, [])
        result = final.get(index)
        if len(group) > 1:
            verdict.duplicates[key] = len(group) - 1
            if len(verdict.details) < 5:
                verdict.details.append(timeline(fake, key, cards[index % len(cards)][0]))
        if not group:
            verdict.missing.append(index)
        if result is None or result["o"] not in FINAL:
            verdict.unfinished.append(index)
        elif len(group) == 1:
            charge = group[0]
            declined = charge.status == "failed"
            # A decline raised as CardDeclinedError names no charge.
            named = {charge.id, None} if declined else {charge.id}
            if result["o"] != ("declined" if declined else "succeeded") or result["c"] not in named:
                verdict.mismatched.append(index)
    return verdict


def assert_exactly_once(verdict: Verdict) -> None:
    print("\nchaos:", verdict.summary())  # the numbers a run is measured by
    assert verdict.fault_share >= 0.28, verdict.summary()
    assert set(verdict.fault_kinds) >= {str(fault.kind) for fault, _ in FAULTS}
    assert verdict.duplicates == {}, (
        verdict.summary() + "\n" + "\n".join(verdict.details)  # the server's timelines
    )
    assert verdict.missing == [], verdict.summary()
    assert verdict.foreign == 0, verdict.summary()
    assert verdict.unfinished == [], verdict.summary()
    assert verdict.mismatched == [], verdict.summary()


def write_config(path: Path, **config: Any) -> Path:
    base = {
        "timeout": TIMEOUT,
        "total_timeout": TOTAL_TIMEOUT,
        "settle": SETTLE,
        "max_retries": 8,
        "max_connections": 64,
    }
    path.write_bytes(orjson.dumps(base | config))
    return path


def kill_points(rng: random.Random, scale: Scale) -> Iterable[int | None]:
    """Seeded kill points (rows a run finishes before it dies), then runs to the end."""
    for _ in range(scale.kills):
        yield rng.randint(scale.rows // 20, scale.rows // 5)
    while True:
        yield None


# ------------------------------------------------------------------------- tests


@dataclass
class Runs:
    """What a driver did: the child runs, and each row's final result."""

    children: list[Child] = field(default_factory=list)
    final: dict[int, dict[str, Any]] = field(default_factory=dict)


async def drive_bulk(tmp_path: Path, base: dict[str, Any], scale: Scale, seed: int) -> Runs:
    """create_many, killed at seeded points and resumed from its journal until done."""
    config = write_config(
        tmp_path / "bulk.json", **base, journal=str(tmp_path / "bulk.journal.jsonl")
    )
    runs = Runs()
    for n, kill_after in enumerate(kill_points(random.Random(f"chaos-kills:{seed}"), scale)):
        if n >= scale.kills + 6:  # resumes with rows still unknown: a bound, not a loop
            break
        child = await run_child(config, tmp_path / f"bulk-{n}.err", kill_after=kill_after)
        runs.children.append(child)
        if child.killed:
            assert child.returncode == -signal.SIGKILL, child.stderr
            continue
        assert child.returncode == 0, child.stderr
        # A run that ran to the end yields a result for every row, journaled or not.
        assert sorted(r["i"] for r in child.results) == list(range(scale.rows))
        runs.final = {r["i"]: r for r in child.results}
        if all(r["o"] in FINAL for r in child.results):
            break
    return runs


async def drive_gather(tmp_path: Path, base: dict[str, Any], scale: Scale, seed: int) -> Runs:
    """charges.create under asyncio.gather, killed at seeded points; each next run
    resolves the unfinished rows (look up, then send only if absent)."""
    runs = Runs()
    todo = list(range(scale.rows))
    for n, kill_after in enumerate(kill_points(random.Random(f"chaos-kills:{seed}"), scale)):
        if not todo or n > scale.kills + 1:
            break
        config = write_config(
            tmp_path / f"gather-{n}.json", **base, indices=todo, lookup_first=n > 0
        )
        child = await run_child(config, tmp_path / f"gather-{n}.err", kill_after=kill_after)
        runs.children.append(child)
        assert child.returncode == (-signal.SIGKILL if child.killed else 0), child.stderr
        runs.final.update((r["i"], r) for r in child.results if r["o"] in FINAL)
        todo = [i for i in range(scale.rows) if i not in runs.final]
        if child.killed:
            # As the README asks after a crash: wait out what the dead process may
            # still have in flight (settle > LATE) before the next run looks rows up.
            await asyncio.sleep(SETTLE)
    return runs


Driver = Callable[[Path, dict[str, Any], Scale, int], Awaitable[Runs]]


async def chaos(tmp_path: Path, mode: str, drive: Driver, scale: Scale, seed: int) -> None:
    started = time.monotonic()
    job_id = f"chaos-{mode}-{seed}"
    async with FakeChing(seed=seed) as fake:
        cards = seed_customers(fake, scale.customers)
        inject_faults(fake)
        base = {
            "mode": mode,
            "url": fake.url,
            "api_key": fake.api_key,
            "cards": cards,
            "job_id": job_id,
            "rows": scale.rows,
            "concurrency": scale.concurrency,
        }
        runs = await drive(tmp_path, base, scale, seed)
        verdict = await judge(fake, job_id, scale.rows, cards, runs.final)
    kills = sum(child.killed for child in runs.children)
    print(
        f"\nchaos {mode} seed={seed} rows={scale.rows} concurrency={scale.concurrency} "
        f"runs={len(runs.children)} kills={kills} wall={time.monotonic() - started:.1f}s"
    )
    assert kills == scale.kills
    assert_exactly_once(verdict)


@pytest.mark.slow
async def test_create_many_killed_and_resumed_charges_each_row_once(tmp_path: Path) -> None:
    await chaos(tmp_path, "bulk", drive_bulk, DEFAULT_BULK, chaos_seed(19))


@long_only
async def test_create_many_killed_and_resumed_charges_each_row_once_long(tmp_path: Path) -> None:
    await chaos(tmp_path, "bulk", drive_bulk, LONG_BULK, chaos_seed(19))


@pytest.mark.slow
async def test_gathered_creates_killed_and_resolved_charge_each_row_once(tmp_path: Path) -> None:
    await chaos(tmp_path, "gather", drive_gather, DEFAULT_GATHER, chaos_seed(7))


@long_only
async def test_gathered_creates_killed_and_resolved_charge_each_row_once_long(
    tmp_path: Path,
) -> None:
    await chaos(tmp_path, "gather", drive_gather, LONG_GATHER, chaos_seed(7))
