"""Exit codes and the errors the command line turns into them.

`ExitCode` is the one list of exit codes: ``ching --help`` prints it
(`exit_code_help`), the README's "Command line" table repeats it (a test
compares the two), and every command returns one of its members.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import IntEnum
from typing import Any

__all__ = [
    "CliError",
    "ConfigError",
    "ExitCode",
    "Interrupted",
    "UnknownOutcome",
    "UsageError",
    "exit_code_help",
]


class ExitCode(IntEnum):
    """What a ``ching`` command's exit status means (``meaning`` says it in words)."""

    OK = 0
    FAILED = 1
    USAGE = 2
    UNKNOWN = 3
    CONFIG = 4
    INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C; SIGTERM too

    @property
    def meaning(self) -> str:
        return _MEANINGS[self]


_MEANINGS = {
    ExitCode.OK: "success: everything asked for was done",
    ExitCode.FAILED: "an API error, or a bulk row was declined or failed (known not charged)",
    ExitCode.USAGE: "bad arguments or input: nothing was sent",
    ExitCode.UNKNOWN: "an outcome is unknown: a write or a bulk row may or may not have "
    "happened (re-run a bulk job to reconcile it)",
    ExitCode.CONFIG: "configuration or authentication: no API key (CHING_API_KEY or "
    "--api-key), a malformed key or base URL, the API refused the key (401/403), "
    "or the cli extra is not installed",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C or SIGTERM); re-run a bulk job to resume it",
}


def exit_code_help() -> str:
    """The exit codes as ``ching --help`` lists them, one per line."""
    return "exit codes:\n" + "".join(f"  {code.value:>3}  {code.meaning}\n" for code in ExitCode)


class CliError(Exception):
    """An error the command line reports as one line on stderr (no traceback)."""

    exit_code = ExitCode.FAILED

    def __init__(
        self,
        message: str,
        *,
        details: Sequence[str] = (),
        data: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        # Extra lines printed after the message (e.g. one per bad CSV row).
        self.details = tuple(details)
        # Extra fields of the --json error object.
        self.data = dict(data or {})


class UsageError(CliError):
    """The command line or its input is wrong; nothing was sent."""

    exit_code = ExitCode.USAGE


class ConfigError(CliError):
    """No usable key or base URL, or the API refused the key; nothing (more) was sent."""

    exit_code = ExitCode.CONFIG


class UnknownOutcome(CliError):
    """A write may or may not have happened; the message says how to find out."""

    exit_code = ExitCode.UNKNOWN


class Interrupted(CliError):
    """Ctrl-C or SIGTERM, with what the command had done by then."""

    exit_code = ExitCode.INTERRUPTED
