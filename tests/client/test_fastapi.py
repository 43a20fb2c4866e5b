"""Models in a FastAPI app: returned from handlers with and without a return
type, declared as `response_model`, taken as a request body, and described
in the OpenAPI document. Requests go in-process (httpx's ASGITransport)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Body, FastAPI

import ching_async
from ching_async.testing import FakeChing


@pytest.fixture
def charges(fake: FakeChing) -> list[str]:
    customer = fake.add_customer(name="Tal Levi", email="tal@example.com")
    card = fake.add_payment_method(customer.id)
    return [fake.add_charge(customer.id, card.id, amount=amount).id for amount in (100, 250)]


def make_app(ching: ching_async.Client, customer: str) -> FastAPI:
    app = FastAPI()

    @app.get("/bare/one")
    async def bare_one():  # type: ignore[no-untyped-def]  # no return type: jsonable_encoder
        return (await ching.charges.list(customer=customer))[0]

    @app.get("/bare/many")
    async def bare_many():  # type: ignore[no-untyped-def]
        return await ching.charges.list(customer=customer)

    @app.get("/typed/one")
    async def typed_one() -> ching_async.Charge:
        return (await ching.charges.list(customer=customer))[0]

    @app.get("/typed/many", response_model=list[ching_async.Charge])
    async def typed_many() -> Any:
        return await ching.charges.list(customer=customer)

    @app.get("/typed/customer")
    async def typed_customer() -> ching_async.Customer:
        return await ching.customers.retrieve(customer)

    @app.post("/echo")
    async def echo(
        charge: Annotated[ching_async.Charge, Body()],
    ) -> dict[str, Any]:
        return {"type": type(charge).__name__, "amount": charge.amount, "again": charge}

    return app


@pytest.fixture
async def http(
    ching: ching_async.Client, fake: FakeChing, charges: list[str]
) -> AsyncIterator[httpx.AsyncClient]:
    customer = fake.charges()[0].customer
    app = make_app(ching, customer)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        yield client


async def expected(ching: ching_async.Client, fake: FakeChing) -> list[dict[str, Any]]:
    return [c.to_dict() for c in await ching.charges.list(customer=fake.charges()[0].customer)]


@pytest.mark.parametrize(
    ("path", "one"),
    [("/bare/many", False), ("/typed/many", False), ("/bare/one", True), ("/typed/one", True)],
)
async def test_models_returned_from_routes(
    http: httpx.AsyncClient, ching: ching_async.Client, fake: FakeChing, path: str, one: bool
) -> None:
    response = await http.get(path)
    assert response.status_code == 200, response.text
    charges = await expected(ching, fake)
    assert len(charges) == 2
    assert response.json() == (charges[0] if one else charges)
    for item in [response.json()] if one else response.json():
        assert not {"raw", "request_info"} & set(item)
        assert item["created"].endswith("Z")
    assert fake.api_key.rpartition("_")[2] not in response.text


async def test_another_model_type(http: httpx.AsyncClient, ching: ching_async.Client) -> None:
    response = await http.get("/typed/customer")
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Tal Levi"
    assert set(response.json()) == set(ching_async.Customer(id="x").to_dict())


async def test_a_model_as_the_request_body(
    http: httpx.AsyncClient, ching: ching_async.Client, fake: FakeChing
) -> None:
    sent = (await expected(ching, fake))[0]
    response = await http.post("/echo", json=sent)
    assert response.status_code == 200, response.text
    assert response.json() == {"type": "Charge", "amount": sent["amount"], "again": sent}
    bad = await http.post("/echo", json={**sent, "amount": "100"})
    assert bad.status_code == 422
    assert "not a valid Charge: amount: expected an integer, got str" in bad.text
    missing = await http.post("/echo", json={"id": "ch_1"})
    assert missing.status_code == 422
    assert "missing field 'amount'" in missing.text


async def test_the_openapi_document_names_each_model(http: httpx.AsyncClient) -> None:
    response = await http.get("/openapi.json")
    assert response.status_code == 200, response.text
    document = response.json()
    schemas = document["components"]["schemas"]
    assert {"Charge", "Customer"} <= set(schemas)
    charge = schemas["Charge"]
    assert charge["required"] == ["id", "amount", "status"]
    assert charge["properties"]["created"]["anyOf"][0] == {"type": "string", "format": "date-time"}
    typed = document["paths"]["/typed/one"]["get"]["responses"]["200"]
    assert typed["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Charge"}
