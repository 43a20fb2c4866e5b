"""products.create, prices.create, discounts.create and subscriptions.create
under faults: never two objects (nor two first charges of a subscription);
and the catalog's writes that are safe to repeat, sent again under the same
faults, leaving what the README promises.

Each create carries its idempotency key in metadata and is reconciled against
its list (GET /products, GET /prices?product=&active=all, GET /discounts,
GET /subscriptions), like refunds. The server (FakeChing, which does not
deduplicate) is counted after every scenario.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

import ching_async
from ching_async import CLEAR
from ching_async import IDEMPOTENCY_METADATA_KEY as MARKER
from ching_async.testing import FakeChing, Fault
from tests._support.billing import Plan
from tests._support.catalog import LAUNCH, PNG
from tests._support.fake_client import AMBIGUOUS_FAULTS, sent, settling_client


@attrs.frozen
class Kind:
    """One exactly-once create, and how to count what the server holds."""

    name: str
    path: str  # the create's route, and the list the lookup reads
    create: Callable[[ching_async.Client, FakeChing, dict[str, Any]], Awaitable[Any]]
    find: Callable[[ching_async.Client, FakeChing, str], Awaitable[Any]]
    made: Callable[[FakeChing], list[Any]]  # what the server holds that this create makes
    seed: Callable[[FakeChing], Any]  # one more object in the lookup's window
    # The charges the server holds for what this create makes, and how many each makes.
    charged: Callable[[FakeChing], int] = lambda f: len(f.charges())
    charges_each: int = 0

    def __str__(self) -> str:
        return self.name


def the_product(fake: FakeChing) -> str:
    """The product every price of these tests belongs to (made once)."""
    found = [p for p in fake.products() if p.name == "Plan"]
    return found[0].id if found else fake.add_product(name="Plan").id


PRODUCTS = Kind(
    "products",
    "/products",
    lambda c, f, kw: c.products.create(name="Pro", **kw),
    lambda c, f, key: c.products.find_by_idempotency_key(key),
    lambda f: [p for p in f.products() if p.name == "Pro"],
    lambda f: f.add_product(name="Other"),
)
PRICES = Kind(
    "prices",
    "/prices",
    lambda c, f, kw: c.prices.create(
        product=the_product(f),
        unit_amount=9900,
        type="recurring",
        recurring={"interval": "month"},
        **kw,
    ),
    lambda c, f, key: c.prices.find_by_idempotency_key(the_product(f), key),
    lambda f: [p for p in f.prices(the_product(f)) if p.unit_amount == 9900],
    lambda f: f.add_price(the_product(f), unit_amount=1, active=False),  # inactive ones count too
)
DISCOUNTS = Kind(
    "discounts",
    "/discounts",
    lambda c, f, kw: c.discounts.create(**LAUNCH, **kw),
    lambda c, f, key: c.discounts.find_by_idempotency_key(key),
    lambda f: [d for d in f.discounts() if d.name == "Launch"],
    lambda f: f.add_discount(name="Other"),
)


def subscribe(ching: ching_async.Client, fake: FakeChing, marking: dict[str, Any]) -> Any:
    """The Plan's customer subscribed to its pro price, with its card."""
    plan = Plan.of(fake)
    return ching.subscriptions.create(
        customer=plan.customer, price=plan.pro, payment_method=plan.card, **marking
    )


SUBSCRIPTIONS = Kind(
    "subscriptions",
    "/subscriptions",
    subscribe,
    lambda c, f, key: c.subscriptions.find_by_idempotency_key(key),
    lambda f: [s for s in f.subscriptions() if s.customer == Plan.of(f).customer],
    lambda f: f.add_subscription(f.add_customer(name="Other").id, Plan.of(f).basic),
    lambda f: len(f.charges_for(Plan.of(f).customer)),  # the first period's, each
    charges_each=1,
)
KINDS = [PRODUCTS, PRICES, DISCOUNTS, SUBSCRIPTIONS]
by_kind = pytest.mark.parametrize("kind", KINDS, ids=str)


def lookups(fake: FakeChing, kind: Kind) -> list[Any]:
    return sent(fake, "GET", kind.path)


@by_kind
@pytest.mark.parametrize(("fault", "posts", "reconciled"), AMBIGUOUS_FAULTS)
async def test_an_ambiguous_create_makes_one_object(
    fake: FakeChing,
    ching: ching_async.Client,
    kind: Kind,
    fault: Fault,
    posts: int,
    reconciled: bool,
) -> None:
    kind.made(fake)  # seeds what the create needs before the fault is set
    fake.faults.add(fault, method="POST", path=kind.path, times=1)
    made = await kind.create(ching, fake, {})
    assert [o.id for o in kind.made(fake)] == [made.id]
    assert kind.charged(fake) == kind.charges_each
    assert made.request_info.reconciled is reconciled
    key = made.request_info.idempotency_key
    assert made.metadata == {MARKER: key}
    sends = sent(fake, "POST", kind.path)
    assert len(sends) == posts
    assert all((r.idempotency_key, r.body) == (key, sends[0].body) for r in sends)
    assert len(lookups(fake, kind)) == 1
    if kind is PRICES:  # the lookup reads the price's own product, inactive prices too
        assert dict(lookups(fake, kind)[0].query) == {"product": made.product, "active": "all"}


@by_kind
async def test_a_timeout_whose_create_commits_late_is_found_after_the_settle_time(
    fake: FakeChing, kind: Kind
) -> None:
    kind.made(fake)
    fake.faults.add(Fault.latency(1.0), method="POST", path=kind.path, times=1)
    async with settling_client(fake) as ching:
        made = await kind.create(ching, fake, {})
    await fake.wait_for_commits()
    assert [o.id for o in kind.made(fake)] == [made.id]
    assert kind.charged(fake) == kind.charges_each
    assert made.request_info.reconciled is True
    assert len(sent(fake, "POST", kind.path)) == 1


@by_kind
async def test_outcome_unknown_when_the_lookup_fails_then_resolved_by_key(
    fake: FakeChing, ching: ching_async.Client, kind: Kind
) -> None:
    kind.made(fake)
    fake.faults.add(Fault.commit_then_drop(), method="POST", path=kind.path, times=1)
    failing = fake.faults.add(Fault.status(503), method="GET", path=kind.path)
    with pytest.raises(ching_async.OutcomeUnknownError) as caught:
        await kind.create(ching, fake, {})
    assert len(sent(fake, "POST", kind.path)) == 1  # never re-sent blindly
    fake.faults.remove(failing)
    found = await kind.find(ching, fake, caught.value.idempotency_key)
    assert [o.id for o in kind.made(fake)] == [found.id]
    assert kind.charged(fake) == kind.charges_each


@by_kind
async def test_the_same_key_twice_makes_one_object(
    fake: FakeChing, ching: ching_async.Client, kind: Kind
) -> None:
    first = await kind.create(ching, fake, {"idempotency_key": "plan-2026"})
    again = await kind.create(ching, fake, {"idempotency_key": "plan-2026"})
    assert again.id == first.id
    assert again.request_info.found_existing is True
    assert [o.id for o in kind.made(fake)] == [first.id]
    assert kind.charged(fake) == kind.charges_each
    assert await kind.find(ching, fake, "plan-2026") == first


@by_kind
async def test_a_full_window_cannot_prove_absence(
    fake: FakeChing, ching: ching_async.Client, kind: Kind
) -> None:
    for _ in range(100):
        kind.seed(fake)
    with pytest.raises(ching_async.LookupInconclusiveError, match="list is full"):
        await kind.create(ching, fake, {"idempotency_key": "old-key"})
    assert kind.made(fake) == []
    with pytest.raises(ching_async.LookupInconclusiveError):
        await kind.find(ching, fake, "old-key")
    fake.faults.add(Fault.commit_then_drop(), method="POST", path=kind.path, times=1)
    fake.faults.add(Fault.status(503), method="POST", path=kind.path, times=1)
    made = await kind.create(ching, fake, {})  # a lost answer: found among the newest
    assert made.request_info.reconciled is True
    with pytest.raises(ching_async.OutcomeUnknownError):  # a 503: absence not provable
        await kind.create(ching, fake, {})
    assert len(kind.made(fake)) == 1
    made = await kind.create(ching, fake, {"idempotency_key": "new", "on_full_window": "send"})
    assert len(kind.made(fake)) == 2


async def test_a_price_lookup_is_not_crowded_out_by_other_products_prices(
    fake: FakeChing, ching: ching_async.Client
) -> None:
    other = fake.add_product(name="Other").id
    for _ in range(100):
        fake.add_price(other, unit_amount=1)
    fake.faults.add(Fault.status(503), method="POST", path="/prices", times=1)
    made = await PRICES.create(ching, fake, {"idempotency_key": "k"})
    assert made.request_info.attempts == 2
    assert [p.id for p in PRICES.made(fake)] == [made.id]


@by_kind
async def test_without_the_marker_an_ambiguous_failure_is_raised(
    fake: FakeChing, ching: ching_async.Client, kind: Kind
) -> None:
    kind.made(fake)
    fake.faults.add(Fault.status(503), method="POST", path=kind.path, times=1)
    with pytest.raises(ching_async.InternalServerError) as caught:
        await kind.create(ching, fake, {"mark_idempotency_key": False})
    assert caught.value.outcome_unknown is True
    [request] = sent(fake, "POST", kind.path)
    assert "metadata" not in request.body
    assert lookups(fake, kind) == []


# ------------------------------------------------------------- safe to repeat
# Updates, target replacement, archive, cancel_pending_migration and
# upload_image are retried like a GET (README "Retries and double charges"):
# each is sent again after a lost answer, a 5xx or a timeout, nothing is
# created, and what the server holds is what the README promises of a repeat.


@attrs.frozen
class SafeWrite:
    """A write retried like a GET, and the state the README promises after it."""

    name: str
    method: str
    path: str  # the route template the fault is set on
    setup: Callable[[FakeChing], str]  # seeds the object; its id
    call: Callable[[ching_async.Client, FakeChing, str], Awaitable[Any]]
    # Asserts what the server holds once the call, committed `commits` times, returned.
    holds: Callable[[FakeChing, str, Any, int], None]

    def __str__(self) -> str:
        return self.name


LATER = datetime(2027, 1, 1, tzinfo=UTC)  # a scheduled change's date


def a_price(fake: FakeChing) -> str:
    monthly = {"interval": "month"}
    return fake.add_price(the_product(fake), unit_amount=9900, type="recurring",
                          recurring=monthly).id  # fmt: skip


def a_pending_change(fake: FakeChing) -> str:
    price = a_price(fake)
    fake.ledger.update_price(
        price, {"apply_mode": "scheduled", "effective_date": LATER, "unit_amount": 10900}
    )
    return price


def a_rule(fake: FakeChing) -> str:
    """A rule on the Plan product, and a second product to move it to."""
    fake.add_product(name="Other")
    return fake.add_discount(name="Launch", target_type="products", targets=[the_product(fake)]).id


def the_other_product(fake: FakeChing) -> str:
    return next(p.id for p in fake.products() if p.name == "Other")


def hosted(fake: FakeChing, id: str, url: Any, commits: int) -> None:
    """Each send hosted the image once; the URL returned is one of them."""
    images = fake.uploaded_images()
    assert [i.data for i in images] == [PNG] * commits
    assert url in [i.url for i in images]


def renamed(fake: FakeChing, id: str, product: Any, commits: int) -> None:
    assert (fake.product(id).name, fake.product(id).description) == ("Pro 2", None)
    assert (product.name, product.description) == ("Pro 2", None)


def pending(fake: FakeChing, id: str, price: Any, commits: int) -> None:
    """One change pending (a repeat replaces the first with the same one); none applied."""
    migrations = fake.price(id).migrations
    assert [m.status for m in migrations] == ["canceled"] * (commits - 1) + ["scheduled"]
    assert (migrations[-1].changes, migrations[-1].effective_date) == (
        {"unit_amount": 10900},
        LATER,
    )
    assert fake.price(id).unit_amount == price.unit_amount == 9900


def withdrawn(fake: FakeChing, id: str, price: Any, commits: int) -> None:
    """The one pending change canceled; a repeat found nothing left to cancel."""
    assert [m.status for m in fake.price(id).migrations] == ["canceled"]
    assert fake.price(id).unit_amount == price.unit_amount == 9900


def rule_is(**fields: Any) -> Callable[[FakeChing, str, Any, int], None]:
    def holds(fake: FakeChing, id: str, rule: Any, commits: int) -> None:
        expected = {name: f(fake) if callable(f) else f for name, f in fields.items()}
        assert {name: getattr(fake.discount(id), name) for name in fields} == expected
        assert {name: getattr(rule, name) for name in fields} == expected

    return holds


SAFE_WRITES = [
    SafeWrite("products.upload_image", "POST", "/products/upload_image", the_product,
              lambda c, f, id: c.products.upload_image(PNG), hosted),
    SafeWrite("products.update", "POST", "/products/{id}", the_product,
              lambda c, f, id: c.products.update(id, name="Pro 2", description=CLEAR), renamed),
    SafeWrite("prices.update", "POST", "/prices/{id}", a_price,
              lambda c, f, id: c.prices.update(id, apply_mode="scheduled", effective_date=LATER,
                                               unit_amount=10900),
              pending),
    SafeWrite("prices.cancel_pending_migration", "DELETE", "/prices/{id}/pending_migration",
              a_pending_change, lambda c, f, id: c.prices.cancel_pending_migration(id), withdrawn),
    SafeWrite("discounts.update", "POST", "/discounts/{id}", a_rule,
              lambda c, f, id: c.discounts.update(id, name="Spring", max_redemptions=5),
              rule_is(name="Spring", max_redemptions=5)),
    SafeWrite("discounts.replace_targets", "POST", "/discounts/{id}/targets", a_rule,
              lambda c, f, id: c.discounts.replace_targets(id, targets=[the_other_product(f)]),
              rule_is(targets=lambda f: [the_other_product(f)])),
    SafeWrite("discounts.archive", "POST", "/discounts/{id}/archive", a_rule,
              lambda c, f, id: c.discounts.archive(id), rule_is(archived=True, active=False)),
]  # fmt: skip
# (fault, commits): each is sent twice, and the first send took effect unless it was a 5xx.
SAFE_FAULTS = [
    pytest.param(Fault.commit_then_drop(), 2, id="dropped-after-commit"),
    pytest.param(Fault.status(503), 1, id="5xx"),
    pytest.param(Fault.commit_then_delay(2.0), 2, id="timeout-answer-late"),
    pytest.param(Fault.latency(1.0), 2, id="timeout-commit-late"),
]


def made(fake: FakeChing) -> tuple[int, int, int]:
    """What creates would add to: products, prices and discount rules."""
    return len(fake.products()), len(fake.prices()), len(fake.discounts())


@pytest.mark.parametrize("write", SAFE_WRITES, ids=str)
@pytest.mark.parametrize(("fault", "commits"), SAFE_FAULTS)
async def test_a_write_safe_to_repeat_is_sent_again_and_leaves_what_one_send_would(
    fake: FakeChing, ching: ching_async.Client, write: SafeWrite, fault: Fault, commits: int
) -> None:
    id = write.setup(fake)
    before = made(fake)
    fake.faults.add(fault, method=write.method, path=write.path, times=1)
    result = await write.call(ching, fake, id)
    await fake.wait_for_commits()  # a late commit lands too
    assert len(sent(fake, write.method, write.path)) == 2
    assert made(fake) == before  # nothing created
    write.holds(fake, id, result, commits)
