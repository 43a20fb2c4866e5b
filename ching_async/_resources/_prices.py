from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, TypedDict, Unpack

from .._listing import AsyncList
from .._models import Price, PriceApplyMode, PriceType, Recurring, TaxMode
from .._retry import Resend
from .._validation import (
    Clear,
    Fields,
    check_active_filter,
    check_agorot_or_zero,
    check_currency,
    check_id,
    check_metadata,
    check_migration_rules,
    check_moment,
    check_non_negative_int,
    check_plain_id,
    check_price_rules,
    check_recurring,
    clearable,
    one_of,
)
from ._base import Listed, Marking, Resource, marked

__all__ = ["Prices"]

PRICES_PATH = "/prices"
# A price is looked for by its marker among its product's 100 newest prices,
# inactive ones too (the list shows active ones only unless `active=all`). It
# is a create's result only with the same product, type, currency and
# billing interval: `update` may change its unit_amount, tax_mode and trial
# afterwards, so those prove nothing about the create that made it.
_LISTED = Listed(
    PRICES_PATH,
    by="product",
    always=(("active", "all"),),
    same=("product", "type", "currency", "recurring.interval", "recurring.interval_count"),
)
_CREATE = Fields(
    {
        "product": check_plain_id,
        "unit_amount": check_agorot_or_zero,
        "type": one_of(PriceType),
        "currency": check_currency,
        "tax_mode": one_of(TaxMode),
        "recurring": check_recurring,
    },
    required=("product", "unit_amount", "type"),
)
_UPDATE = Fields(
    {
        "apply_mode": one_of(PriceApplyMode),
        "effective_date": check_moment,
        "unit_amount": check_agorot_or_zero,
        "trial_period_days": clearable(check_non_negative_int),
        "tax_mode": one_of(TaxMode),
        "metadata": check_metadata,
    },
    required=("apply_mode",),
)


class PriceChanges(TypedDict, total=False):
    """What `prices.update` may change besides `apply_mode`; None (the
    default) leaves a field unchanged."""

    effective_date: datetime | str | None  # with apply_mode="scheduled" only
    unit_amount: int | None
    trial_period_days: int | Clear | None  # CLEAR removes the trial
    tax_mode: TaxMode | Literal["inclusive", "exclusive"] | None
    metadata: Mapping[str, Any] | None


class Prices(Resource):
    """`/prices`: what a product costs, once or every interval.

    Retry policy, by what a repeat would do on the server:

    - `create` is exactly-once like `refunds.create` (a second price would
      be a second plan on offer): its idempotency key is stored in the
      price's metadata under `IDEMPOTENCY_METADATA_KEY`, and after an
      ambiguous failure the client looks for it among the product's 100
      newest prices (`GET /prices?product=...&active=all`) before it sends again.
    - `update` sets absolute values (an amount, a mode, a date; never an
      increment), so a repeat leaves the price as one send would: it is
      retried like a GET. So is `cancel_pending_migration`: once nothing is
      pending, canceling again changes nothing.
    """

    async def create(
        self,
        *,
        product: str,
        unit_amount: int,
        type: PriceType | Literal["one_time", "recurring"],
        recurring: Recurring | Mapping[str, Any] | None = None,
        currency: str | None = None,
        tax_mode: TaxMode | Literal["inclusive", "exclusive"] | None = None,
        metadata: Mapping[str, Any] | None = None,
        **marking: Unpack[Marking],
    ) -> Price:
        """Create a price of `product`: `unit_amount` agorot (0 is a free
        plan), `type="one_time"`, or `type="recurring"` with
        `recurring={"interval": "month"}` (also `interval_count` >= 1 and
        `trial_period_days` >= 0; the docs list intervals `month` and `year`,
        the official CLI also `day` and `week`).

        `currency` defaults to ils on the server, `tax_mode` to inclusive
        (VAT included; `exclusive` adds it at charge time).

        Idempotency options (`marking`) as for `charges.create`:
        `idempotency_key`, `mark_idempotency_key`, `on_full_window`,
        `assume_new`. With your own `idempotency_key`, a price of this
        product already made with it is returned (`request_info.found_existing`)
        instead of a second one (`IdempotencyKeyReusedError` if it has
        another product, type, currency or interval); when the product's 100 newest prices lack it
        and they are 100, `LookupInconclusiveError`, nothing sent, unless
        `on_full_window="send"`.
        """
        payload = _CREATE.body_of(locals())
        check_price_rules(payload)
        how = marked(_LISTED, payload, metadata, **marking)
        return await self._create_marked(Price, PRICES_PATH, payload, how)

    async def update(
        self,
        id: str,
        *,
        apply_mode: PriceApplyMode | Literal["now", "new_subscribers_only", "scheduled"],
        **changes: Unpack[PriceChanges],
    ) -> Price:
        """Change a price (`PriceChanges`: `unit_amount`, `trial_period_days`,
        `tax_mode`, `metadata`), and say how the change reaches
        subscriptions: `apply_mode="now"` (existing ones too),
        `"new_subscribers_only"`, or `"scheduled"` with `effective_date` (a
        timezone-aware datetime or an ISO-8601 string; until then the change
        is pending, and `cancel_pending_migration` withdraws it).

        None leaves a field unchanged; `trial_period_days=ching_async.CLEAR`
        removes the trial. At least one change is needed.
        """
        path = PRICES_PATH + "/" + check_id("id", id)
        payload = _UPDATE.body(apply_mode=apply_mode, **changes)
        check_migration_rules(payload)
        return await self._call(Price, "POST", path, body=payload, retry=Resend.SAFE)

    async def cancel_pending_migration(self, id: str) -> Price:
        """Withdraw the change a `scheduled` update left pending.

        Retried like a GET: once nothing is pending, canceling again
        changes nothing. No source shows the answer's body: if it holds no
        price, a Price with only its `id` is returned.
        """
        path = PRICES_PATH + "/" + check_id("id", id) + "/pending_migration"
        return await self._call(
            Price, "DELETE", path, retry=Resend.SAFE, when_empty={"id": id, "object": "price"}
        )

    async def retrieve(self, id: str) -> Price:
        """The price `id` (`price_...`)."""
        return await self._call(Price, "GET", PRICES_PATH + "/" + check_id("id", id))

    def list(
        self, *, product: str | None = None, active: bool | Literal["all"] | None = None
    ) -> AsyncList[Price]:
        """The 100 newest prices, newest first: of one `product` if given;
        active ones only unless `active=False` (inactive ones only) or
        `active="all"` (the server's default, None, is active only).
        Awaitable and async-iterable.
        """
        query: dict[str, str] = {}
        if product is not None:
            query["product"] = check_plain_id("product", product)
        if active is not None:
            query["active"] = check_active_filter("active", active)
        return self._list(Price, PRICES_PATH, query or None)

    async def find_by_idempotency_key(self, product: str, key: str) -> Price | None:
        """The price of `product` created with this idempotency key, or None
        when it provably does not exist (the product has fewer than 100
        prices and none carries the key). When it is not among the product's
        100 newest prices and they are 100, it may exist beyond them:
        LookupInconclusiveError, never None. Use it to resolve an
        OutcomeUnknownError.
        """
        within = check_plain_id("product", product)
        return await self._find_by_marker(Price, _LISTED, key, within)
