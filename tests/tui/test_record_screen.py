"""The forecast's track record as the monitor shows it: per decile, what was said and how
often it came true, the skill, and a line for the selected symbol's forecasts."""

from __future__ import annotations

import io
import math

import numpy as np
from rich.console import Console
from textual.app import App
from textual.widgets import Static

from engine.calibration import CalibrationRecord, Calibrator
from tests.tui.driving import drive
from tui.screens.record import RecordScreen, summary


def _record(deciles: int = 10) -> CalibrationRecord:
    predicted = np.full(deciles, np.nan)
    observed = np.full(deciles, np.nan)
    count = np.zeros(deciles)
    predicted[[1, 7]] = [0.14, 0.72]
    observed[[1, 7]] = [0.12, 0.70]
    count[[1, 7]] = [900.0, 412.0]
    return CalibrationRecord(predicted, observed, count, 0.08, 0.11, 0.3, 0.62, 1312.0)


def test_the_record_screen_lists_each_decile_with_data_and_the_skill() -> None:
    shown: list[str] = []
    record = _record()

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(RecordScreen(record, [f"ACME sell: {record.explain(0.72)}"]))

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause()
        console = Console(width=120, record=True, file=io.StringIO())
        for static in pilot.app.screen.query(Static):
            console.print(static.content)
        shown.append(console.export_text())

    drive(Host(), script)  # type: ignore[arg-type]
    text = shown[0]
    assert "1,312 forecasts came due" in text and "Brier skill +0.62" in text
    assert "70%–80%" in text and "72%" in text and "412" in text
    assert "10%–20%" in text and "900" in text
    assert "0%–10%" not in text  # a decile without forecasts is left out
    assert "ACME sell: forecasts near 72% on this stream came true 70% of 412 times" in text


def test_an_empty_record_says_nothing_has_come_due() -> None:
    record = Calibrator(60.0).record()
    assert record.resolved == 0 and math.isnan(record.skill)
    assert summary(record).startswith("No forecast has come due yet")
