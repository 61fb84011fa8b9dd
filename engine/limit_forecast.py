"""The forecast towards both limits: from price, limits, drift, volatility and horizon to
the probability and expected time of reaching each, the one boundary the engine calls."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy import special

from engine.forecast import passage

__all__ = ["forecast_limits", "screen_reach"]

_F8 = NDArray[np.float64]


def screen_reach(below: float, horizon: float) -> float:
    """Distance in log price, per unit of volatility, beyond which a driftless first
    passage within ``horizon`` has probability at most ``below``: ``-Phi^-1(below / 2)
    sqrt(horizon)`` (with a margin), the reach :func:`forecast_limits` screens with.

    Computed once per engine: a scalar scipy call is not free.
    """
    return -float(special.ndtri(0.5 * below * (1.0 - 1e-9))) * math.sqrt(horizon)


def forecast_limits(
    price: _F8,
    buy: _F8,
    sell: _F8,
    drift: _F8,
    vol: _F8,
    horizon: float,
    screen: float | None = None,
) -> tuple[_F8, _F8]:
    """Probability ``p`` and expected time ``eta`` of the price reaching the buy limit
    (below) and the sell limit (above) within ``horizon`` seconds.

    Log price is Brownian motion with drift ``drift`` and volatility ``vol`` per second;
    its first passage to ``ln(limit)`` follows the inverse Gaussian law (Karatzas &
    Shreve, *Brownian Motion and Stochastic Calculus*, 3.5.C; Borodin & Salminen,
    *Handbook of Brownian Motion*, 2.0.2), evaluated by :func:`engine.forecast.passage`.

    Parameters
    ----------
    price, buy, sell, drift, vol : ndarray, shape (n,)
        Per tick or symbol; a nan limit means none on that side (``p`` and ``eta`` nan).
    horizon : float
        Seconds, ``> 0``.
    screen : float, optional
        :func:`screen_reach` of a probability ``below``: ticks whose probability is
        provably at most ``below`` are not evaluated, their ``p`` reported as 0 and
        ``eta`` as nan (the rules treat both alike). Every other tick is exact.

    Returns
    -------
    p, eta : ndarray, shape (2, n)
        Rows buy and sell (:class:`engine.rules.Side`).

    Notes
    -----
    The screen's proof: the probability grows with the drift, and with drift ``m >= 0``
    it is at most ``2 Phi(w)``, ``w = (m H - d) / (s sqrt(H))``, by the reflection
    principle (having reached the limit, the path ends beyond it at least as often as
    not; Karatzas & Shreve 2.6.A). So ``2 Phi(w) <= below`` for ``d >= r = max(m, 0) H
    + screen s``; a margin keeps rounding from deciding. The screen needs no logarithm:
    with ``d = ln x`` (``x`` the price over the buy limit, or the sell limit over the
    price), ``ln x >= 1 - 1/x``, so ``x (1 - r) > 1`` already gives ``d > r``. It lets
    through a few ticks more than ``d > r`` would, which only get exact values.

    Examples
    --------
    >>> p, eta = forecast_limits(
    ...     np.array([100.0]), np.array([99.0]), np.array([np.nan]),
    ...     np.array([0.0]), np.array([1e-3]), 60.0)
    >>> p.round(4).tolist(), eta.tolist()
    ([[0.1945], [nan]], [[nan], [nan]])
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        if screen is None:
            return _exact(price, buy, sell, drift, vol, horizon)
        return _screened(price, buy, sell, drift, vol, horizon, screen)


def _exact(
    price: _F8, buy: _F8, sell: _F8, drift: _F8, vol: _F8, horizon: float
) -> tuple[_F8, _F8]:
    """Every side with a limit evaluated."""
    n = price.shape[0]
    distance = np.empty((2, n))
    np.divide(price, buy, out=distance[0])
    np.divide(sell, price, out=distance[1])
    np.log(distance, out=distance)
    towards = np.empty((2, n))  # the drift towards each limit
    np.negative(drift, out=towards[0])
    towards[1] = drift
    distance, towards = distance.ravel(), towards.ravel()
    at = np.flatnonzero(~np.isnan(distance))  # nan: no limit on that side
    if at.size == 2 * n:
        p, eta = passage(distance, towards, np.concatenate((vol, vol)), horizon)
    else:
        p, eta = np.full(2 * n, np.nan), np.full(2 * n, np.nan)
        p[at], eta[at] = passage(distance[at], towards[at], vol[at % n], horizon)
    return p.reshape(2, n), eta.reshape(2, n)


def _screened(
    price: _F8, buy: _F8, sell: _F8, drift: _F8, vol: _F8, horizon: float, screen: float
) -> tuple[_F8, _F8]:
    """Only the sides the screen cannot rule out evaluated (see :func:`forecast_limits`)."""
    n = price.shape[0]
    # q = 1 - r per side (less a margin), nan where the drift or vol is unknown.
    mh = drift * horizon
    cv = vol * screen
    q = np.empty((2, n))
    np.minimum(mh, 0.0, out=q[0])  # r_buy = cv + max(-m, 0) H = cv - min(m H, 0)
    q[0] -= cv
    np.maximum(mh, 0.0, out=q[1])
    q[1] += cv
    np.subtract(1.0 - 1e-12, q[1], out=q[1])
    q[0] += 1.0 - 1e-12
    # Skipped: x (1 - r) > 1, that is price (1 - r) > buy and sell (1 - r) > price.
    q[0] *= price
    q[1] *= sell
    skip = np.empty((2, n), dtype=bool)
    np.greater(q[0], buy, out=skip[0])
    np.greater(q[1], price, out=skip[1])
    unset = np.empty((2, n), dtype=bool)  # no limit on that side: p is nan
    np.isnan(buy, out=unset[0])
    np.isnan(sell, out=unset[1])
    skip |= unset
    tb = np.flatnonzero(~skip[0])
    ts = np.flatnonzero(~skip[1])
    p = np.zeros((2, n))
    eta = np.full((2, n), np.nan)
    if unset.any():
        p[unset] = np.nan
    if tb.size + ts.size:
        distance = np.concatenate((price[tb] / buy[tb], sell[ts] / price[ts]))
        np.log(distance, out=distance)
        towards = np.concatenate((-drift[tb], drift[ts]))
        pv, ev = passage(distance, towards, np.concatenate((vol[tb], vol[ts])), horizon)
        p[0, tb], p[1, ts] = pv[: tb.size], pv[tb.size :]
        eta[0, tb], eta[1, ts] = ev[: tb.size], ev[tb.size :]
    return p, eta
