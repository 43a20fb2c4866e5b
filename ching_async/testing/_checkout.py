"""Hosted checkout and the billing portal in the fake (REFERENCE.md sections 8 and 13).

``POST /checkout_sessions`` is checked as documented (the body, then the rules
between the session, its customer, prices, products and codes); the customer
pays on the hosted page when a test calls ``FakeChing.complete_checkout``,
which makes the charge through the ledger's own path (its event, its tax
document at capture) and records the discounts it used; a session selling a
recurring price starts a subscription through the billing engine (``_billing``).

The sessions live in the ledger (``checkout_sessions``, ``portal_sessions``);
this module holds the operations on them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ._billing import Billing, applies_to
from ._envelope import FakeApiError, Issue, invalid_fields, not_found
from ._models import BillingPortalSession, Charge, CheckoutSession, Discount, PaymentMethod, Price
from ._state import VAT_RATE, Ledger
from ._validation import TEST_CARDS, ChargeParams, JSONObject, Sent, _Fields, is_webhook_url

CHECKOUT_LIFETIME = timedelta(minutes=30)  # DOCS; SKILL
# Sources say 24 hours, 30 minutes or about an hour: the fake takes the shortest,
# so a test never counts on a link living longer than it may.
PORTAL_LIFETIME = timedelta(minutes=30)
MAX_LINE_ITEMS = 50
MAX_QUANTITY = 1000
MAX_COUPON_CODES = 20
MAX_COUPON_CODE_LENGTH = 64
CAPTURE_METHODS = ("automatic", "manual")
PAYMENT_METHODS = ("card", "wallet")
CSS_HEX = re.compile(r"#(?:[0-9A-Fa-f]{3}|[0-9A-Fa-f]{6}|[0-9A-Fa-f]{8})")


class CheckoutNotModeledError(NotImplementedError):
    """``complete_checkout`` on a session the fake cannot complete faithfully: a
    one-time price or a cart with nothing left to pay (no source says what CHING
    does then)."""


# -- the bodies --------------------------------------------------------------------


def parse_checkout_session(body: JSONObject) -> Sent:
    """``POST /checkout_sessions``: each field's own rules (422 ``INVALID_FIELD``)."""
    fields = _Fields(body)
    sent: Sent = {
        "customer": fields.required_string("customer"),
        "success_url": _url(fields, body, "success_url"),
        "cancel_url": _url(fields, body, "cancel_url"),
        "price": fields.string("price"),
        "line_items": _line_items(fields, body.get("line_items")),
        "coupon_codes": _coupon_codes(fields, body.get("coupon_codes")),
        "capture_method": fields.one_of("capture_method", CAPTURE_METHODS) or "automatic",
        "create_document": fields.boolean("create_document") is not False,
        "payment_methods": _payment_methods(fields, body.get("payment_methods")),
        "background_color": fields.string("background_color"),
        "auto_open_wallets": fields.boolean("auto_open_wallets") is True,
    }
    color = sent["background_color"]
    if color is not None and not CSS_HEX.fullmatch(color):
        fields.issues.append(Issue(("background_color",), "Expected #rgb, #rrggbb or #rrggbbaa"))
    if sent["price"] is None and body.get("line_items") is None:
        fields.issues.append(Issue(("price",), "Required: price, line_items or both"))
    fields.check()
    return sent


def parse_portal_session(body: JSONObject) -> Sent:
    """``POST /billing_portal_sessions``: ``customer``, and an optional ``return_url``."""
    fields = _Fields(body)
    sent: Sent = {"customer": fields.required_string("customer")}
    sent["return_url"] = _url(fields, body, "return_url", required=False)
    fields.check()
    return sent


def _url(fields: _Fields, body: JSONObject, name: str, *, required: bool = True) -> str:
    value = fields.string(name, required=required)
    if value is not None and not is_webhook_url(value):
        fields.issues.append(Issue((name,), "Invalid url"))
    return value or ""


def _line_items(fields: _Fields, value: object) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_LINE_ITEMS:
        fields.issues.append(Issue(("line_items",), f"Expected 1-{MAX_LINE_ITEMS} line items"))
        return None
    lines = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            fields.issues.append(Issue(("line_items", index), "Expected object"))
            continue
        item_fields = _Fields(item)
        amount = item.get("amount_agorot")
        if type(amount) is not int:  # signed: a negative line is a discount
            item_fields.issues.append(Issue(("amount_agorot",), "Expected an integer"))
        quantity = item_fields.integer("quantity", minimum=1) or 1
        if quantity > MAX_QUANTITY:
            item_fields.issues.append(Issue(("quantity",), f"At most {MAX_QUANTITY}"))
        line = {
            "name": item_fields.required_string("name"),
            "amount_agorot": amount,
            "quantity": quantity,
            "description": item_fields.string("description"),
            "image_url": item_fields.https_url("image_url"),
            "price": item_fields.string("price"),
            "product": item_fields.string("product"),
        }
        where = ("line_items", index)
        fields.issues += [Issue((*where, *i.path), i.message) for i in item_fields.issues]
        lines.append(line)
    return lines


def _coupon_codes(fields: _Fields, value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_COUPON_CODES:
        fields.issues.append(Issue(("coupon_codes",), f"Expected at most {MAX_COUPON_CODES} codes"))
        return []
    for index, code in enumerate(value):
        if not isinstance(code, str) or not 1 <= len(code) <= MAX_COUPON_CODE_LENGTH:
            message = f"Expected 1-{MAX_COUPON_CODE_LENGTH} characters"
            fields.issues.append(Issue(("coupon_codes", index), message))
    return [code for code in value if isinstance(code, str)]


def _payment_methods(fields: _Fields, value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or any(m not in PAYMENT_METHODS for m in value):
        message = f"Expected an array of: {', '.join(PAYMENT_METHODS)}"
        fields.issues.append(Issue(("payment_methods",), message))
        return []
    return list(value)


# -- checkout sessions ----------------------------------------------------------------


def _refused(code: str, message: str) -> FakeApiError:
    return FakeApiError(400, code, message)


def create_checkout_session(ledger: Ledger, sent: Sent, *, livemode: bool) -> CheckoutSession:
    """Store a session once the rules between what it sells hold (SKILL-EP, SKILL)."""
    customer = ledger.customers.get(sent["customer"])
    if customer is None or customer.deleted or customer.livemode != livemode:
        # "must already exist; no auto-create (400 otherwise)"; no source gives the code.
        raise FakeApiError(
            400,
            "INVALID_FIELD",
            f"No such customer: {sent['customer']}",
            [Issue(("customer",), "Customer not found")],
        )
    price = _usable_price(ledger, sent["price"], livemode) if sent["price"] else None
    recurring = price is not None and price.type == "recurring"
    if price is not None and sent["line_items"] is not None and not recurring:
        raise _refused(
            "mixed_requires_recurring_price",
            "With line_items, price must be a recurring price (sell one-time prices as lines)",
        )
    if recurring:
        _refuse_for_recurring(sent)
    if sent["line_items"] is not None:
        _check_cart(ledger, sent["line_items"], livemode)
    if sent["auto_open_wallets"]:
        _check_wallets(ledger, sent)
    for code in sent["coupon_codes"]:
        if not ledger.discounts_with_code(code, livemode=livemode):
            raise _refused("discount_code_not_found", f"No discount with code {code}")
    now = ledger.now()
    session = CheckoutSession(
        id=ledger._new_id(ledger.checkout_sessions),
        livemode=livemode,
        expires_at=now + CHECKOUT_LIFETIME,
        created=now,
        **sent,
    )
    ledger.checkout_sessions[session.id] = session
    return session


def _usable_price(ledger: Ledger, price_id: str, livemode: bool) -> Price:
    price = ledger.prices.get(price_id)
    if price is None or price.livemode != livemode:
        raise not_found(ledger.prices.kind, price_id)
    price = ledger.price(price_id)  # as of now: a scheduled change that is due has applied
    if not price.active:
        raise _refused("price_archived", f"Price {price_id} is archived")
    return price


def _refuse_for_recurring(sent: Sent) -> None:
    """What a recurring price's (or a mixed) session does not take."""
    if sent["capture_method"] == "manual":
        raise _refused(
            "capture_method_not_supported_for_mixed",
            "Manual capture is for one-time prices and carts only",
        )
    if sent["payment_methods"]:
        raise _refused(
            "payment_methods_not_supported_for_recurring",
            "payment_methods is for one-time prices and carts only",
        )
    if sent["auto_open_wallets"]:
        raise _refused(
            "auto_open_wallets_not_supported_for_recurring",
            "auto_open_wallets is for one-time prices and carts only",
        )


def _check_cart(ledger: Ledger, lines: list[dict[str, Any]], livemode: bool) -> None:
    for line in lines:
        for name, table in (("price", ledger.prices), ("product", ledger.products)):
            target = line[name]
            found = table.get(target) if target is not None else None
            if target is not None and (found is None or found.livemode != livemode):
                raise _refused(
                    "line_item_target_not_found", f"No such {table.kind} for a line: {target}"
                )
    total = sum(line["amount_agorot"] * line["quantity"] for line in lines)
    if total < 0:
        raise _refused("cart_total_invalid", f"The line items add up to {total}, below 0")


def _check_wallets(ledger: Ledger, sent: Sent) -> None:
    if not ledger.express_checkout:
        raise _refused("express_checkout_disabled", "Wallets are not enabled for this project")
    if sent["payment_methods"] and "wallet" not in sent["payment_methods"]:
        raise _refused(
            "auto_open_wallets_requires_wallet", "auto_open_wallets needs 'wallet' allowed"
        )
    if sent["capture_method"] == "manual":
        raise invalid_fields(
            [Issue(("auto_open_wallets",), "Not combinable with capture_method manual")]
        )


# -- the customer pays ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Line:
    """One line of what a session sells: a unit amount (VAT included) times a quantity."""

    amount: int
    quantity: int
    price: str | None
    product: str | None

    @property
    def total(self) -> int:
        return self.amount * self.quantity


def complete_checkout(
    ledger: Ledger,
    session_id: str,
    *,
    card_index: int,
    declines: bool,
    payment_method: str | None,
) -> Charge | None:
    """The customer pays on the hosted page (see ``FakeChing.complete_checkout``)."""
    session = ledger.open_session(ledger.checkout_sessions, session_id)
    if session.payment_methods == ["wallet"]:
        raise ValueError(
            f"checkout session {session.id} offers wallets only (payment_methods=['wallet']); "
            "the fake pays with cards"
        )
    price = ledger.price(session.price) if session.price is not None else None
    plan = price if price is not None and price.type == "recurring" else None
    if price is not None and plan is None:
        lines = [_Line(_with_vat(price), 1, price.id, price.product)]
    else:
        lines = [_cart_line(ledger, item) for item in session.line_items or ()]
    rules = list(_rules(ledger, session))
    # A rule that reaches the plan is applied to the subscription (it lasts its
    # duration there); the others take off the one-off lines they target, once.
    on_plan = [rule for rule in rules if plan is not None and applies_to(rule, plan)]
    total = sum(line.total for line in lines)
    savings = _savings([rule for rule in rules if rule not in on_plan], lines, total)
    amount = total - sum(saved for _, saved in savings)
    if plan is None and amount <= 0:
        raise CheckoutNotModeledError(
            f"checkout session {session.id} has nothing to pay ({total} agorot, {total - amount} "
            "off): no source says what CHING does then, so the fake does not complete it"
        )
    card, capture_method = _paying_card(ledger, session, card_index, declines, payment_method)
    charge: Charge | None
    if plan is not None:
        charge = Billing(ledger).subscribe_at_checkout(session, plan, card.id, on_plan, amount)
    else:
        params = ChargeParams(session.customer, card.id, amount, price.currency if price else "ils")
        charge = ledger.create_charge(
            params,
            livemode=session.livemode,
            capture_method=capture_method,
            create_document=session.create_document,
        )
    if charge is not None:
        session.charges.append(charge.id)
    paid = charge is None or charge.status != "failed"
    if payment_method is None and (plan is None or not paid):
        # Used once on the page, not saved to the customer (a subscription bills it).
        card.status = "inactive"
    if not paid:
        return charge  # the page shows the decline and stays open for another try
    session.status = "succeeded"
    for rule, saved in savings:
        ledger.add_redemption(rule, session.customer, saved, charge)
    session.discounts += [rule.id for rule in on_plan] + [rule.id for rule, _ in savings]
    return charge


def _paying_card(
    ledger: Ledger,
    session: CheckoutSession,
    card_index: int,
    declines: bool,
    payment_method: str | None,
) -> tuple[PaymentMethod, str]:
    """The card paying on the page, and the capture method its charge takes."""
    if payment_method is None:
        return _new_card(ledger, session, card_index, declines), session.capture_method
    if declines:
        raise ValueError("declines= is for a new card; a saved card declines as it was added")
    # A saved card ignores manual capture (SKILL-EP).
    return _saved_card(ledger, session, payment_method), "automatic"


def _with_vat(price: Price) -> int:
    """What the customer pays for one: VAT is added to an ``exclusive`` price."""
    if price.tax_mode == "exclusive":
        return price.unit_amount + round(price.unit_amount * VAT_RATE)
    return price.unit_amount


def _cart_line(ledger: Ledger, item: dict[str, Any]) -> _Line:
    price = ledger.prices.get(item["price"]) if item["price"] is not None else None
    product = item["product"] or (price.product if price is not None else None)
    return _Line(item["amount_agorot"], item["quantity"], item["price"], product)


def _savings(rules: list[Discount], lines: list[_Line], total: int) -> list[tuple[Discount, int]]:
    """Each of ``rules`` that takes something off ``lines``, and what, at most
    the whole total."""
    left = total
    found = []
    for rule in rules:
        saved = min(_saving(rule, lines), left)
        if saved > 0:
            found.append((rule, saved))
            left -= saved
    return found


def _rules(ledger: Ledger, session: CheckoutSession) -> Iterator[Discount]:
    """The automatic rules, then those of the session's codes, each once, that
    may be used now by this customer (expired or used-up ones just do not apply)."""
    livemode, seen = session.livemode, set[str]()
    automatic = ledger.discounts.newest(
        livemode, keep=lambda d: d.redemption == "automatic", limit=len(ledger.discounts)
    )
    coded = [
        rule
        for code in session.coupon_codes
        for rule in ledger.discounts_with_code(code, livemode=livemode)
    ]
    for rule in (*automatic, *coded):
        if rule.id not in seen and _usable(ledger, rule, session.customer):
            seen.add(rule.id)
            yield rule


def _usable(ledger: Ledger, rule: Discount, customer: str) -> bool:
    now = ledger.now()
    if not rule.active or rule.archived:
        return False
    if (rule.active_from is not None and now < rule.active_from) or (
        rule.active_until is not None and now >= rule.active_until
    ):
        return False
    if rule.max_redemptions is not None and rule.times_redeemed >= rule.max_redemptions:
        return False
    used = sum(1 for r in rule.redemptions if r.customer == customer)
    limit = rule.max_redemptions_per_customer
    return limit is None or used < limit


def _saving(rule: Discount, lines: list[_Line]) -> int:
    """What one rule takes off the lines it targets (all of them for ``order``)."""
    if rule.target_type == "order":
        matched = lines
    else:
        attribute = "product" if rule.target_type == "products" else "price"
        matched = [line for line in lines if getattr(line, attribute) in rule.targets]
    subtotal = sum(line.total for line in matched)
    if rule.value_type == "percent":
        return subtotal * rule.value // 10_000
    if rule.value_type == "amount":
        return min(rule.value, subtotal)
    # override: the unit price to charge instead (VAT added to an exclusive one).
    unit = rule.value
    if rule.value_tax_mode == "exclusive":
        unit += round(rule.value * VAT_RATE)
    return sum(max(0, line.amount - unit) * line.quantity for line in matched)


def _saved_card(ledger: Ledger, session: CheckoutSession, card_id: str) -> PaymentMethod:
    saved = {card.id: card for card in ledger.payment_methods_of(session.customer)}
    if card_id not in saved:
        raise ValueError(f"{card_id!r} is not a saved card of {session.customer}")
    return saved[card_id]


def _new_card(
    ledger: Ledger, session: CheckoutSession, card_index: int, declines: bool
) -> PaymentMethod:
    """The test card typed on the page: on record (the charge names it) but not
    saved to the customer, and no ``payment_method.attached`` (REFERENCE 8.3)."""
    if type(card_index) is not int or not 0 <= card_index < len(TEST_CARDS):
        raise ValueError(f"card_index must be 0, 1 or 2, got {card_index!r}")
    brand, last4 = TEST_CARDS[card_index]
    return ledger.add_payment_method(
        session.customer,
        livemode=session.livemode,
        saved=False,
        declines=declines,
        brand=brand,
        last4=last4,
    )


# -- the billing portal ---------------------------------------------------------------


def create_portal_session(ledger: Ledger, sent: Sent, *, livemode: bool) -> BillingPortalSession:
    """A portal link. An unknown customer is a 404, as elsewhere (no source says)."""
    customer = ledger.live_customer(sent["customer"])
    if customer.livemode != livemode:
        raise not_found(ledger.customers.kind, customer.id)
    now = ledger.now()
    session = BillingPortalSession(
        id=ledger._new_id(ledger.portal_sessions),
        customer=customer.id,
        return_url=sent["return_url"] or None,
        livemode=livemode,
        expires_at=now + PORTAL_LIFETIME,
        created=now,
    )
    ledger.portal_sessions[session.id] = session
    return session
