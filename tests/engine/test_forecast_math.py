"""The forecast's building blocks: conditional hit time, drift uncertainty, corrections.

Checked against scipy's distributions, quadrature, hand-made cases and seeded Monte Carlo
whose tolerances are a few standard errors of the estimate they test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal, special, stats
from test_forecast import GRID, H

from engine.forecast import (
    MONITORING_SHIFT,
    first_passage,
    horizon_vol,
    limit_distance,
    median_hit_time,
    mixed_first_passage,
    mixed_passage,
    monitored_distance,
    pool_drifts,
)


def _invgauss(d: float, m: float, s: float) -> stats.rv_continuous:
    """First passage to d > 0 with drift m > 0: mean d/m, shape d**2/s**2."""
    shape = d * d / (s * s)
    return stats.invgauss(mu=(d / m) / shape, scale=shape)


def _hits_within(
    rng: np.random.Generator, d: float, m: np.ndarray, s: float, h: float
) -> np.ndarray:
    """Exact draws of "the path reached d by h": the end point, then the Brownian bridge's
    maximum, which passes d with probability exp(-2 d (d - x) / (s**2 h)) (any drift)."""
    x = m * h + s * math.sqrt(h) * rng.standard_normal(m.shape)
    bridge = np.exp(-2.0 * d * np.maximum(d - x, 0.0) / (s * s * h))
    return (x >= d) | (rng.random(m.shape) < bridge)


def _hit_times(rng: np.random.Generator, d: float, m: np.ndarray, s: float) -> np.ndarray:
    """Exact first-passage times (inf: never): inverse Gaussian for drift towards; for drift
    away the level is reached with probability exp(-2 |m| d / s**2), then at the time of
    the mirrored drift (Girsanov)."""
    a = np.abs(m)
    t = rng.wald(d / a, d * d / (s * s))
    never = (m < 0) & (rng.random(m.shape) >= np.exp(-2.0 * a * d / (s * s)))
    return np.where(never, np.inf, t)


# --- conditional median time to the level ------------------------------------------------


@pytest.mark.parametrize(("d", "m", "s"), GRID)
def test_median_time_is_the_inverse_gaussian_quantile_at_half_the_hit_chance(
    d: float, m: float, s: float
) -> None:
    law = _invgauss(d, m, s)
    p = law.cdf(H)
    t = float(median_hit_time(d, m, s, H))
    if p == 0.0:  # nothing gets there: no time either
        assert math.isnan(t)
        return
    assert law.cdf(t) == pytest.approx(p / 2, rel=1e-9)
    if p > 1e-20:  # scipy's quantile gives up far in the tail
        assert t == pytest.approx(law.ppf(p / 2), rel=1e-9)


@pytest.mark.parametrize(("d", "m", "s"), GRID)
def test_median_time_is_the_same_for_drift_away_as_for_drift_towards(
    d: float, m: float, s: float
) -> None:
    # Girsanov: the density with -m is a constant times the one with m, so given a hit
    # the law is the same; the defective law's quantile says so independently.
    law = _invgauss(d, m, s)
    defect = math.exp(-2 * m * d / (s * s))
    p_away = float(first_passage(d, -m, s, H)[0])
    assert p_away == pytest.approx(defect * law.cdf(H), rel=1e-9, abs=1e-300)
    t = float(median_hit_time(d, -m, s, H))
    assert np.array_equal(median_hit_time(d, -m, s, H), median_hit_time(d, m, s, H), True)
    if p_away == 0.0:  # underflows, but the time given a hit is defined if towards is > 0
        assert 0.0 < t <= H if law.cdf(H) > 0 else math.isnan(t)
        return
    assert defect * law.cdf(t) == pytest.approx(p_away / 2, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("d", [1e-4, 2e-3, 0.02, 0.08])
@pytest.mark.parametrize("s", [2e-4, 1e-3, 5e-3])
def test_median_time_without_drift_is_the_levy_quantile(d: float, s: float) -> None:
    levy = stats.levy(scale=d * d / (s * s))
    p = levy.cdf(H)
    if p < 1e-200:  # too far for any path within H: no time to give, or one within H
        t = float(median_hit_time(d, 0.0, s, H))
        assert math.isnan(t) or 0.0 < t <= H
        return
    expected = (d / (s * special.ndtri(p / 4))) ** 2
    assert levy.ppf(p / 2) == pytest.approx(expected, rel=1e-9)
    assert float(median_hit_time(d, 0.0, s, H)) == pytest.approx(expected, rel=1e-12)


def test_median_time_hand_cases_reached_deterministic_unreachable_undefined() -> None:
    d = np.array([0.0, -0.01, 0.01, 0.01, 0.01, 0.01, np.nan, 0.01, 0.01])
    m = np.array([1e-4, -1e-4, 1e-3, 1e-4, -1e-3, 0.0, 1e-4, np.nan, 1e-4])
    s = np.array([1e-3, 1e-3, 0.0, 0.0, 0.0, 0.0, 1e-3, 1e-3, np.nan])
    t = median_hit_time(d, m, s, H)
    # reached: now; no noise: d/m if reached within H, else never; nan in, nan out
    assert t[:3].tolist() == [0.0, 0.0, 10.0]
    assert np.isnan(t[3:]).all()


def test_median_time_stays_finite_and_halves_the_hit_chance_at_extreme_drift_to_noise() -> None:
    # 2 |m| d / s**2 from 50 to 1e9, both signs: exp() of it overflows past ~709.
    d, s = 0.01, 1e-3
    ratio = np.array([50.0, 700.0, 1e4, 1e6, 1e9])
    m = np.concatenate((ratio, -ratio)) * s * s / (2 * d)
    t = median_hit_time(d, m, s, H)
    assert np.isfinite(t).all() and (t > 0).all() and (t <= H).all()
    # F(t) = F(H) / 2 for the drift towards the level (the same conditional law).
    one = np.ones(m.size)
    at_t = mixed_passage(d * one, np.abs(m), 0 * one, s * one, t)
    at_h, _ = first_passage(d, np.abs(m), s, H)
    np.testing.assert_allclose(at_t, at_h / 2, rtol=1e-9)
    # nearly deterministic: the median is close to d/m
    np.testing.assert_allclose(t[2:5], d / m[2:5], rtol=1e-2)


def test_median_time_never_exceeds_the_horizon_and_rises_with_distance() -> None:
    d = np.linspace(1e-4, 0.05, 500)
    t = median_hit_time(d, 2e-4, 1e-3, H)
    assert (t > 0).all() and (t <= H).all()
    assert (np.diff(t) > 0).all()


def test_median_time_of_each_element_does_not_depend_on_the_rest_of_the_array() -> None:
    rng = np.random.default_rng(5)
    d = 10 ** rng.uniform(-4, -1, 1000)
    m = rng.normal(0, 5e-4, 1000)
    s = 10 ** rng.uniform(-4, -2, 1000)
    v = 10 ** rng.uniform(-12, -6, 1000)
    whole = median_hit_time(d, m, s, H, drift_var=v)
    parts = np.concatenate(
        [
            median_hit_time(d[i : i + 7], m[i : i + 7], s[i : i + 7], H, v[i : i + 7])
            for i in range(0, 1000, 7)
        ]
    )
    assert np.array_equal(whole, parts, equal_nan=True)


@pytest.mark.parametrize("m", [3e-4, 0.0, -1e-4])
def test_monte_carlo_hits_come_before_the_median_time_half_of_the_time(m: float) -> None:
    d, s, n = 0.012, 1e-3, 400_000
    rng = np.random.default_rng(11)
    t = _hit_times(rng, d, np.full(n, m if m != 0 else 1e-12), s)
    hits = t[t <= H]
    median = float(median_hit_time(d, m, s, H))
    share = float(np.mean(hits <= median))
    se = math.sqrt(0.25 / hits.size)
    assert hits.size > 10_000, "pick parameters where the test has power"
    assert abs(share - 0.5) < 4 * se, (share, se)


# --- drift uncertainty -----------------------------------------------------------------


def test_averaged_probability_without_uncertainty_is_the_plug_in() -> None:
    d, m, s = np.meshgrid([1e-4, 0.02, 0.08], [-2e-3, 0, 1e-5, 2e-3], [2e-4, 5e-3])
    p, _ = first_passage(d, m, s, H)
    np.testing.assert_allclose(mixed_first_passage(d, m, 0.0, s, H), p, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("d", [2e-3, 0.02])
@pytest.mark.parametrize("m", [-3e-4, 0.0, 1e-5, 3e-4])
@pytest.mark.parametrize("s", [2e-4, 1e-3, 5e-3])
@pytest.mark.parametrize("sd", [1e-5, 1e-4, 1e-3])
def test_averaged_probability_matches_numerical_integration_over_the_drift(
    d: float, m: float, s: float, sd: float
) -> None:
    z = np.linspace(-12.0, 12.0, 400_001)
    p_m, _ = first_passage(d, m + sd * z, s, H)
    expected = float(np.trapezoid(p_m * stats.norm.pdf(z), z))
    p = float(mixed_first_passage(d, m, sd * sd, s, H))
    assert p == pytest.approx(expected, rel=1e-7)


def test_averaged_probability_without_noise_is_the_chance_the_drift_gets_there() -> None:
    m, v = np.array([1e-4, 2e-4, -1e-4]), 1e-8
    expected = stats.norm.cdf((m * H - 0.01) / (math.sqrt(v) * H))
    np.testing.assert_allclose(mixed_first_passage(0.01, m, v, 0.0, H), expected, rtol=1e-12)


@pytest.mark.parametrize("exponent", [50.0, 1e4, 1e9])
def test_averaged_probability_stays_finite_where_the_exponent_overflows(exponent: float) -> None:
    d, s = 0.01, 1e-3
    m = exponent * s * s / (2 * d)
    for sign in (1.0, -1.0):
        p = float(mixed_first_passage(d, sign * m, 1e-10, s, H))
        assert 0.0 <= p <= 1.0


@pytest.mark.parametrize(("mu", "sd"), [(1e-4, 1e-4), (-1e-4, 2e-4), (0.0, 5e-5)])
def test_monte_carlo_paths_with_random_drift_hit_as_often_and_as_early_as_averaged(
    mu: float, sd: float
) -> None:
    d, s, n = 0.012, 1e-3, 400_000
    rng = np.random.default_rng(7)
    m = rng.normal(mu, sd, n)
    hit = _hits_within(rng, d, m, s, H)
    p = float(mixed_first_passage(d, mu, sd * sd, s, H))
    se = math.sqrt(p * (1 - p) / n)
    assert abs(hit.mean() - p) < 4 * se, (hit.mean(), p, se)
    t = _hit_times(rng, d, m, s)
    hits = t[t <= H]
    median = float(median_hit_time(d, mu, s, H, drift_var=sd * sd))
    share = float(np.mean(hits <= median))
    assert abs(share - 0.5) < 4 * math.sqrt(0.25 / hits.size), share


def test_pooled_posterior_hand_case() -> None:
    # three estimates with unit error: prior mean 1, between-symbol variance
    # (Q - (k - 1)) / (sum w - sum w**2 / sum w) = (8 - 2) / 2 = 3, so B = 1/4
    mean, var = pool_drifts([1.0, -1.0, 3.0], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(mean, [1.0, -0.5, 2.5])
    # v (1 - B) + B**2 Var(mu0), Var(mu0) = 1 / (3 / 4)
    np.testing.assert_allclose(var, 0.75 + 1 / 16 * 4 / 3)


def test_pooled_posterior_edge_cases() -> None:
    # exact estimates stay, nan stays nan, a lone estimate is not pooled
    mean, var = pool_drifts([1.0, -1.0, 3.0, 7.0, np.nan], [1.0, 1.0, 1.0, 0.0, 1.0])
    assert mean[3] == 7.0 and var[3] == 0.0
    assert np.isnan(mean[4]) and np.isnan(var[4])
    mean, var = pool_drifts([2.0], [1.0])
    assert mean.tolist() == [2.0] and var.tolist() == [1.0]
    # estimates that scatter no more than their errors all go to the common mean
    mean, _ = pool_drifts([0.1, -0.1, 0.0], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(mean, 0.0, atol=1e-15)
    # a given centre
    mean, _ = pool_drifts([4.0, -4.0], [1.0, 1.0], center=0.0)
    np.testing.assert_allclose(mean, [4.0 * 15 / 16, -4.0 * 15 / 16])


def test_pooled_and_averaged_forecast_is_calibrated_where_the_plug_in_is_overconfident() -> None:
    """True drifts from a prior, estimates with heteroscedastic noise, exact path outcomes.

    Per bin of predicted p, the observed frequency must lie within 4 standard errors of
    the bin's mean prediction for the pooled and averaged forecast; the plug-in's top bin
    misses by many.
    """
    rng = np.random.default_rng(2024)
    n, d, s = 300_000, 0.01, 1e-3
    true = rng.normal(5e-5, 1.5e-4, n)
    se = s / np.sqrt(rng.uniform(30.0, 300.0, n))  # windows of 30 s to 5 min
    est = true + se * rng.standard_normal(n)
    hit = _hits_within(rng, d, true, s, H)
    mean, var = pool_drifts(est, se * se)
    averaged = mixed_first_passage(d, mean, var, s, H)
    plug_in, _ = first_passage(d, est, s, H)
    edges = np.linspace(0.0, 1.0, 11)
    b = np.clip(np.digitize(averaged, edges) - 1, 0, 9)
    for k in range(10):
        sel = b == k
        if sel.sum() < 500:
            continue
        pm, obs = averaged[sel].mean(), hit[sel].mean()
        tol = 4 * math.sqrt(pm * (1 - pm) / sel.sum())
        assert abs(obs - pm) < tol, (k, pm, obs, sel.sum())
    top = plug_in >= 0.9
    pm, obs = plug_in[top].mean(), hit[top].mean()
    assert obs < pm - 10 * math.sqrt(pm * (1 - pm) / top.sum()), (pm, obs)


# --- horizon variance, discrete monitoring, additive levels ----------------------------


def test_horizon_vol_gives_the_horizon_the_measured_variance() -> None:
    vol = np.array([1e-3, 1e-3, 1e-3, 2e-3])
    ratio = np.array([0.68, np.nan, -0.1, 1.0])
    out = horizon_vol(vol, ratio)
    np.testing.assert_allclose(out[0] ** 2 * H, vol[0] ** 2 * H * 0.68, rtol=1e-15)
    assert out[1:].tolist() == [1e-3, 0.0, 2e-3]


def test_horizon_vol_of_a_mean_reverting_walk_matches_its_horizon_variance() -> None:
    # AR(1) log price, 1 s steps: the measured 60-step variance ratio scales the
    # volatility so that vol**2 * 60 is the 60-step variance.
    rng = np.random.default_rng(3)
    phi, n = 0.98, 2_000_000
    x = signal.lfilter([1.0], [1.0, -phi], rng.standard_normal(n) * 1e-3)
    r1 = np.diff(x)
    r60 = x[60:] - x[:-60]
    ratio = r60.var() / (60 * r1.var())
    assert 0.3 < ratio < 0.9
    vol = float(horizon_vol(r1.std(), ratio))
    assert vol**2 * 60 == pytest.approx(r60.var(), rel=1e-12)


def test_monitoring_shift_is_the_broadie_glasserman_kou_constant() -> None:
    beta = -special.zeta(0.5) / math.sqrt(2 * math.pi)
    assert beta == pytest.approx(MONITORING_SHIFT, rel=1e-15)
    out = monitored_distance([0.01, 0.0, -0.01, 0.01], 1e-3, [4.0, 4.0, 4.0, 0.0])
    assert out.tolist() == [0.01 + MONITORING_SHIFT * 2e-3, 0.0, -0.01, 0.01]


def test_sparse_ticks_hit_as_often_as_the_shifted_barrier_says() -> None:
    """A walk seen every 5 s reaches the level less often than the continuous law says;
    the shifted barrier removes most of the difference (BGK is first order in sqrt(dt):
    at 12 looks per horizon about a tenth remains)."""
    d, m, s, dt, n = 0.01, 5e-5, 1e-3, 5.0, 400_000
    steps = int(H / dt)
    rng = np.random.default_rng(17)
    walk = np.cumsum(rng.normal(m * dt, s * math.sqrt(dt), (n, steps)), axis=1)
    observed = float((walk >= d).any(axis=1).mean())
    continuous = float(first_passage(d, m, s, H)[0])
    shifted = float(first_passage(monitored_distance(d, s, dt), m, s, H)[0])
    se = math.sqrt(observed * (1 - observed) / n)
    assert continuous - observed > 20 * se
    assert abs(shifted - observed) < 0.15 * (continuous - observed)


def test_limit_distance_in_log_price_and_in_level() -> None:
    d, m = limit_distance([100.0, 100.0, -1.0], [99.0, 101.0, 99.0], 1e-4, sell=False)
    assert d[0] == pytest.approx(math.log(100 / 99)) and m.tolist() == [-1e-4] * 3
    assert d[1] < 0 and np.isnan(d[2])
    d, m = limit_distance([100.0], [101.0], [1e-4], sell=True)
    assert d[0] == pytest.approx(math.log(1.01)) and m.tolist() == [1e-4]
    # a metric that sits at zero: level distances, no logarithm
    d, m = limit_distance([0.0, 0.0, 5.0], [3.0, -2.0, 3.0], 0.5, sell=True, additive=True)
    assert d.tolist() == [3.0, -2.0, -2.0] and m.tolist() == [0.5] * 3
    d, m = limit_distance([0.0, -1.0], -2.0, 0.5, sell=False, additive=True)
    assert d.tolist() == [2.0, 1.0] and m.tolist() == [-0.5, -0.5]
    p, _ = first_passage(d, m, 0.3, H)
    assert (p > 0).all() and (p < 1).all()
