"""The pieces every ``ching`` parser is built from, declared once.

- ``CommandGroup`` and ``add_command``: a subcommand and the function that runs
  it (``ching charges get`` runs ``_commands.charges_get``), imported only when
  it runs, so ``ching --help`` stays fast;
- the options more than one command takes (``--metadata``,
  ``--idempotency-key``, ``--yes``, ``--progress``; ``--json``, which every
  command takes, and ``--api-key`` and ``--fake``, which every command that
  talks to CHING takes, before or after its name);
- the value types that turn an option's text into a number or a pair, with a
  one-line usage error (exit 2) for a bad one.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from ._amounts import AmountError, parse_agorot

if TYPE_CHECKING:
    from ._output import Output

__all__ = [
    "CommandGroup",
    "Handler",
    "MetadataAction",
    "add_command",
    "agorot",
    "agorot_or_zero",
    "api_arguments",
    "connection_options",
    "count",
    "idempotency_option",
    "json_option",
    "lazy_handler",
    "metadata_option",
    "positive_float",
    "positive_int",
    "progress_option",
    "seconds",
    "yes_option",
]

Handler = Callable[[argparse.Namespace, "Output"], Coroutine[Any, Any, int]]


# ------------------------------------------------------------------ commands
def lazy_handler(module: str, name: str) -> Handler:
    """``module.name`` (relative to this package), imported only when the command runs."""

    async def run(args: argparse.Namespace, out: Output) -> int:
        command: Handler = getattr(importlib.import_module(module, __package__), name)
        return await command(args, out)

    return run


def add_command(
    subcommands: Any,
    name: str,
    help: str,
    handler: Handler,
    *,
    parents: Sequence[argparse.ArgumentParser],
    description: str | None = None,
    epilog: str | None = None,
) -> argparse.ArgumentParser:
    """Add the command `name`, run by `handler`. Without a `description` its
    help is its description; a `description` (and `epilog`) is printed as written."""
    layout: dict[str, Any] = {"description": help}
    if description is not None:
        layout = {
            "description": description,
            "epilog": epilog,
            "formatter_class": argparse.RawDescriptionHelpFormatter,
        }
    p: argparse.ArgumentParser = subcommands.add_parser(
        name, help=help, parents=list(parents), **layout
    )
    p.set_defaults(handler=handler)
    return p


class CommandGroup:
    """``ching <group> <action>``: ``ching charges get`` runs ``charges_get``
    (dashes become underscores) from the group's `module`."""

    def __init__(
        self, commands: Any, name: str, help: str, module: str, common: argparse.ArgumentParser
    ) -> None:
        group = commands.add_parser(name, help=help, parents=[common])
        self._actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)
        self._prefix = name.replace("-", "_")
        self._module = module
        self._common = common

    def command(
        self, name: str, help: str, *, id: str | None = None, offline: bool = False, **layout: str
    ) -> argparse.ArgumentParser:
        """The action `name`; `id` is the metavar of its positional ``id`` argument,
        if any; `offline`: it talks to no server, so it offers no ``--api-key`` or
        ``--fake``; `layout` (description, epilog) goes to `add_command`."""
        handler = lazy_handler(self._module, f"{self._prefix}_{name.replace('-', '_')}")
        parents = [_OFFLINE if offline else self._common]
        p = add_command(self._actions, name, help, handler, parents=parents, **layout)
        if id is not None:
            p.add_argument("id", metavar=id)
        return p


def api_arguments(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The options `names` as keyword arguments: options are named as the API's arguments."""
    return {name: getattr(args, name) for name in names}


# ------------------------------------------------------------------ shared options
def json_option(p: argparse.ArgumentParser) -> None:
    """``--json`` on a command: absent by default, so one given before the
    command's name is kept."""
    p.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help='print the result as JSON on stdout (errors too, as {"error": ...})',
    )


_OFFLINE = argparse.ArgumentParser(add_help=False)  # the options of a command that sends nothing
json_option(_OFFLINE)


def connection_options(p: argparse.ArgumentParser, *, top_level: bool) -> None:
    """``--api-key`` and ``--fake``, read by ``_env.Target``. On a command (not
    `top_level`) they default to nothing, so a value given before the command's
    name is kept, as with --json."""
    default: dict[str, Any] = {} if top_level else {"default": argparse.SUPPRESS}
    group = p.add_argument_group("which server (commands that talk to CHING)")
    group.add_argument(
        "--api-key",
        metavar="KEY",
        help="the API key (default: $CHING_API_KEY; the variable is safer: other users "
        "can read a command line); without a key a command refuses to run",
        **default,
    )
    group.add_argument(
        "--fake",
        action="store_true",
        help="run against an embedded fake CHING server with sample data instead "
        "(in memory; nothing is charged for real)",
        **default,
    )


def metadata_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--metadata",
        action=MetadataAction,
        type=metadata_pair,
        metavar="KEY=VALUE",
        help="repeatable",
    )


def idempotency_option(p: argparse.ArgumentParser, help: str = "your own idempotency key") -> None:
    p.add_argument("--idempotency-key", metavar="KEY", help=help)


def yes_option(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--yes",
        action="store_true",
        help=f"{what} without asking (in live mode the command asks on a terminal, "
        "and refuses without a terminal unless --yes is given)",
    )


def progress_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--progress",
        choices=["auto", "bar", "lines", "off"],
        default="auto",
        help="progress on stderr: a bar on a terminal, a line per 10%% otherwise (auto)",
    )


class MetadataAction(argparse.Action):
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


# ------------------------------------------------------------------ value types
def agorot(text: str) -> int:
    try:
        return parse_agorot(text)
    except AmountError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def agorot_or_zero(text: str) -> int:
    """Agorot, where 0 means free (a price)."""
    if text.strip() in ("0", "+0"):
        return 0
    return agorot(text)


# isdecimal, not isdigit: int() refuses digits such as "²", which isdigit accepts.
def positive_int(text: str) -> int:
    if text.strip().isdecimal() and int(text) >= 1:
        return int(text)
    raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")


def count(text: str) -> int:
    if text.strip().isdecimal():
        return int(text)
    raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}")
    return value


def metadata_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value
