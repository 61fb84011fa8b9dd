"""The track record: how often the forecasts came true, per decile of the p they showed."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Static

from engine.calibration import CalibrationRecord
from engine.evaluation import MIN_BIN, sample_every
from tui.runtime.format import interval
from tui.screens.help import Pages

#: Cells of the widest bar (an observed frequency of 100 %).
BAR = 20
#: A decile resting on fewer outcomes is drawn dim: chance alone moves its frequency by
#: up to 14 points (two standard errors at 50 %), and the calibration targets and the
#: backtest's largest gap count only deciles of at least this many.
FEW = MIN_BIN


def record_table(record: CalibrationRecord | None, horizon_s: float) -> Table:
    """Per decile of the shown p: forecasts, mean p, how often the limit was reached within
    the horizon, and a bar of that frequency with the mean p marked."""
    table = Table(box=None, padding=(0, 1), pad_edge=False, show_edge=False)
    for name, justify in (("p", "left"), ("n", "right"), ("said", "right"), ("came", "right")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    table.add_column(f"reached within {horizon_s:g} s", no_wrap=True)
    if record is None:
        return table
    for k in range(len(record.count)):
        n = float(record.count[k])
        label = f"{k * 10:>2}-{k * 10 + 10}%"
        if not n > 0:
            table.add_row(label, "0", "", "", "")
            continue
        said, came = float(record.predicted[k]), float(record.observed[k])
        bar = Text("█" * round(came * BAR), style="green")
        bar.append(" " * (BAR - bar.cell_len))
        mark = min(BAR - 1, int(said * BAR))
        bar.stylize("reverse", mark, mark + 1)  # where it would be if calibrated
        few = "dim" if n < FEW else None
        table.add_row(label, f"{round(n):,}", f"{said:.0%}", f"{came:.0%}", bar, style=few)
    return table


def summary(record: CalibrationRecord | None) -> str:
    """One line: forecasts resolved, base rate and Brier skill."""
    if record is None or not record.resolved > 0:
        return (
            "No forecast has come due yet: each is judged a horizon after it was shown, and"
            " one of exactly 0% or 100% (no move could reach the limit, or the price is at"
            " it) is not recorded."
        )
    skill = "-" if math.isnan(record.skill) else f"{record.skill:+.2f}"
    return (
        f"{round(record.resolved):,} forecasts came due · limits reached "
        f"{record.base_rate:.1%} of the time · Brier skill {skill} "
        "(0: no better than always saying that rate, 1: perfect)"
    )


class TrackScreen(ModalScreen[None]):
    """The track record of the forecasts, refreshed every second; escape, c or q closes."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape,c,q", "dismiss", "Close", show=False),
    ]
    DEFAULT_CSS = """
    TrackScreen {
        align: center middle;
    }
    TrackScreen > Pages {
        width: 76;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $primary;
        padding: 0 1;
        background: $surface;
    }
    """

    def __init__(self, record: Callable[[], CalibrationRecord | None], horizon_s: float) -> None:
        super().__init__()
        self._record = record
        self._horizon = horizon_s

    def compose(self) -> ComposeResult:
        with Pages() as box:  # scrolls where the screen is short (↓ more)
            box.border_title = "Track record"
            box.border_subtitle = "esc closes"
            yield Static(id="track-table")
            yield Static(id="track-summary")
            every = interval(sample_every(self._horizon))
            yield Static(
                f"Forecasts are sampled every {every} of event time; the inverted cell "
                "marks the p they said: a calibrated forecast's bar ends there. Dim: "
                f"fewer than {FEW} outcomes, which chance alone moves by many points.",
                classes="track-note",
            )

    def on_mount(self) -> None:
        self._refresh()
        self.set_interval(1.0, self._refresh)

    def _refresh(self) -> None:
        record = self._record()
        self.query_one("#track-table", Static).update(record_table(record, self._horizon))
        self.query_one("#track-summary", Static).update(summary(record))
