"""The engine's self-calibration: the outcomes it records against a plain per-tick loop,
and the map it learns against the forecasts it corrects, on a market it was not tuned on.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from streams import random_walk

from engine import Engine, EngineConfig
from engine.core import CALIBRATION_SAMPLES_PER_HORIZON
from engine.evaluation import SampledRun, calibration, outcomes, settled
from engine.quality import TickOrder
from producer.markets import generate


def test_recorded_outcomes_match_a_per_tick_loop() -> None:
    """As a symbol's first tick in a slot of the clock (the running latest tick time, in
    twelfths of the horizon) arrives, the forecast in force (made at the symbol's
    previous tick) is sampled; it came true if a tick of that symbol in the horizon's
    slots from that one, the arriving tick included, reached the limit. A plain loop
    over the ticks, fed one at a time to a second engine for the forecast in force
    before each tick, counts the same forecasts and hits."""
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
    last_slot = {i: -math.inf for i in range(4)}
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
        s = int(ids[i])
        if k > last_slot[s]:
            last_slot[s] = k
            st = one.state()  # before tick i: the forecast in force
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
