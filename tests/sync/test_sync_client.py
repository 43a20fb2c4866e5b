"""SyncClient: the facade's surface, every endpoint over a real socket,
errors, where its loop runs (driven by the caller or on its own thread),
closing, and the import staying lazy."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import inspect
import subprocess
import sys
import textwrap
import threading
import time
import traceback
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

import ching_async
from ching_async import ClientStateError, Request, Response
from ching_async._resources._base import Resource
from ching_async.testing import FakeChing, Fault, ching_test_mode
from tests._support.catalog import LAUNCH
from tests._support.fake_client import items, seed
from tests._support.hostile import KEY, leaks_secret

from .conftest import MakeSync, WhereRun, sync_threads

ROOT = Path(__file__).resolve().parents[2]


def groups(client: object) -> dict[str, Resource]:
    return {name: value for name, value in vars(client).items() if isinstance(value, Resource)}


def public_methods(group: object) -> set[str]:
    return {name for name in dir(group) if not name.startswith("_")}


# ================================================================= surface
def test_every_method_of_every_group_has_a_sync_twin_with_its_parameters() -> None:
    client = ching_async.Client(KEY)
    sync = ching_async.SyncClient(KEY)
    async_groups = groups(client)
    assert set(async_groups) == {
        "setup_sessions",
        "charges",
        "customers",
        "payment_methods",
        "refunds",
        "documents",
        "webhook_endpoints",
        "products",
        "prices",
        "discounts",
        "subscriptions",
        "checkout_sessions",
        "billing_portal_sessions",
    }
    for name, group in async_groups.items():
        twin = getattr(sync, name)
        assert public_methods(twin) == public_methods(group), name
        for method in public_methods(group):
            wanted = inspect.signature(getattr(group, method)).parameters
            got = inspect.signature(getattr(twin, method)).parameters
            assert list(got.values()) == list(wanted.values()), f"{name}.{method}"
            assert getattr(twin, method).__doc__ == getattr(group, method).__doc__
    assert inspect.signature(ching_async.SyncClient).parameters.keys() == (
        inspect.signature(ching_async.Client).parameters.keys()
    )
    # The client's own settings and methods too; `aclose` is `close` here.
    assert public_methods(client) - {"aclose"} <= public_methods(sync)
    for name in public_methods(client) - set(async_groups) - {"aclose"}:
        if callable(getattr(client, name)):
            wanted = inspect.signature(getattr(client, name)).parameters
            assert inspect.signature(getattr(sync, name)).parameters == wanted, name
        else:
            assert getattr(sync, name) == getattr(client, name), name


def test_import_loads_no_sync_module_and_starts_no_thread() -> None:
    code = textwrap.dedent(
        """
        import sys, threading
        import ching_async
        assert "ching_async._sync" not in sys.modules
        assert threading.active_count() == 1
        assert "SyncClient" in ching_async.__all__
        sync = ching_async.SyncClient("ck_test_" + "0" * 64)
        assert "ching_async._sync" in sys.modules
        assert threading.active_count() == 1, "the thread starts with the first call"
        sync.close()
        assert threading.active_count() == 1
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_repr_shows_the_base_url_and_mode_never_the_key() -> None:
    sync = ching_async.SyncClient(KEY, base_url="http://127.0.0.1:1/ching/v1")
    text = repr(sync)
    assert text == "<ching_async.SyncClient base_url='http://127.0.0.1:1/ching/v1' mode=test>"
    assert not leaks_secret(text + str(sync) + repr(vars(sync)))
    assert sync.mode == "test"
    assert sync.base_url == "http://127.0.0.1:1/ching/v1"


def test_arguments_are_checked_at_construction_without_a_thread() -> None:
    with pytest.raises(ching_async.InvalidParameterError, match="timeout"):
        ching_async.SyncClient(KEY, timeout=-1)
    with pytest.raises(ching_async.InvalidParameterError, match="session="):
        ching_async.SyncClient(KEY, session=object())  # type: ignore[arg-type]
    assert sync_threads() == []


# =============================================================== endpoints
def test_every_group_round_trips_over_the_socket_with_the_same_models(
    fake: FakeChing, sync: ching_async.SyncClient, tmp_path: Path
) -> None:
    session = sync.setup_sessions.create(
        customer=fake.add_customer(email="a@example.com").id,
        success_url="https://shop.example/ok",
        cancel_url="https://shop.example/no",
    )
    assert isinstance(session, ching_async.SetupSession)
    assert sync.setup_sessions.retrieve(session.id).id == session.id
    assert sync.setup_sessions.cancel(session.id).status == "canceled"

    customer = sync.customers.create(email="tal@example.com", name="Tal Levi")
    assert isinstance(customer, ching_async.Customer)
    assert sync.customers.retrieve(customer.id).email == "tal@example.com"
    assert sync.customers.update(customer.id, name="Tal L.").name == "Tal L."
    upserted = sync.customers.upsert(identify_by="email", email="tal@example.com", name="Tal")
    assert isinstance(upserted, ching_async.UpsertResult)
    assert upserted.customer.id == customer.id
    listed = sync.customers.list()
    assert type(listed) is list
    assert customer.id in [c.id for c in listed]

    card = sync.payment_methods.create_test_card(customer.id)
    assert isinstance(card, ching_async.PaymentMethod)
    assert sync.payment_methods.retrieve(card.id).id == card.id
    assert [m.id for m in sync.customers.list_payment_methods(customer.id)] == [card.id]

    charge = sync.charges.create(customer=customer.id, payment_method=card.id, amount=4990)
    assert isinstance(charge, ching_async.Charge)
    assert charge.request_info is not None
    assert sync.charges.retrieve(charge.id) == charge
    assert [c.id for c in sync.charges.list(customer=customer.id)] == [charge.id]
    key = charge.request_info.idempotency_key
    assert key is not None
    found = sync.charges.find_by_idempotency_key(customer.id, key)
    assert found is not None
    assert found.id == charge.id
    held = fake.add_charge(customer.id, card.id, capture_method="manual")
    assert sync.charges.capture(held.id, amount=500).amount_captured == 500
    held = fake.add_charge(customer.id, card.id, capture_method="manual")
    assert sync.charges.cancel(held.id).status == "canceled"

    refund = sync.refunds.create(charge=charge.id, amount=990, idempotency_key="refund-1")
    assert isinstance(refund, ching_async.Refund)
    assert sync.refunds.retrieve(refund.id).id == refund.id
    assert [r.id for r in sync.refunds.list()] == [refund.id]
    assert getattr(sync.refunds.find_by_idempotency_key("refund-1"), "id", None) == refund.id

    assert charge.document is not None
    document = sync.documents.retrieve(charge.document)
    assert isinstance(document, ching_async.Document)
    assert [d.id for d in sync.documents.list()] == [d.id for d in reversed(fake.documents())]
    size = sync.documents.download_pdf(document.id, tmp_path / "invoice.pdf")
    assert (tmp_path / "invoice.pdf").read_bytes() == fake.document(document.id).pdf()
    assert size == len(fake.document(document.id).pdf())

    endpoint = sync.webhook_endpoints.create(url="https://shop.example/hooks", events=["*"])
    assert isinstance(endpoint, ching_async.WebhookEndpoint)
    assert endpoint.secret is not None
    [listed_endpoint] = sync.webhook_endpoints.list()
    assert listed_endpoint.id is not None
    assert sync.webhook_endpoints.delete(listed_endpoint.id) is None
    assert fake.webhook_endpoints() == []

    product = sync.products.create(name="Pro", idempotency_key="product-1")
    assert isinstance(product, ching_async.Product)
    url = sync.products.upload_image(b"GIF89a" + bytes(16))
    assert sync.products.update(product.id, image_url=url).image_url == url
    assert sync.products.retrieve(product.id).id == product.id
    assert [p.id for p in sync.products.list()] == [product.id]
    assert getattr(sync.products.find_by_idempotency_key("product-1"), "id", None) == product.id
    price = sync.prices.create(product=product.id, unit_amount=0, type="one_time")
    assert isinstance(price, ching_async.Price)
    assert sync.prices.update(price.id, apply_mode="now", unit_amount=100).unit_amount == 100
    assert sync.prices.cancel_pending_migration(price.id).id == price.id
    assert sync.prices.retrieve(price.id).unit_amount == 100
    assert [p.id for p in sync.prices.list(product=product.id)] == [price.id]
    price_key = price.request_info.idempotency_key if price.request_info else ""
    found_price = sync.prices.find_by_idempotency_key(product.id, price_key or "")
    assert getattr(found_price, "id", None) == price.id
    discount = sync.discounts.create(**LAUNCH)
    assert isinstance(discount, ching_async.Discount)
    assert sync.discounts.update(discount.id, max_redemptions=2).max_redemptions == 2
    with pytest.raises(ching_async.TargetsNotSupportedError):
        sync.discounts.replace_targets(discount.id, targets=[price.id])
    assert sync.discounts.archive(discount.id).archived is True
    assert sync.discounts.retrieve(discount.id).code == "LAUNCH"
    assert [d.id for d in sync.discounts.list()] == [discount.id]
    assert sync.discounts.redemptions(discount.id) == ching_async.Redemptions()
    discount_key = discount.request_info.idempotency_key if discount.request_info else ""
    found_discount = sync.discounts.find_by_idempotency_key(discount_key or "")
    assert getattr(found_discount, "id", None) == discount.id

    checkout = sync.checkout_sessions.create(
        customer=customer.id,
        price=price.id,
        success_url="https://shop.example/ok",
        cancel_url="https://shop.example/no",
    )
    assert isinstance(checkout, ching_async.CheckoutSession)
    assert sync.checkout_sessions.retrieve(checkout.id).status == "pending"
    portal = sync.billing_portal_sessions.create(customer=customer.id)
    assert isinstance(portal, ching_async.BillingPortalSession)
    assert [s.customer for s in fake.billing_portal_sessions()] == [customer.id]
    monthly = sync.prices.create(
        product=product.id, unit_amount=9900, type="recurring", recurring={"interval": "month"}
    )
    yearly = sync.prices.create(
        product=product.id, unit_amount=199000, type="recurring", recurring={"interval": "year"}
    )
    sub = sync.subscriptions.create(
        customer=customer.id, price=monthly.id, payment_method=card.id, idempotency_key="sub-1"
    )
    assert isinstance(sub, ching_async.Subscription)
    assert sync.subscriptions.retrieve(sub.id).next_charge_amount == 9900
    assert [s.id for s in sync.subscriptions.list()] == [sub.id]
    change = sync.subscriptions.change_price(sub.id, price=yearly.id)
    assert isinstance(change, ching_async.PriceChange)
    assert change.kind == "upgrade"
    assert getattr(sync.subscriptions.find_by_idempotency_key("sub-1"), "id", None) == sub.id
    assert sync.subscriptions.cancel(sub.id).status == "canceled"

    assert sync.payment_methods.detach(card.id).id == card.id
    assert [m.id for m in sync.customers.list_inactive_payment_methods(customer.id)] == [card.id]
    assert sync.customers.delete(customer.id).deleted is True


def test_create_many_yields_each_result_and_list_takes_them_all(
    fake: FakeChing, sync: ching_async.SyncClient
) -> None:
    customer = fake.add_customer(email="bulk@example.com")
    card = fake.add_payment_method(customer.id)
    items = [
        {"customer": customer.id, "payment_method": card.id, "amount": 100 + i} for i in range(12)
    ]
    run = sync.charges.create_many(items, job_id="sync-job", concurrency=4, assume_new=True)
    assert iter(run) is run
    results = list(run)
    assert sorted(r.index for r in results) == list(range(12))
    assert all(r.outcome is ching_async.Outcome.SUCCEEDED for r in results)
    assert sorted(c.amount for c in fake.charges_for(customer.id)) == [100 + i for i in range(12)]
    assert list(run) == [], "an ended run stays ended"
    run.close()  # closing an ended run does nothing


def test_create_many_closed_early_stops_taking_items(
    fake: FakeChing, sync: ching_async.SyncClient
) -> None:
    customer = fake.add_customer(email="bulk@example.com")
    card = fake.add_payment_method(customer.id)
    taken = 0

    def items() -> Iterator[dict[str, object]]:
        nonlocal taken
        for i in range(1000):
            taken += 1
            yield {"customer": customer.id, "payment_method": card.id, "amount": 100 + i}

    with sync.charges.create_many(items(), job_id="early", concurrency=2, assume_new=True) as run:
        first = next(run)
    assert first.ok
    assert list(run) == [], "a closed run yields nothing more"
    charged = len(fake.charges_for(customer.id))
    assert 1 <= charged <= taken < 20
    time.sleep(0.2)
    assert len(fake.charges_for(customer.id)) == charged, "nothing is sent after close"


def settled_count(fake: FakeChing) -> int:
    """The fake's charges once every send in flight has had time to end."""
    time.sleep(0.3)
    return len(fake.charges())


def test_create_many_not_read_starts_nothing_new(
    fake: FakeChing, sync: ching_async.SyncClient
) -> None:
    run = sync.charges.create_many(items(seed(fake, 50), 50), job_id="kept", concurrency=4)
    for _ in run:
        break  # still referenced, not closed
    charged = settled_count(fake)
    assert 1 <= charged <= 1 + 4, "at most `concurrency` started ahead of what was taken"
    assert settled_count(fake) == charged
    run.close()


def test_create_many_dropped_unclosed_stops_and_warns(
    fake: FakeChing, sync: ching_async.SyncClient
) -> None:
    cards = seed(fake, 50)

    def take_one_and_leave() -> None:
        for _ in sync.charges.create_many(items(cards, 50), job_id="dropped", concurrency=4):
            break  # no `with`: the run's last reference goes with the loop

    with pytest.warns(ResourceWarning, match="dropped before it ended"):
        take_one_and_leave()
    charged = settled_count(fake)
    assert 1 <= charged <= 1 + 4
    assert settled_count(fake) == charged
    sync.close()  # waits for the dropped run's close; nothing left open
    assert len(fake.charges()) == charged


def test_with_options_makes_a_view_sharing_the_loop_and_its_lifecycle(
    fake: FakeChing, mode: str
) -> None:
    where = WhereRun()
    sync = ching_async.SyncClient(
        fake.api_key,
        base_url=fake.url,
        timeout=5.0,
        retry_policy=ching_async.RetryPolicy(instant=True),
        middlewares=[where],
    )
    fast = sync.with_options(timeout=0.3, max_retries=0, headers={"X-Shop": "tlv-1"})
    assert (fast.timeout, sync.timeout, fast.max_retries) == (0.3, 5.0, 0)
    customer = fake.add_customer(email="view@example.com")
    fake.faults.add(Fault.latency(1.0), method="GET", path="/customers/{id}", times=1)
    with pytest.raises(ching_async.APITimeoutError):
        fast.customers.retrieve(customer.id)  # bounded by the view's own timeout
    assert sync.customers.retrieve(customer.id).id == customer.id
    assert "X-Shop" not in fake.requests_to("GET", "/customers/{id}")[-1].headers
    assert fast.customers.retrieve(customer.id).id == customer.id
    assert fake.requests_to("GET", "/customers/{id}")[-1].headers["X-Shop"] == "tlv-1"
    loop = where.loops[0]
    assert set(where.loops) == {loop}, "one loop for the client and its views"
    assert set(where.threads) == {where.expected_thread(mode)}
    assert len(sync_threads()) == (1 if mode == "threaded" else 0)
    first = weakref.ref(sync)
    del sync
    gc.collect()
    assert first() is not None, "the view keeps the first client (and its loop) alive"
    assert fast.customers.retrieve(customer.id).id == customer.id
    del fast
    gc.collect()
    assert first() is None
    deadline = time.monotonic() + 5
    while (sync_threads() or not loop.is_closed()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sync_threads() == [], "dropped with its views: the loop thread stopped"
    assert loop.is_closed(), "dropped with its views: the loop closed"


def test_closing_a_view_closes_the_client_it_views(make_sync: MakeSync) -> None:
    sync = make_sync()
    view = sync.with_options(total_timeout=5)
    with pytest.raises(ching_async.NotFoundError):
        view.charges.retrieve("ch_1")
    view.close()
    assert sync.closed
    with pytest.raises(ClientStateError, match="closed"):
        sync.charges.retrieve("ch_1")


def test_a_sync_client_made_in_test_mode_reaches_the_fake(fake: FakeChing) -> None:
    customer = fake.add_customer(email="mode@example.com")
    with ching_test_mode(fake), ching_async.SyncClient() as sync:  # as a Django test would
        assert sync.base_url == fake.url
        assert sync.retry_policy.instant
        assert sync.customers.retrieve(customer.id).id == customer.id


# ================================================================== errors
def test_errors_come_back_unchanged_with_their_request_context(
    fake: FakeChing, sync: ching_async.SyncClient
) -> None:
    with pytest.raises(ching_async.NotFoundError) as info:
        sync.charges.retrieve("ch_missing")
    error = info.value
    assert (error.method, error.path, error.status, error.attempts) == (
        "GET",
        "/charges/ch_missing",
        404,
        1,
    )
    frames = [frame.name for frame in traceback.extract_tb(error.__traceback__)]
    assert "test_errors_come_back_unchanged_with_their_request_context" in frames
    assert "retrieve" in frames, "the loop's frames stay in the traceback"

    with pytest.raises(ching_async.InvalidParameterError, match="amount"):
        sync.charges.create(customer="cus_1", payment_method="pm_1", amount=-5)
    with pytest.raises(ching_async.InvalidParameterError, match="customer"):
        sync.charges.list(customer="not an id")  # a plain method's check, run in the loop

    customer = fake.add_customer(email="d@example.com")
    card = fake.add_payment_method(customer.id, declines=True)
    with pytest.raises(ching_async.CardDeclinedError) as declined:
        sync.charges.create(customer=customer.id, payment_method=card.id, amount=100)
    assert declined.value.idempotency_key is not None

    # A POST answered 2xx that cannot be read: the same class as in async code.
    fake.faults.add(Fault.html(200), method="POST", path="/setup_sessions", times=1)
    with pytest.raises(ching_async.OutcomeUnknownError) as unreadable:
        sync.setup_sessions.create(
            customer=customer.id, success_url="https://a.example/", cancel_url="https://a.example/"
        )
    assert type(unreadable.value) is ching_async.UnreadableResultError
    [post] = fake.requests_to("POST", "/setup_sessions")
    assert unreadable.value.idempotency_key == post.idempotency_key


def test_a_call_from_the_clients_own_loop_thread_raises_instead_of_deadlocking(
    make_sync: MakeSync,
) -> None:
    seen: list[BaseException] = []
    sync: ching_async.SyncClient

    async def calls_back(request: Request, call_next: ching_async.Handler) -> Response:
        if request.path.endswith("/charges/ch_outer"):
            for attempt in (lambda: sync.charges.retrieve("ch_inner"), sync.close):
                try:
                    attempt()
                except ClientStateError as exc:
                    seen.append(exc)
        return await call_next(request)

    sync = make_sync(middlewares=[calls_back])
    with pytest.raises(ching_async.NotFoundError):
        sync.charges.retrieve("ch_outer")
    assert len(seen) == 2
    assert "own event loop thread" in str(seen[0])
    assert "ching_async.Client" in str(seen[0])
    assert "own event loop thread" in str(seen[1])
    assert not sync.closed


def test_a_call_from_another_threads_running_loop_blocks_it_and_works(
    fake: FakeChing, sync: ching_async.SyncClient
) -> None:
    charge = fake.add_charge(fake.add_customer(email="x@example.com").id)

    async def handler() -> ching_async.Charge:
        return sync.charges.retrieve(charge.id)  # blocks this loop, as documented

    assert asyncio.run(handler()).id == charge.id


def test_the_callers_context_variables_reach_middlewares(make_sync: MakeSync, mode: str) -> None:
    tenant: contextvars.ContextVar[str] = contextvars.ContextVar("tenant", default="none")
    seen: list[str] = []

    async def record(request: Request, call_next: ching_async.Handler) -> Response:
        seen.append(tenant.get())
        return await call_next(request)

    where = WhereRun()
    sync = make_sync(middlewares=[record, where])
    for name in ("shop-a", "shop-b"):
        tenant.set(name)
        with pytest.raises(ching_async.NotFoundError):
            sync.charges.retrieve("ch_x")
    assert seen == ["shop-a", "shop-b"]
    assert where.threads == [where.expected_thread(mode)] * 2


# ================================================================ closing
def test_close_waits_for_calls_in_flight_then_refuses_new_ones(
    fake: FakeChing, make_sync: MakeSync
) -> None:
    customer = fake.add_customer(email="slow@example.com")
    card = fake.add_payment_method(customer.id)
    fake.faults.add(Fault.latency(0.5), method="POST", path="/charges", times=1)
    sent = threading.Event()

    async def mark(request: Request, call_next: ching_async.Handler) -> Response:
        sent.set()
        return await call_next(request)

    sync = make_sync(middlewares=[mark])
    outcome: list[object] = []
    caller = threading.Thread(
        target=lambda: outcome.append(
            sync.charges.create(customer=customer.id, payment_method=card.id, amount=100)
        )
    )
    caller.start()
    assert sent.wait(5)
    started = time.monotonic()
    sync.close()
    assert time.monotonic() - started >= 0.3, "close() waited for the call"
    caller.join(5)
    assert [type(o) for o in outcome] == [ching_async.Charge], "the call was not cancelled"
    assert sync.closed
    assert sync_threads() == []
    with pytest.raises(ClientStateError, match="closed"):
        sync.charges.retrieve("ch_1")
    sync.close()  # idempotent
    with pytest.raises(ClientStateError, match="closed"), sync:
        pass


def test_with_closes_and_a_second_close_from_another_thread_waits(
    fake: FakeChing, mode: str
) -> None:
    where = WhereRun()
    with ching_async.SyncClient(fake.api_key, base_url=fake.url, middlewares=[where]) as sync:
        with pytest.raises(ching_async.NotFoundError):
            sync.charges.retrieve("ch_1")
        assert where.threads == [where.expected_thread(mode)]
        assert len(sync_threads()) == (1 if mode == "threaded" else 0)
        closers = [threading.Thread(target=sync.close) for _ in range(3)]
        for closer in closers:
            closer.start()
        for closer in closers:
            closer.join(5)
        assert sync_threads() == [], "every close() returned after the thread ended"
        assert where.loops[0].is_closed(), "every close() returned after the loop closed"
    assert sync.closed


def test_close_closes_an_open_bulk_run(fake: FakeChing, sync: ching_async.SyncClient) -> None:
    customer = fake.add_customer(email="bulk@example.com")
    card = fake.add_payment_method(customer.id)
    items = (
        {"customer": customer.id, "payment_method": card.id, "amount": 100} for _ in range(500)
    )
    run = sync.charges.create_many(items, job_id="left-open", concurrency=2, assume_new=True)
    assert next(run).ok
    sync.close()
    assert sync_threads() == []
    assert len(fake.charges_for(customer.id)) < 20, "the run stopped taking items"
    run.close()  # after the client closed it: nothing to do
    with pytest.raises(ClientStateError):
        next(run)


def test_a_dropped_client_closes_its_loop_and_stops_its_thread(mode: str) -> None:
    where = WhereRun()

    def use_and_drop() -> None:
        sync = ching_async.SyncClient(
            KEY, base_url="http://127.0.0.1:9/ching/v1", max_retries=0, middlewares=[where]
        )
        with pytest.raises(ching_async.APIConnectionError):
            sync.customers.list()
        assert len(sync_threads()) == (1 if mode == "threaded" else 0)

    use_and_drop()
    gc.collect()
    deadline = time.monotonic() + 5
    while (sync_threads() or not where.loops[0].is_closed()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sync_threads() == []
    assert where.loops[0].is_closed()


def test_a_client_whose_thread_ran_before_a_fork_refuses_calls_in_the_child() -> None:
    code = textwrap.dedent(
        """
        import os
        import ching_async
        from ching_async.testing import MockTransport, envelope_response

        def answer(request):
            return envelope_response(request, [])

        used = ching_async.SyncClient("ck_test_" + "0" * 64, transport=MockTransport(answer))
        fresh = ching_async.SyncClient("ck_test_" + "0" * 64, transport=MockTransport(answer))
        assert used.charges.list() == []
        pid = os.fork()
        if pid == 0:
            try:
                used.charges.list()
            except ching_async.ClientStateError as exc:
                assert "fork" in str(exc), exc
                assert fresh.charges.list() == []  # first used in the child: fine
                fresh.close()
                used.close()
                os._exit(0)
            os._exit(1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert used.charges.list() == []  # the parent's thread is untouched
        used.close()
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_an_idle_driven_client_dropped_inside_async_code_closes_its_loop(fake: FakeChing) -> None:
    """The collector may run the finalizer while this thread runs another
    loop: the client's loop cannot run inside it, so it is closed from a
    thread of its own, and nothing is left open or raised."""
    where = WhereRun()
    unraisable: list[object] = []
    sync = ching_async.SyncClient(fake.api_key, base_url=fake.url, middlewares=[where])
    with pytest.raises(ching_async.NotFoundError):
        sync.charges.retrieve("ch_1")  # driven by this thread
    assert sync_threads() == []

    async def drop() -> None:
        nonlocal sync
        del sync
        gc.collect()

    previous, sys.unraisablehook = sys.unraisablehook, unraisable.append
    try:
        asyncio.run(drop())
    finally:
        sys.unraisablehook = previous
    assert unraisable == []
    assert where.loops[0].is_closed()
    assert sync_threads() == []
