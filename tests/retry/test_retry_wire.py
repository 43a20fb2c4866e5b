"""Retry, backoff, deadline and reconciliation behaviour over a loopback server."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from email.utils import formatdate

import pytest

import ching_async
from ching_async import (
    APIConnectionError,
    APITimeoutError,
    InternalServerError,
    OutcomeUnknownError,
    RateLimitError,
)
from tests._support.scripted import (
    CHARGE,
    SETUP_SESSION,
    TEST_KEY,
    Script,
    drop,
    envelope,
    error,
    hang,
)

CHARGES = "/ching/v1/charges"
SESSIONS = "/ching/v1/setup_sessions"


# What create_charge sends unless told otherwise.
PARAMS: dict[str, object] = {"customer": "cus_1", "payment_method": "pm_1", "amount": 9900}


def marked(charge: dict[str, object], key: str) -> dict[str, object]:
    """The charge create_charge made with `key` (a key's charge with other
    parameters is refused: IdempotencyKeyReusedError)."""
    return {**charge, **PARAMS, "metadata": {ching_async.IDEMPOTENCY_METADATA_KEY: key}}


async def create_charge(client: ching_async.Client, **kw: object) -> ching_async.Charge:
    params = PARAMS | kw
    return await client.charges.create(**params)  # type: ignore[arg-type]


@pytest.fixture
async def slow_client(scripted: Script) -> AsyncIterator[ching_async.Client]:
    """Real (tiny) backoff, so sleeping behaviour is observable."""
    policy = ching_async.RetryPolicy(initial_backoff=0.01, max_backoff=0.02, max_retry_after=2)
    async with ching_async.Client(
        TEST_KEY, **scripted.client_options(), retry_policy=policy, timeout=2, total_timeout=20
    ) as c:
        yield c


# ------------------------------------------------------------------ GETs
async def test_get_retries_transient_statuses_then_succeeds(scripted, client):
    scripted.on("GET", CHARGES + "/ch_1", error(503), error(502), envelope(CHARGE))
    charge = await client.charges.retrieve("ch_1")
    assert charge.id == CHARGE["id"]
    assert charge.request_info.attempts == 3
    assert len(scripted.seen) == 3
    assert all("Idempotency-Key" not in s.headers for s in scripted.seen)


async def test_get_gives_up_after_max_retries(scripted, client):
    scripted.on("GET", CHARGES + "/ch_1", error(500, "INTERNAL"))
    with pytest.raises(InternalServerError) as info:
        await client.charges.retrieve("ch_1")
    assert info.value.attempts == client.max_retries + 1 == 3
    assert info.value.status == 500
    assert info.value.outcome_unknown is False
    assert len(scripted.seen) == 3


@pytest.mark.loopback  # aiohttp must not re-send by itself
async def test_get_retries_dropped_connection(scripted, client):
    scripted.on("GET", CHARGES + "/ch_1", drop(), drop(), envelope(CHARGE))
    charge = await client.charges.retrieve("ch_1")
    assert charge.id == CHARGE["id"]
    # Every wire send is ours and counted (aiohttp's own silent re-send is off).
    assert charge.request_info.attempts == 3
    assert len(scripted.seen) == 3


@pytest.mark.loopback
async def test_timeout_is_per_attempt(scripted):
    scripted.on("GET", CHARGES + "/ch_1", hang(5.0, envelope(CHARGE)), envelope(CHARGE))
    async with ching_async.Client(
        TEST_KEY,
        **scripted.client_options(),
        timeout=0.2,
        total_timeout=10,
        retry_policy=ching_async.RetryPolicy(instant=True),
    ) as client:
        started = time.monotonic()
        charge = await client.charges.retrieve("ch_1")
    assert charge.request_info.attempts == 2
    assert time.monotonic() - started < 3.0  # the first attempt's 5 s hang was cut


@pytest.mark.loopback
async def test_total_timeout_bounds_all_attempts(scripted):
    scripted.on("GET", CHARGES + "/ch_1", hang(5.0))
    async with ching_async.Client(
        TEST_KEY,
        **scripted.client_options(),
        timeout=0.3,
        total_timeout=0.5,
        max_retries=10,
        retry_policy=ching_async.RetryPolicy(instant=True),
    ) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as info:
            await client.charges.retrieve("ch_1")
    assert time.monotonic() - started < 2.0  # generous: deadline is 0.5 s
    assert 1 <= info.value.attempts <= 3


# --------------------------------------------------------------- 429 hints
async def test_429_retry_after_seconds_is_honored(scripted, slow_client):
    scripted.on(
        "GET", CHARGES + "/ch_1", error(429, headers={"Retry-After": "1"}), envelope(CHARGE)
    )
    started = time.monotonic()
    charge = await slow_client.charges.retrieve("ch_1")
    assert time.monotonic() - started >= 0.9
    assert charge.request_info.attempts == 2


async def test_429_retry_after_http_date_is_honored(scripted, slow_client):
    when = formatdate(time.time() + 2, usegmt=True)
    scripted.on(
        "GET", CHARGES + "/ch_1", error(429, headers={"Retry-After": when}), envelope(CHARGE)
    )
    started = time.monotonic()
    await slow_client.charges.retrieve("ch_1")
    # An HTTP date has one-second resolution: at least ~1 s of the 2 s remain.
    assert time.monotonic() - started >= 0.9


async def test_429_above_cap_raises_without_sleeping(scripted, slow_client):
    scripted.on("GET", CHARGES + "/ch_1", error(429, headers={"Retry-After": "30"}))
    started = time.monotonic()
    with pytest.raises(RateLimitError) as info:
        await slow_client.charges.retrieve("ch_1")
    assert time.monotonic() - started < 5  # nowhere near the 30 s asked for
    assert info.value.retry_after == 30
    assert len(scripted.seen) == 1


async def test_post_is_retried_on_429_with_the_same_key(scripted, client):
    scripted.on("POST", SESSIONS, error(429), envelope(SETUP_SESSION))
    session = await client.setup_sessions.create(
        customer="cus_1", success_url="https://a.example/ok", cancel_url="https://a.example/no"
    )
    posts = scripted.seen_at("POST", SESSIONS)
    assert len(posts) == 2
    assert posts[0].headers["Idempotency-Key"] == posts[1].headers["Idempotency-Key"]
    assert session.request_info.idempotency_key == posts[0].headers["Idempotency-Key"]


# ---------------------------------------------------- POST: no blind re-send
@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_post_5xx_without_reconciler_is_not_resent(scripted, client, status):
    scripted.on("POST", SESSIONS, error(status))
    with pytest.raises(InternalServerError) as info:
        await client.setup_sessions.create(
            customer="cus_1", success_url="https://a.example/ok", cancel_url="https://a.example/no"
        )
    assert len(scripted.seen) == 1
    assert info.value.outcome_unknown is True
    assert info.value.idempotency_key == scripted.seen[0].headers["Idempotency-Key"]


async def test_post_dropped_connection_is_not_resent(scripted, client):
    scripted.on("POST", SESSIONS, drop())
    with pytest.raises(APIConnectionError) as info:
        await client.setup_sessions.create(
            customer="cus_1",
            success_url="https://a.example/ok",
            cancel_url="https://a.example/no",
            idempotency_key="my-key-1",
        )
    assert len(scripted.seen) == 1
    assert info.value.outcome_unknown is True
    assert info.value.idempotency_key == "my-key-1"


@pytest.mark.loopback
async def test_post_timeout_after_sending_is_not_resent(scripted):
    scripted.on("POST", SESSIONS, hang(2.0, envelope(SETUP_SESSION)))
    async with ching_async.Client(
        TEST_KEY,
        **scripted.client_options(),
        timeout=0.2,
        retry_policy=ching_async.RetryPolicy(instant=True),
    ) as client:
        with pytest.raises(APITimeoutError) as info:
            await client.setup_sessions.create(
                customer="cus_1",
                success_url="https://a.example/ok",
                cancel_url="https://a.example/no",
            )
    assert len(scripted.seen) == 1
    assert info.value.outcome_unknown is True


async def test_connection_refused_is_retried_even_for_post():
    # Nothing listens on this port: the request provably never left.
    async with ching_async.Client(
        TEST_KEY,
        base_url="http://127.0.0.1:9/ching/v1",
        retry_policy=ching_async.RetryPolicy(instant=True),
    ) as client:
        with pytest.raises(APIConnectionError) as info:
            await create_charge(client)
    assert info.value.attempts == 3
    assert info.value.outcome_unknown is False
    assert info.value.may_have_reached_server is False


# ---------------------------------------------------------- reconciliation
async def test_create_found_by_marker_is_returned_without_resending(scripted, client):
    key = "bill-2026-11-cus_1"
    scripted.on("POST", CHARGES, error(503))
    scripted.on(
        "GET",
        CHARGES,
        # The caller's key is looked up before the first send: among the
        # customer's charges, then the project's (used for another customer).
        envelope([CHARGE]),
        envelope([CHARGE]),
        envelope([CHARGE, marked(CHARGE, key) | {"id": "ch_mine"}]),
    )
    charge = await create_charge(client, idempotency_key=key)
    assert charge.id == "ch_mine"
    assert charge.request_info.reconciled is True
    assert charge.request_info.found_existing is False
    assert len(scripted.seen_at("POST", CHARGES)) == 1
    lookups = scripted.seen_at("GET", CHARGES)
    assert [s.query for s in lookups] == [{"customer": "cus_1"}, {}, {"customer": "cus_1"}]
    assert all("Idempotency-Key" not in lookup.headers for lookup in lookups)


async def test_lookups_carry_the_calls_own_headers(scripted, client):
    # A header that routes the call (a tenant, a gateway) routes its lookups too.
    scripted.on("POST", CHARGES, drop(), envelope(CHARGE))
    scripted.on("GET", CHARGES, envelope([CHARGE]))
    view = client.with_options(headers={"X-Tenant": "shop-2"})
    await create_charge(view, idempotency_key="inv-7")
    lookups = scripted.seen_at("GET", CHARGES)
    # Before the first send: the customer's charges, then the project's (the
    # key used for another customer); after the drop, the customer's only
    # (this call's own charge is not another customer's).
    assert [lookup.query for lookup in lookups] == [
        {"customer": "cus_1"},
        {},
        {"customer": "cus_1"},
    ]
    for lookup in lookups:
        assert lookup.headers["X-Tenant"] == "shop-2"
        assert "Idempotency-Key" not in lookup.headers
        assert "Content-Type" not in lookup.headers
    assert all(post.headers["X-Tenant"] == "shop-2" for post in scripted.seen_at("POST", CHARGES))


async def test_create_not_found_is_resent_with_the_same_key(scripted, client):
    scripted.on("POST", CHARGES, drop(), envelope(CHARGE))
    scripted.on("GET", CHARGES, envelope([CHARGE]))
    charge = await create_charge(client)
    posts = scripted.seen_at("POST", CHARGES)
    assert len(posts) == 2
    assert posts[0].headers["Idempotency-Key"] == posts[1].headers["Idempotency-Key"]
    assert posts[0].body == posts[1].body
    assert charge.request_info.attempts == 2
    assert charge.request_info.reconciled is False


async def test_create_unknown_when_lookups_keep_failing(scripted, client):
    scripted.on("POST", CHARGES, error(503))
    # Absent before the send (the customer's charges, the project's), then fails.
    scripted.on("GET", CHARGES, envelope([]), envelope([]), error(503))
    with pytest.raises(OutcomeUnknownError) as info:
        await create_charge(client, idempotency_key="k-unknown")
    err = info.value
    assert err.outcome_unknown is True
    assert err.idempotency_key == "k-unknown"
    assert err.customer == "cus_1"
    assert isinstance(err, ching_async.APIError)
    assert isinstance(err, ching_async.APIConnectionError)
    assert len(scripted.seen_at("POST", CHARGES)) == 1


async def test_create_proven_absent_after_last_attempt_is_a_known_failure(scripted, client):
    scripted.on("POST", CHARGES, error(503))
    scripted.on("GET", CHARGES, envelope([]))
    with pytest.raises(InternalServerError) as info:
        await create_charge(client)
    assert not isinstance(info.value, OutcomeUnknownError)
    assert info.value.outcome_unknown is False
    assert len(scripted.seen_at("POST", CHARGES)) == 3
    assert len(scripted.seen_at("GET", CHARGES)) == 3


async def test_unmarked_create_is_not_reconciled(scripted, client):
    scripted.on("POST", CHARGES, error(503))
    with pytest.raises(InternalServerError) as info:
        await create_charge(client, mark_idempotency_key=False)
    assert info.value.outcome_unknown is True
    assert scripted.seen_at("GET", CHARGES) == []
    assert "metadata" not in scripted.seen[0].json


async def test_capture_reconciles_by_state(scripted, client):
    captured = CHARGE | {"capture_method": "manual", "amount_captured": 5000}
    scripted.on("POST", CHARGES + "/ch_1/capture", drop())
    scripted.on("GET", CHARGES + "/ch_1", envelope(captured))
    charge = await client.charges.capture("ch_1", amount=5000)
    assert charge.amount_captured == 5000
    assert charge.request_info.reconciled is True
    assert len(scripted.seen_at("POST", CHARGES + "/ch_1/capture")) == 1


async def test_capture_still_requires_capture_is_resent(scripted, client):
    pending = CHARGE | {"status": "requires_capture", "captured": False, "amount_captured": None}
    scripted.on("POST", CHARGES + "/ch_1/capture", error(502), envelope(CHARGE))
    scripted.on("GET", CHARGES + "/ch_1", envelope(pending))
    charge = await client.charges.capture("ch_1")
    assert charge.status == ching_async.ChargeStatus.SUCCEEDED
    assert len(scripted.seen_at("POST", CHARGES + "/ch_1/capture")) == 2


async def test_cancel_reconciles_by_state(scripted, client):
    canceled = CHARGE | {"status": "canceled", "captured": False}
    scripted.on("POST", CHARGES + "/ch_1/cancel", error(500))
    scripted.on("GET", CHARGES + "/ch_1", envelope(canceled))
    charge = await client.charges.cancel("ch_1", cancellation_reason="abandoned")
    assert charge.status == ching_async.ChargeStatus.CANCELED
    assert len(scripted.seen_at("POST", CHARGES + "/ch_1/cancel")) == 1


async def test_a_bulk_pause_longer_than_the_deadline_sends_nothing():
    from ching_async._bulk._pacing import Pacer

    pacer = Pacer(max_pause=30)
    pacer.on_rate_limited(10.0)  # a 429 elsewhere in the job asked for 10 s
    sent: list[ching_async.Request] = []

    async def send(request: ching_async.Request) -> ching_async.Response:
        sent.append(request)
        return ching_async.Response(status=200, headers={}, body=b"{}", request=request)

    request = ching_async.Request(
        method="POST",
        path="/charges",
        base_url="http://127.0.0.1:9/ching/v1",
        deadline=time.monotonic() + 1.0,
    )
    started = time.monotonic()
    with pytest.raises(APITimeoutError) as info:
        await pacer.middleware(request, send)
    assert time.monotonic() - started < 5  # it did not sleep into the 10 s pause
    assert info.value.may_have_reached_server is False
    assert sent == []
