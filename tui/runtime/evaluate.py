"""``limitwatch evaluate [FILE]``: score the forecast on generated markets of several kinds
(with an oracle that knows the truth) or on the user's own recorded ticks.

    limitwatch evaluate                         # 13 kinds x 200 symbols x 60 minutes
    limitwatch evaluate --kinds drift,jumps --symbols 50 --minutes 20 --json
    limitwatch evaluate prices.csv --bands 1,2

Every symbol gets limits at each band around its first price (each band a stream); the
engine runs over the ticks, its ``p`` sampled every twelfth of the horizon of event time
(5 s at the default 60 s), and the table gives, per market kind, the engine, the
proximity and vol-scaled alarms at their best at the engine's precision, and (generated
markets only) the oracle. The measures are defined in :mod:`engine.evaluation`. Progress goes to
standard error. The kinds marked held out (:data:`producer.markets.HELD_OUT`) were never
used to choose the engine's estimators or settings but the drift's half-life: their rows
are the forecast on markets it has not seen, that one setting apart.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, TextIO

import msgspec
import numpy as np
import numpy.typing as npt

from engine import Engine, EngineConfig
from engine.config import MAX_SYMBOLS, MIN_BAND, symbol_matcher
from engine.evaluation import (
    ENGINE,
    MIN_BIN,
    NOISE_BLOCK_HORIZONS,
    ORACLE,
    Calibration,
    Evaluation,
    Row,
    SampledRun,
    evaluate,
    oracle_forecast,
    sample_every,
)
from engine.limits import MAX_PRICE, LimitError
from engine.quality import TickOrder
from engine.watch import Discipline
from producer.files import SourceError, cut_short, skipped_lines
from producer.lines import fmt_span, skip_hint
from producer.markets import HELD_OUT, KINDS, Market, generate
from producer.source import additive_of
from tui.runtime import format as fmt
from tui.runtime.backtest import (
    BacktestError,
    CtrlC,
    TickSpacings,
    no_forecast_reason,
    short_span_note,
    spacing_note,
)
from tui.runtime.options import (
    NO_CHART,
    OptionError,
    add_engine_options,
    engine_config,
    header_of,
    seed,
)
from tui.runtime.progress import ProgressLine
from tui.runtime.tickstore import GROUP_TICKS, Columns, StoreError, TickStore

#: Ticks per engine update (the grid of samples cuts them further).
BATCH = 50_000
#: A file whose ticks go back this many seconds or more is asked whether it is sorted by
#: symbol (less is the interleaving of a recording merged from partitions).
SORTED_BY_SYMBOL_S = 600.0
#: Limits either side of each symbol's first price, percent.
DEFAULT_BANDS = (1.0, 2.0, 3.0)
#: Settings the evaluation decides itself: limits come from --bands, and every stream
#: must be tracked.
_OWN_SETTINGS = frozenset({"default_band", "max_symbols"}) | NO_CHART


@dataclasses.dataclass(frozen=True)
class Ticks:
    """A tick stream as columns in arrival order, with the truth where it is known."""

    symbols: tuple[str, ...]
    sym: npt.NDArray[np.int32]
    t: npt.NDArray[np.float64]
    price: npt.NDArray[np.float64]
    drift: npt.NDArray[np.float64] | None = None
    vol: npt.NDArray[np.float64] | None = None

    @classmethod
    def of_market(cls, m: Market) -> Ticks:
        return cls(m.symbols, m.sym, m.t, m.price, m.drift, m.vol)


def _spans(ticks: Ticks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each symbol's tick count, first and last time (inf and -inf where it has none)."""
    n = len(ticks.symbols)
    first = np.full(n, np.inf)
    last = np.full(n, -np.inf)
    np.minimum.at(first, ticks.sym, ticks.t)
    np.maximum.at(last, ticks.sym, ticks.t)
    return np.bincount(ticks.sym, minlength=n), first, last


def _longest_span(ticks: Ticks) -> float:
    """Seconds from a symbol's first tick to its last, the longest of all symbols."""
    if not len(ticks.t):
        return 0.0
    _, first, last = _spans(ticks)
    seen = np.isfinite(first)
    return float((last[seen] - first[seen]).max())


def _score(
    args: argparse.Namespace,
    config: EngineConfig,
    source: Any,
    results: dict[str, Evaluation],
    started: float,
    err: TextIO,
    ctrl_c: CtrlC,
) -> None:
    """Score the file or the generated markets into ``results``; KeyboardInterrupt at a
    Ctrl-C, at once or (one swallowed) after the batch."""

    def stop() -> bool:
        return ctrl_c.hit

    if args.file is not None:
        print(f"evaluate: reading {fmt.literal(args.file)}", file=err)
        with ctrl_c.reading():
            ticks = read_ticks(args.file, args.additive, source)
        # A Ctrl-C while the engine runs stops it after the batch, and what it read is
        # scored (a second one, or one while scoring, stops at once).
        results[args.file] = run_ticks(
            ticks, config, args.bands, err, stop=stop, scoring=ctrl_c.reading
        )
        scored = results[args.file].row(ENGINE)
        if scored is None or scored.calibration is None or not scored.calibration.forecasts:
            most = int(np.bincount(ticks.sym).max()) if len(ticks.sym) else 0
            longest = _longest_span(ticks)
            print(f"evaluate: {no_forecast_reason(config, most, longest)}", file=err)
        elif (note := short_span_note(config, _longest_span(ticks))) is not None:
            print(f"evaluate: {note}", file=err)
        gaps = TickSpacings()
        gaps.add(ticks.sym, ticks.t)
        if (note := spacing_note(config, gaps.spacings())) is not None:
            print(f"evaluate: {note}", file=err)
        return
    with ctrl_c.reading():  # a market is scored whole or not at all
        _score_markets(args, config, results, started, err, stop)


def _score_markets(
    args: argparse.Namespace,
    config: EngineConfig,
    results: dict[str, Evaluation],
    started: float,
    err: TextIO,
    stop: Callable[[], bool],
) -> None:
    for i, kind in enumerate(args.kinds, 1):
        print(
            f"evaluate: {kind} ({i}/{len(args.kinds)}), {fmt.count(args.symbols, 'symbol')} x "
            f"{args.minutes:g} min, {time.monotonic() - started:.0f} s so far",
            file=err,
            flush=True,
        )
        market = generate(kind, symbols=args.symbols, minutes=args.minutes, seed=args.seed)
        results[kind] = run_ticks(Ticks.of_market(market), config, args.bands, stop=stop)


def run_ticks(
    ticks: Ticks,
    config: EngineConfig,
    bands: Sequence[float],
    err: TextIO | None = None,
    *,
    group_ticks: int = GROUP_TICKS,
    stop: Callable[[], bool] | None = None,
    scoring: Callable[[], AbstractContextManager[object]] | None = None,
) -> Evaluation:
    """Run the engine over ``ticks`` with limits at each of ``bands`` (percent) around
    every symbol's first price, and score it (with the oracle when the truth is known);
    progress to ``err``. ``stop`` is asked between batches: true, recorded ticks stop
    there and those fed so far are scored (within ``scoring``), a generated market's
    raise KeyboardInterrupt (its oracle needs them all)."""
    n, nb = len(ticks.symbols), len(bands)
    if n * nb > MAX_SYMBOLS:  # one engine stream per symbol and band
        raise BacktestError(
            f"{n:,} symbols at {nb} bands are {n * nb:,} forecasts to follow; evaluate follows "
            f"at most {MAX_SYMBOLS:,} at once: ask for fewer --bands, or score the symbols "
            "in parts"
        )
    cfg = dataclasses.replace(config, default_band=None, max_symbols=max(1, n * nb))
    eng = Engine(cfg)
    names = [f"{s}@{b:g}%" for s in ticks.symbols for b in bands]
    eng.register(names)
    first = np.full(n, np.nan)
    seen, at = np.unique(ticks.sym, return_index=True)
    first[seen] = ticks.price[at]
    frac = np.asarray(bands, dtype=np.float64) / 100.0
    buy = (first[:, None] * (1.0 - frac)).ravel()
    sell = (first[:, None] * (1.0 + frac)).ravel()
    beyond = sell >= MAX_PRICE  # no price reaches it: that stream has a buy limit alone
    if beyond.any():
        sell[beyond] = np.nan
        if err is not None:
            print(f"evaluate: {fmt.count(int(beyond.sum()), 'sell limit')} at or above the "
                  f"largest price ({MAX_PRICE:,.0f}) left unset", file=err)  # fmt: skip
    for i in np.flatnonzero(~np.isnan(buy)).tolist():
        eng.set_limits(names[i], buy=float(buy[i]), sell=float(sell[i]))
    runner = SampledRun(eng, sample_every(config.horizon_s))
    truth = ticks.drift is not None and ticks.vol is not None
    # Recorded ticks are kept for the scoring in a TickStore and scored a group of
    # symbols at a time (bounded memory, as the backtest); a generated market whole,
    # since the oracle's p is computed at every tick.
    stream_of = {name: i for i, name in enumerate(names)}
    # Each stream's symbol for the noise of the calibration gap, by name: numbered in the
    # file's order, a file of the same ticks in another line order drew other weights.
    symbol_of = np.repeat(np.unique(np.asarray(ticks.symbols), return_inverse=True)[1], nb)
    step = max(1, BATCH // nb)
    store = None if truth else TickStore(group_ticks)
    # Long work shows its progress: a file of a million ticks said nothing for 45 s.
    line = ProgressLine(err if store is not None else None)
    # its temporary file goes whatever happens
    with store if store is not None else contextlib.nullcontext():
        fed = len(ticks.t)
        for start in range(0, len(ticks.t), step):
            line.bar("running the engine", start, len(ticks.t), "ticks")
            if stop is not None and stop():
                if store is None:
                    raise KeyboardInterrupt
                fed = start
                line.clear()
                if err is not None:
                    print(f"evaluate: stopped by Ctrl-C after {fed:,} of "
                          f"{fmt.count(len(ticks.t), 'tick')}: scoring those (Ctrl-C again "
                          "stops at once)", file=err, flush=True)  # fmt: skip
                break
            ids, t, price = _streams(ticks, slice(start, start + step), nb)
            runner.update(ids, t, price)
            if store is not None:
                store.append(ids, t, price)
        if store is not None:
            line.clear()
            if err is not None:
                ticks_read = fmt.count(fed, "tick")
                print(f"evaluate: scoring {ticks_read} against the alarms, each once per band "
                      f"({len(store):,} in all)", file=err, flush=True)  # fmt: skip

            def groups() -> Iterator[TickOrder]:
                for done, (i, t, p) in enumerate(store.groups()):
                    line.bar("scoring against the alarms", done, store.group_count, "groups")
                    yield TickOrder(i, t, p, buy, sell)
                line.clear()

            try:
                with scoring() if scoring is not None else contextlib.nullcontext():
                    return evaluate(
                        groups(),
                        runner.signals,
                        stream_of,
                        runner.finish(),
                        horizon_s=cfg.horizon_s,
                        rule=Discipline.of(cfg),
                        symbol_of=symbol_of,
                    )
            finally:
                line.clear()  # (stopped by a Ctrl-C, too)
    ids, t, price = _streams(ticks, slice(None), nb)
    order = TickOrder(ids, t, price, buy, sell)
    assert ticks.drift is not None and ticks.vol is not None
    p, eta = oracle_forecast(
        order, np.repeat(ticks.drift, nb), np.repeat(ticks.vol, nb), cfg.horizon_s,
        eta_from=cfg.alert_p,
    )  # fmt: skip
    return evaluate(
        order,
        runner.signals,
        stream_of,
        runner.finish(),
        horizon_s=cfg.horizon_s,
        rule=Discipline.of(cfg),
        oracle=(p, eta, cfg.alert_p),
        symbol_of=symbol_of,
    )


def _streams(
    ticks: Ticks, cut: slice, bands: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The ticks in ``cut`` as ticks of streams: each symbol's tick once per band."""
    ids = (ticks.sym[cut].astype(np.int64)[:, None] * bands + np.arange(bands)).ravel()
    return ids, np.repeat(ticks.t[cut], bands), np.repeat(ticks.price[cut], bands)


def read_ticks(spec: str, additive: Sequence[str] = (), source: Any = None) -> Ticks:
    """The ticks of a scenario, CSV or JSON-lines file (``-`` for standard input; or of
    ``source``, that file opened already), of prices only: symbols that are quantities
    (``additive``, or so named by the file's header) are left out (the alarms compared
    with are a price's) and said on stderr."""
    # the backtest's reader, sniffing included, and its columns (a file a block at a time)
    from tui.runtime.backtest import open_file, tick_columns

    if source is None:
        source = open_file(spec, skip_bad=False, additive=additive)
    quantity = symbol_matcher(additive_of(source))  # type: ignore[arg-type]
    ids_of: dict[str, int] = {}
    left_out: set[str] = set()
    parts: list[Columns] = []
    for cols in tick_columns(source):
        code_ids = np.empty(len(cols.symbols), dtype=np.int32)
        for k, name in enumerate(cols.symbols):
            sid = ids_of.get(name, -1)
            # a symbol's first tick decides (the patterns once per symbol)
            if sid < 0 and name not in left_out:
                if quantity(name):
                    left_out.add(name)
                else:
                    sid = ids_of[name] = len(ids_of)
            code_ids[k] = sid
        sym = code_ids[cols.codes]
        kept = sym >= 0
        parts.append((sym[kept], cols.ts[kept], cols.price[kept]))
    if left_out:
        names = ", ".join(sorted(left_out)[:5]) + (" …" if len(left_out) > 5 else "")
        print(
            f"evaluate: {fmt.count(len(left_out), 'symbol')} modelled as quantities "
            f"(additive) left out, the alarms compared with being a price's: {names}",
            file=sys.stderr,
        )
    if not ids_of:
        raise SourceError(
            spec,
            None,
            "no prices to evaluate (every symbol is a quantity): evaluate's limits are "
            "percentages of a price; score a quantity's own limits with `limitwatch "
            "backtest FILE --additive PATTERN --limit SYMBOL=BUY:SELL`",
        )
    sym_all, t_all, price_all = (np.concatenate(c) for c in zip(*parts, strict=True))
    del parts
    if len(t_all) > 1 and bool((t_all[1:] < t_all[:-1]).any()):
        # A file sorted by symbol, or merged from partitions: the clock the forecasts are
        # sampled and resolved on is the latest time read, so a symbol read after another
        # one's whole hour was never sampled (a whole file scored on its first symbol).
        behind = np.maximum.accumulate(t_all)
        behind -= t_all
        late, most = int(np.count_nonzero(behind)), float(behind.max())
        del behind
        print(
            f"evaluate: {spec}'s ticks are not in time order ({fmt.count(late, 'tick')} up to "
            f"{fmt_span(most)} behind a time read before them"
            + ("; sorted by symbol?" if most >= SORTED_BY_SYMBOL_S else "")
            + "): scored in time order, as the market happened",
            file=sys.stderr,
        )
        order = np.argsort(t_all, kind="stable")
        t_all = t_all[order]  # one column at a time: each old one freed as the next is made
        sym_all = sym_all[order]
        price_all = price_all[order]
    return Ticks(tuple(ids_of), sym_all, t_all, price_all)


# --- output ----------------------------------------------------------------------------

_COLUMNS = (
    # header, width, how to get it from a row
    ("alerts", 7),
    ("prec", 5),
    ("recall", 6),
    ("lead s", 6),
    ("lead×", 6),
    ("alerts×", 7),
    ("gap", 6),
    ("noise", 6),
    ("BSS", 6),
    ("n p", 8),
    ("ETA×", 5),
    ("ETA ok", 6),
    ("W/sh", 6),
    ("F/sh", 6),
    ("storm", 5),
    ("thresh", 7),
)


#: After lead× and alerts× where the proximity alarm never reached the row's precision.
_UNMATCHED = "*"
#: After a gap that rests on fewer than FEW_DECILES deciles of MIN_BIN samples.
_FEW = "†"
FEW_DECILES = 3


def _ratio_cell(x: float, matched: bool) -> str:
    """A ratio, marked where it is not at equal precision."""
    cell = _f(x, ".2f")
    return cell + _UNMATCHED if not matched and cell != "-" else cell


def _f(x: float, spec: str) -> str:
    return format(x, spec) if x is not None and math.isfinite(x) else "-"


def _gap_cell(c: Calibration) -> str:
    """The gap, marked where it rests on few deciles: on a short run most forecasts lie
    near 0, and a gap of 0.000 over that one decile said nothing of the others."""
    cell = _f(c.gap, ".3f")
    return cell + _FEW if cell != "-" and c.gap_deciles < FEW_DECILES else cell


def _noise_cell(c: Calibration) -> str:
    """The gap's noise; unbounded where a decile's forecasts lie in so few symbols or
    stretches of time that resampling them often leaves none."""
    return "∞" if c.gap_noise == math.inf else _f(c.gap_noise, ".3f")


def _cells(r: Row) -> list[str]:
    q, c = r.quality, r.calibration
    thresh = "-"
    if math.isfinite(r.threshold):
        thresh = f"{100 * r.threshold:.2g}%" if r.name == "proximity" else f"{r.threshold:.2g}sd"
    return [
        str(q.alerts),
        _f(q.precision, ".2f"),
        _f(q.recall, ".2f"),
        _f(q.median_lead_s, ".1f"),
        _ratio_cell(r.lead_ratio, r.matched),
        _ratio_cell(r.alert_ratio, r.matched),
        _gap_cell(c) if c else "-",
        _noise_cell(c) if c else "-",
        _f(c.skill, ".3f") if c else "-",
        str(c.forecasts) if c else "-",
        _f(r.eta_ratio, ".2f"),
        _f(r.eta_defined, ".2f"),
        _f(r.watches_per_hour, ".2f") if c else "-",
        _f(r.false_per_hour, ".2f") if c else "-",
        str(r.storm) if c else "-",
        thresh,
    ]


#: Where the table is cut in two on a narrow terminal: the alerts against the alarms
#: (with the alarms' thresholds and the WATCH storms), then the forecast's own measures
#: (of the rows that forecast: the engine and the oracle).
_AGAINST_ALARMS = ("alerts", "prec", "recall", "lead s", "lead×", "alerts×", "storm", "thresh")


def table(results: dict[str, Evaluation], width: int | None = None) -> str:
    """The evaluation table: one block of rows per market kind. Wider than ``width``
    (a terminal's columns), it is printed as two tables one above the other, each
    within it where the market's name allows: the alerts against the alarms, then
    the forecast's own measures."""
    # a recorded file is named by its path: the column widens to it
    wide = max([10, *(len(k) for k in results)])
    every = range(len(_COLUMNS))
    lines = _block(results, wide, every)
    if width is not None and len(lines[0]) > width:
        first = [i for i, (h, _) in enumerate(_COLUMNS) if h in _AGAINST_ALARMS]
        rest = [i for i in every if i not in first]
        lines = [*_block(results, wide, first), "", *_block(results, wide, rest, own=True)]
    notes = [
        "prec/recall/lead s: precision, recall, median lead of warned crossings; "
        "proximity and vol-scaled at their best at no lower precision than the engine's "
        "(the longest lead)",
        "lead×, alerts×: median lead and alert count over the proximity alarm's at the "
        "row's precision",
        "gap: largest |predicted - observed| over deciles with >= 50 samples; "
        "BSS: Brier skill vs the base rate; n p: samples",
        "noise: how far the gap moves by chance, resampling whole symbols or "
        f"{NOISE_BLOCK_HORIZONS}-horizon stretches (95th percentile): a gap below it cannot "
        "be told from chance (∞: too few symbols or stretches to tell)",
        "ETA×: median actual/shown time to the limit among WATCHes reached within the "
        "horizon; ETA ok: share with an ETA",
        "W/sh, F/sh: WATCHes and false ones per stream-hour (a symbol at one band; its "
        "nights, weekends and halts left out); "
        "storm: most WATCHes of one stream and side within a horizon",
    ]
    if any(not r.matched for ev in results.values() for r in ev.rows):
        notes.append(
            f"{_UNMATCHED}: not at equal precision: the forecast sent no alert, or none that "
            "came true (nothing to match: the alarms stand at their default thresholds), or "
            "the proximity alarm (or the row's own) reached the forecast's precision at none "
            "of its thresholds (limits a tick or two away, or rarely neared) and stands at its "
            "most precise"
        )
    if any(
        r.calibration is not None and _FEW in _gap_cell(r.calibration)
        for ev in results.values()
        for r in ev.rows
    ):
        notes.append(
            f"{_FEW}: the gap rests on fewer than {FEW_DECILES} deciles with >= {MIN_BIN} "
            "samples (too few forecasts away from 0 to judge the others; see --json)"
        )
    held = [k for k in results if k in HELD_OUT]
    if held:
        notes.append(
            f"held out: {', '.join(held)} (never used to choose the engine's estimators or "
            "settings but the drift's half-life: markets the forecast has not seen)"
        )
    if width is not None:  # on a terminal: each note within it, the next lines indented
        notes = [line for note in notes for line in textwrap.wrap(
            note, max(width, 40), subsequent_indent="  ", break_on_hyphens=False
        )]  # fmt: skip
    return "\n".join([*lines, "", *notes])


def _block(
    results: dict[str, Evaluation], wide: int, columns: Sequence[int], own: bool = False
) -> list[str]:
    """The header, its rule and the rows of the table's ``columns`` (indices into
    _COLUMNS); ``own``: only the rows with a calibration (the alarms' would be blank)."""
    cols = [_COLUMNS[i] for i in columns]
    head = f"{'market':<{wide}} {'row':<10} " + " ".join(f"{h:>{w}}" for h, w in cols)
    lines = [head, "-" * len(head)]
    for kind, ev in results.items():
        rows = [r for r in ev.rows if r.calibration is not None or not own]
        for i, r in enumerate(rows):
            values = _cells(r)
            cells = " ".join(f"{values[c]:>{w}}" for c, (_, w) in zip(columns, cols, strict=True))
            lines.append(f"{kind if i == 0 else '':<{wide}} {r.name:<10} {cells}")
    return lines


# --- command line ----------------------------------------------------------------------


def _kinds(text: str) -> list[str]:
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise argparse.ArgumentTypeError(
            f"unknown market kind(s) {', '.join(bad) or '(none)'}; choose from {', '.join(KINDS)}"
        )
    return list(dict.fromkeys(kinds))  # each once, in the order given


def _bands(text: str) -> list[float]:
    """Percentages, ``1,2,3`` or ``0.5%,1%``. A bare number below 1 is refused: ``--band``
    of the monitor and of backtest reads 0.03 as 3 %, and here it would be 0.03 %.

    >>> _bands("3,1,2"), _bands("0.5%, 1%")
    ([1.0, 2.0, 3.0], [0.5, 1.0])
    """
    parts = [b.strip() for b in text.split(",") if b.strip()]
    try:
        bands = [float(b.rstrip("%")) for b in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"bands are percentages like 1,2,3, got {text!r}"
        ) from None
    if not bands or not all(0 < b < 100 for b in bands):
        raise argparse.ArgumentTypeError(f"bands must lie strictly between 0 and 100, got {text!r}")
    if min(bands) < MIN_BAND * 100:  # as --band: 1e-9% scored limits a rounding apart
        raise argparse.ArgumentTypeError(
            f"a band is at least {MIN_BAND * 100:g}% of the price (narrower, the buy and the "
            f"sell limit are the same number), got {text!r}"
        )
    small = [p for p, b in zip(parts, bands, strict=True) if b < 1 and not p.endswith("%")]
    if small:
        x, pct = small[0], f"{float(small[0]) * 100:g}%"
        raise argparse.ArgumentTypeError(
            f"bands are percentages: {x} would be {x}%, while --band reads it as a fraction "
            f"({pct}); write {x}% for {x} percent, or {pct} for {pct[:-1]} percent"
        )
    return sorted(set(bands))  # a band given twice is one band


#: Symbols times minutes of one generated market at most: its ticks (about 150 a
#: symbol-minute) are held whole with the samples and the oracle's; the default, 12,000,
#: peaks at about 1.5 GB, so this bound at about 7.5 GB.
MOST_SYMBOL_MINUTES = 60_000


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the evaluation's arguments to ``parser``."""
    parser.add_argument(
        "file", nargs="?", metavar="FILE",
        help="score recorded ticks instead (a scenario, .csv or .jsonl file, or -); no oracle",
    )  # fmt: skip
    parser.add_argument(
        "--kinds", type=_kinds, default=None, metavar="K,K",
        help=f"generated market kinds, comma-separated (default: all of {', '.join(KINDS)})",
    )  # fmt: skip
    parser.add_argument("--symbols", type=_positive(int), default=None, metavar="N",
                        help="symbols per market kind (200)")  # fmt: skip
    parser.add_argument("--minutes", type=_positive(float), default=None, metavar="M",
                        help="event time per market, minutes (60)")  # fmt: skip
    parser.add_argument("--seed", type=seed, default=None, help="seed of the generated markets (0)")
    parser.add_argument(
        "--bands", type=_bands, default=list(DEFAULT_BANDS), metavar="PCT,PCT",
        help="limits this many percent either side of each symbol's first price (1,2,3); "
        "below 1 with its %% sign (0.5%%), as --band reads 0.03 as 3%%",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    parser.add_argument("--skip-bad", action="store_true",
                        help="skip and count bad lines of FILE instead of stopping")  # fmt: skip
    add_engine_options(parser, limits=False, skip=_OWN_SETTINGS)


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the evaluation the arguments describe; return the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    # The generated markets' options: said to be ignored for a file, else their defaults.
    generated = {"--kinds": "kinds", "--symbols": "symbols", "--minutes": "minutes",
                 "--seed": "seed"}  # fmt: skip
    if args.file is not None:
        given = [option for option, name in generated.items() if getattr(args, name) is not None]
        if given:
            verb = "shapes" if len(given) == 1 else "shape"
            print(f"limitwatch evaluate: {', '.join(given)} {verb} the generated markets, "
                  f"not {args.file}: ignored", file=err)  # fmt: skip
    defaults = {"kinds": list(KINDS), "symbols": 200, "minutes": 60.0, "seed": 0}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    source = None
    try:
        suggested: dict[str, Any] = {}
        if args.file is not None:  # its header's engine settings, unless an option says
            from tui.runtime.backtest import open_file

            source = open_file(args.file, skip_bad=args.skip_bad, additive=args.additive)
            suggested = dict(getattr(source, "engine", {}) or {})
        config = engine_config(args, suggested, header_of(args.file or ""), chart=False)
    except (OptionError, SourceError, BacktestError) as exc:
        print(fmt.literal(f"limitwatch evaluate: {exc}{skip_hint(exc)}", keep="\n"), file=err)
        return 2
    if args.file is None and args.symbols * args.minutes > MOST_SYMBOL_MINUTES:
        print(
            f"limitwatch evaluate: {args.symbols:,} symbols x {args.minutes:g} minutes is more "
            f"than {MOST_SYMBOL_MINUTES:,} symbol-minutes per market (the default is "
            f"{200 * 60:,}): its ticks would not fit in memory; ask for fewer",
            file=err,
        )
        return 2
    results: dict[str, Evaluation] = {}
    started = time.monotonic()
    ctrl_c = CtrlC()
    try:
        _score(args, config, source, results, started, err, ctrl_c)
    except (SourceError, StoreError, BacktestError) as exc:
        print(fmt.literal(f"limitwatch evaluate: {exc}{skip_hint(exc)}", keep="\n"), file=err)
        return 2
    except LimitError as exc:  # a band too narrow for the limits to differ
        print(f"limitwatch evaluate: {exc}: widen --bands", file=err)
        return 2
    except KeyboardInterrupt:
        done = f"figures of {', '.join(results)} below" if results else "nothing scored"
        print(f"evaluate: stopped by Ctrl-C after {time.monotonic() - started:.0f} s ({done})",
              file=err)  # fmt: skip
        if not results:
            return 130
        ctrl_c.hit = True
    finally:
        ctrl_c.restore()
    for line in skipped_lines(source):
        print(fmt.literal(line), file=err)
    note = cut_short(source)
    if note is not None:
        print(fmt.literal(f"evaluate: {note}"), file=err)
    skipped = int(getattr(source, "skipped", 0) or 0)
    if skipped:
        print(f"evaluate: {fmt.count(skipped, 'bad line')} skipped", file=err)
    if not ctrl_c.hit:
        print(f"evaluate: done in {time.monotonic() - started:.0f} s", file=err)
    elif args.file is not None:  # (stopped between markets, it said so above)
        print(f"evaluate: stopped by Ctrl-C after {time.monotonic() - started:.0f} s: the "
              "figures below are of the ticks read until then", file=err)  # fmt: skip
    if args.json:
        doc = {
            "engine": {f.name: getattr(config, f.name) for f in dataclasses.fields(config)},
            "bands_pct": list(args.bands),
            "markets": {k: ev.to_dict() for k, ev in results.items()},
        }
        if args.file is None:
            doc.update(symbols=args.symbols, minutes=args.minutes, seed=args.seed)
        else:  # what was read of it, as the backtest's summary says (stderr alone did)
            doc.update(
                file=args.file,
                ticks=int(getattr(source, "ticks", 0) or 0),
                skipped=skipped,
                skipped_lines=list(getattr(source, "skipped_reasons", [])),
                notes=[] if note is None else [note],
            )
        doc["interrupted"] = ctrl_c.hit
        out.write(msgspec.json.encode(doc).decode() + "\n")
    else:
        print(table(results, _terminal_width(out)), file=out)
        if any(ev.row(ORACLE) is None for ev in results.values()):
            print("(no oracle: the truth behind recorded ticks is unknown)", file=out)
    out.flush()
    return 130 if ctrl_c.hit else 0  # partial figures: what was read before Ctrl-C


def _terminal_width(out: TextIO) -> int | None:
    """The columns of the terminal ``out`` writes to; None where it is no terminal (a
    file or a pipe keeps the table whole, one line per row)."""
    try:
        if not out.isatty():
            return None
        return os.get_terminal_size(out.fileno()).columns or None  # 0: a pty of no size
    except (AttributeError, OSError, ValueError):
        return None
