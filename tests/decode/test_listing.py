"""AsyncList: awaited for a list, or iterated; each use fetches again."""

from __future__ import annotations

from ching_async._listing import AsyncList, Page


def counting_list(fetches: list[int]) -> AsyncList[str]:
    async def fetch() -> Page[str]:
        fetches.append(1)
        return Page(
            raw_items=["a", "b", "c"],
            decode_item=str.upper,
            decode_all=lambda items: [item.upper() for item in items],
        )

    return AsyncList(fetch)


async def test_awaiting_decodes_the_whole_page() -> None:
    fetches: list[int] = []
    listing = counting_list(fetches)
    assert await listing == ["A", "B", "C"]
    assert await listing == ["A", "B", "C"], "each use sends the request again"
    assert len(fetches) == 2


async def test_iterating_decodes_item_by_item() -> None:
    fetches: list[int] = []
    assert [item async for item in counting_list(fetches)] == ["A", "B", "C"]
    assert len(fetches) == 1
