"""Run the test suite on every supported CPython, each from uv.lock.

    make test                                    # lint once, then this for 3.11, 3.12, 3.13
    .venv/bin/python scripts/test_pythons.py --uv .tools/bin/uv 3.12 -- tests/cli -x

Each version gets its own environment, ``.venvs/py<version>``, synced from the
lockfile with every extra (``uv sync --frozen``), and runs pytest there on
pytest-xdist workers (``PYTEST_WORKERS``, default 2). An interpreter is looked
for as ``python<version>`` on PATH, under pyenv's versions, then by uv; it is
never downloaded. One that is missing is reported, and fails the run when
``CI`` is set (a matrix that quietly shrinks is no matrix). The last line sums
the runs as ``matrix: N passed, N failed, N skipped``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# pytest's closing line: "==== 1930 passed, 3 skipped, 1 warning in 201.5s (0:03:21) ===="
# (without the rules under -q)
SUMMARY = re.compile(
    r"^(?:=+ )?(?P<counts>\d+ \w+(?:, \d+ \w+)*) in [\d.]+s(?: \([\d:]+\))?(?: =+)?$"
)
COUNT = re.compile(r"(\d+) (\w+)")
PLURAL = {"errors": "error", "warnings": "warning"}


@dataclass
class Run:
    version: str
    python: str | None = None
    full: str = ""  # the interpreter's own version, e.g. 3.12.1
    problem: str | None = None  # why it did not run, or did not pass
    counts: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


def report_version(python: str) -> str | None:
    """'3.12.1' if `python` runs and is CPython, else None (a pyenv shim for a
    version that is not selected exits 127)."""
    code = "import sys; print(sys.implementation.name, '%d.%d.%d' % sys.version_info[:3])"
    try:
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    name, _, full = done.stdout.strip().partition(" ")
    return full if done.returncode == 0 and name == "cpython" else None


def patch_level(path: Path) -> int:
    patch = path.parent.parent.name.split(".")[2:3]
    return int(patch[0]) if patch and patch[0].isdigit() else -1


def candidates(version: str, uv: str) -> list[str]:
    found = [f"python{version}"]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    pyenv = (pyenv_root / "versions").glob(f"{version}.*/bin/python{version}")
    found += [str(path) for path in sorted(pyenv, key=patch_level, reverse=True)]
    try:
        by_uv = subprocess.run(
            [uv, "python", "find", "--no-python-downloads", version],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return found
    if by_uv.returncode == 0 and by_uv.stdout.strip():
        found.append(by_uv.stdout.strip())
    return found


def find_python(version: str, uv: str) -> tuple[str, str] | None:
    """The first CPython `version` found, and its full version."""
    for python in candidates(version, uv):
        full = report_version(python)
        if full is not None and full.rsplit(".", 1)[0] == version:
            return python, full
    return None


def run_suite(run: Run, uv: str, workers: str, pytest_args: list[str]) -> None:
    assert run.python is not None
    venv = ROOT / ".venvs" / f"py{run.version}"
    sync = [uv, "sync", "--frozen", "--all-extras", "--no-python-downloads", "--quiet"]
    synced = subprocess.run(
        [*sync, "--python", run.python],
        cwd=ROOT,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)},
        check=False,
    )
    if synced.returncode != 0:
        run.problem = f"uv sync into {venv.relative_to(ROOT)} failed"
        return
    command = [str(venv / "bin" / "python"), "-m", "pytest", "-n", workers, "--dist", "loadgroup"]
    command += pytest_args
    print(f"\n### CPython {run.full} ({run.python}): {' '.join(command)}", flush=True)
    started = time.monotonic()
    summary = None
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as pytest:
        assert pytest.stdout is not None
        for line in pytest.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            summary = SUMMARY.match(line.strip()) or summary
    run.seconds = time.monotonic() - started
    if summary is not None:
        for number, word in COUNT.findall(summary["counts"]):
            run.counts[PLURAL.get(word, word)] += int(number)
    if pytest.returncode != 0:
        run.problem = f"pytest exited {pytest.returncode}"
    elif not run.counts["passed"]:
        run.problem = "no test passed"


def describe(run: Run) -> str:
    if run.python is None:
        return f"CPython {run.version}: MISSING ({run.problem})"
    counts = ", ".join(f"{n} {word}" for word, n in run.counts.items() if word != "warning")
    verdict = f"FAILED ({run.problem}): " if run.problem else ""
    return f"CPython {run.full}: {verdict}{counts or 'no tests ran'} in {run.seconds:.0f}s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--uv", default=str(ROOT / ".tools" / "bin" / "uv"))
    parser.add_argument("versions", nargs="+", help="e.g. 3.11 3.12 3.13; pytest's own after --")
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    pytest_args = argv[split + 1 :]
    workers = os.environ.get("PYTEST_WORKERS", "2")
    in_ci = os.environ.get("CI", "").lower() not in ("", "0", "false")

    runs = [Run(version) for version in args.versions]
    for run in runs:
        found = find_python(run.version, args.uv)
        if found is None:
            run.problem = (
                f"no python{run.version} on PATH, under pyenv or known to uv; "
                f"install it (pyenv install {run.version}) to test on it"
            )
            print(f"\n### CPython {run.version}: MISSING: {run.problem}", flush=True)
            continue
        run.python, run.full = found
        run_suite(run, args.uv, workers, pytest_args)

    print("\n### Python matrix")
    for run in runs:
        print(describe(run))
    total = sum((run.counts for run in runs), Counter[str]())
    missing = [run.version for run in runs if run.python is None]
    failed = [run.version for run in runs if run.python is not None and run.problem]
    if missing:
        print(f"not tested on {', '.join(missing)}" + (": fails in CI" if in_ci else ""))
    print(
        f"matrix: {total['passed']} passed, {total['failed'] + total['error']} failed, "
        f"{total['skipped']} skipped"
    )
    return 1 if failed or (missing and in_ci) else 0


if __name__ == "__main__":
    sys.exit(main())
