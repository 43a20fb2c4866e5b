"""Timeouts and deadlines: a server that accepts and never answers, or
trickles one byte a second, cannot hold a call past `total_timeout`, retries,
reconciliation lookups and backoff sleeps included.

Bounds are generous (total_timeout + 1.5 s) so the tests assert the property,
not the scheduler's punctuality. The big matrix runs its scenarios
concurrently, each on its own server and client, to keep the suite fast.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import pytest

import ching_async
from tests._support.hostile import CHARGE, KEY, envelope, free_slots, transport_of
from tests._support.rawserver import RawConnection, RawRequest, RawServer, served

SLACK = 1.5  # seconds of scheduling slack allowed past the deadline

RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n"
    + envelope({**CHARGE, "description": "d" * 3000})[:4000]
)


async def never_answer(conn: RawConnection, request: RawRequest) -> None:
    await asyncio.sleep(3600)


async def trickle_head(conn: RawConnection, request: RawRequest) -> None:
    """The status line and headers, one byte a second."""
    for i in range(len(RESPONSE)):
        await conn.send(RESPONSE[i : i + 1])
        await asyncio.sleep(1.0)


async def trickle_body(conn: RawConnection, request: RawRequest) -> None:
    """Headers at once, then the body one byte a second."""
    split = RESPONSE.index(b"\r\n\r\n") + 4
    await conn.send(RESPONSE[:split])
    for i in range(split, len(RESPONSE)):
        await conn.send(RESPONSE[i : i + 1])
        await asyncio.sleep(1.0)


class SilentServer:
    """Accepts TCP connections and never reads or writes a byte."""

    def __init__(self) -> None:
        self.accepted = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> SilentServer:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.accepted += 1
            self._writers.append(writer)

        self._server = await asyncio.start_server(accept, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/ching/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()


Call = Callable[[ching_async.Client], Awaitable[Any]]
CALLS: dict[str, Call] = {
    "GET retrieve": lambda c: c.charges.retrieve("ch_1"),
    "POST charges.create": lambda c: c.charges.create(
        customer="cus_1", payment_method="pm_1", amount=100
    ),
    "POST setup_sessions.create": lambda c: c.setup_sessions.create(
        customer="cus_1", success_url="https://a.example/", cancel_url="https://a.example/"
    ),
}
# What each call must end in when the server never gives a usable answer.
EXPECTED: dict[str, type[Exception]] = {
    "GET retrieve": ching_async.APITimeoutError,
    # A charge may exist and the reconciliation lookups timed out too.
    "POST charges.create": ching_async.OutcomeUnknownError,
    "POST setup_sessions.create": ching_async.APITimeoutError,
}


@attrs.define
class Outcome:
    scenario: str
    call: str
    timeout: float
    total_timeout: float
    elapsed: float = 0.0
    error: BaseException | None = None
    connections: int = 0


async def _scenario(name: str, call: str, attempt_timeout: float, total: float) -> Outcome:
    outcome = Outcome(name, call, attempt_timeout, total)
    handler = {"never answers": never_answer, "trickles headers": trickle_head}.get(
        name, trickle_body
    )

    async def run(url: str) -> None:
        client = ching_async.Client(
            KEY,
            base_url=url,
            timeout=attempt_timeout,
            total_timeout=total,
            max_retries=20,  # far more than fit: the deadline must stop them
            retry_policy=ching_async.RetryPolicy(initial_backoff=0.05, max_backoff=0.2),
        )
        async with client:
            started = time.monotonic()
            try:
                await CALLS[call](client)
            except ching_async.ChingError as exc:
                outcome.error = exc
            outcome.elapsed = time.monotonic() - started

    if name == "never reads":
        async with SilentServer() as silent:
            await run(silent.url)
            outcome.connections = silent.accepted
    else:
        async with RawServer(handler) as server:
            await run(server.url)
            outcome.connections = server.total
    return outcome


SCENARIOS = ["never reads", "never answers", "trickles headers", "trickles body"]


async def test_deadline_holds_against_silent_and_trickling_servers() -> None:
    jobs = []
    for name in SCENARIOS:
        for call in CALLS:
            # A per-attempt timeout shorter than the deadline (so retries and
            # lookups happen) and one longer (so only the deadline can stop it).
            jobs.append(_scenario(name, call, attempt_timeout=0.9, total=2.0))
            jobs.append(_scenario(name, call, attempt_timeout=30.0, total=2.0))
    outcomes = await asyncio.gather(*jobs)
    report = "\n".join(
        f"{o.scenario:17} {o.call:27} timeout={o.timeout:<4} -> {type(o.error).__name__} "
        f"in {o.elapsed:.2f}s over {o.connections} connection(s)"
        for o in outcomes
    )
    print(report)  # shown with -s / -rP: the numbers behind the bounds
    for o in outcomes:
        where = f"{o.scenario} / {o.call} / timeout={o.timeout}\n{report}"
        assert isinstance(o.error, EXPECTED[o.call]), where
        assert o.elapsed < o.total_timeout + SLACK, where
        # A per-attempt timeout alone would not have ended it this early.
        assert o.elapsed >= min(o.timeout, o.total_timeout) * 0.8, where
        if o.call == "POST setup_sessions.create":
            assert o.error.outcome_unknown is True, where  # sent, never answered
        if o.call == "GET retrieve" and o.timeout < o.total_timeout:
            assert o.connections >= 2, f"GET was not retried\n{where}"


async def test_waiting_for_a_pool_slot_counts_against_the_deadline() -> None:
    """With every connection busy, a queued call ends by its deadline, and its
    timeout says it was never sent (so even a POST is safe to retry)."""
    async with RawServer(never_answer) as server:
        client = ching_async.Client(
            KEY, base_url=server.url, max_connections=1, timeout=30.0, total_timeout=0.7
        )
        async with client:
            slots = transport_of(client)._slots
            await slots.acquire()  # the pool's only connection is busy elsewhere
            try:
                started = time.monotonic()
                with pytest.raises(ching_async.APITimeoutError) as info:
                    await client.setup_sessions.create(
                        customer="cus_1",
                        success_url="https://a.example/",
                        cancel_url="https://a.example/",
                    )
                elapsed = time.monotonic() - started
            finally:
                slots.release()
    assert 0.5 < elapsed < 0.7 + SLACK
    assert info.value.may_have_reached_server is False
    assert info.value.outcome_unknown is False
    assert server.total == 0  # never even connected


async def test_an_attempt_after_a_wait_for_a_pool_slot_gets_only_what_is_left() -> None:
    """A call that waited 0.8 s for the pool's only connection has 0.4 s of its
    1.2 s left. Its attempt must time out then, not get the full per-attempt
    timeout: the server's answer at 1.0 s would end the call at 1.8 s."""

    async def slow(conn: RawConnection, request: RawRequest) -> None:
        await asyncio.sleep(1.0)
        await conn.respond(200, envelope(CHARGE))

    async with RawServer(slow) as server:
        client = ching_async.Client(
            KEY, base_url=server.url, max_connections=1, timeout=3.0, total_timeout=1.2
        )
        async with client:
            slots = transport_of(client)._slots
            await slots.acquire()  # the only connection is busy elsewhere for 0.8 s
            asyncio.get_running_loop().call_later(0.8, slots.release)
            started = time.monotonic()
            with pytest.raises(ching_async.APITimeoutError) as info:
                await client.charges.retrieve("ch_1")
            elapsed = time.monotonic() - started
    assert 1.1 < elapsed < 1.2 + 0.5, elapsed
    match = re.search(r"timed out after ([0-9.]+)s", str(info.value))
    assert match is not None, str(info.value)
    assert 0.3 < float(match.group(1)) <= 0.4, str(info.value)


async def test_an_attempt_with_nothing_left_of_its_deadline_is_not_sent() -> None:
    async with (
        RawServer(never_answer) as server,
        ching_async.Client(KEY, base_url=server.url) as client,
    ):
        request = ching_async.Request(
            method="POST",
            path="/charges",
            base_url=server.url,
            body=b"{}",
            timeout=2.0,
            deadline=time.monotonic() - 0.001,  # a wait before it used it all up
        )
        with pytest.raises(ching_async.APITimeoutError) as info:
            await transport_of(client).handle(request)
        slots = transport_of(client)._slots
        assert await free_slots(slots) == client.max_connections
    assert info.value.may_have_reached_server is False
    assert server.total == 0


async def test_a_cut_attempt_that_times_out_while_connecting_was_not_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An attempt cut below connect_timeout has connect and total timers of the
    same length, and aiohttp's total timer fires first. The connection never
    came, so the timeout must still say the request was not sent (a POST is
    then safe to retry)."""
    loop = asyncio.get_running_loop()

    async def hang(*args: Any, **kwargs: Any) -> None:
        await asyncio.sleep(3600)

    monkeypatch.setattr(loop, "sock_connect", hang)
    async with ching_async.Client(KEY, base_url="http://127.0.0.1:9/ching/v1") as client:
        request = ching_async.Request(
            method="POST",
            path="/charges",
            base_url="http://127.0.0.1:9/ching/v1",
            body=b"{}",
            timeout=30.0,
            deadline=time.monotonic() + 0.3,  # a wait before it left 0.3 s
        )
        with pytest.raises(ching_async.APITimeoutError) as info:
            await transport_of(client).handle(request)
    assert info.value.may_have_reached_server is False, str(info.value)
    assert "while connecting" in str(info.value)


async def test_a_sent_attempt_never_reads_another_attempts_connect_mark(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two attempts in tasks that share one contextvars.Context (as create_many's
    workers once did): A is sent and the server never answers; B then hangs
    while connecting. When A times out it must still say "may have been sent":
    B's "still connecting" is no proof about A (a blind re-send of A would
    charge twice)."""
    loop = asyncio.get_running_loop()
    real_connect = loop.sock_connect
    connects = 0

    async def second_connect_hangs(*args: Any, **kwargs: Any) -> Any:
        nonlocal connects
        connects += 1
        if connects == 2:
            await asyncio.sleep(3600)
        return await real_connect(*args, **kwargs)

    monkeypatch.setattr(loop, "sock_connect", second_connect_hangs)
    received = asyncio.Event()

    async def receive_and_never_answer(conn: RawConnection, request: RawRequest) -> None:
        received.set()
        await never_answer(conn, request)

    async with (
        RawServer(receive_and_never_answer) as server,
        ching_async.Client(KEY, base_url=server.url, timeout=0.6) as client,
    ):

        def attempt() -> ching_async.Request:
            return ching_async.Request(
                method="POST", path="/charges", base_url=server.url, body=b"{}", timeout=0.6
            )

        shared = contextvars.copy_context()
        sent = asyncio.create_task(transport_of(client).handle(attempt()), context=shared)
        async with asyncio.timeout(5):
            await received.wait()
        connecting = asyncio.create_task(transport_of(client).handle(attempt()), context=shared)
        results = await asyncio.gather(sent, connecting, return_exceptions=True)
    sent_error, connecting_error = results
    assert isinstance(sent_error, ching_async.APITimeoutError), sent_error
    assert sent_error.may_have_reached_server is True, str(sent_error)
    assert isinstance(connecting_error, ching_async.APITimeoutError), connecting_error
    assert connecting_error.may_have_reached_server is False, str(connecting_error)
    assert len(server.requests) == 1


async def test_backoff_and_retry_after_never_sleep_past_the_deadline() -> None:
    async def unavailable(conn: RawConnection, request: RawRequest) -> None:
        status = 429 if request.target.endswith("/limited") else 503
        await conn.respond(status, b'{"success":false,"error":{}}', {"Retry-After": "30"})

    slow = ching_async.RetryPolicy(initial_backoff=10.0, max_backoff=10.0)
    options = {"total_timeout": 1.0, "max_retries": 5, "retry_policy": slow}
    async with served(unavailable, **options) as (_, client):
        for path, expected in (
            ("ch_1", ching_async.InternalServerError),
            ("limited", ching_async.RateLimitError),
        ):
            started = time.monotonic()
            with pytest.raises(expected):
                await client.charges.retrieve(path)
            assert time.monotonic() - started < 1.0 + SLACK, path
