"""``limitwatch backtest FILE``: run a scenario, CSV or JSON-lines file straight through the
engine, without Kafka, and report its signals, the forecast's calibration and quality against
two naive alarms at equal precision.

    limitwatch backtest scenarios/rally.jsonl
    limitwatch backtest prices.csv --limit ACME=95:105 --band 3% --json > signals.jsonl
    tail -n +1 prices.csv | limitwatch backtest -

Ticks are fed to the engine in batches (10,000 by default); the engine depends on event
time and tick order only, so the signals are the same whatever the batch size, and the
same as a replay of the file through Kafka.

Limits come from ``--limit``, else from the scenario header, else from a band around each
symbol's first price (``--band``). Engine settings come from the options, else from the
scenario header, else from the engine's defaults. The header counts however the scenario
arrives: a file of any name, or standard input (the backtest waits for its first line).

With ``--json`` standard output carries one JSON object per signal (the format of
:mod:`tui.runtime.jsonout`, which the golden files of the shipped scenarios use), then one summary
object with ``"kind": "SUMMARY"``. Progress goes to standard error, only when it is a
terminal. Bad input prints ``FILE:LINE: what is wrong`` and exits with status 2, as does
input with no good line at all under ``--skip-bad``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import math
import os
import signal
import stat
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO, TextIO

import msgspec
import numpy as np

from engine import Engine, EngineConfig, LimitError, Signal
from engine.config import MAX_HORIZON_S, MAX_SYMBOLS
from engine.evaluation import (
    MIN_BIN,
    SETTLE_HORIZONS,
    Calibration,
    Evaluation,
    Row,
    SampledRun,
    evaluate,
    sample_every,
    settle_wait,
)
from engine.limits import tidy
from engine.quality import Quality, TickOrder
from engine.watch import Discipline
from producer.chunks import TickColumns, group_ticks
from producer.files import STDIN_CLOSED, FileSource, cut_short, skipped_lines
from producer.lines import SourceError, fmt_span, skip_hint
from producer.lookahead import LookaheadReader
from producer.source import Source, additive_of
from producer.sources import open_source
from tui.runtime import format as fmt
from tui.runtime.jsonout import indicator_values, json_number, signal_json
from tui.runtime.options import (
    MOST_PARTITIONS,
    NO_CHART,
    Limits,
    OptionError,
    add_engine_options,
    at_most,
    engine_config,
    header_of,
    positive_int,
)
from tui.runtime.progress import ProgressLine
from tui.runtime.textplot import Series, lead_precision_plot
from tui.runtime.tickstore import GROUP_TICKS, StoreError, TickStore

#: Ticks handed to the engine per update.
BATCH = 10_000


class BacktestError(Exception):
    """A problem with the command line or settings; the message is shown as is."""


# --- the run itself --------------------------------------------------------------------


@dataclass(frozen=True)
class BacktestResult:
    """What a backtest produced."""

    ticks: int
    skipped: int
    refused: int
    signals: list[Signal]
    config: EngineConfig
    state: Any  # engine.EngineState
    #: None when the run was not scored (``score=False``).
    quality: Quality | None
    #: The engine's row, then the proximity and vol-scaled alarms at its precision.
    evaluation: Evaluation | None
    #: Symbols given limits that were refused (beyond max_symbols).
    refused_limits: frozenset[str] = frozenset()
    #: Ticks that came more than a horizon behind the latest time read before them, and
    #: the most any came behind, seconds (a file sorted by symbol, not by time).
    late: int = 0
    most_late_s: float = 0.0
    #: Stopped by Ctrl-C while reading: the ticks read until then are all there is.
    interrupted: bool = False
    #: Each symbol's typical spacing between its ticks (of those with a step forward in
    #: time; :class:`TickSpacings`); see :func:`spacing_note`.
    spacings: np.ndarray = field(default_factory=lambda: np.empty(0))


def backtest(
    source: Iterable[Any],
    config: EngineConfig,
    limits: Limits | None = None,
    *,
    batch: int = BATCH,
    on_signals: Callable[[list[Signal]], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
    score: bool = True,
    additive: tuple[str, ...] = (),
    group_ticks: int = GROUP_TICKS,
    on_scoring: Callable[[int, int], None] | None = None,
    ctrl_c: CtrlC | None = None,
    partitions: int = 1,
) -> BacktestResult:
    """Feed every tick of `source` to a fresh engine, `batch` ticks at a time.

    Parameters
    ----------
    source
        Ticks in event-time order (any Source, or a list of Ticks).
    config
        Engine settings.
    limits
        ``{symbol: (buy, sell)}`` set when a symbol first appears; other symbols get the
        engine's default band around their first price.
    batch
        Ticks per engine update.
    on_signals
        Called with each update's signals as they come (for streaming output).
    on_batch
        Called with the running tick count after each update (for progress).
    score
        Score the forecast against the naive alarms and calibrate it. That keeps every
        tick until the end, in memory up to ``group_ticks`` of them and then in a
        temporary file (:class:`~tui.runtime.tickstore.TickStore`), and scores them a
        group of symbols at a time, so memory stays bounded either way; the signals are
        the same with or without.
    group_ticks
        Ticks of a group of symbols scored at once.
    on_scoring
        Called with the groups scored so far and their number, before each group and
        after the last (for progress).
    ctrl_c
        How Ctrl-C is taken (:class:`CtrlC`, installed by the caller, who reports); by
        default one of its own, for this call.
    partitions
        Each symbol is calibrated in the stream of the partition of a topic of this many
        that limitwatch's producer sends it to (the CRC-32 of its name, librdkafka's
        default partitioner), as the consumer calibrates each partition on its own
        record: a replay through such a topic, at any speed, gives the same signals.
        (With one stream for all, the engine on a topic of four partitions gave 16
        WATCHes fewer on a 300,000-tick file and 19 at other times.)

    Raises
    ------
    SourceError
        From the source, for bad input.
    LimitError
        When a limit cannot be applied.
    """
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    limits = limits or {}
    eng = Engine(config, additive=additive)
    # samples p every twelfth of the horizon (5 s at 60 s) for the calibration
    runner = SampledRun(eng, sample_every(config.horizon_s)) if score else None
    ids_of: dict[str, int] = {}
    refused_limits: set[str] = set()  # symbols given limits but refused
    store = TickStore(group_ticks) if score else None
    signals: list[Signal] = []
    total = refused = late = 0
    clock, most_late = -math.inf, 0.0

    def update(i: np.ndarray, t: np.ndarray, p: np.ndarray) -> None:
        nonlocal total
        if runner is not None and store is not None:
            store.append(i, t, p)
            new = runner.update(i, t, p)
        else:
            new = eng.update(i, t, p)
        total += len(i)
        if new:
            signals.extend(new)
            if on_signals is not None:
                on_signals(new)
        if on_batch is not None:
            on_batch(total)

    def engine_ids(symbols: list[str]) -> np.ndarray:
        """Engine ids of a block's symbols (new ones registered in order of their first
        tick, with their limits), -1 for a refused one."""
        got = list(map(ids_of.get, symbols))
        if None in got:
            # The block's new names registered in one call, in order of first tick (one
            # call each took 35 us: a file of a new symbol a line ran at 25,000 ticks/s
            # once max_symbols was reached). The engine remembers refused names in
            # bounded memory; a name list here would grow with every new symbol of a
            # hostile file.
            new = list(dict.fromkeys(s for s, sid in zip(symbols, got, strict=True) if sid is None))
            streams = [partition_of(symbol, partitions) for symbol in new]
            for symbol, sid in zip(new, eng.register(new, stream=streams).tolist(), strict=True):
                if sid < 0:
                    if symbol in limits:
                        refused_limits.add(symbol)
                else:
                    ids_of[symbol] = sid
                    if symbol in limits:
                        buy, sell = limits[symbol]
                        eng.set_limits(symbol, buy=buy, sell=sell)
            got = [
                ids_of.get(s, -1) if sid is None else sid
                for s, sid in zip(symbols, got, strict=True)
            ]
        return np.array(got, np.int32).reshape(len(symbols))

    # A stream's ticks go to the engine as they come (identical signals: the engine is
    # batch-invariant); a file's wait for a whole batch.
    prompt = bool(getattr(source, "streaming", False))
    interrupted = False
    # The store's temporary file goes whatever stops the run (bad input, Ctrl-C).
    with store if store is not None else contextlib.nullcontext():
        empty = (np.empty(0, np.int32), np.empty(0), np.empty(0))
        held = empty  # fewer than `batch` ticks, waiting for the next block
        gaps = TickSpacings()
        columns = tick_columns(source, batch)
        own = ctrl_c is None
        if ctrl_c is None:
            ctrl_c = CtrlC()
        try:
            while not ctrl_c.hit:
                try:  # Ctrl-C: what was read is run and reported
                    with ctrl_c.reading():
                        cols = next(columns)
                except StopIteration:
                    break
                except KeyboardInterrupt:
                    ctrl_c.hit = True
                    break
                ids = engine_ids(cols.symbols)[cols.codes]
                t, p = cols.ts, cols.price
                kept = ids >= 0
                if not kept.all():
                    refused += int(len(ids) - kept.sum())
                    ids, t, p = ids[kept], t[kept], p[kept]
                gaps.add(ids, t)
                if len(t):  # how far behind the latest time read before it each tick comes
                    running = np.maximum.accumulate(t)
                    behind = np.maximum(running, clock) - t
                    late += int(np.count_nonzero(behind > config.horizon_s))
                    most_late = max(most_late, float(behind.max()))
                    clock = max(clock, float(running[-1]))
                if len(held[0]):
                    ids, t, p = (
                        np.concatenate(pair) for pair in zip(held, (ids, t, p), strict=True)
                    )
                start = 0
                while len(ids) - start >= batch or (prompt and start < len(ids)):
                    cut = slice(start, start + batch)
                    update(ids[cut], t[cut], p[cut])
                    start = min(start + batch, len(ids))
                held = (ids[start:], t[start:], p[start:]) if start < len(ids) else empty
        finally:
            if own:
                ctrl_c.restore()
        interrupted = ctrl_c.hit
        if len(held[0]):
            update(*held)

        state = eng.state()
        spacings = gaps.spacings()
        evaluation = None
        if runner is not None and store is not None:
            with ctrl_c.reading():  # Ctrl-C while scoring stops at once
                evaluation = _score(signals, store, state, ids_of, runner, config, on_scoring)
    return BacktestResult(
        ticks=total,
        skipped=int(getattr(source, "skipped", 0)),
        refused=refused,
        refused_limits=frozenset(refused_limits),
        signals=signals,
        config=config,
        state=state,
        quality=None if evaluation is None else evaluation.rows[0].quality,
        evaluation=evaluation,
        late=late,
        most_late_s=most_late,
        interrupted=interrupted,
        spacings=spacings,
    )


def spacing_note(config: EngineConfig, spacings: np.ndarray) -> str | None:
    """:func:`sparse_ticks_note` of the median symbol's spacing, else
    :func:`sparse_symbols_note`, of the symbols' spacings ``spacings``
    (:class:`TickSpacings`)."""
    return sparse_ticks_note(config, median_spacing(spacings)) or sparse_symbols_note(
        config, spacings
    )


class TickSpacings:
    """Each symbol's typical time between its ticks, taken as they are read: the
    geometric mean of the steps forward in time from each tick to the symbol's next
    (steps of 0, ticks at one time, and back, a late tick, left out). Unlike the mean
    spacing (first to last time over the ticks), a night's or a weekend's gap hardly
    moves it: 30-second bars over five sessions of 6.5 hours read 1.6 min apart by the
    mean and 30 s by this; a second's ticks either side of a week's gap, 17 min and 1 s.

    >>> sp = TickSpacings()
    >>> sp.add(np.zeros(100, dtype=np.int32), np.arange(0.0, 3000.0, 30.0))  # 30 s apart
    >>> sp.add(np.array([0, 0, 1, 1]), np.array([90_000.0, 90_030.0, 5.0, 5.0]))  # a night
    >>> sp.spacings().round(1).tolist()  # symbol 1 has no step forward: left out
    [32.5]
    """

    def __init__(self) -> None:
        self._last = np.empty(0)
        self._steps = np.empty(0, dtype=np.int64)
        self._logs = np.empty(0)

    def add(self, ids: np.ndarray, t: np.ndarray) -> None:
        """Ticks of symbols ``ids`` (>= 0) at times ``t``, in the order read."""
        if not len(ids):
            return
        n = int(ids.max()) + 1
        if n > self._last.size:
            grow = n - self._last.size
            self._last = np.concatenate((self._last, np.full(grow, np.nan)))
            self._steps = np.concatenate((self._steps, np.zeros(grow, dtype=np.int64)))
            self._logs = np.concatenate((self._logs, np.zeros(grow)))
        order = np.argsort(ids, kind="stable")
        sym, times = ids[order], t[order]
        before = np.empty_like(times)
        before[1:] = times[:-1]
        first = np.empty(len(sym), dtype=bool)
        first[0] = True
        np.not_equal(sym[1:], sym[:-1], out=first[1:])
        before[first] = self._last[sym[first]]
        step = times - before  # nan after a symbol's first tick ever
        ahead = step > 0.0
        self._steps += np.bincount(sym[ahead], minlength=self._steps.size)
        self._logs += np.bincount(sym[ahead], np.log(step[ahead]), minlength=self._logs.size)
        last = np.empty(len(sym), dtype=bool)
        last[-1] = True
        last[:-1] = first[1:]
        self._last[sym[last]] = times[last]

    def spacings(self) -> np.ndarray:
        """Seconds between ticks of each symbol with a step forward, in id order."""
        some = self._steps > 0
        mean = np.exp(self._logs[some] / self._steps[some])
        # To 12 digits: steps all of 90 s read 90 s, not 89.99999999999997 (which a
        # median with 120 s then showed as 1.7 min, not 1.8).
        return np.array(tidy(mean.tolist()))


def median_spacing(spacings: np.ndarray) -> float:
    """Seconds between a symbol's ticks: the median of the symbols' spacings
    (:class:`TickSpacings`); nan where no symbol has a step forward in time.

    >>> median_spacing(np.array([5.0, 2.0])), median_spacing(np.empty(0))
    (3.5, nan)
    """
    return float(np.median(spacings)) if spacings.size else math.nan


def _suggested(spacing_s: float) -> tuple[float, float]:
    """The horizon and half-life a spacing between ticks calls for: about
    SUGGEST_HORIZON_TICKS and SUGGEST_HALFLIFE_TICKS of it, to two digits."""
    horizon = min(float(f"{SUGGEST_HORIZON_TICKS * spacing_s:.2g}"), MAX_HORIZON_S)
    # (the half-life is bounded as the horizon is: monthly ticks were told a refused one)
    return horizon, min(float(f"{SUGGEST_HALFLIFE_TICKS * spacing_s:.2g}"), MAX_HORIZON_S)


#: The share of the symbols whose ticks come further apart than the horizon from which
#: :func:`sparse_symbols_note` speaks of them (where the median symbol's do not).
SPARSE_SHARE_SAID = 0.1


def sparse_symbols_note(config: EngineConfig, spacings: np.ndarray) -> str | None:
    """What to do where some symbols' ticks come further apart than the horizon while
    the median symbol's do not (:func:`sparse_ticks_note` speaks of the median): their
    forecasts mostly end before their next tick, and they share a calibration map with
    the faster ones, which it fits less well (a file of tick rates from one a minute to
    fifty a second: the slow third over-confident, the fast third under-confident). None
    where fewer than :data:`SPARSE_SHARE_SAID` of them are so.

    >>> note = sparse_symbols_note(EngineConfig(), np.array([1.0, 2.0, 3.0, 90.0, 120.0]))
    >>> print(note.split(":")[1].strip())
    2 of 5 symbols' ticks come further apart than the 60 s horizon (1.8 min apart at the median)
    >>> print(note.rsplit("; ", 1)[1])
    score them in a file of their own with say --horizon 520 --halflife 2100
    """
    if not spacings.size or not np.median(spacings) <= config.horizon_s:
        return None
    sparse = spacings[spacings > config.horizon_s]
    if sparse.size < SPARSE_SHARE_SAID * spacings.size:
        return None
    spacing = median_spacing(sparse)
    horizon, halflife = _suggested(spacing)
    return (
        f"note: {sparse.size:,} of {spacings.size:,} symbols' ticks come further apart than "
        f"the {fmt.interval(config.horizon_s)} horizon ({fmt.interval(spacing)} apart at the "
        "median): their forecasts mostly end before their next tick, and they share the "
        "calibration with faster symbols; score them in a file of their own with say "
        f"--horizon {horizon:.0f} --halflife {halflife:.0f}"
    )


#: Spacings within this share of the horizon are taken as the horizon's own.
SAME_SPACING = 0.01
#: Ticks of a horizon :func:`sparse_ticks_note` suggests, and of a half-life.
SUGGEST_HORIZON_TICKS, SUGGEST_HALFLIFE_TICKS = 5, 20


def sparse_ticks_note(config: EngineConfig, spacing_s: float) -> str | None:
    """What to do where a symbol's ticks come further apart than the horizon (daily
    closes at the default minute, say): a forecast then mostly ends before the next tick
    can show anything, so ``p`` stays near 0 and nothing is warned, which an empty table
    does not say. None where they come closer (by more than :data:`SAME_SPACING`).

    >>> print(sparse_ticks_note(EngineConfig(), 86400.0).split(": ")[-1])
    say --horizon 430000 --halflife 1700000 (about 5 and 20 ticks' spacing)
    >>> print(sparse_ticks_note(EngineConfig(), 30 * 86400.0).split(": ")[-1][:42])
    say --horizon 13000000 --halflife 31622400
    """
    # Bars a horizon apart (minute bars at the default minute) are as far apart: each
    # forecast sees one tick, at its very end.
    same = abs(spacing_s - config.horizon_s) <= SAME_SPACING * config.horizon_s
    if not (spacing_s > config.horizon_s or same):
        return None
    horizon, halflife = _suggested(spacing_s)
    than = "as long as" if same else "longer than"
    return (
        f"note: a symbol's ticks come {fmt.interval(spacing_s)} apart (the median of the "
        f"symbols' typical spacing), {than} the {fmt.interval(config.horizon_s)} horizon: "
        "most forecasts end before the next tick can show anything, so p stays near 0 and "
        "little is warned. For ticks this far apart give a horizon of a few ticks and a "
        f"half-life of many: say --horizon {horizon:.0f} --halflife {halflife:.0f} "
        f"(about {SUGGEST_HORIZON_TICKS} and {SUGGEST_HALFLIFE_TICKS} ticks' spacing)"
    )


def partition_of(symbol: str, partitions: int) -> int:
    """The partition of a topic of ``partitions`` that limitwatch's producer sends
    ``symbol``'s ticks to: librdkafka's default partitioner (``consistent_random``), the
    CRC-32 of the key (the name in UTF-8) modulo the partitions.

    >>> partition_of("ACME", 4), partition_of("ACME", 1)
    (2, 0)
    """
    return zlib.crc32(symbol.encode()) % partitions


class CtrlC:
    """Ctrl-C during a backtest: while it reads (waiting on a pipe, say) or scores, it
    stops that at once (KeyboardInterrupt); otherwise, while ticks go to the engine or
    the report is written, it is noted (:attr:`hit`): the reading stops after that batch,
    the engine is never left half way through an update, and what was read is reported.
    (Ctrl-C in a terminal stops the program feeding the pipe too, and its end of input
    may come first: the report was lost to a KeyboardInterrupt raised while writing it.)
    A second Ctrl-C stops at once: a batch of thousands of symbols sampled over hours
    took 45 s to end, and the second was ignored.
    Only in the main thread, over Python's own handler; :meth:`restore` puts that back."""

    def __init__(self) -> None:
        self.hit = False
        self._reading = False
        self._before: Any = None
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            self._before = signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        # Noted even where it raises: a KeyboardInterrupt raised inside an import (a
        # library's first call) is swallowed ("Exception ignored"), and the run went on
        # to its end; noted, it stops after the batch.
        again, self.hit = self.hit, True
        if self._reading or again:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Within, Ctrl-C raises KeyboardInterrupt (reading, scoring)."""
        self._reading = True
        try:
            yield
        finally:
            self._reading = False

    def restore(self) -> None:
        if self._before is not None:
            signal.signal(signal.SIGINT, self._before)
            self._before = None


def tick_columns(source: Iterable[Any], batch: int = BATCH) -> Iterator[TickColumns]:
    """The ticks of `source` as columns: a file source's own (read a block at a time),
    else its ticks in groups of `batch`."""
    columns = getattr(source, "columns", None)
    if callable(columns):
        yield from columns(batch)
    else:
        yield from group_ticks(iter(source), batch)


def _score(
    signals: list[Signal],
    store: TickStore,
    state: Any,
    ids_of: dict[str, int],
    runner: SampledRun,
    config: EngineConfig,
    on_scoring: Callable[[int, int], None] | None = None,
) -> Evaluation | None:
    """The forecast scored against the alarms, a group of symbols at a time. The alarms
    are a price's: quantities (additive symbols) are left out where there are prices, and
    where every symbol is a quantity the forecast is scored alone."""
    n = len(state.symbols)
    buy = np.full(n, np.nan)
    sell = np.full(n, np.nan)
    buy[: len(state.buy)] = state.buy
    sell[: len(state.sell)] = state.sell
    quantity = np.zeros(n, dtype=bool)
    quantity[: len(state.additive)] = state.additive
    # The alarms compared with are a price's (distance in percent, volatility of log
    # price): beside prices, quantities (additive symbols) are left out; quantities
    # alone have the forecast scored on its own.
    alarms = not len(store) or bool(store.count[~quantity[: store.count.size]].any())
    left_out = quantity & alarms
    if left_out.any():
        ids_of = {s: i for s, i in ids_of.items() if not left_out[i]}
        signals = [s for s in signals if s.symbol in ids_of]

    def groups() -> Iterator[TickOrder]:
        done = 0
        for i, t, p in store.groups(keep=~left_out):
            if on_scoring is not None:
                on_scoring(done, store.group_count)
            yield TickOrder(i, t, p, buy, sell)
            done += 1
        if on_scoring is not None:
            on_scoring(done, store.group_count)

    return evaluate(
        groups(),
        signals,
        ids_of,
        runner.finish(),
        horizon_s=config.horizon_s,
        rule=Discipline.of(config),
        alarms=alarms,
    )


#: Relative tolerance for ``p_hit`` and ``eta_s`` when two runs' signals are compared.
SIGNAL_REL_TOL = 1e-9
_EXACT_FIELDS = ("id", "kind", "symbol", "t", "price", "limit")
_NEAR_FIELDS = ("p_hit", "eta_s")


def signal_differences(
    expected: Sequence[dict[str, Any]],
    got: Sequence[dict[str, Any]],
    *,
    rel: float = SIGNAL_REL_TOL,
) -> list[str]:
    """How two runs' signals (decoded JSON objects) differ; empty when they agree.

    Which signals fired, in what order, for which tick (``id``, ``kind``, ``symbol``,
    ``t``, ``price``, ``limit``) must match exactly. ``p_hit`` and ``eta_s`` must agree
    to `rel`: a rewrite of the forecast's arithmetic may move their last bits without
    changing what the user is told. Use it to compare a run with a golden file.
    """
    problems: list[str] = []
    for i, (e, g) in enumerate(zip(expected, got, strict=False)):
        for name in _EXACT_FIELDS:
            if e.get(name) != g.get(name):
                problems.append(f"signal {i}: {name} {g.get(name)!r}, expected {e.get(name)!r}")
        for name in _NEAR_FIELDS:
            a, b = e.get(name), g.get(name)
            if (a is None) != (b is None) or (
                a is not None and b is not None and not math.isclose(a, b, rel_tol=rel)
            ):
                problems.append(f"signal {i}: {name} {b!r}, expected {a!r}")
        if len(problems) >= 10:
            return problems
    if len(expected) != len(got):
        problems.append(f"{len(got)} signals, expected {len(expected)}")
    return problems


# --- settings --------------------------------------------------------------------------


def open_file(spec: str, *, skip_bad: bool, additive: Sequence[str] = ()) -> Source:
    """The source for FILE: a scenario, CSV or JSON lines, ``-`` for standard input.

    A file is opened as ``--source`` opens it (:func:`producer.sources.open_source`).
    A scenario header's limits and engine settings are taken before this returns, so the
    engine can be built with them; for standard input that means waiting for its first
    line, which an offline run can afford.
    """
    if spec in ("generator", "metrics"):
        raise BacktestError(
            f"backtest needs a finite input: a scenario, a .csv or .jsonl file, or - (got {spec!r})"
        )
    stream: BinaryIO | None = None
    if spec == "-":
        if sys.stdin is None:  # started with it closed (`backtest - <&-`)
            raise BacktestError(f"{STDIN_CLOSED}: give a file, or pipe ticks in")
        if sys.stdin.isatty():
            print("reading ticks from standard input; end with Ctrl-D", file=sys.stderr)
        stream = sys.stdin.buffer
    elif _is_pipe(spec):  # `backtest <(cat x.jsonl)`: a named pipe, readable once
        if sys.stderr.isatty():
            print(f"reading ticks from the pipe {spec} as its writer sends them (Ctrl-C stops)",
                  file=sys.stderr)  # fmt: skip
        try:
            stream = open(spec, "rb")  # noqa: SIM115  # read to the end; closed at exit
        except OSError as exc:
            raise SourceError(spec, None, f"cannot open: {exc.strerror}") from None
    if stream is not None:
        # Read once: look ahead at the first line through the stream the ticks come from.
        source = FileSource(
            spec, skip_bad=skip_bad, stream=LookaheadReader(stream), additive=additive
        )
        source.read_header(math.inf)
        return source
    return open_source(spec, skip_bad=skip_bad, additive=additive)


def _is_pipe(spec: str) -> bool:
    """Whether ``spec`` names a FIFO (a named pipe, or ``/dev/fd/N`` of one)."""
    try:
        return stat.S_ISFIFO(os.stat(spec).st_mode)
    except OSError:
        return False


# --- output ----------------------------------------------------------------------------


def summary(result: BacktestResult) -> dict[str, Any]:
    """The closing JSON object: counts, per-symbol state, forecast quality, calibration and
    the two baselines at the forecast's precision with their lead-precision sweeps."""
    st = result.state
    symbols = {sym: indicator_values(st, i) for i, sym in enumerate(st.symbols)}
    counts = Counter(s.kind.name for s in result.signals)
    out: dict[str, Any] = {
        "kind": "SUMMARY",
        "ticks": result.ticks,
        "skipped": result.skipped,
        "refused": result.refused,
        "late": result.late,
        "interrupted": result.interrupted,
        "most_late_s": result.most_late_s,
        "signals": dict(sorted(counts.items())),
        "engine": {
            f.name: getattr(result.config, f.name) for f in dataclasses.fields(result.config)
        },
        "symbols": symbols,
    }
    if result.evaluation is not None and result.quality is not None:
        out["quality"] = result.quality.to_dict()
        said = result.evaluation.rows[0].to_dict().get("said")
        if said is not None:  # the mean chance the decided watches showed
            out["quality"]["said"] = said
        out["calibration"] = _calibration(result.evaluation).to_dict()
        out["baselines"] = [_baseline_dict(r) for r in result.evaluation.rows[1:]]
    return out


def _calibration(evaluation: Evaluation) -> Calibration:
    cal = evaluation.rows[0].calibration
    assert cal is not None  # the engine's row always carries one
    return cal


def _baseline_dict(row: Row) -> dict[str, Any]:
    d = row.to_dict()
    keep = ("name", "threshold", *result_quality_keys(), "lead_ratio", "alert_ratio", "matched")
    out = {k: d.get(k) for k in keep}
    out["sweep"] = [
        {
            "threshold": json_number(x),
            "precision": json_number(p),
            "recall": json_number(r),
            "median_lead_s": json_number(lead),
        }
        for x, p, r, lead, _ in row.curve.tolist()
    ]
    return out


def unmatched_note(precision: float | None, baselines: list[dict[str, Any]]) -> str | None:
    """The line that names the alarms not at the forecast's ``precision``: those whose
    precision at their most precise threshold is below it, or that send no alert there
    (no precision at all; in ``--json`` their ``"matched"`` is false). None if all are
    at it, or the forecast sent no alert. Where none of its alerts came true there is
    no precision to match: the alarms stand at their default thresholds.

    >>> print(unmatched_note(0.57, [{"name": "proximity", "precision": 0.45},
    ...                             {"name": "vol-scaled", "precision": None}]))
    (the proximity and vol-scaled alarms reached the forecast's precision at none of their \
thresholds: shown at their most precise)
    >>> unmatched_note(0.57, [{"name": "proximity", "precision": 0.6}]) is None
    True
    >>> print(unmatched_note(0.0, [{"name": "proximity", "precision": 0.2}]))
    (no alert of the forecast came true: the alarms stand at their default thresholds, \
not at its precision)
    """
    if precision is not None and precision <= 0.0:
        return (
            "(no alert of the forecast came true: the alarms stand at their default "
            "thresholds, not at its precision)"
        )
    short = [
        b["name"]
        for b in baselines
        if precision is not None and (b["precision"] is None or b["precision"] < precision)
    ]
    if not short:
        return None
    alarms, their = ("alarms", "their") if len(short) > 1 else ("alarm", "its")
    return (
        f"(the {' and '.join(short)} {alarms} reached the forecast's precision at none of "
        f"{their} thresholds: shown at {their} most precise)"
    )


def result_quality_keys() -> tuple[str, ...]:
    """The figures every quality dict carries."""
    return ("crossings", "forecast", "alerts", "false_alarms", "precision", "recall",
            "median_lead_s")  # fmt: skip


def _fmt(x: float, spec: str, none: str = "-") -> str:
    return format(x, spec) if math.isfinite(x) else none


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


TABLE_HEADER = (
    f"{'time (UTC)':<23}  {'kind':<12}  {'symbol':<16}  {'price':>12}  {'limit':>12}  "
    f"{'p_hit':>5}  {'eta':>8}  {'warned':>8}"
)


def table_row(sig: Signal, warned: str = "") -> str:
    """One signal as a row of the human-readable table; ``warned``, for a crossing, how
    long ahead a watch warned of it (:class:`Warnings`)."""
    eta = _fmt(sig.eta_s, ".1f")
    # 12,056,602 and 0.000123, never 1.20566e+07; a crossing's price and its limit
    # with the digits that tell them apart (0.0019345 both, and 54,107 both, were shown).
    price, limit = fmt.apart(sig.price, sig.limit, fmt.price_compact)
    limit = limit if math.isfinite(sig.limit) else "-"
    return (
        f"{_when(sig.t):<23}  {sig.kind.name:<12}  {fmt.fit(sig.symbol, 16)}  {price:>12}  "
        f"{limit:>12}  {_fmt(sig.p_hit, '.2f'):>5}  "
        f"{eta + ('s' if eta != '-' else ''):>8}  {warned:>8}"
    ).rstrip()


class Warnings:
    """For each crossing (BUY or SELL) of the table, whether a watch of the same symbol
    and side came first, within a horizon before it, and how many seconds ahead: the
    column ``warned`` reads "12.3s", or "no" when none did."""

    def __init__(self, horizon_s: float) -> None:
        self.horizon_s = horizon_s
        self._watched: dict[tuple[str, str], float] = {}  # (symbol, side): last watch time

    def __call__(self, sig: Signal) -> str:
        kind = sig.kind.name
        if kind.endswith("_WATCH"):
            self._watched[(sig.symbol, kind[: -len("_WATCH")])] = sig.t
            return ""
        if kind not in ("BUY", "SELL"):
            return ""
        at = self._watched.pop((sig.symbol, kind), None)
        if at is None or sig.t - at > self.horizon_s:
            return "no"
        return f"{sig.t - at:.1f}s"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _quality_line(label: str, q: dict[str, Any]) -> str:
    lead = q["median_lead_s"]
    return (
        f"{label}: {q['forecast']}/{q['crossings']} crossings warned ahead (recall "
        f"{_pct(q['recall'])}), {q['alerts']} alerts of which {q['false_alarms']} false "
        f"(precision {_pct(q['precision'])}"
        + (f", said {_pct(q['said'])} on average" if q.get("said") is not None else "")
        + "), median lead "
        f"{'-' if lead is None else f'{lead:.1f} s'}"
        + (f"; {q['undecided']} more too near the end of the data to judge"
           if q.get("undecided") else "")
    )  # fmt: skip


def print_report(result: BacktestResult, out: TextIO) -> None:
    """The human-readable closing lines."""
    s = summary(result)
    kinds = ", ".join(f"{n:,} {k}" for k, n in s["signals"].items()) or "none"
    parts = [
        fmt.count(s["ticks"], "tick"),
        fmt.count(len(s["symbols"]), "symbol"),
        f"{fmt.count(len(result.signals), 'signal')} ({kinds})",
    ]
    if s["skipped"]:
        parts.append(f"{fmt.count(s['skipped'], 'bad line')} skipped")
    if result.refused:
        most = result.config.max_symbols
        symbols = fmt.count(int(result.state.refused), "symbol")
        if result.state.refused > most:  # names past that many are not remembered
            symbols = f"over {fmt.count(most, 'symbol')}"
        parts.append(
            f"{symbols} refused (limit {result.config.max_symbols:,}): "
            f"{fmt.count(result.refused, 'tick')} not run"
        )
    print(file=out)
    print(", ".join(parts), file=out)
    if result.refused and result.config.max_symbols < MAX_SYMBOLS:
        print(
            f"(to run the symbols refused, raise --max-symbols from "
            f"{result.config.max_symbols:,}: it goes up to {MAX_SYMBOLS:,}, about 1.5 KB "
            "of memory a symbol)",
            file=out,
        )
    if result.late:
        print(
            f"(the ticks are not in time order: {fmt.count(result.late, 'tick')} came more than "
            f"the horizon behind a time read before them, up to "
            f"{fmt_span(result.most_late_s)}; sorted by symbol? The engine reads a file in its "
            "order, as a stream, and calibrates and scores forecasts on the latest time read: "
            "their forecasts could be neither, and their WATCHes are not the market's. Sort "
            "the file by time to backtest the market as it happened.)",
            file=out,
        )
    if (note := spacing_note(result.config, result.spacings)) is not None:
        print(f"({note})", file=out)
    quantities = int(np.count_nonzero(result.state.additive))
    if "quality" not in s:
        return
    alone = not s["baselines"]  # every symbol a quantity: the forecast scored on its own
    if quantities and not alone:
        print(
            f"({fmt.count(quantities, 'symbol')} modelled as quantities (--additive) left out of "
            "the comparison with the alarms below, which are a price's)",
            file=out,
        )
    print(_quality_line("forecast", s["quality"]), file=out)
    if alone:
        print("(every symbol is modelled as a quantity (--additive): the forecast is scored "
              "on its own, with no comparison with the alarms, which are a price's)",
              file=out)  # fmt: skip
    for b in s["baselines"]:
        what = (
            f"price within {100 * b['threshold']:.2g}% of a limit"
            if b["name"] == "proximity"
            else f"within {b['threshold']:.2g} sd of a limit over the horizon"
        )
        print(_quality_line(f"{b['name']} alarm ({what})", b), file=out)
    if not alone:
        print(
            "(each alarm at its best: of its thresholds at or above the forecast's precision, "
            "the longest lead)",
            file=out,
        )
    if (note := unmatched_note(s["quality"]["precision"], s["baselines"])) is not None:
        print(note, file=out)
    cal = s["calibration"]
    print(file=out)
    print(
        f"calibration of p (sampled every {fmt.interval(sample_every(result.config.horizon_s))}, "
        f"{cal['forecasts']:,} forecasts): Brier skill "
        f"{_signed(cal['brier_skill'])} against the base rate {_pct(cal['base_rate'])}, "
        f"largest gap {_signed(cal['gap'])} ({_dense(cal['deciles'])}{_noise(cal)})",
        file=out,
    )
    if not cal["forecasts"]:
        st = result.state
        bare = int(np.sum(np.isnan(st.buy) & np.isnan(st.sell)))
        if len(st.symbols) and bare == len(st.symbols):
            print(no_limits_reason(result.config, st.symbols), file=out)
        else:
            most = int(st.n_ticks.max()) if len(st.n_ticks) else 0
            print(no_forecast_reason(result.config, most), file=out)
    print(
        f"  {'p':>9}  {'forecasts':>9}  {'predicted':>9}  {'observed':>8}  {'noise':>6}", file=out
    )
    for i, d in enumerate(cal["deciles"]):
        if d["count"]:
            noise = "-" if d.get("noise") is None else f"±{100 * d['noise']:.0f}%"
            print(
                f"  {i / 10:.1f}-{(i + 1) / 10:.1f}  {d['count']:>9,}  {_pct(d['mean_p']):>9}  "
                f"{_pct(d['frequency']):>8}  {noise:>6}",
                file=out,
            )
    print(file=out)
    print(lead_plot(result), file=out)


def no_forecast_reason(
    config: EngineConfig, most_ticks: int, longest_s: float | None = None
) -> str:
    """Why a run scored no forecast at all (an empty table says nothing of it): what a
    symbol needs before its forecasts count, and the most ticks any symbol had (and the
    longest time any symbol's ticks span, where known: ticks all of one time are many
    ticks and no time).

    >>> print(no_forecast_reason(EngineConfig(), 500, 0.0).split("; ")[-1])
    the most any symbol had here is 500 ticks, and the longest any symbol's ticks span is 0 s
    """
    span = ""
    if longest_s is not None:
        span = f", and the longest any symbol's ticks span is {fmt.interval(longest_s)}"
    return (
        f"no forecast was scored: a symbol is forecast from its {config.warmup_ticks}th tick "
        f"and {config.warmup_span:g} s of its ticks on (--warmup-ticks, --warmup-s), and its "
        f"forecasts count from {fmt.interval(SETTLE_HORIZONS * config.horizon_s)} into its "
        "ticks (a third of them where they span less), each with a whole horizon "
        f"({fmt.interval(config.horizon_s)}) of its ticks after it; the most any symbol had "
        f"here is {fmt.count(most_ticks, 'tick')}{span}"
    )


def no_limits_reason(config: EngineConfig, symbols: tuple[str, ...]) -> str:
    """Why a run whose symbols all lack limits scored no forecast (it blamed the warm-up
    of a quantity that started at 0 and ticked for an hour).

    >>> why = no_limits_reason(EngineConfig(default_band=0.02), ("cpu.y",))
    >>> why.startswith("no forecast was scored: no symbol had a limit to forecast (cpu.y); ")
    True
    >>> why.endswith("a value that starts at 0 gets none: give limits with --limit SYMBOL=BUY:SELL")
    True
    """
    names = ", ".join(fmt.literal(name) for name in symbols[:3])
    if len(symbols) > 3:
        names += f" and {len(symbols) - 3:,} more"
    band = config.default_band
    why = (
        f"the band (--band {band * 100:g}%) is a share of a symbol's first value, so a value "
        "that starts at 0 gets none"
        if band is not None
        else "no band was given (--band) and no limit"
    )
    return (
        f"no forecast was scored: no symbol had a limit to forecast ({names}); {why}: give "
        "limits with --limit SYMBOL=BUY:SELL"
    )


def _below(seconds: float, bound: float) -> str:
    """`seconds` written apart from `bound` it is short of (29.99 min is not "30.0 min",
    beside a span of 30.0 min it does not reach)."""
    text = fmt.interval(seconds)
    return f"{seconds:,.0f} s" if text == fmt.interval(bound) else text


def _noise(cal: dict[str, Any]) -> str:
    """How far the gap moves by chance on these samples, where it is known (see
    engine.evaluation): a gap below it is no sign of a miscalibration."""
    if "gap_noise" not in cal or not cal["gap_deciles"]:
        return ""
    noise = cal["gap_noise"]
    if noise is None:  # unbounded: a decile seen in too few symbols or stretches
        return "; too few symbols or stretches of time to tell it from chance"
    return f"; by chance up to {noise:.2f}, resampling whole symbols or stretches of time"


def _dense(deciles: list[dict[str, Any]]) -> str:
    """Which deciles the largest gap is taken over: "0.00" over one decile is no sign of
    a calibrated forecast."""
    n = sum(1 for d in deciles if d["count"] >= MIN_BIN)
    if not n:
        return f"no decile has {MIN_BIN} forecasts"
    return f"over the {n} of {len(deciles)} deciles with >= {MIN_BIN} forecasts"


def short_span_note(config: EngineConfig, longest_s: float) -> str | None:
    """What the calibration figures rest on where no symbol's ticks span three settling
    periods: then only the first third of each symbol's ticks is left out, while its
    estimates may still be filling. None where some symbol's do."""
    settle = SETTLE_HORIZONS * config.horizon_s
    if not longest_s > 0 or settle_wait(longest_s, settle) >= settle:
        return None
    return (
        f"note: no symbol's ticks span {fmt.interval(3 * settle)} (the longest "
        f"{_below(longest_s, 3 * settle)}): the calibration figures leave out only the first third "
        f"of each symbol's ticks, not its first {fmt.interval(settle)}, and rest partly on "
        "forecasts made while its estimates fill"
    )


def _signed(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def lead_plot(result: BacktestResult) -> str:
    """Median lead time against precision: the forecast's point and both alarms' sweeps."""
    q = result.quality
    assert q is not None and result.evaluation is not None, "a run that was scored"
    series: list[Series] = [("forecast", "F", [(q.precision, q.median_lead_s)])]
    for row, mark in zip(result.evaluation.rows[1:], "PV", strict=False):
        series.append((row.name, mark, [(p, lead) for _, p, _, lead, _ in row.curve.tolist()]))
    # the forecast last, so it shows where an alarm's point falls on it
    return lead_precision_plot(series[1:] + series[:1])


class Progress(ProgressLine):
    """The backtest's progress line: the file read (and the rate), then the scoring."""

    def __init__(self, source: Source, stream: TextIO) -> None:
        super().__init__(stream)
        self.size = getattr(source, "size", None)
        self.source = source

    def update(self, ticks: int) -> None:
        if not self.due():
            return
        done = getattr(self.source, "bytes_read", 0)
        if self.size:
            frac = min(1.0, done / self.size)
            bar = "#" * int(30 * frac)
            text = f"[{bar:<30}] {100 * frac:3.0f}%  {ticks:,} ticks"
        else:
            text = f"{ticks:,} ticks"
        self.draw(f"{text}  {ticks / (time.monotonic() - self.start):,.0f}/s ")

    def scoring(self, done: int, groups: int) -> None:
        """The scoring's progress: ``done`` of ``groups`` groups of symbols."""
        self.bar("scoring against the alarms", done, groups, "groups", every=0.0)

    def finish(self, ticks: int) -> None:
        elapsed = time.monotonic() - self.start
        self.clear()
        assert self.stream is not None
        if elapsed >= 1.0:
            self.stream.write(f"backtest: {ticks:,} ticks in {elapsed:.1f} s\n")
        self.stream.flush()


# --- command line ----------------------------------------------------------------------


def configure(p: argparse.ArgumentParser) -> None:
    """Add the backtest's arguments to `p`."""
    p.add_argument("file", metavar="FILE", help="a scenario (.jsonl), a .csv or .jsonl file, or -")
    add_engine_options(p, skip=NO_CHART)  # no chart: no history kept
    p.add_argument(
        "--skip-bad", action="store_true", help="skip and count bad lines instead of stopping"
    )
    p.add_argument("--json", action="store_true", help="JSON lines: one per signal, then a summary")
    p.add_argument(
        "--signals-only",
        action="store_true",
        help="signals and counts only: no scoring against the naive alarms and no "
        "calibration (several times faster; the scoring keeps every tick, 20 bytes each, "
        f"in a temporary file under $TMPDIR past {GROUP_TICKS:,} ticks)",
    )
    p.add_argument(
        "--partitions", type=at_most(MOST_PARTITIONS), default=4,
        help="calibrate each symbol with those of its partition in a topic of this many, "
        "as a consumer does: a replay through such a topic gives the same signals, where "
        "no plausibility check refuses a tick (4, the monitor's; 1: one record for all)",
    )  # fmt: skip
    p.add_argument("--batch", type=positive_int, default=BATCH, help=argparse.SUPPRESS)


def add_parser(subparsers: Any) -> None:
    """Register the ``backtest`` subcommand on an argparse subparsers object."""
    p = subparsers.add_parser(
        "backtest",
        help="run a scenario or price file through the engine, without Kafka",
        # the module's first paragraph, its reST literal marks dropped
        description=__doc__.split("\n\n")[0].replace("\n", " ").replace("``", ""),
    )
    configure(p)
    p.set_defaults(func=run)


def build_parser() -> argparse.ArgumentParser:
    """A stand-alone parser, for ``python -m tui.runtime.backtest``."""
    p = argparse.ArgumentParser(prog="limitwatch backtest", description=__doc__.split("\n\n")[0])
    configure(p)
    p.set_defaults(func=run)
    return p


def unused_limits(
    given: list[tuple[str, float, float]], result: BacktestResult, spec: str
) -> list[str]:
    """A warning for each ``--limit`` that was not used: its symbol had no tick in the
    file (with the closest symbol names that did: symbols are case-sensitive), or was
    refused beyond ``max_symbols``."""
    symbols = result.state.symbols
    seen = set(symbols)
    where = "standard input" if spec == "-" else spec
    warnings = []
    for sym in dict.fromkeys(s for s, _buy, _sell in given):
        if sym in seen:
            continue
        if sym in result.refused_limits:
            warnings.append(
                f"--limit {sym}: {sym} was refused, {result.config.max_symbols:,} symbols "
                "were tracked already (max_symbols), limit unused"
            )
            continue
        close = [s for s in symbols if s.casefold() == sym.casefold()]
        close += [s for s in difflib.get_close_matches(sym, symbols, n=3) if s not in close]
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        warnings.append(f"--limit {sym}: no tick of {sym} in {where}, limit unused{hint}")
    return warnings


def run(args: argparse.Namespace) -> int:
    """Run the backtest the arguments describe; return the exit status."""
    out = sys.stdout
    err = sys.stderr
    ctrl_c = CtrlC()  # until the report is written (see CtrlC)
    try:
        try:  # a named pipe waits for a writer, and then for its first line
            with ctrl_c.reading():
                source = open_file(args.file, skip_bad=args.skip_bad, additive=args.additive)
        except KeyboardInterrupt:
            print(f"limitwatch backtest: stopped by Ctrl-C before the first tick of "
                  f"{args.file}", file=err)  # fmt: skip
            return 130
        limits: Limits = dict(getattr(source, "limits", {}) or {})
        limits.update({sym: (buy, sell) for sym, buy, sell in args.limit})
        suggested = dict(getattr(source, "engine", {}) or {})
        config = engine_config(args, suggested, header_of(args.file), chart=False)
        progress = Progress(source, err)
        if args.json:

            def emit(new: list[Signal]) -> None:
                progress.clear()
                out.write("".join(signal_json(s) + "\n" for s in new))
                out.flush()  # as they come, into a pipe too (`| grep SELL`)

        else:
            warned = Warnings(config.horizon_s)
            header = [TABLE_HEADER + "\n"]  # written with the first rows: none before an error

            def emit(new: list[Signal]) -> None:
                progress.clear()
                out.write("".join(header + [table_row(s, warned(s)) + "\n" for s in new]))
                header.clear()
                out.flush()  # as they come, into a pipe too (`| grep SELL`)

        result = backtest(source, config, limits, batch=args.batch, on_signals=emit,
                          on_batch=progress.update, score=not args.signals_only,
                          additive=additive_of(source), on_scoring=progress.scoring,
                          ctrl_c=ctrl_c, partitions=args.partitions)  # fmt: skip
        progress.finish(result.ticks)
        if args.json:
            out.write(msgspec.json.encode(summary(result)).decode() + "\n")
        else:
            out.write("".join(header))  # a run without a signal shows the table's head too
            print_report(result, out)
        for line in skipped_lines(source):
            print(fmt.literal(line), file=err)
        if (note := cut_short(source)) is not None:
            print(fmt.literal(f"limitwatch backtest: {note}"), file=err)
        for warning in unused_limits(args.limit, result, args.file):
            print(f"limitwatch backtest: {warning}", file=err)
        out.flush()
        if result.interrupted or ctrl_c.hit:
            print(
                f"limitwatch backtest: stopped by Ctrl-C after {fmt.count(result.ticks, 'tick')}:"
                " the figures above are those of the ticks read until then",
                file=err,
            )
            return 130
    except (SourceError, BacktestError, OptionError, LimitError, StoreError) as exc:
        out.flush()
        hint = skip_hint(exc)
        if isinstance(exc, StoreError):
            hint = ", or leave the scoring out with --signals-only"
        print(fmt.literal(f"limitwatch backtest: {exc}{hint}", keep="\n"), file=err)
        return 2
    except BrokenPipeError:
        sys.stdout = None  # type: ignore[assignment]  # the reader left; say nothing more
        return 0
    except KeyboardInterrupt:  # while scoring (the report needs it), or a second Ctrl-C
        with contextlib.suppress(OSError, ValueError):
            out.flush()
        print("limitwatch backtest: stopped by Ctrl-C before the report (while scoring the "
              "forecast, or a second Ctrl-C; --signals-only leaves the scoring out)",
              file=err)  # fmt: skip
        return 130
    finally:
        ctrl_c.restore()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m tui.runtime.backtest``."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
