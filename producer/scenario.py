"""Scenario files: a recorded or made-up stretch of market, replayable and self-describing.

A scenario is a JSON-lines file (UTF-8, one JSON object per line, ``\\n`` line ends). The
first line is the header (:mod:`producer.header` describes its fields). Every following
line is one tick, exactly as on the wire:
``{"symbol": "ACME", "price": 101.25, "ts": 1750000000.125}`` with ``ts`` in epoch
seconds of event time. Ticks obey the rules of :mod:`producer.lines`: wire-valid values,
and event time never going backwards by more than the reader's tolerance.

:class:`ScenarioReader` streams a scenario as a :class:`~producer.source.Source`;
:class:`ScenarioWriter` writes one, header first, flushing as it goes so that a
recording interrupted part-way is still a readable scenario.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import msgspec

from producer.files import FileSource
from producer.header import ScenarioHeader, header_from_object, read_header, required_header
from producer.lines import MAX_LINE_BYTES, BadLine, Format, parse_json_line
from producer.wire import Tick, encode


class ScenarioReader(FileSource):
    """A scenario file as a paced Source, with limits and engine settings from its header.

    The header is read and checked when the reader is made; ticks are read one line at a
    time as the reader is iterated, and each pass reopens the file.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        skip_bad: bool = False,
        tolerance_s: float = 1.0,
        additive: Iterable[str] = (),
    ) -> None:
        super().__init__(
            path, fmt="jsonl", skip_bad=skip_bad, tolerance_s=tolerance_s, additive=additive
        )
        if self.is_stdin:
            raise ValueError("ScenarioReader reads files; standard input goes through FileSource")
        self.header = read_header(self.path)
        self.limits = self.header.limits_dict()
        self.engine = dict(self.header.engine)
        self.price_jumps = self.header.price_jumps is True
        self._set_additive(self.header.additive_patterns())
        self.paced = True
        self._known = frozenset(self.header.symbols)

    def _take_file_header(self) -> bool:
        return False  # __init__ reads the header itself, and refuses a bad one

    @property
    def description(self) -> str:
        """The header's one-line description."""
        return self.header.description

    def _first_line(self, fmt: Format, text: str, lineno: int) -> tuple[Any, bool]:
        self.header = header_from_object(required_header(text))
        self._known = frozenset(self.header.symbols)
        return self._parse_tick, True

    def _allowed(self, symbol: str) -> bool:
        return not self._known or symbol in self._known

    def _parse_tick(self, text: str) -> Tick:
        tick = parse_json_line(text, self._is_quantity)
        if self._known and tick.symbol not in self._known:
            raise BadLine(f"symbol {tick.symbol!r} is not listed in the scenario header")
        return tick


class ScenarioWriter:
    """Writes a scenario: the header at once, then one line per tick.

    `target` is a path (created or truncated) or a binary stream, which is left open.
    The output is flushed every `flush_every` ticks and on close, so a reader following
    the file sees whole lines.

    With `list_symbols`, a file written to a path gets, when it is closed, a header that
    lists the symbols its ticks carry (unless the list would make the header a line
    longer than readers take, MAX_LINE_BYTES); until then the header lists none, which
    readers take as "any symbol", so a recording cut short is still readable whole.

    A tick older than its symbol's latest written one (a late tick off the wire) is
    written at that latest time, as the engine took it: the readers refuse a symbol's time
    going back by more than a second, and a recording with a tick 100 s late had been
    refused by `backtest` from that line on.

    >>> import io
    >>> out = io.BytesIO()
    >>> with ScenarioWriter(out, ScenarioHeader(name="demo", description="one tick")) as w:
    ...     w.write(Tick("ACME", 10.5, 1750000000.0))
    >>> out.getvalue().splitlines()[1]
    b'{"symbol":"ACME","price":10.5,"ts":1750000000.0}'
    """

    def __init__(
        self,
        target: str | Path | BinaryIO,
        header: ScenarioHeader,
        *,
        flush_every: int = 1,
        list_symbols: bool = False,
    ) -> None:
        header_from_object(msgspec.to_builtins(header))  # refuse to write a bad header
        self._path: Path | None = None
        if isinstance(target, str | Path):
            self._stream: BinaryIO = open(target, "wb")  # noqa: SIM115 - closed by close()
            self._owned = True
            self._path = Path(target)
        else:
            self._stream = target
            self._owned = False
        if list_symbols:
            header = msgspec.structs.replace(header, symbols=[])
        self._symbols: set[str] | None = set() if list_symbols and self._path else None
        self.header = header
        self.flush_every = max(1, flush_every)
        self.count = 0
        self._newest: dict[str, float] = {}  # each symbol's latest time written
        self._stream.write(header.encode() + b"\n")
        self._stream.flush()

    def write(self, tick: Tick) -> None:
        """Append one tick (at its symbol's latest time written, if it is older)."""
        newest = self._newest.get(tick.symbol, -math.inf)
        if tick.ts < newest:
            tick = Tick(tick.symbol, tick.price, newest)
        else:
            self._newest[tick.symbol] = tick.ts
        self._stream.write(encode(tick) + b"\n")
        if self._symbols is not None:
            self._symbols.add(tick.symbol)
        self.count += 1
        if self.count % self.flush_every == 0:
            self._stream.flush()

    def write_many(self, ticks: Iterable[Tick]) -> int:
        """Append every tick of `ticks`; return how many were written."""
        before = self.count
        for tick in ticks:
            self.write(tick)
        return self.count - before

    def flush(self) -> None:
        """Push buffered lines to the file."""
        self._stream.flush()

    def close(self) -> None:
        """Flush, and close the file if this writer opened it."""
        if self._stream.closed:
            return
        self._stream.flush()
        if self._owned:
            self._stream.close()
        if self._symbols and self._path is not None:
            self._list_symbols(self._path, sorted(self._symbols))

    def _list_symbols(self, path: Path, symbols: list[str]) -> None:
        """Rewrite the file with a header that lists `symbols` (a new file put in its
        place, so a failure leaves the recording as it was), and the limits of those alone
        (a recording started with limits the cluster shared for symbols it never carried
        gave them rows with no price in a replay)."""
        listed = set(symbols)
        limits = {s: v for s, v in self.header.limits.items() if s in listed}
        header = msgspec.structs.replace(self.header, symbols=symbols, limits=limits)
        if len(header.encode()) > MAX_LINE_BYTES:
            # Readers refuse a longer line: 60,000 symbols made a header no command could
            # read back. Listing none reads as "any symbol".
            header = msgspec.structs.replace(header, symbols=[])
        self.header = header
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
        try:
            with open(path, "rb") as old, os.fdopen(fd, "wb") as new:
                old.readline()  # the header written first, listing no symbol
                new.write(self.header.encode() + b"\n")
                shutil.copyfileobj(old, new, 1 << 20)
            shutil.copymode(path, tmp)  # the permissions the file was made with
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def __enter__(self) -> ScenarioWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
