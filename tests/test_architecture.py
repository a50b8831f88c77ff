"""The folders show the architecture, and the imports keep to it: core is math and knows
nothing of rendering, the engine knows nothing of ImGui or the app state, the scene knows
nothing of torch, and the state imports nothing from the engine or the UI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "dexplorer"

FORBIDDEN = {
    "core": (
        "dexplorer.engine",
        "dexplorer.scene",
        "dexplorer.ui",
        "dexplorer.state",
        "dexplorer.app",
        "pygfx",
        "imgui_bundle",
        "rendercanvas",
    ),
    "engine": (
        "dexplorer.scene",
        "dexplorer.ui",
        "dexplorer.state",
        "dexplorer.app",
        "imgui_bundle",
    ),
    "scene": (
        "torch",
        "dexplorer.engine",
        "dexplorer.ui",
        "dexplorer.state",
        "dexplorer.app",
        "imgui_bundle",
    ),
    "ui": ("dexplorer.engine.simulation", "dexplorer.engine.runs", "dexplorer.app"),
    "state.py": ("dexplorer.engine", "dexplorer.ui", "dexplorer.scene", "dexplorer.app"),
}


def _runtime_nodes(tree: ast.Module) -> list[ast.AST]:
    """Every node of ``tree`` but those under ``if TYPE_CHECKING:`` (annotations only)."""
    checking = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    ]
    skipped = {id(inner) for node in checking for part in node.body for inner in ast.walk(part)}
    return [node for node in ast.walk(tree) if id(node) not in skipped]


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports at run time (relative imports made absolute)."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("part", list(FORBIDDEN))
def test_each_part_imports_only_what_its_layer_may(part):
    files = [PACKAGE / part] if part.endswith(".py") else sorted((PACKAGE / part).rglob("*.py"))
    assert files
    wrong = {
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in files
        for name in imported(path)
        if any(name == banned or name.startswith(f"{banned}.") for banned in FORBIDDEN[part])
    }
    assert not wrong, sorted(wrong)


def test_the_check_sees_relative_imports_and_skips_annotation_only_ones():
    names = imported(PACKAGE / "engine" / "simulation.py")
    assert "dexplorer.core.runs" in names and "dexplorer.engine.buffers" in names
    assert "dexplorer.app" not in imported(PACKAGE / "ui" / "keys.py")  # TYPE_CHECKING only
