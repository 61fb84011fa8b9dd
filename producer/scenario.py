"""Scenario files: a recorded or made-up stretch of market, replayable and self-describing.

A scenario is a JSON-lines file (UTF-8, one JSON object per line, ``\\n`` line ends).

The first line is the header::

    {"limitwatch_scenario": 1,
     "name": "rally",
     "description": "ACME rallies 4% in 30 s and runs through its sell limit",
     "symbols": ["ACME"],
     "limits": {"ACME": [97.0, 102.5]},
     "engine": {"fast": 20, "slow": 100, "halflife_s": 5.0, "horizon_s": 10.0},
     "made_by": "python tests/scenarios/make_scenarios.py --only rally (seed 11)"}

(written on one line). The fields:

``limitwatch_scenario``
    The format version, 1. A reader refuses versions it does not know.
``name``, ``description``
    A short name and a one-line description of what happens in the scenario.
``symbols``
    The symbols that appear; when not empty, a tick for any other symbol is an error.
``limits``
    Suggested starting limits, ``{"SYMBOL": [buy, sell]}`` with ``0 < buy < sell``;
    ``null`` for a side that has no limit (e.g. ``[null, 85.0]`` for a CPU gauge), which
    readers turn into NaN, the engine's "no limit".
``engine``
    Suggested engine settings, a subset of ``fast``, ``slow``, ``history`` (tick
    counts), ``halflife_s``, ``horizon_s`` (seconds), ``alert_p``, ``hysteresis`` and
    ``default_band`` (fractions). Unknown keys are an error, to catch misspellings.
``made_by``
    How the file was made: the command and seed, or the source it was recorded from.

Unknown top-level header fields are ignored, so later versions can add some.

Every following line is one tick, exactly as on the wire:
``{"symbol": "ACME", "price": 101.25, "ts": 1750000000.125}`` with ``ts`` in epoch
seconds of event time. Ticks obey the rules of :mod:`producer.files`: wire-valid values,
and event time never going backwards by more than the reader's tolerance.

:class:`ScenarioReader` streams a scenario as a :class:`~producer.source.Source`;
:class:`ScenarioWriter` writes one, header first, flushing as it goes so that a
recording interrupted part-way is still a readable scenario.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import msgspec

from engine.config import PORTABLE
from engine.limits import MAX_PRICE
from producer.files import (
    SCENARIO_KEY,
    BadLine,
    FileSource,
    Format,
    SourceError,
    check_symbol,
    json_object,
    json_tick,
    read_lines,
)
from producer.wire import Tick, encode

#: The version of the format this module reads and writes.
SCENARIO_VERSION = 1
#: Engine settings a header may suggest.
ENGINE_KEYS: frozenset[str] = PORTABLE


class ScenarioHeader(msgspec.Struct, kw_only=True):
    """The first line of a scenario file (see the module docstring for each field)."""

    limitwatch_scenario: int = SCENARIO_VERSION
    name: str
    description: str
    symbols: list[str] = msgspec.field(default_factory=list)
    limits: dict[str, tuple[float | None, float | None]] = msgspec.field(default_factory=dict)
    engine: dict[str, int | float] = msgspec.field(default_factory=dict)
    made_by: str = ""

    def limits_dict(self) -> dict[str, tuple[float, float]]:
        """The limits as ``{symbol: (buy, sell)}`` floats, NaN for a side without one."""
        return {s: (_side(b), _side(v)) for s, (b, v) in self.limits.items()}

    def encode(self) -> bytes:
        """The header as one JSON line, without the newline."""
        return msgspec.json.encode(self)


def _side(value: float | None) -> float:
    return math.nan if value is None else float(value)


def header_from_object(obj: dict[str, Any]) -> ScenarioHeader:
    """Check a decoded first line and turn it into a ScenarioHeader, or raise BadLine."""
    version = obj.get(SCENARIO_KEY)
    if version != SCENARIO_VERSION:
        raise BadLine(
            f"unsupported scenario version {version!r} (this limitwatch reads {SCENARIO_VERSION})"
        )
    try:
        header = msgspec.convert(obj, ScenarioHeader)
    except msgspec.ValidationError as exc:
        raise BadLine(f"bad scenario header: {exc}") from None
    if not header.name.strip() or not header.name.isprintable():
        raise BadLine("bad scenario header: name must be non-empty printable text")
    if not header.description.isprintable():
        raise BadLine("bad scenario header: description must be one line of printable text")
    for symbol in header.symbols:
        check_symbol(symbol)
    for symbol, (buy, sell) in header.limits_dict().items():
        check_symbol(symbol)
        given = [x for x in (buy, sell) if not math.isnan(x)]
        if (
            not given
            or not all(0.0 < x < MAX_PRICE for x in given)
            or (len(given) == 2 and not buy < sell)
        ):
            raise BadLine(
                f"bad scenario header: limits for {symbol!r} must satisfy 0 < buy < sell "
                f"(null for a side without a limit, not both), got [{buy!r}, {sell!r}]"
            )
    unknown = sorted(set(header.engine) - ENGINE_KEYS)
    if unknown:
        raise BadLine(
            f"bad scenario header: unknown engine setting(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(ENGINE_KEYS))}"
        )
    for key, value in header.engine.items():
        if not (math.isfinite(value) and value > 0):
            raise BadLine(
                f"bad scenario header: engine setting {key} must be positive, got {value}"
            )
    return header


def is_scenario_header(line: str | bytes) -> bool:
    """True when `line` is a JSON object carrying the ``limitwatch_scenario`` key."""
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    if SCENARIO_KEY not in text:
        return False
    try:
        return SCENARIO_KEY in json_object(text)
    except BadLine:
        return False


def read_header(path: str | Path) -> ScenarioHeader:
    """Read and check only the header of the scenario at `path`; raise SourceError if bad."""
    name = str(path)
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise SourceError(name, None, f"cannot open: {exc.strerror}") from None
    with stream:
        for lineno, text, _ in read_lines(stream):
            if isinstance(text, BadLine):
                raise SourceError(name, lineno, str(text))
            if not text.strip():
                continue
            try:
                obj = json_object(text)
                if SCENARIO_KEY not in obj:
                    raise BadLine(
                        "not a limitwatch scenario: the first line must be a header with "
                        f"{SCENARIO_KEY!r}"
                    )
                return header_from_object(obj)
            except BadLine as exc:
                raise SourceError(name, lineno, str(exc)) from None
    raise SourceError(name, 1, "empty file: a scenario starts with a header line")


class ScenarioReader(FileSource):
    """A scenario file as a paced Source, with limits and engine settings from its header.

    The header is read and checked when the reader is made; ticks are read one line at a
    time as the reader is iterated, and each pass reopens the file.
    """

    def __init__(
        self, path: str | Path, *, skip_bad: bool = False, tolerance_s: float = 1.0
    ) -> None:
        super().__init__(path, fmt="jsonl", skip_bad=skip_bad, tolerance_s=tolerance_s)
        if self.is_stdin:
            raise ValueError("ScenarioReader reads files; standard input goes through FileSource")
        self.header = read_header(self.path)
        self.limits = self.header.limits_dict()
        self.engine = dict(self.header.engine)
        self.paced = True
        self._known = frozenset(self.header.symbols)

    def _take_file_header(self) -> bool:
        return False  # __init__ reads the header itself, and refuses a bad one

    @property
    def description(self) -> str:
        """The header's one-line description."""
        return self.header.description

    def _first_line(self, fmt: Format, text: str, lineno: int) -> tuple[Any, bool]:
        obj = json_object(text)
        if SCENARIO_KEY not in obj:
            raise BadLine("not a limitwatch scenario: the first line must be its header")
        self.header = header_from_object(obj)
        self._known = frozenset(self.header.symbols)
        return self._parse_tick, True

    def _parse_tick(self, text: str) -> Tick:
        tick = json_tick(json_object(text))
        if self._known and tick.symbol not in self._known:
            raise BadLine(f"symbol {tick.symbol!r} is not listed in the scenario header")
        return tick


class ScenarioWriter:
    """Writes a scenario: the header at once, then one line per tick.

    `target` is a path (created or truncated) or a binary stream, which is left open.
    The output is flushed every `flush_every` ticks and on close, so a reader following
    the file sees whole lines.

    >>> import io
    >>> out = io.BytesIO()
    >>> with ScenarioWriter(out, ScenarioHeader(name="demo", description="one tick")) as w:
    ...     w.write(Tick("ACME", 10.5, 1750000000.0))
    >>> out.getvalue().splitlines()[1]
    b'{"symbol":"ACME","price":10.5,"ts":1750000000.0}'
    """

    def __init__(
        self, target: str | Path | BinaryIO, header: ScenarioHeader, *, flush_every: int = 1
    ) -> None:
        header_from_object(msgspec.to_builtins(header))  # refuse to write a bad header
        if isinstance(target, str | Path):
            self._stream: BinaryIO = open(target, "wb")  # noqa: SIM115 - closed by close()
            self._owned = True
        else:
            self._stream = target
            self._owned = False
        self.header = header
        self.flush_every = max(1, flush_every)
        self.count = 0
        self._stream.write(header.encode() + b"\n")
        self._stream.flush()

    def write(self, tick: Tick) -> None:
        """Append one tick."""
        self._stream.write(encode(tick) + b"\n")
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

    def __enter__(self) -> ScenarioWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
