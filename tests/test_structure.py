"""The architecture's rules, checked: no import cycle, inference apart from training, small modules, public names."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import aidetect

PACKAGE = Path(aidetect.__file__).parent
MAX_LINES = 400
DEPRECATION_SHIMS = {"aidetect.training.fit", "aidetect.training.export", "aidetect.training.architectures",
                     "aidetect.training.cnn_config"}
"""Old module paths kept only to re-export; they import their new home and nothing else."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield module_name(path), path


def imported_modules(name: str, path: Path) -> set[str]:
    """Every ``aidetect`` module ``path`` imports, at top level or inside functions (a lazy import is still one)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[:len(package.split(".")) - node.level + 1], base]).strip(".")
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    known = {module for module, _ in modules()}
    return {module for module in found if module in known}


def top_level_imports(name: str, path: Path) -> set[str]:
    """The ``aidetect`` modules ``path`` imports when it is itself imported (module level, outside TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    known = {module for module, _ in modules()}
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {module for module in found if module in known and module != name}


def test_the_import_walker_sees_lazy_and_top_level_imports() -> None:
    cli_train = PACKAGE / "cli" / "train.py"
    imports = imported_modules("aidetect.cli.train", cli_train)
    assert {"aidetect.cli._common", "aidetect.registry", "aidetect.datasets"} <= imports


def test_no_import_cycle_inside_aidetect() -> None:
    """Module-level imports form a DAG: a cycle makes import order matter and hides layering mistakes."""
    graph = {name: top_level_imports(name, path) for name, path in modules()}
    # A package's __init__ re-exporting its own submodules is not a cycle with them.
    for name in graph:
        graph[name] = {target for target in graph[name] if not name.startswith(target + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycle = [*stack[stack.index(target):], target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if state.get(target) is None:
                visit(target)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if state.get(name) is None:
            visit(name)


def test_inference_never_imports_training() -> None:
    offenders = {
        name: sorted(module for module in imported_modules(name, path) if module.startswith("aidetect.training"))
        for name, path in modules()
        if name.startswith("aidetect.detectors")
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_no_module_over_400_lines() -> None:
    lengths = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules()}
    assert {name: n for name, n in lengths.items() if n > MAX_LINES} == {}


def test_the_public_names_import_from_aidetect() -> None:
    from aidetect import (  # noqa: F401
        CropPolicy,
        DecisionRule,
        Detector,
        Exportable,
        ModelCard,
        Prediction,
        Register,
        Trainable,
        TrainableDetector,
        TrainConfig,
        hookimpl,
    )

    assert set(aidetect.__all__) <= set(dir(aidetect))


@pytest.mark.parametrize("shim", sorted(DEPRECATION_SHIMS))
def test_deprecation_shims_still_import(shim: str) -> None:
    pytest.importorskip("torch")
    assert importlib.import_module(shim) is not None
