"""The Kafka pane: broker, consumer health, rates, refused messages by reason, dead
letters, symbols the engine had no room for, and lag per partition with a sparkline of
its trend."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence

from rich.cells import cell_len
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from tui.runtime import format as fmt
from tui.runtime.health import lag_unknown
from tui.runtime.snapshot import PartitionLag, Snapshot

HEALTH_STYLE = {
    "OK": "bold green",
    "WARN": "bold yellow",
    "STALL": "bold magenta",
    "PAUSE": "bold cyan",
    "DOWN": "bold red",
    "FAILED": "bold red",  # the reading stopped for good (see Snapshot.failure)
}
#: Measures wrapped text for the layout only (nothing is printed).
_MEASURE = Console(width=200, color_system=None)
_BARS = "▁▂▃▄▅▆▇█"


#: Lag samples the trend column shows at most.
TREND = 12


def sparkline(values: tuple[int, ...], width: int = TREND, top: int | None = None) -> str:
    """The last `width` values as bars, the full bar standing for `top` (by default their
    own maximum; all low when it is zero)."""
    tail = values[-width:]
    if not tail:
        return ""
    top = max(tail) if top is None else top
    if top <= 0:
        return _BARS[0] * len(tail)
    return "".join(_BARS[min(int(v / top * (len(_BARS) - 1) + 0.5), len(_BARS) - 1)] for v in tail)


#: Rows left out first when the pane is too short for all of them, least needed first.
#: What the broker keeper did: down to its count and time before any row is dropped.
_KEEPER_ROWS = ("restart", "reset", "topics")
#: Why ticks are refused stays late: it is news exactly when many are.
_DROP_ORDER = (
    "resent", "broker mem", "consumer", "last tick", "evicted", "refused", "topics", "why",
    "restart", "reset", "broker",
)  # fmt: skip
#: The labels of a view's engine rows: the first, and those after it.
_ENGINES = ("engines", "")
#: Rows whose values wrap onto more lines instead of being cut: all but the short ones.
_WRAPPED = (
    "broker", "health", "consumer", "error", "lag", "why", "refused", "evicted", "in", "out",
    "restart", "topics", "reset", "resent", "broker mem",
)  # fmt: skip


def kafka_renderable(snap: Snapshot, width: int = 0, height: int = 0) -> Group:
    """The pane's content for one snapshot, fitted to ``width`` x ``height`` cells (0: no
    limit). When the lag table does not fit (its trend column narrows first), lag is one
    row (``p0-2:0 · p3:12``) and the least needed rows go, so no label or number is cut
    and every partition's lag stays on screen. While the broker is down or silent the
    lag is not known: ``?`` (the partitions' ends are those it last reported; a frozen
    broker's lag read 0 all through the freeze)."""
    k = snap.kafka
    if lag_unknown(k):
        unknown = tuple(dataclasses.replace(part, lag=-1) for part in k.partitions)
        k = dataclasses.replace(k, partitions=unknown)
        snap = dataclasses.replace(snap, kafka=k)
    rows: list[tuple[str, Text]] = []
    where = "embedded" if k.embedded else "cluster"
    broker = f"{k.bootstrap} · {where}"
    if width and cell_len(broker) > width - len("broker mem") - 1:
        broker = k.bootstrap  # the address matters more (the title says "embedded")
    rows.append(("broker", Text(broker)))
    # A frozen broker keeps its connections open: librdkafka still calls it UP, so a
    # stall says how long the broker has been silent instead.
    if k.health == "STALL" and k.broker_silent_s > 1:
        state = f"silent {k.broker_silent_s:.0f} s"
    else:
        state = f"broker {k.broker_state}"
    # Where both do not fit on one line, the state goes whole onto the next (at 80
    # columns "silent 9 s" was broken before its unit, "broker DOWN" before DOWN).
    joint = "\n" if "\n" in _packed([k.health, state], width) else " · "
    health = Text.assemble((k.health, HEALTH_STYLE.get(k.health, "")), joint, state)
    rows.append(("health", health))
    if k.engines:  # --view: the engines it shows, from their heartbeats
        rows += [(_ENGINES[i > 0], _engine_text(line, width)) for i, line in enumerate(k.engines)]
    else:
        rows.append(("consumer", Text(f"group {k.group}" if k.group else "all partitions")))
    # A rate, its total and the producer's state go onto lines of their own where they
    # do not fit on one: never cut, always in ticks/s.
    rows.append(("in", Text(_packed([f"{k.rate_in:,.0f} ticks/s", f"{k.consumed:,}"], width))))
    if snap.producer is not None:
        p = snap.producer
        parts = [f"{p.rate:,.0f} ticks/s", f"{p.delivered:,}"]
        # waiting: for what, the health and reset rows say
        parts += ["waiting"] if p.waiting else ["paused"] if p.paused else []
        parts += ["done"] if p.finished and not p.waiting and not p.paused else []
        rows.append(("out", Text(_packed(parts, width))))
    if snap.producer is not None and snap.producer.failed:
        rows.append(("failed", Text(f"{snap.producer.failed:,}", style="red")))
    idle = "–" if math.isnan(k.since_last_tick_s) else f"{k.since_last_tick_s:.1f} s ago"
    rows.append(("last tick", Text(idle)))
    rows.append(
        ("bad · dlq", Text(f"{k.bad:,} · {k.dead_lettered:,}", style="bold red" if k.bad else ""))
    )
    if k.bad_by:
        reasons = [f"{why} {n:,}" for why, n in k.bad_by]
        rows.append(("why", Text(_packed(reasons, width), style="red")))
    refused = snap.engine.refused
    if refused:
        most = snap.engine.config.max_symbols
        rows.append(("refused", Text(f"{fmt.count(refused, 'symbol')}, max {most:,}", "yellow")))
    evicted = snap.engine.evicted
    if evicted:  # idle symbols dropped for new ones (their limits are kept)
        most = snap.engine.config.max_symbols
        rows.append(("evicted", Text(f"{evicted:,} idle, max {most:,}", "yellow")))
    if snap.producer is not None and (snap.producer.resent or k.duplicates):
        again = f"{snap.producer.resent:,} · {k.duplicates:,} read twice"
        rows.append(("resent", Text(again)))
    if k.embedded:
        budget = f" of {k.broker_budget / 2**20:.0f} MiB" if k.broker_budget else ""
        mem = fmt.size(k.broker_rss) + budget
        if k.broker_budget and width and cell_len(mem) > width - len("broker mem") - 1:
            # One row at 80 columns: wrapped, it pushed the lag row out of the pane.
            mem = f"{k.broker_rss / 2**20:.1f}/{k.broker_budget / 2**20:.0f} MiB"
        rows.append(("broker mem", Text(mem)))
    if k.keeper and k.embedded and k.broker_gave_up:  # no count: "0" read as none tried
        when, _, why = k.keeper.partition(" died: ")  # "gave up after 5 tries: ..." first
        rows.append(("restart", Text(f"{why} · {when}" if why else k.keeper, style="bold red")))
    elif k.keeper and k.embedded:
        rows.append(("restart", Text(f"{k.broker_restarts} · {k.keeper}", style="yellow")))
    elif k.keeper:  # a cluster's topics, created again
        rows.append(("topics", Text(k.keeper, style="yellow")))
    if k.recovery:
        rows.append(("reset", Text(k.recovery, style="yellow")))
    if k.last_error and k.health not in ("OK", "STALL"):
        # Three lines at most (the log has it whole), fewer when the pane is short.
        error = Text(short_error(k.last_error), style="red")
        rows.append(("error", _first_lines(error, width, 3) if width else error))

    table = _lag_table(snap, width)
    table_lines = 2 + len(k.partitions)  # a blank line, the header, a row per partition
    if table is not None and (not height or _lines(rows, width) + table_lines <= height):
        return Group(_grid(rows), Text(""), table)
    lagging = any(part.lag > 0 for part in k.partitions)
    rows.append(("lag", Text(compact_lag(k.partitions), style="yellow" if lagging else "")))
    # Make room: the error down to two lines, the rates without their totals, what the
    # keeper did down to a line each (a restart is news: it goes only after rows that
    # never change), then rows least needed first, then the error down to one line.
    # The reasons for refusals are cut to two lines, then one, before they go.
    steps = [
        ("error", 2),
        ("out", 1),
        ("in", 1),
        ("engines", 1),
        *((label, 1) for label in _KEEPER_ROWS),
        *(
            (label, most)
            for label in _DROP_ORDER
            for most in ((2, 1, 0) if label == "why" else (0,))
        ),
        ("error", 1),
    ]
    placed = list(enumerate(rows))  # each row with its place, to put dropped ones back
    dropped: list[tuple[int, tuple[str, Text]]] = []
    for label, most in steps:
        if not height or _lines([row for _, row in placed], width) <= height:
            break
        if label == "engines":  # each on one line again, its name cut
            placed = [(i, (name, Text(text.plain.replace("\n", " ")) if name in _ENGINES else text))
                      for i, (name, text) in placed]  # fmt: skip
        elif label in ("in", "out"):  # their first line holds whole parts: the rate
            placed = [(i, (name, Text(text.plain.split("\n")[0]) if name == label else text))
                      for i, (name, text) in placed]  # fmt: skip
        elif label in _KEEPER_ROWS:  # the count and the time: the toast said the rest
            lost = k.broker_lost if label == "restart" else 0
            placed = [(i, (name, _whole_words(text, width, lost) if name == label else text))
                      for i, (name, text) in placed]  # fmt: skip
        elif label == "why":  # whole reasons, the most frequent first, and how many left
            why = Text(_reasons(k.bad_by, width, most), style="red")
            placed = [(i, (name, why if name == label else text)) for i, (name, text) in placed]
        elif most:
            placed = [(i, (name, _first_lines(text, width, most) if name == label else text))
                      for i, (name, text) in placed]  # fmt: skip
        else:
            dropped += [(i, row) for i, row in placed if row[0] == label]
            placed = [(i, row) for i, row in placed if row[0] != label]
    # A long row that went last (the reasons for refusals) can leave room for shorter
    # ones dropped before it: they come back, the most needed first, while they fit
    # (at 80x24, six reasons had emptied four lines and taken the consumer, last tick
    # and broker memory rows with them).
    # None comes back while a row more needed stays out.
    for i, row in reversed(dropped):
        tried = sorted([*placed, (i, row)], key=lambda item: item[0])
        if _lines([r for _, r in tried], width) > height:
            break
        placed = tried
    return Group(_grid([row for _, row in placed]))


def compact_lag(partitions: Sequence[PartitionLag]) -> str:
    """Lag per partition in one line, runs of equal lag merged: ``p0-2:0 · p3:12``."""
    runs: list[tuple[int, int, int]] = []  # first and last partition, lag
    for part in partitions:
        if runs and runs[-1][2] == part.lag and runs[-1][1] + 1 == part.partition:
            runs[-1] = (runs[-1][0], part.partition, part.lag)
        else:
            runs.append((part.partition, part.partition, part.lag))
    return (
        " · ".join(
            f"p{a}{f'-{b}' if b != a else ''}:{'?' if lag < 0 else f'{lag:,}'}"
            for a, b, lag in runs
        )
        or "–"
    )


def _packed(parts: list[str], width: int) -> str:
    """``parts`` joined by `` · ``, a new line started where the next would not fit beside
    the labels, so no part is broken (0: one line)."""
    room = _room(width) if width else 0
    lines: list[str] = []
    for part in parts:
        if lines and (not room or len(lines[-1]) + 3 + len(part) <= room):
            lines[-1] += f" · {part}"
        else:
            lines.append(part)
    return "\n".join(lines)


def _reasons(bad_by: Sequence[tuple[str, int]], width: int, most: int) -> str:
    """The reasons for refusals packed into ``most`` lines: as many whole ones as fit,
    the most frequent first, then ``+N more`` (the log and the dead-letter topic have them all)."""
    reasons = [f"{why} {n:,}" for why, n in sorted(bad_by, key=lambda r: -r[1])]
    for keep in range(len(reasons), 0, -1):
        rest = len(reasons) - keep
        text = _packed(reasons[:keep] + ([f"+{rest} more"] if rest else []), width)
        if text.count("\n") < most:
            return text
    return reasons[0] if reasons else ""


_CLOCK = re.compile(r"\d\d:\d\d:\d\d")
#: What a client's error says that the pane's other rows already say (the broker's
#: address) or that only its log needs (librdkafka's state): left out of the error row.
_CLIENT_NOISE = re.compile(
    r"^kafka: |\S+/(?:bootstrap|\d+): |Connect to \S+ failed: "
    r"| ?\(after \d+ms in state [^()]*(?:\([^()]*\)[^()]*)*\)"
)


def short_error(text: str) -> str:
    """A client's error as the error row shows it, at 80 columns in a line or two: what
    the pane says anyway (that it is Kafka's, the broker's address) and the client's state
    left out; the log keeps the whole.

    >>> short_error("kafka: 127.0.0.1:19092/bootstrap: Connect to ipv4#127.0.0.1:19092 "
    ...             "failed: Connection refused (after 0ms in state CONNECT)")
    'Connection refused'
    >>> short_error("kafka: 1/1 brokers are down")
    '1/1 brokers are down'
    """
    return _CLIENT_NOISE.sub("", text).strip() or text


def _room(width: int) -> int:
    """Cells a value has beside the widest label at ``width``, two at least."""
    return max(width - len("broker mem") - 1, 2)


def _engine_text(line: str, width: int) -> Text:
    """A view's engine line (``silent 12 s p0,1 host:pid``), its name on a line of its own
    where the whole does not fit beside the labels: the name is what tells which engine
    went silent (cut, ``silent 5 s p0,1…`` at 80 columns, it said none)."""
    head, _, name = line.rpartition(" ")
    if not width or not head or cell_len(line) <= _room(width):
        return Text(line)
    return Text(f"{head}\n{name}", no_wrap=False, overflow="fold")  # a long name folds


def _whole_words(text: Text, width: int, lost: int = 0) -> Text:
    """A keeper row on one line beside the labels: whole if it fits, else up to its
    time, none of it cut (``1 · 15:24:23 restarted after exit -9`` becomes ``1 ·
    15:24:23``; the toast said what happened, the log keeps it). Ticks ``lost`` unread
    at budget restarts, all of them, stay said in place of the time (``1 · 911,902
    lost``), which is the latest restart's, that need not be one that lost any: a restart
    that lost most of a file said only ``1 · 06:56:39`` at 80x24."""
    room = _room(width)
    plain = text.plain
    if cell_len(plain) <= room:
        return text
    if lost:
        return Text(f"{plain.split(' ')[0]} · {lost:,} lost", style=text.style)
    clock = _CLOCK.search(plain)
    return Text(plain[: clock.end()] if clock else plain.split(" ")[0], style=text.style)


def _first_lines(text: Text, width: int, most: int) -> Text:
    """``text`` wrapped beside the labels, cut to its first ``most`` lines with ``…``."""
    room = _room(width)
    lines = text.wrap(_MEASURE, room)
    if len(lines) <= most:
        return text
    kept = [line.plain.rstrip() for line in lines[:most]]
    kept[-1] = kept[-1][: room - 1] + "…"
    return Text(" ".join(kept), style=text.style)


def _label_width(rows: list[tuple[str, Text]]) -> int:
    return max(len(label) for label, _ in rows)


def _lines(rows: list[tuple[str, Text]], width: int) -> int:
    """Lines the grid of ``rows`` takes at ``width``: one a row, more for wrapped ones."""
    if not width:
        return len(rows)
    room = max(width - _label_width(rows) - 1, 1)
    return sum(
        len(text.wrap(_MEASURE, room))
        if label in _WRAPPED or text.no_wrap is False
        else text.plain.count("\n") + 1
        for label, text in rows
    )


def _grid(rows: list[tuple[str, Text]]) -> Table:
    # The labels keep their width; the values take the rest and are cut or wrapped.
    head = Table.grid(padding=(0, 1), expand=True)
    head.add_column(style="dim", no_wrap=True, min_width=_label_width(rows))
    head.add_column(no_wrap=True, overflow="ellipsis", ratio=1)
    for label, text in rows:
        if label in _WRAPPED:
            text.no_wrap, text.overflow = False, "fold"
        head.add_row(label, text)
    return head


def _lag_table(snap: Snapshot, width: int) -> Table | None:
    """Lag per partition as a table, its trend as wide as there is room for (at most
    ``TREND`` samples, left out below 4); None if even the numbers do not fit ``width``."""
    parts = snap.kafka.partitions
    cells = [
        (
            str(part.partition),
            *(("?", "?") if part.lag < 0 else (f"{part.lag:,}", f"{part.lag_s:.1f}")),
        )
        for part in parts
    ]
    numbers = sum(
        max([len(head), *(len(row[i]) for row in cells)])
        for i, head in enumerate(("p", "lag", "lag s"))
    )
    trend = TREND
    if width:
        trend = min(TREND, width - numbers - 2 * 4)  # a space either side of each column
        if trend < 4:
            trend = 0
            if numbers + 2 * 3 > width:
                return None
    # Every partition's bars on one scale, named in the header: a full bar is `top`.
    top = max((max(part.trend[-trend:], default=0) for part in parts), default=0) if trend else 0
    header = f"trend ≤{fmt.short_count(top)}"
    if len(header) > trend or top <= 0:  # no lag: flat bars, no scale to name
        header = "trend"
    table = Table(box=None, padding=(0, 1), show_edge=False)
    for head in ("p", "lag", "lag s"):
        table.add_column(head, justify="right", no_wrap=True, style="dim" if head == "p" else "")
    if trend:
        table.add_column(header, no_wrap=True)
    for part, row in zip(parts, cells, strict=True):
        bars = sparkline(part.trend, trend, top)
        spark = Text(bars, style="yellow" if part.lag > 0 else "green")
        table.add_row(*row, *([spark] if trend else []))
    return table


class KafkaPane(Static):
    """Shows `kafka_renderable` of the newest snapshot, fitted to the pane's size."""

    _snap: Snapshot | None = None

    def show(self, snap: Snapshot) -> None:
        """Re-render for `snap`."""
        self._snap = snap
        size = self.content_size
        # Its size is set by the CSS; the content is fitted to it.
        self.update(kafka_renderable(snap, size.width, size.height), layout=False)

    def on_resize(self) -> None:
        if self._snap is not None:
            self.show(self._snap)
