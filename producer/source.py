"""What every tick source offers the producer thread and the backtest: an iterator of ticks.

A source yields `Tick`s in event-time order. A *paced* source (a generator, a scenario,
a file) carries its own event times and the producer spaces the messages out by them,
scaled by a speed factor; a *live* source (stdin, system metrics) blocks until the next
tick exists and is sent as soon as it is read. A paced source whose event times follow
the machine's clock (the generator, with no start time given) says so with a true
``follows_clock`` attribute: through a broker outage the producer keeps it on the clock
(what came due meanwhile is sent at once) instead of going on from where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from producer.wire import Tick


@runtime_checkable
class Source(Protocol):
    """A stream of ticks with a name, a pacing mode and optional starting limits."""

    #: Shown in the UI and logs, e.g. ``generator(seed=7)`` or ``scenarios/rally.jsonl``.
    name: str
    #: True when the producer should space ticks out by their event times.
    paced: bool
    #: Initial (buy, sell) limits per symbol that the source suggests; may be empty.
    limits: dict[str, tuple[float, float]]

    def __iter__(self) -> Iterator[Tick]: ...


def additive_of(source: Source | None) -> tuple[str, ...]:
    """Patterns of the symbols of `source` whose values are quantities, not prices (a
    source's optional ``additive`` attribute: system metrics, a scenario whose header
    lists them), for :class:`engine.Engine`'s ``additive``."""
    return tuple(getattr(source, "additive", ()))


def jumps_by_design(source: Source | None) -> bool:
    """True when `source`'s values jump by design (a source's optional ``price_jumps``
    attribute: system metrics, a scenario whose header says so), so the consumer's check
    against implausible price jumps should be off for it."""
    return bool(getattr(source, "price_jumps", False))
