"""The aiohttp internals ching_async/_aiohttp.py relies on, one test each.

These are not in aiohttp's documented API, so an aiohttp upgrade may drop or
change them without notice. When one of these tests fails, read the module
docstring of ching_async/_aiohttp.py for why the hook is used before
changing anything: each failure message names the hook and what breaks
without it.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.client_reqrep import ClientRequest
from aiohttp.tracing import Trace

from ching_async import _aiohttp


@pytest.fixture
async def loopback() -> AsyncIterator[str]:
    """A URL on a minimal HTTP/1.1 server on 127.0.0.1 that answers 204 and
    keeps the connection open."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/"
    server.close()
    await server.wait_closed()


def test_session_has_the_retry_connection_switch() -> None:
    """ClientSession._retry_connection: without it aiohttp re-sends an
    idempotent request on a dropped pooled connection by itself, a send that
    escapes max_retries, the attempt count and user middlewares."""
    assert "_retry_connection" in aiohttp.ClientSession.ATTRS, (
        "aiohttp.ClientSession no longer lists _retry_connection in ATTRS: "
        "new_session cannot turn aiohttp's own silent re-send off"
    )
    source = inspect.getsource(aiohttp.ClientSession._request)
    assert "self._retry_connection" in source, (
        "ClientSession._request no longer reads self._retry_connection: "
        "check how this aiohttp re-sends on a dropped connection"
    )


async def test_new_session_turns_the_retry_switch_off() -> None:
    session = _aiohttp.new_session(4)
    try:
        assert session._retry_connection is False, "new_session left aiohttp's re-send on"
    finally:
        await session.close()


async def test_connect_gets_the_requests_own_timeout_object(loopback: str) -> None:
    """TCPConnector.connect(req, traces, timeout) must receive the very
    ClientTimeout passed to session.request: the per-attempt connect mark
    rides on it (_MarkedTimeout), and a copy would lose it."""
    params = list(inspect.signature(aiohttp.TCPConnector.connect).parameters)
    assert params == ["self", "req", "traces", "timeout"], (
        f"TCPConnector.connect's parameters changed to {params}: _Connector.connect overrides it"
    )
    received: list[aiohttp.ClientTimeout] = []

    class Recording(_aiohttp._Connector):
        def connect(
            self, req: ClientRequest, traces: list[Trace], timeout: aiohttp.ClientTimeout
        ) -> Any:
            received.append(timeout)
            return super().connect(req, traces, timeout)

    mark = _aiohttp._ConnectMark()
    timeout = _aiohttp._MarkedTimeout(total=5.0, connect=5.0, mark=mark)
    async with (
        aiohttp.ClientSession(connector=Recording()) as session,
        session.get(loopback, timeout=timeout) as resp,
    ):
        assert resp.status == 204
    assert received, "aiohttp did not call connector.connect for a new connection"
    assert received[0] is timeout, (
        "aiohttp passed connector.connect a different ClientTimeout object than the "
        "request's: the connect mark (_MarkedTimeout) no longer reaches _Connector.connect"
    )
    assert mark.state == _aiohttp._DONE


def test_client_timeout_can_carry_one_more_field() -> None:
    """_MarkedTimeout subclasses aiohttp.ClientTimeout (an attrs class) with a
    `mark` field; aiohttp must keep accepting it where a ClientTimeout goes."""
    mark = _aiohttp._ConnectMark()
    timeout = _aiohttp._MarkedTimeout(total=1.0, connect=0.5, mark=mark)
    assert isinstance(timeout, aiohttp.ClientTimeout)
    assert (timeout.total, timeout.connect, timeout.mark) == (1.0, 0.5, mark)


async def test_create_connection_gives_a_transport_with_max_size(
    loopback: str, capped_transports: list[object]
) -> None:
    """TCPConnector._create_connection must return a protocol whose
    `.transport` is the asyncio transport, and CPython's selector transport
    must read up to `max_size` bytes: together they cap the read size."""
    assert hasattr(aiohttp.TCPConnector, "_create_connection"), (
        "aiohttp.TCPConnector._create_connection is gone: _Connector can no longer "
        "cap the read size of new connections"
    )
    session = _aiohttp.new_session(4)
    try:
        async with session.get(loopback) as resp:
            assert resp.status == 204
    finally:
        await session.close()
    assert len(capped_transports) == 1, (
        "_Connector._create_connection did not run for a new connection"
    )
    [transport] = capped_transports
    assert transport is not None, (
        "TCPConnector._create_connection returned a protocol without .transport"
    )
    assert getattr(transport, "max_size", None) == _aiohttp._RECV_SIZE, (
        "the connection's asyncio transport has no max_size (or it was not capped)"
    )
