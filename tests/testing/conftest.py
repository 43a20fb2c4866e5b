"""Shared fixtures for the fake server's own tests: plain aiohttp over real sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from ching_async.testing import FakeChing


@dataclass
class Api:
    """A tiny JSON client for the fake: returns ``(status, parsed body)``."""

    session: aiohttp.ClientSession
    url: str

    async def call(
        self, method: str, path: str, body: Any = None, **kwargs: Any
    ) -> tuple[int, Any]:
        async with self.session.request(method, self.url + path, json=body, **kwargs) as resp:
            return resp.status, await resp.json(content_type=None)

    async def get(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        return await self.call("GET", path, **kwargs)

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        return await self.call("POST", path, body, **kwargs)


@pytest.fixture
def fake_ching_options() -> dict[str, Any]:
    """Arguments of the plugin's ``fake_ching``; a module overrides this to change them."""
    return {"seed": 1}


@pytest.fixture
def fake(fake_ching: FakeChing) -> FakeChing:
    """The running fake: the plugin's own fixture serves these tests too."""
    return fake_ching


@pytest.fixture
async def api(fake: FakeChing) -> AsyncIterator[Api]:
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        yield Api(session, fake.url)


@dataclass(frozen=True)
class Seeded:
    customer: str
    card: str

    def charge_body(self, **overrides: Any) -> dict[str, Any]:
        return {"customer": self.customer, "payment_method": self.card, "amount": 4990} | overrides


@pytest.fixture
def seeded(fake: FakeChing) -> Seeded:
    customer = fake.add_customer(name="Tal Levi", email="tal@example.com")
    return Seeded(customer.id, fake.add_payment_method(customer.id).id)
