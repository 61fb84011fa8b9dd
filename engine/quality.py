"""How good were the early warnings? Forecast quality of a run, and a naive baseline to beat.

A *crossing* is a BUY or SELL signal: the price reached a limit. An *alert* is a warning
for one symbol and side: a BUY_WATCH or SELL_WATCH from the forecast, or a naive
"the price is within k % of the limit" alarm from the baseline.

An alert is *true* when a crossing of the same symbol and side follows it (strictly
later) within the horizon; otherwise it is a *false alarm*. A crossing was *forecast*
when at least one true alert points at it, that is, the crossing is the first one of its
symbol and side after the alert; its *lead time* is measured from the earliest such
alert. Then

* precision = true alerts / alerts,
* recall = forecast crossings / crossings,
* the median lead time is taken over forecast crossings.

The baseline alerts on the rising edge of "the price is within k % of the limit and has
not reached it", per symbol and side, with no smoothing. The band k is chosen as the
smallest on a grid whose recall matches the forecast's, so the two are compared at equal
recall and the difference shows in precision and lead time.

Everything here is pure numpy: arrays in, numbers out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

#: Side codes used in :class:`Events`.
BUY_SIDE = 0
SELL_SIDE = 1
#: Baseline bands tried, as fractions of the limit (0.05 % to 20 %, geometric).
DEFAULT_BANDS: npt.NDArray[np.float64] = np.geomspace(0.0005, 0.2, 49)
#: Band used when there is no recall to match (a run without crossings).
FALLBACK_BAND = 0.01

_ALERT_SIDE = {"BUY_WATCH": BUY_SIDE, "SELL_WATCH": SELL_SIDE}
_CROSS_SIDE = {"BUY": BUY_SIDE, "SELL": SELL_SIDE}


@dataclass(frozen=True)
class Events:
    """Alerts or crossings, one row each: which symbol, which side, when.

    Attributes
    ----------
    symbol : ndarray
        Symbol of each event; ids or names, but the same kind for everything compared.
    side : ndarray of int8
        BUY_SIDE (0) or SELL_SIDE (1).
    t : ndarray of float64
        Event time in seconds.
    """

    symbol: np.ndarray
    side: npt.NDArray[np.int8]
    t: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.t)

    @classmethod
    def make(cls, symbol: npt.ArrayLike, side: npt.ArrayLike, t: npt.ArrayLike) -> Events:
        """Build from array-likes, checking that the three have the same length."""
        sym = np.asarray(symbol)
        sides = np.asarray(side, dtype=np.int8)
        times = np.asarray(t, dtype=np.float64)
        if not (sym.shape == sides.shape == times.shape) or times.ndim != 1:
            raise ValueError(
                f"symbol, side and t must be 1-d of one length, got {sym.shape}, "
                f"{sides.shape}, {times.shape}"
            )
        return cls(sym, sides, times)


@dataclass(frozen=True)
class Quality:
    """Forecast quality figures (see the module docstring for the definitions).

    Ratios are NaN when undefined: precision without alerts, recall without crossings,
    median lead time without forecast crossings.
    """

    crossings: int
    forecast: int
    alerts: int
    false_alarms: int
    precision: float
    recall: float
    median_lead_s: float
    #: Lead time of each crossing in the order given (NaN where it was not forecast).
    lead_s: npt.NDArray[np.float64] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The summary figures as JSON-ready values (None for NaN), without `lead_s`."""
        return {
            "crossings": self.crossings,
            "forecast": self.forecast,
            "alerts": self.alerts,
            "false_alarms": self.false_alarms,
            "precision": _json_float(self.precision),
            "recall": _json_float(self.recall),
            "median_lead_s": _json_float(self.median_lead_s),
        }


@dataclass(frozen=True)
class Baseline:
    """The naive band alarm at the band `k` chosen to match a target recall."""

    k: float
    quality: Quality

    def to_dict(self) -> dict[str, Any]:
        """`k` plus the quality figures, JSON-ready."""
        return {"band": _json_float(self.k), **self.quality.to_dict()}


def _json_float(x: float) -> float | None:
    return None if np.isnan(x) else round(float(x), 6)


def split_signals(
    kinds: Sequence[str] | npt.ArrayLike, symbols: npt.ArrayLike, times: npt.ArrayLike
) -> tuple[Events, Events]:
    """Separate a run's signals into alerts (WATCH) and crossings (BUY/SELL).

    Parameters
    ----------
    kinds : array_like of str
        Signal kind names: ``BUY_WATCH``, ``SELL_WATCH``, ``BUY``, ``SELL``; any other
        kind (e.g. ``GOLDEN_CROSS``) is ignored.
    symbols : array_like
        Symbol (name or id) of each signal.
    times : array_like of float
        Event time of each signal, seconds.

    Returns
    -------
    alerts, crossings : Events

    Examples
    --------
    >>> alerts, crossings = split_signals(
    ...     ["SELL_WATCH", "GOLDEN_CROSS", "SELL"], ["A", "A", "A"], [1.0, 2.0, 5.0])
    >>> len(alerts), len(crossings), float(crossings.t[0])
    (1, 1, 5.0)
    """
    kind_arr = np.asarray(kinds, dtype=str)
    sym = np.asarray(symbols)
    t = np.asarray(times, dtype=np.float64)
    if not (kind_arr.shape == sym.shape == t.shape):
        raise ValueError("kinds, symbols and times must have one length")

    def pick(sides: dict[str, int]) -> Events:
        side = np.full(kind_arr.shape, -1, dtype=np.int8)
        for name, code in sides.items():
            side[kind_arr == name] = code
        keep = side >= 0
        return Events(sym[keep], side[keep], t[keep])

    return pick(_ALERT_SIDE), pick(_CROSS_SIDE)


def score(alerts: Events, crossings: Events, horizon_s: float) -> Quality:
    """Match alerts to the crossings they announced and compute the quality figures.

    Parameters
    ----------
    alerts, crossings : Events
        Symbols must be of one kind (both ids or both names).
    horizon_s : float
        How far ahead an alert may be and still count, seconds (> 0).

    Returns
    -------
    Quality

    Examples
    --------
    >>> alerts = Events.make(["A", "A", "B"], [1, 1, 0], [0.0, 50.0, 5.0])
    >>> crossings = Events.make(["A"], [1], [8.0])
    >>> q = score(alerts, crossings, horizon_s=10.0)
    >>> q.forecast, q.false_alarms, q.precision, q.recall, q.median_lead_s
    (1, 2, 0.3333333333333333, 1.0, 8.0)
    """
    if not horizon_s > 0:
        raise ValueError(f"horizon must be positive, got {horizon_s}")
    n_alerts, n_cross = len(alerts), len(crossings)
    lead = np.full(n_cross, np.nan)
    true_alerts = 0
    if n_alerts and n_cross:
        codes = np.unique(np.concatenate([alerts.symbol, crossings.symbol]), return_inverse=True)[1]
        a_group = codes[:n_alerts].astype(np.int64) * 2 + alerts.side
        c_group = codes[n_alerts:].astype(np.int64) * 2 + crossings.side
        # One sortable integer key per event: group first, then the rank of its time
        # among all times, so a single searchsorted finds, for every alert, the first
        # crossing of its own group strictly later than it.
        ranks = np.unique(np.concatenate([alerts.t, crossings.t]), return_inverse=True)[1]
        span = np.int64(ranks.max()) + 1
        a_key = a_group * span + ranks[:n_alerts]
        c_key = c_group * span + ranks[n_alerts:]
        a_order = np.argsort(a_key, kind="stable")
        c_order = np.argsort(c_key, kind="stable")
        a_key, a_t = a_key[a_order], alerts.t[a_order]
        c_key, c_t = c_key[c_order], crossings.t[c_order]
        c_ends = np.searchsorted(c_key, (a_key // span + 1) * span, side="left")
        nxt = np.searchsorted(c_key, a_key, side="right")
        valid = nxt < c_ends
        gap = np.full(n_alerts, np.inf)
        gap[valid] = c_t[nxt[valid]] - a_t[valid]
        is_true = valid & (gap <= horizon_s)
        true_alerts = int(is_true.sum())
        # earliest true alert per crossing: alerts are time-sorted within a group, so the
        # first occurrence of each target crossing is the earliest
        targets, first = np.unique(nxt[is_true], return_index=True)
        sorted_lead = np.full(n_cross, np.nan)
        sorted_lead[targets] = gap[is_true][first]
        lead[c_order] = sorted_lead
    forecast = int(np.count_nonzero(~np.isnan(lead)))
    return Quality(
        crossings=n_cross,
        forecast=forecast,
        alerts=n_alerts,
        false_alarms=n_alerts - true_alerts,
        precision=true_alerts / n_alerts if n_alerts else float("nan"),
        recall=forecast / n_cross if n_cross else float("nan"),
        median_lead_s=float(np.nanmedian(lead)) if forecast else float("nan"),
        lead_s=lead,
    )


def forecast_quality(
    kinds: Sequence[str] | npt.ArrayLike,
    symbols: npt.ArrayLike,
    times: npt.ArrayLike,
    *,
    horizon_s: float,
) -> Quality:
    """Quality of the WATCH signals of a run as forecasts of its BUY/SELL signals.

    Parameters
    ----------
    kinds, symbols, times : array_like
        The run's signals, as for :func:`split_signals`.
    horizon_s : float
        The forecast horizon, seconds.

    Returns
    -------
    Quality

    Examples
    --------
    >>> q = forecast_quality(["BUY_WATCH", "BUY", "SELL_WATCH"], [7, 7, 7], [0.0, 4.0, 9.0],
    ...                      horizon_s=60.0)
    >>> q.recall, q.precision, q.median_lead_s
    (1.0, 0.5, 4.0)
    """
    alerts, crossings = split_signals(kinds, symbols, times)
    return score(alerts, crossings, horizon_s)


class _TickOrder:
    """A tick stream sorted by symbol (stably, so time order holds within a symbol)."""

    def __init__(
        self,
        ids: npt.ArrayLike,
        t: npt.ArrayLike,
        price: npt.ArrayLike,
        buy: npt.ArrayLike,
        sell: npt.ArrayLike,
    ) -> None:
        ids_arr = np.asarray(ids, dtype=np.int64)
        order = np.argsort(ids_arr, kind="stable")
        self.ids = ids_arr[order]
        self.t = np.asarray(t, dtype=np.float64)[order]
        self.price = np.asarray(price, dtype=np.float64)[order]
        self.buy = np.asarray(buy, dtype=np.float64)[self.ids]
        self.sell = np.asarray(sell, dtype=np.float64)[self.ids]
        self.same_symbol_as_prev = np.zeros(len(self.ids), dtype=bool)
        self.same_symbol_as_prev[1:] = self.ids[1:] == self.ids[:-1]

    def alerts(self, k: float) -> Events:
        near_sell = (self.price >= self.sell * (1.0 - k)) & (self.price < self.sell)
        near_buy = (self.price <= self.buy * (1.0 + k)) & (self.price > self.buy)
        parts = []
        for near, side in ((near_buy, BUY_SIDE), (near_sell, SELL_SIDE)):
            prev = np.zeros_like(near)
            prev[1:] = near[:-1]
            edge = np.flatnonzero(near & ~(prev & self.same_symbol_as_prev))
            parts.append((self.ids[edge], np.full(len(edge), side, np.int8), self.t[edge]))
        return Events(
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
        )


def band_alerts(
    ids: npt.ArrayLike,
    t: npt.ArrayLike,
    price: npt.ArrayLike,
    buy: npt.ArrayLike,
    sell: npt.ArrayLike,
    k: float,
) -> Events:
    """The naive alarm: when a price enters the band within `k` of a limit.

    Parameters
    ----------
    ids : array_like of int
        Symbol id of each tick, indexing `buy` and `sell`.
    t, price : array_like of float
        Event time and price of each tick, in stream order.
    buy, sell : array_like of float
        Limits by symbol id; NaN for none.
    k : float
        Band width as a fraction of the limit: a SELL alert when the price rises to at
        least ``sell * (1 - k)`` while still below ``sell``, a BUY alert when it falls to
        at most ``buy * (1 + k)`` while still above ``buy``.

    Returns
    -------
    Events
        One alert per entry into a band (its rising edge), with symbol ids.

    Examples
    --------
    >>> ev = band_alerts([0, 0, 0, 0], [0.0, 1.0, 2.0, 3.0], [100.0, 101.5, 101.8, 102.5],
    ...                  buy=[90.0], sell=[102.0], k=0.01)
    >>> ev.side.tolist(), ev.t.tolist()
    ([1], [1.0])
    """
    return _TickOrder(ids, t, price, buy, sell).alerts(k)


def baseline_quality(
    ids: npt.ArrayLike,
    t: npt.ArrayLike,
    price: npt.ArrayLike,
    buy: npt.ArrayLike,
    sell: npt.ArrayLike,
    crossings: Events,
    *,
    horizon_s: float,
    target_recall: float,
    bands: npt.ArrayLike = DEFAULT_BANDS,
) -> Baseline:
    """Score the naive band alarm at the band that matches `target_recall`.

    Parameters
    ----------
    ids, t, price, buy, sell
        The tick stream and limits, as for :func:`band_alerts`.
    crossings : Events
        The actual crossings, with symbol ids.
    horizon_s : float
        The forecast horizon, seconds.
    target_recall : float
        Usually the forecast's recall. The smallest band on the grid reaching it is
        used; if none does, the band with the best recall (the smallest among ties);
        if it is NaN (no crossings), FALLBACK_BAND.
    bands : array_like of float
        The grid of bands to try, fractions of the limit.

    Returns
    -------
    Baseline

    Examples
    --------
    >>> crossings = Events.make([0], [1], [3.0])
    >>> b = baseline_quality([0, 0, 0, 0], [0.0, 1.0, 2.0, 3.0], [100.0, 101.5, 101.8, 102.5],
    ...                      buy=[90.0], sell=[102.0], crossings=crossings, horizon_s=10.0,
    ...                      target_recall=1.0, bands=[0.001, 0.005, 0.01])
    >>> b.k, b.quality.recall, b.quality.median_lead_s
    (0.005, 1.0, 2.0)
    """
    ticks = _TickOrder(ids, t, price, buy, sell)
    grid = np.sort(np.asarray(bands, dtype=np.float64))
    if len(crossings) == 0 or np.isnan(target_recall):
        return Baseline(FALLBACK_BAND, score(ticks.alerts(FALLBACK_BAND), crossings, horizon_s))
    best: Baseline | None = None
    for k in grid:
        quality = score(ticks.alerts(float(k)), crossings, horizon_s)
        if best is None or quality.recall > best.quality.recall:
            best = Baseline(float(k), quality)
        if quality.recall >= target_recall:
            return Baseline(float(k), quality)
    assert best is not None
    return best
