"""A recording carries every portable engine setting and the limits, and says what it did."""

from __future__ import annotations

import json
from pathlib import Path

from engine import Engine, EngineConfig
from engine.config import PORTABLE
from producer.wire import Tick
from tui.runtime.recorder import Recorder


def _one_tick_recorded(tmp_path: Path, config: EngineConfig) -> Path:
    """A recording of one tick made with ``config``."""
    rec = Recorder(lambda text, error: None)
    path = tmp_path / "out.jsonl"
    rec.start(str(path), "test", Engine(config).state(), config, made_by="a test")
    rec.write(Tick("ACME", 100.0, 1.0))
    rec.stop()
    return path


def test_recording_writes_every_portable_setting_and_the_limits(tmp_path: Path) -> None:
    config = EngineConfig(default_band=0.03, warmup_ticks=7, fast=5, slow=9, history=9)
    engine = Engine(config)
    engine.set_limits("ACME", buy=90.0, sell=110.0)
    notes: list[tuple[str, bool]] = []
    rec = Recorder(lambda text, error: notes.append((text, error)))
    path = tmp_path / "out.jsonl"
    rec.start(str(path), "test", engine.state(), config, made_by="a test", max_ticks=2)
    assert rec.active and rec.path == str(path)
    for i in range(3):
        rec.write(Tick("ACME", 100.0 + i, 1.0 + i))
    assert not rec.active, "closed once its tick budget was reached"
    header, *ticks = [json.loads(line) for line in path.read_text().splitlines()]
    assert set(header["engine"]) == {k for k in PORTABLE if getattr(config, k) is not None}
    assert header["engine"]["default_band"] == 0.03
    assert header["engine"]["warmup_ticks"] == 7
    assert header["limits"]["ACME"] == [90.0, 110.0]
    assert header["symbols"] == ["ACME"]
    assert len(ticks) == 2
    assert notes == [(f"recording to {path}", False), (f"recorded 2 ticks to {path}", False)]


def test_a_window_longer_than_a_header_may_ask_for_is_left_out_so_it_reads_back(
    tmp_path: Path,
) -> None:
    from producer.scenario import ScenarioReader

    config = EngineConfig(fast=1000, slow=5000, history=6000)
    path = _one_tick_recorded(tmp_path, config)
    header = ScenarioReader(path).header  # read back: no refusal
    # all three out: fast 1000 beside a replay's default slow of 100 would not fit
    assert not {"fast", "slow", "history"} & set(header.engine)
    assert header.engine["horizon_s"] == config.horizon_s


def test_a_backlog_written_a_partition_at_a_time_is_said_to_be_out_of_time_order(
    tmp_path: Path,
) -> None:
    """`record --from-beginning` of a backlog over partitions writes one partition's
    ticks, then the next's, each in order: a backtest of the file could score no forecast
    of the ones that came far behind, and its figures said so only there."""
    notes: list[tuple[str, bool]] = []
    engine = Engine()
    rec = Recorder(lambda text, error: notes.append((text, error)))
    path = tmp_path / "backlog.jsonl"
    rec.start(str(path), "t", engine.state(), engine.config, made_by="a test")
    for i in range(10):  # partition 0: ACME over 450 s
        rec.write(Tick("ACME", 100.0, 1000.0 + 50 * i))
    for i in range(10):  # partition 1: BRIX over the same 450 s, after it
        rec.write(Tick("BRIX", 50.0, 1000.0 + 50 * i + 1))
    rec.stop()
    assert notes[-1] == (
        f"{path}: 8 ticks came more than the horizon (60 s) behind a tick written before them,"
        " up to 7.5 min (a backlog is read a partition at a time): each symbol's ticks are in "
        "order, but a backtest reads the file in its order and cannot score their forecasts; "
        "`limitwatch evaluate FILE` reads it in time order",
        False,
    )
    notes.clear()
    rec.start(str(tmp_path / "live.jsonl"), "t", engine.state(), engine.config, made_by="t")
    for i in range(20):  # as read live: the two a few seconds apart at most
        rec.write(Tick("ACME" if i % 2 else "BRIX", 100.0, 1000.0 + 5 * i - 3 * (i % 2)))
    rec.stop()
    assert len(notes) == 2 and notes[-1][0].startswith("recorded 20 ticks")


def test_a_recording_stopped_before_any_tick_keeps_no_file(tmp_path: Path) -> None:
    # `r` twice after a replay ended: a header alone, which no command can read back.
    notes: list[tuple[str, bool]] = []
    rec = Recorder(lambda text, error: notes.append((text, error)))
    engine = Engine()
    path = tmp_path / "empty.jsonl"
    rec.start(str(path), "t", engine.state(), engine.config, made_by="a test")
    rec.stop()
    assert not path.exists()
    assert notes[-1] == (f"nothing was recorded (no tick was taken); {path} not kept", False)


def test_a_place_that_cannot_be_written_is_a_notice_not_an_exception(tmp_path: Path) -> None:
    notes: list[tuple[str, bool]] = []
    rec = Recorder(lambda text, error: notes.append((text, error)))
    engine = Engine()
    rec.start(str(tmp_path / "no" / "such" / "dir" / "x.jsonl"), "t", engine.state(),
              engine.config, made_by="a test")  # fmt: skip
    assert not rec.active
    assert len(notes) == 1 and notes[0][1] and "cannot record to" in notes[0][0]


def test_a_recording_replays_with_the_settings_it_was_made_with(tmp_path: Path) -> None:
    from producer.sources import open_source

    config = EngineConfig(default_band=0.03, warmup_ticks=7, hysteresis=0.001)
    source = open_source(str(_one_tick_recorded(tmp_path, config)))
    assert source.engine["default_band"] == 0.03  # type: ignore[attr-defined]
    assert source.engine["warmup_ticks"] == 7  # type: ignore[attr-defined]
    assert source.engine["hysteresis"] == 0.001  # type: ignore[attr-defined]


def test_a_recording_lists_the_symbols_it_holds_and_replays_strictly(tmp_path: Path) -> None:
    from producer.scenario import ScenarioReader

    engine = Engine()  # as `limitwatch record` starts: no symbol known yet
    rec = Recorder(lambda text, error: None)
    path = tmp_path / "out.jsonl"
    rec.start(str(path), "test", engine.state(), engine.config, made_by="a test")
    ticks = [Tick("ZED", 5.0, 1.0), Tick("ACME", 100.0, 1.5), Tick("ZED", 5.1, 2.0)]
    for tick in ticks:
        rec.write(tick)
    assert json.loads(path.read_text().splitlines()[0])["symbols"] == [], "until it is closed"
    rec.stop()
    assert json.loads(path.read_text().splitlines()[0])["symbols"] == ["ACME", "ZED"]
    reader = ScenarioReader(path)
    assert reader.header.symbols == ["ACME", "ZED"]
    assert list(reader) == ticks
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"], "no temporary file left"
    plain = tmp_path / "plain"
    plain.write_text("")
    assert path.stat().st_mode == plain.stat().st_mode, "made as any other file is"


def test_a_recording_of_quantities_names_them_so_a_replay_models_them_alike(
    tmp_path: Path,
) -> None:
    from producer.scenario import ScenarioReader
    from producer.source import additive_of

    engine = Engine(EngineConfig(default_band=None), additive=["cpu.*"])
    engine.set_limits("cpu.iowait", buy=-1.0, sell=20.0)  # a quantity's limit may be < 0
    rec = Recorder(lambda text, error: None)
    path = tmp_path / "gauges.jsonl"
    rec.start(str(path), "t", engine.state(), engine.config, made_by="a test",
              additive=engine.additive)  # fmt: skip
    rec.write(Tick("cpu.iowait", 0.5, 1.0))
    rec.stop()
    header = json.loads(path.read_text().splitlines()[0])
    assert header["additive"] == ["cpu.*"]
    assert header["limits"]["cpu.iowait"] == [-1.0, 20.0]
    reader = ScenarioReader(path)
    assert additive_of(reader) == ("cpu.*",)
    assert reader.limits == {"cpu.iowait": (-1.0, 20.0)}
    plain = tmp_path / "plain.jsonl"
    rec.start(str(plain), "t", Engine().state(), EngineConfig(), made_by="a test")
    rec.write(Tick("ACME", 10.0, 1.0))
    rec.stop()
    assert "additive" not in json.loads(plain.read_text().splitlines()[0])


def test_a_limit_changed_while_recording_is_told_once_as_not_recorded(tmp_path: Path) -> None:
    """A recording's header holds the limits of its start, and a replay uses those: a
    limit changed while recording is not in the file, and the user is told so (once per
    symbol), with the limits a replay will use. (It was silent, and a replay missed the
    SELL the changed limit fired live.)"""
    engine = Engine(EngineConfig(default_band=None))
    engine.set_limits("ACME", buy=150.0, sell=155.0)
    notes: list[str] = []
    rec = Recorder(lambda text, _error: notes.append(text))
    rec.limits_changed("ACME")  # not recording: nothing to say
    rec.start(str(tmp_path / "r.jsonl"), "t", engine.state(), engine.config, made_by="a test")
    for _ in range(2):
        rec.limits_changed("ACME")
    rec.limits_changed("NEW")
    rec.stop()
    told = [n for n in notes if n.startswith("recording: ")]
    assert told == [
        "recording: ACME's new limits are not recorded; a replay of it keeps the limits it "
        "started with (150.00 / 155.00). Set limits before starting a recording.",
        "recording: NEW's new limits are not recorded; a replay of it keeps the limits it "
        "started with (none / none). Set limits before starting a recording.",
    ]


def test_one_tick_recorded_is_said_in_the_singular(tmp_path: Path) -> None:
    notes: list[tuple[str, bool]] = []
    rec = Recorder(lambda text, error: notes.append((text, error)))
    engine = Engine()
    path = tmp_path / "one.jsonl"
    rec.start(str(path), "test", engine.state(), engine.config, made_by="a test", max_ticks=1)
    rec.write(Tick("ACME", 100.0, 1.0))
    assert notes[-1] == (f"recorded 1 tick to {path}", False)


def test_a_write_that_fails_names_the_file_and_says_its_last_line_may_be_cut(
    tmp_path: Path,
) -> None:
    """A full disk stopped a recording with "recording stopped: No space left on device",
    naming no file, and the file ended mid-line."""
    import errno

    notes: list[tuple[str, bool]] = []
    engine = Engine()
    rec = Recorder(lambda text, error: notes.append((text, error)))
    path = tmp_path / "full.jsonl"
    rec.start(str(path), "t", engine.state(), engine.config, made_by="a test")
    assert rec._writer is not None

    def full(_tick: Tick) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    rec._writer.write = full  # type: ignore[method-assign]
    rec.write(Tick("ACME", 100.0, 1.0))
    assert not rec.active and rec.failed
    assert notes[-1] == (
        f"recording to {path} stopped: No space left on device; its last line may be cut "
        "(a backtest with --skip-bad skips it)",
        True,
    )


def test_a_header_no_reader_would_take_is_said_and_nothing_is_written(tmp_path: Path) -> None:
    """A limit no scenario header takes (a band's sell limit past the largest price, as
    it was) raised out of start() and ended the consumer's thread, the screen still
    saying OK: it is refused with a notice, and no file is left."""
    notes: list[tuple[str, bool]] = []
    rec = Recorder(lambda text, error: notes.append((text, error)))
    path = tmp_path / "out.jsonl"
    config = EngineConfig()
    state = Engine(config).state()
    rec.start(str(path), "t", state, config, made_by="a test", waiting={"HUGE": (1.0, 2e12)})
    assert not rec.active and not path.exists()
    ((text, error),) = notes
    assert error and text.startswith(f"cannot record to {path}: ")
    assert "must be below 1,000,000,000,000" in text


def test_a_symbol_without_limits_records_and_replays_without_them(tmp_path: Path) -> None:
    """A symbol whose limits were cleared (the limits dialog left empty) made every
    recording fail (its header said [null, null], which the reader refused): it is
    recorded so, and a replay leaves it without limits rather than giving it the band."""
    from producer.sources import open_source
    from tui.runtime.backtest import backtest

    config = EngineConfig(default_band=0.01)
    engine = Engine(config)
    engine.set_limits("ACME", buy=float("nan"), sell=float("nan"))
    engine.update(engine.register(["ACME", "BRIX"]), [0.0, 0.0], [100.0, 100.0])
    # and one cleared before its first tick (remembered, or shared by another monitor)
    engine.set_limits("CYGN", buy=float("nan"), sell=float("nan"), register=False)
    notes: list[tuple[str, bool]] = []
    rec = Recorder(lambda text, error: notes.append((text, error)))
    path = tmp_path / "out.jsonl"
    rec.start(str(path), "t", engine.state(), config, made_by="a test",
              waiting=engine.waiting_limits())  # fmt: skip
    assert rec.active, notes
    for i in range(120):  # all fall 5 %: BRIX's band is crossed, the others have none
        for symbol in ("ACME", "BRIX", "CYGN"):
            rec.write(Tick(symbol, 100.0 - i / 24, float(i)))
    rec.stop()
    header = json.loads(path.read_text().splitlines()[0])
    assert header["limits"] == {"ACME": [None, None], "BRIX": [99.0, 101.0], "CYGN": [None, None]}
    signals: list = []
    source = open_source(str(path))
    backtest(source, config, source.limits, on_signals=signals.extend, score=False)
    crossings = {(s.symbol, s.kind.name) for s in signals if s.kind.name in ("BUY", "SELL")}
    assert crossings == {("BRIX", "BUY")}
