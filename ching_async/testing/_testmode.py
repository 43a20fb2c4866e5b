"""``ching_test_mode``: every Client an app makes for itself points at a fake.

A fixture can hand a test its own client, but not the one an app builds in its
lifespan or a task builds when it runs. The test mode reaches those: the
library reads it where a Client resolves its defaults (``_client._test_defaults``),
and $CHING_API_KEY / $CHING_BASE_URL are set too for apps that read them
themselves. Process-wide, like stamina's ``set_testing``: the app may build its
client on another thread (a sync ``TestClient`` runs the app on its own loop).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar

from .. import _client
from .._errors import InvalidParameterError
from .._retry import RetryPolicy
from .._validation import check_instance

ENV_KEY, ENV_URL = "CHING_API_KEY", "CHING_BASE_URL"


# A two-property Protocol like _state._Stored's: the shape is the idiom, not shared code.
class Target(Protocol):
    """Where the clients go: a running ``FakeChing`` (or anything with these two)."""

    @property
    def api_key(self) -> str: ...

    @property
    def url(self) -> str: ...


F = TypeVar("F", bound=Target)

_lock = threading.Lock()
_active: list[_client._TestDefaults] = []  # innermost last
_env_before: dict[str, str | None] = {}  # the environment before the outermost one


@contextmanager
def ching_test_mode(fake: F, *, retry_policy: RetryPolicy | None = None) -> Iterator[F]:
    """While inside, every ``ching_async.Client()`` built without ``api_key`` /
    ``base_url`` / ``retry_policy`` uses the fake's key and URL and retries at
    once (``RetryPolicy(instant=True)``: no backoff, no settle wait), and
    $CHING_API_KEY / $CHING_BASE_URL name the fake. Arguments a client is given
    still win; ``retry_policy=`` here replaces the instant policy.

    Everything is restored on exit, error or not. Modes nest (the innermost
    wins) and may end in any order. A client built before entering (say, at
    import time) is not reached: build it in the app's lifespan or a factory.

        async with FakeChing() as fake:
            with ching_test_mode(fake):
                async with app_lifespan(app):  # its Client() talks to the fake
                    ...
    """
    if retry_policy is None:
        retry_policy = RetryPolicy(instant=True)
    check_instance("retry_policy", retry_policy, RetryPolicy)
    api_key, url = fake.api_key, fake.url  # a FakeChing not running raises here
    for name, value in (("api_key", api_key), ("url", url)):
        if not isinstance(value, str):
            raise InvalidParameterError(f"the fake's {name} must be a str, got {value!r}")
    mode = _client._TestDefaults(api_key, url, retry_policy)
    with _lock:
        if not _active:
            _env_before.clear()
            _env_before.update({name: os.environ.get(name) for name in (ENV_KEY, ENV_URL)})
        _active.append(mode)
        _apply()
    try:
        yield fake
    finally:
        with _lock:
            # By identity: two modes on the same fake are equal but distinct.
            del _active[next(i for i, m in enumerate(_active) if m is mode)]
            _apply()


def _apply() -> None:
    """Make the library and the environment show the innermost mode, or none."""
    top = _active[-1] if _active else None
    _client._test_defaults = top
    env = {ENV_KEY: top.api_key, ENV_URL: top.base_url} if top else _env_before
    for name, value in env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
