from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from .._decode import decode_model, decode_upsert
from .._errors import InvalidParameterError
from .._listing import AsyncList
from .._models import Customer, PaymentMethod, UpsertResult
from .._retry import Resend
from .._validation import (
    IDENTIFY_BY,
    check_email,
    check_id,
    check_identify_by,
    check_metadata,
    check_text,
)
from ._base import Resource

__all__ = ["Customers"]

IdentifyBy = Literal["email", "tax_id", "phone"]


class Customers(Resource):
    """`/customers`: the people you charge.

    Retry policy, by what a repeat would do on the server:

    - `create` is not idempotent (a repeat makes a second customer) and is
      not reconciled: an ambiguous failure (timeout or 5xx after sending)
      raises with `outcome_unknown=True`. Use `upsert` when you need a
      create that is safe to retry.
    - `update`, `upsert` and `delete` are idempotent (they set the same
      fields again; a soft delete of a deleted customer is a no-op), so they
      are retried after an ambiguous failure like a GET.
    """

    async def create(
        self,
        *,
        name: str,
        email: str | None = None,
        phone: str | None = None,
        tax_id: str | None = None,
        locale: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Customer:
        """Create a customer. `name` is required (shown on the dashboard and
        on receipts); everything else is optional, as the API documents it.
        `phone` is normalized to E.164 by the server."""
        payload: dict[str, Any] = {"name": check_text("name", name)}
        if email is not None:
            payload["email"] = check_email("email", email)
        payload |= _customer_fields(name=None, phone=phone, tax_id=tax_id, locale=locale)
        if metadata is not None:
            payload["metadata"] = check_metadata(metadata)
        response = await self._requester.request(
            "POST", "/customers", body=payload, idempotency_key=idempotency_key
        )
        return decode_model(response, Customer)

    async def retrieve(self, id: str) -> Customer:
        """A soft-deleted customer comes back as a tombstone (`deleted=True`, id only)."""
        response = await self._requester.request("GET", "/customers/" + check_id("id", id))
        return decode_model(response, Customer)

    async def update(
        self,
        id: str,
        *,
        email: str | None = None,
        name: str | None = None,
        phone: str | None = None,
        tax_id: str | None = None,
        locale: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Customer:
        """Change the given fields (None leaves a field unchanged)."""
        path = "/customers/" + check_id("id", id)
        payload: dict[str, Any] = {}
        if email is not None:
            payload["email"] = check_email("email", email)
        payload |= _customer_fields(name=name, phone=phone, tax_id=tax_id, locale=locale)
        if metadata is not None:
            payload["metadata"] = check_metadata(metadata)
        if not payload:
            raise InvalidParameterError("update needs at least one field to change")
        response = await self._requester.request("POST", path, body=payload, retry=Resend.SAFE)
        return decode_model(response, Customer)

    async def upsert(
        self,
        *,
        identify_by: IdentifyBy,
        email: str | None = None,
        name: str | None = None,
        phone: str | None = None,
        tax_id: str | None = None,
        locale: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> UpsertResult:
        """Update the newest customer whose `identify_by` field matches, or create one.

        The field named by `identify_by` ("email", "tax_id" or "phone") must be
        given. Phones match after E.164 normalization on the server.

        Safe to retry: if a lost attempt already created the customer, the
        retry finds and updates it, and reports `created=False`. So
        `created` tells what the last attempt did; when
        `result.customer.request_info.attempts > 1` an earlier attempt may
        have been the one that created it.
        """
        by = check_identify_by(identify_by)
        payload: dict[str, Any] = {"identifyBy": IDENTIFY_BY[by]}
        if email is not None:
            payload["email"] = check_email("email", email)
        payload |= _customer_fields(name=name, phone=phone, tax_id=tax_id, locale=locale)
        if metadata is not None:
            payload["metadata"] = check_metadata(metadata)
        if payload.get(IDENTIFY_BY[by]) is None:
            raise InvalidParameterError(f"identify_by={by!r} needs {by}=...")
        response = await self._requester.request(
            "POST", "/customers/upsert", body=payload, retry=Resend.SAFE
        )
        return decode_upsert(response)

    def list(self) -> AsyncList[Customer]:
        """The 100 newest customers, newest first (deleted ones excluded).

        Await it for a `list[Customer]`, or iterate with `async for`.
        """
        return self._list(Customer, "/customers", None)

    async def delete(self, id: str) -> Customer:
        """Soft-delete a customer: it is tombstoned (charges and documents keep
        referencing it), its saved cards are detached, and it drops out of
        `list`. Returns the tombstone (`deleted=True`).

        The server documents the call as idempotent, so it is retried after
        an ambiguous failure. A customer with an active subscription cannot
        be deleted (409 ConflictError, `CUSTOMER_HAS_ACTIVE_SUBSCRIPTION`).
        """
        path = "/customers/" + check_id("id", id)
        response = await self._requester.request("DELETE", path, retry=Resend.SAFE)
        # The server may answer a bare {"success": true}: the tombstone, then.
        tombstone = {"id": id, "object": "customer", "deleted": True}
        return decode_model(response, Customer, when_empty=tombstone)

    def list_payment_methods(self, customer: str) -> AsyncList[PaymentMethod]:
        """The customer's active saved cards. Awaitable and async-iterable."""
        path = "/customers/" + check_id("customer", customer) + "/payment_methods"
        return self._list(PaymentMethod, path, None)

    def list_inactive_payment_methods(self, customer: str) -> AsyncList[PaymentMethod]:
        """The customer's detached cards (`status` "inactive"): the history of
        cards it no longer uses. Awaitable and async-iterable."""
        path = "/customers/" + check_id("customer", customer) + "/payment_methods/inactive"
        return self._list(PaymentMethod, path, None)


def _customer_fields(
    *, name: str | None, phone: str | None, tax_id: str | None, locale: str | None
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if name is not None:
        fields["name"] = check_text("name", name)
    if phone is not None:
        fields["phone"] = check_text("phone", phone)
    if tax_id is not None:
        fields["taxId"] = check_text("tax_id", tax_id)
    if locale is not None:
        fields["locale"] = check_text("locale", locale)
    return fields
