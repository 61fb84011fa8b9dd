"""The chart: long histories thinned to two points a column with every run's lowest and
highest price kept (spikes stay), and limits moved by keys redrawn after a short wait."""

from __future__ import annotations

import doctest
import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from textual.content import Content

import tui.widgets.chart as chart_module
from engine import Engine, EngineConfig
from tui.widgets.chart import LIMITS_SETTLE_S, Chart, envelope

prices = arrays(
    np.float64,
    st.integers(1, 3000),
    elements=st.floats(1.0, 1e6, allow_nan=False),
)


@given(prices, st.integers(1, 300))
def test_envelope_keeps_every_runs_extremes_in_time_order(y: np.ndarray, buckets: int) -> None:
    x = np.arange(len(y), dtype=float)
    xs, ys = envelope(x, y, buckets)
    assert len(xs) == len(ys) <= max(len(y), 2 * buckets)
    assert np.all(np.diff(xs) >= 0)
    assert ys.min() == y.min() and ys.max() == y.max()
    if len(y) > 2 * buckets:
        starts = np.linspace(0, len(y), buckets + 1).astype(int)
        for b in range(buckets):
            run = y[starts[b] : starts[b + 1]]
            pair = ys[2 * b : 2 * b + 2]
            assert sorted(pair.tolist()) == [run.min(), run.max()]


def test_a_short_history_is_drawn_as_it_is() -> None:
    x, y = np.arange(5.0), np.array([3.0, 1, 4, 1, 5])
    xs, ys = envelope(x, y, 10)
    assert xs is x and ys is y


def test_envelope_example_runs() -> None:
    failed, attempted = doctest.testmod(chart_module)
    assert attempted > 0 and failed == 0


def test_moved_limits_redraw_the_chart_after_a_short_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine(EngineConfig(fast=3, slow=5))
    engine.register(["ACME"])
    engine.update(np.zeros(50, dtype=np.int32), np.arange(50.0), 100 + np.sin(np.arange(50.0)))
    history = engine.history("ACME")
    clock = [1000.0]
    monkeypatch.setattr(chart_module.time, "monotonic", lambda: clock[0])
    chart = Chart()
    drawn: list[tuple[float, float]] = []

    def show(limits: tuple[float, float]) -> None:
        chart.show("ACME", history, limits, ())
        drawn.append(chart._key[3] if chart._key else (math.nan, math.nan))

    show((99.0, 101.0))  # first draw: at once
    clock[0] += 0.05
    show((99.5, 101.0))  # a key moved the buy limit: not yet
    clock[0] += 0.1
    show((99.6, 101.0))  # and again
    clock[0] += LIMITS_SETTLE_S
    show((99.6, 101.0))  # 0.2 s after the first move: drawn
    assert drawn == [(99.0, 101.0), (99.0, 101.0), (99.0, 101.0), (99.6, 101.0)]


def _plot_lines(chart: Chart) -> list[str]:
    """What the chart draws inside its border, as plain lines."""
    return chart.render().plain.split("\n")  # type: ignore[union-attr]


def _label(line: str) -> str:
    return line.split("┤")[0].split("├")[0].split("│")[0].strip()


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (160, 48)])
def test_a_limit_line_sits_on_the_row_labelled_with_its_limit(size: tuple[int, int]) -> None:
    from tests.tui.driving import drive
    from tests.tui.feeds import StaticFeed
    from tui.app import LimitwatchApp

    feed = StaticFeed()
    app = LimitwatchApp(feed)
    seen: dict[str, object] = {}

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause(0.3)
        chart = app.query_one(Chart)
        seen["lines"] = _plot_lines(chart)
        seen["symbol"] = feed.selected

    drive(app, script, size=size)
    lines = seen["lines"]
    assert isinstance(lines, list)
    buy, sell = feed.engine.limits(str(seen["symbol"]))
    lined = [_label(line) for line in lines if line.count("─") >= 8 and "┬" not in line
             and "┌" not in line and "└" not in line]  # fmt: skip
    shown = {f"{buy:,.2f}", f"{sell:,.2f}"}
    assert lined, "a limit within the scale is drawn as a line"
    assert set(lined) <= shown  # each line's row reads its own limit
    arrows = [line for line in lines if "↑" in line or "↓" in line]
    assert len(lined) + len(arrows) == 2  # the other limit, off the scale, is an arrow


def _app_with(history_t: np.ndarray, prices: np.ndarray, limits: tuple[float, float]):  # type: ignore[no-untyped-def]
    from textual.app import App, ComposeResult

    engine = Engine(EngineConfig(fast=3, slow=5))
    engine.register(["ACME"])
    engine.update(np.zeros(len(history_t), dtype=np.int32), history_t, prices)
    history = engine.history("ACME")

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield Chart()

        def on_mount(self) -> None:
            self.call_after_refresh(lambda: self.query_one(Chart).show("ACME", history, limits, ()))

    return One()


def _run(app, size: tuple[int, int] = (80, 16)) -> list[str]:  # type: ignore[no-untyped-def]
    import asyncio

    out: list[str] = []

    async def go() -> None:
        async with app.run_test(size=size) as pilot:
            await pilot.pause(0.2)
            chart = app.query_one(Chart)
            out.extend(_plot_lines(chart))
            subtitle = chart.border_subtitle
            out.append(Content.from_markup(str(subtitle)).plain)

    asyncio.run(go())
    return out


def test_a_far_limit_is_an_arrow_at_the_edge_and_the_price_keeps_its_rows() -> None:
    t = np.arange(200.0)
    prices = 100 + 2 * np.sin(t / 20)  # 98 .. 102
    lines = _run(_app_with(t, prices, (50.0, 300.0)))
    plot = [line for line in lines if "│" in line or "┤" in line or "├" in line]
    assert any("↑ sell 300.00" in line for line in plot)
    assert any("↓ buy 50.00" in line for line in plot)
    braille_rows = [line for line in plot if any("\u2800" < c <= "\u28ff" for c in line)]
    assert len(braille_rows) >= len(plot) // 2  # not squashed into a row or two


def test_both_limits_off_one_edge_share_its_arrow() -> None:
    t = np.arange(200.0)
    prices = 100 + 2 * np.sin(t / 20)  # 98 .. 102, both limits below (the sell reached)
    lines = _run(_app_with(t, prices, (14.0, 60.0)))
    assert any("↓ buy 14.00 · sell 60.00" in line for line in lines), lines


def test_both_limits_on_one_row_are_said_in_words_there() -> None:
    """At 80x24 (three rows of plot) a buy limit 0.10 below the sell drew one line and
    one label, the sell's: the buy had neither."""
    t = np.arange(200.0)
    prices = 150 + 2 * np.sin(t / 20)  # 148 .. 152
    lines = _run(_app_with(t, prices, (150.4, 150.5)), size=(80, 24))
    assert any("= buy 150.40 · sell 150.50" in line for line in lines), lines
    wide = _run(_app_with(t, prices, (150.4, 150.5)), size=(160, 48))
    assert not any("= buy" in line for line in wide), wide  # rows apart there: two lines


def test_the_legend_is_outside_the_plot_with_a_glyph_per_line() -> None:
    t = np.arange(200.0)
    lines = _run(_app_with(t, 100 + np.sin(t / 9), (99.0, 101.0)))
    *plot, subtitle = lines
    assert not any(word in line for line in plot for word in ("price", "fast", "slow"))
    names = subtitle.split()
    assert names[1::2] == ["price", "fast", "slow"]
    assert len(set(names[0::2])) == 3, subtitle  # three different marks


def test_a_long_history_reads_clock_time_on_the_x_axis() -> None:
    # An overnight gap: two sessions 64 hours apart (the axis read -231979.6 s).
    t = np.concatenate([np.arange(100.0), 231_900.0 + np.arange(100.0)]) + 1_700_000_000.0
    prices = 100 + np.sin(np.arange(200.0) / 9)
    lines = _run(_app_with(t, prices, (99.0, 101.0)), size=(80, 16))
    text = "\n".join(lines)
    assert "seconds before" not in text and "-231979" not in text
    assert "time (UTC)" in text
    assert any(re.search(r"\d\d:\d\d", line) for line in lines[-4:])


def test_z_zooms_the_chart_to_the_latest_seconds_and_Z_back_to_all() -> None:
    from tests.tui.driving import drive
    from tests.tui.feeds import StaticFeed
    from tests.waiting import wait_until_async
    from tui.app import LimitwatchApp

    app = LimitwatchApp(StaticFeed())
    seen: dict[str, object] = {}

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        chart = app.query_one(Chart)
        await wait_until_async(lambda: chart._key is not None, pilot.pause, 5)
        seen["all"] = chart.drawn_s
        await pilot.press("z")  # 15 min of a history of about a minute: looks like all
        seen["wide"] = [n.message for n in app._notifications]
        # The title says what is drawn: the minute kept, not the 15 asked for.
        await wait_until_async(lambda: "(all kept)" in str(chart.border_title), pilot.pause, 5)
        seen["wide title"] = str(chart.border_title)
        await pilot.press(*"zzzz")  # 5, 2, 1 min, 30 s
        await wait_until_async(lambda: "last 30 s" in str(chart.border_title), pilot.pause, 5)
        seen["narrow"] = [n.message for n in app._notifications][-1]
        seen["zoomed"] = chart.drawn_s
        await pilot.press("z")  # past the end: said, nothing changes
        await wait_until_async(
            lambda: any("shortest" in n.message for n in app._notifications), pilot.pause, 5
        )
        await pilot.press(*"ZZZZZ")
        await wait_until_async(lambda: "last" not in str(chart.border_title), pilot.pause, 5)
        seen["back"] = chart.drawn_s

    drive(app, script)
    assert seen["all"] > 50  # the seeded history spans about a minute
    assert any(
        re.fullmatch(r"chart: the last 15 min; \d\d s of ticks so far", m)
        for m in seen["wide"]  # type: ignore[union-attr]
    ), seen["wide"]
    assert re.search(r"· last \d\d s \(all kept\)$", seen["wide title"]), seen["wide title"]  # type: ignore[arg-type]
    assert seen["narrow"] == "chart: the last 30 s"
    assert 25 < seen["zoomed"] <= 30
    assert seen["back"] == seen["all"]


def test_with_history_0_the_chart_says_it_keeps_none_not_that_no_tick_came() -> None:
    from engine import EngineConfig
    from tests.tui.driving import drive
    from tests.tui.feeds import StaticFeed
    from tests.waiting import wait_until_async
    from tui.app import LimitwatchApp

    app = LimitwatchApp(StaticFeed(config=EngineConfig(history=0)))
    said: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        chart = app.query_one(Chart)
        await wait_until_async(lambda: chart._key is not None, pilot.pause, 5)
        said.append(str(chart._key))

    drive(app, script)
    assert "--history 0 keeps no ticks" in said[0]


def test_a_far_limit_of_a_large_price_is_written_without_cents() -> None:
    # A sell limit of a billion was written "1,009,800,000.00" and cut at 80 columns.
    t = np.arange(200.0)
    prices = 1e9 + 2e6 * np.sin(t / 20)
    lines = _run(_app_with(t, prices, (5e8, 1_009_800_000.0)))
    plot = [line for line in lines if "│" in line or "┤" in line or "├" in line]
    assert any("↑ sell 1,009,800,000 " in line + " " for line in plot), plot
    assert not any("1,009,800,000." in line for line in plot)


def test_at_the_shortest_zoom_a_shorter_history_is_said_as_the_title_says_it() -> None:
    # The toast said "the shortest, 30 s" under a title of "last 18 s (all kept)".
    from tests.tui.driving import drive
    from tests.tui.feeds import StaticFeed
    from tui.app import LimitwatchApp

    app = LimitwatchApp(StaticFeed(n_ticks=900))  # about 18 s of ticks
    told: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press(*"zzzzzz")  # 15, 5, 2, 1 min, 30 s, then past the end
        told.extend(n.message for n in app._notifications)

    drive(app, script)
    assert re.fullmatch(
        r"the chart shows the shortest, 30 s; 1\d s of ticks so far already; Z goes back",
        told[-1],
    ), told


def test_a_zoom_on_a_quiet_symbol_is_not_called_all_kept() -> None:
    """16 hours kept, the last ticks within 20 s of each other after an overnight gap:
    `z` read "last 20 s (all kept)", as if no more was kept."""
    from engine.state import History

    t = np.array([0.0, 60.0, 57_600.0, 57_605.0, 57_610.0])
    price = np.array([80.0, 80.5, 76.0, 76.1, 76.05])
    gap = History(t, price, price, price)
    chart = Chart()
    chart.span_s = 20.0
    chart.show("HALO", gap, (77.0, 83.0), ())
    assert str(chart.border_title) == "Chart · HALO · last 20 s"
    short = History(t[-3:], price[-3:], price[-3:], price[-3:])  # 10 s kept: all of it
    chart = Chart()
    chart.span_s = 20.0
    chart.show("HALO", short, (77.0, 83.0), ())
    assert str(chart.border_title) == "Chart · HALO · last 10 s (all kept)"


def test_a_symbol_of_one_tick_has_no_seconds_after_it_on_the_axis() -> None:
    """Its x axis read `-1.00 -0.50 0.00 0.50 1.00 seconds before the latest tick`: half of
    it after the latest tick. Its far limit's arrow is still written in full."""
    lines = _run(_app_with(np.array([1.75e9]), np.array([100.0]), (50.0, 300.0)))
    axis = next(line for line in lines if re.search(r"-1\.0+ ", line))
    assert "0.50" not in axis.replace("-0.50", "") and "1.00" not in axis.replace("-1.00", "")
    assert any("↑ sell 300.00" in line for line in lines)


def test_two_long_names_that_differ_at_their_end_keep_it_in_the_chart_title() -> None:
    """Two 64-character names differing in their last letter: the title, cut at its end
    by the border, read the same for both even at 120 columns. The name is cut in the
    middle to the room there is, its end kept."""
    import asyncio

    from textual.app import App, ComposeResult

    from engine.state import History

    t = np.array([0.0, 1.0, 2.0])
    price = np.array([80.0, 80.5, 80.2])
    history = History(t, price, price, price)
    titles: list[str] = []

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield Chart()

    async def run() -> None:
        app = Host()
        async with app.run_test(size=(60, 24)) as pilot:
            chart = app.query_one(Chart)
            for name in ("X" * 64, "X" * 63 + "Y"):
                chart.show(name, history, (77.0, 83.0), ())
                await pilot.pause()
                titles.append(str(chart.border_title))

    asyncio.run(run())
    assert titles[0] != titles[1] and titles[1].endswith("XY"), titles
    assert all("…" in title and len(title) <= 60 - 4 for title in titles), titles


@pytest.mark.parametrize(
    ("symbol", "zoomed", "room", "title"),
    [  # a chart pane at 80x24 has 34 cells of title
        ("ACME", " · last 5.4 s (all kept)", 34, "Chart · ACME · last 5.4 s"),
        ("mem.available.node2", " · last 2.1 min (all kept)", 34,
         "mem.available.node2 · last 2.1 min"),
        ("BTC-PERP-2025-06-27", " · last 2.1 min (all kept)", 28, "BTC-PERP-2025-06-27"),
        ("BTC-PERP-2025-06-27", " · last 15 min", 20, "BTC-PERP-2025-06-27"),
    ],
)  # fmt: skip
def test_the_chart_title_keeps_the_symbol_before_its_other_words(
    symbol: str, zoomed: str, room: int, title: str
) -> None:
    """At 80x24 the zoom's words left the name one cell (`Chart · A… · last 5.4 s (all
    kept)`): the name is kept before "(all kept)", "Chart · " and the zoom."""
    from tui.widgets.chart import chart_title

    assert chart_title(symbol, zoomed, room) == title
    assert len(title) <= room
