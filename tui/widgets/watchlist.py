"""The watchlist: one row per symbol with price, averages, limits and the forecast."""

from __future__ import annotations

import math

from rich.text import Text
from textual.widgets import DataTable

from engine import EngineState
from tui import format as fmt

COLUMNS: tuple[tuple[str, str], ...] = (
    ("symbol", "Symbol"),
    ("last", "Last"),
    ("chg", "Chg"),
    ("fast", "Fast MA"),
    ("slow", "Slow MA"),
    ("buy", "Buy ≤"),
    ("sell", "Sell ≥"),
    ("forecast", "Forecast"),
)

_FORECAST_STYLE = {"buy": "bold green", "sell": "bold red", "maybe": "yellow", "quiet": "dim"}


def row_cells(state: EngineState, i: int) -> tuple[Text, ...]:
    """The cells of symbol `i`'s row, as Rich Text (symbols are untrusted: never markup)."""
    last = float(state.last[i])
    opened = float(state.open[i])
    chg = last / opened - 1.0 if opened > 0 and math.isfinite(last) else math.nan
    chg_style = "green" if chg > 0 else "red" if chg < 0 else ""
    words, kind = fmt.forecast(
        float(state.p_buy[i]),
        float(state.eta_buy[i]),
        float(state.p_sell[i]),
        float(state.eta_sell[i]),
    )
    buy, sell = float(state.buy[i]), float(state.sell[i])
    return (
        Text(state.symbols[i], style="bold"),
        Text(fmt.price(last), justify="right"),
        Text(fmt.percent(chg), style=chg_style, justify="right"),
        Text(fmt.price(float(state.sma_fast[i])), justify="right"),
        Text(fmt.price(float(state.sma_slow[i])), justify="right"),
        Text(fmt.price(buy), style="green" if last <= buy else "", justify="right"),
        Text(fmt.price(sell), style="red" if last >= sell else "", justify="right"),
        Text(words, style=_FORECAST_STYLE[kind]),
    )


class Watchlist(DataTable[Text]):
    """A DataTable keyed by symbol that rewrites only the cells that changed."""

    DEFAULT_CSS = ""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self._shown: dict[str, tuple[str, ...]] = {}

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    @property
    def selected_symbol(self) -> str | None:
        """The symbol under the cursor."""
        if self.row_count == 0:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return row_key.value

    def show(self, state: EngineState) -> None:
        """Bring the table up to date with `state`, touching only changed cells."""
        for i, symbol in enumerate(state.symbols):
            cells = row_cells(state, i)
            plain = tuple(c.plain + c.style.__str__() for c in cells)  # style changes count too
            before = self._shown.get(symbol)
            if before is None:
                self.add_row(*cells, key=symbol)
            elif before != plain:
                for (key, _label), cell, old, new in zip(
                    COLUMNS, cells, before, plain, strict=True
                ):
                    if old != new:
                        self.update_cell(symbol, key, cell, update_width=True)
            self._shown[symbol] = plain
