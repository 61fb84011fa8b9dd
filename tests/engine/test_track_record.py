"""The engine's track record for the monitor: forecasts sampled every 5 s of event time and
resolved a horizon later, against what the ticks did."""

from __future__ import annotations

import numpy as np

from engine import Engine, EngineConfig
from engine.calibration import TrackRecord


def _run(prices: dict[str, np.ndarray], limits: dict[str, tuple[float, float]], batch: int):
    cfg = EngineConfig(horizon_s=20.0, default_band=None, warmup_ticks=5, warmup_s=0.0)
    eng = Engine(cfg)
    names = list(prices)
    eng.register(names)
    for name, (buy, sell) in limits.items():
        eng.set_limits(name, buy=buy, sell=sell)
    n = len(next(iter(prices.values())))
    ids = np.tile(np.arange(len(names)), n)
    t = np.repeat(np.arange(n, dtype=np.float64), len(names))
    price = np.column_stack([prices[k] for k in names]).ravel()
    track = TrackRecord(cfg.horizon_s, symbols=len(names))
    for a in range(0, ids.size, batch):
        sl = slice(a, a + batch)
        eng.update(ids[sl], t[sl], price[sl])
        track.update(ids[sl], t[sl], price[sl], eng.state)
    return track.record()


def test_a_steady_climb_to_the_limit_is_a_record_of_hits_and_flat_prices_of_misses() -> None:
    n = 200
    rng = np.random.default_rng(1)
    climb = 100.0 * np.exp(np.cumsum(np.full(n, 2e-4) + rng.normal(0, 1e-4, n)))
    flat = 100.0 * np.exp(rng.normal(0, 1e-4, n))
    # UP crosses its sell limit at 103 after about 150 s; FLAT's limits are far away
    record = _run({"UP": climb, "FLAT": flat}, {"UP": (90.0, 103.0), "FLAT": (95.0, 105.0)}, 7)
    assert record.resolved >= 20  # p of exactly 0 (FLAT, far away) is not sampled
    high = record.count[6:] > 0
    assert high.any(), "the climb was forecast with a high p before it reached the limit"
    assert (record.observed[6:][high] >= 0.5).all()
    assert record.observed[0] < 0.1  # the flat symbol's forecasts near 0 did not come true
    assert record.skill > 0.0
