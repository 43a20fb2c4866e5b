"""Time for the fake: an injectable clock plus an offset that tests can advance."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class OffsetClock:
    """Wraps a base clock; ``advance`` moves time forward without touching the base."""

    __slots__ = ("_base", "offset")

    def __init__(self, base: Clock | None = None) -> None:
        self._base: Clock = base if base is not None else utc_now
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        now = self._base()
        if now.tzinfo is None:
            # Naive datetimes would silently compare wrong against stored UTC times.
            raise ValueError("the FakeChing clock must return timezone-aware datetimes")
        return now + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


def format_timestamp(moment: datetime) -> str:
    """The API's timestamp format: ``2026-04-19T09:12:43.000Z`` (UTC, milliseconds)."""
    naive_utc = moment.astimezone(UTC).replace(tzinfo=None)
    return naive_utc.isoformat(timespec="milliseconds") + "Z"  # C-fast; this is a hot path


def format_optional(moment: datetime | None) -> str | None:
    return None if moment is None else format_timestamp(moment)
