"""Live input from a pipe: lines are read as they come, a quiet pipe never blocks
stopping, and the producer keeps its counters fresh while it waits."""

from __future__ import annotations

import io
import logging
import os
import threading
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from producer.broker import EmbeddedBroker
from producer.files import FileSource
from producer.kafka_producer import ProducerThread
from producer.lookahead import LookaheadReader
from producer.topics import ensure_topics
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def test_pipe_reader_returns_lines_and_the_tail_at_end_of_input() -> None:
    r, w = os.pipe()
    os.write(w, b"a,b\nlong-line-here\ntail")
    os.close(w)
    reader = LookaheadReader(r, threading.Event())
    assert reader.readline() == b"a,b\n"
    assert reader.readline(5) == b"long-"
    assert reader.readline() == b"line-here\n"
    assert reader.readline() == b"tail"
    assert reader.readline() == b""
    reader.close()


def test_a_quiet_pipe_does_not_block_a_stop() -> None:
    r, w = os.pipe()
    stop = threading.Event()
    reader = LookaheadReader(r, stop)
    got: list[bytes] = []
    t = threading.Thread(target=lambda: got.append(reader.readline()))
    t.start()
    stop.set()
    t.join(2)
    assert not t.is_alive(), "readline kept waiting after stop"
    assert got == [b""]
    os.close(w)
    reader.close()


@pytest.mark.kafka
def test_producer_on_a_quiet_pipe_reports_deliveries_and_stops(
    broker: EmbeddedBroker, topic: str
) -> None:
    ensure_topics(broker.bootstrap, topic, partitions=1)
    r, w = os.pipe()
    stop = threading.Event()
    source = FileSource("-", stream=LookaheadReader(r, stop))
    thread = ProducerThread(broker.bootstrap, source, topic=topic)
    thread.start()
    os.write(w, b"ts,symbol,price\n1,A,10\n2,A,11\n3,B,5\n")  # then the pipe stays open
    wait_until(lambda: thread.stats().delivered >= 3, 15)
    assert thread.stats().delivered == 3, "deliveries were not reported while the pipe was quiet"
    stop.set()
    thread.stop()
    thread.join(2)
    assert not thread.is_alive()
    assert thread.stats().finished and thread.stats().failed == 0
    os.close(w)


def test_peek_line_waits_for_the_first_line_and_leaves_it_to_be_read() -> None:
    r, w = os.pipe()
    reader = LookaheadReader(r, threading.Event())
    assert reader.peek_line(0.05, 100) is None  # nothing written yet: gives up in time
    os.write(w, b"first\nsecond\n")
    assert reader.peek_line(1.0, 100) == b"first\n"
    assert reader.peek_line(1.0, 100) == b"first\n"
    assert reader.readline() == b"first\n"
    assert reader.readline() == b"second\n"
    os.close(w)
    reader.close()


def test_peek_line_refuses_a_first_line_longer_than_its_limit() -> None:
    r, w = os.pipe()
    reader = LookaheadReader(r, threading.Event())
    os.write(w, b"x" * 64)  # no newline yet, already past the limit
    assert reader.peek_line(1.0, 16) is None
    os.write(w, b"\n")
    assert reader.peek_line(1.0, 16) is None
    assert reader.readline() == b"x" * 64 + b"\n"  # nothing was lost
    os.close(w)
    assert reader.peek_line(1.0, 16) == b""  # end of input
    reader.close()


def _piped(data: bytes, close: bool = True) -> tuple[FileSource, int]:
    r, w = os.pipe()
    if data:
        os.write(w, data)
    if close:
        os.close(w)
    return FileSource("-", stream=LookaheadReader(r, threading.Event())), w


def test_a_piped_scenario_header_is_taken_before_the_ticks_and_no_tick_is_lost() -> None:
    path = ROOT / "scenarios" / "crash.jsonl"
    source, _w = _piped(path.read_bytes())
    assert source.read_header(1.0)
    assert source.limits == {"CYGN": (48.5, 52.0), "DRVX": (300.0, 320.0)}
    assert source.engine["fast"] == 10 and source.engine["slow"] == 40
    assert list(source) == list(FileSource(path))


@pytest.mark.parametrize(
    "first",
    [
        b"ts,symbol,price\n1,A,10\n",
        b'{"symbol":"A","price":10,"ts":1}\n',
        b'{"limitwatch_scenario":',
    ],
    ids=["csv", "a tick", "a broken header"],
)
def test_no_header_is_taken_from_other_first_lines(first: bytes) -> None:
    source, _w = _piped(first)
    assert not source.read_header(1.0)
    assert source.limits == {} and source.engine == {}


def test_blank_lines_before_a_piped_header_do_not_hide_it() -> None:
    scenario = (ROOT / "scenarios" / "crash.jsonl").read_bytes()
    source, _w = _piped(b"\n \r\n" + scenario)
    assert source.read_header(1.0)
    assert source.engine["fast"] == 10
    assert list(source) == list(FileSource(ROOT / "scenarios" / "crash.jsonl"))


def test_a_header_later_than_the_wait_still_brings_its_limits_with_the_ticks() -> None:
    source, w = _piped(b"", close=False)
    assert not source.read_header(0.05)
    header = (ROOT / "scenarios" / "crash.jsonl").read_bytes().split(b"\n", 2)
    os.write(w, header[0] + b"\n" + header[1] + b"\n")
    os.close(w)
    assert len(list(source)) == 1
    assert source.limits["CYGN"] == (48.5, 52.0)


_LINES = st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")), max_size=4)


def _first_non_blank(rest: bytes, limit: int) -> bytes | None:
    """What peek_line promises: the first line of `rest` that is not blank, None if it
    ends (or `rest` does) past `limit` bytes."""
    start = 0
    while (end := rest.find(b"\n", start)) >= 0:
        if end >= limit:
            return None
        if rest[start : end + 1].strip():
            return rest[start : end + 1]
        start = end + 1
    return None if len(rest) > limit else rest[start:]


@given(
    data=_LINES.map(b"\n".join) | _LINES.map(lambda lines: b"".join(x + b"\n" for x in lines)),
    calls=st.lists(st.tuples(st.booleans(), st.integers(-1, 14)), max_size=12),
)
@example(data=b"\n \nab\ncd\n", calls=[(True, 10), (False, -1), (True, 3), (False, 2)])
@example(data=b"\n\x00", calls=[(False, 1), (True, 1), (True, 0)])
@example(data=b"", calls=[(True, 0)])
@example(data=b"abcdef\nx", calls=[(True, 2), (True, 10), (False, 3), (True, 1)])
@example(data=b"\x00", calls=[(True, 0), (False, 0)])
def test_lookahead_reader_peeks_without_losing_or_repeating_a_byte(
    data: bytes, calls: list[tuple[bool, int]]
) -> None:
    r, w = os.pipe()
    os.write(w, data)
    os.close(w)
    reader, plain = LookaheadReader(r, threading.Event()), io.BytesIO(data)
    try:
        for peek, limit in calls:
            if peek and limit >= 0:
                rest = data[plain.tell() :]
                assert reader.peek_line(1.0, limit) == _first_non_blank(rest, limit)
            else:
                assert reader.readline(limit) == plain.readline(limit)
        assert list(iter(reader.readline, b"")) == list(iter(plain.readline, b""))
    finally:
        reader.close()


@pytest.mark.kafka
def test_a_source_that_fails_says_where_and_what_without_a_class_name(
    broker: EmbeddedBroker, topic: str
) -> None:
    """A file whose header lacks a column stops the producer with the reader's own
    `FILE:LINE: what is wrong`, as the monitor shows it (it read `SourceError: ...`)."""
    ensure_topics(broker.bootstrap, topic, partitions=1)
    source = FileSource("-", stream=io.BytesIO(b"sym,price,ts\nA,10,1\n"))
    thread = ProducerThread(broker.bootstrap, source, topic=topic)
    thread.start()
    thread.join(15)
    error = thread.stats().last_error
    assert error.startswith("<stdin>:1: missing header column(s) symbol"), error


def test_a_named_pipe_nobody_writes_to_says_so_and_does_not_block_a_stop(
    tmp_path: Path,
) -> None:
    # Opening a named pipe waits for a writer: the monitor showed "0 symbols" with no
    # word of it, and on quit said a thread did not stop in time.
    fifo = tmp_path / "ticks.csv"
    os.mkfifo(fifo)
    producer = ProducerThread("127.0.0.1:1", FileSource(str(fifo)))
    producer.start()
    wait_until(lambda: producer.stats().waiting == f"the first tick on the pipe {fifo}", 10)
    producer.stop()
    producer.join(5)
    assert not producer.is_alive()
    stats = producer.stats()
    assert stats.finished and stats.produced == 0 and not stats.last_error, stats


def test_a_named_pipe_released_before_its_read_opens_it_leaves_no_thread_waiting(
    tmp_path: Path,
) -> None:
    """A stop that came before the read had opened the pipe (its writer opened and closed
    at once, with no reader yet) left the open waiting for a writer for ever: a thread
    behind every such stop."""
    fifo = tmp_path / "ticks.csv"
    os.mkfifo(fifo)
    source = FileSource(str(fifo))
    source.release()  # before any read
    reader = threading.Thread(target=lambda: list(source), daemon=True)
    reader.start()
    reader.join(5)
    assert not reader.is_alive()
    assert source._unblock is None  # what the release held open is closed


def _pipe_producer(
    tmp_path: Path, broker: EmbeddedBroker, topic: str
) -> tuple[Path, ProducerThread]:
    """A named pipe, and a started producer reading it unpaced into `topic`."""
    ensure_topics(broker.bootstrap, topic, partitions=1)
    fifo = tmp_path / "ticks.csv"
    os.mkfifo(fifo)
    producer = ProducerThread(
        broker.bootstrap, FileSource(str(fifo)), topic=topic, speed=float("inf")
    )
    producer.start()
    return fifo, producer


def test_a_named_pipe_with_a_writer_is_read_and_the_wait_cleared(
    tmp_path: Path, broker: EmbeddedBroker, topic: str
) -> None:
    fifo, producer = _pipe_producer(tmp_path, broker, topic)
    assert producer.source.named_pipe()  # type: ignore[attr-defined]
    assert not FileSource(str(ROOT / "README.md")).named_pipe()
    wait_until(lambda: producer.stats().waiting != "", 10)
    with open(fifo, "w") as w:
        w.write("ts,symbol,price\n1750000000,A,10\n1750000001,A,11\n")
    wait_until(lambda: producer.stats().finished, 15, what=lambda: str(producer.stats()))
    stats = producer.stats()
    assert stats.delivered == 2 and stats.waiting == "" and not stats.last_error, stats
    producer.stop()
    producer.join(5)
    assert not producer.is_alive()


@pytest.mark.kafka
def test_a_named_pipe_whose_writer_is_quiet_does_not_block_a_stop(
    tmp_path: Path, broker: EmbeddedBroker, topic: str
) -> None:
    # A writer that sent its ticks and stays connected: the read waited for its next
    # line, and `produce --source FIFO` took its whole 5 s join to stop on Ctrl-C.
    fifo, producer = _pipe_producer(tmp_path, broker, topic)
    with open(fifo, "w") as w:  # opens once the producer's open waits for a writer
        w.write("ts,symbol,price\n1750000000,A,10\n1750000001,A,11\n")
        w.flush()
        wait_until(lambda: producer.stats().delivered == 2, 15, what=lambda: str(producer.stats()))
        producer.stop()
        producer.join(2)
        stopped = not producer.is_alive()
    producer.join(5)  # the writer gone, a read that waited ends too
    assert stopped, "the producer kept waiting for the quiet writer's next line"
    stats = producer.stats()
    assert stats.delivered == 2 and stats.failed == 0 and not stats.last_error, stats


def test_a_bad_line_is_logged_in_one_line_without_a_stack(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The log held "producer stopped on an error" and two chained tracebacks (BadLine,
    # then SourceError) for what the screen said in one line.
    path = tmp_path / "ticks.csv"
    path.write_text("ts,symbol,price\n1750000000,A,10\nnot a line\n")
    producer = ProducerThread("127.0.0.1:1", FileSource(str(path)), speed=float("inf"))
    with caplog.at_level(logging.ERROR, logger="producer.kafka_producer"):
        producer.start()
        producer.join(10)
    assert not producer.is_alive()
    said = f"{path}:3: "
    assert producer.stats().last_error.startswith(said), producer.stats()
    records = [r for r in caplog.records if r.name == "producer.kafka_producer"]
    assert len(records) == 1 and records[0].exc_info is None, records
    assert said in records[0].getMessage()


def test_produce_count_keeps_what_a_named_pipe_source_tells(tmp_path: Path) -> None:
    # --count wraps the source: without its `streaming`, `release` and `named_pipe`, a
    # pipe was read in the sending thread again (0 delivered after 15 s, a 6 s stop).
    from tui.runtime.headless import _Limited

    fifo = tmp_path / "ticks.csv"
    os.mkfifo(fifo)
    limited = _Limited(FileSource(str(fifo)), 5)  # type: ignore[arg-type]
    assert limited.streaming and limited.named_pipe() and callable(limited.release)
    assert limited.name == f"{fifo}[:5]" and limited.paced
