"""How items and results are stored in Redis (compact JSON, absent fields left out).

An item (one entry of a shard's `items` list)::

    {"i": 1234, "customer": "cus_...", "payment_method": "pm_...", "amount": 4990,
     "currency": "usd", "description": "...", "installments": 3,
     "metadata": {...}, "idempotency_key": "invoice-7"}

`i` is the item's global index in the job; `currency` is left out when it is
"ils". An item that failed validation when it was enqueued is kept as
``{"i": 1234, "invalid": "<message>", "item": <the item, if JSON-able>}``: the
worker records it as failed without sending anything, as `create_many` does.

A result (one value of a shard's `results` hash, keyed by the global index)::

    {"outcome": "succeeded", "final": true, "key": "<job_id>:1234", "attempts": 1,
     "charge_id": "ch_...", "status": "succeeded", "amount": 4990, "currency": "ils",
     "error": "<message>", "error_type": "CardDeclinedError"}

`final` is false for an outcome a later run must reconcile (unknown, a charge
that has not succeeded or failed, or failed without knowing the server
rejected it); such items stay in the `open` set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import orjson

from .._bulk import ChargeParams, ChargeResult, Outcome, classify_charge, classify_error
from .._errors import ChingError, InvalidParameterError

__all__ = ["StoredResult", "decode_item", "encode_invalid", "encode_item", "result_record"]

MAX_ERROR_CHARS = 500


def to_params(item: Any) -> ChargeParams:
    """Validate one job item, as `create_many` does before sending."""
    try:
        if isinstance(item, ChargeParams):
            return item.validated()
        return ChargeParams.from_mapping(item)
    except TypeError as exc:
        raise InvalidParameterError(str(exc)) from None


def encode_item(index: int, params: ChargeParams) -> bytes:
    data: dict[str, Any] = {"i": index}
    for field in attrs.fields(ChargeParams):
        value = getattr(params, field.name)
        if value is None or (field.name == "currency" and value == "ils"):
            continue
        data[field.name] = value
    return orjson.dumps(data)


def encode_invalid(index: int, item: Any, error: ChingError) -> bytes:
    if isinstance(item, ChargeParams):
        item = attrs.asdict(item)
    try:
        raw = orjson.loads(orjson.dumps(item))
    except (TypeError, orjson.JSONEncodeError):
        raw = None
    return orjson.dumps({"i": index, "invalid": str(error)[:MAX_ERROR_CHARS], "item": raw})


def decode_item(raw: bytes | str) -> tuple[int, ChargeParams | None, Any]:
    """(global index, params or None when invalid, the error message or the raw item)."""
    data = orjson.loads(raw)
    index = int(data.pop("i"))
    if "invalid" in data:
        return index, None, data
    try:
        return index, ChargeParams(**data).validated(), None
    except (TypeError, InvalidParameterError) as exc:
        return index, None, {"invalid": str(exc), "item": data}


@attrs.frozen
class StoredResult:
    """One result as stored: the JSON value plus what the record script needs."""

    json: bytes
    outcome: Outcome
    final: bool
    amount: int  # agorot charged (succeeded only), else 0
    currency: str


def result_record(result: ChargeResult) -> StoredResult:
    """Turn one of `create_many`'s results into its stored form."""
    charge = result.charge
    data: dict[str, Any] = {"outcome": result.outcome.value}
    amount, currency = 0, "ils"
    if charge is not None:
        outcome, final = classify_charge(charge)  # one not settled yet is not final
        data.update(charge_id=charge.id, status=str(charge.status))
        currency = charge.currency
        if outcome is Outcome.SUCCEEDED:
            amount = charge.amount_captured or charge.amount
    elif result.error is not None:
        _, final = classify_error(result.error)
        data["error_type"] = type(result.error).__name__
    else:  # not produced by create_many, but keep the rule: only a charge is proof
        final = result.outcome in (Outcome.SUCCEEDED, Outcome.DECLINED)
    data = {
        "outcome": data.pop("outcome"),
        "final": final,
        "key": result.idempotency_key,
        "attempts": result.attempts,
        **data,
    }
    if amount:
        data.update(amount=amount, currency=currency)
    if result.error_message:
        data["error"] = result.error_message[:MAX_ERROR_CHARS]
    return StoredResult(orjson.dumps(data), result.outcome, final, amount, currency)


def invalid_record(key: str, message: str) -> StoredResult:
    data = {
        "outcome": Outcome.FAILED.value,
        "final": True,
        "key": key,
        "attempts": 0,
        "error": message[:MAX_ERROR_CHARS],
        "error_type": "InvalidParameterError",
    }
    return StoredResult(orjson.dumps(data), Outcome.FAILED, True, 0, "ils")


def stored_to_result(
    index: int, params: ChargeParams | Any, stored: Mapping[str, Any]
) -> ChargeResult:
    return ChargeResult(
        index=index,
        params=params,
        outcome=Outcome(stored["outcome"]),
        idempotency_key=str(stored.get("key", "")),
        attempts=int(stored.get("attempts", 0)),
        charge_id=stored.get("charge_id"),
        error_message=stored.get("error"),
    )
