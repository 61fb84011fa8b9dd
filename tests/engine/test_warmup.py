"""No confident forecast from noise: the warm-up, and the drift shrunk by its standard error."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

import engine.core
from engine import Engine, EngineConfig, Signal, first_passage
from engine.forecast import (
    MONITORING_SHIFT,
    median_hit_time,
    mixed_first_passage,
    shrink_drift,
)

# Defaults but no limits from a band: warm-up after 20 ticks and a weighted span of 15 s.
DEFAULTS = EngineConfig(default_band=None)


def feed_ticks(eng: Engine, t: np.ndarray, price: np.ndarray) -> list[tuple[int, Signal]]:
    """Feed one symbol's ticks one update each; the signals with the index of their tick."""
    out = []
    for i in range(t.shape[0]):
        out += [(i, s) for s in eng.update([0], [t[i]], [price[i]])]
    return out


# --------------------------------------------------------------------------- warm-up


def test_no_watch_before_the_warmup_ticks_even_on_a_steep_path_but_hits_fire() -> None:
    eng = Engine(DEFAULTS)
    eng.register(["UP"])
    eng.set_limits("UP", buy=90.0, sell=103.0)
    t = np.arange(40.0)  # a tick a second: the weighted span passes 15 s at tick 19
    price = 100.0 * 1.004 ** np.arange(40)  # +0.4 % a second, without a pause
    early = feed_ticks(eng, t[:10], price[:10])
    st = eng.state()
    # The limit at 103 is reached at tick 8, within the warm-up: a fact, not a forecast.
    assert [(i, s.kind.name) for i, s in early] == [(8, "SELL")]
    assert math.isnan(st.p_buy[0]) and math.isnan(st.eta_buy[0])
    assert (st.p_sell[0], st.eta_sell[0]) == (1.0, 0.0), "at the limit: certain and immediate"
    assert np.isfinite(st.drift[0]) and np.isfinite(st.drift_se[0]), "estimates still shown"
    eng.set_limits("UP", sell=115.0)
    st = eng.state()
    assert math.isnan(st.p_sell[0]) and math.isnan(st.eta_sell[0])
    late = feed_ticks(eng, t[10:], price[10:])
    watches = [(i + 10, s) for i, s in late if s.kind.name == "SELL_WATCH"]
    assert watches, "the same path warns once warmed up"
    first, watch = watches[0]
    # With the drift's window at 120 s it warned at the first tick that may forecast
    # (tick 19, counting from 0); at 600 s its first minutes count five times as many
    # looks (see DRIFT_SETTLED_FILL) and it warns at tick 31, before the limit (tick 35).
    reach = int(np.argmax(price >= 115.0))
    assert DEFAULTS.warmup_ticks - 1 <= first < reach - 3, (first, reach)
    assert watch.p_hit >= DEFAULTS.alert_p and watch.price < 115.0


def test_a_burst_of_ticks_in_a_fraction_of_a_second_is_not_a_history(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = EngineConfig(default_band=None, horizon_s=5.0)
    n = 100
    burst_t = np.arange(n) * 0.01  # 100 ticks in one second, +1 % in all
    burst_p = 100.0 * 1.0001 ** np.arange(n)
    for fill, expected in ((0.0, ["SELL_WATCH"]), (engine.core.DRIFT_SETTLED_FILL, [])):
        # Without the warm-up's span the burst warned, its drift trusted at once; the
        # drift's error counted once per second of it in 121 s says no more.
        monkeypatch.setattr(engine.core, "DRIFT_SETTLED_FILL", fill)
        no_span = Engine(replace(cfg, warmup_s=0.0))
        no_span.register(["FAST"])
        no_span.set_limits("FAST", buy=98.0, sell=102.0)
        assert [s.kind.name for _, s in feed_ticks(no_span, burst_t, burst_p)] == expected
    monkeypatch.undo()
    eng = Engine(cfg)
    eng.register(["FAST"])
    eng.set_limits("FAST", buy=98.0, sell=102.0)
    assert feed_ticks(eng, burst_t, burst_p) == []
    st = eng.state()
    assert st.n_ticks[0] >= cfg.warmup_ticks
    assert math.isnan(st.p_sell[0]) and math.isnan(st.p_buy[0])
    # A tick a second from then on: forecasts once the weighted span reaches 15 s.
    t = 1.0 + np.arange(30.0)
    price = np.full(30, burst_p[-1])
    seen = []
    for i in range(30):
        eng.update([0], [t[i]], [price[i]])
        seen.append(bool(np.isfinite(eng.state().p_sell[0])))
    assert not seen[0] and seen[-1]
    assert seen == sorted(seen), "once warm, a symbol stays warm on steady ticks"


# --------------------------------------------------------------------------- shrinkage


def test_forecast_drift_is_shrunk_as_computed_by_hand() -> None:
    # Half-lives 1 s, ticks at 0, 1, 2, 3 s, log returns 0.02, -0.01, 0.02. At the last
    # tick the returns weigh 1/4, 1/2, 1: sum(w r) = 0.02, sum(w dt) = 1.75 = span,
    # sum(w r**2) = 5.5e-4, sum(w r_i r_(i-1)) = -3e-4 (so the noise-robust variance is
    # floored at 5.5e-5) and sum(w |r_i r_(i-1)|) = 3e-4 (bipower 4.7e-4): vol**2 =
    # 5.5e-5 / 1.75, drift = 0.02 / 1.75, se**2 = vol**2 / span, B = se**2 / drift**2,
    # and the forecast's drift has mean drift (1 - B) and variance se**2 (1 - B). Limits
    # move away by 0.5826 vol sqrt(mean dt), mean dt = 1.75 / (1/8 + 1/4 + 1/2 + 1).
    # (vol_returns=1: the volatility's clock steps a whole second per tick, as time does.)
    cfg = EngineConfig(
        halflife_s=1.0,
        vol_returns=1,
        drift_halflife_s=1.0,
        horizon_s=10.0,
        default_band=None,
        warmup_ticks=2,
        warmup_s=0.0,
    )
    eng = Engine(cfg)
    eng.register(["A"])
    eng.set_limits("A", buy=90.0, sell=110.0)
    price = 100.0 * np.exp(np.cumsum([0.0, 0.02, -0.01, 0.02]))
    eng.update([0], [0.0], [price[0]])
    eng.update([0], [1.0], [price[1]])
    st = eng.state()
    # One return: (drift / se)**2 = 1, no drift at all; p is the driftless one.
    assert st.drift[0] == pytest.approx(0.02) and st.drift_se[0] == pytest.approx(0.02)
    shift = MONITORING_SHIFT * 0.02 * math.sqrt(1.0 / 1.5)
    d_sell = math.log(110.0 / price[1]) + shift
    assert st.p_sell[0] == pytest.approx(float(first_passage(d_sell, 0.0, 0.02, 10.0)[0]))
    eng.update([0, 0], [2.0, 3.0], price[2:])
    st = eng.state()
    vol = math.sqrt(5.5e-5 / 1.75)
    drift = 0.02 / 1.75
    se2 = vol**2 / 1.75
    keep = 1.0 - se2 / drift**2
    assert 0 < keep < 1
    assert st.drift[0] == pytest.approx(drift, rel=1e-12)
    assert st.vol[0] == pytest.approx(vol, rel=1e-12)
    assert st.drift_se[0] == pytest.approx(math.sqrt(se2), rel=1e-12)
    mean, var = drift * keep, se2 * keep
    shift = MONITORING_SHIFT * vol * math.sqrt(1.75 / 1.875)
    d_sell = math.log(110.0 / price[3]) + shift
    d_buy = math.log(price[3] / 90.0) + shift
    p_sell = mixed_first_passage(d_sell, mean, var, vol, 10.0)
    p_buy = mixed_first_passage(d_buy, -mean, var, vol, 10.0)
    assert st.p_sell[0] == pytest.approx(float(p_sell), rel=1e-12)
    assert st.p_buy[0] == pytest.approx(float(p_buy), rel=1e-12)
    eta = median_hit_time(d_sell, mean, vol, 10.0, drift_var=var)
    # and the wait for the tick that shows the limit reached: ln 2 of the mean gap
    eta += math.log(2.0) * 1.75 / 1.875
    assert st.eta_sell[0] == pytest.approx(float(eta), rel=1e-9)


def test_shrinkage_keeps_the_sign_never_grows_and_zeroes_within_one_error() -> None:
    rng = np.random.default_rng(8)
    mu = rng.normal(0.0, 1e-3, 10_000)
    se = np.abs(rng.normal(0.0, 1e-3, 10_000))
    out = shrink_drift(mu, se)
    z = np.abs(mu) / se
    assert (out[z <= 1] == 0).all()
    big = z > 1
    assert (np.sign(out[big]) == np.sign(mu[big])).all()
    assert (np.abs(out) <= np.abs(mu)).all()
    np.testing.assert_allclose(out[big], mu[big] * (1 - 1 / z[big] ** 2), rtol=1e-9)
    assert shrink_drift(1e-3, 0.0) == 1e-3, "an exact drift is kept"
    assert np.isnan(shrink_drift([np.nan, 1.0], [1.0, np.nan])).all()


def test_a_genuine_trend_still_warns_well_ahead_of_the_crossing() -> None:
    # +0.04 %/s against a noise of 0.05 %/sqrt(s): after a minute the drift lies several
    # standard errors from zero, and the limit 5 % up is some two minutes away.
    rng = np.random.default_rng(2)
    n, dt = 600, 0.5
    t = np.arange(n) * dt
    price = 100.0 * np.exp(np.cumsum(rng.normal(4e-4 * dt, 5e-4 * math.sqrt(dt), n)))
    eng = Engine(DEFAULTS)
    eng.register(["UP"])
    eng.set_limits("UP", buy=80.0, sell=105.0)
    z_at: dict[str, float] = {}
    fired: dict[str, Signal] = {}
    for i in range(n):
        for s in eng.update([0], [t[i]], [price[i]]):
            st = eng.state()
            fired.setdefault(s.kind.name, s)
            z_at.setdefault(s.kind.name, float(st.drift[0] / st.drift_se[0]))
    assert set(fired) == {"SELL_WATCH", "SELL"}
    lead = fired["SELL"].t - fired["SELL_WATCH"].t
    assert lead >= DEFAULTS.horizon_s / 3, f"warned only {lead:.1f} s ahead"
    assert z_at["SELL_WATCH"] > 3.0, "the drift was many standard errors from zero"
    assert fired["SELL_WATCH"].eta_s < DEFAULTS.horizon_s


def test_driftless_walk_far_from_the_limits_stays_unlikely() -> None:
    # Limits kept three sigma*sqrt(H) from the price: with no drift p is 0.3 %. The
    # estimated drift is pure noise; taken at face value it lifts p tenfold at times.
    h, sigma, dt, n = 8.0, 4e-4, 0.25, 1200
    cfg = EngineConfig(fast=5, slow=50, history=50, halflife_s=4.0, horizon_s=h, default_band=None)
    d = 3.0 * sigma * math.sqrt(h)
    rng = np.random.default_rng(0)
    t = np.arange(n) * dt
    price = 100.0 * np.exp(np.cumsum(rng.normal(0.0, sigma * math.sqrt(dt), n)))
    eng = Engine(cfg)
    eng.register(["FLAT"])
    shrunk, raw, no_drift, watches = [], [], [], 0
    for i in range(n):
        watches += sum(s.kind.name.endswith("WATCH") for s in eng.update([0], [t[i]], [price[i]]))
        eng.set_limits("FLAT", buy=price[i] * math.exp(-d), sell=price[i] * math.exp(d))
        st = eng.state()
        if math.isnan(st.p_sell[0]):
            continue
        shrunk += [st.p_sell[0], st.p_buy[0]]
        raw += [float(first_passage(d, m, st.vol[0], h)[0]) for m in (st.drift[0], -st.drift[0])]
        no_drift.append(abs(st.drift[0]) <= st.drift_se[0])  # the posterior mean is 0
    p0 = float(first_passage(d, 0.0, sigma, h)[0])
    assert len(no_drift) > 1000
    assert watches == 0
    assert max(shrunk) < cfg.alert_p / 2
    assert np.mean(no_drift) > 0.7, "most of the time the forecast sees no drift at all"
    # the plug-in of the estimated drift lifts p; its posterior keeps it near p0
    assert np.mean(shrunk) < 2 * p0, (np.mean(shrunk), p0)
    assert np.mean(shrunk) < np.mean(raw), (np.mean(shrunk), np.mean(raw))
    assert max(raw) > max(shrunk)


def test_repeated_prices_do_not_hide_the_volatility() -> None:
    # A feed that sends every tick twice (or a price that often stands still) has a zero
    # return between the copies; the products of neighbouring returns skip it.
    rng = np.random.default_rng(4)
    n = 400
    t = np.arange(n) * 0.5
    price = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, n)))
    cfg = EngineConfig(default_band=None)
    once, twice = Engine(cfg), Engine(cfg)
    for eng in (once, twice):
        eng.register(["A"])
    once.update([0] * n, t, price)
    twice.update([0] * (2 * n), np.repeat(t, 2), np.repeat(price, 2))
    vol_once, vol_twice = once.state().vol[0], twice.state().vol[0]
    assert vol_once > 0
    assert vol_twice == pytest.approx(vol_once, rel=1e-9)


def test_one_jump_is_not_taken_for_a_drift() -> None:
    # A minute of prices bouncing 0.01 % either way, then one jump of 2 % upwards. The
    # jump-robust vol hardly moves, but the drift is the mean of all returns, jump
    # included, and so is its error: the jump alone is about one standard error out, so
    # the forecast keeps little of it (against the jump-robust vol it was eight errors out).
    eng = Engine(EngineConfig(default_band=None))
    eng.register(["A"])
    bounce = 100.0 * np.exp(0.0001 * (np.arange(60) % 2))
    eng.update(np.zeros(60, np.int32), np.arange(60.0), bounce)
    eng.update([0], [60.0], [bounce[-1] * math.exp(0.02)])
    st = eng.state()
    assert st.drift[0] > 0
    z2 = (st.drift[0] / st.drift_se[0]) ** 2
    assert 1.0 <= z2 <= 1.1, "the jump is about its own error: (1 - 1/z2) of it is kept"
    # Against the jump-robust vol over the time the drift covers, it looked many out.
    span = float(np.sum(0.5 ** ((60.0 - np.arange(1.0, 61.0)) / eng.config.drift_halflife)))
    assert (st.drift[0] / (st.vol[0] / math.sqrt(span))) ** 2 > 50.0


# --------------------------------------------------------------------------- drift settling


def _first_minute_watches(trend: float, seed: int = 0) -> list[tuple[int, float]]:
    """WATCHes (symbol, time) of 300 random walks in their first minute (3 ticks a
    second at random times, 0.39 % a minute, +-2 % limits), each with ``trend`` per
    second of log drift."""
    rng = np.random.default_rng(seed)
    symbols, per = 300, 180
    t = np.cumsum(rng.exponential(1 / 3, (symbols, per)), axis=1)
    steps = 3e-4 * rng.standard_normal((symbols, per)) + trend * np.diff(t, prepend=0.0)
    price = 100.0 * np.exp(np.cumsum(steps, axis=1))
    ids = np.repeat(np.arange(symbols), per)
    order = np.argsort(t.ravel(), kind="stable")
    eng = Engine(EngineConfig(default_band=0.02))
    eng.register([f"W{i:03d}" for i in range(symbols)])
    signals = eng.update(ids[order], t.ravel()[order], price.ravel()[order])
    return [(int(s.symbol[1:]), s.t) for s in signals if s.kind.name.endswith("WATCH")]


def test_a_drift_is_not_trusted_on_a_window_that_has_not_filled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Driftless walks: what a symbol's first minute shows is noise, and 300 symbols looked
    # at every tick give it many chances to look like a trend three errors out. None of
    # the first minute's WATCHes comes true (the limits are 5 minutes' sigma away).
    settled = _first_minute_watches(0.0)
    monkeypatch.setattr(engine.core, "DRIFT_SETTLED_FILL", 0.0)  # trusted at once
    at_once = _first_minute_watches(0.0)
    assert len(at_once) >= 10 and len(settled) <= len(at_once) // 3
    # A real trend (+2 % in a minute) stands out by far more: most of it is warned of
    # (80 % of what a drift trusted at once warns of with the window at 120 s, 79 % at
    # 600 s, where the first minutes count five times as many looks).
    monkeypatch.undo()
    trend = _first_minute_watches(2e-2 / 60)
    monkeypatch.setattr(engine.core, "DRIFT_SETTLED_FILL", 0.0)
    trend_at_once = _first_minute_watches(2e-2 / 60)
    assert len(trend) >= 0.75 * len(trend_at_once) >= 50
