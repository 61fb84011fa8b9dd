"""The watchlist under any sequence of updates, filters, sorts, cursor moves, resizes and
scrolls keeps its invariants: the cursor is on a shown row (or there is none), the
selected symbol is shown, and every shown symbol matches the filter and is tracked (the
engine holds fewer symbols than the updates name, so symbols are evicted and return)."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from textual.app import App, ComposeResult

from engine import Engine, EngineConfig
from tests.tui.driving import drive
from tests.tui.feeds import StaticFeed
from tui.app import LimitwatchApp
from tui.runtime.settings import SORTS
from tui.widgets.watchlist import Watchlist

SYMBOLS = ["ACME", "ACNE", "BRIX", "CYGN", "DRVX", "ELMR", "FOXL", "GRYF", "HALO", "IRIS"]


def test_filter_after_moving_down_does_not_crash_and_keeps_a_shown_selection() -> None:
    app = LimitwatchApp(StaticFeed())
    seen: list[tuple[str | None, int]] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("j", "j", "slash", "A", "C", "M", "E")
        await pilot.pause()
        table = app.query_one(Watchlist)
        seen.append((table.selected_symbol, table.row_count))

    drive(app, script)
    assert app.return_code in (None, 0)
    ((selected, rows),) = seen
    assert rows >= 1 and selected is not None and "ACME" in selected


class _Host(App[None]):
    def compose(self) -> ComposeResult:
        yield Watchlist()


class WatchlistMachine(RuleBasedStateMachine):
    """Drives one mounted Watchlist; every step is followed by the invariants."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        # One context for every step, as if the whole run were one task: Textual keeps
        # the active app in context variables.
        self.ctx = contextvars.copy_context()
        self.app = _Host()
        self.context = self.app.run_test(size=(100, 20))
        self.pilot = self._run(self.context.__aenter__())
        self.table = self.app.query_one(Watchlist)
        self.engine = Engine(
            EngineConfig(fast=2, slow=3, history=3, warmup_ticks=2, max_symbols=6),
            evict_idle=True,
        )
        self.t = 0.0
        self.rng = np.random.default_rng(0)

    def _run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(self.loop.create_task(coro, context=self.ctx))

    def _call(self, fn: Any, *args: Any) -> None:
        self.ctx.run(fn, *args)
        self._run(self.pilot.pause())

    def teardown(self) -> None:
        self._run(self.context.__aexit__(None, None, None))
        self.loop.close()

    @rule(names=st.lists(st.sampled_from(SYMBOLS), min_size=1, max_size=12))
    def update(self, names: list[str]) -> None:
        ids = self.engine.register(names)
        self.t += 1.0
        times = np.full(len(names), self.t)
        prices = 100.0 * np.exp(self.rng.normal(0, 0.01, len(names)))
        self.engine.update(ids, times, prices)
        self._call(self.table.show, self.engine.state())

    @rule(text=st.sampled_from(["", "A", "AC", "ACME", "x", "i", "zz"]))
    def filter(self, text: str) -> None:
        self._call(self.table.set_filter, text)

    @rule(order=st.sampled_from(SORTS))
    def sort(self, order: str) -> None:
        self._call(self.table.set_order, order)

    @rule(delta=st.sampled_from([-3, -1, 1, 2, 5]))
    def cursor(self, delta: int) -> None:
        self._call(self.table.action_cursor, delta)

    @rule(direction=st.sampled_from([-1, 1]))
    def page(self, direction: int) -> None:
        self._call(self.table.action_page, direction)

    @rule(row=st.sampled_from([0, -1]))
    def jump(self, row: int) -> None:
        self._call(self.table.action_jump, row)

    @rule(size=st.sampled_from([(80, 24), (60, 8), (140, 40), (40, 5)]))
    def resize(self, size: tuple[int, int]) -> None:
        self._run(self.pilot.resize_terminal(*size))
        self._run(self.pilot.pause())

    @precondition(lambda self: self.table.row_count > 0)
    @rule(x=st.integers(0, 60), y=st.integers(0, 12))
    def scroll(self, x: int, y: int) -> None:
        self._call(lambda: self.table.scroll_to(x=x, y=y, animate=False, immediate=True))

    @invariant()
    def cursor_on_a_shown_row(self) -> None:
        rows = self.table.row_count
        assert (rows == 0 and self.table.selected_symbol is None) or (
            0 <= self.table.cursor_row < rows
        )

    @invariant()
    def shown_symbols_match_the_filter(self) -> None:
        wanted = self.table.filter_text.lower()
        shown = [self.table._rows[i] for i in range(self.table.row_count)]
        assert all(wanted in s.lower() for s in shown)
        selected = self.table.selected_symbol
        assert selected is None or selected in shown
        assert len(set(shown)) == len(shown)
        assert set(shown) <= set(self.engine.symbols)


WatchlistMachine.TestCase.settings = settings(
    max_examples=15, stateful_step_count=20, deadline=None
)
test_watchlist_keeps_its_invariants = WatchlistMachine.TestCase
