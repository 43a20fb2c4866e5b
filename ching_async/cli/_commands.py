"""``ching setup-sessions ...`` and ``ching charges ...``: one API call each.

Each command is ``_env.call(out, request, show)``: the request it sends, and
how its result is printed.
"""

from __future__ import annotations

import argparse
from functools import partial

from .. import Charge
from ._env import action_command, call, retrieve_command
from ._options import api_arguments
from ._output import Output

__all__ = [
    "charges_cancel",
    "charges_capture",
    "charges_create",
    "charges_get",
    "charges_list",
    "setup_sessions_cancel",
    "setup_sessions_create",
    "setup_sessions_get",
]


# ------------------------------------------------------------ setup sessions
# The options `create` passes on by name (each is named as the API's argument).
SETUP_SESSION_FIELDS = ("customer", "success_url", "cancel_url", "metadata", "idempotency_key")


async def setup_sessions_create(args: argparse.Namespace, out: Output) -> int:
    return await call(
        out,
        lambda client: client.setup_sessions.create(**api_arguments(args, *SETUP_SESSION_FIELDS)),
        partial(out.setup_session, title="Setup session created: send the customer to its url"),
    )


setup_sessions_get = retrieve_command("setup_sessions", "setup_session")


setup_sessions_cancel = action_command(
    "setup_sessions", "cancel", "setup_session", "Setup session canceled", "idempotency_key"
)


# ------------------------------------------------------------------- charges
# The options `create` passes on by name (each is named as the API's argument).
CHARGE_FIELDS = (
    "customer",
    "payment_method",
    "amount",
    "currency",
    "description",
    "installments",
    "metadata",
    "idempotency_key",
)


async def charges_create(args: argparse.Namespace, out: Output) -> int:
    def show(charge: Charge) -> None:
        if charge.request_info is not None and charge.request_info.found_existing:
            out.notice(
                f"{charge.id} was already created with idempotency key "
                f"{args.idempotency_key!r}: not charged again"
            )
            out.charge(charge, title="Charge (already created with this key)")
        else:
            out.charge(charge, title="Charge created")

    # CHING does not deduplicate, but the SDK does for a caller's own key:
    # re-running this command with the same key (say, from a script after
    # a timeout) finds the charge instead of repeating it.
    return await call(
        out, lambda client: client.charges.create(**api_arguments(args, *CHARGE_FIELDS)), show
    )


charges_get = retrieve_command("charges", "charge")


async def charges_list(args: argparse.Namespace, out: Output) -> int:
    return await call(out, lambda client: client.charges.list(customer=args.customer), out.charges)


async def charges_capture(args: argparse.Namespace, out: Output) -> int:
    def show(charge: Charge) -> None:
        partly = args.amount is not None and args.amount < charge.amount
        out.charge(charge, title="Charge captured" + (" (partially)" if partly else ""))

    return await call(
        out,
        lambda client: client.charges.capture(
            args.id, amount=args.amount, idempotency_key=args.idempotency_key
        ),
        show,
    )


charges_cancel = action_command(
    "charges",
    "cancel",
    "charge",
    "Charge canceled: the hold is released",
    "cancellation_reason",
    "idempotency_key",
)
