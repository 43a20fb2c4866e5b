"""Sample events of every documented type, made by FakeChing, and
`trigger_event` delivering one signed to a receiver that verifies it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

import ching_async
from ching_async.testing import SAMPLE_EVENT_TYPES, sample_event, trigger_event
from ching_async.webhooks import aiohttp_handler, compute_signature, construct_event
from tests._support.loopback import serving

SECRET = "whsec_trigger_" + "7" * 32
# The model each type's data decodes to (by its prefix, or `applied_discount`).
MODELS: dict[str, type[Any]] = {
    "charge": ching_async.Charge,
    "refund": ching_async.Refund,
    "setup_session": ching_async.SetupSession,
    "payment_method": ching_async.PaymentMethod,
    "customer": ching_async.Customer,
    "discount": ching_async.Discount,
    "subscription": ching_async.Subscription,
}
# What each sample shows of the state its event reports.
STATUS = {
    "charge.succeeded": "succeeded",
    "charge.failed": "failed",
    "charge.authorized": "requires_capture",
    "charge.captured": "succeeded",
    "charge.canceled": "canceled",
    "setup_session.failed": "failed",
    "setup_session.expired": "expired",
    "payment_method.detached": "inactive",
    "discount.applied": "active",
    "discount.expired": "completed",
    "subscription.created": "active",
    "subscription.updated": "past_due",
    "subscription.canceled": "canceled",
    "subscription.trial_will_end": "trialing",
}


def test_the_documented_types_have_samples() -> None:
    assert len(SAMPLE_EVENT_TYPES) == 22
    assert {t.partition(".")[0] for t in SAMPLE_EVENT_TYPES} == set(MODELS)


@pytest.mark.parametrize("event_type", SAMPLE_EVENT_TYPES)
def test_each_sample_is_a_real_event_of_its_type(event_type: str) -> None:
    sample = sample_event(event_type)
    event = construct_event(sample.body, compute_signature(sample.body, SECRET), SECRET)
    assert (event.id, event.type, event.livemode) == (sample.id, event_type, False)
    assert event.id.startswith("evt_")
    applied = event_type in ("discount.applied", "discount.expired")
    model = ching_async.AppliedDiscount if applied else MODELS[event_type.partition(".")[0]]
    assert isinstance(event.data, model)
    assert event.raw["data"] == sample.data
    if event_type in STATUS:
        assert sample.data["status"] == STATUS[event_type]
    if event_type == "subscription.updated":
        assert sample.data["previous_status"] == "active"
    if event_type == "customer.deleted":
        assert sample.data == {"id": sample.data["id"], "object": "customer", "deleted": True}
    assert sample_event(event_type).id != sample.id  # new ids each time


def test_an_unknown_type_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(
        ValueError, match=r"no sample for event type 'invoice\.paid'.*charge\.succeeded"
    ):
        sample_event("invoice.paid")


@asynccontextmanager
async def verifying_receiver(received: list[ching_async.Event]) -> AsyncIterator[str]:
    """The URL of a webhook endpoint that verifies with SECRET what it receives."""

    async def on_event(event: ching_async.Event) -> None:
        received.append(event)

    app = web.Application()
    app.router.add_post("/hooks", aiohttp_handler(SECRET, on_event))
    async with serving(app) as url:
        yield url + "/hooks"


async def test_trigger_delivers_every_type_signed_to_a_verifying_receiver() -> None:
    received: list[ching_async.Event] = []
    async with verifying_receiver(received) as url:
        for event_type in SAMPLE_EVENT_TYPES:
            event, delivery = await trigger_event(event_type, url, SECRET)
            assert (delivery.ok, delivery.status, delivery.event_id) == (True, 200, event.id)
        _, refused = await trigger_event("charge.succeeded", url, "whsec_other")
    assert [e.type for e in received] == list(SAMPLE_EVENT_TYPES)
    assert (refused.ok, refused.status) == (False, 400)  # the receiver checked the signature


@pytest.mark.parametrize("secret", [None, b"whsec_bytes", ""])
async def test_trigger_wants_the_endpoint_secret_and_sends_nothing_without(secret: Any) -> None:
    received: list[ching_async.Event] = []
    async with verifying_receiver(received) as url:
        with pytest.raises(ching_async.InvalidParameterError, match="secret must be the endpoint"):
            await trigger_event("charge.succeeded", url, secret)
    assert received == []


async def test_trigger_reports_an_endpoint_that_does_not_answer() -> None:
    app = web.Application()
    async with serving(app) as url:
        pass  # the port is free again: nothing listens there
    _, delivery = await trigger_event("charge.succeeded", url + "/hooks", SECRET)
    assert (delivery.ok, delivery.status) == (False, None)
    assert delivery.error is not None
    with pytest.raises(ValueError, match="url"):
        await trigger_event("charge.succeeded", "ftp://example.com/hooks", SECRET)
