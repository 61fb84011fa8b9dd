"""The signal rules: when a limit hit, a watch or a moving-average cross fires, and how
each rule disarms and re-arms, evaluated for every tick of a batch at once."""

from __future__ import annotations

import enum

import numpy as np
from numpy.typing import NDArray

from engine.config import EngineConfig
from engine.segments import Batch
from engine.signals import Signal, SignalKind, signals_from_columns
from engine.watch import (
    KEEP,
    Discipline,
    Streams,
    Watch,
    first_per_segment,
    spans,
    watch_codes,
    watch_fires,
)

__all__ = [
    "CROSS_BAND",
    "INITIAL_STATES",
    "KEEP",
    "TIMED",
    "Armed",
    "Order",
    "Rule",
    "Side",
    "cross_fires",
    "fire",
    "signals_fired",
]

_F8 = NDArray[np.float64]
_I8 = NDArray[np.int64]
_B = NDArray[np.bool_]
_States = NDArray[np.int8]

#: Moving averages closer than this (relative to the slow one) count as level: a cross
#: needs the fast one beyond the slow one by more, so neither rounding noise on a flat
#: price nor averages wandering about each other in a sideways market read as crosses.
CROSS_BAND = 2e-4


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
    """State of a hit rule: whether its trigger fires a signal. (A watch's state is a
    :class:`~engine.watch.Watch`.)"""

    DISARMED = 0
    ARMED = 1


class Order(enum.IntEnum):
    """State of the cross rule: which average was last seen above the other."""

    UNSEEN = 0
    FAST_ABOVE = 1
    FAST_BELOW = 2


#: The states of a new symbol, in :class:`Rule` order.
INITIAL_STATES = (Armed.ARMED, Armed.ARMED, Watch.ARMED, Watch.ARMED, Order.UNSEEN)
#: The rules whose latest fire time is kept per symbol (``Store.last_fire`` columns).
TIMED = (Rule.WATCH_BUY, Rule.WATCH_SELL, Rule.CROSS)
_TIMED_WATCHES = slice(0, 2)
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
    last_fire: _F8,
    t_event: _F8,
    price: _F8,
    limits: _F8,
    p_hit: _F8,
    sma_fast: _F8,
    sma_slow: _F8,
    slow_full: _B | None,
    cfg: EngineConfig,
    rearm_at_least: _F8 | None = None,
) -> tuple[_B, _States, _F8]:
    """The signals each tick fires, and the rules' states and latest fire times after each
    symbol's last tick.

    The rules, per symbol and side (see :class:`~engine.core.Engine`):

    * Hit (``BUY``/``SELL``): fires when the price reaches the limit while armed, then
      disarms; re-arms once the price is back beyond the limit by ``hysteresis`` of the
      limit, and by at least ``rearm_at_least`` where given.
    * Watch (``BUY_WATCH``/``SELL_WATCH``): :func:`~engine.watch.watch_fires` with score
      ``p``, threshold ``alert_p``, re-arm at ``watch_rearm * alert_p``, expiry after
      ``horizon_s`` and at least ``watch_quiet`` seconds between two watches.
    * Cross (``GOLDEN_CROSS``/``DEATH_CROSS``): :func:`cross_fires`, fires when the fast
      average is seen above (below) the slow one by more than :data:`CROSS_BAND` after
      last being seen below (above) it, once the slow window is full, and more than
      ``cross_quiet`` seconds after the symbol's previous cross.

    Hits carry their states through each symbol's ticks with ``batch.carry``; watches and
    crosses, whose next fire depends on when they last fired, walk each symbol's ticks
    from one transition to the next (:class:`~engine.watch.Streams`). Either way a rule
    sees exactly the state a tick-by-tick loop would.

    Parameters
    ----------
    batch : Batch
    states : ndarray of int8, shape (segments, len(Rule))
        The states before the batch, one row per segment.
    last_fire : ndarray, shape (segments, len(TIMED))
        Time of the latest buy watch, sell watch and cross before the batch
        (:data:`~engine.watch.NEVER` for none).
    t_event, price, sma_fast, sma_slow : ndarray, shape (n,)
        At every tick, in batch order.
    limits, p_hit : ndarray, shape (2, n)
        Buy and sell limit, and the probability of reaching each, in :class:`Side` rows.
    slow_full : ndarray of bool or None
        Whether the slow window is full at each tick; None if it is at every tick.
    cfg : EngineConfig
    rearm_at_least : ndarray, shape (n,), optional
        The least distance back beyond a limit that re-arms its hit, at every tick: for
        a quantity (an additive symbol) whose limit may be 0, where a fraction of the
        limit is no distance at all, and a whole step for a price on a grid, whose
        steps may be larger than the hysteresis (nan or 0: none).

    Returns
    -------
    fired : ndarray of bool, shape (len(SignalKind), n)
        Whether each kind of signal fires at each tick.
    final : ndarray of int8, shape (segments, len(Rule))
    last : ndarray, shape (segments, len(TIMED))
    """
    n = price.shape[0]
    h = cfg.hysteresis
    buy, sell = limits[Side.BUY], limits[Side.SELL]
    reached = np.empty((2, n), dtype=bool)
    np.less_equal(price, buy, out=reached[Side.BUY])
    np.greater_equal(price, sell, out=reached[Side.SELL])
    moved_back = np.empty((2, n), dtype=bool)
    back = np.empty((2, n))  # the limit moved back from by h of its size
    np.multiply(buy, 1.0 + h, out=back[Side.BUY])
    np.multiply(sell, 1.0 - h, out=back[Side.SELL])
    if h and (limits < 0.0).any():  # additive values below zero: h of |limit|
        np.multiply(buy, 1.0 - h, out=back[Side.BUY], where=buy < 0.0)
        np.multiply(sell, 1.0 + h, out=back[Side.SELL], where=sell < 0.0)
    if rearm_at_least is not None:
        np.fmax(back[Side.BUY], buy + rearm_at_least, out=back[Side.BUY])
        np.fmin(back[Side.SELL], sell - rearm_at_least, out=back[Side.SELL])
    np.greater(price, back[Side.BUY], out=moved_back[Side.BUY])
    np.less(price, back[Side.SELL], out=moved_back[Side.SELL])
    gap = sma_fast - sma_slow
    tol = np.abs(sma_slow)
    tol *= CROSS_BAND
    fast_above = gap > tol
    fast_below = gap < -tol
    if slow_full is not None:
        fast_above &= slow_full
        fast_below &= slow_full

    # Each tick's next state per rule (a fire aside), carried through each symbol's
    # ticks at once; watches and crosses then settle their fires.
    rule = Discipline.of(cfg)
    cross = TIMED.index(Rule.CROSS)
    new = np.empty((len(Rule), n), dtype=np.int8)
    _next_state(new[_HITS], (Armed.DISARMED, reached), (Armed.ARMED, moved_back))
    codes = watch_codes(p_hit, cfg.alert_p, reached, rule)
    new[_WATCHES] = codes[2]
    quiet = _quiet(batch, t_event, last_fire[:, cross], cfg.cross_quiet)
    new[Rule.CROSS] = _cross_code(fast_above, fast_below, quiet)
    before, final = batch.carry(new, states.T)
    last = np.empty_like(last_fire)
    fired = np.empty((len(SignalKind), n), dtype=bool)
    hits = slice(SignalKind.BUY, SignalKind.SELL + 1)
    np.logical_and(reached, before[_HITS] == Armed.ARMED, out=fired[hits])
    watches = slice(SignalKind.BUY_WATCH, SignalKind.SELL_WATCH + 1)
    fired[watches], final[_WATCHES], watch_last = watch_fires(
        batch,
        t_event,
        p_hit,
        cfg.alert_p,
        reached,
        states.T[_WATCHES],
        last_fire.T[_TIMED_WATCHES],
        rule,
        carried=(codes, before[_WATCHES], final[_WATCHES]),
    )
    last[:, _TIMED_WATCHES] = watch_last.T
    crosses = slice(SignalKind.GOLDEN_CROSS, SignalKind.DEATH_CROSS + 1)
    fired[crosses], final[Rule.CROSS], last[:, cross] = cross_fires(
        batch,
        t_event,
        fast_above,
        fast_below,
        states.T[Rule.CROSS],
        last_fire[:, cross],
        cfg.cross_quiet,
        carried=(quiet, before[Rule.CROSS], final[Rule.CROSS]),
    )
    return fired, final.T, last


def _quiet(batch: Batch, t: _F8, last_cross: _F8, quiet_s: float) -> _B | None:
    """Whether each tick is more than ``quiet_s`` after its segment's latest cross before
    the batch; None when every tick is."""
    recent = last_cross + quiet_s >= t[batch.first]
    if not recent.any():
        return None
    return t > batch.expand(last_cross) + quiet_s


def _cross_code(above: _B, below: _B, quiet: _B | None) -> _States:
    """The order each tick sets (:data:`KEEP` for none): the one it sees, unless that is
    within the quiet time of the segment's latest cross before the batch."""
    if quiet is not None:
        above, below = above & quiet, below & quiet
    code = np.empty(above.shape[0], dtype=np.int8)
    _next_state(code, (Order.FAST_ABOVE, above), (Order.FAST_BELOW, below))
    return code


def cross_fires(
    batch: Batch,
    t: _F8,
    above: _B,
    below: _B,
    order: _States,
    last_cross: _F8,
    quiet_s: float,
    *,
    carried: tuple[_B | None, _States, _States] | None = None,
) -> tuple[_B, _States, _F8]:
    """Golden and death crosses (rows of the result), the :class:`Order` and the time of
    the latest cross after each segment.

    A tick where the fast average is ``above`` (``below``) the slow one sets the order;
    where it was the other one, that is a cross, which fires if more than ``quiet_s``
    has passed since the segment's previous cross. Too soon, the order stays as it was,
    so the first tick after the quiet time that still sees the new order fires: crosses
    alternate, golden and death, and are more than ``quiet_s`` apart.
    """
    if carried is None:
        quiet = _quiet(batch, t, last_cross, quiet_s)
        code = _cross_code(above, below, quiet)
        before, final = (x[0] for x in batch.carry(code[None], order[None]))
    else:
        quiet, before, final = carried[0], carried[1], carried[2].copy()
    up, down = (above, below) if quiet is None else (above & quiet, below & quiet)
    last = last_cross.astype(np.float64, copy=True)
    fired = np.empty((2, batch.n), dtype=bool)
    np.logical_and(up, before == Order.FAST_BELOW, out=fired[0])
    np.logical_and(down, before == Order.FAST_ABOVE, out=fired[1])
    # Up to its first cross a segment sees its seed's cross time, so that cross is
    # exact; where a segment spans no more than the quiet time, nothing follows it.
    long = np.flatnonzero(spans(batch, t) > quiet_s)
    if long.size:
        fired[:, batch.expand(np.isin(np.arange(batch.count), long))] = False
    any_cross = fired[0] | fired[1]
    if any_cross.any():
        at = first_per_segment(batch, any_cross)
        to_above = fired[0, at]
        fired[:] = False
        fired[0, at[to_above]] = True
        fired[1, at[~to_above]] = True
        seg = batch.seg[at]
        final[seg] = np.where(to_above, Order.FAST_ABOVE, Order.FAST_BELOW)
        last[seg] = t[at]
    if long.size:
        long = _walk_only_crossing(batch, above, below, order, final, long)
    if long.size:
        runs = Streams(batch, t, 1, long)
        walked, final[long], last[long] = _walk_crosses(
            runs, runs.runs(above[None]), runs.runs(below[None]), order[long], last_cross[long],
            quiet_s,
        )  # fmt: skip
        runs.put(walked[0], fired[:1])
        runs.put(walked[1], fired[1:])
    return fired, final, last


def _walk_only_crossing(
    batch: Batch, above: _B, below: _B, order: _States, final: _States, long: _I8
) -> _I8:
    """Of the ``long`` segments, those that may cross (an order seen, and a tick that
    sees the other; or none seen yet, and ticks that see both), which
    :func:`_walk_crosses` must walk; the others' final orders are set in ``final`` here:
    the order they came with, or, where none was seen yet, the one their ticks see (the
    walk takes the first order seen without a quiet time). Their cross times stay. Most
    long segments are such: averages cross seldom."""
    sees = np.zeros((2, batch.count), dtype=bool)
    sees[0, batch.seg[np.flatnonzero(above)]] = True
    sees[1, batch.seg[np.flatnonzero(below)]] = True
    up, down = sees[0, long], sees[1, long]
    was = order[long]
    unseen = was == Order.UNSEEN
    walk = ((was == Order.FAST_ABOVE) & down) | ((was == Order.FAST_BELOW) & up)
    walk |= unseen & up & down
    first = np.where(up, Order.FAST_ABOVE, np.where(down, Order.FAST_BELOW, Order.UNSEEN))
    idle = ~walk
    final[long[idle]] = np.where(unseen, first, was)[idle]
    return long[walk]


def _walk_crosses(
    runs: Streams, up: _B, down: _B, order: _States, last_cross: _F8, quiet_s: float
) -> tuple[_B, _States, _F8]:
    """The cross rule along each run, one cross per step for all runs at once: golden and
    death crosses (contiguous rows), and each run's final order and cross time."""
    m = up.shape[0]
    golden, death = np.zeros(m, dtype=bool), np.zeros(m, dtype=bool)
    final = order.astype(np.int8, copy=True)
    last = last_cross.astype(np.float64, copy=True)
    next_up, next_down = runs.next_index(up), runs.next_index(down)
    seg = np.arange(final.shape[0])
    pos = runs.start.copy()
    state, when = final.copy(), last.copy()
    while seg.size:
        e = runs.end[seg]
        new_pos, new_state, new_when = e.copy(), state.copy(), when.copy()
        unseen = np.flatnonzero(state == Order.UNSEEN)
        if unseen.size:
            p = pos[unseen]
            first = np.minimum(next_up[p], next_down[p])
            seen = first < e[unseen]
            at = first[seen]
            new_pos[unseen[seen]] = at + 1
            new_state[unseen[seen]] = np.where(up[at], Order.FAST_ABOVE, Order.FAST_BELOW)
        ordered = np.flatnonzero(state != Order.UNSEEN)
        if ordered.size:
            eo = e[ordered]
            q = runs.first_time(pos[ordered], eo, when[ordered] + quiet_s, strict=True)
            is_above = state[ordered] == Order.FAST_ABOVE
            qq = np.minimum(q, eo - 1)
            j = np.where(q < eo, np.where(is_above, next_down[qq], next_up[qq]), eo)
            crossed = j < eo
            at = j[crossed]
            to_above = ~is_above[crossed]
            golden[at[to_above]] = True
            death[at[~to_above]] = True
            hit = ordered[crossed]
            new_pos[hit] = at + 1
            new_state[hit] = np.where(to_above, Order.FAST_ABOVE, Order.FAST_BELOW)
            new_when[hit] = runs.t[at]
        done = new_pos >= e
        final[seg[done]] = new_state[done]
        last[seg[done]] = new_when[done]
        live = ~done
        seg, pos, state, when = seg[live], new_pos[live], new_state[live], new_when[live]
    return np.stack((golden, death)), final, last


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
