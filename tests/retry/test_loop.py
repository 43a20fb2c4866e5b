"""The retry loop around `decide`: each decision is observable."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

import ching_async
from ching_async._messages import Request, Response
from ching_async._retry import Resend, RetryPolicy
from ching_async._retry_loop import RetryLoop
from ching_async.testing import FakeChing, Fault, MockTransport, envelope_response, error_response
from tests._support.scripted import TEST_KEY

E = TypeVar("E", bound=ching_async.ChingError)


async def test_each_decision_is_logged_with_reason_attempt_and_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with FakeChing() as fake:
        customer = fake.add_customer(email="tal@example.com")
        card = fake.add_payment_method(customer.id)
        fake.faults.add(Fault.commit_then_drop(), method="POST", path="/charges", times=1)
        async with ching_async.Client(
            fake.api_key, base_url=fake.url, retry_policy=ching_async.RetryPolicy(instant=True)
        ) as client:
            with caplog.at_level(logging.DEBUG, logger="ching_async.retry"):
                charge = await client.charges.create(
                    customer=customer.id, payment_method=card.id, amount=100, idempotency_key="o-1"
                )
    assert charge.request_info.reconciled is True
    records = [r for r in caplog.records if r.name == "ching_async.retry"]
    steps = [(r.ching_seen, r.ching_action, r.levelno) for r in records]  # type: ignore[attr-defined]
    assert steps == [
        ("absent", "send", logging.DEBUG),  # the caller's key, looked up first
        ("unanswered failure", "look", logging.INFO),  # the dropped connection: reconcile
        ("found", "return", logging.INFO),  # reconciliation found the charge
    ]
    assert {r.ching_idempotency_key for r in records} == {"o-1"}  # type: ignore[attr-defined]
    assert [r.ching_attempt for r in records] == [0, 1, 1]  # type: ignore[attr-defined]
    assert all(r.ching_reason for r in records)  # type: ignore[attr-defined]
    assert "o-1" in records[-1].getMessage()
    assert all(r.ching_request_id is None for r in records)  # type: ignore[attr-defined]
    assert "request id None" in records[-1].getMessage()


def unavailable(request: ching_async.Request) -> ching_async.Response:
    return error_response(request, 503, headers={"X-Request-Id": "req_503"})


# A backoff of 5 s against a deadline of 1 s: no retry or lookup fits.
SLOW = ching_async.RetryPolicy(initial_backoff=5.0, max_backoff=5.0, jitter=False)


async def one_second_call(
    caplog: pytest.LogCaptureFixture,
    transport: MockTransport,
    policy: ching_async.RetryPolicy,
    call: Callable[[ching_async.Client], Awaitable[object]],
    error: type[E],
) -> tuple[E, list[logging.LogRecord]]:
    """`call` on a client with a 1 s deadline, failing with `error`: the error
    and the retry loop's records."""
    async with ching_async.Client(
        TEST_KEY, transport=transport, total_timeout=1, retry_policy=policy
    ) as client:
        with (
            caplog.at_level(logging.INFO, logger="ching_async.retry"),
            pytest.raises(error) as info,
        ):
            await call(client)
    return info.value, [r for r in caplog.records if r.name == "ching_async.retry"]


async def test_giving_up_for_lack_of_time_is_the_logged_decision(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A GET answered 503 whose backoff would pass its deadline: the call
    gives up at once, and the record says so, not "send"."""
    started = time.monotonic()
    error, [record] = await one_second_call(
        caplog,
        MockTransport(unavailable),
        SLOW,
        lambda c: c.charges.retrieve("ch_1"),
        ching_async.InternalServerError,
    )
    assert time.monotonic() - started < 0.5  # no wait that could not lead to another attempt
    assert (error.attempts, error.outcome_unknown) == (1, False)
    assert record.levelno == logging.INFO
    assert (record.ching_seen, record.ching_action) == ("unanswered failure", "give up")  # type: ignore[attr-defined]
    assert record.ching_reason.endswith("; no time left for the next attempt")  # type: ignore[attr-defined]
    assert (record.ching_method, record.ching_path) == ("GET", "/charges/ch_1")  # type: ignore[attr-defined]
    assert (record.ching_attempt, record.ching_request_id) == (1, "req_503")  # type: ignore[attr-defined]
    assert (record.ching_idempotency_key, record.ching_outcome_unknown) == (None, False)  # type: ignore[attr-defined]
    assert "GET /charges/ch_1: unanswered failure -> give up (" in record.getMessage()


async def test_a_reconciled_post_out_of_time_for_its_lookup_ends_unknown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A charge whose POST got a proxy's 502 needs a lookup that the deadline
    leaves no room for: nothing more is sent or looked up, the give-up is
    logged with the idempotency key, and the outcome is unknown."""
    methods: list[str] = []

    def proxy_502(request: ching_async.Request) -> ching_async.Response:
        methods.append(request.method)
        return ching_async.Response(502, {"Content-Type": "text/html"}, b"<h1>502</h1>", request)

    error, [give_up, unknown] = await one_second_call(
        caplog,
        MockTransport(proxy_502),
        SLOW,
        lambda c: c.charges.create(customer="cus_1", payment_method="pm_1", amount=100),
        ching_async.OutcomeUnknownError,
    )
    assert methods == ["POST"]
    assert (give_up.ching_seen, give_up.ching_action) == ("unanswered failure", "give up")  # type: ignore[attr-defined]
    assert give_up.ching_reason.endswith("; no time left for the next lookup")  # type: ignore[attr-defined]
    assert give_up.ching_outcome_unknown is True  # type: ignore[attr-defined]
    assert error.idempotency_key
    assert give_up.ching_idempotency_key == error.idempotency_key  # type: ignore[attr-defined]
    assert unknown.ching_idempotency_key == error.idempotency_key  # type: ignore[attr-defined]
    assert "outcome unknown (OutcomeUnknownError" in unknown.getMessage()


@pytest.fixture
def late_wakeups(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every wait wakes 1 s later than asked."""
    real_sleep = asyncio.sleep

    async def late(delay: float, result: object = None) -> object:
        return await real_sleep(delay + 1.0 if delay > 0 else delay, result)

    monkeypatch.setattr(asyncio, "sleep", late)


# A backoff of 0.2 s: a wait that fits in the 1 s deadline, unless it wakes late.
SHORT = ching_async.RetryPolicy(initial_backoff=0.2, max_backoff=0.2, jitter=False)


@pytest.mark.usefixtures("late_wakeups")
async def test_a_wait_that_wakes_past_the_deadline_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The 0.2 s wait fits in the 1 s deadline, but the wake-up comes 1 s late:
    the next attempt is not made, and that is a record too."""
    error, [retry, overrun] = await one_second_call(
        caplog,
        MockTransport(unavailable),
        SHORT,
        lambda c: c.charges.retrieve("ch_1"),
        ching_async.APITimeoutError,
    )
    assert error.attempts == 1
    assert (retry.ching_action, overrun.ching_action) == ("send", "give up")  # type: ignore[attr-defined]
    assert "the wait ran past the deadline" in overrun.ching_reason  # type: ignore[attr-defined]
    assert (overrun.ching_attempt, overrun.ching_request_id) == (1, "req_503")  # type: ignore[attr-defined]
    assert overrun.ching_outcome_unknown is False  # type: ignore[attr-defined]
    assert "GET /charges/ch_1: deadline -> give up (" in overrun.getMessage()


@pytest.mark.usefixtures("late_wakeups")
async def test_a_lookup_due_past_the_deadline_leaves_the_outcome_unknown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A charge whose POST failed waits 0.2 s to look it up and wakes past the
    deadline: the send is still in doubt, so the call ends unknown, not with a
    plain timeout."""
    error, [look, overrun, unknown] = await one_second_call(
        caplog,
        MockTransport(unavailable),
        SHORT,
        lambda c: c.charges.create(customer="cus_1", payment_method="pm_1", amount=100),
        ching_async.OutcomeUnknownError,
    )
    assert (error.attempts, error.status) == (1, 503)
    assert (look.ching_action, overrun.ching_action) == ("look", "give up")  # type: ignore[attr-defined]
    assert overrun.ching_outcome_unknown is True  # type: ignore[attr-defined]
    assert "outcome unknown (OutcomeUnknownError" in unknown.getMessage()


async def test_a_key_proven_unused_with_no_time_to_send_is_a_plain_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A caller's key, looked up first, is not in the list (nothing in doubt),
    and the backoff leaves no time to send: the call sent nothing and times
    out; its outcome is known."""
    methods: list[str] = []

    def no_charges(request: ching_async.Request) -> ching_async.Response:
        methods.append(request.method)
        return envelope_response(request, [])

    error, [give_up] = await one_second_call(
        caplog,
        MockTransport(no_charges),
        SLOW,
        lambda c: c.charges.create(
            customer="cus_1", payment_method="pm_1", amount=100, idempotency_key="o-1"
        ),
        ching_async.APITimeoutError,
    )
    assert methods == ["GET", "GET"]  # one lookup: the customer's charges, then the project's
    assert (error.attempts, error.outcome_unknown) == (0, False)
    assert str(error).startswith("total_timeout of 1s exceeded after 0 attempt(s)")
    assert (give_up.ching_seen, give_up.ching_action) == ("absent", "give up")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("retry", "statuses", "answer"),
    [
        # A 404 after an attempt that may have taken effect (a 503, a
        # connection dropped after sending): that attempt deleted it; done.
        (Resend.UNTIL_GONE, [503, 404], (200, 2, True)),
        (Resend.UNTIL_GONE, ["dropped", 404], (200, 2, True)),
        (Resend.UNTIL_GONE, [429, 503, 404], (200, 3, True)),
        # A 404 with no such attempt before it is the call's own answer: the
        # first, or after a refused connection or a 429 (nothing was deleted).
        (Resend.UNTIL_GONE, [404], (404, 1, False)),
        (Resend.UNTIL_GONE, [429, 404], (404, 2, False)),
        (Resend.UNTIL_GONE, ["refused", 404], (404, 2, False)),
        (Resend.UNTIL_GONE, [503, 200], (200, 2, False)),
        # Only that class reads a 404 so.
        (Resend.SAFE, [503, 404], (404, 2, False)),
    ],
    ids=[
        "after-503",
        "after-dropped",
        "after-429-then-503",
        "first-404",
        "after-429",
        "after-refused",
        "deleted-on-retry",
        "safe-keeps-404",
    ],
)
async def test_until_gone_answers_a_404_after_a_possible_delete_as_done(
    retry: Resend, statuses: list[int | str], answer: tuple[int, int, bool]
) -> None:
    answers = iter(statuses)

    async def send(request: Request) -> Response:
        status = next(answers)
        if isinstance(status, str):  # a connection refused, or dropped after sending
            reached = status == "dropped"
            raise ching_async.APIConnectionError(status, may_have_reached_server=reached)
        body = b'{"success":true}' if status == 200 else b'{"success":false}'
        headers = {"x-request-id": f"req_{request.attempt}"}
        return Response(status, headers, body, request, attempts=request.attempt)

    loop = RetryLoop(RetryPolicy(instant=True), max_retries=2, total_timeout=5.0)
    request = Request("DELETE", "/webhooks/1", "https://api.test")
    response = await loop.run(request, retry, send)
    assert (response.status, response.attempts, response.reconciled) == answer
    assert next(answers, None) is None  # every answer used, none more asked for
    assert response.headers["x-request-id"] == f"req_{len(statuses)}"  # the last answer's
    if response.reconciled:
        assert response.body == b'{"success":true}'  # an answer without data, as a delete's
