"""Layering: no import cycle between the packages of ``app`` (each top-level module counts as one).

Every import counts, at module level, inside functions and under ``TYPE_CHECKING`` alike: a cycle
hidden in a function is still a design cycle. The allowed direction is documented in
``docs/architecture.md`` (composition root → worker → ehr/adapters → fhir/db → domain → errors).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"


def unit_of(module: str) -> str | None:
    """``app.worker.runner`` → ``app.worker``; ``app.services`` → ``app.services``; others → None."""
    parts = module.split(".")
    if parts[0] != "app" or len(parts) < 2:
        return None
    head = parts[1]
    if (APP / head).is_dir() or (APP / f"{head}.py").is_file():
        return f"app.{head}"
    return None


def imports_of(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in APP.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        source = unit_of(".".join(("app", *path.relative_to(APP).with_suffix("").parts)))
        if source is None:
            continue
        for name in imports_of(path):
            target = unit_of(name)
            if target is not None and target != source:
                graph.setdefault(source, set()).add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_packages() -> None:
    graph = package_graph()
    assert "app.worker" in graph and "app.ehr" in graph["app.worker"]  # the graph is really read
    found = cycles(graph)
    detail = "; ".join(
        " ↔ ".join(c) + " (" + ", ".join(f"{a}→{b}" for a in c for b in sorted(graph.get(a, ())) if b in c) + ")"
        for c in found
    )
    assert not found, f"import cycles between packages: {detail}"
