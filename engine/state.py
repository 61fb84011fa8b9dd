"""Immutable snapshots handed from the engine to its readers (the UI thread)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from engine.config import EngineConfig

__all__ = ["EngineState", "History"]

_F8 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class EngineState:
    """Snapshot of every symbol, arrays indexed by symbol id; nan where undefined.

    All arrays are read-only copies: the engine can go on updating while a reader holds
    a snapshot.

    Attributes
    ----------
    symbols : tuple of str
        Symbol of each id.
    n_ticks : ndarray of int64
        Ticks seen.
    t_last : ndarray
        Event time of the latest tick (times that go backwards are held at the latest).
    last, open : ndarray
        Latest and first price.
    sma_fast, sma_slow : ndarray
        Simple moving averages over the last ``fast``/``slow`` ticks (fewer at the start).
    ema : ndarray
        Exponential moving average of price with half-life ``halflife_s`` seconds.
    drift, vol : ndarray
        Drift and volatility of log price per second (per square-root second for vol).
    drift_se : ndarray
        Standard error of ``drift``: ``sqrt(rv / span)``, ``span`` the exponentially
        weighted time its estimate covers and ``rv`` the realised variance of the
        returns it averages (with its weights, jumps included; at least ``vol**2``). The
        forecasts use ``drift`` shrunk by it (see :func:`engine.forecast.shrink_drift`).
    buy, sell : ndarray
        Limits (nan where unset).
    p_buy, p_sell : ndarray
        Probabilities of reaching each limit within ``horizon_s`` from the latest price;
        nan while the symbol warms up (``warmup_ticks``, ``warmup_s``) unless the price is
        at the limit.
    eta_buy, eta_sell : ndarray
        Expected seconds until each limit is reached (nan when the drift points away).
    additive : ndarray of bool
        Symbols whose values are quantities, not prices (the engine's ``additive``
        patterns): their ``drift``, ``drift_se`` and ``vol`` are in the value's units per
        second (per square-root second), not in log price.
    config : EngineConfig
    refused : int
        Symbols refused because ``max_symbols`` was reached.
    evicted : int
        Symbols dropped to make room for new ones (engines that evict idle symbols).
    stream : ndarray of int64 or None
        The stream each symbol was registered in (its calibration map; see
        :meth:`Engine.register`); None where not known.
    """

    symbols: tuple[str, ...]
    n_ticks: NDArray[np.int64]
    t_last: _F8
    last: _F8
    open: _F8
    sma_fast: _F8
    sma_slow: _F8
    ema: _F8
    drift: _F8
    drift_se: _F8
    vol: _F8
    buy: _F8
    sell: _F8
    p_buy: _F8
    p_sell: _F8
    eta_buy: _F8
    eta_sell: _F8
    additive: NDArray[np.bool_]
    config: EngineConfig
    refused: int
    evicted: int = 0
    stream: NDArray[np.int64] | None = None


@dataclass(frozen=True, slots=True)
class History:
    """The latest ticks of one symbol (at most ``config.history``), oldest first.

    Attributes
    ----------
    t, price, sma_fast, sma_slow : ndarray
        Read-only arrays of equal length.
    """

    t: _F8
    price: _F8
    sma_fast: _F8
    sma_slow: _F8
