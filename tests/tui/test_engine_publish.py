"""`limitwatch engine` publishes each signal to the signals topic (key: symbol; JSON with
the signal's stable id) and commits its input offsets only once those are delivered: a
real engine process on the embedded broker, read back with an independent client."""

from __future__ import annotations

import itertools
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from engine import Engine, EngineConfig
from producer.broker import EmbeddedBroker
from producer.generator import MarketGenerator
from producer.kafka_config import client_config
from producer.topics import ensure_topics
from tests.waiting import wait_until
from tui.runtime.indicators import IndicatorPublisher
from tui.runtime.publish import SignalPublisher

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]


def produce_crash(bootstrap: str, topic: str, log: str) -> str:
    """Send the shipped crash scenario to `topic` with `limitwatch produce`; what it said."""
    produced = subprocess.run(
        [sys.executable, "-m", "tui.cli", "produce", "--bootstrap-servers", bootstrap,
         "--topic", topic, "--speed", "max", "--log-file", log,
         "--source", str(ROOT / "scenarios" / "crash.jsonl")],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert produced.returncode == 0, produced.stderr
    return produced.stderr


def _committed(bootstrap: str, topic: str, group: str) -> int:
    """How many of `topic`'s messages the group has committed, all partitions together
    (each partition's first offset is 0 on a new topic)."""
    c = Consumer(client_config(bootstrap, **{"group.id": group, "enable.auto.commit": False}))
    try:
        parts = [TopicPartition(topic, p) for p in range(4)]
        return sum(max(tp.offset, 0) for tp in c.committed(parts, timeout=5))
    finally:
        c.close()


def _read_all(
    bootstrap: str, topic: str, expected: int, partitions: int = 4, settle_s: float = 0.0
) -> list[tuple[bytes, dict]]:
    """At least `expected` messages of `topic`, in each partition's order; then whatever
    else arrives within `settle_s` seconds."""
    c = Consumer(client_config(bootstrap, **{"group.id": f"{topic}-reader"}))
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got: list[tuple[bytes, dict]] = []

    def enough() -> bool:
        for msg in c.consume(100, timeout=0.2):
            if msg.error() is None:
                got.append((msg.key(), json.loads(msg.value())))
        return len(got) >= expected

    try:
        wait_until(enough, 20, what=lambda: f"{len(got)} of {expected} read")
        if settle_s:
            for msg in c.consume(1000, timeout=settle_s):
                if msg.error() is None:
                    got.append((msg.key(), json.loads(msg.value())))
    finally:
        c.close()
    return got


def test_engine_publishes_signals_and_commits_after_delivery(
    broker: EmbeddedBroker, topic: str, tmp_path: Path
) -> None:
    log = str(tmp_path / "l.log")
    group, signals_topic = f"{topic}-engines", f"{topic}-signals"
    indicators_topic = f"{topic}-indicators"
    ensure_topics(broker.bootstrap, topic, partitions=4)
    said = produce_crash(broker.bootstrap, topic, log)
    ticks = 260  # the scenario's lines after its header
    assert f"{ticks} produced, {ticks} delivered" in said
    engine = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "engine", "--bootstrap-servers", broker.bootstrap,
         "--topic", topic, "--group", group, "--signals-topic", signals_topic,
         "--indicators-topic", indicators_topic, "--limit", "CYGN=48.5:60", "--log-file", log],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()
    threading.Thread(target=lambda: [lines.put(x) for x in engine.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        # every tick read and its offsets committed while the engine runs
        wait_until(
            lambda: _committed(broker.bootstrap, topic, group) == ticks,
            60,
            what=lambda: f"committed {_committed(broker.bootstrap, topic, group)} of {ticks}",
        )
    finally:
        engine.send_signal(signal.SIGTERM)  # as a service manager stops it: drain, commit
        _, err = engine.communicate(timeout=15)
    assert engine.returncode == 0, err
    printed = []
    while not lines.empty():
        printed.append(json.loads(lines.get()))
    assert any(x["kind"] == "BUY" and x["symbol"] == "CYGN" for x in printed), printed
    said = f"{len(printed):,} signal{'' if len(printed) == 1 else 's'} published to {signals_topic}"
    assert said in err, err
    assert f"{len(printed):,} delivered, 0 failed" in err, err

    published = _read_all(broker.bootstrap, signals_topic, len(printed))
    assert sorted(x["id"] for _, x in published) == sorted(x["id"] for x in printed)
    assert all(key == x["symbol"].encode() for key, x in published)
    assert len({x["id"] for _, x in published}) == len(published)  # one run: no duplicate
    by_id = {x["id"]: x for x in printed}
    assert all(by_id[x["id"]] == x for _, x in published)  # the same JSON as printed

    # Each symbol's indicators and forecasts, the latest last: those of its last tick,
    # as the backtest of the same file ends with.
    assert re.search(rf"indicator updates? published to {indicators_topic}\b", err), err
    said = re.search(r"([\d,]+) indicator updates? published to \S+, ([\d,]+) delivered", err)
    assert said is not None and said[1] == said[2], err  # heartbeats not counted as updates
    updates = _read_all(broker.bootstrap, indicators_topic, 2, partitions=4, settle_s=1.0)
    latest = {key.decode(): value for key, value in updates}
    # The engine's heartbeats (no symbol), its last saying it stopped, with its partitions.
    beats = [k for k in latest if k.startswith("engine:")]
    assert len(beats) == 1, latest.keys()
    last_beat = latest.pop(beats[0])
    assert last_beat["health"] == "STOPPED" and "symbol" not in last_beat
    assert last_beat["partitions"] == [0, 1, 2, 3] and last_beat["ticks"] == ticks
    assert set(latest) == {"CYGN", "DRVX"}
    backtest = subprocess.run(  # with the engine's default settings, not the header's
        [sys.executable, "-m", "tui.cli", "--log-file", log, "backtest", "--json",
         "--limit", "CYGN=48.5:60", "--fast", "20", "--slow", "100", "--halflife", "30",
         str(ROOT / "scenarios" / "crash.jsonl")],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    final = json.loads(backtest.stdout.splitlines()[-1])["symbols"]
    for symbol, value in latest.items():
        assert value["symbol"] == symbol and value["engine"]
        for column in ("last", "sma_fast", "sma_slow", "ema", "vol"):
            assert value[column] == pytest.approx(final[symbol][column]), (symbol, column)
    # The limits of CYGN, given to both; DRVX's: the engine's band (it never reads the
    # scenario's header), the backtest's from the header.
    assert (latest["CYGN"]["buy"], latest["CYGN"]["sell"]) == (48.5, 60.0)


def test_publishing_can_be_turned_off_and_the_topic_named() -> None:
    from tui.runtime.parser import build_parser

    args = build_parser().parse_args(["engine", "--no-publish", "--signals-topic", "x"])
    assert args.publish is False and args.signals_topic == "x"
    assert build_parser().parse_args(["engine"]).signals_topic == "signals"


def test_offsets_are_not_committed_while_signals_are_not_delivered(
    broker: EmbeddedBroker, topic: str
) -> None:
    from confluent_kafka import Producer

    from producer.kafka_config import Connection
    from producer.scenario import ScenarioReader
    from producer.wire import encode
    from tui.runtime.consumer import ConsumerWorker
    from tui.runtime.publish import SignalPublisher

    ensure_topics(broker.bootstrap, topic, partitions=4)
    producer = Producer(client_config(broker.bootstrap, **{"linger.ms": 5}))
    scenario = ScenarioReader(ROOT / "scenarios" / "crash.jsonl")
    for tick in scenario:  # 260 ticks: CYGN falls through its buy limit
        producer.produce(topic, value=encode(tick), key=tick.symbol.encode())
    assert producer.flush(10) == 0
    # signals go to a cluster that is not there: never delivered, failed after 1.5 s
    nowhere = Connection("127.0.0.1:1", {"message.timeout.ms": "1500"})
    publisher = SignalPublisher(nowhere, f"{topic}-signals", commit_interval_s=0.1)
    group = f"{topic}-engines"
    worker = ConsumerWorker(
        broker.bootstrap, topic=topic, group=group, limits=dict(scenario.limits),
        on_signals=publisher.publish, committer=publisher,
    )  # fmt: skip
    worker.start()
    try:
        wait_until(lambda: (s := worker.latest()) is not None and s.kafka.consumed == 260, 40)
        assert publisher.published > 0
        wait_until(lambda: publisher.failed > 0, 20)
    finally:
        worker.stop()
        worker.join(10)
    assert not worker.is_alive()
    assert publisher.commits == 0
    assert _committed(broker.bootstrap, topic, group) == 0


def test_a_frozen_broker_never_holds_the_engine_in_a_commit() -> None:
    """The periodic commit does not wait for the broker: with the broker frozen (SIGSTOP:
    its connections kept, no answer) it returns while the broker is still frozen, and
    its answer is counted once the broker is let go. (It waited for the answer, and a
    headless engine stood in it for as long as the broker stayed frozen, printing its
    last health, OK, meanwhile.)"""
    with EmbeddedBroker() as cluster:
        ensure_topics(cluster.bootstrap, "ticks", partitions=1, dead_letters=False)
        publisher = SignalPublisher(cluster.bootstrap, commit_interval_s=0.0)
        consumer = Consumer(
            client_config(cluster.bootstrap, **{
                "group.id": "frozen-commit", "enable.auto.commit": False,
                "auto.offset.reset": "earliest", "on_commit": publisher.committed,
            })
        )  # fmt: skip
        producer = Producer(client_config(cluster.bootstrap))
        consumer.subscribe(["ticks"])

        def read_more(n: int) -> None:
            for i in range(n):
                producer.produce("ticks", key=b"A", value=b'{"n": %d}' % i)
            producer.flush(10)
            got = []

            def all_read() -> bool:
                got.extend(consumer.consume(100, 0.2))
                return len(got) >= n

            wait_until(all_read, 30)

        try:
            read_more(5)
            assert publisher.commit(consumer)
            wait_until(lambda: consumer.poll(0.1) is None and publisher.commits == 1, 20)
            read_more(5)  # something new to commit
            assert cluster.pid is not None
            os.kill(cluster.pid, signal.SIGSTOP)
            try:
                committing = threading.Thread(target=publisher.commit, args=(consumer,))
                committing.start()
                committing.join(15.0)
                returned_while_frozen = not committing.is_alive()
            finally:
                os.kill(cluster.pid, signal.SIGCONT)
            committing.join(60.0)
            assert returned_while_frozen
            wait_until(
                lambda: consumer.poll(0.1) is None and publisher.commits == 2, 60,
                what=lambda: f"commits {publisher.commits}, {publisher.last_error}",
            )  # fmt: skip
        finally:
            consumer.close()


def test_a_commit_answered_after_a_hand_over_is_no_error() -> None:
    """Partitions that went to another member during a freeze or a broker restart answer
    a commit with 'unknown member' or 'assignment lost': logged, never the engine's last
    error (its closing line repeated one from long before); other failures are reported,
    and each one has the positions asked again."""
    publisher = SignalPublisher("127.0.0.1:1")
    for code in (KafkaError.UNKNOWN_MEMBER_ID, KafkaError._ASSIGNMENT_LOST):
        publisher._committed_at = {("prices", 0): 5}
        publisher.committed(KafkaError(code), [])
        assert publisher.last_error == "" and publisher._committed_at == {}
    publisher.committed(KafkaError(KafkaError.COORDINATOR_NOT_AVAILABLE), [])
    assert publisher.last_error.startswith("commit: ")
    assert publisher.last_error.endswith("reads again from the last commit)")
    publisher.committed(None, [])
    assert publisher.commits == 1


def test_the_close_waits_for_deliveries_once_not_once_for_the_commit_and_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the broker frozen, the forced commit at the close waited FLUSH_S for the
    signals, none came, and the close then waited FLUSH_S again: an engine held 4 s of
    its 5 at Ctrl-C there. Both now share one FLUSH_S."""
    import tui.runtime.publish as publish

    clock = [100.0]
    monkeypatch.setattr(publish.time, "monotonic", lambda: clock[0])
    waits: list[float] = []

    class Frozen:  # nothing is ever delivered: each flush waits its whole timeout
        def flush(self, timeout: float) -> int:
            waits.append(timeout)
            clock[0] += timeout
            return 3

        def poll(self, _timeout: float) -> int:
            return 0

        def __len__(self) -> int:
            return 3

    class Consumer:
        def assignment(self) -> list[object]:
            raise AssertionError("no commit may be asked: the signals were not out")

    publisher = SignalPublisher("127.0.0.1:1")
    publisher.producer = Frozen()  # type: ignore[assignment]
    publisher.close(Consumer())  # type: ignore[arg-type]
    assert waits == [publish.FLUSH_S, 0.0]
    assert publisher.commits == 0


def test_a_stop_with_the_broker_frozen_gives_counts_that_add_up() -> None:
    """Stopped while its broker was frozen, the engine said "56 indicator updates
    published, 44 delivered, 0 failed" beside "17 were not delivered" (librdkafka's
    queue count holds requests and heartbeats too): now published = delivered + failed +
    not delivered, for the signals and the updates alike."""
    gen = MarketGenerator(symbols=6, seed=3, start=1.7e9)
    engine = Engine(EngineConfig(fast=3, slow=8))
    for symbol, (buy, sell) in gen.limits.items():
        engine.set_limits(symbol, buy=buy, sell=sell)
    ticks = list(itertools.islice(gen, 3000))
    ids = np.asarray(engine.register([t.symbol for t in ticks]), dtype=np.int32)
    signals = engine.update(
        ids, np.array([t.ts for t in ticks]), np.array([t.price for t in ticks])
    )
    assert len(signals) > 20
    half = len(signals) // 2
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap, "sig-frozen", partitions=1)
        publisher = SignalPublisher(broker.bootstrap, topic="sig-frozen")
        indicators = IndicatorPublisher(broker.bootstrap, "ind-frozen", partitions=1, every_s=0)
        publisher.publish(signals[:half])
        indicators.publish(engine.state())
        indicators.beat([0], [0], len(ticks), len(signals), "OK")
        publisher.producer.flush(10)
        indicators.producer.flush(10)
        os.kill(broker.pid, signal.SIGSTOP)
        try:
            publisher.publish(signals[half:])
            engine.update(ids[:6], np.array([ticks[-1].ts + 1.0 + i for i in range(6)]),
                          np.array([t.price for t in ticks[:6]]))  # fmt: skip
            indicators.publish(engine.state(), now=1e12)
            indicators.beat([0], [0], len(ticks), len(signals), "STOPPED")
            indicators.close()
            said_updates = indicators.summary()
            said_signals = publisher.summary()
        finally:
            os.kill(broker.pid, signal.SIGCONT)
    for said, what in ((said_signals, "signals"), (said_updates, "indicator updates")):
        counts = re.search(
            rf"([\d,]+) {what} published to \S+, ([\d,]+) delivered, ([\d,]+) failed"
            r"(?:, ([\d,]+) not delivered when it stopped)?",
            said,
        )
        assert counts is not None, said
        total, delivered, failed, left = (int((c or "0").replace(",", "")) for c in counts.groups())
        assert total == delivered + failed + left and left > 0, said
    plural = "" if len(signals) == 1 else "s"
    assert said_signals.startswith(f"{len(signals):,} signal{plural} published"), said_signals


def test_an_engine_that_publishes_nothing_still_says_what_it_did_when_stopped(
    broker: EmbeddedBroker, topic: str, tmp_path: Path
) -> None:
    """`engine --no-publish` stopped by SIGTERM printed nothing at all."""
    log = str(tmp_path / "l.log")
    ensure_topics(broker.bootstrap, topic, partitions=4)
    produce_crash(broker.bootstrap, topic, log)
    engine = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "engine", "--bootstrap-servers", broker.bootstrap,
         "--topic", topic, "--group", f"{topic}-quiet", "--no-publish", "--log-file", log],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()
    threading.Thread(target=lambda: [lines.put(x) for x in engine.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        wait_until(lambda: _committed(broker.bootstrap, topic, f"{topic}-quiet") >= 260, 30,
                   what="the 260 ticks read and committed")  # fmt: skip
    finally:
        engine.send_signal(signal.SIGTERM)
        _, err = engine.communicate(timeout=15)
    printed = 0
    while not lines.empty():
        printed += bool(lines.get().strip())
    assert engine.returncode == 0, err
    assert (
        f"260 ticks read, {printed:,} signal" in err and "none published (--no-publish)" in err
    ), err


@pytest.mark.parametrize("publish", ["--publish", "--no-publish"])
def test_an_engine_that_cannot_write_its_signals_stops_and_commits_none_of_them(
    broker: EmbeddedBroker, topic: str, tmp_path: Path, publish: str
) -> None:
    """Standard output on a full disk: the engine says so and exits 1, and the group's
    offsets stay before the ticks whose signals were never written (they had been
    committed: a run after it missed those signals, and the first had exited 0)."""
    log = str(tmp_path / "l.log")
    group = f"{topic}-engines"
    ensure_topics(broker.bootstrap, topic, partitions=4)
    produce_crash(broker.bootstrap, topic, log)
    run = [sys.executable, "-m", "tui.cli", "engine", "--bootstrap-servers", broker.bootstrap,
           "--topic", topic, "--group", group, "--signals-topic", f"{topic}-signals",
           "--limit", "CYGN=48.5:60", "--log-file", log, publish]  # fmt: skip
    with open("/dev/full", "w") as full:
        failed = subprocess.run(run, cwd=ROOT, stdout=full, stderr=subprocess.PIPE, text=True,
                                timeout=60)  # fmt: skip
    assert failed.returncode == 1, failed.stderr
    assert "cannot be written to standard output (No space left on device)" in failed.stderr
    assert "Traceback" not in failed.stderr and "Exception ignored" not in failed.stderr
    assert _committed(broker.bootstrap, topic, group) < 260
    # The next run prints every signal that a run of a group that never failed prints.
    clean = [*run[: run.index("--group") + 1], f"{topic}-clean", *run[run.index("--group") + 2 :]]
    runs = {
        name: subprocess.Popen(
            argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for name, argv in ((group, run), (f"{topic}-clean", clean))
    }

    def done(name: str) -> bool:
        return _committed(broker.bootstrap, topic, name) == 260

    try:
        for name in runs:
            wait_until(lambda name=name: done(name), 60, what=lambda name=name: name)
    finally:
        for proc in runs.values():
            proc.send_signal(signal.SIGTERM)
    printed = {}
    for name, proc in runs.items():
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        printed[name] = {json.loads(line)["id"] for line in out.splitlines()}
    assert printed[f"{topic}-clean"] and printed[group] >= printed[f"{topic}-clean"]


def test_the_engine_on_a_topic_of_four_partitions_gives_the_backtests_signals(
    broker: EmbeddedBroker, topic: str, tmp_path: Path
) -> None:
    """Each partition is calibrated on its own record: the backtest calibrates each
    symbol with those of its partition (the producer's partitioner) and gives the same
    signals, p and all, as an engine reading the topic (with one record for all, 40 of
    291 differed in their p on this market)."""
    from producer.markets import generate

    m = generate("regimes", symbols=40, minutes=8, seed=3)
    path = tmp_path / "m.csv"
    with path.open("w") as f:
        f.write("ts,symbol,price\n")
        for s, t, p in zip(m.sym.tolist(), m.t.tolist(), m.price.tolist(), strict=True):
            f.write(f"{t:.6f},{m.symbols[s]},{p:.4f}\n")
    log, group, opts = str(tmp_path / "l.log"), f"{topic}-g", ["--calibrate-after", "60"]
    ensure_topics(broker.bootstrap, topic, partitions=4)
    produced = subprocess.run(
        [sys.executable, "-m", "tui.cli", "produce", "--bootstrap-servers", broker.bootstrap,
         "--topic", topic, "--speed", "max", "--log-file", log, "--source", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert produced.returncode == 0, produced.stderr
    engine = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "engine", "--bootstrap-servers", broker.bootstrap,
         "--topic", topic, "--group", group, "--no-publish", "--max-ahead", "off",
         "--band", "0.4%", "--log-file", log, *opts],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_until(lambda: _committed(broker.bootstrap, topic, group) == len(m.t), 60,
                   what=lambda: str(_committed(broker.bootstrap, topic, group)))  # fmt: skip
    finally:
        engine.send_signal(signal.SIGTERM)
        out, err = engine.communicate(timeout=15)
    assert engine.returncode == 0, err
    read = set(out.splitlines())

    def backtest(partitions: str) -> set[str]:
        done = subprocess.run(
            [sys.executable, "-m", "tui.cli", "--log-file", log, "backtest", "--json",
             "--signals-only", "--band", "0.4%", "--partitions", partitions, *opts, str(path)],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return set(done.stdout.splitlines()[:-1])

    assert len(read) > 100 and backtest("4") == read
    assert backtest("1") != read


def test_a_commit_that_failed_is_not_told_once_a_later_one_succeeds() -> None:
    """An engine's closing line said `commit: Local: Waiting for coordinator (positions
    not committed ...)` of a commit that failed as its broker restarted, eight minutes
    and hundreds of good commits before; and `offsets committed 1 times`."""
    from tui.runtime.publish import PositionCommitter

    committer = PositionCommitter()
    committer.committed(KafkaError(KafkaError._WAIT_COORD), [])
    assert committer.last_error.startswith("commit: ") and committer.commits == 0
    committer.committed(None, [])
    assert committer.last_error == "" and committer.commits == 1
    publisher = SignalPublisher("127.0.0.1:1", "signals")
    publisher.committed(None, [])
    assert publisher.summary().endswith("; offsets committed once")
    publisher._fail("signal not delivered: Local: Message timed out")
    publisher.committed(KafkaError(KafkaError._WAIT_COORD), [])
    publisher.committed(None, [])  # the delivery's failure stays: it was never made good
    assert publisher.last_error == "signal not delivered: Local: Message timed out"
    publisher.producer.flush(0)
