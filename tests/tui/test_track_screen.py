"""The track record view: `c` opens it over the running monitor and it fills in as
forecasts come due."""

from __future__ import annotations

import numpy as np

from engine.calibration import CalibrationRecord
from tui.screens.track import record_table, summary


def _record() -> CalibrationRecord:
    count = np.array([500.0, 40, 0, 0, 0, 0, 12, 0, 0, 3])
    predicted = np.where(count > 0, np.arange(10) / 10 + 0.05, np.nan)
    observed = np.array([0.01, 0.2, np.nan, np.nan, np.nan, np.nan, 0.5, np.nan, np.nan, 1.0])
    return CalibrationRecord(predicted, observed, count, 0.02, 0.02, 0.03, 0.41, 555.0)


def test_the_table_lists_each_decile_with_what_was_said_and_what_came() -> None:
    from rich.console import Console

    console = Console(width=100, record=True)
    console.print(record_table(_record(), 60.0))
    text = console.export_text()
    assert "reached within 60 s" in text
    row = next(line for line in text.splitlines() if line.startswith("60-70%"))
    assert row.split()[1:4] == ["12", "65%", "50%"]
    assert "555 forecasts came due" in summary(_record()) and "+0.41" in summary(_record())
    assert "No forecast has come due yet" in summary(None)
    # Deciles of few outcomes (12, 40) are drawn dim; those of 500 and 0 are not.
    styles = [row.style for row in record_table(_record(), 60.0).rows]
    assert styles[0] is None and styles[1] == "dim" and styles[6] == "dim", styles
    assert styles[2] is None  # none at all: "0", nothing to read
    # A constant price forecasts 0% at every sample, and none is recorded: said, where
    # the screen read as if none had come due after 1,100 s of a 10 s horizon.
    assert "exactly 0% or 100%" in summary(None) and "not recorded" in summary(None)


def test_c_opens_the_track_record_over_the_monitor_and_c_closes_it() -> None:
    from tests.tui.driving import drive
    from tests.tui.feeds import StaticFeed
    from tui.app import LimitwatchApp
    from tui.screens.track import TrackScreen

    app = LimitwatchApp(StaticFeed())
    seen: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, TrackScreen)
        seen.append(str(app.screen.query_one("#track-summary").render()))
        await pilot.press("c")
        await pilot.pause()
        assert not isinstance(app.screen, TrackScreen)

    drive(app, script, size=(80, 24))
    assert seen and "No forecast has come due yet" in seen[0]
