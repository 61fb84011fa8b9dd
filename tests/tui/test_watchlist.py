"""The watchlist widget: a limit asked for shows at once and is confirmed by the engine,
the cursor keeps its symbol through re-sorts, headers sort on a click, paging keys move
the cursor, and only rows in view are formatted."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from engine import Engine, EngineConfig
from producer.generator import MarketGenerator
from tests.tui.driving import drive
from tests.tui.feeds import START, StaticFeed
from tui import app as app_module
from tui.app import LimitwatchApp
from tui.widgets import watchlist as watchlist_module
from tui.widgets.watchlist import KEYS, PAD, SYMBOL_MAX, Watchlist, safe_symbol


class SlowFeed(StaticFeed):
    """Takes limit commands but applies them only when `apply()` is called, as a worker
    busy with a batch would."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[tuple[str, float | None, float | None]] = []

    def set_limits(self, symbol: str, buy: float | None, sell: float | None) -> None:
        self.held.append((symbol, buy, sell))

    def apply(self) -> None:
        for command in self.held:
            super().set_limits(*command)
        self.held.clear()


class DeafFeed(StaticFeed):
    """Never applies a limit (a worker that is gone)."""

    def set_limits(self, symbol: str, buy: float | None, sell: float | None) -> None:
        self.commands.append((symbol, buy, sell))


def test_a_stepped_limit_shows_before_the_engine_reports_it_then_is_confirmed() -> None:
    feed = SlowFeed()
    symbol = feed.engine.state().symbols[0]
    old_buy = feed.engine.limits(symbol)[0]
    app = LimitwatchApp(feed, step=0.01)
    seen: list[tuple[str, bool]] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        table = app.query_one(Watchlist)
        seen.append((table.cell_text(symbol, "buy"), table.is_pending(symbol)))
        await pilot.press("B")
        seen.append((table.cell_text(symbol, "buy"), table.is_pending(symbol)))
        feed.apply()
        await pilot.pause(0.2)  # the next snapshot reports the limit
        seen.append((table.cell_text(symbol, "buy"), table.is_pending(symbol)))

    drive(app, script)
    new_buy = feed.engine.limits(symbol)[0]
    assert new_buy > old_buy
    assert seen[0] == (f"{old_buy:,.2f}", False)
    assert seen[1] == (f"{new_buy:,.2f}", True)  # before the engine had it
    assert seen[2] == (f"{new_buy:,.2f}", False)


def test_a_limit_the_engine_never_reports_falls_back_to_the_engines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app_module, "PENDING_S", 0.2)
    feed = DeafFeed()
    symbol = feed.engine.state().symbols[0]
    old_buy = feed.engine.limits(symbol)[0]
    app = LimitwatchApp(feed, step=0.01)
    seen: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        table = app.query_one(Watchlist)
        await pilot.press("B")
        seen.append(table.cell_text(symbol, "buy"))
        feed.seq += 1  # snapshots keep coming, without the limit
        await pilot.pause(0.4)
        feed.seq += 1
        await pilot.pause(0.3)
        seen.append(table.cell_text(symbol, "buy"))

    drive(app, script)
    assert feed.commands, "the key sent a command"
    assert seen[0] != f"{old_buy:,.2f}"
    assert seen[1] == f"{old_buy:,.2f}"


def test_the_cursor_keeps_its_symbol_when_the_order_changes() -> None:
    feed = StaticFeed()
    app = LimitwatchApp(feed)
    picked: list[tuple[str | None, str | None]] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        table = app.query_one(Watchlist)
        await pilot.press("j", "j", "j")
        before = table.selected_symbol
        for _ in range(3):
            await pilot.press("o")
            await pilot.pause(0.1)
            picked.append((before, table.selected_symbol))

    drive(app, script)
    assert all(before == after and before is not None for before, after in picked)


def test_clicking_a_column_header_sorts_by_it() -> None:
    app = LimitwatchApp(StaticFeed())
    orders: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        table = app.query_one(Watchlist)
        widths = table._widths
        for column in ("chg", "forecast", "symbol"):
            x = 1 + sum(widths[k] + 2 * PAD for k in KEYS[: KEYS.index(column)]) + PAD
            await pilot.click(Watchlist, offset=(x, 1))  # 1: inside the border, the header
            await pilot.pause(0.1)
            orders.append(table.order)

    drive(app, script)
    assert orders == ["chg", "urgency", "symbol"]


def test_paging_keys_move_the_cursor_and_keep_it_in_view() -> None:
    feed = StaticFeed(symbols=60, n_ticks=1200)
    app = LimitwatchApp(feed)
    rows: list[tuple[int, int, int]] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        table = app.query_one(Watchlist)
        for key in ("end", "home", "pagedown"):
            await pilot.press(key)
            await pilot.pause(0.05)
            top = round(table.scroll_y)
            rows.append((table.cursor_row, top, top + table.size.height - 2))

    drive(app, script)
    end, home, page = rows
    assert end[0] == 59 and end[1] <= 59 <= end[2]
    assert home[0] == 0 and home[1] == 0
    assert page[0] > 0 and page[1] <= page[0] <= page[2]


@pytest.mark.parametrize("size", [(80, 24), (60, 20), (120, 40)])
def test_the_selected_row_is_on_screen_even_under_a_horizontal_scrollbar(
    size: tuple[int, int],
) -> None:
    """At 80 columns the watchlist scrolls sideways, and its scrollbar takes a line: the
    last symbols, selected, must still come into view."""
    app = LimitwatchApp(StaticFeed(symbols=14))
    seen: list[tuple[str, str]] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        table = app.query_one(Watchlist)
        for key in ("end", "k", "home", "pagedown"):
            await pilot.press(key)
            await pilot.pause(0.1)
            symbol = table.selected_symbol
            assert symbol is not None
            seen.append((symbol, _watchlist_text(app, table)))

    drive(app, script, size=size)
    for symbol, text in seen:
        assert symbol in text, (symbol, text)


def test_columns_widened_by_a_large_limit_narrow_again_once_it_is_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One symbol's limits in the thousands widen both limit columns (at 80 columns the
    forecast goes off screen); set back, the room is given back after WIDTH_HOLD_S, not
    kept for good."""
    feed = StaticFeed()
    symbol = feed.engine.state().symbols[0]
    buy, sell = feed.engine.limits(symbol)

    def widen(_table: Watchlist) -> None:
        feed.set_limits(symbol, 1500.25, 20000.0)

    def restore() -> None:
        feed.set_limits(symbol, buy, sell)

    widths, shown = _widened_and_held(
        monkeypatch, feed, widen, restore, lambda t: t._widths["buy"] + t._widths["sell"]
    )
    before, wide, held, after = widths
    assert wide > before and held == wide and after == before
    assert shown[0] and shown[-1]  # the forecast column (its percentages) is back


def _widened_and_held(
    monkeypatch: pytest.MonkeyPatch,
    feed: StaticFeed,
    widen: Callable[[Watchlist], None],
    restore: Callable[[], None],
    width: Callable[[Watchlist], int],
) -> tuple[list[int], list[bool]]:
    """At 80x24, a column's `width` and whether the forecast (its percentages) is on
    screen: before, once `widen` has run, after `restore` and half of WIDTH_HOLD_S (still
    held: no jitter), and after the hold."""
    clock = [1000.0]
    monkeypatch.setattr(watchlist_module, "_clock", lambda: clock[0])
    app = LimitwatchApp(feed)
    widths: list[int] = []
    shown: list[bool] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        table = app.query_one(Watchlist)

        async def settle() -> None:
            feed.seq += 1
            await pilot.pause(0.3)
            widths.append(width(table))
            shown.append("%" in _watchlist_text(app, table))

        await settle()
        widen(table)
        await settle()
        restore()
        clock[0] += watchlist_module.WIDTH_HOLD_S / 2
        await settle()
        clock[0] += watchlist_module.WIDTH_HOLD_S
        await settle()

    drive(app, script, size=(80, 24))
    return widths, shown


def _watchlist_text(app: LimitwatchApp, table: Watchlist) -> str:
    """The characters on screen inside the watchlist's region."""
    region = table.content_region
    strips = app.screen._compositor.render_strips()
    return "\n".join(
        strips[y].crop(region.x, region.right).text for y in range(region.y, region.bottom)
    )


def test_only_rows_in_view_are_formatted(monkeypatch: pytest.MonkeyPatch) -> None:
    formatted: list[str] = []
    real = watchlist_module.format_row

    def counting(values, *how):  # type: ignore[no-untyped-def]
        formatted.append(values.symbol)
        return real(values, *how)

    monkeypatch.setattr(watchlist_module, "format_row", counting)
    feed = StaticFeed(symbols=300, n_ticks=3000)
    app = LimitwatchApp(feed)
    shown: list[int] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        table = app.query_one(Watchlist)
        await pilot.pause(0.2)
        shown.append(table.size.height - 1)
        shown.append(table.row_count)

    drive(app, script)
    in_view, rows = shown
    assert rows == 300
    assert 0 < len(set(formatted)) <= in_view


@pytest.mark.parametrize(
    ("symbol", "shown"),
    [
        ("ACME", "ACME"),
        ("A\x1b[31mB\x07", "A\\x1b[31mB\\x07"),  # shown, never acted on by the terminal
        ("X" * 30, "X" * (SYMBOL_MAX - 1) + "…"),
        ("株" * 20, "株" * 11 + " …"),  # wide characters take two cells; one does not fit
    ],
)
def test_symbols_are_drawn_without_control_codes_and_cut_to_the_column(
    symbol: str, shown: str
) -> None:
    text = safe_symbol(symbol)
    assert text == shown
    assert cell_len(text) <= SYMBOL_MAX


def test_columns_are_shown_whole_or_not_at_all_and_the_symbol_stays_when_scrolled() -> None:
    app = LimitwatchApp(StaticFeed())
    views: list[tuple[int, list[list[str]], list[set[str]]]] = []

    def cells(line: str) -> list[str]:
        return [cell for cell in re.split(r"\s{2,}", line.strip()) if cell]

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        table = app.query_one(Watchlist)
        await pilot.pause(0.1)
        assert table.virtual_size.width > table.size.width  # some columns out of view
        for scroll in (0, 3, table.virtual_size.width - table.size.width):
            table.scroll_to(x=scroll, animate=False, immediate=True)
            await pilot.pause(0.05)
            lines = [cells(table.render_line(y).text) for y in range(4)]
            whole = [{label for _key, label in watchlist_module.COLUMNS}]
            whole += [set(table.row_texts(row)) for row in range(3)]
            views.append((round(table.scroll_x), lines, whole))

    drive(app, script, size=(100, 40))  # too narrow for every column
    for scroll, lines, whole in views:
        for line, allowed in zip(lines, whole, strict=True):
            assert set(line) <= allowed, (scroll, line)  # no cell cut short
    (_, first, _), (_, nudged, _), (_, last, _) = views
    assert "Slow MA" not in first[0] and "Slow MA" in last[0]
    assert "Last" in first[0] and "Last" not in nudged[0]  # half out of view: blank
    for view in (first, nudged, last):
        assert view[0][0] == "Symbol" and view[1][0] == first[1][0]  # the symbol stays


def test_a_new_width_lays_the_columns_out_from_the_left() -> None:
    """Scrolled two columns at 60x20, the watchlist kept its scroll at 100x30 and hid the
    prices beside blank room."""
    app = LimitwatchApp(StaticFeed())
    seen: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        table = app.query_one(Watchlist)
        await pilot.pause(0.1)
        await pilot.press("right", "right")
        await pilot.pause(0.1)
        seen.append(table.render_line(0).text)
        await pilot.resize_terminal(100, 30)
        await pilot.pause(0.2)
        seen.append(table.render_line(0).text)
        seen.append(str(round(table.scroll_x)))

    drive(app, script, size=(60, 20))
    assert "Last" not in seen[0]  # scrolled
    assert seen[2] == "0" and "Last" in seen[1]


def test_clicking_a_header_of_the_scrolled_view_sorts_by_the_column_under_the_mouse() -> None:
    app = LimitwatchApp(StaticFeed())
    orders: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        table = app.query_one(Watchlist)
        past_last = table._widths["last"] + 2 * PAD  # Last out of view, Chg next to Symbol
        table.scroll_to(x=past_last, animate=False, immediate=True)
        await pilot.pause(0.05)
        assert round(table.scroll_x) == past_last
        header = table.render_line(0).text
        for label in ("Chg", "Symbol", "Forecast"):
            x = 1 + header.index(label)  # 1: the border
            await pilot.click(Watchlist, offset=(x, 1))
            await pilot.pause(0.1)
            orders.append(table.order)
        # The blank where a column is only partly in view sorts by nothing.
        widths, width = tuple(table._widths.values()), table.size.width
        scroll, (_frozen, _start, stop, _right) = next(
            (x, view)
            for x in range(table.virtual_size.width - width + 1)
            if (view := watchlist_module._view(widths, x, width))[2] < view[3]
        )
        table.scroll_to(x=scroll, animate=False, immediate=True)
        await pilot.pause(0.05)
        blank = stop - scroll  # on screen, where the blank begins
        assert table.render_line(0).text[blank:].strip() == ""
        await pilot.click(Watchlist, offset=(1 + blank, 1))
        await pilot.pause(0.1)
        orders.append(table.order)

    drive(app, script, size=(100, 40))  # too narrow for every column
    assert orders == ["chg", "symbol", "urgency", "urgency"]


@settings(max_examples=300, deadline=None)
@given(
    widths=st.lists(st.integers(1, 30), min_size=1, max_size=8).map(tuple),
    width=st.integers(1, 120),
)
def test_every_column_can_be_seen_whole_and_none_is_shown_cut(
    widths: tuple[int, ...], width: int
) -> None:
    # Column i drawn as letter i over its whole cell (padding included).
    cells = [w + 2 * PAD for w in widths]
    letters = "".join(chr(ord("a") + i) * c for i, c in enumerate(cells))
    table = Strip([Segment(letters)])
    total = sum(cells)
    seen_whole: set[int] = set()
    for scroll in range(max(total - width, 0) + 1):
        shown = watchlist_module._in_view(
            table.extend_cell_length(max(total, scroll + width)), widths, scroll, width, Style()
        ).text
        assert len(shown) == width
        frozen, _start, _stop, _right = watchlist_module._view(widths, scroll, width)
        assert shown[:frozen] == letters[:frozen]  # the symbol column, when it stays put
        room = width - frozen
        for i, c in enumerate(cells):
            count = shown[frozen:].count(chr(ord("a") + i))
            assert count in (0, c) or c > room, (i, scroll, shown)  # whole, or too wide
            if count == c or (count and c > room):
                seen_whole.add(i)
    assert seen_whole == set(range(len(widths))), (seen_whole, widths, width)


@pytest.mark.parametrize(
    ("opened", "last", "shown"),
    [(0.001, 3.0, "+3.00"), (0.0, 3.0, "+3.00"), (0.0, 0.0, "+0.00"), (100.0, 104.0, "+4.00%")],
)
def test_the_change_column_never_divides_by_a_value_at_zero(
    opened: float, last: float, shown: str
) -> None:
    nan = float("nan")
    values = watchlist_module.RowValues(
        "cpu.iowait", last, opened, nan, nan, nan, nan, nan, nan, nan, nan, False, False
    )
    cells = watchlist_module.format_row(values)
    assert watchlist_module.cell_plain(cells[KEYS.index("chg")]) == shown


def test_a_quantity_changes_by_a_difference_and_names_only_a_side_it_has_a_limit_for() -> None:
    eng = Engine(EngineConfig(default_band=None, warmup_ticks=3, warmup_s=0.0),
                 additive=["cpu.*"])  # fmt: skip
    eng.set_limits("cpu.iowait", sell=100.0)  # far, and no buy limit
    eng.update([0, 0, 0, 0, 0], [0.0, 1.0, 2.0, 3.0, 4.0], [0.5, 0.7, 0.6, 0.8, 1.5])
    st = eng.state()
    assert float(st.p_sell[0]) < 0.05 and math.isnan(float(st.p_buy[0]))
    cells = watchlist_module.format_row(watchlist_module.RowValues.of(st, 0))
    assert watchlist_module.cell_plain(cells[KEYS.index("chg")]) == "+1.00"  # not +200.00%
    assert watchlist_module.cell_plain(cells[KEYS.index("forecast")]) == "SELL unlikely"


def test_a_short_terminal_gives_the_watchlist_the_chart_and_signals_room() -> None:
    """At 60x15 the watchlist had one line and showed no symbol: below 20 rows the chart
    and the signals list step aside (crossings still come as toasts)."""
    shown: dict[tuple[int, int], tuple[int, bool]] = {}
    for size in ((60, 15), (80, 24)):
        app = LimitwatchApp(StaticFeed(symbols=12))

        async def script(pilot, app=app, size=size) -> None:  # type: ignore[no-untyped-def]
            await pilot.pause(0.2)
            table = app.query_one(Watchlist)
            text = _watchlist_text(app, table)
            symbols = sum(symbol in text for symbol in app.feed.latest().engine.symbols)
            shown[size] = (symbols, app.query_one("#bottom").display)

        drive(app, script, size=size)
    assert shown[(60, 15)][0] >= 6 and not shown[(60, 15)][1]
    assert shown[(80, 24)][1]  # at 80x24 the chart and the signals are there


@pytest.mark.parametrize("placed", [False, True])
def test_the_selected_symbol_stays_in_view_as_new_rows_come(placed: bool) -> None:
    """Rows come as a symbol first ticks (in --view, as the engines publish them): the
    symbol selected at the start went below the last row shown as the others sorted in
    before it, and keys changed the limits of a symbol out of sight. Until the user
    chooses a row the selection is the top row, in view (following the first symbol to
    come opened a view on JUNO, the rows above it scrolled away); a row the user chose
    keeps its symbol, in view."""
    feed = StaticFeed(symbols=["ZZZ"])
    app = LimitwatchApp(feed)
    seen: list[tuple[str | None, str]] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        table = app.query_one(Watchlist)
        await pilot.pause(0.3)
        if placed:
            await pilot.press("j")  # the only row: chosen, where it is
        seen.append((table.selected_symbol, _watchlist_text(app, table)))
        feed.engine = StaticFeed(symbols=[*(f"S{i:02d}" for i in range(30)), "ZZZ"]).engine
        feed.seq += 1
        for _ in range(50):  # until the new rows are in (a loaded machine is slow)
            await pilot.pause(0.1)
            if len(table._rows) == 31:
                break
        rows.append(len(table._rows))
        seen.append((table.selected_symbol, _watchlist_text(app, table)))

    rows: list[int] = []
    drive(app, script, size=(80, 24))
    assert rows == [31]
    for (symbol, text), top in zip(seen, ("ZZZ", "ZZZ" if placed else "S00"), strict=True):
        assert symbol == top and f"\n {top} " in text, (symbol, text)


def test_a_forecast_column_widened_by_one_long_forecast_narrows_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The forecast column only grew: in --view at 80 columns one long forecast (during a
    broker's restart) pushed it off the screen for good. It now narrows back once no row
    in view has needed the room for WIDTH_HOLD_S, and meanwhile is cut to the room left
    beside the limits rather than pushed out of view."""

    def widen(table: Watchlist) -> None:
        table._fit(tuple((("x" * 30, ""),) if k == "forecast" else (("", ""),) for k in KEYS))

    widths, shown = _widened_and_held(
        monkeypatch, StaticFeed(), widen, lambda: None, lambda t: t._widths["forecast"]
    )
    before, wide, held, after = widths
    assert wide == held == 30 and after == before < 30
    assert all(shown)  # the chances stay on screen, the words cut


def _priced(symbols: list[str], scale: dict[str, float]) -> StaticFeed:
    """A feed of the market generator's ticks and limits for `symbols`, each symbol's
    multiplied by its `scale` (the engine's signals do not change with a price's scale)."""
    feed = StaticFeed(symbols=symbols)
    gen = MarketGenerator(symbols=symbols, seed=7, start=START)
    engine = Engine(EngineConfig())
    for symbol, (buy, sell) in gen.limits.items():
        engine.set_limits(symbol, buy=buy * scale[symbol], sell=sell * scale[symbol])
    ticks = list(itertools.islice(gen, 3000))
    engine.update(
        np.asarray(engine.register([t.symbol for t in ticks]), dtype=np.int32),
        np.array([t.ts for t in ticks]),
        np.array([t.price * scale[t.symbol] for t in ticks]),
    )
    feed.engine = engine
    return feed


def _lines_at(
    feed: StaticFeed, size: tuple[int, int], presses: tuple[str, ...] = (), forecast: int = 0
) -> list[str]:
    """The watchlist's lines on screen at `size` (its header first), after `presses` on
    it, its forecast column first widened to `forecast` (as a long forecast seen in view
    widens it)."""
    app = LimitwatchApp(feed)
    lines: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause(0.3)
        table = app.query_one(Watchlist)
        table.focus()
        if forecast:
            table._widths["forecast"] = max(table._widths["forecast"], forecast)
            table._resize()
        for key in presses:
            await pilot.press(key)
        await pilot.pause(0.2)
        lines.extend(_watchlist_text(app, table).splitlines())

    drive(app, script, size=size)
    return lines


def _rows_at(
    feed: StaticFeed, size: tuple[int, int], presses: tuple[str, ...] = (), forecast: int = 0
) -> list[str]:
    """The rows of :func:`_lines_at` whose symbols start with a capital."""
    return [
        line for line in _lines_at(feed, size, presses, forecast)[1:] if re.match(r" [A-Z]", line)
    ]


def _rows_at_80x24(feed: StaticFeed) -> list[str]:
    lines = _lines_at(feed, (80, 24))
    assert "Forecast" in lines[0], lines
    return [line for line in lines[1:] if re.match(r" [A-Z]", line)]


#: A forecast in the watchlist: side and chance at least.
_FORECAST = re.compile(r"\b(BUY|SELL) (\d+%|<\d+%|>\d+%|now)")


def test_at_80_columns_four_digit_prices_leave_the_forecast_beside_the_limits() -> None:
    """Prices of 1,000 to 9,999 keep their cents (eight cells each): at 80x24 they left 10
    cells of the watchlist, and the forecast column, wider, was blanked. It is cut to the
    room left, its words shortened from the end: side and chance stay."""
    rows = _rows_at_80x24(_priced(["ACME", "BRIX", "CYGN"], {"ACME": 15, "BRIX": 15, "CYGN": 15}))
    assert len(rows) == 3, rows
    for row in rows:
        assert re.search(r"\b\d,\d{3}\.\d\d\b", row), row  # cents kept
        assert _FORECAST.search(row), row


def test_where_cents_leave_no_room_for_the_forecast_prices_from_1000_lose_them() -> None:
    """Seven-letter symbols at about 43,000 and 2,300 left the forecast seven cells, too
    few even cut: then prices lose their cents from 1,000 on, as from 10,000 before."""
    scale = {"BTCUSDT": 43_000 / 150, "ETHUSDT": 2_300 / 150}
    rows = _rows_at_80x24(_priced(["BTCUSDT", "ETHUSDT"], scale))
    assert len(rows) == 2, rows
    for row in rows:
        assert not re.search(r"\d\.\d\d\b", row), row  # no cents
        assert _FORECAST.search(row), row


def _fixed(prices: dict[str, float]) -> StaticFeed:
    """A feed whose symbols each sat at one price for a minute, limits 2% either side."""
    feed = StaticFeed(symbols=list(prices))
    engine = Engine(EngineConfig())
    names = [name for _ in range(60) for name in prices]
    for name, price in prices.items():
        engine.set_limits(name, buy=price * 0.98, sell=price * 1.02)
    engine.update(
        np.asarray(engine.register(names), dtype=np.int32),
        START + np.arange(len(names), dtype=float) / len(prices),
        np.array([prices[name] for name in names]),
    )
    feed.engine = engine
    return feed


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (160, 48)])
def test_every_row_lines_up_with_the_header_whatever_its_digits(size: tuple[int, int]) -> None:
    """Columns were as wide as their smallest and largest values: 0.12345 is wider than
    both 0.0001 and 500.00, and its row stood a cell right of the header."""
    feed = _fixed({"BIG": 500.0, "MID": 0.12345, "TINY": 0.0001})
    app = LimitwatchApp(feed)
    lines: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause(0.3)
        lines.extend(_watchlist_text(app, app.query_one(Watchlist)).splitlines())

    drive(app, script, size=size)
    header = lines[0]
    rows = [line for line in lines[1:] if re.match(r" [A-Z]", line)]
    assert len(rows) == 3, lines
    for label in ("Last", "Buy ≤", "Sell ≥"):
        end = header.index(label) + len(label)  # right-aligned under its header
        for row in rows:
            assert row[end - 1] != " " and row[end] == " ", (label, header, row)


def test_a_price_shown_as_1000_is_written_without_cents_where_they_would_hide_the_forecast() -> (
    None
):
    """999.996 is written 1,000.00: eight cells where 1,000 takes five, which hid the
    forecast at 80x24 whenever such a tick came."""
    rows = _rows_at_80x24(_fixed({"HOVERINGONE": 999.996, "SMALL": 50.0}))
    hovering = next(row for row in rows if "HOVERINGONE" in row)
    assert " 1,000 " in hovering and "1,000.00" not in hovering, rows
    assert all(_FORECAST.search(row) for row in rows), rows


def test_a_cut_forecast_keeps_its_side_and_chance() -> None:
    squeeze = watchlist_module.squeeze
    assert squeeze((("SELL 62% ~8.6m", "red"),), 13) == (("SELL 62%", "red"),)
    assert squeeze((("SELL 62% ~8.6m", "red"),), 14) == (("SELL 62% ~8.6m", "red"),)
    stale = (("BUY 7%", "dim strike"), (" stale", "bold yellow"))
    assert squeeze(stale, 11) == (("BUY 7%", "dim strike"),)
    assert squeeze((("SELL unlikely", "dim"),), 9) == (("SELL <5%", "dim"),)
    assert squeeze((("no limits", "dim"),), 8) == (("no limi…", "dim"),)


def test_limits_that_would_read_alike_are_written_with_the_digits_that_tell_them_apart() -> None:
    nan = float("nan")
    values = watchlist_module.RowValues(
        "BRIX", 401.0, 400.0, 399.999999999, 400.0, nan, nan, nan, nan, nan, nan, False, False
    )
    cells = watchlist_module.format_row(values)
    buy, sell = (watchlist_module.cell_plain(cells[KEYS.index(k)]) for k in ("buy", "sell"))
    assert (buy, sell) == ("399.999999999", "400.00")  # both read 400.00
    feed = StaticFeed()
    symbol = feed.engine.state().symbols[0]
    feed.set_limits(symbol, 399.999999999, 400.0)
    app = LimitwatchApp(feed)
    widths: list[int] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause(0.3)
        widths.append(app.query_one(Watchlist)._widths["buy"])

    drive(app, script)
    assert widths == [len("399.999999999")]  # the column fits it, not cut to "399.999"


#: Prices of 600,000, 43,000 and 12,000 beside a twenty-letter symbol.
_CROWDED = (
    ["BRK.A", "BTCUSDT", "VERYLONGSYMBOLNAME.X"],
    {"BRK.A": 612_345 / 150, "BTCUSDT": 43_000 / 150, "VERYLONGSYMBOLNAME.X": 12_345 / 150},
)


#: ... and prices of millions beside them.
_CROWDED_MORE = (_CROWDED[0], {**_CROWDED[1], "BRK.A": 6_123_450 / 150})


def test_a_forecast_with_no_room_beside_the_limits_is_whole_one_arrow_away() -> None:
    """At 80x24 such prices leave the forecast too few cells: it is one → away, as the
    README says. Its width was cut to the room of the view unscrolled, too narrow to show,
    so it stayed wider than the room a → gives, and the first → showed blank cells."""
    rows = _rows_at(_priced(*_CROWDED_MORE), (80, 24))
    assert len(rows) == 3 and not any(_FORECAST.search(row) for row in rows), rows
    rows = _rows_at(_priced(*_CROWDED_MORE), (80, 24), ("right",), forecast=20)
    assert len(rows) == 3, rows
    for row in rows:
        assert _FORECAST.search(row), rows


def test_at_80_columns_prices_of_six_digits_and_long_symbols_leave_the_forecast_in_view() -> None:
    """Prices of 100,000 and more and long symbols (`BTC-PERP-2025-06-27`, `日本語株式`) left
    the forecast seven cells at 80x24, one short: it was out of view. Symbols are cut down
    to nine cells, prices lose their cents from 1,000 on, and it is in view."""
    rows = _rows_at(_priced(*_CROWDED), (80, 24))
    assert len(rows) == 3, rows
    for row in rows:
        assert _FORECAST.search(row), rows


def test_a_wide_watchlist_whose_full_form_hides_the_forecast_takes_the_compact_one() -> None:
    """At 100x30 the watchlist is wide enough for the full form, whose prices with cents
    beside a twenty-letter symbol pushed the forecast out of view: the compact form
    (prices without cents, symbols cut, the forecast cut to its room) keeps it there."""
    rows = _rows_at(_priced(*_CROWDED), (100, 30))
    assert len(rows) == 3, rows
    for row in rows:
        assert _FORECAST.search(row), rows
    wide = _rows_at(_priced(*_CROWDED), (160, 48))  # room for the full form: kept
    assert any("VERYLONGSYMBOLNAME.X" in row and re.search(r"\d\.\d\d\b", row) for row in wide)


def test_long_symbols_give_the_forecast_the_cells_it_lacks_down_to_nine() -> None:
    """System metrics at 80x24 (`disk.read_kbps` cut to 12 cells) left the forecast seven
    cells, one short of `SELL now`: the symbol column gives up what the forecast lacks,
    down to SYMBOL_COMPACT_LEAST cells, the names cut with an ellipsis."""
    app = LimitwatchApp(
        _priced(["DISKREADKBPS", "MEMAVAILABLE"], {"DISKREADKBPS": 1, "MEMAVAILABLE": 1})
    )
    seen: dict[str, object] = {}

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause(0.3)
        table = app.query_one(Watchlist)
        assert table.compact
        base = table._widths
        spare = table._forecast_room(base) - 7  # set the prices' columns to leave 7
        table._widths = {**base, "symbol": 12, "last": base["last"] + spare}
        seen["layout"] = table._layout()
        seen["room"] = table._forecast_room(table._widths)
        cells = ((("DISKREADKBP…", ""),), *((("1", ""),) for _ in KEYS[1:]))
        strip = table._strip(cells, Style(), False, seen["layout"])  # type: ignore[arg-type]
        seen["row"] = strip.text

    drive(app, script, size=(80, 24))
    layout = seen["layout"]
    assert seen["room"] == 7
    assert layout["symbol"] == 11 and layout["forecast"] == watchlist_module.FORECAST_LEAST  # type: ignore[index]
    assert str(seen["row"]).startswith(" DISKREADKB… ")


def test_stepping_a_buy_limit_below_zero_says_which_key_mends_it() -> None:
    """`b` at a 10% step twelve times took the buy limit below zero, and the refusal
    pointed at a command-line option (--additive) a trader pressing keys has no use for."""
    feed = SlowFeed()
    app = LimitwatchApp(feed, step=0.1)
    told: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        app.query_one(Watchlist).focus()
        for _ in range(12):
            await pilot.press("b")
        await pilot.pause(0.1)
        told.extend(n.message for n in app._notifications)

    drive(app, script)
    refused = [m for m in told if "zero or below" in m]
    assert refused, told
    assert refused[-1].endswith("to zero or below: press [ for a smaller step"), refused
    assert "--additive" not in " ".join(told)


def test_sorted_by_urgency_a_row_far_out_of_order_in_view_is_sorted_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The list is sorted at most once a second (rows moving under the eyes), but a fast
    market left a row of 87% below one of 57% for that second: rows in view that disagree
    by more than MISORDER_P are sorted at once."""
    monkeypatch.setattr(watchlist_module, "RESORT_S", 3600.0)  # only the rule below sorts
    feed = StaticFeed()
    app = LimitwatchApp(feed)
    seen: dict[str, object] = {}

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        table = app.query_one(Watchlist)
        table.focus()
        await pilot.press("o")  # by urgency
        await pilot.pause(0.3)
        seen["title"] = str(table.border_title)
        rows = list(table._rows)
        seen["before"] = rows
        last = rows[table._visible_rows()[-1]]  # the last row in view
        i = feed.engine.state().symbols.index(last)
        price = float(feed.engine.state().last[i])
        feed.engine.set_limits(last, buy=price * 0.5, sell=price * 1.00001)  # about to hit
        feed.seq += 1
        await pilot.pause(0.5)
        state = feed.engine.state()
        urg = watchlist_module.urgency(state)
        seen["after"] = [table._rows[j] for j in table._visible_rows()]
        seen["shown"] = [float(urg[state.symbols.index(s)]) for s in seen["after"]]
        seen["last"] = last

    drive(app, script)
    assert str(seen["title"]).endswith("by urgency")
    before, after = seen["before"], seen["after"]
    assert after.index(seen["last"]) < before.index(seen["last"]) - 2, seen  # type: ignore[union-attr]
    shown = seen["shown"]  # in view, each row at least as urgent as the next but for a hair
    assert all(b - a <= watchlist_module.MISORDER_P for a, b in itertools.pairwise(shown)), seen  # type: ignore[arg-type]


def _forms(
    states: Callable[[int], tuple[object, bool]],
    width: int,
    steps: int,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """The form (F full, C compact) of a `width`-cell watchlist shown `states(step)`
    (a state and whether every forecast is stale), one step a second."""
    import asyncio

    from textual.app import App

    clock = [0.0]
    monkeypatch.setattr(watchlist_module, "_clock", lambda: clock[0])

    class One(App[None]):
        CSS = f"Watchlist {{ width: {width}; height: 10; }}"

        def compose(self):  # type: ignore[no-untyped-def]
            yield Watchlist()

    forms: list[str] = []

    async def run() -> None:
        app = One()
        async with app.run_test(size=(width + 2, 12)) as pilot:
            await pilot.pause()
            table = app.query_one(Watchlist)
            for step in range(steps):
                state, stale = states(step)
                table.show(state, stale=stale)  # type: ignore[arg-type]
                await pilot.pause()
                forms.append("C" if table.compact else "F")
                clock[0] += 1.0

    asyncio.run(run())
    return "".join(forms)


def test_a_price_ticking_across_a_digit_keeps_a_crowded_watchlist_in_one_form(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A wide watchlist takes the compact form where the full one has no room for the
    forecast; it went back to the full form 10 s after going compact whenever there was
    room at that moment, so a price ticking between 99,999.00 and 100,000.50 (one cell
    wider) flipped the form every few seconds. It goes back only after 10 s of room
    without a break."""
    import dataclasses

    eng = Engine(EngineConfig())
    ids = eng.register(["VERYLONGSYMBOLNAME.X", "BTCUSDT"])
    eng.set_limits("VERYLONGSYMBOLNAME.X", buy=90_000.0, sell=110_000.0)
    eng.set_limits("BTCUSDT", buy=40_000.0, sell=46_000.0)
    for k in range(60):
        eng.update(np.asarray(ids, dtype=np.int32), np.array([1e3 + k, 1e3 + k]),
                   np.array([99_990.0 + k % 3, 43_000.0 + k]))  # fmt: skip
    base = eng.state()

    def at(price: float) -> object:
        last = base.last.copy()
        last[0] = price
        return dataclasses.replace(base, last=last)

    narrow, wide = at(99_999.0), at(100_000.5)
    forms = _forms(
        lambda step: (narrow if step // 3 % 2 == 0 else wide, False), 71, 60, monkeypatch
    )
    assert "C" in forms and "CF" not in forms, forms  # compact once, then kept


def test_a_crowded_watchlist_takes_the_full_form_back_once_its_forecasts_fit_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Five seconds of stale forecasts (` stale` makes them wider) sent a watchlist with
    room for its usual forecasts to the compact form, and it kept that form until the
    terminal was resized: the width it had to leave came from that moment. It is now
    what the forecasts in view take, and the full form comes back 10 s after it fits."""
    feed = _priced(
        ["ACME.LONGNAME.XYZ", "BRIX", "CYGN"],
        dict.fromkeys(["ACME.LONGNAME.XYZ", "BRIX", "CYGN"], 4000),
    )
    state = feed.engine.state()
    forms = _forms(lambda step: (state, 10 <= step < 15), 82, 50, monkeypatch)
    assert forms.startswith("F" * 10) and "C" in forms, forms  # the stale marks crowd it
    assert forms.endswith("F" * 10), forms  # and it comes back


def test_eleven_cell_prices_beside_a_long_symbol_leave_the_forecast_one_arrow_away() -> None:
    """Prices of 0.000012102 (eleven cells) beside a sixteen-letter symbol at 80x24: one
    → showed the limits and nine blank cells, the forecast was two presses away. There
    too the symbol gives up the cells the forecast lacks."""
    names = ["LONG_SYMBOL_NAME", "TINY", "ABC"]
    feed = _priced(
        names, {"LONG_SYMBOL_NAME": 98.7 / 150, "TINY": 0.00001234 / 150, "ABC": 55.5 / 150}
    )
    rows = _rows_at(feed, (80, 24), ("right",))
    assert len(rows) == 3, rows
    for row in rows:
        assert _FORECAST.search(row), rows
    assert any(re.match(r" LONG_SYMB\w?… ", row) for row in rows), rows  # cut for it


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_symbols_the_cut_would_draw_alike_are_cut_in_the_middle_and_told_apart(
    size: tuple[int, int],
) -> None:
    """Cut to 12 cells (24 wide), `mem.available_bytes.node1` and `node2` read the same,
    each beside its own forecast, as did futures of one market a month apart: such names
    keep their ends. Names the usual cut tells apart keep it (`disk.read_k…`)."""
    names = [
        "mem.available_bytes.node1", "mem.available_bytes.node2", "BTC-PERP-2025-03",
        "BTC-PERP-2025-06", "disk.read_kbps_total", "disk.write_kbps_total",
    ]  # fmt: skip
    lines = _lines_at(StaticFeed(symbols=names), size)
    shown = [line.split("  ")[0].strip() for line in lines[1:] if re.match(r" \S", line)]
    assert len(shown) == len(names) and len(set(shown)) == len(names), shown
    if size == (80, 24):
        assert "mem.av…node1" in shown and "BTC-PE…25-06" in shown, shown
        assert "disk.read_k…" in shown, shown  # told apart by the usual cut


def test_a_price_never_reads_as_a_limit_it_has_not_reached() -> None:
    """Prices without cents (narrow, from 1,000 on) wrote 9,999.99 as 10,000 beside a sell
    limit of 10,000 and a forecast of SELL 83%: it keeps the digits that tell them apart.
    Once reached, or far from the limit, the short form stays."""
    nan = math.nan

    def last_cell(last: float, buy: float, sell: float) -> str:
        values = watchlist_module.RowValues(
            "CROSS10K", last, last, buy, sell, 0.1, nan, 0.8, 5.0, last, last, False, False
        )
        row = watchlist_module.format_row(values, True, 1_000.0)
        return row[KEYS.index("last")][0][0]

    assert last_cell(9_999.99, 9_990.0, 10_000.0) == "9,999.99"
    assert last_cell(10_000.0, 9_990.0, 10_000.0) == "10,000"  # reached: as short as ever
    assert last_cell(9_990.01, 9_990.0, 10_000.0) == "9,990.01"  # above the buy limit
    assert last_cell(5_000.4, 4_000.0, 6_000.0) == "5,000"


@pytest.mark.parametrize(
    ("last", "shown", "style"),
    [(99.99999, "+0.00%", ""), (99.9, "-0.10%", "red"), (100.2, "+0.20%", "green")],
)
def test_a_change_too_small_to_show_reads_plus_zero_without_a_colour(
    last: float, shown: str, style: str
) -> None:
    """It read -0.00% in red: a fall where the digits shown did not move."""
    from tui.widgets.watchlist import KEYS, RowValues, format_row

    nan = math.nan
    values = RowValues("HALO", last, 100.0, 90.0, 110.0, nan, nan, nan, nan, 100.0, 100.0,
                       stale=False, pending=False)  # fmt: skip
    assert format_row(values)[KEYS.index("chg")] == ((shown, style),)


def test_until_a_row_is_chosen_the_cursor_stays_on_the_top_row_as_rows_come() -> None:
    """A --view's rows come in any order: the cursor followed the first symbol to come
    (JUNO), and the view opened with the rows sorted above it scrolled out of sight.
    Once the user moves it, it keeps its symbol through new rows and sorts."""
    import asyncio

    from textual.app import App

    from tests.tui.feeds import StaticFeed

    full = StaticFeed().engine.state()
    late = full.symbols[-1]
    first = StaticFeed(symbols=[late], n_ticks=50).engine.state()

    class One(App[None]):
        CSS = "Watchlist { width: 60; height: 6; }"

        def compose(self):  # type: ignore[no-untyped-def]
            yield Watchlist()

    seen: list[tuple[str | None, int]] = []

    async def run() -> None:
        app = One()
        async with app.run_test(size=(62, 8)) as pilot:
            table = app.query_one(Watchlist)
            for state in (first, full):
                table.show(state)
                await pilot.pause()
                seen.append((table.selected_symbol, round(table.scroll_y)))
            table.set_order("chg")  # a sort alone: the symbol kept, a key may act on it
            await pilot.pause()
            seen.append((table.selected_symbol, round(table.scroll_y)))
            table.set_order("symbol")
            table.move_cursor(2)
            picked = table.selected_symbol
            table.set_order("chg")  # another order: the chosen symbol kept
            await pilot.pause()
            seen.append((picked, 0))
            seen.append((table.selected_symbol, 0))

    asyncio.run(run())
    assert seen[0] == (late, 0)
    assert seen[1] == (sorted(full.symbols)[0], 0), seen
    assert seen[2][0] == seen[1][0], seen
    assert seen[3][0] == seen[4][0] != seen[1][0], seen


def test_limits_stepped_by_keys_keep_the_prices_decimals() -> None:
    """Stepped down by 10 % three times, a buy limit beside a price in cents read
    85.081, 69.327 and 22.091: each step lands on the price's own decimals."""
    feed = StaticFeed()
    state = feed.engine.state()
    # a price below 100, where five significant digits are three decimals
    row = next(i for i, last in enumerate(state.last) if last < 100)
    symbol, price = state.symbols[row], float(state.last[row])
    app = LimitwatchApp(feed, step=0.1)
    seen: list[float] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press(*["j"] * row)
        for _ in range(3):
            await pilot.press("b")
            await pilot.pause(0.1)
            seen.append(feed.engine.limits(symbol)[0])

    drive(app, script)
    places = max(len(repr(price).partition(".")[2]), 2)
    assert len(set(seen)) == 3 and seen == sorted(seen, reverse=True)
    assert all(round(x, places) == x for x in seen), (price, seen)
    assert all(len(repr(x).partition(".")[2]) <= places for x in seen), (price, seen)
