"""A symbol whose ticks stop while others go on: its forecast is marked stale, the
others' are not."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import pytest

from producer.wire import Tick
from tests.tui.driving import drive
from tests.tui.feeds import StaticFeed
from tests.tui.waiting import wait_for
from tests.waiting import wait_until_async
from tui.app import LimitwatchApp
from tui.runtime.pipeline import Pipeline, PipelineOptions
from tui.runtime.snapshot import Snapshot
from tui.widgets.watchlist import Watchlist


class OneStops:
    """QUIET ticks 30 times, then only BUSY goes on, ten ticks a second."""

    paced = True
    name = "one stops"
    limits: dict[str, tuple[float, float]] = {}  # noqa: RUF012 - never changed

    def __iter__(self) -> Iterator[Tick]:
        t = time.time()
        for k in range(30):
            yield Tick("QUIET", 50.0, t + 0.01 * k)
        while True:
            t += 0.1
            yield Tick("BUSY", 100.0, t)


@pytest.mark.kafka
def test_a_symbol_without_fresh_ticks_is_stale_while_the_others_are_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("tui.runtime.consumer.STALE_IDLE_S", 1.0)
    pipeline = Pipeline(PipelineOptions(source=OneStops(), partitions=1))
    pipeline.start()
    try:
        fresh = wait_for(pipeline, lambda s: set(s.engine.symbols) == {"QUIET", "BUSY"}, 20)
        assert "BUSY" not in fresh.stale_symbols
        stale = wait_for(pipeline, lambda s: s.stale_symbols == {"QUIET"}, 20)
        assert stale.kafka.since_last_tick_s < 1.0  # the feed as a whole is fresh
    finally:
        assert pipeline.stop(timeout=2.0)


class BrixStopped(StaticFeed):
    """The static feed, BRIX without a fresh tick."""

    def latest(self) -> Snapshot:
        return dataclasses.replace(super().latest(), stale_symbols=frozenset({"BRIX"}))


def test_the_watchlist_marks_only_the_stale_symbols_forecast() -> None:
    app = LimitwatchApp(BrixStopped(symbols=["ACME", "BRIX"]))
    seen: dict[str, str] = {}

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        table = app.query_one(Watchlist)
        await wait_until_async(lambda: table.row_count == 2, pilot.pause)
        seen.update({s: table.cell_text(s, "forecast") for s in ("ACME", "BRIX")})

    drive(app, script)
    assert seen["BRIX"].endswith(" stale")
    assert "stale" not in seen["ACME"]
