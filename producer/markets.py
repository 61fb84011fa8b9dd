"""Seeded, vectorized markets of several kinds for evaluating the forecast, with the truth
behind every tick: the local drift and volatility of log price that generated it.

Each kind simulates ``symbols`` instruments for ``minutes`` of event time with irregular
ticks: every symbol has its own tick rate (0.3 to 5 per second, log-uniform), which also
varies over time (a slow swing of up to about 1.6x either way, plus bursts in the
``intraday`` kind). Arrival times are a thinned Poisson process, so the gaps between ticks
are random. Volatility per square-root second lies between about 1.2e-4 and 8e-4 (a few
percent a day up to about 2 % an hour), so a limit 1 % from the first price is reached
within a minute now and then, not all the time.

Kinds (:data:`KINDS`):

``drift``
    Random walk of log price with a constant drift per symbol (a third have none).
``regimes``
    Drift and volatility that switch at random times (a few minutes per regime).
``reverting``
    Ornstein-Uhlenbeck log price around its first level (half-life 1 to 10 minutes),
    simulated exactly between ticks; the local drift is ``kappa * (level - x)``.
``jumps``
    Merton jump diffusion: a random walk plus Poisson jumps of log price (one every 5 to
    30 minutes, about 0.5-1.5 % each); the local drift and volatility given include the
    jumps' mean and variance per second.
``tick_grid``
    Low prices (3 to 15) rounded to a 0.01 tick (0.07-0.3 % of the price), so rounding
    is a large part of the noise; the truth is that of the random walk beneath.
``intraday``
    A U-shaped volatility over the hour (about 2x at the ends) with bursts of volatility
    and of tick rate (3x volatility, 5x ticks, 30 s to 2 minutes each).
``sparse``
    The ``drift`` kind's walks seen at one tick every 5 to 50 seconds (0.02 to 0.2 per
    second): a few ticks per horizon, so a limit is often crossed between two ticks, and
    the estimates rest on far fewer returns. Held out until its figures showed a
    volatility resting on too few returns, which the volatility's clock
    (``vol_returns``) now answers; its figures were looked at to choose that.
``lulls``
    The ``drift`` kind's walks with lulls: about one every 10 minutes per symbol, 1 to 5
    minutes long, in which the symbol does not tick while its price moves on, so the
    first tick after a lull may jump a limit. Held out until its figures showed the
    forecasts silent symbols leave on screen miscalibrated, which the calibration's
    groups by age (``engine.core.age_groups``) now answer; its
    figures and the ``sparse`` kind's were looked at to choose them.

``cents``
    The ``tick_grid`` kind's walks from prices of 1 to 5, so a cent is 0.2-1 % of the
    price: the price often moves less than a tick in a horizon, flickers between two
    levels, and a limit is reached by one step or not at all. Added after the held-out
    kinds, when an outside check on such prices found WATCHes of which 2 % came true;
    its figures led to the WATCH floor (``watch_floor`` in :class:`engine.EngineConfig`).

Held out (:data:`HELD_OUT`): kinds added after the engine's estimators and settings were
chosen on the eight above, and never used to tune them, so that their figures say how
the forecast does on markets it has not seen; but for one setting, the drift's
half-life, chosen later on all thirteen kinds (``DRIFT_HALFLIVES`` in
:mod:`engine.config`):

``stochvol``
    Stochastic volatility: log volatility an Ornstein-Uhlenbeck process (half-life 2 to 10
    minutes, standard deviation 0.5), and Student-t shocks with 4 degrees of freedom (fat
    tails); the truth is the volatility in force.
``bounce``
    Trades at the bid or the ask: a random walk (the efficient price, the truth) seen
    through a half-spread of 0.005 to 0.05 % on a random side at each tick, noise of up to
    several typical moves between ticks, on no grid.
``trend``
    A drift that wanders instead of switching: an Ornstein-Uhlenbeck process of its own
    (half-life 5 to 20 minutes, standard deviation 2 % an hour), so trends build and fade.
``factor``
    One market moving every symbol: each log price is its own walk (half the drift, 0.7
    of the volatility of the ``drift`` kind's) plus ``beta`` (0.5 to 1.5) times a
    market walk with its own drift, volatility (1.5 to 2.5 x 10^-4 per square-root
    second) and jumps (about one every 10 minutes, 0.6 % each, every symbol at once), so
    the outcomes the calibration learns from come in crowds, as on an exchange.

Every generator returns a :class:`Market` whose ticks are in arrival (event-time) order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from engine.segments import run_cumsum

__all__ = ["HELD_OUT", "KINDS", "START", "Market", "generate", "names"]

_F8 = NDArray[np.float64]
_I8 = NDArray[np.int64]

#: Event time of the first possible tick: 2023-11-14 22:13:20 UTC.
START = 1_700_000_000.0
#: Tick rates per symbol, ticks per second (log-uniform between the two).
RATE_RANGE = (0.3, 5.0)
#: Ticks per second of the ``sparse`` kind: one every 5 to 50 seconds.
SPARSE_RATE_RANGE = (0.02, 0.2)
#: Volatility of log price per square-root second (log-uniform between the two).
VOL_RANGE = (1.2e-4, 3.5e-4)


@dataclass(frozen=True)
class Market:
    """Ticks of one generated market in arrival order, and the truth behind each.

    Attributes
    ----------
    kind : str
    symbols : tuple of str
        Name of each symbol index.
    sym : ndarray of int32
        Symbol index of each tick.
    t : ndarray of float64
        Event time of each tick, seconds (non-decreasing).
    price : ndarray of float64
    drift, vol : ndarray of float64
        The generator's local drift (per second) and volatility (per square-root second)
        of log price in force from each tick on.
    """

    kind: str
    symbols: tuple[str, ...]
    sym: NDArray[np.int32]
    t: _F8
    price: _F8
    drift: _F8
    vol: _F8

    def __len__(self) -> int:
        return len(self.t)


def names(count: int) -> tuple[str, ...]:
    """Made-up symbol names ``M000``, ``M001``, ...; none is a real listing."""
    width = max(3, len(str(count - 1)))
    return tuple(f"M{i:0{width}d}" for i in range(count))


class _Clock:
    """Irregular tick times per symbol, sorted by symbol and then time."""

    def __init__(
        self,
        rng: np.random.Generator,
        n: int,
        duration: float,
        extra: Callable[[_I8, _F8], _F8] | None = None,
        extra_max: float = 1.0,
        rates: tuple[float, float] = RATE_RANGE,
    ) -> None:
        lo, hi = rates
        base = np.exp(rng.uniform(math.log(lo), math.log(hi), n))
        swing = rng.uniform(0.1, 0.5, n)
        period = rng.uniform(600.0, 3600.0, n)
        phase = rng.uniform(0.0, 2 * math.pi, n)
        peak = base * np.exp(swing) * extra_max
        # Thinning: candidates at the peak rate, kept with probability rate(t) / peak.
        counts = rng.poisson(peak * duration)
        sym = np.repeat(np.arange(n), counts)
        t = rng.uniform(0.0, duration, sym.size)
        rate = base[sym] * np.exp(swing[sym] * np.sin(2 * math.pi * t / period[sym] + phase[sym]))
        if extra is not None:
            rate *= extra(sym, t)
        keep = rng.uniform(0.0, 1.0, sym.size) * peak[sym] < rate
        sym, t = sym[keep], t[keep]
        order = np.lexsort((t, sym))
        self.sym = sym[order]
        self.t = t[order]
        self.n = n
        self.first = np.ones(self.sym.size, dtype=bool)
        self.first[1:] = self.sym[1:] != self.sym[:-1]
        # Time since the symbol's previous tick (0 at its first).
        self.dt = np.diff(self.t, prepend=0.0)
        self.dt[self.first] = 0.0

    def cumsum(self, x: _F8) -> _F8:
        """Running sums of ``x`` restarting at each symbol's first tick."""
        return run_cumsum(x, np.flatnonzero(self.first), np.empty_like(x))


def _walk(
    rng: np.random.Generator, clock: _Clock, drift: _F8, vol: _F8, start: _F8, tails: float = 0.0
) -> _F8:
    """Log prices of a walk whose increment over each gap uses the parameters in force
    at the previous tick (``drift``, ``vol`` given per tick); with ``tails`` > 2 the
    shocks are Student-t with that many degrees of freedom, scaled to unit variance."""
    prev_m = np.roll(drift, 1)
    prev_s = np.roll(vol, 1)
    if tails:
        shock = rng.standard_t(tails, clock.dt.size) * math.sqrt((tails - 2.0) / tails)
    else:
        shock = rng.standard_normal(clock.dt.size)
    step = prev_m * clock.dt + prev_s * np.sqrt(clock.dt) * shock
    step[clock.first] = 0.0
    return np.log(start)[clock.sym] + clock.cumsum(step)


def _start_prices(rng: np.random.Generator, n: int, lo: float = 10.0, hi: float = 400.0) -> _F8:
    return np.round(np.exp(rng.uniform(math.log(lo), math.log(hi), n)), 2)


def _vols(
    rng: np.random.Generator, n: int, lo: float = VOL_RANGE[0], hi: float = VOL_RANGE[1]
) -> _F8:
    return np.exp(rng.uniform(math.log(lo), math.log(hi), n))


def _drifts(rng: np.random.Generator, n: int) -> _F8:
    """Per-second drifts: a third zero, the rest up to about 2 % an hour either way."""
    mu = rng.normal(0.0, 0.01 / 3600.0, n)
    mu[rng.uniform(size=n) < 1 / 3] = 0.0
    return mu


def _drift(rng: np.random.Generator, n: int, duration: float) -> tuple[_Clock, _F8, _F8, _F8]:
    clock = _Clock(rng, n, duration)
    mu, sigma = _drifts(rng, n), _vols(rng, n)
    m, s = mu[clock.sym], sigma[clock.sym]
    return clock, np.exp(_walk(rng, clock, m, s, _start_prices(rng, n))), m, s


def _regimes(rng: np.random.Generator, n: int, duration: float) -> tuple[_Clock, _F8, _F8, _F8]:
    clock = _Clock(rng, n, duration)
    # Regime changes: a Poisson process of 1 per 5 minutes on average per symbol.
    most = int(duration / 300.0 * 3 + 10)
    gaps = rng.exponential(300.0, (n, most))
    bounds = np.cumsum(gaps, axis=1)
    mus = rng.normal(0.0, 0.02 / 3600.0, (n, most + 1))
    mus[rng.uniform(size=(n, most + 1)) < 0.4] = 0.0
    sig = _vols(rng, n)[:, None] * rng.choice(
        [0.5, 1.0, 2.0], size=(n, most + 1), p=[0.3, 0.45, 0.25]
    )
    regime = np.empty(clock.sym.size, dtype=np.int64)
    for i in range(n):  # one searchsorted per symbol: n calls, not one per tick
        at = slice(*np.searchsorted(clock.sym, [i, i + 1]))
        regime[at] = np.searchsorted(bounds[i], clock.t[at], side="right")
    m, s = mus[clock.sym, regime], sig[clock.sym, regime]
    return clock, np.exp(_walk(rng, clock, m, s, _start_prices(rng, n))), m, s


def _ou(rng: np.random.Generator, clock: _Clock, k: _F8, s: _F8, start_sd: float = 0.0) -> _F8:
    """An Ornstein-Uhlenbeck process ``dy = -k y dt + s dW`` at each symbol's ticks, simulated
    exactly between ticks, from ``start_sd`` times a standard normal at the first tick.

    Exact steps ``y_i = a_i y_(i-1) + e_i`` (``a_i = exp(-k dt_i)``) solved with running
    sums: ``y_i = A_i sum_j e_j / A_j``, ``A_i = exp(-k (t_i - t_first))``."""
    z = rng.standard_normal(k.size)
    e = s * np.sqrt(-np.expm1(-2 * k * clock.dt) / (2 * k)) * z
    e[clock.first] = start_sd * z[clock.first]
    elapsed = clock.cumsum(clock.dt)
    return np.exp(-k * elapsed) * clock.cumsum(e * np.exp(k * elapsed))


def _reverting(rng: np.random.Generator, n: int, duration: float) -> tuple[_Clock, _F8, _F8, _F8]:
    clock = _Clock(rng, n, duration)
    kappa = math.log(2.0) / np.exp(rng.uniform(math.log(60.0), math.log(600.0), n))
    sigma = _vols(rng, n, 3e-4, 8e-4)
    start = _start_prices(rng, n)
    level = np.log(start)
    k, s = kappa[clock.sym], sigma[clock.sym]
    y = _ou(rng, clock, k, s)
    return clock, np.exp(level[clock.sym] + y), -k * y, s


def _jumps(rng: np.random.Generator, n: int, duration: float) -> tuple[_Clock, _F8, _F8, _F8]:
    clock = _Clock(rng, n, duration)
    mu, sigma = _drifts(rng, n), _vols(rng, n, 1.2e-4, 2.5e-4)
    rate = 1.0 / rng.uniform(300.0, 1800.0, n)
    size = rng.uniform(0.005, 0.015, n)
    m, s = mu[clock.sym], sigma[clock.sym]
    log_p = _walk(rng, clock, m, s, _start_prices(rng, n))
    # Jumps fall in the gap before a tick with probability 1 - exp(-rate dt); at most one
    # per gap (gaps last seconds, jumps come minutes apart).
    lam = rate[clock.sym]
    jump = rng.uniform(size=clock.dt.size) < -np.expm1(-lam * clock.dt)
    jump_size = np.where(jump, rng.normal(0.0, size[clock.sym]), 0.0)
    log_p += clock.cumsum(jump_size)
    jump_var = lam * size[clock.sym] ** 2
    return clock, np.exp(log_p), m, np.sqrt(s * s + jump_var)


def _tick_grid(rng: np.random.Generator, n: int, duration: float) -> tuple[_Clock, _F8, _F8, _F8]:
    return _cent_grid(rng, n, duration, 3.0, 15.0)


def _cents(rng: np.random.Generator, n: int, duration: float) -> tuple[_Clock, _F8, _F8, _F8]:
    return _cent_grid(rng, n, duration, 1.0, 5.0)


def _cent_grid(
    rng: np.random.Generator, n: int, duration: float, lo: float, hi: float
) -> tuple[_Clock, _F8, _F8, _F8]:
    """Random walks starting between ``lo`` and ``hi``, seen rounded to a cent."""
    clock = _Clock(rng, n, duration)
    mu, sigma = _drifts(rng, n), _vols(rng, n)
    m, s = mu[clock.sym], sigma[clock.sym]
    latent = np.exp(_walk(rng, clock, m, s, _start_prices(rng, n, lo, hi)))
    return clock, np.maximum(np.round(latent, 2), 0.01), m, s


def _intraday(rng: np.random.Generator, n: int, duration: float) -> tuple[_Clock, _F8, _F8, _F8]:
    # Bursts: about one per 10 minutes per symbol, 30 s to 2 min long.
    most = int(duration / 600.0 * 3 + 5)
    starts = np.cumsum(rng.exponential(600.0, (n, most)), axis=1)
    ends = starts + rng.uniform(30.0, 120.0, (n, most))

    def in_burst(sym: _I8, t: _F8) -> NDArray[np.bool_]:
        inside = np.zeros(t.size, dtype=bool)
        for j in range(most):
            inside |= (t >= starts[sym, j]) & (t < ends[sym, j])
        return inside

    def u_shape(t: _F8) -> _F8:
        x = t / duration - 0.5
        return 0.6 + 5.6 * x * x  # 2.0 at both ends, 0.6 in the middle

    clock = _Clock(rng, n, duration, lambda sym, t: np.where(in_burst(sym, t), 5.0, 1.0), 5.0)
    mu, sigma = _drifts(rng, n), _vols(rng, n, 1.0e-4, 2.5e-4)
    burst = np.where(in_burst(clock.sym, clock.t), 3.0, 1.0)
    m, s = mu[clock.sym], sigma[clock.sym] * u_shape(clock.t) * burst
    return clock, np.exp(_walk(rng, clock, m, s, _start_prices(rng, n))), m, s


def _stochvol(rng: np.random.Generator, n: int, duration: float) -> tuple[_Clock, _F8, _F8, _F8]:
    clock = _Clock(rng, n, duration)
    mu, base = _drifts(rng, n), _vols(rng, n)
    kappa = math.log(2.0) / np.exp(rng.uniform(math.log(120.0), math.log(600.0), n))
    k = kappa[clock.sym]
    # log volatility: stationary standard deviation 0.5 (volatility within about 0.4x to
    # 2.7x of its level most of the time), centred so that the mean variance is base**2
    y = _ou(rng, clock, k, 0.5 * np.sqrt(2 * k), start_sd=0.5)
    m, s = mu[clock.sym], base[clock.sym] * np.exp(y - 0.25)
    return clock, np.exp(_walk(rng, clock, m, s, _start_prices(rng, n), tails=4.0)), m, s


def _bounce(rng: np.random.Generator, n: int, duration: float) -> tuple[_Clock, _F8, _F8, _F8]:
    clock = _Clock(rng, n, duration)
    mu, sigma = _drifts(rng, n), _vols(rng, n)
    m, s = mu[clock.sym], sigma[clock.sym]
    efficient = _walk(rng, clock, m, s, _start_prices(rng, n))
    half_spread = np.exp(rng.uniform(math.log(5e-5), math.log(5e-4), n))
    side = rng.choice(np.array([-1.0, 1.0]), clock.dt.size)
    return clock, np.exp(efficient + side * half_spread[clock.sym]), m, s


def _trend(rng: np.random.Generator, n: int, duration: float) -> tuple[_Clock, _F8, _F8, _F8]:
    clock = _Clock(rng, n, duration)
    sigma = _vols(rng, n)
    kappa = math.log(2.0) / np.exp(rng.uniform(math.log(300.0), math.log(1200.0), n))
    k = kappa[clock.sym]
    sd = 0.02 / 3600.0  # the drift's stationary standard deviation: 2 % an hour
    m = _ou(rng, clock, k, sd * np.sqrt(2 * k), start_sd=sd)
    s = sigma[clock.sym]
    return clock, np.exp(_walk(rng, clock, m, s, _start_prices(rng, n))), m, s


def _sparse(rng: np.random.Generator, n: int, duration: float) -> tuple[_Clock, _F8, _F8, _F8]:
    clock = _Clock(rng, n, duration, rates=SPARSE_RATE_RANGE)
    mu, sigma = _drifts(rng, n), _vols(rng, n)
    m, s = mu[clock.sym], sigma[clock.sym]
    return clock, np.exp(_walk(rng, clock, m, s, _start_prices(rng, n))), m, s


def _factor(rng: np.random.Generator, n: int, duration: float) -> tuple[_Clock, _F8, _F8, _F8]:
    clock = _Clock(rng, n, duration)
    # The market walk at every tick of every symbol, in time order: one path for all.
    order = np.argsort(clock.t, kind="stable")
    dt = np.diff(clock.t[order], prepend=0.0)
    mu_m = float(rng.normal(0.0, 0.01 / 3600.0))
    sig_m = float(rng.uniform(1.5e-4, 2.5e-4))
    rate, size = 1.0 / 600.0, 0.006
    jump = rng.uniform(size=dt.size) < -np.expm1(-rate * dt)
    step = mu_m * dt + sig_m * np.sqrt(dt) * rng.standard_normal(dt.size)
    step += np.where(jump, rng.normal(0.0, size, dt.size), 0.0)
    market = np.empty(dt.size)
    market[order] = np.cumsum(step)
    beta = rng.uniform(0.5, 1.5, n)
    mu, sigma = 0.5 * _drifts(rng, n), 0.7 * _vols(rng, n)
    b = beta[clock.sym]
    m, s = mu[clock.sym], sigma[clock.sym]
    own = _walk(rng, clock, m, s, _start_prices(rng, n))
    first = np.flatnonzero(clock.first)
    at_first = np.zeros(n)
    at_first[clock.sym[first]] = market[first]
    moved = market - at_first[clock.sym]  # since the symbol's first tick
    m_all = m + b * mu_m
    s_all = np.sqrt(s * s + b * b * (sig_m * sig_m + rate * size * size))
    return clock, np.exp(own + b * moved), m_all, s_all


def _lulls(rng: np.random.Generator, n: int, duration: float) -> tuple[_Clock, _F8, _F8, _F8]:
    # Lulls: about one per 10 minutes per symbol, 1 to 5 minutes long, with no ticks.
    most = int(duration / 600.0 * 3 + 5)
    starts = np.cumsum(rng.exponential(600.0, (n, most)), axis=1)
    ends = starts + rng.uniform(60.0, 300.0, (n, most))

    def awake(sym: _I8, t: _F8) -> _F8:
        quiet = np.zeros(t.size, dtype=bool)
        for j in range(most):
            quiet |= (t >= starts[sym, j]) & (t < ends[sym, j])
        return np.where(quiet, 0.0, 1.0)

    clock = _Clock(rng, n, duration, awake)
    mu, sigma = _drifts(rng, n), _vols(rng, n)
    m, s = mu[clock.sym], sigma[clock.sym]
    return clock, np.exp(_walk(rng, clock, m, s, _start_prices(rng, n))), m, s


_GENERATORS: dict[
    str, Callable[[np.random.Generator, int, float], tuple[_Clock, _F8, _F8, _F8]]
] = {
    "drift": _drift,
    "regimes": _regimes,
    "reverting": _reverting,
    "jumps": _jumps,
    "tick_grid": _tick_grid,
    "intraday": _intraday,
    "stochvol": _stochvol,
    "bounce": _bounce,
    "trend": _trend,
    "sparse": _sparse,
    "lulls": _lulls,
    "factor": _factor,
    "cents": _cents,
}
#: Kinds added after the engine's settings were chosen, and never used to choose them
#: but the drift's half-life (chosen on all thirteen): the evaluation's figures on these
#: are those of markets the forecast has not seen, that one setting apart.
#: (``sparse`` was held out until its figures led to the volatility's clock, see
#: ``vol_returns`` in :class:`engine.EngineConfig`; ``lulls`` until its figures led to
#: the calibration's groups by age.)
HELD_OUT: tuple[str, ...] = ("stochvol", "bounce", "trend", "factor")
#: The market kinds, in the order tables list them.
KINDS: tuple[str, ...] = tuple(_GENERATORS)


def generate(kind: str, *, symbols: int = 200, minutes: float = 60.0, seed: int = 0) -> Market:
    """Simulate one market of ``kind`` (see the module docstring).

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    symbols : int
        Number of instruments (>= 1).
    minutes : float
        Event time covered, from :data:`START`.
    seed : int
        The same seed, kind and sizes give the same market.

    Examples
    --------
    >>> m = generate("jumps", symbols=3, minutes=1.0, seed=1)
    >>> m.symbols, bool((m.t[1:] >= m.t[:-1]).all()), len(m) == len(m.vol)
    (('M000', 'M001', 'M002'), True, True)
    """
    if kind not in _GENERATORS:
        raise ValueError(f"unknown market kind {kind!r}; expected one of {', '.join(KINDS)}")
    if symbols < 1 or not minutes > 0:
        raise ValueError("a market needs at least one symbol and a positive duration")
    # One stream per kind, so adding a kind leaves the others' markets as they were.
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    clock, price, drift, vol = _GENERATORS[kind](rng, symbols, minutes * 60.0)
    order = np.argsort(clock.t, kind="stable")  # arrival order
    return Market(
        kind=kind,
        symbols=names(symbols),
        sym=clock.sym[order].astype(np.int32),
        t=START + clock.t[order],
        price=price[order],
        drift=drift[order],
        vol=vol[order],
    )
