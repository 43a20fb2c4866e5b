"""Shared fixtures: a scripted loopback server for exact wire-level checks.

`scripted` answers each request from a per-route queue of canned responses
and records what reached it, so tests assert on the server side exactly what
the client sent. Behavioural integration tests use FakeChing instead.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import attrs
import orjson
import pytest
from aiohttp import web

import ching_async
from ching_async import _transport

TEST_KEY = "ck_test_" + "ab" * 32
LIVE_KEY = "ck_live_" + "cd" * 32

Reply = Callable[[web.Request], Awaitable[web.StreamResponse]]


@attrs.frozen
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None


def envelope(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    async def reply(_: web.Request) -> web.Response:
        return web.Response(
            status=status,
            body=orjson.dumps({"success": True, "data": data}),
            content_type="application/json",
            headers=headers,
        )

    return reply


def error(status: int, code: str = "X", message: str = "boom", **extra: Any) -> Reply:
    headers = extra.pop("headers", None)

    async def reply(_: web.Request) -> web.Response:
        err = {"status": status, "code": code, "message": message, **extra}
        return web.Response(
            status=status,
            body=orjson.dumps({"success": False, "error": err}),
            content_type="application/json",
            headers=headers,
        )

    return reply


def raw(status: int, body: bytes, content_type: str = "text/html", **headers: str) -> Reply:
    async def reply(_: web.Request) -> web.Response:
        return web.Response(status=status, body=body, content_type=content_type, headers=headers)

    return reply


def hang(seconds: float, then: Reply | None = None) -> Reply:
    async def reply(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        if then is None:
            return web.Response(status=204)
        return await then(request)

    return reply


def drop() -> Reply:
    async def reply(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        return web.Response(status=500)

    return reply


class ScriptedServer:
    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.script: dict[tuple[str, str], deque[Reply]] = defaultdict(deque)
        self.url = ""

    def on(self, method: str, path: str, *replies: Reply) -> None:
        self.script[(method, path)].extend(replies)

    def seen_at(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path == path]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(
            Seen(
                method=request.method,
                path=request.raw_path.split("?")[0],
                query=dict(request.query),
                headers=dict(request.headers),
                body=body,
            )
        )
        queue = self.script.get((request.method, request.raw_path.split("?")[0]))
        if not queue:
            return web.Response(status=599, text=f"unscripted {request.method} {request.raw_path}")
        reply = queue.popleft() if len(queue) > 1 else queue[0]
        return await reply(request)


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedServer]:
    server = ScriptedServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.url = f"http://127.0.0.1:{port}/ching/v1"
    yield server
    await runner.cleanup()


@pytest.fixture
async def client(scripted: ScriptedServer) -> AsyncIterator[ching_async.Client]:
    async with ching_async.Client(
        TEST_KEY,
        base_url=scripted.url,
        retry_policy=ching_async.RetryPolicy(instant=True),
        timeout=2.0,
        total_timeout=10.0,
    ) as c:
        yield c


CHARGE: dict[str, Any] = {
    "id": "ch_9mTPfRSDmEOU",
    "object": "charge",
    "customer": "cus_V8ltq1pK_MWH",
    "payment_method": "pm_WMc9X22NT1af",
    "amount": 9900,
    "amount_captured": 9900,
    "currency": "ils",
    "status": "succeeded",
    "description": "Pro plan - April",
    "installments": {"count": 1},
    "captured": True,
    "capture_method": "automatic",
    "authorized_at": "2026-04-19T09:15:22.000Z",
    "capturable_until": None,
    "captured_at": "2026-04-19T09:15:22.000Z",
    "cancellation_reason": None,
    "refunded_amount": 0,
    "failure_code": None,
    "failure_message": None,
    "document": "doc_R0i70cuPK_yO",
    "metadata": {},
    "livemode": False,
    "created": "2026-04-19T09:15:22.000Z",
}

SETUP_SESSION: dict[str, Any] = {
    "id": "seti_bQdnU-G6wCOj",
    "object": "setup_session",
    "customer": "cus_V8ltq1pK_MWH",
    "status": "pending",
    "url": "https://secured.ching.co.il/setup/seti_bQdnU-G6wCOj",
    "success_url": "https://example.com/billing/return",
    "cancel_url": "https://example.com/billing",
    "metadata": {},
    "livemode": False,
    "expires_at": "2026-04-20T09:12:43.000Z",
    "created": "2026-04-19T09:12:43.000Z",
}


@pytest.fixture
async def make_client(
    scripted: ScriptedServer,
) -> AsyncIterator[Callable[..., ching_async.Client]]:
    """A factory for Clients pointed at `scripted` (instant backoff), closed at teardown.

    Keyword arguments override the defaults; `api_key` defaults to TEST_KEY.
    """
    made: list[ching_async.Client] = []

    def make(**kwargs: Any) -> ching_async.Client:
        api_key = kwargs.pop("api_key", TEST_KEY)
        kwargs.setdefault("base_url", scripted.url)
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
    """The transports a client's own connector capped (_transport.cap_read_size), in order."""
    seen: list[object] = []
    real = _transport.cap_read_size

    def record(transport: object) -> None:
        real(transport)
        seen.append(transport)

    monkeypatch.setattr(_transport, "cap_read_size", record)
    return seen
