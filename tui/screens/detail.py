"""Why this forecast: the selected symbol's distance to each limit, its volatility and
drift with their uncertainty, the chance and time to reach each limit, and how often
forecasts like it came true on this stream."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Static

from engine import EngineState
from engine.calibration import CalibrationRecord, shift_odds
from tui.runtime import format as fmt
from tui.screens.help import Pages

__all__ = ["DetailScreen", "forecast_details"]


#: What the screen looks at: the engine's state, its track record, the record of each
#: stream (partition) where there is more than one, and per stream the corrections of
#: its WATCHes' times and chances (Engine.eta_correction, Engine.watch_correction).
Looked = tuple[
    EngineState,
    CalibrationRecord | None,
    Mapping[int, CalibrationRecord],
    Mapping[int, tuple[float, int]],
    Mapping[int, tuple[float, int]],
]


def _sigmas(distance: float, vol: float, horizon_s: float) -> str:
    """A distance (in log price, or a quantity's own units) in standard deviations of
    the move over the horizon."""
    spread = vol * math.sqrt(horizon_s)
    if not (math.isfinite(distance) and spread > 0):
        return "–"
    return f"{abs(distance) / spread:,.1f} σ"


def _reached(side: str, limit: float, last: float) -> bool:
    return last <= limit if side == "buy" else last >= limit


def _limit_row(
    side: str, limit: float, last: float, vol: float, horizon_s: float, additive: bool
) -> tuple[str, str]:
    """A limit and its distance: in percent and in log price for a price; in the value's
    own units for a quantity (``additive``), which may sit at 0."""
    label = f"{side} limit"
    if not math.isfinite(limit):
        return label, "none"
    if not (math.isfinite(last) and (additive or last > 0)):  # a replay's header gave it
        return label, f"{fmt.price(limit)} · no price yet"
    if additive:
        gap, distance, what = fmt.price(abs(limit - last)), limit - last, "the value"
    else:
        gap, distance, what = f"{abs(limit / last - 1.0):,.2%}", math.log(limit / last), "the price"
    if _reached(side, limit, last):
        where = "below" if side == "buy" else "above"
        if not additive:  # of the limit, as "above it" says (it was of the price)
            gap = f"{abs(last / limit - 1.0):,.2%}"
        return label, f"{fmt.price(limit)} · reached: {what} is {gap} {where} it"
    where = "below" if distance < 0 else "above"
    return label, (
        f"{fmt.price(limit)} · {gap} {where} {what} · "
        f"{_sigmas(distance, vol, horizon_s)} of its move over {horizon_s:g} s"
    )


def _amount(x: float, additive: bool) -> str:
    """A volatility or drift: in the value's units for a quantity, else in percent."""
    return f"{x:,.3f}" if additive else f"{x:,.3%}"


def _chance_row(
    side: str,
    p: float,
    eta: float,
    limit: float,
    last: float,
    horizon_s: float,
    warming: bool,
    timed: str = "",
) -> tuple[str, str]:
    label = f"{side} chance"
    if not math.isfinite(limit):
        return label, "no limit"
    if _reached(side, limit, last):
        return label, "reached"
    if not math.isfinite(p):
        return label, "warming up" if warming else "–"
    text = f"{fmt.chance(p)} within {horizon_s:g} s"
    if 0.0 < p < 1.0 and math.isfinite(eta):
        text += f"; if reached, in about {fmt.duration(eta)} (median{timed})"
    return label, text


def forecast_details(
    state: EngineState,
    i: int,
    record: CalibrationRecord | None,
    where: str = "this stream",
    timing: tuple[float, int] | None = None,
    watches: tuple[float, int] | None = None,
) -> list[tuple[str, str]]:
    """(label, text) rows explaining the forecast of symbol ``i`` of ``state``.

    Distances are shown in percent and in standard deviations of the log price over the
    horizon (``vol * sqrt(horizon)``), the volatility and drift per minute in percent,
    the drift with its standard error, and for each limit the probability of reaching
    it within the horizon, the median time among the paths that do, and how often the
    stream's forecasts near that probability came true (``record``, the record of the
    stream that calibrated it, named ``where``); ``timing``, the stream's correction of
    the times shown and the WATCHes it rests on (Engine.eta_correction), is said beside
    the time; ``watches``, the shift of the log-odds of the stream's WATCHes' chances and
    the WATCHes it rests on (Engine.watch_correction), as what a WATCH at ``alert_p``
    shows.
    """
    cfg = state.config
    horizon = cfg.horizon_s
    last, vol = float(state.last[i]), float(state.vol[i])
    drift, se = float(state.drift[i]), float(state.drift_se[i])
    n = int(state.n_ticks[i])
    warming = not (math.isfinite(float(state.p_buy[i])) or math.isfinite(float(state.p_sell[i])))
    additive = bool(state.additive[i])
    rows = [("value" if additive else "price", f"{fmt.price(last)} after {fmt.count(n, 'tick')}")]
    buy, sell = float(state.buy[i]), float(state.sell[i])
    rows.append(_limit_row("buy", buy, last, vol, horizon, additive))
    rows.append(_limit_row("sell", sell, last, vol, horizon, additive))
    if math.isfinite(vol):
        spread = _amount(vol * math.sqrt(horizon), additive)
        text = f"{spread} over {horizon:g} s (one standard deviation)"
        if horizon != 60.0:
            text += f" · {_amount(vol * math.sqrt(60.0), additive)} per minute"
        rows.append(("volatility", text))
    else:
        rows.append(("volatility", "not yet measured"))
    if math.isfinite(drift):
        noise = f" ± {_amount(se * 60.0, additive)}" if math.isfinite(se) else ""
        moved = ("+" if drift >= 0 else "") + _amount(drift * 60.0, additive)
        rows.append(("drift", f"{moved} per minute{noise} (one standard error)"))
        if math.isfinite(se) and se > 0:
            z = abs(drift) / se
            trust = "mostly noise" if z < 1.0 else "a trend" if z > 3.0 else "partly a trend"
            rows.append(("", f"{z:.1f} standard errors from zero: {trust}"))
    else:
        rows.append(("drift", "not yet measured"))
    timed = ""
    if timing is not None and timing[1] > 0 and timing[0] != 1.0:
        factor, answered = timing
        timed = (
            f"; computed time ×{factor:.2f}, from {answered:,} "
            f"WATCH{'' if answered == 1 else 'es'} on {where} that came true"
        )
    for side, p, eta, limit in (
        ("buy", float(state.p_buy[i]), float(state.eta_buy[i]), buy),
        ("sell", float(state.p_sell[i]), float(state.eta_sell[i]), sell),
    ):
        rows.append(_chance_row(side, p, eta, limit, last, horizon, warming, timed))
        if math.isfinite(p) and 0.0 < p < 1.0 and record is not None:
            rows.append(("", record.explain(p, where)))
    if watches is not None and watches[1] > 0 and watches[0] != 0.0:
        shift, judged = watches
        at = cfg.alert_p
        shown = shift_odds(at, shift)
        way = "lower" if shift < 0 else "higher"
        rows.append(
            (
                "",
                f"a WATCH's chance is shown {way} ({fmt.chance(at)} as {fmt.chance(shown)}), from "
                f"how often {judged:,} WATCH{'' if judged == 1 else 'es'} on {where} came true",
            )
        )
    if warming and n < cfg.warmup_ticks:
        rows.append(("", f"forecasts start after {cfg.warmup_ticks} ticks ({n} so far)"))
    elif warming:  # enough ticks, not yet over enough time (see EngineConfig.warmup_s)
        rows.append(
            ("", f"forecasts start once its ticks cover about {cfg.warmup_span:g} s of weight")
        )
    return rows


def _note(additive: bool) -> str:
    """What ``p`` means, for a price or for a quantity modelled in its own units."""
    what, walk = ("value", "the value") if additive else ("price", "the log price")
    return (
        f"p: chance that the {what} reaches the limit within the horizon, for a random "
        f"walk of {walk} with this volatility and the drift's uncertainty averaged over, "
        "corrected by what this feed's earlier forecasts came to."
    )


def details_table(rows: list[tuple[str, str]]) -> Table:
    """The rows as a two-column table, labels dimmed."""
    table = Table(box=None, padding=(0, 1), pad_edge=False, show_header=False, expand=True)
    table.add_column("what", style="dim", no_wrap=True)
    table.add_column("value", ratio=1)
    for label, text in rows:
        table.add_row(label, Text(text))
    return table


class DetailScreen(ModalScreen[None]):
    """Why the selected symbol's forecast says what it says; refreshed every second;
    escape, d or q closes."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape,d,q", "dismiss", "Close", show=False),
    ]
    DEFAULT_CSS = """
    DetailScreen {
        align: center middle;
    }
    DetailScreen > Pages {
        width: 78;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $primary;
        padding: 0 1;
        background: $surface;
    }
    """

    def __init__(
        self,
        symbol: str,
        look: Callable[[], Looked | None],
    ) -> None:
        super().__init__()
        self.symbol = symbol
        self._look = look

    def compose(self) -> ComposeResult:
        with Pages() as box:  # scrolls where the screen is short (↓ more)
            box.border_title = Text(f"Why this forecast · {self.symbol}")
            box.border_subtitle = "esc closes"
            yield Static(id="detail-table")
            yield Static(_note(False), id="detail-note", classes="detail-note")

    def on_mount(self) -> None:
        self._refresh()
        self.set_interval(1.0, self._refresh)

    def _refresh(self) -> None:
        seen = self._look()
        table = self.query_one("#detail-table", Static)
        if seen is None or self.symbol not in seen[0].symbols:
            table.update(Text(f"{self.symbol} is no longer tracked."))
            return
        state, record, tracks, timings, shifts = seen
        i = state.symbols.index(self.symbol)
        where = "this stream"
        stream = int(state.stream[i]) if state.stream is not None else None
        if stream in tracks:  # its p went through its partition's map: that record explains it
            where, record = f"partition {stream}", tracks[stream]
        timing = timings.get(stream) if stream is not None else None
        shift = shifts.get(stream) if stream is not None else None
        table.update(details_table(forecast_details(state, i, record, where, timing, shift)))
        self.query_one("#detail-note", Static).update(_note(bool(state.additive[i])))
