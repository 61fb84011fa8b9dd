"""Live input from a pipe: lines are read as they come, a quiet pipe never blocks
stopping, and the producer keeps its counters fresh while it waits."""

from __future__ import annotations

import os
import threading
import time

import pytest

from producer.broker import EmbeddedBroker
from producer.files import FileSource
from producer.kafka_producer import ProducerThread
from producer.pipe import PipeReader
from producer.topics import ensure_topics


def test_pipe_reader_returns_lines_and_the_tail_at_end_of_input() -> None:
    r, w = os.pipe()
    os.write(w, b"a,b\nlong-line-here\ntail")
    os.close(w)
    reader = PipeReader(r, threading.Event())
    assert reader.readline() == b"a,b\n"
    assert reader.readline(5) == b"long-"
    assert reader.readline() == b"line-here\n"
    assert reader.readline() == b"tail"
    assert reader.readline() == b""
    reader.close()


def test_a_quiet_pipe_does_not_block_a_stop() -> None:
    r, w = os.pipe()
    stop = threading.Event()
    reader = PipeReader(r, stop)
    got: list[bytes] = []
    t = threading.Thread(target=lambda: got.append(reader.readline()))
    t.start()
    stop.set()
    t.join(2)
    assert not t.is_alive(), "readline kept waiting after stop"
    assert got == [b""]
    os.close(w)
    reader.close()


@pytest.mark.kafka
def test_producer_on_a_quiet_pipe_reports_deliveries_and_stops(
    broker: EmbeddedBroker, topic: str
) -> None:
    ensure_topics(broker.bootstrap, topic, partitions=1)
    r, w = os.pipe()
    stop = threading.Event()
    source = FileSource("-", stream=PipeReader(r, stop))  # type: ignore[arg-type]
    thread = ProducerThread(broker.bootstrap, source, topic=topic)
    thread.start()
    os.write(w, b"ts,symbol,price\n1,A,10\n2,A,11\n3,B,5\n")  # then the pipe stays open
    deadline = time.monotonic() + 15
    while thread.stats().delivered < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert thread.stats().delivered == 3, "deliveries were not reported while the pipe was quiet"
    stop.set()
    thread.stop()
    thread.join(2)
    assert not thread.is_alive()
    assert thread.stats().finished and thread.stats().failed == 0
    os.close(w)
