"""pytest plugin: ``fake_ching``, ``ching_client``, ``fake_ching_threaded`` and
``ching_test_mode`` fixtures.

Registered through the ``pytest11`` entry point, so it is imported by every pytest
session of every project that installs ``ching_async``: keep the import cheap and
never fail when optional test dependencies (pytest-asyncio, which the ``testing``
extra brings) are missing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import ching_async
    from ching_async.testing import FakeChing

if TYPE_CHECKING:
    _fixture = pytest.fixture
else:
    try:  # pytest-asyncio's decorator makes async fixtures work in strict mode too.
        from pytest_asyncio import fixture as _fixture
    except ImportError:  # pragma: no cover - depends on the environment
        _fixture = pytest.fixture


@pytest.fixture
def fake_ching_options() -> dict[str, Any]:
    """Keyword arguments for the ``fake_ching`` server; override to customise it."""
    return {}


@_fixture
async def fake_ching(fake_ching_options: dict[str, Any]) -> AsyncIterator[FakeChing]:
    """A running in-memory CHING server on an ephemeral 127.0.0.1 port."""
    from ching_async.testing import FakeChing

    async with FakeChing(**fake_ching_options) as fake:
        yield fake


@_fixture
async def ching_client(fake_ching: FakeChing) -> AsyncIterator[ching_async.Client]:
    """A ``ching_async.Client`` pointed at ``fake_ching``, with instant retries."""
    import ching_async

    client = ching_async.Client(
        fake_ching.api_key,
        base_url=fake_ching.url,
        retry_policy=ching_async.RetryPolicy(instant=True),
    )
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def fake_ching_threaded(fake_ching_options: dict[str, Any]) -> Iterator[FakeChing]:
    """A running ``FakeChing`` serving from a thread and event loop of its own, for
    sync tests and sync test clients (Starlette's ``TestClient``, Django's). Its
    helpers may be called from the test's thread."""
    from ching_async.testing import FakeChing

    with FakeChing(**fake_ching_options) as fake:
        yield fake


@pytest.fixture
def ching_test_mode(fake_ching_threaded: FakeChing) -> Iterator[FakeChing]:
    """For the whole test, every ``ching_async.Client()`` built without ``api_key``,
    ``base_url`` or ``retry_policy`` (an app's own, in its lifespan) points at
    ``fake_ching_threaded`` and retries at once. Yields that fake."""
    from ching_async.testing import ching_test_mode as test_mode

    with test_mode(fake_ching_threaded) as fake:
        yield fake
