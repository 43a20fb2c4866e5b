"""A key is only for the parameters it was first used with (as at Stripe): a
charge its key made with another amount, card or customer is never this
call's result; the call is refused with IdempotencyKeyReusedError, sends
nothing more, and the server keeps one charge."""

from __future__ import annotations

from typing import Any

import pytest

import ching_async
from ching_async.testing import FakeChing, Fault, MockTransport, envelope_response, error_response
from tests._support.fake_client import client_for
from tests._support.hostile import KEY, leaks_secret
from tests._support.scripted import CHARGE, TEST_KEY

MARKER = ching_async.IDEMPOTENCY_METADATA_KEY


def seed(fake: FakeChing) -> tuple[str, str]:
    customer = fake.add_customer(email="tal@example.com")
    return customer.id, fake.add_payment_method(customer.id).id


async def create_over(handler: Any, **options: Any) -> ching_async.Charge:
    """`charges.create` of CHARGE's customer and card with `options`, over a
    MockTransport answering with `handler`, retrying at once."""
    async with ching_async.Client(
        TEST_KEY,
        transport=MockTransport(handler),
        retry_policy=ching_async.RetryPolicy(instant=True),
    ) as client:
        return await client.charges.create(
            customer=CHARGE["customer"], payment_method=CHARGE["payment_method"], **options
        )


def assert_refused(
    err: ching_async.IdempotencyKeyReusedError,
    key: str,
    found: str,
    differ: dict[str, tuple[Any, Any]],
    *,
    attempts: int = 0,
) -> None:
    """`err` refuses `key`, whose object is `found`, for the fields `differ`
    ({field: (this call's value, the object's)}), with the call's context."""
    assert isinstance(err, ching_async.BadRequestError)
    assert not isinstance(err, ching_async.OutcomeUnknownError)
    assert (err.status, err.code) == (400, "idempotency_key_reused")
    assert err.outcome_unknown is False
    assert (err.method, err.idempotency_key, err.attempts) == ("POST", key, attempts)
    assert err.found_id == found
    assert {field: (sent, was) for field, sent, was in err.differences} == differ
    assert sorted(err.fields) == sorted(differ)
    text = str(err)
    assert repr(key) in text
    assert found in text
    for sent, was in differ.values():
        assert repr(sent) in text
        assert repr(was) in text


@pytest.mark.parametrize("other", ["amount", "card", "customer"])
async def test_a_key_reused_with_other_parameters_is_refused_and_sends_nothing(
    other: str,
) -> None:
    async with FakeChing() as fake:
        customer, card = seed(fake)
        first_call = {"customer": customer, "payment_method": card, "amount": 1000}
        second = {**first_call, "amount": 2500}
        differ: dict[str, tuple[Any, Any]] = {"amount": (2500, 1000)}
        if other == "card":
            second = {**first_call, "payment_method": fake.add_payment_method(customer).id}
            differ = {"payment_method": (second["payment_method"], card)}
        elif other == "customer":
            # Another customer's charge: beyond the customer's own charges.
            customer_b, card_b = seed(fake)
            second = {**first_call, "customer": customer_b, "payment_method": card_b}
            differ = {"customer": (customer_b, customer), "payment_method": (card_b, card)}
        async with client_for(fake) as client:
            first = await client.charges.create(**first_call, idempotency_key="inv")
            with pytest.raises(ching_async.IdempotencyKeyReusedError) as info:
                await client.charges.create(**second, idempotency_key="inv")
            # The same parameters still get the key's charge back, once.
            again = await client.charges.create(**first_call, idempotency_key="inv")
        assert_refused(info.value, "inv", first.id, differ)
        assert info.value.path == "/charges"
        assert len(fake.requests_to("POST", "/charges")) == 1
        assert [c.id for c in fake.charges()] == [first.id]
        assert (again.id, again.request_info.found_existing) == (first.id, True)


async def test_the_callers_other_metadata_and_the_currencys_case_are_not_compared() -> None:
    async with FakeChing() as fake:
        customer, card = seed(fake)
        call = {"customer": customer, "payment_method": card, "amount": 1000}
        async with client_for(fake) as client:
            first = await client.charges.create(
                **call, metadata={"attempt": "1"}, idempotency_key="inv"
            )
            again = await client.charges.create(
                **call, currency="ILS", metadata={"attempt": "2"}, idempotency_key="inv"
            )
            with pytest.raises(ching_async.IdempotencyKeyReusedError):
                await client.charges.create(
                    **call, currency="usd", metadata={"attempt": "3"}, idempotency_key="inv"
                )
        assert (again.id, again.request_info.found_existing) == (first.id, True)
        assert len(fake.charges()) == 1


async def test_a_key_used_before_refuses_before_a_send_but_not_after_one() -> None:
    """Another client (another process) charged 1000 with the key; this one,
    told the key is new (`assume_new`), sends 2500, and CHING answers 503 but
    records the charge moments later. After a send in doubt, the key's other
    charge is neither this call's result nor a reason to refuse it: the call
    waits out the settle time and finds its own. Before any send, the same
    find refuses (another call)."""
    async with FakeChing() as fake:
        customer, card = seed(fake)
        call = {"customer": customer, "payment_method": card}
        async with client_for(fake) as client:
            first = await client.charges.create(**call, amount=1000, idempotency_key="inv")
        fault = Fault.status_then_commit(503, 0.3)
        fake.faults.add(fault, method="POST", path="/charges", times=1)
        settling = ching_async.RetryPolicy(initial_backoff=0.001, max_backoff=0.002, settle=1.0)
        async with client_for(fake, retry_policy=settling) as other_process:
            mine = await other_process.charges.create(
                **call, amount=2500, idempotency_key="inv", assume_new=True
            )
            assert (mine.amount, mine.request_info.reconciled) == (2500, True)
            with pytest.raises(ching_async.IdempotencyKeyReusedError) as info:
                await other_process.charges.create(**call, amount=4000, idempotency_key="inv")
        assert info.value.attempts == 0
        assert sorted(c.amount for c in fake.charges()) == [1000, 2500]
        assert first.id != mine.id


async def test_assume_new_with_a_key_used_for_another_customer_is_refused() -> None:
    """A key this client used is looked up even with `assume_new`, beyond the
    new customer's charges too: used for another customer, it is refused."""
    async with FakeChing() as fake:
        first_customer, first_card = seed(fake)
        customer = fake.add_customer(email="noa@example.com").id
        card = fake.add_payment_method(customer).id
        async with client_for(fake) as client:
            first = await client.charges.create(
                customer=first_customer,
                payment_method=first_card,
                amount=1000,
                idempotency_key="inv",
            )
            with pytest.raises(ching_async.IdempotencyKeyReusedError) as info:
                await client.charges.create(
                    customer=customer,
                    payment_method=card,
                    amount=1000,
                    idempotency_key="inv",
                    assume_new=True,
                )
        assert info.value.attempts == 0
        assert [c.id for c in fake.charges()] == [first.id]


async def test_reconciliation_after_a_drop_returns_this_calls_own_charge() -> None:
    """The key's charge for another amount listed before this call's own
    (`assume_new`: the caller said the key was new): the lookup after the
    drop returns this call's own, never the other."""
    made: list[dict[str, Any]] = []
    other = {**CHARGE, "id": "ch_other", "amount": 1000, "metadata": {MARKER: "inv"}}

    def handler(request: ching_async.Request) -> ching_async.Response:
        if request.method == "GET":
            return envelope_response(request, [other, *made])
        made.append({**CHARGE, "id": "ch_mine", "amount": 2500, "metadata": {MARKER: "inv"}})
        raise ching_async.APIConnectionError("dropped after the commit")

    charge = await create_over(handler, amount=2500, idempotency_key="inv", assume_new=True)
    assert (charge.id, charge.amount) == ("ch_mine", 2500)
    assert charge.request_info.reconciled is True
    assert len(made) == 1


async def test_after_a_send_a_full_list_with_only_the_keys_other_charge_proves_nothing() -> None:
    """The POST is lost after sending; the customer's 100 newest charges hold
    the key's charge for another amount, not this call's: its own may have
    been pushed out of the window, so nothing is sent again."""
    posts: list[ching_async.Request] = []
    other = {**CHARGE, "id": "ch_other", "amount": 1000, "metadata": {MARKER: "inv"}}
    full = [other, *({**CHARGE, "id": f"ch_{n}"} for n in range(99))]

    def handler(request: ching_async.Request) -> ching_async.Response:
        if request.method == "GET":
            return envelope_response(request, full)
        posts.append(request)
        raise ching_async.APIConnectionError("lost after sending")

    with pytest.raises(ching_async.OutcomeUnknownError):
        await create_over(handler, amount=2500, idempotency_key="inv", assume_new=True)
    assert len(posts) == 1


async def test_a_failing_lookup_beyond_the_customer_never_blocks_the_charge() -> None:
    """The project-wide lookup (the key used for another customer) is best
    effort: when it fails, the customer's own list, which lacks the key,
    still proves it unused, and the charge is made once."""
    seen: list[tuple[str, tuple[tuple[str, str], ...]]] = []

    def handler(request: ching_async.Request) -> ching_async.Response:
        seen.append((request.method, request.query))
        if request.method == "POST":
            return envelope_response(request, {**CHARGE, "metadata": {MARKER: "inv-9"}})
        if request.query:  # the customer's charges
            return envelope_response(request, [])
        return error_response(request, 503, code="SERVER_ERROR", message="unavailable")

    charge = await create_over(handler, amount=CHARGE["amount"], idempotency_key="inv-9")
    assert charge.request_info.reconciled is False
    assert [method for method, _ in seen] == ["GET", "GET", "POST"]


async def test_the_refusal_never_shows_the_api_key() -> None:
    """A hostile server echoes the key into the found charge and the
    lookup's request id: the refusal shows neither."""

    def handler(request: ching_async.Request) -> ching_async.Response:
        assert request.method == "GET", "nothing is sent"
        auth = request.headers["Authorization"]
        found = {**CHARGE, "id": "ch_" + auth, "amount": 1000, "metadata": {MARKER: "inv"}}
        return envelope_response(request, [found], headers={"X-Request-Id": auth})

    async with ching_async.Client(
        KEY, transport=MockTransport(handler), retry_policy=ching_async.RetryPolicy(instant=True)
    ) as client:
        with pytest.raises(ching_async.IdempotencyKeyReusedError) as info:
            await client.charges.create(
                customer=CHARGE["customer"],
                payment_method=CHARGE["payment_method"],
                amount=2500,
                idempotency_key="inv",
            )
    err = info.value
    assert err.differences == (("amount", 2500, 1000),)
    for shown in (str(err), repr(err), repr(err.issues), repr(err.found_id), repr(err.request_id)):
        assert not leaks_secret(shown), shown
