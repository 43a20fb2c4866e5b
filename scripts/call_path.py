"""Follow one `charges.create` from call to `Charge` and print the package
modules it passes through, in order, with the number of calls into package
code and of crossings between modules (issue 20's measure of how easy the
core is to follow).

    .venv/bin/python scripts/call_path.py

The call runs against MockTransport (no sockets), so only package code and
the transport seam are counted; the first call warms caches and is not counted.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from types import FrameType
from typing import Any

import ching_async
from ching_async.testing import MockTransport, envelope_response

CHARGE = {
    "id": "ch_1",
    "object": "charge",
    "customer": "cus_1",
    "payment_method": "pm_1",
    "amount": 4990,
    "currency": "ils",
    "status": "succeeded",
    "captured": True,
    "created": "2026-04-19T09:15:22.000Z",
    "metadata": {},
}


def _module(frame: FrameType) -> str | None:
    name = frame.f_globals.get("__name__", "")
    return name if isinstance(name, str) and name.startswith("ching_async") else None


async def main() -> None:
    transport = MockTransport(lambda request: envelope_response(request, CHARGE))
    async with ching_async.Client("ck_test_" + "ab" * 32, transport=transport) as client:

        async def create() -> None:
            await client.charges.create(customer="cus_1", payment_method="pm_1", amount=4990)

        await create()
        path: list[str] = []
        calls = Counter[str]()
        entered: set[FrameType] = set()

        def profile(frame: FrameType, event: str, _: Any) -> None:
            # A coroutine resumed after an await fires "call" again: count
            # each frame's first entry only.
            if event != "call" or frame in entered:
                return
            entered.add(frame)
            module = _module(frame)
            if module is None or module == "ching_async.testing._mock":
                return
            calls[module] += 1
            if not path or path[-1] != module:
                path.append(module)

        sys.setprofile(profile)
        try:
            await create()
        finally:
            sys.setprofile(None)
    print("modules in order:", " -> ".join(m.removeprefix("ching_async.") for m in path))
    print(f"modules touched: {len(calls)}")
    print(f"calls into package code: {sum(calls.values())}")
    print(f"crossings between modules: {len(path) - 1}")
    for module, count in calls.most_common():
        print(f"  {count:3d}  {module}")


if __name__ == "__main__":
    asyncio.run(main())
