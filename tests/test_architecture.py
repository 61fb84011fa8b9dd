"""The shape to keep: engine/ is pure (no Kafka, no Textual), producer/ never touches the UI."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_ENGINE = {"textual", "confluent_kafka", "rich", "msgspec", "producer", "tui"}
# Signal is a msgspec.Struct (a record type); the engine encodes and decodes nothing.
ALLOWED_IN = {"signals.py": {"msgspec"}}


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_engine_imports_neither_kafka_nor_textual() -> None:
    files = sorted((ROOT / "engine").glob("**/*.py"))
    assert files, "engine/ has no modules"
    offenders = {
        str(f.relative_to(ROOT)): sorted(
            _imported_roots(f) & FORBIDDEN_IN_ENGINE - ALLOWED_IN.get(f.name, set())
        )
        for f in files
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_import_linter_contracts_hold() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe is not None, "import-linter is part of the test extra"
    result = subprocess.run(
        [exe, "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "KEPT" in result.stdout and "BROKEN" not in result.stdout
