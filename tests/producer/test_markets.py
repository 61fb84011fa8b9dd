"""Generated markets: reproducible, irregular, in arrival order, with the truth per tick."""

from __future__ import annotations

import numpy as np
import pytest

from producer.markets import KINDS, generate


@pytest.mark.parametrize("kind", KINDS)
def test_a_market_is_reproducible_ordered_and_carries_its_truth(kind: str) -> None:
    a = generate(kind, symbols=8, minutes=5, seed=3)
    b = generate(kind, symbols=8, minutes=5, seed=3)
    np.testing.assert_array_equal(a.price, b.price)
    assert (np.diff(a.t) >= 0).all()
    assert len(a.drift) == len(a.vol) == len(a.price) == len(a.sym)
    assert (a.price > 0).all() and (a.vol > 0).all()
    assert set(np.unique(a.sym).tolist()) == set(range(8))
    gaps = np.diff(a.t[a.sym == 0])
    assert gaps.std() > 0.2 * gaps.mean()  # irregular arrivals
    # plausible: a few % a day up to a few % an hour, per square-root second
    assert 3e-5 < float(np.median(a.vol)) < 3e-3


def test_the_tick_grid_market_sits_on_cents() -> None:
    m = generate("tick_grid", symbols=4, minutes=2, seed=1)
    np.testing.assert_allclose(m.price * 100, np.round(m.price * 100), atol=1e-6)


def test_seeds_and_kinds_give_different_markets() -> None:
    one = generate("drift", symbols=3, minutes=2, seed=1)
    two = generate("drift", symbols=3, minutes=2, seed=2)
    assert not np.array_equal(one.price[:50], two.price[:50])


def _returns(m, symbol: int = 0) -> np.ndarray:
    return np.diff(np.log(m.price[m.sym == symbol]))


def test_the_bounce_market_trades_at_bid_or_ask() -> None:
    # a price seen through a half-spread on a random side: neighbouring returns covary
    # negatively (Roll, 1984), which an efficient random walk's do not
    m = generate("bounce", symbols=20, minutes=10, seed=2)
    first_lag = []
    for i in range(20):
        r = _returns(m, i)
        first_lag.append(np.corrcoef(r[1:], r[:-1])[0, 1])
    assert np.median(first_lag) < -0.1
    walk = generate("drift", symbols=20, minutes=10, seed=2)
    r = _returns(walk, 0)
    assert abs(np.corrcoef(r[1:], r[:-1])[0, 1]) < 0.1


def test_the_stochvol_market_has_clustered_fat_tailed_moves() -> None:
    m = generate("stochvol", symbols=30, minutes=30, seed=4)
    ratio = []
    kurtosis = []
    for i in range(30):
        on = m.sym == i
        v = m.vol[on]
        ratio.append(v.max() / v.min())
        # returns over the truth's volatility and the gaps: Student-t with 4 degrees of
        # freedom, whose kurtosis is far above the normal's 3
        dt = np.diff(m.t[on])
        z = np.diff(np.log(m.price[on])) / (v[:-1] * np.sqrt(dt))
        z = z[np.isfinite(z)]
        kurtosis.append(np.mean(z**4) / np.mean(z**2) ** 2)
    assert np.median(ratio) > 3.0  # the volatility wanders
    assert np.median(kurtosis) > 4.0


def test_the_trend_market_drift_wanders_within_a_symbol() -> None:
    m = generate("trend", symbols=10, minutes=60, seed=5)
    spread, persistence = [], []
    for i in range(10):
        d = m.drift[m.sym == i]
        spread.append(np.ptp(d))
        persistence.append(np.corrcoef(d[1:], d[:-1])[0, 1])
    assert np.median(spread) > 0.005 / 3600.0  # moves by more than 0.5 % an hour
    assert min(persistence) > 0.9  # and builds and fades: no switch from tick to tick


def test_the_sparse_market_ticks_every_few_tens_of_seconds() -> None:
    """A few ticks per 60 s horizon, so a limit is often crossed between two ticks."""
    m = generate("sparse", symbols=40, minutes=60, seed=6)
    busy = generate("drift", symbols=40, minutes=60, seed=6)
    per_second = np.bincount(m.sym, minlength=40) / 3600.0
    assert per_second.min() > 0.01 and per_second.max() < 0.35
    assert np.median(per_second) < np.median(np.bincount(busy.sym) / 3600.0) / 10


def test_the_lulls_market_falls_silent_for_minutes_while_its_price_moves_on() -> None:
    """About one lull of 1 to 5 minutes per 10 minutes per symbol, no tick inside; the
    first return after a lull is as wide as the time it spans."""
    m = generate("lulls", symbols=40, minutes=60, seed=6)
    order = np.lexsort((m.t, m.sym))
    sym, t = m.sym[order], m.t[order]
    gap = np.diff(t)
    same = sym[1:] == sym[:-1]
    long_gaps = np.bincount(sym[1:][same & (gap > 60.0)], minlength=40)
    assert 2 <= np.median(long_gaps) <= 10  # about six lulls an hour each
    lull = gap[same & (gap > 60.0)]
    assert 120.0 < np.median(lull) < 240.0  # 1 to 5 minutes (two may run into one)
    lp = np.log(m.price[order])
    r = np.diff(lp)[same]
    g = gap[same]
    vol = m.vol[order][1:][same]
    z = r / (vol * np.sqrt(g))  # standardised returns, short gaps and lulls alike
    assert 0.8 < np.std(z[g > 60.0]) < 1.2 and 0.9 < np.std(z[g < 10.0]) < 1.1


def test_the_factor_market_moves_its_symbols_together_at_the_stated_volatility() -> None:
    """Every symbol carries the one market walk (and its jumps): their minute returns are
    correlated. Returns standardised by the stated volatility have a mean square of 1;
    the market's few jumps (about six an hour, shared by every symbol) make one hour's
    figure swing (0.56 to 1.47 over seeds 0 to 7), so it is averaged over eight."""
    m = generate("factor", symbols=30, minutes=60, seed=4)
    grid = m.t[0] + 60.0 * np.arange(1, 60)
    minute = np.empty((30, grid.size))
    for i in range(30):
        mine = m.sym == i
        at = np.searchsorted(m.t[mine], grid, side="right") - 1
        minute[i] = np.log(m.price[mine][np.maximum(at, 0)])
    corr = np.corrcoef(np.diff(minute, axis=1))
    assert np.median(corr[np.triu_indices(30, 1)]) > 0.3
    squares = []
    for seed in range(8):
        m = generate("factor", symbols=30, minutes=60, seed=seed)
        order = np.lexsort((m.t, m.sym))
        sym, t = m.sym[order], m.t[order]
        same = sym[1:] == sym[:-1]
        r = np.diff(np.log(m.price[order]))[same]
        z = r / (m.vol[order][:-1][same] * np.sqrt(np.diff(t)[same]))
        squares.append(np.mean(z * z))
    assert 0.7 < np.mean(squares) < 1.3
