"""List results that are both awaitable (-> list) and async-iterable.

CHING lists have no cursor today (the 100 newest objects). `fetch_page` takes
a cursor and returns the next one (always None now), so pagination, if the API
grows it, is added in the page fetcher alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from typing import Any, Generic, TypeVar

import attrs

__all__ = ["AsyncList", "Page"]

T = TypeVar("T")


@attrs.frozen
class Page(Generic[T]):
    """One fetched page: raw items decoded on demand, and the cursor of the next."""

    raw_items: list[Any]
    decode_item: Callable[[Any], T]
    decode_all: Callable[[list[Any]], list[T]]
    next_cursor: str | None = None


class AsyncList(Generic[T]):
    """`await` it for a list, or `async for` over it; each use sends the request(s)."""

    def __init__(self, fetch_page: Callable[[str | None], Awaitable[Page[T]]]) -> None:
        self._fetch_page = fetch_page

    def __await__(self) -> Generator[Any, None, list[T]]:
        return self._collect().__await__()

    async def _collect(self) -> list[T]:
        # The same walk as _pages, without an async generator between the
        # caller and the request: its frame would be resumed at every I/O
        # wake-up of the request (~20,000 instructions a GET list of 100).
        items: list[T] = []
        cursor: str | None = None
        while True:
            page = await self._fetch_page(cursor)
            items.extend(page.decode_all(page.raw_items))
            cursor = page.next_cursor
            if cursor is None:
                return items

    async def _pages(self) -> AsyncIterator[Page[T]]:
        cursor: str | None = None
        while True:
            page = await self._fetch_page(cursor)
            yield page
            cursor = page.next_cursor
            if cursor is None:
                return

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self._pages():
            for raw in page.raw_items:
                yield page.decode_item(raw)
