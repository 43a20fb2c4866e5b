"""HTTP benchmarks: client CPU per request and requests/s, clients interleaved.

Each client runs in its own long-lived WORKER process (so a client's process
holds only its own library, like a real application), driven over pipes by
this orchestrator, which is idle while a worker measures. The loopback server
(_server.py) is a third process. Per run a worker opens a fresh event loop and
client, warms up (opening every pooled connection), then times N requests in
BLOCKS blocks, summed:

    CPU us/request = time.process_time() delta of the worker / N
    requests/s     = N / wall-clock delta

Runs are interleaved per scenario, and within a run the clients' blocks
alternate (A1 B1 C1 A2 B2 C2 ...); runs are summarised as the median with
min-max. Clients:

    aiohttp   raw aiohttp ClientSession + json.loads -> dicts  (the floor, baseline)
    ching     ching_async.Client (full chain: validation, idempotency key,
              retry, auth, logging, transport, decode into Charge objects)
    ching-sync  ching_async.SyncClient, called from plain threads (its own
              loop thread does the work); only in the SyncClient scenarios,
              where the async Client is the baseline and the CPU is the
              whole process's (both threads)
    httpx     httpx.AsyncClient + json.loads -> dicts          (if installed)
    stripe    stripe-python 16 StripeClient + AIOHTTPClient, *_async methods,
              against Stripe-shaped /v1/charges routes         (if installed)
    bare      opt-in diagnostic, only in the heap-reads rows: ching_async's
              ingredients over its real transport with no design around
              them (inprocess_chain.py's bare lanes: no retry loop, attempt
              chain or reconciler); the floor of any design keeping them

Run alone: python benchmarks/bench_http.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import inspect
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (
    AMOUNT,
    CHING_KEY,
    CUSTOMER,
    PAYMENT_METHOD,
    STRIPE_KEY,
    add_ratios,
    format_table,
    positive_int,
    row,
    subset_of,
)

CLIENTS = ("aiohttp", "ching", "ching-sync", "httpx", "stripe", "bare")
# Run only when asked for by name (--clients).
OPT_IN_CLIENTS = ("bare",)
DEFAULT_RUN = tuple(c for c in CLIENTS if c not in OPT_IN_CLIENTS)
# A scenario runs these unless it names its own "clients".
DEFAULT_CLIENTS = ("aiohttp", "ching", "httpx", "stripe")
# The floor and ching_async always run the scenario's full request count; the
# comparison clients (up to ~100x slower) run for about this long per run.
CAPPED_CLIENTS = ("httpx", "stripe")
CAP_SECONDS = (1.0, 0.2)  # (full, quick)
# Each run is split into this many blocks (full, quick), alternating between
# the clients: A1 B1 A2 B2 ... This VM's speed drifts over seconds (the floor's
# CPU per GET, in 0.13 s blocks: 1,100-1,300 us for two seconds, then
# 1,600-1,900 us for the next two), so a client whose whole run fell in a slow
# stretch looked up to 1.5x costlier than the client run just before it.
# Alternating blocks puts every client's run in the same stretches of time.
BLOCKS = (4, 2)
CLIENT_LABELS = {
    "aiohttp": "aiohttp + json.loads (floor)",
    "ching": "ching_async",
    "ching-sync": "ching_async.SyncClient",
    "httpx": "httpx + json.loads",
    "stripe": "stripe-python (async, aiohttp)",
    "bare": "bare lane (diagnostic)",
}

# (key, label, op, concurrency, requests per run (full, quick), target for ching);
# optional: "clients" (default DEFAULT_CLIENTS), "baseline" (default aiohttp) and
# "measured" (the client the target is for, default ching).
POST_C1: dict[str, Any] = {
    "key": "post_c1",
    "label": "POST create, c=1",
    "op": "post",
    "concurrency": 1,
    "requests": (1500, 200),
    "target": None,
}
# Info, as the GET below: the floor may read through glibc's mmap path.
POST_C64 = POST_C1 | {
    "key": "post_c64",
    "label": "POST create, c=64",
    "concurrency": 64,
    "requests": (4000, 384),
}
LIST_C16 = POST_C1 | {
    "key": "list_c16",
    "label": "GET list of 100, c=16",
    "op": "list",
    "concurrency": 16,
    "requests": (1200, 64),
}


def like_for_like(scenario: dict[str, Any], target: float | None) -> dict[str, Any]:
    """`scenario` once both processes read on glibc's heap (see
    _use_heap_reads): the two libraries' code compared like for like, the
    floor without its mmap penalty (on that path a fresh aiohttp process pays
    two page faults per response read; ching_async caps its read size). Run
    after the other rows of these two clients: the switch cannot be undone
    in a running worker."""
    return {
        **scenario,
        "key": scenario["key"] + "_heap",
        "label": scenario["label"] + ", heap reads",
        "target": target,
        "heap_reads": True,
        "clients": ("aiohttp", "ching", "bare"),
    }


SCENARIOS: list[dict[str, Any]] = [
    POST_C1,
    POST_C64,
    LIST_C16,
    # The targets of the GET and the POST.
    like_for_like(LIST_C16, 1.15),
    like_for_like(POST_C64, 1.3),
    like_for_like(POST_C1, None),
    # The SyncClient rows run last: their extra runs in the async client's
    # worker (CPU pinning among them) would otherwise change the allocator
    # history the rows above are measured with (see _use_heap_reads).
    # The sync facade against the async client, same run: what the hop to the
    # SyncClient's loop thread and back costs a blocking caller.
    {
        "key": "post_c1_sync",
        "label": "POST create, c=1, SyncClient",
        "op": "post",
        "concurrency": 1,
        "requests": (1500, 200),
        "target": 1.3,
        "clients": ("ching", "ching-sync"),
        "baseline": "ching",
        "measured": "ching-sync",
    },
    # The same, with each client's process held on one CPU during its run: the
    # SyncClient's two threads then share that CPU's caches as the async
    # client's one thread does, instead of being spread over both CPUs by the
    # scheduler. Info: it shows how much of the row above is placement.
    {
        "key": "post_c1_sync_one_cpu",
        "label": "POST create, c=1, SyncClient, one CPU",
        "op": "post",
        "concurrency": 1,
        "requests": (1500, 200),
        "target": None,
        "clients": ("ching", "ching-sync"),
        "baseline": "ching",
        "measured": "ching-sync",
        "one_cpu": True,
    },
    {
        "key": "post_c8_sync",
        "label": "POST create, c=8 (threads), SyncClient",
        "op": "post",
        "concurrency": 8,
        "requests": (2000, 200),
        "target": None,  # info: 8 threads sharing one SyncClient, against 8 tasks
        "clients": ("ching", "ching-sync"),
        "baseline": "ching",
        "measured": "ching-sync",
    },
]

# ----------------------------------------------------------------- clients
PAYLOAD = {
    "customer": CUSTOMER,
    "payment_method": PAYMENT_METHOD,
    "amount": AMOUNT,
    "currency": "ils",
}


class RawAiohttp:
    """The floor: what any aiohttp user writes by hand."""

    async def open(self, base: str, concurrency: int) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))
        self.url = base + "/ching/v1/charges"
        self.get_headers = {"Authorization": "Bearer " + CHING_KEY}
        self.post_headers = {**self.get_headers, "Content-Type": "application/json"}

    async def post(self) -> Any:
        body = json.dumps(PAYLOAD).encode()
        async with self.session.post(self.url, data=body, headers=self.post_headers) as resp:
            raw = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}")
        return json.loads(raw)["data"]

    async def list(self) -> Any:
        async with self.session.get(self.url, headers=self.get_headers) as resp:
            raw = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}")
        return json.loads(raw)["data"]

    async def close(self) -> None:
        await self.session.close()


class Ching:
    async def open(self, base: str, concurrency: int) -> None:
        import ching_async

        self.client = ching_async.Client(
            CHING_KEY, base_url=base + "/ching/v1", max_connections=concurrency
        )
        await self.client.__aenter__()

    async def post(self) -> Any:
        return await self.client.charges.create(
            customer=CUSTOMER, payment_method=PAYMENT_METHOD, amount=AMOUNT
        )

    async def list(self) -> Any:
        return await self.client.charges.list()

    async def close(self) -> None:
        await self.client.aclose()


class Bare(Ching):
    """inprocess_chain.py's bare lanes over this client's own transport."""

    async def open(self, base: str, concurrency: int) -> None:
        from inprocess_chain import bare_lanes

        await super().open(base, concurrency)
        transport = self.client._life.own_transport
        self._create, self._list = bare_lanes(self.client, transport)

    async def post(self) -> Any:
        return await self._create(customer=CUSTOMER, payment_method=PAYMENT_METHOD, amount=AMOUNT)

    async def list(self) -> Any:
        return await self._list()


class ChingSync:
    """The SyncClient, as a Django view or a Celery task calls it: blocking,
    from threads that run no event loop."""

    sync = True

    def open(self, base: str, concurrency: int) -> None:
        import ching_async

        self.client = ching_async.SyncClient(
            CHING_KEY, base_url=base + "/ching/v1", max_connections=concurrency
        )

    def post(self) -> Any:
        return self.client.charges.create(
            customer=CUSTOMER, payment_method=PAYMENT_METHOD, amount=AMOUNT
        )

    def list(self) -> Any:
        return self.client.charges.list()

    def close(self) -> None:
        self.client.close()


class Httpx:
    async def open(self, base: str, concurrency: int) -> None:
        import httpx

        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.client = httpx.AsyncClient(
            base_url=base, headers={"Authorization": "Bearer " + CHING_KEY}, limits=limits
        )
        self.post_headers = {"Content-Type": "application/json"}

    async def post(self) -> Any:
        resp = await self.client.post(
            "/ching/v1/charges", content=json.dumps(PAYLOAD).encode(), headers=self.post_headers
        )
        if resp.status_code != 200:
            raise RuntimeError(f"HTTP {resp.status_code}")
        return json.loads(resp.content)["data"]

    async def list(self) -> Any:
        resp = await self.client.get("/ching/v1/charges")
        if resp.status_code != 200:
            raise RuntimeError(f"HTTP {resp.status_code}")
        return json.loads(resp.content)["data"]

    async def close(self) -> None:
        await self.client.aclose()


class Stripe:
    async def open(self, base: str, concurrency: int) -> None:
        import stripe

        self.http = stripe.AIOHTTPClient()  # its default pool (100 connections) covers c <= 64
        self.client = stripe.StripeClient(
            STRIPE_KEY, http_client=self.http, base_addresses={"api": base}
        )
        self.params = {
            "amount": AMOUNT,
            "currency": "ils",
            "customer": CUSTOMER,
            "source": PAYMENT_METHOD,
        }

    async def post(self) -> Any:
        return await self.client.v1.charges.create_async(params=self.params)  # type: ignore[arg-type]

    async def list(self) -> Any:
        return await self.client.v1.charges.list_async()

    async def close(self) -> None:
        await self.http.close_async()


IMPLS = {
    "aiohttp": RawAiohttp,
    "ching": Ching,
    "ching-sync": ChingSync,
    "httpx": Httpx,
    "stripe": Stripe,
    "bare": Bare,
}


def _check(op: str, result: Any) -> None:
    """One sanity check per run, outside the timed section: the answer was decoded."""
    if op == "list":
        items = result["data"] if not isinstance(result, list) else result
        assert len(items) == 100, len(items)
        first = items[0]
    else:
        first = result
    amount = first["amount"] if isinstance(first, dict) else first.amount
    assert amount == AMOUNT, amount


async def _drive(fn: Any, concurrency: int, n: int) -> None:
    remaining = n

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await fn()

    await asyncio.gather(*(worker() for _ in range(min(concurrency, n))))


def _drive_threads(fn: Any, concurrency: int, n: int) -> None:
    """`_drive` for a blocking client: `concurrency` threads share n calls."""
    if concurrency == 1:
        for _ in range(n):
            fn()
        return
    tickets = iter(range(n))  # next() on it is atomic: each call is taken once

    def worker() -> None:
        for _ in tickets:
            fn()

    threads = [threading.Thread(target=worker) for _ in range(min(concurrency, n))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class _Run:
    """One client's run inside a worker: open, then timed blocks, then close.

    The event loop and the client live across commands, so the orchestrator can
    alternate blocks of different clients within one run."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.impl: Any = None
        self.fn: Any = None
        self.per_block = 0
        self.concurrency = 1
        self.affinity: set[int] | None = None  # to restore after a one-CPU run

    def _done(self, result: Any) -> Any:
        """An async client's step run to its end; a blocking client's is done."""
        return self.loop.run_until_complete(result) if inspect.isawaitable(result) else result

    def _drive(self, n: int) -> None:
        if getattr(self.impl, "sync", False):
            _drive_threads(self.fn, self.concurrency, n)
        else:
            self.loop.run_until_complete(_drive(self.fn, self.concurrency, n))

    def open(self, name: str, base: str, cmd: dict[str, Any]) -> dict[str, Any]:
        """Open the client, check one answer, warm up, size the blocks.

        With `max_seconds` (comparison clients only) the request count is
        lowered so that the run takes about that long, judged from the warm-up."""
        op, concurrency, max_seconds = cmd["op"], cmd["concurrency"], cmd.get("max_seconds")
        requests, blocks = cmd["requests"], cmd["blocks"]
        self.concurrency = concurrency
        if cmd.get("one_cpu"):
            if not hasattr(os, "sched_setaffinity"):
                raise RuntimeError("needs os.sched_setaffinity (Linux)")
            # This thread only; threads started from now on (a SyncClient's) inherit it.
            self.affinity = os.sched_getaffinity(0)
            os.sched_setaffinity(0, {max(self.affinity)})
        self.impl = IMPLS[name]()
        self._done(self.impl.open(base, concurrency))
        self.fn = self.impl.post if op == "post" else self.impl.list
        _check(op, self._done(self.fn()))
        warmup = concurrency + 4 if max_seconds else 2 * concurrency + 10
        started = time.perf_counter()
        self._drive(warmup)  # fills the pool
        if max_seconds:
            per_request = (time.perf_counter() - started) / warmup
            requests = max(2 * concurrency, 20, min(requests, int(max_seconds / per_request)))
        self.per_block = max(1, requests // blocks)
        return {"per_block": self.per_block}

    def block(self) -> dict[str, Any]:
        gc.collect()
        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        # process_time counts every thread: a SyncClient's loop thread too.
        cpu0, wall0 = time.process_time(), time.perf_counter()
        self._drive(self.per_block)
        wall1, cpu1 = time.perf_counter(), time.process_time()
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "requests": self.per_block,
            "cpu_s": cpu1 - cpu0,
            "wall_s": wall1 - wall0,
            # The allocator regime (see bench_instructions.py): kernel time and
            # page faults, in the JSON only.
            "sys_s": usage1.ru_stime - usage0.ru_stime,
            "page_faults": usage1.ru_minflt - usage0.ru_minflt,
        }

    def close(self) -> dict[str, Any]:
        try:
            if self.impl is not None:
                self._done(self.impl.close())
        finally:
            self.loop.close()
            if self.affinity is not None:
                os.sched_setaffinity(0, self.affinity)
        return {"closed": True}


def _availability(name: str) -> str | None:
    """None if the client can run, else why not."""
    module = {"aiohttp": "aiohttp", "httpx": "httpx", "stripe": "stripe"}.get(name, "ching_async")
    try:
        __import__(module)
    except ImportError as exc:
        return f"not installed ({exc.name}); uv sync --group bench (make does)"
    if name == "stripe":
        import stripe

        if not hasattr(stripe, "StripeClient") or not hasattr(stripe, "AIOHTTPClient"):
            return f"stripe {getattr(stripe, 'VERSION', '?')} lacks StripeClient/AIOHTTPClient"
    return None


def _use_heap_reads() -> dict[str, Any]:
    """Put this process where a long-running one usually ends up: freeing one
    large mmapped block raises glibc's dynamic mmap threshold above asyncio's
    256 KiB read buffer, which is then taken from the heap (cpython#85451).
    Elsewhere than glibc, or with MALLOC_MMAP_THRESHOLD_ set, it changes
    nothing; the page faults on the progress line show the regime."""
    block = bytes(1 << 20)
    del block
    return {"heap_reads": True}


def worker_main(name: str, base: str) -> None:
    """Worker process: one JSON command per stdin line, one JSON result per stdout line."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the orchestrator handles Ctrl-C
    reason = _availability(name)
    out = sys.stdout
    out.write(json.dumps({"ready": reason is None, "reason": reason}) + "\n")
    out.flush()
    if reason is not None:
        return
    current: _Run | None = None
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            if cmd["cmd"] == "open":
                current = _Run()
                result = current.open(name, base, cmd)
            elif cmd["cmd"] == "block" and current is not None:
                result = current.block()
            elif cmd["cmd"] == "heap_reads" and current is None:
                result = _use_heap_reads()
            elif cmd["cmd"] == "close" and current is not None:
                run, current = current, None
                result = run.close()
            else:
                result = {"error": f"unexpected command {cmd['cmd']!r}"}
        except Exception as exc:  # reported as a row note, never as numbers
            result = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        out.write(json.dumps(result) + "\n")
        out.flush()


# ------------------------------------------------------------ orchestrator
class Worker:
    def __init__(self, name: str, base: str) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", name, "--base", base],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        hello = self._read()
        self.reason = None if hello.get("ready") else hello.get("reason", "worker failed to start")

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            return {"error": f"worker exited (code {self.proc.poll()})", "ready": False}
        return json.loads(line)

    def run(self, cmd: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        with contextlib.suppress(Exception):
            assert self.proc.stdout is not None
            self.proc.stdout.close()


def _interleaved_run(
    workers: dict[str, Worker],
    errors: dict[str, str],
    command: dict[str, Any],
    blocks: int,
    quick: bool,
) -> dict[str, dict[str, Any]]:
    """One run of every client, their blocks alternating (A1 B1 A2 B2 ...).

    Returns each client's run: its blocks' requests, CPU and wall time summed.
    A client that fails gets its error in `errors` and no run."""
    active: list[str] = []
    for name, worker in workers.items():
        if worker.reason or name in errors:
            continue
        cap = CAP_SECONDS[1 if quick else 0] if name in CAPPED_CLIENTS else None
        res = worker.run({"cmd": "open", **command, "max_seconds": cap, "blocks": blocks})
        if "error" in res:
            errors[name] = res["error"]
            worker.run({"cmd": "close"})
        else:
            active.append(name)
    parts: dict[str, list[dict[str, Any]]] = {name: [] for name in active}
    for _ in range(blocks):
        for name in active:
            if name in errors:
                continue
            res = workers[name].run({"cmd": "block"})
            if "error" in res:
                errors[name] = res["error"]
            else:
                parts[name].append(res)
    for name in active:
        workers[name].run({"cmd": "close"})
    return {
        name: {key: sum(p[key] for p in done) for key in done[0]}
        for name, done in parts.items()
        if name not in errors and done
    }


def run(
    port: int,
    *,
    quick: bool = False,
    rounds: int | None = None,
    clients: tuple[str, ...] = DEFAULT_RUN,
    scenarios: tuple[str, ...] | None = None,
    log: Any = print,
) -> list[dict[str, Any]]:
    """All HTTP scenarios against the server on `port`; returns table rows."""
    rounds = rounds or (3 if quick else 5)
    blocks = BLOCKS[1 if quick else 0]
    base = f"http://127.0.0.1:{port}"
    workers: dict[str, Worker] = {}
    rows: list[dict[str, Any]] = []
    try:
        for name in clients:
            workers[name] = Worker(name, base)
        for sc in SCENARIOS:
            if scenarios is not None and sc["key"] not in scenarios:
                continue
            requests = sc["requests"][1 if quick else 0]
            names = tuple(n for n in clients if n in sc.get("clients", DEFAULT_CLIENTS))
            if sc.get("heap_reads"):
                for name in names:
                    if not workers[name].reason:
                        workers[name].run({"cmd": "heap_reads"})
            samples: dict[str, list[dict[str, float]]] = {n: [] for n in names}
            errors: dict[str, str] = {}
            started = time.perf_counter()
            for _ in range(rounds):
                command = {
                    "op": sc["op"],
                    "concurrency": sc["concurrency"],
                    "requests": requests,
                    "one_cpu": sc.get("one_cpu", False),
                }
                this_round = _interleaved_run(
                    {n: workers[n] for n in names}, errors, command, blocks, quick
                )
                for name, run_ in this_round.items():
                    samples[name].append(run_)
            log(
                f"  {sc['label']}: {rounds} rounds x {requests} requests ({blocks} blocks)"
                f" in {time.perf_counter() - started:.1f}s; page faults/request: "
                + ", ".join(
                    f"{name} {statistics.median(r['page_faults'] / r['requests'] for r in runs):.1f}"
                    for name, runs in samples.items()
                    if runs
                )
            )
            for name in names:
                worker = workers[name]
                label = CLIENT_LABELS[name]
                if worker.reason or name in errors:
                    note = (
                        f"skipped: {worker.reason}" if worker.reason else f"error: {errors[name]}"
                    )
                    rows.append(row(sc["label"], label, "CPU us/req", None, note=note))
                    continue
                runs = samples[name]
                rows.append(
                    row(
                        sc["label"],
                        label,
                        "CPU us/req",
                        [r["cpu_s"] / r["requests"] * 1e6 for r in runs],
                        rate=[r["requests"] / r["wall_s"] for r in runs],
                        baseline=name == sc.get("baseline", "aiohttp"),
                        target=sc["target"] if name == sc.get("measured", "ching") else None,
                        extra={
                            "key": sc["key"],
                            "client_key": name,
                            "concurrency": sc["concurrency"],
                            "requests_per_run": [r["requests"] for r in runs],
                            "page_faults_per_request": [
                                r["page_faults"] / r["requests"] for r in runs
                            ],
                            "sys_us_per_request": [r["sys_s"] / r["requests"] * 1e6 for r in runs],
                            "runs": runs,
                        },
                    )
                )
    finally:
        for worker in workers.values():
            worker.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: fewer rounds and requests")
    parser.add_argument(
        "--rounds", type=positive_int, help="interleaved runs per client (default 5, quick 3)"
    )
    parser.add_argument(
        "--clients",
        type=subset_of(CLIENTS),
        default=DEFAULT_RUN,
        help="comma-separated subset of " + ",".join(CLIENTS),
    )
    parser.add_argument(
        "--scenarios",
        type=subset_of(tuple(sc["key"] for sc in SCENARIOS)),
        help="comma-separated subset of " + ",".join(sc["key"] for sc in SCENARIOS),
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args.worker, args.base)
        return
    from _server import LoopbackServer

    clients = args.clients
    if clients[0] != "aiohttp":
        clients = ("aiohttp", *(c for c in clients if c != "aiohttp"))
    with LoopbackServer() as server:
        rows = run(
            server.port,
            quick=args.quick,
            rounds=args.rounds,
            clients=clients,
            scenarios=args.scenarios,
        )
    add_ratios(rows)
    print(format_table(rows))


if __name__ == "__main__":
    main()
