"""checkout_sessions.* and billing_portal_sessions.create: each endpoint's wire as
the server sees it, every check before sending, each documented error code,
the documented objects, and creates retried safely under faults."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

import ching_async
from ching_async import (
    BillingPortalSession,
    CheckoutSession,
    CheckoutSessionStatus,
    LineItem,
)
from ching_async.testing import FakeChing, Fault
from tests._support.checkout import (
    CHECKOUT_SESSION,
    PLUG_PORTAL_SESSION,
    PORTAL_SESSION,
    RETRIEVED_CHECKOUT_SESSION,
    URLS,
    Shop,
    shop,
)
from tests._support.fake_client import client_for, sent
from tests._support.scripted import Script, envelope, error

CHECKOUT = "/ching/v1/checkout_sessions"
PORTAL = "/ching/v1/billing_portal_sessions"


@pytest.fixture
def sells(fake: FakeChing) -> Shop:
    return shop(fake)


# ---------------------------------------------------------------- the wire
async def test_create_sends_every_documented_field(
    fake: FakeChing, ching: ching_async.Client, sells: Shop
) -> None:
    fake.add_discount(code="LAUNCH")
    other_lines = [
        {
            "name": "Sticker",
            "amount_agorot": 500,
            "description": "Die-cut",
            "image_url": "https://cdn.example/s.png",
            "product": sells.product,
        },
        {"name": "Welcome discount", "amount_agorot": -1000},
    ]
    session = await ching.checkout_sessions.create(
        customer=sells.customer,
        **URLS,
        line_items=[LineItem("T-shirt", 4990, quantity=2, price=sells.price), *other_lines],
        coupon_codes=["LAUNCH"],
        capture_method="manual",
        create_document=False,
        payment_methods=["card", "wallet", "card"],
        background_color="#0a0B0c",
        auto_open_wallets=False,
    )
    [request] = sent(fake, "POST", "/checkout_sessions")
    assert (request.path, dict(request.query)) == ("/checkout_sessions", {})
    assert request.body == {
        "customer": sells.customer,
        "success_url": URLS["success_url"],
        "cancel_url": URLS["cancel_url"],
        "line_items": [
            {"name": "T-shirt", "amount_agorot": 4990, "quantity": 2, "price": sells.price},
            *other_lines,  # as given: a mapping's fields are sent as they are
        ],
        "coupon_codes": ["LAUNCH"],
        "capture_method": "manual",
        "create_document": False,
        "payment_methods": ["card", "wallet"],
        "background_color": "#0a0B0c",
        "auto_open_wallets": False,
    }
    assert request.idempotency_key is not None  # sent as on every POST; CHING ignores it
    assert session.url == f"https://secured.ching.co.il/checkout/{session.id}"
    assert session.embed_url == session.url + "/embed"
    assert session.status is None  # the create's answer has no status
    assert set(session.raw) == {"id", "url", "embed_url", "expires_at"}
    stored = fake.checkout_session(session.id)
    assert (stored.capture_method, stored.create_document) == ("manual", False)


async def test_the_smallest_create_retrieve_and_portal(
    fake: FakeChing, ching: ching_async.Client, sells: Shop
) -> None:
    session = await ching.checkout_sessions.create(
        customer=sells.customer, price=sells.price, **URLS
    )
    got = await ching.checkout_sessions.retrieve(session.id)
    portal = await ching.billing_portal_sessions.create(customer=sells.customer)
    with_return = await ching.billing_portal_sessions.create(
        customer=sells.customer, return_url="https://shop.example/account"
    )
    assert [(r.method, r.path, dict(r.query), r.body) for r in fake.requests()] == [
        (
            "POST",
            "/checkout_sessions",
            {},
            {"customer": sells.customer, **URLS, "price": sells.price},
        ),
        ("GET", f"/checkout_sessions/{session.id}", {}, None),
        ("POST", "/billing_portal_sessions", {}, {"customer": sells.customer}),
        (
            "POST",
            "/billing_portal_sessions",
            {},
            {"customer": sells.customer, "return_url": "https://shop.example/account"},
        ),
    ]
    assert got.status is CheckoutSessionStatus.PENDING
    assert (got.id, got.url, got.expires_at) == (session.id, session.url, session.expires_at)
    [made, _] = fake.billing_portal_sessions()
    assert portal.url == made.url == f"https://secured.ching.co.il/portal/{made.id}"
    assert (portal.return_url, with_return.return_url) == (None, "https://shop.example/account")
    assert portal.expires_at is not None


# ------------------------------------------------------- checks before sending
BAD_CREATES: list[tuple[dict[str, Any], str]] = [
    ({}, "give price= (one price), line_items= (a cart), or both"),
    ({"price": "price 1"}, "price must not contain whitespace"),
    ({"price": "p", "success_url": "shop.example/ok"}, "success_url must be an absolute"),
    ({"price": "p", "cancel_url": "ftp://x/no"}, "cancel_url must be an absolute"),
    ({"line_items": []}, "1 to 50 line items, got 0"),
    ({"line_items": [{"name": "x", "amount_agorot": 1}] * 51}, "1 to 50 line items, got 51"),
    ({"line_items": {"name": "x"}}, "must be a list of line items"),
    ({"line_items": [{"amount_agorot": 1}]}, "line_items[0]: name must be a non-empty"),
    ({"line_items": [{"name": "x"}]}, "line_items[0]: amount_agorot must be an int"),
    ({"line_items": [{"name": "x", "amount_agorot": 9.9}]}, "amount_agorot must be an int"),
    ({"line_items": [{"name": "x", "amount_agorot": True}]}, "amount_agorot must be an int"),
    ({"line_items": [{"name": "x", "amount_agorot": 1, "quantity": 1001}]}, "1 to 1000"),
    ({"line_items": [{"name": "x", "amount_agorot": 1, "quantity": 0}]}, "1 to 1000"),
    ({"line_items": [{"name": "x", "amount_agorot": 1, "qty": 2}]}, "unknown keys"),
    (
        {"line_items": [{"name": "x", "amount_agorot": 1, "image_url": "http://x/a.png"}]},
        "must be an https:// URL",
    ),
    (
        {"line_items": [{"name": "x", "amount_agorot": 100}, {"name": "y", "amount_agorot": -101}]},
        "add up to -1 agorot",
    ),
    ({"price": "p", "coupon_codes": ["A"] * 21}, "at most 20 codes, got 21"),
    ({"price": "p", "coupon_codes": ["X" * 65]}, "1-64 characters"),
    ({"price": "p", "coupon_codes": ["TWO WORDS"]}, "without spaces"),
    ({"price": "p", "coupon_codes": "LAUNCH"}, "must be a list of codes"),
    ({"price": "p", "capture_method": "later"}, "capture_method must be one of"),
    ({"price": "p", "create_document": "no"}, "create_document must be True or False"),
    ({"price": "p", "payment_methods": ["cash"]}, "payment_methods must be one of"),
    ({"price": "p", "payment_methods": "card"}, "payment_methods must be a list"),
    ({"price": "p", "background_color": "red"}, "CSS hex color"),
    ({"price": "p", "background_color": "#12345"}, "CSS hex color"),
    ({"price": "p", "auto_open_wallets": 1}, "auto_open_wallets must be True or False"),
    (
        {"price": "p", "auto_open_wallets": True, "payment_methods": ["card"]},
        "needs 'wallet' among payment_methods",
    ),
    (
        {"price": "p", "auto_open_wallets": True, "capture_method": "manual"},
        "does not go with capture_method='manual'",
    ),
    (
        {
            "price": "p",
            "line_items": [{"name": "x", "amount_agorot": 1}],
            "capture_method": "manual",
        },
        "capture_method='manual': not for a mixed session",
    ),
    (
        {"price": "p", "line_items": [{"name": "x", "amount_agorot": 1}], "payment_methods": []},
        "payment_methods=: not for a mixed session",
    ),
    (
        {
            "price": "p",
            "line_items": [{"name": "x", "amount_agorot": 1}],
            "auto_open_wallets": True,
        },
        "auto_open_wallets=True: not for a mixed session",
    ),
]


@pytest.mark.parametrize(("change", "match"), BAD_CREATES)
async def test_create_rejects_bad_arguments_before_sending(
    fake: FakeChing, ching: ching_async.Client, change: dict[str, Any], match: str
) -> None:
    arguments: dict[str, Any] = {"customer": "cus_1", **URLS, **change}
    with pytest.raises(ching_async.InvalidParameterError, match=re.escape(match)):
        await ching.checkout_sessions.create(**arguments)
    assert fake.requests() == []


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda c: c.checkout_sessions.create(customer="", price="p", **URLS), "customer"),
        (
            lambda c: c.checkout_sessions.create(
                customer="cus_1", price="p", mode="payment", **URLS
            ),
            "unexpected keyword argument 'mode'",
        ),
        (lambda c: c.checkout_sessions.retrieve("co 1"), "id must not contain whitespace"),
        (lambda c: c.billing_portal_sessions.create(customer=None), "customer must be a non-empty"),
        (
            lambda c: c.billing_portal_sessions.create(customer="cus_1", return_url="/account"),
            "return_url must be an absolute",
        ),
    ],
)
async def test_other_calls_reject_bad_arguments_before_sending(
    fake: FakeChing, ching: ching_async.Client, call: Any, match: str
) -> None:
    with pytest.raises((ching_async.InvalidParameterError, TypeError), match=match):
        await call(ching)
    assert fake.requests() == []


# ---------------------------------------------------------------- error codes
CODES = [
    (400, "discount_code_not_found", ching_async.DiscountCodeNotFoundError),
    (400, "line_item_target_not_found", ching_async.LineItemTargetNotFoundError),
    (400, "mixed_requires_recurring_price", ching_async.MixedRequiresRecurringPriceError),
    (400, "cart_total_invalid", ching_async.CartTotalInvalidError),
    (
        400,
        "capture_method_not_supported_for_mixed",
        ching_async.CaptureMethodNotSupportedForMixedError,
    ),
    (
        400,
        "payment_methods_not_supported_for_recurring",
        ching_async.PaymentMethodsNotSupportedForRecurringError,
    ),
    (400, "express_checkout_disabled", ching_async.ExpressCheckoutDisabledError),
    (400, "auto_open_wallets_requires_wallet", ching_async.AutoOpenWalletsRequiresWalletError),
    (
        400,
        "auto_open_wallets_not_supported_for_recurring",
        ching_async.AutoOpenWalletsNotSupportedForRecurringError,
    ),
    (400, "price_archived", ching_async.PriceArchivedError),
    # The code is data; another status picks its own class.
    (422, "cart_total_invalid", ching_async.UnprocessableEntityError),
    (404, "NOT_FOUND", ching_async.NotFoundError),
]


@pytest.mark.parametrize(
    ("status", "code", "cls"), CODES, ids=lambda v: str(getattr(v, "__name__", v))
)
async def test_each_documented_code_is_its_class(
    scripted: Script, client: ching_async.Client, status: int, code: str, cls: type[Exception]
) -> None:
    scripted.on("POST", CHECKOUT, error(status, code, "refused"))
    with pytest.raises(cls) as caught:
        await client.checkout_sessions.create(customer="cus_1", price="price_1", **URLS)
    assert type(caught.value) is cls
    assert (caught.value.status, caught.value.code) == (status, code)
    assert isinstance(caught.value, ching_async.APIError)
    assert len(scripted.seen_at("POST", CHECKOUT)) == 1  # a 4xx is never sent again


async def test_the_fake_answers_the_codes_the_sdk_cannot_see_coming(
    fake: FakeChing, ching: ching_async.Client, sells: Shop
) -> None:
    create = ching.checkout_sessions.create
    with pytest.raises(ching_async.DiscountCodeNotFoundError):
        await create(customer=sells.customer, price=sells.price, coupon_codes=["NOPE"], **URLS)
    one_line = [{"name": "Setup", "amount_agorot": 100}]
    with pytest.raises(ching_async.MixedRequiresRecurringPriceError):
        await create(customer=sells.customer, price=sells.price, line_items=one_line, **URLS)
    lost = [{"name": "Lost", "amount_agorot": 100, "price": "price_gone"}]
    with pytest.raises(ching_async.LineItemTargetNotFoundError):
        await create(customer=sells.customer, line_items=lost, **URLS)
    with pytest.raises(ching_async.CaptureMethodNotSupportedForMixedError):
        await create(customer=sells.customer, price=sells.monthly, capture_method="manual", **URLS)
    with pytest.raises(ching_async.PaymentMethodsNotSupportedForRecurringError):
        await create(customer=sells.customer, price=sells.monthly, payment_methods=["card"], **URLS)
    with pytest.raises(ching_async.AutoOpenWalletsNotSupportedForRecurringError):
        await create(customer=sells.customer, price=sells.monthly, auto_open_wallets=True, **URLS)
    fake.express_checkout = False
    with pytest.raises(ching_async.ExpressCheckoutDisabledError):
        await create(customer=sells.customer, price=sells.price, auto_open_wallets=True, **URLS)
    fake.archive_price(sells.price)
    with pytest.raises(ching_async.PriceArchivedError):
        await create(customer=sells.customer, price=sells.price, **URLS)
    with pytest.raises(ching_async.BadRequestError, match="No such customer"):  # no auto-create
        await create(customer="cus_nobody", price=sells.monthly, **URLS)
    with pytest.raises(ching_async.NotFoundError):
        await create(customer=sells.customer, price="price_nothing", **URLS)
    with pytest.raises(ching_async.NotFoundError):
        await ching.checkout_sessions.retrieve("co_nothing")
    with pytest.raises(ching_async.NotFoundError):
        await ching.billing_portal_sessions.create(customer="cus_nobody")
    assert fake.checkout_sessions() == []
    assert fake.billing_portal_sessions() == []


# ------------------------------------------------------- the documented objects
async def test_the_documented_objects_decode(scripted: Script, client: ching_async.Client) -> None:
    scripted.on("POST", CHECKOUT, envelope({**CHECKOUT_SESSION, "mode": "payment"}))
    scripted.on("GET", f"{CHECKOUT}/co_8Vn3KqR1xT", envelope(RETRIEVED_CHECKOUT_SESSION))
    scripted.on("GET", f"{CHECKOUT}/co_new", envelope({"id": "co_new", "status": "processing"}))
    scripted.on("POST", PORTAL, envelope(PORTAL_SESSION), envelope(PLUG_PORTAL_SESSION))
    created = await client.checkout_sessions.create(customer="cus_1", price="price_1", **URLS)
    expires = datetime(2026, 5, 10, 12, 30, tzinfo=UTC)
    assert created == CheckoutSession(
        id="co_8Vn3KqR1xT",
        url="https://secured.ching.co.il/checkout/co_8Vn3KqR1xT",
        embed_url="https://secured.ching.co.il/checkout/co_8Vn3KqR1xT/embed",
        expires_at=expires,
    )
    assert created.raw["mode"] == "payment"  # a field this version does not know is kept
    assert created.request_info is not None
    assert created.to_dict() == {**CHECKOUT_SESSION, "status": None}
    got = await client.checkout_sessions.retrieve("co_8Vn3KqR1xT")
    assert got.status is CheckoutSessionStatus.SUCCEEDED
    assert (await client.checkout_sessions.retrieve("co_new")).status == "processing"
    docs = await client.billing_portal_sessions.create(customer="cus_1")
    plug = await client.billing_portal_sessions.create(customer="cus_1")
    assert docs == BillingPortalSession(
        url=PORTAL_SESSION["url"],
        expires_at=datetime(2026, 5, 11, 12, tzinfo=UTC),
        return_url="https://shop.example/account",
    )
    assert (plug.token, plug.return_url) == ("pt_5aQ9Lm2c", None)
    # Whoever has the URL is signed in as the customer: not in a repr or a log line.
    assert "pt_5aQ9Lm2c" not in repr(docs) + repr(plug) + str(plug)


async def test_an_answer_without_the_portal_url_is_a_decode_error(
    scripted: Script, client: ching_async.Client
) -> None:
    scripted.on("POST", PORTAL, envelope({"expires_at": "2026-05-11T12:00:00Z"}))
    with pytest.raises(ching_async.ResponseDecodeError):
        await client.billing_portal_sessions.create(customer="cus_1")


# ----------------------------------------------------- safe to send again
@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(Fault.commit_then_drop(), id="a-lost-answer"),
        pytest.param(Fault.commit_then_delay(2.0), id="a-late-answer"),
        pytest.param(Fault.status(503), id="a-503-before-processing"),
        pytest.param(Fault.html_then_commit(504, 0.0), id="a-gateway-504-then-made"),
    ],
)
@pytest.mark.parametrize("what", ["checkout", "portal"])
async def test_a_session_create_is_sent_again_and_nothing_is_charged(
    fake: FakeChing, sells: Shop, fault: Fault, what: str
) -> None:
    """Resend.SAFE: an ambiguous failure sends again at once (no lookup);
    a second session may exist, unused: it charges nothing and expires."""
    path = "/checkout_sessions" if what == "checkout" else "/billing_portal_sessions"
    fake.faults.add(fault, method="POST", path=path, times=1)
    async with client_for(fake, timeout=0.5) as ching:
        if what == "checkout":
            made: Any = await ching.checkout_sessions.create(
                customer=sells.customer, price=sells.price, **URLS
            )
            stored = [s.id for s in fake.checkout_sessions()]
            assert made.id == stored[-1]
        else:
            made = await ching.billing_portal_sessions.create(customer=sells.customer)
            stored = [s.url for s in fake.billing_portal_sessions()]
            assert made.url == stored[-1]
    await fake.wait_for_commits()
    attempts = sent(fake, "POST", path)
    assert len(attempts) == 2
    assert attempts[0].idempotency_key == attempts[1].idempotency_key
    assert [r.method for r in fake.requests()] == ["POST", "POST"]  # no lookup
    committed = 1 if fault.kind.name == "STATUS" else 2
    if what == "checkout":
        assert len(fake.checkout_sessions()) == committed
    else:
        assert len(fake.billing_portal_sessions()) == committed
    assert made.request_info is not None
    assert (made.request_info.attempts, made.request_info.reconciled) == (2, False)
    assert fake.charges() == []
