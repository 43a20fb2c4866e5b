"""prices.*: the wire of each endpoint, migrations on the fake's clock, decoding, validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

import ching_async
from ching_async import CLEAR, Price, PriceType, Recurring, RecurringInterval, TaxMode
from ching_async import IDEMPOTENCY_METADATA_KEY as MARKER
from ching_async.testing import FakeChing
from tests._support.catalog import PRICE
from tests._support.fake_client import raw_call, sent
from tests._support.scripted import Script, envelope, error


@pytest.fixture
def product(fake: FakeChing) -> str:
    return fake.add_product(name="Pro").id


async def test_create_a_recurring_price(
    fake: FakeChing, ching: ching_async.Client, product: str
) -> None:
    price = await ching.prices.create(
        product=product,
        unit_amount=9900,
        type="recurring",
        recurring={"interval": "month", "trial_period_days": 14},
        tax_mode="inclusive",
        currency="ILS",
        metadata={"tier": "pro"},
    )
    [request] = sent(fake, "POST", "/prices")
    assert request.body == {
        "product": product,
        "unit_amount": 9900,
        "type": "recurring",
        "currency": "ils",
        "tax_mode": "inclusive",
        "recurring": {"interval": "month", "trial_period_days": 14},
        "metadata": {"tier": "pro", MARKER: request.idempotency_key},
    }
    assert price.type is PriceType.RECURRING
    assert price.recurring == Recurring(RecurringInterval.MONTH, 1, 14)
    assert (price.product, price.unit_amount, price.tax_mode) == (product, 9900, TaxMode.INCLUSIVE)


async def test_create_a_free_one_time_price_with_a_recurring_model(
    fake: FakeChing, ching: ching_async.Client, product: str
) -> None:
    free = await ching.prices.create(product=product, unit_amount=0, type=PriceType.ONE_TIME)
    yearly = await ching.prices.create(
        product=product, unit_amount=99000, type="recurring", recurring=Recurring("year", 2)
    )
    bodies = [r.body for r in sent(fake, "POST", "/prices")]
    assert bodies[0] == {
        "product": product,
        "unit_amount": 0,
        "type": "one_time",
        "metadata": {MARKER: bodies[0]["metadata"][MARKER]},
    }
    assert bodies[1]["recurring"] == {"interval": "year", "interval_count": 2}
    assert (free.unit_amount, free.recurring, free.currency) == (0, None, "ils")
    assert yearly.recurring == Recurring(RecurringInterval.YEAR, 2, None)


async def test_list_filters_by_product_and_active(
    fake: FakeChing, ching: ching_async.Client, product: str
) -> None:
    other = fake.add_product(name="Basic").id
    old = fake.add_price(product, unit_amount=100)
    archived = fake.add_price(product, unit_amount=200, active=False)
    mine = fake.add_price(product, unit_amount=300)
    fake.add_price(other, unit_amount=400)
    assert [p.id for p in await ching.prices.list(product=product)] == [mine.id, old.id]
    every = await ching.prices.list(product=product, active="all")
    assert [p.id for p in every] == [mine.id, archived.id, old.id]
    assert [p.id for p in await ching.prices.list(product=product, active=False)] == [archived.id]
    assert len(await ching.prices.list()) == 3
    assert [dict(r.query) for r in sent(fake, "GET", "/prices")] == [
        {"product": product},
        {"product": product, "active": "all"},
        {"product": product, "active": "false"},
        {},
    ]
    assert (await ching.prices.retrieve(archived.id)).active is False


@pytest.mark.parametrize("active", [1, "true", "yes", None.__class__])
async def test_list_rejects_a_bad_active_filter(
    fake: FakeChing, ching: ching_async.Client, active: Any
) -> None:
    with pytest.raises(ching_async.InvalidParameterError, match="active"):
        await ching.prices.list(active=active)
    assert fake.requests() == []


# ------------------------------------------------------------- migrations
async def test_update_now_changes_the_price_at_once(
    fake: FakeChing, ching: ching_async.Client, product: str
) -> None:
    price = fake.add_price(product, type="recurring", recurring={"interval": "month"})
    updated = await ching.prices.update(
        price.id, apply_mode="now", unit_amount=10900, trial_period_days=7, tax_mode="exclusive"
    )
    [request] = sent(fake, "POST", "/prices/{id}")
    assert request.body == {
        "apply_mode": "now",
        "unit_amount": 10900,
        "trial_period_days": 7,
        "tax_mode": "exclusive",
    }
    assert (updated.unit_amount, updated.tax_mode) == (10900, TaxMode.EXCLUSIVE)
    assert updated.recurring is not None
    assert updated.recurring.trial_period_days == 7
    assert [m.status for m in fake.price(price.id).migrations] == ["applied"]
    cleared = await ching.prices.update(price.id, apply_mode="now", trial_period_days=CLEAR)
    assert sent(fake, "POST", "/prices/{id}")[1].body == {
        "apply_mode": "now",
        "trial_period_days": None,
    }
    assert cleared.recurring is not None
    assert cleared.recurring.trial_period_days is None


async def test_a_scheduled_change_is_pending_until_its_date_then_applies(
    fake: FakeChing, ching: ching_async.Client, product: str
) -> None:
    price = fake.add_price(product, unit_amount=9900)
    when = fake.now() + timedelta(days=30)
    updated = await ching.prices.update(
        price.id, apply_mode="scheduled", effective_date=when, unit_amount=10900
    )
    body = sent(fake, "POST", "/prices/{id}")[0].body
    assert body["effective_date"].endswith("Z")
    assert datetime.fromisoformat(body["effective_date"]) == when
    assert updated.unit_amount == 9900  # not yet
    pending = fake.price(price.id).pending_migration
    assert pending is not None
    assert pending.changes == {"unit_amount": 10900}
    fake.advance(timedelta(days=31))
    assert (await ching.prices.retrieve(price.id)).unit_amount == 10900
    assert [m.status for m in fake.price(price.id).migrations] == ["applied"]


async def test_cancel_pending_migration_withdraws_it_and_repeats_harmlessly(
    fake: FakeChing, ching: ching_async.Client, product: str
) -> None:
    price = fake.add_price(product, unit_amount=9900)
    when = "2099-01-01T00:00:00+02:00"
    await ching.prices.update(price.id, apply_mode="scheduled", effective_date=when, unit_amount=1)
    assert sent(fake, "POST", "/prices/{id}")[0].body["effective_date"] == (
        "2098-12-31T22:00:00.000Z"
    )
    canceled = await ching.prices.cancel_pending_migration(price.id)
    again = await ching.prices.cancel_pending_migration(price.id)
    assert [
        (r.method, r.path, r.body) for r in sent(fake, "DELETE", "/prices/{id}/pending_migration")
    ] == [("DELETE", f"/prices/{price.id}/pending_migration", None)] * 2
    assert canceled.unit_amount == again.unit_amount == 9900
    assert [m.status for m in fake.price(price.id).migrations] == ["canceled"]
    fake.advance(timedelta(days=365 * 80))
    assert fake.price(price.id).unit_amount == 9900


async def test_a_second_scheduled_change_replaces_the_first(
    fake: FakeChing, ching: ching_async.Client, product: str
) -> None:
    price = fake.add_price(product, unit_amount=100)
    soon = fake.now() + timedelta(days=1)
    await ching.prices.update(price.id, apply_mode="scheduled", effective_date=soon, unit_amount=2)
    await ching.prices.update(price.id, apply_mode="scheduled", effective_date=soon, unit_amount=3)
    assert [m.status for m in fake.price(price.id).migrations] == ["canceled", "scheduled"]
    fake.advance(timedelta(days=2))
    assert fake.price(price.id).unit_amount == 3


async def test_an_empty_cancel_answer_gives_the_price_id(
    scripted: Script, client: ching_async.Client
) -> None:
    path = "/ching/v1/prices/price_1/pending_migration"
    scripted.on("DELETE", path, error(503), envelope(None))
    price = await client.prices.cancel_pending_migration("price_1")
    assert (price.id, price.unit_amount) == ("price_1", None)
    assert len(scripted.seen_at("DELETE", path)) == 2  # retried like a GET


async def test_update_is_retried_after_an_ambiguous_failure(
    scripted: Script, client: ching_async.Client
) -> None:
    path = "/ching/v1/prices/price_1"
    scripted.on("POST", path, error(502), envelope({**PRICE, "id": "price_1"}))
    price = await client.prices.update("price_1", apply_mode="now", unit_amount=9900)
    assert price.unit_amount == 9900
    assert [s.json for s in scripted.seen_at("POST", path)] == [
        {"apply_mode": "now", "unit_amount": 9900}
    ] * 2


async def test_an_archived_price_is_a_typed_error(
    fake: FakeChing, ching: ching_async.Client, product: str
) -> None:
    price = fake.add_price(product)
    fake.archive_price(price.id)
    with pytest.raises(ching_async.PriceArchivedError) as caught:
        await ching.prices.update(price.id, apply_mode="now", unit_amount=1)
    assert isinstance(caught.value, ching_async.BadRequestError)
    assert (caught.value.status, caught.value.code) == (400, "price_archived")


async def test_the_documented_object_decodes(scripted: Script, client: ching_async.Client) -> None:
    scripted.on("GET", "/ching/v1/prices/" + PRICE["id"], envelope(PRICE))
    price = await client.prices.retrieve(PRICE["id"])
    assert price == Price(
        id=PRICE["id"],
        product="prod_7Hq2LmR0aZ",
        currency="ils",
        unit_amount=9900,
        tax_mode=TaxMode.INCLUSIVE,
        type=PriceType.RECURRING,
        recurring=Recurring(RecurringInterval.MONTH, 1, 14),
        active=True,
        metadata={},
        livemode=False,
        created=datetime.fromtimestamp(1776589963, tz=UTC),
    )


@pytest.mark.parametrize(
    ("call", "match"),
    [
        ({"unit_amount": -1}, "unit_amount"),
        ({"unit_amount": 99.0}, "unit_amount"),
        ({"unit_amount": True}, "unit_amount"),
        ({"type": "monthly"}, "type"),
        ({"type": "recurring"}, 'needs recurring={"interval"'),
        ({"type": "one_time", "recurring": {"interval": "month"}}, "recurring= is for"),
        ({"type": "recurring", "recurring": {}}, "needs an interval"),
        ({"type": "recurring", "recurring": {"interval": "fortnight"}}, "interval"),
        ({"type": "recurring", "recurring": {"interval": "month", "interval_count": 0}}, "count"),
        (
            {"type": "recurring", "recurring": {"interval": "month", "trial_period_days": -1}},
            "trial",
        ),
        ({"type": "recurring", "recurring": {"interval": "month", "trial": 3}}, "unknown keys"),
        ({"type": "recurring", "recurring": "month"}, "mapping"),
        ({"tax_mode": "included"}, "tax_mode"),
        ({"currency": "shekel"}, "currency"),
        ({"product": ""}, "product"),
    ],
)
async def test_create_rejects_bad_arguments_before_sending(
    fake: FakeChing, ching: ching_async.Client, call: dict[str, Any], match: str
) -> None:
    arguments = {"product": "prod_1", "unit_amount": 100, "type": "one_time", **call}
    with pytest.raises(ching_async.InvalidParameterError, match=match):
        await ching.prices.create(**arguments)
    assert fake.requests() == []


NAIVE = datetime(2030, 1, 1)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        ({"apply_mode": "later", "unit_amount": 1}, "apply_mode"),
        ({"apply_mode": "scheduled", "unit_amount": 1}, "needs effective_date"),
        ({"apply_mode": "now", "effective_date": "2030-01-01T00:00:00Z", "unit_amount": 1}, "only"),
        ({"apply_mode": "now"}, "at least one change"),
        ({"apply_mode": "scheduled", "effective_date": NAIVE, "unit_amount": 1}, "timezone-aware"),
        ({"apply_mode": "scheduled", "effective_date": "2030-01-01", "unit_amount": 1}, "aware"),
        ({"apply_mode": "scheduled", "effective_date": "soon", "unit_amount": 1}, "ISO-8601"),
        ({"apply_mode": "scheduled", "effective_date": 1767225600, "unit_amount": 1}, "datetime"),
        ({"apply_mode": "now", "trial_period_days": -2}, "trial_period_days"),
        ({"apply_mode": "now", "active": False}, "unexpected keyword"),
    ],
)
async def test_update_rejects_bad_arguments_before_sending(
    fake: FakeChing, ching: ching_async.Client, call: dict[str, Any], match: str
) -> None:
    with pytest.raises((ching_async.InvalidParameterError, TypeError), match=match):
        await ching.prices.update("price_1", **call)
    assert fake.requests() == []


async def test_an_aware_effective_date_in_any_zone_is_sent_in_utc(
    fake: FakeChing, ching: ching_async.Client, product: str
) -> None:
    price = fake.add_price(product)
    israel = timezone(timedelta(hours=3))
    when = datetime(2099, 7, 1, 3, 0, tzinfo=israel)
    await ching.prices.update(price.id, apply_mode="scheduled", effective_date=when, unit_amount=5)
    assert sent(fake, "POST", "/prices/{id}")[0].body["effective_date"] == (
        "2099-07-01T00:00:00.000Z"
    )


# ------------------------------------------------------------- the fake's answers
async def test_the_fake_validates_price_bodies(fake: FakeChing, product: str) -> None:
    status, payload = await raw_call(
        fake,
        "POST",
        "/prices",
        {"product": product, "unit_amount": -1, "type": "recurring", "name": "Pro"},
    )
    assert (status, payload["error"]["code"]) == (422, "INVALID_FIELD")
    assert [i["path"] for i in payload["error"]["issues"]] == [
        ["unit_amount"],
        ["recurring"],
        ["name"],
    ]
    status, payload = await raw_call(
        fake, "POST", "/prices", {"product": "prod_missing", "unit_amount": 1, "type": "one_time"}
    )
    assert (status, payload["error"]["code"]) == (404, "NOT_FOUND")
    price = fake.add_price(product)
    status, payload = await raw_call(
        fake, "POST", f"/prices/{price.id}", {"apply_mode": "now", "active": False}
    )
    assert status == 422
    assert [i["path"] for i in payload["error"]["issues"]] == [["active"]]  # strict
    past = (fake.now() - timedelta(days=1)).isoformat()
    status, payload = await raw_call(
        fake,
        "POST",
        f"/prices/{price.id}",
        {"apply_mode": "scheduled", "effective_date": past, "unit_amount": 1},
    )
    assert (status, payload["error"]["issues"][0]["path"]) == (422, ["effective_date"])
    status, payload = await raw_call(fake, "GET", "/prices?active=maybe")
    assert status == 422
