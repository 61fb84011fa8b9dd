"""What the producer thread reports and the commands it takes: plain records, no Kafka."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ProducerCommand", "ProducerStats", "SetPaused", "SetSpeed"]


@dataclass(frozen=True, slots=True)
class ProducerStats:
    """Counters of the producer thread at one moment."""

    source: str
    produced: int = 0
    delivered: int = 0
    rate: float = 0.0  # ticks per second delivered, over the last seconds
    failed: int = 0
    paused: bool = False
    speed: float = 1.0
    finished: bool = False
    last_error: str = ""
    skipped: int = 0  # bad lines the source skipped (--skip-bad)


@dataclass(frozen=True, slots=True)
class SetPaused:
    """Pause (True) or resume (False) the producer."""

    paused: bool


@dataclass(frozen=True, slots=True)
class SetSpeed:
    """Replay speed factor for paced sources; math.inf sends as fast as possible."""

    speed: float


ProducerCommand = SetPaused | SetSpeed
