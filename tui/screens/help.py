"""The help screen: every key of the monitor and what it does, then what the Kafka
pane's words and the chart's marks mean."""

from __future__ import annotations

from typing import ClassVar

from rich.cells import cell_len
from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class Pages(VerticalScroll):
    """The help's scrolling box: its subtitle says "↓ more" while there is more below."""

    def _update_hint(self) -> None:
        more = self.scroll_y < self.max_scroll_y - 0.5
        self.border_subtitle = "esc closes · ↓ more" if more else "esc closes"

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._update_hint()

    def on_resize(self) -> None:
        self.call_after_refresh(self._update_hint)

    def watch_virtual_size(self) -> None:
        # Content that grows within a box already at its largest (a window whose text
        # comes after it opens) resizes nothing: said here.
        self.call_after_refresh(self._update_hint)

    # At once: keys typed in one burst each move the text (a scroll waits for the next
    # refresh, and each press of a burst started from the same place: ten, one line).
    def action_scroll_down(self) -> None:
        self.scroll_to(y=self.scroll_y + 1, animate=False, immediate=True)

    def action_scroll_up(self) -> None:
        self.scroll_to(y=self.scroll_y - 1, animate=False, immediate=True)

    def action_page_down(self) -> None:
        page = self.scrollable_content_region.height
        self.scroll_to(y=self.scroll_y + page, animate=False, immediate=True)

    def action_page_up(self) -> None:
        page = self.scrollable_content_region.height
        self.scroll_to(y=self.scroll_y - page, animate=False, immediate=True)


class HelpScreen(ModalScreen[None]):
    """Lists `keys` as (key, description) pairs, then each of `sections` (a title and its
    (word, meaning) pairs); any of escape, ? or q closes it, the arrows scroll."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape,question_mark,q", "dismiss", "Close", show=False),
    ]
    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > Pages {
        width: auto;
        max-width: 90%;
        height: auto;
        max-height: 90%;
        border: round $primary;
        padding: 0 1;
        background: $surface;
    }
    """

    def __init__(
        self,
        keys: list[tuple[str, str]],
        sections: list[tuple[str, list[tuple[str, str]]]] | None = None,
    ) -> None:
        super().__init__()
        self.keys = keys
        self.sections = sections or []

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 1), pad_edge=False)
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        rows = list(self.keys)
        for key, what in self.keys:
            table.add_row(key, what)
        for title, entries in self.sections:
            table.add_row("", "")
            table.add_row(title, "", style="bold")
            for word, meaning in entries:
                table.add_row(word, meaning)
            rows += entries
        with Pages() as box:
            # Sized to the table: an auto-width box around a Rich table collapses to nothing.
            keys_w = max((cell_len(key) for key, _what in rows), default=0)
            what_w = max((cell_len(what) for _key, what in rows), default=0)
            box.styles.width = keys_w + 2 + what_w + 4  # column gap, padding and border
            box.border_title = "Keys"
            box.border_subtitle = "esc closes"
            yield Static(table)
