"""Every public name of the package has a docstring: each name in the
`__all__` of `ching_async` and of its public subpackages (the modules the
API reference renders, docs/hooks.py), the public methods and properties of
those classes, and the resource groups a Client carries (`client.charges`,
...). A constant or type alias has its docstring as a string right under its
assignment, where the reference reads it. Checked here from the code itself,
whatever the docs tool would render."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import ching_async
from ching_async._resources._base import Resource

ROOT = Path(__file__).resolve().parents[2]


def _rendered_modules() -> list[str]:
    """The modules the API reference renders: docs/hooks.py's PUBLIC_MODULES
    (read, not imported: the docs tooling is not in the test environments)."""
    hooks = ast.parse((ROOT / "docs" / "hooks.py").read_text(encoding="utf-8"))
    [modules] = [
        ast.literal_eval(node.value)
        for node in hooks.body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "PUBLIC_MODULES"
    ]
    assert isinstance(modules, list)
    return modules


PUBLIC_MODULES = _rendered_modules()


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


def _groups() -> list[type[Any]]:
    client = ching_async.Client("ck_test_" + "0" * 32)
    groups = [type(v) for v in vars(client).values() if isinstance(v, Resource)]
    assert len(groups) >= 5, groups  # charges, customers, payment_methods, refunds, setup_sessions
    return groups


def _surface(module_name: str) -> Iterator[tuple[str, Any]]:
    """(name, class or function) for the module's public callables, and for
    ching_async the Client's groups too."""
    module = importlib.import_module(module_name)
    classes = [getattr(module, n) for n in module.__all__ if inspect.isclass(getattr(module, n))]
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            yield f"{module_name}.{name}", obj
    if module_name == "ching_async":
        classes += _groups()
    for cls in classes:
        if cls.__module__.startswith("ching_async"):
            yield f"{module_name}.{cls.__name__}", cls
            for name, member in _members(cls):
                yield f"{module_name}.{cls.__name__}.{name}", member


def _doc(obj: Any) -> str:
    doc = (obj.__doc__ or "").strip()
    if dataclasses.is_dataclass(obj) and doc.startswith(f"{obj.__name__}("):
        return ""  # the signature dataclasses writes when there is no docstring
    return doc


def _imported_from(node: ast.ImportFrom, module: ModuleType) -> ModuleType:
    package = module.__name__ if hasattr(module, "__path__") else module.__package__
    return importlib.import_module("." * node.level + (node.module or ""), package)


def value_docstring(module: ModuleType, name: str) -> str:
    """The string right under `name`'s assignment in `module`, or in the
    module `module` imports it from (under `if TYPE_CHECKING:` too); "" if
    there is none."""
    return _docstring_in(ast.parse(inspect.getsource(module)).body, module, name) or ""


def _docstring_in(body: list[ast.stmt], module: ModuleType, name: str) -> str | None:
    for node, after in zip(body, [*body[1:], None], strict=True):
        if isinstance(node, ast.If):
            found = _docstring_in([*node.body, *node.orelse], module, name)
            if found is not None:
                return found
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                doc = after.value if isinstance(after, ast.Expr) else None
                return (
                    doc.value.strip()
                    if isinstance(doc, ast.Constant) and isinstance(doc.value, str)
                    else ""
                )
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return value_docstring(_imported_from(node, module), alias.name)
                if alias.name == "*" and name in _imported_from(node, module).__all__:
                    return value_docstring(_imported_from(node, module), name)
    return None


def test_the_reference_covers_every_public_module() -> None:
    assert PUBLIC_MODULES[0] == "ching_async"
    # A new public subpackage is in the reference (the CLI's is the `ching` command).
    public = {f"ching_async.{m.name}" for m in pkgutil.iter_modules(ching_async.__path__)}
    assert {m for m in public if "._" not in m} - {"ching_async.cli"} <= set(PUBLIC_MODULES)
    names = {name for module in PUBLIC_MODULES for name, _ in _surface(module)}
    assert {"ching_async.Charges.retrieve", "ching_async.Client.aclose"} <= names
    assert {"ching_async.Charge.to_dict", "ching_async.testing.FakeChing.add_customer"} <= names
    assert {"ching_async.webhooks.construct_event", "ching_async.scaleout.enqueue"} <= names
    assert "ching_async.otel.OpenTelemetry" in names


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_public_callable_has_a_docstring(module: str) -> None:
    missing = sorted({name for name, obj in _surface(module) if not _doc(obj)})
    assert not missing, f"no docstring: {missing}"


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_public_constant_and_type_alias_has_a_docstring(module: str) -> None:
    imported = importlib.import_module(module)
    objects = {name: getattr(imported, name) for name in imported.__all__}
    values = [
        n for n, obj in objects.items() if not (inspect.isclass(obj) or inspect.isfunction(obj))
    ]
    missing = sorted(name for name in values if not value_docstring(imported, name))
    assert not missing, f"no docstring under the assignment of: {missing}"


def test_a_value_docstring_is_found_through_imports_and_its_absence_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "probe_docstrings"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from ._values import A, B\n"
        "from ._more import *\n"
        "if TYPE_CHECKING:\n"
        "    from ._values import D\n"
    )
    (package / "_values.py").write_text(
        'A = 1\n"""One."""\nB = 2\n# a comment is no docstring\nD: int = 4\n"""Four."""\n'
    )
    (package / "_more.py").write_text('__all__ = ["C"]\nC = 3\n"""Three."""\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    probe = importlib.import_module("probe_docstrings")
    found = [value_docstring(probe, name) for name in "ABCDE"]
    assert found == ["One.", "", "Three.", "Four.", ""]
