"""A regular file read in blocks gives the very ticks, errors, skips and line numbers of the
same file read line by line; the block parsers only ever take the fast way when it is
provably the same."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from producer.chunks import TickColumns, admit_columns, block_parser, blocks, plain_lines
from producer.files import FileSource
from producer.lines import MAX_LINE_BYTES, BadLine, SourceError, TimeOrder
from producer.scenario import ScenarioReader
from producer.sources import open_source
from producer.wire import Tick

#: tmp_path is shared by a test's examples: each writes its file anew.
_FIXTURE = [HealthCheck.function_scoped_fixture]

Outcome = tuple[list[Tick], str | None, int, list[str]]


def outcome(source: FileSource, *, by_line: bool = False) -> Outcome:
    """Every tick, the error (if any), the skipped count and messages of one pass."""
    if by_line:
        source._regular = lambda: False  # type: ignore[method-assign]
        ticks_of: Iterator[Tick] = iter(source)
    else:
        ticks_of = (
            Tick(c.symbols[k], p, t)
            for c in source.columns()
            for k, p, t in zip(c.codes.tolist(), c.price.tolist(), c.ts.tolist(), strict=True)
        )
    ticks: list[Tick] = []
    error = None
    try:
        for tick in ticks_of:
            ticks.append(tick)
    except SourceError as exc:
        error = str(exc)
    return ticks, error, source.skipped, source.skipped_reasons


def both_ways(path: Path, block_bytes: int = 256, **kwargs: Any) -> tuple[Outcome, Outcome]:
    """The outcome read in blocks of `block_bytes`, and read line by line."""
    fast = FileSource(path, **kwargs)
    fast.block_bytes = block_bytes
    return outcome(fast), outcome(FileSource(path, **kwargs), by_line=True)


def csv_lines(n: int, start: int = 0) -> list[str]:
    return [f"{1750000000 + i * 0.25:.2f},S{i % 7},{100 + (i % 13) * 0.5}" for i in range(start, n)]


# --- the same result both ways ---------------------------------------------------------

_numbers = st.one_of(
    st.floats(1e-3, 1e6, allow_nan=False).map(repr),
    st.integers(-5, 10**13).map(str),
    st.sampled_from(
        [
            "1e3",
            "+2.5",
            " 3.5",
            "4.5 ",
            "1_000",
            "inf",
            "nan",
            "NaN",
            "-1",
            "0",
            "",
            "x",
            "1e400",
            ".5",
            "5.",
            "0x10",
            "1.5e-3",
            "  ",
            "\t7",
        ]
    ),
)
_times = st.one_of(
    st.floats(1.75e9, 1.75e9 + 50, allow_nan=False).map(lambda t: f"{t:.3f}"),
    st.sampled_from(["2025-06-15T15:06:40Z", "1e11", "-5", "1750000000", "abc", ""]),
)
_symbols = st.one_of(
    st.sampled_from(["ACME", "BRIX", "CYGN", "ÄPFEL"]),
    st.sampled_from([" ACME", "ACME ", "", "A B", '"ACME"', "A\x01", "#X", "Z" * 70]),
)
_csv_row = st.one_of(
    st.tuples(_times, _symbols, _numbers).map(",".join),
    st.sampled_from(["", "   ", "# a comment", "1,2", "1,A,2,3", '"1750000000",ACME,5']),
)


@settings(max_examples=150, deadline=None, suppress_health_check=_FIXTURE)
@given(
    rows=st.lists(_csv_row, min_size=1, max_size=60),
    header=st.sampled_from(["ts,symbol,price\n", "Price, SYMBOL ,time\n", ""]),
    newline=st.sampled_from(["\n", "\r\n"]),
    skip_bad=st.booleans(),
    block=st.sampled_from([64, 200, 1 << 16]),
)
def test_csv_blocks_give_what_lines_give(
    tmp_path: Path, rows: list[str], header: str, newline: str, skip_bad: bool, block: int
) -> None:
    if header.startswith("Price"):
        rows = [",".join(reversed(r.split(","))) if r.count(",") == 2 else r for r in rows]
    path = tmp_path / "p.csv"
    path.write_text(header.replace("\n", newline) + newline.join(rows) + newline, "utf-8")
    fast, slow = both_ways(path, block, skip_bad=skip_bad)
    assert fast == slow


_json_values = st.one_of(
    st.floats(1e-3, 1e6, allow_nan=False).map(repr),
    st.sampled_from(['"5"', "true", "null", "NaN", "1e400", "[1]", "-2", "0", "7"]),
)
_json_row = st.one_of(
    st.builds(
        lambda sym, price, ts, key, extra: (
            f'{{"symbol":"{sym}","price":{price},"{key}":{ts}{extra}}}'
        ),
        st.sampled_from(["ACME", "BRIX", "\\u0041CME", "A\\u0001", " X", ""]),
        _json_values,
        st.one_of(
            st.floats(1.75e9, 1.75e9 + 50, allow_nan=False).map(lambda t: f"{t:.3f}"),
            st.sampled_from(['"2025-06-15T15:06:40Z"', '"1750000000.5"']),
        ),
        st.sampled_from(["ts", "time"]),
        st.sampled_from(["", ',"x":[1,{"y":2}]', ',"price":3', ',"ts":"no"']),
    ),
    st.sampled_from(
        [
            "",
            "  ",
            "[1,2]",
            "{}",
            '{"symbol":"A","price":1,"ts":1750000000}{"a":1}',
            '{"symbol":"A","price":1,"ts":1750000000},{"symbol":"B","price":1,"ts":1750000000}',
            "not json",
            '{"symbol":"A","price":1,"ts":1750000000,}',
        ]
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=_FIXTURE)
@given(
    rows=st.lists(_json_row, min_size=1, max_size=60),
    skip_bad=st.booleans(),
    block=st.sampled_from([64, 300, 1 << 16]),
)
def test_json_blocks_give_what_lines_give(
    tmp_path: Path, rows: list[str], skip_bad: bool, block: int
) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(rows) + "\n", "utf-8")
    fast, slow = both_ways(path, block, skip_bad=skip_bad)
    assert fast == slow


@settings(max_examples=60, deadline=None, suppress_health_check=_FIXTURE)
@given(
    steps=st.lists(st.floats(-3.0, 2.0).map(lambda x: round(x, 2)), min_size=1, max_size=80),
    symbols=st.lists(st.sampled_from("ABC"), min_size=80, max_size=80),
    skip_bad=st.booleans(),
)
def test_late_ticks_are_restamped_or_refused_alike(
    tmp_path: Path, steps: list[float], symbols: list[str], skip_bad: bool
) -> None:
    t = np.cumsum(steps) + 1.75e9
    path = tmp_path / "p.csv"
    rows = [f"{ts:.2f},{s},10" for ts, s in zip(t.tolist(), symbols, strict=False)]
    path.write_text("ts,symbol,price\n" + "\n".join(rows) + "\n", "utf-8")
    fast, slow = both_ways(path, 100, skip_bad=skip_bad)
    assert fast == slow


# --- a big file: the fast path, and bad lines found where they are ---------------------


def test_a_clean_big_file_is_read_by_the_block_parser(tmp_path: Path, monkeypatch: Any) -> None:
    path = tmp_path / "p.csv"
    path.write_text("ts,symbol,price\n" + "\n".join(csv_lines(50_000)) + "\n", "utf-8")
    by_line: list[int] = []
    import producer.files as files

    real = files._slow_block
    monkeypatch.setattr(
        files, "_slow_block", lambda state, data, first, **kw: (
            by_line.append(first), real(state, data, first, **kw))[1]
    )  # fmt: skip
    fast, slow = both_ways(path, 1 << 16)
    assert fast == slow and len(fast[0]) == 50_000
    assert by_line == [1]  # only the header's block, up to the header
    # columns besides ts, symbol and price are read past by the block parser too
    by_line.clear()
    wide = tmp_path / "w.csv"
    rows = (line.split(",") for line in csv_lines(50_000))
    wide.write_text(
        "volume,price,ts,symbol\n" + "\n".join(f"7,{p},{t},{s}" for t, s, p in rows) + "\n"
    )
    wide_fast, wide_slow = both_ways(wide, 1 << 16)
    assert wide_fast == wide_slow == fast
    assert by_line == [1]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_bad_line_deep_in_a_big_file_is_reported_with_its_line_number(
    tmp_path: Path, fmt: str
) -> None:
    good = csv_lines(200_000)
    if fmt == "jsonl":
        good = [
            f'{{"symbol":"{s}","price":{p},"ts":{t}}}'
            for t, s, p in (row.split(",") for row in good)
        ]
        head = []
        bad = '{"symbol":"S1","price":-4,"ts":1750050000}'
        why = "price must be positive, got -4"
    else:
        head = ["ts,symbol,price"]
        bad = "1750050000,S1,-4"
        why = "price must be positive, got -4.0"
    at = 123_457  # index into the ticks
    lines = [*head, *good[:at], bad, *good[at:]]
    path = tmp_path / f"big.{fmt}"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    lineno = len(head) + at + 1
    source = FileSource(path)
    ticks, error, _, _ = outcome(source)
    assert len(ticks) == at
    assert error == f"{path}:{lineno}: {why}"
    skipping = FileSource(path, skip_bad=True)
    ticks, error, skipped, reasons = outcome(skipping)
    assert error is None and len(ticks) == len(good) and skipped == 1
    assert reasons == [f"{path}:{lineno}: {why}"]


def test_an_overlong_line_in_a_big_file_is_reported_and_the_rest_still_read(
    tmp_path: Path,
) -> None:
    overlong = "9" * (MAX_LINE_BYTES + 10)
    lines = ["ts,symbol,price", *csv_lines(1000), overlong, *csv_lines(2000, 1000)]
    path = tmp_path / "long.csv"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    fast, slow = both_ways(path, 4096, skip_bad=True)
    assert fast == slow
    assert fast[2] == 1 and fast[3] == [f"{path}:1002: line is longer than {MAX_LINE_BYTES} bytes"]
    assert len(fast[0]) == 2000


def test_a_scenario_read_in_blocks_refuses_a_symbol_its_header_does_not_list(
    tmp_path: Path,
) -> None:
    header = '{"limitwatch_scenario":1,"name":"x","description":"d","symbols":["A"]}'
    rows = [f'{{"symbol":"A","price":1.5,"ts":{1750000000 + i}}}' for i in range(500)]
    rows[321] = '{"symbol":"B","price":1.5,"ts":1750000321}'
    path = tmp_path / "s.jsonl"
    path.write_text("\n".join([header, *rows]) + "\n", "utf-8")
    fast_source = ScenarioReader(path)
    fast_source.block_bytes = 1000
    fast = outcome(fast_source)
    assert fast == outcome(ScenarioReader(path), by_line=True)
    assert fast[1] == f"{path}:323: symbol 'B' is not listed in the scenario header"
    assert isinstance(open_source(str(path)), ScenarioReader)


def test_iterating_a_file_gives_its_columns_tick_by_tick(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("ts,symbol,price\n" + "\n".join(csv_lines(3000)) + "\n", "utf-8")
    source = FileSource(path)
    source.block_bytes = 5000
    assert list(source) == outcome(FileSource(path), by_line=True)[0]


# --- the pieces ------------------------------------------------------------------------


def test_blocks_end_at_line_ends_and_count_lines(tmp_path: Path) -> None:
    data = b"".join(b"line %d\n" % i for i in range(1, 1001)) + b"tail"
    path = tmp_path / "b"
    path.write_bytes(data)
    with open(path, "rb") as f:
        got = list(blocks(f, 0, 1, 100))
    assert b"".join(b.data for b in got) == data
    for b in got:
        assert b.data.startswith(b"line %d\n" % b.first_line) or b.data == b"tail"
        assert data[b.offset : b.end] == b.data
    assert all(b.data.endswith(b"\n") for b in got[:-1])


@pytest.mark.parametrize(
    "data",
    [b"a\0b\n", b"\xff\n", b"a\rb\n", b"x" * (MAX_LINE_BYTES + 1) + b"\n"],
    ids=["nul", "not utf-8", "lone CR", "overlong"],
)
def test_lines_the_line_reader_treats_specially_are_not_plain(data: bytes) -> None:
    assert not plain_lines(data)
    assert plain_lines(b"a,b\r\nc\n")


def test_the_csv_parser_gives_up_on_what_it_cannot_vouch_for() -> None:
    parse = block_parser("csv", (0, 1, 2, 3))
    assert parse(b"1,A,2\n\n3,A,4\n") is None  # a blank line: the count would differ
    assert parse(b'1,"A",2\n') is None
    assert parse(b"# note\n1,A,2\n") is None
    assert parse(b"1,A,NA\n") is None
    cols = parse(b"1,B,2\n3,A,4\n5,B,6")
    assert cols is not None and cols.symbols == ["B", "A"] and cols.codes.tolist() == [0, 1, 0]


def test_time_order_restamps_slightly_late_ticks_and_gives_up_on_late_ones() -> None:
    order = TimeOrder(1.0)
    order.newest["A"] = 10.0
    cols = TickColumns.of_ticks(["A", "B", "A", "B"], [1.0] * 4, [9.5, 5.0, 11.0, 4.5])
    got = admit_columns(order, cols)
    assert got is not None and got.ts.tolist() == [10.0, 5.0, 11.0, 5.0]
    assert order.newest == {"A": 11.0, "B": 5.0}
    late = TickColumns.of_ticks(["A"], [1.0], [9.9])
    assert admit_columns(order, late) is None and order.newest["A"] == 11.0


def test_a_block_ending_on_an_early_tick_lets_the_next_block_come_back_from_it() -> None:
    """A symbol's last tick of a block read whole, 200 s ahead of its tick before it and
    of this machine's clock, may have been early: its next tick, in the next block, comes
    back to where it was before, and is taken (the line reader words it) instead of
    stopping the input. A next tick that goes on from it clears that."""
    now = time.time()
    order = TimeOrder(1.0)
    first = TickColumns.of_ticks(
        ["A", "B", "A", "B", "A"], [1.0] * 5, [now - 4, now - 3.9, now - 3, now - 2.9, now + 200]
    )
    assert admit_columns(order, first) is first
    assert order.before_early == {"A": now - 3}
    back = TickColumns.of_ticks(["B", "A"], [1.0, 1.0], [now - 1.9, now - 2])
    assert admit_columns(order, back) is None  # too late for the block reader: by line
    assert order.admit(Tick("A", 1.0, now - 2)) == Tick("A", 1.0, now - 2)
    assert order.early == [("A", pytest.approx(202.0))] and order.newest["A"] == now - 2
    order.early.clear()
    later = TickColumns.of_ticks(["A"], [1.0], [now + 300])  # ahead again, then on from it
    assert admit_columns(order, later) is later and order.before_early == {"A": now - 2}
    assert admit_columns(order, TickColumns.of_ticks(["A"], [1.0], [now + 301])) is not None
    assert order.before_early == {}
    with pytest.raises(BadLine, match="time goes backwards by"):
        order.admit(Tick("A", 1.0, now))
