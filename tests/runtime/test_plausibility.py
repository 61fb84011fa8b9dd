"""The consumer's plausibility checks, without Kafka: what is refused, what becomes a
symbol's reference, and which sources turn the jump check off."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from producer.metrics import MetricsSource
from producer.sources import open_source
from producer.wire import Problem, Tick
from tui.runtime.plausibility import (
    MAX_AHEAD_S,
    MAX_BEHIND_S,
    MAX_JUMP,
    RELEVEL_AFTER,
    Plausibility,
    TickChecks,
    plausibility_for,
)

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_750_000_000.0


def _problem(checks: TickChecks, price: float, ts: float = NOW, symbol: str = "ACME") -> str:
    bad = checks.refusal(Tick(symbol, price, ts), wall=NOW)
    return "ok" if bad is None else bad.problem.value


def test_an_event_time_ahead_of_the_clock_is_refused_past_the_bound_only() -> None:
    checks = TickChecks(Plausibility(), capacity=10)
    assert _problem(checks, 100.0, NOW + MAX_AHEAD_S) == "ok"  # clocks a little apart
    assert _problem(checks, 100.0, NOW + MAX_AHEAD_S + 1) == "future time"
    # A symbol's first tick may be from any time: the past is a replay's business.
    assert _problem(checks, 100.0, NOW - 86_400, symbol="BRIX") == "ok"
    off = TickChecks(Plausibility(max_ahead_s=math.inf), capacity=10)
    assert _problem(off, 100.0, 9e10) == "ok"


def test_a_time_far_behind_its_symbols_latest_is_refused_and_moves_nothing() -> None:
    # The engine takes a late tick at its symbol's latest time: a price a year old would
    # be taken for the current one (and fire a BUY). A minute behind is tolerated.
    checks = TickChecks(Plausibility(), capacity=10)
    year = 365 * 86_400.0
    got = [
        _problem(checks, 156.0, NOW),
        _problem(checks, 100.0, NOW - year),
        _problem(checks, 156.1, NOW - MAX_BEHIND_S),
        _problem(checks, 156.2, NOW - MAX_BEHIND_S - 1),
        _problem(checks, 100.0, NOW - year, symbol="OTHER"),  # a first tick: any time
    ]
    assert got == ["ok", "old time", "ok", "old time", "ok"]
    refused = checks.refusal(Tick("ACME", 100.0, NOW - year), wall=NOW)
    assert refused is not None and "31,536,000 s behind the latest" in str(refused)
    # The batch check agrees with the one-by-one check, and takes nothing on refusal.
    batch = TickChecks(Plausibility(), capacity=10)
    assert batch.accept_all(["A", "B", "A"], [NOW, NOW, NOW + 5], [1.0, 2.0, 1.0], NOW)
    assert batch.accept_all(["A", "B"], [NOW - 30, NOW - 61], [1.0, 2.0], NOW) is False
    assert batch.refusal(Tick("B", 2.0, NOW - 61), wall=NOW) is not None
    assert batch.accept_all(["A", "A", "A"], [NOW + 100, NOW + 45, NOW + 41], [1.0] * 3, NOW)
    assert batch.accept_all(["A"], [NOW + 39], [1.0], NOW) is False  # 61 s behind NOW + 100
    off = TickChecks(Plausibility(max_behind_s=math.inf), capacity=10)
    assert [_problem(off, 1.0, t) for t in (NOW, NOW - year)] == ["ok", "ok"]
    assert off.accept_all(["A", "A"], [NOW, NOW - year], [1.0, 1.0], NOW)


def test_a_jump_is_measured_against_the_last_accepted_price_not_the_refused_one() -> None:
    checks = TickChecks(Plausibility(max_jump=10.0), capacity=10)
    # 999 is within 10x of 100, 1001 of 999; 9 is 111x below 1001, and 11 is measured
    # against 1001 too (91x), not against the refused 9.
    got = [_problem(checks, p) for p in (100.0, 999.0, 1_001.0, 9.0, 11.0)]
    assert got == ["ok", "ok", "ok", "implausible jump", "implausible jump"]


def test_a_spike_is_refused_but_a_sustained_new_level_is_taken() -> None:
    checks = TickChecks(Plausibility(max_jump=10.0), capacity=10)
    assert _problem(checks, 150.0) == "ok"
    assert _problem(checks, 9.9e11) == "implausible jump"  # a spike...
    assert _problem(checks, 151.0) == "ok"  # ...and back: nothing moved
    # A poisoned reference (or a split) does not lock the symbol out: after
    # RELEVEL_AFTER agreeing jumps in a row, the new level is accepted.
    level = [_problem(checks, 1.5 + 0.01 * k) for k in range(RELEVEL_AFTER + 1)]
    assert level == ["implausible jump"] * (RELEVEL_AFTER - 1) + ["ok", "ok"]
    # Jumps that disagree with each other never add up to a level.
    wild = [_problem(checks, p) for p in (1e6, 1e-4, 1e6, 1e-4, 1e6)]
    assert wild == ["implausible jump"] * 5


def test_symbols_past_the_capacity_are_not_remembered() -> None:
    checks = TickChecks(Plausibility(), capacity=1)
    assert _problem(checks, 100.0, symbol="A") == "ok"
    assert _problem(checks, 100.0, symbol="B") == "ok"
    assert _problem(checks, 1e6, symbol="B") == "ok"  # no reference kept for B
    assert _problem(checks, 1e6, symbol="A") == "implausible jump"


def test_bounds_must_make_sense() -> None:
    with pytest.raises(ValueError, match="max_jump"):
        Plausibility(max_jump=1.0)
    with pytest.raises(ValueError, match="max_ahead_s"):
        Plausibility(max_ahead_s=-1.0)


def test_the_jump_check_is_off_for_sources_that_jump_by_design_unless_asked_for() -> None:
    metrics = MetricsSource.__new__(MetricsSource)  # no /proc reading needed
    gauges = open_source(str(ROOT / "scenarios" / "system_metrics.jsonl"))
    market = open_source(str(ROOT / "scenarios" / "flash_crash.jsonl"))
    assert plausibility_for(None).max_jump == MAX_JUMP
    assert plausibility_for(market).max_jump == MAX_JUMP
    assert plausibility_for(metrics).max_jump == math.inf
    assert plausibility_for(gauges).max_jump == math.inf
    assert plausibility_for(gauges, max_jump=50.0).max_jump == 50.0


@pytest.mark.parametrize(
    "path",
    sorted(p for p in (ROOT / "scenarios").glob("*.jsonl") if not p.name.endswith(".golden.jsonl")),
    ids=lambda p: p.stem,
)
def test_every_shipped_scenario_passes_its_own_checks(path: Path) -> None:
    source = open_source(str(path))
    checks = TickChecks(plausibility_for(source), capacity=10_000)
    wall = time.time()  # as a replay meets them: recorded times are in the past
    refused = [(t, bad) for t in source if (bad := checks.refusal(t, wall)) is not None]
    assert refused == []
    assert [p.value for p in Problem][-3:] == ["future time", "old time", "implausible jump"]


def test_a_quantity_at_zero_or_below_is_not_checked_for_jumps() -> None:
    checks = TickChecks(Plausibility(max_jump=10.0), capacity=10, quantity=lambda s: s == "g")
    for value in (5.0, 0.0, -40.0, 1e6):
        assert checks.refusal(Tick("g", value, 1e9), wall=1e9) is None
    assert checks.refusal(Tick("ACME", 5.0, 1e9), wall=1e9) is None
    refused = checks.refusal(Tick("ACME", 500.0, 1e9), wall=1e9)
    assert refused is not None and refused.problem.value == "implausible jump"


def test_a_clock_moved_ahead_by_one_tick_is_set_back_by_three_of_now() -> None:
    # One tick stamped 290 s ahead (within --max-ahead) moved ACME's latest time past its
    # real ticks, which were then refused as old for five minutes.
    checks = TickChecks(Plausibility(), capacity=10)
    assert _problem(checks, 150.0, NOW) == "ok"
    assert _problem(checks, 155.0, NOW + 290) == "ok"
    got = [_problem(checks, 150.0 + i, NOW + i) for i in (1, 2, 3, 4)]
    assert got == ["old time", "old time", "ok", "ok"]
    assert checks.take_restart() is None  # asked after the 4th tick: it restarted nothing
    # The restart is named right after the tick that set the clock back.
    again = TickChecks(Plausibility(), capacity=10)
    for ts in (NOW + 290, NOW + 1, NOW + 2):
        again.refusal(Tick("ACME", 150.0, ts), wall=NOW)
        assert again.take_restart() is None
    assert again.refusal(Tick("ACME", 150.0, NOW + 3), wall=NOW) is None
    assert again.take_restart() == "ACME"
    assert again.accept_all(["ACME"], [NOW + 4], [150.0], NOW)  # back to the usual batch


def test_old_ticks_that_do_not_agree_or_are_old_by_the_clock_stay_refused() -> None:
    year = 365 * 86_400.0
    # A price sent again a year later is refused however many come in a row.
    checks = TickChecks(Plausibility(), capacity=10)
    assert _problem(checks, 150.0, NOW) == "ok"
    assert [_problem(checks, 100.0, NOW - year + i) for i in range(5)] == ["old time"] * 5
    # Ticks of now that do not agree with each other, or with a good tick between, count
    # afresh.
    checks = TickChecks(Plausibility(), capacity=10)
    assert _problem(checks, 155.0, NOW + 290) == "ok"
    assert _problem(checks, 150.0, NOW - 50) == "old time"
    assert _problem(checks, 150.0, NOW + 40) == "old time"  # 90 s from the one before
    assert _problem(checks, 150.0, NOW + 41) == "old time"
    assert _problem(checks, 150.0, NOW + 250) == "ok"  # within a minute of NOW + 290
    assert _problem(checks, 150.0, NOW + 1) == "old time"  # counted from one again
    assert _problem(checks, 150.0, NOW + 2) == "old time"
    assert _problem(checks, 150.0, NOW + 3) == "ok"
