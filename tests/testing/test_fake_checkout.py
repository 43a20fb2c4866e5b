"""Checkout and the billing portal in the fake: the documented shapes and rules,
and ``complete_checkout`` (the charge, its event delivered signed, discounts and
their redemptions, the document, declines, manual capture, expiry)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import ching_async
from ching_async.testing import CheckoutNotModeledError, FakeApiError, FakeChing
from ching_async.webhooks import construct_event
from tests._support.checkout import URLS, Shop, shop

from .conftest import Api, Sink


@pytest.fixture
def fake_ching_options() -> dict[str, Any]:
    return {"seed": 7, "webhook_delivery": "manual"}


@pytest.fixture
def sells(fake: FakeChing) -> Shop:
    """What the fake sells; an endpoint for every event (delivered only on demand)."""
    fake.add_webhook_endpoint("http://127.0.0.1:9/events")
    return shop(fake)


async def open_session(api: Api, **body: Any) -> str:
    status, answer = await api.post("/checkout_sessions", {**URLS, **body})
    assert status == 200, answer
    session_id: str = answer["data"]["id"]
    return session_id


# ---------------------------------------------------------------- shapes
async def test_the_documented_answers(api: Api, fake: FakeChing, sells: Shop) -> None:
    status, created = await api.post(
        "/checkout_sessions", {**URLS, "customer": sells.customer, "price": sells.price}
    )
    assert status == 200
    session_id = created["data"]["id"]
    assert session_id.startswith("co_")
    url = f"https://secured.ching.co.il/checkout/{session_id}"
    stored = fake.checkout_session(session_id)
    assert created["data"] == {
        "id": session_id,
        "url": url,
        "embed_url": url + "/embed",
        "expires_at": created["data"]["expires_at"],
    }
    assert stored.expires_at - stored.created == timedelta(minutes=30)
    status, got = await api.get(f"/checkout_sessions/{session_id}")
    assert got["data"] == {**created["data"], "status": "pending"}
    fake.advance(timedelta(minutes=30))
    status, got = await api.get(f"/checkout_sessions/{session_id}")
    assert got["data"]["status"] == "expired"
    status, portal = await api.post(
        "/billing_portal_sessions",
        {"customer": sells.customer, "return_url": "https://shop.example/account"},
    )
    [made] = fake.billing_portal_sessions()
    assert (status, set(portal["data"])) == (200, {"url", "expires_at", "return_url"})
    assert portal["data"]["url"] == f"https://secured.ching.co.il/portal/{made.id}"
    assert made.expires_at - made.created == timedelta(minutes=30)  # the shortest sources say


async def test_bodies_are_checked_field_by_field(api: Api, fake: FakeChing) -> None:
    status, answer = await api.post(
        "/checkout_sessions",
        {
            "success_url": "not a url",
            "line_items": [
                {"amount_agorot": 1.5, "quantity": 1001, "image_url": "http://x/a.png"},
                "a line",
            ],
            "coupon_codes": ["X" * 65],
            "capture_method": "later",
            "create_document": "yes",
            "payment_methods": ["cash"],
            "background_color": "blue",
            "auto_open_wallets": 1,
        },
    )
    assert (status, answer["error"]["code"]) == (422, "INVALID_FIELD")
    assert [i["path"] for i in answer["error"]["issues"]] == [
        ["customer"],
        ["success_url"],
        ["cancel_url"],
        ["line_items", 0, "amount_agorot"],
        ["line_items", 0, "quantity"],
        ["line_items", 0, "name"],
        ["line_items", 0, "image_url"],
        ["line_items", 1],
        ["coupon_codes", 0],
        ["capture_method"],
        ["create_document"],
        ["payment_methods"],
        ["auto_open_wallets"],
        ["background_color"],
    ]
    status, answer = await api.post("/checkout_sessions", {**URLS, "customer": "cus_1"})
    assert answer["error"]["issues"] == [
        {"path": ["price"], "message": "Required: price, line_items or both"}
    ]
    for body in ({"line_items": []}, {"line_items": [{"name": "x", "amount_agorot": 1}] * 51}):
        status, answer = await api.post("/checkout_sessions", {**URLS, "customer": "c", **body})
        assert answer["error"]["issues"][0]["path"] == ["line_items"]
    status, answer = await api.post(
        "/checkout_sessions",
        {**URLS, "customer": "cus_1", "price": "p", "coupon_codes": ["A"] * 21},
    )
    assert answer["error"]["issues"][0]["path"] == ["coupon_codes"]
    status, answer = await api.post("/billing_portal_sessions", {"return_url": "x"})
    assert [i["path"] for i in answer["error"]["issues"]] == [["customer"], ["return_url"]]
    assert fake.checkout_sessions() == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"line_items": [{"name": "a", "amount_agorot": 100},
                         {"name": "b", "amount_agorot": -101}]}, "cart_total_invalid"),
        ({"price": "{price}", "auto_open_wallets": True, "payment_methods": ["card"]},
         "auto_open_wallets_requires_wallet"),
        ({"price": "{monthly}", "line_items": [{"name": "Setup", "amount_agorot": 100}],
          "capture_method": "manual"}, "capture_method_not_supported_for_mixed"),
        ({"line_items": [{"name": "a", "amount_agorot": 1, "product": "prod_none"}]},
         "line_item_target_not_found"),
    ],
)  # fmt: skip
async def test_rules_the_sdk_also_checks_are_the_servers_too(
    api: Api, fake: FakeChing, sells: Shop, body: dict[str, Any], code: str
) -> None:
    if "price" in body:
        body["price"] = body["price"].format(price=sells.price, monthly=sells.monthly)
    status, answer = await api.post(
        "/checkout_sessions", {**URLS, "customer": sells.customer, **body}
    )
    assert (status, answer["error"]["code"]) == (400, code)
    assert fake.checkout_sessions() == []


async def test_sessions_are_mode_scoped(api: Api, fake: FakeChing, sells: Shop) -> None:
    live = fake.add_customer(name="Live", livemode=True)
    status, answer = await api.post(
        "/checkout_sessions", {**URLS, "customer": live.id, "price": sells.price}
    )
    assert (status, answer["error"]["issues"][0]["path"]) == (400, ["customer"])
    live_price = fake.add_price(sells.product, livemode=True).id
    status, answer = await api.post(
        "/checkout_sessions", {**URLS, "customer": sells.customer, "price": live_price}
    )
    assert (status, answer["error"]["code"]) == (404, "NOT_FOUND")
    status, answer = await api.post("/billing_portal_sessions", {"customer": live.id})
    assert (status, answer["error"]["code"]) == (404, "NOT_FOUND")


# ------------------------------------------------------- the customer pays
async def test_a_paid_checkout_charges_issues_the_document_and_signs_its_event(
    api: Api, fake: FakeChing, sells: Shop, sink: Sink
) -> None:
    secret = fake.add_webhook_endpoint(sink.url)
    session_id = await open_session(api, customer=sells.customer, price=sells.price)
    events_before = len(fake.webhook_events())

    charge = fake.complete_checkout(session_id, card_index=1)

    assert (charge.amount, charge.status, charge.capture_method) == (9900, "succeeded", "automatic")
    assert (charge.customer, charge.card_brand) == (sells.customer, "mastercard")
    document = fake.document(charge.document or "")
    assert (document.amount, document.charge) == (9900, charge.id)
    assert [e.type for e in fake.webhook_events()[events_before:]] == ["charge.succeeded"]
    await fake.deliver_pending()
    headers, body = sink.received[-1]
    event = construct_event(body, headers["Ching-Signature"], secret)
    assert event.type == "charge.succeeded"
    assert isinstance(event.data, ching_async.Charge)
    assert (event.data.id, event.data.document) == (charge.id, document.id)
    stored = fake.checkout_session(session_id)
    assert (stored.status, stored.charges) == ("succeeded", [charge.id])
    _, got = await api.get(f"/checkout_sessions/{session_id}")
    assert got["data"]["status"] == "succeeded"
    # The card typed on the page is on record, not saved to the customer.
    assert fake.payment_method(charge.payment_method).status == "inactive"
    assert fake.payment_methods_for(sells.customer) == []
    assert "payment_method.attached" not in [e.type for e in fake.webhook_events()]


async def test_manual_capture_ends_in_requires_capture_and_the_document_waits(
    api: Api, fake: FakeChing, sells: Shop
) -> None:
    session_id = await open_session(
        api, customer=sells.customer, price=sells.price, capture_method="manual"
    )
    events_before = len(fake.webhook_events())
    charge = fake.complete_checkout(session_id)
    assert (charge.status, charge.capture_method, charge.document) == (
        "requires_capture",
        "manual",
        None,
    )
    assert fake.documents() == []
    assert [e.type for e in fake.webhook_events()[events_before:]] == ["charge.authorized"]
    status, captured = await api.post(f"/charges/{charge.id}/capture", {"amount": 9000})
    assert (status, captured["data"]["status"]) == (200, "succeeded")
    [document] = fake.documents()
    assert document.amount == 9000
    assert [e.type for e in fake.webhook_events()[events_before:]] == [
        "charge.authorized",
        "charge.captured",
    ]


async def test_a_saved_card_ignores_manual_capture(api: Api, fake: FakeChing, sells: Shop) -> None:
    card = fake.add_payment_method(sells.customer, brand="amex", last4="0005")
    session_id = await open_session(
        api, customer=sells.customer, price=sells.price, capture_method="manual"
    )
    charge = fake.complete_checkout(session_id, payment_method=card.id)
    assert (charge.status, charge.payment_method) == ("succeeded", card.id)
    assert fake.payment_method(card.id).status == "active"  # still the customer's
    with pytest.raises(ValueError, match="not a saved card"):
        fake.complete_checkout(
            await open_session(api, customer=sells.customer, price=sells.price),
            payment_method="pm_someone_else",
        )


async def test_a_decline_fails_the_charge_and_the_page_stays_open(
    api: Api, fake: FakeChing, sells: Shop
) -> None:
    session_id = await open_session(api, customer=sells.customer, price=sells.price)
    events_before = len(fake.webhook_events())
    declined = fake.complete_checkout(session_id, declines=True)
    assert (declined.status, declined.failure_code, declined.document) == (
        "failed",
        "card_declined",
        None,
    )
    assert fake.checkout_session(session_id).status == "pending"
    paid = fake.complete_checkout(session_id)  # the customer tries another card
    assert paid.status == "succeeded"
    assert fake.checkout_session(session_id).charges == [declined.id, paid.id]
    assert [e.type for e in fake.webhook_events()[events_before:]] == [
        "charge.failed",
        "charge.succeeded",
    ]
    assert len(fake.documents()) == 1
    with pytest.raises(FakeApiError) as again:
        fake.complete_checkout(session_id)
    assert (again.value.status, again.value.code) == (400, "SESSION_NOT_PENDING")


async def test_an_expired_session_cannot_be_paid(api: Api, fake: FakeChing, sells: Shop) -> None:
    session_id = await open_session(api, customer=sells.customer, price=sells.price)
    fake.advance(timedelta(minutes=31))
    with pytest.raises(FakeApiError) as expired:
        fake.complete_checkout(session_id)
    assert (expired.value.code, str(expired.value)) == (
        "SESSION_EXPIRED",
        f"400 SESSION_EXPIRED: Checkout session {session_id} has expired",
    )
    assert fake.charges() == []


async def test_create_document_false_issues_none(api: Api, fake: FakeChing, sells: Shop) -> None:
    session_id = await open_session(
        api, customer=sells.customer, price=sells.price, create_document=False
    )
    charge = fake.complete_checkout(session_id)
    assert (charge.status, charge.document, fake.documents()) == ("succeeded", None, [])


async def test_codes_and_automatic_rules_take_off_and_are_redeemed(
    api: Api, fake: FakeChing, sells: Shop
) -> None:
    shirt = fake.add_price(fake.add_product(name="Shirt").id, unit_amount=5000)
    launch = fake.add_discount(code="LAUNCH", value=1000)  # 10% of the order
    shirts = fake.add_discount(  # automatic: 1000 off each shirt's price
        name="Shirts", redemption="automatic", code=None, target_type="prices",
        targets=[shirt.id], value_type="override", value=4000,
    )  # fmt: skip
    fake.add_discount(name="Gone", code="LAUNCH", max_redemptions=1)
    used_up = fake.discounts()[-1]
    used_up.times_redeemed = 1  # a used-up rule with the same code: no chip, no error
    session_id = await open_session(
        api,
        customer=sells.customer,
        coupon_codes=["launch"],
        line_items=[
            {"name": "Shirt", "amount_agorot": 5000, "quantity": 2, "price": shirt.id},
            {"name": "Gift wrap", "amount_agorot": 1000},
        ],
    )
    charge = fake.complete_checkout(session_id)
    # 11000 in the cart; the override saves 2 x 1000, then 10% of 11000 is 1100.
    assert charge.amount == 11000 - 2000 - 1100
    assert fake.checkout_session(session_id).discounts == [shirts.id, launch.id]
    assert [(r.charge, r.amount_saved) for r in fake.discount(shirts.id).redemptions] == [
        (charge.id, 2000)
    ]
    assert [(r.charge, r.amount_saved) for r in fake.discount(launch.id).redemptions] == [
        (charge.id, 1100)
    ]
    assert (fake.discount(launch.id).times_redeemed, used_up.redemptions) == (1, [])
    # One per customer: the next checkout pays in full for what LAUNCH would cover.
    fake.discount(launch.id).max_redemptions_per_customer = 1
    again = await open_session(
        api, customer=sells.customer, price=sells.price, coupon_codes=["LAUNCH"]
    )
    assert fake.complete_checkout(again).amount == 9900


async def test_an_exclusive_price_adds_vat_and_a_product_rule_applies(
    api: Api, fake: FakeChing, sells: Shop
) -> None:
    price = fake.add_price(sells.product, unit_amount=10000, tax_mode="exclusive")
    fake.add_discount(
        code="PRO", target_type="products", targets=[sells.product], value_type="amount",
        value=800,
    )  # fmt: skip
    session_id = await open_session(
        api, customer=sells.customer, price=price.id, coupon_codes=["PRO"]
    )
    assert fake.complete_checkout(session_id).amount == 11800 - 800


async def test_what_the_fake_does_not_complete_says_why(
    api: Api, fake: FakeChing, sells: Shop
) -> None:
    # Sessions selling a recurring price start a subscription: test_fake_checkout_subscriptions.
    fake.add_discount(code="FREE", value=10_000)
    free = await open_session(
        api, customer=sells.customer, price=sells.price, coupon_codes=["FREE"]
    )
    with pytest.raises(CheckoutNotModeledError, match="nothing to pay"):
        fake.complete_checkout(free)
    free_cart = await open_session(
        api, customer=sells.customer, line_items=[{"name": "Gift", "amount_agorot": 0}]
    )
    with pytest.raises(NotImplementedError, match="nothing to pay"):
        fake.complete_checkout(free_cart)
    wallets = await open_session(
        api, customer=sells.customer, price=sells.price, payment_methods=["wallet"]
    )
    with pytest.raises(ValueError, match="wallets only"):
        fake.complete_checkout(wallets)
    with pytest.raises(ValueError, match="card_index"):
        fake.complete_checkout(
            await open_session(api, customer=sells.customer, price=sells.price), card_index=3
        )
    assert fake.charges() == []
    assert {fake.checkout_session(s).status for s in (free, free_cart)} == {"pending"}


async def test_the_helper_runs_from_another_thread_on_the_fakes_loop(sells_threaded: Any) -> None:
    fake, shop_ids = sells_threaded
    async with ching_async.Client(fake.api_key, base_url=fake.url) as ching:
        session = await ching.checkout_sessions.create(
            customer=shop_ids.customer, price=shop_ids.price, **URLS
        )
    charge = fake.complete_checkout(session.id)  # from this thread: runs on the fake's loop
    assert fake.charge(charge.id).status == "succeeded"


@pytest.fixture
def sells_threaded() -> Any:
    with FakeChing(seed=3) as fake:
        yield fake, shop(fake)
