"""How many ticks each symbol had at its latest time: what a reader of ticks sent again
after a broker restart needs where a source stamps many ticks of a symbol with one time."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import Engine, EngineConfig

SYMBOLS = ("A", "B", "C")


def _reference(ticks: list[tuple[int, float]]) -> dict[str, tuple[float, int]]:
    """Per symbol, one tick at a time: its latest time (times that go back are held at
    it) and how many ticks were stamped at exactly that time."""
    out: dict[str, tuple[float, int]] = {}
    for sid, t in ticks:
        name = SYMBOLS[sid]
        latest, count = out.get(name, (-math.inf, 0))
        if t > latest:
            out[name] = (t, 1)
        elif t == latest:
            out[name] = (latest, count + 1)
    return out


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2), st.integers(0, 6)), min_size=1, max_size=60),
    st.lists(st.integers(1, 20), min_size=1, max_size=10),
)
def test_ticks_at_the_latest_time_are_counted_whatever_the_batches(
    raw: list[tuple[int, int]], cuts: list[int]
) -> None:
    # Times to the second, going back now and then (a late tick is held at the latest).
    ticks = [(sid, 1000.0 + t) for sid, t in raw]
    eng = Engine(EngineConfig(history=0))
    ids = eng.register(list(SYMBOLS))
    at = 0
    for size in [*cuts, len(ticks)]:
        part = ticks[at : at + size]
        if part:
            eng.update(
                ids[[sid for sid, _ in part]],
                [t for _, t in part],
                [100.0 + i for i in range(len(part))],
            )
        at += size
    names, t_last, n_last = eng.latest_times()
    expected = _reference(ticks)
    assert names == SYMBOLS
    for i, name in enumerate(names):
        if name in expected:
            assert (float(t_last[i]), int(n_last[i])) == expected[name]
        else:
            assert math.isnan(t_last[i]) and n_last[i] == 0


def test_a_restarted_symbol_has_no_latest_time() -> None:
    eng = Engine(EngineConfig(history=0))
    sid = eng.register(["ACME"])[0]
    eng.update([sid, sid, sid], [5.0, 5.0, 5.0], [100.0, 100.5, 100.2])
    assert [int(n) for n in eng.latest_times()[2]] == [3]
    eng.restart("ACME")
    _names, t_last, n_last = eng.latest_times()
    assert math.isnan(t_last[0]) and n_last[0] == 0
    eng.update(np.array([sid]), [7.0], [101.0])
    assert (float(eng.latest_times()[1][0]), int(eng.latest_times()[2][0])) == (7.0, 1)
