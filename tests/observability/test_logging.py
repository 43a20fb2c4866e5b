"""What the library logs: INFO for retries, reconciliation and outcome unknown;
DEBUG for each attempt; CHING_LOG turns it on; never the key."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import pytest

import ching_async
from ching_async.testing import MockTransport, envelope_response, error_response
from tests._support.scripted import CHARGE, TEST_KEY

CREATE = {"customer": "cus_1", "payment_method": "pm_1", "amount": 100}


Step = Callable[[ching_async.Request], ching_async.Response]


def answers(*get: Step, post: tuple[Step, ...] = ()) -> MockTransport:
    """GETs answered by `get` in turn, POSTs by `post` (the last step repeats)."""
    queues = {"GET": list(get), "POST": list(post)}

    def handler(request: ching_async.Request) -> ching_async.Response:
        queue = queues[request.method]
        return queue.pop(0)(request) if len(queue) > 1 else queue[0](request)

    return MockTransport(handler)


def unavailable(request: ching_async.Request) -> ching_async.Response:
    return error_response(request, 503, headers={"X-Request-Id": "req_503"})


def ok_list(request: ching_async.Request) -> ching_async.Response:
    return envelope_response(request, [CHARGE], headers={"X-Request-Id": "req_ok"})


def proxy_502(request: ching_async.Request) -> ching_async.Response:
    return ching_async.Response(502, {"Content-Type": "text/html"}, b"<h1>502</h1>", request)


def found(key: str) -> Step:
    def lookup(request: ching_async.Request) -> ching_async.Response:
        # The charge a CREATE call made (a key's charge with other parameters is refused).
        marked = {**CHARGE, **CREATE, "metadata": {ching_async.IDEMPOTENCY_METADATA_KEY: key}}
        return envelope_response(request, [marked])

    return lookup


def created(request: ching_async.Request) -> ching_async.Response:
    return envelope_response(request, CHARGE, headers={"X-Request-Id": "req_ok"})


def empty(request: ching_async.Request) -> ching_async.Response:
    return envelope_response(request, [])


def client(transport: MockTransport, **options: Any) -> ching_async.Client:
    options.setdefault("retry_policy", ching_async.RetryPolicy(instant=True))
    return ching_async.Client(TEST_KEY, transport=transport, **options)


def info_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.INFO]


async def test_a_plain_success_logs_nothing_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ching_async")
    async with client(answers(ok_list)) as c:
        await c.charges.list()
    assert info_records(caplog) == []


async def test_a_retry_is_one_info_record_with_its_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="ching_async")
    async with client(answers(unavailable, ok_list)) as c:
        await c.charges.list()
    [record] = info_records(caplog)
    assert record.name == "ching_async.retry"
    assert (record.ching_method, record.ching_path) == ("GET", "/charges")  # type: ignore[attr-defined]
    assert (record.ching_action, record.ching_attempt) == ("send", 1)  # type: ignore[attr-defined]
    assert record.ching_request_id == "req_503"  # type: ignore[attr-defined]
    assert "GET /charges" in record.getMessage()
    assert "request id req_503" in record.getMessage()


async def test_reconciliation_and_its_outcome_are_info_records(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="ching_async")
    async with client(answers(found("order-7"), post=(proxy_502,))) as c:
        charge = await c.charges.create(**CREATE, idempotency_key="order-7", assume_new=True)
    assert charge.request_info.reconciled
    steps = [(r.ching_seen, r.ching_action) for r in info_records(caplog)]  # type: ignore[attr-defined]
    assert steps == [("unanswered failure", "look"), ("found", "return")]
    assert {r.ching_idempotency_key for r in info_records(caplog)} == {"order-7"}  # type: ignore[attr-defined]


async def test_outcome_unknown_is_an_info_record(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ching_async")
    patient = ching_async.RetryPolicy()  # the default 30 s settle: the deadline comes first
    async with client(
        answers(empty, post=(proxy_502,)), total_timeout=0.5, retry_policy=patient
    ) as c:
        with pytest.raises(ching_async.OutcomeUnknownError):
            await c.charges.create(**CREATE, idempotency_key="order-8", assume_new=True)
    last = info_records(caplog)[-1]
    assert last.ching_outcome_unknown is True  # type: ignore[attr-defined]
    assert last.ching_idempotency_key == "order-8"  # type: ignore[attr-defined]


async def test_each_attempt_is_a_debug_record_with_key_and_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="ching_async")
    async with client(answers(unavailable, ok_list, post=(created,))) as c:
        await c.charges.list()
        await c.charges.create(**CREATE, idempotency_key="order-9", assume_new=True)
    attempts = [r for r in caplog.records if r.name == "ching_async" and hasattr(r, "ching_status")]
    seen = [(r.ching_attempt, r.ching_status, r.ching_request_id) for r in attempts]  # type: ignore[attr-defined]
    assert seen == [(1, "503", "req_503"), (2, "200", "req_ok"), (1, "200", "req_ok")]
    assert attempts[-1].ching_idempotency_key == "order-9"  # type: ignore[attr-defined]
    assert "idempotency key order-9" in attempts[-1].getMessage()


async def test_no_record_carries_the_key(caplog: pytest.LogCaptureFixture) -> None:
    def echo(request: ching_async.Request) -> ching_async.Response:
        # A hostile server echoes the Authorization header as its request id.
        auth = request.headers["Authorization"]
        return error_response(request, 503, headers={"X-Request-Id": auth})

    caplog.set_level(logging.DEBUG, logger="ching_async")
    async with client(answers(echo, found("order-10"), post=(proxy_502,)), max_retries=0) as c:
        with pytest.raises(ching_async.APIError):
            await c.charges.list()
        await c.charges.create(**CREATE, idempotency_key="order-10", assume_new=True)
    assert caplog.records
    for record in caplog.records:
        assert TEST_KEY not in record.getMessage()
        assert TEST_KEY not in repr(vars(record))


def run_with_ching_log(value: str | None) -> str:
    script = textwrap.dedent(
        f"""
        import asyncio, ching_async
        from ching_async.testing import MockTransport, envelope_response, error_response
        calls = []
        def handler(request):
            calls.append(1)
            if len(calls) == 1:
                return error_response(request, 503)
            return envelope_response(request, [])
        async def main():
            async with ching_async.Client(
                {TEST_KEY!r}, transport=MockTransport(handler),
                retry_policy=ching_async.RetryPolicy(instant=True),
            ) as client:
                await client.charges.list()
        asyncio.run(main())
        """
    )
    env = {"PATH": "", "PYTHONPATH": ":".join(sys.path)}
    if value is not None:
        env["CHING_LOG"] = value
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_ching_log_turns_logging_on_without_logging_config() -> None:
    assert run_with_ching_log(None) == ""
    info = run_with_ching_log("info")
    assert "INFO ching_async.retry: GET /charges: unanswered failure -> send" in info
    assert "DEBUG" not in info
    debug = run_with_ching_log("DEBUG")
    assert "DEBUG ching_async: GET /charges -> 503 (attempt 1" in debug
    assert TEST_KEY not in info + debug
    assert "CHING_LOG='loud' is not one of ['debug', 'info']" in run_with_ching_log("loud")
