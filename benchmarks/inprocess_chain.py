"""What one call costs the client in-process, over a stub transport (no
sockets): CPU us per `charges.list()` (100 charges) and per `charges.create`,
against `orjson.loads` of the same list body.
A diagnostic for changes on the call path (validation, retry, decoding)
that the loopback rows of bench_http.py are too noisy to show.

`--without PART` stubs one part out (reaching into private modules, as
split_get.py does) to show what it costs: `request_info` (one RequestInfo
reused instead of one per response), `uuid` (a constant idempotency key
instead of `uuid.uuid4()`), `checks` (the arguments' checks skipped) or
`decode` (the response returned undecoded).

The "bare lane" rows are what a create and a list cost with no design
around them: the same argument checks, key, JSON body, Request, stub
transport, envelope, RequestInfo and Charge decode, but no retry loop,
attempt chain, reconciler or marker options. They are the floor of any
design that keeps those guarantees' ingredients, shown beside the real
calls. bench_http.py's opt-in `bare` client runs the same lanes over the
real transport on the loopback.

    .venv/bin/python benchmarks/inprocess_chain.py [--rounds 3] [--calls 5000] [--without PART]
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
from _common import CUSTOMER, PAYMENT_METHOD, positive_int
from _server import ching_charge_body, ching_list_body
from bench_http import CHING_KEY

import ching_async
from ching_async._messages import Request, Response


def _without(part: str) -> None:
    from ching_async import _decode, _idempotency, _validation
    from ching_async._resources import _base

    if part == "request_info":
        made: list[Any] = []
        first = _decode.request_info

        def reused(response: Any) -> Any:
            if not made:
                made.append(first(response))
            return made[0]

        _decode.request_info = reused
    elif part == "uuid":
        _idempotency.new_idempotency_key = lambda: "k" * 36
    elif part == "checks":
        _validation.Fields.body_of = lambda self, arguments: {  # type: ignore[method-assign]
            api: arguments[name]
            for name, api, _, _ in self._fields
            if arguments.get(name) is not None
        }
    elif part == "decode":
        _base.decode_model = lambda response, cls, **_: response  # type: ignore[assignment]


def bare_lanes(client: ching_async.Client, transport: Any) -> tuple[Any, Any]:
    """charges.create's and charges.list's ingredients, each in one function
    (see the module docstring), sending through `transport.handle`."""
    from ching_async._convert import model_hook
    from ching_async._decode import decode_list, list_data, request_info
    from ching_async._idempotency import IDEMPOTENCY_METADATA_KEY, new_idempotency_key
    from ching_async._models import Charge
    from ching_async._protocol import decode_envelope, encode_json
    from ching_async._validation import CHARGE_FIELDS

    requester = client.charges._requester
    authorization = "Bearer " + CHING_KEY
    decode_charge = model_hook(Charge)

    async def create(
        customer: str,
        payment_method: str,
        amount: int,
        currency: str = "ils",
        description: str | None = None,
        installments: int | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Charge:
        body = CHARGE_FIELDS.body_of(locals())
        key = new_idempotency_key()
        body["metadata"] = {IDEMPOTENCY_METADATA_KEY: key}
        request = Request(
            "POST",
            "/charges",
            requester.base_url,
            headers={"Authorization": authorization, "Idempotency-Key": key},
            body=encode_json(body),
            idempotency_key=key,
            timeout=requester.timeout,
            deadline=time.monotonic() + requester.total_timeout,
        )
        response = await transport.handle(request)
        charge: Charge = decode_charge(decode_envelope(response), Charge, request_info(response))
        return charge

    async def list_() -> list[Charge]:
        request = Request(
            "GET",
            "/charges",
            requester.base_url,
            headers={"Authorization": authorization},
            timeout=requester.timeout,
            deadline=time.monotonic() + requester.total_timeout,
        )
        response = await transport.handle(request)
        items = list_data(response, Charge)
        return decode_list(response, Charge, items, request_info(response))

    return create, list_


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
                customer=CUSTOMER, payment_method=PAYMENT_METHOD, amount=9900
            )

        bare_create, bare_list = bare_lanes(client, stub)

        async def bare_get() -> Any:
            return await bare_list()

        async def bare_post() -> Any:
            return await bare_create(customer=CUSTOMER, payment_method=PAYMENT_METHOD, amount=9900)

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
                ("bare GET", bare_get),
                ("POST create", post),
                ("bare POST", bare_post),
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
    parser.add_argument("--without", choices=("request_info", "uuid", "checks", "decode"))
    args = parser.parse_args()
    if args.without:
        _without(args.without)
    asyncio.run(run(args.rounds, args.calls))


if __name__ == "__main__":
    main()
