"""Helpers for the hardening tests (hostile servers, secrets, timeouts, leaks):

- `RawServer` (in rawserver.py), a server whose every byte the test controls;
- the test API key and helpers that look for it in text and exception chains;
- `FUZZ`: hypothesis settings for the property tests. 200 examples per test by
  default; `HYPOTHESIS_PROFILE=long` runs 10,000 (see SECURITY.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Iterator
from typing import Any

import orjson
from hypothesis import HealthCheck, settings

import ching_async
from ching_async._aiohttp import AiohttpTransport
from tests._support.scripted import CHARGE as BASE_CHARGE
from tests._support.scripted import SETUP_SESSION as BASE_SETUP_SESSION

# --------------------------------------------------------------- the secret
# 64 hex characters, distinctive enough that any fragment of 12+ is unambiguous.
SECRET = "5ec2e7d00d" * 6 + "f00d"
KEY = "ck_test_" + SECRET
LIVE_KEY = "ck_live_" + SECRET
# Fragments that must never appear: the whole secret and any 12-char window of
# it (a truncated echo, a prefix or a suffix still narrows the key down).
_FRAGMENT = 12
SECRET_FRAGMENTS = tuple({SECRET[i : i + _FRAGMENT] for i in range(len(SECRET) - _FRAGMENT + 1)})


def leaks_secret(text: str) -> bool:
    """True when `text` holds the secret or any 12-character fragment of it,
    as is or spelled with JSON string escapes (`\\u0035ec2...`), also inside
    a repr (which doubles each backslash)."""
    if _holds_secret(text):
        return True
    if "\\" not in text:
        return False
    once = json_unescape(text)
    return _holds_secret(once) or _holds_secret(json_unescape(once))


def _holds_secret(text: str) -> bool:
    if SECRET[:_FRAGMENT] in text or SECRET in text:
        return True
    return any(fragment in text for fragment in SECRET_FRAGMENTS)


_JSON_ESCAPE = re.compile(r"\\u[0-9a-fA-F]{4}|\\.")
_SHORT_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def json_unescape(text: str) -> str:
    """`text` with every JSON string escape resolved, wherever it stands
    (what a reader of an excerpt could do by hand); surrogate pairs joined."""

    def one(match: re.Match[str]) -> str:
        escape = match.group()
        if len(escape) == 6:
            return chr(int(escape[2:], 16))
        return _SHORT_ESCAPES.get(escape[1], escape[1])

    text = _JSON_ESCAPE.sub(one, text)
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def exception_chain(exc: BaseException) -> list[BaseException]:
    """`exc` and everything reachable through __cause__ and __context__
    (including a context that `raise ... from None` only suppresses)."""
    seen: list[BaseException] = []
    stack: list[BaseException | None] = [exc]
    while stack:
        item = stack.pop()
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        stack.extend([item.__cause__, item.__context__])
        if isinstance(item, BaseExceptionGroup):
            stack.extend(item.exceptions)
    return seen


def exception_texts(exc: BaseException) -> Iterator[tuple[str, str]]:
    """(where, text) for every rendering of every exception in the chain."""
    for item in exception_chain(exc):
        name = type(item).__name__
        yield f"{name} str", str(item)
        yield f"{name} repr", repr(item)
        yield f"{name} args", repr(item.args)
        for attr, value in vars(item).items():
            yield f"{name}.{attr}", repr(value)


def assert_no_secret_in_exception(exc: BaseException) -> None:
    for where, text in exception_texts(exc):
        assert not leaks_secret(text), f"API key (or part of it) in {where}: {text[:300]!r}"


# ----------------------------------------------------------------- fuzzing
_LONG = os.environ.get("HYPOTHESIS_PROFILE", "") == "long"
FUZZ = settings(
    max_examples=10_000 if _LONG else 200,
    # The suite's run is reproducible (CI must not fail by chance); the long
    # run explores new examples every time.
    derandomize=not _LONG,
    deadline=None,
    database=None,  # never write .hypothesis/ into the working tree
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.function_scoped_fixture,
    ],
)
# End-to-end examples each make a real HTTP round trip: fewer of them.
FUZZ_E2E = settings(FUZZ, max_examples=2_000 if _LONG else 60)


# ---------------------------------------------------------- client internals
def transport_of(client: ching_async.Client) -> AiohttpTransport:
    """The client's AiohttpTransport, found by walking the middleware chain
    (closures, slots and instance attributes, whichever way it is built)."""
    stack: list[Any] = [client]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if id(item) in seen or item is None or isinstance(item, str | int | float | type):
            continue
        seen.add(id(item))
        if isinstance(item, AiohttpTransport):
            return item
        for cell in getattr(item, "__closure__", None) or ():
            with contextlib.suppress(ValueError):
                stack.append(cell.cell_contents)
        for slot in getattr(type(item), "__slots__", ()):
            stack.append(getattr(item, slot, None))
        if hasattr(item, "__dict__") and not callable(getattr(item, "__func__", None)):
            stack.extend(vars(item).values())
        stack.append(getattr(item, "__self__", None))  # bound methods
    raise AssertionError("no AiohttpTransport in the client's chain")


async def free_slots(slots: asyncio.Semaphore) -> int:
    """How many of a transport's pool slots can be taken at once (each given back)."""
    taken = 0
    while not slots.locked():
        await slots.acquire()
        taken += 1
    for _ in range(taken):
        slots.release()
    return taken


def envelope(data: Any) -> bytes:
    return orjson.dumps({"success": True, "data": data})


# The documented samples (tests/conftest.py), with the optional fields filled
# and an epoch-number timestamp, so the fuzzing starts from the fullest shapes.
CHARGE: dict[str, Any] = {
    **BASE_CHARGE,
    "metadata": {"invoice": "7"},
    "card_brand": "visa",
    "card_last4": "4242",
    "wallet_method": None,
}

SETUP_SESSION: dict[str, Any] = {**BASE_SETUP_SESSION, "created": 1776589963}

# The other objects, every field filled in one of the spellings the decoder
# reads (Customer's `taxId`, the card nested under `card`, Refund's
# `amount_agorot`), plus a key this version does not know.
CUSTOMER: dict[str, Any] = {
    "id": "cus_V8ltq1pK_MWH",
    "object": "customer",
    "name": "Tal Levi",
    "email": "tal@example.com",
    "phone": "+972501234567",
    "taxId": "514999874",
    "locale": "he",
    "metadata": {"crm": {"id": 7, "tags": ["vip"]}},
    "livemode": False,
    "created": "2026-04-19T09:15:22.123456Z",
    "deleted": False,
    "default_payment_method": "pm_WMc9X22NT1af",
}
PAYMENT_METHOD: dict[str, Any] = {
    "id": "pm_WMc9X22NT1af",
    "object": "payment_method",
    "customer": "cus_V8ltq1pK_MWH",
    "type": "card",
    "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030},
    "status": "active",
    "is_default": True,
    "livemode": False,
    "created": 1776589963000,  # epoch milliseconds
}
REFUND: dict[str, Any] = {
    "id": "re_3kQ9vB1xZ",
    "object": "refund",
    "amount_agorot": 500,
    "status": "brand_new_status",  # a value this version does not know
    "charge": "ch_9mTPfRSDmEOU",
    "currency": "ils",
    "reason": "requested_by_customer",
    "metadata": {},
    "livemode": True,
    "created": "2026-04-19T12:15:22+03:00",
}
EVENT: dict[str, Any] = {
    "id": "evt_1x2y3z",
    "type": "charge.succeeded",
    "data": CHARGE,
    "livemode": False,
    "created": "2026-04-19T09:15:23.000Z",
}
