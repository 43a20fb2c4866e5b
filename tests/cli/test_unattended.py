"""`ching` run unattended (cron, CI, containers): a key or an explicit --fake,
distinct exit codes, SIGTERM handled as Ctrl-C, a resume that says why it waits,
and rates counted in requests or in rows."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import ching_async.cli._bulk_charge
from ching_async import IDEMPOTENCY_METADATA_KEY, BulkSummary
from ching_async.cli._app import build_parser, run
from ching_async.cli._bulk_charge import JobReport
from ching_async.cli._errors import ExitCode, exit_code_help
from ching_async.testing import FakeChing, Fault
from tests._support.fake_client import seed

from .conftest import FAKE_NOTICE, Ran, RemoteFake, Terminal, running

Ching = Callable[..., Ran]
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "billing.csv"
NO_KEY = (
    "ching: error: no API key: set CHING_API_KEY or pass --api-key KEY; nothing was sent "
    "(--fake runs the command against an embedded fake CHING server instead)"
)
# Commands that never talk to CHING.
OFFLINE = {("demo",), ("webhooks", "verify"), ("webhooks", "trigger")}
# What a command needs besides its required arguments to get as far as sending.
EXTRA = {
    ("customers", "update"): ["--name", "Noa"],
    ("customers", "upsert"): ["--email", "noa@example.com"],
    ("products", "update"): ["--active"],
    ("discounts", "update"): ["--active"],
    ("checkout", "create"): ["--price", "price_1"],
}
NUMBER_TYPES = {"agorot", "agorot_or_zero", "positive_int", "count", "positive_float", "seconds"}


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[
    tuple[tuple[str, ...], argparse.ArgumentParser]
]:  # fmt: skip
    """Every leaf command of `parser`, by its path (``("charges", "create")``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*path, name))
            return
    yield path, parser


def value_for(action: argparse.Action) -> str:
    if action.choices:
        return str(next(iter(action.choices)))
    if getattr(action.type, "__name__", None) in NUMBER_TYPES:
        return "1"
    if action.dest == "file":
        return str(EXAMPLE)
    if action.dest.endswith("url"):
        return "https://shop.example/hooks"
    if action.dest == "events":
        return "charge.succeeded"
    return "x_1"


def argv_for(path: tuple[str, ...], parser: argparse.ArgumentParser) -> list[str]:
    """The command with a plausible value for each required argument."""
    argv = list(path)
    for action in parser._actions:
        if not action.option_strings and action.nargs != "?":
            argv.append(value_for(action))
        elif action.option_strings and action.required:
            argv += [action.option_strings[0], value_for(action)]
    return argv + EXTRA.get(path, [])


ALL_COMMANDS = sorted(commands(build_parser()), key=lambda pair: pair[0])
ONLINE = [argv_for(path, p) for path, p in ALL_COMMANDS if path not in OFFLINE]


# ------------------------------------------------------------------ no key
def test_the_offline_commands_are_the_ones_listed() -> None:
    assert {path for path, _ in ALL_COMMANDS} >= OFFLINE
    assert len(ONLINE) == len(ALL_COMMANDS) - len(OFFLINE) > 25


@pytest.mark.parametrize("argv", ONLINE, ids=" ".join)
def test_every_command_that_talks_to_ching_refuses_without_a_key(
    ching: Ching, argv: list[str]
) -> None:
    ran = ching(*argv)
    assert ran.code == ExitCode.CONFIG == 4, ran.err
    assert ran.out == ""
    [line] = ran.err_lines
    assert "CHING_API_KEY" in line
    assert "--api-key" in line
    if argv[0] != "worker":  # a worker charges for real: it has its own message
        assert line == NO_KEY


def test_the_refusal_is_an_error_document_with_json(ching: Ching) -> None:
    ran = ching("charges", "create", "--customer", "cus_1", "--payment-method", "pm_1",
                "--amount", "4990", "--json")  # fmt: skip
    assert ran.code == 4
    assert json.loads(ran.out) == {
        "error": {"type": "ConfigError", "message": NO_KEY.removeprefix("ching: error: ")},
        "exit_code": 4,
    }


def test_an_empty_key_is_no_key(ching: Ching, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHING_API_KEY", "")
    assert ching("charges", "list").err_lines == [NO_KEY]


def test_api_key_is_used_like_the_variable_and_never_shown(
    ching: Ching, remote_fake: RemoteFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHING_BASE_URL", remote_fake.fake.url)
    key = remote_fake.fake.api_key
    for argv in (["--api-key", key, "charges", "list"], ["charges", "list", "--api-key", key]):
        ran = ching(*argv, "--json")
        assert (ran.code, ran.err, json.loads(ran.out)) == (0, "", [])
    ran = ching("charges", "get", "ch_nothing", "--api-key", key, "--json")
    assert ran.code == 1
    assert key not in ran.out + ran.err
    assert len(remote_fake.call(lambda fake: fake.requests())) == 3


def test_api_key_wins_over_the_variable(
    ching: Ching, remote_fake: RemoteFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHING_BASE_URL", remote_fake.fake.url)
    monkeypatch.setenv("CHING_API_KEY", "ck_test_" + "9" * 64)  # a key the server refuses
    assert ching("charges", "list").code == 4
    assert ching("charges", "list", "--api-key", remote_fake.fake.api_key).code == 0


def test_fake_and_api_key_together_are_a_usage_error(ching: Ching) -> None:
    ran = ching("charges", "list", "--fake", "--api-key", "ck_test_" + "a" * 64)
    assert ran.usage_error() == (
        "ching: error: --fake never uses a key: give --fake or --api-key, not both"
    )


def test_with_fake_a_key_in_the_environment_is_ignored_and_said_so(
    ching: Ching, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHING_API_KEY", "ck_live_" + "0" * 64)
    ran = ching("charges", "list", "--fake", "--json")
    assert ran.code == 0
    assert ran.err_lines[0].startswith(FAKE_NOTICE)
    assert "(CHING_API_KEY is ignored)" in ran.err_lines[0]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CHING_API_KEY", "ck_test", "CHING_API_KEY is not a usable API key: api_key is "
         "shorter than"),
        ("CHING_BASE_URL", "ftp://api.example/ching/v1", "CHING_BASE_URL is not usable: "
         "base_url must be an absolute http(s) URL"),
        ("CHING_BASE_URL", "http://api.example/ching/v1", "CHING_BASE_URL is not usable: "
         "refusing to send a live API key over plain http://"),
    ],
)  # fmt: skip
def test_a_bad_key_or_base_url_is_a_configuration_error(
    ching: Ching, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv("CHING_API_KEY", "ck_live_" + "0" * 64)
    monkeypatch.setenv(variable, value)
    ran = ching("charges", "list")
    assert ran.code == 4
    [line] = ran.err_lines
    assert line.startswith(f"ching: error: {message}")


def test_bulk_charge_checks_the_key_and_url_before_it_says_it_charges(
    ching: Ching, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    argv = ["bulk-charge", str(EXAMPLE), "--job-id", "may", "--output", "out.csv"]
    ran = ching(*argv)
    assert (ran.code, ran.err_lines, ran.out) == (4, [NO_KEY], "")
    monkeypatch.setenv("CHING_API_KEY", "ck_test_" + "0" * 64)
    monkeypatch.setenv("CHING_BASE_URL", "https://api.example/ching/v1?x=1")
    ran = ching(*argv)
    assert ran.code == 4
    assert ran.err_lines == [
        "ching: error: CHING_BASE_URL is not usable: base_url must not have a query or fragment"
    ]
    assert list(tmp_path.iterdir()) == []  # no journal, no results file: nothing started
    assert ching(*argv, "--dry-run").code == 0  # a dry run needs no key


def test_a_worker_never_runs_on_the_fake(ching: Ching) -> None:
    ran = ching("worker", "--fake")
    assert ran.code == 2
    assert "never on an embedded fake" in ran.err


@pytest.mark.parametrize("flag", [["--row-rate", "5"], ["--fake"], ["--api-key", "k" * 40]])
def test_options_for_this_machine_are_refused_with_redis(ching: Ching, flag: list[str]) -> None:
    argv = ["bulk-charge", str(EXAMPLE), "--job-id", "j", "--redis", "redis://127.0.0.1:1"]
    assert "without --redis only" in ching(*argv, *flag).usage_error()


def marker_run(*argv: str, env: dict[str, str]) -> tuple[int, bool]:
    """`ching argv` in a fresh interpreter: (its exit code, whether ching_async.testing
    was imported)."""
    code = (
        "import sys\n"
        "from ching_async.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "sys.stdout.write(f'\\nMARK {int(code)} {\"ching_async.testing\" in sys.modules}\\n')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, timeout=60
    )
    mark = done.stdout.splitlines()[-1].split()
    assert mark[0] == "MARK", done.stdout + done.stderr
    return int(mark[1]), mark[2] == "True"


def test_the_testing_package_is_imported_only_for_the_fake(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHING_")}
    assert marker_run("charges", "list", env=env) == (4, False)
    assert marker_run("charges", "list", "--fake", env=env) == (0, True)
    # With a key, up to a request to an API that is not there.
    env["CHING_API_KEY"] = "ck_test_" + "0" * 64
    env["CHING_BASE_URL"] = "http://127.0.0.1:9/ching/v1"
    assert marker_run("charges", "list", env=env) == (1, False)
    bulk = ["bulk-charge", str(EXAMPLE), "--job-id", "j", "--journal", str(tmp_path / "j")]
    assert marker_run(*bulk, env=env) == (1, False)


# --------------------------------------------------------------- exit codes
def test_exit_codes_are_distinct_and_documented_in_help_and_readme(ching: Ching) -> None:
    assert [int(code) for code in ExitCode] == [0, 1, 2, 3, 4, 130]
    help_text = ching("--help").out
    assert exit_code_help() in help_text
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Command line\n", 1)[1].split("\n## ", 1)[0]
    table = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", section, re.M))
    assert table == {str(code.value): code.meaning for code in ExitCode}


@pytest.mark.parametrize(
    ("counts", "refused", "code"),
    [
        ({"succeeded": 4}, None, ExitCode.OK),
        ({"succeeded": 3}, None, ExitCode.FAILED),  # a row not reached
        ({"succeeded": 2, "declined": 1, "failed": 1}, None, ExitCode.FAILED),
        ({"succeeded": 2, "declined": 1, "unknown": 1}, None, ExitCode.UNKNOWN),
        ({"succeeded": 1, "unknown": 1, "failed": 2}, "401", ExitCode.CONFIG),
    ],
)
def test_a_jobs_exit_code_puts_the_key_first_then_rows_in_doubt(
    counts: dict[str, int], refused: str | None, code: ExitCode
) -> None:
    report = JobReport(job_id="j", rows=4, summary=BulkSummary(**counts), refused=refused)
    assert report.exit_code is code
    assert report.to_json()["exit_code"] == code


def test_a_row_in_doubt_exits_3(
    ching: Ching, with_api_key: RemoteFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_preflight(*_: object) -> None:  # its GET would meet the fault below
        return None

    monkeypatch.setattr(ching_async.cli._bulk_charge, "_preflight", no_preflight)
    cards = with_api_key.call(lambda fake: seed(fake, 2))
    path = tmp_path / "b.csv"
    path.write_text(
        "customer,payment_method,amount\n" + "".join(f"{c},{p},100\n" for c, p in cards)
    )
    # The first charge is made but its answer lost, and the lookup that would tell fails.
    with_api_key.call(
        lambda fake: (
            fake.faults.add(Fault.commit_then_drop(), method="POST", path="/charges", times=1),
            fake.faults.add(Fault.status(400), method="GET", path="/charges"),
        )
    )
    ran = ching("bulk-charge", str(path), "--job-id", "j", "--new-job", "--concurrency", "1",
                "--json")  # fmt: skip
    summary = json.loads(ran.out)
    assert (summary["succeeded"], summary["unknown"]) == (1, 1), ran.err
    assert ran.code == summary["exit_code"] == 3


# ------------------------------------------------------------- SIGTERM
def journal_records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_sigterm_settles_rows_in_flight_closes_the_journal_and_exits_130(tmp_path: Path) -> None:
    with FakeChing() as fake:
        cards = seed(fake, 40)
        path = tmp_path / "billing.csv"
        path.write_text(
            "customer,payment_method,amount\n"
            + "".join(f"{c},{p},{1000 + i}\n" for i, (c, p) in enumerate(cards * 5))
        )
        # Every charge takes a while: rows are in flight when the signal comes.
        slow = fake.faults.add(Fault.latency(0.4), method="POST", path="/charges")
        journal = tmp_path / "job.jsonl"
        argv = [sys.executable, "-m", "ching_async.cli", "bulk-charge", str(path), "--job-id",
                "term", "--journal", str(journal), "--concurrency", "8", "--json"]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHING_")}
        env.update(CHING_API_KEY=fake.api_key, CHING_BASE_URL=fake.url, PYTHONUNBUFFERED="1")
        with running(argv, env) as process:
            assert process.stderr is not None
            lines = [process.stderr.readline()]
            while not lines[-1].startswith("charging: "):  # 10% done
                lines.append(process.stderr.readline())
                assert lines[-1], lines
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=60)
        assert lines[0].startswith("ching: charging 200 rows (")
        assert process.returncode == 130, err
        assert "Traceback" not in err
        [line] = [line for line in err.splitlines() if "interrupted" in line]
        assert line.startswith("ching: error: interrupted after ")
        assert json.loads(out)["exit_code"] == 130
        records = journal_records(journal)
        assert records[-1]["t"] == "closed"  # every row sent was settled
        started = {r["i"] for r in records if r["t"] == "start"}
        done = {r["i"] for r in records if r["t"] == "done" and r["final"]}
        assert started == done
        assert 20 <= len(done) < 200
        assert len(fake.charges()) == len(done)

        fake.faults.remove(slow)
        began = time.monotonic()
        resumed = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        assert "waiting" not in resumed.stderr  # closed cleanly: nothing to wait for
        assert time.monotonic() - began < 30
        summary = json.loads(resumed.stdout)
        assert (summary["succeeded"], summary["from_journal"]) == (200, len(done))
        keys = [c.metadata[IDEMPOTENCY_METADATA_KEY] for c in fake.charges()]
        assert sorted(keys) == sorted(f"term:{i}" for i in range(200))  # each once


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_during_a_request_exits_130_with_one_line(signum: signal.Signals) -> None:
    with FakeChing() as fake:
        fake.faults.add(Fault.latency(30), method="GET", path="/charges")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHING_")}
        env.update(CHING_API_KEY=fake.api_key, CHING_BASE_URL=fake.url)
        with running([sys.executable, "-m", "ching_async.cli", "charges", "list"], env) as process:
            while fake.pending_commits() == 0:  # the request is in flight
                time.sleep(0.05)
                assert process.poll() is None
            process.send_signal(signum)
            out, err = process.communicate(timeout=20)
    assert (process.returncode, out, err) == (130, "", "ching: error: interrupted\n")


def test_a_second_sigterm_stops_a_job_at_once_recording_rows_in_doubt(tmp_path: Path) -> None:
    with FakeChing() as fake:
        cards = seed(fake, 8)
        path = tmp_path / "billing.csv"
        path.write_text(
            "customer,payment_method,amount\n" + "".join(f"{c},{p},100\n" for c, p in cards)
        )
        fake.faults.add(Fault.latency(20), method="POST", path="/charges")
        journal = tmp_path / "job.jsonl"
        argv = [sys.executable, "-m", "ching_async.cli", "bulk-charge", str(path), "--job-id",
                "twice", "--journal", str(journal), "--new-job"]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHING_")}
        env.update(CHING_API_KEY=fake.api_key, CHING_BASE_URL=fake.url)
        with running(argv, env) as process:
            while fake.pending_commits() < 8:  # every row in flight
                time.sleep(0.05)
                assert process.poll() is None
            process.send_signal(signal.SIGTERM)
            time.sleep(0.5)  # the first lets rows settle for up to 5 s; the second ends that
            process.send_signal(signal.SIGTERM)
            began = time.monotonic()
            _, err = process.communicate(timeout=20)
        assert time.monotonic() - began < 4
    assert process.returncode == 130, err
    assert "Traceback" not in err
    [line] = [line for line in err.splitlines() if "interrupted" in line]
    assert line.startswith("ching: error: interrupted after 0 of 8 rows (0 succeeded)")
    records = journal_records(journal)
    assert records[-1]["t"] != "closed"  # rows were left in flight: a resume must wait
    assert {r["i"] for r in records if r["t"] == "done" and not r["final"]} == set(range(8))


# ------------------------------------------------------- the resume's wait
def journal_in_doubt(path: Path, customer: str, *, wait: float) -> None:
    """A journal whose run died with row 0 in flight; a resume must wait `wait` s
    (the default client: total_timeout 120 s + settle 30 s after its last write)."""
    records = [
        {"t": "job", "job_id": "j", "concurrency": 16, "at": time.time()},
        {"t": "start", "i": 0, "key": "j:0", "customer": customer},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    last_write = time.time() - 150 + wait
    os.utime(path, (last_write, last_write))


@pytest.fixture
def resumable(with_api_key: RemoteFake, tmp_path: Path) -> Callable[[float], list[str]]:
    """The argv of a two-row job whose journal says row 0 was in flight `wait` s ago."""

    def make(wait: float) -> list[str]:
        cards = with_api_key.call(lambda fake: seed(fake, 2))
        path = tmp_path / "b.csv"
        path.write_text(
            "customer,payment_method,amount\n" + "".join(f"{c},{p},100\n" for c, p in cards)
        )
        journal = tmp_path / "j.jsonl"
        journal_in_doubt(journal, cards[0][0], wait=wait)
        return ["bulk-charge", str(path), "--job-id", "j", "--journal", str(journal)]

    return make


def test_a_resume_that_must_wait_says_why_and_how_long(
    ching: Ching, resumable: Callable[[float], list[str]]
) -> None:
    argv = resumable(2.0)
    began = time.monotonic()
    ran = ching(*argv, "--progress", "lines")
    assert ran.code == 0, ran.err
    assert time.monotonic() - began >= 1.5
    [line] = [line for line in ran.err_lines if "waiting" in line]
    assert re.fullmatch(
        r"ching: resuming: waiting \d s \(until \d\d:\d\d:\d\d\) before looking up the 1 row "
        r"an earlier run left in doubt: its last requests may still be settling on the server "
        r"\(its attempt timeouts and settle time after its last journal write\), and a lookup "
        r"before then could miss a charge and send it twice",
        line,
    )


def test_on_a_terminal_the_wait_counts_down(resumable: Callable[[float], list[str]]) -> None:
    argv = resumable(2.6)
    stdout, stderr = io.StringIO(), Terminal()
    assert run(argv, stdout=stdout, stderr=stderr) == 0, stderr.getvalue()
    shown = stderr.getvalue()
    assert len(re.findall(r"ching: resuming: waiting \d s \(until", shown)) == 1
    for left in (2, 1):  # on the bar, a second at a time
        assert f"resuming in {left} s" in shown


# ------------------------------------------------------------------ rates
def test_row_rate_paces_rows_not_requests(
    ching: Ching, with_api_key: RemoteFake, tmp_path: Path
) -> None:
    cards = with_api_key.call(lambda fake: seed(fake, 30))
    path = tmp_path / "b.csv"
    path.write_text(
        "customer,payment_method,amount\n" + "".join(f"{c},{p},100\n" for c, p in cards)
    )
    began = time.monotonic()
    ran = ching("bulk-charge", str(path), "--job-id", "r", "--row-rate", "15", "--json")
    elapsed = time.monotonic() - began
    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["succeeded"] == 30
    assert elapsed >= 0.9  # 15 at once (one second's worth), then 15 more at 15 a second
    # Each row was looked up, then charged: two requests a row, which --rate would count.
    assert len(with_api_key.call(lambda fake: fake.requests_to("POST", "/charges"))) == 30
    assert len(with_api_key.call(lambda fake: fake.requests_to("GET", "/charges"))) >= 30


def test_the_help_says_what_each_rate_counts(ching: Ching) -> None:
    text = " ".join(ching("bulk-charge", "--help").out.split())
    assert "--rate R at most R requests per second" in text
    assert "--row-rate R at most R rows charged per second" in text
