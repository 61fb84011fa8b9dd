"""Ticks from CSV or JSON-lines files, or from standard input, read one line at a time.

Two formats are understood:

CSV
    A header line naming the columns ``ts``, ``symbol`` and ``price`` in any order
    (``time`` is accepted for ``ts``; names are case-insensitive and may be padded with
    spaces), then one tick per line. ``ts`` is epoch seconds (``1750000000.25``) or
    ISO-8601 (``2025-06-15T14:06:40.25Z``; a time without a zone is taken as UTC). Any
    other column is an error that names it. A first line that holds data instead of
    names (``tail -f prices.csv`` starts after the header) means there is no header: the
    columns are then ``ts,symbol,price`` in that order. Fields are separated by commas and may be
    double-quoted, but a quoted field cannot span lines. Blank lines and lines starting
    with ``#`` (in the first column) are ignored.

JSON lines
    One object per line with ``symbol``, ``price`` and ``ts`` (or ``time``), the same
    shape as a tick on the wire. ``ts`` may be a number or an ISO-8601 string. Other keys
    are ignored, as the wire ignores them. Blank lines are ignored. A first line that is a
    scenario header (see :mod:`producer.header`) supplies the source's limits and engine
    settings: a regular file's when the source is made, whatever the file's name.

Each line is parsed and checked by :mod:`producer.lines`, under the same rules as a
message on the wire. Event time must not
go backwards by more than a tolerance (1 s by default): a tick that is slightly out of
order is kept, stamped with the newest time seen so far, so that time downstream never
goes backwards.

A bad line raises :class:`SourceError` whose message reads ``FILE:LINE: what is wrong``;
with ``skip_bad=True`` the line is skipped and counted instead (``source.skipped``, and
the first few messages in ``source.skipped_reasons``). Problems with the file as a whole
(unknown columns, an empty file, every line bad) are never skipped.
"""

from __future__ import annotations

import math
import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from producer.header import header_from_object, header_object
from producer.lines import (
    MAX_LINE_BYTES,
    BadLine,
    CsvColumns,
    Format,
    SourceError,
    TimeOrder,
    parse_json_line,
    read_lines,
    sniff_format,
)
from producer.lookahead import LookaheadReader
from producer.wire import Tick

#: How many skipped-line messages a source keeps for its report.
KEEP_REASONS = 5
#: Name used in messages for standard input.
STDIN_NAME = "<stdin>"

_FORMAT_BY_SUFFIX: dict[str, Format] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


# --- the source ------------------------------------------------------------------------


class FileSource:
    """Ticks from a CSV or JSON-lines file, or from standard input (path ``"-"``).

    A file is *paced* (replayed by its event times); standard input is *live* (each tick
    is sent as soon as it is read). The format is taken from `fmt`, else from the file
    name (``.csv``, ``.jsonl``/``.ndjson``), else sniffed from the first line.

    Iterating a file opens it anew each time, so a file can be replayed; standard input
    can be read once. Limits and engine settings from a scenario header fill ``limits``
    and ``engine``: a regular file's when the source is made (a header that is not valid
    is reported with the ticks), one arriving on standard input once that first line has
    been read, by :meth:`read_header` or else while the ticks are read.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        fmt: Format | None = None,
        skip_bad: bool = False,
        tolerance_s: float = 1.0,
        stream: BinaryIO | LookaheadReader | None = None,
    ) -> None:
        self.path = str(path)
        self.is_stdin = self.path == "-"
        self.display = STDIN_NAME if self.is_stdin else self.path
        self.name = self.display
        self.paced = not self.is_stdin
        self.limits: dict[str, tuple[float, float]] = {}
        #: Engine settings suggested by a scenario header, if the input had one.
        self.engine: dict[str, float] = {}
        #: True when a scenario header says its values jump by design.
        self.price_jumps = False
        self.skip_bad = skip_bad
        self.tolerance_s = tolerance_s
        self.skipped = 0
        self.skipped_reasons: list[str] = []
        #: Ticks yielded and bytes read so far in the current pass (for progress reports).
        self.ticks = 0
        self.bytes_read = 0
        self._stream = stream
        if fmt is None:
            fmt = _FORMAT_BY_SUFFIX.get(Path(self.path).suffix.lower())
        self.fmt: Format | None = fmt
        if not self.is_stdin and stream is None:
            _check_readable(self.path)
            if fmt != "csv":
                self._take_file_header()

    @property
    def size(self) -> int | None:
        """Size of the file in bytes, or None for a stream."""
        if self.is_stdin or self._stream is not None:
            return None
        try:
            return os.path.getsize(self.path)
        except OSError:
            return None

    def read_header(self, timeout: float) -> bool:
        """Standard input, or another stream read once (a named pipe's): wait at most
        `timeout` seconds for the first line and, if it is a scenario header, take its
        limits and engine settings now, before any tick is read. The line stays, to be
        read with the ticks (and reported there if bad).

        Returns whether a header was taken. Needs a stream that can look ahead (a
        :class:`~producer.lookahead.LookaheadReader`); other sources return False at once.
        """
        if not isinstance(self._stream, LookaheadReader):
            return False
        return self._take_peeked_header(self._stream, timeout)

    def _take_file_header(self) -> bool:
        """A regular file: take a scenario header on its first line now, before any tick
        is read, so that its limits and engine settings are known whatever the file's
        name. Returns whether a header was taken.

        A FIFO or device is left alone (looking ahead would consume its first line), as is
        a header that is not valid: reading the ticks reports it where it always did.
        """
        try:
            if not stat.S_ISREG(os.stat(self.path).st_mode):
                return False
            reader = LookaheadReader(os.open(self.path, os.O_RDONLY))
        except OSError:
            return False
        try:
            return self._take_peeked_header(reader, math.inf)
        finally:
            reader.close()

    def _take_peeked_header(self, reader: LookaheadReader, timeout: float) -> bool:
        """Look at the first line `reader` holds, without reading it, and take limits and
        engine settings from it if it is a valid scenario header."""
        if self.fmt == "csv":
            return False
        raw = reader.peek_line(timeout, MAX_LINE_BYTES, skip_comments=self.fmt != "jsonl")
        if not raw:
            return False  # nothing in time, an overlong line or no line: left to the reading
        try:
            text = raw.decode("utf-8").removeprefix("\ufeff").rstrip("\r\n")
            obj = header_object(text)
            if obj is None:
                return False
            self._header(obj)
        except (UnicodeDecodeError, BadLine):
            return False
        return True

    def _open(self) -> BinaryIO | LookaheadReader:
        if self._stream is not None:
            return self._stream
        if self.is_stdin:
            return sys.stdin.buffer
        try:
            return open(self.path, "rb")  # closed by __iter__'s finally
        except OSError as exc:
            raise SourceError(self.display, None, f"cannot open: {exc.strerror}") from None

    def __iter__(self) -> Iterator[Tick]:
        stream = self._open()
        owned = stream is not self._stream and not self.is_stdin
        self.ticks = 0
        self.bytes_read = 0
        try:
            yield from self._ticks(read_lines(stream))
        finally:
            if owned:
                stream.close()

    def _fail(self, lineno: int, reason: str) -> None:
        """Raise for a bad line, or count and remember it when skipping bad lines."""
        if not self.skip_bad:
            raise SourceError(self.display, lineno, reason, skippable=True)
        self.skipped += 1
        if len(self.skipped_reasons) < KEEP_REASONS:
            self.skipped_reasons.append(f"{self.display}:{lineno}: {reason}")

    def _ticks(self, lines: Iterator[tuple[int, str | BadLine, int]]) -> Iterator[Tick]:
        order = TimeOrder(self.tolerance_s)
        fmt = self.fmt
        parse: Callable[[str], Tick] | None = None
        seen_any = had_header = False
        lineno = 0
        skipped_before, reasons_before = self.skipped, len(self.skipped_reasons)
        for lineno, text, consumed in lines:
            self.bytes_read = consumed
            if isinstance(text, BadLine):
                if parse is None:  # the first line decides the format; no skipping it
                    raise SourceError(self.display, lineno, str(text))
                self._fail(lineno, str(text))
                continue
            if not text or text.isspace() or (text[0] == "#" and fmt != "jsonl"):
                continue
            if parse is None:
                seen_any = True
                if fmt is None:
                    fmt = sniff_format(text)
                try:
                    parse, was_header = self._first_line(fmt, text, lineno)
                except BadLine as exc:
                    raise SourceError(self.display, lineno, str(exc)) from None
                if was_header:
                    had_header = True
                    continue
            try:
                tick = order.admit(parse(text))
            except BadLine as exc:
                self._fail(lineno, str(exc))
                continue
            self.ticks += 1
            yield tick
        if not seen_any:
            raise SourceError(self.display, max(lineno, 1), "empty input: no header and no ticks")
        bad = self.skipped - skipped_before
        if self.ticks == 0 and bad == 0:
            what = "after the header" if had_header else "in the input"
            raise SourceError(self.display, lineno, f"no ticks {what}")
        if self.ticks == 0:
            after = " after the header" if had_header else ""
            what = (
                f"the only line{after} was bad:"
                if bad == 1
                else f"all {bad:,} lines{after} were bad; first:"
            )
            kept = self.skipped_reasons[reasons_before:]
            first = kept[0] if kept else "(not kept)"
            raise SourceError(self.display, None, f"no ticks: {what} {first}")

    def _first_line(
        self, fmt: Format, text: str, lineno: int
    ) -> tuple[Callable[[str], Tick], bool]:
        """Set up parsing from the first non-blank line.

        Returns the per-line parser and whether that first line was a header (not a tick).
        """
        if fmt == "csv":
            columns = CsvColumns(text)
            return columns.tick, columns.has_header
        obj = header_object(text)
        if obj is not None:
            self._header(obj)
            return parse_json_line, True
        return parse_json_line, False

    def _header(self, obj: dict[str, Any]) -> None:
        """Take limits and engine settings from a scenario header line."""
        header = header_from_object(obj)
        self.limits.update(header.limits_dict())
        self.engine.update(header.engine)
        self.price_jumps = header.price_jumps is True


def _check_readable(path: str) -> None:
    if not os.path.exists(path):
        raise SourceError(path, None, "no such file")
    if os.path.isdir(path):
        raise SourceError(path, None, "is a directory, not a file")
    if not os.access(path, os.R_OK):
        raise SourceError(path, None, "permission denied")
