"""The first-passage forecast against closed forms, a log-space evaluation and Monte Carlo."""

from __future__ import annotations

import math

import numpy as np
import pytest
from reference import hit_probability
from scipy import stats

from engine import first_passage

H = 60.0
# (distance, drift, vol): distances of a fraction of a percent to several percent, drifts
# from negligible to strong, volatilities per sqrt(second) of calm to hectic markets.
GRID = [
    (d, m, s)
    for d in (1e-4, 2e-3, 0.02, 0.08)
    for m in (1e-7, 1e-5, 3e-4, 2e-3)
    for s in (2e-4, 1e-3, 5e-3)
]


def _invgauss_cdf(d: float, m: float, s: float, h: float) -> float:
    """P(T <= h), T the first passage to d > 0 with drift m > 0: inverse Gaussian with
    mean d/m and shape d**2/s**2 (scipy: mu = mean/shape, scale = shape)."""
    shape = d * d / (s * s)
    return float(stats.invgauss.cdf(h, mu=(d / m) / shape, scale=shape))


@pytest.mark.parametrize(("d", "m", "s"), GRID)
def test_drift_towards_the_limit_matches_the_inverse_gaussian_law(
    d: float, m: float, s: float
) -> None:
    p, eta = first_passage(d, m, s, H)
    expected = _invgauss_cdf(d, m, s, H)
    assert float(p) == pytest.approx(expected, rel=1e-12, abs=1e-300)
    assert float(eta) == pytest.approx(d / m, rel=1e-15)


@pytest.mark.parametrize(("d", "m", "s"), GRID)
def test_drift_away_is_the_inverse_gaussian_times_the_girsanov_factor(
    d: float, m: float, s: float
) -> None:
    # Reversing the drift multiplies the first-passage density by exp(-2 |m| d / s**2).
    p, eta = first_passage(d, -m, s, H)
    expected = math.exp(-2 * m * d / (s * s)) * _invgauss_cdf(d, m, s, H)
    assert float(p) == pytest.approx(expected, rel=1e-12, abs=1e-300)
    assert math.isnan(float(eta))


@pytest.mark.parametrize("d", [1e-4, 2e-3, 0.02, 0.08])
@pytest.mark.parametrize("s", [2e-4, 1e-3, 5e-3])
def test_zero_drift_is_the_levy_law_twice_the_normal_tail(d: float, s: float) -> None:
    p, eta = first_passage(d, 0.0, s, H)
    expected = float(stats.levy.cdf(H, scale=d * d / (s * s)))
    assert float(p) == pytest.approx(expected, rel=1e-12, abs=1e-300)
    assert float(p) == pytest.approx(2 * stats.norm.sf(d / (s * math.sqrt(H))), rel=1e-12)
    assert math.isnan(float(eta))


@pytest.mark.parametrize("exponent", [50.0, 700.0, 1e4, 1e6, 1e9])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_huge_drift_to_noise_ratio_stays_finite_and_matches_log_space(
    exponent: float, sign: float
) -> None:
    # 2 m d / s**2 = exponent: exp() of it overflows beyond ~709, the naive formula
    # gives inf * 0 = nan. The log-space evaluation (log_ndtr) loses ~exponent ulps.
    d, s = 0.01, 1e-3
    m = sign * exponent * s * s / (2 * d)
    p, _ = first_passage(d, m, s, H)
    expected, _ = hit_probability(d, m, s, H)
    assert math.isfinite(float(p))
    assert 0.0 <= float(p) <= 1.0
    assert float(p) == pytest.approx(expected, rel=1e-13 + 8 * exponent * 2.2e-16, abs=1e-300)
    if exponent > 709 and sign > 0:
        with pytest.raises(OverflowError):
            math.exp(2 * m * d / (s * s))


def test_zero_volatility_is_the_deterministic_path() -> None:
    d = np.array([0.01, 0.01, 0.01, 0.01, 0.01])
    m = np.array([1e-3, 1e-4, 0.01 / H, -1e-3, 0.0])
    p, eta = first_passage(d, m, 0.0, H)
    # reaches iff m*H >= d: 0.06 yes, 0.006 no, exactly d yes, away no, still no
    assert p.tolist() == [1.0, 0.0, 1.0, 0.0, 0.0]
    np.testing.assert_allclose(eta[:3], d[:3] / m[:3], rtol=1e-15)
    assert np.isnan(eta[3:]).all()


def test_price_at_or_beyond_the_limit_is_certain_and_immediate() -> None:
    p, eta = first_passage(
        [0.0, -0.01, -0.01, 0.0], [1e-3, -1e-3, np.nan, 0.0], [1e-3, 1e-3, np.nan, 0.0], H
    )
    assert p.tolist() == [1.0, 1.0, 1.0, 1.0]
    assert eta.tolist() == [0.0, 0.0, 0.0, 0.0]


def test_undefined_inputs_give_nan_not_errors() -> None:
    p, eta = first_passage([np.nan, 0.01, 0.01], [1e-4, np.nan, 1e-4], [1e-3, 1e-3, np.nan], H)
    assert np.isnan(p).all()
    # The expected time needs only distance and drift.
    assert np.isnan(eta[:2]).all() and eta[2] == pytest.approx(100.0)


def test_probability_rises_with_drift_towards_and_falls_with_distance() -> None:
    m = np.linspace(-2e-3, 2e-3, 401)
    p, _ = first_passage(0.01, m, 1e-3, H)
    assert (np.diff(p) >= 0).all()
    d = np.linspace(1e-4, 0.1, 400)
    p, _ = first_passage(d, 1e-4, 1e-3, H)
    assert (np.diff(p) <= 0).all()


def test_broadcasting_and_shapes_follow_numpy_rules() -> None:
    p, eta = first_passage(np.full((2, 3), 0.01), np.array([1e-4, 0.0, -1e-4]), 1e-3, H)
    assert p.shape == eta.shape == (2, 3)
    scalar_p, _ = first_passage(0.01, 1e-4, 1e-3, H)
    assert scalar_p.shape == ()
    assert float(scalar_p) == p[0, 0] == p[1, 0]


def test_monte_carlo_paths_hit_as_often_as_predicted() -> None:
    """100,000 discretised paths, each corrected by the Brownian bridge.

    Between two grid points that both lie below the level, the path crosses it with
    probability exp(-2 (d - x0)(d - x1) / (s**2 dt)), for any drift. Averaging
    1 - prod(1 - that) over paths (1 where a grid point is at or past the level) is an
    unbiased estimator of the first-passage probability: no discretisation bias, so a
    3-standard-error band is an honest test.
    """
    d, m, s = 0.012, 5e-5, 1e-3
    steps, paths, chunk = 120, 100_000, 20_000
    dt = H / steps
    rng = np.random.default_rng(20240611)
    estimates = []
    for _ in range(paths // chunk):
        inc = rng.normal(m * dt, s * math.sqrt(dt), size=(chunk, steps))
        x = np.concatenate([np.zeros((chunk, 1)), np.cumsum(inc, axis=1)], axis=1)
        gap0, gap1 = d - x[:, :-1], d - x[:, 1:]
        below = (gap0 > 0) & (gap1 > 0)
        cross = np.where(below, np.exp(-2 * gap0 * gap1 / (s * s * dt)), 1.0)
        estimates.append(1.0 - np.prod(1.0 - cross, axis=1))
    est = np.concatenate(estimates)
    mean, se = est.mean(), est.std(ddof=1) / math.sqrt(paths)
    p, _ = first_passage(d, m, s, H)
    assert 0.2 < float(p) < 0.8, "pick parameters where the test has power"
    assert abs(mean - float(p)) < 3 * se, (mean, float(p), se)
    # Without the bridge the grid misses crossings between points: biased low.
    naive = np.mean(
        [
            (np.cumsum(rng.normal(m * dt, s * math.sqrt(dt), (chunk, steps)), axis=1) >= d)
            .any(axis=1)
            .mean()
            for _ in range(2)
        ]
    )
    assert naive < float(p) - 3 * se


def test_a_grid_level_at_or_below_zero_is_never_aimed_at() -> None:
    from engine.limit_forecast import grid_limits

    buy, sell = grid_limits(
        np.array([1.3, 7.44]), np.array([0.2, 7.2963]), np.array([np.nan, 7.4437]),
        np.array([1.0, 0.01]),
    )  # fmt: skip
    assert buy[0] == 0.2 and math.isnan(sell[0])  # the grid's level would be -0.2
    assert buy[1] == pytest.approx(7.295) and sell[1] == pytest.approx(7.445)
