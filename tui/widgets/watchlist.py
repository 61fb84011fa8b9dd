"""The watchlist: one row per symbol with price, change, averages, limits and the
forecast in words; sortable by column or by urgency, filterable by symbol."""

from __future__ import annotations

import math
import time

import numpy as np
from rich.text import Text
from textual.widgets import DataTable

from engine import EngineState
from tui import format as fmt

COLUMNS: tuple[tuple[str, str], ...] = (
    ("symbol", "Symbol"),
    ("last", "Last"),
    ("chg", "Chg"),
    ("forecast", "Forecast"),
    ("buy", "Buy ≤"),
    ("sell", "Sell ≥"),
    ("fast", "Fast MA"),
    ("slow", "Slow MA"),
)
#: Sort orders: a column key, or "urgency" (highest hit probability first).
SORTS = ("symbol", "urgency", "chg", "last")
#: Re-sorting moves rows under the user's eyes: at most this often.
RESORT_S = 1.0

_FORECAST_STYLE = {"buy": "bold green", "sell": "bold red", "maybe": "yellow", "quiet": "dim"}


def urgency(state: EngineState) -> np.ndarray:
    """Per symbol, the larger of the two hit probabilities (0 where undefined)."""
    return np.fmax(np.nan_to_num(state.p_buy, nan=0.0), np.nan_to_num(state.p_sell, nan=0.0))


def row_cells(state: EngineState, i: int, stale: bool = False) -> tuple[Text, ...]:
    """The cells of symbol `i`'s row, as Rich Text (symbols are untrusted: never markup)."""
    last = float(state.last[i])
    opened = float(state.open[i])
    chg = last / opened - 1.0 if opened > 0 and math.isfinite(last) else math.nan
    chg_style = "green" if chg > 0 else "red" if chg < 0 else ""
    buy, sell = float(state.buy[i]), float(state.sell[i])
    if math.isnan(buy) and math.isnan(sell):
        words, kind = "no limits", "quiet"
    else:
        words, kind = fmt.forecast(
            float(state.p_buy[i]),
            float(state.eta_buy[i]),
            float(state.p_sell[i]),
            float(state.eta_sell[i]),
        )
    forecast = Text(
        words, style="dim strike" if stale and kind != "quiet" else _FORECAST_STYLE[kind]
    )
    if stale and kind != "quiet":
        forecast.append(" stale", style="bold yellow")
    return (
        Text(state.symbols[i], style="bold", no_wrap=True, overflow="ellipsis"),
        Text(fmt.price(last), justify="right"),
        Text(fmt.percent(chg), style=chg_style, justify="right"),
        forecast,
        Text(fmt.price(buy), style="reverse green" if last <= buy else "green", justify="right"),
        Text(fmt.price(sell), style="reverse red" if last >= sell else "red", justify="right"),
        Text(fmt.price(float(state.sma_fast[i])), justify="right"),
        Text(fmt.price(float(state.sma_slow[i])), justify="right"),
    )


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


class Watchlist(DataTable[Text]):
    """A DataTable keyed by symbol that rewrites only the cells that changed."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self._shown: dict[str, tuple[str, ...]] = {}
        self.order = "symbol"
        self.filter_text = ""
        self._sorted_at = -math.inf
        self._widths: dict[str, int] = {}

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)
            self._widths[key] = len(label)

    @property
    def selected_symbol(self) -> str | None:
        """The symbol under the cursor."""
        if self.row_count == 0:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return row_key.value

    def set_order(self, order: str) -> None:
        """Sort by `order` (one of SORTS) from the next update on."""
        self.order = order
        self._sorted_at = -math.inf

    def set_filter(self, text: str) -> None:
        """Show only symbols containing `text` (case-insensitive); rebuilds the rows."""
        self.filter_text = text.strip()
        self._shown.clear()
        self.clear()
        self._widths = {key: len(label) for key, label in COLUMNS}
        self._sorted_at = -math.inf

    def _wanted(self, symbol: str) -> bool:
        return not self.filter_text or self.filter_text.lower() in symbol.lower()

    def show(self, state: EngineState, stale: bool = False) -> None:
        """Bring the table up to date with `state`, touching only changed cells."""
        added = False
        for i, symbol in enumerate(state.symbols):
            if not self._wanted(symbol):
                continue
            cells = row_cells(state, i, stale)
            plain = tuple(c.plain + str(c.style) for c in cells)  # style changes count too
            before = self._shown.get(symbol)
            if before is None:
                self.add_row(*cells, key=symbol)
                for (key, _label), cell in zip(COLUMNS, cells, strict=True):
                    self._widths[key] = max(self._widths[key], cell.cell_len)
                added = True
            elif before != plain:
                for (key, _label), cell, old, new in zip(
                    COLUMNS, cells, before, plain, strict=True
                ):
                    if old != new:
                        # Re-measuring a column reads every cell in it: only when it grows.
                        wider = cell.cell_len > self._widths[key]
                        if wider:
                            self._widths[key] = cell.cell_len
                        self.update_cell(symbol, key, cell, update_width=wider)
            self._shown[symbol] = plain
        now = time.monotonic()
        due = self._sorted_at == -math.inf or (
            self.order != "symbol" and now - self._sorted_at >= RESORT_S
        )
        if added or due:
            self._sorted_at = now
            self._resort(state)

    def _resort(self, state: EngineState) -> None:
        if self.row_count < 2:
            return
        urg = urgency(state)
        index = {s: i for i, s in enumerate(state.symbols)}
        selected = self.selected_symbol
        self.sort(
            "symbol",
            key=lambda cell: _sort_value(state, index[cell.plain], self.order, urg),
        )
        if selected is not None:
            self.move_cursor(row=self.get_row_index(selected), animate=False)
