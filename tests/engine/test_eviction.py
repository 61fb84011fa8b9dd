"""An engine that evicts idle symbols (``evict_idle``): at ``max_symbols`` a new symbol
takes the slot of the one idle longest, starts as clean as in a new engine, and an
evicted symbol's limits and signal numbers come back with it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine import Engine, EngineConfig
from engine.calibration import Calibrator

CFG = EngineConfig(
    max_symbols=3, default_band=None, warmup_ticks=2, warmup_s=0.0, fast=2, slow=3, history=8
)


def feed(eng: Engine, ticks: list[tuple[str, float, float]]) -> list[str]:
    """Register and update one batch; the ids of the signals raised."""
    ids = eng.register([s for s, _, _ in ticks])
    signals = eng.update(ids, [t for _, t, _ in ticks], [p for _, _, p in ticks])
    return [s.id for s in signals]


def row(eng: Engine, symbol: str) -> dict[str, object]:
    """Every per-symbol field of ``symbol`` in the engine's state."""
    st = eng.state()
    i = st.symbols.index(symbol)
    return {
        f.name: getattr(st, f.name)[i]
        for f in dataclasses.fields(st)
        if isinstance(getattr(st, f.name), np.ndarray)
    }


def test_a_new_symbol_at_the_cap_takes_the_slot_of_the_symbol_idle_longest() -> None:
    eng = Engine(CFG, evict_idle=True)
    feed(eng, [("A", 0.0, 10.0), ("B", 1.0, 20.0), ("C", 2.0, 30.0), ("A", 3.0, 10.1)])
    # B's latest tick came first: B goes, whatever the event times say.
    assert feed(eng, [("D", 4.0, 40.0)]) == []
    assert set(eng.symbols) == {"A", "C", "D"}
    assert eng.take_evicted() == [(1, "B")]
    assert eng.take_evicted() == []
    assert (eng.evicted, eng.refused, eng.state().evicted) == (1, 0, 1)


def test_symbols_of_the_same_call_are_never_evicted_and_only_what_cannot_fit_is_refused() -> None:
    eng = Engine(CFG, evict_idle=True)
    feed(eng, [("A", 0.0, 10.0), ("B", 1.0, 20.0), ("C", 2.0, 30.0)])
    ids = eng.register(["A", "X", "Y", "Z"])
    # A is in the call: kept; X and Y take B's and C's slots; Z finds none left.
    assert ids.tolist()[0] == 0 and ids.tolist()[3] == -1
    assert set(eng.symbols) == {"A", "X", "Y"}
    assert (eng.evicted, eng.refused) == (2, 1)


def test_without_evict_idle_a_full_engine_refuses_new_symbols() -> None:
    eng = Engine(CFG)
    feed(eng, [("A", 0.0, 10.0), ("B", 1.0, 20.0), ("C", 2.0, 30.0)])
    assert eng.register(["D"]).tolist() == [-1]
    assert (eng.evicted, eng.refused, eng.symbols) == (0, 1, ("A", "B", "C"))


def test_a_symbol_that_takes_an_evicted_slot_starts_as_in_a_new_engine() -> None:
    rng = np.random.default_rng(5)
    eng = Engine(CFG, evict_idle=True)
    for k, sym in enumerate("ABC"):
        eng.set_limits(sym, buy=90.0, sell=110.0)
        t = np.arange(40.0) + k
        feed(eng, [(sym, ti, 100.0 * np.exp(0.01 * rng.standard_normal())) for ti in t])
    late = [("D", 50.0 + i, 100.0 + 3.0 * np.sin(i)) for i in range(30)]
    feed(eng, late)
    assert "D" in eng.symbols and eng.evicted == 1
    fresh = Engine(dataclasses.replace(CFG, max_symbols=1))
    feed(fresh, late)
    got, want = row(eng, "D"), row(fresh, "D")
    for name, value in want.items():
        assert np.array_equal(got[name], value, equal_nan=True), name
    assert np.array_equal(eng.history("D").price, fresh.history("D").price)


def test_an_evicted_symbol_comes_back_with_its_limits_and_its_signal_numbers_go_on() -> None:
    eng = Engine(CFG, evict_idle=True)
    eng.set_limits("A", buy=90.0, sell=110.0)
    first = feed(eng, [("A", 0.0, 100.0), ("A", 1.0, 111.0)])
    assert "A:SELL:1" in first
    feed(eng, [("B", 2.0, 20.0), ("C", 3.0, 30.0), ("D", 4.0, 40.0)])  # A evicted for D
    assert "A" not in eng.symbols
    with pytest.raises(KeyError):
        eng.limits("A")
    again = feed(eng, [("A", 5.0, 100.0), ("A", 6.0, 112.0)])
    assert eng.limits("A") == (90.0, 110.0)
    assert "A:SELL:2" in again  # not A:SELL:1 again: ids stay unique for readers
    assert not set(first) & set(again)


def test_a_limit_set_for_an_evicted_symbol_keeps_its_other_limit() -> None:
    eng = Engine(CFG, evict_idle=True)
    eng.set_limits("A", buy=90.0, sell=110.0)
    feed(eng, [("A", 0.0, 100.0), ("B", 1.0, 20.0), ("C", 2.0, 30.0)])
    feed(eng, [("D", 3.0, 40.0)])  # A idle longest: evicted
    assert "A" not in eng.symbols
    eng.set_limits("A", sell=120.0)  # registers it again, evicting the idle B
    assert eng.limits("A") == (90.0, 120.0)
    assert "B" not in eng.symbols


def test_a_calibrator_resolves_nothing_for_forgotten_symbols() -> None:
    cal = Calibrator(10.0, sample_every=5.0, refit_every=10.0, learn=False)
    cal.advance(0.0)
    cal.sample([0, 1], [True, True], [0.5, 0.5], [101.0, 101.0], [100.0, 100.0])
    cal.forget([1])  # id 1 now names another symbol
    cal.advance(5.0)
    cal.observe([0, 1], [100.0, 100.0], [102.0, 102.0])
    cal.advance(10.0)
    record = cal.record()
    assert (record.resolved, record.base_rate) == (1.0, 1.0)


def test_a_flood_of_new_names_takes_its_own_places_not_those_of_symbols_ticking_on() -> None:
    """Two symbols warmed up, then a flood of 40 one-tick names in reads of 5 (a hostile
    or broken producer) into an engine of 10 places: symbols still warming up go first,
    so the flood's names evict each other and the two real symbols keep their history.
    (Evicting the idle longest alone, every real symbol went: each was idle longer than
    the names that came after it.)"""
    cfg = dataclasses.replace(CFG, max_symbols=10)
    eng = Engine(cfg, evict_idle=True)
    t = 0.0
    for _ in range(5):
        t += 1.0
        feed(eng, [("REAL1", t, 10.0 + t / 100), ("REAL2", t + 0.5, 20.0 - t / 100)])
    names = [f"F{i:03d}" for i in range(40)]
    for lo in range(0, len(names), 5):
        t += 0.01
        feed(eng, [(name, t, 1.0) for name in names[lo : lo + 5]])
    assert {"REAL1", "REAL2"} <= set(eng.symbols)
    assert row(eng, "REAL1")["n_ticks"] == 5 and row(eng, "REAL2")["n_ticks"] == 5
    assert eng.evicted == 40 - 8 and eng.refused == 0
