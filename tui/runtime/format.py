"""Plain-text formatting of numbers and forecasts for the monitor's cells."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable

from producer.wire import literal  # noqa: F401  (tui's name for it: fmt.literal)


def price(value: float) -> str:
    """A price as it was given, to five significant digits, with at least two decimals (a
    penny stock's 0.494 is not 0.49, a price of 0.000123 not 0.00, and an FX rate's
    limits 1.0701 and 1.0704 are not both 1.07), or an en dash when undefined.

    >>> price(1234.5), price(34.16), price(1.0701), price(0.000123), price(-0.001)
    ('1,234.50', '34.16', '1.0701', '0.000123', '-0.001')
    >>> price(151.23456789), price(33.27651), price(0.0), price(12_056_602.0)
    ('151.23', '33.277', '0.00', '12,056,602.00')
    >>> price(-5.551e-17)
    '0.00'
    >>> price(1.234e-10)
    '1.234e-10'
    """
    if not math.isfinite(value):
        return "–"
    if abs(value) < ZERO_BELOW:  # rounding noise on a quantity at zero
        return "0.00"
    decimals = _decimals(value)
    if decimals is None:
        return f"{value:.4g}"
    text = f"{value:,.{decimals}f}"
    if decimals > 2:  # trailing zeros past the second decimal say nothing
        text = text.rstrip("0")
        text += "0" * (2 - len(text.rsplit(".", 1)[1]))
    return text


def as_shown(value: float) -> float:
    """``value`` rounded to the digits :func:`price` shows it with: a limit stepped by a
    fraction of the price is then the limit on screen (404.41 rather than
    404.4111000000001, which the limits dialog and the settings file showed).

    >>> as_shown(404.4111000000001), as_shown(0.000123456), as_shown(33.27651)
    (404.41, 0.00012346, 33.277)
    """
    if not math.isfinite(value) or abs(value) < ZERO_BELOW:
        return value
    decimals = _decimals(value)
    return float(f"{value:.4g}") if decimals is None else round(value, decimals)


def _decimals(value: float) -> int | None:
    """The decimals :func:`price` writes a finite non-zero ``value`` with (five
    significant digits, at least two), or None past :data:`MOST_DECIMALS` (then four
    significant digits in exponent form)."""
    decimals = max(2, SIGNIFICANT - 1 - math.floor(math.log10(abs(value))))
    return None if decimals > MOST_DECIMALS else decimals


def apart(low: float, high: float, render: Callable[[float], str] = price) -> tuple[str, str]:
    """Two different values as ``render`` writes them, with as many more significant
    digits as it takes (up to 12) where it writes both alike: a buy limit of
    399.999999999 and a sell limit of 400 both read 400.00, a pair the monitor refuses.

    >>> apart(399.999999999, 400.0), apart(150.0, 160.0)
    (('399.999999999', '400.00'), ('150.00', '160.00'))
    """
    a, b = render(low), render(high)
    if a != b or low == high or not (math.isfinite(low) and math.isfinite(high)):
        return a, b
    for digits in range(SIGNIFICANT + 1, 13):
        a, b = f"{low:,.{digits}g}", f"{high:,.{digits}g}"
        if a != b:
            break
    return _two_decimals(a), _two_decimals(b)


def _two_decimals(text: str) -> str:
    """A number written by ``format(x, "g")`` with at least two decimals, as prices are."""
    if "e" in text:
        return text
    whole, _, decimals = text.partition(".")
    return f"{whole}.{decimals.ljust(2, '0')}"


#: Significant digits a price is shown with (fewer where its last ones are zeros).
SIGNIFICANT = 5
#: The most decimals a price is shown with; a smaller one is shown as 1.234e-10.
MOST_DECIMALS = 12
#: Values this close to zero are shown as 0.00: the rounding noise of a sum that is 0.
ZERO_BELOW = 1e-12


#: From this size on, a compact price leaves out its cents: five significant digits or
#: more still show a move of 0.01 % (finer than any limit step), in three fewer cells.
COMPACT_WHOLE = 10_000.0
#: ... or from this size on, where even so a narrow table has no room left for what
#: follows the prices (four significant digits still show a move of 0.1 %).
COMPACT_THOUSANDS = 1_000.0


def price_compact(value: float, whole_from: float = COMPACT_WHOLE) -> str:
    """A price for a narrow table: as :func:`price`, without decimals from `whole_from`
    on (:data:`COMPACT_WHOLE`, or less where even that leaves no room).

    >>> price_compact(102_400.0), price_compact(9_999.994), price_compact(-23_544.58)
    ('102,400', '9,999.99', '-23,545')
    >>> price_compact(2_301.12, whole_from=1_000.0), price_compact(999.996, whole_from=1_000.0)
    ('2,301', '1,000')
    """
    # As shown: 999.996 is written 1,000.00, which is from `whole_from` on (it was
    # written so, eight cells beside rows of 1,000, and hid the forecast).
    if math.isfinite(value) and abs(as_shown(value)) >= whole_from:
        return f"{value:,.0f}"
    return price(value)


def chance(p: float) -> str:
    """A probability in whole percent that never rounds a possibility to 0 or 100.

    >>> chance(0.999), chance(0.002), chance(1.0), chance(0.5)
    ('>99%', '<1%', '100%', '50%')
    """
    if 0.0 < p < 0.005:
        return "<1%"
    if 0.995 <= p < 1.0:
        return ">99%"
    return f"{p:.0%}"


def speed(factor: float) -> str:
    """A replay speed as the status line and the speed keys say it: ``max`` unpaced,
    slower than real time as a fraction of it.

    >>> speed(math.inf), speed(4.0), speed(1 / 64), speed(0.75)
    ('max', '×4', '×1/64', '×0.75')
    """
    if math.isinf(factor):
        return "max"
    if 0.0 < factor < 1.0 and (1.0 / factor).is_integer():
        return f"×1/{1.0 / factor:.0f}"
    return f"×{factor:g}"


def percent(value: float) -> str:
    """A signed percentage with two decimals; one that rounds to nothing has no minus.

    >>> percent(0.0123), percent(-0.00004), percent(-0.0001)
    ('+1.23%', '+0.00%', '-0.01%')
    """
    if not math.isfinite(value):
        return "–"
    return _unsigned_zero(f"{value:+.2%}")


def _unsigned_zero(text: str) -> str:
    """'-0.00%' read as a fall where nothing changed in the digits shown: '+0.00%'."""
    if text.startswith("-") and not shows_change(text):
        return "+" + text[1:]
    return text


def shows_change(text: str) -> bool:
    """Whether a change as shown (``+0.00%``, ``-1.20``) has a digit other than zero."""
    return any(c in "123456789" for c in text)


#: A change is shown in percent while it stays within ±this many times the first value;
#: past that (a quantity that started at or near zero, like an idle CPU's iowait) a
#: percentage says nothing, and the change itself is shown instead.
PERCENT_MAX = 10.0


def percent_meaningful(last: float, opened: float) -> bool:
    """Whether the change from `opened` to `last` reads sensibly as a percentage."""
    return opened > 0 and abs(last / opened - 1.0) <= PERCENT_MAX


def change(last: float, opened: float, additive: bool = False) -> str:
    """The change since the first value: a signed percentage, or the signed difference
    where a percentage would divide by (nearly) nothing, and always for a quantity that is
    not a price (``additive``: a gauge from 0.5 to 1.5 went up by 1.00, not by 200%).

    >>> change(104.0, 100.0), change(3.0, 0.0), change(3.0, 0.001), change(0.0, 0.0)
    ('+4.00%', '+3.00', '+3.00', '+0.00')
    >>> change(1.5, 0.5, additive=True), change(99.99999, 100.0), change(-0.001, 0.0)
    ('+1.00', '+0.00%', '+0.00')
    """
    if not (math.isfinite(last) and math.isfinite(opened)):
        return "–"
    if not additive and percent_meaningful(last, opened):
        return percent(last / opened - 1.0)
    return _unsigned_zero(f"{last - opened:+,.2f}")


def count(n: int, noun: str) -> str:
    """`n` and `noun`, plural unless `n` is 1.

    >>> count(1, "tick"), count(0, "signal"), count(10000, "symbol")
    ('1 tick', '0 signals', '10,000 symbols')
    """
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def short_count(n: int) -> str:
    """A count in at most four characters: 950, 1.2k, 12k, 3.4M.

    >>> short_count(950), short_count(1234), short_count(12_345), short_count(3_400_000)
    ('950', '1.2k', '12k', '3.4M')
    """
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            value = n / scale
            return f"{value:.1f}{suffix}" if value < 9.95 else f"{value:.0f}{suffix}"
    return str(n)


def duration(seconds: float) -> str:
    """A short human duration: 12 s, 3.5 min, 2.1 h."""
    if not math.isfinite(seconds):
        return "–"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def eta_text(seconds: float) -> str:
    """The time to a limit after "in": ``~12 s``, ``<1 s`` under half a second (``~0 s``
    read as a promise of no time at all).

    >>> eta_text(12.4), eta_text(0.3)
    ('~12 s', '<1 s')
    """
    return "<1 s" if 0.0 <= seconds < 0.5 else f"~{duration(seconds)}"


def interval(seconds: float) -> str:
    """How often something happens: 0.67 s, 5 s, 8.3 s, 10.0 h.

    >>> interval(8 / 12), interval(5.0), interval(432_000 / 12)
    ('0.67 s', '5 s', '10.0 h')
    """
    return f"{seconds:.2g} s" if seconds < 10 else duration(seconds)


def short_duration(seconds: float) -> str:
    """A duration in at most four characters: 12s, 8.6m, 45m, 2.1h, 12h.

    >>> short_duration(12.4), short_duration(516), short_duration(2700), short_duration(7560)
    ('12s', '8.6m', '45m', '2.1h')
    """
    if not math.isfinite(seconds):
        return "–"
    for unit, size, upto in (("s", 1, 90), ("m", 60, 5400), ("h", 3600, math.inf)):
        if seconds < upto:
            value = seconds / size
            return f"{value:.0f}{unit}" if unit == "s" or value >= 9.95 else f"{value:.1f}{unit}"
    return "–"


def forecast(
    p_buy: float,
    eta_buy: float,
    p_sell: float,
    eta_sell: float,
    compact: bool = False,
    timed: bool = True,
) -> tuple[str, str]:
    """The forecast in words and a style name: ('BUY in ~12 s, 78%', 'buy'), or in at most
    15 characters where room is short (`compact`): ('BUY 78% ~12s', 'buy'), or 9 without
    the time to the limit (`timed` false): ('BUY 78%', 'buy').

    The side shown is the likelier one; 'BUY now' means the price is at or through the
    buy limit; 'SELL unlikely' means neither limit is likely within the horizon; 'warming
    up' means the symbol has too few ticks for a forecast yet.

    >>> forecast(0.999, 4.0, 0.01, 50.0, compact=True, timed=False)
    ('BUY 99%', 'buy')
    """
    if math.isnan(p_buy) and math.isnan(p_sell):
        return ("warming up", "quiet")  # too few ticks yet for a forecast
    # A side without a forecast (no limit there) is never the one named, even when the
    # other's chance rounds to 0.
    if math.isnan(p_buy):
        side, p, eta = "SELL", p_sell, eta_sell
    elif math.isnan(p_sell) or p_buy >= p_sell:
        side, p, eta = "BUY", p_buy, eta_buy
    else:
        side, p, eta = "SELL", p_sell, eta_sell
    if p < 0.05:
        return (f"{side} unlikely", "quiet")
    if p >= 1.0 and eta == 0.0:
        return (f"{side} now", side.lower())
    style = side.lower() if p >= 0.5 else "maybe"
    # Short of the limit, never "100%": a forecast is not a certainty (and at 80 columns
    # "SELL 100% stale" was a cell wider than the room, which blanked the column).
    likely = f"{min(p, 0.99):.0%}"
    if compact:
        soon = "<1s" if eta < 0.5 else f"~{short_duration(eta)}"
        when = f" {soon}" if timed and math.isfinite(eta) else ""
        return (f"{side} {likely}{when}", style)
    when = f"in {eta_text(eta)}, " if math.isfinite(eta) else ""
    return (f"{side} {when}{likely}", style)


def size(n_bytes: int | None) -> str:
    """A byte count in MiB."""
    if n_bytes is None:
        return "–"
    return f"{n_bytes / 2**20:.1f} MiB"


def file_safe(text: str, most: int = 40) -> str:
    """``text`` as part of a file name: letters, digits, ``.``, ``-`` and ``_`` kept, any
    other character (a slash, a space, a control character) made ``_``; at most ``most``.

    >>> file_safe("BTC/USDT ../x")
    'BTC_USDT_.._x'
    """
    return "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in text)[:most]


def cells(text: str) -> int:
    """Terminal cells ``text`` takes: two for wide characters (CJK, most emoji), none for
    combining marks and format characters, one for the rest."""
    return sum(
        0 if unicodedata.combining(c) or unicodedata.category(c) in ("Mn", "Me", "Cf")
        else 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1
        for c in text
    )  # fmt: skip


def fit(text: str, width: int) -> str:
    """``text`` fitted to ``width`` cells and padded with spaces to them: a column of a
    plain text table stays aligned under symbols such as 日本株 (``f"{s:<16.16}"`` counts
    characters: those rows ran wider). A longer text keeps its start and its end around
    ``…``: symbols that differ at their end (``BTCUSDT-PERP-2025-06-27`` and
    ``-09-26``, cut to their first 16 characters) read as one otherwise.

    >>> fit("日本株式会社ABCDEFGHIJ", 16) + "|", fit("ACME", 6) + "|"
    ('日本株…BCDEFGHIJ|', 'ACME  |')
    >>> fit("BTCUSDT-PERP-2025-06-27", 16), fit("BTCUSDT-PERP-2025-09-26", 16)
    ('BTCUSDT…25-06-27', 'BTCUSDT…25-09-26')
    """
    if not cells(text) > width > 0:
        head = _leading(text, width)
        return head + " " * (width - cells(head))
    room = width - 1  # the ellipsis takes a cell
    head = _leading(text, room // 2)
    tail = _leading(text[::-1], room - cells(head))[::-1]
    while tail and not cells(tail[0]):  # a mark whose letter was cut off
        tail = tail[1:]
    out = f"{head}…{tail}"
    return out + " " * (width - cells(out))


def _leading(text: str, width: int) -> str:
    """The longest start of ``text`` that takes at most ``width`` cells (a combining mark
    stays with the letter before it)."""
    out, used = [], 0
    for c in text:
        w = cells(c)
        if used + w > width:
            break
        out.append(c)
        used += w
    return "".join(out)
