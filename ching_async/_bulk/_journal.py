"""The bulk job journal: an append-only JSONL file, one record per line.

Records (`t` is the type):
- `{"t": "job", "job_id", "concurrency", "at"}`: a run started.
- `{"t": "start", "i", "key", "customer"}`: item `i` is about to be sent.
- `{"t": "done", "i", "key", "outcome", "final", "attempts", "charge", "error"}`:
  item `i` ended; `charge` is the raw charge payload, `error` a summary.
- `{"t": "closed", "at"}`: the run ended with no item left in flight.

Every record is written with one `write(2)` before the job moves on, so a
killed process (even SIGKILL) loses nothing it wrote; the file is fsynced at
least once a second and on close, which bounds what a power loss can take.
A torn last line (the process died mid-write) is ignored on reading.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from .._errors import InvalidParameterError

__all__ = ["FinishedItem", "Journal"]

FSYNC_INTERVAL = 1.0


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
        # Items past the last recorded start may have been sent if the tail of
        # the file was lost; this many of them are treated as in doubt.
        self.doubt_window_end = -1
        # Wall-clock time of the previous run's last write (None: new journal).
        self.last_written: float | None = None
        self.closed_cleanly = False
        # True when earlier runs of this job wrote here: only then does the
        # absence of an item's records mean no earlier run sent it.
        self.has_history = False
        self._load()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._last_sync = time.monotonic()
        self._write({"t": "job", "job_id": job_id, "concurrency": concurrency, "at": time.time()})

    def _load(self) -> None:
        if not self.path.exists():
            return
        self.last_written = self.path.stat().st_mtime
        highest, concurrency = -1, 0
        for record in _read_records(self.path):
            kind = record.get("t")
            # Only a run's last record can say it closed with nothing in flight.
            self.closed_cleanly = kind == "closed"
            if kind == "job":
                self.has_history = True
                if record.get("job_id") != self.job_id:
                    raise InvalidParameterError(
                        f"journal {str(self.path)!r} belongs to job {record.get('job_id')!r}, "
                        f"not {self.job_id!r}"
                    )
                concurrency = max(concurrency, _int(record.get("concurrency")))
            elif kind == "start":
                index = _int(record.get("i"))
                highest = max(highest, index)
                if index not in self.final:
                    self.in_doubt.add(index)
            elif kind == "done":
                index = _int(record.get("i"))
                highest = max(highest, index)
                if record.get("final") is True and record.get("outcome") in self._outcomes:
                    self.final[index] = FinishedItem.from_record(record)
                    self.in_doubt.discard(index)
                else:
                    self.in_doubt.add(index)
        self.doubt_window_end = highest + concurrency

    def is_in_doubt(self, index: int) -> bool:
        """True when item `index` may have been sent by an earlier run."""
        if index in self.final:
            return False
        return index in self.in_doubt or index <= self.doubt_window_end

    def record_start(self, index: int, key: str, customer: str) -> None:
        self._write({"t": "start", "i": index, "key": key, "customer": customer})

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
        }
        self._write(record)

    def _write(self, record: Mapping[str, Any]) -> None:
        os.write(self._fd, orjson.dumps(record) + b"\n")
        now = time.monotonic()
        if now - self._last_sync >= FSYNC_INTERVAL:
            os.fsync(self._fd)
            self._last_sync = now

    def close(self, *, clean: bool = False) -> None:
        """`clean`: every started item ended (none left in flight)."""
        if self._fd < 0:
            return
        if clean:
            self._write({"t": "closed", "at": time.time()})
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1


class FinishedItem(NamedTuple):
    outcome: str
    key: str
    attempts: int
    charge_id: str | None
    error: str | None

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> FinishedItem:
        charge = record.get("charge")
        error = record.get("error")
        return cls(
            outcome=str(record.get("outcome")),
            key=str(record.get("key")),
            attempts=_int(record.get("attempts")),
            charge_id=str(charge.get("id")) if isinstance(charge, dict) else None,
            error=str(error.get("message")) if isinstance(error, dict) else None,
        )


def _read_records(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as handle:
        for line in handle:
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # a torn line from a killed process
            if isinstance(record, dict):
                yield record


def _int(value: Any) -> int:
    return value if type(value) is int else -1
