"""The consumer worker: one thread that reads `prices`, feeds the engine and publishes
immutable snapshots.

The thread creates, polls and closes its own Kafka clients. It reads in batches
(`consume(num_messages=...)`), decodes every message with one msgspec decoder into numpy
columns, refuses implausible ticks (an event time far ahead, a price jump; see
:mod:`tui.runtime.plausibility`), copies what it refuses to the dead-letter topic with
the reason in a header, counts it by heading, and never raises on bad input. Limit
changes arrive as small commands on a queue. Lag comes from the fetch high watermark
(cached), never from ListOffsets.

A broker that restarts empty is found and followed: the worker asks the cluster about its
topic every :data:`TOPIC_CHECK_S` (its id and partitions), and once it has lost its broker
it reads nothing until that question is answered, so that a broker that came back empty
is never read from the old positions first. A topic that disappeared,
came back (a new id) or changed its partition count is shown and the partition list read
again, new partitions from their start; a position past a partition's end (the broker lost
what was read) is reset to the partition's start. Ticks a producer sent again after the
restart (marked ``resent``) that are not newer than their symbol's last tick were read
already: they are dropped and counted as duplicates.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import operator
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from engine import Engine, EngineConfig, LimitError, Signal
from engine.calibration import CalibrationRecord
from engine.limits import same_limit
from producer.broker import EMBEDDED_CLUSTER_PREFIX
from producer.control import drain
from producer.fields import Fields
from producer.kafka_config import (
    CONSUMER_SETTINGS,
    KAFKA_LOGGER,
    Connection,
    as_connection,
    client_config,
    redact,
)
from producer.topics import TopicLook
from producer.wire import BadTick, Problem, Tick, decode, decode_batch
from tui.runtime.commands import (
    SelectSymbol,
    SetLimits,
    ShareLimits,
    StartRecording,
    StopRecording,
    WorkerCommand,
)
from tui.runtime.dead_letters import DeadLetters
from tui.runtime.health import STATS_INTERVAL_S, ConsumerHealth, PartitionReading
from tui.runtime.plausibility import RELEVEL_AFTER, Plausibility, TickChecks
from tui.runtime.publish import PositionCommitter
from tui.runtime.rebuild import Span, read_back
from tui.runtime.recorder import Recorder
from tui.runtime.snapshot import STALE_IDLE_S, KafkaStats, Notice, Snapshot, SnapshotSlot

__all__ = [
    "ConsumerWorker",
    "SelectSymbol",
    "SetLimits",
    "StartRecording",
    "StopRecording",
    "WorkerCommand",
]

log = logging.getLogger(__name__)

#: Longest wait for a batch: bounds how late a stop or a key's command is seen.
STOP_CHECK_S = 0.05
#: A recording's ticks are handed to the operating system at least this often (seconds).
RECORD_FLUSH_S = 0.5
#: Signals kept for display.
RECENT_SIGNALS = 500
#: A batch's ticks as columns (symbol, event time, price) and the message of each.
_Decoded = tuple[list[str], list[float], list[float], list[Any]]
# Per message and per tick, in C (map over a list): the batch path makes no Python call
# per message.
_ERROR, _VALUE, _PARTITION = map(operator.methodcaller, ("error", "value", "partition"))
_RESENT, _SYMBOL, _TS, _PRICE = (
    operator.attrgetter(a) for a in ("resent", "symbol", "ts", "price")
)
#: Errors that mean the client has lost its brokers.
_BROKERS_LOST = (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE)
#: While partitions are read again (see :mod:`tui.runtime.rebuild`), how often the
#: worker says how far it got, in seconds.
REBUILD_PROGRESS_S = 5.0
#: How often a partition's committed offset is asked again while none is known and the
#: client has no position of its own there, in seconds.
RESUME_ASK_S = 5.0
#: How often the worker asks the cluster about its topic (id and partitions).
TOPIC_CHECK_S = 1.0
#: Looks at the topic (one a second) in which a group member left with no partitions
#: tries to join the group again once the topic is back (see ConsumerWorker._rejoin).
REJOIN_TRIES = 30
#: Looks to wait for the group's assignment after joining again, before trying again.
REJOIN_WAIT = 5
#: An unanswered question about the topic is dropped (and asked again) after this long.
_TOPIC_ANSWER_S = 5.0


def _runs(partitions: list[int]) -> str:
    """``p0-2,5`` for partitions 0, 1, 2 and 5."""
    runs: list[list[int]] = []
    for p in sorted(partitions):
        if runs and runs[-1][1] == p - 1:
            runs[-1][1] = p
        else:
            runs.append([p, p])
    return "p" + ",".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs)


def _read_to_time(read_up_to: dict[str, list[float]], symbol: str, ts: float) -> None:
    """Count a tick taken as read: its symbol is read up to its time, if that is later,
    and one more tick was read at that time, if it is the same. (Taken once per batch
    from the engine, the times missed the batch's own ticks: a tick and the copy of it
    sent again, in one batch, were both read.)"""
    entry = read_up_to.get(symbol)
    if entry is None or ts > entry[0]:
        read_up_to[symbol] = [ts, 1]
    elif ts == entry[0]:
        entry[1] += 1


#: New ticks only: a message sent this long (ms) before the reader started is still new
#: (clocks of other machines may lag a little).
NEW_SLACK_MS = 1000
#: How long a new-ticks-only reader looks for messages sent before it started, seconds.
NEW_CHECK_S = 30.0
#: Messages refused before any is read that make a fields mapping suspect (a notice).
MAPPING_HINT_AFTER = 100


class OutputError(Exception):
    """The signals could not be handed on (``on_signals`` could not write them): the
    worker stops, its message the reason."""


class ConsumerWorker(threading.Thread):
    """Consumes `topic`, runs the engine, publishes snapshots at most `publish_hz` a second.

    Parameters
    ----------
    bootstrap:
        Kafka bootstrap servers, or a Connection with the user's client properties.
    topic:
        The prices topic.
    config:
        Engine settings.
    group:
        With a consumer group, partitions are shared with the group's other members
        (`subscribe`); without one, this worker reads every partition (`assign`).
    from_beginning:
        Where to start when there is no committed offset.
    limits:
        Initial (buy, sell) limits per symbol.
    on_signals:
        Called in the worker thread with each batch's signals (headless printing).
    plausibility:
        Bounds on event times ahead of the clock and on price jumps (defaults: on).
    fields:
        Where symbol, price and time are in a message of another shape (default:
        limitwatch's own, read by the fast decoder).
    committer:
        With a consumer group, commits the offsets of the ticks handled itself, a
        publisher once what it published for them is delivered; nothing after a failure.
        By default (a monitor in a group) a :class:`PositionCommitter`: librdkafka's
        automatic commits are never used.
    commit_recorded:
        With a group: commit offsets only for messages the recording has handled, once
        its file is flushed (a killed recorder's successor resumes without a gap),
        instead of committing automatically.
    evict_idle:
        When ``max_symbols`` symbols are tracked, a new symbol takes the place of the one
        idle longest (its limits are kept for its return) instead of being refused: a
        flood of names cannot lock out real symbols that come later.
    additive:
        Patterns of symbols whose values are quantities, not prices (see
        :class:`engine.Engine`).
    rebuild:
        With a group: before reading a partition it is handed, read its ticks up to the
        committed offset again, signals dropped, so its symbols' state is what it would
        be had this engine read them all along (see :mod:`tui.runtime.rebuild`).
    on_event:
        Called in the worker thread with an event's name and its fields: ``assigned``,
        ``revoked``, ``lost`` (the group dropped this reader, silent too long) and
        ``rebuilt`` partitions (a headless engine logs them).
    clock:
        Epoch seconds that event times are checked against (at most ``max_ahead_s``
        ahead of it): this machine's clock, unless a producer in the same process runs
        its source ahead of it (see :class:`tui.runtime.pipeline.Pipeline`).
    started_at:
        Epoch seconds the command began: a reader of new ticks only (``from_beginning``
        false) reads those sent since then (default: since the worker starts; it
        starts after the command has loaded and reached the cluster, and ``engine
        --no-from-beginning`` skipped the 1.2 s of ticks sent meanwhile).
    """

    def __init__(
        self,
        bootstrap: Connection | str,
        topic: str = "prices",
        config: EngineConfig | None = None,
        group: str | None = None,
        from_beginning: bool = True,
        limits: dict[str, tuple[float, float]] | None = None,
        embedded: bool = False,
        publish_hz: float = 20.0,
        batch_size: int = 5000,
        on_signals: Callable[[list[Signal]], None] | None = None,
        plausibility: Plausibility | None = None,
        fields: Fields | None = None,
        committer: PositionCommitter | None = None,
        commit_recorded: bool = False,
        evict_idle: bool = True,
        additive: tuple[str, ...] = (),
        remembered: Iterable[str] = (),
        on_share: Callable[[str, float, float, str], None] | None = None,
        rebuild: bool = False,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        clock: Callable[[], float] = time.time,
        started_at: float | None = None,
    ) -> None:
        super().__init__(name="limitwatch-consumer", daemon=True)
        self._clock = clock
        self._started_at = started_at
        self.connection = as_connection(bootstrap)
        self.bootstrap = self.connection.bootstrap
        self.topic = topic
        self.config = config or EngineConfig()
        self.group = group
        self.from_beginning = from_beginning
        self.initial_limits = dict(limits or {})
        #: Of those, the ones remembered from earlier runs: a symbol among them that the
        #: stream does not carry gets no row (its limits wait for its first tick).
        self.remembered = frozenset(remembered)
        #: Called in this thread with a symbol's limits a ShareLimits asks to tell others
        #: (and the side the user set).
        self.on_share = on_share
        self.embedded = embedded
        self.publish_interval = 1.0 / publish_hz
        self.batch_size = batch_size
        self.on_signals = on_signals
        self.rebuild = rebuild and group is not None
        self.on_event = on_event
        #: Partition: the offset after the last message this worker read of it, kept when
        #: it is revoked (a partition handed back is read again only from there).
        self._read_to: dict[int, int] = {}
        #: Ticks read again to rebuild state, and the signals they raised (dropped).
        self.rebuilt = 0
        # partition -> committed offset read from (below 0: none; None: asked, not told)
        self._resume_at: dict[int, int | None] = {}
        self._resume_asked: dict[int, float] = {}  # partition -> when it was last asked
        #: True while partitions are read again (no snapshot is published meanwhile).
        self.rebuilding = False
        #: While they are: (the partitions, ticks read again so far, of how many).
        self.rebuild_progress: tuple[tuple[int, ...], int, int] | None = None
        #: Partition: offset below which its messages were read already (skipped).
        self._skip_to: dict[int, int] = {}
        #: The group's last assignment gave this worker no partition (more members than
        #: partitions): nothing to read until a rebalance.
        self._idle = False
        #: Where the ticks the last _decode_each gave restart a symbol (see
        #: TickChecks.take_restart): (position, symbol), in order.
        self._restarts: list[tuple[int, str]] = []
        self.rebuilt_signals = 0
        if group is not None and committer is None and not commit_recorded:
            # Its own commits, not librdkafka's automatic ones: those went on while the
            # topic was unchecked after a loss of the brokers (see _hold_reads).
            committer = PositionCommitter()
        self.committer = committer if group is not None else None
        self.slot = SnapshotSlot()
        self.closed = threading.Event()
        #: Why the thread stopped on its own (None: it did not): the reason a caller
        #: shows, its traceback in the log.
        self.failure: str | None = None
        self._failed = False  # stopping after a failure: nothing more is committed
        self._stop_event = threading.Event()
        self._commands: queue.SimpleQueue[WorkerCommand] = queue.SimpleQueue()
        # Owned by the thread once it runs; created here so every attribute has a home.
        self.engine = Engine(self.config, evict_idle=evict_idle, additive=additive)
        self.health = ConsumerHealth(time.monotonic())
        self.recorder = Recorder(self._notice)
        # A quantity's value may be 0 or below (see engine.Engine's additive symbols).
        self._quantity = self.engine.is_additive if additive else None
        self._mapped = None if fields is None or fields.own else fields.decoder(self._quantity)
        #: The mapping's words, until a hint that it fits no message was given (see _refuse).
        self._mapping_hint = None if self._mapped is None or fields is None else fields.spec()
        self.checks = TickChecks(
            plausibility or Plausibility(), self.config.max_symbols, self._quantity
        )
        self._dead_letters: DeadLetters | None = None
        self._parts: list[TopicPartition] = []
        self._chart_symbol: str | None = None
        self._notices: deque[Notice] = deque(maxlen=20)
        self._notice_seq = 0
        self._recent: deque[Signal] = deque(maxlen=RECENT_SIGNALS)
        self._signal_count = 0
        self._consumed = 0
        self._bad: Counter[Problem] = Counter()
        self._errors = 0
        self._last_error = ""
        self._last_tick_wall = math.nan
        self._rate_window: deque[tuple[float, int]] = deque(maxlen=64)
        self._seq = 0
        self._start = OFFSET_BEGINNING if from_beginning else OFFSET_END
        self._topics: TopicLook | None = None  # the topic as the cluster has it now
        self._topic_id: str | None = None  # the topic's id when last seen
        #: Partitions this worker read before their topic was created again (the broker
        #: came back empty) while another member held them: what the engine holds of
        #: their symbols is older than anything left to read again.
        self._outdated: set[int] = set()
        #: The partitions this worker held when it lost its brokers, until the topic is
        #: seen again: only their state goes on into a topic created again.
        self._held_at_loss: set[int] | None = None
        #: The partitions the group took from this worker for its silence (on_lost) since
        #: it was last assigned any: a broker frozen past the session timeout, then
        #: killed, dropped the worker before the loss of its brokers was known, and
        #: they count as held at the loss (else the state of them started afresh).
        self._dropped: set[int] = set()
        self._topic_missing = False
        self._past_end: set[int] = set()  # partitions seen read past their end once
        self._reset_due: set[int] = set()  # read past their end: reset unless all is
        #: The broker was lost: reading waits until the topic is checked, so that a broker
        #: that came back empty is not read from the old positions first, and a group's
        #: positions are not committed: a position in the lost topic, committed to the
        #: new one, sent the group's next reader past the new topic's first ticks.
        self._hold_reads = False
        self._held = False
        self._recovery = ""
        self._duplicates = 0
        #: Per symbol, of the resent ticks stamped at its latest time: that time, the
        #: producer's round they came in and how many came (see _read_already); kept
        #: across batches.
        self._resent_at: dict[str, tuple[float, int, int]] = {}
        #: Per symbol, the ticks first sent (not copies) that the checks refused at its
        #: latest time read: that time and how many. Copies of them are matched as read
        #: (see _latest_read), as the engine never counted them.
        self._refused_at: dict[str, tuple[float, int]] = {}
        self._commit_recorded = commit_recorded and group is not None
        self._handled: dict[int, int] = {}  # partition: last offset the recording handled
        #: Subscribes a consumer to the topic in the group, with this worker's callbacks.
        self._subscribe: Callable[[Consumer], None] | None = None
        self._rejoins_left = 0  # looks left to join the group again (see _rejoin)
        self._rejoin_wait = 0  # looks left to wait for an assignment after joining
        #: The topic was created again while this worker ran: all of it came after the
        #: worker started, so partitions the group hands it with no offset committed
        #: since are read from their start, not from their end (see on_assign). Kept for
        #: good: the group may hand them over more than once before anything is committed.
        self._renewed = False
        self._started_ms = 0  # when run() began, epoch ms (see _from_now_unless_committed)
        #: New ticks only: messages sent before this (epoch ms) are old, skipped while
        #: the read starts (see _since_start); None once it has.
        self._new_from_ms: int | None = None
        self._new_until = 0.0  # monotonic time the check of the start ends
        #: The partitions started at their end (nothing committed) still checked: until
        #: each gives a message sent since the start.
        self._from_end: set[int] = set()
        self.before_start = 0  # messages skipped as sent before the start
        #: Wall time each symbol (by engine id) last had a tick: its forecast's freshness.
        self._fresh_at = np.full(self.config.max_symbols, np.nan)

    # -- the outside world talks to the thread only through these -------------------------
    def stop(self) -> None:
        """Ask the thread to close its clients and end; returns at once."""
        self._stop_event.set()

    def send(self, command: WorkerCommand) -> None:
        """Queue a command for the worker."""
        self._commands.put(command)

    def latest(self) -> Snapshot | None:
        """The newest published snapshot."""
        return self.slot.get()

    @property
    def recorded(self) -> int:
        """Ticks written to the current recording (0 when not recording)."""
        return self.recorder.count

    # -- inside the thread ----------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:
            log.exception("the consumer worker failed")
            self.failure = str(exc) if isinstance(exc, OutputError) else f"{exc!r}"
        finally:
            self.closed.set()

    def _run(self) -> None:
        # "new ticks only": those sent since the command began (or from now)
        started = time.time() if self._started_at is None else min(self._started_at, time.time())
        self._started_ms = int(started * 1000)
        for symbol, (buy, sell) in self.initial_limits.items():
            self._apply(SetLimits(symbol, buy, sell, register=symbol not in self.remembered))
        conf = client_config(
            self.connection,
            **{
                "group.id": self.group or f"limitwatch-monitor-{id(self):x}",
                "enable.auto.commit": False,  # see committer
                "auto.offset.reset": "earliest" if self.from_beginning else "latest",
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 1000,
                "statistics.interval.ms": int(STATS_INTERVAL_S * 1000),
                "stats_cb": self._on_stats,
                "error_cb": self._on_error,
                "on_commit": self._on_commit,
                **CONSUMER_SETTINGS,
                "enable.partition.eof": False,
                "allow.auto.create.topics": False,
                # A group sees a topic's new partitions within seconds, not minutes.
                "topic.metadata.refresh.interval.ms": 5000,
            },
        )
        consumer = Consumer(conf)
        dlq = Producer(
            client_config(
                self.connection,
                **{
                    "linger.ms": 50,
                    "error_cb": self._on_error,
                    "allow.auto.create.topics": False,
                },
            )
        )
        self._topics = TopicLook(
            AdminClient(client_config(self.connection)),
            TOPIC_CHECK_S, answer_s=_TOPIC_ANSWER_S, lost_s=_TOPIC_ANSWER_S + 1, asked=0.0,
        )  # fmt: skip
        self._dead_letters = DeadLetters(dlq, self.topic, self._note_error)
        failed = True
        try:
            self._attach(consumer)
            self._drain_commands()  # e.g. a recording asked for before the first tick
            self._loop(consumer, dlq)
            failed = False
        finally:
            try:
                if self.recorder.active:
                    self.recorder.stop()
                self._dead_letters.say_left_out(end=True)
                dlq.flush(1.0)
                self._failed = failed
                # The last counts, for whoever reads them after the stop: a recording's
                # closing notice, and what a headless command says it refused (a message
                # read in the batch that ended it was in no snapshot).
                try:
                    self._publish()
                except Exception:
                    if not failed:
                        raise
                    # (the reading failed already: its own error is the one said)
                if self.committer is not None:
                    # Stopped by a failure (the signals could not be written, say), the
                    # positions read lie past signals never sent: nothing is committed,
                    # and the next run reads them again (they had been committed, and lost).
                    self.committer.close(consumer, commit=not failed and not self._hold_reads)
            finally:  # whatever the above ran into (see producer.topics on admin clients)
                self._topics.close()
                consumer.close()

    def _attach(self, consumer: Consumer) -> None:
        if not self.from_beginning and self._embedded_broker(consumer):
            # Its answer to where a partition ends can be short (see _since_start).
            self._new_from_ms = self._started_ms - NEW_SLACK_MS
            self._new_until = time.monotonic() + NEW_CHECK_S
        if self.group is not None:

            def on_assign(_c: Consumer, parts: list[TopicPartition]) -> None:
                self._event("assigned", partitions=sorted(p.partition for p in parts))
                self._dropped.clear()
                self._idle = not parts  # the group's other members hold them all
                assigned = False  # here, with offsets of its own
                if self._renewed and parts:
                    parts = self._from_start_unless_committed(_c, parts)
                    _c.assign(parts)
                    assigned = True
                elif not self.from_beginning and parts:
                    parts = self._from_now_unless_committed(_c, parts)
                    _c.assign(parts)
                    assigned = True
                outdated = self._outdated & {p.partition for p in parts}
                if outdated:
                    self._outdated -= outdated
                    self._afresh(outdated, "its topic was created again since")
                if self.rebuild and parts:
                    self.rebuilding = True
                    try:
                        self._rebuild(_c, parts)
                    except Exception as exc:  # never out of librdkafka's callback
                        log.exception("rebuild failed")
                        self._note_error(f"rebuild failed ({exc}); reading on from committed")
                    finally:
                        self.rebuilding = False
                        self.rebuild_progress = None
                self._parts = list(parts)
                if parts:
                    if not assigned:  # as librdkafka does after this callback otherwise
                        _c.assign(parts)
                    # librdkafka keeps a partition paused through its hand-overs: one
                    # handed back while reading was held stayed paused for good.
                    self._pause_as_held(_c, parts)

            def on_revoke(_c: Consumer, parts: list[TopicPartition]) -> None:
                # The next owner starts after our output (not after a batch whose
                # handling failed: this worker's close revokes all it has then).
                # Nothing while the topic is unchecked since a loss of the brokers (see
                # _hold_reads): the positions may be the lost topic's.
                if self.committer is not None and not self._failed and not self._hold_reads:
                    self.committer.commit(_c, force=True)
                if self._handled and not self._hold_reads:  # after what the recording holds
                    self._commit_handled(_c, wait=True)
                let_go(_c, parts, "revoked")

            def on_lost(_c: Consumer, parts: list[TopicPartition]) -> None:
                # Dropped by the group (silent past session.timeout.ms: stopped, frozen
                # or cut off): the partitions are another member's already, so nothing
                # is committed, and it is said, as a revoke is (it was said in the log
                # alone, as librdkafka's SESSTMOUT).
                log.warning(
                    "the group dropped this reader (no heartbeat within session.timeout.ms, "
                    "or no poll within max.poll.interval.ms); "
                    "it joins again, its partitions %s may have been read by another member",
                    sorted(p.partition for p in parts),
                )
                self._dropped |= {p.partition for p in parts}
                let_go(_c, parts, "lost")

            def let_go(_c: Consumer, parts: list[TopicPartition], event: str) -> None:
                if self.rebuild and parts:
                    try:
                        for tp in _c.position(parts):  # invalid: nothing read since assigned
                            if tp.offset > self._read_to.get(tp.partition, -1):
                                self._read_to[tp.partition] = tp.offset
                    except KafkaException as exc:
                        log.info("positions of revoked partitions unknown: %s", exc)
                self._event(event, partitions=sorted(p.partition for p in parts))
                gone = {(p.topic, p.partition) for p in parts}
                self._parts = [p for p in self._parts if (p.topic, p.partition) not in gone]
                # Their lag is no longer this worker's to show (the status line went on
                # naming them after event=revoked)
                lost = {p.partition for p in parts}
                self.health.partitions = tuple(
                    p for p in self.health.partitions if p.partition not in lost
                )
                self._from_end -= lost  # handed back later, they start at a commit
                for p in lost:  # where another member leaves them is asked afresh
                    self._resume_at.pop(p, None)
                    self._resume_asked.pop(p, None)

            self._subscribe = lambda c: c.subscribe(
                [self.topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost
            )
            self._subscribe(consumer)
            return
        while not self._stop_event.is_set():
            try:
                meta = consumer.list_topics(self.topic, timeout=1.0)
                partitions = sorted(meta.topics[self.topic].partitions)
            except Exception as exc:  # broker not reachable yet
                self._note_error(f"waiting for topic {self.topic}: {exc}")
                self._publish()
                continue
            if partitions:
                self.health.fetch_answered()
                break
        else:
            return
        self._parts = [TopicPartition(self.topic, p, self._start) for p in partitions]
        if self._new_from_ms is not None:  # new ticks only, on an embedded broker
            self._from_end = set(partitions)
        consumer.assign(self._parts)

    def _rebuild(self, consumer: Consumer, parts: list[TopicPartition]) -> None:
        """Read the ticks of the partitions handed to this worker again, from where it
        last read each (its first retained offset if never) to the group's committed
        offset, signals dropped. Of a partition this worker read further than the
        committed offset, what it read already is skipped when it arrives again."""
        started, dropped_before = time.monotonic(), self.rebuilt_signals
        try:
            committed = consumer.committed(parts, timeout=10.0)
        except KafkaException as exc:
            self._note_error(f"rebuild: committed offsets unknown ({exc}); starting cold")
            return
        spans: list[Span] = []
        ahead: dict[int, int] = {}
        for tp in committed:
            if tp.error is not None or tp.offset < 0:
                continue  # nothing committed: nothing was read before
            # Where reading resumes: the lag until the client has a position of its own
            # (it has none before its first message, for as long as nothing new comes).
            self._resume_at[tp.partition] = tp.offset
            p, was = tp.partition, self._read_to.get(tp.partition)
            try:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(self.topic, p), timeout=5.0, cached=False
                )
            except KafkaException as exc:
                self._note_error(f"rebuild: partition {p}'s offsets unknown ({exc})")
                continue
            if was is not None and not low <= was <= max(high, tp.offset):
                was = None  # offsets of a partition that is no more (the topic is new)
                self._afresh({p}, "the broker lost what it had read there")
            if was is not None and was >= tp.offset:
                if was > tp.offset:
                    ahead[p] = was
                continue
            spans.append(Span(p, low if was is None else was, tp.offset))
        total, read, said_at = sum(s.size for s in spans), 0, time.monotonic()
        given = tuple(sorted(tp.partition for tp in parts))
        self.rebuild_progress = (given, 0, total)

        def rebuild_from(msgs: list[Message]) -> None:
            nonlocal read, said_at
            self._ingest(msgs, replay=True)
            read += len(msgs)
            self.rebuild_progress = (given, read, total)
            if time.monotonic() - said_at >= REBUILD_PROGRESS_S:  # long work shows progress
                said_at = time.monotonic()
                self._event("rebuilding", ticks=read, of=total)

        done = read_back(
            self.connection, self.topic, spans, rebuild_from, self._stop_event.is_set,
            batch_size=self.batch_size,
        )  # fmt: skip
        for span in spans:  # what this worker has read of each, should it be revoked unread
            at = done.short.get(span.partition, span.end)
            self._read_to[span.partition] = at
            if at < span.end:
                self._note_error(
                    f"rebuild: partition {span.partition} read again only to offset {at:,} "
                    f"of {span.end:,}; its symbols' state starts from what was read"
                )
        self._skip_to.update(ahead)
        if spans or ahead:
            said: dict[str, Any] = {
                "partitions": sorted(s.partition for s in spans),
                "ticks": done.messages,
                "signals_dropped": self.rebuilt_signals - dropped_before,
                "seconds": round(time.monotonic() - started, 3),
            }
            if ahead:  # read further than committed: what it read is not read again
                said["read_already"] = {str(p): at for p, at in sorted(ahead.items())}
            self._event("rebuilt", **said)

    def _tracks(self) -> dict[int, CalibrationRecord]:
        """Each partition's track record, where the engine calibrates more than one."""
        streams = self.engine.streams
        if len(streams) < 2:
            return {}
        return {k: self.engine.track_record(k) for k in streams}

    def _event(self, name: str, **fields: Any) -> None:
        if self.on_event is not None:
            self.on_event(name, fields)

    def _next_batch(self, consumer: Consumer) -> list[Message]:
        """The messages ready now, at most ``batch_size``, once at least one is (waiting
        at most :data:`STOP_CHECK_S`). librdkafka's batch call waits for a full batch or
        its timeout, so below 100,000 ticks/s every tick waited up to 50 ms for the rest
        of a batch that was not coming: the median latency from send to signal was 26-60
        ms above a plain consumer's; taken as ready, within 5 ms of it at 1,000 ticks/s
        (``tests/bench/bench_latency.py``). A worker that falls behind still gets full
        batches: its client has them ready."""
        first = consumer.consume(num_messages=1, timeout=STOP_CHECK_S)
        if not first or self.batch_size == 1:
            return first
        return first + consumer.consume(num_messages=self.batch_size - 1, timeout=0)

    def _loop(self, consumer: Consumer, dlq: Producer) -> None:
        last_publish = 0.0
        last_lag = 0.0
        last_flush = 0.0
        dirty = True
        while not self._stop_event.is_set():
            msgs = self._next_batch(consumer)
            if self._hold_reads and not self._held:
                self._hold(consumer)
            if self._drain_commands():
                # Someone is waiting to see a key's effect: show it before the batch.
                self._publish()
                last_publish = time.monotonic()
            if msgs:
                self._ingest(msgs)
                dirty = True
                if self._handled and not self._hold_reads:
                    self._commit_handled(consumer)
            if self.committer is not None and not self._hold_reads:
                self.committer.commit(consumer)
            if self._drain_commands():
                last_publish = 0.0  # publish at once: someone is waiting to see it
                dirty = True
            dlq.poll(0)
            now = time.monotonic()
            if self.recorder.active and now - last_flush >= RECORD_FLUSH_S:
                # Committed readings flush with each commit; the others (no --group, the
                # monitor's) would hold ticks counted as recorded in a buffer until the
                # recording stopped: out of `tail -f`, and lost to a kill.
                last_flush = now
                self.recorder.flush()
            if now - last_lag >= 0.5:
                last_lag = now
                self._measure_lag(consumer)
                assert self._dead_letters is not None
                self._dead_letters.say_left_out()
                dirty = True
            if self._watch_topic(consumer, now):
                dirty = True
            if dirty and now - last_publish >= self.publish_interval:
                last_publish = now
                dirty = False
                self._publish()

    def _ingest(self, msgs: list[Any], replay: bool = False) -> None:
        """Decode, check and hand `msgs` to the engine. A `replay` (the rebuild of a
        partition's past) only rebuilds state: it records nothing, sends nothing to the
        dead-letter topic (the first reader did), and drops the signals."""
        if self._skip_to and not replay:
            msgs = self._not_read_yet(msgs)
        if self._from_end and not replay:
            msgs = self._since_start(msgs)
        wall = time.time()
        now = self._clock()  # what event times are checked against
        self.health.fetch_answered()
        recording = self.recorder.active and not replay
        got = None
        if self._mapped is None and not recording:  # the usual batch: all at once
            got = self._decode_batch(msgs, wall, now, replay)
        if got is None:
            got = self._decode_each(msgs, wall, now, replay, recording)
        symbols, times, prices, taken = got
        if not symbols:
            return
        if not replay:  # ticks read again are not news
            self._last_tick_wall = wall
        restarts, self._restarts = self._restarts, []
        start = 0
        for at, symbol in restarts:  # the ticks before, then the symbol afresh
            cut = slice(start, at)
            self._feed(symbols[cut], times[cut], prices[cut], taken[cut], replay, wall)
            if self.engine.restart(symbol):
                log.warning(
                    "%s started afresh at event time %.3f: its ticks came %g s or more "
                    "behind a time it had been given, %d in a row", symbol, times[at],
                    self.checks.rules.max_behind_s, RELEVEL_AFTER,
                )  # fmt: skip
            start = at
        cut = slice(start, None)
        self._feed(symbols[cut], times[cut], prices[cut], taken[cut], replay, wall)

    def _feed(
        self,
        symbols: list[str],
        times: list[float],
        prices: list[float],
        taken: list[Any],
        replay: bool,
        wall: float,
    ) -> None:
        """Register decoded ticks with the engine and update it (see :meth:`_ingest`)."""
        if not symbols:
            return
        # Each symbol's forecasts are calibrated on its partition's record alone, so any
        # engine reading a partition reports the same p (see engine.core, "Streams").
        streams = list(map(_PARTITION, taken))
        ids = np.asarray(self.engine.register(symbols, stream=streams), dtype=np.int32)
        evicted = self.engine.take_evicted()
        if evicted:
            self._forget(evicted)
        refused = np.flatnonzero(ids < 0)
        if replay:
            self.rebuilt += len(symbols) - refused.size
        else:
            for i in refused.tolist():  # the engine tracks max_symbols already: skipped
                self._refuse(taken[i], self._symbol_refused(symbols[i]))
            self._consumed += len(symbols) - refused.size
            self._fresh_at[ids[ids >= 0]] = wall
        t = np.asarray(times, dtype=np.float64)
        price = np.asarray(prices, dtype=np.float64)
        signals = self.engine.update(ids, t, price)
        if replay:
            self.rebuilt_signals += len(signals)  # published when first read
        elif signals:
            self._recent.extend(signals)
            self._signal_count += len(signals)
            if self.on_signals is not None:
                self.on_signals(signals)

    def _decode_batch(
        self, msgs: list[Any], wall: float, now: float, replay: bool
    ) -> _Decoded | None:
        """The ticks of ``msgs`` when every message is a plain, plausible tick of
        limitwatch's own shape (the usual batch): decoded in one call and checked on whole
        columns. None when any is not (an error, a bad or refused message, a tick sent
        again, a quantity): then :meth:`_decode_each` says which and why. Both give the
        same ticks, and the same state after."""
        if self._quantity is not None:
            return None
        # By identity: a KafkaError compared with None by == raises.
        if any(map(operator.is_not, map(_ERROR, msgs), itertools.repeat(None))):
            return None
        ticks = decode_batch(list(map(_VALUE, msgs)))
        if ticks is None or any(map(_RESENT, ticks)):
            return None
        symbols = list(map(_SYMBOL, ticks))
        times = list(map(_TS, ticks))
        prices = list(map(_PRICE, ticks))
        if not self.checks.accept_all(symbols, times, prices, now):
            return None
        if not replay and msgs:  # each partition's latest message, as one by one
            latest = dict(zip(map(_PARTITION, msgs), msgs, strict=True))
            for partition, msg in latest.items():
                _kind, created_ms = msg.timestamp()
                self.health.message_seen(partition, created_ms / 1000.0 if created_ms > 0 else wall)
        return symbols, times, prices, list(msgs)

    def _decode_each(
        self, msgs: list[Any], wall: float, now: float, replay: bool, recording: bool
    ) -> _Decoded:
        """The ticks of ``msgs`` decoded and checked one message at a time (event times
        against ``now``); a bad or refused one is counted (and dead-lettered unless
        ``replay``), a good one recorded when ``recording``."""
        symbols: list[str] = []
        times: list[float] = []
        prices: list[float] = []
        taken: list[Any] = []  # the message of each tick, for a symbol the engine refuses
        mapped = self._mapped  # None: limitwatch's own shape, the fast decoder
        quantity = self._quantity
        # Per symbol the engine's latest event time and how many ticks it read at it.
        read_up_to: dict[str, list[float]] | None = None
        handled = self._handled if self._commit_recorded and not replay else None
        for msg in msgs:
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    self._note_error(f"consume: {err}")
                continue
            if recording and handled is not None:  # written, refused or dropped below
                handled[msg.partition()] = msg.offset()
            try:
                tick = decode(msg.value(), quantity) if mapped is None else mapped(msg)
            except BadTick as exc:
                if not replay:
                    self._refuse(msg, exc)
                continue
            # A retry (its first sending timed out, never confirmed) is read: newer ticks
            # of its symbol may have come first, and by time it looked read already.
            if tick.resent and not tick.retry:
                if read_up_to is None:
                    read_up_to = self._read_so_far(symbols, times)
                if self._read_already(tick, read_up_to):
                    continue
            refusal = self.checks.refusal(tick, now)
            if refusal is not None:
                if not replay:
                    self._refuse(msg, refusal)
                    if not tick.resent:
                        if read_up_to is None:
                            read_up_to = self._read_so_far(symbols, times)
                        self._count_refused(tick, read_up_to)
                continue
            restart = self.checks.take_restart()
            if restart is not None:
                self._restarts.append((len(symbols), restart))
            symbols.append(tick.symbol)
            times.append(tick.ts)
            prices.append(tick.price)
            taken.append(msg)
            if read_up_to is not None:  # a copy of this tick later in the batch is read too
                self._count_read(read_up_to, tick.symbol, tick.ts)
            if recording:
                self.recorder.write(Tick(tick.symbol, tick.price, tick.ts) if tick.resent else tick)
                recording = self.recorder.active
            if not replay:
                _kind, created_ms = msg.timestamp()
                self.health.message_seen(
                    msg.partition(), created_ms / 1000.0 if created_ms > 0 else wall
                )
        return symbols, times, prices, taken

    @staticmethod
    def _embedded_broker(consumer: Consumer) -> bool:
        """Whether the cluster is an embedded broker of limitwatch's (by the cluster id it
        was started with); False where that cannot be told within a second or two."""
        try:
            cluster = consumer.list_topics(timeout=2.0).cluster_id or ""
        except KafkaException:
            return False
        return cluster.startswith(EMBEDDED_CLUSTER_PREFIX)

    def _since_start(self, msgs: list[Any]) -> list[Any]:
        """`msgs` less those sent before this worker started, of each partition until it
        gives one sent since (for NEW_CHECK_S at most): the new ticks only, on an embedded
        broker. Its answer to "where does the partition end" can be short (Tansu's is the
        first offset of its newest batch plus one: a recording of new ticks only held
        1,597 ticks sent before it started, and the group's reset to the end does the
        same). Only there: elsewhere the end is right, and a topic whose producers stamp
        each message with its tick's own time would lose its first seconds."""
        if time.monotonic() > self._new_until or self._new_from_ms is None:
            self._from_end.clear()
            return msgs
        start, checked = self._new_from_ms, self._from_end
        kept = []
        for m in msgs:
            p = m.partition()
            if p in checked and m.error() is None:
                kind, ms = m.timestamp()
                if kind != TIMESTAMP_NOT_AVAILABLE and ms < start:
                    continue
                checked.discard(p)
            kept.append(m)
        skipped = len(msgs) - len(kept)
        if skipped:
            self.before_start += skipped
            log.info("%d messages sent before this reader started skipped", skipped)
        return kept

    def _not_read_yet(self, msgs: list[Any]) -> list[Any]:
        """`msgs` less those this worker read before its partition was revoked (a
        partition handed back at a committed offset behind what it had read)."""
        skip = self._skip_to
        kept = [m for m in msgs if m.offset() >= skip.get(m.partition(), -1)]
        for m in kept:  # a partition read past the point is done with
            if skip.pop(m.partition(), None) is not None and not skip:
                break
        return kept

    def _afresh(self, partitions: set[int], why: str) -> None:
        """Start every symbol of ``partitions`` afresh, as an engine that never read them
        would (:meth:`engine.Engine.restart` ``fresh``): the state this worker kept of
        them since it last read them is of ticks that are gone, and another reader has
        sent their signals since. (An engine given back partitions it had read 13
        minutes before, after the broker came back empty, fired a SELL of a limit
        crossed then at the price now, 33 % beyond it, and crossings the other engine
        had just sent.)"""
        for p in sorted(partitions):
            symbols = self.engine.start_afresh(p)
            if not symbols:
                continue
            self._forget(symbols)
            log.warning("partition %d: its %d symbols start afresh (%s)", p, len(symbols), why)
            self._event("afresh", partition=p, symbols=len(symbols))

    def _forget(self, evicted: list[tuple[int, str]]) -> None:
        """Drop what is kept per id and per symbol for symbols the engine evicted."""
        ids = [sid for sid, _ in evicted]
        self._fresh_at[ids] = np.nan
        self.checks.forget(name for _, name in evicted)
        for _, name in evicted:
            self._refused_at.pop(name, None)
            self._resent_at.pop(name, None)

    def _commit_handled(self, consumer: Consumer, wait: bool = False) -> None:
        """Commit the offsets the recording has handled, once its file is flushed; after a
        failed write nothing is committed (those ticks are read again by the next run).
        Waits for the broker only at a hand-over (``wait``; a frozen one would hold the
        worker): otherwise the answer comes to :meth:`_on_commit`."""
        handled, self._handled = self._handled, {}
        if not self.recorder.flush():
            return
        offsets = [TopicPartition(self.topic, p, offset + 1) for p, offset in handled.items()]
        try:
            consumer.commit(offsets=offsets, asynchronous=not wait)
        except KafkaException as exc:
            self._note_error(f"commit: {exc}")

    def _on_commit(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """The answer to an asynchronous commit, served in this thread by consume()."""
        if self.committer is not None:
            self.committer.committed(err, partitions)
        elif self._commit_recorded and err is not None and err.code() != KafkaError._NO_OFFSET:
            self._note_error(f"commit: {err.str()}")  # librdkafka's own commits: its log

    def _latest_read(self) -> dict[str, list[float]]:
        """Per symbol the engine's latest event time and how many ticks it read at it;
        the resent ticks matched at a time that is no longer a symbol's latest are
        forgotten."""
        names, t_last, n_last = self.engine.latest_times()
        read = {
            name: [t, n]
            for name, t, n in zip(names, t_last.tolist(), n_last.tolist(), strict=True)
            if n
        }
        for name, (t, _round, _matched) in list(self._resent_at.items()):
            if read.get(name, (math.nan,))[0] != t:
                del self._resent_at[name]
        for name, (t, refused) in list(self._refused_at.items()):
            entry = read.get(name)
            if entry is not None and entry[0] == t:
                entry[1] += refused
            elif entry is not None and entry[0] > t:
                del self._refused_at[name]  # copies of ticks older than the latest: read
        return read

    def _read_so_far(self, symbols: list[str], times: list[float]) -> dict[str, list[float]]:
        """:meth:`_latest_read` with the ticks of the batch taken so far counted."""
        read_up_to = self._latest_read()
        for symbol, ts in zip(symbols, times, strict=True):
            self._count_read(read_up_to, symbol, ts)
        return read_up_to

    def _count_read(self, read_up_to: dict[str, list[float]], symbol: str, ts: float) -> None:
        """:func:`_read_to_time`, with the ticks refused at a time the symbol's latest
        time read moves to counted as read there (see :meth:`_count_refused`)."""
        entry = read_up_to.get(symbol)
        _read_to_time(read_up_to, symbol, ts)
        refused = self._refused_at.get(symbol)
        if refused is not None and refused[0] == ts and (entry is None or ts > entry[0]):
            read_up_to[symbol][1] += refused[1]

    def _count_refused(self, tick: Tick, read_up_to: dict[str, list[float]]) -> None:
        """Count a tick first sent (not a copy) that the checks refused (a price jump,
        say), if it is stamped at or after its symbol's latest time read (a symbol read
        before): where ticks at its time are read, its copy, if the producer sends it
        again, takes the place of one of them. (Not counted, the engine's count at that
        time was one short, and the copy of a tick read there was read twice.) It does
        not move the time read on."""
        entry = read_up_to.get(tick.symbol)
        # Of a symbol never read, nothing is kept (a flood of new names refused, each
        # kept, would grow without bound); a copy of it is refused again.
        if entry is None or tick.ts < entry[0]:
            return  # a copy of one older than the latest read is taken as read
        if tick.ts == entry[0]:
            entry[1] += 1
        t, refused = self._refused_at.get(tick.symbol, (tick.ts, 0))
        self._refused_at[tick.symbol] = (tick.ts, refused + 1 if t == tick.ts else 1)

    def _read_already(self, tick: Tick, read_up_to: dict[str, list[float]]) -> bool:
        """Whether a tick sent again after a broker restart was read before: a producer
        sends its ticks again, in their order, before new ones, so one older than its
        symbol's latest tick read was read already, and of those stamped with that very
        time, as many as were read there, counted afresh in each of the producer's
        rounds (two outages within its resend window send the first round's copies
        again). (Any tick at that time was taken as read: a source stamped to the second
        lost the ticks of the second the reader had reached, all but those read before
        the restart.)"""
        entry = read_up_to.get(tick.symbol)
        if entry is None or tick.ts > entry[0]:
            # Read: the first of its round at its time.
            self._resent_at[tick.symbol] = (tick.ts, tick.round, 1)
            return False
        if tick.ts == entry[0]:
            at, round_, matched = self._resent_at.get(tick.symbol, (tick.ts, tick.round, 0))
            if at != tick.ts or round_ != tick.round:
                matched = 0  # a round of its own: its copies match the ticks read anew
            self._resent_at[tick.symbol] = (tick.ts, tick.round, matched + 1)
            if matched >= entry[1]:
                return False  # one more than were read at that time: not read yet
        self._duplicates += 1
        return True

    def _symbol_refused(self, symbol: str) -> BadTick:
        return BadTick(
            f"symbol {symbol!r} refused: {self.config.max_symbols:,} symbols are tracked "
            "already (max_symbols)",
            Problem.REFUSED_SYMBOL,
        )

    def _refuse(self, msg: Any, bad: BadTick) -> None:
        self._bad[bad.problem] += 1
        self.health.refused(time.monotonic())
        if self._mapping_hint is not None and self._consumed == 0:
            refused = sum(self._bad.values())
            if refused >= MAPPING_HINT_AFTER:
                # A mapping that fits no message: each was counted and dead-lettered,
                # with nothing that said why all of them were.
                self._notice(
                    f"none of the first {refused:,} messages on {self.topic} fit the fields "
                    f"mapping {self._mapping_hint} (this one: {bad}): check the field names "
                    "and the time's unit against a message of the topic (--fields, or "
                    "[topic] fields in the settings file)",
                    error=True,
                )
                self._mapping_hint = None
        elif self._consumed:
            self._mapping_hint = None  # it fits some
        assert self._dead_letters is not None
        self._dead_letters.send(msg, bad)

    def _drain_commands(self) -> bool:
        return drain(self._commands, self._apply)

    def _apply(self, cmd: WorkerCommand) -> None:
        if isinstance(cmd, SelectSymbol):
            self._chart_symbol = cmd.symbol
        elif isinstance(cmd, StartRecording):
            self.recorder.start(
                cmd.path,
                cmd.description or f"recorded from the live {self.topic} topic",
                self.engine.state(),
                self.config,
                made_by=f"limitwatch record from {self.bootstrap} topic {self.topic}",
                max_ticks=cmd.max_ticks,
                additive=self.engine.additive,
                waiting=self.engine.waiting_limits(),
            )
        elif isinstance(cmd, StopRecording):
            self.recorder.stop()
        elif isinstance(cmd, ShareLimits):
            try:
                buy, sell = self.engine.limits(cmd.symbol)
            except KeyError:
                return  # not tracked (the change was refused, or it was evicted)
            if self.on_share is not None:
                self.on_share(cmd.symbol, buy, sell, cmd.side)
        else:
            buy, sell = cmd.buy, cmd.sell
            if cmd.side:  # the other side is the same decision's: set only if it differs
                try:
                    held = self.engine.limits(cmd.symbol)
                except KeyError:
                    held = None
                if held is not None and cmd.side == "buy" and same_limit(sell, held[1]):
                    sell = None
                elif held is not None and cmd.side == "sell" and same_limit(buy, held[0]):
                    buy = None
            try:
                self.engine.set_limits(cmd.symbol, buy, sell, register=cmd.register)
            except LimitError as exc:
                # Limits remembered or set elsewhere (not registering) are news, not an
                # error of this process: a headless engine does not exit 1 for them.
                self._notice(str(exc), error=cmd.register)
            else:
                self.recorder.limits_changed(cmd.symbol)

    def _notice(self, text: str, error: bool = False) -> None:
        self._notice_seq += 1
        self._notices.append(Notice(self._notice_seq, redact(text), error))

    def _note_error(self, text: str) -> None:
        self._errors += 1
        self._last_error = redact(text)  # shown by the monitor
        log.warning("%s", text)

    def _on_error(self, err: KafkaError) -> None:
        if err.code() in _BROKERS_LOST:
            self.health.brokers_lost()
            self._hold_reads = True
            if self._held_at_loss is None:
                self._held_at_loss = {tp.partition for tp in self._parts} | self._dropped
        # Counted and shown like any error, logged where a run of like ones is cut short.
        self._errors += 1
        self._last_error = f"kafka: {err.str()}"
        KAFKA_LOGGER.warning("%s", self._last_error)

    def _on_stats(self, raw: str) -> None:
        try:
            stats = json.loads(raw)
        except ValueError:
            return
        brokers = stats.get("brokers", {}).values()
        self.health.statistics(
            [b.get("state") for b in brokers if b.get("nodeid", -1) >= 0],
            sum(int(b.get("rx", 0)) for b in brokers),
            time.monotonic(),
        )

    def _measure_lag(self, consumer: Consumer) -> None:
        parts = list(self._parts)
        if not parts:
            self.health.no_partitions()
            return
        try:
            positions = consumer.position(parts)
        except Exception as exc:
            self._note_error(f"position: {exc}")
            return
        now = time.monotonic()
        known = {p for p, at in self._resume_at.items() if at is not None and at >= 0}
        unknown = [
            tp for tp in positions
            if tp.offset < 0 and tp.partition not in known
            and now - self._resume_asked.get(tp.partition, -math.inf) >= RESUME_ASK_S
        ]  # fmt: skip
        if unknown and self.group is not None:
            # A group's committed offsets (a rebuild knows them): where reading resumes,
            # until the client has a position of its own. Asked again every RESUME_ASK_S
            # while none is known: a broker in the middle of a rebalance answered "none"
            # once, and the whole partition was shown as lag (STALL, 6,367 behind) for as
            # long as nothing new came, the group's offsets at its end all along.
            self._resume_asked.update((tp.partition, now) for tp in unknown)
            try:
                for tp in consumer.committed(unknown, timeout=1.0):
                    self._resume_at[tp.partition] = tp.offset if tp.error is None else None
            except Exception as exc:  # not known (None) until an answer comes
                self._resume_at.update((tp.partition, None) for tp in unknown)
                self._note_error(f"committed offsets: {exc}")
        readings = []
        for tp in positions:
            try:
                low, high = consumer.get_watermark_offsets(tp, cached=True)
            except Exception:
                low, high = -1, -1
            at = tp.offset
            if at < 0:
                resume = self._resume_at.get(tp.partition, -1)
                if resume is None:  # the group's offset asked and not told: lag unknown
                    high = -1
                at = resume if resume is not None and resume >= 0 else -1
            if at < 0:  # none committed: from where the client starts, its start or end
                at = -1 if self.from_beginning or high < 0 else high
            readings.append(PartitionReading(tp.partition, low, high, at))
        self.health.lag(readings, time.time(), time.monotonic())
        # Only the client's own position can tell that the broker lost a partition: one
        # taken from the group's committed offset (a partition given back after a
        # rebalance, not fetched yet) is newer than the high mark the client cached when
        # it last held it, and a slow broker's rebalance had an engine read two partitions
        # again from their start as lost, 9,098 good ticks refused and signals fired twice.
        own = {tp.partition for tp in positions if tp.offset >= 0}
        past = {
            r.partition
            for r in readings
            if r.partition in own and r.high >= 0 and r.position > r.high
        }
        # Twice in a row (half a second apart), so one odd reading does not reset anything;
        # then the topic is asked about at once: a topic created again is read from its
        # start as a whole, which must not be done twice.
        if past and past <= self._past_end:
            self._past_end = set()
            self._reset_due |= past
            assert self._topics is not None
            self._topics.ask_soon()
        else:
            self._past_end = past

    def _restart_partitions(self, consumer: Consumer, partitions: list[int]) -> None:
        """Read `partitions` from their start: their positions lie past their end, so the
        broker lost what was read (it came back empty) and what it has now is new."""
        self._recover(
            f"{self.topic} {_runs(partitions)} past their end (the broker lost them): "
            "read from the start"
        )
        for p in partitions:
            self._read_to.pop(p, None)  # offsets of a partition that is no more
            self._skip_to.pop(p, None)
            self._handled.pop(p, None)
        if not self._seek_to_start(consumer, partitions) and self.group is None:
            self._assign(consumer, [tp.partition for tp in self._parts], set(partitions))

    def _seek_to_start(self, consumer: Consumer, partitions: list[int]) -> bool:
        """Seek `partitions` to their first offset; False if the consumer is not fetching
        them yet (then assign afresh, or let the group's next assignment do it)."""
        for p in partitions:
            try:
                consumer.seek(TopicPartition(self.topic, p, OFFSET_BEGINNING))
            except KafkaException as exc:
                log.info("seek on partition %d failed (%s)", p, exc)
                return False
        return True

    def _from_start_unless_committed(
        self, consumer: Consumer, parts: list[TopicPartition]
    ) -> list[TopicPartition]:
        """`parts` from their start where the group has committed nothing: on a topic
        created again everything is new, and librdkafka's reset to the end (a group that
        reads new ticks only) skipped what came in while the group formed again (2,749
        ticks of a test's 10,000). Where the answer is not to be had, or is an error for a
        partition, librdkafka looks the commit up itself, as before."""
        try:
            committed = consumer.committed(parts, timeout=5.0)
        except KafkaException as exc:
            log.info("committed offsets unknown (%s): left to the client", exc)
            return parts
        nothing = {tp.partition for tp in committed if tp.error is None and tp.offset < 0}
        return [
            TopicPartition(self.topic, tp.partition, OFFSET_BEGINNING)
            if tp.partition in nothing
            else TopicPartition(self.topic, tp.partition)
            for tp in parts
        ]

    def _from_now_unless_committed(
        self, consumer: Consumer, parts: list[TopicPartition]
    ) -> list[TopicPartition]:
        """`parts` from the first tick sent since this worker started where the group has
        committed nothing (new ticks only): librdkafka's reset to the end as the group
        hands them over skipped what came in while the group formed (`record --group`
        said "recording to" and left out the first 83 of 1,600 ticks). Where there is
        none yet, the end; where the answer is not to be had, librdkafka's reset."""
        try:
            committed = consumer.committed(parts, timeout=5.0)
            nothing = [tp.partition for tp in committed if tp.error is None and tp.offset < 0]
            found = consumer.offsets_for_times(
                [TopicPartition(self.topic, p, self._started_ms) for p in nothing], timeout=5.0
            ) if nothing else []  # fmt: skip
        except KafkaException as exc:
            log.info("committed offsets or times unknown (%s): left to the client", exc)
            return parts
        since = {tp.partition: tp.offset for tp in found if tp.error is None and tp.offset >= 0}
        if self._new_from_ms is not None:  # those without a commit start at the end: checked
            self._from_end |= set(nothing)
        return [
            TopicPartition(self.topic, tp.partition, since[tp.partition])
            if tp.partition in since
            else TopicPartition(self.topic, tp.partition)
            for tp in parts
        ]

    # -- the topic as the cluster has it now ---------------------------------------------
    def _watch_topic(self, consumer: Consumer, now: float) -> bool:
        """Ask about the topic every TOPIC_CHECK_S (never waiting for the answer in this
        loop), and act on an answer; True if something changed."""
        assert self._topics is not None
        answer = self._topics.poll([self.topic], now, ask=self.health.broker_state != "DOWN")
        if answer is None or self.topic not in answer:
            return False  # none yet, or no answer (the broker is away): asked again later
        desc = answer[self.topic]
        if desc is None:
            return self._topic_gone()
        changed = self._topic_seen(consumer, str(desc.topic_id), [p.id for p in desc.partitions])
        due, self._reset_due = self._reset_due, set()
        # The same topic: only those partitions lost their ticks. (A group's partitions
        # are assigned by the group, so there they are reset whatever the answer.)
        if due and (not changed or self.group is not None):
            self._restart_partitions(consumer, sorted(due))
            changed = True
        if self._hold_reads:
            self._release(consumer)
        return changed

    def _hold(self, consumer: Consumer) -> None:
        try:
            consumer.pause(self._parts)
        except KafkaException as exc:
            log.info("could not hold reading: %s", exc)
            self._hold_reads = False
            return
        self._held = True
        assert self._topics is not None
        self._topics.ask_soon()  # ask as soon as a broker answers

    def _pause_as_held(self, consumer: Consumer, parts: list[TopicPartition]) -> None:
        """Pause `parts` if reading is held, else resume them."""
        try:
            (consumer.pause if self._held else consumer.resume)(parts)
        except KafkaException as exc:
            log.warning("could not %s reading: %s", "hold" if self._held else "resume", exc)

    def _release(self, consumer: Consumer) -> None:
        if self._held:
            try:
                consumer.resume(self._parts)
            except KafkaException as exc:
                log.warning("could not resume reading: %s", exc)
        self._held = self._hold_reads = False

    def _topic_gone(self) -> bool:
        self._reset_due = set()  # when it comes back, it is read from its start anyway
        if self._topic_missing:
            return False
        self._topic_missing = True
        self.health.topic_missing = True
        self._recover(f"{self.topic} missing on the broker: waiting for it")
        return True

    def _topic_seen(self, consumer: Consumer, topic_id: str, partitions: list[int]) -> bool:
        came_back = self._topic_missing
        self._topic_missing = False
        self.health.topic_missing = False
        known, self._topic_id = self._topic_id, topic_id
        assigned = sorted(tp.partition for tp in self._parts)
        held_at_loss, self._held_at_loss = self._held_at_loss, None
        self._dropped.clear()
        if known is None and not came_back:
            if self.group is None and partitions and assigned != sorted(partitions):
                return self._partitions_changed(consumer, assigned, partitions)
            return False
        if came_back or known != topic_id:
            self._read_to.clear()  # offsets of the topic that is no more
            self._handled.clear()
            # Only partitions read up to the loss go on: of the others this worker holds
            # an old state, or one given to it since from that. Those it held at the loss
            # go on whether it holds them now or not: a group drops its members as the
            # broker comes back empty, and hands them the same partitions again (an
            # engine alone in its group started them afresh, and read each tick sent
            # again as new: 11,966 ticks counted for 10,000 delivered).
            held = set(assigned)
            going_on = held if held_at_loss is None else held_at_loss
            outdated = set(self.engine.streams) - going_on
            self._afresh(outdated & held, "the broker came back empty, and this engine "
                         "had not read them up to then")  # fmt: skip
            self._outdated |= outdated - held
            self._skip_to.clear()
            # What was still to read of the old topic is gone with it (an engine fed by a
            # file at full speed read 71,140 of 1,000,000 ticks after its broker restarted
            # empty, and said only that the topic was read from the start).
            unread = self.health.known_lag
            self.health.forget_known_lag()
            lost = (
                f"; the ticks not read yet were lost with the old one (the lag last seen: "
                f"{unread:,}) unless their producer sends them again, as limitwatch's does"
                if unread else ""
            )  # fmt: skip
            self._recover(
                f"{self.topic} created again ({len(partitions)} partitions): read from the "
                f"start{lost}"
            )
            if self.group is None:
                self._assign(consumer, partitions, set(partitions))
            else:
                # The group's present partitions go on from the start of the new topic
                # (a position in the old one skipped as many new ticks), and so do those
                # the group hands over next where nothing was committed since.
                self._renewed = True
                self._seek_to_start(consumer, sorted(tp.partition for tp in self._parts))
            if self.group is not None and not self._parts and self._subscribe is not None:
                # A group member left with no partitions when the topic went is not given
                # the new topic's: nothing makes the group rebalance (an engine sat with
                # none for minutes, saying OK). Joining again does, once this consumer
                # itself sees the topic (joining while it still took it for missing got
                # nothing either): tried at each look at the topic, a few times at most.
                self._rejoins_left, self._rejoin_wait = REJOIN_TRIES, 0
            self._rejoin(consumer)
            return True
        if self._rejoins_left:
            self._rejoin(consumer)
        if self.group is None and assigned != sorted(partitions):
            return self._partitions_changed(consumer, assigned, partitions)
        return False

    def _rejoin(self, consumer: Consumer) -> None:
        """At one look at the topic: join the group again (see _topic_seen) if this
        consumer has no partitions yet and sees the topic itself, then give the group
        REJOIN_WAIT looks to assign them before trying again; give up after REJOIN_TRIES
        looks."""
        if not self._rejoins_left or self._subscribe is None:
            return
        if self._parts:
            self._rejoins_left = 0
            return
        self._rejoins_left -= 1
        if self._rejoin_wait:
            self._rejoin_wait -= 1
            return
        try:
            meta = consumer.list_topics(self.topic, timeout=1.0)
            seen = meta.topics.get(self.topic)
        except KafkaException:
            return
        if seen is None or seen.error is not None or not seen.partitions:
            return
        consumer.unsubscribe()
        self._subscribe(consumer)
        self._rejoin_wait = REJOIN_WAIT
        self._event("rejoined", partitions=[])

    def _partitions_changed(self, consumer: Consumer, was: list[int], now: list[int]) -> bool:
        added = sorted(set(now) - set(was))
        self._recover(
            f"{self.topic} has {len(now)} partitions, was {len(was)}"
            + (f": {_runs(added)} read from the start" if added else "")
        )
        self._assign(consumer, now, set(added))
        return True

    def _assign(self, consumer: Consumer, partitions: list[int], from_start: set[int]) -> None:
        """Read `partitions`: those in `from_start` from their first offset, the others
        from where this consumer is (or where it started)."""
        try:
            where = {tp.partition: tp.offset for tp in consumer.position(self._parts)}
        except KafkaException:
            where = {}
        parts = []
        for p in sorted(partitions):
            offset = where.get(p, -1)
            if p in from_start:
                offset = OFFSET_BEGINNING
            elif offset < 0:
                offset = self._start
            parts.append(TopicPartition(self.topic, p, offset))
        consumer.assign(parts)
        self._parts = parts
        self._past_end = set()

    def _recover(self, what: str) -> None:
        """Say what was found and done about the topic: shown, told, logged."""
        self._recovery = f"{time.strftime('%H:%M:%S')} {what}"  # the pane's "reset" row
        self._notice(what)
        log.warning("%s", what)

    def _stale_symbols(self, wall: float) -> frozenset[str]:
        """Symbols whose last tick is older than STALE_IDLE_S (a feed that stopped sending
        them, a broker that lost them): their forecasts are not fresh."""
        names = self.engine.symbols
        idle = np.flatnonzero(wall - self._fresh_at[: len(names)] > STALE_IDLE_S)
        return frozenset(names[i] for i in idle.tolist()) if idle.size else frozenset()

    def _publish(self) -> None:
        now_m = time.monotonic()
        self._rate_window.append((now_m, self._consumed))
        while len(self._rate_window) > 2 and now_m - self._rate_window[0][0] > 3.0:
            self._rate_window.popleft()
        t0, c0 = self._rate_window[0]
        rate = (self._consumed - c0) / (now_m - t0) if now_m > t0 else 0.0
        wall = time.time()
        since_last = (
            wall - self._last_tick_wall if not math.isnan(self._last_tick_wall) else math.nan
        )
        self._seq += 1
        history = None
        if self._chart_symbol is not None and self._chart_symbol in self.engine.symbols:
            history = self.engine.history(self._chart_symbol)
        kafka = KafkaStats(
            bootstrap=self.bootstrap,
            embedded=self.embedded,
            topic=self.topic,
            broker_state=self.health.broker_state,
            health=self.health.word(since_last, now_m, wall),
            partitions=self.health.partitions,
            lag_log=self.health.lag_log,
            consumed=self._consumed,
            rate_in=rate,
            bad_by=tuple((p.value, self._bad[p]) for p in Problem if self._bad[p]),
            dead_lettered=self._dead_letters.copied if self._dead_letters else 0,
            since_last_tick_s=since_last,
            errors=self._errors,
            last_error=self._last_error,
            group=self.group,
            broker_silent_s=self.health.silent_s(now_m),
            recovery=self._recovery,
            duplicates=self._duplicates,
            topic_missing=self._topic_missing,
            idle=self._idle and not self.health.partitions,
        )
        self.slot.put(
            Snapshot(
                seq=self._seq,
                wall=wall,
                engine=self.engine.state(),
                signals=tuple(self._recent),
                signal_count=self._signal_count,
                kafka=kafka,
                notices=tuple(self._notices),
                chart_symbol=self._chart_symbol,
                history=history,
                recording=self.recorder.path,
                recorded=self.recorder.count,
                track=self.engine.track_record(),
                tracks=self._tracks(),
                timings={k: self.engine.eta_correction(k) for k in self.engine.streams},
                watch_shifts={k: self.engine.watch_correction(k) for k in self.engine.streams},
                stale_symbols=self._stale_symbols(wall),
            )
        )
