"""The chart of the selected symbol: price, fast and slow averages, the buy and sell
limits as lines, and the signals marked where they fired."""

from __future__ import annotations

import math
import time

import numpy as np
from textual.content import Content
from textual_plotext import PlotextPlot

from engine import History, Signal
from tui.runtime import format as fmt

_MARKERS = {
    "BUY": ("▲", "green"),
    "SELL": ("▼", "red"),
    "BUY_WATCH": ("△", "green"),
    "SELL_WATCH": ("▽", "red"),
    "GOLDEN_CROSS": ("●", "cyan"),
    "DEATH_CROSS": ("●", "magenta"),
}


#: New ticks redraw the chart at most this often; a new symbol redraws at once.
REDRAW_S = 0.5
#: New limits redraw it once they have not moved for this long.
LIMITS_SETTLE_S = 0.2


def envelope(x: np.ndarray, y: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """At most 2 * `buckets` points that draw like all of (`x`, `y`): the lowest and the
    highest `y` of each of `buckets` consecutive runs, at the run's first and last `x`
    (lowest first where the run falls, so the line keeps its direction).

    >>> xs, ys = envelope(np.arange(6.0), np.array([1.0, 5, 2, 2, 0, 3]), 2)
    >>> xs.tolist(), ys.tolist()
    ([0.0, 2.0, 3.0, 5.0], [1.0, 5.0, 0.0, 3.0])
    """
    n = len(y)
    if n <= 2 * buckets:
        return x, y
    starts = np.linspace(0, n, buckets + 1).astype(np.intp)[:-1]
    ends = np.append(starts[1:], n) - 1
    with np.errstate(invalid="ignore"):
        lo = np.fmin.reduceat(y, starts)
        hi = np.fmax.reduceat(y, starts)
    falling = y[ends] < y[starts]
    first = np.where(falling, hi, lo)
    second = np.where(falling, lo, hi)
    xs = np.column_stack([x[starts], x[ends]]).ravel()
    ys = np.column_stack([first, second]).ravel()
    return xs, ys


class Chart(PlotextPlot):
    """Plots one symbol's recent history; x is seconds before the latest tick."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._key: tuple[object, ...] | None = None
        self._drawn_at = -math.inf
        self._limits_moved_at: float | None = None

    def show(
        self,
        symbol: str | None,
        history: History | None,
        limits: tuple[float, float],
        signals: tuple[Signal, ...],
    ) -> None:
        """Redraw when the history, limits or signals shown changed."""
        n = 0 if history is None else len(history.t)
        last_t = float(history.t[-1]) if n and history is not None else math.nan
        marks = tuple(s for s in signals if s.symbol == symbol)
        width = self.size.width
        key = (symbol, n, last_t, limits, len(marks), marks[-1].id if marks else "", width)
        if key == self._key:
            return
        now = time.monotonic()
        same_symbol = (
            self._key is not None
            and self._key[1] != 0  # what is drawn has ticks: not a placeholder to replace
            and key[0] == self._key[0]
            and key[-1] == self._key[-1]  # a new width (the first layout) redraws at once
        )
        if same_symbol and self._key is not None and key[3] != self._key[3]:
            # Limits moved by keys: redraw 0.2 s later (and no more often while a held key
            # moves them), so the frames that show the new limit in the watchlist do not
            # wait for a plot.
            if self._limits_moved_at is None:
                self._limits_moved_at = now
            if now - self._limits_moved_at < LIMITS_SETTLE_S:
                return
        elif same_symbol and now - self._drawn_at < REDRAW_S:
            return  # plotting is the costliest part of a frame: new ticks wait a little
        self._key = key
        self._drawn_at = now
        self._limits_moved_at = None
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        self.border_title = Content(f"Chart · {fmt.literal(symbol)}" if symbol else "Chart")
        if history is None or n == 0 or symbol is None:
            plt.title("no ticks yet")
            self.refresh()
            return
        x = np.asarray(history.t, dtype=float) - last_t
        # Braille has two dots a column: more points than that only cost plotting time.
        buckets = max(8, width)
        for values, label, color in (
            (history.price, "price", "white"),
            (history.sma_fast, "fast", "cyan"),
            (history.sma_slow, "slow", "magenta"),
        ):
            xs, ys = envelope(x, np.asarray(values, dtype=float), buckets)
            plt.plot(xs.tolist(), ys.tolist(), label=label, color=color, marker="braille")
        buy, sell = limits
        if math.isfinite(buy):
            plt.hline(buy, "green")
        if math.isfinite(sell):
            plt.hline(sell, "red")
        t0 = float(history.t[0])
        for kind in _MARKERS:
            pts = [(s.t - last_t, s.price) for s in marks if s.kind.name == kind and s.t >= t0]
            if pts:
                marker, color = _MARKERS[kind]
                plt.scatter([p[0] for p in pts], [p[1] for p in pts], marker=marker, color=color)
        plt.xlabel("seconds before the latest tick")
        self.refresh()
