"""`ching products|prices|discounts|subscriptions ...`, in-process through main(argv)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import ching_async
from ching_async.testing import FakeChing, Fault
from tests._support.billing import Plan
from tests._support.catalog import PNG

from .conftest import FAKE_NOTICE, Ran, RemoteFake, Terminal

Ching = Callable[..., Ran]
MARKER = ching_async.IDEMPOTENCY_METADATA_KEY


def product_of(fake: FakeChing, *, livemode: bool = False) -> str:
    found = [p for p in fake.products() if p.name == "Plan"]
    return found[0].id if found else fake.add_product(name="Plan", livemode=livemode).id


# Each create, its arguments, and where the fake keeps what it made.
PRICE_ARGS = ["--unit-amount", "9900", "--type", "recurring", "--interval", "month"]
DISCOUNT_ARGS = ["--name", "Launch", "--redemption", "code", "--code", "launch"]
DISCOUNT_RULE = ["--target-type", "order", "--value-type", "percent", "--value", "2000"]
CREATES: dict[str, tuple[Callable[[FakeChing], list[str]], Callable[[FakeChing], list[Any]]]] = {
    "products": (
        lambda f: ["--name", "Pro", "--feature", "SSO|SAML", "--feature", "Audit log"],
        lambda f: [p for p in f.products() if p.name == "Pro"],
    ),
    "prices": (
        lambda f: ["--product", product_of(f), *PRICE_ARGS, "--trial-period-days", "14"],
        lambda f: f.prices(),
    ),
    "discounts": (
        lambda f: [*DISCOUNT_ARGS, *DISCOUNT_RULE, "--duration", "once"],
        lambda f: f.discounts(),
    ),
    "subscriptions": (lambda f: subscribe_args(f), lambda f: f.subscriptions()),
}


def subscribe_args(fake: FakeChing) -> list[str]:
    """A Plan's customer, card and price: live ones once a live product is seeded
    (the live-mode tests seed one first)."""
    plan = Plan.of(fake, livemode=any(p.livemode for p in fake.products()))
    return ["--customer", plan.customer, "--price", plan.pro, "--payment-method", plan.card]


by_group = pytest.mark.parametrize("group", CREATES)


def created(remote: RemoteFake, group: str) -> list[Any]:
    return remote.call(CREATES[group][1])


def create_argv(remote: RemoteFake, group: str, *extra: str) -> list[str]:
    return [group, "create", *remote.call(CREATES[group][0]), *extra]


def find_argv(remote: RemoteFake, group: str, key: str) -> list[str]:
    scope = [remote.call(product_of)] if group == "prices" else []
    return [group, "find", *scope, key]


# ---------------------------------------------------------- embedded fake
def test_the_embedded_fake_has_a_plan_to_sell(ching: Ching) -> None:
    ran = ching("products", "list", "--fake")
    assert (ran.code, ran.err_lines[0].startswith(FAKE_NOTICE)) == (0, True)
    assert "1 product, newest first" in ran.out
    prices = json.loads(ching("prices", "list", "--json", "--fake").out)
    assert sorted(p["unit_amount"] for p in prices) == [9900, 99000]
    ran = ching("discounts", "list", "--fake")
    assert "1 discount rule, newest first" in ran.out
    assert "LAUNCH" in ran.out
    assert "20%" in ran.out


# -------------------------------------------------------------- exactly once
@by_group
def test_create_then_the_same_key_again_shows_it_and_makes_nothing(
    ching: Ching, with_api_key: RemoteFake, group: str
) -> None:
    argv = create_argv(with_api_key, group, "--metadata", "team=growth",
                       "--idempotency-key", "plan-26")  # fmt: skip
    ran = ching(*argv, "--json")
    assert (ran.code, ran.err) == (0, "")
    made = json.loads(ran.out)
    assert made["metadata"] == {"team": "growth", MARKER: "plan-26"}
    ran = ching(*argv)
    assert ran.code == 0, ran.err
    assert ran.err_lines == [
        f"ching: {made['id']} was already made with idempotency key 'plan-26': not created again"
    ]
    assert "(already made with this key)" in ran.out
    assert [o.id for o in created(with_api_key, group)] == [made["id"]]
    ran = ching(*find_argv(with_api_key, group, "plan-26"), "--json")
    assert (ran.code, json.loads(ran.out)["id"]) == (0, made["id"])
    ran = ching(*find_argv(with_api_key, group, "never-used"))
    assert ran.code == 1
    assert "and none carries it, so it was not made" in ran.err


@by_group
def test_a_lost_answer_is_reconciled_and_says_so(
    ching: Ching, with_api_key: RemoteFake, group: str
) -> None:
    argv = create_argv(with_api_key, group)
    with_api_key.call(
        lambda f: f.faults.add(Fault.commit_then_drop(), method="POST", path="/" + group, times=1)
    )
    ran = ching(*argv)
    assert ran.code == 0, ran.err
    [notice] = ran.err_lines
    assert notice.startswith("ching: reconciled: the answer to the create request was lost; ")
    assert "reconciled" in ran.out
    assert len(created(with_api_key, group)) == 1


@by_group
def test_an_unknown_outcome_says_check_with_find_and_do_not_create_again(
    ching: Ching, with_api_key: RemoteFake, group: str
) -> None:
    argv = create_argv(with_api_key, group, "--json")
    with_api_key.call(
        lambda f: (
            f.faults.add(Fault.commit_then_drop(), method="POST", path="/" + group, times=1),
            f.faults.add(Fault.status(503), method="GET", path="/" + group),
        )
    )
    ran = ching(*argv)
    assert ran.code == 3
    error = json.loads(ran.out)["error"]
    assert (error["type"], error["outcome_unknown"]) == ("OutcomeUnknownError", True)
    find = " ".join(["ching", *find_argv(with_api_key, group, error["idempotency_key"])])
    assert error["hint"] == f"check with `{find}`; do not create it again"
    assert len(created(with_api_key, group)) == 1


# ----------------------------------------------------------------- products
def test_product_commands(ching: Ching, with_api_key: RemoteFake, tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    logo.write_bytes(PNG)
    ran = ching("products", "create", "--name", "Pro", "--description", "Everything",
                "--image", str(logo), "--feature", "SSO|SAML", "--json")  # fmt: skip
    assert ran.code == 0, ran.err
    product = json.loads(ran.out)
    [image] = with_api_key.call(lambda f: f.uploaded_images())
    assert (product["image_url"], image.filename) == (image.url, "logo")
    assert product["features"] == [{"title": "SSO", "subtitle": "SAML"}]

    ran = ching("products", "update", product["id"], "--add-feature", "Audit log",
                "--clear-description", "--inactive")  # fmt: skip
    assert ran.code == 0, ran.err
    assert "Product updated" in ran.out
    stored = with_api_key.call(lambda f: f.product(product["id"]))
    assert stored.features == [
        {"title": "SSO", "subtitle": "SAML"},
        {"title": "Audit log", "subtitle": None},
    ]
    assert (stored.description, stored.active) == (None, False)
    [update] = with_api_key.call(lambda f: f.requests_to("POST", "/products/{id}"))
    assert update.body == {
        "description": None,
        "active": False,
        "features": [{"title": "SSO", "subtitle": "SAML"}, {"title": "Audit log"}],
    }

    ran = ching("products", "upload-image", str(logo))
    assert (ran.code, ran.out.strip()) == (
        0,
        with_api_key.call(lambda f: f.uploaded_images())[1].url,
    )
    ran = ching("products", "get", product["id"])
    assert "Audit log" in ran.out
    ran = ching("products", "list", "--json")
    assert [p["id"] for p in json.loads(ran.out)] == [product["id"]]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["products", "create"], "--name"),
        (["products", "create", "--name", "P", "--image-url", "https://a", "--image", "a.png"],
         "not allowed with argument"),
        (["products", "create", "--name", "P", "--feature", "|sub"], "a feature needs a title"),
        (["products", "create", "--name", "P", "--image-url", "http://a/b.png"], "https://"),
        (["products", "update", "prod_1"], "nothing to update"),
        (["products", "update", "prod_1", "--feature", "A", "--clear-features"], "not allowed"),
        (["products", "upload-image", "missing.png"], "cannot read image"),
        (["prices", "create", "--product", "p", "--unit-amount", "49.90", "--type", "one_time"],
         "use 4990"),
        (["prices", "create", "--product", "p", "--unit-amount", "1", "--type", "recurring"],
         "needs --interval"),
        (["prices", "update", "price_1", "--apply-mode", "scheduled", "--unit-amount", "1"],
         "needs effective_date"),
        (["prices", "update", "price_1", "--apply-mode", "now", "--effective-date", "x",
          "--unit-amount", "1"], "effective_date"),
        (["discounts", "create", "--name", "L", "--redemption", "code", "--target-type", "order",
          "--value-type", "percent", "--value", "2000", "--duration", "once"], "needs code="),
        (["discounts", "update", "disc_1"], "nothing to update"),
        (["discounts", "targets", "disc_1", "--target", ","], "--target needs"),
    ],
)  # fmt: skip
def test_bad_arguments_are_usage_errors(
    ching: Ching, with_api_key: RemoteFake, argv: list[str], message: str
) -> None:
    line = ching(*argv).usage_error()
    assert message in line
    assert with_api_key.call(lambda f: f.requests()) == []


# ------------------------------------------------------------------- prices
def test_price_commands(ching: Ching, with_api_key: RemoteFake) -> None:
    product = with_api_key.call(product_of)
    ran = ching("prices", "create", "--product", product, "--unit-amount", "0",
                "--type", "one_time", "--json")  # fmt: skip
    assert ran.code == 0, ran.err
    free = json.loads(ran.out)
    assert (free["unit_amount"], free["recurring"]) == (0, None)
    ran = ching(*create_argv(with_api_key, "prices"))
    assert ran.code == 0, ran.err
    assert "99.00 ILS" in ran.out
    assert "14 days" in ran.out
    monthly = with_api_key.call(lambda f: f.prices()[-1].id)

    when = with_api_key.call(lambda f: (f.now() + timedelta(days=30)).isoformat())
    ran = ching("prices", "update", monthly, "--apply-mode", "scheduled",
                "--effective-date", when, "--unit-amount", "10900")  # fmt: skip
    assert ran.code == 0, ran.err
    assert "Price updated (scheduled)" in ran.out
    assert with_api_key.call(lambda f: f.price(monthly).pending_migration) is not None
    ran = ching("prices", "cancel-migration", monthly)
    assert ran.code == 0, ran.err
    assert "Pending change canceled" in ran.out
    assert with_api_key.call(lambda f: [m.status for m in f.price(monthly).migrations]) == [
        "canceled"
    ]
    ran = ching("prices", "update", monthly, "--apply-mode", "now", "--clear-trial", "--json")
    assert json.loads(ran.out)["recurring"]["trial_period_days"] is None

    with_api_key.call(lambda f: f.archive_price(free["id"]))
    ran = ching("prices", "list", "--product", product, "--active", "all", "--json")
    assert {p["id"] for p in json.loads(ran.out)} == {free["id"], monthly}
    ran = ching("prices", "list", "--product", product)
    assert free["id"] not in ran.out
    ran = ching("prices", "update", free["id"], "--apply-mode", "now", "--unit-amount", "5")
    assert ran.code == 1
    assert "PriceArchivedError: 400 price_archived" in ran.err


# ---------------------------------------------------------------- discounts
def test_discount_commands(ching: Ching, with_api_key: RemoteFake) -> None:
    price = with_api_key.call(lambda f: f.add_price(product_of(f), unit_amount=9900).id)
    ran = ching("discounts", "create", "--name", "Founders", "--redemption", "automatic",
                "--target-type", "prices", "--target", price, "--value-type", "override",
                "--value", "4900", "--duration", "n_charges", "--duration-charges", "3",
                "--max-redemptions", "50", "--json")  # fmt: skip
    assert ran.code == 0, ran.err
    rule = json.loads(ran.out)
    assert (rule["targets"], rule["value_tax_mode"], rule["duration_charges"]) == (
        [price],
        "inclusive",
        3,
    )
    ran = ching("discounts", "get", rule["id"])
    assert "charges 49.00 ILS" in ran.out
    assert "3 charges" in ran.out
    assert "0 of 50 times" in ran.out

    other = with_api_key.call(lambda f: f.add_price(product_of(f), unit_amount=1).id)
    ran = ching("discounts", "targets", rule["id"], "--target", f"{price},{other}", "--json")
    assert json.loads(ran.out)["targets"] == [price, other]
    ran = ching("discounts", "update", rule["id"], "--name", "Founders 2", "--inactive")
    assert ran.code == 0, ran.err
    assert "inactive" in ran.out
    customer = with_api_key.call(lambda f: f.add_customer(name="Tal Levi", email="t@example.com"))
    with_api_key.call(
        lambda f: f.add_redemption(rule["id"], customer=customer.id, amount_saved=5000)
    )
    ran = ching("discounts", "redemptions", rule["id"])
    assert "1 redemption of" in ran.out
    assert "Tal Levi" in ran.out
    ran = ching("discounts", "archive", rule["id"])
    assert ran.code == 0, ran.err
    assert "archived" in ran.out
    ran = ching("discounts", "targets", rule["id"], "--target", "price_nope")
    assert ran.code == 1
    assert "TargetNotFoundError" in ran.err


# ----------------------------------------------------------------- live mode
@pytest.mark.parametrize(
    "argv",
    [
        ["products", "update", "ID", "--name", "New"],
        ["prices", "cancel-migration", "ID"],
        ["discounts", "archive", "ID"],
    ],
    ids=lambda argv: " ".join(argv[:2]),
)
def test_live_writes_need_yes_without_a_terminal(
    ching: Ching, live: RemoteFake, argv: list[str]
) -> None:
    def seed(f: FakeChing) -> str:
        product = f.add_product(name="Live", livemode=True).id
        if argv[0] == "products":
            return product
        if argv[0] == "prices":
            return f.add_price(product, livemode=True).id
        return f.add_discount(livemode=True).id

    argv = [part.replace("ID", live.call(seed)) for part in argv]
    line = ching(*argv).usage_error()
    assert "in live mode needs --yes (stdin is not a terminal" in line
    assert live.call(lambda f: f.requests()) == []
    ran = ching(*argv, "--yes", "--json")
    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["livemode"] is True


@by_group
def test_a_live_create_asks_on_a_terminal(
    ching: Ching, live: RemoteFake, monkeypatch: pytest.MonkeyPatch, group: str
) -> None:
    live.call(lambda f: product_of(f, livemode=True))
    argv = create_argv(live, group)
    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    ran = ching(*argv)
    assert ran.code == 2
    assert "in live mode? [y/N] " in ran.err
    assert created(live, group) == []
    monkeypatch.setattr(sys, "stdin", Terminal("yes\n"))
    ran = ching(*argv)
    assert ran.code == 0, ran.err
    assert [o.livemode for o in created(live, group)] == [True]
