"""Reconciliation: after an ambiguous POST failure, find out whether it took effect.

CHING does not deduplicate by Idempotency-Key, so the client must. The retry
loop asks a call's reconciler before it ever re-sends a POST whose outcome is
unknown (and, for a caller's own key, before the first send); this module is
the only place that knows how.

- `MarkerReconciler`: the POST stored its idempotency key in the object's
  metadata (the marker, see _idempotency); list the recent objects (for
  charges: the customer's 100 newest) and look for it. A found object whose
  declared fields differ from this call's is not its result: the key was
  first used with other parameters, and the call is refused (a 400
  `idempotency_key_reused`, IdempotencyKeyReusedError).
- `StateReconciler`: capture/cancel/detach change an object's state; retrieve
  it and see whether it already is in the state the call asked for.
- `MatchReconciler`: a create that cannot carry the marker (a webhook
  endpoint has no metadata); list the recent objects and look for one with
  the fields the POST sent. What a find means is the caller's to say: a
  matching object may also have existed before the call.

`lookup` returns a Response holding the found object (the call's result), or
None when the POST provably did not take effect and may be sent again. It
raises an APIError/APIConnectionError when it cannot tell.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any, Literal, Protocol

import attrs
import orjson

from ._errors import ChingError
from ._idempotency import (
    IDEMPOTENCY_METADATA_KEY,
    Asked,
    asked_of,
    differences,
    find_by_marker,
    find_in_list,
    key_reused,
)
from ._messages import Handler, Request, Response, credential_headers
from ._protocol import decode_envelope, path_segment

__all__ = [
    "RESOLVE_BY_KEY",
    "Get",
    "MatchReconciler",
    "MarkerReconciler",
    "Reconciler",
    "Snapshot",
    "StateReconciler",
    "object_path",
]


# A GET of a path with a query, as a lookup sends it (see MarkerReconciler.find).
Get = Callable[[str, tuple[tuple[str, str], ...]], Awaitable[Response]]

# How OutcomeUnknownError tells a caller to settle a call in doubt.
RESOLVE_BY_KEY = "resolve it later by its idempotency key"


class Reconciler(Protocol):
    """How to find out whether a POST took effect."""

    # The end of OutcomeUnknownError's message: how to settle the doubt later.
    @property
    def resolve_hint(self) -> str: ...

    # Named on OutcomeUnknownError (charges.create: the customer), else None.
    @property
    def customer(self) -> str | None: ...

    # Look before the first send too (a caller's own idempotency key).
    @property
    def look_first(self) -> bool: ...

    # The key is the caller's own: one call with it at a time in a client,
    # and one an earlier call of the client used is looked up first even
    # when `look_first` is off (assume_new).
    @property
    def keyed(self) -> bool: ...

    # Before the first send, a full list that lacks the key: "raise" or "send".
    @property
    def on_full_window(self) -> Literal["raise", "send"]: ...

    # `sent`: a send of this call may have taken effect.
    async def lookup(self, request: Request, send: Handler, *, sent: bool) -> Response | None: ...


@attrs.frozen(kw_only=True)
class MarkerReconciler:
    """Find the object a POST created by the marker in its metadata.

    `declined(obj)` tells a found object that records a refusal (a failed
    charge): it is answered as the 402 the POST would have returned (by
    `lookup`, for the call in doubt; `find` returns it as it is). With
    `reread`, a found object is read again in full (`GET <list_path>/<id>`),
    for a list that shows rows only (subscriptions).

    `asked`: the create's declared fields as this call sent them. A found
    object that shows any of them otherwise was made by an earlier call with
    other parameters: `lookup` answers the 400 `idempotency_key_reused`
    (final: the loop returns a found answer, it never looks again or sends).
    `wider`: when the list is narrowed to the create's scope (a charge's
    customer), the query of a second lookup beyond it, made when the first
    finds nothing: the key used in another scope (for another customer) is
    refused too. It is best effort: beyond the scope the list is the
    project's 100 newest, and a full one without the key proves nothing.
    `beyond`: that list read once for many lookups (a Snapshot, the bulk
    engine's one per run), awaited only when needed, instead of a GET each.
    """

    list_path: str
    idempotency_key: str
    customer: str | None = None
    query: tuple[tuple[str, str], ...] = ()
    declined: Callable[[Mapping[str, Any]], bool] | None = None
    reread: bool = False
    # The create's declared fields (`Listed.same`) and its body as sent: read
    # only when a lookup finds something (`asked`), never on the way out.
    same: tuple[str, ...] = ()
    body: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)
    wider: tuple[tuple[str, str], ...] | None = None
    beyond: Callable[[], Awaitable[Snapshot]] | None = attrs.field(default=None, eq=False)
    look_first: bool = False
    keyed: bool = False
    on_full_window: Literal["raise", "send"] = "raise"
    resolve_hint: str = RESOLVE_BY_KEY

    @property
    def asked(self) -> Asked:
        """The `same` fields as this call sent them (see asked_of)."""
        return asked_of(self.same, self.body)

    async def lookup(self, request: Request, send: Handler, *, sent: bool) -> Response | None:
        def get(path: str, query: tuple[tuple[str, str], ...]) -> Awaitable[Response]:
            return send(_get(request, path, query))

        seen = await self._find(get, sent=sent)
        if seen is None:
            return None
        response, found = seen
        return self.answer(request, response, found)

    def answer(self, request: Request, lookup: Response, found: Mapping[str, Any]) -> Response:
        """What the create `request` gets for `found`, the object its key made
        (shown by the `lookup` response): the object; the 402 of a decline it
        records; or, when its declared fields differ from this call's, the 400
        `idempotency_key_reused`."""
        differ = differences(self.asked, found)
        if differ:
            error = key_reused(self.idempotency_key, found, differ)
            return _answer(request, lookup, 400, {"success": False, "error": error})
        if self.declined is not None and self.declined(found):
            return _declined(request, lookup, found)
        return _found(request, lookup, found)

    async def find(self, get: Get) -> tuple[Response, Mapping[str, Any]] | None:
        """The object marked with the key and the response that showed it, or
        None when the list proves there is none (errors as `find_by_marker`'s),
        looked for as before a first send (beyond the scope too, with `wider`).
        The one lookup by marker: `lookup` sends its GETs as attempts of the
        call in doubt, `find_by_idempotency_key` as calls of their own."""
        return await self._find(get, sent=False)

    async def _find(self, get: Get, *, sent: bool) -> tuple[Response, Mapping[str, Any]] | None:
        # After a send that may have taken effect, only this call's own object
        # counts: the key's object made with other parameters is neither its
        # result nor a reason to refuse it (its own may still be committing),
        # and a full list without its own proves nothing. Beyond the scope
        # (another customer) there is no object of this call to find.
        seen = await self._find_at(get, self.query, own_only=sent)
        if seen is None and self.wider is not None and not sent:
            newest = self.beyond or partial(Snapshot.take, get, self.list_path, self.wider)
            fits = self._fits if self.asked else None
            seen = (await newest()).find(self.idempotency_key, fits)
        return seen

    async def _find_at(
        self, get: Get, query: tuple[tuple[str, str], ...], *, own_only: bool = False
    ) -> tuple[Response, Mapping[str, Any]] | None:
        response = await get(self.list_path, query)
        # Of two objects with the key (one used twice), this call's own.
        fits = self._fits if self.asked else None
        found = find_by_marker(response, self.idempotency_key, fits, own_only=own_only)
        if found is None:
            return None
        if self.reread and isinstance(found.get("id"), str):
            response = await get(object_path(self.list_path, found["id"]), ())
            whole = decode_envelope(response)
            if isinstance(whole, dict):
                found = whole
        return response, found

    def _fits(self, item: Mapping[str, Any]) -> bool:
        return not differences(self.asked, item)


@attrs.frozen
class Snapshot:
    """One read of a list beyond a create's scope (`MarkerReconciler.wider`:
    the project's 100 newest charges), its marked objects by marker, so that
    any number of keys are looked for in it without reading it again. Rows
    are compared as listed (a `reread` list has no scope to look beyond).
    """

    response: Response | None = None  # None: the list could not be read
    marked: Mapping[str, tuple[Mapping[str, Any], ...]] = attrs.field(factory=dict, repr=False)

    @classmethod
    async def take(cls, get: Get, path: str, query: tuple[tuple[str, str], ...]) -> Snapshot:
        # Best effort: a list beyond the scope that cannot be read proves
        # nothing either way, nor does a full one without the key; the scope's
        # own list has proved absence (see `wider`). Its failure (the same
        # outage as a POST's, often) must not keep that proof from a call,
        # nor stop a bulk run: it is empty then.
        try:
            response = await get(path, query)
            rows = decode_envelope(response)
        except ChingError:
            return cls()
        marked: dict[str, list[Mapping[str, Any]]] = {}
        for row in rows if isinstance(rows, list) else ():
            metadata = row.get("metadata") if isinstance(row, dict) else None
            key = metadata.get(IDEMPOTENCY_METADATA_KEY) if isinstance(metadata, dict) else None
            if isinstance(key, str):
                marked.setdefault(key, []).append(row)
        return cls(response, {key: tuple(found) for key, found in marked.items()})

    def find(
        self, key: str, fits: Callable[[Mapping[str, Any]], bool] | None
    ) -> tuple[Response, Mapping[str, Any]] | None:
        """The object marked with `key` and the response that showed it, or
        None: of several, the first that `fits`, else the first (as
        `find_by_marker` picks)."""
        found = self.marked.get(key)
        if self.response is None or not found:
            return None
        return self.response, next((row for row in found if fits is None or fits(row)), found[0])


@attrs.frozen(kw_only=True)
class StateReconciler:
    """Retrieve an object and decide from its state whether the POST took effect.

    `settled(data)` is True when the object already shows the requested change.
    `answer(data)`, if given, makes the call's result from such an object
    (`subscriptions.change_price` answers a price change, not the subscription).
    """

    object_path: str
    settled: Callable[[Mapping[str, Any]], bool]
    answer: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None
    customer: str | None = None
    look_first: bool = False
    keyed: bool = False
    on_full_window: Literal["raise", "send"] = "raise"
    resolve_hint: str = RESOLVE_BY_KEY

    async def lookup(self, request: Request, send: Handler, *, sent: bool) -> Response | None:
        response = await send(_get(request, self.object_path))
        data = decode_envelope(response)
        if isinstance(data, dict) and self.settled(data):
            return _found(request, response, data if self.answer is None else self.answer(data))
        return None


@attrs.frozen(kw_only=True)
class MatchReconciler:
    """Find the object a POST created by the fields it sent, in the list at
    `list_path` (the 100 newest): `match(item)` is True for such an object,
    and `wanted` says in words what it looks for (for the full-list error).

    The found object is the call's result (`reconciled`), as listed: the
    caller decides what it means, since one may have matched before the call.
    """

    list_path: str
    match: Callable[[Mapping[str, Any]], bool]
    wanted: str
    resolve_hint: str
    customer: None = None
    look_first: bool = False
    keyed: bool = False
    on_full_window: Literal["raise", "send"] = "raise"

    async def lookup(self, request: Request, send: Handler, *, sent: bool) -> Response | None:
        response = await send(_get(request, self.list_path))
        found = find_in_list(response, self.match, self.wanted)
        return None if found is None else _found(request, response, found)


def object_path(list_path: str, object_id: str) -> str:
    """Where one object of a list is read: `/subscriptions` -> `/subscriptions/<id>`."""
    return list_path + "/" + path_segment(object_id)


def _get(request: Request, path: str, query: tuple[tuple[str, str], ...] = ()) -> Request:
    """A GET derived from the original request, stripped of its POST-only
    parts. The call's other headers stay (`with_options(headers=...)`, a call
    middleware's): one that routes the request (a tenant or gateway header)
    must route the lookup to where the POST went."""
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _POST_ONLY}
    return request.replace(
        method="GET", path=path, query=query, headers=headers, body=None, idempotency_key=None
    )


_POST_ONLY = frozenset({"idempotency-key", "content-type"})


def _found(original: Request, lookup: Response, data: Mapping[str, Any]) -> Response:
    """Present a found object as if the POST itself had returned it."""
    return _answer(original, lookup, 200, {"success": True, "data": data})


def _declined(original: Request, lookup: Response, charge: Mapping[str, Any]) -> Response:
    """A found failed charge, answered as the direct POST would have: a 402."""
    message = charge.get("failure_message")
    error = {
        "status": 402,
        "code": "CHARGE_FAILED",
        "message": message if isinstance(message, str) else "The card was declined.",
    }
    return _answer(original, lookup, 402, {"success": False, "error": error})


def _answer(original: Request, lookup: Response, status: int, envelope: Any) -> Response:
    """A response to `original` made from what the lookup found.

    Its request keeps the lookup's credentials: a response's request id and
    any error built from it are redacted by the secrets of its request, and
    `original` comes from before the auth step, so it has none (a request id
    echoing the Authorization header would otherwise reach the caller).
    """
    credentials = credential_headers(lookup.request)
    return Response(
        status=status,
        headers=lookup.headers,
        body=orjson.dumps(envelope),
        request=original.with_headers(credentials) if credentials else original,
    )
