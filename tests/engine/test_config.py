"""EngineConfig's upper bounds on the sizes that drive preallocated memory: a huge window,
history or symbol count is refused with a clear message instead of a numpy MemoryError."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine import EngineConfig
from engine.config import MAX_SYMBOLS, MAX_WINDOW
from producer.header import HEADER_MAX_WINDOW

ROOT = Path(__file__).resolve().parents[2]
RALLY = ROOT / "scenarios" / "rally.jsonl"


@pytest.mark.parametrize(
    ("kwargs", "field", "most"),
    [
        ({"slow": MAX_WINDOW + 1, "history": MAX_WINDOW + 1}, "slow", MAX_WINDOW),
        ({"slow": 1_000_000_000}, "slow", MAX_WINDOW),
        ({"fast": MAX_WINDOW + 1, "slow": MAX_WINDOW + 2}, "fast", MAX_WINDOW),
        ({"history": MAX_WINDOW + 1}, "history", MAX_WINDOW),
        ({"history": 10**15}, "history", MAX_WINDOW),
        ({"max_symbols": MAX_SYMBOLS + 1}, "max_symbols", MAX_SYMBOLS),
        ({"vol_returns": MAX_WINDOW + 1}, "vol_returns", MAX_WINDOW),
    ],
)
def test_config_refuses_sizes_past_the_bound_naming_the_field_the_limit_and_the_remedy(
    kwargs: dict[str, int], field: str, most: int
) -> None:
    with pytest.raises(ValueError, match=rf"^{field} \(\d+\) must be at most {most:,}: ") as e:
        EngineConfig(**kwargs)
    assert str(e.value).endswith(f"choose a smaller {field}")


@pytest.mark.parametrize("value", [0, -3, 2.5, True])
def test_config_refuses_a_volatility_clock_of_no_returns_or_of_a_fraction(value: object) -> None:
    with pytest.raises(ValueError, match=r"^vol_returns "):
        EngineConfig(vol_returns=value)  # type: ignore[arg-type]


def test_config_accepts_sizes_at_the_bound() -> None:
    cfg = EngineConfig(fast=MAX_WINDOW - 1, slow=MAX_WINDOW, history=MAX_WINDOW)
    assert (cfg.slow, cfg.history) == (MAX_WINDOW, MAX_WINDOW)
    assert EngineConfig(max_symbols=MAX_SYMBOLS).max_symbols == MAX_SYMBOLS


def _backtest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", "backtest", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_refuses_a_huge_slow_window_with_one_line_and_no_traceback() -> None:
    result = _backtest("scenarios/rally.jsonl", "--slow", "1000000000")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert f"slow (1000000000) must be at most {MAX_WINDOW:,}" in result.stderr


@pytest.mark.parametrize(("setting", "value"), [("slow", 1_000_000_000), ("history", 1e15)])
def test_cli_refuses_a_scenario_header_asking_for_a_huge_size_without_traceback(
    setting: str, value: float, tmp_path: Path
) -> None:
    header, *ticks = RALLY.read_text().splitlines(keepends=True)
    meta = json.loads(header)
    meta["engine"][setting] = value
    scenario = tmp_path / "huge.jsonl"
    scenario.write_text(json.dumps(meta) + "\n" + "".join(ticks))
    result = _backtest(str(scenario))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    # a header may ask for far less than the command line (see producer.header)
    assert f"engine setting {setting}: " in result.stderr
    assert f"is more than a scenario may ask for (at most {HEADER_MAX_WINDOW:,}" in result.stderr


@pytest.mark.parametrize("horizon", [1e-320, 1e-7, 0.009])
def test_config_refuses_a_horizon_too_short_for_slots_counted_from_the_epoch(
    horizon: float,
) -> None:
    """Below 10 ms the calibration's slots (a twelfth of the horizon, numbered from the
    epoch) outrun a float's whole numbers: a 3-tick file at 1e-7 s never finished."""
    with pytest.raises(ValueError, match=r"^horizon_s \(.*\) must be at least 0.01 s"):
        EngineConfig(horizon_s=horizon)
    assert EngineConfig(horizon_s=0.01).horizon_s == 0.01


def test_config_refuses_a_horizon_of_more_than_a_year_and_a_day() -> None:
    # 1e308 s was taken, and a time to the limit printed with 240 digits
    with pytest.raises(ValueError, match=r"^horizon_s \(1e\+308\) must be at most 31,622,400 s"):
        EngineConfig(horizon_s=1e308)
    assert EngineConfig(horizon_s=366 * 86400.0).horizon_s == 31_622_400.0


@pytest.mark.parametrize("halflife", [1e-300, 1e-9, 9e-5, 31_622_401.0, 1e12, -1.0, 0.0])
def test_config_refuses_a_half_life_shorter_than_times_resolve_or_longer_than_a_year(
    halflife: float,
) -> None:
    """1e-9 s and 1e12 s were taken, and scored: averages of the last tick alone, or of
    none (111 WATCHes an hour on 1-second ticks, with no word of why)."""
    with pytest.raises(ValueError, match=r"^halflife_s \(.*\) must lie from 0.0001 s to 31,622"):
        EngineConfig(halflife_s=halflife)
    assert EngineConfig(halflife_s=1e-4).halflife_s == 1e-4
    assert EngineConfig(halflife_s=366 * 86400.0).halflife_s == 31_622_400.0
