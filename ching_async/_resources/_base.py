"""What every resource group shares: the Requester its calls go through, one
decoded call, listing, and the exactly-once create of an object whose
duplicate would do harm (a charge, a refund, a discount rule, a product or
price): its idempotency key written into the object as the marker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, NamedTuple, TypedDict, TypeVar

import attrs

from .._decode import decode_item, decode_list, decode_model, list_data, request_info
from .._errors import OutcomeUnknownError
from .._idempotency import (
    check_settled,
    differences,
    idempotency_key_for,
    look_first_for,
    with_marker,
)
from .._listing import AsyncList, Page
from .._messages import Response
from .._reconcile import Get, MarkerReconciler, Snapshot
from .._requester import Requester
from .._retry import Resend, RetryClass
from .._validation import check_flag, check_idempotency_key, check_metadata

T = TypeVar("T")


class Resource:
    """A group of endpoints. Each method validates its arguments, makes one
    call naming its retry class, and decodes."""

    def __init__(self, requester: Requester) -> None:
        self._requester = requester

    async def _call(
        self,
        cls: type[T],
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        retry: RetryClass | None = None,
        when_empty: Mapping[str, Any] | None = None,
        decode: Callable[[Response], T] | None = None,
    ) -> T:
        """One request (see Requester.request), its answer decoded as `cls`
        (`when_empty`: see decode_model), or by `decode` for an answer that
        is not one object. `idempotency_key` is the caller's: checked here."""
        if idempotency_key is not None:
            check_idempotency_key(idempotency_key)
        response = await self._requester.request(
            method, path, body=body, idempotency_key=idempotency_key, retry=retry
        )
        if decode is not None:
            return decode(response)
        return decode_model(response, cls, when_empty=when_empty)

    def _list(self, cls: type[T], path: str, query: Mapping[str, str] | None) -> AsyncList[T]:
        async def fetch_page() -> Page[T]:
            response = await self._requester.request("GET", path, query=query)
            info = request_info(response)
            return Page(
                raw_items=list_data(response, cls),
                decode_item=lambda raw: decode_item(response, cls, raw, info),
                decode_all=lambda raws: decode_list(response, cls, raws, info),
            )

        return AsyncList(fetch_page)

    async def _create_marked(
        self, cls: type[T], path: str, body: dict[str, Any], marked: Marked
    ) -> T:
        """POST a create that `marked` makes exactly-once (its key checked or
        made there: `_call`'s check is not repeated)."""
        if marked.metadata:
            body["metadata"] = marked.metadata
        try:
            response = await self._requester.request(
                "POST", path, body=body, idempotency_key=marked.key, retry=marked.retry
            )
            return decode_model(response, cls)
        except OutcomeUnknownError as exc:
            # One made where the reconciler is not known (an answer that cannot
            # be read) names the create's scope too, as the reconciler's own do:
            # find_by_idempotency_key needs it (charges: the customer).
            if exc.customer is None and not isinstance(marked.retry, Resend):
                exc.customer = marked.retry.customer
            raise

    async def _find_by_marker(
        self,
        cls: type[T],
        listed: Listed,
        key: str,
        within: str | None = None,
        *,
        body: Mapping[str, Any] | None = None,
        beyond: Callable[[], Awaitable[Snapshot]] | None = None,
    ) -> T | None:
        """The object listed where `listed` says (narrowed to `within`, the
        value of its filter, if it has one) created with idempotency key
        `key`, or None when the list proves there is none: the lookup of
        reconciliation (MarkerReconciler.find), each GET a call of its own.

        With a create's `body`, the lookup that create makes for a caller's
        key before its first send: beyond the scope too (the key used for
        another customer), and an object the key made with other parameters
        is not returned but raises IdempotencyKeyReusedError, as the create
        would (one rule, MarkerReconciler.answer). `beyond`: the list beyond
        the scope already read (`Listed.newest`), when a lookup needs it."""
        check_idempotency_key(key)
        finder = listed.finder(key, within)
        if body is not None:
            finder = listed.finder(
                key, within, same=listed.same, body=body, keyed=True, beyond=beyond
            )
        seen = await self._seek(finder)
        if seen is None:
            return None
        response, found = seen
        if body is not None and differences(finder.asked, found):
            # The create's answer: the 400 idempotency_key_reused, raised.
            return decode_model(finder.answer(response.request, response, found), cls)
        return decode_item(response, cls, found, request_info(response))

    async def _seek(self, finder: MarkerReconciler) -> tuple[Response, Mapping[str, Any]] | None:
        """`finder.find`, each GET a call of its own; None only when absence is
        proven (LookupInconclusiveError while a call with the key may still
        be committing)."""
        seen = await finder.find(self._get)
        if seen is None:
            check_settled(finder.idempotency_key, self._requester.settling(finder.idempotency_key))
        return seen

    def _get(self, path: str, query: tuple[tuple[str, str], ...]) -> Awaitable[Response]:
        return self._requester.request("GET", path, query=dict(query))


class Marking(TypedDict, total=False):
    """The idempotency options of an exactly-once create (charges.create
    documents them): `marked`'s keyword arguments, with its defaults."""

    idempotency_key: str | None
    mark_idempotency_key: bool
    on_full_window: Literal["raise", "send"]
    assume_new: bool


class Marked(NamedTuple):
    """How one create is made exactly-once."""

    key: str  # its idempotency key (the caller's or a new one)
    metadata: dict[str, Any]  # the caller's, plus the marker unless marking is off
    retry: RetryClass  # a MarkerReconciler, or Resend.NEVER without the marker


@attrs.frozen
class Listed:
    """Where a resource's exactly-once creates are found by their marker, and
    what makes a found one a create's result: declared once per resource."""

    path: str  # the list, e.g. "/charges"
    # The list's filter that narrows a lookup to the create's own scope, if it
    # has one: "customer" (`?customer=`, a charge's customer), "product" (a
    # price's product). The lookup reads the 100 newest of that scope. A
    # create's body names its scope under this name (and `same` lists it).
    by: str | None = None
    # Sent with every lookup: prices are listed active only unless `active=all`.
    always: tuple[tuple[str, str], ...] = ()
    # A found object that records a refusal (a failed charge): answered as the
    # 402 the create would have returned.
    declined: Callable[[Mapping[str, Any]], bool] | None = None
    # The list shows rows only (subscriptions): a found object is read again in
    # full. Not with `by`: beyond the scope rows are compared as listed (Snapshot).
    reread: bool = attrs.field(default=False)
    # The create's fields (dotted when nested) that an object its key made
    # must show alike, where the call sent them, to be its result; else the
    # key was used with other parameters: IdempotencyKeyReusedError. Only
    # fields the server echoes as sent and no update changes afterwards (an
    # object renamed since must not refuse a re-run of its create).
    same: tuple[str, ...] = ()

    @reread.validator
    def _scoped_lists_whole(self, _: object, reread: bool) -> None:
        if reread and self.by is not None:
            raise TypeError(f"Listed {self.path!r}: reread with `by` is not supported")

    def finder(
        self,
        key: str,
        within: str | None,
        *,
        same: tuple[str, ...] = (),
        body: Mapping[str, Any] | None = None,
        look_first: bool = False,
        keyed: bool = False,
        on_full_window: Literal["raise", "send"] = "raise",
        beyond: Callable[[], Awaitable[Snapshot]] | None = None,
    ) -> MarkerReconciler:
        """What looks for the object created with `key` (narrowed to `within`):
        the retry class of a marked create (its `same` fields, compared as
        `body` sends them), and find_by_idempotency_key's lookup. A caller's key (`keyed`)
        is also looked for beyond the scope (used for another customer): in
        `beyond` when given (see MarkerReconciler.beyond), else by a GET."""
        return MarkerReconciler(
            list_path=self.path,
            idempotency_key=key,
            customer=within if self.by == "customer" else None,
            query=self.query(within),
            declined=self.declined,
            reread=self.reread,
            same=same,
            body={} if body is None else body,
            wider=self.always if keyed and self.by is not None else None,
            beyond=beyond,
            look_first=look_first,
            keyed=keyed,
            on_full_window=on_full_window,
        )

    def newest(self, get: Get) -> Awaitable[Snapshot]:
        """The list beyond any scope (a `wider` lookup's) read once, by marker."""
        return Snapshot.take(get, self.path, self.always)

    def query(self, within: str | None) -> tuple[tuple[str, str], ...]:
        """A lookup's query: `always`, and `by` set to `within` if given."""
        if self.by is None or within is None:
            return self.always
        return ((self.by, within), *self.always)


def marked(
    listed: Listed,
    body: Mapping[str, Any],
    metadata: Mapping[str, Any] | None,
    *,
    idempotency_key: str | None = None,
    mark_idempotency_key: bool = True,
    on_full_window: Literal["raise", "send"] = "raise",
    assume_new: bool = False,
) -> Marked:
    """Check a create's idempotency options, and choose its key and retry class:
    the marker in its metadata and a MarkerReconciler that looks for it where
    `listed` says (narrowed to the `body`'s value of `listed.by`), taking a
    found object for this call's result only if it shows the `body`'s
    `listed.same` fields alike; or, with `mark_idempotency_key=False`, no
    marker and Resend.NEVER (an ambiguous failure raises, outcome unknown).

    The caller's other metadata is not compared: it is the caller's to
    change (an order's state, a retry count) and says nothing about what
    the object is; the marker, the key itself, is what is matched."""
    meta = {} if metadata is None else check_metadata("metadata", metadata)
    key = idempotency_key_for(idempotency_key)
    look_first = look_first_for(idempotency_key, on_full_window, assume_new)
    if not check_flag("mark_idempotency_key", mark_idempotency_key):
        return Marked(key, meta, Resend.NEVER)
    within = None if listed.by is None else body[listed.by]
    retry = listed.finder(
        key,
        within,
        same=listed.same,
        # As sent now: a refund fills its amount in later, uncompared.
        body=dict(body),
        look_first=look_first,
        keyed=idempotency_key is not None,
        on_full_window=on_full_window,
    )
    return Marked(key, with_marker(meta, key), retry)
