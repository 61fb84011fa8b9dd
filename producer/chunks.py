"""Reading a regular file a block at a time: a vectorized parser in C for blocks whose every
line is clean, columns of ticks out; anything else is left to the exact line-by-line
reader of :mod:`producer.lines`, which words the error.

A block is a few MiB of whole lines. :func:`parse_block` turns one into
:class:`TickColumns` only when the result is provably what the line reader would give:
every byte plain (no NUL, valid UTF-8, no lone carriage return, no quote or comment in a
CSV), no line longer than :data:`~producer.lines.MAX_LINE_BYTES`, every line a tick,
every value inside the wire's bounds, every symbol acceptable and each symbol's time in
order within the tolerance. Otherwise it returns None and the caller reads that block
line by line, so errors keep their exact ``FILE:LINE: what is wrong``.

The parsers:

CSV
    pyarrow's CSV reader (Apache Arrow's C++ parser, multithreaded), with no null
    markers, no quoting and fixed column types, so that a value it accepts is one
    Python's ``float()`` accepts too, converted with the same correct rounding.
JSON lines
    msgspec, the decoder the line reader and the wire already use, decoding the block's
    lines into typed records in one call, so numbers are the very same floats; the
    symbols are then numbered by pyarrow's hash table.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from operator import attrgetter
from typing import BinaryIO

import msgspec
import numpy as np
import numpy.typing as npt

from engine.limits import MAX_PRICE, MIN_PRICE
from producer.lines import (
    EARLY_S,
    HOLD_S,
    MAX_LINE_BYTES,
    MAX_TS,
    BadLine,
    SourceError,
    TimeOrder,
    check_symbol,
)
from producer.wire import FIELD_NAMES, Tick

#: Bytes read per block: large enough that the parser's per-call cost vanishes, small
#: enough that memory stays a few tens of MiB whatever the file's size.
BLOCK_BYTES = 4 << 20

_NEWLINE = 10


@dataclass(frozen=True)
class TickColumns:
    """Ticks as columns: ``symbols[codes[i]]``, ``price[i]``, ``ts[i]`` is tick ``i``.

    ``symbols`` holds the distinct symbols in the order of their first tick.
    """

    symbols: list[str]
    codes: npt.NDArray[np.int32]
    price: npt.NDArray[np.float64]
    ts: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.codes)

    @classmethod
    def of_ticks(cls, symbols: list[str], price: list[float], ts: list[float]) -> TickColumns:
        """Columns from three lists of per-tick values."""
        index: dict[str, int] = {}
        codes = np.fromiter(
            (index.setdefault(s, len(index)) for s in symbols), np.int32, len(symbols)
        )
        return cls(list(index), codes, np.array(price, np.float64), np.array(ts, np.float64))


@dataclass(frozen=True)
class Block:
    """Whole lines of a file: ``data`` starts at line ``first_line``, byte ``offset``."""

    data: bytes
    first_line: int
    offset: int

    @property
    def end(self) -> int:
        """Byte offset just past the block."""
        return self.offset + len(self.data)


def blocks(
    stream: BinaryIO, offset: int, first_line: int, size: int = BLOCK_BYTES
) -> Iterator[Block]:
    """Cut `stream` (read from byte `offset`, which starts line `first_line`) into
    blocks of whole lines of about `size` bytes; the last block may lack a newline.

    A line that does not end within ``size + MAX_LINE_BYTES`` bytes ends the cutting: the
    block that would hold it is yielded as is, with no newline at its end, and nothing
    after it; the caller reads on line by line from its offset.
    """
    carry = b""
    line = first_line
    while True:
        data = stream.read(size)
        if not data:
            if carry:
                yield Block(carry, line, offset)
            return
        data = carry + data if carry else data
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            if len(data) > size + MAX_LINE_BYTES:
                yield Block(data, line, offset)
                return
            carry = data
            continue
        block = Block(data[:cut] if cut < len(data) else data, line, offset)
        carry = data[cut:]
        yield block
        line += block.data.count(b"\n")
        offset = block.end


def plain_lines(data: bytes) -> bool:
    """True when no line of `data` is one the line reader treats specially: NUL bytes,
    invalid UTF-8, an overlong line, a carriage return not before a newline."""
    if b"\0" in data:
        return False
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return False
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return False
    if len(data) > MAX_LINE_BYTES:
        ends = np.flatnonzero(np.frombuffer(data, np.uint8) == _NEWLINE)
        starts = np.r_[0, ends + 1]
        stops = np.r_[ends + 1, len(data)]
        if int((stops - starts).max()) > MAX_LINE_BYTES:
            return False
    return True


def group_ticks(ticks: Iterator[Tick], size: int) -> Iterator[TickColumns]:
    """`ticks` as columns of at most `size` ticks; the ticks before a SourceError come
    first."""
    symbols: list[str] = []
    price: list[float] = []
    ts: list[float] = []
    try:
        for tick in ticks:
            symbols.append(tick.symbol)
            price.append(tick.price)
            ts.append(tick.ts)
            if len(symbols) >= size:
                yield TickColumns.of_ticks(symbols, price, ts)
                symbols, price, ts = [], [], []
    except SourceError:
        if symbols:
            yield TickColumns.of_ticks(symbols, price, ts)
        raise
    if symbols:
        yield TickColumns.of_ticks(symbols, price, ts)


def stream_groups(ticks: Iterator[Tick], size: int, every: float) -> Iterator[TickColumns]:
    """`ticks` of a live stream (standard input, a pipe) as columns of at most `size`
    ticks, handed on as they come: every `every` seconds what has come since, whether or
    not `size` ticks did (`tail -f ticks | limitwatch backtest -` showed nothing until
    10,000 ticks had come or the pipe closed). The stream is read in a thread of its
    own, so a quiet stream holds nothing back; the ticks before a SourceError or a
    Ctrl-C come first."""
    got: deque[Tick] = deque()  # appended by the reader, taken here (both thread-safe)
    ended: list[BaseException | None] = []
    ready = threading.Event()

    def read() -> None:
        try:
            for tick in ticks:
                got.append(tick)
                if len(got) >= size:
                    ready.set()
            ended.append(None)
        except BaseException as exc:  # handed to the caller, in its thread
            ended.append(exc)
        ready.set()

    threading.Thread(target=read, name="limitwatch-stream", daemon=True).start()

    def taken() -> Iterator[TickColumns]:
        while got:
            part = [got.popleft() for _ in range(min(len(got), size))]
            yield TickColumns.of_ticks(
                [t.symbol for t in part], [t.price for t in part], [t.ts for t in part]
            )

    while True:
        try:
            ready.wait(every)
        except KeyboardInterrupt:
            yield from taken()
            raise
        ready.clear()
        done = bool(ended)  # read before taking: every tick came before the end
        yield from taken()
        if done:
            if ended[0] is not None:
                raise ended[0]
            return


# --- the two parsers -------------------------------------------------------------------


class _JsonTick(msgspec.Struct, gc=False):
    symbol: str
    price: float
    ts: float


class _JsonTimeTick(msgspec.Struct, gc=False):
    symbol: str
    price: float
    ts: float = msgspec.field(name="time")


_json_blocks = (msgspec.json.Decoder(_JsonTick), msgspec.json.Decoder(_JsonTimeTick))
_symbol_of, _price_of, _ts_of = (attrgetter(f) for f in ("symbol", "price", "ts"))


def _json_columns(data: bytes) -> TickColumns | None:
    body = data.rstrip(b"\r\n")
    if not body or b"\n\n" in body or b"\n\r\n" in body:
        return None  # a blank line: keeps the count of lines and records comparable
    if b"\\" in body:
        return None  # an escape, perhaps in a key: a typed record might not see it
    lines = body.count(b"\n") + 1
    if any(body.count(name) > lines for name in FIELD_NAMES):
        return None  # a field perhaps given twice in a line: the line reader says which
    # "time" only where no line has "ts", which the line reader would take first
    decoders = _json_blocks if b'"ts"' not in body else _json_blocks[:1]
    for decoder in decoders:
        try:
            records = decoder.decode_lines(body)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            continue  # the line reader says which line and what is wrong
        n = len(records)
        if n != lines:
            return None  # a line holding more than one object
        return _first_seen(
            *_codes(list(map(_symbol_of, records))),
            np.fromiter(map(_price_of, records), np.float64, n),
            np.fromiter(map(_ts_of, records), np.float64, n),
        )
    return None


def _codes(symbols: list[str]) -> tuple[list[str], npt.NDArray[np.int32]]:
    """The distinct symbols and each tick's index into them, hashed in C (pyarrow)."""
    import pyarrow as pa

    encoded = pa.array(symbols, pa.string()).dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    return encoded.dictionary.to_pylist(), codes


def _csv_reader(
    ts: int, symbol: int, price: int, width: int = 3
) -> Callable[[bytes], TickColumns | None]:
    # Imported here: a quarter of a second that only a CSV file read in blocks needs.
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    names = [f"_{i}" for i in range(width)]  # other columns: read past, never converted
    names[ts], names[symbol], names[price] = "ts", "symbol", "price"
    read = pa_csv.ReadOptions(column_names=names, block_size=1 << 20)
    parse = pa_csv.ParseOptions(quote_char=False, double_quote=False, escape_char=False)
    convert = pa_csv.ConvertOptions(
        column_types={
            "ts": pa.float64(),
            "symbol": pa.dictionary(pa.int32(), pa.string()),
            "price": pa.float64(),
        },
        include_columns=["ts", "symbol", "price"],
        null_values=[],
        true_values=[],
        false_values=[],
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )

    def columns(data: bytes) -> TickColumns | None:
        if b'"' in data or data.startswith(b"#") or b"\n#" in data:
            return None
        try:
            table = pa_csv.read_csv(
                pa.py_buffer(data), read_options=read, parse_options=parse, convert_options=convert
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
        if table.num_rows != data.count(b"\n") + (not data.endswith(b"\n")):
            return None  # a blank line, or one pyarrow read differently
        sym = table.column("symbol").combine_chunks()
        codes = sym.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
        names = sym.dictionary.to_pylist()
        return _first_seen(
            names,
            codes,
            table.column("price").to_numpy(),
            table.column("ts").to_numpy(),
        )

    return columns


def _first_seen(
    names: list[str], codes: npt.NDArray[np.int32], price: np.ndarray, ts: np.ndarray
) -> TickColumns:
    """Renumber `codes` so that symbols come in the order of their first tick."""
    n = len(codes)
    if not n:
        return TickColumns([], codes, price, ts)
    first = np.full(len(names), n, np.int64)
    np.minimum.at(first, codes, np.arange(n, dtype=np.int64))
    present = np.flatnonzero(first < n)
    by_first = present[np.argsort(first[present])]
    renumber = np.full(len(names), -1, np.int32)
    renumber[by_first] = np.arange(len(by_first), dtype=np.int32)
    return TickColumns([names[i] for i in by_first.tolist()], renumber[codes], price, ts)


def block_parser(
    fmt: str, columns: tuple[int, int, int, int] | None = None
) -> Callable[[bytes], TickColumns | None]:
    """The fast parser for `fmt`: ``"jsonl"``, or ``"csv"`` with the positions of the
    ts, symbol and price `columns` and how many columns a row has. It returns None for a
    block it cannot vouch for."""
    if fmt == "jsonl":
        return _json_columns
    assert columns is not None
    return _csv_reader(*columns)


# --- checks on the columns -------------------------------------------------------------


def values_ok(
    cols: TickColumns,
    allowed: Callable[[str], bool],
    quantity: Callable[[str], bool] | None = None,
) -> bool:
    """Every price and time within the wire's bounds, every symbol one the line reader
    would take as is (and `allowed` takes); a price of 0 or below only for a symbol
    `quantity` takes (a quantity, not a price)."""
    with np.errstate(invalid="ignore"):
        if not bool(((cols.ts >= 0.0) & (cols.ts < MAX_TS)).all()):
            return False
        priced = (cols.price >= MIN_PRICE) & (cols.price < MAX_PRICE)
        if not bool(priced.all()):
            if quantity is None or not bool((np.abs(cols.price) < MAX_PRICE).all()):
                return False
            codes = np.unique(cols.codes[~priced])
            if not all(quantity(cols.symbols[c]) for c in codes.tolist()):
                return False
    for symbol in cols.symbols:
        try:
            check_symbol(symbol)
        except BadLine:
            return False
        if not allowed(symbol):
            return False
    return True


def admit_columns(order: TimeOrder, cols: TickColumns) -> TickColumns | None:
    """:meth:`TimeOrder.admit` for every tick of `cols` at once: the columns with
    slightly late ticks restamped, and `order` moved on; None, with `order` untouched,
    when some tick is later than the tolerance allows (the line reader words that)."""
    if cols.ts.size:
        # A time far past all before it (a mistyped date, or a night without ticks) is
        # for the line reader to hold until the lines after it tell which; one ahead of
        # the clock that leaps past them is refused there, and the line named.
        before = np.maximum.accumulate(np.concatenate(([order.latest], cols.ts[:-1])))
        if bool(((cols.ts - before > HOLD_S) & (before > -math.inf)).any()):
            return None
        # The input's first tick has none before it: far past the ticks after it, it
        # may be the bad one.
        if (
            order.latest == -math.inf
            and cols.ts.size > 1
            and float(cols.ts[0]) - float(cols.ts[1:].min()) > HOLD_S
        ):
            return None
    n, k = len(cols), len(cols.symbols)
    if n == 0:
        return cols
    newest = order.newest
    before = np.fromiter((newest.get(s, -math.inf) for s in cols.symbols), np.float64, k)
    if float(cols.ts[0]) >= float(before.max()) and bool((np.diff(cols.ts) >= 0.0).all()):
        _move_on(order, cols, cols.ts)  # in time order throughout: the common case
        return cols
    # Each symbol's newest time before the block, then its ticks in order: the running
    # maximum within a symbol, exactly, by ranking the times and adding the rank to the
    # symbol's code scaled past every rank.
    codes = np.concatenate((np.arange(k, dtype=np.int64), cols.codes.astype(np.int64)))
    times = np.concatenate((before, cols.ts))
    order_ix = np.argsort(codes, kind="stable")
    values, rank = np.unique(times, return_inverse=True)
    scale = np.int64(len(values))
    key = codes[order_ix] * scale + rank[order_ix]
    running = np.maximum.accumulate(key) - codes[order_ix] * scale
    # For each tick: the newest time of its symbol before it (the element before it in
    # the sorted order is of the same symbol, the symbol's starting time at worst).
    is_tick = order_ix >= k
    prev = np.empty(len(running), np.int64)
    prev[1:] = running[:-1]
    prev[0] = running[0]
    prior = values[prev[is_tick]]
    ts = np.empty(n, np.float64)
    tick_ix = order_ix[is_tick] - k
    ts_sorted = cols.ts[tick_ix]
    back = prior - ts_sorted
    if bool((back > order.tolerance_s).any()):
        return None
    ts[tick_ix] = np.maximum(ts_sorted, prior)
    _move_on(order, cols, ts)
    if bool((back > 0).any()):
        return TickColumns(cols.symbols, cols.codes, cols.price, ts)
    return cols


def _move_on(order: TimeOrder, cols: TickColumns, ts: npt.NDArray[np.float64]) -> None:
    """Raise each symbol's newest time in `order` to its latest in `ts`, and the latest
    time of all; and note, as :meth:`TimeOrder.admit` does, the symbols whose latest tick
    may have been early."""
    newest = order.newest
    if ts.size:
        order.latest = max(order.latest, float(ts.max()))
    last = np.full(len(cols.symbols), -np.inf)
    np.maximum.at(last, cols.codes, ts)
    early = order.before_early
    if early:  # these had their next tick
        for symbol in cols.symbols:
            early.pop(symbol, None)
    now = time.time()
    if ts.size and float(last.max()) > now:  # only a tick ahead of the clock can be early
        # Each symbol's tick before its last: the latest of the others (its times are in
        # order), or its newest before the block.
        n = ts.size
        final = np.full(len(cols.symbols), -1, dtype=np.int64)
        np.maximum.at(final, cols.codes, np.arange(n, dtype=np.int64))
        others = np.ones(n, dtype=bool)
        others[final[final >= 0]] = False
        prev = np.fromiter(
            (newest.get(symbol, -math.inf) for symbol in cols.symbols), np.float64, len(last)
        )
        np.maximum.at(prev, cols.codes[others], ts[others])
        maybe = (last - prev > EARLY_S) & (last > now) & (prev > -np.inf)
        for i in np.flatnonzero(maybe).tolist():
            early[cols.symbols[i]] = float(prev[i])
    for symbol, t in zip(cols.symbols, last.tolist(), strict=True):
        if t > newest.get(symbol, -math.inf):
            newest[symbol] = t
