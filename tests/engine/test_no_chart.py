"""An engine that keeps no chart history (``history=0``: ``limitwatch engine``, backtests)
computes exactly what one that keeps it does, in a tenth of the memory per symbol."""

from __future__ import annotations

import dataclasses

import msgspec
import numpy as np
import pytest

from engine import Engine, EngineConfig
from producer.markets import generate


def _run(cfg: EngineConfig, batch: int) -> tuple[Engine, list]:
    market = generate("regimes", symbols=12, minutes=6, seed=5)
    eng = Engine(cfg)
    eng.register(list(market.symbols[:6]), stream=0)
    eng.register(list(market.symbols[6:]), stream=1)
    signals = []
    for a in range(0, market.sym.size, batch):
        signals += eng.update(market.sym[a : a + batch], market.t[a : a + batch],
                              market.price[a : a + batch])  # fmt: skip
    return eng, signals


@pytest.mark.parametrize("batch", [997, 20_000])
def test_no_chart_history_changes_no_signal_indicator_forecast_or_record(batch: int) -> None:
    charted, with_chart = _run(EngineConfig(), 20_000)
    bare, without = _run(EngineConfig(history=0), batch)
    assert len(with_chart) > 20
    assert [msgspec.json.encode(s) for s in without] == [msgspec.json.encode(s) for s in with_chart]
    a, b = charted.state(), bare.state()
    for field in dataclasses.fields(a):
        if field.name == "config":
            continue
        x, y = getattr(a, field.name), getattr(b, field.name)
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y, err_msg=field.name)
        else:
            assert x == y, field.name
    for stream in (0, 1):
        kept, none = charted.track_record(stream), bare.track_record(stream)
        assert kept.resolved == none.resolved > 0
        np.testing.assert_array_equal(kept.observed, none.observed)
        assert kept.brier == none.brier
        np.testing.assert_array_equal(
            charted.calibration_map(stream)[1], bare.calibration_map(stream)[1]
        )
    symbol = charted.symbols[0]
    assert charted.history(symbol).price.size == 600
    kept = bare.history(symbol)
    assert kept.t.size == kept.price.size == kept.sma_fast.size == kept.sma_slow.size == 0
    assert bare.bytes_per_symbol * 8 < charted.bytes_per_symbol
    full, light = charted.memory(), bare.memory()
    assert light["chart history"] == 0 < full["chart history"]
    assert light["calibration"] == full["calibration"] > 0
    slots = (sum(full.values()) - full["calibration"]) / charted.bytes_per_symbol
    assert slots == int(slots) >= 12  # every symbol slot's state, and nothing else


def test_history_is_zero_or_at_least_the_slow_window() -> None:
    assert EngineConfig(history=0).history == 0
    with pytest.raises(ValueError, match=r"history \(50\) must be 0 \(no chart\) or at least"):
        EngineConfig(slow=100, history=50)
