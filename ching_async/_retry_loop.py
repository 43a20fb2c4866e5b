"""The loop that runs a call's steps (sends, and lookups of whether a send
took effect) until `_retry.decide` ends it; what it records of them (a
`_retry_outcome.Call`) makes the response or error the call ends with.

tenacity runs it: the wait before each step and the stop are the current
decision's. Each decision is logged on the "ching_async.retry" logger with
its reason, the attempt and the idempotency key (INFO for retries,
reconciliation and giving up for lack of time; DEBUG for the rest).
A caller's own idempotency key is held by one call at a time per client
(KeyRegistry).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

import attrs

from ._errors import (
    APIConnectionError,
    APIError,
    ChingError,
    LookupInconclusiveError,
    OutcomeUnknownError,
    UnreadableResultError,
)
from ._messages import Handler, Request, Response
from ._retry import (
    Action,
    Decision,
    Outcome,
    Resend,
    RetryClass,
    RetryPolicy,
    Seen,
    classify,
    decide,
    unreadable,
)
from ._retry_outcome import Call, deadline_error, ended, given_up, gone, key_busy_error, returned

__all__ = ["KeyRegistry", "RetryLoop"]

logger = logging.getLogger("ching_async.retry")

# Keys remembered as still settling (see RetryLoop._keyed); beyond this, none more.
_MAX_UNSETTLED = 10_000
# The keys a client's calls used (see KeyRegistry.first_use). A bulk job's
# keys pass through here too, so its memory must not grow with the job's size
# (the create_many peak RSS target): bounded, the least recently used forgotten.
_MAX_USED = 10_000


class _Again(Exception):
    """Internal signal to tenacity: the call goes on with another step."""


class KeyRegistry:
    """The calls with a caller's idempotency key (see RetryLoop._keyed): one
    at a time per key, and until when an empty lookup proves nothing for a
    key whose last call ended in doubt. One per client, shared by its
    `with_options` views."""

    def __init__(self) -> None:
        self._in_flight: dict[str, asyncio.Event] = {}
        self._unsettled: dict[str, float] = {}
        # The caller's keys this client's calls used, least recently used first.
        # An OrderedDict: forgetting a plain dict's first key scans past the
        # slots of every key forgotten before it (see benchmarks/README.md).
        self._used: OrderedDict[str, None] = OrderedDict()

    async def wait_turn(self, key: str, deadline: float, clock: Callable[[], float]) -> bool:
        """Wait until no call with `key` is in flight, at most until
        `deadline` (by `clock`); False when that passed."""
        while (busy := self._in_flight.get(key)) is not None:
            try:
                async with asyncio.timeout(max(0.0, deadline - clock())):
                    await busy.wait()
            except TimeoutError:
                return False
        return True

    def hold(self, key: str) -> asyncio.Event:
        """Mark a call with `key` in flight; `release` with what this returns."""
        done = self._in_flight[key] = asyncio.Event()
        return done

    def release(self, key: str, done: asyncio.Event) -> None:
        del self._in_flight[key]
        done.set()

    def first_use(self, key: str) -> bool:
        """Record that a call of this client uses `key`: True when none did
        before (bounded: beyond _MAX_USED keys the least recently used are
        forgotten)."""
        if key in self._used:
            self._used.move_to_end(key)
            return False
        if len(self._used) >= _MAX_USED:
            self._used.popitem(last=False)
        self._used[key] = None
        return True

    def settle_until(self, key: str) -> float:
        """The (monotonic) time before which an empty lookup for `key` proves nothing."""
        return self._unsettled.get(key, 0.0)

    def remember_doubt(self, call: Call, *, cancelled: bool, now: float, settle: float) -> None:
        """A reconciled `call` that ended with a send in doubt: until the settle
        time has passed (`settle` from `now` when it was `cancelled`, as a send
        may still be in flight), no lookup for its key proves absence (a retry
        with the key, find_by_idempotency_key). Bounded: beyond _MAX_UNSETTLED
        live keys, none more."""
        key = call.request.idempotency_key
        if key is None or call.reconciler is None or not call.sends:
            return
        until = now + settle if cancelled else call.settle_until
        if len(self._unsettled) >= _MAX_UNSETTLED:
            self._unsettled = {k: t for k, t in self._unsettled.items() if t > now}
        if until > now and len(self._unsettled) < _MAX_UNSETTLED:
            self._unsettled[key] = max(until, self._unsettled.get(key, 0.0))


@attrs.define(eq=False, repr=False)
class RetryLoop:
    """Runs a call's steps until `decide` ends it. One per client (and one
    per `with_options` view, sharing the client's KeyRegistry)."""

    policy: RetryPolicy
    max_retries: int = attrs.field(kw_only=True)
    total_timeout: float = attrs.field(kw_only=True)
    _clock: Callable[[], float] = attrs.field(default=time.monotonic, kw_only=True)
    # Shared by every loop of one client (with_options views too): the
    # rules for one key hold across them.
    _keys: KeyRegistry = attrs.field(factory=KeyRegistry, kw_only=True)

    def with_settings(
        self, policy: RetryPolicy, *, max_retries: int, total_timeout: float
    ) -> RetryLoop:
        """A loop with other settings that shares this one's key registry."""
        return attrs.evolve(
            self, policy=policy, max_retries=max_retries, total_timeout=total_timeout
        )

    async def run(self, request: Request, retry: RetryClass, send: Handler) -> Response:
        """The call's final response; its final error raised."""
        deadline = self._clock() + self.total_timeout
        reconciler = None if isinstance(retry, Resend) else retry
        looks_first = reconciler is not None and reconciler.look_first
        call = Call(request, retry, deadline, self.max_retries + 1, looks_first=looks_first)
        try:
            if reconciler is not None and (looks_first or reconciler.keyed):
                response = await self._keyed(call, send)
            else:
                try:
                    decision = await self._send(call, send)
                    if decision.action is Action.RETURN:
                        response = returned(call, decision)
                    else:
                        response = await self._loop(call, send, decision)
                except (OutcomeUnknownError, asyncio.CancelledError) as exc:
                    self._remember_doubt(call, exc)
                    raise
        except (APIError, APIConnectionError) as exc:
            if exc.outcome_unknown:
                _log_unknown(call, exc)
            raise
        if response.outcome_unknown:
            _log_unknown(call, None)
        return response

    def _remember_doubt(self, call: Call, exc: BaseException) -> None:
        if not self.policy.instant:  # no settle time to wait out
            cancelled = isinstance(exc, asyncio.CancelledError)
            now, settle = self._clock(), self.policy.settle
            self._keys.remember_doubt(call, cancelled=cancelled, now=now, settle=settle)

    # ------------------------------------------------------------- steps
    async def _send(self, call: Call, send: Handler) -> Decision:
        timeout = self._attempt_timeout(call)
        call.sends += 1
        attempt = call.request.replace(attempt=call.sends, timeout=timeout, deadline=call.deadline)
        try:
            response = await send(attempt)
        except UnreadableResultError as exc:
            # An answer over max_response_bytes. The transport raises it (it
            # must not read the body, and a Response without one would pass
            # middlewares as an answer); its status is all there is, and the
            # rule for an unreadable body that was read decides on it.
            outcome = unreadable(exc.status or 0, call.retry)
            if outcome.seen is Seen.ANSWER:
                raise
            call.last_error, call.last_response = exc, None
            call.may_have_applied = True
            return self._decide(call, outcome)
        except APIConnectionError as exc:
            call.last_error, call.last_response = exc, None
            seen = Seen.UNANSWERED_FAILURE if exc.may_have_reached_server else Seen.NOT_SENT
            call.may_have_applied = call.may_have_applied or exc.may_have_reached_server
            return self._decide(call, Outcome(seen))
        if response.attempts != call.sends:
            response = response.replace(attempts=call.sends)
        if response.status == 404 and call.may_have_applied and call.retry is Resend.UNTIL_GONE:
            response = gone(response)
        outcome = classify(response, call.retry, self.policy.max_retry_after)
        if outcome.seen is Seen.ANSWERED_FAILURE or outcome.seen is Seen.UNANSWERED_FAILURE:
            call.may_have_applied = True
        if outcome.seen is Seen.ANSWER:
            call.result = response
        else:
            call.last_response, call.last_error = response, None
        return self._decide(call, outcome)

    async def _look(self, call: Call, send: Handler) -> Decision:
        reconciler = call.reconciler
        assert reconciler is not None
        timeout = self._attempt_timeout(call)
        call.lookups += 1
        lookup = call.request.replace(timeout=timeout, deadline=call.deadline)
        try:
            found = await reconciler.lookup(lookup, send, sent=call.may_have_applied)
        except LookupInconclusiveError as exc:
            call.lookup_error = exc
            return self._decide(call, Outcome(Seen.WINDOW_FULL))
        except ChingError as exc:
            # The lookup itself failed (or the client was closed meanwhile).
            call.lookup_error = exc
            return self._decide(call, Outcome(Seen.LOOKUP_FAILED))
        if found is None:
            return self._decide(call, Outcome(Seen.ABSENT))
        call.result = found.replace(attempts=call.sends, reconciled=True)
        return self._decide(call, Outcome(Seen.FOUND))

    def _decide(self, call: Call, outcome: Outcome) -> Decision:
        now, policy = self._clock(), self.policy
        time_left, backoff = 0.0, None  # an answer ends the call, whatever the time
        if outcome.seen is not Seen.ANSWER:  # what another step would need
            time_left = call.deadline - now
            backoff = None if policy.instant else policy.backoff(call.sends + call.lookups)
        decision = decide(
            call.kind,
            outcome,
            sends=call.sends,
            max_sends=call.max_sends,
            lookups=call.lookups,
            max_lookups=call.max_lookups,
            settle_left=max(0.0, call.settle_until - now),
            time_left=time_left,
            backoff=backoff,
            on_full_window=call.on_full_window,
        )
        # A send is in doubt while a lookup is due, or when the call ends so
        # (decide sends again only when none is).
        call.in_doubt = decision.action is Action.LOOK or decision.outcome_unknown
        if decision.starts_settling and not policy.instant:  # only a LOOK starts it
            call.settle_until = max(call.settle_until, now + policy.settle)
        _log(call, outcome, decision)
        return decision

    def _attempt_timeout(self, call: Call) -> float:
        remaining = call.deadline - self._clock()
        if remaining <= 0:
            # `decide` left room for the wait; the wake-up came late.
            _log_overrun(call)
            raise deadline_error(call, self.total_timeout)
        return min(call.request.timeout, remaining)

    # -------------------------------------------------------------- loop
    async def _loop(self, call: Call, send: Handler, decision: Decision) -> Response:
        if decision.action not in (Action.SEND, Action.LOOK):
            return ended(call, decision, self.total_timeout)
        # Imported here: only calls that need a second step pay for it.
        import tenacity

        # The wait (the policy's backoff, raised by `decide`) and the stop
        # (out of attempts, lookups or time) are the current decision's.
        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception_type(_Again),
            wait=lambda rs: decision.wait,
            stop=lambda rs: decision.action is Action.GIVE_UP,
            sleep=asyncio.sleep,
            reraise=True,
        )
        first = True
        try:
            async for attempt in retrying:
                with attempt:
                    if first:
                        # Hand the first step's decision to tenacity as its
                        # first attempt, so that its wait and stop apply to it.
                        first = False
                    elif decision.action is Action.SEND:
                        decision = await self._send(call, send)
                    else:
                        decision = await self._look(call, send)
                    if decision.action is Action.RETURN or decision.action is Action.REFUSE:
                        return ended(call, decision, self.total_timeout)
                    raise _Again  # the next step, or tenacity stops for a GIVE_UP
        except _Again:
            pass
        # Outside the except block, so the internal signal stays out of the
        # final error's __context__.
        return given_up(call, decision, self.total_timeout)

    # ------------------------------------------- a caller's own idempotency key
    async def _keyed(self, call: Call, send: Handler) -> Response:
        """A call with the caller's own key: look for an object made with it
        before the first send.

        One call per key at a time in this client; a lookup within the settle
        time of an earlier call's ambiguous failure with the same key (one
        that ended unknown or was cancelled mid-send) proves nothing until the
        settle time has passed, as within one call. With `assume_new` the
        first lookup is skipped, unless an earlier call of this client used
        the key: then the caller's "new" is wrong, and sending could make a
        second object."""
        key = call.request.idempotency_key
        assert key is not None
        if not await self._keys.wait_turn(key, call.deadline, self._clock):
            raise key_busy_error(call)
        done = self._keys.hold(key)
        call.settle_until = self._keys.settle_until(key)
        try:
            if not self._keys.first_use(key):
                call.look_first()
            first = self._look if call.in_doubt else self._send
            decision = await first(call, send)
            return await self._loop(call, send, decision)
        except (OutcomeUnknownError, asyncio.CancelledError) as exc:
            self._remember_doubt(call, exc)
            raise
        finally:
            self._keys.release(key, done)

    def settling(self, key: str) -> float:
        """Seconds until an empty lookup for `key` proves absence: 0 unless a
        call with it ended in doubt (unknown, or cancelled mid-send) within
        the settle time."""
        return max(0.0, self._keys.settle_until(key) - self._clock())


# What a caller running at INFO wants to see: the steps that are not the
# ordinary single send (retries, reconciliation and its outcome, outcome unknown).
_RECONCILED = frozenset({Seen.FOUND, Seen.ABSENT, Seen.WINDOW_FULL, Seen.LOOKUP_FAILED})


def _level(call: Call, outcome: Outcome, decision: Decision) -> int:
    # An outcome-unknown end has its own record (_log_unknown). Giving up for
    # lack of time takes the place of a step that would have been INFO.
    if decision.action is Action.REFUSE or decision.out_of_time:
        return logging.INFO
    if not call.sends:  # looking for a caller's key before the first send: routine
        return logging.DEBUG
    if decision.action is Action.SEND or decision.action is Action.LOOK:
        return logging.INFO
    return logging.INFO if outcome.seen in _RECONCILED else logging.DEBUG


def _log(call: Call, outcome: Outcome, decision: Decision) -> None:
    if not logger.isEnabledFor(logging.INFO):  # nothing at INFO, nothing at DEBUG either
        return
    level = _level(call, outcome, decision)
    if logger.isEnabledFor(level):
        step = (outcome.seen.value, decision.action.value, decision.reason)
        extra = {"ching_seen": step[0], "ching_action": step[1], "ching_reason": step[2]}
        _record(level, call, "%s -> %s (%s", step, decision.outcome_unknown, extra)


def _log_overrun(call: Call) -> None:
    """The record of a call whose wait ran past its deadline (see _attempt_timeout)."""
    if logger.isEnabledFor(logging.INFO):
        reason = "the wait ran past the deadline; no time left for the next step"
        extra = {"ching_seen": None, "ching_action": Action.GIVE_UP.value, "ching_reason": reason}
        _record(logging.INFO, call, "deadline -> give up (%s", (reason,), call.in_doubt, extra)


def _log_unknown(call: Call, error: APIError | APIConnectionError | None) -> None:
    """The one INFO record of a call that ended with its outcome unknown."""
    if logger.isEnabledFor(logging.INFO):
        ended = type(error).__name__ if error is not None else "a response marked outcome_unknown"
        _record(logging.INFO, call, "outcome unknown (%s", (ended,), True, {})


def _record(
    level: int,
    call: Call,
    what: str,
    args: tuple[object, ...],
    outcome_unknown: bool,
    extra: Mapping[str, object],
) -> None:
    """One record about `call`: `what % args`, then the call's context."""
    request = call.request
    answered = call.result or call.last_response
    request_id = answered.request_id if answered is not None else None
    logger.log(
        level,
        "%s %s: " + what + "; attempt %d, lookup %d, idempotency key %s, request id %s)",
        request.method,
        request.path,
        *args,
        call.sends,
        call.lookups,
        request.idempotency_key,
        request_id,
        extra={
            **extra,
            "ching_method": request.method,
            "ching_path": request.path,
            "ching_attempt": call.sends,
            "ching_lookup": call.lookups,
            "ching_idempotency_key": request.idempotency_key,
            "ching_request_id": request_id,
            "ching_outcome_unknown": outcome_unknown,
        },
    )
