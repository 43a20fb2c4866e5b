"""An event loop on a daemon thread: how a FakeChing serves sync code.

A sync test client (Starlette's ``TestClient``, Django's) blocks the thread it
is called from while the app under test makes its requests. A fake on that
thread's loop could never answer them, so the fake gets a loop of its own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """An event loop running forever on its own daemon thread until ``stop``."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:  # what asyncio.run does after its main task, so nothing leaks
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            pending = asyncio.all_tasks(self.loop)
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def is_current(self) -> bool:
        """Is the caller running on this thread (so on this loop)?"""
        return threading.get_ident() == self._thread.ident

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on this loop; block the calling (other) thread for its result."""
        return self.submit(coro).result()

    def call(self, fn: Callable[[], T]) -> T:
        """Call ``fn()`` on this loop between two of its steps; block for its result."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def call() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:  # re-raised in the caller's thread
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(call)
        return future.result()

    def stop(self) -> None:
        """Stop the loop, cancel what is left on it, and wait for the thread to end."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
