"""Fixtures for the resource tests that run against a FakeChing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import ching_async
from ching_async.testing import FakeChing
from tests._support.fake_client import client_for


@pytest.fixture
async def fake() -> AsyncIterator[FakeChing]:
    async with FakeChing(seed=5) as server:
        yield server


@pytest.fixture
async def ching(fake: FakeChing) -> AsyncIterator[ching_async.Client]:
    """A Client on `fake`; a short attempt timeout, so a delayed answer ends the attempt."""
    async with client_for(fake, timeout=0.5) as client:
        yield client
