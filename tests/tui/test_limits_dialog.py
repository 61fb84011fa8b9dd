"""The limits dialog under fast typing: keys that arrive in one burst (a paste, a quick
typist, a terminal that delivers several keys in one read) land where the focus is when
each key comes, not where it was when the burst began."""

from __future__ import annotations

import numpy as np
import pytest
from textual import events
from textual.widgets import Input, Static

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


def test_the_dialog_follows_the_price_and_warns_against_the_latest() -> None:
    # The dialog showed the price it was opened at, and judged "a BUY fires at once"
    # against it, however far the price had moved since.
    feed = StaticFeed()
    app = LimitwatchApp(feed)
    seen: dict[str, str] = {}

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("l")
        await wait_until_async(lambda: isinstance(app.screen, LimitsDialog), pilot.pause, 5)
        dialog = app.screen
        symbol, opened = dialog.symbol, dialog.last
        moved = round(opened * 0.9, 2)  # well below the buy limit the dialog opened with
        (sid,) = feed.engine.register([symbol])
        feed.engine.update(
            np.array([sid], np.int32), np.array([feed.last_ts + 1.0]), np.array([moved])
        )
        feed.seq += 1
        shown = dialog.query_one("#last", Static)
        await wait_until_async(
            lambda: f"last price {moved:,.2f}" in str(shown.render()), pilot.pause, 5,
            what=lambda: str(shown.render()),
        )  # fmt: skip
        buy = dialog.query_one("#buy", Input)
        buy.value = f"{opened * 0.95:.2f}"  # below the price opened at, above the latest
        await pilot.press("enter")
        await pilot.pause()
        seen["error"] = str(dialog.query_one("#error", Static).render())
        seen["open"] = str(isinstance(app.screen, LimitsDialog))

    drive(app, script)
    assert "a BUY fires at once" in seen["error"], seen
    assert seen["open"] == "True"


def test_enter_sends_only_the_limits_changed_so_a_crossed_limit_does_not_fire_again() -> None:
    """Setting a limit re-arms its hit: Enter on the dialog as it opened sent both limits
    again, and a price still past a limit it had crossed fired a second SELL; editing the
    buy side did the same to the sell side."""
    feed = StaticFeed()
    app = LimitwatchApp(feed)
    seen: dict[str, object] = {}

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        for step in ("as opened", "buy edited"):
            before = len(feed.commands)
            await pilot.press("l")
            await wait_until_async(lambda: isinstance(app.screen, LimitsDialog), pilot.pause, 5)
            dialog = app.screen
            if step == "buy edited":
                dialog.query_one("#buy", Input).value = f"{dialog.buy * 0.99:.2f}"
            await pilot.press("enter")
            await wait_until_async(lambda: not isinstance(app.screen, LimitsDialog), pilot.pause, 5)
            seen[step] = feed.commands[before:]
            seen["symbol"] = dialog.symbol

    drive(app, script)
    assert seen["as opened"] == []
    ((symbol, buy, sell),) = seen["buy edited"]  # type: ignore[misc]
    assert symbol == seen["symbol"] and buy is not None and sell is None


def test_a_refused_limit_puts_the_focus_in_its_field() -> None:
    """After a refusal the focus stayed where it was (the Set button, when clicked): the
    field at fault takes it, to be typed over."""
    app = LimitwatchApp(StaticFeed())
    focused: list[str | None] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("l")
        await wait_until_async(lambda: isinstance(app.screen, LimitsDialog), pilot.pause, 5)
        dialog = app.screen
        tries = (("1", "1e300"), ("-5", "2"), ("150", "xyz"), ("abc", "160"), ("150", "1,5"))
        for buy, sell in tries:  # "the sell limit must…", "sell: 'xyz' is not a number"
            dialog.query_one("#buy", Input).value = buy
            dialog.query_one("#sell", Input).value = sell
            dialog.query_one("#set").focus()
            await pilot.pause()
            dialog.submit()
            await pilot.pause()
            focused.append(dialog.focused.id if dialog.focused is not None else None)
        await pilot.press("escape")

    drive(app, script)
    assert focused == ["sell", "buy", "sell", "buy", "sell"]
