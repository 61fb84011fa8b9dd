"""The chart's thinning of long histories: at most two points a column, and every run's
lowest and highest price kept, so spikes stay on the chart."""

from __future__ import annotations

import doctest

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import tui.widgets.chart
from tui.widgets.chart import envelope

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
    failed, attempted = doctest.testmod(tui.widgets.chart)
    assert attempted > 0 and failed == 0
