"""The watchlist: one row per symbol with price, change, averages, limits and the
forecast in words; sortable by column or by urgency, filterable by symbol.

It is a line-API widget: a row is formatted and turned into segments only when it comes
into view with values it was not drawn with before, so a frame costs the visible rows that
changed, whatever the number of symbols.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import ClassVar, NamedTuple

import numpy as np
from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from engine import EngineState
from tui.runtime import format as fmt

#: The limits come right after the price they are compared with, then the forecast, so
#: on a narrow screen (80 columns) these stay in view and the rest scrolls sideways.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("symbol", "Symbol"),
    ("last", "Last"),
    ("buy", "Buy ≤"),
    ("sell", "Sell ≥"),
    ("forecast", "Forecast"),
    ("chg", "Chg"),
    ("fast", "Fast MA"),
    ("slow", "Slow MA"),
)
KEYS = tuple(key for key, _label in COLUMNS)
#: Columns aligned left; the numbers are aligned right.
LEFT = frozenset({"symbol", "forecast"})
#: Sort orders: a column key, or "urgency" (highest hit probability first).
#: Re-sorting moves rows under the user's eyes: at most this often.
RESORT_S = 1.0
#: ... unless rows in view sorted by urgency disagree by more than this chance: a row of
#: 87% below one of 57% is sorted at once (fast markets moved that far within a second).
MISORDER_P = 0.1
#: How often a crowded watchlist (compact though wide) looks whether the full form would
#: fit again, in seconds (it measures every row for it).
CROWD_CHECK_S = 1.0
#: Seconds a column keeps a width no row needs any more before it gives the room back
#: (a price ticking between 99.99 and 100.00 does not make the columns jitter).
WIDTH_HOLD_S = 10.0
_clock = time.monotonic  # what the hold is timed with (tests turn it)
#: Symbols longer than this are cut with an ellipsis.
SYMBOL_MAX = 24
#: ... or than this in a narrow watchlist, so the limits fit beside them at 80 columns
#: (`mem.availab…`); the chart's title and the detail view (d) name it in full.
SYMBOL_COMPACT_MAX = 12
#: ... and down to this where the forecast would otherwise have less than FORECAST_LEAST
#: beside the limits (system metrics at 80 columns: `disk.read…` instead of
#: `disk.read_k…` kept `SELL now` in view).
SYMBOL_COMPACT_LEAST = 9
#: After a pinned symbol's name.
PIN_MARK = "*"
#: Spaces either side of a cell.
PAD = 1
#: The forecast column starts as wide as its common words ("SELL unlikely").
FORECAST_MIN = 13
#: A watchlist narrower than this shows the forecast in its compact form ("SELL 29%
#: ~8.6m" for "SELL in ~8.6 min, 29%"), long symbols cut shorter and prices from 10,000
#: on without cents, so the limits fit beside the price.
COMPACT_BELOW = 64
#: Narrow, the forecast column is cut to the room left beside the limits down to this
#: ("SELL 62%"), its words shortened from the end, rather than pushed out of view: at 80
#: columns prices of 1,000 to 9,999 (eight cells each, cents kept) left 10 cells.
FORECAST_LEAST = 8
#: After a forecast that is not fresh (no recent tick for its symbol, or for any).
STALE_MARK = " stale"

_FORECAST_STYLE = {"buy": "bold green", "sell": "bold red", "maybe": "yellow", "quiet": "dim"}

#: A cell is one or more (text, style) parts; a row is a cell per column.
Part = tuple[str, str]
Cell = tuple[Part, ...]


def cell_plain(cell: Cell) -> str:
    """The text of a cell, without its styles."""
    return "".join(text for text, _style in cell)


def urgency(state: EngineState) -> np.ndarray:
    """Per symbol, the larger of the two hit probabilities (0 where undefined)."""
    return np.fmax(np.nan_to_num(state.p_buy, nan=0.0), np.nan_to_num(state.p_sell, nan=0.0))


@lru_cache(maxsize=65536)  # two lengths (narrow, wide) of 10,000 symbols and more
def safe_symbol(symbol: str, longest: int = SYMBOL_MAX) -> str:
    """A symbol as it may be drawn: control codes shown as escapes, names longer than
    `longest` cells cut."""
    text = fmt.literal(symbol)
    if cell_len(text) > longest:
        text = set_cell_size(text, longest - 1) + "…"
    return text


def cut_apart(names: Sequence[str], longest: int) -> dict[str, str]:
    """How names that :func:`safe_symbol` cuts alike are drawn instead: cut in the
    middle, their ends kept, so that contracts and hosts that differ only at the end
    (``BTC-PERP-2025-03`` and ``-06``, ``mem.available_bytes.node1`` and ``node2``) are
    told apart; where that is alike too, with more of their end. Names cut apart by their
    ends already (``disk.read…``, ``disk.writ…``) are left as they are.

    >>> cut_apart(["BTC-PERP-2025-03", "BTC-PERP-2025-06", "disk.read_kbps", "disk.write_kbps"], 12)
    {'BTC-PERP-2025-03': 'BTC-PE…25-03', 'BTC-PERP-2025-06': 'BTC-PE…25-06'}
    """
    groups: dict[str, list[str]] = {}
    for name in names:
        shown = safe_symbol(name, longest)
        if shown.endswith("…"):
            groups.setdefault(shown, []).append(name)
    apart: dict[str, str] = {}
    for group in groups.values():
        if len(group) < 2:
            continue
        for head in (longest // 2, 3):  # half the room for the start, then less
            texts = {name: cut_middle(fmt.literal(name), longest, head) for name in group}
            if len(set(texts.values())) == len(group):
                break
        apart.update(texts)
    return apart


def cut_middle(text: str, width: int, head: int | None = None) -> str:
    """`text` in at most `width` cells: its first `head` cells (about half of them by
    default), an ellipsis, its end; as it is where it fits. Names that differ only at the
    end stay apart (a chart's title cut at its end read the same for two of them).

    >>> cut_middle("XXXXXXXXXXXXXXXXXXXXY", 11), cut_middle("ACME", 11)
    ('XXXXX…XXXXY', 'ACME')
    """
    if cell_len(text) <= width:
        return text
    if head is None:
        head = width - 1 - (width - 1) // 2
    start = set_cell_size(text, head).rstrip(" ")
    room = width - cell_len(start) - 1
    end: list[str] = []
    for c in reversed(text):
        if cell_len(c) > room:
            break
        end.append(c)
        room -= cell_len(c)
    return start + "…" + "".join(reversed(end))


class RowValues(NamedTuple):
    """What a row shows, as plain numbers: the key under which its drawing is cached."""

    symbol: str
    last: float
    open: float
    buy: float
    sell: float
    p_buy: float
    eta_buy: float
    p_sell: float
    eta_sell: float
    fast: float
    slow: float
    stale: bool
    pending: bool
    pinned: bool = False
    muted: bool = False
    additive: bool = False  # a quantity, not a price: its change is a difference
    all_stale: bool = False  # every forecast is stale: the status line says so

    @classmethod
    def of(
        cls,
        state: EngineState,
        i: int,
        stale: bool = False,
        pending: tuple[float, float] | None = None,
        pinned: bool = False,
        muted: bool = False,
        all_stale: bool = False,
    ) -> RowValues:
        """Symbol `i`'s values in `state`; `pending` limits (asked for, not yet reported
        by the engine) are shown in place of the engine's."""
        buy, sell = (state.buy[i], state.sell[i]) if pending is None else pending
        return cls(
            state.symbols[i],
            _num(state.last[i]),
            _num(state.open[i]),
            _num(buy),
            _num(sell),
            _num(state.p_buy[i]),
            _num(state.eta_buy[i]),
            _num(state.p_sell[i]),
            _num(state.eta_sell[i]),
            _num(state.sma_fast[i]),
            _num(state.sma_slow[i]),
            stale,
            pending is not None,
            pinned,
            muted,
            bool(state.additive[i]),
            all_stale,
        )


def _num(x: float | np.floating) -> float:
    """A Python float; every NaN becomes the one `math.nan`, so that rows with undefined
    values still compare equal to themselves (tuples compare items by identity first)."""
    value = float(x)
    return value if value == value else math.nan


def format_row(
    v: RowValues, compact: bool = False, whole_from: float = fmt.COMPACT_WHOLE
) -> tuple[Cell, ...]:
    """The cells of a row: text and a style name per part (symbols are never markup);
    the forecast in its `compact` form where room is short, and then prices from
    `whole_from` on without cents."""
    moved = v.last - v.open
    chg = fmt.change(v.last, v.open, v.additive)
    # +0.00%: no colour of a rise or a fall
    chg_style = (
        ("green" if moved > 0 else "red" if moved < 0 else "") if fmt.shows_change(chg) else ""
    )
    if math.isnan(v.buy) and math.isnan(v.sell):
        words, kind = "no limits", "quiet"
    else:
        # Marked stale, the compact form leaves out the time to the limit (counted from a
        # tick long gone) to make room for the mark: "SELL 73% stale" fits beside the
        # limits at 80 columns where "SELL 73% ~27s stale" would widen the forecast
        # column out of view (the forecast column never narrows again).
        timed = not (v.stale and compact)
        words, kind = fmt.forecast(v.p_buy, v.eta_buy, v.p_sell, v.eta_sell, compact, timed)
    unlikely = words.endswith(" unlikely")  # a forecast too, and as stale as any other
    if v.stale and (kind != "quiet" or unlikely):
        if unlikely and compact:  # "SELL <5% stale" fits where "SELL unlikely stale" not
            words = words.replace(" unlikely", " <5%")
        forecast: Cell = ((words, "dim strike"),)
        # Narrow, when all of them are stale, the status line's STALE says it once: a mark
        # on every row ("SELL now stale" beside a price of 123.60 and seven-letter symbols)
        # pushed the forecast column out of view at 80 columns once a replay ended.
        if not (compact and v.all_stale):
            forecast += ((STALE_MARK, "bold yellow"),)
    else:
        forecast = ((words, _FORECAST_STYLE[kind]),)
    # A limit asked for but not yet confirmed by the engine is shown in italics.
    asked = " italic" if v.pending else ""
    # A pinned symbol carries a star; a muted one is dim.
    name: Cell = ((safe_symbol(v.symbol, _longest(compact)), "dim" if v.muted else "bold"),)
    if v.pinned:
        name += ((PIN_MARK, "bold yellow"),)
    price = _price(compact, whole_from)
    buy, sell = fmt.apart(v.buy, v.sell, price)  # never two limits that read alike
    last = price(v.last)
    # Nor a price that reads as a limit it has not reached: 9,999.99 without its cents
    # read 10,000 beside a sell limit of 10,000 and "SELL 83%".
    if v.last > v.buy and last == buy:
        last = fmt.apart(v.buy, v.last, price)[1]
    elif v.last < v.sell and last == sell:
        last = fmt.apart(v.last, v.sell, price)[0]
    cells: dict[str, Cell] = {
        "symbol": name,
        "last": ((last, ""),),
        "chg": ((chg, chg_style),),
        "forecast": forecast,
        "buy": ((buy, ("reverse green" if v.last <= v.buy else "green") + asked),),
        "sell": ((sell, ("reverse red" if v.last >= v.sell else "red") + asked),),
        "fast": ((_as_the_price(v.fast, v.last, price), ""),),
        "slow": ((_as_the_price(v.slow, v.last, price), ""),),
    }
    return tuple(cells[key] for key in KEYS)


def _as_the_price(value: float, last: float, price: Callable[[float], str]) -> str:
    """An average with the decimals its row's price is shown with: each with its own five
    significant digits, a column read 44.648 above 88.15 and a row 88.15 beside 87.428.

    >>> _as_the_price(44.6483, 44.65, fmt.price), _as_the_price(87.4281, 88.15, fmt.price)
    ('44.65', '87.43')
    >>> _as_the_price(1.07013, 1.0705, fmt.price), _as_the_price(math.nan, 10.0, fmt.price)
    ('1.0701', '–')
    >>> _as_the_price(-0.001, 12.5, fmt.price), _as_the_price(0.0004, 0.0, fmt.price)
    ('-0.001', '0.0004')
    """
    shown = price(last)
    if not (math.isfinite(value) and math.isfinite(last)) or "e" in shown:
        return price(value)
    decimals = len(shown.rsplit(".", 1)[1]) if "." in shown else 0
    if value and not round(value, decimals):  # a quantity near zero: not "-0.00"
        return price(value)
    return f"{value:,.{decimals}f}"


def squeeze(cell: Cell, width: int) -> Cell:
    """A forecast `cell` in at most `width` cells: a mark after it (" stale", which its
    style still shows) left out first, then its last words (the time to the limit), cut
    with an ellipsis only if the side and the chance do not fit.

    >>> squeeze((("SELL 62% ~9s", "red"), (" stale", "yellow")), 8)
    (('SELL 62%', 'red'),)
    >>> squeeze((("BUY unlikely", "dim"),), 8), squeeze((("warming up", "dim"),), 8)
    ((('BUY <5%', 'dim'),), (('warming…', 'dim'),))
    """
    parts = list(cell)
    while len(parts) > 1 and sum(cell_len(text) for text, _style in parts) > width:
        parts.pop()
    text, style = parts[-1]
    used = sum(cell_len(t) for t, _s in parts[:-1])
    if used + cell_len(text) > width and text.endswith(" unlikely"):
        text = text.removesuffix(" unlikely") + " <5%"
    while used + cell_len(text) > width and text.count(" ") >= 2:
        text = text[: text.rfind(" ")]
    if used + cell_len(text) > width:
        text = set_cell_size(text, max(0, width - used - 1)) + "…"
    parts[-1] = (text, style)
    return tuple(parts)


def _cut_symbol(cell: Cell, width: int) -> Cell:
    """A symbol `cell` (its name, then a pin mark if any) in at most `width` cells: the
    name cut with an ellipsis, the mark kept.

    >>> _cut_symbol((("disk.read_k…", ""),), 10)
    (('disk.read…', ''),)
    >>> _cut_symbol((("mem.availab…", ""), ("*", "bold yellow")), 11)
    (('mem.avail…', ''), ('*', 'bold yellow'))
    >>> _cut_symbol((("mem.av…node1", ""),), 10)
    (('mem.…node1', ''),)
    """
    if sum(cell_len(text) for text, _style in cell) <= width:
        return cell
    (name, style), *marks = cell
    keep = width - sum(cell_len(text) for text, _style in marks) - 1
    if "…" in name[:-1]:  # cut in the middle (cut_apart): its end, which tells it apart, kept
        head, tail = name.split("…", 1)
        head = set_cell_size(head, max(2, keep - cell_len(tail))).rstrip(" ")
        while tail and cell_len(head) + cell_len(tail) > keep:
            tail = tail[1:]
        return ((head + "…" + tail, style), *marks)
    return ((set_cell_size(name.removesuffix("…"), max(0, keep)) + "…", style), *marks)


@lru_cache(maxsize=4)
def _price(compact: bool, whole_from: float = fmt.COMPACT_WHOLE) -> Callable[[float], str]:
    """How prices are written in a narrow (`compact`) watchlist or a wide one."""
    if not compact:
        return fmt.price
    return functools.partial(fmt.price_compact, whole_from=whole_from)


def _longest(compact: bool) -> int:
    """The most cells a symbol takes in a narrow (`compact`) watchlist or a wide one."""
    return SYMBOL_COMPACT_MAX if compact else SYMBOL_MAX


def _sort_value(state: EngineState, i: int, order: str, urg: np.ndarray) -> tuple:
    if order == "urgency":
        return (-float(urg[i]), state.symbols[i])
    if order == "chg":
        last, opened = float(state.last[i]), float(state.open[i])
        chg = last / opened - 1.0 if opened > 0 else 0.0
        return (-abs(chg) if math.isfinite(chg) else 0.0, state.symbols[i])
    if order == "last":
        return (-float(np.nan_to_num(state.last[i])), state.symbols[i])
    return (state.symbols[i],)


def _widest(
    values: np.ndarray, render: Callable[[float], str], split: float = fmt.COMPACT_WHOLE
) -> int:
    """The widest formatted value among the finite `values`: the extremes on either side
    of `split`, where compact prices lose their cents, suffice (a compact 1,250.50 is
    wider than 23,545)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 1
    whole = np.abs(finite) >= split
    extremes = [float(f(group)) for group in (finite[whole], finite[~whole]) if group.size
                for f in (np.min, np.max)]  # fmt: skip
    return max(len(render(x)) for x in extremes)


@functools.lru_cache(maxsize=64)
def _edges(widths: tuple[int, ...]) -> tuple[int, ...]:
    """Where each column starts, and where the last one ends."""
    return tuple(itertools.accumulate((w + 2 * PAD for w in widths), initial=0))


@functools.lru_cache(maxsize=256)
def _view(widths: tuple[int, ...], scroll_x: int, width: int) -> tuple[int, int, int, int]:
    """What a row shows at ``scroll_x`` in ``width`` cells: the cells ``[0, frozen)`` of
    the table, then blanks up to ``start``, the cells ``[start, stop)``, blanks up to the
    view's right side; ``start`` and ``stop`` in table cells, ``frozen`` in both.

    Scrolled, the first column (the symbol) stays put while the others scroll beside
    it, if they fit beside it. A column only partly in view is blanked (a price cut to
    its first digits reads as another), unless it is too wide to be seen whole there.
    """
    edges = _edges(widths)
    widest = max(edges[i + 1] - edges[i] for i in range(1, len(widths))) if len(widths) > 1 else 0
    frozen = edges[1] if scroll_x and width - edges[1] >= widest else 0
    left, right = frozen + scroll_x, scroll_x + width
    room = right - left
    start, stop = left, right
    i = bisect.bisect_right(edges, left) - 1  # the column `left` falls in, if any
    if i < len(widths) and edges[i] < left and edges[i + 1] - edges[i] <= room:
        start = edges[i + 1]
    k = bisect.bisect_right(edges, right) - 1  # the column `right` falls in, if any
    if k < len(widths) and edges[k] < right and edges[k + 1] - edges[k] <= room:
        stop = edges[k]
    return frozen, start, max(stop, start), right


def _in_view(
    strip: Strip, widths: tuple[int, ...], scroll_x: int, width: int, style: Style
) -> Strip:
    """The ``width`` cells on screen of a row ``strip`` scrolled ``scroll_x`` cells right
    (see :func:`_view`)."""
    frozen, start, stop, right = _view(widths, scroll_x, width)
    if not frozen and start == scroll_x and stop == right:
        return strip.crop(start, stop)
    return Strip.join(
        [
            strip.crop(0, frozen),
            Strip.blank(start - frozen - scroll_x, style),
            strip.crop(start, stop),
            Strip.blank(right - stop, style),
        ]
    )


def _initial_widths() -> dict[str, int]:
    widths = {key: cell_len(label) for key, label in COLUMNS}
    widths["forecast"] = max(widths["forecast"], FORECAST_MIN)
    return widths


#: The narrowest each column gets: its header's width (the forecast's common words).
_LEAST_WIDTHS = _initial_widths()


class Watchlist(ScrollView, can_focus=True):
    """Symbols in rows under a fixed header, with a row cursor that keeps its symbol
    through re-sorts. Posts `Highlighted` when the selected symbol changes and
    `HeaderClicked` when a column header is clicked."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("left", "column(-1)", "Column left", show=False),
        Binding("right", "column(1)", "Column right", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "watchlist--header",
        "watchlist--cursor",
        "watchlist--even-row",
    }
    DEFAULT_CSS = """
    Watchlist {
        background: $surface;
        color: $foreground;
        &:focus {
            background-tint: $foreground 5%;
            & > .watchlist--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
        }
        &:dark > .watchlist--even-row {
            background: $surface-darken-1 40%;
        }
        & > .watchlist--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        & > .watchlist--even-row {
            background: $surface-lighten-1 50%;
        }
        & > .watchlist--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """

    class Highlighted(Message):
        """The selected symbol changed."""

        def __init__(self, watchlist: Watchlist, symbol: str) -> None:
            super().__init__()
            self.watchlist = watchlist
            self.symbol = symbol

        @property
        def control(self) -> Watchlist:
            return self.watchlist

    class HeaderClicked(Message):
        """A column header was clicked."""

        def __init__(self, watchlist: Watchlist, column: str) -> None:
            super().__init__()
            self.watchlist = watchlist
            self.column = column

        @property
        def control(self) -> Watchlist:
            return self.watchlist

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.order = "symbol"
        self.filter_text = ""
        self.compact = False
        # Compact though wide: the full form left the forecast no room (see _crowd); since
        # when the full form would have room again, and when that was last looked at.
        self._crowded = False
        self._roomy_since: float | None = None
        self._crowd_checked = -math.inf
        self._width_seen = -1  # the width the form was last chosen for (on_resize)
        # Symbols the usual cut draws alike, drawn cut in the middle (cut_apart), and the
        # rows and form they were found for.
        self._apart: dict[str, str] = {}
        self._apart_for: tuple[int, bool] | None = None
        self._whole_from = fmt.COMPACT_WHOLE  # narrow, prices from this on lose their cents
        self._whole_since = -math.inf  # when it was last changed
        self._state: EngineState | None = None
        self._stale = False
        self._stale_symbols: frozenset[str] = frozenset()  # no fresh tick of their own
        self._pending: Mapping[str, tuple[float, float]] = {}
        self.pinned: frozenset[str] = frozenset()
        self.muted: frozenset[str] = frozenset()
        self.shown_only: frozenset[str] | None = None  # None: every symbol
        self._index: dict[str, int] = {}  # symbol -> index in the state's arrays
        self._rows: list[str] = []  # symbols in display order
        self._cursor = 0
        # Whether the user has put the cursor somewhere: until then new rows leave it on
        # the top row, rather than it following the symbol that came first (a --view's
        # rows come in any order, and it opened on JUNO, the rows above it scrolled out
        # of sight). A sort alone keeps its symbol, as a key may be about to act on it.
        self._placed = False
        self._announced: str | None = None
        self._sorted_at = -math.inf
        self._widths = _initial_widths()
        self._cells: LRUCache[RowValues, tuple[Cell, ...]] = LRUCache(1024)
        self._row_cache: LRUCache[tuple[object, ...], Strip] = LRUCache(1024)
        self._needed_at: dict[str, float] = {}  # when each column last needed its width
        self._styles: dict[str, Style] = {}
        self._styles_key: object = None
        self._parsed: dict[str, Style] = {}

    # -- the data -------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        """Rows shown (after the filter)."""
        return len(self._rows)

    @property
    def cursor_row(self) -> int:
        """Row of the cursor."""
        return self._cursor

    @property
    def selected_symbol(self) -> str | None:
        """The symbol under the cursor; None when no row is shown."""
        return self._rows[self._cursor] if 0 <= self._cursor < len(self._rows) else None

    def row_values(self, row: int) -> RowValues:
        """The values row `row` shows."""
        assert self._state is not None
        symbol = self._rows[row]
        return RowValues.of(
            self._state,
            self._index[symbol],
            self._stale or symbol in self._stale_symbols,
            self._pending.get(symbol),
            symbol in self.pinned,
            symbol in self.muted,
            self._stale,
        )

    def row_texts(self, row: int) -> tuple[str, ...]:
        """The text of each cell of row `row`, in column order."""
        return tuple(cell_plain(cell) for cell in self._format(self.row_values(row)))

    def cell_text(self, symbol: str, column: str) -> str:
        """The text of `symbol`'s cell in `column` (a key of COLUMNS)."""
        return self.row_texts(self._rows.index(symbol))[KEYS.index(column)]

    def is_pending(self, symbol: str) -> bool:
        """Whether `symbol`'s limits shown are asked for but not yet reported."""
        return symbol in self._pending

    def set_order(self, order: str) -> None:
        """Sort by `order` (one of SORTS) from the next update on."""
        self.order = order
        self._sorted_at = -math.inf
        if self._state is not None:
            self._resort()

    def set_filter(self, text: str) -> None:
        """Show only symbols containing `text` (case-insensitive)."""
        selected = self.selected_symbol
        self.filter_text = text.strip()
        state = self._state
        self._rows = [s for s in state.symbols if self._wanted(s)] if state is not None else []
        # The cursor stays on its symbol if it is still shown, else goes to the top.
        self._cursor = self._rows.index(selected) if selected in self._rows else 0
        self._widths = _initial_widths()
        self._sorted_at = -math.inf
        if state is not None:
            self.show(state, self._stale, self._pending, self._stale_symbols)
        else:
            self.refresh()

    def set_marks(self, pinned: frozenset[str], muted: frozenset[str]) -> None:
        """Keep `pinned` symbols at the top (in the current order among themselves) and
        show `muted` ones dim."""
        self.pinned, self.muted = frozenset(pinned), frozenset(muted)
        self._sorted_at = -math.inf
        if self._state is not None:
            self.show(self._state, self._stale, self._pending, self._stale_symbols)
        else:
            self.refresh()

    def set_pending(self, pending: Mapping[str, tuple[float, float]]) -> None:
        """Show `pending` limits (asked for, not yet reported by the engine) at once."""
        self._pending = dict(pending)
        if self._state is not None:
            self._measure(self._state)
            self._resize()
        self.refresh()

    def set_shown(self, only: Iterable[str]) -> None:
        """Show only the symbols in `only` (the settings' watchlist); all if it is empty."""
        self.shown_only = frozenset(only) or None
        self.set_filter(self.filter_text)

    def _wanted(self, symbol: str) -> bool:
        if self.shown_only is not None and symbol not in self.shown_only:
            return False
        return not self.filter_text or self.filter_text.lower() in symbol.lower()

    def show(
        self,
        state: EngineState,
        stale: bool = False,
        pending: Mapping[str, tuple[float, float]] | None = None,
        stale_symbols: frozenset[str] = frozenset(),
    ) -> None:
        """Show `state`; `pending` maps symbols to limits asked for but not yet in it;
        forecasts are marked stale for all (`stale`) or for `stale_symbols`."""
        self._state = state
        self._stale = stale
        self._stale_symbols = stale_symbols
        self._pending = dict(pending or {})
        removed = False
        if len(state.symbols) != len(self._index) or state.symbols[: len(self._index)] != tuple(
            self._index
        ):
            self._index = {s: i for i, s in enumerate(state.symbols)}
            removed = self._drop_untracked()
        known = set(self._rows)
        added = [s for s in state.symbols if s not in known and self._wanted(s)]
        if added:
            self._rows.extend(added)
        self._cut_apart()
        self._measure(state)
        now = time.monotonic()
        due = self._sorted_at == -math.inf or (
            self.order != "symbol"
            and (now - self._sorted_at >= RESORT_S or self._misordered_in_view(state))
        )
        # Sized first: a cursor row that the new rows push below the screen is scrolled
        # to within the rows there are now.
        self._narrow_forecast()
        self._resize()
        if added or removed or due:
            self._sorted_at = now
            self._resort(rows_came=bool(added))
        for row in self._visible_rows():
            self._fit(self._format(self.row_values(row)))
        self.refresh()
        self._announce()

    def _misordered_in_view(self, state: EngineState) -> bool:
        """Whether two neighbouring rows in view, sorted by urgency, disagree by more
        than MISORDER_P: the lower one's chance that much higher (pinned rows apart)."""
        if self.order != "urgency":
            return False
        shown = [self._rows[i] for i in self._visible_rows() if self._rows[i] in self._index]
        if len(shown) < 2:
            return False
        rows = np.fromiter((self._index[s] for s in shown), dtype=np.intp, count=len(shown))
        urg = urgency(state)[rows]  # the sort's own key
        pinned = np.fromiter((s in self.pinned for s in shown), dtype=bool, count=len(shown))
        same = pinned[1:] == pinned[:-1]
        return bool(np.any(same & (urg[1:] - urg[:-1] > MISORDER_P)))

    def _drop_untracked(self) -> bool:
        """Drop the rows of symbols the engine no longer tracks (evicted for new ones);
        the cursor stays on its symbol, or on the row where it was."""
        if all(s in self._index for s in self._rows):
            return False
        selected = self.selected_symbol
        self._rows = [s for s in self._rows if s in self._index]
        if selected in self._index:
            self._cursor = self._rows.index(selected)
        else:
            self._cursor = max(0, min(self._cursor, len(self._rows) - 1))
        return True

    def _visible_rows(self) -> range:
        top = round(self.scroll_y)
        return range(top, min(len(self._rows), top + self._body_height))

    @property
    def _body_height(self) -> int:
        """Lines for rows: the height less the header and a horizontal scrollbar (at 80
        columns the scrollbar took the last row's line, and the cursor could sit on a
        row that was never shown)."""
        return max(0, self.scrollable_content_region.height - 1)

    def _format(self, values: RowValues) -> tuple[Cell, ...]:
        cells = self._cells.get(values)
        if cells is None:
            cells = format_row(values, self.compact, self._whole_from)
            apart = self._apart.get(values.symbol)
            if apart is not None:  # told apart from another cut alike
                (_name, style), *marks = cells[0]
                cells = (((apart, style), *marks), *cells[1:])
            self._cells[values] = cells
        return cells

    def _cut_apart(self) -> None:
        """Find the symbols the usual cut draws alike (:func:`cut_apart`), again when the
        rows or the form changed; rows drawn before are drawn again."""
        key = (hash(frozenset(self._rows)), self.compact)  # the rows, in any order
        if key == self._apart_for:
            return
        self._apart_for = key
        apart = cut_apart(self._rows, _longest(self.compact))
        if apart != self._apart:
            self._apart = apart
            self._cells.clear()
            self._row_cache.clear()

    def set_compact(self, compact: bool) -> None:
        """Show the row in its compact form (for a narrow watchlist), or in full."""
        if compact == self.compact:
            return
        self.compact = compact
        self._set_whole_from(fmt.COMPACT_WHOLE, -math.inf)
        if self._state is not None:
            self.show(self._state, self._stale, self._pending, self._stale_symbols)

    def _fit(self, cells: tuple[Cell, ...]) -> bool:
        """Widen each column to `cells`' (a row being drawn); True if one had to grow. The
        columns are measured on every snapshot (:meth:`_measure`), but a row scrolled
        into view between two may need more (a price's width is not its magnitude's:
        0.12345 is wider than 500.00)."""
        now = _clock()
        grew = False
        for key, cell in zip(KEYS, cells, strict=True):
            width = sum(cell_len(text) for text, _style in cell)
            if width >= self._widths[key] > _LEAST_WIDTHS[key]:
                self._needed_at[key] = now  # a row in view still needs it
            if width > self._widths[key]:
                self._widths[key] = width
                self._needed_at[key] = now
                grew = True
        if grew:
            self._resize()
        return grew

    def _narrow_forecast(self) -> None:
        """Back to the forecast's common width once no row in view has needed more for
        WIDTH_HOLD_S (rows are measured as they come into view). It only grew: in --view
        at 80 columns, one long forecast during a broker's restart pushed the column off
        the screen for good."""
        self._settle("forecast", _LEAST_WIDTHS["forecast"], _clock())

    def _measure(self, state: EngineState) -> None:
        """Grow the columns to fit every row's values at once; narrow one only once no
        row has needed its width for ``WIDTH_HOLD_S`` (no jitter, and a limit of 1,500
        set back to 270 no longer keeps the forecast pushed off a narrow screen).

        Narrow, prices lose their cents from 1,000 on instead of 10,000 where the columns
        before the forecast would leave it less than FORECAST_LEAST cells with cents and
        enough without (seven-letter symbols at 43,000 and 2,300 left seven), and keep
        them again once there is room with cents, held for WIDTH_HOLD_S (a price about
        1,000 does not flip the form)."""
        index = self._index
        rows = np.fromiter((index[s] for s in self._rows), dtype=np.intp, count=len(self._rows))
        if rows.size == 0:
            return
        now = _clock()
        wanted = self._needed_widths(state, rows, self._whole_from)
        if self._crowd(state, rows, now, wanted):  # the form changed: measured afresh
            wanted = self._needed_widths(state, rows, self._whole_from)
        if self.compact and self.size.width:
            if self._whole_from == fmt.COMPACT_WHOLE:
                room = self._forecast_room(wanted, symbol_cut=True)
                if room < FORECAST_LEAST:
                    fewer = self._needed_widths(state, rows, fmt.COMPACT_THOUSANDS)
                    if self._forecast_room(fewer, symbol_cut=True) >= FORECAST_LEAST:
                        self._set_whole_from(fmt.COMPACT_THOUSANDS, now)  # else keep them
                        wanted = fewer
            elif now - self._whole_since >= WIDTH_HOLD_S:
                cents = self._needed_widths(state, rows, fmt.COMPACT_WHOLE)
                if self._forecast_room(cents, symbol_cut=True) >= FORECAST_LEAST:
                    self._set_whole_from(fmt.COMPACT_WHOLE, now)
                    wanted = cents
        for key, width in wanted.items():
            self._settle(key, width, now)

    def _crowd(
        self, state: EngineState, rows: np.ndarray, now: float, wanted: Mapping[str, int]
    ) -> bool:
        """A watchlist wide enough for the full form takes the compact one where the
        full form's columns before the forecast leave it less than its width (at 100
        columns, prices of 600,000 with cents and a long symbol pushed it out of view),
        and the full form back once it would have had room for the forecasts in view for
        WIDTH_HOLD_S without a break (a price ticking between 99,999.00 and 100,000.50
        does not flip the form; the narrow form's own steps follow: prices without cents,
        cut symbols, the forecast cut to its room). `wanted`: the widths of the form in
        use. Whether the form changed."""
        if self.size.width < COMPACT_BELOW:
            self._crowded = False
            return False
        if not self.compact:
            if self._forecast_room(wanted) >= self._widths["forecast"]:
                return False
            self._crowded, self._roomy_since = True, None
            self._go_compact(True, now)
            return True
        if not self._crowded or now - self._crowd_checked < CROWD_CHECK_S:
            return False
        self._crowd_checked = now
        full = self._needed_widths(state, rows, fmt.COMPACT_WHOLE, compact=False)
        if self._forecast_room(full) < self._full_forecast_width():
            self._roomy_since = None
            return False
        if self._roomy_since is None:
            self._roomy_since = now
        if now - self._roomy_since < WIDTH_HOLD_S:
            return False
        self._crowded, self._roomy_since = False, None
        self._go_compact(False, now)
        return True

    def _full_forecast_width(self) -> int:
        """The cells the forecasts of the rows in view take in the full form (its stale
        marks included), at least the column's least: what the full form must leave."""
        at = KEYS.index("forecast")
        cells = (
            format_row(self.row_values(row), False, fmt.COMPACT_WHOLE)[at]
            for row in self._visible_rows()
        )
        return max([FORECAST_MIN, *(sum(cell_len(t) for t, _s in cell) for cell in cells)])

    def _go_compact(self, compact: bool, now: float) -> None:
        """Switch the form (see :meth:`set_compact`) within a snapshot being shown."""
        self.compact = compact
        self._set_whole_from(fmt.COMPACT_WHOLE, now)

    def _forecast_room(self, wanted: Mapping[str, int], symbol_cut: bool = False) -> int:
        """Cells the columns before the forecast, at `wanted` widths, leave it; with
        `symbol_cut`, long symbols cut to SYMBOL_COMPACT_LEAST (:meth:`_layout` cuts
        them as far as the forecast needs)."""
        before = sum(
            max(wanted[key], _LEAST_WIDTHS[key]) + 2 * PAD for key in KEYS[: KEYS.index("forecast")]
        )
        spare = max(0, wanted["symbol"] - SYMBOL_COMPACT_LEAST) if symbol_cut else 0
        return self.size.width - before - 2 * PAD + spare

    def _set_whole_from(self, whole_from: float, now: float) -> None:
        """Prices from `whole_from` on without cents (when compact), chosen at `now`:
        every row formatted again and the columns measured afresh."""
        self._whole_from, self._whole_since = whole_from, now
        self._cells.clear()
        self._row_cache.clear()
        self._widths = _initial_widths()

    def _needed_widths(
        self,
        state: EngineState,
        rows: np.ndarray,
        whole_from: float,
        compact: bool | None = None,
    ) -> dict[str, int]:
        """The width each column needs for `rows`, prices from `whole_from` on without
        cents (when compact); in the form in use unless `compact` says."""
        compact = self.compact if compact is None else compact
        last, opened = state.last[rows], state.open[rows]
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = np.where(opened > 0, last / opened - 1.0, np.nan)
        in_percent = (np.abs(relative) <= fmt.PERCENT_MAX) & ~state.additive[rows]  # as fmt.change
        absolute = np.where(in_percent, np.nan, last - opened)
        limits = [
            self._pending_side(0, whole_from, compact),
            self._pending_side(1, whole_from, compact),
        ]
        price, longest = _price(compact, whole_from), _longest(compact)
        in_view = self._visible_rows()  # positions in `rows`, as in self._rows

        def widest(values: np.ndarray) -> int:
            """The widest of all `values` by their extremes, and of those in view each
            (a width is not a magnitude's: 0.12345 is wider than both 0.0001 and 500.00)."""
            shown = values[in_view.start : in_view.stop]
            exact = [len(price(float(x))) for x in shown[np.isfinite(shown)]]
            return max(_widest(values, price, whole_from), *exact, 1)

        def averages(values: np.ndarray) -> int:
            """As widest, and each in view as written beside its price (_as_the_price)."""
            view = slice(in_view.start, in_view.stop)
            pairs = zip(values[view].tolist(), last[view].tolist(), strict=True)
            return max([widest(values), *(len(_as_the_price(v, p, price)) for v, p in pairs)])

        wanted = {
            "symbol": max(
                cell_len(safe_symbol(s, longest)) + (len(PIN_MARK) if s in self.pinned else 0)
                for s in self._rows
            ),
            "last": widest(last),
            "chg": max(
                _widest(np.where(in_percent, relative, np.nan), fmt.percent),
                _widest(absolute, lambda x: f"{x:+,.2f}"),
            ),
            "buy": max(widest(state.buy[rows]), limits[0]),
            "sell": max(widest(state.sell[rows]), limits[1]),
            "fast": averages(state.sma_fast[rows]),
            "slow": averages(state.sma_slow[rows]),
        }
        # Limits close enough to read alike are written with more digits (format_row).
        buy, sell = state.buy[rows], state.sell[rows]
        with np.errstate(invalid="ignore"):
            close = np.flatnonzero(np.abs(sell - buy) <= 1e-4 * np.abs(buy))
        for i in close.tolist():
            texts = fmt.apart(float(buy[i]), float(sell[i]), price)
            wanted["buy"] = max(wanted["buy"], cell_len(texts[0]))
            wanted["sell"] = max(wanted["sell"], cell_len(texts[1]))
        return wanted

    def _settle(self, key: str, width: int, now: float) -> None:
        """Column `key` grown to `width` at once, narrowed to it (not below its least)
        only once no row has needed more for ``WIDTH_HOLD_S``."""
        if width >= self._widths[key]:
            self._widths[key] = width
            self._needed_at[key] = now
        elif now - self._needed_at.get(key, now) >= WIDTH_HOLD_S:
            self._widths[key] = max(width, _LEAST_WIDTHS[key])
            self._needed_at[key] = now

    def _pending_side(self, side: int, whole_from: float, compact: bool) -> int:
        values = np.array([limits[side] for limits in self._pending.values()], dtype=float)
        price = _price(compact, whole_from)
        return _widest(values, price, whole_from) if values.size else 1

    def _resort(self, rows_came: bool = False) -> None:
        """Sort the rows; the cursor keeps its symbol, except that new rows (``rows_came``)
        leave a cursor the user has not placed on the top row."""
        state = self._state
        if state is None or len(self._rows) < 2:
            return
        selected = self.selected_symbol
        urg = urgency(state)
        index = self._index
        pinned = self.pinned
        self._rows.sort(
            key=lambda s: (s not in pinned, *_sort_value(state, index[s], self.order, urg))
        )
        if rows_came and not self._placed:
            self._cursor = 0
            self._scroll_to_cursor()
        elif selected is not None and selected in self._rows:
            self._cursor = self._rows.index(selected)
            self._scroll_to_cursor()

    # -- the cursor -----------------------------------------------------------------------
    def move_cursor(self, row: int) -> None:
        """Put the cursor on row `row` (clamped to the rows there are)."""
        if not self._rows:
            return
        self._cursor = max(0, min(row, len(self._rows) - 1))
        self._placed = True
        self._scroll_to_cursor()
        self.refresh()
        self._announce()

    def action_cursor(self, delta: int) -> None:
        self.move_cursor(self._cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self._cursor + direction * max(1, self._body_height - 1))

    def action_column(self, direction: int) -> None:
        """Scroll sideways by a whole column: the next one comes to sit beside the
        symbol (one cell at a time, a press showed nothing new but a blank)."""
        edges = _edges(tuple(self._layout().values()))
        stops = [edge - edges[1] for edge in edges[1:-1]]  # a column beside the symbol
        now = round(self.scroll_x)
        if direction > 0:
            target = next((x for x in stops if x > now), now)
            target = min(target, round(self.max_scroll_x))
        else:
            target = next((x for x in reversed(stops) if x < now), 0)
        self.scroll_to(x=target, animate=False)

    def action_jump(self, row: int) -> None:
        self.move_cursor(row if row >= 0 else len(self._rows) - 1)

    def _announce(self) -> None:
        symbol = self.selected_symbol
        if symbol is not None and symbol != self._announced:
            self._announced = symbol
            self.post_message(self.Highlighted(self, symbol))

    def _scroll_to_cursor(self) -> None:
        # force: rows just added have not shown the scrollbar yet, and until the next
        # layout a scroll is not allowed (the selected row stayed below the last shown)
        visible = max(1, self._body_height)
        top = round(self.scroll_y)
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False, immediate=True, force=True)
        elif self._cursor >= top + visible:
            self.scroll_to(y=self._cursor - visible + 1, animate=False, immediate=True, force=True)

    def _layout(self) -> dict[str, int]:
        """The widths the columns are drawn at: those wanted, but narrow (compact) the
        forecast column cut to the room the view leaves beside the limits (see
        FORECAST_LEAST), its words shortened in :func:`squeeze`."""
        widths = self._widths
        if not self.compact:
            return widths
        room = self._forecast_room(widths)
        if room < FORECAST_LEAST <= self._forecast_room(widths, symbol_cut=True):
            # long symbols give up the cells the forecast lacks, down to their least
            widths = {**widths, "symbol": widths["symbol"] - (FORECAST_LEAST - room)}
            room = FORECAST_LEAST
        if room < FORECAST_LEAST:  # not beside the limits: cut to its room one → away
            room, cut = self._scrolled_room(widths)
            if cut:  # there too long symbols give up the cells it lacks
                widths = {**widths, "symbol": widths["symbol"] - cut}
        if FORECAST_LEAST <= room < widths["forecast"]:
            return {**widths, "forecast": room}
        return widths

    def _scrolled_room(self, widths: Mapping[str, int]) -> tuple[int, int]:
        """Cells the forecast has beside the symbol at the first sideways stop (→) where
        it has FORECAST_LEAST, the columns before it scrolled under the symbol one by one
        (:meth:`action_column`), long symbols cut down to SYMBOL_COMPACT_LEAST where that
        gives it the cells it lacks; where no stop has, at the last. Cut to its room in the
        unscrolled view alone, a forecast pushed out of it was still too wide a → away,
        and a column only partly in view is blanked: the first → showed blank cells. The
        room, and the cells the symbol gives up for it."""
        cells = [max(widths[key], _LEAST_WIDTHS[key]) + 2 * PAD for key in KEYS]
        forecast = KEYS.index("forecast")
        spare = max(0, widths["symbol"] - SYMBOL_COMPACT_LEAST)
        room = 0
        for hidden in range(1, forecast):  # columns 1 .. hidden scrolled under the symbol
            room = self.size.width - cells[0] - sum(cells[hidden + 1 : forecast]) - 2 * PAD
            if room >= FORECAST_LEAST:
                return room, 0
            if room + spare >= FORECAST_LEAST:  # one → away, not two, beside a cut symbol
                return FORECAST_LEAST, FORECAST_LEAST - room
        return room, 0

    def _resize(self) -> None:
        width = sum(self._layout().values()) + 2 * PAD * len(COLUMNS)
        size = Size(width, len(self._rows) + 1)
        if size != self.virtual_size:
            self.virtual_size = size

    def on_resize(self) -> None:
        # The form and the prices' cents are chosen again for a new width only: a change of
        # height (the chart stepping aside) left a crowded list's form and flashed the full
        # one for a snapshot.
        if self.size.width != self._width_seen:
            # The columns are laid out again for the new width, from the left: a view
            # scrolled two columns at 60 cells hid the prices at 100, beside blank room.
            if self._width_seen >= 0 and self.scroll_x:
                self.scroll_to(x=0, animate=False, immediate=True)
            self._width_seen = self.size.width
            self._crowded, self._roomy_since = False, None
            self.set_compact(self.size.width < COMPACT_BELOW)
            if self._whole_from != fmt.COMPACT_WHOLE:  # chosen for another width: again
                self._set_whole_from(fmt.COMPACT_WHOLE, -math.inf)
            if self._state is not None:  # measured for this width now, not at the next
                # snapshot (a feed that had stopped kept what a width passed on the way
                # to this one chose: cents that left the forecast no room)
                self.show(self._state, self._stale, self._pending, self._stale_symbols)
        self._resize()  # the forecast's room depends on the width
        self._scroll_to_cursor()

    # -- the mouse ------------------------------------------------------------------------
    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            x = offset.x
            scroll_x = round(self.scroll_x)
            layout = self._layout()
            frozen, start, stop, _right = _view(tuple(layout.values()), scroll_x, self.size.width)
            if x >= frozen:
                x += scroll_x  # past the symbol column, the view is scrolled
                if not start <= x < stop:
                    return  # a blank where a column is partly in view
            for key, width in layout.items():
                x -= width + 2 * PAD
                if x < 0:
                    self.post_message(self.HeaderClicked(self, key))
                    return
            return
        self.move_cursor(round(self.scroll_y) + offset.y - 1)

    # -- drawing --------------------------------------------------------------------------
    def render_lines(self, crop: Region) -> list[Strip]:
        # Component styles depend on focus and the theme: look them up once per frame.
        key = (self.get_pseudo_class_state(), self.app.theme, self.rich_style)
        if key != self._styles_key:
            self._styles_key = key
            self._styles = {
                "base": self.rich_style,
                "header": self.get_component_rich_style("watchlist--header"),
                "cursor": self.get_component_rich_style("watchlist--cursor"),
                "even": self.get_component_rich_style("watchlist--even-row"),
            }
            self._row_cache.clear()
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x = round(self.scroll_x)
        layout = self._layout()
        widths = tuple(layout.values())
        if y == 0:
            kind = "header"
            strip = self._cached(("header", widths), lambda: self._header_strip(layout))
        else:
            row = round(self.scroll_y) + y - 1
            if not 0 <= row < len(self._rows):
                if row == 0 and self.filter_text and self._state is not None:
                    # Say why the list is empty: the typed filter, shown as plain text.
                    text = f" no symbol matches “{fmt.literal(self.filter_text)}”"
                    waiting = sorted(  # chosen with w, never ticked: not rows yet
                        s for s in self.shown_only or ()
                        if self.filter_text.lower() in s.lower()
                        and s not in self._index
                    )  # fmt: skip
                    if waiting:
                        text += f" ({fmt.literal(waiting[0])}: chosen, no tick yet)"
                    return Strip([Segment(text, self._styles["base"])]).crop_extend(
                        0, width, self._styles["base"]
                    )
                return Strip.blank(width, self._styles["base"])
            kind = "cursor" if row == self._cursor else "base" if row % 2 else "even"
            values = self.row_values(row)
            strip = self._cached(
                (values, kind, widths), lambda: self._row_strip(values, kind, layout)
            )
        total = max(width + scroll_x, strip.cell_length)
        strip = strip.extend_cell_length(total, self._styles[kind])
        return _in_view(strip, widths, scroll_x, width, self._styles[kind])

    def _cached(self, key: tuple[object, ...], make: Callable[[], Strip]) -> Strip:
        strip = self._row_cache.get(key)
        if strip is None:
            strip = make()
            self._row_cache[key] = strip
        return strip

    def _style(self, name: str) -> Style:
        style = self._parsed.get(name)
        if style is None:
            style = self._parsed[name] = Style.parse(name) if name else Style()
        return style

    def _header_strip(self, layout: dict[str, int]) -> Strip:
        style = self._styles["header"]
        cells = tuple(((label, ""),) for _key, label in COLUMNS)
        return self._strip(cells, style, False, layout)

    def _row_strip(self, values: RowValues, kind: str, layout: dict[str, int]) -> Strip:
        cells = self._format(values)
        if self._fit(cells):
            self.refresh()  # a row scrolled into view with a wider forecast: redraw all
            layout = self._layout()
        return self._strip(cells, self._styles[kind], kind == "cursor", layout)

    def _strip(
        self, cells: tuple[Cell, ...], row_style: Style, on_top: bool, layout: dict[str, int]
    ) -> Strip:
        """One line of cells, padded to the column widths of `layout`. The row's style is
        under the cells' own (colours of prices and limits), except the cursor's, which is
        over."""
        segments: list[Segment] = []
        for key, cell in zip(KEYS, cells, strict=True):
            width = layout[key]
            if key == "forecast":
                cell = squeeze(cell, width)
            elif key == "symbol":
                cell = _cut_symbol(cell, width)
            room = width - sum(cell_len(text) for text, _s in cell)
            lead = " " * PAD + (" " * room if key not in LEFT else "")
            trail = (" " * room if key in LEFT else "") + " " * PAD
            segments.append(Segment(lead, row_style))
            for text, name in cell:
                style = self._style(name)
                segments.append(
                    Segment(text, row_style + style + row_style if on_top else row_style + style)
                )
            segments.append(Segment(trail, row_style))
        return Strip(segments).simplify()
