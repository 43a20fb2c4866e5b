"""A POST that CHING answered 2xx but whose answer cannot be read: the object
(a charge, a session...) most likely exists. The call ends in
UnreadableResultError, a ResponseDecodeError that `except
OutcomeUnknownError` catches too, naming the POST's idempotency key; a
reconciled POST looks the object up first, an answer over
`max_response_bytes` too (tests/retry/test_reconcile_rules.py has those
rules for every unreadable answer). A GET's unreadable answer stays a plain
ResponseDecodeError."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web

import ching_async
from ching_async.testing import FakeChing, Fault
from tests._support.fake_client import client_for, sent
from tests._support.retry import unreadable_result
from tests._support.scripted import CHARGE, SETUP_SESSION, Reply, Script, envelope, raw

API = "/ching/v1"
CAP = 4000  # the clients' max_response_bytes here

Call = Callable[[ching_async.Client], Awaitable[Any]]


def padded(data: Any, size: int = CAP + 1) -> Reply:
    """A 2xx envelope of `data` that decodes, padded with trailing whitespace
    (still JSON) to `size` bytes: only its size is wrong."""
    body = orjson.dumps({"success": True, "data": data})
    return raw(200, body + b" " * (size - len(body)), content_type="application/json")


def unreadable_answers(data: dict[str, Any], field: str = "id") -> dict[str, Reply]:
    """The 2xx answers a client cannot read, for an endpoint answering `data`
    (whose `field` is a string)."""
    whole = orjson.dumps({"success": True, "data": data})
    return {
        # 1. the envelope parses, the object does not decode (a field of the wrong type)
        "wrong-field-type": envelope({**data, field: ["not", "a", "string"]}),
        # 2. the body is not a CHING envelope
        "truncated": raw(200, whole[: len(whole) // 2], content_type="application/json"),
        "html": raw(200, b"<html>ok</html>"),
        "empty": raw(201, b"", content_type="application/json"),
        # 3. over max_response_bytes: refused unread
        "over-max_response_bytes": padded(data),
    }


def create_session(client: ching_async.Client) -> Awaitable[Any]:
    return client.setup_sessions.create(
        customer="cus_1", success_url="https://a.example/ok", cancel_url="https://a.example/no"
    )


CUSTOMER = {"id": "cus_1", "object": "customer", "name": "Tal"}
PORTAL = {"object": "billing_portal_session", "url": "https://a.example/p"}

# POSTs that are not reconciled: Resend.NEVER (setup sessions, customers) and
# Resend.SAFE (a billing portal session, re-sent after a failure).
PLAIN_POSTS: dict[str, tuple[str, Call, dict[str, Reply]]] = {
    "setup_sessions.create": (
        "/setup_sessions",
        create_session,
        unreadable_answers(SETUP_SESSION),
    ),
    "customers.create": (
        "/customers",
        lambda c: c.customers.create(name="Tal"),
        unreadable_answers(CUSTOMER),
    ),
    "billing_portal_sessions.create": (
        "/billing_portal_sessions",
        lambda c: c.billing_portal_sessions.create(customer="cus_1"),
        unreadable_answers(PORTAL, "url"),  # a portal session has no id
    ),
}
POST_CASES = [
    pytest.param(path, call, answer, id=f"{name}-{kind}")
    for name, (path, call, answers) in PLAIN_POSTS.items()
    for kind, answer in answers.items()
]


@pytest.mark.parametrize(("path", "call", "answer"), POST_CASES)
async def test_an_unreadable_2xx_to_a_post_is_caught_as_an_unknown_outcome(
    scripted: Script, make_client: Callable[..., ching_async.Client], path: str, call: Call, answer
) -> None:
    scripted.on("POST", API + path, answer)
    exc = await unreadable_result(call(make_client(max_response_bytes=CAP)), path)
    [post] = scripted.seen_at("POST", API + path)  # sent once: never blindly again
    assert exc.idempotency_key == post.headers["Idempotency-Key"]


@pytest.mark.parametrize(
    ("marking", "answer", "customer"),
    [
        # A reconciled create whose answer is an envelope, but whose charge
        # has a field of the wrong type: a lookup would read the same charge.
        ({}, envelope({**CHARGE, "amount": "lots"}), "cus_1"),
        # Without the marker nothing is looked up: any unreadable 2xx ends it,
        # and no customer is named (there is no marker to find it by).
        ({"mark_idempotency_key": False}, raw(200, b"<html>ok</html>"), None),
    ],
    ids=["undecodable-charge", "unmarked-html"],
)
async def test_a_charge_whose_answer_cannot_be_read_names_its_customer(
    scripted: Script,
    client: ching_async.Client,
    marking: dict[str, Any],
    answer: Reply,
    customer: str | None,
) -> None:
    scripted.on("POST", API + "/charges", answer)
    scripted.on("GET", API + "/charges", envelope([]))  # the caller's key: not used yet
    call = client.charges.create(
        customer="cus_1", payment_method="pm_1", amount=100, idempotency_key="order-1", **marking
    )
    exc = await unreadable_result(call, "/charges")
    assert exc.idempotency_key == "order-1"
    assert exc.customer == customer  # for charges.find_by_idempotency_key, as README shows
    assert len(scripted.seen_at("POST", API + "/charges")) == 1


GET_CASES = [
    pytest.param(answer, id=kind) for kind, answer in unreadable_answers(SETUP_SESSION).items()
]


@pytest.mark.parametrize("answer", GET_CASES)
async def test_an_unreadable_2xx_to_a_get_stays_a_plain_decode_error(
    scripted: Script, make_client: Callable[..., ching_async.Client], answer
) -> None:
    scripted.on("GET", API + "/setup_sessions/seti_1", answer)
    with pytest.raises(ching_async.ResponseDecodeError) as info:
        await make_client(max_response_bytes=CAP).setup_sessions.retrieve("seti_1")
    assert type(info.value) is ching_async.ResponseDecodeError
    assert info.value.outcome_unknown is False


def test_the_class_is_both_errors() -> None:
    """`except ResponseDecodeError` keeps catching it; so does `except
    OutcomeUnknownError` (pickling: tests/protocol/test_errors.py)."""
    cls = ching_async.UnreadableResultError
    assert issubclass(cls, ching_async.ResponseDecodeError)
    assert issubclass(cls, ching_async.OutcomeUnknownError)
    assert "UnreadableResultError" in ching_async.__all__


# ------------------------------------------------------- over real sockets
def oversize_answers_to(method: str, route: str) -> Any:
    """A FakeChing middleware: the answers to `method route` padded past CAP
    with trailing whitespace (still JSON), after the fake has done the work."""

    @web.middleware
    async def pad(request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        if request.method == method and request.path == API + route:
            assert isinstance(response, web.Response)
            body = bytes(response.body)  # type: ignore[arg-type]
            response.body = body + b" " * (CAP + 1 - len(body))
        return response

    return pad


async def test_a_charge_answered_over_max_response_bytes_is_found_and_made_once() -> None:
    fake = FakeChing()
    fake.app.middlewares.append(oversize_answers_to("POST", "/charges"))
    async with fake, client_for(fake, max_response_bytes=CAP) as client:
        customer = fake.add_customer(email="tal@example.com")
        card = fake.add_payment_method(customer.id)
        charge = await client.charges.create(
            customer=customer.id, payment_method=card.id, amount=4990
        )
        assert charge.request_info.reconciled is True
        assert charge.request_info.attempts == 1
        assert charge.amount == 4990
        # The card was charged once: the charge the lookup found.
        assert [c.id for c in fake.charges_for(customer.id)] == [charge.id]
        assert len(sent(fake, "POST", "/charges")) == 1
        assert fake.duplicates_by_idempotency_key() == {}


async def test_an_unreadable_answer_over_sockets_is_caught_as_an_unknown_outcome() -> None:
    async with FakeChing() as fake, client_for(fake) as client:
        fake.faults.add(Fault.html(200), method="POST", path="/setup_sessions", times=1)
        customer = fake.add_customer(email="tal@example.com")
        call = client.setup_sessions.create(
            customer=customer.id, success_url="https://a.example/", cancel_url="https://a.example/"
        )
        exc = await unreadable_result(call, "/setup_sessions")
        [post] = sent(fake, "POST", "/setup_sessions")
    assert exc.idempotency_key == post.idempotency_key
