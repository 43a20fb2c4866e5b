"""ching_async.webhooks: signing and decoding, the two receivers, the package's surface.

`sign` is written here from the scheme (hex HMAC-SHA256 of the raw body) rather
than taken from the package, so that the tests check the package against it.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson

SECRET = "whsec_" + "5e" * 32


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def event_body(event_type: str, data: Any, **extra: Any) -> bytes:
    """A delivery body as CHING sends it; `extra` overrides or adds envelope fields."""
    envelope = {
        "id": "evt_AbCdEf123",
        "type": event_type,
        "data": data,
        "livemode": False,
        "created": "2026-05-09T10:23:11.000Z",
        **extra,
    }
    return orjson.dumps(envelope)
