"""A `limitwatch engine` that stops and starts again, or that a rebalance hands
partitions, reads those partitions' past again before it emits anything: its signals
after the restart are those of an engine that never stopped. Real engine processes on
the embedded broker; the reference is the engine library fed the same ticks directly."""

from __future__ import annotations

import itertools
import json
import math
import queue
import signal
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from engine import Engine
from producer.broker import EmbeddedBroker
from producer.generator import MarketGenerator
from producer.kafka_config import client_config
from producer.topics import ensure_topics
from producer.wire import Tick, encode
from tests.tui.test_engine_publish import _committed
from tests.waiting import wait_until
from tui.runtime.jsonout import signal_dict
from tui.runtime.options import engine_config
from tui.runtime.parser import build_parser

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
#: The engines' own settings: the forecasts calibrated after two minutes of a symbol's
#: ticks (the ticks span ten), each partition on its own record.
SETTINGS: list[str] = []
PARTITIONS = 4


def _ticks(n: int) -> list[Tick]:
    return list(itertools.islice(MarketGenerator(symbols=12, seed=21, start=1.7e9), n))


def _partition(symbol: str) -> int:
    """The partition the tests send a symbol to, as librdkafka's default partitioner
    would (CRC-32 of the key): the reference needs to know it. Each of the four gets two
    of the twelve symbols at least."""
    return zlib.crc32(symbol.encode()) % PARTITIONS


def _produce(bootstrap: str, topic: str, ticks: list[Tick]) -> None:
    producer = Producer(client_config(bootstrap, **{"linger.ms": 10}))
    for tick in ticks:
        producer.produce(
            topic, value=encode(tick), key=tick.symbol.encode(), partition=_partition(tick.symbol)
        )
        producer.poll(0)
    assert producer.flush(10) == 0


def _produce_paced(bootstrap: str, topic: str, ticks: list[Tick]) -> None:
    """`ticks` in pieces of 500, one every 0.1 s."""
    for i in range(0, len(ticks), 500):
        _produce(bootstrap, topic, ticks[i : i + 500])
        time.sleep(0.1)


def _reference(ticks: list[Tick]) -> dict[str, dict[str, Any]]:
    """The signals of an engine with the command's settings that read every tick once,
    without stopping, by id (as the engine prints them); each symbol in its partition's
    stream, as the command registers it."""
    args = build_parser().parse_args(["engine", "--bootstrap-servers", "x:1", *SETTINGS])
    engine = Engine(engine_config(args))
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ticks), 1000):
        part = ticks[i : i + 1000]
        ids = engine.register([t.symbol for t in part], [_partition(t.symbol) for t in part])
        for sig in engine.update(ids, [t.ts for t in part], [t.price for t in part]):
            out[sig.id] = json.loads(json.dumps(signal_dict(sig)))
    return out


class _Engine:
    """A `limitwatch engine` process; its stdout (one signal per line) read as it comes."""

    def __init__(self, bootstrap: str, topic: str, group: str, log: Path, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "engine", "--bootstrap-servers", bootstrap,
             "--topic", topic, "--group", group, "--signals-topic", f"{topic}-signals",
             "--indicators-topic", "", "--no-shared-limits", "--log-file", str(log),
             *SETTINGS, *extra],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self._lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._said: list[str] = []
        out, err = self.proc.stdout, self.proc.stderr
        assert out is not None and err is not None
        self._readers = [
            threading.Thread(target=lambda: [self._lines.put(x) for x in out], daemon=True),
            threading.Thread(target=lambda: [self._said.append(x) for x in err], daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @property
    def err(self) -> str:
        """What it said on stderr so far."""
        return "".join(self._said)

    def stop(self, how: int = signal.SIGTERM) -> list[dict[str, Any]]:
        """Stop it (as a service manager does, or `kill -9`); the signals it printed."""
        self.proc.send_signal(how)
        self.proc.wait(timeout=20)
        for reader in self._readers:
            reader.join(5)
        if how == signal.SIGTERM:
            assert self.proc.returncode == 0, self.err
        printed = []
        while not self._lines.empty():
            line = self._lines.get()
            try:
                printed.append(json.loads(line))
            except ValueError:  # the last line of a killed process may be cut short
                assert self._lines.empty() and how == signal.SIGKILL, line
        return printed


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal JSON signals (null for an undefined number on both sides, floats to 1e-9)."""
    if a.keys() != b.keys():
        return False
    for key, x in a.items():
        y = b[key]
        if isinstance(x, float) and isinstance(y, float):
            if not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12):
                return False
        elif x != y:
            return False
    return True


def _until_committed(bootstrap: str, topic: str, group: str, n: int) -> None:
    wait_until(
        lambda: _committed(bootstrap, topic, group) == n,
        90,
        what=lambda: f"committed {_committed(bootstrap, topic, group)} of {n}",
    )


def _stop_and_start(
    broker: EmbeddedBroker, topic: str, log: Path, ticks: list[Tick], split: int, *extra: str
) -> tuple[_Engine, _Engine, list[dict[str, Any]], list[dict[str, Any]]]:
    """An engine reads the first `split` ticks and is stopped (SIGTERM); the rest are sent
    and an engine is started again in the same group. Both runs and what each printed."""
    ensure_topics(broker.bootstrap, topic, partitions=PARTITIONS)
    group = f"{topic}-engines"
    printed = []
    runs = []
    for part, upto in ((ticks[:split], split), (ticks[split:], len(ticks))):
        _produce(broker.bootstrap, topic, part)
        run = _Engine(broker.bootstrap, topic, group, log, *extra)
        try:
            _until_committed(broker.bootstrap, topic, group, upto)
        finally:
            printed.append(run.stop())
        runs.append(run)
    return runs[0], runs[1], printed[0], printed[1]


def test_a_restarted_engine_goes_on_as_if_it_never_stopped(
    broker: EmbeddedBroker, topic: str, tmp_path: Path
) -> None:
    ticks = _ticks(24_000)
    reference = _reference(ticks)
    run1, run2, before, after = _stop_and_start(broker, topic, tmp_path / "l.log", ticks, 12_000)
    assert "event=rebuilt" not in run1.err  # nothing was committed when it started
    # It read the first run's ticks again before reading on, and said so.
    assert "event=assigned partitions=0,1,2,3" in run2.err, run2.err
    assert "ticks=12000" in run2.err and "event=rebuilt" in run2.err, run2.err

    assert len(after) > 50, "too few signals after the restart to tell anything"
    differ = [s["id"] for s in after if not _same(s, reference.get(s["id"], {}))]
    assert not differ, f"{len(differ)} of {len(after)} signals differ, e.g. {differ[:3]}"
    # Together, duplicates dropped by id: exactly the uninterrupted engine's signals.
    together = {s["id"]: s for s in before + after}
    assert sorted(together) == sorted(reference)


def test_without_a_rebuild_a_restarted_engine_starts_cold(
    broker: EmbeddedBroker, topic: str, tmp_path: Path
) -> None:
    """What the rebuild is for: with --no-rebuild the same restart gives other signals."""
    ticks = _ticks(16_000)
    reference = _reference(ticks)
    _run1, run2, _before, after = _stop_and_start(
        broker, topic, tmp_path / "l.log", ticks, 8_000, "--no-rebuild"
    )
    assert "event=rebuilt" not in run2.err
    differ = [s["id"] for s in after if not _same(s, reference.get(s["id"], {}))]
    assert len(differ) > len(after) // 2, (len(differ), len(after))


def test_an_engine_killed_mid_stream_is_replaced_without_a_missing_signal(
    broker: EmbeddedBroker, topic: str, tmp_path: Path
) -> None:
    """Two engines in one group split the partitions; one is killed (`kill -9`) while
    ticks arrive. The other takes its partitions, reads their past again, and goes on:
    together, duplicates dropped by id, they printed exactly one engine's signals."""
    ensure_topics(broker.bootstrap, topic, partitions=PARTITIONS)
    group = f"{topic}-engines"
    ticks = _ticks(30_000)
    reference = _reference(ticks)
    log = tmp_path / "l.log"
    a = _Engine(broker.bootstrap, topic, group, log)
    b = _Engine(broker.bootstrap, topic, group, log)
    try:
        wait_until(  # the group has settled: 2 + 2
            lambda: (
                all(e.err.count("event=assigned partitions=") >= 1 for e in (a, b))
                and all(_owned(e).count(",") == 1 for e in (a, b))
            ),
            60,
            what=lambda: f"a: {a.err!r}, b: {b.err!r}",
        )
        taken_from_a = _owned(a)
        _produce(broker.bootstrap, topic, ticks[:10_000])
        _until_committed(broker.bootstrap, topic, group, 10_000)
        # Ticks keep coming (20,000 over about 4 s); a is killed 1.5 s in, between two
        # of its commits: some of what it printed is not committed.
        paced = threading.Thread(
            target=_produce_paced, args=(broker.bootstrap, topic, ticks[10_000:])
        )
        paced.start()
        time.sleep(1.5)
        from_a = a.stop(signal.SIGKILL)
        paced.join(30)
        _until_committed(broker.bootstrap, topic, group, len(ticks))
    finally:
        if a.proc.poll() is None:
            a.stop(signal.SIGKILL)
        from_b = b.stop()
    # b was handed a's partitions and read their past again before reading on
    assert f"event=rebuilt partitions={taken_from_a}" in b.err, b.err
    printed = from_a + from_b
    assert from_a and from_b
    # a printed signals of ticks sent after the first 10,000: it died mid-stream
    assert any(s["t"] > ticks[9_999].ts for s in from_a), "a was killed before reading on"
    differ = [s["id"] for s in printed if not _same(s, reference.get(s["id"], {}))]
    assert not differ, f"{len(differ)} of {len(printed)} signals differ, e.g. {differ[:3]}"
    together = {s["id"] for s in printed}
    assert sorted(together) == sorted(reference), sorted(set(reference) - together)[:5]


def _owned(engine: _Engine) -> str:
    """The partitions an engine said it was last assigned, as it printed them."""
    said = [x for x in engine.err.splitlines() if "event=assigned partitions=" in x]
    return said[-1].split("partitions=")[1].split()[0] if said else ""


def test_a_restarted_engine_with_nothing_new_to_read_shows_no_lag(
    broker: EmbeddedBroker, topic: str, tmp_path: Path
) -> None:
    """Restarted where its group left off, with no tick arriving since: its client has
    no position of its own before its first message, and the lag was measured from the
    partition's start (lag 2000 and STALL for as long as the topic stayed quiet)."""
    ensure_topics(broker.bootstrap, topic, partitions=PARTITIONS)
    group = f"{topic}-engines"
    ticks = _ticks(2_000)
    _produce(broker.bootstrap, topic, ticks)
    first = _Engine(broker.bootstrap, topic, group, tmp_path / "l.log")
    try:
        _until_committed(broker.bootstrap, topic, group, len(ticks))
    finally:
        first.stop()
    second = _Engine(broker.bootstrap, topic, group, tmp_path / "l.log")
    try:
        wait_until(lambda: second.err.count(", lag ") >= 2, 60, what=lambda: second.err)
    finally:
        second.stop()
    assert "event=rebuilt" in second.err
    statuses = [line for line in second.err.splitlines() if ", lag " in line]
    assert statuses and all(", lag 0, OK" in line for line in statuses), statuses


def test_a_resumed_recording_with_nothing_new_to_read_shows_no_lag(
    broker: EmbeddedBroker, topic: str, tmp_path: Path
) -> None:
    """`record --group` run again after everything was recorded: its client has no
    position before a first message, and the lag was measured from each partition's
    start (lag 2000 and STALL on an idle topic); the group's committed offsets stand in."""
    ensure_topics(broker.bootstrap, topic, partitions=PARTITIONS)
    ticks = _ticks(2_000)
    _produce(broker.bootstrap, topic, ticks)

    def record(out: str, *how: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tui.cli", "record", str(tmp_path / out),
             "--bootstrap-servers", broker.bootstrap, "--topic", topic, "--group", "rec",
             "--log-file", str(tmp_path / "l.log"), *how],
            cwd=ROOT, capture_output=True, text=True, timeout=90,
        )  # fmt: skip

    first = record("a.jsonl", "--from-beginning", "--count", str(len(ticks)))
    assert first.returncode == 0, first.stderr
    again = record("b.jsonl", "--duration", "11")
    assert again.returncode == 0, again.stderr
    statuses = [line for line in again.stderr.splitlines() if ", lag " in line]
    assert statuses and all(", lag 0, OK" in line for line in statuses), again.stderr


def test_partitions_handed_over_after_the_broker_came_back_empty_start_afresh(
    tmp_path: Path,
) -> None:
    """Engine a reads every partition, then b joins and takes half of them on; the
    broker is killed and started again empty, ticks go on in the new topic, and b stops.
    Of b's partitions a holds a state 8,000 ticks old: it must start their symbols
    afresh, as an engine that never saw them, and not fire what that old state says
    (an engine given back partitions it had read 13 minutes before fired a SELL at a
    price 33 % past its limit, and crossings the other engine had just sent, under ids
    already used). Its signals of them after the hand-over are a fresh engine's on the
    new topic's ticks."""
    from tests.tui.test_recovery import _restart_empty

    ticks = _ticks(40_000)
    first, middle, last, tail = (
        ticks[:8_000],
        ticks[8_000:16_000],
        ticks[16_000:32_000],
        ticks[32_000:],
    )
    reference = _reference(last + tail)
    log = tmp_path / "l.log"
    with EmbeddedBroker() as cluster:
        bootstrap, topic, group = cluster.bootstrap, "prices", "engines"
        ensure_topics(bootstrap, topic, partitions=PARTITIONS)
        a = _Engine(bootstrap, topic, group, log)
        engines = [a]
        try:
            _produce(bootstrap, topic, first)
            _until_committed(bootstrap, topic, group, len(first))
            b = _Engine(bootstrap, topic, group, log)
            engines.append(b)
            wait_until(  # the group has settled: 2 + 2
                lambda: all(_owned(e).count(",") == 1 for e in engines),
                60,
                what=lambda: " / ".join(e.err for e in engines),
            )
            handed = {int(p) for p in _owned(b).split(",")}
            _produce(bootstrap, topic, middle)
            _until_committed(bootstrap, topic, group, len(first) + len(middle))
            _restart_empty(cluster)
            ensure_topics(bootstrap, topic, partitions=PARTITIONS)
            wait_until(
                lambda: all("created again" in e.err for e in engines),
                60,
                what=lambda: " / ".join(e.err for e in engines),
            )
            _produce(bootstrap, topic, last)
            _until_committed(bootstrap, topic, group, len(last))
            b.stop()
            wait_until(lambda: _owned(a) == "0,1,2,3", 60, what=lambda: a.err)
            _produce(bootstrap, topic, tail)
            _until_committed(bootstrap, topic, group, len(last) + len(tail))
        finally:
            for e in engines[1:]:
                if e.proc.poll() is None:
                    e.stop(signal.SIGKILL)
            from_a = a.stop()
    theirs = {
        s["id"]: s for s in from_a if _partition(s["symbol"]) in handed and s["t"] > last[-1].ts
    }
    assert len(theirs) >= 10, "too few signals after the hand-over to tell anything"
    differ = [i for i, s in theirs.items() if not _same(s, reference.get(i, {}))]
    assert not differ, f"{len(differ)} of {len(theirs)} signals differ, e.g. {differ[:3]}"
    assert "event=afresh" in a.err, a.err
