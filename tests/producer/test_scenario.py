"""The scenario format: header checks, streaming reads, and writer/reader round trips."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest

from engine.limits import limit_problem
from producer.files import FileSource
from producer.header import ScenarioHeader, is_scenario_header, read_header
from producer.lines import SourceError
from producer.scenario import ScenarioReader, ScenarioWriter
from producer.wire import Tick

HEADER = ScenarioHeader(
    name="demo",
    description="ACME drifts up to its sell limit",
    symbols=["ACME", "BRIX"],
    limits={"ACME": (95.0, 105.0)},
    engine={"fast": 10, "horizon_s": 20.0},
    made_by="written by test_scenario.py",
)
TICKS = [Tick("ACME", 100.0, 1750000000.0), Tick("BRIX", 7.5, 1750000000.5)]


def write_scenario(path: Path, header: ScenarioHeader = HEADER, ticks: list[Tick] = TICKS) -> str:
    with ScenarioWriter(path, header) as writer:
        writer.write_many(ticks)
    return str(path)


def raw_scenario(tmp_path: Path, header: dict[str, object], *lines: str) -> str:
    path = tmp_path / "s.jsonl"
    path.write_text("\n".join([json.dumps(header), *lines]) + "\n")
    return str(path)


def good_header(**changes: object) -> dict[str, object]:
    header: dict[str, object] = {
        "limitwatch_scenario": 1,
        "name": "x",
        "description": "d",
        "symbols": [],
        "limits": {},
        "engine": {},
        "made_by": "",
    }
    header.update(changes)
    return header


def test_written_scenario_reads_back_with_limits_engine_and_ticks(tmp_path: Path) -> None:
    reader = ScenarioReader(write_scenario(tmp_path / "s.jsonl"))
    assert reader.paced is True
    assert reader.limits == {"ACME": (95.0, 105.0)}
    assert reader.engine == {"fast": 10, "horizon_s": 20.0}
    assert reader.description == HEADER.description
    assert list(reader) == TICKS


def test_header_is_the_first_line_and_ticks_look_like_the_wire(tmp_path: Path) -> None:
    lines = Path(write_scenario(tmp_path / "s.jsonl")).read_text().splitlines()
    assert json.loads(lines[0])["limitwatch_scenario"] == 1
    assert lines[0].startswith('{"limitwatch_scenario":1,')
    assert json.loads(lines[1]) == {"symbol": "ACME", "price": 100.0, "ts": 1750000000.0}


def test_writer_flushes_so_a_follower_sees_whole_lines_before_close(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    writer = ScenarioWriter(path, HEADER)
    writer.write(TICKS[0])
    assert path.read_text().count("\n") == 2
    assert list(ScenarioReader(path)) == TICKS[:1]
    writer.close()


def test_a_side_without_a_limit_is_null_in_the_file_and_nan_when_read(tmp_path: Path) -> None:
    header = ScenarioHeader(
        name="gauge", description="d", limits={"cpu.user": (None, 85.0), "mem": (math.nan, 9.0)}
    )
    path = write_scenario(tmp_path / "s.jsonl", header, [Tick("cpu.user", 5.0, 1.0)])
    assert json.loads(Path(path).read_text().splitlines()[0])["limits"]["cpu.user"] == [None, 85]
    buy, sell = ScenarioReader(path).limits["cpu.user"]
    assert math.isnan(buy) and sell == 85.0


def test_writer_refuses_an_invalid_header() -> None:
    bad = ScenarioHeader(name="x", description="d", limits={"A": (5.0, 4.0)})
    with pytest.raises(ValueError, match="0 < buy < sell"):
        ScenarioWriter(io.BytesIO(), bad)


def test_reader_streams_without_reading_past_what_it_needs(tmp_path: Path) -> None:
    """A corrupt line far into the file must not stop the first ticks from arriving."""
    path = raw_scenario(
        tmp_path,
        good_header(),
        '{"symbol":"A","price":1,"ts":1}',
        '{"symbol":"A","price":1,"ts":2}',
        "garbage",
    )
    ticks = iter(ScenarioReader(path))
    assert next(ticks) == Tick("A", 1.0, 1.0)
    with pytest.raises(SourceError, match=r":4: not valid JSON"):
        list(ticks)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (good_header(limitwatch_scenario=2), "unsupported scenario version 2"),
        (good_header(name=""), "name must be non-empty"),
        (good_header(limits={"A": [5, 4]}), "0 < buy < sell"),
        (good_header(limits={"A": [0, 4]}), "0 < buy < sell"),
        (good_header(engine={"fast": "ten"}), "engine setting 'fast': expected a number, got"),
        (good_header(engine={"fast": True}), "engine setting 'fast': expected a number, got true"),
        # The text "1" read "unsupported scenario version '1' (this limitwatch reads 1)".
        (good_header(limitwatch_scenario="1"), 'version "1" (this limitwatch reads 1: the number'),
        (good_header(engine={"fsat": "ten"}), "unknown engine setting(s) fsat"),
        (good_header(limits={"A": [None, -1]}), "0 < buy < sell"),
        # in words, not the decoder's "Expected `array of length 2`" at "$.limits[...]"
        (good_header(limits={"A": [1]}), "limits for 'A' must be [buy, sell], each a number"),
        (good_header(limits={"A": [1, "2"]}), 'null for a side without a limit, got [1, "2"]'),
        (good_header(limits={"A": "1"}), "limits for 'A' must be [buy, sell]"),
        (good_header(limits=[1, 2]), '"limits" must be an object of "SYMBOL": [buy, sell]'),
        (good_header(name=5), '"name" must be text, got 5'),
        (good_header(symbols="A"), '"symbols" must be an array of symbol names (text each)'),
        (good_header(engine=[1]), '"engine" must be an object of "setting": number, got [1]'),
        (good_header(price_jumps=1), '"price_jumps" must be true or false, got 1'),
        (good_header(engine={"fsat": 3}), "unknown engine setting(s) fsat"),
        (good_header(engine={"fast": -3}), "engine setting fast: fast (-3) must be at least 1"),
        (good_header(engine={"alert_p": 1.5}), "alert_p (1.5) must lie strictly between 0 and 1"),
        # taken, though --hysteresis refuses it
        (good_header(engine={"hysteresis": 1e308}), "hysteresis (1e+308) must be at least 0"),
        # a band so narrow the buy and sell limits were one number: BUY and SELL at once
        (good_header(engine={"default_band": 1e-17}), "default_band (1e-17) must be None or at"),
        (good_header(engine={"max_symbols": 5}), "unknown engine setting(s) max_symbols"),
        # a few kilobytes asking for 100,000-tick windows over 1,000 symbols took 1.7 GB
        (good_header(engine={"fast": 99999, "slow": 100000}), "fast: 99,999 ticks is more"),
        (good_header(engine={"slow": 2049}), "at most 2,048: every symbol's state grows"),
        (good_header(engine={"history": 1e6}), "history: 1e+06 ticks is more than a scenario"),
        (good_header(symbols=["A\x07"]), "a control character"),
        (good_header(additive=["g*"], limits={"g1": [1, -1]}), "must satisfy buy < sell"),
        (good_header(additive=["g*"], limits={"A": [-1, 1]}), "0 < buy < sell"),
        (good_header(additive=[""]), "an additive pattern is empty"),
        (good_header(additive="g*"), '"additive" must be an array of symbol patterns'),
        ({"limitwatch_scenario": 1}, 'bad scenario header: missing "name" and "description"'),
        ({"limitwatch_scenario": 1, "name": "x"}, 'bad scenario header: missing "description"'),
    ],
)
def test_bad_header_is_refused_on_line_one(
    tmp_path: Path, header: dict[str, object], expected: str
) -> None:
    path = raw_scenario(tmp_path, header, '{"symbol":"A","price":1,"ts":1}')
    with pytest.raises(SourceError) as info:
        ScenarioReader(path)
    assert str(info.value).startswith(f"{path}:1: ")
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("text", "twice"),
    [
        ('"limits":{"A":[1,2],"A":[40,60]}', "A"),
        ('"limits":{"A":[1,2]},"limits":{"A":[40,60]}', "limits"),
        ('"engine":{"fast":5,"fast":50}', "fast"),
    ],
)
def test_a_header_giving_a_key_twice_is_refused(tmp_path: Path, text: str, twice: str) -> None:
    # The decoder kept the last: a header with two "limits" ran with the second's, and
    # no word said so (tick lines with a field given twice were refused already).
    header = (
        f'{{"limitwatch_scenario":1,"name":"x","description":"d","symbols":[],{text},"made_by":""}}'
    )
    path = tmp_path / "twice.jsonl"
    path.write_text(header + '\n{"symbol":"A","price":1,"ts":1}\n')
    with pytest.raises(SourceError) as info:
        ScenarioReader(path)
    assert str(info.value) == f"{path}:1: the scenario header gives the key {twice!r} twice"


def test_header_limits_are_refused_with_the_engine_limit_rule_words(tmp_path: Path) -> None:
    path = raw_scenario(
        tmp_path, good_header(limits={"A": [5, 4]}), '{"symbol":"A","price":1,"ts":1}'
    )
    with pytest.raises(SourceError) as info:
        ScenarioReader(path)
    assert str(info.value).endswith(
        "bad scenario header: limits for 'A' must satisfy 0 < buy < sell (null for a side "
        f"without a limit), got [5.0, 4.0]: {limit_problem(5.0, 4.0)}"
    )


@pytest.mark.parametrize(
    "engine",
    [
        {"warmup_s": 0},
        {"fast": 20.0},
        {"default_band": 0.05, "warmup_ticks": 5},
        {"fast": 150, "slow": 300, "history": 300},
    ],
    ids=["warmup_s zero", "a whole float for a count", "band and warm-up", "wide windows"],
)
def test_header_engine_settings_the_engine_accepts_are_taken(
    tmp_path: Path, engine: dict[str, object]
) -> None:
    path = raw_scenario(tmp_path, good_header(engine=engine), '{"symbol":"A","price":1,"ts":1}')
    assert ScenarioReader(path).engine == engine


def test_a_header_names_the_quantities_whose_limits_may_be_zero_or_below(
    tmp_path: Path,
) -> None:
    header = good_header(additive=["temp.*"], limits={"temp.out": [-5, 0], "A": [1, 2]})
    path = raw_scenario(tmp_path, header, '{"symbol":"A","price":1,"ts":1}')
    reader = ScenarioReader(path)
    assert reader.additive == ("temp.*",)
    assert reader.limits["temp.out"] == (-5.0, 0.0)


def test_file_without_header_is_not_a_scenario(tmp_path: Path) -> None:
    path = tmp_path / "plain.jsonl"
    path.write_text('{"symbol":"A","price":1,"ts":1}\n')
    with pytest.raises(SourceError, match=r":1: not a limitwatch scenario"):
        read_header(path)


def test_empty_scenario_and_header_only_scenario_are_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(SourceError, match=r"empty.jsonl:1: empty file"):
        ScenarioReader(empty)
    only_header = raw_scenario(tmp_path, good_header())
    with pytest.raises(SourceError, match=r":1: no ticks after the header"):
        list(ScenarioReader(only_header))


def test_tick_for_a_symbol_missing_from_the_header_list_is_refused(tmp_path: Path) -> None:
    path = raw_scenario(tmp_path, good_header(symbols=["A"]), '{"symbol":"B","price":1,"ts":1}')
    with pytest.raises(SourceError, match=r":2: symbol 'B' is not listed"):
        list(ScenarioReader(path))


def test_skip_bad_counts_corrupt_scenario_lines(tmp_path: Path) -> None:
    path = raw_scenario(
        tmp_path,
        good_header(),
        '{"symbol":"A","price":-1,"ts":1}',
        "\x00\x00",
        '{"symbol":"A","price":2,"ts":3}',
    )
    reader = ScenarioReader(path, skip_bad=True)
    assert list(reader) == [Tick("A", 2.0, 3.0)]
    assert reader.skipped == 2
    assert reader.skipped_reasons[0].endswith(":2: price must be positive, got -1")


def test_scenario_on_stdin_supplies_its_limits_once_read(tmp_path: Path) -> None:
    data = Path(write_scenario(tmp_path / "s.jsonl")).read_bytes()
    source = FileSource("-", stream=io.BytesIO(data))
    assert list(source) == TICKS
    assert source.limits == {"ACME": (95.0, 105.0)}


def test_is_scenario_header_only_for_objects_with_the_key() -> None:
    assert is_scenario_header(json.dumps(good_header()))
    assert not is_scenario_header('{"symbol":"limitwatch_scenario","price":1,"ts":1}')
    assert not is_scenario_header(b"limitwatch_scenario")


def test_a_late_tick_is_recorded_at_its_symbols_latest_time_so_the_file_reads_back(
    tmp_path: Path,
) -> None:
    """Off the wire a tick may come 100 s late for its symbol; the engine takes it at the
    symbol's latest time, and so the recording writes it: every reader refuses a time
    that goes back by more than a second, and backtest had refused the file there."""
    from producer.files import FileSource
    from producer.header import ScenarioHeader
    from producer.scenario import ScenarioWriter

    path = tmp_path / "late.jsonl"
    now = 1_750_000_000.0
    with ScenarioWriter(path, ScenarioHeader(name="late", description="d")) as w:
        for dt in (0.0, 0.5, -100.0, 1.0):
            w.write(Tick("AAA", 100.0, now + dt))
    times = [t.ts for t in FileSource(str(path))]
    assert times == [now, now + 0.5, now + 0.5, now + 1.0]


def test_a_recording_of_more_symbols_than_a_header_line_holds_reads_back(
    tmp_path: Path,
) -> None:
    # 60,000 symbols of 21 characters listed would make a header of 1.4 MB, past the
    # longest line readers take: the header lists none ("any symbol") and reads back.
    path = tmp_path / "many.jsonl"
    names = [f"LONGSYMBOLNAME_{i:06d}" for i in range(60_000)]
    with ScenarioWriter(
        path, ScenarioHeader(name="many", description="many symbols"), list_symbols=True
    ) as w:
        for i, name in enumerate(names):
            w.write(Tick(name, 10.0, 1_750_000_000.0 + i * 1e-3))
    assert read_header(path).symbols == []
    assert [t.symbol for t in FileSource(path)] == names
    few = tmp_path / "few.jsonl"
    with ScenarioWriter(
        few, ScenarioHeader(name="few", description="one symbol"), list_symbols=True
    ) as w:
        w.write(Tick("ACME", 10.0, 1_750_000_000.0))
    assert read_header(few).symbols == ["ACME"]  # a list that fits is written
