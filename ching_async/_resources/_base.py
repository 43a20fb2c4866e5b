from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from .._decode import decode_item, decode_list, list_data, request_info
from .._listing import AsyncList, Page
from .._messages import Response

if TYPE_CHECKING:
    from .._client import Client
    from .._reconcile import Reconciler

T = TypeVar("T")


class Resource:
    """Shared plumbing: send through the client's chain, decode into models."""

    def __init__(self, client: Client) -> None:
        self._client = client

    # Plain functions returning the client's coroutine: an `async def` wrapper
    # would add a coroutine frame to every call (~2,800 instructions).
    def _get(self, path: str, query: Mapping[str, str] | None = None) -> Awaitable[Response]:
        return self._client._send("GET", path, query=query)

    def _post(
        self,
        path: str,
        payload: Mapping[str, Any] | None,
        *,
        idempotency_key: str | None,
        reconciler: Reconciler | None = None,
    ) -> Awaitable[Response]:
        return self._client._send(
            "POST", path, payload=payload, idempotency_key=idempotency_key, reconciler=reconciler
        )

    def _list(self, cls: type[T], path: str, query: Mapping[str, str] | None) -> AsyncList[T]:
        async def fetch_page(cursor: str | None) -> Page[T]:
            # No cursor exists in the API yet; a future one is added here only.
            response = await self._get(path, query)
            info = request_info(response)
            return Page(
                raw_items=list_data(response, cls),
                decode_item=lambda raw: decode_item(response, cls, raw, info),
                decode_all=lambda raws: decode_list(response, cls, raws, info),
            )

        return AsyncList(fetch_page)
