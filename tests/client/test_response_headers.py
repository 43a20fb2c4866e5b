"""The response's headers, on results and on errors, without a middleware."""

from __future__ import annotations

import pickle

import pytest

import ching_async
from ching_async.testing import MockTransport, envelope_response, error_response
from tests._support.scripted import CHARGE, TEST_KEY

LIMITS = {"X-Request-Id": "req_7", "RateLimit-Remaining": "41"}


def client(transport: MockTransport) -> ching_async.Client:
    return ching_async.Client(
        TEST_KEY,
        transport=transport,
        retry_policy=ching_async.RetryPolicy(instant=True),
        max_retries=0,
    )


async def test_a_result_and_every_listed_item_carry_the_headers() -> None:
    transport = MockTransport(
        lambda r: envelope_response(
            r, CHARGE if r.path != "/charges" else [CHARGE, CHARGE], headers=LIMITS
        )
    )
    async with client(transport) as c:
        charge = await c.charges.retrieve("ch_1")
        listed = await c.charges.list()
    headers = charge.request_info.headers
    assert headers["ratelimit-remaining"] == "41"  # any case
    assert headers["Content-Type"] == "application/json"
    assert [item.request_info.headers["X-Request-Id"] for item in listed] == ["req_7", "req_7"]


async def test_an_api_error_carries_the_headers() -> None:
    def limited(request: ching_async.Request) -> ching_async.Response:
        return error_response(request, 429, headers={**LIMITS, "Retry-After": "120"})

    async with client(MockTransport(limited)) as c:
        with pytest.raises(ching_async.RateLimitError) as raised:
            await c.charges.retrieve("ch_1")
    assert raised.value.headers["retry-after"] == "120"
    assert raised.value.headers["RateLimit-Remaining"] == "41"
    # Kept by a pickle (a task queue's result, a test report).
    assert pickle.loads(pickle.dumps(raised.value)).headers["X-Request-Id"] == "req_7"


async def test_a_connection_error_has_no_headers() -> None:
    def refused(request: ching_async.Request) -> ching_async.Response:
        raise ching_async.APIConnectionError("refused", may_have_reached_server=False)

    async with client(MockTransport(refused)) as c:
        with pytest.raises(ching_async.APIConnectionError) as raised:
            await c.charges.list()
    assert not hasattr(raised.value, "headers")


async def test_an_echoed_key_is_redacted_in_headers() -> None:
    def echo(request: ching_async.Request) -> ching_async.Response:
        auth = request.headers["Authorization"]
        headers = {"X-Echo": auth, "X-Other": "fine"}
        if request.path == "/charges/ch_1":
            return envelope_response(request, CHARGE, headers=headers)
        return error_response(request, 404, headers=headers)

    async with client(MockTransport(echo)) as c:
        charge = await c.charges.retrieve("ch_1")
        with pytest.raises(ching_async.NotFoundError) as raised:
            await c.charges.retrieve("ch_2")
    for headers in (charge.request_info.headers, raised.value.headers):
        assert headers["X-Echo"] == "Bearer <redacted>"
        assert headers["X-Other"] == "fine"
        assert TEST_KEY not in repr(headers)
        assert TEST_KEY.encode() not in pickle.dumps(headers)


async def test_headers_take_no_part_in_equality() -> None:
    seen = iter(["req_1", "req_2"])
    transport = MockTransport(
        lambda r: envelope_response(r, CHARGE, headers={"X-Request-Id": next(seen)})
    )
    async with client(transport) as c:
        first = await c.charges.retrieve("ch_1")
        second = await c.charges.retrieve("ch_1")
    assert first.request_info.headers != second.request_info.headers
    assert first == second
    assert "headers" not in repr(first.request_info)
