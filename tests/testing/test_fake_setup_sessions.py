"""Setup sessions: create, retrieve, hosted-page completion, cancel and expiry."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from ching_async.testing import FakeApiError, FakeChing

from .conftest import Api, Seeded

URLS = {"success_url": "https://example.com/billing/return", "cancel_url": "https://example.com/b"}


async def _create(api: Api, customer: str, **extra: Any) -> dict[str, Any]:
    status, payload = await api.post("/setup_sessions", {"customer": customer, **URLS, **extra})
    assert status == 200, payload
    data: dict[str, Any] = payload["data"]
    return data


async def test_create_is_pending_with_hosted_url_and_24h_expiry(
    api: Api, fake: FakeChing, seeded: Seeded
) -> None:
    # On to the next whole second (the clock only moves forward): exact text.
    fake.advance(timedelta(seconds=1, microseconds=-fake.now().microsecond))
    created_at = fake.now()
    data = await _create(api, seeded.customer, metadata={"plan": "pro"})
    assert data == {
        "id": data["id"],
        "object": "setup_session",
        "customer": seeded.customer,
        "status": "pending",
        "url": f"https://secured.ching.co.il/setup/{data['id']}",
        "success_url": URLS["success_url"],
        "cancel_url": URLS["cancel_url"],
        "metadata": {"plan": "pro"},
        "livemode": False,
        "expires_at": data["expires_at"],
        "created": data["created"],
    }
    # The clock keeps running during the request: the stamp is the fake's own
    # time, in the documented millisecond format, and expiry is exactly 24 h on.
    created = datetime.strptime(data["created"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    expires = datetime.strptime(data["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", data["created"])
    assert timedelta(0) <= created - created_at.replace(microsecond=0) < timedelta(seconds=1)
    assert expires - created == timedelta(hours=24)
    assert data["id"].startswith("seti_")
    status, fetched = await api.get(f"/setup_sessions/{data['id']}")
    assert (status, fetched["data"]) == (200, data)


@pytest.mark.parametrize(
    ("body", "paths"),
    [
        ({}, [["customer"], ["success_url"], ["cancel_url"]]),
        ({"customer": "cus_x", "success_url": 1, "cancel_url": "u"}, [["success_url"]]),
        ({"customer": "cus_x", "success_url": "u"}, [["cancel_url"]]),
        ({"customer": "cus_x", **URLS, "metadata": "m"}, [["metadata"]]),
    ],
)
async def test_create_validates_fields(
    api: Api, body: dict[str, Any], paths: list[list[str]]
) -> None:
    status, payload = await api.post("/setup_sessions", body)
    assert status == 422
    assert payload["error"]["code"] == "INVALID_FIELD"
    assert [issue["path"] for issue in payload["error"]["issues"]] == paths


async def test_completing_attaches_a_card_that_can_be_charged(
    api: Api, fake: FakeChing, seeded: Seeded
) -> None:
    session = await _create(api, seeded.customer)
    card = fake.complete_setup_session(session["id"], brand="mastercard", last4="5100")
    assert card.customer == seeded.customer
    assert card.id.startswith("pm_")
    _, fetched = await api.get(f"/setup_sessions/{session['id']}")
    assert fetched["data"]["status"] == "succeeded"
    status, charge = await api.post("/charges", seeded.charge_body(payment_method=card.id))
    assert status == 200
    assert (charge["data"]["card_brand"], charge["data"]["card_last4"]) == ("mastercard", "5100")


async def test_cancel_answers_id_and_status_only(api: Api, seeded: Seeded) -> None:
    session = await _create(api, seeded.customer)
    status, payload = await api.post(f"/setup_sessions/{session['id']}/cancel")
    assert (status, payload) == (
        200,
        {"success": True, "data": {"id": session["id"], "status": "canceled"}},
    )
    _, fetched = await api.get(f"/setup_sessions/{session['id']}")
    assert fetched["data"]["status"] == "canceled"


async def test_cancel_of_a_finished_session_is_not_pending(
    api: Api, fake: FakeChing, seeded: Seeded
) -> None:
    completed = await _create(api, seeded.customer)
    fake.complete_setup_session(completed["id"])
    canceled = await _create(api, seeded.customer)
    await api.post(f"/setup_sessions/{canceled['id']}/cancel")
    for session in (completed, canceled):
        status, payload = await api.post(f"/setup_sessions/{session['id']}/cancel")
        assert (status, payload["error"]["code"]) == (400, "SESSION_NOT_PENDING")
    with pytest.raises(FakeApiError) as raised:
        fake.complete_setup_session(canceled["id"])
    assert (raised.value.status, raised.value.code) == (400, "SESSION_NOT_PENDING")


async def test_sessions_expire_after_24_hours(api: Api, fake: FakeChing, seeded: Seeded) -> None:
    session = await _create(api, seeded.customer)
    fake.advance(timedelta(hours=23, minutes=59))
    _, fetched = await api.get(f"/setup_sessions/{session['id']}")
    assert fetched["data"]["status"] == "pending"
    fake.advance(timedelta(minutes=1))
    _, fetched = await api.get(f"/setup_sessions/{session['id']}")
    assert fetched["data"]["status"] == "expired"
    status, payload = await api.post(f"/setup_sessions/{session['id']}/cancel")
    assert (status, payload["error"]["code"]) == (400, "SESSION_EXPIRED")
    with pytest.raises(FakeApiError) as raised:
        fake.complete_setup_session(session["id"])
    assert (raised.value.status, raised.value.code) == (400, "SESSION_EXPIRED")


async def test_injected_clock_drives_expiry() -> None:
    now = [datetime(2026, 4, 19, 9, 12, 43, tzinfo=UTC)]
    async with FakeChing(clock=lambda: now[0]) as fake:
        customer = fake.add_customer(name="Tal")
        headers = {"Authorization": f"Bearer {fake.api_key}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            api = Api(session, fake.url)
            data = await _create(api, customer.id)
            assert (data["created"], data["expires_at"]) == (
                "2026-04-19T09:12:43.000Z",
                "2026-04-20T09:12:43.000Z",
            )
            now[0] += timedelta(days=1)
            _, fetched = await api.get(f"/setup_sessions/{data['id']}")
            assert fetched["data"]["status"] == "expired"


async def test_naive_clock_is_rejected() -> None:
    fake = FakeChing(clock=datetime.now)
    with pytest.raises(ValueError, match="timezone-aware"):
        fake.now()


async def test_live_mode_sessions_start_in_requires_action(fake: FakeChing, seeded: Seeded) -> None:
    headers = {"Authorization": f"Bearer {fake.live_api_key}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        api = Api(session, fake.url)
        data = await _create(api, seeded.customer)
        assert (data["status"], data["livemode"]) == ("requires_action", True)
        card = fake.complete_setup_session(data["id"])
        assert card.livemode is True
