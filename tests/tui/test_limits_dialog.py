"""The limits dialog under fast typing: keys that arrive in one burst (a paste, a quick
typist, a terminal that delivers several keys in one read) land where the focus is when
each key comes, not where it was when the burst began."""

from __future__ import annotations

import pytest
from textual import events
from textual.widgets import Input

from tests.tui.driving import drive
from tests.tui.feeds import StaticFeed
from tests.waiting import wait_until_async
from tui.app import LimitwatchApp
from tui.screens.limits import LimitsDialog


def _burst(app: LimitwatchApp, keys: list[str]) -> None:
    """Queue `keys` all at once, the way a terminal's input thread hands them over."""
    for key in keys:
        app.post_message(events.Key(key, key if len(key) == 1 else None))


@pytest.mark.parametrize(
    ("keys", "buy", "sell"),
    [
        (["tab", "9", "9"], "148.24", "99"),
        (["1", "4", "0", "tab", "1", "6", "0"], "140", "160"),
        (["tab", "1", "6", "0", "shift+tab", "1", "4", "0"], "140", "160"),
        (["backspace", "1", "4", "9"], "149", "152.76"),
        (["end", "backspace", "backspace", "9", "9"], "148.99", "152.76"),
        (["ctrl+u", "1", "4", "7", "left", "left", "backspace", "2"], "247", "152.76"),
    ],
    ids=[
        "tab-then-digits",
        "both-fields",
        "back-with-shift-tab",
        "backspace-first",
        "end-then-backspace",
        "edit-in-the-middle",
    ],
)
def test_keys_typed_in_one_burst_after_tab_land_in_the_field_tab_moved_to(
    keys: list[str], buy: str, sell: str
) -> None:
    app = LimitwatchApp(StaticFeed())
    seen: dict[str, str] = {}

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("l")
        await wait_until_async(lambda: isinstance(app.screen, LimitsDialog), pilot.pause, 5)
        await pilot.pause()
        _burst(app, keys)
        fields = app.screen.query_one("#buy", Input), app.screen.query_one("#sell", Input)
        await wait_until_async(
            lambda: (fields[0].value, fields[1].value) == (buy, sell),
            pilot.pause,
            5,
            what=lambda: f"buy {fields[0].value!r}, sell {fields[1].value!r}",
        )
        seen.update(buy=fields[0].value, sell=fields[1].value)

    drive(app, script)
    assert seen == {"buy": buy, "sell": sell}
