"""Profile where the client CPU goes (pyinstrument, sampling), per request path.

    .tools/bin/uv pip install --python .venv/bin/python pyinstrument   # not a project dependency
    .venv/bin/python benchmarks/profile_ching.py                    # ching POST c=64 and GET list c=16
    .venv/bin/python benchmarks/profile_ching.py --client aiohttp   # the floor, for comparison
    .venv/bin/python benchmarks/profile_ching.py --scenario post --tree   # also print the call tree

The loopback server runs in its own process, so only client work is sampled.
For each scenario it first measures CPU us/request unprofiled (process_time),
then samples a profiled run and prints self time grouped by area and by
function, as a share of the non-idle samples and as us/request (share x the
unprofiled figure). Time spent inside C functions (orjson, json, uuid, socket
calls) is charged to the Python function that called them.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from collections import defaultdict
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_http
from _common import positive_float, positive_int
from _server import LoopbackServer

SCENARIOS = {
    "post": ("post", 64, 4000),
    "list": ("list", 16, 600),
}
IDLE_FUNCTIONS = {"select", "poll", "epoll"}


def area(file_path: str, function: str) -> str:
    path = file_path.replace("\\", "/")
    if "cattrs generated" in path or "attrs generated" in path:
        return "cattrs/attrs generated code"
    if "/ching_async/" in path:
        return "ching_async." + path.rsplit("/ching_async/", 1)[1].removesuffix(".py").replace(
            "/", "."
        )
    for package in (
        "aiohttp",
        "yarl",
        "multidict",
        "cattrs",
        "attr",
        "tenacity",
        "stripe",
        "httpx",
        "httpcore",
        "h11",
        "anyio",
    ):
        if f"/site-packages/{package}/" in path:
            return package
    if "/asyncio/" in path or path.endswith("selectors.py"):
        return "asyncio (event loop)"
    if path.endswith(("json/__init__.py", "json/decoder.py", "json/encoder.py")):
        return "json (stdlib)"
    if "benchmarks/" in path:
        return "benchmark driver"
    if "<" in path:
        return path
    return "stdlib: " + os.path.basename(path)


def _self_times(frame: Any, out_fn: dict[str, float], out_area: dict[str, float]) -> float:
    """Accumulate self time per function and per area; returns the idle time found."""
    idle = 0.0
    children_time = 0.0
    for child in frame.children:
        if (
            child.is_synthetic_leaf
        ):  # pyinstrument's "[self]" / "[await]" leaves: the parent's own time
            continue
        children_time += child.time
        idle += _self_times(child, out_fn, out_area)
    self_time = frame.time - children_time
    if self_time <= 0:
        return idle
    function = frame.function or "?"
    file_path = frame.file_path or ""
    if function in IDLE_FUNCTIONS and (file_path.endswith("selectors.py") or not file_path):
        return idle + self_time
    short = file_path.replace("\\", "/")
    for marker in ("/site-packages/", "/lib/python3.11/"):
        if marker in short:
            short = short.split(marker, 1)[1]
    short = short.rsplit("/ching_async/", 1)[-1] if "/ching_async/" in short else short
    out_fn[f"{function} ({short}:{frame.line_no})"] += self_time
    out_area[area(file_path, function)] += self_time
    return idle


async def _run(impl: Any, fn: Any, concurrency: int, n: int) -> float:
    await bench_http._drive(fn, concurrency, 2 * concurrency + 10)
    gc.collect()
    start = time.process_time()
    await bench_http._drive(fn, concurrency, n)
    return (time.process_time() - start) / n * 1e6


async def profile(
    client: str, base: str, op: str, concurrency: int, n: int, interval: float
) -> tuple[float, Any]:
    from pyinstrument import Profiler

    impl = bench_http.IMPLS[client]()
    await impl.open(base, concurrency)
    try:
        fn = impl.post if op == "post" else impl.list
        cpu_us = await _run(impl, fn, concurrency, n)
        profiler = Profiler(interval=interval, async_mode="disabled")
        profiler.start()
        await bench_http._drive(fn, concurrency, n)
        profiler.stop()
    finally:
        await impl.close()
    return cpu_us, profiler


def report(title: str, cpu_us: float, profiler: Any, *, top: int, tree: bool) -> None:
    session = profiler.last_session
    root = session.root_frame()
    by_fn: dict[str, float] = defaultdict(float)
    by_area: dict[str, float] = defaultdict(float)
    idle = _self_times(root, by_fn, by_area)
    busy = sum(by_area.values())
    print(
        f"\n=== {title}: {cpu_us:.0f} us CPU/request unprofiled; {session.sample_count} samples, "
        f"{idle / (idle + busy):.0%} idle in epoll (excluded) ==="
    )
    print(f"{'share':>6} {'us/req':>7}  area")
    for name, t in sorted(by_area.items(), key=lambda kv: -kv[1]):
        if t / busy >= 0.005:
            print(f"{t / busy:6.1%} {t / busy * cpu_us:7.1f}  {name}")
    print(f"\n{'share':>6} {'us/req':>7}  top functions by self time")
    for name, t in sorted(by_fn.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{t / busy:6.1%} {t / busy * cpu_us:7.1f}  {name}")
    if tree:
        print(profiler.output_text(unicode=False, color=False, show_all=False))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--client", default="ching", choices=sorted(bench_http.IMPLS))
    parser.add_argument("--scenario", default="both", choices=["post", "list", "both"])
    parser.add_argument("--requests", type=positive_int, help="requests per profiled run")
    parser.add_argument(
        "--interval", type=positive_float, default=0.0002, help="sampling interval, seconds"
    )
    parser.add_argument("--top", type=positive_int, default=25)
    parser.add_argument("--tree", action="store_true", help="also print pyinstrument's call tree")
    args = parser.parse_args()
    try:
        import pyinstrument  # noqa: F401
    except ImportError:
        sys.exit(
            "pyinstrument is not installed: .tools/bin/uv pip install --python .venv/bin/python pyinstrument"
        )
    names = ["post", "list"] if args.scenario == "both" else [args.scenario]
    with LoopbackServer() as server:
        base = f"http://127.0.0.1:{server.port}"
        for name in names:
            op, concurrency, n = SCENARIOS[name]
            n = args.requests or n
            cpu_us, profiler = asyncio.run(
                profile(args.client, base, op, concurrency, n, args.interval)
            )
            title = f"{args.client} {'POST create' if op == 'post' else 'GET list of 100'}, c={concurrency}, {n} requests"
            report(title, cpu_us, profiler, top=args.top, tree=args.tree)


if __name__ == "__main__":
    main()
