"""The chart: long histories thinned to two points a column with every run's lowest and
highest price kept (spikes stay), and limits moved by keys redrawn after a short wait."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import tui.widgets.chart as chart_module
from engine import Engine, EngineConfig
from tui.widgets.chart import LIMITS_SETTLE_S, Chart, envelope

prices = arrays(
    np.float64,
    st.integers(1, 3000),
    elements=st.floats(1.0, 1e6, allow_nan=False),
)


@given(prices, st.integers(1, 300))
def test_envelope_keeps_every_runs_extremes_in_time_order(y: np.ndarray, buckets: int) -> None:
    x = np.arange(len(y), dtype=float)
    xs, ys = envelope(x, y, buckets)
    assert len(xs) == len(ys) <= max(len(y), 2 * buckets)
    assert np.all(np.diff(xs) >= 0)
    assert ys.min() == y.min() and ys.max() == y.max()
    if len(y) > 2 * buckets:
        starts = np.linspace(0, len(y), buckets + 1).astype(int)
        for b in range(buckets):
            run = y[starts[b] : starts[b + 1]]
            pair = ys[2 * b : 2 * b + 2]
            assert sorted(pair.tolist()) == [run.min(), run.max()]


def test_a_short_history_is_drawn_as_it_is() -> None:
    x, y = np.arange(5.0), np.array([3.0, 1, 4, 1, 5])
    xs, ys = envelope(x, y, 10)
    assert xs is x and ys is y


def test_envelope_example_runs() -> None:
    failed, attempted = doctest.testmod(chart_module)
    assert attempted > 0 and failed == 0


def test_moved_limits_redraw_the_chart_after_a_short_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine(EngineConfig(fast=3, slow=5))
    engine.register(["ACME"])
    engine.update(np.zeros(50, dtype=np.int32), np.arange(50.0), 100 + np.sin(np.arange(50.0)))
    history = engine.history("ACME")
    clock = [1000.0]
    monkeypatch.setattr(chart_module.time, "monotonic", lambda: clock[0])
    chart = Chart()
    drawn: list[tuple[float, float]] = []

    def show(limits: tuple[float, float]) -> None:
        chart.show("ACME", history, limits, ())
        drawn.append(chart._key[3] if chart._key else (math.nan, math.nan))

    show((99.0, 101.0))  # first draw: at once
    clock[0] += 0.05
    show((99.5, 101.0))  # a key moved the buy limit: not yet
    clock[0] += 0.1
    show((99.6, 101.0))  # and again
    clock[0] += LIMITS_SETTLE_S
    show((99.6, 101.0))  # 0.2 s after the first move: drawn
    assert drawn == [(99.0, 101.0), (99.0, 101.0), (99.0, 101.0), (99.6, 101.0)]
