"""Why this forecast (`d`): the selected symbol's distances, volatility, drift, chances
and track record, each figure checked against its definition on the engine's state."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
from textual.geometry import Region

from engine import Engine, EngineConfig
from engine.calibration import CalibrationRecord
from tests.tui.driving import drive
from tests.tui.feeds import StaticFeed
from tui.app import LimitwatchApp
from tui.screens.detail import DetailScreen, forecast_details

CFG = EngineConfig(default_band=None, warmup_ticks=20, warmup_s=0.0)


def _walk(symbol: str, n: int, buy: float, sell: float) -> Engine:
    rng = np.random.default_rng(3)
    eng = Engine(CFG)
    eng.set_limits(symbol, buy=buy, sell=sell)
    price = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    eng.update(np.zeros(n, dtype=np.int32), np.arange(n, dtype=np.float64), price)
    return eng


def _record(p: float) -> CalibrationRecord:
    count = np.zeros(10)
    k = min(int(p * 10), 9)
    count[k] = 412.0
    predicted = np.where(count > 0, p, np.nan)
    observed = np.where(count > 0, 0.70, np.nan)
    return CalibrationRecord(predicted, observed, count, 0.1, 0.1, 0.2, 0.3, 412.0)


def test_each_figure_is_what_its_definition_gives() -> None:
    eng = _walk("ACME", 300, buy=99.0, sell=101.5)
    st = eng.state()
    last, vol, h = float(st.last[0]), float(st.vol[0]), CFG.horizon_s
    assert st.buy[0] < last < st.sell[0]
    rows = dict(
        (label, text) for label, text in forecast_details(st, 0, None) if label
    )  # the labelled rows
    buy_sigmas = abs(math.log(99.0 / last)) / (vol * math.sqrt(h))
    assert rows["buy limit"] == (
        f"99.00 · {1 - 99.0 / last:.2%} below the price · {buy_sigmas:.1f} σ of its move over 60 s"
    )
    assert f"{101.5 / last - 1:.2%} above the price" in rows["sell limit"]
    assert rows["volatility"].startswith(f"{vol * math.sqrt(h):.3%} over 60 s")
    drift, se = float(st.drift[0]), float(st.drift_se[0])
    assert rows["drift"] == f"{drift * 60:+.3%} per minute ± {se * 60:.3%} (one standard error)"
    p = float(st.p_buy[0])
    assert 0.0 < p < 1.0
    assert rows["buy chance"].startswith(f"{p:.0%} within 60 s" if p >= 0.005 else "<1%")


def test_a_quantity_at_zero_is_explained_in_its_own_units() -> None:
    rng = np.random.default_rng(5)
    eng = Engine(CFG, additive=["cpu.*"])
    eng.set_limits("cpu.iowait", sell=20.0)
    value = np.abs(np.cumsum(rng.normal(0.0, 0.5, 300)))  # a gauge that sits near 0
    value[-1] = 0.0
    eng.update(np.zeros(300, dtype=np.int32), np.arange(300.0), value)
    st = eng.state()
    vol, h = float(st.vol[0]), CFG.horizon_s
    rows = dict((label, text) for label, text in forecast_details(st, 0, None) if label)
    assert rows["value"] == "0.00 after 300 ticks"
    assert rows["buy limit"] == "none"
    assert rows["sell limit"] == (
        f"20.00 · 20.00 above the value · {20.0 / (vol * math.sqrt(h)):.1f} σ of its move over 60 s"
    )
    assert rows["volatility"].startswith(f"{vol * math.sqrt(h):,.3f} over 60 s")
    assert "%" not in rows["volatility"] + rows["drift"]
    assert 0.0 < float(st.p_sell[0]) < 1.0


def test_the_track_record_says_how_forecasts_near_this_p_fared() -> None:
    eng = _walk("ACME", 300, buy=99.0, sell=101.5)
    st = eng.state()
    p = float(st.p_buy[0])
    lines = [text for _label, text in forecast_details(st, 0, _record(p))]
    said = [t for t in lines if t.startswith("forecasts of ")]
    assert said and said[0].endswith(" came true 70% of 412 times")
    assert " on this stream (" in said[0]


def test_the_time_shown_says_the_streams_correction_of_it() -> None:
    eng = _walk("ACME", 300, buy=99.0, sell=101.5)
    st = eng.state()
    rows = dict(forecast_details(st, 0, None, "partition 2", (1.8, 193)))
    assert rows["buy chance"].endswith(
        " (median; computed time ×1.80, from 193 WATCHes on partition 2 that came true)"
    )
    for nothing_learnt in (None, (1.0, 0)):
        rows = dict(forecast_details(st, 0, None, "partition 2", nothing_learnt))
        assert rows["buy chance"].endswith(" (median)")


def test_the_streams_correction_of_watch_chances_is_said() -> None:
    st = _walk("ACME", 300, buy=99.0, sell=101.5).state()
    shown = forecast_details(st, 0, None, "partition 2", None, (-math.log(4.5 / 1.5), 400))
    assert (
        "",
        "a WATCH's chance is shown lower (60% as 33%), from how often 400 WATCHes on "
        "partition 2 came true",
    ) in shown
    for nothing_learnt in (None, (0.0, 0), (0.0, 250)):
        lines = [text for _, text in forecast_details(st, 0, None, "x", None, nothing_learnt)]
        assert not any("a WATCH's chance" in line for line in lines)


def test_a_limit_reached_and_a_symbol_warming_up_say_so() -> None:
    beyond = _walk("ACME", 300, buy=50.0, sell=90.0).state()  # price above its sell limit
    rows = dict(forecast_details(beyond, 0, None))
    assert rows["sell limit"].startswith("90.00 · reached: the price is")
    last = float(beyond.last[0])  # of the limit, as "above it" says (not of the price)
    assert rows["sell limit"].endswith(f"is {last / 90.0 - 1:.2%} above it"), rows
    assert rows["sell chance"] == "reached"
    young = _walk("ACME", 5, buy=99.0, sell=101.0).state()
    shown = forecast_details(young, 0, None)
    assert ("buy chance", "warming up") in shown
    assert ("", "forecasts start after 20 ticks (5 so far)") in shown
    # The stream's time correction (193 WATCHes) does not stand in for the tick count.
    shown = forecast_details(young, 0, None, "partition 2", (1.8, 193))
    assert ("", "forecasts start after 20 ticks (5 so far)") in shown
    burst = Engine(EngineConfig(default_band=None, warmup_ticks=20, warmup_s=10.0))
    burst.set_limits("ACME", buy=99.0, sell=101.0)  # 40 ticks within one second
    burst.update(np.zeros(40, dtype=np.int32), np.linspace(0.0, 1.0, 40), np.full(40, 100.0))
    shown = forecast_details(burst.state(), 0, None)
    assert ("buy chance", "warming up") in shown
    assert ("", "forecasts start once its ticks cover about 10 s of weight") in shown


def test_d_explains_the_selected_symbol_at_80x24_and_d_closes_it() -> None:
    app = LimitwatchApp(StaticFeed())
    seen: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("j", "d")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        seen.append(app.screen.symbol)
        table = app.screen.query_one("#detail-table")
        lines = table.render_lines(Region(0, 0, table.size.width, table.size.height))
        seen.append("\n".join(line.text for line in lines))
        await pilot.press("d")
        await pilot.pause()
        assert not isinstance(app.screen, DetailScreen)

    drive(app, script, size=(80, 24))
    symbol, table = seen
    assert symbol == "BRIX"  # the second row: j moved the selection down once
    assert "buy limit" in table and "volatility" in table and "drift" in table


class _PartitionedFeed(StaticFeed):
    """The static market read from four partitions, each with a record of its own."""

    def latest(self):  # type: ignore[no-untyped-def]
        snap = super().latest()
        n = len(snap.engine.symbols)
        engine = dataclasses.replace(snap.engine, stream=np.arange(n, dtype=np.int64) % 4)
        pooled = _record(0.25)
        own = dataclasses.replace(_record(0.25), observed=np.where(pooled.count > 0, 0.3, np.nan))
        tracks = {k: pooled for k in range(4)} | {2: own}
        return dataclasses.replace(snap, engine=engine, track=pooled, tracks=tracks)


def test_the_record_explaining_a_forecast_is_that_of_its_partition() -> None:
    """A forecast went through its partition's calibration map: the record of that
    partition explains it, and says which partition it is."""
    feed = _PartitionedFeed()
    app = LimitwatchApp(feed)
    seen: list[str] = []
    engine = feed.latest().engine
    assert engine.symbols[2] == "CYGN" and engine.stream[2] == 2

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("j", "j", "d")  # CYGN: the third symbol, partition 2
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        table = app.screen.query_one("#detail-table")
        lines = table.render_lines(Region(0, 0, table.size.width, table.size.height))
        seen.append(" ".join(" ".join(line.text.split()) for line in lines))

    drive(app, script, size=(120, 40))
    k = min(int(10 * float(engine.p_buy[2])), 9)  # the tenth of the forecast explained
    said = rf"forecasts of {10 * k}-{10 * k + 10}% on partition 2 \(\d+% on average\) came true "
    assert re.search(said + "30% of 412 times", seen[0]), seen[0]


def test_a_far_limit_is_written_with_thousands_separators() -> None:
    """A sell limit of 999,999,999,999 read `664937828212.39% above the price · 3191.8 σ`
    beside the limit's own 999,999,999,999.00."""
    eng = _walk("ACME", 300, buy=99.0, sell=999_999_999_999.0)
    rows = dict((label, text) for label, text in forecast_details(eng.state(), 0, None) if label)
    sell = rows["sell limit"]
    assert sell.startswith("999,999,999,999.00 · ")
    assert re.search(r" · \d{1,3}(,\d{3})+\.\d\d% above the price · \d{1,3}(,\d{3})*\.\d σ ", sell)


def test_limits_of_a_symbol_with_no_price_yet_are_shown_not_called_none() -> None:
    """A replay's header gives ACME its limits before its first tick: the watchlist shows
    them, and the detail view said `none` for both."""
    eng = Engine(CFG)
    eng.register(["ACME"])
    eng.set_limits("ACME", buy=148.5, sell=154.56)
    rows = dict((label, text) for label, text in forecast_details(eng.state(), 0, None) if label)
    assert rows["buy limit"] == "148.50 · no price yet"
    assert rows["sell limit"] == "154.56 · no price yet"
    assert rows["buy chance"] != "no limit"
