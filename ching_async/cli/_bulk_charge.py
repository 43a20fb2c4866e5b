"""``ching bulk-charge FILE.csv --job-id ID``: validate the file, then charge it.

Also the job runner shared with ``ching demo``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import math
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO, Unpack

import attrs
from rich.table import Table
from rich.text import Text

from .. import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    Client,
    NotFoundError,
    PermissionDeniedError,
)
from .._bulk import BulkOptions, BulkSummary, ChargeParams, ChargeResult, Outcome
from ._amounts import format_agorot, format_money
from ._csv import BillingFile, Validation
from ._env import connect, current_target
from ._errors import ExitCode, UsageError
from ._output import Output, describe_error, one_line
from ._progress import BulkProgress, ProgressMode

__all__ = [
    "JobReport",
    "bulk_charge",
    "check_job_options",
    "print_report",
    "run_job",
    "validated_file",
]

# Stricter than the library's check_job_id on purpose: the id names the
# journal file (`<id>.journal.jsonl`) in the working directory.
JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MAX_LISTED_FAILURES = 10
MAX_CONCURRENCY = 1000
RESULT_COLUMNS = [
    "row",
    "index",
    "outcome",
    "from_journal",
    "customer",
    "payment_method",
    "amount",
    "currency",
    "charge_id",
    "charge_status",
    "idempotency_key",
    "attempts",
    "error",
]
OUTCOME_MEANINGS = {
    Outcome.SUCCEEDED: "charged",
    Outcome.DECLINED: "the card was declined; not charged",
    Outcome.FAILED: "rejected or errored; not charged",
    Outcome.UNKNOWN: "may have been charged; re-run the job to reconcile",
}


@attrs.define
class JobReport:
    job_id: str
    rows: int
    summary: BulkSummary = attrs.Factory(BulkSummary)
    charged: dict[str, int] = attrs.Factory(dict)  # currency -> agorot (succeeded rows)
    failures: list[dict[str, Any]] = attrs.Factory(list)  # the first few rows not succeeded
    seconds: float = 0.0
    source: str | None = None
    journal: str | None = None
    output: str | None = None
    refused: str | None = None  # the job stopped because the API refused the key

    def add(self, row: int, result: ChargeResult, writer: ResultsWriter | None) -> None:
        """Count one row's result (the `row` of the file), and write it to --output."""
        self.summary.add(result)
        _account(self, row, result)
        if writer is not None:
            writer.write(row, result)

    @property
    def exit_code(self) -> ExitCode:
        """The refused key first (fix it before anything else), then rows in doubt
        (a re-run reconciles them), then rows not charged (or not reached)."""
        s = self.summary
        if self.refused is not None:
            return ExitCode.CONFIG
        if s.unknown:
            return ExitCode.UNKNOWN
        if s.all_succeeded and s.total == self.rows:
            return ExitCode.OK
        return ExitCode.FAILED

    def to_json(self) -> dict[str, Any]:
        s = self.summary
        return {
            "job_id": self.job_id,
            "file": self.source,
            "rows": self.rows,
            "processed": s.total,
            "succeeded": s.succeeded,
            "declined": s.declined,
            "failed": s.failed,
            "unknown": s.unknown,
            "from_journal": s.from_journal,
            "amount_charged": s.amount_charged,
            "amount_charged_by_currency": dict(self.charged),
            "seconds": round(self.seconds, 3),
            "journal": self.journal,
            "output": self.output,
            "first_failures": self.failures,  # up to MAX_LISTED_FAILURES; --output has all
            "refused": self.refused,
            "exit_code": self.exit_code,
        }


class ResultsWriter:
    """``--output``: one CSV line per row, in completion order (sort by ``row``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._handle: TextIO = path.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
        self._writer = csv.writer(self._handle)
        self._writer.writerow(RESULT_COLUMNS)

    def write(self, row: int, result: ChargeResult) -> None:
        params = result.params if isinstance(result.params, ChargeParams) else None
        charge = result.charge
        self._writer.writerow(
            [
                row,
                result.index,
                result.outcome.value,
                "yes" if result.from_journal else "no",
                params.customer if params else "",
                params.payment_method if params else "",
                params.amount if params else "",
                params.currency if params else "",
                result.charge_id or "",
                str(charge.status) if charge is not None else "",
                result.idempotency_key,
                result.attempts,
                _error_text(result) or "",
            ]
        )

    def close(self) -> None:
        self._handle.close()


async def run_job(
    client: Client,
    items: Iterable[ChargeParams],
    *,
    rows: int,
    out: Output,
    row_of: Callable[[int], int] = lambda index: index + 2,
    writer: ResultsWriter | None = None,
    progress: ProgressMode = "auto",
    label: str = "charging",
    stop_after: int | None = None,
    **options: Unpack[BulkOptions],
) -> JobReport:
    """Charge `items` with `charges.create_many`'s `options` (`job_id`,
    `concurrency`, `journal`...), showing progress; `stop_after` ends the job
    early (the demo's crash).

    Ctrl-C or SIGTERM: the engine lets the rows in flight settle (or records
    them in doubt) and closes the journal; the "interrupted" line says so.
    """
    job_id, journal = options["job_id"], options.get("journal")
    report = JobReport(job_id=job_id, rows=rows, journal=str(journal) if journal else None)
    summary = report.summary
    started = time.perf_counter()
    try:
        with BulkProgress(
            out.stderr, rows, mode=progress, label=label, console=out.err_console
        ) as bar:
            options["on_settle_wait"] = lambda seconds, items: bar.countdown(
                settle_message(seconds, items), seconds
            )
            async with client.charges.create_many(items, **options) as run:
                async for result in run:
                    report.add(row_of(result.index), result, writer)
                    bar.update(summary)
                    if isinstance(result.error, AuthenticationError | PermissionDeniedError):
                        # Every other row would fail the same way: stop now.
                        report.refused = describe_error(result.error)
                        break
                    if stop_after is not None and summary.total >= stop_after:
                        break
    except asyncio.CancelledError:
        resume = " re-run the same command to resume;" if journal else ""
        out.interrupted(
            f"after {summary.total:,} of {rows:,} rows ({summary.succeeded:,} succeeded);"
            f"{resume} rows that were in flight settled or are looked up by their "
            "idempotency keys first, never charged twice",
            {
                "job_id": job_id,
                "rows": rows,
                "processed": summary.total,
                "succeeded": summary.succeeded,
                "journal": report.journal,
            },
        )
        raise
    finally:
        report.seconds = time.perf_counter() - started
    return report


def settle_message(seconds: float, items: int) -> str:
    """What a resume waits for before it looks up the rows an earlier run left in doubt."""
    until = time.strftime("%H:%M:%S", time.localtime(time.time() + seconds))
    rows = "1 row" if items == 1 else f"{items:,} rows"
    return (
        f"resuming: waiting {math.ceil(seconds)} s (until {until}) before looking up the "
        f"{rows} an earlier run left in doubt: its last requests may still be settling "
        "on the server (its attempt timeouts and settle time after its last journal "
        "write), and a lookup before then could miss a charge and send it twice"
    )


def _account(report: JobReport, row: int, result: ChargeResult) -> None:
    params = result.params if isinstance(result.params, ChargeParams) else None
    if result.outcome is Outcome.SUCCEEDED:
        currency = params.currency if params else "ils"
        if result.charge is not None:
            amount = result.charge.amount_captured or result.charge.amount
        else:
            amount = params.amount if params else 0
        report.charged[currency] = report.charged.get(currency, 0) + amount
        return
    if len(report.failures) < MAX_LISTED_FAILURES:
        report.failures.append(
            {
                "row": row,
                "index": result.index,
                "customer": params.customer if params else None,
                "outcome": result.outcome.value,
                "idempotency_key": result.idempotency_key,
                "error": _error_text(result),
            }
        )


def _error_text(result: ChargeResult) -> str | None:
    """Why a row was not charged, in one line (without the request context)."""
    error = result.error
    if isinstance(error, APIError):
        head = " ".join(str(p) for p in (error.status, error.code) if p)
        return one_line(f"{head}: {error.message}" if head else error.message)
    if isinstance(error, APIConnectionError):
        return one_line(f"{type(error).__name__}: {error.message}")
    if error is not None:
        return one_line(f"{type(error).__name__}: {error}")
    if result.error_message:
        return one_line(_CONTEXT_SUFFIX.sub("", result.error_message))
    charge = result.charge
    if charge is not None and charge.failure_message:
        return one_line(f"{charge.failure_code or 'failed'}: {charge.failure_message}")
    return None


_CONTEXT_SUFFIX = re.compile(r" \[[^\]]*\]$")


# ---------------------------------------------------------------- printing
def print_report(
    out: Output,
    report: JobReport,
    *,
    title: str | None = None,
    max_failures: int = MAX_LISTED_FAILURES,
    show_journal: bool = True,
) -> None:
    s = report.summary
    per_second = s.total / report.seconds if report.seconds > 0 else 0.0
    heading = title or f"Job {report.job_id!r}"
    out.print(
        Text.assemble(
            (heading, "bold"),
            f": {s.total:,} of {report.rows:,} rows in {report.seconds:.1f} s "
            f"({per_second:,.0f} rows/s)",
        )
    )
    table = Table(show_header=False, box=None, pad_edge=False, padding=(0, 2, 0, 2))
    table.add_column("outcome")
    table.add_column("count", justify="right")
    table.add_column("meaning")
    styles = {
        Outcome.SUCCEEDED: "green",
        Outcome.DECLINED: "yellow",
        Outcome.FAILED: "red",
        Outcome.UNKNOWN: "magenta",
    }
    for outcome, meaning in OUTCOME_MEANINGS.items():
        count = getattr(s, outcome.value)
        style = styles[outcome] if count else "dim"
        table.add_row(Text(outcome.value, style=style), f"{count:,}", meaning)
    if s.from_journal:
        table.add_row(
            Text("from journal", style="cyan"),
            f"{s.from_journal:,}",
            "of the above: settled by an earlier run, not sent again",
        )
    out.print(table)
    charged = ", ".join(
        f"{format_money(amount, currency)} ({format_agorot(amount)} agorot)"
        if currency == "ils"
        else format_money(amount, currency)
        for currency, amount in sorted(report.charged.items())
    )
    out.print(Text.assemble(("Total charged: ", "bold"), charged or "nothing"))
    if report.failures:
        shown = report.failures[:max_failures]
        more = s.total - s.succeeded - len(shown)
        out.print(Text("Rows not charged:", style="bold"))
        for failure in shown:
            out.print(f"  row {failure['row']}: {failure['outcome']}: {failure['error'] or ''}")
        if more > 0:
            where = f"see {report.output}" if report.output else "use --output FILE to list them"
            out.print(f"  ... and {more:,} more ({where})")
    if report.output:
        out.print(f"Every row's outcome: {report.output}")
    if report.journal and show_journal:
        out.print(f"Journal: {report.journal} (re-run the same command to resume or reconcile)")


# ----------------------------------------------------------------- command
def check_job_options(args: argparse.Namespace) -> None:
    """--job-id and --concurrency, checked before the file is read (here and with --redis)."""
    if not JOB_ID.fullmatch(args.job_id):
        raise UsageError(
            f"--job-id {args.job_id!r} must be 1-100 letters, digits, '.', '_' or '-' "
            "(starting with a letter or digit)"
        )
    if args.concurrency > MAX_CONCURRENCY:
        raise UsageError(f"--concurrency must be at most {MAX_CONCURRENCY}")


def validated_file(args: argparse.Namespace) -> tuple[BillingFile, Validation]:
    """The whole file, validated before anything is charged (a UsageError if a row is bad)."""
    billing = BillingFile(args.file, job_id=args.job_id)
    validation = billing.validate()
    _check_validation(billing, validation)
    return billing, validation


async def bulk_charge(args: argparse.Namespace, out: Output) -> int:
    job_id: str = args.job_id
    check_job_options(args)
    billing, validation = validated_file(args)
    if args.dry_run:
        return _print_dry_run(out, billing, validation)
    if not current_target().fake:
        current_target().settings()  # no usable key or URL: refused before any file is written
    journal = _journal_path(args)
    source = _JobSource(journal, job_id, billing, validation) if journal else None
    if source is not None:
        source.check()
    writer = ResultsWriter(Path(args.output)) if args.output else None
    try:
        async with connect(out) as conn:
            if not conn.embedded:
                await _preflight(conn.client, out, validation)
            if source is not None:
                source.record()
            report = await run_job(
                conn.client,
                billing.params(),
                rows=validation.rows,
                out=out,
                row_of=billing.row_of,
                writer=writer,
                progress=args.progress,
                job_id=job_id,
                concurrency=args.concurrency,
                rate_limit=args.rate,
                journal=journal,
                assume_new=args.new_job,
                item_rate_limit=args.row_rate,
            )
    finally:
        if writer is not None:
            writer.close()
    report.source = str(billing.path)
    report.output = str(writer.path) if writer is not None else None
    if out.json_mode:
        out.emit_json(report.to_json())
    else:
        print_report(out, report)
    if report.refused is not None:
        out.error(
            f"stopped: the API refused the key ({report.refused}); fix it, then run the "
            "same command again (same --job-id): rows already charged are skipped, and "
            "the refused and unreached ones are charged once"
        )
    return report.exit_code


async def _preflight(client: Client, out: Output, validation: Validation) -> None:
    """One cheap GET before charging, so a wrong key or URL fails the job up front
    (rather than failing every row). Then says where the money goes, on stderr."""
    assert validation.first_customer is not None
    with contextlib.suppress(NotFoundError):  # the key works; that row reports its own 404
        await client.charges.list(customer=validation.first_customer)
    totals = ", ".join(format_money(a, c) for c, a in sorted(validation.totals.items()))
    out.notice(
        f"charging {validation.rows:,} rows ({totals}) at {client.base_url} in {client.mode} mode"
    )


def _check_validation(billing: BillingFile, validation: Validation) -> None:
    if validation.error_count:
        details = [str(error) for error in validation.errors]
        hidden = validation.error_count - len(validation.errors)
        if hidden:
            details.append(f"... and {hidden:,} more bad rows")
        noun = "row is" if validation.error_count == 1 else "rows are"
        raise UsageError(
            f"{billing.path}: {validation.error_count:,} {noun} invalid; nothing was charged "
            "(the whole file is checked before any row is charged)",
            details=details,
            data={
                "bad_row_count": validation.error_count,
                "bad_rows": [{"row": e.row, "message": e.message} for e in validation.errors],
            },
        )
    if validation.rows == 0:
        raise UsageError(f"{billing.path}: no rows to charge (only a header)")


def _print_dry_run(out: Output, billing: BillingFile, validation: Validation) -> int:
    if out.json_mode:
        out.emit_json(
            {
                "file": str(billing.path),
                "rows": validation.rows,
                "amount_by_currency": validation.totals,
                "valid": True,
            }
        )
        return ExitCode.OK
    totals = ", ".join(format_money(a, c) for c, a in sorted(validation.totals.items()))
    out.print(f"{billing.path}: {validation.rows:,} valid rows totalling {totals}; nothing sent")
    return ExitCode.OK


def _journal_path(args: argparse.Namespace) -> Path | None:
    if args.no_journal:
        return None
    if args.journal:
        return Path(args.journal)
    return Path(f"{args.job_id}.journal.jsonl")


class _JobSource:
    """Refuse to resume a job from different rows: rows are resumed by position.

    Next to the journal, ``<journal>.source.json`` records which rows the job
    was started with: a fingerprint of the parsed rows (not of the bytes, so
    re-saving the file with other quoting or line endings is fine).
    """

    def __init__(
        self, journal: Path, job_id: str, billing: BillingFile, validation: Validation
    ) -> None:
        self.journal = journal
        self.path = journal.with_name(journal.name + ".source.json")
        self.billing = billing
        self.record_data = {
            "job_id": job_id,
            "file": str(billing.path),
            "rows": validation.rows,
            "fingerprint": validation.fingerprint,
        }

    def check(self) -> None:
        if not (self.journal.exists() and self.path.exists()):
            return
        try:
            known = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read {self.path}: {exc}") from None
        if (
            not isinstance(known, dict)
            or known.get("fingerprint") != self.record_data["fingerprint"]
        ):
            then = known.get("rows") if isinstance(known, dict) else "?"
            raise UsageError(
                f"journal {self.journal} belongs to a job started from different rows than "
                f"{self.billing.path} now holds ({then} rows then, "
                f"{self.record_data['rows']} now); rows are resumed by position, so resuming "
                "could skip or misattribute charges. Restore the original file, or "
                "start a new --job-id"
            )

    def record(self) -> None:
        """Written when a new journal is about to be started."""
        if self.journal.exists():
            return
        try:
            self.path.write_text(json.dumps(self.record_data) + "\n", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot use journal {self.journal}: {exc.strerror or exc}") from None
