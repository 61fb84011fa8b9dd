"""A flood of distinct symbols through the real broker: with ``max_symbols`` reached, the
symbols idle longest make room, so a real symbol sent after the flood is tracked, the
evictions are counted on screen, and a symbol evicted and back keeps its limits."""

from __future__ import annotations

import time

import pytest

from engine import EngineConfig
from producer.broker import EmbeddedBroker
from tests.tui.test_poison import _pipeline, _send, _tick
from tests.tui.waiting import wait_for
from tui.runtime.headless import status_line

pytestmark = pytest.mark.kafka

MAX = 150
FLOOD = 1000
CHUNK = 100  # sent and read one after another: no read holds more names than MAX


def test_a_flood_of_symbols_does_not_lock_out_a_symbol_sent_after_it(
    broker: EmbeddedBroker, topic: str
) -> None:
    now = time.time() - 60
    pipeline = _pipeline(
        broker, topic, engine=EngineConfig(max_symbols=MAX), limits={"LEGIT": (90.0, 110.0)}
    )
    try:
        _send(broker, topic, [(b"LEGIT", _tick("LEGIT", 100.0 + k, now + k)) for k in range(5)])
        wait_for(pipeline, lambda s: "LEGIT" in s.engine.symbols)
        for start in range(0, FLOOD, CHUNK):
            names = [f"F{k}" for k in range(start, start + CHUNK)]
            _send(broker, topic, [(n.encode(), _tick(n, 10.0, now + 10)) for n in names])
            sent = 5 + start + CHUNK
            wait_for(pipeline, lambda s, sent=sent: s.kafka.consumed + s.kafka.bad >= sent, 30)
        _send(broker, topic, [(b"LATE", _tick("LATE", 5.0, now + 20))])
        _send(broker, topic, [(b"LEGIT", _tick("LEGIT", 101.0, now + 21))])
        snap = wait_for(pipeline, lambda s: {"LATE", "LEGIT"} <= set(s.engine.symbols), 30)
    finally:
        assert pipeline.stop()
    state = snap.engine
    assert len(state.symbols) == MAX
    # Every name found a slot, evicting the one idle longest: none refused.
    assert state.refused == snap.kafka.bad == 0
    assert state.evicted == 1 + FLOOD + 2 - MAX
    # LEGIT was evicted by the flood and came back with the limits it was given.
    legit = state.symbols.index("LEGIT")
    assert (state.buy[legit], state.sell[legit]) == (90.0, 110.0)
    assert state.n_ticks[legit] == 1  # its prices start again
    assert f"{state.evicted:,} idle evicted for new symbols" in status_line(snap)
