"""Asking before an irreversible live-mode action (``customers delete``, ``refunds create``).

In live mode, without ``--yes``, the command asks on the terminal. When stdin
is not a terminal there is no one to ask: the command refuses (exit 2) before
anything is sent, so a script has to say ``--yes`` explicitly.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

from .. import Client
from ._errors import UsageError
from ._output import Output

__all__ = ["ask", "needs_confirmation"]


def needs_confirmation(client: Client, *, yes: bool, action: str) -> bool:
    """True when the caller must `ask` first (live mode, no --yes, on a terminal).

    Raises UsageError (exit 2) in live mode without --yes when stdin is not a
    terminal. Sends nothing.
    """
    if client.mode != "live" or yes:
        return False
    if not _stdin_is_a_terminal():
        raise UsageError(
            f"{action} in live mode needs --yes (stdin is not a terminal, so there is "
            "no one to ask); nothing was sent"
        )
    return True


def ask(out: Output, question: str) -> None:
    """Ask `question` on stderr and read y/N from stdin; anything but yes raises UsageError."""
    out.stderr.write(f"ching: {question} [y/N] ")
    out.stderr.flush()
    with _interruptible():
        answer = sys.stdin.readline()
    if not answer:  # end of input (Ctrl-D)
        out.stderr.write("\n")
    if answer.strip().lower() not in ("y", "yes"):
        raise UsageError("not confirmed; nothing was changed")


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """Ctrl-C or SIGTERM raises KeyboardInterrupt at once during a blocking read.

    Under asyncio.run, SIGINT (and SIGTERM, see _interrupts) only cancels the
    main task, which a blocking read in that task does not notice: the first
    signal at the prompt would be ignored until Enter.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        signum: signal.signal(signum, signal.default_int_handler)
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stdin_is_a_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (OSError, ValueError):  # closed or detached stdin
        return False
