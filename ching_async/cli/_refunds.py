"""``ching refunds ...``: refund captured charges, exactly once."""

from __future__ import annotations

import argparse

from .. import APIConnectionError, APIError, Charge, Client, Refund
from ._amounts import format_money
from ._confirm import ask, needs_confirmation
from ._env import call, connect
from ._errors import CliError, ExitCode
from ._output import Output, outcome_unknown

__all__ = ["refunds_create", "refunds_find", "refunds_get", "refunds_list"]

WINDOW = 100  # refunds.find_by_idempotency_key sees the 100 newest refunds


async def refunds_create(args: argparse.Namespace, out: Output) -> int:
    async with connect(out) as conn:
        client = conn.client
        confirm = needs_confirmation(client, yes=args.yes, action=f"refunding {args.charge}")
        if args.idempotency_key is not None:
            # Re-running the command with the same key (say, from a script after
            # an error) must find the refund, not make a second one.
            existing = await client.refunds.find_by_idempotency_key(args.idempotency_key)
            if existing is not None:
                out.notice(
                    f"{existing.id} was already made with idempotency key "
                    f"{args.idempotency_key!r}: not refunded again"
                )
                out.refund(existing, title="Refund (already made with this key)")
                return ExitCode.OK
        if confirm:
            question = await _question(client, args.charge, args.amount)
            if question is not None:  # None: nothing left to refund, the SDK says so
                ask(out, question)
        try:
            refund = await client.refunds.create(
                charge=args.charge,
                amount=args.amount,
                reason=args.reason,
                metadata=args.metadata,
                idempotency_key=args.idempotency_key,
                # Looked up above: the key was not used.
                assume_new=args.idempotency_key is not None,
            )
        except (APIError, APIConnectionError) as exc:
            key = exc.idempotency_key
            if not exc.outcome_unknown or key is None:
                raise
            # OutcomeUnknownError: the refund may have been made, and the lookup
            # could not tell. Sending it again could refund twice.
            hint = f"check with `ching refunds find {key}`; do not refund again"
            what = f"the refund may or may not have been made (idempotency key {key})"
            raise outcome_unknown(exc, what, hint) from exc
    info = refund.request_info
    if info is not None and info.reconciled:
        out.notice(
            f"reconciled: the answer to the refund request was lost; {refund.id} was found "
            "by its idempotency key and not refunded again"
        )
    out.refund(refund, title="Refund created")
    return ExitCode.OK


async def _question(client: Client, charge_id: str, amount: int | None) -> str | None:
    """The live-mode confirmation, with the charge's money and customer."""
    charge: Charge = await client.charges.retrieve(charge_id)
    captured = charge.amount_captured if charge.amount_captured is not None else charge.amount
    left = captured - (charge.refunded_amount or 0)
    if amount is None:
        if left <= 0:
            return None
        what = f"everything left ({format_money(left, charge.currency)})"
    else:
        what = format_money(amount, charge.currency)
    details = [
        charge.customer_name or charge.customer,
        format_money(charge.amount, charge.currency),
    ]
    of = f"{charge_id} ({', '.join(d for d in details if d)})"
    return f"Refund {what} of {of} in live mode?"


async def refunds_get(args: argparse.Namespace, out: Output) -> int:
    return await call(out, lambda client: client.refunds.retrieve(args.id), out.refund)


async def refunds_list(args: argparse.Namespace, out: Output) -> int:
    return await call(out, lambda client: client.refunds.list(), out.refunds)


async def refunds_find(args: argparse.Namespace, out: Output) -> int:
    def show(refund: Refund | None) -> None:
        if refund is None:
            raise CliError(
                f"no refund with idempotency key {args.key!r}: there are fewer than {WINDOW} "
                "refunds and none carries it, so it was not made",
                data={"idempotency_key": args.key, "found": False},
            )
        out.refund(refund, title=f"Refund made with idempotency key {args.key!r}")

    return await call(out, lambda client: client.refunds.find_by_idempotency_key(args.key), show)
