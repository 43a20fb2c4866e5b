"""Run the fake CHING server standalone: ``python -m ching_async.testing --port 8787``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence

from ._server import FakeChing


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ching_async.testing", description="Run an in-memory fake CHING API."
    )
    # Option declarations, alike in shape only to the ching command's (cli/_app.py).
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8787, help="TCP port; 0 picks a free one")
    parser.add_argument("--api-key", help="test key to accept (default: generated from --seed)")
    parser.add_argument("--seed", default="0", help="seed for ids and keys ('none': random)")
    parser.add_argument(
        "--honor-idempotency-keys",
        action="store_true",
        help="replay the first answer for a repeated Idempotency-Key (the real API does not)",
    )
    parser.add_argument(
        "--no-demo-data", action="store_true", help="do not seed a demo customer and card"
    )
    parser.add_argument(
        "--webhook",
        action="append",
        default=[],
        metavar="URL",
        help="deliver signed webhook events to URL (repeatable); its secret is printed",
    )
    return parser.parse_args(argv)


def _banner(fake: FakeChing, demo: tuple[str, str] | None) -> str:
    lines = [
        f"Fake CHING API listening on {fake.url}",
        f"Test API key: {fake.api_key}",
        f"Live API key: {fake.live_api_key}",
    ]
    if demo is not None:
        customer, card = demo
        lines += [
            f"Demo customer {customer} with card {card}. Try:",
            f"  curl -s {fake.url}/charges -H 'Authorization: Bearer {fake.api_key}' "
            f"-H 'Content-Type: application/json' "
            f'-d \'{{"customer": "{customer}", "payment_method": "{card}", "amount": 4990}}\'',
        ]
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


def _seed_demo(fake: FakeChing) -> tuple[str, str]:
    customer = fake.add_customer(name="Tal Levi", email="tal@example.com")
    return customer.id, fake.add_payment_method(customer.id).id


def _parse_seed(text: str) -> int | str | None:
    if text.lower() == "none":
        return None
    # "0" must mean FakeChing(seed=0): random.Random(0) and Random("0") differ.
    return int(text) if text.lstrip("-").isdigit() else text


async def _serve(args: argparse.Namespace) -> None:
    seed = _parse_seed(args.seed)
    stop = asyncio.Event()
    # SIGTERM (e.g. from a process manager) stops as cleanly as Ctrl-C.
    with contextlib.suppress(NotImplementedError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with FakeChing(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        seed=seed,
        honor_idempotency_keys=args.honor_idempotency_keys,
    ) as fake:
        secrets = [(url, fake.add_webhook_endpoint(url)) for url in args.webhook]
        demo = None if args.no_demo_data else _seed_demo(fake)
        print(_banner(fake, demo), flush=True)
        for url, secret in secrets:
            print(f"Webhook events go to {url}, signed with secret: {secret}", flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass  # Ctrl-C: asyncio.run already cancelled _serve, which closed the server.
    except (OSError, ValueError) as error:  # e.g. the port is taken, a bad --webhook URL
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
