"""Charges: create, validation, declines, list, retrieve, capture and cancel."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ching_async.testing import FakeChing

from .conftest import Api, Seeded

DOCUMENTED_FIELDS = {
    "id", "object", "customer", "payment_method", "amount", "amount_captured", "currency",
    "status", "description", "installments", "captured", "capture_method", "authorized_at",
    "capturable_until", "captured_at", "cancellation_reason", "refunded_amount",
    "failure_code", "failure_message", "document", "metadata", "livemode", "created",
}  # fmt: skip
CLI_FIELDS = {"card_brand", "card_last4", "wallet_method"}


async def test_create_charge_succeeds_with_the_documented_shape(
    api: Api, seeded: Seeded, fake: FakeChing
) -> None:
    body = seeded.charge_body(
        amount=9900,
        currency="ILS",
        description="Pro plan - April",
        installments={"count": 3},
        metadata={"order": "A-1", "nested": {"x": [1, 2]}},
    )
    status, payload = await api.post("/charges", body)
    assert status == 200
    assert payload["success"] is True
    data = payload["data"]
    assert set(data) == DOCUMENTED_FIELDS | CLI_FIELDS
    assert data | {"id": "-", "document": "-", "created": "-"} == {
        "id": "-",
        "object": "charge",
        "customer": seeded.customer,
        "payment_method": seeded.card,
        "amount": 9900,
        "amount_captured": 9900,
        "currency": "ils",
        "status": "succeeded",
        "description": "Pro plan - April",
        "installments": {"count": 3},
        "captured": True,
        "capture_method": "automatic",
        "authorized_at": data["created"],
        "capturable_until": None,
        "captured_at": data["created"],
        "cancellation_reason": None,
        "refunded_amount": 0,
        "failure_code": None,
        "failure_message": None,
        "document": "-",
        "metadata": {"order": "A-1", "nested": {"x": [1, 2]}},
        "livemode": False,
        "created": "-",
        "card_brand": "visa",
        "card_last4": "4242",
        "wallet_method": None,
    }
    assert fake.charge(data["id"]).amount == 9900


async def test_optional_fields_default(api: Api, seeded: Seeded) -> None:
    _, payload = await api.post("/charges", seeded.charge_body(installments={}))
    data = payload["data"]
    assert (data["currency"], data["installments"], data["metadata"]) == ("ils", {"count": 1}, {})
    assert data["description"] is None


def _issues(payload: dict[str, Any]) -> list[Any]:
    assert payload["success"] is False
    assert payload["error"]["code"] == "INVALID_FIELD"
    assert payload["error"]["status"] == 422
    return [issue["path"] for issue in payload["error"]["issues"]]


@pytest.mark.parametrize(
    ("override", "path"),
    [
        ({"amount": 0}, ["amount"]),
        ({"amount": -5}, ["amount"]),
        ({"amount": 49.9}, ["amount"]),
        ({"amount": 100.0}, ["amount"]),
        ({"amount": "4990"}, ["amount"]),
        ({"amount": True}, ["amount"]),
        ({"amount": None}, ["amount"]),
        ({"customer": 5}, ["customer"]),
        ({"payment_method": ["pm"]}, ["payment_method"]),
        ({"currency": "shekel"}, ["currency"]),
        ({"currency": "i1s"}, ["currency"]),
        ({"currency": 376}, ["currency"]),
        ({"installments": 3}, ["installments"]),
        ({"installments": {"count": 0}}, ["installments", "count"]),
        ({"installments": {"count": "2"}}, ["installments", "count"]),
        ({"installments": {"count": 1.5}}, ["installments", "count"]),
        ({"metadata": "order=1"}, ["metadata"]),
        ({"metadata": [1]}, ["metadata"]),
        ({"description": 12}, ["description"]),
    ],
)
async def test_invalid_fields_get_422_with_issues(
    api: Api, seeded: Seeded, fake: FakeChing, override: dict[str, Any], path: list[str]
) -> None:
    status, payload = await api.post("/charges", seeded.charge_body(**override))
    assert status == 422
    assert _issues(payload) == [path]
    assert payload["error"]["issues"][0]["message"]
    assert fake.charges() == []


async def test_all_issues_are_reported_at_once(api: Api) -> None:
    status, payload = await api.post("/charges", {"amount": "x", "metadata": 1})
    assert status == 422
    assert _issues(payload) == [["customer"], ["payment_method"], ["amount"], ["metadata"]]


async def test_unknown_customer_is_404(api: Api, seeded: Seeded) -> None:
    status, payload = await api.post("/charges", seeded.charge_body(customer="cus_nobody"))
    assert (status, payload["error"]["code"]) == (404, "NOT_FOUND")


async def test_unknown_payment_method_is_404(api: Api, seeded: Seeded) -> None:
    status, payload = await api.post("/charges", seeded.charge_body(payment_method="pm_none"))
    assert (status, payload["error"]["code"]) == (404, "NOT_FOUND")


async def test_payment_method_of_another_customer_is_422(
    api: Api, seeded: Seeded, fake: FakeChing
) -> None:
    other = fake.add_customer(name="Other")
    foreign_card = fake.add_payment_method(other.id).id
    status, payload = await api.post("/charges", seeded.charge_body(payment_method=foreign_card))
    assert status == 422
    assert _issues(payload) == [["payment_method"]]


async def test_declined_card_is_402_and_stores_a_failed_charge(
    api: Api, seeded: Seeded, fake: FakeChing
) -> None:
    card = fake.add_payment_method(seeded.customer, declines=True, brand="mastercard", last4="0002")
    status, payload = await api.post("/charges", seeded.charge_body(payment_method=card.id))
    assert status == 402
    assert payload["success"] is False
    assert payload["error"]["code"] == "CHARGE_FAILED"
    assert payload["error"]["status"] == 402
    [failed] = fake.charges()
    assert failed.status == "failed"
    assert (failed.failure_code, failed.failure_message) == (
        "card_declined",
        "The card was declined.",
    )
    assert (failed.card_brand, failed.card_last4, failed.document) == ("mastercard", "0002", None)
    status, fetched = await api.get(f"/charges/{failed.id}")
    assert status == 200
    assert fetched["data"]["status"] == "failed"
    assert fetched["data"]["captured"] is False


async def test_list_is_newest_first_capped_at_100_with_customer_names(
    api: Api, fake: FakeChing, seeded: Seeded
) -> None:
    for amount in range(1, 131):
        fake.add_charge(seeded.customer, seeded.card, amount=amount)
    status, payload = await api.get("/charges")
    assert status == 200
    amounts = [item["amount"] for item in payload["data"]]
    assert amounts == list(range(130, 30, -1))
    assert {item["customer_name"] for item in payload["data"]} == {"Tal Levi"}


async def test_list_filters_by_customer(api: Api, fake: FakeChing, seeded: Seeded) -> None:
    other = fake.add_customer(name="Dana")
    mine = [fake.add_charge(seeded.customer, amount=a).id for a in (1, 2)]
    theirs = fake.add_charge(other.id, amount=3).id
    _, payload = await api.get("/charges", params={"customer": seeded.customer})
    assert [item["id"] for item in payload["data"]] == mine[::-1]
    _, payload = await api.get("/charges", params={"customer": other.id})
    assert [(item["id"], item["customer_name"]) for item in payload["data"]] == [(theirs, "Dana")]
    _, payload = await api.get("/charges", params={"customer": "cus_unknown"})
    assert payload["data"] == []


async def test_list_items_are_charges_plus_customer_name(api: Api, seeded: Seeded) -> None:
    _, created = await api.post("/charges", seeded.charge_body())
    _, listed = await api.get("/charges")
    assert listed["data"] == [created["data"] | {"customer_name": "Tal Levi"}]


# -- manual capture ---------------------------------------------------------------------


def _manual(fake: FakeChing, seeded: Seeded, amount: int = 5000) -> str:
    return fake.add_charge(seeded.customer, amount=amount, capture_method="manual").id


async def test_add_charge_manual_is_requires_capture_for_seven_days(
    api: Api, fake: FakeChing, seeded: Seeded
) -> None:
    charge = fake.charge(_manual(fake, seeded))
    assert charge.status == "requires_capture"
    assert charge.authorized_at is not None
    assert charge.capturable_until == charge.authorized_at + timedelta(days=7)
    _, payload = await api.get(f"/charges/{charge.id}")
    data = payload["data"]
    assert (data["captured"], data["amount_captured"], data["document"]) == (False, None, None)
    assert data["capture_method"] == "manual"


async def test_full_capture(api: Api, fake: FakeChing, seeded: Seeded) -> None:
    charge_id = _manual(fake, seeded)
    status, payload = await api.post(f"/charges/{charge_id}/capture")
    assert status == 200
    data = payload["data"]
    assert (data["status"], data["captured"], data["amount_captured"]) == ("succeeded", True, 5000)
    assert data["captured_at"] is not None
    assert data["document"].startswith("doc_")


async def test_partial_capture(api: Api, fake: FakeChing, seeded: Seeded) -> None:
    charge_id = _manual(fake, seeded)
    status, payload = await api.post(f"/charges/{charge_id}/capture", {"amount": 3200})
    assert status == 200
    assert (payload["data"]["amount"], payload["data"]["amount_captured"]) == (5000, 3200)


async def test_capture_more_than_authorized_is_400(
    api: Api, fake: FakeChing, seeded: Seeded
) -> None:
    charge_id = _manual(fake, seeded)
    status, payload = await api.post(f"/charges/{charge_id}/capture", {"amount": 5001})
    assert (status, payload["error"]["code"]) == (400, "capture_amount_too_large")
    assert fake.charge(charge_id).status == "requires_capture"


@pytest.mark.parametrize(
    ("action", "body"),
    [
        *[("capture", {"amount": amount}) for amount in (0, -1, 1.5, "10", True)],
        ("cancel", {"cancellation_reason": "bored"}),
    ],
)
async def test_invalid_capture_or_cancel_is_422_and_changes_nothing(
    api: Api, fake: FakeChing, seeded: Seeded, action: str, body: dict[str, Any]
) -> None:
    """Capture's ``amount`` must be a positive integer; cancel's reason a documented one."""
    charge_id = _manual(fake, seeded)
    status, payload = await api.post(f"/charges/{charge_id}/{action}", body)
    assert status == 422
    assert _issues(payload) == [list(body)]
    assert fake.charge(charge_id).status == "requires_capture"


async def test_capture_after_the_window_is_expired(
    api: Api, fake: FakeChing, seeded: Seeded
) -> None:
    charge_id = _manual(fake, seeded)
    fake.advance(timedelta(days=7, seconds=1))
    status, payload = await api.post(f"/charges/{charge_id}/capture")
    assert (status, payload["error"]["code"]) == (400, "charge_authorization_expired")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (None, "requested_by_customer"),
        ({}, "requested_by_customer"),
        ({"cancellation_reason": "fraudulent"}, "fraudulent"),
        ({"cancellation_reason": "abandoned"}, "abandoned"),
    ],
)
async def test_cancel_requires_capture_charge(
    api: Api, fake: FakeChing, seeded: Seeded, body: Any, reason: str
) -> None:
    charge_id = _manual(fake, seeded)
    status, payload = await api.post(f"/charges/{charge_id}/cancel", body)
    assert status == 200
    data = payload["data"]
    assert (data["status"], data["cancellation_reason"]) == ("canceled", reason)
    assert (data["captured"], data["amount_captured"]) == (False, None)


@pytest.mark.parametrize(
    ("action", "code"), [("capture", "charge_not_capturable"), ("cancel", "charge_not_cancelable")]
)
@pytest.mark.parametrize("state", ["succeeded", "canceled"])
async def test_only_a_charge_requiring_capture_can_be_captured_or_canceled(
    api: Api, fake: FakeChing, seeded: Seeded, state: str, action: str, code: str
) -> None:
    if state == "succeeded":
        charge_id = fake.add_charge(seeded.customer).id  # captured as it is created
    else:
        charge_id = _manual(fake, seeded)
        await api.post(f"/charges/{charge_id}/cancel")
    status, payload = await api.post(f"/charges/{charge_id}/{action}")
    assert (status, payload["error"]["code"]) == (400, code)
    assert fake.charge(charge_id).status == state


def test_add_charge_validates_amount(fake: FakeChing, seeded: Seeded) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        fake.add_charge(seeded.customer, amount=0)


def test_add_charge_attaches_a_card_when_the_customer_has_none(fake: FakeChing) -> None:
    customer = fake.add_customer(name="No card")
    charge = fake.add_charge(customer.id)
    assert charge.status == "succeeded"
    assert charge.payment_method.startswith("pm_")


def test_add_charge_on_a_declining_card_stores_a_failed_charge(
    fake: FakeChing, seeded: Seeded
) -> None:
    card = fake.add_payment_method(seeded.customer, declines=True)
    charge = fake.add_charge(seeded.customer, card.id)
    assert (charge.status, charge.failure_code) == ("failed", "card_declined")
