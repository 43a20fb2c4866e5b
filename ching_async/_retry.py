"""Retries: what to do after each step of a call, decided by a pure function
(`decide`); `_retry_loop.RetryLoop` acts on it, and `_retry_outcome` builds
the response or error the call ends with.

A call names its retry class (`Resend.SAFE`, `Resend.NEVER`, or a
Reconciler from _reconcile). Each step (one send, or one lookup of whether a
send took effect) ends in an `Outcome`; `decide` maps (class, outcome, what
the call has left: attempts, lookups, time) to a `Decision`: return, send
again or look up (after a wait), or give up, and with which error.
The rules, in one place:

- Provably no effect (the connection was never made) or 429: send again.
- May have taken effect (a timeout or a dropped connection after sending, a
  500/502/503/504): a SAFE call sends again; a NEVER call ends with
  `outcome_unknown=True`; a reconciled call looks first, and only a
  lookup that proves absence allows another send. After any failure but an
  unreadable 2xx (a 2xx means CHING finished), an empty lookup proves nothing
  until `RetryPolicy.settle` has passed, a 5xx with CHING's own error
  envelope included.
- An unreadable 2xx (not an envelope, or over max_response_bytes): a
  reconciled call looks it up as above; any other ends with it
  (UnreadableResultError for a POST).
- `Resend.UNTIL_GONE` (a delete): as SAFE, and a 404 after an attempt that
  may have taken effect is the call's success (that attempt may have
  deleted it); after a refused connection or a 429 a 404 stays one.
- A caller's own idempotency key (`Reconciler.look_first`) is looked up
  before the first send, so that the same key never makes two objects.
- Bounded by `max_retries` (sends), two lookups per send, and `total_timeout`
  across every send, lookup and wait: a step whose wait would reach the
  deadline is not taken, the call gives up at once. Out of attempts or time
  with the outcome in doubt (a lookup was due): `OutcomeUnknownError`;
  otherwise the last failure.

The policy's waits are tenacity's exponential waits (with full jitter):
the backoff, which `decide` raises to the waits it must respect
(Retry-After, the settle time).
"""

from __future__ import annotations

import enum
import math
from typing import TYPE_CHECKING, Any, Literal, cast

import attrs

from ._errors import (
    ChingError,
    InvalidParameterError,
    ResponseDecodeError,
)
from ._messages import Response
from ._protocol import decode_envelope, parse_retry_after
from ._reconcile import Reconciler

if TYPE_CHECKING:
    import tenacity

__all__ = [
    "Action",
    "Decision",
    "Outcome",
    "Resend",
    "RetryClass",
    "RetryPolicy",
    "Seen",
    "decide",
]


# ------------------------------------------------------------------ policy
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

    def wait_strategy(self) -> tenacity.wait.wait_base:
        """tenacity's exponential wait: full jitter, or plain without it."""
        import tenacity

        if self.instant:
            return tenacity.wait_none()
        if self.jitter:
            return tenacity.wait_random_exponential(
                multiplier=self.initial_backoff, max=self.max_backoff
            )
        return tenacity.wait_exponential(multiplier=self.initial_backoff, max=self.max_backoff)

    def backoff(self, retry_number: int) -> float:
        """The wait before the n-th retry (1-based), from `wait_strategy`."""
        return float(self.wait_strategy()(cast("tenacity.RetryCallState", _Nth(retry_number))))


@attrs.frozen
class _Nth:
    """What tenacity's exponential waits read of a retry state."""

    attempt_number: int


# ----------------------------------------------------------- retry classes
class Resend(enum.Enum):
    """The retry classes of a call that is not reconciled."""

    SAFE = "safe"  # re-sending has no further effect (GETs, idempotent updates)
    NEVER = "never"  # a failure that may have taken effect ends the call, outcome unknown
    # A delete of an object that is gone once deleted: re-sent like SAFE, and a
    # 404 after an attempt that may have taken effect is the call's success
    # (that attempt may have deleted it; gone is what was asked). A 404 with
    # no such attempt before it (the first, or after a refused connection or
    # a 429) stays one.
    UNTIL_GONE = "until gone"


# A reconciled call names its Reconciler (by marker, by state: see _reconcile).
RetryClass = Resend | Reconciler


# ---------------------------------------------------------------- decision
class Seen(enum.Enum):
    """What one step of a call saw."""

    ANSWER = "answer"  # a response to return as it is
    NOT_SENT = "not sent"  # provably no effect: the connection was never made
    RATE_LIMITED = "rate limited"  # 429 with a wait we may honour
    ANSWERED_FAILURE = "answered failure"  # an unreadable 2xx: CHING has finished
    UNANSWERED_FAILURE = "unanswered failure"  # may have taken effect; CHING may still be at it
    FOUND = "found"  # a lookup found the object
    ABSENT = "absent"  # a lookup did not find it, and the list was not full
    WINDOW_FULL = "window full"  # a lookup did not find it in a full list
    LOOKUP_FAILED = "lookup failed"  # a lookup could not tell


@attrs.frozen
class Outcome:
    seen: Seen
    status: int | None = None
    retry_after: float | None = None


class Action(enum.Enum):
    RETURN = "return"  # the step's result ends the call
    SEND = "send"  # send again (after the wait)
    LOOK = "look"  # look up whether a send took effect (after the wait)
    GIVE_UP = "give up"  # out of attempts or time: the last failure is final
    REFUSE = "refuse"  # a caller's key may be in use beyond a full list: send nothing


@attrs.frozen
class Decision:
    action: Action
    reason: str
    # The next step waits at least this long (Retry-After, the settle time).
    at_least: float = 0.0
    # RETURN: the result may not be what happened on the server.
    # GIVE_UP: a send may have taken effect (OutcomeUnknownError), else the
    # last failure is the call's result.
    outcome_unknown: bool = False
    # A failure CHING may still be working on: an empty lookup proves nothing
    # until RetryPolicy.settle from now.
    starts_settling: bool = False
    # SEND, LOOK: the wait before that step (the backoff, raised to at_least).
    wait: float = 0.0
    # GIVE_UP: the deadline leaves no room for the wait and the next step.
    out_of_time: bool = False


_ANSWERED = Decision(Action.RETURN, "answered")
_ANSWERED_IN_DOUBT = Decision(Action.RETURN, "answered", outcome_unknown=True)
_FOUND = Decision(Action.RETURN, "found by its idempotency key")


def decide(
    retry: Literal["safe", "never", "reconcile"],
    outcome: Outcome,
    *,
    sends: int,
    max_sends: int,
    lookups: int,
    max_lookups: int,
    settle_left: float,
    time_left: float,
    backoff: float | None,
    on_full_window: Literal["raise", "send"] = "raise",
) -> Decision:
    """What a call does after a step: a pure function of its retry class, what
    the step saw, the attempts it has made and has, the settle time left, the
    time left before its deadline, and the backoff the policy would wait
    before another step (None: the policy waits for nothing, not even
    Retry-After or the settle time)."""
    seen = outcome.seen
    if seen is Seen.ANSWER:  # most calls end here
        unsafe_5xx = retry != "safe" and (outcome.status or 0) >= 500
        return _ANSWERED_IN_DOUBT if unsafe_5xx else _ANSWERED
    if seen is Seen.FOUND:
        return _FOUND

    def step(
        action: Action, reason: str, at_least: float = 0.0, settling: bool = False
    ) -> Decision:
        wait = 0.0 if backoff is None else max(backoff, at_least)
        if wait < time_left:
            return Decision(action, reason, at_least, starts_settling=settling, wait=wait)
        # Giving up instead of a lookup leaves a send in doubt; instead of a
        # send, nothing is (a send is only decided when nothing is in doubt).
        look = action is Action.LOOK
        reason += f"; no time left for the next {'lookup' if look else 'attempt'}"
        return Decision(Action.GIVE_UP, reason, outcome_unknown=look, out_of_time=True)

    def again(reason: str, at_least: float = 0.0) -> Decision:
        if sends < max_sends:
            return step(Action.SEND, reason, at_least)
        return Decision(Action.GIVE_UP, reason + "; out of attempts")

    def look(reason: str, at_least: float = 0.0, *, settling: bool = False) -> Decision:
        if lookups < max_lookups:
            return step(Action.LOOK, reason, at_least, settling)
        return Decision(Action.GIVE_UP, reason + "; out of lookups", outcome_unknown=True)

    if seen is Seen.NOT_SENT:
        return again("not sent")
    if seen is Seen.RATE_LIMITED:
        return again("rate limited", outcome.retry_after or 0.0)
    if seen in (Seen.ANSWERED_FAILURE, Seen.UNANSWERED_FAILURE):
        if retry == "safe":
            return again("failed; safe to send again")
        if retry == "never":
            reason = "may have taken effect; never re-sent"
            return Decision(Action.RETURN, reason, outcome_unknown=True)
        unanswered = seen is Seen.UNANSWERED_FAILURE
        return look("may have taken effect; look it up", settling=unanswered)
    if seen is Seen.ABSENT:
        if settle_left > 0:
            return look("not found yet; CHING may still be working on it", settle_left)
        if sends >= max_sends:
            return Decision(Action.GIVE_UP, "proven not applied; out of attempts")
        return step(Action.SEND, "proven absent")
    if seen is Seen.WINDOW_FULL and sends == 0:
        if on_full_window == "send" and settle_left <= 0:
            return step(Action.SEND, "not in the full list; the caller chose to send")
        return Decision(Action.REFUSE, "not in the full list: it may exist beyond it")
    # A lookup that failed, or a full list after a send: it could not tell.
    return look("the lookup could not tell")


def classify(response: Response, retry: RetryClass, max_retry_after: float) -> Outcome:
    """What a response means for the retry loop (pure)."""
    status = response.status
    if status == 429:
        wait = parse_retry_after(response.headers.get("retry-after"))
        if wait is not None and wait > max_retry_after:
            return Outcome(Seen.ANSWER, status)  # the server asks for longer than we may wait
        return Outcome(Seen.RATE_LIMITED, status, wait)
    if status >= 500:
        # Any 5xx, a proxy's own too. Even CHING's error envelope does not
        # prove CHING is done with the request: a handler can fail after the
        # card was charged, and the charge still be recorded (FakeChing's
        # Fault.status_then_commit). A 504 or a proxy's page says even less.
        return Outcome(Seen.UNANSWERED_FAILURE, status)
    if _unreadable_success(response):
        return unreadable(status, retry)
    return Outcome(Seen.ANSWER, status)


def unreadable(status: int, retry: RetryClass) -> Outcome:
    """What an answer whose body cannot be read means (pure): one that is not
    a CHING envelope (`classify`), or one over max_response_bytes, which the
    transport refuses unread (the loop passes its status). A 2xx to a
    reconciled call is most likely applied, but cannot say so: look it up (a
    2xx means CHING has finished with the request). Anything else is the
    call's answer: its error ends it (UnreadableResultError for a POST)."""
    if 200 <= status < 300 and not isinstance(retry, Resend):
        return Outcome(Seen.ANSWERED_FAILURE, status)
    return Outcome(Seen.ANSWER, status)


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
