"""Client.with_options: a view with other settings over the same pool and lifecycle."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest

import ching_async
from ching_async import _aiohttp
from ching_async.testing import FakeChing, MockTransport, envelope_response, error_response
from tests._support.fake_client import client_for
from tests._support.hostile import SECRET
from tests._support.scripted import CHARGE, TEST_KEY

CUSTOMER = "cus_1"
CARD = "pm_1"


def charge_for(request: ching_async.Request) -> dict[str, Any]:
    """The charge a POST makes: what it sent, with the marker."""
    assert request.body is not None
    sent = orjson.loads(request.body)
    made = {k: sent[k] for k in ("customer", "payment_method", "amount", "currency")}
    return {
        **CHARGE,
        **made,
        "metadata": {ching_async.IDEMPOTENCY_METADATA_KEY: request.idempotency_key},
    }


def recording(answer: Any) -> tuple[MockTransport, list[ching_async.Request]]:
    seen: list[ching_async.Request] = []

    def handler(request: ching_async.Request) -> ching_async.Response:
        seen.append(request)
        return answer(request)  # type: ignore[no-any-return]

    return MockTransport(handler), seen


async def test_view_sets_attempt_timeout_headers_and_keeps_the_parent_as_it_was() -> None:
    transport, seen = recording(lambda r: envelope_response(r, CHARGE))
    async with ching_async.Client(TEST_KEY, transport=transport, timeout=7.0) as client:
        view = client.with_options(timeout=1.5, headers={"X-Shop": "north"})
        await view.charges.retrieve("ch_1")
        await client.charges.retrieve("ch_1")

    assert [r.timeout for r in seen] == [1.5, 7.0]
    assert seen[0].headers["X-Shop"] == "north"
    assert "X-Shop" not in seen[1].headers
    assert (view.timeout, client.timeout) == (1.5, 7.0)
    assert view.headers == {"X-Shop": "north"}
    assert client.headers == {}
    # Everything not named is the parent's.
    assert (view.total_timeout, view.max_retries) == (client.total_timeout, client.max_retries)
    assert view.retry_policy is client.retry_policy


async def test_view_of_a_view_merges_headers_and_later_values_win() -> None:
    transport, seen = recording(lambda r: envelope_response(r, CHARGE))
    async with ching_async.Client(TEST_KEY, transport=transport) as client:
        first = client.with_options(headers={"X-A": "1", "X-B": "1"})
        second = first.with_options(headers={"X-B": "2"}, timeout=3)
        await second.charges.retrieve("ch_1")
    assert (seen[0].headers["X-A"], seen[0].headers["X-B"]) == ("1", "2")
    assert seen[0].timeout == 3.0


async def test_max_retries_and_retry_policy_apply_to_the_view_only() -> None:
    transport, seen = recording(lambda r: error_response(r, 503))
    instant = ching_async.RetryPolicy(instant=True)
    async with ching_async.Client(
        TEST_KEY, transport=transport, retry_policy=instant, max_retries=3
    ) as client:
        with pytest.raises(ching_async.APIError) as raised:
            await client.with_options(max_retries=0).charges.retrieve("ch_1")
        assert raised.value.attempts == 1
        with pytest.raises(ching_async.APIError):
            await client.charges.retrieve("ch_1")
    assert len(seen) == 1 + 4


async def test_view_total_timeout_cuts_reconciliation_short_with_the_key() -> None:
    """A proxy 502 on a charge: the default would wait out the settle time
    (30 s) before a lookup may prove absence. A view bounded to 0.5 s raises
    OutcomeUnknownError at once, carrying the caller's key and the customer."""
    sends = 0

    def handler(request: ching_async.Request) -> ching_async.Response:
        nonlocal sends
        if request.method == "POST":
            sends += 1
            html = {"Content-Type": "text/html"}
            return ching_async.Response(502, html, b"<h1>Bad gateway</h1>", request)
        return envelope_response(request, [])  # the charge is not (yet) there

    async with ching_async.Client(TEST_KEY, transport=MockTransport(handler)) as client:
        started = time.monotonic()
        with pytest.raises(ching_async.OutcomeUnknownError) as raised:
            await client.with_options(total_timeout=0.5).charges.create(
                customer=CUSTOMER, payment_method=CARD, amount=100, idempotency_key="order-1"
            )
        elapsed = time.monotonic() - started
    assert elapsed < 2.0
    assert sends == 1
    assert raised.value.idempotency_key == "order-1"
    assert raised.value.customer == CUSTOMER


async def test_views_share_the_pool_and_the_lifecycle() -> None:
    made: list[object] = []
    real = _aiohttp.new_session

    def counting(*args: Any) -> Any:
        session = real(*args)
        made.append(session)
        return session

    async with FakeChing() as fake:
        customer = fake.add_customer()
        card = fake.add_payment_method(customer.id)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_aiohttp, "new_session", counting)
            async with client_for(fake) as client:
                view = client.with_options(timeout=5)
                await client.charges.list()
                await view.charges.create(customer=customer.id, payment_method=card.id, amount=100)
                await client.with_options(total_timeout=9).charges.list()
                assert len(made) == 1
            # Closing the client closes its views: one pool, one lifecycle.
            assert view.closed
            with pytest.raises(ching_async.ClientStateError):
                await view.charges.list()

    async with ching_async.Client(TEST_KEY, transport=MockTransport(lambda r: None)) as client:
        view = client.with_options(timeout=1)
        await view.aclose()
        assert client.closed


async def test_views_share_the_one_call_per_key_rule() -> None:
    """A call with a caller's key on the parent and one on a view: one at a
    time, so the second finds the first's charge instead of making another."""
    made: list[dict[str, Any]] = []
    release = asyncio.Event()

    async def handler(request: ching_async.Request) -> ching_async.Response:
        if request.method == "GET":
            return envelope_response(request, list(made))
        await release.wait()
        made.append(charge_for(request))
        return envelope_response(request, made[-1])

    async with ching_async.Client(
        TEST_KEY,
        transport=MockTransport(handler),
        retry_policy=ching_async.RetryPolicy(instant=True),
    ) as client:
        args = {"customer": CUSTOMER, "payment_method": CARD, "amount": 100}
        first = asyncio.create_task(client.charges.create(**args, idempotency_key="k-1"))
        second = asyncio.create_task(
            client.with_options(timeout=5).charges.create(**args, idempotency_key="k-1")
        )
        await asyncio.sleep(0.05)
        release.set()
        one, two = await asyncio.gather(first, second)
    assert len(made) == 1
    assert one.id == two.id
    assert two.request_info.found_existing


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timeout": 0}, "timeout must be a positive number of seconds"),
        ({"timeout": True}, "timeout must be a positive number of seconds"),
        ({"total_timeout": float("inf")}, "total_timeout must be a positive number"),
        ({"max_retries": -1}, "max_retries must be an int >= 0"),
        ({"max_retries": 1.0}, "max_retries must be an int >= 0"),
        ({"retry_policy": {"instant": True}}, "retry_policy must be a RetryPolicy"),
        ({"headers": [("X-A", "1")]}, "headers must be a mapping"),
        ({"headers": {"X-A": 1}}, "header 'X-A' must be a str"),
        ({"headers": {"X-A": "a\r\nX-Injected: 1"}}, "without CR, LF or NUL"),
        ({"headers": {"Bad Name": "1"}}, "not a valid HTTP header name"),
        ({"headers": {b"X-A": "1"}}, "not a valid HTTP header name"),
        ({"headers": {"authorization": "Bearer x"}}, "set by the client itself"),
        ({"headers": {"Idempotency-Key": "k"}}, "pass idempotency_key= to the call"),
        ({"headers": {"Content-Type": "text/plain"}}, "set by the client itself"),
    ],
)
async def test_bad_options_fail_before_anything_is_sent(
    options: dict[str, Any], message: str
) -> None:
    transport, seen = recording(lambda r: envelope_response(r, CHARGE))
    async with ching_async.Client(TEST_KEY, transport=transport) as client:
        with pytest.raises(ching_async.InvalidParameterError, match=message):
            client.with_options(**options)
    assert seen == []


def test_a_header_value_is_never_echoed_in_the_error() -> None:
    client = ching_async.Client(TEST_KEY)
    with pytest.raises(ching_async.InvalidParameterError) as raised:
        client.with_options(headers={"X-Proxy-Auth": SECRET + "\n"})
    assert SECRET not in str(raised.value)
    assert SECRET not in repr(raised.value)
