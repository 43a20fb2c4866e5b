"""``ching checkout create|get`` and ``ching portal create``: the hosted pages a
customer is sent to, to pay or to manage their billing.

A create is safe to run again: a session charges nothing until the customer
pays on it, and one left unused expires. Like every write, it asks first in
live mode (``--yes`` skips the question; without a terminal, ``--yes`` is
required). Options are named as the SDK's arguments.
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from typing import Any

from ._amounts import AmountError, parse_agorot

# The catalog's write (asked first in live mode), shared as it is.
from ._catalog import confirmed_write
from ._env import retrieve_command
from ._errors import UsageError
from ._options import api_arguments
from ._output import Output

__all__ = ["checkout_create", "checkout_get", "parse_line_item", "portal_create"]

CHECKOUT_OPTIONS = ("customer", "success_url", "cancel_url", "price", "capture_method",
                    "background_color")  # fmt: skip


def parse_line_item(text: str) -> dict[str, Any]:
    """``NAME|AMOUNT[|QUANTITY]`` (whole agorot; a negative amount is a discount
    line), or a JSON object of the line's fields (``price``, ``image_url``...)."""
    if text.lstrip().startswith("{"):
        try:
            fields = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"--line-item {text!r} is not a JSON object: {exc}") from None
        if not isinstance(fields, dict):
            raise UsageError(f"--line-item {text!r} is not a JSON object")
        return {str(key): value for key, value in fields.items()}
    parts = text.split("|")
    if len(parts) not in (2, 3) or not parts[0].strip():
        raise UsageError(
            f"--line-item takes NAME|AMOUNT[|QUANTITY] (e.g. 'T-shirt|4990|2') or a JSON "
            f"object, got {text!r}"
        )
    amount = parts[1].strip()
    negative = amount.startswith("-")
    try:
        agorot = parse_agorot(amount[1:] if negative else amount)
    except AmountError as exc:
        raise UsageError(f"--line-item {text!r}: {exc}") from None
    line: dict[str, Any] = {"name": parts[0].strip(), "amount_agorot": agorot}
    if negative:
        line["amount_agorot"] = -agorot
    if len(parts) == 3:
        quantity = parts[2].strip()
        if not quantity.isdecimal() or int(quantity) < 1:
            raise UsageError(
                f"--line-item {text!r}: the quantity must be a whole number >= 1, got {quantity!r}"
            )
        line["quantity"] = int(quantity)
    return line


def _codes(values: list[str] | None) -> list[str] | None:
    """Repeated --coupon-code, each a comma-separated list, as one list."""
    codes = [part.strip() for value in values or () for part in value.split(",") if part.strip()]
    return codes or None


def _checkout_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """`checkout_sessions.create`'s arguments; a usage error before anything is sent."""
    lines = [parse_line_item(text) for text in args.line_item or ()]
    if args.price is None and not lines:
        raise UsageError("give --price (what is sold), --line-item (a cart), or both")
    return {
        **api_arguments(args, *CHECKOUT_OPTIONS),
        "line_items": lines or None,
        "coupon_codes": _codes(args.coupon_code),
        "create_document": False if args.no_document else None,
        "payment_methods": args.payment_method,
        "auto_open_wallets": True if args.auto_open_wallets else None,
    }


# Each page a create opens: its group on the client, its printer, and the title.
PAGES = {
    "checkout": (
        "checkout_sessions",
        "checkout_session",
        "Checkout session created: send the customer there",
    ),
    "portal": (
        "billing_portal_sessions",
        "portal_session",
        "Billing portal link created: it signs the customer in until it expires",
    ),
}


async def _open(args: argparse.Namespace, out: Output, page: str, arguments: Any) -> int:
    """`ching <page> create`: one create of a hosted page for --customer, asked
    first in live mode (a catalog write), its answer printed."""
    group, printer, title = PAGES[page]
    return await confirmed_write(
        out,
        args,
        f"opening a {page} page for {args.customer}",
        lambda client: getattr(client, group).create(**arguments),
        partial(getattr(out, printer), title=title),
    )


async def checkout_create(args: argparse.Namespace, out: Output) -> int:
    return await _open(args, out, "checkout", _checkout_arguments(args))


async def portal_create(args: argparse.Namespace, out: Output) -> int:
    return await _open(args, out, "portal", api_arguments(args, "customer", "return_url"))


checkout_get = retrieve_command("checkout_sessions", "checkout_session")
