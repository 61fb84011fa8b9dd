"""The WATCH discipline: when an alarm on a rising score fires, expires and re-arms.

One rule for every alarm limitwatch compares: the engine's BUY_WATCH/SELL_WATCH (score
``p``), and in the evaluation the oracle's alerts and both naive alarms (score minus the
distance to the limit, in percent or in standard deviations over the horizon), so that
their precision and lead time are measured under the same discipline.

Per stream (a symbol and one side), tick by tick in time order, with ``likely`` meaning
``score >= alert`` where the limit is not reached and ``unlikely`` ``score <= rearm``
(``rearm < alert``) where it is not reached:

1. *Expiry.* A watch that fired at ``t_fire`` and was not answered has expired at the
   first tick with ``t >= t_fire + expiry_s``: from that tick on it is armed again.
2. A tick that reaches the limit disarms the watch (the hit answers it; no expiry).
3. A ``likely`` tick fires when the watch is armed and more than ``quiet_s`` has passed
   since the stream's previous fire (``t > t_fire + quiet_s``); a fire disarms it. Too
   soon after the previous fire it neither fires nor disarms: the first ``likely`` tick
   after the quiet time fires.
4. An ``unlikely`` tick arms it (hysteresis on the score).

So two fires of one stream are more than ``quiet_s`` apart; with ``quiet_s >= expiry_s
/ 2`` at most two fall within any closed window of length ``expiry_s``.

Exact and vectorized. Up to its first fire in a batch, a stream sees the fire time it
carried in, so the states carried with ``Batch.carry`` decide that fire exactly; a
stream whose ticks in the batch span no more than ``quiet_s`` fires at most once, and
the ticks after its fire give its final state. Longer runs (a replayed file, a whole
evaluation) are walked from one transition to the next (the next ``likely``,
``unlikely`` and reaching tick searched among those ticks' positions, the expiry and
quiet ends among integer keys of run and time rank, for the runs that wait for one,
from where each stands), all streams in step: a pass over the ticks per condition plus
a step per transition. (The ends were once
searched for every tick of every run, one search call per run: on 200 symbols in
batches of 5,000 ticks that was a third of the engine's time.) The result does not
depend on how the ticks were split into calls, given the states and fire times carried
between them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from engine.config import EngineConfig
from engine.segments import Batch, SegmentBatch, expand_runs

__all__ = ["Discipline", "Streams", "Watch", "stream_fires", "watch_fires", "whole_streams"]

_F8 = NDArray[np.float64]
_I8 = NDArray[np.int64]
_B = NDArray[np.bool_]

#: The fire time of a stream that never fired.
NEVER = -np.inf
#: A tick that sets no new state keeps the one it found (see ``Batch.carry``).
KEEP = -1


class Watch(enum.IntEnum):
    """State of a watch between ticks (with the time of its latest fire)."""

    #: Disarmed by reaching the limit: armed again only when the score falls back.
    REACHED = 0
    ARMED = 1
    #: Disarmed by a fire: armed again when the score falls back or the fire expires.
    FIRED = 2


# The states as plain ints for the walk's comparisons (an enum member costs an attribute
# lookup each time).
_ARMED, _FIRED, _REACHED = int(Watch.ARMED), int(Watch.FIRED), int(Watch.REACHED)


@dataclass(frozen=True, slots=True)
class Discipline:
    """The settings of the rule (see the module docstring).

    ``rearm`` is the re-arm threshold as a fraction of the alert threshold: for ``p`` the
    watch re-arms at ``p <= rearm * alert_p``; for a distance ``k`` to the limit (score
    ``-k``) at a distance of ``k / rearm``.
    """

    expiry_s: float
    quiet_s: float
    rearm: float

    @classmethod
    def of(cls, cfg: EngineConfig) -> Discipline:
        """The engine's watches' rule: expiry after the horizon, ``cfg.watch_quiet`` and
        ``cfg.watch_rearm``."""
        return cls(cfg.horizon_s, cfg.watch_quiet, cfg.watch_rearm)


class Streams:
    """The ticks of some segments of a batch with each segment's run contiguous (``q``
    rows of them stacked), for walking each run from transition to transition.

    Parameters
    ----------
    batch : Batch
    t : ndarray, shape (n,)
        Event time of each tick in batch order, non-decreasing within each segment.
    rows : int
        Rows of quantities (e.g. two sides); each row's segments are runs of their own.
    segments : ndarray of int64
        The segments taken, ascending.
    """

    def __init__(self, batch: Batch, t: _F8, rows: int, segments: _I8) -> None:
        count = segments.shape[0]
        length = batch.length[segments]
        start = np.zeros(count, dtype=np.int64)
        np.cumsum(length[:-1], out=start[1:])
        rank = np.full(batch.count, -1, dtype=np.int64)
        rank[segments] = np.arange(count)
        tick_rank = rank.take(batch.seg)
        #: Batch positions of the ticks taken, and the contiguous place of each (row 0).
        self.ticks = np.flatnonzero(tick_rank >= 0)
        self.place = start.take(tick_rank[self.ticks]) + batch.j[self.ticks]
        m = self.ticks.shape[0]
        offsets = np.arange(rows, dtype=np.int64)[:, None] * m
        self.start = (start + offsets).ravel()
        self.end = self.start + np.tile(length, rows)
        self.m, self.n, self.rows = m, batch.n, rows
        # Ticks already in contiguous order (a whole batch by symbol) need no gathers.
        self._same = m == batch.n and bool((self.place == np.arange(m)).all())
        t_run = np.empty(m)
        t_run[self.place] = t[self.ticks]
        self.t = np.tile(t_run, rows)
        self._ends = np.repeat(self.end, self.end - self.start)
        #: Input position of each tick in batch order (empty where that is the identity),
        #: and whether it is.
        self.order = batch.order
        self.in_order = bool((batch.order == np.arange(batch.n)).all())
        # Identity maps are not kept: whole streams sorted by symbol (a scored group of
        # ticks) would hold three arrays of its length for nothing.
        if self._same:
            self.ticks = self.place = np.empty(0, dtype=np.int64)
        if self.in_order:
            self.order = np.empty(0, dtype=np.int64)
        self._key: tuple[_I8, int, _F8] | None = None

    def runs(self, values: NDArray[np.generic]) -> NDArray[np.generic]:
        """``values`` of shape (rows, n) in batch order, as one contiguous array."""
        if self._same:
            return np.ascontiguousarray(values).ravel()
        out = np.empty((self.rows, self.m), dtype=values.dtype)
        out[:, self.place] = values[:, self.ticks]
        return out.ravel()

    def put(self, flat: _B, out: _B) -> None:
        """Write a contiguous mask back into ``out``, shape (rows, n) in batch order."""
        if self._same:
            out[...] = flat.reshape(self.rows, self.m)
            return
        out[:, self.ticks] = flat.reshape(self.rows, self.m)[:, self.place]

    def next_index(self, mask: _B) -> Following:
        """Per contiguous position, the first position at or after it in its run where
        ``mask`` holds; the run's end where none does (looked up when indexed)."""
        return Following(np.flatnonzero(mask), self._ends)

    def first_time(self, lo: _I8, hi: _I8, x: _F8, *, strict: bool, run: _I8 | None = None) -> _I8:
        """The first position in ``[lo, hi)`` (``lo`` and ``hi`` within one run) with
        time ``>= x`` (``> x`` if ``strict``); ``hi`` where none, ``lo`` where ``x`` is
        nan (no time compares with it, as in a bisection that goes left). ``run``, the
        index of each one's run, when the caller knows it (the walk does).

        Exact, and one search for all: every time is replaced by its rank among the
        distinct times, and each position gets the integer key ``run * (distinct + 1) +
        rank``, which does not decrease along the contiguous runs; ``t >= x`` is ``rank
        >= (times below x)`` and ``t > x`` is ``rank >= (times at or below x)``."""
        key, width, distinct = self._keys()
        lo = np.asarray(lo, dtype=np.int64)
        hi = np.asarray(hi, dtype=np.int64)
        x = np.asarray(x, dtype=np.float64)
        open_ = lo < hi
        if run is None:
            run = key.take(np.minimum(lo, key.shape[0] - 1)) // width if key.size else lo
        rank = np.searchsorted(distinct, x, side="right" if strict else "left")
        found = np.searchsorted(key, run * width + rank, side="left")
        found = np.clip(found, lo, hi)
        unordered = np.isnan(x)
        found[unordered] = lo[unordered]
        return np.where(open_, found, lo)

    def _keys(self) -> tuple[_I8, int, _F8]:
        """The search keys of :meth:`first_time`, made on first use."""
        if self._key is None:
            # The rank of each time among the distinct ones, from one stable sort (runs
            # of sorted times are merged, not sorted anew: three times np.unique's speed).
            t = self.t[: self.m]
            order = np.argsort(t, kind="stable")
            ordered = t.take(order)
            new = np.ones(t.shape[0], dtype=bool)
            np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
            distinct = ordered[new]
            rank = np.empty(t.shape[0], dtype=np.int64)
            rank[order] = np.cumsum(new) - 1
            rank = np.tile(rank, self.rows)
            width = distinct.shape[0] + 1
            run = np.repeat(np.arange(self.start.shape[0], dtype=np.int64), self.end - self.start)
            self._key = (run * width + rank, width, distinct)
        return self._key


class Following:
    """For each position of contiguous runs, the first position at or after it in its run
    where a mask holds, or the run's end: indexed like the array it stands for, and
    found by a search among the mask's positions only when asked."""

    __slots__ = ("_at", "_ends")

    def __init__(self, at: _I8, ends: _I8) -> None:
        self._at, self._ends = at, ends

    def __getitem__(self, pos: _I8) -> _I8:
        pos = np.asarray(pos, dtype=np.int64)
        return self.within(pos, self._ends.take(pos))

    def within(self, pos: _I8, end: _I8) -> _I8:
        """``self[pos]`` given the end of each position's run (the walk knows it)."""
        if self._at.size == 0:
            return end.copy()
        found = self._at.take(np.searchsorted(self._at, pos), mode="clip")
        # past the last position of the mask, take() clipped to it: below pos, so end
        return np.where(found >= pos, np.minimum(found, end), end)


def first_per_segment(batch: Batch, mask: _B) -> _I8:
    """Batch positions of each segment's first tick where ``mask`` (shape (n,)) holds.

    Both layouts keep a segment's ticks in tick order along the batch, so the first
    position found per segment is its earliest tick.
    """
    at = np.flatnonzero(mask)
    _, first = np.unique(batch.seg[at], return_index=True)
    return at[first]


def spans(batch: Batch, t: _F8) -> _F8:
    """Event time from each segment's first to its last tick."""
    return t[batch.last] - t[batch.first]


def whole_streams(ids: _I8, t: _F8, rows: int) -> Streams:
    """The runs of whole streams, each armed at its first tick: ``ids`` the stream of each
    tick, sorted (a stream's ticks in time order; times that go backwards are held at
    the latest), ``rows`` sides. Made once, it serves any number of :func:`stream_fires`."""
    ids32 = ids.astype(np.int32)
    batch = SegmentBatch(ids32, int(ids32.max()) + 1 if ids32.size else 1)
    held = batch.running_max(t.take(batch.order), np.full(batch.count, NEVER))
    return Streams(batch, held, rows, np.arange(batch.count))


def stream_fires(runs: Streams, score: _F8, alert: float, reached: _B, rule: Discipline) -> _B:
    """Where the watches of whole streams (:func:`whole_streams`) fire, each starting
    armed; ``score`` and ``reached`` of shape (rows, ticks) in the input's order."""
    out = np.zeros(score.shape, dtype=bool)
    if runs.m == 0:
        return out
    order = None if runs.in_order else runs.order
    if order is not None:
        score, reached = score[:, order], reached[:, order]
    likely, unlikely = _likely_unlikely(score, alert, reached, rule)
    k = runs.start.shape[0]
    with np.errstate(invalid="ignore"):
        fired, _, _ = _walk(
            runs, runs.runs(likely), runs.runs(unlikely), runs.runs(reached),
            np.full(k, Watch.ARMED, dtype=np.int8), np.full(k, NEVER), rule,
        )  # fmt: skip
    if order is None:
        return fired.reshape(runs.rows, runs.m)
    out[:, order] = fired.reshape(runs.rows, runs.m)
    return out


def watch_codes(
    score: _F8, alert: float, reached: _B, rule: Discipline
) -> tuple[_B, _B, NDArray[np.int8]]:
    """Per tick, ``likely``, ``unlikely`` (see the module docstring), and the state the
    tick sets whatever it found (:data:`KEEP` for none): reaching disarms and falling
    back arms; a fire is decided by :func:`watch_fires`."""
    likely, unlikely = _likely_unlikely(score, alert, reached, rule)
    # The conditions exclude each other: the state is KEEP plus state - KEEP for the one
    # that holds (int8 sums cost a fraction of masked writes).
    code = unlikely.view(np.int8) * np.int8(Watch.ARMED - KEEP)
    code += reached.view(np.int8) * np.int8(Watch.REACHED - KEEP)
    code += np.int8(KEEP)
    return likely, unlikely, code


def _likely_unlikely(score: _F8, alert: float, reached: _B, rule: Discipline) -> tuple[_B, _B]:
    """``likely`` and ``unlikely`` per tick: neither where the limit is reached."""
    rearm = rule.rearm * alert if alert > 0 else alert / rule.rearm
    free = ~reached
    with np.errstate(invalid="ignore"):
        likely = score >= alert
        unlikely = score <= rearm
    likely &= free
    unlikely &= free
    return likely, unlikely


# A stream that never fired has fire time -inf: -inf + inf (no expiry) is nan, and
# compares false, as it should.
@np.errstate(invalid="ignore")
def watch_fires(
    batch: Batch,
    t: _F8,
    score: _F8,
    alert: float,
    reached: _B,
    states: NDArray[np.int8],
    last_fire: _F8,
    rule: Discipline,
    *,
    carried: tuple[tuple[_B, _B, NDArray[np.int8]], NDArray[np.int8], NDArray[np.int8]]
    | None = None,
) -> tuple[_B, NDArray[np.int8], _F8]:
    """Where each watch fires under the rule of the module docstring.

    Parameters
    ----------
    batch : Batch
    t : ndarray, shape (n,)
        Event time of each tick, in batch order (non-decreasing within a segment).
    score, reached : ndarray, shape (q, n)
        The score, and whether the limit is reached, per row (e.g. side) and tick.
    alert : float
        The score at or above which a watch fires; it re-arms at ``rule.rearm * alert``
        or below for ``alert > 0``, at ``alert / rule.rearm`` or below for ``alert < 0``
        (a distance growing to ``1 / rearm`` times the alarm's).
    states, last_fire : ndarray, shape (q, segments)
        :class:`Watch` state and time of the latest fire (:data:`NEVER` for none) before
        the batch, per row and segment.
    rule : Discipline
    carried : (codes, before, final), optional
        :func:`watch_codes`' result and ``batch.carry`` of its codes from ``states``,
        when the caller carried them along with other rules' states.

    Returns
    -------
    fired : ndarray of bool, shape (q, n)
    states, last_fire : ndarray, shape (q, segments)
        After each segment's last tick.

    Examples
    --------
    >>> from engine.segments import make_batch
    >>> t = np.arange(8.0)
    >>> p = np.array([[0.7, 0.7, 0.7, 0.7, 0.2, 0.7, 0.7, 0.7]])
    >>> b = make_batch(np.zeros(8, np.int32), 1)
    >>> fired, _, last = watch_fires(b, t, p, 0.6, p > 1, np.ones((1, 1), np.int8),
    ...                              np.full((1, 1), NEVER), Discipline(3.0, 1.5, 0.5))
    >>> # fires at 0; again at 3, when that expires; re-armed at 4, quiet until 4.5
    >>> t[fired[0]].tolist(), last.tolist()
    ([0.0, 3.0, 5.0], [[5.0]])
    """
    q = score.shape[0]
    if carried is None:
        likely, unlikely, code = watch_codes(score, alert, reached, rule)
        before, final = batch.carry(code, states)
    else:
        (likely, unlikely, code), before, final = carried
    final = final.copy()
    last = last_fire.astype(np.float64, copy=True)
    fired = np.zeros((q, batch.n), dtype=bool)
    # Up to its first fire each segment sees its seed's fire time, so that fire is
    # exact; where a segment spans no more than the quiet time it is also the only one.
    # Only ticks where p is likely can fire: they are few, so look at those alone.
    long = np.flatnonzero(spans(batch, t) > rule.quiet_s)
    row, at = np.divmod(np.flatnonzero(likely), batch.n)  # flat: 2-D nonzero is slower
    if at.size:
        seg = batch.seg[at]
        t_at, since = t[at], last_fire[row, seg]
        found = before[row, at]
        ok = (found == Watch.ARMED) | ((found == Watch.FIRED) & (t_at >= since + rule.expiry_s))
        ok &= t_at > since + rule.quiet_s
        if long.size:
            ok &= ~np.isin(seg, long)
        row, at, seg = row[ok], at[ok], seg[ok]
        # The first per row and segment: np.nonzero lists each row's ticks in batch
        # order, which keeps a segment's ticks in tick order.
        _, first = np.unique(row * batch.count + seg, return_index=True)
        row, at, seg = row[first], at[first], seg[first]
        fired[row, at] = True
        last[row, seg] = t[at]
        # After its fire a segment ends FIRED unless a later tick set a state (then the
        # latest of those, as carried).
        # The ticks after each fire (few: fires are), by their offset from it.
        after = batch.length[seg] - 1 - batch.j[at]
        which, step = expand_runs(after)
        step += 1
        sets = code[row[which], batch.back_index(at[which], -step)] >= 0
        has_later = np.bincount(which, weights=sets, minlength=at.shape[0]) > 0
        final[row, seg] = np.where(has_later, final[row, seg], Watch.FIRED)
    if long.size:
        long = _walk_only_likely(batch, t, likely, code, states, last_fire, final, long, rule)
    if long.size:
        runs = Streams(batch, t, q, long)
        walked, w_state, w_last = _walk(
            runs, runs.runs(likely), runs.runs(unlikely), runs.runs(reached),
            states[:, long].ravel(), last_fire[:, long].ravel(), rule,
        )  # fmt: skip
        runs.put(walked, fired)
        final[:, long] = w_state.reshape(q, -1)
        last[:, long] = w_last.reshape(q, -1)
    return fired, final, last


def _walk_only_likely(
    batch: Batch,
    t: _F8,
    likely: _B,
    code: NDArray[np.int8],
    states: NDArray[np.int8],
    last_fire: _F8,
    final: NDArray[np.int8],
    long: _I8,
    rule: Discipline,
) -> _I8:
    """Of the ``long`` segments, those with a ``likely`` tick on either side, which
    :func:`_walk` must walk; the others' final states are set in ``final`` here.

    A run without a ``likely`` tick fires nothing, so its fire time stays and its state
    follows the states its ticks set (``code``, as carried into ``final``), with one
    more: a watch that came in FIRED and meets no tick that sets a state is armed again
    where its fire expires, at the first tick at or past ``last fire + expiry_s`` (what
    the walk does: the expiry arms it, and after that the ticks' own states decide).
    Most runs are such (``p`` is rarely at the alert), and the walk costs a pass over
    the ticks per condition plus a step per transition."""
    has_likely = np.zeros(batch.count, dtype=bool)
    has_likely[batch.seg[np.flatnonzero(likely.any(axis=0))]] = True
    walk = has_likely[long]
    idle = long[~walk]
    if idle.size:
        sets = np.zeros((code.shape[0], batch.count), dtype=bool)
        row, at = np.nonzero(code >= 0)
        sets[row, batch.seg[at]] = True
        expired = t[batch.last[idle]] >= last_fire[:, idle] + rule.expiry_s
        armed = (states[:, idle] == _FIRED) & ~sets[:, idle] & expired
        final[:, idle] = np.where(armed, np.int8(_ARMED), final[:, idle])
    return long[walk]


def _walk(
    runs: Streams,
    likely: _B,
    unlikely: _B,
    hit: _B,
    states: NDArray[np.int8],
    last_fire: _F8,
    rule: Discipline,
) -> tuple[_B, NDArray[np.int8], _F8]:
    """The rule along each run, one transition per step for all runs at once: fires
    (contiguous), and each run's final state and fire time. ``likely`` and ``unlikely``
    hold only where ``hit`` does not (as :func:`watch_codes` makes them)."""
    fired = np.zeros(likely.shape[0], dtype=bool)
    final_state = states.astype(np.int8, copy=True)
    final_last = last_fire.astype(np.float64, copy=True)
    next_likely = runs.next_index(likely)
    next_unlikely = runs.next_index(unlikely)
    next_hit = runs.next_index(hit)
    tt = runs.t
    end = runs.end
    # An empty run ends in the state it came with; a live one has pos < its end.
    run = np.flatnonzero(runs.start < end)
    pos, state, last = runs.start[run], final_state[run], final_last[run]
    while run.size:
        e = end[run]
        new_pos = e.copy()  # a run with no transition left ends where it is
        new_state = state.copy()
        new_last = last
        a = np.flatnonzero(state == _ARMED)
        if a.size:
            pa, ea = pos[a], e[a]
            quiet = runs.first_time(pa, ea, last[a] + rule.quiet_s, strict=True, run=run[a])
            j = ea.copy()
            inside = np.flatnonzero(quiet < ea)
            j[inside] = next_likely.within(quiet[inside], ea[inside])
            r = next_hit.within(pa, ea)
            to_hit = r < j
            fires = ~to_hit & (j < ea)
            at = j[fires]
            fired[at] = True
            who = a[fires]
            new_pos[who] = at + 1
            new_state[who] = _FIRED
            new_last = last.copy()
            new_last[who] = tt[at]
            who = a[to_hit]
            new_pos[who] = r[to_hit] + 1
            new_state[who] = _REACHED
        w = np.flatnonzero(state == _FIRED)
        if w.size:
            pw, ew = pos[w], e[w]
            expiry = runs.first_time(pw, ew, last[w] + rule.expiry_s, strict=False, run=run[w])
            back = np.minimum(next_unlikely.within(pw, ew), expiry)
            r = next_hit.within(pw, ew)
            to_hit = r < back
            new_pos[w[to_hit]] = r[to_hit] + 1
            new_state[w[to_hit]] = _REACHED
            rearms = ~to_hit & (back < ew)
            new_pos[w[rearms]] = back[rearms]
            new_state[w[rearms]] = _ARMED
        g = np.flatnonzero(state == _REACHED)
        if g.size:
            u = next_unlikely.within(pos[g], e[g])
            rearms = u < e[g]
            new_pos[g[rearms]] = u[rearms]
            new_state[g[rearms]] = _ARMED
        done = new_pos >= e
        final_state[run[done]] = new_state[done]
        final_last[run[done]] = new_last[done]
        live = ~done
        run, pos, state = run[live], new_pos[live], new_state[live]
        last = new_last[live]
    return fired, final_state, final_last
