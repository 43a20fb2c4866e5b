from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Unpack

from .._decode import decode_model
from .._errors import InvalidParameterError, LookupInconclusiveError
from .._listing import AsyncList
from .._models import Charge, Refund, RefundReason
from .._reconcile import MarkerReconciler
from .._validation import Fields, check_amount, check_id, check_plain_id, check_refund_reason
from ._base import Listed, Marking, Resource, marked

__all__ = ["Refunds"]

REFUNDS_PATH = "/refunds"
# The 100 newest refunds, project-wide: the API has no filter. A found refund
# is a create's result only for the same charge, and amount when one was given.
_LISTED = Listed(REFUNDS_PATH, same=("charge", "amount"))
_FIELDS = Fields(
    {"charge": check_plain_id, "amount": check_amount, "reason": check_refund_reason},
    required=("charge",),
)


class Refunds(Resource):
    """`/refunds`: reverse all or part of a captured charge.

    A refund moves money, so `create` is exactly-once like `charges.create`:
    its idempotency key is stored in the refund's metadata under
    `IDEMPOTENCY_METADATA_KEY`, and after an ambiguous failure the client
    looks for it among the 100 newest refunds (`GET /refunds`, project-wide:
    no filter is documented) before it sends again.
    """

    async def create(
        self,
        *,
        charge: str,
        amount: int | None = None,
        reason: RefundReason | str | None = None,
        metadata: Mapping[str, Any] | None = None,
        **marking: Unpack[Marking],
    ) -> Refund:
        """Refund `amount` agorot of `charge`; None refunds all that is left.

        Idempotency options (`marking`) as for `charges.create`:
        `idempotency_key`, `mark_idempotency_key`, `on_full_window`, `assume_new`.

        The API requires an exact amount, so with `amount=None` the charge is
        retrieved first and what was captured and not yet refunded is sent
        (InvalidParameterError if nothing is left; nothing is refunded).
        `reason`: requested_by_customer, duplicate or fraudulent.

        With `mark_idempotency_key=False` nothing is added to metadata, and an
        ambiguous failure raises with `outcome_unknown=True` instead of being
        reconciled.

        With your own `idempotency_key`, the same key never makes two refunds:
        the 100 newest refunds (project-wide: the API has no filter) are
        looked up first and a refund already made with the key is returned
        (`request_info.found_existing`) if it refunded this `charge` (and
        `amount`, when given); else `IdempotencyKeyReusedError`. When they
        are 100 and lack the key, it may have been used beyond them:
        `LookupInconclusiveError`, nothing sent, unless
        `on_full_window="send"`. `assume_new=True` skips the lookup,
        unless an earlier call of this client used the key.
        """
        payload = _FIELDS.body_of(locals())
        # Before the amount is filled in below: without one, any amount of
        # the charge is this call's (only the charge is compared).
        how = marked(_LISTED, payload, metadata, **marking)
        if amount is None:
            try:
                payload["amount"] = await self._refundable(payload["charge"])
            except InvalidParameterError:
                # Nothing left may be this key's own earlier refund: return it.
                finder = how.retry
                existing = None
                if isinstance(finder, MarkerReconciler) and finder.look_first:
                    existing = await self._made_with(finder)
                if existing is None:
                    raise
                return existing
        return await self._create_marked(Refund, REFUNDS_PATH, payload, how)

    async def _made_with(self, finder: MarkerReconciler) -> Refund | None:
        """The refund an earlier call made with this call's key, presented as
        this call's result (IdempotencyKeyReusedError if it refunded another
        charge); None when it cannot be found."""
        try:
            seen = await self._seek(finder)
        except LookupInconclusiveError:
            return None
        if seen is None:
            return None
        response, found = seen
        # As the retry loop presents a find before the first send: this call's
        # POST, found (attempts=0, reconciled), with the lookup's answer headers.
        post = response.request.replace(
            method="POST", path=REFUNDS_PATH, query=(), idempotency_key=finder.idempotency_key
        )
        answer = finder.answer(post, response, found)
        return decode_model(answer.replace(attempts=0, reconciled=True), Refund)

    async def _refundable(self, charge_id: str) -> int:
        charge = await self._call(Charge, "GET", "/charges/" + check_id("charge", charge_id))
        captured = charge.amount_captured if charge.amount_captured is not None else charge.amount
        left = captured - (charge.refunded_amount or 0)
        if left <= 0:
            raise InvalidParameterError(
                f"charge {charge_id} has nothing left to refund "
                f"(captured {captured}, refunded {charge.refunded_amount or 0})"
            )
        return left

    async def retrieve(self, id: str) -> Refund:
        """The refund `id`."""
        return await self._call(Refund, "GET", REFUNDS_PATH + "/" + check_id("id", id))

    def list(self) -> AsyncList[Refund]:
        """The 100 newest refunds, newest first. Awaitable and async-iterable."""
        return self._list(Refund, REFUNDS_PATH, None)

    async def find_by_idempotency_key(self, key: str) -> Refund | None:
        """The refund created with this idempotency key, or None when it
        provably does not exist (there are fewer than 100 refunds and none
        carries the key). When it is not among the 100 newest refunds and they
        are 100, it may exist beyond them: LookupInconclusiveError, never None.
        Use it to resolve an OutcomeUnknownError.
        """
        return await self._find_by_marker(Refund, _LISTED, key)
