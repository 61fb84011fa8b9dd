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
