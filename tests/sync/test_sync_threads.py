"""SyncClient from many threads at once under injected faults, and interrupted
waits: the exactly-once rules hold as they do for the async client.

The oracle is the fake's state: every call's idempotency key (in the charge's
metadata) must be on exactly one charge, the one the call returned or that a
lookup by the key found afterwards."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

import ching_async
from ching_async import Request, Response
from ching_async.testing import FakeChing, Fault
from tests._support.hostile import KEY

from .conftest import MakeSync, WhereRun

THREADS = 8
CALLS = 20  # per thread
TIMEOUT = 0.3  # the client's attempt timeout
LATE = 0.6  # how long after the client gave up the fake still commits
SETTLE = 1.0  # longer than LATE: an empty lookup after it is proof

# On POST /charges, 30% of requests; one seeded draw per request.
FAULTS: tuple[tuple[Fault, float], ...] = (
    (Fault.reset_before(), 0.05),
    (Fault.commit_then_drop(), 0.06),
    (Fault.status(503), 0.05),
    (Fault.latency(LATE), 0.04),
    (Fault.html_then_commit(504, LATE), 0.04),
    (Fault.commit_then_delay(LATE), 0.03),
    (Fault.rate_limited(retry_after=0.1), 0.03),
)


class InFlight:
    """A middleware counting attempts in flight at once: calls from many
    threads run concurrently on the one loop."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0

    async def __call__(self, request: Request, call_next: ching_async.Handler) -> Response:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            return await call_next(request)
        finally:
            self.now -= 1


@pytest.mark.slow
def test_eight_threads_under_faults_charge_each_call_exactly_once(
    fake: FakeChing, make_sync: MakeSync
) -> None:
    cards = []
    for n in range(40):
        customer = fake.add_customer(email=f"t{n}@example.com")
        cards.append((customer.id, fake.add_payment_method(customer.id).id))
    for fault, rate in FAULTS:
        fake.faults.add(fault, rate=rate, method="POST", path="/charges")
    in_flight = InFlight()
    sync = make_sync(
        timeout=TIMEOUT,
        total_timeout=30,
        max_retries=8,
        middlewares=[in_flight],
        retry_policy=ching_async.RetryPolicy(
            initial_backoff=0.01, max_backoff=0.05, max_retry_after=1, settle=SETTLE
        ),
    )
    calls: dict[str, tuple[str, int]] = {}  # key -> (customer, amount)
    outcomes: dict[str, object] = {}  # key -> Charge or the exception raised

    def charge_all(thread: int) -> None:
        for i in range(CALLS):
            key = f"sync-{thread}-{i}"
            customer, card = cards[(thread * CALLS + i) % len(cards)]
            calls[key] = (customer, 100 + thread * CALLS + i)
            try:
                outcomes[key] = sync.charges.create(
                    customer=customer,
                    payment_method=card,
                    amount=calls[key][1],
                    idempotency_key=key,
                )
            except Exception as exc:  # every outcome is accounted for below
                outcomes[key] = exc

    threads = [threading.Thread(target=charge_all, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads)
    fake.run_coroutine(fake.wait_for_commits())
    fake.faults.clear()

    kinds = Counter(str(r.fault.kind) for r in fake.requests_to("POST", "/charges") if r.fault)
    assert set(kinds) == {str(fault.kind) for fault, _ in FAULTS}, kinds
    assert in_flight.most > 1, "the threads' calls ran concurrently"
    assert len(outcomes) == THREADS * CALLS
    unknown = {k: o for k, o in outcomes.items() if isinstance(o, ching_async.OutcomeUnknownError)}
    others = {
        k: o
        for k, o in outcomes.items()
        if not isinstance(o, ching_async.Charge) and k not in unknown
    }
    assert others == {}, "only a Charge or OutcomeUnknownError may come back"
    if unknown:
        time.sleep(SETTLE)  # past the settle time, a lookup proves absence
    for key, (customer, amount) in calls.items():
        on_server = [
            c
            for c in fake.charges_for(customer)
            if c.metadata.get(ching_async.IDEMPOTENCY_METADATA_KEY) == key
        ]
        outcome = outcomes[key]
        if isinstance(outcome, ching_async.Charge):
            assert [c.id for c in on_server] == [outcome.id], key
            assert outcome.amount == amount
        else:
            found = sync.charges.find_by_idempotency_key(customer, key)
            assert [c.id for c in on_server] == ([found.id] if found else []), key


@pytest.fixture
def interrupt_main() -> Iterator[Callable[[Callable[[], bool], int], None]]:
    """Send `signum` to the main thread (the one blocked in the call) once `ready()`."""
    assert threading.current_thread() is threading.main_thread()
    started: list[threading.Thread] = []

    def arm(ready: Callable[[], bool], signum: int) -> None:
        def fire() -> None:
            deadline = time.monotonic() + 10
            while not ready() and time.monotonic() < deadline:
                time.sleep(0.005)
            signal.pthread_kill(threading.main_thread().ident or 0, signum)

        started.append(threading.Thread(target=fire))
        started[-1].start()

    yield arm
    for thread in started:
        thread.join(10)


class TimeLimitExceeded(Exception):
    """What a task runner's time limit raises from its signal handler (Celery's
    SoftTimeLimitExceeded, say)."""


def _raise_time_limit(signum: int, frame: object) -> None:
    raise TimeLimitExceeded


@pytest.mark.parametrize(
    ("signum", "raised", "mode"),
    [
        (signal.SIGINT, KeyboardInterrupt, "driven"),
        (signal.SIGINT, KeyboardInterrupt, "threaded"),
        (signal.SIGUSR1, TimeLimitExceeded, "threaded"),
    ],
    ids=["ctrl-c-driven", "ctrl-c-threaded", "time-limit"],
)
def test_an_interrupted_wait_cancels_the_call_whose_doubt_is_then_remembered(
    fake: FakeChing,
    make_sync: MakeSync,
    interrupt_main: Callable[[Callable[[], bool], int], None],
    signum: int,
    raised: type[BaseException],
    mode: str,
) -> None:
    customer = fake.add_customer(email="late@example.com")
    card = fake.add_payment_method(customer.id)
    fake.faults.add(Fault.latency(2.0), method="POST", path="/charges", times=1)
    # Not instant: a cancelled send is then remembered as in doubt for `settle`.
    where = WhereRun()
    sync = make_sync(
        timeout=5.0, retry_policy=ching_async.RetryPolicy(settle=30), middlewares=[where]
    )
    # A time limit's handler (a Python one) makes the SyncClient hand calls
    # to its own thread; with none, this thread drives the loop itself.
    handler = _raise_time_limit if mode == "threaded" else signal.getsignal(signal.SIGUSR1)
    previous = signal.signal(signal.SIGUSR1, handler)
    try:
        # Interrupted once the fake holds the POST (it commits 2 s later).
        interrupt_main(lambda: fake.pending_commits() > 0, signum)
        started = time.monotonic()
        with pytest.raises(raised):
            sync.charges.create(
                customer=customer.id,
                payment_method=card.id,
                amount=4990,
                idempotency_key="order-7",
                assume_new=True,
            )
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert time.monotonic() - started < 1.5, "the wait ended at the interrupt"
    assert where.threads == [where.expected_thread(mode)]
    # The call's task was cancelled mid-send in the loop: the retry loop
    # remembers the key as in doubt, so a lookup now proves nothing.
    with pytest.raises(ching_async.LookupInconclusiveError, match="order-7"):
        sync.charges.find_by_idempotency_key(customer.id, "order-7")
    fake.run_coroutine(fake.wait_for_commits())
    assert len(fake.charges_for(customer.id)) == 1, "the server committed it after all"
    # The same key again finds that charge instead of charging twice.
    fake.faults.clear()
    again = sync.charges.create(
        customer=customer.id, payment_method=card.id, amount=4990, idempotency_key="order-7"
    )
    assert again.request_info is not None
    assert again.request_info.found_existing is True
    assert len(fake.charges_for(customer.id)) == 1


# ============================================================ driven loop
def test_a_first_call_in_flight_then_others_move_the_loop_to_its_thread(
    fake: FakeChing, make_sync: MakeSync
) -> None:
    """A call that arrives while another thread drives the loop waits for
    that call to end, then the SyncClient's own thread runs the loop for
    good; both calls succeed."""
    customer = fake.add_customer(email="two@example.com")
    fake.faults.add(Fault.latency(0.5), method="GET", path="/customers/{id}", times=1)
    where = WhereRun()
    sync = make_sync(middlewares=[where])
    found: list[str] = []
    first = threading.Thread(target=lambda: found.append(sync.customers.retrieve(customer.id).id))
    first.start()
    deadline = time.monotonic() + 5
    while not where.threads and time.monotonic() < deadline:
        time.sleep(0.005)
    found.append(sync.customers.retrieve(customer.id).id)  # while the first is in flight
    first.join(5)
    found.append(sync.customers.retrieve(customer.id).id)
    assert found == [customer.id] * 3
    assert where.threads == [first.name, "ching_async.SyncClient", "ching_async.SyncClient"]


def test_a_pooled_connection_the_server_closed_between_driven_calls_is_not_reused() -> None:
    """While no call drives the loop, nothing reads the pool's sockets: the
    next call first lets the loop see what arrived (here the server's FIN),
    so it does not send on a closed connection and need a second attempt."""
    body = b'{"success": true, "data": []}'
    reply = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )
    ready = threading.Event()
    port: list[int] = []
    stop: list[Callable[[], None]] = []

    handlers: set[asyncio.Task[None]] = set()

    async def answer_once_then_close(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(reply)  # keep-alive, then the server closes it anyway
            await writer.drain()
            await asyncio.sleep(0.05)
        finally:
            writer.close()
            await writer.wait_closed()

    async def serve() -> None:
        server = await asyncio.start_server(answer_once_then_close, "127.0.0.1", 0)
        port.append(server.sockets[0].getsockname()[1])
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        stop.append(lambda: loop.call_soon_threadsafe(done.set))
        ready.set()
        async with server:
            await done.wait()
            await asyncio.gather(*handlers)  # each ends 0.05 s after its reply

    server = threading.Thread(target=asyncio.run, args=(serve(),))
    server.start()
    try:
        assert ready.wait(5)
        attempts = WhereRun()
        with ching_async.SyncClient(
            KEY, base_url=f"http://127.0.0.1:{port[0]}/ching/v1", middlewares=[attempts]
        ) as sync:
            assert sync.customers.list() == []
            time.sleep(0.3)  # the server closed the pooled connection meanwhile
            assert sync.customers.list() == []
        assert len(attempts.threads) == 2, "one attempt per call"
    finally:
        stop[0]()
        server.join(5)
