"""Bad arguments to the fake's own API fail at once with a typed, readable error."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ching_async.testing import FakeApiError, FakeChing, Fault


@pytest.mark.parametrize("seconds", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("build", [Fault.latency, Fault.commit_then_delay])
def test_a_delay_must_be_finite(build: Callable[[float], Fault], seconds: float) -> None:
    with pytest.raises(ValueError, match=r"seconds must be a finite number >= 0, got -?(nan|inf)"):
        build(seconds)


@pytest.mark.parametrize("seconds", ["1", None, True])
def test_a_delay_must_be_a_number(seconds: Any) -> None:
    with pytest.raises(TypeError, match="seconds must be a number"):
        Fault.latency(seconds)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"api_key": 5}, TypeError, "api_key must be a str, got int"),
        ({"live_api_key": b"ck_live_x"}, TypeError, "live_api_key must be a str, got bytes"),
        ({"host": 5}, TypeError, "host must be a str, got int"),
        ({"port": "8787"}, TypeError, "port must be an int, got str"),
        ({"port": 70000}, ValueError, r"port must be in 0\.\.65535"),
        ({"clock": 5}, TypeError, "clock must be a callable"),
    ],
)
def test_bad_constructor_arguments_are_named(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        FakeChing(**options)


def test_an_added_key_must_be_a_str() -> None:
    with pytest.raises(TypeError, match="an API key must be a str, got int"):
        FakeChing().add_api_key(5)  # type: ignore[arg-type]


async def test_resending_an_unknown_event_is_a_404_naming_it(fake: FakeChing) -> None:
    with pytest.raises(FakeApiError) as raised:
        fake.resend_webhook_event("evt_nope")
    assert (raised.value.status, raised.value.code) == (404, "NOT_FOUND")
    assert str(raised.value) == "404 NOT_FOUND: No such webhook event: evt_nope"
    assert isinstance(raised.value, KeyError)  # what it raised before, for old callers


# -------------------------------------------------------------- seeding helpers
def _monthly(fake: FakeChing) -> str:
    product = fake.add_product().id
    return fake.add_price(product, type="recurring", recurring={"interval": "month"}).id


def test_add_subscription_takes_discounts_as_the_body_does_or_by_code_or_id() -> None:
    fake = FakeChing()
    launch = fake.add_discount(code="LAUNCH", duration="forever")
    loyal = fake.add_discount(code="LOYAL", value_type="amount", value=100, currency="ils")
    spring = fake.add_discount(code="SPRING", duration="forever")
    extra = fake.add_discount(code="EXTRA", duration="forever")
    price = _monthly(fake)
    body_shape = [{"code": "launch"}, {"discount": loyal.id}]
    first = fake.add_subscription(fake.add_customer().id, price, discounts=body_shape)
    second = fake.add_subscription(fake.add_customer().id, price, discounts=["spring", extra.id])
    assert [d.rule.id for d in first.discounts] == [launch.id, loyal.id]
    assert [d.rule.id for d in second.discounts] == [spring.id, extra.id]


@pytest.mark.parametrize(
    "entry", [{"code": "no spaces"}, {"coupon": "LAUNCH"}, {"code": "A", "discount": "disc_x"}, 5]
)
def test_add_subscription_refuses_a_bad_discount_as_the_api_does(entry: Any) -> None:
    fake = FakeChing()
    price = _monthly(fake)
    with pytest.raises(FakeApiError) as refused:
        fake.add_subscription(fake.add_customer().id, price, discounts=[entry])
    assert refused.value.status == 422
    assert [i.path for i in refused.value.issues] == [("discounts", 0)]
    assert (fake.subscriptions(), fake.charges()) == ([], [])


@pytest.mark.parametrize("discounts", ["LAUNCH", {"code": "LAUNCH"}, None])
def test_add_subscription_wants_a_list_of_discounts(discounts: Any) -> None:
    fake = FakeChing()
    price = _monthly(fake)
    with pytest.raises(TypeError, match="discounts must be a list of codes or rule ids, got"):
        fake.add_subscription(fake.add_customer().id, price, discounts=discounts)


def test_advance_moves_the_clock_forward_only() -> None:
    start = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
    fake = FakeChing(clock=lambda: start)
    with pytest.raises(ValueError, match=r"only moves forward; got delta=-1 day"):
        fake.advance(timedelta(days=-1))
    with pytest.raises(TypeError, match=r"delta must be a datetime\.timedelta .*, got 5"):
        fake.advance(5)  # type: ignore[arg-type]
    fake.advance(timedelta(0))
    assert fake.now() == start


@pytest.mark.parametrize(
    ("helper", "takes"),
    [
        ("add_product", "description, features, image_url, metadata, unlisted"),
        ("add_price", "currency, metadata, name, recurring, tax_mode, trial_period_days"),
        ("add_discount", "active, active_from, active_until, currency, duration_charges"),
    ],
)
def test_a_seeding_helper_refuses_a_field_the_api_does_not_know(helper: str, takes: str) -> None:
    fake = FakeChing()
    seed: Callable[..., object] = getattr(fake, helper)
    args = [fake.add_product().id] if helper == "add_price" else []
    with pytest.raises(
        TypeError, match=rf"{helper}\(\) got unknown field\(s\) colour; it takes {takes}"
    ):
        seed(*args, colour="red")
    assert (len(fake.products()), fake.prices(), fake.discounts()) == (len(args), [], [])


def test_a_field_the_api_refuses_is_still_its_answer() -> None:
    fake = FakeChing()
    with pytest.raises(FakeApiError) as refused:
        fake.add_price(fake.add_product().id, name="Monthly")
    assert [(i.path, i.message) for i in refused.value.issues] == [(("name",), "Unrecognized key")]
