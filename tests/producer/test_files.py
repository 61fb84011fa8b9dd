"""CSV and JSON-lines reading: formats, streaming, and a clear FILE:LINE message for bad input."""

from __future__ import annotations

import io
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producer import wire
from producer.files import FileSource
from producer.lines import (
    MAX_LINE_BYTES,
    BadLine,
    CsvColumns,
    SourceError,
    make_tick,
    parse_time,
)
from producer.lookahead import LookaheadReader
from producer.wire import MAX_SYMBOL_LEN, Tick


def write(tmp_path: Path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return str(path)


def write_ticks(
    tmp_path: Path, fmt: str, times: list[float], symbols: list[str]
) -> tuple[str, list[str]]:
    """A file ``p.csv`` (with a header line) or ``p.jsonl`` of one tick per time and symbol,
    prices cycling over seven cents; its path and its header lines."""
    rows = []
    for k, (ts, symbol) in enumerate(zip(times, symbols, strict=True)):
        price = f"{100.0 + (k % 7) * 0.01:.2f}"
        if fmt == "csv":
            rows.append(f"{ts!r},{symbol},{price}")
        else:
            rows.append(f'{{"symbol":"{symbol}","price":{price},"ts":{ts!r}}}')
    header = ["ts,symbol,price"] if fmt == "csv" else []
    return write(tmp_path, f"p.{fmt}", "\n".join(header + rows) + "\n"), header


def read_all(path: str, **kwargs: object) -> list[Tick]:
    return list(FileSource(path, **kwargs))  # type: ignore[arg-type]


def error_of(path: str, **kwargs: object) -> str:
    with pytest.raises(SourceError) as info:
        read_all(path, **kwargs)
    return str(info.value)


# --- formats that must be read ---------------------------------------------------------


def test_csv_reads_epoch_and_iso_timestamps_in_any_column_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.csv",
        "price, Symbol ,TS\n10.5,ACME,1750000000.25\n10.75,ACME,2025-06-15T15:06:41Z\n",
    )
    assert read_all(path) == [
        Tick("ACME", 10.5, 1750000000.25),
        Tick("ACME", 10.75, 1750000001.0),
    ]


def test_csv_takes_a_timestamp_column_for_the_time_read_whole_or_line_by_line(
    tmp_path: Path,
) -> None:
    """pandas' to_csv and many exports call the time `timestamp`: the file was refused
    ("missing header column(s) ts")."""
    rows = "".join(f"ACME,{10 + k / 100:.2f},{1750000000 + k}\n" for k in range(3000))
    path = write(tmp_path, "p.csv", "symbol,price,timestamp\n" + rows)
    want = [Tick("ACME", round(10 + k / 100, 2), 1750000000.0 + k) for k in range(3000)]
    assert read_all(path) == want
    source = FileSource(path)
    columns = list(source.columns())  # in blocks, through the C parser
    got = [
        Tick(c.symbols[code], float(price), float(ts))
        for c in columns
        for code, price, ts in zip(c.codes, c.price, c.ts, strict=True)
    ]
    assert got == want


def test_a_daily_export_with_a_symbol_column_is_read_by_its_date_and_close(
    tmp_path: Path,
) -> None:
    """`Date,Open,High,Low,Close,Volume` with a symbol added: the date is the time and the
    close the price (a `price` column, where there is one, is the price still)."""
    path = write(
        tmp_path, "d.csv",
        "Date,Symbol,Open,High,Low,Close,Volume\n"
        "2024-01-02,SPY,472.2,473.7,470.5,472.65,123\n2024-01-03,SPY,470.4,471.2,468.2,468.79,99\n",
    )  # fmt: skip
    assert read_all(path) == [Tick("SPY", 472.65, 1704153600.0), Tick("SPY", 468.79, 1704240000.0)]
    both = write(tmp_path, "b.csv", "date,symbol,close,price\n2024-01-02,SPY,1.5,2.5\n")
    assert read_all(both) == [Tick("SPY", 2.5, 1704153600.0)]
    message = error_of(write(tmp_path, "n.csv", "Date,Open,Close\n2024-01-02,1,2\n"))
    assert "missing header column(s) symbol" in message
    assert "the time may be called time, timestamp or date, the price close" in message


def test_csv_accepts_time_as_ts_quotes_comments_blank_lines_and_crlf(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.csv",
        '# exported prices\r\ntime,symbol,price\r\n\r\n1750000000,"BRK,B",412\r\n',
    )
    assert read_all(path) == [Tick("BRK,B", 412.0, 1750000000.0)]


def test_iso_time_without_zone_is_utc() -> None:
    assert parse_time("2025-06-15T15:06:40") == 1750000000.0
    assert parse_time("2025-06-15T17:06:40+02:00") == 1750000000.0


def test_rfc3339_times_with_a_lowercase_z_or_a_leap_second_are_read() -> None:
    # Both are RFC 3339 (and ISO 8601) text; they were "neither epoch seconds nor ISO".
    assert parse_time("2025-06-15t15:06:40.25z") == 1750000000.25
    # POSIX time has no leap second: 23:59:60 is read as the second after 23:59:59
    assert parse_time("2016-12-31T23:59:60Z") == parse_time("2017-01-01T00:00:00Z")
    assert parse_time("2016-12-31T23:59:60.5+00:00") == parse_time("2017-01-01T00:00:00.5Z")
    for bad in ("2025-06-15T15:10:61Z", "2025-06-15T15:60:00Z", "12:60"):
        with pytest.raises(BadLine, match="neither epoch seconds nor ISO-8601"):
            parse_time(bad)


def test_jsonl_reads_ts_or_time_and_ignores_unknown_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.jsonl",
        '{"symbol":"ACME","price":10,"ts":1750000000,"venue":"X"}\n'
        '\n{"symbol":"ACME","price":10.5,"time":"2025-06-15T15:06:41Z"}\n',
    )
    assert read_all(path) == [Tick("ACME", 10.0, 1750000000.0), Tick("ACME", 10.5, 1750000001.0)]


def test_format_is_sniffed_when_the_name_says_nothing(tmp_path: Path) -> None:
    csv_path = write(tmp_path, "prices.txt", "ts,symbol,price\n1750000000,A,1\n")
    json_path = write(tmp_path, "prices.log", '{"symbol":"A","price":1,"ts":1750000000}\n')
    assert read_all(csv_path) == read_all(json_path) == [Tick("A", 1.0, 1750000000.0)]


def test_file_is_paced_and_stdin_is_live(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", "ts,symbol,price\n1,A,1\n")
    assert FileSource(path).paced is True
    assert FileSource("-").paced is False
    assert FileSource("-").name == "<stdin>"


def test_a_file_can_be_iterated_twice_for_replay(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", "ts,symbol,price\n1,A,1\n2,A,2\n")
    source = FileSource(path)
    assert list(source) == list(source)


def test_stdin_is_read_line_by_line_while_the_writer_is_still_writing() -> None:
    """Protects `tail -f prices.csv | limitwatch --source -`: ticks arrive before EOF."""
    read_fd, write_fd = os.pipe()
    reader = os.fdopen(read_fd, "rb")
    writer = os.fdopen(write_fd, "wb")
    writer.write(b"ts,symbol,price\n1750000000,ACME,10\n")
    writer.flush()
    ticks = iter(FileSource("-", stream=reader))
    got: list[Tick] = []
    done = threading.Event()

    def take_one() -> None:
        got.append(next(ticks))
        done.set()

    thread = threading.Thread(target=take_one, daemon=True)
    thread.start()
    assert done.wait(10), "the first tick did not arrive while the pipe was still open"
    assert got == [Tick("ACME", 10.0, 1750000000.0)]
    writer.write(b"1750000001,ACME,11\n")
    writer.close()
    assert list(ticks) == [Tick("ACME", 11.0, 1750000001.0)]
    reader.close()


def test_small_reordering_within_tolerance_is_kept_and_restamped(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", "ts,symbol,price\n100.0,A,1\n99.5,A,2\n101,A,3\n")
    assert read_all(path) == [Tick("A", 1.0, 100.0), Tick("A", 2.0, 100.0), Tick("A", 3.0, 101.0)]


def test_time_order_is_per_symbol_as_kafka_keeps_it(tmp_path: Path) -> None:
    # Partitions merged into one recording interleave symbols whose clocks differ a lot.
    path = write(tmp_path, "p.csv", "ts,symbol,price\n100,A,1\n50,B,2\n101,A,3\n51,B,4\n")
    assert read_all(path) == [
        Tick("A", 1.0, 100.0),
        Tick("B", 2.0, 50.0),
        Tick("A", 3.0, 101.0),
        Tick("B", 4.0, 51.0),
    ]


def test_a_csv_stream_that_starts_after_its_header_is_read_by_position() -> None:
    # As `tail -f prices.csv | limitwatch --source -` gives it: the last lines, no header.
    lines = b"".join(b"17500000%02d,ACME,%d.5\n" % (i, 100 + i) for i in range(10))
    source = FileSource("-", stream=LookaheadReader(_pipe_of(lines)))
    ticks = list(source)
    assert len(ticks) == 10
    assert ticks[0] == Tick("ACME", 100.5, 1750000000.0)
    assert ticks[-1] == Tick("ACME", 109.5, 1750000009.0)


def _pipe_of(data: bytes) -> int:
    r, w = os.pipe()
    os.write(w, data)
    os.close(w)
    return r


# --- bad input: one clear message naming file and line ---------------------------------


@pytest.mark.parametrize(
    ("content", "line", "expected"),
    [
        ("ts,symbol,volume\n1,A,5\n", 1, "missing header column(s) price"),
        ("ts,symbol,price,volume\n1,A,1\n", 2, "expected 4 fields, found 3"),
        ("ACME,10,1750000000\n", 1, "no header line, so the columns are read as ts,symbol"),
        ("ts,symbol\n1,A\n", 1, "missing header column(s) price"),
        ("ts,symbol,price,time\n", 1, "appear more than once"),
        (
            "timestamp,symbol,price,time\n",
            1,
            "column(s) ts appear more than once (timestamp, time)",
        ),
        ("ts,symbol,price\n1,A,nan\n", 2, "price is not finite"),
        ("ts,symbol,price\n1,A,inf\n", 2, "price is not finite"),
        ("ts,symbol,price\n1,A,0\n", 2, "price must be positive"),
        ("ts,symbol,price\n1,A,-3\n", 2, "price must be positive"),
        ("ts,symbol,price\n1,A,1e13\n", 2, "not below"),
        ("ts,symbol,price\n1,A,1e-320\n", 2, "below 1e-12: too small to be a price"),
        # too small for a float, it reads 0.0: not "must be positive, got 0.0"
        (f"ts,symbol,price\n1,A,0.{'0' * 400}1\n", 2, "below 1e-12: too small to be a price"),
        ("ts,symbol,price\n1,A,0e5\n", 2, "price must be positive"),
        ("ts,symbol,price\n1,A,-1e-400\n", 2, "price must be positive"),
        ("ts,symbol,price\n1,A,ten\n", 2, "price 'ten' is not a number"),
        ("ts,symbol,price\n1,A,１００\n", 2, "price '１００' is not a number"),  # as --limit
        # An export that writes digit separators, or a locale's ';' between columns
        ('ts,symbol,price\n1,A,"1,110.16"\n', 2, "without digit separators (1234.5, not"),
        ("ts;symbol;price\n1;A;10,5\n", 1, "its columns seem separated by ';', and only commas"),
        ("ts\tsymbol\tprice\n", 1, "its columns seem separated by '\\t'"),
        ("ts,symbol,price\n١,A,1\n", 2, "neither epoch seconds nor ISO-8601"),
        ("ts,symbol,price\nyesterday,A,1\n", 2, "neither epoch seconds nor ISO-8601"),
        ("ts,symbol,price\n1750000000000,A,1\n", 2, "looks like milliseconds"),
        ("ts,symbol,price\n1750000000000000,A,1\n", 2, "looks like microseconds"),
        ("ts,symbol,price\n1750000000000000000,A,1\n", 2, "looks like nanoseconds"),
        ("ts,symbol,price\n-5,A,1\n", 2, "before 1970"),
        ("ts,symbol,price\n1,A\n", 2, "expected 3 fields, found 2"),
        ("ts,symbol,price\n1,,1\n", 2, "symbol is empty"),
        (f"ts,symbol,price\n1,{'X' * (MAX_SYMBOL_LEN + 1)},1\n", 2, "longer than the limit"),
        ("ts,symbol,price\n1,A\x1bB,1\n", 2, "a control character"),
        (
            'ts,symbol,price\n1,A,1\n{"ts": 2, "symbol": "A", "price": 1}\n',
            3,
            "a JSON line in a CSV file: a file is all CSV or all JSON lines",  # no bad price
        ),
        ("ts,symbol,price\n1,{X},1\n{2},A,x\n", 3, "price 'x' is not a number"),  # CSV
        ("ts,symbol,price\n10,A,1\n8.5,A,1\n", 3, "time goes backwards by 1.500 s"),
        (
            "ts,symbol,price\n1796608560,A,1\n1796608555.565337,A,1\n",
            3,
            "(to 2026-12-07T01:55:55.565Z after 2026-12-07T01:56:00Z)",
        ),
        ("ts,symbol,price\n10,A,1\n8.5,A,1\n", 3, "oldest first (sort the file by time)"),
        ("ts,symbol,price\n", 1, "no ticks after the header"),
        ("", 1, "empty input"),
        ("\n\n", 2, "empty input"),
    ],
)
def test_bad_csv_names_file_line_and_problem(
    tmp_path: Path, content: str, line: int, expected: str
) -> None:
    path = write(tmp_path, "bad.csv", content)
    message = error_of(path)
    assert message.startswith(f"{path}:{line}: "), message
    assert expected in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"symbol":"A","price":1}\n', "missing field(s) ts"),
        ('{"symbol":"A","ts":1}\n', "missing field(s) price"),
        ('{"symbol":"A","price":"1","ts":1}\n', "price must be a number"),
        ('{"symbol":"A","price":true,"ts":1}\n', "price must be a number"),
        ('{"symbol":7,"price":1,"ts":1}\n', "symbol must be text, got a number"),
        ('{"symbol":"A","price":1,"ts":1\n', "not valid JSON"),
        ('{"symbol":"A","pri', "the line ends before its object does (a file cut while"),
        # what Python's json.dumps writes for float("nan") and float("inf")
        ('{"symbol":"A","price":NaN,"ts":1}\n', "(NaN and Infinity are not JSON: a number"),
        ('{"symbol":"A","price":-Infinity,"ts":1}\n', "(NaN and Infinity are not JSON"),
        ("[1, 2, 3]\n", "expected a JSON object, got an array"),
        ("null\n", "expected a JSON object, got null"),  # not "got NoneType"
        ('{"symbol":" A","price":1,"ts":1}\n', "surrounding spaces"),
        # As on the wire: a decoder keeps the last of two, another program the first.
        ('{"symbol":"A","price":1,"ts":1,"symbol":"B"}\n', "the field symbol is given twice"),
        ('{"symbol":"A","price":1,"price":9,"ts":1}\n', "the field price is given twice"),
        ('{"symbol":"A","price":1,"time":1,"time":2}\n', "the field time is given twice"),
    ],
)
def test_bad_json_line_names_file_line_and_problem(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = write(tmp_path, "bad.jsonl", content)
    message = error_of(path)
    assert message.startswith(f"{path}:1: "), message
    assert expected in message


def test_two_scenarios_joined_say_so_at_the_second_header(tmp_path: Path) -> None:
    """``cat a.jsonl b.jsonl``: the second header read "missing field(s) symbol, price,
    ts", as if it were a tick."""
    header = (
        '{"limitwatch_scenario":1,"name":"a","description":"d","symbols":["A"],'
        '"limits":{},"engine":{},"made_by":"x"}\n'
    )
    one = header + '{"symbol":"A","price":1,"ts":1}\n'
    path = write(tmp_path, "joined.jsonl", one + one)
    message = error_of(path)
    assert message.startswith(f"{path}:3: a scenario header after the first line"), message


def test_binary_file_is_refused_at_its_first_line(tmp_path: Path) -> None:
    path = write(tmp_path, "photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    message = error_of(path)
    assert message.startswith(f"{path}:1: ")
    assert "not UTF-8" in message


def test_random_bytes_with_carriage_returns_are_not_called_an_old_mac_file(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "r.bin", b"\xd3\x1f\r\x8e\x02\r\xff\x10\n\x00\x00\x07")
    assert error_of(path) == f"{path}:1: not UTF-8 text (bad byte at column 1)"


def test_nul_bytes_in_a_data_line_are_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", b"ts,symbol,price\n1,A\x00,1\n")
    assert error_of(path) == f"{path}:2: binary data (NUL byte), not text"


def test_a_gzip_file_is_named_as_one(tmp_path: Path) -> None:
    import gzip

    path = write(tmp_path, "p.csv.gz", gzip.compress(b"ts,symbol,price\n1750000000,A,10\n"))
    message = error_of(path)
    assert message.startswith(f"{path}:1: a gzip-compressed file, not text: decompress it"), message


@pytest.mark.parametrize("size", [3, MAX_LINE_BYTES // 20])
def test_lines_ending_in_a_carriage_return_alone_are_named_as_such(
    tmp_path: Path, size: int
) -> None:
    # (was "no header line ...: expected 3 fields, found 403"); long: one overlong line
    rows = "".join(f"{1750000000 + i},A,10\r" for i in range(size))
    path = write(tmp_path, "mac.csv", "ts,symbol,price\r" + rows)
    assert error_of(path) == (
        f"{path}:1: lines end in a carriage return alone (an old Mac text file): convert "
        "them first, e.g. tr '\\r' '\\n' < FILE > NEW"
    )
    assert read_all(write(tmp_path, "dos.csv", "ts,symbol,price\r\n1750000000,A,10\r\n"))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("1750000000,A,1_000", "price '1_000' is not a number"),
        ("1_750_000_000,A,10", "timestamp '1_750_000_000' is neither epoch seconds nor ISO"),
    ],
)
def test_digit_separators_are_not_numbers(tmp_path: Path, line: str, message: str) -> None:
    # float() takes them; the limits dialog, JSON and the C parser of clean blocks do not
    path = write(tmp_path, "p.csv", f"ts,symbol,price\n{line}\n")
    assert error_of(path).startswith(f"{path}:2: {message}")


def test_overlong_line_is_an_error_not_a_memory_hog(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", "ts,symbol,price\n" + "9" * (MAX_LINE_BYTES + 10) + "\n")
    assert error_of(path) == f"{path}:2: line is longer than {MAX_LINE_BYTES} bytes"


def test_missing_file_and_directory_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        FileSource(str(tmp_path / "nope.csv"))
    with pytest.raises(SourceError, match="is a directory"):
        FileSource(str(tmp_path))


def test_stdin_errors_are_named_stdin() -> None:
    stream = io.BytesIO(b"ts,symbol,price\n1,A,-1\n")
    with pytest.raises(SourceError, match=r"^<stdin>:2: price must be positive"):
        list(FileSource("-", stream=stream))


def test_skip_bad_skips_and_counts_bad_lines_keeping_the_first_reasons(tmp_path: Path) -> None:
    rows = ["ts,symbol,price", "1,A,1"] + [f"{i},A,-1" for i in range(2, 12)] + ["20,A,2"]
    path = write(tmp_path, "p.csv", "\n".join(rows) + "\n")
    source = FileSource(path, skip_bad=True)
    assert list(source) == [Tick("A", 1.0, 1.0), Tick("A", 2.0, 20.0)]
    assert source.skipped == 10
    assert len(source.skipped_reasons) == 5
    assert source.skipped_reasons[0] == f"{path}:3: price must be positive, got -1.0"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (
            "1700000000,A,abc\n1700000001,A,2\n1700000002,B,3\n",
            "no header line, so the columns are read as ts,symbol,price in that order, and "
            "the first line does not fit: price 'abc' is not a number",
        ),
        (
            '{"symbol":"A","price":"abc","ts":1700000000}\n'
            '{"symbol":"A","price":2,"ts":1700000001}\n{"symbol":"B","price":3,"ts":1700000002}\n',
            "price must be a number, got 'abc'",
        ),
    ],
    ids=["csv", "jsonl"],
)
def test_skip_bad_skips_a_bad_first_line_of_data(tmp_path: Path, content: str, reason: str) -> None:
    """A file without a header whose first line is bad: with skip_bad that line is skipped
    and counted like any other (a CSV's was refused whole), the reason saying how the
    columns were read."""
    path = write(tmp_path, "p.jsonl" if content.startswith("{") else "p.csv", content)
    source = FileSource(path, skip_bad=True)
    assert list(source) == [Tick("A", 2.0, 1700000001.0), Tick("B", 3.0, 1700000002.0)]
    assert source.skipped == 1
    assert source.skipped_reasons == [f"{path}:1: {reason}"]


def test_skip_bad_never_skips_a_bad_header(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", "ts,symbol,extra\n1,A,1\n")
    assert "missing header column(s) price" in error_of(path, skip_bad=True)


@pytest.mark.parametrize("rows", [3, 30_000])  # line by line, and a block at a time
def test_columns_besides_ts_symbol_and_price_are_read_past(tmp_path: Path, rows: int) -> None:
    # An export with a volume column was refused whole ("unknown column(s) 'volume'").
    body = [(1_750_000_000 + i, f"S{i % 7}", 100 + (i % 11) * 0.25) for i in range(rows)]
    plain = write(
        tmp_path, "p.csv", "ts,symbol,price\n" + "".join(f"{t},{s},{p}\n" for t, s, p in body)
    )
    extra = write(
        tmp_path, "x.csv",
        "Volume,price,bid,TS,symbol,note\n"
        + "".join(f"{i},{p},{p - 1},{t},{s},n{i}\n" for i, (t, s, p) in enumerate(body)),
    )  # fmt: skip
    assert read_all(extra) == read_all(plain)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            "p.csv",
            "ts,symbol,price\n1,A,x\n2,A,-1\n",
            "no ticks: all 2 lines after the header were bad; first: {path}:2: price 'x' is",
        ),
        ("p.jsonl", "nope\n", "no ticks: the only line was bad: {path}:1: not valid JSON"),
    ],
)
def test_skip_bad_with_every_line_bad_is_an_error_naming_the_first(
    tmp_path: Path, name: str, content: str, expected: str
) -> None:
    """Protects `backtest --skip-bad` from reporting an all-bad file as an empty success."""
    path = write(tmp_path, name, content)
    assert error_of(path, skip_bad=True).startswith(f"{path}: {expected.format(path=path)}")


# --- a scenario header, before the ticks ---------------------------------------------------

SCENARIO = (
    b'{"limitwatch_scenario":1,"name":"s","description":"d","limits":{"A":[0.5,2.0]},'
    b'"engine":{"fast":4}}\n{"symbol":"A","price":1,"ts":1}\n{"symbol":"A","price":1.5,"ts":2}\n'
)


@pytest.mark.parametrize("name", ["s.txt", "s", "s.jsonl"])
def test_a_scenario_header_in_a_file_of_any_name_is_taken_before_any_tick(
    tmp_path: Path, name: str
) -> None:
    """Protects `backtest s.txt`, which builds its engine from the header before reading."""
    source = FileSource(write(tmp_path, name, b"\n" + SCENARIO))
    assert (source.limits, source.engine) == ({"A": (0.5, 2.0)}, {"fast": 4})
    assert list(source) == [Tick("A", 1.0, 1.0), Tick("A", 1.5, 2.0)]


def test_a_bad_header_in_a_file_is_reported_with_the_ticks_not_when_opened(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "s.txt", SCENARIO.replace(b'_scenario":1', b'_scenario":9'))
    source = FileSource(path)
    assert (source.limits, source.engine) == ({}, {})
    with pytest.raises(SourceError, match=r"s.txt:1: unsupported scenario version 9"):
        list(source)


def test_a_fifo_is_not_read_ahead_when_opened(tmp_path: Path) -> None:
    """Reading a FIFO's first line early would take it from the ticks (`backtest <(...)`)."""
    fifo = tmp_path / "ticks"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # a writer, so opening to read never waits
    try:
        os.write(fd, SCENARIO)
        source = FileSource(str(fifo))
        assert os.read(fd, len(SCENARIO) + 1) == SCENARIO  # all still in the pipe
        assert source.limits == {}
    finally:
        os.close(fd)


def test_a_scenario_header_after_comment_lines_is_taken_when_opened(tmp_path: Path) -> None:
    source = FileSource(write(tmp_path, "s.txt", b"# made by hand\n\n" + SCENARIO))
    assert (source.limits, source.engine) == ({"A": (0.5, 2.0)}, {"fast": 4})


def test_read_header_takes_a_header_from_standard_input_and_loses_no_line() -> None:
    r, w = os.pipe()
    os.write(w, SCENARIO)
    os.close(w)
    reader = LookaheadReader(r)
    source = FileSource("-", stream=reader)
    try:
        assert source.read_header(math.inf)
        assert (source.limits, source.engine) == ({"A": (0.5, 2.0)}, {"fast": 4})
        assert list(source) == [Tick("A", 1.0, 1.0), Tick("A", 1.5, 2.0)]
    finally:
        reader.close()


# --- the same rules as the wire --------------------------------------------------------


@given(
    symbol=st.text(max_size=MAX_SYMBOL_LEN + 2),
    price=st.floats(allow_nan=True, allow_infinity=True) | st.integers(-5, 5),
    ts=st.floats(allow_nan=True, allow_infinity=True),
)
def test_make_tick_accepts_exactly_what_the_wire_accepts(
    symbol: str, price: float, ts: float
) -> None:
    try:
        tick = make_tick(symbol, price, ts)
    except BadLine:
        accepted = False
    else:
        accepted = True
        assert wire.decode(wire.encode(tick)) == tick
    if not accepted and (
        isinstance(price, float | int) and math.isfinite(price) and math.isfinite(ts)
    ):
        payload = wire._encoder.encode({"symbol": symbol, "price": price, "ts": ts})
        with pytest.raises(wire.BadTick):
            wire.decode(payload)


@given(
    symbol=st.text(alphabet=st.characters(exclude_characters=',"\n\r'), max_size=8),
    price=st.sampled_from(["1", "0", "-2", "nan", "inf", "1e12", "9.5e11", "x", " 3.5 "]),
    ts=st.sampled_from(["0", "-1", "1e11", "99999999999", "nan", "2025-06-15T15:06:40Z", "?"]),
)
def test_csv_fast_path_accepts_and_refuses_exactly_like_make_tick(
    symbol: str, price: str, ts: str
) -> None:
    columns = CsvColumns("ts,symbol,price")
    try:
        expected: Tick | None = make_tick(symbol.strip(), float(price), ts.strip())
    except (BadLine, ValueError):
        expected = None
    for _ in range(2):  # the second time the symbol is already known
        try:
            got: Tick | None = columns.tick(f"{ts},{symbol},{price}")
        except BadLine:
            got = None
        assert got == expected


@pytest.mark.parametrize("block_bytes", [64, 1 << 20], ids=["line by line", "in blocks"])
def test_a_quantity_may_be_zero_or_below_and_a_price_may_not(
    tmp_path: Path, block_bytes: int
) -> None:
    rows = [(f"{1_750_000_000 + i}", "temp.out", f"{v}") for i, v in enumerate((2, 0, -3.5))]
    rows.append(("1750000009", "ACME", "10"))
    path = tmp_path / "t.csv"
    path.write_text("ts,symbol,price\n" + "".join(",".join(r) + "\n" for r in rows))
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text("".join(f'{{"ts":{t},"symbol":"{s}","price":{v}}}\n' for t, s, v in rows))
    for file, zero_at in ((path, 3), (jsonl, 2)):  # the CSV's first line is its header
        source = FileSource(file, additive=["temp.*"])
        source.block_bytes = block_bytes
        assert [t.price for t in source] == [2.0, 0.0, -3.5, 10.0]
        prices = [p for cols in source.columns() for p in cols.price.tolist()]
        assert prices == [2.0, 0.0, -3.5, 10.0]
        with pytest.raises(SourceError, match=rf":{zero_at}: price must be positive, got 0"):
            list(FileSource(file))


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@pytest.mark.parametrize("ticks", [30, 30_000])  # a line read alone, and a block read fast
def test_a_line_dated_years_ahead_is_the_bad_one_not_the_lines_after_it(
    tmp_path: Path, fmt: str, ticks: int
) -> None:
    """One tick dated 2033 in a recording: with --skip-bad only that line is skipped and
    every later tick of its symbol is kept; without, the error names that very line."""
    t0, bad_at = 1_750_000_000.0, ticks // 2
    times = [1_996_427_570.4 if k == bad_at else t0 + k * 0.01 for k in range(ticks)]
    path, header = write_ticks(
        tmp_path, fmt, times, ["ACME" if k % 3 else "BRIX" for k in range(ticks)]
    )
    source = FileSource(path, skip_bad=True)
    got = list(source)
    assert len(got) == ticks - 1 and source.skipped == 1
    assert max(t.ts for t in got) < t0 + ticks
    line = bad_at + 1 + len(header)
    assert source.skipped_reasons[0].startswith(f"{path}:{line}: time 2033-04-06T")
    assert "ahead of this machine's clock" in source.skipped_reasons[0]
    with pytest.raises(SourceError, match=rf":{line}: time 2033-04-06T"):
        list(FileSource(path))


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@pytest.mark.parametrize("where", ["alone", "in a block", "at a block's end"])
@pytest.mark.parametrize("ahead", [1800.0, 30 * 86400.0])  # a minute, a month mistyped
def test_a_past_line_dated_ahead_of_the_lines_around_it_is_the_bad_one(
    tmp_path: Path, fmt: str, where: str, ahead: float
) -> None:
    """A recording of the past with one date mistyped: the error named a good line after
    it ("time goes backwards"), and with --skip-bad the good lines of its symbol after it
    were dropped (505 of 3,000), the bad one kept, and every other symbol's tick after it
    was late. Now that line alone is refused or skipped, wherever it falls in the blocks
    the file is read in."""
    ticks = 30 if where == "alone" else 30_000
    block = 65_536
    times = [1_750_000_000.0 + k for k in range(ticks)]
    symbols = ["ACME" if k % 3 else "BRIX" for k in range(ticks)]
    bad_at = ticks // 2
    if where == "at a block's end":  # the last line of the first block read fast
        path, header = write_ticks(tmp_path, fmt, times, symbols)
        data = Path(path).read_bytes()[:block]
        bad_at = data[: data.rfind(b"\n")].count(b"\n") - len(header)
    symbols[bad_at] = "ACME"
    times[bad_at] += ahead  # as many digits: the lines keep their lengths
    path, header = write_ticks(tmp_path, fmt, times, symbols)
    source = FileSource(path, skip_bad=True)
    source.block_bytes = block
    got = list(source)
    assert len(got) == ticks - 1 and source.skipped == 1
    assert [t.ts for t in got] == times[:bad_at] + times[bad_at + 1 :]
    line = bad_at + 1 + len(header)
    assert source.skipped_reasons[0].startswith(f"{path}:{line}: the time of ACME, ")
    assert "a mistyped date or time? This line is out of place" in source.skipped_reasons[0]
    strict = FileSource(path)
    strict.block_bytes = block
    with pytest.raises(SourceError, match=rf":{line}: the time of ACME, .* past its next tick"):
        list(strict)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@pytest.mark.parametrize("ticks", [30, 30_000])
@pytest.mark.parametrize("last", [False, True])
def test_a_night_without_ticks_is_read_through(
    tmp_path: Path, fmt: str, ticks: int, last: bool
) -> None:
    """Every symbol silent for a night, then ticking again (or only one tick after it, the
    file's last): no tick is refused, held back or moved."""
    t0 = 1_750_000_000.0
    times = [t0 + k + (16 * 3600.0 if k >= (ticks - 1 if last else ticks // 2) else 0.0)
             for k in range(ticks)]  # fmt: skip
    path, _ = write_ticks(tmp_path, fmt, times, [f"S{k % 4}" for k in range(ticks)])
    got = read_all(path)
    assert [t.ts for t in got] == times
    streamed = FileSource("-", stream=io.BytesIO(Path(path).read_bytes()))
    assert [t.ts for t in streamed] == times


@pytest.mark.parametrize(
    "case", ["two in a row", "three in a row", "two apart", "the first line", "long silence"]
)
def test_mistyped_dates_are_each_refused_where_they_are(tmp_path: Path, case: str) -> None:
    """Two or three lines mistyped together (a second such line let the first through,
    and 988 good lines were dropped), the file's first line (none before it), and a
    line whose symbol ticks again only 120,000 lines on (it was taken after 100,000)."""
    t0, n = 1_750_000_000.0, 3_000
    symbols = ["AAA", "BBB", "CCC"] * (n // 3)
    times = [t0 + k * 0.25 for k in range(n)]
    bad = {
        "two in a row": [1500, 1501],
        "three in a row": [1500, 1501, 1502],
        "two apart": [1500, 1502],
        "the first line": [0],
        "long silence": [1500],
    }[case]
    for i, k in enumerate(bad):
        times[k] += 30 * 86400.0 + 86400.0 * i
    if case == "long silence":  # 120,000 ticks of others between AAA's line and its next
        others = [("BBB", "CCC")[k % 2] for k in range(120_000)]
        gap = [times[1500] - 30 * 86400.0 + 0.001 * (k + 1) for k in range(120_000)]
        later = [t + 200.0 for t in times[1501:]]
        symbols = symbols[:1501] + others + symbols[1501:]
        times = times[:1501] + gap + later
    path, header = write_ticks(tmp_path, "csv", times, symbols)
    source = FileSource(path, skip_bad=True)
    got = list(source)
    kept = [t for k, t in enumerate(times) if k not in bad]
    assert [t.ts for t in got] == kept
    lines = [k + 1 + len(header) for k in bad]
    assert [r.split(": the time of")[0] for r in source.skipped_reasons] == [
        f"{path}:{line}" for line in lines
    ]


def test_after_a_night_the_line_that_goes_back_before_its_symbol_is_the_bad_one(
    tmp_path: Path,
) -> None:
    # The night's first tick was blamed for the year-old line after it.
    t0 = 1_750_000_000.0
    times = [t0 + k for k in range(60)] + [t0 + 60 + 16 * 3600.0 + k for k in range(60)]
    symbols = ["AAA", "BBB"] * 60
    symbols[61], times[61] = "AAA", t0 - 365 * 86400.0  # right after AAA's first of the day
    path, header = write_ticks(tmp_path, "csv", times, symbols)
    source = FileSource(path, skip_bad=True)
    got = list(source)
    assert [t.ts for t in got] == times[:61] + times[62:]
    assert source.skipped_reasons[0].startswith(f"{path}:{62 + len(header)}: time goes back")


def test_a_mistyped_date_on_a_stream_is_refused_where_it_is() -> None:
    rows = [f"{1_750_000_000.0 + k},{'AB'[k % 2]},100.00" for k in range(40)]
    rows[21] = f"{1_750_000_000.0 + 21 + 86400 * 30},B,100.00"
    data = ("ts,symbol,price\n" + "\n".join(rows) + "\n").encode()
    source = FileSource("-", stream=io.BytesIO(data), skip_bad=True)
    got = list(source)
    assert len(got) == 39 and source.skipped_reasons[0].startswith("<stdin>:23: the time of B")


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@pytest.mark.parametrize("ticks", [30, 30_000])  # a line read alone, and a block read fast
def test_one_tick_dated_minutes_ahead_of_its_neighbours_does_not_stop_the_input(
    tmp_path: Path, fmt: str, ticks: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A live feed's tick dated 200 s ahead (within the 300 s a tick may be ahead): every
    later tick of its symbol went "backwards" by 200 s, so the source stopped at the good
    line after it, every symbol with it (with --skip-bad, that symbol's ticks were dropped
    for 200 s). The early tick is taken as it came, the ones after it too, and said."""
    t0, early_at = time.time() - ticks * 0.01, ticks // 2
    times = [t0 + k * 0.01 + (200.0 if k == early_at else 0.0) for k in range(ticks)]
    symbols = ["ACME" if k % 2 else "BRIX" for k in range(ticks)]
    path, header = write_ticks(tmp_path, fmt, times, symbols)
    source = FileSource(path)
    with caplog.at_level("WARNING", logger="producer.files"):
        got = list(source)
    assert source.skipped == 0 and source.early == 1
    assert [(t.symbol, t.ts) for t in got] == list(zip(symbols, times, strict=True))
    line = early_at + 3 + len(header)  # its symbol's next tick, two lines on
    symbol = symbols[early_at]
    assert f"{path}:{line}: the time of {symbol} goes back" in caplog.text
    assert "that tick came early" in caplog.text


def test_a_tick_going_back_that_is_not_after_an_early_one_is_still_refused(
    tmp_path: Path,
) -> None:
    """Times going back in a recording of the past (a file not sorted by time), or after
    a symbol's first tick, are refused as before: only a tick ahead of this machine's
    clock can have been early."""
    for rows in (
        ["1750000000,A,1", "1750000100,A,1", "1750000050,A,1"],  # the past
        [f"{time.time() + 100.0!r},A,1", f"{time.time()!r},A,1"],  # its first tick
    ):
        path = write(tmp_path, "back.csv", "\n".join(["ts,symbol,price", *rows]) + "\n")
        assert "time goes backwards" in error_of(path)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ('{"symbol":"A","price":1' + "0" * 400 + ',"ts":1750000000}', "price 1000"),
        ('{"symbol":"A","price":100,"ts":1' + "0" * 400 + "}", "timestamp 1000"),
        ('{"symbol":"A","price":100,"ts":1750000000,"x":' + "[" * 2000 + "]" * 2000 + "}",
         "nested too deeply"),
    ],
)  # fmt: skip
def test_hostile_json_lines_are_bad_lines_not_tracebacks(
    tmp_path: Path, line: str, why: str
) -> None:
    """A number too big for a float and nesting deeper than the decoder recurses are a
    line's problems like any other: named with FILE:LINE, skipped with --skip-bad."""
    good = '{"symbol":"A","price":100,"ts":1750000001}'
    path = write(tmp_path, "p.jsonl", f"{good}\n{line}\n{good}\n")
    with pytest.raises(SourceError, match=rf":2: .*{why}"):
        list(FileSource(path))
    source = FileSource(path, skip_bad=True)
    assert len(list(source)) == 2 and source.skipped == 1


def test_a_character_device_of_zeros_is_binary_at_once_not_read_for_ever() -> None:
    with pytest.raises(SourceError, match=r"/dev/zero:1: binary data"):
        list(FileSource("/dev/zero", fmt="csv"))


def test_an_iso_time_out_of_range_is_not_asked_about_milliseconds(tmp_path: Path) -> None:
    path = write(tmp_path, "p.jsonl", '{"symbol":"A","price":1,"ts":"9999-12-31T23:59:59Z"}\n')
    with pytest.raises(SourceError, match=r"out of range \(a time before 5138 expected\)$"):
        list(FileSource(path))


@pytest.mark.parametrize("ticks", [30, 30_000])
def test_a_file_ahead_of_the_clock_from_its_first_line_reads_whole(
    tmp_path: Path, ticks: int
) -> None:
    """Only a leap into the future is refused: a recording of a generator sped up with
    `+`, dated hours ahead from its first line on, is read as it always was."""
    t0 = time.time() + 7200.0
    rows = [f"{t0 + k * 0.5!r},S{k % 5},{100.0 + k % 3:.2f}" for k in range(ticks)]
    path = write(tmp_path, "ahead.csv", "\n".join(["ts,symbol,price", *rows]) + "\n")
    got = list(FileSource(path))
    assert len(got) == ticks and got[-1].ts == pytest.approx(t0 + (ticks - 1) * 0.5)


def test_a_field_given_twice_deep_in_a_file_is_refused_by_the_block_reader_too(
    tmp_path: Path,
) -> None:
    good = "".join(f'{{"ts":{1_700_000_000 + i},"symbol":"A","price":100}}\n' for i in range(500))
    twice = '{"ts":1700000600,"symbol":"A","price":100,"symbol":"B"}\n'
    path = write(tmp_path, "twice.jsonl", good + twice)
    message = error_of(path)
    assert message.startswith(f"{path}:501: the field symbol is given twice"), message


@pytest.mark.parametrize(
    ("codec", "name"),
    [("utf-16", "UTF-16"), ("utf-16-be", None), ("utf-32", "UTF-32"), ("utf-32-be", None)],
)
def test_a_utf16_or_utf32_file_is_said_to_be_one_with_how_to_convert_it(
    tmp_path: Path, codec: str, name: str | None
) -> None:
    # UTF-32's byte order mark starts with UTF-16's: it was called UTF-16, and the iconv
    # command given left a file that still failed.
    text = "ts,symbol,price\n1700000000,A,10\n"
    if name is None:  # big-endian, with its mark written out
        name = codec.split("-")[0].upper() + "-" + codec.split("-")[1]
        raw = "\ufeff".encode(codec) + text.encode(codec)
    else:
        raw = text.encode(codec)
    path = write(tmp_path, "u.csv", raw)
    message = error_of(path)
    assert message.startswith(f"{path}:1: {name} text"), message
    assert f"iconv -f {name} -t UTF-8" in message


@pytest.mark.parametrize("cut", [0, 1_000_017])
def test_a_file_that_shrinks_while_it_is_read_says_so(tmp_path: Path, cut: int) -> None:
    """Emptied while a replay read it, a file ended without a word (the ticks after were
    gone); cut inside a line, it stopped on that line ("expected 3 fields, found 2")."""
    path = tmp_path / "big.csv"
    lines = [f"{1.75e9 + i:.3f},SYM{i % 7},{100 + i % 13}.25\n" for i in range(200_000)]
    path.write_text("ts,symbol,price\n" + "".join(lines))
    source = FileSource(str(path))
    source.block_bytes = 1 << 16
    ticks = iter(source)
    for _ in range(5000):  # some blocks read, most of the file not
        next(ticks)
    with open(path, "r+b") as f:
        f.truncate(cut)
    with pytest.raises(SourceError) as info:
        for _ in ticks:
            pass
    assert "the file shrank as it was read (" in str(info.value)
    assert "bytes): truncated or rewritten? Read a copy that stays as it is" in str(info.value)
    assert str(info.value).startswith(f"{path}:")


def test_a_whole_file_read_to_its_end_is_no_shrinking(tmp_path: Path) -> None:
    path = tmp_path / "whole.csv"
    path.write_text("ts,symbol,price\n" + "".join(f"{i}.0,A,{10 + i}\n" for i in range(1, 500)))
    source = FileSource(str(path))
    source.block_bytes = 1 << 10
    assert len(list(source)) == 499


def test_a_link_that_loops_or_leads_nowhere_is_said_to_be_one(tmp_path: Path) -> None:
    # Both read "no such file" (and, without a known suffix, "unknown source").
    from producer.sources import open_source

    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    (tmp_path / "gone.csv").symlink_to(tmp_path / "nowhere.csv")
    for name, said in (
        ("a", "a symbolic link that loops"),
        ("gone.csv", f"a symbolic link to {tmp_path / 'nowhere.csv'}, which does not exist"),
    ):
        with pytest.raises(SourceError) as info:
            open_source(str(tmp_path / name))
        assert str(info.value) == f"{tmp_path / name}: {said}"
        # replay checks its file before it starts the monitor: said the same way
        replay = subprocess.run(
            [sys.executable, "-m", "tui.cli", "replay", str(tmp_path / name)],
            cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True,
            timeout=60, env={**os.environ, "HOME": str(tmp_path)},
        )  # fmt: skip
        assert replay.returncode == 2
        assert replay.stderr.strip() == f"limitwatch: {tmp_path / name}: {said}"
