"""Amount parsing and the billing CSV format, without any server."""

from __future__ import annotations

from pathlib import Path

import pytest

from ching_async.cli._amounts import AmountError, format_money, parse_agorot
from ching_async.cli._csv import BillingFile
from ching_async.cli._errors import UsageError

HEADER = "customer,payment_method,amount\n"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "billing.csv"


@pytest.mark.parametrize(
    ("text", "agorot"), [("4990", 4990), (" 1 ", 1), ("+250", 250), ("007", 7)]
)
def test_whole_agorot_are_accepted(text: str, agorot: int) -> None:
    assert parse_agorot(text) == agorot


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("49.90", "use 4990 for 49.90 ILS"),
        ("49.9", "use 4990 for 49.9 ILS"),
        ("49.", "not a whole number"),
        (".5", "use 50 for .5 ILS"),
        ("100.00", "use 10000 for 100.00 ILS"),
        ("1.999", "more than 2 places"),
        ("4,990", "plain agorot: 4990"),
        ("0", "greater than 0"),
        ("0.00", "greater than 0"),
        ("-5", "greater than 0"),
        ("", "empty"),
        ("1e3", "not a whole number"),
        ("₪49", "not a whole number"),
    ],
)
def test_anything_else_is_rejected_with_a_reason(text: str, hint: str) -> None:
    with pytest.raises(AmountError, match=r"agorot|greater than 0") as info:
        parse_agorot(text)
    assert hint in str(info.value)


def test_format_money() -> None:
    assert format_money(4990, "ils") == "49.90 ILS"
    assert format_money(123456789, "usd") == "1,234,567.89 USD"
    assert format_money(5, None) == "0.05 ILS"
    assert format_money(None, "ils") == "-"


def write(tmp_path: Path, text: str, name: str = "billing.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_sample_file_is_valid() -> None:
    result = BillingFile(EXAMPLE).validate()
    assert (result.rows, result.error_count) == (6, 0)
    assert result.totals == {"ils": 203380}


def test_every_column_is_parsed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "\ufeffCustomer, payment_method ,amount,currency,description,installments,"
        "idempotency_key,metadata.invoice,metadata.Plan\n"
        'cus_1,pm_1,4990,USD,"Pro plan, May",3,inv-1,INV-1,pro\n'
        "cus_2,pm_2,100,,,,,,\n",
    )
    billing = BillingFile(path)
    assert billing.validate().rows == 2
    first, second = list(billing.params())
    assert first.currency == "usd"
    assert first.description == "Pro plan, May"
    assert first.installments == 3
    assert first.idempotency_key == "inv-1"
    assert first.metadata == {"invoice": "INV-1", "Plan": "pro"}
    assert (second.currency, second.description, second.installments) == ("ils", None, None)
    assert (second.idempotency_key, second.metadata) == (None, None)
    assert [billing.row_of(0), billing.row_of(1)] == [2, 3]


def test_bad_rows_are_all_reported_with_their_row_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "customer,payment_method,amount,installments,currency\n"
        "cus_1,pm_1,4990,,\n"  # row 2: fine
        "cus_1,pm_1,49.90,,\n"  # row 3
        "\n"  # row 4: blank, skipped but counted
        ",pm_1,100,,\n"  # row 5
        "cus_1,pm_1,100,0,\n"  # row 6
        "cus_1,pm_1,100,,,extra\n"  # row 7
        "cus 1,pm_1,100,,\n"  # row 8: whitespace in an id
        "cus_1,pm_1,100,,shekel\n"  # row 9
        "cus_1,pm_1,100,,\n",  # row 10: fine
    )
    result = BillingFile(path).validate()
    assert result.rows == 2
    assert result.error_count == 6
    messages = {error.row: error.message for error in result.errors}
    assert sorted(messages) == [3, 5, 6, 7, 8, 9]
    assert "use 4990 for 49.90 ILS" in messages[3]
    assert "customer is empty" in messages[5]
    assert "installments must be a whole number >= 1" in messages[6]
    assert "has 6 fields, but the header has 5" in messages[7]
    assert "whitespace" in messages[8]
    assert "3-letter" in messages[9]


def test_a_row_with_several_problems_lists_them_all(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + ",,12.5\n")
    (error,) = BillingFile(path).validate().errors
    assert error.row == 2
    assert "customer is empty" in error.message
    assert "payment_method is empty" in error.message
    assert "use 1250" in error.message


def test_reported_errors_are_capped_but_all_counted(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "cus_1,pm_1,1.5\n" * 50)
    result = BillingFile(path).validate()
    assert (result.error_count, len(result.errors)) == (50, 20)


def test_repeated_and_reserved_idempotency_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "customer,payment_method,amount,idempotency_key\n"
        "cus_1,pm_1,100,inv-1\n"
        "cus_1,pm_1,100,inv-1\n"
        "cus_1,pm_1,100,may:7\n"
        "cus_1,pm_1,100,has space\n",
    )
    messages = [str(e) for e in BillingFile(path, job_id="may").validate().errors]
    assert messages[0].startswith("row 3: idempotency_key 'inv-1' repeats row 2")
    assert messages[1].startswith("row 4: idempotency_key 'may:7' starts with 'may:'")
    assert messages[2].startswith("row 5: ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("\n\n", "the file is empty"),
        ("customer,payment_method,amout\n", "unknown column 'amout' (did you mean 'amount'?)"),
        ("customer,payment_method\n", "missing required column(s): amount"),
        ("customer;payment_method;amount\n", "not comma-separated"),
        ("customer,payment_method,amount,amount\n", "column 'amount' appears twice"),
        ("customer,payment_method,amount,metadata.\n", "'metadata.' needs a key"),
        (
            "customer,payment_method,amount,metadata.ching_async_idempotency_key\n",
            "is reserved",
        ),
    ],
)
def test_header_problems_stop_everything(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        BillingFile(write(tmp_path, text)).validate()
    assert message in info.value.message


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        BillingFile(tmp_path / "missing.csv").validate()
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(HEADER.encode() + "cus_1,pm_1,100\ncus_é,pm_1,100\n".encode("latin-1"))
    with pytest.raises(UsageError, match="not valid UTF-8"):
        BillingFile(latin1).validate()
    broken = write(tmp_path, HEADER + 'cus_1,"pm_1"x,100\n')
    with pytest.raises(UsageError, match="row 2: not valid CSV"):
        BillingFile(broken).validate()


def _with_bad_byte(tmp_path: Path, rows: int, bad: int, before: str = "") -> Path:
    """A CSV of `rows` data rows whose data row `bad` (1-based) holds a latin-1 byte."""
    path = tmp_path / "bad_byte.csv"
    lines = [f"cus_{i},pm_{i},100\n".encode() for i in range(1, rows + 1)]
    lines[bad - 1] = "cus_\u00e9,pm_1,100\n".encode("latin-1")
    path.write_bytes((HEADER + before).encode() + b"".join(lines))
    return path


@pytest.mark.parametrize(
    ("rows", "bad", "row"),
    [(3, 2, 3), (3, 1, 2), (3000, 1500, 1501), (3000, 3000, 3001)],
)
def test_a_byte_that_is_not_utf8_is_reported_in_its_own_row(
    tmp_path: Path, rows: int, bad: int, row: int
) -> None:
    with pytest.raises(UsageError) as info:
        BillingFile(_with_bad_byte(tmp_path, rows, bad)).validate()
    assert info.value.message.endswith(f": row {row}: not valid UTF-8; save the file as UTF-8 CSV")


def test_utf8_rows_count_csv_records_not_lines(tmp_path: Path) -> None:
    # Row 2 spans two lines (a quoted newline), row 3 is blank: the bad byte is in row 5.
    path = _with_bad_byte(tmp_path, 3, 2, before='cus_0,"pm\n0",100\n\n')
    with pytest.raises(UsageError, match=r": row 5: not valid UTF-8"):
        BillingFile(path).validate()


def test_a_file_changed_between_validation_and_charging_stops_the_job(tmp_path: Path) -> None:
    # Big enough that the reader has not buffered the end when the file changes.
    path = write(tmp_path, HEADER + "cus_1,pm_1,100\n" * 5000)
    billing = BillingFile(path)
    billing.validate()
    rows = billing.params()
    assert next(rows).customer == "cus_1"
    path.write_text(HEADER + "cus_1,pm_1,100\n" * 4999 + "cus_1,pm_1,999\n", encoding="utf-8")
    with pytest.raises(UsageError, match="changed while it was being charged"):
        list(rows)


def test_charging_before_validating_is_a_bug(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        next(BillingFile(write(tmp_path, HEADER + "cus_1,pm_1,1\n")).params())
