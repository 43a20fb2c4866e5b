"""``ching customers ...`` and ``ching cards ...``: the people you charge and their saved cards."""

from __future__ import annotations

import argparse
import shlex
from functools import partial
from typing import Any, Literal, cast

from .. import APIConnectionError, APIError, Client, Customer
from ._confirm import ask, needs_confirmation
from ._env import action_command, call, list_command, owned_command, retrieve_command
from ._errors import UsageError
from ._output import Output, outcome_unknown

__all__ = [
    "cards_detach",
    "cards_set_default",
    "cards_get",
    "cards_test_card",
    "customers_cards",
    "customers_create",
    "customers_delete",
    "customers_get",
    "customers_list",
    "customers_update",
    "customers_upsert",
]

IdentifyBy = Literal["email", "tax_id", "phone"]

# The options every customer-writing command takes, as (dest, option).
FIELDS = (
    ("email", "--email"),
    ("name", "--name"),
    ("phone", "--phone"),
    ("tax_id", "--tax-id"),
    ("locale", "--locale"),
    ("metadata", "--metadata"),
)


def _fields(args: argparse.Namespace) -> dict[str, Any]:
    """The customer fields given on the command line (absent ones left out)."""
    return {dest: getattr(args, dest) for dest, _ in FIELDS if getattr(args, dest) is not None}


# ------------------------------------------------------------------ customers
async def customers_create(args: argparse.Namespace, out: Output) -> int:
    async def create(client: Client) -> Customer:
        try:
            return await client.customers.create(
                **_fields(args), idempotency_key=args.idempotency_key
            )
        except (APIError, APIConnectionError) as exc:
            if not exc.outcome_unknown:
                raise
            # Not retried by the SDK: a repeat would make a second customer.
            raise outcome_unknown(
                exc, "the customer may or may not have been created", _upsert_hint(args)
            ) from exc

    return await call(out, create, partial(out.customer, title="Customer created"))


def _upsert_hint(args: argparse.Namespace) -> str:
    """How to finish a create whose outcome is unknown without a second customer:
    upsert by the first identifying field given (email, tax id, phone)."""
    for by in ("email", "tax_id", "phone"):
        value = getattr(args, by)
        if value is not None:
            option = dict(FIELDS)[by]
            return (
                f"to create it safely, run `ching customers upsert --identify-by {by} "
                f"{option} {shlex.quote(value)} ...` (it updates the customer if this "
                "create made it); do not run create again"
            )
    return (
        "look for it with `ching customers list` before creating it again; with --email, "
        "--tax-id or --phone, `ching customers upsert` creates a customer safely"
    )


customers_get = retrieve_command("customers", "customer")


async def customers_update(args: argparse.Namespace, out: Output) -> int:
    fields = _fields(args)
    if not fields:
        options = ", ".join(option for _, option in FIELDS)
        raise UsageError(f"nothing to update: give at least one of {options}")
    return await call(
        out,
        lambda client: client.customers.update(args.id, **fields),
        partial(out.customer, title="Customer updated"),
    )


async def customers_upsert(args: argparse.Namespace, out: Output) -> int:
    by: str = args.identify_by
    if getattr(args, by) is None:
        option = dict(FIELDS)[by]
        raise UsageError(f"--identify-by {by} needs {option} VALUE: the customer is found by it")
    return await call(
        out,
        lambda client: client.customers.upsert(identify_by=cast(IdentifyBy, by), **_fields(args)),
        out.upsert,
    )


customers_list = list_command("customers", "customers")


async def customers_delete(args: argparse.Namespace, out: Output) -> int:
    async def delete(client: Client) -> Customer:
        if needs_confirmation(client, yes=args.yes, action=f"deleting customer {args.id}"):
            customer = await client.customers.retrieve(args.id)
            email = f"<{customer.email}>" if customer.email else None
            who = " ".join(part for part in (customer.name, email) if part)
            ask(
                out,
                f"Delete customer {args.id}{f' ({who})' if who else ''} in live mode? "
                "Its saved cards are detached.",
            )
        return await client.customers.delete(args.id)

    title = "Customer deleted (a soft delete: its saved cards are detached)"
    return await call(out, delete, partial(out.customer, title=title))


customers_cards = owned_command("customers", "list_payment_methods", "payment_methods", "customer")


# ---------------------------------------------------------------------- cards
cards_get = retrieve_command("payment_methods", "payment_method")
cards_detach = action_command(
    "payment_methods",
    "detach",
    "payment_method",
    "Card detached: it can no longer be charged",
    "idempotency_key",
)
cards_set_default = action_command(
    "payment_methods", "set_default", "payment_method", "Card set as its customer's default"
)


async def cards_test_card(args: argparse.Namespace, out: Output) -> int:
    return await call(
        out,
        lambda client: client.payment_methods.create_test_card(
            args.customer, card_index=args.index, idempotency_key=args.idempotency_key
        ),
        partial(out.payment_method, title="Test card saved"),
    )
