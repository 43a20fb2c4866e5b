"""Subscriptions' billing periods, the billing engine's state, and the request
bodies of ``/subscriptions`` (the records are in ``_models``; the engine that
moves them on the clock is ``_billing``)."""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from ._envelope import FakeApiError, Issue
from ._models import AppliedDiscount, PriceMigration, Subscription
from ._validation import DISCOUNT_CODE, JSONObject, _Fields

# Days in one interval, for comparing the cost per day of two prices and
# prorating an upgrade (a month counts 30 days, whatever its length).
NOMINAL_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
CHANGE_TIMINGS = ("immediately", "at_period_end")
DeclinedFirstCharge = Literal["incomplete", "charge_failed"]
DECLINED_FIRST_CHARGE: tuple[DeclinedFirstCharge, ...] = ("incomplete", "charge_failed")
ENDED = frozenset({"canceled", "incomplete_expired"})
# A customer with one of these cannot be deleted (409 CUSTOMER_HAS_ACTIVE_SUBSCRIPTION).
BLOCKS_DELETE = frozenset({"active", "trialing", "past_due"})


def period_step(anchor: datetime, recurring: dict[str, Any], periods: int) -> datetime:
    """``anchor`` moved on by ``periods`` of the price's interval. Months count
    from the anchor, the day clamped (Jan 31 -> Feb 28 -> Mar 31), so that
    periods never drift."""
    interval, count = recurring["interval"], recurring.get("interval_count") or 1
    steps = periods * count
    if interval == "day":
        return anchor + timedelta(days=steps)
    if interval == "week":
        return anchor + timedelta(weeks=steps)
    months = steps * (12 if interval == "year" else 1)
    year, month = divmod(anchor.month - 1 + months, 12)
    year += anchor.year
    day = min(anchor.day, calendar.monthrange(year, month + 1)[1])
    return anchor.replace(year=year, month=month + 1, day=day)


def nominal_days(recurring: dict[str, Any]) -> int:
    return NOMINAL_DAYS[recurring["interval"]] * (recurring.get("interval_count") or 1)


@dataclass(slots=True)
class Schedule:
    """The billing engine's state, kept by the ledger (``_billing.Billing`` acts
    on it): what is due when, as (due, seq, subscription id, version)."""

    queue: list[tuple[datetime, int, str, int]] = field(default_factory=list)
    seq: int = 0
    applied: dict[str, list[AppliedDiscount]] = field(default_factory=dict)  # by rule id
    # How a declined first charge is answered: both are documented (newer
    # DOCS: `incomplete` with `latest_charge`; older DOCS: 402 CHARGE_FAILED).
    declined_first_charge: DeclinedFirstCharge = "incomplete"


def check_deletable(subscriptions: Iterable[Subscription], customer_id: str) -> None:
    """409 ``CUSTOMER_HAS_ACTIVE_SUBSCRIPTION`` while the customer has a billed
    or past_due subscription."""
    for sub in subscriptions:
        if sub.customer == customer_id and sub.status in BLOCKS_DELETE:
            raise FakeApiError(
                409,
                "CUSTOMER_HAS_ACTIVE_SUBSCRIPTION",
                f"Customer {customer_id} has subscription {sub.id} ({sub.status})",
            )


def price_changed(
    subscriptions: Iterable[Subscription], price_id: str, migration: PriceMigration, before: int
) -> None:
    """A price's change applied (REFERENCE.md 11): ``new_subscribers_only``
    leaves existing subscriptions on the amount they had (``before``); ``now``
    and a ``scheduled`` change reach them at their next charge."""
    if "unit_amount" not in migration.changes:
        return
    for sub in subscriptions:
        if sub.price == price_id and sub.status not in ENDED:
            if migration.apply_mode != "new_subscribers_only":
                sub.locked_amount = None
            elif sub.locked_amount is None:
                sub.locked_amount = before


# -- request bodies ---------------------------------------------------------------


def parse_subscription(body: JSONObject) -> tuple[str, str, str | None, list[dict[str, str]], Any]:
    """``POST /subscriptions``: (customer, price, payment_method, discounts, metadata)."""
    fields = _Fields(body)
    customer = fields.required_string("customer")
    price = fields.required_string("price")
    payment_method = fields.string("payment_method")
    metadata = fields.obj("metadata")
    value = body.get("discounts")
    if value is not None and not isinstance(value, list):
        fields.issues.append(Issue(("discounts",), "Expected an array"))
    discounts = _discount_entries(fields, value if isinstance(value, list) else [])
    fields.check()
    return customer, price, payment_method, discounts, metadata


def parse_seeded_discounts(discounts: Iterable[object]) -> list[dict[str, str]]:
    """``FakeChing.add_subscription``'s ``discounts``: the body's entries, or
    their short form, a code (``"LAUNCH"``) or a rule id (``"disc_..."``)."""
    fields = _Fields({})
    entries = [
        ({"discount": d} if d.startswith("disc_") else {"code": d}) if isinstance(d, str) else d
        for d in discounts
    ]
    wanted = _discount_entries(fields, entries)
    fields.check()
    return wanted


def _discount_entries(fields: _Fields, entries: list[object]) -> list[dict[str, str]]:
    return [_discount_entry(fields, i, entry) for i, entry in enumerate(entries)]


def _discount_entry(fields: _Fields, i: int, entry: object) -> dict[str, str]:
    """``{"code": ...}`` (matched without regard to case) or ``{"discount": "disc_..."}``."""
    if isinstance(entry, dict) and len(entry) == 1:
        ((key, value),) = entry.items()
        if key == "code" and isinstance(value, str) and DISCOUNT_CODE.fullmatch(value.upper()):
            return {"code": value.upper()}
        if key == "discount" and isinstance(value, str) and value:
            return {"discount": value}
    fields.issues.append(
        Issue(("discounts", i), "Expected {code} or {discount} with a valid value")
    )
    return {}


def parse_change_price(body: JSONObject) -> tuple[str, str | None]:
    """``POST /subscriptions/:id/change_price``: (price, change_timing)."""
    fields = _Fields(body)
    price = fields.required_string("price")
    timing = fields.one_of("change_timing", CHANGE_TIMINGS)
    fields.check()
    return price, timing


def parse_subscription_cancel(body: JSONObject) -> bool:
    """``POST /subscriptions/:id/cancel``: ``cancel_at_period_end`` (default false)."""
    fields = _Fields(body)
    at_period_end = fields.boolean("cancel_at_period_end")
    fields.check()
    return bool(at_period_end)
