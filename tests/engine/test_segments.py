"""Exact per-symbol scans: both layouts against a plain loop, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.segments import (
    PACKED_MAX_WIDTH,
    Batch,
    PackedBatch,
    Pieces,
    Recurrence,
    SegmentBatch,
    make_batch,
    stable_order,
)

LAYOUTS = {"packed": PackedBatch, "by_segment": SegmentBatch}


def _loop(ids: np.ndarray, part: Recurrence, order: np.ndarray, seg_sym: np.ndarray) -> np.ndarray:
    """y = f*y_prev + x per symbol, tick by tick, in batch order."""
    out = np.empty_like(part.values)
    state = {int(sym): part.seeds[i].copy() for i, sym in enumerate(seg_sym)}
    for pos, tick in enumerate(order):
        y = state[int(ids[tick])]
        for q in range(y.shape[0]):
            f = 1.0 if part.factor is None else part.factor[pos, q]
            y[q] = (y[q] if f == 1.0 else f * y[q]) + part.values[pos, q]
        out[pos] = y
    return out


@st.composite
def batches(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    n = draw(st.integers(1, 300))
    symbols = draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    weights = rng.dirichlet(np.full(symbols, 0.05 if draw(st.booleans()) else 5.0))
    ids = rng.choice(symbols, size=n, p=weights).astype(np.int32)
    seed = draw(st.integers(0, 2**32 - 1))
    return ids, seed


def _parts(b: Batch, seed: int) -> list[Recurrence]:
    """Recurrences in batch order: plain sums, restarts, rescales, mixed columns."""
    rng = np.random.default_rng(seed)
    n = b.n
    parts = []
    for q, kind in ((3, "none"), (1, "resets"), (2, "rescale"), (4, "mixed")):
        values = rng.normal(size=(n, q)) * 10.0 ** rng.integers(-3, 4, size=(n, q))
        factor = None
        if kind == "resets":
            factor = (rng.random((n, 1)) > 0.2) * 1.0
        elif kind == "rescale":
            col = np.where(rng.random(n) < 0.1, rng.choice([0.0, 0.25, 1e-300], n), 1.0)
            factor = np.repeat(col[:, None], q, axis=1)
        elif kind == "mixed":
            factor = (rng.random((n, q)) > 0.3) * 1.0
            factor[:, 2:] = np.where(rng.random(n) < 0.1, 0.5, 1.0)[:, None]
        parts.append(Recurrence(values, rng.normal(size=(b.count, q)), factor))
    return parts


@settings(max_examples=60, deadline=None)
@given(batches(), st.sampled_from(sorted(LAYOUTS)))
def test_both_layouts_scan_exactly_like_a_loop(case: tuple[np.ndarray, int], layout: str) -> None:
    ids, seed = case
    b: Batch = LAYOUTS[layout](ids, 16)
    for part in _parts(b, seed):
        np.testing.assert_array_equal(b.scan(part), _loop(ids, part, b.order, b.sym))


def test_packed_layout_is_chosen_unless_one_symbol_has_very_many_ticks() -> None:
    rng = np.random.default_rng(0)
    assert isinstance(make_batch(rng.integers(0, 1000, 10_000).astype(np.int32), 1000), PackedBatch)
    one_long = np.r_[np.zeros(PACKED_MAX_WIDTH + 1), np.arange(1, 1000)].astype(np.int32)
    assert isinstance(make_batch(one_long, 1000), SegmentBatch)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 4), min_size=1, max_size=120),
    st.integers(0, 2**32 - 1),
    st.sampled_from(sorted(LAYOUTS)),
)
def test_neighbours_and_running_maxima_follow_each_symbol(
    ids_list: list[int], seed: int, layout: str
) -> None:
    ids = np.array(ids_list, dtype=np.int32)
    rng = np.random.default_rng(seed)
    b: Batch = LAYOUTS[layout](ids, 5)
    values = rng.normal(size=ids.size)[b.order]  # in batch order
    seeds = rng.normal(size=b.count)
    seeds[rng.random(b.count) < 0.3] = np.nan
    prev, top = b.shifted(values, seeds), b.running_max(values, seeds)
    for s in range(b.count):
        at = b.positions(s)
        assert (b.sym_t[at] == b.sym[s]).all() and (np.diff(b.order[at]) > 0).all()
        assert at[0] == b.first[s] and at[-1] == b.last[s] and at.size == b.length[s]
        assert (b.j[at] == np.arange(at.size)).all() and (b.seg[at] == s).all()
        run = values[at]
        np.testing.assert_array_equal(prev[at], np.r_[seeds[s], run[:-1]])
        np.testing.assert_array_equal(top[at], np.fmax.accumulate(np.r_[seeds[s], run])[1:])
        np.testing.assert_array_equal(values[b.back_index(at[2:], 2)], run[:-2])
        np.testing.assert_array_equal(b.back_index(at, b.j[at]), np.full(at.size, at[0]))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 4), min_size=1, max_size=120),
    st.integers(1, 9),
    st.sampled_from(sorted(LAYOUTS)),
)
def test_spread_back_fill_and_periodic_writes_follow_each_symbol(
    ids_list: list[int], period: int, layout: str
) -> None:
    ids = np.array(ids_list, dtype=np.int32)
    b: Batch = LAYOUTS[layout](ids, 5)
    values = np.arange(b.n, dtype=np.float64) + 0.5
    back = np.full(b.n, -1.0)
    b.fill_back(back, values, period)
    # A ring of `period` cells per symbol, written at each tick's count modulo period:
    # every cell must end with the latest tick that maps to it.
    ring = np.full(5 * period, -1.0)
    b.put_latest(ring, b.sym_t * period + b.j % period, values, period)
    expected = np.full(5 * period, -1.0)
    spread = b.expand(np.stack((b.sym, b.length)))
    for s in range(b.count):
        at = b.positions(s)
        assert (spread[0, at] == b.sym[s]).all() and (spread[1, at] == b.length[s]).all()
        np.testing.assert_array_equal(
            back[at], np.r_[np.full(min(period, at.size), -1.0), values[at[:-period]]]
        )
        for i, pos in enumerate(at):
            expected[b.sym[s] * period + i % period] = values[pos]
    np.testing.assert_array_equal(ring, expected)


def test_uneven_pieces_are_grouped_and_still_exact() -> None:
    rng = np.random.default_rng(1)
    n = 20_000
    starts = np.zeros(n, dtype=bool)
    starts[0] = True
    starts[10_000:] = rng.random(10_000) < 0.3
    pieces = Pieces(starts)
    assert len(pieces._groups) > 1
    values = rng.normal(size=(2, n))
    seeds = rng.normal(size=(2, pieces.count))
    got = pieces.cumsum(values, seeds)
    for p in rng.choice(pieces.count, 50, replace=False):
        a, z = pieces.first[p], pieces.last[p]
        for q in range(2):
            acc = seeds[q, p]
            for i in range(a, z + 1):
                acc = acc + values[q, i]
                assert got[q, i] == acc


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 5), min_size=1, max_size=200),
    st.integers(0, 2**32 - 1),
    st.sampled_from(sorted(LAYOUTS)),
)
def test_carried_states_match_a_loop(ids_list: list[int], seed: int, layout: str) -> None:
    ids = np.array(ids_list, dtype=np.int32)
    rng = np.random.default_rng(seed)
    code = rng.choice(np.array([-1, -1, 0, 1, 2], dtype=np.int8), size=(3, ids.size))
    b: Batch = LAYOUTS[layout](ids, 6)
    seeds = rng.integers(0, 3, size=(3, b.count)).astype(np.int8)
    before, final = b.carry(code, seeds)
    state = {int(s): seeds[:, i].copy() for i, s in enumerate(b.sym)}
    for pos, tick in enumerate(b.order):
        cur = state[int(ids[tick])]
        for q in range(3):
            assert before[q, pos] == cur[q]
            if code[q, pos] >= 0:
                cur[q] = code[q, pos]
    for i, s in enumerate(b.sym):
        np.testing.assert_array_equal(final[:, i], state[int(s)])


@pytest.mark.parametrize("bound", [7, 1 << 15, 1 << 20])
def test_stable_order_sorts_ids_keeping_arrival_order(bound: int) -> None:
    rng = np.random.default_rng(bound)
    ids = rng.integers(0, bound, 5000).astype(np.int32)
    ids[::7] = ids[0]  # plenty of ties
    np.testing.assert_array_equal(stable_order(ids, bound), np.argsort(ids, kind="stable"))
