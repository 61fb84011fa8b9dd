"""Immutable snapshots handed from the consumer worker to whoever displays them.

A snapshot is built in the worker thread and never changed afterwards, so the UI can
read it from its own thread without locks; the worker publishes a new one at most
20 times a second through a lock-guarded slot.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from engine import EngineState, History, Signal
from engine.calibration import CalibrationRecord
from producer.control import ProducerStats
from producer.keeper import RETRY_GIVEN_UP_S


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """How far the consumer is behind on one partition."""

    partition: int
    high: int  # high watermark from fetch responses; -1 when not known yet
    position: int  # next offset the consumer will read; -1 when none yet
    lag: int  # messages behind; -1 when not known
    lag_s: float  # age of the last message read while behind (0 when caught up)
    trend: tuple[int, ...] = ()  # recent lag samples, oldest first


@dataclass(frozen=True, slots=True)
class KafkaStats:
    """The Kafka side as the consumer sees it."""

    bootstrap: str
    embedded: bool
    topic: str
    broker_state: str = "CONNECTING"  # UP, DOWN, CONNECTING
    health: str = "OK"  # OK, WARN, STALL, DOWN
    partitions: tuple[PartitionLag, ...] = ()
    consumed: int = 0
    rate_in: float = 0.0  # ticks per second, over the last seconds
    #: Refused messages by heading (a Problem's words), in Problem order, nonzero only.
    bad_by: tuple[tuple[str, int], ...] = ()
    dead_lettered: int = 0  # of the refused, copied to the dead-letter topic
    since_last_tick_s: float = float("nan")
    errors: int = 0
    last_error: str = ""
    broker_rss: int | None = None
    group: str | None = None
    broker_silent_s: float = 0.0  # since a broker last answered the consumer
    broker_restarts: int = 0  # the embedded broker, restarted by limitwatch
    broker_lost: int = 0  # ticks the consumer had not read, lost at budget restarts
    broker_budget: int | None = None  # the embedded broker's memory budget, bytes
    keeper: str = ""  # what was last done to keep the broker and topics in place
    broker_gave_up: bool = False  # the embedded broker's quick restarts failed: slow ones now
    topics_recreated: int = 0  # topics limitwatch created again on a broker without them
    recovery: str = ""  # what the consumer last found and did (a reset, a new topic)
    duplicates: int = 0  # ticks sent again after a broker restart that were read already
    topic_missing: bool = False  # the broker has no such topic (it came back without it)
    #: (epoch time, total lag in messages, largest lag in seconds), oldest first: the
    #: last ten minutes of readings, for the lag history view.
    lag_log: tuple[tuple[float, int, float], ...] = ()
    #: In `--view`: the members of the engines' group, ``host client p0,1`` each.
    engines: tuple[str, ...] = ()
    #: The group assigned this consumer no partition: its other members hold them all.
    idle: bool = False

    @property
    def bad(self) -> int:
        """Messages refused, all headings together."""
        return sum(n for _problem, n in self.bad_by)

    @property
    def total_lag(self) -> int:
        """Messages behind over all partitions whose lag is known."""
        return sum(p.lag for p in self.partitions if p.lag > 0)


@dataclass(frozen=True, slots=True)
class Notice:
    """A message for the user from the worker (e.g. a refused limit), numbered."""

    seq: int
    text: str
    error: bool = False


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the monitor shows, at one moment."""

    seq: int
    wall: float  # worker's wall-clock time when the snapshot was made
    engine: EngineState
    signals: tuple[Signal, ...]  # the most recent signals, oldest first
    signal_count: int
    kafka: KafkaStats
    notices: tuple[Notice, ...] = ()
    producer: ProducerStats | None = None
    source: str = ""
    chart_symbol: str | None = None  # whose history is in `history`
    history: History | None = None
    recording: str | None = None  # path of the scenario being recorded
    recorded: int = 0
    track: CalibrationRecord | None = None  # how often the forecasts came true so far
    #: The same per stream (a partition of the topic), where there is more than one.
    tracks: Mapping[int, CalibrationRecord] = field(default_factory=dict)
    #: Per stream: the factor its times to the limit are shown multiplied by, and how
    #: many WATCHes that came true it rests on (Engine.eta_correction).
    timings: Mapping[int, tuple[float, int]] = field(default_factory=dict)
    #: Per stream: the log-odds added to its WATCHes' chances, and how many WATCHes whose
    #: horizon has passed it rests on (Engine.watch_correction).
    watch_shifts: Mapping[int, tuple[float, int]] = field(default_factory=dict)
    #: Symbols with no tick of their own for STALE_IDLE_S: their forecasts are stale.
    stale_symbols: frozenset[str] = frozenset()
    #: Why the reading stopped for good (the consumer's thread failed), else "": nothing
    #: on screen changes any more.
    failure: str = ""


#: Forecasts are marked stale when the consumer is this many seconds behind...
STALE_LAG_S = 5.0
#: ...or when no tick has arrived for this long.
STALE_IDLE_S = 10.0
#: The first of a view's engine lines (``KafkaStatus.engines``) when none runs: its
#: "no tick" is then no engine's, not the feed's (every engine killed while ticks flowed
#: read "no tick for 26 s").
NO_ENGINE = ("0 running", "none heard from yet")


def staleness(snap: Snapshot) -> str | None:
    """Why the forecasts in `snap` are stale, or None when the data is fresh: the broker's
    state first, as what explains the rest (a frozen broker read "broker silent for 5 s",
    then "no tick for 15 s", the cause gone from the line)."""
    k = snap.kafka
    if snap.failure:
        return "the reading stopped: quit (q) and start again"
    if k.broker_gave_up:
        return (
            f"the embedded broker is down: tried again every {RETRY_GIVEN_UP_S:.0f} s, or "
            "quit (q) and start again"
        )
    if k.broker_state == "DOWN":
        return "broker down"
    if k.health == "STALL":
        return f"broker silent for {k.broker_silent_s:.0f} s"
    if k.topic_missing:
        return f"topic {k.topic} missing"
    worst = max((p.lag_s for p in k.partitions), default=0.0)
    if worst > STALE_LAG_S:
        return f"consumer {worst:.0f} s behind"
    idle = k.since_last_tick_s
    if idle == idle and idle > STALE_IDLE_S:  # not NaN
        p = snap.producer
        if p is not None and p.paused and not p.held:
            return None  # the user's pause (p): PAUSED says it, and pushed the source off
        if k.engines and k.engines[0] in NO_ENGINE:  # a view: the ticks may well flow
            return f"no engine running for {idle:.0f} s"
        return f"no tick for {idle:.0f} s"
    return None


class SnapshotSlot:
    """A one-item mailbox: the writer replaces, readers take the newest."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: Snapshot | None = None

    def put(self, snapshot: Snapshot) -> None:
        """Replace the held snapshot."""
        with self._lock:
            self._value = snapshot

    def get(self) -> Snapshot | None:
        """The newest snapshot, or None before the first."""
        with self._lock:
            return self._value
