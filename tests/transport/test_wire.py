"""Transport behaviour against a real loopback server: size caps, encodings, broken bodies."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

import ching_async
from ching_async import _aiohttp
from ching_async._messages import Request
from tests._support.retry import unreadable_result
from tests._support.scripted import SETUP_SESSION, TEST_KEY, ScriptedServer, WireReply, envelope

BASE = "/ching/v1"
MakeClient = Callable[..., ching_async.Client]
pytestmark = pytest.mark.loopback  # the aiohttp transport itself, on the wire


def encoded(body: bytes, encoding: str) -> WireReply:
    compressed = gzip.compress(body) if encoding == "gzip" else zlib.compress(body)

    async def reply(_: web.Request) -> web.Response:
        return web.Response(
            status=200,
            body=compressed,
            headers={"Content-Encoding": encoding, "Content-Type": "application/json"},
        )

    return reply


def session_body(pad: int) -> bytes:
    return orjson.dumps({"success": True, "data": {**SETUP_SESSION, "pad": "a" * pad}})


@pytest.fixture(params=["gzip", "deflate"])
def compressed(
    request: pytest.FixtureRequest, scripted: ScriptedServer, make_client: MakeClient
) -> Callable[[int], ching_async.Client]:
    """A client capped at 10 kB, whose GET /setup_sessions/s answers a session
    padded with `pad` bytes, compressed (each encoding in turn)."""

    def serve(pad: int) -> ching_async.Client:
        scripted.on("GET", BASE + "/setup_sessions/s", encoded(session_body(pad), request.param))
        return make_client(max_response_bytes=10_000)

    return serve


async def test_compressed_body_is_capped_after_decoding(
    scripted: ScriptedServer, compressed: Callable[[int], ching_async.Client]
) -> None:
    # ~500 bytes on the wire, 200 kB once decoded: the cap applies to the decoded body.
    client = compressed(200_000)
    with pytest.raises(ching_async.ResponseDecodeError, match="max_response_bytes") as info:
        await client.setup_sessions.retrieve("s")
    assert info.value.status == 200
    assert (info.value.method, info.value.path) == ("GET", "/setup_sessions/s")
    assert len(scripted.seen) == 1, "an oversized body is final, not retried"


async def test_compressed_body_under_cap_decodes(
    compressed: Callable[[int], ching_async.Client],
) -> None:
    session = await compressed(5_000).setup_sessions.retrieve("s")
    assert session.raw["pad"] == "a" * 5_000
    assert session.id == SETUP_SESSION["id"]


async def test_plain_body_over_cap(scripted: ScriptedServer, make_client: MakeClient) -> None:
    scripted.on("GET", BASE + "/setup_sessions/s", envelope({**SETUP_SESSION, "pad": "a" * 5000}))
    client = make_client(max_response_bytes=1_000)
    with pytest.raises(ching_async.ResponseDecodeError, match="max_response_bytes"):
        await client.setup_sessions.retrieve("s")


async def test_plain_body_over_cap_on_post_is_outcome_unknown(
    scripted: ScriptedServer, make_client: MakeClient
) -> None:
    scripted.on("POST", BASE + "/setup_sessions", envelope({**SETUP_SESSION, "pad": "a" * 5000}))
    client = make_client(max_response_bytes=1_000)
    call = client.setup_sessions.create(
        customer="cus_1", success_url="https://a.example/", cancel_url="https://b.example/"
    )
    error = await unreadable_result(call, "/setup_sessions")
    assert "max_response_bytes" in error.message
    assert error.idempotency_key == scripted.seen[0].headers["Idempotency-Key"]


def short_body() -> WireReply:
    """Promises more bytes than it sends, then closes the connection."""

    async def reply(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Length": "1000"})
        response.content_type = "application/json"
        await response.prepare(request)
        await response.write(b'{"success": true, "da')
        assert request.transport is not None
        request.transport.close()
        return response

    return reply


async def test_truncated_body_on_post_is_outcome_unknown(
    scripted: ScriptedServer, client: ching_async.Client
) -> None:
    scripted.on("POST", BASE + "/setup_sessions", short_body())
    with pytest.raises(ching_async.APIConnectionError) as info:
        await client.setup_sessions.create(
            customer="cus_1", success_url="https://a.example/", cancel_url="https://b.example/"
        )
    err = info.value
    assert err.outcome_unknown is True
    assert err.may_have_reached_server is True
    assert err.attempts == 1
    assert len(scripted.seen) == 1
    assert err.__cause__ is None


async def test_truncated_body_on_get_retried(
    scripted: ScriptedServer, client: ching_async.Client
) -> None:
    scripted.on("GET", BASE + "/setup_sessions/s", short_body(), envelope(SETUP_SESSION))
    session = await client.setup_sessions.retrieve("s")
    assert session.id == SETUP_SESSION["id"]
    assert session.request_info is not None
    assert session.request_info.attempts == 2


# ------------------------------------------------------------ read size cap
async def test_owned_connections_read_at_most_64_kib_at_a_time(
    scripted: ScriptedServer, make_client: MakeClient, capped_transports: list[Any]
) -> None:
    scripted.on(
        "GET", BASE + "/setup_sessions/s", envelope({**SETUP_SESSION, "pad": "a" * 300_000})
    )
    client = make_client()
    session = await client.setup_sessions.retrieve("s")
    assert session.raw["pad"] == "a" * 300_000  # a body of several reads arrives whole
    assert len(capped_transports) == 1, "one connection, capped once when it was made"
    assert capped_transports[0].max_size == 64 * 1024
    # Only this connection: asyncio's class default (other code's sockets) is untouched.
    assert type(capped_transports[0]).max_size == 256 * 1024


async def test_a_callers_session_keeps_its_connections_as_they_are(
    scripted: ScriptedServer, make_client: MakeClient, capped_transports: list[Any]
) -> None:
    scripted.on("GET", BASE + "/setup_sessions/s", envelope(SETUP_SESSION))
    async with aiohttp.ClientSession() as own:
        client = make_client(session=own)
        await client.setup_sessions.retrieve("s")
    assert capped_transports == []


def test_cap_read_size_leaves_other_transports_alone() -> None:
    class Small:
        max_size = 4096

    class Uvloopish:  # no max_size attribute at all
        pass

    small, other = Small(), Uvloopish()
    _aiohttp.cap_read_size(small)
    _aiohttp.cap_read_size(other)
    _aiohttp.cap_read_size(None)
    assert small.max_size == 4096  # never raised
    assert not hasattr(other, "max_size")  # never added


@pytest.mark.parametrize(
    ("timeout", "deadline_in", "expected"),
    [
        (7.5, None, 7.5),  # no deadline: the attempt's own timeout
        (7.5, 100.0, 7.5),  # plenty left
        (7.5, 7.495, 7.5),  # within 10 ms: the cached timeout, not a new one
        (7.5, 2.0, 2.0),  # a wait used some of it: what is left
        (7.5, 0.0, 0.0),  # nothing left: the caller refuses to send
        (7.5, -1.0, -1.0),
        (0.004, -0.003, -0.003),  # past the deadline: never the slack's full timeout
    ],
)
def test_attempt_seconds_is_capped_by_what_is_left_of_the_deadline(
    timeout: float, deadline_in: float | None, expected: float
) -> None:
    now = 1000.0
    request = Request(
        method="GET",
        path="/charges",
        base_url="http://127.0.0.1:1/ching/v1",
        timeout=timeout,
        deadline=None if deadline_in is None else now + deadline_in,
    )
    assert _aiohttp._attempt_seconds(request, now) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (None, _aiohttp._STARTED),  # the attempt's first connect: proves not sent
        (_aiohttp._DONE, _aiohttp._AGAIN),  # a second one (a re-send): proves nothing
        (_aiohttp._AGAIN, _aiohttp._AGAIN),
    ],
)
async def test_only_a_first_connect_that_never_finished_proves_not_sent(
    monkeypatch: pytest.MonkeyPatch, before: str | None, after: str
) -> None:
    """The mark _Connector.connect leaves on the attempt's own timeout object
    for the transport's timeout handling when a connect never finishes."""

    async def hang(*args: Any, **kwargs: Any) -> None:
        await asyncio.sleep(3600)

    monkeypatch.setattr(aiohttp.BaseConnector, "connect", hang)
    connector = _aiohttp._Connector()
    try:
        mark = _aiohttp._ConnectMark()
        mark.state = before
        timeout = _aiohttp._MarkedTimeout(total=1.0, connect=1.0, mark=mark)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await connector.connect(None, [], timeout)  # type: ignore[arg-type]
        assert mark.state == after
    finally:
        await connector.close()


@pytest.mark.parametrize("host", ["127.1", "2130706433"])
async def test_a_url_aiohttp_refuses_was_not_sent(host: str) -> None:
    # aiohttp refuses a non-canonical IPv4 host before connecting: the charge
    # cannot exist, so it is not an outcome-unknown for the caller to reconcile.
    retry = ching_async.RetryPolicy(instant=True)
    async with ching_async.Client(
        TEST_KEY, base_url=f"http://{host}:9/ching/v1", retry_policy=retry
    ) as client:
        with pytest.raises(ching_async.APIConnectionError) as info:
            await client.charges.create(customer="cus_1", payment_method="pm_1", amount=100)
    err = info.value
    assert not isinstance(err, ching_async.OutcomeUnknownError)
    assert err.may_have_reached_server is False
    assert err.outcome_unknown is False
    assert "nothing was sent" in str(err)
