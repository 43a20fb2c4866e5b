"""The bulk charging engine behind `charges.create_many`.

Guarantees, and where they come from:
- Each item's idempotency key is `<job_id>:<index>` (or the item's own), so a
  re-run of the same job addresses the same charges.
- Before an item that an earlier run may have sent is sent again, it is looked
  up by that key as `charges.create` looks up a caller's key (the customer's
  charges, then the project's newest: read once per run, see
  _Job._project_newest); with a journal only the items in doubt are looked
  up, without one every item is. Only a lookup that proves absence (a list
  that is not full) lets it be sent; otherwise it is unknown.
- Keys are matched to items by position, so a re-run must give the same
  items in the same order. An item that is not the one its key was used for
  (by the journal's `params`, or a charge found by its key made with other
  parameters) stops the job before it is sent: the items were reordered or
  edited, and a later item may be one an earlier run charged under another
  key (_SendOrder: an item looked up is sent only once every earlier item's
  lookup has ended).
- At most one charge per customer is in flight (reconciliation searches the
  customer's 100 newest charges; one at a time keeps the marker inside them).
- Memory is bounded by `concurrency`: items are pulled lazily by the workers,
  and a worker takes an item only when one of `concurrency` result slots is
  free (a slot is freed when the caller takes a result). So at most
  `concurrency` items are started ahead of what the caller has taken: one
  that stops reading stops the sends, and nothing piles up.
- Two items of a job never share an idempotency key (_KeyClaims): a job that
  repeats one is refused before the repeat is sent.
- A 429 anywhere pauses the whole job (see _pacing); `rate_limit` caps
  requests per second (lookups and re-sends count), `item_rate_limit` items
  sent per second, both with aiolimiter.
- Cancellation stops taking items, lets in-flight ones settle for
  `shutdown_grace` seconds, records the rest as unknown, and closes the journal.
  A run dropped unclosed does the same (BulkRun.__del__, with a
  ResourceWarning): its workers hold the job (_Job), never the BulkRun, so
  the caller's last reference going away is what tells the job to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import heapq
import os
import time
import warnings
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Mapping,
    Sequence,
)
from enum import StrEnum
from typing import Any, NamedTuple, Protocol, Required, TypedDict, Unpack

import attrs

from .._errors import (
    KEY_REUSED,
    APIError,
    CardDeclinedError,
    ChingError,
    IdempotencyKeyReusedError,
    InvalidParameterError,
)
from .._models import Charge, ChargeStatus, Installments
from .._reconcile import Snapshot
from .._requester import Requester
from .._validation import (
    CHARGE_FIELDS,
    check_count,
    check_flag,
    check_items,
    check_job_id,
    check_metadata,
    check_rate,
    check_seconds,
)
from ._journal import PARAM_FIELDS, FinishedItem, Journal, fingerprint
from ._pacing import Pacer


class ChargeCalls(Protocol):
    """What the engine needs of `charges` (the Charges resource)."""

    @property
    def create(self) -> Callable[..., Awaitable[Charge]]: ...

    @property
    def newest(self) -> Callable[[], Awaitable[Snapshot]]: ...

    @property
    def find_created(
        self,
    ) -> Callable[
        [str, Mapping[str, Any], Callable[[], Awaitable[Snapshot]]], Awaitable[Charge | None]
    ]: ...


__all__ = [
    "BulkOptions",
    "BulkRun",
    "BulkSummary",
    "ChargeParams",
    "ChargeResult",
    "Outcome",
    "classify_charge",
    "classify_error",
]


class Outcome(StrEnum):
    """How one bulk item ended."""

    SUCCEEDED = "succeeded"  # the card was charged
    DECLINED = "declined"  # the card was declined: a result, not an error
    FAILED = "failed"  # not charged (invalid, rejected, or gave up knowing it was not sent)
    # may or may not have been charged (the answer was lost, or the charge has
    # not settled: `charge.status` pending, processing, ...); a re-run looks it up
    UNKNOWN = "unknown"


# Alike FakeChing's ChargeParams on purpose: the fake stands for the server, apart from us.
@attrs.frozen(kw_only=True)
class ChargeParams:
    """One charge of a bulk job. Mappings with these keys are accepted too."""

    customer: str
    payment_method: str
    amount: int
    currency: str = "ils"
    description: str | None = None
    installments: int | None = None
    metadata: Mapping[str, Any] | None = None
    idempotency_key: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ChargeParams:
        """Params from a mapping with the same keys; unknown keys are an error."""
        if not isinstance(data, Mapping):
            raise InvalidParameterError(
                f"a bulk item must be ChargeParams or a mapping, got {type(data).__name__}"
            )
        unknown = set(data) - _PARAM_NAMES
        if unknown:
            raise InvalidParameterError(f"unknown charge field(s): {', '.join(sorted(unknown))}")
        missing = {"customer", "payment_method", "amount"} - set(data)
        if missing:
            raise InvalidParameterError(f"missing charge field(s): {', '.join(sorted(missing))}")
        return cls(**data).validated()

    def validated(self) -> ChargeParams:
        """Run the same checks `charges.create` runs, before anything is sent."""
        CHARGE_FIELDS.body_of(self.create_kwargs())
        if self.metadata is not None:  # checked apart by charges.create too (see `marked`)
            check_metadata("metadata", self.metadata)
        return self

    def create_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of `charges.create` for this item."""
        return {
            "customer": self.customer,
            "payment_method": self.payment_method,
            "amount": self.amount,
            "currency": self.currency,
            "description": self.description,
            "installments": self.installments,
            "metadata": self.metadata,
        }


_PARAM_NAMES = frozenset(field.name for field in attrs.fields(ChargeParams))


def _parse(item: Any) -> ChargeParams:
    """The item as checked ChargeParams (InvalidParameterError or TypeError)."""
    if isinstance(item, ChargeParams):
        return item.validated()
    return ChargeParams.from_mapping(item)


def _journaled(params: ChargeParams) -> dict[str, Any]:
    """What the journal records of an item (PARAM_FIELDS), as charges.create sends it."""
    installments: Any = params.installments
    if isinstance(installments, Installments):
        installments = installments.count
    return {
        "customer": params.customer,
        "payment_method": params.payment_method,
        "amount": params.amount,
        "currency": params.currency.lower(),
        "installments": installments,
    }


@attrs.frozen(kw_only=True)
class ChargeResult:
    """The outcome of one bulk item."""

    index: int
    params: ChargeParams | Any
    outcome: Outcome
    idempotency_key: str
    attempts: int = 0
    charge: Charge | None = None
    error: ChingError | None = None
    # True when an earlier run of the job already finished this item.
    from_journal: bool = False
    # Set for journaled results too, where `charge` and `error` are not kept.
    charge_id: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        """True when the card was charged."""
        return self.outcome is Outcome.SUCCEEDED


@attrs.define
class BulkSummary:
    """Counts of a bulk job's results; `add` each result as it arrives."""

    succeeded: int = 0
    declined: int = 0
    failed: int = 0
    unknown: int = 0
    from_journal: int = 0
    amount_charged: int = 0  # agorot, succeeded items only

    def add(self, result: ChargeResult) -> None:
        """Count one result."""
        setattr(self, result.outcome.value, getattr(self, result.outcome.value) + 1)
        self.from_journal += result.from_journal
        if result.outcome is Outcome.SUCCEEDED:
            self.amount_charged += _charged_amount(result)

    @property
    def total(self) -> int:
        """Results counted, of every outcome."""
        return self.succeeded + self.declined + self.failed + self.unknown

    @property
    def all_succeeded(self) -> bool:
        """True when every result counted was charged."""
        return self.total == self.succeeded


def _charged_amount(result: ChargeResult) -> int:
    if result.charge is not None:
        return result.charge.amount_captured or result.charge.amount
    return result.params.amount if isinstance(result.params, ChargeParams) else 0


# A charge's status -> (outcome, final). charges.create always captures, so
# only `succeeded` is charged and only `failed` is declined. `canceled` is not
# charged. Every other status (pending, processing, requires_capture, or one
# this version does not know) has not settled: it may still become charged or
# not, so it is unknown. None of those is final: a re-run looks the item up by
# its key and classifies the charge it finds then (it never sends it again).
_CHARGE_OUTCOMES: dict[str, tuple[Outcome, bool]] = {
    ChargeStatus.SUCCEEDED: (Outcome.SUCCEEDED, True),
    ChargeStatus.FAILED: (Outcome.DECLINED, True),
    ChargeStatus.CANCELED: (Outcome.FAILED, False),
}


def classify_charge(charge: Charge) -> tuple[Outcome, bool]:
    """(outcome, final) of a charge the server returned for an item."""
    return _CHARGE_OUTCOMES.get(charge.status, (Outcome.UNKNOWN, False))


def classify_error(error: ChingError) -> tuple[Outcome, bool]:
    """(outcome, final). Non-final outcomes are looked up again on a re-run."""
    if isinstance(error, CardDeclinedError):
        return Outcome.DECLINED, True
    if getattr(error, "outcome_unknown", False):
        return Outcome.UNKNOWN, False
    if isinstance(error, InvalidParameterError):
        return Outcome.FAILED, True
    # A 4xx is the server's final word on the item, except when it is about
    # the caller (a wrong or inactive key: 401, 403) or the rate (429): a re-run
    # with the key fixed must charge those items.
    final = (
        isinstance(error, APIError)
        and error.status is not None
        and 400 <= error.status < 500
        and error.status not in (401, 403, 429)
    )
    return Outcome.FAILED, final


def _error_summary(error: ChingError) -> dict[str, Any]:
    return {
        "type": type(error).__name__,
        "status": getattr(error, "status", None),
        "code": getattr(error, "code", None),
        "message": str(error),
    }


class _ItemSource:
    """Hands out (index, item) pairs lazily to the workers, each item's key
    claimed (see _KeyClaims) and the item vetted (checked against the
    journal) before it is handed out, in order."""

    def __init__(
        self,
        items: Iterable[Any] | AsyncIterable[Any],
        claims: _KeyClaims,
        order: _SendOrder,
        vet: Callable[[int, Any], None],
    ) -> None:
        check_items(items)
        self._sync = iter(items) if isinstance(items, Iterable) else None
        self._async = aiter(items) if isinstance(items, AsyncIterable) else None
        self._lock = asyncio.Lock()
        self._next_index = 0
        self._claims = claims
        self._order = order
        self._vet = vet  # raises for an item that must not be handed out

    async def next(self) -> tuple[int, Any] | None:
        if self._sync is not None:
            item = next(self._sync, _END)
        else:
            assert self._async is not None
            async with self._lock:
                item = await anext(self._async, _END)
        if item is _END:
            return None
        index = self._next_index
        self._next_index += 1
        self._order.handed_out(index)
        self._claims.claim(index, item)
        self._vet(index, item)
        return index, item


class _KeyClaims:
    """Refuses a second item with an idempotency key an earlier item of the
    job has: the server would answer it with the first item's charge (or,
    with `assume_new`, make a second charge under the key), so it must never
    be sent.

    Remembers only keys items bring themselves: `<job_id>:<index>` keys are
    distinct by construction, so a job without its own keys keeps nothing
    here (memory stays bounded by `concurrency`). Per run, never read from
    the journal: a resumed run's items claim the same keys afresh.
    """

    def __init__(self, job_id: str, *, up_front: bool = False) -> None:
        self._prefix = f"{job_id}:"
        self._up_front = up_front
        self._owners: dict[str, int] = {}  # an item's own key -> its index
        self._own_indexes: set[int] = set()  # the items that brought a key

    def claim(self, index: int, item: Any) -> None:
        own = _own_key(item)
        if own is None:
            if self._owners:  # else no item brought a key: nothing to compare
                key = f"{self._prefix}{index}"
                self._refuse(key, self._owners.get(key), index, by_default=index)
            return
        first, by_default = self._owners.get(own), None
        n = self._default_index(own)
        if first is None and n is not None and n < index and n not in self._own_indexes:
            first = by_default = n  # item n brought no key: this one is its by default
        self._refuse(own, first, index, by_default=by_default)
        self._owners[own] = index
        self._own_indexes.add(index)

    def _refuse(self, key: str, first: int | None, index: int, *, by_default: int | None) -> None:
        if first is None:
            return
        how = "" if by_default is None else f" (item {by_default}'s by default, <job_id>:<index>)"
        refused = (
            "the job was refused, nothing was sent"
            if self._up_front
            else f"the job stopped before sending item {index}"
        )
        raise InvalidParameterError(
            f"items {first} and {index} of bulk job {self._prefix[:-1]!r} both have "
            f"idempotency key {key!r}{how}: one key makes one charge, so each item "
            f"needs its own; {refused}"
        )

    def positional(self, key: str) -> bool:
        """True for a key of the form `<job_id>:<n>`: an item's by default, or
        one brought as the same (scaleout's items carry theirs so)."""
        return self._default_index(key) is not None

    def _default_index(self, key: str) -> int | None:
        """n when `key` is the key item n gets by default, else None."""
        if not key.startswith(self._prefix):
            return None
        digits = key[len(self._prefix) :]
        if not (digits.isascii() and digits.isdigit()) or str(int(digits)) != digits:
            return None
        return int(digits)


def _own_key(item: Any) -> str | None:
    """The idempotency key an item brings itself, if any (an invalid item's
    too: the job's items must not repeat a key, whichever is sent)."""
    if isinstance(item, ChargeParams):
        key = item.idempotency_key
    elif isinstance(item, Mapping):
        key = item.get("idempotency_key")
    else:
        return None
    return key if isinstance(key, str) else None


def _check_keys_up_front(items: object, job_id: str) -> None:
    """A job given as a collection (a list, a tuple, ...) is in memory
    already: refuse a repeated key before anything is sent."""
    if isinstance(items, Collection):
        claims = _KeyClaims(job_id, up_front=True)
        for index, item in enumerate(items):
            claims.claim(index, item)


class _SendOrder:
    """An item that was looked up is sent only once every earlier item has
    been looked up (or needed no lookup): a lookup that finds an earlier
    item's key used for another item stops the job (see _Job._look_up), and
    a later item may be that other item, charged under its old key, whose
    own key is new. Lookups run concurrently; only the sends wait.

    Holds the items handed out and not yet past that point, and the sends
    waiting: both at most `concurrency`.
    """

    def __init__(self) -> None:
        self._undecided: set[int] = set()
        self._waiting: list[tuple[int, asyncio.Future[None]]] = []  # a heap by index
        self._stopped = False

    def handed_out(self, index: int) -> None:
        self._undecided.add(index)

    def decided(self, index: int) -> None:
        """Item `index` was looked up, or needed no lookup."""
        self._undecided.discard(index)
        if self._waiting:
            lowest = min(self._undecided, default=None)
            while self._waiting and (lowest is None or self._waiting[0][0] < lowest):
                _, turn = heapq.heappop(self._waiting)
                if not turn.done():
                    turn.set_result(None)

    async def turn(self, index: int) -> bool:
        """Wait until every item before `index` is decided; False once the job stops."""
        if not self._stopped and any(other < index for other in self._undecided):
            turn = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiting, (index, turn))
            await turn
        return not self._stopped

    def stop(self) -> None:
        self._stopped = True
        for _, turn in self._waiting:
            if not turn.done():
                turn.set_result(None)
        self._waiting.clear()


_END = object()
_DONE = object()
_CLOSING: set[asyncio.Task[None]] = set()  # closes of runs dropped unclosed


class _CustomerGate:
    """At most one item per customer at a time (when enabled)."""

    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled
        self._busy: dict[str, asyncio.Event] = {}

    @contextlib.asynccontextmanager
    async def hold(self, customer: str) -> AsyncIterator[None]:
        if not self._enabled:
            yield
            return
        while (busy := self._busy.get(customer)) is not None:
            await busy.wait()
        released = self._busy[customer] = asyncio.Event()
        try:
            yield
        finally:
            del self._busy[customer]
            released.set()


class BulkOptions(TypedDict, total=False):
    """`charges.create_many`'s options: BulkRun's keyword arguments, with its defaults."""

    job_id: Required[str]
    concurrency: int
    rate_limit: float | None
    journal: str | os.PathLike[str] | None
    one_per_customer: bool
    assume_new: bool
    shutdown_grace: float
    item_rate_limit: float | None
    on_settle_wait: Callable[[float, int], None] | None


class BulkRun:
    """An async iterator of ChargeResult, in completion order.

    Use `async with charges.create_many(...) as run: async for result in run`
    (or consume it fully) so that an early exit shuts the job down cleanly.
    At most `concurrency` items are started ahead of the results taken, so a
    run that is no longer read sends nothing new; one dropped without being
    closed stops taking items and closes itself (with a ResourceWarning).
    """

    def __init__(
        self,
        requester: Requester,
        charges: Callable[[Requester], ChargeCalls],
        items: Iterable[Any] | AsyncIterable[Any],
        **options: Unpack[BulkOptions],
    ) -> None:
        self._job = _Job(requester, charges, items, **options)
        self.job_id = self._job.job_id

    def __repr__(self) -> str:
        return f"<ching_async.BulkRun job_id={self.job_id!r}>"

    def __aiter__(self) -> BulkRun:
        return self

    async def __anext__(self) -> ChargeResult:
        return await self._job.next_result()

    async def __aenter__(self) -> BulkRun:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop taking items, let in-flight ones settle, record the rest, close."""
        await self._job.aclose()

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        # As asyncio's transports and aiohttp's sessions do: a ResourceWarning,
        # and the resource closed anyway. The workers hold the job, not this
        # object, so the caller's last reference going away lands here.
        job: _Job | None = getattr(self, "_job", None)  # None: __init__ raised
        if job is not None and job.abandon():
            _warn(
                f"bulk run {self.job_id!r} was dropped before it ended, without being "
                "closed: it takes no new item and closes as aclose() would (use "
                "`async with charges.create_many(...) as run`, or call aclose())",
                ResourceWarning,
                source=self,
            )


class _Job:
    """The engine behind a BulkRun: its workers, journal and results."""

    def __init__(
        self,
        requester: Requester,
        charges: Callable[[Requester], ChargeCalls],
        items: Iterable[Any] | AsyncIterable[Any],
        *,
        job_id: str,
        concurrency: int = 16,
        rate_limit: float | None = None,
        journal: str | os.PathLike[str] | None = None,
        one_per_customer: bool = True,
        assume_new: bool = False,
        shutdown_grace: float = 5.0,
        item_rate_limit: float | None = None,
        on_settle_wait: Callable[[float, int], None] | None = None,
    ) -> None:
        check_job_id(job_id)
        check_count("concurrency", concurrency)
        if rate_limit is not None:
            check_rate("rate_limit", rate_limit)
        if item_rate_limit is not None:
            check_rate("item_rate_limit", item_rate_limit, unit="items/s")
        if on_settle_wait is not None and not callable(on_settle_wait):
            raise InvalidParameterError(
                f"on_settle_wait must be callable, got {type(on_settle_wait).__name__}"
            )
        _check_keys_up_front(items, job_id)
        self._order = _SendOrder()
        self._claims = _KeyClaims(job_id)
        self._source = _ItemSource(items, self._claims, self._order, self._check_position)
        self._requester = requester
        self.job_id = job_id
        self._concurrency = concurrency
        self._journal_path = journal
        self._journal: Journal | None = None
        self._assume_new = check_flag("assume_new", assume_new)
        self._gate = _CustomerGate(check_flag("one_per_customer", one_per_customer))
        # A server's Retry-After pauses the job at most as long as a single
        # call would wait for it (RetryPolicy.max_retry_after).
        self._pacer = Pacer(_limiter(rate_limit), max_pause=requester.retry_policy.max_retry_after)
        self._item_limiter = _limiter(item_rate_limit)
        self._on_settle_wait = on_settle_wait
        self._settle_reported = False
        # The job's calls: the client's, each attempt paced job-wide.
        self._charges = charges(requester.with_attempt_middleware(self._pacer.middleware))
        self._grace = check_seconds("shutdown_grace", shutdown_grace)
        # Results not yet taken, and items started: at most `concurrency` in
        # all. A worker takes a slot before it takes an item; the caller taking
        # a result frees it. (So the queue itself needs no bound.)
        self._results: asyncio.Queue[Any] = asyncio.Queue()
        self._slots = asyncio.Semaphore(concurrency)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._live_workers = 0
        self._stopping = False
        self._closed = False
        self._fatal: BaseException | None = None
        self._unknowns = 0  # unknown outcomes of sends this run (they may still be settling)
        self._newest: Snapshot | None = None  # see _project_newest
        self._reading_newest = asyncio.Lock()

    # ------------------------------------------------------------ iteration
    async def next_result(self) -> ChargeResult:
        if self._closed:
            raise StopAsyncIteration
        if not self._workers:
            self._start()
        try:
            result = await self._results.get()
        except asyncio.CancelledError:
            await self.aclose()
            raise
        if result is _DONE:
            await self.aclose()
            if self._fatal is not None:
                raise self._fatal
            raise StopAsyncIteration
        assert isinstance(result, ChargeResult)
        self._slots.release()  # taken: a worker may start another item
        return result

    def _start(self) -> None:
        if self._journal_path is not None:
            self._journal = Journal(
                self._journal_path,
                job_id=self.job_id,
                concurrency=self._concurrency,
                outcomes=frozenset(Outcome),
            )
        self._loop = asyncio.get_running_loop()  # begun (a refused journal is not)
        # Each worker in a context of its own: state one call keeps in a
        # ContextVar (a user middleware's, say) is never read by another's.
        self._live_workers = self._concurrency
        self._workers = [
            asyncio.create_task(self._worker(), context=contextvars.copy_context())
            for _ in range(self._concurrency)
        ]

    # --------------------------------------------------------------- workers
    async def _worker(self) -> None:
        try:
            while await self._take_slot():
                item = await self._source.next()
                result = None if item is None or self._stopping else await self._process(*item)
                if result is None:  # no more items, or the run stopped meanwhile
                    self._slots.release()
                    break
                self._results.put_nowait(result)
        except Exception as exc:  # the caller's iterator (or a bug) failed: stop the job
            self._fatal = self._fatal or exc
            self._stopping = True
            self._wake_workers()
        self._live_workers -= 1
        if self._live_workers == 0 and not self._closed:
            self._results.put_nowait(_DONE)

    async def _take_slot(self) -> bool:
        """Wait for a free result slot; False once the run is stopping."""
        await self._slots.acquire()
        if self._stopping:
            self._slots.release()
            return False
        return True

    def _wake_workers(self) -> None:
        """Workers waiting for a slot, and items waiting for their turn to be
        sent, see that the run stops (the semaphore's count no longer matters
        then)."""
        self._order.stop()
        for _ in range(self._concurrency):
            self._slots.release()

    def _halt(self, error: ChingError) -> None:
        """Stop the job: nothing is started or sent after this; the items in
        flight end as usual, then iterating the run raises `error`."""
        self._fatal = self._fatal or error
        self._stopping = True
        self._wake_workers()

    async def _process(self, index: int, item: Any) -> ChargeResult | None:
        """The item's result; None when the run stopped before it was sent."""
        try:
            checked = await self._check(index, item)
        finally:
            self._order.decided(index)
        if not isinstance(checked, _ToSend):
            return checked
        pending = checked.item
        if checked.looked_up and not await self._order.turn(index):
            return None
        async with self._gate.hold(pending.params.customer):
            if self._item_limiter is not None:
                await self._item_limiter.acquire()
            if self._stopping:  # stopped while it waited for its customer or the pace
                return None
            return await self._send(pending)

    async def _check(self, index: int, item: Any) -> ChargeResult | _ToSend | None:
        """The item checked, and looked up if an earlier run may have sent it:
        its result when that ends it, else what to send (None: stopped)."""
        try:
            params = _parse(item)
        except (InvalidParameterError, TypeError) as exc:
            error = exc if isinstance(exc, ChingError) else InvalidParameterError(str(exc))
            return self._finish(
                _pending(index, item, f"{self.job_id}:{index}"), error=error, invalid=True
            )
        journal = self._journal
        if journal is not None and index in journal.final:
            return _journaled_result(index, params, journal.final[index])
        pending = _pending(index, params, self._key(index, params))
        if not self._in_doubt(index):  # no run sent it
            return _ToSend(pending, looked_up=False)
        return await self._look_up(pending)

    async def _look_up(self, item: ChargeResult) -> ChargeResult | _ToSend | None:
        """Look up by its key an item an earlier run may have sent, as
        charges.create looks up a caller's key: its result when found (or
        when the lookup cannot tell), else what to send."""
        params, key = item.params, item.idempotency_key
        try:
            await self._let_orphans_settle()
            charge = await self._charges.find_created(
                key, params.create_kwargs(), self._project_newest
            )
        except IdempotencyKeyReusedError as exc:
            if not self._claims.positional(key):
                # A key of the item's own, used for other parameters: this
                # item is refused, as charges.create refuses it; such keys
                # travel with their items, whatever their order.
                return self._finish(item, error=exc)
            found = "found by its key"
            self._halt(self._refused(item.index, key, exc.differences, exc.found_id, found, exc))
            return None
        except ChingError as exc:
            # It may have been charged and we could not look: unknown,
            # never "failed" (which a re-run could take as final). This
            # run sent nothing for it (an earlier run's sends had settled
            # before the lookup), so it leaves nothing in flight.
            return self._finish(item, error=exc, in_doubt=True)
        except asyncio.CancelledError:
            # Also in the settle wait: the earlier run's sends may not have
            # settled, so this run must not close as if nothing were in flight.
            self._interrupted(item)
            raise
        if charge is not None:
            return self._finish(item, charge=charge)
        return _ToSend(item, looked_up=True)

    async def _send(self, item: ChargeResult) -> ChargeResult:
        """Charge an item that no run sent, or that a lookup proved absent."""
        index, params, key = item.index, item.params, item.idempotency_key
        if self._journal is not None:
            self._journal.record_start(index, key, _journaled(params))
        try:
            charge = await self._charges.create(
                **params.create_kwargs(), idempotency_key=key, assume_new=True
            )
        except ChingError as exc:
            return self._finish(item, error=exc)
        except asyncio.CancelledError:
            # Cancelled mid-request: it may have been sent. A re-run looks it up.
            self._interrupted(item)
            raise
        return self._finish(item, charge=charge)

    def _interrupted(self, item: ChargeResult) -> None:
        self._unknowns += 1
        self._record(item, final=False)

    def _check_position(self, index: int, item: Any) -> None:
        """Refuse an item that is not the one an earlier run used its key for,
        by the journal's `params` (as it is handed out: neither it nor a later
        item is sent). A record without them (an older journal) cannot be
        compared: the item is taken for the one recorded, as before."""
        journal = self._journal
        recorded = None if journal is None else journal.fingerprint_of(index)
        if recorded is None:
            return
        try:
            params: ChargeParams | None = _parse(item)
        except (InvalidParameterError, TypeError):
            params = None
        if params is None or fingerprint(_journaled(params), self._key(index, params)) != recorded:
            raise self._moved(index, params)

    def _key(self, index: int, params: ChargeParams) -> str:
        """The idempotency key item `index` is sent with."""
        return params.idempotency_key or f"{self.job_id}:{index}"

    def _moved(self, index: int, params: ChargeParams | None) -> IdempotencyKeyReusedError:
        """The error of item `index`, not the item the journal recorded for its key."""
        journal = self._journal
        assert journal is not None
        record, charge_id = journal.recorded(index)
        was: Mapping[str, Any] = record.get("params") or {} if record else {}
        now = {} if params is None else _journaled(params)
        differ = [(name, now.get(name), was.get(name)) for name in PARAM_FIELDS]
        key = record.get("key") if record else None
        if params is not None and key is not None:
            differ.append(("idempotency_key", self._key(index, params), key))
        where = f"journal {str(journal.path)!r}"
        if params is None:
            where = f"this item is not a valid charge; {where}"
        return self._refused(
            index,
            str(key or f"{self.job_id}:{index}"),
            [(name, sent, found) for name, sent, found in differ if sent != found],
            charge_id,
            where,
        )

    def _refused(
        self,
        index: int,
        key: str,
        differences: Sequence[tuple[str, Any, Any]],
        found_id: str | None,
        where: str,
        cause: BaseException | None = None,
    ) -> IdempotencyKeyReusedError:
        """The error that stops the job at item `index`, whose `key` an earlier
        run used for another item (`found_id`, as `where` shows)."""
        shown = ", ".join(
            f"{name} {found!r} (this item: {sent!r})" for name, sent, found in differences
        )
        made = f"; it made {found_id}" if found_id else ""
        error = IdempotencyKeyReusedError(
            f"bulk job {self.job_id!r} stopped before sending item {index}: an earlier run "
            f"used its idempotency key {key!r} for another item, with {shown or 'other values'}"
            f" ({where}{made}). Keys are matched to items by position (<job_id>:<index>), so "
            "the items were reordered or edited since, and a later item may be one charged "
            "under another key: nothing more is sent. Resume with the items in their first "
            "order, or charge the changed ones as a new job (another job_id)",
            status=400,
            code=KEY_REUSED,
            issues=[
                {
                    "path": name,
                    "code": KEY_REUSED,
                    "message": f"this item has {sent!r}; the key's item had {found!r}",
                    "sent": sent,
                    "found": found,
                    "found_id": found_id,
                }
                for name, sent, found in differences
            ],
        )
        error.__cause__ = cause
        return error

    async def _let_orphans_settle(self) -> None:
        """Wait until requests a dead run left in flight have surely ended.

        The server may still be processing a killed process's last requests;
        a lookup before they end could miss a charge that is about to exist.
        An item's call (re-sends included) ends within total_timeout of its
        start record, and the server may still commit its last send up to
        RetryPolicy.settle later (the rule a live call follows before an empty
        lookup proves absence), or one attempt timeout when the policy is
        instant; the last journal write bounds the last start.
        With no journal, or a new one, nothing bounds when an earlier run died,
        and nothing is waited for (see README, "Look up before sending").
        """
        journal = self._journal
        if journal is None or journal.last_written is None or journal.closed_cleanly:
            return
        if not journal.has_history:
            # No job record (an empty or unreadable file): no earlier run
            # started an item here, so none can be in flight.
            return
        calls = self._requester
        policy = calls.retry_policy
        settle = calls.timeout if policy.instant else max(calls.timeout, policy.settle)
        wait = journal.last_written + calls.total_timeout + settle - time.time()
        if wait > 0:
            if not self._settle_reported:  # once: every worker waits for the same moment
                self._settle_reported = True
                if self._on_settle_wait is not None:
                    self._on_settle_wait(wait, len(journal.in_doubt))
            await asyncio.sleep(wait)

    async def _project_newest(self) -> Snapshot:
        """The project's 100 newest charges, read (one GET, paced as the run's
        calls are) when a lookup first needs them (an item its customer's
        charges lack) and kept for the run: an item's key found there on a
        charge made with other parameters (another customer) refuses it as
        the customer's charges would (see _look_up). Once per run is all that
        serves: after this run's own charges the newest would show less of an
        earlier run's, never more, and an item's key is not there before the
        item is sent (one item per key, _KeyClaims)."""
        async with self._reading_newest:  # the lookups in flight wait for one read
            if self._newest is None:
                self._newest = await self._charges.newest()
        return self._newest

    def _in_doubt(self, index: int) -> bool:
        """May an earlier run of this job have sent item `index`?"""
        journal = self._journal
        if journal is not None and journal.has_history:
            return journal.is_in_doubt(index)
        # No journal, or a new one (another directory, a deleted file): only
        # the caller can say the job id was never run before.
        return not self._assume_new

    def _finish(
        self,
        item: ChargeResult,
        *,
        charge: Charge | None = None,
        error: ChingError | None = None,
        in_doubt: bool = False,
        invalid: bool = False,
    ) -> ChargeResult:
        if charge is not None:
            # Not final unless settled; a charge in hand leaves nothing in flight.
            outcome, final = classify_charge(charge)
            attempts = charge.request_info.attempts if charge.request_info else 1
        else:
            assert error is not None
            outcome, final = classify_error(error)
            if in_doubt:
                outcome, final = Outcome.UNKNOWN, False
            elif outcome is Outcome.UNKNOWN:
                self._unknowns += 1
            attempts = getattr(error, "attempts", 0)
        result = attrs.evolve(
            item,
            outcome=outcome,
            attempts=attempts,
            charge=charge,
            error=error,
            charge_id=charge.id if charge is not None else None,
            error_message=str(error) if error is not None else None,
        )
        self._record(result, final=final, invalid=invalid)
        return result

    def _record(self, result: ChargeResult, *, final: bool, invalid: bool = False) -> None:
        """`invalid`: the item is not a valid charge (its params are not recorded)."""
        if self._journal is None:
            return
        charge, error = result.charge, result.error
        self._journal.record_done(
            result.index,
            result.idempotency_key,
            outcome=result.outcome.value,
            final=final,
            attempts=result.attempts,
            charge=charge.raw if charge is not None else None,
            error=_error_summary(error) if error is not None else None,
            params=None if invalid else _journaled(result.params),
        )

    # --------------------------------------------------------------- closing
    async def aclose(self) -> None:
        """Stop taking items, let in-flight ones settle, record the rest, close."""
        if self._closed:
            return
        self._closed = True
        self._stopping = True
        self._wake_workers()  # those waiting for a slot end now
        pending = {task for task in self._workers if not task.done()}
        try:
            if pending:
                _, pending = await asyncio.wait(pending, timeout=self._grace)
        finally:
            # Also when this wait is itself cancelled (a second Ctrl-C): no
            # worker may outlive the run, and the journal must be closed.
            for task in pending:
                task.cancel()
            await asyncio.shield(self._finish_closing(clean=not pending))

    async def _finish_closing(self, *, clean: bool) -> None:
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._drain()
        if self._journal is not None:
            # Nothing was left in flight: a resume need not wait for orphans.
            self._journal.close(clean=clean and not self._unknowns)

    def _drain(self) -> None:
        while not self._results.empty():
            self._results.get_nowait()

    def abandon(self) -> bool:
        """The BulkRun was dropped unclosed (in any thread): take no new item
        and close as aclose() would, in the run's loop. True if it had begun
        and not ended (what its ResourceWarning is about)."""
        loop = self._loop
        if loop is None or self._closed:
            return False
        self._stopping = True  # read by the workers before each new item
        try:
            loop.call_soon_threadsafe(self._close_abandoned)
        except RuntimeError:  # the loop is closed, its tasks gone: only the journal is left
            if self._journal is not None:
                self._journal.close()
        return True

    def _close_abandoned(self) -> None:
        task = asyncio.get_running_loop().create_task(self.aclose())
        _CLOSING.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(_CLOSING.discard)


class _ToSend(NamedTuple):
    """An item to send: no run sent it (`looked_up` False), or a lookup proved it absent."""

    item: ChargeResult
    looked_up: bool


def _pending(index: int, params: Any, key: str) -> ChargeResult:
    """An item's result before its call ends: unknown (it may be sent)."""
    return ChargeResult(index=index, params=params, outcome=Outcome.UNKNOWN, idempotency_key=key)


def _journaled_result(index: int, params: ChargeParams, done: FinishedItem) -> ChargeResult:
    return ChargeResult(
        index=index,
        params=params,
        outcome=Outcome(done.outcome),
        idempotency_key=done.key,
        attempts=done.attempts,
        from_journal=True,
        charge_id=done.charge_id,
        error_message=done.error,
    )


def _limiter(rate: float | None) -> Any:
    if rate is None:
        return None
    from aiolimiter import AsyncLimiter  # imported only by jobs that ask for a limit

    # max_rate per 1-second period, with a bucket of one period's worth.
    return AsyncLimiter(rate, 1.0)
