"""The Kafka pane fits its box: labels whole, every partition's lag on screen."""

from __future__ import annotations

import dataclasses

import pytest
from rich.console import Console

from tests.tui.feeds import StaticFeed
from tui.snapshot import PartitionLag, Snapshot
from tui.widgets.kafka_pane import kafka_renderable

LABELS = ("broker", "health", "consumer", "in", "out", "last tick", "bad · dlq", "broker mem")


def render(snap: Snapshot, width: int, height: int) -> list[str]:
    console = Console(width=width, color_system=None)
    with console.capture() as cap:
        console.print(kafka_renderable(snap, width, height))
    return [line.rstrip() for line in cap.get().rstrip("\n").split("\n")]


@pytest.fixture(scope="module")
def snap() -> Snapshot:
    return StaticFeed(n_ticks=200).latest()


def test_with_room_it_shows_every_row_and_the_lag_table(snap: Snapshot) -> None:
    lines = render(snap, 36, 30)
    assert [line[:10].strip() for line in lines[: len(LABELS)]] == list(LABELS)
    assert lines[0].endswith("127.0.0.1:9092 · embedded")
    assert lines[len(LABELS) + 1].split() == ["p", "lag", "lag", "s", "trend"]
    assert [line.split()[:3] for line in lines[len(LABELS) + 2 :]] == [
        ["0", "0", "0.0"],
        ["1", "1", "0.1"],
        ["2", "2", "0.2"],
        ["3", "3", "0.3"],
    ]


@pytest.mark.parametrize(("width", "height"), [(26, 10), (26, 8), (26, 6), (40, 9)])
def test_when_short_it_keeps_whole_labels_and_every_partitions_lag(
    snap: Snapshot, width: int, height: int
) -> None:
    lines = render(snap, width, height)
    assert len(lines) <= height
    assert all(len(line) <= width for line in lines)
    labels = [line[:10].strip() for line in lines if line[:10].strip()]
    assert set(labels) <= {*LABELS, "lag"}  # none cut short
    assert {"health", "in", "bad · dlq", "lag"} <= set(labels)  # the ones that stay
    lag = " ".join(line[10:].strip() for line in lines[labels.index("lag") :])
    assert lag.split(" · ") == ["p0:0", "p1:1", "p2:2", "p3:3"]


def test_rows_go_least_needed_first(snap: Snapshot) -> None:
    kept = {height: {line[:10].strip() for line in render(snap, 26, height)} for height in (9, 8)}
    assert "broker mem" not in kept[9] and "consumer" in kept[9]
    assert "consumer" not in kept[8] and "broker" in kept[8]


def test_an_error_wraps_instead_of_being_cut(snap: Snapshot) -> None:
    message = "broker 127.0.0.1:9092 not answering for 12 s"
    kafka = dataclasses.replace(snap.kafka, health="DOWN", last_error=message)
    lines = render(dataclasses.replace(snap, kafka=kafka), 26, 10)
    assert len(lines) <= 10
    error = lines.index(next(line for line in lines if line.startswith("error")))
    words = " ".join(line[10:].strip() for line in lines[error : error + 4])
    assert message in words


def test_unknown_lag_shows_a_question_mark(snap: Snapshot) -> None:
    parts = (PartitionLag(0, -1, -1, -1, 0.0), PartitionLag(1, 10, 4, 6, 0.5))
    kafka = dataclasses.replace(snap.kafka, partitions=parts)
    lines = render(dataclasses.replace(snap, kafka=kafka), 26, 6)
    assert lines[-1][10:].strip() == "p0:? · p1:6"
