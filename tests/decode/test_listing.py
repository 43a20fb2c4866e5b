"""AsyncList walks every page the fetcher hands out, awaited or iterated."""

from __future__ import annotations

from ching_async._listing import AsyncList, Page

PAGES = {None: (["a", "b"], "c1"), "c1": (["c"], "c2"), "c2": ([], None)}


def paged_list(cursors_seen: list[str | None]) -> AsyncList[str]:
    async def fetch_page(cursor: str | None) -> Page[str]:
        cursors_seen.append(cursor)
        raw, next_cursor = PAGES[cursor]
        return Page(
            raw_items=raw,
            decode_item=str.upper,
            decode_all=lambda items: [item.upper() for item in items],
            next_cursor=next_cursor,
        )

    return AsyncList(fetch_page)


async def test_awaiting_collects_every_page_in_order() -> None:
    seen: list[str | None] = []
    listing = paged_list(seen)
    assert await listing == ["A", "B", "C"]
    assert seen == [None, "c1", "c2"]
    assert await listing == ["A", "B", "C"], "each use sends the requests again"
    assert seen == [None, "c1", "c2"] * 2


async def test_iterating_yields_every_item_of_every_page() -> None:
    seen: list[str | None] = []
    assert [item async for item in paged_list(seen)] == ["A", "B", "C"]
    assert seen == [None, "c1", "c2"]
