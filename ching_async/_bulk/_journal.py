"""The bulk job journal: an append-only JSONL file, one record per line.

Records (`t` is the type):
- `{"t": "job", "job_id", "concurrency", "at"}`: a run started.
- `{"t": "start", "i", "key", "customer", "params"}`: item `i` is about to be sent.
- `{"t": "done", "i", "key", "outcome", "final", "attempts", "charge", "error", "params"}`:
  item `i` ended; `charge` is the raw charge payload, `error` a summary.
- `{"t": "closed", "at"}`: the run ended with no item left in flight.

`params` is the item as its key was used for (PARAM_FIELDS): a resume
compares it with the item now at `i` (`fingerprint`), since keys are matched
to items by position. Journals written before it have none: those records
cannot be compared, and are read as before.

One run at a time: a run holds an exclusive lock (flock) on its journal for
its whole life, taken before the file is read, and released by the OS when
the process ends however it ends. The lock is advisory and per host; on a
platform without fcntl (Windows) there is none.

Every record is written in full (short writes are continued) before the job
moves on, so a killed process (even SIGKILL) loses nothing it wrote. A power
loss (or an OS crash) can take what was not fsynced yet: the file is fsynced
when a run opens it, at least once a second, on close, and before an item is
sent whose index is more than `concurrency` past the highest index already
fsynced, so a resume's doubt window (the highest index it reads, plus the
concurrency) still covers every item that may have been sent. A torn line
(the process died mid-write, or a write failed part way) is ignored on
reading, and the next record starts on a line of its own.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from .._errors import InvalidParameterError, JournalInUseError

__all__ = ["PARAM_FIELDS", "FinishedItem", "Journal", "fingerprint"]

FSYNC_INTERVAL = 1.0

# What a journal records of an item, and a resume compares: the fields that
# charges.create's key-reuse rule compares (its `Listed.same`), as sent. The
# description and metadata are not: the caller's to change, as for one call.
PARAM_FIELDS = ("customer", "payment_method", "amount", "currency", "installments")

_ITEM_RECORDS = frozenset({"start", "done"})
_RECORDS = frozenset({"job", "closed", *_ITEM_RECORDS})


def fingerprint(params: Mapping[str, Any], key: object) -> int:
    """A digest of an item's PARAM_FIELDS and the idempotency key it is sent
    with, equal for the same item: an item whose key changed since its charge
    may have been made (keys made anew for each run) is not the same item,
    or it would be sent again under its new key. Compared within one process
    only (str hashes are salted per process); the journal keeps the fields
    themselves. No installments is one payment, as CHING records it: an
    exported file that fills in 1 is the same item."""
    fields = [params.get(name) for name in PARAM_FIELDS]
    if fields[PARAM_FIELDS.index("installments")] is None:
        fields[PARAM_FIELDS.index("installments")] = 1
    return hash(repr([*fields, key]))


class Journal:
    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        job_id: str,
        concurrency: int,
        outcomes: frozenset[str],
    ) -> None:
        self.path = Path(path)
        self.job_id = job_id
        # The outcomes this version can report from a finished item; any other
        # (a newer version's, a hand edit) leaves the item in doubt.
        self._outcomes = outcomes
        # index -> what an earlier run finished the item with (kept small:
        # a resumed million-item job holds one of these per finished item)
        self.final: dict[int, FinishedItem] = {}
        # indexes that were started, or ended without a final outcome
        self.in_doubt: set[int] = set()
        # in-doubt index -> the fingerprint of the item its key was used for
        self._doubt_prints: dict[int, int] = {}
        # Items past the last recorded start may have been sent if the tail of
        # the file was lost; this many of them are treated as in doubt.
        self.doubt_window_end = -1
        # Wall-clock time of the previous run's last write (None: new journal).
        self.last_written: float | None = None
        self.closed_cleanly = False
        # True when earlier runs of this job wrote here: only then does the
        # absence of an item's records mean no earlier run sent it.
        self.has_history = False
        self._concurrency = concurrency
        # The highest item index written, and the highest surely on disk (see
        # the module docstring: what a power loss may take).
        self._written_highest = -1
        self._synced_highest = -1
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        _OPEN.add(self)
        try:
            if not _lock(self._fd):
                raise JournalInUseError(
                    f"journal {str(self.path)!r} is in use by another run (in this process or "
                    f"another on this host): one journal serves one run at a time, so this run "
                    f"of job {job_id!r} was refused before anything was sent; let the other "
                    "run end (or stop it), then run again to resume",
                    path=str(self.path),
                    job_id=job_id,
                )
            size, self._written_highest = self._load()
            # A file that ends mid-line (a torn record): the next record
            # starts on a line of its own, or both would be unreadable.
            self._torn = size > 0 and _last_byte(self._fd, size) != b"\n"
            self._last_sync = time.monotonic()
            self._write(
                {"t": "job", "job_id": job_id, "concurrency": concurrency, "at": time.time()}
            )
            # What earlier runs wrote, and this run's job record (its
            # concurrency sizes the next resume's doubt window), on disk first.
            self._sync()
        except BaseException:
            self._release()
            raise

    def _load(self) -> tuple[int, int]:
        """Read what earlier runs wrote (under the lock); the file's size and
        the highest item index in it."""
        stat = os.fstat(self._fd)
        if stat.st_size == 0:
            return 0, -1
        self.last_written = stat.st_mtime
        highest, concurrency = -1, 0
        for record in _read_records(self._fd):
            kind = record.get("t")
            if kind not in _RECORDS:
                continue
            # Any record of a run, not only its job record (which a torn line
            # may have taken): items an earlier run started are in doubt.
            self.has_history = True
            # Only a run's last record can say it closed with nothing in flight.
            self.closed_cleanly = kind == "closed"
            if kind == "job":
                if record.get("job_id") != self.job_id:
                    raise InvalidParameterError(
                        f"journal {str(self.path)!r} belongs to job {record.get('job_id')!r}, "
                        f"not {self.job_id!r}"
                    )
                concurrency = max(concurrency, _int(record.get("concurrency")))
            elif kind in _ITEM_RECORDS:
                index = _int(record.get("i"))
                highest = max(highest, index)
                self._read_item(index, kind, record)
        self.doubt_window_end = highest + concurrency
        return stat.st_size, highest

    def _read_item(self, index: int, kind: str, record: Mapping[str, Any]) -> None:
        params = record.get("params")
        printed = fingerprint(params, record.get("key")) if isinstance(params, dict) else None
        if (
            kind == "done"
            and record.get("final") is True
            and record.get("outcome") in self._outcomes
        ):
            self.final[index] = FinishedItem.from_record(record, printed)
            self.in_doubt.discard(index)
            self._doubt_prints.pop(index, None)
            return
        if kind == "start" and index in self.final:
            return
        self.in_doubt.add(index)
        if printed is not None:
            self._doubt_prints[index] = printed

    def is_in_doubt(self, index: int) -> bool:
        """True when item `index` may have been sent by an earlier run."""
        if index in self.final:
            return False
        return index in self.in_doubt or index <= self.doubt_window_end

    def fingerprint_of(self, index: int) -> int | None:
        """The fingerprint of the item an earlier run used item `index`'s key
        for; None when no record says (none, or from before `params`)."""
        done = self.final.get(index)
        if done is not None:
            return done.fingerprint
        return self._doubt_prints.get(index)

    def recorded(self, index: int) -> tuple[Mapping[str, Any] | None, str | None]:
        """The last record of item `index` with its `params`, and the id of the
        charge an earlier run made for it, if any (read again from the file:
        only a refused resume asks, once)."""
        found: Mapping[str, Any] | None = None
        charge_id = None
        with self.path.open("rb") as handle:
            for record in _records(handle):
                if record.get("t") not in _ITEM_RECORDS or record.get("i") != index:
                    continue
                if isinstance(record.get("params"), dict):
                    found = record
                charge = record.get("charge")
                if isinstance(charge, dict) and isinstance(charge.get("id"), str):
                    charge_id = charge["id"]
        return found, charge_id

    def record_start(self, index: int, key: str, params: Mapping[str, Any]) -> None:
        customer = params["customer"]
        self._write({"t": "start", "i": index, "key": key, "customer": customer, "params": params})
        self._written_highest = max(self._written_highest, index)
        if index > self._synced_highest + self._concurrency:
            # Past what a resume's doubt window would cover if the unsynced
            # records were lost: on disk before the item is sent.
            self._sync()

    def record_done(
        self,
        index: int,
        key: str,
        *,
        outcome: str,
        final: bool,
        attempts: int,
        charge: Mapping[str, Any] | None,
        error: Mapping[str, Any] | None,
        params: Mapping[str, Any] | None,
    ) -> None:
        record = {
            "t": "done",
            "i": index,
            "key": key,
            "outcome": outcome,
            "final": final,
            "attempts": attempts,
            "charge": charge,
            "error": error,
            "params": params,
        }
        self._write(record)

    def _write(self, record: Mapping[str, Any]) -> None:
        line = orjson.dumps(record) + b"\n"
        self._write_all(b"\n" + line if self._torn else line)
        if time.monotonic() - self._last_sync >= FSYNC_INTERVAL:
            self._sync()

    def _sync(self) -> None:
        os.fsync(self._fd)
        self._last_sync = time.monotonic()
        self._synced_highest = self._written_highest

    def _write_all(self, data: bytes) -> None:
        """Write `data` in full: os.write may write part of it (a nearly full
        disk). A failure part way leaves a torn line, which the next record
        does not join."""
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            if written <= 0:
                raise OSError(
                    errno.EIO,
                    f"journal {str(self.path)!r}: a write of {len(view)} bytes wrote "
                    "nothing, so a record is incomplete (is the disk full?)",
                )
            self._torn = True  # until the whole line is written (a raise leaves it so)
            view = view[written:]
        self._torn = False

    def close(self, *, clean: bool = False) -> None:
        """`clean`: every started item ended (none left in flight)."""
        if self._fd < 0:
            return
        try:
            if clean:
                self._write({"t": "closed", "at": time.time()})
            os.fsync(self._fd)
        finally:
            # Even when the disk is full: the run has ended, so a retry in
            # this process must not find the journal "in use".
            self._release()

    def _release(self) -> None:
        os.close(self._fd)  # and with it the lock
        self._fd = -1
        _OPEN.discard(self)


# The journals open in this process. A child forked while one is open shares
# its open file, and with it the lock, which would outlive the parent's run:
# the child closes its copy at once (never unlocking: that would free the
# parent's lock too).
_OPEN: weakref.WeakSet[Journal] = weakref.WeakSet()


def _close_in_child() -> None:
    for journal in list(_OPEN):
        with contextlib.suppress(OSError):
            os.close(journal._fd)
        journal._fd = -1
    _OPEN.clear()


os.register_at_fork(after_in_child=_close_in_child)


class FinishedItem(NamedTuple):
    outcome: str
    key: str
    attempts: int
    charge_id: str | None
    error: str | None
    fingerprint: int | None  # of the item it finished (None: not recorded)

    @classmethod
    def from_record(cls, record: Mapping[str, Any], printed: int | None) -> FinishedItem:
        charge = record.get("charge")
        error = record.get("error")
        return cls(
            outcome=str(record.get("outcome")),
            key=str(record.get("key")),
            attempts=_int(record.get("attempts")),
            charge_id=str(charge.get("id")) if isinstance(charge, dict) else None,
            error=str(error.get("message")) if isinstance(error, dict) else None,
            fingerprint=printed,
        )


if sys.platform == "win32":

    def _lock(fd: int) -> bool:
        """No lock without fcntl: one run at a time is the caller's to keep (README)."""
        return True

else:
    import fcntl

    def _lock(fd: int) -> bool:
        """Take the journal's exclusive lock; False when another run holds it."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


def _last_byte(fd: int, size: int) -> bytes:
    os.lseek(fd, size - 1, os.SEEK_SET)  # appends go to the end wherever this is
    return os.read(fd, 1)


def _read_records(fd: int) -> Iterator[dict[str, Any]]:
    """The records of the file open at `fd`, from its start."""
    with open(os.dup(fd), "rb") as handle:
        handle.seek(0)
        yield from _records(handle)


def _records(lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    for line in lines:
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # a torn line from a killed process
        if isinstance(record, dict):
            yield record


def _int(value: Any) -> int:
    return value if type(value) is int else -1
