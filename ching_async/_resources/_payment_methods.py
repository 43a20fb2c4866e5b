from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._errors import InvalidParameterError
from .._models import PaymentMethod
from .._reconcile import StateReconciler
from .._retry import Resend
from .._validation import check_card_index, check_id, check_plain_id
from ._base import Resource

__all__ = ["PaymentMethods"]


def payment_method_detached(method: Mapping[str, Any]) -> bool:
    """A retrieved card shows a detach took effect: it is no longer active."""
    status = method.get("status")
    return isinstance(status, str) and status != "active"


class PaymentMethods(Resource):
    """`/payment_methods`: saved cards. List a customer's cards with
    `customers.list_payment_methods(customer)`; there is no project-wide list.
    """

    async def retrieve(self, id: str) -> PaymentMethod:
        """The saved card `id` (`pm_...`)."""
        return await self._call(PaymentMethod, "GET", "/payment_methods/" + check_id("id", id))

    async def detach(self, id: str, *, idempotency_key: str | None = None) -> PaymentMethod:
        """Remove a saved card from its customer (it moves to the inactive list).

        After an ambiguous failure the card is retrieved: no longer active
        means the detach took effect and the card is returned; still active
        means the detach is sent again.
        """
        object_path = "/payment_methods/" + check_id("id", id)
        return await self._call(
            PaymentMethod,
            "POST",
            object_path + "/detach",
            idempotency_key=idempotency_key,
            retry=StateReconciler(object_path=object_path, settled=payment_method_detached),
        )

    async def set_default(self, id: str) -> PaymentMethod:
        """Make the saved card `id` its customer's default card (the one a
        subscription's renewals fall back on).

        Documented by one source (the official plugin's reference): `POST
        /payment_methods/:id/set_default`, answering `{id, is_default: true}`,
        so only `id` and `is_default` are set on the card returned;
        `retrieve` it for the rest. Safe to send again (the card is the
        default either way), so it is retried like a GET.
        """
        path = "/payment_methods/" + check_id("id", id) + "/set_default"
        return await self._call(PaymentMethod, "POST", path, retry=Resend.SAFE)

    async def create_test_card(
        self, customer: str, *, card_index: int = 0, idempotency_key: str | None = None
    ) -> PaymentMethod:
        """Test mode only: attach a synthetic card (0 = visa, 1 = mastercard, 2 = amex).

        With a live key this raises InvalidParameterError before anything is
        sent. Not reconciled: an ambiguous failure raises with
        `outcome_unknown=True` (a second test card is harmless).
        """
        if self._requester.mode == "live":
            raise InvalidParameterError(
                "create_test_card works in test mode only; this client has a live key"
            )
        payload = {
            "customer": check_plain_id("customer", customer),
            "card_index": check_card_index("card_index", card_index),
        }
        return await self._call(
            PaymentMethod,
            "POST",
            "/payment_methods/test-card",
            body=payload,
            idempotency_key=idempotency_key,
        )
