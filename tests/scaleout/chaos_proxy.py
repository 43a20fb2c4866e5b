"""A fault-injecting reverse proxy in front of FakeChing, on 127.0.0.1.

FakeChing's own faults commit at once or never. A real gateway also answers
before the server has finished: a 504 now while the charge is committed
seconds later, or a request held past the client's attempt timeout and
committed after the client gave up. Those late commits are what make an
early "not found" lookup wrong, so the proxy makes them: it forwards the
request to FakeChing later, from a task of its own, whatever the client does.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
from aiohttp import web

from ching_async.testing import Fault
from ching_async.testing._app import _disconnect

__all__ = ["KINDS", "ChaosProxy"]

KINDS = (
    "reset_before",  # TCP RST after reading the request; nothing committed
    "commit_then_drop",  # committed, then the connection closed without an answer
    "status_503",  # CHING's own 503 envelope; nothing committed
    "late_commit",  # held past the attempt timeout, committed after the client gave up
    "gateway_504",  # a gateway's 504 page at once, committed later
)
_FORWARDED = ("Authorization", "Content-Type", "Idempotency-Key", "User-Agent", "Accept")


class ChaosProxy:
    """Faults on ``POST /charges`` at `rates` (kind -> probability), or as `choose`
    (request, body -> kind or None) says; everything else is forwarded as it is.
    A late commit lands `commit_delay` (a range, in seconds) after the request, plus
    `attempt_timeout` for a held one: keep that under the client's
    `RetryPolicy.settle`, as the real API promises to."""

    def __init__(
        self,
        upstream_root: str,
        *,
        seed: int = 0,
        rates: Mapping[str, float] | None = None,
        choose: Callable[[web.Request, bytes], str | None] | None = None,
        attempt_timeout: float,
        commit_delay: tuple[float, float],
    ) -> None:
        rates = dict(rates or {})
        if set(rates) - set(KINDS) or sum(rates.values()) > 1:
            raise ValueError(f"bad fault rates: {rates}")
        self._upstream = upstream_root
        self._rng = random.Random(seed)
        self._rates = rates
        self._choose = choose
        self._attempt_timeout = attempt_timeout
        self._delay = commit_delay
        self.counts: Counter[str] = Counter()
        self.enabled = True
        self._late: set[asyncio.Task[Any]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.root_url = ""

    @property
    def url(self) -> str:
        return self.root_url + "/ching/v1"

    async def __aenter__(self) -> ChaosProxy:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.root_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.drain()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def drain(self) -> None:
        """Wait for every late commit still to come."""
        while self._late:
            await asyncio.gather(*self._late, return_exceptions=True)

    # ---------------------------------------------------------------- handling
    def _draw(self, request: web.Request, body: bytes) -> str | None:
        if self._choose is not None:
            kind = self._choose(request, body)
            assert kind is None or kind in KINDS, kind
            return kind
        point = self._rng.random()
        for kind, rate in self._rates.items():
            if point < rate:
                return kind
            point -= rate
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        kind = None
        if self.enabled and request.method == "POST" and request.path.endswith("/charges"):
            kind = self._draw(request, body)
        if kind is not None:
            self.counts[kind] += 1
        if kind == "reset_before":
            return _disconnect(request, reset=True)
        if kind == "status_503":
            return _reply(Fault.status(503))
        if kind == "gateway_504":
            self._later(request, body, self._rng.uniform(*self._delay))
            return _reply(Fault.html(504))
        if kind == "late_commit":
            delay = self._attempt_timeout + self._rng.uniform(*self._delay)
            status, headers, content = await asyncio.shield(self._later(request, body, delay))
            return web.Response(status=status, body=content, headers=headers)
        status, headers, content = await self._forward(request, body)
        if kind == "commit_then_drop":
            return _disconnect(request, reset=False)
        return web.Response(status=status, body=content, headers=headers)

    def _later(self, request: web.Request, body: bytes, delay: float) -> asyncio.Task[Any]:
        async def commit() -> tuple[int, dict[str, str], bytes]:
            await asyncio.sleep(delay)
            return await self._forward(request, body)

        task = asyncio.create_task(commit())
        self._late.add(task)
        task.add_done_callback(self._late.discard)
        return task

    async def _forward(
        self, request: web.Request, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        assert self._session is not None
        headers = {name: request.headers[name] for name in _FORWARDED if name in request.headers}
        async with self._session.request(
            request.method, self._upstream + request.path_qs, data=body, headers=headers
        ) as upstream:
            content = await upstream.read()
            kept = {"Content-Type": upstream.headers.get("Content-Type", "application/json")}
            return upstream.status, kept, content


def _reply(fault: Fault) -> web.Response:
    reply = fault.reply()
    return web.Response(status=reply.status, body=reply.body, content_type=reply.content_type)
