"""The one rule for buy and sell limits, and the one bound on prices.

Every place that accepts a limit (the engine, the monitor's keys and dialog, command-line
options, the settings file, scenario headers) asks :func:`limit_problem` or
:func:`check_limits`, so a pair refused in one place is refused everywhere with the same
words. Prices on the wire obey the same bounds, :data:`MIN_PRICE` and :data:`MAX_PRICE`.
"""

from __future__ import annotations

import math

__all__ = [
    "MAX_PRICE",
    "MIN_PRICE",
    "LimitError",
    "band_limits",
    "check_limits",
    "limit_problem",
    "same_limit",
    "tidy",
]

#: Prices and limits lie in [MIN_PRICE, MAX_PRICE). A limit beyond any price a tick can
#: carry could never be reached and would only be a typing slip.
MAX_PRICE = 1e12
#: The smallest price: a million times below the cheapest traded token's. A price of
#: 1e-320 (a number that underflows) was taken, made its symbol's volatility infinite,
#: fired a SELL and had every later tick refused as an infinite jump.
MIN_PRICE = 1e-12


class LimitError(ValueError):
    """A buy/sell limit that cannot be applied; the message says why."""


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None


def _shown(x: float) -> str:
    """A limit in a message: two decimals for ordinary prices and large ones up to well
    past MAX_PRICE (a limit stepped to 1,000,000,000,000.49 read "got 1e+12", as if at the
    bound), else significant digits.

    >>> _shown(1e12 + 0.49), _shown(123.456), _shown(2e-5), _shown(3e20)
    ('1,000,000,000,000.49', '123.46', '2e-05', '3e+20')
    """
    return f"{x:,.2f}" if 0.01 <= abs(x) < 1e15 else f"{x:g}"


def same_limit(a: float | None, b: float | None) -> bool:
    """Whether two limits are the same: equal, or both none (NaN)."""
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


def limit_problem(buy: object, sell: object, *, additive: bool = False) -> str | None:
    """Why the pair ``(buy, sell)`` cannot be a symbol's limits, or None if it can.

    ``nan`` means "no limit on that side". A limit must be a number in
    ``(0, MAX_PRICE)`` (in ``(-MAX_PRICE, MAX_PRICE)`` for an ``additive`` symbol, a
    quantity that may be zero or below; see :class:`~engine.Engine`), and the buy limit
    must lie below the sell limit.

    Examples
    --------
    >>> limit_problem(95.0, 105.0) is None
    True
    >>> limit_problem(float("nan"), 105.0) is None
    True
    >>> limit_problem(105.0, 95.0)
    'the buy limit 105.00 must be below the sell limit 95.00'
    >>> limit_problem(-1.0, 95.0)
    "the buy limit must be positive and finite, got -1.00 (only a quantity's limits may ...)"
    >>> limit_problem(1.0, 1e12)
    'the sell limit must be below 1,000,000,000,000, got 1,000,000,000,000.00'
    >>> limit_problem(1e-300, 1.0)
    'the buy limit must be at least 1e-12, got 1e-300'
    >>> limit_problem(-1.0, 0.0, additive=True) is None
    True
    """
    values: list[float] = []
    for side, value in (("buy", buy), ("sell", sell)):
        x = _number(value)
        if x is None:
            return f"the {side} limit must be a number, got {value!r}"
        if math.isnan(x):
            values.append(x)
            continue
        if additive:
            if not abs(x) < MAX_PRICE:
                return (
                    f"the {side} limit must lie strictly between -{MAX_PRICE:,.0f} and "
                    f"{MAX_PRICE:,.0f}, got {_shown(x)}"
                )
            values.append(x)
            continue
        if math.isinf(x):
            return f"the {side} limit must be positive and finite, got {_shown(x)}"
        if x <= 0.0:
            return (
                f"the {side} limit must be positive and finite, got {_shown(x)} (only a "
                "quantity's limits may be 0 or below: see --additive)"
            )
        if x >= MAX_PRICE:
            return f"the {side} limit must be below {MAX_PRICE:,.0f}, got {_shown(x)}"
        if x < MIN_PRICE:
            return f"the {side} limit must be at least {MIN_PRICE:g}, got {x:g}"
        values.append(x)
    low, high = values
    if low >= high:  # False when either is nan
        return f"the buy limit {_shown(low)} must be below the sell limit {_shown(high)}"
    return None


def check_limits(
    buy: object, sell: object, symbol: str | None = None, *, additive: bool = False
) -> tuple[float, float]:
    """``(buy, sell)`` as floats (nan: no limit), or :class:`LimitError` saying why not
    (:func:`limit_problem`).

    Examples
    --------
    >>> check_limits(95, "105")
    (95.0, 105.0)
    >>> check_limits(0, 1, symbol="ACME")
    Traceback (most recent call last):
    ...
    engine.limits.LimitError: ACME: the buy limit must be positive and finite, got 0 (...)
    """
    problem = limit_problem(buy, sell, additive=additive)
    if problem is not None:
        raise LimitError(f"{symbol}: {problem}" if symbol else problem)
    return float(buy), float(sell)  # type: ignore[arg-type]


def tidy(values: list[float]) -> list[float]:
    """Each value to 12 significant digits: a limit a band away from a price carries no
    float noise from the product (``150.52 * 1.02`` is ``153.53040000000001``, which a
    signal's JSON printed as the limit).

    >>> tidy([150.52 * 1.02, 0.1 + 0.2, float("nan")])
    [153.5304, 0.3, nan]
    """
    return [float(f"{v:.12g}") for v in values]


def decimals_of(price: float) -> int:
    """How many decimals ``price`` was written with (its shortest form; none for a whole
    number).

    >>> [decimals_of(x) for x in (100.03, 100.0, 2.5e-05, 1e6)]
    [2, 0, 6, 0]
    """
    mantissa, _, exponent = repr(float(price)).partition("e")
    return max(len(mantissa.partition(".")[2].rstrip("0")) - int(exponent or 0), 0)


def band_limits(
    first: list[float], band: float, additive: list[bool] | None = None
) -> tuple[list[float], list[float]]:
    """The automatic limits ``first -/+ band*|first|`` of each first price, to as many
    decimals as the price was written with, or more where two significant digits of the
    band's width or of a limit need them: beside a price of 100.03 a 2 % band gives
    98.03 and 102.03, not 98.0294 (a limit reads as the price does, and a price on a cent
    grid cannot reach a fraction of a cent anyway); beside 5 it gives 4.9 and 5.1, and at
    a band of 99 % 0.05 and 9.95.

    A side whose limit would lie outside the prices a tick can carry (:func:`limit_problem`;
    ``additive``: which are quantities; by default those at 0 or below) has none (nan):
    no price can reach it, and a limit that no check accepts had the monitor refuse
    every key on that symbol and stopped the reading at the first recording (its header
    refused it).

    >>> band_limits([100.03, 5.0, 0.000123, -40.0], 0.02)
    ([98.03, 4.9, 0.0001205, -40.8], [102.03, 5.1, 0.0001255, -39.2])
    >>> band_limits([5.0, 7.0], 0.99)
    ([0.05, 0.07], [9.95, 13.93])
    >>> band_limits([9.99e11, 1e-12], 0.02)
    ([979020000000.0, nan], [nan, 1.02e-12])
    >>> band_limits([1e-12], 0.02, additive=[True])
    ([9.8e-13], [1.02e-12])
    """
    buy, sell = _band(first, band)
    for i, (low, high) in enumerate(zip(buy, sell, strict=True)):
        quantity = bool(additive[i]) if additive is not None else not first[i] > 0.0
        if limit_problem(low, math.nan, additive=quantity) is not None:
            buy[i] = math.nan
        if limit_problem(math.nan, high, additive=quantity) is not None:
            sell[i] = math.nan
    return buy, sell


def _band(first: list[float], band: float) -> tuple[list[float], list[float]]:
    """:func:`band_limits` before the bounds on prices."""
    buy, sell = [], []
    for price in first:
        width = band * abs(price)
        if not (math.isfinite(price) and width > 0.0):
            buy.append(price - width)
            sell.append(price + width)
            continue
        # Two significant digits of the width, and of each limit too (a band near 1
        # leaves a buy limit far below the price: 5 at 99 % is 0.05, not 0.0).
        low, high = price - width, price + width
        places = max(
            decimals_of(price),
            *(1 - math.floor(math.log10(abs(v))) for v in (width, low, high) if v),
        )
        buy.append(round(low, places))
        sell.append(round(high, places))
    return tidy(buy), tidy(sell)
