"""Plausibility checks on decoded ticks, before they reach the engine.

A tick can be well formed and still poison: an event time months ahead would become its
symbol's clock (every later tick looks old), and a price a thousand times the last one
would set the chart's scale. :class:`TickChecks` refuses an event time more than
``max_ahead_s`` ahead of this machine's clock and a price more than ``max_jump`` times
above or below the symbol's last accepted price; the consumer dead-letters what it
refuses, so neither moves the symbol's clock or scale.

A symbol is never locked out by its reference: when :data:`RELEVEL_AFTER` jumps in a row
agree with each other (each within ``max_jump`` of the one before), the price has moved
(a split, or a poisoned first tick was the reference) and the last of them is accepted as
the new level. An isolated spike is refused; a sustained new level is taken after two
refusals.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from producer.source import Source, jumps_by_design
from producer.wire import BadTick, Problem, Tick

__all__ = [
    "MAX_AHEAD_S",
    "MAX_JUMP",
    "RELEVEL_AFTER",
    "Plausibility",
    "TickChecks",
    "plausibility_for",
]

#: Event times further ahead of the wall clock than this (seconds) are refused.
MAX_AHEAD_S = 300.0
#: A price more than this factor above or below the symbol's last accepted one is refused.
MAX_JUMP = 10.0
#: Jumps in a row, agreeing with each other, after which the new level is accepted.
RELEVEL_AFTER = 3


@dataclass(frozen=True, slots=True)
class Plausibility:
    """The checks' bounds; ``math.inf`` turns a check off."""

    max_ahead_s: float = MAX_AHEAD_S
    max_jump: float = MAX_JUMP

    def __post_init__(self) -> None:
        if not self.max_ahead_s >= 0:
            raise ValueError(f"max_ahead_s must be at least 0, got {self.max_ahead_s}")
        if not self.max_jump > 1:
            raise ValueError(f"max_jump must be a factor above 1, got {self.max_jump}")


def plausibility_for(
    source: Source | None, max_ahead_s: float = MAX_AHEAD_S, max_jump: float | None = None
) -> Plausibility:
    """The checks for ticks from ``source``: ``max_jump`` None means :data:`MAX_JUMP`, or
    no jump check for a source whose values jump by design (system metrics, a scenario
    whose header says ``price_jumps``). ``math.inf`` turns a check off."""
    if max_jump is None:
        max_jump = math.inf if jumps_by_design(source) else MAX_JUMP
    return Plausibility(max_ahead_s=max_ahead_s, max_jump=max_jump)


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
        #: Per symbol, the refused jumps in a row that agree with each other: how many
        #: and the last one's price.
        self._jumps: dict[str, tuple[int, float]] = {}

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

    def forget(self, symbols: Iterable[str]) -> None:
        """Drop the reference prices of ``symbols`` (no longer tracked)."""
        for symbol in symbols:
            self._last.pop(symbol, None)
            self._jumps.pop(symbol, None)

    def _relevel(self, symbol: str, price: float) -> bool:
        """Count a jump of ``symbol`` to ``price``; True when it makes RELEVEL_AFTER in a
        row that agree with each other."""
        count, before = self._jumps.get(symbol, (0, math.nan))
        count = count + 1 if count and _factor(price, before) <= self.rules.max_jump else 1
        self._jumps[symbol] = (count, price)
        return count >= RELEVEL_AFTER


def _factor(a: float, b: float) -> float:
    """How many times larger the larger of two positive prices is."""
    return max(a / b, b / a)
