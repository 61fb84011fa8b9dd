"""The engine's self-calibration: the outcomes it records against a plain per-tick loop,
and the map it learns against the forecasts it corrects, on a market it was not tuned on.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from streams import random_walk

import engine.core as core
from engine import Engine, EngineConfig
from engine.core import CALIBRATION_SAMPLES_PER_HORIZON
from engine.evaluation import SampledRun, calibration, outcomes, settled
from engine.quality import TickOrder
from producer.markets import generate


def test_recorded_outcomes_match_a_per_tick_loop() -> None:
    """As the first tick in a slot of the clock (the running latest tick time, in
    twelfths of the horizon) arrives, the forecast in force of every symbol that has
    ticked (made at its latest tick, whether the arriving tick is its own or not) is
    sampled; it came true if a tick of that symbol in the horizon's slots from that one,
    the arriving tick included, reached the limit. A plain loop over the ticks, fed one
    at a time to a second engine for the forecasts in force before each tick, counts the
    same forecasts and hits."""
    cfg = EngineConfig(
        horizon_s=20.0, default_band=0.004, warmup_ticks=5, warmup_s=0.0,
        calibrate_after_s=math.inf,
    )  # fmt: skip
    ids, t, price = random_walk(2500, 4, seed=5, step_s=0.2, vol=0.001, backwards=0.05)
    names = [f"S{i}" for i in range(4)]
    batch = Engine(cfg)
    batch.register(names)
    # Limits moved between two ticks: from then on the forecast in force is the one
    # towards the new limits (what the screen shows), and that is the one sampled.
    moves = {999: ("S1", 0.995, 1.003), 1998: ("S2", 0.998, 1.006)}
    for a in range(0, ids.size, 333):
        if a in moves:
            name, down, up = moves[a]
            last = batch.state().last[int(name[1:])]
            batch.set_limits(name, buy=last * down, sell=last * up)
        batch.update(ids[a : a + 333], t[a : a + 333], price[a : a + 333])
    record = batch.track_record()

    one = Engine(cfg)
    one.register(names)
    q = CALIBRATION_SAMPLES_PER_HORIZON  # slots per horizon
    slot_s = cfg.horizon_s / q
    clock = -math.inf
    last_slot = -math.inf
    forecasts = []  # (symbol, sell side, slot, limit, the tick it was sampled at)
    slots = []
    for i in range(ids.size):
        if i in moves:
            name, down, up = moves[i]
            last = one.state().last[int(name[1:])]
            one.set_limits(name, buy=last * down, sell=last * up)
        clock = max(clock, float(t[i]))
        k = math.floor(clock / slot_s)
        slots.append(k)
        if k > last_slot:
            last_slot = k
            st = one.state()  # before tick i: the forecasts in force
            for s in np.flatnonzero(st.n_ticks > 0).tolist():
                for sell, p, limit in (
                    (False, st.p_buy[s], st.buy[s]),
                    (True, st.p_sell[s], st.sell[s]),
                ):
                    ahead = limit > st.last[s] if sell else limit < st.last[s]
                    if 0.0 < p < 1.0 and ahead:
                        forecasts.append((s, sell, k, float(limit), i))
        one.update(ids[i : i + 1], t[i : i + 1], price[i : i + 1])
    end_slot = slots[-1]
    resolved = hits = 0
    for s, sell, k, limit, i in forecasts:
        if k + q > end_slot:
            continue  # not due yet
        resolved += 1
        later = [j for j in range(i, ids.size) if ids[j] == s and slots[j] < k + q]
        if any((price[j] >= limit) if sell else (price[j] <= limit) for j in later):
            hits += 1
    assert resolved > 200 and 0 < hits < resolved
    assert record.resolved == resolved
    assert round(record.base_rate * record.resolved) == hits


def _reported(kind: str, calibrate_after_s: float) -> tuple[np.ndarray, np.ndarray]:
    """The reported ``p`` of one generated market, sampled every 5 s, and its outcomes,
    for the samples the evaluation counts (a stream's first 10 minutes left out)."""
    m = generate(kind, symbols=60, minutes=30, seed=7)
    cfg = dataclasses.replace(
        EngineConfig(), default_band=None, max_symbols=len(m.symbols),
        calibrate_after_s=calibrate_after_s,
    )  # fmt: skip
    eng = Engine(cfg)
    eng.register(m.symbols)
    first = np.full(len(m.symbols), np.nan)
    seen, at = np.unique(m.sym, return_index=True)
    first[seen] = m.price[at]
    buy, sell = first * 0.99, first * 1.01
    for i, name in enumerate(m.symbols):
        eng.set_limits(name, buy=float(buy[i]), sell=float(sell[i]))
    run = SampledRun(eng)
    for a in range(0, m.t.size, 20_000):
        run.update(m.sym[a : a + 20_000], m.t[a : a + 20_000], m.price[a : a + 20_000])
    samples = run.finish()
    order = TickOrder(m.sym.astype(np.int64), m.t, m.price, buy, sell)
    counts, hit = outcomes(order, samples, cfg.horizon_s)
    keep = counts & settled(order, samples)
    return samples.p[keep], hit[keep]


def test_the_map_corrects_an_overconfident_forecast_on_a_mean_reverting_market() -> None:
    """On a mean-reverting market the forecast as computed is overconfident (its highest
    forecasts come true far less often than they say); the map learnt online brings the
    largest gap per decile down and the Brier skill up, on the same ticks."""
    raw_p, raw_hit = _reported("reverting", math.inf)
    cal_p, cal_hit = _reported("reverting", EngineConfig().calibrate_after_s)
    np.testing.assert_array_equal(raw_hit, cal_hit)  # the same samples and outcomes
    raw, cal = calibration(raw_p, raw_hit), calibration(cal_p, cal_hit)
    assert raw.gap > 0.08, f"the market should trip the forecast as computed: {raw.gap:.3f}"
    assert cal.gap < 0.6 * raw.gap, f"gap {raw.gap:.3f} -> {cal.gap:.3f}"
    assert cal.skill > raw.skill


def _coarse_watches(floor: float, seed: int) -> tuple[list[float], int]:
    """40 symbols near 2.00 on a cent grid (a tick is 0.5 % of the price; the price moves
    about 0.2 % a minute) for 30 minutes, limits 1 % away: the ``p`` of every WATCH
    after the first 15 minutes (the map has learnt by then), and the crossings."""
    rng = np.random.default_rng(seed)
    n, symbols = 72_000, 40
    ids = rng.integers(0, symbols, n)
    t = 1.7e9 + np.sort(rng.uniform(0.0, 1800.0, n))
    steps = rng.normal(0.0, 0.002 / math.sqrt(60.0) * math.sqrt(1800.0 * symbols / n), n)
    log_p = np.empty(n)
    for s in range(symbols):
        mine = ids == s
        log_p[mine] = np.cumsum(steps[mine])
    price = np.round(2.0 * np.exp(log_p), 2)
    eng = Engine(EngineConfig(watch_floor=floor))
    eng.register([f"S{s}" for s in range(symbols)])
    signals = []
    for a in range(0, n, 5000):
        signals += eng.update(ids[a : a + 5000], t[a : a + 5000], price[a : a + 5000])
    late = [s.p_hit for s in signals if "WATCH" in s.kind.name and s.t > t[0] + 900.0]
    return late, sum(s.kind.name in ("BUY", "SELL") for s in signals)


def test_a_watch_its_streams_record_disowns_is_held_back() -> None:
    """Where a price flickers between two coarse levels, the forecast as computed passes
    alert_p again and again while such forecasts rarely come true; once the map has
    learnt that, a WATCH fires only where the map says at least watch_floor. Three
    markets: the WATCHes after the map has learnt report a chance of 7-37 % with no
    floor (the map and the stream's WATCH record both say so), and most are held back."""
    loud: list[float] = []
    held: list[float] = []
    for seed in (0, 1, 2):
        some, crossings = _coarse_watches(0.0, seed)
        fewer, same_crossings = _coarse_watches(EngineConfig().watch_floor, seed)
        assert crossings == same_crossings > 3  # the limits' own signals are untouched
        loud += some
        held += fewer
    assert len(loud) >= 30, loud
    assert np.median(loud) < 0.2, f"the market should trip the forecast as computed: {loud}"
    assert len(held) <= len(loud) / 2, (held, loud)


def _silent_cycles(cycles: int = 40) -> list[tuple[float, float]]:
    """Symbol B ticks each second for a minute from 100 towards a buy limit at 99.5,
    then falls silent for five minutes while A ticks on; per cycle, B's reported ``p``
    at its last tick and 150 s into its silence (the same forecast, never updated)."""
    eng = Engine(EngineConfig(default_band=None, calibrate_after_s=0.0, warmup_ticks=5))
    eng.register(["A", "B"])
    eng.set_limits("A", buy=90.0, sell=110.0)
    rng = np.random.default_rng(3)
    t, pa = 1.7e9, 100.0
    out = []
    for _ in range(cycles):
        pb = 100.0
        eng.set_limits("B", buy=99.5, sell=200.0)
        for _ in range(60):
            t += 1.0
            pa *= math.exp(rng.normal(0, 3e-4))
            pb *= math.exp(rng.normal(0, 1e-3))
            eng.update(np.array([0, 1]), np.array([t, t + 0.5]), np.array([pa, pb]))
        fresh = float(eng.state().p_buy[1])
        for k in range(300):
            t += 1.0
            pa *= math.exp(rng.normal(0, 3e-4))
            eng.update(np.array([0]), np.array([t]), np.array([pa]))
            if k == 150:
                stale = float(eng.state().p_buy[1])
        out.append((fresh, stale))
    return out


def test_a_forecast_left_on_screen_by_a_silent_symbol_is_mapped_by_its_age(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every symbol's forecast in force is sampled at every slot, a silent symbol's too,
    in a group of its age with a map of its own. B's forecasts while it is silent never
    come true (no tick of B can reach its limit), so after a few cycles its ``p`` on
    screen, 150 s into a silence, is well below the ``p`` its last tick left: the same
    forecast through the map of fresh ones (0.26 of it on average). With one map for
    all ages the two differ only where the map was refitted in between (0.95)."""

    def ratio() -> float:
        late = [(f, s) for f, s in _silent_cycles()[-15:] if 0.05 < f < 1.0]
        assert len(late) >= 5
        return float(np.mean([s / f for f, s in late]))

    assert ratio() < 0.6
    monkeypatch.setattr(core, "CALIBRATION_STALE_HORIZONS", math.inf)
    assert ratio() > 0.85


def test_ticks_stamped_on_slot_starts_teach_the_map_what_a_reading_then_sees() -> None:
    """A feed stamped to the whole 10 s (a dozen ticks a stamp, every stamp the start of
    one of the calibrator's 5 s slots) teaches the same maps and reports the same ``p``
    as the same ticks stamped a millisecond earlier, off the slots' starts. A tick
    stamped at a slot's start belongs to the slot before: the forecast sampled as the
    next slot begins is the one it made, 5 s old, as a reading of the screen then sees
    it. (Counted in the slot it starts, the sample was the forecast of the stamp
    before, 10 s old, and taught the overdue forecasts' map instead: on such a market
    the forecasts said 14-45% and came true 10-40% of the time.)"""
    cfg = EngineConfig(default_band=0.003, calibrate_after_s=0.0)
    ids, t, price = random_walk(60_000, 10, seed=3, step_s=0.05, vol=0.0008)
    stamped = np.floor(t / 10.0) * 10.0
    runs = []
    for times in (stamped, stamped - 2.0**-10):  # exact: every gap between ticks kept
        eng = Engine(cfg)
        eng.register([f"S{i}" for i in range(10)])
        for a in range(0, ids.size, 5000):
            eng.update(ids[a : a + 5000], times[a : a + 5000], price[a : a + 5000])
        st = eng.state()
        runs.append(
            [*eng.calibration_map(), *eng.calibration_map(overdue=True), st.p_buy, st.p_sell]
        )
    assert eng.track_record().resolved > 1000
    for on_start, off_start in zip(*runs, strict=True):
        np.testing.assert_array_equal(on_start, off_start)
