"""Turn a ``--source`` argument into a tick Source: the generator, system metrics,
standard input, a CSV or JSON-lines file, or a scenario.

>>> src = open_source("generator", seed=3, symbols=2)
>>> src.paced, len(src.limits)
(True, 2)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from producer.files import FileSource
from producer.generator import MarketGenerator
from producer.header import header_object
from producer.lines import BadLine, SourceError, read_lines
from producer.lookahead import LookaheadReader
from producer.metrics import MetricsSource
from producer.scenario import ScenarioReader
from producer.source import Source
from producer.wire import Tick

__all__ = ["LoopedSource", "Source", "SourceError", "describe_specs", "open_source"]


def describe_specs() -> str:
    """What a source spec may be, for help texts and error messages."""
    return (
        "'generator', 'metrics', '-' (standard input, CSV or JSON lines), "
        "or a file of CSV or JSON lines (a scenario included)"
    )


def open_source(
    spec: str,
    *,
    seed: int = 7,
    rate: float = 50.0,
    symbols: int = 12,
    loop: bool = False,
    skip_bad: bool = False,
    stop: threading.Event | None = None,
    stdin: BinaryIO | LookaheadReader | None = None,
    additive: Iterable[str] = (),
) -> Source:
    """Open the tick source named by `spec`.

    Parameters
    ----------
    spec
        ``"generator"`` (seeded random walks), ``"metrics"`` (this machine's /proc
        figures, live), ``"-"`` (standard input, live; CSV or JSON lines, sniffed from
        the first line), or a file: CSV if it ends ``.csv``, JSON lines if it ends
        ``.jsonl`` or ``.ndjson``, else sniffed from its first line. A JSON-lines file
        whose first line is a scenario header is read as a scenario (a ``.jsonl``
        one strictly: a tick of a symbol its header does not list is bad).
    seed, rate, symbols
        Settings of the generator; ignored by other sources.
    loop
        Replay a file or scenario forever, each pass shifted forward in event time so
        that time never goes backwards. Endless sources ignore it; standard input
        cannot loop.
    skip_bad
        Skip and count bad lines of a file instead of failing on the first one.
    stop
        An event that ends the metrics source promptly when set.
    stdin
        The stream ``-`` reads (default: the process's standard input).
    additive
        Patterns of symbols that are quantities, not prices: a file may give them values
        of 0 or below (see :class:`engine.Engine`).

    Raises
    ------
    SourceError
        For a spec that is neither a source's name nor an existing file, a file that
        cannot be read, a bad
        scenario header, or ``loop`` with standard input.
    """
    if spec == "generator":
        return MarketGenerator(symbols=symbols, rate=rate, seed=seed)
    if spec == "metrics":
        return MetricsSource(stop=stop)
    if spec == "-":
        if loop:
            raise SourceError("<stdin>", None, "standard input cannot be replayed in a loop")
        return FileSource("-", skip_bad=skip_bad, stream=stdin, additive=additive)
    suffix = Path(spec).suffix.lower()
    if suffix not in (".csv", ".jsonl", ".ndjson") and not os.path.lexists(spec):
        # (a link that leads nowhere exists: it is said so, not "no such file")
        raise SourceError(spec, None, f"unknown source; expected {describe_specs()} (no such file)")
    # Every file is read by its content (CSV or JSON lines, sniffed from its first line),
    # whatever its name: a CSV named .jsonl was refused as "not valid JSON" on line 1.
    # FileSource refuses a missing or unreadable file with a clear message.
    source: FileSource = FileSource(spec, skip_bad=skip_bad, additive=additive)
    if suffix in (".jsonl", ".ndjson") and _starts_with_scenario_header(spec):
        source = ScenarioReader(spec, skip_bad=skip_bad, additive=additive)
    return LoopedSource(source) if loop else source


def _starts_with_scenario_header(path: str) -> bool:
    with open(path, "rb") as stream:
        for _, text, _ in read_lines(stream):
            if isinstance(text, BadLine):
                return False
            if text.strip():
                try:
                    return header_object(text) is not None
                except BadLine:  # a broken header: the scenario reader says what is wrong
                    return True
    return False


class LoopedSource:
    """Replays a file-backed source forever, shifting each pass later in event time.

    Pass *n+1* starts one typical tick interval (the pass's duration divided by its tick
    count) after the last tick of pass *n*, so the stream's time only moves forward.
    Skipped-line counts are those of one pass: each pass skips the same lines (a file of
    5 bad lines read `645 skipped` after 129 passes).
    """

    def __init__(self, inner: FileSource) -> None:
        if not inner.paced:
            raise SourceError(inner.name, None, "only a file can be replayed in a loop")
        self.inner = inner
        self.name = f"{inner.name} (looped)"
        self.paced = True
        self.limits = inner.limits
        self.engine = inner.engine  # a scenario header's settings, as the file's
        self.passes = 0
        self._pass_skipped: int | None = None  # the first whole pass's
        self._pass_reasons: list[str] | None = None

    @property
    def skipped(self) -> int:
        """Bad lines the file holds, as its first pass skipped them (so far, until that
        pass is done)."""
        return self.inner.skipped if self._pass_skipped is None else self._pass_skipped

    @property
    def price_jumps(self) -> bool:
        """Whether the inner source's values jump by design (its header says so)."""
        return self.inner.price_jumps

    @property
    def additive(self) -> tuple[str, ...]:
        """The inner source's patterns of quantities (given, and its header's)."""
        return self.inner.additive

    @property
    def skipped_reasons(self) -> list[str]:
        """The first few skipped lines' messages, as the inner source kept them in its
        first pass (not the same lines again)."""
        return self.inner.skipped_reasons if self._pass_reasons is None else self._pass_reasons

    def __iter__(self) -> Iterator[Tick]:
        offset = 0.0
        while True:
            first = last = None
            count = 0
            for tick in self.inner:
                if first is None:
                    first = tick.ts
                last = tick.ts
                count += 1
                yield Tick(tick.symbol, tick.price, tick.ts + offset) if offset else tick
            self.passes += 1
            if self._pass_skipped is None:
                self._pass_skipped = self.inner.skipped
                self._pass_reasons = list(self.inner.skipped_reasons)
            if first is None or last is None:
                return
            step = (last - first) / count if last > first else 1.0
            offset += last - first + step
