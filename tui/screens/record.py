"""The forecast's track record on this stream: how often forecasts of each probability
came true, the Brier skill, and what that means for the selected symbol's forecasts."""

from __future__ import annotations

import math
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from engine.calibration import CalibrationRecord

__all__ = ["RecordScreen", "record_table"]


def _pct(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{x:.0%}"


def record_table(record: CalibrationRecord) -> Table:
    """Predicted against observed per decile of the reported probability."""
    table = Table(box=None, padding=(0, 1), pad_edge=False, header_style="bold")
    for name in ("forecast", "said", "came true", "forecasts"):
        table.add_column(name, justify="right", no_wrap=True)
    deciles = len(record.count)
    for k in range(deciles):
        n = float(record.count[k])
        if not n > 0:
            continue
        gap = record.observed[k] - record.predicted[k]
        style = "red" if abs(gap) > 0.1 and n >= 50 else ""
        table.add_row(
            f"{k / deciles:.0%}–{(k + 1) / deciles:.0%}",
            _pct(float(record.predicted[k])),
            Text(_pct(float(record.observed[k])), style=style),
            f"{round(n):,}",
        )
    return table


def summary(record: CalibrationRecord) -> str:
    """The record in one line: how many forecasts came due, and the skill."""
    if not record.resolved > 0:
        return "No forecast has come due yet: each is checked one horizon after it is made."
    skill = (
        "no skill figure yet (every forecast came out the same way)"
        if not math.isfinite(record.skill)
        else f"Brier skill {record.skill:+.2f} against always saying the base rate "
        f"{record.base_rate:.0%}"
    )
    return f"{round(record.resolved):,} forecasts came due; {skill}."


class RecordScreen(ModalScreen[None]):
    """Shows a stream's :class:`~engine.calibration.CalibrationRecord`; esc closes it."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape,c,q", "dismiss", "Close", show=False),
    ]
    DEFAULT_CSS = """
    RecordScreen {
        align: center middle;
    }
    RecordScreen > Vertical {
        width: auto;
        max-width: 90%;
        height: auto;
        max-height: 90%;
        border: round $primary;
        padding: 0 1;
        background: $surface;
    }
    RecordScreen Static {
        width: auto;
    }
    """

    def __init__(self, record: CalibrationRecord, explanations: list[str]) -> None:
        super().__init__()
        self.record = record
        self.explanations = explanations

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Forecast record"
            box.border_subtitle = "esc closes"
            yield Static(Text(summary(self.record)), id="record-summary")
            if self.record.resolved > 0:
                yield Static(record_table(self.record), id="record-table")
            for line in self.explanations:
                yield Static(Text(line), classes="record-explain")
