from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypedDict, Unpack

from .._decode import decode_upsert
from .._errors import InvalidParameterError
from .._listing import AsyncList
from .._models import Customer, PaymentMethod, UpsertResult
from .._retry import Resend
from .._validation import (
    IDENTIFY_BY,
    Fields,
    check_email,
    check_id,
    check_identify_by,
    check_metadata,
    check_text,
)
from ._base import Resource

__all__ = ["Customers"]

IdentifyBy = Literal["email", "tax_id", "phone"]

_CHECKS = {
    "name": check_text,
    "email": check_email,
    "phone": check_text,
    "tax_id": check_text,
    "locale": check_text,
    "metadata": check_metadata,
}
_WIRE = {"tax_id": "taxId"}
_FIELDS = Fields(_CHECKS, wire=_WIRE)
# The docs: "Only name is required" (the official CLI asks for an email instead).
_CREATE_FIELDS = Fields(_CHECKS, required=("name",), wire=_WIRE)


class CustomerFields(TypedDict, total=False):
    """The optional fields `create`, `update` and `upsert` all take; None (the
    default) leaves one out. `phone` is normalized to E.164 by the server."""

    phone: str | None
    tax_id: str | None
    locale: str | None
    metadata: Mapping[str, Any] | None


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

    Besides `name` and `email`, each of them takes the `CustomerFields`:
    `phone`, `tax_id`, `locale` (strings) and `metadata` (a mapping).
    """

    async def create(
        self,
        *,
        name: str,
        email: str | None = None,
        idempotency_key: str | None = None,
        **fields: Unpack[CustomerFields],
    ) -> Customer:
        """Create a customer. `name` is required (shown on the dashboard and
        on receipts); everything else is optional, as the API documents it.
        `phone` is normalized to E.164 by the server."""
        payload = _CREATE_FIELDS.body(name=name, email=email, **fields)
        return await self._call(
            Customer, "POST", "/customers", body=payload, idempotency_key=idempotency_key
        )

    async def retrieve(self, id: str) -> Customer:
        """A soft-deleted customer comes back as a tombstone (`deleted=True`, id only)."""
        return await self._call(Customer, "GET", "/customers/" + check_id("id", id))

    # Signatures alike to create's and upsert's: the shared fields are one
    # TypedDict (CustomerFields); each names only its own required ones.
    async def update(
        self,
        id: str,
        *,
        name: str | None = None,
        email: str | None = None,
        **fields: Unpack[CustomerFields],
    ) -> Customer:
        """Change the given fields (None leaves a field unchanged)."""
        path = "/customers/" + check_id("id", id)
        payload = _FIELDS.body(name=name, email=email, **fields)
        if not payload:
            raise InvalidParameterError("update needs at least one field to change")
        return await self._call(Customer, "POST", path, body=payload, retry=Resend.SAFE)

    async def upsert(
        self,
        *,
        identify_by: IdentifyBy,
        name: str | None = None,
        email: str | None = None,
        **fields: Unpack[CustomerFields],
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
        payload = {"identifyBy": IDENTIFY_BY[by], **_FIELDS.body(name=name, email=email, **fields)}
        if payload.get(IDENTIFY_BY[by]) is None:
            raise InvalidParameterError(f"identify_by={by!r} needs {by}=...")
        return await self._call(
            UpsertResult,
            "POST",
            "/customers/upsert",
            body=payload,
            retry=Resend.SAFE,
            decode=decode_upsert,
        )

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
        # The server may answer a bare {"success": true}: the tombstone, then.
        tombstone = {"id": id, "object": "customer", "deleted": True}
        return await self._call(Customer, "DELETE", path, retry=Resend.SAFE, when_empty=tombstone)

    def list_payment_methods(self, customer: str) -> AsyncList[PaymentMethod]:
        """The customer's active saved cards. Awaitable and async-iterable."""
        path = "/customers/" + check_id("customer", customer) + "/payment_methods"
        return self._list(PaymentMethod, path, None)

    def list_inactive_payment_methods(self, customer: str) -> AsyncList[PaymentMethod]:
        """The customer's detached cards (`status` "inactive"): the history of
        cards it no longer uses, newest first. Awaitable and async-iterable."""
        path = "/customers/" + check_id("customer", customer) + "/payment_methods/inactive"
        return self._list(PaymentMethod, path, None)
