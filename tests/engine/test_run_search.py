"""The searches the WATCH and cross walks make along contiguous runs (``Streams``), each
against a plain loop over the positions: the first position at or after one where a mask
holds, and the first at or after one whose time reaches a bound. Runs of any length
(empty ones included), repeated times and bounds at, between, beyond and outside the
times (-inf, inf, nan)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.watch import Streams, whole_streams


@st.composite
def runs_and_times(draw: st.DrawFn) -> tuple[Streams, np.random.Generator]:
    n = draw(st.integers(1, 60))
    streams = draw(st.integers(1, 6))
    ids = np.sort(np.array(draw(st.lists(st.integers(0, streams - 1), min_size=n, max_size=n))))
    # few distinct times, so that many repeat (within a run and across runs)
    t = np.array(draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.5, 7.0]), min_size=n,
                               max_size=n)))  # fmt: skip
    rows = draw(st.integers(1, 2))
    return whole_streams(ids.astype(np.int64), t, rows), np.random.default_rng(
        draw(st.integers(0, 99))
    )


def _run_of(runs: Streams, pos: int) -> tuple[int, int]:
    """Start and end of the (non-empty) run holding ``pos``."""
    k = int(np.flatnonzero((runs.start <= pos) & (pos < runs.end))[0])
    return int(runs.start[k]), int(runs.end[k])


@settings(max_examples=300, deadline=None)
@given(runs_and_times())
def test_next_index_is_the_first_position_of_the_mask_at_or_after_each_within_its_run(
    case: tuple[Streams, np.random.Generator],
) -> None:
    runs, rng = case
    size = runs.t.shape[0]
    if size == 0:
        return
    mask = rng.random(size) < rng.choice([0.0, 0.1, 0.5, 1.0])
    found = runs.next_index(mask)
    pos = np.arange(size)
    got = found[pos]
    for p in range(size):
        _, end = _run_of(runs, p)
        later = [q for q in range(p, end) if mask[q]]
        assert got[p] == (later[0] if later else end)
    # looked up in any order, repeated
    shuffled = rng.permutation(np.repeat(pos, 2))
    assert (found[shuffled] == got[shuffled]).all()


@settings(max_examples=300, deadline=None)
@given(runs_and_times(), st.booleans())
def test_first_time_is_the_first_position_whose_time_reaches_the_bound(
    case: tuple[Streams, np.random.Generator], strict: bool
) -> None:
    runs, rng = case
    size = runs.t.shape[0]
    if size == 0:
        return
    lo = rng.integers(0, size, 40)
    ends = np.array([_run_of(runs, int(p))[1] for p in lo], dtype=np.int64)
    hi = np.where(rng.random(40) < 0.7, ends, lo + rng.integers(0, 3, 40))
    hi = np.minimum(hi, ends)
    choices = np.r_[runs.t, runs.t + 0.25, runs.t - 1e-9, -math.inf, math.inf, math.nan]
    x = rng.choice(choices, 40)
    got = runs.first_time(lo, hi, x, strict=strict)
    for i in range(40):
        a, b, bound = int(lo[i]), int(hi[i]), float(x[i])
        if math.isnan(bound):
            want = a  # nothing compares with nan: a bisection that goes left
        else:
            reach = [
                q for q in range(a, b) if (runs.t[q] > bound if strict else runs.t[q] >= bound)
            ]
            want = reach[0] if reach else b
        assert got[i] == want, (a, b, bound, strict)
