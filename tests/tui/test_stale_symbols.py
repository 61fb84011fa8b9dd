"""A symbol whose ticks stop while others go on: its forecast is marked stale, the
others' are not."""

from __future__ import annotations

import dataclasses
import math
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
from tui.widgets.watchlist import KEYS, Watchlist


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


class AfterBrokerRestart(StaticFeed):
    """The static feed, then what a broker restart leaves in the snapshots: every symbol
    without a fresh tick for a while, the restart, the reset and the ticks sent again."""

    restarted = False
    stale = False

    def latest(self) -> Snapshot:
        snap = super().latest()
        if not self.restarted:
            return snap
        assert snap.producer is not None
        kafka = dataclasses.replace(
            snap.kafka,
            broker_restarts=1,
            keeper="12:00:01 restarted after exit -9 (try 1, 0.3 s)",
            recovery="12:00:02 prices created again (4 partitions): read from the start",
            duplicates=40,
        )
        producer = dataclasses.replace(snap.producer, resent=55, waiting="")
        stale = frozenset(snap.engine.symbols) if self.stale else frozenset()
        return dataclasses.replace(snap, kafka=kafka, producer=producer, stale_symbols=stale)


def test_at_80x24_the_forecast_stays_in_view_through_and_after_a_broker_restart() -> None:
    feed = AfterBrokerRestart()
    app = LimitwatchApp(feed)
    views: dict[str, tuple[str, list[str], list[str]]] = {}

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        table = app.query_one(Watchlist)
        await wait_until_async(lambda: table.row_count == 12, pilot.pause)
        for moment, stale in (("before", False), ("stale", True), ("after", False)):
            feed.restarted, feed.stale = moment != "before", stale
            feed.seq += 1

            def shown(stale: bool = stale) -> bool:
                return app._shown_seq == feed.seq and table.row_values(0).stale == stale

            await wait_until_async(shown, pilot.pause)
            await pilot.pause()
            assert table.compact  # the narrow form is the one under test
            lines = [table.render_line(y).text for y in range(1, 4)]
            forecasts = [table.cell_text(table._rows[row], "forecast") for row in range(3)]
            views[moment] = (table.render_line(0).text, lines, forecasts)

    drive(app, script, size=(80, 24))
    for moment, (header, lines, forecasts) in views.items():
        assert "Forecast" in header, (moment, header)
        for line, forecast in zip(lines, forecasts, strict=True):
            assert forecast in line, (moment, line)
    assert all(f.endswith(" stale") for f in views["stale"][2] if "unlikely" not in f)
    assert not any("stale" in f for f in views["after"][2])


@pytest.mark.parametrize("compact", [False, True])
def test_an_unlikely_forecast_is_marked_stale_too_and_still_fits_when_compact(
    compact: bool,
) -> None:
    """ "SELL unlikely" from a symbol whose ticks stopped is as stale as "SELL 73%" (it
    read as live); compact, it fits the 15 characters of the narrow forecast column."""
    from tui.widgets.watchlist import RowValues, format_row

    nan = math.nan
    values = RowValues("ACME", 100.0, 100.0, 90.0, 110.0, 0.01, nan, 0.02, nan, 100.0,
                       100.0, stale=True, pending=False)  # fmt: skip
    forecast = format_row(values, compact)[KEYS.index("forecast")]
    text = "".join(part for part, _style in forecast)
    assert text == ("SELL <5% stale" if compact else "SELL unlikely stale")
    assert len(text) <= 15 or not compact
    fresh = format_row(values._replace(stale=False), compact)[KEYS.index("forecast")]
    assert "".join(part for part, _style in fresh) == "SELL unlikely"
    warming = values._replace(p_buy=nan, p_sell=nan)  # no forecast yet: nothing to be stale
    assert "stale" not in "".join(
        p for p, _s in format_row(warming, compact)[KEYS.index("forecast")]
    )


def test_when_every_forecast_is_stale_the_narrow_rows_leave_the_mark_to_the_status_line() -> None:
    """A replay that ended makes every forecast stale, and the status line says STALE:
    "SELL now stale" on every row, beside prices of 123.60 and seven-letter symbols,
    pushed the forecast column out of view at 80 columns. Narrow, the rows then keep the
    forecast struck through without the mark; a symbol stale alone keeps its mark."""
    from tui.widgets.watchlist import RowValues, format_row

    nan = math.nan
    values = RowValues("SYM0093", 123.6, 120.0, 120.94, 121.92, nan, nan, 1.0, 0.0, 120.0,
                       120.0, stale=True, pending=False, all_stale=True)  # fmt: skip
    narrow = format_row(values, compact=True)[KEYS.index("forecast")]
    assert "".join(part for part, _style in narrow) == "SELL now"
    assert narrow[0][1] == "dim strike"
    alone = format_row(values._replace(all_stale=False), compact=True)[KEYS.index("forecast")]
    assert "".join(part for part, _style in alone) == "SELL now stale"
    wide = format_row(values, compact=False)[KEYS.index("forecast")]
    assert "".join(part for part, _style in wide).endswith(" stale")
