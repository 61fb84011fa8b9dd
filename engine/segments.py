"""Exact per-symbol scans over a batch of ticks sorted by symbol.

Each symbol's ticks form a contiguous *segment* of the sorted batch. The scans here
(linear recurrences ``y = f*y_prev + x`` and carried states) combine the ticks of a
segment one at a time in tick order, exactly as a per-tick loop would, so their results
do not depend on how ticks were split into batches: bitwise, not just approximately.

Two layouts give the same numbers. When segments are short (the usual live batch: many
symbols, a few ticks each) the batch is laid out as a dense matrix, row ``i`` holding the
``i``-th tick of every segment, and the recurrence advances one row at a time across all
symbols and quantities. Long segments are cut into pieces at resets and each piece is
summed along its own row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Batch", "Pieces", "Recurrence", "stable_order"]

_F8 = NDArray[np.float64]
_I8 = NDArray[np.int64]
_B = NDArray[np.bool_]

#: The dense layout is used while the longest segment has at most this many ticks and
#: padding stays within a few times the batch.
DENSE_MAX_WIDTH = 256
# From this many (pieces x quantities) on, adding whole rows beats accumulating per row.
_ROW_LOOP_MIN_WIDTH = 256


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
    """``y[i] = factor[i] * y[i-1] + values[:, i]`` within each segment, from ``seeds``.

    Attributes
    ----------
    values : ndarray, shape (q, n)
        Terms of ``q`` quantities that share the factors.
    seeds : ndarray, shape (q, segments)
        ``y`` before each segment's first tick.
    factor : ndarray, shape (n,), or None
        Multiplier of the previous value at each tick; None means all ones (a prefix sum).
        A factor of 0 restarts the sum at that tick.
    """

    values: _F8
    seeds: _F8
    factor: _F8 | None = None


class Batch:
    """A batch sorted by symbol: segments, positions, and the scans over them.

    Parameters
    ----------
    ids : ndarray of int32
        Symbol of each tick, in arrival order, all in ``[0, bound)``.
    bound : int
        One more than the largest possible id.

    Attributes
    ----------
    order : ndarray
        Arrival index of each sorted tick.
    sym_t : ndarray of int64
        Symbol of each sorted tick.
    sym, first, last, length : ndarray of int64, shape (segments,)
        Symbol, first and last position, and tick count of each segment.
    seg : ndarray of int64
        Segment of each tick.
    j : ndarray of int64
        Position of each tick within its segment.
    """

    def __init__(self, ids: NDArray[np.int32], bound: int) -> None:
        n = ids.shape[0]
        self.n = n
        self.order = stable_order(ids, bound)
        sym_t = ids[self.order].astype(np.int64)
        self.sym_t = sym_t
        new = np.empty(n, dtype=bool)
        new[0] = True
        np.not_equal(sym_t[1:], sym_t[:-1], out=new[1:])
        self.new = new
        first = np.flatnonzero(new)
        self.first = first
        count = first.shape[0]
        self.count = count
        last = np.empty_like(first)
        last[:-1] = first[1:] - 1
        last[-1] = n - 1
        self.last = last
        self.length = last - first + 1
        self.sym = sym_t[first]
        seg = np.cumsum(new) - 1
        self.seg = seg
        self.pos = np.arange(n)
        self.j = self.pos - first[seg]
        self.width = int(self.length.max())
        self.key_base = (self.pos * 8 + 4).astype(np.int32)  # for carry()
        self.dense = self.width <= DENSE_MAX_WIDTH and count * (self.width + 1) <= 4 * n + 4096

    # -------------------------------------------------------------- per-tick helpers

    def shifted(self, values: _F8, seeds: _F8) -> _F8:
        """The previous tick's value within each segment; ``seeds`` before the first."""
        out = np.empty_like(values)
        out[1:] = values[:-1]
        out[self.first] = seeds
        return out

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
        # Key = position * 8 + 4 + state for a set, position * 8 + seed at a segment's
        # first tick: the running maximum of the keys is the latest set (or the seed),
        # and the low bits carry its state, so no gather is needed.
        # Ticks that keep the state get key 0, which never wins.
        key = code.astype(np.int32)
        key += self.key_base
        key *= code >= 0
        first = self.first
        key[:, first] = np.maximum(key[:, first], first.astype(np.int32) * 8 + seeds)
        np.maximum.accumulate(key, axis=1, out=key)
        after = (key & 3).astype(np.int8)
        before = np.empty_like(after)
        before[:, 1:] = after[:, :-1]
        before[:, first] = seeds
        return before, after[:, self.last]

    # -------------------------------------------------------------- recurrences

    def scan(self, parts: list[Recurrence]) -> list[_F8]:
        """Evaluate recurrences at every tick, exactly in tick order.

        Returns
        -------
        list of ndarray
            ``y`` of each part, shape (q, n).
        """
        if self.dense:
            return self._dense_scan(parts)
        return [self._piece_scan(p) for p in parts]

    def _dense_scan(self, parts: list[Recurrence]) -> list[_F8]:
        """All parts at once in a matrix (width + 1, quantities x segments).

        Row ``i`` holds the ``i``-th tick of every segment (row 0 the seeds), so each step
        of the recurrence is one vector operation across all symbols. Quantities with
        factors come first and take a multiply and an add per row; the rest an add.
        """
        count, width = self.count, self.width
        ranked = sorted(range(len(parts)), key=lambda i: parts[i].factor is None)
        sizes = [parts[i].values.shape[0] for i in ranked]
        q_all = sum(sizes)
        plane = q_all * count
        mat = np.zeros((width + 1, plane))
        mat[0] = np.concatenate([parts[i].seeds for i in ranked]).ravel()
        base = (self.j + 1) * plane + self.seg
        flat = base + (np.arange(q_all) * count)[:, None]
        mat.ravel()[flat] = np.concatenate([parts[i].values for i in ranked])
        split = 0  # columns [0, split) have factors
        factors: _F8 | None = None
        for i, q in zip(ranked, sizes, strict=True):
            f = parts[i].factor
            if f is None:
                break
            split += q * count
        if split:
            factors = np.ones((width + 1, split))
            row = 0
            for i, q in zip(ranked, sizes, strict=True):
                f = parts[i].factor
                if f is None:
                    break
                odd = np.flatnonzero(f != 1.0)
                if odd.size:
                    cells = ((self.j[odd] + 1) * split + self.seg[odd] + row * count)[None, :]
                    cells = cells + (np.arange(q) * count)[:, None]
                    factors.ravel()[cells] = f[odd]
                row += q
            tmp = np.empty(split)
            for i in range(1, width + 1):
                np.multiply(mat[i - 1, :split], factors[i], out=tmp)
                np.add(tmp, mat[i, :split], out=mat[i, :split])
                np.add(mat[i - 1, split:], mat[i, split:], out=mat[i, split:])
        else:
            for i in range(1, width + 1):
                np.add(mat[i - 1], mat[i], out=mat[i])
        out = mat.ravel()[flat]
        results: list[_F8] = [out] * len(parts)
        row = 0
        for i, q in zip(ranked, sizes, strict=True):
            results[i] = out[row : row + q]
            row += q
        return results

    def _piece_scan(self, part: Recurrence) -> _F8:
        """One part, cut into pieces wherever the factor is not 1, each summed in order.

        Pieces that restart (factor 0) or begin a segment are independent; a piece that
        rescales the previous one (any other factor) waits for it, so those are done in
        rounds.
        """
        values, factor = part.values, part.factor
        if factor is None:
            pieces = Pieces(self.new)
            return pieces.cumsum(values, part.seeds)
        cut = self.new | (factor != 1.0)
        pieces = Pieces(cut)
        at = pieces.first
        f_at = factor[at]
        seg_at = self.seg[at]
        begins = self.new[at]
        seeds = np.zeros((values.shape[0], pieces.count))
        seeds[:, begins] = part.seeds[:, seg_at[begins]] * f_at[begins]
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
