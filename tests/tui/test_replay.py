"""Replaying each shipped scenario through the embedded broker gives the signals of its
golden file, paced (at four times the recorded pace) and as fast as possible: the engine
depends on event time and per-symbol tick order only, never on the speed or on Kafka's
batching."""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import pytest

from engine import Signal
from producer.broker import EmbeddedBroker
from producer.sources import open_source
from tests.waiting import wait_until
from tui.runtime.backtest import signal_differences
from tui.runtime.jsonout import signal_dict
from tui.runtime.options import engine_config
from tui.runtime.pipeline import Pipeline, PipelineOptions

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(
    p for p in (ROOT / "scenarios").glob("*.jsonl") if not p.name.endswith(".golden.jsonl")
)


def _key(sig: dict) -> tuple:
    return (sig["symbol"], sig["t"], sig["id"])


class Replay:
    """One scenario replayed through Kafka, collecting every signal the worker emits."""

    def __init__(self, broker: EmbeddedBroker, path: Path, speed: float) -> None:
        self.path = path
        self.signals: list[Signal] = []
        self._lock = threading.Lock()
        source = open_source(str(path))
        no_options = argparse.Namespace()
        self.pipeline = Pipeline(
            PipelineOptions(
                bootstrap=broker.bootstrap,
                topic=f"replay-{path.stem}-{speed:g}-{time.monotonic_ns()}",
                source=source,
                speed=speed,
                engine=engine_config(no_options, dict(source.engine)),
                from_beginning=True,
                on_signals=self._collect,
            )
        )

    def _collect(self, signals: list[Signal]) -> None:
        with self._lock:
            self.signals.extend(signals)

    def done(self) -> bool:
        snap = self.pipeline.latest()
        if snap is None or snap.producer is None or not snap.producer.finished:
            return False
        return snap.kafka.consumed + snap.kafka.bad >= snap.producer.delivered

    def problems(self) -> list[str]:
        snap = self.pipeline.latest()
        assert snap is not None and snap.producer is not None
        assert snap.producer.failed == 0 and not snap.producer.last_error
        assert snap.kafka.bad == 0
        golden = self.path.with_name(f"{self.path.stem}.golden.jsonl")
        expected = [json.loads(line) for line in golden.read_text().splitlines() if line]
        expected = [e for e in expected if e.get("kind") != "SUMMARY"]
        with self._lock:
            got = [json.loads(json.dumps(signal_dict(s))) for s in self.signals]
        return signal_differences(sorted(expected, key=_key), sorted(got, key=_key))


def _run(replays: list[Replay], timeout: float) -> None:
    for r in replays:
        r.pipeline.start()
    try:
        wait_until(
            lambda: all(r.done() for r in replays),
            timeout,
            what=lambda: f"replays not done: {[r.path.stem for r in replays if not r.done()]}",
        )
        for r in replays:
            assert r.problems() == [], r.path.stem
    finally:
        for r in replays:
            r.pipeline.stop()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_replay_at_max_speed_matches_the_golden_file(broker: EmbeddedBroker, path: Path) -> None:
    _run([Replay(broker, path, speed=float("inf"))], timeout=60)


def test_replay_at_a_paced_speed_matches_the_golden_files(broker: EmbeddedBroker) -> None:
    # All scenarios at once, each on its own topic: the run takes as long as the longest,
    # a quarter of its recorded time (paced like any finite speed, the recorded one too).
    _run([Replay(broker, path, speed=4.0) for path in SHIPPED], timeout=150)
