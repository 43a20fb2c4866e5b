"""Endpoint handlers: decoded request in, JSON data out. HTTP plumbing lives in _app."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from multidict import MultiMapping

from ._envelope import FakeApiError
from ._state import Ledger
from ._validation import JSONObject, parse_cancel, parse_capture, parse_charge, parse_setup_session


@dataclass(frozen=True, slots=True)
class Call:
    """What an endpoint sees of a request that passed auth and body parsing."""

    params: Mapping[str, str]
    query: MultiMapping[str]
    body: JSONObject
    livemode: bool
    idempotency_key: str | None


Handler = Callable[[Ledger, Call], Any]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    template: str  # relative to the API base
    handler: Handler


def create_setup_session(ledger: Ledger, call: Call) -> Any:
    session = ledger.create_setup_session(parse_setup_session(call.body), livemode=call.livemode)
    return session.to_json(ledger.now())


def get_setup_session(ledger: Ledger, call: Call) -> Any:
    return ledger.get_setup_session(call.params["id"]).to_json(ledger.now())


def cancel_setup_session(ledger: Ledger, call: Call) -> Any:
    session = ledger.cancel_setup_session(call.params["id"])
    return {"id": session.id, "status": session.status}  # documented: only these two


def create_charge(ledger: Ledger, call: Call) -> Any:
    params = parse_charge(call.body)
    charge = ledger.create_charge(
        params, livemode=call.livemode, idempotency_key=call.idempotency_key
    )
    if charge.status == "failed":
        message = charge.failure_message or "The charge failed."
        raise FakeApiError(402, "CHARGE_FAILED", message)
    return charge.to_json()


def list_charges(ledger: Ledger, call: Call) -> Any:
    charges = ledger.recent_charges(call.query.get("customer"))
    return [_with_customer_name(ledger, charge.to_json()) for charge in charges]


def _with_customer_name(ledger: Ledger, data: JSONObject) -> JSONObject:
    customer = ledger.customers.get(data["customer"])
    data["customer_name"] = customer.name if customer is not None else None
    return data


def get_charge(ledger: Ledger, call: Call) -> Any:
    return ledger.get_charge(call.params["id"]).to_json()


def capture_charge(ledger: Ledger, call: Call) -> Any:
    amount = parse_capture(call.body)
    return ledger.capture_charge(call.params["id"], amount).to_json()


def cancel_charge(ledger: Ledger, call: Call) -> Any:
    reason = parse_cancel(call.body)
    return ledger.cancel_charge(call.params["id"], reason).to_json()


def get_customer(ledger: Ledger, call: Call) -> Any:
    return ledger.get_customer(call.params["id"]).to_json()


ROUTES: tuple[Route, ...] = (
    Route("POST", "/setup_sessions", create_setup_session),
    Route("GET", "/setup_sessions/{id}", get_setup_session),
    Route("POST", "/setup_sessions/{id}/cancel", cancel_setup_session),
    Route("POST", "/charges", create_charge),
    Route("GET", "/charges", list_charges),
    Route("GET", "/charges/{id}", get_charge),
    Route("POST", "/charges/{id}/capture", capture_charge),
    Route("POST", "/charges/{id}/cancel", cancel_charge),
    Route("GET", "/customers/{id}", get_customer),
)
