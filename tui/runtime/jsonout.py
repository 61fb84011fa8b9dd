"""Signals as JSON lines: the one format shared by the headless engine, the backtest and
the golden files of the shipped scenarios."""

from __future__ import annotations

import math
from typing import Any

import msgspec

from engine import EngineState, Signal

_encoder = msgspec.json.Encoder()


def json_number(x: float) -> float | None:
    """`x`, or None (JSON null) when it is not a finite number."""
    return float(x) if math.isfinite(x) else None


def signal_dict(sig: Signal) -> dict[str, Any]:
    """The JSON object for one signal; undefined numbers become null."""
    return {
        "id": sig.id,
        "kind": sig.kind.name,
        "symbol": sig.symbol,
        "t": json_number(sig.t),
        "price": json_number(sig.price),
        "limit": json_number(sig.limit),
        "p_hit": json_number(sig.p_hit),
        "eta_s": json_number(sig.eta_s),
    }


def signal_json(sig: Signal) -> str:
    """One signal as a compact JSON line (no newline)."""
    return _encoder.encode(signal_dict(sig)).decode()


#: A symbol's indicators and forecasts as the backtest's summary and the engine's
#: indicators topic give them.
INDICATORS = ("last", "sma_fast", "sma_slow", "ema", "drift", "vol", "buy", "sell",
              "p_buy", "p_sell", "eta_buy", "eta_sell")  # fmt: skip


def indicator_values(state: EngineState, i: int) -> dict[str, float | None]:
    """Symbol `i`'s indicators and forecasts; undefined numbers become null."""
    return {column: json_number(float(getattr(state, column)[i])) for column in INDICATORS}
