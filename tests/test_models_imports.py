"""The models and data packages sit low in the architecture: they import only the engine and
each other, and no module of theirs imports one that imports it back (issue 10)."""

from __future__ import annotations

import ast
from pathlib import Path

import backprop_lens

PACKAGE = Path(backprop_lens.__file__).parent
LOWER = ("backprop_lens.models", "backprop_lens.data", "backprop_lens.engine")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every backprop_lens module ``path`` imports, at any depth of its code."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("backprop_lens"))
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("backprop_lens"):
                found.add(target)
                found.update(f"{target}.{a.name}" for a in node.names)
    return found


def _graph(packages: tuple[str, ...]) -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules and m != name}
            for name, path in modules.items() if name.startswith(packages)}


def test_models_and_data_import_only_the_engine_and_each_other() -> None:
    for name, imported in _graph(("backprop_lens.models", "backprop_lens.data")).items():
        outside = sorted(m for m in imported if not m.startswith(LOWER))
        assert not outside, f"{name} imports {outside}"


def test_no_import_cycles_in_models_and_data() -> None:
    graph = _graph(LOWER)
    # Package __init__ files re-export their modules; an edge into a package's own
    # __init__ from inside the package is how Python resolves `from . import x`, not a cycle.
    for name in graph:
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}

    def reaches(start: str, goal: str) -> bool:
        seen, stack = set(), [start]
        while stack:
            current = stack.pop()
            if current == goal:
                return True
            if current not in seen:
                seen.add(current)
                stack.extend(graph.get(current, ()))
        return False

    cycles = sorted(f"{a} <-> {b}" for a, imported in graph.items() for b in imported
                    if a < b and reaches(b, a))
    assert not cycles, cycles
