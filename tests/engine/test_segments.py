"""Exact per-symbol scans: both layouts against a plain loop, bit for bit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine.segments as segments
from engine.segments import Batch, Pieces, Recurrence, stable_order


@contextmanager
def dense_layout(enabled: bool) -> Iterator[None]:
    """Force the dense layout on (as far as padding allows) or off."""
    saved = segments.DENSE_MAX_WIDTH
    segments.DENSE_MAX_WIDTH = 1 << 30 if enabled else 0
    try:
        yield
    finally:
        segments.DENSE_MAX_WIDTH = saved


def _loop(ids: np.ndarray, part: Recurrence, order: np.ndarray, seg_sym: np.ndarray) -> np.ndarray:
    """y = f*y_prev + x per symbol, tick by tick, in sorted order."""
    out = np.empty_like(part.values)
    state = {int(sym): part.seeds[:, i].copy() for i, sym in enumerate(seg_sym)}
    for pos, tick in enumerate(order):
        y = state[int(ids[tick])]
        f = 1.0 if part.factor is None else part.factor[pos]
        for q in range(y.shape[0]):
            y[q] = (y[q] if f == 1.0 else f * y[q]) + part.values[q, pos]
        out[:, pos] = y
    return out


@st.composite
def batches(draw: st.DrawFn) -> tuple[np.ndarray, list[Recurrence]]:
    n = draw(st.integers(1, 300))
    symbols = draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    skew = draw(st.booleans())
    weights = rng.dirichlet(np.full(symbols, 0.05 if skew else 5.0))
    ids = rng.choice(symbols, size=n, p=weights).astype(np.int32)
    count = np.unique(ids).shape[0]
    parts = []
    for q, kind in ((1, "resets"), (3, "none"), (2, "rescale")):
        values = rng.normal(size=(q, n)) * 10.0 ** rng.integers(-3, 4, size=(q, n))
        factor = None
        if kind == "resets":
            factor = (rng.random(n) > 0.2) * 1.0
        elif kind == "rescale":
            factor = np.where(rng.random(n) < 0.1, rng.choice([0.0, 0.25, 1e-300], n), 1.0)
        parts.append(Recurrence(values, rng.normal(size=(q, count)), factor))
    return ids, parts


@settings(max_examples=60, deadline=None)
@given(batches(), st.booleans())
def test_both_layouts_scan_exactly_like_a_loop(
    case: tuple[np.ndarray, list[Recurrence]], dense: bool
) -> None:
    ids, parts = case
    with dense_layout(dense):
        b = Batch(ids, 16)
        got = b.scan(parts)
    for part, y in zip(parts, got, strict=True):
        expected = _loop(ids, part, b.order, b.sym)
        np.testing.assert_array_equal(y, expected)


def test_dense_layout_is_chosen_for_short_segments_only() -> None:
    rng = np.random.default_rng(0)
    assert Batch(rng.integers(0, 1000, 10_000).astype(np.int32), 1000).dense
    one_long = np.r_[np.zeros(5000), np.arange(1, 1000)].astype(np.int32)
    assert not Batch(one_long, 1000).dense


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
@given(st.lists(st.integers(0, 5), min_size=1, max_size=200), st.integers(0, 2**32 - 1))
def test_carried_states_match_a_loop(ids_list: list[int], seed: int) -> None:
    ids = np.array(ids_list, dtype=np.int32)
    rng = np.random.default_rng(seed)
    code = rng.choice(np.array([-1, -1, 0, 1, 2], dtype=np.int8), size=(3, ids.size))
    b = Batch(ids, 6)
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
