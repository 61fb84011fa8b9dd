"""The command line: clear errors instead of tracebacks, and the headless commands work
against a real broker (produce, record, engine)."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import os
import queue
import re
import select
import signal
import subprocess
import sys
import threading
import time
from itertools import islice
from pathlib import Path
from typing import Any

import pytest

from engine import EngineConfig
from producer.broker import EmbeddedBroker
from producer.generator import MarketGenerator
from producer.kafka_producer import STOP_FLUSH_S
from producer.lookahead import LookaheadReader
from producer.scenario import ScenarioReader
from producer.wire import Tick
from tests.tui.test_engine_publish import _committed
from tests.tui.test_poison import _send, _tick
from tui.cli import main
from tui.monitor import source_and_engine
from tui.runtime.keys import help_rows
from tui.runtime.parser import build_parser
from tui.runtime.shared_limits import SharedLimits

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, timeout: float = 60, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,  # type: ignore[arg-type]
    )


def _produce(
    broker: EmbeddedBroker, topic: str, log: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """`limitwatch produce ARGS` to `topic` at full speed; it must succeed."""
    produced = _cli(
        "produce", "--bootstrap-servers", broker.bootstrap, "--topic", topic, "--speed", "max",
        "--log-file", log, *args,
    )  # fmt: skip
    assert produced.returncode == 0, produced.stderr
    return produced


def test_help_lists_the_commands_and_keys() -> None:
    text = build_parser().format_help()
    for word in ("replay", "record", "backtest", "engine", "produce", "--bootstrap-servers"):
        assert word in text
    keys = text.split("keys in the monitor:", 1)[1]
    for shown, does in help_rows():  # every key of the monitor, as its help screen says
        assert f"{shown}" in keys and does in keys


def test_version_prints_the_installed_version_and_exits() -> None:
    import importlib.metadata

    result = _cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"limitwatch {importlib.metadata.version('limitwatch')}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "no/such/file.csv"], "no/such/file.csv"),
        (["--source", "weird-spec"], "weird-spec"),
        (["replay", "no/such/scenario.jsonl"], "no such file"),
        (["replay", "scenarios"], "scenarios: is a directory"),
        (["--fast", "0"], "at least 1"),
        (["--alert-p", "1.5"], "probability"),
        (["--watch-floor", "1"], "--watch-floor: expected a probability below 1, got '1'"),
        (["--watch-floor", "-0.1"], "--watch-floor: expected a number of at least 0"),
        (["--limit", "ACME=10:5"], "must be below the sell limit"),
        (["--limit", "ACME=10:1e300"], "limit must be below"),
        (["--limit", "ACME=1:-1"], "the buy limit 1.00 must be below the sell limit -1.00"),
        (["--speed", "-2"], "positive number or 'max'"),
        (["--speed", "1e-300"], "speed must be at least 0.001 (a second of ticks then takes 17"),
        (["engine"], "--bootstrap-servers"),
        (["produce"], "--bootstrap-servers"),
        (["--fast", "50", "backtest", "scenarios/rally.jsonl"], "slow (40) must be greater"),
        (["--band", "3"], "such as 3%"),
        (["--band=-3%"], "--band: expected a positive number, got '-3%'"),  # its % said
        (
            ["backtest", "scenarios/rally.jsonl", "--partitions", "100000"],
            "--partitions: expected at most 1,000, got 100,000",
        ),
        (["--max-gap", "1e400"], "'1e400' is too large a number"),
        (["--step", "1e400%"], "'1e400%' is too large a number"),
        (["--broker-port", "65536"], "a port lies between 1 and 65535, got 65536"),
        (["serve", "--port", "99999"], "a port lies between 1 and 65535, got 99999"),
        (["--partitions", "100000"], "--partitions: expected at most 1,000, got 100,000"),
        (["--step", "50%"], "--step: a step lies between 0.01% and 10% of the price"),
        (["--step", "0.5"], "got '0.5' (a number without % is a fraction: 0.5 is 50%; write 0.5%)"),
        (["produce", "--topic", ""], "--topic: a topic needs a name"),
        (["engine", "--group", ""], "--group: a consumer group needs a name"),
        (["--group", " "], "--group: a consumer group needs a name"),
        (["engine", "--signals-topic", "a b"], "'a b' is not a Kafka topic name"),
        (["engine", "--topic", "."], "'-', and not '.' or '..' alone"),
        (["produce", "--topic", "__consumer_offsets"], "a name Kafka keeps for its internal"),
        (["--broker-memory", "1"], "--broker-memory: expected at least 64, got 1"),
        (
            ["--horizon", "1e308", "backtest", "scenarios/rally.jsonl"],
            "--horizon (1e+308) must be at most 31,622,400 s",
        ),
        (
            ["record", "no/such/dir/out.jsonl", "--bootstrap-servers", "127.0.0.1:1"],
            "cannot record to no/such/dir/out.jsonl: No such file or directory",
        ),
    ],
)
def test_bad_arguments_give_a_clear_message_and_no_traceback(
    args: list[str], message: str, tmp_path: Path
) -> None:
    log = ["--log-file", str(tmp_path / "l.log")]
    result = _cli(*log, *args) if args[0].startswith("-") else _cli(*args, *log)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty input: no header and no ticks"),
        (b"ts,symbol,price\n", "no ticks after the header"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "a gzip-compressed file, not text"),
    ],
)
def test_replay_of_a_file_without_a_tick_is_refused_before_the_screen_opens(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "ticks.csv"
    path.write_bytes(content)
    result = _cli("replay", str(path), "--log-file", str(tmp_path / "l.log"), timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"limitwatch: {path}:1: {message}"), result.stderr


def test_an_impossible_limit_stops_the_monitor_before_its_screen_opens(tmp_path: Path) -> None:
    """As backtest does: the monitor started, said so in a toast and followed the symbol
    with the band's limits, neither the ones given nor its own."""
    env = {**os.environ, "HOME": str(tmp_path)}
    result = _cli("--limit", "ACME=0:150", "--log-file", str(tmp_path / "l.log"), env=env)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(
        "limitwatch: --limit ACME: the buy limit must be positive and finite, got 0"
    ), result.stderr


def test_an_impossible_limit_stops_the_headless_engine_before_it_connects(
    tmp_path: Path,
) -> None:
    """It said so, ran on with the symbol's band limits, and ended with code 1 at Ctrl-C.
    Nothing listens at the address given: the refusal comes before any connection."""
    result = _cli("engine", "--bootstrap-servers", "127.0.0.1:1", "--limit", "ACME=-5:10",
                  "--log-file", str(tmp_path / "l.log"), timeout=30)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "limitwatch: --limit ACME: the buy limit must be positive and finite, got -5.00 "
        "(only a quantity's limits may be 0 or below: see --additive)"
    ), result.stderr


def test_replay_of_a_named_pipe_says_what_to_do_instead(tmp_path: Path) -> None:
    fifo = tmp_path / "ticks.jsonl"
    os.mkfifo(fifo)
    result = _cli("replay", str(fifo), "--log-file", str(tmp_path / "l.log"), timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"limitwatch: {fifo}: not a regular file; replay reads a file more than once. "
        "Pipe it in instead ('cat FILE | limitwatch --source -'), "
        "or run 'limitwatch backtest' on it"
    )


def test_replay_of_standard_input_points_to_source(tmp_path: Path) -> None:
    """`limitwatch replay -` said "-: no such file"."""
    result = _cli("replay", "-", "--log-file", str(tmp_path / "l.log"), timeout=30)
    assert result.returncode == 2
    assert "for ticks on standard input use 'limitwatch --source -'" in result.stderr


@pytest.mark.parametrize("command", [["replay"], ["--source"]])
def test_a_scenario_header_with_conflicting_settings_is_named(
    command: list[str], tmp_path: Path
) -> None:
    lines = (ROOT / "scenarios" / "crash.jsonl").read_text().splitlines()
    header = json.loads(lines[0])
    header["engine"].update(fast=50, slow=40)
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    result = _cli(*command, str(path), "--log-file", str(tmp_path / "l.log"))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "limitwatch: bad engine settings: slow (40) must be greater than fast (50)"
        f" (the header of {path} sets fast 50, slow 40; --fast and --slow take precedence)"
    )


def _unanswered(tmp_path: Path, names: tuple[str, ...], **popen: Any) -> dict[str, Any]:
    """The commands `names` started side by side against a cluster that does not answer
    (each waits the same seconds for it)."""
    common = ["--bootstrap-servers", "127.0.0.1:1", "--log-file", str(tmp_path / "l.log")]
    commands = {
        "monitor": [*common, "--config", str(tmp_path / "c.toml")],
        "view": ["--view", *common, "--config", str(tmp_path / "c.toml")],
        "produce": ["produce", *common, "--count", "5"],
        "engine": ["engine", *common],
        "record": ["record", str(tmp_path / "r.jsonl"), *common],
    }
    return {
        name: subprocess.Popen(
            [sys.executable, "-m", "tui.cli", *commands[name]],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **popen,
        )
        for name in names
    }


def test_unreachable_cluster_is_reported(tmp_path: Path) -> None:
    """Every command that talks to Kafka says in one line that it cannot reach it."""
    running = _unanswered(tmp_path, ("monitor", "view", "produce", "engine", "record"))
    for name, proc in running.items():
        _out, err = proc.communicate(timeout=90)
        assert proc.returncode == 2, (name, err)
        assert "could not reach Kafka at 127.0.0.1:1" in err, (name, err)
        assert "Traceback" not in err, (name, err)
        # Said as the ten seconds' wait begins, with why, not only at its end.
        first = err.splitlines()[0]
        if name == "view":
            assert first == "limitwatch: connecting to 127.0.0.1:1…", (name, err)
        else:
            assert re.fullmatch(
                r"limitwatch: no answer yet from Kafka at 127\.0\.0\.1:1 \(nothing answers at "
                r"127\.0\.0\.1:1\); waiting \d s more…",
                first,
            ), (name, err)


def test_sigint_stops_a_command_waiting_for_kafka_in_a_background_job(tmp_path: Path) -> None:
    """A script's background job starts with SIGINT ignored, and `kill -INT` is how one
    is stopped: engine, produce and record waiting for a cluster that does not answer
    went on to the end of their wait and said they could not reach it."""
    running = _unanswered(
        tmp_path,
        ("produce", "engine", "record"),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    for name, proc in running.items():
        assert proc.stderr is not None
        assert "no answer yet" in proc.stderr.readline(), name  # it is waiting
        proc.send_signal(signal.SIGINT)
    for name, proc in running.items():
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, (name, err)
        assert err.strip() == "limitwatch: stopped by Ctrl-C", (name, err)


@pytest.mark.kafka
def test_produce_then_record_gives_the_same_ticks(
    broker: EmbeddedBroker, topic: str, tmp_path: Path
) -> None:
    out = tmp_path / "rec.jsonl"
    log = str(tmp_path / "l.log")
    recorder = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "record", str(out),
         "--bootstrap-servers", broker.bootstrap, "--topic", topic, "--count", "300",
         "--from-beginning", "--log-file", log],
        cwd=ROOT, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    produced = _produce(broker, topic, log, "--count", "300", "--seed", "5")
    assert "300 produced, 300 delivered, 0 failed" in produced.stderr
    _, err = recorder.communicate(timeout=60)
    assert recorder.returncode == 0, err
    assert "recorded 300 ticks" in err
    reader = ScenarioReader(out)
    ticks = list(reader)
    assert len(ticks) == 300
    assert reader.header.made_by.startswith("limitwatch record")
    assert reader.header.description == f"recorded from the live {topic} topic"
    # the recording holds each symbol's path as the generator made it
    gen = list(islice(MarketGenerator(seed=5), 300))
    assert _paths(ticks) == _paths(gen)


@pytest.mark.kafka
def test_record_count_stops_at_exactly_that_many_ticks(
    broker: EmbeddedBroker, topic: str, tmp_path: Path
) -> None:
    log = str(tmp_path / "l.log")
    _produce(broker, topic, log, "--count", "500")
    out = tmp_path / "first50.jsonl"
    recorded = _cli(
        "record", str(out), "--bootstrap-servers", broker.bootstrap, "--topic", topic,
        "--count", "50", "--from-beginning", "--log-file", log,
    )  # fmt: skip
    assert recorded.returncode == 0, recorded.stderr
    assert "recorded 50 ticks" in recorded.stderr
    assert len(list(ScenarioReader(out))) == 50


@pytest.mark.kafka
def test_a_recording_holds_the_limits_users_shared(
    broker: EmbeddedBroker, topic: str, tmp_path: Path
) -> None:
    log = str(tmp_path / "l.log")
    limits = f"{topic}-limits"
    _produce(broker, topic, log, "--count", "200", "--seed", "5")
    symbols = sorted({t.symbol for t in islice(MarketGenerator(seed=5), 200)})
    shared = SharedLimits(broker.bootstrap, lambda *_: None, topic=limits)
    shared.start(catch_up_s=10)
    for symbol in symbols:
        shared.share(symbol, 1.0, 1e6)
    shared.share("ELSEWHERE", 5.0, math.nan)  # a symbol this stream does not carry
    shared.stop(timeout=10)
    assert shared.stats().delivered == len(symbols) + 1, shared.stats()
    out = tmp_path / "held.jsonl"
    recorded = _cli(
        "record", str(out), "--bootstrap-servers", broker.bootstrap, "--topic", topic,
        "--count", "50", "--from-beginning", "--limits-topic", limits, "--log-file", log,
    )  # fmt: skip
    assert recorded.returncode == 0, recorded.stderr
    assert f"{len(symbols) + 1} limit changes read from {limits}" in recorded.stderr
    header = ScenarioReader(out).header
    assert header.symbols and set(header.symbols) <= set(symbols)
    assert header.limits == {s: (1.0, 1e6) for s in header.symbols}  # of its symbols alone
    unshared = tmp_path / "alone.jsonl"
    alone = _cli(
        "record", str(unshared), "--bootstrap-servers", broker.bootstrap, "--topic", topic,
        "--count", "50", "--from-beginning", "--no-shared-limits", "--log-file", log,
    )  # fmt: skip
    assert alone.returncode == 0, alone.stderr
    assert ScenarioReader(unshared).header.limits == {}


@pytest.mark.kafka
def test_produce_reports_what_it_sent_before_a_bad_line_and_what_it_skipped(
    broker: EmbeddedBroker, topic: str, tmp_path: Path
) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("ts,symbol,price\n1,A,10\n2,A,11\n3,A,oops\n4,A,12\n")
    common = ["--bootstrap-servers", broker.bootstrap, "--topic", topic, "--speed", "max",
              "--log-file", str(tmp_path / "l.log")]  # fmt: skip
    stopped = _cli("produce", "--source", str(csv), *common)
    assert stopped.returncode == 2  # bad input, as the other commands (1 said a tick failed)
    assert "2 produced, 2 delivered, 0 failed" in stopped.stderr
    assert "bad.csv:4" in stopped.stderr
    skipping = _cli("produce", "--source", str(csv), "--skip-bad", *common)
    assert skipping.returncode == 0, skipping.stderr
    assert "3 produced, 3 delivered" in skipping.stderr
    assert "1 bad line skipped (first: " in skipping.stderr


@pytest.mark.kafka
def test_produce_says_a_file_whose_last_line_has_no_newline_may_have_its_price_cut(
    broker: EmbeddedBroker, topic: str, tmp_path: Path
) -> None:
    """`...,PENNY,2.95` cut to `...,PENNY,2` while written is still a price: produce sent
    it without a word, where the backtest of the same file says to check it."""
    csv = tmp_path / "cut.csv"
    csv.write_text("ts,symbol,price\n1,PENNY,2.95\n2,PENNY,2.95\n3,PENNY,2")
    common = ["--bootstrap-servers", broker.bootstrap, "--topic", topic, "--speed", "max",
              "--log-file", str(tmp_path / "l.log")]  # fmt: skip
    cut = _cli("produce", "--source", str(csv), *common)
    assert cut.returncode == 0, cut.stderr
    assert "3 produced, 3 delivered" in cut.stderr
    assert f"limitwatch produce: {csv}: its last line has no newline: its price may be cut " in (
        cut.stderr
    )
    csv.write_text(csv.read_text() + "\n")
    whole = _cli("produce", "--source", str(csv), *common)
    assert whole.returncode == 0 and "no newline" not in whole.stderr, whole.stderr


def test_a_mistake_on_the_command_line_is_said_in_two_lines_not_after_the_usage() -> None:
    result = _cli("produce", "--broker-port", "39424", "--log-file", os.devnull)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines == [  # said by the command it follows, with that command's help
        "limitwatch produce: error: unrecognized arguments: --broker-port 39424",
        "(`limitwatch produce --help` lists the options)",
    ], lines
    top = _cli("--bogus-option", "--log-file", os.devnull).stderr.splitlines()
    assert top == [
        "limitwatch: error: unrecognized arguments: --bogus-option",
        "(`limitwatch --help` lists the options, `limitwatch COMMAND --help` a command's)",
    ], top
    missing = _cli("backtest").stderr.splitlines()
    assert missing[-1] == "(`limitwatch backtest --help` lists the options)" and len(missing) == 2


def test_options_the_command_lacks_still_work_before_it(tmp_path: Path) -> None:
    log = tmp_path / "l.log"
    result = _cli("--log-file", str(log), "backtest", "scenarios/rally.jsonl")
    assert result.returncode == 0, result.stderr
    assert log.exists()


def test_options_the_command_takes_work_before_it_as_after_it() -> None:
    from tui.runtime.parser import build_parser, options_after_command

    parser = build_parser()
    argv = ["--fast", "5", "--seed=3", "-X", "a=b", "replay", "s.jsonl", "--loop"]
    moved = options_after_command(parser, argv)
    assert moved == ["--seed=3", "replay", "--fast", "5", "-X", "a=b", "s.jsonl", "--loop"]
    before = parser.parse_args(moved)
    after = parser.parse_args(["replay", "--fast", "5", "s.jsonl"])
    assert before.fast == after.fast == 5 and before.file == after.file
    assert options_after_command(parser, ["--fast", "5"]) == ["--fast", "5"]  # the monitor's
    # As argparse reads them: a value attached to -X, an abbreviation, a value that is a
    # command's name.
    secret = parser.parse_args(
        options_after_command(parser, ["-Xsasl.password=s", "engine", "--bootstrap-servers", "h"])
    )
    assert secret.kafka_properties == ["sasl.password=s"]
    assert (
        parser.parse_args(options_after_command(parser, ["--fa", "5", "backtest", "F"])).fast == 5
    )
    sourced = ["--source", "replay", "replay", "F"]
    assert options_after_command(parser, sourced) == sourced
    result = _cli("--log-file", os.devnull, "--json", "backtest", "scenarios/rally.jsonl")
    after_it = _cli("--log-file", os.devnull, "backtest", "scenarios/rally.jsonl", "--json")
    assert result.returncode == 0, result.stderr
    assert result.stdout == after_it.stdout and result.stdout.startswith("{")


def test_a_monitor_option_before_a_command_that_runs_none_is_said_to_be_ignored() -> None:
    from tui.runtime.parser import build_parser, options_after_command

    parser = build_parser()
    said: list[str] = []
    argv = ["--log-file", "x.log", "--speed", "3", "--skip-bad", "evaluate", "F"]
    moved = options_after_command(parser, argv, warn=said.append)
    assert moved == ["--log-file", "x.log", "--speed", "3", "evaluate", "--skip-bad", "F"]
    assert said == ["--speed is an option of the monitor, not of evaluate: ignored"]
    said.clear()
    options_after_command(parser, ["--speed", "3", "replay", "F"], warn=said.append)
    options_after_command(parser, ["--step", "1%", "serve"], warn=said.append)
    options_after_command(parser, ["--version", "evaluate"], warn=said.append)
    assert said == []  # both run the monitor, which reads them; --version acts first
    result = _cli("--log-file", os.devnull, "--seed", "4", "backtest", "scenarios/rally.jsonl")
    assert result.returncode == 0
    assert "limitwatch: --seed is an option of the monitor, not of backtest: ignored" in (
        result.stderr
    )
    # A value the monitor would refuse is an error, not also "ignored".
    result = _cli("--broker-port", "99999", "backtest", "scenarios/rally.jsonl")
    assert result.returncode == 2
    assert "a port lies between 1 and 65535" in result.stderr
    assert "ignored" not in result.stderr


def test_help_of_each_command_says_what_it_needs() -> None:
    names = ("replay", "record", "engine", "produce")
    help_of = {name: _cli(name, "--help").stdout for name in names}
    for name in ("record", "engine", "produce"):
        assert "embedded broker" not in help_of[name], name
        assert "(required)" in help_of[name] and "example:" in help_of[name], name
    assert "--seed" not in help_of["replay"]  # the generator's, not a file's
    for name, text in help_of.items():  # "(default: 20 x the half-life) (none)" read twice
        assert "(none)" not in text, name
    assert "example:" in help_of["replay"]


def _paths(ticks: list[Tick]) -> dict[str, list[float]]:
    """Each symbol's prices in order."""
    out: dict[str, list[float]] = {}
    for t in ticks:
        out.setdefault(t.symbol, []).append(t.price)
    return out


@pytest.mark.kafka
def test_record_says_what_it_refused_when_it_stops(
    broker: EmbeddedBroker, topic: str, tmp_path: Path
) -> None:
    now = time.time()
    bad = [b"not json", b'{"symbol":"ACME","price":"NaN","ts":1}', b'{"symbol":"ACME"}']
    good = [_tick("ACME", 100.0 + k, now - 10 + k) for k in range(5)]
    _send(broker, topic, [(b"ACME", v) for v in [*bad, *good]])
    out = tmp_path / "rec.jsonl"
    recorded = _cli(
        "record", str(out), "--bootstrap-servers", broker.bootstrap, "--topic", topic,
        "--count", "5", "--from-beginning", "--log-file", str(tmp_path / "l.log"),
    )  # fmt: skip
    assert recorded.returncode == 0, recorded.stderr
    assert "recorded 5 ticks" in recorded.stderr
    assert "3 messages refused and not recorded (not JSON 1, wrong shape 1, bad price 1)" in (
        recorded.stderr
    )


def test_record_refuses_standard_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["record", "-", "--bootstrap-servers", "127.0.0.1:1",
                 "--log-file", str(tmp_path / "l.log")]) == 2  # fmt: skip
    assert "not standard output: give a file name" in capsys.readouterr().err
    assert not (tmp_path / "-").exists()


def test_topics_that_are_one_are_refused_before_anything_connects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An engine told to publish into its own ticks topic read its signals back as bad
    ticks, dead-lettered each, and every other reader of the topic counted them."""
    log = ["--log-file", str(tmp_path / "l.log")]
    cases = (
        (["engine", "--topic", "k1", "--signals-topic", "k1"], "--topic and --signals-topic"),
        (["engine", "--indicators-topic", "prices"], "--topic and --indicators-topic"),
        (["engine", "--signals-topic", "x", "--indicators-topic", "x"],
         "--signals-topic and --indicators-topic"),
        (["record", str(tmp_path / "r.jsonl"), "--limits-topic", "prices"],
         "--topic and --limits-topic"),
        (["engine", "--limits-topic", "prices.dlq"], "the dead-letter topic of --topic"),
    )  # fmt: skip
    for argv, said in cases:
        assert main([*argv, "--bootstrap-servers", "127.0.0.1:1", *log]) == 2, argv
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err, err
    assert not (tmp_path / "r.jsonl").exists()


def test_record_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "exists.jsonl"
    out.write_text("keep me\n")
    assert main(["record", str(out), "--bootstrap-servers", "127.0.0.1:1",
                 "--log-file", str(tmp_path / "l.log")]) == 2  # fmt: skip
    assert out.read_text() == "keep me\n"


@pytest.mark.kafka
def test_headless_engine_prints_signals_as_json_lines(
    broker: EmbeddedBroker, topic: str, tmp_path: Path
) -> None:
    log = str(tmp_path / "l.log")
    _send(broker, topic, [(b"CYGN", b"not json")])
    _produce(broker, topic, log, "--source", str(ROOT / "scenarios" / "crash.jsonl"))
    engine = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "engine", "--bootstrap-servers", broker.bootstrap,
         "--topic", topic, "--group", f"{topic}-g", "--limit", "CYGN=48.5:60",
         "--log-file", log],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[dict] = []
    got: queue.SimpleQueue[str] = queue.SimpleQueue()
    assert engine.stdout is not None
    reader = threading.Thread(target=lambda: [got.put(x) for x in engine.stdout], daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(x["kind"] == "BUY" for x in lines):
            try:
                lines.append(json.loads(got.get(timeout=0.2)))
            except queue.Empty:
                continue
    finally:
        engine.send_signal(signal.SIGINT)
        _, err = engine.communicate(timeout=10)
    assert engine.returncode == 0, err
    buys = [x for x in lines if x["kind"] == "BUY" and x["symbol"] == "CYGN"]
    assert buys, f"no BUY among {len(lines)} signals; engine said: {err}"
    assert buys[0]["limit"] == 48.5
    # what it refused, said as it stops (as record says what it did not record)
    assert "limitwatch engine: 1 message refused (not JSON 1)" in err, err


@pytest.mark.kafka
def test_an_engine_the_group_dropped_while_stopped_says_so_and_joins_again(
    broker: EmbeddedBroker, topic: str, tmp_path: Path
) -> None:
    """An engine stopped (SIGSTOP) past its session timeout is dropped by the group (the
    other member, still beating, takes its partitions): it said `event=revoked`, as at
    an ordinary hand-over, and tried to commit offsets it no longer held; it says
    `event=lost`, commits nothing for them, and joins again."""
    log = str(tmp_path / "l.log")

    def start(command: str, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "tui.cli", command, "--bootstrap-servers", broker.bootstrap,
             "--topic", topic, "--log-file", log, *args],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    group = ("--group", f"{topic}-g", "-X", "session.timeout.ms=6000",
             "-X", "heartbeat.interval.ms=500")  # fmt: skip
    producer = start("produce", "--rate", "100", "--symbols", "8")
    engine = start("engine", *group)
    said: queue.SimpleQueue[str] = queue.SimpleQueue()
    assert engine.stderr is not None
    reader = threading.Thread(target=lambda: [said.put(x) for x in engine.stderr], daemon=True)  # type: ignore[union-attr]
    reader.start()
    lines: list[str] = []

    def wait_for(text: str, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                lines.append(said.get(timeout=0.2))
            except queue.Empty:
                continue
            if text in lines[-1]:
                return True
        return False

    other, stopped = None, 0
    try:
        assert wait_for("event=assigned", 60), lines
        other = start("engine", *group)  # the member that stays
        assert wait_for("event=assigned", 60), lines  # the partitions shared
        stopped = len(lines)
        engine.send_signal(signal.SIGSTOP)
        time.sleep(15)  # well past the session timeout: the group drops it
        engine.send_signal(signal.SIGCONT)
        assert wait_for("event=lost partitions=", 60), lines
        assert wait_for("event=assigned", 60), lines
    finally:
        engine.send_signal(signal.SIGCONT)
        for proc in (engine, other, producer):
            if proc is not None:
                proc.send_signal(signal.SIGINT)
        _, err = engine.communicate(timeout=30)
        for proc in (other, producer):
            if proc is not None:
                proc.communicate(timeout=30)
    assert engine.returncode == 0, [*lines, err]
    dropped = next(i for i, line in enumerate(lines) if "event=lost" in line)
    assert not any("event=revoked" in line for line in lines[stopped:dropped]), lines
    assert "dropped this reader" in Path(log).read_text()


@pytest.mark.kafka
def test_a_headless_engine_whose_terminal_closes_stops_as_on_ctrl_c(
    broker: EmbeddedBroker, topic: str, tmp_path: Path
) -> None:
    """SIGHUP with its terminal gone (writes to it fail with EIO): the engine stops as on
    Ctrl-C, its offsets committed, instead of ending on the spot (SIGHUP's default) or
    with a traceback at the first line it writes (once the signal was caught), or at a
    line written between the hang-up and the signal (exit status 1 on a busy machine)."""
    import pty

    log = tmp_path / "l.log"
    _produce(broker, topic, str(log), "--source", str(ROOT / "scenarios" / "crash.jsonl"))
    master, tty = pty.openpty()
    engine = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "engine", "--bootstrap-servers", broker.bootstrap,
         "--topic", topic, "--group", f"{topic}-hup", "--log-file", str(log)],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=tty, stderr=tty, start_new_session=True,
        # Not ignored, even where these tests run under nohup (the engine keeps it so).
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL),
    )  # fmt: skip
    os.close(tty)
    seen = b""
    try:  # until its status line says it has read the scenario's 260 ticks
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and b" 260 ticks" not in seen:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                with contextlib.suppress(OSError):
                    seen += os.read(master, 65536)
    finally:
        os.close(master)  # the terminal is gone
        # Its status line (every 5 s) is written to the gone terminal before the hang-up
        # signal comes, as when a window closes on a busy machine.
        time.sleep(6.0)
        engine.send_signal(signal.SIGHUP)
        engine.wait(timeout=15)
    assert b" 260 ticks" in seen and b'"kind":"BUY"' in seen, seen[-2000:]
    assert engine.returncode == 0
    assert "Traceback" not in log.read_text()
    assert _committed(broker.bootstrap, topic, f"{topic}-hup") == 260


@pytest.mark.parametrize("ignored", [True, False])
def test_a_headless_command_started_with_sighup_ignored_keeps_ignoring_it(ignored: bool) -> None:
    """`nohup limitwatch engine &`: the engine's own SIGHUP handler took the place of the
    ignoring nohup had set, and the engine stopped when its terminal closed."""
    code = (
        "import os, signal, time\n"
        "from tui.runtime.headless import _Stopper\n"
        "stopper = _Stopper()\n"
        "os.kill(os.getpid(), signal.SIGHUP)\n"
        "time.sleep(0.2)\n"
        "print('stopped' if stopper.event.is_set() else 'running')\n"
    )

    def nohup() -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN if ignored else signal.SIG_DFL)

    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
        preexec_fn=nohup,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ("running" if ignored else "stopped")


@pytest.mark.parametrize(("argv", "fast"), [([], 10), (["--fast", "12"], 12)])
def test_a_scenario_piped_to_the_monitor_sets_up_its_engine(argv: list[str], fast: int) -> None:
    # The header's settings apply as when the file is replayed; options still win.
    r, w = os.pipe()
    os.write(w, (ROOT / "scenarios" / "crash.jsonl").read_bytes()[:4096])
    stop = threading.Event()
    args = build_parser().parse_args(["--source", "-", *argv])
    source, config = source_and_engine(args, "-", stop, LookaheadReader(r, stop))
    assert (config.fast, config.slow, config.horizon_s) == (fast, 40, 8.0)
    assert source is not None and source.limits["CYGN"] == (48.5, 52.0)
    os.close(w)
    os.close(r)


@pytest.mark.parametrize("command", [[], ["replay", "x.jsonl"], ["engine"], ["record", "o.jsonl"]])
def test_the_plausibility_bounds_are_options_that_can_be_turned_off(command: list[str]) -> None:
    from tui.runtime.plausibility import MAX_AHEAD_S

    parser = build_parser()
    default = parser.parse_args(command)
    assert (default.max_ahead, default.max_jump) == (MAX_AHEAD_S, None)  # None: the source's
    args = parser.parse_args([*command, "--max-ahead", "60", "--max-jump", "off"])
    assert (args.max_ahead, args.max_jump) == (60.0, math.inf)
    with pytest.raises(SystemExit):
        parser.parse_args([*command, "--max-jump", "1"])


def test_the_headless_status_line_counts_refused_messages_by_reason() -> None:
    from tests.tui.feeds import StaticFeed
    from tui.runtime.headless import status_line

    snap = StaticFeed(n_ticks=50).latest()
    assert "bad 2 (not JSON 1, future time 1), dead-lettered 2" in status_line(snap)
    engine = dataclasses.replace(snap.engine, refused=3)
    clean = dataclasses.replace(snap, kafka=dataclasses.replace(snap.kafka, bad_by=()))
    line = status_line(dataclasses.replace(clean, engine=engine))
    assert "bad" not in line and line.endswith("3 symbols refused (max_symbols)")


def test_the_headless_status_line_says_lag_is_not_known_while_the_broker_is_silent() -> None:
    """As the monitor's pane does: `record` said "lag 0, STALL" through a broker's freeze,
    the lag of the ends it last reported. A reset is said once, not on every line."""
    from tests.tui.feeds import StaticFeed
    from tui.runtime.headless import status_line

    snap = StaticFeed(n_ticks=50).latest()
    k = snap.kafka
    assert ", lag 6, OK" in status_line(snap)
    for health, silent in (("STALL", 15.0), ("DOWN", 0.0)):
        frozen = dataclasses.replace(k, health=health, broker_silent_s=silent)
        line = status_line(dataclasses.replace(snap, kafka=frozen))
        assert f", lag ?, {health}" in line, line
    reset = dataclasses.replace(snap, kafka=dataclasses.replace(k, recovery="04:21:24 prices"))
    assert status_line(reset).endswith("; last reset 04:21:24 prices")
    assert "last reset" not in status_line(reset, told_recovery="04:21:24 prices")
    # No partitions assigned (yet): "partitions none, lag 0, OK" while ticks waited.
    waiting = dataclasses.replace(snap, kafka=dataclasses.replace(k, partitions=()))
    assert ", partitions none yet, lag ?, WAIT" in status_line(waiting)
    # Nor a stall, just after `event=assigned` while the engine rebuilds (it said STALL);
    # a broker gone silent meanwhile is still said.
    for silent, said in ((0.0, "WAIT"), (15.0, "STALL")):
        rebuilding = dataclasses.replace(k, partitions=(), health="STALL", broker_silent_s=silent)
        line = status_line(dataclasses.replace(snap, kafka=rebuilding))
        assert f", partitions none yet, lag ?, {said}" in line, line
    # The worker says what it rebuilds, and how far: no snapshot comes meanwhile, and the
    # last one's "partitions none yet, WAIT" (or STALL) was said for 13 s of a rebuild.
    line = status_line(waiting, rebuilding=((2, 3), 250_895, 720_531))
    said = ", partitions 2,3, lag ?, REBUILDING (250,895 of 720,531 ticks read again)"
    assert line.endswith(said), line
    # A member the group gave none (more engines than partitions) said "none yet, WAIT"
    # for good, and "STALL" after a peer's kill.
    for health in ("OK", "STALL"):
        idle = dataclasses.replace(k, partitions=(), idle=True, health=health)
        line = status_line(dataclasses.replace(snap, kafka=idle))
        assert ", partitions none (the group's other members hold them all), lag ?, IDLE" in line
    # Nor is it the group's doing where the topic is missing (the broker came back
    # without it): the line said the other members held every partition.
    gone = dataclasses.replace(k, partitions=(), idle=True, topic_missing=True, health="WARN")
    line = status_line(dataclasses.replace(snap, kafka=gone))
    assert f", partitions none (topic {k.topic} missing), lag ?, WARN" in line, line


@pytest.mark.kafka
def test_produce_says_what_it_has_sent_while_it_runs_and_how_long_its_stop_flush_took(
    broker: EmbeddedBroker, topic: str, tmp_path: Path
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "produce", "--bootstrap-servers", broker.bootstrap,
         "--topic", topic, "--rate", "200", "--log-file", str(tmp_path / "l.log")],
        cwd=ROOT, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    err = proc.stderr
    assert err is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in err], daemon=True).start()
    try:
        first = lines.get(timeout=60)  # the generator never ends: only progress can come
        assert re.fullmatch(
            r"limitwatch produce: [\d,]+ produced, [\d,]+ delivered, 0 failed, "
            r"[\d,]+ ticks/s delivered\n",
            first,
        )
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    last = []
    with contextlib.suppress(queue.Empty):
        while True:
            last.append(lines.get(timeout=10))
    assert any(
        re.search(rf"; stop flush \d+\.\d\d s \(at most {STOP_FLUSH_S:g} s\)$", line)
        for line in last
    ), last


@pytest.mark.parametrize(
    "command",
    [
        ["backtest", "-"],
        ["evaluate", "-"],
        # before connecting: it said "<stdin>: cannot read: Bad file descriptor"
        ["produce", "--source", "-", "--bootstrap-servers", "127.0.0.1:1"],
    ],
)
def test_standard_input_closed_is_said_not_a_traceback(command: list[str]) -> None:
    done = _cli(*command, stdin=subprocess.DEVNULL, preexec_fn=lambda: os.close(0))
    assert done.returncode == 2, done.stderr
    assert "standard input is closed: give a file, or pipe ticks in" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize("command", ["backtest", "evaluate"])
def test_a_file_that_cannot_be_read_is_said_not_a_traceback(command: str) -> None:
    done = _cli(command, "/proc/self/mem")
    assert done.returncode == 2, done.stderr
    assert "/proc/self/mem: cannot read: Input/output error" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""  # not even the table's head before the error


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["evaluate", "--kinds", "drift", "--seed", "-1"], "a seed lies between 0"),
        (["produce", "--seed", "-1"], "a seed lies between 0"),
        (["produce", "--symbols", "100000000"], "expected at most 100,000"),
        (["produce", "--rate", "1e9"], "expected at most 1,000,000 ticks a second, got 1e9"),
        (["--rate", "2000000"], "slows its market down instead"),
        (["backtest", "--limit", "ACME=nan:nan", "x.csv"], "buy: 'nan' is not a number"),
        (["backtest", "--limit", "ACME=100:inf", "x.csv"], "sell: 'inf' is not a number"),
        (["backtest", "--limit", "A" * 100 + "=1:2", "x.csv"], "longer than the limit of 64"),
        (["backtest", "--limit", "A\x1b[31mB=1:2", "x.csv"], "has a control character"),
    ],
)
def test_out_of_range_arguments_are_usage_errors(argv: list[str], said: str) -> None:
    from tui.runtime.parser import build_parser

    with pytest.raises(SystemExit) as info, contextlib.redirect_stderr(io.StringIO()) as err:
        build_parser().parse_args(argv)
    assert info.value.code == 2
    assert said in err.getvalue()


def test_evaluate_refuses_a_market_too_big_for_memory_and_takes_a_band_given_twice() -> None:
    from tui.runtime import evaluate
    from tui.runtime.parser import build_parser

    err = io.StringIO()
    args = build_parser().parse_args(["evaluate", "--kinds", "drift", "--minutes", "1e9"])
    assert evaluate.run(args, io.StringIO(), err) == 2
    assert "symbol-minutes per market" in err.getvalue()
    args = build_parser().parse_args(["evaluate", "--bands", "1,1,2"])
    assert args.bands == [1.0, 2.0]
    assert build_parser().parse_args(["evaluate", "--bands", "0.5%,3"]).bands == [0.5, 3.0]


def test_a_bare_band_below_1_is_refused_as_band_reads_it_a_hundred_times_larger() -> None:
    """``--band 0.03`` of the monitor and backtest is 3 %; ``--bands 0.03`` of evaluate
    read it as 0.03 %: now refused with both ways to write what was meant."""
    err = io.StringIO()
    with pytest.raises(SystemExit), contextlib.redirect_stderr(err):
        build_parser().parse_args(["evaluate", "--bands", "0.03"])
    assert "write 0.03% for 0.03 percent, or 3% for 3 percent" in err.getvalue()


@pytest.mark.parametrize("command", [[], ["backtest", "x.csv"], ["engine"]])
def test_a_band_so_narrow_that_buy_and_sell_are_one_number_is_refused(command: list[str]) -> None:
    # --band 1e-17 made every symbol's buy limit its sell limit: a BUY and a SELL at once.
    err = io.StringIO()
    for band in ("1e-17", "0.00001%"):
        with pytest.raises(SystemExit), contextlib.redirect_stderr(err):
            build_parser().parse_args([*command, "--band", band])
    assert err.getvalue().count("a band is at least 0.0001% of the price") == 2
    assert build_parser().parse_args([*command, "--band", "0.0001%"]).default_band == 1e-6
    with pytest.raises(ValueError, match="at least 1e-06"):
        EngineConfig(default_band=1e-17)


def test_history_0_means_no_chart_as_its_help_says() -> None:
    for argv in (["--history", "0"], ["replay", "x.jsonl", "--history", "0"]):
        assert build_parser().parse_args(argv).history == 0
    with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
        build_parser().parse_args(["--history", "-1"])


def test_ctrl_c_before_a_command_takes_over_ends_it_with_a_word_and_130(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while a headless command loads or waits for the cluster's first answer
    (before its own handler is installed) ended it with exit 130 and not a word: a user
    who pressed it because nothing seemed to happen was not told it had stopped."""
    import tui.runtime.parser as parser

    def waiting(_args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(parser, "run_engine", waiting)
    assert main(["--bootstrap-servers", "127.0.0.1:1", "engine"]) == 130
    assert capsys.readouterr().err == "limitwatch: stopped by Ctrl-C\n"


def test_ticks_failed_at_the_stop_are_said_to_be_unconfirmed() -> None:
    """Stopped while its broker was frozen, produce said 224 failed and the topic held one
    of them (written, its answer lost): failed means not confirmed."""
    from producer.control import ProducerStats
    from tui.runtime.headless import _sent

    stats = ProducerStats(source="generator", produced=547, delivered=323, failed=224)
    assert _sent(stats) == "547 produced, 323 delivered, 224 failed"
    assert _sent(stats, final=True) == (
        "547 produced, 323 delivered, 224 failed (not confirmed: one the broker wrote but "
        "whose answer was lost counts too)"
    )
    ok = ProducerStats(source="generator", produced=5, delivered=5)
    assert _sent(ok, final=True) == "5 produced, 5 delivered, 0 failed"


def test_a_producer_waiting_for_a_missing_topic_says_what_to_look_at() -> None:
    """A topic an engine made, gone with its broker while the engine is gone too: the
    producer waited for it for ever, saying only that it was missing. Its keeper now
    makes it again (tests/tui/test_group.py); where the cluster refuses, the log says."""
    from producer.control import ProducerStats
    from tui.runtime.headless import _sent

    stats = ProducerStats(source="generator", produced=9, delivered=5, waiting="topic bm missing")
    assert _sent(stats).endswith(
        "; waiting: topic bm missing (made again here within seconds; if it stays missing, "
        "the cluster may not let this producer create topics: see the log)"
    )
    down = ProducerStats(source="generator", produced=9, delivered=5, waiting="broker down")
    assert _sent(down).endswith("; waiting: broker down")


def test_a_view_judges_a_limits_record_as_the_engines_do() -> None:
    """A view applies no record (it shows the engines' limits) but counts and logs each:
    ``buy -5`` of a price, which every engine refused, was logged as applied."""
    from tests.tui.feeds import StaticFeed
    from tui.monitor import _judged

    feed = StaticFeed()
    price = feed.latest().engine.symbols[0]
    assert not feed.latest().engine.additive[0]
    assert _judged([feed], price, -5.0, 100.0, "") is not None
    assert _judged([feed], price, 95.0, 105.0, "") is None
    # A symbol not shown yet may be a quantity: only the order of the two is judged.
    assert _judged([feed], "NEW", -5.0, 100.0, "") is None
    assert _judged([feed], "NEW", 100.0, 5.0, "") is not None


@pytest.mark.kafka
def test_the_monitor_whose_source_stopped_on_a_bad_line_exits_2(tmp_path: Path) -> None:
    """As `produce` does: the monitor said so in a toast, then exited 0 on `q`."""
    import pty

    bad = tmp_path / "bad.csv"
    bad.write_text("ts,symbol,price\n1750000000,A,10\n1750000001,A,ten\n")
    master, tty = pty.openpty()
    monitor = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "--source", str(bad), "--log-file", os.devnull,
         "--no-signal-history"],
        cwd=ROOT, stdin=tty, stdout=tty, stderr=tty, start_new_session=True,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"},
    )  # fmt: skip
    os.close(tty)
    seen = b""

    def read_for(seconds: float) -> None:
        nonlocal seen
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                with contextlib.suppress(OSError):
                    seen += os.read(master, 65536)

    try:
        read_for(12.0)  # the broker started, the file read to its bad line
        os.write(master, b"q")
        monitor.wait(timeout=30)
        read_for(0.5)
    finally:
        if monitor.poll() is None:
            monitor.kill()
        os.close(master)
    assert monitor.returncode == 2, seen[-2000:]
    assert b"the source stopped on bad input" in seen and b"bad.csv:3" in seen, seen[-2000:]
