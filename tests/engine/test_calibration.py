"""Self-calibration: outcomes resolved on the event-time grid, the monotone map, the record,
and bit-identical results however the ticks are batched."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import special

from engine.calibration import DECILES, Calibrator, isotonic

H, S = 60.0, 5.0


def _feed(
    cal: Calibrator,
    sym: np.ndarray,
    t: np.ndarray,
    price: np.ndarray,
    forecasts: dict[int, tuple[np.ndarray, ...]] | None,
    batch: int,
    p_of: object = None,
) -> list[np.ndarray]:
    """Drive ``cal`` slot by slot: cut each batch where the clock (the running latest
    tick time) enters a new slot, sample the forecasts in force at each cut, observe each
    piece's extremes. ``forecasts`` maps
    a slot to the arguments of :meth:`sample`; without it ``p_of(last)`` gives them from
    the last price of every symbol. Returns the calibrated p of every sample call."""
    last = np.full(int(sym.max()) + 1, np.nan)
    reported = []
    for start in range(0, t.size, batch):
        tb = t[start : start + batch]
        cuts = _slot_entries(cal, tb)
        edges = sorted({0, *cuts, tb.size})
        for a, b in itertools.pairwise(edges):
            if a in cuts:
                cal.advance(float(tb[a]))
                slot = math.floor(tb[a] / S)
                if forecasts is not None:
                    args = forecasts.get(slot)
                elif p_of is not None:
                    args = p_of(last)  # type: ignore[operator]
                if args is not None:
                    cal.sample(*args)
                    reported.append(cal.apply(args[2], args[5] if len(args) > 5 else None))
            s, p = sym[start + a : start + b], price[start + a : start + b]
            cal.observe(s, p, p)
            last[s] = p
    return reported


def _slot_entries(cal: Calibrator, t: np.ndarray) -> list[int]:
    """Positions in ``t`` where the clock enters a new slot of ``S`` seconds."""
    now = math.floor(cal.clock / S) if math.isfinite(cal.clock) else -math.inf
    slot = np.fmax(np.floor(np.fmax.accumulate(t) / S), now)  # late ticks leave it alone
    before = np.concatenate(([now], slot[:-1]))
    return np.flatnonzero(slot > before).tolist()


def _stream(seed: int, n: int, symbols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sym = rng.integers(0, symbols, n)
    # irregular times with gaps of many slots and late ticks
    t = 1_000.0 + np.cumsum(rng.exponential(0.4, n))
    t[rng.random(n) < 0.05] -= 3.0
    t[n // 3 :] += 90.0
    price = 100.0 * np.exp(rng.normal(0, 8e-3, n))
    return sym, t, price


def _p_of(symbols: int) -> object:
    buy = np.linspace(97.5, 99.5, symbols)
    sell = np.linspace(100.5, 102.5, symbols)

    def forecasts(last: np.ndarray) -> tuple[np.ndarray, ...]:
        ids = np.flatnonzero(~np.isnan(last))
        d_buy, d_sell = np.log(last[ids] / buy[ids]), np.log(sell[ids] / last[ids])
        p = np.concatenate((np.exp(-80 * d_buy), np.exp(-80 * d_sell))).clip(0, 1)
        return (
            np.concatenate((ids, ids)),
            np.repeat([False, True], ids.size),
            p,
            np.concatenate((buy[ids], sell[ids])),
            np.concatenate((last[ids], last[ids])),
            ids.size * [0] + ids.size * [1],
        )

    return forecasts


@pytest.mark.parametrize(
    ("memory", "recent"), [(math.inf, math.inf), (50.0, math.inf), (math.inf, 30.0)]
)
def test_any_split_of_the_same_ticks_gives_bit_identical_maps_records_and_forecasts(
    memory: float, recent: float
) -> None:
    sym, t, price = _stream(1, 5_000, 12)
    results = []
    for batch in (1, 7, 250, 5_000):
        cal = Calibrator(
            H, sample_every=S, refit_every=20.0, prior=2.0, memory=memory, groups=2,
            recent_halflife=recent, recent_weight=20.0,
        )  # fmt: skip
        reported = _feed(cal, sym, t, price, None, batch, _p_of(12))
        results.append((cal, np.concatenate(reported)))
    cal0, rep0 = results[0]
    assert cal0.record(0).resolved > 40 and cal0.record(1).resolved > 40
    assert not np.array_equal(cal0.knots(0)[1], Calibrator(H).knots(0)[1][: cal0._bins + 2])
    for cal, rep in results[1:]:
        assert np.array_equal(rep, rep0, equal_nan=True)
        for g in (0, 1):
            assert np.array_equal(cal.knots(g)[0], cal0.knots(g)[0])
            assert np.array_equal(cal.knots(g)[1], cal0.knots(g)[1])
            r, r0 = cal.record(g), cal0.record(g)
            for field in ("predicted", "observed", "count"):
                assert np.array_equal(getattr(r, field), getattr(r0, field), equal_nan=True)
            assert (r.brier, r.skill, r.resolved) == (r0.brier, r0.skill, r0.resolved)


def _distorted(
    cal: Calibrator, slots: int, slope: object, seed: int = 42, symbols: int = 2_000
) -> tuple[np.ndarray, np.ndarray]:
    """Feed ``cal`` forecasts raw p = logistic(slope(k) logit(q)) made in slot ``k`` for
    the true chance q; every outcome is an exact Bernoulli(q) draw realised as a tick at
    the limit (or not) inside the horizon. Returns q and raw p of the last quarter."""
    rng = np.random.default_rng(seed)
    q = int(H / S)
    forecasts = {}
    ticks_sym, ticks_t, ticks_p = [], [], []
    held_q, held_raw = [], []
    for k in range(slots):
        ids = np.flatnonzero(np.arange(symbols) % q == k % q)
        true = rng.uniform(0.02, 0.98, ids.size)
        raw = special.expit(slope(k) * special.logit(true))  # type: ignore[operator]
        forecasts[k] = (ids, False, raw, 90.0, 100.0)
        hit = rng.random(ids.size) < true
        when = k + rng.integers(0, q, ids.size)  # the slot of the hit, inside the horizon
        held_q.append(true)
        held_raw.append(raw)
        for j in range(q):
            slot_t = (k + j) * S + rng.uniform(0.1, S - 0.1, ids.size)
            ticks_sym.append(ids)
            ticks_t.append(slot_t)
            ticks_p.append(np.where(hit & (when == k + j), 90.0, 100.0))
    sym, t, price = (np.concatenate(a) for a in (ticks_sym, ticks_t, ticks_p))
    order = np.argsort(t, kind="stable")
    _feed(cal, sym[order], t[order], price[order], forecasts, 5_000)
    last = slots * 3 // 4
    return np.concatenate(held_q[last:]), np.concatenate(held_raw[last:])


def _worst_gap(out: np.ndarray, true: np.ndarray) -> float:
    k = np.minimum((out * 10).astype(int), 9)
    return max(abs(out[k == i].mean() - true[k == i].mean()) for i in range(10) if (k == i).sum())


def test_overconfident_forecasts_are_corrected_to_within_five_points_per_decile() -> None:
    cal = Calibrator(H, sample_every=S, refit_every=60.0)
    true, raw = _distorted(cal, 150, lambda k: 2.5)
    assert cal.record().resolved > 20_000
    out = cal.apply(raw)
    k = np.minimum((out * 10).astype(int), 9)
    gaps = [abs(out[k == i].mean() - true[k == i].mean()) for i in range(10) if (k == i).sum()]
    raw_k = np.minimum((raw * 10).astype(int), 9)
    raw_gaps = [abs(raw[raw_k == i].mean() - true[raw_k == i].mean()) for i in range(10)]
    assert max(raw_gaps) > 0.15, "the distortion must be worth correcting"
    assert max(gaps) < 0.05, gaps
    # the record agrees: the reported p of the last minutes is calibrated too
    r = cal.record()
    seen = r.count > 200
    assert np.nanmax(np.abs(r.predicted - r.observed)[seen]) < 0.1


def test_with_a_recent_half_life_the_map_follows_forecasts_that_change() -> None:
    # Overconfident (slope 2.5) for the first half, then calibrated (slope 1): the whole
    # record's map keeps correcting what is no longer wrong; the recent one lets go of it.
    def changing(k: int) -> float:
        return 2.5 if k < 150 else 1.0

    whole = Calibrator(H, sample_every=S, refit_every=60.0)
    true, raw = _distorted(whole, 300, changing)
    recent = Calibrator(H, sample_every=S, refit_every=60.0, recent_halflife=120.0)
    _distorted(recent, 300, changing)
    assert _worst_gap(raw, true) < 0.03, "the last quarter's raw forecasts are calibrated"
    stale, followed = _worst_gap(whole.apply(raw), true), _worst_gap(recent.apply(raw), true)
    assert followed < 0.05 and followed < stale / 2, (stale, followed)


def test_with_no_outcomes_the_map_is_the_identity_and_fixed_points_stay() -> None:
    cal = Calibrator(H, sample_every=S)
    p = np.array([0.0, 1e-9, 0.05, 0.3, 0.5, 0.77, 0.999, 1.0, np.nan])
    np.testing.assert_allclose(cal.apply(p), p, rtol=1e-14, atol=1e-16)
    assert np.isnan(cal.apply(p)[-1])
    # a map learned from all-miss outcomes still leaves 0, 1 and nan alone
    for k in range(40):
        cal.advance(k * S)
        cal.sample(np.arange(50), False, 0.9, 90.0, 100.0)
        cal.observe(np.arange(50), np.full(50, 100.0), np.full(50, 100.0))
    out = cal.apply(p)
    assert out[0] == 0.0 and out[7] == 1.0 and np.isnan(out[8])
    assert out[5] < 0.5 and (np.diff(out[:8]) >= 0).all()


def test_a_few_outcomes_barely_move_the_map() -> None:
    cal = Calibrator(H, sample_every=S, refit_every=S)
    cal.advance(0.0)
    cal.sample([0, 1, 2], False, 0.9, 90.0, 100.0)
    cal.observe([0, 1, 2], [100.0] * 3, [100.0] * 3)
    cal.advance(H)
    assert cal.record().resolved == 3.0
    # Three misses against a prior of ten pseudo-outcomes per bin: the bin of 0.9 moves
    # by less than a fifth, the curve through all bins (and so 0.3) by a hair.
    assert abs(float(cal.apply(0.9)) - 0.9) < 0.2
    assert abs(float(cal.apply(0.3)) - 0.3) < 0.01


def test_outcomes_count_ticks_within_the_horizon_only() -> None:
    cal = Calibrator(10.0, sample_every=5.0, refit_every=5.0)
    cal.advance(0.0)
    cal.observe([0, 1, 2, 3], [80.0] * 4, [80.0] * 4)  # before the samples: not counted
    cal.advance(5.0)
    cal.sample([0, 1, 2, 3], [False, False, True, False], 0.5, [90, 90, 110, 90], 100.0)
    cal.observe([0], [90.0], [90.0])  # exactly at the limit: a hit
    cal.observe([2], [105.0], [110.0])  # sell limit reached
    cal.advance(10.0)
    cal.observe([1], [99.0], [99.0])  # within the horizon, not reached
    cal.advance(15.0)  # resolved: hits 0 and 2, misses 1 and 3
    cal.observe([1, 3], [50.0] * 2, [50.0] * 2)  # after the horizon: not counted
    cal.advance(20.0)
    r = cal.record()
    assert r.resolved == 4.0 and r.base_rate == 0.5
    assert r.count[5] == 4.0 and r.observed[5] == 0.5
    assert r.brier == 0.25 and r.skill == 0.0


def test_one_sample_per_symbol_and_side_per_slot_and_none_when_trivial() -> None:
    cal = Calibrator(10.0, sample_every=5.0)
    cal.advance(0.0)
    cal.sample(
        [0, 0, 0, 1, 2, 3, 4],
        [False, False, True, False, False, False, False],
        [0.5, 0.6, 0.5, 0.5, 0.0, 1.0, np.nan],
        90.0,
        [100, 100, 100, 80, 100, 100, 100],
    )
    cal.sample([0], False, 0.5, 90.0, 100.0)  # again in the same slot: ignored
    cal.advance(10.0)
    r = cal.record()
    # symbol 0 buy once and sell once (sell limit 90 below the price: already there)
    assert r.resolved == 1.0


def test_pending_forecasts_and_forgetting_keep_memory_bounded() -> None:
    cal = Calibrator(10.0, sample_every=5.0, capacity=5, memory=4.0)
    cal.advance(0.0)
    cal.sample(np.arange(8), False, 0.5, 90.0, 100.0)
    assert cal.dropped == 3
    for k in range(1, 30):
        cal.advance(5.0 * k)
        cal.sample(np.arange(4), False, 0.5, 90.0, 100.0)
    assert cal.record().resolved <= 4.0 + 1e-12


def test_record_explains_a_forecast_by_its_track_record() -> None:
    cal = Calibrator(10.0, sample_every=5.0)
    cal.advance(0.0)
    cal.sample(np.arange(10), False, 0.72, 90.0, 100.0)
    low = np.where(np.arange(10) < 7, 90.0, 100.0)
    cal.observe(np.arange(10), low, low)
    cal.advance(10.0)
    r = cal.record()
    assert r.explain(0.72) == (
        "forecasts of 70-80% on this stream (72% on average) came true 70% of 10 times"
    )
    assert r.explain(0.15) == "no forecast of 10-20% on this stream has come due yet"
    assert r.count.sum() == 10 and len(r.count) == DECILES
    with pytest.raises(ValueError):
        r.count[0] = 1.0


def test_pool_adjacent_violators_gives_the_closest_monotone_fit() -> None:
    rng = np.random.default_rng(0)
    y, w = rng.random(30), rng.uniform(0.5, 2.0, 30)
    fit = isotonic(y, w)
    assert (np.diff(fit) >= 0).all()
    assert np.sum(w * fit) == pytest.approx(np.sum(w * y))  # pooling keeps weighted sums
    assert isotonic([0.1, 0.2], [1, 1]).tolist() == [0.1, 0.2]
    np.testing.assert_allclose(isotonic([0.3, 0.1], [1, 3]), [0.15, 0.15], rtol=1e-15)


def test_settings_off_the_grid_are_refused() -> None:
    with pytest.raises(ValueError):
        Calibrator(62.0, sample_every=5.0)
    with pytest.raises(ValueError):
        Calibrator(60.0, sample_every=5.0, refit_every=7.0)


def test_the_pending_ring_grows_when_full_and_resolves_every_forecast_in_order() -> None:
    """The ring starts small and doubles: here it grows while its pending forecasts wrap
    around its end, and each forecast is still judged against its own symbol's prices."""
    cal = Calibrator(10.0, sample_every=5.0, refit_every=10.0, learn=False, capacity=4096)
    hits = 0
    for k, count in enumerate((600, 400, 600, 900, 0, 0)):
        cal.advance(5.0 * k)
        sym = np.arange(count)
        cal.sample(sym, np.zeros(count, bool), np.full(count, 0.5), np.full(count, 99.0),
                   np.full(count, 100.0))  # fmt: skip
        hits += count // 2
        # Even symbols reach their buy limit in the slot after they were sampled.
        every = np.arange(1000)
        cal.observe(every, np.where(every % 2 == 0, 98.0, 100.0), np.full(1000, 100.0))
    cal.advance(40.0)
    record = cal.record()
    assert cal.dropped == 0
    assert record.resolved == 2500.0
    assert record.base_rate == hits / 2500


@pytest.mark.parametrize("horizon", [1.1, 2.2, 7.0, 60.0, 100.0, 432_000.0])
def test_late_refits_come_exactly_the_most_apart_at_any_horizon(horizon: float) -> None:
    """Refits spread out with the stream's age up to ``refit_most`` (five horizons: 60
    slots of a twelfth), whatever rounding the horizon's twelfths carry."""
    every = horizon / 12
    cal = Calibrator(
        horizon, sample_every=every, refit_every=horizon, refit_growth=1 / 8,
        refit_most=5 * horizon,
    )  # fmt: skip
    at = []
    for slot in range(3_000):
        before = cal.refits
        cal.advance_slot(slot)
        if cal.refits > before:
            at.append(slot)
    assert np.diff(at)[-5:].tolist() == [60] * 5


def _two_groups(nested: bool) -> Calibrator:
    """Group 0: forecasts of 0.3 and 0.9, each a chance of 1/12 per slot of reaching its
    limit (so 0.9 comes true about 61 % of the time); group 1: forecasts of 0.3 that never
    come true, and none higher."""
    cal = Calibrator(H, sample_every=S, refit_every=60.0, groups=2, nested=nested)
    rng = np.random.default_rng(2)
    ids = np.arange(400)
    p = np.where(ids < 100, 0.3, np.where(ids < 200, 0.9, 0.3))
    group = (ids >= 200).astype(int)
    chance = np.where(group == 1, 0.0, p)
    for k in range(80):
        cal.advance(k * S)
        cal.sample(ids, False, p, 90.0, 100.0, group=group)
        hit = rng.random(ids.size) < chance / (H / S)
        cal.observe(ids, np.where(hit, 90.0, 100.0), np.full(ids.size, 100.0))
    return cal


def test_a_nested_group_follows_the_first_groups_map_bent_by_its_own_record() -> None:
    """With ``nested``, a group's map where it has no outcomes (here above 0.3) is the
    first group's map bent by what the group's outcomes say (its forecasts come true
    less): below the first group's. Without, it is a curve through its own outcomes,
    which has none up there: it took 0.9 to 0.98."""
    cal = _two_groups(nested=True)
    first, second = (float(cal.apply(0.9, group=g)) for g in (0, 1))
    assert 0.55 < first < 0.7  # about 61 % came true
    assert 0.2 < second < first - 0.1
    assert float(cal.apply(0.3, group=1)) < 0.05
    flat = _two_groups(nested=False)
    assert float(flat.apply(0.9, group=0)) == pytest.approx(first)
    assert float(flat.apply(0.9, group=1)) > 0.9


def test_a_nested_groups_few_lucky_outcomes_do_not_lift_its_top_above_the_first_groups() -> None:
    """Group 0: many forecasts of 0.7 coming true about 46 % of the time (its map's top
    rests on them); group 1: a few dozen forecasts of 0.999 (stale forecasts of silent
    symbols), each of which came true. Bent by those few, the nested map had
    taken 0.999 to 1.0; it stays at most where the first group's map ends."""
    cal = Calibrator(H, sample_every=S, refit_every=60.0, groups=2, nested=True)
    rng = np.random.default_rng(4)
    ids = np.arange(300)
    lucky = ids >= 296  # four symbols of group 1
    p = np.where(lucky, 0.999, 0.7)
    chance = np.where(lucky, H / S, 0.6)  # 1 - (1 - 0.05)**12; group 1 always reaches it
    for k in range(80):
        cal.advance(k * S)
        now = ids[~lucky | (k < 8)]  # group 1's forecasts in 8 slots only: 32 outcomes
        cal.sample(now, False, p[now], 90.0, 100.0, group=lucky[now].astype(int))
        hit = rng.random(ids.size) < chance / (H / S)
        cal.observe(ids, np.where(hit, 90.0, 100.0), np.full(ids.size, 100.0))
    top = float(cal.apply(0.999, group=0))
    assert 0.4 < top < 0.52
    assert float(cal.apply(0.999, group=1)) <= top + 1e-12
