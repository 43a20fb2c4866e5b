"""`RawServer`: a tiny HTTP/1.1 server on 127.0.0.1 built on asyncio streams, so a
test controls every byte on the wire (trickling, endless bodies, never
answering) and counts connections exactly on the server side."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import attrs

import ching_async
from ching_async._secrets import redact_headers as _redact
from tests._support.hostile import CHARGE, KEY, envelope


def client_on(server: RawServer, **options: Any) -> ching_async.Client:
    """A Client with the test key, pointed at `server`."""
    return ching_async.Client(KEY, base_url=server.url, **options)


@contextlib.asynccontextmanager
async def served(
    handler: Handler, **options: Any
) -> AsyncIterator[tuple[RawServer, ching_async.Client]]:
    """A RawServer answering with `handler`, and an open `client_on` it."""
    async with RawServer(handler) as server, client_on(server, **options) as client:
        yield server, client


@attrs.define
class RawRequest:
    line: str  # the request line as received
    method: str
    target: str
    # names lower-cased; the repr (pytest's failure output) redacts the key
    headers: dict[str, str] = attrs.field(repr=lambda h: repr(_redact(h)))
    body: bytes
    peer: Any


class RawConnection:
    """The server side of one connection, handed to a handler."""

    def __init__(self, server: RawServer, writer: asyncio.StreamWriter) -> None:
        self._server = server
        self.writer = writer
        self.keep_alive = True

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        self._server.bytes_sent += len(data)
        await self.writer.drain()

    async def respond(
        self,
        status: int = 200,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        content_type: str = "application/json",
    ) -> None:
        lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}"]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if not self.keep_alive:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        await self.send(head + body)


Handler = Callable[[RawConnection, RawRequest], Awaitable[None]]


async def answer_charge(conn: RawConnection, request: RawRequest) -> None:
    await conn.respond(200, envelope(CHARGE))


class RawServer:
    """HTTP/1.1 with keep-alive on 127.0.0.1; `handler` writes each response.

    Counts connections on the server side: `open` now, `peak` at once,
    `total` ever accepted; records every request in `requests`.
    """

    def __init__(self, handler: Handler = answer_charge) -> None:
        self.handler = handler
        self.requests: list[RawRequest] = []
        self.open = 0
        self.peak = 0
        self.total = 0
        self.bytes_sent = 0
        self.disconnects = 0  # handler writes that failed because the client left
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()  # set while no connection is open
        self._idle.set()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ching/v1"

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0, backlog=4096)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def wait_all_closed(self, seconds: float = 5.0) -> None:
        """Wait until every accepted connection has been closed by the client."""
        async with asyncio.timeout(seconds):
            await self._idle.wait()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.open += 1
        self._idle.clear()
        self.total += 1
        self.peak = max(self.peak, self.open)
        peer = writer.get_extra_info("peername")
        conn = RawConnection(self, writer)
        try:
            while conn.keep_alive:
                request = await _read_request(reader, peer)
                if request is None:
                    break
                self.requests.append(request)
                if request.headers.get("connection", "").lower() == "close":
                    conn.keep_alive = False
                await self.handler(conn, request)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            self.disconnects += 1
        except asyncio.CancelledError:
            pass
        finally:
            self.open -= 1
            if not self.open:
                self._idle.set()
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def _read_request(reader: asyncio.StreamReader, peer: Any) -> RawRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return RawRequest(lines[0], method, target, headers, body, peer)
