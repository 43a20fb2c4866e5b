"""Bounded, explicit retries over tenacity, safe by construction for POSTs.

Policy, in one place:
- A request marked `safe_to_retry` (GET) is retried on connection errors,
  timeouts, 429 and 500/502/503/504.
- Any request is retried when the failure provably had no effect: the
  connection could not be established, or the server answered 429.
- A POST failure that may have taken effect (timeout or connection lost after
  sending, 500/502/503/504) is never re-sent blindly. If the request carries a
  reconciler, the next step asks it whether the POST took effect; only a proven
  "no" allows a re-send. Without one, the failure is final with
  `outcome_unknown=True`.
- Attempts are bounded by `max_retries` and by `total_timeout` across all
  attempts, lookups and sleeps. Waits are jittered exponential; a server's
  Retry-After is honored up to `max_retry_after`, above which the 429 is final.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    import tenacity

from ._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ChingError,
    InvalidParameterError,
    LookupInconclusiveError,
    OutcomeUnknownError,
    ResponseDecodeError,
)
from ._messages import Handler, Request, Response, _replace
from ._protocol import decode_envelope, error_envelope, parse_retry_after
from ._reconcile import LIST_LIMIT
from ._secrets import attach_context

__all__ = ["RetryMiddleware", "RetryPolicy"]

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Keys remembered as still settling (see _look_first); beyond this, none more.
_MAX_UNSETTLED = 10_000
AMBIGUOUS_STATUSES = frozenset({500, 502, 503, 504})


def _seconds(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise InvalidParameterError(
            f"RetryPolicy.{attribute.name} must be a number of seconds >= 0, got {value!r}"
        )


def _flag(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not True and value is not False:
        raise InvalidParameterError(
            f"RetryPolicy.{attribute.name} must be True or False, got {value!r}"
        )


@attrs.frozen
class RetryPolicy:
    """How to wait between attempts. Attempt count and deadline are Client settings.

    `instant=True` makes every wait zero (for tests); nothing else changes.
    """

    initial_backoff: float = attrs.field(default=0.5, validator=_seconds)
    max_backoff: float = attrs.field(default=8.0, validator=_seconds)
    max_retry_after: float = attrs.field(default=60.0, validator=_seconds)
    jitter: bool = attrs.field(default=True, validator=_flag)
    instant: bool = attrs.field(default=False, validator=_flag)
    # After a POST failure CHING did not answer itself (timeout, dropped
    # connection, 504, a proxy's error page), the server may still be working
    # on the first send: an empty lookup proves nothing until this many
    # seconds after the failure. It should exceed the longest time CHING can
    # spend on a request. `instant` skips it too.
    settle: float = attrs.field(default=30.0, validator=_seconds)

    def backoff(self, retry_number: int, rng: Callable[[], float] = random.random) -> float:
        """Full-jitter exponential backoff for the n-th retry (1-based)."""
        ceiling = min(self.max_backoff, self.initial_backoff * 2 ** (retry_number - 1))
        return float(ceiling * rng()) if self.jitter else float(ceiling)


def _answered_by_ching(response: Response) -> bool:
    """A 500/502/503 whose body is CHING's own JSON error envelope: CHING has
    finished with the request. A 504, or a proxy's page, says nothing of that."""
    return response.status != 504 and error_envelope(response) is not None


def _unreadable_success(response: Response) -> bool:
    """A 2xx whose body is not a CHING envelope (truncated, not JSON, empty)."""
    if not 200 <= response.status < 300:
        return False
    try:
        decode_envelope(response)
    except ResponseDecodeError:
        return True
    except ChingError:  # CHING's own failure envelope on a 2xx: a readable answer
        return False
    return False


def _decode_failure(response: Response) -> ResponseDecodeError:
    """The ResponseDecodeError of an unreadable 2xx."""
    try:
        decode_envelope(response)
    except ResponseDecodeError as exc:
        return exc
    raise AssertionError("only called for an unreadable 2xx")  # pragma: no cover


class _Again(Exception):
    """Internal signal to tenacity: this step failed in a retryable way."""


class _CallState:
    """What one logical call has seen so far, across its attempts.

    A plain class, not attrs: built only after a failure, and attrs would
    compile its methods at every `import ching_async` (about 1 ms)."""

    __slots__ = (
        "deadline",
        "last_error",
        "last_response",
        "looked_early",
        "lookup_error",
        "lookups",
        "max_lookups",
        "max_sends",
        "pending_lookup",
        "request",
        "retry_after",
        "sends",
        "settle_until",
    )

    def __init__(self, request: Request, deadline: float, max_sends: int, sends: int) -> None:
        self.request = request
        self.deadline = deadline
        self.max_sends = max_sends
        self.sends = sends
        self.lookups = 0
        # Up to two lookups per send: one at once, one after settling.
        self.max_lookups = 2 * max_sends
        # True after an ambiguous failure until a reconciler lookup settles it.
        self.pending_lookup = False
        # Before this (monotonic) time an empty lookup does not prove absence.
        self.settle_until = 0.0
        self.looked_early = False
        self.retry_after: float | None = None
        self.last_response: Response | None = None
        self.last_error: BaseException | None = None
        self.lookup_error: BaseException | None = None


class RetryMiddleware:
    """The retry/backoff/reconcile middleware. One instance per client."""

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        max_retries: int,
        total_timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self.max_retries = max_retries
        self.total_timeout = total_timeout
        self._clock = clock
        # Calls with a caller's idempotency key (see _look_first): the keys
        # in flight, and until when an empty lookup proves nothing for a key
        # whose last call ended in doubt.
        self._keys_in_flight: dict[str, asyncio.Event] = {}
        self._unsettled: dict[str, float] = {}

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        # Fast path: most calls succeed first time. The first send is inlined
        # and the call's state is built only when it fails: ~8,600 instructions
        # a call (no _step frame, no _CallState, no deadline check against a
        # deadline set just now).
        deadline = self._clock() + self.total_timeout
        if request.reconciler is not None and request.reconciler.look_first:
            return await self._look_first(request, deadline, call_next)
        timeout = min(request.timeout, self.total_timeout)
        first = _replace(request, {"attempt": 1, "timeout": timeout, "deadline": deadline})
        outcome: Response | APIConnectionError
        try:
            outcome = await call_next(first)
        except APIConnectionError as exc:
            outcome = exc  # handled outside this block: no __context__ for what follows
        else:
            if (
                outcome.status < 429
                and outcome.attempts == 1
                and (request.reconciler is None or not _unreadable_success(outcome))
            ):
                return outcome  # neither retryable nor in doubt: final as it is
        return await self._after_first(request, deadline, outcome, call_next)

    async def _after_first(
        self,
        request: Request,
        deadline: float,
        first: Response | APIConnectionError,
        call_next: Handler,
    ) -> Response:
        """The first send failed or needs a look: the retry loop proper."""
        state = _CallState(request, deadline, self.max_retries + 1, 1)
        try:
            if isinstance(first, Response):
                return self._on_response(state, first)
            self._on_connection_error(state, first)
            raise _Again
        except _Again:
            pass
        return await self._loop(state, call_next, replay=True)

    async def _look_first(self, request: Request, deadline: float, call_next: Handler) -> Response:
        """A caller's own idempotency key: look for an object made with it
        before the first send, so that the same key never makes two objects.

        One call per key at a time in this client; a lookup within the settle
        time of an earlier call's ambiguous failure with the same key (one
        that ended unknown or was cancelled mid-send) proves nothing until the
        settle time has passed, as within one call."""
        key = request.idempotency_key
        assert key is not None
        await self._wait_for_key(request, key, deadline)
        done = self._keys_in_flight[key] = asyncio.Event()
        state = _CallState(request, deadline, self.max_retries + 1, 0)
        state.max_lookups += 2  # and two before the first send
        state.pending_lookup = True
        state.settle_until = self._unsettled.get(key, 0.0)
        try:
            return await self._loop(state, call_next, replay=False)
        except OutcomeUnknownError:
            if state.sends:
                self._remember_unsettled(key, state.settle_until)
            raise
        except asyncio.CancelledError:
            if state.sends:  # a send may be in flight: the server may still apply it
                self._remember_unsettled(key, self._clock() + self.policy.settle)
            raise
        finally:
            del self._keys_in_flight[key]
            done.set()

    async def _wait_for_key(self, request: Request, key: str, deadline: float) -> None:
        while (busy := self._keys_in_flight.get(key)) is not None:
            try:
                async with asyncio.timeout(max(0.0, deadline - self._clock())):
                    await busy.wait()
            except TimeoutError:
                error = APITimeoutError(
                    f"another call with idempotency key {key!r} was still in flight in this "
                    "client when this call's total_timeout ran out; this call sent nothing",
                    may_have_reached_server=False,
                )
                raise attach_context(error, request) from None

    def _remember_unsettled(self, key: str, until: float) -> None:
        if self.policy.instant:
            return
        now = self._clock()
        if len(self._unsettled) >= _MAX_UNSETTLED:
            self._unsettled = {k: t for k, t in self._unsettled.items() if t > now}
        if until > now and len(self._unsettled) < _MAX_UNSETTLED:
            self._unsettled[key] = max(until, self._unsettled.get(key, 0.0))

    async def _loop(self, state: _CallState, call_next: Handler, *, replay: bool) -> Response:
        # Imported here: only calls that failed once need it (~20 ms off `import ching_async`).
        import tenacity

        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception_type(_Again),
            wait=lambda rs: self._wait(state, rs),
            stop=lambda rs: self._should_stop(state, rs),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    if replay:
                        # Hand the fast path's failure to tenacity as its first
                        # attempt, so that its wait and stop rules apply to it.
                        replay = False
                        raise _Again
                    return await self._step(state, call_next)
        except _Again:
            pass
        # Outside the except block, so the internal signal stays out of the
        # final error's __context__.
        return self._give_up(state)

    # ---------------------------------------------------------------- steps
    async def _step(self, state: _CallState, call_next: Handler) -> Response:
        """One send or one reconciliation lookup. Returns a final response,
        raises a final error, or raises _Again."""
        timeout = self._attempt_timeout(state)
        if state.pending_lookup:
            found = await self._lookup(state, call_next, timeout)
            if found is not None:
                return found
            if state.sends >= state.max_sends:
                return self._proven_not_applied(state)
            timeout = self._attempt_timeout(state)  # the lookup took some of it
        state.sends += 1
        attempt = state.request.replace(
            attempt=state.sends, timeout=timeout, deadline=state.deadline
        )
        try:
            response = await call_next(attempt)
        except APIConnectionError as exc:
            self._on_connection_error(state, exc)
            raise _Again from exc
        return self._on_response(state, response)

    def _attempt_timeout(self, state: _CallState) -> float:
        remaining = state.deadline - self._clock()
        if remaining <= 0:
            raise self._deadline_error(state)
        return min(state.request.timeout, remaining)

    async def _lookup(
        self, state: _CallState, call_next: Handler, budget: float
    ) -> Response | None:
        reconciler = state.request.reconciler
        assert reconciler is not None
        state.lookups += 1
        try:
            lookup = state.request.replace(timeout=budget, deadline=state.deadline)
            found = await reconciler.lookup(lookup, call_next)
        except LookupInconclusiveError as exc:
            if state.sends == 0:
                self._before_first_send_in_full_window(state, exc)
                return None  # the caller chose to send anyway
            state.lookup_error = exc
            raise _Again from exc
        except ChingError as exc:
            # The lookup itself failed (or the client was closed meanwhile):
            # the outcome is still unknown.
            state.lookup_error = exc
            raise _Again from exc
        if found is not None:
            return found.replace(attempts=state.sends, reconciled=True)
        if state.settle_until > self._clock():
            # The first send may still be in progress: look again once it
            # has surely ended (see _wait).
            state.looked_early = True
            raise _Again
        state.pending_lookup = False  # proven absent: a re-send is safe
        return None

    def _before_first_send_in_full_window(
        self, state: _CallState, exc: LookupInconclusiveError
    ) -> None:
        """A caller's key not among a full list's objects: it may have been
        used beyond the window. Send only when the caller asked for that, and
        never while an earlier call with the key may still be settling."""
        reconciler = state.request.reconciler
        assert reconciler is not None
        if reconciler.on_full_window == "send" and state.settle_until <= self._clock():
            state.pending_lookup = False
            return
        key = state.request.idempotency_key
        error = LookupInconclusiveError(
            f"idempotency key {key!r} is not among the {LIST_LIMIT} newest objects, and the "
            "list is full: it may have been used beyond it, so nothing was sent. Resolve it "
            "with find_by_idempotency_key, or pass on_full_window='send' to send anyway",
            status=exc.status,
        )
        raise self._finalize_error(state, error, outcome_unknown=False) from exc

    def _await_reconciliation(self, state: _CallState, *, answered: bool) -> None:
        """An ambiguous failure: look before any re-send. Unless CHING itself
        answered (its own error envelope), give the first send time to finish."""
        state.pending_lookup = True
        state.looked_early = False
        state.retry_after = None
        if answered or self.policy.instant:
            state.settle_until = 0.0
            return
        state.settle_until = self._clock() + self.policy.settle

    def _on_connection_error(self, state: _CallState, exc: APIConnectionError) -> None:
        state.last_error = exc
        state.last_response = None
        state.retry_after = None
        if state.request.safe_to_retry or not exc.may_have_reached_server:
            return
        if state.request.reconciler is not None:
            self._await_reconciliation(state, answered=False)
            return
        raise self._finalize_error(state, exc, outcome_unknown=True)

    def _on_response(self, state: _CallState, response: Response) -> Response:
        status = response.status
        if response.attempts != state.sends:
            response = response.replace(attempts=state.sends)
        if state.request.reconciler is not None and _unreadable_success(response):
            # Most likely applied, but the answer cannot say so: reconcile it
            # like any other ambiguous answer. A 2xx means CHING has finished
            # with the request, so a lookup may prove absence at once.
            state.last_response = response
            state.last_error = None
            self._await_reconciliation(state, answered=True)
            raise _Again
        if status not in RETRYABLE_STATUSES:
            unsafe_5xx = status >= 500 and not state.request.safe_to_retry
            return response.replace(outcome_unknown=True) if unsafe_5xx else response
        state.last_response = response
        state.last_error = None
        state.retry_after = None
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if retry_after is not None and retry_after > self.policy.max_retry_after:
                return response  # the server asks for longer than we may wait
            state.retry_after = retry_after
            raise _Again
        if state.request.safe_to_retry:
            raise _Again
        if state.request.reconciler is not None:
            self._await_reconciliation(state, answered=_answered_by_ching(response))
            raise _Again
        return response.replace(outcome_unknown=True)

    # ------------------------------------------------------ tenacity hooks
    def _wait(self, state: _CallState, rs: tenacity.RetryCallState) -> float:
        if self.policy.instant:
            return 0.0
        wait = self.policy.backoff(rs.attempt_number)
        if state.retry_after is not None:
            wait = max(wait, min(state.retry_after, self.policy.max_retry_after))
        if state.pending_lookup and state.looked_early:
            wait = max(wait, state.settle_until - self._clock())
        return wait

    def _should_stop(self, state: _CallState, rs: tenacity.RetryCallState) -> bool:
        if self._clock() + rs.upcoming_sleep >= state.deadline:
            return True
        if state.pending_lookup:
            return state.lookups >= state.max_lookups
        return state.sends >= state.max_sends

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(0 if self.policy.instant else seconds)

    # ----------------------------------------------------------- outcomes
    def _proven_not_applied(self, state: _CallState) -> Response:
        """Out of attempts, but the last lookup proved the POST had no effect:
        the last failure is final and its outcome is known."""
        last = state.last_response
        if last is not None and 200 <= last.status < 300:
            # An unreadable 2xx whose lookup proved it had no effect.
            raise self._finalize_error(state, _decode_failure(last), outcome_unknown=False)
        if last is not None:
            return last
        assert isinstance(state.last_error, APIConnectionError | APIError)
        raise self._finalize_error(state, state.last_error, outcome_unknown=False)

    def _give_up(self, state: _CallState) -> Response:
        """Attempts or deadline exhausted with a retryable failure pending."""
        if state.pending_lookup:
            raise self._outcome_unknown(state)
        if state.last_response is not None:
            return state.last_response
        if isinstance(state.last_error, APIConnectionError | APIError):
            raise self._finalize_error(state, state.last_error, outcome_unknown=False)
        raise self._deadline_error(state)

    def _finalize_error(
        self, state: _CallState, exc: APIConnectionError | APIError, *, outcome_unknown: bool
    ) -> APIConnectionError | APIError:
        return attach_context(
            exc, state.request, attempts=state.sends, outcome_unknown=outcome_unknown
        )

    def _deadline_error(self, state: _CallState) -> APIConnectionError | APIError:
        if state.pending_lookup:
            return self._outcome_unknown(state)
        exc = APITimeoutError(
            f"total_timeout of {self.total_timeout:g}s exceeded after {state.sends} attempt(s)"
        )
        # Every earlier failure was either retried as provably harmless or already
        # raised, so running out of time here never leaves a POST in doubt.
        finalized = self._finalize_error(state, exc, outcome_unknown=False)
        if state.last_error is not None:
            finalized.__cause__ = state.last_error
        return finalized

    def _outcome_unknown(self, state: _CallState) -> OutcomeUnknownError:
        reconciler = state.request.reconciler
        message = (
            "the request may or may not have taken effect, and reconciliation could not "
            "tell; resolve it later by its idempotency key"
        )
        if not state.sends:
            message = (
                "could not tell whether an earlier call with this idempotency key took "
                "effect, so this call sent nothing; resolve it later by its idempotency key"
            )
        exc = OutcomeUnknownError(
            message,
            idempotency_key=state.request.idempotency_key or "",
            customer=reconciler.customer if reconciler is not None else None,
            status=state.last_response.status if state.last_response else None,
        )
        attach_context(exc, state.request, attempts=state.sends, outcome_unknown=True)
        exc.__cause__ = state.lookup_error or state.last_error
        return exc
