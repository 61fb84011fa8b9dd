"""What the monitor's words and marks mean, declared once: the chart draws its signal
marks from here, and the help screen lists them with the Kafka pane's health words."""

from __future__ import annotations

from tui.runtime.health import HEALTH_WORDS, LAG_TREND_SAMPLES, STATS_INTERVAL_S

__all__ = ["FORECAST_WORDS", "SIGNAL_MARKS", "legend_sections"]

#: The chart's mark for each kind of signal: (glyph, colour, what it means); the colour
#: is that of one of the chart's lines (price, fast, slow, buy, sell).
SIGNAL_MARKS: dict[str, tuple[str, str, str]] = {
    "BUY": ("▲", "buy", "BUY: the price reached the buy limit"),
    "SELL": ("▼", "sell", "SELL: the price reached the sell limit"),
    "BUY_WATCH": ("△", "buy", "BUY_WATCH: the buy limit is likely within the horizon"),
    "SELL_WATCH": ("▽", "sell", "SELL_WATCH: the sell limit is likely within the horizon"),
    "GOLDEN_CROSS": ("◆", "fast", "GOLDEN_CROSS: the fast average rose above the slow"),
    "DEATH_CROSS": ("◇", "slow", "DEATH_CROSS: the fast average fell below the slow"),
}


def legend_sections(trend_samples: int) -> list[tuple[str, list[tuple[str, str]]]]:
    """(title, rows of (word or mark, meaning)) for the help screen; `trend_samples` is
    how many lag samples the Kafka pane's trend shows at most."""
    seconds = min(trend_samples, LAG_TREND_SAMPLES) * STATS_INTERVAL_S
    kafka = [(word, meaning) for word, meaning in HEALTH_WORDS]
    kafka.append(
        ("trend", f"lag over the last {seconds:g} s; a full bar is the ≤ number in its header")
    )
    kafka.append(("bad · dlq", "messages refused · copied to prices.dlq (why: by reason)"))
    chart = [(glyph, meaning) for glyph, _colour, meaning in SIGNAL_MARKS.values()]
    chart.append(("─ ↑ ↓", "buy (green) and sell (red) limits; ↑ ↓ one off the scale"))
    chart.append(("━ ╍ ┅", "price, fast and slow averages (their colours in the border)"))
    return [("Kafka pane", kafka), ("Chart", chart), ("Forecasts", FORECAST_WORDS)]


#: The watchlist's forecast column: the likelier limit, its chance and time. Words kept
#: as short as the keys: the first column is as wide as its widest entry.
FORECAST_WORDS: list[tuple[str, str]] = [
    ("BUY 78%", "the buy limit is the likelier: a 78% chance within the horizon"),
    ("in ~12 s", "its median time if it is reached (~12s, ~1.6m where narrow)"),
    ("SELL now", "the price is at or through the sell limit"),
    ("unlikely", "neither limit has a 5% chance within the horizon (<5%)"),
    ("warming up", "too few ticks of the symbol for a forecast yet"),
    ("stale", "no tick of the symbol for 10 s: its forecast is old"),
]
