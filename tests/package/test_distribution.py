"""What a user installs: the sdist and wheel `uv build` makes, each extra set
installed from the wheel into a fresh venv, and every entry point started there.

Installs resolve against the package index, pinned to uv.lock's versions, and
reuse uv's cache (a few seconds each once it is warm). The package index is
not loopback, so the module runs only with CHING_DIST_TESTS=1:

    CHING_DIST_TESTS=1 .venv/bin/python -m pytest tests/package/test_distribution.py
"""

from __future__ import annotations

import email.parser
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from ching_async import __version__

# One worker builds the dists once for the whole module (make test runs
# pytest-xdist with --dist loadgroup). Opt-in: building and installing reach
# the package index, and the suite stays on loopback.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("distribution"),
    pytest.mark.skipif(
        os.environ.get("CHING_DIST_TESTS") != "1",
        reason="builds and installs from the package index: set CHING_DIST_TESTS=1",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 300
SDIST_TOP = {"pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "PKG-INFO", ".gitignore"}
CLI_HINT = "pip install 'ching-async[cli]'"

PLUGIN_TEST = """
import pytest

import ching_async.testing


@pytest.mark.asyncio
async def test_the_plugin_serves_a_fake(ching_client, fake_ching):
    customer = await ching_client.customers.create(name="Dana", email="dana@example.com")
    assert (await ching_client.customers.retrieve(customer.id)).name == "Dana"
    assert isinstance(fake_ching, ching_async.testing.FakeChing)
"""


@dataclass(frozen=True)
class Dists:
    sdist: Path
    wheel: Path
    constraints: Path  # uv.lock's versions, as pip constraints


def uv() -> str:
    found = ROOT / ".tools" / "bin" / "uv"
    if found.exists():
        return str(found)
    on_path = shutil.which("uv")
    if on_path is None:
        pytest.fail("no uv: `make test` installs it into .tools/bin")
    return on_path


def run(*command: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(NO_COLOR="1", UV_NO_PROGRESS="1")
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def ok(*command: str | Path, cwd: Path = ROOT) -> str:
    done = run(*command, cwd=cwd)
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    out = tmp_path_factory.mktemp("dist")
    # From a directory, uv builds the sdist, then the wheel from the sdist:
    # so the sdist is proven to hold what a build needs.
    ok(uv(), "build", "--out-dir", out, "--no-python-downloads", ROOT)
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    constraints = out / "constraints.txt"
    ok(
        uv(),
        "export",
        "--frozen",
        "--all-extras",
        "--no-dev",
        "--no-emit-project",
        "--no-hashes",
        "--output-file",
        constraints,
    )
    return Dists(sdist, wheel, constraints)


def package_files() -> set[str]:
    """ching_async's files as the repository has them (no caches)."""
    package = ROOT / "ching_async"
    return {
        path.relative_to(ROOT).as_posix()
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def wheel_metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(archive.read(name).decode())


def test_the_sdist_holds_the_package_and_its_metadata_and_no_lockfile(dists: Dists) -> None:
    with tarfile.open(dists.sdist) as archive:
        names = {member.name.split("/", 1)[1] for member in archive.getmembers() if member.isfile()}
    assert dists.sdist.name == f"ching_async-{__version__}.tar.gz"
    # The tests stay out: they need the repository (README, benchmarks/,
    # examples/, the dev group of uv.lock), which a tag gives whole.
    assert names == SDIST_TOP | package_files()


def test_the_wheel_holds_the_package_and_its_entry_points(dists: Dists) -> None:
    assert dists.wheel.name == f"ching_async-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(dists.wheel) as archive:
        names = set(archive.namelist())
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entries = archive.read(entry_points).decode()
    assert {n for n in names if not n.startswith(f"ching_async-{__version__}.dist-info/")} == (
        package_files()
    )
    assert "ching = ching_async.cli:main" in entries
    assert "ching_async = ching_async.testing.plugin" in entries


def test_the_wheel_metadata_asks_for_the_core_only(dists: Dists) -> None:
    metadata = wheel_metadata(dists.wheel)
    assert metadata["Version"] == __version__
    requires = metadata.get_all("Requires-Dist") or []
    core = sorted(r.split(">")[0] for r in requires if "extra ==" not in r)
    assert core == ["aiohttp", "aiolimiter", "attrs", "cattrs", "orjson", "tenacity"]
    by_extra = {
        extra: sorted(r.split(">")[0] for r in requires if f"extra == '{extra}'" in r)
        for extra in metadata.get_all("Provides-Extra") or []
    }
    assert by_extra == {
        "arq": ["arq"],
        "cli": ["rich"],
        "otel": ["opentelemetry-api"],
        "testing": ["pytest", "pytest-asyncio"],
    }
    assert "ching" in (metadata["Keywords"] or "")
    assert metadata.get_all("Project-URL")


@dataclass(frozen=True)
class Venv:
    path: Path
    extras: str

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def ching(self) -> Path:
        return self.path / "bin" / "ching"

    def has(self, dist: str) -> bool:
        code = f"import importlib.metadata as m; m.distribution({dist!r})"
        return run(self.python, "-c", code).returncode == 0


@pytest.fixture(scope="module", params=["", "cli", "otel", "arq", "testing"])
def venv(
    request: pytest.FixtureRequest, dists: Dists, tmp_path_factory: pytest.TempPathFactory
) -> Venv:
    extras: str = request.param
    path = tmp_path_factory.mktemp(f"venv-{extras or 'core'}") / "venv"
    ok(uv(), "venv", "--quiet", "--no-python-downloads", "--python", sys.executable, path)
    wanted = f"ching-async[{extras}] @ {dists.wheel.as_uri()}"
    python = path / "bin" / "python"
    ok(uv(), "pip", "install", "--quiet", "--python", python, "-c", dists.constraints, wanted)
    return Venv(path, extras)


def test_the_library_imports_with_only_its_own_dependencies(venv: Venv) -> None:
    code = (
        "import sys, ching_async, ching_async.testing, ching_async.webhooks; "
        "assert 'rich' not in sys.modules; print(ching_async.__version__)"
    )
    assert ok(venv.python, "-c", code).strip() == __version__
    fake_help = ok(venv.python, "-m", "ching_async.testing", "--help")
    assert fake_help.startswith("usage: python -m ching_async.testing")
    assert venv.has("rich") == (venv.extras == "cli")
    for dist in ("stripe", "httpx"):  # benchmark-only: a dependency group, never published
        assert not venv.has(dist)


def test_ching_starts_and_without_the_cli_extra_says_which_to_install(venv: Venv) -> None:
    done = run(venv.ching, "--help")
    if venv.extras == "cli":
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("usage: ching")
        assert ok(venv.ching, "--version").strip() == f"ching_async {__version__}"
        # Every table, the progress bar and a bulk job, on the embedded fake.
        assert (
            ok(venv.ching, "demo")
            .rstrip()
            .endswith("Demo complete: every step did what it showed.")
        )
    else:
        assert done.returncode == 4  # ExitCode.CONFIG
        assert done.stdout == ""
        assert done.stderr.splitlines() == [
            f"ching: error: the ching command needs the 'cli' extra (rich is not installed): "
            f"{CLI_HINT}"
        ]


def test_each_optional_module_works_with_its_extra_or_names_it(venv: Venv) -> None:
    otel = run(venv.python, "-c", "from ching_async.otel import OpenTelemetry; OpenTelemetry()")
    scaleout = run(venv.python, "-c", "import ching_async.scaleout")
    if venv.extras == "otel":
        assert otel.returncode == 0, otel.stderr
    else:
        assert "pip install 'ching-async[otel]'" in otel.stderr
    if venv.extras == "arq":
        assert scaleout.returncode == 0, scaleout.stderr
    else:
        assert "pip install 'ching-async[arq]'" in scaleout.stderr


def test_the_pytest_plugin_serves_its_fixtures_with_the_testing_extra(
    venv: Venv, tmp_path: Path
) -> None:
    if venv.extras != "testing":
        assert not venv.has("pytest")
        return
    (tmp_path / "test_app.py").write_text(PLUGIN_TEST)
    options = ("-q", "-p", "no:cacheprovider", "-o", "asyncio_default_fixture_loop_scope=function")
    done = run(venv.python, "-m", "pytest", *options, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
