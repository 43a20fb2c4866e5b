from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar, Unpack

from .._listing import AsyncList
from .._models import ChangeTiming, PriceChange, Subscription
from .._reconcile import StateReconciler
from .._validation import (
    Fields,
    check_flag,
    check_id,
    check_plain_id,
    check_subscription_discounts,
    one_of,
)
from ._base import Listed, Marking, Resource, marked

__all__ = ["Subscriptions"]

T = TypeVar("T")

SUBSCRIPTIONS_PATH = "/subscriptions"
# A subscription is looked for by its marker among the project's 100 newest
# (the list ignores query parameters: there is no customer filter), and read
# again in full once found (list rows have no items or estimate).
# It is a create's result only for the same customer: its price changes with
# change_price, and its card is shown as `default_payment_method`, which may change.
_LISTED = Listed(SUBSCRIPTIONS_PATH, reread=True, same=("customer",))
_CREATE = Fields(
    {
        "customer": check_plain_id,
        "price": check_plain_id,
        "payment_method": check_plain_id,
        "discounts": check_subscription_discounts,
    },
    required=("customer", "price"),
)
_CHANGE = Fields(
    {"price": check_plain_id, "change_timing": one_of(ChangeTiming)}, required=("price",)
)


class Subscriptions(Resource):
    """`/subscriptions`: a customer billed for a recurring price every period.

    Retry policy, by what a repeat would do on the server:

    - `create` charges the first period, so it is exactly-once like
      `charges.create`: its idempotency key is stored in the subscription's
      metadata under `IDEMPOTENCY_METADATA_KEY`, and after an ambiguous
      failure the client looks for it among the 100 newest subscriptions
      (`GET /subscriptions`, project-wide: the list has no filter) before it
      sends again.
    - `change_price` (an upgrade charges pro rata) and `cancel` are
      reconciled by state: after an ambiguous failure the subscription is
      read back, and a change it already shows (the new price applied or
      pending; the cancellation recorded) is not sent again.
    """

    async def create(
        self,
        *,
        customer: str,
        price: str,
        payment_method: str | None = None,
        discounts: Sequence[Mapping[str, str] | str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        **marking: Unpack[Marking],
    ) -> Subscription:
        """Subscribe `customer` to the recurring `price` and charge its first
        period to `payment_method` (none is charged during a trial, or for a
        price of 0, which may leave `payment_method` out).

        `discounts`: `[{"code": "LAUNCH"}]` or `[{"discount": "disc_..."}]`
        (a bare string is a code); automatic rules that target the price
        apply by themselves.

        A declined first charge is answered one of two ways, both documented:
        an `incomplete` subscription whose `latest_charge` is the failed
        charge (it becomes `incomplete_expired` after 23 hours), or
        `CardDeclinedError` (402 `CHARGE_FAILED`) with no subscription.

        Idempotency options (`marking`) as for `charges.create`:
        `idempotency_key`, `mark_idempotency_key`, `on_full_window`,
        `assume_new`. With your own `idempotency_key`, a subscription already
        made with it is returned (`request_info.found_existing`) instead of a
        second one (`IdempotencyKeyReusedError` if for another customer);
        when the 100 newest subscriptions lack it and they are 100,
        `LookupInconclusiveError`, nothing sent, unless `on_full_window="send"`.
        """
        payload = _CREATE.body_of(locals())
        how = marked(_LISTED, payload, metadata, **marking)
        return await self._create_marked(Subscription, SUBSCRIPTIONS_PATH, payload, how)

    async def retrieve(self, id: str) -> Subscription:
        """The subscription `id` (`sub_...`) in full: its `items`, a scheduled
        change (`pending_price`, `pending_effective_at`) and the estimate of
        its next charge (`next_charge_*`)."""
        return await self._call(Subscription, "GET", _path(id))

    def list(self) -> AsyncList[Subscription]:
        """The 100 newest subscriptions, newest first (rows carry
        `customer_name`; their `items` are empty and they have no
        `next_charge_*`: `retrieve` one for those). Awaitable and
        async-iterable."""
        return self._list(Subscription, SUBSCRIPTIONS_PATH, None)

    async def cancel(self, id: str, *, cancel_at_period_end: bool | None = None) -> Subscription:
        """Cancel a subscription now, or with `cancel_at_period_end=True` at
        the end of the period paid for (it stays `active` until then).

        Reconciled by state: after an ambiguous failure the subscription is
        read back, and if it is canceled (or marked to cancel at the period
        end) it is returned without sending again.
        """
        at_end = cancel_at_period_end is not None and check_flag(
            "cancel_at_period_end", cancel_at_period_end
        )
        payload = None if cancel_at_period_end is None else {"cancel_at_period_end": at_end}
        return await self._change(Subscription, id, "/cancel", payload, _canceled(at_end))

    async def change_price(
        self,
        id: str,
        *,
        price: str,
        change_timing: ChangeTiming | Literal["immediately", "at_period_end"] | None = None,
    ) -> PriceChange:
        """Move a subscription to another recurring `price` without canceling it.

        By default an upgrade (a higher cost per day) applies now and is
        charged pro rata for the days left of the period (the renewal date
        stays), and a downgrade is scheduled for the period end.
        `change_timing="at_period_end"` defers an upgrade too (nothing is
        charged now); `"immediately"` on a downgrade is refused
        (`DowngradeImmediateNotSupportedError`: a period is never refunded).
        The current price again (`kind` `same`) clears a scheduled change.

        Reconciled by state: after an ambiguous failure the subscription is
        read back, and if it shows the new price applied (or, for
        `at_period_end`, pending) the change is not sent again (so never
        charged twice); that answer is `request_info.reconciled`, and its
        `kind` and `charge_amount` are None (see `PriceChange`). A price left
        pending by an earlier call does not count for the default timing:
        the change is sent again (a downgrade is only scheduled again).
        """
        payload = _CHANGE.body_of(locals())
        settled = _price_changed(payload["price"], payload.get("change_timing"))
        return await self._change(
            PriceChange, id, "/change_price", payload, settled, answer=_change_read_back
        )

    async def _change(
        self,
        cls: type[T],
        id: str,
        action: str,
        payload: dict[str, Any] | None,
        settled: Callable[[Mapping[str, Any]], bool],
        answer: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
    ) -> T:
        """POST `action` on subscription `id`, reconciled by reading it back:
        `settled(subscription)` says the change took effect."""
        path = _path(id)
        retry = StateReconciler(object_path=path, settled=settled, answer=answer)
        return await self._call(cls, "POST", path + action, body=payload, retry=retry)

    async def find_by_idempotency_key(self, key: str) -> Subscription | None:
        """The subscription `create` made with idempotency key `key`, found
        among the project's 100 newest subscriptions, or None when they are
        fewer and lack it (so it was never made). Resolves an
        OutcomeUnknownError; the rules are `refunds.find_by_idempotency_key`'s.
        """
        return await self._find_by_marker(Subscription, _LISTED, key)


def _path(id: str) -> str:
    return SUBSCRIPTIONS_PATH + "/" + check_id("id", id)


# ----------------------------------------------------- reconciliation by state
def current_price(subscription: Mapping[str, Any]) -> str | None:
    """The id of the price a subscription's first item bills (an item's
    `price` may be the id or the price object)."""
    items = subscription.get("items")
    if not isinstance(items, list) or not items or not isinstance(items[0], dict):
        return None
    price = items[0].get("price")
    if isinstance(price, dict):
        price = price.get("id")
    return price if isinstance(price, str) else None


def _canceled(at_period_end: bool) -> Callable[[Mapping[str, Any]], bool]:
    def settled(subscription: Mapping[str, Any]) -> bool:
        if subscription.get("status") == "canceled":
            return True
        return at_period_end and subscription.get("cancel_at_period_end") is True

    return settled


def _price_changed(price: str, timing: str | None) -> Callable[[Mapping[str, Any]], bool]:
    """The change took effect: `price` is billed now with nothing pending (an
    applied upgrade; a `same` change clears what was pending), or, for a
    change asked `at_period_end`, `price` is pending.

    With the default timing a pending `price` proves nothing: an earlier
    `at_period_end` call may have left it pending while this upgrade never
    reached the server. The change is then sent again, which charges an
    upgrade once and schedules a downgrade again (no money moves)."""

    def settled(subscription: Mapping[str, Any]) -> bool:
        pending = subscription.get("pending_price")
        if pending is None:
            return current_price(subscription) == price
        return pending == price and timing == ChangeTiming.AT_PERIOD_END

    return settled


def _change_read_back(subscription: Mapping[str, Any]) -> Mapping[str, Any]:
    """A price change as the subscription read back shows it: applied, or
    scheduled for `pending_effective_at`; what it cost is not shown."""
    scheduled = subscription.get("pending_price") is not None
    return {
        "kind": None,
        "applied": not scheduled,
        "scheduled_for": subscription.get("pending_effective_at") if scheduled else None,
        "charge_amount": None,
        "charge_currency": None,
        "subscription": subscription,
    }
