"""The monitor's own producer holds its source while the monitor's reader is far behind
(a replay at --speed max ran ahead of its monitor for good: 414,681 ticks and 20 s behind
and growing, every forecast stale)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from producer.broker import EmbeddedBroker
from producer.kafka_producer import (
    BACKLOG_EVERY,
    BACKLOG_MOST_S,
    BACKLOG_RESUME_S,
    ProducerThread,
)
from producer.topics import ensure_topics
from producer.wire import Tick
from tests.waiting import wait_until

pytestmark = pytest.mark.kafka


class _Ticks:
    name = "ticks"
    paced = False
    limits: dict[str, tuple[float, float]] = {}  # noqa: RUF012 - never changed

    def __iter__(self) -> Iterator[Tick]:
        start = time.time() - 100.0
        for i in range(5 * BACKLOG_EVERY):
            yield Tick("SEQ", 100.0 + i % 7, start + i * 0.001)


def test_the_producer_waits_while_its_reader_is_far_behind_and_goes_on_once_it_reads_up(
    broker: EmbeddedBroker, topic: str
) -> None:
    ensure_topics(broker.bootstrap, topic, 1)
    behind = [BACKLOG_MOST_S + 1]  # how far the reader is behind, as the test says
    thread = ProducerThread(broker.bootstrap, _Ticks(), topic=topic, backlog=lambda: behind[0])
    thread.start()
    try:
        wait_until(lambda: thread.stats().waiting == "the monitor to read up", 20)
        time.sleep(0.5)  # the passing of time: nothing is sent meanwhile
        assert thread.stats().produced == 0
        behind[0] = BACKLOG_RESUME_S + 1  # reading up, not far enough yet
        time.sleep(0.5)
        assert thread.stats().produced == 0
        behind[0] = BACKLOG_RESUME_S  # read up: on it goes, and so to the end
        wait_until(lambda: thread.stats().finished, 30, what=lambda: str(thread.stats()))
        stats = thread.stats()
        assert stats.produced == stats.delivered == 5 * BACKLOG_EVERY and stats.waiting == ""
    finally:
        thread.stop()
        thread.join(10)
