"""SIGTERM (what ``docker stop``, Kubernetes and systemd send) handled as Ctrl-C.

``asyncio.run`` turns the first Ctrl-C into a cancellation of the command's
task: a bulk job stops taking rows, lets the ones in flight settle (or records
them in doubt) and closes its journal; the command ends with exit code 130 and
one "interrupted" line. `sigterm_as_ctrl_c` does the same for the first
SIGTERM. A second signal of either kind stops the command at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["sigterm_as_ctrl_c"]


@contextlib.contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """Inside the running command's task: the first SIGTERM cancels that task,
    a second raises KeyboardInterrupt (as ``asyncio.run`` does for Ctrl-C)."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is None or threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only: nothing to handle here
        return
    received = 0

    def on_sigterm() -> None:
        nonlocal received
        received += 1
        if received == 1 and not task.done():
            task.cancel()
            return
        raise KeyboardInterrupt  # leaves the event loop at once, as a second Ctrl-C does

    try:
        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    except (NotImplementedError, RuntimeError):  # no signal handlers on this loop (Windows)
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
