"""Run every benchmark and print ONE table (medians, min-max, ratios, targets).

    .venv/bin/python benchmarks/run_all.py            # full run, ~2-3 minutes (make bench)
    .venv/bin/python benchmarks/run_all.py --quick    # smoke run, < 30 s

Writes benchmarks/results.json (git-ignored) with every sample and the
environment. Nothing leaves 127.0.0.1; the loopback server and the client
worker processes are stopped at the end, also on Ctrl-C or an error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_bulk  # noqa: E402
import bench_decode  # noqa: E402
import bench_http  # noqa: E402
import bench_import  # noqa: E402
import bench_instructions  # noqa: E402
from _common import add_ratios, format_table  # noqa: E402
from _server import LoopbackServer  # noqa: E402

DEFAULT_OUTPUT = os.path.join(HERE, "results.json")


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment(quick: bool) -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "git_commit": commit or None,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average_start": os.getloadavg(),
        "versions": {
            name: _version(name)
            for name in (
                "ching-async",
                "aiohttp",
                "orjson",
                "cattrs",
                "attrs",
                "tenacity",
                "httpx",
                "httpcore",
                "sniffio",
                "stripe",
            )
        },
    }


def _notes(env: dict[str, Any]) -> list[str]:
    notes = []
    versions = env["versions"]
    if versions.get("httpx") and not versions.get("sniffio"):
        notes.append(
            "httpx: sniffio is not installed, so httpcore retries a failing `import sniffio` "
            "(a sys.path scan) on every lock use; part of httpx's CPU here is that."
        )
    load = env["load_average_start"][0]
    if env["cpu_count"] and load > 0.5 * env["cpu_count"]:
        notes.append(
            f"load average was {load:.1f} on {env['cpu_count']} CPUs at start: other processes were "
            "running; CPU-time figures are robust to that, rates/s are not."
        )
    return notes


# ---------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run (about 75 s): fewer rounds and requests"
    )
    parser.add_argument(
        "--output",
        default=DEFAULT_OUTPUT,
        help="JSON results file (default: benchmarks/results.json)",
    )
    args = parser.parse_args()

    started = time.perf_counter()
    env = environment(args.quick)
    v = env["versions"]
    print(
        f"ching_async benchmarks{' (quick)' if args.quick else ''}: Python {env['python']}, "
        f"{env['cpu_count']} CPUs, ching-async {v['ching-async']}, aiohttp {v['aiohttp']}, "
        f"httpx {v['httpx'] or '-'}, stripe {v['stripe'] or '-'}",
        flush=True,
    )
    rows: list[dict[str, Any]] = []

    def log(message: str) -> None:
        print(message, flush=True)

    try:
        with LoopbackServer() as server:
            log(f"loopback server pid {server.pid} on 127.0.0.1:{server.port}")
            rows += bench_http.run(server.port, quick=args.quick, log=log)
        rows += bench_decode.run(quick=args.quick, log=log)
        rows += bench_import.run(quick=args.quick, log=log)
        bulk_rows, create_many_memory = bench_bulk.run(quick=args.quick, log=log)
        rows += bulk_rows
        rows += bench_instructions.run(quick=args.quick, log=log)
    except KeyboardInterrupt:
        print("\ninterrupted; the server and worker processes were stopped", file=sys.stderr)
        return 130

    add_ratios(rows)
    env["load_average_end"] = os.getloadavg()
    env["duration_s"] = round(time.perf_counter() - started, 1)
    targets = [r for r in rows if r.get("target") is not None]

    print()
    print(format_table(rows))
    print()
    print(create_many_memory)
    passed = sum(r.get("result") == "PASS" for r in targets)
    print(
        f"Targets: {passed}/{len(targets)} PASS. Ratio = ching_async median / baseline median "
        f"(HTTP: client CPU per request; SyncClient rows: the whole process's CPU, both "
        f"threads, against the async Client's in the same run). {rounds_note(args.quick)}"
    )
    for note in _notes(env):
        print("Note: " + note)
    shown = os.path.relpath(args.output)
    print(
        f"Total {env['duration_s']:.0f}s. Results: {args.output if shown.startswith('..') else shown}"
    )

    with open(args.output, "w") as f:
        json.dump(
            {
                "environment": env,
                "rows": rows,
                "targets": [
                    {
                        "scenario": r["scenario"],
                        "ratio": r.get("ratio"),
                        "target": r["target"],
                        "result": r.get("result"),
                    }
                    for r in targets
                ],
                "create_many_memory": create_many_memory,
            },
            f,
            indent=1,
        )
    return 0


def rounds_note(quick: bool) -> str:
    return (
        "Quick mode: 3 rounds, short runs (smoke only)."
        if quick
        else "Median of 5 interleaved runs (import: 11)."
    )


if __name__ == "__main__":
    sys.exit(main())
