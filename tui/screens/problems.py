"""What went wrong as the monitor started (a broken settings file, a signal history that
cannot be read), listed until the user closes it."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Static

from producer.wire import literal
from tui.screens.help import Pages


class ProblemsScreen(ModalScreen[None]):
    """Lists ``problems`` under ``title``; escape, enter or q closes it.

    A toast was not enough: the next one (a refused limit, a crossing) took its place
    within a second, and at 80x24 a toast of eleven problems never showed at all."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape,enter,q", "dismiss", "Close", show=False),
    ]
    DEFAULT_CSS = """
    ProblemsScreen {
        align: center middle;
    }
    ProblemsScreen > Pages {
        width: 90%;
        max-width: 100;
        height: auto;
        max-height: 90%;
        border: round $warning;
        padding: 0 1;
        background: $surface;
    }
    """

    def __init__(self, title: str, problems: list[str]) -> None:
        super().__init__()
        self.title_text = title
        self.problems = list(problems)

    def compose(self) -> ComposeResult:
        with Pages() as box:
            box.border_title = self.title_text
            box.border_subtitle = "esc closes"
            # A problem may quote what a file holds: nothing in it may drive the terminal.
            yield Static(grouped([literal(p, keep="\n") for p in self.problems]), markup=False)


def _a_path(head: str) -> bool:
    """Whether a problem's text before its first ``: `` is a file's path (a sentence that
    names a path in it is not: "signal history cannot be opened (/a/h.sqlite3")."""
    if "\n" in head:
        return False
    if head.startswith(("/", "~", "./", "../")):
        return True
    return " " not in head and ("/" in head or head.endswith(".toml"))


def grouped(problems: list[str]) -> str:
    """The problems as lines, those that begin with the same file's path under it once.

    >>> print(grouped(["/a/c.toml: x is wrong", "/a/c.toml: y too", "the rest"]))
    /a/c.toml:
    • x is wrong
    • y too
    • the rest
    >>> print(grouped(["signal history cannot be opened (/a/h.db: not a database); off"]))
    • signal history cannot be opened (/a/h.db: not a database); off
    """
    lines: list[str] = []
    where = None
    for text in problems:
        head, sep, rest = text.partition(": ")
        if sep and _a_path(head):
            if head != where:
                where = head
                lines.append(f"{head}:")
            lines.append(f"• {rest}")
        else:
            lines.append(f"• {text}")
    return "\n".join(lines)
