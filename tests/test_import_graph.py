"""No import cycles in ``backprop_lens``, module by module, and the arrows between its parts run
one way: engine ← models/data ← metrics/render ← widget/paper/stats ← cli (design.md).

The graph is read from the source with ``ast`` (nothing is imported, so a module that fails to
import still has its arrows checked). Every ``import`` statement counts, wherever it stands:

- at module level;
- inside a function (a deferred import is still a dependency: it only moves the failure from
  import time to call time, and the two concepts still cannot be read apart);
- under ``if TYPE_CHECKING:`` (a module that needs another's types depends on its concept, and the
  cycle turns real as soon as the name is needed at run time: ``isinstance``, ``get_type_hints``,
  a dataclass field).

An arrow goes to the module named, never implicitly to its parent packages (which Python also
runs): otherwise every module would close a cycle through ``backprop_lens/__init__.py``.
``from package import name`` points at ``package.name`` when that is a module, else at
``package`` (whose ``__init__.py`` defines ``name``).
"""

from __future__ import annotations

import ast
import importlib.util
import pkgutil
import textwrap
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path

import pytest

Graph = dict[str, set[str]]

#: Each part of the package (its top-level module or folder) and its layer: a part may import
#: its own layer and those below, never one above. The package's ``__init__.py`` is the public
#: API and re-exports from every layer.
LAYERS = {
    "engine": 0,
    "models": 1, "data": 1,
    "metrics": 2, "render": 2, "adversarial": 2,
    "widget": 3, "paper": 3, "stats": 3,
    "cli": 4, "magic": 4,
}


def module_files(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package in folder ``root``, by dotted name (packages as their
    ``__init__.py``), found by ``pkgutil`` without importing anything."""
    found = {package: root / "__init__.py"}
    for info in pkgutil.iter_modules([str(root)]):
        name = f"{package}.{info.name}"
        if info.ispkg:
            found.update(module_files(root / info.name, name))
        else:
            found[name] = root / f"{info.name}.py"
    return found


def imported_names(tree: ast.AST, module: str, is_package: bool,
                   modules: Collection[str]) -> Iterator[str]:
    """The modules among ``modules`` that the statements of ``tree`` (the source of
    ``module``) import, at any depth, as absolute dotted names."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                name = f"{base}.{alias.name}"
                yield name if name in modules else base


def import_graph(files: Mapping[str, Path]) -> Graph:
    """``{module: modules of the same package it imports}``."""
    graph: Graph = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        names = imported_names(tree, module, path.name == "__init__.py", files.keys())
        graph[module] = {name for name in names if name in files and name != module}
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """One shortest cycle through each strongly connected group of modules (Tarjan's
    algorithm), as ``[a, b, …, a]``; empty when the graph has none."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_shortest_cycle(graph, group) for group in groups]


def _shortest_cycle(graph: Mapping[str, set[str]], group: list[str]) -> list[str]:
    """The shortest path from the group's first module back to itself, inside the group."""
    start, members = group[0], set(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for successor in sorted(graph[node] & members):
                if successor == start:
                    return [*paths[node], start]
                if successor not in paths:
                    paths[successor] = [*paths[node], successor]
                    following.append(successor)
        frontier = following
    raise AssertionError(f"{group} is no cycle")  # Tarjan's groups always are


def package_graph() -> Graph:
    spec = importlib.util.find_spec("backprop_lens")  # found, not run
    assert spec is not None and spec.origin is not None
    root = Path(spec.origin).parent
    return import_graph(module_files(root, "backprop_lens"))


def test_the_package_has_no_import_cycles() -> None:
    found = cycles(package_graph())
    listing = "\n".join(" -> ".join(cycle) for cycle in found)
    assert not found, f"{len(found)} import cycle(s) in backprop_lens:\n{listing}"


def test_imports_never_point_up_the_layers() -> None:
    graph = package_graph()
    parts = {module: module.split(".")[1] for module in graph if module != "backprop_lens"}
    unplaced = sorted(set(parts.values()) - set(LAYERS))
    assert not unplaced, f"place {unplaced} in LAYERS (tests/test_import_graph.py)"
    upward = [f"{module} (layer {LAYERS[parts[module]]}) -> {imported} "
              f"(layer {LAYERS[parts[imported]]})"
              for module in sorted(parts) for imported in sorted(graph[module])
              if imported in parts and LAYERS[parts[imported]] > LAYERS[parts[module]]]
    assert not upward, "imports pointing up the layers:\n" + "\n".join(upward)


def test_the_walk_sees_every_kind_of_import_of_the_package() -> None:
    graph = package_graph()
    assert {"backprop_lens.cli", "backprop_lens.engine.attribute",
            "backprop_lens.widget.explorer", "backprop_lens.paper.figures"} <= set(graph)
    assert "backprop_lens.widget.charts" in graph["backprop_lens.widget.explorer"]  # relative
    assert "backprop_lens.widget" in graph["backprop_lens"]  # inside a function


def _write(root: Path, files: Mapping[str, str]) -> None:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        ({"a.py": "from . import b\n", "b.py": "def f():\n    from .a import x\n"},
         [["pkg.a", "pkg.b", "pkg.a"]]),
        ({"a.py": "import pkg.sub.c\n",
          "sub/__init__.py": "",
          "sub/c.py": """
              from typing import TYPE_CHECKING
              if TYPE_CHECKING:
                  from ..a import A
          """},
         [["pkg.a", "pkg.sub.c", "pkg.a"]]),
        ({"a.py": "from .b import f\n", "b.py": "from .c import g\n", "c.py": "from .a import *\n"},
         [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]),
        ({"a.py": "from . import b\n", "b.py": "import os\nfrom .c import g\n", "c.py": ""}, []),
        ({"__init__.py": "from .a import f\n", "a.py": "from .b import g\n", "b.py": ""}, []),
    ],
    ids=["function-level", "type-checking-only", "three-modules", "none", "package-init"],
)
def test_cycles_are_found_however_the_import_is_written(
    tmp_path: Path, sources: dict[str, str], expected: list[list[str]],
) -> None:
    root = tmp_path / "pkg"
    _write(root, {"__init__.py": "", **sources})
    assert cycles(import_graph(module_files(root, "pkg"))) == expected
