"""Response size cap: a body over `max_response_bytes` ends in
ResponseDecodeError without being read into memory. The server would send
10 GB (declared, endless chunked, or a gzip bomb); the call must end in well
under a second or two, the server must see the client hang up after a few MB,
and the client's traced allocations must stay near the cap."""

from __future__ import annotations

import asyncio
import functools
import time
import tracemalloc
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import ching_async

from . import CHARGE, KEY, RawConnection, RawRequest, RawServer, envelope, transport_of

MiB = 1024 * 1024
TEN_GB = 10 * 1024**3
CHUNK = b"x" * (64 * 1024)


def _client(url: str, **kwargs: Any) -> ching_async.Client:
    kwargs.setdefault("timeout", 30.0)
    kwargs.setdefault("total_timeout", 60.0)
    return ching_async.Client(
        KEY, base_url=url, retry_policy=ching_async.RetryPolicy(instant=True), **kwargs
    )


# The servers declare 10 GB but give up after this much: far beyond any cap
# under test, yet a regression then fails an assertion instead of eating RAM.
STREAM_BUDGET = 160 * MiB


async def _stream_forever(conn: RawConnection, head: bytes, frame: bytes) -> None:
    """Write `head`, then `frame` until the client goes away (or the budget)."""
    await conn.send(head)
    sent = 0
    while sent < STREAM_BUDGET:
        await conn.send(frame)
        sent += len(frame)


async def declared_ten_gb(conn: RawConnection, request: RawRequest) -> None:
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {TEN_GB}\r\n\r\n"
    ).encode()
    await _stream_forever(conn, head + b'{"success":true,"data":"', CHUNK)


CHUNKED_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
)


async def endless_chunked(conn: RawConnection, request: RawRequest) -> None:
    head = CHUNKED_HEAD
    first = b'{"success":true,"data":"'
    head += b"%x\r\n%s\r\n" % (len(first), first)
    await _stream_forever(conn, head, b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))


def _gzip_bomb(decoded_mib: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [compressor.compress(b'{"success":true,"data":"')]
    block = b"0" * MiB
    parts.extend(compressor.compress(block) for _ in range(decoded_mib))
    parts.append(compressor.flush())
    return b"".join(parts)


@functools.cache
def _bomb() -> bytes:
    return _gzip_bomb(64)  # 64 MiB decoded (8x the default cap), 64 KB on the wire


async def gzip_bomb(conn: RawConnection, request: RawRequest) -> None:
    bomb = _bomb()
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        f"Content-Length: {len(bomb)}\r\n\r\n"
    ).encode()
    await conn.send(head + bomb)


Handler = Callable[[RawConnection, RawRequest], Awaitable[None]]


@pytest.mark.parametrize(
    "handler", [declared_ten_gb, endless_chunked, gzip_bomb], ids=["declared", "chunked", "gzip"]
)
@pytest.mark.parametrize("cap", [8 * MiB, MiB], ids=["default-8MiB", "1MiB"])
async def test_oversized_body_is_refused_without_reading_it(handler: Handler, cap: int) -> None:
    async with RawServer(handler) as server:
        kwargs = {} if cap == 8 * MiB else {"max_response_bytes": cap}
        async with _client(server.url, max_retries=2, **kwargs) as client:
            tracemalloc.start()
            try:
                tracemalloc.reset_peak()
                base = tracemalloc.get_traced_memory()[0]
                started = time.monotonic()
                with pytest.raises(ching_async.ResponseDecodeError, match="max_response_bytes"):
                    await client.charges.retrieve("ch_1")
                elapsed = time.monotonic() - started
                peak = tracemalloc.get_traced_memory()[1] - base
            finally:
                tracemalloc.stop()
            # Reading 10 GB would take minutes; a refused body takes milliseconds.
            assert elapsed < 5.0
            # The client's own buffers stay within a small multiple of the cap.
            assert peak < 3 * cap + 16 * MiB, f"client allocated {peak / MiB:.1f} MiB"
            # Not retried: an oversized answer is final, even for a GET.
            assert len(server.requests) == 1
            # The client hung up: the server's writes failed long before 10 GB.
            await server.wait_all_closed()
            if handler is not gzip_bomb:
                assert server.disconnects == 1
                assert server.bytes_sent < cap + 64 * MiB, server.bytes_sent
            # And the pool is healthy afterwards.
            server.handler = _answer_charge
            assert (await client.charges.retrieve("ch_1")).id == CHARGE["id"]
            transport = transport_of(client)
            assert transport._slots.free == client.max_connections


async def _answer_charge(conn: RawConnection, request: RawRequest) -> None:
    await conn.respond(200, envelope(CHARGE))


def _padded_charge(size: int) -> bytes:
    body = envelope({**CHARGE, "description": ""})
    pad = size - len(body)
    assert pad >= 0
    return envelope({**CHARGE, "description": "d" * pad})


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_cap_is_exact_and_configurable(chunked: bool) -> None:
    limit = 4000
    size = {"value": limit}

    async def handler(conn: RawConnection, request: RawRequest) -> None:
        body = _padded_charge(size["value"])
        if not chunked:
            await conn.respond(200, body)
            return
        head = CHUNKED_HEAD
        frames = b"".join(
            b"%x\r\n%s\r\n" % (len(body[i : i + 999]), body[i : i + 999])
            for i in range(0, len(body), 999)
        )
        await conn.send(head + frames + b"0\r\n\r\n")

    async with (
        RawServer(handler) as server,
        _client(server.url, max_response_bytes=limit) as client,
    ):
        charge = await client.charges.retrieve("ch_1")  # exactly at the cap: fine
        assert len(charge.description or "") > 0
        size["value"] = limit + 1
        with pytest.raises(ching_async.ResponseDecodeError, match="max_response_bytes") as info:
            await client.charges.retrieve("ch_1")
        assert info.value.status == 200
        size["value"] = limit
        assert (await client.charges.retrieve("ch_1")).id == CHARGE["id"]


async def test_oversized_answer_to_a_post_is_outcome_unknown() -> None:
    """The server accepted the POST; only its answer was too big to read."""
    async with (
        RawServer(endless_chunked) as server,
        _client(server.url, max_response_bytes=MiB) as client,
    ):
        with pytest.raises(ching_async.ResponseDecodeError) as info:
            await client.setup_sessions.create(
                customer="cus_1", success_url="https://a.example/", cancel_url="https://a.example/"
            )
    assert info.value.outcome_unknown is True
    assert len(server.requests) == 1


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "8388608", None])
def test_max_response_bytes_must_be_a_positive_int(value: Any) -> None:
    with pytest.raises(ching_async.InvalidParameterError, match="max_response_bytes"):
        ching_async.Client(KEY, max_response_bytes=value)


async def test_many_oversized_answers_in_parallel_do_not_pile_up() -> None:
    """20 concurrent endless streams: all refused, quickly, nothing left open."""
    async with (
        RawServer(endless_chunked) as server,
        _client(server.url, max_response_bytes=MiB, max_connections=20) as client,
    ):
        started = time.monotonic()
        results = await asyncio.gather(
            *(client.charges.retrieve("ch_1") for _ in range(20)), return_exceptions=True
        )
        assert time.monotonic() - started < 10.0
        assert all(isinstance(r, ching_async.ResponseDecodeError) for r in results), results
        await server.wait_all_closed()
        assert server.bytes_sent < 20 * (MiB + 16 * MiB)
