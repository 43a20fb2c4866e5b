"""Client(transport=...) and ching_async.testing.MockTransport: the seam's contract."""

from __future__ import annotations

import functools
import pickle
from collections.abc import Awaitable
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, MagicMock

import orjson
import pytest

import ching_async
from ching_async.testing import (
    MockTransport,
    ResponseOptions,
    envelope_response,
    error_response,
    json_response,
)
from tests._support.scripted import CHARGE, TEST_KEY

INSTANT = ching_async.RetryPolicy(instant=True)
CREATE = {"customer": "cus_1", "payment_method": "pm_1", "amount": 100}


def client_for(transport: Any, **options: Any) -> ching_async.Client:
    options.setdefault("retry_policy", INSTANT)
    return ching_async.Client(TEST_KEY, transport=transport, **options)


def test_mock_transport_is_a_transport() -> None:
    assert isinstance(MockTransport(lambda r: envelope_response(r, {})), ching_async.Transport)
    assert "Transport" in ching_async.__all__


@pytest.mark.parametrize("is_async", [False, True])
async def test_handler_answers_and_requests_are_recorded(is_async: bool) -> None:
    def answer(request: ching_async.Request) -> ching_async.Response:
        return envelope_response(request, CHARGE, headers={"X-Request-Id": "rq_7"})

    async def answer_async(request: ching_async.Request) -> ching_async.Response:
        return answer(request)

    transport = MockTransport(answer_async if is_async else answer)
    async with client_for(transport) as client:
        charge = await client.charges.retrieve("ch_1")
    assert charge.id == CHARGE["id"]
    assert charge.request_info is not None
    assert charge.request_info.request_id == "rq_7"
    [request] = transport.requests()
    assert (request.method, request.url) == ("GET", ching_async.DEFAULT_BASE_URL + "/charges/ch_1")
    # The transport gets the key (it sends it), in any header case ...
    assert request.headers["authorization"] == "Bearer " + TEST_KEY
    # ... and shows it nowhere.
    for text in (repr(request), repr(request.headers), repr(transport.requests()), str(request)):
        assert TEST_KEY not in text
        assert "<redacted>" in text
    assert TEST_KEY.encode() not in pickle.dumps(request.headers)


def test_the_builders_take_status_and_headers_alike() -> None:
    """envelope_response takes json_response's keywords (ResponseOptions), and
    refuses any other as json_response does."""
    request = ching_async.Request("POST", "/charges", ching_async.DEFAULT_BASE_URL, attempt=2)
    options: ResponseOptions = {"status": 201, "headers": {"X-Request-Id": "rq_9"}}
    for response, body in [
        (json_response(request, [1], **options), [1]),
        (envelope_response(request, [1], **options), {"success": True, "data": [1]}),
    ]:
        assert (response.status, response.attempts, response.request) == (201, 2, request)
        assert dict(response.headers) == {
            "Content-Type": "application/json",
            "X-Request-Id": "rq_9",
        }
        assert orjson.loads(response.body) == body
    assert envelope_response(request, None).status == 200
    with pytest.raises(TypeError, match="stauts"):
        envelope_response(request, None, stauts=201)  # type: ignore[call-arg]


async def test_middlewares_auth_and_idempotency_run_above_the_transport() -> None:
    seen_by_middleware: list[dict[str, str]] = []

    async def tag(request: ching_async.Request, call_next: ching_async.Handler) -> Any:
        seen_by_middleware.append(dict(request.headers))
        return await call_next(request.with_headers({"X-Shop": "7"}))

    transport = MockTransport(lambda r: envelope_response(r, CHARGE))
    async with client_for(transport, middlewares=[tag]) as client:
        await client.charges.create(**CREATE)
    [request] = transport.requests()
    assert request.headers["X-Shop"] == "7"
    assert request.headers["Authorization"] == "Bearer " + TEST_KEY
    assert request.headers["Idempotency-Key"] == request.idempotency_key
    assert [("Authorization" in h) for h in seen_by_middleware] == [False]


async def test_typed_errors_come_from_the_envelope() -> None:
    transport = MockTransport(
        lambda r: error_response(r, 422, code="VALIDATION", message="bad", issues=[{"path": "x"}])
    )
    async with client_for(transport) as client:
        with pytest.raises(ching_async.UnprocessableEntityError) as info:
            await client.charges.retrieve("ch_1")
    assert (info.value.code, info.value.message, info.value.issues) == (
        "VALIDATION",
        "bad",
        ({"path": "x"},),
    )


async def test_not_sent_is_retried_even_for_a_post() -> None:
    answers: list[Any] = [
        ching_async.APIConnectionError("refused", may_have_reached_server=False),
        CHARGE,
    ]

    def handler(request: ching_async.Request) -> ching_async.Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return envelope_response(request, answer)

    transport = MockTransport(handler)
    async with client_for(transport) as client:
        charge = await client.charges.create(**CREATE)
    assert charge.request_info is not None
    assert charge.request_info.attempts == 2
    first, second = transport.requests()
    assert first.idempotency_key == second.idempotency_key
    assert (first.attempt, second.attempt) == (1, 2)


async def test_maybe_sent_is_never_re_sent_blindly() -> None:
    """A POST that may have reached the server is not re-sent: setup sessions
    do not reconcile, so the caller gets outcome_unknown, with the attempt's context."""

    def handler(request: ching_async.Request) -> ching_async.Response:
        raise ching_async.APIConnectionError("reset after sending")

    transport = MockTransport(handler)
    async with client_for(transport) as client:
        with pytest.raises(ching_async.APIConnectionError) as info:
            await client.setup_sessions.create(
                customer="cus_1", success_url="https://a.example/", cancel_url="https://a.example/"
            )
    assert len(transport.requests()) == 1
    err = info.value
    assert err.outcome_unknown is True
    assert (err.method, err.path, err.attempts) == ("POST", "/setup_sessions", 1)


async def test_a_timeout_is_retried_for_a_get() -> None:
    calls = 0

    def handler(request: ching_async.Request) -> ching_async.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ching_async.APITimeoutError("timed out")
        return envelope_response(request, CHARGE)

    async with client_for(MockTransport(handler)) as client:
        await client.charges.retrieve("ch_1")
    assert calls == 2


async def test_the_size_cap_applies_to_any_transport() -> None:
    body = {"success": True, "data": CHARGE, "pad": "x" * 2000}
    transport = MockTransport(lambda r: json_response(r, body))
    async with client_for(transport, max_response_bytes=1000) as client:
        with pytest.raises(ching_async.ResponseDecodeError, match="max_response_bytes") as info:
            await client.charges.retrieve("ch_1")
        assert info.value.outcome_unknown is False
        # A POST that may have taken effect is looked up; here the lookups'
        # answers are over the cap too, so they cannot tell.
        with pytest.raises(ching_async.OutcomeUnknownError) as unknown:
            await client.charges.create(**CREATE)
    assert unknown.value.status == 200
    cause = unknown.value.__cause__
    assert isinstance(cause, ching_async.ResponseDecodeError)
    assert "max_response_bytes" in cause.message
    posts = [r for r in transport.requests() if r.method == "POST"]
    assert len(posts) == 1


async def test_a_handler_returning_something_else_is_named() -> None:
    transport = MockTransport(lambda r: {"success": True})  # type: ignore[arg-type,return-value]
    async with client_for(transport) as client:
        with pytest.raises(
            ching_async.InvalidParameterError, match=r"MockTransport\.handle returned dict"
        ):
            await client.charges.retrieve("ch_1")


async def test_other_exceptions_propagate_unchanged_and_are_not_retried() -> None:
    class Broken(Exception):
        pass

    def handler(request: ching_async.Request) -> ching_async.Response:
        raise Broken

    transport = MockTransport(handler)
    async with client_for(transport) as client:
        with pytest.raises(Broken):
            await client.charges.retrieve("ch_1")
    assert len(transport.requests()) == 1


async def test_the_client_leaves_a_given_transport_open() -> None:
    class Closable(MockTransport):
        closed = False

        async def aclose(self) -> None:
            self.closed = True

    transport = Closable(lambda r: envelope_response(r, CHARGE))
    async with client_for(transport) as client:
        await client.charges.retrieve("ch_1")
    assert transport.closed is False
    async with client_for(transport) as again:  # so it can be shared and reused
        await again.charges.retrieve("ch_1")
    assert len(transport.requests()) == 2


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"session": object()}, id="session"),
        pytest.param({"verify_tls": False}, id="verify_tls"),
    ],
)
def test_aiohttp_options_with_a_transport_are_refused(options: dict[str, Any]) -> None:
    transport = MockTransport(lambda r: envelope_response(r, {}))
    with pytest.raises(ching_async.InvalidParameterError, match="transport="):
        client_for(transport, **options)


@pytest.mark.parametrize("value", [object(), "mock", MockTransport])
def test_a_transport_must_have_handle(value: object) -> None:
    with pytest.raises(ching_async.InvalidParameterError, match="handle"):
        client_for(value)


def _answer(request: ching_async.Request) -> ching_async.Response:
    return envelope_response(request, CHARGE)


async def _answer_async(request: ching_async.Request) -> ching_async.Response:
    return _answer(request)


class _PlainHandle:
    def handle(self, request: ching_async.Request) -> ching_async.Response:
        return _answer(request)


class _AsyncCallable:
    async def __call__(self, request: ching_async.Request) -> ching_async.Response:
        return _answer(request)


@pytest.mark.parametrize(
    ("transport", "name"),
    [
        pytest.param(_PlainHandle(), "_PlainHandle", id="plain-method"),
        pytest.param(SimpleNamespace(handle=_answer), "SimpleNamespace", id="plain-function"),
        pytest.param(
            SimpleNamespace(handle=functools.partial(_answer)),
            "SimpleNamespace",
            id="partial-of-plain",
        ),
        pytest.param(SimpleNamespace(handle=MagicMock()), "SimpleNamespace", id="MagicMock"),
    ],
)
async def test_a_handle_that_returns_no_awaitable_is_a_clear_error(
    transport: object, name: str
) -> None:
    # Not a bare "can't be used in 'await' expression" from deep in the client.
    async with client_for(transport) as client:
        with pytest.raises(
            ching_async.InvalidParameterError,
            match=rf"^transport {name}\.handle returned \w+, not an awaitable",
        ):
            await client.charges.retrieve("ch_1")


class _Delegating:
    """A wrapper whose plain `handle` returns the inner transport's coroutine."""

    def __init__(self) -> None:
        self.inner = MockTransport(_answer)

    def handle(self, request: ching_async.Request) -> Awaitable[ching_async.Response]:
        return self.inner.handle(request)


async def test_a_plain_handle_returning_an_awaitable_is_taken() -> None:
    transport = _Delegating()
    async with client_for(transport) as client:
        charge = await client.charges.retrieve("ch_1")
    assert charge.id == CHARGE["id"]
    assert len(transport.inner.requests()) == 1


@pytest.mark.parametrize(
    "handle",
    [
        pytest.param(_answer_async, id="async-function"),
        pytest.param(functools.partial(_answer_async), id="partial-of-async"),
        pytest.param(AsyncMock(side_effect=_answer), id="AsyncMock"),
        pytest.param(_AsyncCallable(), id="async-__call__"),
    ],
)
async def test_an_async_handle_of_any_shape_is_taken_and_called(handle: Any) -> None:
    async with client_for(SimpleNamespace(handle=handle)) as client:
        charge = await client.charges.retrieve("ch_1")
    assert charge.id == CHARGE["id"]


def test_mock_transport_needs_a_callable() -> None:
    with pytest.raises(ching_async.InvalidParameterError, match="callable"):
        MockTransport("not callable")  # type: ignore[arg-type]
