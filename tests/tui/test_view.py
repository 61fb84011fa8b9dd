"""`limitwatch --view`: a monitor with no engine of its own shows what the engines on a
cluster publish (indicators, signals, each engine's partitions and health). A real
`limitwatch engine` process on the embedded broker, read by the view's own reader."""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest
from confluent_kafka import Producer

from producer.broker import EmbeddedBroker
from producer.kafka_config import Connection, client_config
from producer.topics import ensure_topics
from tests.tui.test_engine_publish import _committed, produce_crash
from tests.waiting import wait_until
from tui.runtime.snapshot import Snapshot
from tui.runtime.view import (
    BEAT_SILENT_S,
    STALL_S,
    TOPIC_CHECK_S,
    ViewOptions,
    ViewWorker,
    engine_line,
    parse_beat,
    parse_indicators,
    parse_signal,
)
from tui.widgets.kafka_pane import kafka_renderable

ROOT = Path(__file__).resolve().parents[2]

HOSTILE = [
    b"",
    # A field nested a thousand deep (2 KB) raised RecursionError and stopped the reader
    # for good, its view frozen and showing OK.
    b'{"symbol": "ACME", "t": 1.0, "x": ' + b"[" * 1000 + b"]" * 1000 + b"}",
    b"not json",
    b"[1,2,3]",
    b'{"symbol": "ACME"}',
    b'{"symbol": "", "t": 1.0}',
    b'{"symbol": "' + b"X" * 5000 + b'", "t": 1.0}',
    b'{"symbol": "ACME", "t": "soon"}',
    b'{"symbol": "ACME", "t": 1e300}',
    b'{"symbol": "ACME", "t": -5}',
    b'{"id": "ACME:BUY:x", "kind": "BUY", "symbol": "ACME", "t": 1.0}',
    b'{"id": "ACME:NOPE:1", "kind": "NOPE", "symbol": "ACME", "t": 1.0}',
    b'{"engine": "e", "t": 1.0, "partitions": "0,1"}',
    b'{"engine": "e", "t": 1.0, "partitions": [0], "ticks": 18446744073709551615}',
    b'{"symbol": "ACME", "t": 1.0, "n_ticks": 18446744073709551615}',
    b'{"id": "ACME:BUY:99999999999999999999", "kind": "BUY", "symbol": "ACME", "t": 1.0}',
]


@pytest.mark.parametrize("value", HOSTILE)
def test_records_that_cannot_be_read_are_refused_with_a_reason(value: bytes) -> None:
    with pytest.raises(ValueError, match="unreadable signal"):
        parse_signal(value)
    with pytest.raises(ValueError, match="unreadable heartbeat"):
        parse_beat(value)
    if b'"ACME", "t": 1.0}' not in value:  # those two are indicators with no values
        with pytest.raises(ValueError, match="unreadable indicators"):
            parse_indicators(value)


@pytest.mark.parametrize(
    ("parse", "value"),
    [  # what no engine writes: a chance of 5, a negative time to the limit, a time
        # months ahead, a symbol with an escape sequence (a tick's would be refused)
        (
            parse_signal,
            b'{"id": "A:SELL:1", "kind": "SELL", "symbol": "A", "t": 1.0, "p_hit": 5,'
            b' "price": 1.0}',
        ),
        (
            parse_signal,
            b'{"id": "A:SELL:1", "kind": "SELL", "symbol": "A", "t": 1.0, "eta_s": -3,'
            b' "price": 1.0}',
        ),
        (
            parse_signal,
            b'{"id": "A:SELL:1", "kind": "SELL", "symbol": "A", "t": 9999999999.0, "price": 1.0}',
        ),
        (
            parse_signal,
            b'{"id": "E:SELL:1", "kind": "SELL", "symbol": "E\\u001b[31m", "t": 1.0, "price": 1.0}',
        ),
        # a value no tick can carry: 1e308 ended the app in the chart (OverflowError)
        (
            parse_signal,
            b'{"id": "A:SELL:1", "kind": "SELL", "symbol": "A", "t": 1.0, "price": 1e308}',
        ),
        # no price: the signal history cannot keep it, and it was switched off for good
        (parse_signal, b'{"id": "A:SELL:1", "kind": "SELL", "symbol": "A", "t": 1.0}'),
        (parse_indicators, b'{"symbol": "A", "t": 1.0, "last": 1e308}'),
        (parse_indicators, b'{"symbol": "A", "t": 1.0, "last": -1e308}'),
        (parse_indicators, b'{"symbol": "A", "t": 1.0, "sma_fast": 1e308}'),
        (parse_indicators, b'{"symbol": "A", "t": 1.0, "buy": 1e308}'),
        (parse_indicators, b'{"symbol": "A", "t": 1.0, "vol": 1e300}'),
        (parse_indicators, b'{"symbol": "A", "t": 1.0, "eta_buy": 1e308}'),
        (parse_indicators, b'{"symbol": "A", "t": 1.0, "p_buy": 1.5}'),
        (parse_indicators, b'{"symbol": "A", "t": 1.0, "eta_sell": -1.0}'),
        (parse_indicators, b'{"symbol": "A", "t": 9999999999.0}'),
        (parse_indicators, b'{"symbol": " A", "t": 1.0}'),
    ],
)
def test_what_no_engine_writes_is_refused(parse: Callable[[bytes], object], value: bytes) -> None:
    with pytest.raises(ValueError, match="unreadable"):
        parse(value)


def test_numbers_out_of_range_are_refused_and_null_is_undefined() -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_indicators(b'{"symbol": "ACME", "t": 5.0, "vol": 1e999}')
    rec = parse_indicators(b'{"symbol": "ACME", "t": 5.0, "last": null}')
    assert rec.symbol == "ACME" and rec.last is None
    sig = parse_signal(
        b'{"id":"ACME:BUY_WATCH:3","kind":"BUY_WATCH","symbol":"ACME","t":5.0,"price":99.5,'
        b'"limit":99.0,"p_hit":0.7,"eta_s":null}'
    )
    assert (sig.id, sig.price, sig.p_hit) == ("ACME:BUY_WATCH:3", 99.5, 0.7)
    assert sig.eta_s != sig.eta_s  # nan


def test_an_engine_line_says_its_health_partitions_and_name() -> None:
    beat = parse_beat(b'{"engine":"host-a:41:ab12cd34","t":100.0,"partitions":[0,1],"health":"OK"}')
    assert engine_line(beat, 101.0) == "OK p0,1 host-a:41"
    assert (
        engine_line(beat, 100.0 + BEAT_SILENT_S + 7)
        == f"silent {BEAT_SILENT_S + 7:.0f} s p0,1 host-a:41"
    )
    stopped = parse_beat(b'{"engine":"host-a:41:ab","t":100.0,"partitions":[],"health":"STOPPED"}')
    assert engine_line(stopped, 500.0) == "stopped p– host-a:41"


def test_a_forged_heartbeat_cannot_drive_the_terminal() -> None:
    """Whoever may write the indicators topic may send a heartbeat: an engine name or a
    health carrying escape sequences (retitle the terminal, clear the screen) is shown
    with its control characters escaped, and a health of pages is refused."""
    beat = parse_beat(
        b'{"engine":"n\\u001b]0;TITLE\\u0007x:1:ab","t":100.0,"partitions":[0],'
        b'"health":"OK\\u001b[2J\\u001b[H"}'
    )
    line = engine_line(beat, 101.0)
    assert "\x1b" not in line and "\x07" not in line
    assert line == "OK\\x1b[2J\\x1b[H p0 n\\x1b]0;TITLE\\x07x:1"
    with pytest.raises(ValueError, match="unreadable heartbeat"):
        parse_beat(b'{"engine":"h:1","t":1.0,"partitions":[0],"health":"' + b"W" * 65 + b'"}')


def test_an_engine_whose_clock_runs_ahead_still_goes_silent() -> None:
    """Liveness is judged by when a heartbeat arrived, never by a time ahead of it."""
    view = ViewWorker(ViewOptions(Connection("127.0.0.1:1")))
    view._beat(parse_beat(b'{"engine":"h:1:x","t":99999999999.0,"partitions":[0],"health":"OK"}'))
    now = time.time()
    assert view._engine_lines(now)[0] == "1 running"
    later = view._engine_lines(now + BEAT_SILENT_S + 30)
    assert later[0] == "0 running" and later[1].startswith("silent "), later


def test_last_tick_is_when_an_engine_last_read_a_tick_not_the_last_heartbeat() -> None:
    """The pane read `last tick 0.0 s ago` with no tick for minutes: heartbeats are
    records read too. It is when the heartbeat that last showed an engine's count grow
    came (by the view's clock: an engine's may lag it)."""
    from unittest import mock

    view = ViewWorker(ViewOptions(Connection("127.0.0.1:1")))
    clock = [1_800_000_000.0]  # the view's wall clock, moved by hand

    def beat(ticks: int, engine_behind_s: float = 0.0) -> None:
        sent = clock[0] - engine_behind_s
        with mock.patch("tui.runtime.view.time.time", lambda: clock[0]):
            view._beat(parse_beat(
                b'{"engine":"h:1:x","t":%f,"partitions":[0],"ticks":%d,"health":"OK"}'
                % (sent, ticks)
            ))  # fmt: skip
        view._last_at = clock[0]  # as if just read

    def since() -> float:
        with mock.patch("tui.runtime.view.time.time", lambda: clock[0]):
            view._publish()
        return _latest(view).kafka.since_last_tick_s

    beat(1000, engine_behind_s=60)  # an engine whose clock is a minute behind
    assert math.isnan(since())  # not known from one beat
    clock[0] += 1
    beat(1500, engine_behind_s=60)
    for _ in range(200):  # heartbeats that read no tick, one a second
        clock[0] += 1
        beat(1500, engine_behind_s=60)
    assert since() == 200


def test_messages_the_engines_refused_are_counted_by_reason_from_their_heartbeats() -> None:
    """The view showed `bad · dlq 0 · 0` and OK while the engines refused and
    dead-lettered 9,069 ticks as `future time`: each heartbeat now carries its engine's
    refusals, and the view adds up those of the engines heard from lately."""
    from unittest import mock

    from tui.runtime.indicators import IndicatorPublisher

    sent: list[bytes] = []
    with mock.patch("tui.runtime.indicators.ensure_compacted"):  # no broker: no topic
        publisher = IndicatorPublisher("127.0.0.1:1", engine="h:1:x")
    with mock.patch.object(publisher, "producer") as producer:
        producer.produce.side_effect = lambda _topic, value, **_kw: sent.append(value)
        publisher.beat([0], [0], 100, 0, "OK", bad=(("future time", 9069),), dead_lettered=9069)
    view = ViewWorker(ViewOptions(Connection("127.0.0.1:1")))
    view._beat(parse_beat(sent[0]))
    view._beat(parse_beat(
        b'{"engine":"h:2:y","t":%f,"partitions":[1],"bad":{"future time":1,"old time":2},'
        b'"dlq":3}' % time.time()
    ))  # fmt: skip
    view._unreadable = 4
    view._publish()
    k = _latest(view).kafka
    assert k.bad_by == (("unreadable", 4), ("future time", 9070), ("old time", 2)), k.bad_by
    assert k.dead_lettered == 9072


def _latest(worker: ViewWorker) -> Snapshot:
    snap = worker.latest()
    assert snap is not None
    return snap


@pytest.mark.kafka
def test_the_view_shows_what_an_engine_publishes(
    broker: EmbeddedBroker, topic: str, tmp_path: Path
) -> None:
    log = str(tmp_path / "l.log")
    signals_topic, indicators_topic = f"{topic}-signals", f"{topic}-indicators"
    group = f"{topic}-engines"
    ensure_topics(broker.bootstrap, topic, partitions=4)
    produce_crash(broker.bootstrap, topic, log)
    engine = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "engine", "--bootstrap-servers", broker.bootstrap,
         "--topic", topic, "--group", group, "--signals-topic", signals_topic,
         "--indicators-topic", indicators_topic, "--limit", "CYGN=48.5:60",
         "--no-shared-limits", "--log-file", log],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()
    threading.Thread(target=lambda: [lines.put(x) for x in engine.stdout], daemon=True).start()  # type: ignore[union-attr]
    view = ViewWorker(
        ViewOptions(
            Connection(broker.bootstrap), topic=topic, signals_topic=signals_topic,
            indicators_topic=indicators_topic,
        )
    )  # fmt: skip
    try:
        wait_until(lambda: _committed(broker.bootstrap, topic, group) == 260, 60)
        view.start()
        view.chart_symbol = "CYGN"
        wait_until(
            lambda: (s := view.latest()) is not None and len(s.engine.symbols) == 2
            and any(line.startswith("OK p0,1,2,3 ") for line in s.kafka.engines),
            30, what=lambda: repr(view.latest() and view.latest().kafka.engines),  # type: ignore[union-attr]
        )  # fmt: skip
        running = _latest(view)
        assert running.kafka.engines[0] == "1 running"
        assert [p.partition for p in running.kafka.partitions] == [0, 1, 2, 3]
        assert all(p.lag == 0 for p in running.kafka.partitions)
    finally:
        engine.send_signal(signal.SIGTERM)
        _, err = engine.communicate(timeout=15)
    assert engine.returncode == 0, err
    printed = [json.loads(lines.get()) for _ in range(lines.qsize())]
    assert printed

    # Each signal once, though published twice; records that cannot be read are counted.
    p = Producer(client_config(broker.bootstrap))
    p.produce(signals_topic, json.dumps(printed[0]).encode(), key=b"CYGN")
    for value in HOSTILE:
        p.produce(signals_topic, value)
        p.produce(indicators_topic, value, key=b"junk")
    assert p.flush(10) == 0
    try:
        wait_until(
            lambda: _latest(view).kafka.bad == 2 * len(HOSTILE)
            and _latest(view).kafka.duplicates == 1
            and any(line.startswith("stopped ") for line in _latest(view).kafka.engines),
            20, what=lambda: repr(_latest(view).kafka),
        )  # fmt: skip
        snap = _latest(view)
    finally:
        view.stop()
        view.join(5)
    assert not view.is_alive()
    assert sorted(s.id for s in snap.signals) == sorted(x["id"] for x in printed)
    assert snap.signal_count == len(printed)
    by_id = {s.id: s for s in snap.signals}
    for x in printed:
        assert by_id[x["id"]].t == x["t"] and by_id[x["id"]].price == x["price"]
    # the watchlist: the engine's indicators, its limits for CYGN among them
    i = snap.engine.symbols.index("CYGN")
    assert (snap.engine.buy[i], snap.engine.sell[i]) == (48.5, 60.0)
    assert snap.engine.n_ticks[i] > 0 and snap.engine.last[i] > 0
    assert snap.history is not None and snap.history.price.size >= 1  # the chart's points
    assert snap.kafka.engines[0] == "0 running"

    # The Kafka pane at 80 columns keeps every engine row whole up to its name.
    text = "".join(seg.text for seg in _render(snap, 28))
    assert "engines" in text and "stopped p" in text


def _render(snap: Snapshot, width: int) -> list:
    from rich.console import Console

    console = Console(width=width, record=True)
    return list(console.render(kafka_renderable(snap, width, 0)))


def test_parse_accepts_exactly_what_the_engine_writes() -> None:
    """The view reads the JSON the engine's own encoders write."""
    from engine import Signal, SignalKind
    from tui.runtime.jsonout import signal_json

    sig = Signal("ACME", SignalKind.SELL_WATCH, 4, 1.7e9, 101.5, 102.0, 0.81, 12.5)
    back = parse_signal(signal_json(sig).encode())
    assert back == sig
    beat = msgspec.json.encode(
        {"engine": "h:1:x", "t": 1.7e9, "partitions": [2, 3], "lags": [0, 5], "ticks": 9,
         "signals": 1, "health": "OK"}
    )  # fmt: skip
    assert parse_beat(beat).lags == [0, 5]


@pytest.mark.kafka
def test_the_view_follows_a_broker_that_dies_and_comes_back_empty() -> None:
    first = EmbeddedBroker()
    bootstrap = first.start()
    port = int(bootstrap.rsplit(":", 1)[1])
    ensure_topics(bootstrap, "signals", partitions=1)
    ensure_topics(bootstrap, "indicators", partitions=1)

    def publish(bootstrap: str, last: float) -> None:
        p = Producer(client_config(bootstrap))
        value = {"symbol": "ACME", "t": 1.7e9 + last, "last": last, "engine": "h:1:x"}
        p.produce("indicators", json.dumps(value).encode(), key=b"ACME")
        assert p.flush(10) == 0

    publish(bootstrap, 100.0)
    view = ViewWorker(ViewOptions(Connection(bootstrap)))
    view.start()
    second = None
    try:
        wait_until(lambda: (s := view.latest()) is not None and list(s.engine.last) == [100.0], 30)
        first.kill()
        wait_until(lambda: _latest(view).kafka.broker_state == "DOWN", 30)
        assert list(_latest(view).engine.last) == [100.0]  # what was shown stays
        second = EmbeddedBroker(port=port)
        second.start()
        ensure_topics(bootstrap, "signals", partitions=1)
        ensure_topics(bootstrap, "indicators", partitions=1)
        publish(bootstrap, 101.0)
        wait_until(
            lambda: _latest(view).kafka.broker_state == "UP"
            and list(_latest(view).engine.last) == [101.0],
            40, what=lambda: repr(_latest(view).kafka),
        )  # fmt: skip
        assert any("answers again" in n.text for n in _latest(view).notices)
    finally:
        view.stop()
        view.join(5)
        for b in (first, second):
            if b is not None:
                b.stop()
    assert not view.is_alive()


def _send(bootstrap: str, topic: str, key: bytes, value: dict) -> None:
    p = Producer(client_config(bootstrap))
    p.produce(topic, json.dumps(value).encode(), key=key)
    assert p.flush(10) == 0


def _engine_topics(bootstrap: str) -> None:
    """The topics the engines publish to, as they would create them."""
    for name in ("signals", "indicators"):
        ensure_topics(bootstrap, name, partitions=1)


def _beat(t: float) -> dict:
    """A running engine's heartbeat sent at `t`."""
    return {"engine": "h:1:x", "t": t, "partitions": [0], "lags": [0], "ticks": 10,
            "signals": 0, "health": "OK"}  # fmt: skip


@contextlib.contextmanager
def _viewing(options: ViewOptions) -> Iterator[ViewWorker]:
    """A view running on `options` for the block; stopped, and its thread ended, after."""
    view = ViewWorker(options)
    view.start()
    try:
        yield view
    finally:
        view.stop()
        view.join(5)
    assert not view.is_alive()


@pytest.mark.kafka
def test_a_signals_topic_created_again_is_read_afresh_and_each_signal_shown_once() -> None:
    """The broker restarts empty and an engine started since numbers its signals from 1
    again: the view reads the new topic and shows them (it stayed at its position in
    the old topic, past the new one's end, and would have dropped the ids as seen), each
    once (with the ids seen forgotten at the new topic, a signal read before the view
    learnt that the topic was new was read again: counted and kept twice)."""
    from tests.tui.test_recovery import _restart_empty

    def signal_of(symbol: str, t: float) -> dict:
        return {"id": f"{symbol}:BUY:1", "kind": "BUY", "symbol": symbol, "t": t,
                "price": 99.0, "limit": 99.5, "p_hit": 1.0, "eta_s": 0.0}  # fmt: skip

    kept: list[str] = []
    with EmbeddedBroker() as cluster:
        _engine_topics(cluster.bootstrap)
        _send(cluster.bootstrap, "signals", b"ACME", signal_of("ACME", time.time() - 60))
        options = ViewOptions(Connection(cluster.bootstrap))
        options.on_signals = lambda signals: kept.extend(s.id for s in signals)
        with _viewing(options) as view:
            wait_until(lambda: (s := view.latest()) is not None and s.signal_count == 1, 30)
            wait_until(lambda: len(view._topic_ids) == 2, 30)  # the topics' ids are known
            _restart_empty(cluster)
            _engine_topics(cluster.bootstrap)
            for symbol in ("ACME", "BRIX"):
                _send(cluster.bootstrap, "signals", symbol.encode(), signal_of(symbol, time.time()))
            wait_until(lambda: _latest(view).signal_count >= 3, 40,
                       what=lambda: repr(_latest(view).notices))  # fmt: skip
            time.sleep(3 * TOPIC_CHECK_S)  # time for a later look at the topics to read again
            assert _latest(view).signal_count == 3, kept
            assert sorted(kept) == ["ACME:BUY:1", "ACME:BUY:1", "BRIX:BUY:1"]
            assert any("signals was created again" in n.text for n in _latest(view).notices)


@pytest.mark.kafka
def test_a_frozen_broker_shows_as_a_stall() -> None:
    """Running engines beat every second; with nothing read for STALL_S the view says
    STALL and how long the cluster has been silent (a frozen broker keeps its
    connections: the view said OK). It says OK again once records come."""
    with EmbeddedBroker() as cluster, _viewing(ViewOptions(Connection(cluster.bootstrap))) as view:
        assert cluster.pid is not None
        _engine_topics(cluster.bootstrap)
        wait_until(lambda: len(view._assigned) == 2, 30)
        _send(cluster.bootstrap, "indicators", b"", _beat(time.time()))
        wait_until(lambda: (s := view.latest()) is not None and s.kafka.health == "OK"
                   and s.kafka.engines[0] == "1 running", 30)  # fmt: skip
        os.kill(cluster.pid, signal.SIGSTOP)
        try:
            wait_until(lambda: _latest(view).kafka.health == "STALL", 30,
                       what=lambda: repr(_latest(view).kafka))  # fmt: skip
            assert _latest(view).kafka.broker_silent_s > STALL_S
            text = "".join(seg.text for seg in _render(_latest(view), 60))
            assert "STALL · silent" in text, text
        finally:
            os.kill(cluster.pid, signal.SIGCONT)
        _send(cluster.bootstrap, "indicators", b"", _beat(time.time()))
        wait_until(lambda: _latest(view).kafka.health == "OK", 30,
                   what=lambda: repr(_latest(view).kafka))  # fmt: skip


@pytest.mark.kafka
def test_engines_that_were_killed_are_not_a_stall() -> None:
    """Engines killed send no last heartbeat: nothing more is read, but the broker answers,
    so the view says OK and lists them silent (it said STALL, 'broker silent', for the 10
    minutes it remembers an engine)."""
    with EmbeddedBroker() as cluster:
        _engine_topics(cluster.bootstrap)
        _send(cluster.bootstrap, "indicators", b"", _beat(time.time() - 60))
        with _viewing(ViewOptions(Connection(cluster.bootstrap))) as view:
            wait_until(lambda: (s := view.latest()) is not None
                       and s.kafka.engines[0] == "0 running" and len(s.kafka.engines) == 2,
                       30)  # fmt: skip
            time.sleep(STALL_S + 2 * TOPIC_CHECK_S)
            kafka = _latest(view).kafka
            assert kafka.health == "OK" and kafka.engines[1].startswith("silent"), kafka


def test_limit_keys_in_a_view_that_shares_no_limits_say_so_and_send_nothing() -> None:
    """`b` in `--view --no-shared-limits` showed "buy limit -> 400.38" and took it back
    three seconds later; `a` in any view re-centred bands no engine heard of."""
    from producer.kafka_config import Connection
    from tests.tui.driving import drive
    from tests.tui.feeds import StaticFeed
    from tui.app import LimitwatchApp
    from tui.runtime.view import ViewFeed, ViewOptions

    unshared = ViewFeed(ViewOptions(Connection("127.0.0.1:1")), share=None)
    shared = ViewFeed(ViewOptions(Connection("127.0.0.1:1")), share=lambda *a: None)
    assert unshared.limits_refused and "--no-shared-limits" in unshared.limits_refused
    assert shared.limits_refused is None and "automatic limits" in shared.band_refused

    class Unshared(StaticFeed):  # the static ticks, with the view's answers
        limits_refused = unshared.limits_refused
        band_refused = unshared.band_refused

    feed = Unshared()
    app = LimitwatchApp(feed)
    told: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        for key in ("b", "l", "a"):  # each toast replaces the one before
            await pilot.press(key)
            await pilot.pause()
            told.append(list(app._notifications)[-1].message)

    drive(app, script)
    assert feed.commands == [] and feed.shared == []
    assert told == [unshared.limits_refused, unshared.limits_refused, unshared.band_refused]


def test_a_flood_of_one_tick_names_takes_its_own_rows_not_the_real_symbols() -> None:
    """With as many rows as an engine tracks, the view refused every new symbol: a flood
    of one-tick names published by an engine locked real symbols out for good (a
    filter for them said no symbol matches while their signals came in). A new symbol
    now takes the row idle longest among those still warming up, else among the rest,
    as the engine's own eviction does."""
    from engine import EngineConfig
    from tui.runtime.view import ViewOptions, ViewWorker

    worker = ViewWorker(ViewOptions(Connection("127.0.0.1:1"), engine=EngineConfig(max_symbols=8)))

    def tick(symbol: str, t: float, n_ticks: int) -> None:
        worker._indicators(parse_indicators(msgspec.json.encode(
            {"symbol": symbol, "t": t, "last": 100.0, "n_ticks": n_ticks}
        )))  # fmt: skip

    real = ["ACME", "BRIX", "CYGN", "DRVX", "ELMR"]
    for symbol in real:
        tick(symbol, 1.0, 100)
    for i in range(50):
        tick(f"FLOOD{i}", 2.0, 1)
    tick("NEWREAL", 3.0, 1)
    rows = worker._state().symbols
    assert len(rows) == 8
    assert set(real) | {"NEWREAL"} <= set(rows), rows
    assert worker._state().evicted == 48  # the flood's own names, all but the last two
    tick("ACME", 4.0, 101)  # an update of a shown symbol takes no row
    assert worker._state().evicted == 48 and len(worker._state().symbols) == 8
