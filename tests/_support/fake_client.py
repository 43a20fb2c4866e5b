"""Helpers for tests that run against a FakeChing: a Client pointed at it, raw
calls to it, customers with cards to charge in bulk, and a bulk run's results."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

import ching_async
from ching_async.testing import FakeChing, Fault, RequestRecord


@asynccontextmanager
async def client_for(
    fake: FakeChing, *, api_key: str | None = None, **options: Any
) -> AsyncIterator[ching_async.Client]:
    """A Client pointed at `fake` with instant backoff, closed afterwards."""
    options.setdefault("retry_policy", ching_async.RetryPolicy(instant=True))
    options.setdefault("timeout", 2.0)
    async with ching_async.Client(
        api_key if api_key is not None else fake.api_key, base_url=fake.url, **options
    ) as client:
        yield client


def settling_client(fake: FakeChing) -> Any:
    """A client whose attempt times out (0.3 s) before a 1 s `Fault.latency`
    commits, and whose lookups wait out the commit (a 1.5 s settle time)."""
    return client_for(
        fake,
        timeout=0.3,
        total_timeout=6.0,
        retry_policy=ching_async.RetryPolicy(settle=1.5, initial_backoff=0.01),
    )


# (fault on a reconciled create, POSTs it takes, whether the result was
# found by reconciliation): with an attempt timeout under 2 s.
AMBIGUOUS_FAULTS = [
    pytest.param(Fault.commit_then_drop(), 1, True, id="a-lost-answer-is-reconciled"),
    pytest.param(Fault.commit_then_delay(2.0), 1, True, id="a-late-answer-is-reconciled"),
    pytest.param(Fault.status(503), 2, False, id="proven-absent-it-is-sent-again"),
    pytest.param(Fault.html(502), 2, False, id="a-gateway-page-proven-absent-is-sent-again"),
]


def sent(fake: FakeChing, method: str, route: str) -> list[RequestRecord]:
    """What reached the fake for one route template, e.g. ("POST", "/refunds")."""
    return fake.requests_to(method, route)


async def raw_call(
    fake: FakeChing,
    method: str,
    path: str,
    body: Any = None,
    *,
    api_key: str | None = None,
) -> tuple[int, Any]:
    """One plain aiohttp request to the fake: (status, parsed JSON)."""
    headers = {"Authorization": f"Bearer {api_key if api_key is not None else fake.api_key}"}
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.request(method, fake.url + path, json=body) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


def seed(fake: FakeChing, customers: int, *, declining: int = 0) -> list[tuple[str, str]]:
    """`customers` customers with one card each; the first `declining` cards decline."""
    cards = []
    for n in range(customers):
        customer = fake.add_customer(name=f"Customer {n}", email=f"c{n}@example.com")
        card = fake.add_payment_method(customer.id, declines=n < declining)
        cards.append((customer.id, card.id))
    return cards


def items(cards: list[tuple[str, str]], count: int) -> Iterator[dict[str, Any]]:
    """`count` charge items over `cards` in turn, each with its own amount."""
    for i in range(count):
        customer, card = cards[i % len(cards)]
        yield {"customer": customer, "payment_method": card, "amount": 1000 + i}


async def collect(run: ching_async.BulkRun) -> list[ching_async.ChargeResult]:
    """Every result of a bulk run, the run closed afterwards."""
    async with run:
        return [result async for result in run]


def charges_per_key(fake: FakeChing) -> Counter[str]:
    """How many of the fake's charges carry each idempotency key."""
    key = ching_async.IDEMPOTENCY_METADATA_KEY
    return Counter(str(c.metadata.get(key)) for c in fake.charges())
