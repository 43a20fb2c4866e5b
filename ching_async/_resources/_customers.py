from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import orjson

from .._convert import structure
from .._decode import decode_error, decode_model, request_info
from .._errors import InvalidParameterError
from .._listing import AsyncList
from .._messages import Response
from .._middleware import validate_idempotency_key
from .._models import Customer, PaymentMethod, UpsertAction, UpsertResult
from .._protocol import decode_envelope
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
        email: str,
        name: str | None = None,
        phone: str | None = None,
        tax_id: str | None = None,
        locale: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Customer:
        """Create a customer. `phone` is normalized to E.164 by the server."""
        payload: dict[str, Any] = {"email": check_email("email", email)}
        payload |= _customer_fields(name=name, phone=phone, tax_id=tax_id, locale=locale)
        if metadata is not None:
            payload["metadata"] = check_metadata(metadata)
        if idempotency_key is not None:
            validate_idempotency_key(idempotency_key)
        response = await self._post("/customers", payload, idempotency_key=idempotency_key)
        return decode_model(response, Customer)

    async def retrieve(self, id: str) -> Customer:
        """A soft-deleted customer comes back as a tombstone (`deleted=True`, id only)."""
        response = await self._get("/customers/" + check_id("id", id))
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
        response = await self._client._send("POST", path, payload=payload, safe_to_retry=True)
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
        response = await self._client._send(
            "POST", "/customers/upsert", payload=payload, safe_to_retry=True
        )
        customer = decode_model(response, Customer)
        return _upsert_result(response, customer)

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
        segment = check_id("id", id)
        response = await self._client._send("DELETE", "/customers/" + segment, safe_to_retry=True)
        if decode_envelope(response) is None:  # a bare {"success": true}
            tombstone = {"id": id, "object": "customer", "deleted": True}
            customer = structure(tombstone, Customer)
            object.__setattr__(customer, "request_info", request_info(response))
            return customer
        return decode_model(response, Customer)

    def list_payment_methods(self, customer: str) -> AsyncList[PaymentMethod]:
        """The customer's active saved cards. Awaitable and async-iterable."""
        path = "/customers/" + check_id("customer", customer) + "/payment_methods"
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


def _upsert_result(response: Response, customer: Customer) -> UpsertResult:
    """`action` beside `data` (as the docs destructure it), or inside `data`."""
    envelope = orjson.loads(response.body)  # decode_model proved it is an envelope
    action: Any = envelope.get("action")
    if action is None and isinstance(envelope.get("data"), dict):
        action = envelope["data"].get("action")
    if action is not None and type(action) is not str:
        raise decode_error(response, UpsertResult, TypeError("action must be a string"))
    members = {member.value: member for member in UpsertAction}
    return UpsertResult(
        customer=customer,
        action=None if action is None else members.get(action, action),
        raw=envelope,
    )
