from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._models import SetupSession
from .._validation import Fields, check_id, check_metadata, check_plain_id, check_redirect_url
from ._base import Resource

__all__ = ["SetupSessions"]

_FIELDS = Fields(
    {
        "customer": check_plain_id,
        "success_url": check_redirect_url,
        "cancel_url": check_redirect_url,
        "metadata": check_metadata,
    },
    required=("customer", "success_url", "cancel_url"),
)


class SetupSessions(Resource):
    """`/setup_sessions`: hosted pages that attach a new card to a customer.

    An ambiguous failure of `create` (timeout or 5xx after sending) is not
    reconciled: it raises with `outcome_unknown=True`. A duplicate pending
    session is harmless (nothing is charged, it expires in 24 hours), so the
    caller may simply create another one.
    """

    async def create(
        self,
        *,
        customer: str,
        success_url: str,
        cancel_url: str,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> SetupSession:
        """Start a hosted page where `customer` adds a card; send them to its `url`.

        They come back to `success_url` (or `cancel_url`); then retrieve the
        session for the outcome.
        """
        payload = _FIELDS.body_of(locals())
        return await self._call(
            SetupSession, "POST", "/setup_sessions", body=payload, idempotency_key=idempotency_key
        )

    async def retrieve(self, id: str) -> SetupSession:
        """The setup session `id` (`seti_...`): poll it for the outcome."""
        return await self._call(SetupSession, "GET", "/setup_sessions/" + check_id("id", id))

    async def cancel(self, id: str, *, idempotency_key: str | None = None) -> SetupSession:
        """Cancel a pending session. The server answers with `id` and `status` only."""
        path = "/setup_sessions/" + check_id("id", id) + "/cancel"
        return await self._call(SetupSession, "POST", path, idempotency_key=idempotency_key)
