"""The error tree drawn in ``neurmatic.errors``' docstring is the code's: every class, its parent, its module.

Every exception class defined in ``src/neurmatic`` derives from ``NeurmaticError`` (so the CLI turns it into
an exit code and a message, never a traceback), and appears in the drawing exactly where it is.
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

import neurmatic
from neurmatic import errors
from neurmatic.errors import NeurmaticError

SOURCE = Path(neurmatic.__file__).parent

# Modules that must not be imported by a test: running them does something (the CLI's entry point;
# Alembic's env.py and revisions run migrations).
NOT_IMPORTED = ("neurmatic.__main__", "neurmatic.db.migrations")

# Exception classes allowed outside the tree, each with the reason. None today: keep it that way.
NOT_NEURMATIC_ERRORS: dict[str, str] = {}

_LINE = re.compile(r"^(?P<prefix>(?:│   |    )*)(?P<branch>[├└]── )?(?P<name>\w+)(?P<rest>.*)$")
_MODULE = re.compile(r"\[([\w.]+)\]\s*$")


@dataclass(frozen=True)
class Node:
    name: str
    parent: str | None
    module: str


def drawn_tree() -> list[Node]:
    """The classes of the docstring's drawing, each with its parent and module."""
    lines = (errors.__doc__ or "").splitlines()
    start = lines.index("    NeurmaticError")
    nodes: list[Node] = []
    stack: list[Node] = []
    for line in lines[start:]:
        if not line.strip():
            break
        match = _LINE.match(line[4:])
        assert match, f"not a line of the tree: {line!r}"
        depth = len(match["prefix"]) // 4 + (1 if match["branch"] else 0)
        parent = stack[depth - 1] if depth else None
        named = _MODULE.search(match["rest"])
        module = f"neurmatic.{named[1]}" if named else (parent.module if parent else errors.__name__)
        node = Node(match["name"], parent.name if parent else None, module)
        del stack[depth:]
        stack.append(node)
        nodes.append(node)
    return nodes


def import_everything() -> list[ModuleType]:
    """Every module of the package (so every error class is defined)."""
    modules = []
    for path in sorted(SOURCE.rglob("*.py")):
        parts = path.relative_to(SOURCE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if not name.startswith(NOT_IMPORTED):
            modules.append(importlib.import_module(name))
    return modules


def subclasses(root: type[BaseException]) -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for sub in root.__subclasses__():
        if sub.__module__.startswith("neurmatic."):  # not a test's own subclass
            found |= {sub, *subclasses(sub)}
    return found


@pytest.fixture(scope="module")
def modules() -> list[ModuleType]:
    return import_everything()


def test_every_error_class_is_drawn_where_it_is(modules: list[ModuleType]) -> None:
    del modules  # imported: every class is defined
    drawn = {node.name: node for node in drawn_tree()}
    actual = {cls.__name__: cls for cls in subclasses(NeurmaticError)} | {"NeurmaticError": NeurmaticError}
    assert len(drawn) == len(drawn_tree()), "a name is drawn twice"
    assert sorted(set(actual) - set(drawn)) == [], "classes missing from the tree in errors.py's docstring"
    assert sorted(set(drawn) - set(actual)) == [], "names in the tree that are no NeurmaticError class"
    for name, node in drawn.items():
        cls = actual[name]
        parents = [base.__name__ for base in cls.__bases__ if issubclass(base, BaseException)]
        assert parents == ([node.parent] if node.parent else ["Exception"]), f"{name} has parents {parents}"
        assert cls.__module__ == node.module, f"{name} lives in {cls.__module__}, drawn in {node.module}"


def test_every_exception_class_of_the_package_is_a_neurmatic_error(modules: list[ModuleType]) -> None:
    strays = sorted(
        f"{module.__name__}.{name}"
        for module in modules
        for name, cls in vars(module).items()
        if inspect.isclass(cls)
        and cls.__module__ == module.__name__
        and issubclass(cls, BaseException)
        and not issubclass(cls, NeurmaticError)
        and f"{module.__name__}.{name}" not in NOT_NEURMATIC_ERRORS
    )
    assert strays == [], "derive these from a NeurmaticError branch (or allow-list them with a reason)"


def test_the_tree_is_parsed_as_drawn() -> None:
    nodes = {node.name: node for node in drawn_tree()}
    assert nodes["NeurmaticError"] == Node("NeurmaticError", None, "neurmatic.errors")
    assert nodes["CommandTimeout"] == Node("CommandTimeout", "CommandError", "neurmatic.errors")
    assert nodes["DrillBusy"] == Node("DrillBusy", "DrillError", "neurmatic.ops.flows.drills.errors")
    assert nodes["RolloutFailed"].module == "neurmatic.ops.flows.releases.rolling"
    assert nodes["ServiceUnavailable"].parent == "ApiError"
