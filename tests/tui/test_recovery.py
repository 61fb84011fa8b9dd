"""Brokers killed (SIGKILL) and restarted empty, for real: the embedded one and one given
with --bootstrap-servers. Numbered ticks check that every tick a broker acknowledged is
read by the monitor's consumer at least once, and count the ones read twice."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_INVALID, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from producer.broker import EmbeddedBroker
from producer.kafka_config import client_config
from producer.kafka_producer import ProducerThread
from producer.topics import create_missing, dlq_topic, ensure_topics
from tests.tui.numbered import (
    NumberedProducer,
    NumberedSource,
    check_numbers,
    finish,
    start_recording,
    start_sending,
)
from tests.tui.waiting import wait_for
from tests.waiting import wait_until
from tui.runtime.consumer import ConsumerWorker
from tui.runtime.pipeline import Pipeline, PipelineOptions
from tui.runtime.snapshot import Snapshot

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize("take_back_s", [2.0, 0.0], ids=["reports-in-time", "reports-late"])
def test_a_killed_embedded_broker_is_restarted_and_no_acknowledged_tick_is_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, take_back_s: float
) -> None:
    # With no time to wait for them, the lost client's reports all come late (as on a
    # loaded machine, where 3 of them once came after the 2 s): kept, heard, sent again.
    monkeypatch.setattr("producer.kafka_producer.TAKE_BACK_S", take_back_s)
    pipeline = Pipeline(PipelineOptions(source=None, partitions=2))
    pipeline.start()
    producer = NumberedProducer(pipeline.bootstrap)
    try:
        start_sending(pipeline, producer, tmp_path / "read.jsonl")
        assert pipeline.broker is not None and pipeline.broker.pid is not None
        before = wait_for(pipeline, lambda s: s.engine.n_ticks.sum() > 100).engine
        killed = pipeline.broker.pid
        os.kill(killed, signal.SIGKILL)
        acked = len(producer.acked)
        snap = wait_for(
            pipeline,
            lambda s: s.kafka.broker_restarts == 1 and s.kafka.health == "OK"
            and s.kafka.consumed > acked + 300,
            30,
        )  # fmt: skip
        assert pipeline.broker.pid != killed
        assert "restarted after exit -9" in snap.kafka.keeper
        assert "created again" in snap.kafka.recovery
        assert [p.partition for p in snap.kafka.partitions] == [0, 1]
        assert snap.producer is None or snap.producer.failed == 0
        # The history before the restart is still in the engine: no symbol started again.
        # (How far each partition is read at this moment depends on timing; that each
        # symbol kept its count from before the kill does not.)
        after = snap.engine
        # Every tick read, before the kill and after, is in the engine's counts.
        assert int(after.n_ticks.sum()) == snap.kafka.consumed
        kept = {s: (n, o) for s, n, o in zip(after.symbols, after.n_ticks, after.open, strict=True)}
        for symbol, n, first in zip(before.symbols, before.n_ticks, before.open, strict=True):
            assert kept[symbol][0] >= n and kept[symbol][1] == first, (symbol, n, kept[symbol])
    finally:
        finish(pipeline, producer)
    acknowledged, twice = check_numbers(producer, tmp_path / "read.jsonl")
    assert producer.stats().failed == 0
    print(f"embedded: {acknowledged} acknowledged, all read, {twice} read twice")


def test_a_broker_killed_again_while_the_ticks_go_out_again_loses_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded broker killed, and killed again twice just as the producer has sent
    again what the lost one may not have handed on (the copies still in its client):
    their failed deliveries were only logged, and the ticks the consumer had not read
    before the first kill were lost (killed by hand four times 1.2 s apart, the monitor
    read 1 to 69 fewer ticks than it sent). Each round now sends again what the last did
    not get out."""
    pipeline = Pipeline(PipelineOptions(source=None, partitions=2))
    pipeline.start()
    assert pipeline.broker is not None
    broker = pipeline.broker
    kills: list[int] = []
    send_again = ProducerThread._send_again

    def send_again_then_kill(self: ProducerThread, lost_at: float) -> None:
        send_again(self, lost_at)
        if len(kills) < 3 and broker.pid is not None:  # the copies are in the client now
            kills.append(broker.pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(broker.pid, signal.SIGKILL)

    monkeypatch.setattr(ProducerThread, "_send_again", send_again_then_kill)
    producer = NumberedProducer(pipeline.bootstrap)
    try:
        start_sending(pipeline, producer, tmp_path / "read.jsonl")
        wait_for(pipeline, lambda s: s.engine.n_ticks.sum() > 100)
        assert broker.pid is not None
        kills.append(broker.pid)
        os.kill(broker.pid, signal.SIGKILL)
        wait_until(lambda: len(kills) == 3, 60, what=lambda: f"{len(kills)} kills")
        acked = len(producer.acked)
        wait_for(
            pipeline,
            lambda s: s.kafka.health == "OK" and s.kafka.consumed > acked + 300,
            60,
        )  # fmt: skip
    finally:
        finish(pipeline, producer)
    acknowledged, twice = check_numbers(producer, tmp_path / "read.jsonl")
    assert producer.stats().failed == 0
    print(f"three kills: {acknowledged} acknowledged, all read, {twice} read twice")


def _reading(bootstrap: str, partitions: int, **options: Any) -> Pipeline:
    """A monitor's pipeline with no producer of its own reading `bootstrap`'s `prices`
    (set up with `partitions`), started."""
    pipeline = Pipeline(
        PipelineOptions(bootstrap=bootstrap, partitions=partitions, source=None, **options)
    )
    pipeline.start()
    return pipeline


def _restart_empty(cluster: EmbeddedBroker) -> None:
    """SIGKILL the broker, then start it again empty on the same port and cluster id."""
    assert cluster.pid is not None
    os.kill(cluster.pid, signal.SIGKILL)
    wait_until(lambda: not cluster.alive(), 5)
    cluster.stop()  # reaps it and removes its directory
    cluster.start()


def _until_read_again(pipeline: Pipeline, producer: NumberedProducer) -> Snapshot:
    """The first snapshot in which the reader has seen the topic created again and read
    300 ticks past those acknowledged until now."""
    acked = len(producer.acked)
    return wait_for(
        pipeline,
        lambda s: "created again" in s.kafka.recovery and s.kafka.consumed > acked + 300,
        30,
    )


def test_an_explicit_broker_restarted_empty_gets_our_topics_again_and_is_read_from_its_start(
    tmp_path: Path,
) -> None:
    with EmbeddedBroker() as cluster:
        pipeline = _reading(cluster.bootstrap, 3, from_beginning=True)
        producer = NumberedProducer(cluster.bootstrap)
        try:
            start_sending(pipeline, producer, tmp_path / "read.jsonl")
            _restart_empty(cluster)
            snap = _until_read_again(pipeline, producer)
            assert snap.kafka.topics_recreated == 2  # prices and prices.dlq, by limitwatch
            with AdminClient(client_config(cluster.bootstrap)) as admin:
                meta = admin.list_topics(timeout=5)
            assert len(meta.topics["prices"].partitions) == 3
            assert dlq_topic("prices") in meta.topics
        finally:
            finish(pipeline, producer)
    acknowledged, twice = check_numbers(producer, tmp_path / "read.jsonl")
    print(f"explicit: {acknowledged} acknowledged, all read, {twice} read twice")


def test_a_topic_that_comes_back_with_more_partitions_is_read_on_all_of_them(
    tmp_path: Path,
) -> None:
    with EmbeddedBroker() as cluster:
        ensure_topics(cluster.bootstrap, "prices", 3)  # not ours: never re-created by us
        pipeline = _reading(cluster.bootstrap, 3, from_beginning=True)
        producer = NumberedProducer(cluster.bootstrap)
        try:
            start_recording(pipeline, tmp_path / "read.jsonl")
            producer.start()
            wait_until(lambda: len(producer.acked) > 200, 20, what=lambda: str(producer.stats()))
            _restart_empty(cluster)
            snap = wait_for(
                pipeline, lambda s: s.kafka.topic_missing and s.kafka.health == "WARN", 20
            )
            assert "missing" in snap.kafka.recovery
            # Someone else's client creates it, as a broker's auto-creation would: 4 partitions.
            with AdminClient(client_config(cluster.bootstrap)) as admin:
                create_missing(admin, {"prices": 4}, 5.0)
            acked = len(producer.acked)
            snap = wait_for(
                pipeline,
                lambda s: len(s.kafka.partitions) == 4 and s.kafka.consumed > acked + 300,
                30,
            )
            assert "created again (4 partitions)" in snap.kafka.recovery
        finally:
            finish(pipeline, producer)
    acknowledged, twice = check_numbers(producer, tmp_path / "read.jsonl")
    print(f"auto-created: {acknowledged} acknowledged, all read, {twice} read twice")


def test_a_group_member_left_with_no_partitions_joins_again_when_the_topic_is_back(
    tmp_path: Path,
) -> None:
    """An engine in a group whose broker restarted empty, with the topic created again
    later by someone else: it joins the group again and reads every partition (it sat
    with none, saying OK, for minutes, in 2 of 3 tries)."""
    with EmbeddedBroker() as cluster:
        ensure_topics(cluster.bootstrap, "prices", 2)  # not ours: never re-created by us
        pipeline = _reading(cluster.bootstrap, 2, from_beginning=True, group="rejoin")
        producer = NumberedProducer(cluster.bootstrap)
        try:
            producer.start()
            wait_until(lambda: len(producer.acked) > 200, 20, what=lambda: str(producer.stats()))
            wait_for(pipeline, lambda s: len(s.kafka.partitions) == 2, 30)
            _restart_empty(cluster)
            wait_for(pipeline, lambda s: s.kafka.topic_missing, 30)
            time.sleep(8.0)  # the group gives up its members' partitions meanwhile
            with AdminClient(client_config(cluster.bootstrap)) as admin:
                create_missing(admin, {"prices": 2}, 5.0)
            acked = len(producer.acked)
            snap = wait_for(
                pipeline,
                lambda s: len(s.kafka.partitions) == 2 and s.kafka.consumed > acked + 300,
                60,
            )
            assert "created again (2 partitions)" in snap.kafka.recovery
        finally:
            finish(pipeline, producer)


@pytest.mark.parametrize("freeze_s", [0.0, 8.0], ids=["killed", "frozen-then-killed"])
def test_a_group_member_reading_new_ticks_reads_a_topic_created_again_from_its_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, freeze_s: float
) -> None:
    """A group member that reads only new ticks (record --group, engine
    --no-from-beginning), its broker restarted empty while ticks flow: everything the
    topic got since it was created again is new, and read. (It went on from its position
    in the lost topic, or from the new topic's end: 607 of 2,000 ticks never read.)

    And read once: the ticks sent again that it had read before the loss are dropped as
    read, as by a reader in no group. (Dropped by the group as the broker came back and
    given back the same partitions, it took its own state of them for an old one, started
    their symbols afresh and read every tick sent again as new: 299 ticks recorded twice
    here. Frozen past the group's session timeout before it is killed, the broker has
    the group drop the reader before the loss of the broker is known: 291 ticks
    recorded twice here.)"""
    with EmbeddedBroker() as cluster:
        pipeline = _reading(cluster.bootstrap, 2, from_beginning=False, group="new-ticks")
        producer = NumberedProducer(cluster.bootstrap)
        try:
            wait_for(pipeline, lambda s: len(s.kafka.partitions) == 2, 30)
            start_sending(pipeline, producer, tmp_path / "read.jsonl")
            if freeze_s:
                assert cluster.pid is not None
                os.kill(cluster.pid, signal.SIGSTOP)
                time.sleep(freeze_s)  # past the session timeout (6 s): the group drops it
            _restart_empty(cluster)
            ensure_topics(cluster.bootstrap, "prices", 2)  # as a keeper of the topic would
            _until_read_again(pipeline, producer)
        finally:
            finish(pipeline, producer)
        _acknowledged, twice = check_numbers(producer, tmp_path / "read.jsonl")
    assert producer.stats().resent > 0
    afresh = [r.getMessage() for r in caplog.records if "start afresh" in r.getMessage()]
    assert twice == 0 and not afresh, (twice, afresh)


def test_a_group_commits_nothing_on_a_broker_back_from_a_loss_until_its_topic_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Positions in a topic that was lost are not the new topic's: committed to a broker
    that came back empty, they send the group's next reader (the same one, dropped by the
    group as the broker came back) past the new topic's first ticks. So a group reader
    commits nothing after losing its broker until the topic is checked (the check is held
    back here for 8 s), and reads nothing either. (librdkafka's automatic commits had
    committed 1,407 and 1,404 by then, positions read in the new topic from the old ones,
    and ticks were read twice that were never sent twice.)"""
    checked = threading.Event()
    watch = ConsumerWorker._watch_topic

    def slow_to_check(self: ConsumerWorker, consumer: Any, now: float) -> bool:
        return watch(self, consumer, now) if checked.is_set() else False

    with EmbeddedBroker() as cluster:
        pipeline = _reading(cluster.bootstrap, 2, from_beginning=False, group="held")
        producer = NumberedProducer(cluster.bootstrap)
        try:
            wait_for(pipeline, lambda s: len(s.kafka.partitions) == 2, 30)
            start_sending(pipeline, producer, tmp_path / "read.jsonl")
            wait_for(pipeline, lambda s: s.kafka.consumed > 300, 20)
            time.sleep(1.5)  # past a commit interval: the positions are committed
            monkeypatch.setattr(ConsumerWorker, "_watch_topic", slow_to_check)
            _restart_empty(cluster)
            ensure_topics(cluster.bootstrap, "prices", 2)
            time.sleep(8.0)  # ticks flow to the new topic; the group re-forms meanwhile
            looker = Consumer(client_config(cluster.bootstrap, **{"group.id": "held"}))
            try:
                committed = looker.committed(
                    [TopicPartition("prices", p) for p in (0, 1)], timeout=10
                )
            finally:
                looker.close()
            assert [tp.offset for tp in committed] == [OFFSET_INVALID] * 2
            checked.set()
            _until_read_again(pipeline, producer)
        finally:
            checked.set()
            finish(pipeline, producer)
        check_numbers(producer, tmp_path / "read.jsonl")


@pytest.mark.parametrize("take_back_s", [2.0, 0.0], ids=["reports-in-time", "reports-late"])
def test_an_idempotent_producer_carries_on_after_its_broker_restarted_empty(
    monkeypatch: pytest.MonkeyPatch, take_back_s: float
) -> None:
    monkeypatch.setattr("producer.kafka_producer.TAKE_BACK_S", take_back_s)
    # Such a producer used to fail fatally (UNKNOWN_PRODUCER_ID) and stop: the thread now
    # takes a new client after every loss of its broker, and one after a fatal error.
    with EmbeddedBroker() as cluster:
        ensure_topics(cluster.bootstrap, "prices", 2)
        producer = NumberedProducer(cluster.bootstrap, client_settings={"enable.idempotence": True})
        producer.start()
        try:
            wait_until(lambda: len(producer.acked) > 200, 20, what=lambda: str(producer.stats()))
            _restart_empty(cluster)
            ensure_topics(cluster.bootstrap, "prices", 2)
            before = producer.stats().delivered
            # Until it has sent again what the loss took (more delivered alone could come
            # before the client noticed the loss: stopped amid its recovery, the ticks
            # held then are counted failed, as they should be).
            wait_until(
                lambda: producer.stats().delivered > before + 300 and producer.stats().resent > 0,
                30,
                what=lambda: str(producer.stats()),
            )
        finally:
            producer.stop()
            producer.join(5)
        stats = producer.stats()
        assert stats.failed == 0 and not stats.last_error, (stats.failed, stats.last_error, stats)
        assert stats.resent > 0


def test_at_its_memory_budget_the_embedded_broker_is_restarted_empty_losing_no_tick(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pipeline's own producer thread, numbering what it sends, 5,000 ticks a second.
    made: list[NumberedProducer] = []

    def numbered(*args: object, **kwargs: object) -> NumberedProducer:
        made.append(NumberedProducer(*args, **kwargs))  # type: ignore[arg-type]
        return made[-1]

    monkeypatch.setattr("tui.runtime.pipeline.ProducerThread", numbered)
    # The first tick waits for the recording: on a loaded machine the monitor read the
    # first 28 before it recorded, and they were "never read".
    gate = threading.Event()
    source = NumberedSource(step_s=0.0002, gate=gate)
    pipeline = Pipeline(PipelineOptions(source=source, partitions=2))
    pipeline.start()
    (producer,) = made
    try:
        start_recording(pipeline, tmp_path / "read.jsonl")
        gate.set()
        assert pipeline.keeper is not None and pipeline.broker is not None
        fresh = pipeline.broker.rss_bytes()
        assert fresh is not None
        pipeline.keeper.budget_bytes = fresh + 4 * 2**20  # a few seconds of ticks
        first = pipeline.broker.pid
        words: set[str] = set()

        def restarted(s: Snapshot) -> bool:
            words.add(s.kafka.health)
            return (
                s.kafka.broker_restarts >= 1
                and s.kafka.consumed > len(producer.acked) // 2
                and "paused" in s.kafka.keeper
            )

        snap = wait_for(pipeline, restarted, 60)
        assert pipeline.broker.pid != first
        # The pause is shown as one, not as a broker that went DOWN.
        assert "PAUSE" in words and "DOWN" not in words, words
        assert "restarted empty at its budget" in snap.kafka.keeper
        status = pipeline.keeper.status()
        assert status.last_pause_s == status.last_pause_s  # measured (not NaN)
        assert snap.producer is not None and not snap.producer.paused
    finally:
        pipeline.set_paused(True)  # the pipeline's producer: stopped with it below
        stopped = time.time()
        try:
            wait_for(
                pipeline,
                lambda s: s.wall > stopped + 1.0 and s.kafka.total_lag == 0
                and s.producer is not None and s.producer.paused,
                30,
            )  # fmt: skip
        finally:
            assert pipeline.stop(timeout=2.0)
    acknowledged, twice = check_numbers(producer, tmp_path / "read.jsonl")
    print(f"budget: {acknowledged} acknowledged, all read, {twice} read twice, {status.state}")


def test_a_member_reading_new_ticks_only_is_not_behind_the_ticks_before_it() -> None:
    """A group member that reads only new ticks, in a group with nothing committed, starts
    at each partition's end, and with nothing new its client has no position there: the
    lag was measured from each partition's start (`lag 1,005, STALL` for as long as no
    tick came). Measured from where it starts: nothing."""
    with EmbeddedBroker() as cluster:
        ensure_topics(cluster.bootstrap, "prices", 2)
        producer = NumberedProducer(cluster.bootstrap)
        producer.start()
        wait_until(lambda: len(producer.acked) > 300, 20, what=lambda: str(producer.stats()))
        producer.stop()
        producer.join(5)
        pipeline = _reading(cluster.bootstrap, 2, from_beginning=False, group="only-new")
        try:
            snap = wait_for(
                pipeline,
                lambda s: (
                    len(s.kafka.partitions) == 2 and all(p.high > 0 for p in s.kafka.partitions)
                ),
                30,
            )
            time.sleep(4.0)  # past the STALL a lag with no tick coming made
            snap = pipeline.latest()
            assert snap is not None
            assert snap.kafka.total_lag == 0 and snap.kafka.health == "OK", snap.kafka
        finally:
            assert pipeline.stop(timeout=5.0)


def test_ticks_still_unread_when_the_topic_goes_with_its_broker_are_said_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A consumer behind when its broker restarted empty: when the topic comes back it
    says how many ticks it had not read yet (an engine fed a file at full speed read
    71,140 of 1,000,000 and said only that the topic was read from its start)."""
    ingest = ConsumerWorker._ingest

    def slow(self: ConsumerWorker, msgs: list[Any], replay: bool = False) -> None:
        time.sleep(0.05)  # 50 at a time (below): 1,000 ticks/s, slower than the producer
        ingest(self, msgs, replay)

    monkeypatch.setattr(ConsumerWorker, "_ingest", slow)
    with EmbeddedBroker() as cluster:
        ensure_topics(cluster.bootstrap, "prices", 2)  # not ours: never re-created by us
        pipeline = _reading(cluster.bootstrap, 2, from_beginning=True)
        assert pipeline.worker is not None
        pipeline.worker.batch_size = 50
        try:
            with Producer(client_config(cluster.bootstrap)) as sender:
                for i in range(30_000):
                    tick = {"symbol": f"S{i % 50}", "price": 100.0 + i % 7, "ts": 1.7e9 + i}
                    sender.produce("prices", json.dumps(tick).encode(), key=f"S{i % 50}")
                    if i % 1000 == 0:
                        sender.poll(0)
                assert sender.flush(30) == 0
            behind = wait_for(pipeline, lambda s: s.kafka.total_lag > 5_000, 30).kafka
            _restart_empty(cluster)
            wait_for(pipeline, lambda s: s.kafka.topic_missing, 30)
            with AdminClient(client_config(cluster.bootstrap)) as admin:
                create_missing(admin, {"prices": 2}, 5.0)
            snap = wait_for(pipeline, lambda s: "created again" in s.kafka.recovery, 30)
        finally:
            pipeline.stop()
    said = re.search(
        r"were lost with the old one \(the lag last seen: ([\d,]+)\)", snap.kafka.recovery
    )
    assert said is not None, snap.kafka.recovery
    lost = int(said.group(1).replace(",", ""))
    # The lag at the last reading before the broker went: at most what was still unread
    # once it passed 5,000 (the producer had stopped; not the lag read then, which on a
    # loaded machine came of ends fetched before the last ticks were in: 5,091, and
    # 22,251 at the last reading), and not more than was unread then (the reader kept
    # reading for up to a reading's 0.5 s after it, 50 ticks a 0.05 s).
    assert 0 < lost <= 30_000 - behind.consumed, (lost, behind.consumed)
    assert lost <= 30_000 - snap.kafka.consumed + 1_000, (lost, snap.kafka.consumed)
