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

    # bulk-charge ---------------------------------------------------------------
    p = sub(
        commands,
        "bulk-charge",
        "charge every row of a CSV file, resumably",
        _handler("._bulk_charge", "bulk_charge"),
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
        "--output", metavar="results.csv", help="write every row's outcome to this CSV file"
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="validate the file and print its totals; send nothing",
    )
    _progress_option(p)

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
            hint = " (the embedded fake holds only its sample data: see 'ching charges list')"
        return _fail(out, exc, EXIT_FAILED, describe_error(exc) + hint)
    except ChingError as exc:
        return _fail(out, exc, EXIT_FAILED, describe_error(exc))
    except OSError as exc:
        return _fail(out, exc, EXIT_FAILED, f"{type(exc).__name__}: {exc}")


def _fail(
    out: Output, exc: BaseException, code: int, message: str, details: Sequence[str] = ()
) -> int:
    if out.json_mode:
        # stdout may be gone (a closed pipe); stderr still gets the line.
        with contextlib.suppress(OSError):
            out.emit_json(error_json(exc, code))
    out.error(message, details)
    return code
