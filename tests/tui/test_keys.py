"""Keybindings that move limits: each key changes the selected symbol's limit by one
step, and a buy limit at or above the sell limit is refused with a message."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import signal
import threading
import time

import pytest

import tui.app
from engine.limits import limit_problem
from tests.tui.driving import until_shown
from tests.tui.feeds import StaticFeed
from tui.app import LimitwatchApp
from tui.runtime import format as fmt
from tui.runtime.watchdog import QUIT_GRACE_S, exit_hard_after


def _limits(feed: StaticFeed, symbol: str) -> tuple[float, float]:
    return feed.engine.limits(symbol)


async def _press(app: LimitwatchApp, *keys: str) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
            await until_shown(pilot, app)  # the next key starts from what this one changed


@pytest.mark.parametrize(
    ("key", "side", "direction"),
    [("b", 0, -1), ("B", 0, 1), ("s", 1, -1), ("S", 1, 1)],
)
def test_limit_keys_step_the_selected_symbol(key: str, side: int, direction: int) -> None:
    feed = StaticFeed()
    symbol = feed.engine.state().symbols[0]
    before = _limits(feed, symbol)
    last = float(feed.engine.state().last[0])
    app = LimitwatchApp(feed, step=0.005)
    asyncio.run(_press(app, key))
    after = _limits(feed, symbol)
    # one step of the price, to the digits the screen shows it with (no float noise)
    assert after[side] == fmt.as_shown(before[side] + direction * 0.005 * last)
    assert after[side] == float(fmt.price(after[side]).replace(",", ""))
    assert after[1 - side] == before[1 - side]


@pytest.mark.parametrize(("key", "side"), [("b", 0), ("B", 0), ("s", 1), ("S", 1)])
def test_a_side_with_no_limit_gets_one_a_step_from_the_price_on_its_own_side(
    key: str, side: int
) -> None:
    # From the price, B had set a buy limit above it (and s a sell limit below it): a BUY
    # (SELL) fired at once.
    feed = StaticFeed()
    symbol = feed.engine.state().symbols[0]
    last = float(feed.engine.state().last[0])
    other = (math.nan, 1.2 * last) if side == 0 else (0.8 * last, math.nan)
    feed.engine.set_limits(symbol, *other)
    before = _limits(feed, symbol)
    asyncio.run(_press(LimitwatchApp(feed, step=0.005), key))
    after = _limits(feed, symbol)
    below_or_above = -1 if side == 0 else 1
    assert after[side] == fmt.as_shown(last + below_or_above * 0.005 * last)
    assert after[1 - side] == before[1 - side]


def _limit_near_the_price(
    side: int, gap: float
) -> tuple[StaticFeed, str, float, tuple[float, float]]:
    """A feed whose first symbol has its buy (side 0) or sell (1) limit ``gap`` of its
    price away, the other limit far: the feed, the symbol, its price and its limits."""
    feed = StaticFeed()
    symbol = feed.engine.state().symbols[0]
    last = float(feed.engine.state().last[0])
    near = (last * (1 - gap), last * 1.2) if side == 0 else (last * 0.8, last * (1 + gap))
    feed.engine.set_limits(symbol, *near)
    return feed, symbol, last, near


@pytest.mark.parametrize(("key", "side"), [("B", 0), ("s", 1)])
def test_a_step_that_would_fire_its_limit_at_once_asks_for_the_key_again(
    key: str, side: int
) -> None:
    """One B took a buy limit from 151.10 to 151.86 with the price at 151.28, and a BUY
    fired: as the limits dialog does, the step that takes a limit past the price asks
    first, and the same key again sets it."""
    feed, symbol, last, near = _limit_near_the_price(side, 0.002)
    app = LimitwatchApp(feed, step=0.005)
    told: list[str] = []
    sent: list[tuple[float, float]] = []

    async def run() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await pilot.press(key)
            await until_shown(pilot, app)
            told.extend(str(n.message) for n in app._notifications)
            sent.append(_limits(feed, symbol))
            await asyncio.sleep(tui.app.STEP_REPEAT_S)  # a fresh press, not a held key
            await pilot.press(key)
            await until_shown(pilot, app)
            sent.append(_limits(feed, symbol))

    asyncio.run(run())
    fires = "a BUY fires at once" if side == 0 else "a SELL fires at once"
    assert any(fires in m and f"press {key} again to set it" in m for m in told), told
    assert sent[0] == pytest.approx(near)  # not set by the first press
    moved = sent[1][side]
    assert (moved > last) if side == 0 else (moved < last)  # set by the second


@pytest.mark.parametrize(("key", "side"), [("B", 0), ("s", 1)])
def test_a_held_step_key_stops_short_of_the_price(key: str, side: int) -> None:
    """Holding s (a repeat every 33 ms) took a sell limit past the price with the question
    never seen, and two SELLs fired: a held key's repeats do not confirm the step that
    fires a limit at once; they stop at the step short of the price."""
    feed, symbol, last, near = _limit_near_the_price(side, 0.02)
    app = LimitwatchApp(feed, step=0.005)

    async def run() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            for _ in range(12):  # 0.5 % a step: four steps to the price, eight beyond
                await pilot.press(key)
                await until_shown(pilot, app)
                app._step_pressed = (app._step_pressed[0], time.monotonic())  # 0 s apart

    asyncio.run(run())
    stopped = _limits(feed, symbol)[side]
    assert (stopped < last) if side == 0 else (stopped > last), (stopped, last)
    short = (near[0] + 3 * 0.005 * last) if side == 0 else (near[1] - 3 * 0.005 * last)
    assert stopped == pytest.approx(short, abs=0.02)  # every step short of the price taken


def test_a_step_key_on_a_symbol_with_no_price_yet_steps_a_fraction_of_its_limit() -> None:
    """A replay's header gives limits before the first tick: b moved a limit of 148.50 by
    0.005 (a fraction of 1), not 0.5 % of it."""
    feed = StaticFeed(symbols=["ZZZ"], n_ticks=0)
    feed.engine.set_limits("ZZZ", buy=148.5, sell=154.56)
    assert math.isnan(feed.engine.state().last[0])
    asyncio.run(_press(LimitwatchApp(feed, step=0.005), "b", "S"))
    assert _limits(feed, "ZZZ") == (fmt.as_shown(148.5 * 0.995), fmt.as_shown(154.56 * 1.005))


def test_repeated_key_presses_accumulate() -> None:
    feed = StaticFeed()
    symbol = feed.engine.state().symbols[0]
    before = _limits(feed, symbol)
    last = float(feed.engine.state().last[0])
    asyncio.run(_press(LimitwatchApp(feed, step=0.01), "S", "S", "S"))
    want = before[1]
    for _ in range(3):
        want = fmt.as_shown(want + 0.01 * last)
    assert _limits(feed, symbol)[1] == want == pytest.approx(before[1] + 3 * 0.01 * last, abs=0.02)


def test_down_selects_the_next_symbol() -> None:
    feed = StaticFeed()
    second = feed.engine.state().symbols[1]
    before = _limits(feed, second)
    asyncio.run(_press(LimitwatchApp(feed), "down", "B"))
    assert _limits(feed, second)[0] > before[0]
    assert feed.commands[-1][0] == second


def test_buy_at_or_above_sell_is_refused_with_a_message() -> None:
    feed = StaticFeed()
    symbol = feed.engine.state().symbols[0]
    buy, sell = _limits(feed, symbol)
    last = float(feed.engine.state().last[0])
    steps_needed = int((sell - buy) / (0.01 * last)) + 2
    app = LimitwatchApp(feed, step=0.01)
    messages: list[str] = []

    async def run() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            for _ in range(steps_needed):
                await pilot.press("B")
                await until_shown(pilot, app)
            messages.extend(str(n.message) for n in app._notifications)

    asyncio.run(run())
    final_buy, final_sell = _limits(feed, symbol)
    assert final_buy < final_sell
    assert any("must be below the sell limit" in m for m in messages)
    # no command that would have crossed the limits was ever sent
    assert all(b is None or b < final_sell for _s, b, _x in feed.commands)


@pytest.mark.parametrize(
    ("buy", "sell", "problem"),
    [(10.0, 10.0, "must be below the sell"), (11.0, 10.0, "must be below the sell"),
     (-1.0, 10.0, "must be positive"),
     (float("nan"), 10.0, None), (9.0, 10.0, None)],
)  # fmt: skip
def test_limit_problem_names_what_is_wrong(buy: float, sell: float, problem: str | None) -> None:
    found = limit_problem(buy, sell)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


@pytest.mark.parametrize("key", ["q", "ctrl+c"])
def test_quit_key_exits_the_app(key: str) -> None:
    app = LimitwatchApp(StaticFeed())
    quit_while_typing: list[bool] = []

    async def run() -> None:
        async with app.run_test() as pilot:
            if key == "ctrl+c":  # even from the limits dialog's input
                await pilot.press("l")
                await pilot.pause()
                quit_while_typing.append(app.screen is not app.screen_stack[0])
            await pilot.press(key)
            await pilot.pause()

    asyncio.run(asyncio.wait_for(run(), timeout=30))
    assert app.return_code == 0
    assert all(quit_while_typing)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_quit_as_q_does(
    sig: signal.Signals, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process manager's SIGTERM, or SIGHUP from a closed terminal window, ends the
    app through its own exit (threads stopped, terminal restored), not by dying; and
    arms the last resort that ends the process if that exit hangs."""
    armed: list[tuple[float, int]] = []
    monkeypatch.setattr(
        tui.app, "exit_hard_after", lambda seconds, code, _reason: armed.append((seconds, code))
    )
    app = LimitwatchApp(StaticFeed())
    caught: list[int] = []  # by this test's own handler: the app did not take the signal

    async def run() -> None:
        async with app.run_test() as pilot:
            await pilot.pause()
            os.kill(os.getpid(), sig)
            for _ in range(50):
                await pilot.pause(0.05)

    before = signal.signal(sig, lambda number, _frame: caught.append(number))
    try:
        asyncio.run(asyncio.wait_for(run(), timeout=30))
    finally:
        signal.signal(sig, before)
    assert not caught
    assert app.return_code == 0
    assert armed == [(QUIT_GRACE_S, 128 + sig)]


def test_the_sigcont_of_a_hang_up_does_not_take_the_interface_up_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A terminal that hangs up sends SIGHUP and SIGCONT: the user interface's SIGCONT
    handler (a return from Ctrl+Z) took it up again on the terminal gone, and the quit
    waited on its dead output thread until the last resort, 10 s on, about half the
    closings of a busy monitor's window. A SIGCONT alone still reaches that handler."""
    monkeypatch.setattr(tui.app, "exit_hard_after", lambda *_args: None)
    resumed: list[int] = []
    app = LimitwatchApp(StaticFeed())

    async def run() -> None:
        async with app.run_test() as pilot:
            await pilot.pause()
            os.kill(os.getpid(), signal.SIGCONT)  # fg after Ctrl+Z
            await pilot.pause(0.1)
            assert resumed == [signal.SIGCONT]
            signal.pthread_kill(threading.main_thread().ident, signal.SIGHUP)
            os.kill(os.getpid(), signal.SIGCONT)
            for _ in range(50):
                await pilot.pause(0.05)

    before = {
        sig: signal.signal(sig, lambda number, _frame: resumed.append(number))
        for sig in (signal.SIGCONT, signal.SIGHUP)
    }
    try:
        asyncio.run(asyncio.wait_for(run(), timeout=30))
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    assert resumed == [signal.SIGCONT]  # not the hang-up's, and SIGHUP was the app's
    assert app.return_code == 0


def test_a_quit_that_hangs_ends_the_process_after_the_grace_time() -> None:
    """The last resort: once armed, the process ends with the code given, whatever the
    interface's shutdown is waiting for (once in a dozen closings of a terminal window,
    Textual's output thread never took its stop, and the monitor and its broker ran on)."""
    ended = threading.Event()
    codes: list[int] = []

    def fake_exit(code: int) -> None:
        codes.append(code)
        ended.set()

    released = threading.Event()

    class Stuck(logging.Handler):  # a log whose lock a hung thread holds
        def emit(self, record: logging.LogRecord) -> None:
            released.wait()

    log = logging.getLogger("tui.runtime.watchdog")
    stuck = Stuck()
    log.addHandler(stuck)
    try:
        start = time.monotonic()
        exit_hard_after(0.2, 129, "SIGHUP", exit_=fake_exit)
        assert ended.wait(10.0)
    finally:
        log.removeHandler(stuck)
        # Let the stuck thread go: logging.shutdown() takes every handler's lock at exit,
        # and a lock held for ever kept the test process from ending after its summary.
        released.set()
    assert codes == [129] and time.monotonic() - start >= 0.2


def test_repeated_keys_leave_one_toast_with_the_latest_value() -> None:
    """At most one toast of each kind is on screen after every press, and the last one
    said holds the latest value (on a busy machine a toast may expire between presses:
    none on screen then, never two)."""
    feed = StaticFeed()
    symbol = feed.engine.state().symbols[0]
    app = LimitwatchApp(feed, step=0.001)
    live: list[tuple[int, int]] = []  # toasts of the step and of the limit on screen
    said: list[str] = []
    notify = app.notify

    def record(message: str, *args: object, **kw: object) -> None:
        said.append(str(message))
        notify(message, *args, **kw)  # type: ignore[arg-type]

    app.notify = record  # type: ignore[method-assign]

    async def run() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            for key in ("right_square_bracket", "b"):
                for _ in range(4):
                    await pilot.press(key)
                    await until_shown(pilot, app)
                    now = [str(n.message) for n in app._notifications]
                    live.append((
                        sum(m.startswith("step") for m in now),
                        sum(" buy limit → " in m for m in now),
                    ))  # fmt: skip

    asyncio.run(run())
    assert all(steps <= 1 and limits <= 1 for steps, limits in live), live
    assert [m for m in said if m.startswith("step")][-1] == "step 2.00% of price"
    buy = _limits(feed, symbol)[0]
    assert [m for m in said if " buy limit → " in m][-1] == f"{symbol} buy limit → {buy:,.2f}"
    assert len([m for m in said if " buy limit → " in m]) == 4


def test_a_refused_key_pressed_again_refreshes_its_one_toast() -> None:
    feed = StaticFeed()
    app = LimitwatchApp(feed, step=0.09)  # one step up takes the buy limit past the sell
    shown: list[list[str]] = []

    async def run() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            for _ in range(5):
                await pilot.press("B")
                await until_shown(pilot, app)
                shown.append([n.title for n in app._notifications])

    asyncio.run(run())
    assert feed.commands == []
    assert [titles.count("Limit refused") for titles in shown] == [1] * 5


def test_a_held_keys_repeats_that_waited_too_long_are_dropped() -> None:
    # A key held down repeats ~30 times a second; queued faster than they ran, 500
    # presses of `?` were replayed for a minute after the key was let go.
    from textual import events

    feed = StaticFeed()
    symbol = feed.engine.state().symbols[0]
    app = LimitwatchApp(feed, step=0.005)

    def key(name: str, waited: float) -> events.Key:
        event = events.Key(name, name)
        event.time -= waited  # as if it had waited this long in the queue
        return event

    async def run() -> list[float]:
        seen = []
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            for name, waited in [
                ("b", 0.0),  # runs
                ("b", tui.app.STALE_REPEAT_S + 1),  # a repeat that waited: dropped
                ("b", tui.app.STALE_REPEAT_S + 1),  # dropped
                ("b", 0.0),  # a repeat that did not wait: runs
                ("B", tui.app.STALE_REPEAT_S + 1),  # another key, however long it waited: runs
            ]:
                app.post_message(key(name, waited))
                await pilot.pause()
                await until_shown(pilot, app)
                seen.append(_limits(feed, symbol)[0])
        return seen

    before = _limits(feed, symbol)[0]
    seen = asyncio.run(run())
    assert seen[0] < before
    assert seen[1] == seen[0] and seen[2] == seen[0]
    assert seen[3] < seen[2]
    assert seen[4] > seen[3]
    assert app._stale_repeats == 2
