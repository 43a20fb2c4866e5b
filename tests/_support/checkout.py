"""Checkout and billing portal sessions as REFERENCE.md documents them
(sections 8.2 and 13), and a customer with something to sell in a FakeChing."""

from __future__ import annotations

from typing import Any

import attrs

from ching_async.testing import FakeChing

# POST /checkout_sessions answers these four (DOCS; embed_url: newest SKILL).
CHECKOUT_SESSION: dict[str, Any] = {
    "id": "co_8Vn3KqR1xT",
    "url": "https://secured.ching.co.il/checkout/co_8Vn3KqR1xT",
    "embed_url": "https://secured.ching.co.il/checkout/co_8Vn3KqR1xT/embed",
    "expires_at": "2026-05-10T12:30:00.000Z",
}
# GET /checkout_sessions/:id (PLUG only): the same, with its status.
RETRIEVED_CHECKOUT_SESSION: dict[str, Any] = {**CHECKOUT_SESSION, "status": "succeeded"}
# POST /billing_portal_sessions: DOCS:billing_portal's answer, and PLUG's.
PORTAL_SESSION: dict[str, Any] = {
    "url": "https://secured.ching.co.il/portal/pt_5aQ9Lm2c",
    "expires_at": "2026-05-11T12:00:00.000Z",
    "return_url": "https://shop.example/account",
}
PLUG_PORTAL_SESSION: dict[str, Any] = {
    "url": "https://secured.ching.co.il/portal/pt_5aQ9Lm2c",
    "token": "pt_5aQ9Lm2c",
    "expires_at": "2026-05-11T12:00:00.000Z",
}
OK_URL = "https://shop.example/ok"
NO_URL = "https://shop.example/no"
URLS = {"success_url": OK_URL, "cancel_url": NO_URL}


@attrs.frozen
class Shop:
    """What a FakeChing sells, and to whom: ids only."""

    customer: str
    product: str
    price: str  # one-time, 9900
    monthly: str  # recurring, 4900 a month


def shop(fake: FakeChing) -> Shop:
    customer = fake.add_customer(name="Tal Levi", email="tal@example.com")
    product = fake.add_product(name="Pro")
    price = fake.add_price(product.id, unit_amount=9900)
    monthly = fake.add_price(
        product.id, unit_amount=4900, type="recurring", recurring={"interval": "month"}
    )
    return Shop(customer.id, product.id, price.id, monthly.id)
