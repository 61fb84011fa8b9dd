"""The settings file: what the monitor writes it reads back, and a broken or impossible
entry is reported and left out instead of stopping the monitor."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from engine import Engine, LimitError
from tui.runtime import settings as config


def test_saved_settings_load_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.toml"
    settings = config.Settings(step=0.01, bell=True, sort="urgency").with_limits(
        'A "quoted" name', 10.5, math.nan
    )
    config.save(path, settings)
    loaded, problems = config.load(path)
    assert problems == []
    assert loaded.step == 0.01 and loaded.bell and loaded.sort == "urgency"
    buy, sell = loaded.limits['A "quoted" name']
    assert buy == 10.5 and math.isnan(sell)


def test_a_file_that_is_not_toml_gives_the_defaults_and_says_where(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[monitor]\nstep = = 3\n")
    settings, problems = config.load(path)
    assert settings == config.Settings()
    assert len(problems) == 1 and "line 2" in problems[0] and "using the defaults" in problems[0]


@pytest.mark.parametrize(
    "pair",
    ["[5.0, 5.0]", "[1.0, -5.0]", "[1.0, inf]", "[260.0, 1e300]", '["a", 2]', "[1.0]"],
)
def test_impossible_limits_are_reported_and_left_out(pair: str) -> None:
    settings, problems = config.loads(f"[limits]\nGOOD = [1.0, 2.0]\nBAD = {pair}\n")
    assert settings.limits == {"GOOD": (1.0, 2.0)}
    assert len(problems) == 1 and "limits.BAD" in problems[0]


def test_limits_at_zero_or_below_load_for_a_quantity_and_the_engine_refuses_a_prices() -> None:
    settings, problems = config.loads("[limits]\ntemp = [-5.0, 0.0]\nACME = [-1.0, 5.0]\n")
    assert problems == [] and settings.limits == {"temp": (-5.0, 0.0), "ACME": (-1.0, 5.0)}
    engine = Engine(additive=["temp"])
    engine.set_limits("temp", *settings.limits["temp"])
    with pytest.raises(LimitError, match="ACME: the buy limit must be positive"):
        engine.set_limits("ACME", *settings.limits["ACME"])


def test_the_watchlist_loads_back_and_a_wrong_one_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    config.save(path, config.Settings(watchlist=("BTC/USDT", "é\u00e9", "ACME")))
    loaded, problems = config.load(path)
    assert problems == [] and loaded.watchlist == ("BTC/USDT", "é\u00e9", "ACME")
    settings, problems = config.loads('[monitor]\nwatchlist = "ACME"\n')
    assert settings.watchlist == ()
    assert problems == ["config.toml: monitor.watchlist must be a list of symbols"]


def test_pinned_and_muted_symbols_load_back_and_a_wrong_list_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    config.save(path, config.Settings(pinned=('A "quoted" name', "ACME"), muted=("cpu.iowait",)))
    loaded, problems = config.load(path)
    assert problems == []
    assert loaded.pinned == ('A "quoted" name', "ACME") and loaded.muted == ("cpu.iowait",)
    settings, problems = config.loads('[monitor]\npinned = "ACME"\nmuted = ["X", "X"]\n')
    assert settings.pinned == () and settings.muted == ("X",)
    assert problems == ["config.toml: monitor.pinned must be a list of symbols"]


def test_remembered_price_limits_of_zero_or_below_are_said_at_start_and_left_out(
    tmp_path: Path,
) -> None:
    # The file lets them through (a quantity's limits may be 0 or below); the engine
    # refused each in a toast as its symbol first ticked, and the second toast hid the
    # first. Now each is a problem said at start, and a quantity's stay.
    import argparse

    from tui.monitor import _possible_remembered

    path = tmp_path / "config.toml"
    path.write_text(
        "[limits]\nBRIX = [-5.0, 500.0]\nCYGN = [0, 300]\nACME = [90.0, 110.0]\n"
        '"cpu.idle" = [-1.0, 50.0]\n'
    )
    settings, problems = config.load(path)
    assert problems == [] and len(settings.limits) == 4
    args = argparse.Namespace(additive=["cpu.*"])
    kept = _possible_remembered(args, None, settings, path, problems)
    assert sorted(kept.limits) == ["ACME", "cpu.idle"]
    assert problems == [
        f"{path}: limits.BRIX = [-5, 500] left out: the buy limit must be positive and "
        "finite, got -5.00 (only a quantity's limits may be 0 or below: see --additive)",
        f"{path}: limits.CYGN = [0, 300] left out: the buy limit must be positive and "
        "finite, got 0 (only a quantity's limits may be 0 or below: see --additive)",
    ]


def test_limits_left_out_at_start_are_said_and_the_file_is_still_saved_in_place(
    tmp_path: Path,
) -> None:
    # As problems, they made the file one that "did not load cleanly": every change of
    # that run went to config.new.toml, and the next start read the old file again.
    from tests.tui.feeds import StaticFeed
    from tui.app import LimitwatchApp

    path = tmp_path / "config.toml"
    path.write_text("[limits]\nBRIX = [-5.0, 500.0]\n")
    settings, problems = config.load(path)
    note = f"{path}: limits.BRIX = [-5, 500] left out: ..."
    app = LimitwatchApp(
        StaticFeed(), settings=settings, config_path=path, problems=problems, notes=[note]
    )
    assert app.config_path == path and app._startup_problems == [note]


def test_two_monitors_sharing_the_settings_file_keep_each_others_limits(tmp_path: Path) -> None:
    """Two monitors with one HOME: one set BRIX's limits, the other then moved ACME's and
    wrote all of its settings over the file: BRIX's limits were gone at the next start.
    Each now writes only what it changed over what the file holds."""
    import asyncio

    from tests.tui.driving import until_shown
    from tests.tui.feeds import StaticFeed
    from tui.app import LimitwatchApp

    path = tmp_path / "config.toml"
    config.save(path, config.Settings(step=0.01))
    feed = StaticFeed()
    symbol = feed.engine.state().symbols[0]
    settings, problems = config.load(path)
    app = LimitwatchApp(feed, settings=settings, config_path=path, problems=problems)

    async def run() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            # The other monitor, meanwhile: its limits for BRIX and a smaller step.
            other, _ = config.load(path)
            config.save(path, replace(other.with_limits("BRIX", 3.0, 4.0), step=0.002))
            await pilot.press("S")
            await until_shown(pilot, app)

    asyncio.run(run())
    saved, problems = config.load(path)
    assert problems == []
    assert saved.limits["BRIX"] == (3.0, 4.0)  # the other's, kept
    assert saved.limits[symbol] == feed.engine.limits(symbol)  # this one's
    assert saved.step == 0.002  # this one did not change the step


def test_a_hostile_name_in_the_file_is_refused_and_said_without_driving_the_terminal(
    tmp_path: Path,
) -> None:
    """A symbol key holding an escape sequence (OSC 2, which sets the terminal's title)
    reached the terminal raw from the problems dialog, and a well-formed limit under such a
    key was taken and written back: it is refused as --limit refuses it, and every
    problem is shown with its control characters written out."""
    import asyncio

    from textual.widgets import Static

    from tests.tui.feeds import StaticFeed
    from tui.app import LimitwatchApp

    path = tmp_path / "config.toml"
    path.write_text(
        '[limits]\n"\\u001b]2;PWNED\\u0007" = "x"\n"\\u001b]0;x\\u0007" = [1, 2]\nOK = [1, 2]\n'
        '[monitor]\n"\\u001b[42mGREEN" = 1\n["\\u001b[31mRED"]\n'
    )
    settings, problems = config.load(path)
    assert settings.limits == {"OK": (1.0, 2.0)}
    assert len(problems) == 4
    assert not any("\x1b" in p or "\x07" in p for p in problems)
    assert f"{path}: limits.\\x1b]0;x\\x07: the symbol has a control character" in "\n".join(
        problems
    )
    # And the dialog draws whatever a problem holds as text, escapes written out.
    app = LimitwatchApp(
        StaticFeed(), settings=settings, config_path=path, problems=["/a/c.toml: \x1b]2;X\x07"]
    )

    async def run() -> str:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            shown = [str(w.render()) for w in app.screen.query(Static)]
            return "\n".join(shown)

    text = asyncio.run(run())
    assert "\\x1b]2;X\\x07" in text and "\x1b" not in text


@pytest.mark.parametrize(("word", "order"), [("change", "chg"), ("price", "last"), ("chg", "chg")])
def test_the_sort_order_is_read_by_the_words_the_screen_uses(
    tmp_path: Path, word: str, order: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'[monitor]\nsort = "{word}"\n')
    settings, problems = config.load(path)
    assert problems == [] and settings.sort == order


def test_a_wrong_sort_order_is_said_with_the_screens_words(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[monitor]\nsort = "volume"\n')
    settings, problems = config.load(path)
    assert settings.sort == config.Settings().sort
    assert problems == [
        f"{path}: monitor.sort must be one of symbol, urgency, change (or chg), price (or last)"
    ]
