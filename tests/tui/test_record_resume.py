"""`limitwatch record --group`: a recorder SIGKILLed mid-stream and started again with its
group (into a new file) goes on where the killed one stopped. Numbered ticks check that
every acknowledged tick is in one of the two files; ticks in both are counted and stay
within one batch, those the killed recorder wrote but had not committed yet."""

from __future__ import annotations

import inspect
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from producer.broker import EmbeddedBroker
from producer.topics import ensure_topics
from tests.tui.numbered import NumberedProducer, NumberedSource, read_numbers
from tests.waiting import wait_until
from tui.runtime.consumer import ConsumerWorker

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
#: Ticks read in one batch at most: the most a killed recorder wrote and did not commit.
BATCH = inspect.signature(ConsumerWorker).parameters["batch_size"].default


def test_a_killed_recording_resumed_with_its_group_misses_no_tick(tmp_path: Path) -> None:
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    with EmbeddedBroker() as cluster:
        ensure_topics(cluster.bootstrap, "prices", 2)

        def record(out: Path) -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [sys.executable, "-m", "tui.cli", "record", str(out),
                 "--bootstrap-servers", cluster.bootstrap, "--group", "recorders",
                 "--from-beginning", "--log-file", str(tmp_path / "log")],
                cwd=ROOT, stderr=subprocess.DEVNULL,
            )  # fmt: skip

        source = NumberedSource(step_s=0.0005)  # 2,000 ticks a second
        producer = NumberedProducer(cluster.bootstrap, source)
        producer.start()
        killed = record(first)
        resumed = None
        try:
            wait_until(lambda: len(read_numbers(first, source)) > 1500, 60)
            killed.send_signal(signal.SIGKILL)
            killed.wait(5)
            resumed = record(second)
            wait_until(lambda: len(read_numbers(second, source)) > 500, 60)
            producer.stop()
            producer.join(5)

            # Each partition is read at its own pace (one may lag another by seconds after
            # a rebalance): wait for every acknowledged tick, not only the newest.
            def unread() -> set[int]:
                return (
                    producer.acked
                    - set(read_numbers(first, source))
                    - set(read_numbers(second, source))
                )

            wait_until(lambda: not unread(), 60, what=lambda: f"{len(unread())} not recorded")
        finally:
            producer.stop()
            for proc in (killed, resumed):
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
                    proc.wait(10)
    read = read_numbers(first, source) + read_numbers(second, source)
    missing = sorted(producer.acked - set(read))
    assert not missing, f"{len(missing)} acknowledged ticks in neither file, first {missing[:10]}"
    twice = len(read) - len(set(read))
    assert twice <= BATCH
    print(f"record: {len(producer.acked)} acknowledged, all recorded, {twice} in both files")


def test_a_recording_without_a_group_is_in_its_file_as_it_goes(tmp_path: Path) -> None:
    """Without --group nothing is committed, and the file was flushed only when the
    recording stopped: the ticks counted as recorded sat in a buffer, out of `tail -f`,
    and a SIGKILL lost them. Now every acknowledged tick is in the file within a second,
    and still there after a SIGKILL."""
    out = tmp_path / "live.jsonl"
    with EmbeddedBroker() as cluster:
        ensure_topics(cluster.bootstrap, "prices", 2)
        recorder = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "record", str(out),
             "--bootstrap-servers", cluster.bootstrap, "--from-beginning",
             "--log-file", str(tmp_path / "log")],
            cwd=ROOT, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        source = NumberedSource(step_s=0.01)  # 100 ticks a second
        producer = NumberedProducer(cluster.bootstrap, source)
        producer.start()
        try:
            wait_until(lambda: len(producer.acked) >= 300, 60)
            producer.stop()
            producer.join(5)

            def unwritten() -> set[int]:
                return producer.acked - set(read_numbers(out, source))

            wait_until(
                lambda: not unwritten(), 30, what=lambda: f"{len(unwritten())} not in the file"
            )
            recorder.send_signal(signal.SIGKILL)
            recorder.wait(5)
        finally:
            producer.stop()
            if recorder.poll() is None:
                recorder.send_signal(signal.SIGKILL)
                recorder.wait(5)
    assert not producer.acked - set(read_numbers(out, source))
