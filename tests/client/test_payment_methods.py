"""payment_methods.*: retrieve, detach (reconciled by state), set_default (one
source's shape, retried like a GET), create_test_card (test mode)."""

from __future__ import annotations

import pytest

import ching_async
from ching_async import PaymentMethod
from ching_async.testing import FakeChing, Fault
from tests._support.fake_client import client_for, raw_call, sent
from tests._support.scripted import LIVE_KEY, Script

DETACH = "/payment_methods/{id}/detach"
SET_DEFAULT = "/payment_methods/{id}/set_default"


@pytest.fixture
def customer(fake: FakeChing) -> str:
    return fake.add_customer(name="Tal Levi", email="tal@example.com").id


async def test_retrieve_returns_a_typed_card(
    fake: FakeChing, ching: ching_async.Client, customer: str
) -> None:
    card = fake.add_payment_method(customer, brand="mastercard", last4="4444")
    method = await ching.payment_methods.retrieve(card.id)
    assert isinstance(method, PaymentMethod)
    assert (method.id, method.customer, method.brand, method.last4) == (
        card.id,
        customer,
        "mastercard",
        "4444",
    )
    assert (method.type, method.status, method.livemode) == ("card", "active", False)
    assert method.created is not None
    assert method.raw["object"] == "payment_method"
    assert method.request_info is not None


async def test_retrieve_unknown_is_not_found(ching: ching_async.Client) -> None:
    with pytest.raises(ching_async.NotFoundError):
        await ching.payment_methods.retrieve("pm_missing")


async def test_detach_deactivates_the_card(
    fake: FakeChing, ching: ching_async.Client, customer: str
) -> None:
    card = fake.add_payment_method(customer)
    detached = await ching.payment_methods.detach(card.id)
    assert (detached.id, detached.status) == (card.id, "inactive")
    [request] = sent(fake, "POST", DETACH)
    assert request.raw_body == b""
    assert request.idempotency_key is not None
    assert await ching.customers.list_payment_methods(customer) == []
    with pytest.raises(ching_async.BadRequestError) as caught:
        await ching.payment_methods.detach(card.id)
    assert caught.value.code == "payment_method_not_active"


async def test_the_first_saved_card_is_the_default_and_set_default_moves_it(
    fake: FakeChing, ching: ching_async.Client, customer: str
) -> None:
    first = fake.add_payment_method(customer)
    second = fake.add_payment_method(customer)
    assert (await ching.payment_methods.retrieve(first.id)).is_default is True
    assert (await ching.payment_methods.retrieve(second.id)).is_default is False
    made = await ching.payment_methods.set_default(second.id)
    # The one source's answer: the id and the flag, nothing else of the card.
    assert (made.id, made.is_default, made.brand, made.customer) == (second.id, True, None, None)
    assert made.raw == {"id": second.id, "is_default": True}
    assert made.request_info is not None
    [request] = sent(fake, "POST", SET_DEFAULT)
    assert request.path == f"/payment_methods/{second.id}/set_default"
    assert request.raw_body == b""
    cards = {m.id: m.is_default for m in await ching.customers.list_payment_methods(customer)}
    assert cards == {first.id: False, second.id: True}
    # A charge seeded without a card now uses the new default.
    assert fake.add_charge(customer).payment_method == second.id


async def test_set_default_refuses_a_detached_card_and_an_unknown_one(
    fake: FakeChing, ching: ching_async.Client, customer: str
) -> None:
    card = fake.add_payment_method(customer)
    await ching.payment_methods.detach(card.id)
    assert (await ching.payment_methods.retrieve(card.id)).is_default is False
    with pytest.raises(ching_async.BadRequestError) as caught:
        await ching.payment_methods.set_default(card.id)
    assert caught.value.code == "payment_method_not_active"
    with pytest.raises(ching_async.NotFoundError):
        await ching.payment_methods.set_default("pm_missing")
    with pytest.raises(ching_async.InvalidParameterError):
        await ching.payment_methods.set_default("")
    assert len(sent(fake, "POST", SET_DEFAULT)) == 2  # the empty id was never sent


async def test_set_default_after_a_lost_answer_is_sent_again_with_one_effect(
    fake: FakeChing, ching: ching_async.Client, customer: str
) -> None:
    fake.add_payment_method(customer)
    card = fake.add_payment_method(customer)
    fake.faults.add(Fault.commit_then_drop(), method="POST", path=SET_DEFAULT, times=1)
    made = await ching.payment_methods.set_default(card.id)
    assert made.is_default is True
    assert made.request_info is not None
    assert made.request_info.attempts == 2
    assert len(sent(fake, "POST", SET_DEFAULT)) == 2
    cards = await ching.customers.list_payment_methods(customer)
    assert [m.id for m in cards if m.is_default] == [card.id]


async def test_a_detached_card_can_no_longer_be_charged(
    fake: FakeChing, ching: ching_async.Client, customer: str
) -> None:
    card = fake.add_payment_method(customer)
    await ching.payment_methods.detach(card.id)
    with pytest.raises(ching_async.UnprocessableEntityError) as caught:
        await ching.charges.create(customer=customer, payment_method=card.id, amount=100)
    assert caught.value.issues[0]["path"] == ["payment_method"]
    assert fake.charges_for(customer) == []


async def test_detach_after_a_lost_answer_is_reconciled_not_resent(
    fake: FakeChing, ching: ching_async.Client, customer: str
) -> None:
    card = fake.add_payment_method(customer)
    fake.faults.add(Fault.commit_then_drop(), method="POST", path=DETACH, times=1)
    detached = await ching.payment_methods.detach(card.id)
    assert detached.status == "inactive"
    assert detached.request_info is not None
    assert detached.request_info.reconciled is True
    # One detach only: a second would have answered 400 payment_method_not_active.
    assert len(sent(fake, "POST", DETACH)) == 1
    assert len(sent(fake, "GET", "/payment_methods/{id}")) == 1


async def test_detach_is_resent_when_the_lookup_proves_it_did_not_happen(
    fake: FakeChing, ching: ching_async.Client, customer: str
) -> None:
    card = fake.add_payment_method(customer)
    fake.faults.add(Fault.status(503), method="POST", path=DETACH, times=1)
    detached = await ching.payment_methods.detach(card.id)
    assert detached.status == "inactive"
    assert detached.request_info is not None
    assert detached.request_info.reconciled is False
    assert len(sent(fake, "POST", DETACH)) == 2


async def test_detach_raises_outcome_unknown_when_it_cannot_tell(
    fake: FakeChing, ching: ching_async.Client, customer: str
) -> None:
    card = fake.add_payment_method(customer)
    fake.faults.add(Fault.commit_then_drop(), method="POST", path=DETACH, times=1)
    fake.faults.add(Fault.status(503), method="GET", path="/payment_methods/{id}")
    with pytest.raises(ching_async.OutcomeUnknownError) as caught:
        await ching.payment_methods.detach(card.id)
    assert caught.value.idempotency_key  # the key every attempt carried
    assert len(sent(fake, "POST", DETACH)) == 1


@pytest.mark.parametrize(
    ("index", "brand", "last4"),
    [(0, "visa", "4242"), (1, "mastercard", "4444"), (2, "amex", "8431")],
)
async def test_create_test_card_attaches_a_card_by_index(
    fake: FakeChing,
    ching: ching_async.Client,
    customer: str,
    index: int,
    brand: str,
    last4: str,
) -> None:
    card = await ching.payment_methods.create_test_card(customer, card_index=index)
    assert sent(fake, "POST", "/payment_methods/test-card")[0].body == {
        "customer": customer,
        "card_index": index,
    }
    assert (card.customer, card.brand, card.last4, card.status) == (
        customer,
        brand,
        last4,
        "active",
    )
    assert [m.id for m in fake.payment_methods_for(customer)] == [card.id]
    charge = await ching.charges.create(customer=customer, payment_method=card.id, amount=4990)
    assert charge.card_brand == brand


async def test_create_test_card_defaults_to_visa(
    fake: FakeChing, ching: ching_async.Client, customer: str
) -> None:
    card = await ching.payment_methods.create_test_card(customer)
    assert card.brand == "visa"
    assert sent(fake, "POST", "/payment_methods/test-card")[0].body == {
        "customer": customer,
        "card_index": 0,
    }


@pytest.mark.parametrize("index", [3, -1, True, "1", 1.0, None])
async def test_create_test_card_rejects_a_bad_index_before_sending(
    fake: FakeChing, ching: ching_async.Client, customer: str, index: object
) -> None:
    with pytest.raises(ching_async.InvalidParameterError, match="card_index"):
        await ching.payment_methods.create_test_card(customer, card_index=index)  # type: ignore[arg-type]
    assert fake.requests() == []


async def test_create_test_card_with_a_live_key_fails_before_the_network(
    fake: FakeChing, customer: str
) -> None:
    async with client_for(fake, api_key=fake.live_api_key) as live:
        assert live.mode == "live"
        with pytest.raises(ching_async.InvalidParameterError, match="test mode only"):
            await live.payment_methods.create_test_card(customer)
    assert fake.requests() == []


async def test_create_test_card_with_a_live_key_never_connects(scripted: Script) -> None:
    async with ching_async.Client(LIVE_KEY, **scripted.client_options()) as live:
        with pytest.raises(ching_async.InvalidParameterError):
            await live.payment_methods.create_test_card("cus_1")
    assert scripted.seen == []


async def test_the_fake_refuses_test_cards_in_live_mode(fake: FakeChing, customer: str) -> None:
    body = {"customer": customer}
    status, payload = await raw_call(
        fake, "POST", "/payment_methods/test-card", body, api_key=fake.live_api_key
    )
    assert (status, payload["error"]["code"]) == (403, "NO_ACCESS")


async def test_create_test_card_for_unknown_customer_is_not_found(
    ching: ching_async.Client,
) -> None:
    with pytest.raises(ching_async.NotFoundError):
        await ching.payment_methods.create_test_card("cus_missing")
