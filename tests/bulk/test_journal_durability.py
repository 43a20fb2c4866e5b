"""What a journal keeps when its run's machine loses power, its disk fills,
or its process forks; and which items it takes for the same item."""

from __future__ import annotations

import errno
import os
import signal
import time
import warnings
from pathlib import Path
from typing import Any

import orjson
import pytest

import ching_async
from ching_async import Outcome
from ching_async._bulk import _journal
from ching_async._bulk._journal import Journal, fingerprint
from ching_async.testing import FakeChing
from tests._support.fake_client import collect

OUTCOMES = frozenset(Outcome)
PARAMS = {
    "customer": "cus_1",
    "payment_method": "pm_1",
    "amount": 1000,
    "currency": "ils",
    "installments": None,
}


def open_journal(path: Path, *, concurrency: int = 2) -> Journal:
    return Journal(path, job_id="job", concurrency=concurrency, outcomes=OUTCOMES)


@pytest.mark.parametrize("concurrency", [1, 2, 5])
def test_a_power_loss_leaves_every_item_that_may_have_been_sent_in_doubt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, concurrency: int
) -> None:
    """Only what was fsynced survives a power loss: a resume from that must
    still count every item whose start was written (and which may then have
    been sent) as in doubt, however fast the items went."""
    path = tmp_path / "job.jsonl"
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        real_fsync(fd)
        synced.append(os.fstat(fd).st_size)

    monkeypatch.setattr(_journal.os, "fsync", fsync)
    journal = open_journal(path, concurrency=concurrency)
    sent = []
    for index in range(40):  # well within the once-a-second fsync
        journal.record_start(index, f"job:{index}", PARAMS)
        sent.append(index)  # the engine sends the item right after its start
        # The power fails here: the disk holds what the last fsync covered.
        survived = tmp_path / f"after-{index}.jsonl"
        survived.write_bytes(path.read_bytes()[: synced[-1] if synced else 0])
        resumed = open_journal(survived, concurrency=concurrency)
        assert [i for i in sent if not resumed.is_in_doubt(i)] == []
        resumed.close()
    journal.close()


def test_a_journal_whose_close_fails_is_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk fails the `closed` record: the run has ended all the same,
    so a retry in this process opens the journal instead of finding it in use."""
    path = tmp_path / "job.jsonl"
    journal = open_journal(path)

    def full(data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(journal, "_write_all", full)
    with pytest.raises(OSError, match="No space"):
        journal.close(clean=True)
    open_journal(path).close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_child_forked_during_a_run_does_not_keep_its_journal(tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"
    journal = open_journal(path)
    ready, started = os.pipe()
    with warnings.catch_warnings():
        # 3.12+ warns when the process has threads; this child only sleeps.
        warnings.simplefilter("ignore", DeprecationWarning)
        child = os.fork()
    if child == 0:  # the child lives on past the parent's run
        os.write(started, b"1")  # fork has returned here: its hooks have run
        time.sleep(30)
        os._exit(0)
    os.read(ready, 1)
    os.close(ready)
    os.close(started)
    try:
        journal.close()
        open_journal(path).close()  # the parent's run ended: the journal is free
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)


@pytest.mark.parametrize(
    ("first", "again", "same"),
    [
        ({"installments": None}, {"installments": 1}, True),  # one payment either way
        ({"installments": 1}, {"installments": None}, True),
        ({"installments": None}, {"installments": 3}, False),
        ({"amount": 1000}, {"amount": 1001}, False),
    ],
)
def test_an_item_is_the_same_item_as_charges_create_takes_it(
    first: dict[str, Any], again: dict[str, Any], same: bool
) -> None:
    assert (fingerprint(PARAMS | first, "job:0") == fingerprint(PARAMS | again, "job:0")) is same
    assert fingerprint(PARAMS, "job:0") != fingerprint(PARAMS, "job:1")  # another key


async def test_an_amount_beyond_jsons_integers_fails_its_item_only(
    client: ching_async.Client, tmp_path: Path
) -> None:
    """Refused as invalid like any bad amount (it cannot be journaled, nor
    sent as written), not a raw TypeError stopping the whole job."""
    with pytest.raises(ching_async.InvalidParameterError, match="at most"):
        await client.charges.create(customer="cus_1", payment_method="pm_1", amount=2**64)
    item = {"customer": "cus_1", "payment_method": "pm_1", "amount": 2**64}
    run = client.charges.create_many([item], job_id="big", journal=tmp_path / "big.jsonl")
    [result] = await collect(run)
    assert result.outcome is Outcome.FAILED
    assert "at most" in str(result.error_message)


async def test_an_item_whose_own_key_changed_while_in_doubt_is_not_sent_again(
    fake: FakeChing, client: ching_async.Client, tmp_path: Path
) -> None:
    """An earlier run sent item 0 under its own key and died before the
    answer: that charge may exist. A resume that brings the item with a new
    key (keys made anew for each run) would look the new key up, find
    nothing and charge again: the item is not the one its record was for."""
    customer = fake.add_customer(name="A", email="a@example.com")
    card = fake.add_payment_method(customer.id)
    sent = {"customer": customer.id, "payment_method": card.id, "amount": 1000}
    params = sent | {"currency": "ils", "installments": None}
    path = tmp_path / "job.jsonl"
    records = [
        {"t": "job", "job_id": "inv", "concurrency": 1, "at": time.time() - 3600},
        {"t": "start", "i": 0, "key": "inv-old", "customer": customer.id, "params": params},
    ]
    path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    an_hour_ago = time.time() - 3600  # the dead run's requests have surely ended
    os.utime(path, (an_hour_ago, an_hour_ago))
    item = sent | {"idempotency_key": "inv-new"}
    run = client.charges.create_many([item], job_id="inv", journal=path, assume_new=True)
    with pytest.raises(ching_async.IdempotencyKeyReusedError, match="inv-new"):
        await collect(run)
    assert fake.charges() == []
