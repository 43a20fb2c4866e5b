"""customers.*: create, retrieve, update, upsert, list, delete, list_payment_methods,
list_inactive_payment_methods."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import ching_async
from ching_async import Customer, PaymentMethod, UpsertAction
from ching_async.testing import FakeChing, Fault
from tests._support.fake_client import client_for, raw_call, sent
from tests._support.scripted import TEST_KEY, Script, envelope, raw


@pytest.fixture
async def ching(fake: FakeChing) -> AsyncIterator[ching_async.Client]:
    async with client_for(fake) as client:
        yield client


# ------------------------------------------------------------------- create
# What a create sends and returns: tests/client/test_create_bodies.py.


async def test_the_fake_refuses_a_create_without_a_name(fake: FakeChing) -> None:
    status, payload = await raw_call(fake, "POST", "/customers", {"email": "a@example.com"})
    assert (status, payload["error"]["code"]) == (422, "INVALID_FIELD")
    assert [issue["path"] for issue in payload["error"]["issues"]] == [["name"]]


async def test_an_email_another_customer_has_is_refused_with_email_exists(
    fake: FakeChing, ching: ching_async.Client
) -> None:
    first = await ching.customers.create(name="Tal", email="tal@example.com")
    with pytest.raises(ching_async.EmailExistsError) as caught:
        await ching.customers.create(name="Tal again", email="tal@example.com")
    assert isinstance(caught.value, ching_async.ConflictError)
    assert (caught.value.status, caught.value.code) == (409, "EMAIL_EXISTS")
    other = await ching.customers.create(name="Noa", email="noa@example.com")
    with pytest.raises(ching_async.EmailExistsError):
        await ching.customers.update(other.id, email="tal@example.com")
    # Its own email again is no conflict; a deleted customer's email is free.
    await ching.customers.update(first.id, email="tal@example.com")
    await ching.customers.delete(first.id)
    again = await ching.customers.create(name="Tal", email="tal@example.com")
    assert again.id != first.id
    # Upsert by email updates the customer that has it instead.
    result = await ching.customers.upsert(
        identify_by="email", email="tal@example.com", name="Tal Levi"
    )
    assert (result.customer.id, result.action) == (again.id, "updated")


@pytest.mark.parametrize(
    ("method", "kwargs", "match"),
    [
        ("create", {"name": "Tal", "email": "not-an-email"}, "email"),
        ("create", {"name": "Tal", "email": "a b@example.com"}, "email"),
        ("create", {"name": "Tal", "email": 42}, "email"),
        ("create", {"email": "a@example.com", "name": ""}, "name"),
        ("create", {"email": "a@example.com", "name": None}, "name"),
        ("create", {"name": 7}, "name"),
        ("create", {"name": "Tal", "phone": "05\n4"}, "phone"),
        ("create", {"name": "Tal", "tax_id": 514999874}, "tax_id"),
        ("create", {"name": "Tal", "metadata": {"x": float("nan")}}, "NaN"),
        ("create", {"name": "Tal", "idempotency_key": "has space"}, "idempotency_key"),
        ("upsert", {"identify_by": "email", "name": "x"}, "needs email"),
        ("upsert", {"identify_by": "tax_id", "email": "a@example.com"}, "needs tax_id"),
        ("upsert", {"identify_by": "taxId", "tax_id": "1"}, "identify_by"),
        ("upsert", {"identify_by": None, "email": "a@example.com"}, "identify_by"),
        ("upsert", {"identify_by": "phone", "phone": ""}, "phone"),
    ],
)
async def test_create_and_upsert_reject_bad_arguments_before_sending(
    fake: FakeChing, ching: ching_async.Client, method: str, kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(ching_async.InvalidParameterError, match=match):
        await getattr(ching.customers, method)(**kwargs)
    assert fake.requests() == []


async def test_create_is_not_retried_after_an_ambiguous_failure(
    fake: FakeChing, ching: ching_async.Client
) -> None:
    fake.faults.add(Fault.status(503), method="POST", path="/customers", times=1)
    with pytest.raises(ching_async.InternalServerError) as caught:
        await ching.customers.create(name="Tal", email="tal@example.com")
    assert caught.value.outcome_unknown is True
    assert len(sent(fake, "POST", "/customers")) == 1


async def test_create_is_retried_when_the_failure_provably_had_no_effect(
    fake: FakeChing, ching: ching_async.Client
) -> None:
    fake.faults.add(Fault.rate_limited(retry_after=0), method="POST", path="/customers", times=1)
    customer = await ching.customers.create(name="Tal", email="tal@example.com")
    assert [c.id for c in fake.customers()] == [customer.id]
    assert customer.request_info is not None
    assert customer.request_info.attempts == 2


# ---------------------------------------------------------------- retrieve
async def test_retrieve_returns_the_same_customer(ching: ching_async.Client) -> None:
    created = await ching.customers.create(name="Tal", email="tal@example.com")
    assert await ching.customers.retrieve(created.id) == created


async def test_retrieve_unknown_is_not_found(ching: ching_async.Client) -> None:
    with pytest.raises(ching_async.NotFoundError) as caught:
        await ching.customers.retrieve("cus_missing")
    assert caught.value.code == "NOT_FOUND"


async def test_an_id_is_one_path_segment(fake: FakeChing, ching: ching_async.Client) -> None:
    victim = fake.add_customer(name="x", email="x@example.com")
    with pytest.raises(ching_async.NotFoundError):
        await ching.customers.retrieve(f"../customers/{victim.id}")
    with pytest.raises(ching_async.NotFoundError):
        await ching.customers.delete("..")
    # Each id reached the fake as one segment of "/customers/{id}" (the log shows it decoded).
    assert fake.requests()[0].path == f"/customers/../customers/{victim.id}"
    assert fake.requests()[1].path == "/customers/.."
    assert [r.route for r in fake.requests()] == ["/customers/{id}"] * 2
    assert fake.customer(victim.id).deleted is False
    with pytest.raises(ching_async.InvalidParameterError):
        await ching.customers.retrieve("cus 1")
    assert len(fake.requests()) == 2


# ------------------------------------------------------------------ update
async def test_update_changes_only_the_given_fields(
    fake: FakeChing, ching: ching_async.Client
) -> None:
    created = await ching.customers.create(name="Tal", email="tal@example.com", metadata={"a": "1"})
    updated = await ching.customers.update(created.id, phone="+972 54 111 2222", metadata={"b": 2})
    assert sent(fake, "POST", "/customers/{id}")[0].body == {
        "phone": "+972 54 111 2222",
        "metadata": {"b": 2},
    }
    assert updated.id == created.id
    assert (updated.email, updated.name, updated.phone) == (
        "tal@example.com",
        "Tal",
        "+972541112222",
    )
    assert updated.metadata == {"a": "1", "b": 2}


async def test_update_needs_a_field(fake: FakeChing, ching: ching_async.Client) -> None:
    with pytest.raises(ching_async.InvalidParameterError, match="at least one field"):
        await ching.customers.update("cus_1")
    assert fake.requests() == []


async def test_update_is_retried_after_an_ambiguous_failure(
    fake: FakeChing, ching: ching_async.Client
) -> None:
    customer = fake.add_customer(name="Tal", email="tal@example.com")
    fake.faults.add(Fault.commit_then_drop(), method="POST", path="/customers/{id}", times=1)
    updated = await ching.customers.update(customer.id, name="Tal Levi")
    assert updated.name == "Tal Levi"
    assert len(sent(fake, "POST", "/customers/{id}")) == 2  # the same change, twice: harmless
    assert updated.request_info is not None
    assert updated.request_info.attempts == 2


async def test_update_of_unknown_customer_is_not_found(ching: ching_async.Client) -> None:
    with pytest.raises(ching_async.NotFoundError):
        await ching.customers.update("cus_missing", name="x")


async def test_server_validation_comes_back_as_unprocessable_with_issues(
    ching: ching_async.Client, fake: FakeChing
) -> None:
    customer = fake.add_customer(name="Tal", email="tal@example.com")
    with pytest.raises(ching_async.UnprocessableEntityError) as caught:
        await ching.customers.update(customer.id, phone="call me maybe", email="x@nodot")
    assert caught.value.code == "INVALID_FIELD"
    assert [issue["path"] for issue in caught.value.issues] == [["email"], ["phone"]]


# ------------------------------------------------------------------ upsert
async def test_upsert_creates_then_updates_by_email(
    fake: FakeChing, ching: ching_async.Client
) -> None:
    first = await ching.customers.upsert(identify_by="email", email="tal@example.com", name="Tal")
    assert first.created is True
    assert first.action is UpsertAction.CREATED
    assert first.raw["action"] == "created"
    second = await ching.customers.upsert(
        identify_by="email", email="tal@example.com", name="Tal Levi"
    )
    assert second.created is False
    assert second.action is UpsertAction.UPDATED
    assert second.customer.id == first.customer.id
    assert second.customer.name == "Tal Levi"
    assert second.customer.request_info is not None
    assert [c.id for c in fake.customers()] == [first.customer.id]
    assert sent(fake, "POST", "/customers/upsert")[0].body == {
        "identifyBy": "email",
        "email": "tal@example.com",
        "name": "Tal",
    }


async def test_upsert_by_phone_matches_after_normalization(
    fake: FakeChing, ching: ching_async.Client
) -> None:
    created = await ching.customers.create(name="Tal", phone="+972549876543")
    result = await ching.customers.upsert(identify_by="phone", phone="054-987-6543", name="Tal")
    assert (result.created, result.customer.id, result.customer.name) == (False, created.id, "Tal")


async def test_upsert_by_tax_id_sends_the_wire_spelling(
    fake: FakeChing, ching: ching_async.Client
) -> None:
    result = await ching.customers.upsert(identify_by="tax_id", tax_id="514999874", name="Acme")
    assert sent(fake, "POST", "/customers/upsert")[0].body == {
        "identifyBy": "taxId",
        "taxId": "514999874",
        "name": "Acme",
    }
    assert result.created is True
    assert result.customer.tax_id == "514999874"
    again = await ching.customers.upsert(identify_by="tax_id", tax_id="514999874", locale="en")
    assert (again.created, again.customer.id, again.customer.locale) == (
        False,
        result.customer.id,
        "en",
    )


async def test_upsert_skips_deleted_customers(fake: FakeChing, ching: ching_async.Client) -> None:
    old = await ching.customers.create(name="Tal", email="tal@example.com")
    await ching.customers.delete(old.id)
    result = await ching.customers.upsert(identify_by="email", email="tal@example.com")
    assert result.created is True
    assert result.customer.id != old.id


async def test_upsert_is_retried_and_never_duplicates(
    fake: FakeChing, ching: ching_async.Client
) -> None:
    fake.faults.add(Fault.commit_then_drop(), method="POST", path="/customers/upsert", times=1)
    result = await ching.customers.upsert(identify_by="email", email="tal@example.com", name="Tal")
    # The lost first attempt created the customer; the retry found and updated it.
    assert len(fake.customers()) == 1
    assert result.customer.id == fake.customers()[0].id
    assert result.created is False
    assert result.customer.request_info is not None
    assert result.customer.request_info.attempts == 2


async def test_server_rejects_an_unparsable_phone_on_upsert(ching: ching_async.Client) -> None:
    with pytest.raises(ching_async.UnprocessableEntityError) as caught:
        await ching.customers.upsert(identify_by="phone", phone="no digits here")
    assert [issue["path"] for issue in caught.value.issues] == [["phone"]]


@pytest.mark.parametrize(
    ("body", "action", "created"),
    [
        ({"data": {"id": "cus_1", "action": "created"}}, UpsertAction.CREATED, True),
        ({"data": {"id": "cus_1"}, "action": "merged"}, "merged", None),
        ({"data": {"id": "cus_1"}}, None, None),
    ],
)
async def test_upsert_action_is_read_tolerantly(
    scripted: Script,
    body: dict[str, object],
    action: object,
    created: bool | None,
) -> None:
    import orjson

    scripted.on(
        "POST",
        "/ching/v1/customers/upsert",
        raw(200, orjson.dumps({"success": True, **body}), "application/json"),
    )
    async with ching_async.Client(TEST_KEY, **scripted.client_options()) as client:
        result = await client.customers.upsert(identify_by="email", email="a@example.com")
    assert result.customer.id == "cus_1"
    assert result.action == action
    assert result.created is created
    assert result.raw["data"]["id"] == "cus_1"


async def test_upsert_with_a_non_string_action_is_a_decode_error(scripted: Script) -> None:
    import orjson

    body = orjson.dumps({"success": True, "data": {"id": "cus_1"}, "action": 1})
    scripted.on("POST", "/ching/v1/customers/upsert", raw(200, body, "application/json"))
    async with ching_async.Client(TEST_KEY, **scripted.client_options()) as client:
        with pytest.raises(
            ching_async.ResponseDecodeError, match="action: expected a string, got int"
        ):
            await client.customers.upsert(identify_by="email", email="a@example.com")


# -------------------------------------------------------------------- list
async def test_list_is_awaitable_and_async_iterable_newest_first(
    fake: FakeChing, ching: ching_async.Client
) -> None:
    ids = [(await ching.customers.create(name=f"Customer {n}")).id for n in range(3)]
    listed = await ching.customers.list()
    assert [c.id for c in listed] == ids[::-1]
    assert all(isinstance(c, Customer) and c.request_info is not None for c in listed)
    iterated = [c.id async for c in ching.customers.list()]
    assert iterated == ids[::-1]


async def test_list_holds_the_100_newest_and_only_this_mode(
    fake: FakeChing, ching: ching_async.Client
) -> None:
    for n in range(105):
        fake.add_customer(name=f"c{n}", email=f"c{n}@example.com")
    fake.add_customer(name="live one", livemode=True)
    listed = await ching.customers.list()
    assert len(listed) == 100
    assert listed[0].name == "c104"
    assert listed[-1].name == "c5"


# ------------------------------------------------------------------ delete
async def test_delete_is_a_soft_delete(fake: FakeChing, ching: ching_async.Client) -> None:
    customer = fake.add_customer(name="Tal", email="tal@example.com")
    card = fake.add_payment_method(customer.id)
    tombstone = await ching.customers.delete(customer.id)
    assert (tombstone.id, tombstone.deleted, tombstone.name) == (customer.id, True, None)
    assert tombstone.request_info is not None
    assert tombstone.request_info.method == "DELETE"
    assert fake.customer(customer.id).deleted is True  # still there: charges refer to it
    assert fake.payment_method(card.id).status == "inactive"
    assert await ching.customers.list() == []
    assert await ching.customers.list_payment_methods(customer.id) == []
    fetched = await ching.customers.retrieve(customer.id)
    assert fetched.deleted is True
    with pytest.raises(ching_async.NotFoundError):
        await ching.customers.update(customer.id, name="ghost")


async def test_delete_is_idempotent_and_retried(fake: FakeChing, ching: ching_async.Client) -> None:
    customer = fake.add_customer(name="Tal", email="tal@example.com")
    fake.faults.add(Fault.commit_then_drop(), method="DELETE", path="/customers/{id}", times=1)
    tombstone = await ching.customers.delete(customer.id)
    assert tombstone.deleted is True
    assert len(sent(fake, "DELETE", "/customers/{id}")) == 2
    again = await ching.customers.delete(customer.id)
    assert again.deleted is True


async def test_delete_of_unknown_customer_is_not_found(ching: ching_async.Client) -> None:
    with pytest.raises(ching_async.NotFoundError):
        await ching.customers.delete("cus_missing")


async def test_delete_answered_without_data_returns_a_tombstone(scripted: Script) -> None:
    bare = raw(200, b'{"success": true}', "application/json")
    scripted.on("DELETE", "/ching/v1/customers/cus%2F1", bare)
    async with ching_async.Client(TEST_KEY, **scripted.client_options()) as client:
        tombstone = await client.customers.delete("cus/1")
    assert (tombstone.id, tombstone.deleted) == ("cus/1", True)
    assert tombstone.request_info is not None
    [seen] = scripted.seen_at("DELETE", "/ching/v1/customers/cus%2F1")
    assert seen.body == b""
    assert "Idempotency-Key" not in seen.headers


# ---------------------------------------------------------- payment methods
async def test_list_payment_methods(fake: FakeChing, ching: ching_async.Client) -> None:
    customer = fake.add_customer(name="Tal", email="tal@example.com")
    visa = fake.add_payment_method(customer.id)
    amex = fake.add_payment_method(customer.id, brand="amex", last4="8431")
    methods = await ching.customers.list_payment_methods(customer.id)
    assert [m.id for m in methods] == [visa.id, amex.id]
    assert all(isinstance(m, PaymentMethod) for m in methods)
    assert (methods[1].brand, methods[1].last4, methods[1].status) == ("amex", "8431", "active")
    assert [m.id async for m in ching.customers.list_payment_methods(customer.id)] == [
        visa.id,
        amex.id,
    ]
    with pytest.raises(ching_async.NotFoundError):
        await ching.customers.list_payment_methods("cus_missing")


async def test_list_inactive_payment_methods(fake: FakeChing, ching: ching_async.Client) -> None:
    customer = fake.add_customer(name="Tal", email="tal@example.com")
    visa, amex, kept = (fake.add_payment_method(customer.id) for _ in range(3))
    assert await ching.customers.list_inactive_payment_methods(customer.id) == []
    await ching.payment_methods.detach(visa.id)
    await ching.payment_methods.detach(amex.id)
    inactive = await ching.customers.list_inactive_payment_methods(customer.id)
    [request] = sent(fake, "GET", "/customers/{id}/payment_methods/inactive")[-1:]
    assert (request.path, request.raw_body) == (
        f"/customers/{customer.id}/payment_methods/inactive",
        b"",
    )
    assert [m.id for m in inactive] == [amex.id, visa.id]  # newest first
    assert all(isinstance(m, PaymentMethod) and m.status == "inactive" for m in inactive)
    assert [m.id for m in await ching.customers.list_payment_methods(customer.id)] == [kept.id]
    assert [m.id async for m in ching.customers.list_inactive_payment_methods(customer.id)] == [
        amex.id,
        visa.id,
    ]
    with pytest.raises(ching_async.NotFoundError):
        await ching.customers.list_inactive_payment_methods("cus_missing")
    with pytest.raises(ching_async.InvalidParameterError, match="customer"):
        await ching.customers.list_inactive_payment_methods("cus 1")


async def test_nested_card_details_are_lifted(scripted: Script) -> None:
    card = {
        "id": "pm_1",
        "type": "card",
        "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030},
        "is_default": True,
        "status": "active",
    }
    scripted.on("GET", "/ching/v1/customers/cus_1/payment_methods", envelope([card]))
    async with ching_async.Client(TEST_KEY, **scripted.client_options()) as client:
        [method] = await client.customers.list_payment_methods("cus_1")
    assert (method.brand, method.last4, method.exp_month, method.exp_year) == (
        "visa",
        "4242",
        12,
        2030,
    )
    assert method.is_default is True
    assert method.raw == card


# ------------------------------------------------------------------- modes
async def test_live_customers_are_separate(fake: FakeChing) -> None:
    async with client_for(fake, api_key=fake.live_api_key) as live:
        customer = await live.customers.create(name="Live", email="live@example.com")
        assert customer.livemode is True
        assert [c.id for c in await live.customers.list()] == [customer.id]
    async with client_for(fake) as test:
        assert await test.customers.list() == []
        upserted = await test.customers.upsert(identify_by="email", email="live@example.com")
        assert upserted.created is True  # a test-mode upsert never matches a live customer
