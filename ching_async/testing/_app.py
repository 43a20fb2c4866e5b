"""HTTP plumbing: aiohttp routes, auth, body parsing, faults, idempotency and the log."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson
from aiohttp import web

from ._auth import KeyRing
from ._envelope import FakeApiError, Reply, success
from ._faults import API_PREFIXES, Fault, FaultKind, FaultSet
from ._log import RequestRecord
from ._routes import ROUTES, Call, Route
from ._state import Ledger
from ._validation import JSONObject

MAX_REQUEST_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class _Exchange:
    """One received request, before any decision about how to answer it."""

    request: web.Request
    route: Route | None
    path: str
    raw_body: bytes
    body: Any  # parsed JSON, or None when absent or not JSON
    fault: Fault | None


def relative_path(path: str) -> str:
    for prefix in API_PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return path[len(prefix) :] or "/"
    return path


def _parse_json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _to_response(reply: Reply) -> web.Response:
    return web.Response(
        status=reply.status,
        body=reply.body,
        content_type=reply.content_type,
        headers=reply.headers or None,
    )


def _disconnect(request: web.Request, *, reset: bool) -> web.Response:
    """Close the client's connection; the returned response is never written.

    aiohttp treats the failed write as a premature client disconnect and stays quiet.
    """
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if reset and sock is not None:
            # SO_LINGER 0 turns the close into a TCP RST ("connection reset by peer").
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort() if reset else transport.close()
    return web.Response()


class Gateway:
    """Turns aiohttp requests into ledger calls, answering like the real API."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        keys: KeyRing,
        faults: FaultSet,
        honor_idempotency_keys: bool,
        log: list[RequestRecord] | None,
    ) -> None:
        self.ledger = ledger
        self.keys = keys
        self.faults = faults
        self.honor_idempotency_keys = honor_idempotency_keys
        self._log = log
        self._replies: dict[tuple[str, str], Reply] = {}  # (api key, Idempotency-Key)
        self._stopping = asyncio.Event()
        self._late_commits: set[asyncio.Task[None]] = set()
        self.pending_commits = 0  # accepted requests whose commit is still to come
        self._committed = asyncio.Event()  # set while pending_commits == 0
        self._committed.set()

    def build_app(self) -> web.Application:
        # A 2 MB product image is 2.7 MB of base64 in its upload's body
        # (aiohttp's default limit is 1 MiB).
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        for prefix in API_PREFIXES:
            for route in ROUTES:
                handler = partial(self.handle, route)
                app.router.add_route(route.method, prefix + route.template, handler)
        # Everything else still goes through auth, faults and the log, then 404s.
        app.router.add_route("*", "/{tail:.*}", partial(self.handle, None))
        return app

    def stop_pauses(self) -> None:
        """Cut injected sleeps short so shutdown does not wait for them."""
        self._stopping.set()

    async def wait_for_commits(self) -> None:
        while self.pending_commits:
            await self._committed.wait()

    def _commit_pending(self) -> None:
        self.pending_commits += 1
        self._committed.clear()

    def _commit_done(self) -> None:
        self.pending_commits -= 1
        if not self.pending_commits:
            self._committed.set()

    async def finish_late_commits(self) -> None:
        """Wait for the background commits of ``*_then_commit`` faults (after
        ``stop_pauses`` they commit at once), so none outlives the server."""
        if self._late_commits:
            await asyncio.gather(*self._late_commits)

    async def handle(self, route: Route | None, request: web.Request) -> web.StreamResponse:
        exchange = await self._receive(route, request)
        fault = exchange.fault
        if fault is None:
            return self._respond(exchange, self._process(exchange))
        if fault.kind is FaultKind.RESET_BEFORE:
            self._record(exchange, None)
            return _disconnect(request, reset=True)
        if not fault.processes_request:
            return self._respond(exchange, fault.reply())
        return await self._process_with_fault(exchange, fault)

    async def _process_with_fault(self, exchange: _Exchange, fault: Fault) -> web.StreamResponse:
        if fault.commits_late:
            self._commit_later(exchange, fault.seconds)
            return _to_response(fault.reply())  # logged when it commits
        if fault.kind is FaultKind.LATENCY:
            # aiohttp does not cancel a handler whose client hung up (handler_cancellation
            # is off), so a client that times out first still gets a late commit.
            self._commit_pending()
            try:
                await self._pause(fault.seconds)
            finally:
                self._commit_done()
        reply = self._process(exchange)
        if fault.kind is FaultKind.COMMIT_THEN_DROP:
            self._record(exchange, reply.status)
            return _disconnect(exchange.request, reset=False)
        response = self._respond(exchange, reply)
        if fault.kind is FaultKind.COMMIT_THEN_DELAY:
            await self._pause(fault.seconds)
        return response

    def _commit_later(self, exchange: _Exchange, seconds: float) -> None:
        self._commit_pending()
        task = asyncio.get_running_loop().create_task(self._late_commit(exchange, seconds))
        self._late_commits.add(task)
        task.add_done_callback(self._late_commits.discard)

    async def _late_commit(self, exchange: _Exchange, seconds: float) -> None:
        try:
            await self._pause(seconds)
            # Everything _process reads (headers, match_info, query) outlives the response.
            self._record(exchange, self._process(exchange).status)
        finally:
            self._commit_done()

    async def _receive(self, route: Route | None, request: web.Request) -> _Exchange:
        raw = await request.read()
        path = relative_path(request.path)
        template = route.template if route is not None else None
        fault = self.faults.draw(request.method, template, path)
        return _Exchange(request, route, path, raw, _parse_json(raw), fault)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _respond(self, exchange: _Exchange, reply: Reply) -> web.Response:
        self._record(exchange, reply.status)
        return _to_response(reply)

    def _record(self, exchange: _Exchange, status: int | None) -> None:
        if self._log is None:
            return
        request = exchange.request
        self._log.append(
            RequestRecord(
                method=request.method,
                path=exchange.path,
                route=exchange.route.template if exchange.route is not None else None,
                query=request.query,
                headers=request.headers,
                body=exchange.body,
                raw_body=exchange.raw_body,
                fault=exchange.fault,
                status=status,
                at=self.ledger.now(),
            )
        )

    # -- processing: synchronous, so each request's state change is atomic ------------

    def _process(self, exchange: _Exchange) -> Reply:
        try:
            return self._dispatch(exchange)
        except FakeApiError as error:
            return error.reply()

    def _dispatch(self, exchange: _Exchange) -> Reply:
        request = exchange.request
        key, livemode = self.keys.authenticate(request.headers.get("Authorization"))
        route = exchange.route
        if route is None:
            raise FakeApiError(404, "NOT_FOUND", f"Unknown route: {request.method} {request.path}")
        idempotency_key = request.headers.get("Idempotency-Key")
        call = Call(
            params=request.match_info,
            query=request.query,
            body=_json_object(exchange) if route.method == "POST" else {},
            livemode=livemode,
            idempotency_key=idempotency_key,
        )
        if self.honor_idempotency_keys and idempotency_key and route.method == "POST":
            return self._replay_or_run(route, call, (key, idempotency_key))
        return _run(route, self.ledger, call)

    def _replay_or_run(self, route: Route, call: Call, cache_key: tuple[str, str]) -> Reply:
        """Opt-in only: the first answer for a key is replayed, errors included."""
        reply = self._replies.get(cache_key)
        if reply is None:
            reply = self._replies[cache_key] = _run(route, self.ledger, call)
        return reply


def _run(route: Route, ledger: Ledger, call: Call) -> Reply:
    try:
        result = route.handler(ledger, call)
    except FakeApiError as error:
        return error.reply()
    # A handler may render its own envelope (e.g. upsert's top-level ``action``).
    return result if isinstance(result, Reply) else success(result)


def _json_object(exchange: _Exchange) -> JSONObject:
    if not exchange.raw_body.strip():
        return {}  # e.g. ``curl -X POST .../cancel`` without ``-d``
    if not isinstance(exchange.body, dict):
        raise FakeApiError(400, "INVALID_FIELD", "The request body must be a JSON object")
    return exchange.body
