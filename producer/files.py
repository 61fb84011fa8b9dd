"""Ticks from CSV or JSON-lines files, or from standard input, read one line at a time.

Two formats are understood:

CSV
    A header line naming the columns ``ts``, ``symbol`` and ``price`` in any order
    (``time`` is accepted for ``ts``; names are case-insensitive and may be padded with
    spaces), then one tick per line. ``ts`` is epoch seconds (``1750000000.25``) or
    ISO-8601 (``2025-06-15T14:06:40.25Z``; a time without a zone is taken as UTC). Any
    other column is an error that names it. Fields are separated by commas and may be
    double-quoted, but a quoted field cannot span lines. Blank lines and lines starting
    with ``#`` (in the first column) are ignored.

JSON lines
    One object per line with ``symbol``, ``price`` and ``ts`` (or ``time``), the same
    shape as a tick on the wire. ``ts`` may be a number or an ISO-8601 string. Other keys
    are ignored, as the wire ignores them. Blank lines are ignored. A first line that is a
    scenario header (see :mod:`producer.scenario`) supplies the source's limits and engine
    settings: a regular file's when the source is made, whatever the file's name.

Each tick is checked against the same rules as a message on the wire
(:mod:`producer.wire`): a printable symbol of at most ``MAX_SYMBOL_LEN`` characters, a
finite price in (0, ``MAX_PRICE``), a finite timestamp in [0, 1e11). Event time must not
go backwards by more than a tolerance (1 s by default): a tick that is slightly out of
order is kept, stamped with the newest time seen so far, so that time downstream never
goes backwards.

A bad line raises :class:`SourceError` whose message reads ``FILE:LINE: what is wrong``;
with ``skip_bad=True`` the line is skipped and counted instead (``source.skipped``, and
the first few messages in ``source.skipped_reasons``). Problems with the file as a whole
(no header, unknown columns, an empty file, every line bad) are never skipped.
"""

from __future__ import annotations

import csv
import math
import os
import stat
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

import msgspec

from engine.limits import MAX_PRICE
from producer.pipe import first_non_blank
from producer.wire import MAX_SYMBOL_LEN, Tick

#: Timestamps must lie in [0, MAX_TS) epoch seconds, as on the wire.
MAX_TS = 1e11
#: Longest line read, in bytes; a longer one is an error rather than a memory hog.
MAX_LINE_BYTES = 1 << 20
#: How many skipped-line messages a source keeps for its report.
KEEP_REASONS = 5
#: Name used in messages for standard input.
STDIN_NAME = "<stdin>"
#: Key that marks the first line of a scenario file.
SCENARIO_KEY = "limitwatch_scenario"

Format = Literal["csv", "jsonl"]

_TS_NAMES = ("ts", "time")
_KNOWN_SYMBOLS_MAX = 100_000
_FORMAT_BY_SUFFIX: dict[str, Format] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_REQUIRED = ("ts", "symbol", "price")


class SourceError(ValueError):
    """Input that cannot be turned into ticks; ``str()`` reads ``FILE:LINE: what is wrong``.

    Problems with the file as a whole (it does not exist, cannot be opened) have no line
    number and read ``FILE: what is wrong``.
    """

    def __init__(
        self, file: str, line: int | None, reason: str, *, skippable: bool = False
    ) -> None:
        super().__init__(f"{file}: {reason}" if line is None else f"{file}:{line}: {reason}")
        self.file = file
        self.line = line
        self.reason = reason
        #: One bad line that ``skip_bad`` would have skipped and counted.
        self.skippable = skippable


class BadLine(ValueError):
    """One line that is wrong; the reader adds the file name and line number."""


# --- checking single values ------------------------------------------------------------


def check_symbol(symbol: object) -> str:
    """Return `symbol` if the wire would accept it, else raise BadLine saying why."""
    if not isinstance(symbol, str):
        raise BadLine(f"symbol must be text, got {type(symbol).__name__}")
    if not symbol:
        raise BadLine("symbol is empty")
    if len(symbol) > MAX_SYMBOL_LEN:
        raise BadLine(
            f"symbol {symbol[:16]!r}... is {len(symbol)} characters, "
            f"longer than the limit of {MAX_SYMBOL_LEN}"
        )
    if not symbol.isprintable() or symbol.strip() != symbol:
        raise BadLine(f"symbol {symbol!r} has control characters or surrounding spaces")
    return symbol


def check_price(price: object) -> float:
    """Return `price` as a float if it is a finite number in (0, MAX_PRICE), else raise."""
    if isinstance(price, bool) or not isinstance(price, int | float):
        raise BadLine(f"price must be a number, got {price!r}")
    value = float(price)
    if not math.isfinite(value):
        raise BadLine(f"price is not finite ({price!r})")
    if value <= 0.0:
        raise BadLine(f"price must be positive, got {price!r}")
    if value >= MAX_PRICE:
        raise BadLine(f"price {price!r} is not below {MAX_PRICE:g}")
    return value


def parse_time(value: object) -> float:
    """Epoch seconds from a number, a numeric string or an ISO-8601 string (UTC if naive).

    >>> parse_time("1750000000.5"), parse_time("2025-06-15T15:06:40Z")
    (1750000000.5, 1750000000.0)
    """
    if isinstance(value, bool):
        raise BadLine(f"timestamp must be a number or ISO-8601 text, got {value!r}")
    if isinstance(value, int | float):
        ts = float(value)
    elif isinstance(value, str):
        try:
            ts = float(value)
        except ValueError:
            try:
                when = datetime.fromisoformat(value.strip())
            except ValueError:
                raise BadLine(
                    f"timestamp {value!r} is neither epoch seconds nor ISO-8601"
                ) from None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            ts = when.timestamp()
    else:
        raise BadLine(f"timestamp must be a number or ISO-8601 text, got {value!r}")
    if not math.isfinite(ts):
        raise BadLine(f"timestamp is not finite ({value!r})")
    if ts < 0.0:
        raise BadLine(f"timestamp {value!r} is before 1970")
    if ts >= MAX_TS:
        raise BadLine(
            f"timestamp {value!r} is out of range (epoch seconds below {MAX_TS:g} expected; "
            "milliseconds?)"
        )
    return ts


def make_tick(symbol: object, price: object, ts: object) -> Tick:
    """Build a Tick under the wire's rules, or raise BadLine with a readable reason.

    `ts` may be epoch seconds or ISO-8601 text (see :func:`parse_time`).
    """
    return Tick(check_symbol(symbol), check_price(price), parse_time(ts))


class TimeOrder:
    """Keeps each symbol's event time moving forward: small reorderings are clamped, big
    ones refused.

    Order is checked per symbol because that is the order the engine depends on and the
    order Kafka keeps (ticks are keyed by symbol); a recording merged from several
    partitions interleaves symbols whose clocks differ by more than any tolerance.
    """

    def __init__(self, tolerance_s: float = 1.0) -> None:
        if not tolerance_s >= 0.0:
            raise ValueError(f"tolerance must be >= 0 seconds, got {tolerance_s}")
        self.tolerance_s = tolerance_s
        self.newest: dict[str, float] = {}

    def admit(self, tick: Tick) -> Tick:
        """Return the tick, restamped with its symbol's newest time if it is slightly older."""
        newest = self.newest.get(tick.symbol, -math.inf)
        if tick.ts >= newest:
            self.newest[tick.symbol] = tick.ts
            return tick
        back = newest - tick.ts
        if back <= self.tolerance_s:
            return Tick(tick.symbol, tick.price, newest)
        raise BadLine(
            f"time goes backwards by {back:.3f} s for {tick.symbol} (to {tick.ts:.6f} after "
            f"{newest:.6f}), more than the tolerance of {self.tolerance_s:g} s"
        )


# --- reading lines ---------------------------------------------------------------------


def read_lines(stream: BinaryIO) -> Iterator[tuple[int, str | BadLine, int]]:
    """Yield ``(line_number, text or BadLine, bytes_consumed)`` for each line of `stream`.

    Reads one line at a time, so a pipe that is still being written (``tail -f``) works.
    Lines with NUL bytes, invalid UTF-8 or more than MAX_LINE_BYTES bytes come back as
    a BadLine instead of text; the trailing newline is removed.
    """
    lineno = 0
    consumed = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        lineno += 1
        consumed += len(raw)
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while True:  # discard the rest of the overlong line
                more = stream.readline(MAX_LINE_BYTES)
                consumed += len(more)
                if not more or more.endswith(b"\n"):
                    break
            yield lineno, BadLine(f"line is longer than {MAX_LINE_BYTES} bytes"), consumed
            continue
        if b"\0" in raw:
            yield lineno, BadLine("binary data (NUL byte), not text"), consumed
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield lineno, BadLine(f"not UTF-8 text (bad byte at column {exc.start + 1})"), consumed
            continue
        if lineno == 1 and text.startswith("\ufeff"):
            text = text[1:]
        yield lineno, text.rstrip("\r\n"), consumed


class LineLookahead:
    """A blocking binary stream (standard input, say) whose first line can be looked at
    before it is read, for :meth:`FileSource.read_header` in an offline command.

    :meth:`peek_line` has the signature of :meth:`producer.pipe.PipeReader.peek_line` but
    waits for the line however long it takes: use it where nothing else has to happen
    meanwhile. Once the lines looked at are read, reading goes straight to the stream.

    >>> import io
    >>> stream = LineLookahead(io.BytesIO(b"first\\nsecond\\n"))
    >>> stream.peek_line(0.0, 100), stream.readline(), stream.readline()
    (b'first\\n', b'first\\n', b'second\\n')
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._ahead = b""  # read from the stream but not yet consumed

    def peek_line(self, timeout: float, limit: int) -> bytes | None:
        """The first line that is not blank, newline included, without consuming
        anything; None if it (or the blank lines before it) pass `limit` bytes. At the
        end of input, what is left after the blank lines. `timeout` is not used: this
        waits until the line is complete."""
        at_end = False
        while True:
            decided, line = first_non_blank(self._ahead, limit, at_end=at_end)
            if decided:
                return line
            more = self._stream.readline(limit + 1 - len(self._ahead))
            self._ahead += more
            at_end = not more

    def readline(self, limit: int = -1) -> bytes:
        """One line including its newline, at most `limit` bytes (when positive)."""
        ahead = self._ahead
        if not ahead:
            return self._stream.readline(limit)
        end = ahead.find(b"\n")
        n = end + 1 if end >= 0 else len(ahead)
        if limit >= 0:
            n = min(n, limit)
        if end >= 0 or n == limit:
            self._ahead = ahead[n:]
            return ahead[:n]
        self._ahead = b""  # no newline ahead: the line goes on in the stream
        return ahead + self._stream.readline(limit - n if limit > 0 else -1)


def sniff_format(first_line: str) -> Format:
    """'jsonl' when a line looks like a JSON object, else 'csv'."""
    return "jsonl" if first_line.lstrip().startswith("{") else "csv"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class CsvColumns:
    """Where ts, symbol and price sit in a CSV row, read from the header line."""

    def __init__(self, header: str) -> None:
        names = [n.strip().lower() for n in _split_csv(header)]
        if any(_is_number(n) for n in names):
            raise BadLine(
                "missing header: the first line looks like data; "
                "expected column names ts,symbol,price (any order)"
            )
        canon = ["ts" if n in _TS_NAMES else n for n in names]
        unknown = [n for n in names if n not in (*_TS_NAMES, "symbol", "price")]
        if unknown:
            raise BadLine(
                f"unknown column(s) {', '.join(repr(u) for u in unknown)} in the header; "
                "expected ts,symbol,price (any order)"
            )
        missing = [n for n in _REQUIRED if n not in canon]
        if missing:
            raise BadLine(
                f"missing header column(s) {', '.join(missing)}; "
                f"expected ts,symbol,price (any order), got {header.strip()!r}"
            )
        duplicated = sorted({n for n in canon if canon.count(n) > 1})
        if duplicated:
            raise BadLine(f"column(s) {', '.join(duplicated)} appear more than once")
        self.width = len(canon)
        self.ts = canon.index("ts")
        self.symbol = canon.index("symbol")
        self.price = canon.index("price")

        self._known: set[str] = set()  # symbols already checked

    def tick(self, line: str) -> Tick:
        """Turn one data row into a checked Tick.

        The common case (plain numbers, a symbol seen before) takes a fast path; anything
        unusual goes through the full checks, which also word the error.
        """
        fields = _split_csv(line)
        if len(fields) != self.width:
            raise BadLine(f"expected {self.width} fields, found {len(fields)}")
        symbol = fields[self.symbol].strip()
        if symbol not in self._known:
            check_symbol(symbol)
            if len(self._known) < _KNOWN_SYMBOLS_MAX:
                self._known.add(symbol)
        try:
            price = float(fields[self.price])
        except ValueError:
            raise BadLine(f"price {fields[self.price].strip()!r} is not a number") from None
        if not 0.0 < price < MAX_PRICE:  # also catches NaN
            check_price(price)
        ts_text = fields[self.ts]
        try:
            ts = float(ts_text)
        except ValueError:
            ts = parse_time(ts_text.strip())
        else:
            if not 0.0 <= ts < MAX_TS:
                parse_time(ts)
        return Tick(symbol, price, ts)


def _split_csv(line: str) -> list[str]:
    if '"' not in line:
        return line.split(",")
    try:
        return next(csv.reader([line], strict=True))
    except csv.Error as exc:
        raise BadLine(f"malformed CSV: {exc}") from None


_json_decoder = msgspec.json.Decoder()


def json_object(line: str) -> dict[str, Any]:
    """Decode a line holding one JSON object, or raise BadLine."""
    try:
        obj = _json_decoder.decode(line)
    except msgspec.DecodeError as exc:
        raise BadLine(f"not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise BadLine(f"expected a JSON object, got {type(obj).__name__}")
    return obj


def json_tick(obj: dict[str, Any]) -> Tick:
    """Turn a decoded JSON object into a checked Tick."""
    missing = [k for k in ("symbol", "price") if k not in obj]
    if "ts" not in obj and "time" not in obj:
        missing.append("ts")
    if missing:
        raise BadLine(f"missing field(s) {', '.join(missing)}")
    return make_tick(obj["symbol"], obj["price"], obj["ts"] if "ts" in obj else obj["time"])


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
        stream: BinaryIO | None = None,
    ) -> None:
        self.path = str(path)
        self.is_stdin = self.path == "-"
        self.display = STDIN_NAME if self.is_stdin else self.path
        self.name = self.display
        self.paced = not self.is_stdin
        self.limits: dict[str, tuple[float, float]] = {}
        #: Engine settings suggested by a scenario header, if the input had one.
        self.engine: dict[str, float] = {}
        self.skip_bad = skip_bad
        self.tolerance_s = tolerance_s
        self.skipped = 0
        self.skipped_reasons: list[str] = []
        #: Ticks yielded and bytes read so far in the current pass (for progress reports).
        self.ticks = 0
        self.bytes_read = 0
        self._stream = stream
        if fmt is None:
            suffix = Path(self.path).suffix.lower()
            fmt = (
                "csv" if suffix == ".csv" else "jsonl" if suffix in (".jsonl", ".ndjson") else None
            )
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

        Returns whether a header was taken. Needs a stream that can look ahead (see
        :class:`producer.pipe.PipeReader`); other sources return False at once.
        """
        peek = getattr(self._stream, "peek_line", None)
        if peek is None or self.fmt == "csv":
            return False
        raw = peek(timeout, MAX_LINE_BYTES)
        if not raw or SCENARIO_KEY.encode() not in raw:
            return False
        try:
            text = raw.decode("utf-8").removeprefix("\ufeff").rstrip("\r\n")
        except UnicodeDecodeError:
            return False
        return self._take_header_line(text)

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
            with open(self.path, "rb") as stream:
                while True:
                    raw = stream.readline(MAX_LINE_BYTES + 1)
                    if not raw or len(raw) > MAX_LINE_BYTES:
                        return False  # empty, or an overlong line: left to the reading
                    text = raw.decode("utf-8").removeprefix("\ufeff").rstrip("\r\n")
                    if not text or text.isspace() or (text[0] == "#" and self.fmt != "jsonl"):
                        continue
                    return self._take_header_line(text)
        except (OSError, UnicodeDecodeError):
            return False

    def _take_header_line(self, text: str) -> bool:
        """Take limits and engine settings from `text` if it is a valid scenario header."""
        if SCENARIO_KEY not in text:
            return False
        try:
            obj = json_object(text)
            if SCENARIO_KEY not in obj:
                return False
            self._header(obj, 1)
        except BadLine:
            return False
        return True

    def _open(self) -> BinaryIO:
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
            return CsvColumns(text).tick, True
        if SCENARIO_KEY in text:
            obj = json_object(text)
            if SCENARIO_KEY in obj:
                self._header(obj, lineno)
                return _parse_json_line, True
        return _parse_json_line, False

    def _header(self, obj: dict[str, Any], lineno: int) -> None:
        """Take limits and engine settings from a scenario header line."""
        from producer.scenario import header_from_object  # scenario builds on this module

        header = header_from_object(obj)
        self.limits.update(header.limits_dict())
        self.engine.update(header.engine)


def _parse_json_line(text: str) -> Tick:
    return json_tick(json_object(text))


def _check_readable(path: str) -> None:
    if not os.path.exists(path):
        raise SourceError(path, None, "no such file")
    if os.path.isdir(path):
        raise SourceError(path, None, "is a directory, not a file")
    if not os.access(path, os.R_OK):
        raise SourceError(path, None, "permission denied")
