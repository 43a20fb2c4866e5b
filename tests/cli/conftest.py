"""Fixtures for the `ching` command line tests.

`main(argv)` runs its own event loop (asyncio.run), so a FakeChing standing in
for the real API runs on another loop, in a thread: `remote_fake` is that
server, and `with_api_key` points CHING_API_KEY / CHING_BASE_URL at it.
"""

from __future__ import annotations

import asyncio
import io
import subprocess
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from ching_async.cli import main
from ching_async.testing import FakeChing

T = TypeVar("T")

# The first stderr line of a command run with --fake.
FAKE_NOTICE = "ching: --fake: using an embedded fake CHING server"


class RemoteFake:
    """A FakeChing served from its own thread and event loop."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.fake: FakeChing = self._run(self._start())

    async def _start(self) -> FakeChing:
        fake = FakeChing()
        await fake.start()
        return fake

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def call(self, fn: Callable[[FakeChing], T]) -> T:
        """Run `fn(fake)` on the server's loop (seeding, inspecting)."""

        async def call() -> T:
            return fn(self.fake)

        return self._run(call())

    def close(self) -> None:
        self._run(self.fake.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()


@pytest.fixture
def remote_fake() -> Iterator[RemoteFake]:
    remote = RemoteFake()
    try:
        yield remote
    finally:
        remote.close()


@pytest.fixture
def with_api_key(remote_fake: RemoteFake, monkeypatch: pytest.MonkeyPatch) -> RemoteFake:
    monkeypatch.setenv("CHING_API_KEY", remote_fake.fake.api_key)
    monkeypatch.setenv("CHING_BASE_URL", remote_fake.fake.url)
    return remote_fake


@pytest.fixture
def live(remote_fake: RemoteFake, monkeypatch: pytest.MonkeyPatch) -> RemoteFake:
    """CHING_API_KEY is a live key (of the remote fake): client.mode == "live"."""
    monkeypatch.setenv("CHING_API_KEY", remote_fake.fake.live_api_key)
    monkeypatch.setenv("CHING_BASE_URL", remote_fake.fake.url)
    return remote_fake


class Terminal(io.StringIO):
    """stdin as a terminal where the user types what it was made with."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def in_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands that write files by default (journals) write them here."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def no_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts without a key (the embedded fake) unless it sets one."""
    monkeypatch.delenv("CHING_API_KEY", raising=False)
    monkeypatch.delenv("CHING_BASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # rich: no wrapping in captured tables


class Ran:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()

    def usage_error(self) -> str:
        """The one `ching: error: ...` line of a usage error (exit 2, nothing on stdout)."""
        assert self.code == 2
        assert self.out == ""
        assert len(self.err_lines) == 1, self.err
        assert self.err_lines[0].startswith("ching: error: ")
        return self.err_lines[0]


@pytest.fixture
def ching(capsys: pytest.CaptureFixture[str]) -> Callable[..., Ran]:
    """`ching("charges", "list")` runs main() in-process and captures its output."""

    def run(*argv: str) -> Ran:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err
        return Ran(code, captured.out, captured.err)

    return run


@contextmanager
def running(argv: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """`argv` as a real process (text stdout and stderr piped), killed on the
    way out if it is still running, say after a failed assertion."""
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
