"""The chart of the selected symbol: price, fast and slow averages, the buy and sell
limits as lines (an arrow at the edge for a limit off the scale), and the signals marked
where they fired. Colours come from the app's theme, made to stand out on its surface."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import time

import numpy as np
from textual.color import Color
from textual.content import Content, Span
from textual_plotext import PlotextPlot

from engine import History, Signal
from tui.runtime import format as fmt
from tui.runtime.legend import SIGNAL_MARKS
from tui.widgets.watchlist import cut_middle

#: Each line's colour: the theme variable it is taken from.
ROLES = {
    "price": "foreground",
    "fast": "primary",
    "slow": "accent",
    "buy": "success",
    "sell": "error",
}
#: A line must stand out from the plot's background at least this much (WCAG contrast
#: ratio); colours that do not are darkened (light themes) or lightened (dark ones).
MIN_CONTRAST = 3.0
#: Beyond this span of history the x axis shows clock time (UTC, as the signals pane),
#: not seconds before the latest tick.
CLOCK_AFTER_S = 300.0
#: Room above and below the data, as a fraction of its range.
MARGIN = 0.05


#: New ticks redraw the chart at most this often; a new symbol redraws at once.
REDRAW_S = 0.5
#: New limits redraw it once they have not moved for this long.
LIMITS_SETTLE_S = 0.2
#: The cells of a symbol's name the chart's title keeps (all of a shorter one) before
#: its other words: "(all kept)", then "Chart · ", then the zoom.
TITLE_NAME_LEAST = 10


def chart_title(name: str, zoomed: str, room: int) -> str:
    """The chart's title in ``room`` cells: ``Chart · NAME`` and the zoom ``zoomed``,
    the name kept to TITLE_NAME_LEAST cells at least (cut in the middle, its end too:
    long names differ there) before the other words give way (at 80x24 the zoom's words
    left the name one cell: `Chart · … · last 2.1 min (all kept)`).

    >>> chart_title("mem.available.node2", " · last 2.1 min (all kept)", 36)
    'mem.available.node2 · last 2.1 min'
    >>> chart_title("ACME", " · last 2.1 min (all kept)", 40)
    'Chart · ACME · last 2.1 min (all kept)'
    >>> chart_title("BTC-PERP-2025-06-27", " · last 5.4 s (all kept)", 22)
    'BTC-PERP-2025-06-27'
    >>> chart_title("BTC-PERP-2025-06-27", " · last 5.4 s", 12)
    'BTC-PE…06-27'
    """
    width = fmt.cells(name)
    kept = zoomed.removesuffix(" (all kept)")
    forms = (("Chart · ", zoomed), ("Chart · ", kept), ("", kept), ("", ""))
    # The first form the whole name fits in; else the first with its least.
    prefix, zoom = next(
        (f for f in forms if room - fmt.cells("".join(f)) >= width),
        next(
            (f for f in forms if room - fmt.cells("".join(f)) >= min(width, TITLE_NAME_LEAST)),
            forms[-1],
        ),
    )
    space = room - fmt.cells(prefix + zoom)
    if width > space:
        name = cut_middle(name, max(space, 1))
    return f"{prefix}{name}{zoom}"


#: Spans of time the chart can show, longest first (None: all the history kept); z and Z
#: move along them.
ZOOMS: tuple[float | None, ...] = (None, 900.0, 300.0, 120.0, 60.0, 30.0)


def span_text(seconds: float) -> str:
    """A zoom span in words: 30 s, 2 min, 15 min; a span kept that is not a whole
    minute to a tenth of one (145 s: 2.4 min, not 2.41667 min).

    >>> span_text(30), span_text(120), span_text(145), span_text(4.25)
    ('30 s', '2 min', '2.4 min', '4.25 s')
    """
    return f"{round(seconds / 60, 1):g} min" if seconds >= 60 else f"{seconds:g} s"


def _luminance(color: Color) -> float:
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = color.rgb
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: Color, b: Color) -> float:
    """The WCAG contrast ratio of two colours, 1 (same) to 21 (black on white)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def palette(variables: dict[str, str]) -> dict[str, Color]:
    """Each role of :data:`ROLES` in a colour of the theme whose `variables` are given,
    moved away from its surface until it stands out (:data:`MIN_CONTRAST`)."""
    surface = Color.parse(variables.get("surface", "#1e1e1e"))
    dark = _luminance(surface) < 0.5
    colours = {}
    for role, name in ROLES.items():
        colour = Color.parse(variables.get(name, "#808080"))
        for _ in range(20):
            if contrast(colour, surface) >= MIN_CONTRAST:
                break
            colour = colour.lighten(0.05) if dark else colour.darken(0.05)
        colours[role] = colour
    return colours


def y_range(values: list[np.ndarray]) -> tuple[float, float]:
    """The y scale for the finite `values`, with a margin; never of zero height."""
    finite = [v[np.isfinite(v)] for v in values]
    finite = [v for v in finite if v.size]
    if not finite:
        return 0.0, 1.0
    lo = float(min(v.min() for v in finite))
    hi = float(max(v.max() for v in finite))
    pad = (hi - lo) * MARGIN or max(abs(hi) * 1e-3, 1e-6)
    return lo - pad, hi + pad


def clock_ticks(t0: float, t1: float, count: int) -> tuple[list[float], list[str]]:
    """About `count` x positions between event times `t0` and `t1` (as seconds before
    `t1`) on round clock times, with their labels (UTC, HH:MM, or HH:MM:SS where ticks
    are less than a minute apart).

    >>> clock_ticks(1_700_000_000.0, 1_700_003_600.0, 4)
    ([-3500.0, -2600.0, -1700.0, -800.0], ['22:15', '22:30', '22:45', '23:00'])
    """
    span = max(t1 - t0, 1.0)
    steps = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)
    step = next((s for s in steps if span / s <= max(count, 1)), steps[-1])
    first = math.ceil(t0 / step) * step
    ticks = np.arange(first, t1 + 1e-9, step)
    form = "%H:%M:%S" if step < 60 else "%H:%M" if step < 86400 else "%m-%d"
    labels = [dt.datetime.fromtimestamp(t, tz=dt.UTC).strftime(form) for t in ticks]
    return [float(t - t1) for t in ticks], labels


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


def steps(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(`x`, `y`) as steps: each value held until the next tick, which moves it at once.
    A price does not glide between two ticks: drawn point to point, an overnight gap read
    as a slide through the night, crossing the buy line hours before the tick that did.

    >>> xs, ys = steps(np.array([0.0, 1.0, 5.0]), np.array([10.0, 11.0, 9.0]))
    >>> xs.tolist(), ys.tolist()
    ([0.0, 1.0, 1.0, 5.0, 5.0], [10.0, 10.0, 11.0, 11.0, 9.0])
    """
    return np.repeat(x, 2)[1:], np.repeat(y, 2)[:-1]


def tick_labels(ticks: list[float], span: float) -> list[str]:
    """The y labels: two decimals, or as many more as it takes for labels a `span` apart
    to differ (a gauge between 0.001 and 0.004 read 0.00 at both ends), at most eight.
    From :data:`~tui.runtime.format.COMPACT_WHOLE` on, as the watchlist's compact prices,
    no cents unless the labels need them to differ: a price of twelve million took
    thirteen of an 80-column chart's 36 cells.

    >>> tick_labels([150.33, 156.39], 6.06), tick_labels([0.0012, 0.0041], 0.0029)
    (['150.33', '156.39'], ['0.001', '0.004'])
    >>> tick_labels([11_818_593.79, 12_039_917.82], 221_324.03)
    ['11,818,594', '12,039,918']
    >>> tick_labels([50_000.25, 50_000.75], 0.5)
    ['50,000.2', '50,000.8']
    """
    finite = [t for t in ticks if math.isfinite(t)]
    gaps = [b - a for a, b in itertools.pairwise(sorted(finite)) if b > a] + [span]
    smallest = min((g for g in gaps if g > 0), default=1.0)
    big = bool(finite) and max(abs(t) for t in finite) >= fmt.COMPACT_WHOLE
    decimals = min(max(0 if big else 2, -math.floor(math.log10(smallest))), 8)
    return [f"{t:,.{decimals}f}" for t in ticks]


class Chart(PlotextPlot):
    """Plots one symbol's recent history; x is seconds before the latest tick, or the
    clock time for a history longer than :data:`CLOCK_AFTER_S`."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._key: tuple[object, ...] | None = None
        self._drawn_at = -math.inf
        self._limits_moved_at: float | None = None
        self._colours: dict[str, Color] = {}
        self._colours_for: str | None = None
        #: Seconds of history shown, up to the latest tick (None: all that is kept).
        self.span_s: float | None = None
        #: Seconds from the first tick drawn to the latest (nan before any).
        self.drawn_s = math.nan

    def colours(self) -> dict[str, Color]:
        """The lines' colours in the app's current theme."""
        theme = self.app.theme
        if theme != self._colours_for:
            self._colours_for = theme
            self._colours = palette(self.app.theme_variables)
        return self._colours

    def zoom(self, direction: int) -> float | bool | None:
        """Show a shorter (+1) or longer (-1) span of time, along :data:`ZOOMS`; the new
        span (None: all the history kept), or False at either end."""
        at = ZOOMS.index(self.span_s) + direction
        if not 0 <= at < len(ZOOMS):
            return False
        self.span_s = ZOOMS[at]
        self._key = None  # redraw at the next frame
        return self.span_s

    def show(
        self,
        symbol: str | None,
        history: History | None,
        limits: tuple[float, float],
        signals: tuple[Signal, ...],
        empty: str = "no ticks yet",
    ) -> None:
        """Redraw when the history, limits or signals shown changed; ``empty`` is what it
        says when there is nothing to draw."""
        n = 0 if history is None else len(history.t)
        last_t = float(history.t[-1]) if n and history is not None else math.nan
        # How far back the kept ticks reach, before a zoom keeps the latest of them.
        kept = float(last_t - history.t[0]) if n > 1 and history is not None else 0.0
        if n and history is not None and self.span_s is not None:
            first = int(np.searchsorted(history.t, last_t - self.span_s, side="left"))
            if first > 0:
                history = History(
                    history.t[first:], history.price[first:], history.sma_fast[first:],
                    history.sma_slow[first:],
                )  # fmt: skip
                n = len(history.t)
        marks = tuple(s for s in signals if s.symbol == symbol)
        width = self.size.width
        height = self.size.height
        theme = self.app.theme if self.is_attached else ""
        key = (
            symbol, n, last_t, limits, len(marks), marks[-1].id if marks else "", theme,
            (width, height), empty,
        )  # fmt: skip
        if key == self._key:
            return
        now = time.monotonic()
        same_symbol = (
            self._key is not None
            and self._key[1] != 0  # what is drawn has ticks: not a placeholder to replace
            and key[0] == self._key[0]
            and key[-2:] == self._key[-2:]  # a new theme or size redraws at once
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
        zoomed = "" if self.span_s is None else f" · last {span_text(self.span_s)}"
        # A busy symbol's kept ticks span less than asked (not a quiet one's, whose last
        # ticks do: 16 hours kept read "last 20 s (all kept)" after a gap).
        if self.span_s is not None and n > 1 and kept < 0.9 * self.span_s:
            zoomed = f" · last {span_text(round(kept, 1 if kept < 10 else 0))} (all kept)"
        if symbol and self.size.width:
            title = chart_title(fmt.literal(symbol), zoomed, self.size.width - 4)  # borders
        else:
            title = f"Chart · {fmt.literal(symbol)}{zoomed}" if symbol else f"Chart{zoomed}"
        self.border_title = Content(title)
        self.border_subtitle = ""
        if history is None or n == 0 or symbol is None:
            plt.title(empty)
            self.refresh()
            return
        colours = self.colours() if self.is_attached else palette({})
        rgb = {role: colour.rgb for role, colour in colours.items()}
        x = np.asarray(history.t, dtype=float) - last_t
        self.drawn_s = -float(x[0])
        series = [
            ("price", np.asarray(history.price, dtype=float)),
            ("fast", np.asarray(history.sma_fast, dtype=float)),
            ("slow", np.asarray(history.sma_slow, dtype=float)),
        ]
        # Braille has two dots a column: more points than that only cost plotting time.
        buckets = max(8, width)
        # The scale fits the prices and averages; a limit outside it is an arrow at the
        # edge, so a far limit never squashes the price into one row.
        lo, hi = y_range([values for _role, values in series])
        plt.ylim(lo, hi)
        left = float(x[0])
        if left >= 0.0:  # one tick (or all at one time): plotext centred it on -1..1 s ahead
            left = -1.0
            plt.xlim(left, 0.0)
        for role, values in series:
            xs, ys = envelope(*steps(x, values), buckets)
            plt.plot(xs.tolist(), ys.tolist(), color=rgb[role], marker="braille")
        ticks: list[float] = []
        off: dict[bool, list[tuple[str, float]]] = {True: [], False: []}  # above: limits
        for side, value in zip(("buy", "sell"), limits, strict=True):
            if not math.isfinite(value):
                continue
            if lo <= value <= hi:
                plt.hline(value, rgb[side])
                ticks.append(value)
            else:
                off[value > hi].append((side, value))
        for above, far in off.items():
            if far:  # both limits off one edge share its arrow, neither hides the other
                plt.text(
                    # Written as the y labels are: no cents from COMPACT_WHOLE on.
                    f"{'↑' if above else '↓'} "
                    + " · ".join(f"{side} {fmt.price_compact(value)}" for side, value in far),
                    x=left,
                    y=hi if above else lo,
                    color=rgb[far[0][0]],
                    alignment="left",
                )
        # Tick labels where the limit lines are, so a line's row reads its limit, and at
        # the top and bottom of the scale.
        rows = max(height - 4, 2)  # the plot's rows: less the axes and the x labels
        ends = [lo + (hi - lo) * 0.5 / rows, hi - (hi - lo) * 0.5 / rows]
        cell = (hi - lo) / rows
        if len(ticks) == 2 and abs(ticks[1] - ticks[0]) < cell:
            # Both limits on one row draw one line and one label: said in words there, as
            # limits off an edge are (at 80x24 a buy limit 0.10 below the sell had neither).
            plt.text(
                f"= buy {fmt.price_compact(ticks[0])} · sell {fmt.price_compact(ticks[1])}",
                x=left, y=ticks[1], color=rgb["sell"], alignment="left",
            )  # fmt: skip
            ticks = ticks[1:]  # one label for the row
        ticks += [t for t in ends if all(abs(t - k) > 1.5 * cell for k in ticks)]
        ticks.sort()
        plt.yticks(ticks, tick_labels(ticks, hi - lo))
        t0 = float(history.t[0])
        for kind, (glyph, colour, _meaning) in SIGNAL_MARKS.items():
            pts = [(s.t - last_t, s.price) for s in marks if s.kind.name == kind and s.t >= t0]
            pts = [(px, py) for px, py in pts if lo <= py <= hi]
            if pts:
                shade = rgb.get(colour, rgb["price"])
                plt.scatter([p[0] for p in pts], [p[1] for p in pts], marker=glyph, color=shade)
        if last_t - t0 > CLOCK_AFTER_S:
            positions, labels = clock_ticks(t0, last_t, max(2, width // 10))
            plt.xticks(positions, labels)
            plt.xlabel("time (UTC)")
        else:
            plt.xlabel("seconds before the latest tick")
        self.border_subtitle = legend(colours)
        self.refresh()


def legend(colours: dict[str, Color]) -> Content:
    """The lines' names in their colours, for the chart's lower border: the plot itself
    stays uncovered."""
    parts: list[tuple[str, str]] = []
    for role, glyph in (("price", "━"), ("fast", "╍"), ("slow", "┅")):
        parts.append((f"{glyph} {role}", colours[role].hex))
    text = " ".join(part for part, _colour in parts)
    spans = []
    at = 0
    for part, colour in parts:
        spans.append(Span(at, at + len(part), colour))
        at += len(part) + 1
    return Content(text, spans=spans)
