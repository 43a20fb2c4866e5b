"""Two items of one bulk job never share an idempotency key: a job that repeats
one is refused (up front when its items are a collection, else at the repeat,
before it is sent), and a resumed job's items are not repeats of themselves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

import ching_async
from ching_async import Outcome
from ching_async.testing import FakeChing
from tests._support.fake_client import charges_per_key, collect, seed


def keyed(cards: list[tuple[str, str]], keys: Iterable[str | None]) -> list[dict[str, Any]]:
    """One item per key (None: the item brings none), each with its own amount."""
    rows = []
    for i, key in enumerate(keys):
        customer, card = cards[i % len(cards)]
        row: dict[str, Any] = {"customer": customer, "payment_method": card, "amount": 1000 + i}
        if key is not None:
            row["idempotency_key"] = key
        rows.append(row)
    return rows


# (each item's own key, the key repeated, the two items holding it)
REPEATS = [
    pytest.param(["inv", "inv"], "inv", (0, 1), id="two-items-bring-one-key"),
    pytest.param(["a", None, "b", "rep:1"], "rep:1", (1, 3), id="an-earlier-items-default-key"),
    pytest.param(["rep:2", None, None], "rep:2", (0, 2), id="a-later-items-default-key"),
]


@pytest.mark.parametrize("assume_new", [False, True], ids=["lookups", "assume-new"])
@pytest.mark.parametrize("as_params", [False, True], ids=["mappings", "charge-params"])
@pytest.mark.parametrize(("keys", "repeated", "holders"), REPEATS)
async def test_a_collection_repeating_a_key_is_refused_before_anything_is_sent(
    fake: FakeChing,
    client: ching_async.Client,
    keys: list[str | None],
    repeated: str,
    holders: tuple[int, int],
    as_params: bool,
    assume_new: bool,
) -> None:
    rows: list[Any] = keyed(seed(fake, 2), keys)
    if as_params:
        rows = [ching_async.ChargeParams(**row) for row in rows]
    with pytest.raises(ching_async.InvalidParameterError) as caught:
        client.charges.create_many(tuple(rows), job_id="rep", assume_new=assume_new)
    message = str(caught.value)
    assert f"items {holders[0]} and {holders[1]}" in message
    assert repr(repeated) in message
    assert "nothing was sent" in message
    assert fake.requests() == []


async def test_keys_that_only_look_alike_are_not_repeats(fake, client) -> None:
    # Item 0's own key is its default key; item 1 brings the key item 3 would
    # have by default, and item 3 brings a key of its own (a scaleout shard's
    # items look like this); item 2 has the default key.
    cards = seed(fake, 4)
    rows = keyed(cards, ["ok:0", "ok:3", None, "ok:7"])
    results = await collect(client.charges.create_many(rows, job_id="ok", assume_new=True))
    assert sorted(r.idempotency_key for r in results) == ["ok:0", "ok:2", "ok:3", "ok:7"]
    assert all(r.ok for r in results)
    assert set(charges_per_key(fake).values()) == {1}


async def as_async(rows: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for row in rows:
        await asyncio.sleep(0)
        yield row


def as_generator(rows: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield from rows


@pytest.mark.parametrize("source", [as_generator, as_async], ids=["generator", "async-generator"])
async def test_a_lazy_job_stops_at_the_repeat_before_sending_it(fake, client, source) -> None:
    cards = seed(fake, 10)
    keys = [f"inv-{i}" for i in range(10)]
    keys[6] = "inv-2"
    rows = keyed(cards, keys)
    got: list[ching_async.ChargeResult] = []

    async def read() -> None:
        async with client.charges.create_many(source(rows), job_id="lazy", concurrency=2) as run:
            async for result in run:
                got.append(result)

    with pytest.raises(ching_async.InvalidParameterError, match="items 2 and 6") as caught:
        await read()
    assert "'inv-2'" in str(caught.value)
    assert "stopped before sending item 6" in str(caught.value)
    # Items read before the repeat ended as usual, each with its result;
    # neither the repeat nor any item after it was sent.
    assert sorted(r.index for r in got) == list(range(6))
    assert all(r.ok for r in got)
    charged = sorted(c.amount for c in fake.charges())
    assert charged == [1000 + r.index for r in sorted(got, key=lambda r: r.index)]
    assert set(charges_per_key(fake).values()) == {1}


async def test_a_resumed_job_does_not_take_its_own_journal_for_a_repeat(
    fake: FakeChing, client: ching_async.Client, tmp_path: Path
) -> None:
    cards = seed(fake, 6)
    journal = tmp_path / "job.jsonl"
    keys = [f"order-{i}" for i in range(12)]
    async with client.charges.create_many(
        as_generator(keyed(cards, keys)), job_id="res", concurrency=2, journal=journal
    ) as run:
        async for result in run:
            if result.index >= 3:
                break
    first = len(fake.charges())
    assert 4 <= first < 12
    again = await collect(
        client.charges.create_many(
            as_generator(keyed(cards, keys)), job_id="res", concurrency=2, journal=journal
        )
    )
    assert sorted(r.index for r in again) == list(range(12))
    assert all(r.outcome is Outcome.SUCCEEDED for r in again)
    assert any(r.from_journal for r in again)
    assert sorted(charges_per_key(fake)) == sorted(keys)
    assert set(charges_per_key(fake).values()) == {1}
