"""Limits for a symbol the stream has not carried yet, set without registering it: no
row before its first tick, then they apply exactly as if it had been registered."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine import Engine, EngineConfig, LimitError, SignalKind


def _feed(engine: Engine, symbol: str, prices: list[float], t0: float = 1000.0) -> list:
    ids = engine.register([symbol] * len(prices))
    return engine.update(
        np.asarray(ids, dtype=np.int32),
        t0 + np.arange(len(prices), dtype=float),
        np.asarray(prices, dtype=float),
    )


def test_limits_kept_aside_take_effect_with_the_first_tick() -> None:
    cfg = EngineConfig(warmup_ticks=2)
    aside, registered = Engine(cfg), Engine(cfg)
    aside.set_limits("ACME", buy=90.0, sell=110.0, register=False)
    assert not aside.state().symbols  # no row for a symbol never seen
    aside.set_limits("ACME", sell=105.0, register=False)  # the latest wins, None keeps
    registered.set_limits("ACME", buy=90.0, sell=105.0)
    prices = [100.0, 101.0, 103.0, 106.0, 100.0, 89.0]
    got, want = _feed(aside, "ACME", prices), _feed(registered, "ACME", prices)
    assert aside.limits("ACME") == (90.0, 105.0)
    assert [(s.kind, s.t) for s in got] == [(s.kind, s.t) for s in want]
    assert {SignalKind.SELL, SignalKind.BUY} <= {s.kind for s in got}


def test_impossible_limits_are_refused_even_kept_aside() -> None:
    engine = Engine(EngineConfig())
    with pytest.raises(LimitError):
        engine.set_limits("ACME", buy=120.0, sell=110.0, register=False)
    engine.set_limits("ACME", buy=math.nan, sell=110.0, register=False)
    assert not engine.state().symbols
