"""Every public callable of the package's surface has a docstring: the names
in `ching_async.__all__`, the public methods and properties of those classes,
and the resource groups a Client carries (`client.charges`, ...)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import ching_async
from ching_async._resources._base import Resource


def _members(cls: type[Any]) -> Iterator[tuple[str, Any]]:
    """(name, function) for each public method and property `cls` defines or
    inherits from a class of this package."""
    seen: set[str] = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("ching_async"):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") or name in seen:
                continue
            seen.add(name)
            if isinstance(value, property):
                yield name, value.fget
            elif isinstance(value, classmethod | staticmethod):
                yield name, value.__func__
            elif inspect.isfunction(value):
                yield name, value


def _surface() -> Iterator[tuple[str, Any]]:
    classes: list[type[Any]] = []
    for name in ching_async.__all__:
        obj = getattr(ching_async, name)
        if inspect.isclass(obj):
            classes.append(obj)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            yield name, obj
    client = ching_async.Client("ck_test_" + "0" * 32)
    groups = [type(v) for v in vars(client).values() if isinstance(v, Resource)]
    assert len(groups) >= 5, groups  # charges, customers, payment_methods, refunds, setup_sessions
    for cls in [*classes, *groups]:
        if cls.__module__.startswith("ching_async"):
            yield cls.__name__, cls
            for name, member in _members(cls):
                yield f"{cls.__name__}.{name}", member


def test_every_public_callable_has_a_docstring() -> None:
    names = [name for name, _ in _surface()]
    assert "Charges.retrieve" in names
    assert "Client.aclose" in names
    assert "Charge.to_dict" in names
    missing = sorted({name for name, obj in _surface() if not (obj.__doc__ or "").strip()})
    assert not missing, f"no docstring: {missing}"
