"""The fast decoder and cattrs' own hooks decode every payload alike.

Payloads are drawn field by field from each model's type hints: valid values
(timestamps in every accepted spelling, known and unknown enum values,
integral floats, integers near 2**53), nulls, missing fields, wrong types,
extra keys (the provenance names and the alternative spellings among them),
parsed by orjson as the client parses them. For each, both paths must give
equal models (each field of the same type, `raw` the payload as received,
the same `request_info`) or raise the same exception with the same message,
one payload at a time and as a list. The fast path must also decode itself
every payload the plain path accepts: handing a valid payload to the plain
hooks would be correct but slow, and it counts as a failure here.
"""

from __future__ import annotations

import json
import typing
from datetime import datetime
from enum import StrEnum
from typing import Any

import attrs
import orjson
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import ching_async
from ching_async import Charge, Installments
from ching_async._convert import PROVENANCE, Decoding, optional_of
from ching_async._models import ApiObject, RequestInfo

FAST = Decoding(fast=True)
PLAIN = Decoding(fast=False)
# Every API object of the public surface: a new model is checked without
# being listed here.
MODELS = tuple(
    sorted(
        (
            value
            for value in vars(ching_async).values()
            if isinstance(value, type) and issubclass(value, ApiObject) and value is not ApiObject
        ),
        key=lambda cls: cls.__name__,
    )
)
INFO = RequestInfo(
    method="GET", path="/x", status=200, attempts=1, idempotency_key=None, request_id=None
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
near_2_53 = st.sampled_from([2**53 - 1, 2**53, 2**53 + 1, -(2**53) - 1, 2**63 - 1, 2**64, 10**29])
integers = (
    st.integers(-(10**6), 10**6)
    | near_2_53
    | near_2_53.map(float)
    | st.integers(-(10**6), 10**6).map(float)  # integral floats
    | st.sampled_from([9.5, -0.5, 1e300])
)
aware = st.datetimes(timezones=st.timezones()).filter(lambda d: d.utcoffset() is not None)
timestamps = (
    aware.map(lambda d: d.isoformat())
    | aware.map(lambda d: d.isoformat().replace("+00:00", "Z"))
    | st.datetimes().map(lambda d: d.isoformat())  # naive: read as UTC
    | st.integers(0, 4 * 10**9)  # epoch seconds
    | st.integers(10**11, 4 * 10**12)  # epoch milliseconds
    | st.floats(0, 4e9)
    | st.sampled_from(["2026-04-19", "not a date", "", "2026-13-01T00:00:00Z", 1e20, -1e20])
)


def enum_values(enum_cls: type[StrEnum]) -> st.SearchStrategy[Any]:
    return st.sampled_from([m.value for m in enum_cls]) | st.text(max_size=10)


installments = st.fixed_dictionaries({}, optional={"count": integers | json_scalars}) | json_values


def valid_ish(tp: Any) -> st.SearchStrategy[Any]:
    """Values of the wire form of `tp`, mostly valid, with its edge cases."""
    inner = optional_of(tp)
    if inner is not None:
        return st.none() | valid_ish(inner)
    if tp is str:
        return st.text(max_size=10)
    if tp is int:
        return integers
    if tp is float:  # a document's VAT rate; ints stand for floats, other types are errors
        return st.floats(allow_nan=False) | integers | json_scalars
    if tp is bool:
        return st.booleans()
    if tp is datetime:
        return timestamps
    if tp == dict[str, Any]:
        return st.dictionaries(st.text(max_size=5), json_values, max_size=3)
    if tp is Installments:
        return installments
    if typing.get_origin(tp) is list:  # features, targets, a redemptions' rows
        return st.lists(valid_ish(typing.get_args(tp)[0]) | json_values, max_size=3)
    if attrs.has(tp):  # a nested model (a feature, a price's recurring, a row)
        return nested(tp) | json_values
    args = typing.get_args(tp)
    enums = [a for a in args if isinstance(a, type) and issubclass(a, StrEnum)]
    assert len(enums) == 1, f"no strategy for {tp}"
    return enum_values(enums[0])


def nested(cls: type[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A nested model's payload: its fields valid-ish, any of them missing."""
    hints = typing.get_type_hints(cls)
    return st.fixed_dictionaries(
        {},
        optional={
            f.name: valid_ish(hints[f.name]) for f in attrs.fields(cls) if f.name not in PROVENANCE
        },
    )


EXTRA_KEYS = ("raw", "request_info", "taxId", "amount_agorot", "card", "unknown")


@st.composite
def payloads(draw: st.DrawFn, cls: type[Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    payload: dict[str, Any] = {}
    for field in attrs.fields(cls):
        if field.name in PROVENANCE:
            continue
        op = draw(st.sampled_from(["valid"] * 6 + ["missing", "null", "wrong"]))
        if op == "valid":
            payload[field.name] = draw(valid_ish(hints[field.name]))
        elif op == "null":
            payload[field.name] = None
        elif op == "wrong":
            payload[field.name] = draw(json_values)
    for key in draw(st.lists(st.sampled_from(EXTRA_KEYS), unique=True, max_size=3)):
        if key == "card":
            payload[key] = draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "brand": st.text(max_size=5),
                        "last4": st.text(max_size=4),
                        "exp_month": integers,
                        "exp_year": json_values,
                    },
                )
                | json_values
            )
        else:
            payload[key] = draw(json_values | integers)
    keys = draw(st.permutations(list(payload)))
    return {k: payload[k] for k in keys}


def wire(payload: Any) -> bytes:
    """The JSON text a server would send (json.dumps writes exact big ints)."""
    return json.dumps(payload).encode()


def parse(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:  # an integer literal orjson cannot read
        assume(False)


def described(model: Any) -> list[tuple[str, type, Any]]:
    """Every field with its value's type: 9900 and 9900.0 are equal, but not alike."""
    return [
        (f.name, type(getattr(model, f.name)), getattr(model, f.name))
        for f in attrs.fields(type(model))
    ]


def run(call: Any) -> Any:
    try:
        return call()
    except Exception as exc:  # both paths must raise alike, whatever they raise
        return (type(exc), str(exc))


def assert_alike(fast: Any, plain: Any, fast_payload: Any, plain_payload: Any) -> None:
    assert type(fast) is type(plain), (fast, plain)
    if isinstance(fast, tuple):  # an error
        assert fast == plain
        return
    assert fast == plain
    assert described(fast) == described(plain)
    assert fast.raw is fast_payload
    assert plain.raw is plain_payload
    assert fast.request_info is INFO
    assert plain.request_info is INFO


def decode_both(cls: type[Any], body: bytes) -> None:
    fast_payload, plain_payload = parse(body), parse(body)
    before = FAST.fallbacks
    fast = run(lambda: FAST.model_hook(cls)(fast_payload, cls, INFO))
    plain = run(lambda: PLAIN.model_hook(cls)(plain_payload, cls, INFO))
    assert_alike(fast, plain, fast_payload, plain_payload)
    if not isinstance(plain, tuple):
        assert FAST.fallbacks == before, "the fast path handed a valid payload to the plain hooks"


@settings(max_examples=400)
@given(data=st.data(), cls=st.sampled_from(MODELS))
@example(data=None, cls=Charge)
def test_one_payload_decodes_alike(data: Any, cls: type[Any]) -> None:
    if data is None:  # the example: an integer just past 2**53, sent as a float
        decode_both(Charge, wire({"id": "ch_1", "amount": float(2**53 + 2), "status": "x"}))
        return
    decode_both(cls, wire(data.draw(payloads(cls))))


@settings(max_examples=200)
@given(data=st.data(), cls=st.sampled_from(MODELS))
def test_a_list_decodes_alike(data: Any, cls: type[Any]) -> None:
    items = data.draw(st.lists(payloads(cls) | json_values, max_size=5))
    body = wire(items)
    fast_items, plain_items = parse(body), parse(body)
    before = FAST.fallbacks
    fast = run(lambda: FAST.model_list_hook(cls)(fast_items, cls, INFO))
    plain = run(lambda: PLAIN.model_list_hook(cls)(plain_items, cls, INFO))
    assert type(fast) is type(plain), (fast, plain)
    if isinstance(fast, tuple):
        assert fast == plain
        return
    assert len(fast) == len(plain) == len(items)
    for f, p, fp, pp in zip(fast, plain, fast_items, plain_items, strict=True):
        assert_alike(f, p, fp, pp)
    assert FAST.fallbacks == before, "the fast path handed a valid payload to the plain hooks"


@given(st.lists(st.sampled_from(MODELS), min_size=1, max_size=6), st.data())
def test_valid_payloads_take_the_fast_path_in_any_order_of_shapes(
    classes: list[type[Any]], data: Any
) -> None:
    # Valid payloads only, so that most examples exercise the shape guesses
    # rather than the errors.
    for cls in classes:
        hints = typing.get_type_hints(cls)
        payload = {
            f.name: data.draw(valid_ish(hints[f.name]))
            for f in attrs.fields(cls)
            if f.name not in PROVENANCE and (f.default is attrs.NOTHING or data.draw(st.booleans()))
        }
        decode_both(cls, wire(payload))
