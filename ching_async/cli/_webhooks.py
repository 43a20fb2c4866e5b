"""``ching webhooks ...``: the endpoints CHING delivers events to; ``verify``,
which checks a delivery's signature offline; and ``trigger``, which sends a
signed sample event (made by the embedded fake) to an endpoint.

`verify` needs no API key and starts no server: it reads the raw body (a
file, or stdin), and runs `ching_async.webhooks.construct_event` on it. The
secret is never printed. `create` prints an endpoint's secret, the one time
the API shows it.
"""

from __future__ import annotations

import argparse
import os
import sys

from .. import APIConnectionError, APIError, Client, WebhookEndpoint, WebhookSecretLostError
from ..webhooks import SignatureVerificationError, WebhookPayloadError, construct_event
from ._confirm import ask, needs_confirmation
from ._env import call
from ._errors import CliError, ExitCode, UsageError
from ._output import Output, describe_error, error_json, outcome_unknown

__all__ = [
    "SECRET_ENV",
    "webhooks_create",
    "webhooks_delete",
    "webhooks_list",
    "webhooks_trigger",
    "webhooks_verify",
]

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
        return ExitCode.OK
    livemode = "-" if event.livemode is None else str(event.livemode).lower()
    created = event.created.isoformat() if event.created else "-"
    out.print(
        f"valid {event.id} {event.type} livemode={livemode} created={created} "
        f"data={type(event.data).__name__}"
    )
    return ExitCode.OK


async def webhooks_trigger(args: argparse.Namespace, out: Output) -> int:
    from ..testing import SAMPLE_EVENT_TYPES, trigger_event

    secret = _secret(args)
    if args.type not in SAMPLE_EVENT_TYPES:
        raise UsageError(
            f"no sample for event type {args.type!r}; choose one of: "
            + ", ".join(SAMPLE_EVENT_TYPES)
        )
    if not secret.startswith("whsec_"):  # most likely the wrong value: signed anyway, as asked
        out.notice(
            "warning: the secret does not start with whsec_ as CHING's endpoint secrets do; "
            "signing with it anyway"
        )
    try:
        event, delivery = await trigger_event(args.type, args.to, secret)
    except ValueError as exc:  # a bad URL, or a secret the signing refuses
        raise UsageError(str(exc)) from None
    answer = f"answered {delivery.status}" if delivery.status else f"no answer ({delivery.error})"
    data = {"event": event.to_json(), "ok": delivery.ok, "status": delivery.status,
            "error": delivery.error}  # fmt: skip
    if not delivery.ok:
        raise CliError(f"sent {event.type} {event.id} to {args.to}: {answer}", data=data)
    if out.json_mode:
        out.emit_json(data)
    else:
        out.print(f"sent {event.type} {event.id} to {args.to}: {answer}")
    return ExitCode.OK


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


# ------------------------------------------------------------------ endpoints
async def webhooks_list(args: argparse.Namespace, out: Output) -> int:
    return await call(out, lambda client: client.webhook_endpoints.list(), out.webhook_endpoints)


async def webhooks_create(args: argparse.Namespace, out: Output) -> int:
    events = event_types(args.events)

    async def create(client: Client) -> WebhookEndpoint:
        if needs_confirmation(client, yes=args.yes, action="registering a webhook endpoint"):
            ask(out, f"Register {args.url} for {', '.join(events)} in live mode?")
        try:
            return await client.webhook_endpoints.create(url=args.url, events=events)
        except WebhookSecretLostError as exc:
            hint = (
                f"run `ching webhooks delete {exc.endpoint_id}`, then create it again "
                "for a new secret"
            )
            raise CliError(
                f"{describe_error(exc)}",
                data={
                    **error_json(exc, ExitCode.FAILED)["error"],
                    "endpoint_id": exc.endpoint_id,
                    "hint": hint,
                },
            ) from exc
        except (APIError, APIConnectionError) as exc:
            if not exc.outcome_unknown:
                raise
            hint = (
                "check with `ching webhooks list`: if it is there, its secret is lost "
                "(delete it and create it again); if not, create it again"
            )
            raise outcome_unknown(exc, "the endpoint may or may not have been made", hint) from exc

    def show(endpoint: WebhookEndpoint) -> None:
        out.notice("the secret is shown this once: store it now (e.g. as CHING_WEBHOOK_SECRET)")
        out.webhook_endpoint(endpoint, title="Webhook endpoint created")

    return await call(out, create, show)


async def webhooks_delete(args: argparse.Namespace, out: Output) -> int:
    async def delete(client: Client) -> None:
        if needs_confirmation(client, yes=args.yes, action=f"deleting webhook endpoint {args.id}"):
            listed = {endpoint.id: endpoint for endpoint in await client.webhook_endpoints.list()}
            found = listed.get(args.id)
            what = f" ({found.url})" if found is not None else ""
            ask(
                out,
                f"Delete webhook endpoint {args.id}{what} in live mode? "
                "Deliveries to it stop at once.",
            )
        await client.webhook_endpoints.delete(args.id)

    def show(_: None) -> None:
        if out.json_mode:
            out.emit_json({"id": args.id, "deleted": True})
        else:
            out.print(f"Webhook endpoint {args.id} deleted: deliveries to it have stopped")

    return await call(out, delete, show)


def event_types(values: list[str]) -> list[str]:
    """Repeated --events, each a comma-separated list, as one list (repeats
    dropped, as the official CLI does)."""
    types = [part.strip() for value in values for part in value.split(",") if part.strip()]
    if not types:
        raise UsageError("--events needs at least one event type (or '*' for all)")
    return list(dict.fromkeys(types))
