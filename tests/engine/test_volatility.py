"""The volatility estimate on ticks at random times and on sparse ticks, against the
true volatility of the random walks that made them."""

from __future__ import annotations

import numpy as np

from engine import Engine, EngineConfig


def _walks(symbols: int, mean_gap_s: float, minutes: float, vol: float, seed: int):  # type: ignore[no-untyped-def]
    """Driftless random walks of log price, each symbol ticking at exponential gaps of
    ``mean_gap_s`` (Poisson arrivals); ids, times and prices in arrival order."""
    rng = np.random.default_rng(seed)
    n = int(minutes * 60 / mean_gap_s * 1.3) + 10
    gaps = rng.exponential(mean_gap_s, (symbols, n))
    t = np.cumsum(gaps, axis=1)
    steps = vol * np.sqrt(gaps) * rng.standard_normal((symbols, n))
    price = 100.0 * np.exp(np.cumsum(steps, axis=1))
    ids = np.repeat(np.arange(symbols), n)
    t, price = t.ravel(), price.ravel()
    keep = t < minutes * 60
    order = np.argsort(t[keep], kind="stable")
    return ids[keep][order], 1_700_000_000.0 + t[keep][order], price[keep][order]


def _ratios(cfg: EngineConfig, ids, t, price, symbols: int, vol: float):  # type: ignore[no-untyped-def]
    """The engine's volatility over the true one, per symbol, sampled every minute of
    the second half of the run."""
    eng = Engine(cfg)
    eng.register([f"S{i}" for i in range(symbols)])
    out = []
    t0 = t[0]
    edges = np.searchsorted(t, t0 + np.arange(60.0, t[-1] - t0, 60.0))
    start = 0
    for k, end in enumerate(edges.tolist()):
        eng.update(ids[start:end], t[start:end], price[start:end])
        start = end
        if k >= len(edges) // 2:
            out.append(eng.state().vol / vol)
    return np.concatenate(out)


def test_ticks_at_random_times_give_the_true_volatility() -> None:
    # Bipower variation divided by the elapsed time says (pi / 4) of the variance where
    # gaps are exponential (E sqrt(dt_i dt_j) = pi/4 E dt): 0.89 of the volatility. Each
    # pair divided by its own sqrt(dt_i dt_(i-1)) says it all.
    symbols, vol = 100, 3e-4
    ids, t, price = _walks(symbols, 1.0, 30.0, vol, seed=1)
    ratio = _ratios(EngineConfig(history=0), ids, t, price, symbols, vol)
    assert 0.91 < np.median(ratio) < 1.03, np.median(ratio)  # 0.86 before


def test_sparse_ticks_rest_on_more_returns_with_the_volatility_clock() -> None:
    # One tick every 20 s with a 30 s half-life: one or two returns in a half-life of
    # time. On the volatility's clock (at most an eighth of a half-life per tick) about
    # a dozen, and the estimate scatters far less about the truth.
    symbols, vol = 100, 3e-4
    ids, t, price = _walks(symbols, 20.0, 60.0, vol, seed=2)
    in_time = _ratios(EngineConfig(history=0, vol_returns=1), ids, t, price, symbols, vol)
    clocked = _ratios(EngineConfig(history=0), ids, t, price, symbols, vol)
    spread_time = np.std(np.log(in_time[np.isfinite(in_time)]))
    spread_clock = np.std(np.log(clocked[np.isfinite(clocked)]))
    assert spread_clock < 0.6 * spread_time, (spread_clock, spread_time)
    assert 0.8 < np.median(clocked) < 1.05, np.median(clocked)


def test_time_stamps_coarser_than_the_ticks_keep_the_jump_robust_estimate() -> None:
    # Two ticks a second stamped to the second: every other step is dt = 0, so the
    # stamped sqrt(dt_i dt_(i-1)) of every pair is 0. Taken as it is, the bipower
    # estimate was lost (and the noise-robust one, which a jump inflates, stood alone);
    # its time is taken as at least pi/4 of the time elapsed.
    rng = np.random.default_rng(5)
    vol, seconds = 3e-4, 1200
    true_t = np.concatenate([s + np.sort(rng.random(2)) for s in range(seconds)])
    steps = vol * np.sqrt(np.diff(true_t, prepend=0.0)) * rng.standard_normal(true_t.size)
    steps[np.searchsorted(true_t, 600.0)] += 0.01  # a 1 % jump at 600 s
    price = 100.0 * np.exp(np.cumsum(steps))
    eng = Engine(EngineConfig(history=0))
    eng.register(["X"])
    stamp = 1_700_000_000.0 + np.floor(true_t)
    ratios = []
    for minute in range(1, seconds // 60):
        at = slice(*np.searchsorted(true_t, [60.0 * (minute - 1), 60.0 * minute]))
        eng.update(np.zeros(at.stop - at.start, dtype=np.int32), stamp[at], price[at])
        if minute >= 5:
            ratios.append(float(eng.state().vol[0]) / vol)
    # a minute after the jump too (the jump alone would make it 2.7x)
    assert min(ratios) > 0.8 and max(ratios) < 1.3, ratios


def test_the_volatility_clock_matches_the_reference_across_its_anchor_moves() -> None:
    # A half-life of 50 ms and ticks 20 ms apart on average: the clock's anchor moves
    # every 512 x 8 capped steps or so, several times per symbol; the per-tick reference
    # has no anchors at all.
    import math
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from reference import Reference

    rng = np.random.default_rng(8)
    n = 24_000
    ids = rng.integers(0, 2, n).astype(np.int32)
    gaps = rng.exponential(0.02, n)
    gaps[rng.random(n) < 0.1] = 0.0
    gaps[rng.random(n) < 0.01] = 5.0
    t = 1_700_000_000.0 + np.cumsum(gaps)
    steps = 0.001 * rng.standard_normal(n)
    steps[rng.random(n) < 0.15] = 0.0
    price = 100.0 * np.exp(np.cumsum(np.where(ids == 0, steps, 0.0)))
    price = np.where(ids == 0, price, 50.0 * np.exp(np.cumsum(np.where(ids == 1, steps, 0.0))))
    cfg = EngineConfig(halflife_s=0.05, horizon_s=1.0, calibrate_after_s=math.inf, history=0)
    eng = Engine(cfg)
    eng.register(["S0", "S1"])
    ref = Reference(halflife_s=0.05, horizon_s=1.0)
    anchors = set()
    worst = 0.0
    for a in range(0, n, 500):
        eng.update(ids[a : a + 500], t[a : a + 500], price[a : a + 500])
        for i in range(a, min(a + 500, n)):
            ref.tick(f"S{ids[i]}", float(t[i]), float(price[i]))
        st = eng.state()
        for j in range(2):
            sigma = ref.drift_vol(f"S{j}")[1]
            worst = max(worst, abs(float(st.vol[j]) / sigma - 1.0))
        anchors.update(eng._s.clock_anchor[:2].tolist())
    assert len(anchors) >= 5  # from 0, two moves of each symbol's clock anchor
    assert worst < 1e-9, worst
