"""What a headless engine publishes besides its signals: each symbol's indicators and
forecasts on the compacted `indicators` topic (key: symbol), at most once a second.

A value is one JSON object: ``{"symbol", "t" (its latest tick's event time), "last",
"sma_fast", "sma_slow", "ema", "drift", "vol", "buy", "sell", "p_buy", "p_sell",
"eta_buy", "eta_sell", "n_ticks", "open", "drift_se", "additive", "engine"}``,
undefined numbers as null: what a `--view` monitor shows. Compaction keeps each symbol's
latest, so a reader started later sees every symbol's current state. Only
symbols with a tick since the last publication are sent again. Each engine also sends a
heartbeat there once a second (:meth:`IndicatorPublisher.beat`), a value with no symbol.
Everything here runs in the thread that calls it (the headless engine's main thread, on
the worker's snapshots).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence

import msgspec
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from engine import EngineState
from producer.delivery import delivery_summary, undelivered
from producer.kafka_config import KAFKA_LOGGER, Connection, client_config, redact
from producer.topics import ensure_compacted
from tui.runtime.jsonout import indicator_values, json_number


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


__all__ = ["INDICATORS_TOPIC", "PUBLISH_EVERY_S", "IndicatorPublisher"]

log = logging.getLogger(__name__)

#: The topic indicators go to unless told otherwise.
INDICATORS_TOPIC = "indicators"
#: Least seconds between two publications.
PUBLISH_EVERY_S = 1.0
#: Longest wait for what is queued when the engine stops, in seconds.
FLUSH_S = 2.0

_encoder = msgspec.json.Encoder()


class IndicatorPublisher:
    """Publishes the indicators of every symbol that ticked since the last time, at most
    once per `every_s`; `engine` names the publishing process in each value."""

    def __init__(
        self,
        connection: Connection | str,
        topic: str = INDICATORS_TOPIC,
        partitions: int = 4,
        engine: str = "",
        every_s: float = PUBLISH_EVERY_S,
    ) -> None:
        ensure_compacted(connection, topic, partitions)
        self.topic = topic
        self.engine = engine
        self.every_s = every_s
        settings = {"linger.ms": 20, "error_cb": self._error}
        self.producer = Producer(client_config(connection, **settings))
        # Updates queued, delivered and failed (in delivery, or refused by a full queue,
        # `not_queued`: never among those queued); heartbeats apart, in `beats`.
        self.published = self.delivered = self.failed = self.not_queued = 0
        self.beats = 0
        self.last_error = ""
        self._sent_t: dict[str, float] = {}  # symbol: the tick time last published
        self._last = -math.inf
        self._last_beat = -math.inf

    def publish(self, state: EngineState, now: float | None = None) -> int:
        """Queue the indicators of each symbol with a tick newer than those published,
        unless the last publication is less than `every_s` ago; how many were queued."""
        now = time.monotonic() if now is None else now
        self.producer.poll(0)
        if now - self._last < self.every_s:
            return 0
        self._last = now
        queued = 0
        for i, symbol in enumerate(state.symbols):
            t = float(state.t_last[i])
            if not math.isfinite(t) or t <= self._sent_t.get(symbol, -math.inf):
                continue
            value = {
                "symbol": symbol, "t": t, **indicator_values(state, i),
                "n_ticks": int(state.n_ticks[i]), "open": json_number(float(state.open[i])),
                "drift_se": json_number(float(state.drift_se[i])),
                "additive": bool(state.additive[i]), "engine": self.engine,
            }  # fmt: skip
            try:
                self.producer.produce(
                    self.topic, _encoder.encode(value), key=symbol.encode(),
                    on_delivery=self._delivered,
                )  # fmt: skip
            except (BufferError, KafkaException) as exc:
                self._note(f"indicators of {symbol} not published: {exc}")
                self.failed += 1
                self.not_queued += 1
                continue
            self._sent_t[symbol] = t
            queued += 1
        self.published += queued
        self.producer.poll(0)
        return queued

    def beat(
        self,
        partitions: list[int],
        lags: list[int],
        ticks: int,
        signals: int,
        health: str,
        now: float | None = None,
        bad: Sequence[tuple[str, int]] = (),
        dead_lettered: int = 0,
    ) -> bool:
        """Queue this engine's heartbeat (key ``engine:NAME``; no ``symbol``: ``{"engine",
        "t" (wall time), "partitions", "lags" (of each, -1 unknown), "ticks", "signals",
        "health", "bad" (messages refused, by reason), "dlq" (of them dead-lettered)}``),
        at most once per `every_s` unless `health` is ``STOPPED`` (the last one); whether
        it was queued. A `--view` monitor shows each engine's partitions, lag and health
        from these, and the messages they refused."""
        now = time.monotonic() if now is None else now
        if health != "STOPPED" and now - self._last_beat < self.every_s:
            return False
        self._last_beat = now
        value = {
            "engine": self.engine, "t": time.time(), "partitions": partitions, "lags": lags,
            "ticks": ticks, "signals": signals, "health": health,
            "bad": dict(bad), "dlq": dead_lettered,
        }  # fmt: skip
        try:
            self.producer.produce(
                self.topic, _encoder.encode(value), key=f"engine:{self.engine}".encode(),
                on_delivery=self._beat_delivered,
            )  # fmt: skip
        except (BufferError, KafkaException) as exc:
            self._note(f"heartbeat not published: {exc}")
            return False
        self.beats += 1
        self.producer.poll(0)
        return True

    @property
    def left(self) -> int:
        """Updates queued that were neither delivered nor failed (yet)."""
        return undelivered(self.published, self.delivered, self.failed, self.not_queued)

    def close(self, timeout: float = FLUSH_S) -> None:
        """Deliver what is queued (at most `timeout` seconds)."""
        self.producer.flush(timeout)  # its count holds heartbeats and requests too
        if self.left:  # the summary says so; the log too (not twice on one line)
            log.warning("%d indicator updates were not delivered before it stopped", self.left)

    def summary(self) -> str:
        """What became of the updates (:func:`~producer.delivery.delivery_summary`)."""
        counts = (self.published, self.delivered, self.failed, self.not_queued)
        said = delivery_summary("indicator update", self.topic, *counts)
        return f"{said} ({self.beats:,} heartbeats beside them)"

    def _beat_delivered(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:  # not an update: counted in none of theirs
            self._note(f"heartbeat not delivered: {err.str()}")

    def _delivered(self, err: KafkaError | None, _msg: Message) -> None:
        if err is None:
            self.delivered += 1
        else:
            self.failed += 1
            self._note(f"indicators not delivered: {err.str()}")

    def _error(self, err: KafkaError) -> None:
        KAFKA_LOGGER.warning("indicators producer: %s", err.str())

    def _note(self, text: str) -> None:
        self.last_error = redact(text)
        log.warning("%s", text)
