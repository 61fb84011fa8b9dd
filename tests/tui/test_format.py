"""The forecast in words, as the watchlist shows it."""

from __future__ import annotations

import math

import pytest

from tui.runtime import format as fmt


@pytest.mark.parametrize(
    ("p_buy", "eta_buy", "p_sell", "eta_sell", "words", "style"),
    [
        (0.78, 12.0, 0.1, math.nan, "BUY in ~12 s, 78%", "buy"),
        (0.1, math.nan, 0.65, 150.0, "SELL in ~2.5 min, 65%", "sell"),
        (0.3, math.nan, 0.01, math.nan, "BUY 30%", "maybe"),
        (0.01, math.nan, 0.02, math.nan, "SELL unlikely", "quiet"),
        (math.nan, math.nan, math.nan, math.nan, "warming up", "quiet"),
        (math.nan, math.nan, 0.01, math.nan, "SELL unlikely", "quiet"),
        (math.nan, math.nan, 0.0, math.nan, "SELL unlikely", "quiet"),  # no buy limit
        (0.0, math.nan, math.nan, math.nan, "BUY unlikely", "quiet"),  # no sell limit
        (0.0, math.nan, 0.0, math.nan, "BUY unlikely", "quiet"),
        (1.0, 0.0, 0.0, math.nan, "BUY now", "buy"),
        (0.1, math.nan, 0.99, 0.3, "SELL in <1 s, 99%", "sell"),  # not "in ~0 s"
    ],
)
def test_forecast_words(
    p_buy: float, eta_buy: float, p_sell: float, eta_sell: float, words: str, style: str
) -> None:
    assert fmt.forecast(p_buy, eta_buy, p_sell, eta_sell) == (words, style)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(5.4, "5 s"), (89, "89 s"), (150, "2.5 min"), (7200, "2.0 h"), (math.nan, "–")],
)
def test_duration_words(seconds: float, text: str) -> None:
    assert fmt.duration(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(8 / 12, "0.67 s"), (2.5, "2.5 s"), (5.0, "5 s"), (9.99, "10 s"), (36_000, "10.0 h")],
)
def test_interval_words_keep_fractions_of_a_second(seconds: float, text: str) -> None:
    assert fmt.interval(seconds) == text


@pytest.mark.parametrize(
    ("last", "opened", "text"),
    [
        (104.0, 100.0, "+4.00%"),
        (95.0, 100.0, "-5.00%"),
        (3.0, 0.0, "+3.00"),  # a metric that opened at zero: never a division by it
        (3.0, 0.001, "+3.00"),  # nor by nearly zero (it read +299900.00%)
        (0.0, 0.0, "+0.00"),
        (-2.5, 0.0, "-2.50"),
        (1100.0, 100.0, "+1000.00%"),
        (1200.0, 100.0, "+1,100.00"),
        (math.nan, 100.0, "–"),
    ],
)
def test_change_is_a_percentage_only_where_one_makes_sense(
    last: float, opened: float, text: str
) -> None:
    assert fmt.change(last, opened) == text


@pytest.mark.parametrize(
    ("p_buy", "eta_buy", "p_sell", "eta_sell", "words"),
    [
        (0.78, 12.0, 0.1, math.nan, "BUY 78% ~12s"),
        (0.1, math.nan, 0.29, 516.0, "SELL 29% ~8.6m"),
        (0.1, math.nan, 1.0, 5300.0, "SELL 99% ~88m"),  # short of the limit: not 100%
        (0.997, 3.0, 0.0, math.nan, "BUY 99% ~3s"),
        (0.1, math.nan, 0.99, 86_000.0, "SELL 99% ~24h"),
        (0.3, math.nan, 0.01, math.nan, "BUY 30%"),
        (1.0, 0.0, 0.0, math.nan, "BUY now"),
        (0.01, math.nan, 0.02, math.nan, "SELL unlikely"),
    ],
)
def test_the_compact_forecast_fits_a_narrow_watchlist(
    p_buy: float, eta_buy: float, p_sell: float, eta_sell: float, words: str
) -> None:
    text, _style = fmt.forecast(p_buy, eta_buy, p_sell, eta_sell, compact=True)
    assert text == words and len(text) <= 14
