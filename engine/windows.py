"""Windows over each symbol's ticks: moving averages from block prefix sums, ring slots,
and the anchor of the exponential weights."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from engine.segments import Batch

__all__ = ["ANCHOR_SPAN", "reanchor", "replay_mean", "window_mean", "wrap_slots"]

_F8 = NDArray[np.float64]
_I8 = NDArray[np.int64]

#: Exponential weights are kept relative to an anchor time; once a tick is this many
#: half-lives past the anchor, the sums are rescaled and the anchor moves to that tick.
#: 2**512 keeps every weighted sum far from overflow.
ANCHOR_SPAN = 512.0


def wrap_slots(slot: _I8, size: int, width: int) -> None:
    """Reduce ``slot = (n0 % size) + j`` (``j`` below ``width``) modulo ``size`` in place."""
    passes = (size + width - 2) // size  # how many times slot may reach size
    if passes > 2:
        np.remainder(slot, size, out=slot)
        return
    unsigned = slot.view(np.uint64)
    for _ in range(passes):  # cheaper than an integer division
        # min(slot, slot - size) as unsigned: slot - size wraps around to a huge value
        # if slot < size.
        np.minimum(unsigned, (slot - size).view(np.uint64), out=unsigned)


def window_mean(
    batch: Batch,
    size: int,
    prefix: _F8,
    k: _I8,
    slot: _I8,
    n0: _I8,
    total: _F8,
    prev_total: _F8,
    ring: _F8,
) -> _F8:
    """Mean of the last ``size`` prices (fewer at the start) at every tick.

    The sliding window is split at block boundaries, as in the van Herk (1992) /
    Gil & Werman (1993) scheme for running extrema, here applied to sums: ``prefix``
    holds prefix sums that restart every ``size`` ticks (blocks aligned on the tick
    count ``k``), so no sum ever holds more than ``size`` terms and the rounding error
    stays that of a ``size``-term recursive sum (Higham, *Accuracy and Stability of
    Numerical Algorithms*, 4.2) however long the run. The window ending at tick ``k``
    is ``prefix[k] + (T - prefix[k - size])``: the sum so far in k's block plus the tail
    of the previous block, its total ``T`` less its head, which the ``ring`` of prefix
    sums keeps (zeros before the first block ends).

    ``slot`` is ``k % size`` and ``n0`` each symbol's tick count before the batch, per
    tick. ``total`` holds at each tick the previous block's total as carried into the
    batch (it is overwritten); ``prev_total`` (per symbol) is updated to the previous
    block's total and the ring to the latest prefix sums.
    """
    flat = batch.sym_t * size + slot
    head = ring.take(flat)
    if batch.width > size:
        batch.fill_back(head, prefix, size)
    # Total of the previous block: in this batch if it ended here, else carried.
    at = np.flatnonzero(batch.j > slot)
    if at.size:
        total[at] = prefix[batch.back_index(at, slot[at] + 1)]
    prev_total[batch.sym] = total[batch.last]
    total -= head
    total += prefix
    if (n0 < size - 1).any():  # some ticks have fewer than `size` ticks so far
        young = np.flatnonzero(k < size - 1)
        early = total[young] / (k[young] + 1)
        total /= size
        total[young] = early
    else:
        total /= size
    batch.put_latest(ring.ravel(), flat, prefix, size)
    return total


def replay_mean(prices: _F8, start: int, k0: int, size: int) -> _F8:
    """Means of the last ``size`` prices (fewer at the start) at the ticks from ``k0`` on,
    given ``prices`` of ticks ``start ..`` (``start`` 0 or ``k0 - size + 1``).

    The scheme of :func:`window_mean` with its blocks aligned on ``start``: prefix sums
    restarting every ``size`` prices, and at each tick the sum so far in its block plus
    the previous block's total less its head. From ``start`` 0 the blocks are the
    engine's and the means bitwise its own; otherwise equal to them within rounding.
    """
    count = prices.shape[0]
    blocks = -(-count // size)
    prefix = np.zeros(blocks * size)
    prefix[:count] = prices
    prefix = np.cumsum(prefix.reshape(blocks, size), axis=1).ravel()[:count]
    i = np.arange(k0 - start, count)  # the ticks wanted, counted from start
    total = np.zeros(i.shape[0])
    head = np.zeros(i.shape[0])
    later = i >= size  # past the first block: add the previous block's tail
    total[later] = prefix[i[later] // size * size - 1]
    head[later] = prefix[i[later] - size]
    total -= head
    total += prefix[i]
    total /= np.minimum(i + start + 1, size)
    return total


def reanchor(
    batch: Batch, t_event: _F8, anchor: _F8, anchor_at: _F8, halflife: float
) -> _F8 | None:
    """Move the anchor of the exponential weights in force at each tick, ``anchor_at``
    (given as each segment's ``anchor``), and return the rescale factors.

    Weights ``2**((t - anchor) / halflife)`` relative to a fixed anchor make every
    exponentially weighted sum a plain running sum; moving the anchor multiplies the
    sums by ``2**((old - new) / halflife)`` and changes no ratio of them, which is what
    the averages and estimates are. The anchor moves to the first tick later than
    ``anchor + ANCHOR_SPAN * halflife``, then on from there. Times never decrease within
    a segment, so each move is a binary search. Returns the factor rescaling the sums
    carried into each tick (1 where the anchor does not move), or None when no anchor
    moves.
    """
    reach = ANCHOR_SPAN * halflife
    moving = np.flatnonzero(t_event[batch.last] > anchor + reach)
    if moving.size == 0:
        return None
    for segment in moving.tolist():
        at = batch.positions(segment)
        times = t_event[at]
        current = float(anchor[segment])
        while True:
            i = int(np.searchsorted(times, current + reach, side="right"))
            if i == times.shape[0]:
                break
            current = float(times[i])
            anchor_at[at[i:]] = current
    before = batch.shifted(anchor_at, anchor)
    factor = np.ones_like(anchor_at)
    moved = np.flatnonzero(anchor_at != before)
    factor[moved] = np.exp2((before[moved] - anchor_at[moved]) / halflife)
    return factor
