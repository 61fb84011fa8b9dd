"""The Kafka pane fits its box: labels whole, every partition's lag on screen."""

from __future__ import annotations

import dataclasses
import re

import pytest
from rich.console import Console

from tests.tui.feeds import StaticFeed
from tui.runtime.snapshot import PartitionLag, Snapshot
from tui.widgets.kafka_pane import kafka_renderable, short_error

LABELS = ("broker", "health", "consumer", "in", "out", "last tick", "bad · dlq", "broker mem")


def render(snap: Snapshot, width: int, height: int) -> list[str]:
    console = Console(width=width, color_system=None)
    with console.capture() as cap:
        console.print(kafka_renderable(snap, width, height))
    return [line.rstrip() for line in cap.get().rstrip("\n").split("\n")]


@pytest.fixture(scope="module")
def snap() -> Snapshot:
    """The feed's snapshot without refused messages: the layout tests' fixed rows."""
    full = StaticFeed(n_ticks=200).latest()
    return dataclasses.replace(full, kafka=dataclasses.replace(full.kafka, bad_by=()))


def test_with_room_it_shows_every_row_and_the_lag_table(snap: Snapshot) -> None:
    lines = render(snap, 36, 30)
    assert [line[:10].strip() for line in lines[: len(LABELS)]] == list(LABELS)
    assert lines[0].endswith("127.0.0.1:9092 · embedded")
    assert lines[len(LABELS) + 1].split() == ["p", "lag", "lag", "s", "trend", "≤6"]
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


def with_partitions(snap: Snapshot, *parts: PartitionLag, **kafka: object) -> Snapshot:
    return dataclasses.replace(
        snap, kafka=dataclasses.replace(snap.kafka, partitions=parts, **kafka)
    )


@pytest.mark.parametrize("width", [24, 26, 30, 36, 40])
def test_big_lags_are_never_cut_the_trend_gives_way(snap: Snapshot, width: int) -> None:
    trend = tuple(range(0, 12_000, 1_000))  # twelve samples: a full sparkline
    big = with_partitions(snap, *(PartitionLag(p, 20_000, 7_655, 12_345, 12.3, trend)
                                  for p in range(4)))  # fmt: skip
    lines = render(big, width, 40)
    assert len(lines) <= 40 and all(len(line) <= width for line in lines)
    if any(line.split()[:3] == ["p", "lag", "lag"] for line in lines):  # the table
        rows = [line.split() for line in lines if line.split()[:1] in (["0"], ["1"])]
        assert [row[1:3] for row in rows] == [["12,345", "12.3"]] * 2
        bars = len(rows[0][3]) if len(rows[0]) > 3 else 0
        assert bars == min(12, width - 20) or (bars == 0 and width - 20 < 4)
    else:
        assert lines[-1][10:].strip() == "p0-3:12,345"
    assert width < 30 or any("12,345" in line and "12.3" in line for line in lines)


def test_runs_of_equal_lag_are_merged_in_the_compact_row(snap: Snapshot) -> None:
    parts = [PartitionLag(p, 9, 9, 0, 0.0) for p in range(16)]
    parts[5] = PartitionLag(5, 9, 2, 7, 0.4)
    parts[6] = PartitionLag(6, -1, -1, -1, 0.0)
    lines = render(with_partitions(snap, *parts), 26, 10)
    lag = " ".join(line[10:].strip() for line in lines[-2:] if line.startswith(("lag", " ")))
    assert lag.split(" · ") == ["p0-4:0", "p5:7", "p6:?", "p7-15:0"]


def test_a_long_error_is_cut_to_what_leaves_room_for_the_lag(snap: Snapshot) -> None:
    error = (
        "Connect to ipv4#127.0.0.1:9092 failed: Connection refused (after 0ms in state"
        " CONNECT, 4 identical error(s) suppressed)"
    )
    parts = [PartitionLag(p, 9, 9, 0, 0.0) for p in range(16)]
    down = with_partitions(snap, *parts, health="DOWN", last_error=error)
    for width, height in ((26, 8), (26, 10), (26, 12), (30, 20), (40, 40)):
        lines = render(down, width, height)
        assert len(lines) <= height, (width, height)
        last = lines[-1].split()
        # every partition (down: its lag not known)
        assert last[0] in ("lag", "p0-15:?") or last[:2] == ["15", "?"]
        at = next(i for i, line in enumerate(lines) if line.startswith("error"))
        shown = [lines[at][10:].strip()]
        for line in lines[at + 1 :]:
            if line[:10].strip() or not line[10:].strip():
                break  # the next row, or the blank line before the lag table
            shown.append(line[10:].strip())
        assert 1 <= len(shown) <= 3
        squeezed = "".join(" ".join(shown).removesuffix("…").split())
        assert "".join(short_error(error).split()).startswith(squeezed)


def test_a_client_error_says_what_went_wrong_in_the_room_of_80_columns(snap: Snapshot) -> None:
    """librdkafka's errors open with the broker's address and end with its state: cut to
    two lines at 80 columns, the row read ``kafka: 127.0.0.1:1909…`` (the log keeps it
    whole)."""
    error = (
        "kafka: 127.0.0.1:19092/bootstrap: Connect to ipv4#127.0.0.1:19092 failed:"
        " Connection refused (after 0ms in state CONNECT, 2 identical error(s) suppressed)"
    )
    down = with_partitions(snap, health="DOWN", last_error=error)
    lines = render(down, 26, 8)
    at = next(i for i, line in enumerate(lines) if line.startswith("error"))
    said = " ".join(line[10:].strip() for line in lines[at : at + 2])
    assert said == "Connection refused", lines


def test_rows_go_least_needed_first(snap: Snapshot) -> None:
    kept = {height: {line[:10].strip() for line in render(snap, 26, height)} for height in (9, 8)}
    assert "broker mem" not in kept[9] and "consumer" in kept[9]
    assert "consumer" not in kept[8] and "broker" in kept[8]


def test_an_error_wraps_instead_of_being_cut(snap: Snapshot) -> None:
    message = "broker 127.0.0.1:9092 not answering for 12 s"
    kafka = dataclasses.replace(snap.kafka, health="DOWN", last_error=message)
    lines = render(dataclasses.replace(snap, kafka=kafka), 36, 30)
    error = lines.index(next(line for line in lines if line.startswith("error")))
    words = " ".join(line[10:].strip() for line in lines[error : error + 2])
    assert words == message


def test_unknown_lag_shows_a_question_mark(snap: Snapshot) -> None:
    parts = (PartitionLag(0, -1, -1, -1, 0.0), PartitionLag(1, 10, 4, 6, 0.5))
    kafka = dataclasses.replace(snap.kafka, partitions=parts)
    lines = render(dataclasses.replace(snap, kafka=kafka), 26, 6)
    assert lines[-1][10:].strip() == "p0:? · p1:6"


def _values(lines: list[str], label: str) -> list[str]:
    """The value column of the row ``label`` and of its continuation lines."""
    at = next(i for i, line in enumerate(lines) if line[:10].strip() == label)
    shown = [lines[at][10:].strip()]
    for line in lines[at + 1 :]:
        if line[:10].strip() or not line[10:].strip():
            break
        shown.append(line[10:].strip())
    return shown


@pytest.mark.parametrize("width", [30, 36, 60])
def test_refused_messages_are_shown_by_reason_none_broken(snap: Snapshot, width: int) -> None:
    bad_by = (("not JSON", 3), ("bad price", 1), ("future time", 2), ("implausible jump", 1))
    lines = render(with_partitions(snap, *snap.kafka.partitions, bad_by=bad_by), width, 40)
    assert _values(lines, "bad · dlq")[0].startswith("7 ·")
    shown = " · ".join(_values(lines, "why")).split(" · ")
    assert shown == ["not JSON 3", "bad price 1", "future time 2", "implausible jump 1"]


def test_symbols_refused_for_want_of_room_are_counted(snap: Snapshot) -> None:
    assert "refused" not in {line[:10].strip() for line in render(snap, 36, 30)}
    engine = dataclasses.replace(snap.engine, refused=90_000)
    lines = render(dataclasses.replace(snap, engine=engine), 36, 30)
    max_symbols = snap.engine.config.max_symbols
    assert " ".join(_values(lines, "refused")) == f"90,000 symbols, max {max_symbols:,}"


@pytest.mark.parametrize("width", [28, 32, 38])
def test_busy_rates_and_a_paused_producer_are_never_cut(snap: Snapshot, width: int) -> None:
    producer = dataclasses.replace(snap.producer, rate=100_480.0, delivered=1_099_512, paused=True)
    kafka = dataclasses.replace(snap.kafka, rate_in=100_480.0, consumed=1_099_123)
    busy = dataclasses.replace(snap, producer=producer, kafka=kafka)
    lines = render(busy, width, 40)
    assert all(len(line) <= width for line in lines)
    assert not any("…" in line for line in lines)
    assert " · ".join(_values(lines, "in")).split(" · ") == ["100,480 ticks/s", "1,099,123"]
    shown = " · ".join(_values(lines, "out")).split(" · ")
    assert shown == ["100,480 ticks/s", "1,099,512", "paused"]


def test_rates_are_always_in_ticks_per_second(snap: Snapshot) -> None:
    for width in (24, 28, 36, 60):
        lines = render(snap, width, 40)
        assert _values(lines, "in")[0] == "50 ticks/s · 3,000" or _values(lines, "in")[0] == (
            "50 ticks/s"
        )
        assert "/s" not in " ".join(lines).replace("ticks/s", "")


def test_the_lag_trend_has_one_scale_named_in_its_header(snap: Snapshot) -> None:
    rising = tuple(range(0, 1_200, 100))  # 0 .. 1,100
    flat = (550,) * 12  # half the top: half-height bars, not full ones
    two = with_partitions(
        snap, PartitionLag(0, 9, 9, 0, 0.0, rising), PartitionLag(1, 9, 9, 0, 0.0, flat)
    )
    lines = render(two, 40, 30)
    header = next(line for line in lines if line.split()[:3] == ["p", "lag", "lag"])
    assert header.split()[-2:] == ["trend", "≤1.1k"]
    rows = {line.split()[0]: line.split()[-1] for line in lines[-2:]}
    assert rows["0"][-1] == "█" and rows["0"][0] == "▁"
    assert set(rows["1"]) == {"▅"}  # 550 of 1,100: the middle bar


@pytest.mark.parametrize("width", [26, 32])
def test_a_long_address_and_group_wrap_instead_of_being_cut(snap: Snapshot, width: int) -> None:
    kafka = dataclasses.replace(
        snap.kafka,
        bootstrap="broker-1.kafka.internal:19092",
        group="limitwatch-desk-7",
        health="WARN",
        broker_state="CONNECTING",
    )
    lines = render(dataclasses.replace(snap, kafka=kafka), width, 40)
    assert all(len(line) <= width for line in lines)
    assert not any("…" in line for line in lines)
    assert "".join(_values(lines, "broker")).startswith("broker-1.kafka.internal:19092")
    # on one line, or the state whole on the next
    assert " ".join(_values(lines, "health")) in (
        "WARN · broker CONNECTING",
        "WARN broker CONNECTING",
    )
    assert "".join(_values(lines, "consumer")).replace(" ", "") == "grouplimitwatch-desk-7"


def test_it_shows_broker_restarts_resets_ticks_sent_again_and_the_memory_budget(
    snap: Snapshot,
) -> None:
    assert snap.producer is not None
    kafka = dataclasses.replace(
        snap.kafka,
        broker_budget=512 * 2**20,
        broker_restarts=2,
        keeper="12:00:01 restarted after exit -9 (try 1, 0.3 s)",
        recovery="12:00:02 prices created again (4 partitions): read from the start",
        duplicates=40,
    )
    producer = dataclasses.replace(snap.producer, resent=55, waiting="broker down")
    text = "\n".join(render(dataclasses.replace(snap, kafka=kafka, producer=producer), 60, 40))
    assert "broker mem 24.0 MiB of 512 MiB" in text
    assert "· waiting" in text  # on the "out" row: sending is held
    assert "restart    2 · 12:00:01 restarted after exit -9" in text
    assert "reset      12:00:02 prices created again" in text
    assert "resent     55 · 40 read twice" in text


@pytest.mark.parametrize("width", [26, 28])
def test_the_broker_memory_and_its_budget_fit_one_row_at_80_columns(
    snap: Snapshot, width: int
) -> None:
    """Wrapped onto two rows, they pushed the lag row out of the pane at 80x24."""
    kafka = dataclasses.replace(snap.kafka, broker_rss=int(18.8 * 2**20), broker_budget=512 * 2**20)
    lines = render(dataclasses.replace(snap, kafka=kafka), width, 40)  # the pane at 80x24
    assert all(len(line) <= width for line in lines)
    assert not any("…" in line for line in lines)
    assert [line for line in lines if line.startswith("broker mem")] == ["broker mem 18.8/512 MiB"]


def test_symbols_evicted_for_new_ones_are_counted(snap: Snapshot) -> None:
    assert "evicted" not in {line[:10].strip() for line in render(snap, 36, 30)}
    engine = dataclasses.replace(snap.engine, evicted=90_000)
    lines = render(dataclasses.replace(snap, engine=engine), 36, 30)
    max_symbols = snap.engine.config.max_symbols
    assert " ".join(_values(lines, "evicted")) == f"90,000 idle, max {max_symbols:,}"


@pytest.mark.parametrize(("width", "height"), [(26, 9), (28, 9), (40, 9)])
def test_after_a_broker_restart_a_short_pane_still_says_so(
    snap: Snapshot, width: int, height: int
) -> None:
    """The restart and the reset come down to their count and time (the toast said what
    happened) before less needed rows go, and before they go themselves: a pane that
    dropped them whole said nothing of the restart and stood half empty."""
    assert snap.producer is not None
    kafka = dataclasses.replace(
        snap.kafka,
        broker_restarts=1,
        keeper="15:24:23 restarted after exit -9 (try 1, 0.3 s)",
        recovery="15:24:24 prices created again (4 partitions): read from the start",
        duplicates=3,
    )
    producer = dataclasses.replace(snap.producer, resent=110)
    lines = render(dataclasses.replace(snap, kafka=kafka, producer=producer), width, height)
    assert len(lines) <= height and all(len(line) <= width for line in lines)
    labels = [line[:10].strip() for line in lines if line[:10].strip()]
    assert {"health", "in", "bad · dlq", "lag", "restart", "reset"} <= set(labels), lines
    assert len(lines) >= height - 1, lines  # the room is used, not left blank
    assert not any("…" in line for line in lines), lines  # down to the time, none cut
    assert "restart   1 · 15:24:23" in lines and "reset     15:24:24" in lines


@pytest.mark.parametrize("width", [28, 38])
def test_a_frozen_broker_is_said_silent_not_up_and_never_cut(snap: Snapshot, width: int) -> None:
    # librdkafka keeps calling a SIGSTOPped broker UP: its connections stay open.
    frozen = dataclasses.replace(
        snap, kafka=dataclasses.replace(snap.kafka, health="STALL", broker_state="UP",
                                        broker_silent_s=14.2, last_error="timed out")
    )  # fmt: skip
    text = "\n".join(render(frozen, width, 30))
    assert re.search(r"STALL( ·)? silent 14 s", " ".join(text.split())), text
    assert "broker UP" not in text and "…" not in text


def test_no_lag_names_no_scale(snap: Snapshot) -> None:
    calm = with_partitions(snap, PartitionLag(0, 9, 9, 0, 0.0, (0,) * 12))
    header = next(line for line in render(calm, 40, 30) if line.split()[:2] == ["p", "lag"])
    assert header.split()[-1] == "trend"  # not "trend ≤0"


def test_why_ticks_are_refused_outlasts_the_rows_that_never_change(snap: Snapshot) -> None:
    """When many ticks are refused the reason is the news: in a short pane it stays
    after the rows that never change (evicted and refused symbols) have gone."""
    kafka = dataclasses.replace(snap.kafka, bad_by=(("future time", 25_111),))
    engine = dataclasses.replace(snap.engine, evicted=40, refused=3)  # rows that stay put
    refusing = dataclasses.replace(snap, kafka=kafka, engine=engine)
    full = {line[:10].strip() for line in render(refusing, 26, 40)}
    assert {"why", "evicted", "refused"} <= full
    gone = []
    for height in range(16, 3, -1):
        kept = {line[:10].strip() for line in render(refusing, 26, height)}
        assert "why" in kept or not {"evicted", "refused"} & kept, (height, kept)
        gone += [height] if not {"evicted", "refused"} & kept else []
    assert gone and "why" in {line[:10].strip() for line in render(refusing, 26, gone[0])}


def test_many_reasons_for_refusals_are_cut_and_the_shorter_rows_stay(snap: Snapshot) -> None:
    """Six reasons at 80x24's pane (30 columns, 12 lines): the reasons are cut to whole
    ones and a count of the rest, and the rows dropped to make room for them come back
    where they fit (they had all gone, with the reasons, leaving five lines empty)."""
    bad_by = (("not JSON", 3), ("bad price", 2), ("future time", 1), ("bad symbol", 4),
              ("too large", 1), ("bad time", 1))  # fmt: skip
    many = dataclasses.replace(snap, kafka=dataclasses.replace(snap.kafka, bad_by=bad_by))
    lines = render(many, 30, 12)
    assert len(lines) == 12 and all(len(line) <= 30 for line in lines)
    labels = [line[:10].strip() for line in lines if line[:10].strip()]
    assert {"consumer", "last tick", "why", "lag"} <= set(labels)
    why = " ".join(line[10:].strip() for line in lines[labels.index("why") :][:2])
    assert why.startswith("bad symbol 4") and why.endswith("more")
    shown = sum(reason in why for reason, _ in bad_by)
    assert f"+{len(bad_by) - shown} more" in why


@pytest.mark.parametrize(("width", "height"), [(36, 30), (30, 12)])
def test_lag_is_unknown_while_the_broker_is_down_or_silent(
    snap: Snapshot, width: int, height: int
) -> None:
    """A frozen broker reports no new ends of its partitions: its lag read 0 all through
    a freeze. Down or silent, the lag is ``?``; a consumer stalled behind a live broker
    keeps its numbers."""

    def lags(**kafka: object) -> str:
        shown = render(dataclasses.replace(snap, kafka=dataclasses.replace(snap.kafka, **kafka)),
                       width, height)  # fmt: skip
        table = [line.split() for line in shown if line.split()[:1] in (["0"], ["1"], ["3"])]
        if table:
            return " ".join(row[1] for row in table)
        at = next(i for i, line in enumerate(shown) if line.startswith("lag"))
        return " ".join(line[10:].strip() for line in shown[at:])

    silent = lags(health="STALL", broker_silent_s=20.0)
    assert silent in ("? ? ?", "p0-3:?")
    assert lags(health="DOWN", broker_state="DOWN") == silent
    assert lags(health="STALL", broker_silent_s=0.0) in ("0 1 3", "p0:0 · p1:1 · p2:2 · p3:3")


@pytest.mark.parametrize("silent", [5.2, 9.4, 19.0, 123.0])
def test_a_silent_brokers_seconds_stay_with_their_unit(snap: Snapshot, silent: float) -> None:
    """At 80 columns "STALL · silent 9 s" was broken before its unit: "s" alone below."""
    k = dataclasses.replace(snap.kafka, health="STALL", broker_silent_s=silent)
    lines = render(dataclasses.replace(snap, kafka=k), 26, 12)
    at = next(i for i, line in enumerate(lines) if line.startswith("health"))
    said = [lines[at][10:].strip()]
    if not lines[at + 1][:10].strip():
        said.append(lines[at + 1][10:].strip())
    assert f"silent {silent:.0f} s" in said, lines


def test_an_embedded_broker_given_up_is_said_in_a_toast_that_stays() -> None:
    """At 80x24 the pane had room for `DOWN` and "1/1 brokers are down" only: nothing
    said the broker would not be restarted again, nor why. Said once; and once the toast
    is gone, the status line and the pane still say it (they read `STALE: no tick for
    62 s` and `restart 0 · 13:09:56`, as if none had been tried)."""
    from textual.widgets import Static

    from tests.tui.driving import drive
    from tui.app import SOURCE_STOPPED_S, LimitwatchApp, _toast_rows

    class GivenUp(StaticFeed):
        def latest(self):  # type: ignore[no-untyped-def]
            snap = super().latest()
            k = dataclasses.replace(
                snap.kafka, health="DOWN", broker_state="DOWN", broker_gave_up=True,
                embedded=True, since_last_tick_s=62.0,
                keeper="06:47:29 died: gave up after 5 tries: port 127.0.0.1:29204 is "
                "probably in use. Pick another with --broker-port, or stop what listens there.",
            )  # fmt: skip
            return dataclasses.replace(snap, kafka=k)

    feed = GivenUp()
    app = LimitwatchApp(feed)
    told: list[tuple[str, str, float]] = []

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause(0.3)
        feed.seq += 1  # a later snapshot says it again: told once
        await pilot.pause(0.3)
        told.extend((str(n.title), n.message, n.timeout) for n in app._notifications)
        app.clear_notifications()
        await pilot.pause(0.3)
        status.append(str(app.query_one("#status", Static).render()))
        kafka.append("\n".join(render(feed.latest(), 60, 0)))

    status: list[str] = []
    kafka: list[str] = []
    drive(app, script, size=(80, 24))
    down = [t for t in told if t[0] == "Broker not restarted"]
    said = (
        "Port 127.0.0.1:29204 is probably in use. Pick another "
        "with --broker-port, or stop what listens there. Tried again every 30 s."
    )
    assert down == [("Broker not restarted", said, SOURCE_STOPPED_S)], told
    # whole in the Kafka pane's room at 80x24 (the toast is 25 cells of text wide there)
    assert _toast_rows(said, "Broker not restarted", 25) <= 8
    assert status[0].startswith("STALE: broker down, tried every 30 s · "), status
    assert re.search(r"^restart +gave up after 5 tries: port 127.0.0.1:29204 is", kafka[0], re.M)
    assert "in use. Pick another with --broker-port, or stop what listens there. · 06:47:29" in (
        " ".join(kafka[0].split())
    )


def test_the_status_line_names_the_brokers_state_before_the_ticks_it_keeps_away() -> None:
    """A frozen broker read "broker silent for 5 s", then "no tick for 15 s": the cause
    gone from the line."""
    from tui.runtime.snapshot import staleness

    snap = StaticFeed().latest()
    quiet = dataclasses.replace(snap.kafka, since_last_tick_s=15.0)
    cases = [
        (dict(), "no tick for 15 s"),
        (dict(health="STALL", broker_silent_s=15.0), "broker silent for 15 s"),
        (dict(health="DOWN", broker_state="DOWN"), "broker down"),
        (dict(topic_missing=True), f"topic {snap.kafka.topic} missing"),
        (dict(health="DOWN", broker_state="DOWN", broker_gave_up=True),
         "the embedded broker is down: tried again every 30 s, or quit (q) and start again"),
        # A view whose engines were all killed while the ticks flowed: "no tick for 26 s"
        (dict(engines=("0 running", "host-1 1234 p0-3 stopped")), "no engine running for 15 s"),
        (dict(engines=("none heard from yet",)), "no engine running for 15 s"),
        (dict(engines=("1 running", "host-1 1234 p0-3")), "no tick for 15 s"),
    ]  # fmt: skip
    for changes, said in cases:
        kafka = dataclasses.replace(quiet, **changes)
        assert staleness(dataclasses.replace(snap, kafka=kafka)) == said, changes


def test_no_tick_while_the_user_has_paused_the_source_is_not_called_stale() -> None:
    """`p`: the status line read `STALE: no tick for 10 s · PAUSED`, the source's name
    pushed off it; a pause held for a broker restart, or a broker down, still are."""
    from producer.control import ProducerStats
    from tui.runtime.snapshot import staleness

    snap = StaticFeed().latest()
    quiet = dataclasses.replace(snap.kafka, since_last_tick_s=15.0)
    paused = ProducerStats(source="generator", paused=True)
    held = ProducerStats(source="generator", paused=True, held=True)
    down = dataclasses.replace(quiet, health="DOWN", broker_state="DOWN")
    assert staleness(dataclasses.replace(snap, kafka=quiet, producer=paused)) is None
    assert staleness(dataclasses.replace(snap, kafka=quiet, producer=held)) == "no tick for 15 s"
    assert staleness(dataclasses.replace(snap, kafka=down, producer=paused)) == "broker down"


@pytest.mark.parametrize("width", [26, 28, 40])
def test_ticks_lost_at_a_budget_restart_stay_said_in_a_short_pane(
    snap: Snapshot, width: int
) -> None:
    """At 80x24 the restart row came down to ``1 · 06:56:39``: 911,902 ticks lost with the
    broker were said by a toast and the log only."""
    kafka = dataclasses.replace(
        snap.kafka,
        broker_restarts=1,
        broker_lost=911_902,
        keeper="06:56:39 restarted empty at its budget, 911,902 unread ticks lost with it: "
        "ticks paused 9.1 s (reading up 8.0, restart 0.4, flowing again 0.7)",
    )
    lines = render(dataclasses.replace(snap, kafka=kafka), width, 9)
    assert len(lines) <= 9 and all(len(line) <= width for line in lines)
    row = " ".join(_values(lines, "restart"))
    assert "911,902" in row and row.startswith("1 ·"), lines


def test_a_views_engine_keeps_its_name_whole_where_there_is_room(snap: Snapshot) -> None:
    """The name (host:pid) is what tells which engine went silent: at 80 columns it was
    cut (``silent 79 s p0,…``), the name of every engine with it."""
    engines = ("0 running", "silent 79 s p0,1 vm-builder-7:40213", "stopped p2,3 vm-2:40977")
    view = dataclasses.replace(snap, kafka=dataclasses.replace(snap.kafka, engines=engines))
    lines = render(view, 28, 30)
    text = [line[11:].strip() for line in lines]
    at = text.index("0 running")
    assert text[at + 1 : at + 6] == [
        "silent 79 s p0,1",
        "vm-builder-7:4021",  # a name longer than the room folds
        "3",
        "stopped p2,3",
        "vm-2:40977",
    ]
    assert all(len(line) <= 28 for line in lines)
    # Short of room, each engine goes back to one line (its name cut) before a row goes.
    short = render(view, 28, 11)
    assert len(short) <= 11
    silent = [line for line in short if "silent 79 s p0,1" in line]
    assert len(silent) == 1 and silent[0].endswith("…")  # one line, the name cut
    assert any(line.startswith("lag") for line in short)
