"""Client lifecycle (lazy session, ownership, closing, event loops), reprs, middleware."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import attrs
import orjson
import pytest

import ching_async
from ching_async import ClientStateError, Handler, Request, Response
from tests._support.scripted import CHARGE, LIVE_KEY, TEST_KEY, Script, drop, envelope, error, hang

BASE = "/ching/v1"
CUS = "cus_V8ltq1pK_MWH"
MakeClient = Callable[..., ching_async.Client]


@pytest.fixture
def sessions(monkeypatch: pytest.MonkeyPatch) -> list[aiohttp.ClientSession]:
    """Every aiohttp.ClientSession the library creates, in order."""
    created: list[aiohttp.ClientSession] = []
    real = aiohttp.ClientSession

    def factory(*args: Any, **kwargs: Any) -> aiohttp.ClientSession:
        session = real(*args, **kwargs)
        created.append(session)
        return session

    monkeypatch.setattr(aiohttp, "ClientSession", factory)
    return created


# ================================================================ lifecycle
@pytest.mark.loopback
async def test_session_created_lazily_and_reused(
    scripted: Script, sessions: list[aiohttp.ClientSession]
) -> None:
    scripted.on("GET", BASE + "/charges/ch_1", envelope(CHARGE))
    scripted.on("GET", BASE + "/charges", envelope([CHARGE]))
    client = ching_async.Client(TEST_KEY, base_url=scripted.url, max_connections=7)
    assert sessions == [], "no session may be created in __init__"
    assert client.closed is False
    try:
        await client.charges.retrieve("ch_1")
        assert len(sessions) == 1
        for _ in range(3):
            await client.charges.retrieve("ch_1")
        await client.charges.list()
        assert len(sessions) == 1, "one ClientSession per client, reused"
        [session] = sessions
        assert session.connector is not None
        assert session.connector.limit == 7
        assert session.connector.limit_per_host == 7
        assert session.closed is False
    finally:
        await client.aclose()
    assert client.closed is True
    assert sessions[0].closed is True
    assert len(scripted.seen) == 5


@pytest.mark.loopback
async def test_concurrent_first_calls_share_one_session(
    scripted: Script, sessions: list[aiohttp.ClientSession]
) -> None:
    scripted.on("GET", BASE + "/charges/ch_1", envelope(CHARGE))
    async with ching_async.Client(TEST_KEY, base_url=scripted.url) as client:
        results = await asyncio.gather(*(client.charges.retrieve("ch_1") for _ in range(10)))
    assert [r.id for r in results] == [CHARGE["id"]] * 10
    assert len(sessions) == 1
    assert sessions[0].closed is True


async def test_close_without_use_creates_nothing(sessions: list[aiohttp.ClientSession]) -> None:
    client = ching_async.Client(TEST_KEY)
    await client.aclose()
    await client.aclose()  # idempotent
    assert client.closed is True
    assert sessions == []


@pytest.mark.loopback
@pytest.mark.parametrize("fails", [False, True], ids=["ok", "on-error"])
async def test_async_with_closes(
    scripted: Script, sessions: list[aiohttp.ClientSession], fails: bool
) -> None:
    scripted.on(
        "GET", BASE + "/charges/ch_1", error(404, "NOT_FOUND") if fails else envelope(CHARGE)
    )
    with pytest.raises(ching_async.NotFoundError) if fails else contextlib.nullcontext():
        async with ching_async.Client(TEST_KEY, base_url=scripted.url) as client:
            assert (await client.charges.retrieve("ch_1")).id == CHARGE["id"]  # unless it fails
            assert client.closed is False
    assert client.closed is True
    assert [s.closed for s in sessions] == [True]


@pytest.mark.loopback
async def test_caller_session_used_and_left_open(
    scripted: Script, sessions: list[aiohttp.ClientSession]
) -> None:
    scripted.on("GET", BASE + "/charges/ch_1", envelope(CHARGE))
    async with aiohttp.ClientSession(headers={"X-Caller-Session": "yes"}) as own:
        created_before = len(sessions)
        client = ching_async.Client(TEST_KEY, base_url=scripted.url, session=own)
        await client.charges.retrieve("ch_1")
        await client.charges.retrieve("ch_1")
        await client.aclose()
        assert client.closed is True
        assert own.closed is False, "a caller-supplied session is the caller's to close"
        assert len(sessions) == created_before, "no session of its own was created"
        # The session still works for its owner.
        async with own.get(scripted.url + "/charges/ch_1") as resp:
            assert resp.status == 200
    assert [s.headers.get("X-Caller-Session") for s in scripted.seen] == ["yes"] * 3
    assert [s.headers.get("Authorization") for s in scripted.seen] == [
        "Bearer " + TEST_KEY,
        "Bearer " + TEST_KEY,
        None,
    ]


async def test_use_after_close(scripted: Script) -> None:
    scripted.on("GET", BASE + "/charges/ch_1", envelope(CHARGE))
    client = ching_async.Client(TEST_KEY, **scripted.client_options())
    await client.charges.retrieve("ch_1")
    await client.aclose()
    with pytest.raises(ClientStateError, match="closed"):
        await client.charges.retrieve("ch_1")
    with pytest.raises(ClientStateError):
        await client.charges.create(customer=CUS, payment_method="pm_1", amount=100)
    with pytest.raises(ClientStateError):
        await client.charges.list()
    with pytest.raises(ClientStateError):
        async with client:
            pass
    assert len(scripted.seen) == 1
    assert issubclass(ClientStateError, ching_async.ChingError)


async def test_use_from_another_event_loop(scripted: Script, client: ching_async.Client) -> None:
    scripted.on("GET", BASE + "/charges/ch_1", envelope(CHARGE))
    await client.charges.retrieve("ch_1")  # binds the client to this loop

    def in_other_loop() -> BaseException | None:
        async def use() -> None:
            await client.charges.retrieve("ch_1")

        try:
            asyncio.run(use())  # a fresh loop in this thread, closed by asyncio.run
        except BaseException as exc:
            return exc
        return None

    raised = await asyncio.to_thread(in_other_loop)
    assert isinstance(raised, ClientStateError)
    assert "event loop" in str(raised)
    assert "SyncClient" in str(raised), "the way out for code that is not async"
    assert len(scripted.seen) == 1, "nothing was sent from the other loop"
    # Still usable from its own loop.
    assert (await client.charges.retrieve("ch_1")).id == CHARGE["id"]
    assert len(scripted.seen) == 2


# ==================================================================== reprs
def test_client_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHING_BASE_URL", raising=False)
    for key, mode in [(TEST_KEY, "test"), (LIVE_KEY, "live")]:
        client = ching_async.Client(key)
        text = repr(client)
        assert ching_async.DEFAULT_BASE_URL in text
        assert f"mode={mode}" in text
        assert key not in text
        assert key[8:24] not in text
        assert key not in str(client)
    local = ching_async.Client(TEST_KEY, base_url="http://127.0.0.1:9/ching/v1")
    assert "http://127.0.0.1:9/ching/v1" in repr(local)


def test_client_attributes_do_not_expose_key() -> None:
    client = ching_async.Client(TEST_KEY)
    for name, value in vars(client).items():
        assert TEST_KEY not in repr(value), name


@pytest.mark.parametrize("name", ["Authorization", "authorization", "AUTHORIZATION"])
def test_request_repr_redacts_authorization(name: str) -> None:
    request = Request(
        method="POST",
        path="/charges",
        base_url="https://api.ching.co.il/ching/v1",
        headers={name: "Bearer " + TEST_KEY, "Idempotency-Key": "k-1", "X-Trace": "t"},
        body=b'{"amount":1}',
        idempotency_key="k-1",
    )
    text = repr(request)
    assert TEST_KEY not in text
    assert "<redacted>" in text
    assert "'X-Trace': 't'" in text
    assert "'Idempotency-Key': 'k-1'" in text
    assert "'/charges'" in text
    # The header itself is intact: only the repr hides it.
    assert request.headers[name] == "Bearer " + TEST_KEY
    response = Response(status=200, headers={}, body=b"{}", request=request)
    assert TEST_KEY not in repr(response)
    assert "status=200" in repr(response)


def test_request_url_and_with_headers() -> None:
    request = Request(
        method="GET",
        path="/charges",
        base_url="https://api.ching.co.il/ching/v1",
        query=(("customer", "cus_a b&c"),),
    )
    assert request.url == "https://api.ching.co.il/ching/v1/charges?customer=cus_a+b%26c"
    derived = request.with_headers({"X-A": "1"})
    assert derived.headers == {"X-A": "1"}
    assert request.headers == {}, "requests are immutable: with_headers derives a new one"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        request.method = "POST"  # type: ignore[misc]


async def test_debug_logging_never_shows_key(
    scripted: Script, client: ching_async.Client, caplog: pytest.LogCaptureFixture
) -> None:
    scripted.on("GET", BASE + "/charges/ch_1", error(503), envelope(CHARGE))
    with caplog.at_level(logging.DEBUG, logger="ching_async"):
        await client.charges.retrieve("ch_1")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "GET /charges/ch_1 -> 503 (attempt 1" in text
    assert "GET /charges/ch_1 -> 200 (attempt 2" in text
    assert TEST_KEY not in text


def test_verify_tls_false_warns() -> None:
    with pytest.warns(UserWarning, match="TLS certificate verification is DISABLED"):
        ching_async.Client(TEST_KEY, verify_tls=False)


# =============================================================== middleware
class TimingMiddleware:
    """The user-middleware example: tag every attempt with a header, time it."""

    def __init__(self) -> None:
        self.timings: list[float] = []
        self.attempts: list[int] = []
        self.outcomes: list[int | str] = []
        self.saw_authorization: list[bool] = []
        self.idempotency_keys: list[str | None] = []

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        self.attempts.append(request.attempt)
        self.saw_authorization.append(any(k.lower() == "authorization" for k in request.headers))
        self.idempotency_keys.append(request.headers.get("Idempotency-Key"))
        tagged = request.with_headers({"X-Trace-Attempt": f"trace-{request.attempt}"})
        started = time.perf_counter()
        try:
            response = await call_next(tagged)
        except ching_async.APIConnectionError as exc:
            self.outcomes.append(type(exc).__name__)
            raise
        finally:
            self.timings.append(time.perf_counter() - started)
        self.outcomes.append(response.status)
        return response


async def test_middleware_sees_every_attempt(scripted: Script, make_client: MakeClient) -> None:
    timing = TimingMiddleware()
    client = make_client(middlewares=[timing])
    scripted.on("GET", BASE + "/charges/ch_1", error(503), error(502), envelope(CHARGE))
    charge = await client.charges.retrieve("ch_1")
    assert charge.request_info is not None
    assert charge.request_info.attempts == 3
    assert [s.headers.get("X-Trace-Attempt") for s in scripted.seen] == [
        "trace-1",
        "trace-2",
        "trace-3",
    ]
    assert len(timing.timings) == 3
    assert all(t >= 0 for t in timing.timings)
    assert timing.attempts == [1, 2, 3]
    assert timing.outcomes == [503, 502, 200]
    # Auth is added inside user middlewares: they never see the key.
    assert timing.saw_authorization == [False, False, False]
    assert all(s.headers["Authorization"] == "Bearer " + TEST_KEY for s in scripted.seen)


@pytest.mark.loopback
async def test_middleware_sees_failed_attempts(scripted: Script, make_client: MakeClient) -> None:
    timing = TimingMiddleware()
    client = make_client(middlewares=[timing], timeout=0.1)
    scripted.on("GET", BASE + "/charges/ch_1", hang(0.3), hang(0.3), envelope(CHARGE))
    charge = await client.charges.retrieve("ch_1")
    assert charge.request_info is not None
    assert charge.request_info.attempts == 3
    assert len(timing.timings) == 3
    assert timing.timings[0] >= 0.09
    assert timing.outcomes == ["APITimeoutError", "APITimeoutError", 200]
    assert [s.headers.get("X-Trace-Attempt") for s in scripted.seen] == [
        "trace-1",
        "trace-2",
        "trace-3",
    ]


async def test_middleware_sees_one_idempotency_key_across_attempts(
    scripted: Script, make_client: MakeClient
) -> None:
    timing = TimingMiddleware()
    client = make_client(middlewares=[timing])
    scripted.on("POST", BASE + "/charges", error(429, "RATE_LIMITED"), envelope(CHARGE))
    charge = await client.charges.create(customer=CUS, payment_method="pm_1", amount=100)
    assert charge.request_info is not None
    assert len(timing.timings) == 2
    assert timing.idempotency_keys == [charge.request_info.idempotency_key] * 2
    assert [s.headers["X-Trace-Attempt"] for s in scripted.seen] == ["trace-1", "trace-2"]


async def test_middlewares_run_in_order(scripted: Script, make_client: MakeClient) -> None:
    order: list[str] = []

    def named(name: str) -> ching_async.Middleware:
        async def middleware(request: Request, call_next: Handler) -> Response:
            order.append(f"{name}>")
            response = await call_next(request.with_headers({f"X-{name}": "1"}))
            order.append(f"<{name}")
            return response

        return middleware

    client = make_client(middlewares=[named("outer"), named("inner")])
    scripted.on("GET", BASE + "/charges/ch_1", envelope(CHARGE))
    await client.charges.retrieve("ch_1")
    assert order == ["outer>", "inner>", "<inner", "<outer"]
    assert scripted.seen[0].headers.get("X-outer") == "1"
    assert scripted.seen[0].headers.get("X-inner") == "1"


async def test_every_kind_of_callable_is_a_middleware(
    scripted: Script, make_client: MakeClient
) -> None:
    order: list[str] = []

    async def tagged(name: str, request: Request, call_next: Handler) -> Response:
        order.append(name)
        return await call_next(request.with_headers({f"X-{name}": "1"}))

    class Instance:
        async def __call__(self, request: Request, call_next: Handler) -> Response:
            return await tagged("instance", request, call_next)

    class Holder:
        async def method(self, request: Request, call_next: Handler) -> Response:
            return await tagged("method", request, call_next)

    class Swapped:
        # __call__ looked up on the class when the client is built, not on the instance
        async def __call__(self, request: Request, call_next: Handler) -> Response:
            return await tagged("swapped", request, call_next)

    swapped = Swapped()
    swapped.__call__ = None  # type: ignore[method-assign]
    client = make_client(
        middlewares=[functools.partial(tagged, "partial"), Instance(), Holder().method, swapped]
    )
    scripted.on("GET", BASE + "/charges/ch_1", envelope(CHARGE))
    await client.charges.retrieve("ch_1")
    assert order == ["partial", "instance", "method", "swapped"]
    assert all(scripted.seen[0].headers.get(f"X-{name}") == "1" for name in order)


async def test_middleware_can_answer_without_network(
    scripted: Script, make_client: MakeClient
) -> None:
    async def canned(request: Request, call_next: Handler) -> Response:
        body = orjson.dumps({"success": True, "data": {**CHARGE, "id": "ch_cached"}})
        return Response(status=200, headers={"x-request-id": "cache"}, body=body, request=request)

    client = make_client(middlewares=[canned])
    charge = await client.charges.retrieve("ch_1")
    assert charge.id == "ch_cached"
    assert charge.request_info is not None
    assert charge.request_info.request_id == "cache"
    assert scripted.seen == []


async def _returns_none(request: Request, call_next: Handler) -> Any:
    await call_next(request)


async def _returns_dict(request: Request, call_next: Handler) -> Any:
    return {"status": 200}


async def _forwards_a_dict(request: Request, call_next: Handler) -> Any:
    return await call_next({"path": request.path})  # type: ignore[arg-type]


async def _crlf_header(request: Request, call_next: Handler) -> Response:
    return await call_next(request.with_headers({"X-Trace": "a\r\nX-Injected: 1"}))


async def _int_header(request: Request, call_next: Handler) -> Response:
    return await call_next(request.with_headers({"X-Trace": 5}))  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("middleware", "match"),
    [
        (_returns_none, "_returns_none returned NoneType, not a Response"),
        (_returns_dict, "_returns_dict returned dict, not a Response"),
        (_forwards_a_dict, "_forwards_a_dict passed dict to call_next, not a Request"),
        (_crlf_header, "_crlf_header set header 'X-Trace' with CR, LF or NUL"),
        (_int_header, "_int_header set header 'X-Trace' to a int"),
    ],
)
async def test_a_middleware_that_breaks_the_contract_gets_a_clear_error(
    scripted: Script, make_client: MakeClient, middleware: Any, match: str
) -> None:
    scripted.on("GET", "/ching/v1/charges/ch_1", envelope(CHARGE))
    client = make_client(middlewares=[middleware])
    with pytest.raises(ching_async.InvalidParameterError, match=match) as info:
        await client.charges.retrieve("ch_1")
    assert "X-Injected" not in str(info.value), "a header's value is never echoed"


async def test_attempts_are_counted_by_the_client_not_taken_from_a_middleware(
    scripted: Script, make_client: MakeClient
) -> None:
    # A caching middleware replays a response recorded from another call's
    # third attempt: this call sent once, and says so.
    async def replaying(request: Request, call_next: Handler) -> Response:
        body = orjson.dumps({"success": True, "data": CHARGE})
        return Response(status=200, headers={}, body=body, request=request, attempts=3)

    client = make_client(middlewares=[replaying])
    charge = await client.charges.retrieve("ch_1")
    assert charge.request_info is not None
    assert charge.request_info.attempts == 1
    assert scripted.seen == []


@pytest.mark.loopback  # aiohttp must not re-send by itself
async def test_get_not_resent_behind_the_clients_back(
    scripted: Script, make_client: MakeClient
) -> None:
    timing = TimingMiddleware()
    client = make_client(middlewares=[timing], max_retries=0)
    scripted.on("GET", BASE + "/charges/ch_1", drop(), envelope(CHARGE))
    with pytest.raises(ching_async.APIConnectionError):
        await client.charges.retrieve("ch_1")
    assert timing.attempts == [1]
    assert len(scripted.seen) == 1, "max_retries=0: exactly one request on the wire"


async def test_middleware_response_headers_are_case_insensitive(
    scripted: Script, make_client: MakeClient
) -> None:
    # A middleware may build a Response with headers spelled any way HTTP allows.
    calls: list[int] = []

    async def limited(request: Request, call_next: Handler) -> Response:
        calls.append(request.attempt)
        body = orjson.dumps({"success": False, "error": {"code": "RATE_LIMITED"}})
        headers = {"X-Request-Id": "rq-mw", "Retry-After": "3600"}
        return Response(status=429, headers=headers, body=body, request=request)

    client = make_client(middlewares=[limited])
    with pytest.raises(ching_async.RateLimitError) as info:
        await client.charges.retrieve("ch_1")
    assert info.value.request_id == "rq-mw"
    assert info.value.retry_after == 3600.0
    assert calls == [1], "a Retry-After beyond max_retry_after is final"
    assert scripted.seen == []
