"""Live progress of a bulk job, on stderr.

- ``bar``: a rich progress bar with running counts (the default on a terminal);
- ``lines``: a plain line at every 10% and at the end (the default when stderr
  is not a terminal: CI logs, pipes, files);
- ``off``: nothing.

A resume that must wait before it can look up rows an earlier run left in
doubt says so (`countdown`) in every mode; the bar counts the wait down.

stdout is never touched, so ``--json`` output and redirected results are clean.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING, Literal, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

if TYPE_CHECKING:
    from .._bulk import BulkSummary

__all__ = ["BulkProgress", "ProgressMode"]

ProgressMode = Literal["auto", "bar", "lines", "off"]
LINE_INTERVAL = 30.0  # seconds: in lines mode, also report at least this often


class BulkProgress:
    def __init__(
        self,
        stream: TextIO,
        total: int,
        *,
        mode: ProgressMode = "auto",
        label: str = "charging",
        console: Console | None = None,
    ) -> None:
        self._stream = stream
        self._total = max(total, 0)
        self._label = label
        self._console = console or Console(file=stream, highlight=False)
        if mode == "auto":
            mode = "bar" if self._console.is_terminal else "lines"
        self.mode = mode
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._next_step = 1  # lines mode: the next tenth to report
        self._last_line = time.monotonic()
        self._done = 0

    def __enter__(self) -> BulkProgress:
        if self.mode == "bar":
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[counts]}"),
                _Countdown(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=self._console,
                refresh_per_second=8,
            )
            self._progress.start()
            self._task = self._progress.add_task(
                self._label, total=self._total, counts="", waiting_until=0.0
            )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def update(self, summary: BulkSummary) -> None:
        """Show the counts after one more result."""
        self._done = summary.total
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=self._done, counts=_markup(summary))
        elif self.mode == "lines":
            self._maybe_line(summary)

    def countdown(self, message: str, seconds: float) -> None:
        """Say `message` (why the job waits), and on the bar count `seconds` down."""
        if self._progress is not None and self._task is not None:
            self._progress.console.print(f"ching: {message}")  # above the bar, not through it
            until = time.monotonic() + seconds
            self._progress.update(self._task, waiting_until=until)
            return
        self._stream.write(f"ching: {message}\n")
        self._stream.flush()

    def _maybe_line(self, summary: BulkSummary) -> None:
        now = time.monotonic()
        step = self._done * 10 // self._total if self._total else 10
        if step < self._next_step and now - self._last_line < LINE_INTERVAL:
            return
        self._next_step = step + 1
        self._last_line = now
        percent = f" ({self._done * 100 // self._total}%)" if self._total else ""
        self._stream.write(
            f"{self._label}: {self._done:,}/{self._total:,} rows{percent}: "
            f"{summary.succeeded:,} succeeded, {summary.declined:,} declined, "
            f"{summary.failed:,} failed, {summary.unknown:,} unknown\n"
        )
        self._stream.flush()


def _markup(summary: BulkSummary) -> str:
    parts = [f"[green]{summary.succeeded:,} ok[/]"]
    for count, style, word in (
        (summary.declined, "yellow", "declined"),
        (summary.failed, "red", "failed"),
        (summary.unknown, "magenta", "unknown"),
    ):
        if count:
            parts.append(f"[{style}]{count:,} {word}[/]")
    return " ".join(parts)


class _Countdown(ProgressColumn):
    """While the job waits (`BulkProgress.countdown`): the seconds left."""

    def render(self, task: Task) -> Text:
        left = float(task.fields.get("waiting_until", 0.0)) - time.monotonic()
        if left <= 0:
            return Text("")
        return Text(f"resuming in {int(left) + 1} s", style="magenta")
