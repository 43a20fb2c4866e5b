"""Fixtures for SyncClient tests: a FakeChing on a thread of its own (the test's
thread blocks in each call), a SyncClient factory, the two ways a SyncClient
runs its loop, a middleware that records where each attempt ran, and a check
that no test leaves a thread behind."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import ching_async
from ching_async import Handler, Request, Response
from ching_async.testing import FakeChing

MakeSync = Callable[..., ching_async.SyncClient]


def sync_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "ching_async.SyncClient"]


@pytest.fixture(autouse=True)
def no_thread_left() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert left == [], f"threads left running: {left}"


@pytest.fixture
def fake() -> Iterator[FakeChing]:
    with FakeChing() as fake:  # served from a thread and loop of its own
        yield fake


@pytest.fixture
def make_sync(fake: FakeChing) -> Iterator[MakeSync]:
    """SyncClients pointed at the fake (instant backoff), closed at teardown."""
    made: list[ching_async.SyncClient] = []

    def make(**options: Any) -> ching_async.SyncClient:
        options.setdefault("retry_policy", ching_async.RetryPolicy(instant=True))
        options.setdefault("timeout", 2.0)
        sync = ching_async.SyncClient(fake.api_key, base_url=fake.url, **options)
        made.append(sync)
        return sync

    yield make
    for sync in made:
        sync.close()


@pytest.fixture
def sync(make_sync: MakeSync) -> ching_async.SyncClient:
    return make_sync()


class TaskRunnerTimeLimit(Exception):
    """What a task runner's time limit raises from its signal handler."""


def _time_limit_handler(signum: int, frame: object) -> None:
    raise TaskRunnerTimeLimit


@pytest.fixture(params=["driven", "threaded"])
def mode(request: pytest.FixtureRequest) -> Iterator[str]:
    """How a SyncClient runs its loop for calls from this (the main) thread:
    "driven", the calling thread runs it (the default); "threaded", its own
    thread does, as when the process has a Python signal handler that may
    raise (a Celery worker's time limits), installed here for the test."""
    if request.param == "driven":
        yield "driven"
        return
    previous = signal.signal(signal.SIGUSR2, _time_limit_handler)
    try:
        yield "threaded"
    finally:
        signal.signal(signal.SIGUSR2, previous)


class WhereRun:
    """A middleware recording the loop and thread each attempt ran on."""

    def __init__(self) -> None:
        self.loops: list[asyncio.AbstractEventLoop] = []
        self.threads: list[str] = []

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        self.loops.append(asyncio.get_running_loop())
        self.threads.append(threading.current_thread().name)
        return await call_next(request)

    def expected_thread(self, mode: str) -> str:
        return threading.current_thread().name if mode == "driven" else "ching_async.SyncClient"
