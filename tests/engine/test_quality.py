"""Forecast quality: matching alerts to crossings, false alarms, lead times and the baseline."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine.quality
from engine.quality import (
    BUY_SIDE,
    SELL_SIDE,
    Events,
    TickOrder,
    band_alerts,
    baselines,
    forecast_quality,
    score,
    split_signals,
)
from engine.watch import Discipline

# The rule the hand-worked cases use: an alert re-arms as soon as the price leaves the
# band (rising edges), never expires and needs no quiet time.
EDGE = Discipline(math.inf, 0.0, 0.999)


def test_docstring_examples_hold() -> None:
    result = doctest.testmod(engine.quality)
    assert result.attempted > 0
    assert result.failed == 0


def test_watch_before_crossing_within_horizon_is_forecast_with_its_lead() -> None:
    q = forecast_quality(["SELL_WATCH", "SELL"], ["A", "A"], [100.0, 130.0], horizon_s=60.0)
    assert (q.crossings, q.forecast, q.alerts, q.false_alarms) == (1, 1, 1, 0)
    assert q.precision == 1.0 and q.recall == 1.0
    assert q.median_lead_s == 30.0
    assert q.lead_s.tolist() == [30.0]


def test_watch_too_early_for_the_horizon_is_a_false_alarm_and_crossing_is_missed() -> None:
    q = forecast_quality(["SELL_WATCH", "SELL"], ["A", "A"], [0.0, 61.0], horizon_s=60.0)
    assert (q.forecast, q.false_alarms) == (0, 1)
    assert q.recall == 0.0 and q.precision == 0.0
    assert math.isnan(q.median_lead_s)


def test_watch_must_match_symbol_and_side() -> None:
    kinds = ["BUY_WATCH", "SELL_WATCH", "SELL"]
    q = forecast_quality(kinds, ["A", "B", "A"], [1.0, 2.0, 3.0], horizon_s=60.0)
    assert (q.forecast, q.false_alarms) == (0, 2)


def test_watch_at_the_same_instant_as_the_crossing_is_no_forecast() -> None:
    q = forecast_quality(["BUY_WATCH", "BUY"], ["A", "A"], [5.0, 5.0], horizon_s=60.0)
    assert q.forecast == 0 and q.false_alarms == 1


def test_lead_is_from_the_earliest_watch_since_the_previous_crossing() -> None:
    kinds = ["SELL_WATCH", "SELL_WATCH", "SELL", "SELL_WATCH", "SELL"]
    q = forecast_quality(kinds, ["A"] * 5, [0.0, 5.0, 10.0, 18.0, 20.0], horizon_s=60.0)
    assert q.lead_s.tolist() == [10.0, 2.0]
    assert q.median_lead_s == 6.0
    assert q.false_alarms == 0


def test_lead_times_follow_the_callers_crossing_order_when_unsorted() -> None:
    alerts = Events.make(["B", "A"], [SELL_SIDE, SELL_SIDE], [1.0, 4.0])
    crossings = Events.make(["A", "B"], [SELL_SIDE, SELL_SIDE], [5.0, 4.0])
    assert score(alerts, crossings, 60.0).lead_s.tolist() == [1.0, 3.0]


def test_no_signals_gives_nan_ratios_not_errors() -> None:
    q = forecast_quality([], [], [], horizon_s=60.0)
    assert (q.crossings, q.alerts) == (0, 0)
    assert math.isnan(q.precision) and math.isnan(q.recall)
    assert q.to_dict()["precision"] is None


def test_other_kinds_are_ignored_and_ids_work_as_symbols() -> None:
    alerts, crossings = split_signals(
        ["GOLDEN_CROSS", "BUY_WATCH", "DEATH_CROSS", "BUY"], [3, 3, 3, 3], [1, 2, 3, 4]
    )
    assert alerts.side.tolist() == [BUY_SIDE]
    assert crossings.t.tolist() == [4.0]


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="one length"):
        split_signals(["BUY"], ["A", "B"], [1.0])
    with pytest.raises(ValueError, match="horizon must be positive"):
        score(Events.make([], [], []), Events.make([], [], []), 0.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["BUY_WATCH", "SELL_WATCH", "BUY", "SELL"]),
            st.sampled_from(["A", "B"]),
            st.integers(0, 200),
        ),
        max_size=40,
    ),
    st.integers(1, 100),
)
def test_vectorised_matching_agrees_with_a_plain_loop(
    signals: list[tuple[str, str, int]], horizon: int
) -> None:
    kinds = [k for k, _, _ in signals]
    syms = [s for _, s, _ in signals]
    times = [float(t) for _, _, t in signals]
    q = forecast_quality(kinds, syms, times, horizon_s=float(horizon))

    alerts = [
        (s, k.split("_")[0], t) for k, s, t in zip(kinds, syms, times, strict=True) if "_" in k
    ]
    crosses = [(s, k, t) for k, s, t in zip(kinds, syms, times, strict=True) if "_" not in k]
    true_alerts = 0
    earliest: dict[int, float] = {}
    for s, side, t in alerts:
        later = [
            (tc, j)
            for j, (cs, cside, tc) in enumerate(crosses)
            if (cs, cside) == (s, side) and tc > t
        ]
        if later:
            tc, j = min(later)
            if tc - t <= horizon:
                true_alerts += 1
                earliest[j] = min(earliest.get(j, math.inf), t)
    expected_lead = [
        crosses[j][2] - earliest[j] if j in earliest else math.nan for j in range(len(crosses))
    ]
    assert q.alerts - q.false_alarms == true_alerts
    np.testing.assert_array_equal(q.lead_s, np.array(expected_lead))


# --- the naive baseline ----------------------------------------------------------------


def test_band_alert_fires_once_on_entering_the_band_and_again_after_leaving() -> None:
    prices = [100.0, 101.5, 101.7, 100.0, 101.6, 102.5]
    ev = band_alerts([0] * 6, np.arange(6.0), prices, buy=[90.0], sell=[102.0], k=0.01, rule=EDGE)
    assert ev.side.tolist() == [SELL_SIDE, SELL_SIDE]
    assert ev.t.tolist() == [1.0, 4.0]


def test_band_alerts_are_per_symbol_even_when_ticks_interleave() -> None:
    ids = [0, 1, 0, 1]
    prices = [101.5, 101.5, 101.6, 101.6]
    ev = band_alerts(
        ids, [0.0, 0.0, 1.0, 1.0], prices, buy=[90.0, 90.0], sell=[102.0, 102.0], k=0.01,
        rule=EDGE,
    )  # fmt: skip
    assert sorted(ev.symbol.tolist()) == [0, 1]
    assert ev.t.tolist() == [0.0, 0.0]


def test_band_alert_on_the_buy_side_and_no_alert_for_a_jump_through() -> None:
    ev = band_alerts(
        [0, 0, 1, 1],
        [0.0, 1.0, 0.0, 1.0],
        [100.0, 90.5, 100.0, 80.0],
        buy=[90.0, 90.0],
        sell=[200.0, 200.0],
        k=0.01,
        rule=EDGE,
    )
    assert ev.symbol.tolist() == [0]
    assert ev.side.tolist() == [BUY_SIDE]


def _creeper_and_wanderer() -> tuple[TickOrder, Events]:
    # symbol 0 creeps up to its sell limit; symbol 1 wanders near it and never crosses,
    # then rests at 100 for over a horizon (60 s), so that its alarms are decided
    t = np.arange(10.0)
    p0 = np.array([100, 100.4, 100.8, 101.2, 101.6, 101.85, 102.1, 102.3, 102.5, 102.7])
    t1 = np.arange(80.0)
    p1 = np.r_[[100, 101.9, 100, 101.9, 100, 101.9, 100, 101.9, 100, 101.9], np.full(70, 100.0)]
    ids = np.r_[np.zeros(10, int), np.ones(80, int)]
    ticks = TickOrder(ids, np.r_[t, t1], np.r_[p0, p1], buy=[50.0, 50.0], sell=[102.0, 102.0])
    return ticks, Events.make([0], [SELL_SIDE], [t[np.argmax(p0 >= 102.0)]])


def test_baseline_is_matched_at_the_forecasts_precision_not_its_recall() -> None:
    ticks, crossings = _creeper_and_wanderer()
    bands = [0.0005, 0.002, 0.01, 0.05]
    # by hand: 0.0005 never alerts; 0.002 alerts at 5 (true) and five times for the
    # wanderer (precision 1/6, lead 1); 0.01 at 3 (true) and five times (1/6, lead 3);
    # 0.05 holds both in the band from the start: two alerts, one true (1/2, lead 6)
    prox, _ = baselines(
        ticks, crossings, horizon_s=60.0, target_precision=0.1, bands=bands, rule=EDGE
    )
    # all three that alert reach 0.1: the longest lead among them, at a precision of 1/2
    assert prox.threshold == 0.05
    assert prox.quality.precision == pytest.approx(1 / 2)
    assert prox.quality.median_lead_s == 6.0
    assert prox.to_dict()["name"] == "proximity"
    np.testing.assert_allclose(prox.curve[:, 1], [np.nan, 1 / 6, 1 / 6, 1 / 2])
    np.testing.assert_allclose(prox.curve[:, 3], [np.nan, 1.0, 3.0, 6.0])


def test_baseline_is_the_alarm_at_its_best_not_the_precision_closest_above() -> None:
    # 0.002 and 0.01 share a precision of 1/6 (leads 1 and 3 s), 0.05 is more precise
    # (1/2) and earlier (6 s): at a target of 0.15 the precision closest above it would
    # pick a band that is both less precise and later than another on the grid
    ticks, crossings = _creeper_and_wanderer()
    prox, _ = baselines(
        ticks, crossings, horizon_s=60.0, target_precision=0.15,
        bands=[0.002, 0.01, 0.05], rule=EDGE,
    )  # fmt: skip
    assert prox.threshold == 0.05 and prox.quality.median_lead_s == 6.0
    # a target above 1/6 leaves the 1/2 band alone; above 1/2, none reaches: the highest
    assert baselines(
        ticks, crossings, horizon_s=60.0, target_precision=0.4, bands=[0.002, 0.01, 0.05],
        rule=EDGE,
    )[0].threshold == 0.05  # fmt: skip
    ties, _ = baselines(
        ticks, crossings, horizon_s=60.0, target_precision=0.1, bands=[0.002, 0.01], rule=EDGE
    )
    assert ties.threshold == 0.01  # equal precision and recall: the longer lead (3 s)


def test_baseline_above_every_precision_on_the_grid_takes_the_highest() -> None:
    ticks, crossings = _creeper_and_wanderer()
    prox, _ = baselines(
        ticks,
        crossings,
        horizon_s=60.0,
        target_precision=0.9,
        bands=[0.002, 0.01, 0.05],
        rule=EDGE,
    )
    assert prox.threshold == 0.05  # none reaches 0.9: the highest precision, 1/2
    assert prox.quality.precision == pytest.approx(1 / 2)


def test_vol_scaled_alarm_uses_only_past_returns() -> None:
    # a quiet walk, then a price that jumps towards the limit: the jump's own return is
    # in the estimate at its tick, later ones never are
    t = np.arange(40.0)
    price = 100.0 * np.exp(np.r_[0.0, np.cumsum(np.tile([1e-4, -1e-4], 19)), 0.0])
    price[-1] = 101.9
    ticks = TickOrder(np.zeros(40, int), t, price, buy=[50.0], sell=[102.0])
    d = ticks.distance_sd(60.0)
    assert np.isnan(d[1, :10]).all()  # fewer than 10 returns
    sigma_before = 1e-4  # |r| = 1e-4 each second
    expected = math.log(102.0 / price[30]) / (sigma_before * math.sqrt(60.0))
    assert d[1, 30] == pytest.approx(expected)
    changed = price.copy()
    changed[35:] *= 1.001  # the future moves: the past estimate must not
    d2 = TickOrder(np.zeros(40, int), t, changed, buy=[50.0], sell=[102.0]).distance_sd(60.0)
    np.testing.assert_array_equal(d2[:, :35], d[:, :35])


def test_baseline_without_forecast_alerts_uses_the_fallback_thresholds() -> None:
    empty = Events.make(np.array([], dtype=int), [], [])
    ticks = TickOrder([0, 0], [0.0, 1.0], [100.0, 101.5], buy=[50.0], sell=[102.0])
    prox, vol = baselines(ticks, empty, horizon_s=60.0, target_precision=float("nan"), rule=EDGE)
    assert prox.threshold == engine.quality.FALLBACK_BAND
    assert vol.threshold == engine.quality.FALLBACK_Z
    assert (prox.quality.alerts, prox.quality.undecided) == (0, 1)  # the data ends 1 s on


def test_baselines_alert_under_the_watch_discipline_not_on_every_entry() -> None:
    # the wanderer enters the 1 % band every other second and leaves it to 1.96 %, past
    # the re-arm distance 1 % / 0.6: five entries, but after its first alert the quiet
    # time holds the others back until more than 6 s have passed
    ticks, _ = _creeper_and_wanderer()
    rule = Discipline(60.0, 6.0, 0.6)
    ev = ticks.alerts(0.01, rule)
    wanderer = ev.t[ev.symbol == 1].tolist()
    assert wanderer == [1.0, 9.0]
    assert ticks.alerts(0.01, EDGE).t[ticks.alerts(0.01, EDGE).symbol == 1].tolist() == [
        1.0,
        3.0,
        5.0,
        7.0,
        9.0,
    ]


def _market(seed: int, symbols: int = 12, n: int = 20_000) -> tuple[np.ndarray, ...]:
    """Ticks of random walks, a tenth of the times on whole seconds (ties at the edge of
    the vol-scaled alarm's window), with limits 1-3 % away."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, symbols, n)
    t = rng.random(n) * 4000.0
    whole = rng.random(n) < 0.1
    t[whole] = np.round(t[whole])
    t = np.sort(t)
    price = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 2e-3, n)))
    buy = 100.0 * (1 - rng.uniform(0.01, 0.03, symbols))
    sell = 100.0 * (1 + rng.uniform(0.01, 0.03, symbols))
    return ids, t, price, buy, sell


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_symbols_figures_do_not_depend_on_the_other_symbols_in_its_tick_order(
    seed: int,
) -> None:
    """The scoring reads a group of symbols at a time: the vol-scaled distance and where
    a time falls among a symbol's ticks must be the very same floats and indices in any
    group (sums restart per symbol; keys rank times exactly)."""
    ids, t, price, buy, sell = _market(seed)
    whole = TickOrder(ids, t, price, buy, sell)
    d_whole = whole.distance_sd(60.0)
    probe_t = np.random.default_rng(seed).random(500) * 4000.0
    for members in ([0, 5, 7], [3], list(range(6, 12))):
        mine = np.isin(ids, members)
        part = TickOrder(ids[mine], t[mine], price[mine], buy, sell)
        in_whole = np.isin(whole.ids, members)
        np.testing.assert_array_equal(part.distance_sd(60.0), d_whole[:, in_whole])
        np.testing.assert_array_equal(part.t, whole.t[in_whole])
        for s in members:
            q_ids = np.full(probe_t.size, s)
            got, want = part.locate(q_ids, probe_t), whole.locate(q_ids, probe_t)
            np.testing.assert_array_equal(np.where(got >= 0, part.t[got], -1.0),
                                          np.where(want >= 0, whole.t[want], -1.0))  # fmt: skip


def test_the_vol_window_holds_a_tick_exactly_its_length_back() -> None:
    """``up to and including`` the window's length: a tick at exactly ``t - 300 s``
    is in the window of the tick at ``t``."""
    t = np.arange(0.0, 301.0, 30.0)  # 0, 30, ..., 300: eleven ticks, ten returns
    price = 100.0 * np.exp(np.cumsum(np.r_[0.0, np.tile([1e-3, -1e-3], 5)]))
    d = TickOrder(np.zeros(t.size, int), t, price, [90.0], [110.0]).distance_sd(60.0)
    assert np.isnan(d[1, -2]) and np.isfinite(d[1, -1])  # ten returns only at t = 300
    sigma = math.sqrt(10 * 1e-6 / 300.0) * math.sqrt(60.0)
    assert d[1, -1] == pytest.approx(math.log(110.0 / price[-1]) / sigma, rel=1e-12)


def test_sweeping_by_groups_of_symbols_picks_what_matching_on_all_the_ticks_picks() -> None:
    ids, t, price, buy, sell = _market(4, symbols=20, n=30_000)
    whole = TickOrder(ids, t, price, buy, sell)
    reached = whole.reached
    first = np.flatnonzero(reached[1] & ~np.r_[False, reached[1][:-1]])
    crossings = Events(whole.ids[first], np.full(first.size, SELL_SIDE, np.int8), whole.t[first])
    rule = Discipline(60.0, 30.0, 0.5)
    prox, vol = engine.quality.sweeps(crossings, 60.0)
    for members in (range(0, 7), range(7, 8), range(8, 20)):
        mine = np.isin(ids, list(members))
        part = TickOrder(ids[mine], t[mine], price[mine], buy, sell)
        engine.quality.sweep_alarms(prox, vol, part, rule)
    closeness = -whole.proximity()

    def reached_at(k: float) -> np.ndarray:
        alerts, at = whole.events_at(whole.fires(closeness, -k, rule))
        return whole.time_to_limit(alerts.side, at, alerts.t) <= 60.0

    for target in (0.3, 0.5, float("nan")):
        got = prox.match(target)
        want = engine.quality.match_precision(
            "proximity", lambda k: whole.events(whole.fires(closeness, -k, rule)),
            engine.quality.DEFAULT_BANDS, crossings, horizon_s=60.0,
            target_precision=target, fallback=engine.quality.FALLBACK_BAND,
            reached_at=reached_at,
        )  # fmt: skip
        assert got.threshold == want.threshold
        assert got.quality.to_dict() == want.quality.to_dict()
        np.testing.assert_array_equal(got.curve, want.curve)
        np.testing.assert_array_equal(got.quality.lead_s, want.quality.lead_s)
    assert prox.match(0.3).quality.alerts > 0 and len(crossings) > 10


def test_an_alarm_answered_by_a_touch_without_a_crossing_came_true() -> None:
    """A crossing re-arms only once the price has moved back by the hysteresis; a price
    that comes back to a limit it touched fires none, and the alarm before it came true
    all the same."""
    ticks = TickOrder([0] * 4, [0.0, 1.0, 2.0, 3.0], [100.0, 101.5, 102.0, 101.0], [90.0], [102.0])
    crossings = Events.make(np.empty(0, int), np.empty(0, int), np.empty(0))  # none fired
    prox, _ = engine.quality.sweeps(crossings, 10.0, bands=[0.01])
    prox.add(ticks, -ticks.proximity(), Discipline(10.0, 5.0, 0.5))
    q = prox.quality(0.01)
    assert (q.alerts, q.false_alarms, q.precision) == (1, 0, 1.0)
    alone = engine.quality.score(ticks.alerts(0.01, Discipline(10.0, 5.0, 0.5)), crossings, 10.0)
    assert alone.false_alarms == 1  # by crossings alone it had been a false alarm
