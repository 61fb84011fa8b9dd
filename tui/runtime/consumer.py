"""The consumer worker: one thread that reads `prices`, feeds the engine and publishes
immutable snapshots.

The thread creates, polls and closes its own Kafka clients. It reads in batches
(`consume(num_messages=...)`), decodes every message with one msgspec decoder into numpy
columns, refuses implausible ticks (an event time far ahead, a price jump; see
:mod:`tui.runtime.plausibility`), copies what it refuses to the dead-letter topic with
the reason in a header, counts it by heading, and never raises on bad input. Limit
changes arrive as small commands on a queue. Lag comes from the fetch high watermark
(cached), never from ListOffsets.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

import numpy as np
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    Producer,
    TopicPartition,
)

from engine import Engine, EngineConfig, LimitError, Signal
from engine.calibration import TrackRecord
from producer.control import drain
from producer.fields import Fields
from producer.kafka_config import (
    CONSUMER_SETTINGS,
    Connection,
    as_connection,
    client_config,
    redact,
)
from producer.wire import BadTick, Problem, decode
from tui.runtime.commands import (
    SelectSymbol,
    SetLimits,
    StartRecording,
    StopRecording,
    WorkerCommand,
)
from tui.runtime.dead_letters import DeadLetters
from tui.runtime.health import STATS_INTERVAL_S, ConsumerHealth, PartitionReading
from tui.runtime.plausibility import Plausibility, TickChecks
from tui.runtime.publish import SignalPublisher
from tui.runtime.recorder import Recorder
from tui.runtime.snapshot import KafkaStats, Notice, Snapshot, SnapshotSlot

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
#: Signals kept for display.
RECENT_SIGNALS = 500
#: Errors that mean the client has lost its brokers.
_BROKERS_LOST = (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE)


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
        With a consumer group, commits the offsets itself once what it published for
        them is delivered (instead of librdkafka's automatic commits).
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
        committer: SignalPublisher | None = None,
    ) -> None:
        super().__init__(name="limitwatch-consumer", daemon=True)
        self.connection = as_connection(bootstrap)
        self.bootstrap = self.connection.bootstrap
        self.topic = topic
        self.config = config or EngineConfig()
        self.group = group
        self.from_beginning = from_beginning
        self.initial_limits = dict(limits or {})
        self.embedded = embedded
        self.publish_interval = 1.0 / publish_hz
        self.batch_size = batch_size
        self.on_signals = on_signals
        self._mapped = None if fields is None or fields.own else fields.decoder()
        self.committer = committer if group is not None else None
        self.slot = SnapshotSlot()
        self.closed = threading.Event()
        self._stop_event = threading.Event()
        self._commands: queue.SimpleQueue[WorkerCommand] = queue.SimpleQueue()
        # Owned by the thread once it runs; created here so every attribute has a home.
        self.engine = Engine(self.config)
        # How often the forecasts came true, for the monitor's track record view.
        self.track = TrackRecord(self.config.horizon_s, symbols=self.config.max_symbols)
        self.health = ConsumerHealth(time.monotonic())
        self.recorder = Recorder(self._notice)
        self.checks = TickChecks(plausibility or Plausibility(), self.config.max_symbols)
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
        except Exception:
            log.exception("the consumer worker failed")
        finally:
            self.closed.set()

    def _run(self) -> None:
        for symbol, (buy, sell) in self.initial_limits.items():
            self._apply(SetLimits(symbol, buy, sell))
        conf = client_config(
            self.connection,
            **{
                "group.id": self.group or f"limitwatch-monitor-{id(self):x}",
                "enable.auto.commit": self.group is not None and self.committer is None,
                "auto.offset.reset": "earliest" if self.from_beginning else "latest",
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 1000,
                "statistics.interval.ms": int(STATS_INTERVAL_S * 1000),
                "stats_cb": self._on_stats,
                "error_cb": self._on_error,
                **CONSUMER_SETTINGS,
                "enable.partition.eof": False,
            },
        )
        consumer = Consumer(conf)
        dlq = Producer(
            client_config(self.connection, **{"linger.ms": 50, "error_cb": self._on_error})
        )
        self._dead_letters = DeadLetters(dlq, self.topic, self._note_error)
        try:
            self._attach(consumer)
            self._drain_commands()  # e.g. a recording asked for before the first tick
            self._loop(consumer, dlq)
        finally:
            if self.recorder.active:
                self.recorder.stop()
                self._publish()  # so the closing notice is seen
            dlq.flush(1.0)
            if self.committer is not None:
                self.committer.close(consumer)
            consumer.close()

    def _attach(self, consumer: Consumer) -> None:
        if self.group is not None:

            def on_assign(_c: Consumer, parts: list[TopicPartition]) -> None:
                self._parts = list(parts)

            def on_revoke(_c: Consumer, parts: list[TopicPartition]) -> None:
                if self.committer is not None:  # the next owner starts after our output
                    self.committer.commit(_c, force=True)
                gone = {(p.topic, p.partition) for p in parts}
                self._parts = [p for p in self._parts if (p.topic, p.partition) not in gone]

            consumer.subscribe([self.topic], on_assign=on_assign, on_revoke=on_revoke)
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
        start = OFFSET_BEGINNING if self.from_beginning else OFFSET_END
        self._parts = [TopicPartition(self.topic, p, start) for p in partitions]
        consumer.assign(self._parts)

    def _loop(self, consumer: Consumer, dlq: Producer) -> None:
        last_publish = 0.0
        last_lag = 0.0
        dirty = True
        while not self._stop_event.is_set():
            msgs = consumer.consume(num_messages=self.batch_size, timeout=STOP_CHECK_S)
            if self._drain_commands():
                # Someone is waiting to see a key's effect: show it before the batch.
                self._publish()
                last_publish = time.monotonic()
            if msgs:
                self._ingest(msgs)
                dirty = True
            if self.committer is not None:
                self.committer.commit(consumer)
            if self._drain_commands():
                last_publish = 0.0  # publish at once: someone is waiting to see it
                dirty = True
            dlq.poll(0)
            now = time.monotonic()
            if now - last_lag >= 0.5:
                last_lag = now
                self._measure_lag(consumer)
                dirty = True
            if dirty and now - last_publish >= self.publish_interval:
                last_publish = now
                dirty = False
                self._publish()

    def _ingest(self, msgs: list[Any]) -> None:
        symbols: list[str] = []
        times: list[float] = []
        prices: list[float] = []
        wall = time.time()
        self.health.fetch_answered()
        recording = self.recorder.active
        mapped = self._mapped  # None: limitwatch's own shape, the fast decoder
        for msg in msgs:
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    self._note_error(f"consume: {err}")
                continue
            try:
                tick = decode(msg.value()) if mapped is None else mapped(msg)
            except BadTick as exc:
                self._refuse(msg, exc)
                continue
            refusal = self.checks.refusal(tick, wall)
            if refusal is not None:
                self._refuse(msg, refusal)
                continue
            symbols.append(tick.symbol)
            times.append(tick.ts)
            prices.append(tick.price)
            if recording:
                self.recorder.write(tick)
                recording = self.recorder.active
            _kind, created_ms = msg.timestamp()
            self.health.message_seen(
                msg.partition(), created_ms / 1000.0 if created_ms > 0 else wall
            )
        if not symbols:
            return
        self._consumed += len(symbols)
        self._last_tick_wall = wall
        ids = np.asarray(self.engine.register(symbols), dtype=np.int32)
        t = np.asarray(times, dtype=np.float64)
        price = np.asarray(prices, dtype=np.float64)
        signals = self.engine.update(ids, t, price)
        self.track.update(ids, t, price, self.engine.state)
        if signals:
            self._recent.extend(signals)
            self._signal_count += len(signals)
            if self.on_signals is not None:
                self.on_signals(signals)

    def _refuse(self, msg: Any, bad: BadTick) -> None:
        self._bad[bad.problem] += 1
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
                cmd.description,
                self.engine.state(),
                self.config,
                made_by=f"limitwatch record from {self.bootstrap} topic {self.topic}",
                max_ticks=cmd.max_ticks,
            )
        elif isinstance(cmd, StopRecording):
            self.recorder.stop()
        else:
            try:
                self.engine.set_limits(cmd.symbol, buy=cmd.buy, sell=cmd.sell)
            except LimitError as exc:
                self._notice(str(exc), error=True)

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
        self._note_error(f"kafka: {err.str()}")

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
        readings = []
        for tp in positions:
            try:
                low, high = consumer.get_watermark_offsets(tp, cached=True)
            except Exception:
                low, high = -1, -1
            readings.append(
                PartitionReading(tp.partition, low, high, tp.offset if tp.offset >= 0 else -1)
            )
        self.health.lag(readings, time.time())

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
            health=self.health.word(since_last, now_m),
            partitions=self.health.partitions,
            consumed=self._consumed,
            rate_in=rate,
            bad_by=tuple((p.value, self._bad[p]) for p in Problem if self._bad[p]),
            dead_lettered=self._dead_letters.copied if self._dead_letters else 0,
            since_last_tick_s=since_last,
            errors=self._errors,
            last_error=self._last_error,
            group=self.group,
            broker_silent_s=self.health.silent_s(now_m),
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
                track=self.track.record(),
            )
        )
