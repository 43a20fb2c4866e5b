"""Fixtures: a real redis-server on a free 127.0.0.1 port, FakeChing, arq workers.

redis-server runs from a tmp dir with no persistence (--save '' --appendonly
no) and is killed at the end of the session, even after a failure. Tests that
need it are skipped, with the reason, only when no redis-server binary exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("arq", reason="the arq extra is not installed")

import ching_async
from ching_async.testing import FakeChing

BOUND = 30.0  # seconds: no in-process worker or follow may run longer than this

REDIS_CANDIDATES = (
    "/usr/bin/redis-server",
    "/usr/sbin/redis-server",
    "/usr/local/bin/redis-server",
)


def find_redis_server() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    return next((path for path in REDIS_CANDIDATES if os.access(path, os.X_OK)), None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_command(port: int, *words: str) -> bytes:
    """One inline command over a fresh connection (no client library needed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(" ".join(words).encode() + b"\r\n")
        return sock.recv(65536)


class RedisServer:
    def __init__(self, binary: str, directory: Path, *, appendonly: bool = False) -> None:
        self.binary = binary
        self.directory = directory
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, same_port: bool = False) -> None:
        """Start on a free port, or (`same_port`) again on the port it had."""
        for _ in range(1 if same_port else 5):  # a free port can be taken before binding
            if not same_port:
                self.port = free_port()
            log = (self.directory / f"redis-{self.port}.log").open("ab")
            self.process = subprocess.Popen(
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "yes" if self.appendonly else "no",
                    "--dir",
                    str(self.directory),
                    "--daemonize",
                    "no",
                    "--loglevel",
                    "warning",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
            )
            log.close()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.process.poll() is None:
                with contextlib.suppress(OSError):
                    if redis_command(self.port, "PING").startswith(b"+PONG"):
                        return
                time.sleep(0.05)
            self.stop()
        raise RuntimeError(f"redis-server did not start; see {self.directory}")

    def flush(self) -> None:
        assert redis_command(self.port, "FLUSHALL").startswith(b"+OK")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    binary = find_redis_server()
    if binary is None:
        pytest.skip("no redis-server binary found (apt-get install -y redis-server)")
    server = RedisServer(binary, tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    redis_server.flush()
    return redis_server.url


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Any]:
    from arq import create_pool
    from arq.connections import RedisSettings

    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        yield pool
    finally:
        await pool.aclose()


@pytest.fixture
def fake_ching_options() -> dict[str, Any]:
    return {"log_requests": True}


@pytest.fixture
def fake(fake_ching: FakeChing) -> FakeChing:
    """The plugin's FakeChing, logging every request it answers."""
    return fake_ching


def client_options(fake: FakeChing, **overrides: Any) -> dict[str, Any]:
    return {
        "api_key": fake.api_key,
        "base_url": fake.url,
        "timeout": 1.0,
        "retry_policy": ching_async.RetryPolicy(instant=True),
        **overrides,
    }


async def run_burst_worker(redis_url: str, fake: FakeChing, **settings: Any) -> Any:
    """An arq worker in this event loop that stops when the queue is empty."""
    from arq.worker import create_worker

    from ching_async.scaleout import worker_settings
    from ching_async.scaleout._worker import close_worker

    settings.setdefault("job_timeout", 10)
    settings.setdefault("poll_delay", 0.05)
    worker = create_worker(
        worker_settings(
            redis_url,
            burst=True,
            handle_signals=False,
            client_options=client_options(fake, **settings.pop("client", {})),
            **settings,
        )
    )
    try:
        async with asyncio.timeout(BOUND):
            await worker.async_run()
    finally:
        await close_worker(worker)
    return worker


WORKER_SCRIPT = """
import logging, sys
from ching_async import RetryPolicy
from ching_async.scaleout import run_worker
logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                    format="%(asctime)s %(process)d %(name)s %(message)s")
redis_url, api_key, base_url, job_timeout, max_jobs = sys.argv[1:6]
run_worker(
    redis_url,
    job_timeout=float(job_timeout),
    max_jobs=int(max_jobs),
    poll_delay=0.05,
    client_options={"api_key": api_key, "base_url": base_url, "timeout": 1.0,
                    "retry_policy": RetryPolicy(instant=True)},
)
"""


class WorkerProcesses:
    """Worker subprocesses (`run_worker`), each killed at teardown whatever happens."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(
        self, redis_url: str, fake: FakeChing, *, job_timeout: float, max_jobs: int = 2
    ) -> subprocess.Popen[bytes]:
        log = (self.directory / f"worker-{len(self.processes)}.log").open("wb")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER_SCRIPT,
                redis_url,
                fake.api_key,
                fake.url,
                str(job_timeout),
                str(max_jobs),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        log.close()
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}"
            for path in sorted(self.directory.glob("worker-*.log"))
        )

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)


@pytest.fixture
def worker_processes(tmp_path: Path) -> Iterator[WorkerProcesses]:
    workers = WorkerProcesses(tmp_path)
    try:
        yield workers
    finally:
        workers.stop_all()


async def wait_until(predicate: Callable[[], Any], *, within: float, what: str) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.05)
