"""Exit codes and the errors the command line turns into them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CliError",
    "UsageError",
]

EXIT_OK = 0  # everything asked for succeeded
EXIT_FAILED = 1  # an API error, or a bulk row declined / failed / unknown
EXIT_USAGE = 2  # bad arguments or a bad input file: nothing was sent
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)


class CliError(Exception):
    """An error the command line reports as one line on stderr (no traceback)."""

    exit_code = EXIT_FAILED

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

    exit_code = EXIT_USAGE
