"""Plain-text formatting of numbers and forecasts for the monitor's cells."""

from __future__ import annotations

import math


def price(value: float) -> str:
    """A price with two decimals, or an en dash when undefined."""
    if not math.isfinite(value):
        return "–"
    return f"{value:,.2f}"


def percent(value: float) -> str:
    """A signed percentage with two decimals."""
    if not math.isfinite(value):
        return "–"
    return f"{value:+.2%}"


def count(n: int, noun: str) -> str:
    """`n` and `noun`, plural unless `n` is 1.

    >>> count(1, "tick"), count(0, "signal"), count(10000, "symbol")
    ('1 tick', '0 signals', '10,000 symbols')
    """
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def duration(seconds: float) -> str:
    """A short human duration: 12 s, 3.5 min, 2.1 h."""
    if not math.isfinite(seconds):
        return "–"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def forecast(p_buy: float, eta_buy: float, p_sell: float, eta_sell: float) -> tuple[str, str]:
    """The forecast in words and a style name: ('BUY in ~12 s, 78%', 'buy').

    The side shown is the likelier one; 'BUY now' means the price is at or through the
    buy limit; 'SELL unlikely' means neither limit is likely within the horizon; 'warming
    up' means the symbol has too few ticks for a forecast yet.
    """
    if math.isnan(p_buy) and math.isnan(p_sell):
        return ("warming up", "quiet")  # too few ticks yet for a forecast
    pb = p_buy if math.isfinite(p_buy) else 0.0
    ps = p_sell if math.isfinite(p_sell) else 0.0
    side, p, eta = ("BUY", pb, eta_buy) if pb >= ps else ("SELL", ps, eta_sell)
    if p < 0.05:
        return (f"{side} unlikely", "quiet")
    if p >= 1.0 and eta == 0.0:
        return (f"{side} now", side.lower())
    style = side.lower() if p >= 0.5 else "maybe"
    when = f"in ~{duration(eta)}, " if math.isfinite(eta) else ""
    return (f"{side} {when}{p:.0%}", style)


def size(n_bytes: int | None) -> str:
    """A byte count in MiB."""
    if n_bytes is None:
        return "–"
    return f"{n_bytes / 2**20:.1f} MiB"


def literal(text: str, keep: str = "") -> str:
    r"""`text` safe to draw: characters a terminal would act on (escape, bell, other
    control and format characters) are shown as Python escapes instead, except those in
    `keep` (say, newlines in a message).

    >>> literal("A\x1b[31mB")
    'A\\x1b[31mB'
    """
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() or c in keep else c.encode("unicode_escape").decode() for c in text
    )
