from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Unpack

from .._listing import AsyncList
from .._models import CancellationReason, Charge, Installments
from .._reconcile import Snapshot, StateReconciler
from .._validation import (
    CHARGE_FIELDS,
    check_amount,
    check_cancellation_reason,
    check_id,
    check_plain_id,
)
from ._base import Listed, Marking, Resource, marked

if TYPE_CHECKING:
    from .._bulk import BulkOptions, BulkRun, ChargeParams

__all__ = ["Charges"]


# The states a lookup reads from a charge as the API shows it (reconciliation).
def charge_declined(charge: Mapping[str, Any]) -> bool:
    return charge.get("status") == "failed"


def charge_captured(amount: int | None) -> Callable[[Mapping[str, Any]], bool]:
    def settled(charge: Mapping[str, Any]) -> bool:
        if charge.get("status") != "succeeded" or charge.get("captured") is not True:
            return False
        return amount is None or charge.get("amount_captured") == amount

    return settled


def charge_canceled(charge: Mapping[str, Any]) -> bool:
    return charge.get("status") == "canceled"


# A charge is looked for by its marker among its customer's 100 newest; it is
# a create's result only with the same customer, card, amount, currency and
# installments (none of which changes after; the description is free text).
_LISTED = Listed(
    "/charges",
    by="customer",
    declined=charge_declined,
    same=("customer", "payment_method", "amount", "currency", "installments.count"),
)


class Charges(Resource):
    """`/charges`: one-off charges of saved cards, and manual capture/cancel."""

    async def create(
        self,
        *,
        customer: str,
        payment_method: str,
        amount: int,
        currency: str = "ils",
        description: str | None = None,
        installments: int | Installments | None = None,
        metadata: Mapping[str, Any] | None = None,
        **marking: Unpack[Marking],
    ) -> Charge:
        """Create and confirm a charge of `amount` agorot (49.90 ILS = 4990).

        Idempotency options (`marking`): `idempotency_key: str | None = None`,
        `mark_idempotency_key: bool = True`,
        `on_full_window: Literal["raise", "send"] = "raise"`,
        `assume_new: bool = False`.

        The idempotency key is stored in the charge's metadata under
        `IDEMPOTENCY_METADATA_KEY` so that an ambiguous failure is reconciled
        instead of re-sent. With `mark_idempotency_key=False` nothing is
        added to metadata, and an ambiguous failure raises with
        `outcome_unknown=True` instead.

        With your own `idempotency_key`, the same key never makes two
        charges: the customer's charges are looked up first (one GET; when
        they lack the key, a second of the project's newest, for the key used
        for another customer) and a charge already made with the key is
        returned (`request_info.found_existing`) instead of charging again,
        if it has this call's customer, payment_method, amount, currency and
        installments; if not, the key was used with other parameters:
        `IdempotencyKeyReusedError`, nothing sent. When the customer's 100
        newest charges (the API's window) lack the key, it may have been used
        beyond them: `LookupInconclusiveError`, nothing sent, unless
        `on_full_window="send"`. `assume_new=True` skips the lookup (you know
        the key was never used), unless an earlier call of this client used
        the key.
        """
        payload = CHARGE_FIELDS.body_of(locals())
        how = marked(_LISTED, payload, metadata, **marking)
        return await self._create_marked(Charge, "/charges", payload, how)

    async def retrieve(self, id: str) -> Charge:
        """The charge `id` (`ch_...`)."""
        return await self._call(Charge, "GET", "/charges/" + check_id("id", id))

    async def capture(
        self, id: str, *, amount: int | None = None, idempotency_key: str | None = None
    ) -> Charge:
        """Capture a `requires_capture` charge, fully or partially (`amount` agorot).

        After an ambiguous failure the charge is retrieved: if it is already
        captured (with the requested amount) it is returned; if it still
        requires capture, the capture is sent again.
        """
        object_path = "/charges/" + check_id("id", id)
        payload = None if amount is None else {"amount": check_amount("amount", amount)}
        return await self._call(
            Charge,
            "POST",
            object_path + "/capture",
            body=payload,
            idempotency_key=idempotency_key,
            retry=StateReconciler(object_path=object_path, settled=charge_captured(amount)),
        )

    async def cancel(
        self,
        id: str,
        *,
        cancellation_reason: CancellationReason | str | None = None,
        idempotency_key: str | None = None,
    ) -> Charge:
        """Cancel a `requires_capture` charge (release the hold).

        `cancellation_reason`: requested_by_customer (the server's default),
        fraudulent or abandoned. Reconciled by state like `capture`.
        """
        object_path = "/charges/" + check_id("id", id)
        payload = None
        if cancellation_reason is not None:
            reason = check_cancellation_reason("cancellation_reason", cancellation_reason)
            payload = {"cancellation_reason": reason}
        return await self._call(
            Charge,
            "POST",
            object_path + "/cancel",
            body=payload,
            idempotency_key=idempotency_key,
            retry=StateReconciler(object_path=object_path, settled=charge_canceled),
        )

    def list(self, *, customer: str | None = None) -> AsyncList[Charge]:
        """The 100 newest charges, newest first (optionally one customer's).

        Await it for a `list[Charge]`, or iterate with `async for`.
        """
        query = None if customer is None else {"customer": check_plain_id("customer", customer)}
        return self._list(Charge, "/charges", query)

    def create_many(
        self,
        items: Iterable[ChargeParams | Mapping[str, Any]]
        | AsyncIterable[ChargeParams | Mapping[str, Any]],
        **options: Unpack[BulkOptions],
    ) -> BulkRun:
        """Charge many items concurrently; iterate the returned run for results.

        Options: `job_id: str` (required), `concurrency: int = 16`,
        `rate_limit: float | None = None`, `journal: str | PathLike | None = None`,
        `one_per_customer: bool = True`, `assume_new: bool = False`,
        `shutdown_grace: float = 5.0` (seconds), `item_rate_limit: float | None
        = None`, `on_settle_wait: Callable[[float, int], None] | None = None`.

        Items (ChargeParams or mappings with the same keys) are pulled lazily,
        so memory is bounded by `concurrency`. Each item's idempotency key is
        `<job_id>:<index>` unless it brings its own. With `journal=PATH`,
        every outcome is appended to a JSONL file and a re-run with the same
        `job_id` skips finished items and reconciles the ones in doubt; one
        run at a time per journal (JournalInUseError). Without a journal,
        every item is looked up by its key before it is sent, as `create`
        looks up your own key (one GET per item, and one of the project's
        newest charges per run), unless
        `assume_new=True`. A re-run must give the same items in the same
        order: an item that is not the one its key was used for stops the
        job before it is sent (IdempotencyKeyReusedError).
        `rate_limit` caps requests per second across the job (an item's
        lookup and re-sends count); `item_rate_limit` caps items sent per
        second (items the journal already finished are not paced).
        `on_settle_wait(seconds, items)` is called once if a resume must
        wait before looking up the `items` an earlier run left in doubt
        (see "Journal and resume" in the README); it must not raise.
        """
        from .._bulk import BulkRun

        return BulkRun(self._requester, BulkCalls, items, **options)

    async def find_by_idempotency_key(self, customer: str, key: str) -> Charge | None:
        """The charge created with this idempotency key, or None when it
        provably does not exist (the customer has fewer than 100 charges and
        none carries the key).

        When it is not among the customer's 100 newest charges and they are
        100, it may exist beyond them: LookupInconclusiveError, never None.
        Use it to resolve an OutcomeUnknownError later.
        """
        within = check_plain_id("customer", customer)
        return await self._find_by_marker(Charge, _LISTED, key, within)


class BulkCalls(Charges):
    """Charges as the bulk engine calls them (`create_many` gives it this
    class; it is on no client): `create`, and the lookup of an item an
    earlier run may have sent, which reads the project's newest charges once
    for the whole run instead of once per item."""

    async def newest(self) -> Snapshot:
        """The project's 100 newest charges, by marker (one GET, best effort)."""
        return await _LISTED.newest(self._get)

    async def find_created(
        self, key: str, create: Mapping[str, Any], newest: Callable[[], Awaitable[Snapshot]]
    ) -> Charge | None:
        """What `create(**create, idempotency_key=key)` finds before its first
        send, without sending: the charge, None when absence is proven, or
        IdempotencyKeyReusedError for a charge the key made with other
        parameters, in the customer's charges or beyond them in `newest()`
        (awaited only when the customer's charges lack the key)."""
        body = CHARGE_FIELDS.body_of(create)
        return await self._find_by_marker(
            Charge, _LISTED, key, body["customer"], body=body, beyond=newest
        )
