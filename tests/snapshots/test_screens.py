"""Screenshots of the monitor from a fixed seed and a frozen clock (no threads, no Kafka:
a deterministic feed), compared with the stored SVGs."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from engine import EngineConfig
from tests.tui.feeds import StaticFeed
from tui.app import LimitwatchApp
from tui.runtime.settings import Settings

TITLE = "embedded broker · prices"


def _app(**feed_options: object) -> LimitwatchApp:
    return LimitwatchApp(StaticFeed(**feed_options), sub_title=TITLE)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "size", [(80, 24), (120, 40), (200, 60)], ids=["80x24", "120x40", "200x60"]
)
def test_monitor_screen(snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(_app(), terminal_size=size)


def test_monitor_screen_in_the_light_theme(snap_compare) -> None:
    app = LimitwatchApp(StaticFeed(), sub_title=TITLE, settings=Settings(theme="textual-light"))
    assert snap_compare(app, terminal_size=(80, 24))


def test_help_screen_at_80x24(snap_compare) -> None:
    async def show_help(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(_app(), terminal_size=(80, 24), run_before=show_help)


def test_monitor_screen_after_raising_a_sell_limit(snap_compare) -> None:
    async def raise_sell(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("down", "S")
        await pilot.pause(0.6)  # the chart redraws its limits 0.2 s after the last key

    assert snap_compare(_app(), terminal_size=(120, 40), run_before=raise_sell)


def test_limits_dialog_with_an_error(snap_compare) -> None:
    async def open_dialog(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("l")
        await pilot.pause()
        for box in pilot.app.screen.query(Input):  # no blink: drawn alike every time
            box.cursor_blink = False
        pilot.app.screen.query_one("#buy", Input).value = "999"
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(_app(), terminal_size=(120, 40), run_before=open_dialog)


def test_help_screen(snap_compare) -> None:
    async def show_help(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(_app(), terminal_size=(120, 40), run_before=show_help)


def test_filtered_watchlist_sorted_by_urgency(snap_compare) -> None:
    async def filter_and_sort(pilot) -> None:  # type: ignore[no-untyped-def]
        # A blinking cursor is drawn or not by the time the picture is taken: keep it on.
        pilot.app.query_one("#filter", Input).cursor_blink = False
        await pilot.press("o", "slash", "R")
        await pilot.pause(0.2)

    assert snap_compare(_app(), terminal_size=(120, 40), run_before=filter_and_sort)


def test_stale_forecasts(snap_compare) -> None:
    assert snap_compare(_app(idle_s=60.0), terminal_size=(120, 40))


def test_symbols_with_markup_and_escapes_shown_literally(snap_compare) -> None:
    names = ["[/bold]", "[red]RED", "A\\x1b[31m", "ZZZ"]
    app = _app(symbols=names, n_ticks=400, config=EngineConfig(fast=5, slow=20))
    assert snap_compare(app, terminal_size=(120, 40))


def test_why_this_forecast_at_80x24(snap_compare) -> None:
    async def show_details(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("j", "j", "d")
        await pilot.pause()

    assert snap_compare(_app(), terminal_size=(80, 24), run_before=show_details)


def test_watchlist_editor_at_80x24(snap_compare) -> None:
    async def untick_two(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("w", "tab", "space", "down", "down", "space")
        await pilot.pause()

    assert snap_compare(_app(), terminal_size=(80, 24), run_before=untick_two)
