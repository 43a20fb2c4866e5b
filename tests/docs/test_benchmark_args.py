"""The benchmark scripts refuse bad arguments with a usage error (exit 2), not
a traceback or a table of silently skipped rows. Argument parsing only: no
benchmark runs here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.mark.parametrize(
    ("script", "args", "message"),
    [
        ("bench_http.py", ["--clients", "ching_async"], "unknown: ching_async; choose from"),
        ("bench_http.py", ["--scenarios", "get_list"], "unknown: get_list; choose from"),
        ("bench_http.py", ["--clients", ","], "unknown: (none given)"),
        ("bench_http.py", ["--rounds", "0"], "must be at least 1, got 0"),
        ("bench_decode.py", ["--rounds", "-1"], "must be at least 1, got -1"),
        ("bench_import.py", ["--rounds", "two"], "expected a whole number, got 'two'"),
        ("profile_ching.py", ["--interval", "nan"], "must be above 0 and finite"),
        ("split_get.py", ["--requests", "0"], "must be at least 1, got 0"),
        ("bench_billing.py", ["--subscriptions", "0"], "must be at least 1, got 0"),
        ("inprocess_chain.py", ["--calls", "0"], "must be at least 1, got 0"),
    ],
)
def test_a_bad_argument_is_a_usage_error(script: str, args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
