"""Per-symbol engine state: one preallocated array per quantity, the symbol id on axis 0,
and the named columns of the running sums."""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray

from engine.config import EngineConfig
from engine.rules import INITIAL_STATES, TIMED, Rule
from engine.signals import SignalKind
from engine.watch import NEVER

__all__ = ["IN_FORCE", "LONG", "VOLATILITY", "WEIGHTED", "Store", "Sum", "history_width"]

_F8 = NDArray[np.float64]
_I8 = NDArray[np.int64]


class Sum(enum.IntEnum):
    """Column of each running sum kept per symbol (``Store.sums``).

    The first two are the moving averages' block prefix sums of price (restarting every
    window length, see :func:`engine.windows.window_mean`); the next three are weighted
    by ``w = 2**((t - anchor) / halflife)``, relative to ``Store.anchor`` (the EMA, and
    the weighted time the estimates cover); the next six, the volatility's, by
    ``v = 2**((tau - clock_anchor) / halflife)`` on the volatility's clock ``tau``
    (``Store.clock``, see :class:`~engine.core.Engine`), relative to
    ``Store.clock_anchor`` (``V_CROSS`` is the sum of ``v r_i r_(i-1)``, each return
    times the one before, ``V_BIPOWER`` that of ``v |r_i r_(i-1)|`` and ``V_ROOT_DT``
    that of ``v sqrt(dt_i dt_(i-1))``, their time steps); the last four
    are weighted by ``w_long = 2**((t - anchor) / drift_halflife)``, for the drift the
    forecasts use and its standard error.
    """

    FAST_BLOCK = 0
    SLOW_BLOCK = 1
    W_PRICE = 2
    WEIGHT = 3
    W_DT = 4
    V_WEIGHT = 5
    V_DT = 6
    V_RETURN_SQ = 7
    V_CROSS = 8
    V_BIPOWER = 9
    V_ROOT_DT = 10
    W_RETURN_LONG = 11
    W_DT_LONG = 12
    W_RETURN_SQ_LONG = 13
    W_CROSS_LONG = 14


#: The exponentially weighted sums: the columns a move of an anchor rescales, by the
#: short half-life in time (WEIGHTED) and on the volatility's clock (VOLATILITY), and
#: by the drift's (LONG).
WEIGHTED = slice(Sum.W_PRICE, Sum.V_WEIGHT)
VOLATILITY = slice(Sum.V_WEIGHT, Sum.W_RETURN_LONG)
LONG = slice(Sum.W_RETURN_LONG, None)


#: Columns of ``Store.in_force``.
IN_FORCE = 7


def history_width(cfg: EngineConfig) -> int:
    """Ticks in each symbol's chart ring: the ``history`` shown and the ``slow - 1``
    before them that its averages are replayed from; none with ``history`` 0."""
    return cfg.history + cfg.slow - 1 if cfg.history else 0


@dataclass(slots=True)
class Store:
    """State of every symbol slot; nan where a quantity is not yet defined.

    Attributes
    ----------
    n_ticks : ticks seen.
    t_last, last, open : event time of the latest tick, latest and first price.
    n_last : ticks seen at the latest event time (a run of ticks sharing it; 1 for a
        symbol whose latest tick is alone at its time).
    t_open : event time of the first tick.
    sma_fast, sma_slow, ema, drift, vol, drift_se : the latest indicators.
    forecast_drift, forecast_var : mean and variance of the drift the forecasts use (its
        posterior), nan while warming up.
    shift : distance added to each limit for prices seen only at ticks, log price.
    last_return : the latest non-zero log return; last_move_dt : the time step it took.
    last_step : the latest non-zero time step between two of its ticks (0 before any), as
        measured, a reopening's included (:func:`~engine.core.reopens`).
    grid : the smallest non-zero price step seen, ``inf`` before any: the price grid the
        forecast aims on (:func:`~engine.limit_forecast.grid_limits`).
    buy, sell : limits; p_buy, p_sell, eta_buy, eta_sell : forecasts at ``last``
        (``p`` as reported, through the calibration map).
    raw_buy, raw_sell : ``p`` as computed, before the calibration map.
    clock_slot : the calibrator's clock slot at the latest tick (``-inf`` before any).
    in_force : the forecast made at the latest tick, as the calibrator samples it at
        each slot until the symbol's next tick: ``p`` as computed towards the buy and the
        sell limit, both limits, the price, the event time and the mean time between the
        symbol's ticks then (nan before any).
    touched : whether a limit was ever set (then no default band applies).
    additive : the symbol's values are a quantity, not a price (the engine's
        ``additive`` patterns): returns and distances in its own units, not log price.
    stale : forecasts are recomputed when a snapshot asks for them.
    sums : running sums, columns :class:`Sum`.
    fast_prev, slow_prev : total of the block before the current one, per average.
    fast_ring, slow_ring : the latest block prefix sums, per average.
    anchor : time the exponential weights are relative to.
    clock : the volatility's clock at the latest tick (0 at the first): seconds, each
        step at most ``halflife_s / vol_returns`` (see :class:`~engine.core.Engine`).
    clock_anchor : the clock reading the volatility's weights are relative to.
    rules : carried rule states, columns :class:`~engine.rules.Rule`.
    last_fire : time of the latest buy watch, sell watch and cross
        (:data:`~engine.rules.TIMED`), ``-inf`` for none.
    seq : signals numbered so far, columns :class:`~engine.signals.SignalKind`.
    history : chart ring of the latest ``history + slow - 1`` ticks, time as the real
        part and price as the imaginary part (written in one scatter); the averages are
        replayed from the prices on request. No columns when ``history`` is 0.
    seen : position of the symbol's latest tick in everything the engine was given (or
        where it was registered): the smallest is the symbol idle longest.
    stream, local : the stream the symbol was registered in (its calibrator) and its id
        there.
    """

    n_ticks: _I8
    t_last: _F8
    n_last: _I8
    last: _F8
    open: _F8
    t_open: _F8
    sma_fast: _F8
    sma_slow: _F8
    ema: _F8
    drift: _F8
    vol: _F8
    drift_se: _F8
    forecast_drift: _F8
    forecast_var: _F8
    shift: _F8
    last_return: _F8
    last_move_dt: _F8
    last_step: _F8
    grid: _F8
    buy: _F8
    sell: _F8
    p_buy: _F8
    p_sell: _F8
    eta_buy: _F8
    eta_sell: _F8
    raw_buy: _F8
    raw_sell: _F8
    clock_slot: _F8
    in_force: _F8
    touched: NDArray[np.bool_]
    additive: NDArray[np.bool_]
    stale: NDArray[np.bool_]
    sums: _F8
    fast_prev: _F8
    slow_prev: _F8
    fast_ring: _F8
    slow_ring: _F8
    anchor: _F8
    clock: _F8
    clock_anchor: _F8
    rules: NDArray[np.int8]
    last_fire: _F8
    seq: _I8
    history: NDArray[np.complex128]
    seen: _I8
    stream: _I8
    local: _I8

    @classmethod
    def empty(cls, cfg: EngineConfig, capacity: int) -> Store:
        """A store of ``capacity`` slots, each as a symbol before its first tick."""

        def nan(*width: int) -> _F8:
            return np.full((capacity, *width), np.nan)

        def zero(*width: int) -> _F8:
            return np.zeros((capacity, *width))

        return cls(
            n_ticks=np.zeros(capacity, dtype=np.int64),
            t_last=nan(),
            n_last=np.zeros(capacity, dtype=np.int64),
            last=nan(),
            open=nan(),
            t_open=nan(),
            sma_fast=nan(),
            sma_slow=nan(),
            ema=nan(),
            drift=nan(),
            vol=nan(),
            drift_se=nan(),
            forecast_drift=nan(),
            forecast_var=nan(),
            shift=zero(),
            last_return=zero(),
            last_move_dt=zero(),
            last_step=zero(),
            grid=np.full(capacity, np.inf),
            buy=nan(),
            sell=nan(),
            p_buy=nan(),
            p_sell=nan(),
            eta_buy=nan(),
            eta_sell=nan(),
            raw_buy=nan(),
            raw_sell=nan(),
            clock_slot=np.full(capacity, -np.inf),
            in_force=nan(IN_FORCE),
            touched=np.zeros(capacity, dtype=bool),
            additive=np.zeros(capacity, dtype=bool),
            stale=np.zeros(capacity, dtype=bool),
            sums=zero(len(Sum)),
            fast_prev=zero(),
            slow_prev=zero(),
            fast_ring=zero(cfg.fast),
            slow_ring=zero(cfg.slow),
            anchor=nan(),
            clock=zero(),
            clock_anchor=zero(),
            rules=np.full((capacity, len(Rule)), INITIAL_STATES, dtype=np.int8),
            last_fire=np.full((capacity, len(TIMED)), NEVER),
            seq=np.zeros((capacity, len(SignalKind)), dtype=np.int64),
            history=np.full((capacity, history_width(cfg)), np.nan, dtype=np.complex128),
            seen=np.zeros(capacity, dtype=np.int64),
            stream=np.zeros(capacity, dtype=np.int64),
            local=np.zeros(capacity, dtype=np.int64),
        )

    @property
    def capacity(self) -> int:
        """Symbol slots allocated."""
        return self.n_ticks.shape[0]

    def grown(self, cfg: EngineConfig, capacity: int) -> Store:
        """A store of ``capacity`` slots holding this one's rows; the others empty."""
        bigger = Store.empty(cfg, capacity)
        for f in fields(self):
            getattr(bigger, f.name)[: self.capacity] = getattr(self, f.name)
        return bigger

    def clear(self, cfg: EngineConfig, row: int) -> None:
        """Make slot ``row`` as a symbol before its first tick (for a new symbol)."""
        fresh = Store.empty(cfg, 1)
        for f in fields(self):
            getattr(self, f.name)[row] = getattr(fresh, f.name)[0]

    def bytes_per_symbol(self) -> int:
        """Bytes of state each symbol slot takes."""
        return sum(getattr(self, f.name).nbytes for f in fields(self)) // self.capacity
