"""Endpoint handlers: decoded request in, JSON data out. HTTP plumbing lives in _app."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from multidict import MultiMapping

from ._billing import Billing
from ._envelope import FakeApiError, Issue, Reply, invalid_fields
from ._state import Ledger
from ._subscriptions import parse_change_price, parse_subscription, parse_subscription_cancel
from ._validation import (
    JSONObject,
    parse_cancel,
    parse_capture,
    parse_charge,
    parse_customer_create,
    parse_customer_update,
    parse_discount,
    parse_discount_update,
    parse_image_upload,
    parse_price,
    parse_price_update,
    parse_product,
    parse_refund,
    parse_setup_session,
    parse_targets,
    parse_test_card,
    parse_upsert,
    parse_webhook_endpoint,
)

PDF_CONTENT_TYPE = "application/pdf"


@dataclass(frozen=True, slots=True)
class Call:
    """What an endpoint sees of a request that passed auth and body parsing."""

    params: Mapping[str, str]
    query: MultiMapping[str]
    body: JSONObject
    livemode: bool
    idempotency_key: str | None


Handler = Callable[[Ledger, Call], Any]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    template: str  # relative to the API base
    handler: Handler


def create_setup_session(ledger: Ledger, call: Call) -> Any:
    session = ledger.create_setup_session(parse_setup_session(call.body), livemode=call.livemode)
    return session.to_json(ledger.now())


def get_setup_session(ledger: Ledger, call: Call) -> Any:
    return ledger.setup_sessions.find(call.params["id"]).to_json(ledger.now())


def cancel_setup_session(ledger: Ledger, call: Call) -> Any:
    session = ledger.cancel_setup_session(call.params["id"])
    return {"id": session.id, "status": session.status}  # documented: only these two


def create_charge(ledger: Ledger, call: Call) -> Any:
    params = parse_charge(call.body)
    charge = ledger.create_charge(
        params, livemode=call.livemode, idempotency_key=call.idempotency_key
    )
    if charge.status == "failed":
        message = charge.failure_message or "The charge failed."
        raise FakeApiError(402, "CHARGE_FAILED", message)
    return charge.to_json()


def list_charges(ledger: Ledger, call: Call) -> Any:
    charges = ledger.recent_charges(call.query.get("customer"))
    return [_with_customer_name(ledger, charge.to_json()) for charge in charges]


def _with_customer_name(ledger: Ledger, data: JSONObject) -> JSONObject:
    customer = ledger.customers.get(data["customer"])
    data["customer_name"] = customer.name if customer is not None else None
    return data


def get_charge(ledger: Ledger, call: Call) -> Any:
    return ledger.charges.find(call.params["id"]).to_json()


def capture_charge(ledger: Ledger, call: Call) -> Any:
    amount = parse_capture(call.body)
    return ledger.capture_charge(call.params["id"], amount).to_json()


def cancel_charge(ledger: Ledger, call: Call) -> Any:
    reason = parse_cancel(call.body)
    return ledger.cancel_charge(call.params["id"], reason).to_json()


def get_customer(ledger: Ledger, call: Call) -> Any:
    return ledger.customers.find(call.params["id"]).to_json()  # a tombstone once deleted


def create_customer(ledger: Ledger, call: Call) -> Any:
    params = parse_customer_create(call.body)
    return ledger.create_customer(params, livemode=call.livemode).to_json()


def update_customer(ledger: Ledger, call: Call) -> Any:
    params = parse_customer_update(call.body)
    return ledger.update_customer(call.params["id"], params).to_json()


def upsert_customer(ledger: Ledger, call: Call) -> Reply:
    customer, action = ledger.upsert_customer(parse_upsert(call.body), livemode=call.livemode)
    # ``action`` sits beside ``data``: ``const { data: customer, action } = ...`` in the docs.
    body = {"success": True, "data": customer.to_json(), "action": action}
    return Reply(200, orjson.dumps(body))


def list_customers(ledger: Ledger, call: Call) -> Any:
    # Documented: "query parameters are not honoured".
    customers = ledger.customers.newest(call.livemode, keep=lambda c: not c.deleted)
    return [customer.to_json() for customer in customers]


def delete_customer(ledger: Ledger, call: Call) -> Any:
    return ledger.delete_customer(call.params["id"]).to_json()


def list_customer_payment_methods(ledger: Ledger, call: Call) -> Any:
    customer = ledger.customers.find(call.params["id"])
    return [method.to_json() for method in ledger.payment_methods_of(customer.id)]


def list_customer_inactive_payment_methods(ledger: Ledger, call: Call) -> Any:
    customer = ledger.customers.find(call.params["id"])
    return [method.to_json() for method in ledger.inactive_payment_methods_of(customer.id)]


def get_payment_method(ledger: Ledger, call: Call) -> Any:
    return ledger.payment_methods.find(call.params["id"]).to_json()


def detach_payment_method(ledger: Ledger, call: Call) -> Any:
    return ledger.detach_payment_method(call.params["id"]).to_json()


def create_test_card(ledger: Ledger, call: Call) -> Any:
    customer, index = parse_test_card(call.body)
    return ledger.create_test_card(customer, index, livemode=call.livemode).to_json()


def create_refund(ledger: Ledger, call: Call) -> Any:
    return ledger.create_refund(parse_refund(call.body), livemode=call.livemode).to_json()


def list_refunds(ledger: Ledger, call: Call) -> Any:
    # No filter is documented for refunds; like the real API, query parameters are ignored.
    return [refund.to_json() for refund in ledger.refunds.newest(call.livemode)]


def get_refund(ledger: Ledger, call: Call) -> Any:
    return ledger.refunds.find(call.params["id"]).to_json()


def list_documents(ledger: Ledger, call: Call) -> Any:
    # Documented: query parameters are ignored.
    return [document.to_json() for document in ledger.documents.newest(call.livemode)]


def get_document(ledger: Ledger, call: Call) -> Any:
    return ledger.documents.find(call.params["id"]).to_json()


def get_document_pdf(ledger: Ledger, call: Call) -> Reply:
    # The binary itself, not an envelope (SKILL-EP: "PDF binary").
    pdf = ledger.documents.find(call.params["id"]).pdf()
    return Reply(200, pdf, content_type=PDF_CONTENT_TYPE)


def create_webhook_endpoint(ledger: Ledger, call: Call) -> Any:
    url, events = parse_webhook_endpoint(call.body)
    return ledger.create_webhook_endpoint(url, events, livemode=call.livemode).created_json()


def list_webhook_endpoints(ledger: Ledger, call: Call) -> Any:
    # This mode's endpoints only; the secret is never shown again.
    return [endpoint.to_json() for endpoint in ledger.webhook_endpoints.newest(call.livemode)]


def delete_webhook_endpoint(ledger: Ledger, call: Call) -> Reply:
    ledger.delete_webhook_endpoint(call.params["id"], livemode=call.livemode)
    return Reply(200, orjson.dumps({"success": True}))  # documented: no `data`


# -- products, prices and discounts --------------------------------------------------
# (Handlers alike in shape only: each is one ledger operation of its own.)


def create_product(ledger: Ledger, call: Call) -> Any:
    return ledger.create_product(parse_product(call.body), livemode=call.livemode).to_json()


def list_products(ledger: Ledger, call: Call) -> Any:
    # No filter is documented (the official CLI sends ``?limit=``, to no known effect).
    return [product.to_json() for product in ledger.products.newest(call.livemode)]


def get_product(ledger: Ledger, call: Call) -> Any:
    return ledger.products.find(call.params["id"]).to_json()


def update_product(ledger: Ledger, call: Call) -> Any:
    sent = parse_product(call.body, update=True)
    return ledger.update_product(call.params["id"], sent).to_json()


def upload_product_image(ledger: Ledger, call: Call) -> Any:
    # No source shows the answer ("a URL"): the fake answers {"url": ...}.
    image = ledger.upload_image(parse_image_upload(call.body), livemode=call.livemode)
    return {"url": image.url}


def create_price(ledger: Ledger, call: Call) -> Any:
    return ledger.create_price(parse_price(call.body), livemode=call.livemode).to_json()


def list_prices(ledger: Ledger, call: Call) -> Any:
    active = call.query.get("active", "true")
    if active not in ("true", "false", "all"):
        raise invalid_fields([Issue(("active",), "Expected one of: true, false, all")])
    prices = ledger.list_prices(call.livemode, call.query.get("product"), active)
    return [price.to_json() for price in prices]


def get_price(ledger: Ledger, call: Call) -> Any:
    return ledger.price(call.params["id"]).to_json()


def update_price(ledger: Ledger, call: Call) -> Any:
    return ledger.update_price(call.params["id"], parse_price_update(call.body)).to_json()


def cancel_price_migration(ledger: Ledger, call: Call) -> Any:
    return ledger.cancel_price_migration(call.params["id"]).to_json()


def create_discount(ledger: Ledger, call: Call) -> Any:
    return ledger.create_discount(parse_discount(call.body), livemode=call.livemode).to_json()


def list_discounts(ledger: Ledger, call: Call) -> Any:
    return [discount.to_json() for discount in ledger.discounts.newest(call.livemode)]


def get_discount(ledger: Ledger, call: Call) -> Any:
    return ledger.discounts.find(call.params["id"]).to_json()


def update_discount(ledger: Ledger, call: Call) -> Any:
    sent = parse_discount_update(call.body)
    return ledger.update_discount(call.params["id"], sent).to_json()


def replace_discount_targets(ledger: Ledger, call: Call) -> Any:
    targets = parse_targets(call.body)
    return ledger.replace_discount_targets(call.params["id"], targets).to_json()


def archive_discount(ledger: Ledger, call: Call) -> Any:
    return ledger.archive_discount(call.params["id"]).to_json()


def list_discount_redemptions(ledger: Ledger, call: Call) -> Any:
    discount = ledger.discounts.find(call.params["id"])
    applied = Billing(ledger).applied_discounts_of(discount.id)
    return {
        "redemptions": [r.to_json() for r in reversed(discount.redemptions)],
        "applied_discounts": [a.to_json() for a in applied],
    }


# -- subscriptions (the billing engine: _billing) --------------------------------------


def create_subscription(ledger: Ledger, call: Call) -> Any:
    billing = Billing(ledger)
    customer, price, payment_method, discounts, metadata = parse_subscription(call.body)
    sub = billing.create(
        customer, price, payment_method, discounts, metadata, livemode=call.livemode
    )
    return billing.render(sub)


def list_subscriptions(ledger: Ledger, call: Call) -> Any:
    # Documented: query parameters are ignored.
    billing = Billing(ledger)
    billing.catch_up()
    return [billing.render(sub, row=True) for sub in ledger.subscriptions.newest(call.livemode)]


def get_subscription(ledger: Ledger, call: Call) -> Any:
    billing = Billing(ledger)
    billing.catch_up()
    return billing.render(ledger.subscriptions.find(call.params["id"]))


def cancel_subscription(ledger: Ledger, call: Call) -> Any:
    billing = Billing(ledger)
    at_period_end = parse_subscription_cancel(call.body)
    return billing.render(billing.cancel(call.params["id"], at_period_end=at_period_end))


def change_subscription_price(ledger: Ledger, call: Call) -> Any:
    billing = Billing(ledger)
    price, timing = parse_change_price(call.body)
    answer = billing.change_price(call.params["id"], price, timing)
    sub = ledger.subscriptions.find(call.params["id"])
    return {**answer, "subscription": billing.render(sub)}


ROUTES: tuple[Route, ...] = (
    Route("POST", "/setup_sessions", create_setup_session),
    Route("GET", "/setup_sessions/{id}", get_setup_session),
    Route("POST", "/setup_sessions/{id}/cancel", cancel_setup_session),
    Route("POST", "/charges", create_charge),
    Route("GET", "/charges", list_charges),
    Route("GET", "/charges/{id}", get_charge),
    Route("POST", "/charges/{id}/capture", capture_charge),
    Route("POST", "/charges/{id}/cancel", cancel_charge),
    # Registered before "/customers/{id}": aiohttp matches in registration order.
    Route("POST", "/customers/upsert", upsert_customer),
    Route("POST", "/customers", create_customer),
    Route("GET", "/customers", list_customers),
    Route("GET", "/customers/{id}", get_customer),
    Route("POST", "/customers/{id}", update_customer),
    Route("DELETE", "/customers/{id}", delete_customer),
    Route("GET", "/customers/{id}/payment_methods", list_customer_payment_methods),
    Route(
        "GET", "/customers/{id}/payment_methods/inactive", list_customer_inactive_payment_methods
    ),
    Route("POST", "/payment_methods/test-card", create_test_card),
    Route("GET", "/payment_methods/{id}", get_payment_method),
    Route("POST", "/payment_methods/{id}/detach", detach_payment_method),
    Route("POST", "/refunds", create_refund),
    Route("GET", "/refunds", list_refunds),
    Route("GET", "/refunds/{id}", get_refund),
    Route("GET", "/documents", list_documents),
    Route("GET", "/documents/{id}", get_document),
    Route("GET", "/documents/{id}/pdf", get_document_pdf),
    Route("POST", "/webhooks", create_webhook_endpoint),
    Route("GET", "/webhooks", list_webhook_endpoints),
    Route("DELETE", "/webhooks/{id}", delete_webhook_endpoint),
    # Registered before "/products/{id}": aiohttp matches in registration order.
    Route("POST", "/products/upload_image", upload_product_image),
    Route("POST", "/products", create_product),
    Route("GET", "/products", list_products),
    Route("GET", "/products/{id}", get_product),
    Route("POST", "/products/{id}", update_product),
    Route("POST", "/prices", create_price),
    Route("GET", "/prices", list_prices),
    Route("GET", "/prices/{id}", get_price),
    Route("POST", "/prices/{id}", update_price),
    Route("DELETE", "/prices/{id}/pending_migration", cancel_price_migration),
    Route("POST", "/discounts", create_discount),
    Route("GET", "/discounts", list_discounts),
    Route("GET", "/discounts/{id}", get_discount),
    Route("POST", "/discounts/{id}", update_discount),
    Route("POST", "/discounts/{id}/targets", replace_discount_targets),
    Route("POST", "/discounts/{id}/archive", archive_discount),
    Route("GET", "/discounts/{id}/redemptions", list_discount_redemptions),
    Route("POST", "/subscriptions", create_subscription),
    Route("GET", "/subscriptions", list_subscriptions),
    Route("GET", "/subscriptions/{id}", get_subscription),
    Route("POST", "/subscriptions/{id}/cancel", cancel_subscription),
    Route("POST", "/subscriptions/{id}/change_price", change_subscription_price),
)
