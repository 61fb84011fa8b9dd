"""open_source: every spec opens the right source, bad specs fail clearly, loops move forward."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import pytest

from producer.files import FileSource
from producer.generator import MarketGenerator
from producer.header import ScenarioHeader
from producer.metrics import METRICS, MetricsSource
from producer.scenario import ScenarioReader, ScenarioWriter
from producer.source import Source
from producer.sources import LoopedSource, SourceError, open_source
from producer.wire import Tick


def test_generator_spec_passes_seed_rate_and_symbols() -> None:
    source = open_source("generator", seed=3, rate=20.0, symbols=5)
    assert isinstance(source, MarketGenerator)
    assert len(source.symbols) == 5
    assert source.seed == 3
    assert source.rate == 20.0


def test_metrics_spec_is_live_and_uses_the_given_stop_event() -> None:
    stop = threading.Event()
    source = open_source("metrics", stop=stop)
    assert isinstance(source, MetricsSource)
    assert source.paced is False
    assert source.stop is stop


def test_dash_is_live_stdin() -> None:
    source = open_source("-")
    assert isinstance(source, FileSource)
    assert source.paced is False


def test_csv_path_opens_a_paced_file_source(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("ts,symbol,price\n1,A,1\n")
    source = open_source(str(path), skip_bad=True)
    assert isinstance(source, FileSource)
    assert source.paced and source.skip_bad
    assert list(source) == [Tick("A", 1.0, 1.0)]


def test_jsonl_with_a_header_is_a_scenario_and_without_is_plain(tmp_path: Path) -> None:
    scenario = tmp_path / "s.jsonl"
    with ScenarioWriter(scenario, ScenarioHeader(name="s", description="d")) as writer:
        writer.write(Tick("A", 1.0, 1.0))
    plain = tmp_path / "p.jsonl"
    plain.write_text('{"symbol":"A","price":1,"ts":1}\n')
    assert isinstance(open_source(str(scenario)), ScenarioReader)
    opened = open_source(str(plain))
    assert type(opened) is FileSource
    assert list(opened) == [Tick("A", 1.0, 1.0)]


@pytest.mark.parametrize("name", ["prices.txt", "prices"])
def test_a_file_of_any_name_is_read_by_its_content_as_backtest_reads_it(
    tmp_path: Path, name: str
) -> None:
    from tui.runtime.backtest import open_file

    csv = tmp_path / name
    csv.write_text("ts,symbol,price\n1,A,1\n2,A,1.5\n")
    assert list(open_source(str(csv))) == list(open_file(str(csv), skip_bad=False))
    scenario = tmp_path / f"s-{name}"
    header = ScenarioHeader(name="s", description="d", limits={"A": (0.5, 2.0)})
    with ScenarioWriter(scenario, header) as writer:
        writer.write(Tick("A", 1.0, 1.0))
    opened = open_source(str(scenario), loop=True)
    assert opened.limits == {"A": (0.5, 2.0)}
    assert list(itertools.islice(opened, 2)) == [Tick("A", 1.0, 1.0), Tick("A", 1.0, 2.0)]


@pytest.mark.parametrize("name", ["prices.jsonl", "prices.ndjson", "prices.CSV"])
def test_a_name_that_says_the_other_format_does_not_decide_it(tmp_path: Path, name: str) -> None:
    """A CSV named .jsonl was refused as "not valid JSON" on line 1, and JSON lines named
    .csv as a CSV missing its header: the content decides, as for any other name."""
    from tui.runtime.backtest import open_file

    ticks = [Tick("A", 1.0, 1.0), Tick("A", 1.5, 2.0)]
    as_csv = "ts,symbol,price\n1,A,1\n2,A,1.5\n"
    as_json = '{"ts":1,"symbol":"A","price":1}\n{"ts":2,"symbol":"A","price":1.5}\n'
    path = tmp_path / name
    path.write_text(as_json if name.lower().endswith(".csv") else as_csv)
    assert list(open_source(str(path))) == ticks
    assert list(open_file(str(path), skip_bad=False)) == ticks


@pytest.mark.parametrize("spec", ["generatr", "prices.txt", "data.parquet", ""])
def test_unknown_spec_says_what_is_accepted(spec: str) -> None:
    with pytest.raises(SourceError, match="unknown source; expected 'generator', 'metrics'"):
        open_source(spec)


@pytest.mark.parametrize("name", ["missing.csv", "missing.jsonl"])
def test_missing_file_is_a_source_error_not_a_traceback(tmp_path: Path, name: str) -> None:
    with pytest.raises(SourceError, match=f"{name}: no such file"):
        open_source(str(tmp_path / name))


def test_stdin_cannot_loop() -> None:
    with pytest.raises(SourceError, match="cannot be replayed"):
        open_source("-", loop=True)


def test_loop_replays_forever_with_event_time_moving_forward(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("ts,symbol,price\n100,A,1\n101,A,2\n102,A,3\n")
    source = open_source(str(path), loop=True)
    assert isinstance(source, LoopedSource)
    assert isinstance(source, Source)
    ticks = list(itertools.islice(source, 7))
    assert [t.price for t in ticks] == [1, 2, 3, 1, 2, 3, 1]
    times = [t.ts for t in ticks]
    assert all(b > a for a, b in itertools.pairwise(times))
    assert times[3] - times[2] == pytest.approx(2 / 3)  # one typical step after the pass


def test_a_looped_file_counts_its_bad_lines_once_not_once_a_pass(tmp_path: Path) -> None:
    """`--loop --skip-bad` on a file of 5 bad lines showed `645 skipped` after 129 passes."""
    path = tmp_path / "p.csv"
    path.write_text("ts,symbol,price\n100,A,1\n101,A,-2\n102,A,3\n103,A,x\n104,A,5\n")
    source = open_source(str(path), loop=True, skip_bad=True)
    ticks = list(itertools.islice(source, 3 * 5))  # five passes of three ticks
    assert [t.price for t in ticks[:3]] == [1, 3, 5]
    assert source.passes >= 4
    assert source.skipped == 2
    assert [r.split(": ")[0] for r in source.skipped_reasons] == [f"{path}:3", f"{path}:5"]


def test_loop_keeps_the_scenario_limits_and_engine_settings(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    header = ScenarioHeader(
        name="s", description="d", limits={"A": (0.5, 2.0)}, engine={"fast": 3.0, "slow": 9.0}
    )
    with ScenarioWriter(path, header) as writer:
        writer.write(Tick("A", 1.0, 1.0))
    source = open_source(str(path), loop=True)
    assert source.limits == {"A": (0.5, 2.0)}
    assert source.engine == {"fast": 3.0, "slow": 9.0}
    ticks = list(itertools.islice(source, 3))
    assert [t.ts for t in ticks] == [1.0, 2.0, 3.0]  # one tick: passes one second apart


def test_system_metrics_are_quantities_and_prices_are_not() -> None:
    from producer.source import additive_of

    metrics = open_source("metrics", stop=threading.Event())
    assert set(additive_of(metrics)) == set(METRICS)
    assert additive_of(open_source("generator")) == ()
    assert additive_of(None) == ()


def test_a_looped_scenario_keeps_what_its_header_says_of_its_values() -> None:
    from producer.source import additive_of, jumps_by_design

    path = str(Path(__file__).resolve().parents[2] / "scenarios" / "system_metrics.jsonl")
    looped = open_source(path, loop=True, additive=["extra.*"])
    assert jumps_by_design(looped)
    assert set(additive_of(looped)) == {"extra.*", *METRICS}
