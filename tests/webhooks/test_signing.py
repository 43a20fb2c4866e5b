"""ching_async.webhooks: compute_signature, verify_signature and construct_event."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

import ching_async
from ching_async import Charge, Customer, PaymentMethod, Refund, SetupSession
from ching_async.webhooks import (
    Event,
    SignatureVerificationError,
    WebhookPayloadError,
    compute_signature,
    construct_event,
    verify_signature,
)
from tests._support.scripted import CHARGE, SETUP_SESSION
from tests._support.webhooks import SECRET, event_body, sign


# ------------------------------------------------------------ construct_event
@pytest.mark.parametrize(
    ("event_type", "data", "model"),
    [
        ("charge.succeeded", CHARGE, Charge),
        ("charge.some_future_action", CHARGE, Charge),
        ("setup_session.expired", SETUP_SESSION, SetupSession),
        ("customer.deleted", {"id": "cus_1", "object": "customer", "deleted": True}, Customer),
        ("refund.created", {"id": "re_1", "charge": "ch_1", "amount": 500}, Refund),
        ("payment_method.attached", {"id": "pm_1", "brand": "visa"}, PaymentMethod),
    ],
)
def test_data_is_decoded_by_the_event_type(event_type: str, data: Any, model: type) -> None:
    body = event_body(event_type, data)
    event = construct_event(body, sign(body), SECRET)
    assert isinstance(event, Event)
    assert (event.id, event.type, event.livemode) == ("evt_AbCdEf123", event_type, False)
    assert event.created == datetime(2026, 5, 9, 10, 23, 11, tzinfo=UTC)
    assert isinstance(event.data, model)
    assert event.data.id == data["id"]
    assert event.data.raw == data
    assert event.raw == orjson.loads(body)


def test_a_charge_event_carries_the_whole_charge() -> None:
    body = event_body("charge.succeeded", CHARGE)
    event = construct_event(body, sign(body), SECRET)
    assert isinstance(event.data, Charge)
    assert (event.data.amount, event.data.status, event.data.document) == (
        9900,
        ching_async.ChargeStatus.SUCCEEDED,
        "doc_R0i70cuPK_yO",
    )


@pytest.mark.parametrize(
    ("event_type", "data", "expected"),
    [
        ("payout.paid", {"id": "po_1", "status": "paid"}, "same"),  # a type of no known model
        ("checkout_session.completed", {"id": "co_1"}, "same"),
        ("charge.succeeded", {"id": "ch_1", "amount": "9900", "status": "succeeded"}, "same"),
        ("refund.created", {"amount": 5}, "same"),  # no id: not a Refund
        ("customer.updated", {"id": 7}, "same"),
        ("charge.succeeded", ["not", "an", "object"], None),
        ("charge.succeeded", None, None),
    ],
)
def test_unknown_types_and_odd_data_never_fail(event_type: str, data: Any, expected: Any) -> None:
    body = event_body(event_type, data)
    event = construct_event(body, sign(body), SECRET)
    assert event.data == (data if expected == "same" else expected)
    assert event.raw["data"] == data


def test_odd_envelope_fields_are_tolerated() -> None:
    body = event_body("charge.succeeded", CHARGE, livemode="no", created="yesterday", extra=1)
    event = construct_event(body, sign(body), SECRET)
    assert (event.livemode, event.created) == (None, None)
    assert event.raw["extra"] == 1
    body = event_body("charge.succeeded", CHARGE, created=1778322191)
    assert construct_event(body, sign(body), SECRET).created == datetime(
        2026, 5, 9, 10, 23, 11, tzinfo=UTC
    )


def test_signature_is_lowercase_hex_hmac_sha256_of_the_raw_body() -> None:
    body = event_body("charge.succeeded", CHARGE)
    assert compute_signature(body, SECRET) == sign(body)
    assert compute_signature(body, SECRET.encode()) == sign(body)
    construct_event(body, sign(body).upper(), SECRET)  # case-insensitive hex
    construct_event(body, f"  {sign(body)}\n", SECRET)  # surrounding whitespace
    construct_event(bytearray(body), sign(body), SECRET)
    construct_event(memoryview(body), sign(body), SECRET)


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "   ",
        "0" * 64,
        sign(b"another body"),
        sign(event_body("charge.succeeded", CHARGE), secret="whsec_other"),
        sign(event_body("charge.succeeded", CHARGE))[:-1],
        "sha256=" + sign(event_body("charge.succeeded", CHARGE)),
        "é" * 64,  # non-ASCII must not turn into a TypeError
    ],
)
def test_a_bad_or_missing_signature_is_rejected(signature: str | None) -> None:
    body = event_body("charge.succeeded", CHARGE)
    with pytest.raises(SignatureVerificationError):
        construct_event(body, signature, SECRET)


def test_a_re_serialized_body_fails_verification() -> None:
    body = event_body("charge.succeeded", CHARGE)
    signature = sign(body)
    reparsed = orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2)
    with pytest.raises(SignatureVerificationError, match="re-serialized"):
        construct_event(reparsed, signature, SECRET)


def test_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    body = event_body("charge.succeeded", CHARGE)
    construct_event(body, sign(body), SECRET)
    with pytest.raises(SignatureVerificationError):
        construct_event(body, "0" * 64, SECRET)
    assert [b for _, b in calls] == [sign(body).encode(), b"0" * 64]


@pytest.mark.parametrize(
    "body",
    [b"not json", b"", b"[1, 2]", b'{"type": "charge.succeeded"}', b'{"id": 1, "type": "x"}'],
)
def test_a_signed_body_that_is_not_an_event_is_a_payload_error(body: bytes) -> None:
    with pytest.raises(WebhookPayloadError):
        construct_event(body, sign(body), SECRET)


def _nested(depth: int) -> str:
    return '{"a":' * depth + "{}" + "}" * depth


@pytest.mark.parametrize("event_type", ["unknown.thing", "charge.succeeded"])
def test_event_data_nested_past_the_depth_limit_is_a_payload_error(event_type: str) -> None:
    # 1,000 levels: orjson reads it, but repr() and == of such an Event would
    # raise RecursionError. Refused like a model's over-deep object.
    body = f'{{"id": "evt_1", "type": "{event_type}", "data": {_nested(1000)}}}'.encode()
    with pytest.raises(WebhookPayloadError, match="nested deeper than 100 levels"):
        construct_event(body, sign(body), SECRET)


def test_event_data_within_the_depth_limit_stays_raw_and_printable() -> None:
    body = f'{{"id": "evt_1", "type": "unknown.thing", "data": {_nested(50)}}}'.encode()
    event = construct_event(body, sign(body), SECRET)
    assert type(event.data) is dict
    assert repr(event).count("{'a': ") == 50
    assert event == construct_event(body, sign(body), SECRET)


@pytest.mark.parametrize(
    ("payload", "secret", "match"),
    [
        ('{"id": "evt_1", "type": "x"}', SECRET, "raw request body as bytes"),
        ({"id": "evt_1"}, SECRET, "raw request body as bytes"),
        (b"{}", "", "secret"),
        (b"{}", None, "secret"),
        (b"{}", SECRET + "\n", "whitespace"),
        (b"{}", "whsec_\udcff", "lone surrogate"),
    ],
)
def test_misuse_is_an_invalid_parameter(payload: Any, secret: Any, match: str) -> None:
    with pytest.raises(ching_async.InvalidParameterError, match=match):
        construct_event(payload, "00", secret)


def test_verify_signature_checks_the_signature_only() -> None:
    body = b"not even json"
    verify_signature(body, sign(body), SECRET)  # not JSON, but only the signature is checked
    with pytest.raises(SignatureVerificationError, match="missing Ching-Signature"):
        verify_signature(body, None, SECRET)
    with pytest.raises(SignatureVerificationError, match="does not match"):
        verify_signature(body, sign(body, "whsec_other"), SECRET)
