"""Everything the command line prints: rich tables for people, JSON for scripts.

stdout carries the result (a table, or one JSON document with ``--json``);
stderr carries notices, errors and the progress bar, so ``--json`` output
stays parseable whatever else happens.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, TextIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import (
    APIConnectionError,
    APIError,
    BillingPortalSession,
    Charge,
    CheckoutSession,
    ChingError,
    Customer,
    Discount,
    Document,
    OutcomeUnknownError,
    PaymentMethod,
    Price,
    PriceChange,
    Product,
    Redemptions,
    Refund,
    SetupSession,
    Subscription,
    UpsertResult,
    WebhookEndpoint,
)
from .._errors import issue_path
from ._amounts import format_agorot, format_money
from ._errors import CliError, ExitCode, Interrupted, UnknownOutcome

__all__ = ["Output", "describe_error", "error_json", "one_line", "outcome_unknown"]


def one_line(text: str) -> str:
    """Collapse whitespace (server messages may hold newlines) into one line."""
    return " ".join(text.split())


class Output:
    def __init__(self, *, json_mode: bool, stdout: TextIO, stderr: TextIO) -> None:
        self.json_mode = json_mode
        self.stdout = stdout
        self.stderr = stderr
        # markup off: ids and server messages are printed verbatim, never as markup.
        self.console = Console(file=stdout, highlight=False, markup=False, soft_wrap=True)
        self.err_console = Console(file=stderr, highlight=False, markup=False)
        # What the command had done when Ctrl-C or SIGTERM stopped it (see `interrupted`).
        self.interruption = Interrupted("interrupted")

    # ------------------------------------------------------------ stderr
    def notice(self, message: str) -> None:
        """One line on stderr, in every mode."""
        self.stderr.write(f"ching: {one_line(message)}\n")
        self.stderr.flush()

    def interrupted(self, message: str, data: Mapping[str, Any] | None = None) -> None:
        """Say `message` (what was done, how to go on) in the one "interrupted"
        line ``_app.run`` prints once the cancellation has unwound."""
        self.interruption = Interrupted(f"interrupted {message}", data=data)

    def error(self, message: str, details: Iterable[str] = ()) -> None:
        self.stderr.write(f"ching: error: {one_line(message)}\n")
        for line in details:
            self.stderr.write(f"  {one_line(line)}\n")
        self.stderr.flush()

    # ------------------------------------------------------------ stdout
    def emit_json(self, data: Any) -> None:
        self.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default))
        self.stdout.write("\n")
        self.stdout.flush()

    def print(self, *objects: Any) -> None:
        self.console.print(*objects)

    # The printers below are alike in shape only: each lists its own model's fields.
    def charge(self, charge: Charge, *, title: str | None = None) -> None:
        rows: list[tuple[str, Any]] = [
            ("id", charge.id),
            ("status", _status(str(charge.status))),
            ("amount", _amount(charge.amount, charge.currency)),
            ("amount captured", _amount(charge.amount_captured, charge.currency)),
            ("customer", _join(charge.customer, charge.customer_name)),
            ("payment method", charge.payment_method),
            ("card", _card(charge)),
            ("description", charge.description),
            ("installments", charge.installments.count if charge.installments else None),
            ("capture method", charge.capture_method),
            ("capturable until", charge.capturable_until),
            ("captured at", charge.captured_at),
            ("cancellation reason", charge.cancellation_reason),
            ("failure", _join(charge.failure_code, charge.failure_message, sep=": ")),
            ("document", charge.document),
            ("metadata", _metadata(charge.metadata)),
            ("livemode", charge.livemode),
            ("created", charge.created),
        ]
        self._object(charge, rows, title)

    def charges(self, charges: list[Charge]) -> None:
        wide = self.console.width >= 100
        self._list(
            charges,
            "No charges.",
            lambda: _list_table(
                f"{_count(len(charges), 'charge')}, newest first",
                [
                    ("id", "id"),
                    ("created", "id"),
                    ("amount", "right"),
                    ("status", "id"),
                    ("customer: description" if wide else "details", "rest"),
                ],
                [
                    [
                        c.id,
                        _date(c.created),
                        format_money(c.amount, c.currency),
                        _status(str(c.status)),
                        _who_for_what(c),
                    ]
                    for c in charges
                ],
            ),
        )

    def setup_session(self, session: SetupSession, *, title: str | None = None) -> None:
        rows: list[tuple[str, Any]] = [
            ("id", session.id),
            ("status", _status(str(session.status))),
            ("customer", session.customer),
            ("url", session.url),
            ("success url", session.success_url),
            ("cancel url", session.cancel_url),
            ("metadata", _metadata(session.metadata)),
            ("livemode", session.livemode),
            ("expires at", session.expires_at),
            ("created", session.created),
        ]
        self._object(session, rows, title)

    def customer(self, customer: Customer, *, title: str | None = None) -> None:
        if customer.deleted:  # a tombstone: the id is all there is
            rows: list[tuple[str, Any]] = [("id", customer.id), ("status", _status("deleted"))]
        else:
            rows = [
                ("id", customer.id),
                ("name", customer.name),
                ("email", customer.email),
                ("phone", customer.phone),
                ("tax id", customer.tax_id),
                ("locale", customer.locale),
                ("metadata", _metadata(customer.metadata)),
                ("livemode", customer.livemode),
                ("created", customer.created),
            ]
        self._object(customer, rows, title)

    def customers(self, customers: list[Customer]) -> None:
        self._list(
            customers,
            "No customers.",
            lambda: _list_table(
                f"{_count(len(customers), 'customer')}, newest first",
                [("id", "id"), ("name", ""), ("email", ""), ("phone", "id"), ("created", "id")],
                [[c.id, c.name, c.email, c.phone, _date(c.created)] for c in customers],
            ),
        )

    def upsert(self, result: UpsertResult) -> None:
        created = result.created
        if self.json_mode:
            self.emit_json(
                {
                    "action": None if result.action is None else str(result.action),
                    "created": created,
                    "customer": raw_of(result.customer),
                }
            )
            return
        if created is None:
            title = "Customer upserted (unknown: the server did not say whether it was created)"
        else:
            title = "Customer created" if created else "Customer updated"
        self.customer(result.customer, title=title)

    def payment_method(self, method: PaymentMethod, *, title: str | None = None) -> None:
        rows: list[tuple[str, Any]] = [
            ("id", method.id),
            ("status", _status(method.status or "")),
            ("customer", method.customer),
            ("card", _join(method.brand, f"ending {method.last4}" if method.last4 else None)),
            ("expires", _expiry(method)),
            ("type", method.type),
            ("default", method.is_default),
            ("livemode", method.livemode),
            ("created", method.created),
        ]
        self._object(method, rows, title)

    def payment_methods(self, methods: list[PaymentMethod], *, customer: str) -> None:
        self._list(
            methods,
            f"No saved cards for {customer}.",
            lambda: _list_table(
                f"{_count(len(methods), 'saved card')} of {customer}",
                [("id", "id"), ("brand", ""), ("last4", "id"), ("exp", "id"), ("status", "id")],
                [[m.id, m.brand, m.last4, _expiry(m), _status(m.status or "-")] for m in methods],
            ),
        )

    def refund(self, refund: Refund, *, title: str | None = None) -> None:
        info = refund.request_info
        rows: list[tuple[str, Any]] = [
            ("id", refund.id),
            ("status", _status(str(refund.status or ""))),
            ("amount", _amount(refund.amount, refund.currency)),
            ("charge", refund.charge),
            ("reason", None if refund.reason is None else str(refund.reason)),
            ("metadata", _metadata(refund.metadata)),
            ("reconciled", "yes: found after a lost answer" if info and info.reconciled else None),
            ("livemode", refund.livemode),
            ("created", refund.created),
        ]
        self._object(refund, rows, title)

    def refunds(self, refunds: list[Refund]) -> None:
        self._list(
            refunds,
            "No refunds.",
            lambda: _list_table(
                f"{_count(len(refunds), 'refund')}, newest first",
                [
                    ("id", "id"),
                    ("charge", "id"),
                    ("amount", "right"),
                    ("reason", ""),
                    ("status", "id"),
                    ("created", "id"),
                ],
                [
                    [
                        r.id,
                        r.charge,
                        format_money(r.amount, r.currency),
                        None if r.reason is None else str(r.reason),
                        _status(str(r.status or "-")),
                        _date(r.created),
                    ]
                    for r in refunds
                ],
            ),
        )

    def document(self, document: Document, *, title: str | None = None) -> None:
        vat = None
        if document.vat_amount is not None:
            rate = f" ({document.vat_rate:.0%})" if document.vat_rate is not None else ""
            vat = f"{format_money(document.vat_amount, document.currency)}{rate}"
        rows: list[tuple[str, Any]] = [
            ("id", document.id),
            ("type", None if document.type is None else str(document.type)),
            ("status", _status(str(document.status or ""))),
            ("number", document.number),
            ("amount", _amount(document.amount, document.currency)),
            ("vat", vat),
            ("allocation number", document.allocation_number),
            ("pdf url", document.pdf_url),
            ("sent to customer", document.sent_to_customer),
            ("metadata", _metadata(document.metadata)),
            ("livemode", document.livemode),
            ("issued at", document.issued_at),
        ]
        self._object(document, rows, title)

    def documents(self, documents: list[Document]) -> None:
        self._list(
            documents,
            "No documents.",
            lambda: _list_table(
                f"{_count(len(documents), 'document')}, newest first",
                [
                    ("id", "id"),
                    ("number", "id"),
                    ("type", ""),
                    ("amount", "right"),
                    ("issued", "id"),
                ],
                [
                    [
                        d.id,
                        d.number,
                        None if d.type is None else str(d.type),
                        format_money(d.amount, d.currency) if d.amount is not None else "-",
                        _date(d.issued_at or d.created),
                    ]
                    for d in documents
                ],
            ),
        )

    def webhook_endpoint(self, endpoint: WebhookEndpoint, *, title: str | None = None) -> None:
        rows: list[tuple[str, Any]] = [
            ("id", endpoint.id),
            ("url", endpoint.url),
            ("events", ", ".join(endpoint.events)),
            ("secret", endpoint.secret),
            ("active", endpoint.active),
            ("livemode", endpoint.livemode),
            ("created", endpoint.created),
        ]
        self._object(endpoint, rows, title)

    def webhook_endpoints(self, endpoints: list[WebhookEndpoint]) -> None:
        self._list(
            endpoints,
            "No webhook endpoints.",
            lambda: _list_table(
                _count(len(endpoints), "webhook endpoint"),
                [("id", "id"), ("url", ""), ("events", ""), ("active", "id"), ("created", "id")],
                [[e.id, e.url, ", ".join(e.events), e.active, _date(e.created)] for e in endpoints],
            ),
        )

    # -------------------------------------------- products, prices, discounts
    def product(self, product: Product, *, title: str | None = None) -> None:
        rows: list[tuple[str, Any]] = [
            ("id", product.id),
            ("name", product.name),
            ("active", product.active),
            ("description", product.description),
            ("image url", product.image_url),
            ("features", _features(product)),
            ("unlisted", product.unlisted or None),
            ("metadata", _metadata(product.metadata)),
            ("reconciled", _reconciled(product)),
            ("livemode", product.livemode),
            ("created", product.created),
        ]
        self._object(product, rows, title)

    def products(self, products: list[Product]) -> None:
        self._list(
            products,
            "No products.",
            lambda: _list_table(
                f"{_count(len(products), 'product')}, newest first",
                [("id", "id"), ("name", ""), ("active", "id"), ("created", "id")],
                [[p.id, p.name, p.active, _date(p.created)] for p in products],
            ),
        )

    def price(self, price: Price, *, title: str | None = None) -> None:
        rows: list[tuple[str, Any]] = [
            ("id", price.id),
            ("product", price.product),
            ("amount", _price_amount(price)),
            ("type", _text(price.type)),
            ("every", _every(price)),
            ("trial", _trial(price)),
            ("tax mode", _text(price.tax_mode)),
            ("active", price.active),
            ("metadata", _metadata(price.metadata)),
            ("reconciled", _reconciled(price)),
            ("livemode", price.livemode),
            ("created", price.created),
        ]
        self._object(price, rows, title)

    def prices(self, prices: list[Price]) -> None:
        self._list(
            prices,
            "No prices.",
            lambda: _list_table(
                f"{_count(len(prices), 'price')}, newest first",
                [
                    ("id", "id"),
                    ("product", "id"),
                    ("amount", "right"),
                    ("every", ""),
                    ("active", "id"),
                ],
                [
                    [p.id, p.product, _price_amount(p), _every(p) or "once", p.active]
                    for p in prices
                ],
            ),
        )

    def discount(self, discount: Discount, *, title: str | None = None) -> None:
        rows: list[tuple[str, Any]] = [
            ("id", discount.id),
            ("name", discount.name),
            ("status", _status(_discount_status(discount))),
            ("redemption", _join(_text(discount.redemption), discount.code, sep=": ")),
            ("takes off", _takes_off(discount)),
            ("applies to", _applies_to(discount)),
            ("for", _lasts(discount)),
            ("from", discount.active_from),
            ("until", discount.active_until),
            ("redeemed", _redeemed(discount)),
            ("per customer", discount.max_redemptions_per_customer),
            ("metadata", _metadata(discount.metadata)),
            ("reconciled", _reconciled(discount)),
            ("livemode", discount.livemode),
            ("created", discount.created),
        ]
        self._object(discount, rows, title)

    def discounts(self, discounts: list[Discount]) -> None:
        self._list(
            discounts,
            "No discount rules.",
            lambda: _list_table(
                f"{_count(len(discounts), 'discount rule')}, newest first",
                [
                    ("id", "id"),
                    ("name", ""),
                    ("code", "id"),
                    ("takes off", ""),
                    ("status", "id"),
                ],
                [
                    [
                        d.id,
                        d.name,
                        d.code or "(automatic)",
                        _takes_off(d),
                        _status(_discount_status(d)),
                    ]
                    for d in discounts
                ],
            ),
        )

    def redemptions(self, used: Redemptions, *, discount: str) -> None:
        if self.json_mode:
            self.emit_json(dict(used.raw) if used.raw else used.to_dict())
            return
        if not used.redemptions and not used.applied_discounts:
            self.console.print(f"No redemptions of {discount}.")
            return
        self.console.print(
            _list_table(
                f"{_count(len(used.redemptions), 'redemption')} of {discount}",
                [
                    ("customer", ""),
                    ("charge", "id"),
                    ("paid", "right"),
                    ("saved", "right"),
                    ("when", "id"),
                ],
                [
                    [
                        _join(r.customer_name, r.customer_email) or r.customer,
                        r.charge or "-",
                        format_money(r.charge_amount, r.currency),
                        format_money(r.amount_saved, r.currency),
                        _date(r.created),
                    ]
                    for r in used.redemptions
                ],
            )
        )
        if used.applied_discounts:
            self.console.print(
                _list_table(
                    f"applied to {_count(len(used.applied_discounts), 'subscription')}",
                    [
                        ("subscription", "id"),
                        ("status", "id"),
                        ("charges", "right"),
                        ("ends", "id"),
                    ],
                    [
                        [
                            a.subscription,
                            _status(_text(a.status) or "-"),
                            _charges(a),
                            _date(a.ends_at),
                        ]
                        for a in used.applied_discounts
                    ],
                )
            )

    # ----------------------------------------------------------- subscriptions
    def subscription(self, sub: Subscription, *, title: str | None = None) -> None:
        self._object(sub, _subscription_rows(sub), title)

    def subscriptions(self, subs: list[Subscription]) -> None:
        self._list(
            subs,
            "No subscriptions.",
            lambda: _list_table(
                f"{_count(len(subs), 'subscription')}, newest first",
                [("id", "id"), ("customer", ""), ("status", "id"), ("renews", "id"),
                 ("created", "id")],
                [[s.id, s.customer_name or s.customer, _status(_text(s.status) or "-"),
                  _renews(s), _date(s.created)] for s in subs],
            ),
        )  # fmt: skip

    def price_change(self, change: PriceChange, *, title: str | None = None) -> None:
        sub = change.subscription
        if change.applied:
            applied = "now"
        else:
            applied = f"on {_date(change.scheduled_for)}" if change.scheduled_for else "no"
        rows: list[tuple[str, Any]] = [
            ("kind", _text(change.kind) or "(read back after a lost answer)"),
            ("applies", applied),
            ("charged", _amount(change.charge_amount, change.charge_currency)),
            *(_subscription_rows(sub) if sub is not None else []),
        ]
        self._object(change, rows, title)

    # ------------------------------------------ checkout and the billing portal
    def checkout_session(self, session: CheckoutSession, *, title: str | None = None) -> None:
        rows: list[tuple[str, Any]] = [
            ("id", session.id),
            ("status", _status(str(session.status)) if session.status is not None else None),
            ("url", session.url),
            ("embed url", session.embed_url),
            ("expires at", session.expires_at),
        ]
        self._object(session, rows, title)

    def portal_session(self, portal: BillingPortalSession, *, title: str | None = None) -> None:
        rows: list[tuple[str, Any]] = [
            ("url", portal.url),
            ("return url", portal.return_url),
            ("expires at", portal.expires_at),
        ]
        self._object(portal, rows, title)

    def _object(self, model: Model, rows: list[tuple[str, Any]], title: str | None) -> None:
        """One object: with --json as the API sent it, else a table of `rows`."""
        if self.json_mode:
            self.emit_json(raw_of(model))
        else:
            self.console.print(_fields_table(rows, title=title))

    def _list(self, models: Sequence[Model], empty: str, table: Callable[[], Table]) -> None:
        """A list: with --json as the API sent it, else the `empty` line or the `table`."""
        if self.json_mode:
            self.emit_json([raw_of(model) for model in models])
        elif not models:
            self.console.print(empty)
        else:
            self.console.print(table())


Model = (
    Charge
    | SetupSession
    | Customer
    | PaymentMethod
    | Refund
    | Document
    | WebhookEndpoint
    | Product
    | Price
    | Discount
    | Subscription
    | PriceChange
    | CheckoutSession
    | BillingPortalSession
)


def raw_of(model: Model) -> dict[str, Any]:
    """The object as the API sent it (so --json output has every field, even new ones)."""
    if model.raw:
        return dict(model.raw)
    built = Document | WebhookEndpoint | Product | Price | Discount | Subscription | PriceChange
    if isinstance(model, built | CheckoutSession | BillingPortalSession):
        return model.to_dict()  # built, not decoded: its own fields are all there is
    if isinstance(model, Customer):
        if model.deleted:
            return {"id": model.id, "object": model.object, "deleted": True}
        return {"id": model.id, "object": model.object}
    return {"id": model.id, "status": None if model.status is None else str(model.status)}


def error_json(error: BaseException, exit_code: int) -> dict[str, Any]:
    """The ``{"error": ...}`` document printed on stdout with --json."""
    body: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
    if isinstance(error, CliError):
        body["message"] = error.message
        body.update(error.data)
    if isinstance(error, APIError):
        body.update(
            status=error.status,
            code=error.code,
            message=error.message,
            issues=[dict(issue) for issue in error.issues],
            request_id=error.request_id,
        )
    if isinstance(error, APIError | APIConnectionError):
        body.update(idempotency_key=error.idempotency_key, outcome_unknown=error.outcome_unknown)
    if isinstance(error, OutcomeUnknownError):
        body["customer"] = error.customer
    return {"error": body, "exit_code": exit_code}


def outcome_unknown(error: APIError | APIConnectionError, what: str, hint: str) -> CliError:
    """The error for a write that may or may not have happened (exit 3): `what`
    says which, `hint` how to find out (also in the --json error, as "hint")."""
    return UnknownOutcome(
        f"{describe_error(error)}; {what}: {hint}",
        data={**error_json(error, ExitCode.UNKNOWN)["error"], "hint": hint},
    )


def describe_error(error: ChingError) -> str:
    """One line: the class, the server's status/code/message, and its issues."""
    text = f"{type(error).__name__}: {error}"
    if isinstance(error, APIError) and error.issues:
        issues = "; ".join(
            f"{_issue_path(issue.get('path'))}: {issue.get('message')}" for issue in error.issues
        )
        text += f" (issues: {issues})"
    return one_line(text)


def _issue_path(path: Any) -> str:
    """``["items", 0]`` -> ``items.0``. A server may send a bare string or number
    instead of a list: shown whole (iterating "email" would give ``e.m.a.i.l``)."""
    return issue_path(path) or "-"


# ------------------------------------------------------------------ helpers
def _fields_table(rows: list[tuple[str, Any]], *, title: str | None) -> Table:
    table = Table(show_header=False, title=title, title_justify="left", box=None, pad_edge=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for name, value in rows:
        if value is None or value == "":
            continue
        table.add_row(name, value if isinstance(value, Text) else _cell(value))
    return table


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


_STATUS_STYLES = {
    "succeeded": "green",
    "requires_capture": "yellow",
    "pending": "yellow",
    "requires_action": "yellow",
    "failed": "red",
    "canceled": "dim",
    "expired": "dim",
    "active": "green",
    "inactive": "dim",
    "deleted": "dim",
    "archived": "dim",
    "processing": "yellow",
    "issued": "green",
}


def _status(status: str) -> Text:
    return Text(status, style=_STATUS_STYLES.get(status, ""))


def _amount(amount: int | None, currency: str | None) -> str | None:
    if amount is None:
        return None
    unit = " agorot" if (currency or "ils").lower() == "ils" else ""
    return f"{format_money(amount, currency)} ({format_agorot(amount)}{unit})"


def _join(*parts: str | None, sep: str = " ") -> str | None:
    present = [p for p in parts if p]
    return sep.join(present) if present else None


def _who_for_what(charge: Charge) -> str:
    who = charge.customer_name or charge.customer or "-"
    return f"{who}: {charge.description}" if charge.description else who


def _card(charge: Charge) -> str | None:
    if not charge.card_brand and not charge.card_last4:
        return None
    return f"{charge.card_brand or 'card'} ending {charge.card_last4 or '????'}"


def _list_table(title: str, columns: list[tuple[str, str]], rows: list[list[Any]]) -> Table:
    """A list of objects. Columns of kind "id" (and "right": amounts) never wrap
    or truncate, because they are meant to be copied; "" columns wrap when narrow;
    a "rest" column takes the rest of the width, cut short with an ellipsis.
    """
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    cells = [[v if isinstance(v, Text) else _cell(v) for v in row] for row in rows]
    for i, (name, kind) in enumerate(columns):
        if kind == "rest":
            table.add_column(name, ratio=1)
        elif kind:
            width = max(len(name), *(len(str(row[i])) for row in cells))
            justify: Literal["left", "right"] = "right" if kind == "right" else "left"
            table.add_column(name, justify=justify, no_wrap=True, min_width=width)
        else:
            table.add_column(name, overflow="fold")
    for r in cells:
        table.add_row(*r)
    return table


def _count(n: int, noun: str) -> str:
    """``1 product``, ``2 products``: every noun here takes an s."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _date(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else "-"


def _expiry(method: PaymentMethod) -> str | None:
    if method.exp_month is None or method.exp_year is None:
        return None
    return f"{method.exp_month:02d}/{method.exp_year}"


def _text(value: str | None) -> str | None:
    """A tolerant enum's value (a member or a str this version does not know) as text."""
    return None if value is None else str(value)


def _reconciled(model: Product | Price | Discount | Subscription | PriceChange) -> str | None:
    info = model.request_info
    return "yes: found after a lost answer" if info and info.reconciled else None


def _features(product: Product) -> str | None:
    if not product.features:
        return None
    return "; ".join(_join(f.title, f.subtitle, sep=": ") or "" for f in product.features)


def _price_amount(price: Price) -> str:
    amount = format_money(price.unit_amount, price.currency)
    return f"{amount} + VAT" if price.tax_mode == "exclusive" else amount


def _every(price: Price) -> str | None:
    recurring = price.recurring
    if recurring is None:
        return None
    count = recurring.interval_count or 1
    return f"{recurring.interval}" if count == 1 else f"{count} {recurring.interval}s"


def _trial(price: Price) -> str | None:
    days = price.recurring.trial_period_days if price.recurring else None
    return _count(days, "day") if days else None


def _discount_status(discount: Discount) -> str:
    if discount.archived:
        return "archived"
    return "active" if discount.active else "inactive"


def _takes_off(discount: Discount) -> str:
    value = discount.value
    if value is None:
        return "-"
    if discount.value_type == "percent":
        return f"{value / 100:g}%"
    if discount.value_type == "override":
        return f"charges {format_money(value, discount.currency)}"
    return f"{format_money(value, discount.currency)} off"


def _applies_to(discount: Discount) -> str | None:
    if discount.target_type == "order" or not discount.targets:
        return _text(discount.target_type)
    return f"{discount.target_type}: {', '.join(discount.targets)}"


def _lasts(discount: Discount) -> str | None:
    if discount.duration == "n_charges" and discount.duration_charges is not None:
        return _count(discount.duration_charges, "charge")
    if discount.duration == "until_date" and discount.duration_until is not None:
        return f"until {discount.duration_until.isoformat(timespec='seconds')}"
    return _text(discount.duration)


def _redeemed(discount: Discount) -> str | None:
    if discount.times_redeemed is None:
        return None
    if discount.max_redemptions is None:
        return _count(discount.times_redeemed, "time")
    return f"{discount.times_redeemed} of {discount.max_redemptions} times"


def _charges(applied: Any) -> str:
    if applied.duration_charges is None:
        return str(applied.charges_applied or 0)
    return f"{applied.charges_applied or 0} of {applied.duration_charges}"


def _metadata(metadata: Mapping[str, Any] | None) -> str | None:
    if not metadata:
        return None
    return json.dumps(metadata, ensure_ascii=False, sort_keys=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _subscription_rows(sub: Subscription) -> list[tuple[str, Any]]:
    pending = None
    if sub.pending_price:
        pending = f"{sub.pending_price} from {_date(sub.pending_effective_at)}"
    return [
        ("id", sub.id),
        ("customer", _join(sub.customer, f"({sub.customer_name})" if sub.customer_name else None)),
        ("status", _status(_text(sub.status) or "-")),
        ("price", sub.price),
        ("period", f"{_date(sub.current_period_start)} to {_date(sub.current_period_end)}"),
        ("cancels at period end", sub.cancel_at_period_end or None),
        ("trial ends", sub.trial_end),
        ("pending change", pending),
        ("next charge", _next_charge(sub)),
        ("latest charge", sub.latest_charge),
        ("card", sub.default_payment_method),
        ("metadata", _metadata(sub.metadata)),
        ("reconciled", _reconciled(sub)),
        ("livemode", sub.livemode),
        ("created", sub.created),
    ]


def _renews(sub: Subscription) -> str:
    ended = sub.status in ("canceled", "incomplete_expired") or sub.cancel_at_period_end
    return "-" if ended else _date(sub.current_period_end)


def _next_charge(sub: Subscription) -> str | None:
    amount = _amount(sub.next_charge_amount, sub.currency)
    if amount is None or not sub.next_charge_discount_amount:
        return amount
    names = ", ".join(d.name or "discount" for d in sub.next_charge_discounts or ())
    off = format_money(sub.next_charge_discount_amount, sub.currency)
    return f"{amount}, after {off} off ({names})"
