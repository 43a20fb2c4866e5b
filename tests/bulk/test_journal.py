"""The journal keeps a job from charging a card twice when its runs overlap,
when its file is torn, and when a re-run's items are not the items its keys
were used for (reordered or edited)."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

import ching_async
from ching_async import ChargeResult, Outcome
from ching_async._bulk import _journal
from ching_async.testing import FakeChing, Fault
from tests._support.bulk_child import bulk_child, kill_after
from tests._support.fake_client import charges_per_key, client_for, collect, items, seed


def readable(journal: Path) -> list[dict[str, Any]]:
    """The journal's records, each line read alone; a torn line is left out."""
    records = []
    for line in journal.read_bytes().splitlines():
        try:
            records.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    return records


async def read_into(got: list[ChargeResult], run: ching_async.BulkRun) -> None:
    """Read a run to its end (or its error), keeping its results in `got`."""
    async with run:
        async for result in run:
            got.append(result)


def each_charged_once(fake: FakeChing, results: list[ChargeResult]) -> None:
    """At most one charge per key and per customer, and every result reported
    succeeded names a charge the fake holds, of that result's own customer."""
    assert set(charges_per_key(fake).values()) <= {1}
    assert set(Counter(c.customer for c in fake.charges()).values()) <= {1}
    made = {c.id: c.customer for c in fake.charges()}
    for result in results:
        if result.ok:
            assert made.get(str(result.charge_id)) == result.params.customer


# ---------------------------------------------------------- one run at a time
async def test_two_runs_at_once_on_one_journal_charge_nothing_twice(fake, tmp_path) -> None:
    """Two resumes of one job on one journal at once (a cron run overlapping
    a manual re-run), each with its own client: the second is refused before
    it sends anything, naming the journal and the job."""
    cards = seed(fake, 40)
    rows = list(items(cards, 40))
    journal = tmp_path / "job.jsonl"
    async with client_for(fake) as first:
        await collect(first.charges.create_many(rows[:5], job_id="job-1", journal=journal))

    async def resume() -> list[ChargeResult]:
        async with client_for(fake) as client:
            run = client.charges.create_many(rows, job_id="job-1", journal=journal, concurrency=4)
            return await collect(run)

    outcomes = await asyncio.gather(resume(), resume(), return_exceptions=True)
    [refused] = [o for o in outcomes if isinstance(o, BaseException)]
    [results] = [o for o in outcomes if not isinstance(o, BaseException)]
    assert isinstance(refused, ching_async.JournalInUseError)
    assert isinstance(refused, ching_async.InvalidParameterError)
    assert refused.path == str(journal)
    assert refused.job_id == "job-1"
    assert str(journal) in str(refused)
    assert "'job-1'" in str(refused)
    assert "before anything was sent" in str(refused)
    assert sorted(r.index for r in results) == list(range(40))
    assert len(fake.charges()) == 40
    each_charged_once(fake, results)


@pytest.mark.slow
async def test_a_killed_runs_journal_is_refused_while_it_lives_and_free_after(
    fake, client, tmp_path
) -> None:
    """The lock is the OS's: held by a run in another process, and released
    when that process is SIGKILLed, so the resume goes on."""
    cards = seed(fake, 20)
    journal = tmp_path / "job.jsonl"
    fake.faults.add(Fault.latency(0.03), method="POST", path="/charges")
    child = await bulk_child(fake, cards, journal, job_id="held", rows=100)
    assert child.stdout is not None
    await asyncio.wait_for(child.stdout.readline(), timeout=30)  # it runs
    sent = len(fake.requests_to("POST", "/charges"))
    with pytest.raises(ching_async.JournalInUseError, match="in use by another run"):
        await collect(client.charges.create_many(items(cards, 100), job_id="held", journal=journal))
    await kill_after(child, 10)
    assert len(fake.requests_to("POST", "/charges")) - sent <= 8 + 10  # the child's only

    fake.faults.clear()
    results = await collect(
        client.charges.create_many(items(cards, 100), job_id="held", journal=journal)
    )
    assert sorted(r.index for r in results) == list(range(100))
    assert len(fake.charges()) == 100
    assert set(charges_per_key(fake).values()) == {1}


# ------------------------------------------------------------- a torn journal
async def test_a_record_after_a_torn_line_starts_a_line_of_its_own(fake, client, tmp_path) -> None:
    cards = seed(fake, 3)
    journal = tmp_path / "job.jsonl"
    journal.write_bytes(b'{"t":"job","job_id":"torn","concurr')  # a run killed mid-write
    await collect(client.charges.create_many(items(cards, 3), job_id="torn", journal=journal))
    lines = journal.read_bytes().splitlines()
    assert lines[0] == b'{"t":"job","job_id":"torn","concurr'
    records = readable(journal)
    assert [r["t"] for r in records] == ["job", "start", "start", "start"] + ["done"] * 3 + [
        "closed"
    ]
    assert len(records) == len(lines) - 1


def ledger_with_starts(fake: FakeChing, cards: list[tuple[str, str]], journal: Path) -> None:
    """What a run killed mid-job leaves when its job record was lost (torn):
    start records only, for items whose charges the fake made; written a
    while ago, so that a resume need not wait for them to settle."""
    records = [
        {"t": "start", "i": i, "key": f"lost:{i}", "customer": cards[i][0]} for i in range(3)
    ]
    journal.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    for i in range(3):
        marker = {ching_async.IDEMPOTENCY_METADATA_KEY: f"lost:{i}"}
        fake.add_charge(cards[i][0], cards[i][1], amount=1000 + i, metadata=marker)
    past = time.time() - 600
    os.utime(journal, (past, past))


async def test_items_started_in_a_journal_without_a_job_record_are_looked_up(
    fake, client, tmp_path
) -> None:
    """Start and done records are history too: even with assume_new=True, the
    items an earlier run started are looked up, not sent again."""
    cards = seed(fake, 6)
    journal = tmp_path / "job.jsonl"
    ledger_with_starts(fake, cards, journal)
    results = await collect(
        client.charges.create_many(items(cards, 6), job_id="lost", journal=journal, assume_new=True)
    )
    assert all(r.ok for r in results)
    assert len(fake.charges()) == 6
    assert set(charges_per_key(fake).values()) == {1}


def short_writes(monkeypatch: pytest.MonkeyPatch, most: int) -> list[int]:
    """os.write, as the journal module sees it, writes at most `most` bytes a
    call (a nearly full disk); returns the sizes it was asked to write."""
    asked: list[int] = []
    write = os.write

    def short(fd: int, data: Any) -> int:
        asked.append(len(data))
        return write(fd, bytes(data[:most])) if most else 0

    monkeypatch.setattr(_journal.os, "write", short)
    return asked


async def test_a_short_write_is_continued_until_the_record_is_whole(
    fake, client, tmp_path, monkeypatch
) -> None:
    cards = seed(fake, 3)
    journal = tmp_path / "job.jsonl"
    asked = short_writes(monkeypatch, 7)
    await collect(client.charges.create_many(items(cards, 3), job_id="short", journal=journal))
    monkeypatch.undo()
    assert max(asked) > 7  # records longer than one write
    lines = journal.read_bytes().splitlines()
    assert [orjson.loads(line)["t"] for line in lines][-1] == "closed"
    again = await collect(
        client.charges.create_many(items(cards, 3), job_id="short", journal=journal)
    )
    assert all(r.from_journal and r.ok for r in again)


async def test_a_write_that_makes_no_progress_is_an_error(
    fake, client, tmp_path, monkeypatch
) -> None:
    cards = seed(fake, 2)
    journal = tmp_path / "job.jsonl"
    short_writes(monkeypatch, 0)
    with pytest.raises(OSError, match="wrote nothing") as caught:
        await collect(client.charges.create_many(items(cards, 2), job_id="full", journal=journal))
    assert str(journal) in str(caught.value)
    monkeypatch.undo()
    assert fake.charges() == []  # the job record could not be written: nothing was sent
    # The journal was closed, and with it its lock: the job can run.
    results = await collect(
        client.charges.create_many(items(cards, 2), job_id="full", journal=journal)
    )
    assert all(r.ok for r in results)


# ------------------------------------------------ items reordered or edited
async def journaled(
    fake: FakeChing,
    client: ching_async.Client,
    directory: Path,
    job_id: str,
    count: int,
    *,
    customers: int | None = None,
) -> tuple[list[tuple[str, str]], Path]:
    """A first run of `count` items with a journal: the cards and the journal."""
    cards = seed(fake, customers or count)
    journal = directory / "job.jsonl"
    await collect(client.charges.create_many(items(cards, count), job_id=job_id, journal=journal))
    return cards, journal


def abcdef(fake: FakeChing) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Six rows A-F of one amount, and each customer's letter."""
    cards = seed(fake, 6)
    rows = [{"customer": c, "payment_method": p, "amount": 4990} for c, p in cards]
    return rows, {c: "ABCDEF"[i] for i, (c, _) in enumerate(cards)}


def by_position(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows, each bringing the key it has by default (as scaleout's do)."""
    return [{**row, "idempotency_key": f"nov:{i}"} for i, row in enumerate(rows)]


@pytest.mark.parametrize(
    ("with_journal", "keyed"),
    [(True, list), (False, list), (False, by_position)],
    ids=["journal", "no-journal", "no-journal-keys-by-position"],
)
async def test_a_rerun_in_another_order_charges_no_one_twice(
    fake, client, tmp_path, with_journal: bool, keyed: Any
) -> None:
    """Run 1 charges A, B, C of A-F and stops; run 2 has all six in reverse
    order (a CSV regenerated without ORDER BY). Item 0's key made A's charge,
    and F is not A: the job stops before sending anything, and C, now item
    3 with a key never used, is not charged again."""
    rows, letter = abcdef(fake)
    journal = tmp_path / "job.jsonl" if with_journal else None
    first = await collect(
        client.charges.create_many(keyed(rows[:3]), job_id="nov", journal=journal)
    )
    assert [r.ok for r in first] == [True] * 3
    got: list[ChargeResult] = []
    new_ones = {("customer", row["customer"]) for row in rows[3:]}  # D, E, F

    async def looked_up_last(request: ching_async.Request, call_next: ching_async.Handler):
        # Items 0-2 (F, E, D) are looked up after item 3 (C): C must wait for them.
        if request.method == "GET" and new_ones.intersection(request.query):
            await asyncio.sleep(0.3)
        return await call_next(request)

    async with client_for(fake, middlewares=[looked_up_last]) as rerun:
        run = rerun.charges.create_many(keyed(rows[::-1]), job_id="nov", journal=journal)
        with pytest.raises(ching_async.IdempotencyKeyReusedError) as caught:
            await read_into(got, run)
    error = caught.value
    assert "bulk job 'nov' stopped before sending item" in str(error)
    assert "reordered or edited" in str(error)
    assert "customer" in error.fields
    assert {letter[c.customer] for c in fake.charges()} == {"A", "B", "C"}
    each_charged_once(fake, [*first, *got])
    assert not any(r.ok and not r.from_journal for r in got)


@pytest.mark.parametrize("with_journal", [True, False], ids=["journal", "no-journal"])
async def test_an_item_edited_since_its_charge_is_not_given_that_charge(
    fake, client, tmp_path, with_journal: bool
) -> None:
    cards = seed(fake, 3)
    journal = tmp_path / "job.jsonl" if with_journal else None
    rows = list(items(cards, 3))
    first = await collect(client.charges.create_many(rows, job_id="fix", journal=journal))
    made = {r.index: r.charge_id for r in first}
    rows[1] = {**rows[1], "amount": 5990}  # a corrected row
    with pytest.raises(ching_async.IdempotencyKeyReusedError) as caught:
        await collect(
            client.charges.create_many(rows, job_id="fix", journal=journal, concurrency=1)
        )
    assert "stopped before sending item 1" in str(caught.value)
    assert caught.value.differences == (("amount", 5990, 1001),)
    assert caught.value.found_id == made[1]
    assert len(fake.charges()) == 3
    assert set(charges_per_key(fake).values()) == {1}


async def test_a_lazy_job_stops_at_the_first_item_that_is_not_the_journals(
    fake, client, tmp_path
) -> None:
    cards, journal = await journaled(fake, client, tmp_path, "lazy", 8)
    pulled: list[int] = []

    def edited() -> Iterator[dict[str, Any]]:
        for i, row in enumerate(items(cards, 8)):
            pulled.append(i)
            yield {**row, "currency": "usd"} if i == 5 else row

    got: list[ChargeResult] = []
    run = client.charges.create_many(edited(), job_id="lazy", journal=journal)
    with pytest.raises(
        ching_async.IdempotencyKeyReusedError, match="stopped before sending item 5"
    ):
        await read_into(got, run)
    assert max(pulled) == 5  # no item after it was read
    assert sorted(r.index for r in got) == list(range(5))
    assert all(r.from_journal for r in got)
    assert len(fake.charges()) == 8


async def test_an_items_own_key_used_for_other_parameters_refuses_that_item_only(
    fake, client
) -> None:
    """Keys an item brings travel with it, whatever its position: one made
    for other parameters refuses that item (as charges.create does), and the
    job goes on."""
    cards = seed(fake, 3)
    rows = [{**row, "idempotency_key": f"inv-{i}"} for i, row in enumerate(items(cards, 3))]
    await collect(client.charges.create_many(rows, job_id="own"))
    rows[0] = {**rows[0], "amount": 7000}
    rows.append({**next(items(cards[1:], 1)), "idempotency_key": "inv-3"})
    results = {r.index: r for r in await collect(client.charges.create_many(rows, job_id="own"))}
    assert results[0].outcome is Outcome.FAILED
    assert isinstance(results[0].error, ching_async.IdempotencyKeyReusedError)
    assert results[0].error.differences == (("amount", 7000, 1000),)
    assert [results[i].ok for i in (1, 2, 3)] == [True] * 3
    assert len(fake.charges()) == 4
    assert set(charges_per_key(fake).values()) == {1}


async def test_an_items_own_key_used_for_another_customer_refuses_that_item_only(
    fake, client
) -> None:
    """Beyond its customer's charges, an item's own key is looked for among
    the project's newest (read once for the run): found on another
    customer's charge, it refuses that item only."""
    cards = seed(fake, 3)
    rows = [{**row, "idempotency_key": f"inv-{i}"} for i, row in enumerate(items(cards, 3))]
    made = {
        r.index: r.charge_id for r in await collect(client.charges.create_many(rows, job_id="own"))
    }
    customer, card = cards[2]
    rows[0] = {**rows[0], "customer": customer, "payment_method": card}
    results = {r.index: r for r in await collect(client.charges.create_many(rows, job_id="own"))}
    error = results[0].error
    assert results[0].outcome is Outcome.FAILED
    assert isinstance(error, ching_async.IdempotencyKeyReusedError)
    assert error.found_id == made[0]
    assert {field for field, _, _ in error.differences} == {"customer", "payment_method"}
    assert [results[i].charge_id for i in (1, 2)] == [made[1], made[2]]
    assert len(fake.charges()) == 3


def old_journal(journal: Path) -> None:
    """The journal as versions before `params` wrote it."""
    records = [
        {k: v for k, v in record.items() if k != "params"}
        for record in (orjson.loads(line) for line in journal.read_bytes().splitlines())
    ]
    journal.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))


async def test_a_journal_without_params_resumes_as_before_and_the_resume_records_them(
    fake, client, tmp_path
) -> None:
    cards, journal = await journaled(fake, client, tmp_path, "old", 3, customers=6)
    rows = list(items(cards, 6))
    old_journal(journal)
    # Its records cannot be compared: an edited item there is taken for the
    # one recorded (as before), and the others go on.
    edited = [{**rows[0], "amount": 9999}, *rows[1:]]
    again = {
        r.index: r
        for r in await collect(client.charges.create_many(edited, job_id="old", journal=journal))
    }
    assert [again[i].from_journal for i in range(6)] == [True] * 3 + [False] * 3
    assert all(r.ok for r in again.values())
    assert len(fake.charges()) == 6
    # What the resume sent is recorded with its params: an edit there is refused.
    edited[4] = {**rows[4], "amount": 9999}
    with pytest.raises(ching_async.IdempotencyKeyReusedError, match="item 4"):
        await collect(client.charges.create_many(edited, job_id="old", journal=journal))
    assert len(fake.charges()) == 6
