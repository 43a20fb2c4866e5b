"""webhook_endpoints.*: create (its secret once, never two endpoints), list, delete."""

from __future__ import annotations

import pickle
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

import ching_async
from ching_async import WebhookEndpoint
from ching_async.testing import FakeChing, Fault, MockTransport, envelope_response, error_response
from tests._support.fake_client import client_for, raw_call, sent

KEY = "ck_test_" + "ab" * 32
URL = "https://shop.example/hooks/ching"
# The answers as REFERENCE.md section 15 gives them.
CREATED = {
    "url": URL,
    "events": ["charge.succeeded", "refund.created"],
    "secret": "whsec_" + "5e" * 32,
    "active": True,
    "livemode": False,
}
LISTED = {
    "id": 7,
    "url": URL,
    "events": ["charge.succeeded", "refund.created"],
    "active": True,
    "livemode": False,
    "created": "2026-05-10T08:30:00.000Z",
}
PLUG_CREATED = {"id": 7, "url": URL, "events": ["*"], "secret": "whsec_" + "0a" * 32}


@pytest.fixture
async def ching(fake: FakeChing) -> AsyncIterator[ching_async.Client]:
    async with client_for(fake, timeout=0.5) as client:
        yield client


def mocked(answer: Any) -> ching_async.Client:
    return ching_async.Client(
        KEY, transport=MockTransport(answer), retry_policy=ching_async.RetryPolicy(instant=True)
    )


# -------------------------------------------------------------- wire shapes
async def test_create_sends_the_documented_body_and_shows_the_secret_once(
    fake: FakeChing, ching: ching_async.Client
) -> None:
    endpoint = await ching.webhook_endpoints.create(
        url=URL, events=["charge.succeeded", "refund.created", "charge.succeeded"]
    )
    [request] = sent(fake, "POST", "/webhooks")
    assert request.body == {"url": URL, "events": ["charge.succeeded", "refund.created"]}
    assert list(request.query.items()) == []
    assert request.idempotency_key is not None
    [stored] = fake.webhook_endpoints()
    assert isinstance(endpoint, WebhookEndpoint)
    assert endpoint.secret == stored.secret
    assert re.fullmatch(r"whsec_[0-9a-f]{64}", endpoint.secret or "")
    assert (endpoint.id, endpoint.created) == (None, None)  # the create answer has no id
    assert (endpoint.url, endpoint.events, endpoint.active) == (URL, request.body["events"], True)
    assert endpoint.livemode is False
    assert stored.secret not in repr(endpoint)
    assert endpoint.to_dict()["secret"] == stored.secret
    assert endpoint.request_info is not None
    assert endpoint.request_info.reconciled is False


async def test_list_shows_ids_and_never_secrets(fake: FakeChing, ching: ching_async.Client) -> None:
    await ching.webhook_endpoints.create(url=URL, events=["*"])
    await ching.webhook_endpoints.create(url=URL + "/2", events=["charge.failed"])
    listed = await ching.webhook_endpoints.list()
    [request] = sent(fake, "GET", "/webhooks")
    assert (request.raw_body, list(request.query.items())) == (b"", [])
    assert [(e.id, e.url, e.events) for e in listed] == [
        (2, URL + "/2", ["charge.failed"]),
        (1, URL, ["*"]),
    ]
    assert all(e.secret is None and "secret" not in e.raw for e in listed)
    assert all(e.created is not None for e in listed)
    assert [e.id async for e in ching.webhook_endpoints.list()] == [2, 1]


async def test_delete_sends_the_numeric_id_and_the_answer_has_no_data(
    fake: FakeChing, ching: ching_async.Client
) -> None:
    await ching.webhook_endpoints.create(url=URL, events=["*"])
    assert await ching.webhook_endpoints.delete(1) is None
    [request] = sent(fake, "DELETE", "/webhooks/{id}")
    assert (request.path, request.raw_body) == ("/webhooks/1", b"")
    assert fake.webhook_endpoints() == []
    with pytest.raises(ching_async.NotFoundError, match="No such webhook endpoint: 1") as caught:
        await ching.webhook_endpoints.delete(1)
    assert caught.value.attempts == 1


async def test_endpoints_are_mode_scoped(fake: FakeChing, ching: ching_async.Client) -> None:
    await ching.webhook_endpoints.create(url=URL, events=["*"])
    async with client_for(fake, api_key=fake.live_api_key) as live:
        assert await live.webhook_endpoints.list() == []
        with pytest.raises(ching_async.NotFoundError):
            await live.webhook_endpoints.delete(1)
        made = await live.webhook_endpoints.create(url=URL, events=["*"])
    assert made.livemode is True
    assert [e.livemode for e in fake.webhook_endpoints()] == [False, True]


def test_the_reference_examples_decode() -> None:
    async def main() -> list[WebhookEndpoint]:
        answers = iter([CREATED, [LISTED], PLUG_CREATED])
        async with mocked(lambda r: envelope_response(r, next(answers))) as client:
            created = await client.webhook_endpoints.create(url=URL, events=["*"])
            [listed] = await client.webhook_endpoints.list()
            plug = await client.webhook_endpoints.create(url=URL, events=["*"])
        return [created, listed, plug]

    import asyncio

    created, listed, plug = asyncio.run(main())
    assert (created.secret, created.id, created.raw) == (CREATED["secret"], None, CREATED)
    assert (listed.id, listed.secret, listed.to_dict()["created"]) == (
        7,
        None,
        "2026-05-10T08:30:00.000Z",
    )
    assert (plug.id, plug.secret, plug.active) == (7, PLUG_CREATED["secret"], None)


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"url": "shop.example/hooks", "events": ["*"]}, "url"),
        ({"url": "ftp://shop.example/hooks", "events": ["*"]}, "url"),
        ({"url": "https://shop.example/a b", "events": ["*"]}, "url"),
        ({"url": 5, "events": ["*"]}, "url"),
        ({"url": URL, "events": []}, "at least one"),
        ({"url": URL, "events": "charge.succeeded"}, "list of event types"),
        ({"url": URL, "events": ["charge succeeded"]}, "event type"),
        ({"url": URL, "events": [""]}, "event type"),
        ({"url": URL, "events": [None]}, "event type"),
    ],
)
async def test_create_refuses_bad_arguments_before_sending(
    fake: FakeChing, ching: ching_async.Client, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ching_async.InvalidParameterError, match=match):
        await ching.webhook_endpoints.create(**kwargs)
    assert fake.requests() == []


@pytest.mark.parametrize("bad", ["7", 0, -1, True, 7.0, None])
async def test_delete_refuses_an_id_that_is_not_a_number(
    fake: FakeChing, ching: ching_async.Client, bad: Any
) -> None:
    with pytest.raises(ching_async.InvalidParameterError, match="webhook endpoint's number"):
        await ching.webhook_endpoints.delete(bad)
    assert fake.requests() == []


@pytest.mark.parametrize(
    ("body", "paths"),
    [
        ({}, [["url"], ["events"]]),
        ({"url": "not a url", "events": ["*"]}, [["url"]]),
        ({"url": URL, "events": []}, [["events"]]),
        ({"url": URL, "events": "charge.succeeded"}, [["events"]]),
        ({"url": URL, "events": ["*", 3, ""]}, [["events", 1], ["events", 2]]),
    ],
)
async def test_the_fake_validates_a_create_as_documented(
    fake: FakeChing, body: dict[str, Any], paths: list[list[Any]]
) -> None:
    status, payload = await raw_call(fake, "POST", "/webhooks", body)
    assert (status, payload["error"]["code"]) == (422, "INVALID_FIELD")
    assert [issue["path"] for issue in payload["error"]["issues"]] == paths
    assert fake.webhook_endpoints() == []


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (422, "INVALID_FIELD", ching_async.UnprocessableEntityError),
        (400, "INVALID_FIELD", ching_async.BadRequestError),
        (401, "WRONG_CREDENTIALS", ching_async.AuthenticationError),
        (403, "NO_ACCESS", ching_async.PermissionDeniedError),
    ],
)
async def test_error_codes_map_to_typed_errors(
    status: int, code: str, error: type[ching_async.APIError]
) -> None:
    issues = [{"path": "url", "message": "Invalid url"}]  # SKILL's spelling: a string path
    async with mocked(lambda r: error_response(r, status, code=code, issues=issues)) as client:
        for call in (
            client.webhook_endpoints.create(url=URL, events=["*"]),
            client.webhook_endpoints.list(),
            client.webhook_endpoints.delete(7),
        ):
            with pytest.raises(error) as caught:
                await call
            assert (caught.value.code, caught.value.fields) == (code, ("url",))


# ----------------------------------------------- exactly once, under faults
async def test_a_lost_answer_after_the_commit_raises_secret_lost_and_makes_no_second(
    fake: FakeChing, ching: ching_async.Client
) -> None:
    fake.faults.add(Fault.commit_then_drop(), method="POST", path="/webhooks", times=1)
    with pytest.raises(ching_async.WebhookSecretLostError) as caught:
        await ching.webhook_endpoints.create(url=URL, events=["charge.succeeded"])
    [stored] = fake.webhook_endpoints()  # exactly one on the server
    error = caught.value
    assert (error.endpoint_id, error.url, error.events) == (stored.id, URL, ("charge.succeeded",))
    assert isinstance(error, ching_async.APIError)
    assert (error.method, error.path, error.attempts) == ("POST", "/webhooks", 1)
    assert "secret was lost" in str(error)
    assert f"webhook_endpoints.delete({stored.id})" in str(error)
    assert stored.secret not in str(error)
    assert len(sent(fake, "POST", "/webhooks")) == 1
    assert len(sent(fake, "GET", "/webhooks")) == 1
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), vars(copy)) == (type(error), str(error), vars(error))
    # The way out the error gives: delete it, create it again.
    await ching.webhook_endpoints.delete(error.endpoint_id or 0)
    again = await ching.webhook_endpoints.create(url=URL, events=["charge.succeeded"])
    [stored] = fake.webhook_endpoints()
    assert again.secret == stored.secret


@pytest.mark.parametrize("fault", [Fault.status(503), Fault.status(500), Fault.html(502)])
async def test_a_5xx_before_the_commit_is_proven_absent_and_sent_again(
    fake: FakeChing, ching: ching_async.Client, fault: Fault
) -> None:
    fake.faults.add(fault, method="POST", path="/webhooks", times=1)
    endpoint = await ching.webhook_endpoints.create(url=URL, events=["*"])
    [stored] = fake.webhook_endpoints()
    assert endpoint.secret == stored.secret
    assert endpoint.request_info is not None
    assert (endpoint.request_info.attempts, endpoint.request_info.reconciled) == (2, False)
    assert [r.method for r in fake.requests()] == ["POST", "GET", "POST"]


async def test_a_timeout_after_the_commit_raises_secret_lost(
    fake: FakeChing, ching: ching_async.Client
) -> None:
    fake.faults.add(Fault.commit_then_delay(2.0), method="POST", path="/webhooks", times=1)
    with pytest.raises(ching_async.WebhookSecretLostError):
        await ching.webhook_endpoints.create(url=URL, events=["*"])
    assert len(fake.webhook_endpoints()) == 1


async def test_a_timeout_before_a_late_commit_waits_out_the_settle_time(fake: FakeChing) -> None:
    """The server commits after the client gave up: an empty lookup proves
    nothing until RetryPolicy.settle has passed, so no second endpoint."""
    policy = ching_async.RetryPolicy(initial_backoff=0.01, max_backoff=0.01, settle=1.5)
    fake.faults.add(Fault.latency(1.0), method="POST", path="/webhooks", times=1)
    async with client_for(fake, timeout=0.2, retry_policy=policy) as client:
        with pytest.raises(ching_async.WebhookSecretLostError):
            await client.webhook_endpoints.create(url=URL, events=["*"])
    assert len(fake.webhook_endpoints()) == 1
    # The first lookup (before the commit) was empty; the one after settling found it.
    assert [r.method for r in fake.requests()] == ["GET", "POST", "GET"]  # logged as they end


async def test_a_full_list_without_it_ends_in_outcome_unknown(
    fake: FakeChing, ching: ching_async.Client
) -> None:
    for n in range(100):
        fake.add_webhook_endpoint(f"https://shop.example/other/{n}")
    fake.faults.add(Fault.status(503), method="POST", path="/webhooks", times=1)
    with pytest.raises(ching_async.OutcomeUnknownError) as caught:
        await ching.webhook_endpoints.create(url=URL, events=["*"])
    message = str(caught.value)
    assert "webhook_endpoints.list()" in message
    assert "idempotency key" not in message.split("[")[0]  # no marker to look up by
    assert isinstance(caught.value.__cause__, ching_async.LookupInconclusiveError)
    assert len(fake.webhook_endpoints()) == 100  # nothing made, nothing sent again
    assert len(sent(fake, "POST", "/webhooks")) == 1


async def test_a_lookup_that_cannot_tell_ends_in_outcome_unknown(
    fake: FakeChing, ching: ching_async.Client
) -> None:
    fake.faults.add(Fault.commit_then_drop(), method="POST", path="/webhooks", times=1)
    fake.faults.add(Fault.status(503), method="GET", path="/webhooks")
    with pytest.raises(ching_async.OutcomeUnknownError):
        await ching.webhook_endpoints.create(url=URL, events=["*"])
    assert len(fake.webhook_endpoints()) == 1
    assert len(sent(fake, "POST", "/webhooks")) == 1


async def test_the_fake_does_not_deduplicate_and_an_older_twin_reads_as_lost(
    fake: FakeChing, ching: ching_async.Client
) -> None:
    await ching.webhook_endpoints.create(url=URL, events=["b.x", "a.y"])
    await ching.webhook_endpoints.create(url=URL, events=["a.y", "b.x"])
    assert len(fake.webhook_endpoints()) == 2  # like CHING: two endpoints
    # A failure that provably made nothing still finds the older twin (events in
    # any order): the client never makes a third one silently.
    fake.faults.add(Fault.status(503), method="POST", path="/webhooks", times=1)
    with pytest.raises(ching_async.WebhookSecretLostError) as caught:
        await ching.webhook_endpoints.create(url=URL, events=["a.y", "b.x"])
    assert caught.value.endpoint_id == 2
    assert len(fake.webhook_endpoints()) == 2


async def test_an_endpoint_with_other_events_is_not_a_match(
    fake: FakeChing, ching: ching_async.Client
) -> None:
    await ching.webhook_endpoints.create(url=URL, events=["charge.succeeded"])
    fake.faults.add(Fault.status(503), method="POST", path="/webhooks", times=1)
    made = await ching.webhook_endpoints.create(url=URL, events=["charge.succeeded", "x.y"])
    assert made.secret is not None
    assert len(fake.webhook_endpoints()) == 2


async def test_delete_is_retried_and_a_retry_that_finds_it_gone_succeeds(
    fake: FakeChing, ching: ching_async.Client
) -> None:
    await ching.webhook_endpoints.create(url=URL, events=["*"])
    fake.faults.add(Fault.commit_then_drop(), method="DELETE", path="/webhooks/{id}", times=1)
    assert await ching.webhook_endpoints.delete(1) is None
    assert fake.webhook_endpoints() == []
    assert [r.status for r in sent(fake, "DELETE", "/webhooks/{id}")] == [200, 404]
    # A retry cannot tell "deleted by the lost attempt" from "never there": gone
    # either way, which is what the call asks for. Only a first answer's 404 raises.
    fake.faults.add(Fault.status(503), method="DELETE", path="/webhooks/{id}", times=1)
    assert await ching.webhook_endpoints.delete(5) is None
    with pytest.raises(ching_async.NotFoundError):
        await ching.webhook_endpoints.delete(5)
