"""One line of CSV or JSON lines turned into a checked tick, or a ``FILE:LINE: what is
wrong`` error; the rules every file, pipe and scenario source shares.

Each tick is checked against the same rules as a message on the wire
(:mod:`producer.wire`): a printable symbol of at most ``MAX_SYMBOL_LEN`` characters, a
finite price in [``MIN_PRICE``, ``MAX_PRICE``), a finite timestamp in [0, 1e11). :class:`TimeOrder`
keeps event time from going backwards by more than a tolerance.
"""

from __future__ import annotations

import csv
import json
import math
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, Literal

import msgspec

from engine.limits import MAX_PRICE, MIN_PRICE
from producer.wire import MAX_SYMBOL_LEN, Tick, given_twice, literal, symbol_problem

#: Timestamps must lie in [0, MAX_TS) epoch seconds, as on the wire.
MAX_TS = 1e11
#: Event times further ahead of this machine's clock than this (seconds) are refused: by
#: the file reader (a recording cannot come from the future) and by the consumer.
MAX_AHEAD_S = 300.0
#: A file's time that leaps this far (seconds) past every time before it, into the future
#: beyond MAX_AHEAD_S, is refused by the reader as a bad line.
LEAP_S = 3600.0
#: A tick dated ahead of this machine's clock and more than this many seconds after its
#: symbol's tick before it, whose symbol's next tick comes back to that earlier time, was
#: early (see :class:`TimeOrder`).
EARLY_S = 60.0
#: A tick this many seconds past every tick before it is held until the lines after it
#: tell: if its symbol's next tick comes back to before it, it was the bad line (a
#: mistyped date), not the lines after it; if a tick reaches its time, it was a real gap
#: (a night, a pause). See the file reader's ``_Pass._ordered``.
HOLD_S = 300.0
#: Ticks held at once at most (one per symbol); past it the oldest is taken.
HOLD_MOST = 10_000
#: Longest line read, in bytes; a longer one is an error rather than a memory hog.
MAX_LINE_BYTES = 1 << 20

Format = Literal["csv", "jsonl"]

#: What a CSV header may call the time column (`timestamp` is pandas' and many exports',
#: `date` a daily export's).
_TS_NAMES = ("ts", "time", "timestamp", "date")
#: What a CSV header without a `price` column may call it (a daily export's close).
_PRICE_NAMES = ("close",)
_KNOWN_SYMBOLS_MAX = 100_000
_REQUIRED = ("ts", "symbol", "price")


class SourceError(ValueError):
    """Input that cannot be turned into ticks; ``str()`` reads ``FILE:LINE: what is wrong``.

    Problems with the file as a whole (it does not exist, cannot be opened) have no line
    number and read ``FILE: what is wrong``.
    """

    def __init__(
        self, file: str, line: int | None, reason: str, *, skippable: bool = False
    ) -> None:
        # The name as the message shows it: a newline or escape code in a file's name
        # (which a message printed with its own line breaks kept) shown as an escape.
        shown = literal(file)
        super().__init__(f"{shown}: {reason}" if line is None else f"{shown}:{line}: {reason}")
        self.file = file
        self.line = line
        self.reason = reason
        #: One bad line that ``skip_bad`` would have skipped and counted.
        self.skippable = skippable


#: How :func:`check_price` says that a price is 0 or below.
NOT_POSITIVE = "price must be positive"


def skip_hint(exc: BaseException) -> str:
    """What to add to the message of an error about a line that ``--skip-bad`` would have
    skipped and counted ("" for any other error); of a value of 0 or below, also how to
    read it as a quantity (skipping every such line lost a gauge's readings below 0).

    >>> hint = skip_hint(SourceError("m.csv", 3, f"{NOT_POSITIVE}, got -0.2", skippable=True))
    >>> hint.startswith(" (a value that may be 0 or below is a quantity: --additive SYMBOL; ")
    True
    """
    if not getattr(exc, "skippable", False):
        return ""
    if getattr(exc, "reason", "").startswith(NOT_POSITIVE):
        return (
            " (a value that may be 0 or below is a quantity: --additive SYMBOL; --skip-bad "
            "skips and counts such lines)"
        )
    return " (--skip-bad skips and counts such lines)"


class BadLine(ValueError):
    """One line that is wrong; the reader adds the file name and line number."""


# --- checking single values ------------------------------------------------------------


def json_kind(value: object) -> str:
    """What a decoded JSON value is, in JSON's words (``null``, not ``NoneType``).

    >>> [json_kind(v) for v in (None, True, 3, 2.5, "x", [1], {})]
    ['null', 'true', 'a number', 'a number', 'text', 'an array', 'an object']
    """
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    return (
        "an array"
        if isinstance(value, list)
        else "an object"
        if isinstance(value, dict)
        else type(value).__name__
    )


def check_symbol(symbol: object) -> str:
    """Return `symbol` if the wire would accept it, else raise BadLine saying why."""
    if not isinstance(symbol, str):
        raise BadLine(f"symbol must be text, got {json_kind(symbol)}")
    if not symbol:
        raise BadLine("symbol is empty")
    if len(symbol) > MAX_SYMBOL_LEN:
        raise BadLine(
            f"symbol {symbol[:16]!r}... is {len(symbol)} characters, "
            f"longer than the limit of {MAX_SYMBOL_LEN}"
        )
    problem = symbol_problem(symbol)
    if problem is not None:
        raise BadLine(f"symbol {symbol!r} {problem}")
    return symbol


def _short(value: object, most: int = 40) -> str:
    """``repr(value)``, cut to ``most`` characters (a number of 400 digits, in a message).

    >>> _short(10**50), _short(True), _short(None)
    ('10000000000000000000000000000000000000…', 'true', 'null')
    """
    # JSON's words for what JSON gave: ``{"price": true}`` got ``true``, not ``True``.
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = "null" if value is None else repr(value)
    return text if len(text) <= most else text[: most - 2] + "…"


def check_price(price: object, quantity: bool = False) -> float:
    """Return `price` as a float if it is a finite number in [MIN_PRICE, MAX_PRICE), else raise;
    a `quantity` (a symbol that is not a price, see :class:`engine.Engine`'s additive
    ones) may also be 0 or below, down to -MAX_PRICE."""
    if isinstance(price, bool) or not isinstance(price, int | float):
        raise BadLine(f"price must be a number, got {_short(price)}")
    try:
        value = float(price)
    except OverflowError:  # an integer of hundreds of digits
        raise BadLine(f"price {_short(price)} is out of range") from None
    if not math.isfinite(value):
        raise BadLine(f"price is not finite ({price!r})")
    if quantity:
        if not -MAX_PRICE < value < MAX_PRICE:
            raise BadLine(f"value {price!r} is not between -{MAX_PRICE:g} and {MAX_PRICE:g}")
        return value
    if value <= 0.0:
        raise BadLine(f"{NOT_POSITIVE}, got {price!r}")
    if value < MIN_PRICE:
        raise BadLine(f"price {price!r} is below {MIN_PRICE:g}: too small to be a price")
    if value >= MAX_PRICE:
        raise BadLine(f"price {price!r} is not below {MAX_PRICE:g}")
    return value


#: The seconds of a leap second (``23:59:60``), before a fraction and a zone.
_LEAP_SECOND = re.compile(r":60(?=(\.[0-9]*)?([zZ]|[+-][0-9]{2}(:?[0-9]{2})?)?$)")


def _iso_time(text: str) -> datetime:
    """An ISO-8601 / RFC 3339 time, as ``datetime.fromisoformat`` reads it, and also with
    a lowercase ``z`` and a leap second (``23:59:60``, read as the second after
    ``23:59:59``, as POSIX time counts it), both of which RFC 3339 allows.

    >>> _iso_time("2016-12-31T23:59:60Z") == _iso_time("2017-01-01T00:00:00Z")
    True
    >>> _iso_time("2025-06-15t15:06:40.5z").isoformat()
    '2025-06-15T15:06:40.500000+00:00'
    """
    if text[-1:] == "z":
        text = text[:-1] + "Z"
    leap = _LEAP_SECOND.search(text)
    if leap is None:
        return datetime.fromisoformat(text)
    return datetime.fromisoformat(text[: leap.start()] + ":59" + text[leap.end() :]) + timedelta(
        seconds=1
    )


def parse_time(value: object) -> float:
    """Epoch seconds from a number, a numeric string or an ISO-8601 string (UTC if naive).

    >>> parse_time("1750000000.5"), parse_time("2025-06-15T15:06:40Z")
    (1750000000.5, 1750000000.0)
    """
    if isinstance(value, bool):
        raise BadLine(f"timestamp must be a number or ISO-8601 text, got {_short(value)}")
    if isinstance(value, int | float):
        try:
            ts = float(value)
        except OverflowError:  # an integer of hundreds of digits
            raise BadLine(f"timestamp {_short(value)} is out of range") from None
    elif isinstance(value, str):
        try:
            ts = _float(value)
        except ValueError:
            try:
                when = _iso_time(value.strip())
            except ValueError:
                raise BadLine(
                    f"timestamp {value!r} is neither epoch seconds nor ISO-8601"
                ) from None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            ts = when.timestamp()
    else:
        raise BadLine(f"timestamp must be a number or ISO-8601 text, got {_short(value)}")
    if not math.isfinite(ts):
        raise BadLine(f"timestamp is not finite ({value!r})")
    if ts < 0.0:
        raise BadLine(f"timestamp {value!r} is before 1970")
    if ts >= MAX_TS:
        if isinstance(value, str) and not _is_number(value):  # ISO-8601 text
            year = datetime.fromtimestamp(MAX_TS, UTC).year
            raise BadLine(
                f"timestamp {_short(value)} is out of range (a time before {year} expected)"
            )
        said = f"timestamp {_short(value)} is out of range: epoch seconds are below {MAX_TS:g}"
        for unit, scale in _UNITS:
            if ts < MAX_TS * scale:
                said += f", and this looks like {unit}: give seconds (divide by {scale:g})"
                break
        raise BadLine(f"{said} or ISO-8601 text" if "divide" in said else said)
    return ts


#: Units a time too large for epoch seconds is likely in, each with its seconds' size.
_UNITS = (("milliseconds", 1e3), ("microseconds", 1e6), ("nanoseconds", 1e9))


#: Which symbols are quantities rather than prices (their values may be 0 or below).
Quantity = Callable[[str], bool] | None


def make_tick(symbol: object, price: object, ts: object, quantity: Quantity = None) -> Tick:
    """Build a Tick under the wire's rules, or raise BadLine with a readable reason.

    `ts` may be epoch seconds or ISO-8601 text (see :func:`parse_time`); a symbol that
    `quantity` takes may have a value of 0 or below.
    """
    name = check_symbol(symbol)
    try:
        value = check_price(price)
    except BadLine:  # asked only of a refused price: most lines never match a pattern
        if quantity is None or not quantity(name):
            raise
        value = check_price(price, quantity=True)
    return Tick(name, value, parse_time(ts))


class TimeOrder:
    """Keeps each symbol's event time moving forward: small reorderings are clamped, big
    ones refused; and refuses a time that leaps into the future: more than ``ahead_s``
    ahead of this machine's clock *and* more than ``leap_s`` after every time before it.

    Order is checked per symbol because that is the order the engine depends on and the
    order Kafka keeps (ticks are keyed by symbol); a recording merged from several
    partitions interleaves symbols whose clocks differ by more than any tolerance. A line
    dated years ahead is the bad one, not the lines after it: taken, it became its
    symbol's newest time, and every later line of that symbol went "backwards" (with
    ``--skip-bad`` all of them were dropped, without it the error named a good line).
    Only a leap is refused: a file whose times run ahead of the clock from its first line
    on (made up, or recorded from a generator sped up with ``+``) reads as before.

    A tick dated a little ahead, within ``ahead_s``, is taken: in a live feed it may be
    right. But where it was ahead of this machine's clock and more than :data:`EARLY_S`
    after its symbol's tick before it, and the symbol's next tick comes back to at or
    after that tick before it, the one ahead was early, not every tick after it late:
    the symbol's time moves back to the tick that came back, which is taken and named in
    :attr:`early` (one early tick on standard input had stopped the source, and with it
    every symbol, naming the good tick after it; with ``--skip-bad`` its symbol's ticks
    were dropped for as long as it had been early). The consumer's own checks then see
    the symbol's time go back and start it afresh (see :mod:`tui.runtime.plausibility`).
    A time going back elsewhere (a file not sorted by time) is still refused.
    """

    def __init__(
        self, tolerance_s: float = 1.0, ahead_s: float = MAX_AHEAD_S, leap_s: float = LEAP_S
    ) -> None:
        if not tolerance_s >= 0.0:
            raise ValueError(f"tolerance must be >= 0 seconds, got {tolerance_s}")
        if not (ahead_s >= 0.0 and leap_s >= 0.0):
            raise ValueError(f"ahead_s and leap_s must be >= 0 seconds, got {ahead_s}, {leap_s}")
        self.tolerance_s = tolerance_s
        self.ahead_s = ahead_s
        self.leap_s = leap_s
        self.newest: dict[str, float] = {}
        self.latest = -math.inf  # the latest time taken, of any symbol
        # Symbols whose latest tick may have been early: the time of the tick before it.
        self.before_early: dict[str, float] = {}
        #: Early ticks found (symbol, seconds its time went back), oldest first, for the
        #: reader to say; it empties the list.
        self.early: list[tuple[str, float]] = []

    def latest_allowed(self) -> float:
        """The latest event time taken now: this machine's clock plus ``ahead_s``."""
        return time.time() + self.ahead_s

    def leaps(self, ts: Any, before: Any) -> Any:
        """Whether a time ``ts``, after ``before`` (the latest time taken before it),
        leaps into the future; elementwise for arrays."""
        return (before > -math.inf) & (ts - before > self.leap_s) & (ts > self.latest_allowed())

    def admit(self, tick: Tick) -> Tick:
        """Return the tick, restamped with its symbol's newest time if it is slightly older."""
        if self.leaps(tick.ts, self.latest):
            ahead = tick.ts - time.time()
            raise BadLine(
                f"time {utc_text(tick.ts)} is "
                f"{fmt_span(ahead)} ahead of this machine's clock (more "
                f"than {self.ahead_s:g} s): a recorded tick cannot come from the future; "
                "check the clock and the time's unit"
            )
        symbol = tick.symbol
        newest = self.newest.get(symbol, -math.inf)
        before = self.before_early.pop(symbol, None)
        if tick.ts >= newest:
            if newest > -math.inf and tick.ts - newest > EARLY_S and tick.ts > time.time():
                self.before_early[symbol] = newest
            self.newest[symbol] = tick.ts
            self.latest = max(self.latest, tick.ts)
            return tick
        back = newest - tick.ts
        if back <= self.tolerance_s:
            return Tick(symbol, tick.price, newest)
        if before is not None and tick.ts >= before - self.tolerance_s:
            self.newest[symbol] = max(tick.ts, before)
            self.early.append((symbol, back))
            return Tick(symbol, tick.price, self.newest[symbol])
        raise BadLine(
            f"time goes backwards by {back:.3f} s for {tick.symbol} (to {utc_text(tick.ts)} "
            f"after {utc_text(newest)}), more than the tolerance of {self.tolerance_s:g} s: "
            "ticks must come oldest first (sort the file by time)"
        )


def utc_text(ts: float) -> str:
    """An epoch time as a reader of the file knows it: ISO-8601 in UTC, to the
    millisecond where it has a fraction (the message gave `1796608555.565337`); epoch
    seconds where it is beyond a calendar's years.

    >>> utc_text(1750000000.0), utc_text(1796608555.565337)
    ('2025-06-15T15:06:40Z', '2026-12-07T01:55:55.565Z')
    """
    try:
        moment = datetime.fromtimestamp(ts, UTC)
    except (OverflowError, OSError, ValueError):
        return f"{ts:.6f}"
    if ts == int(ts):
        return f"{moment:%Y-%m-%dT%H:%M:%S}Z"
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def fmt_span(seconds: float) -> str:
    """A span of seconds in the largest unit that reads well; under 10 s, two figures
    (a tick 0.01 s out of order read "up to 0 s behind").

    >>> fmt_span(42.0), fmt_span(5400.0), fmt_span(200_000_000.0)
    ('42 s', '1.5 h', '6.3 years')
    >>> fmt_span(0.0099999), fmt_span(2.5), fmt_span(0.0001), fmt_span(0.0)
    ('0.01 s', '2.5 s', '0.0001 s', '0 s')
    """
    for unit, size in (("years", 365.25 * 86400.0), ("days", 86400.0), ("h", 3600.0)):
        if seconds >= 2 * size or (unit == "h" and seconds >= size):
            return f"{seconds / size:.1f} {unit}"
    if 0.0 < seconds < 9.5:
        return f"{seconds:.2g} s"
    return f"{seconds:.0f} s"


# --- reading lines ---------------------------------------------------------------------


#: A line with a carriage return inside: lines that end in one alone.
_CR_ONLY = (
    "lines end in a carriage return alone (an old Mac text file): convert them first, "
    "e.g. tr '\\r' '\\n' < FILE > NEW"
)


#: The first bytes of a gzip file, and a newline's byte.
_GZIP = b"\x1f\x8b"
#: The byte order marks of UTF-32 and UTF-16 text, little- and big-endian (UTF-32's
#: little-endian one starts with UTF-16's).
_UTF32 = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")
_UTF16 = (b"\xff\xfe", b"\xfe\xff")
_NEWLINE = ord("\n")


def _binary(raw: bytes, first_line: bool) -> str:
    """What a line that is not text is said to be: a compressed file by its magic number,
    UTF-32 or UTF-16 text by its byte order mark."""
    if first_line and raw.startswith(_GZIP):
        return "a gzip-compressed file, not text: decompress it first (gunzip, or zcat FILE |)"
    for marks, name in ((_UTF32, "UTF-32"), (_UTF16, "UTF-16")):
        if first_line and raw.startswith(marks):
            return (
                f"{name} text (a byte order mark): convert it to UTF-8 first, e.g. "
                f"iconv -f {name} -t UTF-8 FILE > NEW"
            )
    return "binary data (NUL byte), not text"


def read_lines(stream: BinaryIO, first: int = 1) -> Iterator[tuple[int, str | BadLine, int]]:
    """Yield ``(line_number, text or BadLine, bytes_consumed)`` for each line of `stream`,
    the first numbered `first` (a stream that starts part-way through a file).

    Reads one line at a time, so a pipe that is still being written (``tail -f``) works.
    Lines with NUL bytes, invalid UTF-8 or more than MAX_LINE_BYTES bytes come back as
    a BadLine instead of text; the trailing newline is removed.
    """
    lineno = first - 1
    consumed = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        lineno += 1
        consumed += len(raw)
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            if b"\0" in raw:  # not text (/dev/zero would be discarded for ever)
                yield lineno, BadLine(_binary(raw, lineno == first == 1)), consumed
                continue
            while True:  # discard the rest of the overlong line
                more = stream.readline(MAX_LINE_BYTES)
                consumed += len(more)
                if not more or more.endswith(b"\n"):
                    break
            # (a file with old Mac line ends is one long line)
            why = _CR_ONLY if b"\r" in raw else f"line is longer than {MAX_LINE_BYTES} bytes"
            yield lineno, BadLine(why), consumed
            continue
        if b"\0" in raw or (lineno == first == 1 and raw.startswith(_GZIP)):
            yield lineno, BadLine(_binary(raw, lineno == first == 1)), consumed
            continue
        try:  # first: random bytes hold carriage returns too, and are no old Mac file
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield lineno, BadLine(f"not UTF-8 text (bad byte at column {exc.start + 1})"), consumed
            continue
        cr = raw.find(b"\r")
        if cr != -1 and cr + 1 < len(raw) and raw[cr + 1] != _NEWLINE:
            # One line holds them all: say so, not "expected 3 fields, found 403".
            yield lineno, BadLine(_CR_ONLY), consumed
            continue
        if lineno == 1 and text.startswith("\ufeff"):
            text = text[1:]
        yield lineno, text.rstrip("\r\n"), consumed


def sniff_format(first_line: str, named: Format | None = None) -> Format:
    """'jsonl' when a line looks like a JSON object, else 'csv'; a file ``named`` JSON
    lines (``.jsonl``) is read as CSV only where its first line looks like CSV (three
    fields or more), so that a line of bad JSON there is said to be bad JSON.

    >>> sniff_format('{"ts": 1}'), sniff_format("ts,symbol,price"), sniff_format("nope")
    ('jsonl', 'csv', 'csv')
    >>> sniff_format("ts,symbol,price", "jsonl"), sniff_format("nope", "jsonl")
    ('csv', 'jsonl')
    """
    text = first_line.lstrip().lstrip("\ufeff")
    if text.startswith("{"):
        return "jsonl"
    if named == "jsonl" and (text[:1] in ("[", '"') or text.count(",") < 2):
        return "jsonl"
    return "csv"


def _is_number(text: str) -> bool:
    try:
        _float(text)
    except ValueError:
        return False
    return True


def _float(text: str) -> float:
    """``float(text)`` without the digit separators and other scripts' digits Python
    allows ("1_000", "１００"): no other reader of prices (the file reader's C parser,
    the limits dialog and ``--limit``, JSON) takes them."""
    if "_" in text or not text.isascii():
        raise ValueError(text)
    return float(text)


#: The columns of a CSV input without a header line, in this order.
HEADERLESS = ("ts", "symbol", "price")


def headerless_misfit(exc: BadLine) -> str:
    """What is wrong with the first line of a CSV input without a header, which ``exc``
    says: read by position, it may be the columns' order that is wrong."""
    return (
        f"no header line, so the columns are read as {','.join(HEADERLESS)} in that "
        f"order, and the first line does not fit: {exc}"
    )


class CsvColumns:
    """Where ts, symbol and price sit in a CSV row, read from the first line.

    A first line that names the columns is a header. A first line that holds a number is
    data, as ``tail -f prices.csv`` gives it (it starts after the header): the columns
    are then taken by position, :data:`HEADERLESS`, and ``has_header`` is False, so
    that line is read as the first tick. With ``check_first`` that line must fit them
    (the error says how the columns were read); without it (bad lines being skipped) it
    is left to :meth:`tick`, as any other line.
    """

    def __init__(
        self, first_line: str, quantity: Quantity = None, *, check_first: bool = True
    ) -> None:
        self.quantity = quantity  # symbols whose values may be 0 or below
        names = [n.strip().lower() for n in _split_csv(first_line)]
        self._known: set[str] = set()  # symbols already checked
        self.has_header = not any(_is_number(n) for n in names)
        if not self.has_header:
            self.width = len(HEADERLESS)
            self.ts, self.symbol, self.price = (HEADERLESS.index(c) for c in _REQUIRED)
            if not check_first:
                return
            try:
                self.tick(first_line)
            except BadLine as exc:
                raise BadLine(headerless_misfit(exc)) from None
            return
        header = first_line
        priced = "price" in names
        canon = [
            "ts" if n in _TS_NAMES else "price" if n in _PRICE_NAMES and not priced else n
            for n in names
        ]
        #: Columns besides ts, symbol and price (volume, bid, ...): read past, as a JSON
        #: line's other keys are (an export with a volume column was refused whole).
        self.ignored = [n for n, c in zip(names, canon, strict=True) if c not in _REQUIRED]
        missing = [n for n in _REQUIRED if n not in canon]
        if missing:
            # A spreadsheet's export in a locale that writes decimal commas separates
            # its columns with ';' (or a tab): said as such, with what to do.
            other = next((c for c in (";", "\t", "|") if c in header and "," not in header), None)
            hint = (
                f": its columns seem separated by {other!r}, and only commas separate columns "
                "here (with a decimal point, not a comma, in numbers): export the file as "
                "comma-separated, or convert it first"
                if other is not None
                else ""
            )
            raise BadLine(
                f"missing header column(s) {', '.join(missing)}; expected ts,symbol,price "
                "(any order; the time may be called time, timestamp or date, the price "
                f"close), got {header.strip()!r}{hint}"
            )
        duplicated = sorted({n for n in _REQUIRED if canon.count(n) > 1})
        if duplicated:
            # by the names given: "time" and "timestamp" are both the time
            given = [n for n, c in zip(names, canon, strict=True) if c in duplicated]
            raise BadLine(
                f"column(s) {', '.join(duplicated)} appear more than once ({', '.join(given)})"
            )
        self.width = len(canon)
        self.ts = canon.index("ts")
        self.symbol = canon.index("symbol")
        self.price = canon.index("price")

    def tick(self, line: str) -> Tick:
        """Turn one data row into a checked Tick.

        The common case (plain numbers, a symbol seen before) takes a fast path; anything
        unusual goes through the full checks, which also word the error.
        """
        try:
            return self._tick(line)
        except BadLine:
            if _is_json_object(line):  # said as what it is, not as a bad price
                raise BadLine(
                    "a JSON line in a CSV file: a file is all CSV or all JSON lines"
                ) from None
            raise

    def _tick(self, line: str) -> Tick:
        fields = _split_csv(line)
        if len(fields) != self.width:
            raise BadLine(f"expected {self.width} fields, found {len(fields)}")
        symbol = fields[self.symbol].strip()
        if symbol not in self._known:
            check_symbol(symbol)
            if len(self._known) < _KNOWN_SYMBOLS_MAX:
                self._known.add(symbol)
        try:
            price = _float(fields[self.price])
        except ValueError:
            text = fields[self.price].strip()
            hint = (
                ": write it without digit separators (1234.5, not 1,234.5)"
                if re.fullmatch(r"[+-]?\d{1,3}([,' ]\d{3})+(\.\d*)?", text)
                else ""
            )
            raise BadLine(f"price {text!r} is not a number{hint}") from None
        if not MIN_PRICE <= price < MAX_PRICE:  # also catches NaN
            quantity = self.quantity is not None and self.quantity(symbol)
            text = fields[self.price].strip()
            tiny = price == 0.0 and not text.startswith("-")  # -1e-400: "must be positive"
            if tiny and not quantity and re.search(r"[1-9]", re.split("[eE]", text)[0]):
                # a number too small for a float reads 0.0: "must be positive, got 0.0"
                # told the user they wrote 0
                raise BadLine(
                    f"price {_short(text)} is below {MIN_PRICE:g}: too small to be a price"
                )
            price = check_price(price, quantity)
        ts_text = fields[self.ts]
        try:
            ts = _float(ts_text)
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


def _is_json_object(line: str) -> bool:
    """Whether ``line`` holds one JSON object (a CSV row starting with ``{`` need not)."""
    if not line.lstrip().startswith("{"):
        return False
    try:
        return isinstance(_json_decoder.decode(line), dict)
    except (msgspec.DecodeError, RecursionError):
        return False


#: A value that other programs write for a number and JSON does not allow (Python's
#: json.dumps writes NaN and Infinity unless told not to).
_NOT_JSON_NUMBER = re.compile(r"[:\[,]\s*-?(?:NaN|Infinity|nan|inf)\s*[,\]}]")


def json_object(line: str) -> dict[str, Any]:
    """Decode a line holding one JSON object, or raise BadLine."""
    try:
        obj = _json_decoder.decode(line)
    except msgspec.DecodeError as exc:
        cut = "truncated" in str(exc)  # a line that ends before its object does
        hint = ": the line ends before its object does (a file cut while written?)" if cut else ""
        if not cut and _NOT_JSON_NUMBER.search(line):
            hint = " (NaN and Infinity are not JSON: a number, or null where one may be left out)"
        raise BadLine(f"not valid JSON: {exc}{hint}") from None
    except RecursionError:
        raise BadLine("not valid JSON: nested too deeply") from None
    if not isinstance(obj, dict):
        raise BadLine(f"expected a JSON object, got {json_kind(obj)}")
    # As on the wire: a decoder keeps the last of a field given twice, another program
    # may keep the first; such a line was a tick of whichever symbol came last.
    twice = given_twice(line.encode("utf-8", "surrogatepass"))
    if twice:
        raise BadLine(f"the field {twice} is given twice")
    return obj


def json_tick(obj: dict[str, Any], quantity: Quantity = None) -> Tick:
    """Turn a decoded JSON object into a checked Tick (see :func:`make_tick`)."""
    missing = [k for k in ("symbol", "price") if k not in obj]
    if "ts" not in obj and "time" not in obj:
        missing.append("ts")
    if missing:
        if "limitwatch_scenario" in obj:  # two scenarios joined (cat a.jsonl b.jsonl)
            raise BadLine(
                "a scenario header after the first line: a scenario has one, on its first "
                "line (files joined together? keep the first header and the ticks of each)"
            )
        raise BadLine(f"missing field(s) {', '.join(missing)}")
    ts = obj["ts"] if "ts" in obj else obj["time"]
    return make_tick(obj["symbol"], obj["price"], ts, quantity)


def parse_json_line(text: str, quantity: Quantity = None) -> Tick:
    """Turn one JSON-lines line into a checked Tick (see :func:`make_tick`)."""
    return json_tick(json_object(text), quantity)
