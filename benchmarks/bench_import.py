"""Import time in a fresh process: `import ching_async` against `import aiohttp` alone.

Each round starts three fresh interpreters (interleaved):

    python -c pass                 interpreter start-up, subtracted from the others
    python -c "import aiohttp"     the baseline
    python -c "import ching_async"

and records the child's user+sys CPU milliseconds (os.wait4) and its
wall-clock milliseconds. The reported value per round is the import's net
cost: t(import X) - t(pass) of the same round; the table shows the median
with min-max of the CPU figure (it is robust to other load on a shared
machine, which inflates wall-clock time; the wall figures are in the JSON). Bytecode caches are warmed first, so this is the steady-state cost a
service pays at every start. `-X importtime` of ching_async is kept in the JSON
(the top self-time modules) for profiling.

Run alone: python benchmarks/bench_import.py [--quick]
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import print_table, quick_and_rounds, row

SCENARIO = "import in a fresh process"
PROGRAMS = [("pass", "pass"), ("aiohttp", "import aiohttp"), ("ching", "import ching_async")]
LABELS = {"aiohttp": "import aiohttp (baseline)", "ching": "import ching_async"}


# The children may write bytecode caches whatever the caller's environment
# says: with PYTHONDONTWRITEBYTECODE set, the warm-up would write none and
# every run would compile each module whose cache is missing or stale (an
# edited checkout: ~50 ms more for ching_async), measuring the compiler.
_CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _spawn(code: str) -> tuple[float, float]:
    """(wall ms, child CPU ms) of one fresh interpreter running `code`."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL, env=_CHILD_ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - started) * 1000
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{code!r} exited with {proc.returncode}")
    return wall, (usage.ru_utime + usage.ru_stime) * 1000


def importtime_top(module: str, top: int = 15) -> list[dict[str, Any]]:
    """The modules with the largest self time under `python -X importtime -c 'import module'`."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=_CHILD_ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    entries = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|")
        entries.append(
            {"module": name.strip(), "self_us": int(self_us), "cumulative_us": int(cumulative_us)}
        )
    entries.sort(key=lambda e: e["self_us"], reverse=True)
    return entries[:top]


def run(
    *, quick: bool = False, rounds: int | None = None, log: Any = print
) -> list[dict[str, Any]]:
    rounds = rounds or (4 if quick else 11)
    for _, code in PROGRAMS:  # warm bytecode caches and the page cache
        _spawn(code)
    raw: dict[str, list[tuple[float, float]]] = {key: [] for key, _ in PROGRAMS}
    started = time.perf_counter()
    for _ in range(rounds):
        for key, code in PROGRAMS:
            raw[key].append(_spawn(code))
    log(f"  {SCENARIO}: {rounds} rounds in {time.perf_counter() - started:.1f}s")
    top = importtime_top("ching_async")
    rows = []
    for key in ("aiohttp", "ching"):
        net_wall = [w - p[0] for (w, _), p in zip(raw[key], raw["pass"], strict=True)]
        net_cpu = [c - p[1] for (_, c), p in zip(raw[key], raw["pass"], strict=True)]
        rows.append(
            row(
                SCENARIO,
                LABELS[key],
                "CPU ms (net)",
                net_cpu,
                baseline=key == "aiohttp",
                target=1.3 if key == "ching" else None,
                extra={
                    "key": "import",
                    "client_key": key,
                    "net_wall_ms": net_wall,
                    "gross_wall_ms": [w for w, _ in raw[key]],
                    "pass_wall_ms": [w for w, _ in raw["pass"]],
                    "gross_cpu_ms": [c for _, c in raw[key]],
                    "pass_cpu_ms": [c for _, c in raw["pass"]],
                    **({"importtime_top_self": top} if key == "ching" else {}),
                },
            )
        )
    return rows


def main() -> None:
    args = quick_and_rounds(__doc__)
    rows = run(quick=args.quick, rounds=args.rounds)
    print_table(rows)
    print("\nTop self-time modules under -X importtime (import ching_async):")
    for entry in rows[-1]["importtime_top_self"]:
        print(
            f"  {entry['self_us'] / 1000:7.2f} ms self  {entry['cumulative_us'] / 1000:7.2f} ms cum  {entry['module']}"
        )


if __name__ == "__main__":
    main()
