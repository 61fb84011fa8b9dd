"""Lag and health of the consumer, worked out from plain numbers: no Kafka client here.

The consumer hands in what its client reported (watermarks and positions per partition,
statistics, errors) and the times it saw them; :class:`ConsumerHealth` keeps the lag per
partition with its trend and decides the health word the monitor shows:

* ``DOWN``: the client lost every broker.
* ``STALL``: no broker has answered for ``STALL_AFTER_S`` seconds (a frozen broker), or
  the consumer has been behind for that long and no tick has arrived for that long (a
  lag that appears after a quiet spell is given the same time to move).
* ``PAUSE``: limitwatch is restarting its embedded broker at its memory budget and holds
  the ticks on purpose for those seconds (set by the pipeline, which knows of it).
* ``WARN``: the total lag grew in each of the last three samples, the consumer is
  more than ``STALE_LAG_S`` behind (its forecasts are stale), the topic is missing, or
  messages come in but every one of them has been refused (bad, or implausible) for
  ``STALL_AFTER_S`` seconds (the latest within ``REFUSING_S``: one bad message in a
  quiet feed is no warning for good).
* ``OK``: otherwise.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from tui.runtime.snapshot import STALE_LAG_S, KafkaStats, PartitionLag

__all__ = [
    "HEALTH_WORDS",
    "LAG_LOG_SAMPLES",
    "LAG_TREND_SAMPLES",
    "REFUSING_S",
    "STALL_AFTER_S",
    "STATS_INTERVAL_S",
    "ConsumerHealth",
    "PartitionReading",
    "lag_unknown",
]


def lag_unknown(k: KafkaStats) -> bool:
    """Whether the lag cannot be told: the broker down, or silent past STALL_AFTER_S (the
    partitions' ends are those it last reported; a frozen broker's lag read 0 all through
    the freeze). The monitor and the headless commands then say ``?``."""
    return k.health == "DOWN" or (k.health == "STALL" and k.broker_silent_s > STALL_AFTER_S)


#: The lag history's messages and seconds of a reading taken while no broker answered.
UNKNOWN_LAG = -1
#: Lag samples kept per partition for the trend sparkline (one every 0.5 s).
LAG_TREND_SAMPLES = 40
#: No answer from any broker, or no tick while behind, for this long: stalled.
STALL_AFTER_S = 2.0
#: A refusal this recent (seconds), with no tick taken for STALL_AFTER_S, makes a WARN.
REFUSING_S = 10.0
#: How often the client reports its statistics (bytes received). A broker's silence is
#: seen at the first report after STALL_AFTER_S, and lag is measured every 0.5 s, so
#: STALL shows at most STALL_AFTER_S + STATS_INTERVAL_S (2.5 s) after the last answer or
#: tick. A live broker answers an idle consumer's fetches about ten times a second.
STATS_INTERVAL_S = 0.5
#: Total-lag samples kept to see a growing lag.
_LAG_HISTORY = 6
#: Samples of the lag kept for the lag history view: 10 minutes at one every 0.5 s.
LAG_LOG_SAMPLES = 1200

#: What each health word means, for the help screen (worst first).
HEALTH_WORDS: tuple[tuple[str, str], ...] = (
    ("DOWN", "the consumer lost every broker"),
    (
        "STALL",
        f"no broker answered for {STALL_AFTER_S:g} s, or no tick came for that long while behind",
    ),
    ("PAUSE", "the embedded broker restarts at its memory budget: ticks wait a few seconds"),
    (
        "WARN",
        f"lag grew three samples running, more than {STALE_LAG_S:g} s behind, or every "
        f"message refused for {STALL_AFTER_S:g} s",
    ),
    ("OK", "none of these"),
)


@dataclass(frozen=True, slots=True)
class PartitionReading:
    """What the client said about one partition: watermarks (-1 unknown) and position."""

    partition: int
    low: int
    high: int
    position: int


class ConsumerHealth:
    """Broker state, lag per partition and the health word, fed by the consumer thread.

    Times are passed in (``now`` monotonic seconds, ``wall`` epoch seconds), so the rules
    are tested without a clock or a broker.
    """

    def __init__(self, now: float) -> None:
        self.broker_state = "CONNECTING"  # UP, DOWN, CONNECTING
        self.partitions: tuple[PartitionLag, ...] = ()
        self._rx_seen = -1
        self._rx_at = now
        self._trends: dict[int, deque[int]] = {}
        self._history: deque[int] = deque(maxlen=_LAG_HISTORY)
        #: (epoch time, total lag in messages, largest lag in seconds) of each reading,
        #: oldest first: a tuple made once a reading, which every snapshot shares as it is.
        self.lag_log: tuple[tuple[float, int, float], ...] = ()
        self._last_message_wall: dict[int, float] = {}
        self._behind_since = math.nan  # epoch time the total lag last turned positive
        self._behind_read = math.nan  # epoch time of the latest lag reading
        #: The topic is missing on the broker (it came back without it).
        self.topic_missing = False
        #: Each partition's lag at its latest reading of the topic as it was (its end
        #: known, not before where the reading stood): what was still to read when a
        #: broker that kept nothing went away. A reading that does not know a partition's
        #: end (the broker away) keeps its last.
        self._known_lags: dict[int, int] = {}
        self._refused_at = -math.inf  # monotonic time of a refusal since the last tick

    # -- what the client reports -----------------------------------------------------------
    def brokers_lost(self) -> None:
        """The client lost every broker (or could not resolve or reach one)."""
        self.broker_state = "DOWN"

    def fetch_answered(self) -> None:
        """A fetch came back: a broker is up."""
        self.broker_state = "UP"

    def statistics(self, broker_states: Iterable[str], received_bytes: int, now: float) -> None:
        """librdkafka's statistics: the state of each known broker, bytes received in all.

        A live broker answers fetches several times a second, so bytes received that stop
        growing while connected mean a frozen broker, not a dead one.
        """
        states = list(broker_states)
        if states:
            self.broker_state = "UP" if "UP" in states else "DOWN"
        if received_bytes != self._rx_seen:
            self._rx_seen = received_bytes
            self._rx_at = now

    def message_seen(self, partition: int, wall: float) -> None:
        """A message of ``partition`` created (or read) at epoch time ``wall``: a tick
        taken."""
        self._last_message_wall[partition] = wall
        self._refused_at = -math.inf

    def refused(self, now: float) -> None:
        """A message was read and refused at monotonic time ``now`` (it was no tick, or
        not a plausible one)."""
        self._refused_at = now

    def lag(
        self, readings: Iterable[PartitionReading], wall: float, now: float | None = None
    ) -> None:
        """Record the lag of each partition read now (epoch time ``wall``; ``now``, the
        monotonic time, tells a reading taken while no broker answers: the ends are those
        last reported, and the lag history keeps it as unknown, :data:`UNKNOWN_LAG`, not
        as the 0 it read all through a freeze)."""
        lags = []
        readings_kept = list(readings)
        for r in readings_kept:
            if r.high < 0:
                lag = -1
            elif r.position >= 0:
                lag = max(r.high - r.position, 0)
            else:
                lag = max(r.high - max(r.low, 0), 0)
            last = self._last_message_wall.get(r.partition)
            lag_s = max(wall - last, 0.0) if lag > 0 and last is not None else 0.0
            trend = self._trends.setdefault(r.partition, deque(maxlen=LAG_TREND_SAMPLES))
            trend.append(max(lag, 0))
            lags.append(PartitionLag(r.partition, r.high, r.position, lag, lag_s, tuple(trend)))
        self.partitions = tuple(sorted(lags, key=lambda p: p.partition))
        total = sum(p.lag for p in lags if p.lag > 0)
        # Not from a broker that came back without the topic's messages: its ends lie
        # before where the reading stood (a lag of 0 there is no news of what was unread).
        # Only the partitions read now (one the group took away is not this reader's).
        present = {r.partition for r in readings_kept}
        self._known_lags = {k: v for k, v in self._known_lags.items() if k in present}
        if all(r.high < 0 or r.position <= r.high for r in readings_kept):
            for r, part in zip(readings_kept, lags, strict=True):
                if r.high >= 0:
                    self._known_lags[r.partition] = max(part.lag, 0)
        if total == 0:
            self._behind_since = math.nan
        elif math.isnan(self._behind_since):
            self._behind_since = wall
        self._behind_read = wall
        self._history.append(total)
        unknown = now is not None and (
            self.broker_state == "DOWN" or self.silent_s(now) > STALL_AFTER_S
        )
        reading = (
            (wall, UNKNOWN_LAG, float(UNKNOWN_LAG))
            if unknown
            else (wall, total, max((p.lag_s for p in lags), default=0.0))
        )
        self.lag_log = (*self.lag_log[1 - LAG_LOG_SAMPLES :], reading)

    @property
    def known_lag(self) -> int:
        """The lag of the latest readings of the topic as it was, over its partitions."""
        return sum(self._known_lags.values())

    def forget_known_lag(self) -> None:
        """The topic those readings were of is gone: start again."""
        self._known_lags.clear()

    def no_partitions(self) -> None:
        """The consumer has no partition assigned (yet)."""
        self.partitions = ()

    # -- what the monitor shows ------------------------------------------------------------
    def silent_s(self, now: float) -> float:
        """Seconds since any broker last answered."""
        return now - self._rx_at

    def behind_s(self, wall: float | None = None) -> float:
        """Seconds the total lag has been positive, at epoch time `wall` (default: the
        latest lag reading); 0 when caught up."""
        if math.isnan(self._behind_since):
            return 0.0
        return max((self._behind_read if wall is None else wall) - self._behind_since, 0.0)

    def word(self, since_last_tick_s: float, now: float, wall: float | None = None) -> str:
        """OK, WARN, STALL or DOWN (see the module docstring); `wall` is the epoch time
        of `now` (default: that of the latest lag reading)."""
        if self.broker_state == "DOWN":
            return "DOWN"
        if self.silent_s(now) > STALL_AFTER_S:
            return "STALL"
        if self.topic_missing:
            return "WARN"
        total = self._history[-1] if self._history else 0
        idle = math.inf if math.isnan(since_last_tick_s) else since_last_tick_s
        if total > 0 and min(idle, self.behind_s(wall)) > STALL_AFTER_S:
            return "STALL"
        if idle > STALL_AFTER_S and now - self._refused_at <= REFUSING_S:
            return "WARN"  # messages come in, and none of them is taken
        hist = list(self._history)
        if len(hist) >= 4 and all(b > a for a, b in zip(hist[-4:], hist[-3:], strict=False)):
            return "WARN"
        if total > 0 and max((p.lag_s for p in self.partitions), default=0.0) > STALE_LAG_S:
            return "WARN"  # moving, but so far behind that the forecasts are stale
        return "OK"
