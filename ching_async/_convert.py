"""The decoding rules, and the one cattrs converter that applies them.

Rules: scalars are strict (no "100" -> 100, no 9.5 -> 9, no True -> 1, no
integer a float cannot hold exactly); timestamps (ISO-8601 with "Z" or an
offset, or epoch numbers) become aware UTC datetimes; enum fields keep unknown
values as plain str; free-form objects are bounded in depth; unknown keys are
ignored. Each model keeps the payload as received on `raw` and where it came
from on `request_info`.

Each rule is written once, as a `Rule`. The converter registers it as a cattrs
hook; `_fastdecode` (the generated decoders, on unless
CHING_ASYNC_FAST_DECODE=0) reads the same Rule objects to build its inline
checks, and hands any payload it does not decode to the plain cattrs hook,
so errors are the plain hooks' errors on both paths.

The same converter serializes (`Model.to_dict`, `to_json`, pydantic): its
unstructure hooks write timestamps as ISO-8601 ("Z" for UTC), enums as their
values and nested models as dicts, and leave out `raw` and `request_info`,
so that `to_dict()` is the API's wire shape and decodes back to an equal
model. They are registered with the decoding rules but made on first use.

The converter is built on first use (`get_decoding`), not at import: cattrs
and its set-up are a cost `import ching_async` need not pay (numbers in
benchmarks/README.md).
"""

from __future__ import annotations

import math
import os
import threading
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from types import NoneType, UnionType
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import orjson

from . import _fastdecode
from ._models import (
    ApiObject,
    AppliedDiscount,
    AppliedDiscountStatus,
    CancellationReason,
    CaptureMethod,
    ChangeTiming,
    Charge,
    ChargeStatus,
    CheckoutSessionStatus,
    Customer,
    Discount,
    DiscountDuration,
    DiscountRedemption,
    DiscountTargetType,
    DiscountValueType,
    DocumentStatus,
    DocumentType,
    Event,
    EventData,
    Installments,
    LineItem,
    Model,
    NextChargeDiscount,
    PaymentMethod,
    PriceApplyMode,
    PriceChangeKind,
    PriceType,
    ProductFeature,
    Recurring,
    RecurringInterval,
    Refund,
    RefundReason,
    RefundStatus,
    SetupSession,
    SetupSessionStatus,
    Subscription,
    SubscriptionItem,
    SubscriptionStatus,
    TaxMode,
    UpsertAction,
    UpsertResult,
    install_codec,
)

if TYPE_CHECKING:
    import cattrs

__all__ = [
    "Decoding",
    "Rule",
    "format_timestamp",
    "get_converter",
    "get_decoding",
    "model_hook",
    "model_list_hook",
    "parse_timestamp",
    "rule_for",
    "set_fast_decode",
    "structure",
]

T = TypeVar("T")


@attrs.frozen
class Rule:
    """How values of one type are decoded.

    A value whose type is exactly `keeps` is valid as it is; any other value
    goes to `other`, which returns the decoded value or raises TypeError or
    ValueError. `pure`: `other` gives the same immutable result for the same
    str every time, so a decoder may remember it. `flat`: a kept container
    (a dict) is valid as it is only while none of its values is a dict or a list;
    one that holds one goes to `other` too (for checks of its depth).
    """

    keeps: type | None
    other: Callable[[Any], Any]
    pure: bool = False
    flat: bool = False

    def structure(self, value: Any, _: Any = None) -> Any:
        """The cattrs structure hook."""
        if type(value) is self.keeps and not (self.flat and _holds_container(value)):
            return value
        return self.other(value)


def _holds_container(value: Any) -> bool:
    return any(type(child) is dict or type(child) is list for child in value.values())


def _rejects(expected: str) -> Callable[[Any], Any]:
    def reject(value: Any) -> Any:
        raise TypeError(f"expected {expected}, got {type(value).__name__}")

    return reject


# Beyond 2**53 a float no longer holds every integer: orjson reads integer
# literals beyond 64 bits as floats, and `int()` of one is a different number.
_EXACT_FLOAT_INT = 2.0**53


def _int_from_float(value: Any) -> int:
    """Integral floats (9900.0) are integers on the wire; 9.5, bools and strings are not."""
    if type(value) is float and value.is_integer():
        if abs(value) > _EXACT_FLOAT_INT:
            raise ValueError("integer out of the exactly representable range")
        return int(value)
    raise TypeError(f"expected an integer, got {type(value).__name__}")


def _float_from_int(value: Any) -> float:
    if type(value) is int:
        return float(value)
    raise TypeError(f"expected a number, got {type(value).__name__}")


# Epoch numbers above this are milliseconds (1e11 s is the year 5138).
_MILLISECONDS_THRESHOLD = 1e11


def parse_timestamp(value: Any, _: Any = None) -> datetime:
    """ISO-8601 string (with "Z" or an offset) or epoch seconds/milliseconds."""
    if type(value) is str:
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if type(value) in (int, float) and math.isfinite(value):
        seconds = value / 1000 if abs(value) >= _MILLISECONDS_THRESHOLD else value
        return datetime.fromtimestamp(seconds, tz=UTC)
    raise TypeError(f"expected a timestamp, got {type(value).__name__}")


# orjson accepts 1024 levels, but repr() and == of a model recurse into its
# free-form objects and hit RecursionError near 1000: refuse such a payload
# instead of handing out a model that cannot be printed or compared.
MAX_JSON_DEPTH = 100


def _json_object(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise TypeError(f"expected an object, got {type(value).__name__}")
    if _holds_container(value):
        _check_depth(value)
    return value


def _check_depth(value: dict[str, Any]) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"object nested deeper than {MAX_JSON_DEPTH} levels")
        children = item.values() if type(item) is dict else item
        stack.extend((c, depth + 1) for c in children if type(c) in (dict, list))


def _tolerant_enum(enum_cls: type[StrEnum]) -> Rule:
    members = {member.value: member for member in enum_cls}

    def member_or_str(value: Any) -> StrEnum | str:
        if type(value) is not str:
            raise TypeError(f"expected a string, got {type(value).__name__}")
        return members.get(value, value)  # a value this version does not know stays a str

    return Rule(keeps=None, other=member_or_str, pure=True)


_ENUMS = (
    SetupSessionStatus,
    ChargeStatus,
    CaptureMethod,
    CancellationReason,
    RefundStatus,
    RefundReason,
    UpsertAction,
    DocumentType,
    DocumentStatus,
    # products, prices and discounts
    TaxMode,
    PriceType,
    RecurringInterval,
    PriceApplyMode,
    DiscountRedemption,
    DiscountTargetType,
    DiscountValueType,
    DiscountDuration,
    AppliedDiscountStatus,
    # subscriptions
    SubscriptionStatus,
    PriceChangeKind,
    ChangeTiming,
    # checkout sessions
    CheckoutSessionStatus,
)

# The rules by the type they decode. Optional types, lists and nested models
# are built from these (see _make_converter).
RULES: dict[Any, Rule] = {
    str: Rule(keeps=str, other=_rejects("a string")),
    bool: Rule(keeps=bool, other=_rejects("a boolean")),
    int: Rule(keeps=int, other=_int_from_float),
    float: Rule(keeps=float, other=_float_from_int),
    datetime: Rule(keeps=None, other=parse_timestamp, pure=True),
    dict[str, Any]: Rule(keeps=dict, other=_json_object, flat=True),
    **{enum_cls | str: _tolerant_enum(enum_cls) for enum_cls in _ENUMS},
}


def rule_for(tp: Any) -> Rule | None:
    return RULES.get(tp)


def optional_of(tp: Any) -> Any | None:
    """X for `X | None` (X itself may be a union), else None."""
    if not (isinstance(tp, UnionType) or typing.get_origin(tp) is typing.Union):
        return None
    args = [a for a in typing.get_args(tp) if a is not NoneType]
    if len(args) == len(typing.get_args(tp)):
        return None
    inner = args[0]
    for arg in args[1:]:
        inner = inner | arg
    return inner


def _optional(hook: Callable[[Any, Any], T], inner: Any) -> Callable[[Any, Any], T | None]:
    def structure(value: Any, _: Any) -> T | None:
        return None if value is None else hook(value, inner)

    return structure


def _list_of(hook: Callable[[Any, Any], T], item_type: Any) -> Callable[[Any, Any], list[T]]:
    def structure(value: Any, _: Any) -> list[T]:
        if type(value) is not list:
            raise TypeError(f"expected a list, got {type(value).__name__}")
        return [hook(item, item_type) for item in value]

    return structure


# ------------------------------------------------------------------- models
# Never read from the payload: a server field that happens to be called "raw"
# or "request_info" must not break decoding.
PROVENANCE = frozenset({"raw", "request_info"})


def _first_error(exc: Exception) -> Exception:
    """The first field error of cattrs' detailed validation, named by its field
    ("amount: expected an integer, got str"); a missing field stays KeyError."""
    from cattrs.errors import AttributeValidationNote, ClassValidationError

    if not isinstance(exc, ClassValidationError) or not exc.exceptions:
        return exc
    first = exc.exceptions[0]
    notes = [n for n in getattr(first, "__notes__", ()) if isinstance(n, AttributeValidationNote)]
    first = _first_error(first)
    if notes and type(first) in (TypeError, ValueError):
        return type(first)(f"{notes[0].name}: {first}")
    return first


def _plain_model_hook(conv: cattrs.Converter, cls: type[Any]) -> Callable[..., Any]:
    """cattrs' own generated hook for `cls`, plus the provenance fields:
    `(payload, cls, request_info=None) -> model`."""
    from cattrs.gen import make_dict_structure_fn, override

    names = {field.name for field in attrs.fields(cls)}
    omitted = {name: override(omit=True) for name in PROVENANCE & names}
    build = make_dict_structure_fn(cls, conv, _cattrs_detailed_validation=True, **omitted)  # type: ignore[arg-type]

    def structure(value: Any, _: Any, info: Any = None) -> Any:
        if type(value) is not dict:
            raise TypeError(f"expected an object, got {type(value).__name__}")
        try:
            obj = build(value, cls)
        except Exception as exc:
            raise _first_error(exc) from None
        if "raw" in names:
            object.__setattr__(obj, "raw", value)
        if "request_info" in names:
            object.__setattr__(obj, "request_info", info)
        return obj

    return structure


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


def _discount_targets(value: dict[str, Any]) -> dict[str, Any]:
    """`retrieve` resolves a rule's targets into objects: keep their ids
    (`raw` keeps the objects)."""
    targets = value.get("targets")
    if type(targets) is not list or not any(type(t) is dict for t in targets):
        return value
    ids = [t.get("id") if type(t) is dict else t for t in targets]
    return {**value, "targets": ids}


def _subscription_items(value: dict[str, Any]) -> dict[str, Any]:
    """An item's `price` may come as the price object: keep its id (`raw`
    keeps the object)."""
    items = value.get("items")
    if type(items) is not list or not any(
        type(item) is dict and type(item.get("price")) is dict for item in items
    ):
        return value
    flat = [
        {**item, "price": item["price"].get("id")}
        if type(item) is dict and type(item.get("price")) is dict
        else item
        for item in items
    ]
    return {**value, "items": flat}


_CARD_FIELDS = ("brand", "last4", "exp_month", "exp_year")


def _card_details(value: dict[str, Any]) -> dict[str, Any]:
    """Lift `card: {brand, last4, ...}` onto the flat fields when those are absent."""
    card = value.get("card")
    if type(card) is not dict:
        return value
    lifted = {name: card[name] for name in _CARD_FIELDS if value.get(name) is None and name in card}
    return {**value, **lifted} if lifted else value


# The API objects' alternative spellings, turned into the fields' names
# before decoding. Every ApiObject subclass is decoded with `raw` and
# `request_info` (see _is_api_object); only those with another spelling are here.
_SPELLINGS: dict[type[Any], Callable[[dict[str, Any]], dict[str, Any]]] = {
    Customer: _customer_aliases,
    Refund: _refund_aliases,
    PaymentMethod: _card_details,
    Discount: _discount_targets,
    Subscription: _subscription_items,
}


def _is_api_object(tp: Any) -> bool:
    """A model decoded from a response, keeping `raw` and `request_info`: a
    new one needs no registering here (a missed entry would lose `raw`)."""
    return isinstance(tp, type) and issubclass(tp, ApiObject) and tp is not ApiObject


# Models nested in others, without provenance of their own.
_NESTED = (ProductFeature, Recurring, SubscriptionItem, NextChargeDiscount, LineItem)
# Immutable models keyed by one int field that the fast decoder shares, one
# instance per key: the installment plan is almost always {"count": 1}.
_SHARED = {Installments: "count"}


def _is_type(expected: Any) -> Callable[[Any], bool]:
    return lambda candidate: bool(candidate == expected)


def _is_list(tp: Any) -> bool:
    return typing.get_origin(tp) is list


class Decoding:
    """The converter with every rule and model registered, and the model hooks
    the decoders call: generated (`fast`) or cattrs' own."""

    def __init__(self, *, fast: bool) -> None:
        import cattrs

        self.fast = fast
        # Payloads the generated decoders handed to the plain hooks (a bad
        # payload, or a shape they do not handle): the differential test reads it.
        self.fallbacks = 0
        self._one: dict[type[Any], Callable[..., Any]] = {}
        self._many: dict[type[Any], Callable[..., list[Any]]] = {}
        conv = self.converter = cattrs.Converter(forbid_extra_keys=False)
        for tp, rule in RULES.items():
            if isinstance(tp, type):
                conv.register_structure_hook(tp, rule.structure)
            else:
                conv.register_structure_hook_func(_is_type(tp), rule.structure)
        conv.register_structure_hook_factory(
            lambda t: optional_of(t) is not None,
            lambda t: _optional(conv.get_structure_hook(optional_of(t)), optional_of(t)),
        )
        conv.register_structure_hook_factory(
            _is_list,
            lambda t: _list_of(
                conv.get_structure_hook(typing.get_args(t)[0]), typing.get_args(t)[0]
            ),
        )
        for cls, key in _SHARED.items():
            plain = _plain_model_hook(conv, cls)
            conv.register_structure_hook(
                cls, _fastdecode.SharedInstances(cls, key, plain) if fast else plain
            )
        # A factory: each model's hook is made on first use, when every hook
        # it calls is registered.
        conv.register_structure_hook_factory(_is_api_object, self._model_factory)
        for nested in _NESTED:
            conv.register_structure_hook_factory(
                _is_type(nested), lambda cls: _plain_model_hook(conv, cls)
            )
        conv.register_structure_hook(Event, _event_hook(conv))
        conv.register_structure_hook_factory(
            _is_type(UpsertResult), lambda cls: _plain_model_hook(conv, cls)
        )
        # Serializing: the hooks `Model.to_dict` goes through (decoding never does).
        conv.register_unstructure_hook(datetime, format_timestamp)
        # StrEnum, not Enum: cattrs would find str's hook (identity) first.
        conv.register_unstructure_hook(StrEnum, _enum_value)
        conv.register_unstructure_hook_factory(_is_model, lambda cls: _model_to_dict(conv, cls))

    def _model_factory(self, cls: type[Any]) -> Callable[..., Any]:
        plain = _plain_model_hook(self.converter, cls)
        prepare = _SPELLINGS.get(cls)
        if not self.fast:
            return plain if prepare is None else _renamed(plain, prepare)

        def fallback(value: Any, target: Any, info: Any = None) -> Any:
            self.fallbacks += 1
            return plain(value, target, info)

        hooks = _fastdecode.make_model_hooks(
            cls,
            rule_for=rule_for,
            optional_of=optional_of,
            hook_for=self.converter.get_structure_hook,
            fallback=fallback,
            provenance=PROVENANCE,
        )
        if prepare is not None:
            return _renamed(hooks.one, prepare)
        self._many[cls] = hooks.many
        return hooks.one

    def model_hook(self, cls: type[T]) -> Callable[[Any, Any, Any], T]:
        """`hook(payload, cls, request_info)`."""
        hook = self._one.get(cls)
        if hook is None:
            hook = self._one[cls] = self._make_model_hook(cls)
        return hook

    def _make_model_hook(self, cls: type[T]) -> Callable[[Any, Any, Any], T]:
        hook = self.converter.get_structure_hook(cls)
        if _is_api_object(cls):
            return typing.cast("Callable[[Any, Any, Any], T]", hook)

        def structure(data: Any, target: Any, info: Any) -> T:
            obj: T = hook(data, target)
            object.__setattr__(obj, "request_info", info)
            return obj

        return structure

    def model_list_hook(self, cls: type[T]) -> Callable[[list[Any], Any, Any], list[T]]:
        """`hook(payloads, cls, request_info)`: the generated list decoder where
        there is one, else `model_hook` per item."""
        hook = self.model_hook(cls)  # makes the generated hooks on first use
        many = self._many.get(cls)
        if many is None:

            def many(items: list[Any], target: Any, info: Any) -> list[T]:
                return [hook(item, target, info) for item in items]

            self._many[cls] = many
        return many


# Event type prefix -> the model its `data` decodes into.
EVENT_DATA_MODELS: dict[str, type[Any]] = {
    "charge": Charge,
    "setup_session": SetupSession,
    "customer": Customer,
    "refund": Refund,
    "payment_method": PaymentMethod,
    "discount": Discount,
    "subscription": Subscription,
}
# Data whose `object` names its model more precisely than the event type's
# prefix (discount.applied and discount.expired carry an applied discount).
EVENT_DATA_OBJECTS: dict[str, type[Any]] = {"applied_discount": AppliedDiscount}


def _event_hook(conv: cattrs.Converter) -> Callable[[Any, Any], Event]:
    """Webhook events: `id` and `type` must be strings; everything else is
    decoded where possible and left alone where not, so an event never fails
    on a new type or an odd payload (`raw` always has the original), unless
    its raw data is nested deeper than MAX_JSON_DEPTH."""

    def data_of(event_type: str, data: Any) -> EventData | None:
        if type(data) is not dict:
            return None
        kind = data.get("object")
        model = EVENT_DATA_OBJECTS.get(kind) if type(kind) is str else None
        if model is None:
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


# ------------------------------------------------------------- serializing
def format_timestamp(moment: datetime) -> str:
    """The API's spelling, `2026-04-19T09:15:22.000Z`: milliseconds (microseconds
    when there are any), "Z" for UTC, another offset as it is."""
    precision = "microseconds" if moment.microsecond % 1000 else "milliseconds"
    text = moment.isoformat(timespec=precision)
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _enum_value(member: StrEnum) -> str:
    # A plain str, not the member: JSON-ready to the exact type.
    return member.value


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, Model) and attrs.has(tp)


def _model_to_dict(conv: cattrs.Converter, cls: type[Any]) -> Callable[[Any], dict[str, Any]]:
    """cattrs' generated unstructure hook for `cls`, without the provenance
    fields. Fields typed as unions (tolerant enums, optional values, event
    data) are unstructured by the value's own type: an unknown enum value
    is the str it came as."""
    from cattrs.gen import make_dict_unstructure_fn, override

    names = {field.name for field in attrs.fields(cls)}
    omitted = {name: override(omit=True) for name in PROVENANCE & names}
    return make_dict_unstructure_fn(cls, conv, **omitted)  # type: ignore[arg-type]


# JSON schemas of to_dict()'s output, by field type (OpenAPI documents of
# FastAPI routes that take or return models).
_JSON_SCHEMAS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": "number"},
    datetime: {"type": "string", "format": "date-time"},
    dict[str, Any]: {"type": "object"},
}
_TOLERANT_ENUMS = {enum_cls | str: enum_cls for enum_cls in _ENUMS}


def json_schema_of(tp: Any) -> dict[str, Any]:
    inner = optional_of(tp)
    if inner is not None:
        schema = json_schema_of(inner)
        return {"anyOf": [*schema.get("anyOf", [schema]), {"type": "null"}]}
    if tp in _JSON_SCHEMAS:
        return dict(_JSON_SCHEMAS[tp])
    enum_cls = _TOLERANT_ENUMS.get(tp)
    if enum_cls is not None:
        # The known values, or any other string (a value this version does not know).
        known = {"type": "string", "enum": [member.value for member in enum_cls]}
        return {"anyOf": [known, {"type": "string"}]}
    if isinstance(tp, UnionType):
        return {"anyOf": [json_schema_of(arg) for arg in typing.get_args(tp)]}
    if _is_list(tp):
        return {"type": "array", "items": json_schema_of(typing.get_args(tp)[0])}
    if _is_model(tp):
        return model_json_schema(tp)
    raise TypeError(f"no JSON schema for {tp!r}")


def model_json_schema(cls: type[Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    fields = [field for field in attrs.fields(cls) if field.name not in PROVENANCE]
    schema: dict[str, Any] = {
        "type": "object",
        "title": cls.__name__,
        "properties": {field.name: json_schema_of(hints[field.name]) for field in fields},
    }
    required = [field.name for field in fields if field.default is attrs.NOTHING]
    if required:
        schema["required"] = required
    return schema


def _pydantic_validator(cls: type[T]) -> Callable[[Any], T]:
    def validate(value: Any) -> T:
        if isinstance(value, cls):
            return value
        try:
            return structure(value, cls)  # a dict in the wire shape, by the rules above
        except KeyError as exc:
            message = f"missing field {exc.args[0]!r}" if exc.args else "missing field"
        except Exception as exc:
            message = str(exc)
        # pydantic turns a ValueError into its ValidationError (FastAPI: a 422).
        raise ValueError(f"not a valid {cls.__name__}: {message}")

    return validate


class _Codec:
    """What `Model`'s methods call (installed into _models below)."""

    def __init__(self) -> None:
        self._serializers: dict[type[Model], Any] = {}

    def to_dict(self, model: Model) -> dict[str, Any]:
        data: dict[str, Any] = get_decoding().converter.unstructure(model)
        return data

    def to_json(self, model: Model) -> str:
        return orjson.dumps(self.to_dict(model)).decode()

    def pydantic_core_schema(self, cls: type[Model]) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_plain_validator_function(
            _pydantic_validator(cls),
            ref=f"ching_async.{cls.__name__}",  # one named schema in OpenAPI documents
            serialization=core_schema.plain_serializer_function_ser_schema(self.to_dict),
        )

    def pydantic_serializer(self, cls: type[Model]) -> Any:
        serializer = self._serializers.get(cls)
        if serializer is None:
            from pydantic_core import SchemaSerializer

            serializer = SchemaSerializer(self.pydantic_core_schema(cls))
            self._serializers[cls] = serializer
        return serializer

    def json_schema(self, cls: type[Model]) -> dict[str, Any]:
        return model_json_schema(cls)


install_codec(_Codec())


# ------------------------------------------------------------- the switch
FAST_DECODE_ENV = "CHING_ASYNC_FAST_DECODE"

_decoding: Decoding | None = None
_fast: bool | None = None  # None: read FAST_DECODE_ENV on the first decode
# construct_event is synchronous and may run in several web-server threads at
# once: one of them builds the converter, the others wait for it.
_decoding_lock = threading.Lock()


def _make_decoding() -> Decoding:
    fast = _fast if _fast is not None else os.environ.get(FAST_DECODE_ENV, "1") != "0"
    return Decoding(fast=fast)


def get_decoding() -> Decoding:
    """The process's decoding, built on the first call."""
    global _decoding
    if _decoding is None:
        with _decoding_lock:
            if _decoding is None:
                _decoding = _make_decoding()
    return _decoding


def set_fast_decode(enabled: bool | None) -> None:
    """Switch the generated decoders on or off from the next decode (None: as
    CHING_ASYNC_FAST_DECODE says). For tests and benchmarks; an application
    sets the variable instead."""
    global _decoding, _fast
    with _decoding_lock:
        _fast = enabled
        _decoding = None


def get_converter() -> cattrs.Converter:
    return get_decoding().converter


def structure(data: Any, cls: type[T]) -> T:
    return get_decoding().converter.structure(data, cls)


def model_hook(cls: type[T]) -> Callable[[Any, Any, Any], T]:
    return get_decoding().model_hook(cls)


def model_list_hook(cls: type[T]) -> Callable[[list[Any], Any, Any], list[T]]:
    return get_decoding().model_list_hook(cls)
