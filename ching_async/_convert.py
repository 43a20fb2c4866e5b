"""The one cattrs converter that owns every decoding rule.

Rules: timestamps (ISO-8601 with "Z", or epoch numbers) become aware UTC
datetimes; enum fields keep unknown values as plain str; unknown keys are
ignored; scalars are strict (no "100" -> 100, no 9.5 -> 9, no True -> 1).
The raw payload is kept on each model as `raw`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

import cattrs
from cattrs.gen import make_dict_structure_fn, override

from ._models import (
    CancellationReason,
    CaptureMethod,
    Charge,
    ChargeStatus,
    Installments,
    SetupSession,
    SetupSessionStatus,
)

__all__ = ["converter", "parse_timestamp", "structure", "structure_list"]

T = TypeVar("T")

# Epoch numbers above this are milliseconds (1e11 s is the year 5138).
_MILLISECONDS_THRESHOLD = 1e11


def _strict_str(value: Any, _: Any) -> str:
    if type(value) is str:
        return value
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _strict_int(value: Any, _: Any) -> int:
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    raise TypeError(f"expected an integer, got {type(value).__name__}")


def _strict_bool(value: Any, _: Any) -> bool:
    if type(value) is bool:
        return value
    raise TypeError(f"expected a boolean, got {type(value).__name__}")


def _json_object(value: Any, _: Any) -> dict[str, Any]:
    if type(value) is dict:
        return value
    raise TypeError(f"expected an object, got {type(value).__name__}")


def parse_timestamp(value: Any, _: Any = None) -> datetime:
    """ISO-8601 string (with "Z" or an offset) or epoch seconds/milliseconds."""
    if type(value) is str:
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if type(value) in (int, float) and math.isfinite(value):
        seconds = value / 1000 if abs(value) >= _MILLISECONDS_THRESHOLD else value
        return datetime.fromtimestamp(seconds, tz=UTC)
    raise TypeError(f"expected a timestamp, got {type(value).__name__}")


def _tolerant_enum(enum_cls: type[StrEnum]) -> Callable[[Any, Any], StrEnum | str]:
    members = {member.value: member for member in enum_cls}

    def structure(value: Any, _: Any) -> StrEnum | str:
        if type(value) is not str:
            raise TypeError(f"expected a string, got {type(value).__name__}")
        return members.get(value, value)

    return structure


def _is_type(expected: Any) -> Callable[[Any], bool]:
    return lambda candidate: bool(candidate == expected)


def _optional(hook: Callable[[Any, Any], T]) -> Callable[[Any, Any], T | None]:
    def structure(value: Any, cls: Any) -> T | None:
        return None if value is None else hook(value, cls)

    return structure


def _with_raw(cls: type[T], conv: cattrs.Converter) -> Callable[[Any, Any], T]:
    """Structure hook for a model that keeps the received payload as `raw`."""
    # The provenance fields are never read from the payload: a server field
    # that happens to be called "raw" or "request_info" must not break decoding.
    base = make_dict_structure_fn(
        cls,
        conv,
        _cattrs_detailed_validation=False,
        raw=override(omit=True),
        request_info=override(omit=True),
    )

    def structure(value: Any, _: Any) -> T:
        if type(value) is not dict:
            raise TypeError(f"expected an object, got {type(value).__name__}")
        obj = base(value, cls)
        # Frozen class: set the provenance field the way attrs' own __init__ does.
        object.__setattr__(obj, "raw", value)
        return obj

    return structure


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=False, detailed_validation=False)
    conv.register_structure_hook(str, _strict_str)
    conv.register_structure_hook(int, _strict_int)
    conv.register_structure_hook(bool, _strict_bool)
    conv.register_structure_hook_func(lambda t: t == dict[str, Any], _json_object)
    conv.register_structure_hook(datetime, parse_timestamp)
    for enum_cls in (SetupSessionStatus, ChargeStatus, CaptureMethod, CancellationReason):
        hook = _tolerant_enum(enum_cls)
        conv.register_structure_hook_func(_is_type(enum_cls | str), hook)
        conv.register_structure_hook_func(_is_type(enum_cls | str | None), _optional(hook))
    installments = make_dict_structure_fn(Installments, conv, _cattrs_detailed_validation=False)
    conv.register_structure_hook(Installments, _installments_hook(installments))
    for model in (SetupSession, Charge):
        conv.register_structure_hook(model, _with_raw(model, conv))
    return conv


def _installments_hook(base: Callable[[Any, Any], Installments]) -> Callable[[Any, Any], Any]:
    def structure(value: Any, _: Any) -> Installments:
        if type(value) is not dict:
            raise TypeError(f"expected an object, got {type(value).__name__}")
        return base(value, Installments)

    return structure


converter = _make_converter()


def structure(data: Any, cls: type[T]) -> T:
    return converter.structure(data, cls)


def structure_list(data: Any, cls: type[T]) -> list[T]:
    if type(data) is not list:
        raise TypeError(f"expected a list, got {type(data).__name__}")
    hook = converter.get_structure_hook(cls)
    return [hook(item, cls) for item in data]
