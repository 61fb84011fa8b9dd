"""The signals log: newest first, coloured by kind, filterable by symbol and by kind."""

from __future__ import annotations

import datetime as dt
import math

from rich.text import Text
from textual.widgets import DataTable

from engine import Signal
from tui import format as fmt

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
#: Rows kept on screen.
MAX_ROWS = 200


def signal_cells(sig: Signal) -> tuple[Text, ...]:
    """One row for `sig`; the symbol is inserted as plain text, never markup."""
    clock = dt.datetime.fromtimestamp(sig.t, tz=dt.UTC).strftime("%H:%M:%S")
    kind = sig.kind.name
    detail = Text()
    if math.isfinite(sig.limit):
        detail.append(f"limit {fmt.price(sig.limit)}")
    if kind.endswith("WATCH"):
        if math.isfinite(sig.p_hit):
            detail.append(f" · p {sig.p_hit:.0%}")
        if math.isfinite(sig.eta_s):
            detail.append(f" · in ~{fmt.duration(sig.eta_s)}")
    return (
        Text(clock, style="dim"),
        Text(kind, style=KIND_STYLE.get(kind, "")),
        Text(sig.symbol, style="bold", no_wrap=True, overflow="ellipsis"),
        Text(fmt.price(sig.price), justify="right"),
        detail,
    )


class _Stamp(Text):
    """The time cell, which also remembers when its row arrived (for newest-first order)."""

    def __init__(self, text: Text, seq: int) -> None:
        super().__init__(text.plain, style=text.style)
        self.seq = seq


class SignalLog(DataTable[Text]):
    """Shows the newest signals first; rebuilt only when its filter changes."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="none", zebra_stripes=False, **kwargs)  # type: ignore[arg-type]
        self._shown_count = 0
        self._seq = 0
        self.kind_filter = "all"
        self.symbol_filter: str | None = None
        self._latest: tuple[Signal, ...] = ()

    def on_mount(self) -> None:
        for key, label in (("t", "Time"), ("kind", "Signal"), ("symbol", "Symbol"),
                           ("price", "Price"), ("detail", "")):  # fmt: skip
            self.add_column(label, key=key)

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
        self.clear()
        self._insert(self._latest)

    @property
    def filter_label(self) -> str:
        """The filters in words, for the border title."""
        parts = [] if self.kind_filter == "all" else [self.kind_filter]
        if self.symbol_filter is not None:
            parts.append(self.symbol_filter)
        return " · ".join(parts)

    def _insert(self, signals: tuple[Signal, ...] | list[Signal]) -> None:
        added = False
        for sig in signals:
            if self._wanted(sig):
                self._seq += 1
                cells = signal_cells(sig)
                self.add_row(_Stamp(cells[0], self._seq), *cells[1:], key=str(self._seq))
                added = True
        if not added:
            return
        # DataTable appends at the bottom; newest first means sorting by arrival, descending.
        self.sort("t", key=lambda stamp: -stamp.seq)
        while self.row_count > MAX_ROWS:
            self.remove_row(self.ordered_rows[-1].key)

    def show(self, signals: tuple[Signal, ...], total: int) -> None:
        """Add the signals among `signals` (the newest ones) not shown before."""
        self._latest = signals
        new = total - self._shown_count
        if new <= 0:
            return
        self._shown_count = total
        self._insert(signals[-min(new, len(signals)) :])
