"""A source that ends while the broker is slow or frozen: its last ticks are delivered,
not dropped. The stop's flush is bounded (STOP_FLUSH_S) for a stop asked for; at the
natural end of a file or --count the producer waits for the broker as it does during an
outage (a file of 150,000 ticks on a loaded broker ended with 35,650 failed)."""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from producer.broker import EmbeddedBroker
from producer.kafka_config import client_config
from producer.kafka_producer import STOP_FLUSH_S, ProducerThread
from producer.topics import ensure_topics
from producer.wire import Tick, decode
from tests.waiting import wait_until

pytestmark = pytest.mark.kafka

#: How long the broker stays frozen at the source's end: well past the stop's flush,
#: well within a message's timeout.
FREEZE_S = 3.0


class _FreezesAtTheEnd:
    """Ticks of one symbol; the broker frozen before the last ``frozen_for`` of them, let
    go FREEZE_S later."""

    name = "numbered"
    paced = False

    def __init__(self, pid: int, ticks: int, frozen_for: int) -> None:
        self.limits: dict[str, tuple[float, float]] = {}
        self.pid, self.ticks, self.frozen_for = pid, ticks, frozen_for
        self.thawed = threading.Event()

    def __iter__(self) -> Iterator[Tick]:
        start = time.time() - 100.0
        for i in range(self.ticks):
            if i == self.ticks - self.frozen_for:
                time.sleep(0.5)  # the ticks before delivered
                os.kill(self.pid, signal.SIGSTOP)
                threading.Timer(FREEZE_S, self._thaw).start()
            yield Tick("SEQ", 100.0 + i, start + i * 0.01)

    def _thaw(self) -> None:
        os.kill(self.pid, signal.SIGCONT)
        self.thawed.set()


def _prices(bootstrap: str, topic: str, want: int) -> set[float]:
    """The distinct prices the topic holds (a tick sent again counts once)."""
    c = Consumer(client_config(bootstrap, **{"group.id": f"{topic}-check"}))
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    seen: set[float] = set()
    deadline = time.monotonic() + 20
    try:
        while len(seen) < want and time.monotonic() < deadline:
            for msg in c.consume(1000, timeout=0.5):
                if msg.error() is None:
                    seen.add(decode(msg.value()).price)
    finally:
        c.close()
    return seen


@contextlib.contextmanager
def _ending_on_a_frozen_broker(topic: str) -> Iterator[tuple[EmbeddedBroker, ProducerThread]]:
    """A broker of its own, and a producer of 500 ticks started on it that freezes it
    before the last 300, waiting for them once its source has ended; the broker let go
    and stopped after."""
    broker = EmbeddedBroker()
    broker.start()
    source = None
    try:
        assert broker.pid is not None
        ensure_topics(broker.bootstrap, topic, partitions=1)
        source = _FreezesAtTheEnd(broker.pid, ticks=500, frozen_for=300)
        thread = ProducerThread(broker.bootstrap, source, topic=topic)  # type: ignore[arg-type]
        thread.start()
        # While it waits: alive, and saying what for.
        wait_until(lambda: "to be delivered" in thread.stats().waiting, 10,
                   what=lambda: str(thread.stats()))  # fmt: skip
        yield broker, thread
        assert source.thawed.wait(FREEZE_S + 1)
    finally:
        if source is not None and not source.thawed.wait(FREEZE_S + 1):
            os.kill(broker.pid, signal.SIGCONT)  # type: ignore[arg-type]
        broker.stop()


def test_a_source_that_ends_while_the_broker_is_frozen_has_every_tick_delivered(
    topic: str,
) -> None:
    with _ending_on_a_frozen_broker(topic) as (broker, thread):
        assert thread.is_alive() and not thread.stats().finished
        thread.join(FREEZE_S + 20)
        assert not thread.is_alive()
        stats = thread.stats()
        assert stats.finished and stats.produced == 500, stats
        assert (stats.delivered, stats.failed, stats.waiting) == (500, 0, ""), stats
        assert len(_prices(broker.bootstrap, topic, 500)) == 500


def test_a_stop_asked_for_still_bounds_the_flush(topic: str) -> None:
    """Stopped while the broker is frozen, the producer ends after its bounded flush and
    counts what is left as failed."""
    with _ending_on_a_frozen_broker(topic) as (_broker, thread):
        thread.stop()
        thread.join(STOP_FLUSH_S + 5)
        assert not thread.is_alive()
        stats = thread.stats()
        assert stats.finished and stats.produced == 500
        assert stats.delivered + stats.failed == 500 and stats.failed > 0, stats
        assert stats.flush_s is not None


class _Idle:
    """A client that holds nothing: every tick sent is delivered."""

    def __len__(self) -> int:
        return 0

    def poll(self, _timeout: float) -> int:
        return 0


def test_ticks_taken_back_with_the_broker_up_are_not_waited_for_for_ever() -> None:
    """Ticks taken back with no outage (an idempotence error that is not fatal) are sent
    again only once a lost broker is back: at the source's end the producer waited for
    them for ever, its broker healthy. They are counted failed, as before."""
    source = _FreezesAtTheEnd(pid=0, ticks=0, frozen_for=0)  # never read here
    thread = ProducerThread("127.0.0.1:1", source, topic="t")  # type: ignore[arg-type]
    thread._producer = _Idle()  # type: ignore[assignment]
    thread._produced, thread._delivered, thread._failed, thread._last_error = 1, 0, 0, ""
    thread._last_report = 0.0
    thread._window = collections.deque([(time.monotonic(), 0)])
    thread._taken_back = [(b"K", b"{}")]
    raised: list[BaseException] = []

    def deliver() -> None:
        try:
            thread._deliver_the_rest()
        except BaseException as exc:  # an error is no way out either
            raised.append(exc)

    done = threading.Thread(target=deliver, daemon=True)
    done.start()
    done.join(10)
    stopped = not done.is_alive()
    thread.stop()  # (the way out, where it did wait)
    assert stopped and not raised, raised
