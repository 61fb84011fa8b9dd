"""First-passage forecasts: chance and expected time of log price reaching a limit.

Log price is modelled as Brownian motion with drift; its first passage to a level follows
the inverse Gaussian law, evaluated here without overflow or cancellation. The drift fed
to it is an estimate; :func:`shrink_drift` discounts it by its standard error.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

__all__ = ["first_passage", "passage", "shrink_drift"]

_SQRT2 = float(np.sqrt(2.0))
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
