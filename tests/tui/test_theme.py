"""Colour themes: every line of the chart stands out on the theme's surface (the price
line vanished with textual-light), and the theme chosen is kept for the next start."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.color import Color
from textual.theme import BUILTIN_THEMES
from textual.widgets import Static

from tests.tui.driving import drive
from tests.tui.feeds import StaticFeed
from tests.waiting import wait_until_async
from tui.app import LimitwatchApp
from tui.runtime import settings as config
from tui.screens.problems import ProblemsScreen
from tui.widgets.chart import MIN_CONTRAST, Chart, contrast


@pytest.mark.parametrize("theme", sorted(BUILTIN_THEMES))
def test_every_chart_line_stands_out_on_the_themes_surface(theme: str) -> None:
    app = LimitwatchApp(StaticFeed(), settings=config.Settings(theme=theme))
    seen: dict[str, object] = {}

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        chart = app.query_one(Chart)
        seen["theme"] = app.theme
        seen["colours"] = chart.colours()
        seen["surface"] = Color.parse(app.theme_variables["surface"])

    drive(app, script, size=(80, 24))
    assert seen["theme"] == theme
    colours = seen["colours"]
    assert isinstance(colours, dict)
    for role, colour in colours.items():
        assert contrast(colour, seen["surface"]) >= MIN_CONTRAST, (theme, role)  # type: ignore[arg-type]
    assert colours["slow"] != colours["sell"] and colours["fast"] != colours["buy"]


def test_the_theme_chosen_is_kept_for_the_next_start(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    app = LimitwatchApp(StaticFeed(), config_path=path)

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        app.theme = "textual-light"
        await wait_until_async(path.exists, pilot.pause, 5, what="no settings file written")

    drive(app, script)
    settings, problems = config.load(path)
    assert problems == [] and settings.theme == "textual-light"
    again = LimitwatchApp(StaticFeed(), settings=settings, config_path=path)
    started: list[str] = []

    async def look(pilot) -> None:  # type: ignore[no-untyped-def]
        started.append(again.theme)

    drive(again, look)
    assert started == ["textual-light"]


def test_an_unknown_theme_is_reported_and_the_default_used() -> None:
    app = LimitwatchApp(StaticFeed(), settings=config.Settings(theme="no-such-theme"))
    seen: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        seen.append(app.theme)
        assert isinstance(app.screen, ProblemsScreen)
        seen.extend(app.screen.problems)

    drive(app, script)
    assert seen[0] == "textual-dark"
    assert any("no-such-theme" in text for text in seen[1:])


def test_a_broken_settings_file_says_what_is_wrong_where_the_changes_go_instead(
    tmp_path: Path,
) -> None:
    """Every problem on a screen of its own, with the file kept and where changes go, until
    closed: one toast each gave way to the last, and one toast of all of them to the next
    toast (a refused limit, a crossing) within a second; at 80x24 it never showed."""
    path = tmp_path / "bad.toml"
    path.write_text('[monitor]\nstep = "abc"\nsort = "bogus"\n[limits]\nACME = [200, 100]\n')
    settings, problems = config.load(path)
    app = LimitwatchApp(StaticFeed(), settings=settings, config_path=path, problems=problems)
    shown: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause()
        app.notify("a toast that comes next")  # the next toast does not hide the problems
        await pilot.pause()
        shown.append(type(app.screen).__name__)
        shown.append(str(app.screen.query_one(Static).render()))
        await pilot.press("escape")
        await pilot.pause()
        shown.append(type(app.screen).__name__)

    drive(app, script, size=(80, 24))
    first, text, after = shown
    assert first == "ProblemsScreen" and after != "ProblemsScreen"
    assert "monitor.step must be between" in text and "monitor.sort" in text
    assert "bad.toml is left as it is; changes are saved to " in text
