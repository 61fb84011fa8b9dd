"""The Kafka pane: broker, health, rates, dead letters and lag per partition."""

from __future__ import annotations

import math

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from tui import format as fmt
from tui.snapshot import Snapshot

HEALTH_STYLE = {
    "OK": "bold green",
    "WARN": "bold yellow",
    "STALL": "bold magenta",
    "DOWN": "bold red",
}


def kafka_renderable(snap: Snapshot) -> Group:
    """The pane's content for one snapshot."""
    k = snap.kafka
    head = Table.grid(padding=(0, 1))
    head.add_column(style="dim")
    head.add_column()
    where = "embedded" if k.embedded else "external"
    head.add_row("broker", Text(k.bootstrap, overflow="ellipsis", no_wrap=True))
    head.add_row(
        "status",
        Text.assemble(
            (k.broker_state, ""), " ", (k.health, HEALTH_STYLE.get(k.health, "")), f" · {where}"
        ),
    )
    rate_out = "–"
    if snap.producer is not None:
        p = snap.producer
        state = " paused" if p.paused else " done" if p.finished else ""
        rate_out = f"{p.delivered:,} sent{state}"
    head.add_row("in", Text(f"{k.rate_in:,.0f}/s · {k.consumed:,} read"))
    head.add_row("out", Text(rate_out))
    idle = "–" if math.isnan(k.since_last_tick_s) else f"{k.since_last_tick_s:.1f} s ago"
    head.add_row("last tick", Text(idle))
    head.add_row(
        "bad / dlq", Text(f"{k.bad:,} / {k.dead_lettered:,}", style="red" if k.bad else "")
    )
    if k.embedded:
        head.add_row("broker mem", Text(fmt.size(k.broker_rss)))
    lag = Table(box=None, padding=(0, 1), show_edge=False)
    lag.add_column("part", justify="right", style="dim")
    lag.add_column("lag", justify="right")
    lag.add_column("lag s", justify="right")
    lag.add_column("high", justify="right", style="dim")
    for part in k.partitions:
        lag.add_row(
            str(part.partition),
            "?" if part.lag < 0 else f"{part.lag:,}",
            f"{part.lag_s:.1f}",
            "?" if part.high < 0 else f"{part.high:,}",
        )
    return Group(head, Text(""), lag)


class KafkaPane(Static):
    """Shows `kafka_renderable` of the newest snapshot."""

    def show(self, snap: Snapshot) -> None:
        """Re-render for `snap`."""
        self.update(kafka_renderable(snap))
