"""Before a budget restart the pipeline waits for its consumer to read what was delivered:
as long as the consumer keeps reading, not for a fixed time, and says what it left unread."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from tui.runtime import pipeline as pipeline_module
from tui.runtime.pipeline import Pipeline, PipelineOptions


class Reading:
    """A consumer worker whose lag falls by `step` every `every` seconds, down to `floor`."""

    def __init__(self, lag: int, step: int, every: float, floor: int = 0) -> None:
        self.start = time.monotonic()
        self.lag, self.step, self.every, self.floor = lag, step, every, floor

    def latest(self) -> SimpleNamespace:
        steps = int((time.monotonic() - self.start) / self.every)
        lag = max(self.floor, self.lag - steps * self.step)
        parts = (SimpleNamespace(lag=lag // 2), SimpleNamespace(lag=lag - lag // 2))
        return SimpleNamespace(
            wall=time.time(), kafka=SimpleNamespace(total_lag=lag, partitions=parts)
        )


def _quiesce(worker: Reading) -> tuple[bool, int]:
    pipe = Pipeline(PipelineOptions())
    pipe.worker = worker  # type: ignore[assignment]
    return pipe._quiesce()


def test_a_consumer_that_keeps_reading_is_waited_for_past_the_delivery_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Reading up takes 2 s here, longer than the producer's delivery wait and four times
    # the time without progress that gives up: each step of 0.2 s is progress.
    monkeypatch.setattr(pipeline_module, "DRAIN_S", 0.5)
    monkeypatch.setattr(pipeline_module, "DRAIN_STUCK_S", 0.5)
    assert _quiesce(Reading(10_000, 1_000, 0.2)) == (False, 0)  # read up to the end


def test_a_consumer_that_stops_reading_is_given_up_on_and_its_lag_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pipeline_module, "DRAIN_STUCK_S", 0.5)
    assert _quiesce(Reading(10_000, 1_000, 0.1, floor=7_000)) == (False, 7_000)


def test_the_wait_has_an_end_even_for_a_consumer_that_never_stops_reading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pipeline_module, "DRAIN_MOST_S", 1.0)
    _, unread = _quiesce(Reading(10**9, 1, 0.01))  # returns: 1 s of reading, not 10**9 ticks
    assert 0 < unread < 10**9
