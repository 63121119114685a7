"""The engine imports nothing web: layering is a test, not a convention (STYLE E11)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

WEB = {"fastapi", "starlette", "pydantic", "pydantic_settings", "uvicorn", "app"}
# engine.program may describe its language with pydantic (STYLE, "choices left open").
PROGRAM_MAY_USE = {"pydantic"}
ENGINE = Path(__file__).resolve().parents[1] / "engine"
# Modules built on the program language (stored programs served by name): app -> these ->
# engine.program -> engine core.
ABOVE_PROGRAM = {Path("functions.py")}


def _imported_roots(tree: ast.AST) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.partition(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add((node.module or "").partition(".")[0])
    return roots


@pytest.mark.parametrize(
    "path", sorted(ENGINE.rglob("*.py")), ids=lambda p: str(p.relative_to(ENGINE))
)
def test_engine_has_no_web_imports(path: Path) -> None:
    allowed = PROGRAM_MAY_USE if "program" in path.relative_to(ENGINE).parts else set()
    bad = _imported_roots(ast.parse(path.read_text())) & (WEB - allowed)
    assert not bad, f"{path.relative_to(ENGINE)} imports {sorted(bad)}"


def test_engine_core_does_not_import_program() -> None:
    """app -> engine.program -> engine core: the core never reaches up into program."""
    for path in ENGINE.rglob("*.py"):
        rel = path.relative_to(ENGINE)
        if rel.parts[0] == "program" or rel == Path("__init__.py"):  # the package re-exports it
            continue
        if rel in ABOVE_PROGRAM:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                absolute = module.startswith("engine.program")
                relative = node.level > 0 and module.partition(".")[0] == "program"
                assert not (absolute or relative), f"{rel} imports engine.program"


def test_the_program_does_not_import_what_is_built_on_it() -> None:
    for path in (ENGINE / "program").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                assert "functions" not in module.split("."), f"{path} imports {module}"


def test_the_scan_sees_the_engine() -> None:
    assert (ENGINE / "registry.py").exists()
    assert all((ENGINE / p).exists() for p in ABOVE_PROGRAM)
