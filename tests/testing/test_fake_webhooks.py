"""FakeChing webhooks: which events, their envelope and signature, delivery and retries."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

import ching_async
from ching_async.testing import FakeChing, Fault
from tests._support.fake_client import client_for, raw_call

from .conftest import Sink


@pytest.fixture
def fake_ching_options() -> dict[str, Any]:
    return {"seed": 4, "webhook_delivery": "manual"}


async def test_an_endpoint_gets_a_whsec_secret_and_signed_documented_envelopes(
    fake: FakeChing, sink: Sink
) -> None:
    secret = fake.add_webhook_endpoint(sink.url)
    assert re.fullmatch(r"whsec_[0-9a-f]{64}", secret)
    customer = fake.add_customer(name="Tal", email="tal@example.com")
    [delivery] = await fake.deliver_pending()
    assert delivery.ok
    [(headers, body)] = sink.received
    assert headers["Ching-Signature"] == hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["Content-Type"] == "application/json"
    envelope = orjson.loads(body)
    assert set(envelope) == {"id", "type", "data", "livemode", "created"}
    assert envelope["id"].startswith("evt_")
    assert (envelope["type"], envelope["livemode"]) == ("customer.created", False)
    assert envelope["data"] == customer.to_json()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", envelope["created"])
    [event] = fake.webhook_events()
    assert (event.id, event.body) == (envelope["id"], body)
    assert delivery.event_id == event.id


async def test_each_state_change_emits_its_event(fake: FakeChing, sink: Sink) -> None:
    fake.add_webhook_endpoint(sink.url)
    async with client_for(fake) as ching:
        customer = await ching.customers.create(name="Tal", email="tal@example.com")
        await ching.customers.update(customer.id, name="Tal")
        card = await ching.payment_methods.create_test_card(customer.id)
        charge = await ching.charges.create(
            customer=customer.id, payment_method=card.id, amount=100
        )
        await ching.refunds.create(charge=charge.id)
        held = fake.add_charge(customer.id, card.id, amount=300, capture_method="manual")
        await ching.charges.capture(held.id)
        released = fake.add_charge(customer.id, card.id, amount=300, capture_method="manual")
        await ching.charges.cancel(released.id)
        declining = fake.add_payment_method(customer.id, declines=True)
        with pytest.raises(ching_async.CardDeclinedError):
            await ching.charges.create(customer=customer.id, payment_method=declining.id, amount=1)
        await ching.customers.delete(customer.id)
    assert [e.type for e in fake.webhook_events()] == [
        "customer.created",
        "customer.updated",
        "payment_method.attached",
        "charge.succeeded",
        "refund.created",
        "charge.authorized",
        "charge.captured",
        "charge.authorized",
        "charge.canceled",
        "payment_method.attached",
        "charge.failed",
        "payment_method.detached",
        "payment_method.detached",
        "customer.deleted",
    ]
    await fake.deliver_pending()
    assert sink.types == [e.type for e in fake.webhook_events()]  # delivered in order
    deleted = orjson.loads(sink.received[-1][1])["data"]
    assert deleted == {"id": customer.id, "object": "customer", "deleted": True}


async def test_the_event_data_is_a_snapshot_at_emission(fake: FakeChing, sink: Sink) -> None:
    fake.add_webhook_endpoint(sink.url)
    customer = fake.add_customer(name="Before", email="tal@example.com")
    async with client_for(fake) as ching:
        await ching.customers.update(customer.id, name="After")
    created, updated = fake.webhook_events()
    assert (created.data["name"], updated.data["name"]) == ("Before", "After")


async def test_endpoints_get_only_the_types_and_mode_they_asked_for(
    fake: FakeChing, sink: Sink
) -> None:
    fake.add_webhook_endpoint(sink.url, events=["refund.created"])
    customer = fake.add_customer(name="Tal", email="tal@example.com")
    charge = fake.add_charge(customer.id, amount=500)
    status, _ = await raw_call(fake, "POST", "/refunds", {"charge": charge.id, "amount": 100})
    assert status == 200
    status, _ = await raw_call(
        fake, "POST", "/refunds", {"charge": charge.id, "amount": 100}, api_key=fake.live_api_key
    )
    assert status == 200
    await fake.deliver_pending()
    assert sink.types == ["refund.created"]
    assert orjson.loads(sink.received[0][1])["livemode"] is False


async def test_a_live_endpoint_gets_live_events(fake: FakeChing, sink: Sink) -> None:
    fake.add_webhook_endpoint(sink.url, livemode=True)
    fake.add_customer(name="test", email="t@example.com")
    async with client_for(fake, api_key=fake.live_api_key) as live:
        await live.customers.create(name="Live", email="live@example.com")
    await fake.deliver_pending()
    assert [orjson.loads(b)["livemode"] for _, b in sink.received] == [True]


async def test_nothing_is_recorded_without_endpoints(fake: FakeChing) -> None:
    customer = fake.add_customer(name="Tal", email="tal@example.com")
    fake.add_charge(customer.id)
    assert fake.webhook_events() == []
    assert fake.pending_webhooks() == 0
    assert await fake.deliver_pending() == []


async def test_faults_that_do_not_process_emit_nothing(fake: FakeChing, sink: Sink) -> None:
    fake.add_webhook_endpoint(sink.url, events=["charge.succeeded"])
    customer = fake.add_customer(name="Tal", email="tal@example.com")
    card = fake.add_payment_method(customer.id)
    body = {"customer": customer.id, "payment_method": card.id, "amount": 100}
    fake.faults.add(Fault.status(503), method="POST", path="/charges", times=1)
    status, _ = await raw_call(fake, "POST", "/charges", body)
    assert status == 503
    assert fake.webhook_events() == []
    fake.faults.add(Fault.commit_then_drop(), method="POST", path="/charges", times=1)
    with pytest.raises(aiohttp.ServerDisconnectedError):  # the fake drops the connection
        await raw_call(fake, "POST", "/charges", body)
    assert [e.type for e in fake.webhook_events()] == ["charge.succeeded"]


async def test_failed_deliveries_are_retried_up_to_five_attempts(
    fake: FakeChing, sink: Sink
) -> None:
    fake.add_webhook_endpoint(sink.url)
    sink.statuses = [500, 503]
    fake.add_customer(name="Tal", email="tal@example.com")
    attempts: list[tuple[int, int | None]] = []
    for _ in range(3):
        attempts += [(d.attempt, d.status) for d in await fake.deliver_pending()]
    assert attempts == [(1, 500), (2, 503), (3, 200)]
    assert fake.pending_webhooks() == 0
    dead = "http://127.0.0.1:9/unreachable"  # discard port: connection refused
    fake.remove_webhook_endpoint(sink.url)
    fake.add_webhook_endpoint(dead)
    fake.add_customer(name="Noa", email="noa@example.com")
    for _ in range(6):
        await fake.deliver_pending()
    failures = [d for d in fake.webhook_deliveries() if d.url == dead]
    assert [d.attempt for d in failures] == [1, 2, 3, 4, 5]
    assert all(d.status is None and d.error for d in failures)
    assert fake.pending_webhooks() == 0


async def test_resend_repeats_a_delivery(fake: FakeChing, sink: Sink) -> None:
    fake.add_webhook_endpoint(sink.url)
    fake.add_customer(name="Tal", email="tal@example.com")
    await fake.deliver_pending()
    fake.resend_webhook_event(fake.webhook_events()[0].id)
    await fake.deliver_pending()
    assert len(sink.received) == 2
    assert sink.received[0][1] == sink.received[1][1]  # the very same signed bytes
    with pytest.raises(KeyError):
        fake.resend_webhook_event("evt_missing")


async def test_background_delivery_needs_no_call(sink: Sink) -> None:
    async with FakeChing() as fake:
        fake.add_webhook_endpoint(sink.url)
        fake.add_customer(name="Tal", email="tal@example.com")
        async with asyncio.timeout(5):
            await sink.arrived.wait()
        assert sink.types == ["customer.created"]


async def test_events_seeded_before_start_are_delivered_after_start(sink: Sink) -> None:
    fake = FakeChing()
    fake.add_webhook_endpoint(sink.url)
    fake.add_customer(name="Tal", email="tal@example.com")
    async with fake:
        async with asyncio.timeout(5):
            await sink.arrived.wait()
    assert sink.types == ["customer.created"]


async def test_closing_leaves_no_task_behind(sink: Sink) -> None:
    slow = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await slow.wait()
        return web.Response()

    app = web.Application()
    app.router.add_post("/slow", hang)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        async with FakeChing() as fake:
            fake.add_webhook_endpoint(f"http://127.0.0.1:{runner.addresses[0][1]}/slow")
            fake.add_customer(name="Tal", email="tal@example.com")
            await asyncio.sleep(0.05)  # the worker is now inside a delivery
            assert _webhook_tasks() != []
        assert _webhook_tasks() == []
    finally:
        slow.set()
        await runner.cleanup()


def _webhook_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if "webhook" in t.get_name() and not t.done()]


@pytest.mark.parametrize(
    ("url", "events"),
    [("ftp://example.com/hook", ["*"]), ("https://example.com/hook", []), ("http://x/", [""])],
)
def test_bad_endpoint_arguments(url: str, events: list[str]) -> None:
    with pytest.raises(ValueError, match=r"url|events"):
        FakeChing().add_webhook_endpoint(url, events=events)


@pytest.mark.parametrize(("secret", "match"), [("whsec_1\n", "whitespace"), ("", "non-empty")])
def test_a_secret_the_receivers_refuse_is_refused_when_the_endpoint_is_added(
    secret: str, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        FakeChing().add_webhook_endpoint("https://example.com/hook", secret=secret)


def test_bad_delivery_mode() -> None:
    with pytest.raises(ValueError, match="webhook_delivery"):
        FakeChing(webhook_delivery="sometimes")  # type: ignore[arg-type]


async def test_the_standalone_fake_delivers_to_a_webhook_url(sink: Sink) -> None:
    import os
    import signal
    import sys

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ching_async.testing", "--port", "0", "--webhook", sink.url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        async with asyncio.timeout(30):
            lines = []
            while not lines or "Webhook events go to" not in lines[-1]:
                lines.append((await process.stdout.readline()).decode())
            secret = lines[-1].rsplit(" ", 1)[1].strip()
            await sink.arrived.wait()  # the demo customer and card, seeded at start
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0
    assert sink.types[:2] == ["customer.created", "payment_method.attached"]
    for headers, body in sink.received:
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert headers["Ching-Signature"] == expected


async def test_the_standalone_fake_rejects_a_bad_webhook_url() -> None:
    import sys

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ching_async.testing", "--port", "0", "--webhook", "nope",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 1
    assert b"url must be an absolute http(s) URL" in err
