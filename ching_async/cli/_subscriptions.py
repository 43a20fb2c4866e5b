"""``ching subscriptions ...``: customers billed every period.

`create` is made exactly once (``_once.create_once``, like the catalog's
creates); `cancel` and `change-price` are writes (``_catalog._write``): every
write asks first in live mode (``--yes`` skips the question; without a
terminal, ``--yes`` is required). Options are named as the SDK's arguments.
"""

from __future__ import annotations

import argparse
from functools import partial

from ._catalog import _find_by_key, _list_all, _retrieve, _write, creates, targets
from ._once import create_once
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


# The create and the writes below are alike in shape only the catalog's and the
# refunds': each hands create_once or _write its own request and wording.
async def subscriptions_create(args: argparse.Namespace, out: Output) -> int:
    return await create_once(
        out,
        args,
        SUBSCRIPTION,
        action=f"subscribing {args.customer} to {args.price}",
        find=lambda client, key: client.subscriptions.find_by_idempotency_key(key),
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


async def subscriptions_cancel(args: argparse.Namespace, out: Output) -> int:
    when = "at the end of its period" if args.at_period_end else "now"
    return await _write(
        out,
        args,
        f"canceling subscription {args.id} {when}",
        lambda client: client.subscriptions.cancel(
            args.id, cancel_at_period_end=True if args.at_period_end else None
        ),
        partial(out.subscription, title=f"Subscription canceled {when}"),
    )


async def subscriptions_change_price(args: argparse.Namespace, out: Output) -> int:
    return await _write(
        out,
        args,
        f"changing the price of subscription {args.id} to {args.price}",
        lambda client: client.subscriptions.change_price(
            args.id, **api_arguments(args, "price", "change_timing")
        ),
        partial(out.price_change, title="Price changed"),
    )


subscriptions_get = _retrieve("subscriptions", "subscription")
subscriptions_list = _list_all("subscriptions", "subscriptions")
subscriptions_find = _find_by_key("subscriptions", "subscription", "subscription")
