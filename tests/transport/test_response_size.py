"""Response size cap: a body over `max_response_bytes` ends in
ResponseDecodeError without being read into memory. The server would send
10 GB (declared, endless chunked, or a gzip bomb); the call must end in well
under a second or two, the server must see the client hang up after a few MB,
and the client's traced allocations must stay near the cap."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import tracemalloc
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest

import ching_async
from tests._support.hostile import CHARGE, KEY, envelope, free_slots, transport_of
from tests._support.rawserver import RawConnection, RawRequest, RawServer
from tests._support.retry import unreadable_result

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
            assert await free_slots(transport._slots) == client.max_connections


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
        call = client.setup_sessions.create(
            customer="cus_1", success_url="https://a.example/", cancel_url="https://a.example/"
        )
        error = await unreadable_result(call, "/setup_sessions")
    assert "max_response_bytes" in error.message
    [post] = server.requests
    assert error.idempotency_key == post.headers["idempotency-key"]


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


# ------------------------------------------- bodies under the cap, dense inside
# A body under max_response_bytes whose JSON is nearly all structure: `{}`
# costs orjson about 36 bytes per body byte (a dict per three bytes), twice a
# typical body's cost, and every issue kept on an error would stay alive with
# it. Such a body is refused before it is parsed.
def _dense_error(size: int) -> bytes:
    head = b'{"success":false,"error":{"status":400,"code":"INVALID_FIELD","message":"m","issues":['
    count = (size - len(head) - 4) // 3
    return head + b",".join([b"{}"] * count) + b"]}}"


def _dense_list(count: int) -> bytes:
    return b'{"success":true,"data":[' + b",".join([b"{}"] * count) + b"]}"


def _serve(body: bytes, status: int) -> Handler:
    head = (
        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()

    async def handler(conn: RawConnection, request: RawRequest) -> None:
        # One write of bytes built in advance: the server adds little to
        # what tracemalloc sees of the client.
        await conn.send(head)
        await conn.send(body)

    return handler


class LoopWatch:
    """The longest stretch the event loop went without running a 1 ms ticker."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._last = time.perf_counter()
        self._task: asyncio.Task[None] | None = None

    def _lap(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self._last)
        self._last = now

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.001)
            self._lap()

    async def __aenter__(self) -> LoopWatch:
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0.005)
        self.longest = 0.0
        self._last = time.perf_counter()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._lap()  # the stretch since the last tick counts too
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def _baseline(body: bytes) -> tuple[float, int]:
    """What a bare orjson.loads of `body` costs here: (seconds, peak bytes)."""
    seconds = min(_timed(lambda: orjson.loads(body)) for _ in range(3))
    tracemalloc.start()
    try:
        parsed = orjson.loads(body)
        peak = tracemalloc.get_traced_memory()[1]
        del parsed
    finally:
        tracemalloc.stop()
    return seconds, peak


def _timed(work: Callable[[], Any]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


async def _call_measured(
    url: str, call: Callable[[ching_async.Client], Awaitable[Any]]
) -> tuple[BaseException, float, float, int, int]:
    """(error, wall seconds, longest loop block, peak bytes, bytes still held
    while the error lives) of one call, the last two from tracemalloc, the
    timings from a second call without it (tracemalloc slows allocation)."""
    async with _client(url, max_retries=0, timeout=5.0, total_timeout=1.0) as client:
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            with pytest.raises(ching_async.ChingError) as info:
                await call(client)
            current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        held = current - base
        del info
        async with LoopWatch() as watch:
            started = time.perf_counter()
            with pytest.raises(ching_async.ChingError) as info:
                await call(client)
            wall = time.perf_counter() - started
        return info.value, wall, watch.longest, peak - base, held


DENSE_CASES = {
    # The report's case: 7.5 MB, 2.5 million empty issues, a 400.
    "400-issues": (_dense_error(7_500_000), 400, lambda c: c.charges.retrieve("ch_1")),
    # A 2xx list of 2 million empty objects.
    "2xx-list": (_dense_list(2_000_000), 200, lambda c: c.charges.list()),
}


@pytest.mark.parametrize("case", sorted(DENSE_CASES))
async def test_a_dense_body_under_the_cap_is_refused_cheaply(case: str) -> None:
    body, status, call = DENSE_CASES[case]
    assert len(body) < 8 * MiB  # under the default cap: the transport reads it
    loads_seconds, loads_peak = _baseline(body)
    async with RawServer(_serve(body, status)) as server:
        exc, wall, block, peak, held = await _call_measured(server.url, call)
    # A typed error of the status that names the limit; nothing is kept.
    expected = ching_async.BadRequestError if status == 400 else ching_async.ResponseDecodeError
    assert type(exc) is expected, repr(exc)
    assert exc.status == status
    assert "objects and arrays" in exc.message, exc.message
    assert exc.issues == ()
    # Memory: the body as read (and its copy while aiohttp joins it), never
    # the parse. A bare orjson.loads of the same body takes ~36x its size.
    assert peak < 5 * len(body), f"peak {peak / MiB:.0f} MiB, body {len(body) / MiB:.1f} MiB"
    assert peak < loads_peak / 4, (peak, loads_peak)
    # The error's traceback keeps its frames, so the response and its body,
    # alive while it lives; nothing parsed from it.
    assert held < 1.25 * len(body), f"the error keeps {held / MiB:.1f} MiB alive"
    # Time: the loop is never blocked for long: well under a bare parse of
    # the body, and a few ms per 100 KB at most.
    assert block < max(0.05, loads_seconds / 2), (block, loads_seconds)
    assert block < 0.003 * len(body) / 100_000
    assert wall < 1.0  # the call's total_timeout


def _envelope_response(body: bytes, status: int) -> Any:
    from ching_async._messages import Request, Response

    request = Request(method="GET", path="/charges", base_url="https://x.example/ching/v1")
    return Response(status=status, headers={}, body=body, request=request)


def test_the_density_limit_is_exact_and_spares_real_bodies() -> None:
    """One object or array per 16 bytes beyond the first 1,024 decodes; one
    more is refused. A list of 100 charges has one per ~200 bytes."""
    from ching_async._protocol import decode_envelope

    def body_with(containers: int, size: int) -> bytes:
        items = b",".join([b"{}"] * (containers - 2))  # the envelope has 1, data 1
        head, tail = b'{"success":true,"data":[', b'],"pad":"'
        return head + items + tail + b"p" * (size - len(head + items + tail) - 2) + b'"}'

    size = 200_000
    allowed = 1024 + size // 16
    assert len(decode_envelope(_envelope_response(body_with(allowed, size), 200))) == allowed - 2
    with pytest.raises(ching_async.ResponseDecodeError, match="more than decoding allows") as info:
        decode_envelope(_envelope_response(body_with(allowed + 1, size), 200))
    assert f"{allowed + 1} JSON objects and arrays in {size} bytes" in info.value.message
    assert info.value.status == 200
    # A 5xx: the status's error, saying why its body was not read.
    with pytest.raises(ching_async.InternalServerError, match="not decoded"):
        decode_envelope(_envelope_response(body_with(allowed + 1, size), 503))
    # Real charges, made large by their descriptions and metadata, decode.
    charge = {
        **CHARGE,
        "description": "d" * 3000,
        "metadata": {f"k{i}": "v" * 40 for i in range(50)},
    }
    big = envelope([{**charge, "id": f"ch_{i}"} for i in range(100)])
    assert len(big) > 500_000
    assert len(decode_envelope(_envelope_response(big, 200))) == 100


async def test_an_error_keeps_the_first_hundred_issues_and_counts_the_rest() -> None:
    issue = {"path": ["amount"], "message": "Required " + "x" * 60}
    # Over the scan threshold, under the density limit: decoded, then capped.
    issues: list[Any] = [dict(issue, n=i) for i in range(5000)]
    issues[3:3] = ["junk", 7, None]
    body = orjson.dumps(
        {
            "success": False,
            "error": {"status": 422, "code": "INVALID_FIELD", "message": "bad", "issues": issues},
        }
    )
    assert len(body) > 64 * 1024
    async with RawServer(_serve(body, 422)) as server, _client(server.url) as client:
        with pytest.raises(ching_async.UnprocessableEntityError) as info:
            await client.charges.retrieve("ch_1")
    err = info.value
    assert err.message == "bad"
    assert len(err.issues) == 100
    assert [i["n"] for i in err.issues] == list(range(100))
    assert err.issues_omitted == 4900
    import pickle

    copy = pickle.loads(pickle.dumps(err))
    assert (copy.issues_omitted, len(copy.issues)) == (4900, 100)
    # A short list is kept whole.
    small = orjson.dumps({"success": False, "error": {"message": "m", "issues": [issue] * 3}})
    from ching_async._protocol import decode_envelope

    with pytest.raises(ching_async.BadRequestError) as short:
        decode_envelope(_envelope_response(small, 400))
    assert len(short.value.issues) == 3
    assert short.value.issues_omitted == 0


def _at_the_limit(head: bytes, tail: bytes, size: int) -> bytes:
    """`head` + a list of one-key objects, one per 17 bytes (just under the
    density limit), + `tail`: the costliest shape that is still parsed."""
    item = b'{"a":"xxxxxxxx"}'
    return head + b",".join([item] * ((size - len(head)) // (len(item) + 1))) + tail


AT_THE_LIMIT = {
    "400-issues": (
        _at_the_limit(b'{"success":false,"error":{"message":"m","issues":[', b"]}}", 2_000_000),
        400,
        lambda c: c.charges.retrieve("ch_1"),
    ),
    "2xx-list": (
        _at_the_limit(b'{"success":true,"data":[', b"]}", 2_000_000),
        200,
        lambda c: c.charges.list(),
    ),
}


@pytest.mark.parametrize("case", sorted(AT_THE_LIMIT))
async def test_a_body_just_under_the_limit_costs_a_parse_and_is_not_kept(case: str) -> None:
    """The densest body that is parsed costs about a bare parse, and once the
    call has failed, its error (traceback included) keeps none of it."""
    body, status, call = AT_THE_LIMIT[case]
    loads_seconds, loads_peak = _baseline(body)
    async with RawServer(_serve(body, status)) as server:
        exc, _wall, block, peak, held = await _call_measured(server.url, call)
    assert isinstance(exc, ching_async.APIError)
    assert exc.status == status
    if status == 400:
        assert len(exc.issues) == 100
        assert exc.issues_omitted == len(orjson.loads(body)["error"]["issues"]) - 100
    assert peak < loads_peak + 4 * len(body), (peak, loads_peak)
    assert held < 1.5 * len(body), f"the error keeps {held / MiB:.1f} MiB alive"
    # A parse of the body, its free and little else (generous: shared CI).
    assert block < 4 * loads_seconds + 0.05, (block, loads_seconds)
