"""Signing, verification and decoding of one webhook delivery: no I/O, no framework.

CHING signs each delivery with `Ching-Signature`: the lowercase hex
HMAC-SHA256 of the raw request body, keyed with the endpoint's secret
(`whsec_...`). There is no timestamp in the scheme, so the exact bytes
received are verified, before any JSON parsing.
"""

from __future__ import annotations

import hashlib
import hmac
import re

import orjson

from .._convert import structure
from .._errors import ChingError, InvalidParameterError
from .._models import Event

__all__ = [
    "SIGNATURE_HEADER",
    "SignatureVerificationError",
    "WebhookPayloadError",
    "check_secret",
    "compute_signature",
    "construct_event",
    "verify_signature",
]

SIGNATURE_HEADER = "Ching-Signature"
"""The header that carries a delivery's signature."""
# What `_payload_bytes` accepts: a framework's raw body in any of its buffer types.
_Payload = bytes | bytearray | memoryview
_FORBIDDEN_IN_SECRET = re.compile(r"[\s\x00-\x1f\x7f]")


class SignatureVerificationError(ChingError):
    """The `Ching-Signature` header is missing or does not match the body."""

    # Tracebacks and pickles name the public home, as before the package split.
    __module__ = "ching_async.webhooks"


class WebhookPayloadError(ChingError):
    """The body is correctly signed but is not a CHING event (no JSON object
    with a string `id` and `type`)."""

    __module__ = "ching_async.webhooks"


def check_secret(secret: object) -> bytes:
    """The endpoint secret as HMAC key bytes; InvalidParameterError if it cannot be one.

    The receivers call it when they are wired, so that a bad secret fails at
    start-up rather than on the first delivery.
    """
    if isinstance(secret, bytes) and secret:
        return secret
    if not isinstance(secret, str) or not secret:
        raise InvalidParameterError("secret must be the endpoint's non-empty whsec_... string")
    if _FORBIDDEN_IN_SECRET.search(secret):
        # A trailing newline from a file or env var would fail every delivery.
        raise InvalidParameterError(
            "secret contains whitespace or control characters; check how it was loaded"
        )
    try:
        return secret.encode()
    except UnicodeEncodeError:
        raise InvalidParameterError(
            "secret is not valid Unicode text (it has a lone surrogate); check how it was loaded"
        ) from None


def _payload_bytes(payload: object) -> bytes:
    if isinstance(payload, _Payload):
        return bytes(payload)
    raise InvalidParameterError(
        "payload must be the raw request body as bytes (not parsed or re-encoded JSON), "
        f"got {type(payload).__name__}"
    )


def compute_signature(payload: _Payload, secret: str | bytes) -> str:
    """The `Ching-Signature` value for a body: lowercase hex HMAC-SHA256."""
    return hmac.new(check_secret(secret), _payload_bytes(payload), hashlib.sha256).hexdigest()


def verify_signature(payload: _Payload, signature: str | None, secret: str | bytes) -> None:
    """Raise SignatureVerificationError unless `signature` signs `payload`.

    Compared in constant time. Surrounding whitespace and upper-case hex in
    the header are tolerated.
    """
    expected = compute_signature(payload, secret)
    if not isinstance(signature, str) or not signature.strip():
        raise SignatureVerificationError(f"missing {SIGNATURE_HEADER} header")
    received = signature.strip().lower().encode("utf-8", "replace")
    if not hmac.compare_digest(expected.encode("ascii"), received):
        raise SignatureVerificationError(
            f"{SIGNATURE_HEADER} does not match the body: wrong secret, or the body "
            "was changed (parsed and re-serialized?) before verification"
        )


def construct_event(payload: _Payload, signature: str | None, secret: str | bytes) -> Event:
    """Verify a delivery and decode it into an Event.

    `payload` is the raw request body; `signature` the `Ching-Signature`
    header (None if absent); `secret` the endpoint's `whsec_...` secret.

    `event.data` is a Charge, SetupSession, Customer, Refund or
    PaymentMethod when the type says so and the payload decodes, the plain
    dict otherwise: unknown event types never fail (data nested deeper than
    100 levels is refused, as in every model).

    Raises SignatureVerificationError (bad or missing signature),
    WebhookPayloadError (signed, but not an event), InvalidParameterError
    (payload not bytes, empty secret).
    """
    body = _payload_bytes(payload)
    verify_signature(body, signature, secret)
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise WebhookPayloadError("webhook body is not JSON") from None
    try:
        return structure(parsed, Event)
    except TypeError as exc:
        raise WebhookPayloadError(f"webhook body is not a CHING event: {exc}") from None
