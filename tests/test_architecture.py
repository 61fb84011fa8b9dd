"""The shape to keep: engine/ is pure (no Kafka, no Textual), producer/ never touches the UI,
and the headless runtime and commands load no UI library."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


# Each headless command, run as a user runs it; the probe reports which UI modules loaded.
_PROBE = """
import sys
from tui.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
ui = sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in ('textual', 'rich')})
ui += sorted(m for m in sys.modules if m.startswith(('tui.app', 'tui.widgets', 'tui.screens')))
print('UI-MODULES:' + ','.join(ui), file=sys.stderr)
sys.exit(code or 0)
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["engine", "--help"],
        ["produce", "--help"],
        ["record", "--help"],
        ["backtest", "scenarios/rally.jsonl"],
        ["backtest", "--help"],
    ],
    ids=lambda argv: " ".join(argv),
)
def test_headless_commands_load_no_ui_library(argv: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    loaded = [line for line in result.stderr.splitlines() if line.startswith("UI-MODULES:")]
    assert loaded == ["UI-MODULES:"], loaded
    assert result.stdout.strip(), "the command printed nothing"
