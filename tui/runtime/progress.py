"""One line of progress on a terminal's standard error, rewritten in place.

Drawn from the second second of the work on, at most every tenth of a second, and only
where the stream is a terminal: a pipe or a file gets nothing of it. ``backtest`` and
``evaluate FILE`` show theirs with it.
"""

from __future__ import annotations

import time
from typing import TextIO

#: Seconds before progress shows, and between two redraws of it.
PROGRESS_AFTER_S, PROGRESS_EVERY_S = 1.0, 0.1


class ProgressLine:
    """A progress line on ``stream`` (None: nowhere), rewritten in place."""

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        self.enabled = stream is not None and stream.isatty()
        self.start = time.monotonic()
        self.last_draw = 0.0
        self.drawn = False

    def due(self, every: float | None = None) -> bool:
        """Whether to draw now (and it is taken as drawn now): on a terminal, from
        PROGRESS_AFTER_S on, ``every`` seconds (PROGRESS_EVERY_S) after the last draw."""
        now = time.monotonic()
        every = PROGRESS_EVERY_S if every is None else every
        if not self.enabled or now - self.start < PROGRESS_AFTER_S or now - self.last_draw < every:
            return False
        self.last_draw = now
        return True

    def draw(self, text: str) -> None:
        """Put ``text`` in place of the line."""
        assert self.stream is not None
        self.stream.write(f"\r\x1b[K{text}")
        self.stream.flush()
        self.drawn = True

    def bar(self, what: str, done: int, of: int, unit: str, every: float | None = None) -> None:
        """``what [####    ] done/of unit``, when :meth:`due`."""
        if of < 1 or not self.due(every):
            return
        bar = "#" * int(20 * min(done, of) / of)
        # short enough for 80 columns: a wrapped line is not rewritten by a carriage return
        self.draw(f"{what} [{bar:<20}] {done:,}/{of:,} {unit}")

    def clear(self) -> None:
        """Take the line off (another is about to be printed there)."""
        if self.drawn and self.stream is not None:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = False
