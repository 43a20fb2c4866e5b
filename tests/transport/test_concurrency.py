"""Concurrency: thousands of concurrent calls over one client never open more
connections than `max_connections` (counted on the server side, per accepted
socket), and every call completes."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import ching_async
from tests._support.hostile import CHARGE, KEY, envelope, free_slots, transport_of
from tests._support.rawserver import RawConnection, RawRequest, RawServer

BODY = envelope(CHARGE)


class Counting:
    """Answers a charge after yielding once, and counts requests in flight."""

    def __init__(self, *, close_each: bool = False) -> None:
        self.in_flight = 0
        self.peak_in_flight = 0
        self.close_each = close_each

    async def __call__(self, conn: RawConnection, request: RawRequest) -> None:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.001)  # let the others pile up
            if self.close_each:
                conn.keep_alive = False
            await conn.respond(200, BODY)
        finally:
            self.in_flight -= 1


async def _hammer(client: ching_async.Client, calls: int) -> Counter[str]:
    async def one(i: int) -> object:
        if i % 5 == 0:
            return await client.setup_sessions.create(
                customer="cus_1", success_url="https://a.example/", cancel_url="https://a.example/"
            )
        return await client.charges.retrieve(f"ch_{i}")

    results = await asyncio.gather(*(one(i) for i in range(calls)), return_exceptions=True)
    return Counter(type(r).__name__ for r in results)


async def test_five_thousand_concurrent_calls_over_twenty_connections() -> None:
    handler = Counting()
    async with RawServer(handler) as server:
        client = ching_async.Client(KEY, base_url=server.url, max_connections=20, timeout=60.0)
        async with client:
            started = time.monotonic()
            kinds = await _hammer(client, 5000)
            elapsed = time.monotonic() - started
            print(
                f"5000 calls in {elapsed:.2f}s: {dict(kinds)}; server: peak {server.peak} "
                f"connections open at once, {server.total} accepted, "
                f"peak {handler.peak_in_flight} requests in flight"
            )
            assert kinds == Counter({"Charge": 4000, "SetupSession": 1000}), kinds
            assert len(server.requests) == 5000
            assert server.peak <= 20, f"{server.peak} connections open at once"
            assert server.total <= 20, f"{server.total} connections opened (pool churn)"
            assert handler.peak_in_flight <= 20
            # Saturated, so the bound above was really exercised.
            assert server.peak == 20
            assert handler.peak_in_flight == 20
            assert await free_slots(transport_of(client)._slots) == 20


async def test_pool_bound_holds_when_the_server_closes_every_connection() -> None:
    """Connection: close on every answer: 1,000 connections over the run,
    never more than 20 at once."""
    handler = Counting(close_each=True)
    async with RawServer(handler) as server:
        client = ching_async.Client(KEY, base_url=server.url, max_connections=20, timeout=60.0)
        async with client:
            kinds = await _hammer(client, 1000)
            print(f"churn: peak {server.peak} open at once, {server.total} accepted")
            assert kinds == Counter({"Charge": 800, "SetupSession": 200}), kinds
            assert server.total == 1000  # really one connection per call
            assert server.peak <= 20, f"{server.peak} connections open at once"
            assert handler.peak_in_flight <= 20
            assert server.peak >= 10  # and really concurrent
