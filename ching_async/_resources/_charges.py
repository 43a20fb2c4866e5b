from __future__ import annotations

import os
from collections.abc import AsyncIterable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from .._decode import decode_item, decode_model, request_info
from .._idempotency import (
    check_settled,
    find_by_marker,
    idempotency_key_for,
    look_first_for,
    with_marker,
)
from .._listing import AsyncList
from .._models import CancellationReason, Charge, Installments
from .._reconcile import (
    MarkerReconciler,
    StateReconciler,
    charge_canceled,
    charge_captured,
    charge_declined,
)
from .._retry import Resend, RetryClass
from .._validation import (
    check_amount,
    check_cancellation_reason,
    check_currency,
    check_flag,
    check_id,
    check_idempotency_key,
    check_installments,
    check_metadata,
    check_optional_text,
    check_plain_id,
)
from ._base import Resource

if TYPE_CHECKING:
    from .._bulk import BulkRun, ChargeParams

__all__ = ["Charges"]


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
        idempotency_key: str | None = None,
        mark_idempotency_key: bool = True,
        on_full_window: Literal["raise", "send"] = "raise",
        assume_new: bool = False,
    ) -> Charge:
        """Create and confirm a charge of `amount` agorot (49.90 ILS = 4990).

        The idempotency key is stored in the charge's metadata under
        `IDEMPOTENCY_METADATA_KEY` so that an ambiguous failure is reconciled
        instead of re-sent. With `mark_idempotency_key=False` nothing is
        added to metadata, and an ambiguous failure raises with
        `outcome_unknown=True` instead.

        With your own `idempotency_key`, the same key never makes two
        charges: the customer's charges are looked up first (one GET) and a
        charge already made with the key is returned
        (`request_info.found_existing`) instead of charging again. When the
        customer's 100 newest charges (the API's window) lack the key, it may
        have been used beyond them: `LookupInconclusiveError`, nothing sent,
        unless `on_full_window="send"`. `assume_new=True` skips the lookup
        (you know the key was never used).
        """
        customer = check_plain_id("customer", customer)
        payload: dict[str, Any] = {
            "customer": customer,
            "payment_method": check_plain_id("payment_method", payment_method),
            "amount": check_amount("amount", amount),
            "currency": check_currency(currency),
        }
        if description is not None:
            payload["description"] = check_optional_text("description", description)
        if installments is not None:
            payload["installments"] = check_installments(installments)
        meta = check_metadata(metadata) if metadata is not None else {}
        key = idempotency_key_for(idempotency_key)
        look_first = look_first_for(idempotency_key, on_full_window, assume_new)
        retry: RetryClass = Resend.NEVER
        if check_flag("mark_idempotency_key", mark_idempotency_key):
            meta = with_marker(meta, key)
            retry = MarkerReconciler(
                list_path="/charges",
                idempotency_key=key,
                customer=customer,
                query=(("customer", customer),),
                declined=charge_declined,
                look_first=look_first,
                on_full_window=on_full_window,
            )
        if meta:
            payload["metadata"] = meta
        response = await self._requester.request(
            "POST", "/charges", body=payload, idempotency_key=key, retry=retry
        )
        return decode_model(response, Charge)

    async def retrieve(self, id: str) -> Charge:
        """The charge `id` (`ch_...`)."""
        response = await self._requester.request("GET", "/charges/" + check_id("id", id))
        return decode_model(response, Charge)

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
        response = await self._requester.request(
            "POST",
            object_path + "/capture",
            body=payload,
            idempotency_key=idempotency_key,
            retry=StateReconciler(object_path=object_path, settled=charge_captured(amount)),
        )
        return decode_model(response, Charge)

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
            payload = {"cancellation_reason": check_cancellation_reason(cancellation_reason)}
        response = await self._requester.request(
            "POST",
            object_path + "/cancel",
            body=payload,
            idempotency_key=idempotency_key,
            retry=StateReconciler(object_path=object_path, settled=charge_canceled),
        )
        return decode_model(response, Charge)

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
        *,
        job_id: str,
        concurrency: int = 16,
        rate_limit: float | None = None,
        journal: str | os.PathLike[str] | None = None,
        one_per_customer: bool = True,
        assume_new: bool = False,
        shutdown_grace: float = 5.0,
    ) -> BulkRun:
        """Charge many items concurrently; iterate the returned run for results.

        Items (ChargeParams or mappings with the same keys) are pulled lazily,
        so memory is bounded by `concurrency`. Each item's idempotency key is
        `<job_id>:<index>` unless it brings its own. With `journal=PATH`,
        every outcome is appended to a JSONL file and a re-run with the same
        `job_id` skips finished items and reconciles the ones in doubt.
        Without a journal, every item is looked up by its key before it is
        sent (one extra GET per item) unless `assume_new=True`.
        `rate_limit` caps requests per second across the job.
        """
        from .._bulk import BulkRun

        return BulkRun(
            self._requester,
            Charges,
            items,
            job_id=job_id,
            concurrency=concurrency,
            rate_limit=rate_limit,
            journal=journal,
            one_per_customer=one_per_customer,
            assume_new=assume_new,
            shutdown_grace=shutdown_grace,
        )

    async def find_by_idempotency_key(self, customer: str, key: str) -> Charge | None:
        """The charge created with this idempotency key, or None when it
        provably does not exist (the customer has fewer than 100 charges and
        none carries the key).

        When it is not among the customer's 100 newest charges and they are
        100, it may exist beyond them: LookupInconclusiveError, never None.
        Use it to resolve an OutcomeUnknownError later.
        """
        customer = check_plain_id("customer", customer)
        check_idempotency_key(key)
        response = await self._requester.request("GET", "/charges", query={"customer": customer})
        found = find_by_marker(response, key)
        if found is None:
            check_settled(key, self._requester.settling(key))
            return None
        return decode_item(response, Charge, found, request_info(response))
