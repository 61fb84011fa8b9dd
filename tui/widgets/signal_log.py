"""The signals log: newest first, coloured by kind, filterable by symbol and by kind."""

from __future__ import annotations

import datetime as dt
import math

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text
from textual.cache import LRUCache
from textual.widgets import Static

from engine import Signal
from tui.runtime import format as fmt
from tui.widgets.watchlist import cut_apart

KIND_STYLE = {
    "BUY": "bold black on green",
    "SELL": "bold white on red",
    "BUY_WATCH": "green",
    "SELL_WATCH": "red",
    "GOLDEN_CROSS": "cyan",
    "DEATH_CROSS": "magenta",
}
#: Kind filters, cycled with a key: name -> kinds shown (None: all).
KIND_FILTERS: dict[str, frozenset[str] | None] = {
    "all": None,
    "crossings": frozenset({"BUY", "SELL"}),
    "watches": frozenset({"BUY_WATCH", "SELL_WATCH"}),
    "averages": frozenset({"GOLDEN_CROSS", "DEATH_CROSS"}),
}
#: Rows drawn at the most (the pane shows as many as fit).
MAX_ROWS = 200
#: A symbol is cut to no fewer cells than this before the time column gives way (enough
#: to tell SYM0055 from SYM0056).
SYMBOL_LEAST = 8
#: Between the parts of a signal's details.
SEPARATOR = " · "


def signal_cells(sig: Signal) -> tuple[Text, ...]:
    """One row for `sig`; the symbol is inserted as plain text, never markup."""
    clock = dt.datetime.fromtimestamp(sig.t, tz=dt.UTC).strftime("%H:%M:%S")
    kind = sig.kind.name
    # A watch's chance and time come first: on a narrow pane they are what must show.
    parts = []
    if kind.endswith("WATCH"):
        if math.isfinite(sig.p_hit):
            parts.append(f"p {fmt.chance(sig.p_hit)}")
        if math.isfinite(sig.eta_s):
            parts.append(f"in {fmt.eta_text(sig.eta_s)}")
    # A crossing's price and its limit differ in what is shown (0.0019345 both, else).
    price, limit = fmt.apart(sig.price, sig.limit)
    if math.isfinite(sig.limit):
        parts.append(f"limit {limit}")
    detail = Text(SEPARATOR.join(parts))
    return (
        Text(clock, style="dim"),
        Text(kind, style=KIND_STYLE.get(kind, "")),
        Text(fmt.literal(sig.symbol), style="bold", no_wrap=True, overflow="ellipsis"),
        Text(price, justify="right"),
        detail,
    )


#: The row between this run's signals and those of earlier runs: a rule as wide as the
#: time, then words as wide as the widest kind (split across two columns, they read
#: "earlier   runs ↓").
PAST_LINE = (
    Text("─" * 8, style="dim"),
    Text("earlier runs", style="dim italic"),
    Text(""),
    Text(""),
    Text(""),
)


def fit_detail(detail: Text, room: int) -> Text:
    """``detail`` within ``room`` cells: its leading `` · ``-separated parts that fit,
    then `` …`` to say some had to go (a limit cut to its first digits would read as
    another); nothing where not even one part fits."""
    if cell_len(detail.plain) <= room:
        return detail
    kept: list[str] = []
    for part in detail.plain.split(SEPARATOR):
        if cell_len(SEPARATOR.join([*kept, part]) + " …") > room:
            break
        kept.append(part)
    return Text(SEPARATOR.join(kept) + " …" if kept else "")


def _whole(cell: Text) -> Text:
    """A price cell of :data:`~tui.runtime.format.COMPACT_WHOLE` or more without its cents
    (:func:`~tui.runtime.format.price_compact`); any other cell as it is.

    >>> _whole(Text("1,018,070,000.00")).plain, _whole(Text("625.35")).plain
    ('1,018,070,000', '625.35')
    """
    try:
        value = float(cell.plain.replace(",", ""))
    except ValueError:  # a past run's marker row, say
        return cell
    if not abs(value) >= fmt.COMPACT_WHOLE:
        return cell
    return Text(fmt.price_compact(value), style=cell.style, justify=cell.justify)


def _event_time(sig: Signal) -> float:
    return sig.t


class SignalLog(Static):
    """The newest signals first, as many as fit; redrawn only when signals or filters change.

    A table widget that gains rows every frame asks for a layout of the whole screen each
    time; this pane draws a fixed-size table of the newest rows instead, so a busy market
    costs one pane's repaint.
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._shown_count = -1
        self.kind_filter = "all"
        self.symbol_filter: str | None = None
        self._latest: tuple[Signal, ...] = ()
        #: Signals of earlier runs (from the history), newest first: listed after this
        #: run's, dimmed, below a line that says so.
        self._past: tuple[tuple[Signal, tuple[Text, ...]], ...] = ()  # each with its row
        #: Rows drawn by the latest redraw.
        self.shown = 0
        # Signals never change: each row is formatted once.
        self._cells: LRUCache[Signal, tuple[Text, ...]] = LRUCache(4 * MAX_ROWS)

    def _wanted(self, sig: Signal) -> bool:
        kinds = KIND_FILTERS[self.kind_filter]
        if kinds is not None and sig.kind.name not in kinds:
            return False
        return self.symbol_filter is None or sig.symbol == self.symbol_filter

    def set_filters(self, kind: str | None = None, symbol: str | bool | None = False) -> None:
        """Change the kind filter and/or the symbol filter (None: every symbol)."""
        if kind is not None:
            self.kind_filter = kind
        if symbol is not False:
            self.symbol_filter = symbol  # type: ignore[assignment]
        self._redraw()

    @property
    def filter_label(self) -> str:
        """The filters in words, for the border title."""
        parts = [] if self.kind_filter == "all" else [self.kind_filter]
        if self.symbol_filter is not None:
            parts.append(self.symbol_filter)
        return " · ".join(parts)

    def empty_text(self) -> str:
        """What the pane says where its filters leave no signal.

        >>> log = SignalLog()
        >>> log.kind_filter, log.symbol_filter = "crossings", "CYGN"
        >>> log.empty_text()
        'No crossings of CYGN yet (t: another kind, f: every symbol).'
        """
        kind = "signals" if self.kind_filter == "all" else self.kind_filter
        of = "" if self.symbol_filter is None else f" of {fmt.literal(self.symbol_filter)}"
        keys = ["t: another kind"] if self.kind_filter != "all" else []
        keys += ["f: every symbol"] if self.symbol_filter is not None else []
        return f"No {kind}{of} yet ({', '.join(keys)})."

    def set_past(self, past: list[Signal] | tuple[Signal, ...]) -> None:
        """Signals of earlier runs, newest first, to list below this run's."""
        self._past = tuple(
            (sig, tuple(Text(cell.plain, style="dim") for cell in signal_cells(sig)))
            for sig in past
        )  # formatted once: they never change
        self._redraw()

    def visible_rows(self, limit: int = MAX_ROWS) -> list[tuple[Text, ...]]:
        """The newest `limit` rows that pass the filters, newest first: this run's, then
        (below a row that says "earlier runs") those of earlier runs, dimmed."""
        rows: list[tuple[Text, ...]] = []
        cells = self._cells
        for sig in reversed(self._latest):
            if len(rows) >= limit:
                break
            if self._wanted(sig):
                row = cells.get(sig)
                if row is None:
                    row = cells[sig] = signal_cells(sig)
                rows.append(row)
        past = [row for sig, row in self._past if self._wanted(sig)]
        if past and len(rows) < limit:
            rows.append(PAST_LINE)
            rows += past[: limit - len(rows)]
        return rows

    def _redraw(self) -> None:
        height = max(self.content_size.height - 1, 1) if self.is_mounted else MAX_ROWS
        width = self.content_size.width if self.is_mounted else 200
        rows = self.visible_rows(min(height, MAX_ROWS))
        if not rows and (self.kind_filter != "all" or self.symbol_filter is not None):
            # A blank pane under a filter read as a pane that had stopped.
            self.shown = 0
            self.update(Text(self.empty_text(), style="dim"), layout=False)
            return
        # Kind, symbol and price always, the time too where they fit with a space between
        # columns (two where there is room). Where they do not, in turn: a long symbol is
        # cut (to no fewer than SYMBOL_LEAST cells), the time loses its seconds, the symbol
        # is cut to 6 cells, prices of 10,000 or more lose their cents, the kinds take only
        # the room of those listed, the time goes. The details take the rest.
        columns = [(0, "Time", "left", 8), (1, "Signal", "left", 12), (2, "Symbol", "left", 6),
                   (3, "Price", "right", 6), (4, "", "left", None)]  # fmt: skip
        natural = {
            index: max([least or 0, cell_len(label), *(cell_len(row[index].plain) for row in rows)])
            for index, label, _justify, least in columns[:-1]
        }

        def used(cols: list[tuple[int, str, str, int | None]]) -> int:
            return sum(natural[index] for index, *_ in cols[:-1])

        def padding(cols: list[tuple[int, str, str, int | None]], gap: int) -> int:
            # Two spaces: one either side of every column; one: right of all but the last.
            return 2 * len(cols) if gap == 2 else len(cols) - 1

        def over(cols: list[tuple[int, str, str, int | None]], gap: int) -> int:
            return used(cols) + padding(cols, gap) - width

        gap = 2 if over(columns, 2) <= 0 else 1
        if over(columns, gap) > 0:  # a long symbol is cut
            natural[2] = max(natural[2] - over(columns, gap), min(SYMBOL_LEAST, natural[2]))
        if over(columns, gap) > 0:  # the time without its seconds
            natural[0] = len("HH:MM")
        if over(columns, gap) > 0:  # the symbol cut to 6 cells before the time goes (a
            # twenty-letter symbol and prices of 625,350.00 lost the time for want of one)
            natural[2] = max(natural[2] - over(columns, gap), min(6, natural[2]))
        if over(columns, gap) > 0:  # prices of 10,000 or more without their cents, as the
            # watchlist writes them where room is short (1,018,070,000.00 took the time)
            rows = [(*row[:3], _whole(row[3]), *row[4:]) for row in rows]
            natural[3] = max([6, *(cell_len(row[3].plain) for row in rows)])
        if over(columns, gap) > 0:  # the kinds only as wide as those listed (SELL, not
            # the GOLDEN_CROSS a column keeps room for)
            natural[1] = max([len("Signal"), *(cell_len(row[1].plain) for row in rows)])
        # What those two steps freed beyond their need goes back to a symbol cut before.
        full = max([6, *(cell_len(row[2].plain) for row in rows)])
        natural[2] = min(full, natural[2] + max(-over(columns, gap), 0))
        if over(columns, gap) > 0:  # no time at all, and the symbol cut as far as it takes
            columns = columns[1:]
            natural[2] = max([6, *(cell_len(row[2].plain) for row in rows)])
            natural[2] = max(natural[2] - max(over(columns, gap), 0), 6)
        table = Table(
            box=None,
            padding=(0, 1, 0, 1) if gap == 2 else (0, 1, 0, 0),
            pad_edge=gap == 2,
            expand=False,
            show_edge=False,
        )
        for index, label, justify, least in columns:
            table.add_column(
                label,
                justify=justify,  # type: ignore[arg-type]
                no_wrap=True,
                header_style="bold",
                min_width=min(least or 0, natural[index]) if index in natural else None,
                max_width=natural.get(index),  # cut where room is short
                overflow="crop" if index == 0 else "ellipsis",  # 12:34:56 as 12:34
            )
        # The details get what the other columns leave and lose whole parts, never half a
        # number.
        room = -over(columns, gap)
        # Symbols the cut would draw alike are cut in the middle, their ends kept (as in
        # the watchlist): `mem.avai…` twice told nothing apart.
        apart = cut_apart([cells[2].plain for cells in rows], natural[2])
        for cells in rows:
            detail = fit_detail(cells[4], room)
            if cells[2].plain in apart:
                shown = Text(apart[cells[2].plain], style=cells[2].style)  # dim if past
                cells = (*cells[:2], shown, *cells[3:])
            table.add_row(*(cells[index] for index, *_ in columns[:-1]), detail)
        self.shown = len(rows)
        self.update(table, layout=False)

    def on_resize(self) -> None:
        self._redraw()

    def show(self, signals: tuple[Signal, ...], total: int) -> None:
        """Redraw if signals arrived since the last call.

        `signals` come in the order the engine raised them, which across Kafka partitions
        is not event-time order (a fast replay reads one partition ahead of another); the
        log lists them by event time, as the backtest of the same file does.
        """
        if total == self._shown_count:
            return
        self._latest = tuple(sorted(signals, key=_event_time))
        self._shown_count = total
        self._redraw()
