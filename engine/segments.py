"""Exact scans over a batch sorted by symbol: prefix sums and carried states per run.

Each symbol's ticks form a contiguous segment of the sorted batch; a segment may be cut
further into pieces. Every scan here adds in tick order, one tick at a time, exactly as a
per-tick loop would, so results do not depend on how ticks were split into batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Pieces", "carry_state", "stable_order"]

_F8 = NDArray[np.float64]
_I8 = NDArray[np.int64]

# From this many (pieces x quantities) on, a loop over piece positions that adds whole
# rows beats numpy's accumulate along each piece; below it the accumulate wins.
_ROW_LOOP_MIN_WIDTH = 256


def stable_order(ids: NDArray[np.int32], bound: int) -> NDArray[np.intp]:
    """Permutation sorting ``ids`` (all in ``[0, bound)``) ascending, ties in input order.

    Uses numpy's radix sort on 16-bit keys (one pass, or two for larger ids), several
    times faster than a comparison sort on this shape of data.
    """
    if bound <= 1 << 15:
        return np.argsort(ids.astype(np.int16), kind="stable")
    low = np.argsort((ids & 0xFFFF).astype(np.uint16), kind="stable")
    high = (ids[low] >> 16).astype(np.uint16)
    return low[np.argsort(high, kind="stable")]


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
    """A sorted batch cut into pieces: maximal runs that are scanned independently.

    Parameters
    ----------
    starts : ndarray of bool
        ``True`` where a piece begins; ``starts[0]`` must be ``True``.
    """

    __slots__ = ("_groups", "count", "first", "last", "n", "piece")

    def __init__(self, starts: NDArray[np.bool_]) -> None:
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
            ``q`` quantities per tick.
        seeds : ndarray, shape (q, count)
            Value each piece's sum starts from.

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
    """Piecewise sequential prefix sums through a padded matrix, one piece per column/row."""
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


def carry_state(
    code: NDArray[np.int8], seed: NDArray[np.int8], seg_first: _I8, seg_of: _I8
) -> tuple[NDArray[np.int8], NDArray[np.int8]]:
    """Carry a per-symbol state through a sorted batch.

    ``code[i] >= 0`` sets the state to ``code[i]`` at tick ``i``; ``-1`` keeps it.

    Parameters
    ----------
    code : ndarray of int8, shape (n,)
    seed : ndarray of int8, shape (segments,)
        State before each segment's first tick.
    seg_first : ndarray, shape (segments,)
        Position of each segment's first tick.
    seg_of : ndarray, shape (n,)
        Segment of each tick.

    Returns
    -------
    before, after : ndarray of int8, shape (n,)
        State just before and just after each tick.
    """
    n = code.shape[0]
    idx = np.where(code >= 0, np.arange(n), -1)
    np.maximum.accumulate(idx, out=idx)
    own = idx >= seg_first[seg_of]
    after = np.where(own, code[idx], seed[seg_of]).astype(np.int8)
    before = np.empty_like(after)
    before[1:] = after[:-1]
    before[seg_first] = seed
    return before, after
