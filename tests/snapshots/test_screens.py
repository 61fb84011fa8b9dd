"""Screenshots of the monitor from a fixed seed and a frozen clock (no threads, no Kafka:
a deterministic feed), compared with the stored SVGs."""

from __future__ import annotations

import pytest

from tests.tui.feeds import StaticFeed
from tui.app import LimitwatchApp


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_monitor_screen(snap_compare, size: tuple[int, int]) -> None:
    app = LimitwatchApp(StaticFeed(seed=7, n_ticks=3000), sub_title="embedded broker · prices")
    assert snap_compare(app, terminal_size=size)


def test_monitor_screen_after_raising_a_sell_limit(snap_compare) -> None:
    app = LimitwatchApp(StaticFeed(seed=7, n_ticks=3000), sub_title="embedded broker · prices")

    async def raise_sell(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("down", "S")
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=(120, 40), run_before=raise_sell)
