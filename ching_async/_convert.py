"""The one cattrs converter that owns every decoding rule.

Rules: timestamps (ISO-8601 with "Z", or epoch numbers) become aware UTC
datetimes; enum fields keep unknown values as plain str; unknown keys are
ignored; scalars are strict (no "100" -> 100, no 9.5 -> 9, no True -> 1).
The raw payload is kept on each model as `raw`.

The converter is built on first use (`get_converter`), not at import: cattrs
and the converter's setup are about 11 ms that `import ching_async` need not
pay (python -X importtime, with aiohttp already imported).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ._models import (
    CancellationReason,
    CaptureMethod,
    Charge,
    ChargeStatus,
    Customer,
    Event,
    EventData,
    Installments,
    PaymentMethod,
    Refund,
    RefundReason,
    RefundStatus,
    SetupSession,
    SetupSessionStatus,
    UpsertAction,
)
from ._structgen import SharedInstances, make_model_hooks

if TYPE_CHECKING:
    import cattrs

__all__ = [
    "get_converter",
    "model_hook",
    "model_list_hook",
    "parse_timestamp",
    "structure",
    "structure_list",
]

T = TypeVar("T")

# Epoch numbers above this are milliseconds (1e11 s is the year 5138).
_MILLISECONDS_THRESHOLD = 1e11


def _strict_str(value: Any, _: Any) -> str:
    if type(value) is str:
        return value
    raise TypeError(f"expected a string, got {type(value).__name__}")


# Beyond 2**53 a float no longer holds every integer: orjson reads integer
# literals beyond 64 bits as floats, and `int()` of one is a different number.
_EXACT_FLOAT_INT = 2.0**53


def _strict_int(value: Any, _: Any) -> int:
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        if abs(value) > _EXACT_FLOAT_INT:
            raise ValueError("integer out of the exactly representable range")
        return int(value)
    raise TypeError(f"expected an integer, got {type(value).__name__}")


def _strict_bool(value: Any, _: Any) -> bool:
    if type(value) is bool:
        return value
    raise TypeError(f"expected a boolean, got {type(value).__name__}")


# orjson accepts 1024 levels, but repr() and == of a model recurse into its
# free-form objects and hit RecursionError near 1000: refuse such a payload
# instead of handing out a model that cannot be printed or compared.
MAX_JSON_DEPTH = 100


def _json_object(value: Any, _: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise TypeError(f"expected an object, got {type(value).__name__}")
    for child in value.values():
        if type(child) is dict or type(child) is list:
            _check_depth(value)
            break
    # Flat objects (nearly all metadata) cost one pass over their values.
    return value


def _check_depth(value: dict[str, Any]) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"object nested deeper than {MAX_JSON_DEPTH} levels")
        children = item.values() if type(item) is dict else item
        stack.extend((c, depth + 1) for c in children if type(c) in (dict, list))


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


def _register_model(
    conv: cattrs.Converter,
    cls: type[Any],
    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> None:
    """Register the generated hook of a model that keeps `raw` and `request_info`.

    The provenance fields are never read from the payload: a server field that
    happens to be called "raw" or "request_info" must not break decoding. The
    hook is generated by a factory on first use, when every hook it calls is
    registered, and cattrs then caches the generated function itself (no
    wrapper frame per item). `prepare` maps alternative spellings first.
    """

    def factory(_: Any) -> Callable[..., Any]:
        hooks = make_model_hooks(cls, conv.get_structure_hook, provenance=_PROVENANCE)
        if prepare is not None:
            return _renamed(hooks.one, prepare)
        if conv is _converter:  # model_list_hook serves the module's converter
            _list_hooks[cls] = hooks.many
        return hooks.one

    conv.register_structure_hook_factory(lambda t: t is cls, factory)
    _MODELS.add(cls)


# Models whose hook takes the RequestInfo as a third argument (see model_hook).
_MODELS: set[type[Any]] = set()
_PROVENANCE = frozenset({"raw", "request_info"})


def _make_converter() -> cattrs.Converter:
    import cattrs
    from cattrs.gen import make_dict_structure_fn

    conv = cattrs.Converter(forbid_extra_keys=False, detailed_validation=False)
    conv.register_structure_hook(str, _strict_str)
    conv.register_structure_hook(int, _strict_int)
    conv.register_structure_hook(bool, _strict_bool)
    conv.register_structure_hook_func(lambda t: t == dict[str, Any], _json_object)
    conv.register_structure_hook(datetime, parse_timestamp)
    for enum_cls in (
        SetupSessionStatus,
        ChargeStatus,
        CaptureMethod,
        CancellationReason,
        RefundStatus,
        RefundReason,
        UpsertAction,
    ):
        hook = _tolerant_enum(enum_cls)
        conv.register_structure_hook_func(_is_type(enum_cls | str), hook)
        conv.register_structure_hook_func(_is_type(enum_cls | str | None), _optional(hook))
    installments = make_dict_structure_fn(Installments, conv, _cattrs_detailed_validation=False)
    # Immutable and almost always {"count": 1}: one shared instance per count.
    conv.register_structure_hook(Installments, SharedInstances(Installments, "count", installments))
    _register_model(conv, SetupSession)
    _register_model(conv, Charge)
    _register_model(conv, Customer, _customer_aliases)
    _register_model(conv, Refund, _refund_aliases)
    _register_model(conv, PaymentMethod, _card_details)
    conv.register_structure_hook(Event, _event_hook(conv))
    return conv


def _renamed(
    hook: Callable[..., T], prepare: Callable[[dict[str, Any]], dict[str, Any]]
) -> Callable[..., T]:
    """Decode a payload after mapping alternative spellings; `raw` stays as received."""

    def structure(value: Any, cls: Any, info: Any = None) -> T:
        if type(value) is not dict:
            return hook(value, cls)  # raises the usual TypeError
        obj = hook(prepare(value), cls, info)
        object.__setattr__(obj, "raw", value)
        return obj

    return structure


def _alias(value: dict[str, Any], field: str, alias: str) -> dict[str, Any]:
    if value.get(field) is None and value.get(alias) is not None:
        return {**value, field: value[alias]}
    return value


def _customer_aliases(value: dict[str, Any]) -> dict[str, Any]:
    return _alias(value, "tax_id", "taxId")


def _refund_aliases(value: dict[str, Any]) -> dict[str, Any]:
    return _alias(value, "amount", "amount_agorot")


_CARD_FIELDS = ("brand", "last4", "exp_month", "exp_year")


def _card_details(value: dict[str, Any]) -> dict[str, Any]:
    """Lift `card: {brand, last4, ...}` onto the flat fields when those are absent."""
    card = value.get("card")
    if type(card) is not dict:
        return value
    lifted = {name: card[name] for name in _CARD_FIELDS if value.get(name) is None and name in card}
    return {**value, **lifted} if lifted else value


# Event type prefix -> the model its `data` decodes into.
EVENT_DATA_MODELS: dict[str, type[Any]] = {
    "charge": Charge,
    "setup_session": SetupSession,
    "customer": Customer,
    "refund": Refund,
    "payment_method": PaymentMethod,
}


def _event_hook(conv: cattrs.Converter) -> Callable[[Any, Any], Event]:
    """Webhook events: `id` and `type` must be strings; everything else is
    decoded where possible and left alone where not, so an event never fails
    on a new type or an odd payload (`raw` always has the original), unless
    its raw data is nested deeper than MAX_JSON_DEPTH."""

    def data_of(event_type: str, data: Any) -> EventData | None:
        if type(data) is not dict:
            return None
        model = EVENT_DATA_MODELS.get(event_type.partition(".")[0])
        if model is None:
            return data
        try:
            decoded: EventData = conv.structure(data, model)
        except Exception:  # an undecodable payload stays raw
            return data
        return decoded

    def structure(value: Any, _: Any) -> Event:
        if type(value) is not dict:
            raise TypeError(f"expected an object, got {type(value).__name__}")
        event_id, event_type = value.get("id"), value.get("type")
        if type(event_id) is not str or type(event_type) is not str:
            raise TypeError("an event needs a string id and a string type")
        livemode = value.get("livemode")
        data = data_of(event_type, value.get("data"))
        if type(data) is dict:
            # Raw data keeps the models' depth rule: an event nested 1,000
            # deep could not be printed or compared (RecursionError).
            try:
                _check_depth(data)
            except ValueError as exc:
                raise TypeError(f"data: {exc}") from None
        return Event(
            id=event_id,
            type=event_type,
            data=data,
            livemode=livemode if type(livemode) is bool else None,
            created=_lenient_timestamp(value.get("created")),
            raw=value,
        )

    return structure


def _lenient_timestamp(value: Any) -> datetime | None:
    try:
        return parse_timestamp(value)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


_converter: cattrs.Converter | None = None
# construct_event is synchronous and may run in several web-server threads at
# once: one of them builds the converter, the others wait for it.
_converter_lock = threading.Lock()


def get_converter() -> cattrs.Converter:
    """The one converter, built on the first call."""
    global _converter
    if _converter is None:
        with _converter_lock:
            if _converter is None:
                _converter = _make_converter()
    return _converter


def structure(data: Any, cls: type[T]) -> T:
    return get_converter().structure(data, cls)


def model_hook(cls: type[T]) -> Callable[[Any, Any, Any], T]:
    """`hook(payload, cls, request_info)` for `cls`: the generated hook itself
    for the provenance models, which attach `request_info` as they build."""
    hook = _model_hooks.get(cls)
    if hook is None:
        hook = _model_hooks[cls] = _model_hook(cls)
    return hook


# cattrs' dispatch per call costs about as much as decoding a small model.
_model_hooks: dict[type[Any], Callable[[Any, Any, Any], Any]] = {}


def _model_hook(cls: type[T]) -> Callable[[Any, Any, Any], T]:
    hook = get_converter().get_structure_hook(cls)
    if cls in _MODELS:
        return cast("Callable[[Any, Any, Any], T]", hook)

    def structure(data: Any, target: Any, info: Any) -> T:
        obj: T = hook(data, target)
        object.__setattr__(obj, "request_info", info)
        return obj

    return structure


def model_list_hook(cls: type[T]) -> Callable[[list[Any], Any, Any], list[T]]:
    """`hook(payloads, cls, request_info)` for `cls`: the generated list decoder
    where there is one (one loop, no call per item), else `model_hook` per item."""
    hook = model_hook(cls)  # generates the hooks on first use
    many = _list_hooks.get(cls)
    if many is None:

        def many(items: list[Any], target: Any, info: Any) -> list[T]:
            return [hook(item, target, info) for item in items]

        _list_hooks[cls] = many
    return many


_list_hooks: dict[type[Any], Callable[[list[Any], Any, Any], list[Any]]] = {}


def structure_list(data: Any, cls: type[T]) -> list[T]:
    if type(data) is not list:
        raise TypeError(f"expected a list, got {type(data).__name__}")
    hook = get_converter().get_structure_hook(cls)
    return [hook(item, cls) for item in data]
