"""Limits, the symbol table and the signal rules on small scripted price paths."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import engine.core
from engine import Engine, EngineConfig, LimitError, Signal, SignalKind
from engine.limits import limit_problem
from engine.rules import Rule
from engine.watch import Watch

# Crosses need the slow window full: a slow window longer than the scripts keeps them out.
NO_CROSSES = EngineConfig(fast=2, slow=50, history=50, default_band=None, hysteresis=0.002)
# Scripts of a few ticks forecast from their second tick; the warm-up has tests of its own.
NO_WARMUP = {"warmup_ticks": 1, "warmup_s": 0.0}
# A price parked just under its sell limit, with a drift: p stays high and nothing is hit.
PARKED = EngineConfig(
    fast=2,
    slow=50,
    history=50,
    default_band=None,
    halflife_s=3.0,
    horizon_s=10.0,
    **NO_WARMUP,
)


@pytest.fixture(autouse=True)
def _drift_trusted_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """These scripts test the rules on paths of a few seconds: their drift is taken as
    its posterior says from the first ticks on, not counted more while its window fills
    (engine.core.DRIFT_SETTLED_FILL, tested in test_warmup)."""
    monkeypatch.setattr(engine.core, "DRIFT_SETTLED_FILL", 0.0)


def feed(
    eng: Engine, symbol: str, prices: list[float], t0: float = 0.0, dt: float = 1.0
) -> list[Signal]:
    sid = int(eng.register([symbol])[0])
    n = len(prices)
    return eng.update(np.full(n, sid), t0 + dt * np.arange(n), np.array(prices, dtype=float))


def kinds(signals: list[Signal]) -> list[str]:
    return [s.kind.name for s in signals]


# --------------------------------------------------------------------------- limits


@pytest.mark.parametrize(
    ("buy", "sell", "message"),
    [
        (110.0, 100.0, "must be below the sell limit"),
        (100.0, 100.0, "must be below the sell limit"),
        (0.0, None, "positive and finite"),
        (-5.0, None, "positive and finite"),
        (None, math.inf, "positive and finite"),
        (-math.inf, None, "positive and finite"),
        ("cheap", None, "must be a number"),
        (None, 1e300, "must be below 1,000,000,000,000"),  # beyond any price a tick carries
    ],
)
def test_invalid_limits_are_refused_with_a_reason_and_change_nothing(
    buy: object, sell: object, message: str
) -> None:
    eng = Engine(NO_CROSSES)
    eng.set_limits("ACME", buy=90.0, sell=120.0)
    with pytest.raises(LimitError, match=message):
        eng.set_limits("ACME", buy=buy, sell=sell)  # type: ignore[arg-type]
    assert eng.limits("ACME") == (90.0, 120.0)
    assert issubclass(LimitError, ValueError)


def test_one_new_side_is_checked_against_the_other_existing_side() -> None:
    eng = Engine(NO_CROSSES)
    eng.set_limits("ACME", buy=90.0, sell=120.0)
    with pytest.raises(LimitError, match=r"buy limit 125\.00 must be below the sell limit 120\.00"):
        eng.set_limits("ACME", buy=125.0)
    eng.set_limits("ACME", sell=130.0)
    eng.set_limits("ACME", buy=125.0)
    assert eng.limits("ACME") == (125.0, 130.0)


def test_none_keeps_nan_clears_and_a_new_symbol_is_registered() -> None:
    eng = Engine(NO_CROSSES)
    eng.set_limits("NEW", buy=10.0)
    assert eng.symbols == ("NEW",)
    buy, sell = eng.limits("NEW")
    assert buy == 10.0 and math.isnan(sell)
    eng.set_limits("NEW", sell=12.0)
    eng.set_limits("NEW", buy=math.nan)
    buy, sell = eng.limits("NEW")
    assert math.isnan(buy) and sell == 12.0
    # with the buy side cleared, any sell is allowed
    eng.set_limits("NEW", sell=1.0)
    with pytest.raises(KeyError, match="unknown symbol 'OLD'"):
        eng.limits("OLD")


def test_default_band_applies_at_the_first_tick_unless_limits_were_set() -> None:
    eng = Engine(EngineConfig(default_band=0.05))
    eng.set_limits("KEPT", buy=50.0)
    eng.set_limits("CLEARED", buy=math.nan, sell=math.nan)
    for sym in ("FRESH", "KEPT", "CLEARED"):
        feed(eng, sym, [200.0, 201.0])
    assert eng.limits("FRESH") == pytest.approx((190.0, 210.0))
    buy, sell = eng.limits("KEPT")
    assert buy == 50.0 and math.isnan(sell)
    assert all(math.isnan(x) for x in eng.limits("CLEARED"))
    no_band = Engine(EngineConfig(default_band=None))
    feed(no_band, "X", [200.0])
    assert all(math.isnan(x) for x in no_band.limits("X"))


def test_band_limits_read_as_the_price_does_with_no_float_noise() -> None:
    """150.52 x 1.02 is 153.53040000000001 in floating point, which a signal's JSON
    printed as its limit; then 153.5304 sat beside a price of 150.52: the band's limits
    have the price's decimals, more only where the band's width needs them."""
    eng = Engine(EngineConfig(default_band=0.02))
    for symbol, first in (("ACME", 150.52), ("FIVE", 5.0), ("TINY", 0.000123), ("BIG", 41235.5)):
        feed(eng, symbol, [first])
    assert eng.limits("ACME") == (147.51, 153.53)
    assert repr(eng.limits("ACME")[1]) == "153.53"
    assert eng.limits("FIVE") == (4.9, 5.1)
    assert eng.limits("TINY") == (0.0001205, 0.0001255)
    assert eng.limits("BIG") == (40410.8, 42060.2)
    # A band near 1 leaves the buy limit far below the price: its own digits kept.
    wide = Engine(EngineConfig(default_band=0.99))
    feed(wide, "FIVE", [5.0])
    assert wide.limits("FIVE") == (0.05, 9.95)


def test_a_band_limit_no_price_can_reach_is_none() -> None:
    """A 2 % band around 9.99e11 put the sell limit past the largest price a tick can
    carry, which every check refuses: the monitor's keys on that symbol were refused and a
    recording's header stopped the reading. That side has no limit; a quantity's bounds
    are its own (it may sit at 1e-12 or below)."""
    eng = Engine(EngineConfig(default_band=0.02), additive=["q.*"])
    for symbol, first in (("HUGE", 9.99e11), ("TINY", 1e-12), ("q.len", 1e-12), ("OK", 100.0)):
        feed(eng, symbol, [first])
    assert eng.limits("HUGE")[0] == 979_020_000_000.0 and math.isnan(eng.limits("HUGE")[1])
    assert math.isnan(eng.limits("TINY")[0]) and eng.limits("TINY")[1] == 1.02e-12
    assert eng.limits("q.len") == (9.8e-13, 1.02e-12)
    assert eng.limits("OK") == (98.0, 102.0)
    for symbol in ("HUGE", "TINY", "q.len"):
        buy, sell = eng.limits(symbol)
        assert limit_problem(buy, sell, additive=symbol == "q.len") is None


def test_limit_change_shows_in_state_at_once_with_a_fresh_forecast() -> None:
    eng = Engine(replace(NO_CROSSES, **NO_WARMUP))
    feed(eng, "ACME", [100.0, 100.5, 99.8, 100.2, 100.1])
    before = eng.state()
    assert math.isnan(before.p_buy[0])
    eng.set_limits("ACME", buy=99.9, sell=100.15)
    st = eng.state()
    assert (st.buy[0], st.sell[0]) == (99.9, 100.15)
    assert 0.0 < st.p_buy[0] < 1.0 and 0.0 < st.p_sell[0] < 1.0
    eng.set_limits("ACME", sell=100.05)  # already beyond: certain and immediate
    st = eng.state()
    assert (st.p_sell[0], st.eta_sell[0]) == (1.0, 0.0)
    assert math.isnan(before.buy[0]), "an earlier snapshot does not change"


# --------------------------------------------------------------------------- symbol table


def test_symbols_beyond_the_cap_are_refused_and_counted_once() -> None:
    eng = Engine(EngineConfig(max_symbols=3))
    ids = eng.register(["A", "B", "A", "C", "D", "E", "D"])
    assert ids.dtype == np.int32
    assert ids.tolist() == [0, 1, 0, 2, -1, -1, -1]
    assert eng.refused == 2
    assert eng.register(["D", "C"]).tolist() == [-1, 2]
    assert eng.refused == 2
    with pytest.raises(LimitError, match="3 symbols already tracked"):
        eng.set_limits("F", buy=1.0)
    assert eng.refused == 3
    assert len(eng.state().symbols) == 3 == eng.state().n_ticks.shape[0]
    assert eng.state().refused == 3


def test_register_wants_a_list_not_a_single_string() -> None:
    eng = Engine()
    with pytest.raises(TypeError, match="not one str"):
        eng.register("ACME")
    assert eng.register(iter(["ACME"])).tolist() == [0]


def test_state_memory_is_bounded_by_the_cap() -> None:
    eng = Engine(EngineConfig(max_symbols=100, fast=2, slow=4, history=4))
    eng.register([f"S{i}" for i in range(10_000)])
    assert eng._s.capacity == 100
    assert len(eng._refused_names) <= 100
    assert eng.refused == 9_900
    assert eng.bytes_per_symbol > 0


def test_ticks_with_negative_ids_or_bad_values_are_skipped() -> None:
    eng = Engine(NO_CROSSES)
    eng.register(["A"])
    eng.update([0, -1, 0, 0, 0], [0.0, 1.0, np.nan, 3.0, 4.0], [10.0, 11.0, 12.0, -1.0, 13.0])
    st = eng.state()
    assert st.n_ticks.tolist() == [2]
    assert st.last.tolist() == [13.0]
    assert eng.skipped == 2
    assert eng.update([], [], []) == []


def test_malformed_batches_are_refused() -> None:
    eng = Engine(NO_CROSSES)
    eng.register(["A"])
    with pytest.raises(ValueError, match="never registered"):
        eng.update([0, 1], [0.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="equal length"):
        eng.update([0, 0], [0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="integers"):
        eng.update([0.5], [0.0], [1.0])


# --------------------------------------------------------------------------- rules


def test_scripted_path_through_both_limits_gives_watches_then_hits_in_order() -> None:
    eng = Engine(replace(PARKED, halflife_s=5.0, horizon_s=5.0))
    eng.set_limits("ACME", buy=95.0, sell=105.0)
    up = [100.0, 100.5, 101.0, 102.0, 103.0, 104.0, 105.5, 106.0]
    down = [104.0, 102.0, 100.0, 98.0, 96.5, 95.5, 94.0, 93.0]
    signals = feed(eng, "ACME", up + down)
    assert kinds(signals) == ["SELL_WATCH", "SELL", "BUY_WATCH", "BUY"]
    assert [s.id for s in signals] == [
        "ACME:SELL_WATCH:1",
        "ACME:SELL:1",
        "ACME:BUY_WATCH:1",
        "ACME:BUY:1",
    ]
    watch_sell, sell, watch_buy, buy = signals
    assert sell.price == 105.5 and sell.limit == 105.0 and (sell.p_hit, sell.eta_s) == (1, 0)
    assert buy.price == 94.0 and buy.limit == 95.0
    assert watch_sell.t < sell.t and watch_sell.price < 105.0 and watch_sell.p_hit >= 0.6
    assert watch_buy.t < buy.t and watch_buy.price > 95.0 and watch_buy.p_hit >= 0.6
    assert watch_sell.eta_s > 0 and watch_buy.eta_s > 0


def test_price_chopping_around_the_limit_gives_one_signal_until_it_moves_back() -> None:
    eng = Engine(NO_CROSSES)  # hysteresis 0.2%: re-arms above 95 * 1.002 = 95.19
    eng.set_limits("ACME", buy=95.0)
    # Moves of a few hundredths (two of them are well within the hysteresis), then a
    # chop about the limit.
    near = [round(95.40 - 0.02 * i, 2) for i in range(20)]
    chop = [*near, 94.99, 95.1, 94.98, 95.15, 94.95, 95.18, 94.97]
    signals = [s for s in feed(eng, "ACME", chop) if s.kind is SignalKind.BUY]
    assert [s.price for s in signals] == [94.99]
    signals = [s for s in feed(eng, "ACME", [95.3, 94.9], t0=100.0) if s.kind is SignalKind.BUY]
    assert [(s.price, s.seq) for s in signals] == [(94.9, 2)]


def test_trades_bouncing_between_bid_and_ask_wider_than_the_hysteresis_give_one_signal() -> None:
    # Trades at a bid and an ask 0.5 % apart (the hysteresis is 0.2 %) as the middle falls
    # through the buy limit: every trade at the ask was back beyond the limit by the
    # hysteresis, and the next at the bid fired the BUY again. The typical move from one
    # trade to the next is the spread, and a hit re-arms only two of them back.
    eng = Engine(NO_CROSSES)
    eng.set_limits("ACME", buy=95.0)
    mid = 96.0 - 0.01 * np.arange(200)  # 96.00 down to 94.01
    trades = np.where(np.arange(200) % 2 == 0, mid - 0.24, mid + 0.24)
    signals = [s for s in feed(eng, "ACME", trades.tolist()) if s.kind is SignalKind.BUY]
    assert len(signals) == 1 and signals[0].price <= 95.0
    # Back by more than two such moves, it re-arms: down again, a second BUY.
    again = [96.5, 96.8, 97.0, 96.0, 95.5, 94.9]
    signals = [s for s in feed(eng, "ACME", again, t0=300.0) if s.kind is SignalKind.BUY]
    assert [s.price for s in signals] == [94.9]


def test_sell_side_hysteresis_mirrors_the_buy_side() -> None:
    eng = Engine(NO_CROSSES)  # re-arms below 110 * 0.998 = 109.78
    eng.set_limits("ACME", sell=110.0)
    near = [round(109.60 + 0.02 * i, 2) for i in range(20)]
    path = [*near, 110.0, 109.9, 110.2, 109.8, 110.1, 109.5, 110.0]
    sells = [s for s in feed(eng, "ACME", path) if s.kind is SignalKind.SELL]
    assert [(s.price, s.seq) for s in sells] == [(110.0, 1), (110.0, 2)]


def test_setting_a_limit_rearms_its_signals() -> None:
    eng = Engine(NO_CROSSES)
    eng.set_limits("ACME", buy=95.0)
    assert kinds(feed(eng, "ACME", [100.0, 94.0, 93.5])).count("BUY") == 1
    eng.set_limits("ACME", buy=95.0)  # same value: an explicit re-arm
    again = [s for s in feed(eng, "ACME", [93.0], t0=10.0) if s.kind is SignalKind.BUY]
    assert [s.seq for s in again] == [2]
    eng.set_limits("ACME", sell=200.0)  # the other side does not re-arm the buy side
    assert "BUY" not in kinds(feed(eng, "ACME", [92.0], t0=11.0))


def test_watch_fires_once_and_rearms_only_when_the_hit_becomes_unlikely() -> None:
    cfg = replace(PARKED, horizon_s=5.0, alert_p=0.6, watch_rearm=0.5)
    eng = Engine(cfg)
    eng.set_limits("ACME", sell=110.0)
    approach = [100.0, 102.0, 104.0, 106.0, 107.0, 107.5, 107.0, 107.8]
    first = feed(eng, "ACME", approach)
    assert kinds(first) == ["SELL_WATCH"]
    p_after = eng.state().p_sell[0]
    assert p_after >= 0.3, "still likely: no re-arm, no repeat"
    retreat = [104.0, 100.0, 96.0, 92.0, 90.0, 90.0, 90.0]
    assert feed(eng, "ACME", retreat, t0=8.0) == []
    assert eng.state().p_sell[0] <= 0.3
    again = feed(eng, "ACME", [94.0, 98.0, 102.0, 106.0, 108.0], t0=15.0)
    assert [(s.kind.name, s.seq) for s in again][:1] == [("SELL_WATCH", 2)]


def test_reaching_the_limit_disarms_the_watch_so_no_watch_follows_the_hit() -> None:
    eng = Engine(replace(PARKED, halflife_s=5.0, horizon_s=5.0))
    eng.set_limits("ACME", sell=101.0)
    # a jump straight through: a hit without a preceding watch, and none just after it
    signals = feed(eng, "ACME", [100.0, 100.01, 102.0, 100.9, 100.95, 100.9])
    assert kinds(signals) == ["SELL"]


def test_moving_average_crosses_fire_on_changes_once_the_slow_window_is_full() -> None:
    eng = Engine(EngineConfig(fast=2, slow=4, history=4, default_band=None, cross_quiet_s=0.0))
    path = [10.0, 9.0, 8.0, 7.0, 6.0, 7.0, 9.0, 11.0, 10.0, 8.0, 6.0]
    signals = feed(eng, "ACME", path)
    assert kinds(signals) == ["GOLDEN_CROSS", "DEATH_CROSS"]
    golden, death = signals
    assert golden.price == 9.0 and death.price == 8.0
    assert math.isnan(golden.limit) and math.isnan(golden.p_hit) and math.isnan(golden.eta_s)


def test_flat_price_rounding_noise_never_reads_as_a_cross() -> None:
    eng = Engine(EngineConfig(fast=3, slow=7, history=7, default_band=None))
    # 0.1 is not representable: the two averages differ from it, and each other, in the
    # last bits, which without a tolerance would flip the order back and forth.
    assert feed(eng, "FLAT", [0.1] * 500) == []
    st = eng.state()
    assert st.sma_fast[0] != st.sma_slow[0]
    assert st.sma_fast[0] == pytest.approx(st.sma_slow[0], rel=1e-15)


def test_signal_id_is_symbol_kind_and_sequence() -> None:
    s = Signal("ACME", SignalKind.BUY_WATCH, 3, 1.0, 2.0, 3.0, 0.7, 12.0)
    assert s.id == "ACME:BUY_WATCH:3"
    with pytest.raises(AttributeError):
        s.seq = 4  # type: ignore[misc]


# --------------------------------------------------------------------------- robustness


def test_first_ticks_same_times_and_repeated_prices_never_give_inf() -> None:
    eng = Engine(EngineConfig(fast=2, slow=3, history=5, default_band=0.01))
    feed(eng, "A", [100.0])
    st = eng.state()
    assert math.isnan(st.drift[0]) and math.isnan(st.vol[0])
    assert math.isnan(st.p_buy[0]) and st.ema[0] == 100.0
    feed(eng, "A", [101.0, 99.0, 100.5], t0=0.0, dt=0.0)  # no time has passed
    st = eng.state()
    assert math.isnan(st.drift[0]) and math.isnan(st.vol[0])
    feed(eng, "A", [100.5] * 5, t0=1.0)  # time passes, nothing moves but the first jumps
    st = eng.state()
    assert np.isfinite(st.drift[0]) and np.isfinite(st.vol[0])
    eng2 = Engine(EngineConfig(fast=2, slow=3, history=5, default_band=0.01))
    feed(eng2, "B", [50.0] * 25)  # past the warm-up
    st = eng2.state()
    assert (st.drift[0], st.vol[0]) == (0.0, 0.0)
    assert (st.p_buy[0], st.p_sell[0]) == (0.0, 0.0), "a still price reaches nothing"
    for name in ("sma_fast", "sma_slow", "ema", "drift", "vol", "p_buy", "eta_sell"):
        assert not np.isinf(getattr(st, name)).any(), name


def test_event_time_going_backwards_is_held_at_the_latest() -> None:
    eng = Engine(NO_CROSSES)
    feed(eng, "A", [10.0, 11.0], t0=100.0)
    eng.update([0, 0], [50.0, 102.0], [12.0, 13.0])
    assert eng.history("A").t.tolist() == [100.0, 101.0, 101.0, 102.0]
    assert eng.state().t_last[0] == 102.0


def test_history_keeps_the_latest_ticks_oldest_first() -> None:
    eng = Engine(EngineConfig(fast=2, slow=3, history=4, default_band=None))
    feed(eng, "A", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    h = eng.history("A")
    assert h.price.tolist() == [3.0, 4.0, 5.0, 6.0]
    assert h.t.tolist() == [2.0, 3.0, 4.0, 5.0]
    assert h.sma_fast.tolist() == [2.5, 3.5, 4.5, 5.5]
    assert h.sma_slow.tolist() == [2.0, 3.0, 4.0, 5.0]
    eng.set_limits("EMPTY", buy=1.0)
    assert eng.history("EMPTY").price.shape == (0,)


@pytest.mark.parametrize("ticks", [1, 5, 9, 12, 17, 40, 101])
def test_history_averages_are_the_means_of_the_kept_and_earlier_prices(ticks: int) -> None:
    # The history keeps prices, not averages: they are replayed over the ticks returned
    # and, once the ring has wrapped, the slow - 1 prices before them. Uneven batches and
    # prices far apart in size make the block sums and the ring wrap visible.
    cfg = EngineConfig(fast=3, slow=7, history=9, default_band=None)
    rng = np.random.default_rng(ticks)
    prices = np.exp(rng.normal(0.0, 3.0, ticks)) * 100.0
    eng = Engine(cfg)
    eng.register(["A"])
    cuts = np.unique(np.concatenate(([0, ticks], rng.integers(0, ticks, 4))))
    for a, z in itertools.pairwise(cuts.tolist()):
        eng.update(np.zeros(z - a, dtype=np.int64), np.arange(a, z, dtype=float), prices[a:z])
    h, st = eng.history("A"), eng.state()
    kept = min(ticks, cfg.history)
    np.testing.assert_array_equal(h.price, prices[-kept:])
    np.testing.assert_array_equal(h.t, np.arange(ticks - kept, ticks, dtype=float))
    for got, size, now in (
        (h.sma_fast, cfg.fast, st.sma_fast[0]),
        (h.sma_slow, cfg.slow, st.sma_slow[0]),
    ):
        want = [prices[max(0, i - size + 1) : i + 1].mean() for i in range(ticks - kept, ticks)]
        np.testing.assert_allclose(got, want, rtol=1e-12)
        assert got[-1] == pytest.approx(now, rel=1e-14)


def test_snapshots_are_read_only_copies() -> None:
    eng = Engine(NO_CROSSES)
    feed(eng, "A", [1.0, 2.0])
    st = eng.state()
    with pytest.raises(ValueError, match="read-only"):
        st.last[0] = 5.0
    with pytest.raises(ValueError, match="read-only"):
        eng.history("A").price[0] = 5.0
    feed(eng, "A", [3.0], t0=5.0)
    assert st.last[0] == 2.0 and eng.state().last[0] == 3.0


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fast": 0}, "fast"),
        ({"fast": 10, "slow": 10}, "slow"),
        ({"halflife_s": 0.0}, "halflife_s"),
        ({"halflife_s": math.inf}, "halflife_s"),
        ({"horizon_s": -1.0}, "horizon_s"),
        ({"alert_p": 1.0}, "alert_p"),
        ({"alert_p": 0.0}, "alert_p"),
        ({"hysteresis": -0.1}, "hysteresis"),
        ({"max_symbols": 0}, "max_symbols"),
        ({"history": 99}, "history"),
        ({"default_band": 1.0}, "default_band"),
        ({"default_band": 0.0}, "default_band"),
        ({"watch_rearm": 1.0}, "watch_rearm"),
        ({"watch_floor": 1.0}, "watch_floor"),
        ({"watch_floor": -0.1}, "watch_floor"),
        ({"watch_floor": math.nan}, "watch_floor"),
        ({"fast": 2.5}, "fast"),
        ({"slow": True}, "slow"),
        ({"warmup_ticks": 0}, "warmup_ticks"),
        ({"warmup_ticks": 20.0}, "warmup_ticks"),
        ({"warmup_s": -1.0}, "warmup_s"),
        ({"warmup_s": math.nan}, "warmup_s"),
        # the weighted span of steady ticks tends to halflife_s / ln 2 = 14.43 s
        ({"halflife_s": 10.0, "warmup_s": 14.5}, r"warmup_s .*halflife_s / ln 2 = 14\.4"),
    ],
)
def test_config_refuses_bad_settings_naming_the_field(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EngineConfig(**kwargs)


def test_config_is_frozen_and_defaults_are_as_documented() -> None:
    cfg = EngineConfig()
    assert (cfg.fast, cfg.slow, cfg.halflife_s, cfg.horizon_s, cfg.alert_p) == (
        20,
        100,
        30.0,
        60.0,
        0.6,
    )
    assert (cfg.hysteresis, cfg.max_symbols, cfg.history, cfg.default_band) == (
        0.002,
        10_000,
        600,
        0.02,
    )
    assert (cfg.watch_rearm, cfg.watch_floor, cfg.warmup_ticks, cfg.warmup_s) == (
        0.5,
        0.3,
        20,
        None,
    )
    assert cfg.warmup_span == 15.0 == cfg.halflife_s / 2
    assert EngineConfig(halflife_s=10.0, warmup_s=14.4).warmup_span == 14.4
    with pytest.raises(AttributeError):
        cfg.fast = 5  # type: ignore[misc]
    assert Engine().config == cfg


def _sell_watch_times(eng: Engine, path: list[float], t0: float = 0.0) -> list[float]:
    return [s.t for s in feed(eng, "ACME", path, t0=t0) if s.kind is SignalKind.SELL_WATCH]


#: Up to 100.8 in five seconds, under a sell limit at 101.
APPROACH = [100.0, 100.2, 100.4, 100.6, 100.8]


def test_an_unanswered_watch_expires_after_the_horizon_and_warns_again() -> None:
    eng = Engine(PARKED)
    eng.set_limits("ACME", sell=101.0)
    # then parked just under the limit for half a minute: p stays high, no hit
    times = _sell_watch_times(eng, APPROACH + [100.85, 100.95] * 15)
    assert eng.state().p_sell[0] >= 0.6
    # the first once the approach makes it likely, the second at its expiry 10 s later
    assert times[0] in (2.0, 3.0, 4.0) and times[1] == times[0] + 10.0
    # later ones at an expiry or after p fell back to the re-arm level, never in the quiet
    assert len(times) >= 3 and all(b - a > 5.0 for a, b in itertools.pairwise(times))


def test_quiet_time_keeps_two_watches_of_a_side_at_most_per_horizon() -> None:
    # p rises past alert_p and falls past the re-arm level every 10 s (a volatility of
    # the last few seconds' returns: with one tick a second and a 3 s half-life, steps of
    # a whole second on its clock)
    swing = [100.0, 100.5, 100.9, 100.95, 100.0, 99.0, 98.5, 98.5, 98.5, 98.5] * 6
    cfg = replace(PARKED, horizon_s=20.0, vol_returns=1)
    loud, quiet = Engine(replace(cfg, watch_quiet_s=0.0)), Engine(cfg)
    for eng in (loud, quiet):
        eng.set_limits("ACME", sell=101.0)
    assert _sell_watch_times(loud, swing) == [1.0, 10.0, 20.0, 30.0, 40.0, 50.0]
    # more than 10 s apart: each held back to the first high p after the quiet time
    times = _sell_watch_times(quiet, swing)
    assert times == [1.0, 12.0, 23.0, 34.0, 50.0]
    for a in times:
        assert sum(a <= b <= a + cfg.horizon_s for b in times) <= 2


def test_a_limit_moved_a_little_or_still_at_risk_keeps_its_watch() -> None:
    eng = Engine(PARKED)
    eng.set_limits("ACME", sell=101.0)
    assert len(_sell_watch_times(eng, APPROACH)) == 1  # once the approach makes it likely
    eng.set_limits("ACME", sell=101.1)  # 0.1 %: within the hysteresis band
    eng.set_limits("ACME", sell=100.9)  # closer: p is still high, the watch holds
    assert eng.state().p_sell[0] >= 0.6
    assert eng._s.rules[0, Rule.WATCH_SELL] == Watch.FIRED
    assert _sell_watch_times(eng, [100.85, 100.8, 100.85], t0=5.0) == []


def test_a_limit_moved_out_of_reach_rearms_its_watch_for_the_new_risk() -> None:
    eng = Engine(PARKED)
    eng.set_limits("ACME", sell=101.0)
    first = _sell_watch_times(eng, APPROACH)
    assert len(first) == 1  # once the approach makes it likely
    eng.set_limits("ACME", sell=103.0)  # p falls below alert_p: the risk is new
    assert eng.state().p_sell[0] < 0.6
    assert eng._s.rules[0, Rule.WATCH_SELL] == Watch.ARMED
    # the price heads for the new limit: a new watch after the quiet time, well before
    # the first one would have expired
    again = _sell_watch_times(eng, [101.5, 102.0, 102.4, 102.7, 102.8], t0=5.0)
    assert len(again) == 1
    assert first[0] + PARKED.watch_quiet < again[0] < first[0] + PARKED.horizon_s


def test_crosses_in_a_sideways_chop_are_few_and_spaced_by_the_quiet_time() -> None:
    from producer.scenario import ScenarioReader

    path = Path(__file__).resolve().parents[2] / "scenarios" / "chop.jsonl"
    reader = ScenarioReader(path)
    ticks = list(reader)
    cfg = EngineConfig(**reader.header.engine, default_band=None)
    eng = Engine(cfg)
    eng.register(["FOXL"])
    crosses = [
        s
        for s in eng.update(
            np.zeros(len(ticks), dtype=np.int64),
            [t.ts for t in ticks],
            [t.price for t in ticks],
        )
        if s.kind in (SignalKind.GOLDEN_CROSS, SignalKind.DEATH_CROSS)
    ]
    assert 1 <= len(crosses) <= 6
    assert all(b.t - a.t > cfg.cross_quiet for a, b in itertools.pairwise(crosses))
    # golden and death alternate
    assert all(a.kind is not b.kind for a, b in itertools.pairwise(crosses))


def test_a_price_flickering_across_a_limit_on_a_coarse_grid_crosses_it_once() -> None:
    """A cent on a price of 2 is 0.5 %, more than the hysteresis (0.2 %): the price
    flickering between 2.00 and 2.01 across a sell limit of 2.0094 re-armed and fired a
    SELL at every 2.01 (23 of one limit in half an hour of a backtest). A hit on a grid
    re-arms only a whole step back beyond the limit, and two of the price's typical moves
    (here a cent each): at 1.98, not at 2.00 or 1.99."""
    eng = Engine(EngineConfig(default_band=None, calibrate_after_s=math.inf))
    eng.register(["S"])
    eng.set_limits("S", buy=1.5, sell=2.0094)
    warm = [1.99, 2.00] * 13  # the grid (a cent) is known after 20 steps
    flicker = [2.01, 2.00] * 10
    prices = [*warm, *flicker, 1.99, 2.00, 2.01, 1.98, 2.00, 2.01]
    t = 1.7e9 + np.arange(len(prices), dtype=float)
    signals = eng.update(np.zeros(len(prices), dtype=np.int32), t, np.array(prices))
    sells = [s.t - t[0] for s in signals if s.kind is SignalKind.SELL]
    assert sells == [len(warm), len(prices) - 1.0], sells


@pytest.mark.parametrize("back_above", [False, True])
def test_a_symbol_started_afresh_keeps_a_crossed_limit_crossed(back_above: bool) -> None:
    """A tick sent ahead of a symbol's real ticks makes the consumer start it afresh: its
    crossed buy limit was armed again, and a second BUY fired of a price that had stayed
    below the limit for nine minutes. Re-armed before the restart (the price back above
    the limit), the next crossing fires as before."""
    eng = Engine(replace(NO_CROSSES, **NO_WARMUP))
    sid = eng.register(["ACME"])[0]
    eng.set_limits("ACME", buy=90.0, sell=110.0)
    path = [100.0, 89.0, 88.5, 88.0] + ([95.0, 96.0] + [100.0] * 5 if back_above else [87.5])
    first = eng.update([sid] * len(path), np.arange(len(path), dtype=float), path)
    assert [s.kind for s in first if s.kind == SignalKind.BUY] == [SignalKind.BUY]
    assert eng.restart("ACME")
    after = eng.update([sid, sid], [100.0, 101.0], [87.0, 86.5])
    buys = [s for s in after if s.kind == SignalKind.BUY]
    assert len(buys) == (1 if back_above else 0)
    assert eng.state().n_ticks[sid] == 2  # started afresh all the same
