"""Ticks from CSV or JSON-lines files, or from standard input.

A regular file is read a block of lines at a time, each clean block by a C parser
(:mod:`producer.chunks`); standard input, pipes and any block with a line the fast
parser cannot vouch for are read one line at a time, with the same result.

Two formats are understood:

CSV
    A header line naming the columns ``ts``, ``symbol`` and ``price`` in any order
    (``time`` is accepted for ``ts``; names are case-insensitive and may be padded with
    spaces), then one tick per line. ``ts`` is epoch seconds (``1750000000.25``) or
    ISO-8601 (``2025-06-15T14:06:40.25Z``; a time without a zone is taken as UTC). Other
    columns (a volume, a bid) are read past, as a JSON line's other keys are. A first
    line that holds data instead of names (``tail -f prices.csv`` starts after the
    header) means there is no header: the columns are then ``ts,symbol,price`` in that
    order. Fields are separated by commas and may be
    double-quoted, but a quoted field cannot span lines. Blank lines and lines starting
    with ``#`` (in the first column) are ignored.

JSON lines
    One object per line with ``symbol``, ``price`` and ``ts`` (or ``time``), the same
    shape as a tick on the wire. ``ts`` may be a number or an ISO-8601 string. Other keys
    are ignored, as the wire ignores them. Blank lines are ignored. A first line that is a
    scenario header (see :mod:`producer.header`) supplies the source's limits and engine
    settings: a regular file's when the source is made, whatever the file's name.

Each line is parsed and checked by :mod:`producer.lines` (or, in a clean block, by the
same checks on whole columns), under the same rules as a message on the wire. Event time must not
go backwards by more than a tolerance (1 s by default): a tick that is slightly out of
order is kept, stamped with the newest time seen so far, so that time downstream never
goes backwards. Nor may it leap into the future, more than 300 s ahead of this machine's
clock and an hour past every time before it: a line dated years ahead is refused
itself, where it would otherwise have made every later line of its symbol go
"backwards" (see :class:`producer.lines.TimeOrder`).

A bad line raises :class:`SourceError` whose message reads ``FILE:LINE: what is wrong``;
with ``skip_bad=True`` the line is skipped and counted instead (``source.skipped``, and
the first few messages in ``source.skipped_reasons``). Problems with the file as a whole
(a missing column, an empty file, every line bad) are never skipped.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import logging
import math
import os
import stat
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from engine.config import symbol_matcher
from producer.chunks import (
    BLOCK_BYTES,
    TickColumns,
    admit_columns,
    block_parser,
    blocks,
    group_ticks,
    plain_lines,
    stream_groups,
    values_ok,
)
from producer.header import header_from_object, header_object
from producer.lines import (
    HOLD_MOST,
    HOLD_S,
    MAX_LINE_BYTES,
    BadLine,
    CsvColumns,
    Format,
    SourceError,
    TimeOrder,
    fmt_span,
    headerless_misfit,
    parse_json_line,
    read_lines,
    sniff_format,
    utc_text,
)
from producer.lookahead import LookaheadReader
from producer.wire import Tick

#: How many skipped-line messages a source keeps for its report.
KEEP_REASONS = 5
#: Bad lines skipped that the log names, each with its line (past that, their count).
LOG_REASONS = 10_000

log = logging.getLogger(__name__)


def _open_size(stream: BinaryIO) -> int | None:
    """The size of the file ``stream`` has open (not of what its path names now), or None
    where it has none."""
    try:
        return os.fstat(stream.fileno()).st_size
    except (OSError, ValueError):  # io.UnsupportedOperation is both
        return None


class _LastLine:
    """A stream whose ``readline`` keeps the end of the last line read in its source's
    ``_last_raw`` (:func:`cut_short` of a stream, which cannot be read again)."""

    def __init__(self, stream: BinaryIO, source: FileSource) -> None:
        self._readline = stream.readline
        self._source = source

    def readline(self, size: int = -1) -> bytes:
        raw = self._readline(size)
        if raw:
            self._source._last_raw = raw[-4096:]
        return raw


def cut_short(source: object) -> str | None:
    """What to say of a file or stream read whose last line has no newline at its end,
    else None.

    A file cut short while it was written ends so, mid-line, and a CSV line cut inside its
    price is still a price (``...,ACME,100.5`` cut to ``...,ACME,10``: a false BUY). Not
    said of a JSON line (one cut anywhere is not JSON, and is refused as such) nor of a
    comment, whatever the file's name.
    """
    if not isinstance(source, FileSource):
        return None
    if not source._regular():  # a stream: its last line as it was read
        tail = source._last_raw
    else:
        try:
            with open(source.path, "rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(0, size - 4096))
                tail = f.read()
        except OSError:
            return None
    last = tail.rsplit(b"\n", 1)[-1].strip()
    if not last or last.startswith((b"{", b"#")):  # a newline at the end, JSON, a comment
        return None
    return (
        f"{source.display}: its last line has no newline: its price may be cut short (a file "
        "cut while it was written ends mid-line): check its last tick"
    )


def skipped_lines(source: object) -> list[str]:
    """What a source read with ``skip_bad`` skipped, a line each: the first
    :data:`KEEP_REASONS` bad lines named, then how many more were not (they were counted
    alone, and a reader took the five named for all)."""
    reasons = list(getattr(source, "skipped_reasons", []))
    skipped = int(getattr(source, "skipped", 0) or 0)
    lines = [f"skipped {reason}" for reason in reasons]
    if skipped > len(reasons):
        more = skipped - len(reasons)
        lines.append(
            f"skipped {more:,} more bad line{'s' if more != 1 else ''}, not named here (the "
            f"log file names the first {LOG_REASONS:,})"
        )
    return lines


#: Name used in messages for standard input.
STDIN_NAME = "<stdin>"
#: What a command reading standard input says when it started with it closed.
STDIN_CLOSED = "standard input is closed"
#: A stream's ticks (standard input, a pipe) are handed on at least this often, in
#: seconds, as they come: `tail -f ticks | limitwatch backtest -` shows its signals live.
STREAM_GROUP_S = 0.2

_FORMAT_BY_SUFFIX: dict[str, Format] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


# --- the source ------------------------------------------------------------------------


class FileSource:
    """Ticks from a CSV or JSON-lines file, or from standard input (path ``"-"``).

    A file is *paced* (replayed by its event times); standard input is *live* (each tick
    is sent as soon as it is read). The format is taken from `fmt`, else sniffed from the
    first line, whatever the file's name.

    Iterating a file opens it anew each time, so a file can be replayed; standard input
    can be read once. Limits and engine settings from a scenario header fill ``limits``
    and ``engine``: a regular file's when the source is made (a header that is not valid
    is reported with the ticks), one arriving on standard input once that first line has
    been read, by :meth:`read_header` or else while the ticks are read.
    """

    #: Bytes per block when a regular file is read in blocks.
    block_bytes = BLOCK_BYTES

    def __init__(
        self,
        path: str | Path,
        *,
        fmt: Format | None = None,
        skip_bad: bool = False,
        tolerance_s: float = 1.0,
        stream: BinaryIO | LookaheadReader | None = None,
        additive: Iterable[str] = (),
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
        #: Patterns of symbols that are quantities, not prices (given, and a scenario
        #: header's): their values may be 0 or below.
        self._given_additive = tuple(additive)
        self._set_additive(())
        self.skip_bad = skip_bad
        self.tolerance_s = tolerance_s
        self.skipped = 0
        self.skipped_reasons: list[str] = []
        #: Ticks found early, ahead of the ticks of their symbol after them (see
        #: :class:`~producer.lines.TimeOrder`).
        self.early = 0
        #: Ticks yielded and bytes read so far in the current pass (for progress reports).
        self.ticks = 0
        self.bytes_read = 0
        self._size_at_open = 0  # of a regular file, as its read began (see _check_size)
        self._last_raw = b""  # of a stream, the end of its last line read (see cut_short)
        #: Of a regular file: its size and the number of its last line where that has
        #: no newline at its end, else 0, when looked at (see _if_cut).
        self._unended: tuple[int, int] | None = None
        self._stream = stream
        self._released = False  # see release()
        #: Set at a stop: a named pipe this source reads stops waiting for its writer.
        self._halt = threading.Event()
        self._unblock: int | None = None  # see release()
        # The format is the content's (sniffed from the first line) unless given: a CSV
        # named .jsonl, or JSON lines named .csv, were refused as the other on line 1.
        # The name only says how to read a first line that fits neither.
        self.fmt: Format | None = fmt
        self.named: Format | None = _FORMAT_BY_SUFFIX.get(Path(self.path).suffix.lower())
        if not self.is_stdin and stream is None:
            _check_readable(self.path)
            if fmt != "csv":
                self._take_file_header()

    def named_pipe(self) -> bool:
        """Whether the input is a named pipe this source opens itself: opening it waits
        for a writer."""
        mode = self._own_mode()
        return mode is not None and stat.S_ISFIFO(mode)

    def release(self) -> None:
        """At a stop: end an open of a named pipe that still waits for a writer, by
        opening it for writing and closing it (the read then ends at once), and a read
        of one whose writer is quiet (within :data:`~producer.lookahead.WAIT_S`).
        Nothing for other inputs."""
        if not self.named_pipe():
            return
        self._halt.set()  # a read waiting for the writer's next line ends
        self._released = True  # what that open reads is no input of anyone's
        if self._unblock is not None:
            return
        # Held open (for reading and writing: on Linux that never waits) until the read
        # has seen the release, so that an open for reading now or later finds a writer
        # and returns. A writer opened and closed at once unblocked only an open already
        # waiting: one a moment later waited for ever, and left its thread behind.
        try:
            self._unblock = os.open(self.path, os.O_RDWR | os.O_NONBLOCK)
        except OSError:  # gone: nothing can wait on it
            return

    def _drop_unblock(self) -> None:
        """Close what :meth:`release` held open, once the read has seen the release."""
        fd, self._unblock = self._unblock, None
        if fd is not None:
            os.close(fd)

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
        except OSError:  # unreadable after all: reading the ticks reports it
            return False
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
            if sys.stdin is None:  # started with it closed (`cmd <&-`)
                raise SourceError(
                    self.display, None, f"{STDIN_CLOSED}: give a file, or pipe ticks in"
                )
            return sys.stdin.buffer
        try:
            stream = open(self.path, "rb")  # noqa: SIM115 (closed by _ticks' finally)
        except OSError as exc:
            raise SourceError(self.display, None, f"cannot open: {exc.strerror}") from None
        if self.named_pipe():
            # Read so that a stop ends a wait for the writer's next line: a plain read
            # waits for it however long the writer is quiet (a producer took its whole
            # 5 s join to stop).
            return LookaheadReader(stream, self._halt)
        return stream

    @property
    def streaming(self) -> bool:
        """Whether the ticks come from a stream (standard input, a pipe) as it is
        written, rather than from a regular file read in blocks."""
        return not self._regular()

    def _regular(self) -> bool:
        """Whether the input is a regular file this source opens itself, the kind that
        is read in blocks."""
        mode = self._own_mode()
        return mode is not None and stat.S_ISREG(mode)

    def _own_mode(self) -> int | None:
        """The file mode of the input where this source opens it itself; None for a
        stream, or a path that cannot be looked at."""
        if self.is_stdin or self._stream is not None:
            return None
        try:
            return os.stat(self.path).st_mode
        except OSError:
            return None

    def __iter__(self) -> Iterator[Tick]:
        try:
            yield from self._ticks()
        except OSError as exc:
            raise self._unreadable(exc) from None

    def _unreadable(self, exc: OSError) -> SourceError:
        """The error for a read that failed (a disk error, a special file that refuses
        to be read such as /proc/self/mem)."""
        return SourceError(self.display, None, f"cannot read: {exc.strerror or exc}")

    def _ticks(self) -> Iterator[Tick]:
        if self._regular():
            for cols in self.columns():
                names = cols.symbols
                for code, price, ts in zip(
                    cols.codes.tolist(), cols.price.tolist(), cols.ts.tolist(), strict=True
                ):
                    yield Tick(names[code], price, ts)
            return
        stream = self._open()
        owned = stream is not self._stream and not self.is_stdin
        if self._released:  # stopped while the open waited for a writer
            if owned:
                stream.close()
            self._drop_unblock()
            return
        self.ticks = 0
        self.bytes_read = 0
        state = _Pass(self)
        try:
            try:
                for lineno, text, consumed in read_lines(_LastLine(stream, self)):
                    self.bytes_read = consumed
                    for tick in state.line(lineno, text):
                        self.ticks += 1
                        yield tick
            except SourceError:
                for tick in state.before_error():
                    self.ticks += 1
                    yield tick
                raise
            if not self._halt.is_set():  # stopped, not at its end: nothing to judge
                for tick in state.release():
                    self.ticks += 1
                    yield tick
                state.finish()
        finally:
            if owned:
                stream.close()
            self._drop_unblock()

    def columns(self, batch: int = 10_000) -> Iterator[TickColumns]:
        """The same ticks as iterating the source, as columns.

        A regular file is read a block of lines at a time (:mod:`producer.chunks`): a
        block whose every line is a clean tick is parsed in one call to a C parser,
        any other block line by line, so a bad line is reported (or skipped) exactly as
        when iterating. A stream comes in groups of at most `batch` ticks, each group
        once it is full. The ticks before a bad line come before its error.
        """
        if not self._regular():
            yield from stream_groups(iter(self), batch, STREAM_GROUP_S)
            return
        stream = self._open()
        self.ticks = 0
        self.bytes_read = 0
        state = _Pass(self)
        self._size_at_open = _open_size(stream) or 0
        try:
            yield from self._block_columns(stream, state)
            self._check_size(stream, state)
            held = state.release()
            if held:
                self.ticks += len(held)
                yield TickColumns.of_ticks(
                    [t.symbol for t in held], [t.price for t in held], [t.ts for t in held]
                )
            state.finish()
        except SourceError:
            self._check_size(stream, state)  # a line cut by a truncation: say that
            raise
        except OSError as exc:
            raise self._unreadable(exc) from None
        finally:
            stream.close()

    def _check_size(self, stream: BinaryIO, state: _Pass) -> None:
        """Raise if the file is now shorter than it was when its read began: truncated or
        rewritten by another program meanwhile. A file emptied while a replay read it
        ended without a word, or stopped on the line the truncation had cut ("expected 3
        fields, found 2"); the ticks after are not in it any more."""
        size = _open_size(stream)
        if size is not None and size < self._size_at_open:
            raise SourceError(
                self.display, state.lineno or None,
                f"the file shrank as it was read ({self._size_at_open:,} to {size:,} bytes):"
                " truncated or rewritten? Read a copy that stays as it is",
            )  # fmt: skip

    def _block_columns(self, stream: BinaryIO, state: _Pass) -> Iterator[TickColumns]:
        fast: Callable[[bytes], TickColumns | None] | None = None
        for block in blocks(stream, 0, 1, self.block_bytes):
            data = block.data
            first = block.first_line
            if state.parse is None:  # the first line decides the format: line by line
                got = _slow_block(state, data, first, until_parsing=True)
                yield from _flush(got)
                if state.parse is None or got.rest >= len(data):
                    self.bytes_read = block.end
                    continue
                first = state.lineno + 1
                data = data[got.rest :]
            if fast is None:
                fast = block_parser(state.fmt or "jsonl", state.csv_columns)
            cols = fast(data) if plain_lines(data) else None
            if (
                cols is not None
                and state.passes_held(cols)  # or the lines after a held tick decide on it
                and values_ok(cols, self._allowed, self._is_quantity)
            ):
                cols_in_order = admit_columns(state.order, cols)
                if cols_in_order is not None:
                    self.ticks += len(cols_in_order)
                    state.lineno = first + data.count(b"\n") - 1 + (not data.endswith(b"\n"))
                    self.bytes_read = block.end
                    if len(cols_in_order):
                        yield cols_in_order
                    continue
            if not data.endswith(b"\n") and len(data) > MAX_LINE_BYTES:
                # An overlong line that blocks() gave up cutting: the rest line by line.
                stream.seek(block.end - len(data))
                yield from group_ticks(self._rest_by_line(stream, state, first), 10_000)
                return
            got = _slow_block(state, data, first)
            self.bytes_read = block.end
            yield from _flush(got)

    def _rest_by_line(self, stream: BinaryIO, state: _Pass, first: int) -> Iterator[Tick]:
        try:
            for lineno, text, _ in read_lines(stream, first):
                for tick in state.line(lineno, text):
                    self.ticks += 1
                    yield tick
        except SourceError:
            for tick in state.before_error():
                self.ticks += 1
                yield tick
            raise

    def _allowed(self, symbol: str) -> bool:
        """Whether a tick of `symbol` may appear (a scenario's header may list them)."""
        return True

    def _fail(self, lineno: int, reason: str) -> None:
        """Raise for a bad line, or count and remember it when skipping bad lines."""
        if "cut while written" not in reason:  # a JSON line says so itself
            reason += self._if_cut(lineno)
        if not self.skip_bad:
            raise SourceError(self.display, lineno, reason, skippable=True)
        self.skipped += 1
        if len(self.skipped_reasons) < KEEP_REASONS:
            self.skipped_reasons.append(f"{self.display}:{lineno}: {reason}")
        if self.skipped <= LOG_REASONS:
            log.warning("skipped %s:%d: %s", self.display, lineno, reason)
            if self.skipped == LOG_REASONS:
                log.warning("skipped %s: more bad lines are counted, not named", self.display)

    def _if_cut(self, lineno: int) -> str:
        """What to add to the reason a line is bad when it is a regular file's last line
        and has no newline at its end ("" otherwise): a file cut short while it was
        written ends so, and a line cut inside its symbol or time reads as any bad line
        ("expected 3 fields, found 2")."""
        if not self._regular():
            return ""
        try:
            size = os.stat(self.path).st_size
            if self._unended is None or self._unended[0] != size:  # counted once a size
                last = 0  # none: the file ends with a newline (or is empty)
                with open(self.path, "rb") as f:
                    if size and f.seek(size - 1) >= 0 and f.read(1) != b"\n":
                        f.seek(0)
                        last = 1 + sum(b.count(b"\n") for b in iter(lambda: f.read(1 << 20), b""))
                self._unended = (size, last)
        except OSError:
            return ""
        if lineno != self._unended[1]:
            return ""
        return ", on the file's last line, which has no newline at its end: was the file cut short?"

    def _first_line(
        self, fmt: Format, text: str, lineno: int
    ) -> tuple[Callable[[str], Tick], bool]:
        """Set up parsing from the first non-blank line.

        Returns the per-line parser and whether that first line was a header (not a tick).
        """
        if fmt == "csv":
            # Skipping bad lines, a bad first line of a file without a header is one of
            # them (it was refused whole, with --skip-bad): the columns are taken by
            # position whatever it holds.
            columns = CsvColumns(text, self._is_quantity, check_first=not self.skip_bad)
            self._csv_columns = (columns.ts, columns.symbol, columns.price, columns.width)
            return columns.tick, columns.has_header
        parse = functools.partial(parse_json_line, quantity=self._is_quantity)
        obj = header_object(text)
        if obj is not None:
            self._header(obj)
            return parse, True
        return parse, False

    def _set_additive(self, from_header: tuple[str, ...]) -> None:
        """The quantity patterns: those given, and those of a scenario header."""
        self.additive: tuple[str, ...] = (*self._given_additive, *from_header)
        self._quantity = symbol_matcher(self.additive)

    def _is_quantity(self, symbol: str) -> bool:
        """Whether `symbol`'s values are a quantity's (may be 0 or below)."""
        return self._quantity(symbol)

    def _header(self, obj: dict[str, Any]) -> None:
        """Take limits and engine settings from a scenario header line."""
        header = header_from_object(obj)
        self.limits.update(header.limits_dict())
        self.engine.update(header.engine)
        self.price_jumps = header.price_jumps is True
        self._set_additive(header.additive_patterns())


def why_missing(path: str) -> str:
    """What a path that names no file is: a symbolic link that loops, one that leads
    nowhere, or nothing ("no such file")."""
    if os.path.islink(path):  # it is there, and leads nowhere
        try:
            os.stat(path)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return "a symbolic link that loops"
        return f"a symbolic link to {os.readlink(path)}, which does not exist"
    return "no such file"


def _check_readable(path: str) -> None:
    if not os.path.exists(path):
        raise SourceError(path, None, why_missing(path))
    if os.path.isdir(path):
        raise SourceError(path, None, "is a directory, not a file")
    if not os.access(path, os.R_OK):
        raise SourceError(path, None, "permission denied")


class _Pass:
    """One pass over the input, line by line: the format, the header, time order and the
    counts, fed one line at a time (so blocks read fast and lines read one by one can
    alternate)."""

    def __init__(self, source: FileSource) -> None:
        self.source = source
        self.order = TimeOrder(source.tolerance_s)
        self.fmt = source.fmt
        self.parse: Callable[[str], Tick] | None = None
        self.seen_any = self.had_header = False
        self.lineno = 0
        self.skipped_before = source.skipped
        self.reasons_before = len(source.skipped_reasons)
        #: Ticks far past every tick before them, each with its line number, by symbol
        #: in the order of their lines, held until the lines after them tell whether
        #: they or those lines are out of place (see _ordered).
        self.held: dict[str, tuple[int, Tick]] = {}
        self.streaming = source.streaming
        self._taken: list[Tick] = []  # see _ordered
        self._first: str | None = None  # the symbol of the file's first tick, if held

    @property
    def csv_columns(self) -> tuple[int, int, int, int] | None:
        """Where ts, symbol and price sit in a CSV row, and its width, once the first line
        is read."""
        return getattr(self.source, "_csv_columns", None)

    def line(self, lineno: int, text: str | BadLine) -> list[Tick]:
        """The ticks this line gives, in order: none for a line that holds none (blank, a
        header, a bad line skipped) or whose tick is held (see :meth:`_ordered`), its
        own, or a tick held before it and its own; raises SourceError for a bad line
        unless skipping."""
        source = self.source
        self.lineno = lineno
        if isinstance(text, BadLine):
            if self.parse is None:  # the first line decides the format; no skipping it
                raise SourceError(source.display, lineno, str(text))
            source._fail(lineno, str(text))
            return []
        if not text or text.isspace() or (text[0] == "#" and self.fmt != "jsonl"):
            return []
        first = self.parse is None
        if first:
            self.seen_any = True
            if self.fmt is None:
                self.fmt = sniff_format(text, source.named)
            try:
                self.parse, was_header = source._first_line(self.fmt, text, lineno)
            except BadLine as exc:
                raise SourceError(source.display, lineno, str(exc)) from None
            if was_header:
                self.had_header = True
                return []
        try:
            tick = self.parse(text)
        except BadLine as exc:  # a headerless CSV's first line too, when skipping
            why = headerless_misfit(exc) if first and self.fmt == "csv" else str(exc)
            source._fail(lineno, why)
            return []
        return self._ordered(lineno, tick)

    def _ordered(self, lineno: int, tick: Tick) -> list[Tick]:
        """``tick`` (of line ``lineno``) in time order, after the held ticks that the
        lines have shown to be in place.

        A tick more than :data:`HOLD_S` past every tick before it is held (so is a
        regular file's first tick, which has none before it), one per symbol. Its own
        symbol's next tick decides on it: coming back more than :data:`HOLD_S` before it
        (but not before the symbol's ticks before it, which makes that next tick the bad
        one), it shows the held one to be the bad line (a mistyped date), refused alone;
        otherwise it shows the file moved on (a night, a pause), the next tick being at
        most a little late. A tick of any symbol that reaches a held
        tick's time, not being far ahead itself, lets it through too. Before, a date
        typed a month ahead named a good line after it, and with ``--skip-bad`` the 505
        good lines of its symbol after it were dropped, the bad one kept, and the other
        symbols' ticks after it were all late; several such lines, or one whose symbol
        next ticked 200,000 lines on, did the same. Other ticks before a held tick's time
        pass meanwhile. At the end of the input (:meth:`release`), or past
        :data:`HOLD_MOST` held ticks (the oldest first), held ticks are taken."""
        # Taken so far, kept on the pass: a refusal below raises, and the ticks released
        # before it still come before its error (see before_error).
        out = self._taken = []
        order, held = self.order, self.held
        tolerance = order.tolerance_s
        mine = held.get(tick.symbol)
        if mine is not None:
            at, waiting = mine
            if tick.ts >= waiting.ts - HOLD_S:  # its symbol got there (or nearly: this
                out += self._release(tick.ts + HOLD_S)  # one is late, and said so below)
            elif tick.ts >= order.newest.get(tick.symbol, -math.inf) - tolerance:
                del held[tick.symbol]
                self.source._fail(at, _out_of_place(waiting, tick, lineno))
            # else this tick goes back even before its symbol's ticks before the held
            # one: it is the bad line (refused as going back, below), the held one waits
        if (
            tick.symbol not in held
            and (
                (order.latest > -math.inf and tick.ts - order.latest > HOLD_S)
                # a file's first tick: none before it (not a stream's: it is awaited)
                or (order.latest == -math.inf and not held and not self.streaming)
            )
            and not order.leaps(tick.ts, order.latest)  # into the future: refused at once
        ):
            held[tick.symbol] = (lineno, tick)
            self._first = tick.symbol if order.latest == -math.inf else self._first
            if len(held) > HOLD_MOST:
                first = next(iter(held))
                out += self._admit(*held.pop(first))
            self._taken = []
            return out
        if held:  # the file caught up with held ticks: they were right
            symbol = self._first
            first = held.get(symbol) if symbol is not None else None
            if symbol is not None and first is not None and tick.ts >= first[1].ts - HOLD_S:
                # the file's first tick, and this one not far before it: in their order
                del held[symbol]
                out += self._admit(*first)
            out += self._release(tick.ts + tolerance)
        out += self._admit(lineno, tick)
        self._taken = []
        return out

    def passes_held(self, cols: TickColumns) -> bool:
        """Whether a block read fast leaves the held ticks as they are: none of it is of
        a held tick's symbol or reaches a held tick's time (a symbol that never ticks
        again after its mistyped line left the rest of the file to the line reader)."""
        if not self.held:
            return True
        if any(symbol in self.held for symbol in cols.symbols):
            return False
        tolerance = self.order.tolerance_s
        reach = min(  # the file's first tick lets a tick not far before it through
            waiting.ts - (HOLD_S if symbol == self._first else tolerance)
            for symbol, (_, waiting) in self.held.items()
        )
        return bool(cols.ts.size == 0 or float(cols.ts.max()) < reach)

    def _release(self, until: float) -> list[Tick]:
        """The held ticks at or before ``until``, taken, in the order of their lines."""
        out: list[Tick] = []
        for symbol, (at, waiting) in list(self.held.items()):
            if waiting.ts <= until:
                del self.held[symbol]
                out += self._admit(at, waiting)
        return out

    def release(self) -> list[Tick]:
        """Every held tick, taken: at the end of the input."""
        return self._release(math.inf)

    def before_error(self) -> list[Tick]:
        """The held ticks, taken where they can be, as the input stops on a bad line:
        the ticks before a bad line come before its error."""
        out, self._taken = self._taken, []
        for at, waiting in list(self.held.values()):
            with contextlib.suppress(SourceError):  # the stop's own error is said
                out += self._admit(at, waiting)
        self.held.clear()
        return out

    def _admit(self, lineno: int, tick: Tick) -> list[Tick]:
        try:
            taken = self.order.admit(tick)
        except BadLine as exc:
            self.source._fail(lineno, str(exc))
            return []
        if self.order.early:
            self._say_early(lineno)
        return [taken]

    def _say_early(self, lineno: int) -> None:
        """Log the early ticks :class:`TimeOrder` found at line `lineno`, and count them."""
        source = self.source
        for symbol, back in self.order.early:
            source.early += 1
            log.warning(
                "%s:%d: the time of %s goes back %.3f s, to where its ticks were before its "
                "last one, which was dated ahead of this machine's clock: that tick came "
                "early (it was sent as it came); this one and the later ones are taken",
                source.display, lineno, symbol, back,
            )  # fmt: skip
        self.order.early.clear()

    def finish(self) -> None:
        """At the end of the input: raise if it held no tick."""
        source, lineno = self.source, self.lineno
        if not self.seen_any:
            raise SourceError(source.display, max(lineno, 1), "empty input: no header and no ticks")
        bad = source.skipped - self.skipped_before
        if source.ticks == 0 and bad == 0:
            what = "after the header" if self.had_header else "in the input"
            raise SourceError(source.display, lineno, f"no ticks {what}")
        if source.ticks == 0:
            after = " after the header" if self.had_header else ""
            what = (
                f"the only line{after} was bad:"
                if bad == 1
                else f"all {bad:,} lines{after} were bad; first:"
            )
            kept = source.skipped_reasons[self.reasons_before :]
            first = kept[0] if kept else "(not kept)"
            raise SourceError(source.display, None, f"no ticks: {what} {first}")


def _out_of_place(held: Tick, after: Tick, lineno: int) -> str:
    """Why a tick held far past every tick before it is refused, its symbol's next tick
    ``after`` (on line ``lineno``) having come back."""

    return (
        f"the time of {held.symbol}, {utc_text(held.ts)}, is {fmt_span(held.ts - after.ts)} "
        f"past its next tick (line {lineno}, {utc_text(after.ts)}) and past every tick before it: "
        "a mistyped date or time? This line is out of place, not the ones after it"
    )


@dataclass
class _SlowBlock:
    """What reading a block line by line gave: its ticks, the error that stopped it, and
    how many of its bytes were read."""

    symbols: list[str]
    price: list[float]
    ts: list[float]
    error: SourceError | None
    rest: int


def _slow_block(
    state: _Pass, data: bytes, first_line: int, *, until_parsing: bool = False
) -> _SlowBlock:
    """Read `data` (whole lines, the first numbered `first_line`) with the line reader.
    With `until_parsing`, stop after the line that set the format up."""
    got = _SlowBlock([], [], [], None, len(data))
    source = state.source
    try:
        for lineno, text, consumed in read_lines(io.BytesIO(data), first_line):
            for tick in state.line(lineno, text):
                source.ticks += 1
                got.symbols.append(tick.symbol)
                got.price.append(tick.price)
                got.ts.append(tick.ts)
            if until_parsing and state.parse is not None:
                got.rest = consumed
                break
    except SourceError as exc:
        for tick in state.before_error():
            source.ticks += 1
            got.symbols.append(tick.symbol)
            got.price.append(tick.price)
            got.ts.append(tick.ts)
        got.error = exc
    return got


def _flush(got: _SlowBlock) -> Iterator[TickColumns]:
    """The ticks of a block read line by line, then its error if it had one."""
    if got.symbols:
        yield TickColumns.of_ticks(got.symbols, got.price, got.ts)
    if got.error is not None:
        raise got.error
