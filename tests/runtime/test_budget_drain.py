"""Before a budget restart the pipeline waits for its consumer to read what was delivered:
as long as the consumer keeps reading, not for a fixed time, and says what it left unread."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from tui.runtime import pipeline as pipeline_module
from tui.runtime.pipeline import Pipeline, PipelineOptions


class Reading:
    """A consumer worker whose lag falls by `step` every `every` seconds, down to `floor`,
    and that reads `step` messages a step; with `fed_for`, a producer of another process
    sends as many as it reads for that many seconds (its lag stays put meanwhile)."""

    def __init__(
        self, lag: int, step: int, every: float, floor: int = 0, fed_for: float = 0.0
    ) -> None:
        self.start = time.monotonic()
        self.lag, self.step, self.every, self.floor = lag, step, every, floor
        self.fed_for = fed_for

    def latest(self) -> SimpleNamespace:
        elapsed = time.monotonic() - self.start
        steps = int(elapsed / self.every)
        fed = int(min(elapsed, self.fed_for) / self.every)  # steps the other producer fed
        lag = max(self.floor, self.lag - (steps - fed) * self.step)
        parts = (SimpleNamespace(lag=lag // 2), SimpleNamespace(lag=lag - lag // 2))
        consumed = steps * self.step if lag > self.floor or not self.floor else 0
        return SimpleNamespace(
            wall=time.time(),
            kafka=SimpleNamespace(total_lag=lag, partitions=parts, consumed=consumed),
        )


class Broker:
    """An embedded broker's resident memory, from `full_after` seconds at the budget."""

    def __init__(self, full_after: float) -> None:
        self.full_at = time.monotonic() + full_after

    def rss_bytes(self) -> int:
        full = time.monotonic() >= self.full_at
        return (512 if full else 100) * 2**20


def _quiesce(worker: Reading, broker: Broker | None = None) -> tuple[bool, int]:
    pipe = Pipeline(PipelineOptions(broker_memory_mib=512))
    pipe.worker = worker  # type: ignore[assignment]
    pipe.broker = broker  # type: ignore[assignment]
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


def test_a_consumer_that_reads_while_another_producer_keeps_its_lag_up_is_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A producer of another process, not paused, sends as fast as the consumer reads for
    # 1.5 s, three times the time without progress that gives up: the lag stays put but
    # the consumer reads all along, and then reads up.
    monkeypatch.setattr(pipeline_module, "DRAIN_STUCK_S", 0.5)
    assert _quiesce(Reading(5_000, 1_000, 0.1, fed_for=1.5), Broker(60.0)) == (False, 0)


def test_the_wait_ends_when_the_broker_fills_its_whole_budget(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(pipeline_module, "DRAIN_STUCK_S", 5.0)
    with caplog.at_level("WARNING"):
        _, unread = _quiesce(Reading(5_000, 1_000, 0.1, fed_for=60.0), Broker(1.0))
    assert unread == 5_000
    assert "the broker filled its budget (another producer kept sending)" in caplog.text
