"""The generated decoder's fast path guesses a payload's shape from the previous
payload of the same model (see _fastdecode). Whatever sequence of shapes comes
in (fields missing, unknown keys, provenance names sent by the server, any key
order), every model must hold exactly its fields, each the payload's value
(converted) or the default, and the payload itself must stay as received.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import typing
from datetime import datetime
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ching_async import Charge, Customer, Installments, SetupSession, _convert, _fastdecode
from ching_async._convert import get_converter, model_hook, model_list_hook
from ching_async._models import ApiObject, RequestInfo

FULL_CHARGE: dict[str, Any] = {
    "id": "ch_1",
    "amount": 9900,
    "status": "succeeded",
    "object": "charge",
    "customer": "cus_1",
    "payment_method": "pm_1",
    "amount_captured": 9900,
    "currency": "ils",
    "description": "Pro plan",
    "installments": {"count": 3},
    "captured": True,
    "capture_method": "manual",
    "authorized_at": "2026-04-19T09:15:22.000Z",
    "capturable_until": "2026-04-26T09:15:22Z",
    "captured_at": 1776590122,
    "cancellation_reason": "fraudulent",
    "refunded_amount": 0,
    "failure_code": "card_declined",
    "failure_message": "Declined",
    "document": "doc_1",
    "metadata": {"order": "42"},
    "livemode": False,
    "created": "2026-04-19T09:15:22.000Z",
    "card_brand": "visa",
    "card_last4": "4242",
    "wallet_method": "apple_pay",
    "customer_name": "Tal Levi",
}
REQUIRED = ("id", "amount", "status")
OPTIONAL = tuple(k for k in FULL_CHARGE if k not in REQUIRED)
EXTRA = ("brand_new_field", "raw", "request_info", "x")
FIELDS = {f.name: f for f in attrs.fields(Charge)}
HINTS = typing.get_type_hints(Charge)


def wire(payload: dict[str, Any]) -> dict[str, Any]:
    """As the client sees it: parsed by orjson (its key objects, its dict layout)."""
    parsed: dict[str, Any] = orjson.loads(orjson.dumps(payload))
    return parsed


def decode(payload: dict[str, Any]) -> Charge:
    return model_hook(Charge)(payload, Charge, None)


def assert_faithful(charge: Charge, payload: dict[str, Any], before: dict[str, Any]) -> None:
    assert payload == before, "the payload was changed by decoding"
    assert charge.raw is payload
    assert set(vars(charge)) == set(FIELDS), "the instance holds exactly its fields"
    for name, field in FIELDS.items():
        if name in ("raw", "request_info"):
            continue
        if name in payload:
            expected = get_converter().structure(copy.deepcopy(payload[name]), HINTS[name])
        else:
            expected = field.default
        assert getattr(charge, name) == expected, name
    assert charge.request_info is None


shapes = st.tuples(
    st.lists(st.sampled_from(OPTIONAL), unique=True),
    st.lists(st.sampled_from(EXTRA), unique=True),
    st.randoms(use_true_random=False),
)


@settings(max_examples=300)
@given(st.lists(shapes, min_size=1, max_size=8))
def test_any_sequence_of_shapes_decodes_faithfully(sequence: list[Any]) -> None:
    payloads = []
    for optional, extra, rng in sequence:
        payload = {k: FULL_CHARGE[k] for k in (*REQUIRED, *optional)}
        payload.update(dict.fromkeys(extra, "server value"))
        keys = list(payload)
        rng.shuffle(keys)
        payloads.append(wire({k: payload[k] for k in keys}))
    befores = copy.deepcopy(payloads)
    for payload, before in zip(payloads, befores, strict=True):
        assert_faithful(decode(payload), payload, before)
    # The same sequence as one list: the list decoder's own loop.
    charges = model_list_hook(Charge)(payloads, Charge, None)
    assert len(charges) == len(payloads)
    for charge, payload, before in zip(charges, payloads, befores, strict=True):
        assert_faithful(charge, payload, before)


def test_an_unknown_key_standing_in_for_a_missing_field_is_not_mistaken_for_it() -> None:
    decode(wire({k: FULL_CHARGE[k] for k in (*REQUIRED, "customer")}))  # teaches a shape
    # Same number of keys as the taught shape, but `customer` is replaced by
    # an unknown key: the count matches, the fields do not.
    payload = wire({**{k: FULL_CHARGE[k] for k in REQUIRED}, "brand_new_field": 1})
    charge = decode(payload)
    assert charge.customer is None
    assert "brand_new_field" not in vars(charge)


def test_a_default_never_replaces_a_value_the_payload_has() -> None:
    # Teach a shape that lacks card_brand and has one unknown key: as many
    # keys as the full payload. The full payload then has the taught length,
    # but merging the taught default would overwrite its card_brand.
    taught = {k: v for k, v in FULL_CHARGE.items() if k != "card_brand"}
    decode(wire({**taught, "brand_new_field": 1}))
    assert decode(wire(FULL_CHARGE)).card_brand == "visa"
    listed = model_list_hook(Charge)(
        [wire({**taught, "brand_new_field": 1}), wire(FULL_CHARGE)], Charge, None
    )
    assert [c.card_brand for c in listed] == [None, "visa"]


def test_a_list_of_mixed_shapes_keeps_every_value() -> None:
    short = {k: FULL_CHARGE[k] for k in REQUIRED}
    payloads = [wire(p) for p in (FULL_CHARGE, short, short, FULL_CHARGE, {**short, "x": 1})]
    charges = model_list_hook(Charge)(payloads, Charge, None)
    assert [c.customer for c in charges] == ["cus_1", None, None, "cus_1", None]
    assert [c.raw for c in charges] == payloads


def test_the_list_decoder_reports_a_bad_item() -> None:
    with pytest.raises(TypeError, match=r"^expected an object, got str"):
        model_list_hook(Charge)([wire(FULL_CHARGE), "not an object"], Charge, None)
    with pytest.raises(KeyError):
        model_list_hook(Charge)([wire({"id": "ch_1", "status": "succeeded"})], Charge, None)


def test_a_missing_required_field_still_fails_after_a_shape_was_learned() -> None:
    decode(wire(FULL_CHARGE))
    decode(wire({k: FULL_CHARGE[k] for k in REQUIRED}))
    payload = wire({"id": "ch_1", "status": "succeeded", "brand_new_field": 1, "customer": "c"})
    with pytest.raises(KeyError):
        decode(payload)


def test_mutating_raw_after_decoding_does_not_touch_the_model_or_later_decodes() -> None:
    first = decode(wire(FULL_CHARGE))
    first.raw["amount"] = 1
    first.raw["brand_new_field"] = True
    assert first.amount == 9900
    second = decode(wire(FULL_CHARGE))
    assert second.amount == 9900
    assert set(vars(second)) == set(FIELDS)


def test_converted_values_on_the_fast_path() -> None:
    for _ in range(2):  # the second goes through the learned shape
        charge = decode(wire(FULL_CHARGE))
        assert charge.installments == Installments(count=3)
        assert isinstance(charge.created, datetime)
        assert charge.created.tzinfo is not None
        assert charge.captured_at == datetime.fromtimestamp(1776590122, tz=charge.created.tzinfo)
        assert charge.status == "succeeded"
        assert type(charge.status).__name__ == "ChargeStatus"


@pytest.mark.parametrize("model", [SetupSession, Customer])
def test_other_models_hold_exactly_their_fields(model: type[Any]) -> None:
    payload = {"id": "x_1", "status": "pending"} if model is SetupSession else {"id": "cus_1"}
    for extra in ({}, {"unknown": 1}, {"raw": "sent by the server"}):
        obj = model_hook(model)(wire({**payload, **extra}), model, None)
        if hasattr(obj, "__dict__"):
            assert set(vars(obj)) == {f.name for f in attrs.fields(model)}
        assert obj.raw == {**payload, **extra}
        assert obj.id == payload["id"]


def test_shared_installments_never_stand_in_for_a_value_that_is_not_an_int() -> None:
    decode(wire(FULL_CHARGE))  # the shared Installments(count=3) exists now
    for count, expected in ((3, Installments(count=3)), (3.0, Installments(count=3))):
        charge = decode(wire({**FULL_CHARGE, "installments": {"count": count}}))
        assert charge.installments == expected
    shared = decode(wire(FULL_CHARGE)).installments
    assert decode(wire(FULL_CHARGE)).installments is shared  # one instance per count
    for bad in ({"count": True}, {"count": "3"}, [3], "3"):
        with pytest.raises((TypeError, ValueError)):
            decode(wire({**FULL_CHARGE, "installments": bad}))


def test_the_timestamp_cache_is_bounded_and_every_value_exact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_fastdecode, "_MEMO_SIZE", 8)
    hook = model_list_hook(Charge)
    cache, _ = _fastdecode.memo(_convert.RULES[datetime])
    stamps = [f"2026-04-19T09:15:{second:02d}Z" for second in range(30)]
    for _ in range(2):  # the second round reads what the first round left cached
        charges = hook([wire({**FULL_CHARGE, "created": s}) for s in stamps], Charge, None)
        assert [c.created.second for c in charges] == list(range(30))
        assert all(c.created.tzinfo is not None for c in charges)
        assert len(cache) <= 8


def test_dict_setter_fills_frozen_instances_wherever_dict_is_declared() -> None:
    @attrs.frozen(slots=False)
    class Base:
        a: int = 0

    @attrs.frozen(slots=False)
    class Child(Base):
        b: int = 0

    for cls, values in ((Base, {"a": 1}), (Child, {"a": 1, "b": 2})):
        obj = object.__new__(cls)
        _fastdecode.dict_setter(cls)(obj, values)
        assert obj == cls(**values)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            obj.a = 3  # type: ignore[misc]

    @attrs.frozen
    class Slotted:
        a: int = 0

    with pytest.raises(TypeError, match="no __dict__"):
        _fastdecode.dict_setter(Slotted)


def test_the_converter_is_built_on_first_use_not_at_import() -> None:
    # `import ching_async` stays cheap (issue 7's import target); the first
    # decode pays for cattrs instead.
    code = (
        "import sys, ching_async\n"
        "lazy = ('cattrs', 'tenacity', 'ching_async._bulk', 'aiolimiter')\n"
        "assert not [m for m in lazy if m in sys.modules], [m for m in lazy if m in sys.modules]\n"
        "from ching_async._convert import structure\n"
        "charge = structure({'id': 'ch_1', 'amount': 100, 'status': 'paid'}, ching_async.Charge)\n"
        "assert (charge.amount, charge.status) == (100, 'paid'), charge\n"
        "assert 'cattrs' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_threads_racing_for_the_first_decode_share_one_converter() -> None:
    # webhooks.construct_event is synchronous: web servers call it from threads.
    code = (
        "import threading, time, ching_async\n"
        "from ching_async import _convert\n"
        "real = _convert._make_decoding\n"
        "built = []\n"
        "def slow():\n"
        "    time.sleep(0.05)  # widen the race\n"
        "    built.append(real())\n"
        "    return built[-1]\n"
        "_convert._make_decoding = slow\n"
        "got = []\n"
        "threads = [threading.Thread(target=lambda: got.append(_convert.get_decoding()))"
        " for _ in range(8)]\n"
        "for t in threads: t.start()\n"
        "for t in threads: t.join()\n"
        "assert len(built) == 1, len(built)\n"
        "assert all(c is built[0] for c in got) and len(got) == 8\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@attrs.frozen(slots=False)
class _NewObject(ApiObject):
    """An API object added after this test was written: registered nowhere."""

    id: str
    amount: int | None = None


@pytest.mark.parametrize("fast", [True, False])
def test_a_new_api_object_keeps_its_payload_without_being_registered(fast: bool) -> None:
    payload = {"id": "new_1", "amount": 5, "raw": {"evil": 1}, "unknown": True}
    received = copy.deepcopy(payload)
    info = RequestInfo(
        method="GET", path="/new", status=200, attempts=1, idempotency_key=None, request_id=None
    )
    decoding = _convert.Decoding(fast=fast)
    one = decoding.model_hook(_NewObject)(payload, _NewObject, info)
    [listed] = decoding.model_list_hook(_NewObject)([payload], _NewObject, info)
    for obj in (one, listed):
        assert obj == _NewObject(id="new_1", amount=5)
        assert obj.raw == received  # the payload as received, not its "raw" key
        assert obj.request_info is info
