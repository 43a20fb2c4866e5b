"""The fake's billing engine: subscriptions living on the fake's clock.

``POST /subscriptions`` charges the first period (none during a trial or for a
0-amount price). From then on ``fake.advance(...)`` moves the clock through
every moment something is due, in order, and at each one the engine does what
CHING does (REFERENCE.md sections 9, 11, 12 and 16):

- a renewal at each period end charges the default card (a tax document is
  issued with the charge) at the price's current amount, less its discounts;
  a scheduled price change (a downgrade) applies first; ``cancel_at_period_end``
  cancels instead;
- a trial sends ``subscription.trial_will_end`` 3 days before ``trial_end``,
  and its end charges the first period;
- a declined renewal makes the subscription ``past_due``; it is retried on
  days 3, 7 and 14, then canceled;
- an ``incomplete`` subscription (its first charge declined) becomes
  ``incomplete_expired`` after 23 hours;
- discounts count the charges they took part in and end with their duration
  (``once``, ``n_charges``, ``until_date``; never ``forever``).

The events each step fires, in order (``discount.*`` ones only where a
discount is involved):

=============================  ======================================================
create (paid)                  subscription.created, discount.applied, charge.succeeded
                               (discount.expired for a ``once`` discount)
create (trial or free)         subscription.created, discount.applied
create (declined)              subscription.created (incomplete), charge.failed; or, with
                               ``declined_first_charge="charge_failed"``, charge.failed and
                               402 ``CHARGE_FAILED`` (no subscription)
trial ends / renewal           charge.succeeded, subscription.updated, discount.expired...
renewal declined               charge.failed, subscription.updated (past_due)
dunning retry                  charge.failed; the last: charge.failed, subscription.canceled;
                               paid: charge.succeeded, subscription.updated (active)
incomplete after 23 h          subscription.updated (incomplete_expired)
cancel / at the period end     subscription.canceled (``cancel_at_period_end``: first
                               subscription.updated)
change_price                   upgrade now: charge.succeeded, subscription.updated;
                               otherwise subscription.updated
checkout (a recurring price,   subscription.created, discount.applied, then the one
alone or with line items)      charge's event (the first period and the lines; the
                               lines only in a trial; none if nothing is due)
checkout paid on another try   subscription.updated (from incomplete), charge.succeeded
=============================  ======================================================

``subscription.updated`` carries ``previous_status`` beside the object (SKILL-WH:
"includes the new and previous status").
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ._clock import OffsetClock, format_optional
from ._envelope import FakeApiError, Issue, invalid_fields, not_found
from ._models import AppliedDiscount, Charge, CheckoutSession, Discount, Price, Subscription
from ._state import VAT_RATE, Ledger
from ._subscriptions import ENDED, nominal_days, period_step
from ._validation import ChargeParams

DUNNING_RETRY_DAYS = (3, 7, 14)  # after the declined renewal; the last one failing cancels
INCOMPLETE_LIFETIME = timedelta(hours=23)
TRIAL_NOTICE = timedelta(days=3)

_Held = list[tuple[str, bool, Callable[[], Any]]]


@dataclass(frozen=True, slots=True)
class CheckoutPart:
    """What a checkout session adds to a subscription's first charge: the
    ``one_off`` agorot of its line items, and whether the charge gets a tax
    document (``create_document``)."""

    one_off: int = 0
    create_document: bool = True


NO_CHECKOUT = CheckoutPart()  # a subscription made by POST /subscriptions


class Billing:
    """The operations on the ledger's subscriptions and their schedule (all
    the state is the ledger's: one is made wherever it is needed). Every
    operation is synchronous, like the ledger's."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.subscriptions = ledger.subscriptions
        self.schedule = ledger.schedule
        self._queue = ledger.schedule.queue

    # -- the clock ----------------------------------------------------------------

    def advance(self, clock: OffsetClock, delta: timedelta) -> None:
        """Move ``clock`` on by ``delta``, stopping at each moment something is
        due so that it happens (and its events are dated) then."""
        target = clock.offset + delta
        end = clock() + delta
        while self._queue and self._queue[0][0] <= end:
            due = self._queue[0][0]
            clock.offset = target - (end - due)  # now: ``due``
            self._run_until(due)
        clock.offset = target

    def catch_up(self) -> None:
        """Run what is due by now (the clock may have moved without ``advance``)."""
        if self._queue and self._queue[0][0] <= self.ledger.now():
            self._run_until(self.ledger.now())

    def _run_until(self, moment: datetime) -> None:
        queue = self._queue
        while queue and queue[0][0] <= moment:
            due, _, sub_id, version = heapq.heappop(queue)
            sub = self.subscriptions[sub_id]
            if sub.version == version:
                self.ledger._apply_due_migrations()  # a price change due by now reaches this charge
                self._step(sub, due)
                self._schedule(sub)

    def _schedule(self, sub: Subscription) -> None:
        sub.version += 1
        due = self._next_due(sub)
        if due is not None:
            self.schedule.seq += 1
            heapq.heappush(self._queue, (due, self.schedule.seq, sub.id, sub.version))

    def _next_due(self, sub: Subscription) -> datetime | None:
        status = sub.status
        if status in ENDED:
            return None
        if status == "incomplete":
            return sub.created + INCOMPLETE_LIFETIME
        if status == "past_due":
            assert sub.past_due_since is not None
            return sub.past_due_since + timedelta(days=DUNNING_RETRY_DAYS[sub.retries])
        moments = [sub.current_period_end]
        if status == "trialing" and not sub.trial_notice_sent:
            moments.append(max(sub.created, sub.current_period_end - TRIAL_NOTICE))
        moments += [
            d.ends_at for d in sub.discounts if d.status == "active" and d.ends_at is not None
        ]
        return min(moments)

    def _step(self, sub: Subscription, at: datetime) -> None:
        """Everything due on ``sub`` by ``at``."""
        for applied in sub.active_discounts():
            if applied.ends_at is not None and applied.ends_at <= at:
                self._end_discount(applied, "completed")
        if sub.status == "incomplete":
            if at >= sub.created + INCOMPLETE_LIFETIME:
                self._set_status(sub, "incomplete_expired")
        elif sub.status == "past_due":
            self._retry(sub, at)
        elif sub.status in ("trialing", "active"):
            notice_due = at >= sub.current_period_end - TRIAL_NOTICE
            if sub.status == "trialing" and not sub.trial_notice_sent and notice_due:
                sub.trial_notice_sent = True
                self._emit("subscription.trial_will_end", sub)
            if at >= sub.current_period_end:
                self._renew(sub)

    # -- the billing steps ----------------------------------------------------------

    def _renew(self, sub: Subscription) -> None:
        """The period ended: cancel as asked, or start the next period and charge it."""
        start = sub.current_period_end
        if sub.cancel_at_period_end:
            self._cancel_now(sub)
            return
        if sub.pending_price is not None:
            sub.price, sub.locked_amount = sub.pending_price, None
            sub.pending_price = sub.pending_effective_at = None
        recurring = self._price(sub.price).recurring or {}
        if sub.status == "trialing" or recurring != sub.anchor_recurring:
            # The first paid period, or a price with another interval: anchored anew.
            sub.billing_cycle_anchor, sub.period_index = start, 0
            sub.anchor_recurring = recurring
        else:
            sub.period_index += 1
        sub.current_period_start = start
        sub.current_period_end = period_step(
            sub.billing_cycle_anchor, recurring, sub.period_index + 1
        )
        previous = sub.status
        paid = self._charge_period(sub)
        if paid is False:
            sub.status, sub.past_due_since, sub.retries = "past_due", start, 0
        else:
            sub.status = "active"
        self._emit_updated(sub, previous)
        self._expire_used_discounts(sub)

    def _retry(self, sub: Subscription, at: datetime) -> None:
        """A dunning retry of the declined renewal."""
        paid = self._charge_period(sub)
        if paid is not False:
            sub.past_due_since, sub.retries = None, 0
            self._set_status(sub, "active")
            self._expire_used_discounts(sub)
            return
        sub.retries += 1
        if sub.retries == len(DUNNING_RETRY_DAYS):
            self._cancel_now(sub)

    def _charge_period(
        self, sub: Subscription, part: CheckoutPart = NO_CHECKOUT, *, period: bool = True
    ) -> bool | None:
        """Charge one period (none with ``period=False``: a trial) and what a
        checkout sells with it, in one charge of the default card (the
        customer's first active card if it is gone): True paid, False declined,
        None nothing to pay."""
        subtotal = self._amount(sub) if period else 0
        off, used = self._discounts_off(sub, subtotal) if period else (0, [])
        total = part.one_off + _with_tax(subtotal - off, self._price(sub.price))
        if total <= 0:
            for applied in used:
                applied.charges_applied += 1
            return None
        charge = self._charge(sub, total, create_document=part.create_document)
        if charge is None or charge.status == "failed":
            return False
        for applied in used:
            applied.charges_applied += 1
        return True

    def _charge(
        self, sub: Subscription, amount: int, *, create_document: bool = True
    ) -> Charge | None:
        method = self.ledger.payment_methods.get(sub.default_payment_method or "")
        if method is None or method.status != "active":
            cards = self.ledger.payment_methods_of(sub.customer)
            method = self.ledger.default_payment_method(sub.customer) or (
                cards[0] if cards else None
            )
        if method is None:
            return None  # no card to charge: declined without a charge
        params = ChargeParams(
            sub.customer, method.id, amount, sub.currency, f"Subscription {sub.id}"
        )
        charge = self.ledger.create_charge(
            params, livemode=sub.livemode, create_document=create_document
        )
        sub.latest_charge = charge.id
        return charge

    def _expire_used_discounts(self, sub: Subscription) -> None:
        for applied in sub.active_discounts():
            remaining = applied.charges_remaining
            if remaining is not None and remaining <= 0:
                self._end_discount(applied, "completed")

    def _end_discount(self, applied: AppliedDiscount, status: str) -> None:
        applied.status = status
        if status == "completed":
            self.ledger._emit("discount.expired", applied.livemode, applied.to_json)

    def _set_status(self, sub: Subscription, status: str) -> None:
        previous, sub.status = sub.status, status
        self._emit_updated(sub, previous)

    def _cancel_now(self, sub: Subscription) -> None:
        sub.status, sub.canceled_at = "canceled", self.ledger.now()
        sub.pending_price = sub.pending_effective_at = None
        for applied in sub.active_discounts():
            self._end_discount(applied, "canceled")
        self._emit("subscription.canceled", sub)

    # -- amounts --------------------------------------------------------------------

    def _price(self, price_id: str) -> Price:
        return self.ledger.prices[price_id]

    def _amount(self, sub: Subscription, price_id: str | None = None) -> int:
        """What one period of the price costs this subscription, before discounts."""
        if price_id is None or price_id == sub.price:
            price_id = sub.price
            if sub.locked_amount is not None:
                return sub.locked_amount * sub.quantity
        return self._price(price_id).unit_amount * sub.quantity

    def _discounts_off(
        self, sub: Subscription, subtotal: int, price_id: str | None = None
    ) -> tuple[int, list[AppliedDiscount]]:
        """Agorot off ``subtotal`` by the active discounts that apply to the
        price, each on what the ones before it left; and those discounts."""
        price = self._price(price_id or sub.price)
        left, used = subtotal, []
        for applied in sub.active_discounts():
            if not applies_to(applied.rule, price):
                continue
            left -= _off(applied.rule, left, sub.quantity)
            used.append(applied)
        return subtotal - left, used

    def _per_day(self, sub: Subscription, price_id: str) -> float:
        recurring = self._price(price_id).recurring or {"interval": "month"}
        return self._amount(sub, price_id) / nominal_days(recurring)

    # -- operations the routes call ---------------------------------------------------

    def create(
        self,
        customer_id: str,
        price_id: str,
        payment_method: str | None,
        discounts: list[dict[str, str]],
        metadata: dict[str, Any] | None,
        *,
        livemode: bool,
    ) -> Subscription:
        self.catch_up()
        ledger = self.ledger
        customer = ledger.live_customer(customer_id)
        price = self._usable_price(price_id, livemode)
        if customer.livemode != livemode:
            raise not_found(ledger.customers.kind, customer_id)
        if payment_method is not None:
            # The charge rules: the card is the customer's and active (404 / 422).
            ledger._chargeable_method(ChargeParams(customer.id, payment_method, 1))
        elif price.unit_amount > 0:
            raise invalid_fields([Issue(("payment_method",), "Required for a paid price")])
        rules = self._redeemable(discounts, customer.id, price, livemode)
        sub = self._new(customer.id, price, payment_method, rules, metadata, livemode=livemode)
        refuse = self.schedule.declined_first_charge == "charge_failed"
        self._start(sub, refuse_declined=refuse)
        return sub

    def subscribe_at_checkout(
        self,
        session: CheckoutSession,
        price: Price,
        card: str,
        rules: list[Discount],
        one_off: int,
    ) -> Charge | None:
        """The customer pays a checkout session selling the recurring ``price``
        (REFERENCE.md 8.2, 8.3) with ``card``, which becomes the subscription's:
        one charge of the first period (none in a trial) and the ``one_off``
        agorot of its line items; ``rules`` are applied to the subscription.
        Events: ``subscription.created`` then the charge's (a decline leaves the
        subscription ``incomplete``, whatever ``declined_first_charge`` says).
        Paid again after a decline, the same subscription is ``subscription.updated``
        instead. The charge made, or None when nothing was due now."""
        self.catch_up()
        part = CheckoutPart(one_off, session.create_document)
        sub = self.subscriptions.get(session.subscription or "")
        before = sub.latest_charge if sub is not None else None
        if sub is None:
            sub = self._new(session.customer, price, card, rules, None, livemode=session.livemode)
            session.subscription = sub.id
            self._start(sub, part)
        else:
            self._pay_incomplete(sub, card, part)
        made = sub.latest_charge
        return self.ledger.charges[made] if made is not None and made != before else None

    def _new(
        self,
        customer: str,
        price: Price,
        payment_method: str | None,
        rules: list[Discount],
        metadata: dict[str, Any] | None,
        *,
        livemode: bool,
    ) -> Subscription:
        """A subscription starting now (in its trial, if the price has one)."""
        ledger = self.ledger
        now = ledger.now()
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as the API writes it
        recurring = price.recurring or {}
        trial_days = recurring.get("trial_period_days") or 0
        trial_end = now + timedelta(days=trial_days) if trial_days else None
        sub = Subscription(
            id=ledger._new_id(self.subscriptions),
            customer=customer,
            default_payment_method=payment_method,
            status="trialing" if trial_end else "active",
            currency=price.currency,
            price=price.id,
            item_id=ledger._ids.new_id("si"),
            billing_cycle_anchor=trial_end or now,
            current_period_start=now,
            current_period_end=trial_end or period_step(now, recurring, 1),
            trial_end=trial_end,
            metadata=dict(metadata or {}),
            livemode=livemode,
            created=now,
            anchor_recurring=recurring,
        )
        sub.discounts = [self._applied_discount(sub, rule, now) for rule in rules]
        return sub

    def _start(
        self, sub: Subscription, part: CheckoutPart = NO_CHECKOUT, *, refuse_declined: bool = False
    ) -> None:
        """Store ``sub`` with its first charge and fire its events:
        ``subscription.created``, ``discount.applied``, then the charge's. A
        declined charge leaves it ``incomplete``, or with ``refuse_declined`` is
        402 ``CHARGE_FAILED`` and stores nothing."""
        ledger = self.ledger
        paid, held = self._first_charge(sub, part)
        if paid is False:
            if refuse_declined:
                self._release(held)
                raise FakeApiError(402, "CHARGE_FAILED", _decline_message(ledger, sub))
            sub.status = "incomplete"
        self.subscriptions[sub.id] = sub
        self._emit("subscription.created", sub)
        # The redemptions name the charge only when it paid the period.
        charge = ledger.charges.get(sub.latest_charge or "") if sub.trial_end is None else None
        for applied in sub.discounts:
            self.schedule.applied.setdefault(applied.rule.id, []).append(applied)
            self._redeem(sub, applied, charge)
            ledger._emit("discount.applied", sub.livemode, applied.to_json)
        self._release(held)
        self._settled(sub, paid)

    def _pay_incomplete(self, sub: Subscription, card: str, part: CheckoutPart) -> None:
        """Charge an ``incomplete`` subscription's first period again (a retry on
        its checkout page): paid, it is ``subscription.updated`` to the status it
        would have started with, then the charge's event fires."""
        sub.default_payment_method = card
        paid, held = self._first_charge(sub, part)
        if paid is not False:
            self._set_status(sub, "active" if sub.trial_end is None else "trialing")
        self._release(held)
        self._settled(sub, paid)

    def _first_charge(self, sub: Subscription, part: CheckoutPart) -> tuple[bool | None, _Held]:
        """The first period's charge (none in a trial) with what a checkout
        sells with it; its events held, to fire after the subscription's."""
        with self._held() as held:
            paid = self._charge_period(sub, part, period=sub.trial_end is None)
        return paid, held

    def _settled(self, sub: Subscription, paid: bool | None) -> None:
        """After a first charge: a discount it used up ends, and what is due next
        is scheduled (a trial of under 3 days gives notice at once)."""
        if paid:
            self._expire_used_discounts(sub)
        self._schedule(sub)
        self._run_until(self.ledger.now())

    def cancel(self, sub_id: str, *, at_period_end: bool) -> Subscription:
        """Cancel now, or mark it to cancel at the period end (a subscription
        that is not billed, past_due or incomplete, is canceled now). An ended
        one is answered as it is."""
        self.catch_up()
        sub = self.subscriptions.find(sub_id)
        if sub.status in ENDED:
            return sub
        if at_period_end and sub.status in ("active", "trialing"):
            if not sub.cancel_at_period_end:
                sub.cancel_at_period_end = True
                self._emit_updated(sub, sub.status)
        else:
            self._cancel_now(sub)
        self._schedule(sub)
        return sub

    def change_price(self, sub_id: str, price_id: str, timing: str | None) -> dict[str, Any]:
        """Upgrade, downgrade or `same` (REFERENCE.md 9.3); the answer's data."""
        self.catch_up()
        sub = self.subscriptions.find(sub_id)
        if sub.status not in ("active", "trialing"):
            raise FakeApiError(
                400, "subscription_not_active", f"Subscription {sub_id} is {sub.status}"
            )
        price = self._usable_price(price_id, sub.livemode)
        answer: dict[str, Any] = {
            "kind": "same",
            "applied": False,
            "scheduled_for": None,
            "charge_amount": None,
            "charge_currency": None,
        }
        if price.id == sub.price:
            sub.pending_price = sub.pending_effective_at = None  # `same` clears a pending change
        else:
            upgrade = self._per_day(sub, price.id) > self._per_day(sub, sub.price)
            answer["kind"] = "upgrade" if upgrade else "downgrade"
            timing = timing or ("immediately" if upgrade else "at_period_end")
            if timing == "immediately" and not upgrade:
                raise FakeApiError(
                    400,
                    "DOWNGRADE_IMMEDIATE_NOT_SUPPORTED",
                    "A downgrade applies at the period end: the current period is not refunded",
                )
            if timing == "immediately":
                answer.update(self._upgrade_now(sub, price))
            else:
                sub.pending_price, sub.pending_effective_at = price.id, sub.current_period_end
                answer["scheduled_for"] = format_optional(sub.current_period_end)
        self._emit_updated(sub, sub.status)
        self._schedule(sub)
        return answer

    def _upgrade_now(self, sub: Subscription, price: Price) -> dict[str, Any]:
        """Switch now and charge the difference for the days left (none in a
        trial); a declined charge changes nothing (402)."""
        amount = 0
        if sub.status == "active":
            left = (sub.current_period_end - self.ledger.now()) / timedelta(days=1)
            days = max(0, math.ceil(left))
            difference = self._per_day(sub, price.id) - self._per_day(sub, sub.price)
            amount = _with_tax(round(difference * days), price)
        if amount > 0:
            charge = self._charge(sub, amount)
            if charge is None or charge.status == "failed":
                raise FakeApiError(402, "CHARGE_FAILED", "The card was declined.")
        sub.price, sub.locked_amount = price.id, None
        sub.pending_price = sub.pending_effective_at = None
        charged = amount > 0
        return {
            "applied": True,
            "charge_amount": amount if charged else None,
            "charge_currency": sub.currency if charged else None,
        }

    def _usable_price(self, price_id: str, livemode: bool) -> Price:
        price = self.ledger.price(price_id)  # a scheduled change due by now has applied
        if price.livemode != livemode:
            raise not_found(self.ledger.prices.kind, price_id)
        if not price.active:
            raise FakeApiError(400, "price_archived", f"Price {price_id} is archived")
        if price.type != "recurring" or price.recurring is None:
            raise FakeApiError(400, "price_not_recurring", f"Price {price_id} is not recurring")
        return price

    # -- discounts ------------------------------------------------------------------

    def _redeemable(
        self, wanted: list[dict[str, str]], customer: str, price: Price, livemode: bool
    ) -> list[Discount]:
        """The rules the body names (a code: the first of its rules that can
        apply), then the automatic rules that target the price; each once."""
        rules: dict[str, Discount] = {}
        for entry in wanted:
            if "code" in entry:
                candidates = self.ledger.discounts_with_code(entry["code"], livemode=livemode)
                if not candidates:
                    raise FakeApiError(
                        400, "discount_code_not_found", f"No such discount code: {entry['code']}"
                    )
            else:
                rule = self.ledger.discounts.get(entry["discount"])
                if rule is None or rule.livemode != livemode:
                    raise not_found(self.ledger.discounts.kind, entry["discount"])
                candidates = [rule]
            refusals = [self._refusal(rule, customer, price) for rule in candidates]
            usable = [rule for rule, why in zip(candidates, refusals, strict=True) if why is None]
            if not usable:
                code, message = refusals[0] or ("not_applicable", "")
                raise FakeApiError(400, code, message)
            rules.setdefault(usable[0].id, usable[0])
        for rule in self.ledger.discounts.newest(
            livemode, keep=lambda d: d.redemption == "automatic", limit=len(self.ledger.discounts)
        ):
            if self._refusal(rule, customer, price) is None:
                rules.setdefault(rule.id, rule)
        return list(rules.values())

    def _refusal(self, rule: Discount, customer: str, price: Price) -> tuple[str, str] | None:
        """Why ``rule`` cannot apply now (the codes of the public discount
        endpoint: inactive, expired, exhausted, not_applicable), or None."""
        now = self.ledger.now()
        name = rule.code or rule.id
        if not rule.active or rule.archived or (rule.active_from and now < rule.active_from):
            return "inactive", f"Discount {name} is not active"
        if rule.active_until is not None and now >= rule.active_until:
            return "expired", f"Discount {name} has expired"
        mine = sum(1 for r in rule.redemptions if r.customer == customer)
        if (rule.max_redemptions is not None and rule.times_redeemed >= rule.max_redemptions) or (
            rule.max_redemptions_per_customer is not None
            and mine >= rule.max_redemptions_per_customer
        ):
            return "exhausted", f"Discount {name} has been redeemed as often as it may be"
        if not applies_to(rule, price):
            return "not_applicable", f"Discount {name} does not apply to price {price.id}"
        return None

    def _applied_discount(
        self, sub: Subscription, rule: Discount, now: datetime
    ) -> AppliedDiscount:
        return AppliedDiscount(
            id=self.ledger._ids.new_id("di"),
            subscription=sub.id,
            rule=rule,
            started_at=now,
            livemode=sub.livemode,
            created=now,
        )

    def _redeem(self, sub: Subscription, applied: AppliedDiscount, charge: Charge | None) -> None:
        """A redemption row: with the first charge and what it saved, or
        without either (a trial, a free plan, a declined charge)."""
        paid = charge is not None and charge.status == "succeeded"
        saved = 0
        if paid:
            subtotal = self._amount(sub)
            saved = _off(applied.rule, subtotal, sub.quantity)
        self.ledger.add_redemption(
            applied.rule, sub.customer, saved, charge if paid else None, sub.id
        )

    def applied_discounts_of(self, discount_id: str) -> list[AppliedDiscount]:
        """The subscriptions a rule is applied to, newest first."""
        self.catch_up()
        return list(reversed(self.schedule.applied.get(discount_id, ())))

    # -- rendering and events -------------------------------------------------------

    def render(self, sub: Subscription, *, row: bool = False) -> dict[str, Any]:
        """``GET /subscriptions/:id`` (and events); a list ``row`` has empty
        items, no ``pending_*`` or ``next_charge_*``, and ``customer_name``."""
        data = Subscription.SHAPE.render(sub)
        if row:
            data["items"] = []
            del data["pending_price"], data["pending_effective_at"]
            customer = self.ledger.customers.get(sub.customer)
            data["customer_name"] = customer.name if customer is not None else None
        else:
            data.update(self._next_charge(sub))
        data.update(Subscription.TAIL.render(sub))
        return data

    def _next_charge(self, sub: Subscription) -> dict[str, Any]:
        """The estimate of the next charge: at the period end, at the price
        then in force, less the discounts still running then."""
        none = dict.fromkeys(("next_charge_subtotal", "next_charge_discount_amount",
                              "next_charge_amount"))  # fmt: skip
        if sub.status in ENDED or sub.cancel_at_period_end:
            return {**none, "next_charge_discounts": []}
        price_id = sub.pending_price or sub.price
        subtotal = self._amount(sub, price_id)
        left, lines = subtotal, []
        price = self._price(price_id)
        for applied in sub.active_discounts():
            ends_at = applied.ends_at
            if not applies_to(applied.rule, price) or (
                ends_at is not None and ends_at <= sub.current_period_end
            ):
                continue
            off = _off(applied.rule, left, sub.quantity)
            left -= off
            lines.append(_discount_line(applied, off))
        return {
            "next_charge_subtotal": subtotal,
            "next_charge_discount_amount": subtotal - left,
            "next_charge_amount": _with_tax(left, price),
            "next_charge_discounts": lines,
        }

    def _emit(self, event_type: str, sub: Subscription) -> None:
        self.ledger._emit(event_type, sub.livemode, lambda: self.render(sub))

    def _emit_updated(self, sub: Subscription, previous: str) -> None:
        def snapshot() -> dict[str, Any]:
            return {**self.render(sub), "previous_status": previous}

        self.ledger._emit("subscription.updated", sub.livemode, snapshot)

    @contextmanager
    def _held(self) -> Iterator[_Held]:
        """Collect the ledger's events instead of firing them (a first
        charge's fire after ``subscription.created``)."""
        held: _Held = []
        ledger, sink = self.ledger, self.ledger.on_event
        ledger.on_event = lambda kind, livemode, snapshot: held.append((kind, livemode, snapshot))
        try:
            yield held
        finally:
            ledger.on_event = sink

    def _release(self, held: _Held) -> None:
        for kind, livemode, snapshot in held:
            self.ledger._emit(kind, livemode, snapshot)
        held.clear()


def applies_to(rule: Discount, price: Price) -> bool:
    """Whether ``rule`` takes money off ``price`` (order-wide, or it targets the
    price or its product)."""
    if rule.target_type == "order":
        return True
    return (price.product if rule.target_type == "products" else price.id) in rule.targets


def _off(rule: Discount, amount: int, quantity: int) -> int:
    """What ``rule`` takes off ``amount`` agorot (never more than it)."""
    if rule.value_type == "percent":
        off = round(amount * rule.value / 10_000)
    elif rule.value_type == "amount":
        off = rule.value
    else:  # override: the unit price to charge
        off = amount - rule.value * quantity
    return max(0, min(amount, off))


def _with_tax(amount: int, price: Price) -> int:
    """An `exclusive` price has VAT added at charge time."""
    if price.tax_mode == "exclusive" and amount > 0:
        return amount + round(amount * VAT_RATE)
    return amount


def _discount_line(applied: AppliedDiscount, amount_off: int) -> dict[str, Any]:
    rule = applied.rule
    line: dict[str, Any] = {
        "name": rule.name,
        "value_type": rule.value_type,
        "value": rule.value,
        "duration": rule.duration,
        "amount_off": amount_off,
    }
    if rule.duration == "n_charges":
        line["charges_remaining"] = applied.charges_remaining
    if rule.duration == "until_date":
        line["ends_at"] = format_optional(applied.ends_at)
    return line


def _decline_message(ledger: Ledger, sub: Subscription) -> str:
    charge = ledger.charges.get(sub.latest_charge or "")
    return (charge.failure_message if charge else None) or "The card was declined."
