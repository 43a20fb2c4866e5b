"""Where a GET list of 100 spends its client CPU: four variants, each in its own
process, interleaved over rounds, both libraries reading on glibc's heap (as
in the "heap reads" row of bench_http.py):

    floor            raw aiohttp + json.loads (the floor of the GET target)
    floor-orjson     raw aiohttp + orjson.loads
    ching-raw-items  ching_async with decoding into Charge stubbed out
                     (the list's raw dicts come back): transport, chain, parse
    ching            ching_async as shipped

floor - floor-orjson is what json.loads costs over orjson.loads;
ching-raw-items - floor-orjson is the chain; ching - ching-raw-items is the
structuring of 100 charges. A diagnostic, not a target: the stub reaches
into a private module and the variant says so if that module moved.

    .venv/bin/python benchmarks/split_get.py [--rounds 5] [--requests 600]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import positive_int

VARIANTS = ("floor", "floor-orjson", "ching-raw-items", "ching")


def child(variant: str, requests: int) -> None:
    """One variant's run: CPU us per GET on stdout, or an error line."""
    import bench_http
    from bench_http import _use_heap_reads

    _use_heap_reads()
    from _server import LoopbackServer

    impl: type[bench_http.RawAiohttp] | type[bench_http.Ching]
    if variant.startswith("ching"):
        impl = bench_http.Ching
        if variant == "ching-raw-items":
            try:
                from ching_async._resources import _base
            except ImportError as exc:
                print(f"error: cannot stub decoding ({exc})")
                return
            _base.decode_list = lambda response, cls, raws, info: raws  # type: ignore[assignment]
    else:
        impl = bench_http.RawAiohttp
        if variant == "floor-orjson":
            import orjson

            bench_http.json.loads = orjson.loads  # type: ignore[assignment]

    async def run(port: int) -> float:
        client = impl()
        await client.open(f"http://127.0.0.1:{port}", 16)
        await bench_http._drive(client.list, 16, 64)
        started = time.process_time()
        await bench_http._drive(client.list, 16, requests)
        spent = time.process_time() - started
        await client.close()
        return spent / requests * 1e6

    with LoopbackServer() as server:
        print(f"{asyncio.run(run(server.port)):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=positive_int, default=5)
    parser.add_argument("--requests", type=positive_int, default=600, help="GETs per run")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.requests)
        return
    samples: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(args.rounds):
        for variant in VARIANTS:
            done = subprocess.run(
                [sys.executable, __file__, "--child", variant, "--requests", str(args.requests)],
                capture_output=True,
                text=True,
                check=False,
            )
            out = done.stdout.strip()
            if done.returncode != 0 or not out or out.startswith("error"):
                sys.exit(f"{variant}: {out or done.stderr.strip()[-300:]}")
            samples[variant].append(float(out))
    median = {v: statistics.median(s) for v, s in samples.items()}
    print(f"CPU us per GET list of 100, c=16, heap reads; median of {args.rounds} [min-max]")
    for variant in VARIANTS:
        s = samples[variant]
        print(f"  {variant:16s} {median[variant]:7.0f} [{min(s):.0f}-{max(s):.0f}]")
    derived = {
        "json.loads over orjson.loads (floor - floor-orjson)": median["floor"]
        - median["floor-orjson"],
        "the chain (ching-raw-items - floor-orjson)": median["ching-raw-items"]
        - median["floor-orjson"],
        "structuring 100 charges (ching - ching-raw-items)": median["ching"]
        - median["ching-raw-items"],
    }
    for label, value in derived.items():
        print(f"  {label:54s} {value:5.0f}")
    print(f"  {'ching / floor':54s} {median['ching'] / median['floor']:5.2f}x")


if __name__ == "__main__":
    main()
