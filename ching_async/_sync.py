"""`SyncClient`: the async `Client` for code that is not async (Django views,
Celery tasks, scripts).

How it runs. A SyncClient owns one async `Client` and one event loop, made
by the first call (so creating one at import time, in a process that forks
workers, makes nothing). Every call is the async client's call, awaited in
that loop: the same validation, retries, reconciliation and settle rules, the
same models, and the same exception objects (types and request context
unchanged). The calling thread's context variables are copied into its call,
so a middleware (tracing, say) sees the caller's context. Who runs the loop:
- Driven: while no other call is in flight, the calling thread runs the loop
  itself until its call ends: no hop to another thread and back, whose cost
  grows when the two threads sit on different CPUs (benchmarks/README.md,
  "SyncClient"). Between calls the loop stands still; each call first lets
  it handle what arrived meanwhile (a pooled connection the server closed).
  A script, or a Django view served by one thread at a time, runs this way.
- Threaded: the SyncClient's own daemon thread ("ching_async.SyncClient")
  runs the loop, and a call hands its coroutine over (`call_soon_threadsafe`)
  and blocks on a lock until the call's task ends. A SyncClient moves here,
  for good, the first time a call cannot drive: a second thread calls while a
  call is in flight (it waits for the thread, which starts once the driving
  call has ended, so no task ever moves between threads); a call from a
  thread that runs another loop; `create_many` (its workers go on between
  calls); or a call from the main thread while any signal has a Python
  handler other than Ctrl-C's default (a task runner's time limit raises from
  one: it must meet a blocked wait, not the loop's own code).

The facade. A group (`SyncCharges`, ...) names each method of the async
group once: `create = synced(Charges.create)`. `synced` is a descriptor typed
with ParamSpec, so mypy and IDEs see `sync.charges.create` with the async
method's own parameters and its awaited result (an `AsyncList[T]` becomes
`list[T]`); `synced_iterator` does the same for a method that returns an
async iterator (`create_many`'s `BulkRun`), which becomes a `SyncIterator`.
Python's typing cannot map one class's methods onto another's, so these lines
are written out, one per method: tests/sync/test_sync_client.py fails when a
public method of a `Client` group has no twin here. A new group is a class
here and one line in `SyncClient._attach`. The client's own settings are
read through from the async client (`_FromClient`); `with_options` makes a
view of the async client and hangs new groups on it, on the same loop.

Rules, decided:
- From the SyncClient's own loop thread (a middleware or transport calling
  back into the SyncClient) a call would wait for itself forever: it raises
  ClientStateError. From another thread's running loop (async code, a
  notebook) a call works but blocks that loop until it ends, like any
  blocking library: in async code use `Client`.
- An exception raised in the calling thread while it waits (Ctrl-C, a
  Celery time limit raised by a signal handler) cancels the call's task in
  the loop, waits for it to unwind (a second interrupt stops the waiting),
  and is re-raised. A driving main thread takes Ctrl-C as asyncio.run does:
  its handler cancels the task, and KeyboardInterrupt is raised once the
  task has unwound. A cancelled charge or refund is remembered as in doubt,
  as in async code: pass your own `idempotency_key=` and resolve it later
  with `find_by_idempotency_key`.
- `close()` (and leaving `with`) cancels nothing: new calls are refused
  (ClientStateError), calls already begun end by themselves (each is bounded
  by `total_timeout`), then open bulk runs are closed as their own `close()`
  would, the pool and the loop are closed and the thread (if any) joined.
  It is idempotent, and a second `close()` waits for the first. A SyncClient
  dropped without `close()` is closed when it is garbage-collected or at
  interpreter exit.
- After `os.fork()`, a SyncClient whose loop ran in the parent raises
  ClientStateError in the child: create SyncClients in the child (one made
  before the fork and first used after it is fine).
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import importlib
import inspect
import os
import signal
import threading
import warnings
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, cast, overload

from ._client import Client
from ._errors import ClientStateError, InvalidParameterError
from ._resources._base import Resource
from ._resources._charges import Charges
from ._resources._checkout import BillingPortalSessions, CheckoutSessions
from ._resources._customers import Customers
from ._resources._discounts import Discounts
from ._resources._documents import Documents
from ._resources._payment_methods import PaymentMethods
from ._resources._prices import Prices
from ._resources._products import Products
from ._resources._refunds import Refunds
from ._resources._setup_sessions import SetupSessions
from ._resources._subscriptions import Subscriptions
from ._resources._webhook_endpoints import WebhookEndpoints
from ._retry import RetryPolicy

__all__ = ["SyncClient", "SyncIterator"]

P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R", bound=Resource)
S = TypeVar("S")
V = TypeVar("V")

_THREAD_NAME = "ching_async.SyncClient"
_END: Any = object()  # an async iterator's end, as a value the loop can hand back


class _Call:
    """One call: `await fn(*args, **kwargs)` in the caller's `context`, run
    by the loop. A caller that hands it over blocks on `done`, a lock held
    until the loop releases it when the call's task has ended."""

    __slots__ = ("args", "context", "done", "error", "finished", "fn", "kwargs", "result", "task")

    def __init__(
        self, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...], kwargs: Any
    ) -> None:
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.context = contextvars.copy_context()
        self.done = threading.Lock()
        self.done.acquire()
        self.finished = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.task: asyncio.Task[Any] | None = None


# Signals whose Python handler, if any, is read before a caller drives the
# loop itself. Handlers are read and set through the signal module's C core
# (no stubs): the public functions convert each to an enum, which would cost
# the SyncClient its POST target (benchmarks/README.md, "SyncClient").
_SIGNALS = tuple(
    int(s) for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP)
)
_getsignal: Callable[[int], object] = importlib.import_module("_signal").getsignal
_setsignal: Callable[[int, object], object] = importlib.import_module("_signal").signal


def _signals_let_main_thread_drive() -> bool:
    """True when no Python handler could raise into the loop's own code: a
    raising handler (a task runner's time limit) must meet a blocked wait,
    not a half-run callback of the loop."""
    for signum in _SIGNALS:
        handler = _getsignal(signum)
        if callable(handler) and handler is not signal.default_int_handler:
            return False
    return True


class _Runner:
    """The event loop of one SyncClient and the calls in it.

    Two ways to run it (module docstring, "How it runs"): the calling thread
    drives the loop for its own call, or a thread of the runner's own runs it
    for every caller. A runner starts in the first way and moves to the
    second, for good, the first time a call cannot drive.

    Holds no reference to the SyncClient, so that a dropped SyncClient can be
    collected and its finalizer can close this."""

    def __init__(self, client: Client) -> None:
        self.client = client  # the first; views of it share its pool and lifecycle
        self._lock = threading.Lock()  # start, submit and close, against each other
        self._drive = threading.Lock()  # held by the one thread running the loop
        self._driver: threading.Thread | None = None  # a caller driving it now
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._serving = threading.Event()  # the thread runs the loop
        self._closing = False
        self._shut = False  # the loop is closed
        self._close_error: BaseException | None = None
        self.forked = False  # set in a child process by os.register_at_fork
        self._tasks: set[asyncio.Task[Any]] = set()  # calls begun, in the loop
        self.iterators: set[AsyncIterator[Any]] = set()  # bulk runs not yet closed
        _RUNNERS.add(self)

    @property
    def closed(self) -> bool:
        return self._closing

    @property
    def started(self) -> bool:
        return self._loop is not None

    def _on_loop_thread(self) -> bool:
        # Thread objects, not idents: an ended thread's ident is given to new ones.
        current = threading.current_thread()
        return current is self._thread or current is self._driver

    # ------------------------------------------------------------- calling
    def call(
        self,
        fn: Callable[..., Awaitable[T]],
        args: tuple[Any, ...],
        kwargs: Any,
        *,
        keep_running: bool = False,
    ) -> T:
        """Run `await fn(*args, **kwargs)` in the loop; block until it ends.

        `keep_running`: what the call makes goes on working between calls (a
        bulk run's workers), so the loop must run between calls: its thread."""
        if self._on_loop_thread():
            raise ClientStateError(
                "a SyncClient was called from its own event loop thread (from a middleware "
                "or transport?): it would wait for itself forever; await the async "
                "ching_async.Client there instead"
            )
        call = _Call(fn, args, kwargs)
        drive = (
            not keep_running
            and self._thread is None
            and asyncio._get_running_loop() is None  # another loop runs here: hand over
            and (
                threading.current_thread() is not threading.main_thread()
                or _signals_let_main_thread_drive()
            )
            and self._drive.acquire(blocking=False)
        )
        if drive:
            try:
                with self._lock:  # so that no call begins once close() has begun
                    if self._closing or self.forked:
                        raise self._unusable()
                    loop = self._loop if self._loop is not None else self._new_loop()
                self._drive_call(loop, call)
            finally:
                self._release_drive()
        else:
            self._own_thread()
            with self._lock:  # so that no call is handed over once close() has begun
                if self._closing or self.forked:
                    raise self._unusable()
                served = self._loop
                assert served is not None
                served.call_soon_threadsafe(self._begin, call)
            self._wait(served, call)
        error = call.error
        if error is None:
            return cast(T, call.result)
        try:
            raise error
        finally:
            del error, call  # no cycle: this frame <-> the error's traceback

    def _wait(self, loop: asyncio.AbstractEventLoop, call: _Call) -> None:
        """Block until the loop's thread has run the call."""
        try:
            call.done.acquire()
        except BaseException:
            # Interrupted while waiting (Ctrl-C, a time limit's signal): cancel
            # the call in the loop, as async code's cancellation would, and let
            # it unwind so its doubt is remembered before the caller goes on.
            if not call.finished:
                loop.call_soon_threadsafe(_cancel, call)
                call.done.acquire()
            raise

    def _drive_call(self, loop: asyncio.AbstractEventLoop, call: _Call) -> None:
        """Run the loop in this thread until the call's task ends: no hop to
        another thread and back (benchmarks/README.md, "SyncClient").

        In the main thread Ctrl-C cancels the task and is raised once it has
        unwound, as asyncio.run does; a second one stops the waiting."""
        self._driver = threading.current_thread()
        interrupted = False
        task = self._begin(call, catch_up=True)

        def on_sigint(signum: int, frame: object) -> None:
            nonlocal interrupted
            if interrupted or task.done():
                raise KeyboardInterrupt
            interrupted = True
            task.cancel()
            loop.call_soon_threadsafe(_nothing)  # wake the selector

        sigint = threading.current_thread() is threading.main_thread() and (
            _getsignal(signal.SIGINT) is signal.default_int_handler
        )
        if sigint:
            _setsignal(signal.SIGINT, on_sigint)
        try:
            loop.run_until_complete(task)
        except BaseException:
            task.cancel()  # a second Ctrl-C: the next drive lets it unwind
            raise
        finally:
            if sigint and _getsignal(signal.SIGINT) is on_sigint:
                _setsignal(signal.SIGINT, signal.default_int_handler)
        if interrupted and isinstance(call.error, asyncio.CancelledError):
            call.error = KeyboardInterrupt()

    def _release_drive(self) -> None:
        self._driver = None
        try:
            if self._closing and self._thread is None:
                self._shutdown_here()  # close() met this drive, or ran from within it
        finally:
            self._drive.release()

    def _begin(self, call: _Call, *, catch_up: bool = False) -> asyncio.Task[None]:
        """The call's task, in the loop (run there, or by a driving caller)."""
        assert self._loop is not None
        task = self._loop.create_task(self._run(call, catch_up=catch_up), context=call.context)
        call.task = task
        self._tasks.add(task)
        return task

    async def _run(self, call: _Call, *, catch_up: bool) -> None:
        """The call's task. It hands its outcome over itself (not from a done
        callback, one more turn of the loop) and never raises: the caller
        raises it."""
        try:
            if catch_up:
                # A driven loop stood still since the last call: one turn first
                # handles what arrived meanwhile (a pooled connection the server
                # closed), as a loop that never stops would have.
                await asyncio.sleep(0)
            # Called here, in the loop: a plain method's validation (`list`) too.
            call.result = await call.fn(*call.args, **call.kwargs)
        except BaseException as exc:  # CancelledError too: the caller was interrupted
            call.error = exc
        finally:
            self._tasks.discard(call.task)
            call.finished = True
            call.done.release()
            del call  # no cycle: the error's traceback holds this frame

    def _unusable(self) -> ClientStateError:
        if self.forked:
            return ClientStateError(
                "this SyncClient's loop ran in the parent process, which then forked; "
                "create a new SyncClient in this process"
            )
        return ClientStateError("this SyncClient is closed; create a new one")

    def _new_loop(self) -> asyncio.AbstractEventLoop:
        """The loop, made by the first call (under self._lock)."""
        self._loop = asyncio.new_event_loop()
        return self._loop

    def _own_thread(self) -> None:
        """Start the loop's own thread if it is not running yet, and wait until
        it runs the loop: after a caller driving it now has ended its call.
        No task then moves between threads (tenacity keeps a retry's state
        in thread-locals)."""
        with self._lock:
            if self._closing or self.forked:
                raise self._unusable()
            if self._thread is None:
                loop = self._loop if self._loop is not None else self._new_loop()
                thread = threading.Thread(
                    target=_serve,
                    args=(loop, self._drive, self._serving),
                    name=_THREAD_NAME,
                    daemon=True,
                )
                thread.start()
                self._thread = thread
        self._serving.wait()

    # ------------------------------------------------------------- closing
    def close(self, *, join: bool = True) -> None:
        if join and self._on_loop_thread():
            raise ClientStateError(
                "SyncClient.close() was called from its own event loop thread; "
                "it would wait for itself forever"
            )
        with self._lock:
            first, self._closing = not self._closing, True
            loop, thread = self._loop, self._thread
        if loop is None or self.forked:
            return  # never started (nothing to close), or the loop is the parent's
        if thread is None:
            # Driven by its callers. From within a driving call (the
            # collector, say), that call closes it as it ends.
            if not join:
                return
            self._drive.acquire()  # a call driving the loop now ends first
            self._release_drive()  # which closes it here
        else:
            if first:
                if join:
                    self._serving.wait()  # not begun in a caller's drive (_own_thread)
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            if not join:
                return
            thread.join()  # also how a second close() waits for the first
        error, self._close_error = self._close_error, None
        if error is not None:
            raise error  # a bulk run's journal that could not be closed, say

    def after_fork(self) -> None:
        """In a forked child: the loop thread did not survive the fork, and
        the loop's state is the parent's. A runner never started holds
        nothing of the parent's: it starts here."""
        self.forked = self.started
        self._lock = threading.Lock()  # another thread may have held it at the fork
        self._drive = threading.Lock()

    def drop_iterator(self, iterator: AsyncIterator[Any]) -> bool:
        """A SyncIterator was dropped unclosed (in any thread): close its run
        in the loop as its close() would, without waiting. True if it was open."""
        loop = self._loop
        if loop is None or self._closing or iterator not in self.iterators:
            return False  # never opened here, ended, or closed (or close() closes it)
        try:
            loop.call_soon_threadsafe(self._close_dropped_iterator, iterator)
        except RuntimeError:  # the loop is closed: so is the run
            return False
        return True

    def _close_dropped_iterator(self, iterator: AsyncIterator[Any]) -> None:
        if self._closing:
            return  # close() closes every open run itself
        task = asyncio.get_running_loop().create_task(_close_iterator(self, iterator))
        # A call begun, as far as close() is concerned: it waits for it.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close_dropped(self) -> None:
        """The SyncClient's finalizer. The collector may run it in the loop's
        own thread: the thread is then stopped, not joined."""
        self.close(join=not self._on_loop_thread())

    def _shutdown_here(self) -> None:
        """Close a caller-driven loop in this thread (holding the drive lock)."""
        if self._shut or self._loop is None:
            return
        self._shut = True
        if asyncio._get_running_loop() is None:
            self._close_loop()
            return
        # This thread runs another loop (the collector dropped this client
        # inside async code): a loop cannot run inside another, so close it
        # from a thread of its own.
        closer = threading.Thread(target=self._close_loop, name=_THREAD_NAME)
        closer.start()
        closer.join()

    def _close_loop(self) -> None:
        assert self._loop is not None
        try:
            self._loop.run_until_complete(self._shutdown())
        finally:
            _close_loop(self._loop)

    async def _shutdown(self) -> None:
        try:
            # Calls begun before close() end by themselves (total_timeout
            # bounds each); none begins after it.
            while self._tasks:
                await asyncio.wait(set(self._tasks))
            while self.iterators:
                await _close_iterator(self, next(iter(self.iterators)))
            await self.client.aclose()
        except Exception as exc:  # the first close() raises it, once the thread is gone
            self._close_error = exc
        finally:
            if self._thread is not None:
                asyncio.get_running_loop().stop()


def _nothing() -> None:
    pass


def _cancel(call: _Call) -> None:
    # Runs in the loop after the call's _begin (callbacks run in order).
    if call.task is not None:
        call.task.cancel()


def _serve(
    loop: asyncio.AbstractEventLoop, drive: threading.Lock, serving: threading.Event
) -> None:
    drive.acquire()  # a caller driving the loop ends its call first; kept for good
    serving.set()
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        _close_loop(loop)


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    try:
        loop.run_until_complete(loop.shutdown_asyncgens())
        # aiohttp resolves names in the default executor: no thread left behind.
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()


_RUNNERS: weakref.WeakSet[_Runner] = weakref.WeakSet()


def _forked() -> None:
    for runner in _RUNNERS:
        runner.after_fork()


if hasattr(os, "register_at_fork"):  # not on Windows, which cannot fork
    os.register_at_fork(after_in_child=_forked)


# ------------------------------------------------------------------ facade
class SyncIterator(Generic[T]):
    """The sync twin of an async iterator the async client returns (the
    `BulkRun` of `charges.create_many`): iterate it with `for`, or take
    `list(run)` once complete. Close it early with `with` or `close()`, which
    does what the async run's `aclose()` does. Every open run is closed by
    `SyncClient.close()`; one dropped unclosed (`for ... break` without
    `with`) is closed too, without waiting, with a ResourceWarning if it had
    begun."""

    def __init__(self, owner: SyncClient, iterator: AsyncIterator[T]) -> None:
        self._owner = owner  # keeps the SyncClient (and so its loop) alive
        self._iterator = iterator
        self._begun = False

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> T:
        self._begun = True
        runner = self._owner._runner
        item = runner.call(_next_or_end, (runner, self._iterator), {})
        if item is _END:
            raise StopIteration
        return cast(T, item)

    def close(self) -> None:
        """Stop the run early, as the async run's `aclose()` does. Idempotent."""
        runner = self._owner._runner
        if self._iterator in runner.iterators and not runner.closed:
            runner.call(_close_iterator, (runner, self._iterator), {})

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        # As the async run's own __del__: the resource closed, and a warning.
        owner = getattr(self, "_owner", None)  # None: __init__ did not run
        if owner is not None and owner._runner.drop_iterator(self._iterator) and self._begun:
            _warn(
                "a SyncIterator (charges.create_many's run) was dropped before it ended, "
                "without being closed: it takes no new item and closes as close() would "
                "(use `with sync.charges.create_many(...) as run`, or call close())",
                ResourceWarning,
                source=self,
            )


async def _next_or_end(runner: _Runner, iterator: AsyncIterator[Any]) -> Any:
    try:
        return await anext(iterator)
    except StopAsyncIteration:
        runner.iterators.discard(iterator)  # an ended run has closed itself
        return _END


async def _close_iterator(runner: _Runner, iterator: AsyncIterator[Any]) -> None:
    if iterator in runner.iterators:
        runner.iterators.discard(iterator)
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


class SyncResource(Generic[R]):
    """A resource group of the async client, method by method in sync form."""

    def __init__(self, owner: SyncClient, resource: R) -> None:
        self._owner = owner  # keeps the SyncClient (and so its loop) alive
        self._resource = resource
        self.__doc__ = type(resource).__doc__


class _GroupMethod(Generic[R, P]):
    """What both descriptors share: the name, the docs, the cache."""

    def __init__(self, method: Callable[Concatenate[R, P], object]) -> None:
        self._method = method
        self._name = method.__name__
        self.__doc__ = method.__doc__

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self._name = name

    def _install(self, group: SyncResource[R], bound: Callable[P, S]) -> Callable[P, S]:
        """`bound`, named and documented as the method (help(), IDEs), cached on
        the group so that later lookups skip the descriptor."""
        bound.__name__ = bound.__qualname__ = self._name
        bound.__doc__ = self.__doc__
        signature = inspect.signature(self._method)
        params = list(signature.parameters.values())[1:]  # no self
        bound.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=params, return_annotation=inspect.Signature.empty
        )
        group.__dict__[self._name] = bound
        return bound


class _Synced(_GroupMethod[R, P], Generic[R, P, T]):
    """`synced(Group.method)`: the method, called and awaited in the loop."""

    def __init__(self, method: Callable[Concatenate[R, P], Awaitable[T]]) -> None:
        super().__init__(method)
        self._awaitable = method

    @overload
    def __get__(self, group: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, group: SyncResource[R], owner: type[Any]) -> Callable[P, T]: ...
    def __get__(self, group: SyncResource[R] | None, owner: type[Any]) -> Self | Callable[P, T]:
        if group is None:
            return self
        runner, resource, method = group._owner._runner, group._resource, self._awaitable

        def bound(*args: P.args, **kwargs: P.kwargs) -> T:
            return runner.call(method, (resource, *args), kwargs)

        return self._install(group, bound)


class _SyncedIterator(_GroupMethod[R, P], Generic[R, P, T]):
    """`synced_iterator(Group.method)`: a method returning an async iterator,
    made in the loop, handed back as a SyncIterator."""

    def __init__(self, method: Callable[Concatenate[R, P], AsyncIterator[T]]) -> None:
        super().__init__(method)
        self._opener = method

    @overload
    def __get__(self, group: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, group: SyncResource[R], owner: type[Any]) -> Callable[P, SyncIterator[T]]: ...
    def __get__(
        self, group: SyncResource[R] | None, owner: type[Any]
    ) -> Self | Callable[P, SyncIterator[T]]:
        if group is None:
            return self
        sync_client, resource, opener = group._owner, group._resource, self._opener
        runner = sync_client._runner

        async def open_(*args: Any, **kwargs: Any) -> AsyncIterator[T]:
            iterator = opener(resource, *args, **kwargs)
            runner.iterators.add(iterator)
            return iterator

        def bound(*args: P.args, **kwargs: P.kwargs) -> SyncIterator[T]:
            opened = runner.call(open_, args, kwargs, keep_running=True)
            return SyncIterator(sync_client, opened)

        return self._install(group, bound)


def synced(method: Callable[Concatenate[R, P], Awaitable[T]]) -> _Synced[R, P, T]:
    """A group method in sync form: the async method's parameters, its awaited result."""
    return _Synced(method)


def synced_iterator(
    method: Callable[Concatenate[R, P], AsyncIterator[T]],
) -> _SyncedIterator[R, P, T]:
    """A group method returning an async iterator, in sync form: a SyncIterator."""
    return _SyncedIterator(method)


# One line per method of each async group (see the module docstring): alike
# by design, a table that type checkers read; the test of the facade checks it.
class SyncSetupSessions(SyncResource[SetupSessions]):
    create = synced(SetupSessions.create)
    retrieve = synced(SetupSessions.retrieve)
    cancel = synced(SetupSessions.cancel)


class SyncCharges(SyncResource[Charges]):
    create = synced(Charges.create)
    retrieve = synced(Charges.retrieve)
    capture = synced(Charges.capture)
    cancel = synced(Charges.cancel)
    list = synced(Charges.list)
    find_by_idempotency_key = synced(Charges.find_by_idempotency_key)
    create_many = synced_iterator(Charges.create_many)


class SyncCustomers(SyncResource[Customers]):
    create = synced(Customers.create)
    retrieve = synced(Customers.retrieve)
    update = synced(Customers.update)
    upsert = synced(Customers.upsert)
    list = synced(Customers.list)
    delete = synced(Customers.delete)
    list_payment_methods = synced(Customers.list_payment_methods)
    list_inactive_payment_methods = synced(Customers.list_inactive_payment_methods)


class SyncPaymentMethods(SyncResource[PaymentMethods]):
    retrieve = synced(PaymentMethods.retrieve)
    detach = synced(PaymentMethods.detach)
    set_default = synced(PaymentMethods.set_default)
    create_test_card = synced(PaymentMethods.create_test_card)


class SyncRefunds(SyncResource[Refunds]):
    create = synced(Refunds.create)
    retrieve = synced(Refunds.retrieve)
    list = synced(Refunds.list)
    find_by_idempotency_key = synced(Refunds.find_by_idempotency_key)


class SyncDocuments(SyncResource[Documents]):
    list = synced(Documents.list)
    retrieve = synced(Documents.retrieve)
    download_pdf = synced(Documents.download_pdf)


class SyncWebhookEndpoints(SyncResource[WebhookEndpoints]):
    create = synced(WebhookEndpoints.create)
    list = synced(WebhookEndpoints.list)
    delete = synced(WebhookEndpoints.delete)


class SyncProducts(SyncResource[Products]):
    create = synced(Products.create)
    update = synced(Products.update)
    upload_image = synced(Products.upload_image)
    retrieve = synced(Products.retrieve)
    list = synced(Products.list)
    find_by_idempotency_key = synced(Products.find_by_idempotency_key)


class SyncPrices(SyncResource[Prices]):
    create = synced(Prices.create)
    update = synced(Prices.update)
    cancel_pending_migration = synced(Prices.cancel_pending_migration)
    retrieve = synced(Prices.retrieve)
    list = synced(Prices.list)
    find_by_idempotency_key = synced(Prices.find_by_idempotency_key)


class SyncDiscounts(SyncResource[Discounts]):
    create = synced(Discounts.create)
    update = synced(Discounts.update)
    replace_targets = synced(Discounts.replace_targets)
    archive = synced(Discounts.archive)
    retrieve = synced(Discounts.retrieve)
    list = synced(Discounts.list)
    redemptions = synced(Discounts.redemptions)
    find_by_idempotency_key = synced(Discounts.find_by_idempotency_key)


class SyncCheckoutSessions(SyncResource[CheckoutSessions]):
    create = synced(CheckoutSessions.create)
    retrieve = synced(CheckoutSessions.retrieve)


class SyncBillingPortalSessions(SyncResource[BillingPortalSessions]):
    create = synced(BillingPortalSessions.create)


class SyncSubscriptions(SyncResource[Subscriptions]):
    create = synced(Subscriptions.create)
    retrieve = synced(Subscriptions.retrieve)
    list = synced(Subscriptions.list)
    cancel = synced(Subscriptions.cancel)
    change_price = synced(Subscriptions.change_price)
    find_by_idempotency_key = synced(Subscriptions.find_by_idempotency_key)


def _parameters_of(
    source: Callable[Concatenate[Any, P], object],
) -> Callable[[Callable[Concatenate[S, ...], V]], Callable[Concatenate[S, P], V]]:
    """Give the decorated method the parameters of `source` (Client's), for
    type checkers and help(), without writing them out twice."""

    def decorate(fn: Callable[Concatenate[S, ...], V]) -> Callable[Concatenate[S, P], V]:
        signature = inspect.signature(source)
        fn.__signature__ = signature.replace(  # type: ignore[attr-defined]
            return_annotation=inspect.signature(fn).return_annotation
        )
        fn.__doc__ = fn.__doc__ or source.__doc__
        return fn

    return decorate


class _FromClient(Generic[T]):
    """A setting read from the async client, under the same name."""

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self._name = name
        self.__doc__ = f"The async client's `{name}`."

    @overload
    def __get__(self, sync: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, sync: SyncClient, owner: type[Any]) -> T: ...
    def __get__(self, sync: SyncClient | None, owner: type[Any]) -> Self | T:
        if sync is None:
            return self
        return cast(T, getattr(sync._client, self._name))


class SyncClient:
    """A blocking client for the CHING API, for code that is not async:
    Django views, Celery tasks, scripts. Create one per process and share it
    between threads.

    It takes the same arguments as `Client` (except `session=`: an aiohttp
    session belongs to another event loop) and has the same resource groups
    and methods, which block and return the same models; lists come back as
    plain lists, and `charges.create_many` as a `SyncIterator` of results.
    Close it with `with SyncClient() as ching:` or `close()`. How it runs,
    and its rules for interrupts, closing, forks and async code: README,
    "Sync code (Django, Celery, scripts)".
    """

    base_url: _FromClient[str] = _FromClient()
    mode: _FromClient[str] = _FromClient()  # "test" or "live" (from the key), or "unknown"
    headers: _FromClient[Mapping[str, str]] = _FromClient()
    timeout: _FromClient[float] = _FromClient()
    total_timeout: _FromClient[float] = _FromClient()
    max_retries: _FromClient[int] = _FromClient()
    max_connections: _FromClient[int] = _FromClient()
    retry_policy: _FromClient[RetryPolicy] = _FromClient()
    max_download_bytes: _FromClient[int] = _FromClient()

    @_parameters_of(Client.__init__)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("session") is not None:
            raise InvalidParameterError(
                "SyncClient takes no session=: an aiohttp session belongs to the event loop "
                "it was made in, and a SyncClient runs its own; use max_connections= "
                "or transport= instead"
            )
        self._runner = _Runner(Client(*args, **kwargs))
        self._parent: SyncClient | None = None
        # Dropped unclosed (garbage-collected, or at exit): closed all the same.
        weakref.finalize(self, self._runner.close_dropped)
        self._attach(self._runner.client)

    def _attach(self, client: Client) -> None:
        """The resource groups, all calling `client` on this SyncClient's loop."""
        self._client = client
        self.setup_sessions = SyncSetupSessions(self, client.setup_sessions)
        self.charges = SyncCharges(self, client.charges)
        self.customers = SyncCustomers(self, client.customers)
        self.payment_methods = SyncPaymentMethods(self, client.payment_methods)
        self.refunds = SyncRefunds(self, client.refunds)
        self.documents = SyncDocuments(self, client.documents)
        self.webhook_endpoints = SyncWebhookEndpoints(self, client.webhook_endpoints)
        self.products = SyncProducts(self, client.products)
        self.prices = SyncPrices(self, client.prices)
        self.discounts = SyncDiscounts(self, client.discounts)
        self.checkout_sessions = SyncCheckoutSessions(self, client.checkout_sessions)
        self.billing_portal_sessions = SyncBillingPortalSessions(
            self, client.billing_portal_sessions
        )
        self.subscriptions = SyncSubscriptions(self, client.subscriptions)

    @_parameters_of(Client.with_options)
    def with_options(self, **options: Any) -> SyncClient:
        """A view of this client with other settings (the async `Client.with_options`'s),
        for one call or kept. It shares this client's loop thread, connection
        pool and lifecycle: closing either closes both.

            fast = ching.with_options(total_timeout=3, max_retries=1)
            charge = fast.charges.create(...)
        """
        view = copy.copy(self)
        view._parent = self  # the finalizer that closes the loop is the first client's
        view._attach(self._client.with_options(**options))
        return view

    @property
    def closed(self) -> bool:
        """True once `close()` has begun: calls then raise ClientStateError."""
        return self._runner.closed

    def __repr__(self) -> str:
        return repr(self._client).replace("<ching_async.Client", "<ching_async.SyncClient", 1)

    def close(self) -> None:
        """Refuse new calls, let calls already begun end, close open bulk
        runs and the connection pool, and stop the thread. Idempotent."""
        self._runner.close()

    def __enter__(self) -> Self:
        if self._runner.closed:
            raise ClientStateError("this SyncClient is closed; create a new one")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
