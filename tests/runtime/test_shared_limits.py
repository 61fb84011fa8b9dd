"""Limits shared through the compacted limits topic: a user's choice in one process
reaches every other, a process started later knows everyone's current limits, unreadable
records are counted and never applied, and a limit set in a monitor changes the signals a
headless engine process publishes. All on the real embedded broker."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, ConfigResource

from producer.broker import EmbeddedBroker
from producer.kafka_config import client_config
from producer.topics import ensure_compacted, ensure_topics
from tests.tui.driving import drive
from tests.tui.feeds import StaticFeed
from tests.tui.test_engine_publish import _committed, produce_crash
from tests.waiting import wait_until
from tui.app import LimitwatchApp
from tui.runtime import logs, shared_limits
from tui.runtime.consumer import ConsumerWorker
from tui.runtime.pipeline import Pipeline, PipelineOptions
from tui.runtime.shared_limits import SharedLimits, decode, encode, to_worker

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]


class Applied:
    """What a process's `apply` was handed, thread-safely."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[tuple[str, float, float]] = []
        self.sides: list[str] = []

    def __call__(self, symbol: str, buy: float, sell: float, side: str) -> None:
        with self.lock:
            self.items.append((symbol, buy, sell))
            self.sides.append(side)

    def copy(self) -> list[tuple[str, float, float]]:
        with self.lock:
            return list(self.items)


def _same(a: list[tuple[str, float, float]], b: list[tuple[str, float, float]]) -> bool:
    return len(a) == len(b) and all(
        x[0] == y[0]
        and all(
            math.isclose(u, v) or (math.isnan(u) and math.isnan(v))
            for u, v in zip(x[1:], y[1:], strict=True)
        )
        for x, y in zip(a, b, strict=True)
    )


def test_a_choice_reaches_the_others_and_a_later_process_reads_the_latest(
    broker: EmbeddedBroker, topic: str
) -> None:
    limits = f"{topic}-limits"
    seen_a, seen_b, seen_c = Applied(), Applied(), Applied()
    a = SharedLimits(broker.bootstrap, seen_a, topic=limits)
    b = SharedLimits(broker.bootstrap, seen_b, topic=limits)
    assert a.start(catch_up_s=10) and b.start(catch_up_s=10)  # an empty topic: at its end
    try:
        a.share("ACME", 100.0, 110.0)
        wait_until(lambda: len(seen_b.copy()) == 1, 20, what=lambda: str(seen_b.copy()))
        a.share("ACME", 95.0, math.nan)  # no sell limit from now on
        b.share("BRIX", 40.0, 44.0)
        wanted_b = [("ACME", 100.0, 110.0), ("ACME", 95.0, math.nan)]
        wait_until(lambda: _same(seen_b.copy(), wanted_b), 20, what=lambda: str(seen_b.copy()))
        wait_until(lambda: _same(seen_a.copy(), [("BRIX", 40.0, 44.0)]), 20,
                   what=lambda: str(seen_a.copy()))  # fmt: skip
        assert a.stats().shared == 2 and b.stats().applied == 2  # its own are not re-applied
        wait_until(lambda: a.stats().delivered == 2, 20)
        # Started later: reads the topic from its start; the latest of each symbol last.
        c = SharedLimits(broker.bootstrap, seen_c, topic=limits)
        assert c.start(catch_up_s=20)
        c.stop()
        got = seen_c.copy()
        latest = {symbol: (buy, sell) for symbol, buy, sell in got}
        assert _same(sorted((s, *v) for s, v in latest.items()),
                     [("ACME", 95.0, math.nan), ("BRIX", 40.0, 44.0)])  # fmt: skip
    finally:
        a.stop()
        b.stop()
    with AdminClient(client_config(broker.bootstrap)) as admin:
        (described,) = admin.describe_configs([ConfigResource("topic", limits)]).values()
        assert described.result(10)["cleanup.policy"].value == "compact"


def test_limits_outlive_a_broker_that_comes_back_empty() -> None:
    """The broker restarts empty (the embedded one after a crash): the processes that
    outlived it create the topic again and share what they knew and it lacks, so a
    process started after knows the limits; a decision made since the restart is not
    overwritten by an older one; the processes go on reading the new topic (they stayed
    at their position in the old one and never applied another record); and a decision
    shared again is not applied again where it is held (it would re-arm its signals)."""
    import time

    from tests.tui.test_recovery import _restart_empty

    seen_a, seen_b, seen_c, seen_d = Applied(), Applied(), Applied(), Applied()
    acme, brix, newer = ("ACME", 100.0, 110.0), ("BRIX", 40.0, 44.0), ("ACME", 120.0, 130.0)
    with EmbeddedBroker() as cluster:
        a = SharedLimits(cluster.bootstrap, seen_a, topic="limits")
        b = SharedLimits(cluster.bootstrap, seen_b, topic="limits")
        assert a.start(catch_up_s=10) and b.start(catch_up_s=10)
        c = d = None
        try:
            a.share(*acme)
            a.share(*brix)
            wait_until(lambda: len(seen_b.copy()) == 2, 20, what=lambda: str(seen_b.copy()))
            _restart_empty(cluster)
            c = SharedLimits(cluster.bootstrap, seen_c, topic="limits")
            c.start(catch_up_s=10)
            c.share(*newer)  # a decision made after the restart
            wait_until(lambda: _same(seen_a.copy(), [newer]), 30, what=lambda: str(seen_a.copy()))
            wait_until(lambda: _same(seen_c.copy(), [brix]), 30, what=lambda: str(seen_c.copy()))
            time.sleep(2.0)  # the others' records shared again have come in
            assert _same(seen_b.copy(), [acme, brix, newer]), seen_b.copy()
            d = SharedLimits(cluster.bootstrap, seen_d, topic="limits")
            assert d.start(catch_up_s=10)
            latest = {symbol: (buy, sell) for symbol, buy, sell in seen_d.copy()}
            assert _same(sorted((k, *v) for k, v in latest.items()), [newer, brix])
        finally:
            for process in (a, b, c, d):
                if process is not None:
                    process.stop()


def test_a_decision_shared_again_gives_way_to_one_of_the_topics_own(
    broker: EmbeddedBroker, topic: str
) -> None:
    """Right after an empty restart a user sets ACME while a process that outlived the
    broker shares its older ACME again: whichever lands first, everyone ends with the
    user's (every process took the old one, the user's own monitor too)."""
    for n, order in enumerate(((False, True), (True, False))):
        limits = f"{topic}-limits-{n}"
        raw = Producer(client_config(broker.bootstrap))
        values = {False: (120.0, 130.0, "user"), True: (100.0, 110.0, "outliver")}
        for again in order:
            buy, sell, by = values[again]
            raw.produce(limits, encode("ACME", buy, sell, by, 1.0, again), key=b"ACME")
        assert raw.flush(10) == 0
        seen = Applied()
        reader = SharedLimits(broker.bootstrap, seen, topic=limits)
        try:
            assert reader.start(catch_up_s=20)
        finally:
            reader.stop()
        latest = {symbol: (buy, sell) for symbol, buy, sell in seen.copy()}
        assert latest == {"ACME": (120.0, 130.0)}, (order, seen.copy())


def test_unreadable_records_are_counted_by_reason_and_never_applied(
    broker: EmbeddedBroker, topic: str
) -> None:
    limits = f"{topic}-limits"
    seen = Applied()
    reader = SharedLimits(broker.bootstrap, seen, topic=limits)
    reader.start(catch_up_s=10)
    raw = Producer(client_config(broker.bootstrap))
    hostile = [
        (b"X", b"not json at all"),
        (b"X", b'{"buy": 1, "sell": 2}'),  # no symbol
        (b"Y", b'{"symbol": "X", "buy": 1, "sell": 2}'),  # key and symbol differ
        (b"X", b'{"symbol": "X", "buy": "cheap", "sell": 2}'),
        (b"X", b'{"symbol": "X", "buy": 1e999, "sell": null}'),  # infinite
        (b"X", b'{"symbol": "X", "buy": 5, "sell": 2}'),  # buy above sell
        # a field twice: a decoder keeps the last, another program the first
        (b"X", b'{"symbol": "X", "buy": 1, "sell": 2, "sell": 900}'),
        (b"X", b'{"symbol": "' + b"\xff" * 3 + b'", "buy": 1, "sell": 2}'),  # not UTF-8
        (b"X", None),  # a tombstone: the decision deleted, neither applied nor bad
        # A field nested a thousand deep (2 KB) raised RecursionError and stopped the
        # reader for good: every record after it was never applied.
        (b"X", b'{"symbol": "X", "buy": 1, "sell": 2, "x": ' + b"[" * 1000 + b"]" * 1000 + b"}"),
        (b"OK", encode("OK", 1.5, 2.5, "someone else", 0.0)),
    ]
    try:
        for key, value in hostile:
            raw.produce(limits, value, key=key)
        assert raw.flush(10) == 0
        wait_until(lambda: reader.stats().bad + reader.stats().applied == len(hostile) - 1, 20,
                   what=lambda: f"{reader.stats()} {reader.bad_by()}")  # fmt: skip
    finally:
        reader.stop()
    assert _same(seen.copy(), [("OK", 1.5, 2.5)])
    assert reader.bad_by() == {
        # not JSON, no symbol, a price as text, 1e999, not UTF-8, nested too deeply
        "not a limits record": 6,
        "key and symbol differ": 1,
        "impossible limits": 1,
        "a field given twice": 1,
    }


def test_a_record_is_bounded_as_a_tick_is() -> None:
    """A symbol longer than a tick's may be, or with control characters, and a `by` of
    pages are refused: 100 records with 900 KB names took an engine from 140 to 276 MB,
    and a newline in `by` forged lines in the log."""
    huge = "A" * 900_000
    assert str(decode(huge.encode(), encode(huge, 1.0, 2.0, "x", 0.0))).startswith(
        "not a limits record"
    )
    assert decode(b"A\x1b[2J", encode("A\x1b[2J", 1.0, 2.0, "x", 0.0)) == (
        "symbol has a control character (U+001B)"
    )
    assert str(decode(b"A", encode("A", 1.0, 2.0, "x" * 201, 0.0))).startswith(
        "not a limits record"
    )
    assert not isinstance(decode(b"A", encode("A", 1.0, 2.0, "host:1\nERROR fake", 0.0)), str)


def test_records_read_back_as_written() -> None:
    record = decode(b"ACME", encode("ACME", 148.0, math.nan, "me", 12.5))
    assert not isinstance(record, str)
    assert (record.symbol, record.buy, record.sell, record.by, record.t) == (
        "ACME", 148.0, None, "me", 12.5,
    )  # fmt: skip
    assert json.loads(encode("A", math.nan, 2.0, "", 0.0))["buy"] is None


def test_the_monitor_shares_what_a_user_chose_and_not_what_follows_the_price() -> None:
    feed = StaticFeed()
    app = LimitwatchApp(feed, step=0.01)
    symbol = feed.engine.state().symbols[0]

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause(0.2)
        await pilot.press("b")
        await pilot.pause(0.2)

    drive(app, script)
    ((shared_symbol, buy, sell, side),) = feed.shared
    assert shared_symbol == symbol
    assert (buy, sell) == pytest.approx(feed.engine.limits(symbol))  # both sides, in full
    assert side == "buy"  # ... and which of them the user set


def test_a_record_of_one_side_leaves_the_others_signals_armed_as_they_were() -> None:
    # Another monitor's user moved ACME's buy limit; its sell limit, below the price, has
    # fired here already. The record states both sides: the sell side must not be set
    # again (that re-arms it: a second SELL of a price that never left the limit).
    worker = ConsumerWorker("127.0.0.1:1", "prices")  # never started: its engine alone
    engine = worker.engine
    (sid,) = engine.register(["ACME"])

    def tick(t: float, price: float) -> list[str]:
        return [s.kind.name for s in engine.update([sid], [t], [price])]

    engine.set_limits("ACME", 90.0, 100.0)
    tick(0.0, 99.0)
    assert "SELL" in tick(1.0, 101.0)
    apply = to_worker(worker)
    apply("ACME", 95.0, 100.0, "buy")
    worker._apply(worker._commands.get_nowait())
    assert engine.limits("ACME") == (95.0, 100.0)
    assert "SELL" not in tick(2.0, 101.5)
    apply("ACME", 95.0, 100.0, "sell")  # the sell side set again, on purpose: re-armed
    worker._apply(worker._commands.get_nowait())
    assert "SELL" in tick(3.0, 101.6)
    apply("ACME", 95.0, math.nan, "buy")  # a side stated differently is set all the same
    worker._apply(worker._commands.get_nowait())
    assert math.isnan(engine.limits("ACME")[1])


def test_a_record_names_no_side_but_buy_or_sell() -> None:
    value = encode("ACME", 1.0, 2.0, "x", 0.0, side="buy")
    assert decode(b"ACME", value).side == "buy"  # type: ignore[union-attr]
    assert b'"side"' not in encode("ACME", 1.0, 2.0, "x", 0.0)  # both: as before
    forged = value.replace(b'"side":"buy"', b'"side":"both"')
    assert decode(b"ACME", forged) == "side is neither buy nor sell"


def test_a_limit_set_in_a_monitor_changes_the_signals_an_engine_publishes(
    broker: EmbeddedBroker, topic: str, tmp_path: Path
) -> None:
    log = str(tmp_path / "l.log")
    limits = f"{topic}-limits"
    ensure_topics(broker.bootstrap, topic, partitions=4)
    produce_crash(broker.bootstrap, topic, log)
    # A monitor (its pipeline, consuming another topic) where the user moved DRVX's sell
    # limit from 320 to 305, below its price (about 310): the engine must sell it.
    monitor = Pipeline(
        PipelineOptions(bootstrap=broker.bootstrap, topic=f"{topic}-other", limits_topic=limits)
    )
    monitor.start()
    try:  # as the limit keys do: the change, then what the engine holds is shared
        monitor.set_limits("DRVX", 300.0, 305.0)
        monitor.share_limits("DRVX", 300.0, 305.0)
        shared = monitor.shared
        assert shared is not None
        wait_until(lambda: shared.stats().delivered == 1, 20, what=lambda: str(shared.stats()))
    finally:
        assert monitor.stop(timeout=5)

    def engine(*extra: str) -> tuple[list[dict], str]:
        group = f"{topic}-{len(extra)}-{extra[0]}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "engine", "--bootstrap-servers", broker.bootstrap,
             "--topic", topic, "--group", group, "--signals-topic", f"{group}-signals",
             "--log-file", log, *extra],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:  # every tick read, its signals delivered and its offsets committed
            count = lambda: _committed(broker.bootstrap, topic, group)  # noqa: E731
            wait_until(lambda: count() == 260, 60, what=lambda: f"{count()} committed")
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        return [json.loads(x) for x in out.splitlines()], err

    shared, said = engine("--limits-topic", limits)
    alone, _ = engine("--no-shared-limits")
    assert any(s["kind"] == "SELL" and s["symbol"] == "DRVX" for s in shared), shared
    assert not any(s["symbol"] == "DRVX" and s["kind"] == "SELL" for s in alone), alone
    assert "1 limit change read from " + limits in said, said


def test_a_change_of_ones_own_on_its_way_outranks_an_earlier_one_of_another(
    broker: EmbeddedBroker, topic: str
) -> None:
    # A's change is in the topic before B's, but B's reader has not read it when B
    # changes the same symbol: B must end where everyone ends, with its own change.
    limits = f"{topic}-limits"
    seen_b = Applied()
    a = SharedLimits(broker.bootstrap, Applied(), topic=limits)
    a.start(catch_up_s=10)
    a.share("ACME", 1.0, 2.0)
    wait_until(lambda: a.stats().delivered == 1, 20)
    b = SharedLimits(broker.bootstrap, seen_b, topic=limits)
    b._stop.set()  # B's reader is not running yet: A's record waits unread
    b.start(catch_up_s=0)
    b._thread.join(5)
    b.share("ACME", 3.0, 4.0)  # B's own change, after A's in the topic
    assert b._producer is not None and b._producer.flush(10) == 0
    b._stop.clear()
    b._thread = threading.Thread(target=b._run, daemon=True)
    b._thread.start()
    assert b.caught_up.wait(20)
    a.stop()
    b.stop()
    assert seen_b.copy() == []  # A's older 1-2 not applied over B's own 3-4


# -- floods: what a process keeps and logs stays bounded, refused limits are not applied --

NOWHERE = "127.0.0.1:1"  # never connected to: these readers are fed records by hand


class _Msg:
    """A record as the reader's consumer hands it over."""

    def __init__(self, key: bytes | None, value: bytes | None) -> None:
        self._key, self._value = key, value

    def error(self) -> None:
        return None

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def partition(self) -> int:
        return 0


def _record(symbol: str, buy: float, sell: float, by: str = "flood") -> _Msg:
    return _Msg(symbol.encode(), encode(symbol, buy, sell, by, 1.0))


def _flood_symbol(i: int) -> str:
    return f"LIM{i:057d}"  # 60 characters, as the outside test's


def _lines(caplog: pytest.LogCaptureFixture, *words: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == shared_limits.__name__ and all(w in r.getMessage() for w in words)
    ]


def test_a_flood_of_limits_is_kept_bounded_and_logged_in_a_few_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """300,000 records of distinct symbols took a monitor from 107 to 265 MB and wrote a
    log line each (an engine's log rotated through 3 x 5 MB within a minute). The latest
    MAX_KNOWN decisions are kept (those of the symbols the engine tracks too, whenever
    set: see below); the forgotten ones are said once, and counted at the end."""
    caplog.set_level(logging.INFO, logger=shared_limits.__name__)
    seen = Applied()
    reader = SharedLimits(NOWHERE, seen, topic="limits")
    flood = 30_000
    for i in range(flood):
        reader._handle(_record(_flood_symbol(i), 1.0, 2.0))
    assert len(seen.copy()) == flood  # every one applied...
    known = reader._known
    assert len(known) <= 10_000  # ... not every one kept
    assert len(reader._decided) <= 10_000
    assert _flood_symbol(flood - 1) in known and _flood_symbol(0) not in known
    assert reader.stats().applied == flood
    assert reader.stats().forgotten == flood - len(known)
    assert len(_lines(caplog, "from 'flood'")) <= 10
    assert len(_lines(caplog, "set longest ago are forgotten")) == 1  # said once, not per record
    reader.stop()
    (summary,) = _lines(caplog, "more limit changes applied from limits")
    assert summary.startswith(f"{flood - 10:,} more"), summary
    (counted,) = _lines(caplog, "were forgotten here")
    assert counted.startswith(f"{flood - len(known):,} limits"), counted
    assert len(caplog.records) <= 13


def test_records_left_out_of_the_log_are_counted_every_little_while(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs, "LOG_EVERY_S", 0.3)
    caplog.set_level(logging.INFO, logger=shared_limits.__name__)
    reader = SharedLimits(NOWHERE, Applied(), topic="limits")
    for i in range(50):
        reader._handle(_record(f"A{i}", 1.0, 2.0))
    time.sleep(0.35)
    getattr(reader, "_say_left_out", lambda: None)()  # as the reader's loop does
    assert len(_lines(caplog, "from 'flood'")) == 10
    (summary,) = _lines(caplog, "more limit changes applied")
    assert summary.startswith("40 more"), summary
    for i in range(50):  # a new while: its first ones are logged again
        reader._handle(_record(f"B{i}", 1.0, 2.0))
    assert len(_lines(caplog, "limits of B")) == 10
    reader.stop()
    assert len(_lines(caplog, "more limit changes applied")) == 2


def test_the_decisions_of_symbols_tracked_here_outlive_a_flood() -> None:
    worker = ConsumerWorker(NOWHERE, "prices")  # never started: its engine alone
    worker.engine.register(["ACME", "BRIX"])
    worker._publish()  # the snapshot the reader learns the tracked symbols from
    apply = to_worker(worker)
    assert apply.tracked() == {"ACME", "BRIX"}
    reader = SharedLimits(NOWHERE, apply, topic="limits", max_known=100)
    reader._handle(_record("ACME", 1.0, 2.0))
    reader._remember("MINE", 3.0, 4.0, own=True)  # as share() does: this process's own
    for i in range(1000):
        reader._handle(_record(_flood_symbol(i), 1.0, 2.0))
    assert len(reader._known) <= 100
    assert {"ACME", "MINE", _flood_symbol(999)} <= set(reader._known)
    # An engine that may track more symbols than MAX_KNOWN keeps as many decisions.
    worker.config = dataclasses.replace(worker.config, max_symbols=20_000)
    assert SharedLimits(NOWHERE, to_worker(worker))._cap == 20_000


def test_limits_the_engine_refuses_are_counted_as_refused_never_as_applied(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`{"symbol":"ACME","buy":-5,"sell":1e11}` was logged as applied and counted among the
    changes read, though the engine refused it; it must be refused here with the engine's
    reason, and leave the limits held (and shared again after a restart) as they were.
    A quantity's limits may be negative: its record is applied."""
    caplog.set_level(logging.INFO, logger=shared_limits.__name__)
    worker = ConsumerWorker(NOWHERE, "prices", additive=("cpu.*",))
    worker.engine.register(["ACME"])
    reader = SharedLimits(NOWHERE, to_worker(worker), topic="limits")
    reader._handle(_record("ACME", 100.0, 110.0, by="someone"))
    assert worker._commands.qsize() == 1
    worker._apply(worker._commands.get_nowait())
    reader._handle(_record("ACME", -5.0, 1e11, by="evil"))
    assert worker._commands.empty()  # not handed to the engine
    assert reader.stats().applied == 1 and reader.stats().bad == 1
    assert reader.bad_by() == {"impossible limits": 1}
    assert reader._known["ACME"][:2] == (100.0, 110.0)
    assert not _lines(caplog, "limits of ACME from 'evil'")
    (refused,) = _lines(caplog, "refused")
    assert "ACME" in refused and "'evil'" in refused and "must be positive" in refused
    assert worker.engine.limits("ACME") == (100.0, 110.0)
    reader._handle(_record("cpu.idle", -5.0, 1e11, by="someone"))  # a quantity's
    assert worker._commands.qsize() == 1 and reader.stats().applied == 2


def test_sharing_again_into_a_full_queue_is_bounded_and_said_in_one_line(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a broker restart every process shared again all it knew; an engine logged
    15,681 lines `limits for LIM... not shared: Local: Queue full`. It waits a while for
    room, then says in one line what it could not share."""
    monkeypatch.setattr(shared_limits, "AGAIN_WAIT_S", 0.3, raising=False)
    caplog.set_level(logging.INFO, logger=shared_limits.__name__)
    reader = SharedLimits(NOWHERE, Applied(), topic="limits")
    for i in range(100):
        reader._handle(_record(f"S{i:03d}", 1.0, 2.0))
    producer = Producer(client_config(NOWHERE, **{"queue.buffering.max.messages": 10}))
    reader._producer = producer
    try:
        reader._in_new_topic = {"S000"}  # what the topic created again holds
        started = time.monotonic()
        reader._share_again()
        assert time.monotonic() - started < 5
        error = reader.stats().last_error
    finally:
        producer.purge()
        producer.flush(0)
    assert reader.stats().shared == 10
    assert not _lines(caplog, "limits for S")  # no line per record
    (said,) = _lines(caplog, "were not shared")
    assert said.startswith("89 of the 99 limits to share again into limits"), said
    assert "Queue full" in said and error == said


def test_a_flood_on_the_topic_leaves_memory_and_log_bounded(
    broker: EmbeddedBroker, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The outside test's flood, on the broker: distinct 60-character symbols."""
    caplog.set_level(logging.INFO, logger=shared_limits.__name__)
    limits = f"{topic}-limits"
    ensure_compacted(broker.bootstrap, limits, partitions=1, timeout=10)
    raw = Producer(client_config(broker.bootstrap))
    flood = 15_000
    for i in range(flood):
        symbol = _flood_symbol(i)
        value = json.dumps({"symbol": symbol, "buy": 1, "sell": 2, "by": "flood", "t": i})
        raw.produce(limits, value.encode(), key=symbol.encode())
        if i % 1000 == 0:
            raw.poll(0)
    assert raw.flush(20) == 0
    seen = Applied()
    reader = SharedLimits(broker.bootstrap, seen, topic=limits)
    try:
        assert reader.start(catch_up_s=30)
        assert len(seen.copy()) == flood
        assert len(reader._known) <= 10_000
    finally:
        reader.stop()
    assert reader.stats().applied == flood
    assert len(_lines(caplog, "from 'flood'")) <= 10
    assert len(_lines(caplog, "set longest ago are forgotten")) == 1
    assert len(caplog.records) < 30


def test_a_second_stop_does_nothing(broker: EmbeddedBroker, topic: str) -> None:
    """The engine stops the reader beside its worker at Ctrl-C, then says what it read:
    the second stop must not wait for the broker again (frozen, 2 s more each)."""
    a = SharedLimits(broker.bootstrap, Applied(), topic=f"{topic}-limits")
    assert a.start(catch_up_s=10)
    a.share("ACME", 100.0, 110.0)
    a.stop()
    waits: list[float] = []

    class Frozen:
        def flush(self, timeout: float) -> int:
            waits.append(timeout)
            return 1

    a._producer = Frozen()  # type: ignore[assignment]
    a.stop()
    assert waits == [] and not a._thread.is_alive()
