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

from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ching`` with `argv` (default: ``sys.argv[1:]``); return the exit code."""
    from ._app import run

    return run(argv)
