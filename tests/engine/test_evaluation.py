"""The evaluation's measures, each against a hand-made case or a plain per-item loop, and
the oracle calibrated on a random walk (which validates the harness itself)."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from reference import watch_loop

import engine.evaluation
from engine import Engine, EngineConfig, Signal, SignalKind
from engine.evaluation import (
    BINS,
    ENGINE,
    NOISE_DRAWS,
    ORACLE,
    PROXIMITY,
    VOL_SCALED,
    Evaluation,
    SampledRun,
    Samples,
    calibration,
    evaluate,
    gap_noise_of,
    oracle_alerts,
    oracle_forecast,
    outcomes,
    sample_ticks,
    storm,
)
from engine.quality import BUY_SIDE, FALLBACK_BAND, SELL_SIDE, Events, TickOrder
from engine.watch import Discipline
from tui.runtime.evaluate import table


def test_docstring_examples_hold() -> None:
    result = doctest.testmod(engine.evaluation)
    assert result.attempted > 0
    assert result.failed == 0


# --- calibration -----------------------------------------------------------------------


def test_calibration_matches_a_plain_loop() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(size=2000) ** 2
    p[:5] = [0.0, 0.1, 0.9999, 1.0, 0.5]
    o = rng.uniform(size=2000) < p * 0.8
    c = calibration(p, o, min_bin=50)
    count, sp, so = [0] * 10, [0.0] * 10, [0.0] * 10
    for pi, oi in zip(p.tolist(), o.tolist(), strict=True):
        b = min(int(pi * 10), 9)
        count[b] += 1
        sp[b] += pi
        so[b] += oi
    assert c.count.tolist() == count
    gaps = [abs(sp[b] / count[b] - so[b] / count[b]) for b in range(10) if count[b] >= 50]
    assert c.gap == pytest.approx(max(gaps))
    brier = sum((pi - oi) ** 2 for pi, oi in zip(p.tolist(), o.tolist(), strict=True)) / len(p)
    base = sum(o.tolist()) / len(o)
    assert c.brier == pytest.approx(brier)
    assert c.skill == pytest.approx(1 - brier / (base * (1 - base)))
    assert c.to_dict()["forecasts"] == 2000


def test_calibration_gap_ignores_small_bins_and_is_nan_without_big_ones() -> None:
    c = calibration([0.95] * 3 + [0.05] * 60, [0] * 3 + [0] * 60, min_bin=50)
    assert c.gap == pytest.approx(0.05)  # the 0.95 bin (gap 0.95) has only 3
    assert math.isnan(calibration([0.5], [1]).gap)


def test_perfect_forecasts_have_brier_skill_one_and_the_base_rate_zero() -> None:
    assert calibration([1.0, 0.0, 1.0, 0.0], [1, 0, 1, 0]).skill == 1.0
    assert calibration([0.5] * 4, [1, 0, 1, 0]).skill == pytest.approx(0.0)


def test_gap_noise_matches_a_plain_loop_over_draws() -> None:
    # The same Poisson weights per cluster, each draw's decile sums added one sample at
    # a time.
    rng = np.random.default_rng(5)
    p = rng.uniform(size=600)
    o = (rng.uniform(size=600) < p).astype(float)
    cluster = rng.integers(100, 130, size=600)  # ids need not start at 0
    b = np.minimum((p * BINS).astype(np.int64), BINS - 1)
    counted = np.bincount(b, minlength=BINS) >= 50
    each, whole = gap_noise_of(b, p, o, cluster, counted)
    ids = sorted(set(cluster.tolist()))
    w = np.random.default_rng(0).poisson(1.0, (NOISE_DRAWS, len(ids)))
    observed = [
        sum(o[i] - p[i] for i in range(600) if b[i] == d) / sum(1 for i in range(600) if b[i] == d)
        for d in range(BINS)
    ]
    moved = np.zeros((NOISE_DRAWS, BINS))
    for r in range(NOISE_DRAWS):
        weight = {c: float(w[r, ids.index(c)]) for c in ids}
        for d in range(BINS):
            n = off = 0.0
            for i in range(600):
                if b[i] == d:
                    n += weight[int(cluster[i])]
                    off += weight[int(cluster[i])] * (o[i] - p[i])
            moved[r, d] = abs(off / n - observed[d]) if n else math.inf
    expect = np.percentile(moved[:, counted], 95, axis=0)
    assert each[counted] == pytest.approx(expect, rel=1e-9)
    assert np.isnan(each[~counted]).all()
    assert whole == pytest.approx(float(np.percentile(moved[:, counted].max(axis=1), 95)))


def _clustered(rng: np.random.Generator, shift: float) -> tuple[np.ndarray, ...]:
    """40 symbols of 150 forecasts in 0.2-0.8: half of the symbols come true 0.15 more
    often than forecast, half 0.15 less (calibrated over all, far from independent), and
    all of them ``shift`` more often."""
    p = rng.uniform(0.2, 0.8, size=(40, 150))
    lucky = np.where(rng.uniform(size=(40, 1)) < 0.5, 0.15, -0.15)
    hit = rng.uniform(size=p.shape) < p + lucky + shift
    symbol = np.repeat(np.arange(40), 150)
    return p.ravel(), hit.ravel(), symbol


def test_the_noise_covers_a_calibrated_forecasts_gap_and_a_naive_error_bar_does_not() -> None:
    rng = np.random.default_rng(11)
    within = naive_within = 0
    for _ in range(40):
        p, hit, symbol = _clustered(rng, 0.0)
        c = calibration(p, hit, clusters=(symbol,))
        within += c.gap <= c.gap_noise
        # two binomial standard errors of the decile with the gap, samples independent
        d = int(np.nanargmax(np.where(c.count >= 50, np.abs(c.mean_p - c.frequency), -1)))
        se = math.sqrt(c.mean_p[d] * (1 - c.mean_p[d]) / c.count[d])
        naive_within += c.gap <= 2 * se
        assert np.isnan(c.noise[c.count < 50]).all()
        assert (c.noise[c.count >= 50] > 0).all()
    assert within >= 34  # 95 % nominal: at least 85 % of 40
    assert naive_within <= 20  # the gaps are mostly beyond an independent-sample bar


def test_a_real_miscalibration_stands_out_of_the_noise() -> None:
    rng = np.random.default_rng(12)
    beyond = 0
    for _ in range(10):
        p, hit, symbol = _clustered(rng, -0.15)  # everything 0.15 less often than said
        c = calibration(p, hit, clusters=(symbol, np.arange(p.size) // 500))
        beyond += c.gap > c.gap_noise
    assert beyond == 10
    d = c.to_dict()
    assert d["gap_noise"] == pytest.approx(c.gap_noise, abs=1e-6)
    assert [x["noise"] is None for x in d["deciles"]] == (c.count < 50).tolist()


def test_without_clusters_the_noise_is_unknown() -> None:
    c = calibration([0.5] * 100, [1, 0] * 50)
    assert math.isnan(c.gap_noise) and np.isnan(c.noise).all()
    assert c.to_dict()["gap_noise"] is None and c.to_dict()["gap_noise_unbounded"] is False


def test_noise_too_wide_to_bound_is_told_from_unknown_in_json() -> None:
    """Both were null in --json: a script could not tell "cannot be bounded on these
    samples" from "not estimated"."""
    rng = np.random.default_rng(3)
    p = rng.uniform(0.2, 0.8, 400)
    hit = rng.uniform(size=400) < p
    c = calibration(p, hit, clusters=(np.zeros(400, dtype=int),))  # one cluster: no bound
    d = c.to_dict()
    assert c.gap_noise == math.inf and d["gap_noise"] is None and d["gap_noise_unbounded"]
    assert all(x["noise_unbounded"] for x in d["deciles"] if x["count"] >= 50)


# --- samples and outcomes --------------------------------------------------------------


def _ticks() -> TickOrder:
    # stream 0: creeps up to its sell limit 102 at t=20; stream 1: falls to buy 95 at 100
    ids = [0, 1, 0, 0, 1, 0, 1]
    t = [0.0, 1.0, 6.0, 12.0, 50.0, 20.0, 100.0]
    price = [100.0, 100.0, 101.0, 101.5, 97.0, 102.0, 95.0]
    order = np.argsort(t, kind="stable")
    return TickOrder(
        np.array(ids)[order], np.array(t)[order], np.array(price)[order], [90, 95], [102, 110]
    )


def test_outcomes_by_hand() -> None:
    ticks = _ticks()
    s = Samples(
        stream=np.array([0, 0, 0, 0, 1, 1, 1, 1]),
        t=np.array([5.0, 10.0, 25.0, 45.0, 0.5, 35.0, 45.0, 5.0]),
        side=np.array([SELL_SIDE] * 4 + [BUY_SIDE] * 3 + [SELL_SIDE], dtype=np.int8),
        p=np.full(8, 0.5),
    )
    counts, hit = outcomes(ticks, s, horizon_s=55.0)
    # Stream 0 ticks until 20 only, so its samples' horizons (5 + 55, 10 + 55) run past
    # its last tick -> left out, hit or not; 25 and 45: its latest tick (20) is at the
    # limit -> left out. Stream 1 (ticks until 100) at 0.5: no tick yet -> left out;
    # 35: buy reached at 100 > 90 -> 0; 45: reached at 100 <= 100 -> 1; sell side at 5:
    # never -> 0
    assert counts.tolist() == [False, False, False, False, False, True, True, True]
    assert hit[counts].tolist() == [False, True, False]
    assert hit.tolist()[:2] == [False, False]  # a hit is never counted where left out


def test_sample_ticks_takes_the_latest_tick_at_each_grid_time() -> None:
    ticks = _ticks()
    p = np.stack([np.arange(7.0) / 10, np.arange(7.0) / 100])  # in ticks' order
    s = sample_ticks(ticks, p, every_s=5.0)
    sell0 = (s.stream == 0) & (s.side == SELL_SIDE)
    # stream 0's ticks in order: t 0, 6, 12, 20 -> p index 0, 1, 2, 3
    assert s.t[sell0][:5].tolist() == [5.0, 10.0, 15.0, 20.0, 25.0]
    assert s.p[sell0][:5].tolist() == [0.0, 0.01, 0.02, 0.03, 0.03]


def test_sampled_run_samples_the_engine_state_at_each_grid_time_and_keeps_its_signals() -> None:
    rng = np.random.default_rng(1)
    n = 3000
    ids = rng.integers(0, 4, n).astype(np.int32)
    t = np.sort(rng.uniform(0, 300, n))
    price = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    cfg = EngineConfig(default_band=0.005, fast=5, slow=20, history=20)

    def fresh() -> Engine:
        eng = Engine(cfg)
        eng.register([f"S{i}" for i in range(4)])
        return eng

    runner = SampledRun(fresh())
    for a in range(0, n, 700):  # updates cut anywhere: the grid cuts them further
        runner.update(ids[a : a + 700], t[a : a + 700], price[a : a + 700])
    whole = fresh().update(ids, t, price)
    assert [s.id for s in runner.signals] == [s.id for s in whole]
    samples = runner.finish()
    for g in (50.0, 155.0, 295.0):
        ref = fresh()
        upto = t <= g
        ref.update(ids[upto], t[upto], price[upto])
        st = ref.state()
        at = (samples.t == g) & (samples.side == BUY_SIDE)
        np.testing.assert_array_equal(samples.p[at], st.p_buy[samples.stream[at]])


# --- oracle alerts ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
def test_oracle_alerts_match_a_per_tick_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    t = np.sort(rng.uniform(0, 200, n)).round(1)
    level = np.cumsum(rng.choice([-1, 0, 1], n))
    price = 100.0 + level * 0.3
    p_sell = np.clip(0.5 + level / 20 + rng.normal(0, 0.1, n), 0, 1)
    ticks = TickOrder(np.zeros(n, int), t, price, [80.0], [102.0])
    p = np.stack([np.zeros(n), p_sell])
    ev, at = oracle_alerts(ticks, p, alert_p=0.6, rule=Discipline(15.0, 6.0, 0.5))
    expected = watch_loop(
        t.tolist(), p_sell.tolist(), (price >= 102.0).tolist(), 0.6, 0.3, 15.0, 6.0
    )
    assert at.tolist() == expected
    assert ev.t.tolist() == t[expected].tolist()


def test_oracle_is_calibrated_on_a_plain_random_walk() -> None:
    # Dense ticks (20/s) so the continuous barrier is nearly what the ticks see; the true
    # drift and volatility into the same first-passage formula must be calibrated
    # within sampling error. Samples 5 s apart overlap a 60 s horizon, so the error
    # allowed is 4 binomial standard errors of a sample 12x smaller, plus 0.02 of bias
    # from discrete monitoring.
    rng = np.random.default_rng(5)
    n, rate, dur, sigma, mu, h = 60, 20.0, 600.0, 3e-4, 2e-6, 60.0
    t = np.arange(0, dur, 1 / rate)
    steps = mu / rate + sigma * np.sqrt(1 / rate) * rng.standard_normal((n, t.size))
    steps[:, 0] = 0
    price = (100 * np.exp(np.cumsum(steps, axis=1))).ravel()
    ids = np.repeat(np.arange(n), t.size)
    ticks = TickOrder(ids, np.tile(t, n), price, np.full(n, 99.6), np.full(n, 100.4))
    p, _ = oracle_forecast(ticks, np.full(ids.size, mu), np.full(ids.size, sigma), h)
    s = sample_ticks(ticks, p)
    counts, hit = outcomes(ticks, s, h)
    c = calibration(s.p[counts], hit[counts])
    big = c.count >= 50
    assert big.sum() >= 8
    err = 4 * np.sqrt(c.frequency * (1 - c.frequency) / (c.count / 12)) + 0.02
    assert (np.abs(c.mean_p - c.frequency)[big] <= err[big]).all()
    assert c.skill > 0.3


# --- scoring a run ---------------------------------------------------------------------


def _signal(kind: SignalKind, t: float, eta: float = math.nan, symbol: str = "A") -> Signal:
    return Signal(symbol, kind, 1, t, 100.0, 102.0, 0.7, eta)


def test_evaluate_rows_by_hand() -> None:
    # One stream, sell limit 102, an hour of ticks each second. The price reaches 102
    # at t=100 (from 101.9) and at t=2000; WATCHes at 60 (true, ETA 20: actual 40), 80
    # (true, ETA undefined), 1000 (false) and 1030 (false; storm of 2 within 60 s).
    t = np.arange(3601.0)
    price = np.full(t.size, 100.0)
    price[90:100] = 101.9
    price[100] = 102.0
    price[2000] = 102.5
    ticks = TickOrder(np.zeros(t.size, int), t, price, [50.0], [102.0])
    signals = [
        _signal(SignalKind.SELL_WATCH, 60.0, 20.0),
        _signal(SignalKind.SELL_WATCH, 80.0),
        _signal(SignalKind.SELL, 100.0, 0.0),
        _signal(SignalKind.SELL_WATCH, 1000.0, 50.0),
        _signal(SignalKind.SELL_WATCH, 1030.0, 50.0),
        _signal(SignalKind.SELL, 2000.0, 0.0),
    ]
    # p = 0.7 sampled at 50 s (in the stream's first 10 minutes: left out of the
    # calibration) and at 1950 s (the limit is reached at 2000: a hit)
    samples = Samples(
        np.array([0, 0]),
        np.array([50.0, 1950.0]),
        np.array([SELL_SIDE, SELL_SIDE], np.int8),
        np.array([0.7, 0.7]),
    )
    ev = evaluate(ticks, signals, {"A": 0}, samples, horizon_s=60.0)
    assert [r.name for r in ev.rows] == [ENGINE, PROXIMITY, VOL_SCALED]
    eng = ev.rows[0]
    q = eng.quality
    assert (q.alerts, q.false_alarms, q.crossings, q.forecast) == (4, 2, 2, 1)
    assert q.precision == 0.5 and q.recall == 0.5 and q.median_lead_s == 40.0
    assert eng.eta_ratio == pytest.approx(40.0 / 20.0)  # the one reached with an ETA
    assert eng.eta_defined == pytest.approx(1 / 2)  # two reached, one with an ETA
    assert eng.storm == 2
    assert ev.hours == 1.0 and ev.streams == 1
    assert eng.watches_per_hour == 4.0 and eng.false_per_hour == 2.0
    assert eng.calibration is not None and eng.calibration.forecasts == 1
    assert eng.calibration.frequency[7] == 1.0 and eng.calibration.mean_p[7] == 0.7
    prox = ev.row(PROXIMITY)
    assert prox is not None and prox.quality.precision >= 0.5
    assert eng.lead_ratio == pytest.approx(40.0 / prox.quality.median_lead_s)
    assert eng.alert_ratio == pytest.approx(4 / prox.quality.alerts)


def test_ratios_with_an_alarm_that_never_reaches_the_forecasts_precision_are_flagged() -> None:
    # The forecast's one WATCH comes true (precision 1). Before, the price came within
    # 0.0005 of the limit and turned back: every band of the proximity alarm warned
    # there in vain, so none reaches precision 1 and its most precise stands in.
    t = np.arange(3601.0)
    price = np.full(t.size, 100.0)
    price[1000:1010] = 101.9995
    price[1990:2000] = 101.9
    price[2000] = 102.0
    signals = [_signal(SignalKind.SELL_WATCH, 1960.0, 20.0), _signal(SignalKind.SELL, 2000.0)]

    def run() -> Evaluation:
        ticks = TickOrder(np.zeros(t.size, int), t, price, [50.0], [102.0])
        return evaluate(ticks, signals, {"A": 0}, Samples.concat([]), horizon_s=60.0)

    ev = run()
    eng, prox = ev.rows[0], ev.row(PROXIMITY)
    assert eng.quality.precision == 1.0
    assert prox is not None and prox.quality.precision == 0.5
    assert not eng.matched and not prox.matched and eng.to_dict()["matched"] is False
    text = table({"hovering": ev})
    assert "1.00*" in text and "not at equal precision" in text
    # Where the alarm reaches it, nothing is flagged.
    price[1000:1010] = 100.0
    ev = run()
    assert all(r.matched for r in ev.rows) and "*" not in table({"away": ev})
    # A forecast that sent no alert has no precision to match: its alarms stand at their
    # default thresholds, and were called matched ("matched": true, alerts× 0.00).
    price[:] = 100.0
    price[1000:1010] = 101.5  # within the proximity alarm's default band, never reached
    ticks = TickOrder(np.zeros(t.size, int), t, price, [50.0], [102.0])
    ev = evaluate(ticks, [], {"A": 0}, Samples.concat([]), horizon_s=60.0)
    assert ev.rows[0].quality.alerts == 0
    assert not any(r.matched for r in ev.rows), [(r.name, r.matched) for r in ev.rows]
    assert ev.rows[0].to_dict()["matched"] is False
    assert "the forecast sent no alert" in table({"silent": ev})
    # Nor does one none of whose alerts came true: at a precision of 0 every threshold
    # reached it, and the longest lead of all stood in, "matched" (a coarse price grid:
    # 0 of 64 WATCHes came true, alerts× 0.03 read as a pass).
    vain = [_signal(SignalKind.SELL_WATCH, 995.0, 20.0)]
    ev = evaluate(ticks, vain, {"A": 0}, Samples.concat([]), horizon_s=60.0)
    assert ev.rows[0].quality.alerts == 1 and ev.rows[0].quality.precision == 0.0
    assert not any(r.matched for r in ev.rows), [(r.name, r.matched) for r in ev.rows]
    prox = ev.row(PROXIMITY)
    assert prox is not None and prox.threshold == FALLBACK_BAND
    assert "none that came true" in table({"vain": ev})


def test_evaluate_adds_an_oracle_row_scored_like_the_engine() -> None:
    t = np.arange(600.0)
    price = 100.0 + np.minimum(t, 300) * 0.01  # a steady rise to 103 at t=300
    ticks = TickOrder(np.zeros(t.size, int), t, price, [50.0], [102.0])
    p, eta = oracle_forecast(ticks, np.full(t.size, 1e-4), np.full(t.size, 1e-4), 60.0)
    signals = [_signal(SignalKind.SELL, 200.0, 0.0)]
    samples = Samples.concat([])
    ev = evaluate(ticks, signals, {"A": 0}, samples, horizon_s=60.0, oracle=(p, eta, 0.6))
    oracle = ev.row(ORACLE)
    assert oracle is not None and oracle.quality.alerts >= 1
    assert oracle.quality.recall == 1.0
    assert oracle.calibration is not None and oracle.calibration.forecasts > 0
    assert oracle.eta_defined == 1.0  # the drift points at the limit


def test_storm_matches_a_plain_loop() -> None:
    rng = np.random.default_rng(2)
    sym = rng.integers(0, 3, 200)
    side = rng.integers(0, 2, 200)
    t = rng.uniform(0, 1000, 200).round()
    most = 0
    for s in range(3):
        for d in range(2):
            times = sorted(t[(sym == s) & (side == d)].tolist())
            for a in times:
                most = max(most, sum(1 for b in times if a <= b <= a + 60.0))
    assert storm(Events.make(sym, side, t), 60.0) == most


def test_a_stream_that_stopped_ticking_scores_nothing_past_its_last_horizon() -> None:
    # stream 0 ticks until t=100; stream 1 (a stretch of prices that ended) until t=20
    ids = [0, 1, 0, 1, 0]
    t = [0.0, 0.0, 10.0, 20.0, 100.0]
    price = [100.0, 50.0, 100.5, 50.5, 101.0]
    ticks = TickOrder(np.array(ids), np.array(t), np.array(price), [90, 40], [110, 60])
    s = Samples(
        stream=np.array([1, 1, 1, 1, 0]),
        t=np.array([5.0, 10.0, 30.0, 60.0, 60.0]),
        side=np.full(5, SELL_SIDE, dtype=np.int8),
        p=np.full(5, 0.4),
    )
    counts, hit = outcomes(ticks, s, horizon_s=10.0)
    # stream 1 at 5 and 10: its ticks run to 20 >= s + 10 -> a known 0; at 30 and 60 it
    # has stopped: left out (before, every grid time to the data's end counted as a miss);
    # a late sample that happens to hit is left out alike, or the hits would be favoured
    assert counts.tolist() == [True, True, False, False, True]
    assert not hit.any()


def test_late_samples_are_left_out_whether_they_hit_or_not() -> None:
    # two streams alike that end at t=100; one reaches its sell limit at 95, one never
    ids = [0, 1, 0, 1, 0, 1]
    t = [0.0, 0.0, 95.0, 95.0, 100.0, 100.0]
    price = [100.0, 100.0, 110.0, 100.0, 100.0, 100.0]
    ticks = TickOrder(np.array(ids), np.array(t), np.array(price), [90, 90], [110, 110])
    s = Samples(
        stream=np.array([0, 1]), t=np.array([92.0, 92.0]),
        side=np.full(2, SELL_SIDE, dtype=np.int8), p=np.full(2, 0.5),
    )  # fmt: skip
    counts, _hit = outcomes(ticks, s, horizon_s=10.0)
    assert counts.tolist() == [False, False]
