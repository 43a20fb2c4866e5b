"""What a call ends with, as a table: (the call's record, the decision that
ends it) -> the response returned, or the error raised with its class,
`outcome_unknown`, `attempts`, message and cause. No I/O: the builders in
`_retry_outcome` are plain functions of the record (`Call`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import attrs
import pytest

import ching_async
from ching_async._messages import Response
from ching_async._retry import Action, Decision, Resend
from ching_async._retry_outcome import Call, deadline_error, ended, gone, key_busy_error
from ching_async._transport import too_large
from tests._support.retry import KEY, Reconciled, post, record

REQUEST = post()
TOTAL_TIMEOUT = 30.0  # shown as "30s"


BY_MARKER = Reconciled()
BY_LIST = Reconciled(resolve_hint="list the endpoints to see whether it was made", customer=None)


def answer(status: int, body: bytes = b'{"success":true,"data":{"id":"ch_1"}}') -> Response:
    return Response(status, {"x-request-id": "req_9"}, body, REQUEST, attempts=1)


def dropped() -> ching_async.APIConnectionError:
    return ching_async.APIConnectionError("dropped", may_have_reached_server=True)


def over_the_cap() -> ching_async.UnreadableResultError:
    """What the transport raises for a 2xx over max_response_bytes."""
    error = too_large(200, REQUEST, 1000, "not decoded")
    assert isinstance(error, ching_async.UnreadableResultError)
    return error


OVER_THE_CAP = "response body exceeds max_response_bytes (1000 bytes); not decoded"


def full_list() -> ching_async.LookupInconclusiveError:
    return ching_async.LookupInconclusiveError("the list is full", status=200)


@attrs.frozen
class Returned:
    """The call returns the response it recorded as `source`, marked so."""

    source: Literal["result", "last_response"]
    outcome_unknown: bool = False


@attrs.frozen
class Raised:
    """The call raises `kind` with these fields, caused by its recorded `cause`."""

    kind: type[ching_async.APIError | ching_async.APIConnectionError]
    message: str
    attempts: int
    outcome_unknown: bool = False
    cause: Literal["last_error", "lookup_error"] | None = None
    status: int | None = None


RETURN = Decision(Action.RETURN, "answered")
RETURN_IN_DOUBT = Decision(Action.RETURN, "answered", outcome_unknown=True)
NEVER_RESENT = Decision(Action.RETURN, "may have taken effect; never re-sent", outcome_unknown=True)
FOUND = Decision(Action.RETURN, "found by its idempotency key")
REFUSE = Decision(Action.REFUSE, "not in the full list: it may exist beyond it")
OUT_OF_ATTEMPTS = Decision(Action.GIVE_UP, "failed; safe to send again; out of attempts")
OUT_OF_LOOKUPS = Decision(
    Action.GIVE_UP, "the lookup could not tell; out of lookups", outcome_unknown=True
)

UNKNOWN = (
    "the request may or may not have taken effect, and reconciliation could not tell; "
    "resolve it later by its idempotency key"
)
SENT_NOTHING = (
    "could not tell whether an earlier call with this idempotency key took effect, so this "
    "call sent nothing; resolve it later by its idempotency key"
)
REFUSED = (
    "idempotency key 'k-1' is not among the 100 newest objects, and the list is full: it may "
    "have been used beyond it, so nothing was sent. Resolve it with find_by_idempotency_key, "
    "or pass on_full_window='send' to send anyway"
)

Row = tuple[Callable[[], Call], Decision, Returned | Raised]
TABLE: dict[str, Row] = {
    # RETURN: the answer as it came; a NEVER call's 5xx answer may have taken effect.
    "answered": (lambda: record(Resend.SAFE, result=answer(200)), RETURN, Returned("result")),
    "answered-5xx-never": (
        lambda: record(Resend.NEVER, result=answer(502)),
        RETURN_IN_DOUBT,
        Returned("result", outcome_unknown=True),
    ),
    "found": (lambda: record(BY_MARKER, result=answer(200)), FOUND, Returned("result")),
    # RETURN of a NEVER call's failure: final, outcome unknown, as a response or an error.
    "never-failed-response": (
        lambda: record(Resend.NEVER, last_response=answer(503)),
        NEVER_RESENT,
        Returned("last_response", outcome_unknown=True),
    ),
    "never-dropped": (
        lambda: record(Resend.NEVER, last_error=dropped()),
        NEVER_RESENT,
        Raised(ching_async.APIConnectionError, "dropped", 1, True),
    ),
    # REFUSE: a caller's key not in a full list, before any send; the lookup's status, if any.
    "refused": (
        lambda: record(BY_MARKER, sends=0, lookup_error=full_list()),
        REFUSE,
        Raised(ching_async.LookupInconclusiveError, REFUSED, 0, cause="lookup_error", status=200),
    ),
    "refused-lookup-dropped": (
        lambda: record(BY_MARKER, sends=0, lookup_error=dropped()),
        REFUSE,
        Raised(ching_async.LookupInconclusiveError, REFUSED, 0, cause="lookup_error"),
    ),
    # GIVE_UP with a send in doubt: OutcomeUnknownError, caused by what could not tell.
    "unknown-after-lookups": (
        lambda: record(BY_MARKER, sends=2, last_response=answer(502), lookup_error=dropped()),
        OUT_OF_LOOKUPS,
        Raised(ching_async.OutcomeUnknownError, UNKNOWN, 2, True, "lookup_error", 502),
    ),
    "unknown-after-dropped": (
        lambda: record(BY_MARKER, last_error=dropped()),
        OUT_OF_LOOKUPS,
        Raised(ching_async.OutcomeUnknownError, UNKNOWN, 1, True, "last_error"),
    ),
    "unknown-after-over-the-cap": (
        lambda: record(BY_MARKER, last_error=over_the_cap(), lookup_error=dropped()),
        OUT_OF_LOOKUPS,
        Raised(ching_async.OutcomeUnknownError, UNKNOWN, 1, True, "lookup_error", 200),
    ),
    "unknown-its-own-hint": (
        lambda: record(BY_LIST, last_error=dropped()),
        OUT_OF_LOOKUPS,
        Raised(
            ching_async.OutcomeUnknownError,
            UNKNOWN.replace("resolve it later by its idempotency key", BY_LIST.resolve_hint),
            1,
            True,
            "last_error",
        ),
    ),
    "unknown-before-any-send": (
        lambda: record(BY_MARKER, sends=0, lookup_error=dropped()),
        OUT_OF_LOOKUPS,
        Raised(ching_async.OutcomeUnknownError, SENT_NOTHING, 0, True, "lookup_error"),
    ),
    # GIVE_UP with nothing in doubt: the last failure is final.
    "last-failure-response": (
        lambda: record(Resend.SAFE, sends=3, last_response=answer(503)),
        OUT_OF_ATTEMPTS,
        Returned("last_response"),
    ),
    "last-failure-error": (
        lambda: record(Resend.SAFE, sends=3, last_error=dropped()),
        OUT_OF_ATTEMPTS,
        Raised(ching_async.APIConnectionError, "dropped", 3),
    ),
    "unreadable-2xx-proven-absent": (
        lambda: record(BY_MARKER, sends=3, last_response=answer(200, b"{trunc")),
        Decision(Action.GIVE_UP, "proven not applied; out of attempts"),
        Raised(ching_async.ResponseDecodeError, "response body is not JSON", 3, status=200),
    ),
    "over-the-cap-proven-absent": (
        lambda: record(BY_MARKER, sends=3, last_error=over_the_cap()),
        Decision(Action.GIVE_UP, "proven not applied; out of attempts"),
        Raised(ching_async.ResponseDecodeError, OVER_THE_CAP, 3, status=200),
    ),
    # GIVE_UP with no failure recorded (a caller's key proven absent, no time
    # left to send): the deadline's error.
    "out-of-time-nothing-sent": (
        lambda: record(BY_MARKER, sends=0),
        Decision(
            Action.GIVE_UP, "proven absent; no time left for the next attempt", out_of_time=True
        ),
        Raised(ching_async.APITimeoutError, "total_timeout of 30s exceeded after 0 attempt(s)", 0),
    ),
}


def check(got: Response | BaseException, call: Call, expected: Returned | Raised) -> None:
    if isinstance(expected, Returned):
        assert isinstance(got, Response), got
        source = getattr(call, expected.source)
        assert got.outcome_unknown is expected.outcome_unknown
        if expected.outcome_unknown:
            assert got == source.replace(outcome_unknown=True)
        else:
            assert got is source  # returned as it was recorded
        return
    assert type(got) is expected.kind, got
    assert isinstance(got, ching_async.APIError | ching_async.APIConnectionError)
    assert got.message == expected.message
    assert (got.attempts, got.outcome_unknown) == (expected.attempts, expected.outcome_unknown)
    assert got.__cause__ is (None if expected.cause is None else getattr(call, expected.cause))
    assert (got.method, got.path, got.idempotency_key) == ("POST", "/charges", KEY)
    assert getattr(got, "status", None) == expected.status


@pytest.mark.parametrize(("make", "decision", "expected"), TABLE.values(), ids=TABLE.keys())
def test_what_a_call_ends_with(
    make: Callable[[], Call], decision: Decision, expected: Returned | Raised
) -> None:
    call = make()
    try:
        got: Response | BaseException = ended(call, decision, TOTAL_TIMEOUT)
    except ching_async.ChingError as exc:
        got = exc
    check(got, call, expected)


def test_an_outcome_unknown_error_names_the_key_and_the_customer() -> None:
    call = record(BY_MARKER, last_error=dropped())
    with pytest.raises(ching_async.OutcomeUnknownError) as marker:
        ended(call, OUT_OF_LOOKUPS, TOTAL_TIMEOUT)
    assert (marker.value.idempotency_key, marker.value.customer) == (KEY, "cus_1")
    with pytest.raises(ching_async.OutcomeUnknownError) as listed:
        ended(record(BY_LIST, last_error=dropped()), OUT_OF_LOOKUPS, TOTAL_TIMEOUT)
    assert listed.value.customer is None
    # A NEVER call has no reconciler: the key is still what resolves it.
    with pytest.raises(ching_async.OutcomeUnknownError) as never:
        ended(record(Resend.NEVER), OUT_OF_LOOKUPS, TOTAL_TIMEOUT)
    assert (never.value.message, never.value.customer) == (UNKNOWN, None)


@pytest.mark.parametrize(
    ("seen", "expected"),
    [
        # A wait that woke past the deadline with nothing in doubt: the timeout,
        # caused by the failure that was being retried.
        (
            {"last_error": dropped()},
            Raised(
                ching_async.APITimeoutError,
                "total_timeout of 30s exceeded after 2 attempt(s)",
                2,
                cause="last_error",
            ),
        ),
        (
            {},
            Raised(
                ching_async.APITimeoutError, "total_timeout of 30s exceeded after 2 attempt(s)", 2
            ),
        ),
        # With a send in doubt (a lookup was due): the outcome is unknown.
        (
            {"in_doubt": True, "last_error": dropped()},
            Raised(ching_async.OutcomeUnknownError, UNKNOWN, 2, True, "last_error"),
        ),
    ],
    ids=["after-a-failure", "nothing-failed", "in-doubt"],
)
def test_the_deadline_error(seen: dict[str, Any], expected: Raised) -> None:
    call = record(BY_MARKER, sends=2, **seen)
    check(deadline_error(call, TOTAL_TIMEOUT), call, expected)


def test_the_error_of_a_call_whose_key_stayed_busy() -> None:
    call = record(BY_MARKER, sends=0)
    error = key_busy_error(call)
    message = (
        "another call with idempotency key 'k-1' was still in flight in this client when this "
        "call's total_timeout ran out; this call sent nothing"
    )
    check(error, call, Raised(ching_async.APITimeoutError, message, 0))
    assert error.may_have_reached_server is False


def test_a_404_gone_is_a_success_without_data() -> None:
    response = gone(answer(404, b'{"success":false,"error":{"code":"not_found"}}'))
    assert (response.status, response.body, response.reconciled) == (200, b'{"success":true}', True)
    assert (response.headers["x-request-id"], response.attempts) == ("req_9", 1)
