"""Idempotency keys, and the marker that makes an object findable by its key.

CHING does not deduplicate by Idempotency-Key, so a key means something only
because a money-moving create also writes it into the object's metadata (the
marker). Finding an object by its marker is `find_by_marker`, the one lookup
used by reconciliation, the `find_by_idempotency_key` methods and the bulk
engine.

A key is only for the parameters it was first used with (as at Stripe): an
object found by its marker is a create's result only when the fields the
create declares (`asked_of`) are the same on it (`differences`); else the
create is refused (`key_reused`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._errors import KEY_REUSED, InvalidParameterError, LookupInconclusiveError
from ._messages import Response
from ._protocol import decode_envelope
from ._secrets import attach_context
from ._validation import check_flag, check_idempotency_key, check_on_full_window

__all__ = [
    "IDEMPOTENCY_METADATA_KEY",
    "LIST_LIMIT",
    "Asked",
    "asked_of",
    "check_settled",
    "differences",
    "find_by_marker",
    "find_in_list",
    "idempotency_key_for",
    "key_reused",
    "look_first_for",
    "new_idempotency_key",
    "with_marker",
]

IDEMPOTENCY_METADATA_KEY = "ching_async_idempotency_key"
"""The metadata key under which an exactly-once create stores its idempotency key."""

# Lists answer with at most this many objects (the newest).
LIST_LIMIT = 100


def new_idempotency_key() -> str:
    """A random (version 4) UUID as text, from os.urandom as uuid.uuid4()
    draws it, without building a UUID object: `make bench`'s POST target."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


# The variant digit of an RFC 9562 UUID: 0b10xx, from a random hex digit.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def idempotency_key_for(key: str | None) -> str:
    """The caller's key, validated, or a new one: minted once per logical call."""
    return new_idempotency_key() if key is None else check_idempotency_key(key)


def look_first_for(caller_key: str | None, on_full_window: object, assume_new: object) -> bool:
    """Whether a create looks for its idempotency key before the first send:
    only for the caller's own key (a key the library mints is new), unless
    the caller says it is new. Checks both options."""
    check_on_full_window(on_full_window)
    return caller_key is not None and not check_flag("assume_new", assume_new)


def with_marker(metadata: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The caller's metadata plus the marker; the caller's own keys are untouched."""
    if IDEMPOTENCY_METADATA_KEY in metadata:
        raise InvalidParameterError(
            f"metadata key {IDEMPOTENCY_METADATA_KEY!r} is reserved for the "
            "idempotency marker; pass idempotency_key= instead"
        )
    return {**metadata, IDEMPOTENCY_METADATA_KEY: key}


def check_settled(key: str, settling: float) -> None:
    """LookupInconclusiveError while a call with `key` may still be committing
    on the server (`settling` seconds left): a lookup now proves nothing."""
    if settling > 0:
        raise LookupInconclusiveError(
            f"a call with idempotency key {key!r} ended in doubt moments ago and the server "
            f"may still be committing it: absence cannot be proven for {settling:.1f}s more; "
            "look again then"
        )


def find_by_marker(
    response: Response,
    key: str,
    fits: Callable[[Mapping[str, Any]], bool] | None = None,
    *,
    own_only: bool = False,
) -> Mapping[str, Any] | None:
    """The object in a list response whose metadata carries `key` as the
    marker, or None when the list proves there is none: it is not full.
    Of several so marked, the first that `fits` (the call's own, when a key
    was used twice), else the first; with `own_only`, only one that fits.

    A full list without it may have pushed the object out of its window:
    LookupInconclusiveError. A response that is not a list proves nothing:
    the typed error of `decode_envelope`, or LookupInconclusiveError."""

    unread: list[object] = []  # rows whose metadata the list does not show
    unfit: list[Mapping[str, Any]] = []  # marked rows that do not fit, in order

    def marked(item: Mapping[str, Any]) -> bool:
        if "metadata" not in item:
            unread.append(item.get("id"))
            return False
        metadata = item["metadata"]
        if not isinstance(metadata, dict) or metadata.get(IDEMPOTENCY_METADATA_KEY) != key:
            return False
        if fits is None or fits(item):
            return True
        unfit.append(item)
        return False

    try:
        found = find_in_list(response, marked, f"carries idempotency key {key!r}")
    except LookupInconclusiveError:
        if unfit and not own_only:  # a full list, but the key's object is in it
            return unfit[0]
        raise
    if found is None and unfit and not own_only:
        return unfit[0]
    if found is None and unread:
        # A row without metadata may be the one: the list proves nothing.
        raise _inconclusive(
            response,
            f"{len(unread)} of the objects at {response.request.path} came without their "
            f"metadata (first: {unread[0]!r}): absence of idempotency key {key!r} cannot be proven",
        )
    return found


# The fields of a create that an object found by its key must show alike to be
# its result, as this call sent them: (("amount", 2500), ("recurring.interval", "month")).
Asked = tuple[tuple[str, Any], ...]

# Compared without regard to case: an ISO 4217 code ("ils", "ILS") is one currency.
_ANY_CASE = frozenset({"currency"})

_ABSENT = object()


def asked_of(fields: Sequence[str], body: Mapping[str, Any]) -> Asked:
    """The `fields` a create's `body` sends (dotted for a nested one:
    "installments.count"), with their values; a field it leaves out (a
    default the server fills in) is not asked, so never compared."""
    asked = ((field, _at(body, field)) for field in fields)
    return tuple((field, value) for field, value in asked if value is not _ABSENT)


def differences(asked: Asked, found: Mapping[str, Any]) -> tuple[tuple[str, Any, Any], ...]:
    """(field, this call's value, the found object's) for each `asked` field
    the object shows otherwise. A field it does not show (absent or null)
    proves nothing, and is not a difference."""
    differ = []
    for field, sent in asked:
        shown = _at(found, field)
        if shown is _ABSENT or shown is None or _same(field, sent, shown):
            continue
        differ.append((field, sent, shown))
    return tuple(differ)


def _at(data: Mapping[str, Any], field: str) -> Any:
    value: Any = data
    for part in field.split("."):
        if not isinstance(value, Mapping) or value.get(part) is None:
            return _ABSENT
        value = value[part]
    return value


def _same(field: str, sent: Any, shown: Any) -> bool:
    if field in _ANY_CASE and isinstance(sent, str) and isinstance(shown, str):
        return sent.lower() == shown.lower()
    if isinstance(sent, bool) or isinstance(shown, bool):  # True == 1 in Python
        return sent is shown
    return bool(sent == shown)  # 1000 == 1000.0: JSON does not tell them apart


def key_reused(
    key: str, found: Mapping[str, Any], differ: Sequence[tuple[str, Any, Any]]
) -> dict[str, Any]:
    """The error a create with `key` answers when the key already made `found`
    with other values of the fields in `differ` (`differences`): as an error
    envelope's `error`, one issue per field. Its values are the create's
    declared fields only (amounts, ids, kinds), never its other metadata."""
    found_id = found.get("id")
    shown = ", ".join(f"{field} {was!r} (this call: {sent!r})" for field, sent, was in differ)
    message = (
        f"idempotency key {key!r} was first used with other parameters: it made {found_id} "
        f"with {shown}. A key is only for the parameters it was first used with, so this call "
        "is refused and sends nothing more: use a new key for a new object, or the same "
        "parameters to get this one back"
    )
    issues = [
        {
            "path": field,
            "code": KEY_REUSED,
            "message": f"this call sent {sent!r}; {found_id} has {was!r}",
            "sent": sent,
            "found": was,
            "found_id": found_id,
        }
        for field, sent, was in differ
    ]
    return {"status": 400, "code": KEY_REUSED, "message": message, "issues": issues}


def find_in_list(
    response: Response, match: Callable[[Mapping[str, Any]], bool], wanted: str
) -> Mapping[str, Any] | None:
    """The first object in a list response that `match`es, or None when the
    list proves there is none: it is not full. `wanted` says in words what
    was looked for (for the error). Errors as `find_by_marker`'s."""
    items = decode_envelope(response)
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and match(item):
                found: Mapping[str, Any] = item
                return found
        if len(items) < LIST_LIMIT:
            return None
        reason = (
            f"none of the {LIST_LIMIT} newest objects at {response.request.path} {wanted}, "
            "and the list is full: absence cannot be proven, the object may exist beyond the list"
        )
    else:
        reason = f"the lookup at {response.request.path} did not answer a list"
    raise _inconclusive(response, reason)


def _inconclusive(response: Response, reason: str) -> LookupInconclusiveError:
    error = LookupInconclusiveError(reason, status=response.status)
    return attach_context(
        error, response.request, attempts=response.attempts, request_id=response.request_id
    )
