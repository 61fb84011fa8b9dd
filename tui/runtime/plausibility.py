"""Plausibility checks on decoded ticks, before they reach the engine.

A tick can be well formed and still poison: an event time months ahead would become its
symbol's clock (every later tick looks old), and a price a thousand times the last one
would set the chart's scale. :class:`TickChecks` refuses an event time more than
``max_ahead_s`` ahead of this machine's clock, one more than ``max_behind_s`` behind its
symbol's latest (the engine holds a tick that comes late at its symbol's latest time, so
a price a year old would be taken for the current one and fire a signal), and a price
more than ``max_jump`` times above or below the symbol's last accepted price; the
consumer dead-letters what it refuses, so none of them moves the symbol's clock, its
price or its scale.

A symbol is never locked out by its reference: when :data:`RELEVEL_AFTER` jumps in a row
agree with each other (each within ``max_jump`` of the one before), the price has moved
(a split, or a poisoned first tick was the reference) and the last of them is accepted as
the new level. An isolated spike is refused; a sustained new level is taken after two
refusals. Nor by its clock: a tick stamped ahead (within ``max_ahead_s``) moves its
symbol's latest time past the real ticks, which then come ``max_behind_s`` behind it;
while that time is still ahead of this machine's clock, when :data:`RELEVEL_AFTER` ticks
in a row come so far behind it but within ``max_behind_s`` of the clock, agreeing with
each other (each within ``max_behind_s`` of the one before), the last is accepted as the
symbol's new time and
:meth:`TickChecks.take_restart` names the symbol, whose engine state the caller starts
afresh (one tick five minutes ahead had held a symbol's real ticks out for five minutes).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import repeat

import numpy as np
from numpy.typing import NDArray

from producer.lines import MAX_AHEAD_S
from producer.source import Source, jumps_by_design
from producer.wire import BadTick, Problem, Tick

__all__ = [
    "MAX_AHEAD_S",
    "MAX_BEHIND_S",
    "MAX_JUMP",
    "RELEVEL_AFTER",
    "Plausibility",
    "TickChecks",
    "plausibility_for",
]

#: A price more than this factor above or below the symbol's last accepted one is refused.
MAX_JUMP = 10.0
#: An event time more than this many seconds behind its symbol's latest is refused: a
#: minute of senders' clocks apart is tolerated (such a tick is taken at the latest time).
MAX_BEHIND_S = 60.0
#: Seconds of event time one batch may span and still be checked at once (see accept_all).
_BATCH_SPAN_S = 1e6
#: Jumps in a row, agreeing with each other, after which the new level is accepted.
RELEVEL_AFTER = 3


@dataclass(frozen=True, slots=True)
class Plausibility:
    """The checks' bounds; ``math.inf`` turns a check off."""

    max_ahead_s: float = MAX_AHEAD_S
    max_jump: float = MAX_JUMP
    max_behind_s: float = MAX_BEHIND_S

    def __post_init__(self) -> None:
        if not self.max_ahead_s >= 0:
            raise ValueError(f"max_ahead_s must be at least 0, got {self.max_ahead_s}")
        if not self.max_behind_s >= 0:
            raise ValueError(f"max_behind_s must be at least 0, got {self.max_behind_s}")
        if not self.max_jump > 1:
            raise ValueError(f"max_jump must be a factor above 1, got {self.max_jump}")


def plausibility_for(
    source: Source | None,
    max_ahead_s: float = MAX_AHEAD_S,
    max_jump: float | None = None,
    max_behind_s: float = MAX_BEHIND_S,
) -> Plausibility:
    """The checks for ticks from ``source``: ``max_jump`` None means :data:`MAX_JUMP`, or
    no jump check for a source whose values jump by design (system metrics, a scenario
    whose header says ``price_jumps``). ``math.inf`` turns a check off."""
    if max_jump is None:
        max_jump = math.inf if jumps_by_design(source) else MAX_JUMP
    return Plausibility(max_ahead_s=max_ahead_s, max_jump=max_jump, max_behind_s=max_behind_s)


class TickChecks:
    """The checks with the last accepted price of up to ``capacity`` symbols.

    A symbol's first tick has nothing to be compared with and is accepted; symbols past
    ``capacity`` are not remembered, so their jumps go unchecked (memory stays bounded).

    >>> checks = TickChecks(Plausibility(max_jump=10.0), capacity=10)
    >>> checks.refusal(Tick("ACME", 150.0, 1e9), wall=1e9) is None
    True
    >>> checks.refusal(Tick("ACME", 9.9e11, 1e9), wall=1e9).problem.value
    'implausible jump'
    >>> checks.refusal(Tick("ACME", 151.0, 1.8e9), wall=1e9).problem.value
    'future time'
    >>> checks.refusal(Tick("ACME", 151.0, 1e9 - 3600), wall=1e9).problem.value
    'old time'
    """

    def __init__(
        self, rules: Plausibility, capacity: int, quantity: Callable[[str], bool] | None = None
    ) -> None:
        self.rules = rules
        self.capacity = capacity
        #: Symbols that are quantities, not prices (the engine's additive ones): a value
        #: at 0 or below has no ratio to jump by, so they are not checked for jumps.
        self.quantity = quantity
        self._last: dict[str, float] = {}
        #: The latest event time accepted of each symbol (as many as ``capacity``).
        self._latest: dict[str, float] = {}
        #: Per symbol, the refused jumps in a row that agree with each other: how many
        #: and the last one's price.
        self._jumps: dict[str, tuple[int, float]] = {}
        #: Per symbol, the ticks refused in a row as old that agree with each other: how
        #: many and the last one's time.
        self._old: dict[str, tuple[int, float]] = {}
        self._restart: str | None = None

    def refusal(self, tick: Tick, wall: float) -> BadTick | None:
        """Why ``tick`` (read at epoch time ``wall``) is refused, or None; an accepted
        tick's price becomes its symbol's reference."""
        ahead = tick.ts - wall
        if ahead > self.rules.max_ahead_s:
            return BadTick(
                f"event time {tick.ts:.3f} is {ahead:,.0f} s ahead of this machine's clock "
                f"(at most {self.rules.max_ahead_s:g} s)",
                Problem.FUTURE_TIME,
            )
        symbol, price = tick.symbol, tick.price
        latest = self._latest.get(symbol)
        self._restart = None
        retimed = False
        if latest is not None and latest - tick.ts > self.rules.max_behind_s:
            # Only a clock moved ahead of this machine's is set back, by ticks of now: a
            # price sent again a year later stays refused however many come.
            if latest > wall and wall - tick.ts <= self.rules.max_behind_s:
                retimed = self._retime(symbol, tick.ts)
            if not retimed:
                return BadTick(
                    f"event time {tick.ts:.3f} is {latest - tick.ts:,.0f} s behind the "
                    f"latest {latest:.3f} of {symbol} (at most {self.rules.max_behind_s:g} "
                    "s)",
                    Problem.OLD_TIME,
                )
        elif self._old:  # rare: only after a tick refused as old
            self._old.pop(symbol, None)
        refused = self._price_refusal(symbol, price)
        if refused is None:
            if retimed:
                self._latest[symbol] = tick.ts
                self._old.pop(symbol, None)
                self._restart = symbol
            elif latest is not None:
                if tick.ts > latest:
                    self._latest[symbol] = tick.ts
            elif len(self._latest) < self.capacity and math.isfinite(self.rules.max_behind_s):
                self._latest[symbol] = tick.ts
        return refused

    def take_restart(self) -> str | None:
        """The symbol whose clock the tick just accepted by :meth:`refusal` set back
        (see the module docstring): its state, a tick from ahead included, is to be
        started afresh before that tick; None for any other tick.

        >>> checks = TickChecks(Plausibility(), capacity=10)
        >>> _ = checks.refusal(Tick("ACME", 150.0, 1e9 + 290), wall=1e9)  # stamped ahead
        >>> [checks.refusal(Tick("ACME", 150.0, 1e9 + i), wall=1e9) is None for i in (1, 2, 3)]
        [False, False, True]
        >>> checks.take_restart(), checks.take_restart()
        ('ACME', None)
        """
        symbol, self._restart = self._restart, None
        return symbol

    def _retime(self, symbol: str, ts: float) -> bool:
        """Count a tick of ``symbol`` at ``ts`` refused as old; True when it makes
        RELEVEL_AFTER in a row that agree with each other."""
        count, before = self._old.get(symbol, (0, math.nan))
        agree = count and abs(ts - before) <= self.rules.max_behind_s
        count = count + 1 if agree else 1
        self._old[symbol] = (count, ts)
        return count >= RELEVEL_AFTER

    def _price_refusal(self, symbol: str, price: float) -> BadTick | None:
        """Why ``price`` is refused as a jump of ``symbol``, or None (then it is its
        symbol's reference)."""
        if self.quantity is not None and self.quantity(symbol):
            return None
        last = self._last.get(symbol)
        if last is not None:
            factor = _factor(price, last)
            if factor > self.rules.max_jump and not self._relevel(symbol, price):
                return BadTick(
                    f"price {price:g} is {factor:,.4g} times the last accepted "
                    f"{last:g} of {symbol} (at most {self.rules.max_jump:g})",
                    Problem.IMPLAUSIBLE_JUMP,
                )
            if self._jumps:  # rare: only after a refused jump
                self._jumps.pop(symbol, None)
            self._last[symbol] = price
        elif len(self._last) < self.capacity and math.isfinite(self.rules.max_jump):
            self._last[symbol] = price
        return None

    def accept_all(
        self, symbols: list[str], ts: list[float], prices: list[float], wall: float
    ) -> bool:
        """Whether every tick of a batch (in arrival order) passes, as :meth:`refusal`
        would find one at a time; then each symbol's last price becomes its reference,
        as it would. False changes nothing: check the ticks one by one, which says which
        is refused and why. Vectorized: the usual batch, all plausible, costs no Python
        call per tick.

        >>> checks = TickChecks(Plausibility(max_jump=10.0), capacity=10)
        >>> checks.accept_all(["A", "B", "A"], [1e9] * 3, [100.0, 5.0, 120.0], wall=1e9)
        True
        >>> checks.accept_all(["B", "A"], [1e9] * 2, [5.5, 1300.0], wall=1e9)  # A x10.8
        False
        >>> checks.refusal(Tick("A", 1300.0, 1e9), wall=1e9).problem.value
        'implausible jump'
        """
        if self.quantity is not None or self._jumps or self._old:  # rare: one at a time
            return False
        if not symbols:
            return True
        times = np.asarray(ts, dtype=np.float64)
        if float(times.max()) - wall > self.rules.max_ahead_s:
            return False
        max_jump, behind = self.rules.max_jump, self.rules.max_behind_s
        if not (math.isfinite(max_jump) or math.isfinite(behind)):
            return True  # nothing to compare: nothing kept (see refusal)
        index: dict[str, int] = dict.fromkeys(symbols, 0)  # in order of first appearance
        for i, s in enumerate(index):
            index[s] = i
        # Each symbol's latest time and last price so far (-inf, nan: none kept).
        k = len(index)
        seed = ref = None
        if math.isfinite(behind):
            seed = np.fromiter(map(self._latest.get, index, repeat(-math.inf)), np.float64, k)
            if len(self._latest) + int(np.count_nonzero(np.isneginf(seed))) > self.capacity:
                return False  # which new symbols are remembered depends on the order
        if math.isfinite(max_jump):
            ref = np.fromiter(map(self._last.get, index, repeat(math.nan)), np.float64, k)
            if len(self._last) + int(np.count_nonzero(np.isnan(ref))) > self.capacity:
                return False
        ids = np.fromiter(map(index.__getitem__, symbols), np.int64, len(symbols))
        order = np.argsort(ids, kind="stable")
        sid = ids[order]
        first = np.ones(sid.size, dtype=bool)
        first[1:] = sid[1:] != sid[:-1]
        if seed is not None:
            t = times[order]
            if not _in_time(seed, sid, first, t, behind):
                return False
        if ref is not None:
            price = np.asarray(prices, dtype=np.float64)[order]
            prev = np.empty_like(price)
            prev[1:] = price[:-1]
            prev[first] = ref[sid[first]]
            with np.errstate(invalid="ignore"):
                factor = np.fmax(price / prev, prev / price)  # nan: a symbol's first price
            if (factor > max_jump).any():
                return False
            self._last.update(zip(symbols, prices, strict=True))  # each one's latest price
        if seed is not None:  # each symbol's latest time (ids are in index's order)
            top = np.fmax(np.maximum.reduceat(t, np.flatnonzero(first)), seed)
            self._latest.update(zip(index, top.tolist(), strict=True))
        return True

    def forget(self, symbols: Iterable[str]) -> None:
        """Drop the reference prices and times of ``symbols`` (no longer tracked)."""
        for symbol in symbols:
            self._last.pop(symbol, None)
            self._latest.pop(symbol, None)
            self._jumps.pop(symbol, None)
            self._old.pop(symbol, None)

    def _relevel(self, symbol: str, price: float) -> bool:
        """Count a jump of ``symbol`` to ``price``; True when it makes RELEVEL_AFTER in a
        row that agree with each other."""
        count, before = self._jumps.get(symbol, (0, math.nan))
        count = count + 1 if count and _factor(price, before) <= self.rules.max_jump else 1
        self._jumps[symbol] = (count, price)
        return count >= RELEVEL_AFTER


def _in_time(
    seed: NDArray[np.float64],
    sid: NDArray[np.int64],
    first: NDArray[np.bool_],
    t: NDArray[np.float64],
    behind: float,
) -> bool:
    """Whether no tick of a batch (times ``t`` grouped by symbol id ``sid``, in arrival
    order within each, ``first`` marking each symbol's first) lies more than ``behind``
    seconds before the latest time of its symbol so far: the running maximum of each
    symbol's times, from its latest accepted one (``seed``, by id; -inf: none), by one
    cumulative maximum over the symbols' times laid out on disjoint ranges. A batch
    spanning more than _BATCH_SPAN_S is not judged here (False: one by one)."""
    known = seed[np.isfinite(seed)]
    low = min(float(t.min()), float(known.min()) if known.size else math.inf)
    span = max(float(t.max()), float(known.max()) if known.size else -math.inf) - low
    if not span <= _BATCH_SPAN_S:
        return False
    base = sid * (span + 1.0)
    key = t - low + base
    running = np.maximum.accumulate(key)  # within each symbol: the ranges do not overlap
    before = np.empty_like(key)
    before[1:] = running[:-1]
    before[first] = -math.inf
    np.fmax(before, seed[sid] - low + base, out=before)
    return not bool((before - key > behind).any())


def _factor(a: float, b: float) -> float:
    """How many times larger the larger of two positive prices is."""
    return max(a / b, b / a)
