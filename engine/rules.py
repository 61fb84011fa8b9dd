"""The signal rules: when a limit hit, a watch or a moving-average cross fires, and how
each rule disarms and re-arms, evaluated for every tick of a batch at once."""

from __future__ import annotations

import enum

import numpy as np
from numpy.typing import NDArray

from engine.config import EngineConfig
from engine.segments import Batch
from engine.signals import Signal, SignalKind, signals_from_columns

__all__ = [
    "CROSS_TOLERANCE",
    "INITIAL_STATES",
    "KEEP",
    "Armed",
    "Order",
    "Rule",
    "Side",
    "fire",
    "signals_fired",
]

_F8 = NDArray[np.float64]
_I8 = NDArray[np.int64]
_B = NDArray[np.bool_]
_States = NDArray[np.int8]

#: Moving averages closer than this (relative to the slow one) count as equal, so
#: rounding noise on a flat price never reads as a cross.
CROSS_TOLERANCE = 1e-10


class Side(enum.IntEnum):
    """Row of the buy and of the sell limit in arrays of shape (2, ticks)."""

    BUY = 0
    SELL = 1


class Rule(enum.IntEnum):
    """Column of each rule's carried state, per symbol."""

    HIT_BUY = 0
    HIT_SELL = 1
    WATCH_BUY = 2
    WATCH_SELL = 3
    CROSS = 4


class Armed(enum.IntEnum):
    """State of a hit or watch rule: whether its trigger fires a signal."""

    DISARMED = 0
    ARMED = 1


class Order(enum.IntEnum):
    """State of the cross rule: which average was last seen above the other."""

    UNSEEN = 0
    FAST_ABOVE = 1
    FAST_BELOW = 2


#: A tick that sets no new state for a rule keeps the one it found (see ``Batch.carry``).
KEEP = -1
#: The states of a new symbol, in :class:`Rule` order.
INITIAL_STATES = (Armed.ARMED, Armed.ARMED, Armed.ARMED, Armed.ARMED, Order.UNSEEN)
#: The hit and watch rules of each side, in :class:`Side` order.
_HITS = slice(Rule.HIT_BUY, Rule.HIT_SELL + 1)
_WATCHES = slice(Rule.WATCH_BUY, Rule.WATCH_SELL + 1)
#: The limit each kind of signal concerns (crosses concern none; they take the buy row
#: and blank it).
_SIDE_OF = np.array([Side.BUY, Side.SELL, Side.BUY, Side.SELL, Side.BUY, Side.BUY])
_KINDS = tuple(SignalKind)


def fire(
    batch: Batch,
    states: _States,
    price: _F8,
    limits: _F8,
    p_hit: _F8,
    sma_fast: _F8,
    sma_slow: _F8,
    slow_full: _B | None,
    cfg: EngineConfig,
) -> tuple[_B, _States]:
    """The signals each tick fires, and the rules' states after each symbol's last tick.

    The rules, per symbol and side (see :class:`~engine.core.Engine`):

    * Hit (``BUY``/``SELL``): fires when the price reaches the limit while armed, then
      disarms; re-arms once the price is back beyond the limit by ``hysteresis``.
    * Watch (``BUY_WATCH``/``SELL_WATCH``): fires when the probability of reaching the
      limit rises to ``alert_p`` while armed and the limit is not reached; disarms on
      that or on reaching the limit; re-arms once the probability falls to
      ``watch_rearm * alert_p``.
    * Cross (``GOLDEN_CROSS``/``DEATH_CROSS``): fires when the fast average is seen above
      (below) the slow one after last being seen below (above) it, once the slow window
      is full; averages within ``CROSS_TOLERANCE`` count as equal and change nothing.

    Each tick may set a rule's next state; every other tick keeps the state it found.
    The states are carried through each symbol's ticks in order by ``batch.carry``, so
    a rule sees exactly the state a tick-by-tick loop would.

    Parameters
    ----------
    batch : Batch
    states : ndarray of int8, shape (segments, len(Rule))
        The states before the batch, one row per segment.
    price, sma_fast, sma_slow : ndarray, shape (n,)
        At every tick, in batch order.
    limits, p_hit : ndarray, shape (2, n)
        Buy and sell limit, and the probability of reaching each, in :class:`Side` rows.
    slow_full : ndarray of bool or None
        Whether the slow window is full at each tick; None if it is at every tick.
    cfg : EngineConfig

    Returns
    -------
    fired : ndarray of bool, shape (len(SignalKind), n)
        Whether each kind of signal fires at each tick.
    final : ndarray of int8, shape (segments, len(Rule))
    """
    n = price.shape[0]
    h = cfg.hysteresis
    buy, sell = limits[Side.BUY], limits[Side.SELL]
    reached = np.empty((2, n), dtype=bool)
    np.less_equal(price, buy, out=reached[Side.BUY])
    np.greater_equal(price, sell, out=reached[Side.SELL])
    moved_back = np.empty((2, n), dtype=bool)
    np.greater(price, buy * (1.0 + h), out=moved_back[Side.BUY])
    np.less(price, sell * (1.0 - h), out=moved_back[Side.SELL])
    likely = p_hit >= cfg.alert_p
    likely &= ~reached
    unlikely = p_hit <= cfg.watch_rearm * cfg.alert_p
    gap = sma_fast - sma_slow
    tol = np.abs(sma_slow)
    tol *= CROSS_TOLERANCE
    fast_above = gap > tol
    fast_below = gap < -tol
    if slow_full is not None:
        fast_above &= slow_full
        fast_below &= slow_full

    # Each tick's next state per rule, then the states carried through each symbol's ticks.
    new = np.empty((len(Rule), n), dtype=np.int8)
    _next_state(new[_HITS], (Armed.DISARMED, reached), (Armed.ARMED, moved_back))
    _next_state(new[_WATCHES], (Armed.DISARMED, likely | reached), (Armed.ARMED, unlikely))
    _next_state(new[Rule.CROSS], (Order.FAST_ABOVE, fast_above), (Order.FAST_BELOW, fast_below))
    before, final = batch.carry(new, states.T)

    fired = np.empty((len(SignalKind), n), dtype=bool)
    watches = slice(SignalKind.BUY_WATCH, SignalKind.SELL_WATCH + 1)
    hits = slice(SignalKind.BUY, SignalKind.SELL + 1)
    np.logical_and(likely, before[_WATCHES] == Armed.ARMED, out=fired[watches])
    np.logical_and(reached, before[_HITS] == Armed.ARMED, out=fired[hits])
    cross = before[Rule.CROSS]
    np.logical_and(fast_above, cross == Order.FAST_BELOW, out=fired[SignalKind.GOLDEN_CROSS])
    np.logical_and(fast_below, cross == Order.FAST_ABOVE, out=fired[SignalKind.DEATH_CROSS])
    return fired, final.T


def _next_state(out: _States, *transitions: tuple[int, _B]) -> None:
    """Write each tick's next state of one rule into ``out``: the state of the transition
    whose condition holds, :data:`KEEP` where none does.

    The conditions of one rule exclude each other (the settings see to it), so the state
    is ``KEEP`` plus ``state - KEEP`` for the one that holds: sums of int8, which cost a
    fraction of masked writes.
    """
    out[...] = KEEP
    for state, condition in transitions:
        out += condition.view(np.int8) * np.int8(state - KEEP)


def signals_fired(
    fired: _B,
    batch: Batch,
    arrival: _I8,
    names: list[str],
    counters: _I8,
    t_event: _F8,
    price: _F8,
    limits: _F8,
    p_hit: _F8,
    eta: _F8,
) -> list[Signal]:
    """The fired signals, numbered per (symbol, kind) and listed in tick order.

    ``fired`` is :func:`fire`'s matrix; ``arrival[batch.order]`` is each tick's position
    in the update's input; ``counters`` (symbols x kinds) the signals numbered so far,
    advanced here. ``limits``, ``p_hit`` and ``eta`` have a buy and a sell row.
    """
    at = np.flatnonzero(fired.ravel())
    if at.size == 0:
        return []
    kind, tick = np.divmod(at, fired.shape[1])
    # Tick order (arrival), the signals of one tick by kind: one key, all distinct.
    out = np.argsort(arrival[batch.order[tick]] * len(_KINDS) + kind)
    kind, tick = kind[out], tick[out]
    sym = batch.sym_t[tick]
    key = sym * len(_KINDS) + kind
    # Rank of each signal among its (symbol, kind) in tick order: a symbol's ticks
    # arrive in tick order, so a stable sort by key keeps them in it.
    by_key = np.argsort(key, kind="stable")
    sorted_key = key[by_key]
    count = at.size
    run = np.empty(count, dtype=bool)
    run[0] = True
    np.not_equal(sorted_key[1:], sorted_key[:-1], out=run[1:])
    starts = np.flatnonzero(run)
    flat = counters.ravel()
    seq = np.empty(count, dtype=np.int64)
    seq[by_key] = flat[sorted_key] + np.arange(1, count + 1) - starts[np.cumsum(run) - 1]
    flat[sorted_key[starts]] += np.diff(starts, append=count)
    side = _SIDE_OF[kind]
    limit = limits[side, tick]
    p = p_hit[side, tick]
    e = eta[side, tick]
    hit = (kind == SignalKind.BUY) | (kind == SignalKind.SELL)
    p[hit] = 1.0
    e[hit] = 0.0
    cross = kind >= SignalKind.GOLDEN_CROSS
    limit[cross] = p[cross] = e[cross] = np.nan
    return signals_from_columns(
        list(map(names.__getitem__, sym.tolist())),
        list(map(_KINDS.__getitem__, kind.tolist())),
        seq.tolist(),
        t_event[tick].tolist(),
        price[tick].tolist(),
        limit.tolist(),
        p.tolist(),
        e.tolist(),
    )
