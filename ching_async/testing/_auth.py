"""Bearer API keys; test or live mode comes from the key prefix."""

from __future__ import annotations

from collections.abc import Iterable

from ._envelope import FakeApiError
from ._ids import key_livemode


class KeyRing:
    def __init__(self) -> None:
        self._keys: dict[str, bool] = {}  # key -> livemode
        self.live_keys_active = True  # False: live keys answer 403 LIVE_KEY_INACTIVE

    def add(self, key: str) -> bool:
        livemode = key_livemode(key)
        self._keys[key] = livemode
        return livemode

    def carried_by(self, values: Iterable[str]) -> bool:
        """Whether any of ``values`` (a request's header values) holds one of the keys."""
        return any(key in value for value in values for key in self._keys)

    def authenticate(self, authorization: str | None) -> tuple[str, bool]:
        """Return ``(key, livemode)`` for an ``Authorization`` header, or raise 401/403."""
        key = _bearer_token(authorization)
        livemode = self._keys.get(key) if key is not None else None
        if key is None or livemode is None:
            raise FakeApiError(401, "WRONG_CREDENTIALS", "Missing or invalid API key")
        if livemode and not self.live_keys_active:
            raise FakeApiError(403, "LIVE_KEY_INACTIVE", "Live mode is not active for this key")
        return key, livemode


def _bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
