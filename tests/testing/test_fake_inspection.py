"""Idempotency behaviour, duplicate detection, the request log and state queries."""

from __future__ import annotations

import dataclasses

import aiohttp
import pytest

from ching_async.testing import FakeChing, Fault

from .conftest import Api, Seeded


async def test_idempotency_keys_are_not_honored_by_default(
    api: Api, fake: FakeChing, seeded: Seeded
) -> None:
    headers = {"Idempotency-Key": "key-1"}
    _, first = await api.post("/charges", seeded.charge_body(), headers=headers)
    _, second = await api.post("/charges", seeded.charge_body(), headers=headers)
    await api.post("/charges", seeded.charge_body(), headers={"Idempotency-Key": "key-2"})
    await api.post("/charges", seeded.charge_body())
    assert first["data"]["id"] != second["data"]["id"]
    assert len(fake.charges()) == 4
    duplicates = fake.duplicates_by_idempotency_key()
    assert list(duplicates) == ["key-1"]
    assert [c.id for c in duplicates["key-1"]] == [first["data"]["id"], second["data"]["id"]]
    assert [c.idempotency_key for c in fake.charges()] == ["key-1", "key-1", "key-2", None]


async def test_opt_in_idempotency_replays_the_first_result(
    api: Api, fake: FakeChing, seeded: Seeded
) -> None:
    fake.honor_idempotency_keys = True
    headers = {"Idempotency-Key": "once"}
    first = await api.post("/charges", seeded.charge_body(), headers=headers)
    again = await api.post("/charges", seeded.charge_body(amount=1), headers=headers)
    other = await api.post("/charges", seeded.charge_body(), headers={"Idempotency-Key": "two"})
    assert first == again
    assert other[1]["data"]["id"] != first[1]["data"]["id"]
    assert len(fake.charges()) == 2
    assert fake.duplicates_by_idempotency_key() == {}


async def test_opt_in_idempotency_replays_errors_too(
    api: Api, fake: FakeChing, seeded: Seeded
) -> None:
    fake.honor_idempotency_keys = True
    declining = fake.add_payment_method(seeded.customer, declines=True).id
    headers = {"Idempotency-Key": "declined"}
    body = seeded.charge_body(payment_method=declining)
    assert (await api.post("/charges", body, headers=headers))[0] == 402
    assert (await api.post("/charges", body, headers=headers))[0] == 402
    assert len(fake.charges()) == 1


async def test_constructor_option_with_commit_then_drop() -> None:
    async with FakeChing(honor_idempotency_keys=True) as fake:
        customer = fake.add_customer(name="Tal")
        card = fake.add_payment_method(customer.id)
        fake.faults.add(Fault.commit_then_drop(), method="POST", path="/charges", times=1)
        headers = {"Authorization": f"Bearer {fake.api_key}", "Idempotency-Key": "k"}
        body = {"customer": customer.id, "payment_method": card.id, "amount": 100}
        async with aiohttp.ClientSession(headers=headers) as session:
            api = Api(session, fake.url)
            with pytest.raises(aiohttp.ServerDisconnectedError):
                await api.post("/charges", body)
            status, payload = await api.post("/charges", body)
        assert status == 200
        assert [c.id for c in fake.charges()] == [payload["data"]["id"]]


async def test_metadata_queries(api: Api, fake: FakeChing, seeded: Seeded) -> None:
    a1 = fake.add_charge(seeded.customer, metadata={"order": "A"})
    fake.add_charge(seeded.customer, metadata={"order": "B"})
    _, a2 = await api.post("/charges", seeded.charge_body(metadata={"order": "A"}))
    n1 = fake.add_charge(seeded.customer, metadata={"order": 7})
    n2 = fake.add_charge(seeded.customer, metadata={"order": 7})
    fake.add_charge(seeded.customer)
    duplicates = fake.duplicates_by_metadata("order")
    assert {value: [c.id for c in group] for value, group in duplicates.items()} == {
        "A": [a1.id, a2["data"]["id"]],
        "7": [n1.id, n2.id],
    }
    assert fake.duplicates_by_metadata("missing") == {}
    assert fake.charge_by_metadata("order", "A") is a1
    assert fake.charge_by_metadata("order", "Z") is None
    assert [c.id for c in fake.charges_by_metadata("order", 7)] == [n1.id, n2.id]


async def test_charges_and_charges_for_are_oldest_first(fake: FakeChing, seeded: Seeded) -> None:
    other = fake.add_customer(name="Dana")
    ids = [
        fake.add_charge(seeded.customer).id,
        fake.add_charge(other.id).id,
        fake.add_charge(seeded.customer).id,
    ]
    assert [c.id for c in fake.charges()] == ids
    assert [c.id for c in fake.charges_for(seeded.customer)] == [ids[0], ids[2]]
    assert fake.charges_for("cus_unknown") == []


async def test_request_log_records_what_was_sent(api: Api, fake: FakeChing, seeded: Seeded) -> None:
    await api.post(
        "/charges", seeded.charge_body(), headers={"Idempotency-Key": "abc", "X-Trace": "t1"}
    )
    await api.get("/charges", params={"customer": seeded.customer})
    post, get = fake.requests()
    assert (post.method, post.path, post.route, post.status) == (
        "POST",
        "/charges",
        "/charges",
        200,
    )
    assert post.body == seeded.charge_body()
    assert post.headers["x-trace"] == post.headers["X-TRACE"] == "t1"
    assert post.idempotency_key == "abc"
    assert post.fault is None
    assert (get.method, get.body, get.query["customer"]) == ("GET", None, seeded.customer)
    assert get.at >= post.at
    with pytest.raises(dataclasses.FrozenInstanceError):
        post.status = 500  # type: ignore[misc]
    assert fake.requests_to("post", "/charges") == [post]


async def test_request_log_keeps_route_templates_and_failures(
    api: Api, fake: FakeChing, seeded: Seeded
) -> None:
    charge = fake.add_charge(seeded.customer, capture_method="manual")
    await api.post(f"/charges/{charge.id}/capture", {"amount": 10**9})
    await api.call("POST", "/charges", data=b"{oops", headers={"Content-Type": "application/json"})
    capture, broken = fake.requests()
    assert (capture.route, capture.path) == (
        "/charges/{id}/capture",
        f"/charges/{charge.id}/capture",
    )
    assert capture.status == 400
    assert (broken.status, broken.body, broken.raw_body) == (400, None, b"{oops")


async def test_request_log_can_be_disabled() -> None:
    async with (
        FakeChing(log_requests=False) as fake,
        aiohttp.ClientSession() as session,
        session.get(fake.url + "/charges") as resp,
    ):
        assert resp.status == 401
    assert fake.requests() == []
