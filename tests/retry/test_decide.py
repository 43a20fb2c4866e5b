"""The retry decision as a table: (retry class, what a step saw, what the call
has left) -> what it does next. No I/O: `decide` is a pure function."""

from __future__ import annotations

from typing import Any

import pytest

from ching_async._retry import (
    Action,
    Decision,
    Outcome,
    Resend,
    RetryClass,
    Seen,
    decide,
    unreadable,
)
from tests._support.retry import Reconciled

A, S = Action, Seen

# What a call has left, by name: the budget columns of the table. The time
# columns: seconds before the deadline, and the policy's next backoff.
FRESH = {
    "sends": 1,
    "max_sends": 3,
    "lookups": 0,
    "max_lookups": 6,
    "settle_left": 0.0,
    "time_left": 60.0,
    "backoff": 0.5,
}
LAST_SEND = {**FRESH, "sends": 3}
OUT_OF_LOOKUPS = {**FRESH, "lookups": 6}
SETTLING = {**FRESH, "lookups": 1, "settle_left": 12.5}
NOT_SENT_YET = {**FRESH, "sends": 0}
# The deadline is 1 s away: a 5 s backoff, or a wait for the settle time or a
# long Retry-After, would pass it; a 0.2 s backoff would not.
NO_TIME = {**FRESH, "time_left": 1.0, "backoff": 5.0}
SOME_TIME = {**FRESH, "time_left": 1.0, "backoff": 0.2}
SETTLING_NO_TIME = {**SETTLING, "time_left": 1.0, "backoff": 0.2}
# RetryPolicy.instant: no wait at all, so any time left is room enough.
INSTANT = {**FRESH, "time_left": 0.01, "backoff": None}


def row(kind: str, seen: Seen, left: dict[str, Any], *, status: int | None = None, **extra: Any):
    return pytest.param(kind, Outcome(seen, status, extra.pop("retry_after", None)), left, extra)


TABLE = [
    # A final answer ends every call; a 5xx that is not retried may have taken effect.
    (row("safe", S.ANSWER, FRESH, status=200), A.RETURN, False, 0.0),
    (row("never", S.ANSWER, FRESH, status=400), A.RETURN, False, 0.0),
    (row("never", S.ANSWER, FRESH, status=501), A.RETURN, True, 0.0),
    (row("safe", S.ANSWER, FRESH, status=501), A.RETURN, False, 0.0),
    (row("reconcile", S.ANSWER, FRESH, status=201), A.RETURN, False, 0.0),
    # Nothing was sent: any class sends again, while it has attempts.
    (row("never", S.NOT_SENT, FRESH), A.SEND, False, 0.0),
    (row("reconcile", S.NOT_SENT, FRESH), A.SEND, False, 0.0),
    (row("never", S.NOT_SENT, LAST_SEND), A.GIVE_UP, False, 0.0),
    # 429: again, no sooner than Retry-After.
    (row("never", S.RATE_LIMITED, FRESH, retry_after=7.0), A.SEND, False, 7.0),
    (row("safe", S.RATE_LIMITED, LAST_SEND, retry_after=7.0), A.GIVE_UP, False, 0.0),
    # May have taken effect: SAFE sends again, NEVER ends unknown, reconciled looks.
    (row("safe", S.UNANSWERED_FAILURE, FRESH), A.SEND, False, 0.0),
    (row("safe", S.ANSWERED_FAILURE, LAST_SEND), A.GIVE_UP, False, 0.0),
    (row("never", S.UNANSWERED_FAILURE, FRESH), A.RETURN, True, 0.0),
    (row("never", S.ANSWERED_FAILURE, FRESH), A.RETURN, True, 0.0),
    (row("reconcile", S.UNANSWERED_FAILURE, FRESH), A.LOOK, False, 0.0),
    (row("reconcile", S.ANSWERED_FAILURE, LAST_SEND), A.LOOK, False, 0.0),
    (row("reconcile", S.UNANSWERED_FAILURE, OUT_OF_LOOKUPS), A.GIVE_UP, True, 0.0),
    # Lookups: found ends the call; absent proves nothing until settled.
    (row("reconcile", S.FOUND, FRESH), A.RETURN, False, 0.0),
    (row("reconcile", S.ABSENT, FRESH), A.SEND, False, 0.0),
    (row("reconcile", S.ABSENT, SETTLING), A.LOOK, False, 12.5),
    (row("reconcile", S.ABSENT, LAST_SEND), A.GIVE_UP, False, 0.0),
    (row("reconcile", S.ABSENT, {**SETTLING, "lookups": 6}), A.GIVE_UP, True, 0.0),
    (row("reconcile", S.LOOKUP_FAILED, FRESH), A.LOOK, False, 0.0),
    (row("reconcile", S.LOOKUP_FAILED, OUT_OF_LOOKUPS), A.GIVE_UP, True, 0.0),
    # A full list after a send cannot tell; before the first send it refuses
    # unless the caller chose to send (and nothing is settling).
    (row("reconcile", S.WINDOW_FULL, FRESH), A.LOOK, False, 0.0),
    (row("reconcile", S.WINDOW_FULL, NOT_SENT_YET), A.REFUSE, False, 0.0),
    (
        row("reconcile", S.WINDOW_FULL, NOT_SENT_YET, on_full_window="send"),
        A.SEND,
        False,
        0.0,
    ),
    (
        row("reconcile", S.WINDOW_FULL, {**SETTLING, "sends": 0}, on_full_window="send"),
        A.REFUSE,
        False,
        0.0,
    ),
    # The deadline (see DEADLINE for each step with and without time left):
    # a wait for Retry-After or the settle time that would reach it counts too.
    (row("safe", S.RATE_LIMITED, SOME_TIME, retry_after=7.0), A.GIVE_UP, False, 0.0),
    (row("reconcile", S.ABSENT, SETTLING_NO_TIME), A.GIVE_UP, True, 0.0),
    # No waits (RetryPolicy.instant): Retry-After and the settle time do not count.
    (row("safe", S.RATE_LIMITED, INSTANT, retry_after=7.0), A.SEND, False, 7.0),
    (row("reconcile", S.UNANSWERED_FAILURE, INSTANT), A.LOOK, False, 0.0),
    (row("safe", S.ANSWERED_FAILURE, {**INSTANT, "time_left": 0.0}), A.GIVE_UP, False, 0.0),
]


@pytest.mark.parametrize(("case", "action", "unknown", "at_least"), TABLE)
def test_decision_table(case: Any, action: Action, unknown: bool, at_least: float) -> None:
    kind, outcome, left, extra = case.values
    decision = decide(kind, outcome, **left, **extra)
    assert isinstance(decision, Decision)
    assert (decision.action, decision.outcome_unknown, decision.at_least) == (
        action,
        unknown,
        at_least,
    ), decision.reason
    assert decision.reason
    # Only a give-up that the time left forced says so, and says why.
    assert decision.out_of_time is ("no time left" in decision.reason)
    if decision.action in (Action.SEND, Action.LOOK):
        assert decision.wait < left["time_left"]
        assert decision.wait == (0.0 if left["backoff"] is None else max(left["backoff"], at_least))


# Each step a call can take next, for a GET ("safe") and the POST classes:
# (class, what the step saw, its budget beyond FRESH, options) -> the step. With
# time left (SOME_TIME) it is taken; with none (NO_TIME) the call gives up
# instead, outcome unknown exactly when the step was a lookup (a send in doubt).
DEADLINE = [
    ("safe", Outcome(S.ANSWERED_FAILURE, 503), {}, {}, A.SEND),
    ("safe", Outcome(S.UNANSWERED_FAILURE), {}, {}, A.SEND),
    ("safe", Outcome(S.NOT_SENT), {}, {}, A.SEND),
    ("safe", Outcome(S.RATE_LIMITED, 429, 0.5), {}, {}, A.SEND),
    ("never", Outcome(S.NOT_SENT), {}, {}, A.SEND),
    ("never", Outcome(S.RATE_LIMITED, 429, 0.5), {}, {}, A.SEND),
    ("reconcile", Outcome(S.NOT_SENT), {}, {}, A.SEND),
    ("reconcile", Outcome(S.UNANSWERED_FAILURE), {}, {}, A.LOOK),
    ("reconcile", Outcome(S.ANSWERED_FAILURE), {}, {}, A.LOOK),
    ("reconcile", Outcome(S.ABSENT), {}, {}, A.SEND),
    ("reconcile", Outcome(S.ABSENT), {"lookups": 1, "settle_left": 0.5}, {}, A.LOOK),
    ("reconcile", Outcome(S.LOOKUP_FAILED), {}, {}, A.LOOK),
    ("reconcile", Outcome(S.WINDOW_FULL), {}, {}, A.LOOK),
    ("reconcile", Outcome(S.WINDOW_FULL), {"sends": 0}, {"on_full_window": "send"}, A.SEND),
]


@pytest.mark.parametrize(("kind", "outcome", "budget", "options", "step"), DEADLINE)
def test_a_step_is_taken_only_with_time_left_for_its_wait(
    kind: str, outcome: Outcome, budget: dict[str, Any], options: dict[str, Any], step: Action
) -> None:
    taken = decide(kind, outcome, **{**SOME_TIME, **budget}, **options)  # type: ignore[arg-type]
    assert (taken.action, taken.out_of_time, taken.outcome_unknown) == (step, False, False)
    assert max(0.2, outcome.retry_after or 0.0, budget.get("settle_left", 0.0)) == taken.wait
    given_up = decide(kind, outcome, **{**NO_TIME, **budget}, **options)  # type: ignore[arg-type]
    assert (given_up.action, given_up.out_of_time) == (A.GIVE_UP, True)
    assert given_up.outcome_unknown is (step is A.LOOK)
    assert given_up.reason.startswith(taken.reason + "; no time left for the next ")


# Decisions that end the call (or send nothing) whatever the time left.
TIMELESS = [
    ("safe", Outcome(S.ANSWER, 200), {}),
    ("never", Outcome(S.ANSWER, 502), {}),
    ("reconcile", Outcome(S.ANSWER, 201), {}),
    ("never", Outcome(S.UNANSWERED_FAILURE), {}),
    ("reconcile", Outcome(S.FOUND), {}),
    ("reconcile", Outcome(S.WINDOW_FULL), {"sends": 0}),
    ("reconcile", Outcome(S.ABSENT), {"sends": 3}),
]


@pytest.mark.parametrize(("kind", "outcome", "budget"), TIMELESS)
def test_an_end_does_not_depend_on_the_time_left(
    kind: str, outcome: Outcome, budget: dict[str, Any]
) -> None:
    plenty = decide(kind, outcome, **{**FRESH, **budget})  # type: ignore[arg-type]
    assert plenty.action in (A.RETURN, A.REFUSE, A.GIVE_UP)
    assert decide(kind, outcome, **{**NO_TIME, **budget, "time_left": 0.0}) == plenty  # type: ignore[arg-type]


def test_the_wait_is_the_backoff_raised_to_what_the_step_must_respect() -> None:
    rate_limited = Outcome(Seen.RATE_LIMITED, 429, retry_after=7.0)
    assert decide("safe", rate_limited, **FRESH).wait == 7.0
    assert decide("safe", Outcome(Seen.NOT_SENT), **FRESH).wait == 0.5
    absent = decide("reconcile", Outcome(Seen.ABSENT), **SETTLING)
    assert (absent.action, absent.wait) == (Action.LOOK, 12.5)
    assert decide("safe", rate_limited, **INSTANT).wait == 0.0


@pytest.mark.parametrize("time_left", [0.5, 0.49])
def test_a_wait_that_reaches_the_deadline_is_not_taken(time_left: float) -> None:
    left = {**FRESH, "time_left": time_left}
    decision = decide("safe", Outcome(Seen.UNANSWERED_FAILURE, 502), **left)
    assert (decision.action, decision.out_of_time) == (Action.GIVE_UP, True)
    assert decision.reason == "failed; safe to send again; no time left for the next attempt"
    lookup = decide("reconcile", Outcome(Seen.LOOKUP_FAILED), **left)
    assert lookup.reason == "the lookup could not tell; no time left for the next lookup"
    assert lookup.outcome_unknown is True


def test_only_an_unanswered_failure_of_a_reconciled_call_starts_the_settle_time() -> None:
    starts = {
        (kind, seen)
        for kind in ("safe", "never", "reconcile")
        for seen in Seen
        if decide(kind, Outcome(seen), **FRESH).starts_settling  # type: ignore[arg-type]
    }
    assert starts == {("reconcile", Seen.UNANSWERED_FAILURE)}


def test_every_combination_is_decided() -> None:
    for kind in ("safe", "never", "reconcile"):
        for seen in Seen:
            for left in (FRESH, LAST_SEND, OUT_OF_LOOKUPS, SETTLING, NOT_SENT_YET, NO_TIME):
                decision = decide(kind, Outcome(seen, 503), **left)  # type: ignore[arg-type]
                assert decision.action in Action
                if decision.action is Action.SEND:
                    assert left["sends"] < left["max_sends"]
                if decision.action is Action.LOOK:
                    assert left["lookups"] < left["max_lookups"]
                if decision.action in (Action.SEND, Action.LOOK):
                    assert decision.wait < left["time_left"]
                if decision.action is Action.GIVE_UP and decision.out_of_time:
                    # Out of time with a lookup due: the send stays in doubt.
                    look = decide(kind, Outcome(seen, 503), **{**left, "time_left": 60.0})  # type: ignore[arg-type]
                    assert decision.outcome_unknown is (look.action is Action.LOOK)


@pytest.mark.parametrize(
    ("status", "retry", "seen"),
    [
        # A 2xx that cannot be read (not an envelope, or over max_response_bytes):
        # a reconciled call looks it up; any other ends with it.
        (200, Reconciled(), S.ANSWERED_FAILURE),
        (201, Reconciled(), S.ANSWERED_FAILURE),
        (200, Resend.NEVER, S.ANSWER),
        (200, Resend.SAFE, S.ANSWER),
        # Another status over max_response_bytes ends the call, reconciled or not.
        (503, Reconciled(), S.ANSWER),
        (404, Reconciled(), S.ANSWER),
    ],
)
def test_an_unreadable_answer_is_looked_up_only_for_a_reconciled_2xx(
    status: int, retry: RetryClass, seen: Seen
) -> None:
    assert unreadable(status, retry) == Outcome(seen, status)
