"""The fast decoder's fence: its generated source shows in tracebacks, and
CHING_ASYNC_FAST_DECODE=0 (or set_fast_decode) switches it off."""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from collections.abc import Iterator
from typing import Any

import pytest

from ching_async import Charge
from ching_async._convert import Decoding, get_converter, model_hook, set_fast_decode

PAYLOAD = {"id": "ch_1", "amount": 9900, "status": "succeeded", "created": 1776590122}


@pytest.fixture
def restore_switch() -> Iterator[None]:
    yield
    set_fast_decode(None)


def _generated_frames(exc: BaseException) -> list[traceback.FrameSummary]:
    return [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if frame.filename.startswith("<ching_async fastdecode Charge")
    ]


def test_a_decode_error_traceback_shows_the_generated_lines() -> None:
    hook = Decoding(fast=True).model_hook(Charge)
    with pytest.raises(TypeError, match="amount: expected an integer") as raised:
        hook({**PAYLOAD, "amount": "9900"}, Charge, None)
    # The error passes through the generated function, which handed the
    # payload to the plain hook: that line is shown, not "<unknown>".
    frames = _generated_frames(raised.value)
    assert [f.line for f in frames] == ["return _fallback(d, _cls, _info)"]
    assert "return _fallback(d, _cls, _info)" in "".join(traceback.format_exception(raised.value))
    # The generated check that failed first is in the exception chain, with its line.
    chain: list[BaseException] = []
    link: BaseException | None = raised.value
    while link is not None:
        chain.append(link)
        link = link.__context__
    lines = [f.line for exc in chain for f in _generated_frames(exc)]
    assert (
        "if type(v_amount) is not _keeps_amount: out['amount'] = _other_amount(v_amount)" in lines
    )


def test_the_switch_selects_cattrs_own_hooks_with_the_same_result(restore_switch: None) -> None:
    set_fast_decode(True)
    fast_hook = model_hook(Charge)
    fast = fast_hook(dict(PAYLOAD), Charge, None)
    set_fast_decode(False)
    plain_hook = model_hook(Charge)
    plain = plain_hook(dict(PAYLOAD), Charge, None)
    assert fast_hook.__code__.co_filename.startswith("<ching_async fastdecode")
    assert not plain_hook.__code__.co_filename.startswith("<ching_async fastdecode")
    assert plain == fast
    assert plain.created == fast.created
    assert plain.created.tzinfo is not None


def _decode_in_child(env: dict[str, str]) -> str:
    code = (
        "import os, ching_async\n"
        "from ching_async._convert import get_decoding, structure\n"
        "payload = {'id': 'ch_1', 'amount': 9900.0, 'status': 'new'}\n"
        "structure(payload, ching_async.Charge)\n"
        "os.environ['CHING_ASYNC_FAST_DECODE'] = '1' if not get_decoding().fast else '0'\n"
        "charge = structure(payload, ching_async.Charge)\n"
        "print(get_decoding().fast, repr(charge.amount), repr(charge.status))\n"
    )
    environ = {k: v for k, v in os.environ.items() if k != "CHING_ASYNC_FAST_DECODE"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**environ, **env},
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout.strip()


def test_the_environment_variable_is_read_once_on_the_first_decode() -> None:
    # Changing the variable after the first decode changes nothing.
    assert _decode_in_child({}) == "True 9900 'new'"
    assert _decode_in_child({"CHING_ASYNC_FAST_DECODE": "1"}) == "True 9900 'new'"
    assert _decode_in_child({"CHING_ASYNC_FAST_DECODE": "0"}) == "False 9900 'new'"


@pytest.mark.parametrize(
    ("value", "tp", "expected"),
    [
        (1.5, float, 1.5),
        (2, float, 2.0),
        ([1, 2.0], list[int], [1, 2]),
        ([], list[str], []),
        (None, list[int] | None, None),
    ],
)
def test_float_and_list_rules_decode(value: Any, tp: Any, expected: Any) -> None:
    # No model has such a field yet; the rules are there so that the next
    # one is as strict as the rest.
    result = get_converter().structure(value, tp)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("value", "tp"),
    [(True, float), ("1.5", float), ("ab", list[str]), ((1,), list[int]), ([1, "2"], list[int])],
)
def test_float_and_list_rules_refuse(value: Any, tp: Any) -> None:
    with pytest.raises(TypeError):
        get_converter().structure(value, tp)
