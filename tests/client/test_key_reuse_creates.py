"""Refunds, prices, discounts and subscriptions refuse an idempotency key
reused with other parameters, as charges do (tests/retry/test_key_reuse.py):
IdempotencyKeyReusedError, nothing sent, the server keeps one object. Fields
an update may change since are not compared: a re-run of a create after
its object was updated still finds it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import ching_async
from ching_async.testing import FakeChing
from ching_async.testing._validation import RefundParams
from tests._support.billing import Plan
from tests._support.catalog import LAUNCH
from tests._support.fake_client import sent

Create = Callable[[ching_async.Client, FakeChing], Awaitable[Any]]


def charged(fake: FakeChing, amount: int = 5000) -> str:
    """A captured charge of the Plan's customer, with `amount` to refund."""
    plan = Plan.of(fake)
    return fake.add_charge(plan.customer, plan.card, amount=amount).id


def refund(charge: Callable[[FakeChing], str], **fields: Any) -> Create:
    return lambda c, f: c.refunds.create(charge=charge(f), **fields, idempotency_key="k")


def the_charge(fake: FakeChing) -> str:
    charges = fake.charges()
    return charges[0].id if charges else charged(fake)


def another_charge(fake: FakeChing) -> str:
    return charged(fake, amount=7000)


def refunded_charge(fake: FakeChing) -> str:
    """Another charge, refunded in full already (nothing is left to refund)."""
    charge = another_charge(fake)
    fake.ledger.create_refund(RefundParams(charge, 7000, None, None), livemode=False)
    return charge


def price(product: Callable[[FakeChing], str], **fields: Any) -> Create:
    fields = {"unit_amount": 9900, "type": "recurring", "recurring": {"interval": "month"}} | fields
    return lambda c, f: c.prices.create(product=product(f), **fields, idempotency_key="k")


def plans(fake: FakeChing) -> str:
    """The product these prices belong to (made once)."""
    found = [p.id for p in fake.products() if p.name == "Plans of k"]
    return found[0] if found else fake.add_product(name="Plans of k").id


def other_product(fake: FakeChing) -> str:
    return fake.add_product(name="Other").id


def discount(**fields: Any) -> Create:
    return lambda c, f: c.discounts.create(**(LAUNCH | fields), idempotency_key="k")


def subscription(customer: Callable[[FakeChing], str]) -> Create:
    def create(c: ching_async.Client, f: FakeChing) -> Awaitable[Any]:
        plan = Plan.of(f)
        card = f.payment_methods_for(customer(f))[0].id
        return c.subscriptions.create(
            customer=customer(f), price=plan.pro, payment_method=card, idempotency_key="k"
        )

    return create


def other_customer(fake: FakeChing) -> str:
    customer = fake.add_customer(name="Dana Cohen", email="dana@example.com").id
    fake.add_payment_method(customer)
    return customer


# (path, the first create, the same key with other parameters, the fields that
# differ: {field: (this call's value, the object's)} with "<first>" standing
# for the first object's value of an id, "<other>" for the second call's).
REUSES = [
    pytest.param(
        "/refunds",
        refund(the_charge, amount=1000),
        refund(the_charge, amount=2000),
        {"amount": (2000, 1000)},
        id="refund-another-amount",
    ),
    pytest.param(
        "/refunds",
        refund(the_charge, amount=1000),
        refund(another_charge, amount=1000),
        {"charge": ("<other>", "<first>")},
        id="refund-another-charge",
    ),
    pytest.param(
        "/refunds",
        refund(the_charge, amount=1000),
        refund(another_charge),  # all that is left of it: still another charge
        {"charge": ("<other>", "<first>")},
        id="refund-all-of-another-charge",
    ),
    pytest.param(
        "/refunds",
        refund(the_charge, amount=1000),
        refund(refunded_charge),  # nothing left: the key's refund is looked up instead
        {"charge": ("<other>", "<first>")},
        id="refund-all-of-a-refunded-charge",
    ),
    pytest.param(
        "/prices",
        price(plans),
        price(plans, recurring={"interval": "year"}),
        {"recurring.interval": ("year", "month")},
        id="price-another-interval",
    ),
    pytest.param(
        "/prices",
        price(plans),
        price(plans, type="one_time", recurring=None),
        {"type": ("one_time", "recurring")},
        id="price-another-type",
    ),
    pytest.param(
        "/prices",
        price(plans),
        price(other_product),  # beyond the lookup's own product
        {"product": ("<other>", "<first>")},
        id="price-another-product",
    ),
    pytest.param(
        "/discounts",
        discount(),
        discount(value=5000),
        {"value": (5000, 2000)},
        id="discount-another-value",
    ),
    pytest.param(
        "/subscriptions",
        subscription(lambda f: Plan.of(f).customer),
        subscription(other_customer),
        {"customer": ("<other>", "<first>")},
        id="subscription-another-customer",
    ),
]


@pytest.mark.parametrize(("path", "first", "reused", "differ"), REUSES)
async def test_a_key_reused_with_other_parameters_is_refused(
    fake: FakeChing,
    ching: ching_async.Client,
    path: str,
    first: Create,
    reused: Create,
    differ: dict[str, tuple[Any, Any]],
) -> None:
    made = await first(ching, fake)
    posts = len(sent(fake, "POST", path))
    with pytest.raises(ching_async.IdempotencyKeyReusedError) as info:
        await reused(ching, fake)
    err = info.value
    assert (err.method, err.path, err.idempotency_key, err.attempts) == ("POST", path, "k", 0)
    assert err.outcome_unknown is False
    assert err.found_id == made.id
    assert made.id in str(err)
    shown = {field: (sent_, was) for field, sent_, was in err.differences}
    assert shown.keys() == differ.keys()
    for field, (want_sent, want_was) in differ.items():
        sent_, was = shown[field]
        assert was == (getattr(made, field, None) if want_was == "<first>" else want_was)
        if want_sent == "<other>":  # another object of the same kind
            assert isinstance(sent_, str)
            assert (sent_ != was, sent_.split("_")[0]) == (True, was.split("_")[0])
        else:
            assert sent_ == want_sent
    assert len(sent(fake, "POST", path)) == posts  # nothing sent
    made_again = await first(ching, fake)  # the same parameters: the key's object
    assert (made_again.id, made_again.request_info.found_existing) == (made.id, True)


async def test_what_an_update_may_change_is_not_compared(
    fake: FakeChing, ching: ching_async.Client
) -> None:
    """A re-run of a create finds its object after an update changed it (a
    price's amount, a product's name), and a refund without an amount finds
    the key's refund of the same charge; another interval is still refused."""
    product = await ching.products.create(name="Pro", idempotency_key="p")
    await ching.products.update(product.id, name="Pro Plan")
    made = await price(plans)(ching, fake)
    await ching.prices.update(made.id, apply_mode="now", unit_amount=12900)
    first_refund = await refund(the_charge, amount=1000)(ching, fake)
    posts = len(fake.requests_to("POST", "/products")), len(fake.requests_to("POST", "/prices"))

    again = [
        await ching.products.create(name="Pro", idempotency_key="p"),
        await price(plans)(ching, fake),
        await refund(the_charge)(ching, fake),  # any amount of the same charge
    ]
    assert [(o.id, o.request_info.found_existing) for o in again] == [
        (product.id, True),
        (made.id, True),
        (first_refund.id, True),
    ]
    with pytest.raises(
        ching_async.IdempotencyKeyReusedError,
        match=r"recurring\.interval 'month' \(this call: 'year'\)",
    ):
        await price(plans, recurring={"interval": "year"})(ching, fake)
    assert (
        len(fake.requests_to("POST", "/products")),
        len(fake.requests_to("POST", "/prices")),
    ) == posts
    assert len(fake.refunds()) == 1
