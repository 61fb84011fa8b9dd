"""First-passage forecasts: chance and expected time of log price reaching a limit.

Log price is modelled as Brownian motion with drift; its first passage to a level follows
the inverse Gaussian law, evaluated here without overflow or cancellation.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

__all__ = ["first_passage"]

_SQRT2 = float(np.sqrt(2.0))


def first_passage(
    distance: ArrayLike, drift: ArrayLike, vol: ArrayLike, horizon: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Probability and expected time of Brownian motion with drift reaching a level.

    The process starts at 0 with drift ``drift`` and volatility ``vol`` per second (both
    in log-price units); the level lies ``distance`` away in the direction of positive
    drift. For ``vol > 0`` and ``distance = d > 0``, ``m = drift``, ``s = vol``,
    ``H = horizon``::

        p = Phi((m H - d) / (s sqrt(H))) + exp(2 m d / s**2) Phi((-m H - d) / (s sqrt(H)))

    The second term is evaluated without forming ``exp(2 m d / s**2)``: for ``m H + d >= 0``
    it equals ``exp(-z1**2 / 2) erfcx(u) / 2`` with ``z1 = (m H - d)/(s sqrt(H))`` and
    ``u = (m H + d)/(s sqrt(2 H))`` (the exponents cancel exactly in log space), otherwise
    ``exp(2 m d / s**2) <= 1``. Both terms are non-negative, so ``p`` keeps full relative
    precision for any ``|2 m d / s**2|``.

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
    d, m, s = d.ravel(), m.ravel(), s.ravel()
    h = float(horizon)
    with np.errstate(all="ignore"):
        root_h = np.sqrt(h)
        den = s * root_h
        mh = m * h
        z1 = (mh - d) / den
        u = (mh + d) / (den * _SQRT2)
        tail = np.exp(-0.5 * (z1 * z1)) * special.erfcx(np.maximum(u, 0.0))
        tail *= 0.5
        away = u < 0.0
        if away.any():
            # Drift away from the level faster than d/H: the factor exp(2md/s^2) is < 1.
            da, ma, sa = d[away], m[away], s[away]
            tail[away] = np.exp(2.0 * ma * da / (sa * sa)) * special.ndtr(-_SQRT2 * u[away])
        p = special.ndtr(z1)
        p += tail
        np.minimum(p, 1.0, out=p)
        still = s == 0.0
        if still.any():
            p[still] = np.where(mh[still] >= d[still], 1.0, 0.0)
        eta = np.where(m > 0.0, d / m, np.nan)
    undefined = np.isnan(d) | np.isnan(m) | np.isnan(s)
    p[undefined] = np.nan
    eta[undefined] = np.nan
    reached = d <= 0.0
    p[reached] = 1.0
    eta[reached] = 0.0
    return p.reshape(shape), eta.reshape(shape)
