"""The fast path of decoding: generated structure hooks, fenced in this module.

cattrs' generated hooks call one function per field; this module compiles
one function per model (and a second one that loops over a list) with the
converter's rules inlined. It decides nothing about what is valid: each
check is read from the `Rule` objects of `_convert` (a value of exactly the
rule's `keeps` type is kept, any other goes to the rule's `other`; a pure
rule's results for strings are remembered), nested types go through the
converter's own hooks, and any payload the generated code does not decode
(a bad one, or one it cannot handle) is handed to the plain cattrs hook,
which decodes it or raises the error the plain path would. So the results
and errors are the plain path's (tests/decode/test_differential.py checks
it), and CHING_ASYNC_FAST_DECODE=0 switches this module off.

The generated source is registered with `linecache` (as cattrs does), so
tracebacks, debuggers and profilers show its lines. What each trick saves is
measured in benchmarks/README.md ("The fast decoder").
"""

from __future__ import annotations

import linecache
import operator
import typing
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import attrs
import orjson

__all__ = [
    "InlineRule",
    "ModelHooks",
    "SharedInstances",
    "clear_memos",
    "make_model_hooks",
    "memo",
]

_MISSING = object()
_MEMO_SIZE = 4096


class InlineRule(Protocol):
    """What this module reads of a `_convert.Rule`."""

    @property
    def keeps(self) -> type | None: ...
    @property
    def other(self) -> Callable[[Any], Any]: ...
    @property
    def pure(self) -> bool: ...
    @property
    def flat(self) -> bool: ...


# A pure rule's remembered results, by the str value: charges in one list
# share most timestamps and every enum value, and a client sees the same
# charges again. Only str values are remembered: a str key can equal only a
# str, while 1, 1.0 and True are equal keys that decode differently.
_memos: dict[Any, tuple[dict[str, Any], Callable[[Any], Any]]] = {}


def memo(rule: InlineRule) -> tuple[dict[str, Any], Callable[[Any], Any]]:
    """(remembered results, `other` that remembers) for a pure rule."""
    found = _memos.get(rule)
    if found is None:
        results: dict[str, Any] = {}
        other = rule.other

        def remember(value: Any) -> Any:
            decoded = other(value)
            if type(value) is str:
                if len(results) >= _MEMO_SIZE:
                    results.clear()
                results[value] = decoded
            return decoded

        found = _memos[rule] = (results, remember)
    return found


def clear_memos() -> None:
    """Forget every remembered result (benchmarks: the first sight of a list)."""
    for results, _ in _memos.values():
        results.clear()


class SharedInstances:
    """A structure hook for an immutable model keyed by one int field (the
    installment plan, keyed by its count): one shared instance per key. The
    generated decoder of a model that contains one inlines the lookup."""

    def __init__(self, cls: type[Any], key: str, build: Callable[[Any, Any], Any]) -> None:
        self.cls = cls
        self.key = key
        self.shared: dict[int, Any] = {}
        self._build = build

    def __call__(self, value: Any, _: Any) -> Any:
        key = value.get(self.key) if type(value) is dict else None
        cached = self.shared.get(key) if type(key) is int else None
        if cached is None:
            cached = self._build(value, self.cls)
            if type(key) is int and len(self.shared) < 64:
                self.shared[key] = cached
        return cached


class _Source:
    """Source lines of one generated function, and the names they refer to."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {"_MISSING": _MISSING}

    def bind(self, name: str, value: Any) -> str:
        self.names[name] = value
        return name

    def block(self, header: str, body: list[str], indent: int = 1) -> None:
        self.lines.append("    " * indent + header)
        self.lines.extend("    " * (indent + 1) + line for line in body)

    def emit(self, line: str, indent: int = 1) -> None:
        self.lines.append("    " * indent + line)


def _check(
    src: _Source,
    field: str,
    tp: Any,
    rule_for: Callable[[Any], InlineRule | None],
    hook_for: Callable[[Any], Any],
) -> list[str]:
    """Statements that decode local `v_<field>` (known not None) of type `tp`,
    storing a converted value into `out[<field>]`."""
    v, slot = f"v_{field}", f"out[{field!r}]"
    rule = rule_for(tp)
    if rule is not None:
        other = src.bind(f"_other_{field}", rule.other)
        if rule.keeps is not None:
            keeps = src.bind(f"_keeps_{field}", rule.keeps)
            if rule.flat:  # a kept container holding a dict or list goes to `other` too
                return [
                    f"if type({v}) is not {keeps}: {slot} = {other}({v})",
                    "else:",
                    f"    for c in {v}.values():",
                    "        if type(c) is dict or type(c) is list:",
                    f"            {slot} = {other}({v})",
                    "            break",
                ]
            return [f"if type({v}) is not {keeps}: {slot} = {other}({v})"]
        if rule.pure:
            results, remember = memo(rule)
            known = src.bind(f"_known_{field}", results)
            src.bind(f"_other_{field}", remember)
            return [
                "try:",
                f"    {slot} = {known}[{v}]",
                "except (KeyError, TypeError):  # not remembered, or unhashable",
                f"    {slot} = {other}({v})",
            ]
        return [f"{slot} = {other}({v})"]
    hook = src.bind(f"_hook_{field}", hook_for(tp))
    typ = src.bind(f"_type_{field}", tp)
    converter_hook = src.names[hook]
    if isinstance(converter_hook, SharedInstances):
        shared = src.bind(f"_shared_{field}", converter_hook.shared)
        key = src.bind(f"_key_{field}", parser_keys((converter_hook.key,))[0])
        return [
            f"k = {v}.get({key}) if type({v}) is dict else None",
            f"if type(k) is int and k in {shared}: {slot} = {shared}[k]",
            f"else: {slot} = {hook}({v}, {typ})",
        ]
    return [f"{slot} = {hook}({v}, {typ})"]


def _is_factory(default: Any) -> bool:
    return isinstance(default, attrs.Factory)  # type: ignore[arg-type]


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
    and a dict's lookups compare keys by identity first. If orjson ever hands
    out new objects, lookups fall back to comparing text: slower, never wrong.
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
_LOCAL_BUILTINS = ("type", "dict", "len", "KeyError", "TypeError", "Exception")


def make_model_hooks(
    cls: type[Any],
    *,
    rule_for: Callable[[Any], InlineRule | None],
    optional_of: Callable[[Any], Any | None],
    hook_for: Callable[[Any], Any],
    fallback: Callable[..., Any],
    provenance: frozenset[str],
) -> ModelHooks:
    """The structure hooks for attrs class `cls`, one payload or a list of them.

    `rule_for(type)` is the converter's Rule for a type (None for types it
    builds from others: nested models, lists), `optional_of(type)` the X of
    an `X | None` (else None), `hook_for(type)` the converter's hook.
    `fallback(payload, cls, request_info)` is the plain hook, given every
    payload the generated code does not decode. Fields named in `provenance`
    are never read from the payload: `raw` gets the payload itself,
    `request_info` the third argument, the others their defaults.

    Per payload, the generated code copies the payload completed to exactly
    the model's fields (by the last payload's shape, else by `_Completer`),
    reads every field into a local in one C-level call, checks the locals and
    stores back only the values that convert (enums, timestamps, nested).
    The completed copy becomes the instance's __dict__ (or, for a class with
    slots or validators, its constructor's arguments); `raw` is the payload.
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
    src.bind("_fallback", fallback)
    src.emit("if type(d) is not dict: raise TypeError  # _fallback says what is wrong")
    # Fast path: the payload merged with the defaults its shape lacked, in
    # one C-level `d | missing`, then the shape's extra keys deleted. Sound
    # without looking at the keys: with len(d) == len(fields) - len(missing)
    # + len(extra) and every extra key present (del raises otherwise), the
    # copy holds at most len(fields) keys, so if every field reads, the
    # copy is exactly the fields and no default replaced a payload value.
    # Any other shape takes the slow path, which learns it.
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
        tp = hints[field.name]
        inner = optional_of(tp)
        optional = inner is not None
        if inner is None:
            inner = tp
        local = f"v_{field.name}"
        if _is_factory(field.default):
            factory = src.bind(f"_factory_{field.name}", typing.cast(Any, field.default).factory)
            src.block(f"if {local} is _MISSING:", [f"{local} = out[{field.name!r}] = {factory}()"])
        check = _check(src, field.name, inner, rule_for, hook_for)
        if optional:
            src.block(f"if {local} is not None:", check)
        else:
            src.lines.extend("    " + line for line in check)
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
    source = _functions(src)
    filename = _register_source(cls, source)
    namespace = dict(src.names)
    exec(compile(source, filename, "exec"), namespace)
    return ModelHooks(namespace["structure"], namespace["structure_list"])


_generated = 0


def _register_source(cls: type[Any], source: str) -> str:
    """A unique file name for `source`, registered with linecache (as cattrs
    does): tracebacks and profilers then show the generated lines."""
    global _generated
    _generated += 1
    filename = f"<ching_async fastdecode {cls.__qualname__} #{_generated}>"
    # mtime None: linecache.checkcache() keeps the entry.
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    return filename


def dict_setter(cls: type[Any]) -> Callable[[Any, dict[str, Any]], None]:
    """`set(obj, d)`: make `d` the `__dict__` of an instance of `cls`, past a
    frozen class's __setattr__ (the `__dict__` descriptor's own setter)."""
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
        "    try:",
        *("    " + line for line in body),
        "    except Exception:",
        "        return _fallback(d, _cls, _info)",
        "    return obj",
    ]
    many = [
        f"def structure_list(items, _cls, _info=None{params}):",
        "    result = []",
        "    append = result.append",
        "    missing, extra, size = _complete.guess",
        "    for d in items:",
        "        try:",
        *("        " + line for line in body),
        "        except Exception:",
        "            obj = _fallback(d, _cls, _info)",
        "        append(obj)",
        "    return result",
    ]
    return "\n".join([*one, "", *many, ""])
