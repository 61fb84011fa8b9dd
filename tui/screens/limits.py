"""The limits dialog: type a symbol's exact buy and sell limits; mistakes are shown in
place and nothing is sent until both make sense."""

from __future__ import annotations

import inspect
import math
import re
from typing import ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from engine.limits import limit_problem
from tui.runtime import format as fmt
from tui.runtime.options import parse_limit


def check_limits(buy_text: str, sell_text: str, *, additive: bool = False) -> tuple[float, float]:
    """Both limits parsed and checked together (those of a quantity, ``additive``, may be
    0 or below); ValueError says what is wrong."""
    parsed = []
    for side, text in (("buy", buy_text), ("sell", sell_text)):
        try:
            parsed.append(parse_limit(text))
        except ValueError as exc:
            raise ValueError(f"{side}: {exc}") from None
    problem = limit_problem(*parsed, additive=additive)
    if problem is not None:
        raise ValueError(problem)
    return parsed[0], parsed[1]


def at_once(buy: float, sell: float, last: float) -> str:
    """What fires as soon as these limits are set, with the price at ``last`` ("" if
    nothing does).

    >>> at_once(1500.25, 160.0, 151.0)
    'buy 1,500.25 is not below the last price 151.00: a BUY fires at once'
    >>> at_once(140.0, 160.0, 151.0), at_once(140.0, float("nan"), float("nan"))
    ('', '')
    """
    last_text = fmt.price(last)
    if buy >= last:
        return f"buy {fmt.price(buy)} is not below the last price {last_text}: a BUY fires at once"
    if sell <= last:
        return (
            f"sell {fmt.price(sell)} is not above the last price {last_text}: a SELL fires at once"
        )
    return ""


#: Editing keys of an input, applied as they arrive (see LimitInput): each to its action.
_EDITING = {
    "backspace": "delete_left",
    "delete": "delete_right",
    "ctrl+d": "delete_right",
    "home": "home",
    "ctrl+a": "home",
    "end": "end",
    "ctrl+e": "end",
    "left": "cursor_left",
    "right": "cursor_right",
    "ctrl+u": "delete_left_all",
    "ctrl+k": "delete_right_all",
    "ctrl+w": "delete_left_word",
}


class LimitInput(Input):
    """An input that keeps up with keys typed in one burst.

    Textual hands each key to the widget focused when the key is read, and moves the
    focus for Tab only once that key has bubbled up to the app: keys typed right after
    Tab would land in the field Tab left. Here Tab moves the focus at once, and a key
    that reaches a field the focus has left goes on to the focused widget, in order.
    Likewise a character is typed as its key arrives but an editing key (Backspace,
    Home, ...) is a binding, run after the keys behind it: Backspace then ``149`` in one
    burst gave ``14``. Here the editing keys act as they arrive, in order.
    """

    async def _on_key(self, event: events.Key) -> None:
        focused = self.screen.focused
        if focused is not None and focused is not self:
            event.stop()
            event.prevent_default()
            focused.post_message(events.Key(event.key, event.character))
            return
        if event.key in ("tab", "shift+tab"):
            event.stop()
            event.prevent_default()
            if event.key == "tab":
                self.screen.focus_next()
            else:
                self.screen.focus_previous()
            return
        action = _EDITING.get(event.key)
        if action is not None:
            event.stop()
            event.prevent_default()
            done = getattr(self, f"action_{action}")()
            if inspect.isawaitable(done):
                await done
            return
        await super()._on_key(event)


def _shown(x: float) -> str:
    """A limit as its field starts: every digit it has (to 12 significant ones), never
    rounded to cents (a limit of 0.494 on a penny stock, or 33.74055, set with the keys)."""
    return "" if math.isnan(x) else f"{x:.12g}"


class LimitsDialog(ModalScreen[tuple[float, float] | None]):
    """Asks for (buy, sell); dismisses with them, or None when cancelled."""

    BINDINGS: ClassVar[list[Binding]] = [Binding("escape", "cancel", "Cancel", show=False)]
    DEFAULT_CSS = """
    LimitsDialog {
        align: center middle;
    }
    LimitsDialog > Vertical {
        width: 52;
        height: auto;
        border: round $primary;
        padding: 0 1;
        background: $surface;
    }
    LimitsDialog Input {
        width: 1fr;
    }
    LimitsDialog Label {
        width: 8;
        padding: 1 0 0 0;
    }
    LimitsDialog #error {
        color: $error;
        height: auto;
    }
    LimitsDialog Horizontal {
        height: auto;
    }
    LimitsDialog #buttons {
        align-horizontal: right;
    }
    """

    def __init__(
        self, symbol: str, buy: float, sell: float, last: float, *, additive: bool = False
    ) -> None:
        super().__init__()
        self.additive = additive
        self.symbol = symbol
        self.buy = buy
        self.sell = sell
        self.last = last
        #: The fields' text a warning was shown for: Enter on the same text sets them.
        self._confirming: tuple[str, str] | None = None

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = Content(f"Limits · {self.symbol}")
            yield Static(self._last_text(), id="last")
            with Horizontal():
                yield Label("buy ≤")
                yield LimitInput(_shown(self.buy), id="buy", placeholder="none")
            with Horizontal():
                yield Label("sell ≥")
                yield LimitInput(_shown(self.sell), id="sell", placeholder="none")
            yield Static("", id="error")
            with Horizontal(id="buttons"):
                yield Button("Set", variant="primary", id="set")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#buy", Input).focus()

    def _last_text(self) -> str:
        return f"last price {fmt.price(self.last)}; empty means no limit"

    def show_last(self, last: float) -> None:
        """The symbol's latest price, as it moves while the dialog is open: the warning
        that a limit fires at once is judged against it."""
        if last != self.last and not math.isnan(last):
            self.last = last
            self.query_one("#last", Static).update(self._last_text())

    @on(Input.Submitted)
    @on(Button.Pressed, "#set")
    def submit(self) -> None:
        """Check both limits; dismiss with them, or show what is wrong."""
        buy_text = self.query_one("#buy", Input).value
        sell_text = self.query_one("#sell", Input).value
        try:
            buy, sell = check_limits(buy_text, sell_text, additive=self.additive)
        except ValueError as exc:
            self.query_one("#error", Static).update(str(exc))
            # The field at fault takes the focus (it stayed on Set, a click away from it).
            side = re.search(r"\b(buy|sell)(?: limit|:)", str(exc))  # "sell: 'xyz' is not…"
            self.query_one(f"#{side[1] if side else 'buy'}", Input).focus()
            return
        # A field left as it started keeps its limit exactly, whatever digits it showed.
        buy_kept, sell_kept = buy_text == _shown(self.buy), sell_text == _shown(self.sell)
        if buy_kept:
            buy = self.buy
        if sell_kept:
            sell = self.sell
        # A limit typed that the price is already past fires at once: likely a slip of
        # the finger (1,500.25 for 150.25), so it takes a second Enter.
        past = at_once(math.nan if buy_kept else buy, math.nan if sell_kept else sell, self.last)
        if past and self._confirming != (buy_text, sell_text):
            self._confirming = (buy_text, sell_text)
            self.query_one("#error", Static).update(f"{past}: Enter again to set it anyway")
            return
        self.dismiss((buy, sell))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Close without changing anything."""
        self.dismiss(None)
