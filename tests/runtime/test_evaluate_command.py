"""``limitwatch evaluate``: the table and JSON on a small generated run, a recorded file,
and no UI library imported."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tui.runtime import evaluate, progress

ROOT = Path(__file__).resolve().parents[2]


def _run(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    evaluate.add_arguments(parser)
    out, err = io.StringIO(), io.StringIO()
    status = evaluate.run(parser.parse_args(list(argv)), out, err)
    return status, out.getvalue(), err.getvalue()


def test_small_run_prints_a_row_per_measure_for_each_kind() -> None:
    status, out, err = _run("--kinds", "drift,reverting", "--symbols", "6", "--minutes", "4")
    assert status == 0
    rows = [line.split() for line in out.splitlines()[2:10]]
    assert [r[0] for r in rows[::4]] == ["drift", "reverting"]
    names = [r[1] if i % 4 == 0 else r[0] for i, r in enumerate(rows)]
    assert names == ["engine", "proximity", "vol-scaled", "oracle"] * 2
    assert "evaluate: drift (1/2)" in err
    assert "held out" not in out  # both kinds were used to choose the settings


def test_held_out_kinds_are_named_under_the_table() -> None:
    status, out, _ = _run("--kinds", "drift,bounce", "--symbols", "4", "--minutes", "3")
    assert status == 0
    notes = [line for line in out.splitlines() if line.startswith("held out:")]
    assert len(notes) == 1 and notes[0].startswith("held out: bounce (")


def test_json_carries_every_row_and_the_engine_settings() -> None:
    status, out, _ = _run("--kinds", "jumps", "--symbols", "5", "--minutes", "3", "--json",
                          "--horizon", "30", "--bands", "1,2")  # fmt: skip
    assert status == 0
    doc = json.loads(out)
    assert doc["engine"]["horizon_s"] == 30.0 and doc["bands_pct"] == [1.0, 2.0]
    jumps = doc["markets"]["jumps"]
    assert jumps["streams"] == 10  # 5 symbols x 2 bands
    assert set(jumps["rows"]) == {"engine", "proximity", "vol-scaled", "oracle"}
    assert len(jumps["rows"]["oracle"]["calibration"]["deciles"]) == 10


def test_a_recorded_file_is_scored_without_an_oracle() -> None:
    status, out, _ = _run(str(ROOT / "scenarios" / "rally.jsonl"), "--json")
    assert status == 0
    rows = json.loads(out)["markets"][str(ROOT / "scenarios" / "rally.jsonl")]["rows"]
    assert set(rows) == {"engine", "proximity", "vol-scaled"}


def test_a_file_too_short_for_any_forecast_says_why(tmp_path: Path) -> None:
    short = tmp_path / "short.csv"
    short.write_text("ts,symbol,price\n1750000000,A,10\n1750000001,A,10.1\n1750000001,B,5\n")
    status, out, err = _run(str(short))
    assert status == 0 and "engine" in out
    assert "evaluate: no forecast was scored: a symbol is forecast from its 20th tick" in err
    assert "the most any symbol had here is 2 ticks" in err
    assert "the longest any symbol's ticks span is 1 s" in err
    # Many ticks of one time: the count alone would not say what is missing.
    stamped = tmp_path / "stamped.csv"
    stamped.write_text("ts,symbol,price\n" + "1750000000,A,10\n" * 500)
    status, _, err = _run(str(stamped))
    assert status == 0
    assert "500 ticks, and the longest any symbol's ticks span is 0 s" in err
    status, _, err = _run(str(ROOT / "scenarios" / "rally.jsonl"))
    assert status == 0 and "no forecast was scored" not in err


def test_a_file_of_ticks_further_apart_than_the_horizon_says_what_horizon_to_give(
    tmp_path: Path,
) -> None:
    daily = tmp_path / "daily.csv"
    rows = [f"{1750000000 + 86400 * k},{s},{10 + k % 3}" for k in range(30) for s in "AB"]
    daily.write_text("ts,symbol,price\n" + "\n".join(rows) + "\n")
    status, _, err = _run(str(daily))
    assert status == 0
    assert "evaluate: note: a symbol's ticks come 24.0 h apart" in err
    assert "say --horizon 430000 --halflife 1700000" in err
    status, _, err = _run(str(ROOT / "scenarios" / "rally.jsonl"))
    assert status == 0 and "ticks come" not in err


def test_a_file_where_some_symbols_tick_further_apart_than_the_horizon_names_them(
    tmp_path: Path,
) -> None:
    """The note looked at the median symbol only: a third of a file's symbols ticking once
    a minute or less, beside fast ones, were scored as the fast ones without a word."""
    rng = np.random.default_rng(1)
    rows = []
    for name, every in [*((f"F{i}", 2.0) for i in range(8)), ("S0", 90.0), ("S1", 120.0)]:
        t = 1_750_000_000 + np.arange(0.0, 30 * 60, every)
        price = 100 * np.exp(np.cumsum(rng.normal(0, 2e-4 * every**0.5, t.size)))
        rows += [f"{a:.3f},{name},{b:.4f}" for a, b in zip(t, price, strict=True)]
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("ts,symbol,price\n" + "\n".join(sorted(rows)) + "\n")
    status, _, err = _run(str(mixed))
    assert status == 0, err
    assert (
        "evaluate: note: 2 of 10 symbols' ticks come further apart than the 60 s horizon "
        "(1.8 min apart at the median)"
    ) in err, err
    assert "score them in a file of their own with say --horizon 520 --halflife 2100" in err


def test_a_file_whose_ticks_span_less_than_30_minutes_says_what_its_calibration_rests_on(
    tmp_path: Path,
) -> None:
    """The calibration figures leave out each symbol's first 10 minutes, but only its first
    third where its ticks span less than three times that: said, so a short file's gap is
    not read as that of settled forecasts."""
    rng = np.random.default_rng(0)
    t = 1_750_000_000 + np.arange(0.0, 12 * 60, 0.5)
    price = 100 * np.exp(np.cumsum(rng.normal(0, 3e-4, t.size)))
    short = tmp_path / "short.csv"
    short.write_text(
        "ts,symbol,price\n" + "".join(f"{a},A,{b:.4f}\n" for a, b in zip(t, price, strict=True))
    )
    status, _, err = _run(str(short))
    assert status == 0
    assert "note: no symbol's ticks span 30.0 min (the longest 12.0 min)" in err
    status, _, err = _run(str(ROOT / "scenarios" / "rally.jsonl"))
    assert status == 0 and "note: no symbol's ticks span" in err  # rally spans 3 minutes


def test_bad_engine_settings_exit_2() -> None:
    status, _, err = _run("--fast", "50", "--slow", "10", "--symbols", "2", "--minutes", "1")
    assert status == 2 and "slow" in err


def test_the_command_imports_no_ui_library() -> None:
    code = (
        "import sys, tui.runtime.evaluate; "
        "print([m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=60)  # fmt: skip
    assert result.stdout.strip() == "[]", result.stderr


def test_quantities_are_left_out_and_a_file_of_quantities_alone_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = "".join(
        f"{1_750_000_000 + i},ACME,{100 + (i % 7) * 0.1:.2f}\n"
        f"{1_750_000_000 + i},gauge,{-1 + (i % 5) * 0.01:.2f}\n"
        for i in range(400)
    )
    both = tmp_path / "both.csv"
    both.write_text("ts,symbol,price\n" + rows)
    status, _, err = _run(str(both), "--additive", "gauge")
    assert status == 0, err
    assert "1 symbol modelled as quantities (additive) left out" in capsys.readouterr().err
    gauges = tmp_path / "gauges.csv"
    gauges.write_text(
        "ts,symbol,price\n" + "".join(r + "\n" for r in rows.splitlines() if "gauge" in r)
    )
    status, _, err = _run(str(gauges), "--additive", "gauge")
    assert status == 2 and "no prices to evaluate (every symbol is a quantity)" in err
    assert "limitwatch backtest FILE --additive PATTERN --limit SYMBOL=BUY:SELL" in err


def test_recorded_ticks_read_by_columns_are_the_ticks_one_at_a_time() -> None:
    """The file is read a block at a time; each symbol's id is the order of its first
    tick, as reading it tick by tick gives."""
    from tui.runtime.backtest import open_file

    path = str(ROOT / "scenarios" / "busy_market.jsonl")
    ticks = evaluate.read_ticks(path)
    one_by_one = list(open_file(path, skip_bad=False))
    assert list(ticks.symbols) == list(dict.fromkeys(k.symbol for k in one_by_one))
    assert [ticks.symbols[i] for i in ticks.sym.tolist()] == [k.symbol for k in one_by_one]
    assert ticks.t.tolist() == [k.ts for k in one_by_one]
    assert ticks.price.tolist() == [k.price for k in one_by_one]


def test_recorded_ticks_score_the_same_a_group_of_symbols_at_a_time() -> None:
    """Recorded ticks are scored a group of symbols at a time, in bounded memory: every
    figure is the one of scoring them all at once."""
    from engine import EngineConfig

    path = str(ROOT / "scenarios" / "busy_market.jsonl")
    ticks = evaluate.read_ticks(path)
    whole = evaluate.run_ticks(ticks, EngineConfig(), [1.0, 2.0], group_ticks=10**7)
    grouped = evaluate.run_ticks(ticks, EngineConfig(), [1.0, 2.0], group_ticks=2_000)
    assert whole.rows[0].quality.alerts > 0 and whole.streams > 100
    assert grouped.to_dict() == whole.to_dict()
    assert [r.curve.tolist() for r in grouped.rows] == [r.curve.tolist() for r in whole.rows]


def test_recorded_ticks_show_the_progress_of_a_long_evaluation_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A file of a million ticks said nothing for 45 s between "reading" and "done": on a
    terminal the engine's run and the scoring now show how far they are, and the line
    is taken off before the next one; in a pipe or a file nothing of it."""
    from engine import EngineConfig

    monkeypatch.setattr(progress, "PROGRESS_AFTER_S", 0.0)
    monkeypatch.setattr(progress, "PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr(evaluate, "BATCH", 2_000)

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    ticks = evaluate.read_ticks(str(ROOT / "scenarios" / "busy_market.jsonl"))
    shown, piped = Terminal(), io.StringIO()
    for err in (shown, piped):
        evaluate.run_ticks(ticks, EngineConfig(), [1.0], err, group_ticks=2_000)
    text = shown.getvalue()
    assert "running the engine [" in text and f"/{len(ticks.t):,} ticks" in text
    assert "scoring against the alarms [" in text and " groups" in text
    assert text.endswith("\r\x1b[K")  # taken off
    assert "\r" not in piped.getvalue() and "running the engine" not in piped.getvalue()


def test_a_long_file_name_keeps_the_table_columns_aligned() -> None:
    path = str(ROOT / "scenarios" / "rally.jsonl")  # longer than the 10-character column
    status, out, _ = _run(path)
    assert status == 0
    lines = out.splitlines()
    head, rows = lines[0], lines[2:5]
    assert rows[0].startswith(path + " engine")
    for line in rows:  # every row's cells end where the header's do
        assert len(line) == len(head)


def test_a_scenario_is_scored_with_its_headers_engine_settings_unless_an_option_says() -> None:
    """As `backtest` and `replay` do: the help says the file's header comes first."""
    rally = str(Path(__file__).resolve().parents[2] / "scenarios" / "rally.jsonl")
    code, out, err = _run(rally, "--json")
    assert code == 0, err
    engine = json.loads(out)["engine"]
    assert (engine["fast"], engine["slow"], engine["halflife_s"], engine["horizon_s"]) == (
        10,
        40,
        4.0,
        8.0,
    )
    code, out, err = _run(rally, "--json", "--horizon", "20")
    assert code == 0, err
    assert json.loads(out)["engine"]["horizon_s"] == 20.0  # the option beats the header
    assert json.loads(out)["engine"]["fast"] == 10


def test_bad_lines_stop_the_evaluation_unless_skipped_and_counted(tmp_path: Path) -> None:
    from producer.markets import generate

    m = generate("drift", symbols=4, minutes=6, seed=2)
    ticks = zip(m.sym.tolist(), m.t.tolist(), m.price.tolist(), strict=True)
    lines = [f"{m.symbols[s]},{p!r},{t!r}" for s, t, p in ticks]
    clean, bad = tmp_path / "clean.csv", tmp_path / "bad.csv"
    clean.write_text("symbol,price,time\n" + "\n".join(lines) + "\n")
    broken = [*lines[:500], f"{m.symbols[0]},0.0,{float(m.t[500])!r}", *lines[500:]]
    bad.write_text("symbol,price,time\n" + "\n".join(broken) + "\n")
    status, _, err = _run(str(bad))
    assert status == 2
    assert err.splitlines()[-1] == (
        f"limitwatch evaluate: {bad}:502: price must be positive, got 0.0 (a value that may "
        "be 0 or below is a quantity: --additive SYMBOL; --skip-bad skips and counts such "
        "lines)"
    )
    status, out, err = _run(str(bad), "--skip-bad", "--json")
    assert status == 0
    assert f"skipped {bad}:502: price must be positive, got 0.0" in err.splitlines()
    assert "evaluate: 1 bad line skipped" in err.splitlines()
    _, want, _ = _run(str(clean), "--json")
    assert json.loads(out)["markets"][str(bad)] == json.loads(want)["markets"][str(clean)]
    # --json says so too (a script reading it could not tell that a line was dropped).
    doc = json.loads(out)
    assert (doc["file"], doc["ticks"], doc["skipped"]) == (str(bad), len(lines), 1)
    assert doc["skipped_lines"] == [f"{bad}:502: price must be positive, got 0.0"]
    assert doc["notes"] == [] and doc["interrupted"] is False
    assert json.loads(want)["skipped"] == 0 and json.loads(want)["skipped_lines"] == []


def _market_files(tmp_path: Path) -> tuple[str, str]:
    """A generated market written in time order, and the same ticks sorted by symbol."""
    from producer.markets import generate

    m = generate("drift", symbols=6, minutes=12, seed=3)
    rows = [
        (float(t), m.symbols[s], float(p))
        for s, t, p in zip(m.sym.tolist(), m.t.tolist(), m.price.tolist(), strict=True)
    ]
    by_time, by_symbol = tmp_path / "by_time.csv", tmp_path / "by_symbol.csv"
    for path, ordered in ((by_time, rows), (by_symbol, sorted(rows, key=lambda r: r[1]))):
        path.write_text("ts,symbol,price\n" + "".join(f"{t!r},{s},{p!r}\n" for t, s, p in ordered))
    return str(by_time), str(by_symbol)


def test_a_file_sorted_by_symbol_is_scored_in_time_order_and_said_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Scored in the file's order, the clock ran to the end with the first symbol and
    # the others' forecasts were never sampled: a calibration of one symbol, no warning.
    by_time, by_symbol = _market_files(tmp_path)
    status, in_order, _ = _run(by_time, "--json")
    assert status == 0 and "not in time order" not in capsys.readouterr().err
    status, sorted_out, _ = _run(by_symbol, "--json")
    assert status == 0
    said = capsys.readouterr().err
    assert "ticks are not in time order" in said and "scored in time order" in said
    rows = json.loads(sorted_out)["markets"][by_symbol]["rows"]
    assert rows == json.loads(in_order)["markets"][by_time]["rows"]


def test_prices_near_the_largest_leave_the_sell_limits_above_it_unset(tmp_path: Path) -> None:
    rows = "".join(f"{1_750_000_000 + i},ACME,{9.9e11 - (i % 13) * 1e8:.1f}\n" for i in range(600))
    path = tmp_path / "big.csv"
    path.write_text("ts,symbol,price\n" + rows)
    status, out, err = _run(str(path), "--json")
    assert status == 0, err
    assert "2 sell limits at or above the largest price" in err  # bands 2 and 3 %: 1e12 up
    assert json.loads(out)["markets"][str(path)]["streams"] == 3


def test_more_symbols_than_forecasts_it_can_follow_is_said_not_a_traceback(
    tmp_path: Path,
) -> None:
    # 40,000 symbols at the three default bands: 120,000 streams, past the engine's most.
    path = tmp_path / "many.csv"
    lines = (f"{1_700_000_000 + i * 0.01:.2f},S{i},{100 + i % 7}" for i in range(40_000))
    path.write_text("ts,symbol,price\n" + "\n".join(lines) + "\n")
    code, out, err = _run(str(path))
    assert code == 2 and out == ""
    assert "40,000 symbols at 3 bands are 120,000 forecasts" in err
    assert "fewer --bands" in err and "Traceback" not in err


def test_options_of_generated_markets_are_said_to_be_ignored_for_a_file() -> None:
    code, out, err = _run("scenarios/rally.jsonl", "--symbols", "5", "--seed", "3")
    assert code == 0 and out
    assert (
        "--symbols, --seed shape the generated markets, not scenarios/rally.jsonl: ignored" in err
    )


def test_a_kind_named_twice_is_scored_once() -> None:
    code, out, _err = _run("--kinds", "drift,drift", "--symbols", "4", "--minutes", "3")
    assert code == 0
    assert sum(line.startswith("drift ") for line in out.splitlines()) == 1


def test_ctrl_c_stops_an_evaluation_at_once_and_says_so() -> None:
    """Ctrl-C while it reads a pipe: exit 130, what was done said, no traceback (it said
    nothing at all)."""
    import os
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "evaluate", "-"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as in a terminal
    )  # fmt: skip
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write(
        "".join(f'{{"symbol":"A","price":100,"ts":{1.75e9 + k}}}\n' for k in range(50))
    )
    proc.stdin.flush()
    assert proc.stderr.readline().startswith("evaluate: reading -")  # the pipe stays open
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "evaluate: stopped by Ctrl-C after" in err and "(nothing scored)" in err
    assert "Traceback" not in err and out == ""


def test_a_ctrl_c_swallowed_where_it_was_raised_still_stops_the_run() -> None:
    """Raised inside an import (a library's first call) a KeyboardInterrupt is swallowed:
    the run went on to its end. Noted, it stops at the next batch."""
    from engine import EngineConfig
    from producer.markets import generate
    from tui.runtime.backtest import CtrlC

    ctrl_c = CtrlC()
    try:
        # swallowed as an import's callback does
        with ctrl_c.reading(), contextlib.suppress(KeyboardInterrupt):
            ctrl_c._on_signal(2, None)
        assert ctrl_c.hit
    finally:
        ctrl_c.restore()
    ticks = evaluate.Ticks.of_market(generate("drift", symbols=3, minutes=2, seed=1))
    with pytest.raises(KeyboardInterrupt):
        evaluate.run_ticks(ticks, EngineConfig(), [1.0], stop=lambda: ctrl_c.hit)


def test_markets_too_short_for_a_tick_and_bands_too_narrow_for_two_limits_are_said() -> None:
    """A market of one symbol for six seconds has no tick on some kinds (a traceback from
    the scoring, the kinds scored before it lost); a band of 1e-15% leaves the two limits
    equal (a traceback from the engine's check; now refused with the options)."""
    status, out, _ = _run("--kinds", "lulls,drift", "--symbols", "1", "--minutes", "0.1")
    assert status == 0 and out.startswith("market")
    rows = [line.split()[:2] for line in out.splitlines()]
    assert [row[0] for row in rows if row[1:] == ["engine"]] == ["lulls", "drift"]
    # refused as --band refuses it (1e-9% was taken, and scored limits a rounding apart)
    for bands in ("1e-15%", "1e-9%,1"):
        result = subprocess.run(
            [sys.executable, "-m", "tui.cli", "evaluate", "--bands", bands, "--kinds", "drift",
             "--symbols", "2", "--minutes", "1"],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 2 and result.stdout == ""
        assert "a band is at least 0.0001% of the price" in result.stderr
        assert f"got '{bands}'" in result.stderr and "Traceback" not in result.stderr


def test_output_that_cannot_be_written_is_said_in_a_sentence() -> None:
    """A full disk under standard output: one line, exit 1 (a traceback before)."""
    said = "limitwatch: stopped: cannot write (No space left on device)"
    for command in (
        ["backtest", str(ROOT / "scenarios" / "crash.jsonl")],
        ["evaluate", "--kinds", "drift", "--symbols", "2", "--minutes", "1"],
    ):
        with open("/dev/full", "w") as full:
            done = subprocess.run(
                [sys.executable, "-m", "tui.cli", *command],
                cwd=ROOT, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120,
            )  # fmt: skip
        assert done.returncode == 1, done.stderr
        assert done.stderr.splitlines()[-1] == said and "Traceback" not in done.stderr


def test_a_span_just_short_of_the_settling_time_is_not_written_as_it() -> None:
    from engine import EngineConfig
    from tui.runtime.backtest import short_span_note

    note = short_span_note(EngineConfig(), 29.99 * 60)
    assert note is not None and "span 30.0 min (the longest 1,799 s)" in note, note


def test_on_a_narrow_terminal_the_table_is_cut_in_two_with_the_same_cells() -> None:
    """135 columns wrap on an 80-column terminal: there the alerts against the alarms and
    the forecast's own measures are two tables, each within the width, with the very
    cells of the one table a file or a pipe gets."""
    from engine import EngineConfig

    ticks = evaluate.read_ticks(str(ROOT / "scenarios" / "busy_market.jsonl"))
    results = {"busy": evaluate.run_ticks(ticks, EngineConfig(), [1.0, 2.0])}
    whole = evaluate.table(results).splitlines()
    assert len(whole[0]) > 80 and whole == evaluate.table(results, 200).splitlines()
    cut = evaluate.table(results, 80).splitlines()
    assert max(len(line) for line in cut) <= 80
    tables = [i for i, line in enumerate(cut) if line.startswith("market ")]
    assert len(tables) == 2
    heads = [cut[i].split()[2:] for i in tables]
    assert heads[0] == [
        "alerts", "prec", "recall", "lead", "s", "lead×", "alerts×", "storm", "thresh"
    ]  # fmt: skip
    assert heads[1] == ["gap", "noise", "BSS", "n", "p", "ETA×", "ETA", "ok", "W/sh", "F/sh"]
    names = ["engine", "proximity", "vol-scaled"]
    wide_rows = {r.split()[1 if i == 0 else 0]: r for i, r in enumerate(whole[2:5])}
    first = cut[tables[0] + 2 : tables[0] + 5]
    second = cut[tables[1] + 2 : tables[1] + 3]  # the forecast's own: the engine alone here
    assert [r.split()[1 if i == 0 else 0] for i, r in enumerate(first)] == names
    assert second[0].split()[1] == "engine"
    for name in names:  # every cell of the cut tables is the one table's cell
        cells = wide_rows[name].split()[-16:]
        row = next(r for r in first if f" {name} " in f" {r} ")
        assert row.split()[-8:] == [*cells[:6], *cells[-2:]]
    assert second[0].split()[-8:] == wide_rows["engine"].split()[-16:][6:14]


def test_a_table_to_a_terminal_fits_it_and_to_a_pipe_stays_whole() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

        def fileno(self) -> int:
            return 0

    status, out, _ = _run("--kinds", "drift", "--symbols", "4", "--minutes", "3")
    assert status == 0 and len(out.splitlines()[0]) > 80  # a StringIO is no terminal
    parser = argparse.ArgumentParser()
    evaluate.add_arguments(parser)
    term = Terminal()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(evaluate.os, "get_terminal_size", lambda fd: evaluate.os.terminal_size((80, 24)))
        args = parser.parse_args(["--kinds", "drift", "--symbols", "4", "--minutes", "3"])
        assert evaluate.run(args, term, io.StringIO()) == 0
    assert max(len(line) for line in term.getvalue().splitlines()) <= 80


def test_a_gap_resting_on_few_deciles_is_marked_and_counted() -> None:
    """On a short run nearly every forecast lies near 0: a gap of 0.000 over that one
    decile read as perfect calibration (backtest said over how many deciles; evaluate
    did not)."""
    status, out, _ = _run("--kinds", "drift", "--symbols", "6", "--minutes", "4")
    assert status == 0
    engine_row = out.splitlines()[2]
    assert re.search(r" \d\.\d{3}† ", engine_row), engine_row
    assert any(
        line.startswith("†: the gap rests on fewer than 3 deciles") for line in out.splitlines()
    )
    status, out, _ = _run("--kinds", "drift", "--symbols", "6", "--minutes", "4", "--json")
    calibration = json.loads(out)["markets"]["drift"]["rows"]["engine"]["calibration"]
    big = sum(d["count"] >= 50 for d in calibration["deciles"])
    assert calibration["gap_deciles"] == big < 3


def test_the_noise_of_the_gap_does_not_depend_on_the_order_symbols_first_appear() -> None:
    """The same ticks with the symbols numbered in another order (a file sorted another
    way): the noise drew each symbol's weight by its number, and moved (0.0446 -> 0.0473)."""
    import dataclasses

    from engine import EngineConfig
    from producer.markets import generate

    market = generate("reverting", symbols=40, minutes=20, seed=3)
    ticks = dataclasses.replace(evaluate.Ticks.of_market(market), drift=None, vol=None)
    n = len(ticks.symbols)
    new_id = np.arange(n)[::-1]  # numbered from the last to appear
    symbols = [""] * n
    for old, name in enumerate(ticks.symbols):
        symbols[new_id[old]] = name
    other = dataclasses.replace(
        ticks, symbols=tuple(symbols), sym=new_id[ticks.sym].astype(np.int32)
    )
    first = evaluate.run_ticks(ticks, EngineConfig(), [1.0, 2.0]).to_dict()
    again = evaluate.run_ticks(other, EngineConfig(), [1.0, 2.0]).to_dict()
    assert first == again


@pytest.fixture
def python_sigint() -> Iterator[None]:
    """Python's own SIGINT handler, as a command has it (a test worker may ignore
    SIGINT, and evaluate then takes no Ctrl-C of its own)."""
    import signal

    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.mark.usefixtures("python_sigint")
def test_ctrl_c_while_the_engine_runs_scores_what_was_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README says Ctrl-C gives the figures of what was read (exit 130): `evaluate
    FILE` said "nothing scored" whenever it came. Now a Ctrl-C while the engine runs
    stops it after the batch, and the ticks fed so far are scored and printed."""
    import signal

    from engine.evaluation import SampledRun

    rng = np.random.default_rng(3)
    rows = []
    for k in range(40_000):
        rows.append(f"{1.75e9 + k * 0.05:.2f},S{k % 20},{100 * np.exp(rng.normal(0, 1e-3)):.4f}")
    path = tmp_path / "ticks.csv"
    path.write_text("ts,symbol,price\n" + "\n".join(rows) + "\n")
    update = SampledRun.update
    calls = []

    def update_then_ctrl_c(self: SampledRun, *args: object) -> object:
        calls.append(1)
        if len(calls) == 2:  # as a user's Ctrl-C lands: while the engine runs
            signal.raise_signal(signal.SIGINT)
        return update(self, *args)

    monkeypatch.setattr(SampledRun, "update", update_then_ctrl_c)
    code, out, err = _run(str(path), "--json")
    assert code == 130, err
    said = re.search(r"stopped by Ctrl-C after ([\d,]+) of 40,000 ticks: scoring those", err)
    assert said is not None, err
    fed = int(said[1].replace(",", ""))
    assert 0 < fed < 40_000
    assert f"scoring {fed:,} ticks against the alarms" in err
    assert "the figures below are of the ticks read until then" in err
    scored = json.loads(out)["markets"][str(path)]["rows"]["engine"]["calibration"]
    assert scored["forecasts"] > 0
    assert len(calls) == 2  # the batch it came in, and none after


@pytest.mark.usefixtures("python_sigint")
def test_ctrl_c_between_markets_prints_those_scored(monkeypatch: pytest.MonkeyPatch) -> None:
    """A market stopped half way is not scored (its oracle needs every tick), but those
    scored before are printed: they were "scored, not printed"."""
    import signal

    made = evaluate.generate
    kinds: list[str] = []

    def generate_or_ctrl_c(kind: str, **kw: object) -> object:
        kinds.append(kind)
        if len(kinds) == 2:
            signal.raise_signal(signal.SIGINT)
        return made(kind, **kw)

    monkeypatch.setattr(evaluate, "generate", generate_or_ctrl_c)
    code, out, err = _run("--kinds", "drift,jumps", "--symbols", "4", "--minutes", "3")
    assert code == 130, err
    assert "evaluate: stopped by Ctrl-C after" in err and "(figures of drift below)" in err
    assert [line.split()[0] for line in out.splitlines() if " engine " in line] == ["drift"]
