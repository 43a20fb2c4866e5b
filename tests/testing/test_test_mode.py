"""``ching_test_mode``: a Client that the code under test builds for itself
reaches the fake, with instant retries; everything is restored afterwards."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx2
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

import ching_async
from ching_async import _client, testing
from ching_async.testing import FakeChing, Fault

ENV = ("CHING_API_KEY", "CHING_BASE_URL")
OUTSIDE = {"CHING_API_KEY": "ck_test_outside", "CHING_BASE_URL": "https://outside.invalid/v1"}


@pytest.fixture
def outside_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment a test starts from: a key and URL that are not the fake's."""
    for name, value in OUTSIDE.items():
        monkeypatch.setenv(name, value)
    return OUTSIDE


def points_at(fake: FakeChing) -> bool:
    client = ching_async.Client()
    return (client.base_url, client.mode, client.retry_policy) == (
        fake.url,
        "test",
        ching_async.RetryPolicy(instant=True),
    ) and {name: os.environ[name] for name in ENV} == {
        "CHING_API_KEY": fake.api_key,
        "CHING_BASE_URL": fake.url,
    }


def is_off(env: dict[str, str | None]) -> bool:
    client = ching_async.Client()
    return (
        _client._test_defaults is None
        and client.retry_policy == ching_async.RetryPolicy()
        and {name: os.environ.get(name) for name in ENV} == env
        and client.base_url == (env["CHING_BASE_URL"] or _client.DEFAULT_BASE_URL)
    )


@pytest.fixture
def fakes() -> Iterator[tuple[FakeChing, FakeChing]]:
    with FakeChing(seed=1) as one, FakeChing(seed=2) as two:
        yield one, two


def test_clients_built_inside_point_at_the_fake_and_everything_returns_after(
    fake_ching_threaded: FakeChing, outside_env: dict[str, str | None]
) -> None:
    assert is_off(outside_env)
    with testing.ching_test_mode(fake_ching_threaded) as fake:
        assert fake is fake_ching_threaded
        assert points_at(fake)
    assert is_off(outside_env)


@pytest.mark.parametrize(
    "before", [{}, {"CHING_BASE_URL": "https://api.example.invalid/v1"}], ids=["none", "one"]
)
def test_variables_that_were_absent_are_absent_again(
    fake_ching_threaded: FakeChing, monkeypatch: pytest.MonkeyPatch, before: dict[str, str]
) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in before.items():
        monkeypatch.setenv(name, value)
    with testing.ching_test_mode(fake_ching_threaded):
        assert points_at(fake_ching_threaded)
    assert {name: os.environ[name] for name in ENV if name in os.environ} == before


def test_everything_returns_after_an_error(
    fake_ching_threaded: FakeChing, outside_env: dict[str, str | None]
) -> None:
    with pytest.raises(KeyError), testing.ching_test_mode(fake_ching_threaded):
        raise KeyError("boom")
    assert is_off(outside_env)


def test_arguments_a_client_is_given_still_win(fake_ching_threaded: FakeChing) -> None:
    policy = ching_async.RetryPolicy(initial_backoff=0.1)
    with testing.ching_test_mode(fake_ching_threaded):
        client = ching_async.Client(
            "ck_live_given", base_url="https://given.invalid/v1", retry_policy=policy
        )
        assert (client.base_url, client.mode, client.retry_policy) == (
            "https://given.invalid/v1",
            "live",
            policy,
        )
        partly = ching_async.Client(retry_policy=policy)
        assert (partly.base_url, partly.retry_policy) == (fake_ching_threaded.url, policy)


def test_the_mode_may_set_its_own_policy(fake_ching_threaded: FakeChing) -> None:
    policy = ching_async.RetryPolicy(settle=0.5)
    with testing.ching_test_mode(fake_ching_threaded, retry_policy=policy):
        assert ching_async.Client().retry_policy is policy
    with pytest.raises(ching_async.InvalidParameterError, match="retry_policy must be"):
        testing.ching_test_mode(fake_ching_threaded, retry_policy="instant").__enter__()  # type: ignore[arg-type]


def test_a_fake_that_is_not_running_is_refused_and_changes_nothing(
    outside_env: dict[str, str | None],
) -> None:
    with pytest.raises(RuntimeError, match="not running"), testing.ching_test_mode(FakeChing()):
        pass
    assert is_off(outside_env)


def test_modes_nest_and_may_end_in_any_order(
    fakes: tuple[FakeChing, FakeChing], outside_env: dict[str, str | None]
) -> None:
    one, two = fakes
    with testing.ching_test_mode(one):
        with testing.ching_test_mode(two):
            assert points_at(two)
        assert points_at(one)
    assert is_off(outside_env)
    outer, inner = testing.ching_test_mode(one), testing.ching_test_mode(two)
    outer.__enter__()
    inner.__enter__()
    outer.__exit__(None, None, None)  # the outer one ends first: the inner still holds
    assert points_at(two)
    inner.__exit__(None, None, None)
    assert is_off(outside_env)


def test_one_after_another_each_points_at_its_own_fake(
    fakes: tuple[FakeChing, FakeChing], outside_env: dict[str, str | None]
) -> None:
    for fake in fakes:
        with testing.ching_test_mode(fake):
            assert points_at(fake)
        assert is_off(outside_env)


def test_a_client_built_on_another_thread_sees_the_mode(fake_ching_threaded: FakeChing) -> None:
    built: list[ching_async.Client] = []
    with testing.ching_test_mode(fake_ching_threaded):
        thread = threading.Thread(target=lambda: built.append(ching_async.Client()))
        thread.start()
        thread.join()
    assert built[0].base_url == fake_ching_threaded.url


def test_the_fixture_is_the_threaded_fake_in_test_mode(
    ching_test_mode: FakeChing, fake_ching_threaded: FakeChing
) -> None:
    assert ching_test_mode is fake_ching_threaded
    assert points_at(ching_test_mode)


# An app that owns its client, as the README shows: built in the lifespan, no arguments.


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with ching_async.Client() as client:
        app.state.ching = client
        yield


app = FastAPI(lifespan=lifespan)


@app.post("/pay")
async def pay(customer: str, card: str, request: Request) -> dict[str, str]:
    client: ching_async.Client = request.app.state.ching
    charge = await client.charges.create(customer=customer, payment_method=card, amount=4990)
    return {"charge": charge.id}


def seed(fake: FakeChing) -> dict[str, str]:
    """A customer with a card, and a first POST /charges answered 429 "retry in
    30 s": honoured (not instant), the charge would take 30 s to land."""
    customer = fake.add_customer(name="Tal Levi")
    card = fake.add_payment_method(customer.id)
    fake.faults.add(Fault.rate_limited(retry_after=30), method="POST", path="/charges", times=1)
    return {"customer": customer.id, "card": card.id}


def landed(fake: FakeChing, customer: str, answer: httpx2.Response, started: float) -> None:
    assert answer.status_code == 200, answer.text
    assert [c.id for c in fake.charges_for(customer)] == [answer.json()["charge"]]
    assert [r.status for r in fake.requests_to("POST", "/charges")] == [429, 200]
    assert time.monotonic() - started < 20  # far below the 30 s a real wait takes


def test_a_sync_test_client_with_the_threaded_fake(ching_test_mode: FakeChing) -> None:
    params = seed(ching_test_mode)
    started = time.monotonic()
    with TestClient(app) as http:  # runs the lifespan, and the app, on a loop of its own
        answer = http.post("/pay", params=params)
    landed(ching_test_mode, params["customer"], answer, started)


async def test_an_async_test_with_the_fake_on_its_loop(fake_ching: FakeChing) -> None:
    params = seed(fake_ching)
    started = time.monotonic()
    with testing.ching_test_mode(fake_ching):
        async with app.router.lifespan_context(app):
            transport = httpx2.ASGITransport(app=app)
            async with httpx2.AsyncClient(transport=transport, base_url="http://app") as http:
                answer = await http.post("/pay", params=params)
    landed(fake_ching, params["customer"], answer, started)
