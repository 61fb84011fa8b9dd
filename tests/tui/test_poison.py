"""Poison through the real broker: messages that fail to decode and ticks that decode but
cannot be true (an event time far ahead, a price jump) are refused, counted under their
reason, and found in the dead-letter topic with it; none moves a symbol's clock or scale."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer

from producer.broker import EmbeddedBroker
from producer.kafka_config import client_config
from producer.wire import Problem, Tick, encode
from tests.tui.dead_letters import read_dead_letters
from tests.tui.waiting import wait_for
from tui.runtime.dead_letters import MAX_COPY_BYTES
from tui.runtime.pipeline import Pipeline, PipelineOptions

pytestmark = pytest.mark.kafka


def _tick(symbol: str, price: float, ts: float) -> bytes:
    return json.dumps({"symbol": symbol, "price": price, "ts": ts}).encode()


def _pipeline(broker: EmbeddedBroker, topic: str, **options: object) -> Pipeline:
    pipeline = Pipeline(
        PipelineOptions(bootstrap=broker.bootstrap, topic=topic, from_beginning=True, **options)  # type: ignore[arg-type]
    )
    pipeline.start()
    return pipeline


def _send(broker: EmbeddedBroker, topic: str, values: list[tuple[bytes, bytes | None]]) -> None:
    producer = Producer(client_config(broker.bootstrap, **{"message.max.bytes": 2_000_000}))
    for key, value in values:
        producer.produce(topic, value=value, key=key)
    assert producer.flush(10) == 0


def _good(now: float) -> Iterator[bytes]:
    for k in range(30):
        yield _tick("ACME", 150.0 + 0.01 * k, now - 30 + k)


def test_a_future_time_and_a_price_jump_are_refused_and_move_nothing(
    broker: EmbeddedBroker, topic: str
) -> None:
    now = time.time()
    good = list(_good(now))
    poison = [
        _tick("ACME", 9.9e11, 1.8e9),  # the tick: a valid price, months ahead
        _tick("ACME", 151.0, now + 3600),  # an hour ahead
        _tick("ACME", 9.9e11, now),  # now, but 6.6e9 times the last price
        _tick("ACME", 0.01, now),  # 15,000 times lower
    ]
    pipeline = _pipeline(broker, topic)
    try:
        _send(broker, topic, [(b"ACME", v) for v in good[:10] + poison + good[10:]])
        snap = wait_for(pipeline, lambda s: s.kafka.consumed >= len(good) and s.kafka.bad >= 4)
        assert dict(snap.kafka.bad_by) == {"future time": 2, "implausible jump": 2}
        assert snap.kafka.dead_lettered == 4
        state = snap.engine
        acme = state.symbols.index("ACME")
        assert state.t_last[acme] == pytest.approx(now - 1)  # the last good tick's time
        assert state.last[acme] == pytest.approx(150.29)
        assert state.n_ticks[acme] == len(good)
    finally:
        assert pipeline.stop()
    letters = read_dead_letters(broker, topic, 4)
    assert [h["limitwatch.problem"] for h, _ in letters] == [
        "future time", "future time", "implausible jump", "implausible jump"
    ]  # fmt: skip
    assert "ahead of this machine's clock" in letters[0][0]["limitwatch.reason"]
    assert "times the last accepted 150.09" in letters[2][0]["limitwatch.reason"]
    assert [value for _, value in letters] == poison


def test_every_kind_of_bad_message_is_counted_under_its_reason(
    broker: EmbeddedBroker, topic: str
) -> None:
    now = time.time()
    bad: list[tuple[Problem, bytes | None]] = [
        (Problem.NOT_JSON, b"not json"),
        (Problem.NOT_JSON, b"\xff\xfe"),
        (Problem.WRONG_SHAPE, b"[1, 2]"),
        (Problem.WRONG_SHAPE, None),
        (Problem.WRONG_SHAPE, b'{"symbol": "X", "ts": 1}'),
        (Problem.BAD_PRICE, _tick("X", -3, now)),
        (Problem.BAD_PRICE, b'{"symbol":"X","price":"12","ts":1}'),
        (Problem.BAD_SYMBOL, _tick("", 3, now)),
        (Problem.BAD_SYMBOL, _tick("X\x1b[31m", 3, now)),
        (Problem.TOO_LARGE, b"{" * 10_000),
        (Problem.FUTURE_TIME, _tick("X", 3, now * 1000)),  # milliseconds sent as seconds
        (Problem.FUTURE_TIME, _tick("X", 3, now + 600)),
    ]
    jump = _tick("ACME", 15_000.0, now)  # after ACME's ticks, in their partition
    old = _tick("ACME", 100.0, now - 365 * 86_400)  # a year behind ACME's latest
    pipeline = _pipeline(broker, topic)
    try:
        good = list(_good(now))
        ticks = [(b"ACME", v) for v in [*good, jump, old]]
        _send(broker, topic, ticks + [(b"X", v) for _, v in bad])
        bad += [(Problem.IMPLAUSIBLE_JUMP, jump), (Problem.OLD_TIME, old)]
        snap = wait_for(pipeline, lambda s: s.kafka.bad >= len(bad))
        expected: dict[str, int] = {}
        for problem, _ in bad:
            expected[problem.value] = expected.get(problem.value, 0) + 1
        assert dict(snap.kafka.bad_by) == expected
        shown = [p.value for p in Problem if p is not Problem.REFUSED_SYMBOL]  # none here
        assert [name for name, _ in snap.kafka.bad_by] == shown
        assert snap.kafka.dead_lettered == len(bad)
        assert snap.engine.symbols == ("ACME",)
    finally:
        assert pipeline.stop()
    letters = read_dead_letters(broker, topic, len(bad))
    assert sorted(h["limitwatch.problem"] for h, _ in letters) == sorted(p.value for p, _ in bad)


def test_an_oversize_message_is_dead_lettered_as_a_prefix_with_its_size(
    broker: EmbeddedBroker, topic: str
) -> None:
    huge = b'{"symbol":"X","price":1,"ts":1,"pad":"' + b"x" * 1_000_000 + b'"}'
    pipeline = _pipeline(broker, topic)
    try:
        _send(broker, topic, [(b"X", huge)])
        snap = wait_for(pipeline, lambda s: s.kafka.bad >= 1 and s.kafka.dead_lettered >= 1)
        assert snap.kafka.bad_by == (("too large", 1),)
        assert snap.kafka.errors == 0
    finally:
        assert pipeline.stop()
    [(headers, value)] = read_dead_letters(broker, topic, 1)
    assert headers["limitwatch.problem"] == "too large"
    assert headers["limitwatch.size"] == str(len(huge))
    assert value == huge[:MAX_COPY_BYTES]


def test_a_message_with_a_key_of_a_megabyte_is_dead_lettered_with_its_key_cut(
    broker: EmbeddedBroker, topic: str
) -> None:
    """The key was copied whole: the client refused the copy (message too large), and
    the log did not say which message."""
    key = b"k" * 1_000_000
    pipeline = _pipeline(broker, topic)
    try:
        _send(broker, topic, [(key, b"notjson")])
        snap = wait_for(pipeline, lambda s: s.kafka.bad >= 1 and s.kafka.dead_lettered >= 1)
        assert snap.kafka.errors == 0, snap.kafka.last_error
    finally:
        assert pipeline.stop()
    [(headers, value)] = read_dead_letters(broker, topic, 1)
    assert headers["limitwatch.key_size"] == str(len(key))
    assert value == b"notjson"


class _Gauges:
    """A source whose values jump by design, as system metrics do."""

    paced = False
    name = "gauges"
    price_jumps = True

    def __init__(self, ticks: list[Tick]) -> None:
        self.ticks = ticks
        self.limits: dict[str, tuple[float, float]] = {}

    def __iter__(self) -> Iterator[Tick]:
        return iter(self.ticks)


def test_a_source_whose_values_jump_by_design_turns_the_jump_check_off(
    broker: EmbeddedBroker, topic: str
) -> None:
    now = time.time()
    ticks = [Tick("cpu.iowait", p, now - 3 + k) for k, p in enumerate((1.5, 0.001, 80.0))]
    pipeline = _pipeline(broker, topic, source=_Gauges(ticks))
    try:
        snap = wait_for(pipeline, lambda s: s.kafka.consumed >= len(ticks))
        assert snap.kafka.bad == 0
        assert snap.engine.last[0] == 80.0
    finally:
        assert pipeline.stop()
    # The same ticks from a source that does not say so: the jumps are refused.
    pipeline = _pipeline(broker, f"{topic}-b")
    try:
        _send(broker, f"{topic}-b", [(b"cpu.iowait", encode(t)) for t in ticks])
        snap = wait_for(pipeline, lambda s: s.kafka.consumed + s.kafka.bad >= len(ticks))
        assert snap.kafka.bad_by == (("implausible jump", 2),)
    finally:
        assert pipeline.stop()
