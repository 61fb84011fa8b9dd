"""Scoring the forecast on a whole market: calibration, Brier skill, lead time at equal
precision against two naive alarms, ETA accuracy and WATCH storms, and an oracle row.

Definitions. A *stream* is one symbol with one pair of limits (the evaluation gives each
symbol limits at several bands, e.g. ±1/2/3 % of its first price, each band a stream).
A limit is *reached* by a tick at or beyond it (``price <= buy``, ``price >= sell``).

* **Forecast samples.** ``p`` is sampled every twelfth of the horizon ``H`` of event
  time (5 s at the default 60 s, :func:`sample_every`) per stream and side: at grid time
  ``s`` it is the ``p`` the engine reports after every tick with time ``<= s``. A sample
  counts when ``p`` is defined, the stream has ticked, and its latest price has not
  reached the limit. Its *outcome* is 1 when a tick of the stream reaches the limit in
  ``(s, s + H]``. A sample counts only if the stream ticks until ``s + H`` or later:
  after a stream's last tick the outcome is unknown (a stretch of prices that ended
  scores nothing beyond it), and keeping only the late samples that hit would favour
  hits.
* **Settling.** The calibration figures leave out each stream's first
  :data:`SETTLE_HORIZONS` horizons of ticks (10 minutes at 60 s; a third of the stream
  when it is shorter than three times that): its estimates and their windows are still
  filling.
* **Calibration** per decile of ``p`` (``[0, .1)``, ..., ``[.9, 1]``): mean predicted
  ``p``, observed frequency and count. The *gap* is the largest ``|mean p - frequency|``
  over deciles with at least :data:`MIN_BIN` samples.
* **Noise of the gap.** Samples of one symbol, or of one stretch of time, are far from
  independent (a forecast sampled every 5 s for an hour is one price path, and on a
  market with a common factor every symbol moves at once), so a decile of a few hundred
  samples can miss its mean ``p`` by 0.1 with a calibrated forecast. A cluster bootstrap
  (Cameron, Gelbach & Miller, 2008, "Bootstrap-based improvements for inference with
  clustered errors"; Poisson weights per cluster, Hanley & MacGibbon, 2006) resamples
  whole symbols, and separately whole stretches of :data:`NOISE_BLOCK_HORIZONS` horizons
  (each decile's samples weighed as their cluster is), :data:`NOISE_DRAWS` times with a
  fixed seed. A decile's *noise* is the 95th percentile of how far its
  ``frequency - mean p`` moves from the observed one in those draws, the larger of the
  two resamplings; the *gap noise* the same of the largest move over the counted
  deciles. A gap below its noise cannot be told from chance on these samples; a gap
  above it is a miscalibration these samples show. Where a decile's samples lie in so
  few clusters that draws often leave none, its noise is unbounded (``inf``; ``null``
  in JSON with ``noise_unbounded`` true, ``gap_noise_unbounded`` for the gap's; ``null``
  and false where no clusters were given).
* **Brier score** ``mean((p - outcome)**2)``; **Brier skill** ``1 - Brier / (b (1 - b))``
  against always forecasting the base rate ``b`` (the samples' observed frequency).
* **Alerts** are the engine's BUY_WATCH/SELL_WATCH signals, **crossings** its BUY/SELL
  signals; precision, recall and lead time as in :mod:`engine.quality` (a true alert is
  followed by a tick of the same stream at or beyond the limit of its side within ``H``,
  a crossing or not: a crossing re-arms only once the price has moved back, and a price
  that came back to a limit it had touched came true all the same).
* **Baselines** at equal precision to the forecast (see :func:`engine.quality.baselines`):
  the proximity alarm and the vol-scaled one. Each row's *lead ratio* is its median
  lead over that of the proximity alarm matched to the row's own precision, and its
  *alert ratio* the ratio of their alert counts.
* **ETA accuracy**, among WATCHes whose limit was then reached within ``H``: the median
  of actual time to the limit over the shown ETA (where the ETA is defined and
  positive), and the share of them with an ETA defined.
* **WATCH rates** per stream-hour (a symbol at one band for one hour of data, its
  closures left out: nights, weekends, halts, :func:`closed_time`): all WATCHes and
  false ones; the **storm** figure is the largest number of WATCHes of one
  stream and side within any closed window of length ``H``.
* **Oracle**: :func:`engine.first_passage` fed, at every tick, with the generator's true
  local drift and volatility; it alerts at ``p >= alert_p`` where the price has not
  reached the limit, under the engine's WATCH rule (:mod:`engine.watch`: re-armed when
  ``p`` falls back or ``H`` after an unanswered alert, a quiet time between two alerts),
  as both baselines do. It is sampled and scored exactly as the engine.

Pure numpy: arrays in, numbers out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.config import EngineConfig
from engine.core import CALIBRATION_SAMPLES_PER_HORIZON, Engine, reopens
from engine.forecast import first_passage, median_hit_time
from engine.quality import (
    BUY_SIDE,
    DEFAULT_BANDS,
    DEFAULT_ZS,
    SELL_SIDE,
    Baseline,
    Events,
    Quality,
    Sweep,
    TickOrder,
    score,
    split_signals,
    sweep_alarms,
    sweeps,
    undecided_alerts,
)
from engine.signals import Signal
from engine.watch import Discipline

__all__ = [
    "MIN_BIN",
    "NOISE_BLOCK_HORIZONS",
    "NOISE_DRAWS",
    "SAMPLES_PER_HORIZON",
    "SAMPLE_EVERY_S",
    "SETTLE_HORIZONS",
    "SETTLE_S",
    "Calibration",
    "Evaluation",
    "Row",
    "SampledRun",
    "Samples",
    "calibration",
    "evaluate",
    "gap_noise_of",
    "oracle_alerts",
    "oracle_forecast",
    "outcomes",
    "sample_every",
    "sample_ticks",
    "settle_wait",
    "storm",
]

_F8 = npt.NDArray[np.float64]
_I8 = npt.NDArray[np.int64]

#: Forecast samples of a stream per horizon (every 5 s at the default 60 s horizon): the
#: engine calibrator's slots, so that the evaluation scores what the engine learns from.
SAMPLES_PER_HORIZON = CALIBRATION_SAMPLES_PER_HORIZON
#: Horizons of a stream's ticks before its forecasts count for the calibration figures
#: (10 minutes at the default 60 s horizon).
SETTLE_HORIZONS = 10
#: Event seconds between forecast samples of a stream at the default 60 s horizon.
SAMPLE_EVERY_S = 60.0 / SAMPLES_PER_HORIZON
#: Seconds of a stream's ticks before its forecasts count, at the default 60 s horizon.
SETTLE_S = 60.0 * SETTLE_HORIZONS


def sample_every(horizon_s: float) -> float:
    """Seconds of event time between forecast samples for a horizon: a twelfth of it.

    The samples follow the horizon, not the clock: daily closes scored with a horizon of
    five days are sampled every ten hours, where a fixed 5 s would take 17,280 samples a
    day of each stream (and gigabytes for a few years of them).

    >>> sample_every(60.0), sample_every(5 * 86400.0)
    (5.0, 36000.0)
    """
    return horizon_s / SAMPLES_PER_HORIZON


#: Fewest samples in a decile for its gap to count.
MIN_BIN = 50
#: Resamplings of the clusters behind the noise of the calibration gap.
NOISE_DRAWS = 200
#: Horizons of event time in one time cluster of that resampling (5 minutes at 60 s).
NOISE_BLOCK_HORIZONS = 5
#: Sampled forecasts kept per block while a run samples them.
SAMPLE_BLOCK = 1 << 20
#: Sampled forecasts scored at once (their outcomes and clusters take about 100 bytes
#: each while they are): a group of symbols over hours holds millions.
SCORED_AT_ONCE = 1 << 18
#: Deciles of p.
BINS = 10
#: Row names, in table order.
ENGINE, PROXIMITY, VOL_SCALED, ORACLE = "engine", "proximity", "vol-scaled", "oracle"


def _json(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


# --- samples and outcomes ------------------------------------------------------------


@dataclass(frozen=True)
class Samples:
    """Forecasts sampled at grid times, one row per stream, time and side."""

    stream: _I8
    t: _F8
    side: npt.NDArray[np.int8]
    p: _F8

    @classmethod
    def concat(cls, parts: Sequence[Samples]) -> Samples:
        """One Samples of all ``parts``."""
        if not parts:
            return cls(np.empty(0, np.int64), np.empty(0), np.empty(0, np.int8), np.empty(0))
        return cls(
            np.concatenate([s.stream for s in parts]),
            np.concatenate([s.t for s in parts]),
            np.concatenate([s.side for s in parts]),
            np.concatenate([s.p for s in parts]),
        )


class SampledRun:
    """Feeds an :class:`~engine.Engine` and samples its ``p`` every ``every_s`` seconds.

    Each update is cut at the grid times it spans, so after every tick up to grid time
    ``g`` is in, the engine's snapshot is ``p`` at ``g``; the signals do not depend on
    where updates are cut. Grid times are multiples of ``every_s``; across a silence
    longer than the horizon only the grid times within a horizon of its ends are taken.
    """

    def __init__(self, engine: Engine, every_s: float = SAMPLE_EVERY_S) -> None:
        self.engine = engine
        self.every = float(every_s)
        self.horizon = engine.config.horizon_s
        self.next: float | None = None
        self.last_t = -math.inf
        self.parts: list[Samples] = []
        self._block: Samples | None = None  # being filled, up to _filled
        self._filled = 0
        self.signals: list[Signal] = []

    def update(self, ids: npt.ArrayLike, t: npt.ArrayLike, price: npt.ArrayLike) -> list[Signal]:
        """Feed one batch of ticks (in event-time order); return its signals."""
        ids_a = np.asarray(ids, dtype=np.int32)
        t_a = np.asarray(t, dtype=np.float64)
        p_a = np.asarray(price, dtype=np.float64)
        new: list[Signal] = []
        start = 0
        n = len(t_a)
        while start < n:
            if self.next is None:
                self.next = math.floor(t_a[start] / self.every) * self.every + self.every
            stop = int(np.searchsorted(t_a, self.next, side="right"))
            if stop > start:
                new += self.engine.update(ids_a[start:stop], t_a[start:stop], p_a[start:stop])
                self.last_t = float(t_a[stop - 1])
                start = stop
            if start < n:  # the next tick lies beyond this grid time: sample it
                self._sample(self.next)
                self.next += self.every
                upcoming = float(t_a[start])
                if self.next < upcoming - self.horizon and self.next > self.last_t + self.horizon:
                    skip = math.floor((upcoming - self.horizon - self.next) / self.every)
                    self.next += skip * self.every
        self.signals += new
        return new

    def finish(self) -> Samples:
        """The samples so far (the grid after the last tick is not sampled)."""
        if len(self.parts) == 1 and not self._filled:
            return self.parts[0]
        self._close_block()
        # Held once, not twice, even while they are put together (a long run samples
        # millions): each block is let go as it is copied, and blocks are large enough
        # to go back to the system when they are (a part per grid time kept the memory
        # of all of them after they were freed: a 10 M-sample backtest held 720 MB).
        parts, self.parts = self.parts, []
        n = sum(len(part.t) for part in parts)
        whole = Samples(np.empty(n, np.int64), np.empty(n), np.empty(n, np.int8), np.empty(n))
        at = 0
        for i, part in enumerate(parts):
            end = at + len(part.t)
            whole.stream[at:end], whole.t[at:end] = part.stream, part.t
            whole.side[at:end], whole.p[at:end] = part.side, part.p
            parts[i] = None  # type: ignore[call-overload]
            at = end
        self.parts = [whole]
        return whole

    def _sample(self, g: float) -> None:
        st = self.engine.state()
        for side, p in ((BUY_SIDE, st.p_buy), (SELL_SIDE, st.p_sell)):
            at = np.flatnonzero(~np.isnan(p))
            n = at.size
            if self._block is None or self._filled + n > len(self._block.t):
                self._close_block()
                size = max(SAMPLE_BLOCK, n)
                self._block = Samples(
                    np.empty(size, np.int64), np.empty(size), np.empty(size, np.int8),
                    np.empty(size),
                )  # fmt: skip
            b, lo, hi = self._block, self._filled, self._filled + n
            b.stream[lo:hi], b.t[lo:hi], b.side[lo:hi], b.p[lo:hi] = at, g, side, p[at]
            self._filled = hi

    def _close_block(self) -> None:
        """The block being filled, cut to what it holds, among the parts."""
        if self._block is not None and self._filled:
            b, n = self._block, self._filled
            self.parts.append(Samples(b.stream[:n], b.t[:n], b.side[:n], b.p[:n]))
        self._block, self._filled = None, 0


def sample_ticks(
    ticks: TickOrder, p: _F8, every_s: float = SAMPLE_EVERY_S, horizon_s: float = math.inf
) -> Samples:
    """Sample per-tick forecasts ``p`` (shape ``(2, ticks)`` in ``ticks``' order) on the
    grid of :class:`SampledRun`: at each multiple of ``every_s`` from the first tick on,
    the latest tick's ``p`` of every stream that has ticked (grid times more than a
    horizon after the last tick are left out)."""
    if not len(ticks):
        return Samples.concat([])
    t0, t1 = float(ticks.t.min()), float(ticks.t.max())
    grid = np.arange(math.floor(t0 / every_s) * every_s + every_s, t1, every_s)
    streams = np.unique(ticks.ids)
    s_rep = np.repeat(streams, grid.size)
    g_rep = np.tile(grid, streams.size)
    at = ticks.locate(s_rep, g_rep)
    ok = at >= 0
    out = []
    for side in (BUY_SIDE, SELL_SIDE):
        idx = at[ok]
        ps = p[side, idx]
        keep = ~np.isnan(ps)
        out.append(
            Samples(
                s_rep[ok][keep], g_rep[ok][keep], np.full(int(keep.sum()), side, np.int8), ps[keep]
            )
        )
    return Samples.concat(out)


def outcomes(
    ticks: TickOrder, samples: Samples, horizon_s: float
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Which samples count, and their outcomes (see the module docstring).

    Returns ``(counts, outcome)``, both one per sample.
    """
    n = len(samples.t)
    counts = np.zeros(n, dtype=bool)
    outcome = np.zeros(n, dtype=bool)
    if n == 0 or not len(ticks):
        return counts, outcome
    at = ticks.locate(samples.stream, samples.t)
    ok = at >= 0
    idx = np.where(ok, at, 0)
    side = samples.side.astype(np.int64)
    ok &= ~ticks.reached[side, idx]
    hit = ticks.reach_after(side, idx) <= samples.t + horizon_s
    # Only samples whose whole horizon the stream's ticks cover: after a stream's last
    # tick (a stretch of prices that ended, a symbol that stopped) the outcome is unknown,
    # and keeping the late samples that happened to hit would favour hits.
    last_t = ticks.t[ticks.stream_end[idx] - 1]
    ok &= samples.t + horizon_s <= last_t
    counts[:] = ok
    outcome[:] = ok & hit
    return counts, outcome


def settle_wait(span_s: npt.ArrayLike, settle_s: float = SETTLE_S) -> npt.NDArray[np.float64]:
    """Seconds into a stream whose ticks span ``span_s`` before its forecasts count for
    the calibration figures: ``settle_s``, or a third of the span where that is less.

    >>> settle_wait([3600.0, 900.0], 600.0).tolist()
    [600.0, 300.0]
    """
    return np.minimum(settle_s, np.asarray(span_s, dtype=np.float64) / 3.0)


def settled(
    ticks: TickOrder, samples: Samples, settle_s: float = SETTLE_S
) -> npt.NDArray[np.bool_]:
    """Which samples lie at least ``settle_s`` seconds after their stream's first tick
    (a third of the stream's span where that is shorter than ``3 * settle_s``)."""
    if not len(ticks) or not len(samples.t):
        return np.zeros(len(samples.t), dtype=bool)
    streams, first = np.unique(ticks.ids, return_index=True)
    last = np.r_[first[1:], len(ticks)] - 1
    start, end = ticks.t[first], ticks.t[last]
    wait = settle_wait(end - start, settle_s)
    k = np.searchsorted(streams, samples.stream)
    k = np.minimum(k, streams.size - 1)
    known = streams[k] == samples.stream
    return known & (samples.t >= start[k] + wait[k])


# --- calibration -----------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """Calibration per decile of ``p`` and the Brier scores (see the module docstring)."""

    count: _I8
    mean_p: _F8
    frequency: _F8
    gap: float
    brier: float
    base_rate: float
    skill: float
    min_bin: int = MIN_BIN  # the samples a decile needs to count in the gap
    #: Per decile, how far its gap moves by chance (see the module docstring); nan where
    #: it has too few samples or no clusters were given.
    noise: _F8 | None = None
    #: How far the gap moves by chance: a gap below it cannot be told from chance.
    gap_noise: float = math.nan

    @property
    def forecasts(self) -> int:
        return int(self.count.sum())

    @property
    def gap_deciles(self) -> int:
        """Deciles the gap rests on: those with at least ``min_bin`` samples."""
        return int((self.count >= self.min_bin).sum())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures, the deciles as lists."""
        noise = self.noise if self.noise is not None else np.full(self.count.size, np.nan)
        return {
            "forecasts": self.forecasts,
            "gap": _json(self.gap),
            "gap_deciles": self.gap_deciles,
            "gap_noise": _json(self.gap_noise),
            # null above is either: unbounded here, unknown (no clusters) where false
            "gap_noise_unbounded": self.gap_noise == math.inf,
            "brier": _json(self.brier),
            "base_rate": _json(self.base_rate),
            "brier_skill": _json(self.skill),
            "deciles": [
                {
                    "count": int(c),
                    "mean_p": _json(m),
                    "frequency": _json(f),
                    "noise": _json(e),
                    "noise_unbounded": bool(e == math.inf),
                }
                for c, m, f, e in zip(self.count, self.mean_p, self.frequency, noise, strict=True)
            ],
        }


def calibration(
    p: npt.ArrayLike,
    outcome: npt.ArrayLike,
    min_bin: int = MIN_BIN,
    clusters: Sequence[npt.ArrayLike] = (),
) -> Calibration:
    """Calibration per decile, gap, Brier score and Brier skill of forecasts ``p``, and
    with ``clusters`` (each an id per sample: its symbol, its stretch of time) the noise
    of each decile's gap and of the gap (see the module docstring).

    Examples
    --------
    >>> c = calibration([0.05, 0.05, 0.95, 0.95], [0, 0, 1, 0], min_bin=1)
    >>> c.count.tolist()[0], c.count.tolist()[9], round(c.gap, 2), round(c.brier, 4)
    (2, 2, 0.45, 0.2275)
    >>> round(c.skill, 4)
    -0.2133
    """
    ids = [np.unique(np.asarray(c), return_inverse=True)[1].ravel() for c in clusters]
    sums = CalibrationSums([int(i.max()) + 1 if i.size else 0 for i in ids], min_bin)
    sums.add(np.asarray(p, dtype=np.float64), outcome, ids)
    return sums.calibration()


class CalibrationSums:
    """What :func:`calibration` needs of forecasts scored a group of streams at a time,
    added up as they come, so that a run's forecasts need not all be held at once: per
    decile the count and the sums of ``p``, of the outcomes and of the squared errors,
    and per cluster of each kind (``sizes``: how many ids each may take) and decile the
    count and the sum of ``outcome - p``. :meth:`calibration` gives what
    :func:`calibration` gives of all of them (to rounding: sums in another order).

    >>> rng = np.random.default_rng(2)
    >>> p = rng.uniform(size=2000); o = rng.uniform(size=2000) < p
    >>> sym, block = np.arange(2000) % 7, np.arange(2000) // 300
    >>> whole = calibration(p, o, clusters=(sym, block))
    >>> sums = CalibrationSums((7, 7))
    >>> for part in (slice(0, 500), slice(500, None)):
    ...     sums.add(p[part], o[part], (sym[part], block[part]))
    >>> parts = sums.calibration()
    >>> bool(np.allclose(parts.mean_p, whole.mean_p)), parts.count.tolist() == whole.count.tolist()
    (True, True)
    >>> bool(np.allclose(parts.noise, whole.noise)), round(parts.gap_noise - whole.gap_noise, 12)
    (True, 0.0)
    """

    def __init__(self, sizes: Sequence[int], min_bin: int = MIN_BIN) -> None:
        self.min_bin = min_bin
        self.count = np.zeros(BINS, dtype=np.int64)
        self.sum_p = np.zeros(BINS)
        self.sum_o = np.zeros(BINS)
        self.sum_sq = 0.0
        self.cells = [(np.zeros((k, BINS)), np.zeros((k, BINS))) for k in sizes]

    def add(self, p: _F8, outcome: npt.ArrayLike, clusters: Sequence[npt.ArrayLike]) -> None:
        """Forecasts ``p`` with their outcomes, and each one's id in each kind of cluster
        (integers from 0 below that kind's size)."""
        o = np.asarray(outcome, dtype=np.float64)
        b = np.clip((p * BINS).astype(np.int64), 0, BINS - 1)
        self.count += np.bincount(b, minlength=BINS)
        self.sum_p += np.bincount(b, weights=p, minlength=BINS)
        self.sum_o += np.bincount(b, weights=o, minlength=BINS)
        self.sum_sq += float(np.sum((p - o) ** 2))
        off = o - p
        for (n, sums), ids in zip(self.cells, clusters, strict=True):
            cell = np.asarray(ids, dtype=np.int64) * BINS + b
            n += np.bincount(cell, minlength=n.size).reshape(n.shape)
            sums += np.bincount(cell, weights=off, minlength=n.size).reshape(n.shape)

    def calibration(self) -> Calibration:
        """:func:`calibration` of every forecast added."""
        count, total = self.count, int(self.count.sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_p = self.sum_p / count
            freq = self.sum_o / count
            big = count >= self.min_bin
            gap = float(np.abs(mean_p - freq)[big].max()) if big.any() else math.nan
            brier = self.sum_sq / total if total else math.nan
            base = float(self.sum_o.sum()) / total if total else math.nan
            ref = base * (1.0 - base)
            skill = 1.0 - brier / ref if ref > 0 else math.nan
        noise, gap_noise = np.full(BINS, np.nan), math.nan
        if big.any():
            for n, off in self.cells:
                seen = n.sum(axis=1) > 0  # clusters with forecasts, in the order of their ids
                each, whole = _noise_of_cells(n[seen], off[seen], big)
                noise = np.fmax(noise, each)
                gap_noise = float(np.fmax(gap_noise, whole))
        return Calibration(
            count, mean_p, freq, gap, brier, base, skill, self.min_bin, noise, gap_noise
        )


def gap_noise_of(
    b: _I8, p: _F8, outcome: _F8, cluster: npt.NDArray[Any], counted: npt.NDArray[np.bool_]
) -> tuple[_F8, float]:
    """How far each decile's ``frequency - mean p`` moves when whole clusters are
    resampled (the 95th percentile over :data:`NOISE_DRAWS` Poisson-weighted draws, fixed
    seed), and how far the largest of those moves goes over the ``counted`` deciles.
    ``b`` is each sample's decile. Nan where a decile is not counted.

    >>> rng = np.random.default_rng(1)
    >>> p = rng.uniform(0.5, 0.6, 4000); hit = rng.uniform(size=4000) < p
    >>> b = np.full(4000, 5); counted = np.arange(BINS) == 5
    >>> few, _ = gap_noise_of(b, p, hit, np.arange(4000) % 8, counted)  # 8 clusters
    >>> many, _ = gap_noise_of(b, p, hit, np.arange(4000), counted)  # each its own
    >>> bool(few[5] > many[5] > 0.01), bool(np.isnan(many[0]))
    (True, True)
    """
    _, of = np.unique(cluster, return_inverse=True)
    k = int(of.max()) + 1 if of.size else 0
    cell = of * BINS + b
    n = np.bincount(cell, minlength=k * BINS).reshape(k, BINS)
    off = np.bincount(cell, weights=outcome - p, minlength=k * BINS).reshape(k, BINS)
    return _noise_of_cells(n, off, counted)


def _noise_of_cells(n: _F8, off: _F8, counted: npt.NDArray[np.bool_]) -> tuple[_F8, float]:
    """:func:`gap_noise_of` from each cluster's count ``n`` and sum of ``outcome - p``
    ``off`` per decile (a row per cluster that has samples, in the order of the ids)."""
    k = n.shape[0]
    w = np.random.default_rng(0).poisson(1.0, (NOISE_DRAWS, k)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        observed = off.sum(axis=0) / n.sum(axis=0)
        moved = np.abs((w @ off) / (w @ n) - observed)[:, counted]
        moved[np.isnan(moved)] = np.inf  # a draw without the decile's samples: no estimate
        each = np.full(BINS, np.nan)
        # (between two infinite moves the percentile is inf - inf: nan)
        each[counted] = np.nan_to_num(np.percentile(moved, 95, axis=0), nan=np.inf)
        whole = float(np.nan_to_num(np.percentile(moved.max(axis=1), 95), nan=np.inf))
    return each, whole


# --- the oracle ------------------------------------------------------------------------


def oracle_forecast(
    ticks: TickOrder,
    drift: npt.ArrayLike,
    vol: npt.ArrayLike,
    horizon_s: float,
    eta_from: float = 0.0,
) -> tuple[_F8, _F8]:
    """``p`` and ETA at every tick (shape ``(2, ticks)``, in ``ticks``' order) from the
    true local ``drift`` and ``vol`` of log price (given in stream order, as the ticks
    were given to :class:`~engine.quality.TickOrder`).

    The ETA is the median time to the limit among paths that reach it within the horizon
    (:func:`~engine.forecast.median_hit_time`, as the engine shows), computed where
    ``p >= eta_from`` (nan elsewhere: the root costs a dozen evaluations of the law).
    """
    m = np.asarray(drift, dtype=np.float64)[ticks.order]
    s = np.asarray(vol, dtype=np.float64)[ticks.order]
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.stack((np.log(ticks.price / ticks.buy), np.log(ticks.sell / ticks.price)))
    towards, vols = np.stack((-m, m)), np.stack((s, s))
    p, _ = first_passage(d, towards, vols, horizon_s)
    eta = np.full(p.shape, np.nan)
    at = p >= eta_from
    eta[at] = median_hit_time(d[at], towards[at], vols[at], horizon_s)
    return p, eta


def oracle_alerts(ticks: TickOrder, p: _F8, alert_p: float, rule: Discipline) -> tuple[Events, _I8]:
    """The oracle's alerts (see the module docstring) and the tick index of each.

    Examples
    --------
    >>> ticks = TickOrder([0] * 5, [0.0, 1.0, 2.0, 3.0, 4.0], [100.0] * 5, [50.0], [200.0])
    >>> p = np.array([[0.0] * 5, [0.1, 0.7, 0.8, 0.9, 0.7]])
    >>> ev, _ = oracle_alerts(ticks, p, alert_p=0.6, rule=Discipline(2.0, 1.0, 0.5))
    >>> ev.t.tolist()  # fires at 1, expires at 3 (2 s later) and fires again
    [1.0, 3.0]
    """
    fired = ticks.fires(p, alert_p, rule)
    side, idx = np.nonzero(fired)
    order = np.argsort(idx, kind="stable")
    idx = idx[order]
    ev = Events(ticks.ids[idx], side[order].astype(np.int8), ticks.t[idx].astype(np.float64))
    return ev, idx


# --- scoring ---------------------------------------------------------------------------


def storm(alerts: Events, horizon_s: float) -> int:
    """The largest number of alerts of one stream and side within any closed window of
    length ``horizon_s``.

    >>> storm(Events.make([0, 0, 0, 1], [1, 1, 1, 1], [0.0, 30.0, 61.0, 0.0]), 60.0)
    2
    """
    if not len(alerts):
        return 0
    codes = np.unique(alerts.symbol, return_inverse=True)[1].astype(np.int64) * 2 + alerts.side
    t = alerts.t - alerts.t.min()
    span = float(t.max()) + horizon_s + 1.0
    key = np.sort(codes * span + t)
    return int((np.searchsorted(key, key + horizon_s, side="right") - np.arange(key.size)).max())


@dataclass(frozen=True)
class Row:
    """One row of the evaluation table (NaN where a measure does not apply)."""

    name: str
    quality: Quality
    threshold: float = math.nan
    calibration: Calibration | None = None
    lead_ratio: float = math.nan
    alert_ratio: float = math.nan
    eta_ratio: float = math.nan
    eta_defined: float = math.nan
    watches_per_hour: float = math.nan
    false_per_hour: float = math.nan
    storm: int = 0
    #: The mean chance the decided alerts showed (the forecast's rows): beside the
    #: precision, how often they came true, a check of the chances WATCHes show.
    said: float = math.nan
    #: Whether the row's ratios are at equal precision: the proximity alarm (and the
    #: row's own alarm) reached the forecast's precision. Where none of an alarm's
    #: thresholds does, it stands at its most precise (limits a tick or two away, or
    #: rarely neared).
    matched: bool = True
    #: Lead against precision over a threshold sweep (baselines), rows of
    #: threshold, precision, recall, median lead, alerts.
    curve: _F8 = field(default_factory=lambda: np.empty((0, 5)), repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        out: dict[str, Any] = {"name": self.name, **self.quality.to_dict()}
        if math.isfinite(self.threshold):
            out["threshold"] = _json(self.threshold)
        out.update(
            lead_ratio=_json(self.lead_ratio),
            alert_ratio=_json(self.alert_ratio),
            eta_ratio=_json(self.eta_ratio),
            eta_defined=_json(self.eta_defined),
            watches_per_stream_hour=_json(self.watches_per_hour),
            false_per_stream_hour=_json(self.false_per_hour),
            storm=self.storm,
            matched=self.matched,
        )
        if math.isfinite(self.said):
            out["said"] = _json(self.said)
        if self.calibration is not None:
            out["calibration"] = self.calibration.to_dict()
        return out


@dataclass(frozen=True)
class Evaluation:
    """The rows of one run: engine, proximity, vol-scaled and (given the truth) oracle."""

    rows: tuple[Row, ...]
    streams: int
    hours: float
    stream_hours: float = math.nan
    """Hours the streams were open, all added up: ``streams * hours`` less each
    stream's closures (:func:`closed_time`); the WATCHes per stream-hour rest on it."""

    def row(self, name: str) -> Row | None:
        """The row called ``name``, if any."""
        return next((r for r in self.rows if r.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready rows."""
        return {
            "streams": self.streams,
            "hours": _json(self.hours),
            "stream_hours": _json(self.stream_hours),
            "rows": {r.name: r.to_dict() for r in self.rows},
        }


def _eta_accuracy(actual: _F8, eta: _F8, horizon_s: float) -> tuple[float, float]:
    """Median actual over shown ETA among alerts that hit, and the share of those with an
    ETA defined."""
    hit = actual <= horizon_s
    if not hit.any():
        return math.nan, math.nan
    defined = hit & np.isfinite(eta) & (eta > 0)
    share = float(defined.sum() / hit.sum())
    ratio = float(np.median(actual[defined] / eta[defined])) if defined.any() else math.nan
    return ratio, share


@dataclass
class _Forecast:
    """A forecast being scored (the engine's or the oracle's): its alerts with their ETA,
    its samples, and what the ticks tell of them, filled in a group of streams at a time."""

    name: str
    alerts: Events
    eta: _F8
    samples: Samples | None
    #: Tick index of each alert when the ticks are one TickOrder and it is known.
    at: _I8 | None = None
    #: The chance each alert showed.
    p: _F8 | None = None
    #: The symbol of each stream, for the noise of the calibration gap (None: each
    #: stream its own).
    symbol_of: _I8 | None = None
    horizon_s: float = 60.0

    def __post_init__(self) -> None:
        self.actual = np.full(len(self.alerts), np.inf)
        #: The time of each alert's symbol's last tick (see engine.quality.score).
        self.ends = np.full(len(self.alerts), np.inf)
        # The samples' calibration, added up a group of streams at a time: per sample,
        # only the samples themselves are held (a scored backtest of 2,000 symbols over
        # four hours, 10 M forecasts, peaked at 1.6 GB holding each one's outcome and
        # clusters at once).
        self.sums: CalibrationSums | None = None
        s = self.samples
        if s is not None:
            block = NOISE_BLOCK_HORIZONS * self.horizon_s
            first = math.floor(float(s.t.min()) / block) if len(s.t) else 0
            last = math.floor(float(s.t.max()) / block) if len(s.t) else 0
            self._first_block, self._block = first, block
            streams = int(s.stream.max()) + 1 if len(s.stream) else 0
            symbols = streams if self.symbol_of is None else int(self.symbol_of.max(initial=-1)) + 1
            self.sums = CalibrationSums((symbols, last - first + 1))

    def add(self, ticks: TickOrder, horizon_s: float) -> None:
        """What ``ticks`` (every tick of its streams) say of this forecast's alerts and
        samples on those streams."""
        mine = np.isin(self.alerts.symbol, ticks.streams)
        if mine.any():
            part = self.alerts.take(mine)
            if self.at is not None:
                at = self.at[mine]
            else:
                at = np.maximum(ticks.locate(part.symbol.astype(np.int64), part.t), 0)
            self.actual[mine] = ticks.time_to_limit(part.side, at, part.t)
            self.ends[mine] = ticks.last_t(part.symbol)
        if self.samples is None:
            return
        for at in range(0, len(self.samples.t), SCORED_AT_ONCE):  # ~100 bytes a sample here
            mine = np.isin(self.samples.stream[at : at + SCORED_AT_ONCE], ticks.streams)
            self._add_samples(ticks, at + np.flatnonzero(mine), horizon_s)

    def _add_samples(self, ticks: TickOrder, mine: _I8, horizon_s: float) -> None:
        """The outcomes of samples ``mine``, added to :attr:`sums`."""
        if mine.size:
            s = self.samples
            assert s is not None
            part_s = Samples(s.stream[mine], s.t[mine], s.side[mine], s.p[mine])
            counts, outcome = outcomes(ticks, part_s, horizon_s)
            counts &= settled(ticks, part_s, SETTLE_HORIZONS * horizon_s)
            stream = part_s.stream[counts]
            clusters = (
                stream if self.symbol_of is None else self.symbol_of[stream],
                np.floor(part_s.t[counts] / self._block).astype(np.int64) - self._first_block,
            )
            assert self.sums is not None
            self.sums.add(part_s.p[counts], outcome[counts], clusters)

    def row(
        self,
        crossings: Events,
        prox: Sweep,
        horizon_s: float,
        per_hour: float,
    ) -> tuple[Row, Quality]:
        """The row, and the forecast's quality (its precision is what the alarms match)."""
        reached = self.actual <= horizon_s  # the price reached the limit: came true
        q = score(self.alerts, crossings, horizon_s, ends=self.ends, reached=reached)
        said = math.nan
        if self.p is not None and len(self.alerts):
            decided = ~undecided_alerts(self.alerts, q.true_alert, horizon_s, self.ends)
            if decided.any():
                said = float(self.p[decided].mean())
        near = prox.match(q.precision)
        cal = None if self.sums is None else self.sums.calibration()
        eta_ratio, eta_defined = (
            _eta_accuracy(self.actual, self.eta, horizon_s)
            if len(self.alerts)
            else (math.nan, math.nan)
        )
        row = Row(
            self.name,
            q,
            calibration=cal,
            lead_ratio=_ratio(q.median_lead_s, near.quality.median_lead_s),
            alert_ratio=_ratio(q.alerts, near.quality.alerts),
            eta_ratio=eta_ratio,
            eta_defined=eta_defined,
            watches_per_hour=q.alerts / per_hour if per_hour else math.nan,
            false_per_hour=q.false_alarms / per_hour if per_hour else math.nan,
            storm=storm(self.alerts, horizon_s),
            said=said,
            matched=reaches(near, q.precision),
        )
        return row, q


def reaches(alarm: Baseline, precision: float) -> bool:
    """Whether ``alarm`` (matched to ``precision``) reached it. False where the forecast
    sent no alert, or none that came true, so had no precision to match: the alarm then
    stands at its default threshold, not at equal precision (it was called matched; at
    a precision of 0 every threshold reached it, and a forecast none of whose WATCHes
    came true read as sending 0.03x the alerts of an alarm at equal precision)."""
    return precision > 0.0 and not alarm.quality.precision < precision


def _ratio(a: float, b: float) -> float:
    return a / b if b and math.isfinite(a) and math.isfinite(b) else math.nan


def _baseline_row(b: Baseline, proximity: Baseline, precision: float) -> Row:
    q = b.quality
    return Row(
        b.name,
        q,
        threshold=b.threshold,
        lead_ratio=_ratio(q.median_lead_s, proximity.quality.median_lead_s),
        alert_ratio=_ratio(q.alerts, proximity.quality.alerts),
        matched=reaches(b, precision) and reaches(proximity, precision),
        curve=b.curve,
    )


def evaluate(
    ticks: TickOrder | Iterable[TickOrder],
    signals: Sequence[Signal],
    stream_of: dict[str, int],
    samples: Samples,
    *,
    horizon_s: float,
    rule: Discipline | None = None,
    oracle: tuple[_F8, _F8, float] | None = None,
    bands: npt.ArrayLike = DEFAULT_BANDS,
    zs: npt.ArrayLike = DEFAULT_ZS,
    symbol_of: npt.ArrayLike | None = None,
    alarms: bool = True,
) -> Evaluation:
    """Score one run of the engine (and, given the truth, the oracle) on ``ticks``.

    Parameters
    ----------
    ticks : TickOrder or iterable of TickOrder
        The run's ticks and each stream's limits: all in one, or in groups over disjoint
        sets of streams, each with every tick of its streams (a stream's figures depend
        on its own ticks only, so the result is the same for any grouping; a group at a
        time bounds the memory).
    signals : sequence of Signal
        The engine's signals.
    stream_of : dict
        Stream id of each symbol name the engine knew.
    samples : Samples
        The engine's sampled forecasts (:class:`SampledRun`).
    horizon_s : float
        The forecast horizon, seconds.
    rule : Discipline, optional
        The WATCH rule the oracle and both baselines follow: the engine's
        (:meth:`~engine.watch.Discipline.of` its config); by default that of the
        default settings at this horizon.
    oracle : (p, eta, alert_p), optional
        The oracle's ``p`` and ETA at every tick (shape ``(2, ticks)``, see
        :func:`oracle_forecast`) and its alert threshold; ``ticks`` must then be one
        TickOrder.
    bands, zs : array_like of float
        The baselines' threshold grids (:func:`engine.quality.baselines`).
    symbol_of : array_like of int, optional
        The symbol of each stream id, where a symbol is scored at several bands: the
        noise of the calibration gap resamples whole symbols (default: whole streams).
    alarms : bool
        Whether to compare with the naive alarms (their rows follow the engine's). They
        are a price's (distance in percent, volatility of log price): without them, the
        forecasts of quantities (values that may be 0 or below) are scored on their own.
    """
    if rule is None:
        rule = Discipline.of(EngineConfig(horizon_s=horizon_s))
    whole = ticks if isinstance(ticks, TickOrder) else None
    if oracle is not None and whole is None:
        raise ValueError("the oracle's p is per tick of one TickOrder: give the ticks whole")
    kinds = [s.kind.name for s in signals]
    sig_ids = np.array([stream_of[s.symbol] for s in signals], dtype=np.int64)
    sig_t = np.array([s.t for s in signals], dtype=np.float64)
    sig_eta = np.array([s.eta_s for s in signals], dtype=np.float64)
    sig_p = np.array([s.p_hit for s in signals], dtype=np.float64)
    alerts, crossings = split_signals(kinds, sig_ids, sig_t)
    is_alert = np.isin(np.asarray(kinds, dtype=str), ["BUY_WATCH", "SELL_WATCH"])
    eta = sig_eta[is_alert] if len(kinds) else np.empty(0)
    said = sig_p[is_alert] if len(kinds) else np.empty(0)
    sym_of = None if symbol_of is None else np.asarray(symbol_of, dtype=np.int64)
    forecasts = [_Forecast(ENGINE, alerts, eta, samples, p=said, symbol_of=sym_of,
                           horizon_s=horizon_s)]  # fmt: skip
    if oracle is not None and whole is not None:
        p, eta_t, alert_p = oracle
        o_alerts, o_at = oracle_alerts(whole, p, alert_p, rule)
        o_side = o_alerts.side.astype(np.int64)
        o_samples = sample_ticks(whole, p, sample_every(horizon_s))
        forecasts.append(
            _Forecast(
                ORACLE,
                o_alerts,
                eta_t[o_side, o_at],
                o_samples,
                at=o_at,
                p=p[o_side, o_at],
                symbol_of=sym_of,
                horizon_s=horizon_s,
            )
        )
    prox, vol = sweeps(crossings, horizon_s, bands, zs)
    streams, t_min, t_max, closed = 0, math.inf, -math.inf, 0.0
    for group in [whole] if whole is not None else ticks:
        if not len(group):
            continue
        if alarms:
            sweep_alarms(prox, vol, group, rule)
        for f in forecasts:
            f.add(group, horizon_s)
        streams += int(group.streams.size)
        t_min, t_max = min(t_min, float(group.t.min())), max(t_max, float(group.t.max()))
        closed += closed_time(group, horizon_s)
    hours = (t_max - t_min) / 3600.0 if streams else 0.0
    per_hour = max(streams * hours - closed / 3600.0, 0.0)
    engine_row, q = forecasts[0].row(crossings, prox, horizon_s, per_hour)
    near, far = prox.match(q.precision), vol.match(q.precision)
    rows = [engine_row]
    if alarms:
        rows += [_baseline_row(b, near, q.precision) for b in (near, far)]
    else:  # nothing to compare with: no ratios to an alarm
        rows[0] = replace(engine_row, lead_ratio=math.nan, alert_ratio=math.nan)
    rows += [f.row(crossings, prox, horizon_s, per_hour)[0] for f in forecasts[1:]]
    return Evaluation(tuple(rows), streams, hours, per_hour)


def closed_time(order: TickOrder, horizon_s: float) -> float:
    """Seconds the streams of ``order`` were closed, all added up: the steps after which
    a stream's symbol reopens (:func:`engine.core.reopens`: a night, a weekend, a halt).
    A rate per stream-hour of a file of sessions counts the hours they were open, as the
    engine does, not the nights.

    >>> day = [0.0, 1.0, 2.0, 3.0]
    >>> night = [t + 64_000.0 for t in day]
    >>> order = TickOrder([0] * 8 + [1], day + night + [5.0], [1.0] * 9, [0.5] * 2, [2.0] * 2)
    >>> closed_time(order, 60.0)
    63997.0
    """
    t, same = order.t, order.same_symbol_as_prev
    n = t.shape[0]
    if n < 2:
        return 0.0
    dt = np.zeros(n)
    np.subtract(t[1:], t[:-1], out=dt[1:], where=same[1:])
    np.maximum(dt, 0.0, out=dt)
    pos = np.arange(n)
    start = np.maximum.accumulate(np.where(same, 0, pos))  # each symbol's first tick
    latest = np.maximum.accumulate(np.where(dt > 0.0, pos, -1))  # latest step by here
    before_at = np.r_[-1, latest[:-1]]
    before = np.where(before_at >= start, dt[np.maximum(before_at, 0)], 0.0)
    return float(dt[reopens(dt, before, horizon_s)].sum())
