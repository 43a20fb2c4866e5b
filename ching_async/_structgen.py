"""Generated structure hooks for the attrs models: cattrs' idea, specialised.

cattrs' generated hooks call one function per field (and, for optional fields,
look the inner hook up again on every call): about 13 us for a 27-field
Charge. Listing 100 charges then cost 3.5x raw aiohttp + json.loads. This
factory compiles one function per model with the converter's rules inlined
as type checks, and fills the instance's __dict__ in one step (the models
are frozen attrs classes without slots). Types it does not inline go through
the converter's own hook, so the converter still owns every rule.

Costs below are CPU instructions per Charge (`perf stat`, see
benchmarks/bench_instructions.py); json.loads of one list item is ~42,000.

"""

from __future__ import annotations

import operator
import typing
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from types import NoneType, UnionType
from typing import Any, NamedTuple

import attrs
import orjson

__all__ = [
    "ModelHooks",
    "SharedInstances",
    "bound_names",
    "make_model_hooks",
    "parser_keys",
]

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
    parse: Callable[[Any, Any], datetime], cache: dict[Any, datetime]
) -> Callable[[Any], datetime]:
    """The cache miss: charges in one list share most timestamps, and a client
    sees the same charges again, so each distinct string is parsed once.

    Called only after the generated code's inline lookup missed, so it goes
    straight to the converter's hook (`parse`, no wrapper): ~1,000
    instructions less per new timestamp.
    """

    def timestamp(value: Any) -> datetime:
        parsed = parse(value, datetime)
        if type(value) is str:
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
    """Statements that validate local `v_<field>` (known not None) for type `tp`.

    A conversion assigns the local and stores it into `out[<field>]`.
    """
    q, v, slot = repr(field), f"v_{field}", f"out[{field!r}]"
    enum_cls = _tolerant_enum_of(tp)
    if tp is str:
        return [f"if type({v}) is not str: raise _bad({q}, 'a string', {v})"]
    if tp is bool:
        return [f"if type({v}) is not bool: raise _bad({q}, 'a boolean', {v})"]
    if tp is int:
        return [f"if type({v}) is not int: {slot} = _integral({q}, {v})"]
    if tp == dict[str, Any]:
        # The converter's hook bounds the nesting (see _convert._json_object).
        nesting = src.bind(f"_hook_{field}", hook_for(tp))
        # An empty object (most metadata) has nothing to bound: no call.
        return [
            f"if type({v}) is not dict: raise _bad({q}, 'an object', {v})",
            f"if {v}: {nesting}({v}, None)",
        ]
    if tp is datetime:
        parse = hook_for(datetime)
        cache: dict[Any, datetime] = {}
        src.bind("_timestamps", cache)
        src.bind("_timestamp", _cached_timestamps(parse, cache))
        # The cache hit inline (a subscript: half the cost of .get()), the
        # parse out of line.
        return [
            "try:",
            f"    {slot} = _timestamps[{v}]",
            "except KeyError:",
            f"    {slot} = _timestamp({v})",
        ]
    if enum_cls is not None:
        members = src.bind(f"_members_{enum_cls.__name__}", {m.value: m for m in enum_cls})
        return [
            f"if type({v}) is not str: raise _bad({q}, 'a string', {v})",
            "try:",
            f"    {slot} = {members}[{v}]",
            "except KeyError:",
            "    pass  # a value this version does not know stays a plain str",
        ]
    converter_hook = hook_for(tp)
    hook = src.bind(f"_hook_{field}", converter_hook)
    typ = src.bind(f"_type_{field}", tp)
    if isinstance(converter_hook, SharedInstances):
        shared = src.bind(f"_shared_{field}", converter_hook.shared)
        key = src.bind(f"_key_{field}", parser_keys((converter_hook.key,))[0])
        return [
            f"k = {v}.get({key}) if type({v}) is dict else None",
            f"if type(k) is int and k in {shared}: {slot} = {shared}[k]",
            f"else: {slot} = {hook}({v}, {typ})",
        ]
    return [f"{slot} = {hook}({v}, {typ})"]


class SharedInstances:
    """A structure hook for an immutable model keyed by one int field (the
    installment plan, keyed by its count): one shared instance per key.

    The generated decoder of a model that contains one inlines the cache hit,
    saving the hook call: ~700 instructions of a Charge's ~23,000.
    """

    def __init__(self, cls: type[Any], key: str, build: Callable[[Any, Any], Any]) -> None:
        self.cls = cls
        self.key = key
        self.shared: dict[int, Any] = {}
        self._build = build

    def __call__(self, value: Any, _: Any) -> Any:
        if type(value) is not dict:
            raise TypeError(f"expected an object, got {type(value).__name__}")
        key = value.get(self.key)
        cached = self.shared.get(key) if type(key) is int else None
        if cached is None:
            cached = self._build(value, self.cls)
            if type(key) is int and len(self.shared) < 64:
                self.shared[key] = cached
        return cached


def _is_factory(default: Any) -> bool:
    return isinstance(default, attrs.Factory)  # type: ignore[arg-type]


def _field(src: _Source, field: attrs.Attribute[Any], tp: Any, hook_for: Any) -> None:
    """Validate/convert local `v_<name>`, read from the completed `out`."""
    inner, optional = _split_optional(tp)
    local = f"v_{field.name}"
    if _is_factory(field.default):
        factory = src.bind(f"_factory_{field.name}", typing.cast(Any, field.default).factory)
        src.block(f"if {local} is _MISSING:", [f"{local} = out[{field.name!r}] = {factory}()"])
    check = _check(src, field.name, inner, hook_for)
    if optional:
        src.block(f"if {local} is not None:", check)
    else:
        src.lines.extend("    " + line for line in check)


class _Completer:
    """The slow path: a payload's fields merged over the defaults, unknown keys
    dropped. It also remembers this payload's shape (which fields it lacked,
    which extra keys it had, how many keys), because the next payload of the
    model (the next item of a list, almost always) has the same shape.
    """

    def __init__(self, defaults: dict[str, Any], names: tuple[str, ...]) -> None:
        self._defaults = defaults
        self._names = names
        self._known = frozenset(names)
        # ({missing field: default}, (extra key, ...), len(payload)): read by
        # the generated fast path, replaced whole here.
        self.guess: tuple[dict[str, Any], tuple[Any, ...], int] = ({}, (), len(names))

    def __call__(self, d: dict[str, Any]) -> dict[str, Any]:
        out = {**self._defaults, **d}
        if len(out) != len(self._names):
            out = {k: out[k] for k in self._names if k in out}
        missing = {k: v for k, v in self._defaults.items() if k not in d}
        extra = tuple(k for k in d if k not in self._known)
        # A shape that lacks a required field fails to decode: not worth
        # learning (the fast path would reject it anyway, see make_model_hooks).
        complete = len(d) - len(extra) + len(missing) == len(self._names)
        if complete and len(missing) + len(extra) <= 16:
            self.guess = (missing, extra, len(d))
        return out


def parser_keys(names: tuple[str, ...]) -> tuple[str, ...]:
    """`names` as the very str objects orjson gives payload keys.

    orjson reuses one str object per short key across parses (its key cache),
    and a copied payload keeps orjson's dict layout, whose lookups compare keys
    by identity first and by a generic comparison otherwise. Reading fields
    with orjson's own key objects: ~4,000 instructions less per Charge. If
    orjson ever hands out new objects, lookups fall back to comparing text:
    slower, never wrong. The price: attribute reads on a decoded model skip
    CPython's identity-keyed fast path (~60 ns instead of ~40 ns a read).
    """
    parsed = orjson.loads(orjson.dumps(dict.fromkeys(names)))
    return tuple(parsed)


def _reader(names: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """All fields of `out` as a tuple, in one C-level call (KeyError if one is missing)."""
    if len(names) == 1:
        only = names[0]
        return lambda out: (out[only],)
    return operator.itemgetter(*names)


class ModelHooks(NamedTuple):
    """The two generated decoders of one model, sharing one body."""

    one: Callable[..., Any]
    """`(payload, cls, request_info=None) -> model`: the cattrs structure hook."""
    many: Callable[..., list[Any]]
    """`(payloads, cls, request_info=None) -> [model, ...]`: a list in one call."""


# Builtins the generated code uses, bound as locals like every other name.
_LOCAL_BUILTINS = ("type", "str", "int", "bool", "dict", "len", "KeyError")


def make_model_hooks(
    cls: type[Any], hook_for: Callable[[Any], Any], *, provenance: frozenset[str]
) -> ModelHooks:
    """The structure hooks for attrs class `cls`, one payload or a list of them.

    `hook_for(type)` returns the converter's hook for types not inlined here.
    Fields named in `provenance` are never read from the payload: `raw` gets
    the payload itself, `request_info` the third argument (attached here, not
    by a frozen setattr per item afterwards), the others their defaults.

    Per payload, the generated code copies the payload completed to exactly
    the model's fields (by the last payload's shape, else by `_Completer`),
    reads every field into a local in one C-level call, checks the locals and
    stores back only the values that convert (enums, timestamps, nested).
    The completed copy becomes the instance's __dict__; `raw` is the payload.

    The list decoder runs the same body in its own loop: no call per item,
    and the shape guess and every name it uses are loaded once per list.
    Per Charge (perf stat): the one-payload hook went from ~22,500 to ~20,600
    instructions with this fast path and local names; the loop saves ~800 more.
    """
    fields = attrs.fields(cls)
    hints = typing.get_type_hints(cls)
    src = _Source()
    checked = [field for field in fields if field.name not in provenance]
    names = parser_keys(tuple(field.name for field in checked))
    defaults: dict[str, Any] = {}
    for name, field in zip(names, checked, strict=True):
        if field.default is not attrs.NOTHING:
            defaults[name] = _MISSING if _is_factory(field.default) else field.default
    complete = _Completer(defaults, names)
    src.bind("_complete", complete)
    src.bind("_read", _reader(names))
    src.emit("if type(d) is not dict: raise _bad('payload', 'an object', d)")
    # Fast path: the payload merged with the defaults its shape lacked, in
    # one C-level `d | missing`, then the shape's extra keys deleted. Sound
    # without looking at the keys: with len(d) == len(fields) - len(missing)
    # + len(extra) and every extra key present (del raises otherwise), the
    # copy holds at most len(fields) keys, so if every field reads, the
    # copy is exactly the fields and no default replaced a payload value.
    # Any other shape takes the slow path, which learns it. Merging key by
    # key cost ~8,800 instructions of a Charge's ~28,000; a copy and a fill
    # loop ~1,100 more than this.
    targets = "".join(f"v_{name}, " for name in names)
    src.block(
        "if len(d) == size:",
        [
            "out = d | missing",
            "try:",
            "    for k in extra: del out[k]",
            f"    ({targets}) = _read(out)",
            "except KeyError:",
            "    out = None",
        ],
    )
    src.block("else:", ["out = None"])
    # A missing required field is the KeyError of this read.
    src.block(
        "if out is None:",
        [
            "out = _complete(d)",
            "missing, extra, size = _complete.guess",
            f"({targets}) = _read(out)",
        ],
    )
    for field in checked:
        _field(src, field, hints[field.name], hook_for)
    for field in fields:
        if field.name not in provenance:
            continue
        if field.name == "raw":
            src.emit("out['raw'] = d")
        elif field.name == "request_info":
            src.emit("out['request_info'] = _info")
        elif _is_factory(field.default):
            factory = src.bind(f"_factory_{field.name}", typing.cast(Any, field.default).factory)
            src.emit(f"out[{field.name!r}] = {factory}()")
        else:
            value = src.bind(f"_default_{field.name}", field.default)
            src.emit(f"out[{field.name!r}] = {value}")
    if any(f.validator or f.converter for f in fields) or "__slots__" in cls.__dict__:
        src.emit("obj = _cls_(**out)")
    else:
        # No validators or converters to run: fill the frozen instance directly.
        src.emit("obj = _new(_cls_)")
        src.emit("_set_dict(obj, out)")
        src.bind("_set_dict", dict_setter(cls))
    src.bind("_cls_", cls)
    src.bind("_new", object.__new__)
    namespace = dict(src.names)
    code = compile(_functions(src), f"<ching_async structure {cls.__name__}>", "exec")
    exec(code, namespace)
    return ModelHooks(namespace["structure"], namespace["structure_list"])


def dict_setter(cls: type[Any]) -> Callable[[Any, dict[str, Any]], None]:
    """`set(obj, d)`: make `d` the `__dict__` of an instance of `cls`, past a
    frozen class's __setattr__. The `__dict__` descriptor's own setter:
    ~450 instructions less than object.__setattr__(obj, "__dict__", d)."""
    for klass in cls.__mro__:
        descriptor = klass.__dict__.get("__dict__")
        if descriptor is not None:
            return typing.cast("Callable[[Any, dict[str, Any]], None]", descriptor.__set__)
    raise TypeError(f"{cls.__name__} instances have no __dict__")


def _functions(src: _Source) -> str:
    """The body twice: once per payload, once in a loop over a list."""
    # Every name as a default argument: a local read (LOAD_FAST) instead of
    # a global or builtin lookup, for each of the body's many name reads.
    bound = [*sorted(src.names), *_LOCAL_BUILTINS]
    params = "".join(f", {name}={name}" for name in bound)
    body = src.lines
    one = [
        f"def structure(d, _cls, _info=None{params}):",
        "    missing, extra, size = _complete.guess",
        *body,
        "    return obj",
    ]
    many = [
        f"def structure_list(items, _cls, _info=None{params}):",
        "    result = []",
        "    append = result.append",
        "    missing, extra, size = _complete.guess",
        "    for d in items:",
        *("    " + line for line in body),
        "        append(obj)",
        "    return result",
    ]
    return "\n".join([*one, "", *many])


def bound_names(hook: Callable[..., Any]) -> dict[str, Any]:
    """What a generated hook binds by name (its default arguments): for
    tests and benchmarks that look inside, e.g. at the timestamp cache."""
    code = hook.__code__
    defaults = hook.__defaults__ or ()
    params = code.co_varnames[: code.co_argcount]
    return dict(zip(params[len(params) - len(defaults) :], defaults, strict=True))
