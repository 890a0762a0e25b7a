"""The house's dependency rules, checked on the source: which package may import which, and no import circles.

- ``schemas`` (the contract) imports nothing of the project;
- ``store`` imports only ``schemas``;
- ``producers``, ``consumers`` and ``projections`` never import each other: they meet only in ``store`` and
  ``schemas``;
- nothing imports ``lotline`` (the composition root) but ``lotline`` itself, the benchmarks and the tests;
- no module takes part in an import circle, deferred imports (inside a function) included: a deferred import
  hides a circle from the interpreter, not from a reader. Imports under ``if TYPE_CHECKING:`` are not run and are
  not counted.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("schemas", "store", "producers", "consumers", "projections", "lotline", "bench")
ALLOWED: dict[str, set[str]] = {
    "schemas": set(),
    "store": {"schemas"},
    "producers": {"schemas", "store"},
    "consumers": {"schemas", "store"},
    "projections": {"schemas", "store"},
    "lotline": {"schemas", "store", "producers", "consumers", "projections"},
    "bench": {"schemas", "store", "producers", "consumers", "projections", "lotline"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(node: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for other in child.orelse:
                yield from _imports(other, module, is_package)
            continue
        if isinstance(child, ast.Import):
            yield from (alias.name for alias in child.names)
        elif isinstance(child, ast.ImportFrom):
            base = child.module or ""
            if child.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - child.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in child.names)
        else:
            yield from _imports(child, module, is_package)


def project_graph() -> dict[str, set[str]]:
    """Each project module and the project modules it imports (anywhere in its source)."""
    sources = {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in sources.items():
        tree = ast.parse(path.read_text(), str(path))
        targets = {t for t in _imports(tree, name, path.name == "__init__.py") if t in sources}
        graph[name] = {t for t in targets if t != name and not name.startswith(t + ".")}
    return graph


def test_every_import_points_the_allowed_way() -> None:
    wrong = sorted(f"{src} imports {dst}" for src, dsts in project_graph().items() for dst in dsts
                   if (a := src.split(".")[0]) != (b := dst.split(".")[0]) and b not in ALLOWED[a])
    assert not wrong, "imports against the house's direction:\n" + "\n".join(wrong)


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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
    return found


def test_no_import_circles() -> None:
    circles = _circles(project_graph())
    assert not circles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in circles)


def test_the_checker_sees_a_circle_and_a_wrong_direction() -> None:
    assert _circles({"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}, "b": {"a.x"}}) == [["a.x", "a.y", "a.z"]]
    graph = project_graph()
    assert "schemas.epcis.model" in graph["store.records"]  # deferred and top-level imports alike are seen
    assert all(not d.startswith("lotline") for d in graph["projections.lineage.trace"])
