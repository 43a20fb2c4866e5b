"""A FakeChing served by an event loop on a thread of its own, for tests whose
own thread blocks (SyncClient calls): on the test's loop, the fake could not
answer while the test waits."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ching_async.testing import FakeChing

T = TypeVar("T")


class FakeThread:
    """`fake` runs on `loop`; `run(coro)` runs a coroutine there (wait_for_commits)."""

    def __init__(self, fake: FakeChing, loop: asyncio.AbstractEventLoop) -> None:
        self.fake = fake
        self.loop = loop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@contextmanager
def fake_on_thread(**options: Any) -> Iterator[FakeThread]:
    """A started FakeChing(**options) on its own thread; closed, and the thread
    joined, on exit."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="FakeChing", daemon=True)
    thread.start()

    async def start() -> FakeChing:
        fake = FakeChing(**options)
        await fake.start()
        return fake

    try:
        served = FakeThread(asyncio.run_coroutine_threadsafe(start(), loop).result(10), loop)
        try:
            yield served
        finally:
            served.run(served.fake.close())
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
