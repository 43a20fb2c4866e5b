"""Object ids and API keys in the shapes the real API uses."""

from __future__ import annotations

import base64
import random
from collections.abc import Container

_ID_BYTES = 9  # 9 random bytes -> 12 url-safe base64 characters, like ``ch_9mTPfRSDmEOU``

TEST_KEY_PREFIXES = ("ck_test_", "sk_test_")
LIVE_KEY_PREFIXES = ("ck_live_", "sk_live_")


class IdFactory:
    """Draws ids from a (seedable) RNG so a seeded fake produces reproducible ids."""

    __slots__ = ("_rng",)

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def new_id(self, prefix: str, taken: Container[str] = ()) -> str:
        while True:
            raw = self._rng.getrandbits(_ID_BYTES * 8).to_bytes(_ID_BYTES, "big")
            candidate = f"{prefix}_{base64.urlsafe_b64encode(raw).decode('ascii')}"
            if candidate not in taken:
                return candidate

    def api_key(self, *, live: bool) -> str:
        prefix = LIVE_KEY_PREFIXES[0] if live else TEST_KEY_PREFIXES[0]
        return f"{prefix}{self._rng.getrandbits(256):064x}"

    def webhook_secret(self) -> str:
        return f"whsec_{self._rng.getrandbits(256):064x}"


def key_livemode(key: str) -> bool:
    """Test or live mode is baked into the key prefix."""
    if not isinstance(key, str):
        raise TypeError(f"an API key must be a str, got {type(key).__name__}")
    if key.startswith(LIVE_KEY_PREFIXES):
        return True
    if key.startswith(TEST_KEY_PREFIXES):
        return False
    raise ValueError(f"API keys start with ck_test_, ck_live_, sk_test_ or sk_live_: {key!r}")
