"""Issue 22's fidelity fixes for charges: the statuses and the `expired`
cancellation reason the API documents, and the issue paths it spells two ways."""

from __future__ import annotations

from datetime import timedelta

import pytest

import ching_async
from ching_async import CancellationReason, Charge, ChargeStatus
from ching_async.testing import FakeChing, MockTransport, envelope_response
from ching_async.webhooks import compute_signature, construct_event
from tests._support.fake_client import client_for, sent

KEY = "ck_test_" + "ab" * 32
CHARGE = {"id": "ch_1", "amount": 4990, "status": "succeeded", "currency": "ils"}


@pytest.mark.parametrize(
    ("wire", "member"),
    [
        ("pending", ChargeStatus.PENDING),
        ("processing", ChargeStatus.PROCESSING),
        ("succeeded", ChargeStatus.SUCCEEDED),
        ("requires_capture", ChargeStatus.REQUIRES_CAPTURE),
    ],
)
async def test_every_documented_status_decodes_to_its_member(
    wire: str, member: ChargeStatus
) -> None:
    transport = MockTransport(lambda r: envelope_response(r, {**CHARGE, "status": wire}))
    async with ching_async.Client(KEY, transport=transport) as client:
        charge = await client.charges.retrieve("ch_1")
    assert charge.status is member
    assert charge.to_dict()["status"] == wire


async def test_expired_is_read_in_answers_and_events() -> None:
    expired = {**CHARGE, "status": "canceled", "cancellation_reason": "expired"}
    transport = MockTransport(lambda r: envelope_response(r, expired))
    async with ching_async.Client(KEY, transport=transport) as client:
        charge = await client.charges.retrieve("ch_1")
    assert charge.cancellation_reason is CancellationReason.EXPIRED
    body = b'{"id":"evt_1","type":"charge.canceled","data":{"id":"ch_1","amount":1,'
    body += b'"status":"canceled","cancellation_reason":"expired"}}'
    event = construct_event(body, compute_signature(body, "whsec_x"), "whsec_x")
    assert isinstance(event.data, Charge)
    assert event.data.cancellation_reason is CancellationReason.EXPIRED


@pytest.mark.parametrize("reason", ["expired", CancellationReason.EXPIRED])
async def test_expired_is_not_a_reason_a_request_may_give(reason: str) -> None:
    transport = MockTransport(lambda r: envelope_response(r, CHARGE))
    async with ching_async.Client(KEY, transport=transport) as client:
        with pytest.raises(ching_async.InvalidParameterError, match="cancellation_reason") as err:
            await client.charges.cancel("ch_1", cancellation_reason=reason)
    assert "expired" not in str(err.value).split("got")[0]  # not offered as a choice
    assert transport.requests() == []


async def test_the_fake_sweep_cancels_expired_holds_with_reason_expired() -> None:
    async with FakeChing(webhook_delivery="manual") as fake:
        customer = fake.add_customer(name="Tal")
        held = fake.add_charge(customer.id, amount=5000, capture_method="manual")
        fresh = fake.add_charge(customer.id, amount=100, capture_method="manual")
        fake.add_webhook_endpoint("http://127.0.0.1:9/hooks", events=["charge.canceled"])
        assert fake.expire_authorizations() == []  # not yet
        fake.advance(timedelta(days=7))
        fresh.capturable_until = fake.now() + timedelta(days=1)
        assert [c.id for c in fake.expire_authorizations()] == [held.id]
        async with client_for(fake) as client:
            charge = await client.charges.retrieve(held.id)
            with pytest.raises(ching_async.BadRequestError) as caught:
                await client.charges.capture(held.id)
        assert (charge.status, charge.cancellation_reason) == (
            ChargeStatus.CANCELED,
            CancellationReason.EXPIRED,
        )
        assert caught.value.code == "charge_not_capturable"
        assert fake.charge(fresh.id).status == "requires_capture"
        [event] = fake.webhook_events()
        assert (event.type, event.data["cancellation_reason"]) == ("charge.canceled", "expired")
        assert len(sent(fake, "GET", "/charges/{id}")) == 1


@pytest.mark.parametrize(
    ("issues", "fields"),
    [
        ([{"path": ["amount"], "message": "m"}], ("amount",)),  # DOCS:errors
        ([{"path": "amount", "message": "m"}], ("amount",)),  # SKILL / SKILL-EP
        (
            [{"path": ["installments", "count"]}, {"path": "currency"}],
            ("installments.count", "currency"),
        ),
        ([{"path": ["line_items", 0, "name"]}], ("line_items.0.name",)),
        ([{"message": "no path"}, {"path": None}, {"path": []}, {"path": ""}], ()),
        ([{"path": 5}], ("5",)),
    ],
)
def test_issue_paths_read_the_same_as_a_list_or_a_string(
    issues: list[dict[str, object]], fields: tuple[str, ...]
) -> None:
    error = ching_async.UnprocessableEntityError("bad", status=422, issues=issues)
    assert error.fields == fields
    assert error.issues == tuple(issues)  # kept as the server sent them
