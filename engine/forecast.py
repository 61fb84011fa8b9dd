"""First-passage forecasts: chance and time of a price (or any level) reaching a limit.

Log price (or, for quantities that are not prices, the level itself) is modelled as
Brownian motion with drift; its first passage to a level follows the inverse Gaussian law,
evaluated here without overflow or cancellation. Around it: the drift's uncertainty
(averaged over, or pooled across symbols), the conditional median time to the limit, and
the corrections for mean reversion and for prices seen only at ticks.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

__all__ = [
    "MONITORING_SHIFT",
    "first_passage",
    "horizon_vol",
    "limit_distance",
    "median_hit_time",
    "median_passage",
    "mixed_first_passage",
    "mixed_passage",
    "monitored_distance",
    "passage",
    "pool_drifts",
    "shrink",
    "shrink_drift",
]

_SQRT2 = float(np.sqrt(2.0))
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
# Newton steps of :func:`median_passage`, known drift and averaged drift: a fixed count,
# so that every element takes the same path whatever else is in the array. On 20,000
# random cases over 16 orders of magnitude in every parameter, 5 steps reach the root of
# the plug-in law to 6e-15 (4 to 4e-12), and 10 that of the averaged law to 1e-12
# wherever F(H) > 1e-12 (8 to 3e-5 wherever F(H) > 1e-6).
_MEDIAN_STEPS = (5, 10)
#: Broadie, Glasserman & Kou (1997): ``-zeta(1/2) / sqrt(2 pi)``, the shift (in units of
#: ``vol * sqrt(dt)``) that turns a continuously monitored barrier into one seen every
#: ``dt``.
MONITORING_SHIFT = 0.5825971579390106
# Largest exponent 2*m*d/s**2 for which exp(E) * Phi(z2) is formed directly.
_EXP_DIRECT = 40.0


def first_passage(
    distance: ArrayLike, drift: ArrayLike, vol: ArrayLike, horizon: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Probability and expected time of Brownian motion with drift reaching a level.

    The process starts at 0 with drift ``drift`` and volatility ``vol`` per second (both
    in log-price units); the level lies ``distance`` away in the direction of positive
    drift. For ``vol > 0`` and ``distance = d > 0``, ``m = drift``, ``s = vol``,
    ``H = horizon``::

        p = Phi((m H - d) / (s sqrt(H))) + exp(2 m d / s**2) Phi((-m H - d) / (s sqrt(H)))

    Both terms are non-negative, so there is no cancellation; what needs care is the
    factor ``exp(E)``, ``E = 2 m d / s**2``, which overflows while ``Phi`` underflows. For
    ``E <= 40`` the product is formed directly (it stays within range and ``exp`` loses no
    more than ``~E`` ulps). Above, the exponents are combined in log space, where they
    cancel exactly: ``E - z2**2/2 = -z1**2/2``, so the second term is
    ``exp(-z1**2 / 2) * erfcx(-z2 / sqrt(2)) / 2`` with the scaled complementary error
    function, free of overflow for any ``|E|``. ``p`` keeps full relative precision.

    Parameters
    ----------
    distance : array_like
        Distance to the level (``ln(limit/price)`` oriented towards the limit). ``<= 0``
        means the level is already reached.
    drift : array_like
        Drift per second towards the level (negative: away from it).
    vol : array_like
        Volatility per square-root second, ``>= 0``. ``0`` is the deterministic path
        ``drift * t``, which reaches the level iff ``drift * horizon >= distance``.
    horizon : float
        Horizon in seconds, ``> 0``.

    Returns
    -------
    p : ndarray
        Probability of reaching the level within ``horizon``; 1 if already reached
        (whatever the drift and volatility), otherwise nan where an input is nan.
    eta : ndarray
        Expected time to reach it, ``distance / drift`` when the drift points towards the
        level, 0 if already reached, nan otherwise (the level may never be reached).

    Examples
    --------
    >>> p, eta = first_passage([0.01, 0.0, 0.01], [0.0, 0.0, 1e-4], [1e-3, 1e-3, 0.0], 60.0)
    >>> p.round(6).tolist(), eta.tolist()
    ([0.196706, 1.0, 0.0], [nan, 0.0, 100.0])
    """
    d, m, s = np.broadcast_arrays(
        np.asarray(distance, dtype=np.float64),
        np.asarray(drift, dtype=np.float64),
        np.asarray(vol, dtype=np.float64),
    )
    shape = d.shape
    p, eta = passage(d.ravel(), m.ravel(), s.ravel(), float(horizon))
    return p.reshape(shape), eta.reshape(shape)


def passage(
    d: NDArray[np.float64], m: NDArray[np.float64], s: NDArray[np.float64], horizon: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """:func:`first_passage` for 1-D float64 arrays of one shape (no broadcasting)."""
    with np.errstate(all="ignore"):
        den = s * math.sqrt(horizon)
        mh = m * horizon
        z1 = mh - d
        z1 /= den
        z2 = -mh
        z2 -= d
        z2 /= den
        e = m * d
        e *= 2.0
        e /= s * s
        p = _two_terms(z1, z2, e)
        still = np.flatnonzero(s == 0.0)
        if still.size:
            ds, ms = d[still], mh[still]
            p[still] = np.where(np.isnan(ds) | np.isnan(ms), np.nan, ms >= ds)
        eta = d / m
        eta[~(m > 0.0)] = np.nan
    reached = np.flatnonzero(d <= 0.0)
    if reached.size:
        p[reached] = 1.0
        eta[reached] = 0.0
    return p, eta


def _two_terms(
    z1: NDArray[np.float64], z2: NDArray[np.float64], e: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``min(1, Phi(z1) + exp(e) Phi(z2))`` where ``e - z2**2 / 2 = -z1**2 / 2``.

    The first-passage sum of :func:`first_passage` (see there for the log-space branch).
    Expects errors ignored (``np.errstate``).
    """
    p = special.ndtr(z1)
    tail = special.ndtr(z2)
    tail *= np.exp(np.minimum(e, _EXP_DIRECT))
    big = np.flatnonzero(e > _EXP_DIRECT)
    if big.size:
        zb = z1[big]
        tail[big] = 0.5 * np.exp(-0.5 * zb * zb) * special.erfcx(-z2[big] / _SQRT2)
    p += tail
    np.minimum(p, 1.0, out=p)
    return p


def shrink_drift(drift: ArrayLike, se: ArrayLike) -> NDArray[np.float64]:
    """Positive-part James-Stein shrinkage of a drift estimate towards zero.

    ``drift * max(0, 1 - se**2 / drift**2)``, that is ``drift - se**2 / drift`` where
    ``|drift| > se`` and 0 elsewhere: an estimate within one standard error of zero is
    indistinguishable from noise and counts as no drift; a larger one keeps its sign and
    loses ``se**2 / |drift|``, a fraction ``1/z**2`` of itself at ``z = drift / se``
    standard errors. It is the posterior mean under a normal prior centred on zero whose
    variance is estimated from the same data (``max(0, drift**2 - se**2)``).

    Parameters
    ----------
    drift : array_like
        Drift estimates.
    se : array_like
        Their standard errors, ``>= 0``.

    Returns
    -------
    ndarray
        The shrunk drifts; nan where an input is nan.

    Examples
    --------
    >>> shrink_drift([4.0, -4.0, 1.0, 0.5, 0.0, 3.0], [2.0, 2.0, 1.0, 1.0, 0.0, 0.0]).tolist()
    [3.0, -3.0, 0.0, 0.0, 0.0, 3.0]
    """
    m, v = np.broadcast_arrays(np.asarray(drift, dtype=np.float64), np.square(se, dtype=np.float64))
    return shrink(m.ravel(), v.ravel()).reshape(m.shape)


def shrink(m: NDArray[np.float64], v: NDArray[np.float64]) -> NDArray[np.float64]:
    """:func:`shrink_drift` for 1-D float64 arrays of drifts and squared standard errors."""
    with np.errstate(all="ignore"):
        out = m * m
        np.divide(v, out, out=out)
        np.subtract(1.0, out, out=out)
        # fmax drops the nan of 0/0 (no drift, no noise): no drift then. A nan drift
        # stays nan through the product.
        np.fmax(out, 0.0, out=out)
        out *= m
    unknown = np.isnan(v)
    if unknown.any():
        out[unknown] = np.nan
    return out


def mixed_first_passage(
    distance: ArrayLike, drift: ArrayLike, drift_var: ArrayLike, vol: ArrayLike, horizon: float
) -> NDArray[np.float64]:
    """Probability of reaching a level, averaged over a normally distributed drift.

    :func:`first_passage`'s ``p`` when the drift is not known but has the posterior
    ``N(drift, drift_var)``: the predictive probability ``E[p(mu)]``. Averaging over the
    drift rather than plugging in its estimate is what keeps the forecast calibrated when
    the estimate is noisy (a plug-in is overconfident: ``p`` is convex in the drift where
    the drift carries the path to the level). With ``v = drift_var``, ``m = drift``,
    ``s = vol``, ``d = distance > 0``, ``H = horizon`` and ``D = sqrt(H (s**2 + v H))``,
    the average has a closed form::

        p = Phi((m H - d) / D)
            + exp(2 d (m + v d / s**2) / s**2) Phi(-(m H + d + 2 v d H / s**2) / D)

    The first term is ``E[Phi(a + b Z)] = Phi(a / sqrt(1 + b**2))``; the second is the
    Girsanov factor ``exp(2 mu d / s**2)`` averaged by exponential tilting,
    ``E[exp(c Z) Phi(a + b Z)] = exp(c**2 / 2) Phi((a + b c) / sqrt(1 + b**2))`` (both
    standard Gaussian integrals, e.g. Owen 1980, "A table of normal integrals", 10,010.8
    and 10,011.1). As in the plug-in law the exponent and the second argument satisfy
    ``E - z2**2 / 2 = -z1**2 / 2`` exactly, so the same overflow-safe evaluation applies.
    ``drift_var = 0`` is :func:`first_passage` (to rounding); ``vol = 0`` leaves only the
    drift's uncertainty, ``p = Phi((m H - d) / (sqrt(v) H))``.

    Parameters
    ----------
    distance : array_like
        Distance to the level, oriented towards it (see :func:`limit_distance`); ``<= 0``
        means reached.
    drift : array_like
        Posterior mean of the drift per second towards the level.
    drift_var : array_like
        Posterior variance of the drift, ``>= 0`` (squared standard error).
    vol : array_like
        Volatility per square-root second, ``>= 0``.
    horizon : float
        Horizon in seconds, ``> 0``.

    Returns
    -------
    ndarray
        The averaged probability; 1 where reached, nan where an input is nan.

    Examples
    --------
    >>> p = mixed_first_passage([0.01, 0.01, 0.01], 1e-4, [0.0, 1e-8, 1e-6], 1e-3, 60.0)
    >>> p.round(4).tolist()
    [0.4464, 0.458, 0.4934]
    """
    d, m, v, s = np.broadcast_arrays(
        np.asarray(distance, dtype=np.float64),
        np.asarray(drift, dtype=np.float64),
        np.asarray(drift_var, dtype=np.float64),
        np.asarray(vol, dtype=np.float64),
    )
    return mixed_passage(d.ravel(), m.ravel(), v.ravel(), s.ravel(), float(horizon)).reshape(
        d.shape
    )


def mixed_passage(
    d: NDArray[np.float64],
    m: NDArray[np.float64],
    v: NDArray[np.float64],
    s: NDArray[np.float64],
    horizon: float | NDArray[np.float64],
) -> NDArray[np.float64]:
    """:func:`mixed_first_passage` for 1-D float64 arrays of one shape; ``horizon`` may be
    such an array too (the distribution function of the passage time at those times)."""
    with np.errstate(all="ignore"):
        t = horizon
        s2 = s * s
        den = np.sqrt(t * (s2 + v * t))
        z1 = m * t
        z1 -= d
        z1 /= den
        z2 = 2.0 * v * d * t / s2
        z2 += m * t
        z2 += d
        z2 /= -den
        e = v * d / s2
        e += m
        e *= 2.0 * d / s2
        p = _two_terms(z1, z2, e)
        still = np.flatnonzero((s == 0.0) & (v == 0.0))
        if still.size:
            ds, ms = d[still], (m * t)[still]
            p[still] = np.where(np.isnan(ds) | np.isnan(ms), np.nan, ms >= ds)
    p[d <= 0.0] = 1.0
    return p


def median_hit_time(
    distance: ArrayLike,
    drift: ArrayLike,
    vol: ArrayLike,
    horizon: float,
    drift_var: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """Median time to reach a level, among the paths that reach it within the horizon.

    The honest "time to the limit": ``t*`` with ``F(t*) = F(H) / 2``, ``F`` the
    distribution function of the first-passage time (the inverse Gaussian law of
    :func:`first_passage`, defective when the drift points away; or, given
    ``drift_var``, its average over the drift as in :func:`mixed_first_passage`, whose
    density is the inverse Gaussian one with ``s**2`` replaced by ``s**2 + v t``). Unlike
    ``distance / drift`` it exists whenever the level can be reached within the horizon,
    whatever the sign of the drift, and it never exceeds the horizon. Without
    ``drift_var`` it does not depend on the drift's sign: by Girsanov's theorem the
    passage density with drift ``-m`` is ``exp(-2 m d / s**2)`` times the one with ``m``,
    so both have the same law given a hit. With no drift it is the Lévy law's
    ``d**2 / (s * Phi^-1(F(H) / 4))**2``; with no volatility ``d / m``.

    Solved by Newton's method on ``log F`` against ``log t``, a concave function where
    ``F`` is the plug-in law (the log-time density ``t f(t)`` is log-concave), bracketed
    by bisection, with a fixed number of steps so that every element's result depends on
    its own inputs only. The start is the lower bound from the reflection principle,
    ``F(t) <= 2 Phi((|m| t - d) / (s sqrt t))``, at which ``F`` lies between a quarter and
    half of ``F(H)``.

    Parameters
    ----------
    distance, drift, vol : array_like
        As in :func:`first_passage`.
    horizon : float
        Horizon in seconds, ``> 0``.
    drift_var : array_like, optional
        Posterior variance of the drift; omitted, the drift is taken as known.

    Returns
    -------
    ndarray
        Seconds, in ``(0, horizon]``; 0 where the level is reached; nan where it cannot be
        reached within the horizon (no volatility and too little drift) or is too far to
        reach even with the drift turned towards it (``F(H)`` underflows), or where an
        input is nan.

    Examples
    --------
    >>> d, m, s = 0.01, [1e-4, -1e-4, 0.0, 1e-3, 1e-4], [1e-3, 1e-3, 1e-3, 0.0, 0.0]
    >>> median_hit_time(d, m, s, 60.0).round(2).tolist()
    [35.39, 35.39, 36.6, 10.0, nan]
    >>> median_hit_time(0.01, 1e-4, 1e-3, 60.0, drift_var=1e-8).round(2).tolist()
    33.03
    """
    arrays = [distance, drift, vol] + ([] if drift_var is None else [drift_var])
    b = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in arrays))
    v = None if drift_var is None else b[3].ravel()
    return median_passage(b[0].ravel(), b[1].ravel(), b[2].ravel(), float(horizon), v).reshape(
        b[0].shape
    )


def median_passage(
    d: NDArray[np.float64],
    m: NDArray[np.float64],
    s: NDArray[np.float64],
    horizon: float,
    v: NDArray[np.float64] | None = None,
    steps: int | None = None,
) -> NDArray[np.float64]:
    """:func:`median_hit_time` for 1-D float64 arrays of one shape (no broadcasting);
    ``steps`` Newton steps instead of the default (:data:`_MEDIAN_STEPS`) when given."""
    if v is None:
        mu, v, steps = np.abs(m), np.zeros_like(d), _MEDIAN_STEPS[0] if steps is None else steps
    else:
        mu, steps = m, _MEDIAN_STEPS[1] if steps is None else steps
    with np.errstate(all="ignore"):
        q = mixed_passage(d, mu, v, s, horizon)
        target = np.log(q) - math.log(2.0)
        s2 = s * s
        # Start: where twice the chance of being past the level at t, 2 Phi((|mu| t - d) /
        # sqrt(s**2 t + v t**2)), is F(H) / 2: the smaller root of a quadratic in t. With
        # v = 0 it is the reflection bound of the docstring.
        z2 = special.ndtri(0.25 * q) ** 2
        dm = d * np.abs(mu)
        b = 2.0 * dm + z2 * s2
        disc = np.sqrt(z2 * (4.0 * dm * s2 + z2 * s2 * s2 + 4.0 * v * d * d))
        u = np.log(np.minimum(2.0 * d * d / (b + disc), horizon))
        u[~(u > -np.inf)] = math.log(horizon) - 1.0
        lo = np.full_like(d, -np.inf)
        hi = np.full_like(d, math.log(horizon))
        log_d = np.log(d) - _LOG_SQRT_2PI
        for _ in range(steps):
            t = np.exp(u)
            log_f = np.log(mixed_passage(d, mu, v, s, t))
            gap = log_f - target
            below = gap < 0.0
            lo = np.where(below, u, lo)
            hi = np.where(below, hi, u)
            var = s2 + v * t
            off = d - mu * t
            # log of t * density at t, less log F: the slope of log F against log t.
            slope = np.exp(log_d - 0.5 * (u + np.log(var)) - off * off / (2.0 * var * t) - log_f)
            # Newton's step, at most a factor e**3 down in time (the mixed law need not be
            # concave far from the root).
            step = np.maximum(u - gap / slope, u - 3.0)
            inside = (step >= lo) & (step <= hi)
            u = np.where(inside, step, np.where(lo > -np.inf, 0.5 * (lo + hi), hi - 1.0))
        out = np.exp(u)
        out[~(q > 0.0)] = np.nan
        still = np.flatnonzero((s == 0.0) & (v == 0.0))
        if still.size:
            ds, ms = d[still], m[still]
            out[still] = np.where((ms > 0.0) & (ms * horizon >= ds), ds / ms, np.nan)
    out[d <= 0.0] = 0.0
    return out


def pool_drifts(
    drift: ArrayLike, se2: ArrayLike, center: float | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Empirical-Bayes posterior of each symbol's drift, the prior pooled across symbols.

    Each estimate ``x_i`` is taken as the true drift ``mu_i`` plus normal noise of
    variance ``v_i = se2_i``, the true drifts as drawn from a common prior
    ``N(mu0, A)``. The prior is estimated from all the symbols by the method of moments
    of DerSimonian & Laird (1986) (weights ``1 / v_i``, ``A = max(0, (Q - (k - 1)) /
    (sum w - sum w**2 / sum w))``, then ``mu0`` the mean weighted by ``1 / (v_i + A)``),
    and each symbol gets the normal posterior of Morris (1983), "Parametric empirical
    Bayes inference": with ``B_i = v_i / (v_i + A)``, mean ``x_i + B_i (mu0 - x_i)`` and
    variance ``v_i (1 - B_i) + B_i**2 Var(mu0)``, the last term for ``mu0`` being itself
    estimated. A noisy estimate moves towards what the other symbols say, a precise one
    keeps its own; feed the result to :func:`mixed_first_passage`.

    The prior is estimated from whatever symbols are passed, so to keep an engine's
    results independent of how its ticks were batched, pass every symbol's current
    estimate at points fixed by event time (as :class:`~engine.calibration.Calibrator`
    does for its map), not the symbols that happen to be in a batch.

    Parameters
    ----------
    drift : array_like
        Drift estimates, 1-D.
    se2 : array_like
        Their squared standard errors, ``>= 0``.
    center : float, optional
        A prior mean to use instead of estimating one (0: shrink towards no drift); then
        ``A = max(0, (sum w (x - center)**2 - k) / sum w)``.

    Returns
    -------
    mean, var : ndarray
        Posterior mean and variance of each drift; nan where an input is nan. Estimates
        with ``se2 = 0`` are taken as exact; with fewer than two usable estimates nothing
        is pooled (the posterior is the estimate).

    Examples
    --------
    >>> mean, var = pool_drifts([1.0, -1.0, 3.0, 0.0], [1.0, 1.0, 1.0, 0.0])
    >>> mean.round(3).tolist(), var.round(3).tolist()
    ([1.0, -0.5, 2.5, 0.0], [0.833, 0.833, 0.833, 0.0])
    """
    x = np.asarray(drift, dtype=np.float64).ravel()
    v = np.asarray(se2, dtype=np.float64).ravel()
    use = np.isfinite(x) & np.isfinite(v) & (v > 0.0)
    k = int(np.count_nonzero(use))
    if k < 2:
        return x + 0.0 * v, v + 0.0 * x
    xu, w = x[use], 1.0 / v[use]
    sw = w.sum()
    if center is None:
        mean_w = (w * xu).sum() / sw
        q = (w * (xu - mean_w) ** 2).sum()
        a = max(0.0, (q - (k - 1)) / (sw - (w * w).sum() / sw))
        wa = 1.0 / (v[use] + a)
        mu0 = float((wa * xu).sum() / wa.sum())
        var_mu0 = float(1.0 / wa.sum())
    else:
        mu0 = float(center)
        a = max(0.0, ((w * (xu - mu0) ** 2).sum() - k) / sw)
        var_mu0 = 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        b = np.where(v > 0.0, v / (v + a), 0.0)
    b[np.isnan(v)] = np.nan
    mean = x + b * (mu0 - x)
    var = v * (1.0 - b) + b * b * var_mu0
    var[np.isnan(x)] = np.nan
    return mean, var


def horizon_vol(vol: ArrayLike, ratio: ArrayLike) -> NDArray[np.float64]:
    """Volatility per square-root second that gives the horizon the variance it shows.

    The variance ratio of Lo & MacKinlay (1988), ``VR = Var(r_H) / (H / dt * Var(r_dt))``
    of returns over the horizon against returns over a short step, is 1 for a random
    walk, below 1 under mean reversion and above under momentum. Scaling the variance by
    ``H`` alone overstates the reach of a mean-reverting price; the first-passage law is
    then evaluated with ``vol * sqrt(VR)``, so that ``vol**2 * H`` is the measured
    variance at the horizon (a diffusion matched at the horizon, not an exact
    mean-reverting passage law). The measured ratio is clipped at 0; nan (not yet
    measured) leaves the volatility unchanged.

    Parameters
    ----------
    vol : array_like
        Volatility per square-root second from short returns.
    ratio : array_like
        Measured variance ratio at the horizon.

    Returns
    -------
    ndarray

    Examples
    --------
    >>> horizon_vol([1e-3, 1e-3, 1e-3], [0.64, float("nan"), 1.44]).tolist()
    [0.0008, 0.001, 0.0012]
    """
    r = np.asarray(ratio, dtype=np.float64)
    return np.asarray(vol, dtype=np.float64) * np.sqrt(np.where(np.isnan(r), 1.0, np.fmax(r, 0.0)))


def monitored_distance(distance: ArrayLike, vol: ArrayLike, dt: ArrayLike) -> NDArray[np.float64]:
    """Distance to a level that is only seen at ticks ``dt`` seconds apart.

    Broadie, Glasserman & Kou (1997), "A continuity correction for discrete barrier
    options": a barrier monitored every ``dt`` is reached with the probability of a
    continuously monitored barrier shifted away by ``beta * vol * sqrt(dt)``, ``beta =
    -zeta(1/2) / sqrt(2 pi) ~ 0.5826`` (:data:`MONITORING_SHIFT`), to first order in
    ``sqrt(dt)``. A level already reached stays reached; ``dt = 0`` changes nothing.

    Parameters
    ----------
    distance : array_like
        Distance to the level, oriented towards it.
    vol : array_like
        Volatility per square-root second (same units as the distance).
    dt : array_like
        Typical time between ticks, seconds, ``>= 0``.

    Returns
    -------
    ndarray

    Examples
    --------
    >>> monitored_distance([0.01, 0.0], 1e-3, 4.0).round(8).tolist()
    [0.01116519, 0.0]
    """
    d = np.asarray(distance, dtype=np.float64)
    shifted = d + MONITORING_SHIFT * np.asarray(vol, dtype=np.float64) * np.sqrt(dt)
    return np.where(d > 0.0, shifted, d)


def limit_distance(
    value: ArrayLike, limit: ArrayLike, drift: ArrayLike, *, sell: bool, additive: bool = False
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Distance to a limit and drift towards it, in log price or in level.

    A buy limit lies below the value, a sell limit above. Prices move in proportion to
    their level, so the first passage is taken in log price (geometric Brownian motion):
    distance ``ln(value / limit)`` (buy) or ``ln(limit / value)`` (sell), with drift and
    volatility of log returns. Quantities that can be zero or negative, or do not move
    in proportion (system metrics), use the additive model (arithmetic Brownian motion,
    Bachelier): distance ``value - limit`` or ``limit - value``, with drift and
    volatility of differences. The first-passage functions take either.

    Parameters
    ----------
    value, limit : array_like
        Current value and the limit; in log price both must be positive (nan otherwise).
    drift : array_like
        Drift per second upwards (of log price, or of the level).
    sell : bool
        The limit is above (sell) rather than below (buy).
    additive : bool
        Level rather than log price.

    Returns
    -------
    distance, drift : ndarray
        Oriented towards the limit: ``<= 0`` where reached, drift positive towards it.

    Examples
    --------
    >>> d, m = limit_distance([-2.0, 5.0], 0.0, [0.1, 0.1], sell=True, additive=True)
    >>> d.tolist(), m.tolist()
    ([2.0, -5.0], [0.1, 0.1])
    >>> d, m = limit_distance(100.0, 99.0, 1e-4, sell=False)
    >>> round(float(d), 6), float(m)
    (0.01005, -0.0001)
    """
    x = np.asarray(value, dtype=np.float64)
    lim = np.asarray(limit, dtype=np.float64)
    m = np.asarray(drift, dtype=np.float64)
    if additive:
        d = lim - x if sell else x - lim
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.log(lim / x) if sell else np.log(x / lim)
        d = np.where((x > 0.0) & (lim > 0.0), d, np.nan)
    d, m = np.broadcast_arrays(d, m if sell else -m)
    return d.astype(np.float64), m.astype(np.float64)
