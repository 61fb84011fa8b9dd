"""The producer thread: reads a Source and sends its ticks to the `prices` topic.

Paced sources are spaced out by event time divided by a speed factor, with long quiet
stretches in the data (an overnight gap) shortened to `max_gap_s`; pause, resume and
speed changes arrive as small commands on a queue. Deliveries are counted (the rate
shown as "out" is of delivered ticks, failed ones are counted apart), a full local
queue is retried rather than dropped, and the producer is flushed on stop for at most
:data:`STOP_FLUSH_S`, what is still undelivered then counted as failed.

At 100,000 ticks a second the thread has 10 µs per tick for the source, the encoding
and the client, so the per-tick path is kept short: the client reports failed
deliveries only (``delivery.report.only.error``), the delivered count is what was
queued less what the client still holds and what failed, and the client is polled,
commands looked at and counters published every :data:`POLL_EVERY` ticks.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

from confluent_kafka import KafkaError, Message, Producer

from producer.control import ProducerCommand, ProducerStats, SetPaused, SetSpeed, drain
from producer.delivery import produce_with_retry
from producer.kafka_config import Connection, client_config, redact
from producer.source import Source
from producer.wire import Tick, encode

log = logging.getLogger(__name__)

#: The longest a thread loop waits before it looks at its stop flag again.
STOP_CHECK_S = 0.1
#: Delivery reports are served, commands looked at and counters published after every
#: this many messages (and while waiting).
POLL_EVERY = 32
#: A paced tick may leave this much before its time: a wait shorter than the client's
#: millisecond timeouts would spin, taking the CPU the broker needs at high rates.
EARLY_S = 0.001
#: On stop, how long to wait for the last messages to be delivered; what is still
#: queued after that (a dead broker) is counted as failed.
STOP_FLUSH_S = 1.0


def parse_speed(text: str) -> float:
    """Parse a --speed value: a positive number or 'max'."""
    if text.strip().lower() in {"max", "inf"}:
        return math.inf
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"speed must be a positive number or 'max', got {text!r}") from None
    if not value > 0 or math.isnan(value):
        raise ValueError(f"speed must be a positive number or 'max', got {text!r}")
    return value


class ProducerThread(threading.Thread):
    """Sends `source`'s ticks to `topic` until the source ends or `stop()` is called."""

    def __init__(
        self,
        bootstrap: Connection | str,
        source: Source,
        topic: str = "prices",
        speed: float = 1.0,
        linger_ms: int = 5,
        max_gap_s: float = 5.0,
        on_limits: Callable[[dict[str, tuple[float, float]]], None] | None = None,
    ) -> None:
        super().__init__(name="limitwatch-producer", daemon=True)
        self.bootstrap = bootstrap
        self.source = source
        self.topic = topic
        self._linger_ms = linger_ms
        self.max_gap_s = max_gap_s
        #: Called (in this thread, before the first tick is sent) with the source's limits
        #: if it has any by then: a scenario header read from standard input.
        self.on_limits = on_limits
        self._stop_event = threading.Event()
        self._commands: queue.SimpleQueue[ProducerCommand] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._stats = ProducerStats(source=source.name, speed=speed)
        self._speed = speed
        self._paused = False

    # -- the outside world talks to the thread only through these -------------------------
    def stop(self) -> None:
        """Ask the thread to flush and end; returns at once (join to wait)."""
        self._stop_event.set()

    def send(self, command: ProducerCommand) -> None:
        """Queue a command (pause/resume, speed) for the thread."""
        self._commands.put(command)

    def stats(self) -> ProducerStats:
        """The latest counters."""
        with self._lock:
            return self._stats

    # -- inside the thread ----------------------------------------------------------------
    def _update(self, **changes: object) -> None:
        with self._lock:
            fields = {f: getattr(self._stats, f) for f in ProducerStats.__slots__}
            fields.update(changes)
            self._stats = ProducerStats(**fields)  # type: ignore[arg-type]

    def _on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:  # only failures are reported (delivery.report.only.error)
            self._failed += 1
            self._last_error = redact(str(err))

    def _delivered_now(self, producer: Producer) -> int:
        """Ticks the broker took: queued, less what the client still holds (in flight or
        a failure not yet reported) and what failed. Never goes down."""
        held = len(producer)
        self._delivered = max(self._delivered, self._queued - held - self._failed_on_delivery())
        return self._delivered

    def _failed_on_delivery(self) -> int:
        return self._failed - self._not_queued

    def run(self) -> None:
        self._delivered = 0
        self._failed = 0
        self._not_queued = 0  # failed without reaching the client's queue
        self._queued = 0
        self._last_error = ""
        producer = Producer(client_config(self.bootstrap, **self.client_settings()))
        self._produced = 0
        try:
            self._pump(producer)
        except Exception as exc:  # a source that fails must not kill the app silently
            log.exception("producer stopped on an error")
            self._last_error = redact(
                f"{exc} (--skip-bad skips such lines)"
                if getattr(exc, "skippable", False)
                else f"{type(exc).__name__}: {exc}"
            )
        finally:
            started = time.monotonic()
            remaining = producer.flush(STOP_FLUSH_S)
            flush_s = time.monotonic() - started
            if remaining:
                log.warning("%d messages were not delivered before the producer stopped", remaining)
            self._delivered = max(
                self._delivered, self._queued - remaining - self._failed_on_delivery()
            )
            self._update(
                produced=self._produced,  # what was sent before an error, too
                delivered=self._delivered,
                failed=self._failed + remaining,
                flush_s=flush_s,
                last_error=self._last_error,
                finished=True,
                rate=0.0,
                skipped=getattr(self.source, "skipped", 0),
            )

    def client_settings(self) -> dict[str, object]:
        """The producer client's settings (the bootstrap servers and logging aside)."""
        return {
            "linger.ms": self._linger_ms,
            "enable.idempotence": False,
            "message.timeout.ms": 30000,
            "queue.buffering.max.messages": 200000,
            # One Python call per failed message instead of one per message.
            "delivery.report.only.error": True,
            "on_delivery": self._on_delivery,
        }

    def _drain_commands(self) -> bool:
        """Apply queued commands; True if pacing must be re-anchored."""
        return drain(self._commands, self._apply)

    def _apply(self, cmd: ProducerCommand) -> None:
        if isinstance(cmd, SetPaused):
            self._paused = cmd.paused
        elif isinstance(cmd, SetSpeed):
            self._speed = cmd.speed
        self._update(paused=self._paused, speed=self._speed, rate=0.0)

    def _pump(self, producer: Producer) -> int:
        self._produced = 0
        self._producer = producer
        self._last_report = 0.0
        self._window: deque[tuple[float, int]] = deque([(time.monotonic(), 0)])
        anchor: tuple[float, float] | None = None  # (event time, wall time) pacing origin
        prev_ts = math.nan
        ticks = iter(self.source) if self.source.paced else self._live(producer)
        commands = self._commands
        for tick in ticks:
            if self._stop_event.is_set():
                break
            if not commands.empty() and self._drain_commands():
                anchor = None
            while self._paused and not self._stop_event.is_set():
                producer.poll(STOP_CHECK_S)
                if self._drain_commands():
                    anchor = None
            if self._stop_event.is_set():
                break
            if self.source.paced and math.isfinite(self._speed):
                gap = tick.ts - prev_ts
                if anchor is None:
                    anchor = (tick.ts, time.monotonic())
                elif gap > self.max_gap_s:
                    # A quiet stretch in the data (a night, a weekend): wait max_gap_s of
                    # event time instead of the whole gap; event times are kept as they are.
                    anchor = (anchor[0] + gap - self.max_gap_s, anchor[1])
                due = anchor[1] + (tick.ts - anchor[0]) / self._speed
                while not self._stop_event.is_set():
                    wait = due - time.monotonic()
                    if wait <= EARLY_S:
                        break
                    producer.poll(min(wait, STOP_CHECK_S))
                    self._report()
                    if self._drain_commands():
                        anchor = (tick.ts, time.monotonic())
                        due = anchor[1]
                if self._stop_event.is_set():
                    break
            if self._produced == 0 and self.on_limits is not None and self.source.limits:
                self.on_limits(dict(self.source.limits))
            prev_ts = tick.ts
            self._produce(producer, tick)
            self._produced += 1
            if self._produced % POLL_EVERY == 0:
                producer.poll(0)  # serve delivery reports
                self._report()
        return self._produced

    def _report(self) -> None:
        """Publish the counters, at most 20 times a second."""
        now = time.monotonic()
        if now - self._last_report <= 0.05:
            return
        self._last_report = now
        # The rate is of delivered ticks: sent ones that a dead broker never takes are not
        # "out" (they are counted as failed once their delivery times out).
        delivered = self._delivered_now(self._producer)
        self._window.append((now, delivered))
        while now - self._window[0][0] > 3.0:
            self._window.popleft()
        t0, n0 = self._window[0]
        rate = (delivered - n0) / (now - t0) if now > t0 else 0.0
        self._update(
            produced=self._produced, delivered=self._delivered, failed=self._failed,
            last_error=self._last_error, rate=rate, skipped=getattr(self.source, "skipped", 0),
        )  # fmt: skip

    def _live(self, producer: Producer) -> Iterator[Tick]:
        """The ticks of a live source, read by a helper thread so that this thread keeps
        polling the client, reporting, and looking at its stop flag while the source
        blocks (standard input that is quiet, a metrics interval)."""
        inbox: queue.Queue[Tick | BaseException | None] = queue.Queue(maxsize=10_000)
        stop = self._stop_event

        def read() -> None:
            item: Tick | BaseException | None = None
            try:
                for tick in self.source:
                    while not stop.is_set():
                        try:
                            inbox.put(tick, timeout=STOP_CHECK_S)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
            except Exception as exc:  # handed over and raised in the producer thread
                item = exc
            while not stop.is_set():
                try:
                    inbox.put(item, timeout=STOP_CHECK_S)
                    return
                except queue.Full:
                    continue

        threading.Thread(target=read, name="limitwatch-source-reader", daemon=True).start()
        while not stop.is_set():
            try:
                item = inbox.get(timeout=STOP_CHECK_S)
            except queue.Empty:
                producer.poll(0)
                self._report()
                continue
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def _produce(self, producer: Producer, tick: Tick) -> None:
        value = encode(tick)
        key = tick.symbol.encode()
        try:
            producer.produce(self.topic, value, key)
        except BufferError:  # the local queue is full: wait for room
            queued = produce_with_retry(
                producer, self.topic, value, key=key,
                give_up=self._stop_event.is_set, wait_s=STOP_CHECK_S,
            )  # fmt: skip
            if not queued:
                self._failed += 1
                self._not_queued += 1
                self._last_error = "stopped while the local queue was full"
                return
        self._queued += 1
