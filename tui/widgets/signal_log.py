"""The signals log: every signal the engine emits, coloured by kind."""

from __future__ import annotations

import datetime as dt
import math

from rich.text import Text
from textual.widgets import RichLog

from engine import Signal
from tui import format as fmt

KIND_STYLE = {
    "BUY": "bold black on green",
    "SELL": "bold white on red",
    "BUY_WATCH": "green",
    "SELL_WATCH": "red",
    "GOLDEN_CROSS": "cyan",
    "DEATH_CROSS": "magenta",
}


def signal_line(sig: Signal) -> Text:
    """One log line for `sig`; the symbol is inserted as plain text, never markup."""
    clock = dt.datetime.fromtimestamp(sig.t, tz=dt.UTC).strftime("%H:%M:%S")
    kind = sig.kind.name
    line = Text()
    line.append(f"{clock} ")
    line.append(f"{kind:<12}", style=KIND_STYLE.get(kind, ""))
    line.append(" ")
    line.append(sig.symbol, style="bold")
    line.append(f" @ {fmt.price(sig.price)}")
    if math.isfinite(sig.limit):
        line.append(f"  limit {fmt.price(sig.limit)}")
    if math.isfinite(sig.p_hit) and kind.endswith("WATCH"):
        line.append(f"  p={sig.p_hit:.0%}")
    if math.isfinite(sig.eta_s) and kind.endswith("WATCH"):
        line.append(f"  eta {fmt.duration(sig.eta_s)}")
    return line


class SignalLog(RichLog):
    """Appends the signals it has not shown yet."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(max_lines=1000, markup=False, wrap=False, **kwargs)  # type: ignore[arg-type]
        self._shown_count = 0

    def show(self, signals: tuple[Signal, ...], total: int) -> None:
        """Write the signals among `signals` (the newest ones) not written before."""
        new = total - self._shown_count
        if new <= 0:
            return
        for sig in signals[-min(new, len(signals)) :]:
            self.write(signal_line(sig))
        self._shown_count = total
