"""A bulk item's outcome follows the status of the charge the server returned:
only `succeeded` was charged and only `failed` declined, and only those two are
final; a charge not settled yet is unknown and looked up again by a re-run."""

from __future__ import annotations

from pathlib import Path

import attrs
import orjson
import pytest

import ching_async
from ching_async import Handler, Outcome, Request, Response
from ching_async.testing import FakeChing
from tests._support.fake_client import charges_per_key, collect, items, seed


def answering_status(status: str) -> ching_async.Middleware:
    """A middleware that makes POST /charges answer with the charge in `status`
    (the charge itself, on the fake, succeeded), as a server that has not
    settled it yet would."""

    async def rewrite(request: Request, call_next: Handler) -> Response:
        response = await call_next(request)
        if request.method != "POST" or response.status != 200:
            return response
        body = orjson.loads(response.body)
        body["data"]["status"] = status
        return attrs.evolve(response, body=orjson.dumps(body))

    return rewrite


def done_records(journal: Path) -> dict[int, dict[str, object]]:
    records = (orjson.loads(line) for line in journal.read_bytes().splitlines())
    return {r["i"]: r for r in records if r["t"] == "done"}


@pytest.mark.parametrize(
    ("status", "outcome", "final"),
    [
        ("succeeded", Outcome.SUCCEEDED, True),
        ("failed", Outcome.DECLINED, True),
        ("pending", Outcome.UNKNOWN, False),
        ("processing", Outcome.UNKNOWN, False),
        ("requires_capture", Outcome.UNKNOWN, False),
        ("under_review", Outcome.UNKNOWN, False),  # a status this version does not know
        ("canceled", Outcome.FAILED, False),
    ],
)
async def test_the_charge_status_decides_the_outcome_and_whether_it_is_final(
    fake: FakeChing, tmp_path: Path, status: str, outcome: Outcome, final: bool
) -> None:
    cards = seed(fake, 2)
    journal = tmp_path / "job.jsonl"
    async with ching_async.Client(
        fake.api_key,
        base_url=fake.url,
        retry_policy=ching_async.RetryPolicy(instant=True),
        middlewares=[answering_status(status)],
    ) as client:
        first = await collect(
            client.charges.create_many(items(cards, 2), job_id="st", journal=journal)
        )
    summary = ching_async.BulkSummary()
    for result in first:
        summary.add(result)
        assert result.outcome is outcome
        assert result.ok is (outcome is Outcome.SUCCEEDED)
        assert result.charge is not None
        assert result.charge.status == status
        assert result.charge_id == result.charge.id
    charged = outcome is Outcome.SUCCEEDED
    assert summary.all_succeeded is charged
    assert summary.amount_charged == (sum(r.params.amount for r in first) if charged else 0)
    assert [r["final"] for r in done_records(journal).values()] == [final, final]
    # Nothing was left in flight: the journal closed cleanly either way.
    assert orjson.loads(journal.read_bytes().splitlines()[-1])["t"] == "closed"

    # The re-run, once the server has settled the charges (the fake's are
    # succeeded): an item not final is looked up and settled then, never sent again.
    async with ching_async.Client(
        fake.api_key, base_url=fake.url, retry_policy=ching_async.RetryPolicy(instant=True)
    ) as client:
        again = await collect(
            client.charges.create_many(items(cards, 2), job_id="st", journal=journal)
        )
    assert len(fake.requests_to("POST", "/charges")) == 2
    assert set(charges_per_key(fake).values()) == {1}
    assert [r.from_journal for r in again] == [final, final]
    if not final:
        assert all(r.outcome is Outcome.SUCCEEDED for r in again)
        assert all(r["final"] for r in done_records(journal).values())
