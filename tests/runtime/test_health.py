"""Lag and health from plain numbers: the rules the Kafka pane shows, tested without Kafka."""

from __future__ import annotations

import io
import math
import sys

import pytest

from tui.runtime.health import (
    REFUSING_S,
    STALL_AFTER_S,
    STATS_INTERVAL_S,
    UNKNOWN_LAG,
    ConsumerHealth,
    PartitionReading,
)
from tui.runtime.snapshot import STALE_LAG_S


def _health() -> ConsumerHealth:
    h = ConsumerHealth(now=0.0)
    h.statistics(["UP"], received_bytes=1, now=0.0)
    return h


def test_a_reading_while_no_broker_answers_is_unknown_in_the_lag_history() -> None:
    """A frozen broker's ends are those it last reported: the lag read 0 all through a
    freeze, and the history (g) drew a flat 0 across it."""
    h = _health()
    h.lag([PartitionReading(0, 0, 100, 100)], wall=1.0, now=1.0)
    h.lag([PartitionReading(0, 0, 100, 100)], wall=9.0, now=9.0)  # silent for 9 s
    h.brokers_lost()
    h.lag([PartitionReading(0, 0, 100, 100)], wall=12.0, now=12.0)
    h.statistics(["UP"], received_bytes=2, now=13.0)
    h.lag([PartitionReading(0, 0, 130, 100)], wall=13.0, now=13.0)
    assert [(m, s) for _w, m, s in h.lag_log] == [
        (0, 0.0), (UNKNOWN_LAG, UNKNOWN_LAG), (UNKNOWN_LAG, UNKNOWN_LAG), (30, 0.0)
    ]  # fmt: skip


def test_lag_is_the_high_watermark_less_the_position_and_unknown_stays_unknown() -> None:
    h = _health()
    h.message_seen(0, wall=100.0)
    h.lag(
        [
            PartitionReading(0, low=0, high=50, position=20),
            PartitionReading(1, low=5, high=9, position=-1),  # nothing read yet: from low
            PartitionReading(2, low=-1, high=-1, position=-1),  # no watermark yet
        ],
        wall=103.0,
    )
    p0, p1, p2 = h.partitions
    assert (p0.lag, p1.lag, p2.lag) == (30, 4, -1)
    assert p0.lag_s == 3.0  # the last message read is 3 s old while behind
    assert p1.lag_s == 0.0  # no message of it seen: no age to show
    assert p0.trend == (30,) and p2.trend == (0,)


def test_caught_up_and_answering_is_ok() -> None:
    h = _health()
    h.lag([PartitionReading(0, 0, 10, 10)], wall=1.0)
    assert h.word(since_last_tick_s=0.5, now=1.0) == "OK"


def test_lost_brokers_read_down_until_statistics_show_one_up() -> None:
    h = _health()
    h.brokers_lost()
    assert h.word(0.1, now=1.0) == "DOWN"
    h.statistics(["UP", "DOWN"], received_bytes=2, now=2.0)
    assert h.word(0.1, now=2.0) == "OK"


def test_a_broker_that_stops_answering_is_a_stall_not_ok() -> None:
    h = _health()
    h.statistics(["UP"], received_bytes=10, now=1.0)
    h.statistics(["UP"], received_bytes=10, now=1.0 + STALL_AFTER_S + 0.5)  # no bytes since
    assert h.silent_s(now=1.0 + STALL_AFTER_S + 0.5) > STALL_AFTER_S
    assert h.word(0.1, now=1.0 + STALL_AFTER_S + 0.5) == "STALL"


def test_behind_with_no_tick_for_a_while_is_a_stall() -> None:
    h = _health()
    h.lag([PartitionReading(0, 0, 100, 40)], wall=1.0)
    later = 1.0 + STALL_AFTER_S + 0.5
    h.lag([PartitionReading(0, 0, 100, 40)], wall=later)
    assert h.word(since_last_tick_s=STALL_AFTER_S + 1, now=1.0) == "STALL"
    assert h.word(since_last_tick_s=math.nan, now=1.0) == "STALL"  # behind, never a tick
    assert h.word(since_last_tick_s=0.2, now=1.0) == "OK"


def test_a_lag_that_appears_after_a_quiet_spell_gets_time_to_move_before_a_stall() -> None:
    # Caught up and idle (a paused feed, a broker restarted at its budget): the last tick
    # is long ago when new ticks arrive, which is not a stall until they sit unread.
    h = _health()
    h.lag([PartitionReading(0, 0, 100, 100)], wall=10.0)
    h.lag([PartitionReading(0, 0, 150, 100)], wall=20.0)  # lag appears after 10 quiet s
    assert h.behind_s(wall=20.0) == 0.0
    assert h.word(since_last_tick_s=10.0, now=1.0, wall=20.2) == "OK"
    assert h.word(since_last_tick_s=11.0, now=1.0, wall=20.0 + STALL_AFTER_S + 0.1) == "STALL"
    h.lag([PartitionReading(0, 0, 150, 150)], wall=23.0)  # read: caught up again
    assert h.behind_s(wall=24.0) == 0.0
    assert h.word(since_last_tick_s=1.0, now=1.0, wall=24.0) == "OK"


def test_a_lag_that_grows_three_times_in_a_row_warns() -> None:
    h = _health()
    for high in (10, 20, 30):
        h.lag([PartitionReading(0, 0, high, 0)], wall=1.0)
    assert h.word(0.1, now=1.0) == "OK"  # two rises only
    h.lag([PartitionReading(0, 0, 40, 0)], wall=1.0)
    assert h.word(0.1, now=1.0) == "WARN"
    h.lag([PartitionReading(0, 0, 40, 0)], wall=1.0)  # steady again
    assert h.word(0.1, now=1.0) == "OK"


def test_no_partitions_clears_the_table() -> None:
    h = _health()
    h.lag([PartitionReading(0, 0, 10, 5)], wall=1.0)
    h.no_partitions()
    assert h.partitions == ()


def test_behind_and_not_moving_shows_stall_within_three_seconds_of_the_last_tick() -> None:
    # The last tick and the last byte from the broker at t=0, the consumer behind; then
    # statistics every STATS_INTERVAL_S and lag every 0.5 s, as the consumer asks for them.
    h = ConsumerHealth(now=0.0)
    h.statistics(["UP"], received_bytes=10, now=0.0)
    h.message_seen(0, wall=0.0)
    every = round(STATS_INTERVAL_S * 10)
    for k in range(1, 31):  # tenths of a second up to 3 s
        t = k / 10
        if k % every == 0:
            h.statistics(["UP"], received_bytes=10, now=t)  # no new bytes
        if k % 5 == 0:
            h.lag([PartitionReading(0, 0, 100, 40)], wall=t)
    assert h.word(since_last_tick_s=3.0, now=3.0) == "STALL"
    assert STALL_AFTER_S + STATS_INTERVAL_S <= 3.0  # the worst case stays within 3 s


def test_a_silent_broker_shows_stall_within_three_seconds() -> None:
    h = ConsumerHealth(now=0.0)
    h.statistics(["UP"], received_bytes=10, now=0.0)
    h.lag([PartitionReading(0, 0, 10, 10)], wall=0.0)  # caught up: only the silence tells
    for k in range(1, 7):
        h.statistics(["UP"], received_bytes=10, now=k * STATS_INTERVAL_S)
    assert h.word(since_last_tick_s=3.0, now=3.0) == "STALL"


def test_far_behind_is_never_ok_even_while_ticks_arrive() -> None:
    h = _health()
    h.message_seen(0, wall=100.0)  # the last message read was made at 100...
    h.lag([PartitionReading(0, 0, 5_000, 1_000)], wall=100.0 + STALE_LAG_S + 10)  # ...read now
    assert h.partitions[0].lag_s > STALE_LAG_S
    assert h.word(since_last_tick_s=0.1, now=1.0) == "WARN"
    h.message_seen(0, wall=200.0)
    h.lag([PartitionReading(0, 0, 5_000, 4_990)], wall=200.5)  # nearly caught up
    assert h.word(since_last_tick_s=0.1, now=1.0) == "OK"


def test_the_lag_log_keeps_ten_minutes_of_total_lag_and_the_largest_lag_in_seconds() -> None:
    from tui.runtime.health import LAG_LOG_SAMPLES

    h = ConsumerHealth(now=0.0)
    h.message_seen(0, 100.0)
    h.message_seen(1, 103.0)
    h.lag([PartitionReading(0, low=0, high=50, position=20),
           PartitionReading(1, low=0, high=12, position=10)], wall=105.0)  # fmt: skip
    assert list(h.lag_log) == [(105.0, 32, 5.0)]  # 30 + 2 behind; p0's last tick 5 s old
    for i in range(LAG_LOG_SAMPLES + 10):
        h.lag([PartitionReading(0, low=0, high=50, position=50)], wall=200.0 + i / 2)
    assert len(h.lag_log) == LAG_LOG_SAMPLES == 1200  # ten minutes at 0.5 s
    assert h.lag_log[0][0] == 200.0 + 10 / 2 and h.lag_log[-1][1:] == (0, 0.0)


def test_messages_that_are_all_refused_warn_once_no_tick_is_taken_for_a_while() -> None:
    """Ticks dated ahead of the clock (or otherwise refused) still arrive, and nothing
    reaches the engine: that is not OK, though the broker answers and nothing lags."""
    h = _health()
    h.lag([PartitionReading(0, 0, 10, 10)], wall=1.0)
    h.message_seen(0, wall=1.0)
    h.refused(now=1.0)
    assert h.word(since_last_tick_s=STALL_AFTER_S / 2, now=1.0) == "OK"  # not yet
    assert h.word(since_last_tick_s=STALL_AFTER_S + 1, now=1.0) == "WARN"
    h.statistics(["UP"], received_bytes=2, now=5.0)
    h.message_seen(0, wall=5.0)  # a tick is taken again
    assert h.word(since_last_tick_s=0.1, now=5.0) == "OK"
    # A quiet feed with nothing refused stays OK, however long the quiet.
    assert h.word(since_last_tick_s=60.0, now=5.0) == "OK"
    # One bad message in a quiet feed warns while it is recent, not for good.
    h.refused(now=5.0)
    h.statistics(["UP"], received_bytes=3, now=5.0 + REFUSING_S)
    assert h.word(since_last_tick_s=REFUSING_S, now=5.0 + REFUSING_S) == "WARN"
    h.statistics(["UP"], received_bytes=4, now=6.0 + REFUSING_S)
    assert h.word(since_last_tick_s=REFUSING_S + 1, now=6.0 + REFUSING_S) == "OK"


def test_the_lag_last_known_of_each_partition_outlasts_readings_that_do_not_know_it() -> None:
    """What was still to read when a broker that kept nothing went away: each partition's
    last reading that knew its end. A reading without ends (the broker away) had set it
    to a part of it, or to 0, and the loss went unsaid."""
    h = _health()
    h.lag([PartitionReading(0, 0, 50_000, 1_000), PartitionReading(1, 0, 40_000, 1_000)], 1.0)
    assert h.known_lag == 88_000
    h.lag([PartitionReading(0, 0, 50_000, 2_000), PartitionReading(1, -1, -1, 1_000)], 2.0)
    assert h.known_lag == 48_000 + 39_000  # partition 1 as last known
    h.lag([PartitionReading(0, -1, -1, 2_000), PartitionReading(1, -1, -1, 1_000)], 3.0)
    assert h.known_lag == 87_000
    # A broker back without the messages: its ends before where the reading stood.
    h.lag([PartitionReading(0, 0, 0, 2_000), PartitionReading(1, 0, 0, 1_000)], 4.0)
    assert h.known_lag == 87_000
    # A partition the group took away is no longer this reader's to lose.
    h.lag([PartitionReading(0, -1, -1, 2_000)], 5.0)
    assert h.known_lag == 48_000
    h.forget_known_lag()
    assert h.known_lag == 0


def test_a_headless_line_is_written_whole_in_one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """print() writes the text and the newline apart: an event said by the consumer's
    thread between them read "... OKlimitwatch engine: event=lost"."""
    from tui.runtime import headless

    class Writes(io.StringIO):
        calls: list[str] = []  # noqa: RUF012 - one test's record

        def write(self, text: str) -> int:
            self.calls.append(text)
            return super().write(text)

    out = Writes()
    monkeypatch.setattr(sys, "stderr", out)
    headless.print_event("engine", "lost", {"partitions": "2"})
    headless.say_line("limitwatch engine: 10 ticks")
    assert out.calls == [
        "limitwatch engine: event=lost partitions=2\n",
        "limitwatch engine: 10 ticks\n",
    ]
