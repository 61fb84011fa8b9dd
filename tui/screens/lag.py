"""The lag history: how far behind the consumer was over the last ten minutes, in messages
and in seconds, with the figures now per partition; refreshed every second."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static
from textual_plotext import PlotextPlot

from tui.runtime import format as fmt
from tui.runtime.health import UNKNOWN_LAG, lag_unknown
from tui.runtime.snapshot import KafkaStats


def lag_summary(kafka: KafkaStats | None) -> str:
    """One line: the lag now and the worst of the readings kept, and how long they span;
    ``?`` now while no broker answers (the ends are those it last reported)."""
    if kafka is None or not kafka.lag_log:
        return "No lag reading yet: the consumer reads the lag every 0.5 s once it has partitions."
    log = kafka.lag_log
    span = log[-1][0] - log[0][0]
    known = [r for r in log if r[1] != UNKNOWN_LAG]
    if lag_unknown(kafka) or log[-1][1] == UNKNOWN_LAG:
        now = "now ? (no broker answers: the lag cannot be told)"
    else:
        now = f"now {fmt.short_count(log[-1][1])} messages, {log[-1][2]:.1f} s behind"
    if not known:
        return f"{now} · no reading in the last {fmt.duration(span)} told it"
    worst = max(known, key=lambda r: r[1])
    worst_s = max(r[2] for r in known)
    return (
        f"{now} · worst in the last {fmt.duration(span)}: "
        f"{fmt.short_count(worst[1])} messages, {worst_s:.1f} s"
    )


def partitions_line(kafka: KafkaStats | None) -> str:
    """Each partition's lag now (``?`` where it cannot be told)."""
    if kafka is None or not kafka.partitions:
        return "no partitions assigned"
    unknown = lag_unknown(kafka)
    return "  ".join(
        f"p{p.partition}: {'?' if unknown or p.lag < 0 else fmt.short_count(p.lag)}"
        for p in kafka.partitions
    )


def _known_runs(
    log: tuple[tuple[float, int, float], ...],
) -> list[list[tuple[float, int, float]]]:
    """The readings in runs of those that told the lag: a reading taken while no broker
    answered parts them (drawn as a gap, not as a lag of 0)."""
    runs: list[list[tuple[float, int, float]]] = [[]]
    for r in log:
        if r[1] == UNKNOWN_LAG:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(r)
    return [run for run in runs if run]


class LagScreen(ModalScreen[None]):
    """A chart of the total lag (messages, left scale) and the largest lag in seconds
    (right scale) against seconds before now; escape, g or q closes it."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape,g,q", "dismiss", "Close", show=False),
    ]
    DEFAULT_CSS = """
    LagScreen {
        align: center middle;
    }
    LagScreen > Vertical {
        width: 100;
        max-width: 100%;
        height: 90%;
        border: round $primary;
        padding: 0 1;
        background: $surface;
    }
    LagScreen PlotextPlot {
        height: 1fr;
    }
    LagScreen Static {
        height: auto;
    }
    """

    def __init__(self, kafka: Callable[[], KafkaStats | None]) -> None:
        super().__init__()
        self._kafka = kafka
        self._drawn: object = None

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Lag history"
            box.border_subtitle = "esc closes"
            yield PlotextPlot(id="lag-plot")
            yield Static(id="lag-summary")
            yield Static(id="lag-partitions")

    def on_mount(self) -> None:
        self._refresh()
        self.set_interval(1.0, self._refresh)

    def _refresh(self) -> None:
        kafka = self._kafka()
        self.query_one("#lag-summary", Static).update(lag_summary(kafka))
        self.query_one("#lag-partitions", Static).update(partitions_line(kafka))
        log = kafka.lag_log if kafka is not None else ()
        key = (len(log), log[-1] if log else None)
        if key == self._drawn:
            return
        self._drawn = key
        plot = self.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        if not log:
            plt.title("no lag reading yet")
            plot.refresh()
            return
        now = log[-1][0]
        runs = _known_runs(log)
        if not runs:
            plt.title("no broker answered: the lag cannot be told")
            plot.refresh()
            return
        for i, run in enumerate(runs):  # a gap where no broker answered
            x = [t - now for t, _m, _s in run]
            first = i == 0
            plt.plot(
                x, [m for _t, m, _s in run], marker="braille",
                label="messages (left)" if first else "", color="blue+",
            )  # fmt: skip
            plt.plot(
                x, [s for _t, _m, s in run], marker="•", yside="right",
                label="seconds (right)" if first else "", color="green+",
            )  # fmt: skip
        plt.xlim(log[0][0] - now, 0)
        known = [r for run in runs for r in run]
        # Lag is never negative: both scales start at 0 (and show at least 1 when flat).
        top = max(1, max(m for _t, m, _s in known))
        plt.ylim(0, top)
        # Messages come whole: labels of whole numbers (at no lag the scale read 0.17).
        step = max(1, math.ceil(top / 4))
        counts = list(range(0, int(top) + 1, step))
        plt.yticks(counts, [fmt.short_count(c) for c in counts])
        plt.ylim(0, max(1.0, max(s for _t, _m, s in known)), yside="right")
        plt.xlabel("seconds before now")
        plot.refresh()
