"""The limitwatch Textual app: watchlist, signals, Kafka pane, and keys to move limits.

The app reads the newest snapshot from its `Feed` on a timer (10 Hz) and renders only
when a new one arrived; keys send small commands back to the feed. No other thread ever
touches a widget.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Header, Static

from tui.pipeline import Feed
from tui.snapshot import Snapshot
from tui.widgets.chart import Chart
from tui.widgets.kafka_pane import KafkaPane
from tui.widgets.signal_log import SignalLog
from tui.widgets.watchlist import Watchlist

#: UI refresh rate: how often the newest snapshot is read.
REFRESH_HZ = 10.0


class LimitwatchApp(App[None]):
    """The monitor. `feed` supplies snapshots and takes limit commands."""

    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "limitwatch"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (100, "-wide")]
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("q", "quit", "Quit"),
        Binding("b", "step_limit('buy', -1)", "Buy −", key_display="b"),
        Binding("B", "step_limit('buy', 1)", "Buy +", key_display="B"),
        Binding("s", "step_limit('sell', -1)", "Sell −", key_display="s"),
        Binding("S", "step_limit('sell', 1)", "Sell +", key_display="S"),
        Binding("space", "toggle_pause", "Pause"),
        Binding("plus,equals_sign", "speed(2)", "Faster", key_display="+"),
        Binding("minus", "speed(0.5)", "Slower", key_display="-"),
        Binding("r", "toggle_record", "Record"),
        Binding("j", "cursor(1)", "Down", show=False),
        Binding("k", "cursor(-1)", "Up", show=False),
    ]

    def __init__(
        self,
        feed: Feed,
        step: float = 0.005,
        sub_title: str = "",
        record_dir: Path = Path("."),
    ) -> None:
        super().__init__()
        self.feed = feed
        self.record_dir = record_dir
        self.step = step
        self.sub_title = sub_title
        self._shown_seq = -1
        self._snapshot: Snapshot | None = None
        self._pending: dict[str, tuple[float, float]] = {}
        self._notice_seq = 0

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        with Horizontal(id="top"):
            table = Watchlist(id="watchlist")
            table.border_title = "Watchlist"
            yield table
            pane = KafkaPane(id="kafka")
            pane.border_title = "Kafka"
            yield pane
        with Horizontal(id="bottom"):
            chart = Chart(id="chart")
            chart.border_title = "Chart"
            yield chart
            log = SignalLog(id="signals")
            log.border_title = "Signals"
            yield log
        yield Static("waiting for the first ticks…", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Watchlist).focus()
        self.refresh_view()
        self.set_interval(1.0 / REFRESH_HZ, self.refresh_view)

    # -- rendering ------------------------------------------------------------------------
    def refresh_view(self) -> None:
        """Render the newest snapshot if it is new."""
        snap = self.feed.latest()
        if snap is None or snap.seq == self._shown_seq:
            return
        self._shown_seq = snap.seq
        self._snapshot = snap
        self._settle_pending(snap)
        self.query_one(Watchlist).show(snap.engine)
        self.query_one(SignalLog).show(snap.signals, snap.signal_count)
        self.query_one(KafkaPane).show(snap)
        self._show_chart(snap)
        self.query_one("#status", Static).update(status_line(snap, self.step))
        for notice in snap.notices:
            if notice.seq > self._notice_seq:
                self._notice_seq = notice.seq
                self.notify(notice.text, severity="error" if notice.error else "information")

    def _show_chart(self, snap: Snapshot) -> None:
        symbol = self.query_one(Watchlist).selected_symbol
        if symbol is not None and snap.chart_symbol != symbol:
            self.feed.select(symbol)  # the worker has not caught up with the selection yet
        limits = self._limits_in(snap, symbol) if symbol is not None else None
        history = snap.history if snap.chart_symbol == symbol else None
        self.query_one(Chart).show(symbol, history, limits or (math.nan, math.nan), snap.signals)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Follow the selection with the chart."""
        if event.row_key is not None and event.row_key.value is not None:
            self.feed.select(event.row_key.value)

    def _settle_pending(self, snap: Snapshot) -> None:
        """Forget requested limits once the engine reports them."""
        for symbol, (buy, sell) in list(self._pending.items()):
            current = self._limits_in(snap, symbol)
            if current is not None and _same(current[0], buy) and _same(current[1], sell):
                del self._pending[symbol]

    @staticmethod
    def _limits_in(snap: Snapshot, symbol: str) -> tuple[float, float] | None:
        try:
            i = snap.engine.symbols.index(symbol)
        except ValueError:
            return None
        return float(snap.engine.buy[i]), float(snap.engine.sell[i])

    # -- actions --------------------------------------------------------------------------
    def action_cursor(self, delta: int) -> None:
        """Move the watchlist selection."""
        table = self.query_one(Watchlist)
        table.move_cursor(row=table.cursor_row + delta)

    def action_toggle_pause(self) -> None:
        """Pause or resume the producer."""
        producer = self._snapshot.producer if self._snapshot is not None else None
        if producer is None:
            self.notify("There is no producer to pause here.", severity="warning")
            return
        self.feed.set_paused(not producer.paused)
        self.notify(
            "resuming the producer" if producer.paused else "pausing the producer", timeout=2
        )

    def action_speed(self, factor: float) -> None:
        """Multiply the replay speed by `factor` (between 1/64 and 1024)."""
        producer = self._snapshot.producer if self._snapshot is not None else None
        if producer is None:
            self.notify("There is no producer whose speed to change.", severity="warning")
            return
        if not math.isfinite(producer.speed):
            self.notify("Replaying at max speed already.", timeout=2)
            return
        speed = min(max(producer.speed * factor, 1 / 64), 1024.0)
        self.feed.set_speed(speed)
        self.notify(f"speed ×{speed:g}", timeout=2)

    def action_toggle_record(self) -> None:
        """Start recording the ticks read to a scenario file, or stop."""
        if self._snapshot is not None and self._snapshot.recording:
            self.feed.record(None)
            return
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = self.record_dir / f"limitwatch-{stamp}.jsonl"
        self.feed.record(str(path))

    def action_step_limit(self, side: str, direction: int) -> None:
        """Lower (-1) or raise (+1) the selected symbol's buy or sell limit by one step."""
        snap = self._snapshot
        symbol = self.query_one(Watchlist).selected_symbol
        if snap is None or symbol is None:
            self.notify("No symbol selected yet.", severity="warning")
            return
        i = snap.engine.symbols.index(symbol)
        last = float(snap.engine.last[i])
        buy, sell = self._pending.get(symbol) or (
            float(snap.engine.buy[i]),
            float(snap.engine.sell[i]),
        )
        delta = direction * self.step * last
        if side == "buy":
            new_buy = (buy if math.isfinite(buy) else last) + delta
            new_sell = sell
        else:
            new_buy = buy
            new_sell = (sell if math.isfinite(sell) else last) + delta
        problem = limit_problem(new_buy, new_sell)
        if problem:
            self.notify(f"{symbol}: {problem}", title="Limit refused", severity="error")
            return
        self._pending[symbol] = (new_buy, new_sell)
        self.feed.set_limits(
            symbol, new_buy if side == "buy" else None, new_sell if side == "sell" else None
        )
        value = new_buy if side == "buy" else new_sell
        self.notify(f"{symbol} {side} limit → {value:,.2f}", timeout=2)


def status_line(snap: Snapshot, step: float) -> str:
    """The one-line status under the panes: source, producer state, recording, counts."""
    parts = []
    if snap.source:
        parts.append(snap.source)
    p = snap.producer
    if p is not None:
        if p.paused:
            parts.append("PAUSED")
        if p.speed != 1.0:
            parts.append("speed max" if math.isinf(p.speed) else f"speed ×{p.speed:g}")
        if p.finished:
            parts.append(f"source ended: {p.last_error}" if p.last_error else "source ended")
    if snap.recording:
        parts.append(f"● REC {snap.recorded:,} → {snap.recording}")
    parts.append(f"{len(snap.engine.symbols)} symbols · {snap.signal_count:,} signals")
    parts.append(f"step {step:.2%}")
    return " · ".join(parts)


def limit_problem(buy: float, sell: float) -> str | None:
    """Why a (buy, sell) pair is impossible, or None if it is fine."""
    for name, value in (("buy", buy), ("sell", sell)):
        if math.isfinite(value) and value <= 0:
            return f"the {name} limit must be above zero (got {value:,.2f})"
    if math.isfinite(buy) and math.isfinite(sell) and buy >= sell:
        return f"buy limit {buy:,.2f} would be at or above the sell limit {sell:,.2f}"
    return None


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0)
