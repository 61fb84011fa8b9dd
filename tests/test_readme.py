"""README.md stays true: its two commands are the ones CI runs, and its engine example
prints what it says it prints."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_the_run_and_test_commands_and_ci_runs_the_test_one() -> None:
    blocks = re.findall(r"```\n(.*?)\n```", README, flags=re.S)
    run, test = blocks[0].strip(), blocks[1].strip()
    assert run.endswith(".venv/bin/limitwatch")
    assert test.endswith(".venv/bin/python -m pytest")
    assert test in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_readme_engine_example_prints_what_it_claims() -> None:
    code = re.search(r"```python\n(.*?)\n```", README, flags=re.S)
    assert code is not None
    source = code.group(1)
    claimed = [line.split("#", 1)[1].split("<-")[0].strip() for line in source.splitlines()
               if line.startswith("# ")]  # fmt: skip
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "README.md", "exec"), {})
    assert out.getvalue().splitlines() == claimed


def test_readme_key_table_is_the_monitors_key_list() -> None:
    from tui.runtime.keys import help_rows

    section = README.split("## Keys", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(.+?)` \| (.+?) \|$", section, flags=re.M)
    assert rows == help_rows()
