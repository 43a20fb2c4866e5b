"""List results that are both awaitable (-> list) and async-iterable.

CHING lists have no cursor (each answers the 100 newest objects), so a list
is one page. Pagination, if the API grows it, is added here alone: a loop over
pages in `_collect` and `__aiter__`, and a cursor argument to `fetch`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from typing import Any, Generic, TypeVar

import attrs

__all__ = ["AsyncList", "Page"]

T = TypeVar("T")


@attrs.frozen
class Page(Generic[T]):
    """One fetched page: raw items, decoded on demand."""

    raw_items: list[Any]
    decode_item: Callable[[Any], T]
    decode_all: Callable[[list[Any]], list[T]]


class AsyncList(Generic[T]):
    """`await` it for a list, or `async for` over it; each use sends the request."""

    def __init__(self, fetch: Callable[[], Awaitable[Page[T]]]) -> None:
        self._fetch = fetch

    def __await__(self) -> Generator[Any, None, list[T]]:
        return self._collect().__await__()

    async def _collect(self) -> list[T]:
        page = await self._fetch()
        return page.decode_all(page.raw_items)

    async def __aiter__(self) -> AsyncIterator[T]:
        page = await self._fetch()
        for raw in page.raw_items:
            yield page.decode_item(raw)
