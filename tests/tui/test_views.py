"""Pilot tests for the monitor's keys beyond the limit steps: the limits dialog, step,
producer control, recording, filter, sort, signal filters, help and the palette; and
untrusted symbol names rendered literally."""

from __future__ import annotations

import dataclasses
import gc
import html
import io
import math
import re
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len
from textual.geometry import Region
from textual.widgets import Input

from engine import EngineConfig, Signal, SignalKind
from producer.control import ProducerStats, SetPaused
from producer.files import FileSource
from producer.kafka_producer import ProducerThread
from tests.tui.driving import drive
from tests.tui.feeds import StaticFeed
from tests.waiting import wait_until_async
from tui.app import LimitwatchApp, status_line
from tui.runtime import format as fmt
from tui.runtime.keys import help_rows
from tui.runtime.settings import STEPS, Settings, next_step
from tui.runtime.snapshot import staleness
from tui.screens.help import HelpScreen
from tui.screens.limits import LimitsDialog, check_limits
from tui.widgets.chart import Chart
from tui.widgets.signal_log import SignalLog, fit_detail, signal_cells
from tui.widgets.watchlist import KEYS, Watchlist, urgency

Pilot = object


async def _type_limits(
    pilot: Any, app: LimitwatchApp, buy: str | None = None, sell: str | None = None
) -> tuple[str, str]:
    """Open the limits dialog, type the fields given (the others left as they start)
    and press Enter; the fields' text as the dialog opened."""
    await pilot.press("l")
    await pilot.pause()
    assert isinstance(app.screen, LimitsDialog)
    fields = app.screen.query_one("#buy", Input), app.screen.query_one("#sell", Input)
    started = fields[0].value, fields[1].value
    for field, text in zip(fields, (buy, sell), strict=True):
        if text is not None:
            field.value = text
    await pilot.press("enter")
    await pilot.pause(0.2)
    return started


def test_limits_dialog_sets_exact_limits() -> None:
    feed = StaticFeed()
    symbol = feed.engine.state().symbols[0]
    app = LimitwatchApp(feed)

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await _type_limits(pilot, app, "120.5", "180")

    drive(app, script)
    assert feed.engine.limits(symbol) == (120.5, 180.0)


def test_a_limit_the_price_is_already_past_takes_a_second_enter() -> None:
    """A buy limit of 1,500.25 where the price is about 150 (a slip for 150.25) would
    fire a BUY at once: the first Enter says so and sets nothing, a second one on the
    same text sets it."""
    feed = StaticFeed()
    symbol = feed.engine.state().symbols[0]
    before = feed.engine.limits(symbol)
    app = LimitwatchApp(feed)
    seen: list[object] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await _type_limits(pilot, app, "1,500.25", "")
        seen.append(isinstance(app.screen, LimitsDialog))
        seen.append(str(app.screen.query_one("#error").render()))
        seen.append(feed.engine.limits(symbol))
        await pilot.press("enter")
        await pilot.pause(0.2)
        seen.append(isinstance(app.screen, LimitsDialog))

    drive(app, script)
    still_open, warning, limits_then, open_after = seen
    assert still_open and limits_then == before and not open_after
    assert "a BUY fires at once: Enter again to set it anyway" in str(warning)
    assert feed.engine.limits(symbol)[0] == 1500.25


def test_a_limit_left_as_it_was_does_not_ask_again() -> None:
    """The seeded ACME is past its sell limit already; changing only its buy limit sets
    it with one Enter (the warning is about limits typed, not those kept)."""
    feed = StaticFeed()
    symbol = feed.engine.state().symbols[0]
    _, sell = feed.engine.limits(symbol)
    assert feed.engine.state().last[0] > sell, "the seeded price is past its sell limit"
    app = LimitwatchApp(feed)

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await _type_limits(pilot, app, buy="140")

    drive(app, script)
    assert feed.engine.limits(symbol) == (140.0, sell)


def test_limits_dialog_starts_with_every_digit_and_keeps_a_field_left_alone() -> None:
    """A limit of 33.74055 (set with the keys) starts as 33.74055, not 33.74; changing
    only the buy limit leaves the sell limit exactly as it was (it was rounded to cents
    and saved back: a penny stock's 0.506 became 0.51)."""
    feed = StaticFeed()
    symbol = feed.engine.state().symbols[0]
    feed.engine.set_limits(symbol, buy=33.74055, sell=1000.761234567891)
    app = LimitwatchApp(feed)
    started: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        started.append((await _type_limits(pilot, app, buy="33.5"))[0])

    drive(app, script)
    assert started == ["33.74055"]
    assert feed.engine.limits(symbol) == (33.5, 1000.761234567891)


@pytest.mark.parametrize(
    ("buy", "sell", "error"),
    [("200", "100", "must be below the sell limit"),
     ("150,5", "200", "buy: '150,5': a comma only groups thousands (1,500.25); type a point"),
     ("1", "1,0.5", "sell: '1,0.5': a comma only groups thousands")],
)  # fmt: skip
def test_limits_dialog_shows_the_error_in_place_and_sends_nothing(
    buy: str, sell: str, error: str
) -> None:
    feed = StaticFeed()
    symbol = feed.engine.state().symbols[0]
    before = feed.engine.limits(symbol)
    app = LimitwatchApp(feed)
    shown: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await _type_limits(pilot, app, buy, sell)
        assert isinstance(app.screen, LimitsDialog), "the dialog stays open on an error"
        shown.append(str(app.screen.query_one("#error").render()))
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, LimitsDialog)

    drive(app, script)
    assert error in shown[0]
    assert feed.engine.limits(symbol) == before
    assert feed.commands == []


@pytest.mark.parametrize(
    ("buy", "sell", "error"),
    [("abc", "10", "buy: 'abc' is not a number"), ("5", "-1", "the sell limit must be positive"),
     ("5", "5", "must be below"), ("", "10", None), ("1,000", "2,000.5", None),
     ("1,500.25", "12,345,678", None), ("150,5", "200", "buy: '150,5': a comma only groups"),
     ("1", "1,0.5", "sell: '1,0.5': a comma only"), ("1,50", "2", "only groups thousands"),
     ("260", "1e300", "the sell limit must be below 1,000,000,000,000"),
     ("1e400", "2", "buy: '1e400' is too large a number to be a limit"),
     ("1", "inf", "sell: 'inf' is not a number"), ("150_5", "2000", "buy: '150_5' is not a"),
     ("nan", "200", "buy: 'nan' is not a number"), ("0x10", "20", "'0x10' is not a number"),
     (".5", "1.", None), ("-2.5e1", "1e2", "the buy limit must be positive"),
     ("\u0663\u0664\u0665", "400", "buy: '\u0663\u0664\u0665' is not a number"),
     ("1e-300", "2", "the buy limit must be at least 1e-12"),
     ("x" * 3000, "2", "buy: 'xxxxxxxxxxxxxxxxxxxxxxx…' is not a number")],
)  # fmt: skip
def test_check_limits_explains_each_mistake(buy: str, sell: str, error: str | None) -> None:
    if error is None:
        check_limits(buy, sell)
    else:
        with pytest.raises(ValueError, match=error.replace("(", r"\(")):
            check_limits(buy, sell)


def test_brackets_step_down_and_up_the_ladder_and_back_to_the_default() -> None:
    app = LimitwatchApp(StaticFeed())
    seen: list[float] = []
    told: list[list[str]] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        for _ in range(7):  # five rungs down to the bottom, then two presses too many
            await pilot.press("left_square_bracket")
            seen.append(app.step)
        told.append([n.message for n in app._notifications])
        for _ in range(5):
            await pilot.press("right_square_bracket")
            seen.append(app.step)

    drive(app, script)
    assert Settings().step == 0.005
    assert seen == [0.002, 0.001, 0.0005, 0.0002, 0.0001, 0.0001, 0.0001,
                    0.0002, 0.0005, 0.001, 0.002, 0.005]  # fmt: skip
    assert [m for m in told[0] if m.startswith("step")] == [
        "step 0.01% is the smallest; ] goes back"
    ]


def test_speed_keys_say_where_they_stop_and_when_nothing_is_playing() -> None:
    feed = StaticFeed()
    app = LimitwatchApp(feed)
    told: list[list[str]] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        for _ in range(8):  # six halvings down to 1/64, then two presses too many
            await pilot.press("minus")
        told.append([n.message for n in app._notifications])
        feed.producer = dataclasses.replace(feed.producer, finished=True)
        feed.seq += 1
        await pilot.pause(0.3)
        await pilot.press("plus")
        told.append([n.message for n in app._notifications])

    drive(app, script)
    assert feed.speeds == [0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625]  # none after the end
    assert told[0][-1] == "speed ×1/64 is the slowest; + goes faster"
    assert told[1][-1] == "The source has ended: nothing is playing."


def test_minus_slows_a_replay_at_max_speed_and_plus_says_it_is_the_fastest() -> None:
    feed = StaticFeed()
    feed.producer = dataclasses.replace(feed.producer, speed=math.inf)
    app = LimitwatchApp(feed)
    told: list[list[str]] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("plus")
        told.append([n.message for n in app._notifications])
        await pilot.press("minus")
        await pilot.press("minus")
        told.append([n.message for n in app._notifications])

    drive(app, script)
    assert told[0][-1] == "Replaying at max speed already; - slower."
    assert feed.speeds == [1024.0, 512.0]
    assert told[1][-1] == "speed ×512"


@pytest.mark.parametrize("speed", [1024.0, 2000.0])
def test_plus_from_the_fastest_paced_speed_goes_back_to_max(speed: float) -> None:
    # After -, + could not get back: "speed ×1024 is the fastest; - slower"; and from
    # --speed 2000, + slowed it to ×1024.
    feed = StaticFeed()
    feed.producer = dataclasses.replace(feed.producer, speed=speed)
    app = LimitwatchApp(feed)
    told: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("plus")
        told.extend(n.message for n in app._notifications)

    drive(app, script)
    assert feed.speeds == [math.inf]
    assert told[-1] == "speed max"


def test_minus_from_a_speed_below_the_slowest_key_step_does_not_speed_it_up() -> None:
    # From --speed 0.01, - went to ×1/64: faster.
    feed = StaticFeed()
    feed.producer = dataclasses.replace(feed.producer, speed=0.01)
    app = LimitwatchApp(feed)
    told: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("minus")
        told.extend(n.message for n in app._notifications)
        await pilot.press("plus")
        told.extend(n.message for n in app._notifications)

    drive(app, script)
    assert feed.speeds == [0.02]
    assert told[0] == "speed ×1/100 is the slowest; + goes faster", told


def test_speed_keys_say_a_source_sent_as_it_comes_has_no_speed() -> None:
    feed = StaticFeed()
    feed.producer = dataclasses.replace(feed.producer, source="metrics", paced=False, speed=4.0)
    app = LimitwatchApp(feed)
    told: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("plus")
        told.extend(n.message for n in app._notifications)
        told.append(status_line(feed.latest(), 0.005, 200))

    drive(app, script)
    assert feed.speeds == []
    assert "metrics is sent as it comes: speed does not apply to it." in told
    assert "speed" not in told[-1]


def test_a_step_between_rungs_moves_to_the_next_rung_on_that_side() -> None:
    assert [next_step(0.003, -1), next_step(0.003, 1)] == [0.002, 0.005]
    assert [next_step(STEPS[0], -1), next_step(STEPS[-1], 1)] == [None, None]
    assert [next_step(0.5, -1), next_step(0.00001, 1)] == [STEPS[-1], STEPS[0]]


def test_pause_speed_and_record_keys_send_commands(tmp_path: Path) -> None:
    feed = StaticFeed()
    app = LimitwatchApp(feed, record_dir=tmp_path / "rec")

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("p", "plus", "minus", "minus", "r")
        await pilot.pause()

    drive(app, script)
    assert feed.paused == [True]
    assert feed.speeds == [2.0, 1.0, 0.5]  # each press from the last asked (was 2, 0.5, 0.5)
    assert len(feed.recordings) == 1 and str(feed.recordings[0]).endswith(".jsonl")
    assert Path(str(feed.recordings[0])).parent == tmp_path / "rec"


def test_recordings_started_within_one_second_go_to_files_of_their_own(tmp_path: Path) -> None:
    """r, r and r within a second: the second recording wrote over the first (its 17
    ticks lost), the file name being to the second."""
    feed = StaticFeed()
    app = LimitwatchApp(feed, record_dir=tmp_path)
    (tmp_path / f"limitwatch-{__import__('time').strftime('%Y%m%d-%H%M%S')}.jsonl").touch()

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("r", "r", "r")
        await pilot.pause()

    drive(app, script)
    paths = [Path(str(p)) for p in feed.recordings]
    assert len(paths) == 3 and len(set(paths)) == 3
    assert not any(p.exists() for p in paths), "none of them onto a file already there"
    assert all(re.fullmatch(r"limitwatch-\d{8}-\d{6}(-\d+)?\.jsonl", p.name) for p in paths)


class _FailedFeed(StaticFeed):
    """A feed whose reading thread has failed: its snapshot no longer changes."""

    def latest(self) -> Any:
        snap = super().latest()
        return dataclasses.replace(
            snap, failure="BadLine('bad scenario header')",
            kafka=dataclasses.replace(snap.kafka, health="FAILED"),
        )  # fmt: skip


def test_a_reading_that_failed_is_said_on_screen_not_shown_as_ok() -> None:
    """The consumer's thread died (a recording's header refused) and the screen went on
    saying OK, its rates frozen, every row warming up, for good."""
    feed = _FailedFeed()
    app = LimitwatchApp(feed)
    seen: dict[str, Any] = {}

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause()
        await pilot.pause(0.3)
        seen["toasts"] = [(n.title, str(n.message)) for n in app._notifications]
        seen["screen"] = _screen_text(app)

    drive(app, script)
    assert (
        "limitwatch failed",
        "The reading stopped: BadLine('bad scenario header'). Nothing on screen changes any "
        "more: quit (q) and start again; the log says more.",
    ) in seen["toasts"]
    assert "STALE: the reading stopped" in seen["screen"]
    assert "health    FAILED · broker UP" in seen["screen"]
    assert staleness(feed.latest()) == "the reading stopped: quit (q) and start again"


def _toasts_after(app: LimitwatchApp, key: str) -> list[str]:
    """The toasts on screen once `key` has been pressed."""
    said: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press(key)
        await pilot.pause()
        said.extend(str(n.message) for n in app._notifications)

    drive(app, script)
    return said


def test_a_record_folder_that_is_a_file_says_so_and_what_to_give(tmp_path: Path) -> None:
    # It said "cannot record to …/afile: File exists".
    afile = tmp_path / "afile"
    afile.write_text("")
    feed = StaticFeed()
    said = _toasts_after(LimitwatchApp(feed, record_dir=afile), "r")
    assert feed.recordings == []
    assert said == [
        f"cannot record to {afile}: it is a file, not a folder; give a folder with --record-dir"
    ]


def test_p_after_the_source_ended_says_so_and_pauses_nothing() -> None:
    feed = StaticFeed()
    feed.producer = dataclasses.replace(feed.producer, finished=True)
    said = _toasts_after(LimitwatchApp(feed), "p")
    assert feed.paused == []
    assert "The source has ended: nothing is left to pause." in said


def test_r_records_into_the_users_data_directory_unless_told_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    feed = StaticFeed()
    app = LimitwatchApp(feed)

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("r")
        await pilot.pause()

    drive(app, script)
    where = Path(str(feed.recordings[0])).parent
    assert where == tmp_path / "data" / "limitwatch" / "recordings"
    assert where.is_dir(), "made for the recorder to write into"


def test_slash_filters_the_watchlist_and_escape_clears_it() -> None:
    feed = StaticFeed()
    app = LimitwatchApp(feed)
    rows: list[int] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        table = app.query_one(Watchlist)
        rows.append(table.row_count)
        await pilot.press("slash", "A", "C")
        await pilot.pause(0.2)
        rows.append(table.row_count)
        await pilot.press("escape")
        await pilot.pause(0.2)
        rows.append(table.row_count)

    drive(app, script)
    assert rows == [12, 1, 12]


def test_a_filter_that_matches_nothing_says_so() -> None:
    app = LimitwatchApp(StaticFeed())
    lines: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("slash", "Z", "Z", "Z")
        await pilot.pause(0.2)
        table = app.query_one(Watchlist)
        lines.append(table.render_line(1).text)
        await pilot.pause(0.5)
        chart = app.query_one(Chart)
        lines.append("\n".join(chart.render_line(y).text for y in range(chart.size.height)))

        await pilot.press("enter", "l", "d")  # keys about the selected symbol: none is
        await pilot.pause(0.1)
        lines.append("\n".join(n.message for n in app._notifications))
        # Cleared, the filter takes its toast with it (it stayed, saying "esc to clear
        # it" of a filter gone).
        await pilot.press("slash", "escape")
        await pilot.pause(0.2)
        lines.append("\n".join(n.message for n in app._notifications))
        lines.append(str(app.query_one(Watchlist).row_count))

    drive(app, script)
    assert "no symbol matches “ZZZ”" in lines[0]
    assert "no symbol matches the filter" in lines[1] and "no ticks yet" not in lines[1]
    # "No symbol selected yet" said nothing of the filter that hid them all
    assert "No symbol matches the filter “ZZZ”: / to change it, esc to clear it." in lines[2]
    assert "No symbol selected yet" not in lines[2]
    assert "No symbol matches" not in lines[3] and lines[4] == "12"


def test_a_filter_that_matches_a_chosen_symbol_without_a_tick_names_it() -> None:
    """A symbol added with w counts in "chosen" but has no row until its first tick:
    searching for it said only that nothing matched."""
    app = LimitwatchApp(StaticFeed())
    lines: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        table = app.query_one(Watchlist)
        table.set_shown(["ACME", "QZX1"])
        await pilot.press("slash", "q", "z")
        await pilot.pause(0.2)
        lines.append(table.render_line(1).text)

    drive(app, script)
    assert "no symbol matches “qz” (QZX1: chosen, no tick yet)" in lines[0]


def test_symbols_chosen_on_another_source_leave_a_chart_that_says_so() -> None:
    # A watchlist chosen (w) on another source showed no row here, and the chart said
    # "no ticks yet" of a stream that ticked.
    from tui.runtime.settings import Settings

    feed = StaticFeed()
    app = LimitwatchApp(feed, settings=Settings(watchlist=("cpu.user", "mem.used")))
    lines: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause(0.5)
        chart = app.query_one(Chart)
        lines.append("\n".join(chart.render_line(y).text for y in range(chart.size.height)))

    drive(app, script)
    ticked = len(feed.engine.state().symbols)
    assert f"2 chosen: no ticks; {ticked} others (w)" in lines[0], lines[0]


def test_o_sorts_by_urgency_most_urgent_first() -> None:
    feed = StaticFeed()
    app = LimitwatchApp(feed)
    first: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("o")
        await pilot.pause(0.2)
        table = app.query_one(Watchlist)
        first.append(table.row_texts(0)[0])
        assert table.order == "urgency"

    drive(app, script)
    state = feed.engine.state()
    urg = urgency(state)
    assert urg[state.symbols.index(first[0])] == urg.max()


def test_f_and_t_filter_the_signals() -> None:
    feed = StaticFeed()
    app = LimitwatchApp(feed)
    seen: list[set[str]] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        log = app.query_one(SignalLog)
        await pilot.press("f")
        seen.append({row[2].plain for row in log.visible_rows()})
        await pilot.press("f", "t")
        seen.append({row[1].plain for row in log.visible_rows()})

    drive(app, script)
    symbol = feed.engine.state().symbols[0]
    assert seen[0] <= {symbol}
    assert seen[1] <= {"BUY", "SELL"}
    assert seen[1], "the seeded run has crossings"


def test_a_filter_that_leaves_no_signal_says_so_and_how_to_widen_it() -> None:
    """`t` then `f` on a symbol with no crossing left the pane blank, as if it had
    stopped."""
    feed = StaticFeed()
    app = LimitwatchApp(feed)
    shown: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        log = app.query_one(SignalLog)
        log.set_filters("crossings", "NO-SUCH")
        await pilot.pause()
        shown.append(_screen_text(app))

    drive(app, script)
    assert "No crossings of NO-SUCH yet (t: another kind, f: every" in shown[0]  # wrapped


def _screen_text(app: LimitwatchApp) -> str:
    """What the terminal shows, as plain text (from the screenshot Textual exports)."""
    svg = app.export_screenshot()
    return html.unescape("".join(re.findall(r">([^<]*)</text>", svg))).replace("\xa0", " ")


@pytest.mark.parametrize(("size", "key"), [((80, 24), "question_mark"), ((120, 40), "f1")])
def test_question_mark_shows_every_key(size: tuple[int, int], key: str) -> None:
    """? (or F1, where terminals users look for help) shows every key."""
    app = LimitwatchApp(StaticFeed())
    shown: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press(key)
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        shown.append(_screen_text(app))
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)

    drive(app, script, size=size)
    for _key, what in help_rows():
        assert what in shown[0], what  # on screen, not only on the screen stack
    described = " ".join(k for k, _ in help_rows())
    for key in ("b B / s S", "l", "[ / ]", "p", "r", "/", "o", "f", "t", "?", "q"):
        assert key in described


def test_the_help_says_more_below_only_while_there_is() -> None:
    app = LimitwatchApp(StaticFeed())
    hints: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        hints.append(_screen_text(app))
        await pilot.press("end")
        await pilot.pause(0.2)
        hints.append(_screen_text(app))
        await pilot.press("home")
        await pilot.pause(0.2)
        hints.append(_screen_text(app))

    drive(app, script, size=(80, 24))  # the help is longer than the screen
    top, bottom, again = hints
    assert "↓ more" in top and "↓ more" not in bottom and "esc closes" in bottom
    assert "↓ more" in again


@pytest.mark.parametrize(
    ("key", "last_words"), [("c", "by many points."), ("d", "earlier forecasts came to.")]
)
def test_the_forecast_windows_scroll_where_the_screen_is_short(key: str, last_words: str) -> None:
    """On a short screen (60x20 with a record of many streams; here 60x10) the track
    record and the forecast's explanation were cut off, with no way to read the rest
    (the help scrolled)."""
    app = LimitwatchApp(StaticFeed())
    shown: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause(0.2)
        await pilot.press(key)
        await pilot.pause(0.3)
        shown.append(_screen_text(app))
        await pilot.press("end")
        await pilot.pause(0.2)
        shown.append(" ".join(_screen_text(app).replace("│", " ").split()))

    drive(app, script, size=(60, 10))
    top, bottom = shown
    assert "↓ more" in top and "↓ more" not in bottom and "esc closes" in bottom
    assert last_words in bottom[bottom.index("esc closes") - 200 : bottom.index("esc closes")]


def test_keys_of_one_burst_each_scroll_the_help() -> None:
    app = LimitwatchApp(StaticFeed())
    seen: list[float] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        pages = app.screen.query_one("Pages")
        for _ in range(5):  # as a terminal delivers a burst: no refresh in between
            pages.action_scroll_down()
        seen.append(pages.scroll_y)
        pages.action_page_down()
        pages.action_scroll_up()
        seen.append(pages.scroll_y)

    drive(app, script, size=(80, 24))
    assert seen[0] == 5 and seen[1] > 5 + 10


def test_every_action_is_in_the_command_palette() -> None:
    app = LimitwatchApp(StaticFeed())
    titles: list[str] = []
    keys_help: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        commands = list(app.get_system_commands(app.screen))
        titles.extend(c.title for c in commands)
        keys_help.extend(c.help for c in commands if c.title == "Keys")

    drive(app, script)
    for needle in ("buy limit", "sell limit", "exact limits", "step", "Pause", "recording",
                   "Filter", "Sort", "Signals", "keys", "Theme"):  # fmt: skip
        assert any(needle.lower() in t.lower() for t in titles), needle
    # The monitor's list (its help screen), not Textual's panel, which squeezed the panes.
    assert keys_help == ["key: ?"], keys_help


@pytest.mark.parametrize("name", ["[/bold]", "[red]RED[/red]", "[link=x]y"])
def test_symbols_with_markup_render_literally(name: str) -> None:
    feed = StaticFeed(symbols=[name, "PLAIN"], n_ticks=200, config=EngineConfig(fast=5, slow=20))
    app = LimitwatchApp(feed)
    cells: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        table = app.query_one(Watchlist)
        cells.extend(table.row_texts(i)[0] for i in range(table.row_count))

    drive(app, script)
    assert name in cells


def test_resize_keeps_every_pane_on_screen() -> None:
    app = LimitwatchApp(StaticFeed())
    regions: list[dict[str, int]] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        for size in ((80, 24), (200, 60), (120, 40)):
            await pilot.resize_terminal(*size)
            await pilot.pause(0.1)
            regions.append(
                {
                    w: app.query_one(f"#{w}").region.area
                    for w in ("watchlist", "kafka", "chart", "signals")
                }
            )

    drive(app, script)
    for shown in regions:
        assert all(area > 0 for area in shown.values()), shown


def test_stale_data_marks_forecasts_stale() -> None:
    fresh, stale = StaticFeed(idle_s=0.2), StaticFeed(idle_s=60.0)
    assert staleness(fresh.latest()) is None
    assert "no tick for 60 s" in str(staleness(stale.latest()))
    app = LimitwatchApp(stale)
    words: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        table = app.query_one(Watchlist)
        words.extend(table.row_texts(i)[KEYS.index("forecast")] for i in range(table.row_count))

    drive(app, script)
    assert any(w.endswith("stale") for w in words)
    assert all(w.endswith(("unlikely", "stale", "warming up")) for w in words)


def test_j_and_k_move_the_selection_and_space_pauses() -> None:
    feed = StaticFeed()
    app = LimitwatchApp(feed)
    picked: list[str | None] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        table = app.query_one(Watchlist)
        await pilot.press("j", "j")
        picked.append(table.selected_symbol)
        await pilot.press("k")
        picked.append(table.selected_symbol)
        await pilot.press("space")
        await pilot.pause()

    drive(app, script)
    symbols = feed.engine.state().symbols
    assert picked == [symbols[2], symbols[1]]
    assert feed.paused == [True]


def test_the_monitor_process_freezes_its_startup_objects_out_of_the_gc() -> None:
    counts: list[int] = []
    app = LimitwatchApp(StaticFeed(), freeze_gc=True)

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause(0.1)
        counts.append(gc.get_freeze_count())

    before = gc.get_freeze_count()
    try:
        drive(app, script)
    finally:
        gc.unfreeze()  # other tests' apps must stay collectable
    assert before == 0
    assert counts[0] > 10_000  # the widgets, Textual's objects and the modules'


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60)])
def test_the_signals_pane_fills_its_height(size: tuple[int, int]) -> None:
    feed = StaticFeed(n_ticks=10_000)
    assert len(feed.signals) > 60, "the seeded run has more signals than any pane shows"
    app = LimitwatchApp(feed)
    seen: list[tuple[int, int]] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause(0.1)
        log = app.query_one(SignalLog)
        seen.append((log.shown, log.content_size.height))

    drive(app, script, size=size)
    shown, height = seen[0]
    assert height >= 5
    assert shown == height - 1  # a header line, then a signal on every other line


def test_a_real_escape_in_a_symbol_is_shown_never_sent_to_the_terminal() -> None:
    # Kafka and file sources refuse such names; the monitor must be safe with any feed.
    name = "EV\x1b[2JIL\x07"
    feed = StaticFeed(symbols=[name, "PLAIN"], n_ticks=400, config=EngineConfig(fast=5, slow=20))
    app = LimitwatchApp(feed)
    seen: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        table = app.query_one(Watchlist)
        seen.extend(table.row_texts(i)[0] for i in range(table.row_count))
        seen.append(_screen_text(app))

    drive(app, script)
    assert "EV\\x1b[2JIL\\x07" in seen[:-1]
    assert "\x1b" not in seen[-1] and "\x07" not in seen[-1]
    assert "EV\\x1b[2JIL\\x07" in seen[-1]


def _signal(symbol: str, t: float, kind: SignalKind = SignalKind.BUY_WATCH) -> Signal:
    return Signal(symbol, kind, 1, t, 100.0, 99.0, 0.64, 120.0)


def test_signal_log_lists_signals_by_event_time_whatever_order_they_came_in() -> None:
    # Across partitions a fast replay raises later ticks' signals before earlier ones.
    log = SignalLog()
    came = (_signal("A", 1_750_000_010.0), _signal("B", 1_750_000_002.0), _signal("C", 5e9))
    log.show(came, total=3)
    symbols = [row[2].plain for row in log.visible_rows()]
    assert symbols == ["C", "A", "B"]  # newest event time first


def test_a_watch_shows_its_chance_and_time_before_its_limit() -> None:
    detail = signal_cells(_signal("A", 1_750_000_000.0))[4].plain
    assert detail == "p 64% · in ~2.0 min · limit 99.00"


@pytest.mark.parametrize(
    ("room", "shown"),
    [
        (40, "p 64% · in ~2.0 min · limit 99.00"),
        (33, "p 64% · in ~2.0 min · limit 99.00"),
        (32, "p 64% · in ~2.0 min …"),
        (21, "p 64% · in ~2.0 min …"),
        (20, "p 64% …"),
        (7, "p 64% …"),
        (6, ""),
        (0, ""),
    ],
)
def test_signal_details_lose_whole_parts_when_short_of_room(room: int, shown: str) -> None:
    detail = signal_cells(_signal("A", 1_750_000_000.0))[4]
    assert fit_detail(detail, room).plain == shown


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60)])
def test_the_signals_pane_never_shows_a_limit_cut_short(size: tuple[int, int]) -> None:
    feed = StaticFeed(n_ticks=6000)
    limits = {fmt.price(s.limit) for s in feed.signals}
    app = LimitwatchApp(feed)
    lines: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause(0.1)
        log = app.query_one(SignalLog)
        lines.extend(strip.text for strip in log.render_lines(Region(0, 0, *log.size)))

    drive(app, script, size=size)
    shown = [value for line in lines for value in re.findall(r"limit ([^ │]*)", line)]
    assert set(shown) <= limits
    if size[0] >= 200:
        assert shown  # where there is room, the limits are there


def test_status_line_counts_skipped_lines_and_says_how_to_skip_a_bad_one() -> None:
    snap = StaticFeed().latest()
    skipping = dataclasses.replace(
        snap, producer=ProducerStats(source="<stdin>", finished=True, skipped=5)
    )
    assert "source ended · 5 bad lines skipped" in status_line(skipping, 0.005)
    source = FileSource("-", stream=io.BytesIO(b"ts,symbol,price\n1,A,10\n2,A,x\n"))
    producer = ProducerThread("127.0.0.1:1", source, topic="t")
    producer.run()  # the source fails at its third line; nothing reaches a broker
    stopped = dataclasses.replace(snap, producer=producer.stats())
    assert (
        "<stdin>:3: price 'x' is not a number (--skip-bad skips and counts such lines)"
        in status_line(stopped, 0.005)
    )


def test_the_status_line_keeps_counts_and_step_within_80_columns() -> None:
    snap = dataclasses.replace(
        StaticFeed().latest(),
        producer=ProducerStats(
            source="replay", finished=True, last_error="/data/day.csv:88: price 'x' is not a number"
        ),
        recording="/home/someone/.local/share/limitwatch/recordings/rec-20261203-101500.jsonl",
        recorded=12_345,
        source="replay(/data/scenarios/a-long-scenario-name.jsonl, speed=4)",
    )
    whole = status_line(snap, 0.005)
    assert cell_len(whole) > 160  # all of it, where there is room
    for width in (78, 100, 130, 158):
        line = status_line(snap, 0.005, width, stale="no tick for 12 s")
        assert cell_len(line) <= width, (width, line)
        assert line.startswith("STALE") and "source stopped" in line
        assert "source ended" not in line  # it stopped at a bad line, and says where
        if width >= 100:
            assert "source stopped at line 88" in line or "stopped: /data/day.csv:88" in line
        assert "● REC 12,345" in line and "/home/someone" not in line  # the file at most
        assert "12 symbols · 22 signals · step 0.50%" in line
        if width >= 130:
            assert "STALE: no tick for 12 s" in line and "→ rec-" in line
        if width >= 158:
            assert "● REC 12,345 → rec-20261203-101500.jsonl" in line and "stopped: /data" in line
    assert status_line(snap, 0.005, 400) == whole  # nothing cut where it fits


def test_at_80_columns_bad_lines_skipped_leave_the_step_and_the_source() -> None:
    """`STALE · source ended · 27 bad lines skipped · 3 symbols · 75 signals · step 0…`:
    the step and the source were cut at 80 columns."""
    snap = dataclasses.replace(
        StaticFeed().latest(),
        producer=ProducerStats(source="<stdin>", finished=True, skipped=27),
        source="<stdin>",
    )
    line = status_line(snap, 0.005, 78, stale="no tick for 12 s")
    assert line == "STALE · source ended · 27 skipped · 12 symbols · 22 signals · step 0.50%"
    line = status_line(snap, 0.005, 78)
    assert line == "source ended · 27 skipped · 12 symbols · 22 signals · step 0.50% · <stdin>"


def test_at_80_columns_why_it_is_stale_keeps_what_words_fit() -> None:
    """A replay falling behind read `STALE · speed max · source ended · ...` at 80
    columns: why it was stale went whole, though half of it fitted."""
    snap = dataclasses.replace(
        StaticFeed().latest(), producer=ProducerStats(source="rally.jsonl", speed=math.inf)
    )
    line = status_line(snap, 0.005, 78, stale="consumer 20 s behind since 07:01:02")
    assert line.startswith("STALE: consumer 20 s… · speed max") and line.endswith("step 0.50%")
    assert len(line) <= 78


def test_a_source_that_stops_on_a_bad_line_says_so_in_a_toast_with_the_skip_bad_hint() -> None:
    feed = StaticFeed()
    app = LimitwatchApp(feed)
    source = FileSource("-", stream=io.BytesIO(b"ts,symbol,price\n1,A,10\n2,A,x\n"))
    producer = ProducerThread("127.0.0.1:1", source, topic="t")
    producer.run()  # the source fails at its third line; nothing reaches a broker
    toasts: list[list[tuple[str, str]]] = []

    def told() -> list[tuple[str, str]]:
        return [(n.title, n.message) for n in app._notifications if n.severity == "error"]

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        feed.producer = producer.stats()
        feed.seq += 1
        toasts.append(await wait_until_async(told, pilot.pause, what=lambda: f"{told()}"))
        feed.seq += 1  # a later snapshot of the same stopped source says nothing new
        await wait_until_async(lambda: app._shown_seq == feed.seq, pilot.pause)
        toasts.append(told())

    drive(app, script)
    expected = (  # the message names the source: the title does not again
        "The source stopped",
        "<stdin>:3: price 'x' is not a number (--skip-bad skips and counts such lines)",
    )
    assert toasts == [[expected], [expected]]


def test_a_file_ended_on_a_line_without_a_newline_says_to_check_its_last_tick() -> None:
    """Its last price may have been cut short (2.95 to 2: a BUY that nothing questioned):
    a toast once, named by the file's name, and the status line."""
    feed = StaticFeed()
    app = LimitwatchApp(feed)
    note = (
        "/data/penny.csv: its last line has no newline: its price may be cut short (a file "
        "cut while it was written ends mid-line): check its last tick"
    )
    stats = ProducerStats(source="/data/penny.csv", finished=True, note=note)
    toasts: list[list[tuple[str, str]]] = []

    def told() -> list[tuple[str, str]]:
        return [(n.title, n.message) for n in app._notifications if n.severity == "warning"]

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        feed.producer = stats
        feed.seq += 1
        toasts.append(await wait_until_async(told, pilot.pause, what=lambda: f"{told()}"))
        feed.seq += 1  # said once
        await wait_until_async(lambda: app._shown_seq == feed.seq, pilot.pause)
        toasts.append(told())

    drive(app, script)
    expected = ("The source ended", "penny.csv" + note[len("/data/penny.csv") :])
    assert toasts == [[expected], [expected]]
    snap = dataclasses.replace(feed.latest(), producer=stats, source="/data/penny.csv")
    assert "source ended: check its last tick" in status_line(snap, 0.005, 200)


def test_status_line_counts_one_symbol_and_one_signal_in_the_singular() -> None:
    snap = StaticFeed(symbols=1).latest()
    one = dataclasses.replace(snap, signal_count=1)
    assert "1 symbol · 1 signal ·" in status_line(one, 0.005)
    assert "12 symbols · 0 signals ·" in status_line(
        dataclasses.replace(StaticFeed().latest(), signal_count=0), 0.005
    )


def test_the_status_line_keeps_counts_and_step_in_80_columns_whatever_the_source() -> None:
    snap = StaticFeed().latest()
    long = dataclasses.replace(snap, source="generator(seed=7, symbols=12, rate=50/s)")
    line = status_line(long, 0.005)
    assert line.index("step 0.50%") + len("step 0.50%") <= 78  # 80 less the padding
    assert line.endswith("generator(seed=7, symbols=12, rate=50/s)")


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_help_explains_the_health_words_and_the_chart_marks(size: tuple[int, int]) -> None:
    from tui.runtime.health import HEALTH_WORDS
    from tui.runtime.legend import FORECAST_WORDS, SIGNAL_MARKS

    app = LimitwatchApp(StaticFeed())
    shown: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("question_mark")
        await pilot.pause()
        for _ in range(12):  # a few lines at a time: what a short screen shows below
            shown.append(" ".join(_screen_text(app).split()))
            await pilot.press(*["down"] * 5)
            await pilot.pause()
        shown[:] = [" ".join(shown)]

    drive(app, script, size=size)
    for word, meaning in HEALTH_WORDS:
        assert f"{word} {' '.join(meaning.split()[:3])}" in shown[0], word
    for glyph, _colour, meaning in SIGNAL_MARKS.values():
        assert f"{glyph} {' '.join(meaning.split()[:2])}" in shown[0], meaning
    # The watchlist's own words too ("this help (keys, words, marks)" left them out).
    for word, meaning in FORECAST_WORDS:
        assert f"{word} {' '.join(meaning.split()[:3])}" in shown[0], word


def test_the_watchlist_title_names_each_sort_order_as_the_key_help_does() -> None:
    """`o` is described as "symbol, urgency, change, price"; the title said `by chg` and
    `by last`."""
    app = LimitwatchApp(StaticFeed())
    titles: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        table = app.query_one(Watchlist)
        for _ in range(4):
            titles.append(str(table.border_title))
            await pilot.press("o")

    drive(app, script)
    orders = [t.split(" · ")[1] for t in titles]
    assert orders == ["by symbol", "by urgency", "by change", "by price"], titles


def test_a_key_pressed_while_the_monitor_starts_goes_to_the_watchlist() -> None:
    """Textual focuses the first focusable widget when the screen starts, before the app
    focuses the watchlist: that was the hidden filter box, and a `q` pressed while the
    monitor started was typed into it (the monitor then ran on). Hidden, it takes no
    focus; shown with `/`, it does, and esc hides it again."""
    from textual.widgets import Input

    app = LimitwatchApp(StaticFeed())
    seen: list[object] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        first = next(w for w in app.screen.query("*") if w.focusable)  # what AUTO_FOCUS takes
        seen.append(type(first).__name__)
        await pilot.press("slash")
        seen.append(type(app.focused).__name__)
        await pilot.press("escape")
        box = app.query_one("#filter", Input)
        seen.append((box.display, box.focusable, type(app.focused).__name__))

    drive(app, script)
    assert seen == ["Watchlist", "Input", (False, False, "Watchlist")], seen


def test_a_source_stopped_at_a_bad_line_never_reads_as_ended_and_says_where() -> None:
    """At 80 columns a replay stopped at its 51st of 253 lines read `source ended`, as a
    replay played to its end does."""
    snap = dataclasses.replace(
        StaticFeed().latest(),
        producer=ProducerStats(
            source="replay",
            finished=True,
            last_error="/tmp/bad/binary.jsonl:51: binary data (NUL byte), not text",
        ),
        source="replay(/tmp/bad/binary.jsonl, speed=max)",
    )
    for width in (78, 100):
        line = status_line(snap, 0.005, width, stale="consumer 11 s behind")
        assert "source stopped at line 51 · 12 symbols · 22 signals · step 0.50%" in line
    assert "source stopped: /tmp/bad/binary.jsonl:51: binary data" in status_line(snap, 0.005)
    ended = dataclasses.replace(snap, producer=ProducerStats(source="replay", finished=True))
    assert "source ended · 12 symbols" in status_line(ended, 0.005, 78)


def test_ticks_held_for_a_broker_restart_are_not_called_the_users_pause() -> None:
    """A replay at max speed against a small broker budget read `STALE · PAUSED` while
    ticks flowed between restarts: the word `p` shows for the user's own pause."""
    snap = StaticFeed().latest()
    held = dataclasses.replace(
        snap, producer=ProducerStats(source="replay", paused=True, held=True)
    )
    line = status_line(held, 0.005, 78)
    assert line.startswith("HELD: broker restart · ") and "PAUSED" not in line
    paused = dataclasses.replace(snap, producer=ProducerStats(source="replay", paused=True))
    assert status_line(paused, 0.005, 78).startswith("PAUSED · ")
    # The producer thread reports which pause it is in.
    source = FileSource("-", stream=io.BytesIO(b"ts,symbol,price\n1,A,10\n"))
    producer = ProducerThread("127.0.0.1:1", source, topic="t")
    producer._apply(SetPaused(True, held=True))
    assert producer.stats().paused and producer.stats().held
    producer._apply(SetPaused(False))
    producer._apply(SetPaused(True))
    assert producer.stats().paused and not producer.stats().held
