"""What the producer thread reports and the commands it takes: plain records, no Kafka."""

from __future__ import annotations

import queue
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["ForgetSent", "ProducerCommand", "ProducerStats", "SetPaused", "SetSpeed", "drain"]

C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class ProducerStats:
    """Counters of the producer thread at one moment."""

    source: str
    produced: int = 0
    delivered: int = 0
    rate: float = 0.0  # ticks per second delivered, over the last seconds
    failed: int = 0
    paused: bool = False
    #: Paused by limitwatch itself while the embedded broker restarts at its memory
    #: budget, not by the user's pause.
    held: bool = False
    speed: float = 1.0
    finished: bool = False
    last_error: str = ""
    #: ``last_error`` is the source's: it stopped on bad input (a bad line, no ticks).
    bad_input: bool = False
    skipped: int = 0  # bad lines the source skipped (--skip-bad)
    flush_s: float | None = None  # how long the stop flush took, once stopped
    waiting: str = ""  # why sending is held (the broker is down, the topic is missing)
    resent: int = 0  # ticks sent again after the broker came back (may be duplicates)
    rebuilt: int = 0  # clients replaced after a fatal error
    paced: bool = True  # sent by event time, so speed applies (not stdin or system metrics)
    #: What the source's end leaves to check (a file whose last line has no newline: a
    #: price in it may be cut short), once it has ended.
    note: str = ""


@dataclass(frozen=True, slots=True)
class SetPaused:
    """Pause (True) or resume (False) the producer; ``held``: a pause of limitwatch's own
    (the embedded broker's budget restart), which the status line does not call the
    user's."""

    paused: bool
    held: bool = False


@dataclass(frozen=True, slots=True)
class SetSpeed:
    """Replay speed factor for paced sources; math.inf sends as fast as possible."""

    speed: float


@dataclass(frozen=True, slots=True)
class ForgetSent:
    """Everything delivered so far has been read: do not send it again after the next
    broker restart (a planned one, after the consumer caught up)."""


ProducerCommand = SetPaused | SetSpeed | ForgetSent


def drain(commands: queue.SimpleQueue[C], apply: Callable[[C], None]) -> bool:
    """Apply every command queued for a thread, oldest first; True if there was any.

    The one way a worker thread takes the small commands other threads send it.
    """
    if commands.empty():  # the common case, without raising queue.Empty
        return False
    while True:
        try:
            apply(commands.get_nowait())
        except queue.Empty:
            return True
