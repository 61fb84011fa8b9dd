"""Self-calibration of hit forecasts: outcomes recorded once their horizon has passed, a
monotone map learned from them and applied to the forecasts reported next.

Everything advances on a grid of event time (the running maximum of tick times, cut into
slots of ``sample_every`` seconds), never on where batches start or end: the engine cuts
its batches only where the map is refitted (:meth:`Calibrator.next_refit`), so any split
of the same ticks gives bit-identical maps, records and calibrated forecasts.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from engine.segments import expand_runs

__all__ = [
    "DECILES",
    "CalibrationRecord",
    "Calibrator",
    "TimingRecord",
    "isotonic",
    "logistic_fit",
    "pooled_record",
    "shift_odds",
]

#: Bins of the record shown to the user (by reported probability).
DECILES = 10
#: Pending forecasts a calibrator has room for at first (see Calibrator: it grows).
_RING_START = 1024

_F8 = NDArray[np.float64]
# Log-odds of the inner bin edges run from -_LOGIT_SPAN to +_LOGIT_SPAN (1 % to 99 %).
_LOGIT_SPAN = math.log(99.0)
#: Outcomes a bin of the map rests on before the bins above it may rise past its value.
_DENSE = 50.0
#: Price extremes a resolve gathers at once at most (slots x horizon x symbols).
_GATHER_MOST = 1 << 20
#: Rows of the outcome sums kept per group, in their order: the fit bins (n, hits, sum p,
#: sum logit p), the recent record (n, hits, sum p), the deciles (n, sum p, hits) and the
#: Brier sums (n, hits, squared errors reported and raw).
_SUMS = (4, 3, 3, 4)


def logistic_fit(
    n: ArrayLike, hits: ArrayLike, x: ArrayLike, ridge: float = 1.0, steps: int = 12
) -> tuple[float, float]:
    """Intercept and slope ``(a, b)`` of ``P(hit) = 1 / (1 + exp(-(a + b x)))`` fitted to
    grouped outcomes: ``n`` trials with ``hits`` successes at log-odds ``x`` each.

    Platt scaling (Platt, 1999, "Probabilistic outputs for support vector machines"), by
    Newton's method on the log-likelihood with a ridge penalty ``ridge / 2 * (a**2 +
    (b - 1)**2)`` towards the identity ``(0, 1)``: with few outcomes the fit stays near
    the identity, and the slope is kept at or above 0 so the map stays non-decreasing.

    Examples
    --------
    >>> a, b = logistic_fit([1000, 1000, 1000], [250, 500, 750], [-2.0, 0.0, 2.0])
    >>> round(a, 3), round(b, 3)  # log-odds of 1/4 and 3/4 at -2 and 2: about ln(3)/2
    (0.0, 0.55)
    >>> logistic_fit([0, 0], [0, 0], [-1.0, 1.0])  # nothing observed: the identity
    (0.0, 1.0)
    """
    n_a = np.asarray(n, dtype=np.float64)
    y_a = np.asarray(hits, dtype=np.float64)
    x_a = np.asarray(x, dtype=np.float64)
    some = n_a > 0
    n_a, y_a, x_a = n_a[some], y_a[some], x_a[some]
    a, b = 0.0, 1.0
    for _ in range(steps):
        q = 1.0 / (1.0 + np.exp(-np.clip(a + b * x_a, -30.0, 30.0)))
        r = y_a - n_a * q
        w = n_a * q * (1.0 - q)
        ga = float(r.sum()) - ridge * a
        gb = float((r * x_a).sum()) - ridge * (b - 1.0)
        haa = float(w.sum()) + ridge
        hab = float((w * x_a).sum())
        hbb = float((w * x_a * x_a).sum()) + ridge
        det = haa * hbb - hab * hab
        if not det > 0:
            break
        a += (hbb * ga - hab * gb) / det
        b = max(b + (haa * gb - hab * ga) / det, 0.0)
    return a, b


def _logit(p: _F8) -> _F8:
    q = np.clip(p, 1e-9, 1.0 - 1e-9)
    return np.log(q / (1.0 - q))


def isotonic(y: ArrayLike, w: ArrayLike) -> _F8:
    """Weighted least-squares non-decreasing fit: the pool-adjacent-violators algorithm.

    Ayer, Brunk, Ewing, Reid & Silverman (1955); Barlow, Bartholomew, Bremner & Brunk
    (1972), "Statistical inference under order restrictions". Adjacent values that
    violate the order are pooled into their weighted mean until none does.

    Parameters
    ----------
    y : array_like
        Values in order, 1-D.
    w : array_like
        Their weights, ``> 0``.

    Returns
    -------
    ndarray
        The non-decreasing sequence closest to ``y`` in weighted squares.

    Examples
    --------
    >>> isotonic([0.1, 0.3, 0.2, 0.6], [1.0, 1.0, 3.0, 1.0]).round(3).tolist()
    [0.1, 0.225, 0.225, 0.6]
    """
    values: list[float] = []
    weights: list[float] = []
    sizes: list[int] = []
    for yi, wi in zip(
        np.asarray(y, dtype=np.float64).tolist(),
        np.asarray(w, dtype=np.float64).tolist(),
        strict=True,
    ):
        values.append(yi)
        weights.append(wi)
        sizes.append(1)
        while len(values) > 1 and values[-2] > values[-1]:
            wv = weights[-2] + weights[-1]
            values[-2] = (weights[-2] * values[-2] + weights[-1] * values[-1]) / wv
            weights[-2] = wv
            sizes[-2] += sizes[-1]
            del values[-1], weights[-1], sizes[-1]
    return np.repeat(np.array(values), sizes)


@dataclass(frozen=True)
class CalibrationRecord:
    """The track record of one stream's forecasts, binned by the probability reported.

    Attributes
    ----------
    predicted, observed, count : ndarray, shape (DECILES,)
        Per decile of the reported ``p``: its mean, the frequency with which the limit was
        reached within the horizon, and how many forecasts (weighted, if old ones are
        forgotten) that rests on; nan where the count is 0. Read-only.
    brier, brier_raw : float
        Mean squared error of the reported and of the uncalibrated probability.
    base_rate : float
        Frequency of hits among all resolved forecasts.
    skill : float
        Brier skill against always forecasting the base rate, ``1 - brier / (b (1 - b))``:
        1 is perfect, 0 no better than the base rate; nan until both outcomes occurred.
    resolved : float
        Forecasts resolved (weighted).
    """

    predicted: _F8
    observed: _F8
    count: _F8
    brier: float
    brier_raw: float
    base_rate: float
    skill: float
    resolved: float

    def explain(self, p: float, where: str = "this stream") -> str:
        """One line on how forecasts of ``p``'s tenth of chances have fared on this
        stream (``where``), with what they said on average: "near <1%" beside a record
        of the whole 0-10% tenth read as if forecasts of under 1% came true 13% of the
        time.

        Examples
        --------
        >>> record = Calibrator(60.0).record()
        >>> record.explain(0.72)
        'no forecast of 70-80% on this stream has come due yet'
        >>> record.explain(0.72, "partition 2")
        'no forecast of 70-80% on partition 2 has come due yet'
        """
        if not math.isfinite(p):
            return f"no forecast on {where} has come due yet"
        k = min(max(int(p * DECILES), 0), DECILES - 1)
        tenth = f"{100 * k // DECILES}-{100 * (k + 1) // DECILES}%"
        if not self.count[k] > 0:
            return f"no forecast of {tenth} on {where} has come due yet"
        return (
            f"forecasts of {tenth} on {where} ({self.predicted[k]:.0%} on average) came true "
            f"{self.observed[k]:.0%} of {round(float(self.count[k]))} times"
        )


class Calibrator:
    """Learns online how often forecasts of each probability come true, and corrects them.

    It runs on a grid of event time: slots of ``sample_every`` seconds of the running
    maximum tick time (the *clock*). Slot by slot, a caller moves the clock into a slot
    (:meth:`advance`), hands it the forecasts made there (:meth:`sample`) and each
    symbol's lowest and highest price there (:meth:`observe`). The engine does the same
    for a whole piece of ticks at once: :meth:`advance_slot` to its first slot,
    :meth:`open_to` its last (at most ``refit_every`` later), :meth:`sample` and
    :meth:`observe` with each forecast's and tick's own slot, then :meth:`resolve_due`;
    it cuts its batches where the clock reaches :meth:`next_refit`. :meth:`apply` maps
    raw probabilities with the map in force, which changes only there.

    A forecast sampled as the clock enters slot ``k`` (time ``t0 = k * sample_every``) is
    resolved as the clock enters slot ``k + horizon / sample_every``: a hit if a price
    seen in between (the ticks of the ``horizon`` seconds of clock from ``t0``) reached
    its limit. Outcomes are counted per group (stream) in ``bins`` bins of the raw
    probability, equal in log-odds between 1 % and 99 % (plus one below and one above):
    maps are steep near 0 and 1, where equal bins would leave a straight line to (0, 0)
    or (1, 1) across much of their bend. The map is refitted ``refit_every`` seconds of
    clock after the first tick, then at intervals that grow with the clock's age
    (``refit_growth`` of it, in whole slots, between ``refit_every`` and
    ``refit_most``): a stream's first minutes teach it most, and a long backtest is not
    cut into a piece per minute (the engine cuts its batches where the map changes). It is
    refitted: per bin, the mean raw ``p`` and the hit frequency under a Beta prior
    of weight ``prior`` centred on a logistic curve fitted to all bins at once
    (:func:`logistic_fit`, Platt scaling: with few outcomes the identity), made
    non-decreasing by :func:`isotonic` (pool-adjacent-violators, Zadrozny & Elkan 2002,
    "Transforming classifier scores into accurate multiclass probability estimates"),
    weighing each bin by the outcomes it rests on and its prior's, and interpolated
    linearly from (0, 0), flat above the top bin's mean (1 stays for a price at its
    limit); bins above the highest with 50 outcomes (where its forecasts reach 50 %) go no
    higher than it (in the first group; a nested one follows it, bent by its own record).
    The bins follow the outcomes where
    they are many; where they are few (often the rare high forecasts) they follow the
    curve the whole record draws, not the identity: a stream whose forecasts of 60 %
    come true half the time is not trusted at 95 % because few forecasts went that high.

    With a finite ``recent_halflife`` the map follows the recent record where it is
    dense: each outcome also counts in a second set of bins, weighted ``2**(-age /
    recent_halflife)`` by the age of its forecast, and each bin's value is that recent
    frequency with ``recent_weight`` pseudo-outcomes of the whole record's value (a
    hierarchical prior). How far the computed forecasts err changes as a market does and
    as its symbols age (their estimates settle and their prices wander nearer to or
    further from their limits): on six generated market kinds a map of the whole record,
    learnt in each symbol's first minutes, kept correcting an error that had since
    shrunk, while bins with few recent outcomes (the rare high forecasts) still follow
    the whole record, not the noise of a few minutes.

    Only forecasts sampled with ``teach`` true feed the map (the engine leaves out each
    symbol's first minutes, while its estimates still fill); all feed the record.

    Memory is bounded: a ring of per-slot price extremes per symbol (``(horizon +
    refit_every) / sample_every`` slots), at most ``capacity`` pending forecasts (later samples are
    dropped and counted), and per-bin sums. With a finite ``memory`` every resolved
    outcome discounts the older ones by ``1 - 1 / memory`` (exponential forgetting by
    count), so the map follows a market that changes.

    Parameters
    ----------
    horizon : float
        Forecast horizon, seconds; a multiple of ``sample_every``.
    sample_every : float
        Slot length: at most one forecast per symbol and side per slot.
    refit_every : float
        Shortest refit interval of the map, a multiple of ``sample_every``.
    refit_growth : float
        Refit interval as a fraction of the time since the first tick, ``>= 0``.
    refit_most : float
        Longest refit interval, seconds (at least ``refit_every``).
    bins : int
        Bins of the raw probability for the map, at least 3.
    prior : float
        Weight (pseudo-outcomes) of each bin's prior, ``> 0``.
    memory : float
        Effective number of outcomes remembered per group; ``inf`` keeps all.
    recent_halflife : float
        Half-life, seconds of clock, of the recent record the map follows where it has
        many outcomes (``inf``: the whole record alone).
    recent_weight : float
        Pseudo-outcomes of the whole record's estimate in each bin of the recent one.
    groups : int
        Streams with a map of their own (ids ``0 .. groups - 1``).
    nested : bool
        The groups after the first are kinds of the first group's forecasts (the engine's
        are the forecasts' ages): each bin's prior is the first group's map, refitted
        just before (as it would be without the hold of its top, below), through a
        logistic curve of its log-odds fitted to the group's
        outcomes (Platt scaling of that map, towards the identity while they are few),
        instead of a curve of the group's own record. Where a group has few outcomes
        (the rare high forecasts of old ones) its map follows the first group's as the
        group's whole record bends it: a curve of a group's own few high outcomes had
        taken its top bins to 100 %, and the first group's map alone kept old forecasts
        at 73 % where 8 % came true.
    capacity : int
        Pending forecasts held at most.
    learn : bool
        Refit the map; False keeps the identity (a record of the raw forecasts only).

    Examples
    --------
    >>> cal = Calibrator(10.0, sample_every=5.0, refit_every=10.0, prior=1.0)
    >>> cal.advance(0.0)
    >>> cal.sample([0, 0], [False, True], [0.9, 0.2], [99.0, 101.0], [100.0, 100.0])
    >>> cal.observe([0], [100.0], [100.0])
    >>> cal.advance(5.0)
    >>> cal.observe([0], [98.5], [100.5])  # the buy limit 99 is reached
    >>> cal.advance(12.0)  # 10 s after the samples: resolved, and the map refitted
    >>> cal.record().count.tolist()[1:3], cal.record().count.tolist()[-1]
    ([0.0, 1.0], 1.0)
    >>> cal.apply([0.0, 0.2, 0.9, 1.0, float("nan")]).round(3).tolist()
    [0.0, 0.106, 0.949, 1.0, nan]
    """

    def __init__(
        self,
        horizon: float,
        *,
        sample_every: float = 5.0,
        refit_every: float = 60.0,
        refit_growth: float = 0.0,
        refit_most: float = math.inf,
        bins: int = 20,
        prior: float = 10.0,
        memory: float = math.inf,
        recent_halflife: float = math.inf,
        recent_weight: float = 100.0,
        groups: int = 1,
        nested: bool = False,
        capacity: int = 1 << 16,
        learn: bool = True,
    ) -> None:
        self._learn = bool(learn)
        self._nested = bool(nested)
        q, r = horizon / sample_every, refit_every / sample_every
        if not (sample_every > 0 and q >= 1 and r >= 1):
            raise ValueError("sample_every must be > 0, horizon and refit_every at least that")
        if abs(q - round(q)) > 1e-9 or abs(r - round(r)) > 1e-9:
            raise ValueError("horizon and refit_every must be multiples of sample_every")
        if not (prior > 0 and memory >= 1 and bins >= 1 and groups >= 1 and capacity >= 1):
            raise ValueError("prior > 0, memory >= 1, bins, groups and capacity >= 1")
        self._s = float(sample_every)
        self._q = round(q)
        self._r = round(r)
        if not (refit_growth >= 0 and refit_most >= refit_every):
            raise ValueError("refit_growth >= 0 and refit_most >= refit_every")
        self._growth = float(refit_growth)
        self._most = (
            math.inf
            if math.isinf(refit_most)
            else max(self._r, math.floor(refit_most / self._s + 1e-9))
        )
        self._first: int | None = None
        self._next_refit: float = math.inf  # slot of the next refit
        if bins < 3:
            raise ValueError("bins must be at least 3")
        self._bins = int(bins)
        # Bin edges: 0, then equal steps of log-odds from 1 % to 99 %, then 1.
        inner = np.linspace(-_LOGIT_SPAN, _LOGIT_SPAN, self._bins - 1)
        self._edges = np.concatenate(([0.0], 1.0 / (1.0 + np.exp(-inner)), [1.0]))
        self._centre = 0.5 * (self._edges[:-1] + self._edges[1:])
        self._prior = float(prior)
        self._decay = 1.0 - 1.0 / memory
        if not (recent_halflife > 0 and recent_weight > 0):
            raise ValueError("recent_halflife and recent_weight must be > 0")
        self._recent_hl = float(recent_halflife) / self._s  # in slots
        self._recent_k = float(recent_weight)
        self._anchor = 0  # slot the recent sums' weights are relative to
        self._slot: int | None = None
        self.dropped = 0
        """Samples dropped because ``capacity`` forecasts were pending."""
        # Per symbol: the slot a key (symbol, side) was last sampled in; price extremes.
        self._last = np.empty(0, dtype=np.int64)
        # Price extremes per slot and symbol, in a ring of a horizon and a refit period
        # of slots: a piece of ticks within one refit period is observed at once. A
        # slot's extremes of all symbols are one contiguous row: a window of slots is
        # reduced row by row (elementwise), not along a short axis per forecast.
        self._w = self._q + self._r
        self._low = np.empty((self._w, 0))
        self._high = np.empty((self._w, 0))
        # Pending forecasts: a FIFO ring in sample order.
        # It starts small and doubles up to ``capacity`` when full: memory follows the
        # forecasts pending, not the most there could be (a ring sized for 10,000
        # symbols that a feed of 200 fills over an hour grew the process's memory for
        # that whole hour, page by page, as its head went round the first time).
        self._max_cap = int(capacity)
        self._cap = min(self._max_cap, _RING_START)
        self._head = 0
        self._size = 0
        self._p_sym = np.zeros(self._cap, dtype=np.int64)
        self._p_sell = np.zeros(self._cap, dtype=bool)
        self._p_group = np.zeros(self._cap, dtype=np.int64)
        self._p_teach = np.zeros(self._cap, dtype=bool)
        self._p_slot = np.zeros(self._cap, dtype=np.int64)
        self._p_raw = np.zeros(self._cap)
        self._p_rep = np.zeros(self._cap)
        self._p_limit = np.zeros(self._cap)
        # Outcome sums per group, all in one row of `_sums` so that a resolve adds into
        # every one at once (views of it below, in the order of _SUMS): fit bins (n, hits,
        # sum p, sum logit p); the same (n, hits, sum p) with each outcome weighted 2**((slot
        # - anchor) / half-life) by the slot it was forecast in: the recent record, where
        # the map follows it; deciles of the reported p (n, sum p, hits) and Brier sums (n,
        # hits, squared errors reported and raw).
        self._widths = (self._bins, self._bins, DECILES, 1)  # cells of each part
        size = sum(r * c for r, c in zip(_SUMS, self._widths, strict=True))
        self._sums = np.zeros((groups, size))
        views, at = [], 0
        for rows, width in zip(_SUMS, self._widths, strict=True):
            part = self._sums[:, at : at + rows * width]
            views.append(np.reshape(part, (groups, rows, width), copy=False))
            at += rows * width
        self._fit, self._recent, self._dec, tot = views
        self._tot = tot[:, :, 0]
        self.refits = 0
        """How often a map was refitted (it changes only then)."""
        self._kx = np.tile(np.concatenate(([0.0], self._centre, [1.0])), (groups, 1))
        self._ky = self._kx.copy()

    @property
    def slot_start(self) -> float:
        """Event time at which the current slot began (nan before the first tick)."""
        return math.nan if self._slot is None else self._slot * self._s

    def knots(self, group: int = 0) -> tuple[_F8, _F8]:
        """The map in force for ``group``: raw and calibrated probability at its knots."""
        x, y = self._kx[group].copy(), self._ky[group].copy()
        x.flags.writeable = y.flags.writeable = False
        return x, y

    @property
    def nbytes(self) -> int:
        """Bytes of its arrays: price extremes per symbol and slot, pending forecasts,
        outcome sums and maps."""
        return sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray))

    @property
    def slot(self) -> float:
        """Number of the current slot (``-inf`` before the first tick)."""
        return -math.inf if self._slot is None else float(self._slot)

    @property
    def slot_length(self) -> float:
        """Seconds of event time per slot (``sample_every``)."""
        return self._s

    @property
    def clock(self) -> float:
        """Start of the current slot in event time (``-inf`` before the first tick): a
        floor for the clock, the running maximum of tick times."""
        return -math.inf if self._slot is None else self._slot * self._s

    @property
    def slots_per_refit(self) -> int:
        """Fewest slots between two refits of the map (``refit_every / sample_every``)."""
        return self._r

    def next_refit(self, first: int | None = None) -> float:
        """Slot at which the map is refitted next (``first``: the slot of the first tick,
        where none was seen yet)."""
        if self._first is None:
            return math.inf if first is None else float(first + self._r)
        return self._next_refit

    def advance(self, t: float) -> None:
        """Move the clock to event time ``t``: resolve the forecasts whose horizon has
        passed and, where one is due, refit the map. No effect unless
        ``t`` lies in a later slot. Here slot k holds the times in ``[k, k + 1)`` slot
        lengths; the engine counts its own slots, ``(k, k + 1]`` (a tick stamped at a
        slot's start in the slot before), and moves the clock with :meth:`advance_slot`."""
        self.advance_slot(math.floor(t / self._s))

    def advance_slot(self, new: int) -> None:
        """:meth:`advance` to the start of slot number ``new``."""
        old = self._slot
        if old is not None and new <= old:
            return
        if old is None:
            self._first = self._anchor = new
            self._next_refit = new + self._r
        else:
            self._resolve(new - self._q, old)  # what was seen up to now is all there is
        self._open(new)
        if new >= self._next_refit:
            if self._learn:
                self._refit(new)
            grown = math.floor(self._growth * (new - self._first))
            self._next_refit = new + min(max(self._r, grown), self._most)

    def open_to(self, new: int) -> None:
        """Move the clock to slot ``new``, at most ``refit_every`` ahead and before the
        next refit, without resolving anything: the slots in between are about to be
        observed at once (:meth:`observe` with ``slot``), then :meth:`resolve_due`."""
        if self._slot is None or new <= self._slot:
            return
        if new - self._slot > self._r or new >= self._next_refit:
            raise ValueError("open_to goes at most refit_every ahead, and not to a refit")
        self._open(new)

    def resolve_due(self) -> None:
        """Resolve the forecasts whose horizon lies before the current slot."""
        if self._slot is not None:
            self._resolve(self._slot - self._q, self._slot)

    def _open(self, new: int) -> None:
        """Set the clock to slot ``new`` and empty the extremes of the slots entered."""
        old, self._slot = self._slot, new
        if old is None or new - old >= self._w:
            self._low[:] = np.inf
            self._high[:] = -np.inf
            return
        cols = np.arange(old + 1, new + 1) % self._w
        self._low[cols] = np.inf
        self._high[cols] = -np.inf

    def sample(
        self,
        sym: ArrayLike,
        sell: ArrayLike,
        p: ArrayLike,
        limit: ArrayLike,
        price: ArrayLike,
        group: ArrayLike | None = None,
        teach: ArrayLike = True,
        slot: ArrayLike | None = None,
    ) -> None:
        """Take the forecasts in force as the clock enters the current slot.

        Parameters
        ----------
        sym : array_like of int
            Symbol ids (``>= 0``).
        sell : array_like of bool
            Side: towards the sell limit (above) rather than the buy limit (below).
        p : array_like
            Raw (uncalibrated) probability of reaching the limit within the horizon.
        limit, price : array_like
            The limit and the last price. Forecasts already at their limit, with ``p``
            0, 1 or nan, or for a side already sampled in this slot are ignored (the map
            leaves 0 and 1 alone).
        group : array_like of int, optional
            Stream of each forecast; 0 if omitted.
        teach : array_like of bool
            Whether each forecast, once resolved, feeds the map (all feed the record).
        slot : array_like of int, optional
            The slot each forecast was made in, from the current one on, in
            non-decreasing order, at most one per symbol, side and slot: forecasts of
            slots the clock has yet to enter, sampled ahead in one call (their outcomes
            count from their own slot). Omitted: the current slot.
        """
        if self._slot is None:
            return
        sym = np.asarray(sym, dtype=np.int64).ravel()
        sell = np.broadcast_to(np.asarray(sell, dtype=bool), sym.shape)
        raw = np.broadcast_to(np.asarray(p, dtype=np.float64), sym.shape)
        lim = np.broadcast_to(np.asarray(limit, dtype=np.float64), sym.shape)
        last = np.broadcast_to(np.asarray(price, dtype=np.float64), sym.shape)
        grp = np.broadcast_to(np.asarray(0 if group is None else group, dtype=np.int64), sym.shape)
        learn = np.broadcast_to(np.asarray(teach, dtype=bool), sym.shape)
        own = np.broadcast_to(
            np.asarray(self._slot if slot is None else slot, dtype=np.int64), sym.shape
        )
        self._grow(sym)
        with np.errstate(invalid="ignore"):
            ahead = np.where(sell, lim > last, lim < last)
            keep = ahead & (raw > 0.0) & (raw < 1.0)
        key = 2 * sym + sell
        keep &= self._last[key] < own
        at = np.flatnonzero(keep)
        if slot is None:  # one per key: the first
            _, first = np.unique(key[at], return_index=True)
            at = at[np.sort(first)]
        np.maximum.at(self._last, key[at], own[at])
        if at.size > self._cap - self._size:
            self._grow_ring(self._size + at.size)
        room = self._cap - self._size
        if at.size > room:
            self.dropped += at.size - room
            at = at[:room]
        rows = (self._head + self._size + np.arange(at.size)) % self._cap
        self._size += at.size
        self._p_sym[rows] = sym[at]
        self._p_sell[rows] = sell[at]
        self._p_group[rows] = grp[at]
        self._p_teach[rows] = learn[at]
        self._p_slot[rows] = own[at]
        self._p_raw[rows] = raw[at]
        self._p_rep[rows] = self.apply(raw[at], None if group is None else grp[at])
        self._p_limit[rows] = lim[at]

    def observe(
        self, sym: ArrayLike, low: ArrayLike, high: ArrayLike, slot: ArrayLike | None = None
    ) -> None:
        """Record each symbol's lowest and highest price among a piece of ticks that lies
        within the current slot, or, with ``slot``, in each one's slot (entered already,
        within a horizon and a refit period of the current one; nan prices are ignored)."""
        if self._slot is None:
            return
        sym = np.asarray(sym, dtype=np.int64).ravel()
        self._grow(sym)
        where = np.asarray(self._slot if slot is None else slot, dtype=np.int64) % self._w
        cell = where * self._low.shape[1] + sym  # in the raveled (column, symbol) ring
        np.fmin.at(self._low.ravel(), cell, np.asarray(low, dtype=np.float64).ravel())
        np.fmax.at(self._high.ravel(), cell, np.asarray(high, dtype=np.float64).ravel())

    def forget(self, sym: ArrayLike) -> None:
        """Drop the pending forecasts and price extremes of symbols ``sym`` (their ids
        now name other symbols)."""
        sym = np.asarray(sym, dtype=np.int64).ravel()
        sym = sym[(sym >= 0) & (sym < self._low.shape[1])]
        if sym.size == 0:
            return
        self._low[:, sym] = np.inf
        self._high[:, sym] = -np.inf
        self._last[2 * sym] = self._last[2 * sym + 1] = -(1 << 62)
        rows = (self._head + np.arange(self._size)) % self._cap
        self._p_sym[rows[np.isin(self._p_sym[rows], sym)]] = -1  # resolved as nothing

    def apply(self, p: ArrayLike, group: ArrayLike | None = None) -> _F8:
        """Calibrated probabilities: the map in force, interpolated linearly; 0 and 1 stay,
        nan stays nan.

        Parameters
        ----------
        p : array_like
            Raw probabilities.
        group : array_like of int, optional
            Stream of each; 0 if omitted.
        """
        shape = np.shape(p)
        raw = np.asarray(p, dtype=np.float64).ravel()
        x = np.where(raw > 0.0, np.minimum(raw, 1.0), 0.0)  # nan as 0 here
        knot = self._bin(x) + 1
        if group is None:  # one map: its knots indexed directly
            kx, ky = self._kx[0], self._ky[0]
        else:
            grp = np.broadcast_to(np.asarray(group, dtype=np.int64), shape).ravel()
            knot += grp * self._kx.shape[1]  # in the raveled (group, knot) maps
            kx, ky = self._kx.ravel(), self._ky.ravel()
        knot -= x < kx.take(knot)
        x0, x1 = kx.take(knot), kx.take(knot + 1)
        y0, y1 = ky.take(knot), ky.take(knot + 1)
        out = y0 + (x - x0) * ((y1 - y0) / (x1 - x0))
        out[x <= 0.0] = 0.0
        out[x >= 1.0] = 1.0
        out[np.isnan(raw)] = np.nan
        return out.reshape(shape)

    def record(self, group: int | None = None) -> CalibrationRecord:
        """The track record of ``group``'s forecasts (None: of all groups), for display."""
        if group is None:
            return _record(self._dec.sum(axis=0), self._tot.sum(axis=0))
        return _record(self._dec[group], self._tot[group])

    def _grow(self, sym: NDArray[np.int64]) -> None:
        need = int(sym.max()) + 1 if sym.size else 0
        have = self._low.shape[1]
        if need <= have:
            return
        size = max(need, 2 * have)
        self._last = np.concatenate((self._last, np.full(2 * (size - have), -(1 << 62))))
        self._low = np.hstack((self._low, np.full((self._w, size - have), np.inf)))
        self._high = np.hstack((self._high, np.full((self._w, size - have), -np.inf)))

    def _grow_ring(self, need: int) -> None:
        """Make room for ``need`` pending forecasts (at most ``capacity``), keeping the
        pending ones in order from position 0."""
        cap = self._cap
        while cap < need and cap < self._max_cap:
            cap = min(2 * cap, self._max_cap)
        if cap == self._cap:
            return
        rows = (self._head + np.arange(self._size)) % self._cap
        for name in (
            "_p_sym", "_p_sell", "_p_group", "_p_teach", "_p_slot", "_p_raw", "_p_rep", "_p_limit"
        ):  # fmt: skip
            old = getattr(self, name)
            new = np.zeros(cap, dtype=old.dtype)
            new[: self._size] = old[rows]
            setattr(self, name, new)
        self._cap, self._head = cap, 0

    def _bin(self, p: _F8) -> NDArray[np.intp]:
        """Fit bin of each probability in ``[0, 1]``."""
        return np.minimum(np.searchsorted(self._edges, p, side="right") - 1, self._bins - 1)

    def _resolve(self, due: int, seen: int) -> None:
        """Resolve the pending forecasts sampled in slots up to ``due`` against the
        extremes of the ``horizon`` slots since, of which those after slot ``seen`` saw
        no tick."""
        if self._size == 0 or self._p_slot[self._head] > due:
            return
        # The ring is in slot order from its head: search its one or two runs in place.
        head, end = self._head, self._head + self._size
        first = self._p_slot[head : min(end, self._cap)]
        n = int(np.searchsorted(first, due, side="right"))
        if n == first.size and end > self._cap:
            n += int(np.searchsorted(self._p_slot[: end - self._cap], due, side="right"))
        rows = (head + np.arange(n)) % self._cap
        self._head = (self._head + n) % self._cap
        self._size -= n
        rows = rows[self._p_sym[rows] >= 0]  # not those of forgotten symbols
        if rows.size == 0:
            return
        sym, sell, limit = self._p_sym[rows], self._p_sell[rows], self._p_limit[rows]
        made = self._p_slot[rows]
        # The rows of one slot are one run (the ring is in slot order), and a slot's
        # forecasts are all resolved at once (none is sampled after its horizon began).
        new = np.diff(made, prepend=made[0] - 1) != 0
        slots = int(np.count_nonzero(new))
        seg = np.cumsum(new) - 1  # each row's slot, 0 .. slots - 1
        # Every symbol's extremes over each slot's horizon, those of its slots that saw
        # ticks (a slot's extremes of all symbols are a row of the ring: reduced row by
        # row), a few slots at once; then each forecast's side's.
        made_at = made[new]
        steps = np.arange(self._q)
        cols = (made_at[:, None] + steps) % self._w
        unseen = steps >= np.minimum(self._q, seen - made_at + 1)[:, None]
        n_sym = self._low.shape[1]
        highest, lowest = np.empty((slots, n_sym)), np.empty((slots, n_sym))
        step = max(1, _GATHER_MOST // (self._q * max(n_sym, 1)))
        for a in range(0, slots, step):
            cut = slice(a, a + step)
            for ring, none, out, reduce in (
                (self._high, -np.inf, highest, np.max),
                (self._low, np.inf, lowest, np.min),
            ):
                ext = ring[cols[cut]]  # (slots, horizon, symbols)
                ext[unseen[cut]] = none
                reduce(ext, axis=1, initial=none, out=out[cut])
        at = seg * n_sym + sym
        hit = np.where(sell, highest.ravel().take(at) >= limit, lowest.ravel().take(at) <= limit)
        y = hit.astype(np.float64)
        pr, pp, g = self._p_raw[rows], self._p_rep[rows], self._p_group[rows]
        teach = self._p_teach[rows].astype(np.float64)
        groups, width = self._sums.shape
        # Exponential forgetting: the i-th of a slot's m outcomes of a group weighs
        # decay**(m - 1 - i), everything of the group before the slot decay**m (a group
        # without outcomes in a slot is kept whole).
        cell = seg * groups + g  # each outcome's slot and group (its row of the sums)
        count = np.bincount(cell, minlength=slots * groups)
        by_cell = np.argsort(cell, kind="stable")
        _, place = expand_runs(count)  # place in its (slot, group), in row order
        pos = np.empty_like(place)
        pos[by_cell] = place
        w = self._decay ** (count.take(cell) - 1 - pos).astype(np.float64)
        keep = (self._decay ** count.astype(np.float64)).reshape(slots, groups)
        b = self._bin(pr)
        wt = w * teach
        recent: tuple[_F8, ...] = ()  # none kept without a half-life
        if math.isfinite(self._recent_hl):
            wr = wt * np.exp2((made - self._anchor) / self._recent_hl)
            recent = (wr, wr * y, wr * pr)
        k = np.minimum((pp * DECILES).astype(np.int64), DECILES - 1)
        parts = (
            (wt, wt * y, wt * pr, wt * _logit(pr)),
            recent,
            (w, w * pp, w * y),
            (w, w * y, w * (pp - y) ** 2, w * (pr - y) ** 2),  # Brier sums
        )
        # Each value's cell of the sums (parts in _SUMS' order) in its slot's and group's
        # row; a cell's values stay in row order, so its sum does too.
        row, offset = cell * width, 0
        keys: list[NDArray[np.intp]] = []
        values: list[_F8] = []
        for rows_, cells_, where, sums in zip(
            _SUMS, self._widths, (b, b, k, 0), parts, strict=True
        ):
            at = row + where + offset
            keys += [at + r * cells_ for r in range(len(sums))]
            values += sums
            offset += rows_ * cells_
        _add_by_slot(self._sums, np.concatenate(keys), np.concatenate(values), keep)

    def _refit(self, slot: int) -> None:
        a = self._prior
        centre = self._centre
        self.refits += 1
        recent = math.isfinite(self._recent_hl)
        if recent:  # weights relative to this slot from now on
            self._recent *= np.exp2((self._anchor - slot) / self._recent_hl)
            self._anchor = slot
        first_map = (self._kx[0], self._ky[0])  # set unheld by the first group, for nested
        for g in range(self._fit.shape[0]):
            n, hits, sp, sl = self._fit[g]
            # The curve is fitted to the same outcomes and the same prior pseudo-outcomes.
            weight = n + a
            x = (sp + a * centre) / weight
            if g and self._nested:  # Platt scaling of the first group's map (not held)
                base = np.interp(x, *first_map)
                feature = _logit(base)
                curve_a, curve_b = logistic_fit(weight, hits + a * base, feature, ridge=a)
            else:
                curve_a, curve_b = logistic_fit(
                    weight, hits + a * centre, (sl + a * _logit(centre)) / weight, ridge=a
                )
                feature = _logit(x)
            z = np.clip(curve_a + curve_b * feature, -30.0, 30.0)
            curve = 1.0 / (1.0 + np.exp(-z))
            y = (hits + a * curve) / weight
            if recent:
                # Where recent outcomes are many they decide; where few, the whole record.
                k = self._recent_k
                n_r, hits_r, sp_r = self._recent[g]
                y = (hits_r + k * y) / (n_r + k)
                x = (sp_r + k * x) / (n_r + k)
            # The bins above the highest that rests on _DENSE outcomes, where that one's
            # forecasts are 50 % or more, go no higher than it: weighed by their own few
            # outcomes (below), a handful of lucky hits had lifted a mean-reverting
            # market's rarest forecasts to 91 % where 81 % came true. (Below 50 % a
            # stream has seen too few high forecasts to know its top: none is held. A
            # nested group is bent from the first group's map as it would be unheld,
            # not from one flat at its top, where its own few outcomes could not bend it.)
            if g == 0 and self._nested:
                unheld = isotonic(y, weight)
                first_map = (
                    np.concatenate(([0.0], x, [1.0])),
                    np.concatenate(([0.0], unheld, unheld[-1:])),
                )
            dense = np.flatnonzero(n >= _DENSE)
            if not (g and self._nested) and len(dense) and x[dense[-1]] >= 0.5:
                top = dense[-1]
                np.minimum(y[top + 1 :], y[top], out=y[top + 1 :])
            if g and self._nested:
                # Nor does a nested group rise above the first group's map, but where its
                # own bins rest on _DENSE outcomes: its rare top bins rest on a handful
                # (four hits in four had lifted an illiquid market's stale forecasts,
                # 99.9 % as computed, to 100 %, where none of the next 15 came true).
                cap = self._ky[0, -1]
                if len(dense):
                    cap = max(cap, float(y[dense[-1]]))
                np.minimum(y, cap, out=y)
            # Pooled by the evidence each bin rests on, its outcomes and its prior's, not
            # the recent record's pseudo-outcomes: an empty bin (the rare high forecasts)
            # weighed as 100 outcomes there, and its value, the curve's, pulled the bins
            # below it down (GARCH and jump markets' top forecasts were held at 82 % where
            # 88 % came true).
            y = isotonic(y, weight)
            self._kx[g, 1:-1] = x
            self._ky[g, 1:-1] = y
            # Above the top bin's mean the map holds its value: a forecast of 99.9 % comes
            # true as often as the others of that bin, not surely (a coarse price grid
            # keeps that near 60 %). Only a price at its limit maps to 1 (apply).
            self._ky[g, -1] = y[-1]


def _add_by_slot(total: _F8, key: NDArray[np.intp], values: _F8, keep: _F8) -> None:
    """Add ``values`` into ``total`` (groups x cells), each at flat index ``key`` of the
    parts (slots x groups x cells): each slot's values summed in their order
    (``np.bincount``), then slot by slot, the sums before a slot scaled by its ``keep``
    (slots x groups). The totals come out bit for bit the same however the slots are
    split between calls (what a sum of all of a call's outcomes at once would not give).
    """
    slots, cells = keep.shape[0], total.size
    part = np.bincount(key, weights=values, minlength=slots * cells)
    part = part.reshape(slots, *total.shape)
    for k in range(slots):
        total *= keep[k, :, None]
        total += part[k]


def pooled_record(calibrators: Sequence[Calibrator], group: int | None = None) -> CalibrationRecord:
    """The track record of ``group``'s forecasts (None: of all groups) in all
    ``calibrators`` together (their counts summed per decile), for display.

    Examples
    --------
    >>> a, b = Calibrator(10.0, sample_every=5.0, refit_every=10.0), Calibrator(10.0)
    >>> pooled_record([a, b]).resolved
    0.0
    """
    pick = slice(None) if group is None else slice(group, group + 1)
    dec = np.sum([c._dec[pick].sum(axis=0) for c in calibrators], axis=0)
    tot = np.sum([c._tot[pick].sum(axis=0) for c in calibrators], axis=0)
    return _record(dec, tot)


def _record(dec: _F8, tot: _F8) -> CalibrationRecord:
    """A record from per-decile sums ``dec`` (n, sum p, hits) and totals ``tot`` (n,
    hits, squared errors reported and raw)."""
    n, sp, sy = dec
    with np.errstate(invalid="ignore", divide="ignore"):
        predicted, observed = sp / n, sy / n
    count = n.copy()
    for a in (predicted, observed, count):
        a.flags.writeable = False
    w, hits, sq, sq_raw = tot.tolist()
    if w > 0:
        rate = hits / w
        brier, brier_raw = sq / w, sq_raw / w
        ref = rate * (1.0 - rate)
        skill = 1.0 - brier / ref if ref > 0 else math.nan
    else:
        rate = brier = brier_raw = skill = math.nan
    return CalibrationRecord(predicted, observed, count, brier, brier_raw, rate, skill, w)


def shift_odds(p: float, shift: float) -> float:
    """``p`` with ``shift`` added to its log-odds; 0 and 1 stay.

    >>> round(shift_odds(0.6, -math.log(4.5)), 6), shift_odds(1.0, -1.0)
    (0.25, 1.0)
    """
    if shift == 0.0 or not 0.0 < p < 1.0:
        return p
    return 1.0 / (1.0 + math.exp(-(math.log(p / (1.0 - p)) + shift)))


class TimingRecord:
    """How the WATCHes of one stream fared: the time to the limit shown with each against
    the time the limit actually took, among those that came true within the horizon, and
    how often they came true against the ``p`` they showed; the factor that corrects the
    times shown next, and the shift that corrects the next WATCHes' ``p``.

    The shown time is the median first-passage time of the model among the paths that
    reach the limit (:func:`engine.limit_forecast.limit_etas`). Where prices move other
    than the model assumes (a coarse price grid a price must cross a whole step of,
    mean reversion, bursts), that median is off by a factor much alike across a
    stream's symbols: on a generated market of prices on a 0.01 grid the limits took a
    median 2.0 times the time shown. The record keeps the log ratios ``log(actual /
    shown)`` of the latest ``keep`` such outcomes (bounded memory), and :meth:`refit`
    (the engine calls it where the stream's calibration map is refitted, so the factor
    changes at the same points of event time whatever the batches) sets the factor to
    ``exp(median * n / (n + eta_prior))``: the median ratio, shrunk towards 1 while the
    outcomes are few. The median, not the mean: one WATCH answered by a jump seconds
    later, or one the price took the whole horizon to answer, moves it little. The
    shrinkage is light (5 outcomes): WATCHes that come true are few (on the generated
    cents market, prices of 1 to 5 on a 0.01 grid, about 85 in an hour of 200 symbols at
    three bands), and with a prior of 20 the factor stayed near 1 for most of the hour:
    the limits took a median 1.33 to 1.56 times the time shown over three seeds, 1.05
    to 1.21 with 5 (the tick grid and jumps markets 0.95 to 1.06 with either; an
    illiquid market written outside the project, 0.76 and 0.83 before, 0.82 and 0.89).

    A WATCH fires at the moments a symbol's ``p`` is at its highest, and the calibration
    map, learnt from forecasts sampled at every moment, can be off there: the moments
    that raise ``p`` past the threshold are partly chance (a price one step of a coarse
    grid nearer its limit, a volatility estimate at a high), and chance goes back. On a
    generated market of prices on a 0.01 grid WATCHes showed 59 % and came true 44 % of
    the time. The record keeps the latest ``keep`` WATCHes' ``p`` (as the map gave it)
    and whether each came true, and :meth:`refit` sets :attr:`shift`, added to the
    log-odds of the next WATCHes' ``p``: ``logit(f) - logit(m)``, ``m`` the mean ``p``
    shown and ``f`` the frequency they came true with ``prior`` pseudo-outcomes at ``m``
    (a shift shrunk towards none while the outcomes are few).

    Examples
    --------
    >>> rec = TimingRecord(prior=0.0, eta_prior=0.0)
    >>> for actual, shown in ((20.0, 10.0), (30.0, 10.0), (10.0, 10.0)):
    ...     rec.add(actual, shown)
    >>> rec.scale  # changes only at a refit
    1.0
    >>> rec.refit()
    >>> round(rec.scale, 6), rec.outcomes
    (2.0, 3)
    >>> for hit in (True, False, False, False):  # said 60 %, one in four came true
    ...     rec.add_watch(0.6, hit)
    >>> rec.refit()
    >>> round(rec.correct(0.6), 6), rec.watches
    (0.25, 4)
    """

    def __init__(self, keep: int = 400, prior: float = 20.0, eta_prior: float = 5.0) -> None:
        if keep < 1 or prior < 0 or eta_prior < 0:
            raise ValueError("keep must be at least 1, prior and eta_prior at least 0")
        self._logs: deque[float] = deque(maxlen=keep)
        self._prior = float(prior)
        self._eta_prior = float(eta_prior)
        self.scale = 1.0
        """Factor applied to the times shown (1 until the first refit with outcomes)."""
        self.outcomes = 0
        """Outcomes the factor rests on (at most ``keep``)."""
        self._said: deque[tuple[float, bool]] = deque(maxlen=keep)
        self.shift = 0.0
        """Log-odds added to a WATCH's ``p`` (0 until the first refit with outcomes)."""
        self.watches = 0
        """WATCHes, come true or not, the shift rests on (at most ``keep``)."""

    def add(self, actual: float, shown: float) -> None:
        """One WATCH that came true: the seconds the limit took, and the seconds shown
        before correction (ignored unless both are positive and finite)."""
        if 0.0 < actual < math.inf and 0.0 < shown < math.inf:
            self._logs.append(math.log(actual / shown))

    def add_watch(self, p: float, hit: bool) -> None:
        """One WATCH whose horizon has passed: the ``p`` it showed before :meth:`correct`
        (ignored unless strictly between 0 and 1), and whether it came true."""
        if 0.0 < p < 1.0:
            self._said.append((p, bool(hit)))

    def correct(self, p: float) -> float:
        """A WATCH's ``p`` with :attr:`shift` added to its log-odds (0 and 1 stay)."""
        return shift_odds(p, self.shift)

    def refit(self) -> None:
        """Set :attr:`scale` and :attr:`shift` from the outcomes kept."""
        n = len(self._logs)
        self.outcomes = n
        if n:
            self.scale = math.exp(
                float(np.median(np.fromiter(self._logs, float))) * n / (n + self._eta_prior)
            )
        w = len(self._said)
        self.watches = w
        if w:
            said = sum(p for p, _ in self._said) / w
            came = (sum(hit for _, hit in self._said) + self._prior * said) / (w + self._prior)
            came = min(max(came, 1e-3), 1.0 - 1e-3)
            self.shift = math.log(came / (1.0 - came)) - math.log(said / (1.0 - said))
