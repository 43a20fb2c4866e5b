"""The billing CSV of ``ching bulk-charge``: format, validation, and streaming.

Format (UTF-8, comma-separated, a header row first; column order is free)::

    customer,payment_method,amount[,currency,description,installments,idempotency_key,metadata.<key>...]

- ``customer``, ``payment_method``: ids (``cus_...``, ``pm_...``), required.
- ``amount``: a positive whole number of agorot (49.90 ILS is ``4990``), required.
  A decimal (``49.90``) is rejected with the agorot to use instead.
- ``currency``: ISO 4217 code, default ``ils``.
- ``description``: text stored on the charge and shown on the receipt.
- ``installments``: a whole number >= 1 (monthly installments).
- ``idempotency_key``: your own key for the row (e.g. an invoice id); unique in
  the file. Without one the row's key is ``<job-id>:<index>``.
- ``metadata.<key>``: one column per metadata key; empty cells are left out.

Empty optional cells mean "not given". Blank lines are skipped. Row numbers in
messages count the header as row 1, as a spreadsheet shows them.

The whole file is validated first, streaming (memory does not grow with the
file, except for the explicit idempotency keys kept to find repeats). If any
row is bad, every bad row is reported (the first 20 in detail) and nothing is
charged. Charging then reads the file a second time, lazily.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import re
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import attrs
import orjson

from .. import IDEMPOTENCY_METADATA_KEY, InvalidParameterError
from .._bulk import ChargeParams
from ._amounts import AmountError, parse_agorot
from ._errors import UsageError

__all__ = ["COLUMNS", "BillingFile", "RowError", "Validation"]

REQUIRED = ("customer", "payment_method", "amount")
OPTIONAL = ("currency", "description", "installments", "idempotency_key")
METADATA_PREFIX = "metadata."
COLUMNS = (
    "customer,payment_method,amount"
    "[,currency,description,installments,idempotency_key,metadata.<key>...]"
)
MAX_REPORTED_ERRORS = 20
# What errors="surrogateescape" decodes a byte that is not UTF-8 to (valid UTF-8 never
# decodes to a lone surrogate).
_UNDECODED = re.compile("[\udc80-\udcff]")


@attrs.frozen
class RowError:
    row: int  # the header is row 1
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.message}"


@attrs.define
class Validation:
    rows: int = 0  # valid data rows
    error_count: int = 0  # invalid data rows
    errors: list[RowError] = attrs.Factory(list)  # the first MAX_REPORTED_ERRORS of them
    totals: dict[str, int] = attrs.Factory(dict)  # currency -> agorot over valid rows
    fingerprint: str = ""  # sha256 over the parsed rows, in order
    first_customer: str | None = None


class _RowProblem(Exception):
    pass


@attrs.frozen
class _Header:
    width: int
    positions: dict[str, int]  # column name -> position
    metadata: tuple[tuple[str, int], ...]  # (metadata key, position)


class BillingFile:
    """A billing CSV, read twice: once to validate it all, once to charge it."""

    def __init__(self, path: str | Path, *, job_id: str | None = None) -> None:
        self.path = Path(path)
        self._job_id = job_id
        self._row_numbers = array("L")  # item index -> row number, filled by validate()
        self._validation: Validation | None = None

    # ------------------------------------------------------------ pass one
    def validate(self, max_errors: int = MAX_REPORTED_ERRORS) -> Validation:
        """Check every row; raise UsageError for a bad header or unreadable file."""
        result = Validation()
        digest = hashlib.sha256()
        seen_keys: dict[str, int] = {}
        self._row_numbers = array("L")
        for row, item in self._parsed_rows():
            problem = item if isinstance(item, str) else None
            if problem is None:
                assert isinstance(item, ChargeParams)
                problem = self._repeated_key(item, row, seen_keys)
            if problem is not None:
                result.error_count += 1
                if len(result.errors) < max_errors:
                    result.errors.append(RowError(row, problem))
                continue
            assert isinstance(item, ChargeParams)
            result.rows += 1
            if result.first_customer is None:
                result.first_customer = item.customer
            self._row_numbers.append(row)
            result.totals[item.currency] = result.totals.get(item.currency, 0) + item.amount
            digest.update(_canonical(item))
        result.fingerprint = digest.hexdigest()
        self._validation = result
        return result

    def _repeated_key(self, item: ChargeParams, row: int, seen: dict[str, int]) -> str | None:
        key = item.idempotency_key
        if key is None:
            return None
        if self._job_id is not None and key.startswith(f"{self._job_id}:"):
            return (
                f"idempotency_key {key!r} starts with '{self._job_id}:', which is reserved "
                "for the keys of rows without one"
            )
        first = seen.setdefault(key, row)
        if first != row:
            return f"idempotency_key {key!r} repeats row {first}; each row needs its own"
        return None

    # ------------------------------------------------------------ pass two
    def params(self) -> Iterator[ChargeParams]:
        """The rows again, lazily, as ChargeParams. Call validate() first.

        The file must not change in between: a row that no longer parses, or
        a different set of rows, stops the job.
        """
        if self._validation is None:
            raise RuntimeError("validate() the file before charging it")
        expected = self._validation
        digest = hashlib.sha256()
        count = 0
        for row, item in self._parsed_rows():
            if isinstance(item, str) or count >= expected.rows or self._row_numbers[count] != row:
                raise self._changed()
            digest.update(_canonical(item))
            count += 1
            yield item
        if count != expected.rows or digest.hexdigest() != expected.fingerprint:
            raise self._changed()

    def row_of(self, index: int) -> int:
        """The row number (header = 1) of bulk item `index`."""
        return int(self._row_numbers[index])

    def _changed(self) -> UsageError:
        return UsageError(
            f"{self.path} changed while it was being charged; stopped. Re-run the same "
            "command with the original file to finish the job"
        )

    # ------------------------------------------------------------ parsing
    def _parsed_rows(self) -> Iterator[tuple[int, ChargeParams | str]]:
        """(row number, ChargeParams or the reason the row is bad), blank rows skipped."""
        with self._open() as handle:
            reader = csv.reader(handle, strict=True)
            row = 0
            try:
                first = next(reader, None)
                self._check_utf8(first or [], 1)
                header = self._header(first)
                row = 1
                for row, fields in enumerate(reader, start=2):
                    self._check_utf8(fields, row)
                    if not any(field.strip() for field in fields):
                        continue
                    try:
                        yield row, _params(fields, header)
                    except _RowProblem as problem:
                        yield row, str(problem)
            except csv.Error as exc:
                raise UsageError(f"{self.path}: row {row + 1}: not valid CSV: {exc}") from None

    def _open(self) -> TextIO:
        try:
            # utf-8-sig: a byte-order mark (as Excel writes) is not part of the header.
            # surrogateescape: a bad byte is found in its csv row (_check_utf8), not
            # in whichever 8 KiB block the decoder happened to be reading.
            return self.path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")
        except OSError as exc:
            raise UsageError(f"cannot read {self.path}: {exc.strerror or exc}") from None

    def _check_utf8(self, fields: list[str], row: int) -> None:
        if any(_UNDECODED.search(field) for field in fields if not field.isascii()):
            raise UsageError(f"{self.path}: row {row}: not valid UTF-8; save the file as UTF-8 CSV")

    def _header(self, fields: list[str] | None) -> _Header:
        if fields is None or not any(f.strip() for f in fields):
            raise UsageError(
                f"{self.path}: the file is empty; its first row must be the header: {COLUMNS}"
            )
        positions: dict[str, int] = {}
        metadata: list[tuple[str, int]] = []
        problems: list[str] = []
        for position, raw in enumerate(fields):
            name = raw.strip()
            if name.lower().startswith(METADATA_PREFIX):
                key = name[len(METADATA_PREFIX) :]
                if not key:
                    problems.append(f"column {position + 1}: 'metadata.' needs a key")
                elif key == IDEMPOTENCY_METADATA_KEY:
                    problems.append(f"metadata key {key!r} is reserved; use idempotency_key")
                elif any(key == k for k, _ in metadata):
                    problems.append(f"column {name!r} appears twice")
                else:
                    metadata.append((key, position))
                continue
            name = name.lower()
            if name in positions:
                problems.append(f"column {name!r} appears twice")
            elif name in REQUIRED or name in OPTIONAL:
                positions[name] = position
            else:
                problems.append(_unknown_column(name, len(fields)))
        missing = [name for name in REQUIRED if name not in positions]
        if missing:
            problems.append(f"missing required column(s): {', '.join(missing)}")
        if problems:
            raise UsageError(
                f"{self.path}: bad header row: {'; '.join(problems)}. Expected: {COLUMNS}"
            )
        return _Header(width=len(fields), positions=positions, metadata=tuple(metadata))


def _unknown_column(name: str, width: int) -> str:
    if width == 1 and (";" in name or "\t" in name):
        return f"the header {name!r} is not comma-separated (use commas, not ';' or tabs)"
    known = [*REQUIRED, *OPTIONAL]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown column {name!r}{hint}"


def _params(fields: list[str], header: _Header) -> ChargeParams:
    if len(fields) != header.width:
        raise _RowProblem(f"has {len(fields)} fields, but the header has {header.width}")
    problems: list[str] = []

    def cell(name: str) -> str | None:
        position = header.positions.get(name)
        if position is None:
            return None
        return fields[position].strip() or None

    item: dict[str, Any] = {}
    for name in ("customer", "payment_method"):
        value = cell(name)
        if value is None:
            problems.append(f"{name} is empty")
        item[name] = value
    amount = cell("amount")
    try:
        item["amount"] = parse_agorot(amount or "")
    except AmountError as exc:
        problems.append(str(exc))
    currency = cell("currency")
    if currency is not None:
        item["currency"] = currency.lower()
    item["description"] = cell("description")
    installments = cell("installments")
    if installments is not None:
        if installments.isdigit() and int(installments) >= 1:
            item["installments"] = int(installments)
        else:
            problems.append(f"installments must be a whole number >= 1, got {installments!r}")
    item["idempotency_key"] = cell("idempotency_key")
    metadata = {key: fields[pos].strip() for key, pos in header.metadata if fields[pos].strip()}
    item["metadata"] = metadata or None
    if problems:
        raise _RowProblem("; ".join(problems))
    try:
        params = ChargeParams.from_mapping(item)
        if params.idempotency_key is not None:
            from .._validation import check_idempotency_key

            check_idempotency_key(params.idempotency_key)
    except InvalidParameterError as exc:
        raise _RowProblem(str(exc)) from None
    return params


def _canonical(params: ChargeParams) -> bytes:
    fields = attrs.asdict(params)
    return orjson.dumps(fields, option=orjson.OPT_SORT_KEYS) + b"\n"
