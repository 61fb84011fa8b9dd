"""Replay determinism: any split of the same ticks into batches gives bitwise the same result."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from streams import random_walk

import engine.segments as segments
from engine import Engine, EngineConfig

FIELDS = (
    "n_ticks",
    "t_last",
    "last",
    "open",
    "sma_fast",
    "sma_slow",
    "ema",
    "drift",
    "drift_se",
    "vol",
    "buy",
    "sell",
    "p_buy",
    "p_sell",
    "eta_buy",
    "eta_sell",
    "additive",
)


@contextmanager
def packed_layout(enabled: bool) -> Iterator[None]:
    """Use the packed layout for every batch, or for none."""
    saved = segments.PACKED_MAX_WIDTH
    segments.PACKED_MAX_WIDTH = 1 << 30 if enabled else 0
    try:
        yield
    finally:
        segments.PACKED_MAX_WIDTH = saved


def _key(x: float) -> tuple[bool, float]:
    return (math.isnan(x), 0.0 if math.isnan(x) else x)


def _run(
    cfg: EngineConfig,
    ticks: tuple[np.ndarray, np.ndarray, np.ndarray],
    cuts: list[int],
    n_symbols: int,
    additive: tuple[str, ...] = (),
    streams: int = 1,
) -> tuple[list[tuple], Engine]:
    ids, t, price = ticks
    eng = Engine(cfg, additive=additive)
    eng.register(
        [f"S{i}" for i in range(n_symbols)], stream=[i % streams for i in range(n_symbols)]
    )
    own = price[ids == 0]  # S0's first price (never additive)
    first = float(own[0]) if own.size else 100.0
    eng.set_limits("S0", buy=first * 0.995, sell=first * 1.004)
    signals = []
    for a, b in zip([0, *cuts], [*cuts, ids.shape[0]], strict=True):
        for s in eng.update(ids[a:b], t[a:b], price[a:b]):
            signals.append(
                (s.id, _key(s.t), _key(s.price), _key(s.limit), _key(s.p_hit), _key(s.eta_s))
            )
    return signals, eng


def _assert_same(a: Engine, b: Engine) -> None:
    sa, sb = a.state(), b.state()
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(sa, name), getattr(sb, name), err_msg=name)
    for sym in sa.symbols:
        ha, hb = a.history(sym), b.history(sym)
        for name in ("t", "price", "sma_fast", "sma_slow"):
            np.testing.assert_array_equal(getattr(ha, name), getattr(hb, name), err_msg=name)
    for stream in range(3):
        for overdue in (False, True):
            maps = a.calibration_map(stream, overdue), b.calibration_map(stream, overdue)
            for ka, kb in zip(*maps, strict=True):
                np.testing.assert_array_equal(ka, kb, err_msg="calibration map")
    ra, rb = a.track_record(), b.track_record()
    for name in ("predicted", "observed", "count"):
        np.testing.assert_array_equal(getattr(ra, name), getattr(rb, name), err_msg=name)
    np.testing.assert_array_equal(
        [ra.resolved, ra.brier, ra.brier_raw], [rb.resolved, rb.brier, rb.brier_raw]
    )


@st.composite
def streams(
    draw: st.DrawFn,
) -> tuple[EngineConfig, tuple, int, list[list[int]], tuple[str, ...], int]:
    """A config, ticks, their symbol count, two ways to split them, the additive
    patterns (where drawn, the odd symbols are quantities that wander through zero) and
    the streams the symbols are registered in, in turn."""
    n = draw(st.integers(1, 160))
    n_symbols = draw(st.integers(1, 5))
    fast = draw(st.integers(1, 6))
    slow = draw(st.integers(fast + 1, 15))
    cfg = EngineConfig(
        fast=fast,
        slow=slow,
        history=draw(st.integers(slow, 40)),
        # short half-lives re-anchor the exponential weights within the stream
        halflife_s=draw(st.sampled_from([0.0005, 0.05, 3.0])),
        horizon_s=draw(st.sampled_from([0.5, 1.2, 5.0])),
        alert_p=draw(st.sampled_from([0.3, 0.6])),
        hysteresis=draw(st.sampled_from([0.0, 0.001])),
        default_band=draw(st.sampled_from([None, 0.003])),
        # a warm-up that ends within the stream, or none
        warmup_ticks=draw(st.sampled_from([1, 4, 20])),
        warmup_s=draw(st.sampled_from([None, 0.0])),
        # the calibration map learnt from the first outcomes on, after two minutes, never
        calibrate_after_s=draw(st.sampled_from([0.0, 120.0, math.inf])),
    )
    ticks = random_walk(
        n,
        n_symbols,
        seed=draw(st.integers(0, 2**31)),
        step_s=draw(st.sampled_from([0.01, 1.0])),
        vol=0.002,
        backwards=draw(st.sampled_from([0.0, 0.1])),
        repeats=0.2,
        same_time=0.1,
        # nights: symbols that reopen (engine.core.reopens)
        closures=draw(st.sampled_from([0, 2])),
        closed_s=600.0,
    )
    splits = [sorted(draw(st.sets(st.integers(1, max(1, n - 1)), max_size=12))) for _ in range(2)]
    additive: tuple[str, ...] = ()
    if draw(st.booleans()):
        additive = ("S1", "S3")
        ids, _, price = ticks
        odd = ids % 2 == 1
        price[odd] = (price[odd] - 100.0 * (ids[odd] + 1)) * 0.5
    return cfg, ticks, n_symbols, splits, additive, draw(st.integers(1, 3))


@settings(max_examples=60, deadline=None)
@given(streams())
def test_any_batch_split_gives_identical_signals_and_indicators(case: tuple) -> None:
    cfg, ticks, n_symbols, splits, additive, streams = case
    n = ticks[0].shape[0]
    expected, whole = _run(cfg, ticks, [], n_symbols, additive, streams)
    for cuts in [list(range(1, n)), list(range(7, n, 7)), *splits]:
        cuts = [c for c in cuts if 0 < c < n]
        got, eng = _run(cfg, ticks, cuts, n_symbols, additive, streams)
        assert got == expected
        _assert_same(eng, whole)


@settings(max_examples=30, deadline=None)
@given(streams())
def test_packed_and_by_segment_layouts_agree_bitwise(case: tuple) -> None:
    cfg, ticks, n_symbols, splits, additive, streams = case
    with packed_layout(True):
        packed_signals, packed = _run(cfg, ticks, splits[0], n_symbols, additive, streams)
    with packed_layout(False):
        piece_signals, pieces = _run(cfg, ticks, splits[0], n_symbols, additive, streams)
    assert packed_signals == piece_signals
    _assert_same(packed, pieces)


def test_large_batches_equal_a_tick_at_a_time_over_many_symbols() -> None:
    cfg = EngineConfig(fast=5, slow=12, history=12, halflife_s=0.5, horizon_s=2.0)
    ticks = random_walk(
        3000, 40, seed=9, step_s=0.01, vol=0.003, backwards=0.05, repeats=0.1, same_time=0.05
    )
    expected, whole = _run(cfg, ticks, [], 40)
    assert len(expected) > 100
    for cuts in (list(range(1, 3000)), list(range(1000, 3000, 1000)), [1, 2, 2999]):
        got, eng = _run(cfg, ticks, cuts, 40)
        assert got == expected
        _assert_same(eng, whole)


def test_a_late_tick_first_in_an_update_stays_in_the_calibrators_slot() -> None:
    """At a horizon of 1.2 s a slot is 0.1 s, and a slot's start in seconds, divided by
    0.1 again, floors to the slot before for about a fifth of the slots. An update that
    begins with a late tick (older than the clock) must still count it in the clock's
    slot, as the same tick inside a longer update is: the outcomes, maps and records are
    the same whichever way the ticks were cut."""
    cfg = EngineConfig(horizon_s=1.2, fast=2, slow=3, history=4, calibrate_after_s=0.0)
    length = cfg.horizon_s / 12
    rng = np.random.default_rng(11)
    ids, t, cuts = [], [], []
    start, last = math.ceil(1.7e9 / length), 0
    for k in range(start, start + 2_000):
        ids += [0, 1]
        t += [k * length + 0.01, k * length + 0.03]
        # Where the slot floors back, a late tick; a horizon or more apart, so each one
        # decides the outcome of the forecasts sampled in its slot.
        if math.floor(k * length / length) < k and k - last > 12:
            cuts.append(len(ids))
            ids.append(1)
            t.append(k * length - 0.02)
            last = k
    assert len(cuts) > 40
    ids_a = np.array(ids, dtype=np.int32)
    t_a = np.array(t)
    price = 100.0 * np.exp(rng.normal(0.0, 1e-3, ids_a.size))
    price[cuts] = 99.0  # each late tick reaches the buy limit: an outcome hangs on its slot
    runs = []
    for pieces in ([], cuts):
        eng = Engine(cfg)
        eng.register(["S0", "S1"])
        eng.set_limits("S0", buy=99.5, sell=100.5)
        eng.set_limits("S1", buy=99.5, sell=100.5)
        for a, b in zip([0, *pieces], [*pieces, ids_a.size], strict=True):
            eng.update(ids_a[a:b], t_a[a:b], price[a:b])
        runs.append(eng)
    assert runs[0].track_record().resolved > 100
    _assert_same(runs[1], runs[0])
