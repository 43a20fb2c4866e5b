"""`ching subscriptions ...`: list, get, change-price and cancel, in-process
through main(argv). (`create` and `find` run with the catalog's creates in
test_catalog: exactly once, reconciled, asked in live mode.)"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests._support.billing import Plan

from .conftest import Ran, RemoteFake

Ching = Callable[..., Ran]


def test_subscription_commands(ching: Ching, with_api_key: RemoteFake) -> None:
    plan = with_api_key.call(Plan.on)
    with_api_key.call(lambda f: f.add_discount(code="LAUNCH", value=2000, duration="forever"))
    ran = ching("subscriptions", "create", "--customer", plan.customer, "--price", plan.basic,
                "--payment-method", plan.card, "--discount", "launch")  # fmt: skip
    assert ran.code == 0, ran.err
    assert "Subscription created" in ran.out
    sub = with_api_key.call(lambda f: f.subscriptions()[0].id)
    [request] = with_api_key.call(lambda f: f.requests_to("POST", "/subscriptions"))
    assert request.body["discounts"] == [{"code": "LAUNCH"}]

    ran = ching("subscriptions", "get", sub)
    assert ran.code == 0, ran.err
    assert "39.20 ILS (3,920 agorot), after 9.80 ILS off (Test Discount)" in ran.out
    ran = ching("subscriptions", "list", "--json")
    [row] = json.loads(ran.out)
    assert (row["id"], row["customer_name"], row["items"]) == (sub, "Tal Levi", [])
    ran = ching("subscriptions", "list")
    assert "1 subscription, newest first" in ran.out

    ran = ching("subscriptions", "change-price", sub, "--price", plan.team)
    assert ran.code == 0, ran.err
    assert "Price changed" in ran.out
    assert "upgrade" in ran.out
    assert len(with_api_key.call(lambda f: f.charges_for(plan.customer))) == 2
    ran = ching("subscriptions", "change-price", sub, "--price", plan.pro, "--json")
    change = json.loads(ran.out)
    assert (change["kind"], change["applied"]) == ("downgrade", False)
    assert change["subscription"]["pending_price"] == plan.pro
    [request] = with_api_key.call(
        lambda f: f.requests_to("POST", "/subscriptions/{id}/change_price")[1:]
    )
    assert request.body == {"price": plan.pro}

    ran = ching("subscriptions", "cancel", sub, "--at-period-end")
    assert ran.code == 0, ran.err
    assert "Subscription canceled at the end of its period" in ran.out
    assert with_api_key.call(lambda f: f.subscription(sub).status) == "active"
    ran = ching("subscriptions", "cancel", sub, "--json")
    assert json.loads(ran.out)["status"] == "canceled"
    bodies = [r.body for r in with_api_key.call(
        lambda f: f.requests_to("POST", "/subscriptions/{id}/cancel"))]  # fmt: skip
    assert bodies == [{"cancel_at_period_end": True}, None]


def test_a_refused_change_is_its_typed_error(ching: Ching, with_api_key: RemoteFake) -> None:
    plan = with_api_key.call(Plan.on)
    sub = with_api_key.call(lambda f: f.add_subscription(plan.customer, plan.pro).id)
    ran = ching("subscriptions", "change-price", sub, "--price", plan.basic,
                "--change-timing", "immediately")  # fmt: skip
    assert ran.code == 1
    assert "DowngradeImmediateNotSupportedError: 400 DOWNGRADE_IMMEDIATE_NOT_SUPPORTED" in ran.err


@pytest.mark.parametrize("action", [["cancel", "SUB"], ["change-price", "SUB", "--price", "PRO"]])
def test_live_writes_need_yes_without_a_terminal(
    ching: Ching, live: RemoteFake, action: list[str]
) -> None:
    plan = live.call(lambda f: Plan.on(f, livemode=True))
    sub = live.call(lambda f: f.add_subscription(plan.customer, plan.basic, livemode=True).id)
    argv = ["subscriptions", *(sub if a == "SUB" else plan.pro if a == "PRO" else a
                                 for a in action)]  # fmt: skip
    before = len(live.call(lambda f: f.requests()))
    line = ching(*argv).usage_error()
    assert "in live mode needs --yes (stdin is not a terminal" in line
    assert len(live.call(lambda f: f.requests())) == before
    ran = ching(*argv, "--yes")
    assert ran.code == 0, ran.err
    assert live.call(lambda f: f.subscription(sub).status) == (
        "canceled" if action[0] == "cancel" else "active"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["subscriptions", "create", "--customer", "cus_1"], "--price"),
        (["subscriptions", "change-price", "sub_1"], "--price"),
        (["subscriptions", "change-price", "sub_1", "--price", "p", "--change-timing", "now"],
         "invalid choice"),
        (["subscriptions", "create", "--customer", "cus_1", "--price", "p", "--discount", "a b"],
         "discounts[0].code"),
    ],
)  # fmt: skip
def test_bad_arguments_are_usage_errors(
    ching: Ching, with_api_key: RemoteFake, argv: list[str], message: str
) -> None:
    assert message in ching(*argv).usage_error()
    assert with_api_key.call(lambda f: f.requests()) == []
