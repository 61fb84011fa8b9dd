"""The consumer worker: one thread that reads `prices`, feeds the engine and publishes
immutable snapshots.

The thread creates, polls and closes its own Kafka clients. It reads in batches
(`consume(num_messages=...)`), decodes every message with one msgspec decoder into numpy
columns, copies undecodable messages to the dead-letter topic with the reason in a
header, and never raises on bad input. Limit changes arrive as small commands on a
queue. Lag comes from the fetch high watermark (cached), never from ListOffsets.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
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
from producer.header import ScenarioHeader
from producer.kafka_config import client_config
from producer.scenario import ScenarioWriter
from producer.topics import dlq_topic
from producer.wire import BadTick, Tick, decode
from tui.snapshot import KafkaStats, Notice, PartitionLag, Snapshot, SnapshotSlot

log = logging.getLogger(__name__)

#: Longest wait for a batch: bounds how late a stop or a key's command is seen.
STOP_CHECK_S = 0.05
#: Signals kept for display.
RECENT_SIGNALS = 500
#: Lag samples kept per partition for the trend sparkline (one every 0.5 s).
LAG_TREND_SAMPLES = 40
#: No tick for this long while behind: the consumer is stalled.
STALL_AFTER_S = 5.0


@dataclass(frozen=True, slots=True)
class SetLimits:
    """Change one symbol's limits; None leaves a side unchanged."""

    symbol: str
    buy: float | None = None
    sell: float | None = None


@dataclass(frozen=True, slots=True)
class SelectSymbol:
    """Include this symbol's recent history (for the chart) in the snapshots."""

    symbol: str | None


@dataclass(frozen=True, slots=True)
class StartRecording:
    """Write every tick the worker reads to a scenario file at `path`."""

    path: str
    description: str = "recorded from the live prices topic"
    #: Close the file after this many ticks (None: when told to stop).
    max_ticks: int | None = None


@dataclass(frozen=True, slots=True)
class StopRecording:
    """Close the scenario file being recorded."""


WorkerCommand = SetLimits | SelectSymbol | StartRecording | StopRecording


def _or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


class ConsumerWorker(threading.Thread):
    """Consumes `topic`, runs the engine, publishes snapshots at most `publish_hz` a second.

    Parameters
    ----------
    bootstrap:
        Kafka bootstrap servers.
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
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str = "prices",
        config: EngineConfig | None = None,
        group: str | None = None,
        from_beginning: bool = True,
        limits: dict[str, tuple[float, float]] | None = None,
        embedded: bool = False,
        publish_hz: float = 20.0,
        batch_size: int = 5000,
        on_signals: Callable[[list[Signal]], None] | None = None,
    ) -> None:
        super().__init__(name="limitwatch-consumer", daemon=True)
        self.bootstrap = bootstrap
        self.topic = topic
        self.config = config or EngineConfig()
        self.group = group
        self.from_beginning = from_beginning
        self.initial_limits = dict(limits or {})
        self.embedded = embedded
        self.publish_interval = 1.0 / publish_hz
        self.batch_size = batch_size
        self.on_signals = on_signals
        self.slot = SnapshotSlot()
        self._stop_event = threading.Event()
        self._commands: queue.SimpleQueue[WorkerCommand] = queue.SimpleQueue()
        self.closed = threading.Event()

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

    # -- inside the thread ----------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
        except Exception:
            log.exception("the consumer worker failed")
        finally:
            self.closed.set()

    def _run(self) -> None:
        self.engine = Engine(self.config)
        self._notices: deque[Notice] = deque(maxlen=20)
        self._chart_symbol: str | None = None
        self._recorder: ScenarioWriter | None = None
        self._record_max: int | None = None
        self._recording_path: str | None = None
        self._notice_seq = 0
        for symbol, (buy, sell) in self.initial_limits.items():
            self._apply(SetLimits(symbol, buy, sell))
        self._recent: deque[Signal] = deque(maxlen=RECENT_SIGNALS)
        self._signal_count = 0
        self._consumed = 0
        self._bad = 0
        self._dead = 0
        self._errors = 0
        self._last_error = ""
        self._broker_state = "CONNECTING"
        self._last_tick_wall = math.nan
        self._part_msg_ts: dict[int, float] = {}
        self._lag_trends: dict[int, deque[int]] = {}
        self._rx_seen = -1
        self._rx_at = time.monotonic()
        self._lag_history: deque[int] = deque(maxlen=6)
        self._rate_window: deque[tuple[float, int]] = deque(maxlen=64)
        self._seq = 0
        self._parts: list[TopicPartition] = []
        self._partition_lags: tuple[PartitionLag, ...] = ()

        conf = client_config(
            self.bootstrap,
            **{
                "group.id": self.group or f"limitwatch-monitor-{id(self):x}",
                "enable.auto.commit": self.group is not None,
                "auto.offset.reset": "earliest" if self.from_beginning else "latest",
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 1000,
                "statistics.interval.ms": 1000,
                "stats_cb": self._on_stats,
                "error_cb": self._on_error,
                "fetch.wait.max.ms": 100,
                "enable.partition.eof": False,
            },
        )
        consumer = Consumer(conf)
        dlq = Producer(
            client_config(self.bootstrap, **{"linger.ms": 50, "error_cb": self._on_error})
        )
        try:
            self._attach(consumer)
            self._drain_commands()  # e.g. a recording asked for before the first tick
            self._loop(consumer, dlq)
        finally:
            if self._recorder is not None:
                self._stop_recording()
                self._publish()  # so the closing notice is seen
            dlq.flush(1.0)
            consumer.close()

    def _attach(self, consumer: Consumer) -> None:
        if self.group is not None:

            def on_assign(_c: Consumer, parts: list[TopicPartition]) -> None:
                self._parts = list(parts)

            def on_revoke(_c: Consumer, parts: list[TopicPartition]) -> None:
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
                self._broker_state = "UP"
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
                self._ingest(msgs, dlq)
                dirty = True
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

    def _ingest(self, msgs: list[Any], dlq: Producer) -> None:
        symbols: list[str] = []
        times: list[float] = []
        prices: list[float] = []
        wall = time.time()
        self._broker_state = "UP"  # a fetch answered
        for msg in msgs:
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    self._note_error(f"consume: {err}")
                continue
            try:
                tick = decode(msg.value())
            except BadTick as exc:
                self._bad += 1
                self._dead_letter(dlq, msg, str(exc))
                continue
            symbols.append(tick.symbol)
            times.append(tick.ts)
            prices.append(tick.price)
            if self._recorder is not None:
                self._record(tick)
            _kind, created_ms = msg.timestamp()
            self._part_msg_ts[msg.partition()] = created_ms / 1000.0 if created_ms > 0 else wall
        if not symbols:
            return
        self._consumed += len(symbols)
        self._last_tick_wall = wall
        ids = self.engine.register(symbols)
        signals = self.engine.update(
            np.asarray(ids, dtype=np.int32),
            np.asarray(times, dtype=np.float64),
            np.asarray(prices, dtype=np.float64),
        )
        if signals:
            self._recent.extend(signals)
            self._signal_count += len(signals)
            if self.on_signals is not None:
                self.on_signals(signals)

    def _dead_letter(self, dlq: Producer, msg: Any, reason: str) -> None:
        log.warning(
            "undecodable message at %s/%s@%s: %s",
            msg.topic(),
            msg.partition(),
            msg.offset(),
            reason,
        )
        headers = [
            ("limitwatch.reason", reason.encode("utf-8", "replace")[:1000]),
            ("limitwatch.origin", f"{msg.topic()}/{msg.partition()}/{msg.offset()}".encode()),
        ]
        for _attempt in range(20):
            try:
                dlq.produce(
                    dlq_topic(self.topic), value=msg.value(), key=msg.key(), headers=headers
                )
                self._dead += 1
                return
            except BufferError:
                dlq.poll(0.05)
            except Exception as exc:  # an oversize or otherwise unproducible message
                self._note_error(f"dead-letter: {exc}")
                return
        self._note_error("dead-letter queue full; message left in the source topic only")

    def _drain_commands(self) -> bool:
        changed = False
        while True:
            try:
                cmd = self._commands.get_nowait()
            except queue.Empty:
                return changed
            self._apply(cmd)
            changed = True

    def _apply(self, cmd: WorkerCommand) -> None:
        if isinstance(cmd, SelectSymbol):
            self._chart_symbol = cmd.symbol
            return
        if isinstance(cmd, StartRecording):
            self._start_recording(cmd)
            return
        if isinstance(cmd, StopRecording):
            self._stop_recording()
            return
        try:
            self.engine.set_limits(cmd.symbol, buy=cmd.buy, sell=cmd.sell)
        except LimitError as exc:
            self._notice(f"{cmd.symbol}: {exc}", error=True)

    def _start_recording(self, cmd: StartRecording) -> None:
        self._stop_recording()
        state = self.engine.state()
        limits = {
            sym: (_or_none(state.buy[i]), _or_none(state.sell[i]))
            for i, sym in enumerate(state.symbols)
        }
        cfg = self.config
        header = ScenarioHeader(
            name=Path(cmd.path).stem,
            description=cmd.description,
            limits=limits,
            engine={
                "fast": cfg.fast,
                "slow": cfg.slow,
                "halflife_s": cfg.halflife_s,
                "horizon_s": cfg.horizon_s,
                "alert_p": cfg.alert_p,
            },
            made_by=f"limitwatch record from {self.bootstrap} topic {self.topic}",
        )
        try:
            self._recorder = ScenarioWriter(cmd.path, header, flush_every=500)
        except OSError as exc:
            self._notice(f"cannot record to {cmd.path}: {exc.strerror or exc}", error=True)
            return
        self._recording_path = cmd.path
        self._record_max = cmd.max_ticks
        self._notice(f"recording to {cmd.path}")

    def _record(self, tick: Tick) -> None:
        assert self._recorder is not None
        try:
            self._recorder.write(tick)
        except OSError as exc:
            self._notice(f"recording stopped: {exc.strerror or exc}", error=True)
            self._recorder = None
            self._recording_path = None
            return
        if self._record_max is not None and self._recorder.count >= self._record_max:
            self._stop_recording()

    def _stop_recording(self) -> None:
        recorder, self._recorder = self._recorder, None
        if recorder is None:
            return
        try:
            recorder.close()
            self._notice(f"recorded {recorder.count:,} ticks to {self._recording_path}")
        except OSError as exc:
            self._notice(f"recording not closed cleanly: {exc.strerror or exc}", error=True)
        self._recording_path = None

    @property
    def recorded(self) -> int:
        """Ticks written to the current recording (0 when not recording)."""
        return self._recorder.count if self._recorder is not None else 0

    def _notice(self, text: str, error: bool = False) -> None:
        self._notice_seq += 1
        self._notices.append(Notice(self._notice_seq, text, error))

    def _note_error(self, text: str) -> None:
        self._errors += 1
        self._last_error = text
        log.warning("%s", text)

    def _on_error(self, err: KafkaError) -> None:
        code = err.code()
        if code in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE):
            self._broker_state = "DOWN"
        self._note_error(f"kafka: {err.str()}")

    def _on_stats(self, raw: str) -> None:
        try:
            stats = json.loads(raw)
        except ValueError:
            return
        states = [
            b.get("state") for b in stats.get("brokers", {}).values() if b.get("nodeid", -1) >= 0
        ]
        if states:
            self._broker_state = "UP" if "UP" in states else "DOWN"
        # librdkafka fetches every fetch.wait.max.ms, so a live broker answers several times a
        # second; a broker that stops answering while connected is frozen, not down.
        rx = sum(int(b.get("rx", 0)) for b in stats.get("brokers", {}).values())
        now = time.monotonic()
        if rx != self._rx_seen:
            self._rx_seen = rx
            self._rx_at = now

    def _broker_silent_s(self) -> float:
        """Seconds since any broker last answered this consumer (per its statistics)."""
        return time.monotonic() - self._rx_at

    def _measure_lag(self, consumer: Consumer) -> None:
        parts = list(self._parts)
        if not parts:
            self._partition_lags = ()
            return
        try:
            positions = consumer.position(parts)
        except Exception as exc:
            self._note_error(f"position: {exc}")
            return
        wall = time.time()
        lags = []
        for tp in positions:
            try:
                low, high = consumer.get_watermark_offsets(tp, cached=True)
            except Exception:
                low, high = -1, -1
            pos = tp.offset if tp.offset >= 0 else -1
            if high < 0:
                lag = -1
            elif pos >= 0:
                lag = max(high - pos, 0)
            else:
                lag = max(high - max(low, 0), 0)
            last = self._part_msg_ts.get(tp.partition)
            lag_s = max(wall - last, 0.0) if lag > 0 and last is not None else 0.0
            trend = self._lag_trends.setdefault(tp.partition, deque(maxlen=LAG_TREND_SAMPLES))
            trend.append(max(lag, 0))
            lags.append(PartitionLag(tp.partition, high, pos, lag, lag_s, tuple(trend)))
        self._partition_lags = tuple(sorted(lags, key=lambda p: p.partition))
        self._lag_history.append(sum(p.lag for p in lags if p.lag > 0))

    def _health(self, since_last: float) -> str:
        if self._broker_state == "DOWN":
            return "DOWN"
        if self._broker_silent_s() > STALL_AFTER_S:
            return "STALL"
        total = self._lag_history[-1] if self._lag_history else 0
        if total > 0 and (math.isnan(since_last) or since_last > STALL_AFTER_S):
            return "STALL"
        hist = list(self._lag_history)
        if len(hist) >= 4 and all(b > a for a, b in zip(hist[-4:], hist[-3:], strict=False)):
            return "WARN"
        return "OK"

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
            broker_state=self._broker_state,
            health=self._health(since_last),
            partitions=self._partition_lags,
            consumed=self._consumed,
            rate_in=rate,
            bad=self._bad,
            dead_lettered=self._dead,
            since_last_tick_s=since_last,
            errors=self._errors,
            last_error=self._last_error,
            group=self.group,
            broker_silent_s=self._broker_silent_s(),
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
                recording=self._recording_path,
                recorded=self.recorded,
            )
        )
