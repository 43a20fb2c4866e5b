"""Products, prices and discounts in the fake: documented shapes, modes, seeding
helpers checked like requests, migrations on the clock, lookups for checkout."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from ching_async.testing import FakeApiError, FakeChing
from tests._support.catalog import GIF

from .conftest import Api

PRODUCT_FIELDS = {"id", "object", "name", "description", "image_url", "features", "active",
                  "unlisted", "metadata", "livemode", "created"}  # fmt: skip
PRICE_FIELDS = {"id", "object", "product", "currency", "unit_amount", "tax_mode", "type",
                "recurring", "active", "metadata", "livemode", "created"}  # fmt: skip
DISCOUNT_FIELDS = {
    "id", "object", "name", "redemption", "code", "target_type", "targets", "value_type",
    "value", "value_tax_mode", "currency", "duration", "duration_charges", "duration_until",
    "active_from", "active_until", "max_redemptions", "max_redemptions_per_customer",
    "times_redeemed", "active", "archived", "metadata", "livemode", "created",
}  # fmt: skip


async def test_objects_have_the_documented_shapes(api: Api) -> None:
    status, product = await api.post("/products", {"name": "Pro", "features": [{"title": "SSO"}]})
    assert status == 200
    assert set(product["data"]) == PRODUCT_FIELDS
    assert product["data"]["features"] == [{"title": "SSO", "subtitle": None}]
    body = {"product": product["data"]["id"], "unit_amount": 0, "type": "recurring",
            "recurring": {"interval": "week"}}  # fmt: skip
    status, price = await api.post("/prices", body)
    assert set(price["data"]) == PRICE_FIELDS
    assert price["data"]["recurring"] == {
        "interval": "week",
        "interval_count": 1,
        "trial_period_days": None,
    }
    assert (price["data"]["currency"], price["data"]["tax_mode"]) == ("ils", "inclusive")
    rule = {"name": "Ten", "redemption": "code", "code": "ten", "target_type": "order",
            "value_type": "override", "value": 0, "duration": "forever"}  # fmt: skip
    status, discount = await api.post("/discounts", rule)
    assert set(discount["data"]) == DISCOUNT_FIELDS
    assert discount["data"]["code"] == "TEN"
    assert (discount["data"]["value_tax_mode"], discount["data"]["currency"]) == (
        "inclusive",
        "ils",
    )
    status, image = await api.post(
        "/products/upload_image",
        {"content": base64.b64encode(GIF).decode(), "content_type": "image/gif"},
    )
    assert status == 200
    assert image["data"]["url"].endswith(".gif")


async def test_lists_are_per_mode(api: Api, fake: FakeChing) -> None:
    fake.add_product(name="Live", livemode=True)
    test = fake.add_product(name="Test")
    live_rule = fake.add_discount(livemode=True)
    status, products = await api.get("/products")
    assert (status, [p["id"] for p in products["data"]]) == (200, [test.id])
    status, discounts = await api.get("/discounts")
    assert (status, discounts["data"]) == (200, [])
    assert fake.discounts_with_code("test", livemode=True) == [live_rule]
    assert fake.discounts_with_code("TEST") == []


async def test_a_target_of_the_other_mode_is_not_found(api: Api, fake: FakeChing) -> None:
    live_price = fake.add_price(fake.add_product(livemode=True).id, livemode=True)
    rule = {"name": "X", "redemption": "automatic", "target_type": "prices",
            "targets": [live_price.id], "value_type": "amount", "value": 100,
            "duration": "once"}  # fmt: skip
    status, payload = await api.post("/discounts", rule)
    assert (status, payload["error"]["code"]) == (400, "target_not_found")


def test_seeding_helpers_check_what_the_api_checks(fake: FakeChing) -> None:
    with pytest.raises(FakeApiError) as caught:
        fake.add_product(name="", image_url="http://insecure/a.png")
    assert [i.path for i in caught.value.issues] == [("name",), ("image_url",)]
    with pytest.raises(FakeApiError, match="recurring"):
        fake.add_price(fake.add_product().id, type="recurring")
    with pytest.raises(FakeApiError, match="Percent is in basis points"):
        fake.add_discount(value=20_000)
    with pytest.raises(FakeApiError) as missing:
        fake.add_discount(target_type="prices", targets=["price_missing"])
    assert missing.value.code == "target_not_found"
    assert fake.discounts() == []


def test_codes_are_found_in_any_case_newest_first_archived_left_out(fake: FakeChing) -> None:
    first = fake.add_discount(code="launch")
    second = fake.add_discount(code="LAUNCH", name="Second rule, same code")
    fake.add_discount(code="OTHER")
    assert fake.discounts_with_code("Launch") == [second, first]
    fake.ledger.archive_discount(second.id)
    assert fake.discounts_with_code("LAUNCH") == [first]


def test_migrations_apply_on_the_clock_for_lists_too(fake: FakeChing) -> None:
    product = fake.add_product().id
    price = fake.add_price(product, unit_amount=100)
    sent = {"apply_mode": "scheduled", "effective_date": fake.now() + timedelta(hours=1),
            "unit_amount": 200, "metadata": {"v": "2"}}  # fmt: skip
    fake.ledger.update_price(price.id, sent)
    assert [p.unit_amount for p in fake.ledger.list_prices(False, product, "true")] == [100]
    fake.advance(timedelta(hours=2))
    [listed] = fake.ledger.list_prices(False, product, "true")
    assert (listed.unit_amount, listed.metadata) == (200, {"v": "2"})
    assert fake.prices(product) == [listed]
    assert fake.price(price.id).pending_migration is None


async def test_trial_days_on_a_one_time_price_are_refused(api: Api, fake: FakeChing) -> None:
    price = fake.add_price(fake.add_product().id)
    status, payload = await api.post(
        f"/prices/{price.id}", {"apply_mode": "now", "trial_period_days": 3}
    )
    assert (status, payload["error"]["issues"][0]["path"]) == (422, ["trial_period_days"])


def test_a_redemption_row_without_a_charge(fake: FakeChing) -> None:
    rule = fake.add_discount()
    customer = fake.add_customer(name="Noa", email=None)
    row = fake.add_redemption(rule.id, customer=customer.id, amount_saved=0, subscription="sub_1")
    assert row.to_json() == {
        "customer": customer.id,
        "customer_name": "Noa",
        "customer_email": None,
        "subscription": "sub_1",
        "charge": None,
        "charge_amount": None,
        "currency": "ils",
        "amount_saved": 0,
        "created": row.to_json()["created"],
    }
    assert fake.discount(rule.id).times_redeemed == 1
