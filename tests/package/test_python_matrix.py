"""The Pythons the package claims are the ones `make test` runs the suite on,
and scripts/test_pythons.py says so, and fails in CI, when one is missing."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "test_pythons.py"


def makefile_pythons() -> list[str]:
    found = re.search(r"^PYTHONS := (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert found is not None, "Makefile sets no PYTHONS"
    return found[1].split()


def test_the_classifiers_name_exactly_the_pythons_make_test_runs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    versions = [
        found[1]
        for classifier in project["classifiers"]
        if (found := re.fullmatch(r"Programming Language :: Python :: (3\.\d+)", classifier))
    ]
    assert versions == makefile_pythons() == ["3.11", "3.12", "3.13"]
    assert project["requires-python"] == f">={makefile_pythons()[0]}"


def matrix(*versions: str, ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, str(SCRIPT), *versions],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_a_missing_interpreter_is_reported_and_fails_only_in_ci() -> None:
    local = matrix("3.99", ci=False)
    assert local.returncode == 0, local.stderr
    missing = "CPython 3.99: MISSING: no python3.99 on PATH, under pyenv or known to uv"
    assert missing in local.stdout
    assert local.stdout.splitlines()[-2:] == [
        "not tested on 3.99",
        "matrix: 0 passed, 0 failed, 0 skipped",
    ]
    in_ci = matrix("3.99", ci=True)
    assert in_ci.returncode == 1
    assert "not tested on 3.99: fails in CI" in in_ci.stdout


def test_the_running_python_is_found_by_its_version(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lookup make test relies on (pyenv's shims alone fail for a version
    that is not selected, so uv cannot be left to find them)."""
    spec = importlib.util.spec_from_file_location("test_pythons", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "test_pythons", script)  # dataclasses look it up
    spec.loader.exec_module(script)
    version = "{}.{}".format(*sys.version_info[:2])
    found = script.find_python(version, str(ROOT / ".tools" / "bin" / "uv"))
    assert found is not None
    python, full = found
    assert full == "{}.{}.{}".format(*sys.version_info[:3])
    assert script.report_version(python) == full
