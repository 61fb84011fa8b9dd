"""The shipped scenarios: readable, described, short enough to replay, and regenerable."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from producer.scenario import ScenarioReader
from producer.sources import open_source
from tui.runtime.backtest import signal_differences

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
SHIPPED = sorted(p for p in SCENARIOS.glob("*.jsonl") if not p.name.endswith(".golden.jsonl"))
EXPECTED = {
    "rally",
    "crash",
    "chop",
    "flash_crash",
    "overnight_gap",
    "busy_market",
    "system_metrics",
}


def test_every_expected_scenario_is_shipped_with_its_golden_file() -> None:
    assert {p.stem for p in SHIPPED} == EXPECTED
    for path in SHIPPED:
        assert path.with_name(f"{path.stem}.golden.jsonl").is_file(), path.name


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_scenario_reads_cleanly_and_is_listed_in_the_readme(path: Path) -> None:
    source = open_source(str(path))
    assert isinstance(source, ScenarioReader)
    header = source.header
    assert header.name == path.stem
    assert header.description and "\n" not in header.description
    assert "make_scenarios.py" in header.made_by and "seed" in header.made_by
    assert header.description in (SCENARIOS / "README.md").read_text()
    ticks = list(source)
    assert source.skipped == 0
    assert set(header.symbols) == {t.symbol for t in ticks}
    assert set(header.limits) <= set(header.symbols)


def test_the_leads_the_readme_table_gives_are_those_of_the_golden_files() -> None:
    """The table said a SELL_WATCH came 3.9 s before the SELL of the rally after the
    forecast had changed and the golden files with it (2.2 s)."""
    rows = {
        line.split("`")[1].removesuffix(".jsonl"): line
        for line in (SCENARIOS / "README.md").read_text().splitlines()
        if line.startswith("| `")
    }
    said = {
        name: re.search(r"(\w+_WATCH) (?:only )?([\d.]+) s before the (BUY|SELL)", row)
        for name, row in rows.items()
    }
    said = {name: m for name, m in said.items() if m is not None}
    assert set(said) == {"rally", "crash", "flash_crash"}
    for name, m in said.items():
        golden = [
            json.loads(line)
            for line in (SCENARIOS / f"{name}.golden.jsonl").read_text().splitlines()
        ]
        watch = next(s["t"] for s in golden if s["kind"] == m[1])
        hit = next(s["t"] for s in golden if s["kind"] == m[3] and s["t"] >= watch)
        assert f"{hit - watch:.1f}" == m[2], (name, hit - watch)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_scenario_is_short_enough_to_replay_in_real_time(path: Path) -> None:
    ticks = list(ScenarioReader(path))
    span = ticks[-1].ts - ticks[0].ts
    if path.stem == "overnight_gap":
        gaps = [b.ts - a.ts for a, b in itertools.pairwise(ticks)]
        assert max(gaps) == pytest.approx(16 * 3600, abs=5)
        assert span - max(gaps) <= 45
    else:
        assert 15 <= span <= 45
    assert path.stat().st_size < 2_000_000


def test_busy_market_has_two_hundred_symbols() -> None:
    assert len(ScenarioReader(SCENARIOS / "busy_market.jsonl").header.symbols) == 200


def test_scenarios_and_goldens_regenerate_byte_for_byte(tmp_path: Path) -> None:
    """Protects the claim that the shipped files come from the seeded script.

    Golden files are compared as signals (see signal_differences), not as bytes.
    """
    subprocess.run(
        [sys.executable, str(ROOT / "tests" / "scenarios" / "make_scenarios.py"), "--out",
         str(tmp_path)],
        check=True, cwd=ROOT, capture_output=True, timeout=300,
    )  # fmt: skip
    made = sorted(p.name for p in tmp_path.iterdir())
    shipped = sorted(p.name for p in SCENARIOS.glob("*.jsonl"))
    assert made == shipped
    for name in made:
        if name.endswith(".golden.jsonl"):
            expected = [json.loads(x) for x in (SCENARIOS / name).read_text().splitlines()]
            got = [json.loads(x) for x in (tmp_path / name).read_text().splitlines()]
            assert signal_differences(expected, got) == [], name
        else:
            assert (tmp_path / name).read_bytes() == (SCENARIOS / name).read_bytes(), name
