"""`ching demo`: the showcase, always against an embedded fake."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .conftest import Ran

Ching = Callable[..., Ran]
TIMEOUT = 120  # seconds; the demo takes a few


def ching_command() -> list[str]:
    script = Path(sys.executable).with_name("ching")  # the console script in the venv
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "ching_async.cli"]


def test_the_demo_runs_end_to_end_in_a_real_process(tmp_path: Path) -> None:
    env = dict(os.environ)
    # A live key and an unreachable base URL: the demo must use neither.
    env["CHING_API_KEY"] = "ck_live_" + "0" * 64
    env["CHING_BASE_URL"] = "http://127.0.0.1:9/ching/v1"
    started = time.monotonic()
    result = subprocess.run(
        [*ching_command(), "demo"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=TIMEOUT,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    err = result.stderr.splitlines()
    assert err[0].startswith("ching: the demo always runs against an embedded fake")
    assert "CHING_API_KEY is ignored" in err[0]
    # stdout is a pipe: progress comes as plain lines on stderr, never a bar
    assert (
        "resumed: 1,000/1,000 rows (100%): 985 succeeded, 15 declined, 0 failed, 0 unknown" in err
    )
    out = result.stdout
    assert "\x1b[" not in out
    for step in (
        "1. Seed a customer",
        "2. Save a new card with a setup session",
        "succeeded  new card pm_",
        "3. Charge the new card",
        "4. List Tal Levi's charges",
        "5. Capture 95.50 of the 120.00 ILS hold",
        "6. Cancel the 45.00 ILS deposit hold",
        "7. Bulk-charge 1,000 rows (200 customers, 3 of them with a declining card)",
        "8. Resume",
        "9. Check the fake's ledger",
    ):
        assert step in out
    assert "Job 'demo-2026-05' (resumed): 1,000 of 1,000 rows" in out
    for outcome, count in [("succeeded", 985), ("declined", 15), ("failed", 0), ("unknown", 0)]:
        assert re.search(rf"^{outcome} +{count} ", out, re.MULTILINE), outcome
    assert "Total charged:" in out
    assert (
        "1,000 bulk charges on the server for 1,000 rows: "
        "985 succeeded, 15 declined, 0 rows charged twice" in out
    )
    assert "Demo complete" in out
    assert list(tmp_path.iterdir()) == []  # the demo's journal lived in a temporary directory
    assert elapsed < 60


def test_the_demo_as_json(ching: Ching) -> None:
    ran = ching("demo", "--rows", "60", "--json")
    assert ran.code == 0, ran.err
    assert len(ran.err_lines) == 1  # just the notice: no progress with --json
    assert "CHING_API_KEY is not needed" in ran.err
    result = json.loads(ran.out)
    assert result["setup_session"]["status"] == "succeeded"
    assert result["captured"]["amount_captured"] == 9550
    assert result["canceled"]["status"] == "canceled"
    assert result["charge"]["installments"] == {"count": 3}
    bulk = result["bulk"]
    # 60 rows over 12 customers; customer 7 declines (rows 8, 20, 32, 44, 56)
    assert (bulk["succeeded"], bulk["declined"], bulk["failed"], bulk["unknown"]) == (55, 5, 0, 0)
    assert bulk["from_journal"] >= result["bulk_first_run"]["processed"] == 24
    assert result["ledger"] == {"charges": 60, "succeeded": 55, "declined": 5, "duplicates": 0}


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ching_async.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("ching_async ")
