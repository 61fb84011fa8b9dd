"""The watchlist editor: which symbols the watchlist shows, and symbols to add before
their first tick. Changes apply as they are made; escape or w closes it."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, SelectionList, Static
from textual.widgets.selection_list import Selection

from tui.runtime import format as fmt

#: How two names that look the same may still differ.
_ENCODED = "in how an accented letter is encoded (Unicode NFC and NFD)"


def _folded(name: str) -> str:
    """``name`` as a reader sees it: case folded, accents composed (NFC)."""
    return unicodedata.normalize("NFC", name).casefold()


#: The longest symbol name the editor takes (names from a topic are checked the same way).
MOST_CHARS = 64


def symbol_problem(name: str) -> str:
    """Why ``name`` cannot be added to the watchlist ("" if it can)."""
    if not name:
        return "type a symbol's name first"
    if len(name) > MOST_CHARS:
        return f"a symbol has at most {MOST_CHARS} characters"
    if fmt.literal(name) != name:
        return "a symbol has no control characters"
    return ""


class SymbolsScreen(ModalScreen[None]):
    """A list of every symbol known (seen, or on the watchlist), ticked where shown.

    ``apply`` gets the new watchlist after each change: the ticked symbols, or () when
    every one is ticked (so symbols seen later are shown too)."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape,w", "dismiss", "Close", show=False),
        Binding("a", "every(True)", "All", show=False),
        Binding("n", "every(False)", "None", show=False),
    ]
    DEFAULT_CSS = """
    SymbolsScreen {
        align: center middle;
    }
    SymbolsScreen > Vertical {
        width: 60;
        max-width: 95%;
        height: 80%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    SymbolsScreen SelectionList {
        height: 1fr;
        border: none;
        padding: 0;
        /* An unticked box is empty: an X in another colour read as ticked. */
        & > .selection-list--button, & > .selection-list--button-highlighted {
            color: $panel;
        }
    }
    SymbolsScreen #add {
        margin: 0;
    }
    SymbolsScreen #hint {
        color: $text-muted;
        height: auto;
    }
    """

    def __init__(
        self,
        known: Iterable[str],
        watchlist: Iterable[str],
        apply: Callable[[tuple[str, ...]], None],
    ) -> None:
        super().__init__()
        self.watchlist = tuple(watchlist)
        shown = set(self.watchlist)
        # Symbols seen, by name (in the order they came, 10,000 symbols read S00005,
        # S00007, S00011 ... as the partitions were read); then those on the watchlist
        # not seen yet.
        seen = sorted(set(known), key=lambda s: (s.casefold(), s))
        self.known = list(dict.fromkeys([*seen, *self.watchlist]))
        self._every = not shown
        self._ticked = set(self.known) if not shown else shown & set(self.known)
        self._apply = apply

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Symbols shown"
            box.border_subtitle = "tab: list, space ticks · a all · n none · esc closes"
            yield Input(placeholder="add a symbol by name, then enter…", id="add")
            yield SelectionList[str](
                *(
                    Selection(Content(fmt.literal(s)), s, s in self._ticked, id=None)
                    for s in self.known
                ),
                id="symbols",
            )
            yield Static(self._hint(), id="hint")

    def on_mount(self) -> None:
        # The name box first: a name typed at once is added (in the list it was lost,
        # and Enter unticked the highlighted symbol). Tab goes on to the list.
        self.query_one("#add", Input).focus()

    def _hint(self) -> str:
        n, total = len(self._ticked), len(self.known)
        if self._every:
            return f"all {fmt.count(total, 'symbol')} shown, and any seen later"
        if not n:
            return "none ticked: the watchlist keeps its last choice until one is"
        return f"{n} of {total} shown; symbols seen later are not (a: show all)"

    def _changed(self) -> None:
        self.query_one("#hint", Static).update(self._hint())
        if not self._every and not self._ticked:
            return  # an empty watchlist means every symbol: wait for one to be ticked
        if self._every:
            self._apply(())
        else:
            self._apply(tuple(s for s in self.known if s in self._ticked))

    @on(SelectionList.SelectedChanged)
    def _toggled(self, event: SelectionList.SelectedChanged[str]) -> None:
        ticked = set(event.selection_list.selected)
        if ticked == self._ticked:
            return
        self._ticked = ticked
        self._every = False
        self._changed()

    def action_every(self, on_: bool) -> None:
        """Tick every symbol (and show those seen later too), or none."""
        listing = self.query_one(SelectionList)
        with listing.prevent(SelectionList.SelectedChanged):
            if on_:
                listing.select_all()
            else:
                listing.deselect_all()
        self._ticked = set(self.known) if on_ else set()
        self._every = on_
        self._changed()

    @on(Input.Submitted, "#add")
    def _add(self, event: Input.Submitted) -> None:
        name = event.value.strip()
        problem = symbol_problem(name)
        hint = self.query_one("#hint", Static)
        if problem:
            # Said in the dialog: a toast waits behind it until it closes.
            hint.update(Content.styled(f"not added: {problem}", "$error"))
            return
        listing = self.query_one(SelectionList)
        unseen = name not in self.known
        if unseen:
            self.known.append(name)
            listing.add_option(Selection(Content(fmt.literal(name)), name, True))
        else:
            with listing.prevent(SelectionList.SelectedChanged):
                listing.select(name)
        self._ticked.add(name)
        self._every = False
        event.input.value = ""
        self._changed()
        # A symbol not seen yet makes no row until its first tick: said, or it looked lost.
        when = "its row appears at its first tick; " if unseen else ""
        # Names are told apart by case and by how an accent is encoded: "acme" beside
        # ACME is another symbol, and so is "café" with a combining accent beside "café"
        # with a precomposed one (they look the same), said so.
        alike = [k for k in self.known if k != name and _folded(k) == _folded(name)]
        if unseen and alike:
            if alike[0].casefold() == name.casefold():
                differ = "by case"
            elif unicodedata.normalize("NFC", alike[0]) == unicodedata.normalize("NFC", name):
                differ = _ENCODED
            else:
                differ = f"{_ENCODED} and by case"
            when = f"not {fmt.literal(alike[0])}, names differ {differ}: {when}"
        hint.update(Content(f"{name} added: {when}{self._hint()}"))
