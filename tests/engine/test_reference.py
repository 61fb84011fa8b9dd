"""The engine against independent references on the same ticks: a per-tick loop and pandas."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from reference import Reference
from streams import random_walk

from engine import Engine, EngineConfig, Signal

RTOL = 1e-9


def _run_engine(
    cfg: EngineConfig,
    ids: np.ndarray,
    t: np.ndarray,
    price: np.ndarray,
    batch: int,
    additive: tuple[str, ...] = (),
) -> tuple[Engine, list[Signal], list[tuple[int, dict[str, np.ndarray]]]]:
    """Feed the ticks in batches; keep each batch's end state for comparison."""
    eng = Engine(cfg, additive=additive)
    eng.register([f"S{i}" for i in range(int(ids.max()) + 1)])
    signals: list[Signal] = []
    snapshots = []
    for a in range(0, ids.shape[0], batch):
        signals += eng.update(ids[a : a + batch], t[a : a + batch], price[a : a + batch])
        st = eng.state()
        snapshots.append(
            (
                min(a + batch, ids.shape[0]),
                {
                    f: getattr(st, f)
                    for f in (
                        "sma_fast",
                        "sma_slow",
                        "ema",
                        "drift",
                        "drift_se",
                        "vol",
                        "p_buy",
                        "p_sell",
                        "eta_buy",
                        "eta_sell",
                    )
                },
            )
        )
    return eng, signals, snapshots


#: The median time to a limit is a root found by a fixed number of Newton steps in the
#: engine and by Brent's method in the reference.
ETA_RTOL = 1e-7


def _assert_close(
    actual: float, expected: float, what: str, rtol: float = RTOL, atol: float = 1e-300
) -> None:
    if math.isnan(expected):
        assert math.isnan(actual), f"{what}: {actual} where the reference has nan"
    else:
        assert actual == pytest.approx(expected, rel=rtol, abs=atol), what


#: Means of values of order 1 that cross zero cancel to rounding error (1e-17 where the
#: reference's fsum gives 1e-18): compared to within this, not relatively.
GAUGE_ATOL = 1e-12


def _assert_eta(actual: float, expected: float, p: float, what: str) -> None:
    """The engine's time is nan where its ``p`` underflows (documented in
    :func:`engine.limit_forecast.limit_etas`); the reference works in log space and still
    finds one there."""
    if math.isnan(actual) and p < 1e-300:
        return
    _assert_close(actual, expected, what, ETA_RTOL)


@pytest.mark.parametrize(
    ("batch", "kind"),
    [
        *((b, "prices") for b in (1, 13, 500, 4000)),
        # A batch of one tick takes the same path whatever the ticks: prices cover it.
        *((b, "cents") for b in (13, 500)),
        *((b, "gauges") for b in (13, 500)),
        # A WATCH floor above alert_p binds even where the map is the identity.
        (500, "floor"),
        # Nights: a market that closes for an hour, three times.
        *((b, "sessions") for b in (13, 500)),
    ],
)
def test_indicators_forecasts_and_signals_match_the_per_tick_reference(
    batch: int, kind: str
) -> None:
    """``cents``: prices near 5 on a 0.01 grid, a step of about a fifth of a percent, so
    the forecast aims at grid levels (:func:`engine.limit_forecast.grid_limits`).
    ``gauges``: half the symbols are additive quantities on a 0.01 grid that wander
    through zero (from -5 to 4), among log prices in the same batches. ``floor``: prices
    with a WATCH floor of 0.8, above ``alert_p``. ``sessions``: the market closes for an
    hour three times (each symbol reopens, :func:`engine.core.reopens`)."""
    floor = 0.8 if kind == "floor" else EngineConfig().watch_floor
    cfg = EngineConfig(
        fast=5,
        slow=20,
        history=20,
        halflife_s=2.0,
        horizon_s=5.0,
        hysteresis=0.001,
        default_band=0.01,
        warmup_ticks=12,
        warmup_s=0.8,
        calibrate_after_s=math.inf,  # the forecasts as computed (the map: test_self_calibration)
        watch_floor=floor,
    )
    nights = 3 if kind == "sessions" else 0
    ids, t, price = random_walk(
        4000, 6, seed=3, step_s=0.1, vol=0.003, backwards=0.03, repeats=0.1, same_time=0.05,
        closures=nights, closed_s=3600.0,
    )  # fmt: skip
    additive: tuple[str, ...] = ()
    if kind == "cents":
        price = np.round(price / 20.0, 2)
    elif kind == "gauges":
        additive = ("S0", "S2", "S4")
        gauge = np.isin(ids, (0, 2, 4))
        price[gauge] = np.round((price[gauge] - 100.0 * (ids[gauge] + 1)) * 0.2, 2)
        assert (price[gauge] < 0).any() and (price[gauge] > 0).any()
        assert (price[gauge] == 0).any()
    _, signals, snapshots = _run_engine(cfg, ids, t, price, batch, additive)
    ref = Reference(
        fast=5,
        slow=20,
        halflife_s=2.0,
        horizon_s=5.0,
        hysteresis=0.001,
        default_band=0.01,
        warmup_ticks=12,
        warmup_s=0.8,
        watch_floor=floor,
        additive=frozenset(additive),
    )
    expected = []
    checkpoints = dict(snapshots)
    for i, (sid, ti, pi) in enumerate(zip(ids.tolist(), t.tolist(), price.tolist(), strict=True)):
        expected += ref.tick(f"S{sid}", ti, pi)
        if i + 1 in checkpoints:
            snap = checkpoints[i + 1]
            for name, s in ref.symbols.items():
                j = int(name[1:])
                f, w = ref.sma(name)
                mu, sigma = ref.drift_vol(name)
                atol = GAUGE_ATOL if s.additive else 1e-300
                _assert_close(snap["sma_fast"][j], f, f"sma_fast {name} @{i}", atol=atol)
                _assert_close(snap["sma_slow"][j], w, f"sma_slow {name} @{i}", atol=atol)
                _assert_close(snap["ema"][j], ref.ema(name), f"ema {name} @{i}", atol=atol)
                _assert_close(snap["drift"][j], mu, f"drift {name} @{i}", atol=atol)
                _assert_close(snap["drift_se"][j], ref.drift_se(name), f"drift_se {name} @{i}")
                _assert_close(snap["vol"][j], sigma, f"vol {name} @{i}")
                _assert_close(snap["p_buy"][j], s.p_buy, f"p_buy {name} @{i}")
                _assert_close(snap["p_sell"][j], s.p_sell, f"p_sell {name} @{i}")
                _assert_eta(snap["eta_buy"][j], s.eta_buy, s.p_buy, f"eta_buy {name} @{i}")
                _assert_eta(snap["eta_sell"][j], s.eta_sell, s.p_sell, f"eta_sell {name} @{i}")
    assert len(expected) > 50, "the stream should exercise the signal rules"
    kinds = {k for _, k, *_ in expected}
    assert kinds == {"BUY_WATCH", "SELL_WATCH", "BUY", "SELL", "GOLDEN_CROSS", "DEATH_CROSS"}
    assert [(s.symbol, s.kind.name, s.seq, s.t, s.price) for s in signals] == [
        e[:5] for e in expected
    ]
    for s, e in zip(signals, expected, strict=True):
        _assert_close(s.limit, e[5], f"limit of {s.id}")
        _assert_close(s.p_hit, e[6], f"p_hit of {s.id}")
        _assert_close(s.eta_s, e[7], f"eta_s of {s.id}", ETA_RTOL)


def test_limit_changes_between_batches_match_the_reference() -> None:
    cfg = EngineConfig(
        fast=3, slow=8, history=8, halflife_s=1.0, horizon_s=3.0, calibrate_after_s=math.inf
    )
    ids, t, price = random_walk(3000, 3, seed=11, step_s=0.2, vol=0.004)
    eng = Engine(cfg)
    eng.register(["S0", "S1", "S2"])
    ref = Reference(fast=3, slow=8, halflife_s=1.0, horizon_s=3.0)
    rng = np.random.default_rng(5)
    got: list[Signal] = []
    want = []
    for a in range(0, 3000, 100):
        got += eng.update(ids[a : a + 100], t[a : a + 100], price[a : a + 100])
        for i in range(a, min(a + 100, 3000)):
            want += ref.tick(f"S{ids[i]}", float(t[i]), float(price[i]))
        name = f"S{rng.integers(3)}"
        last = ref.symbols[name].price
        buy, sell = last * (1 - rng.uniform(0.001, 0.02)), last * (1 + rng.uniform(0.001, 0.02))
        side = rng.integers(3)
        b, s = (buy, None) if side == 0 else (None, sell) if side == 1 else (buy, sell)
        cur_buy, cur_sell = eng.limits(name)
        if (b or cur_buy) >= (s or cur_sell):  # a single new side would cross the other
            b, s = buy, sell
        eng.set_limits(name, buy=b, sell=s)
        ref.set_limits(name, buy=b, sell=s)
        st = eng.state()
        j = int(name[1:])
        _assert_close(st.p_buy[j], ref.symbols[name].p_buy, "p_buy right after set_limits")
        _assert_close(st.p_sell[j], ref.symbols[name].p_sell, "p_sell right after set_limits")
    assert len(want) > 30
    assert [(s.symbol, s.kind.name, s.seq, s.t) for s in got] == [w[:4] for w in want]


def test_averages_match_pandas_rolling_and_ewm_with_times() -> None:
    cfg = EngineConfig(fast=7, slow=30, history=2000, halflife_s=3.0)
    ids, t, price = random_walk(6000, 5, seed=7, step_s=0.05, vol=0.002)
    eng = Engine(cfg)
    eng.register([f"S{i}" for i in range(5)])
    rng = np.random.default_rng(1)
    cuts = np.sort(rng.choice(np.arange(1, 6000), 40, replace=False))
    ema_seen: list[tuple[int, int, float]] = []  # (symbol, tick count, ema)
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, 6000], strict=True):
        eng.update(ids[a:b], t[a:b], price[a:b])
        st = eng.state()
        ema_seen += [(j, int(st.n_ticks[j]), float(st.ema[j])) for j in range(5)]
    df = pd.DataFrame({"sym": ids, "t": t, "p": price})
    for j in range(5):
        g = df[df.sym == j]
        hist = eng.history(f"S{j}")
        assert hist.price.shape[0] == len(g) <= cfg.history
        np.testing.assert_array_equal(hist.price, g.p.to_numpy())
        np.testing.assert_array_equal(hist.t, g.t.to_numpy())
        fast = g.p.rolling(7, min_periods=1).mean().to_numpy()
        slow = g.p.rolling(30, min_periods=1).mean().to_numpy()
        np.testing.assert_allclose(hist.sma_fast, fast, rtol=RTOL)
        np.testing.assert_allclose(hist.sma_slow, slow, rtol=RTOL)
        times = pd.to_datetime(g.t.to_numpy(), unit="s")
        ewm = g.p.ewm(halflife=pd.Timedelta(seconds=3.0), times=times).mean().to_numpy()
        checked = [(n, e) for s, n, e in ema_seen if s == j and n > 0]
        assert len(checked) > 30
        for n, e in checked:
            assert e == pytest.approx(ewm[n - 1], rel=RTOL)


def test_drift_and_volatility_match_pandas_ewm_of_returns() -> None:
    # vol = sqrt(min(max(sum(w r^2) + 2 sum(w r r_prev), sum(w r^2) / 10) / sum(w dt),
    #                pi/2 sum(w |r r_prev|) / max(sum(w sqrt(dt dt_prev)), pi/4 sum(w dt))))
    # and
    # drift = sum(w_long r) / sum(w_long dt): ratios of pandas' ewm(times=) means of the
    # log returns, their squares, their products with the return before and their time
    # steps, the drift's at the drift half-life (4 x 3 s), the volatility's on its clock.
    cfg = EngineConfig(halflife_s=3.0)
    ids, t, price = random_walk(4000, 5, seed=11, step_s=0.05, vol=0.002)
    eng = Engine(cfg)
    eng.register([f"S{i}" for i in range(5)])
    drift, vol = np.full(4000, np.nan), np.full(4000, np.nan)
    rng = np.random.default_rng(2)
    cuts = np.sort(rng.choice(np.arange(1, 4000), 300, replace=False))
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, 4000], strict=True):
        eng.update(ids[a:b], t[a:b], price[a:b])
        st = eng.state()
        last = b - 1  # the batch's last tick: its symbol's values are the state's
        drift[last], vol[last] = st.drift[ids[last]], st.vol[ids[last]]
    steps = pd.DataFrame({"lp": np.log(price), "ts": t, "sym": ids})
    d = steps.groupby("sym")[["lp", "ts"]].diff()
    # each return paired with the latest non-zero one before it
    moves = d["lp"].where(d["lp"] != 0)
    prev = moves.groupby(ids).transform(lambda x: x.ffill().shift()).fillna(0.0)
    # and the time step of that return
    prev_dt = (
        d["ts"].where(d["lp"] != 0).groupby(ids).transform(lambda x: x.ffill().shift()).fillna(0.0)
    )
    w = pd.DataFrame(
        {
            "sym": ids,
            "r": d["lp"],
            "r2": d["lp"] ** 2,
            "rr": d["lp"] * prev,
            "bp": (d["lp"] * prev).abs(),
            "rdt": np.sqrt(d["ts"] * prev_dt),
            "dt": d["ts"],
        }
    )
    times = pd.Series(pd.to_datetime(t, unit="s"))

    def ewm(halflife: float) -> pd.DataFrame:
        return (
            w.groupby("sym")[["r", "r2", "rr", "bp", "rdt", "dt"]]
            .ewm(halflife=pd.Timedelta(seconds=halflife), times=times)
            .mean()
            .reset_index(level=0, drop=True)
            .sort_index()
        )

    m_long = ewm(cfg.drift_halflife)
    # The volatility's weights run on its own clock: time steps capped at
    # halflife / vol_returns (3 s / 8) each, summed per symbol.
    clock = d["ts"].fillna(0.0).clip(upper=3.0 / cfg.vol_returns).groupby(ids).cumsum()
    times = pd.Series(pd.to_datetime(clock.to_numpy(), unit="s"))
    m = ewm(3.0)
    pd_drift = (m_long["r"] / m_long["dt"]).to_numpy()
    noise_robust = np.fmax(m["r2"] + 2 * m["rr"], 0.1 * m["r2"]) / m["dt"]
    pairs_time = np.fmax(m["rdt"], np.pi / 4 * m["dt"])
    bipower = np.where(m["bp"] > 0, np.pi / 2 * m["bp"] / pairs_time, np.inf)
    pd_vol = np.sqrt(np.fmin(noise_robust, bipower)).to_numpy()
    seen = np.isfinite(drift) & np.isfinite(pd_drift)
    assert seen.sum() > 250
    # pandas weighs by datetimes: epoch seconds ~1.7e9 times 1e9 lose ~100 ns to rounding,
    # which moves weights of 50 ms steps by ~1e-8 relative; hence not RTOL here.
    np.testing.assert_allclose(vol[seen], pd_vol[seen], rtol=1e-7)
    # A drift near zero has no relative scale: compare it on the volatility's.
    assert np.max(np.abs(drift[seen] - pd_drift[seen]) / vol[seen]) < 1e-7
