"""No import circles among the project's modules.

Imports are read with ast from every module of kernel, meiyu, crawlers, nlp, pipelines, storage,
reports, web and scheduler.py, wherever they stand: module level, inside functions (a deferred
import is still a dependency, and a circle through one breaks as soon as someone moves it
to the top), and under `if TYPE_CHECKING:` (mypy follows those). `import a.b.c` and
`from a.b import c` depend on a.b.c and, as Python runs them first, on a and a.b.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ("kernel", "meiyu", "crawlers", "nlp", "pipelines", "storage", "reports", "web")
MODULES = ("scheduler",)


def module_files() -> dict[str, Path]:
    """Dotted module name → file, for every project module."""
    out = {name: REPO / f"{name}.py" for name in MODULES}
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            if "__pycache__" in parts:
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _imported(tree: ast.AST, name: str, is_package: bool) -> Iterator[str]:
    """Every module name an import statement of the module `name` asks for."""
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".") if package else []
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            for alias in node.names:  # `from pkg import module`
                yield f"{base}.{alias.name}"


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for target in _imported(tree, name, path.name == "__init__.py"):
            parts = target.split(".")
            for i in range(1, len(parts) + 1):  # the packages on the way are run first
                dep = ".".join(parts[:i])
                if dep in files and dep != name:
                    graph[name].add(dep)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each as a
    list of its modules, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def _path(graph: dict[str, set[str]], component: list[str]) -> str:
    """One circle inside the component, for the failure message: a → b → … → a."""
    members = set(component)
    start = component[0]
    seen = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & members):
            if w == start:
                return " → ".join([*seen[v], start])
            if w not in seen:
                seen[w] = [*seen[v], w]
                queue.append(w)
    return ", ".join(component)


def test_the_graph_reads_every_kind_of_import() -> None:
    graph = import_graph()
    assert {"meiyu.cli", "scheduler", "nlp.korean", "reports.monthly"} <= set(graph)
    assert "storage.db" in graph["scheduler"]  # a function-level `from storage.db import`
    assert "kernel.errors" in graph["meiyu.cli"]  # module level
    assert "storage" in graph["scheduler"]  # `from storage import job_runs`: the package …
    assert "storage.job_runs" in graph["scheduler"]  # … and the module
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import circles:\n" + "\n".join(_path(graph, c) for c in found)
