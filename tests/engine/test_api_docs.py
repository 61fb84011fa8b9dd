"""The engine's public surface: exports, runnable docstring examples, purity of imports."""

from __future__ import annotations

import ast
import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import engine

ENGINE_DIR = Path(engine.__file__).parent
MODULES = sorted(f"engine.{m.name}" for m in pkgutil.iter_modules([str(ENGINE_DIR)]) if not m.ispkg)


def test_public_api_exports_the_integration_names() -> None:
    for name in (
        "Engine",
        "EngineConfig",
        "EngineState",
        "History",
        "Signal",
        "SignalKind",
        "LimitError",
    ):
        assert name in engine.__all__
        assert hasattr(engine, name)
    assert issubclass(engine.LimitError, ValueError)


@pytest.mark.parametrize("module", ["engine", *MODULES])
def test_docstring_examples_run_as_documented(module: str) -> None:
    mod = importlib.import_module(module)
    assert mod.__doc__, f"{module} has no module docstring"
    failed, _ = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failed == 0


def test_engine_has_doctest_examples_to_run() -> None:
    finder = doctest.DocTestFinder()
    core = importlib.import_module("engine.core")
    examples = sum(len(t.examples) for t in finder.find(core.Engine))
    assert examples >= 5


@pytest.mark.parametrize("path", sorted(ENGINE_DIR.glob("*.py")), ids=lambda p: p.name)
def test_engine_imports_only_numpy_scipy_and_the_standard_library(path: Path) -> None:
    tree = ast.parse(path.read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    # Signal is a msgspec.Struct, the one use of msgspec here: no encoding or decoding.
    allowed_here = {"msgspec"} if path.name == "signals.py" else set()
    assert imported <= {
        "__future__",
        "collections",
        "dataclasses",
        "enum",
        "fnmatch",
        "itertools",
        "math",
        "re",
        "typing",
        "numpy",
        "scipy",
        "engine",
        *allowed_here,
    }, f"{path.name} imports {imported}"
