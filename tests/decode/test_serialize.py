"""Models to JSON: `to_dict()` / `to_json()` through the converter, and pydantic.

`to_dict()` is the model in the API's wire shape, as ching_async decodes it:
every field of the model (not `raw`, not `request_info`), JSON types only,
and it decodes back to an equal model on both decoding paths.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

import ching_async
from ching_async import (
    Charge,
    Customer,
    Event,
    Installments,
    PaymentMethod,
    Refund,
    SetupSession,
    UpsertAction,
    UpsertResult,
    _models,
)
from ching_async._convert import Decoding, format_timestamp, parse_timestamp, structure
from ching_async._models import Model, RequestInfo
from tests._support import billing, catalog, checkout, hostile
from tests._support.scripted import TEST_KEY, Script, envelope

FAST = Decoding(fast=True)
PLAIN = Decoding(fast=False)
INFO = RequestInfo(
    method="POST",
    path="/charges",
    status=200,
    attempts=1,
    idempotency_key="order-42",
    request_id="req_1",
)
UPSERT: dict[str, Any] = {"customer": hostile.CUSTOMER, "action": "updated"}
# (model, the fullest payload): every public model.
PAYLOADS: list[tuple[type[Any], dict[str, Any]]] = [
    (Charge, hostile.CHARGE),
    (SetupSession, hostile.SETUP_SESSION),
    (Customer, hostile.CUSTOMER),
    (PaymentMethod, hostile.PAYMENT_METHOD),
    (Refund, hostile.REFUND),
    (Installments, {"count": 3}),
    (Event, hostile.EVENT),
    (UpsertResult, UPSERT),
    (ching_async.Product, catalog.PRODUCT),
    (ching_async.Price, catalog.PRICE),
    (ching_async.Discount, catalog.DISCOUNT),
    (ching_async.Redemptions, catalog.REDEMPTIONS),
    (ching_async.Event, catalog.APPLIED_DISCOUNT_EVENT),
    (ching_async.CheckoutSession, checkout.RETRIEVED_CHECKOUT_SESSION),
    (ching_async.BillingPortalSession, {**checkout.PORTAL_SESSION, "token": "pt_5aQ9Lm2c"}),
    (ching_async.Subscription, billing.SUBSCRIPTION),
    (ching_async.PriceChange, billing.PRICE_CHANGE),
    (ching_async.Event, billing.SUBSCRIPTION_UPDATED_EVENT),
]
IDS = [cls.__name__ for cls, _ in PAYLOADS]


def decoded(cls: type[Any], payload: dict[str, Any], decoding: Decoding = FAST) -> Any:
    """As a client decodes it: parsed by orjson, with its request_info where the model has one."""
    wire = orjson.loads(orjson.dumps(payload))
    obj = decoding.converter.structure(wire, cls)
    if "request_info" in attrs.fields_dict(cls):
        object.__setattr__(obj, "request_info", INFO)
    return obj


def assert_json_types(value: Any, where: str = "") -> None:
    """Exactly JSON's types all the way down: no datetime, no enum member, no model."""
    if type(value) is dict:
        for key, item in value.items():
            assert type(key) is str, f"{where}: key {key!r}"
            assert_json_types(item, f"{where}.{key}")
    elif type(value) is list:
        for index, item in enumerate(value):
            assert_json_types(item, f"{where}[{index}]")
    else:
        assert type(value) in (str, int, float, bool, type(None)), f"{where}: {type(value)}"


def public_fields(cls: type[Any]) -> list[str]:
    return [f.name for f in attrs.fields(cls) if f.name not in ("raw", "request_info")]


@pytest.mark.parametrize(("cls", "payload"), PAYLOADS, ids=IDS)
def test_to_dict_is_json_ready_and_holds_exactly_the_fields(
    cls: type[Any], payload: dict[str, Any]
) -> None:
    model = decoded(cls, payload)
    data = model.to_dict()
    assert_json_types(data)
    assert list(data) == public_fields(cls)
    assert json.loads(model.to_json()) == data
    assert json.loads(json.dumps(data)) == data  # the standard library takes it as it is
    assert dict(model) == data


@pytest.mark.parametrize(("cls", "payload"), PAYLOADS, ids=IDS)
@pytest.mark.parametrize("decoding", [FAST, PLAIN], ids=["fast", "plain"])
def test_to_dict_decodes_back_to_an_equal_model(
    cls: type[Any], payload: dict[str, Any], decoding: Decoding
) -> None:
    model = decoded(cls, payload, decoding)
    data = model.to_dict()
    again = decoded(cls, data, decoding)
    assert again == model
    assert again.to_dict() == data
    # Both decoders give the same model, so the same output.
    assert decoded(cls, payload, FAST if decoding is PLAIN else PLAIN).to_dict() == data


@pytest.mark.parametrize(("cls", "payload"), PAYLOADS, ids=IDS)
def test_provenance_and_unknown_keys_stay_out(cls: type[Any], payload: dict[str, Any]) -> None:
    sent = {**payload, "raw": "sent by the server", "request_info": {"x": 1}, "brand_new": 1}
    model = decoded(cls, sent)
    text = model.to_json()
    data = model.to_dict()
    assert not {"raw", "request_info", "brand_new"} & set(data)
    # What the models keep but never emit: the payload and where it came from.
    assert "order-42" not in text
    assert "req_1" not in text
    if "raw" in attrs.fields_dict(cls):
        assert model.raw["brand_new"] == 1


def test_values_in_the_api_spelling() -> None:
    charge = decoded(
        Charge,
        {
            **hostile.CHARGE,
            "status": "succeeded",
            "capture_method": "brand_new_method",
            "captured_at": 1776590122,  # epoch seconds
            "installments": {"count": 3.0},
        },
    )
    data = charge.to_dict()
    assert data["status"] == "succeeded"
    assert type(data["status"]) is str  # the value, not the ChargeStatus member
    assert data["capture_method"] == "brand_new_method"  # unknown: as it came
    assert data["created"] == "2026-04-19T09:15:22.000Z"
    assert data["captured_at"] == "2026-04-19T09:15:22.000Z"
    assert data["installments"] == {"count": 3}
    assert data["metadata"] == {"invoice": "7"}
    customer = decoded(Customer, hostile.CUSTOMER).to_dict()
    assert customer["tax_id"] == "514999874"  # the model's name; the decoder reads both
    assert customer["created"] == "2026-04-19T09:15:22.123456Z"
    card = decoded(PaymentMethod, hostile.PAYMENT_METHOD).to_dict()
    assert (card["brand"], card["last4"], card["exp_month"]) == ("visa", "4242", 12)
    refund = decoded(Refund, hostile.REFUND).to_dict()
    assert (refund["amount"], refund["status"]) == (500, "brand_new_status")
    assert refund["created"] == "2026-04-19T12:15:22.000+03:00"  # the offset it came with
    upsert = decoded(UpsertResult, UPSERT)
    assert upsert.to_dict()["action"] == "updated"
    assert upsert.action is UpsertAction.UPDATED


def test_event_data_is_the_model_or_the_raw_object() -> None:
    event = decoded(Event, hostile.EVENT)
    assert isinstance(event.data, Charge)
    assert event.to_dict()["data"] == event.data.to_dict()
    unknown = decoded(Event, {**hostile.EVENT, "type": "invoice.paid", "data": {"a": [1, {}]}})
    assert unknown.to_dict()["data"] == {"a": [1, {}]}
    assert decoded(Event, unknown.to_dict()) == unknown


def test_to_dict_is_a_new_dict_each_call() -> None:
    charge = decoded(Charge, {**hostile.CHARGE, "metadata": {"nested": {"a": [1]}}})
    data = charge.to_dict()
    data["metadata"]["nested"]["a"].append(2)
    data["installments"]["count"] = 99
    assert charge.metadata == {"nested": {"a": [1]}}
    assert charge.installments == Installments(count=1)
    assert charge.to_dict() != data


def test_models_built_by_hand_serialize_too() -> None:
    charge = Charge(
        id="ch_1",
        amount=100,
        status="succeeded",
        created=datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC),
        installments=Installments(count=2),
    )
    data = charge.to_dict()
    assert data["created"] == "2026-01-02T03:04:05.006Z"
    assert data["installments"] == {"count": 2}
    assert structure(data, Charge) == charge


aware = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.timezones()
).filter(lambda moment: moment.utcoffset() is not None)


@given(aware | st.datetimes(min_value=datetime(1971, 1, 1)).map(lambda d: d.replace(tzinfo=UTC)))
def test_every_timestamp_reads_back_as_the_same_instant(moment: datetime) -> None:
    text = format_timestamp(moment)
    # In UTC: an ambiguous local time (a DST fold) never compares equal across zones.
    assert parse_timestamp(text).astimezone(UTC) == moment.astimezone(UTC)
    offset = moment.utcoffset()
    if offset == timedelta(0):
        assert text.endswith("Z")
    else:
        assert not text.endswith("Z")
        assert parse_timestamp(text).utcoffset() == offset


def test_timestamp_spelling() -> None:
    moment = datetime(2026, 4, 19, 9, 15, 22, tzinfo=UTC)
    assert format_timestamp(moment) == "2026-04-19T09:15:22.000Z"
    assert format_timestamp(moment.replace(microsecond=123456)) == "2026-04-19T09:15:22.123456Z"
    east = moment.astimezone(timezone(timedelta(hours=3)))
    assert format_timestamp(east) == "2026-04-19T12:15:22.000+03:00"


async def test_a_model_from_a_call_shows_no_secret(
    scripted: Script, client: ching_async.Client
) -> None:
    scripted.on("POST", "/ching/v1/charges", envelope(hostile.CHARGE))
    charge = await client.charges.create(
        customer="cus_V8ltq1pK_MWH", payment_method="pm_1", amount=9900
    )
    assert charge.request_info is not None
    key = charge.request_info.idempotency_key
    assert key is not None
    for text in (charge.to_json(), repr(charge.to_dict()), repr(dict(charge))):
        assert TEST_KEY not in text
        assert TEST_KEY.split("_")[-1] not in text
        assert key not in text
        assert "request_info" not in text


def test_without_the_codec_a_model_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_models, "_codec", None)
    with pytest.raises(RuntimeError, match=r"ching_async\._convert is not imported"):
        Installments(count=1).to_dict()


def test_request_info_is_not_a_model() -> None:
    # Provenance (and what a call's response said) is never serialized with the object.
    assert not issubclass(RequestInfo, Model)
    assert not hasattr(INFO, "to_dict")


# ------------------------------------------------------------------ pydantic
@pytest.mark.parametrize(("cls", "payload"), PAYLOADS, ids=IDS)
def test_pydantic_validates_and_serializes_by_the_same_rules(
    cls: type[Any], payload: dict[str, Any]
) -> None:
    model = decoded(cls, payload)
    adapter = TypeAdapter(cls)
    assert adapter.validate_python(model) is model
    from_wire = adapter.validate_python(copy.deepcopy(payload))
    assert from_wire == model
    assert adapter.validate_json(model.to_json()) == model
    assert adapter.dump_python(model) == model.to_dict()
    assert json.loads(adapter.dump_json(model)) == model.to_dict()
    assert TypeAdapter(list[cls]).dump_python([model, model]) == [model.to_dict()] * 2  # type: ignore[valid-type]


@pytest.mark.parametrize(("cls", "payload"), PAYLOADS, ids=IDS)
def test_the_json_schema_describes_to_dict(cls: type[Any], payload: dict[str, Any]) -> None:
    schema = TypeAdapter(cls).json_schema()
    schema = schema["$defs"][cls.__name__] if "$defs" in schema else schema
    assert schema["title"] == cls.__name__
    assert list(schema["properties"]) == list(decoded(cls, payload).to_dict())
    required = [f.name for f in attrs.fields(cls) if f.default is attrs.NOTHING]
    assert schema.get("required", []) == required


def test_pydantic_serializes_a_model_where_it_has_no_schema_for_it() -> None:
    # A model inside `Any` or `dict[str, Any]` (a route returning a dict):
    # pydantic finds `__pydantic_serializer__` on the value.
    charge = decoded(Charge, hostile.CHARGE)
    event = decoded(Event, hostile.EVENT)
    loose = TypeAdapter(dict[str, Any])
    assert loose.dump_python({"c": charge}, mode="json") == {"c": charge.to_dict()}
    assert json.loads(TypeAdapter(Any).dump_json([charge, event])) == [
        charge.to_dict(),
        event.to_dict(),
    ]


def test_pydantic_rejects_a_bad_payload_with_a_clear_error() -> None:
    adapter = TypeAdapter(Charge)
    cases = [
        ({"id": "ch_1", "status": "succeeded"}, "not a valid Charge: missing field 'amount'"),
        ({**hostile.CHARGE, "amount": "100"}, "not a valid Charge: amount: expected an integer"),
        ({**hostile.CHARGE, "created": "yesterday"}, "not a valid Charge: created:"),
        ("ch_1", "not a valid Charge: expected an object, got str"),
    ]
    for value, message in cases:
        with pytest.raises(ValidationError, match=message):
            adapter.validate_python(value)


def test_import_ching_async_imports_no_pydantic() -> None:
    code = (
        "import sys, ching_async\n"
        "from ching_async._convert import structure\n"
        "charge = structure({'id': 'ch_1', 'amount': 1, 'status': 'x'}, ching_async.Charge)\n"
        "assert charge.to_json().startswith('{')\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('pydantic', 'pydantic_core',"
        " 'fastapi', 'starlette')]\n"
        "assert not loaded, loaded\n"
        "sys.modules['pydantic_core'] = None  # as if pydantic were not installed\n"
        "assert not hasattr(charge, '__pydantic_serializer__')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
