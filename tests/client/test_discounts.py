"""discounts.*: the wire of each endpoint, the rules between fields, error codes, decoding."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

import ching_async
from ching_async import IDEMPOTENCY_METADATA_KEY as MARKER
from ching_async import (
    AppliedDiscount,
    AppliedDiscountStatus,
    Discount,
    DiscountDuration,
    DiscountRedemption,
    DiscountTargetType,
    DiscountValueType,
    Redemption,
)
from ching_async.testing import FakeChing
from tests._support.catalog import (
    APPLIED_DISCOUNT_EVENT,
    DISCOUNT,
    LAUNCH,
    PRICE,
    PRODUCT,
    REDEMPTIONS,
)
from tests._support.fake_client import raw_call, sent
from tests._support.scripted import Script, envelope, error


@pytest.fixture
def price(fake: FakeChing) -> str:
    return fake.add_price(fake.add_product(name="Pro").id, unit_amount=9900).id


# What each create sends and returns: tests/client/test_create_bodies.py.
async def test_a_code_rule_is_found_by_its_code_in_any_case(
    fake: FakeChing, ching: ching_async.Client, price: str
) -> None:
    discount = await ching.discounts.create(
        name="Launch",
        redemption="code",
        code="launch-26",
        target_type="prices",
        targets=[price],
        value_type="percent",
        value=2000,
        duration="once",
    )
    assert fake.discounts_with_code("Launch-26") == [fake.discount(discount.id)]


async def test_update_replace_targets_archive(
    fake: FakeChing, ching: ching_async.Client, price: str
) -> None:
    other = fake.add_price(fake.price(price).product, unit_amount=100).id
    rule = fake.add_discount(target_type="prices", targets=[price])
    updated = await ching.discounts.update(rule.id, name="Spring", max_redemptions=10)
    retargeted = await ching.discounts.replace_targets(rule.id, targets=[other])
    archived = await ching.discounts.archive(rule.id)
    again = await ching.discounts.archive(rule.id)
    assert [(r.method, r.path, r.body) for r in fake.requests()] == [
        ("POST", f"/discounts/{rule.id}", {"name": "Spring", "max_redemptions": 10}),
        ("POST", f"/discounts/{rule.id}/targets", {"targets": [other]}),
        ("POST", f"/discounts/{rule.id}/archive", None),
        ("POST", f"/discounts/{rule.id}/archive", None),
    ]
    assert (updated.name, updated.max_redemptions) == ("Spring", 10)
    assert retargeted.targets == [other]
    assert (archived.archived, archived.active) == (True, False)
    assert again == archived


async def test_retrieve_list_and_redemptions(
    fake: FakeChing, ching: ching_async.Client, price: str
) -> None:
    rule = fake.add_discount(code="SPRING")
    later = fake.add_discount(code="SUMMER")
    assert (await ching.discounts.retrieve(rule.id)).code == "SPRING"
    assert [d.id for d in await ching.discounts.list()] == [later.id, rule.id]
    assert await ching.discounts.redemptions(rule.id) == ching_async.Redemptions()
    customer = fake.add_customer(name="Tal Levi", email="tal@example.com")
    charge = fake.add_charge(customer.id, amount=7920)
    fake.add_redemption(rule.id, customer=customer.id, charge=charge.id, amount_saved=1980)
    used = await ching.discounts.redemptions(rule.id)
    assert used.redemptions == [
        Redemption(
            customer=customer.id,
            customer_name="Tal Levi",
            customer_email="tal@example.com",
            subscription=None,
            charge=charge.id,
            charge_amount=7920,
            currency="ils",
            amount_saved=1980,
            created=used.redemptions[0].created,
        )
    ]
    assert used.applied_discounts == []
    assert (await ching.discounts.retrieve(rule.id)).times_redeemed == 1
    assert [r.path for r in sent(fake, "GET", "/discounts/{id}/redemptions")] == [
        f"/discounts/{rule.id}/redemptions"
    ] * 2


async def test_documented_error_codes_are_typed(
    fake: FakeChing, ching: ching_async.Client, price: str
) -> None:
    with pytest.raises(ching_async.TargetNotFoundError) as caught:
        await ching.discounts.create(**{**LAUNCH, "target_type": "prices", "targets": ["price_x"]})
    assert (caught.value.status, caught.value.code) == (400, "target_not_found")
    product = fake.price(price).product
    rule = fake.add_discount(target_type="products", targets=[product])
    with pytest.raises(ching_async.TargetNotFoundError):  # a price id on a products rule
        await ching.discounts.replace_targets(rule.id, targets=[price])
    order = fake.add_discount()
    with pytest.raises(ching_async.TargetsNotSupportedError) as unsupported:
        await ching.discounts.replace_targets(order.id, targets=[price])
    assert isinstance(unsupported.value, ching_async.BadRequestError)
    with pytest.raises(ching_async.NotFoundError):
        await ching.discounts.archive("disc_missing")
    assert len(fake.discounts()) == 2


# What `value` is, as each value_type reads it (the messages, escaped for `match`).
PERCENT = re.escape(
    "value is in basis points for value_type='percent': an int from 0 to 10000 (2000 is 20%), got "
)
AMOUNT = re.escape(
    "value is the agorot off for value_type='amount': an int >= 0 (49.90 ILS = 4990), got "
)
OVERRIDE = re.escape(
    "value is the unit price to charge for value_type='override': an int number of agorot >= 0 "
    "(49.90 ILS = 4990), got "
)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 256}, "at most 255"),
        ({"redemption": "coupon"}, "redemption"),
        ({"code": None}, "redemption='code' needs code="),
        ({"redemption": "automatic"}, "code= is for redemption='code' only"),
        ({"code": "no spaces"}, "1-64 letters"),
        ({"code": "X" * 65}, "1-64"),
        ({"code": "קוד"}, "1-64"),
        ({"target_type": "orders"}, "target_type"),
        ({"targets": ["price_1"]}, "takes no targets"),
        ({"target_type": "prices"}, "needs targets"),
        ({"target_type": "prices", "targets": []}, "at least one id"),
        ({"target_type": "prices", "targets": "price_1"}, "list of ids"),
        ({"target_type": "prices", "targets": ["prod_1"]}, "takes price_... ids"),
        ({"target_type": "products", "targets": ["price_1"]}, "takes prod_... ids"),
        ({"value": 10001}, PERCENT + "int 10001$"),
        ({"value": -1}, PERCENT + "int -1$"),
        ({"value": 20.5}, PERCENT + "float 20.5$"),
        ({"value": True}, PERCENT + "bool True$"),
        ({"value_type": "amount", "currency": "ils", "value": -1}, AMOUNT + "int -1$"),
        ({"value_type": "override", "currency": "ils", "value": "4990"}, OVERRIDE + "str '4990'$"),
        ({"value_type": "fixed"}, "value_type"),
        ({"value_tax_mode": "inclusive"}, "value_tax_mode= is for value_type='override'"),
        ({"currency": "ils"}, "currency= is for value_type 'amount' or 'override'"),
        ({"duration": "n_charges"}, "needs duration_charges="),
        ({"duration_charges": 2}, "duration_charges= is for duration='n_charges'"),
        ({"duration": "n_charges", "duration_charges": 0}, "duration_charges"),
        ({"duration": "until_date"}, "needs duration_until="),
        ({"duration_until": "2027-01-01T00:00:00Z"}, "duration_until= is for"),
        (
            {"active_from": "2026-06-01T00:00:00Z", "active_until": "2026-05-01T00:00:00Z"},
            "must be after active_from",
        ),
        ({"max_redemptions": 0}, "max_redemptions"),
        ({"active": "yes"}, "active"),
        ({"metadata": {MARKER: "x"}}, "reserved"),
    ],
)
async def test_create_rejects_bad_arguments_before_sending(
    fake: FakeChing, ching: ching_async.Client, change: dict[str, Any], match: str
) -> None:
    with pytest.raises(ching_async.InvalidParameterError, match=match):
        await ching.discounts.create(**{**LAUNCH, **change})
    assert fake.requests() == []


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda d: d.update("disc_1"), "at least one field"),
        (lambda d: d.update("disc_1", value=5), "unexpected keyword"),
        (lambda d: d.update("disc_1", max_redemptions_per_customer=-1), "per_customer"),
        (
            lambda d: d.update(
                "disc_1", active_from="2026-06-01T00:00:00Z", active_until="2026-06-01T00:00:00Z"
            ),
            "must be after",
        ),
        (lambda d: d.replace_targets("disc_1", targets=[]), "at least one id"),
        (lambda d: d.replace_targets("disc_1", targets=["prod_1", "price_1"]), "all product"),
        (lambda d: d.replace_targets("disc_1", targets=["cus_1"]), "all product"),
        (lambda d: d.archive("disc 1"), "id"),
        (lambda d: d.redemptions(""), "id"),
    ],
)
async def test_other_calls_reject_bad_arguments_before_sending(
    fake: FakeChing, ching: ching_async.Client, call: Any, match: str
) -> None:
    with pytest.raises((ching_async.InvalidParameterError, TypeError), match=match):
        await call(ching.discounts)
    assert fake.requests() == []


@pytest.mark.parametrize(
    ("method", "path", "call"),
    [
        ("POST", "/ching/v1/discounts/disc_1", lambda d: d.update("disc_1", active=False)),
        ("POST", "/ching/v1/discounts/disc_1/archive", lambda d: d.archive("disc_1")),
        (
            "POST",
            "/ching/v1/discounts/disc_1/targets",
            lambda d: d.replace_targets("disc_1", targets=["price_1"]),
        ),
    ],
)
async def test_writes_that_set_state_are_retried_like_a_get(
    scripted: Script, client: ching_async.Client, method: str, path: str, call: Any
) -> None:
    scripted.on(method, path, error(503), envelope(DISCOUNT))
    assert (await call(client.discounts)).id == DISCOUNT["id"]
    seen = scripted.seen_at(method, path)
    assert len(seen) == 2
    assert seen[0].body == seen[1].body


async def test_the_documented_objects_decode(scripted: Script, client: ching_async.Client) -> None:
    resolved = {**DISCOUNT, "targets": [{**PRICE, "object": "price"}, PRODUCT["id"]]}
    scripted.on("GET", "/ching/v1/discounts/" + DISCOUNT["id"], envelope(resolved))
    scripted.on("GET", "/ching/v1/discounts/x/redemptions", envelope(REDEMPTIONS))
    discount = await client.discounts.retrieve(DISCOUNT["id"])
    assert discount.targets == [PRICE["id"], PRODUCT["id"]]
    assert discount.raw["targets"][0]["unit_amount"] == 9900
    assert discount == Discount(
        id=DISCOUNT["id"],
        name="Launch",
        redemption=DiscountRedemption.CODE,
        code="LAUNCH",
        target_type=DiscountTargetType.PRICES,
        targets=[PRICE["id"], PRODUCT["id"]],
        value_type=DiscountValueType.PERCENT,
        value=2000,
        duration=DiscountDuration.N_CHARGES,
        duration_charges=3,
        active_from=datetime(2026, 5, 1, tzinfo=UTC),
        active_until=datetime(2026, 6, 1, tzinfo=UTC),
        max_redemptions=100,
        max_redemptions_per_customer=1,
        times_redeemed=4,
        active=True,
        archived=False,
        metadata={"campaign": "launch"},
        livemode=False,
        created=datetime(2026, 4, 20, 8, tzinfo=UTC),
    )
    used = await client.discounts.redemptions("x")
    assert [r.charge for r in used.redemptions] == ["ch_9mTPfRSDmEOU", None]
    assert used.applied_discounts == [
        AppliedDiscount(
            subscription="sub_4Tg8",
            status=AppliedDiscountStatus.ACTIVE,
            charges_applied=1,
            duration_charges=3,
            started_at=datetime(2026, 5, 2, 10, tzinfo=UTC),
        )
    ]
    assert used.request_info is not None
    assert used.raw == REDEMPTIONS


def test_discount_events_carry_a_rule_or_an_applied_discount() -> None:
    from ching_async._convert import structure

    applied = structure(APPLIED_DISCOUNT_EVENT, ching_async.Event)
    assert applied.data == AppliedDiscount(
        subscription="sub_4Tg8",
        discount_row_id="disc_Lw5n2Cq9Hs",
        livemode=False,
        created=datetime(2026, 5, 2, 10, tzinfo=UTC),
    )
    created = structure(
        {**APPLIED_DISCOUNT_EVENT, "type": "discount.created", "data": DISCOUNT}, ching_async.Event
    )
    assert isinstance(created.data, Discount)
    odd = {**APPLIED_DISCOUNT_EVENT, "data": {"object": ["not", "hashable"]}}
    assert structure(odd, ching_async.Event).data == {"object": ["not", "hashable"]}


# ------------------------------------------------------------- the fake's answers
async def test_the_fake_checks_the_rules_between_fields(fake: FakeChing) -> None:
    body = {
        "name": "",
        "redemption": "automatic",
        "code": "x y",
        "target_type": "prices",
        "value_type": "percent",
        "value": 10001,
        "currency": "ils",
        "duration": "n_charges",
        "duration_until": "2027-01-01T00:00:00Z",
    }
    status, payload = await raw_call(fake, "POST", "/discounts", body)
    assert (status, payload["error"]["code"]) == (422, "INVALID_FIELD")
    assert [i["path"] for i in payload["error"]["issues"]] == [
        ["name"],
        ["code"],
        ["code"],
        ["targets"],
        ["value"],
        ["currency"],
        ["duration_charges"],
        ["duration_until"],
    ]
    status, payload = await raw_call(fake, "POST", "/discounts", {**LAUNCH, "targets": ["p"]})
    assert (status, payload["error"]["code"]) == (400, "targets_not_supported")
    rule = fake.add_discount()
    status, payload = await raw_call(fake, "POST", f"/discounts/{rule.id}", {"value": 1})
    assert (status, payload["error"]["issues"][0]["path"]) == (422, ["value"])
    status, payload = await raw_call(fake, "POST", f"/discounts/{rule.id}/targets", {})
    assert (status, payload["error"]["issues"][0]["path"]) == (422, ["targets"])
    assert len(fake.discounts()) == 1


async def test_the_fake_emits_the_rule_events(fake: FakeChing, ching: ching_async.Client) -> None:
    fake.add_webhook_endpoint("http://127.0.0.1:9/hooks", events=["discount.created",
                              "discount.updated", "discount.deleted"])  # fmt: skip
    rule = await ching.discounts.create(**LAUNCH)
    await ching.discounts.update(rule.id, active=False)
    await ching.discounts.archive(rule.id)
    await ching.discounts.archive(rule.id)
    assert [e.type for e in fake.webhook_events()] == [
        "discount.created",
        "discount.updated",
        "discount.deleted",
    ]
