"""End to end over a real broker: ticks produced to Kafka come out of the consumer and the
engine as the expected signals; bad messages are counted and dead-lettered; quitting
leaves no thread and no broker process behind."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from engine import EngineConfig, SignalKind
from producer.broker import EmbeddedBroker
from producer.generator import MarketGenerator
from producer.kafka_config import client_config
from producer.sources import open_source
from producer.wire import BadTick, Tick, decode
from tests.tui.dead_letters import read_dead_letters
from tests.tui.waiting import wait_for
from tests.waiting import wait_until_async
from tui.app import LimitwatchApp
from tui.runtime.pipeline import Pipeline, PipelineOptions
from tui.runtime.snapshot import Snapshot

pytestmark = pytest.mark.kafka

T0 = 1_700_000_000.0
ROOT = Path(__file__).resolve().parents[2]


class ScriptedSource:
    """A fixed price path per symbol, all at once (not paced)."""

    paced = False

    def __init__(self, ticks: list[Tick], limits: dict[str, tuple[float, float]]) -> None:
        self.ticks = ticks
        self.limits = limits
        self.name = "scripted"

    def __iter__(self) -> Iterator[Tick]:
        return iter(self.ticks)


def scripted_path() -> ScriptedSource:
    # UP rises from 100 through its sell limit 105; DOWN falls from 50 through its buy limit 48.
    ticks = []
    for k in range(60):
        t = T0 + k
        ticks.append(Tick("UP", 100.0 + 0.1 * k, t))
        ticks.append(Tick("DOWN", 50.0 - 0.05 * k, t))
    return ScriptedSource(ticks, {"UP": (90.0, 105.0), "DOWN": (48.0, 60.0)})


def _signal_kinds(snap: Snapshot, symbol: str) -> list[SignalKind]:
    return [s.kind for s in snap.signals if s.symbol == symbol]


def test_ticks_through_kafka_give_the_expected_signals(broker: EmbeddedBroker, topic: str) -> None:
    source = scripted_path()
    pipeline = Pipeline(
        PipelineOptions(bootstrap=broker.bootstrap, topic=topic, source=source, from_beginning=True,
                        engine=EngineConfig(fast=5, slow=20))
    )  # fmt: skip
    pipeline.start()
    try:
        snap = wait_for(pipeline, lambda s: s.kafka.consumed >= len(source.ticks))
        up = [s for s in snap.signals if s.symbol == "UP" and s.kind == SignalKind.SELL]
        down = [s for s in snap.signals if s.symbol == "DOWN" and s.kind == SignalKind.BUY]
        assert len(up) == 1 and len(down) == 1, "each crossing is signalled exactly once"
        assert up[0].price == pytest.approx(105.0) and up[0].limit == 105.0
        assert down[0].price == pytest.approx(48.0) and down[0].limit == 48.0
        assert SignalKind.BUY not in _signal_kinds(snap, "UP")
        assert SignalKind.SELL not in _signal_kinds(snap, "DOWN")
        assert snap.kafka.bad == 0
        assert snap.kafka.broker_state == "UP"
        # the track record rides along; 59 s of ticks: nothing comes due at a 60 s horizon
        assert snap.track is not None and snap.track.resolved == 0
        # Each symbol is calibrated with its partition, though the source's limits
        # registered it before its first tick arrived.
        streams = dict(zip(snap.engine.symbols, snap.engine.stream.tolist(), strict=True))
        assert streams == _partitions(broker.bootstrap, topic, len(source.ticks))
        assert set(streams.values()) == {2, 3} and set(snap.tracks) >= {2, 3}
    finally:
        assert pipeline.stop()


def _partitions(bootstrap: str, topic: str, n: int) -> dict[str, int]:
    """The partition each symbol's ticks are in, from the first `n` messages of `topic`."""
    consumer = Consumer(client_config(bootstrap, **{"group.id": f"{topic}-look"}))
    parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    found: dict[str, int] = {}
    read, deadline = 0, time.monotonic() + 20
    while read < n and time.monotonic() < deadline:
        for msg in consumer.consume(1000, timeout=0.5):
            if msg.error() is None:
                read += 1
                found[decode(msg.value()).symbol] = msg.partition()
    consumer.close()
    assert read >= n, f"read {read} of {n}"
    return found


def test_remembered_limits_of_symbols_the_stream_lacks_make_no_rows(
    broker: EmbeddedBroker, topic: str
) -> None:
    # Limits remembered from a run on another source (ACME, BRIX) and one this stream
    # carries (UP): only UP gets a row, with the remembered limits, which UP then crosses.
    source = scripted_path()
    remembered = {"ACME": (140.0, 160.0), "BRIX": (400.0, 440.0), "UP": (90.0, 104.0)}
    pipeline = Pipeline(
        PipelineOptions(bootstrap=broker.bootstrap, topic=topic, source=source, from_beginning=True,
                        limits=remembered, remembered=frozenset(remembered),
                        limits_topic=f"{topic}-limits")
    )  # fmt: skip
    pipeline.start()
    try:
        snap = wait_for(pipeline, lambda s: s.kafka.consumed >= len(source.ticks))
        assert sorted(snap.engine.symbols) == ["DOWN", "UP"]
        i = snap.engine.symbols.index("UP")
        assert (snap.engine.buy[i], snap.engine.sell[i]) == (90.0, 104.0)
        (up,) = [s for s in snap.signals if s.symbol == "UP" and s.kind == SignalKind.SELL]
        assert up.limit == 104.0
    finally:
        assert pipeline.stop()


def test_lag_is_measured_from_the_fetch_high_watermark(broker: EmbeddedBroker, topic: str) -> None:
    source = scripted_path()
    pipeline = Pipeline(
        PipelineOptions(bootstrap=broker.bootstrap, topic=topic, source=source, from_beginning=True)
    )
    pipeline.start()
    try:
        snap = wait_for(
            pipeline,
            lambda s: (
                s.kafka.consumed >= len(source.ticks)
                and len(s.kafka.partitions) == 4
                and sum(p.high for p in s.kafka.partitions if p.high > 0) == len(source.ticks)
                and all(p.lag == 0 for p in s.kafka.partitions)
            ),
        )
        busy = [p for p in snap.kafka.partitions if p.high > 0]
        assert busy, "no partition reported a high watermark"
        assert all(p.position == p.high for p in busy)
        assert snap.kafka.total_lag == 0
    finally:
        assert pipeline.stop()


def test_malformed_messages_are_counted_and_dead_lettered(
    broker: EmbeddedBroker, topic: str
) -> None:
    source = scripted_path()
    pipeline = Pipeline(
        PipelineOptions(bootstrap=broker.bootstrap, topic=topic, source=None, from_beginning=True)
    )
    pipeline.start()
    bad = [b"not json", b"\xff\xfe", b'{"symbol":"X","price":-3,"ts":1}', b"{" * 10000, None]
    try:
        producer = Producer(client_config(broker.bootstrap))
        for value in bad:
            producer.produce(topic, value=value, key=b"X")
        for tick in source.ticks:
            from producer.wire import encode

            producer.produce(topic, value=encode(tick), key=tick.symbol.encode())
        assert producer.flush(10) == 0
        snap = wait_for(
            pipeline, lambda s: s.kafka.consumed >= len(source.ticks) and s.kafka.bad >= len(bad)
        )
        assert snap.kafka.bad == len(bad)
        assert snap.kafka.dead_lettered == len(bad)
        # the good ticks around the bad ones all arrived
        assert {s.symbol for s in snap.signals} >= {"UP", "DOWN"}
    finally:
        assert pipeline.stop()
    # Each dead letter says why, in the decoder's words, in the order the messages came.
    reasons = _read_dlq(broker, topic, len(bad))
    assert reasons == [_why_bad(value) for value in bad]
    starts = ("not JSON", "not JSON", "invalid tick", "message of 10000 bytes exceeds", "empty")
    assert [r.startswith(start) for r, start in zip(reasons, starts, strict=True)] == [True] * 5


def test_quantities_at_zero_and_below_travel_and_prices_below_zero_are_refused(
    broker: EmbeddedBroker, topic: str, tmp_path: Path
) -> None:
    """A file whose ``spread`` goes below zero, read with ``--additive spread``: its
    values go through Kafka to the engine, which models them in their own units; the
    same values for a price are dead-lettered as a bad price."""
    path = tmp_path / "spread.csv"
    values = [0.5, 0.25, 0.0, -0.25, -0.5, -0.75, -1.0]
    path.write_text(
        "ts,symbol,price\n"
        + "".join(f"{1_750_000_000 + i},spread,{v}\n" for i, v in enumerate(values))
    )
    source = open_source(str(path), additive=["spread"])
    pipeline = Pipeline(
        PipelineOptions(
            bootstrap=broker.bootstrap, topic=topic, source=source, speed=1000.0,
            from_beginning=True, additive=("spread",),
        )
    )  # fmt: skip
    pipeline.start()
    try:
        producer = Producer(client_config(broker.bootstrap))
        producer.produce(topic, value=b'{"symbol":"X","price":-3,"ts":1}', key=b"X")
        assert producer.flush(10) == 0
        snap = wait_for(pipeline, lambda s: s.kafka.consumed >= len(values) and s.kafka.bad >= 1)
        i = snap.engine.symbols.index("spread")
        assert float(snap.engine.last[i]) == -1.0
        assert int(snap.engine.n_ticks[i]) == len(values)
        assert bool(snap.engine.additive[i])
        assert "X" not in snap.engine.symbols
        assert dict(snap.kafka.bad_by) == {"bad price": 1}
    finally:
        assert pipeline.stop()


def _why_bad(value: bytes | None) -> str:
    with pytest.raises(BadTick) as info:
        decode(value)
    return str(info.value)


def _read_dlq(broker: EmbeddedBroker, topic: str, expected: int) -> list[str]:
    """The reason header of the first `expected` dead letters of `topic`."""
    return [h["limitwatch.reason"] for h, _ in read_dead_letters(broker, topic, expected)]


def _limitwatch_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("limitwatch")]


def test_quitting_stops_threads_and_broker_quickly() -> None:
    pipeline = Pipeline(PipelineOptions(source=MarketGenerator(seed=1, rate=200.0)))
    pipeline.start()
    assert pipeline.broker is not None
    broker_pid = pipeline.broker.pid
    app = LimitwatchApp(pipeline)

    async def run() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until_async(
                lambda: (snap := pipeline.latest()) is not None and snap.kafka.consumed > 20,
                pilot.pause,
                15,
            )
            await pilot.press("q")

    asyncio.run(run())
    assert pipeline.stop(timeout=2.0), "threads were still running after the 2 s budget"
    assert _limitwatch_threads() == []
    assert broker_pid is not None
    gone = (
        not psutil.pid_exists(broker_pid)
        or psutil.Process(broker_pid).status() == psutil.STATUS_ZOMBIE
    )
    assert gone, "the embedded broker process outlived the app"


def test_a_scenario_on_standard_input_gives_its_header_limits_to_the_engine(
    broker: EmbeddedBroker, topic: str
) -> None:
    # Standard input tells its limits only once the header is read, after the start.
    scenario = (ROOT / "scenarios" / "crash.jsonl").read_bytes()
    source = open_source("-", stdin=io.BytesIO(scenario))
    assert source.limits == {}
    pipeline = Pipeline(
        PipelineOptions(bootstrap=broker.bootstrap, topic=topic, source=source, from_beginning=True,
                        limits={"DRVX": (290.0, 330.0)}, pinned=frozenset({"DRVX"}))
    )  # fmt: skip
    pipeline.start()
    try:
        snap = wait_for(pipeline, lambda s: s.kafka.consumed >= source.ticks > 0)
        state = snap.engine
        cygn, drvx = state.symbols.index("CYGN"), state.symbols.index("DRVX")
        assert (state.buy[cygn], state.sell[cygn]) == (48.5, 52.0)  # the header's
        assert (state.buy[drvx], state.sell[drvx]) == (290.0, 330.0)  # --limit's stay
        buys = [s for s in snap.signals if s.symbol == "CYGN" and s.kind == SignalKind.BUY]
        assert buys and buys[0].limit == 48.5
    finally:
        assert pipeline.stop()


def test_a_recording_dated_ahead_of_the_clock_replays_whole(
    broker: EmbeddedBroker, topic: str, tmp_path: Path
) -> None:
    """A recording of the generator sped up with `+` is dated hours ahead of the clock
    from its first tick on: replayed, every tick of it had been refused as "future time"
    (579 of 579), since the replay's lead over the clock counted from its first tick. It
    now starts as far ahead as that first tick."""
    t0 = time.time() + 28 * 3600.0
    rows = [f"{t0 + k * 0.05!r},S{k % 4},{100.0 + (k % 9) * 0.01:.2f}" for k in range(400)]
    path = tmp_path / "ahead.csv"
    path.write_text("\n".join(["ts,symbol,price", *rows]) + "\n", encoding="utf-8")
    pipeline = Pipeline(
        PipelineOptions(bootstrap=broker.bootstrap, topic=topic, source=open_source(str(path)),
                        speed=100.0, from_beginning=True)
    )  # fmt: skip
    pipeline.start()
    try:
        snap = wait_for(pipeline, lambda s: s.kafka.consumed + s.kafka.bad >= 400)
        assert (snap.kafka.consumed, snap.kafka.bad) == (400, 0)
    finally:
        assert pipeline.stop()


def test_a_source_sped_up_ahead_of_the_clock_is_not_refused_as_future_time(
    broker: EmbeddedBroker, topic: str
) -> None:
    """The generator (or a looped replay) at 40x runs its event time ahead of this
    machine's clock by design: the consumer of the same pipeline checks event times
    against the clock plus that lead, so its own ticks go on being read, while a tick
    from elsewhere dated far ahead is still refused."""
    source = MarketGenerator(symbols=4, rate=100.0, seed=3)
    pipeline = Pipeline(
        PipelineOptions(bootstrap=broker.bootstrap, topic=topic, source=source, speed=40.0,
                        from_beginning=True, max_ahead_s=2.0)
    )  # fmt: skip
    pipeline.start()
    try:
        assert pipeline.producer is not None
        wait_until_lead = time.monotonic() + 20.0
        while pipeline.producer.lead_s < 20.0 and time.monotonic() < wait_until_lead:
            time.sleep(0.05)
        assert pipeline.producer.lead_s >= 20.0  # ten times the bound on event times ahead
        ahead = pipeline.producer.lead_s
        sent = Producer(client_config(broker.bootstrap))
        from producer.wire import encode

        sent.produce(topic, value=encode(Tick("EVIL", 10.0, time.time() + 1000.0 + ahead)))
        assert sent.flush(10) == 0
        snap = wait_for(pipeline, lambda s: s.kafka.bad >= 1 and s.kafka.consumed > 2000)
        assert snap.kafka.bad == 1  # only the stranger's tick
        assert float(snap.engine.t_last.max()) > time.time() + 10.0  # its clock is ahead
    finally:
        assert pipeline.stop()
