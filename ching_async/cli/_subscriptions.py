"""``ching subscriptions ...``: customers billed every period.

`create` is made exactly once (``_once.create_once``, like the catalog's
creates); `cancel` and `change-price` are writes (``_catalog.write_command``):
every write asks first in live mode (``--yes`` skips the question; without a
terminal, ``--yes`` is required). Options are named as the SDK's arguments.
"""

from __future__ import annotations

import argparse
from functools import partial

from ._catalog import creates, targets, write_command
from ._env import list_command, retrieve_command
from ._once import by_key, create_once, find_command
from ._options import api_arguments
from ._output import Output

__all__ = [
    "subscriptions_cancel",
    "subscriptions_change_price",
    "subscriptions_create",
    "subscriptions_find",
    "subscriptions_get",
    "subscriptions_list",
]

SUBSCRIPTION = creates("subscription", find="ching subscriptions find")


def discounts(values: list[str] | None) -> list[dict[str, str]] | None:
    """Repeated --discount, each a comma-separated list: a rule id (disc_...)
    or a code."""
    return [
        {"discount": value} if value.startswith("disc_") else {"code": value}
        for value in targets(values) or ()
    ] or None


# Alike in shape only refunds_create: each hands create_once its own request and wording.
async def subscriptions_create(args: argparse.Namespace, out: Output) -> int:
    return await create_once(
        out,
        args,
        SUBSCRIPTION,
        action=f"subscribing {args.customer} to {args.price}",
        find=by_key("subscriptions"),
        create=lambda client, assume_new: client.subscriptions.create(
            **api_arguments(args, "customer", "price", "payment_method", "metadata"),
            discounts=discounts(args.discount),
            idempotency_key=args.idempotency_key,
            assume_new=assume_new,
        ),
        question=f"Subscribe {args.customer} to {args.price} (its first period is charged "
        "now, unless the price has a trial) in live mode?",
        show=out.subscription,
    )


def _when(args: argparse.Namespace) -> str:
    return "at the end of its period" if args.at_period_end else "now"


subscriptions_cancel = write_command(
    lambda args: f"canceling subscription {args.id} {_when(args)}",
    lambda client, args: client.subscriptions.cancel(
        args.id, cancel_at_period_end=args.at_period_end or None
    ),
    lambda out, args: partial(out.subscription, title=f"Subscription canceled {_when(args)}"),
)
subscriptions_change_price = write_command(
    lambda args: f"changing the price of subscription {args.id} to {args.price}",
    lambda client, args: client.subscriptions.change_price(
        args.id, **api_arguments(args, "price", "change_timing")
    ),
    lambda out, args: partial(out.price_change, title="Price changed"),
)
subscriptions_get = retrieve_command("subscriptions", "subscription")
subscriptions_list = list_command("subscriptions", "subscriptions")
subscriptions_find = find_command("subscriptions", "subscription", "subscription")
