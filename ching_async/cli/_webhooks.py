"""``ching webhooks verify``: check a delivery's signature offline.

Needs no API key and starts no server: it reads the raw body (a file, or
stdin), and runs `ching_async.webhooks.construct_event` on it. The secret is
never printed.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..webhooks import SignatureVerificationError, WebhookPayloadError, construct_event
from ._errors import EXIT_OK, CliError, UsageError
from ._output import Output

__all__ = ["SECRET_ENV", "webhooks_verify"]

SECRET_ENV = "CHING_WEBHOOK_SECRET"


async def webhooks_verify(args: argparse.Namespace, out: Output) -> int:
    secret = _secret(args)
    payload = _read_payload(args.file)
    try:
        event = construct_event(payload, args.signature or None, secret)
    except SignatureVerificationError as exc:
        raise CliError(
            f"invalid signature: {exc}", data={"type": type(exc).__name__, "valid": False}
        ) from None
    except WebhookPayloadError as exc:
        raise CliError(
            f"invalid payload: {exc}", data={"type": type(exc).__name__, "valid": False}
        ) from None
    if out.json_mode:
        out.emit_json(event.raw)
        return EXIT_OK
    livemode = "-" if event.livemode is None else str(event.livemode).lower()
    created = event.created.isoformat() if event.created else "-"
    out.print(
        f"valid {event.id} {event.type} livemode={livemode} created={created} "
        f"data={type(event.data).__name__}"
    )
    return EXIT_OK


def _secret(args: argparse.Namespace) -> str:
    if args.secret is not None:
        if not args.secret:
            raise UsageError("--secret is empty")
        return str(args.secret)
    name = args.secret_env or SECRET_ENV
    secret = os.environ.get(name)
    if not secret:
        hint = "" if args.secret_env else " (or name another variable with --secret-env NAME)"
        raise UsageError(f"no webhook secret: ${name} is not set{hint}")
    return secret


def _read_payload(file: str) -> bytes:
    """The raw bytes, exactly as delivered: never decoded or re-encoded."""
    try:
        if file == "-":
            stdin = getattr(sys.stdin, "buffer", None)
            if stdin is None:
                raise UsageError("cannot read the payload from stdin: there is no stdin")
            data: bytes = stdin.read()
            return data
        with open(file, "rb") as handle:
            return handle.read()
    except (OSError, ValueError) as exc:  # ValueError: a closed stdin
        where = "stdin" if file == "-" else file
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"cannot read the payload from {where}: {reason}") from None
