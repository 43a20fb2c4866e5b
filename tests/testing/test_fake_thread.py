"""FakeChing on a thread and event loop of its own (``with FakeChing()``), reached
from sync code, from other threads and from another event loop."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

import pytest

from ching_async.testing import FakeApiError, FakeChing, Fault
from tests._support.fake_client import raw_call


def post_charge(fake: FakeChing, customer: str, card: str, amount: int) -> tuple[int, Any]:
    """One blocking HTTP request, as sync code (a Django view, a script) makes it."""
    body = json.dumps({"customer": customer, "payment_method": card, "amount": amount})
    request = urllib.request.Request(
        fake.url + "/charges",
        data=body.encode(),
        method="POST",
        headers={"Authorization": f"Bearer {fake.api_key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_sync_threads_charge_while_the_test_thread_seeds_and_inspects() -> None:
    with FakeChing(seed=1) as fake:
        customer = fake.add_customer(name="Tal Levi")
        card = fake.add_payment_method(customer.id)
        statuses: list[int] = []
        seen: list[int] = []

        def charge_ten(worker: int) -> None:
            for n in range(10):
                status, _ = post_charge(fake, customer.id, card.id, 100 * worker + n + 1)
                statuses.append(status)

        workers = [threading.Thread(target=charge_ten, args=(w,)) for w in range(4)]
        for worker in workers:
            worker.start()
        # Reads race the requests above; each runs on the fake's loop, between them.
        while any(worker.is_alive() for worker in workers):
            seen.append(len(fake.charges_for(customer.id)))
            fake.add_customer(name="Meanwhile")
        for worker in workers:
            worker.join()
        assert statuses == [200] * 40
        assert seen == sorted(seen)
        assert len(fake.charges()) == len(fake.requests_to("POST", "/charges")) == 40
        assert sorted(c.amount for c in fake.charges()) == sorted(
            100 * w + n + 1 for w in range(4) for n in range(10)
        )
        assert len(fake.customers()) == 1 + len(seen)


def test_helpers_run_on_the_fakes_thread_and_raise_in_the_callers() -> None:
    where: list[str] = []

    def clock() -> datetime:
        where.append(threading.current_thread().name)
        return datetime.now(UTC)

    with FakeChing(clock=clock) as fake:
        where.clear()
        fake.add_customer()  # stamps `created` from the clock
        fake.now()
        assert where == [f"FakeChing-{id(fake):x}"] * 2
        with pytest.raises(FakeApiError) as raised:
            fake.charge("ch_missing")
        assert raised.value.status == 404
        with pytest.raises(ValueError, match="amount must be a positive integer"):
            fake.add_charge(fake.add_customer().id, amount=0)


def test_run_coroutine_runs_the_async_helpers_from_sync_code() -> None:
    with FakeChing() as fake:
        customer = fake.add_customer()
        card = fake.add_payment_method(customer.id)
        fake.faults.add(Fault.latency(0.3), method="POST", path="/charges", times=1)
        poster = threading.Thread(target=post_charge, args=(fake, customer.id, card.id, 500))
        poster.start()
        deadline = time.monotonic() + 10
        while not fake.pending_commits() and time.monotonic() < deadline:
            time.sleep(0.005)
        assert fake.charges() == []
        fake.run_coroutine(fake.wait_for_commits())
        assert (fake.pending_commits(), len(fake.charges())) == (0, 1)
        assert fake.run_coroutine(fake.deliver_pending()) == []  # no endpoint: nothing to send
        poster.join()


async def test_an_async_test_awaits_a_threaded_fakes_helpers_across_loops() -> None:
    with FakeChing() as fake:
        customer = fake.add_customer()
        card = fake.add_payment_method(customer.id)
        fake.faults.add(Fault.status_then_commit(504, 0.2), method="POST", path="/charges")
        body = {"customer": customer.id, "payment_method": card.id, "amount": 700}
        assert (await raw_call(fake, "POST", "/charges", body))[0] == 504
        assert (fake.pending_commits(), fake.charges()) == (1, [])
        await fake.wait_for_commits()  # the fake's own loop does the waiting
        assert (fake.pending_commits(), len(fake.charges())) == (0, 1)
        assert await fake.deliver_pending() == []


def test_run_coroutine_needs_the_fake_on_its_own_thread() -> None:
    fake = FakeChing()
    with pytest.raises(RuntimeError, match="without start_in_thread"):
        fake.run_coroutine(asyncio.sleep(0))


def test_start_and_stop() -> None:
    fake = FakeChing()
    assert fake.start_in_thread() is fake
    try:
        with pytest.raises(RuntimeError, match="already running"):
            fake.start_in_thread()
        with pytest.raises(RuntimeError, match="already running"):
            asyncio.run(fake.start())
        url = fake.url
        thread = next(t for t in threading.enumerate() if t.name == f"FakeChing-{id(fake):x}")
    finally:
        fake.stop_thread()
    fake.stop_thread()  # a second stop is a no-op
    assert not thread.is_alive()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/charges", timeout=5)


def test_a_port_already_taken_fails_start_and_leaves_no_thread() -> None:
    with FakeChing() as running:
        port = int(running.root_url.rsplit(":", 1)[1])
        before = set(threading.enumerate())
        with pytest.raises(OSError, match="address already in use"), FakeChing(port=port):
            pass
        assert set(threading.enumerate()) == before
