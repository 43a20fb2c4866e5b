"""The argument parser, and running a command into an exit code."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, NoReturn, TextIO

from .. import ChingError, InvalidParameterError, NotFoundError, __version__
from ._amounts import AmountError, parse_agorot
from ._env import api_key_from_env
from ._errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, CliError
from ._output import Output, describe_error, error_json, one_line
from ._scaleout import add_bulk_charge_options, add_worker_command

__all__ = ["build_parser", "run"]

Handler = Callable[[argparse.Namespace, Output], Coroutine[Any, Any, int]]

DESCRIPTION = """\
The CHING payments API from the shell.

With CHING_API_KEY set, commands talk to the real API (CHING_BASE_URL
overrides the URL). Without it, they run against an embedded fake CHING
server with sample data, and say so on stderr. `ching demo` shows everything.
"""

EPILOG = """\
amounts are whole agorot: 49.90 ILS is 4990.
exit codes: 0 success; 1 an API error, or a bulk row declined, failed or
unknown; 2 bad arguments or input (nothing was sent); 130 interrupted.
"""

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
exit codes: 0 every row succeeded; 1 a row was declined, failed or unknown,
or an API error; 2 bad arguments or a bad file (nothing was charged);
130 interrupted (re-run the same command to resume).
"""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"ching: error: {one_line(message)} (see '{self.prog} --help')\n")
        raise SystemExit(EXIT_USAGE)


def _agorot(text: str) -> int:
    try:
        return parse_agorot(text)
    except AmountError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    if text.strip().isdigit() and int(text) >= 1:
        return int(text)
    raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def _metadata_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


class _MetadataAction(argparse.Action):
    """Repeated ``--metadata KEY=VALUE`` into one dict (None when absent)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        current = dict(getattr(namespace, self.dest, None) or {})
        key, value = values
        current[key] = value
        setattr(namespace, self.dest, current)


def _handler(module: str, name: str) -> Handler:
    """Import the command's module only when it runs (keeps `ching --help` fast)."""

    async def run(args: argparse.Namespace, out: Output) -> int:
        command: Handler = getattr(importlib.import_module(module, __package__), name)
        return await command(args, out)

    return run


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help='print the result as JSON on stdout (errors too, as {"error": ...})',
    )
    parser = _Parser(
        prog="ching",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ching_async {__version__}")
    parser.add_argument("--json", action="store_true", help="print results as JSON on stdout")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def sub(group: Any, name: str, help: str, handler: Handler, **kw: Any) -> Any:
        p = group.add_parser(name, help=help, description=kw.pop("description", help), **kw)
        p.set_defaults(handler=handler)
        return p

    def idempotency(p: argparse.ArgumentParser, help: str = "your own idempotency key") -> None:
        p.add_argument("--idempotency-key", metavar="KEY", help=help)

    # setup-sessions ----------------------------------------------------------
    sessions = commands.add_parser(
        "setup-sessions", help="hosted pages that save a customer's card", parents=[common]
    ).add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub(
        sessions,
        "create",
        "create a setup session; send the customer to its url",
        _handler("._commands", "setup_sessions_create"),
        parents=[common],
    )
    p.add_argument("--customer", required=True, metavar="CUS_ID")
    p.add_argument("--success-url", required=True, metavar="URL")
    p.add_argument("--cancel-url", required=True, metavar="URL")
    p.add_argument(
        "--metadata",
        action=_MetadataAction,
        type=_metadata_pair,
        metavar="KEY=VALUE",
        help="repeatable",
    )
    idempotency(p)
    p = sub(
        sessions,
        "get",
        "retrieve a setup session",
        _handler("._commands", "setup_sessions_get"),
        parents=[common],
    )
    p.add_argument("id", metavar="SETI_ID")
    p = sub(
        sessions,
        "cancel",
        "cancel a pending setup session",
        _handler("._commands", "setup_sessions_cancel"),
        parents=[common],
    )
    p.add_argument("id", metavar="SETI_ID")
    idempotency(p)

    # charges -------------------------------------------------------------------
    charges = commands.add_parser(
        "charges", help="charge saved cards; capture or cancel holds", parents=[common]
    ).add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub(
        charges,
        "create",
        "charge a saved card (captured at once)",
        _handler("._commands", "charges_create"),
        parents=[common],
    )
    p.add_argument("--customer", required=True, metavar="CUS_ID")
    p.add_argument("--payment-method", required=True, metavar="PM_ID")
    p.add_argument(
        "--amount",
        required=True,
        type=_agorot,
        metavar="AGOROT",
        help="whole agorot: 4990 is 49.90 ILS",
    )
    p.add_argument("--currency", default="ils", help="ISO 4217 code (default: ils)")
    p.add_argument("--description")
    p.add_argument("--installments", type=_positive_int, metavar="N")
    p.add_argument(
        "--metadata",
        action=_MetadataAction,
        type=_metadata_pair,
        metavar="KEY=VALUE",
        help="repeatable",
    )
    idempotency(
        p,
        "e.g. an invoice id; if the customer already has a charge made with this key, "
        "it is shown and nothing is charged again",
    )
    p = sub(
        charges,
        "get",
        "retrieve a charge",
        _handler("._commands", "charges_get"),
        parents=[common],
    )
    p.add_argument("id", metavar="CH_ID")
    p = sub(
        charges,
        "list",
        "the 100 newest charges, newest first",
        _handler("._commands", "charges_list"),
        parents=[common],
    )
    p.add_argument("--customer", metavar="CUS_ID", help="only this customer's charges")
    p = sub(
        charges,
        "capture",
        "capture a requires_capture charge, fully or partially",
        _handler("._commands", "charges_capture"),
        parents=[common],
    )
    p.add_argument("id", metavar="CH_ID")
    p.add_argument(
        "--amount",
        type=_agorot,
        metavar="AGOROT",
        help="capture only this much (whole agorot); default: all of it",
    )
    idempotency(p)
    p = sub(
        charges,
        "cancel",
        "cancel a requires_capture charge (release the hold)",
        _handler("._commands", "charges_cancel"),
        parents=[common],
    )
    p.add_argument("id", metavar="CH_ID")
    p.add_argument(
        "--reason",
        choices=["requested_by_customer", "fraudulent", "abandoned"],
        help="cancellation reason (the server's default: requested_by_customer)",
    )
    idempotency(p)

    # customers, cards, refunds, webhooks ---------------------------------------
    _add_customer_commands(commands, common)
    _add_card_commands(commands, common)
    _add_refund_commands(commands, common)
    _add_webhook_commands(commands, common)

    # bulk-charge ---------------------------------------------------------------
    p = sub(
        commands,
        "bulk-charge",
        "charge every row of a CSV file, resumably",
        _handler("._scaleout", "bulk_charge"),  # runs without --redis go to ._bulk_charge
        parents=[common],
        description=BULK_DESCRIPTION,
        epilog=BULK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
        type=_positive_int,
        default=16,
        metavar="N",
        help="charges in flight at once (default 16; one per customer at a time)",
    )
    p.add_argument(
        "--rate",
        type=_positive_float,
        metavar="R",
        help="at most R requests per second (default: no limit)",
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
    _progress_option(p)
    add_bulk_charge_options(p)  # --redis URL, --shards, --queue, --detach, --lookup-first

    # worker: charges jobs enqueued with bulk-charge --redis -------------------------
    add_worker_command(commands, parents=[common])

    # demo ------------------------------------------------------------------------
    p = sub(
        commands,
        "demo",
        "a tour of the SDK against an embedded fake server (never a real key)",
        _handler("._demo", "demo"),
        parents=[common],
    )
    p.add_argument(
        "--rows",
        type=_positive_int,
        default=1000,
        metavar="N",
        help="rows in the demo's bulk job (default 1000)",
    )
    _progress_option(p)
    return parser


def _progress_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--progress",
        choices=["auto", "bar", "lines", "off"],
        default="auto",
        help="progress on stderr: a bar on a terminal, a line per 10%% otherwise (auto)",
    )


def _command(
    group: Any, name: str, help: str, handler: Handler, common: argparse.ArgumentParser, **kw: Any
) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = group.add_parser(
        name, help=help, description=kw.pop("description", help), parents=[common], **kw
    )
    p.set_defaults(handler=handler)
    return p


def _metadata_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--metadata",
        action=_MetadataAction,
        type=_metadata_pair,
        metavar="KEY=VALUE",
        help="repeatable",
    )


def _yes_option(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--yes",
        action="store_true",
        help=f"{what} without asking (in live mode the command asks on a terminal, "
        "and refuses without a terminal unless --yes is given)",
    )


def _customer_field_options(p: argparse.ArgumentParser, *, email_required: bool) -> None:
    p.add_argument("--email", required=email_required, metavar="EMAIL")
    p.add_argument("--name")
    p.add_argument("--phone", help="stored in E.164 (054-987-6543 -> +972549876543)")
    p.add_argument("--tax-id", metavar="TAX_ID", help="e.g. a teudat zehut or company number")
    p.add_argument("--locale", help="e.g. he or en")
    _metadata_option(p)


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
error, or the outcome is unknown (then check with `ching refunds find KEY`;
do not refund again); 2 bad arguments or not confirmed (nothing was sent).
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


def _add_customer_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    customers = commands.add_parser(
        "customers",
        help="the people you charge: create, upsert, list, delete; their saved cards",
        parents=[common],
    ).add_subparsers(dest="action", metavar="ACTION", required=True)
    module = "._customers"
    p = _command(
        customers,
        "create",
        "create a customer (not safe to retry: `customers upsert` is)",
        _handler(module, "customers_create"),
        common,
    )
    _customer_field_options(p, email_required=True)
    p.add_argument("--idempotency-key", metavar="KEY", help="your own idempotency key")
    p = _command(
        customers,
        "get",
        "retrieve a customer (a deleted one shows as deleted)",
        _handler(module, "customers_get"),
        common,
    )
    p.add_argument("id", metavar="CUS_ID")
    p = _command(
        customers,
        "update",
        "change the given fields of a customer",
        _handler(module, "customers_update"),
        common,
    )
    p.add_argument("id", metavar="CUS_ID")
    _customer_field_options(p, email_required=False)
    p = _command(
        customers,
        "upsert",
        "update the customer matching --identify-by, or create one (safe to retry)",
        _handler(module, "customers_upsert"),
        common,
        description=UPSERT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--identify-by",
        required=True,
        choices=["email", "tax_id", "phone"],
        help="the field that finds the customer (its option must be given too)",
    )
    _customer_field_options(p, email_required=False)
    _command(
        customers,
        "list",
        "the 100 newest customers, newest first (deleted ones left out)",
        _handler(module, "customers_list"),
        common,
    )
    p = _command(
        customers,
        "delete",
        "soft-delete a customer and detach its saved cards",
        _handler(module, "customers_delete"),
        common,
        description=DELETE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("id", metavar="CUS_ID")
    _yes_option(p, "delete")
    p = _command(
        customers,
        "cards",
        "a customer's active saved cards",
        _handler(module, "customers_cards"),
        common,
    )
    p.add_argument("id", metavar="CUS_ID")


def _add_card_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    cards = commands.add_parser(
        "cards",
        help="saved cards: get, detach; test cards in test mode",
        parents=[common],
    ).add_subparsers(dest="action", metavar="ACTION", required=True)
    module = "._customers"
    p = _command(cards, "get", "retrieve a saved card", _handler(module, "cards_get"), common)
    p.add_argument("id", metavar="PM_ID")
    p = _command(
        cards,
        "detach",
        "detach a saved card from its customer (it can no longer be charged)",
        _handler(module, "cards_detach"),
        common,
    )
    p.add_argument("id", metavar="PM_ID")
    p.add_argument("--idempotency-key", metavar="KEY", help="your own idempotency key")
    p = _command(
        cards,
        "test-card",
        "test mode only: save a synthetic card for a customer",
        _handler(module, "cards_test_card"),
        common,
    )
    p.add_argument("customer", metavar="CUS_ID")
    p.add_argument(
        "--index",
        type=int,
        choices=[0, 1, 2],
        default=0,
        help="0 visa (default), 1 mastercard, 2 amex",
    )
    p.add_argument("--idempotency-key", metavar="KEY", help="your own idempotency key")


def _add_refund_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    refunds = commands.add_parser(
        "refunds", help="refund captured charges, fully or partially", parents=[common]
    ).add_subparsers(dest="action", metavar="ACTION", required=True)
    module = "._refunds"
    p = _command(
        refunds,
        "create",
        "refund a charge, fully or partially, exactly once",
        _handler(module, "refunds_create"),
        common,
        description=REFUND_DESCRIPTION,
        epilog=REFUND_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--charge", required=True, metavar="CH_ID")
    p.add_argument(
        "--amount",
        type=_agorot,
        metavar="AGOROT",
        help="refund only this much (whole agorot: 2500 is 25.00 ILS); default: all that is left",
    )
    p.add_argument("--reason", choices=["requested_by_customer", "duplicate", "fraudulent"])
    _metadata_option(p)
    p.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="e.g. a return or ticket id; a refund already made with this key is shown "
        "and nothing is refunded again",
    )
    _yes_option(p, "refund")
    p = _command(refunds, "get", "retrieve a refund", _handler(module, "refunds_get"), common)
    p.add_argument("id", metavar="RE_ID")
    _command(
        refunds,
        "list",
        "the 100 newest refunds, newest first",
        _handler(module, "refunds_list"),
        common,
    )
    p = _command(
        refunds,
        "find",
        "find the refund made with an idempotency key (after an unknown outcome)",
        _handler(module, "refunds_find"),
        common,
    )
    p.add_argument("key", metavar="KEY")


def _add_webhook_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    webhooks = commands.add_parser(
        "webhooks", help="verify a webhook delivery offline", parents=[common]
    ).add_subparsers(dest="action", metavar="ACTION", required=True)
    p = _command(
        webhooks,
        "verify",
        "verify a delivery's Ching-Signature and decode its event",
        _handler("._webhooks", "webhooks_verify"),
        common,
        description=VERIFY_DESCRIPTION,
        epilog=VERIFY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    p.add_argument(
        "--signature",
        metavar="HEX",
        help="the Ching-Signature header's value (an empty or missing one is invalid)",
    )
    p.add_argument("file", nargs="?", default="-", metavar="FILE|-", help="default: stdin")


def run(
    argv: Sequence[str] | None, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:  # --help, --version, or a usage error (already printed)
        return exit.code if isinstance(exit.code, int) else EXIT_USAGE
    out = Output(json_mode=bool(args.json), stdout=stdout, stderr=stderr)
    handler: Handler = args.handler
    try:
        return asyncio.run(handler(args, out))
    except KeyboardInterrupt:
        out.error("interrupted")
        return EXIT_INTERRUPTED
    except CliError as exc:
        return _fail(out, exc, exc.exit_code, exc.message, exc.details)
    except InvalidParameterError as exc:  # rejected before sending
        return _fail(out, exc, EXIT_USAGE, f"{exc}")
    except NotFoundError as exc:
        hint = ""
        if api_key_from_env() is None and args.command != "demo":
            listing = _SAMPLE_LISTINGS.get(args.command, "ching charges list")
            hint = f" (the embedded fake holds only its sample data: see '{listing}')"
        return _fail(out, exc, EXIT_FAILED, describe_error(exc) + hint)
    except ChingError as exc:
        return _fail(out, exc, EXIT_FAILED, describe_error(exc))
    except OSError as exc:
        return _fail(out, exc, EXIT_FAILED, f"{type(exc).__name__}: {exc}")


# Where the embedded fake's sample data shows, for a 404's hint.
_SAMPLE_LISTINGS = {
    "customers": "ching customers list",
    "cards": "ching customers cards CUS_ID",
    "refunds": "ching refunds list",
}


def _fail(
    out: Output, exc: BaseException, code: int, message: str, details: Sequence[str] = ()
) -> int:
    if out.json_mode:
        # stdout may be gone (a closed pipe); stderr still gets the line.
        with contextlib.suppress(OSError):
            out.emit_json(error_json(exc, code))
    out.error(message, details)
    return code
