"""Envelope corner cases: failure on a 2xx, the CLI's `details`, unreadable 2xx POSTs."""

from __future__ import annotations

import pytest

import ching_async
from tests._support.scripted import Script, envelope, raw


async def test_failure_on_2xx_takes_the_status_from_the_body(scripted: Script, client):
    body = b'{"success": false, "error": {"status": 404, "code": "NOT_FOUND", "message": "no"}}'
    scripted.on("GET", "/ching/v1/charges/ch_1", raw(200, body, "application/json"))
    with pytest.raises(ching_async.NotFoundError) as info:
        await client.charges.retrieve("ch_1")
    assert info.value.status == 404
    assert info.value.code == "NOT_FOUND"


async def test_failure_on_2xx_without_a_status_is_a_bad_request(scripted: Script, client):
    body = b'{"success": false, "error": {"code": "X", "message": "no"}}'
    scripted.on("GET", "/ching/v1/charges/ch_1", raw(200, body, "application/json"))
    with pytest.raises(ching_async.BadRequestError):
        await client.charges.retrieve("ch_1")


async def test_details_used_when_issues_is_null(scripted: Script, client):
    body = (
        b'{"success": false, "error": {"code": "INVALID_FIELD", "message": "bad", '
        b'"issues": null, "details": [{"path": ["amount"], "message": "must be > 0"}]}}'
    )
    scripted.on("GET", "/ching/v1/charges/ch_1", raw(422, body, "application/json"))
    with pytest.raises(ching_async.UnprocessableEntityError) as info:
        await client.charges.retrieve("ch_1")
    assert info.value.issues == ({"path": ["amount"], "message": "must be > 0"},)


async def test_unreadable_2xx_answer_to_an_unreconciled_post_is_an_unknown_outcome(
    scripted: Script, client
):
    # setup_sessions.create has no reconciler (reconciled POSTs: test_reconcile_rules).
    scripted.on("POST", "/ching/v1/setup_sessions", raw(200, b"<html>ok</html>"))
    with pytest.raises(ching_async.OutcomeUnknownError) as info:
        await client.setup_sessions.create(
            customer="cus_1", success_url="https://a.example/ok", cancel_url="https://a.example/no"
        )
    assert type(info.value) is ching_async.UnreadableResultError
    assert info.value.outcome_unknown is True
    assert info.value.idempotency_key == scripted.seen[0].headers["Idempotency-Key"]


async def test_wrong_shape_2xx_answer_to_a_post_is_an_unknown_outcome(scripted: Script, client):
    scripted.on("POST", "/ching/v1/charges", envelope({"id": "ch_1", "amount": "lots"}))
    with pytest.raises(ching_async.OutcomeUnknownError) as info:
        await client.charges.create(customer="cus_1", payment_method="pm_1", amount=100)
    assert type(info.value) is ching_async.UnreadableResultError
    assert info.value.outcome_unknown is True


async def test_unreadable_2xx_answer_to_a_get_is_not_an_unknown_outcome(scripted: Script, client):
    scripted.on("GET", "/ching/v1/charges/ch_1", raw(200, b"<html>ok</html>"))
    with pytest.raises(ching_async.ResponseDecodeError) as info:
        await client.charges.retrieve("ch_1")
    assert type(info.value) is ching_async.ResponseDecodeError
    assert info.value.outcome_unknown is False
