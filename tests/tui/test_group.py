"""Headless engines in one consumer group split the topic's partitions between them, and
together read every tick exactly as one engine would."""

from __future__ import annotations

import itertools
import time

import pytest
from confluent_kafka import Producer

from engine import Signal
from producer.broker import EmbeddedBroker
from producer.generator import MarketGenerator
from producer.kafka_config import client_config
from producer.topics import ensure_topics
from producer.wire import encode
from tests.waiting import wait_until
from tui.runtime.consumer import NEW_SLACK_MS, ConsumerWorker

pytestmark = pytest.mark.kafka


def _produce(bootstrap: str, topic: str, n: int, linger_ms: int = 10) -> None:
    producer = Producer(client_config(bootstrap, **{"linger.ms": linger_ms}))
    for tick in itertools.islice(MarketGenerator(symbols=16, seed=9, start=1.7e9), n):
        producer.produce(topic, value=encode(tick), key=tick.symbol.encode())
        producer.poll(0)
    assert producer.flush(10) == 0


def test_two_engines_in_a_group_share_the_partitions(broker: EmbeddedBroker, topic: str) -> None:
    ensure_topics(broker.bootstrap, topic, partitions=4)
    signals: dict[str, list[Signal]] = {"a": [], "b": []}
    workers = {
        name: ConsumerWorker(
            broker.bootstrap,
            topic=topic,
            group=f"{topic}-engines",
            from_beginning=True,
            on_signals=signals[name].extend,
        )
        for name in signals
    }
    for w in workers.values():
        w.start()
    try:
        wait_until(  # the group has settled: 2 + 2
            lambda: all(
                (s := w.latest()) is not None and len(s.kafka.partitions) == 2
                for w in workers.values()
            ),
            40,
        )
        parts = [{p.partition for p in w.latest().kafka.partitions} for w in workers.values()]  # type: ignore[union-attr]
        assert parts[0].isdisjoint(parts[1]) and parts[0] | parts[1] == {0, 1, 2, 3}, parts

        n = 2000
        _produce(broker.bootstrap, topic, n)
        wait_until(
            lambda: sum(w.latest().kafka.consumed for w in workers.values()) >= n,  # type: ignore[union-attr]
            30,
        )
        counts = [w.latest().kafka.consumed for w in workers.values()]  # type: ignore[union-attr]
        assert sum(counts) == n and all(c > 0 for c in counts), counts
        # ticks are keyed by symbol: each symbol lives in exactly one engine
        symbols = [set(w.latest().engine.symbols) for w in workers.values()]  # type: ignore[union-attr]
        assert symbols[0].isdisjoint(symbols[1])
        assert len(symbols[0] | symbols[1]) == 16
    finally:
        for w in workers.values():
            w.stop()
        for w in workers.values():
            w.join(5)
    assert not any(w.is_alive() for w in workers.values())


@pytest.mark.parametrize("grouped", [True, False], ids=["group", "no-group"])
def test_a_reader_of_new_ticks_only_gets_every_new_tick_and_no_old_one(
    broker: EmbeddedBroker, topic: str, grouped: bool
) -> None:
    """`record --group` said "recording to" and left out the first 83 of 1,600 ticks: the
    ticks sent while the group formed came before the end librdkafka's reset found when
    the group handed the partitions over. And without a group a recording of new ticks
    only held 1,597 old ones: the embedded broker's answer to where a partition ends is
    the first offset of its newest batch plus one. A reader of new ticks only starts at
    the first tick sent since it started: none of the old, all of the new."""
    ensure_topics(broker.bootstrap, topic, partitions=4)
    _produce(broker.bootstrap, topic, 500, linger_ms=200)  # old, in a few large batches
    sent = time.time()  # old by more than the slack a reader gives other clocks:
    wait_until(lambda: time.time() > sent + NEW_SLACK_MS / 1000 + 0.2, 5)
    worker = ConsumerWorker(
        broker.bootstrap, topic=topic, group=f"{topic}-new" if grouped else None,
        from_beginning=False,
    )  # fmt: skip
    worker.start()
    try:
        # Sent at once, as `produce` started beside `record` would: before the group
        # has formed (here, as a rule: it takes the broker a second or more).
        wait_until(lambda: worker.latest() is not None, 20)
        assigned = bool(worker.latest().kafka.partitions)  # type: ignore[union-attr]
        n = 1000
        _produce(broker.bootstrap, topic, n)
        wait_until(
            lambda: worker.latest().kafka.consumed >= n,  # type: ignore[union-attr]
            30,
            what=lambda: f"{worker.latest().kafka.consumed} of {n} (assigned before: {assigned})",  # type: ignore[union-attr]
        )
        wait_until(lambda: worker.latest().kafka.total_lag == 0, 10)  # type: ignore[union-attr]
        assert worker.latest().kafka.consumed == n  # type: ignore[union-attr]
    finally:
        worker.stop()
        worker.join(5)
    assert not worker.is_alive()


class _Msg:
    def __init__(self, partition: int, ms: int, kind: int = 1) -> None:
        self._p, self._ms, self._kind = partition, ms, kind

    def partition(self) -> int:
        return self._p

    def error(self) -> None:
        return None

    def timestamp(self) -> tuple[int, int]:
        return (self._kind, self._ms)


def test_messages_sent_before_the_start_are_skipped_on_an_embedded_broker_only() -> None:
    """Of each partition, until it gives a message sent since the reader started; a
    message without a time is new. Only on an embedded broker, whose end of a partition
    can be short: elsewhere a topic stamped with its ticks' own times would lose them."""
    from confluent_kafka import TIMESTAMP_NOT_AVAILABLE

    class _Cluster:
        def __init__(self, cluster_id: str) -> None:
            self.cluster_id = cluster_id

        def list_topics(self, timeout: float) -> _Cluster:
            return self

    assert ConsumerWorker._embedded_broker(_Cluster("limitwatch-0a1b2c"))  # type: ignore[arg-type]
    assert not ConsumerWorker._embedded_broker(_Cluster("MkU3OEVBNTcwNTJENDM2Qk"))  # type: ignore[arg-type]
    worker = ConsumerWorker("127.0.0.1:1", topic="prices")
    worker._new_from_ms, worker._new_until = 10_000, time.monotonic() + 30
    worker._from_end = {0, 1, 2, 3}  # started at their end: none had a commit
    old, new = 5_000, 20_000
    msgs = [
        _Msg(0, old),
        _Msg(1, old),
        _Msg(0, new),
        _Msg(0, old),
        _Msg(2, 0, TIMESTAMP_NOT_AVAILABLE),
    ]
    kept = worker._since_start(msgs)  # type: ignore[arg-type]
    assert kept == msgs[2:] and worker.before_start == 2  # p0's later old one is read
    later = [_Msg(1, old), _Msg(1, new), _Msg(1, old), _Msg(4, old)]  # p4: at a commit
    assert worker._since_start(later) == later[1:] and worker.before_start == 3  # type: ignore[arg-type]
    assert worker._from_end == {3}
    worker._new_until = time.monotonic() - 1  # the look at the start is over: all read
    assert len(worker._since_start([_Msg(3, old)])) == 1 and not worker._from_end  # type: ignore[arg-type]


def test_a_group_reading_new_ticks_only_resumes_where_it_stopped(
    broker: EmbeddedBroker, topic: str
) -> None:
    """A group with commits goes on from them, however long ago the ticks since were
    sent: the check of a reader's start for ticks sent before it (on an embedded broker)
    had skipped the 300 sent while `record --group` was stopped."""
    ensure_topics(broker.bootstrap, topic, partitions=2)
    group = f"{topic}-resumed"

    def reader() -> ConsumerWorker:
        return ConsumerWorker(broker.bootstrap, topic=topic, group=group, from_beginning=False)

    first = reader()
    first.start()
    try:
        wait_until(lambda: (s := first.latest()) is not None and len(s.kafka.partitions) == 2, 30)
        _produce(broker.bootstrap, topic, 200)
        wait_until(lambda: first.latest().kafka.consumed == 200, 30)  # type: ignore[union-attr]
    finally:
        first.stop()
        first.join(10)  # its close commits what it read
    assert not first.is_alive()
    _produce(broker.bootstrap, topic, 300)  # while no reader runs
    sent = time.time()  # old by more than the slack a reader gives other clocks
    wait_until(lambda: time.time() > sent + NEW_SLACK_MS / 1000 + 0.2, 5)
    second = reader()
    second.start()
    try:
        wait_until(
            lambda: (s := second.latest()) is not None and s.kafka.consumed >= 300,
            30,
            what=lambda: f"{second.latest()} before the start skipped {second.before_start}",
        )
        assert second.latest().kafka.consumed == 300 and second.before_start == 0  # type: ignore[union-attr]
    finally:
        second.stop()
        second.join(10)
    assert not second.is_alive()


def test_a_partition_given_back_is_not_taken_for_lost_on_a_stale_high_mark() -> None:
    """A partition given back to an engine after a rebalance, not fetched yet, has the
    group's committed offset as its place, newer than the high mark its client cached
    when it last held it: on a slow broker that read as "past their end (the broker lost
    them)" twice, and the engine read two partitions again from their start (8,690 good
    ticks refused as old, signals fired twice). Only the client's own position counts;
    a position of its own past the end still does."""
    from confluent_kafka import TopicPartition

    class Client:
        def __init__(self, position: int, committed: int, high: int) -> None:
            self.at, self.committed_at, self.high = position, committed, high

        def position(self, parts: list[TopicPartition]) -> list[TopicPartition]:
            return [TopicPartition(p.topic, p.partition, self.at) for p in parts]

        def committed(self, parts: list[TopicPartition], timeout: float) -> list[TopicPartition]:
            return [TopicPartition(p.topic, p.partition, self.committed_at) for p in parts]

        def get_watermark_offsets(self, tp: TopicPartition, cached: bool) -> tuple[int, int]:
            return 0, self.high

    class Topics:
        def ask_soon(self) -> None:
            pass

    def looks(client: Client) -> set[int]:
        worker = ConsumerWorker("127.0.0.1:1", topic="prices", group="engines")
        worker._parts = [TopicPartition("prices", 2, -1001)]
        worker._topics = Topics()  # type: ignore[assignment]
        for _ in range(3):  # half a second apart, in the worker
            worker._measure_lag(client)  # type: ignore[arg-type]
        return worker._reset_due

    given_back = Client(position=-1001, committed=52_000, high=40_000)  # cached: stale
    assert looks(given_back) == set()
    lost = Client(position=52_000, committed=52_000, high=3_000)  # its own, past the end
    assert looks(lost) == {2}


def test_a_producer_keeps_a_topic_another_process_made(broker: EmbeddedBroker, topic: str) -> None:
    """An engine made the topic and was killed; the broker came back without it. No one
    made it again (each process kept only what it had created), so the producer waited
    for ever and the other engine said the group held every partition. A producer now
    keeps the topic it writes, with the partitions it found."""
    from confluent_kafka.admin import AdminClient

    from producer.topics import reach
    from tui.runtime.headless import _topics_kept
    from tui.runtime.parser import build_parser

    ensure_topics(broker.bootstrap, topic, partitions=3)  # made by another process
    args = build_parser().parse_args(
        ["produce", "--bootstrap-servers", broker.bootstrap, "--topic", topic]
    )
    assert _topics_kept(args).topics == {}  # a reader keeps only what it made (nothing)
    keeper = _topics_kept(args, writes=True)  # as `limitwatch produce` does
    assert keeper.topics == {topic: 3, f"{topic}.dlq": 1}
    admin = AdminClient(client_config(broker.bootstrap))
    for fut in admin.delete_topics([topic]).values():  # the broker lost it
        fut.result(10)
    keeper.start()
    try:
        wait_until(lambda: topic in reach(broker.bootstrap), 20, what="the topic made again")
        meta = admin.list_topics(topic, timeout=5).topics[topic]
        assert len(meta.partitions) == 3
    finally:
        keeper.stop()
        keeper.join(5)


def test_a_reader_of_new_ticks_reads_those_sent_since_its_command_began(
    broker: EmbeddedBroker, topic: str
) -> None:
    """`engine --no-from-beginning` took "new" from when its reading thread started,
    after the command had loaded and reached the cluster: the ticks of its first 1.2 s
    were skipped. Given when the command began, it reads them."""
    ensure_topics(broker.bootstrap, topic, partitions=2)
    began = time.time()
    _produce(broker.bootstrap, topic, 150)  # while the command loads
    wait_until(lambda: time.time() > began + NEW_SLACK_MS / 1000 + 0.5, 5)
    readers = {
        "began": ConsumerWorker(
            broker.bootstrap, topic=topic, group=f"{topic}-began", from_beginning=False,
            started_at=began,
        ),
        "now": ConsumerWorker(
            broker.bootstrap, topic=topic, group=f"{topic}-now", from_beginning=False
        ),
    }  # fmt: skip
    for worker in readers.values():
        worker.start()
    try:
        wait_until(
            lambda: (s := readers["began"].latest()) is not None and s.kafka.consumed >= 150,
            30,
            what=lambda: f"{readers['began'].latest()}",
        )
        wait_until(lambda: (s := readers["now"].latest()) is not None and s.kafka.partitions, 30)
        assert readers["began"].latest().kafka.consumed == 150  # type: ignore[union-attr]
        assert readers["now"].latest().kafka.consumed == 0  # type: ignore[union-attr]
    finally:
        for worker in readers.values():
            worker.stop()
            worker.join(10)
