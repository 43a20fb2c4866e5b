"""``ching refunds ...``: refund captured charges, exactly once."""

from __future__ import annotations

import argparse

from .. import Charge, Client
from ._amounts import format_money
from ._env import list_command, retrieve_command
from ._once import Wording, by_key, create_once, find_command
from ._options import api_arguments
from ._output import Output

__all__ = ["refunds_create", "refunds_find", "refunds_get", "refunds_list"]


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


refunds_get = retrieve_command("refunds", "refund")
refunds_list = list_command("refunds", "refunds")
refunds_find = find_command("refunds", "refund", "refund")
