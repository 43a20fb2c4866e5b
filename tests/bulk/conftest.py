"""The bulk engine's fixtures: a FakeChing, and a Client on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import ching_async
from ching_async.testing import FakeChing


@pytest.fixture
async def fake() -> AsyncIterator[FakeChing]:
    async with FakeChing() as fake:
        yield fake


@pytest.fixture
async def client(fake: FakeChing) -> AsyncIterator[ching_async.Client]:
    async with ching_async.Client(
        fake.api_key,
        base_url=fake.url,
        timeout=2,
        total_timeout=3,  # bounds the resume's wait for a dead run's requests
        retry_policy=ching_async.RetryPolicy(instant=True),
    ) as client:
        yield client
