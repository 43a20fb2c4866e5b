"""An exactly-once create from the command line (``refunds create``, ``products
create``, ``prices create``, ``discounts create``): what the SDK makes exactly
once, a re-run of the same command must not make twice.

With ``--idempotency-key`` the object made with that key is looked up first
and shown instead of making another (so a script may re-run the command);
in live mode the command asks first; an answer found by reconciliation says
so; an unknown outcome says how to find out, and not to send again.
``ching <group> find KEY`` is the lookup such a command points to.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import attrs

from .. import APIConnectionError, APIError, Client
from ._confirm import ask, needs_confirmation
from ._env import call, connect
from ._errors import CliError, ExitCode
from ._options import Handler
from ._output import Output, outcome_unknown

__all__ = ["Wording", "by_key", "create_once", "find_command", "found_by_key"]

M = TypeVar("M")
WINDOW = 100  # find_by_idempotency_key sees the 100 newest objects


@attrs.frozen
class Wording:
    """How the command speaks of what it makes: a refund, a product..."""

    noun: str  # "refund", "product", "discount rule"
    verb: str  # "refund", "create it": what must not be done again
    done: str  # "refunded", "created"
    find: str  # the command that finds it by key, e.g. "ching refunds find"
    request: str  # whose answer may be lost: "refund request", "create request"


def by_key(group: str) -> Callable[[Client, str], Awaitable[Any]]:
    """The lookup for a group whose objects are found by their key alone (no
    scope): `client.<group>.find_by_idempotency_key(key)`; `create_once`'s
    `find`, and `find_command`'s."""
    return lambda client, key: getattr(client, group).find_by_idempotency_key(key)


async def create_once(
    out: Output,
    args: argparse.Namespace,
    words: Wording,
    *,
    action: str,
    find: Callable[[Client, str], Awaitable[M | None]],
    create: Callable[[Client, bool], Awaitable[M]],
    question: str | Callable[[Client], Awaitable[str | None]],
    show: Callable[..., None],
) -> int:
    """Run one create (`action` names it, for the live-mode refusal without
    a terminal): `find(client, key)` an object made with the key,
    `create(client, assume_new)`, `question` the live-mode question (or
    `question(client)`, None: ask nothing), `show(model, title=...)`."""
    key: str | None = args.idempotency_key
    title = words.noun[0].upper() + words.noun[1:]
    async with connect(out) as conn:
        client = conn.client
        confirm = needs_confirmation(client, yes=args.yes, action=action)
        if key is not None:
            # Re-running the command with the same key (say, from a script after
            # an error) must find the object, not make a second one.
            existing: Any = await find(client, key)
            if existing is not None:
                out.notice(
                    f"{existing.id} was already made with idempotency key {key!r}: "
                    f"not {words.done} again"
                )
                show(existing, title=f"{title} (already made with this key)")
                return ExitCode.OK
        if confirm:
            text = question if isinstance(question, str) else await question(client)
            if text is not None:
                ask(out, text)
        try:
            made: Any = await create(client, key is not None)  # looked up above: the key is new
        except (APIError, APIConnectionError) as exc:
            used = exc.idempotency_key
            if not exc.outcome_unknown or used is None:
                raise
            # OutcomeUnknownError: it may have been made, and the lookup could
            # not tell. Sending it again could make two.
            hint = f"check with `{words.find} {used}`; do not {words.verb} again"
            what = f"the {words.noun} may or may not have been made (idempotency key {used})"
            raise outcome_unknown(exc, what, hint) from exc
    info = made.request_info
    if info is not None and info.reconciled:
        out.notice(
            f"reconciled: the answer to the {words.request} was lost; {made.id} was found "
            f"by its idempotency key and not {words.done} again"
        )
    show(made, title=f"{title} created")
    return ExitCode.OK


def find_command(group: str, printer: str, what: str) -> Handler:
    """`ching <group> find KEY`, for a list with no filter: the `what` made
    with the key, printed by `out.<printer>`."""

    async def find(args: argparse.Namespace, out: Output) -> int:
        return await call(
            out,
            lambda client: by_key(group)(client, args.key),
            found_by_key(out, what, args.key, getattr(out, printer)),
        )

    return find


def found_by_key(
    out: Output,
    what: str,
    key: str,
    show: Callable[..., None],
    scope: str = "",
) -> Callable[[Any], None]:
    """Show what a lookup by `key` found; none is an error that says it was
    not made (the newest `WINDOW` of `scope` were fewer and none had it)."""

    def shown(found: Any) -> None:
        if found is None:
            raise CliError(
                f"no {what} with idempotency key {key!r}: there are fewer than {WINDOW} {what}s"
                f"{scope} and none carries it, so it was not made",
                data={"idempotency_key": key, "found": False},
            )
        show(found, title=f"{what[0].upper()}{what[1:]} made with idempotency key {key!r}")

    return shown
