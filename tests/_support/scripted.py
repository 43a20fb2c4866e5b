"""Canned answers per route, and the payloads the tests share.

`Script` answers each request from a per-route queue of canned replies and
records what reached it; the `scripted` fixture in tests/conftest.py serves one
through MockTransport or, for a test marked `loopback`, an aiohttp server.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import attrs
import orjson
from aiohttp import web

import ching_async
from benchmarks._server import ching_charge
from ching_async._secrets import redact_headers
from ching_async.testing import MockTransport

TEST_KEY = "ck_test_" + "ab" * 32
LIVE_KEY = "ck_live_" + "cd" * 32


@attrs.frozen
class Seen:
    method: str
    path: str
    query: dict[str, str]
    # pytest's failure output shows the key as <redacted>
    headers: dict[str, str] = attrs.field(repr=lambda h: repr(redact_headers(h)))
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None


class Reply:
    """A canned answer, given by the loopback server (`__call__`) or by
    MockTransport (`answer`)."""

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    async def answer(self, request: ching_async.Request) -> ching_async.Response:
        raise NotImplementedError


@attrs.frozen
class Canned(Reply):
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] | None = None

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        return web.Response(
            status=self.status,
            body=self.body,
            content_type=self.content_type,
            headers=self.headers,
        )

    async def answer(self, request: ching_async.Request) -> ching_async.Response:
        headers = {"Content-Type": self.content_type, **(self.headers or {})}
        return ching_async.Response(
            self.status, headers, self.body, request, attempts=request.attempt
        )


# A reply only the loopback server can give: an aiohttp handler.
WireReply = Callable[[web.Request], Awaitable[web.StreamResponse]]


def envelope(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Canned(status, orjson.dumps({"success": True, "data": data}), headers=headers)


def error(status: int, code: str = "X", message: str = "boom", **extra: Any) -> Reply:
    headers = extra.pop("headers", None)
    err = {"status": status, "code": code, "message": message, **extra}
    return Canned(status, orjson.dumps({"success": False, "error": err}), headers=headers)


def raw(status: int, body: bytes, content_type: str = "text/html", **headers: str) -> Reply:
    return Canned(status, body, content_type, headers)


@attrs.frozen
class _Hang(Reply):
    seconds: float
    then: Reply | None

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(self.seconds)
        if self.then is None:
            return web.Response(status=204)
        return await self.then(request)

    async def answer(self, request: ching_async.Request) -> ching_async.Response:
        raise AssertionError("hang() times out a real socket: mark the test loopback")


def hang(seconds: float, then: Reply | None = None) -> Reply:
    return _Hang(seconds, then)


class _Drop(Reply):
    async def __call__(self, request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        return web.Response(status=500)

    async def answer(self, request: ching_async.Request) -> ching_async.Response:
        # What a transport reports for a connection lost after the request went out.
        raise ching_async.APIConnectionError("connection lost after the request was sent")


def drop() -> Reply:
    return _Drop()


class Script:
    """The per-route queues of replies and what was seen, shared by both kinds."""

    url = ""
    transport: MockTransport | None = None

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.script: dict[tuple[str, str], deque[Reply | WireReply]] = defaultdict(deque)

    def on(self, method: str, path: str, *replies: Reply | WireReply) -> None:
        self.script[(method, path)].extend(replies)

    def seen_at(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path == path]

    def client_options(self) -> dict[str, Any]:
        """What a Client needs to reach this script."""
        options: dict[str, Any] = {"base_url": self.url}
        if self.transport is not None:
            options["transport"] = self.transport
        return options

    def next_reply(self, method: str, path: str) -> Reply | WireReply | None:
        queue = self.script.get((method, path))
        if not queue:
            return None
        return queue.popleft() if len(queue) > 1 else queue[0]


class ScriptedTransport(Script):
    """The script answered in-process by a MockTransport."""

    url = "https://ching.invalid/ching/v1"

    def __init__(self) -> None:
        super().__init__()
        self.transport = MockTransport(self.answer)

    async def answer(self, request: ching_async.Request) -> ching_async.Response:
        path = urlsplit(request.url).path
        self.seen.append(
            Seen(
                method=request.method,
                path=path,
                query=dict(request.query),
                headers=dict(request.headers),
                body=request.body or b"",
            )
        )
        reply = self.next_reply(request.method, path)
        if reply is None:
            return ching_async.Response(
                599, {}, f"unscripted {request.method} {path}".encode(), request
            )
        assert isinstance(reply, Reply), "an aiohttp handler reply: mark the test loopback"
        return await reply.answer(request)


class ScriptedServer(Script):
    """The script served by aiohttp on 127.0.0.1."""

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
        reply = self.next_reply(request.method, request.raw_path.split("?")[0])
        if reply is None:
            return web.Response(status=599, text=f"unscripted {request.method} {request.raw_path}")
        return await reply(request)


# One charge exactly as documented in charges.txt: the one the benchmark
# server answers with, under the id the tests name.
CHARGE: dict[str, Any] = {**ching_charge(), "id": "ch_9mTPfRSDmEOU"}

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
