"""80x24, the size many terminals open at, as a first-class layout: the price, both limits
and the forecast in view, every footer key the footer offers (`/` and `?` among them),
signals with their time, and toasts that leave the signals and the status line alone."""

from __future__ import annotations

import asyncio
import html
import re
from collections import defaultdict
from collections.abc import Callable

import numpy as np
import pytest
from textual.geometry import Region
from textual.widgets import Static
from textual.widgets._toast import Toast

from tests.tui.driving import drive
from tests.tui.feeds import StaticFeed
from tests.waiting import wait_until_async
from tui.app import LimitwatchApp
from tui.widgets.kafka_pane import KafkaPane
from tui.widgets.signal_log import SignalLog
from tui.widgets.watchlist import Watchlist

SIZES = [(80, 24), (100, 30), (160, 48)]


def screen_lines(app: LimitwatchApp) -> list[str]:
    """The terminal's lines as plain text, each character in its column (from the
    screenshot Textual exports: one <text> element per run, placed by its x)."""
    svg = app.export_screenshot()
    width = app.size.width
    rows: dict[float, list[str]] = defaultdict(lambda: [" "] * width)
    found = re.findall(r'<text [^>]*x="([\d.]+)" y="([\d.]+)" textLength="([\d.]+)"[^>]*>'
                       r"([^<]*)</text>", svg)  # fmt: skip
    for x, y, length, raw in found:
        text = html.unescape(raw).replace("\xa0", " ")
        if not text:
            continue
        cell = float(length) / len(text)
        col = round(float(x) / cell)
        for i, ch in enumerate(text):
            if 0 <= col + i < width:
                rows[float(y)][col + i] = ch
    return ["".join(chars) for _y, chars in sorted(rows.items())]


@pytest.mark.parametrize("size", [(50, 20), *SIZES], ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_watchlist_shows_price_limits_and_forecast_of_every_row_in_view(
    size: tuple[int, int],
) -> None:
    app = LimitwatchApp(StaticFeed())
    seen: dict[str, object] = {}

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause(0.3)
        table = app.query_one(Watchlist)
        seen["lines"] = screen_lines(app)
        seen["rows"] = [table.row_texts(r) for r in range(min(table.row_count, 5))]

    drive(app, script, size=size)
    lines = seen["lines"]
    assert isinstance(lines, list)
    assert any("Buy ≤" in line and "Sell ≥" in line and "Forecast" in line for line in lines)
    rows = seen["rows"]
    assert isinstance(rows, list)
    in_view = [row for row in rows if any(f"│ {row[0]} " in line for line in lines)]
    assert len(in_view) >= 4, (rows, lines)  # at 50x20 the watchlist has room for four
    for symbol, last, buy, sell, forecast, *_rest in in_view:
        line = next(line for line in lines if f"│ {symbol} " in line)
        assert re.search(rf"{re.escape(last)}\s+{re.escape(buy)}\s+{re.escape(sell)}\s+"
                         rf"{re.escape(forecast)}\s", line), line  # fmt: skip


def _footer(size: tuple[int, int]) -> str:
    """The footer's line, the screen's last, of a monitor of ``size``."""
    app = LimitwatchApp(StaticFeed())
    seen: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause()
        seen.append(screen_lines(app)[-1])

    drive(app, script, size=size)
    return seen[0]


@pytest.mark.parametrize("size", [(40, 20), (60, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_narrow_footer_still_offers_the_help(size: tuple[int, int]) -> None:
    """Below 70 columns the footer's last keys fall off its edge: the help, which
    lists them all, comes right after quit so that it stays in view."""
    footer = _footer(size)
    assert footer.lstrip().startswith("q Quit ? Keys "), footer


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_footer_keeps_filter_and_help(size: tuple[int, int]) -> None:
    footer = _footer(size)
    assert "/ Filter" in footer and "? Keys" in footer and "q Quit" in footer


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_signals_keep_their_time(size: tuple[int, int]) -> None:
    app = LimitwatchApp(StaticFeed())
    seen: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause(0.3)
        log = app.query_one(SignalLog)
        region = log.content_region
        lines = screen_lines(app)
        seen.extend(lines[y][region.x : region.right] for y in range(region.y + 1, region.bottom))

    drive(app, script, size=size)
    shown = [line for line in seen if line.strip()]
    assert shown and all(re.match(r"\s?\d\d:\d\d:\d\d ", line) for line in shown), shown


def _two_toasts_over(
    size: tuple[int, int],
    first: str,
    covered: Callable[[LimitwatchApp], dict[str, Region]],
    within: Callable[[LimitwatchApp], Region] | None = None,
) -> tuple[int, list[tuple[str, str]]]:
    """Pop up ``first`` and a watch toast at ``size``: how many toasts show, and each
    (toast, name) where a toast overlaps a region of ``covered`` or lies outside the
    columns of ``within``."""
    app = LimitwatchApp(StaticFeed())
    overlaps: list[tuple[str, str]] = []
    toasts: list[int] = []

    async def run() -> None:
        async with app.run_test(size=size, notifications=True) as pilot:
            await pilot.pause()
            app.notify(first, timeout=10)
            app.notify("SELL_WATCH BRIX @ 416.00: 80% in ≤60s +2 more", timeout=10)
            await wait_until_async(lambda: len(app.screen.query(Toast)) == 2, pilot.pause, 5)
            await pilot.pause()
            regions = covered(app)
            pane = within(app) if within is not None else None
            for toast in app.screen.query(Toast):
                toasts.append(1)
                for name, region in regions.items():
                    if toast.region.overlaps(region):
                        overlaps.append((str(toast.region), name))
                if pane is not None and not (
                    pane.x <= toast.region.x and toast.region.right <= pane.right
                ):
                    overlaps.append((str(toast.region), "outside the Kafka pane"))

    asyncio.run(run())
    return len(toasts), overlaps


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_toasts_leave_the_watchlist_the_signals_and_the_status_line_uncovered(
    size: tuple[int, int],
) -> None:
    """Toasts sit over the Kafka pane. At 80 columns they used to be wide enough for a
    crossing on one line, and hid the limits and forecasts of the watchlist rows under
    them; now they wrap within the pane's width, below its broker and health rows."""

    def covered(app: LimitwatchApp) -> dict[str, Region]:
        return {
            "signals": app.query_one(SignalLog).region,
            "status": app.query_one("#status", Static).region,
            "watchlist": app.query_one(Watchlist).region,
            # its broker and health rows
            "broker and health": app.query_one(KafkaPane).content_region._replace(height=2),
        }

    shown, overlaps = _two_toasts_over(
        size, "BUY ACME @ 148.20 (limit 148.24) +3 more", covered,
        lambda app: app.query_one(KafkaPane).region,
    )  # fmt: skip
    assert shown == 2 and overlaps == []


@pytest.mark.parametrize("size", [(60, 24), (69, 30)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_below_70_columns_toasts_leave_the_watchlist_and_the_status_line_uncovered(
    size: tuple[int, int],
) -> None:
    """With no Kafka pane to sit over, toasts stayed at the top right and hid the limits
    and forecasts of the watchlist's first rows (a limit just set among them): they come
    over the signals now, above the status line."""
    shown, overlaps = _two_toasts_over(
        size, "ACME buy limit → 151.36",
        lambda app: {"status": app.query_one("#status", Static).region,
                     "watchlist": app.query_one(Watchlist).region},
    )  # fmt: skip
    assert shown == 2 and overlaps == []


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_toasts_that_do_not_fit_the_kafka_pane_give_way_signal_ones_first(
    size: tuple[int, int],
) -> None:
    """A replay's crossing and WATCH toasts and a recording's long path ran over the
    signals pane's title at 80x24: the toasts that do not fit go, the signals' first
    (the signals pane lists every one), and what is left stays within the Kafka pane."""
    app = LimitwatchApp(StaticFeed())
    seen: dict[str, object] = {}
    path = "/home/someone/.local/share/limitwatch/recordings/limitwatch-20261205-191101.jsonl"

    async def run() -> None:
        async with app.run_test(size=size, notifications=True) as pilot:
            await pilot.pause()
            for text, key in (
                ("SELL SYM0161 @ 488.63 (limit 488.62) +21 more", "crossing"),
                ("SELL_WATCH SYM0091 @ 48.93: 72% in ≤8s +15 more", "watch"),
                (f"recorded 1,966 ticks to {path}", None),
                ("BUY SYM0098 @ 99.73 (limit 99.75) +3 more", "crossing"),
            ):
                app.notify(text, replaces=key, timeout=60)

            def mounted() -> bool:
                toasts = app.screen.query(Toast)
                return len(toasts) == len(app._notifications) and all(
                    t.region.height for t in toasts
                )

            await wait_until_async(mounted, pilot.pause, 5)
            await pilot.pause()
            kafka = app.query_one(KafkaPane).region
            seen["messages"] = [n.message for n in app._notifications]
            seen["outside"] = [
                str(t.region) for t in app.screen.query(Toast) if t.region.bottom > kafka.bottom
            ]

    asyncio.run(run())
    assert f"recorded 1,966 ticks to {path}" in seen["messages"]
    assert seen["outside"] == []


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_toast_alone_too_long_for_the_kafka_pane_is_cut_there(
    size: tuple[int, int], caplog: pytest.LogCaptureFixture
) -> None:
    """A source stopped on a 50 MB line said so in a toast that ran over the signals
    pane's title at 80x24 (the newest toast always shows, however long): its text is cut
    to the Kafka pane's room, with an ellipsis, and the log keeps it whole (a recording
    refused for a reason past the cut said it nowhere)."""
    app = LimitwatchApp(StaticFeed())
    seen: dict[str, object] = {}
    path = "/home/someone/data/ticks/" + "x" * 40 + ".jsonl"

    async def run() -> None:
        async with app.run_test(size=size, notifications=True) as pilot:
            await pilot.pause()
            app.notify(f"{path}:51: " + "a line that is far too long to read " * 8,
                       title="The source stopped", severity="error", timeout=60)  # fmt: skip
            await wait_until_async(lambda: len(app.screen.query(Toast)) == 1, pilot.pause, 5)
            await pilot.pause()
            kafka = app.query_one(KafkaPane).region
            toast = app.screen.query_one(Toast)
            seen["toast"] = (toast.region.y, toast.region.bottom, kafka.bottom)
            seen["message"] = [n.message for n in app._notifications]

    asyncio.run(run())
    top, bottom, kafka_bottom = seen["toast"]
    assert top == 4 and bottom <= kafka_bottom - 1, seen  # above the pane's bottom frame
    (message,) = seen["message"]
    full = f"{path}:51: " + "a line that is far too long to read " * 8
    logged = [r.getMessage() for r in caplog.records if r.name == "tui.app"]
    if size[1] < 48:  # cut where it did not fit, at a word
        assert message.endswith(" …") and full.startswith(message[:-2] + " "), message
        assert logged == [f"toast cut to fit: The source stopped: {full}"]
    else:
        assert message == full
        assert logged == []


def test_a_replaced_toast_leaves_no_row_behind() -> None:
    """Textual's rack removes a replaced toast but not its holder: each later toast came
    a row lower, over the watchlist and at last the signals."""
    app = LimitwatchApp(StaticFeed())
    tops: list[int] = []

    async def run() -> None:
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await pilot.pause()
            for i in range(6):
                app.notify(f"BUY ACME @ 148.{i}0 (limit 148.24)", timeout=10, replaces="crossing")
                await pilot.pause()
            await pilot.pause()
            tops.extend(toast.region.y for toast in app.screen.query(Toast))

    asyncio.run(run())
    assert tops == [4]  # the first place: below the title, the frame, broker and health


def metrics_feed() -> StaticFeed:
    """System metrics' long names and values up to six digits, as `--source metrics`
    shows them: 16-cell names and a limit of 102,400 pushed both limits out of view."""
    from engine import Engine, EngineConfig

    feed = StaticFeed(n_ticks=0)
    feed.engine = engine = Engine(EngineConfig(), additive=["*"])
    values = {
        "cpu.idle": 94.5,
        "disk.read_kbps": 0.0,
        "disk.write_kbps": 12.0,
        "mem.available_mb": 23_544.58,
        "net.rx_kbps": 1_250.5,
    }
    engine.set_limits("mem.available_mb", buy=2_410.5, sell=None)
    for symbol in ("disk.read_kbps", "disk.write_kbps", "net.rx_kbps"):
        engine.set_limits(symbol, buy=None, sell=102_400.0)
    ids = engine.register(list(values))
    engine.update(
        np.asarray(ids, dtype=np.int32),
        np.full(len(values), feed.last_ts),
        np.array(list(values.values())),
    )
    return feed


def test_long_names_and_large_values_keep_both_limits_in_view_at_80x24() -> None:
    app = LimitwatchApp(metrics_feed())
    seen: dict[str, object] = {}

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause(0.3)
        table = app.query_one(Watchlist)
        seen["lines"] = screen_lines(app)
        seen["rows"] = [table.row_texts(r) for r in range(table.row_count)]
        table.focus()
        await pilot.press("right")
        await pilot.pause(0.1)
        seen["scrolled"] = screen_lines(app)
        await pilot.press("right", "left", "left")
        await pilot.pause(0.1)
        seen["back"] = screen_lines(app)

    drive(app, script, size=(80, 24))
    lines = seen["lines"]
    assert isinstance(lines, list)
    rows = seen["rows"]
    assert isinstance(rows, list) and len(rows) == 5
    assert any("Buy ≤" in line and "Sell ≥" in line for line in lines)
    for symbol, last, buy, sell, *_rest in rows:
        line = next(line for line in lines if f"│ {symbol} " in line)
        assert re.search(rf"{re.escape(last)}\s+{re.escape(buy)}\s+{re.escape(sell)}\s", line)
    named = {row[0]: row for row in rows}
    # Cut to 12 cells, still told apart; cents left out from 10,000 on, and here from
    # 1,000 on, which leaves the forecast its room beside the limits.
    assert named["mem.availab…"][1:3] == ("23,545", "2,410")
    assert any(re.search(r"Sell ≥\s+Forecast", line) for line in lines), lines
    assert named["disk.read_k…"][3] == "102,400" and "disk.write_…" in named
    # One press of → brings the next column beside the symbol, not a blank.
    scrolled = seen["scrolled"]
    assert isinstance(scrolled, list)
    header = next(line for line in scrolled if "Symbol" in line)
    assert re.search(r"Symbol\s+Buy ≤\s+Sell ≥\s+Forecast", header), header
    assert seen["back"] == lines or any(
        re.search(r"Symbol\s+Last\s+Buy ≤", line)
        for line in seen["back"]  # type: ignore[union-attr]
    )


def _signals_pane_at_80x24(feed: StaticFeed) -> list[str]:
    """The lines inside the signals pane of the monitor on `feed` at 80x24."""
    app = LimitwatchApp(feed)
    seen: list[list[str]] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause(0.3)
        seen.append(screen_lines(app))

    drive(app, script, size=(80, 24))
    lines = seen[0]
    top = next(i for i, line in enumerate(lines) if "╭─ Signals" in line)
    left = lines[top].index("╭─ Signals") + 1
    return [line[left:] for line in lines[top + 1 : -3]]


@pytest.mark.parametrize(
    "symbols",
    [["SYM0055", "SYM0056", "SYM0101", "SYM0102"],
     ["mem.available_mb", "disk.write_kbps", "X" + "W" * 60]],
    ids=["seven-letter", "long"],
)  # fmt: skip
def test_signals_keep_their_time_at_80x24_whatever_the_symbols(symbols: list[str]) -> None:
    feed = StaticFeed(symbols=symbols)
    pane = _signals_pane_at_80x24(feed)
    assert len(feed.signals) >= 5
    assert re.match(r"\s*Time\s+Signal\s+Symbol\s+Price", pane[0]), pane[0]
    rows = [line for line in pane[1:] if re.search(r"[A-Z]{3}", line)]
    assert len(rows) >= 5 and all(re.match(r"\d\d:\d\d", row) for row in rows), rows
    if len(symbols[0]) == 7:  # short enough to be shown whole: told apart
        shown = {s for row in rows for s in symbols if f" {s} " in row}
        assert len(shown) >= 2 and not any("…" in row for row in rows), rows


def test_no_toast_over_a_dialog_and_it_shows_once_the_dialog_is_gone() -> None:
    """Toasts were drawn over the keys screen's and the limits dialog's text."""
    app = LimitwatchApp(StaticFeed())
    seen: list[tuple[str, int]] = []

    async def run() -> None:
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            for key in ("question_mark", "escape", "l", "escape"):
                await pilot.press(key)
                await pilot.pause()
                if key != "escape":
                    app.notify("SELL BRIX @ 416.94 (limit 416.82)", timeout=10)
                await pilot.pause()
                seen.append((type(app.screen).__name__, len(app.screen.query(Toast))))

    asyncio.run(run())
    assert seen == [("HelpScreen", 0), ("Screen", 1), ("LimitsDialog", 0), ("Screen", 1)]


def test_a_watch_toast_writes_the_horizon_without_a_space_to_break_at() -> None:
    """In a toast as narrow as the Kafka pane "... in ≤60 s" wrapped to leave an "s"
    alone on a line."""
    feed = StaticFeed()
    watch = next(s for s in feed.signals if s.kind.name.endswith("_WATCH"))
    app = LimitwatchApp(feed)
    told: list[str] = []

    async def run() -> None:
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await pilot.pause(0.3)
            feed.signals.append(watch)
            feed.seq += 1
            await wait_until_async(
                lambda: any("_WATCH" in n.message for n in app._notifications), pilot.pause, 5
            )
            told.extend(n.message for n in app._notifications if "_WATCH" in n.message)

    asyncio.run(run())
    assert told and told[0].endswith(" in ≤60s"), told


def test_shrunk_to_80_columns_the_footer_drops_the_palette_hint_over_its_keys() -> None:
    """Started at 100 columns and shrunk to 80, the footer kept "^p palette" drawn over
    "? Keys" (it showed its keys anew only when told)."""
    from textual.widgets import Footer

    app = LimitwatchApp(StaticFeed())
    hints: list[int] = []

    async def run() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            for size in ((80, 24), (160, 48), (80, 24)):
                await pilot.resize_terminal(*size)
                await pilot.pause(0.2)
                hints.append(len(app.query_one(Footer).query(".-command-palette")))

    asyncio.run(run())
    assert hints == [0, 1, 0]


def _sells_at_80x24(symbols: list[str], scale: dict[str, float]) -> list[str]:
    """The signals pane at 80x24 of the generator's `symbols` at `scale`, once each has
    ticked past its sell limit: a SELL at its price."""
    from tests.tui.test_watchlist import _priced

    feed = _priced(symbols, scale)
    state = feed.engine.state()
    ids = feed.engine.register(list(symbols))
    fired = feed.engine.update(
        np.asarray(ids, dtype=np.int32),
        np.full(len(ids), float(np.max(state.t_last)) + 1.0),
        np.array([float(state.sell[i]) * 1.01 for i in ids]),
    )
    feed.signals = list(fired)
    return _signals_pane_at_80x24(feed)


def test_signals_keep_their_time_beside_a_long_symbol_and_six_figure_prices() -> None:
    """Prices of 625,350.00 beside a twenty-letter symbol left the time one cell short,
    with the symbol cut to 8 cells: the time went. The symbol is cut to 6 first."""
    from tests.tui.test_watchlist import _CROWDED

    pane = _sells_at_80x24(*_CROWDED)
    rows = [line for line in pane[1:] if re.search(r"\d{3},\d{3}\.\d\d", line)]
    assert rows, pane  # a six-figure price is listed
    assert re.match(r"\s*Time\s+Signal\s+Symbol\s+Price", pane[0]), pane[0]
    assert all(re.match(r"\s*\d\d:\d\d", row) for row in rows), rows


def test_signals_of_ten_figure_prices_keep_their_time_and_lose_their_cents() -> None:
    """At 80x24 a price of 1,018,070,000.00 took the time column: such prices lose their
    cents first, as the watchlist's do where room is short."""
    names = ["HUGE", "BTCUSDT", "VERYLONGSYMBOLNAME.X"]
    pane = _sells_at_80x24(names, {"HUGE": 1_018_070_000 / 150, "BTCUSDT": 43_000 / 150,
                                   "VERYLONGSYMBOLNAME.X": 12_345 / 150})  # fmt: skip
    rows = [line for line in pane[1:] if "HUGE" in line]
    assert rows, pane
    assert re.match(r"\s*Time\s+Signal\s+Symbol\s+Price", pane[0]), pane[0]
    assert all(re.match(r"\s*\d\d:\d\d", row) for row in rows), rows
    assert all(re.search(r"\d,\d{3},\d{3},\d{3}(?![.\d])", row) for row in rows), rows


def test_the_signals_pane_tells_apart_symbols_its_cut_would_draw_alike() -> None:
    """At 80x24 the pane cuts symbols to 8 cells: `mem.avai…` for both nodes' signals."""
    names = ["mem.available_bytes.node1", "mem.available_bytes.node2"]
    feed = StaticFeed(symbols=names)
    pane = _signals_pane_at_80x24(feed)
    assert {s.symbol for s in feed.signals} == set(names)
    symbols = {m.group(1) for line in pane if (m := re.search(r" (mem\S*)", line))}
    assert len(symbols) == 2 and all("node" in s or s.endswith(("1", "2")) for s in symbols), pane


@pytest.mark.parametrize(("size", "tiny"), [((50, 20), True), ((69, 24), True), ((70, 24), False)])
def test_below_70_columns_the_kafka_pane_and_the_chart_give_way(
    size: tuple[int, int], tiny: bool
) -> None:
    """At 40 columns the Kafka pane kept its 30 and the watchlist showed symbols without
    a price: below 70 the watchlist and the signals take the width."""
    from tui.widgets.chart import Chart

    app = LimitwatchApp(StaticFeed())
    seen: dict[str, object] = {}

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause(0.3)
        seen["kafka"] = app.query_one(KafkaPane).region.width
        seen["chart"] = app.query_one(Chart).region.width
        seen["watchlist"] = app.query_one(Watchlist).region.width
        seen["signals"] = app.query_one(SignalLog).region.width

    drive(app, script, size=size)
    width = size[0]
    if tiny:
        assert seen["kafka"] == seen["chart"] == 0, seen
        assert seen["watchlist"] == seen["signals"] == width, seen
    else:
        assert seen["kafka"] and seen["chart"], seen
        assert seen["watchlist"] < width and seen["signals"] < width, seen


def test_a_terminal_too_small_for_the_panes_says_so_and_they_come_back_when_it_grows() -> None:
    """At 20x5 the screen showed a watchlist's border with nothing in it and said
    nothing of why."""
    feed = StaticFeed()
    app = LimitwatchApp(feed)
    seen: list[list[str]] = []
    rows: list[int] = []
    sent: list[int] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        await pilot.resize_terminal(20, 5)
        await pilot.pause()
        seen.append(screen_lines(app))
        # The limit keys do nothing to a row no one sees (they moved its limits).
        await pilot.press("b", "S")
        await pilot.pause()
        sent.append(len(feed.commands))
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        seen.append(screen_lines(app))
        # The keys move the watchlist again (the focus went with the hidden panes).
        await pilot.press("down", "down")
        await pilot.pause()
        rows.append(app.query_one(Watchlist).cursor_row)
        await pilot.press("b")
        await pilot.pause()
        sent.append(len(feed.commands))

    drive(app, script, size=(120, 40))
    small, grown = ("\n".join(lines) for lines in seen)
    assert "Too small (20x5):" in small and "30x8; q quits." in small, small
    assert "Watchlist" not in small and "q Quit" in small
    assert "Too small" not in grown and "Watchlist" in grown and "ACME" in grown
    assert rows == [2]
    assert sent == [0, 1]


def test_a_signal_toast_too_long_is_cut_but_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A crossing toast is cut to the Kafka pane's room like any other, but not written
    to the log each time: the signals pane and the signal history hold every signal."""
    app = LimitwatchApp(StaticFeed())
    seen: dict[str, object] = {}
    text = "SELL " + "VERY.LONG.SYMBOL.NAME " * 12 + "@ 1.00 (limit 1.00) +12 more"

    async def run() -> None:
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await pilot.pause()
            app.notify(text, severity="warning", timeout=60, replaces="crossing")
            await wait_until_async(lambda: len(app.screen.query(Toast)) == 1, pilot.pause, 5)
            seen["message"] = [n.message for n in app._notifications]

    asyncio.run(run())
    (message,) = seen["message"]
    assert message.endswith(" …") and len(message) < len(text), message
    assert not [r for r in caplog.records if r.name == "tui.app"]
