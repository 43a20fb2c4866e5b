"""ching_async.webhooks.aiohttp_handler on a real socket, fed by hand and by FakeChing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import ching_async
from ching_async.testing import FakeChing
from ching_async.webhooks import Event, aiohttp_handler
from tests._support.scripted import CHARGE
from tests._support.webhooks import SECRET, event_body, sign


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


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """`app` on an ephemeral loopback port; yields its base URL."""
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """An aiohttp app serving `aiohttp_handler` on a real socket."""
    state = Receiver()
    app = web.Application(client_max_size=64 * 1024)
    app.router.add_route("*", "/webhooks/ching", aiohttp_handler(SECRET, state.on_event))
    async with serve(app) as root:
        state.url = root + "/webhooks/ching"
        yield state


@pytest.fixture
def fake_ching_options() -> dict[str, Any]:
    return {"webhook_delivery": "manual"}  # nothing reaches the receiver until asked


@pytest.fixture
def fake(fake_ching: FakeChing, receiver: Receiver) -> FakeChing:
    """The plugin's FakeChing (manual delivery), with `receiver` as its endpoint."""
    fake_ching.add_webhook_endpoint(receiver.url, secret=SECRET)
    return fake_ching


async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def test_the_aiohttp_receiver_gets_typed_events_from_the_fake_end_to_end(
    receiver: Receiver, fake: FakeChing, ching_client: ching_async.Client
) -> None:
    received = receiver.events
    customer = await ching_client.customers.create(name="Tal", email="tal@example.com")
    card = await ching_client.payment_methods.create_test_card(customer.id)
    charge = await ching_client.charges.create(
        customer=customer.id, payment_method=card.id, amount=4990
    )
    refund = await ching_client.refunds.create(charge=charge.id, amount=990)
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
    receiver: Receiver, fake: FakeChing
) -> None:
    fake.add_customer(name="Tal", email="tal@example.com")
    receiver.failure = RuntimeError("database down")
    [first] = await fake.deliver_pending()
    assert (first.status, first.attempt, first.ok) == (500, 1, False)
    assert fake.pending_webhooks() == 1
    receiver.failure = None
    [second] = await fake.deliver_pending()
    assert (second.status, second.attempt, second.event_id) == (200, 2, first.event_id)
    assert fake.pending_webhooks() == 0
    assert [e.id for e in receiver.events] == [first.event_id] * 2  # the same event, twice


async def test_a_sync_callback_works() -> None:
    seen: list[str] = []
    app = web.Application()
    app.router.add_post("/hook", aiohttp_handler(SECRET, lambda event: seen.append(event.id)))
    async with serve(app) as root:
        body = event_body("refund.created", {"id": "re_1"})
        assert (await post(root + "/hook", body, {"Ching-Signature": sign(body)}))[0] == 200
    assert seen == ["evt_AbCdEf123"]


def test_the_handler_checks_its_arguments_when_wired() -> None:
    with pytest.raises(ching_async.InvalidParameterError, match="secret"):
        aiohttp_handler("", lambda event: None)
    with pytest.raises(ching_async.InvalidParameterError, match="on_event must be callable"):
        aiohttp_handler(SECRET, "not callable")  # type: ignore[arg-type]


async def test_deliveries_repeat_and_dedupe_by_event_id_handles_each_once(
    receiver: Receiver, fake: FakeChing
) -> None:
    received = receiver.events
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
    received = receiver.events
    async with FakeChing() as fake:  # background delivery, the default
        fake.add_webhook_endpoint(receiver.url, secret=SECRET)
        async with ching_async.Client(
            fake.api_key, base_url=fake.url, retry_policy=ching_async.RetryPolicy(instant=True)
        ) as ching:
            customer = await ching.customers.create(name="Tal", email="tal@example.com")
        async with asyncio.timeout(5):
            await receiver.arrived.wait()
    assert received[0].type == "customer.created"
    assert received[0].data == customer
