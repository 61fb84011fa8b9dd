"""Hostile input through the real broker, one test per message: each is produced raw to
the prices topic, counted under its reason, found in the dead-letter topic with that
reason and its origin, key and size, and leaves the engine as it was.

One consumer reads every case in one round: a control symbol is fed first, then every
hostile message at once; the engine's state is taken before and after the round, so a
case that reached the engine (a new symbol, a moved price, clock or tick count) shows.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from engine import EngineConfig
from engine.limits import MAX_PRICE
from engine.state import EngineState
from producer.broker import EmbeddedBroker
from producer.kafka_config import client_config
from producer.topics import dlq_topic
from producer.wire import MAX_MESSAGE_BYTES, MAX_SYMBOL_LEN, Problem
from tests.tui.dead_letters import read_dead_letters
from tests.tui.waiting import wait_for
from tests.waiting import wait_until
from tui.runtime.dead_letters import MAX_COPY_BYTES
from tui.runtime.pipeline import Pipeline, PipelineOptions
from tui.runtime.snapshot import Snapshot

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(90)]

#: The symbol fed before the round, whose state no case may change.
CONTROL = "CTRL"
CONTROL_PRICE = 100.0
CONTROL_TICKS = 30
#: When the cases were made; event times in them are relative to it.
NOW = time.time()


@dataclass(frozen=True)
class Case:
    """One hostile message: its value (None: no value at all), key, and the reason it is
    refused under."""

    name: str
    value: bytes | None
    problem: Problem
    key: bytes = b"hostile"


def _json(**fields: Any) -> bytes:
    return json.dumps(fields, allow_nan=True).encode()


def _tick(symbol: Any = "HOSTILE", price: Any = 10.0, ts: Any = NOW, **more: Any) -> bytes:
    return _json(symbol=symbol, price=price, ts=ts, **more)


def _raw(symbol: str = '"HOSTILE"', price: str = "10.0", ts: str = f"{NOW}") -> bytes:
    """A tick written by hand, for numbers and literals json.dumps will not write."""
    return f'{{"symbol":{symbol},"price":{price},"ts":{ts}}}'.encode()


def _cases() -> list[Case]:
    nj, shape, price = Problem.NOT_JSON, Problem.WRONG_SHAPE, Problem.BAD_PRICE
    sym, future, large = Problem.BAD_SYMBOL, Problem.FUTURE_TIME, Problem.TOO_LARGE
    jump, ctrl = Problem.IMPLAUSIBLE_JUMP, CONTROL.encode()
    refused = Problem.REFUSED_SYMBOL
    good = _tick()
    deep = 10_000
    return [
        # Not JSON at all, or not text.
        Case("invalid-utf8", b'{"symbol":"\xff\xfe","price":10,"ts":1}', nj),
        Case("invalid-utf8-bare", b"\xc3\x28\xa0\xa1", nj),
        Case("binary-junk", bytes(range(256)), nj),
        Case("nul-bytes", b"\x00" * 32, nj),
        Case("truncated-json", good[: len(good) // 2], nj),
        Case("trailing-garbage", good + b"garbage", nj),
        Case("two-ticks-in-one", good + good, nj),
        Case("whitespace-only", b" \t\r\n  ", nj),
        Case("utf8-bom", b"\xef\xbb\xbf" + good, nj),
        Case("utf16-text", good.decode().encode("utf-16"), nj),
        Case("single-quotes", good.replace(b'"', b"'"), nj),
        Case("price-nan-literal", _raw(price="NaN"), nj),
        Case("price-infinity-literal", _raw(price="Infinity"), nj),
        Case("price-minus-infinity-literal", _raw(price="-Infinity"), nj),
        Case("ts-nan-literal", _raw(ts="NaN"), nj),
        Case("lone-surrogate-escape", _raw(symbol='"\\ud800"'), nj),
        Case("deep-nesting-in-extra-field", b'{"x":' + b"[" * 1500 + b"]" * 1500 + b"}", shape),
        Case("binary-key", b"\x00\xffnot a tick", nj, key=b"\x00\xff\xfe\x80\x1b[2J"),
        # JSON, but not a tick.
        Case("no-value-tombstone", None, shape),
        Case("empty-value", b"", shape),  # no tick either: "empty message", as a tombstone
        Case("top-level-array", b'["HOSTILE", 10.0, 1]', shape),
        Case("top-level-number", b"42", shape),
        Case("top-level-string", b'"HOSTILE 10.0"', shape),
        Case("top-level-null", b"null", shape),
        Case("top-level-true", b"true", shape),
        Case("empty-object", b"{}", shape),
        Case("missing-price", _json(symbol="HOSTILE", ts=NOW), shape),
        Case("missing-symbol", _json(price=10.0, ts=NOW), shape),
        Case("missing-ts", _json(symbol="HOSTILE", price=10.0), shape),
        Case("tick-nested-one-level-down", _json(tick={"symbol": "HOSTILE", "price": 10.0}), shape),
        Case("ts-string-garbage", _tick(ts="yesterday"), shape),
        Case("ts-string-nan", _tick(ts="NaN"), shape),
        Case("ts-negative", _tick(ts=-1.0), shape),
        Case("ts-null", _tick(ts=None), shape),
        Case("ts-1e400", _raw(ts="1e400"), shape),  # overflows: ahead or behind is unknown
        Case("resent-not-a-bool", _tick(resent="yes"), shape),
        # Each field once: a decoder keeps the last of two, another program the first.
        Case("duplicated-symbol", _raw(symbol='"HOSTILE","symbol":"OTHER"'), shape),
        Case("duplicated-price-both-good", _raw(price='10.0,"price":20.0'), shape),
        Case("duplicated-ts-both-good", _raw(ts=f'{NOW},"ts":{NOW - 1}'), shape),
        # Bad prices.
        Case("price-string-garbage", _tick(price="lots"), price),
        Case("price-numeric-string", _tick(price="10.5"), price),
        Case("price-string-nan", _tick(price="NaN"), price),
        Case("price-string-infinity", _tick(price="Infinity"), price),
        Case("price-negative", _tick(price=-10.0), price),
        Case("price-zero", _tick(price=0), price),
        Case("price-minus-zero", _raw(price="-0.0"), price),
        Case("price-1e400", _raw(price="1e400"), price),
        Case("price-huge-int", _raw(price="9" * 400), price),
        Case("price-at-the-bound", _tick(price=MAX_PRICE), price),
        Case("price-int-beyond-int64", _raw(price=str(2**70)), price),
        Case("price-true", _tick(price=True), price),
        Case("price-null", _tick(price=None), price),
        Case("price-object", _tick(price={"value": 10.0}), price),
        Case("price-deep-array", _raw(price="[" * 1000 + "]" * 1000), price),
        # a field given twice is said as that, whichever of the two is refused
        Case("duplicated-price-last-bad", _raw(price="10.0,\"price\":-1"), shape),
        Case("duplicated-price-first-bad", _raw(price="-1,\"price\":10.0"), shape),
        # Bad symbols.
        Case("symbol-empty", _tick(symbol=""), sym),
        Case("symbol-too-long", _tick(symbol="S" * (MAX_SYMBOL_LEN + 1)), sym),
        Case("symbol-escape-sequence", _tick(symbol="X\x1b[31mRED"), sym),
        Case("symbol-newline", _tick(symbol="A\nB"), sym),
        Case("symbol-nul", _tick(symbol="A\x00B"), sym),
        Case("symbol-bidi-override", _tick(symbol="A\u202eB"), sym),
        Case("symbol-zero-width-space", _tick(symbol="A\u200bB"), sym),
        Case("symbol-surrounding-spaces", _tick(symbol=" CTRL "), sym),
        Case("symbol-number", _tick(symbol=42), sym),
        Case("symbol-null", _tick(symbol=None), sym),
        Case("symbol-list", _tick(symbol=["CTRL"]), sym),
        # Event times that cannot be true.
        Case("ts-hour-ahead", _tick(symbol=CONTROL, price=CONTROL_PRICE, ts=NOW + 3600), future),
        Case("ts-in-milliseconds", _tick(ts=NOW * 1000), future),
        Case("ts-far-future", _tick(ts=1e300), future),
        # Too large to decode.
        Case("one-megabyte", _tick(pad="x" * 1_000_000), large),
        Case("just-over-the-limit", _tick(pad="x" * MAX_MESSAGE_BYTES), large),
        Case("deep-nesting-10k-levels", b"[" * deep + b"]" * deep, large),
        # Prices that jump from the control symbol's (up, then down, never agreeing).
        Case("price-jump-up", _tick(symbol=CONTROL, price=CONTROL_PRICE * 1000), jump, ctrl),
        Case("price-jump-down", _tick(symbol=CONTROL, price=CONTROL_PRICE / 1000), jump, ctrl),
        # Below the smallest price a tick may carry: a bad price before it could be a jump.
        Case("price-a-denormal", _tick(symbol=CONTROL, price=5e-324), price, ctrl),
        # Well formed, but the engine tracks as many symbols as it may (one: the control).
        Case("refused-symbol", _tick(symbol="NEWCOMER"), refused),
        Case("refused-symbol-control-price", _tick(symbol="CTRL2", price=CONTROL_PRICE), refused),
    ]  # fmt: skip


CASES = _cases()
EXPECTED_BY_REASON = Counter(case.problem.value for case in CASES)


@dataclass
class Round:
    """What one round of hostile messages did."""

    before: Snapshot
    after: Snapshot
    origins: dict[str, str]  # case name: topic/partition/offset it was written at
    letters: dict[str, tuple[bytes | None, dict[str, str], bytes | None]]  # origin: letter
    worker_alive: bool


def _produce(
    broker: EmbeddedBroker, topic: str, messages: list[tuple[str, bytes, bytes | None]]
) -> dict[str, str]:
    """Produce each (name, key, value) raw; where each was written (topic/partition/offset)."""
    producer = Producer(client_config(broker.bootstrap, **{"message.max.bytes": 2_000_000}))
    origins: dict[str, str] = {}
    failed: list[str] = []

    def on_delivery(name: str) -> Any:
        def done(err: Any, msg: Any) -> None:
            if err is not None:
                failed.append(f"{name}: {err}")
            else:
                origins[name] = f"{msg.topic()}/{msg.partition()}/{msg.offset()}"

        return done

    for name, key, value in messages:
        producer.produce(topic, value=value, key=key, on_delivery=on_delivery(name))
    assert producer.flush(15) == 0
    assert not failed, failed
    return origins


def _read_letters(
    broker: EmbeddedBroker, topic: str, expected: int
) -> dict[str, tuple[bytes | None, dict[str, str], bytes | None]]:
    """Every dead letter of `topic` by its origin header: key, headers, value."""
    consumer = Consumer(client_config(broker.bootstrap, **{"group.id": f"{topic}-hostile"}))
    consumer.assign([TopicPartition(dlq_topic(topic), 0, 0)])
    letters: dict[str, tuple[bytes | None, dict[str, str], bytes | None]] = {}

    def all_read() -> bool:
        for msg in consumer.consume(500, timeout=0.2):
            if msg.error() is None:
                headers = {k: v.decode() for k, v in msg.headers() or []}
                letters[headers["limitwatch.origin"]] = (msg.key(), headers, msg.value())
        return len(letters) >= expected

    try:
        wait_until(all_read, 30, what=lambda: f"{len(letters)} of {expected} dead letters")
    finally:
        consumer.close()
    return letters


@pytest.fixture(scope="module")
def hostile_round(broker: EmbeddedBroker) -> Iterator[Round]:
    """One consumer whose engine tracks one symbol, the control symbol's ticks, then
    every case in one go."""
    topic = f"hostile-{int(NOW * 1000) % 10**9}"
    pipeline = Pipeline(
        PipelineOptions(
            bootstrap=broker.bootstrap,
            topic=topic,
            from_beginning=True,
            engine=EngineConfig(max_symbols=1),  # the control symbol only
            evict_idle=False,  # a new symbol is refused, not taken for the control one
        )
    )
    pipeline.start()
    try:
        # Before the cases' times (NOW, when they were made): a case later by more than
        # a minute would be refused as an old time before its own reason.
        start = NOW - CONTROL_TICKS
        control = [
            (f"control-{k}", CONTROL.encode(), _tick(CONTROL, CONTROL_PRICE + 0.01 * k, start + k))
            for k in range(CONTROL_TICKS)
        ]
        _produce(broker, topic, control)
        before = wait_for(pipeline, lambda s: s.kafka.consumed >= CONTROL_TICKS)
        origins = _produce(broker, topic, [(c.name, c.key, c.value) for c in CASES])
        after = wait_for(
            pipeline,
            lambda s: s.kafka.bad >= len(CASES) and s.kafka.dead_lettered >= len(CASES),
            timeout=30,
        )
        letters = _read_letters(broker, topic, len(CASES))
        assert pipeline.worker is not None
        alive = pipeline.worker.is_alive()
    finally:
        assert pipeline.stop()
    yield Round(before, after, origins, letters, alive)


def _control(state: EngineState) -> dict[str, Any]:
    """Every per-symbol field of the control symbol."""
    i = state.symbols.index(CONTROL)
    return {
        f.name: getattr(state, f.name)[i]
        for f in dataclasses.fields(state)
        if isinstance(getattr(state, f.name), np.ndarray)
    }


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_hostile_message_is_refused_dead_lettered_and_changes_nothing(
    hostile_round: Round, case: Case
) -> None:
    r = hostile_round
    assert r.worker_alive, "the consumer worker died"
    reason = case.problem.value
    # In the dead-letter topic with that reason, its origin, key, size and value.
    origin = r.origins[case.name]
    assert origin in r.letters, f"no dead letter from {origin}"
    key, headers, value = r.letters[origin]
    assert headers["limitwatch.problem"] == reason, headers["limitwatch.reason"]
    assert headers["limitwatch.reason"]
    size = len(case.value) if case.value is not None else 0
    assert headers["limitwatch.size"] == str(size)
    if case.value is not None and size > MAX_COPY_BYTES:
        assert value == case.value[:MAX_COPY_BYTES]
    else:
        assert (value or b"") == (case.value or b"")
    assert key == case.key
    # Counted under its reason (each reason's count is the number of its cases).
    assert dict(r.after.kafka.bad_by).get(reason) == EXPECTED_BY_REASON[reason]
    assert r.after.kafka.bad == len(CASES)
    # The engine as it was: no tick taken, no symbol made, the control symbol untouched.
    assert r.after.kafka.consumed == r.before.kafka.consumed == CONTROL_TICKS
    assert r.after.engine.symbols == r.before.engine.symbols == (CONTROL,)
    assert r.before.engine.refused == 0
    assert r.after.engine.refused == EXPECTED_BY_REASON[Problem.REFUSED_SYMBOL.value]
    before, after = _control(r.before.engine), _control(r.after.engine)
    for name, was in before.items():
        assert np.array_equal(after[name], was, equal_nan=True), f"{name}: {was} -> {after[name]}"


def test_the_round_raised_no_client_error(hostile_round: Round) -> None:
    assert hostile_round.after.kafka.errors == 0, hostile_round.after.kafka.last_error


def test_a_flood_of_refused_messages_is_logged_in_a_few_lines_and_each_is_kept(
    broker: EmbeddedBroker, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    """50,000 garbage messages wrote a log line each: 16,000 lines and a rotated 5 MB log
    within seconds, the monitor's start and its broker's events rotated away. Now the
    first ten are logged, the rest counted in one line; every one is still counted and
    copied to the dead-letter topic."""
    caplog.set_level(logging.WARNING, logger="tui.runtime.dead_letters")
    flood = 300
    pipeline = Pipeline(PipelineOptions(bootstrap=broker.bootstrap, topic=topic,
                                        from_beginning=True))  # fmt: skip
    pipeline.start()
    try:
        _produce(broker, topic, [(f"junk-{k}", b"k", b"not json %d" % k) for k in range(flood)])
        snap = wait_for(pipeline, lambda s: s.kafka.dead_lettered == flood, 30)
        assert dict(snap.kafka.bad_by) == {Problem.NOT_JSON.value: flood}
    finally:
        assert pipeline.stop(10.0)
    assert len(read_dead_letters(broker, topic, flood)) == flood
    lines = [r.getMessage() for r in caplog.records if r.name == "tui.runtime.dead_letters"]
    assert len(lines) == 11, lines
    assert all(line.startswith("refused message at ") for line in lines[:10])
    assert lines[10].startswith(f"{flood - 10} more refused messages of {topic} in "), lines[10]
