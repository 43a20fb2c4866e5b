from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, TypedDict, Unpack

from .._errors import InvalidParameterError
from .._listing import AsyncList
from .._models import (
    Discount,
    DiscountDuration,
    DiscountRedemption,
    DiscountTargetType,
    DiscountValueType,
    Redemptions,
    TaxMode,
)
from .._retry import Resend
from .._validation import (
    Check,
    Fields,
    check_currency,
    check_discount_code,
    check_discount_rules,
    check_flag,
    check_id,
    check_id_list,
    check_metadata,
    check_moment,
    check_name,
    check_positive_int,
    check_same_kind_targets,
    check_window,
    checked_with_others,
    one_of,
)
from ._base import Listed, Marking, Resource, marked

__all__ = ["Discounts"]

# Imports, declarations and the create's docstring alike in shape only to _products'.
DISCOUNTS_PATH = "/discounts"
# The 100 newest rules, project-wide: the API has no filter. A found rule is a
# create's result only with the same kind and value; not by what `update` and
# `replace_targets` may change since (name, window, caps, targets), nor by its
# code (upper-cased by the server, and shared by several rules) or dates
# (which the server may write out otherwise).
_LISTED = Listed(
    DISCOUNTS_PATH,
    same=(
        "redemption",
        "target_type",
        "value_type",
        "value",
        "value_tax_mode",
        "currency",
        "duration",
        "duration_charges",
    ),
)
# What `update` may change (the API calls them the mutable fields).
_MUTABLE: dict[str, Check] = {
    "name": check_name,
    "active": check_flag,
    "active_from": check_moment,
    "active_until": check_moment,
    "max_redemptions": check_positive_int,
    "max_redemptions_per_customer": check_positive_int,
    "metadata": check_metadata,
}
_CREATE = Fields(
    {
        "name": check_name,
        "redemption": one_of(DiscountRedemption),
        "code": check_discount_code,
        "target_type": one_of(DiscountTargetType),
        "targets": check_id_list,
        "value_type": one_of(DiscountValueType),
        "value": checked_with_others,  # its range depends on value_type
        "value_tax_mode": one_of(TaxMode),
        "currency": check_currency,
        "duration": one_of(DiscountDuration),
        "duration_charges": check_positive_int,
        "duration_until": check_moment,
        **{name: check for name, check in _MUTABLE.items() if name not in ("name", "metadata")},
    },
    required=("name", "redemption", "target_type", "value_type", "value", "duration"),
)
_UPDATE = Fields(_MUTABLE)


class DiscountChanges(TypedDict, total=False):
    """What `discounts.update` may change (the API's mutable fields); None
    (the default) leaves a field unchanged."""

    name: str | None
    active: bool | None
    active_from: datetime | str | None
    active_until: datetime | str | None
    max_redemptions: int | None
    max_redemptions_per_customer: int | None
    metadata: Mapping[str, Any] | None


class Discounts(Resource):
    """`/discounts`: discount rules, automatic or redeemed with a code.

    Retry policy, by what a repeat would do on the server:

    - `create` is exactly-once like `refunds.create`: two automatic rules on
      one price would both apply, so its idempotency key is stored in the
      rule's metadata under `IDEMPOTENCY_METADATA_KEY`, and after an
      ambiguous failure the client looks for it among the 100 newest rules
      (`GET /discounts`, project-wide: no filter is documented) before it
      sends again.
    - `update` and `replace_targets` set fields and `archive` is documented
      as idempotent, so all three are retried like a GET.

    Codes are not unique: several rules may share one.
    """

    async def create(
        self,
        *,
        name: str,
        redemption: DiscountRedemption | Literal["automatic", "code"],
        target_type: DiscountTargetType | Literal["order", "products", "prices"],
        value_type: DiscountValueType | Literal["percent", "amount", "override"],
        value: int,
        duration: DiscountDuration | Literal["once", "n_charges", "until_date", "forever"],
        code: str | None = None,
        targets: Sequence[str] | None = None,
        value_tax_mode: TaxMode | Literal["inclusive", "exclusive"] | None = None,
        currency: str | None = None,
        duration_charges: int | None = None,
        duration_until: datetime | str | None = None,
        active_from: datetime | str | None = None,
        active_until: datetime | str | None = None,
        max_redemptions: int | None = None,
        max_redemptions_per_customer: int | None = None,
        active: bool | None = None,
        metadata: Mapping[str, Any] | None = None,
        **marking: Unpack[Marking],
    ) -> Discount:
        """Create a discount rule.

        - `redemption="code"` needs `code` (1-64 of A-Z, 0-9, `_`, `-`;
          upper-cased: "launch" is sent as "LAUNCH"); `"automatic"` takes none.
        - `target_type="order"` takes no `targets`; `"products"` / `"prices"`
          need `targets`, product (`prod_...`) or price (`price_...`) ids.
        - `value_type="percent"`: `value` in basis points, at most 10000
          (2000 is 20%); `"amount"`: agorot off; `"override"`: the agorot unit
          price to charge (with `value_tax_mode`, inclusive by default).
          `currency` is for amount and override only.
        - `duration="n_charges"` needs `duration_charges`, `"until_date"`
          needs `duration_until`; `"once"` and `"forever"` take neither.
        - `active_from` / `active_until` bound when it may be redeemed;
          `max_redemptions` (per customer too) caps its uses; `active`
          defaults to True.

        Timestamps are timezone-aware datetimes or ISO-8601 strings.

        Idempotency options (`marking`) as for `charges.create`:
        `idempotency_key`, `mark_idempotency_key`, `on_full_window`,
        `assume_new`. With your own `idempotency_key`, a rule already made
        with it is returned (`request_info.found_existing`) instead of a
        second one (`IdempotencyKeyReusedError` if its redemption, target
        type, value or duration differ); when the 100 newest rules lack it and they are 100,
        `LookupInconclusiveError`, nothing sent, unless `on_full_window="send"`.
        """
        payload = _CREATE.body_of(locals())
        check_discount_rules(payload)
        how = marked(_LISTED, payload, metadata, **marking)
        return await self._create_marked(Discount, DISCOUNTS_PATH, payload, how)

    async def update(self, id: str, **changes: Unpack[DiscountChanges]) -> Discount:
        """Change a rule's mutable fields (`DiscountChanges`: `name`,
        `active`, `active_from`, `active_until`, `max_redemptions`,
        `max_redemptions_per_customer`, `metadata`; None leaves one
        unchanged). What it takes off and what it targets are fixed
        (`replace_targets` changes the targets)."""
        path = DISCOUNTS_PATH + "/" + check_id("id", id)
        payload = _UPDATE.body(**changes)
        if not payload:
            raise InvalidParameterError("update needs at least one field to change")
        check_window(payload)
        return await self._call(Discount, "POST", path, body=payload, retry=Resend.SAFE)

    async def replace_targets(self, id: str, *, targets: Sequence[str]) -> Discount:
        """Replace a products or prices rule's targets with `targets`: all
        product ids or all price ids, as the rule's `target_type` says
        (`TargetNotFoundError` otherwise; `TargetsNotSupportedError` for an
        order rule)."""
        path = DISCOUNTS_PATH + "/" + check_id("id", id) + "/targets"
        ids = check_id_list("targets", targets)
        check_same_kind_targets(ids)
        return await self._call(Discount, "POST", path, body={"targets": ids}, retry=Resend.SAFE)

    async def archive(self, id: str) -> Discount:
        """Archive a rule (a soft delete): it can no longer be redeemed, and
        discounts already applied run out their duration. Idempotent."""
        path = DISCOUNTS_PATH + "/" + check_id("id", id) + "/archive"
        return await self._call(Discount, "POST", path, retry=Resend.SAFE)

    async def retrieve(self, id: str) -> Discount:
        """The rule `id` (`disc_...`), its targets resolved by the server
        (their ids in `targets`)."""
        return await self._call(Discount, "GET", DISCOUNTS_PATH + "/" + check_id("id", id))

    def list(self) -> AsyncList[Discount]:
        """The 100 newest rules, newest first. Awaitable and async-iterable."""
        return self._list(Discount, DISCOUNTS_PATH, None)

    async def redemptions(self, id: str) -> Redemptions:
        """Each use of the rule (`redemptions`) and the subscriptions it is
        applied to (`applied_discounts`)."""
        path = DISCOUNTS_PATH + "/" + check_id("id", id) + "/redemptions"
        return await self._call(Redemptions, "GET", path)

    async def find_by_idempotency_key(self, key: str) -> Discount | None:
        """The rule created with this idempotency key, or None when it
        provably does not exist; LookupInconclusiveError, never None, when
        the 100 newest rules lack it and are 100 (as
        `refunds.find_by_idempotency_key`). Resolves an OutcomeUnknownError.
        """
        return await self._find_by_marker(Discount, _LISTED, key)
