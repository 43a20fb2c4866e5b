"""What both ready-made receivers answer to one delivery, whatever the server.

- bad or missing signature, or a signed body that is not an event: 400;
- the callback raised: 500, so that CHING delivers the event again;
- otherwise: 200 `{"received": true}`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from .._errors import InvalidParameterError
from .._models import Event
from ._signing import (
    SignatureVerificationError,
    WebhookPayloadError,
    check_secret,
    construct_event,
)

__all__ = ["OnEvent", "check_receiver", "error_body", "handle_delivery"]

# The name the receivers have always logged under, whatever module they live in.
logger = logging.getLogger("ching_async.webhooks")

OnEvent = Callable[[Event], Awaitable[Any] | Any]
"""Your callback, sync or async, given each verified event."""

_RECEIVED = orjson.dumps({"received": True})


def error_body(message: str) -> bytes:
    """The JSON body of a refusal: `{"error": message}`."""
    return orjson.dumps({"error": message})


def check_receiver(secret: object, on_event: object) -> None:
    """Fail when a receiver is wired, not on the first delivery."""
    check_secret(secret)
    if not callable(on_event):
        raise InvalidParameterError(f"on_event must be callable, got {on_event!r}")


async def handle_delivery(
    body: bytes, signature: str | None, secret: str | bytes, on_event: OnEvent
) -> tuple[int, bytes]:
    """(status, JSON body) for one delivery's raw body and signature header."""
    try:
        event = construct_event(body, signature, secret)
    except SignatureVerificationError as exc:
        logger.warning("rejected a webhook delivery: %s", exc)
        return 400, error_body("invalid signature")
    except WebhookPayloadError as exc:
        logger.warning("rejected a webhook delivery: %s", exc)
        return 400, error_body("invalid payload")
    try:
        result = on_event(event)
        if inspect.isawaitable(result):
            await result
    except Exception:
        logger.exception("webhook handler failed for event %s (%s)", event.id, event.type)
        return 500, error_body("handler failed")
    return 200, _RECEIVED
