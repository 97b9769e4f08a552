"""The house rules, checked on the source: layers import downwards only, no import circle, and the training
engine names no detector."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# lowest first; a module may import from its own layer or a lower one, never from a higher one
LAYERS: tuple[tuple[str, ...], ...] = (
    ("methods",),
    (
        "benchmark.files",
        "benchmark.environment",
        "benchmark.record",
        "benchmark.reference",
        "benchmark.render",
        "benchmark.progress",
    ),
    ("benchmark.datasets", "benchmark.metrics", "benchmark.policies"),
    (
        "benchmark.detection",
        "benchmark.store",
        "benchmark.pool",
        "benchmark.backends",
        "benchmark.evaluation",
        "benchmark.offline",
        "benchmark.training",
        "benchmark.leakage",
    ),
    (
        "benchmark.runner",
        "benchmark.report",
        "benchmark.html_report",
        "benchmark.figures",
        "benchmark.profiling",
        "benchmark.reproduce",
    ),
    ("benchmark.cli", "benchmark.zoo_publish"),
)
METHOD_NAMES = re.compile(
    r"mshnet|dnanet|isnet|alcnet|\bacm\b|acm-|mdvsfa|tophat|maxmedian|wslcm|tllcm|"
    r"\bipi\b|nram|ript|pstnn|mslstipt",
    re.IGNORECASE,
)


def _modules() -> dict[str, Path]:
    found = {}
    for package in ("benchmark", "methods"):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules ``name`` imports anywhere in its file (function-level imports included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: ``level - 1`` packages up from this module's package
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            candidates = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in modules:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                targets.add(candidate)
                break
    return targets


def _layer(name: str) -> int:
    for index, prefixes in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return index
    if name == "benchmark":
        return len(LAYERS)
    raise AssertionError(f"module {name} is in no layer of tests/test_architecture.py")


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_imports_go_downwards(graph: dict[str, set[str]]) -> None:
    upward = [
        f"{a} (layer {_layer(a)}) imports {b} (layer {_layer(b)})"
        for a, targets in graph.items()
        for b in targets
        if _layer(b) > _layer(a)
    ]
    assert not upward, "\n".join(upward)


def test_no_import_circle(graph: dict[str, set[str]]) -> None:
    def is_package_init(a: str, b: str) -> bool:  # a package's __init__ re-exporting its own submodule
        return b.startswith(a + ".") or a.startswith(b + ".")

    state: dict[str, int] = {}
    circles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if is_package_init(node, nxt):
                continue
            if state.get(nxt) == 1:
                circles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not circles, "\n".join(" -> ".join(c) for c in circles)


def test_the_training_engine_names_no_method() -> None:
    hits = [
        f"{path.relative_to(ROOT)}:{i}: {line.strip()}"
        for path in sorted((ROOT / "benchmark" / "training").rglob("*.py"))
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if METHOD_NAMES.search(line)
    ]
    assert not hits, "\n".join(hits)


def test_the_import_graph_checker_sees_edges(graph: dict[str, set[str]]) -> None:
    assert "benchmark.reproduce" in graph["benchmark.cli"]  # a function-level import
    assert "methods.registry" in graph["benchmark.runner"]
    assert _layer("benchmark.metrics.image") < _layer("benchmark.evaluation")
