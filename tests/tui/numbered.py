"""Numbered ticks for fault tests: a paced source whose event times number its ticks, a
producer thread that remembers which numbers a broker acknowledged, a reader of the
numbers in a recording, and the steps every such test takes around its fault: start
recording what the monitor reads, finish once it has read everything, check that every
acknowledged tick was read."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from confluent_kafka import Message

from producer.kafka_producer import ProducerThread
from producer.wire import Tick
from tests.tui.waiting import wait_for
from tests.waiting import wait_until
from tui.runtime.pipeline import Pipeline

#: Event seconds between numbered ticks: 500 ticks a second at speed 1.
STEP_S = 0.002


class NumberedSource:
    """Ticks numbered 0, 1, 2, ... by their event time, over eight symbols, paced."""

    paced = True
    limits: dict[str, tuple[float, float]] = {}  # noqa: RUF012 - never changed

    def __init__(self, step_s: float = STEP_S, gate: threading.Event | None = None) -> None:
        self.start = float(int(time.time()))
        self.step_s = step_s
        self.name = "numbered"
        #: Set when the first tick may go (a recording that must see every tick started).
        self.gate = gate

    def __iter__(self) -> Iterator[Tick]:
        if self.gate is not None:
            self.gate.wait(30.0)
        n = 0
        while True:
            yield Tick(f"N{n % 8}", 100.0 + (n % 5) * 0.01, self.start + n * self.step_s)
            n += 1

    def number(self, ts: float) -> int:
        return round((ts - self.start) / self.step_s)


class NumberedProducer(ProducerThread):
    """The producer thread, remembering the number of every tick a broker acknowledged."""

    def __init__(
        self, bootstrap: str, source: NumberedSource | None = None, **kwargs: object
    ) -> None:
        self.numbers = source or NumberedSource()
        super().__init__(bootstrap, self.numbers, **kwargs)  # type: ignore[arg-type]
        self.acked: set[int] = set()

    def _on_delivery(self, err: object, msg: Message) -> None:
        super()._on_delivery(err, msg)  # type: ignore[arg-type]
        if err is None:
            self.acked.add(self.numbers.number(json.loads(msg.value())["ts"]))


def read_numbers(recording: Path, source: NumberedSource) -> list[int]:
    """The numbers of the ticks in a recording (header first); a line a killed recorder
    left cut short is not a tick."""
    numbers: list[int] = []
    if not recording.exists():  # not yet created
        return numbers
    for line in recording.read_text().splitlines()[1:]:
        try:
            numbers.append(source.number(json.loads(line)["ts"]))
        except (ValueError, KeyError):
            continue
    return numbers


def check_numbers(producer: NumberedProducer, recording: Path) -> tuple[int, int]:
    """(acknowledged, read twice); fails naming the acknowledged ticks never read."""
    read = read_numbers(recording, producer.numbers)
    missing = sorted(producer.acked - set(read))
    assert not missing, f"{len(missing)} acknowledged ticks never read, first {missing[:10]}"
    twice = len(read) - len(set(read))
    stats = producer.stats()
    assert twice <= stats.resent  # only ticks sent again can be read twice
    # Every tick is delivered or failed once: sending it again does not count it twice.
    assert stats.finished and stats.delivered + stats.failed == stats.produced, stats
    return len(producer.acked), twice


def start_sending(pipeline: Pipeline, producer: NumberedProducer, recording: Path) -> None:
    """Record what the monitor reads to `recording`, start `producer`; returns once the
    broker has acknowledged 300 of its ticks."""
    start_recording(pipeline, recording)
    producer.start()
    wait_until(lambda: len(producer.acked) > 300, 20, what=lambda: str(producer.stats()))


def start_recording(pipeline: Pipeline, path: Path) -> None:
    """Record what the monitor reads to `path`; returns once it records."""
    pipeline.record(str(path))
    wait_for(pipeline, lambda s: s.recording is not None, 10)


def finish(pipeline: Pipeline, producer: NumberedProducer) -> None:
    """Stop the producer, let the consumer read what is left, stop the pipeline."""
    producer.stop()
    producer.join(5)
    stopped = time.time()
    try:
        wait_for(
            pipeline,
            lambda s: s.wall > stopped + 1.0 and s.kafka.health == "OK" and s.kafka.total_lag == 0,
            30,
        )
    finally:
        assert pipeline.stop(timeout=2.0)
