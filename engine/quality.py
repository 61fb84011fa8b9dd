"""How good were the early warnings? Forecast quality of a run, and two naive alarms to beat.

A *crossing* is a BUY or SELL signal: the price reached a limit. An *alert* is a warning
for one symbol and side: a BUY_WATCH or SELL_WATCH from the forecast, or an alarm from a
baseline.

An alert is *true* when its symbol's price reaches the limit of its side at a later tick
within the horizon (a crossing of the same symbol and side does; without the ticks, only
a crossing counts); otherwise it is a *false alarm*, unless its symbol's ticks
end within the horizon after it: then the data cannot say, and it is *undecided*, left
out of the counts below (a recording stopped 17 s after three WATCHes, which came true
30 s later live, had scored them three false alarms). A crossing was *forecast*
when at least one true alert points at it, that is, the crossing is the first one of its
symbol and side after the alert; its *lead time* is measured from the earliest such
alert. Then

* precision = true alerts / alerts,
* recall = forecast crossings / crossings,
* the median lead time is taken over forecast crossings.

The baselines alert under the engine's WATCH discipline (:mod:`engine.watch`: expiry
after the horizon, a quiet time between two alerts, re-arming once the score falls
back), per symbol and side, while the price has not reached the limit, on a distance:

* *proximity*: the price is within ``k`` (a fraction of the limit) of the limit, score
  ``-(price/buy - 1)`` or ``-(1 - price/sell)`` against ``-k``, re-armed at a distance
  of ``k / rearm``;
* *vol-scaled*: the distance to the limit in log price is at most ``z`` standard
  deviations over the horizon, ``ln(price/limit) / (sigma sqrt(H)) <= z``, with
  ``sigma`` the realised volatility per square-root second of the symbol's returns over
  the trailing :data:`VOL_WINDOW_S` seconds up to and including the tick (never later
  ones), undefined (no alarm) until it rests on :data:`VOL_MIN_RETURNS` returns;
  re-armed at ``z / rearm``.

So the engine, the oracle and both alarms are compared under one rule, and an alarm
cannot buy precision or lose it by chattering where the forecast may not.

Each baseline's threshold is swept over a grid, and of the thresholds whose precision is
at or above the forecast's the one with the longest median lead is taken: the alarm at
its best at no lower a precision (ties go to the larger recall, then the smaller
threshold); when none reaches the forecast's precision, the highest precision on the
grid. At equal precision the difference shows in lead time and alert count. Under the
WATCH rule an alarm's precision is not monotone in its threshold: on generated random
walks a proximity band of 0.05 % of the limit warns at the last moment and is less
precise (0.55) than one of 0.1 % (0.59-0.61, with twice the lead), because a band that
holds a wandering price re-warns less. Taking the threshold whose precision is *closest*
above the forecast's then picked the small band and compared the forecast with the
alarm at its worst (a lead ratio of 1.71 where the alarm at its best gives 0.85). The
threshold is chosen on the ticks it is scored on, in hindsight: the best of 49 on a short
file with a few crossings flatters the alarm (a forecast has no threshold tuned to the
file), so judge the comparison on many crossings.
(Matching recall instead flatters a band alarm: its smallest band often already recalls
more than the forecast, and then wins on both precision and recall by warning only at
the last moment.)

Everything here is pure numpy: arrays in, numbers out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.segments import run_cumsum
from engine.watch import Discipline, Streams, stream_fires, whole_streams

#: Side codes used in :class:`Events`.
BUY_SIDE = 0
SELL_SIDE = 1
#: Proximity bands tried, as fractions of the limit (0.05 % to 20 %, geometric). Bands
#: under 0.05 % were tried and dropped: a band of 0.001 % with a handful of alerts in an
#: hour is precise by chance, and had the longest lead of those "at equal precision".
DEFAULT_BANDS: npt.NDArray[np.float64] = np.geomspace(0.0005, 0.2, 49)
#: Vol-scaled thresholds tried, in standard deviations over the horizon (geometric).
DEFAULT_ZS: npt.NDArray[np.float64] = np.geomspace(0.05, 6.0, 49)
#: Thresholds used when there is no precision to match (a forecast without alerts).
FALLBACK_BAND = 0.01
FALLBACK_Z = 1.0
#: Trailing window of the vol-scaled baseline's volatility, seconds, and the fewest
#: returns it needs.
VOL_WINDOW_S = 300.0
VOL_MIN_RETURNS = 10
PROXIMITY = "proximity"
VOL_SCALED = "vol-scaled"

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

    def take(self, at: npt.ArrayLike) -> Events:
        """The events at ``at`` (indices or a mask)."""
        return Events(self.symbol[at], self.side[at], self.t[at])

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
    #: Whether each alert, in the order given, was true (empty from a :class:`Sweep`,
    #: which keeps counts, not alerts).
    true_alert: npt.NDArray[np.bool_] = field(repr=False, default_factory=lambda: np.zeros(0, bool))
    #: Alerts left out of `alerts`: not true, with their symbol's ticks ending within the
    #: horizon after them.
    undecided: int = 0

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
            "undecided": self.undecided,
        }


@dataclass(frozen=True)
class Baseline:
    """A naive alarm at the threshold chosen to match a target precision.

    ``curve`` holds the whole sweep, one row per threshold on the grid: threshold,
    precision, recall, median lead time (s) and alert count.
    """

    name: str
    threshold: float
    quality: Quality
    curve: npt.NDArray[np.float64] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Name and threshold plus the quality figures, JSON-ready."""
        return {
            "name": self.name,
            "threshold": _json_float(self.threshold),
            **self.quality.to_dict(),
        }


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


def undecided_alerts(
    alerts: Events, true_alert: npt.ArrayLike, horizon_s: float, ends: npt.ArrayLike
) -> npt.NDArray[np.bool_]:
    """Per alert, whether the data cannot judge it: not true, and its horizon reaches past
    its symbol's last tick (``ends``)."""
    late = alerts.t + horizon_s > np.asarray(ends, dtype=np.float64)
    return ~np.asarray(true_alert, dtype=bool) & late


def score(
    alerts: Events,
    crossings: Events,
    horizon_s: float,
    ends: npt.ArrayLike | None = None,
    reached: npt.ArrayLike | None = None,
) -> Quality:
    """Match alerts to the crossings they announced and compute the quality figures.

    Parameters
    ----------
    alerts, crossings : Events
        Symbols must be of one kind (both ids or both names).
    horizon_s : float
        How far ahead an alert may be and still count, seconds (> 0).
    ends : array_like of float, optional
        Per alert, the time of its symbol's last tick: an alert not true whose horizon
        reaches past it is undecided. None: every alert is decided.
    reached : array_like of bool, optional
        Per alert, whether a later tick of its symbol reached the limit within the
        horizon: then it is true as well, crossing or not. None: true by crossings alone.

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
    >>> q = score(alerts, crossings, horizon_s=10.0, ends=[60.0, 55.0, 60.0])
    >>> q.alerts, q.false_alarms, q.undecided  # A's ticks end 5 s after its second
    (2, 1, 1)
    >>> q = score(alerts, crossings, horizon_s=10.0, reached=[True, True, False])
    >>> q.false_alarms, q.precision, q.forecast  # A's second: its price touched the limit
    (1, 0.6666666666666666, 1)
    """
    if not horizon_s > 0:
        raise ValueError(f"horizon must be positive, got {horizon_s}")
    n_alerts, n_cross = len(alerts), len(crossings)
    lead = np.full(n_cross, np.nan)
    true_alert = np.zeros(n_alerts, dtype=bool)
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
        true_alert[a_order] = is_true
        # earliest true alert per crossing: alerts are time-sorted within a group, so the
        # first occurrence of each target crossing is the earliest
        targets, first = np.unique(nxt[is_true], return_index=True)
        sorted_lead = np.full(n_cross, np.nan)
        sorted_lead[targets] = gap[is_true][first]
        lead[c_order] = sorted_lead
    if reached is not None and n_alerts:
        true_alert |= np.asarray(reached, dtype=bool)
    undecided = 0
    if ends is not None and n_alerts:
        undecided = int(np.count_nonzero(undecided_alerts(alerts, true_alert, horizon_s, ends)))
    return _quality(
        lead, n_alerts - undecided, int(true_alert.sum()), true_alert, undecided=undecided
    )


def _quality(
    lead: npt.NDArray[np.float64],
    n_alerts: int,
    true_alerts: int,
    true_alert: npt.NDArray[np.bool_] | None = None,
    undecided: int = 0,
) -> Quality:
    """The figures from each crossing's lead time (NaN: not forecast) and alert counts."""
    forecast = int(np.count_nonzero(~np.isnan(lead)))
    n_cross = len(lead)
    return Quality(
        crossings=n_cross,
        forecast=forecast,
        alerts=n_alerts,
        false_alarms=n_alerts - true_alerts,
        precision=true_alerts / n_alerts if n_alerts else float("nan"),
        recall=forecast / n_cross if n_cross else float("nan"),
        median_lead_s=float(np.nanmedian(lead)) if forecast else float("nan"),
        lead_s=lead,
        true_alert=np.zeros(0, bool) if true_alert is None else true_alert,
        undecided=undecided,
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


class TickOrder:
    """A tick stream sorted by symbol (stably, so time order holds within a symbol), with
    each tick's limits.

    Parameters
    ----------
    ids : array_like of int
        Symbol id of each tick, indexing `buy` and `sell`.
    t, price : array_like of float
        Event time and price of each tick, in stream order.
    buy, sell : array_like of float
        Limits by symbol id; NaN for none.
    """

    def __init__(
        self,
        ids: npt.ArrayLike,
        t: npt.ArrayLike,
        price: npt.ArrayLike,
        buy: npt.ArrayLike,
        sell: npt.ArrayLike,
    ) -> None:
        ids_arr = np.asarray(ids, dtype=np.int64)
        self.order = np.argsort(ids_arr, kind="stable")
        self.ids = ids_arr[self.order]
        self.t = np.asarray(t, dtype=np.float64)[self.order]
        self.price = np.asarray(price, dtype=np.float64)[self.order]
        self.buy = np.asarray(buy, dtype=np.float64)[self.ids]
        self.sell = np.asarray(sell, dtype=np.float64)[self.ids]
        self.same_symbol_as_prev = np.zeros(len(self.ids), dtype=bool)
        self.same_symbol_as_prev[1:] = self.ids[1:] == self.ids[:-1]
        with np.errstate(invalid="ignore"):
            self.reached = np.stack((self.price <= self.buy, self.price >= self.sell))
        n = len(self.ids)
        ends = (
            np.r_[np.flatnonzero(~self.same_symbol_as_prev[1:]) + 1, n] if n else np.empty(0, int)
        )
        #: Per tick, the index just past the last tick of its symbol.
        self.stream_end = np.repeat(ends, np.diff(np.r_[0, ends])).astype(np.int64)
        # One sortable integer key per tick: its symbol, then the rank of its time among
        # the distinct times. Exact, so a symbol's ticks are found alike whichever other
        # symbols share the TickOrder (the scoring reads a group of symbols at a time).
        self._times = np.unique(self.t)
        self._width = self._times.size + 1
        self._key = self.ids * self._width + np.searchsorted(self._times, self.t)
        self._first = np.flatnonzero(~self.same_symbol_as_prev)
        #: The symbols that have ticks, ascending.
        self.streams = self.ids[self._first]
        self._runs: Streams | None = None  # made for the first alarm, see fires
        self._latest: npt.NDArray[np.float64] | None = None  # see last_t
        self._reach: npt.NDArray[np.float64] | None = None  # see next_reach

    def locate(self, ids: npt.ArrayLike, t: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Index of the latest tick of symbol ``ids`` at or before time ``t`` (-1 if none).

        >>> TickOrder([1, 0, 1], [0.0, 1.0, 2.0], [1.0] * 3, [0.5] * 2, [2.0] * 2).locate(
        ...     [1, 1, 0, 0], [1.5, 9.0, 0.5, 1.0]).tolist()
        [1, 2, -1, 0]
        """
        q_ids = np.asarray(ids, dtype=np.int64)
        # how many distinct times are at or before each t: the ticks to look among
        upto = np.searchsorted(self._times, np.asarray(t, dtype=np.float64), side="right")
        at = np.searchsorted(self._key, q_ids * self._width + upto, side="left") - 1
        ok = at >= 0
        ok[ok] = self.ids[at[ok]] == q_ids[ok]
        return np.where(ok, at, -1)

    def last_t(self, ids: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """The latest tick time of each of symbols ``ids`` (each one with ticks).

        >>> TickOrder([1, 0, 1], [0.0, 1.0, 2.0], [1.0] * 3, [0.5] * 2, [2.0] * 2).last_t(
        ...     [1, 0]).tolist()
        [2.0, 1.0]
        """
        if self._latest is None:  # made once: every threshold of a sweep asks
            self._latest = np.maximum.reduceat(self.t, self._first) if len(self.t) else self.t
        return self._latest[np.searchsorted(self.streams, np.asarray(ids, dtype=np.int64))]

    def running_sum(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """``x`` summed along each symbol's ticks, from its first, in place
        (:func:`~engine.segments.run_cumsum`: the same in any grouping of symbols)."""
        return run_cumsum(x, self._first)

    def next_index(self, mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
        """Per tick, the index of the first tick at or after it, of the same symbol,
        where ``mask`` holds (``len(self)`` if none)."""
        n = len(self.ids)
        first = np.minimum.accumulate(np.where(mask, np.arange(n), n)[::-1])[::-1]
        return np.where(first < self.stream_end, first, n)

    def next_reach(self) -> npt.NDArray[np.float64]:
        """Per side and tick (shape ``(2, ticks)``), the time of the first tick at or after
        it, of the same symbol, that reaches the limit (inf if none). Made once."""
        if self._reach is None:
            t = np.r_[self.t, np.inf]
            self._reach = np.stack([t[self.next_index(self.reached[side])] for side in (0, 1)])
        return self._reach

    def reach_after(self, side: npt.ArrayLike, at: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Per tick ``at``, the time of the first later tick of its symbol at or beyond the
        limit of ``side`` (inf if none).

        >>> ticks = TickOrder([0, 0, 0], [0.0, 5.0, 9.0], [100.0, 101.0, 99.0], [99.0], [102.0])
        >>> ticks.reach_after([0, 1, 0], [0, 0, 2]).tolist()
        [9.0, inf, inf]
        """
        at_a = np.asarray(at, dtype=np.int64)
        if not at_a.size:
            return np.empty(0)
        nxt = np.minimum(at_a + 1, len(self) - 1)
        same = (at_a + 1 < len(self)) & (self.ids[nxt] == self.ids[at_a])
        reach = self.next_reach()[np.asarray(side, dtype=np.int64), nxt]
        return np.where(same, reach, np.inf)

    def time_to_limit(
        self, side: npt.ArrayLike, at: npt.ArrayLike, t: npt.ArrayLike
    ) -> npt.NDArray[np.float64]:
        """Per moment ``t`` at tick ``at`` (its symbol's latest then), the time until a later
        tick of that symbol reached the limit of ``side`` (inf if none did):
        :meth:`reach_after` less ``t``.

        >>> ticks = TickOrder([0, 0, 0], [0.0, 5.0, 9.0], [100.0, 101.0, 99.0], [99.0], [102.0])
        >>> ticks.time_to_limit([0, 1, 0], [0, 0, 2], [1.0, 1.0, 9.0]).tolist()
        [8.0, inf, inf]
        """
        return self.reach_after(side, at) - np.asarray(t, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.ids)

    def fires(
        self, score: npt.NDArray[np.float64], alert: float, rule: Discipline
    ) -> npt.NDArray[np.bool_]:
        """Where an alarm on ``score`` (shape ``(2, ticks)``: buy side, sell side) fires at
        ``alert`` under ``rule`` (:func:`engine.watch.stream_fires`), per symbol, where the
        price has not reached the limit."""
        if self._runs is None:
            self._runs = whole_streams(self.ids, self.t, 2)
        return stream_fires(self._runs, score, alert, self.reached, rule)

    def events(self, fired: npt.NDArray[np.bool_]) -> Events:
        """The alerts of a fire mask of shape ``(2, ticks)``, in tick order per side."""
        return self.events_at(fired)[0]

    def events_at(self, fired: npt.NDArray[np.bool_]) -> tuple[Events, npt.NDArray[np.int64]]:
        """:meth:`events`, and the tick of each alert."""
        side, at = np.divmod(np.flatnonzero(fired), fired.shape[1])  # 2-D nonzero is slower
        return Events(self.ids[at], side.astype(np.int8), self.t[at]), at

    def proximity(self) -> npt.NDArray[np.float64]:
        """Distance to each limit as a fraction of it, shape ``(2, ticks)``."""
        with np.errstate(invalid="ignore"):
            return np.stack((self.price / self.buy - 1.0, 1.0 - self.price / self.sell))

    def alerts(self, k: float, rule: Discipline) -> Events:
        """The proximity alarm at band ``k``."""
        return self.events(self.fires(-self.proximity(), -k, rule))

    def distance_sd(self, horizon_s: float) -> npt.NDArray[np.float64]:
        """Distance to each limit in standard deviations over the horizon, shape
        ``(2, ticks)``, from the trailing volatility (NaN where it is undefined)."""
        n = len(self)
        out = np.empty((2, n))
        if not n:
            return out
        # In place where it can be: a group of ticks is scored at once, and the sums
        # below would otherwise hold a dozen arrays of its length.
        first = ~self.same_symbol_as_prev
        with np.errstate(invalid="ignore", divide="ignore"):
            log_p = np.log(self.price)
            r2 = np.empty(n)  # squared returns, then their running sum
            r2[0] = 0.0
            np.subtract(log_p[1:], log_p[:-1], out=r2[1:])
            r2[first] = 0.0
            np.multiply(r2, r2, out=r2)
            self.running_sum(r2)
            span = np.empty(n)  # time between ticks, then its running sum
            span[0] = 0.0
            np.subtract(self.t[1:], self.t[:-1], out=span[1:])
            span[first] = 0.0
            self.running_sum(span)
            # The window's first tick: the earliest of the same symbol within the window
            # (the first whose time ranks at or above that of t - window).
            lo = np.searchsorted(self._times, self.t - VOL_WINDOW_S, side="left")
            lo += self.ids * self._width
            lo = np.searchsorted(self._key, lo, side="left")
            returns = np.cumsum(~first)
            returns -= returns[lo]
            sigma = r2 - r2.take(lo)
            del r2
            sigma /= span - span.take(lo)
            del span, lo
            np.sqrt(sigma, out=sigma)
            sigma[returns < VOL_MIN_RETURNS] = np.nan
            del returns
            sigma *= np.sqrt(horizon_s)
            np.divide(self.price, self.buy, out=out[0])
            np.divide(self.sell, self.price, out=out[1])
            np.log(out, out=out)
            out /= sigma
        return out


def band_alerts(
    ids: npt.ArrayLike,
    t: npt.ArrayLike,
    price: npt.ArrayLike,
    buy: npt.ArrayLike,
    sell: npt.ArrayLike,
    k: float,
    rule: Discipline,
) -> Events:
    """The proximity alarm: when a price enters the band within `k` of a limit.

    Parameters
    ----------
    ids, t, price, buy, sell
        The tick stream and limits, as for :class:`TickOrder`.
    k : float
        Band width as a fraction of the limit: a SELL alert when the price rises to at
        least ``sell * (1 - k)`` while still below ``sell``, a BUY alert when it falls to
        at most ``buy * (1 + k)`` while still above ``buy``.
    rule : Discipline
        When an alert expires and re-arms (the engine's WATCH rule).

    Returns
    -------
    Events
        The alerts, with symbol ids, in tick order per side.

    Examples
    --------
    >>> ev = band_alerts([0, 0, 0, 0], [0.0, 1.0, 2.0, 3.0], [100.0, 101.5, 101.8, 102.5],
    ...                  buy=[90.0], sell=[102.0], k=0.01, rule=Discipline(60.0, 30.0, 0.5))
    >>> ev.side.tolist(), ev.t.tolist()
    ([1], [1.0])
    """
    return TickOrder(ids, t, price, buy, sell).alerts(k, rule)


def match_precision(
    name: str,
    alerts_at: Callable[[float], Events],
    grid: npt.ArrayLike,
    crossings: Events,
    *,
    horizon_s: float,
    target_precision: float,
    fallback: float,
    reached_at: Callable[[float], npt.NDArray[np.bool_]] | None = None,
) -> Baseline:
    """Sweep an alarm's threshold over `grid` and keep its best at `target_precision`.

    Of the thresholds whose precision is at or above the target, the kept one has the
    longest median lead (the alarm at its best at no lower a precision); among ties, the
    largest recall, then the smallest threshold. If none reaches the target, the highest
    precision (ties: the largest recall, then the longest lead). A NaN or zero target (a
    forecast without alerts, or none of whose alerts came true: any threshold reaches
    it, and the longest lead of all was shown as at equal precision) keeps `fallback`.

    Parameters
    ----------
    name : str
        What the alarm is called in reports.
    alerts_at : callable
        The alarm's alerts at a threshold.
    grid : array_like of float
        Thresholds to try.
    crossings : Events
        The actual crossings.
    horizon_s : float
        The forecast horizon, seconds.
    target_precision : float
        Usually the forecast's precision.
    fallback : float
        The threshold kept for a NaN target.
    reached_at : callable, optional
        Per alert of ``alerts_at`` at a threshold, whether its price reached the limit
        within the horizon (see :func:`score`); None: true by crossings alone.

    Returns
    -------
    Baseline
        With the sweep in ``curve``.
    """
    thresholds = np.sort(np.asarray(grid, dtype=np.float64))

    def scored_at(x: float) -> Quality:
        reached = None if reached_at is None else reached_at(x)
        return score(alerts_at(x), crossings, horizon_s, reached=reached)

    scored = [scored_at(float(x)) for x in thresholds]
    curve = _curve(thresholds, scored)
    if not target_precision > 0.0:  # no alert, or none came true: nothing to match
        return Baseline(name, fallback, scored_at(fallback), curve)
    best = _best(thresholds, curve, target_precision)
    return Baseline(name, float(thresholds[best]), scored[best], curve)


def _curve(
    thresholds: npt.NDArray[np.float64], scored: Sequence[Quality]
) -> npt.NDArray[np.float64]:
    """Rows of threshold, precision, recall, median lead and alerts."""
    return np.array(
        [
            [x, q.precision, q.recall, q.median_lead_s, q.alerts]
            for x, q in zip(thresholds, scored, strict=True)
        ],
        dtype=np.float64,
    ).reshape(-1, 5)


def _best(
    thresholds: npt.NDArray[np.float64], curve: npt.NDArray[np.float64], target_precision: float
) -> int:
    """The row of :func:`match_precision`'s choice."""
    precision = np.nan_to_num(curve[:, 1], nan=-1.0)
    recall = np.nan_to_num(curve[:, 2], nan=-1.0)
    lead = np.nan_to_num(curve[:, 3], nan=-1.0)
    reaching = precision >= target_precision
    if reaching.any():
        # the longest lead at no lower a precision; ties: the largest recall, then the
        # smallest threshold
        cand = np.flatnonzero(reaching)
        keys = (thresholds[cand], -recall[cand], -lead[cand])
        return int(cand[np.lexsort(keys)[0]])
    return int(np.lexsort((thresholds, -lead, -recall, -precision))[0])


class Sweep:
    """An alarm scored at every threshold of its grid (and its fallback) on one or more
    :class:`TickOrder` over disjoint sets of symbols: the whole run, or the run's symbols
    a group at a time so that its ticks need not be in memory at once.

    An alarm fires per symbol and side, and an alert answers to the crossings of its own
    symbol and side only, so each group is scored against its own symbols' crossings and
    the tallies added up: per threshold the alerts, the true ones and each crossing's
    lead time, the same figures as :func:`score` on all the alerts at once (the alerts
    themselves are not kept, so the :class:`Quality` made has an empty ``true_alert``).
    Matched to a precision (:meth:`match`) as often as asked.
    """

    def __init__(
        self, name: str, grid: npt.ArrayLike, fallback: float, crossings: Events, horizon_s: float
    ) -> None:
        if not horizon_s > 0:
            raise ValueError(f"horizon must be positive, got {horizon_s}")
        self.name = name
        self.thresholds = np.sort(np.asarray(grid, dtype=np.float64))
        self.fallback = float(fallback)
        self.crossings = crossings
        self.horizon_s = horizon_s
        self._at = [*self.thresholds.tolist(), self.fallback]
        self._lead = np.full((len(self._at), len(crossings)), np.nan)
        self._alerts = np.zeros(len(self._at), dtype=np.int64)
        self._true = np.zeros(len(self._at), dtype=np.int64)
        self._undecided = np.zeros(len(self._at), dtype=np.int64)

    def add(self, ticks: TickOrder, closeness: npt.NDArray[np.float64], rule: Discipline) -> None:
        """Score the alarm on ``ticks`` (every tick of its symbols) at every threshold,
        the score being ``closeness`` (shape ``(2, ticks)``; minus a distance, so the
        alarm fires at ``-threshold``)."""
        c = self.crossings
        mine = np.flatnonzero(np.isin(c.symbol, ticks.streams))
        theirs = c.take(mine)
        for i, x in enumerate(self._at):
            alerts, at = ticks.events_at(ticks.fires(closeness, -x, rule))
            reached = ticks.time_to_limit(alerts.side, at, alerts.t) <= self.horizon_s
            q = score(
                alerts, theirs, self.horizon_s, ends=ticks.last_t(alerts.symbol), reached=reached
            )
            self._lead[i, mine] = q.lead_s
            self._alerts[i] += q.alerts
            self._true[i] += q.alerts - q.false_alarms
            self._undecided[i] += q.undecided

    def quality(self, threshold: float) -> Quality:
        """The figures at a threshold of the grid or the fallback."""
        i = self._at.index(threshold)
        return _quality(
            self._lead[i].copy(), int(self._alerts[i]), int(self._true[i]),
            undecided=int(self._undecided[i]),
        )  # fmt: skip

    def match(self, target_precision: float) -> Baseline:
        """The alarm at its best at ``target_precision``: :func:`match_precision` given
        ``reached_at`` (its alerts judged by the price, as here)."""
        scored = [self.quality(x) for x in self.thresholds.tolist()]
        curve = _curve(self.thresholds, scored)
        if not target_precision > 0.0:  # no alert, or none came true: nothing to match
            return Baseline(self.name, self.fallback, self.quality(self.fallback), curve)
        best = _best(self.thresholds, curve, target_precision)
        return Baseline(self.name, float(self.thresholds[best]), scored[best], curve)


def sweeps(
    crossings: Events,
    horizon_s: float,
    bands: npt.ArrayLike = DEFAULT_BANDS,
    zs: npt.ArrayLike = DEFAULT_ZS,
) -> tuple[Sweep, Sweep]:
    """Empty sweeps of both naive alarms, proximity and vol-scaled, over their grids."""
    return (
        Sweep(PROXIMITY, bands, FALLBACK_BAND, crossings, horizon_s),
        Sweep(VOL_SCALED, zs, FALLBACK_Z, crossings, horizon_s),
    )


def sweep_alarms(proximity: Sweep, vol_scaled: Sweep, ticks: TickOrder, rule: Discipline) -> None:
    """Score both naive alarms on ``ticks`` into their sweeps."""
    proximity.add(ticks, -ticks.proximity(), rule)  # negated once for every threshold
    vol_scaled.add(ticks, -ticks.distance_sd(vol_scaled.horizon_s), rule)


def baselines(
    ticks: TickOrder,
    crossings: Events,
    *,
    horizon_s: float,
    target_precision: float,
    rule: Discipline,
    bands: npt.ArrayLike = DEFAULT_BANDS,
    zs: npt.ArrayLike = DEFAULT_ZS,
) -> tuple[Baseline, Baseline]:
    """Both naive alarms, proximity and vol-scaled, at the forecast's precision.

    Parameters
    ----------
    ticks : TickOrder
        The tick stream and limits.
    crossings : Events
        The actual crossings, with symbol ids.
    horizon_s : float
        The forecast horizon, seconds.
    target_precision : float
        The forecast's precision (see :func:`match_precision`).
    rule : Discipline
        The WATCH rule both alarms follow, the engine's.
    bands, zs : array_like of float
        The grids of proximity bands (fractions of the limit) and of vol-scaled
        thresholds (standard deviations over the horizon).

    Returns
    -------
    proximity, vol_scaled : Baseline

    Examples
    --------
    >>> ticks = TickOrder([0, 0, 0, 0], [0.0, 1.0, 2.0, 3.0], [100.0, 101.5, 101.8, 102.5],
    ...                   buy=[90.0], sell=[102.0])
    >>> prox, vol = baselines(ticks, Events.make([0], [1], [3.0]), horizon_s=10.0,
    ...                       target_precision=1.0, rule=Discipline(10.0, 5.0, 0.5),
    ...                       bands=[0.001, 0.005, 0.01])
    >>> prox.threshold, prox.quality.precision, prox.quality.median_lead_s
    (0.005, 1.0, 2.0)
    """
    prox, vol = sweeps(crossings, horizon_s, bands, zs)
    sweep_alarms(prox, vol, ticks, rule)
    return prox.match(target_precision), vol.match(target_precision)
