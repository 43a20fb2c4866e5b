"""Bad arguments to the fake's own API fail at once with a typed, readable error."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from ching_async.testing import FakeApiError, FakeChing, Fault


@pytest.mark.parametrize("seconds", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("build", [Fault.latency, Fault.commit_then_delay])
def test_a_delay_must_be_finite(build: Callable[[float], Fault], seconds: float) -> None:
    with pytest.raises(ValueError, match=r"seconds must be a finite number >= 0, got -?(nan|inf)"):
        build(seconds)


@pytest.mark.parametrize("seconds", ["1", None, True])
def test_a_delay_must_be_a_number(seconds: Any) -> None:
    with pytest.raises(TypeError, match="seconds must be a number"):
        Fault.latency(seconds)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"api_key": 5}, TypeError, "api_key must be a str, got int"),
        ({"live_api_key": b"ck_live_x"}, TypeError, "live_api_key must be a str, got bytes"),
        ({"host": 5}, TypeError, "host must be a str, got int"),
        ({"port": "8787"}, TypeError, "port must be an int, got str"),
        ({"port": 70000}, ValueError, r"port must be in 0\.\.65535"),
        ({"clock": 5}, TypeError, "clock must be a callable"),
    ],
)
def test_bad_constructor_arguments_are_named(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        FakeChing(**options)


def test_an_added_key_must_be_a_str() -> None:
    with pytest.raises(TypeError, match="an API key must be a str, got int"):
        FakeChing().add_api_key(5)  # type: ignore[arg-type]


async def test_resending_an_unknown_event_is_a_404_naming_it(fake: FakeChing) -> None:
    with pytest.raises(FakeApiError) as raised:
        fake.resend_webhook_event("evt_nope")
    assert (raised.value.status, raised.value.code) == (404, "NOT_FOUND")
    assert str(raised.value) == "404 NOT_FOUND: No such webhook event: evt_nope"
    assert isinstance(raised.value, KeyError)  # what it raised before, for old callers
