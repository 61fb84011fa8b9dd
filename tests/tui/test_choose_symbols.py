"""Choosing symbols: `*` pins the selected symbol at the top of the watchlist whatever the
order, `m` mutes its toasts and bell (the signals pane still lists them); both are kept in
the settings file for the next start."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from textual.widgets import Input, SelectionList, Static

from engine import Engine, EngineConfig, Signal, SignalKind
from tests.tui.driving import drive
from tests.tui.feeds import StaticFeed
from tests.waiting import wait_until_async
from tui.app import LimitwatchApp
from tui.runtime import settings as config
from tui.runtime.snapshot import Snapshot
from tui.screens.symbols import SymbolsScreen, symbol_problem
from tui.widgets.signal_log import SignalLog
from tui.widgets.watchlist import Watchlist


def _order(app: LimitwatchApp) -> list[str]:
    table = app.query_one(Watchlist)
    return [table.row_texts(r)[0] for r in range(table.row_count)]


def test_star_pins_a_symbol_at_the_top_whatever_the_order_and_again_unpins(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config.toml"
    app = LimitwatchApp(StaticFeed(), config_path=path)
    seen: dict[str, list[str]] = {}

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("down", "down", "down")  # DRVX, the fourth by symbol
        await pilot.press("asterisk")
        await pilot.pause()
        seen["pinned"] = _order(app)
        await pilot.press("o")  # by urgency: the pinned one stays first
        await pilot.pause(0.2)
        seen["by urgency"] = _order(app)
        seen["selected"] = [str(app.query_one(Watchlist).selected_symbol)]
        await pilot.press("asterisk")
        await pilot.press("o", "o", "o")  # back to by symbol
        await pilot.pause(0.2)
        seen["unpinned"] = _order(app)

    drive(app, script)
    assert seen["pinned"][0] == "DRVX*"
    assert seen["pinned"][1:4] == ["ACME", "BRIX", "CYGN"]
    assert seen["by urgency"][0] == "DRVX*" and seen["selected"] == ["DRVX"]
    assert seen["unpinned"][:4] == ["ACME", "BRIX", "CYGN", "DRVX"]
    assert config.load(path)[0].pinned == ()


def test_pinned_and_muted_symbols_are_kept_for_the_next_start(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    app = LimitwatchApp(StaticFeed(), config_path=path)

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        # pin BRIX (it moves to the top, the cursor with it), then mute CYGN
        await pilot.press("down", "asterisk", "down", "down", "m")
        await pilot.pause()

    drive(app, script)
    settings, problems = config.load(path)
    assert problems == []
    assert settings.pinned == ("BRIX",) and settings.muted == ("CYGN",)
    again = LimitwatchApp(StaticFeed(), settings=settings)
    seen: list[str] = []

    async def look(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause()
        seen.extend(_order(again)[:2])

    drive(again, look)
    assert seen == ["BRIX*", "ACME"]


class SignallingFeed(StaticFeed):
    """A feed whose snapshots gain the signals handed to `fire`."""

    def __init__(self) -> None:
        super().__init__()
        self.extra: list[Signal] = []

    def fire(self, *signals: Signal) -> None:
        self.extra.extend(signals)
        self.seq += 1

    def latest(self) -> Snapshot:
        snap = super().latest()
        signals = (*snap.signals, *self.extra)
        return dataclasses.replace(
            snap, signals=signals, signal_count=snap.signal_count + len(self.extra)
        )


def _crossing(symbol: str, seq: int) -> Signal:
    return Signal(symbol, SignalKind.BUY, seq, 1_700_000_900.0, 10.0, 10.5, 1.0, 0.0)


def test_a_muted_symbols_crossing_is_listed_but_pops_up_nothing() -> None:
    feed = SignallingFeed()
    app = LimitwatchApp(feed, settings=config.Settings(muted=("CYGN",)))
    toasts: list[str] = []
    listed: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause(0.3)
        before = len(app._notifications)
        feed.fire(_crossing("CYGN", 10_001))
        await wait_until_async(lambda: app._shown_seq == feed.seq, pilot.pause, 5)
        await pilot.pause(0.3)
        listed.extend(row[2].plain for row in app.query_one(SignalLog).visible_rows(3))
        toasts.extend(n.message for n in list(app._notifications)[before:])
        feed.fire(_crossing("ACME", 10_002))
        await wait_until_async(lambda: any("ACME" in n.message for n in app._notifications),
                               pilot.pause, 5)  # fmt: skip

    drive(app, script)
    assert "CYGN" in listed  # the signals pane lists it
    assert not any("CYGN" in text for text in toasts)  # but no toast says it


def test_desktop_notifications_go_to_the_terminal_for_unmuted_crossings_only() -> None:
    feed = SignallingFeed()
    settings = config.Settings(muted=("CYGN",), desktop="osc777")
    app = LimitwatchApp(feed, settings=settings)
    written: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause(0.3)
        assert app._driver is not None
        app._driver.write = written.append  # type: ignore[method-assign]
        feed.fire(_crossing("CYGN", 10_001))
        await wait_until_async(lambda: app._shown_seq == feed.seq, pilot.pause, 5)
        await pilot.pause(0.3)
        assert not any("\x1b]777" in w for w in written)  # muted: nothing
        feed.fire(_crossing("EVIL\x1b]0;owned\x07", 10_002))  # a hostile symbol name
        await wait_until_async(lambda: any("\x1b]777" in w for w in written), pilot.pause, 5)

    drive(app, script)
    (sent,) = [w for w in written if "\x1b]777" in w]
    assert sent == "\x1b]777;notify;limitwatch;BUY EVIL]0owned @ 10.00 (limit 10.50)\x07"


def test_the_desktop_setting_is_kept_and_a_wrong_value_is_named() -> None:
    text = config.dumps(config.Settings(desktop="osc9"))
    assert config.loads(text)[0].desktop == "osc9"
    settings, problems = config.loads('[monitor]\ndesktop = "yes"\n')
    assert settings.desktop == "off"
    assert problems == ["config.toml: monitor.desktop must be one of off, osc9, osc777"]


def test_w_chooses_the_symbols_shown_adds_one_not_seen_and_a_shows_all_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config.toml"
    app = LimitwatchApp(StaticFeed(), config_path=path)
    seen: dict[str, object] = {}

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("w")
        await pilot.pause()
        assert isinstance(app.screen, SymbolsScreen)
        await pilot.press("tab", "space", "down", "space")  # to the list; untick ACME, BRIX
        await pilot.pause()
        seen["saved"] = config.load(path)[0].watchlist
        seen["title"] = str(app.query_one(Watchlist).border_title)
        seen["hidden"] = [s for s in ("ACME", "BRIX") if s in _order(app)]
        await pilot.press("n", "tab")  # none; then to the list's neighbour, the name box
        app.screen.query_one("#add", Input).focus()
        await pilot.press(*"NEWCO", "enter")
        await pilot.pause()
        seen["only new"] = config.load(path)[0].watchlist
        seen["rows"] = _order(app)
        await pilot.press("escape")
        await pilot.press("w")
        await pilot.pause()
        await pilot.press("tab", "a")  # the name box first, then the list
        await pilot.pause()
        seen["all"] = config.load(path)[0].watchlist
        seen["rows again"] = len(_order(app))
        await pilot.press("w")  # w closes it too
        await pilot.pause()
        seen["closed"] = not isinstance(app.screen, SymbolsScreen)

    drive(app, script)
    saved = seen["saved"]
    assert isinstance(saved, tuple) and len(saved) == 10 and "ACME" not in saved
    assert seen["title"].endswith("· 10 chosen") and seen["hidden"] == []
    assert seen["only new"] == ("NEWCO",) and seen["rows"] == []
    assert seen["all"] == () and seen["rows again"] == 12 and seen["closed"]


def test_symbols_left_off_the_watchlist_pop_up_no_toast(tmp_path: Path) -> None:
    feed = SignallingFeed()
    settings = config.Settings(watchlist=("BRIX",))
    app = LimitwatchApp(feed, settings=settings)
    toasts: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause(0.3)
        before = len(app._notifications)
        feed.fire(_crossing("ACME", 10_001))
        await pilot.pause(0.5)
        feed.fire(_crossing("BRIX", 10_002))
        await wait_until_async(lambda: any("BRIX" in n.message for n in app._notifications),
                               pilot.pause, 5)  # fmt: skip
        toasts.extend(n.message for n in list(app._notifications)[before:])

    drive(app, script)
    assert any("BRIX" in t for t in toasts) and not any("ACME" in t for t in toasts)


def test_a_name_refused_or_added_is_said_in_the_dialog_not_in_a_toast_behind_it() -> None:
    """Toasts wait behind a dialog until it closes: a name of 200 characters was refused
    with nothing on screen."""
    app = LimitwatchApp(StaticFeed())
    seen: list[str] = []
    known: list[str] = []  # a symbol with ticks

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("w")
        await wait_until_async(lambda: isinstance(app.screen, SymbolsScreen), pilot.pause, 5)
        box = app.screen.query_one("#add", Input)
        known.append(app._snapshot.engine.symbols[0] if app._snapshot else "")
        for name in ("X" * 200, "NEWCO", known[0], known[0].lower()):
            box.value = name
            await pilot.press("enter")
            await pilot.pause()
            seen.append(str(app.screen.query_one("#hint", Static).render()))
        listing = app.screen.query_one(SelectionList)
        seen.extend(str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count))

    drive(app, script)
    refused, added, again, other_case, *listed = seen
    # Another symbol than the one it looks like: said (it was added silently).
    assert other_case.startswith(
        f"{known[0].lower()} added: not {known[0]}, names differ by case: its row appears"
    )
    # Symbols seen by name, then those added before their first tick.
    seen_ones = listed[: len(listed) - 2]
    assert seen_ones == sorted(seen_ones, key=str.casefold) and known[0] in seen_ones
    assert listed[-2:] == ["NEWCO", known[0].lower()]
    assert refused == "not added: a symbol has at most 64 characters"
    # A name not seen yet makes no row until its first tick, and is told so.
    assert added.startswith("NEWCO added: its row appears at its first tick; ")
    assert known[0] and again.startswith(f"{known[0]} added: ")
    assert "first tick" not in again


def test_a_symbol_name_with_control_characters_is_refused_by_the_editor() -> None:
    assert symbol_problem("") and symbol_problem("A\x1b[2J") and symbol_problem("X" * 65)
    assert symbol_problem("BTC/USDT") == ""


def test_a_re_centres_reached_automatic_limits_and_keeps_the_ones_you_set() -> None:
    feed = StaticFeed()
    st = feed.engine.state()
    reached = [
        s for i, s in enumerate(st.symbols)
        if st.last[i] <= st.buy[i] or st.last[i] >= st.sell[i]
    ]  # fmt: skip
    assert len(reached) >= 3, "the seeded market should have reached a few limits"
    mine = reached[0]
    app = LimitwatchApp(feed, settings=config.Settings(limits={mine: (1.0, 1e6)}))
    toasts: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause()
        await pilot.press("a")
        await wait_until_async(lambda: any("re-centred" in n.message for n in app._notifications),
                               pilot.pause, 5)  # fmt: skip
        toasts.extend(n.message for n in app._notifications)

    drive(app, script)
    moved = {symbol for symbol, _buy, _sell in feed.commands}
    assert moved == set(reached) - {mine}
    after = feed.engine.state()
    for symbol, buy, sell in feed.commands:
        i = after.symbols.index(symbol)
        last = float(st.last[st.symbols.index(symbol)])
        # the band, to the price's cents (no float noise, no fraction of a cent)
        assert round(last, 2) == last
        assert (buy, sell) == (round(last * 0.98, 2), round(last * 1.02, 2))
        assert after.buy[i] < after.last[i] < after.sell[i]  # no longer "now"
    (toast,) = [t for t in toasts if "re-centred" in t]
    assert toast.startswith("band of ±2.00% re-centred on the price: ")
    assert toast.endswith("(1 symbol with limits you set kept them)")


def test_a_re_centres_a_quantity_below_zero_on_its_size_and_leaves_one_at_zero() -> None:
    feed = StaticFeed(n_ticks=0)
    feed.engine = Engine(EngineConfig(default_band=0.02), additive=["temp", "gauge"])
    ids = feed.engine.register(["temp", "gauge"])
    # temp: band -2.04..-1.96 around -2, reached at -3; gauge: no band at a first 0
    feed.engine.update(ids[[0, 0, 1, 0]], [0.0, 1.0, 1.5, 2.0], [-2.0, -2.01, 0.0, -3.0])
    app = LimitwatchApp(feed)

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause()
        await pilot.press("a")
        await wait_until_async(lambda: bool(feed.commands), pilot.pause, 5)

    drive(app, script)
    ((symbol, buy, sell),) = feed.commands
    assert symbol == "temp" and (buy, sell) == pytest.approx((-3.06, -2.94))


def test_a_later_crossing_takes_the_place_of_the_earlier_crossings_toast() -> None:
    from tui.app import CROSSING_NOTIFY_S

    feed = SignallingFeed()
    app = LimitwatchApp(feed)
    shown: list[list[str]] = []

    def crossing_toasts() -> list[str]:
        return [n.message for n in app._notifications if "(limit" in n.message]

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause(0.3)
        feed.fire(_crossing("ACME", 10_001))
        await wait_until_async(lambda: crossing_toasts(), pilot.pause, 5)
        shown.append(crossing_toasts())
        await pilot.pause(CROSSING_NOTIFY_S + 0.2)  # the next may show now; the first is up
        feed.fire(_crossing("BRIX", 10_002))
        await wait_until_async(lambda: any("BRIX" in t for t in crossing_toasts()),
                               pilot.pause, 5)  # fmt: skip
        shown.append(crossing_toasts())

    drive(app, script)
    assert [len(s) for s in shown] == [1, 1]
    assert "ACME" in shown[0][0] and "BRIX" in shown[1][0]


def test_the_editor_shows_a_symbol_that_looks_like_markup_as_it_is() -> None:
    feed = StaticFeed(symbols=["[/]", "[@click=app.quit]X[/]", "ACME"], n_ticks=60)
    app = LimitwatchApp(feed)
    seen: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause()
        await pilot.press("w")  # raised MarkupError, and the app ended, before
        await pilot.pause()
        listing = app.screen.query_one(SelectionList)
        seen.extend(str(listing.get_option_at_index(i).prompt) for i in range(3))
        await pilot.press("escape")

    drive(app, script)
    assert sorted(seen) == sorted(["[/]", "[@click=app.quit]X[/]", "ACME"])


def test_unticking_every_symbol_keeps_the_last_choice_until_one_is_ticked(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config.toml"
    app = LimitwatchApp(StaticFeed(), config_path=path)
    seen: dict[str, object] = {}

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("w", "tab", "space")  # untick ACME: 11 shown
        await pilot.pause()
        seen["one off"] = config.load(path)[0].watchlist
        await pilot.press("n")  # none: not applied (an empty watchlist means all)
        await pilot.pause()
        seen["none"] = config.load(path)[0].watchlist
        seen["hint"] = str(app.screen.query_one("#hint").render())
        seen["rows"] = len(_order(app))
        await pilot.press("down", "space")  # tick BRIX alone
        await pilot.pause()
        seen["brix"] = config.load(path)[0].watchlist

    drive(app, script)
    assert len(seen["one off"]) == 11  # type: ignore[arg-type]
    assert seen["none"] == seen["one off"] and seen["rows"] == 11
    assert str(seen["hint"]).startswith("none ticked")
    assert seen["brix"] == ("BRIX",)


def test_a_name_typed_as_the_editor_opens_is_added(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    app = LimitwatchApp(StaticFeed(), config_path=path)
    seen: dict[str, object] = {}

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("w")
        await pilot.pause()
        await pilot.press(*"NEWCO", "enter")
        await pilot.pause()
        seen["saved"] = config.load(path)[0].watchlist

    drive(app, script)
    saved = seen["saved"]
    assert isinstance(saved, tuple) and "NEWCO" in saved and len(saved) == 13  # none unticked


def test_settings_that_cannot_be_saved_say_where_and_why(tmp_path: Path) -> None:
    """A folder on the settings file's path that is a file: the toast said only "settings
    not saved: File exists", naming neither the file nor what stood in the way."""
    (tmp_path / "gen.py").write_text("")
    path = tmp_path / "gen.py" / "sub.toml"
    app = LimitwatchApp(StaticFeed(), config_path=path)
    told: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("asterisk")  # a pin is saved at once
        await pilot.pause(0.2)
        told.extend(str(n.message) for n in app._notifications)

    drive(app, script)
    said = [text for text in told if text.startswith("settings not saved")]
    assert said and said[-1].startswith(f"settings not saved to {path}: "), told


def test_a_name_that_looks_like_another_but_encodes_its_accent_apart_is_said() -> None:
    """A name typed with a combining accent (NFD) is another symbol than the same with the
    precomposed letter (NFC): they look alike on screen and were added as two silently."""
    app = LimitwatchApp(StaticFeed())
    seen: list[str] = []
    composed, combining = "CAF\u00c9", "CAFE\u0301"

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("w")
        await wait_until_async(lambda: isinstance(app.screen, SymbolsScreen), pilot.pause, 5)
        box = app.screen.query_one("#add", Input)
        for name in (composed, combining, "caf\u00e9", "cafe\u0301"):
            box.value = name
            await pilot.press("enter")
            await pilot.pause()
            seen.append(str(app.screen.query_one("#hint", Static).render()))

    drive(app, script)
    first, second, lower, both = seen
    assert first.startswith(f"{composed} added: its row appears")
    assert second.startswith(
        f"{combining} added: not {composed}, names differ in how an accented letter is "
        "encoded (Unicode NFC and NFD): its row appears"
    )
    assert lower.startswith(f"caf\u00e9 added: not {composed}, names differ by case: ")
    assert both.startswith(
        f"cafe\u0301 added: not {composed}, names differ in how an accented letter is "
        "encoded (Unicode NFC and NFD) and by case: "
    )
