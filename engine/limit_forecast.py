"""The forecast towards both limits: from price, limits and the estimates to the probability
of reaching each within the horizon and the median time it takes, the boundary the engine
calls."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy import special

from engine.forecast import median_passage, mixed_passage

__all__ = [
    "SEEN_WAIT",
    "Estimates",
    "forecast_limits",
    "grid_limits",
    "limit_etas",
    "screen_reach",
]

_F8 = NDArray[np.float64]

#: The wait from a price's passage through a limit to the tick that shows it, in mean
#: times between the symbol's ticks: for ticks at random times (a Poisson stream, which
#: has no memory) the wait from any moment to the next tick is exponential with the mean
#: gap, whose median is ``ln 2`` of it (evenly spaced ticks would give a half).
SEEN_WAIT = math.log(2.0)


class Estimates(NamedTuple):
    """What the forecast of one tick or symbol rests on, arrays of one shape ``(n,)``.

    ``drift`` and ``drift_var``: mean and variance of the drift of log price per second
    (its posterior, see :func:`engine.core.posterior_drift`); ``vol``: volatility per
    square-root second; ``shift``: distance added to each limit because prices are seen
    only at ticks (:func:`engine.forecast.monitored_distance`), log price.

    ``additive``: where true, the value is a quantity, not a price (a CPU percentage, a
    queue length, a temperature: it sits at zero or goes below it, and moves by amounts
    rather than in proportion to its level), and all of the above are in the value's own
    units: arithmetic Brownian motion, the distance to a limit ``limit - value`` rather
    than ``ln(limit / value)`` (:func:`engine.forecast.limit_distance`). ``None``: log
    price everywhere.
    """

    drift: _F8
    drift_var: _F8
    vol: _F8
    shift: _F8
    additive: NDArray[np.bool_] | None = None

    def take(self, index: NDArray[np.intp]) -> Estimates:
        """The estimates at ``index``."""
        return Estimates(
            *(a.take(index) for a in self[:4]),
            None if self.additive is None else self.additive.take(index),
        )

    def additive_at(self) -> NDArray[np.bool_] | None:
        """``additive``, or None when no value is additive (then log price throughout)."""
        a = self.additive
        return a if a is not None and a.any() else None


#: Ticks of a price grid short of a limit closer than this are not counted (rounding).
_GRID_SLACK = 1e-6


def grid_limits(
    price: _F8, buy: _F8, sell: _F8, grid: _F8, additive: NDArray[np.bool_] | None = None
) -> tuple[_F8, _F8]:
    """The levels at which a price quoted on a grid of ``grid`` reaches each limit.

    A price that moves in steps of ``grid`` (a tick size: cents on a 5.00 stock) reaches
    a sell limit only at the first grid level at or above it, ``k`` steps up from the
    price; seen as a continuous price rounded to the grid, it gets there once the price
    beneath passes halfway to that level, ``(k - 1/2) grid`` above the quoted price
    (which lies, on average, on that price). So the forecast aims at that level: a limit
    a tenth of a tick above the price is in fact half a tick away, and a limit exactly on
    the next level too. The buy side is the mirror image. Where ``grid`` is tiny against
    the distance (a price that is not on a coarse grid) this moves a limit by less than
    half a ``grid``; ``inf`` (no step seen yet) leaves it as it is, and so does a limit
    already reached (so "reached" is the same as for the rules).

    Parameters
    ----------
    price, buy, sell : ndarray, shape (n,)
        A nan limit stays nan.
    grid : ndarray, shape (n,)
        The smallest non-zero price step seen so far (``> 0``, ``inf`` for none).
    additive : ndarray of bool, shape (n,), optional
        Values that may be zero or below (:class:`Estimates`): their buy level may be too.

    Returns
    -------
    buy, sell : ndarray, shape (n,)

    Examples
    --------
    >>> b, s = grid_limits(np.array([7.44, 7.44]), np.array([7.2963, 7.30]),
    ...                    np.array([7.4437, 7.45]), np.array([0.01, np.inf]))
    >>> b.round(4).tolist(), s.round(4).tolist()
    ([7.295, 7.3], [7.445, 7.45])
    """
    with np.errstate(invalid="ignore"):
        steps = np.empty((2, price.shape[0]))
        np.subtract(price, buy, out=steps[0])
        np.subtract(sell, price, out=steps[1])
        steps /= grid
        steps -= _GRID_SLACK
        np.ceil(steps, out=steps)
        far = steps >= 1.0
        steps -= 0.5
        steps *= grid
        aim_buy = price - steps[0]
        above = aim_buy > 0.0  # a price near zero on a coarse grid: keep the limit
        if additive is not None:
            above |= additive
        far[0] &= above
        return np.where(far[0], aim_buy, buy), np.where(far[1], price + steps[1], sell)


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
    est: Estimates,
    horizon: float,
    screen: float | None = None,
) -> _F8:
    """Probability ``p`` of the price reaching the buy limit (below) and the sell limit
    (above) within ``horizon`` seconds.

    Log price (the value itself where ``est.additive``) is Brownian motion with a drift
    known only through its posterior
    ``N(drift, drift_var)`` and volatility ``vol`` per second; ``p`` is the first-passage
    probability averaged over that posterior (:func:`engine.forecast.mixed_passage`, the
    inverse Gaussian law of Karatzas & Shreve 3.5.C averaged in closed form), to each
    limit moved away by ``shift`` (Broadie, Glasserman & Kou 1997: a level seen only at
    ticks is reached as a continuously watched one that far beyond it).

    Parameters
    ----------
    price, buy, sell : ndarray, shape (n,)
        Per tick or symbol; a nan limit means none on that side (``p`` nan).
    est : Estimates
        Per tick or symbol.
    horizon : float
        Seconds, ``> 0``.
    screen : float, optional
        :func:`screen_reach` of a probability ``below``: ticks whose probability is
        provably at most ``below`` are not evaluated, their ``p`` reported as 0 (the
        rules treat both alike). Every other tick is exact.

    Returns
    -------
    p : ndarray, shape (2, n)
        Rows buy and sell (:class:`engine.rules.Side`); 1 where the limit is reached.

    Notes
    -----
    The screen's proof: for a known drift ``mu`` the probability grows with the drift,
    and for ``mu <= m`` (``m >= 0``) it is at most ``2 Phi((m H - d) / (s sqrt H))`` by
    the reflection principle (having reached the limit, the path ends beyond it at least
    as often as not; Karatzas & Shreve 2.6.A). Averaged over ``mu ~ N(m, v)``, the
    reflection bound ``2 P(X_H >= d)`` becomes ``2 Phi((m H - d) / D)``, ``D = sqrt(H (s**2
    + v H))``: the screen uses ``s_eff = D / sqrt(H)`` as its volatility. So ``p <= below``
    for ``d >= r = max(m, 0) H + screen s_eff``, and the shift only moves ``d`` further;
    a margin keeps rounding from deciding. The screen needs no logarithm: with ``d = ln
    x`` (``x`` the price over the buy limit, or the sell limit over the price), ``ln x >=
    1 - 1/x``, so ``x (1 - r) > 1`` already gives ``d > r``.

    Examples
    --------
    >>> one = np.array([0.0]), np.array([0.0]), np.array([1e-3]), np.array([0.0])
    >>> p = forecast_limits(np.array([100.0]), np.array([99.0]), np.array([np.nan]),
    ...                     Estimates(*one), 60.0)
    >>> p.round(4).tolist()
    [[0.1945], [nan]]

    A quantity at zero (``additive``), a threshold of 2 above it, volatility 0.3:

    >>> gauge = Estimates(*one[:2], np.array([0.3]), one[3], np.array([True]))
    >>> forecast_limits(np.array([0.0]), np.array([np.nan]), np.array([2.0]),
    ...                 gauge, 60.0).round(4).tolist()
    [[nan], [0.3894]]
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        if screen is None:
            return _exact(price, buy, sell, est, horizon)
        return _screened(price, buy, sell, est, horizon, screen)


def limit_etas(
    price: _F8,
    buy: _F8,
    sell: _F8,
    est: Estimates,
    horizon: float,
    steps: int | None = None,
    gap: _F8 | None = None,
) -> _F8:
    """Median seconds to each limit among the paths that reach it within ``horizon``.

    The time to show beside ``p``: :func:`engine.forecast.median_passage` of the same
    first-passage law as :func:`forecast_limits`, ``t*`` with ``F(t*) = F(H) / 2``.
    Defined wherever ``p > 0`` (whatever the drift's sign; 0 at a limit already
    reached), nan where there is no limit, the estimates are unknown or ``p``
    underflows. About a dozen first-passage evaluations per side: meant for what is
    shown (snapshots, fired signals), not for every tick. ``steps`` overrides the number
    of Newton steps (see :func:`engine.forecast.median_passage`).

    ``gap``, the mean seconds between each symbol's ticks: the limit is seen reached
    only at the first tick at or past it, so :data:`SEEN_WAIT` of the gap is added (at
    most up to the horizon). On markets written outside the project (``limitwatch
    evaluate FILE``, three seeds each), with a tick every 10 to 60 s the limit took a
    median 1.63 to 1.88 times the time shown without it and 1.00 to 1.02 times with it;
    on nine kinds with ticks 0.2 to 3 s apart 0.94 to 1.11 times without it and 0.90 to
    1.10 with it. (A coarse price grid is another matter: on the generated cents market
    1.40 times without it, 1.33 with it.)

    Returns
    -------
    eta : ndarray, shape (2, n)
        Rows buy and sell.

    Examples
    --------
    >>> one = np.array([0.0]), np.array([0.0]), np.array([1e-3]), np.array([0.0])
    >>> limit_etas(np.array([100.0]), np.array([99.0]), np.array([101.0]),
    ...            Estimates(*one), 60.0).round(2).tolist()
    [[36.73], [36.48]]
    """
    n = price.shape[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        distance, towards, var, vol = _oriented(price, buy, sell, est)
        eta = np.full(distance.shape, np.nan)
        at = np.flatnonzero(~np.isnan(distance))
        if at.size:
            eta[at] = median_passage(
                distance[at], towards[at], vol[at], horizon, var[at], steps=steps
            )
    eta = eta.reshape(2, n)
    if gap is not None:
        wait = np.nan_to_num(np.asarray(gap, dtype=np.float64), nan=0.0) * SEEN_WAIT
        ahead = eta > 0.0  # 0 (reached) and nan stay
        np.minimum(eta + wait, horizon, out=eta, where=ahead)
    return eta


def _oriented(price: _F8, buy: _F8, sell: _F8, est: Estimates) -> tuple[_F8, _F8, _F8, _F8]:
    """Distance to each limit (log price, shifted where not reached), drift towards it,
    drift variance and volatility: flattened, the buy side first."""
    n = price.shape[0]
    distance = np.empty((2, n))
    np.divide(price, buy, out=distance[0])
    np.divide(sell, price, out=distance[1])
    np.log(distance, out=distance)
    additive = est.additive_at()
    if additive is not None:
        distance[0, additive] = price[additive] - buy[additive]
        distance[1, additive] = sell[additive] - price[additive]
    distance = distance.ravel()
    away = np.flatnonzero(distance > 0.0)
    distance[away] += np.concatenate((est.shift, est.shift))[away]
    towards = np.empty((2, n))
    np.negative(est.drift, out=towards[0])
    towards[1] = est.drift
    return (
        distance,
        towards.ravel(),
        np.concatenate((est.drift_var, est.drift_var)),
        np.concatenate((est.vol, est.vol)),
    )


def _exact(price: _F8, buy: _F8, sell: _F8, est: Estimates, horizon: float) -> _F8:
    """Every side with a limit evaluated."""
    n = price.shape[0]
    distance, towards, var, vol = _oriented(price, buy, sell, est)
    p = mixed_passage(distance, towards, var, vol, horizon)
    p[np.isnan(distance)] = np.nan  # no limit on that side
    return p.reshape(2, n)


def _screened(
    price: _F8, buy: _F8, sell: _F8, est: Estimates, horizon: float, screen: float
) -> _F8:
    """Only the sides the screen cannot rule out evaluated (see :func:`forecast_limits`)."""
    n = price.shape[0]
    drift, var, vol, shift = est[:4]
    additive = est.additive_at()
    # q = 1 - r per side (less a margin), nan where the drift or vol is unknown.
    mh = drift * horizon
    cv = vol * vol
    cv += var * horizon
    np.sqrt(cv, out=cv)
    cv *= screen
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
    if additive is not None:  # the screen is in log price: these are evaluated
        skip[:, additive] = False
    skip |= unset
    tb = np.flatnonzero(~skip[0])
    ts = np.flatnonzero(~skip[1])
    p = np.zeros((2, n))
    if unset.any():
        p[unset] = np.nan
    if tb.size + ts.size:
        distance = np.concatenate((price[tb] / buy[tb], sell[ts] / price[ts]))
        np.log(distance, out=distance)
        both = np.concatenate((tb, ts))
        if additive is not None:
            level = np.concatenate((price[tb] - buy[tb], sell[ts] - price[ts]))
            np.copyto(distance, level, where=additive[both])
        away = distance > 0.0
        distance[away] += shift[both][away]
        towards = np.concatenate((-drift[tb], drift[ts]))
        pv = mixed_passage(distance, towards, var[both], vol[both], horizon)
        p[0, tb], p[1, ts] = pv[: tb.size], pv[tb.size :]
    return p
