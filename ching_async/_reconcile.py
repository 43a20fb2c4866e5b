"""Reconciliation: after an ambiguous POST failure, find out whether it took effect.

CHING does not deduplicate by Idempotency-Key, so the client must. The retry
middleware consults a request's reconciler before it ever re-sends a POST
whose outcome is unknown; this module is the only place that knows how.

- `MarkerReconciler`: the POST stored its idempotency key in the object's
  metadata (the "marker"); list the recent objects (for charges: the
  customer's 100 newest) and look for it.
- `StateReconciler`: capture/cancel change a charge's state; retrieve the
  charge and see whether it already is in the state the call asked for.

`lookup` returns a Response holding the found object (the call's result), or
None when the POST provably did not take effect and may be sent again. It
raises an APIError/APIConnectionError when it cannot tell.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import attrs
import orjson

from ._errors import InvalidParameterError, LookupInconclusiveError
from ._messages import Handler, Request, Response
from ._protocol import decode_envelope
from ._secrets import REDACTED_HEADERS, attach_context
from ._validation import check_flag, check_on_full_window

__all__ = [
    "IDEMPOTENCY_METADATA_KEY",
    "MarkerReconciler",
    "Reconciler",
    "StateReconciler",
    "find_marked",
    "look_first_for",
    "prove_absent",
    "with_marker",
]

# The metadata key under which charges.create stores its idempotency key.
IDEMPOTENCY_METADATA_KEY = "ching_async_idempotency_key"


class Reconciler(Protocol):
    @property
    def customer(self) -> str | None: ...

    # Look before the first send too (a caller's own idempotency key).
    @property
    def look_first(self) -> bool: ...

    # Before the first send, a full list that lacks the key: "raise" or "send".
    @property
    def on_full_window(self) -> str: ...

    async def lookup(self, request: Request, call_next: Handler) -> Response | None: ...


def _get(request: Request, path: str, query: tuple[tuple[str, str], ...] = ()) -> Request:
    """A GET derived from the original request, stripped of its POST-only parts."""
    return attrs.evolve(
        request,
        method="GET",
        path=path,
        query=query,
        headers={},
        body=None,
        idempotency_key=None,
        safe_to_retry=True,
        reconciler=None,
    )


def _found(original: Request, lookup: Response, data: Mapping[str, Any]) -> Response:
    """Present a found object as if the POST itself had returned it."""
    return _answer(original, lookup, 200, {"success": True, "data": data})


def _answer(original: Request, lookup: Response, status: int, envelope: Any) -> Response:
    """A response to `original` made from what the lookup found.

    Its request keeps the lookup's credentials: a response's request id and
    any error built from it are redacted by the secrets of its request, and
    `original` comes from before the auth step, so it has none (a request id
    echoing the Authorization header would otherwise reach the caller).
    """
    credentials = {
        name: value
        for name, value in lookup.request.headers.items()
        if name.lower() in REDACTED_HEADERS
    }
    return Response(
        status=status,
        headers=lookup.headers,
        body=orjson.dumps(envelope),
        request=original.with_headers(credentials) if credentials else original,
    )


def with_marker(metadata: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The caller's metadata plus the marker; the caller's own keys are untouched."""
    if IDEMPOTENCY_METADATA_KEY in metadata:
        raise InvalidParameterError(
            f"metadata key {IDEMPOTENCY_METADATA_KEY!r} is reserved for the "
            "idempotency marker; pass idempotency_key= instead"
        )
    return {**metadata, IDEMPOTENCY_METADATA_KEY: key}


def find_marked(items: Any, key: str) -> Mapping[str, Any] | None:
    """The first object in a list payload whose metadata carries `key` as the marker."""
    if not isinstance(items, list):
        return None
    for item in items:
        if not isinstance(item, dict):
            continue
        metadata = item.get("metadata")
        if isinstance(metadata, dict) and metadata.get(IDEMPOTENCY_METADATA_KEY) == key:
            return item
    return None


def look_first_for(caller_key: str | None, on_full_window: object, assume_new: object) -> bool:
    """Whether a create looks for its idempotency key before the first send:
    only for the caller's own key (a key the library mints is new), unless
    the caller says it is new. Checks both options."""
    check_on_full_window(on_full_window)
    return caller_key is not None and not check_flag("assume_new", assume_new)


# Lists answer with at most this many objects (the newest).
LIST_LIMIT = 100


def prove_absent(response: Response, items: Any, key: str) -> None:
    """Return when the list in `response` proves that no object carries `key`:
    it is not full. A full list may have pushed the object out of its window:
    LookupInconclusiveError. Call it only after find_marked found nothing."""
    if isinstance(items, list) and len(items) < LIST_LIMIT:
        return
    request = response.request
    error = LookupInconclusiveError(
        f"none of the {LIST_LIMIT} newest objects at {request.path} carries idempotency "
        f"key {key!r}, and the list is full: absence cannot be proven, the object may "
        "exist beyond the list",
        status=response.status,
    )
    raise attach_context(error, request, attempts=response.attempts, request_id=response.request_id)


# Mutable on purpose: built on every charges.create, and frozen attrs sets each
# field through object.__setattr__ (~4,400 instructions more per call, measured
# on a class of the same fields).
@attrs.define
class MarkerReconciler:
    """Find the object a POST created by the marker in its metadata.

    `declined(obj)` tells a found object that records a refusal (a failed
    charge): it is answered as the 402 the POST would have returned.
    """

    list_path: str
    idempotency_key: str
    customer: str | None = None
    query: tuple[tuple[str, str], ...] = ()
    declined: Callable[[Mapping[str, Any]], bool] | None = None
    look_first: bool = False
    on_full_window: str = "raise"

    async def lookup(self, request: Request, call_next: Handler) -> Response | None:
        response = await call_next(_get(request, self.list_path, self.query))
        items = decode_envelope(response)
        found = find_marked(items, self.idempotency_key)
        if found is not None:
            if self.declined is not None and self.declined(found):
                return _declined(request, response, found)
            return _found(request, response, found)
        prove_absent(response, items, self.idempotency_key)
        return None


def _declined(original: Request, lookup: Response, charge: Mapping[str, Any]) -> Response:
    """A found failed charge, answered as the direct POST would have: a 402."""
    message = charge.get("failure_message")
    error = {
        "status": 402,
        "code": "CHARGE_FAILED",
        "message": message if isinstance(message, str) else "The card was declined.",
    }
    return _answer(original, lookup, 402, {"success": False, "error": error})


def charge_declined(charge: Mapping[str, Any]) -> bool:
    return charge.get("status") == "failed"


@attrs.frozen
class StateReconciler:
    """Retrieve an object and decide from its state whether the POST took effect.

    `settled(data)` is True when the object already shows the requested change.
    """

    object_path: str
    settled: Callable[[Mapping[str, Any]], bool]
    customer: str | None = None
    look_first: bool = False
    on_full_window: str = "raise"

    async def lookup(self, request: Request, call_next: Handler) -> Response | None:
        response = await call_next(_get(request, self.object_path))
        data = decode_envelope(response)
        if isinstance(data, dict) and self.settled(data):
            return _found(request, response, data)
        return None


def charge_captured(amount: int | None) -> Callable[[Mapping[str, Any]], bool]:
    def settled(charge: Mapping[str, Any]) -> bool:
        if charge.get("status") != "succeeded" or charge.get("captured") is not True:
            return False
        return amount is None or charge.get("amount_captured") == amount

    return settled


def charge_canceled(charge: Mapping[str, Any]) -> bool:
    return charge.get("status") == "canceled"


__all__ += ["LIST_LIMIT", "charge_canceled", "charge_captured", "charge_declined"]
