"""What every resource group shares: the Requester its calls go through, and
listing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from .._decode import decode_item, decode_list, list_data, request_info
from .._listing import AsyncList, Page
from .._requester import Requester

T = TypeVar("T")


class Resource:
    """A group of endpoints. Each method validates its arguments, makes one
    `self._requester.request(...)` naming its retry class, and decodes."""

    def __init__(self, requester: Requester) -> None:
        self._requester = requester

    def _list(self, cls: type[T], path: str, query: Mapping[str, str] | None) -> AsyncList[T]:
        async def fetch_page() -> Page[T]:
            response = await self._requester.request("GET", path, query=query)
            info = request_info(response)
            return Page(
                raw_items=list_data(response, cls),
                decode_item=lambda raw: decode_item(response, cls, raw, info),
                decode_all=lambda raws: decode_list(response, cls, raws, info),
            )

        return AsyncList(fetch_page)
