"""A file whose last line has no newline, read live (the monitor's --source, replay,
produce): its last price may have been cut short while the file was written (100.5 cut
to 10 is still a price, a false BUY), so the producer says so once the file has ended, as
the backtest of the same file does. Said only of a file read to its end."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from producer.broker import EmbeddedBroker
from producer.files import FileSource
from producer.kafka_producer import ProducerThread
from producer.topics import ensure_topics
from tests.waiting import wait_until

pytestmark = pytest.mark.kafka


def _csv(path: Path, ticks: int, tail: bytes, step: float = 1.0) -> Path:
    start = time.time() - 1000.0
    lines = [f"{start + step * i:.3f},PENNY,2.95\n" for i in range(ticks)]
    path.write_bytes(("ts,symbol,price\n" + "".join(lines)).encode() + tail)
    return path


def _run(broker: EmbeddedBroker, topic: str, path: Path) -> ProducerThread:
    ensure_topics(broker.bootstrap, topic, partitions=1)
    thread = ProducerThread(broker.bootstrap, FileSource(str(path)), topic=topic, speed=1e9)
    thread.start()
    return thread


def test_a_file_read_to_an_end_without_a_newline_leaves_a_note(
    tmp_path: Path, broker: EmbeddedBroker, topic: str
) -> None:
    cut = _csv(tmp_path / "cut.csv", 30, f"{time.time() - 900:.3f},PENNY,2".encode())
    thread = _run(broker, topic, cut)
    thread.join(20)
    stats = thread.stats()
    assert stats.finished and stats.last_error == "" and stats.produced == 31
    assert stats.note == (
        f"{cut}: its last line has no newline: its price may be cut short (a file cut while "
        "it was written ends mid-line): check its last tick"
    )


def test_a_whole_file_leaves_none(tmp_path: Path, broker: EmbeddedBroker, topic: str) -> None:
    whole = _csv(tmp_path / "whole.csv", 30, b"")
    thread = _run(broker, topic, whole)
    thread.join(20)
    stats = thread.stats()
    assert stats.finished and stats.produced == 30 and stats.note == ""


def test_a_file_stopped_before_its_end_leaves_none(
    tmp_path: Path, broker: EmbeddedBroker, topic: str
) -> None:
    # Ticks 60 s apart at speed 1: stopped while waiting for the second, the cut last
    # line was never read.
    cut = _csv(tmp_path / "slow.csv", 5, f"{time.time():.3f},PENNY,2".encode(), step=60.0)
    ensure_topics(broker.bootstrap, topic, partitions=1)
    thread = ProducerThread(broker.bootstrap, FileSource(str(cut)), topic=topic)
    thread.start()
    wait_until(lambda: thread.stats().produced >= 1, timeout=20)
    thread.stop()
    thread.join(20)
    stats = thread.stats()
    assert stats.finished and stats.produced < 6 and stats.note == ""


@pytest.mark.parametrize(
    ("tail", "said"),
    [(b"1750000100.0,PENNY,2", True), (b"1750000100.0,PENNY,2.95\n", False), (b"# end", False)],
)
def test_a_stream_whose_last_line_has_no_newline_is_said_to_be_maybe_cut(
    tail: bytes, said: bool
) -> None:
    # Standard input or a pipe cannot be read again at its end: a cut last line piped
    # into `backtest -` or `produce --source -` was taken without a word.
    import io

    from producer.files import cut_short

    body = "ts,symbol,price\n" + "".join(f"{1750000000 + k}.0,PENNY,2.95\n" for k in range(50))
    source = FileSource("-", stream=io.BytesIO(body.encode() + tail))
    assert source.streaming
    ticks = list(source)
    assert len(ticks) == 50 + (tail[:1] != b"#")
    note = cut_short(source)
    if said:
        assert note == (
            "<stdin>: its last line has no newline: its price may be cut short (a file cut "
            "while it was written ends mid-line): check its last tick"
        )
    else:
        assert note is None
