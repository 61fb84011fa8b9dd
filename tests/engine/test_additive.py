"""Quantities that are not prices (``additive`` symbols): gauges at zero and below,
forecast in their own units."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine import Engine, EngineConfig, LimitError, SignalKind


def _cfg(**kw: float | None) -> EngineConfig:
    base: dict = dict(
        fast=3, slow=6, history=6, halflife_s=5.0, horizon_s=10.0, warmup_ticks=5, warmup_s=0.0
    )
    base.update(kw)
    return EngineConfig(**base)


def test_zero_and_negative_values_are_taken_for_additive_symbols_only() -> None:
    eng = Engine(_cfg(default_band=None), additive=["cpu.*"])
    ids = eng.register(["cpu.iowait", "ACME"])
    eng.update(np.repeat(ids, 3), np.arange(6.0), [0.0, 5.0, -1.5, 0.0, -2.0, 10.0])
    st = eng.state()
    assert st.additive.tolist() == [True, False]
    assert st.n_ticks.tolist() == [3, 1]
    assert float(st.last[0]) == -1.5
    assert eng.skipped == 2  # ACME's 0 and -2: not prices
    eng.update([ids[0]], [7.0], [math.inf])
    assert eng.skipped == 3


def test_additive_patterns_are_shell_patterns_given_as_a_collection() -> None:
    eng = Engine(_cfg(), additive=("cpu.*", "load.1m"))
    assert [eng.is_additive(s) for s in ("cpu.user", "load.1m", "load.5m", "CPU.user")] == [
        True,
        True,
        False,
        False,
    ]
    assert eng.additive == ("cpu.*", "load.1m")
    with pytest.raises(TypeError, match="not one str"):
        Engine(_cfg(), additive="cpu.*")


def test_default_limits_of_a_quantity_are_a_band_of_its_size_and_none_at_zero() -> None:
    eng = Engine(_cfg(default_band=0.02), additive=["g*"])
    ids = eng.register(["g.zero", "g.below", "g.above"])
    eng.update(ids, [0.0, 0.0, 0.0], [0.0, -10.0, 10.0])
    st = eng.state()
    assert math.isnan(st.buy[0]) and math.isnan(st.sell[0])
    assert (float(st.buy[1]), float(st.sell[1])) == pytest.approx((-10.2, -9.8))
    assert (float(st.buy[2]), float(st.sell[2])) == pytest.approx((9.8, 10.2))


def test_limits_at_zero_or_below_are_refused_for_prices_and_taken_for_quantities() -> None:
    eng = Engine(_cfg(), additive=["temp.*"])
    eng.set_limits("temp.outside", buy=-5.0, sell=0.0)
    assert eng.limits("temp.outside") == (-5.0, 0.0)
    with pytest.raises(LimitError, match="positive"):
        eng.set_limits("ACME", buy=-5.0, sell=10.0)
    with pytest.raises(LimitError, match="below the sell limit"):
        eng.set_limits("temp.outside", buy=1.0, sell=-1.0)


def test_a_hit_below_zero_re_arms_once_the_value_is_back_by_the_hysteresis() -> None:
    eng = Engine(_cfg(default_band=None, hysteresis=0.1), additive=["t*"])
    (sid,) = eng.register(["temp"])
    eng.set_limits("temp", buy=-100.0)
    # Steps of 0.5 a second: down to -100 (a hit), up to -85 (back by more than 10% of
    # |limit|, above -90: re-armed), down to -100.5 (a second hit).
    values = np.concatenate(
        (
            np.arange(-80.0, -100.5, -0.5),
            np.arange(-99.5, -84.5, 0.5),
            np.arange(-85.5, -101.0, -0.5),
        )
    )
    fired = eng.update(np.full(values.size, sid), np.arange(values.size, dtype=float), values)
    hits = [(s.seq, s.price) for s in fired if s.kind is SignalKind.BUY]
    assert hits == [(1, -100.0), (2, -100.0)]


def test_a_gauge_jittering_about_a_limit_of_zero_hits_once_not_at_every_crossing() -> None:
    """At a limit of 0 a fraction of the limit is no distance: the value must also move
    back by two of its typical moves from one tick to the next before a hit re-arms."""
    rng = np.random.default_rng(3)
    eng = Engine(_cfg(default_band=None), additive=["gauge"])
    (sid,) = eng.register(["gauge"])
    eng.set_limits("gauge", buy=0.0, sell=1.0)
    noise = rng.normal(0.0, 0.02, 2000)
    fired = eng.update(np.full(noise.size, sid), np.arange(noise.size, dtype=float), noise)
    crossings = int(np.count_nonzero((noise[1:] <= 0.0) & (noise[:-1] > 0.0)))
    hits = sum(s.kind is SignalKind.BUY for s in fired)
    assert crossings > 400 and 1 <= hits <= 10, (crossings, hits)


def test_a_gauge_near_zero_is_forecast_as_arithmetic_brownian_motion() -> None:
    """Many gauges wander as driftless arithmetic Brownian motion through zero (volatility
    1 per square-root second, a tick every 0.25 s). After two minutes, each symbol's
    probability of reaching a threshold k above its start within the 20 s horizon
    (k from 1 to 12: 0.2 to 2.7 standard deviations of the move over the horizon) is
    compared with what the next 20 s of its path do: calibrated overall and per third of
    the forecasts, ordered by p. A log-price model cannot even take these values."""
    rng = np.random.default_rng(7)
    n_sym, step, warm, horizon = 600, 0.25, 120.0, 20.0
    cfg = _cfg(
        fast=5,
        slow=20,
        history=20,
        halflife_s=30.0,
        horizon_s=horizon,
        warmup_ticks=20,
        default_band=None,
        calibrate_after_s=math.inf,  # the model as computed
    )
    eng = Engine(cfg, additive=["g*"])
    names = [f"g{i}" for i in range(n_sym)]
    ids = eng.register(names)
    n_warm, n_after = int(warm / step), int(horizon / step)
    paths = np.cumsum(rng.normal(0.0, math.sqrt(step), (n_warm + n_after, n_sym)), axis=0)
    distance = rng.uniform(1.0, 12.0, n_sym)
    t = 1.7e9 + step * np.arange(n_warm + n_after)
    for row in range(n_warm):
        eng.update(ids, np.full(n_sym, t[row]), paths[row])
    at = paths[n_warm - 1]
    assert (at < 0).any() and (at > 0).any()
    for name, x, d in zip(names, at.tolist(), distance.tolist(), strict=True):
        eng.set_limits(name, sell=x + d)
    p = eng.state().p_sell.copy()
    hit = (paths[n_warm:] >= at + distance).any(axis=0)
    assert np.isfinite(p).all()
    assert abs(p.mean() - hit.mean()) < 0.05, (p.mean(), hit.mean())
    order = np.argsort(p)
    for third in np.array_split(order, 3):
        assert abs(p[third].mean() - hit[third].mean()) < 0.09, (
            p[third].mean(),
            hit[third].mean(),
        )
    # The forecast ranks the risk: most hits among the likeliest third, fewest in the least.
    low, _, high = (hit[third].mean() for third in np.array_split(order, 3))
    assert high > low + 0.3
