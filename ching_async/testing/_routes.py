"""Endpoint handlers: decoded request in, JSON data out. HTTP plumbing lives in _app."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import orjson
from multidict import MultiMapping

from . import _checkout
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


class _Answer(Protocol):
    def to_json(self) -> JSONObject: ...


# Most endpoints are one ledger operation on the request: ROUTES builds their
# handlers with these; the ones that do more are written out below.
def found(table: str) -> Handler:
    """``GET .../{id}``: the record in the ledger's ``table``, or the API's 404."""

    def handler(ledger: Ledger, call: Call) -> Any:
        return getattr(ledger, table).find(call.params["id"]).to_json()

    return handler


def newest(table: str) -> Handler:
    """An unfiltered list: this mode's newest records of ``table``. Like the
    real API's lists with no documented filter, it ignores query parameters."""

    def handler(ledger: Ledger, call: Call) -> Any:
        return [record.to_json() for record in getattr(ledger, table).newest(call.livemode)]

    return handler


def created(create: Callable[..., _Answer], parse: Callable[[JSONObject], Any]) -> Handler:
    """A create: ``create(ledger, parse(body), livemode=...)``."""

    def handler(ledger: Ledger, call: Call) -> Any:
        return create(ledger, parse(call.body), livemode=call.livemode).to_json()

    return handler


def on_id(
    change: Callable[..., _Answer], parse: Callable[[JSONObject], Any] | None = None
) -> Handler:
    """An operation on the record ``{id}``: ``change(ledger, id)``, or
    ``change(ledger, id, parse(body))`` for an endpoint that takes a body."""

    def handler(ledger: Ledger, call: Call) -> Any:
        sent = () if parse is None else (parse(call.body),)
        return change(ledger, call.params["id"], *sent).to_json()

    return handler


def set_default_payment_method(ledger: Ledger, call: Call) -> Any:
    return ledger.set_default_payment_method(call.params["id"])


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


def upsert_customer(ledger: Ledger, call: Call) -> Reply:
    customer, action = ledger.upsert_customer(parse_upsert(call.body), livemode=call.livemode)
    # ``action`` sits beside ``data``: ``const { data: customer, action } = ...`` in the docs.
    body = {"success": True, "data": customer.to_json(), "action": action}
    return Reply(200, orjson.dumps(body))


def list_customers(ledger: Ledger, call: Call) -> Any:
    # Documented: "query parameters are not honoured".
    customers = ledger.customers.newest(call.livemode, keep=lambda c: not c.deleted)
    return [customer.to_json() for customer in customers]


def list_customer_payment_methods(ledger: Ledger, call: Call) -> Any:
    customer = ledger.customers.find(call.params["id"])
    return [method.to_json() for method in ledger.payment_methods_of(customer.id)]


def list_customer_inactive_payment_methods(ledger: Ledger, call: Call) -> Any:
    customer = ledger.customers.find(call.params["id"])
    return [method.to_json() for method in ledger.inactive_payment_methods_of(customer.id)]


def create_test_card(ledger: Ledger, call: Call) -> Any:
    customer, index = parse_test_card(call.body)
    return ledger.create_test_card(customer, index, livemode=call.livemode).to_json()


def get_document_pdf(ledger: Ledger, call: Call) -> Reply:
    # The binary itself, not an envelope (SKILL-EP: "PDF binary"), or a
    # redirect on to it when told to (FakeChing.redirect_pdfs).
    document = ledger.documents.find(call.params["id"])
    redirect = ledger.pdf_redirect
    reply = None if redirect is None else redirect(document.id, call.query.get("hop"))
    return reply or Reply(200, document.pdf(), content_type=PDF_CONTENT_TYPE)


def create_webhook_endpoint(ledger: Ledger, call: Call) -> Any:
    url, events = parse_webhook_endpoint(call.body)
    return ledger.create_webhook_endpoint(url, events, livemode=call.livemode).created_json()


def delete_webhook_endpoint(ledger: Ledger, call: Call) -> Reply:
    ledger.delete_webhook_endpoint(call.params["id"], livemode=call.livemode)
    return Reply(200, orjson.dumps({"success": True}))  # documented: no `data`


# -- products, prices and discounts --------------------------------------------------


def upload_product_image(ledger: Ledger, call: Call) -> Any:
    # No source shows the answer ("a URL"): the fake answers {"url": ...}.
    image = ledger.upload_image(parse_image_upload(call.body), livemode=call.livemode)
    return {"url": image.url}


_parse_product_update = partial(parse_product, update=True)


def list_prices(ledger: Ledger, call: Call) -> Any:
    active = call.query.get("active", "true")
    if active not in ("true", "false", "all"):
        raise invalid_fields([Issue(("active",), "Expected one of: true, false, all")])
    prices = ledger.list_prices(call.livemode, call.query.get("product"), active)
    return [price.to_json() for price in prices]


def list_discount_redemptions(ledger: Ledger, call: Call) -> Any:
    discount = ledger.discounts.find(call.params["id"])
    applied = Billing(ledger).applied_discounts_of(discount.id)
    return {
        "redemptions": [r.to_json() for r in reversed(discount.redemptions)],
        "applied_discounts": [a.to_json() for a in applied],
    }


# -- checkout sessions and the billing portal (see _checkout) -----------------------


def create_checkout_session(ledger: Ledger, call: Call) -> Any:
    sent = _checkout.parse_checkout_session(call.body)
    session = _checkout.create_checkout_session(ledger, sent, livemode=call.livemode)
    return session.created_json()


def get_checkout_session(ledger: Ledger, call: Call) -> Any:
    return ledger.checkout_sessions.find(call.params["id"]).to_json(ledger.now())


def create_portal_session(ledger: Ledger, call: Call) -> Any:
    sent = _checkout.parse_portal_session(call.body)
    return _checkout.create_portal_session(ledger, sent, livemode=call.livemode).to_json()


# -- subscriptions (the billing engine: _billing) --------------------------------------
# Not built by found/newest/created/on_id: a subscription is rendered by the
# billing engine (its next_charge_* estimate reads prices and discounts), and
# reads first catch the engine up to the fake's now.


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
    Route("GET", "/charges/{id}", found("charges")),
    Route("POST", "/charges/{id}/capture", on_id(Ledger.capture_charge, parse_capture)),
    Route("POST", "/charges/{id}/cancel", on_id(Ledger.cancel_charge, parse_cancel)),
    # Registered before "/customers/{id}": aiohttp matches in registration order.
    Route("POST", "/customers/upsert", upsert_customer),
    Route(
        "POST",
        "/customers",
        created(partial(Ledger.create_customer, unique_email=True), parse_customer_create),
    ),
    Route("GET", "/customers", list_customers),
    Route("GET", "/customers/{id}", found("customers")),  # a tombstone once deleted
    Route("POST", "/customers/{id}", on_id(Ledger.update_customer, parse_customer_update)),
    Route("DELETE", "/customers/{id}", on_id(Ledger.delete_customer)),
    Route("GET", "/customers/{id}/payment_methods", list_customer_payment_methods),
    Route(
        "GET", "/customers/{id}/payment_methods/inactive", list_customer_inactive_payment_methods
    ),
    Route("POST", "/payment_methods/test-card", create_test_card),
    Route("GET", "/payment_methods/{id}", found("payment_methods")),
    Route("POST", "/payment_methods/{id}/detach", on_id(Ledger.detach_payment_method)),
    Route("POST", "/payment_methods/{id}/set_default", set_default_payment_method),
    Route("POST", "/refunds", created(Ledger.create_refund, parse_refund)),
    Route("GET", "/refunds", newest("refunds")),
    Route("GET", "/refunds/{id}", found("refunds")),
    Route("GET", "/documents", newest("documents")),
    Route("GET", "/documents/{id}", found("documents")),
    Route("GET", "/documents/{id}/pdf", get_document_pdf),
    Route("POST", "/webhooks", create_webhook_endpoint),
    # This mode's endpoints only; the secret is never shown again.
    Route("GET", "/webhooks", newest("webhook_endpoints")),
    Route("DELETE", "/webhooks/{id}", delete_webhook_endpoint),
    # Registered before "/products/{id}": aiohttp matches in registration order.
    Route("POST", "/products/upload_image", upload_product_image),
    Route("POST", "/products", created(Ledger.create_product, parse_product)),
    # No filter is documented (the official CLI sends ``?limit=``, to no known effect).
    Route("GET", "/products", newest("products")),
    Route("GET", "/products/{id}", found("products")),
    Route("POST", "/products/{id}", on_id(Ledger.update_product, _parse_product_update)),
    Route("POST", "/prices", created(Ledger.create_price, parse_price)),
    Route("GET", "/prices", list_prices),
    Route("GET", "/prices/{id}", on_id(Ledger.price)),  # as of the fake's now
    Route("POST", "/prices/{id}", on_id(Ledger.update_price, parse_price_update)),
    Route("DELETE", "/prices/{id}/pending_migration", on_id(Ledger.cancel_price_migration)),
    Route("POST", "/discounts", created(Ledger.create_discount, parse_discount)),
    Route("GET", "/discounts", newest("discounts")),
    Route("GET", "/discounts/{id}", found("discounts")),
    Route("POST", "/discounts/{id}", on_id(Ledger.update_discount, parse_discount_update)),
    Route("POST", "/discounts/{id}/targets", on_id(Ledger.replace_discount_targets, parse_targets)),
    Route("POST", "/discounts/{id}/archive", on_id(Ledger.archive_discount)),
    Route("GET", "/discounts/{id}/redemptions", list_discount_redemptions),
    Route("POST", "/checkout_sessions", create_checkout_session),
    Route("GET", "/checkout_sessions/{id}", get_checkout_session),
    Route("POST", "/billing_portal_sessions", create_portal_session),
    Route("POST", "/subscriptions", create_subscription),
    Route("GET", "/subscriptions", list_subscriptions),
    Route("GET", "/subscriptions/{id}", get_subscription),
    Route("POST", "/subscriptions/{id}/cancel", cancel_subscription),
    Route("POST", "/subscriptions/{id}/change_price", change_subscription_price),
)
