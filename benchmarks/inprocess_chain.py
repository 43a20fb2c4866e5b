"""What one call costs the client in-process, over a stub transport (no
sockets): CPU us per `charges.list()` (100 charges) and per `charges.create`,
against `orjson.loads` of the same list body.
A diagnostic for changes on the call path (validation, retry, decoding)
that the loopback rows of bench_http.py are too noisy to show.

    .venv/bin/python benchmarks/inprocess_chain.py [--rounds 3] [--calls 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import orjson
from _common import positive_int
from _server import ching_charge_body, ching_list_body
from bench_http import CHING_KEY

import ching_async
from ching_async._messages import Request, Response


class _Stub:
    """A transport (the seam's one method) answering from stored bodies;
    unlike MockTransport it records nothing, so thousands of calls cost the same."""

    def __init__(self, list_body: bytes, charge_body: bytes) -> None:
        self._bodies = {"GET": list_body, "POST": charge_body}

    async def handle(self, request: Request) -> Response:
        body = self._bodies[request.method]
        headers = {"Content-Type": "application/json"}
        return Response(200, headers, body, request, attempts=request.attempt)


async def run(rounds: int, calls: int) -> None:
    list_body, charge_body = ching_list_body(), ching_charge_body()
    stub = _Stub(list_body, charge_body)
    async with ching_async.Client(CHING_KEY, transport=stub) as client:

        async def get() -> Any:
            return await client.charges.list()

        async def post() -> Any:
            return await client.charges.create(
                customer="cus_V8ltq1pK_MWH", payment_method="pm_WMc9X22NT1af", amount=9900
            )

        async def floor() -> Any:
            return orjson.loads(list_body)

        for _ in range(3):
            await get()
            await post()
        print(f"CPU us per call, {calls} calls per round")
        for n in range(rounds):
            row = []
            for label, fn in (
                ("GET list", get),
                ("POST create", post),
                ("orjson.loads of the list", floor),
            ):
                gc.collect()
                started = time.process_time()
                for _ in range(calls):
                    await fn()
                row.append(f"{label} {(time.process_time() - started) / calls * 1e6:6.1f}")
            print(f"  round {n + 1}: " + "   ".join(row))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=positive_int, default=3)
    parser.add_argument("--calls", type=positive_int, default=5000)
    args = parser.parse_args()
    asyncio.run(run(args.rounds, args.calls))


if __name__ == "__main__":
    main()
