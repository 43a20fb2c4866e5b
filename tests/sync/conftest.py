"""Fixtures for SyncClient tests: a FakeChing on a thread of its own (the test's
thread blocks in each call), a SyncClient factory, and a check that no test
leaves a thread behind."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import ching_async
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
