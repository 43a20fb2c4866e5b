"""The bulk engine: exactly one charge per item, bounded memory, resume after a crash."""

from __future__ import annotations

import asyncio
import contextvars
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import orjson
import pytest

import ching_async
from ching_async import ChargeParams, Handler, Outcome, Request, Response
from ching_async.testing import FakeChing, Fault
from tests._support.bulk_child import bulk_child, kill_after
from tests._support.fake_client import charges_per_key, client_for, collect, items, seed


async def test_every_item_charged_once_and_declines_are_results(fake, client) -> None:
    cards = seed(fake, 40, declining=4)
    results = await collect(
        client.charges.create_many(items(cards, 200), job_id="nov", concurrency=16)
    )
    assert sorted(r.index for r in results) == list(range(200))
    summary = ching_async.BulkSummary()
    for result in results:
        summary.add(result)
        assert result.idempotency_key == f"nov:{result.index}"
    assert (summary.succeeded, summary.declined, summary.failed, summary.unknown) == (180, 20, 0, 0)
    assert summary.amount_charged == sum(
        r.charge.amount for r in results if r.outcome is Outcome.SUCCEEDED
    )
    declined = [r for r in results if r.outcome is Outcome.DECLINED]
    assert all(isinstance(r.error, ching_async.CardDeclinedError) for r in declined)
    # One server charge per item (declines are stored as failed charges).
    per_key = charges_per_key(fake)
    assert len(fake.charges()) == 200
    assert set(per_key.values()) == {1}


async def test_invalid_item_is_a_failed_result_and_the_batch_goes_on(fake, client) -> None:
    cards = seed(fake, 3)
    batch = list(items(cards, 5))
    batch[2] = {**batch[2], "amount": 49.90}
    batch.insert(4, {"customer": cards[0][0], "payment_method": cards[0][1]})
    results = {r.index: r for r in await collect(client.charges.create_many(batch, job_id="j"))}
    assert results[2].outcome is Outcome.FAILED
    assert isinstance(results[2].error, ching_async.InvalidParameterError)
    assert "agorot" in str(results[2].error)
    assert "missing" in str(results[4].error)
    assert [results[i].outcome for i in (0, 1, 3, 5)] == [Outcome.SUCCEEDED] * 4
    assert len(fake.charges()) == 4


async def test_items_are_pulled_lazily(fake, client) -> None:
    cards = seed(fake, 50)
    pulled = 0

    def endless() -> Iterator[ChargeParams]:
        nonlocal pulled
        while True:
            customer, card = cards[pulled % len(cards)]
            pulled += 1
            yield ChargeParams(customer=customer, payment_method=card, amount=100)

    run = client.charges.create_many(endless(), job_id="lazy", concurrency=8, assume_new=True)
    async with run:
        got = 0
        async for _ in run:
            got += 1
            if got == 40:
                break
    # Bounded by concurrency: at most 8 items started ahead of the results taken.
    assert 40 <= pulled <= 40 + 8
    assert len(fake.charges()) <= pulled


async def test_async_iterable_items(fake, client) -> None:
    cards = seed(fake, 5)

    async def source() -> AsyncIterator[dict[str, object]]:
        for item in items(cards, 20):
            await asyncio.sleep(0)
            yield item

    results = await collect(client.charges.create_many(source(), job_id="async"))
    assert sorted(r.index for r in results) == list(range(20))
    assert len(fake.charges()) == 20


async def test_one_charge_in_flight_per_customer(fake) -> None:
    cards = seed(fake, 3)
    in_flight: Counter[str] = Counter()
    peak: Counter[str] = Counter()

    async def watch(request: ching_async.Request, call_next: ching_async.Handler):
        if request.method != "POST":
            return await call_next(request)
        customer = orjson.loads(request.body)["customer"]
        in_flight[customer] += 1
        peak[customer] = max(peak[customer], in_flight[customer])
        try:
            return await call_next(request)
        finally:
            in_flight[customer] -= 1

    fake.faults.add(Fault.latency(0.01), method="POST", path="/charges")
    async with ching_async.Client(fake.api_key, base_url=fake.url, middlewares=[watch]) as client:
        await collect(client.charges.create_many(items(cards, 30), job_id="one", concurrency=10))
    assert set(peak.values()) == {1}
    assert len(fake.charges()) == 30


async def test_rerun_without_journal_never_charges_twice(fake, client) -> None:
    cards = seed(fake, 10)
    first = await collect(client.charges.create_many(items(cards, 30), job_id="again"))
    second = await collect(client.charges.create_many(items(cards, 30), job_id="again"))
    assert len(fake.charges()) == 30
    by_index = {r.index: r.charge_id for r in first}
    assert {r.index: r.charge_id for r in second} == by_index


async def test_rate_limit_429_pauses_the_whole_job(fake) -> None:
    cards = seed(fake, 8)
    fake.faults.add(Fault.rate_limited(retry_after=0.6), method="POST", path="/charges", times=1)
    policy = ching_async.RetryPolicy(initial_backoff=0.001, max_backoff=0.002)
    async with ching_async.Client(fake.api_key, base_url=fake.url, retry_policy=policy) as client:
        started = time.monotonic()
        results = await collect(
            client.charges.create_many(
                items(cards, 40), job_id="rl", concurrency=8, assume_new=True
            )
        )
        elapsed = time.monotonic() - started
    assert all(r.ok for r in results)
    assert elapsed >= 0.55  # everyone waited, not just the task that got the 429
    posts = [r for r in fake.requests() if r.method == "POST"]
    limited_at = next(r.at for r in posts if r.fault is not None)
    soon_after = [
        r for r in posts if 0.05 < (r.at - limited_at).total_seconds() < 0.5 and r.fault is None
    ]
    assert soon_after == []


async def test_client_side_rate_limit(fake, client) -> None:
    cards = seed(fake, 30)
    started = time.monotonic()
    await collect(
        client.charges.create_many(
            items(cards, 30), job_id="rate", concurrency=30, rate_limit=20, assume_new=True
        )
    )
    # aiolimiter allows a burst of one second's worth (20), then 20/s.
    assert time.monotonic() - started >= 0.4
    assert len(fake.charges()) == 30


async def test_item_rate_limit_paces_items_not_their_requests(
    fake, client, tmp_path, monkeypatch
) -> None:
    from aiolimiter import AsyncLimiter

    acquired: list[float] = []
    acquire = AsyncLimiter.acquire

    async def counted(self: AsyncLimiter, amount: float = 1) -> None:
        acquired.append(amount)
        await acquire(self, amount)

    monkeypatch.setattr(AsyncLimiter, "acquire", counted)
    cards = seed(fake, 30)
    journal = tmp_path / "j.jsonl"
    started = time.monotonic()
    await collect(
        client.charges.create_many(
            items(cards, 30), job_id="rows", concurrency=30, item_rate_limit=20, journal=journal
        )
    )
    assert time.monotonic() - started >= 0.4  # a burst of 20, then 20 a second
    assert len(fake.requests_to("POST", "/charges")) == 30
    # A lookup each, as charges.create makes for its own key (the customer's
    # charges; the project's newest, read once for the run): not paced.
    lookups = fake.requests_to("GET", "/charges")
    assert len([r for r in lookups if r.query.get("customer")]) == 30
    assert len([r for r in lookups if not r.query.get("customer")]) == 1
    assert len(acquired) == 30
    acquired.clear()
    again = await collect(
        client.charges.create_many(
            items(cards, 30), job_id="rows", concurrency=30, item_rate_limit=20, journal=journal
        )
    )
    assert all(result.from_journal for result in again)
    assert acquired == []  # rows an earlier run finished are not paced


async def test_on_settle_wait_says_once_how_long_a_resume_waits(fake, client, tmp_path) -> None:
    cards = seed(fake, 3)
    journal = tmp_path / "j.jsonl"
    records = [{"t": "job", "job_id": "w", "concurrency": 3, "at": time.time()}]
    records += [{"t": "start", "i": i, "key": f"w:{i}", "customer": cards[i][0]} for i in range(3)]
    journal.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    calls: list[tuple[float, int]] = []

    def on_settle_wait(seconds: float, doubt: int) -> None:
        calls.append((seconds, doubt))

    started = time.monotonic()
    results = await collect(
        client.charges.create_many(
            items(cards, 3), job_id="w", journal=journal, on_settle_wait=on_settle_wait
        )
    )
    [(seconds, doubt)] = calls  # three rows in doubt, one wait
    # total_timeout 3 s + the attempt timeout 2 s (an instant policy) after the last write
    assert 4 < seconds <= 5
    assert doubt == 3
    assert time.monotonic() - started >= seconds - 0.1
    assert all(result.ok for result in results)
    calls.clear()
    await collect(  # closed cleanly: no wait, no call
        client.charges.create_many(
            items(cards, 3), job_id="w", journal=journal, on_settle_wait=on_settle_wait
        )
    )
    assert calls == []


async def test_a_job_pause_is_capped_like_a_single_calls_retry_after(fake) -> None:
    ((customer, card),) = seed(fake, 1)
    fake.faults.add(Fault.rate_limited(retry_after=30), method="POST", path="/charges", times=1)
    policy = ching_async.RetryPolicy(instant=True, max_retry_after=0.3)
    async with ching_async.Client(fake.api_key, base_url=fake.url, retry_policy=policy) as client:
        started = time.monotonic()
        results = await collect(
            client.charges.create_many(
                items([(customer, card)], 2), job_id="cap", concurrency=1, assume_new=True
            )
        )
    assert time.monotonic() - started < 5  # not the server's 30 s
    outcomes = sorted(r.outcome.value for r in results)
    assert Outcome.SUCCEEDED.value in outcomes
    assert len(fake.charges()) >= 1


async def test_bad_arguments_are_rejected(client) -> None:
    with pytest.raises(ching_async.InvalidParameterError):
        client.charges.create_many([], job_id="has space")
    with pytest.raises(ching_async.InvalidParameterError):
        client.charges.create_many([], job_id="j", concurrency=0)
    with pytest.raises(ching_async.InvalidParameterError):
        client.charges.create_many([], job_id="j", rate_limit=-1)
    with pytest.raises(ching_async.InvalidParameterError):
        client.charges.create_many(42, job_id="j")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["has space", "", "x" * 201, "caf\u00e9", "tab\there", 7])
async def test_a_bad_job_id_is_refused_with_the_rule_it_breaks(client, bad: object) -> None:
    rule = "job_id must be 1-200 printable ASCII characters without spaces"
    with pytest.raises(ching_async.InvalidParameterError, match=f"^{rule}$"):
        client.charges.create_many([], job_id=bad)  # type: ignore[arg-type]


async def test_a_bulk_job_id_may_hold_braces(client) -> None:
    # Only scaleout, whose Redis keys hold the id in a hash tag, refuses them.
    assert client.charges.create_many([], job_id="run{2026}").job_id == "run{2026}"


@pytest.mark.parametrize(
    "field",
    [
        {"amount": 0},
        {"currency": "il"},
        {"installments": 0},
        {"metadata": "not a mapping"},
        {"metadata": {"weight": float("nan")}},
    ],
)
def test_an_item_is_checked_as_charges_create_checks_it(field: dict[str, object]) -> None:
    item = {"customer": "cus_1", "payment_method": "pm_1", "amount": 4990}
    assert ChargeParams.from_mapping(item).amount == 4990
    with pytest.raises(ching_async.InvalidParameterError, match=next(iter(field))):
        ChargeParams.from_mapping({**item, **field})


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("shutdown_grace", "5"),  # once failed only when the run was closed early
        ("shutdown_grace", -1),
        ("shutdown_grace", float("nan")),
        ("assume_new", "no"),  # truthy: would skip the lookups that prevent double charges
        ("one_per_customer", "false"),
        ("item_rate_limit", 0),
        ("item_rate_limit", "5"),
        ("on_settle_wait", 5),
    ],
    ids=repr,
)
async def test_bad_options_are_rejected_up_front(client, option: str, value: object) -> None:
    with pytest.raises(ching_async.InvalidParameterError, match=option):
        client.charges.create_many([], job_id="j", **{option: value})


async def test_a_rerun_with_more_than_100_items_for_one_customer_charges_nothing_twice(
    fake, client
) -> None:
    """Lists hold a customer's 100 newest charges: a lookup that does not see
    an item's key in a full list proves nothing, so the item is unknown, not
    sent. (Each re-sent item used to push the next one out of the window.)"""
    cards = seed(fake, 1)
    # One item at a time: an item is looked up before its turn at its
    # customer, so with more in flight the 101st could prove its absence
    # before the 100 before it are all charged (as correct, and not this case).
    first = await collect(
        client.charges.create_many(items(cards, 101), job_id="big", concurrency=1)
    )
    outcomes = Counter(r.outcome for r in first)
    # The 101st lookup already sees 100 charges of this very run.
    assert outcomes == {Outcome.SUCCEEDED: 100, Outcome.UNKNOWN: 1}
    unknown = next(r for r in first if r.outcome is Outcome.UNKNOWN)
    assert isinstance(unknown.error, ching_async.LookupInconclusiveError)
    again = await collect(client.charges.create_many(items(cards, 101), job_id="big"))
    assert len(again) == 101
    assert max(charges_per_key(fake).values()) == 1
    assert len(fake.charges()) == 100


# ------------------------------------------------------------ journal/resume
def journal_records(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


async def test_journal_resume_after_cancellation(fake, client, tmp_path) -> None:
    cards = seed(fake, 25)
    journal = tmp_path / "job.jsonl"
    fake.faults.add(Fault.latency(0.02), method="POST", path="/charges")

    async def first_run() -> None:
        run = client.charges.create_many(
            items(cards, 100), job_id="resume", concurrency=10, journal=journal
        )
        async with run:
            async for _ in run:
                pass

    task = asyncio.create_task(first_run())
    while len(fake.charges()) < 30:  # noqa: ASYNC110 - polling the fake's state is the point
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    done_first = len(fake.charges())
    assert 30 <= done_first < 100
    records = journal_records(journal)
    assert {r["t"] for r in records} <= {"job", "start", "done", "closed"}

    fake.faults.clear()
    results = await collect(
        client.charges.create_many(items(cards, 100), job_id="resume", journal=journal)
    )
    assert sorted(r.index for r in results) == list(range(100))
    assert sum(r.from_journal for r in results) >= 30 - 10
    assert len(fake.charges()) == 100
    assert set(charges_per_key(fake).values()) == {1}


async def test_journal_of_another_job_is_refused(fake, client, tmp_path) -> None:
    cards = seed(fake, 1)
    journal = tmp_path / "job.jsonl"
    await collect(client.charges.create_many(items(cards, 1), job_id="a", journal=journal))
    with pytest.raises(ching_async.InvalidParameterError, match="belongs to job"):
        await collect(client.charges.create_many(items(cards, 1), job_id="b", journal=journal))


@pytest.mark.slow
async def test_resume_after_sigkill_charges_each_item_once(fake, client, tmp_path) -> None:
    cards = seed(fake, 40)
    journal = tmp_path / "crash.jsonl"
    fake.faults.add(Fault.latency(0.03), method="POST", path="/charges")
    await kill_after(await bulk_child(fake, cards, journal, job_id="crash", rows=200), 40)
    charged_before = len(fake.charges())
    assert 40 <= charged_before < 200

    results = await collect(
        client.charges.create_many(items(cards, 200), job_id="crash", journal=journal)
    )
    assert sorted(r.index for r in results) == list(range(200))
    assert len(fake.charges()) == 200
    assert set(charges_per_key(fake).values()) == {1}
    # Items in flight at the kill were looked up, not re-sent blindly.
    lookups = [r for r in fake.requests() if r.method == "GET" and r.query.get("customer")]
    assert lookups


async def test_resume_after_a_clean_run_skips_everything_at_once(fake, tmp_path) -> None:
    cards = seed(fake, 5)
    journal = tmp_path / "job.jsonl"
    async with ching_async.Client(fake.api_key, base_url=fake.url, timeout=30) as client:
        await collect(client.charges.create_many(items(cards, 20), job_id="clean", journal=journal))
        assert journal_records(journal)[-1]["t"] == "closed"
        requests_before = len(fake.requests())
        started = time.monotonic()
        again = await collect(
            client.charges.create_many(items(cards, 20), job_id="clean", journal=journal)
        )
    # No orphan wait (30 s here) and no request: every item was final.
    assert time.monotonic() - started < 5
    assert len(fake.requests()) == requests_before
    assert all(r.from_journal and r.ok for r in again)


@pytest.mark.parametrize("content", [b"", b"not json\n", b"\xff\xfe\n"], ids=repr)
async def test_an_existing_journal_without_history_waits_for_nothing(
    fake, tmp_path, content: bytes
) -> None:
    # A file no run of this job wrote (no job record): nothing can be in
    # flight, so the run must not wait total_timeout + timeout (30 s here).
    cards = seed(fake, 2)
    journal = tmp_path / "job.jsonl"
    journal.write_bytes(content)
    async with ching_async.Client(
        fake.api_key, base_url=fake.url, timeout=10, total_timeout=20
    ) as c:
        started = time.monotonic()
        results = await collect(
            c.charges.create_many(items(cards, 4), job_id="new", journal=journal)
        )
    assert time.monotonic() - started < 5
    assert all(r.ok for r in results)
    assert len(fake.charges()) == 4


async def test_a_finished_item_with_an_outcome_this_version_does_not_know_is_looked_up(
    fake, client, tmp_path
) -> None:
    # A newer version's (or a hand-edited) journal: the item is in doubt,
    # found by its key, and never charged twice; no raw ValueError.
    cards = seed(fake, 2)
    journal = tmp_path / "job.jsonl"
    await collect(client.charges.create_many(items(cards, 2), job_id="odd", journal=journal))
    lines = journal.read_bytes().splitlines()
    records = [orjson.loads(line) for line in lines]
    for record in records:
        if record["t"] == "done" and record["i"] == 0:
            record["outcome"] = "refunded"
    journal.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    again = await collect(
        client.charges.create_many(items(cards, 2), job_id="odd", journal=journal)
    )
    assert [r.from_journal for r in sorted(again, key=lambda r: r.index)] == [False, True]
    assert all(r.ok for r in again)
    assert len(fake.charges()) == 2


async def test_wrong_key_failures_are_retried_on_resume(fake, tmp_path) -> None:
    cards = seed(fake, 3)
    journal = tmp_path / "job.jsonl"
    wrong = "ck_test_" + "0" * 64
    async with ching_async.Client(
        wrong, base_url=fake.url, retry_policy=ching_async.RetryPolicy(instant=True)
    ) as client:
        first = await collect(
            client.charges.create_many(items(cards, 6), job_id="key", journal=journal)
        )
    # A new journal: every item is looked up first, and a refused lookup
    # leaves the item unknown (an earlier run might have charged it).
    assert {r.outcome for r in first} == {Outcome.UNKNOWN}
    assert all(isinstance(r.error, ching_async.AuthenticationError) for r in first)
    # Nothing was sent, so nothing was left in flight: the journal closed
    # cleanly, and the resume looks the items up without waiting first.
    assert json.loads(journal.read_text().splitlines()[-1])["t"] == "closed"
    waits: list[float] = []
    async with ching_async.Client(
        fake.api_key, base_url=fake.url, timeout=1, total_timeout=1
    ) as client:
        second = await collect(
            client.charges.create_many(
                items(cards, 6),
                job_id="key",
                journal=journal,
                on_settle_wait=lambda seconds, _: waits.append(seconds),
            )
        )
    assert waits == []
    assert all(r.ok and not r.from_journal for r in second)
    assert len(fake.charges()) == 6


async def test_a_new_journal_for_a_job_that_ran_never_charges_twice(fake, client, tmp_path) -> None:
    cards = seed(fake, 5)
    first = tmp_path / "a.jsonl"
    other = tmp_path / "elsewhere" / "b.jsonl"
    other.parent.mkdir()
    await collect(client.charges.create_many(items(cards, 10), job_id="moved", journal=first))
    again = await collect(
        client.charges.create_many(items(cards, 10), job_id="moved", journal=other)
    )
    assert len(fake.charges()) == 10  # each item was found by its key, not re-sent
    assert all(r.ok for r in again)


async def test_cancelling_the_close_still_stops_workers_and_closes_the_journal(
    fake, client, tmp_path
) -> None:
    cards = seed(fake, 8)
    journal = tmp_path / "job.jsonl"
    fake.faults.add(Fault.latency(0.5), method="POST", path="/charges")
    run = client.charges.create_many(
        items(cards, 40), job_id="twice", concurrency=4, journal=journal, shutdown_grace=5
    )
    run._job._start()
    await asyncio.sleep(0.1)
    closing = asyncio.create_task(run.aclose())
    await asyncio.sleep(0.1)
    closing.cancel()  # a second Ctrl-C during the grace period
    with pytest.raises(asyncio.CancelledError):
        await closing
    await asyncio.sleep(0.05)
    assert all(task.done() for task in run._job._workers)
    assert run._job._journal is not None
    assert run._job._journal._fd == -1


async def test_lookups_before_sending_unless_assume_new(fake, client, tmp_path) -> None:
    cards = seed(fake, 4)

    def lookups() -> int:
        return sum(1 for r in fake.requests() if r.method == "GET")

    await collect(
        client.charges.create_many(
            items(cards, 8), job_id="fresh", journal=tmp_path / "a.jsonl", assume_new=True
        )
    )
    assert lookups() == 0
    await collect(
        client.charges.create_many(items(cards, 8), job_id="unsure", journal=tmp_path / "b.jsonl")
    )
    # A new journal cannot vouch for the job: each item is looked up as
    # charges.create looks up its own key (the customer's charges, then the
    # project's newest, read once for the run).
    assert lookups() == 8 + 1
    assert len(fake.charges()) == 16


def project_wide(fake: FakeChing) -> int:
    """The GETs of the project's newest charges (no `customer=`) so far."""
    return sum(1 for r in fake.requests_to("GET", "/charges") if not r.query.get("customer"))


async def test_a_run_reads_the_projects_newest_charges_once_and_only_when_needed(
    fake, client, tmp_path
) -> None:
    """Each item is looked up in its customer's charges; the project's newest
    (for its key used for another customer) are read once for the whole run,
    and only by a run whose lookup needs them."""
    cards = seed(fake, 4)
    first = await collect(client.charges.create_many(items(cards, 12), job_id="once"))
    assert all(r.ok for r in first)
    assert project_wide(fake) == 1
    # Every item found in its customer's charges: nothing to look for beyond them.
    again = await collect(client.charges.create_many(items(cards, 12), job_id="once"))
    assert {r.charge_id for r in again} == {r.charge_id for r in first}
    assert project_wide(fake) == 1
    # No lookups at all: neither with assume_new nor when a journal has every outcome.
    journal = tmp_path / "j.jsonl"
    for _ in range(2):
        await collect(
            client.charges.create_many(
                items(cards, 4), job_id="new", assume_new=True, journal=journal
            )
        )
    await collect(client.charges.create_many(items(cards, 4), job_id="new", journal=journal))
    assert len(fake.charges()) == 12 + 4
    assert len(fake.requests_to("GET", "/charges")) == 24 + 1


async def test_the_projects_newest_unreadable_do_not_stop_a_run(fake) -> None:
    """Beyond the customer's charges a lookup is best effort: when the
    project's newest cannot be read, the items their customers' charges
    prove unsent are sent, and the read is not repeated for each item."""
    cards = seed(fake, 4)
    tried: list[Request] = []

    async def project_down(request: Request, call_next: Handler) -> Response:
        if request.method == "GET" and "customer" not in dict(request.query):
            tried.append(request)
            return Response(status=503, headers={}, body=b"", request=request)
        return await call_next(request)

    async with client_for(fake, middlewares=[project_down]) as down:
        with pytest.raises(ching_async.InternalServerError):
            await down.charges.list()
        one_call = len(tried)
        results = await collect(down.charges.create_many(items(cards, 8), job_id="down"))
    assert all(r.ok for r in results)
    assert len(fake.charges()) == 8
    assert len(tried) == 2 * one_call  # the list above, and the run's one read


_CURRENT_CALL: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "test_current_call", default=None
)


async def test_each_worker_keeps_its_own_context(fake) -> None:
    """What one item's call keeps in a ContextVar (a tracing span, the
    transport's own per-attempt state) is never seen by another worker's call:
    a shared context once let one worker's "still connecting" mark turn
    another's sent charge into "not sent"."""
    seen_foreign: list[str] = []

    async def remembers_its_call(
        request: ching_async.Request, call_next: ching_async.Handler
    ) -> ching_async.Response:
        key = str(request.idempotency_key)
        if (before := _CURRENT_CALL.get()) not in (None, key):
            seen_foreign.append(before)
        _CURRENT_CALL.set(key)
        await asyncio.sleep(0.01)  # let the other workers run their calls
        response = await call_next(request)
        if (after := _CURRENT_CALL.get()) != key:
            seen_foreign.append(str(after))
        _CURRENT_CALL.set(None)
        return response

    cards = seed(fake, 8)
    async with ching_async.Client(
        fake.api_key, base_url=fake.url, middlewares=[remembers_its_call]
    ) as client:
        run = client.charges.create_many(
            items(cards, 32), job_id="ctx", concurrency=8, assume_new=True
        )
        results = [result async for result in run]
    assert all(result.ok for result in results)
    assert seen_foreign == []


async def test_a_resume_waits_for_the_settle_time_before_a_lookup_proves_absence(
    fake, tmp_path
) -> None:
    """A POST that timed out while the server was still working on it: the
    run gives it up as unknown. A resume must not look it up (and, finding
    nothing yet, send it again) before RetryPolicy.settle has passed, the rule
    the run itself followed."""
    cards = seed(fake, 1)
    journal = tmp_path / "job.jsonl"
    fake.faults.add(Fault.latency(2.5), method="POST", path="/charges", times=1)
    async with ching_async.Client(
        fake.api_key,
        base_url=fake.url,
        timeout=0.3,
        total_timeout=0.6,
        max_retries=0,
        retry_policy=ching_async.RetryPolicy(settle=4.0, initial_backoff=0.01),
    ) as c:
        started = time.monotonic()
        first = await collect(
            c.charges.create_many(items(cards, 1), job_id="late", journal=journal)
        )
        assert [r.outcome for r in first] == [Outcome.UNKNOWN]
        again = await collect(
            c.charges.create_many(items(cards, 1), job_id="late", journal=journal)
        )
        # Let the first send's late commit happen before counting.
        await asyncio.sleep(max(0.0, started + 3.0 - time.monotonic()))
    assert [r.outcome for r in again] == [Outcome.SUCCEEDED]
    assert len(fake.charges()) == 1
