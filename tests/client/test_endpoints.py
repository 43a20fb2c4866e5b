"""Each endpoint's wire shape, checked server-side, and the models it returns."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import ching_async
from ching_async import (
    CancellationReason,
    CaptureMethod,
    Charge,
    ChargeStatus,
    Installments,
    SetupSession,
    SetupSessionStatus,
)
from tests._support.scripted import CHARGE, SETUP_SESSION, TEST_KEY, Script, Seen, envelope, error

BASE = "/ching/v1"
CUS = "cus_V8ltq1pK_MWH"
PM = "pm_WMc9X22NT1af"
MARKER = ching_async.IDEMPOTENCY_METADATA_KEY
WHEN = datetime(2026, 4, 19, 9, 15, 22, tzinfo=UTC)


def header(seen: Seen, name: str) -> str | None:
    """Case-insensitive header lookup on what the server received."""
    matches = [v for k, v in seen.headers.items() if k.lower() == name.lower()]
    assert len(matches) <= 1, f"header {name} sent {len(matches)} times"
    return matches[0] if matches else None


def assert_uuid4(value: str | None) -> str:
    assert value is not None
    parsed = uuid.UUID(value)
    assert parsed.version == 4
    assert str(parsed) == value
    return value


def assert_common_headers(seen: Seen, *, post: bool) -> None:
    """The call's own headers, as any transport gets them."""
    assert header(seen, "Authorization") == "Bearer " + TEST_KEY
    if post:
        assert_uuid4(header(seen, "Idempotency-Key"))
    else:
        assert header(seen, "Idempotency-Key") is None
        assert seen.body == b""


def assert_wire_headers(seen: Seen, *, post: bool) -> None:
    """The headers the aiohttp transport adds on the wire."""
    assert header(seen, "Accept") == "application/json"
    user_agent = header(seen, "User-Agent")
    assert user_agent is not None
    assert user_agent.startswith("ching-async/")
    assert header(seen, "Content-Type") == ("application/json" if post else None)


def assert_utc(value: datetime | None, expected: datetime) -> None:
    assert value is not None
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)
    assert value == expected


# ============================================================ setup sessions
async def test_setup_session_create(scripted: Script, client: ching_async.Client) -> None:
    scripted.on(
        "POST", BASE + "/setup_sessions", envelope(SETUP_SESSION, headers={"X-Request-Id": "rq_1"})
    )
    session = await client.setup_sessions.create(
        customer=CUS,
        success_url="https://example.com/billing/return",
        cancel_url="https://example.com/billing",
    )
    [seen] = scripted.seen
    assert (seen.method, seen.path, seen.query) == ("POST", BASE + "/setup_sessions", {})
    assert_common_headers(seen, post=True)
    assert seen.json == {
        "customer": CUS,
        "success_url": "https://example.com/billing/return",
        "cancel_url": "https://example.com/billing",
    }

    assert isinstance(session, SetupSession)
    assert session.id == "seti_bQdnU-G6wCOj"
    assert session.status is SetupSessionStatus.PENDING
    assert session.object == "setup_session"
    assert session.customer == CUS
    assert session.url == "https://secured.ching.co.il/setup/seti_bQdnU-G6wCOj"
    assert session.success_url == "https://example.com/billing/return"
    assert session.cancel_url == "https://example.com/billing"
    assert session.metadata == {}
    assert session.livemode is False
    assert_utc(session.created, datetime(2026, 4, 19, 9, 12, 43, tzinfo=UTC))
    assert_utc(session.expires_at, datetime(2026, 4, 20, 9, 12, 43, tzinfo=UTC))
    assert session.raw == SETUP_SESSION

    info = session.request_info
    assert info is not None
    assert info.method == "POST"
    assert info.path == "/setup_sessions"
    assert info.status == 200
    assert info.attempts == 1
    assert info.idempotency_key == header(seen, "Idempotency-Key")
    assert info.request_id == "rq_1"
    assert info.reconciled is False


async def test_setup_session_create_with_metadata_and_key(
    scripted: Script, client: ching_async.Client
) -> None:
    scripted.on("POST", BASE + "/setup_sessions", envelope(SETUP_SESSION))
    session = await client.setup_sessions.create(
        customer=CUS,
        success_url="http://localhost:3000/ok",
        cancel_url="https://example.com/no",
        metadata={"plan": "pro", "n": 3, "nested": {"a": [1, None]}},
        idempotency_key="setup-order-42",
    )
    [seen] = scripted.seen
    assert seen.json == {
        "customer": CUS,
        "success_url": "http://localhost:3000/ok",
        "cancel_url": "https://example.com/no",
        "metadata": {"plan": "pro", "n": 3, "nested": {"a": [1, None]}},
    }
    # Setup sessions are not marked: no reserved key is written into their metadata.
    assert MARKER not in seen.json["metadata"]
    assert header(seen, "Idempotency-Key") == "setup-order-42"
    assert session.request_info is not None
    assert session.request_info.idempotency_key == "setup-order-42"


async def test_setup_session_retrieve(scripted: Script, client: ching_async.Client) -> None:
    data = {**SETUP_SESSION, "status": "succeeded"}
    scripted.on("GET", BASE + "/setup_sessions/seti_bQdnU-G6wCOj", envelope(data))
    session = await client.setup_sessions.retrieve("seti_bQdnU-G6wCOj")
    [seen] = scripted.seen
    assert (seen.method, seen.path, seen.query) == (
        "GET",
        BASE + "/setup_sessions/seti_bQdnU-G6wCOj",
        {},
    )
    assert_common_headers(seen, post=False)
    assert session.status is SetupSessionStatus.SUCCEEDED
    assert session.request_info is not None
    assert session.request_info.method == "GET"
    assert session.request_info.idempotency_key is None
    assert session.request_info.request_id is None


async def test_setup_session_cancel_partial_response(
    scripted: Script, client: ching_async.Client
) -> None:
    scripted.on(
        "POST",
        BASE + "/setup_sessions/seti_bQdnU-G6wCOj/cancel",
        envelope({"id": "seti_bQdnU-G6wCOj", "status": "canceled"}),
    )
    session = await client.setup_sessions.cancel("seti_bQdnU-G6wCOj")
    [seen] = scripted.seen
    assert (seen.method, seen.path) == ("POST", BASE + "/setup_sessions/seti_bQdnU-G6wCOj/cancel")
    assert_common_headers(seen, post=True)
    assert seen.body == b""
    assert session.id == "seti_bQdnU-G6wCOj"
    assert session.status is SetupSessionStatus.CANCELED
    assert session.customer is None
    assert session.url is None
    assert session.created is None
    assert session.raw == {"id": "seti_bQdnU-G6wCOj", "status": "canceled"}


async def test_setup_session_cancel_with_key(scripted: Script, client: ching_async.Client) -> None:
    scripted.on(
        "POST",
        BASE + "/setup_sessions/seti_1/cancel",
        envelope({"id": "seti_1", "status": "canceled"}),
    )
    await client.setup_sessions.cancel("seti_1", idempotency_key="cancel-seti_1")
    assert header(scripted.seen[0], "Idempotency-Key") == "cancel-seti_1"


async def test_unknown_setup_session_status_is_plain_str(
    scripted: Script, client: ching_async.Client
) -> None:
    scripted.on("GET", BASE + "/setup_sessions/s", envelope({**SETUP_SESSION, "status": "weird"}))
    session = await client.setup_sessions.retrieve("s")
    assert session.status == "weird"
    assert type(session.status) is str


# =================================================================== charges
async def test_charge_create_minimal(scripted: Script, client: ching_async.Client) -> None:
    scripted.on("POST", BASE + "/charges", envelope(CHARGE, headers={"X-Request-Id": "req_abc"}))
    charge = await client.charges.create(customer=CUS, payment_method=PM, amount=9900)
    [seen] = scripted.seen
    assert (seen.method, seen.path, seen.query) == ("POST", BASE + "/charges", {})
    assert_common_headers(seen, post=True)
    key = header(seen, "Idempotency-Key")
    # Currency defaults to "ils"; description and installments are omitted;
    # the idempotency key is written into metadata as the marker.
    assert seen.json == {
        "customer": CUS,
        "payment_method": PM,
        "amount": 9900,
        "currency": "ils",
        "metadata": {MARKER: key},
    }

    assert isinstance(charge, Charge)
    assert charge.id == "ch_9mTPfRSDmEOU"
    assert charge.object == "charge"
    assert charge.customer == CUS
    assert charge.payment_method == PM
    assert charge.amount == 9900
    assert charge.amount_captured == 9900
    assert charge.currency == "ils"
    assert charge.status is ChargeStatus.SUCCEEDED
    assert charge.description == "Pro plan - April"
    assert charge.installments == Installments(count=1)
    assert charge.captured is True
    assert charge.capture_method is CaptureMethod.AUTOMATIC
    assert_utc(charge.authorized_at, WHEN)
    assert_utc(charge.captured_at, WHEN)
    assert_utc(charge.created, WHEN)
    assert charge.capturable_until is None
    assert charge.cancellation_reason is None
    assert charge.refunded_amount == 0
    assert charge.failure_code is None
    assert charge.failure_message is None
    assert charge.document == "doc_R0i70cuPK_yO"
    assert charge.metadata == {}
    assert charge.livemode is False
    assert charge.customer_name is None
    assert charge.raw == CHARGE

    info = charge.request_info
    assert info is not None
    assert (info.method, info.path, info.status, info.attempts) == ("POST", "/charges", 200, 1)
    assert info.idempotency_key == key
    assert info.request_id == "req_abc"
    assert info.reconciled is False


async def test_charge_create_full(scripted: Script, client: ching_async.Client) -> None:
    scripted.on("POST", BASE + "/charges", envelope(CHARGE))
    scripted.on("GET", BASE + "/charges", envelope([]))
    await client.charges.create(
        customer=CUS,
        payment_method=PM,
        amount=4990,
        currency="USD",
        description="Pro plan - April",
        installments=Installments(6),
        metadata={"order": "42", "tags": ["a", "b"]},
        idempotency_key="order-42-attempt-1",
    )
    # The caller's own key is looked up before the first send: among the
    # customer's charges, then the project's (used for another customer).
    [lookup, beyond, seen] = scripted.seen
    assert (lookup.method, lookup.query) == ("GET", {"customer": CUS})
    assert (beyond.method, beyond.path, beyond.query) == ("GET", lookup.path, {})
    assert header(seen, "Idempotency-Key") == "order-42-attempt-1"
    assert seen.json == {
        "customer": CUS,
        "payment_method": PM,
        "amount": 4990,
        "currency": "usd",
        "description": "Pro plan - April",
        "installments": {"count": 6},
        "metadata": {"order": "42", "tags": ["a", "b"], MARKER: "order-42-attempt-1"},
    }


async def test_charge_create_empty_description_is_sent(
    scripted: Script, client: ching_async.Client
) -> None:
    scripted.on("POST", BASE + "/charges", envelope(CHARGE))
    await client.charges.create(customer=CUS, payment_method=PM, amount=1, description="")
    assert scripted.seen[0].json["description"] == ""


async def test_charge_create_unmarked(scripted: Script, client: ching_async.Client) -> None:
    scripted.on("POST", BASE + "/charges", envelope(CHARGE))
    charge = await client.charges.create(
        customer=CUS, payment_method=PM, amount=100, mark_idempotency_key=False
    )
    [seen] = scripted.seen
    assert "metadata" not in seen.json
    key = assert_uuid4(header(seen, "Idempotency-Key"))
    assert charge.request_info is not None
    assert charge.request_info.idempotency_key == key


async def test_charge_create_new_key_per_call(scripted: Script, client: ching_async.Client) -> None:
    scripted.on("POST", BASE + "/charges", envelope(CHARGE))
    await client.charges.create(customer=CUS, payment_method=PM, amount=100)
    await client.charges.create(customer=CUS, payment_method=PM, amount=100)
    first, second = (header(s, "Idempotency-Key") for s in scripted.seen)
    assert first != second
    assert [s.json["metadata"][MARKER] for s in scripted.seen] == [first, second]


@pytest.mark.parametrize("endpoint", ["charges.create", "setup_sessions.create", "capture"])
async def test_idempotency_key_identical_across_retries(
    scripted: Script, client: ching_async.Client, endpoint: str
) -> None:
    # 429 is retried for POSTs too (the server provably did nothing).
    if endpoint == "charges.create":
        path, ok = BASE + "/charges", envelope(CHARGE)
        call = client.charges.create(customer=CUS, payment_method=PM, amount=100)
    elif endpoint == "setup_sessions.create":
        path, ok = BASE + "/setup_sessions", envelope(SETUP_SESSION)
        call = client.setup_sessions.create(
            customer=CUS, success_url="https://a.example/", cancel_url="https://b.example/"
        )
    else:
        path, ok = BASE + "/charges/ch_1/capture", envelope(CHARGE)
        call = client.charges.capture("ch_1", amount=500)
    scripted.on("POST", path, error(429, "RATE_LIMITED"), error(429, "RATE_LIMITED"), ok)
    result = await call
    sent = scripted.seen_at("POST", path)
    assert len(sent) == 3
    keys = {header(s, "Idempotency-Key") for s in sent}
    assert len(keys) == 1
    [key] = keys
    assert_uuid4(key)
    assert len({s.body for s in sent}) == 1, "every attempt sends the same body"
    assert result.request_info is not None
    assert result.request_info.attempts == 3
    assert result.request_info.idempotency_key == key


async def test_charge_retrieve(scripted: Script, client: ching_async.Client) -> None:
    scripted.on("GET", BASE + "/charges/ch_9mTPfRSDmEOU", envelope(CHARGE))
    charge = await client.charges.retrieve("ch_9mTPfRSDmEOU")
    [seen] = scripted.seen
    assert (seen.method, seen.path, seen.query) == ("GET", BASE + "/charges/ch_9mTPfRSDmEOU", {})
    assert_common_headers(seen, post=False)
    assert charge.id == "ch_9mTPfRSDmEOU"
    assert charge.request_info is not None
    assert charge.request_info.path == "/charges/ch_9mTPfRSDmEOU"
    assert charge.request_info.idempotency_key is None


async def test_get_retried_attempts_reported(scripted: Script, client: ching_async.Client) -> None:
    scripted.on(
        "GET", BASE + "/charges/ch_1", error(503, "UNAVAILABLE"), error(502), envelope(CHARGE)
    )
    charge = await client.charges.retrieve("ch_1")
    assert len(scripted.seen) == 3
    assert all(header(s, "Idempotency-Key") is None for s in scripted.seen)
    assert charge.request_info is not None
    assert charge.request_info.attempts == 3


MANUAL_CAPTURED = {
    **CHARGE,
    "capture_method": "manual",
    "amount_captured": 500,
    "capturable_until": "2026-04-26T09:15:22.000Z",
}


async def test_charge_capture_full(scripted: Script, client: ching_async.Client) -> None:
    scripted.on("POST", BASE + "/charges/ch_1/capture", envelope({**MANUAL_CAPTURED}))
    charge = await client.charges.capture("ch_1")
    [seen] = scripted.seen
    assert (seen.method, seen.path) == ("POST", BASE + "/charges/ch_1/capture")
    assert_common_headers(seen, post=True)
    assert seen.body == b"", "no amount: the full authorized amount is captured"
    assert charge.capture_method is CaptureMethod.MANUAL
    assert_utc(charge.capturable_until, WHEN + timedelta(days=7))


async def test_charge_capture_partial(scripted: Script, client: ching_async.Client) -> None:
    scripted.on("POST", BASE + "/charges/ch_1/capture", envelope(MANUAL_CAPTURED))
    charge = await client.charges.capture("ch_1", amount=500, idempotency_key="cap-1")
    [seen] = scripted.seen
    assert seen.json == {"amount": 500}
    assert header(seen, "Idempotency-Key") == "cap-1"
    assert charge.amount_captured == 500
    assert charge.request_info is not None
    assert charge.request_info.idempotency_key == "cap-1"


CANCELED = {
    **CHARGE,
    "status": "canceled",
    "captured": False,
    "amount_captured": None,
    "captured_at": None,
    "capture_method": "manual",
    "cancellation_reason": "requested_by_customer",
}


async def test_charge_cancel_without_reason(scripted: Script, client: ching_async.Client) -> None:
    scripted.on("POST", BASE + "/charges/ch_1/cancel", envelope(CANCELED))
    charge = await client.charges.cancel("ch_1")
    [seen] = scripted.seen
    assert (seen.method, seen.path) == ("POST", BASE + "/charges/ch_1/cancel")
    assert_common_headers(seen, post=True)
    assert seen.body == b""
    assert charge.status is ChargeStatus.CANCELED
    assert charge.cancellation_reason is CancellationReason.REQUESTED_BY_CUSTOMER
    assert charge.amount_captured is None
    assert charge.captured_at is None


@pytest.mark.parametrize(
    ("reason", "wire"),
    [
        ("fraudulent", "fraudulent"),
        (CancellationReason.ABANDONED, "abandoned"),
        ("requested_by_customer", "requested_by_customer"),
    ],
)
async def test_charge_cancel_with_reason(
    scripted: Script, client: ching_async.Client, reason: str, wire: str
) -> None:
    scripted.on(
        "POST", BASE + "/charges/ch_1/cancel", envelope({**CANCELED, "cancellation_reason": wire})
    )
    charge = await client.charges.cancel("ch_1", cancellation_reason=reason)
    assert scripted.seen[0].body == b'{"cancellation_reason":"' + wire.encode() + b'"}'
    assert charge.cancellation_reason == wire
    assert isinstance(charge.cancellation_reason, CancellationReason)


LIST_ITEM = {
    **CHARGE,
    "customer_name": "Tal Levi",
    "card_brand": "visa",
    "card_last4": "4242",
    "wallet_method": None,
}


async def test_charges_list_awaitable(scripted: Script, client: ching_async.Client) -> None:
    second = {**LIST_ITEM, "id": "ch_2", "wallet_method": "apple_pay", "customer_name": "Dana"}
    scripted.on(
        "GET", BASE + "/charges", envelope([LIST_ITEM, second], headers={"X-Request-Id": "rl"})
    )
    charges = await client.charges.list()
    [seen] = scripted.seen
    assert (seen.method, seen.path, seen.query) == ("GET", BASE + "/charges", {})
    assert_common_headers(seen, post=False)
    assert isinstance(charges, list)
    assert [c.id for c in charges] == ["ch_9mTPfRSDmEOU", "ch_2"]
    assert [c.customer_name for c in charges] == ["Tal Levi", "Dana"]
    assert charges[0].card_brand == "visa"
    assert charges[0].card_last4 == "4242"
    assert charges[0].wallet_method is None
    assert charges[1].wallet_method == "apple_pay"
    assert charges[1].raw == second
    for charge in charges:
        assert charge.request_info is not None
        assert charge.request_info.path == "/charges"
        assert charge.request_info.request_id == "rl"


async def test_charges_list_by_customer(scripted: Script, client: ching_async.Client) -> None:
    scripted.on("GET", BASE + "/charges", envelope([LIST_ITEM]))
    charges = await client.charges.list(customer=CUS)
    [seen] = scripted.seen
    assert (seen.method, seen.path, seen.query) == ("GET", BASE + "/charges", {"customer": CUS})
    assert [c.customer for c in charges] == [CUS]


@pytest.mark.parametrize("customer", [None, CUS])
async def test_charges_list_async_iterable(
    scripted: Script, client: ching_async.Client, customer: str | None
) -> None:
    scripted.on("GET", BASE + "/charges", envelope([LIST_ITEM, {**LIST_ITEM, "id": "ch_2"}]))
    listing = client.charges.list(customer=customer)
    ids = [charge.id async for charge in listing]
    assert ids == ["ch_9mTPfRSDmEOU", "ch_2"]
    awaited = await client.charges.list(customer=customer)
    assert [c.id for c in awaited] == ids
    # Both forms send the same request shape.
    assert len(scripted.seen) == 2
    expected_query = {} if customer is None else {"customer": customer}
    for seen in scripted.seen:
        assert (seen.method, seen.path, seen.query) == ("GET", BASE + "/charges", expected_query)
        assert_common_headers(seen, post=False)


async def test_charges_list_lazy_until_used(scripted: Script, client: ching_async.Client) -> None:
    scripted.on("GET", BASE + "/charges", envelope([]))
    listing = client.charges.list()
    assert scripted.seen == []
    assert await listing == []
    assert len(scripted.seen) == 1


async def test_charges_list_data_not_a_list(scripted: Script, client: ching_async.Client) -> None:
    scripted.on("GET", BASE + "/charges", envelope({"not": "a list"}))
    with pytest.raises(ching_async.ResponseDecodeError):
        await client.charges.list()


async def test_find_by_idempotency_key(scripted: Script, client: ching_async.Client) -> None:
    other = {**LIST_ITEM, "id": "ch_other", "metadata": {MARKER: "other"}}
    mine = {**LIST_ITEM, "id": "ch_mine", "metadata": {MARKER: "order-7", "x": "y"}}
    scripted.on("GET", BASE + "/charges", envelope([other, mine]))
    found = await client.charges.find_by_idempotency_key(CUS, "order-7")
    assert found is not None
    assert found.id == "ch_mine"
    assert found.metadata == {MARKER: "order-7", "x": "y"}
    assert scripted.seen[0].query == {"customer": CUS}
    assert await client.charges.find_by_idempotency_key(CUS, "missing") is None


# ================================================================= decoding
async def test_unknown_enum_values_are_plain_str(
    scripted: Script, client: ching_async.Client
) -> None:
    data = {
        **CHARGE,
        "status": "disputed",
        "capture_method": "delayed",
        "cancellation_reason": "duplicate",
    }
    scripted.on("GET", BASE + "/charges/ch_1", envelope(data))
    charge = await client.charges.retrieve("ch_1")
    assert charge.status == "disputed"
    assert type(charge.status) is str
    assert charge.capture_method == "delayed"
    assert type(charge.capture_method) is str
    assert charge.cancellation_reason == "duplicate"
    assert type(charge.cancellation_reason) is str


async def test_known_enum_values_are_members(scripted: Script, client: ching_async.Client) -> None:
    scripted.on("GET", BASE + "/charges/ch_1", envelope({**CHARGE, "status": "requires_capture"}))
    charge = await client.charges.retrieve("ch_1")
    assert charge.status is ChargeStatus.REQUIRES_CAPTURE


async def test_unknown_fields_ignored(scripted: Script, client: ching_async.Client) -> None:
    data = {
        **CHARGE,
        "brand_new_field": {"deep": [1, 2, 3]},
        "refunds": [],
        "risk_score": 12.5,
    }
    scripted.on("GET", BASE + "/charges/ch_1", envelope(data))
    charge = await client.charges.retrieve("ch_1")
    assert charge.id == CHARGE["id"]
    assert charge.raw["brand_new_field"] == {"deep": [1, 2, 3]}
    assert not hasattr(charge, "brand_new_field")


@pytest.mark.parametrize(
    "extra",
    [{"raw": "server field"}, {"request_info": {"x": 1}}, {"raw": None, "request_info": 5}],
    ids=["raw", "request_info", "both"],
)
async def test_server_fields_named_like_provenance_do_not_break_decoding(
    scripted: Script, client: ching_async.Client, extra: dict[str, Any]
) -> None:
    data = {**CHARGE, **extra}
    scripted.on("GET", BASE + "/charges/ch_1", envelope(data))
    charge = await client.charges.retrieve("ch_1")
    assert charge.raw == data
    assert charge.request_info is not None
    assert charge.request_info.path == "/charges/ch_1"


@pytest.mark.parametrize(
    "value",
    [1776590122, 1776590122000, 1776590122.0, 1776590122000.0],
    ids=["seconds", "milliseconds", "float-seconds", "float-milliseconds"],
)
async def test_epoch_timestamps(scripted: Script, client: ching_async.Client, value: float) -> None:
    data = {**CHARGE, "created": value, "authorized_at": value, "captured_at": None}
    scripted.on("GET", BASE + "/charges/ch_1", envelope(data))
    charge = await client.charges.retrieve("ch_1")
    assert_utc(charge.created, WHEN)
    assert_utc(charge.authorized_at, WHEN)
    assert charge.captured_at is None


async def test_epoch_fraction_and_offset_timestamps(
    scripted: Script, client: ching_async.Client
) -> None:
    data = {
        **CHARGE,
        "created": 1776590122.5,
        "authorized_at": "2026-04-19T12:15:22+03:00",
        "captured_at": "2026-04-19T09:15:22.123Z",
    }
    scripted.on("GET", BASE + "/charges/ch_1", envelope(data))
    charge = await client.charges.retrieve("ch_1")
    assert_utc(charge.created, WHEN + timedelta(milliseconds=500))
    assert charge.authorized_at == WHEN
    assert charge.authorized_at is not None
    assert charge.authorized_at.utcoffset() == timedelta(hours=3)
    assert_utc(charge.captured_at, WHEN + timedelta(milliseconds=123))


@pytest.mark.parametrize(
    "bad",
    [
        {"amount": "9900"},
        {"amount": True},
        {"amount": 99.5},
        {"created": "yesterday"},
        {"created": True},
        {"id": None},
        {"status": 3},
        {"captured": "true"},
        {"installments": 3},
        {"metadata": []},
    ],
    ids=repr,
)
async def test_malformed_fields_raise_decode_error(
    scripted: Script, client: ching_async.Client, bad: dict[str, Any]
) -> None:
    scripted.on("GET", BASE + "/charges/ch_1", envelope({**CHARGE, **bad}))
    with pytest.raises(ching_async.ResponseDecodeError) as info:
        await client.charges.retrieve("ch_1")
    err = info.value
    assert err.status == 200
    assert (err.method, err.path) == ("GET", "/charges/ch_1")
    assert "Charge" in str(err)
    assert err.__cause__ is None


async def test_data_not_an_object_raises_decode_error(
    scripted: Script, client: ching_async.Client
) -> None:
    scripted.on("GET", BASE + "/charges/ch_1", envelope(["not", "an", "object"]))
    with pytest.raises(ching_async.ResponseDecodeError):
        await client.charges.retrieve("ch_1")


async def test_integral_float_amount_accepted(scripted: Script, client: ching_async.Client) -> None:
    scripted.on("GET", BASE + "/charges/ch_1", envelope({**CHARGE, "amount": 9900.0}))
    charge = await client.charges.retrieve("ch_1")
    assert charge.amount == 9900
    assert type(charge.amount) is int


@pytest.mark.parametrize("header_name", ["X-Request-Id", "Request-Id", "X-Ching-Request-Id"])
async def test_request_id_headers(
    scripted: Script, client: ching_async.Client, header_name: str
) -> None:
    scripted.on("GET", BASE + "/charges/ch_1", envelope(CHARGE, headers={header_name: "rid-9"}))
    charge = await client.charges.retrieve("ch_1")
    assert charge.request_info is not None
    assert charge.request_info.request_id == "rid-9"


@pytest.mark.loopback
@pytest.mark.parametrize("caller_session", [False, True])
async def test_static_headers_whoever_made_the_session(
    scripted: Script, caller_session: bool
) -> None:
    # A client's own session carries Accept and User-Agent as its default
    # headers; a caller's session gets them with each request instead, over
    # the caller's own defaults.
    import aiohttp

    scripted.on("POST", BASE + "/charges", envelope(CHARGE))
    scripted.on("POST", BASE + "/charges/ch_1/capture", envelope(CHARGE))
    scripted.on("GET", BASE + "/charges/ch_1", envelope(CHARGE))
    session = aiohttp.ClientSession(headers={"User-Agent": "theirs", "Accept": "*/*"})
    try:
        async with ching_async.Client(
            TEST_KEY, base_url=scripted.url, session=session if caller_session else None
        ) as client:
            await client.charges.create(customer=CUS, payment_method=PM, amount=9900)
            await client.charges.capture("ch_1")
            await client.charges.retrieve("ch_1")
    finally:
        await session.close()
    post, capture, get = scripted.seen
    assert capture.body == b""  # a body-less POST is declared JSON too
    for seen, is_post in ((post, True), (capture, True), (get, False)):
        assert_common_headers(seen, post=is_post)
        assert_wire_headers(seen, post=is_post)
