"""List results that are awaitable (-> list), async-iterable, and coroutines.

CHING lists have no cursor (each answers the 100 newest objects), so a list
is one page. Pagination, if the API grows it, is added here alone: a loop over
pages in `_collect` and `__aiter__`, and a cursor argument to `fetch`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator
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


class AsyncList(Coroutine[Any, Any, list[T]], Generic[T]):
    """`await` it for a list, or `async for` over it; each use sends the request.

    It is also a coroutine, so `asyncio.run(client.charges.list())` and
    `asyncio.create_task(...)` take it as they take `main()`. Run that way it
    is one use, like a coroutine object: a second task started from the same
    list while the first runs breaks both (call `list()` again instead).
    """

    def __init__(self, fetch: Callable[[], Awaitable[Page[T]]]) -> None:
        self._fetch = fetch
        # The coroutine that send()/throw() drive, from the first until it ends.
        self._running: Coroutine[Any, Any, list[T]] | None = None

    def __await__(self) -> Generator[Any, None, list[T]]:
        return self._collect().__await__()

    async def _collect(self) -> list[T]:
        page = await self._fetch()
        return page.decode_all(page.raw_items)

    async def __aiter__(self) -> AsyncIterator[T]:
        page = await self._fetch()
        for raw in page.raw_items:
            yield page.decode_item(raw)

    # The coroutine protocol: asyncio.run() and create_task() accept only
    # coroutines (an awaitable is not enough for them).
    def send(self, value: Any) -> Any:
        """Advance the fetch (what a task calls); a new fetch after one has ended."""
        if self._running is None:
            self._running = self._collect()
        return self._step(self._running.send, value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        """Raise an exception in the fetch (task cancellation)."""
        if self._running is None:
            self._running = self._collect()
        if val is None and tb is None:
            return self._step(self._running.throw, typ)
        return self._step(self._running.throw, typ, val, tb)

    def close(self) -> None:
        """Stop the fetch, if one is under way."""
        running, self._running = self._running, None
        if running is not None:
            running.close()

    def _step(self, step: Callable[..., Any], *args: Any) -> Any:
        try:
            return step(*args)
        except BaseException:  # StopIteration (the list), or the fetch's error: it ended
            self._running = None
            raise
