"""The monitor's keys, declared once: the app binds them, and the footer, the help screen,
``limitwatch --help`` and the README's key table are all derived from this list."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KEYS", "Key", "epilog", "help_rows"]


@dataclass(frozen=True, slots=True)
class Key:
    """One key (or a pair of keys) of the monitor.

    Attributes
    ----------
    shown : str
        The key as a user types it, for the help screen and the README.
    does : str
        What it does, in a few words.
    bind : str
        Textual key names the app binds (comma-separated); empty where a widget or
        Textual itself handles the key.
    action : str
        The app action it runs.
    label : str
        Its name in the footer and the command palette.
    footer : int or None
        Its place in the footer (lowest first); None keeps it out of the footer.
    """

    shown: str
    does: str
    bind: str = ""
    action: str = ""
    label: str = ""
    footer: int | None = None


#: Every key of the monitor, in the order the help screen lists them.
KEYS: tuple[Key, ...] = (
    Key("↑ ↓  j k", "select a symbol (← → scroll sideways when narrow)", "j", "cursor(1)", "Down"),
    Key("", "", "k", "cursor(-1)", "Up"),
    Key(
        "b B / s S",
        "lower / raise its buy / sell limit by one step",
        "b",
        "step_limit('buy', -1)",
        "Buy−",
        2,
    ),
    Key("", "", "B", "step_limit('buy', 1)", "Buy+", 3),
    Key("", "", "s", "step_limit('sell', -1)", "Sell−", 4),
    Key("", "", "S", "step_limit('sell', 1)", "Sell+", 5),
    Key("l", "type its exact buy and sell limits", "l", "edit_limits", "Limits", 6),
    Key(
        "[ / ]",
        "smaller / larger step: 0.01% 0.02% 0.05% 0.1% … 10%",
        "left_square_bracket",
        "change_step(-1)",
        "Step−",
    ),
    Key("", "", "right_square_bracket", "change_step(1)", "Step+"),
    Key("p  space", "pause / resume the producer", "p,space", "toggle_pause", "Pause", 7),
    Key(
        "+ / -",
        "the feed faster / slower (a replay, the generator)",
        "plus,equals_sign",
        "speed(2)",
        "Faster",
    ),
    Key("", "", "minus", "speed(0.5)", "Slower"),
    Key("r", "start / stop recording the ticks to a scenario file", "r", "toggle_record", "Rec", 8),
    Key("/", "filter the watchlist by symbol (esc clears)", "slash", "filter", "Filter", 9),
    Key("o", "sort the watchlist: symbol, urgency, change, price", "o", "cycle_sort", "Sort"),
    Key("w", "choose the symbols shown, add ones not seen yet", "w", "choose_symbols", "Symbols"),
    Key("a", "re-centre reached automatic limits on the price", "a", "acknowledge", "Ack"),
    Key("* / m", "pin it at the top / mute its sound and toasts", "asterisk", "toggle_pin", "Pin"),
    Key("", "", "m", "toggle_mute", "Mute"),
    Key(
        "f / t",
        "signals of the selected symbol or all / of one kind",
        "f",
        "signals_for_symbol",
        "Sig: symbol",
    ),
    Key("", "", "t", "cycle_signal_kind", "Sig: kind"),
    Key(
        "e / E",
        "export the signals listed to CSV / JSON lines",
        "e",
        "export(False)",
        "Export",
    ),
    Key("", "", "E", "export(True)", "Export JSONL"),
    Key(
        "d / c",
        "why this forecast / how often the forecasts came true",
        "d",
        "details",
        "Why",
    ),
    Key("", "", "c", "track_record", "Record"),
    Key("g", "the consumer's lag over the last ten minutes", "g", "lag_history", "Lag"),
    Key(
        "z / Z",
        "chart: zoom in / out (30 s, 1, 2, 5, 15 min, all)",
        "z",
        "zoom(1)",
        "Zoom+",
    ),
    Key("", "", "Z", "zoom(-1)", "Zoom−"),
    Key(
        "? F1 ctrl+p",
        "this help (keys, words, marks) / every action by name",
        "question_mark,f1",
        "help",
        "Keys",
        1,
    ),
    Key("q  ctrl+c", "quit", "q", "quit", "Quit", 0),
)


def help_rows() -> list[tuple[str, str]]:
    """(keys, what they do) for each documented key, in order."""
    return [(key.shown, key.does) for key in KEYS if key.shown]


def epilog() -> str:
    """The key list for ``limitwatch --help``."""
    rows = help_rows()
    width = max(len(shown) for shown, _does in rows)
    lines = [f"  {shown.ljust(width)}  {does}" for shown, does in rows]
    return "keys in the monitor:\n" + "\n".join(lines)
