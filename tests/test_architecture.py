"""The package's shape: wings import downwards only, and no module imports itself back.

Every ``import`` of a perceptq module counts, at module level or inside a function
(deferred imports are still dependencies). The allowed arrows are those documented in
``docs/ARCHITECTURE.md``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "perceptq"

#: wing -> wings it may import (besides itself and the shared vocabulary below).
ALLOWED: dict[str, set[str]] = {
    "audio": set(),
    "p862": set(),
    "visqol": {"audio"},
    "network": set(),
    "recording": {"audio", "p862", "visqol"},
    "api": {"audio", "p862", "visqol", "recording"},
    "batch": {"api", "audio", "recording"},
    "report": {"batch", "audio", "recording"},
    "monitor": {"api", "batch", "report", "network", "audio", "recording"},
    "cli": {"api", "batch", "report", "monitor", "network", "audio", "recording", "p862",
            "visqol"},
    "__init__": {"api", "batch"},
    "__main__": {"cli"},  # python -m perceptq: the command line's second entry point
}
#: leaf modules every wing may import: the error tree and the result vocabulary.
SHARED = {"errors", "result"}
MAX_LINES = 600


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("perceptq"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(
            "perceptq"
        ):
            found.add(node.module)
            # ``from perceptq.wing import module`` imports that module
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules and m != name}
            for name, path in modules.items()}


def _wing(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def test_wings_import_downwards_only():
    bad = []
    for module, deps in _graph().items():
        wing = _wing(module)
        for dep in deps:
            dep_wing = _wing(dep)
            if dep_wing in (wing, *SHARED) or dep == "perceptq":
                continue
            if dep_wing not in ALLOWED.get(wing, set()):
                bad.append(f"{module} -> {dep}")
    assert not bad, "imports against the wing order:\n" + "\n".join(sorted(bad))


def test_shared_vocabulary_imports_nothing_from_perceptq():
    graph = _graph()
    for leaf in SHARED:
        assert not graph[f"perceptq.{leaf}"], f"perceptq.{leaf} imports {graph[leaf]}"


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in graph[node]:
            # a package's __init__ importing its own submodules is not a cycle of modules
            if dep.startswith(node + "."):
                continue
            if state.get(dep) == 1:
                cycle = [*stack[stack.index(dep):], dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_nothing_imports_the_cli():
    entry_points = ("perceptq.cli", "perceptq.__main__")
    offenders = [m for m, deps in _graph().items()
                 if not m.startswith(entry_points)
                 and any(d.startswith("perceptq.cli") for d in deps)]
    assert not offenders


def test_modules_stay_small():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"
