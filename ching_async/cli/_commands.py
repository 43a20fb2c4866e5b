"""``ching setup-sessions ...`` and ``ching charges ...``: one API call each."""

from __future__ import annotations

import argparse

from ._env import connect
from ._errors import EXIT_OK
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
async def setup_sessions_create(args: argparse.Namespace, out: Output) -> int:
    async with connect(out) as conn:
        session = await conn.client.setup_sessions.create(
            customer=args.customer,
            success_url=args.success_url,
            cancel_url=args.cancel_url,
            metadata=args.metadata,
            idempotency_key=args.idempotency_key,
        )
    out.setup_session(session, title="Setup session created: send the customer to its url")
    return EXIT_OK


async def setup_sessions_get(args: argparse.Namespace, out: Output) -> int:
    async with connect(out) as conn:
        session = await conn.client.setup_sessions.retrieve(args.id)
    out.setup_session(session)
    return EXIT_OK


async def setup_sessions_cancel(args: argparse.Namespace, out: Output) -> int:
    async with connect(out) as conn:
        session = await conn.client.setup_sessions.cancel(
            args.id, idempotency_key=args.idempotency_key
        )
    out.setup_session(session, title="Setup session canceled")
    return EXIT_OK


# ------------------------------------------------------------------- charges
async def charges_create(args: argparse.Namespace, out: Output) -> int:
    async with connect(out) as conn:
        # CHING does not deduplicate, but the SDK does for a caller's own key:
        # re-running this command with the same key (say, from a script after
        # a timeout) finds the charge instead of repeating it.
        charge = await conn.client.charges.create(
            customer=args.customer,
            payment_method=args.payment_method,
            amount=args.amount,
            currency=args.currency,
            description=args.description,
            installments=args.installments,
            metadata=args.metadata,
            idempotency_key=args.idempotency_key,
        )
    if charge.request_info is not None and charge.request_info.found_existing:
        out.notice(
            f"{charge.id} was already created with idempotency key "
            f"{args.idempotency_key!r}: not charged again"
        )
        out.charge(charge, title="Charge (already created with this key)")
        return EXIT_OK
    out.charge(charge, title="Charge created")
    return EXIT_OK


async def charges_get(args: argparse.Namespace, out: Output) -> int:
    async with connect(out) as conn:
        charge = await conn.client.charges.retrieve(args.id)
    out.charge(charge)
    return EXIT_OK


async def charges_list(args: argparse.Namespace, out: Output) -> int:
    async with connect(out) as conn:
        charges = await conn.client.charges.list(customer=args.customer)
    out.charges(charges)
    return EXIT_OK


async def charges_capture(args: argparse.Namespace, out: Output) -> int:
    async with connect(out) as conn:
        charge = await conn.client.charges.capture(
            args.id, amount=args.amount, idempotency_key=args.idempotency_key
        )
    partial = args.amount is not None and args.amount < charge.amount
    out.charge(charge, title="Charge captured" + (" (partially)" if partial else ""))
    return EXIT_OK


async def charges_cancel(args: argparse.Namespace, out: Output) -> int:
    async with connect(out) as conn:
        charge = await conn.client.charges.cancel(
            args.id, cancellation_reason=args.reason, idempotency_key=args.idempotency_key
        )
    out.charge(charge, title="Charge canceled: the hold is released")
    return EXIT_OK
