"""The limitwatch Textual app: watchlist, chart, signals and the Kafka side, with keys to
move limits, steer the producer and record.

The app reads the newest snapshot from its `Feed` on a timer (10 Hz) and renders only
when a new one arrived; keys send small commands back to the feed. No other thread ever
touches a widget.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import os
import re
import signal
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.notifications import Notification, Notify, SeverityLevel
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Static
from textual.widgets._toast import ToastHolder, ToastRack

from engine import EngineConfig, Signal, SignalKind
from engine.calibration import CalibrationRecord
from engine.limits import band_limits, decimals_of, limit_problem, tidy
from producer.keeper import RETRY_GIVEN_UP_S
from tui.runtime import format as fmt
from tui.runtime import settings as cfg
from tui.runtime.history import SignalHistory, default_export_dir
from tui.runtime.keys import KEYS, help_rows
from tui.runtime.legend import legend_sections
from tui.runtime.pipeline import Feed
from tui.runtime.recorder import default_record_dir
from tui.runtime.settings import MIN_STEP, SORTS
from tui.runtime.snapshot import KafkaStats, Snapshot, staleness
from tui.runtime.watchdog import QUIT_GRACE_S, exit_hard_after
from tui.screens.detail import DetailScreen, Looked
from tui.screens.help import HelpScreen
from tui.screens.lag import LagScreen
from tui.screens.limits import LimitsDialog, at_once
from tui.screens.problems import ProblemsScreen
from tui.screens.symbols import SymbolsScreen
from tui.screens.track import TrackScreen
from tui.widgets.chart import Chart, span_text
from tui.widgets.kafka_pane import TREND, KafkaPane
from tui.widgets.signal_log import KIND_FILTERS, MAX_ROWS, SignalLog
from tui.widgets.watchlist import Watchlist

#: The sort orders as `o`'s help names them (symbol, urgency, change, price).
_SORT_WORDS = {"chg": "change", "last": "price"}

log = logging.getLogger(__name__)

#: A press of the key pressed just before that waited longer than this, seconds, is a
#: held key's repeat the monitor could not keep up with: dropped (see LimitwatchApp.on_key).
STALE_REPEAT_S = 0.5
#: UI refresh rate: how often the newest snapshot is read.
REFRESH_HZ = 10.0
#: The watchlist redraws at most this often: faster is a blur to a reader, and each
#: redraw costs the rows in view whose values changed.
TABLE_HZ = 4.0
#: The Kafka pane and the status line likewise.
PANE_HZ = 2.0
#: Crossings are gathered and shown as one notification at most this often, seconds;
#: each stays twice as long, so at most two are on screen (the signals pane lists all).
CROSSING_NOTIFY_S = 2.0
#: Watches likewise, one at a time.
WATCH_NOTIFY_S = 5.0
#: Limits asked for are shown (in italics) until the engine reports them, or this long.
PENDING_S = 3.0
#: The replay speeds the + and - keys go between.
SLOWEST_SPEED, FASTEST_SPEED = 1 / 64, 1024.0
#: How long the toast saying the source stopped on an error stays, seconds.
SOURCE_STOPPED_S = 30.0
#: Below this many columns the layout is tiny (the "-tiny" breakpoint below): the
#: watchlist and the signals take the width; the Kafka pane and the chart give way.
TINY_BELOW = 70
#: Below this many columns the layout is narrow (as the "-narrow" breakpoint below).
NARROW_BELOW = 100
#: The smallest screen the panes are drawn on (at 36x9 two rows of the watchlist show).
FEWEST_COLUMNS, FEWEST_ROWS = 30, 8
#: The actions the keys take while the screen is smaller than that.
_WHEN_TOO_SMALL = frozenset({"quit", "help"})
#: From this many columns the layout is wide (the "-wide" breakpoint below).
WIDE_FROM = 140
#: The ``replaces`` key of the toast that says the filter hides every symbol.
NO_MATCH = "no match"
#: The ``replaces`` keys of the toasts that tell of signals.
_SIGNAL_TOASTS = ("crossing", "watch")
#: The screen row the first toast starts on (ToastRack's margin-top in app.tcss).
TOAST_TOP = 4


def _toast_rows(message: str, title: str, width: int) -> int:
    """Rows a toast takes: its title and each line of its text wrapped at ``width``
    cells (a word that does not fit goes to the next row: one row more per line).

    >>> _toast_rows("SELL ACME @ 101.20 (limit 101.00)", "", 25), _toast_rows("ok", "t", 25)
    (3, 2)
    """
    rows = 0
    for line in ([title] if title else []) + message.split("\n"):
        cells = cell_len(line)
        rows += 1 if cells <= width else math.ceil(cells / width) + 1
    return rows


def _cut_to_rows(message: str, title: str, width: int, rows: int) -> str:
    """``message`` as it is if its toast takes at most ``rows`` rows (:func:`_toast_rows`),
    else its longest beginning that does, ended with an ellipsis. At least one row of text
    stays, however few ``rows`` are.

    >>> _cut_to_rows("a short one", "t", 25, 2)
    'a short one'
    >>> _cut_to_rows("ticks.csv:51: a line far too long to read " * 3, "Stopped", 25, 4)
    'ticks.csv:51: a line far too long to read …'
    """
    if _toast_rows(message, title, width) <= rows:
        return message
    lo, hi = 0, len(message)  # the longest prefix that fits lies in [lo, hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _toast_rows(message[:mid].rstrip() + " …", title, width) <= rows:
            lo = mid
        else:
            hi = mid
    cut = message[:lo].rstrip()
    if " " in cut[-width:]:  # end at a word, not in one
        cut = cut[: cut.rindex(" ")].rstrip()
    return f"{cut} …" if cut else message[: max(width - 2, 1)] + " …"


#: Rows below which the chart and the signals give their room to the watchlist (at 60x15
#: the watchlist had one line left and showed no symbol; crossings still come as toasts).
SHORT_BELOW = 20
_NOTIFY_KINDS = {SignalKind.BUY, SignalKind.SELL, SignalKind.BUY_WATCH, SignalKind.SELL_WATCH}


#: How the footer shows keys whose Textual names are words.
_DISPLAY = {
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "plus": "+",
    "minus": "-",
    "slash": "/",
    "question_mark": "?",
    "asterisk": "*",
}


def _new_file(folder: Path, stem: str, suffix: str, taken: set[Path]) -> Path:
    """``folder/stem.suffix``, or with ``-2``, ``-3``, ... where that exists or is in
    ``taken`` (asked for, not written yet): names are to the second, and two presses
    within a second wrote into one file."""
    path, again = folder / f"{stem}.{suffix}", 1
    while path.exists() or path in taken:
        again += 1
        path = folder / f"{stem}-{again}.{suffix}"
    return path


class LimitwatchApp(App[None]):
    """The monitor. `feed` supplies snapshots and takes commands.

    Parameters
    ----------
    feed:
        Where snapshots come from and commands go (the running pipeline, or a test feed).
    settings:
        Step, notifications, sort order and remembered limits.
    config_path:
        Where changed settings are saved; None saves nothing.
    problems:
        What was wrong with the settings file, shown once the screen is up (changes are
        then saved beside it, not over it).
    notes:
        Said with the problems, and no fault of the file (remembered limits the engine
        started without).
    freeze_gc:
        Once the screen is up, collect garbage and move every object alive then (the
        widgets, Textual's and the modules') out of the garbage collector's sight. Full
        collections then take ~15 ms instead of ~100 ms, a pause every thread of the
        process (the consumer too) would otherwise feel every second or so under load.
        For the process that runs the monitor; tests, which run many apps, leave it off.
    """

    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "limitwatch"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [
        (0, "-tiny"),
        (TINY_BELOW, "-narrow"),
        (NARROW_BELOW, "-medium"),
        (WIDE_FROM, "-wide"),
    ]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (SHORT_BELOW, "-tall")]
    BINDINGS: ClassVar[list[Binding]] = [
        Binding(
            key.bind,
            key.action,
            key.label,
            show=key.footer is not None,
            key_display=_DISPLAY.get(key.bind.split(",")[0]),
            tooltip=key.does,
        )
        for key in sorted(
            (k for k in KEYS if k.bind), key=lambda k: (k.footer is None, k.footer or 0)
        )
    ] + [
        # Ctrl+C quits as it does in any terminal program: Textual would only copy the
        # selected text and, pressed again, say that ctrl+q quits.
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        feed: Feed,
        step: float | None = None,
        sub_title: str = "",
        record_dir: Path | None = None,
        settings: cfg.Settings | None = None,
        config_path: Path | None = None,
        problems: list[str] | None = None,
        notes: list[str] | None = None,
        freeze_gc: bool = False,
        history: SignalHistory | None = None,
        export_dir: Path | None = None,
        fixed_limits: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__()
        self.freeze_gc = freeze_gc
        self.history = history
        self.fixed_limits = fixed_limits  # limits given with --limit: `a` leaves them
        self.export_dir = export_dir or default_export_dir()
        self._exporting: set[Path] = set()  # files being written by export workers
        self.feed = feed
        self.record_dir = record_dir or default_record_dir()
        self.settings = settings or cfg.Settings()
        self._saved_settings = self.settings  # as read; then as last written
        self.step = step if step is not None else self.settings.step
        self.config_path = config_path
        self.sub_title = sub_title
        self._shown_seq = -1
        self._snapshot: Snapshot | None = None
        self._pending: dict[str, tuple[float, float]] = {}
        self._pending_at: dict[str, float] = {}
        # A step key pressed once that would fire its limit at once (symbol, side,
        # direction), until pressed again or STEP_CONFIRM_S pass.
        self._step_confirm: tuple[str, str, int] | None = None
        self._step_confirm_until = 0.0
        # The last step key pressed (symbol, side, direction) and when: a press that
        # follows a press of it within STEP_REPEAT_S is a held key's repeat.
        self._step_pressed: tuple[tuple[str, str, int] | None, float] = (None, -math.inf)
        #: The replay speed last asked for, and when (monotonic).
        self._speed_asked: tuple[float, float] | None = None
        self._notice_seq = 0
        self._signals_seen = 0
        self._watch_backlog: list[Signal] = []
        self._crossing_backlog: list[Signal] = []
        self._pane_seq: dict[str, int] = {}
        self._pane_at: dict[str, float] = {}
        self._urgent = False
        self._urgent_until = -math.inf
        self._urgent_timer: Timer | None = None
        self._last_watch_notify = -math.inf
        self._last_crossing_notify = -math.inf
        self._last_desktop = -math.inf
        self._desktop_backlog: list[Signal] = []
        self._told_source_error = ""
        self._told_keeper = ""  # the embedded broker's last give-up, said
        self._told_history = ""
        self._told_failure = False  # the reading's failure, said (see _tell_failure)
        self._recordings: set[Path] = set()  # the recordings asked for
        self._told_notice = ""  # the signal history's last notice, said
        self._startup_problems = list(problems or [])
        self._quitting_on_signal = False
        self._hung_up = False  # the terminal hung up (SIGHUP): see _watch_hangup
        if config_path is not None:
            # A file that did not load cleanly is kept; changes go beside it.
            self.config_path, note = cfg.save_target(config_path, self._startup_problems)
            if note:
                self._startup_problems.append(note)
        # Said with the problems, but no fault of the file (it is saved in place).
        self._startup_problems += notes or []
        self._replaceable: dict[str, Notification] = {}  # see notify(replaces=)
        self._last_key = ""  # the key whose binding ran last (see on_key)
        self._stale_repeats = 0  # presses dropped as held-key repeats

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        with Horizontal(id="top"):
            with Vertical(id="left"):
                filt = Input(placeholder="symbol contains…", id="filter")
                # Hidden, and no focus until shown: Textual focused it first, and a `q`
                # pressed while the monitor started was typed into it, not a quit.
                filt.display = filt.can_focus = False
                yield filt
                table = Watchlist(id="watchlist")
                table.border_title = "Watchlist"
                yield table
            pane = KafkaPane(id="kafka")
            pane.border_title = "Kafka"
            yield pane
        with Horizontal(id="bottom"):
            chart = Chart(id="chart")
            chart.border_title = "Chart"
            yield chart
            log = SignalLog(id="signals")
            log.border_title = "Signals"
            yield log
        yield Static("waiting for the first ticks…", id="status")
        yield Static("", id="too-small")
        yield Footer()

    def on_mount(self) -> None:
        # SIGTERM (a process manager, `kill`) and SIGHUP (the terminal window closed) quit
        # as `q` does: the threads stopped, the terminal given back as it was; and if
        # that hangs, the process ends anyway (see exit_hard_after).
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGTERM, self._quit_on_signal, signal.SIGTERM)
            self._watch_hangup(loop)
        if self.settings.theme in self.available_themes:
            self.theme = self.settings.theme
        else:
            self._startup_problems.append(
                f"no theme called {self.settings.theme!r}; using {self.theme}"
            )
        self.theme_changed_signal.subscribe(self, self._keep_theme)
        table = self.query_one(Watchlist)
        table.set_order(self.settings.sort)
        table.set_marks(frozenset(self.settings.pinned), frozenset(self.settings.muted))
        table.set_shown(self.settings.watchlist)
        self._title_watchlist()
        table.focus()
        if self.history is not None:
            if self.history.problem:
                self._startup_problems.append(self.history.problem)
                self._told_history = self.history.problem
            self.query_one(SignalLog).set_past(self.history.past(MAX_ROWS))
        self.report_problems(self._startup_problems)
        self.refresh_view()
        self.set_interval(1.0 / REFRESH_HZ, self.refresh_view)
        if self.freeze_gc:
            self.call_after_refresh(_freeze_gc)

    def notify(  # type: ignore[override]
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
        replaces: str | None = None,
    ) -> None:
        """Textual's notify, but plain text by default: messages carry symbols and paths,
        which are untrusted and must never be read as markup.

        A toast with ``replaces`` takes the place of the one shown with the same value, if
        still on screen: a key pressed five times gives one toast with the latest value,
        not five stacked over the panes. Without ``replaces`` a toast replaces one with
        the same text, so a refused key pressed again refreshes its message.
        """
        message, title = fmt.literal(message, keep="\n"), fmt.literal(title)
        fit = self._toast_room()
        if fit is not None:
            # One toast taller than the room ran over the signals pane's title at 80x24
            # (a source stopped on a 50 MB line): cut to the room, with an ellipsis.
            cut = _cut_to_rows(message, title, fit[1], fit[0])
            # The rest goes to the log (a path and a reason, say); not a signal's toast's,
            # every one of which the signals pane and the signal history hold.
            if cut != message and replaces not in _SIGNAL_TOASTS:
                log.warning("toast cut to fit: %s%s", f"{title}: " if title else "", message)
            message = cut
        if replaces is None:
            replaces = f"{severity}\0{title}\0{message}"
        toast = Notification(
            message,
            title,
            severity,
            self.NOTIFICATION_TIMEOUT if timeout is None else timeout,
            markup=markup,
        )
        shown = self._replaceable.get(replaces)
        self._replaceable = {  # forget toasts gone from the screen
            key: n for key, n in self._replaceable.items() if n in self._notifications
        }
        self._replaceable[replaces] = toast
        # Keys typed quickly are handled before a posted toast would be: the toast goes
        # on at once instead, so the next key finds it. Textual 8 (the version pinned)
        # keeps these methods private; without them, toasts just stack.
        try:
            if shown is not None and shown in self._notifications:
                self._unnotify(shown, refresh=False)
            self._on_notify(Notify(toast))
            self._fit_toasts()
        except AttributeError:
            self.post_message(Notify(toast))
        if shown is not None:
            self.call_after_refresh(self._drop_empty_toast_holders)

    def _withdraw(self, replaces: str) -> None:
        """Take off the toast shown with ``replaces``, if still on screen."""
        shown = self._replaceable.pop(replaces, None)
        if shown is None or shown not in self._notifications:
            return
        try:
            self._unnotify(shown)
        except AttributeError:  # (see notify)
            return
        self.call_after_refresh(self._drop_empty_toast_holders)

    def _toast_room(self) -> tuple[int, int] | None:
        """Rows the toasts have in the Kafka pane below its broker and health rows, and
        the cells of a toast's text line; None without the pane (another screen)."""
        try:
            pane = self.query_one(KafkaPane)
        except Exception:
            return None
        if not pane.region.height:  # not laid out yet (the first snapshot's toasts)
            return None
        width = self.size.width
        # The toast's width in app.tcss at each breakpoint, less its border and padding.
        text = (38 if width >= WIDE_FROM else 32 if width >= NARROW_BELOW else 28) - 3
        return pane.region.bottom - 1 - TOAST_TOP, text

    def _fit_toasts(self) -> None:
        """Take toasts off until the rest fit in the Kafka pane below its broker and
        health rows, signal toasts first, then the oldest: at 80x24 two signal toasts and a
        recording's long path ran over the signals pane's title. (Rows counted as the
        toast's text wraps at its width, as app.tcss sets it; the newest toast that is not
        a signal's always shows.)"""
        fit = self._toast_room()
        if fit is None:  # another screen: nothing to fit under
            return
        room, text = fit
        toasts = list(self._notifications)  # oldest first
        rows = [_toast_rows(n.message, n.title, text) for n in toasts]
        # The signal toasts go first (the signals pane lists every one), then the oldest.
        # (Notifications compare by value and do not hash: by identity here.)
        signals = [self._replaceable.get("crossing"), self._replaceable.get("watch")]
        is_signal = [any(t is n for n in signals) for t in toasts]
        order = [i for i in range(len(toasts)) if is_signal[i]]
        order += [i for i in range(len(toasts) - 1) if not is_signal[i]]
        total = sum(rows)
        for i in order:
            if total <= room:
                break
            self._unnotify(toasts[i], refresh=False)
            total -= rows[i]
        if total < sum(rows):  # the holders of those taken off
            self.call_after_refresh(self._drop_empty_toast_holders)

    def _refresh_notifications(self) -> None:
        """Toasts on the monitor's own screen only: over a dialog or a screen of its own
        (keys, limits, detail, lag, track record) they were drawn over its text. The
        signals pane lists every crossing, and the toasts still current show again when
        the monitor's screen comes back (Textual refreshes them then)."""
        if self.screen_stack and isinstance(self.screen_stack[-1], ModalScreen):
            return
        super()._refresh_notifications()

    def _drop_empty_toast_holders(self) -> None:
        """Remove the holders of toasts taken off the screen. Textual's rack removes a
        replaced toast but not the holder around it, which keeps a row: each toast then
        came lower down the screen, over the watchlist and at last the signals."""
        # By the notifications still current, not by empty holders: a holder just
        # mounted has no toast in it yet, and was taken off with the toast to come.
        current = {ToastRack._toast_id(n) for n in self._notifications}
        for holder in self.screen.query(ToastHolder):
            if holder.id not in current:
                holder.remove()

    def on_resize(self, event: events.Resize) -> None:
        """On a narrow screen the footer packs its keys closer and leaves out ctrl+p (the
        help lists it), so every key it shows, `/` and `?` among them, stays in view.
        Below :data:`FEWEST_COLUMNS` x :data:`FEWEST_ROWS` the panes give way to a line
        that says so (at 20x5 the screen showed a watchlist's border and nothing in it)."""
        width, height = event.size
        small = width < FEWEST_COLUMNS or height < FEWEST_ROWS
        main = self.screen_stack[0] if self.screen_stack else self.screen
        was_small = main.has_class("-too-small")
        main.set_class(small, "-too-small")
        if small != was_small:
            self.refresh_bindings()  # the keys that act while too small: see check_action
        if was_small and not small and self.screen is main and self.focused is None:
            # Hiding the panes took the focus from the watchlist: given back, or the
            # arrow keys moved nothing once the terminal grew again.
            self.query_one(Watchlist).focus()
        if small:
            main.query_one("#too-small", Static).update(
                f"Too small ({width}x{height}): limitwatch needs "
                f"{FEWEST_COLUMNS}x{FEWEST_ROWS}; q quits."
            )
        narrow = width < NARROW_BELOW
        footer = self.query_one(Footer)
        footer.compact = narrow
        if footer.show_command_palette == narrow:
            footer.show_command_palette = not narrow
            # The footer draws its keys anew only when told (a terminal shrunk to 80
            # columns kept the ctrl+p hint over "? Keys").
            footer.refresh(recompose=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """While the terminal is too small for the panes, only quitting and the help
        act: the limit keys moved the limits of a row no one could see."""
        main = self.screen_stack[0] if self.screen_stack else None
        if main is not None and main.has_class("-too-small"):
            return action in _WHEN_TOO_SMALL
        return True

    def _watch_hangup(self, loop: asyncio.AbstractEventLoop) -> None:
        """SIGHUP quits as SIGTERM does, and the SIGCONT that comes with it is not taken
        as a return from Ctrl+Z. A terminal that hangs up sends both; the user
        interface's handler of SIGCONT took the user interface up again on the terminal
        gone, with an output thread that died at its first write, and the quit then
        waited on it until the last resort ended the process 10 s on, the embedded
        broker's files left behind (about half the closings of a busy monitor's window).
        SIGHUP is handled at once, in the main thread before SIGCONT (the lower number
        first), so the hang-up is known when SIGCONT comes; the quit itself runs in the
        loop."""
        resume = signal.getsignal(signal.SIGCONT)

        def on_hangup(signum: int, _frame: FrameType | None) -> None:
            self._hung_up = True
            loop.call_soon_threadsafe(self._quit_on_signal, signal.Signals(signum))

        def on_continue(signum: int, frame: FrameType | None) -> None:
            if not self._hung_up and callable(resume):
                resume(signum, frame)

        signal.signal(signal.SIGHUP, on_hangup)
        signal.signal(signal.SIGCONT, on_continue)

    def _quit_on_signal(self, sig: signal.Signals) -> None:
        self.exit()
        if not self._quitting_on_signal:
            self._quitting_on_signal = True
            exit_hard_after(QUIT_GRACE_S, 128 + sig, sig.name)

    def _keep_theme(self, theme: object) -> None:
        """Remember the theme chosen (ctrl+p, "Change theme") for the next start."""
        if self.theme != self.settings.theme:
            self.settings = replace(self.settings, theme=self.theme)
            self._save_settings()

    def report_problems(self, problems: list[str]) -> None:
        """Show start-up problems (a broken config file) on a screen of their own until
        closed, and log them: as toasts, one each gave way to the last (where changes are
        saved instead), and then one of all of them to the next toast (a refused limit, a
        crossing) within a second; at 80x24 it never showed."""
        for text in problems:
            log.warning("at start: %s", text)
        if problems:  # the settings file's, the signal history's
            self.push_screen(ProblemsScreen("Problems at start", problems))

    # -- rendering ------------------------------------------------------------------------
    def refresh_view(self) -> None:
        """Render the newest snapshot: the cheap parts at once, each costly pane at its
        own pace, and everything at once right after a key changed something."""
        if not self.screen_stack or not self.query("#status"):
            return  # shutting down: the widgets are gone
        snap = self.feed.latest()
        if snap is None:
            return
        if snap.failure and not self._told_failure:
            self._tell_failure(snap.failure)
        if snap.seq != self._shown_seq:
            self._shown_seq = snap.seq
            self._snapshot = snap
            self._settle_pending(snap)
            self.query_one(SignalLog).show(snap.signals, snap.signal_count)
            for notice in snap.notices:
                if notice.seq > self._notice_seq:
                    self._notice_seq = notice.seq
                    self.notify(notice.text, severity="error" if notice.error else "information")
            self._notify_signals(snap)
            self._notify_source_stopped(snap)
            self._notify_broker_given_up(snap)
            self._notify_history_off()
            dialog = self.screen
            if isinstance(dialog, LimitsDialog) and dialog.symbol in snap.engine.symbols:
                i = snap.engine.symbols.index(dialog.symbol)
                dialog.show_last(float(snap.engine.last[i]))
        now = time.monotonic()
        stale = staleness(snap)
        if self._due("table", snap.seq, now, 1.0 / TABLE_HZ):
            self.query_one(Watchlist).show(
                snap.engine, stale is not None, self._pending, snap.stale_symbols
            )
        if self._due("kafka", snap.seq, now, 1.0 / PANE_HZ):
            self.query_one(KafkaPane).show(snap)
            self._show_status(snap, stale)
        self._show_chart(snap)
        self._urgent = False

    def _tell_failure(self, failure: str) -> None:
        """The reading stopped for good (its thread failed): said once, in a toast that
        stays, and on every pane at once (their snapshot no longer changes, so they
        would not be drawn again); the monitor then exits with status 1."""
        self._told_failure = True
        self._pane_seq.clear()
        self.notify(
            f"The reading stopped: {failure}. Nothing on screen changes any more: quit (q) "
            "and start again; the log says more.",
            title="limitwatch failed",
            severity="error",
            timeout=float("inf"),
        )

    def _show_status(self, snap: Snapshot, stale: str | None) -> None:
        bar = self.query_one("#status", Static)
        width = bar.content_size.width or self.size.width - 2
        bar.update(Content(status_line(snap, self.step, width, stale)), layout=False)

    def _due(self, pane: str, seq: int, now: float, interval: float) -> bool:
        """Whether `pane` should show snapshot `seq` now; marks it shown if so."""
        if self._pane_seq.get(pane) == seq:
            return False
        if not self._urgent and now - self._pane_at.get(pane, -math.inf) < interval:
            return False
        self._pane_seq[pane] = seq
        self._pane_at[pane] = now
        return True

    def _expect_change(self) -> None:
        """A key asked for a change: look for it every 20 ms (not every 100) and show it
        at once, until the engine reports it or a second has passed."""
        self._urgent = True
        self._pane_seq.clear()
        self._urgent_until = time.monotonic() + 1.0
        if self._urgent_timer is None:
            self._urgent_timer = self.set_interval(0.02, self._refresh_urgently)

    def _refresh_urgently(self) -> None:
        settled = not self._pending or time.monotonic() > self._urgent_until
        if settled and self._urgent_timer is not None:
            self._urgent_timer.stop()
            self._urgent_timer = None
        self._urgent = True
        self.refresh_view()

    def _notify_signals(self, snap: Snapshot) -> None:
        """Pop up new crossings and watches, a few at a time: each toast is a widget the
        screen must lay out, so a busy market is summed up rather than shown one by one."""
        new = snap.signal_count - self._signals_seen
        self._signals_seen = snap.signal_count
        if new > 0 and self._shown_seq != 1:  # the first snapshot's backlog stays in the log
            muted = self.settings.muted
            watched = frozenset(self.settings.watchlist)  # empty: every symbol
            fresh = [
                s
                for s in snap.signals[-min(new, len(snap.signals)) :]
                if s.kind in _NOTIFY_KINDS
                and s.symbol not in muted
                and (not watched or s.symbol in watched)
            ]
            crossings = [s for s in fresh if s.kind in (SignalKind.BUY, SignalKind.SELL)]
            if self.settings.bell and crossings:
                self.bell()
            if self.settings.desktop != "off" and crossings:
                self._desktop_backlog.extend(crossings)
            self._crossing_backlog.extend(crossings)
            self._watch_backlog.extend(s for s in fresh if s not in crossings)
        if self._desktop_backlog:
            self._desktop_notify()
        if not self.settings.notify:
            self._crossing_backlog.clear()
            self._watch_backlog.clear()
            return
        now = time.monotonic()
        if self._crossing_backlog and now - self._last_crossing_notify >= CROSSING_NOTIFY_S:
            self._last_crossing_notify = now
            last = self._crossing_backlog[-1]
            text = (
                f"{last.kind.name} {last.symbol} @ {fmt.price(last.price)} "
                f"(limit {fmt.price(last.limit)})"
            )
            if len(self._crossing_backlog) > 1:
                text += f" +{len(self._crossing_backlog) - 1} more"
            # One crossing toast at a time (the signals pane lists every one): a busy
            # market would otherwise stack them over the Kafka pane. Worded to fit the
            # toast's one line at 80 columns.
            self.notify(
                text, severity="warning", timeout=CROSSING_NOTIFY_S * 2, replaces="crossing"
            )
            self._crossing_backlog.clear()
        if self._watch_backlog and now - self._last_watch_notify >= WATCH_NOTIFY_S:
            self._last_watch_notify = now
            last = self._watch_backlog[-1]
            text = f"{last.kind.name} {last.symbol} @ {fmt.price(last.price)}"
            if math.isfinite(last.p_hit):
                text += f": {fmt.chance(last.p_hit)} in ≤{self._horizon_text()}"
            if len(self._watch_backlog) > 1:
                text += f" +{len(self._watch_backlog) - 1} more"
            self.notify(text, timeout=WATCH_NOTIFY_S - 1, replaces="watch")
            self._watch_backlog.clear()

    def _notify_history_off(self) -> None:
        """Say once, in a toast that stays, that the signal history stopped working during
        the run (a full disk, a file changed under it), or that its file was deleted and
        is kept again: the log alone is missed."""
        history = self.history
        if history is not None and history.notice and history.notice != self._told_notice:
            self._told_notice = history.notice  # the file deleted under it, and kept again
            self.notify(history.notice, title="Signal history", severity="warning", timeout=30)
        if history is None or history.enabled or not history.problem:
            return
        if history.problem == self._told_history:
            return
        self._told_history = history.problem
        self.notify(history.problem, title="Signal history off", severity="error",
                    timeout=30)  # fmt: skip

    def _desktop_notify(self) -> None:
        """Ask the terminal for a desktop notification of the latest crossing waiting
        (and how many more came with it), at most one every CROSSING_NOTIFY_S."""
        now = time.monotonic()
        if now - self._last_desktop < CROSSING_NOTIFY_S or self._driver is None:
            return
        self._last_desktop = now
        last, more = self._desktop_backlog[-1], len(self._desktop_backlog) - 1
        self._desktop_backlog.clear()
        body = (
            f"{last.kind.name} {last.symbol} @ {fmt.price(last.price)} "
            f"(limit {fmt.price(last.limit)})"
        )
        if more:
            body += f" and {more} more crossings"
        self._driver.write(cfg.desktop_sequence(self.settings.desktop, "limitwatch", body))

    def _notify_source_stopped(self, snap: Snapshot) -> None:
        """Say once, in a toast that stays, that the source stopped on an error (a bad
        line, with the option that skips such lines), or what its end leaves to check (a
        file whose last line has no newline may have had its last price cut short: a
        false BUY that nothing else would question): the status line alone is missed."""
        producer = snap.producer
        if producer is None or not producer.finished:
            return
        text, source = producer.last_error or producer.note, producer.source
        if not text or text == self._told_source_error:
            return
        self._told_source_error = text
        # A message that names its file already (FILE:LINE: ...): once is enough, by its
        # name (the log has the path), so that what to do still fits at 80x24.
        named = not source or text.startswith(f"{source}:")
        if source and named:
            text = Path(source).name + text[len(source) :]
        if not producer.last_error:  # it ended, with something to check
            self.notify(
                text, title="The source ended", severity="warning", timeout=SOURCE_STOPPED_S
            )
            return
        self.notify(
            text,
            title="The source stopped" if named else f"{Path(source).name} stopped",
            severity="error",
            timeout=SOURCE_STOPPED_S,
        )

    def _notify_broker_given_up(self, snap: Snapshot) -> None:
        """Say once, in a toast that stays, that the embedded broker could not be
        restarted and why: at 80x24 the Kafka pane had room for `DOWN` and "1/1 brokers
        are down" only, and nothing said it had stopped trying."""
        k = snap.kafka
        if not (k.embedded and k.broker_gave_up) or k.keeper == self._told_keeper:
            return
        self._told_keeper = k.keeper
        why = k.keeper.split(": ", 1)[-1].rstrip(".")  # past the time and "died"
        # The title says it was given up: the tries go, so that the advice fits at 80x24.
        why = re.sub(r"^gave up after \d+ tries: (the embedded broker )?", "", why)
        why = why[:1].upper() + why[1:]
        # Short enough for the Kafka pane's room at 80x24 (see _cut_to_rows).
        self.notify(
            f"{why}. Tried again every {RETRY_GIVEN_UP_S:.0f} s.",
            title="Broker not restarted",
            severity="error",
            timeout=SOURCE_STOPPED_S,
        )

    def _show_chart(self, snap: Snapshot) -> None:
        watchlist = self.query_one(Watchlist)
        symbol = watchlist.selected_symbol
        if symbol is not None and snap.chart_symbol != symbol:
            self.feed.select(symbol)  # the worker has not caught up with the selection yet
        limits = None
        if symbol is not None:
            limits = self._pending.get(symbol) or self._limits_in(snap, symbol)
        history = snap.history if snap.chart_symbol == symbol else None
        empty = "no ticks yet"
        if snap.engine.config.history == 0:
            empty = "no chart: --history 0 keeps no ticks"
        if symbol is None and watchlist.filter_text and snap.engine.symbols:
            empty = "no symbol matches the filter"
        elif symbol is None and watchlist.shown_only is not None and snap.engine.symbols:
            # (a choice saved on another source: the stream ticks, and said "no ticks yet")
            chosen, others = len(watchlist.shown_only), len(snap.engine.symbols)
            empty = f"{chosen} chosen: no ticks; {others:,} others (w)"
        self.query_one(Chart).show(
            symbol, history, limits or (math.nan, math.nan), snap.signals, empty
        )

    @on(Watchlist.Highlighted, "#watchlist")
    def _follow_selection(self, event: Watchlist.Highlighted) -> None:
        """Follow the selection with the chart."""
        self.feed.select(event.symbol)
        log = self.query_one(SignalLog)
        if log.symbol_filter is not None and log.symbol_filter != event.symbol:
            log.set_filters(symbol=event.symbol)
            self._title_signals()

    @on(Watchlist.HeaderClicked, "#watchlist")
    def _sort_by_header(self, event: Watchlist.HeaderClicked) -> None:
        """A click on a column header sorts by it (where that order is offered)."""
        key = event.column
        self._set_sort("urgency" if key == "forecast" else key if key in SORTS else "symbol")

    def _settle_pending(self, snap: Snapshot) -> None:
        """Forget requested limits once the engine reports them, or once it has had
        ample time to (it refused them, or the worker is gone): the engine's are shown."""
        now = time.monotonic()
        for symbol, (buy, sell) in list(self._pending.items()):
            current = self._limits_in(snap, symbol)
            confirmed = current is not None and _same(current[0], buy) and _same(current[1], sell)
            if confirmed or now - self._pending_at.get(symbol, now) > PENDING_S:
                del self._pending[symbol]
                self._pending_at.pop(symbol, None)

    @staticmethod
    def _limits_in(snap: Snapshot, symbol: str) -> tuple[float, float] | None:
        try:
            i = snap.engine.symbols.index(symbol)
        except ValueError:
            return None
        return float(snap.engine.buy[i]), float(snap.engine.sell[i])

    def _title_watchlist(self) -> None:
        table = self.query_one(Watchlist)
        # the order in the words of `o`'s help (the settings file keeps its key: chg, last)
        title = f"Watchlist · by {_SORT_WORDS.get(table.order, table.order)}"
        if table.shown_only is not None:
            title += f" · {len(table.shown_only)} chosen"
        if table.filter_text:
            title += f" · “{table.filter_text}”"
        table.border_title = Content(title)  # the filter is typed text: never markup

    def _title_signals(self) -> None:
        log = self.query_one(SignalLog)
        label = log.filter_label
        log.border_title = Content(f"Signals · {label}" if label else "Signals")

    # -- selection and limits -------------------------------------------------------------
    def _selected(self) -> tuple[Snapshot, str, int] | None:
        snap = self._snapshot
        symbol = self.query_one(Watchlist).selected_symbol
        if snap is None or symbol is None:
            self._none_selected()
            return None
        if symbol not in snap.engine.symbols:  # evicted since the watchlist last showed it
            self.notify(f"{symbol} is no longer tracked.", severity="warning")
            return None
        return snap, symbol, snap.engine.symbols.index(symbol)

    def _none_selected(self) -> None:
        """Say why a key about the selected symbol did nothing: no symbol yet, or a
        filter that hides every one ("No symbol selected yet" while a typed filter
        matched none left the user looking for a symbol to select)."""
        table = self.query_one(Watchlist)
        if table.filter_text and self._snapshot is not None and self._snapshot.engine.symbols:
            self.notify(
                f"No symbol matches the filter “{fmt.literal(table.filter_text)}”: "
                "/ to change it, esc to clear it.",
                severity="warning",
                replaces=NO_MATCH,
            )
        else:
            self.notify("No symbol selected yet.", severity="warning")

    def action_cursor(self, delta: int) -> None:
        """Move the watchlist selection."""
        table = self.query_one(Watchlist)
        table.move_cursor(row=table.cursor_row + delta)

    def _limits_refused(self, why: str | None = None) -> bool:
        """Whether limits set here would change nothing (a --view that shares none); said
        if so, rather than shown for a moment and taken back."""
        why = why or getattr(self.feed, "limits_refused", None)
        if why:
            self.notify(why, severity="warning", timeout=4, replaces="limit refused")
        return bool(why)

    def action_step_limit(self, side: str, direction: int) -> None:
        """Lower (-1) or raise (+1) the selected symbol's buy or sell limit by one step."""
        if self._limits_refused():
            return
        picked = self._selected()
        if picked is None:
            return
        snap, symbol, i = picked
        last = float(snap.engine.last[i])
        buy, sell = self._pending.get(symbol) or (
            float(snap.engine.buy[i]),
            float(snap.engine.sell[i]),
        )
        # A step is a fraction of the price; of a quantity at 0 (additive), or of a symbol
        # with no price yet (a replay's header gave its limits), of its limit (the price
        # as nan took the step as a fraction of 1: 0.005 on a limit of 148.50).
        scale = next(
            (abs(v) for v in (last, buy if side == "buy" else sell) if math.isfinite(v) and v),
            1.0,
        )
        delta = direction * self.step * scale
        # A side with no limit gets one a step from the price on its own side, whichever
        # key: stepped up from the price, a buy limit above it fired a BUY at once.
        if side == "buy":
            new_buy = (
                _stepped(buy, delta, last)
                if math.isfinite(buy)
                else _stepped(last, -abs(delta), last)
            )
            new_sell = sell
        else:
            new_buy = buy
            new_sell = (
                _stepped(sell, delta, last)
                if math.isfinite(sell)
                else _stepped(last, abs(delta), last)
            )
        additive = bool(snap.engine.additive[i])
        value = new_buy if side == "buy" else new_sell
        if not additive and value <= 0.0:  # said as what the keys can mend, not an option
            mend = "press [ for a smaller step" if self.step > MIN_STEP else "set it with l"
            self.notify(
                f"{symbol}: a step of {self.step:.2%} of the price would take the {side} "
                f"limit to zero or below: {mend}",
                title="Limit refused", severity="error", replaces="limit refused",
            )  # fmt: skip
            return
        # A step that takes a limit past the price fires it at once: likely a key pressed
        # once too often (one B took a buy limit from 151.10 to 151.86 with the price at
        # 151.28, and a BUY fired). As the limits dialog does, it asks first: the same
        # key again within STEP_CONFIRM_S sets it.
        if side == "buy":  # this side alone: the other may be past the price already
            before, after = at_once(buy, math.nan, last), at_once(new_buy, math.nan, last)
        else:
            before, after = at_once(math.nan, sell, last), at_once(math.nan, new_sell, last)
        # (A limit that cannot be is refused outright, below, not asked about.)
        impossible = limit_problem(new_buy, new_sell, additive=additive)
        crossing = after if not before and not impossible else ""
        key = (symbol, side, direction)
        now = time.monotonic()
        repeat = self._step_pressed[0] == key and now - self._step_pressed[1] < STEP_REPEAT_S
        self._step_pressed = (key, now)
        if crossing and (self._step_confirm != key or now > self._step_confirm_until):
            self._step_confirm = key
            self._step_confirm_until = now + STEP_CONFIRM_S
            self.notify(
                f"{symbol}: {crossing}: press {_STEP_KEYS[side, direction]} again to set it",
                title="Limit not set yet", severity="warning", timeout=STEP_CONFIRM_S,
                replaces="limit",
            )  # fmt: skip
            return
        if crossing and repeat:
            # A held key's repeats do not confirm: its next repeat, 33 ms on, took a sell
            # limit past the price and on, and two SELLs fired with the question never
            # seen. It stops at the step short of the price; a fresh press sets it.
            return
        self._step_confirm = None
        if self._send_limits(symbol, new_buy, new_sell, only=side, additive=additive):
            self.notify(
                f"{symbol} {side} limit → {_limit_text(value)}", timeout=2, replaces="limit"
            )

    def _send_limits(
        self,
        symbol: str,
        buy: float,
        sell: float,
        only: str | None = None,
        *,
        additive: bool = False,
        remember: bool = True,
        show: bool = True,
    ) -> bool:
        """Ask the engine for new limits, shown as pending until it reports them; kept in
        the settings unless not ``remember`` (automatic ones). With ``show`` false the
        caller puts the pending limits on screen once, after sending many. An
        ``additive`` symbol's limits may be 0 or below (see :class:`engine.Engine`)."""
        problem = limit_problem(buy, sell, additive=additive)
        if problem:
            # One toast however often the key is pressed: its text changes with the price.
            self.notify(f"{symbol}: {problem}", title="Limit refused", severity="error",
                        replaces="limit refused")  # fmt: skip
            return False
        self._pending[symbol] = (buy, sell)
        self._pending_at[symbol] = time.monotonic()
        if show:
            self.query_one(Watchlist).set_pending(self._pending)  # on screen now
        self._expect_change()
        self.feed.set_limits(
            symbol, buy if only in (None, "buy") else None, sell if only in (None, "sell") else None
        )
        if remember:  # a user's choice: kept, and told to the cluster's engines and monitors
            self.settings = self.settings.with_limits(symbol, buy, sell)
            self._save_settings()
            self.feed.share_limits(symbol, buy, sell, only or "")
        return True

    def action_edit_limits(self) -> None:
        """Open the dialog for the selected symbol's exact limits."""
        if self._limits_refused():
            return
        picked = self._selected()
        if picked is None:
            return
        snap, symbol, i = picked
        buy, sell = self._pending.get(symbol) or (
            float(snap.engine.buy[i]),
            float(snap.engine.sell[i]),
        )

        last, additive = float(snap.engine.last[i]), bool(snap.engine.additive[i])

        def done(result: tuple[float, float] | None) -> None:
            if result is None:
                return
            # Only a side that changed is sent: setting a limit re-arms its hit, so Enter
            # on the dialog as it opened fired a second BUY or SELL for a price still past
            # a limit it had crossed.
            kept = [
                a == b or (math.isnan(a) and math.isnan(b))
                for a, b in zip(result, (buy, sell), strict=True)
            ]
            if all(kept):
                self.notify(f"{symbol} limits unchanged", timeout=2, replaces="limit")
                return
            only = "sell" if kept[0] else "buy" if kept[1] else None
            if self._send_limits(symbol, *result, only, additive=additive):
                buy_text, sell_text = fmt.apart(*result, _limit_text)
                self.notify(
                    f"{symbol} limits → {buy_text} / {sell_text}", timeout=2, replaces="limit"
                )

        self.push_screen(LimitsDialog(symbol, buy, sell, last, additive=additive), done)

    def action_change_step(self, direction: int) -> None:
        """Move the limit step one rung down (-1) or up (+1) its ladder of values."""
        step = cfg.next_step(self.step, direction)
        if step is None:
            end, other = ("smallest", "]") if direction < 0 else ("largest", "[")
            self.notify(
                f"step {self.step:.2%} is the {end}; {other} goes back",
                timeout=2,
                replaces="step",
            )
            return
        self.step = step
        self.settings = replace(self.settings, step=self.step)
        self._save_settings()
        self.notify(f"step {self.step:.2%} of price", timeout=2, replaces="step")
        if self._snapshot is not None:
            self._show_status(self._snapshot, staleness(self._snapshot))

    # -- producer and recording -----------------------------------------------------------
    def action_toggle_pause(self) -> None:
        """Pause or resume the producer."""
        producer = self._snapshot.producer if self._snapshot is not None else None
        if producer is None:
            self.notify("There is no producer to pause here.", severity="warning")
            return
        if producer.finished:
            self.notify("The source has ended: nothing is left to pause.", severity="warning")
            return
        self.feed.set_paused(not producer.paused)
        self._expect_change()
        self.notify(
            "resuming the producer" if producer.paused else "pausing the producer", timeout=2
        )

    def action_speed(self, factor: float) -> None:
        """Multiply the replay speed by `factor` (between SLOWEST_SPEED and FASTEST_SPEED)."""
        producer = self._snapshot.producer if self._snapshot is not None else None
        if producer is None:
            self.notify("There is no producer whose speed to change.", severity="warning")
            return
        if producer.finished:  # the status line says so; a new speed would change nothing
            self.notify("The source has ended: nothing is playing.", timeout=2, replaces="speed")
            return
        if not producer.paced:  # standard input, system metrics: sent as they come
            self.notify(
                f"{producer.source} is sent as it comes: speed does not apply to it.",
                timeout=3,
                replaces="speed",
            )
            return
        base = producer.speed
        asked = self._speed_asked
        if asked is not None and time.monotonic() - asked[1] < PENDING_S:
            # Keys faster than the snapshots: three presses of + in 0.3 s made x4, not x8.
            base = asked[0]
        if math.isinf(base) and factor > 1:
            self.notify("Replaying at max speed already; - slower.", timeout=2, replaces="speed")
            return
        # From max speed, - steps down to the fastest paced speed, and + from there back up.
        speed = FASTEST_SPEED if math.isinf(base) else base * factor
        # A --speed beyond the keys' range is kept as the end on its side: from --speed
        # 0.01, - went to ×1/64, faster.
        speed = min(max(speed, min(SLOWEST_SPEED, base)), FASTEST_SPEED)
        if base >= FASTEST_SPEED and factor > 1:  # ×1024, or a --speed above it
            speed = math.inf
        if speed == base:
            end, other = ("slowest", "+ goes faster") if factor < 1 else ("fastest", "- slower")
            self.notify(
                f"speed {fmt.speed(speed)} is the {end}; {other}", timeout=2, replaces="speed"
            )
            return
        self._speed_asked = (speed, time.monotonic())
        self.feed.set_speed(speed)
        self._expect_change()
        self.notify(f"speed {fmt.speed(speed)}", timeout=2, replaces="speed")

    def action_toggle_record(self) -> None:
        """Start recording the ticks read to a scenario file, or stop."""
        if self._snapshot is not None and self._snapshot.recording:
            self.feed.record(None)
            self._expect_change()
            return
        try:
            self.record_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            why = exc.strerror or str(exc)
            if self.record_dir.exists() and not self.record_dir.is_dir():
                why = "it is a file, not a folder; give a folder with --record-dir"
            self.notify(f"cannot record to {self.record_dir}: {why}", severity="error")
            return
        self._expect_change()
        # Two recordings started within a second: the second wrote over the first (the
        # file is opened by the reader's thread, so those asked for count too).
        stem = f"limitwatch-{time.strftime('%Y%m%d-%H%M%S')}"
        path = _new_file(self.record_dir, stem, "jsonl", self._recordings)
        self._recordings.add(path)
        self.feed.record(str(path))

    # -- views ----------------------------------------------------------------------------
    def action_filter(self) -> None:
        """Show the filter box above the watchlist."""
        box = self.query_one("#filter", Input)
        box.display = box.can_focus = True
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._withdraw(NO_MATCH)  # of a filter changed or cleared since (esc)
        self.query_one(Watchlist).set_filter(event.value)
        self._title_watchlist()
        self._urgent = True
        self._pane_seq.clear()  # rebuild the rows from the current snapshot
        self.refresh_view()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one(Watchlist).focus()
        box = self.query_one("#filter", Input)
        if not box.value:
            box.display = box.can_focus = False

    def on_key(self, event: events.Key) -> None:
        """Escape in the filter box clears the filter and hides the box. And a held key's
        repeats that waited too long are dropped before their binding runs (Textual calls
        ``App._on_key`` after this): a press of the same key as the one before that has
        waited more than ``STALE_REPEAT_S``. A key held down repeats about 30 times a
        second; where each press opens a screen or redraws the watchlist, the presses
        queued faster than they ran and were replayed for a minute after the key was let
        go, `q` waiting behind them (500 presses of `?`: 62 s from `q` to the end). (An
        ``_on_key`` of this class would hide this method from Textual.)"""
        key = event.key
        previous, self._last_key = self._last_key, key
        if key == previous and time.monotonic() - event.time > STALE_REPEAT_S:
            self._stale_repeats += 1
            event.stop()
            event.prevent_default()
            return
        box = self.query_one("#filter", Input)
        if key == "escape" and box.display:
            box.value = ""
            box.display = box.can_focus = False
            self.query_one(Watchlist).focus()

    def action_cycle_sort(self) -> None:
        """Sort the watchlist by the next order."""
        order = self.query_one(Watchlist).order
        self._set_sort(SORTS[(SORTS.index(order) + 1) % len(SORTS)])

    def _set_sort(self, order: str) -> None:
        self.query_one(Watchlist).set_order(order)
        self.settings = replace(self.settings, sort=order)
        self._save_settings()
        self._title_watchlist()
        self._urgent = True
        self._pane_seq.clear()
        self.refresh_view()

    def action_acknowledge(self) -> None:
        """Re-centre the band of every symbol whose limit the price has reached, where the
        limits are the automatic ones (the band around the first price): limits you set
        stay where they are."""
        if self._limits_refused(getattr(self.feed, "band_refused", None)):
            return
        snap = self._snapshot
        band = snap.engine.config.default_band if snap is not None else None
        if snap is None or band is None:
            self.notify("No automatic limits to re-centre (no default band).", timeout=3,
                        replaces="ack")  # fmt: skip
            return
        st = snap.engine
        moved: list[str] = []
        kept = 0
        for i, symbol in enumerate(st.symbols):
            last, buy, sell = float(st.last[i]), float(st.buy[i]), float(st.sell[i])
            if not (last <= buy or last >= sell):
                continue
            if symbol in self.settings.limits or symbol in self.fixed_limits:
                kept += 1
                continue
            if not last:
                continue  # a quantity at 0 has no band, as in the engine
            # As the engine writes the band: the price's decimals (a quantity's size)
            (low,), (high,) = band_limits([last], band, [bool(st.additive[i])])
            if self._send_limits(
                symbol, low, high, additive=bool(st.additive[i]), remember=False, show=False
            ):
                moved.append(symbol)
        if moved:
            self.query_one(Watchlist).set_pending(self._pending)
            names = ", ".join(moved[:4]) + (f" and {len(moved) - 4} more" if len(moved) > 4 else "")
            text = f"band of ±{band:.2%} re-centred on the price: {names}"
        else:
            text = "No automatic limit is reached"
        if kept:
            text += f" ({fmt.count(kept, 'symbol')} with limits you set kept them)"
        self.notify(text, timeout=4, replaces="ack")

    def action_zoom(self, direction: int) -> None:
        """Show a shorter (+1) or longer (-1) span of time in the chart."""
        chart = self.query_one(Chart)
        span = chart.zoom(direction)
        # The window may be wider than what there is to draw (the title says so too).
        so_far = ""
        history = self._snapshot.history if self._snapshot is not None else None
        if chart.span_s is not None and history is not None and len(history.t) > 1:
            kept = float(history.t[-1] - history.t[0])
            if kept < chart.span_s:
                so_far = f"; {fmt.duration(kept)} of ticks so far"
        if span is False:
            end = "the shortest, 30 s" if direction > 0 else "all the history kept"
            other = "Z" if direction > 0 else "z"
            self.notify(f"the chart shows {end}{so_far} already; {other} goes back",
                        timeout=2, replaces="zoom")  # fmt: skip
        else:
            shown = "all the history kept" if span is None else f"the last {span_text(span)}"
            self.notify(f"chart: {shown}{so_far}", timeout=2, replaces="zoom")
        self.refresh_view()

    def action_choose_symbols(self) -> None:
        """Open the watchlist editor: tick the symbols to show, add ones not seen yet."""
        snap = self._snapshot
        known = snap.engine.symbols if snap is not None else ()

        def apply(watchlist: tuple[str, ...]) -> None:
            self.settings = replace(self.settings, watchlist=watchlist)
            self._save_settings()
            self.query_one(Watchlist).set_shown(watchlist)
            self._title_watchlist()
            self._urgent = True
            self._pane_seq.clear()
            self.refresh_view()

        self.push_screen(SymbolsScreen(known, self.settings.watchlist, apply))

    def action_toggle_pin(self) -> None:
        """Pin the selected symbol at the top of the watchlist, or unpin it."""
        self._toggle_mark("pinned", "pinned at the top", "unpinned")

    def action_toggle_mute(self) -> None:
        """Mute the selected symbol's signals (no bell, no toast), or unmute them."""
        self._toggle_mark("muted", "muted: its signals are listed, never rung or popped up",
                          "unmuted")  # fmt: skip

    def _toggle_mark(self, field_name: str, on_text: str, off_text: str) -> None:
        symbol = self.query_one(Watchlist).selected_symbol
        if symbol is None:
            self._none_selected()
            return
        self.settings = self.settings.toggled(field_name, symbol)
        self._save_settings()
        self.query_one(Watchlist).set_marks(
            frozenset(self.settings.pinned), frozenset(self.settings.muted)
        )
        marked = symbol in getattr(self.settings, field_name)
        self.notify(f"{symbol} {on_text if marked else off_text}", timeout=2, replaces="mark")

    def action_signals_for_symbol(self) -> None:
        """Show only the selected symbol's signals, or all again."""
        log = self.query_one(SignalLog)
        symbol = (
            None if log.symbol_filter is not None else self.query_one(Watchlist).selected_symbol
        )
        log.set_filters(symbol=symbol)
        self._title_signals()

    def action_export(self, jsonl: bool) -> None:
        """Write the signals the signals pane lists (its symbol and kind filters), this
        run's and the earlier runs' kept in the history, to a CSV or JSON-lines file."""
        history = self.history
        if history is None or not history.enabled:
            why = history.problem if history is not None else "no signal history is kept"
            self.notify(f"Nothing to export: {why}", severity="warning", replaces="export")
            return
        log = self.query_one(SignalLog)
        kinds = KIND_FILTERS[log.kind_filter]
        symbol = log.symbol_filter
        name = "signals" + (f"-{fmt.file_safe(symbol)}" if symbol is not None else "")
        suffix = "jsonl" if jsonl else "csv"
        stem = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        out = _new_file(self.export_dir, stem, suffix, self._exporting)
        self._exporting.add(out)
        self._export(history, out, symbol, kinds, jsonl)

    @work(thread=True, group="export")
    def _export(
        self,
        history: SignalHistory,
        out: Path,
        symbol: str | None,
        kinds: frozenset[str] | None,
        jsonl: bool,
    ) -> None:
        try:
            count = history.export(out, symbol=symbol, kinds=kinds, jsonl=jsonl)
        except OSError as exc:
            self.call_from_thread(
                self.notify, f"cannot export to {out}: {exc.strerror or exc}", severity="error"
            )
            return
        finally:
            self._exporting.discard(out)
        if count == 0:  # a file of a header alone, named as if it held something
            with contextlib.suppress(OSError):
                out.unlink()
            what = ["no signal"]
            if symbol is not None:
                what.append(f"of {symbol}")
            if kinds is not None:
                what.append("of the kinds listed")
            why = " ".join(what) + " is kept yet"
            self.call_from_thread(
                self.notify, f"Nothing exported: {why}", severity="warning", replaces="export"
            )
            return
        self.call_from_thread(
            self.notify, f"{fmt.count(count, 'signal')} exported to {out}", timeout=8,
            replaces="export",
        )  # fmt: skip

    def action_cycle_signal_kind(self) -> None:
        """Show the next kind of signals: all, crossings, watches, averages."""
        log = self.query_one(SignalLog)
        names = list(KIND_FILTERS)
        log.set_filters(kind=names[(names.index(log.kind_filter) + 1) % len(names)])
        self._title_signals()

    def action_details(self) -> None:
        """Explain the selected symbol's forecast."""
        picked = self._selected()
        if picked is None:
            return

        def look() -> Looked | None:
            snap = self._snapshot
            if snap is None:
                return None
            return (snap.engine, snap.track, snap.tracks, snap.timings, snap.watch_shifts)

        self.push_screen(DetailScreen(picked[1], look))

    def _horizon_text(self) -> str:
        """The engine's forecast horizon, as a short duration with no space (60s): in a
        toast as narrow as the Kafka pane, "≤60 s" wrapped to leave an "s" alone."""
        snap = self._snapshot
        horizon = snap.engine.config.horizon_s if snap is not None else EngineConfig().horizon_s
        return fmt.short_duration(horizon)

    def action_track_record(self) -> None:
        """Show how often the forecasts came true so far."""

        def record() -> CalibrationRecord | None:
            return self._snapshot.track if self._snapshot is not None else None

        snap = self._snapshot
        horizon = snap.engine.config.horizon_s if snap is not None else EngineConfig().horizon_s
        self.push_screen(TrackScreen(record, horizon))

    def action_lag_history(self) -> None:
        """Show the consumer's lag over the last ten minutes."""

        def kafka() -> KafkaStats | None:
            return self._snapshot.kafka if self._snapshot is not None else None

        self.push_screen(LagScreen(kafka))

    def action_help(self) -> None:
        """Show every key."""
        self.push_screen(HelpScreen(help_rows(), legend_sections(TREND)))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every action of the monitor, by name, in the command palette. Textual's own
        "Keys" (a panel that squeezed the panes to half the screen, with its generic keys)
        gives way to the monitor's list, the one `?` shows."""
        yield from (c for c in super().get_system_commands(screen) if c.title != "Keys")
        commands = [
            ("Lower buy limit", "b", lambda: self.action_step_limit("buy", -1)),
            ("Raise buy limit", "B", lambda: self.action_step_limit("buy", 1)),
            ("Lower sell limit", "s", lambda: self.action_step_limit("sell", -1)),
            ("Raise sell limit", "S", lambda: self.action_step_limit("sell", 1)),
            ("Set exact limits", "l", self.action_edit_limits),
            ("Smaller step", "[", lambda: self.action_change_step(-1)),
            ("Larger step", "]", lambda: self.action_change_step(1)),
            ("Pause or resume the producer", "p", self.action_toggle_pause),
            ("Feed faster (a replay, the generator)", "+", lambda: self.action_speed(2)),
            ("Feed slower (a replay, the generator)", "-", lambda: self.action_speed(0.5)),
            ("Start or stop recording", "r", self.action_toggle_record),
            ("Filter the watchlist", "/", self.action_filter),
            ("Sort the watchlist: symbol, urgency, change, price", "o", self.action_cycle_sort),
            ("Pin or unpin the selected symbol", "*", self.action_toggle_pin),
            ("Mute or unmute the selected symbol", "m", self.action_toggle_mute),
            ("Signals of the selected symbol only", "f", self.action_signals_for_symbol),
            ("Signals of the next kind", "t", self.action_cycle_signal_kind),
            ("Track record of the forecasts", "c", self.action_track_record),
            ("Keys", "?", self.action_help),
        ]
        for title, key, callback in commands:
            yield SystemCommand(title, f"key: {key}", callback)

    def _save_settings(self) -> None:
        """Write the settings, over what another monitor sharing the file has written
        since this one last did only where this one changed something."""
        if self.config_path is None:
            return
        out = self.settings
        if self.config_path.exists():
            on_disk, problems = cfg.load(self.config_path)
            if not problems:
                out = cfg.merged(on_disk, self._saved_settings, self.settings)
        self._saved_settings = self.settings
        try:
            cfg.save(self.config_path, out)
        except OSError as exc:
            # Which file, and why: "File exists" alone (a folder on its path was a file).
            why = exc.strerror or str(exc)
            self.notify(
                f"settings not saved to {fmt.literal(str(self.config_path))}: {why}",
                severity="warning",
            )


def _freeze_gc() -> None:
    gc.collect()
    gc.freeze()


def status_line(
    snap: Snapshot, step: float, width: int | None = None, stale: str | None = None
) -> str:
    """The one-line status under the panes: staleness, producer state, recording, counts,
    step and last the source.

    Within `width` cells the counts and the step show first of all. To make room, in
    turn: a recording is named by its file alone, the bad lines skipped are said in
    fewer words, the source's name (with its options) is cut short, then why the source
    stopped (down to the line it stopped at), the recording's file and why it is stale.
    """
    part: dict[str, str] = {"stale": f"STALE: {stale}" if stale else ""}
    p = snap.producer
    part["paused"] = ""
    if p is not None and p.paused:  # the user's pause, or ticks held for a broker restart
        part["paused"] = "HELD: broker restart" if p.held else "PAUSED"
    part["speed"] = ""
    if p is not None and p.speed != 1.0 and p.paced:
        part["speed"] = f"speed {fmt.speed(p.speed)}"
    part["ended"] = part["why"] = part["skipped"] = ""
    if p is not None and p.finished:
        # Stopped on an error (a bad line) is not the end of the source: at 80 columns a
        # replay stopped at its 51st of 253 lines read "source ended", as a whole one.
        part["ended"] = "source stopped" if p.last_error else "source ended"
        part["why"] = f": {p.last_error}" if p.last_error else ""
        if p.note and not p.last_error:
            part["why"] = ": check its last tick"
    if p is not None and p.skipped:
        part["skipped"] = f"{fmt.count(p.skipped, 'bad line')} skipped"
    part["rec"] = f"● REC {snap.recorded:,}" if snap.recording else ""
    part["file"] = f" → {snap.recording}" if snap.recording else ""
    part["counts"] = (
        f"{fmt.count(len(snap.engine.symbols), 'symbol')} · "
        f"{fmt.count(snap.signal_count, 'signal')} · step {step:.2%}"
    )
    part["source"] = snap.source or ""

    def line() -> str:
        parts = (
            *(part[key] for key in ("stale", "paused", "speed")),
            part["ended"] + part["why"],
            part["skipped"],
            part["rec"] + part["file"],
            part["counts"],
            part["source"],
        )
        return " · ".join(text for text in parts if text)

    text = line()
    if width is None or cell_len(text) <= width:
        return text
    if snap.recording:
        part["file"] = f" → {os.path.basename(snap.recording) or snap.recording}"
    shorter = {  # what each says in fewer words
        # why it is stale: in a toast, but for a broker given up (tried only slowly now)
        "stale": (
            f"STALE: broker down, tried every {RETRY_GIVEN_UP_S:.0f} s"
            if snap.kafka.broker_gave_up
            else "STALE"
        )
        if part["stale"]
        else "",
        "skipped": f"{p.skipped:,} skipped" if p is not None and p.skipped else "",
    }
    at_line = _ERROR_LINE.search(part["why"])
    for key in ("skipped", "source", "why", "file", "stale"):
        text = line()
        over = cell_len(text) - width
        if over <= 0:
            return text
        if key == "stale" and part["stale"] and not snap.kafka.broker_gave_up:
            # Why, cut, while a few words of it fit (at 80 columns a replay falling
            # behind read `STALE ·` alone, its `consumer 20 s behind` gone).
            room = cell_len(part["stale"]) - over  # over > 0: it is cut
            words = _cut(part["stale"], room).rstrip("…").rsplit(" ", 1)[0]  # whole words
            fits = room >= len("STALE: ") + 8 and cell_len(words) > len("STALE:")
            part["stale"] = f"{words}…" if fits else "STALE"
        elif key in shorter:
            part[key] = shorter[key]
        else:
            part[key] = _cut(part[key], cell_len(part[key]) - over)
            if key == "why" and at_line is not None and cell_len(part[key]) <= at_line.end():
                part[key] = f" at line {at_line[1]}"  # where it stopped, if not why
    if cell_len(line()) > width:  # the counts and the step before where the source stopped
        part["why"] = ""
    return _cut(line(), width)


#: The line number in a ``FILE:LINE: what is wrong`` message.
_ERROR_LINE = re.compile(r":(\d+): ")


def _cut(text: str, room: int) -> str:
    """`text` within `room` cells, its end replaced by an ellipsis; nothing where not
    even a few cells are left."""
    if cell_len(text) <= room:
        return text
    return set_cell_size(text, room - 1) + "…" if room >= 4 else ""


#: Seconds within which a step key that would fire its limit at once, pressed again, sets it.
STEP_CONFIRM_S = 5.0
#: A step key pressed again within this many seconds of its last press is held down (a
#: terminal repeats a held key every 30-100 ms; a fresh press comes slower): such a press
#: does not confirm a step that fires a limit at once.
STEP_REPEAT_S = 0.15
#: The key bound to each step (side, direction), as the confirmation names it.
_STEP_KEYS = {
    (side, step): next(k.bind for k in KEYS if k.action == f"step_limit({side!r}, {step})")
    for side in ("buy", "sell")
    for step in (-1, 1)
}


def _stepped(limit: float, delta: float, price: float) -> float:
    """``limit`` moved by ``delta``, to the decimals ``price`` is written with, at least
    two: stepped by 10 %, a limit of a price in cents read 85.081 beside it. But only
    where that keeps the move within half a step of ``delta``, in its direction: a
    price's decimals are one tick's (1.09 may be 1.0900 on a finer grid), and a step
    finer than them (0.01 % of 15.06), or a price too small for two decimals, or a
    quantity at 0, keep the step's own digits: the digits :func:`fmt.price` shows
    (:func:`fmt.as_shown`), or twelve significant digits where that would undo the step,
    which still drops the float noise.

    >>> _stepped(94.534, -9.45, 94.53), _stepped(100.0, 0.5, 100.25)
    (85.08, 100.5)
    >>> _stepped(15.06, -0.0015, 15.06), _stepped(1.0871, -0.0001087, 1.09)
    (15.059, 1.087)
    >>> _stepped(0.001, -0.0001, 0.001), _stepped(-0.004, 0.001, 0.0)
    (0.0009, -0.003)
    """
    moved = limit + delta
    if math.isfinite(price):
        on_grid = tidy([round(moved, max(decimals_of(price), 2))])[0]
        if 0.5 * abs(delta) <= (on_grid - limit) * math.copysign(1.0, delta) <= 1.5 * abs(delta):
            return on_grid
    shown = fmt.as_shown(moved)
    return shown if shown != limit else float(f"{moved:.12g}")


def _limit_text(value: float) -> str:
    """A limit for a message: the price, or 'none' where it is unset."""
    return "none" if math.isnan(value) else fmt.price(value)


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0)
