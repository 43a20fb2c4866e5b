"""What a retried call ends with: the response it returns or the error it
raises once `_retry.decide` ends it, built from the call's record (`Call`:
what its steps have seen so far).

`_retry_loop.RetryLoop` runs the steps and writes the record; these are plain
functions of it (and of the settings they name), no I/O, tested as a table
(tests/retry/test_outcome.py).
"""

from __future__ import annotations

from typing import Literal

from ._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ChingError,
    LookupInconclusiveError,
    OutcomeUnknownError,
    ResponseDecodeError,
)
from ._idempotency import LIST_LIMIT
from ._messages import Request, Response
from ._protocol import decode_envelope
from ._reconcile import RESOLVE_BY_KEY
from ._retry import Action, Decision, Resend, RetryClass
from ._secrets import attach_context

__all__ = [
    "Call",
    "deadline_error",
    "ended",
    "final_error",
    "given_up",
    "gone",
    "key_busy_error",
    "outcome_unknown_error",
    "refused_error",
    "returned",
]


class Call:
    """What one call has seen so far, across its steps."""

    __slots__ = (
        "deadline",
        "in_doubt",
        "kind",
        "last_error",
        "last_response",
        "lookup_error",
        "lookups",
        "max_lookups",
        "max_sends",
        "may_have_applied",
        "on_full_window",
        "reconciler",
        "request",
        "result",
        "retry",
        "sends",
        "settle_until",
    )

    def __init__(
        self,
        request: Request,
        retry: RetryClass,
        deadline: float,
        max_sends: int,
        *,
        looks_first: bool,
    ) -> None:
        self.request = request
        self.retry = retry
        self.reconciler = None if isinstance(retry, Resend) else retry
        # Before the first send, a full list that lacks the caller's key: refuse, or send.
        self.on_full_window: Literal["raise", "send"] = "raise"
        if self.reconciler is not None:
            self.on_full_window = self.reconciler.on_full_window
        self.kind: Literal["safe", "never", "reconcile"] = "reconcile"
        if retry is Resend.SAFE or retry is Resend.UNTIL_GONE:
            self.kind = "safe"
        elif retry is Resend.NEVER:
            self.kind = "never"
        self.deadline = deadline
        self.max_sends = max_sends
        # Two lookups per send (one at once, one after settling), and two
        # more before the first send when the caller's key is looked up.
        self.max_lookups = 2 * max_sends + (2 if looks_first else 0)
        self.sends = 0
        self.lookups = 0
        # A send may have taken effect and no lookup has ruled it out. For a
        # caller's own key, an earlier call's send may have.
        self.in_doubt = looks_first
        # Before this (monotonic) time an empty lookup proves nothing.
        self.settle_until = 0.0
        # An attempt sent so far may have taken effect (a failure after it
        # may have reached the server, not a refused connection or a 429).
        self.may_have_applied = False
        self.result: Response | None = None  # the response that ends the call
        self.last_response: Response | None = None
        self.last_error: APIConnectionError | APIError | None = None
        self.lookup_error: ChingError | None = None

    def look_first(self) -> None:
        """Look before the first send after all (see RetryLoop._keyed)."""
        if not self.in_doubt:
            self.in_doubt = True
            self.max_lookups += 2


def gone(response: Response) -> Response:
    """A 404 under UNTIL_GONE after an attempt that may have deleted it, as the call's success."""
    # Gone is what was asked: an answer without data, as the delete's own,
    # found by the retry rule (`reconciled`).
    return response.replace(status=200, body=_SUCCESS_WITHOUT_DATA, reconciled=True)


_SUCCESS_WITHOUT_DATA = b'{"success":true}'


def ended(call: Call, decision: Decision, total_timeout: float) -> Response:
    """The response the call ends with when `decision` ends it (its error raised)."""
    if decision.action is Action.RETURN:
        return returned(call, decision)
    if decision.action is Action.REFUSE:
        raise refused_error(call)
    assert decision.action is Action.GIVE_UP
    return given_up(call, decision, total_timeout)


def returned(call: Call, decision: Decision) -> Response:
    """The response a RETURN ends the call with (a NEVER call's failed send: its error raised)."""
    result = call.result
    if result is None:  # a NEVER call's failure: final, outcome unknown
        if call.last_response is not None:
            return call.last_response.replace(outcome_unknown=True)
        assert call.last_error is not None
        raise final_error(call, call.last_error, outcome_unknown=True)
    if decision.outcome_unknown:
        return result.replace(outcome_unknown=True)
    return result


def given_up(call: Call, decision: Decision, total_timeout: float) -> Response:
    """The last failure of a call out of attempts, lookups or time (raised when an error)."""
    # With a send in doubt (the decision says so), OutcomeUnknownError instead.
    if decision.outcome_unknown:
        raise outcome_unknown_error(call)
    last = call.last_response
    unread = call.last_error  # an answer over max_response_bytes, if it was one
    if last is not None and 200 <= last.status < 300:
        try:
            decode_envelope(last)
        except ResponseDecodeError as exc:
            unread = exc
    if isinstance(unread, ResponseDecodeError):
        # An unreadable 2xx whose lookup proved it had no effect: not in doubt.
        raise final_error(call, _proven_absent(unread), outcome_unknown=False)
    if last is not None:
        return last
    if call.last_error is not None:
        raise final_error(call, call.last_error, outcome_unknown=False)
    raise deadline_error(call, total_timeout)


def _proven_absent(error: ResponseDecodeError) -> ResponseDecodeError:
    """An unreadable answer's error (an UnreadableResultError, in doubt) once
    a lookup proved the request had no effect: a plain ResponseDecodeError
    with the same message, status, body and headers."""
    plain = ResponseDecodeError(
        error.message, status=error.status, body=error.body, request_id=error.request_id
    )
    plain.headers = error.headers
    return plain


def final_error(
    call: Call, exc: APIConnectionError | APIError, *, outcome_unknown: bool
) -> APIConnectionError | APIError:
    """`exc` as the call's final error, stamped with its request and attempts."""
    return attach_context(exc, call.request, attempts=call.sends, outcome_unknown=outcome_unknown)


def deadline_error(call: Call, total_timeout: float) -> APIConnectionError | APIError:
    """The error of a call whose `total_timeout` left no time for its next step."""
    if call.in_doubt:
        return outcome_unknown_error(call)
    exc = APITimeoutError(
        f"total_timeout of {total_timeout:g}s exceeded after {call.sends} attempt(s)"
    )
    # Every earlier failure was either retried as provably harmless or already
    # raised, so running out of time here never leaves a POST in doubt.
    finalized = final_error(call, exc, outcome_unknown=False)
    if call.last_error is not None:
        finalized.__cause__ = call.last_error
    return finalized


def outcome_unknown_error(call: Call) -> OutcomeUnknownError:
    """The error of a call that ends with a send (its own or an earlier call's) in doubt."""
    hint = call.reconciler.resolve_hint if call.reconciler is not None else RESOLVE_BY_KEY
    message = (
        f"the request may or may not have taken effect, and reconciliation could not tell; {hint}"
    )
    if not call.sends:
        message = (
            "could not tell whether an earlier call with this idempotency key took "
            "effect, so this call sent nothing; resolve it later by its idempotency key"
        )
    exc = OutcomeUnknownError(
        message,
        idempotency_key=call.request.idempotency_key or "",
        customer=call.reconciler.customer if call.reconciler is not None else None,
        status=_answered_status(call),
    )
    attach_context(exc, call.request, attempts=call.sends, outcome_unknown=True)
    exc.__cause__ = call.lookup_error or call.last_error
    return exc


def _answered_status(call: Call) -> int | None:
    """The status of the last answer to a send (one too large to read too)."""
    if call.last_response is not None:
        return call.last_response.status
    return call.last_error.status if isinstance(call.last_error, APIError) else None


def refused_error(call: Call) -> LookupInconclusiveError:
    """The error of a call that sent nothing: its key may be in use beyond a full list."""
    key = call.request.idempotency_key
    error = LookupInconclusiveError(
        f"idempotency key {key!r} is not among the {LIST_LIMIT} newest objects, and the "
        "list is full: it may have been used beyond it, so nothing was sent. Resolve it "
        "with find_by_idempotency_key, or pass on_full_window='send' to send anyway",
        status=call.lookup_error.status if isinstance(call.lookup_error, APIError) else None,
    )
    attach_context(error, call.request, attempts=0)
    error.__cause__ = call.lookup_error
    return error


def key_busy_error(call: Call) -> APITimeoutError:
    """The error of a call that sent nothing: another call held its key until its deadline."""
    error = APITimeoutError(
        f"another call with idempotency key {call.request.idempotency_key!r} was still in "
        "flight in this client when this call's total_timeout ran out; this call sent nothing",
        may_have_reached_server=False,
    )
    return attach_context(error, call.request, attempts=0)
