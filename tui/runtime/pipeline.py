"""The running pipeline behind the monitor: embedded broker, topics, producer thread and
consumer worker, started in order and stopped within a time budget.

The UI talks to it through the `Feed` protocol only: read the newest snapshot, send a
small command. Nothing here touches a widget.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from engine import EngineConfig, Signal
from producer.broker import EmbeddedBroker
from producer.control import ForgetSent, SetPaused, SetSpeed
from producer.fields import Fields
from producer.kafka_config import Connection
from producer.kafka_producer import ProducerThread
from producer.keeper import BROKER_MEMORY_MIB, BrokerKeeper
from producer.source import Source, additive_of
from producer.topics import set_up_topics, ticks_topics
from tui.runtime.commands import (
    SelectSymbol,
    SetLimits,
    ShareLimits,
    StartRecording,
    StopRecording,
)
from tui.runtime.consumer import ConsumerWorker
from tui.runtime.plausibility import MAX_AHEAD_S, MAX_BEHIND_S, plausibility_for
from tui.runtime.shared_limits import CATCH_UP_S, LIMITS, SharedLimits, to_worker
from tui.runtime.snapshot import Snapshot

log = logging.getLogger(__name__)

#: Before a budget restart, the wait for the producer's ticks to be delivered, and for the
#: consumer to read them: as long as it keeps reading (its lag fell, or its count of
#: messages read rose, within the last DRAIN_STUCK_S) and the broker stays under the
#: budget itself, up to DRAIN_MOST_S. A replay at full speed left a monitor 0.2 to 1.8
#: million ticks behind, lost with the broker after a flat 5 s wait; paused, the broker
#: does not grow while the consumer reads up. A producer of another process is not
#: paused: its lag need not fall while the consumer reads (a file sent at full speed by
#: `limitwatch produce` to the monitor's broker: 911,902 ticks lost 8 s into the wait,
#: the consumer reading all along), so reading counts too, until the broker fills the
#: last 5% of its budget (RESTART_AT).
DRAIN_S = 5.0
DRAIN_STUCK_S = 3.0
DRAIN_MOST_S = 120.0
#: After it, the longest wait for ticks to flow again (for the measured pause).
FLOWING_S = 10.0
#: glibc malloc arenas the process may have (its default: 8 per core).
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # mallopt's parameter number in glibc's malloc.h


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Let glibc's malloc keep at most `arenas` arenas from here on; False where there is
    no glibc.

    Each budget restart gives the producer a new Kafka client and the keeper a new admin
    client, and their new threads take arenas of their own (up to 8 per core). An arena
    keeps the high-water mark of what its threads allocated, so the memory the old
    clients' threads freed stays with the process: at 5,000 ticks/s and a broker budget
    of 128 MiB, 16 arenas held 17 MiB free after 3 restarts (1 to 5 MiB more at each),
    the app at 122 MiB. With 2 arenas the new threads reuse the freed memory: 7 MiB free
    after the same restarts, the app at 112 MiB. It must run before the threads start;
    arenas made earlier stay. MALLOC_ARENA_MAX in the environment is left to decide.
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    libc = None
    with contextlib.suppress(OSError):
        libc = ctypes.CDLL(None)
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    return bool(mallopt(_M_ARENA_MAX, arenas))


class Feed(Protocol):
    """What the monitor needs from whatever feeds it."""

    def latest(self) -> Snapshot | None:
        """The newest snapshot, or None before the first."""
        ...

    def set_limits(self, symbol: str, buy: float | None, sell: float | None) -> None:
        """Ask for new limits for `symbol`."""
        ...

    def share_limits(self, symbol: str, buy: float, sell: float, side: str = "") -> None:
        """Tell every engine and monitor on the cluster the limits a user chose for
        `symbol` (NaN: none on that side; `side`: the only one changed, "buy" or "sell"),
        where the feed shares them."""
        ...

    def set_paused(self, paused: bool) -> None:
        """Pause or resume the producer, if there is one."""
        ...

    def select(self, symbol: str | None) -> None:
        """Ask for `symbol`'s history (the chart) in the coming snapshots."""
        ...

    def set_speed(self, speed: float) -> None:
        """Change the replay speed, if there is a producer."""
        ...

    def record(self, path: str | None) -> None:
        """Record the ticks read to a scenario file at `path`; None stops recording."""
        ...


@dataclass
class PipelineOptions:
    """How to wire the pipeline; see `limitwatch --help` for each."""

    bootstrap: str | None = None  # None: start the embedded broker
    kafka_properties: dict[str, str] = field(default_factory=dict)  # -X and --kafka-config
    topic: str = "prices"
    partitions: int = 4
    source: Source | None = None  # None: consume only
    speed: float = 1.0
    max_gap_s: float = 5.0
    source_stop: threading.Event | None = None  # set on stop, ends a live source's waits
    engine: EngineConfig = field(default_factory=EngineConfig)
    group: str | None = None
    from_beginning: bool | None = None  # None: beginning on the embedded broker, else end
    broker_port: int | None = None
    broker_log: Path | None = None
    broker_memory_mib: float = BROKER_MEMORY_MIB  # the embedded broker's budget (inf: none)
    limits: dict[str, tuple[float, float]] = field(default_factory=dict)
    pinned: frozenset[str] = frozenset()  # symbols whose limits --limit set: never overridden
    remembered: frozenset[str] = frozenset()  # of `limits`, those only the settings file set
    on_signals: Callable[[list[Signal]], None] | None = None  # called in the worker thread
    max_ahead_s: float = MAX_AHEAD_S  # event times further ahead are refused (inf: off)
    max_behind_s: float = MAX_BEHIND_S  # behind their symbol's latest: refused (inf: off)
    max_jump: float | None = None  # None: as `plausibility_for` decides for the source
    fields: Fields | None = None  # the shape of the ticks read (None: limitwatch's own)
    evict_idle: bool = True  # at max_symbols a new symbol evicts the one idle longest
    additive: tuple[str, ...] = ()  # --additive; the source's own are added (additive_of)
    limits_topic: str | None = LIMITS  # where limits are shared (None: not shared)


#: The pipeline's threads as a user knows them.
_ROLES = {
    "limitwatch-consumer": "the Kafka reader",
    "limitwatch-producer": "the producer",
    "limitwatch-keeper": "the broker's keeper",
    "limitwatch-limits": "the shared limits' client",
}


class Pipeline:
    """Owns and runs every moving part; `stop()` ends them all."""

    def __init__(self, options: PipelineOptions) -> None:
        self.options = options
        self.broker: EmbeddedBroker | None = None
        self.producer: ProducerThread | None = None
        self.worker: ConsumerWorker | None = None
        self.keeper: BrokerKeeper | None = None
        self.shared: SharedLimits | None = None
        self.bootstrap = options.bootstrap or ""
        self.connection = Connection(self.bootstrap, options.kafka_properties)
        self._stopping = threading.Event()
        #: Set by :meth:`stop`: the parts still closing when it gave up on them, in words.
        self.unfinished: list[str] = []

    def start(self) -> None:
        """Start broker (if embedded), topics, consumer and producer. Call from the main thread."""
        opts = self.options
        limit_malloc_arenas()  # before any client's threads
        try:
            if opts.bootstrap is None:
                self.broker = EmbeddedBroker(port=opts.broker_port, log_path=opts.broker_log)
                self.bootstrap = self.broker.start()
            self.connection = Connection(
                self.bootstrap, opts.kafka_properties, embedded=self.broker is not None
            )
            count, created = set_up_topics(self.connection, opts.topic, opts.partitions)
            if self.broker is not None or opts.source is not None:
                # Ours (every topic on it), or written to by our producer: made again if
                # the cluster comes back without it, whoever made it (one made by a
                # process gone since was made again by no one, and the producer waited).
                created = {**ticks_topics(opts.topic, count), **created}
            if self.broker is not None and opts.limits_topic:
                created[opts.limits_topic] = 1
            limits = dict(opts.source.limits) if opts.source is not None else {}
            limits.update(opts.limits)
            from_beginning = opts.from_beginning
            if from_beginning is None:
                from_beginning = self.broker is not None
            self.worker = ConsumerWorker(
                self.connection,
                topic=opts.topic,
                config=opts.engine,
                group=opts.group,
                from_beginning=from_beginning,
                limits=limits,
                embedded=self.broker is not None,
                on_signals=opts.on_signals,
                plausibility=plausibility_for(
                    opts.source, opts.max_ahead_s, opts.max_jump, opts.max_behind_s
                ),
                fields=opts.fields,
                evict_idle=opts.evict_idle,
                additive=(*opts.additive, *additive_of(opts.source)),
                remembered=opts.remembered,
                on_share=self._share,
                clock=self._tick_clock,
            )
            if opts.limits_topic:
                # Everyone's current limits are queued before the first tick is read.
                self.shared = SharedLimits(
                    self.connection, to_worker(self.worker), topic=opts.limits_topic
                )
                self.shared.start(catch_up_s=CATCH_UP_S)
            self.worker.start()
            if opts.source is not None:
                # A scenario on standard input tells its limits only once its header line
                # is read, after this start: the producer hands them over then.
                late = None if opts.source.limits else self._late_limits
                self.producer = ProducerThread(
                    self.connection, opts.source, topic=opts.topic, speed=opts.speed,
                    max_gap_s=opts.max_gap_s, on_limits=late, backlog=self._backlog,
                )  # fmt: skip
                self.producer.start()
            budget = opts.broker_memory_mib
            self.keeper = BrokerKeeper(
                self.connection, created, broker=self.broker,
                budget_bytes=int(budget * 2**20) if math.isfinite(budget) else None,
                quiesce=self._quiesce, resume=self._resume,
                compacted=frozenset([opts.limits_topic] if opts.limits_topic else []),
            )  # fmt: skip
            self.keeper.start()
        except BaseException:
            self.stop()
            raise

    def _tick_clock(self) -> float:
        """What the consumer checks event times against: this machine's clock, plus the
        lead our own producer has given its source (a replay or the generator sped up
        with ``--speed`` or ``+`` runs ahead of the clock by design; refused as "future
        time", every tick of it had been dead-lettered from some seconds on)."""
        producer = self.producer
        lead = producer.lead_s if producer is not None else 0.0
        return time.time() + max(0.0, lead)

    def _backlog(self) -> float:
        """How many seconds the consumer is behind (its last lag reading): our producer
        holds its source while that is long (a replay at --speed max outran it for good)."""
        snap = self.worker.latest() if self.worker is not None else None
        parts = snap.kafka.partitions if snap is not None else ()
        return max((p.lag_s for p in parts if p.lag > 0), default=0.0)

    def _late_limits(self, limits: dict[str, tuple[float, float]]) -> None:
        """Apply a source's limits learnt after the start (called in the producer thread,
        before its first tick is sent); limits given with --limit stay."""
        for symbol, (buy, sell) in limits.items():
            if symbol not in self.options.pinned and self.worker is not None:
                self.worker.send(SetLimits(symbol, buy, sell))

    # -- a budget restart of the embedded broker (called in the keeper's thread) ---------
    def _quiesce(self) -> tuple[bool, int]:
        """Pause the producer and wait until its ticks are delivered (at most DRAIN_S) and
        read (while the consumer keeps reading, see DRAIN_MOST_S); whether it was running,
        and the ticks the consumer had still not read (lost with the broker)."""
        producer, worker = self.producer, self.worker
        running = producer is not None and producer.is_alive() and not producer.stats().paused
        start = time.monotonic()
        if producer is not None and running:
            producer.send(SetPaused(True, held=True))
            while not self._stopping.wait(0.05) and time.monotonic() < start + DRAIN_S:
                s = producer.stats()
                if s.paused and s.delivered + s.failed >= s.produced:
                    break
        flushed = time.time()
        unread = 0
        # The lowest lag seen, and when (the first is measured 0.6 s after the flush); the
        # most messages read, and when.
        least, fell = math.inf, time.monotonic() + 0.6
        most, rose = -1, fell
        while worker is not None and not self._stopping.wait(0.05):
            snap = worker.latest()
            now = time.monotonic()
            fresh = snap is not None and snap.wall > flushed + 0.6  # lag measured since
            if fresh:
                lag = snap.kafka.total_lag
                if lag < least:
                    least, fell = lag, now
                if snap.kafka.consumed > most:
                    if most >= 0:
                        rose = now
                    most = snap.kafka.consumed
                parts = snap.kafka.partitions
                if parts and all(p.lag == 0 for p in parts):
                    break
            why = ""
            if now - max(fell, rose) >= DRAIN_STUCK_S:
                why = "it stopped reading"
            elif now - start >= DRAIN_MOST_S:
                why = f"the wait's {DRAIN_MOST_S:.0f} s"
            elif fresh and self._broker_full():  # how far behind measured first
                why = "the broker filled its budget (another producer kept sending)"
            if why:
                unread = int(snap.kafka.total_lag) if snap is not None else 0
                if unread:
                    log.warning(
                        "budget restart: the consumer was still %s ticks behind after %.1f "
                        "s (%s); they are lost with the broker", unread, now - start, why,
                    )  # fmt: skip
                else:
                    log.info("budget restart after %.1f s (%s)", now - start, why)
                break
        if producer is not None:
            producer.send(ForgetSent())  # read already: nothing to send again
        return running, unread

    def _broker_full(self) -> bool:
        """The embedded broker has reached its whole memory budget (the restart starts at
        RESTART_AT of it: the rest is the room for the ticks in flight meanwhile)."""
        budget = self.options.broker_memory_mib
        rss = self.broker.rss_bytes() if self.broker is not None else None
        return rss is not None and math.isfinite(budget) and rss >= budget * 2**20

    def _resume(self, running: bool) -> None:
        """Resume the producer if `_quiesce` paused it; wait (bounded) for ticks to flow."""
        producer, worker = self.producer, self.worker
        if producer is None or not running:
            return
        before = worker.latest() if worker is not None else None
        producer.send(SetPaused(False))
        if worker is None or before is None:
            return
        deadline = time.monotonic() + FLOWING_S
        while not self._stopping.wait(0.05) and time.monotonic() < deadline:
            snap = worker.latest()
            if snap is not None and snap.kafka.consumed > before.kafka.consumed:
                return

    # -- Feed ---------------------------------------------------------------------------
    def latest(self) -> Snapshot | None:
        """The worker's newest snapshot with the producer's and broker's figures added."""
        snap = self.worker.latest() if self.worker is not None else None
        if snap is None:
            return None
        kafka = snap.kafka
        pausing = False
        if self.keeper is not None:
            kept = self.keeper.status()
            pausing = kept.pausing
            kafka = dataclasses.replace(
                kafka, broker_restarts=kept.restarts, broker_lost=kept.lost,
                broker_budget=kept.budget, keeper=kept.state, topics_recreated=kept.recreated,
                broker_gave_up=kept.gave_up,
            )  # fmt: skip
        if self.broker is not None:
            kafka = dataclasses.replace(kafka, broker_rss=self.broker.rss_bytes())
            if not self.broker.alive():
                kafka = dataclasses.replace(kafka, broker_state="DOWN", health="DOWN")
        if pausing:
            kafka = dataclasses.replace(kafka, health="PAUSE")  # held on purpose, for seconds
        failure = self.worker.failure if self.worker is not None else None
        if failure is not None:
            kafka = dataclasses.replace(kafka, health="FAILED")
        return dataclasses.replace(
            snap,
            kafka=kafka,
            producer=self.producer.stats() if self.producer is not None else None,
            source=self.options.source.name if self.options.source is not None else "",
            failure=failure or "",
        )

    def set_limits(self, symbol: str, buy: float | None, sell: float | None) -> None:
        """Forward a limit change to the worker."""
        if self.worker is not None:
            self.worker.send(SetLimits(symbol, buy, sell))

    def share_limits(self, symbol: str, buy: float, sell: float, side: str = "") -> None:
        """Send a user's limits to the limits topic (see :mod:`tui.runtime.shared_limits`):
        both sides as the engine holds them once the change asked before is applied (the
        monitor's `buy` and `sell` may be a moment old on the side it did not change)."""
        if self.worker is not None and self.shared is not None:
            self.worker.send(ShareLimits(symbol, side))

    def _share(self, symbol: str, buy: float, sell: float, side: str) -> None:
        """Called in the worker's thread with what a ShareLimits found."""
        if self.shared is not None:
            self.shared.share(symbol, buy, sell, side)

    def select(self, symbol: str | None) -> None:
        """Forward the chart's symbol to the worker."""
        if self.worker is not None:
            self.worker.send(SelectSymbol(symbol))

    def record(self, path: str | None) -> None:
        """Start recording the ticks read to a scenario at `path`; None stops."""
        if self.worker is not None:
            self.worker.send(StartRecording(path) if path else StopRecording())

    def set_paused(self, paused: bool) -> None:
        """Pause or resume the producer."""
        if self.producer is not None:
            self.producer.send(SetPaused(paused))

    def set_speed(self, speed: float) -> None:
        """Change the producer's replay speed."""
        if self.producer is not None and speed > 0 and not math.isnan(speed):
            self.producer.send(SetSpeed(speed))

    # -- shutdown -------------------------------------------------------------------------
    def stop(self, timeout: float = 2.0) -> bool:
        """Stop producer, worker and broker; True if everything ended within `timeout`."""
        deadline = time.monotonic() + timeout
        self._stopping.set()
        if self.options.source_stop is not None:
            self.options.source_stop.set()
        threads: list[threading.Thread] = []
        if self.shared is not None:  # the user's last limit change delivered first
            self.shared.stop(timeout=min(timeout / 3, 1.0))
            # Its reader may still be closing its clients (after a broker restarted, a
            # full suite under load once found it alive after stop returned True): it
            # is waited for with the others, within the same budget.
            threads.append(self.shared.thread)
        for part in (self.keeper, self.producer, self.worker):
            if part is not None:
                part.stop()
                threads.append(part)
        for thread in threads:
            if thread.is_alive():
                thread.join(max(deadline - time.monotonic() - 0.3, 0.05))
        self.unfinished = [_ROLES.get(t.name, t.name) for t in threads if t.is_alive()]
        ok = not self.unfinished
        if not ok:
            log.warning(
                "threads still running at shutdown: %s", [t.name for t in threads if t.is_alive()]
            )
        if self.broker is not None:
            self.broker.stop(timeout=max(deadline - time.monotonic(), 0.3))
        return ok
