"""The Kafka pane: broker, consumer health, rates, dead letters and lag per partition
with a sparkline of its trend."""

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
_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: tuple[int, ...], width: int = 12) -> str:
    """The last `width` values as bars scaled to their maximum (all low when all zero)."""
    tail = values[-width:]
    if not tail:
        return ""
    top = max(tail)
    if top <= 0:
        return _BARS[0] * len(tail)
    return "".join(_BARS[min(int(v / top * (len(_BARS) - 1) + 0.5), len(_BARS) - 1)] for v in tail)


def kafka_renderable(snap: Snapshot) -> Group:
    """The pane's content for one snapshot."""
    k = snap.kafka
    head = Table.grid(padding=(0, 1))
    head.add_column(style="dim", no_wrap=True)
    head.add_column(no_wrap=True, overflow="ellipsis")
    where = "embedded" if k.embedded else "cluster"
    head.add_row("broker", Text(f"{k.bootstrap} · {where}"))
    consumer = f"group {k.group}" if k.group else "all partitions"
    head.add_row(
        "health",
        Text.assemble((k.health, HEALTH_STYLE.get(k.health, "")), f" · broker {k.broker_state}"),
    )
    head.add_row("consumer", Text(consumer))
    head.add_row("in", Text(f"{k.rate_in:,.0f} ticks/s · {k.consumed:,}"))
    if snap.producer is not None:
        p = snap.producer
        state = " · paused" if p.paused else " · done" if p.finished else ""
        head.add_row("out", Text(f"{p.rate:,.0f} ticks/s · {p.delivered:,}{state}"))
        if p.failed:
            head.add_row("failed", Text(f"{p.failed:,}", style="red"))
    idle = "–" if math.isnan(k.since_last_tick_s) else f"{k.since_last_tick_s:.1f} s ago"
    head.add_row("last tick", Text(idle))
    head.add_row(
        "bad · dlq", Text(f"{k.bad:,} · {k.dead_lettered:,}", style="bold red" if k.bad else "")
    )
    if k.embedded:
        head.add_row("broker mem", Text(fmt.size(k.broker_rss)))
    if k.health == "STALL" and k.broker_silent_s > 1:
        head.add_row("stalled", Text(f"broker silent {k.broker_silent_s:.0f} s", style="magenta"))
    elif k.last_error and k.health != "OK":
        head.add_row("error", Text(k.last_error, style="red"))
    lag = Table(box=None, padding=(0, 1), show_edge=False)
    lag.add_column("p", justify="right", style="dim")
    lag.add_column("lag", justify="right")
    lag.add_column("lag s", justify="right")
    lag.add_column("trend", no_wrap=True)
    for part in k.partitions:
        lag.add_row(
            str(part.partition),
            "?" if part.lag < 0 else f"{part.lag:,}",
            f"{part.lag_s:.1f}",
            Text(sparkline(part.trend), style="yellow" if part.lag > 0 else "green"),
        )
    return Group(head, Text(""), lag)


class KafkaPane(Static):
    """Shows `kafka_renderable` of the newest snapshot."""

    def show(self, snap: Snapshot) -> None:
        """Re-render for `snap`."""
        self.update(kafka_renderable(snap), layout=False)  # its size is set by the CSS
