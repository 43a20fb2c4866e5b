"""`ching checkout create|get` and `ching portal create`, in-process through main(argv)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import pytest

from ching_async.testing import FakeChing, Fault
from tests._support.checkout import NO_URL, OK_URL, Shop, shop

from .conftest import FAKE_NOTICE, Ran, RemoteFake, Terminal

Ching = Callable[..., Ran]
URL_ARGS = ["--success-url", OK_URL, "--cancel-url", NO_URL]


def sells(remote: RemoteFake, *, livemode: bool = False) -> Shop:
    def seed(fake: FakeChing) -> Shop:
        ids = shop(fake)
        if not livemode:
            return ids
        customer = fake.add_customer(name="Live", livemode=True).id
        price = fake.add_price(ids.product, livemode=True).id
        return Shop(customer, ids.product, price, ids.monthly)

    return remote.call(seed)


def test_create_prints_the_url_and_get_its_status(ching: Ching, with_api_key: RemoteFake) -> None:
    ids = sells(with_api_key)
    with_api_key.call(lambda f: f.add_discount(code="LAUNCH"))
    ran = ching("checkout", "create", "--customer", ids.customer, "--price", ids.price, *URL_ARGS)
    assert (ran.code, ran.err) == (0, "")
    [session] = with_api_key.call(lambda f: f.checkout_sessions())
    assert "Checkout session created: send the customer there" in ran.out
    assert f"https://secured.ching.co.il/checkout/{session.id}" in ran.out
    ran = ching("checkout", "get", session.id, "--json")
    assert (ran.code, json.loads(ran.out)["status"]) == (0, "pending")
    ran = ching("checkout", "get", session.id)
    assert "pending" in ran.out

    ran = ching(
        "checkout", "create", "--customer", ids.customer, *URL_ARGS,
        "--line-item", "T-shirt|4990|2", "--line-item", "Welcome|-1000",
        "--line-item", json.dumps({"name": "Pro", "amount_agorot": 9900, "price": ids.price}),
        "--coupon-code", "LAUNCH,SPRING", "--coupon-code", "SUMMER",
        "--capture-method", "manual", "--no-document",
        "--payment-method", "card", "--background-color", "#fff",
        "--json",
    )  # fmt: skip
    assert ran.code == 1  # SPRING is no code of this project: nothing was made
    error = json.loads(ran.out)["error"]
    assert (error["type"], error["code"]) == (
        "DiscountCodeNotFoundError",
        "discount_code_not_found",
    )
    [request] = with_api_key.call(lambda f: f.requests_to("POST", "/checkout_sessions"))[1:]
    assert request.body == {
        "customer": ids.customer,
        "success_url": OK_URL,
        "cancel_url": NO_URL,
        "line_items": [
            {"name": "T-shirt", "amount_agorot": 4990, "quantity": 2},
            {"name": "Welcome", "amount_agorot": -1000},
            {"name": "Pro", "amount_agorot": 9900, "price": ids.price},
        ],
        "coupon_codes": ["LAUNCH", "SPRING", "SUMMER"],
        "capture_method": "manual",
        "create_document": False,
        "payment_methods": ["card"],
        "background_color": "#fff",
    }


def test_portal_create(ching: Ching, with_api_key: RemoteFake) -> None:
    ids = sells(with_api_key)
    ran = ching("portal", "create", "--customer", ids.customer, "--return-url", OK_URL)
    assert ran.code == 0, ran.err
    [portal] = with_api_key.call(lambda f: f.billing_portal_sessions())
    assert "it signs the customer in until it expires" in ran.out
    assert portal.url in ran.out
    ran = ching("portal", "create", "--customer", ids.customer, "--json")
    assert set(json.loads(ran.out)) == {"url", "expires_at", "return_url"}
    ran = ching("portal", "create", "--customer", "cus_nobody")
    assert ran.code == 1
    assert "NotFoundError" in ran.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give --price (what is sold), --line-item (a cart), or both"),
        (["--line-item", "T-shirt"], "takes NAME|AMOUNT[|QUANTITY]"),
        (["--line-item", "T-shirt|49.90"], "use 4990 for 49.90 ILS"),
        (["--line-item", "T-shirt|4990|0"], "the quantity must be a whole number >= 1"),
        (["--line-item", "T-shirt|-"], "amount is empty"),
        (["--line-item", "{not json"], "is not a JSON object"),
        (["--line-item", "[1]"], "takes NAME|AMOUNT"),
        (["--line-item", "T-shirt|4990|1001"], "from 1 to 1000"),
        (["--price", "price_1", "--background-color", "teal"], "CSS hex color"),
    ],
)
def test_bad_arguments_send_nothing(
    ching: Ching, with_api_key: RemoteFake, argv: list[str], message: str
) -> None:
    ran = ching("checkout", "create", "--customer", "cus_1", *URL_ARGS, *argv)
    assert message in ran.usage_error()
    assert with_api_key.call(lambda f: f.requests()) == []


def test_a_lost_answer_is_sent_again_and_charges_nothing(
    ching: Ching, with_api_key: RemoteFake
) -> None:
    ids = sells(with_api_key)
    with_api_key.call(
        lambda f: f.faults.add(
            Fault.commit_then_drop(), method="POST", path="/checkout_sessions", times=1
        )
    )
    ran = ching(
        "checkout", "create", "--customer", ids.customer, "--price", ids.price, *URL_ARGS, "--json"
    )
    assert ran.code == 0, ran.err
    sessions = with_api_key.call(lambda f: f.checkout_sessions())
    assert [s.id for s in sessions][-1] == json.loads(ran.out)["id"]
    assert len(sessions) == 2
    assert with_api_key.call(lambda f: f.charges()) == []


def test_live_creates_ask_first(
    ching: Ching, live: RemoteFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = sells(live, livemode=True)
    argv = ["checkout", "create", "--customer", ids.customer, "--price", ids.price, *URL_ARGS]
    portal = ["portal", "create", "--customer", ids.customer]
    for command in (argv, portal):
        assert "in live mode needs --yes (stdin is not a terminal" in ching(*command).usage_error()
    assert live.call(lambda f: f.requests()) == []
    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    ran = ching(*argv)
    assert ran.code == 2
    assert f"Opening a checkout page for {ids.customer} in live mode? [y/N]" in ran.err
    assert live.call(lambda f: f.checkout_sessions()) == []
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    assert ching(*argv).code == 0
    assert ching(*portal, "--yes").code == 0
    assert [s.livemode for s in live.call(lambda f: f.checkout_sessions())] == [True]
    assert [s.livemode for s in live.call(lambda f: f.billing_portal_sessions())] == [True]


def test_the_embedded_fake_sells_its_sample_plan(ching: Ching) -> None:
    customers = json.loads(ching("customers", "list", "--fake", "--json").out)
    prices = json.loads(ching("prices", "list", "--fake", "--json").out)
    tal = next(c["id"] for c in customers if c["name"] == "Tal Levi")
    ran = ching("checkout", "create", "--fake", "--customer", tal, "--price", prices[0]["id"],
                "--coupon-code", "LAUNCH", *URL_ARGS)  # fmt: skip
    assert ran.code == 0, ran.err
    assert ran.err_lines[0].startswith(FAKE_NOTICE)
    assert "https://secured.ching.co.il/checkout/co_" in ran.out
    ran = ching("checkout", "get", "--fake", "co_gone")
    assert ran.code == 1
    assert ran.err.endswith("with sample data that has no checkout sessions)\n")
