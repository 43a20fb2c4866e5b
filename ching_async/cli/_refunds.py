"""``ching refunds ...``: refund captured charges, exactly once."""

from __future__ import annotations

import argparse

from .. import Charge, Client, Refund
from ._amounts import format_money
from ._env import call
from ._errors import CliError
from ._once import Wording, by_key, create_once
from ._options import api_arguments
from ._output import Output

__all__ = ["refunds_create", "refunds_find", "refunds_get", "refunds_list"]

WINDOW = 100  # refunds.find_by_idempotency_key sees the 100 newest refunds


# The options `create` passes on by name (each is named as the API's argument).
REFUND_FIELDS = ("charge", "amount", "reason", "metadata", "idempotency_key")
REFUND = Wording(
    noun="refund",
    verb="refund",
    done="refunded",
    find="ching refunds find",
    request="refund request",
)


async def refunds_create(args: argparse.Namespace, out: Output) -> int:
    return await create_once(
        out,
        args,
        REFUND,
        action=f"refunding {args.charge}",
        find=by_key("refunds"),
        create=lambda client, assume_new: client.refunds.create(
            **api_arguments(args, *REFUND_FIELDS), assume_new=assume_new
        ),
        question=lambda client: _question(client, args.charge, args.amount),
        show=out.refund,
    )


async def _question(client: Client, charge_id: str, amount: int | None) -> str | None:
    """The live-mode confirmation, with the charge's money and customer (None:
    nothing is left to refund, and the SDK says so)."""
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
