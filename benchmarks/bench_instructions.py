"""Client instructions per request, counted by `perf stat` (Linux): a noise-free
companion to the CPU-time figures of bench_http.py and bench_decode.py.

On a shared VM the CPU time of the same work moves by 10-30% between runs, so
a ratio near a target (1.3x, 1.0x) can pass in one run and fail in the next.
The number of user-space instructions the client process retires does not
depend on the neighbours: it repeats to within about 1%. It is not time (a
cache miss costs more than an add), so the CPU-time ratios stay the headline;
this shows where the code stands without the noise.

For each client and scenario a child process (started under
`perf stat --no-inherit -e instructions:u`) starts the loopback server in its
own process (not counted), opens the client, warms up, and sends N requests
at the scenario's concurrency. The same child with N=0 is the fixed cost
(interpreter start, imports, warm-up); the difference over N is the
per-request count. Each figure is the median of 3 such pairs.

For the HTTP scenarios the same runs also count the kernel's instructions and
the page faults per request (where perf_event_paranoid allows): they show
whether a process reads through glibc's mmap path (cpython#85451), which
user-space instructions do not.

    decode       in-process, per 100-charge list body: json.loads vs ching_async
    post_c64     POST create, c=64: raw aiohttp + json.loads vs ching_async
    list_c16     GET list of 100, c=16: same

Run alone: python benchmarks/bench_instructions.py [--quick]
Skipped, with the reason, where perf or its counters are not available.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from _common import add_ratios, format_table, row  # noqa: E402

# (key, label, op, concurrency, N (full, quick)). No targets here: the targets
# are about CPU time (bench_http, bench_decode); these rows explain them.
SCENARIOS = [
    ("decode", "Decode 100-charge list (instructions)", "decode", 0, (200, 40)),
    ("post_c64", "POST create, c=64 (instructions)", "post", 64, (2000, 400)),
    ("list_c16", "GET list of 100, c=16 (instructions)", "list", 16, (400, 80)),
]
LABELS = {
    "aiohttp": "aiohttp + json.loads (floor)",
    "json": "json.loads (baseline)",
    "ching": "ching_async",
}
PAIRS = 3


# ------------------------------------------------------------------- child
def child(client: str, op: str, concurrency: int, n: int) -> None:
    """The measured process: N operations after a fixed warm-up."""
    if op == "decode":
        import json

        import bench_decode
        from _server import ching_list_body

        body = ching_list_body()
        fn = bench_decode.ching_decoder(body) if client == "ching" else (lambda: json.loads(body))
        for _ in range(20 + n):
            fn()
        return

    import bench_http
    from _server import LoopbackServer

    impl = {"aiohttp": bench_http.RawAiohttp, "ching": bench_http.Ching}[client]

    async def run(port: int) -> None:
        c = impl()
        await c.open(f"http://127.0.0.1:{port}", concurrency)
        fn = getattr(c, op)
        await bench_http._drive(fn, concurrency, concurrency * 4)
        if n:
            await bench_http._drive(fn, concurrency, n)
        await c.close()

    with LoopbackServer() as server:
        asyncio.run(run(server.port))


# ------------------------------------------------------------------ parent
# instructions:u is the headline. The kernel's instructions and the page
# faults show the allocator regime of each process: when asyncio's 256 KiB
# read buffer is served by mmap, every response adds an mmap, an mremap, a
# munmap and page faults (cpython#85451; see _transport.cap_read_size).
EVENTS = ("instructions:u", "instructions:k", "page-faults")
EXTRA_ROWS = (  # (event, label suffix, metric): HTTP scenarios only
    ("instructions:k", "kernel instructions", "kernel instructions/op"),
    ("page-faults", "page faults", "page faults/op"),
)


def _perf_unavailable() -> str | None:
    if shutil.which("perf") is None:
        return "perf is not installed"
    probe = _count([sys.executable, "-c", "pass"])
    if probe.get("instructions:u") is None:
        return "perf cannot read the instructions counter here (perf_event_paranoid or no PMU)"
    return None


def _count(argv: list[str]) -> dict[str, int]:
    """EVENTS counted in argv's own process (children excluded); an event perf
    could not count (kernel events under perf_event_paranoid >= 2) is absent."""
    result = subprocess.run(
        ["perf", "stat", "--no-inherit", "-x", ",", "-e", ",".join(EVENTS), *argv],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        return {}
    counts = {}
    for line in result.stderr.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2] in EVENTS and fields[0].isdigit():
            counts[fields[2]] = int(fields[0])
    return counts


def _per_op(client: str, op: str, concurrency: int, n: int) -> dict[str, float]:
    argv = [sys.executable, os.path.abspath(__file__), "--child", client, op, str(concurrency)]
    fixed, total = _count([*argv, "0"]), _count([*argv, str(n)])
    if "instructions:u" not in fixed or "instructions:u" not in total:
        raise RuntimeError(f"perf stat failed for {client} {op}")
    # Clamped at 0: a per-op count near zero can come out slightly negative.
    return {e: max(0.0, (total[e] - fixed[e]) / n) for e in EVENTS if e in fixed and e in total}


def run(*, quick: bool = False, log: Any = print) -> list[dict[str, Any]]:
    reason = _perf_unavailable()
    rows: list[dict[str, Any]] = []
    extra_rows: list[dict[str, Any]] = []
    for key, label, op, concurrency, counts in SCENARIOS:
        clients = ("json", "ching") if op == "decode" else ("aiohttp", "ching")
        if reason:
            note = f"skipped: {reason}"
            rows += [row(label, LABELS[c], "instructions/op", None, note=note) for c in clients]
            continue
        n = counts[1 if quick else 0]
        samples: dict[str, list[dict[str, float]]] = {c: [] for c in clients}
        for _ in range(PAIRS):
            for client in clients:
                samples[client].append(_per_op(client, op, concurrency, n))
        log(f"  {label}: {PAIRS} x {n} per client")
        for client in clients:
            rows.append(
                row(
                    label,
                    LABELS[client],
                    "instructions/op",
                    [s["instructions:u"] for s in samples[client]],
                    baseline=client != "ching",
                    extra={"key": key + "_instructions", "client_key": client, "n": n},
                )
            )
        if op == "decode":
            continue
        for event, suffix, metric in EXTRA_ROWS:
            for client in clients:
                values = [s[event] for s in samples[client] if event in s]
                extra_rows.append(
                    row(
                        label.replace("instructions", suffix),
                        LABELS[client],
                        metric,
                        values or None,
                        baseline=client != "ching",
                        note="" if values else f"skipped: perf could not count {event}",
                        extra={"key": f"{key}_{event}", "client_key": client, "n": n},
                    )
                )
    return rows + extra_rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        client, op, concurrency, n = args.child
        child(client, op, int(concurrency), int(n))
        return
    rows = run(quick=args.quick)
    add_ratios(rows)
    print(format_table(rows))


if __name__ == "__main__":
    main()
