"""Every ``ching`` command and its options (`build_parser`), and running one
into an exit code (`run`).

The options several commands take, and how a command finds the function that
runs it, are in ``_options``; a command that is one API request sends it with
``_env.call``, which refuses to run without a key unless --fake is given. A
command runs as one asyncio task (`_command`), which SIGTERM cancels as Ctrl-C
does (``_interrupts``). Whatever a command raises is turned into one line on
stderr (and ``{"error": ...}`` on stdout with --json) and an `ExitCode` here,
in `run`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence
from typing import Any, NoReturn, TextIO

from .. import (
    AuthenticationError,
    ChingError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
    __version__,
)
from ._env import API_KEY_ENV, Target, using
from ._errors import CliError, ExitCode, exit_code_help
from ._interrupts import sigterm_as_ctrl_c
from ._options import (
    CommandGroup,
    Handler,
    add_command,
    agorot,
    agorot_or_zero,
    connection_options,
    count,
    idempotency_option,
    json_option,
    lazy_handler,
    metadata_option,
    positive_float,
    positive_int,
    progress_option,
    yes_option,
)
from ._output import Output, describe_error, error_json, one_line
from ._scaleout import add_bulk_charge_options, add_worker_command

__all__ = ["build_parser", "run"]

DESCRIPTION = """\
The CHING payments API from the shell.

Commands talk to the API that CHING_API_KEY (or --api-key) opens;
CHING_BASE_URL overrides the URL. Without a key they refuse to run (exit 4),
unless --fake asks for an embedded fake CHING server with sample data, which
they then say on stderr. `ching demo` shows everything, on the fake.
"""

EPILOG = "amounts are whole agorot: 49.90 ILS is 4990.\n" + exit_code_help()

BULK_DESCRIPTION = """\
Charge every row of a CSV file: customer,payment_method,amount[,currency,
description,installments,idempotency_key,metadata.<key>...] (header row
first; amounts in agorot). The whole file is validated before anything is
charged: a bad row stops the job up front, with its row number.

Every row's start and outcome go to a journal (default ./<job-id>.journal.jsonl).
Re-running the same command resumes: finished rows are skipped, rows that
were in flight are looked up by their idempotency key (<job-id>:<index>
unless the row gives one), so no row is charged twice.
"""

BULK_EPILOG = """\
exit codes: 0 every row succeeded; 1 a row was declined or failed (known not
charged), or an API error; 2 bad arguments or a bad file (nothing was
charged); 3 a row's outcome is unknown (re-run the same command to reconcile
it); 4 no key, a malformed key or base URL, or the API refused the key;
130 interrupted by Ctrl-C or SIGTERM (re-run the same command to resume).
"""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"ching: error: {one_line(message)} (see '{self.prog} --help')\n")
        raise SystemExit(ExitCode.USAGE)


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    json_option(common)
    parser = _Parser(
        prog="ching",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ching_async {__version__}")
    parser.add_argument("--json", action="store_true", help="print results as JSON on stdout")
    connection_options(parser, top_level=True)
    connection_options(common, top_level=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_setup_session_commands(commands, common)
    _add_charge_commands(commands, common)
    _add_customer_commands(commands, common)
    _add_card_commands(commands, common)
    _add_refund_commands(commands, common)
    _add_product_commands(commands, common)
    _add_price_commands(commands, common)
    _add_discount_commands(commands, common)
    _add_subscription_commands(commands, common)
    _add_document_commands(commands, common)
    _add_webhook_commands(commands, common)
    _add_checkout_commands(commands, common)
    _add_bulk_charge_command(commands, common)
    add_worker_command(commands, parents=[common])  # charges jobs enqueued with --redis
    p = add_command(
        commands,
        "demo",
        "a tour of the SDK against an embedded fake server (never a real key)",
        lazy_handler("._demo", "demo"),
        parents=[common],
    )
    p.add_argument(
        "--rows",
        type=positive_int,
        default=1000,
        metavar="N",
        help="rows in the demo's bulk job (default 1000)",
    )
    progress_option(p)
    return parser


UPSERT_DESCRIPTION = """\
Update the newest customer whose email, tax id or phone (--identify-by) matches,
or create one. Safe to re-run: unlike `customers create`, a retry never makes
a second customer. Prints whether the customer was created or updated.
"""

DELETE_DESCRIPTION = """\
Soft-delete a customer: it becomes a tombstone (`customers get` says
"deleted"), its saved cards are detached, and it leaves `customers list`.
Charges and documents keep referring to it. In live mode the command asks
first (--yes skips the question; without a terminal, --yes is required).
"""

REFUND_DESCRIPTION = """\
Refund all or part of a captured charge. The refund is made exactly once:
its idempotency key (--idempotency-key, or a generated one) is stored in the
refund's metadata, and after a timeout or a 5xx the refund is looked up
among the 100 newest refunds before anything is sent again. With
--idempotency-key, a refund already made with that key is shown and nothing
is refunded again, so a script can re-run the command. In live mode the
command asks first (--yes skips the question; without a terminal, --yes is
required).
"""

REFUND_EPILOG = """\
exit codes: 0 refunded (or found already made with the key); 1 an API
error; 2 bad arguments or not confirmed (nothing was sent); 3 the outcome is
unknown (check with `ching refunds find KEY`; do not refund again); 4 no key,
or the API refused it.
"""

VERIFY_DESCRIPTION = """\
Verify a webhook delivery offline: the Ching-Signature header against the raw
body, with the endpoint's whsec_... secret, then decode it as an event.
Reads the body from FILE, or from stdin with - (the default), as raw bytes.
Needs no API key and sends nothing.
"""

VERIFY_EPILOG = """\
exit codes: 0 valid; 1 invalid signature (missing, wrong secret or a changed
body) or a signed body that is not an event; 2 no secret or an unreadable
file. The secret is never printed.
"""


# The _add_*_commands functions are alike in shape only: each declares its own group's commands.
def _add_setup_session_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    sessions = CommandGroup(
        commands, "setup-sessions", "hosted pages that save a customer's card", "._commands", common
    )
    p = sessions.command("create", "create a setup session; send the customer to its url")
    p.add_argument("--customer", required=True, metavar="CUS_ID")
    p.add_argument("--success-url", required=True, metavar="URL")
    p.add_argument("--cancel-url", required=True, metavar="URL")
    metadata_option(p)
    idempotency_option(p)
    sessions.command("get", "retrieve a setup session", id="SETI_ID")
    p = sessions.command("cancel", "cancel a pending setup session", id="SETI_ID")
    idempotency_option(p)


def _add_charge_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    charges = CommandGroup(
        commands, "charges", "charge saved cards; capture or cancel holds", "._commands", common
    )
    p = charges.command("create", "charge a saved card (captured at once)")
    p.add_argument("--customer", required=True, metavar="CUS_ID")
    p.add_argument("--payment-method", required=True, metavar="PM_ID")
    p.add_argument(
        "--amount",
        required=True,
        type=agorot,
        metavar="AGOROT",
        help="whole agorot: 4990 is 49.90 ILS",
    )
    p.add_argument("--currency", default="ils", help="ISO 4217 code (default: ils)")
    p.add_argument("--description")
    p.add_argument("--installments", type=positive_int, metavar="N")
    metadata_option(p)
    idempotency_option(
        p,
        "e.g. an invoice id; if the customer already has a charge made with this key, "
        "it is shown and nothing is charged again",
    )
    charges.command("get", "retrieve a charge", id="CH_ID")
    p = charges.command("list", "the 100 newest charges, newest first")
    p.add_argument("--customer", metavar="CUS_ID", help="only this customer's charges")
    p = charges.command(
        "capture", "capture a requires_capture charge, fully or partially", id="CH_ID"
    )
    p.add_argument(
        "--amount",
        type=agorot,
        metavar="AGOROT",
        help="capture only this much (whole agorot); default: all of it",
    )
    idempotency_option(p)
    p = charges.command("cancel", "cancel a requires_capture charge (release the hold)", id="CH_ID")
    p.add_argument(
        "--reason",
        dest="cancellation_reason",
        choices=["requested_by_customer", "fraudulent", "abandoned"],
        help="cancellation reason (the server's default: requested_by_customer)",
    )
    idempotency_option(p)


def _customer_field_options(p: argparse.ArgumentParser, *, name_required: bool) -> None:
    p.add_argument("--email", metavar="EMAIL")
    p.add_argument("--name", required=name_required, help="shown on receipts")
    p.add_argument("--phone", help="stored in E.164 (054-987-6543 -> +972549876543)")
    p.add_argument("--tax-id", metavar="TAX_ID", help="e.g. a teudat zehut or company number")
    p.add_argument("--locale", help="e.g. he or en")
    metadata_option(p)


def _add_customer_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    customers = CommandGroup(
        commands,
        "customers",
        "the people you charge: create, upsert, list, delete; their saved cards",
        "._customers",
        common,
    )
    p = customers.command("create", "create a customer (not safe to retry: `customers upsert` is)")
    _customer_field_options(p, name_required=True)
    idempotency_option(p)
    customers.command("get", "retrieve a customer (a deleted one shows as deleted)", id="CUS_ID")
    p = customers.command("update", "change the given fields of a customer", id="CUS_ID")
    _customer_field_options(p, name_required=False)
    p = customers.command(
        "upsert",
        "update the customer matching --identify-by, or create one (safe to retry)",
        description=UPSERT_DESCRIPTION,
    )
    p.add_argument(
        "--identify-by",
        required=True,
        choices=["email", "tax_id", "phone"],
        help="the field that finds the customer (its option must be given too)",
    )
    _customer_field_options(p, name_required=False)
    customers.command("list", "the 100 newest customers, newest first (deleted ones left out)")
    p = customers.command(
        "delete",
        "soft-delete a customer and detach its saved cards",
        id="CUS_ID",
        description=DELETE_DESCRIPTION,
    )
    yes_option(p, "delete")
    customers.command("cards", "a customer's active saved cards", id="CUS_ID")


def _add_card_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    cards = CommandGroup(
        commands,
        "cards",
        "saved cards: get, detach, set-default; test cards in test mode",
        "._customers",
        common,
    )
    cards.command("get", "retrieve a saved card", id="PM_ID")
    p = cards.command(
        "detach", "detach a saved card from its customer (it can no longer be charged)", id="PM_ID"
    )
    idempotency_option(p)
    cards.command("set-default", "make a saved card its customer's default card", id="PM_ID")
    p = cards.command("test-card", "test mode only: save a synthetic card for a customer")
    p.add_argument("customer", metavar="CUS_ID")
    p.add_argument(
        "--index",
        type=int,
        choices=[0, 1, 2],
        default=0,
        help="0 visa (default), 1 mastercard, 2 amex",
    )
    idempotency_option(p)


def _add_refund_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    refunds = CommandGroup(
        commands, "refunds", "refund captured charges, fully or partially", "._refunds", common
    )
    p = refunds.command(
        "create",
        "refund a charge, fully or partially, exactly once",
        description=REFUND_DESCRIPTION,
        epilog=REFUND_EPILOG,
    )
    p.add_argument("--charge", required=True, metavar="CH_ID")
    p.add_argument(
        "--amount",
        type=agorot,
        metavar="AGOROT",
        help="refund only this much (whole agorot: 2500 is 25.00 ILS); default: all that is left",
    )
    p.add_argument("--reason", choices=["requested_by_customer", "duplicate", "fraudulent"])
    metadata_option(p)
    idempotency_option(
        p,
        "e.g. a return or ticket id; a refund already made with this key is shown "
        "and nothing is refunded again",
    )
    yes_option(p, "refund")
    refunds.command("get", "retrieve a refund", id="RE_ID")
    refunds.command("list", "the 100 newest refunds, newest first")
    p = refunds.command(
        "find", "find the refund made with an idempotency key (after an unknown outcome)"
    )
    p.add_argument("key", metavar="KEY")


# ------------------------------------------------ products, prices, discounts
CREATE_ONCE_EPILOG = """\
made exactly once: with --idempotency-key, one already made with the key is
shown and nothing is made again (a script may re-run the command); after a
timeout or a 5xx it is looked up by its key before anything is sent again.
In live mode the command asks first (--yes skips the question; without a
terminal, --yes is required).
exit codes: 0 made (or found made with the key); 1 an API error; 2 bad
arguments or not confirmed (nothing was sent); 3 the outcome is unknown
(check with the find command it names; do not create it again); 4 no key,
or the API refused it.
"""

WRITE_EPILOG = """\
In live mode the command asks first (--yes skips the question; without a
terminal, --yes is required).
"""


def _create_once_options(p: argparse.ArgumentParser, what: str) -> None:
    metadata_option(p)
    idempotency_option(
        p, f"e.g. a plan id: a {what} already made with this key is shown, not made again"
    )
    yes_option(p, "create")


def _active_options(p: argparse.ArgumentParser, what: str) -> None:
    active = p.add_mutually_exclusive_group()
    active.add_argument(
        "--active", dest="active", action="store_const", const=True, help=f"{what} active"
    )
    active.add_argument(
        "--inactive", dest="active", action="store_const", const=False, help=f"{what} inactive"
    )


def _add_product_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    products = CommandGroup(
        commands, "products", "what you sell: create, update, images, list", "._catalog", common
    )
    products.command("list", "the 100 newest products, newest first")
    products.command("get", "retrieve a product", id="PROD_ID")
    p = products.command(
        "create",
        "create a product, exactly once",
        epilog=CREATE_ONCE_EPILOG,
        description=("Create a product (active from the start); its prices say what it costs."),
    )
    p.add_argument("--name", required=True)
    p.add_argument("--description", help="shown on hosted checkout")
    image = p.add_mutually_exclusive_group()
    image.add_argument("--image-url", metavar="URL", help="an https:// image URL")
    image.add_argument(
        "--image",
        metavar="FILE",
        help="upload this image (PNG, JPEG, WebP or GIF, <= 2 MB) and use it",
    )
    p.add_argument(
        "--feature", action="append", metavar="TITLE[|SUBTITLE]", help="repeatable, in order"
    )
    _create_once_options(p, "product")
    p = products.command(
        "update",
        "change a product's fields",
        id="PROD_ID",
        epilog=WRITE_EPILOG,
        description="Change the given fields of a product; the others stay as they are.",
    )
    p.add_argument("--name")
    description = p.add_mutually_exclusive_group()
    description.add_argument("--description")
    description.add_argument("--clear-description", action="store_true")
    image = p.add_mutually_exclusive_group()
    image.add_argument("--image-url", metavar="URL", help="an https:// image URL")
    image.add_argument("--image", metavar="FILE", help="upload this image and use it")
    image.add_argument("--clear-image", action="store_true")
    features = p.add_mutually_exclusive_group()
    features.add_argument(
        "--feature",
        action="append",
        metavar="TITLE[|SUBTITLE]",
        help="replace the features with these (repeatable)",
    )
    features.add_argument(
        "--add-feature",
        action="append",
        metavar="TITLE[|SUBTITLE]",
        help="add to the current features (read first: the API replaces the list)",
    )
    features.add_argument("--clear-features", action="store_true")
    _active_options(p, "make it")
    metadata_option(p)
    yes_option(p, "update")
    p = products.command(
        "upload-image", "host an image for --image-url; prints its URL", epilog=WRITE_EPILOG
    )
    p.add_argument("file", metavar="FILE", help="a PNG, JPEG, WebP or GIF of at most 2 MB")
    p.add_argument(
        "--content-type",
        choices=["image/png", "image/jpeg", "image/webp", "image/gif"],
        help="checked against the file's first bytes",
    )
    p.add_argument("--filename", help="without extension (default: the file's name)")
    yes_option(p, "upload")
    p = products.command("find", "find the product made with an idempotency key")
    p.add_argument("key", metavar="KEY")


def _add_price_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    prices = CommandGroup(
        commands, "prices", "what a product costs, once or every interval", "._catalog", common
    )
    p = prices.command("list", "the 100 newest prices, newest first (active ones by default)")
    p.add_argument("--product", metavar="PROD_ID", help="only this product's prices")
    p.add_argument("--active", choices=["true", "false", "all"], help="default: true")
    prices.command("get", "retrieve a price", id="PRICE_ID")
    p = prices.command(
        "create",
        "create a price of a product, exactly once",
        epilog=CREATE_ONCE_EPILOG,
        description="Create a price: once (--type one_time) or every --interval "
        "(--type recurring).",
    )
    p.add_argument("--product", required=True, metavar="PROD_ID")
    p.add_argument(
        "--unit-amount",
        required=True,
        type=agorot_or_zero,
        metavar="AGOROT",
        help="whole agorot: 9900 is 99.00 ILS; 0 is a free plan",
    )
    p.add_argument("--type", required=True, choices=["one_time", "recurring"])
    p.add_argument(
        "--interval",
        choices=["day", "week", "month", "year"],
        help="with --type recurring (the docs list month and year)",
    )
    p.add_argument("--interval-count", type=positive_int, metavar="N", help="every N intervals")
    p.add_argument("--trial-period-days", type=count, metavar="DAYS")
    p.add_argument("--currency", help="ISO 4217 code (the server's default: ils)")
    p.add_argument(
        "--tax-mode",
        choices=["inclusive", "exclusive"],
        help="VAT included (the default) or added at charge time",
    )
    _create_once_options(p, "price")
    p = prices.command(
        "update",
        "change a price, now or on a date",
        id="PRICE_ID",
        epilog=WRITE_EPILOG,
        description="Change a price, and say how the change reaches subscriptions.",
    )
    p.add_argument(
        "--apply-mode", required=True, choices=["now", "new_subscribers_only", "scheduled"]
    )
    p.add_argument(
        "--effective-date",
        metavar="ISO-8601",
        help="with --apply-mode scheduled, e.g. 2026-07-01T00:00:00Z",
    )
    p.add_argument("--unit-amount", type=agorot_or_zero, metavar="AGOROT")
    trial = p.add_mutually_exclusive_group()
    trial.add_argument("--trial-period-days", type=count, metavar="DAYS")
    trial.add_argument("--clear-trial", action="store_true", help="remove the free trial")
    p.add_argument("--tax-mode", choices=["inclusive", "exclusive"])
    metadata_option(p)
    yes_option(p, "update")
    p = prices.command(
        "cancel-migration",
        "withdraw a price's scheduled change",
        id="PRICE_ID",
        epilog=WRITE_EPILOG,
    )
    yes_option(p, "cancel")
    p = prices.command("find", "find the price made with an idempotency key")
    p.add_argument("product", metavar="PROD_ID")
    p.add_argument("key", metavar="KEY")


def _discount_window_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--active-from", metavar="ISO-8601", help="redeemable from")
    p.add_argument("--active-until", metavar="ISO-8601", help="redeemable until")
    p.add_argument("--max-redemptions", type=positive_int, metavar="N")
    p.add_argument("--max-redemptions-per-customer", type=positive_int, metavar="N")


def _add_discount_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    discounts = CommandGroup(
        commands,
        "discounts",
        "discount rules: automatic or redeemed with a code",
        "._catalog",
        common,
    )
    discounts.command("list", "the 100 newest discount rules, newest first")
    discounts.command("get", "retrieve a discount rule", id="DISC_ID")
    p = discounts.command(
        "create",
        "create a discount rule, exactly once",
        epilog=CREATE_ONCE_EPILOG,
        description="Create a discount rule: automatic, or redeemed with --code.",
    )
    p.add_argument("--name", required=True)
    p.add_argument("--redemption", required=True, choices=["automatic", "code"])
    p.add_argument("--code", help="with --redemption code: 1-64 of A-Z 0-9 _ - (upper-cased)")
    p.add_argument("--target-type", required=True, choices=["order", "products", "prices"])
    p.add_argument(
        "--target",
        action="append",
        metavar="IDS",
        help="product or price ids, comma-separated or repeated",
    )
    p.add_argument("--value-type", required=True, choices=["percent", "amount", "override"])
    p.add_argument(
        "--value",
        required=True,
        type=count,
        metavar="N",
        help="percent: basis points (2000 is 20%%); amount: agorot off; "
        "override: the agorot unit price",
    )
    p.add_argument("--value-tax-mode", choices=["inclusive", "exclusive"], help="with override")
    p.add_argument("--currency", help="with amount or override (default: ils)")
    p.add_argument(
        "--duration", required=True, choices=["once", "n_charges", "until_date", "forever"]
    )
    p.add_argument("--duration-charges", type=positive_int, metavar="N", help="with n_charges")
    p.add_argument("--duration-until", metavar="ISO-8601", help="with until_date")
    _discount_window_options(p)
    _active_options(p, "create it")
    _create_once_options(p, "discount rule")
    p = discounts.command(
        "update",
        "change a rule's mutable fields",
        id="DISC_ID",
        epilog=WRITE_EPILOG,
        description="Change a discount rule's name, window, limits or state; what it takes "
        "off is fixed.",
    )
    p.add_argument("--name")
    _discount_window_options(p)
    _active_options(p, "make it")
    metadata_option(p)
    yes_option(p, "update")
    p = discounts.command(
        "targets", "replace a rule's products or prices", id="DISC_ID", epilog=WRITE_EPILOG
    )
    p.add_argument(
        "--target",
        action="append",
        required=True,
        metavar="IDS",
        help="product or price ids, comma-separated or repeated",
    )
    yes_option(p, "replace")
    p = discounts.command(
        "archive", "archive a rule: no new redemptions", id="DISC_ID", epilog=WRITE_EPILOG
    )
    yes_option(p, "archive")
    discounts.command(
        "redemptions", "a rule's uses and the subscriptions it applies to", id="DISC_ID"
    )
    p = discounts.command("find", "find the rule made with an idempotency key")
    p.add_argument("key", metavar="KEY")


DOWNLOAD_DESCRIPTION = """\
Download a document's PDF (streamed; refused unless it is a PDF within the
client's size limit). It is written to a temporary file beside the
destination and renamed over it only once complete, so a failed download
leaves nothing behind. --output - writes it to stdout.
"""

WEBHOOK_CREATE_DESCRIPTION = """\
Register a URL for webhook events of this key's mode. The endpoint's signing
secret (whsec_...) is printed this once: store it now. If the answer is
lost, the command looks for the endpoint: found, its secret is lost (delete
it and create it again); nothing is registered twice. In live mode the
command asks first (--yes skips the question; without a terminal, --yes is
required).
"""


SUBSCRIPTION_CREATE_DESCRIPTION = """\
Subscribe a customer to a recurring price. The first period is charged to
--payment-method now, unless the price has a trial (or costs 0, when no card
is needed). A declined first charge leaves the subscription incomplete (its
latest charge is the failed one), or is refused with CHARGE_FAILED.
"""

CHANGE_PRICE_DESCRIPTION = """\
Move a subscription to another recurring price. By default an upgrade (a
higher cost per day) applies now and is charged pro rata for the days left of
the period (the renewal date stays), and a downgrade is scheduled for the
period end. --change-timing at_period_end defers an upgrade too;
immediately on a downgrade is refused. The current price again withdraws a
scheduled change. Never charged twice: after a timeout or a lost answer the
subscription is read back before anything is sent again.
"""


# Alike in shape only the catalog's groups (see the note above _add_setup_session_commands).
def _add_subscription_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    subscriptions = CommandGroup(
        commands,
        "subscriptions",
        "customers billed every period: create, change price, cancel, list",
        "._subscriptions",
        common,
    )
    subscriptions.command("list", "the 100 newest subscriptions, newest first")
    subscriptions.command(
        "get", "retrieve a subscription: its scheduled change and next charge", id="SUB_ID"
    )
    p = subscriptions.command(
        "create",
        "subscribe a customer to a price, exactly once",
        epilog=CREATE_ONCE_EPILOG,
        description=SUBSCRIPTION_CREATE_DESCRIPTION,
    )
    p.add_argument("--customer", required=True, metavar="CUS_ID")
    p.add_argument("--price", required=True, metavar="PRICE_ID", help="a recurring price")
    p.add_argument("--payment-method", metavar="PM_ID", help="the card to bill")
    p.add_argument(
        "--discount",
        action="append",
        metavar="CODE|DISC_ID",
        help="a code or a rule's id (repeatable, or comma-separated)",
    )
    _create_once_options(p, "subscription")
    p = subscriptions.command(
        "cancel", "cancel a subscription now or at its period end", id="SUB_ID",
        epilog=WRITE_EPILOG,
    )  # fmt: skip
    p.add_argument(
        "--at-period-end",
        action="store_true",
        help="stay active until the period paid for ends (default: cancel now)",
    )
    yes_option(p, "cancel")
    p = subscriptions.command(
        "change-price",
        "move a subscription to another price",
        id="SUB_ID",
        epilog=WRITE_EPILOG,
        description=CHANGE_PRICE_DESCRIPTION,
    )
    p.add_argument("--price", required=True, metavar="PRICE_ID", help="a recurring price")
    p.add_argument("--change-timing", choices=["immediately", "at_period_end"])
    yes_option(p, "change the price")
    p = subscriptions.command("find", "find the subscription made with an idempotency key")
    p.add_argument("key", metavar="KEY")


TRIGGER_DESCRIPTION = """\
Send one realistic sample event to your webhook endpoint, signed with its
secret (Ching-Signature) exactly as CHING signs a delivery, to test your
handler without the API: CHING itself cannot trigger events. The sample is
made by the embedded fake CHING server (a customer, a card, a plan... then
the step that fires the event), so its data is the object as the API shows
it. Needs no API key. TYPE is one of: charge.succeeded, charge.failed,
charge.authorized, charge.captured, charge.canceled, refund.created,
setup_session.failed, setup_session.expired, payment_method.attached,
payment_method.detached, customer.created, customer.updated,
customer.deleted, discount.created, discount.updated, discount.deleted,
discount.applied, discount.expired, subscription.created,
subscription.updated, subscription.canceled, subscription.trial_will_end.
"""

TRIGGER_EPILOG = """\
exit codes: 0 the endpoint answered 2xx; 1 it answered otherwise, or not
within 10 seconds; 2 an unknown TYPE, a bad URL or no secret. The secret is
never printed.
"""


def _add_document_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    documents = CommandGroup(
        commands,
        "documents",
        "tax documents (invoice-receipts) CHING issues, and their PDFs",
        "._documents",
        common,
    )
    documents.command("list", "the 100 newest documents, newest first")
    documents.command("get", "retrieve a document", id="DOC_ID")
    p = documents.command(
        "download", "download a document's PDF", id="DOC_ID", description=DOWNLOAD_DESCRIPTION
    )
    p.add_argument(
        "--output",
        "-o",
        metavar="FILE|-",
        help="where to write it (default: DOC_ID.pdf here; - for stdout)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing file")


def _add_webhook_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    webhooks = CommandGroup(
        commands,
        "webhooks",
        "webhook endpoints: list, create, delete; verify a delivery; trigger a sample event",
        "._webhooks",
        common,
    )
    webhooks.command("list", "this mode's webhook endpoints (their secrets are never shown)")
    p = webhooks.command(
        "create",
        "register a URL for events; prints its secret once",
        description=WEBHOOK_CREATE_DESCRIPTION,
    )
    p.add_argument("--url", required=True, metavar="URL", help="where CHING POSTs the events")
    p.add_argument(
        "--events",
        required=True,
        action="append",
        metavar="TYPES",
        help="event types, comma-separated or repeated (e.g. charge.succeeded,refund.created;"
        " '*' for all)",
    )
    yes_option(p, "register")
    p = webhooks.command("delete", "delete a webhook endpoint: deliveries to it stop at once")
    p.add_argument("id", metavar="ID", type=positive_int, help="the endpoint's number (see list)")
    yes_option(p, "delete")
    p = webhooks.command(
        "verify",
        "verify a delivery's Ching-Signature and decode its event",
        description=VERIFY_DESCRIPTION,
        epilog=VERIFY_EPILOG,
        offline=True,
    )
    _secret_options(p)
    p.add_argument(
        "--signature",
        metavar="HEX",
        help="the Ching-Signature header's value (an empty or missing one is invalid)",
    )
    p.add_argument("file", nargs="?", default="-", metavar="FILE|-", help="default: stdin")
    p = webhooks.command(
        "trigger",
        "send a signed sample event of any documented type to your endpoint",
        description=TRIGGER_DESCRIPTION,
        epilog=TRIGGER_EPILOG,
        offline=True,
    )
    p.add_argument("type", metavar="TYPE", help="e.g. subscription.updated (see above)")
    p.add_argument("--to", required=True, metavar="URL", help="your webhook endpoint")
    _secret_options(p)


def _secret_options(p: argparse.ArgumentParser) -> None:
    """Where a command reads the endpoint's whsec_... secret from."""
    secret = p.add_mutually_exclusive_group()
    secret.add_argument(
        "--secret-env",
        metavar="NAME",
        help="read the whsec_... secret from this environment variable "
        "(default: CHING_WEBHOOK_SECRET)",
    )
    secret.add_argument(
        "--secret",
        metavar="SECRET",
        help="the secret itself (visible to other users in the process list: prefer --secret-env)",
    )


CHECKOUT_CREATE_DESCRIPTION = """\
Open a hosted checkout for a customer and print its url: one price
(--price), a cart (--line-item, 1 to 50), or both (a recurring plan plus
one-time items). The customer pays there; the charge reaches you by webhook.
Safe to run again: a session charges nothing until it is paid, and expires
after 30 minutes unused. In live mode the command asks first (--yes skips
the question; without a terminal, --yes is required).
"""


def _add_checkout_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    checkout = CommandGroup(
        commands, "checkout", "hosted checkout pages: create, get", "._checkout", common
    )
    p = checkout.command(
        "create", "open a hosted checkout; prints its url", description=CHECKOUT_CREATE_DESCRIPTION
    )
    p.add_argument("--customer", required=True, metavar="CUS_ID", help="an existing customer")
    p.add_argument("--success-url", required=True, metavar="URL")
    p.add_argument("--cancel-url", required=True, metavar="URL")
    p.add_argument("--price", metavar="PRICE_ID", help="what is sold (one-time or recurring)")
    p.add_argument(
        "--line-item",
        action="append",
        metavar="NAME|AGOROT[|QTY]",
        help="a cart line (repeatable): 'T-shirt|4990|2', '-1000' for a discount line, or a "
        "JSON object of its fields (price, product, description, image_url)",
    )
    p.add_argument(
        "--coupon-code", action="append", metavar="CODES", help="comma-separated or repeated"
    )
    p.add_argument(
        "--capture-method",
        choices=["automatic", "manual"],
        help="manual holds the amount for `ching charges capture` (one-time prices and carts)",
    )
    p.add_argument("--no-document", action="store_true", help="issue no tax document")
    embedded = p.add_argument_group("embedded checkout (its embed url in an iframe)")
    embedded.add_argument(
        "--payment-method", action="append", choices=["card", "wallet"], help="repeatable"
    )
    embedded.add_argument("--background-color", metavar="#HEX", help="#rgb, #rrggbb or #rrggbbaa")
    embedded.add_argument(
        "--auto-open-wallets", action="store_true", help="open the wallet sheet on load"
    )
    yes_option(p, "create")
    checkout.command("get", "retrieve a checkout session, with its status", id="CO_ID")
    portal = CommandGroup(
        commands, "portal", "billing portal links for a customer", "._checkout", common
    )
    p = portal.command(
        "create",
        "a short-lived link to a customer's billing portal",
        epilog=WRITE_EPILOG,
        description="A link where the customer sees invoices, changes cards and manages "
        "subscriptions. It signs them in until it expires: send it to them only.",
    )
    p.add_argument("--customer", required=True, metavar="CUS_ID")
    p.add_argument("--return-url", metavar="URL", help='the portal\'s "back to site" link')
    yes_option(p, "create")


def _add_bulk_charge_command(commands: Any, common: argparse.ArgumentParser) -> None:
    p = add_command(
        commands,
        "bulk-charge",
        "charge every row of a CSV file, resumably",
        lazy_handler("._scaleout", "bulk_charge"),  # runs without --redis go to ._bulk_charge
        parents=[common],
        description=BULK_DESCRIPTION,
        epilog=BULK_EPILOG,
    )
    p.add_argument("file", metavar="FILE.csv")
    p.add_argument(
        "--job-id",
        required=True,
        metavar="ID",
        help="names the job: re-run with the same id to resume it",
    )
    p.add_argument(
        "--concurrency",
        type=positive_int,
        default=16,
        metavar="N",
        help="charges in flight at once (default 16; one per customer at a time)",
    )
    p.add_argument(
        "--rate",
        type=positive_float,
        metavar="R",
        help="at most R requests per second (default: no limit); a row takes one or "
        "two (its lookup by key unless --new-job, then the charge; a run adds one) and "
        "re-sends count",
    )
    p.add_argument(
        "--row-rate",
        type=positive_float,
        metavar="R",
        help="at most R rows charged per second (default: no limit); rows an earlier "
        "run finished are not paced",
    )
    journal = p.add_mutually_exclusive_group()
    journal.add_argument(
        "--journal", metavar="PATH", help="JSONL journal (default ./<job-id>.journal.jsonl)"
    )
    journal.add_argument(
        "--no-journal",
        action="store_true",
        help="keep no journal: every row is looked up before it is sent",
    )
    p.add_argument(
        "--new-job",
        action="store_true",
        help="this job id has never run anywhere: send each row without first looking "
        "it up by its key (one GET less per row; wrong if the job ran before)",
    )
    p.add_argument(
        "--output", metavar="results.csv", help="write every row's outcome to this CSV file"
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="validate the file and print its totals; send nothing",
    )
    progress_option(p)
    add_bulk_charge_options(p)  # --redis URL, --shards, --queue, --detach, --lookup-first


def run(
    argv: Sequence[str] | None, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:  # --help, --version, or a usage error (already printed)
        return exit.code if isinstance(exit.code, int) else ExitCode.USAGE
    out = Output(json_mode=bool(args.json), stdout=stdout, stderr=stderr)
    try:
        return asyncio.run(_command(args, out))
    except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C or SIGTERM
        stopped = out.interruption
        return _fail(out, stopped, ExitCode.INTERRUPTED, stopped.message)
    except CliError as exc:
        return _fail(out, exc, exc.exit_code, exc.message, exc.details)
    except InvalidParameterError as exc:  # rejected before sending
        return _fail(out, exc, ExitCode.USAGE, f"{exc}")
    except (AuthenticationError, PermissionDeniedError) as exc:
        hint = f" (the API refused the key: check {API_KEY_ENV} or --api-key)"
        return _fail(out, exc, ExitCode.CONFIG, describe_error(exc) + hint)
    except NotFoundError as exc:
        hint = _sample_hint(args) if getattr(args, "fake", False) else ""
        return _fail(out, exc, ExitCode.FAILED, describe_error(exc) + hint)
    except ChingError as exc:
        code = ExitCode.UNKNOWN if getattr(exc, "outcome_unknown", False) else ExitCode.FAILED
        return _fail(out, exc, code, describe_error(exc))
    except OSError as exc:
        return _fail(out, exc, ExitCode.FAILED, f"{type(exc).__name__}: {exc}")


async def _command(args: argparse.Namespace, out: Output) -> int:
    """The command's task: its --api-key/--fake in reach of `_env.connect`, and
    SIGTERM cancelling it as Ctrl-C does."""
    handler: Handler = args.handler
    with using(Target.from_args(args)), sigterm_as_ctrl_c():
        return await handler(args, out)


def _see(*listings: str) -> str:
    return "holds only its sample data: see " + " and ".join(
        f"'ching {listing} --fake'" for listing in listings
    )


def _none_of(what: str) -> str:
    return f"is made afresh for each command, with sample data that has no {what}"


# What a 404 under --fake means, by command, or by command and action where the
# action looks up other objects (a create: what it is made from).
_SAMPLE_HINTS = {
    "setup-sessions": _none_of("setup sessions"),
    "setup-sessions create": _see("customers list"),
    "charges": _see("charges list"),
    "charges create": _see("customers list"),
    "customers": _see("customers list"),
    "cards": _see("customers cards CUS_ID"),
    "refunds": _none_of("refunds"),
    "refunds create": _see("charges list"),
    "products": _see("products list"),
    "prices": _see("prices list"),
    "prices create": _see("products list"),
    "discounts": _see("discounts list"),
    "subscriptions": _none_of("subscriptions"),
    "subscriptions create": _see("customers list", "prices list"),
    "documents": _see("documents list"),
    "webhooks": _none_of("webhook endpoints"),
    "checkout": _none_of("checkout sessions"),
    "checkout create": _see("customers list", "prices list"),
    "portal": _see("customers list"),
}


def _sample_hint(args: argparse.Namespace) -> str:
    """Why a 404 under --fake: the fake knows only what it was seeded with."""
    action = f"{args.command} {getattr(args, 'action', '')}"
    hint = _SAMPLE_HINTS.get(action) or _SAMPLE_HINTS.get(args.command)
    return f" (the embedded fake {hint})" if hint else ""


def _fail(
    out: Output, exc: BaseException, code: int, message: str, details: Sequence[str] = ()
) -> int:
    if out.json_mode:
        # stdout may be gone (a closed pipe); stderr still gets the line.
        with contextlib.suppress(OSError):
            out.emit_json(error_json(exc, code))
    out.error(message, details)
    return code
