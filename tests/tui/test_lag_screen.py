"""The lag history view (g): the readings of the last ten minutes as a chart, the lag now
and the worst, and each partition's lag."""

from __future__ import annotations

import dataclasses
import html
import re

from tests.tui.driving import drive
from tests.tui.feeds import StaticFeed
from tests.waiting import wait_until_async
from tui.app import LimitwatchApp
from tui.runtime.health import UNKNOWN_LAG
from tui.runtime.snapshot import PartitionLag, Snapshot
from tui.screens.lag import LagScreen, lag_summary, partitions_line


class LaggingFeed(StaticFeed):
    """Snapshots whose Kafka side has five minutes of lag readings: a backlog that grew to
    40,000 messages (12 s behind) and drained."""

    def latest(self) -> Snapshot:
        snap = super().latest()
        log = tuple(
            (1000.0 + i / 2, int(40_000 * max(0.0, 1 - abs(i - 300) / 300)), 12.0 * (i == 300))
            for i in range(600)
        )
        parts = (PartitionLag(0, 10, 10, 0, 0.0), PartitionLag(1, 2_500, 1_000, 1_500, 3.0))
        kafka = dataclasses.replace(snap.kafka, lag_log=log, partitions=parts)
        return dataclasses.replace(snap, kafka=kafka)


def test_the_summary_gives_the_lag_now_the_worst_and_the_span() -> None:
    kafka = LaggingFeed().latest().kafka
    assert lag_summary(kafka) == (
        "now 133 messages, 0.0 s behind · worst in the last 5.0 min: 40k messages, 12.0 s"
    )
    assert partitions_line(kafka) == "p0: 0  p1: 1.5k"
    assert lag_summary(None).startswith("No lag reading yet")


class FrozenFeed(LaggingFeed):
    """The same history, then 20 s of readings while no broker answered (a freeze)."""

    def latest(self) -> Snapshot:
        snap = super().latest()
        k = snap.kafka
        frozen = tuple((k.lag_log[-1][0] + 0.5 * (i + 1), UNKNOWN_LAG, -1.0) for i in range(40))
        kafka = dataclasses.replace(
            k, lag_log=k.lag_log + frozen, health="STALL", broker_silent_s=20.0
        )
        return dataclasses.replace(snap, kafka=kafka)


def test_while_no_broker_answers_the_lag_is_unknown_not_0() -> None:
    kafka = FrozenFeed().latest().kafka
    assert lag_summary(kafka) == (
        "now ? (no broker answers: the lag cannot be told) · worst in the last 5.3 min: "
        "40k messages, 12.0 s"
    )
    assert partitions_line(kafka) == "p0: ?  p1: ?"
    text = _lag_screen_text(FrozenFeed(), (100, 30))
    assert "now ? (no broker answers" in text and "messages (left)" in text


def test_g_opens_the_lag_history_and_closes_it_again() -> None:
    app = LimitwatchApp(LaggingFeed())
    seen: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("g")
        await wait_until_async(lambda: isinstance(app.screen, LagScreen), pilot.pause, 5)
        await pilot.pause(0.2)
        seen.append(str(app.screen.query_one("#lag-summary").render()))
        await pilot.press("g")
        await pilot.pause()
        seen.append(type(app.screen).__name__)

    drive(app, script, size=(80, 24))
    assert seen[0].startswith("now 133 messages") and seen[1] != "LagScreen"


def _lag_screen_text(feed: StaticFeed, size: tuple[int, int]) -> str:
    """The screen's plain text once `g` has opened the lag history on `feed`."""
    app = LimitwatchApp(feed)
    shown: list[str] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("g")
        await wait_until_async(lambda: isinstance(app.screen, LagScreen), pilot.pause, 5)
        await pilot.pause(0.3)
        shown.append(html.unescape(app.export_screenshot()).replace("\xa0", " "))

    drive(app, script, size=size)
    return re.sub(r"<[^>]+>", "", shown[0])


def test_the_two_lines_have_two_marks_in_the_legend() -> None:
    text = _lag_screen_text(LaggingFeed(), (100, 30))
    # Each entry: the side of its scale (L or ⅃), its mark, its name.
    messages = re.search(r"[L⅃](\S+) messages \(left\)", text)
    seconds = re.search(r"[L⅃](\S+) seconds \(right\)", text)
    assert messages and seconds, text[-2000:]
    assert messages.group(1) != seconds.group(1)  # not told apart by colour alone


class CaughtUpFeed(StaticFeed):
    """Lag readings of a consumer that never fell behind: zero all along."""

    def latest(self) -> Snapshot:
        snap = super().latest()
        log = tuple((1000.0 + i / 2, 0, 0.0) for i in range(60))
        return dataclasses.replace(snap, kafka=dataclasses.replace(snap.kafka, lag_log=log))


def test_the_message_scale_counts_whole_messages() -> None:
    text = _lag_screen_text(CaughtUpFeed(), (80, 24))
    left = re.findall(r"(?m)^\S*\s*(\d+\.\d+)\s*┤", text)
    assert not left, left  # at no lag the left scale read 1.00 ... 0.17 messages
