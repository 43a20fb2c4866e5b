"""Transport-level unit tests with aioresponses: aiohttp failures, mapped and retried.

aioresponses 0.7.9 builds `ClientResponse` without the `stream_writer` argument
that aiohttp 3.14 requires (aioresponses issue 289). The shim below injects a
dummy writer through aioresponses' own `response_class` seam, so aiohttp stays
at the locked version.
"""

from __future__ import annotations

import errno
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey
from aioresponses import aioresponses
from yarl import URL

import ching_async
from ching_async import APIConnectionError, APITimeoutError, InternalServerError
from tests._support.scripted import CHARGE, SETUP_SESSION, TEST_KEY

BASE_URL = "https://api.ching.co.il/ching/v1"
SESSIONS = BASE_URL + "/setup_sessions"
SESSION = BASE_URL + "/setup_sessions/seti_1"
CHARGES = BASE_URL + "/charges"
CUS = "cus_V8ltq1pK_MWH"


class _NullStreamWriter:
    """Stands in for the request's writer: the mocked request sent nothing."""

    output_size = 0


class CompatClientResponse(aiohttp.ClientResponse):
    """A ClientResponse that aioresponses 0.7.9 can construct on aiohttp 3.14."""

    def __init__(self, method: str, url: URL, *, stream_writer: Any = None, **kwargs: Any) -> None:
        super().__init__(method, url, stream_writer=stream_writer or _NullStreamWriter(), **kwargs)


class CompatAioresponses(aioresponses):  # type: ignore[misc]
    """aioresponses whose every mocked response uses CompatClientResponse."""

    def add(self, url: Any, method: str = "GET", **kwargs: Any) -> None:
        kwargs.setdefault("response_class", CompatClientResponse)
        super().add(url, method, **kwargs)


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with CompatAioresponses() as m:
        yield m


async def _client(**kwargs: Any) -> ching_async.Client:
    kwargs.setdefault("base_url", BASE_URL)
    kwargs.setdefault("retry_policy", ching_async.RetryPolicy(instant=True))
    kwargs.setdefault("timeout", 5.0)
    kwargs.setdefault("total_timeout", 20.0)
    return ching_async.Client(TEST_KEY, **kwargs)


@pytest.fixture
async def client(mocked: aioresponses) -> AsyncIterator[ching_async.Client]:
    # Depends on `mocked` so that the session is closed before the patch is undone.
    async with await _client() as c:
        yield c


def connector_error() -> aiohttp.ClientConnectorError:
    key = ConnectionKey("api.ching.co.il", 443, True, True, None, None, None)
    return aiohttp.ClientConnectorError(key, OSError(errno.ECONNREFUSED, "Connection refused"))


def calls(m: aioresponses, method: str, url: str) -> list[Any]:
    return list(m.requests.get((method, URL(url)), []))


def idempotency_keys(m: aioresponses, method: str, url: str) -> list[str]:
    return [call.kwargs["headers"]["Idempotency-Key"] for call in calls(m, method, url)]


def chain(exc: BaseException) -> list[BaseException]:
    """Every exception reachable through __cause__/__context__, cycle-safe."""
    seen: list[BaseException] = []
    stack: list[BaseException | None] = [exc.__cause__, exc.__context__]
    while stack:
        item = stack.pop()
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        stack += [item.__cause__, item.__context__]
    return seen


def assert_no_aiohttp_in_chain(exc: BaseException) -> None:
    for linked in chain(exc):
        assert not isinstance(linked, aiohttp.ClientError), repr(linked)
        assert type(linked).__module__.split(".")[0] != "aiohttp", repr(linked)
        # aiohttp's own timeouts are builtin TimeoutErrors; they must not leak either.
        assert type(linked) is not TimeoutError, repr(linked)


def create_session(c: ching_async.Client) -> Any:
    return c.setup_sessions.create(
        customer=CUS, success_url="https://a.example/ok", cancel_url="https://a.example/no"
    )


def ok(data: Any) -> dict[str, Any]:
    return {"payload": {"success": True, "data": data}}


# ------------------------------------------------------------------- the shim
async def test_plain_aioresponses_still_needs_the_shim() -> None:
    """When this fails, aioresponses fixed issue 289 and the shim can go."""
    with aioresponses() as m:
        m.get(SESSION, **ok(SETUP_SESSION))
        async with await _client() as c:
            with pytest.raises(TypeError, match="stream_writer"):
                await c.setup_sessions.retrieve("seti_1")


async def test_shimmed_response_decodes(mocked: aioresponses, client: ching_async.Client) -> None:
    mocked.get(SESSION, headers={"X-Request-Id": "rq_t"}, **ok(SETUP_SESSION))
    session = await client.setup_sessions.retrieve("seti_1")
    assert session.id == SETUP_SESSION["id"]
    assert session.request_info is not None
    assert session.request_info.request_id == "rq_t"


async def test_what_reaches_aiohttp(mocked: aioresponses, client: ching_async.Client) -> None:
    mocked.post(SESSIONS, **ok(SETUP_SESSION))
    await create_session(client)
    [call] = calls(mocked, "POST", SESSIONS)
    kwargs = call.kwargs
    assert kwargs["allow_redirects"] is False
    assert kwargs["ssl"] is True
    assert kwargs["timeout"].total == 5.0
    assert kwargs["timeout"].connect == 5.0
    assert kwargs["headers"]["Authorization"] == "Bearer " + TEST_KEY
    assert kwargs["headers"]["Content-Type"] == "application/json"
    assert kwargs["data"] == (
        b'{"customer":"cus_V8ltq1pK_MWH","success_url":"https://a.example/ok",'
        b'"cancel_url":"https://a.example/no"}'
    )


# --------------------------------------------------- connection never made
async def test_connector_error_retried_for_post(
    mocked: aioresponses, client: ching_async.Client
) -> None:
    mocked.post(SESSIONS, exception=connector_error())
    mocked.post(SESSIONS, exception=connector_error())
    mocked.post(SESSIONS, **ok(SETUP_SESSION))
    session = await create_session(client)
    assert session.id == SETUP_SESSION["id"]
    assert session.request_info is not None
    assert session.request_info.attempts == 3
    keys = idempotency_keys(mocked, "POST", SESSIONS)
    assert len(keys) == 3
    assert len(set(keys)) == 1
    assert session.request_info.idempotency_key == keys[0]


async def test_connector_error_retried_for_charge_create_without_lookup(
    mocked: aioresponses, client: ching_async.Client
) -> None:
    # Nothing was sent, so a re-send is safe without asking the server first.
    mocked.post(CHARGES, exception=connector_error())
    mocked.post(CHARGES, **ok(CHARGE))
    charge = await client.charges.create(customer=CUS, payment_method="pm_1", amount=100)
    assert charge.id == CHARGE["id"]
    assert len(calls(mocked, "POST", CHARGES)) == 2
    assert [key for key in mocked.requests if key[0] == "GET"] == []


async def test_connector_error_retried_for_get(
    mocked: aioresponses, client: ching_async.Client
) -> None:
    mocked.get(SESSION, exception=connector_error())
    mocked.get(SESSION, **ok(SETUP_SESSION))
    session = await client.setup_sessions.retrieve("seti_1")
    assert session.request_info is not None
    assert session.request_info.attempts == 2
    assert len(calls(mocked, "GET", SESSION)) == 2


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_connector_error_exhausted(
    mocked: aioresponses, client: ching_async.Client, method: str
) -> None:
    url = SESSION if method == "GET" else SESSIONS
    mocked.add(url, method, exception=connector_error(), repeat=True)
    call = client.setup_sessions.retrieve("seti_1") if method == "GET" else create_session(client)
    with pytest.raises(APIConnectionError) as info:
        await call
    err = info.value
    assert type(err) is APIConnectionError
    assert err.may_have_reached_server is False
    assert err.outcome_unknown is False
    assert err.attempts == 3
    assert (err.method, err.path) == (method, url.removeprefix(BASE_URL))
    assert "api.ching.co.il:443" in str(err)
    assert TEST_KEY not in str(err)
    assert len(calls(mocked, method, url)) == 3
    assert_no_aiohttp_in_chain(err)


# ----------------------------------------------- connection lost after sending
@pytest.mark.parametrize(
    "exception",
    [
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientOSError(errno.ECONNRESET, "Connection reset by peer"),
        aiohttp.ClientPayloadError("Response payload is not completed"),
    ],
    ids=["disconnected", "reset", "payload"],
)
async def test_lost_connection_on_post_not_resent(
    mocked: aioresponses, client: ching_async.Client, exception: Exception
) -> None:
    mocked.post(SESSIONS, exception=exception)
    mocked.post(SESSIONS, **ok(SETUP_SESSION))  # must never be used
    with pytest.raises(APIConnectionError) as info:
        await create_session(client)
    err = info.value
    [key] = idempotency_keys(mocked, "POST", SESSIONS)
    assert err.outcome_unknown is True
    assert err.may_have_reached_server is True
    assert err.idempotency_key == key
    assert err.attempts == 1
    assert (err.method, err.path) == ("POST", "/setup_sessions")
    assert "outcome_unknown=True" in str(err)
    assert f"idempotency_key={key}" in str(err)
    assert_no_aiohttp_in_chain(err)


async def test_lost_connection_on_setup_session_cancel_not_resent(
    mocked: aioresponses, client: ching_async.Client
) -> None:
    url = SESSION + "/cancel"
    mocked.post(url, exception=aiohttp.ServerDisconnectedError(), repeat=True)
    with pytest.raises(APIConnectionError) as info:
        await client.setup_sessions.cancel("seti_1", idempotency_key="cancel-1")
    assert info.value.outcome_unknown is True
    assert info.value.idempotency_key == "cancel-1"
    assert len(calls(mocked, "POST", url)) == 1


async def test_lost_connection_on_get_retried(
    mocked: aioresponses, client: ching_async.Client
) -> None:
    mocked.get(SESSION, exception=aiohttp.ServerDisconnectedError())
    mocked.get(SESSION, exception=aiohttp.ClientPayloadError("truncated"))
    mocked.get(SESSION, **ok(SETUP_SESSION))
    session = await client.setup_sessions.retrieve("seti_1")
    assert session.request_info is not None
    assert session.request_info.attempts == 3


# ------------------------------------------------------------------- timeouts
@pytest.mark.parametrize(
    "timeout_kwargs",
    [
        {"timeout": True},  # aioresponses raises asyncio.TimeoutError
        {"exception": aiohttp.ServerTimeoutError("Timeout on reading data from socket")},
        {"exception": aiohttp.SocketTimeoutError("sock_read")},
    ],
    ids=["asyncio-timeout", "server-timeout", "socket-timeout"],
)
async def test_timeout_on_post_is_api_timeout_and_not_resent(
    mocked: aioresponses, client: ching_async.Client, timeout_kwargs: dict[str, Any]
) -> None:
    mocked.post(SESSIONS, repeat=True, **timeout_kwargs)
    with pytest.raises(APITimeoutError) as info:
        await create_session(client)
    err = info.value
    assert isinstance(err, APIConnectionError)
    assert err.may_have_reached_server is True
    assert err.outcome_unknown is True
    assert err.attempts == 1
    assert err.idempotency_key == idempotency_keys(mocked, "POST", SESSIONS)[0]
    assert len(calls(mocked, "POST", SESSIONS)) == 1
    assert_no_aiohttp_in_chain(err)


async def test_timeout_on_get_retried_then_raised(
    mocked: aioresponses, client: ching_async.Client
) -> None:
    mocked.get(SESSION, timeout=True, repeat=True)
    with pytest.raises(APITimeoutError) as info:
        await client.setup_sessions.retrieve("seti_1")
    err = info.value
    assert err.attempts == 3
    assert err.outcome_unknown is False
    assert "timed out" in str(err)
    assert len(calls(mocked, "GET", SESSION)) == 3
    assert_no_aiohttp_in_chain(err)


async def test_timeout_on_get_then_success(
    mocked: aioresponses, client: ching_async.Client
) -> None:
    mocked.get(SESSION, timeout=True)
    mocked.get(SESSION, **ok(SETUP_SESSION))
    session = await client.setup_sessions.retrieve("seti_1")
    assert session.request_info is not None
    assert session.request_info.attempts == 2


async def test_connect_timeout_is_retried_even_for_post(
    mocked: aioresponses, client: ching_async.Client
) -> None:
    # Timing out while connecting means nothing was sent.
    mocked.post(SESSIONS, exception=aiohttp.ConnectionTimeoutError("connect"))
    mocked.post(SESSIONS, **ok(SETUP_SESSION))
    session = await create_session(client)
    assert session.request_info is not None
    assert session.request_info.attempts == 2
    assert len(set(idempotency_keys(mocked, "POST", SESSIONS))) == 1


async def test_connect_timeout_exhausted(mocked: aioresponses, client: ching_async.Client) -> None:
    mocked.post(SESSIONS, exception=aiohttp.ConnectionTimeoutError("connect"), repeat=True)
    with pytest.raises(APITimeoutError) as info:
        await create_session(client)
    assert info.value.may_have_reached_server is False
    assert info.value.outcome_unknown is False
    assert info.value.attempts == 3
    assert_no_aiohttp_in_chain(info.value)


# --------------------------------------------------------------- 5xx on GET
@pytest.mark.parametrize("max_retries", [0, 1, 2, 4])
async def test_get_503_retried_up_to_max_retries(mocked: aioresponses, max_retries: int) -> None:
    mocked.get(
        SESSION,
        status=503,
        payload={"success": False, "error": {"code": "UNAVAILABLE", "message": "later"}},
        repeat=True,
    )
    async with await _client(max_retries=max_retries) as c:
        with pytest.raises(InternalServerError) as info:
            await c.setup_sessions.retrieve("seti_1")
    err = info.value
    assert err.status == 503
    assert err.code == "UNAVAILABLE"
    assert err.attempts == max_retries + 1
    assert err.outcome_unknown is False
    assert len(calls(mocked, "GET", SESSION)) == max_retries + 1
    assert_no_aiohttp_in_chain(err)


async def test_get_503_then_200(mocked: aioresponses, client: ching_async.Client) -> None:
    mocked.get(SESSION, status=503, body="<html>busy</html>", content_type="text/html")
    mocked.get(SESSION, **ok(SETUP_SESSION))
    session = await client.setup_sessions.retrieve("seti_1")
    assert session.request_info is not None
    assert session.request_info.attempts == 2


# --------------------------------------------------------- response size cap
@pytest.mark.parametrize("with_length", [True, False], ids=["content-length", "chunked"])
async def test_response_larger_than_cap(mocked: aioresponses, with_length: bool) -> None:
    body = b'{"success":true,"data":"' + b"x" * 4000 + b'"}'
    headers = {"Content-Length": str(len(body))} if with_length else {}
    mocked.get(SESSION, body=body, headers=headers)
    async with await _client(max_response_bytes=1000) as c:
        with pytest.raises(ching_async.ResponseDecodeError, match="max_response_bytes") as info:
            await c.setup_sessions.retrieve("seti_1")
    assert info.value.status == 200
    assert info.value.outcome_unknown is False
    assert len(calls(mocked, "GET", SESSION)) == 1


async def test_response_at_cap_is_read(mocked: aioresponses) -> None:
    payload = b'{"success":true,"data":{"id":"seti_1","status":"pending"}}'
    mocked.get(SESSION, body=payload)
    async with await _client(max_response_bytes=len(payload)) as c:
        session = await c.setup_sessions.retrieve("seti_1")
    assert session.id == "seti_1"


# ------------------------------------------------------------ error chains
async def test_internal_retry_signal_not_in_error_chain(
    mocked: aioresponses, client: ching_async.Client
) -> None:
    mocked.get(SESSION, exception=aiohttp.ServerDisconnectedError(), repeat=True)
    with pytest.raises(APIConnectionError) as info:
        await client.setup_sessions.retrieve("seti_1")
    assert_no_aiohttp_in_chain(info.value)
    leaked = [type(e).__qualname__ for e in chain(info.value) if type(e).__name__ == "_Again"]
    assert leaked == []
