"""CHING_LOG: turn the library's logging on without touching logging config.

The loggers: `ching_async` (each attempt at DEBUG; warnings), its child
`ching_async.retry` (each decision of the retry loop: retries,
reconciliation, giving up for lack of time and outcome-unknown at INFO, the
rest at DEBUG), and
`ching_async.webhooks` / `ching_async.scaleout`. Nothing is logged unless the
application configures logging or sets CHING_LOG=debug|info, which gives the
`ching_async` logger a stderr handler at that level (once per process, and
only if the application has not given it a handler of its own). No record
carries the API key.
"""

from __future__ import annotations

import logging
import os

__all__ = ["setup_from_env"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}
_done = False


def setup_from_env() -> None:
    global _done
    if _done:
        return
    _done = True
    value = os.environ.get("CHING_LOG", "").strip().lower()
    level = _LEVELS.get(value)
    if level is None:
        if value:
            logging.getLogger("ching_async").warning(
                "CHING_LOG=%r is not one of %s; ignored", value, sorted(_LEVELS)
            )
        return
    logger = logging.getLogger("ching_async")
    logger.setLevel(level)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
