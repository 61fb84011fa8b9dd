"""Long runs do not drift: after four million ticks (sixteen swings between prices a
million times apart) the averages still match a fresh sum."""

from __future__ import annotations

import math

import numpy as np

from engine import Engine, EngineConfig

TICKS = 4_000_000
BATCH = 1_000_000


def _prices(rng: np.random.Generator, start: int, n: int) -> np.ndarray:
    """A slow swing with a little noise, jumping between levels 1e6 and 1 every 250,000
    ticks: a running sum that only adds and subtracts would carry the rounding error of
    the 1e6 era (about 1e-16 * 1e8 per step) into the sums of the price-1 era."""
    k = np.arange(start, start + n)
    level = np.where((k // 250_000) % 2 == 0, 1e6, 1.0)
    swing = 1.0 + 0.05 * np.sin(k / 20_000.0)
    return level * swing * np.exp(rng.normal(0.0, 1e-4, n))


def test_four_million_ticks_leave_averages_on_the_exact_sums() -> None:
    cfg = EngineConfig(fast=20, slow=100, history=100, halflife_s=30.0, default_band=None)
    eng = Engine(cfg)
    eng.register(["A", "B"])
    rng = np.random.default_rng(42)
    tail: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for start in range(0, TICKS, BATCH):
        ids = (np.arange(start, start + BATCH) % 2).astype(np.int32)
        t = 1.6e9 + np.arange(start, start + BATCH) * 0.25
        price = _prices(rng, start, BATCH)
        eng.update(ids, t, price)
        for sid in (0, 1):
            tail[sid] = (t[ids == sid][-5000:], price[ids == sid][-5000:])
    st = eng.state()
    assert st.n_ticks.tolist() == [TICKS // 2, TICKS // 2]
    for sid in (0, 1):
        t, price = tail[sid]
        fast = math.fsum(price[-20:]) / 20
        slow = math.fsum(price[-100:]) / 100
        assert abs(st.sma_fast[sid] / fast - 1) < 1e-9
        assert abs(st.sma_slow[sid] / slow - 1) < 1e-9
        # 5000 ticks span 2500 s, 83 half-lives: older weights are below 2**-83.
        w = np.exp2((t - t[-1]) / cfg.halflife_s)
        ema = math.fsum(w * price) / math.fsum(w)
        assert abs(st.ema[sid] / ema - 1) < 1e-9
        np.testing.assert_allclose(eng.history(f"{'AB'[sid]}").price, price[-100:], rtol=0)
