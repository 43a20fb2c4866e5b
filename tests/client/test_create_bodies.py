"""What each create sends and returns, one row a create: its arguments in,
the body the fake received out (the API's spelling, values normalized,
duplicates dropped, the marker added to an exactly-once create's metadata),
and the typed object that comes back, as the fake stored it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

import ching_async
from ching_async import IDEMPOTENCY_METADATA_KEY as MARKER
from ching_async import Customer, Discount
from ching_async.testing import FakeChing
from tests._support.fake_client import sent


@dataclass(frozen=True)
class Create:
    group: str  # client.<group>.create, received as POST /<group>
    model: type[Any]
    prefix: str  # of the new object's id
    arguments: dict[str, Any]
    # The body is the arguments but for these: the API's spelling (OMITTED
    # drops the argument's own), normalized values, duplicates dropped. A
    # marked create also adds the marker to its metadata.
    sends: dict[str, Any] = field(default_factory=dict)
    returns: dict[str, Any] = field(default_factory=dict)  # attributes of the object back
    marked: bool = False  # exactly-once: the idempotency key goes into metadata


OMITTED: Any = object()


def creates(price: str, product: str) -> dict[str, Create]:
    """The rows, for a price on the fake and its product."""
    return {
        "customer": Create(
            "customers",
            Customer,
            "cus_",
            arguments={
                "name": "Tal Levi",
                "email": "tal@example.com",
                "phone": "054-987-6543",
                "tax_id": "514999874",
                "locale": "he",
                "metadata": {"crm": "42"},
            },
            sends={"tax_id": OMITTED, "taxId": "514999874"},  # the wire's spelling
            returns={
                "name": "Tal Levi",
                "phone": "+972549876543",  # normalized by the server
                "tax_id": "514999874",  # read from the wire's "taxId"
                "metadata": {"crm": "42"},
                "deleted": None,
            },
        ),
        # The docs' rule: only `name` is required (the official CLI asks for an email).
        "customer-name-only": Create(
            "customers",
            Customer,
            "cus_",
            arguments={"name": "Noa Cohen"},
            returns={"name": "Noa Cohen", "email": None, "phone": None},
        ),
        "discount-code-on-prices": Create(
            "discounts",
            Discount,
            "disc_",
            arguments={
                "name": "Launch",
                "redemption": "code",
                "code": "launch-26",
                "target_type": "prices",
                "targets": [price, price],
                "value_type": "percent",
                "value": 2000,
                "duration": "n_charges",
                "duration_charges": 3,
                "active_from": datetime(2026, 5, 1, tzinfo=UTC),
                "active_until": "2026-06-01T00:00:00Z",
                "max_redemptions": 100,
                "max_redemptions_per_customer": 1,
                "active": True,
                "metadata": {"campaign": "launch"},
            },
            sends={
                "code": "LAUNCH-26",
                "targets": [price],
                "active_from": "2026-05-01T00:00:00.000Z",
                "active_until": "2026-06-01T00:00:00.000Z",
            },
            returns={
                "code": "LAUNCH-26",
                "redemption": ching_async.DiscountRedemption.CODE,
                "target_type": ching_async.DiscountTargetType.PRICES,
                "targets": [price],
                "duration": ching_async.DiscountDuration.N_CHARGES,
                "times_redeemed": 0,
                "archived": False,
            },
            marked=True,
        ),
        "discount-automatic-override-on-products": Create(
            "discounts",
            Discount,
            "disc_",
            arguments={
                "name": "Founders",
                "redemption": "automatic",
                "target_type": "products",
                "targets": [product],
                "value_type": "override",
                "value": 4900,
                "value_tax_mode": "exclusive",
                "currency": "ils",
                "duration": "until_date",
                "duration_until": "2027-01-01T00:00:00Z",
            },
            sends={"duration_until": "2027-01-01T00:00:00.000Z"},
            returns={
                "value_type": ching_async.DiscountValueType.OVERRIDE,
                "duration_until": datetime(2027, 1, 1, tzinfo=UTC),
            },
            marked=True,
        ),
        "discount-amount-off-the-order": Create(
            "discounts",
            Discount,
            "disc_",
            arguments={
                "name": "Ten off",
                "redemption": "automatic",
                "target_type": "order",
                "value_type": "amount",
                "value": 1000,
                "duration": "forever",
            },
            returns={"currency": "ils", "value_tax_mode": None, "targets": []},
            marked=True,
        ),
    }


@pytest.mark.parametrize("row", list(creates("", "")))
async def test_a_create_sends_its_documented_body_and_returns_the_stored_object(
    fake: FakeChing, ching: ching_async.Client, row: str
) -> None:
    product = fake.add_product(name="Pro").id
    create = creates(fake.add_price(product, unit_amount=9900).id, product)[row]
    made = await getattr(ching, create.group).create(**create.arguments)
    [request] = sent(fake, "POST", "/" + create.group)
    sent_as = {**create.arguments, **create.sends}
    body = {name: value for name, value in sent_as.items() if value is not OMITTED}
    if create.marked:
        body["metadata"] = {**body.get("metadata", {}), MARKER: request.idempotency_key}
    assert request.body == body
    assert isinstance(made, create.model)
    assert made.id.startswith(create.prefix)
    got = {name: getattr(made, name) for name in create.returns}
    assert got == create.returns
    # Of the same types too: an enum is decoded as its member, not its string.
    assert {name: type(value) for name, value in got.items()} == {
        name: type(value) for name, value in create.returns.items()
    }
    assert made.livemode is False
    assert isinstance(made.created, datetime)
    assert made.created.tzinfo is not None
    assert made.request_info is not None
    assert (made.request_info.method, made.request_info.path) == ("POST", "/" + create.group)
    # What came back is what the fake stored, as the API sends it (wire spellings kept in raw).
    stored = getattr(fake, create.group.removesuffix("s"))(made.id)
    assert made.raw == stored.to_json()
