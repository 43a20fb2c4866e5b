"""Generated structure hooks for the attrs models: cattrs' idea, specialised.

cattrs' generated hooks call one function per field (and, for optional fields,
look the inner hook up again on every call): about 13 us for a 27-field
Charge. Listing 100 charges then cost 3.5x raw aiohttp + json.loads. This
factory compiles one function per model with the converter's rules inlined
as type checks, and fills the instance's __dict__ in one step (the models
are frozen attrs classes without slots). Measured in benchmarks/: see the
README's Performance section. Types it does not inline go through the
converter's own hook, so the converter still owns every rule.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from types import NoneType, UnionType
from typing import Any

import attrs

__all__ = ["make_model_hook"]

_MISSING = object()
_TIMESTAMP_CACHE_SIZE = 4096


def _bad(name: str, expected: str, value: Any) -> TypeError:
    return TypeError(f"{name}: expected {expected}, got {type(value).__name__}")


def _integral(name: str, value: Any) -> int:
    # Integral floats (9900.0) are integers on the wire; 9.5, bools and strings are not.
    # Nor is a float beyond 2**53: orjson reads integers beyond 64 bits as
    # floats, and int() of one is a different number than the server sent.
    if type(value) is float and value.is_integer() and abs(value) <= 2.0**53:
        return int(value)
    raise _bad(name, "an integer", value)


def _cached_timestamps(
    parse: Callable[[Any], datetime], cache: dict[Any, datetime]
) -> Callable[[Any], datetime]:
    """Charges in one list share most timestamps; parse each distinct string once."""

    def timestamp(value: Any) -> datetime:
        if type(value) is not str:
            return parse(value)
        parsed = cache.get(value)
        if parsed is None:
            parsed = parse(value)
            if len(cache) >= _TIMESTAMP_CACHE_SIZE:
                cache.clear()
            cache[value] = parsed
        return parsed

    return timestamp


def _split_optional(tp: Any) -> tuple[Any, bool]:
    """(type without None, whether None is allowed)."""
    if isinstance(tp, UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not NoneType]
        optional = len(args) != len(typing.get_args(tp))
        inner = args[0] if len(args) == 1 else _union(args)
        return inner, optional
    return tp, False


def _union(args: list[Any]) -> Any:
    result = args[0]
    for arg in args[1:]:
        result = result | arg
    return result


def _tolerant_enum_of(tp: Any) -> type[StrEnum] | None:
    """E for `E | str` with E a StrEnum, else None."""
    if not isinstance(tp, UnionType):
        return None
    args = typing.get_args(tp)
    enums = [a for a in args if isinstance(a, type) and issubclass(a, StrEnum)]
    if len(args) == 2 and len(enums) == 1 and str in args:
        return enums[0]
    return None


class _Source:
    """Source lines of one generated function, and the names they refer to."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {
            "_MISSING": _MISSING,
            "_bad": _bad,
            "_integral": _integral,
        }

    def bind(self, name: str, value: Any) -> str:
        self.names[name] = value
        return name

    def block(self, header: str, body: list[str], indent: int = 1) -> None:
        self.lines.append("    " * indent + header)
        self.lines.extend("    " * (indent + 1) + line for line in body)

    def emit(self, line: str, indent: int = 1) -> None:
        self.lines.append("    " * indent + line)


def _check(src: _Source, field: str, tp: Any, hook_for: Callable[[Any], Any]) -> list[str]:
    """Statements that validate/convert `v` (known not None) for type `tp`."""
    q = repr(field)
    enum_cls = _tolerant_enum_of(tp)
    if tp is str:
        return [f"if type(v) is not str: raise _bad({q}, 'a string', v)"]
    if tp is bool:
        return [f"if type(v) is not bool: raise _bad({q}, 'a boolean', v)"]
    if tp is int:
        return [f"if type(v) is not int: v = _integral({q}, v)"]
    if tp == dict[str, Any]:
        # The converter's hook bounds the nesting (see _convert._json_object).
        nesting = src.bind(f"_hook_{field}", hook_for(tp))
        # An empty object (most metadata) has nothing to bound: no call.
        return [
            f"if type(v) is not dict: raise _bad({q}, 'an object', v)",
            f"if v: {nesting}(v, None)",
        ]
    if tp is datetime:
        parse = hook_for(datetime)
        cache: dict[Any, datetime] = {}
        src.bind("_timestamps", cache)
        src.bind("_timestamp", _cached_timestamps(lambda value: parse(value, datetime), cache))
        # The cache hit inline (a subscript: half the cost of .get()), the
        # parse out of line.
        return ["try:", "    v = _timestamps[v]", "except KeyError:", "    v = _timestamp(v)"]
    if enum_cls is not None:
        members = src.bind(f"_members_{enum_cls.__name__}", {m.value: m for m in enum_cls})
        return [
            f"if type(v) is not str: raise _bad({q}, 'a string', v)",
            "try:",
            f"    v = {members}[v]",
            "except KeyError:",
            "    pass  # a value this version does not know stays a plain str",
        ]
    hook = src.bind(f"_hook_{field}", hook_for(tp))
    typ = src.bind(f"_type_{field}", tp)
    return [f"v = {hook}(v, {typ})"]


def _is_factory(default: Any) -> bool:
    return isinstance(default, attrs.Factory)  # type: ignore[arg-type]


def _field(src: _Source, field: attrs.Attribute[Any], tp: Any, hook_for: Any) -> None:
    """Validate/convert `out[name]`, which the merge filled from payload or default."""
    inner, optional = _split_optional(tp)
    name = repr(field.name)
    src.emit(f"v = out[{name}]")  # a missing required field is a KeyError here
    if _is_factory(field.default):
        factory = src.bind(f"_factory_{field.name}", typing.cast(Any, field.default).factory)
        src.block("if v is _MISSING:", [f"v = out[{name}] = {factory}()"])
    check = _check(src, field.name, inner, hook_for)
    converts = any(line.lstrip().startswith("v = ") for line in check)
    body = [line.replace("v = _integral", f"v = out[{name}] = _integral") for line in check]
    if converts:
        body.append(f"out[{name}] = v")
    if optional:
        src.block("if v is not None:", body)
    else:
        src.lines.extend("    " + line for line in body)


def make_model_hook(
    cls: type[Any], hook_for: Callable[[Any], Any], *, provenance: frozenset[str]
) -> Callable[..., Any]:
    """A structure hook `(payload, cls, request_info=None)` for attrs class `cls`.

    `hook_for(type)` returns the converter's hook for types not inlined here.
    Fields named in `provenance` are never read from the payload: `raw` gets
    the payload itself, `request_info` the third argument (attached here, not
    by a frozen setattr per item afterwards), the others their defaults.

    The generated function merges the payload over the defaults in one C-level
    step, drops unknown keys only when there are any, then checks each field in
    place and rewrites only the ones that convert (enums, timestamps, nested).
    """
    fields = attrs.fields(cls)
    hints = typing.get_type_hints(cls)
    src = _Source()
    defaults: dict[str, Any] = {}
    for field in fields:
        if field.default is not attrs.NOTHING:
            defaults[field.name] = _MISSING if _is_factory(field.default) else field.default
    names = tuple(field.name for field in fields)
    src.bind("_defaults", defaults)
    src.bind("_names", names)
    src.emit("def structure(d, _cls, _info=None):", 0)
    src.emit("if type(d) is not dict: raise _bad('payload', 'an object', d)")
    src.emit("out = {**_defaults, **d}")
    # Unknown keys are ignored: keep only the fields (rare, so checked cheaply).
    src.block(f"if len(out) != {len(names)}:", ["out = {k: out[k] for k in _names if k in out}"])
    for field in fields:
        if field.name in provenance:
            if field.name == "raw":
                src.emit("out['raw'] = d")
            elif field.name == "request_info":
                src.emit("out['request_info'] = _info")
            elif _is_factory(field.default):
                factory = src.bind(
                    f"_factory_{field.name}", typing.cast(Any, field.default).factory
                )
                src.emit(f"out[{field.name!r}] = {factory}()")
            else:
                value = src.bind(f"_default_{field.name}", field.default)
                src.emit(f"out[{field.name!r}] = {value}")
        else:
            _field(src, field, hints[field.name], hook_for)
    if any(f.validator or f.converter for f in fields) or "__slots__" in cls.__dict__:
        src.emit("return _cls_(**out)")
    else:
        # No validators or converters to run: fill the frozen instance directly.
        src.emit("obj = _new(_cls_)")
        src.emit("_set(obj, '__dict__', out)")
        src.emit("return obj")
    src.bind("_cls_", cls)
    src.bind("_new", object.__new__)
    src.bind("_set", object.__setattr__)
    namespace = dict(src.names)
    code = compile("\n".join(src.lines), f"<ching_async structure {cls.__name__}>", "exec")
    exec(code, namespace)
    structure: Callable[..., Any] = namespace["structure"]
    return structure
