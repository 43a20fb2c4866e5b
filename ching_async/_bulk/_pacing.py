"""Job-wide pacing: a shared client-side rate limit and a shared 429 backoff.

A bulk job adds its Pacer's `middleware` to each attempt of its calls
(Requester.with_attempt_middleware): it waits for the pacer before each
attempt and tells it about every 429. One task's 429 therefore slows the
whole job down, not just that task. Calls outside a job never pass through it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from .._errors import APITimeoutError
from .._messages import Handler, Request, Response
from .._protocol import parse_retry_after
from .._secrets import attach_context

__all__ = ["Pacer"]

# Wait this long after a 429 that carries no Retry-After.
DEFAULT_RATE_LIMIT_PAUSE = 1.0


class Limiter(Protocol):
    async def acquire(self, amount: float = 1) -> None: ...


class Pacer:
    def __init__(self, limiter: Limiter | None = None, *, max_pause: float = 60.0) -> None:
        self._limiter = limiter
        self._max_pause = max_pause
        self._resume_at = 0.0
        self.rate_limited = 0  # 429s seen by the job

    async def before_attempt(self, deadline: float | None = None) -> bool:
        """Wait for the job's pause and rate limit. False: the call's deadline
        would pass first (nothing is sent)."""
        now = time.monotonic()
        delay = self._resume_at - now
        if deadline is not None and now + max(delay, 0.0) >= deadline:
            return False
        if delay > 0:
            await asyncio.sleep(delay)
        if self._limiter is not None:
            await self._limiter.acquire()
        return True

    async def middleware(self, request: Request, call_next: Handler) -> Response:
        if not await self.before_attempt(request.deadline):
            error = APITimeoutError(
                "the bulk job's rate-limit pause outlasts this call's total_timeout; "
                "the request was not sent",
                may_have_reached_server=False,
            )
            raise attach_context(error, request)
        response = await call_next(request)
        if response.status == 429:
            self.on_rate_limited(parse_retry_after(response.headers.get("retry-after")))
        return response

    def on_rate_limited(self, retry_after: float | None) -> None:
        self.rate_limited += 1
        pause = DEFAULT_RATE_LIMIT_PAUSE if retry_after is None else retry_after
        self._resume_at = max(self._resume_at, time.monotonic() + min(pause, self._max_pause))
