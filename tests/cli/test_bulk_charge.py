"""`ching bulk-charge`: validation first, progress, summary, exit codes, resume."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

import ching_async
import ching_async.cli._bulk_charge
from ching_async.cli._progress import BulkProgress

from .conftest import FAKE_NOTICE, Ran, RemoteFake, running

Ching = Callable[..., Ran]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "billing.csv"
HEADER = "customer,payment_method,amount,description\n"


def seed(remote: RemoteFake, customers: int, declining: int = 0) -> list[tuple[str, str]]:
    def go(fake: ching_async.testing.FakeChing) -> list[tuple[str, str]]:
        cards = []
        for n in range(customers):
            customer = fake.add_customer(name=f"Customer {n}")
            card = fake.add_payment_method(customer.id, declines=n < declining)
            cards.append((customer.id, card.id))
        return cards

    return remote.call(go)


def billing_csv(path: Path, cards: list[tuple[str, str]], rows: int) -> Path:
    lines = [HEADER]
    for i in range(rows):
        customer, card = cards[i % len(cards)]
        lines.append(f"{customer},{card},{1000 + i},Row {i + 2}\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def charges_on(remote: RemoteFake) -> list[ching_async.testing.Charge]:
    return remote.call(lambda fake: fake.charges())


# ------------------------------------------------------ the embedded default
def test_the_sample_file_charges_cleanly_on_the_embedded_fake(ching: Ching, tmp_path: Path) -> None:
    results = tmp_path / "results.csv"
    ran = ching("--fake",
        "bulk-charge", str(EXAMPLE), "--job-id", "may-2026",
        "--journal", str(tmp_path / "may.jsonl"), "--output", str(results),
    )  # fmt: skip
    assert ran.code == 0, ran.err
    assert ran.err_lines[0].startswith(FAKE_NOTICE)
    # stderr is not a terminal here: plain progress lines, no bar, no escape codes
    assert ran.err_lines[-1] == (
        "charging: 6/6 rows (100%): 6 succeeded, 0 declined, 0 failed, 0 unknown"
    )
    assert "\x1b[" not in ran.out + ran.err
    assert "Job 'may-2026': 6 of 6 rows" in ran.out
    assert "Total charged: 2,033.80 ILS (203,380 agorot)" in ran.out
    with results.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(int(r["row"]) for r in rows) == [2, 3, 4, 5, 6, 7]
    assert {r["outcome"] for r in rows} == {"succeeded"}
    assert {r["idempotency_key"] for r in rows if r["row"] == "5"} == {"INV-2026-0504"}
    assert {r["idempotency_key"] for r in rows if r["row"] == "2"} == {"may-2026:0"}


def test_json_summary(ching: Ching, tmp_path: Path) -> None:
    ran = ching("--fake", "bulk-charge", str(EXAMPLE), "--job-id", "j", "--no-journal", "--json")
    assert ran.code == 0, ran.err
    summary = json.loads(ran.out)
    assert summary["rows"] == summary["succeeded"] == summary["processed"] == 6
    assert (summary["declined"], summary["failed"], summary["unknown"]) == (0, 0, 0)
    assert summary["amount_charged"] == 203380
    assert summary["amount_charged_by_currency"] == {"ils": 203380}
    assert (summary["journal"], summary["exit_code"], summary["first_failures"]) == (None, 0, [])


def test_the_journal_defaults_to_the_current_directory(
    ching: Ching, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert (
        ching("--fake", "bulk-charge", str(EXAMPLE), "--job-id", "nov", "--progress", "off").code
        == 0
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "nov.journal.jsonl",
        "nov.journal.jsonl.source.json",
    ]
    ran = ching("--fake", "bulk-charge", str(EXAMPLE), "--job-id", "nov", "--json")
    assert json.loads(ran.out)["from_journal"] == 6  # resumed: nothing sent again


def test_dry_run_validates_and_sends_nothing(ching: Ching, tmp_path: Path) -> None:
    ran = ching("bulk-charge", str(EXAMPLE), "--job-id", "j", "--dry-run")
    assert ran.code == 0
    assert ran.err == ""  # no server was started
    assert "6 valid rows totalling 2,033.80 ILS; nothing sent" in ran.out
    ran = ching("bulk-charge", str(EXAMPLE), "--job-id", "j", "--dry-run", "--json")
    assert json.loads(ran.out) == {
        "file": str(EXAMPLE),
        "rows": 6,
        "amount_by_currency": {"ils": 203380},
        "valid": True,
    }


# ----------------------------------------------------------- bad input files
def test_a_bad_row_anywhere_stops_the_job_before_anything_is_charged(
    ching: Ching, with_api_key: RemoteFake, tmp_path: Path
) -> None:
    cards = seed(with_api_key, 10)
    path = billing_csv(tmp_path / "big.csv", cards, 3000)
    with path.open("a", encoding="utf-8") as handle:  # a typo in the very last row
        handle.write(f"{cards[0][0]},{cards[0][1]},49.90,Last row\n")
    ran = ching("bulk-charge", str(path), "--job-id", "j", "--journal", str(tmp_path / "j.jsonl"))
    assert ran.code == 2
    assert ran.out == ""
    assert ran.err_lines == [
        f"ching: error: {path}: 1 row is invalid; nothing was charged "
        "(the whole file is checked before any row is charged)",
        "  row 3002: amount 49.90 is a decimal; amounts are whole agorot: use 4990 for 49.90 ILS",
    ]
    assert charges_on(with_api_key) == []
    assert not (tmp_path / "j.jsonl").exists()


def test_bad_rows_as_json(ching: Ching, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        HEADER
        + "cus_1,pm_1,100,ok\ncus_1,pm_1,1.5,decimal\n\ncus_1,,100,no card\n"
        + "cus_1,pm_1,7.25,x\n" * 25,
        encoding="utf-8",
    )
    ran = ching("--fake", "bulk-charge", str(path), "--job-id", "j", "--json")
    assert ran.code == 2
    document = json.loads(ran.out)
    assert document["exit_code"] == 2
    error = document["error"]
    assert error["type"] == "UsageError"
    assert error["bad_row_count"] == 27
    assert error["bad_rows"][:2] == [
        {
            "row": 3,
            "message": "amount 1.5 is a decimal; amounts are whole agorot: use 150 for 1.5 ILS",
        },
        {"row": 5, "message": "payment_method is empty"},
    ]
    assert len(error["bad_rows"]) == 20
    assert ran.err_lines[-1] == "  ... and 7 more bad rows"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("customer,payment_method,amout\n", "unknown column 'amout' (did you mean 'amount'?)"),
        ("customer;payment_method;amount\ncus_1;pm_1;100\n", "not comma-separated"),
        ("", "the file is empty"),
        ("customer,payment_method,amount\n", "no rows to charge"),
    ],
)
def test_bad_files_exit_2(ching: Ching, tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "f.csv"
    path.write_text(content, encoding="utf-8")
    ran = ching("--fake", "bulk-charge", str(path), "--job-id", "j")
    assert ran.code == 2
    assert len(ran.err_lines) == 1
    assert message in ran.err_lines[0]


def test_a_byte_that_is_not_utf8_is_reported_in_its_row(ching: Ching, tmp_path: Path) -> None:
    rows = [f"cus_{i},pm_{i},100,d\n".encode() for i in range(1, 3001)]
    # Data row 1500 saved as Windows Hebrew, as Excel may: file row 1501 with the header.
    rows[1499] = "cus_1,pm_1,100,\u05e9\u05dc\u05d5\u05dd\n".encode("cp1255")
    path = tmp_path / "f.csv"
    path.write_bytes(HEADER.encode() + b"".join(rows))
    ran = ching("bulk-charge", str(path), "--job-id", "t", "--dry-run")
    assert ran.code == 2
    assert ran.err_lines == [
        f"ching: error: {path}: row 1501: not valid UTF-8; save the file as UTF-8 CSV"
    ]


def test_bad_arguments_exit_2(ching: Ching, tmp_path: Path) -> None:
    ran = ching("--fake", "bulk-charge", str(tmp_path / "missing.csv"), "--job-id", "j")
    assert (ran.code, len(ran.err_lines)) == (2, 1)
    assert "cannot read" in ran.err
    ran = ching("--fake", "bulk-charge", str(EXAMPLE), "--job-id", "has space")
    assert ran.code == 2
    assert "--job-id 'has space' must be" in ran.err
    ran = ching("--fake", "bulk-charge", str(EXAMPLE), "--job-id", "j", "--output", str(tmp_path))
    assert ran.code == 2
    assert "cannot write" in ran.err
    assert list(Path.cwd().glob("j.journal*")) == []  # nothing was started


# ------------------------------------------------------ outcomes and resume
def test_declines_exit_1_and_are_listed_by_row(
    ching: Ching, with_api_key: RemoteFake, tmp_path: Path
) -> None:
    cards = seed(with_api_key, 10, declining=1)
    path = billing_csv(tmp_path / "b.csv", cards, 40)
    results = tmp_path / "results.csv"
    ran = ching(
        "bulk-charge", str(path), "--job-id", "j", "--journal", str(tmp_path / "j.jsonl"),
        "--output", str(results), "--concurrency", "4", "--rate", "1000",
    )  # fmt: skip
    assert ran.code == 1
    assert ran.err_lines[-1] == (
        "charging: 40/40 rows (100%): 36 succeeded, 4 declined, 0 failed, 0 unknown"
    )
    assert "Rows not charged:" in ran.out
    for row in (2, 12, 22, 32):  # the declining customer is every 10th row
        assert f"row {row}: declined: 402 CHARGE_FAILED: The card was declined." in ran.out
    with results.open(newline="") as handle:
        declined = [r for r in csv.DictReader(handle) if r["outcome"] == "declined"]
    assert sorted(int(r["row"]) for r in declined) == [2, 12, 22, 32]
    assert all("402" in r["error"] for r in declined)
    expected = sum(1000 + i for i in range(40) if i % 10)
    ran = ching(
        "bulk-charge", str(path), "--job-id", "j", "--journal", str(tmp_path / "j.jsonl"), "--json"
    )
    summary = json.loads(ran.out)
    assert ran.code == 1
    assert (summary["succeeded"], summary["declined"], summary["from_journal"]) == (36, 4, 40)
    assert summary["amount_charged"] == expected
    assert sorted(f["row"] for f in summary["first_failures"]) == [2, 12, 22, 32]
    assert len(charges_on(with_api_key)) == 40  # the re-run sent nothing


def test_a_changed_file_is_not_resumed_under_the_same_job(
    ching: Ching, with_api_key: RemoteFake, tmp_path: Path
) -> None:
    cards = seed(with_api_key, 5)
    path = billing_csv(tmp_path / "b.csv", cards, 20)
    journal = str(tmp_path / "j.jsonl")
    assert ching("bulk-charge", str(path), "--job-id", "j", "--journal", journal).code == 0
    billing_csv(path, cards, 19)  # a row removed: every later row moves up one index
    ran = ching("bulk-charge", str(path), "--job-id", "j", "--journal", journal)
    assert ran.code == 2
    assert "belongs to a job started from different rows" in ran.err
    assert len(charges_on(with_api_key)) == 20
    ran = ching("bulk-charge", str(path), "--job-id", "j2", "--journal", str(tmp_path / "j2.jsonl"))
    assert ran.code == 0  # a new job id is a new job


def test_a_journal_of_another_job_is_refused(ching: Ching, tmp_path: Path) -> None:
    journal = str(tmp_path / "j.jsonl")
    assert (
        ching("--fake", "bulk-charge", str(EXAMPLE), "--job-id", "a", "--journal", journal).code
        == 0
    )
    ran = ching("--fake", "bulk-charge", str(EXAMPLE), "--job-id", "b", "--journal", journal)
    assert ran.code == 2
    assert "belongs to job 'a', not 'b'" in ran.err


def test_with_a_key_the_job_says_where_it_charges(
    ching: Ching, with_api_key: RemoteFake, tmp_path: Path
) -> None:
    cards = seed(with_api_key, 2)
    path = billing_csv(tmp_path / "b.csv", cards, 3)
    ran = ching("bulk-charge", str(path), "--job-id", "j")
    assert ran.code == 0
    assert ran.err_lines[0] == (
        f"ching: charging 3 rows (30.03 ILS) at {with_api_key.fake.url} in test mode"
    )


def test_a_refused_key_fails_up_front_and_charges_nothing(
    ching: Ching, with_api_key: RemoteFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cards = seed(with_api_key, 2)
    path = billing_csv(tmp_path / "b.csv", cards, 30)
    monkeypatch.setenv("CHING_API_KEY", "ck_test_" + "9" * 64)  # not a key the server knows
    ran = ching("bulk-charge", str(path), "--job-id", "j", "--json")
    assert ran.code == 4
    assert json.loads(ran.out)["error"]["type"] == "AuthenticationError"
    # the key is checked before the job says where it charges: one line, the error
    assert len(ran.err_lines) == 1, ran.err
    assert ran.err_lines[-1].startswith("ching: error: AuthenticationError: 401")
    assert ran.err_lines[-1].endswith("(the API refused the key: check CHING_API_KEY or --api-key)")
    assert list(tmp_path.glob("j.journal*")) == []  # the job never started


def test_a_key_refused_mid_job_stops_the_job(
    ching: Ching, with_api_key: RemoteFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_preflight(*_: object) -> None:
        return None

    monkeypatch.setattr(ching_async.cli._bulk_charge, "_preflight", no_preflight)
    cards = seed(with_api_key, 30)
    path = billing_csv(tmp_path / "b.csv", cards, 300)
    monkeypatch.setenv("CHING_API_KEY", with_api_key.fake.live_api_key)
    with_api_key.call(lambda fake: setattr(fake, "live_keys_active", False))
    ran = ching("bulk-charge", str(path), "--job-id", "j", "--concurrency", "4", "--json")
    assert ran.code == 4
    summary = json.loads(ran.out)
    assert summary["exit_code"] == 4
    assert summary["refused"].startswith("PermissionDeniedError: 403 LIVE_KEY_INACTIVE")
    assert 1 <= summary["processed"] < 300
    assert summary["succeeded"] == 0
    assert "ching: error: stopped: the API refused the key" in ran.err
    assert charges_on(with_api_key) == []


# --------------------------------------------------------------- progress
def test_the_progress_bar_renders_on_a_terminal_console() -> None:
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=100)
    summary = ching_async.BulkSummary()
    with BulkProgress(stream, 3, mode="auto", console=console) as bar:
        assert bar.mode == "bar"
        summary.succeeded, summary.declined = 2, 1
        bar.update(summary)
    assert "3/3" in stream.getvalue()
    assert "1 declined" in stream.getvalue()


@pytest.mark.parametrize("mode", ["auto", "bar", "lines", "off"])
def test_every_progress_mode_is_safe_on_a_non_terminal_stream(mode: str) -> None:
    stream = io.StringIO()
    summary = ching_async.BulkSummary()
    with BulkProgress(stream, 0 if mode == "off" else 20, mode=mode) as bar:  # type: ignore[arg-type]
        for _ in range(20):
            summary.succeeded += 1
            bar.update(summary)
    text = stream.getvalue()
    if mode in ("auto", "lines"):
        assert text.count("\n") == 10  # one line per 10%
        assert text.splitlines()[-1] == (
            "charging: 20/20 rows (100%): 20 succeeded, 0 declined, 0 failed, 0 unknown"
        )
    if mode == "off":
        assert text == ""


# ---------------------------------------------------- Ctrl-C, in a real process
def test_ctrl_c_stops_the_job_with_130_and_a_rerun_resumes_it(tmp_path: Path) -> None:
    rows = [
        ("cus_RQPfVYMD5r8N", "pm_V6oQXg25D3WN"),
        ("cus_dIBpZ2m8Aybh", "pm_yxNzevl5sq-s"),
        ("cus_vgDucxeKMgj_", "pm_9zsWePXDwU08"),
    ]
    path = billing_csv(tmp_path / "slow.csv", rows, 400)
    argv = [
        sys.executable, "-m", "ching_async.cli", "bulk-charge", str(path), "--job-id", "slow",
        "--journal", str(tmp_path / "slow.jsonl"), "--rate", "40", "--json", "--fake",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHING_")}
    env["PYTHONUNBUFFERED"] = "1"
    with running(argv, env) as process:
        assert process.stderr is not None
        assert process.stderr.readline().startswith(FAKE_NOTICE)
        assert "charging: 40/400" in process.stderr.readline()  # 10% done: interrupt it
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    [line] = [line for line in err.splitlines() if "interrupted" in line]  # said once
    assert line.startswith("ching: error: interrupted after ")
    assert "re-run the same command to resume" in line
    assert line == err.splitlines()[-1]
    error = json.loads(out)
    assert (error["exit_code"], error["error"]["type"]) == (130, "Interrupted")
    assert error["error"]["processed"] >= 40
    started = time.monotonic()
    argv[argv.index("--rate") : argv.index("--rate") + 2] = []
    finished = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert finished.returncode == 0, finished.stderr
    summary = json.loads(finished.stdout)
    assert summary["succeeded"] == 400
    assert 40 <= summary["from_journal"] < 400
    assert time.monotonic() - started < 60


def test_new_job_flag_charges_and_needs_no_redis(tmp_path, capsys) -> None:
    """--new-job runs the job (create_many's assume_new); with --redis it is refused."""
    import shutil
    from pathlib import Path

    from ching_async.cli import main

    csv = tmp_path / "billing.csv"
    shutil.copy(Path(__file__).resolve().parents[2] / "examples" / "billing.csv", csv)
    code = main(
        [
            "--json",
            "--fake",
            "bulk-charge",
            str(csv),
            "--job-id",
            "fresh-1",
            "--new-job",
            "--journal",
            str(tmp_path / "j.jsonl"),
            "--progress",
            "off",
        ]
    )
    out = capsys.readouterr().out
    assert code in (0, 1), out  # the sample file has a declining card
    assert '"succeeded"' in out
    assert (
        main(
            [
                "bulk-charge",
                str(csv),
                "--job-id",
                "x",
                "--new-job",
                "--redis",
                "redis://127.0.0.1:1",
            ]
        )
        == 2
    )
