"""Ticks a topic already has, in other programs' shapes, read through the real embedded
broker: a crypto exchange's trade, the same nested in a combined stream, and a quote with
its symbol in the message key and its time in the Kafka timestamp. Each reaches the
engine with the right symbol, price and time; bad values go to the dead-letter topic with
their reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Producer

from engine import Signal, SignalKind
from producer.broker import EmbeddedBroker
from producer.fields import Fields
from producer.kafka_config import client_config
from producer.scenario import ScenarioReader
from producer.topics import ensure_topics
from tests.tui.dead_letters import read_dead_letters
from tests.waiting import wait_until
from tui.runtime.consumer import ConsumerWorker

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
T0_MS = 1_700_000_000_000
#: A symbol drifting down from 100 through its buy limit at 97.
PRICES = [100.0 - 0.1 * k for k in range(40)]
BUY_LIMIT = 97.0

#: (value, key, Kafka timestamp in ms) for the k-th tick of symbol SYM at PRICE.
Shape = Callable[[str, float, int], tuple[bytes, bytes | None, int | None]]


def _binance(sym: str, price: float, k: int) -> tuple[bytes, bytes | None, int | None]:
    trade = {"e": "trade", "E": T0_MS + k * 1000 + 5, "s": sym, "t": 1000 + k,
             "p": f"{price:.2f}", "q": "0.010", "T": T0_MS + k * 1000, "m": k % 2 == 0}  # fmt: skip
    return json.dumps(trade).encode(), None, None


def _nested(sym: str, price: float, k: int) -> tuple[bytes, bytes | None, int | None]:
    data = {"stream": f"{sym.lower()}@trade",
            "data": {"s": sym, "p": price, "T": T0_MS + k * 1000}}  # fmt: skip
    return json.dumps(data).encode(), None, None


def _keyed(sym: str, price: float, k: int) -> tuple[bytes, bytes | None, int | None]:
    quote = {"bid": round(price, 2), "ask": round(price + 0.02, 2)}
    return json.dumps(quote).encode(), sym.encode(), T0_MS + k * 1000


SHAPES: dict[str, tuple[str, Shape]] = {
    "binance-trade": ("symbol=s,price=p,ts=T:ms", _binance),
    "nested-stream": ("symbol=data.s,price=data.p,ts=data.T:ms", _nested),
    "key-and-kafka-timestamp": ("symbol=@key,price=bid,ts=@timestamp", _keyed),
}


def _send(
    bootstrap: str, topic: str, messages: list[tuple[bytes, bytes | None, int | None]]
) -> None:
    producer = Producer(client_config(bootstrap, **{"linger.ms": 5}))
    for value, key, ts in messages:
        producer.produce(topic, value=value, key=key, partition=0, timestamp=ts or 0)
    assert producer.flush(10) == 0


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_topic_of_another_shape_reaches_the_engine(
    broker: EmbeddedBroker, topic: str, shape: str
) -> None:
    spec, make = SHAPES[shape]
    ensure_topics(broker.bootstrap, topic, partitions=1)
    messages = [make("BTCUSDT", p, k) for k, p in enumerate(PRICES)]
    bad = [
        (b'{"s":"BTCUSDT","p":"n/a","T":1700000000000}', b"BTCUSDT", None),  # no number
        (b"<html>502 Bad Gateway</html>", b"BTCUSDT", None),  # not JSON at all
    ]
    _send(broker.bootstrap, topic, messages + bad)
    signals: list[Signal] = []
    worker = ConsumerWorker(
        broker.bootstrap, topic=topic, fields=Fields.parse(spec), on_signals=signals.extend,
        limits={"BTCUSDT": (BUY_LIMIT, 200.0)},
    )  # fmt: skip
    worker.start()
    try:
        snap = wait_until(
            lambda: (s := worker.latest()) is not None and s.kafka.consumed >= 40
            and s.kafka.dead_lettered >= 2 and s,
            30, what=lambda: f"{worker.latest()}",
        )  # fmt: skip
    finally:
        worker.stop()
        worker.join(5)
    assert not worker.is_alive()
    assert snap.engine.symbols == ("BTCUSDT",)
    assert snap.engine.last[0] == pytest.approx(PRICES[-1])
    assert snap.engine.t_last[0] == pytest.approx((T0_MS + 39_000) / 1000)
    assert snap.kafka.consumed == 40
    buys = [s for s in signals if s.kind is SignalKind.BUY]
    assert buys and buys[0].price <= BUY_LIMIT
    assert buys[0].t == pytest.approx((T0_MS + 30_000) / 1000)  # 97.0 is the 31st tick
    letters = read_dead_letters(broker, topic, 2)
    reasons = sorted(h["limitwatch.problem"] for h, _ in letters)
    if shape == "key-and-kafka-timestamp":  # neither has the bid field it reads
        assert reasons == ["not JSON", "wrong shape"], letters
    else:
        expected = "wrong shape" if shape == "nested-stream" else "bad price"
        assert reasons == sorted(["not JSON", expected]), letters
    assert all(h["limitwatch.reason"] for h, _ in letters)


def test_record_reads_another_shape_with_fields_from_the_settings_file(
    broker: EmbeddedBroker, topic: str, tmp_path: Path
) -> None:
    ensure_topics(broker.bootstrap, topic, partitions=1)
    _send(broker.bootstrap, topic, [_binance("ETHUSDT", p, k) for k, p in enumerate(PRICES)])
    config = tmp_path / "config.toml"
    config.write_text('[topic]\nfields = "symbol=s,price=p,ts=T:ms"\n')
    out = tmp_path / "eth.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "tui.cli", "record", str(out), "--bootstrap-servers",
         broker.bootstrap, "--topic", topic, "--from-beginning", "--count", "40",
         "--config", str(config), "--log-file", str(tmp_path / "l.log")],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=dict(os.environ),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    ticks = list(ScenarioReader(out))
    assert [t.symbol for t in ticks] == ["ETHUSDT"] * 40
    assert [t.price for t in ticks] == [float(f"{p:.2f}") for p in PRICES]
    assert [round(t.ts * 1000) for t in ticks] == [T0_MS + k * 1000 for k in range(40)]


def test_fields_on_the_command_line_beat_the_settings_file_and_are_checked(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[topic]\nfields = "symbol=s,price=p,ts=T:minutes"\n')
    run = [sys.executable, "-m", "tui.cli", "engine", "--bootstrap-servers", "127.0.0.1:1",
           "--config", str(config), "--log-file", str(tmp_path / "l.log")]  # fmt: skip
    broken = subprocess.run(run, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert broken.returncode == 2
    assert "topic.fields" in broken.stderr and "ts unit" in broken.stderr
    bad_flag = subprocess.run(
        [*run, "--fields", "price=@key"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert bad_flag.returncode == 2 and "price must be a field" in bad_flag.stderr
    unreachable = subprocess.run(
        [*run, "--fields", "symbol=s,price=p,ts=T:ms"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert unreachable.returncode == 2, unreachable.stderr
    assert "could not reach Kafka" in unreachable.stderr  # the file's mapping was not read
    own_producer = subprocess.run(
        [sys.executable, "-m", "tui.cli", "--fields", "symbol=s,price=p,ts=T:ms",
         "--log-file", str(tmp_path / "l.log"), "--config", str(config)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert own_producer.returncode == 2 and "add --no-producer" in own_producer.stderr


def test_a_mapping_that_fits_no_message_says_so(broker: EmbeddedBroker, topic: str) -> None:
    """Times in seconds under a mapping that reads milliseconds: each message is refused
    (January 1970) and dead-lettered; after the first 100, a notice says the mapping
    fits none of them and why the latest was refused (before, only the counts grew)."""
    ensure_topics(broker.bootstrap, topic, partitions=1)
    seconds = [
        (json.dumps({"s": "BTCUSDT", "p": p, "T": T0_MS // 1000 + k}).encode(), None, None)
        for k, p in enumerate(PRICES * 3)
    ]
    _send(broker.bootstrap, topic, seconds)
    worker = ConsumerWorker(
        broker.bootstrap, topic=topic, fields=Fields.parse("symbol=s,price=p,ts=T:ms")
    )
    worker.start()
    try:
        snap = wait_until(
            lambda: (s := worker.latest()) is not None and s.kafka.bad >= 120 and s,
            30, what=lambda: f"{worker.latest()}",
        )  # fmt: skip
    finally:
        worker.stop()
        worker.join(5)
    assert snap.kafka.consumed == 0
    said = [n.text for n in snap.notices if "fit the fields mapping" in n.text]
    assert len(said) == 1, snap.notices
    assert "none of the first 100 messages" in said[0]
    assert "symbol=s,price=p,ts=T:ms" in said[0] and "is the unit ms right?" in said[0]
