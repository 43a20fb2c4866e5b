"""Shared fixtures: `scripted`, canned answers per route, for exact request checks.

`scripted` answers each request from a per-route queue of canned replies and
records what reached it, so tests assert exactly what the client sent. By
default it is a MockTransport (no socket); a test marked `loopback` gets the
same script served by an aiohttp server on 127.0.0.1, for what only the wire
shows (aiohttp's own headers, dropped connections, timeouts, a caller's
session). Behavioural integration tests use FakeChing instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

import ching_async
from ching_async import _aiohttp
from tests._support.loopback import serving
from tests._support.scripted import TEST_KEY, Script, ScriptedServer, ScriptedTransport


@pytest.fixture
async def scripted(request: pytest.FixtureRequest) -> AsyncIterator[Script]:
    if request.node.get_closest_marker("loopback") is None:
        yield ScriptedTransport()
        return
    server = ScriptedServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    async with serving(app) as url:
        server.url = url + "/ching/v1"
        yield server


@pytest.fixture
async def client(scripted: Script) -> AsyncIterator[ching_async.Client]:
    async with ching_async.Client(
        TEST_KEY,
        retry_policy=ching_async.RetryPolicy(instant=True),
        timeout=2.0,
        total_timeout=10.0,
        **scripted.client_options(),
    ) as c:
        yield c


@pytest.fixture
async def make_client(
    scripted: Script,
) -> AsyncIterator[Callable[..., ching_async.Client]]:
    """A factory for Clients pointed at `scripted` (instant backoff), closed at teardown.

    Keyword arguments override the defaults; `api_key` defaults to TEST_KEY.
    """
    made: list[ching_async.Client] = []

    def make(**kwargs: Any) -> ching_async.Client:
        api_key = kwargs.pop("api_key", TEST_KEY)
        for name, value in scripted.client_options().items():
            kwargs.setdefault(name, value)
        kwargs.setdefault("retry_policy", ching_async.RetryPolicy(instant=True))
        kwargs.setdefault("timeout", 2.0)
        kwargs.setdefault("total_timeout", 10.0)
        c = ching_async.Client(api_key, **kwargs)
        made.append(c)
        return c

    yield make
    for c in made:
        await c.aclose()


@pytest.fixture
def capped_transports(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The transports a client's own connector capped (_aiohttp.cap_read_size), in order."""
    seen: list[object] = []
    real = _aiohttp.cap_read_size

    def record(transport: object) -> None:
        real(transport)
        seen.append(transport)

    monkeypatch.setattr(_aiohttp, "cap_read_size", record)
    return seen
