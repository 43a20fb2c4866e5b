"""The package's shape: no import cycle between its modules, not even one
that only type checking, a function-level import or a package's __init__
(run by importing any module inside it) would close."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "ching_async"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                elif node.module and node.module.startswith("ching_async"):
                    target = node.module
                else:
                    continue
                # `from . import x` names a submodule when there is one.
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    found.add(sub if sub in modules else target)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("ching_async")}
        # Importing `a.b.c` first runs package `a.b`'s __init__: an edge to it
        # too, unless the importer is inside `a.b` (then it is already running).
        # The top-level package is always running when one of its modules is.
        for target in list(found):
            parent = target.rpartition(".")[0]
            while parent.count(".") >= 1 and not name.startswith(parent + "."):
                found.add(parent)
                parent = parent.rpartition(".")[0]
        graph[name] = {t for t in found if t in modules and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component larger than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    graph = _imports()
    # Every edge counts, the top-level package's re-exports (type-only ones
    # too) among them: a module they reach cannot import `ching_async`.
    cycles = _cycles(graph)
    assert cycles == [], cycles
    # The core's private modules never import the top-level package.
    importers = sorted(m for m, deps in graph.items() if "ching_async" in deps)
    assert importers == [m for m in importers if not m.startswith("ching_async._")], importers
