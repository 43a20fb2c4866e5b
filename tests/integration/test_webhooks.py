"""ching_async.webhooks: construct_event, and the aiohttp receiver fed by FakeChing."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

import ching_async
from ching_async import Charge, Customer, PaymentMethod, Refund, SetupSession
from ching_async.webhooks import (
    Event,
    SignatureVerificationError,
    WebhookPayloadError,
    aiohttp_handler,
    compute_signature,
    construct_event,
)
from tests.conftest import CHARGE, SETUP_SESSION

from . import client_for

SECRET = "whsec_" + "5e" * 32


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def event_body(event_type: str, data: Any, **extra: Any) -> bytes:
    envelope = {
        "id": "evt_AbCdEf123",
        "type": event_type,
        "data": data,
        "livemode": False,
        "created": "2026-05-09T10:23:11.000Z",
        **extra,
    }
    return orjson.dumps(envelope)


# ------------------------------------------------------------ construct_event
@pytest.mark.parametrize(
    ("event_type", "data", "model"),
    [
        ("charge.succeeded", CHARGE, Charge),
        ("charge.some_future_action", CHARGE, Charge),
        ("setup_session.expired", SETUP_SESSION, SetupSession),
        ("customer.deleted", {"id": "cus_1", "object": "customer", "deleted": True}, Customer),
        ("refund.created", {"id": "re_1", "charge": "ch_1", "amount": 500}, Refund),
        ("payment_method.attached", {"id": "pm_1", "brand": "visa"}, PaymentMethod),
    ],
)
def test_data_is_decoded_by_the_event_type(event_type: str, data: Any, model: type) -> None:
    body = event_body(event_type, data)
    event = construct_event(body, sign(body), SECRET)
    assert isinstance(event, Event)
    assert (event.id, event.type, event.livemode) == ("evt_AbCdEf123", event_type, False)
    assert event.created == datetime(2026, 5, 9, 10, 23, 11, tzinfo=UTC)
    assert isinstance(event.data, model)
    assert event.data.id == data["id"]
    assert event.data.raw == data
    assert event.raw == orjson.loads(body)


def test_a_charge_event_carries_the_whole_charge() -> None:
    body = event_body("charge.succeeded", CHARGE)
    event = construct_event(body, sign(body), SECRET)
    assert isinstance(event.data, Charge)
    assert (event.data.amount, event.data.status, event.data.document) == (
        9900,
        ching_async.ChargeStatus.SUCCEEDED,
        "doc_R0i70cuPK_yO",
    )


@pytest.mark.parametrize(
    ("event_type", "data", "expected"),
    [
        ("subscription.created", {"id": "sub_1", "status": "active"}, "same"),
        ("checkout_session.completed", {"id": "co_1"}, "same"),
        ("charge.succeeded", {"id": "ch_1", "amount": "9900", "status": "succeeded"}, "same"),
        ("refund.created", {"amount": 5}, "same"),  # no id: not a Refund
        ("customer.updated", {"id": 7}, "same"),
        ("charge.succeeded", ["not", "an", "object"], None),
        ("charge.succeeded", None, None),
    ],
)
def test_unknown_types_and_odd_data_never_fail(event_type: str, data: Any, expected: Any) -> None:
    body = event_body(event_type, data)
    event = construct_event(body, sign(body), SECRET)
    assert event.data == (data if expected == "same" else expected)
    assert event.raw["data"] == data


def test_odd_envelope_fields_are_tolerated() -> None:
    body = event_body("charge.succeeded", CHARGE, livemode="no", created="yesterday", extra=1)
    event = construct_event(body, sign(body), SECRET)
    assert (event.livemode, event.created) == (None, None)
    assert event.raw["extra"] == 1
    body = event_body("charge.succeeded", CHARGE, created=1778322191)
    assert construct_event(body, sign(body), SECRET).created == datetime(
        2026, 5, 9, 10, 23, 11, tzinfo=UTC
    )


def test_signature_is_lowercase_hex_hmac_sha256_of_the_raw_body() -> None:
    body = event_body("charge.succeeded", CHARGE)
    assert compute_signature(body, SECRET) == sign(body)
    assert compute_signature(body, SECRET.encode()) == sign(body)
    construct_event(body, sign(body).upper(), SECRET)  # case-insensitive hex
    construct_event(body, f"  {sign(body)}\n", SECRET)  # surrounding whitespace
    construct_event(bytearray(body), sign(body), SECRET)
    construct_event(memoryview(body), sign(body), SECRET)


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "   ",
        "0" * 64,
        sign(b"another body"),
        sign(event_body("charge.succeeded", CHARGE), secret="whsec_other"),
        sign(event_body("charge.succeeded", CHARGE))[:-1],
        "sha256=" + sign(event_body("charge.succeeded", CHARGE)),
        "é" * 64,  # non-ASCII must not turn into a TypeError
    ],
)
def test_a_bad_or_missing_signature_is_rejected(signature: str | None) -> None:
    body = event_body("charge.succeeded", CHARGE)
    with pytest.raises(SignatureVerificationError):
        construct_event(body, signature, SECRET)


def test_a_re_serialized_body_fails_verification() -> None:
    body = event_body("charge.succeeded", CHARGE)
    signature = sign(body)
    reparsed = orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2)
    with pytest.raises(SignatureVerificationError, match="re-serialized"):
        construct_event(reparsed, signature, SECRET)


def test_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    body = event_body("charge.succeeded", CHARGE)
    construct_event(body, sign(body), SECRET)
    with pytest.raises(SignatureVerificationError):
        construct_event(body, "0" * 64, SECRET)
    assert [b for _, b in calls] == [sign(body).encode(), b"0" * 64]


@pytest.mark.parametrize(
    "body",
    [b"not json", b"", b"[1, 2]", b'{"type": "charge.succeeded"}', b'{"id": 1, "type": "x"}'],
)
def test_a_signed_body_that_is_not_an_event_is_a_payload_error(body: bytes) -> None:
    with pytest.raises(WebhookPayloadError):
        construct_event(body, sign(body), SECRET)


def _nested(depth: int) -> str:
    return '{"a":' * depth + "{}" + "}" * depth


@pytest.mark.parametrize("event_type", ["unknown.thing", "charge.succeeded"])
def test_event_data_nested_past_the_depth_limit_is_a_payload_error(event_type: str) -> None:
    # 1,000 levels: orjson reads it, but repr() and == of such an Event would
    # raise RecursionError. Refused like a model's over-deep object.
    body = f'{{"id": "evt_1", "type": "{event_type}", "data": {_nested(1000)}}}'.encode()
    with pytest.raises(WebhookPayloadError, match="nested deeper than 100 levels"):
        construct_event(body, sign(body), SECRET)


def test_event_data_within_the_depth_limit_stays_raw_and_printable() -> None:
    body = f'{{"id": "evt_1", "type": "unknown.thing", "data": {_nested(50)}}}'.encode()
    event = construct_event(body, sign(body), SECRET)
    assert type(event.data) is dict
    assert repr(event).count("{'a': ") == 50
    assert event == construct_event(body, sign(body), SECRET)


@pytest.mark.parametrize(
    ("payload", "secret", "match"),
    [
        ('{"id": "evt_1", "type": "x"}', SECRET, "raw request body as bytes"),
        ({"id": "evt_1"}, SECRET, "raw request body as bytes"),
        (b"{}", "", "secret"),
        (b"{}", None, "secret"),
        (b"{}", SECRET + "\n", "whitespace"),
        (b"{}", "whsec_\udcff", "lone surrogate"),
    ],
)
def test_misuse_is_an_invalid_parameter(payload: Any, secret: Any, match: str) -> None:
    with pytest.raises(ching_async.InvalidParameterError, match=match):
        construct_event(payload, "00", secret)


def test_errors_are_ching_errors_exported_from_the_package() -> None:
    assert issubclass(SignatureVerificationError, ching_async.ChingError)
    assert issubclass(WebhookPayloadError, ching_async.ChingError)
    assert ching_async.SignatureVerificationError is SignatureVerificationError
    assert ching_async.WebhookPayloadError is WebhookPayloadError
    assert {"SignatureVerificationError", "WebhookPayloadError", "Event"} <= set(
        ching_async.__all__
    )


def test_import_ching_async_does_not_import_webhooks() -> None:
    code = (
        "import sys, ching_async\n"
        "assert 'ching_async.webhooks' not in sys.modules\n"
        "import ching_async.webhooks\n"
        "assert 'ching_async._webhook_receivers' not in sys.modules\n"
        "ching_async.SignatureVerificationError\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


# ---------------------------------------------------------- aiohttp receiver
@dataclass
class Receiver:
    url: str = ""
    events: list[Event] = field(default_factory=list)
    failure: Exception | None = None  # raised by the callback when set
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_event(self, event: Event) -> None:
        self.events.append(event)
        self.arrived.set()
        if self.failure is not None:
            raise self.failure


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """An aiohttp app serving `aiohttp_handler` on a real socket."""
    state = Receiver()
    app = web.Application(client_max_size=64 * 1024)
    app.router.add_route("*", "/webhooks/ching", aiohttp_handler(SECRET, state.on_event))
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}/webhooks/ching"
    try:
        yield state
    finally:
        await runner.cleanup()


async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def test_the_aiohttp_receiver_gets_typed_events_from_the_fake_end_to_end(
    receiver: Receiver,
) -> None:
    url, received = receiver.url, receiver.events
    async with ching_async.testing.FakeChing(webhook_delivery="manual") as fake:
        fake.add_webhook_endpoint(url, secret=SECRET)
        async with client_for(fake) as ching:
            customer = await ching.customers.create(email="tal@example.com", name="Tal")
            card = await ching.payment_methods.create_test_card(customer.id)
            charge = await ching.charges.create(
                customer=customer.id, payment_method=card.id, amount=4990
            )
            refund = await ching.refunds.create(charge=charge.id, amount=990)
        assert received == []  # manual delivery: nothing until asked
        deliveries = await fake.deliver_pending()
    assert [d.status for d in deliveries] == [200] * 4
    assert [e.type for e in received] == [
        "customer.created",
        "payment_method.attached",
        "charge.succeeded",
        "refund.created",
    ]
    assert received[0].data == customer
    assert received[1].data == card
    assert received[2].data == charge
    assert received[3].data == refund
    assert all(e.livemode is False and e.id.startswith("evt_") for e in received)


async def test_the_aiohttp_receiver_rejects_bad_signatures(
    receiver: Receiver,
) -> None:
    url, received = receiver.url, receiver.events
    body = event_body("charge.succeeded", CHARGE)
    assert await post(url, body, {"Ching-Signature": sign(body, "whsec_wrong")}) == (
        400,
        {"error": "invalid signature"},
    )
    assert await post(url, body, {}) == (400, {"error": "invalid signature"})
    not_event = b'{"hello": "world"}'
    assert await post(url, not_event, {"Ching-Signature": sign(not_event)}) == (
        400,
        {"error": "invalid payload"},
    )
    assert received == []
    assert await post(url, body, {"ching-signature": sign(body)}) == (200, {"received": True})
    assert [e.id for e in received] == ["evt_AbCdEf123"]


async def test_the_aiohttp_receiver_answers_405_413(
    receiver: Receiver,
) -> None:
    url, received = receiver.url, receiver.events
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as resp:
            assert (resp.status, resp.headers["Allow"]) == (405, "POST")
        big = event_body("charge.succeeded", {"blob": "x" * 70_000})
        async with http.post(url, data=big, headers={"Ching-Signature": sign(big)}) as resp:
            assert resp.status == 413
    assert received == []


async def test_a_failing_callback_answers_500_and_the_fake_delivers_again(
    receiver: Receiver,
) -> None:
    url, received = receiver.url, receiver.events
    async with ching_async.testing.FakeChing(webhook_delivery="manual") as fake:
        fake.add_webhook_endpoint(url, secret=SECRET)
        fake.add_customer(name="Tal", email="tal@example.com")
        receiver.failure = RuntimeError("database down")
        [first] = await fake.deliver_pending()
        assert (first.status, first.attempt, first.ok) == (500, 1, False)
        assert fake.pending_webhooks == 1
        receiver.failure = None
        [second] = await fake.deliver_pending()
        assert (second.status, second.attempt, second.event_id) == (200, 2, first.event_id)
        assert fake.pending_webhooks == 0
    assert [e.id for e in received] == [first.event_id] * 2  # the same event, twice


async def test_a_sync_callback_works(unused_tcp_port: int) -> None:
    seen: list[str] = []
    app = web.Application()
    app.router.add_post("/hook", aiohttp_handler(SECRET, lambda event: seen.append(event.id)))
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    try:
        body = event_body("refund.created", {"id": "re_1"})
        url = f"http://127.0.0.1:{unused_tcp_port}/hook"
        assert (await post(url, body, {"Ching-Signature": sign(body)}))[0] == 200
    finally:
        await runner.cleanup()
    assert seen == ["evt_AbCdEf123"]


def test_receivers_check_their_arguments_when_wired() -> None:
    with pytest.raises(ching_async.InvalidParameterError):
        aiohttp_handler("", lambda event: None)
    with pytest.raises(ching_async.InvalidParameterError):
        aiohttp_handler(SECRET, "not callable")  # type: ignore[arg-type]
    with pytest.raises(ching_async.InvalidParameterError):
        ching_async.webhooks.asgi_app(SECRET, lambda event: None, max_body_bytes=0)


async def test_deliveries_repeat_and_dedupe_by_event_id_handles_each_once(
    receiver: Receiver,
) -> None:
    url, received = receiver.url, receiver.events
    async with ching_async.testing.FakeChing(webhook_delivery="manual") as fake:
        fake.add_webhook_endpoint(url, secret=SECRET)
        fake.add_customer(name="Tal", email="tal@example.com")
        await fake.deliver_pending()
        fake.resend_webhook_event(received[0].id)
        await fake.deliver_pending()
    assert [e.id for e in received] == [received[0].id] * 2
    handled = {e.id: e for e in received}  # what a dedupe by id keeps
    assert len(handled) == 1


async def test_background_delivery_reaches_the_receiver(
    receiver: Receiver,
) -> None:
    url, received = receiver.url, receiver.events
    async with ching_async.testing.FakeChing() as fake:
        fake.add_webhook_endpoint(url, secret=SECRET)
        async with client_for(fake) as ching:
            customer = await ching.customers.create(email="tal@example.com")
        async with asyncio.timeout(5):
            await receiver.arrived.wait()
    assert received[0].type == "customer.created"
    assert received[0].data == customer
