"""The layout shows the architecture, and the imports keep to it (read from the source, so
imports inside functions count too; ``if TYPE_CHECKING:`` imports do not run and do not
count):

- no import cycles between modules;
- no module imports another module's private names;
- imports run one way, down these layers: model → engine → nodes → store → runtime →
  the two bodies (embedded, distributed) → the producer client, the CLI, the entry points.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("oxify", "workers", "orchestrator")

LEAVES = {"oxify", "oxify.errors", "oxify.events"}
"""Anyone may import these (the package itself, the exception tree, event names)."""

LAYERS = [
    ("oxify.model", set()),
    ("oxify.engine", {"oxify.model"}),
    ("oxify.nodes", {"oxify.model", "oxify.engine"}),
    ("oxify.store", {"oxify.model", "oxify.engine"}),
    ("oxify.runtime", {"oxify.model", "oxify.engine", "oxify.nodes", "oxify.store"}),
]
"""Package → the packages below it that it may import (besides itself and the leaves)."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            out[_module_name(path)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path, known: set[str]) -> list[tuple[str, list[str], int]]:
    """``(imported module, names imported from it, line)`` for every runtime import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, list[str], int]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((alias.name, [], node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [a.name for a in node.names]
            submodules = [n for n in names if f"{base}.{n}" in known]
            for name in submodules:
                found.append((f"{base}.{name}", [], node.lineno))
            rest = [n for n in names if n not in submodules]
            if rest or not submodules:
                found.append((base, rest, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return [(m, names, line) for m, names, line in found if m.split(".")[0] in PACKAGES]


def _graph() -> dict[str, list[tuple[str, list[str], int]]]:
    sources = _sources()
    known = set(sources)
    return {m: _imports(m, p, known) for m, p in sources.items()}


def _layer(module: str) -> str | None:
    for name, _ in LAYERS:
        if module == name or module.startswith(name + "."):
            return name
    return None


def test_no_import_cycles():
    graph = {m: {t for t, _, _ in edges if t != m} for m, edges in _graph().items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in graph:
                continue
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                walk(target)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_no_module_imports_private_names_of_another():
    offenders = [
        f"{module}:{line} imports {name} from {target}"
        for module, edges in _graph().items()
        for target, names, line in edges
        for name in names
        if name.startswith("_") and not name.startswith("__") and target != module
    ]
    assert not offenders, "\n".join(offenders)


def test_imports_run_down_the_layers():
    allowed = dict(LAYERS)
    offenders = []
    for module, edges in _graph().items():
        layer = _layer(module)
        if layer is None:
            continue
        for target, _, line in edges:
            target_layer = _layer(target)
            if target in LEAVES or target_layer == layer:
                continue
            if target_layer not in allowed[layer]:
                offenders.append(f"{module}:{line} imports {target}")
    assert not offenders, "\n".join(offenders)
