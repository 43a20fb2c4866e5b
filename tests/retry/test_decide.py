"""The retry decision as a table: (retry class, what a step saw, what the call
has left) -> what it does next. No I/O: `decide` is a pure function."""

from __future__ import annotations

from typing import Any

import pytest

from ching_async._retry import Action, Decision, Outcome, Seen, decide

A, S = Action, Seen

# What a call has left, by name: the budget columns of the table.
FRESH = {"sends": 1, "max_sends": 3, "lookups": 0, "max_lookups": 6, "settle_left": 0.0}
LAST_SEND = {**FRESH, "sends": 3}
OUT_OF_LOOKUPS = {**FRESH, "lookups": 6}
SETTLING = {**FRESH, "lookups": 1, "settle_left": 12.5}
NOT_SENT_YET = {**FRESH, "sends": 0}


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
            for left in (FRESH, LAST_SEND, OUT_OF_LOOKUPS, SETTLING, NOT_SENT_YET):
                decision = decide(kind, Outcome(seen, 503), **left)  # type: ignore[arg-type]
                assert decision.action in Action
                if decision.action is Action.SEND:
                    assert left["sends"] < left["max_sends"]
                if decision.action is Action.LOOK:
                    assert left["lookups"] < left["max_lookups"]
