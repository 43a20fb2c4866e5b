"""Shared fixtures for the fake server's own tests: plain aiohttp over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

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


@dataclass
class Sink:
    """A real HTTP endpoint that records each delivery: (headers, raw body)."""

    url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers to give, then 200
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        self.arrived.set()
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)

    @property
    def types(self) -> list[str]:
        return [orjson.loads(body)["type"] for _, body in self.received]


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    state = Sink()
    app = web.Application()
    app.router.add_post("/hook", state.handle)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        yield state
    finally:
        await runner.cleanup()
