"""Exact per-symbol scans over a batch of ticks: prefix sums and carried states.

The recurrences here (``y = f*y_prev + x``, running maxima, carried rule states) combine
the ticks of each symbol one at a time in tick order, exactly as a per-tick loop would,
so their results do not depend on how ticks were split into batches: bitwise, not just
approximately.

Two layouts give the same numbers. :class:`PackedBatch` (the usual live batch: many
symbols, a few ticks each) orders ticks as rows, row ``i`` holding the ``i``-th tick of
every symbol that has one, symbols longest first; then the previous tick of every symbol
in a row is a slice of the row before, and a recurrence advances one row at a time across
all symbols. :class:`SegmentBatch` (long runs of few symbols) orders ticks by symbol and
cuts each symbol's run into pieces at resets, each summed along its own row.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "Batch",
    "PackedBatch",
    "Pieces",
    "Recurrence",
    "SegmentBatch",
    "expand_runs",
    "make_batch",
    "run_cumsum",
    "stable_order",
]

_F8 = NDArray[np.float64]
_I8 = NDArray[np.int64]
_B = NDArray[np.bool_]

#: Batches whose busiest symbol has at most this many ticks use the packed layout, which
#: pays a Python-level step per row; longer runs go piecewise (measured break-even).
PACKED_MAX_WIDTH = 192
# From this many (pieces x quantities) on, adding whole rows beats accumulating per row.
_ROW_LOOP_MIN_WIDTH = 256


def run_cumsum(x: _F8, first: _I8, out: _F8 | None = None) -> _F8:
    """Running sums of ``x`` restarting at each position of ``first`` (ascending, the
    first of each run; ``first[0]`` is 0), into ``out`` (``x`` itself: in place).

    One ``cumsum`` per run: a single running sum over all runs less offsets would round
    a run's small terms against the large sums of the runs before it, differently for
    each choice of which runs are summed together."""
    if out is None:
        out = x
    bounds = np.append(first, x.size).tolist()
    for a, b in itertools.pairwise(bounds):
        np.cumsum(x[a:b], out=out[a:b])
    return out


def expand_runs(counts: _I8) -> tuple[_I8, _I8]:
    """For runs of ``counts`` items each (0 allowed): every item's run and its place in
    the run, from 0.

    >>> [a.tolist() for a in expand_runs(np.array([2, 0, 3]))]
    [[0, 0, 2, 2, 2], [0, 1, 0, 1, 2]]
    """
    which = np.repeat(np.arange(counts.shape[0]), counts)
    place = np.arange(which.shape[0]) - np.repeat(np.cumsum(counts) - counts, counts)
    return which, place


def stable_order(ids: NDArray[np.int32], bound: int) -> NDArray[np.intp]:
    """Permutation sorting ``ids`` (all in ``[0, bound)``) ascending, ties in input order.

    numpy's radix sort on 16-bit keys (one pass, or two for larger ids) is several times
    faster than a comparison sort here.
    """
    if bound <= 1 << 15:
        return np.argsort(ids.astype(np.int16), kind="stable")
    low = np.argsort((ids & 0xFFFF).astype(np.uint16), kind="stable")
    high = (ids[low] >> 16).astype(np.uint16)
    return low[np.argsort(high, kind="stable")]


@dataclass(frozen=True, slots=True)
class Recurrence:
    """``y[i] = factor[i] * y[i-1] + values[i]`` within each segment, from ``seeds``.

    Attributes
    ----------
    values : ndarray, shape (n, q)
        Terms of ``q`` quantities at each tick, in batch order (C-contiguous).
    seeds : ndarray, shape (segments, q)
        ``y`` before each segment's first tick.
    factor : ndarray, shape (n, q), or None
        Multiplier of the previous value; None means all ones (prefix sums). A factor of
        0 restarts the sum at that tick; a factor of exactly 1 adds without rounding.
    overwrite : bool
        ``values`` may be overwritten: a scan may then return it, holding ``y``.
    """

    values: _F8
    seeds: _F8
    factor: _F8 | None = None
    overwrite: bool = False


class Batch:
    """Ticks of one update grouped by symbol into *segments*, in a layout for scans.

    Attributes
    ----------
    n, count, width : int
        Ticks, segments (symbols present), and ticks of the busiest segment.
    order : ndarray
        Arrival index (position in the update's input) of each tick, in batch order.
    sym_t, seg, j : ndarray of int64
        Symbol, segment and position within the segment of each tick.
    sym, length, first, last : ndarray of int64, shape (segments,)
        Symbol, tick count, and batch positions of the first and last tick per segment.
    """

    n: int
    count: int
    width: int
    order: NDArray[np.intp]
    sym_t: _I8
    seg: _I8
    j: _I8
    sym: _I8
    length: _I8
    first: _I8
    last: _I8

    def _by_symbol(self, ids: NDArray[np.int32], bound: int) -> None:
        """Segment structure with ticks sorted by symbol, then arrival."""
        n = ids.shape[0]
        self.n = n
        self.order = stable_order(ids, bound)
        self._sorted_ids = sorted_ids = ids.take(self.order)
        new = np.empty(n, dtype=bool)
        new[:1] = True  # none where there is no tick (a market too short to have one)
        np.not_equal(sorted_ids[1:], sorted_ids[:-1], out=new[1:])
        first = np.flatnonzero(new)
        self.count = first.shape[0]
        last = np.empty_like(first)
        last[:-1] = first[1:] - 1
        last[-1:] = n - 1
        self.new, self.first, self.last = new, first, last
        length = last - first + 1
        self.length = length
        self.sym = sorted_ids[first].astype(np.int64)
        self.width = int(length.max()) if n else 0

    def shifted(self, values: _F8, seeds: _F8) -> _F8:
        """The previous tick's value within each segment; ``seeds`` before the first."""
        raise NotImplementedError

    def back_index(self, at: _I8, delta: _I8 | int) -> _I8:
        """Position of the tick ``delta`` before the ticks at positions ``at`` in their
        segment (requires ``delta <= j[at]``)."""
        raise NotImplementedError

    def expand(self, values: NDArray[np.generic]) -> NDArray[np.generic]:
        """Per-segment ``values`` (last axis: segments) at every tick (last axis: ticks)."""
        raise NotImplementedError

    def fill_back(self, out: _F8, values: _F8, delta: int) -> None:
        """Set ``out`` at every tick with one ``delta`` ticks before it in its segment to
        ``values`` there; leave the other ticks of ``out`` as they are."""
        raise NotImplementedError

    def put_latest(self, dest: _F8, index: _I8, values: _F8, period: int) -> None:
        """``dest[index] = values``, where ticks of one segment share an index only if
        they are a multiple of ``period`` ticks apart; the latest tick wins."""
        raise NotImplementedError

    def running_max(self, values: _F8, seeds: _F8) -> _F8:
        """Running maximum within each segment, starting from ``seeds`` (nan: none)."""
        raise NotImplementedError

    def positions(self, segment: int) -> _I8:
        """Batch positions of one segment's ticks, in tick order."""
        raise NotImplementedError

    def scan(self, part: Recurrence) -> _F8:
        """Evaluate a recurrence at every tick, exactly in tick order: ``y``, shape (n, q)."""
        raise NotImplementedError

    def carry(
        self, code: NDArray[np.int8], seeds: NDArray[np.int8]
    ) -> tuple[NDArray[np.int8], NDArray[np.int8]]:
        """Carry states (0..3) through each segment: ``code >= 0`` sets it, ``-1`` keeps it.

        Parameters
        ----------
        code : ndarray of int8, shape (q, n)
        seeds : ndarray of int8, shape (q, segments)
            States before each segment.

        Returns
        -------
        before : ndarray of int8, shape (q, n)
            State just before each tick.
        final : ndarray of int8, shape (q, segments)
            State after each segment's last tick.
        """
        raise NotImplementedError


def make_batch(ids: NDArray[np.int32], bound: int) -> Batch:
    """The layout that suits this batch: packed unless one symbol has very many ticks."""
    by_symbol = SegmentBatch(ids, bound)
    if by_symbol.width <= PACKED_MAX_WIDTH:
        return PackedBatch(ids, bound, by_symbol=by_symbol)
    return by_symbol


class PackedBatch(Batch):
    """Rows of ticks: row ``i`` holds the ``i``-th tick of each segment that has one.

    Segments are ranked longest first (ties by symbol), so row ``i`` holds segments
    ``0 .. m[i]-1`` contiguously and a tick's predecessor sits at the same place in the
    row before. Segment numbers are ranks; ``first`` is ``0 .. count-1`` (row 0).
    """

    def __init__(
        self, ids: NDArray[np.int32], bound: int, *, by_symbol: Batch | None = None
    ) -> None:
        by_sym = SegmentBatch(ids, bound) if by_symbol is None else by_symbol
        n, count, width = self.n, self.count, self.width = by_sym.n, by_sym.count, by_sym.width
        # Longest first; with lengths in 16 bits this is a radix sort.
        short = np.int16 if width < 1 << 15 else np.int64
        rank_to_seg = np.argsort((width - by_sym.length).astype(short), kind="stable")
        length = by_sym.length[rank_to_seg]
        sym = by_sym.sym[rank_to_seg]
        rows = count - np.cumsum(np.bincount(length, minlength=width + 1))[:width]
        off = np.zeros(width + 1, dtype=np.int64)
        np.cumsum(rows, out=off[1:])
        starts = off[:width].tolist()
        self._bounds = list(zip(starts, [0, *starts[:-1]], rows.tolist(), strict=True))
        pos = np.arange(n, dtype=np.int64)
        self.j = np.repeat(np.arange(width, dtype=np.int64), rows)
        self.seg = pos - np.repeat(off[:width], rows)
        # Each tick's symbol, and its place in the by-symbol order: its segment's first
        # tick there plus j.
        per_seg = np.stack((sym, by_sym.first[rank_to_seg]))
        self.sym_t, at = self.expand(per_seg)
        at += self.j
        self.order = by_sym.order.take(at)
        self.sym, self.length = sym, length
        self.first = pos[:count]
        self.last = off[length - 1] + self.first
        self.off = off
        self._prev = pos[count:] - np.repeat(rows[:-1], rows[1:])

    def shifted(self, values: _F8, seeds: _F8) -> _F8:
        out = np.empty_like(values)
        out[..., : self.count] = seeds
        out[..., self.count :] = values.take(self._prev, axis=-1)
        return out

    def back_index(self, at: _I8, delta: _I8 | int) -> _I8:
        return self.off[self.j[at] - delta] + self.seg[at]

    def expand(self, values: NDArray[np.generic]) -> NDArray[np.generic]:
        return values.take(self.seg, axis=-1)

    def fill_back(self, out: _F8, values: _F8, delta: int) -> None:
        # Row r's ticks sit at the start of row r - delta, in the same order.
        off = self.off
        for r in range(delta, self.width):
            a, m = off[r], off[r + 1] - off[r]
            out[a : a + m] = values[off[r - delta] : off[r - delta] + m]

    def put_latest(self, dest: _F8, index: _I8, values: _F8, period: int) -> None:
        # Rows a multiple of `period` apart may collide, and which of them a fancy
        # assignment leaves is unspecified. So the rows from `period` on are written
        # again, then those from 2 * period on, ...: a cell whose latest tick is in row
        # x is written by that tick alone in the pass from row period * (x // period)
        # on, and by no later pass.
        dest[index] = values
        for r in range(period, self.width, period):
            a = self.off[r]
            dest[index[a:]] = values[a:]

    def running_max(self, values: _F8, seeds: _F8) -> _F8:
        out = values.copy()
        np.fmax(out[: self.count], seeds, out=out[: self.count])
        for a, p, m in self._bounds[1:]:
            np.maximum(out[a : a + m], out[p : p + m], out=out[a : a + m])
        return out

    def positions(self, segment: int) -> _I8:
        return self.off[: self.length[segment]] + segment

    def scan(self, part: Recurrence) -> _F8:
        count = self.count
        y = part.values if part.overwrite else part.values.copy()
        f = part.factor
        if f is None:
            y[:count] += part.seeds
            for a, p, m in self._bounds[1:]:
                np.add(y[a : a + m], y[p : p + m], out=y[a : a + m])
            return y
        tmp = part.seeds * f[:count]
        y[:count] += tmp
        tmp = np.empty_like(tmp)
        for a, p, m in self._bounds[1:]:
            t = tmp[:m]
            np.multiply(y[p : p + m], f[a : a + m], out=t)
            np.add(y[a : a + m], t, out=y[a : a + m])
        return y

    def carry(
        self, code: NDArray[np.int8], seeds: NDArray[np.int8]
    ) -> tuple[NDArray[np.int8], NDArray[np.int8]]:
        state = seeds.copy()
        before = np.empty_like(code)
        sets = code >= 0
        for a, _, m in self._bounds:
            before[:, a : a + m] = state[:, :m]
            np.copyto(state[:, :m], code[:, a : a + m], where=sets[:, a : a + m])
        return before, state


class SegmentBatch(Batch):
    """Ticks sorted by symbol, each segment contiguous; scans go piece by piece."""

    def __init__(self, ids: NDArray[np.int32], bound: int) -> None:
        self._by_symbol(ids, bound)
        self._seg: _I8 | None = None
        self._j: _I8 | None = None
        self._sym_t: _I8 | None = None

    @property
    def sym_t(self) -> _I8:
        # Made on first use, as seg.
        if self._sym_t is None:
            self._sym_t = self._sorted_ids.astype(np.int64)
        return self._sym_t

    @property
    def j(self) -> _I8:
        # Made on first use, as seg.
        if self._j is None:
            self._j = np.arange(self.n, dtype=np.int64) - np.repeat(self.first, self.length)
        return self._j

    @property
    def seg(self) -> _I8:
        # Made on first use: a batch that goes packed never needs it.
        if self._seg is None:
            self._seg = np.repeat(np.arange(self.count, dtype=np.int64), self.length)
        return self._seg

    @property
    def pos(self) -> _I8:
        return np.arange(self.n, dtype=np.int64)

    def shifted(self, values: _F8, seeds: _F8) -> _F8:
        out = np.empty_like(values)
        out[..., 1:] = values[..., :-1]
        out[..., self.first] = seeds
        return out

    def back_index(self, at: _I8, delta: _I8 | int) -> _I8:
        return at - delta

    def expand(self, values: NDArray[np.generic]) -> NDArray[np.generic]:
        return np.repeat(values, self.length, axis=-1)

    def fill_back(self, out: _F8, values: _F8, delta: int) -> None:
        at = np.flatnonzero(self.j >= delta)
        out[at] = values[at - delta]

    def put_latest(self, dest: _F8, index: _I8, values: _F8, period: int) -> None:
        if self.width > period:
            kept = self.j >= self.length[self.seg] - period
            index, values = index[kept], values[kept]
        dest[index] = values

    def running_max(self, values: _F8, seeds: _F8) -> _F8:
        # Exact: times are replaced by their ranks, which can be offset per segment in
        # integers so one global running maximum serves every segment.
        start = np.fmax(values, seeds[self.seg])
        uniq, rank = np.unique(start, return_inverse=True)
        key = self.seg * uniq.shape[0] + rank
        np.maximum.accumulate(key, out=key)
        return uniq[key - self.seg * uniq.shape[0]]

    def positions(self, segment: int) -> _I8:
        return np.arange(self.first[segment], self.last[segment] + 1)

    def carry(
        self, code: NDArray[np.int8], seeds: NDArray[np.int8]
    ) -> tuple[NDArray[np.int8], NDArray[np.int8]]:
        # Key = position * 8 + 4 + state for a set, position * 8 + seed at a segment's
        # first tick, 0 for a keep: the running maximum of the keys is the latest set (or
        # the seed), and its low bits carry the state, so no gather is needed.
        wide = np.int32 if self.n < 1 << 28 else np.int64
        key = code.astype(wide)
        key += (self.pos * 8 + 4).astype(wide)
        key *= code >= 0
        first = self.first
        key[:, first] = np.maximum(key[:, first], first.astype(wide) * 8 + seeds)
        np.maximum.accumulate(key, axis=1, out=key)
        after = (key & 3).astype(np.int8)
        before = np.empty_like(after)
        before[:, 1:] = after[:, :-1]
        before[:, first] = seeds
        return before, after[:, self.last]

    def scan(self, part: Recurrence) -> _F8:
        f = part.factor
        if f is None:
            return self._piece_scan(part.values.T, part.seeds.T, None).T
        # Columns sharing a factor column are scanned together.
        out = np.empty_like(part.values)
        todo = list(range(f.shape[1]))
        while todo:
            lead = todo[0]
            group = [c for c in todo if np.array_equal(f[:, c], f[:, lead])]
            todo = [c for c in todo if c not in group]
            out[:, group] = self._piece_scan(
                part.values[:, group].T, part.seeds[:, group].T, f[:, lead]
            ).T
        return out

    def _piece_scan(self, values: _F8, seeds: _F8, factor: _F8 | None) -> _F8:
        """Quantities (q, n) sharing one factor (n,), cut into pieces wherever the factor
        is not 1, each piece summed in order.

        Pieces that restart (factor 0) or begin a segment are independent; a piece that
        rescales the previous one (any other factor) waits for it, so those are done in
        rounds.
        """
        if factor is None:
            pieces = Pieces(self.new)
            return pieces.cumsum(values, seeds)
        cut = self.new | (factor != 1.0)
        pieces = Pieces(cut)
        at = pieces.first
        f_at = factor[at]
        seg_at = self.seg[at]
        begins = self.new[at]
        seed_of = seeds
        seeds = np.zeros((values.shape[0], pieces.count))
        seeds[:, begins] = seed_of[:, seg_at[begins]] * f_at[begins]
        chained = ~begins & (f_at != 0.0)
        if not chained.any():
            return pieces.cumsum(values, seeds)
        # Round r holds the pieces after r rescalings within their segment.
        rounds = np.cumsum(chained)
        rounds -= rounds[pieces.piece[self.first[seg_at]]]
        out = np.empty_like(values)
        finals = np.zeros_like(seeds)
        piece_round = rounds
        tick_round = piece_round[pieces.piece]
        for r in range(int(piece_round.max()) + 1):
            members = np.flatnonzero(piece_round == r)
            if members.size == 0:
                continue
            ticks = np.flatnonzero(tick_round == r)
            link = members[chained[members]]
            seeds[:, link] = finals[:, link - 1] * f_at[link]
            sub = Pieces(cut[ticks])
            got = sub.cumsum(values[:, ticks], seeds[:, members])
            out[:, ticks] = got
            finals[:, members] = got[:, sub.last]
        return out


@dataclass(frozen=True, slots=True)
class _Group:
    """Pieces of similar length scanned together in one padded matrix."""

    ticks: _I8 | None  # positions in the batch (None: all of them)
    members: _I8 | None  # piece numbers (None: all of them)
    piece: _I8  # local piece number of each tick
    col: _I8  # 1-based position of each tick in its piece
    count: int
    width: int  # longest piece + 1 (column 0 is the seed)


class Pieces:
    """Ticks cut into pieces: runs whose prefix sums are taken independently.

    Parameters
    ----------
    starts : ndarray of bool
        ``True`` where a piece begins; ``starts[0]`` must be ``True``.
    """

    __slots__ = ("_groups", "count", "first", "last", "n", "piece")

    def __init__(self, starts: _B) -> None:
        n = starts.shape[0]
        first = np.flatnonzero(starts)
        count = first.shape[0]
        self.n = n
        self.count = count
        self.first: _I8 = first
        self.last: _I8 = np.empty(count, dtype=np.int64)
        self.last[:-1] = first[1:] - 1
        self.last[-1] = n - 1
        piece = np.cumsum(starts) - 1
        self.piece: _I8 = piece
        col = np.arange(1, n + 1) - first[piece]
        lengths = self.last - first + 1
        width = int(lengths.max()) + 1
        if count * width <= 4 * n + 4096:
            self._groups = [_Group(None, None, piece, col, count, width)]
            return
        # Very uneven pieces: group them by length class so padding stays bounded.
        cls = np.ceil(np.log2(lengths)).astype(np.int64)
        local = np.empty(count, dtype=np.int64)
        groups = []
        for c in np.unique(cls):
            members = np.flatnonzero(cls == c)
            local[members] = np.arange(members.shape[0])
            ticks = np.flatnonzero(cls[piece] == c)
            groups.append(
                _Group(
                    ticks,
                    members,
                    local[piece[ticks]],
                    col[ticks],
                    members.shape[0],
                    int(lengths[members].max()) + 1,
                )
            )
        self._groups = groups

    def cumsum(self, values: _F8, seeds: _F8) -> _F8:
        """Running sums ``seed + v[first] + ... + v[i]`` within each piece, added in order.

        Parameters
        ----------
        values : ndarray, shape (q, n)
        seeds : ndarray, shape (q, count)

        Returns
        -------
        ndarray, shape (q, n)
        """
        if len(self._groups) == 1:
            return _scan(values, seeds, self._groups[0])
        out = np.empty_like(values)
        for g in self._groups:
            out[:, g.ticks] = _scan(values[:, g.ticks], seeds[:, g.members], g)
        return out


def _scan(values: _F8, seeds: _F8, g: _Group) -> _F8:
    """Piecewise sequential prefix sums through a padded matrix."""
    q = values.shape[0]
    if q * g.count >= _ROW_LOOP_MIN_WIDTH:
        # Matrix (width, q * count): row i holds the i-th term of every piece.
        stride = q * g.count
        mat = np.zeros((g.width, stride))
        mat[0] = seeds.ravel()
        flat = (g.col * stride + g.piece)[None, :] + (np.arange(q) * g.count)[:, None]
        mat.ravel()[flat] = values
        for i in range(1, g.width):
            np.add(mat[i], mat[i - 1], out=mat[i])
        return mat.ravel()[flat]
    # Matrix (q * count, width): one row per piece, accumulated along the row.
    mat = np.zeros((q * g.count, g.width))
    mat[:, 0] = seeds.ravel()
    flat = (g.piece * g.width + g.col)[None, :] + (np.arange(q) * g.count * g.width)[:, None]
    mat.ravel()[flat] = values
    np.cumsum(mat, axis=1, out=mat)
    return mat.ravel()[flat]
