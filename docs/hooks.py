"""MkDocs hooks: every page of the site is made here, at build time, from the
files that stay the only copy of their text.

- The guide is README.md cut at its `##` sections, a page each, in the
  README's order (its examples keep running in tests/docs/test_readme.py).
- The API reference names every public name (each public module's
  `__all__`, and the groups a `Client` carries) for mkdocstrings to render
  from the docstrings.
- ARCHITECTURE.md, SECURITY.md, CHANGELOG.md and benchmarks/README.md, as
  they are.

Links between these files (`[ARCHITECTURE.md](ARCHITECTURE.md)`,
`[Errors](#errors)`) are pointed at the page that now holds their target, so
`mkdocs build --strict` fails on one that points nowhere.
"""

from __future__ import annotations

import importlib
import posixpath
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from markdown.extensions.toc import slugify
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent

# repository file -> its page on the site (README.md's is the guide)
PROJECT_PAGES = {
    "ARCHITECTURE.md": "architecture.md",
    "SECURITY.md": "security.md",
    "CHANGELOG.md": "changelog.md",
    "benchmarks/README.md": "benchmarks.md",
}
# The modules whose `__all__` the reference renders, a page each.
PUBLIC_MODULES = [
    "ching_async",
    "ching_async.webhooks",
    "ching_async.testing",
    "ching_async.otel",
    "ching_async.scaleout",
]
# ching_async's own page in sections, by the module a name is defined in; a
# name from anywhere else lands in the last section, never nowhere.
SECTIONS = [
    ("ching_async._client", "Clients"),
    ("ching_async._sync", "Clients"),
    ("ching_async._retry", "Clients"),
    ("ching_async._models", "Models"),
    ("ching_async._listing", "Models"),
    ("ching_async._bulk", "Bulk charging"),
    ("ching_async._errors", "Errors"),
    ("ching_async.webhooks", "Errors"),
    ("ching_async._messages", "Middlewares and transports"),
    ("ching_async._transport", "Middlewares and transports"),
]
OTHER_SECTION = "Constants and types"

_FENCE = re.compile(r"^(```|~~~)")
_HEADING = re.compile(r"^#{1,6} (.+?)\s*$")
_LINK = re.compile(r"\]\((?P<path>[^)\s#]*)(?P<anchor>#[^)\s]*)?\)")


def _outside_code(lines: list[str]) -> Iterator[tuple[int, str]]:
    """(index, line) for each line of `lines` outside a fenced code block."""
    fenced = False
    for index, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            yield index, line


def guide(readme: str) -> list[tuple[str, str, list[str]]]:
    """(title, page, lines) for the README's opening (the home page) and for
    each of its `##` sections, in order; a section's headings move up a
    level, so its `###` are its page's `##`."""
    lines = readme.splitlines()
    starts = [i for i, line in _outside_code(lines) if line.startswith("## ")]
    pages = [("Home", "index.md", lines[: (starts or [len(lines)])[0]])]
    for start, stop in zip(starts, [*starts[1:], len(lines)], strict=True):
        title = lines[start][3:].strip()
        section = lines[start:stop]
        for i, line in _outside_code(section):
            if line.startswith("##"):
                section[i] = line[1:]
        pages.append((title, f"guide/{slugify(title, '-')}.md", section))
    return pages


def relinked(text: str, page: str, source_dir: str, anchors: dict[str, str]) -> str:
    """`text`, written in `source_dir` of the repository and shown as `page`,
    with its links to the repository's files and to `anchors` (heading ->
    page) pointed at their pages; any other link is left as written."""
    where = posixpath.dirname(page) or "."

    def target(found: re.Match[str]) -> str:
        path, anchor = found["path"], found["anchor"] or ""
        if not path:
            moved = anchors.get(anchor[1:], page)
        else:
            moved = {"README.md": "index.md", **PROJECT_PAGES}.get(
                posixpath.normpath(posixpath.join(source_dir, path)), ""
            )
            if not moved:  # a web address, or a file the site does not have
                return found[0]
        return f"]({posixpath.relpath(moved, where)}{anchor})"

    return _LINK.sub(target, text)


def reference_page(name: str) -> str:
    """One public module's page: each name of its `__all__`, for mkdocstrings
    (ching_async's in sections by where they are defined)."""
    module = importlib.import_module(name)
    summary = (module.__doc__ or "").strip().split("\n\n")[0]
    out = [f"# {name}", summary]
    if name != "ching_async":
        return "\n\n".join(out + [f"::: {name}.{member}" for member in module.__all__]) + "\n"
    sections: dict[str, list[str]] = {title: [] for _, title in [*SECTIONS, ("", OTHER_SECTION)]}
    for member in module.__all__:
        defined = getattr(getattr(module, member), "__module__", None) or ""
        title = next((t for prefix, t in SECTIONS if defined.startswith(prefix)), OTHER_SECTION)
        sections[title].append(f"::: ching_async.{member}\n    options:\n      heading_level: 3")
    for title, members in sections.items():
        out += [f"## {title}", *members] if members else []
    return "\n\n".join(out) + "\n"


def groups_page() -> str:
    """`client.charges` and the other groups a `Client` carries: where its
    calls are."""
    from ching_async import Client
    from ching_async._resources._base import Resource

    out = [
        "# Client groups",
        "A `Client`'s calls are grouped by what they act on: `client.charges.create(...)`. "
        "A `SyncClient` has the same groups and methods; they block, and return what the "
        "async method's result is once awaited (a list for a list).",
    ]
    for attribute, group in vars(Client("ck_test_" + "0" * 32)).items():
        if isinstance(group, Resource):
            cls = type(group)
            out += [
                f"## client.{attribute}",
                f"::: {cls.__module__}.{cls.__qualname__}\n"
                "    options:\n      heading_level: 3\n      show_bases: false",
            ]
    return "\n\n".join(out) + "\n"


def site() -> tuple[dict[str, str], list[Any]]:
    """Every page's text by its path on the site, and the navigation."""
    readme = guide((ROOT / "README.md").read_text(encoding="utf-8"))
    anchors: dict[str, str] = {}
    for _, page, lines in readme:
        for _, line in _outside_code(lines):
            if heading := _HEADING.match(line):
                anchors.setdefault(slugify(heading[1], "-"), page)
    pages = {
        page: relinked("\n".join(lines) + "\n", page, "", anchors) for _, page, lines in readme
    }
    for source, page in PROJECT_PAGES.items():
        text = (ROOT / source).read_text(encoding="utf-8")
        pages[page] = relinked(text, page, posixpath.dirname(source), {})
    reference = [{name: f"reference/{name}.md"} for name in PUBLIC_MODULES]
    reference.insert(1, {"Client groups": "reference/groups.md"})
    pages["reference/groups.md"] = groups_page()
    for name in PUBLIC_MODULES:
        pages[f"reference/{name}.md"] = reference_page(name)
    nav = [
        {"Home": "index.md"},
        {"Guide": [{title: page} for title, page, _ in readme[1:]]},
        {"API reference": reference},
        {"Project": [{_title(pages[page]): page} for page in PROJECT_PAGES.values()]},
    ]
    return pages, nav


def _title(text: str) -> str:
    return text.splitlines()[0].lstrip("#").strip()


_pages: dict[str, str] = {}


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Make the pages; their navigation is the site's."""
    global _pages
    _pages, config.nav = site()
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the pages `on_config` made to the site's files."""
    for page, text in _pages.items():
        files.append(File.generated(config, page, content=text))
    return files
