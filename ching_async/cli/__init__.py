"""The ``ching`` command line of ching_async.

    ching charges list
    ching bulk-charge billing.csv --job-id 2026-05
    ching demo

``main(argv)`` returns the exit code, one of ``_errors.ExitCode`` (``ching
--help`` lists them): 0 success; 1 an API error, or rows declined or failed;
2 bad arguments or input; 3 an outcome unknown; 4 no usable key, or the API
refused it; 130 interrupted (Ctrl-C or SIGTERM). Not imported by ``import
ching_async``.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence

from ._errors import ExitCode

__all__ = ["main"]

# What ``pip install 'ching-async[cli]'`` adds; the library itself needs none of it.
_CLI_EXTRA = ("rich",)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ching`` with `argv` (default: ``sys.argv[1:]``); return the exit code."""
    missing = [name for name in _CLI_EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        # Checked before anything imports them, so a library-only install
        # gets this line instead of a traceback.
        sys.stderr.write(
            f"ching: error: the ching command needs the 'cli' extra "
            f"({', '.join(missing)} is not installed): pip install 'ching-async[cli]'\n"
        )
        return ExitCode.CONFIG
    from ._app import run

    return run(argv)
