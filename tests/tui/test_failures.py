"""A broker that dies or freezes: the monitor says so (DOWN, STALL, stale forecasts, no
ticks going out), keeps running, recovers when the broker does, and still quits promptly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from producer.broker import EmbeddedBroker
from producer.generator import MarketGenerator
from producer.kafka_producer import ProducerThread
from producer.topics import ensure_topics
from tests.tui.waiting import health, wait_for
from tests.waiting import holds_for, wait_until
from tui.runtime.health import STALL_AFTER_S
from tui.runtime.pipeline import Pipeline, PipelineOptions
from tui.runtime.snapshot import staleness

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]


def _no_threads_left() -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith("limitwatch")]


def test_a_killed_broker_shows_down_and_quitting_still_works() -> None:
    pipeline = Pipeline(PipelineOptions(source=MarketGenerator(seed=2, rate=200.0)))
    pipeline.start()
    try:
        wait_for(pipeline, lambda s: s.kafka.consumed > 50, 20)
        assert pipeline.broker is not None
        pipeline.broker.kill()
        snap = wait_for(pipeline, lambda s: s.kafka.health == "DOWN", 15)
        assert staleness(snap) is not None
    finally:
        assert pipeline.stop(timeout=2.0), "threads still ran after the 2 s budget"
    assert _no_threads_left()


def test_the_generator_stays_on_the_clock_through_a_broker_restart() -> None:
    """The ticks due while the broker was away are sent when it is back: the market's
    event time does not fall behind the clock by the outage (it had, for good, by each
    one: every later signal stamped that late)."""
    pipeline = Pipeline(PipelineOptions(source=MarketGenerator(seed=5, rate=200.0)))
    pipeline.start()
    try:
        wait_for(pipeline, lambda s: s.kafka.consumed > 50, 20)
        assert pipeline.broker is not None and pipeline.producer is not None
        producer = pipeline.producer
        pipeline.broker.kill()
        wait_for(pipeline, lambda s: s.kafka.health == "DOWN", 15)
        wait_until(lambda: producer.stats().waiting == "broker down", 15, what=producer.stats)
        out = producer.stats().delivered
        # Back and delivering: within a second its newest tick is stamped within a
        # second of the clock (on the clock's schedule, lead_s stays near 0).
        wait_until(lambda: producer.stats().delivered > out + 200, 30, what=producer.stats)
        wait_until(lambda: producer.lead_s > -1.0, 5, what=lambda: f"lead {producer.lead_s:.2f} s")
    finally:
        assert pipeline.stop(timeout=2.0)
    assert _no_threads_left()


def test_a_frozen_broker_shows_stall_then_recovers() -> None:
    pipeline = Pipeline(PipelineOptions(source=MarketGenerator(seed=3, rate=100.0)))
    pipeline.start()
    assert pipeline.broker is not None and pipeline.broker.pid is not None
    pid = pipeline.broker.pid
    try:
        wait_for(pipeline, lambda s: s.kafka.consumed > 50, 20)
        os.kill(pid, signal.SIGSTOP)
        try:
            frozen = wait_for(pipeline, lambda s: s.kafka.health == "STALL", STALL_AFTER_S + 10)
            assert "silent" in str(staleness(frozen))
        finally:
            os.kill(pid, signal.SIGCONT)
        count = frozen.kafka.consumed
        back = wait_for(pipeline, lambda s: s.kafka.health == "OK" and s.kafka.consumed > count, 20)
        assert staleness(back) is None
    finally:
        assert pipeline.stop(timeout=2.0)
    assert _no_threads_left()


def test_an_idle_topic_is_not_a_stall() -> None:
    pipeline = Pipeline(PipelineOptions(source=None))
    pipeline.start()
    try:
        wait_for(pipeline, lambda s: s.kafka.health == "OK", 10)
        # The point is the passing of time: past the stall threshold, it is still OK.
        holds_for(
            lambda: health(pipeline) == "OK",
            STALL_AFTER_S + 1.5,
            what=lambda: f"health went {health(pipeline)} on an idle topic",
        )
        snap = wait_for(pipeline, lambda s: True, 5)
        assert snap.kafka.health == "OK"
        assert snap.kafka.broker_state == "UP"
    finally:
        assert pipeline.stop(timeout=2.0)


def test_a_dead_broker_holds_the_producer_so_nothing_goes_out_or_fails() -> None:
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap, "prices", 1)
        thread = ProducerThread(broker.bootstrap, MarketGenerator(seed=4, rate=300.0))
        thread.start()
        try:
            wait_until(lambda: thread.stats().delivered > 50, 20, what=lambda: str(thread.stats()))
            broker.kill()
            # The producer notices, takes back what its client held and waits: "out" is
            # zero and no tick is sent into a dead broker to fail later.
            held = wait_until(
                lambda: (s := thread.stats()).rate == 0 and s.waiting == "broker down" and s,
                20,
                what=lambda: str(thread.stats()),
            )
            holds_for(
                lambda: (s := thread.stats()).produced <= held.produced + 1 and s.failed == 0,
                1.0,
                what=lambda: str(thread.stats()),
            )
        finally:
            thread.stop()
            thread.join(5)
    stats = thread.stats()
    assert stats.delivered + stats.failed == stats.produced  # the undelivered: failed


_QUIT_FROZEN = """
import os, signal, sys, time
from producer.generator import MarketGenerator
from tests.tui.waiting import wait_for
from tui.runtime.pipeline import Pipeline, PipelineOptions

pipeline = Pipeline(PipelineOptions(source=MarketGenerator(seed=3, rate=100.0), group="g"))
pipeline.start()
wait_for(pipeline, lambda s: s.kafka.consumed > 50, 30)
print(pipeline.broker.pid, flush=True)
os.kill(pipeline.broker.pid, signal.SIGSTOP)
start = time.monotonic()
print(pipeline.stop(timeout=2.0), pipeline.unfinished, round(time.monotonic() - start, 1))
"""


def test_quitting_with_a_frozen_broker_says_which_part_was_still_closing() -> None:
    """A reader in a group closes by leaving it, which a frozen broker never answers (its
    client's close waited for good, even once the broker was killed): the stop gives up
    on it within its budget and names it, where the monitor said only "some threads did
    not stop in time", and the process still exits at once with the broker gone."""
    proc = subprocess.run(
        [sys.executable, "-c", _QUIT_FROZEN], cwd=ROOT, capture_output=True, text=True,
        timeout=90,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    pid, result = proc.stdout.splitlines()[:2]
    # it gave up on the reader (stop returned, False) rather than wait for its close
    assert result.startswith("False ['the Kafka reader'] "), proc.stdout
    assert not _alive(int(pid))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
