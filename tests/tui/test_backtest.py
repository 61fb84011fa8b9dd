"""`limitwatch backtest`: golden signals, settings, output formats, errors and big files."""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from engine import EngineConfig
from producer.wire import Tick
from tests.waiting import wait_until
from tui.runtime import backtest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
SHIPPED = sorted(p for p in SCENARIOS.glob("*.jsonl") if not p.name.endswith(".golden.jsonl"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    """Run the command in-process; return status, stdout lines and stderr."""
    args = backtest.build_parser().parse_args(list(argv))
    status = backtest.run(args)
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[list[dict], dict]:
    status, lines, err = run(capsys, "--json", *argv)
    assert status == 0, err
    objects = [json.loads(line) for line in lines]
    assert objects[-1]["kind"] == "SUMMARY"
    return objects[:-1], objects[-1]


def golden_signals(scenario: Path) -> list[dict]:
    golden = scenario.with_name(f"{scenario.stem}.golden.jsonl")
    return [json.loads(line) for line in golden.read_text().splitlines()]


def test_signal_differences_allow_last_bits_of_p_hit_but_nothing_else() -> None:
    base = {"id": "A:SELL_WATCH:1", "kind": "SELL_WATCH", "symbol": "A", "t": 1.0,
            "price": 10.0, "limit": 11.0, "p_hit": 0.7, "eta_s": 3.0}  # fmt: skip
    assert backtest.signal_differences([base], [{**base, "p_hit": 0.7 + 1e-15}]) == []
    assert backtest.signal_differences([base], [{**base, "p_hit": 0.71}]) != []
    assert backtest.signal_differences([base], [{**base, "t": 1.000001}]) != []
    assert backtest.signal_differences([base], [{**base, "eta_s": None}]) != []
    assert backtest.signal_differences([base], []) == ["0 signals, expected 1"]


def cli(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui.runtime.backtest", *argv],
        cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def write_csv(path: Path, rows: list[tuple[float, str, float]]) -> str:
    path.write_text("ts,symbol,price\n" + "".join(f"{t},{s},{p}\n" for t, s, p in rows))
    return str(path)


@pytest.mark.parametrize("scenario", SHIPPED, ids=lambda p: p.stem)
def test_backtest_reproduces_the_golden_signals_exactly(
    capsys: pytest.CaptureFixture[str], scenario: Path
) -> None:
    status, lines, err = run(capsys, "--json", str(scenario))
    assert status == 0, err
    golden = golden_signals(scenario)
    assert golden, "a scenario without signals would make a useless golden file"
    assert backtest.signal_differences(golden, [json.loads(x) for x in lines[:-1]]) == []


@pytest.mark.parametrize(("name", "batch"), [("rally", "1"), ("chop", "7"), ("busy_market", "997")])
def test_signals_do_not_depend_on_the_batch_size(
    capsys: pytest.CaptureFixture[str], name: str, batch: str
) -> None:
    """Protects replay through Kafka, which feeds the engine in batches of any size."""
    path = SCENARIOS / f"{name}.jsonl"
    _, whole = run(capsys, "--json", "--batch", "100000", str(path))[:2]
    status, lines, _ = run(capsys, "--json", "--batch", batch, str(path))
    assert status == 0
    assert lines == whole  # bit for bit: same engine, same ticks, any batching


@pytest.mark.parametrize("name", ["rally", "busy_market"])
def test_signals_only_gives_the_same_signals_and_state_without_the_scores(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    path = str(SCENARIOS / f"{name}.jsonl")
    signals, summary = run_json(capsys, path)
    fast_signals, fast_summary = run_json(capsys, "--signals-only", path)
    assert fast_signals == signals
    assert {"quality", "calibration", "baselines"} & set(fast_summary) == set()
    assert fast_summary == {k: v for k, v in summary.items() if k in fast_summary}
    status, lines, err = run(capsys, "--signals-only", path)
    assert status == 0, err
    assert lines[-1].startswith(f"{summary['ticks']:,} ticks, ")  # the counts close it
    assert not any("calibration" in line for line in lines)


def test_rally_warns_before_the_sell_and_summary_scores_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    signals, summary = run_json(capsys, str(SCENARIOS / "rally.jsonl"))
    acme = [s for s in signals if s["symbol"] == "ACME" and s["kind"] in ("SELL_WATCH", "SELL")]
    assert acme[-1]["kind"] == "SELL" and acme[-1]["limit"] == 102.5
    assert acme[-2]["kind"] == "SELL_WATCH" and acme[-2]["t"] < acme[-1]["t"]
    assert set(signals[0]) == {"id", "kind", "symbol", "t", "price", "limit", "p_hit", "eta_s"}
    assert summary["ticks"] == 252
    assert summary["engine"]["fast"] == 10  # from the scenario header
    assert summary["symbols"]["ACME"]["sell"] == 102.5
    assert set(summary["symbols"]["ACME"]) >= {"last", "sma_fast", "sma_slow", "ema", "p_sell"}
    assert summary["quality"]["crossings"] == 1
    assert summary["quality"]["recall"] == 1.0
    prox, vol = summary["baselines"]
    assert (prox["name"], vol["name"]) == ("proximity", "vol-scaled")
    # matched to the forecast's precision, not its recall
    assert prox["precision"] >= summary["quality"]["precision"]
    assert prox["threshold"] > 0 and len(prox["sweep"]) > 10
    cal = summary["calibration"]
    assert len(cal["deciles"]) == 10
    assert sum(d["count"] for d in cal["deciles"]) == cal["forecasts"] > 0


def test_options_override_the_header(capsys: pytest.CaptureFixture[str]) -> None:
    signals, summary = run_json(
        capsys, str(SCENARIOS / "rally.jsonl"), "--limit", "ACME=90:101", "--fast", "5",
        "--slow", "30", "--horizon", "12", "--halflife", "3", "--alert-p", "0.7",
    )  # fmt: skip
    engine = summary["engine"]
    assert (engine["fast"], engine["slow"], engine["horizon_s"]) == (5, 30, 12.0)
    assert (engine["halflife_s"], engine["alert_p"]) == (3.0, 0.7)
    sells = [s for s in signals if s["kind"] == "SELL"]
    assert sells and sells[0]["limit"] == 101.0
    assert summary["symbols"]["BRIX"]["sell"] == 44.0  # header limits for the others stay


def test_a_header_whose_engine_settings_conflict_is_named_in_the_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = (SCENARIOS / "crash.jsonl").read_text().splitlines()
    header = json.loads(lines[0])
    header["engine"].update(fast=50, slow=40)
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")

    status, _, err = run(capsys, str(path))
    assert status == 2
    assert err.strip() == (
        "limitwatch backtest: bad engine settings: slow (40) must be greater than fast (50)"
        f" (the header of {path} sets fast 50, slow 40; --fast and --slow take precedence)"
    )
    # Only the header's settings still in force are blamed on it.
    status, _, err = run(capsys, str(path), "--slow", "30")
    assert status == 2
    assert err.strip().endswith(f"(the header of {path} sets fast 50; --fast takes precedence)")
    # ... and the option the message points at does fix it.
    status, _, err = run(capsys, str(path), "--fast", "10")
    assert status == 0, err
    # An option equal to the header's value is still the option's.
    status, _, err = run(capsys, str(path), "--slow", "40")
    assert status == 2
    assert err.strip().endswith(f"(the header of {path} sets fast 50; --fast takes precedence)")
    header["engine"].update(fast=50.0, slow=40.0)  # numbers as JSON may give them
    path.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    status, _, err = run(capsys, str(path))
    assert status == 2
    assert "(the header of" in err and "sets fast 50, slow 40;" in err
    # Settings from the command line alone: no file to blame.
    status, _, err = run(capsys, str(SCENARIOS / "rally.jsonl"), "--fast", "50", "--slow", "10")
    assert status == 2
    assert err.strip().endswith("--slow (10) must be greater than --fast (50)")


def test_a_limit_for_a_symbol_without_ticks_is_reported_with_near_names(
    capsys: pytest.CaptureFixture[str],
) -> None:
    crash = str(SCENARIOS / "crash.jsonl")
    status, _, err = run(
        capsys, crash, "--limit", "cygn=40:60", "--limit", "ZZZ=1:2", "--limit", "DRVX=300:330"
    )
    assert status == 0, err
    assert err.splitlines() == [
        f"limitwatch backtest: --limit cygn: no tick of cygn in {crash}, limit unused"
        " (did you mean CYGN?)",
        f"limitwatch backtest: --limit ZZZ: no tick of ZZZ in {crash}, limit unused",
    ]


def test_band_sets_limits_around_the_first_price_of_a_plain_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [(1750000000 + i * 0.5, "ACME", round(100 + 0.05 * i, 2)) for i in range(100)]
    signals, summary = run_json(capsys, write_csv(tmp_path / "p.csv", rows), "--band", "3%")
    assert summary["symbols"]["ACME"]["sell"] == pytest.approx(103.0)
    assert summary["symbols"]["ACME"]["buy"] == pytest.approx(97.0)
    assert [s["kind"] for s in signals if s["kind"] in ("SELL", "BUY")] == ["SELL"]


def test_human_table_lists_signals_and_closes_with_quality(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, lines, _ = run(capsys, str(SCENARIOS / "crash.jsonl"))
    assert status == 0
    assert lines[0] == backtest.TABLE_HEADER
    assert any(" BUY " in line and "CYGN" in line and "48.5" in line for line in lines)
    (hit,) = [line for line in lines if " BUY " in line]
    assert hit.endswith("  1.7s")  # warned: its BUY_WATCH came 1.7 s ahead
    report = lines[lines.index("") + 2 :]
    assert report[0].startswith("forecast: 1/1 crossings warned ahead")
    assert report[1].startswith("proximity alarm (price within")
    assert report[2].startswith("vol-scaled alarm (within")
    assert any(line.startswith("calibration of p") for line in report)
    assert lines[-1] == "proximity P  vol-scaled V  forecast F"  # the lead-precision plot
    # Which deciles the largest gap is over: "0.00" over one read as calibrated.
    cal = next(line for line in report if line.startswith("calibration of p"))
    assert re.search(
        r"\((over the \d+ of 10 deciles with >= 50 forecasts|no decile has 50 forecasts)"
        r"(; by chance up to \d\.\d\d, resampling whole symbols or stretches of time"
        r"|; too few symbols or stretches of time to tell it from chance)?\)$",
        cal,
    ), cal
    assert backtest._dense([{"count": 60}, *[{"count": 9}] * 9]) == (
        "over the 1 of 10 deciles with >= 50 forecasts"
    )


def test_corrupt_file_prints_file_line_reason_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("ts,symbol,price\n1750000000,A,10\n1750000001,A,-4\n")
    result = cli("--json", str(path))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"limitwatch backtest: {path}:3: price must be positive, got -4.0 (a value that may"
        " be 0 or below is a quantity: --additive SYMBOL; --skip-bad skips and counts such"
        " lines)"
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["missing.csv"], "missing.csv: no such file"),
        (["generator"], "backtest needs a finite input"),
        (["scenarios/rally.jsonl", "--fast", "50", "--slow", "10"], "bad engine settings"),
    ],
)
def test_usage_errors_exit_2_without_a_traceback(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    status, _, err = run(capsys, *argv)
    assert status == 2
    assert expected in err


def test_skip_bad_skips_counts_and_reports_bad_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(
        '{"symbol":"A","price":10,"ts":1}\nnot json\n{"symbol":"A","price":11,"ts":2}\n'
    )
    status, lines, err = run(capsys, "--json", "--skip-bad", str(path))
    assert status == 0
    summary = json.loads(lines[-1])
    assert (summary["ticks"], summary["skipped"]) == (2, 1)
    assert f"{path}:2: not valid JSON" in err


def test_stdin_csv_through_the_module_entry_point() -> None:
    rows = "".join(f"{1750000000 + i},ACME,{100 + i * 0.1:.2f}\n" for i in range(60))
    result = cli("--json", "--band", "2%", "-", stdin="ts,symbol,price\n" + rows)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(json.loads(line) for line in lines)  # nothing but JSON on stdout
    assert json.loads(lines[-1])["ticks"] == 60


def test_a_limit_on_one_side_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # `--limit ACME=:103`: a sell limit and no buy limit (it was refused as BUY:SELL).
    path = tmp_path / "one.csv"
    write_csv(path, [(1.75e9 + k, "ACME", 100.0 - 0.1 * k if k < 30 else 103.0) for k in range(40)])
    status, lines, err = run(capsys, "--json", "--limit", "ACME=:103", str(path))
    assert status == 0, err
    signals = [json.loads(line) for line in lines[:-1]]
    assert [s["kind"] for s in signals if s["kind"] in ("BUY", "SELL")] == ["SELL"]
    assert json.loads(lines[-1])["ticks"] == 40


def test_a_live_pipe_shows_its_signals_as_they_come_and_ctrl_c_reports_what_was_read(
    tmp_path: Path,
) -> None:
    """`tail -f ticks.jsonl | limitwatch backtest -`: nothing was shown until 10,000
    ticks had come or the pipe closed, and Ctrl-C threw everything away."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.runtime.backtest", "--signals-only", "-"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, bufsize=1, env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
        # Ctrl-C as in a terminal: a run started in the background (`cmd &` in a script,
        # as CI may be) inherits SIGINT ignored, and Python then keeps it ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    for k in range(40):  # ACME 3% over its first price from the 30th tick: a SELL
        price = 103.0 if k >= 30 else 100.0
        proc.stdin.write(json.dumps({"symbol": "ACME", "price": price, "ts": 1.75e9 + k}) + "\n")
    proc.stdin.flush()
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout.readline() for _ in range(2)))
    reader.start()
    reader.join(30)  # the pipe stays open: the rows come as the ticks do
    assert len(lines) == 2 and " SELL " in lines[1], lines
    proc.send_signal(signal.SIGINT)
    proc.stdin.close()  # as the program feeding a pipe ends with the same Ctrl-C
    proc.wait(timeout=30)
    assert proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    assert proc.returncode == 130, err
    assert "40 ticks, 1 symbol, 1 signal (1 SELL)" in out
    assert "stopped by Ctrl-C after 40 ticks" in err
    assert "Traceback" not in err


def test_a_file_whose_last_line_has_no_newline_is_read_and_said_to_be_maybe_cut(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A CSV cut short while written (`...,ACME,100.5` cut to `...,ACME,10`) gave a false
    BUY and said nothing; its last tick is still read (a file may simply lack the final
    newline), and now said. A JSON line cut anywhere is not JSON: no note there."""
    path = tmp_path / "cut.csv"
    write_csv(path, [(1.75e9 + k, "ACME", 100.0 + 0.01 * k) for k in range(200)])
    path.write_bytes(path.read_bytes() + b"1750000200.0,ACME,10")
    status, lines, err = run(capsys, "--signals-only", str(path))
    assert status == 0, err
    assert any(" BUY " in line and "10.00" in line for line in lines), lines
    assert err == (
        f"limitwatch backtest: {path}: its last line has no newline: its price may be cut "
        "short (a file cut while it was written ends mid-line): check its last tick\n"
    )
    whole = tmp_path / "whole.csv"
    whole.write_bytes(path.read_bytes() + b"\n")
    named = tmp_path / "ticks.txt"  # JSON lines of any name
    named.write_text('{"symbol": "ACME", "price": 100.0, "ts": 1750000000.0}')
    comment = tmp_path / "commented.csv"
    comment.write_bytes(whole.read_bytes() + b"# the end")
    for fine in (whole, named, comment):
        status, _lines, err = run(capsys, "--signals-only", str(fine))
        assert status == 0 and err == "", err


def test_a_bad_last_line_with_no_newline_is_said_to_be_maybe_cut(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A CSV cut inside its last symbol or time (`...,AC`) was refused as any bad line
    (`expected 3 fields, found 2`), which says nothing of the likely cause; the same line
    inside the file, or ended by a newline, is only a bad line. A JSON line cut short
    says so already, once."""
    ticks = [(1.75e9 + k, "ACME", 100.0 + 0.01 * k) for k in range(20)]
    path = tmp_path / "cut.csv"
    write_csv(path, ticks)
    whole = path.read_bytes()
    note = ", on the file's last line, which has no newline at its end: was the file cut short?"
    for tail, found in ((b"1750000020.0,AC", 2), (b"17500000", 1)):
        path.write_bytes(whole + tail)
        status, _lines, err = run(capsys, "--signals-only", str(path))
        assert status == 2
        assert err == (
            f"limitwatch backtest: {path}:22: expected 3 fields, found {found}{note} "
            "(--skip-bad skips and counts such lines)\n"
        ), err
    for ended in (whole + b"1750000020.0,AC\n", whole + b"1750000020.0,AC\n# the end"):
        path.write_bytes(ended)
        status, _lines, err = run(capsys, "--signals-only", str(path))
        assert status == 2 and err == (
            f"limitwatch backtest: {path}:22: expected 3 fields, found 2 "
            "(--skip-bad skips and counts such lines)\n"
        ), err
    jsonl = tmp_path / "cut.jsonl"
    jsonl.write_text('{"symbol": "ACME", "price": 100.0, "ts": 1750000000.0}\n{"symbol": "AC')
    status, _lines, err = run(capsys, "--signals-only", str(jsonl))
    assert status == 2 and "(a file cut while written?)" in err and "cut short" not in err, err


@pytest.mark.parametrize("writer", [False, True], ids=["no-writer", "idle-writer"])
def test_ctrl_c_stops_a_backtest_waiting_on_a_named_pipe(tmp_path: Path, writer: bool) -> None:
    """A named pipe with no writer yet (open waits), or one whose writer has sent nothing
    (the header waits): Ctrl-C was noted and ignored until the writer came or closed."""
    fifo = tmp_path / "ticks"
    os.mkfifo(fifo)
    holder = None
    if writer:  # a writer that holds the pipe open and writes nothing
        holder = subprocess.Popen(["sh", "-c", f"exec 3>'{fifo}'; sleep 60"])
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.runtime.backtest", "--signals-only", str(fifo)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as in a terminal
    )  # fmt: skip
    try:
        wait_until(lambda: _blocked_on_pipe(proc.pid), 60, what="started and waiting")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)  # was: until the writer ended, or never
    finally:
        proc.kill()
        if holder is not None:
            holder.kill()
            holder.wait()
    assert proc.returncode == 130, err
    assert err == f"limitwatch backtest: stopped by Ctrl-C before the first tick of {fifo}\n"
    assert out == ""  # no report: nothing was read


def _blocked_on_pipe(pid: int) -> bool:
    """Whether the process waits in the kernel for a pipe's writer (to open it) or for
    data (select on it)."""
    try:
        with open(f"/proc/{pid}/wchan") as f:
            where = f.read()
    except OSError:
        return False
    waits = ("wait_for_partner", "poll_schedule_timeout", "do_select", "do_sys_poll")
    return where.split(".")[0] in waits  # e.g. poll_schedule_timeout.constprop.0


def test_a_scenario_piped_to_stdin_gives_the_signals_of_the_jsonl_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Protects `cat rally.jsonl | backtest -`: the header's limits and engine settings."""
    path = SCENARIOS / "rally.jsonl"
    signals, summary = run_json(capsys, str(path))
    result = cli("--json", "-", stdin=path.read_text())
    assert result.returncode == 0, result.stderr
    piped = [json.loads(line) for line in result.stdout.splitlines()]
    assert piped[-1]["engine"] == summary["engine"]
    assert backtest.signal_differences(signals, piped[:-1]) == []


@pytest.mark.parametrize("name", ["rally.txt", "rally"])
def test_a_scenario_in_a_file_of_any_name_gives_the_signals_of_the_jsonl_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    signals, summary = run_json(capsys, str(SCENARIOS / "rally.jsonl"))
    renamed = shutil.copy(SCENARIOS / "rally.jsonl", tmp_path / name)
    renamed_signals, renamed_summary = run_json(capsys, str(renamed))
    assert renamed_summary["engine"] == summary["engine"]
    assert backtest.signal_differences(signals, renamed_signals) == []


def test_a_scenario_from_a_named_pipe_gives_the_signals_of_the_jsonl_file(
    tmp_path: Path,
) -> None:
    # As `limitwatch backtest <(cat rally.jsonl)` gives it: a FIFO, readable once.
    scenario = SCENARIOS / "rally.jsonl"
    fifo = tmp_path / "rally.pipe"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "wb") as pipe:
            pipe.write(scenario.read_bytes())

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    piped = cli(str(fifo), "--json")
    writer.join(timeout=10)
    assert piped.returncode == 0, piped.stderr
    direct = cli(str(scenario), "--json")
    assert piped.stdout == direct.stdout  # the header's limits and engine settings applied
    assert '"fast":10' in direct.stdout.replace(" ", "")


def test_skip_bad_with_every_line_bad_exits_2_naming_the_first_bad_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('not json\n{"symbol":"A","price":-1,"ts":1}\n')
    status, _, err = run(capsys, "--skip-bad", str(path))
    assert status == 2
    assert err.strip().startswith(
        f"limitwatch backtest: {path}: no ticks: all 2 lines were bad; "
        f"first: {path}:1: not valid JSON"
    )


def test_human_summary_counts_the_symbols_refused_beyond_max_symbols() -> None:
    ticks = [Tick(s, 10.0, 1.0 + i) for i, s in enumerate(["A", "B", "C", "A", "C", "D"])]
    result = backtest.backtest(ticks, EngineConfig(max_symbols=2))
    out = io.StringIO()
    backtest.print_report(result, out)
    counts = out.getvalue().splitlines()[1]
    assert counts.startswith("3 ticks, 2 symbols, ")
    assert counts.endswith(", 2 symbols refused (limit 2): 3 ticks not run")
    assert out.getvalue().splitlines()[2] == (
        "(to run the symbols refused, raise --max-symbols from 2: it goes up to 100,000, "
        "about 1.5 KB of memory a symbol)"
    )
    # Past max_symbols refused names, a name refused again may count twice (the engine
    # remembers that many): 100,000 symbols in three rounds read "214,791 refused".
    names = ["A", "B", *(f"X{k}" for k in range(5))] * 3
    many = backtest.backtest(
        [Tick(s, 10.0, 1.0 + i) for i, s in enumerate(names)], EngineConfig(max_symbols=2)
    )
    out = io.StringIO()
    backtest.print_report(many, out)
    assert (
        out.getvalue()
        .splitlines()[1]
        .endswith(", over 2 symbols refused (limit 2): 15 ticks not run")
    )


def test_a_limit_for_a_refused_symbol_says_it_was_refused_not_missing() -> None:
    ticks = [Tick(s, 10.0, 1.0 + i) for i, s in enumerate(["A", "B", "C", "A", "C"])]
    limits = {"C": (5.0, 20.0), "Z": (5.0, 20.0)}
    result = backtest.backtest(ticks, EngineConfig(max_symbols=2), limits)
    assert result.refused == 2 and result.refused_limits == {"C"}
    given = [("C", 5.0, 20.0), ("Z", 5.0, 20.0), ("A", 5.0, 20.0)]
    assert backtest.unused_limits(given, result, "-") == [
        "--limit C: C was refused, 2 symbols were tracked already (max_symbols), limit unused",
        "--limit Z: no tick of Z in standard input, limit unused",
    ]


def test_human_summary_says_1_tick_1_symbol_not_1_ticks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, lines, _ = run(capsys, write_csv(tmp_path / "p.csv", [(1750000000, "ACME", 10.0)]))
    assert status == 0
    assert "1 tick, 1 symbol, 0 signals (none)" in lines


def test_a_run_that_scores_no_forecast_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [(1750000000 + k, name, 10.0 + k) for k in range(3) for name in ("A", "B")]
    status, lines, _ = run(capsys, write_csv(tmp_path / "p.csv", rows))
    text = "\n".join(lines)
    assert status == 0
    assert "0 forecasts" in text
    assert "no forecast was scored: a symbol is forecast from its 20th tick" in text
    assert "the most any symbol had here is 3 ticks" in text


def test_a_run_whose_symbols_have_no_limits_says_so_not_that_they_were_too_few(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A quantity that starts at 0 gets no band: an hour of its ticks said that a symbol
    is forecast from its 20th tick, and that it had 3,600."""
    rows = [(1750000000 + k, "cpu.y", 0.0 if k < 1800 else 1.0) for k in range(3600)]
    status, lines, _ = run(capsys, write_csv(tmp_path / "q.csv", rows), "--additive", "cpu.*")
    text = "\n".join(lines)
    assert status == 0
    assert "no symbol had a limit to forecast (cpu.y)" in text
    assert "give limits with --limit SYMBOL=BUY:SELL" in text
    assert "from its 20th tick" not in text
    # Given limits, it is forecast.
    status, lines, _ = run(
        capsys, write_csv(tmp_path / "q.csv", rows), "--additive", "cpu.*",
        "--limit", "cpu.y=-1:0.5",
    )  # fmt: skip
    assert status == 0 and "no symbol had a limit" not in "\n".join(lines)


def test_ticks_further_apart_than_the_horizon_say_what_horizon_to_give(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Daily closes at the default minute's horizon: an empty forecast row, and a note
    saying why and what to give (spacing a day: 5 and 20 days)."""
    rows = [(1750000000 + 86400 * k, name, 10.0 + k % 3) for k in range(30) for name in "AB"]
    path = write_csv(tmp_path / "daily.csv", rows)
    status, lines, _ = run(capsys, path)
    text = "\n".join(lines)
    assert status == 0
    assert "a symbol's ticks come 24.0 h apart" in text
    assert "longer than the 60 s horizon" in text
    assert "say --horizon 430000 --halflife 1700000" in text
    status, lines, _ = run(capsys, path, "--horizon", "430000", "--halflife", "1700000")
    assert status == 0 and "ticks come" not in "\n".join(lines)


def test_symbols_ticking_further_apart_than_the_horizon_beside_fast_ones_are_said(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fast = [(1750000000 + 2.0 * k, f"F{i}", 10.0 + k % 3) for k in range(300) for i in range(8)]
    slow = [(1750000000 + 90.0 * k, f"S{i}", 10.0 + k % 3) for k in range(7) for i in range(2)]
    path = write_csv(tmp_path / "mixed.csv", sorted(fast + slow))
    status, lines, _ = run(capsys, path)
    assert status == 0
    assert any(
        line.startswith("(note: 2 of 10 symbols' ticks come further apart than the 60 s")
        for line in lines
    ), lines


def test_tick_spacing_is_the_median_of_the_symbols_typical_step_gaps_aside() -> None:
    # 30-second bars over five sessions of 6.5 hours, a night between: the mean spacing
    # said 1.6 min and advised a horizon three times too long.
    bars = np.concatenate([d * 86_400 + np.arange(0.0, 6.5 * 3600, 30.0) for d in range(5)])
    # A second's ticks either side of a week's gap: the mean said 17 min.
    week = np.concatenate([np.arange(300.0), 604_800 + np.arange(300.0)])
    ids = np.concatenate([np.zeros(bars.size, np.int32), np.ones(week.size, np.int32)])
    t = np.concatenate([bars, week])
    order = np.argsort(t, kind="stable")
    ids, t = ids[order], t[order]
    whole = backtest.TickSpacings()
    whole.add(ids, t)
    assert whole.spacings() == pytest.approx([30.24, 1.02], abs=0.01)
    split = backtest.TickSpacings()  # the same however the ticks come in batches
    for cut in np.array_split(np.arange(t.size), 7):
        split.add(ids[cut], t[cut])
    assert split.spacings().tolist() == pytest.approx(whole.spacings().tolist(), rel=1e-12)
    # Steps of 0 (ticks at one time) and late ticks are no steps; a lone tick has none.
    few = backtest.TickSpacings()
    few.add(np.array([0, 0, 0, 1, 0, 2]), np.array([10.0, 10.0, 14.0, 3.0, 12.0, 20.0]))
    few.add(np.array([0, 2]), np.array([16.0, 20.0]))
    assert few.spacings().tolist() == [4.0]  # 10 to 14, and 12 (late) to 16
    assert backtest.median_spacing(few.spacings()) == 4.0
    assert np.isnan(backtest.median_spacing(backtest.TickSpacings().spacings()))
    assert backtest.sparse_ticks_note(EngineConfig(), 59.0) is None  # closer
    assert backtest.sparse_ticks_note(EngineConfig(), math.nan) is None
    # Minute bars at the default minute's horizon: each forecast sees one tick.
    minute = backtest.sparse_ticks_note(EngineConfig(), 60.0)
    assert minute is not None and "60 s apart" in minute
    assert "as long as the 60 s horizon" in minute and "--horizon 300 " in minute


def test_the_spacing_note_reads_bars_with_nights_between_at_their_own_pace(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    start = 1_750_000_000
    rows = [
        (start + d * 86_400 + 30.0 * k, "ACME", round(100 + 0.01 * (k % 7), 2))
        for d in range(3)
        for k in range(600)
    ]
    path = write_csv(tmp_path / "bars.csv", rows)  # 1.8 min apart by the mean
    status, lines, _ = run(capsys, path, "--signals-only")
    assert status == 0 and "ticks come" not in "\n".join(lines)  # within 60 s
    status, lines, _ = run(capsys, path, "--signals-only", "--horizon", "25")
    assert status == 0
    assert "(note: a symbol's ticks come 30 s apart" in "\n".join(lines)


def test_add_parser_registers_backtest_with_run_as_its_handler() -> None:
    parser = argparse.ArgumentParser(prog="limitwatch")
    backtest.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["backtest", "x.csv", "--limit", "A=1:2", "--limit", "B=3:4"])
    assert args.func is backtest.run
    assert args.limit == [("A", 1.0, 2.0), ("B", 3.0, 4.0)]
    with pytest.raises(SystemExit):
        parser.parse_args(["backtest", "x.csv", "--limit", "A=2:1"])


def test_a_million_tick_csv_backtests_with_every_tick_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    n, symbols = 1_000_000, 40
    rng = np.random.default_rng(5)
    who = rng.integers(0, symbols, n)
    t = 1750000000.0 + np.cumsum(rng.exponential(0.01, n))
    price = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0002, n)))
    path = tmp_path / "million.csv"
    with path.open("w") as f:
        f.write("ts,symbol,price\n")
        f.writelines(f"{a:.3f},S{b:02d},{c:.2f}\n" for a, b, c in zip(t, who, price, strict=True))
    signals, summary = run_json(capsys, str(path))
    assert summary["ticks"] == n
    assert len(summary["symbols"]) == symbols
    assert sum(summary["signals"].values()) == len(signals)
    last_of_s00 = round(float(price[np.flatnonzero(who == 0)[-1]]), 2)
    assert summary["symbols"]["S00"]["last"] == pytest.approx(last_of_s00)


def test_a_quantity_below_zero_is_backtested_with_limits_below_zero(tmp_path: Path) -> None:
    path = tmp_path / "spread.csv"
    values = [0.5, 0.2, -0.1, -0.4, -0.8, -1.2, -0.6, 0.1]
    path.write_text(
        "ts,symbol,price\n"
        + "".join(f"{1_750_000_000 + i},spread,{v}\n" for i, v in enumerate(values))
    )
    result = cli(str(path), "--additive", "spread", "--limit", "spread=-1:0.4",
                  "--json", "--signals-only")  # fmt: skip
    assert result.returncode == 0, result.stderr
    hits = [json.loads(line) for line in result.stdout.splitlines() if '"kind"' in line]
    assert [(h["kind"], h["price"], h["limit"]) for h in hits if h["kind"] == "BUY"] == [
        ("BUY", -1.2, -1.0)
    ]


def test_quantities_are_left_out_of_the_comparison_with_the_alarms(tmp_path: Path) -> None:
    """The alarms are a price's (percent of the limit, volatility of log price): a gauge
    below zero beside a price leaves the price's scores as they are alone, and a file of
    gauges alone is backtested without the comparison, not with a traceback."""
    rng = np.random.default_rng(4)
    n = 3000
    acme = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, n)))
    gauge = -1.0 + rng.normal(0.0, 0.05, n)
    rows = [(1_750_000_000 + i, "ACME", round(float(p), 4)) for i, p in enumerate(acme)]
    alone = tmp_path / "acme.csv"
    write_csv(alone, rows)
    both = tmp_path / "both.csv"
    rows += [(1_750_000_000 + i + 0.5, "gauge", round(float(v), 4)) for i, v in enumerate(gauge)]
    write_csv(both, sorted(rows))
    gauges = tmp_path / "gauges.csv"
    write_csv(gauges, [r for r in sorted(rows) if r[1] == "gauge"])

    def scores(*argv: str) -> dict:
        result = cli(*argv, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.splitlines()[-1])

    one, two = scores(str(alone)), scores(str(both), "--additive", "gauge")
    # The chances the watches showed ("said") may differ: the gauge's watches teach the
    # stream's correction of them, as its forecasts teach the stream's map.
    one["quality"].pop("said"), two["quality"].pop("said")
    assert one["quality"] == two["quality"] and one["baselines"] == two["baselines"]
    shown = cli(str(gauges), "--additive", "gauge")
    assert shown.returncode == 0 and "Traceback" not in shown.stderr
    assert "every symbol is modelled as a quantity" in shown.stdout
    # Gauges alone: the forecast scored on its own (it was not scored at all), by the
    # same rules as a price's (its figures with the alarms beside a price are its own).
    alone_q = scores(str(gauges), "--additive", "gauge")
    assert alone_q["baselines"] == [] and alone_q["calibration"]["forecasts"] > 0
    assert set(alone_q["quality"]) >= {"crossings", "alerts", "precision", "recall"}
    lines = shown.stdout.splitlines()
    assert any(line.startswith("forecast: ") for line in lines)
    assert any(line.startswith("calibration of p (sampled every") for line in lines)
    assert not any(" alarm (" in line for line in lines)


def test_a_quantitys_forecast_scored_alone_counts_its_crossings_and_warnings() -> None:
    """A gauge that climbs to its sell limit once, then falls back: one crossing, warned
    ahead, as a price would be."""
    t = 1_750_000_000.0 + np.arange(400.0)
    level = np.concatenate([np.linspace(-5.0, 5.0, 200), np.linspace(5.0, -5.0, 200)])
    ticks = [Tick("gauge", float(v), float(a)) for a, v in zip(t, level, strict=True)]
    result = backtest.backtest(
        ticks, EngineConfig(), limits={"gauge": (-20.0, 4.0)}, additive=("gauge",)
    )
    assert result.quality is not None and result.evaluation is not None
    assert [row.name for row in result.evaluation.rows] == ["engine"]
    assert result.quality.crossings == 1
    assert result.quality.alerts >= 1 and result.quality.forecast == 1


def test_a_limit_below_zero_is_a_quantitys_and_a_price_refuses_it_saying_so(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.jsonl"
    header = '{"limitwatch_scenario":1,"name":"t","description":"d","additive":["gauge"]}'
    ticks = [f'{{"symbol":"gauge","price":{-0.2 + 0.01 * i},"ts":{1.7e9 + i}}}' for i in range(30)]
    ticks += [f'{{"symbol":"ACME","price":{100 + i},"ts":{1.7e9 + 30 + i}}}' for i in range(5)]
    path.write_text("\n".join([header, *ticks]) + "\n")
    ok = cli(str(path), "--limit", "gauge=-0.3:0.3", "--signals-only")  # the header names it
    assert ok.returncode == 0, ok.stderr
    refused = cli(str(path), "--limit", "ACME=-1:5")
    assert refused.returncode == 2
    assert refused.stderr.strip().endswith(
        "ACME: the buy limit must be positive and finite, got -1.00 (only a quantity's limits "
        "may be 0 or below: see --additive)"
    )


def test_each_crossing_says_whether_a_watch_came_first_and_how_long_ahead() -> None:
    from engine import Signal, SignalKind

    def sig(kind: SignalKind, t: float, symbol: str = "ACME") -> Signal:
        return Signal(symbol, kind, 1, t, 100.0, 99.0, 0.7, 5.0)

    warned = backtest.Warnings(horizon_s=60.0)
    said = [
        warned(sig(SignalKind.BUY_WATCH, 0.0)),
        warned(sig(SignalKind.SELL, 5.0)),  # another side: no watch of its own
        warned(sig(SignalKind.BUY, 12.5)),
        warned(sig(SignalKind.BUY, 20.0)),  # that watch was answered already
        warned(sig(SignalKind.BUY_WATCH, 30.0, "BRIX")),
        warned(sig(SignalKind.BUY, 100.0, "BRIX")),  # more than a horizon later
    ]
    assert said == ["", "no", "12.5s", "no", "", "no"]


@pytest.mark.parametrize("group_ticks", [300, 997, 5_000])
def test_the_scores_do_not_depend_on_how_many_ticks_are_scored_at_once(
    group_ticks: int,
) -> None:
    """The scoring reads the ticks back a group of symbols at a time (from a temporary
    file past ``group_ticks``) so that its memory stays bounded: every figure, each
    alarm's whole sweep included, is the one of scoring all the ticks at once."""
    path = str(SCENARIOS / "busy_market.jsonl")

    calls: list[tuple[int, int]] = []

    def scored(group: int) -> tuple[dict, list]:
        source = backtest.open_file(path, skip_bad=False)
        calls.clear()
        result = backtest.backtest(
            source, EngineConfig(), source.limits, group_ticks=group,
            on_scoring=lambda done, total: calls.append((done, total)),
        )  # fmt: skip
        assert result.evaluation is not None
        # (a band too narrow for any alert has no precision: nan, equal to itself here)
        curves = [np.nan_to_num(r.curve, nan=-1.0).tolist() for r in result.evaluation.rows]
        return result.evaluation.to_dict(), curves

    whole = scored(10**7)
    assert calls == [(0, 1), (1, 1)]
    assert whole[0]["rows"]["engine"]["alerts"] > 0 and whole[0]["streams"] > 100
    assert scored(group_ticks) == whole
    groups = calls[-1][1]
    assert groups > 1 and calls == [(k, groups) for k in range(groups + 1)]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_shows_the_reading_then_the_scoring() -> None:
    out = Terminal()
    progress = backtest.Progress([], out)  # type: ignore[arg-type]  # a source of no size
    progress.start -= 5.0  # a run of five seconds: progress is drawn from the first on
    progress.update(12_000)
    progress.scoring(3, 40)
    progress.finish(12_000)
    text = out.getvalue()
    assert "12,000 ticks" in text
    assert "scoring against the alarms [#" in text and "] 3/40 groups" in text
    assert max(len(line) for line in text.replace("\r", "\n").split("\n")) < 80
    assert text.endswith("\r\x1b[Kbacktest: 12,000 ticks in 5.0 s\n")
    quiet = io.StringIO()  # not a terminal: the closing line only
    progress = backtest.Progress([], quiet)  # type: ignore[arg-type]
    progress.start -= 5.0
    progress.update(12_000)
    progress.scoring(3, 40)
    progress.finish(12_000)
    assert quiet.getvalue() == "backtest: 12,000 ticks in 5.0 s\n"


def test_quantities_are_left_out_alike_when_the_ticks_go_to_the_temporary_file(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(8)
    rows = []
    for k, name in enumerate(("A", "B", "C")):
        walk = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, 1500)))
        rows += [(1_750_000_000 + i + k / 4, name, round(float(p), 4)) for i, p in enumerate(walk)]
    rows += [(1_750_000_000 + i + 0.9, "gauge", round(float(v), 4))
             for i, v in enumerate(-1.0 + rng.normal(0.0, 0.05, 1500))]  # fmt: skip
    path = tmp_path / "mixed.csv"
    write_csv(path, sorted(rows))

    def scored(group: int) -> dict:
        source = backtest.open_file(str(path), skip_bad=False, additive=("gauge",))
        result = backtest.backtest(source, EngineConfig(), source.limits, group_ticks=group,
                                   additive=("gauge",))  # fmt: skip
        assert result.evaluation is not None
        return result.evaluation.to_dict()

    whole = scored(10**7)
    assert whole["streams"] == 3  # the gauge left out
    assert scored(700) == whole


def test_the_signal_table_shows_prices_in_full_digits_never_in_exponents() -> None:
    """A price in the millions and one below a cent read as prices, in their column (they
    read 1.20514e+07 and 0.000123 rounded to six significant digits)."""
    from engine import Signal, SignalKind

    huge = Signal("HUGE", SignalKind.SELL, 1, 1.75e9, 12_056_602.0, 12_000_000.0, 1.0, 0.0)
    tiny = Signal("TINY", SignalKind.BUY_WATCH, 1, 1.75e9, 0.000123, 0.00012, 0.7, 12.0)
    rows = [backtest.table_row(huge), backtest.table_row(tiny)]
    assert "12,056,602" in rows[0] and "12,000,000" in rows[0] and "e+" not in rows[0]
    assert "0.000123 " in rows[1] and "0.00012 " in rows[1]
    end = backtest.TABLE_HEADER.index("price") + len("price")  # right-aligned under it
    assert rows[0][:end].endswith("12,056,602") and rows[1][:end].endswith("0.000123")
    # A crossing just past its limit: the two told apart, not both 0.0019345 or 54,108.
    micro = Signal("MICRO", SignalKind.BUY, 1, 1.75e9, 0.00193448, 0.0019345494, 1.0, 0.0)
    big = Signal("BIG", SignalKind.SELL, 1, 1.75e9, 54_107.6, 54_107.5, 1.0, 0.0)
    assert backtest.table_row(micro).split()[4:6] == ["0.00193448", "0.00193455"]
    assert backtest.table_row(big).split()[4:6] == ["54,107.60", "54,107.50"]
    # Wide and combining characters keep the columns where they are (rows of 110, 112,
    # 109 and 126 cells had come out).
    from tui.runtime.format import cells

    rows = [backtest.table_row(Signal(s, SignalKind.BUY, 1, 1.75e9, 10.0, 10.5, 1.0, 0.0))
            for s in ("ACME", "日本株", "😀X", "e\u0301t", "日本株式会社ABCDEFGHIJ")]  # fmt: skip
    assert len({cells(row) for row in rows}) == 1
    # Long symbols that differ at their end stay told apart (both read BTCUSDT-PERP-202).
    far, near = (
        backtest.table_row(Signal(s, SignalKind.BUY, 1, 1.75e9, 10.0, 10.5, 1.0, 0.0)).split()[3]
        for s in ("BTCUSDT-PERP-2025-06-27", "BTCUSDT-PERP-2025-09-26")
    )
    assert (far, near) == ("BTCUSDT…25-06-27", "BTCUSDT…25-09-26")


def test_the_report_says_what_the_watches_said_beside_how_often_they_came_true() -> None:
    result = cli(str(ROOT / "scenarios" / "busy_market.jsonl"))
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("forecast:"))
    lines = cli(str(ROOT / "scenarios" / "busy_market.jsonl"), "--json").stdout.splitlines()
    said = json.loads(lines[-1])["quality"]["said"]
    assert f"(precision 82%, said {100 * said:.0f}% on average)" in line
    # the mean of the watches' own chances, the undecided ones left out
    shown = [s["p_hit"] for s in map(json.loads, lines[:-1]) if s["kind"].endswith("WATCH")]
    assert len(shown) == 83 + 6 and min(shown) < said < max(shown)


def test_ticks_far_behind_the_time_read_are_counted_and_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file sorted by symbol, not time: its forecasts cannot be calibrated or scored on
    the stream's clock, and the report says so instead of scoring one symbol silently."""
    rows = [(1_750_000_000.0 + i, s, 100.0 + (i % 9) * 0.1) for s in ("A", "B") for i in range(600)]
    path = write_csv(tmp_path / "by_symbol.csv", rows)
    _, summary = run_json(capsys, path)
    assert summary["late"] == 539 and summary["most_late_s"] == 599.0  # B at 0-538 s: > 60 s
    status, lines, _ = run(capsys, path)
    assert status == 0
    assert any("the ticks are not in time order: 539 ticks" in line for line in lines), lines
    # in groups of 50, a tick behind a time of an earlier group counts alike
    ticks = list(backtest.open_file(path, skip_bad=False))
    small = backtest.backtest(ticks, EngineConfig(), batch=50, score=False)
    assert (small.late, small.most_late_s) == (539, 599.0)
    rows.sort(key=lambda r: r[0])
    _, summary = run_json(capsys, write_csv(tmp_path / "by_time.csv", rows))
    assert summary["late"] == 0 and summary["most_late_s"] == 0.0


def test_skip_bad_says_how_many_bad_lines_it_did_not_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = "".join(f"{1_750_000_000 + i},A,{-1 if i % 2 else 10}\n" for i in range(40))
    path = tmp_path / "many.csv"
    path.write_text("ts,symbol,price\n" + rows)
    status, _, err = run(capsys, "--signals-only", "--skip-bad", str(path))
    assert status == 0
    named = [line for line in err.splitlines() if line.startswith(f"skipped {path}:")]
    assert len(named) == 5 and "skipped 15 more bad lines, not named here" in err
    assert "the log file names the first 10,000" in err


def test_every_bad_line_skipped_is_named_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = "".join(f"{1_750_000_000 + i},A,{-1 if i % 2 else 10}\n" for i in range(40))
    path = tmp_path / "many.csv"
    path.write_text("ts,symbol,price\n" + rows)
    with caplog.at_level(logging.WARNING, logger="producer.files"):
        list(backtest.open_file(str(path), skip_bad=True))
    logged = [r.getMessage() for r in caplog.records if r.name == "producer.files"]
    assert logged == [f"skipped {path}:{i + 2}: price must be positive, got -1.0"
                      for i in range(1, 40, 2)]  # fmt: skip


def test_ctrl_c_while_scoring_says_the_report_is_lost(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C during the scoring (after the last tick was read) ended the run with exit
    130 and not a word."""

    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(backtest, "evaluate", interrupted)
    assert backtest.main([str(SCENARIOS / "rally.jsonl")]) == 130
    err = capsys.readouterr().err
    assert "stopped by Ctrl-C before the report (while scoring the forecast" in err


def test_a_second_ctrl_c_stops_at_once() -> None:
    """The first is noted and stops the reading after the batch; a second, while that
    batch still runs, was ignored (45 s to end a backtest of 2,000 symbols over hours)."""
    import signal

    # Python's own handler, as a command has it (a test worker may ignore SIGINT)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    ctrl_c = backtest.CtrlC()
    try:
        signal.raise_signal(signal.SIGINT)
        assert ctrl_c.hit
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    finally:
        ctrl_c.restore()
        signal.signal(signal.SIGINT, before)


def test_a_file_name_holding_escape_sequences_is_shown_escaped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A file name is repeated in every message about the file: printed as given, one
    holding an escape sequence recoloured the terminal and set its title."""
    path = tmp_path / "x\x1b]0;PWNED\x07\x1b[31mRED.csv"
    path.write_text("ts,symbol,price\n1,A,1\n2,A,x\n")
    assert backtest.main([str(path)]) == 2
    assert backtest.main(["--skip-bad", str(path)]) == 0
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err
    assert err.count("x\\x1b]0;PWNED\\x07\\x1b[31mRED.csv:3: price 'x' is not a number") == 2
    # A newline in the name too: the message's own line breaks are kept, so it was not.
    broken = tmp_path / "evil\x1b[31m\nname.csv"
    broken.write_text("ts,symbol,price\n1,A,1\n2,A,x\n")
    assert backtest.main([str(broken)]) == 2
    err = capsys.readouterr().err
    assert "evil\\x1b[31m\\nname.csv:3: price 'x' is not a number" in err and "\x1b" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_new_symbols_of_a_block_are_registered_at_once_with_the_same_ids_and_refusals() -> None:
    """A block's new names go to the engine in one call (one call each ran a file of a
    new symbol a line at 25,000 ticks/s): the same ids, limits, refusals and signals as
    ticks given one at a time."""
    names = ["A", "B", "A", "C", "D", "B", "E", "C", "F"] * 4
    ticks = [Tick(s, 100.0 + (i % 9) * (1 if i % 2 else -1), 1.0 + i) for i, s in enumerate(names)]
    limits = {"B": (95.0, 105.0), "F": (90.0, 110.0)}
    cfg = EngineConfig(max_symbols=4)
    whole = backtest.backtest(ticks, cfg, limits=limits)
    one_by_one = backtest.backtest(iter(ticks), cfg, limits=limits, batch=1)
    assert whole.refused == one_by_one.refused == 8  # E and F, four ticks each
    assert whole.signals == one_by_one.signals
    assert list(whole.state.symbols) == list(one_by_one.state.symbols) == ["A", "B", "C", "D"]
