"""The layers hold: who may import whom among neurmatic's packages, and no import cycle.

Read from the source with ``ast`` (nothing is imported), so an import inside a function counts as much as
one at the top of a file: it runs the moment that function does. The cycle check looks only at what runs
when a module is imported (top-level statements, class bodies; not function bodies, not
``if TYPE_CHECKING:``), since only those cycles break an import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import neurmatic

SRC = Path(neurmatic.__file__).parent
ROOT = "neurmatic"


@dataclass
class ModuleImports:
    every: set[str] = field(default_factory=set)  # module-level and function-level, TYPE_CHECKING too
    at_import: set[str] = field(default_factory=set)  # what runs when the module is imported


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool) -> None:
        self.package = module if is_package else module.rpartition(".")[0]
        self.imports = ModuleImports()
        self._deferred = 0  # inside a function body or under TYPE_CHECKING

    def _add(self, names: Iterable[str]) -> None:
        for name in names:
            if name == ROOT or name.startswith(f"{ROOT}."):
                self.imports.every.add(name)
                if not self._deferred:
                    self.imports.at_import.add(name)

    def visit_Import(self, node: ast.Import) -> None:
        self._add(alias.name for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            anchor = self.package.split(".")[: len(self.package.split(".")) - (node.level - 1)]
            base = ".".join([*anchor, *([base] if base else [])])
        # `from pkg import name`: name may be a submodule (resolved against the known modules later).
        self._add([base, *(f"{base}.{alias.name}" for alias in node.names)])

    def _visit_deferred(self, node: ast.AST) -> None:
        self._deferred += 1
        self.generic_visit(node)
        self._deferred -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _visit_deferred

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        self.visit(node.test)
        self._deferred += 1
        for statement in node.body:
            self.visit(statement)
        self._deferred -= 1
        for statement in node.orelse:
            self.visit(statement)


def imports_of(source: str, module: str, *, is_package: bool = False) -> ModuleImports:
    collector = _Collector(module, is_package)
    collector.visit(ast.parse(source))
    return collector.imports


def _resolve(names: set[str], known: set[str]) -> set[str]:
    """Each imported name as the module it lands in (``pkg.name`` is ``pkg`` when name is not a module)."""
    resolved = set()
    for name in names:
        while name not in known and "." in name:
            name = name.rpartition(".")[0]
        if name in known:
            resolved.add(name)
    return resolved


def scan(sources: Mapping[str, tuple[str, bool]]) -> dict[str, ModuleImports]:
    """Module name -> its neurmatic imports, resolved to modules; ``sources`` maps a module name to its
    text and whether it is a package."""
    raw = {name: imports_of(text, name, is_package=package) for name, (text, package) in sources.items()}
    known = set(raw)
    return {
        name: ModuleImports(_resolve(found.every, known) - {name}, _resolve(found.at_import, known) - {name})
        for name, found in raw.items()
    }


def scan_tree() -> dict[str, ModuleImports]:
    sources = {
        module_name(path): (path.read_text(encoding="utf-8"), path.name == "__init__.py")
        for path in sorted(SRC.rglob("*.py"))
    }
    return scan(sources)


def _within(module: str, packages: Iterable[str]) -> bool:
    return any(module == p or module.startswith(f"{p}.") for p in packages)


def violations(graph: Mapping[str, ModuleImports], importers: str, forbidden: Iterable[str]) -> list[str]:
    """``importer -> imported`` for every module in package ``importers`` importing a forbidden one."""
    targets = [f"{ROOT}.{name}" for name in forbidden]
    return sorted(
        f"{module} -> {imported}"
        for module, found in graph.items()
        if _within(module, [f"{ROOT}.{importers}"])
        for imported in found.every
        if _within(imported, targets)
    )


def cycles(graph: Mapping[str, ModuleImports]) -> list[list[str]]:
    """One cycle (a path that starts and ends at the same module) per strongly connected group of
    modules that import each other at import time."""
    edges = {name: sorted(found.at_import) for name, found in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, []):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return [_cycle_through(group, edges) for group in groups]


def _cycle_through(group: list[str], edges: Mapping[str, list[str]]) -> list[str]:
    """The shortest way from the group's first module back to itself, staying inside the group."""
    start, members = group[0], set(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in edges.get(node, []):
            if nxt == start:
                return [*paths[node], start]
            if nxt in members and nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    return group  # unreachable for a strongly connected group


GRAPH = scan_tree()


def test_the_scan_sees_the_whole_package() -> None:
    expected = {"neurmatic.api.app", "neurmatic.domain.jobs", "neurmatic.worker.jobs", "neurmatic.ops.cli"}
    assert expected <= set(GRAPH)
    assert "neurmatic.domain.articles.service" in GRAPH["neurmatic.worker.jobs"].every


def test_worker_and_ops_do_not_import_the_web_layer() -> None:
    found = violations(GRAPH, "worker", ["api"]) + violations(GRAPH, "ops", ["api"])
    assert not found, "worker/ops modules import neurmatic.api (use neurmatic.domain):\n" + "\n".join(found)


def test_the_domain_imports_no_outer_layer() -> None:
    found = violations(GRAPH, "domain", ["api", "worker", "ops", "supervisor"])
    assert not found, "neurmatic.domain imports an outer layer:\n" + "\n".join(found)


def test_the_api_imports_neither_the_worker_nor_ops_nor_the_supervisor() -> None:
    found = violations(GRAPH, "api", ["worker", "ops", "supervisor"])
    assert not found, "neurmatic.api imports worker/ops/supervisor (the shared contract is in domain):\n" + (
        "\n".join(found)
    )


def test_ops_never_imports_the_supervisor() -> None:
    """The ops kit acts on a Deployment; process control goes through its platform's interfaces
    (deployment/releases.py, drills.py, failover.py), which the local topology implements in
    neurmatic.supervisor (reached only through neurmatic.deployment.resolve, on demand)."""
    found = violations(GRAPH, "ops", ["supervisor"])
    message = "ops modules import the supervisor (act on the Deployment and its platform instead):\n"
    assert not found, message + "\n".join(found)


def test_the_deployment_package_imports_the_supervisor_only_on_demand() -> None:
    eager = [
        f"{module} -> {imported}"
        for module, found in GRAPH.items()
        if _within(module, ["neurmatic.deployment"])
        for imported in found.at_import
        if _within(imported, ["neurmatic.supervisor", "neurmatic.ops", "neurmatic.api"])
    ]
    assert not eager, "\n".join(eager)


def test_no_import_cycle() -> None:
    found = cycles(GRAPH)
    assert not found, "import cycles (module-level imports):\n" + "\n".join(" -> ".join(c) for c in found)


# The checks themselves, on made-up modules: each rule must catch what it is for.


def _fake(**modules: str) -> dict[str, ModuleImports]:
    return scan({name.replace("__", "."): (text, False) for name, text in modules.items()})


def test_an_import_inside_a_function_breaks_a_layer_rule() -> None:
    graph = _fake(
        neurmatic__worker__jobs="def run():\n    from neurmatic.api.users import models\n",
        neurmatic__api__users__models="",
    )
    assert violations(graph, "worker", ["api"]) == ["neurmatic.worker.jobs -> neurmatic.api.users.models"]


def test_a_cycle_is_reported_with_its_path_but_a_deferred_import_is_not_one() -> None:
    graph = _fake(
        neurmatic__a="import neurmatic.b\n",
        neurmatic__b="from neurmatic import c\n",
        neurmatic__c="from neurmatic.a import x\n",
        neurmatic__d="from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import neurmatic.e\n",
        neurmatic__e="def f():\n    import neurmatic.d\n",
    )
    assert cycles(graph) == [["neurmatic.a", "neurmatic.b", "neurmatic.c", "neurmatic.a"]]
