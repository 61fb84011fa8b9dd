"""Markets that close: nights between sessions (:func:`engine.core.reopens`).

A night is not time the price diffused in. Taken as one 17-hour step it swamped the
volatility's time sum while its clock moved one step, and every morning the forecasts
were blind for minutes: the volatility at the open fell to a few percent of the close's,
``p`` to about 0 for prices next to their limits."""

from __future__ import annotations

import numpy as np
import pytest

from engine import Engine, EngineConfig
from engine.core import REOPEN_HORIZONS, REOPEN_STEPS, reopens
from engine.evaluation import closed_time
from engine.quality import TickOrder

SYMBOLS = 20
SESSION_S = 15 * 60.0
NIGHT_S = 17.75 * 3600.0
VOL = 3e-4  # per sqrt(second)


def sessions(n_sessions: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random walks ticking about once a second each during ``n_sessions`` sessions of 15
    minutes, nights of 17.75 hours between them; the price at each open goes on from the
    close with a gap of 0.5 % (a night's news)."""
    rng = np.random.default_rng(seed)
    ids, t, price = [], [], []
    for s in range(SYMBOLS):
        level = np.log(100.0 + 10 * s)
        for day in range(n_sessions):
            start = day * (SESSION_S + NIGHT_S)
            times = start + np.sort(rng.uniform(0.0, SESSION_S, int(SESSION_S)))
            steps = rng.normal(0.0, VOL * np.sqrt(np.diff(times, prepend=start)))
            if day:
                steps[0] += rng.normal(0.0, 0.005)
            walk = level + np.cumsum(steps)
            level = walk[-1]
            ids.append(np.full(times.size, s))
            t.append(1.7e9 + times)
            price.append(np.exp(walk))
    ids_a, t_a, price_a = (np.concatenate(x) for x in (ids, t, price))
    order = np.argsort(t_a, kind="stable")
    return ids_a[order].astype(np.int32), t_a[order], price_a[order]


def _engine() -> Engine:
    eng = Engine(EngineConfig(history=0))
    eng.register([f"S{i}" for i in range(SYMBOLS)])
    return eng


def _feed(eng: Engine, ticks: tuple[np.ndarray, ...], until: float, batch: int = 997) -> None:
    """Feed the ticks not yet given up to event time ``until`` (1.7e9 + seconds)."""
    ids, t, price = ticks
    done = getattr(eng, "_fed", 0)
    end = int(np.searchsorted(t, 1.7e9 + until, side="right"))
    for a in range(done, end, batch):
        b = min(a + batch, end)
        eng.update(ids[a:b], t[a:b], price[a:b])
    eng._fed = end  # type: ignore[attr-defined]


@pytest.mark.parametrize("day", [1, 2])
def test_the_volatility_carries_over_the_night(day: int) -> None:
    ticks = sessions()
    eng = _engine()
    open_at = day * (SESSION_S + NIGHT_S)
    _feed(eng, ticks, open_at - NIGHT_S)  # to the close before
    at_close = eng.state().vol.copy()
    for after in (20.0, 60.0, 180.0):
        _feed(eng, ticks, open_at + after)
        ratio = np.median(eng.state().vol / at_close)
        # Before: 0.04 of the close's 20 s after the open.
        assert 0.6 < ratio < 1.6, (after, ratio)
        assert 0.6 < np.median(eng.state().vol) / VOL < 1.6


def test_a_price_next_to_its_limit_is_forecast_at_the_open_as_before_the_close() -> None:
    """Limits 0.2 % either side of each price, a minute before the first session closes
    and 30 s after the next opens: the forecasts alike (before, about 0 at the open)."""
    ticks = sessions()

    def p_at(when: float) -> float:
        eng = _engine()
        _feed(eng, ticks, when)
        st = eng.state()
        for name, last in zip(st.symbols, st.last, strict=True):
            eng.set_limits(name, buy=last * 0.998, sell=last * 1.002)
        st = eng.state()
        return float(np.median(np.concatenate((st.p_buy, st.p_sell))))

    evening, morning = p_at(SESSION_S - 60.0), p_at(SESSION_S + NIGHT_S + 30.0)
    assert 0.2 < evening < 0.6, evening
    assert morning == pytest.approx(evening, abs=0.08), (morning, evening)


def test_a_quiet_spell_and_ticks_a_day_apart_are_no_closure() -> None:
    h = 60.0
    assert REOPEN_HORIZONS * h == 600.0
    # five minutes of silence in a market ticking every second: not closed
    assert not reopens([300.0], [1.0], h).any()
    # daily closes at a minute's horizon, a weekend among them
    assert not reopens([86_400.0, 3 * 86_400.0], [86_400.0, 86_400.0], h).any()
    # a symbol's first step, with none before it
    assert not reopens([64_000.0], [0.0], h).any()
    # a night, a lunch break, a halt of 15 minutes
    assert reopens([63_900.0, 5_400.0, 900.0], [1.0, 2.0, 0.5], h).all()
    assert not reopens([900.0], [900.0 / REOPEN_STEPS], h).any()


def test_the_engine_gives_the_same_on_any_split_of_sessions() -> None:
    ticks = sessions(n_sessions=2, seed=3)
    a, b = _engine(), _engine()
    _feed(a, ticks, 2 * (SESSION_S + NIGHT_S), batch=5000)
    _feed(b, ticks, 2 * (SESSION_S + NIGHT_S), batch=61)
    for name in ("vol", "drift", "drift_se", "ema", "p_buy", "p_sell"):
        np.testing.assert_array_equal(getattr(a.state(), name), getattr(b.state(), name))


def test_closed_time_adds_up_each_streams_nights() -> None:
    ids, t, price = sessions()
    order = TickOrder(ids, t, price, np.full(SYMBOLS, np.nan), np.full(SYMBOLS, np.nan))
    closed = closed_time(order, 60.0)
    # each symbol's two nights, from its last tick of a session to its first of the next
    nights = 0.0
    for s in range(SYMBOLS):
        own = t[ids == s]
        steps = np.diff(own)
        nights += steps[steps > 3600.0].sum()
    assert closed == pytest.approx(nights, rel=1e-12)
    assert closed == pytest.approx(SYMBOLS * 2 * NIGHT_S, rel=0.01)
