"""The interactive monitor: start the pipeline (broker, producer, consumer), run the app
on it, and stop everything when the app ends."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from confluent_kafka import KafkaException

from engine import EngineConfig
from engine.config import symbol_matcher
from engine.limits import limit_problem
from producer.broker import BrokerError
from producer.files import FileSource
from producer.lines import skip_hint
from producer.lookahead import LookaheadReader
from producer.source import Source, additive_of
from producer.sources import SourceError
from tui.runtime import settings as settings_file
from tui.runtime.common import (
    fail,
    kafka_advice,
    kafka_fail,
    kafka_problem,
    open_source_from,
    rate_unused,
    say,
)
from tui.runtime.history import SignalHistory, default_history_path
from tui.runtime.options import (
    OptionError,
    engine_config,
    header_of,
    impossible_limit,
    limits_from,
)
from tui.runtime.pipeline import Pipeline, PipelineOptions

if TYPE_CHECKING:
    from tui.runtime.view import ViewFeed

#: How long the monitor waits for the first line of piped standard input before it
#: starts, to learn a scenario header's engine settings; a header later than that brings
#: its limits only (the engine is built by then).
HEADER_WAIT_S = 1.0


def source_and_engine(
    args: argparse.Namespace, spec: str, stop: threading.Event, stdin: LookaheadReader | None
) -> tuple[Source | None, EngineConfig]:
    """The monitor's source (None with --no-producer) and engine settings: the options,
    else the source's suggestions (a scenario header's, piped ones included), else the
    defaults."""
    source = None if args.no_producer else open_source_from(args, spec, stop, stdin)
    if stdin is not None and isinstance(source, FileSource):
        source.read_header(HEADER_WAIT_S)
    suggested = dict(getattr(source, "engine", {}) or {})
    return source, engine_config(args, suggested, header_of(spec))


def _take_piped_stdin(stop: threading.Event) -> LookaheadReader:
    """Keep the piped ticks for the source and give the UI the terminal as its input.

    Textual reads keys from file descriptor 0; when ticks are piped in there, the pipe
    moves to a new descriptor and 0 is reopened on the controlling terminal.
    """
    data = os.dup(0)
    tty = os.open("/dev/tty", os.O_RDONLY)
    os.dup2(tty, 0)
    os.close(tty)
    return LookaheadReader(data, stop)


NO_TERMINAL = (
    "the monitor draws on a terminal, and its output is not one: run it in a terminal; "
    "without one, `limitwatch engine`, `produce`, `record` and `backtest` print lines, and "
    "`limitwatch serve` shows the monitor in a browser"
)


def _no_terminal(args: argparse.Namespace) -> int:
    """Refuse to run the monitor without a terminal, having said first what a command line
    can be told of a cluster named (unreachable, refused credentials)."""
    from producer.topics import reach
    from tui.runtime.common import connection, still_waiting

    if args.bootstrap_servers:
        try:
            reach(connection(args), timeout=10.0, waiting=still_waiting(args.bootstrap_servers))
        except KafkaException as exc:
            return kafka_fail(args.bootstrap_servers, exc, args.kafka_properties)
    return fail(NO_TERMINAL)


def _on_a_terminal() -> bool:
    """Whether the monitor has a screen to draw on: a terminal, or a browser's page under
    `limitwatch serve` (textual-serve names the driver that draws there). Drawn into a
    pipe, it wrote escape codes no one read, and once the reader had gone its threads
    blocked writing, so that neither Ctrl-C nor SIGTERM could stop it."""
    if os.environ.get("TEXTUAL_DRIVER"):
        return True
    try:
        return sys.__stdout__ is not None and sys.__stdout__.isatty()
    except (OSError, ValueError):
        return False


def run_monitor(args: argparse.Namespace, spec: str | None = None) -> int:
    """The interactive monitor."""
    from tui.app import LimitwatchApp

    stop = threading.Event()
    spec = spec or args.source
    config_path = args.config or settings_file.default_path()
    settings, problems = settings_file.load(config_path)
    if getattr(args, "view", False):
        return run_view(args, settings, config_path, problems)
    if spec == "-" and (sys.stdin is None or sys.stdin.isatty()):
        return fail(
            "--source - reads ticks from standard input: pipe them in (tail -f f.csv | ...)"
        )
    given_fields = getattr(args, "fields", None)  # replay has none
    if given_fields is not None and not args.no_producer:
        return fail(
            "--fields reads a topic that another program fills, and the monitor's own "
            "producer writes limitwatch's shape there: add --no-producer"
        )
    # The settings file's [topic] fields describe such a topic too; a producer of the
    # monitor's own writes limitwatch's shape, read as it is.
    fields = given_fields or (settings.fields if args.no_producer else None)
    stdin: LookaheadReader | None = None
    if spec == "-" and not args.no_producer:
        try:
            stdin = _take_piped_stdin(stop)
        except OSError as exc:
            return fail(f"--source - needs a terminal for the keys as well: {exc.strerror or exc}")
    try:
        source, config = source_and_engine(args, spec, stop, stdin)
    except (SourceError, OptionError, FileNotFoundError) as exc:
        return fail(str(exc))
    wrong = impossible_limit(args, _quantities(args, source))
    if wrong:
        return fail(wrong)
    # The engine starts without remembered limits it would refuse; the file keeps them
    # (a quantity's, saved in a run with --additive, are right again in the next such run).
    notes: list[str] = []
    unused = None if args.no_producer else rate_unused(args, spec)
    if unused:
        notes.append(unused)
    possible = _possible_remembered(args, source, settings, config_path, notes)
    if not _on_a_terminal():  # before anything starts (a producer would write to the cluster)
        return _no_terminal(args)
    history = None
    if not args.no_signal_history:
        history = SignalHistory(args.signal_history or default_history_path())
    log_path: Path | None = getattr(args, "log_path", None)  # set by main()
    options = PipelineOptions(
        bootstrap=args.bootstrap_servers,
        kafka_properties=args.kafka_properties,
        topic=args.topic,
        partitions=args.partitions,
        source=source,
        speed=args.speed,
        max_gap_s=args.max_gap,
        engine=config,
        group=args.group,
        from_beginning=args.from_beginning,
        broker_port=args.broker_port,
        broker_memory_mib=args.broker_memory,
        broker_log=log_path.with_name("broker.log") if log_path else None,
        limits=_startup_limits(args, spec, source, possible),
        pinned=frozenset(sym for sym, _buy, _sell in args.limit),
        remembered=_remembered_only(args, source, possible),
        source_stop=stop,
        max_ahead_s=args.max_ahead,
        max_behind_s=args.max_behind,
        max_jump=args.max_jump,
        additive=tuple(args.additive),
        fields=fields,
        limits_topic=args.limits_topic,
        on_signals=history.add if history is not None and history.enabled else None,
    )
    pipeline = Pipeline(options)
    if args.bootstrap_servers:
        say(f"connecting to {args.bootstrap_servers}…")
    try:
        pipeline.start()
    except KafkaException as exc:
        where = "Check --bootstrap-servers, or leave it out to use the embedded broker."
        problem = kafka_problem(pipeline.bootstrap, exc, args.kafka_properties)
        return fail(f"{problem}. {kafka_advice(exc, where, args.kafka_properties)}")
    except (BrokerError, OSError) as exc:
        return fail(f"could not start the pipeline: {exc}")
    try:
        where = "embedded broker" if pipeline.broker else pipeline.bootstrap
        app = LimitwatchApp(
            pipeline,
            step=args.step,
            sub_title=f"{where} · {args.topic}",
            record_dir=args.record_dir,
            settings=settings,
            config_path=config_path,
            problems=problems,
            notes=notes,
            freeze_gc=True,
            history=history,
            export_dir=args.export_dir,
            fixed_limits=_fixed_limits(spec, source, options.pinned),
        )
        app.run()
    finally:
        if not pipeline.stop():
            # Daemon threads: they end with the process, which exits now.
            print(
                f"limitwatch: quit before {' and '.join(pipeline.unfinished)} had closed "
                "(a broker that does not answer holds a Kafka client's close); nothing of "
                "it is left running (the log says more)",
                file=sys.stderr,
            )
        if history is not None:
            history.close()
    failure = pipeline.worker.failure if pipeline.worker is not None else None
    if failure is not None:  # the monitor said so; its exit status says so too
        where = f"the log at {log_path}" if log_path is not None else "the log"
        say(f"the reading stopped: {failure} ({where} says more)")
        return 1
    fed = pipeline.producer.stats() if pipeline.producer is not None else None
    if fed is not None and fed.bad_input:  # as `produce` (a toast said it; it exited 0)
        say(f"the source stopped on bad input: {fed.last_error}")
        return 2
    return app.return_code or 0  # 1 after an error the app could not handle (it was 0)


def run_view(
    args: argparse.Namespace,
    settings: settings_file.Settings,
    config_path: Path,
    problems: list[str],
) -> int:
    """`limitwatch --view`: the monitor on what a cluster's engines publish (see
    :mod:`tui.runtime.view`), with no producer and no engine of its own."""
    from producer.topics import reach
    from tui.app import LimitwatchApp
    from tui.runtime.common import connection
    from tui.runtime.shared_limits import SharedLimits
    from tui.runtime.view import ViewFeed, ViewOptions

    if not args.bootstrap_servers:
        return fail(
            "--view shows what the engines on a cluster publish: give --bootstrap-servers "
            "(or bootstrap.servers in --kafka-config)"
        )
    conn = connection(args)
    say(f"connecting to {args.bootstrap_servers}…")
    try:  # refused credentials said at once, as the other commands say them
        reach(conn, timeout=10.0)
    except KafkaException as exc:
        return kafka_fail(args.bootstrap_servers, exc, args.kafka_properties)
    if not _on_a_terminal():  # after what a command line can be told of the cluster
        return fail(NO_TERMINAL)
    history = None
    if not args.no_signal_history:
        history = SignalHistory(args.signal_history or default_history_path())
    shared = None
    feeds: list[ViewFeed] = []  # the feed, once made: its rows say which are quantities
    if args.limits_topic:  # a key's limits go to the engines through the limits topic
        shared = SharedLimits(conn, lambda *ask: _judged(feeds, *ask), topic=args.limits_topic)
        shared.start()
    options = ViewOptions(
        conn, topic=args.topic, signals_topic=args.signals_topic,
        indicators_topic=args.indicators_topic, engine=engine_config(args),
        on_signals=history.add if history is not None and history.enabled else None,
    )  # fmt: skip
    feed = ViewFeed(options, share=shared.share if shared is not None else None)
    feeds.append(feed)
    feed.start()
    try:
        app = LimitwatchApp(
            feed, step=args.step,
            sub_title=f"view of {args.bootstrap_servers}",
            record_dir=args.record_dir, settings=settings, config_path=config_path,
            problems=problems, freeze_gc=True, history=history, export_dir=args.export_dir,
        )  # fmt: skip
        app.run()
    finally:
        if shared is not None:
            shared.stop(timeout=1.0)
        if not feed.stop():
            print("limitwatch: the view's reader did not stop in time (see the log)",
                  file=sys.stderr)  # fmt: skip
        if history is not None:
            history.close()
    return app.return_code or 0


def _judged(feeds: list[ViewFeed], symbol: str, buy: float, sell: float, _side: str) -> str | None:
    """A view applies no limits record (it shows the engines' limits): it judges one as
    the engines do, so that one they refuse is counted and logged as refused, not as
    applied (``buy -5`` of a price was logged "limits of LUMA from '': buy -5.0"). A
    symbol the engines have not shown yet is judged by the one rule that holds for
    quantities too, buy below sell."""
    snap = feeds[0].latest() if feeds else None
    additive = True
    if snap is not None and symbol in snap.engine.symbols:
        additive = bool(snap.engine.additive[snap.engine.symbols.index(symbol)])
    return limit_problem(buy, sell, additive=additive)


def _quantities(args: argparse.Namespace, source: Source | None) -> Callable[[str], bool]:
    """Whether a symbol is a quantity (--additive, or the source says so), not a price."""
    return symbol_matcher((*args.additive, *additive_of(source)))


def _possible_remembered(
    args: argparse.Namespace,
    source: Source | None,
    settings: settings_file.Settings,
    config_path: Path,
    problems: list[str],
) -> settings_file.Settings:
    """`settings` without the remembered limits the engine would refuse, each said in
    `problems` (at start, beside the file's own; they do not make the file one that did
    not load cleanly). The settings file lets a limit of 0 or below through, as a
    quantity's may be; only here are the --additive symbols known. (Each was refused in a
    toast as its symbol first ticked, and a second such toast hid the first.)"""
    additive = _quantities(args, source)
    kept: dict[str, tuple[float, float]] = {}
    for symbol, (buy, sell) in settings.limits.items():
        problem = None if additive(symbol) else limit_problem(buy, sell)
        if problem is None:
            kept[symbol] = (buy, sell)
        else:
            problems.append(
                f"{config_path}: limits.{symbol} = [{buy:g}, {sell:g}] left out: {problem}"
            )
    return settings if len(kept) == len(settings.limits) else replace(settings, limits=kept)


def _fixed_limits(spec: str, source: Source | None, pinned: frozenset[str]) -> frozenset[str]:
    """Symbols whose limits `a` leaves alone: those given with --limit, and a scenario's
    or file's own (the generators' suggested limits are automatic, like the band)."""
    if source is None or spec in ("generator", "metrics"):
        return pinned
    return pinned | frozenset(source.limits)


def _startup_limits(
    args: argparse.Namespace, spec: str, source: Source | None, settings: settings_file.Settings
) -> dict[str, tuple[float, float]]:
    """The limits to start with, weakest first: a generated market's suggestions, then the
    remembered ones; a scenario's or file's own limits beat the remembered ones (so a
    replay calls the market as recorded); --limit beats everything."""
    suggested = dict(source.limits) if source is not None else {}
    if spec in ("generator", "metrics"):
        limits = {**suggested, **settings.limits}
    else:
        limits = {**settings.limits, **suggested}
    return limits_from(args, limits)


def _remembered_only(
    args: argparse.Namespace, source: Source | None, settings: settings_file.Settings
) -> frozenset[str]:
    """Symbols whose starting limits only the settings file gives (remembered from
    another run, perhaps on another source): they get a row once they tick, not before."""
    given = {sym for sym, _buy, _sell in args.limit}
    if source is not None:
        given |= set(source.limits)
    return frozenset(settings.limits) - given


def run_replay(args: argparse.Namespace) -> int:
    """The monitor on a scenario or file replayed through Kafka."""
    if args.file == "-" and not Path("-").exists():
        return fail(
            "replay reads a file more than once (speeds, --loop); for ticks on standard "
            "input use 'limitwatch --source -' (cat FILE | limitwatch --source -)"
        )
    if Path(args.file).is_dir():
        return fail(f"{args.file}: is a directory; replay takes a scenario or price file")
    if not Path(args.file).is_file():
        if Path(args.file).exists():  # a named pipe, say, as `replay <(cat x.jsonl)` gives
            return fail(
                f"{args.file}: not a regular file; replay reads a file more than once. "
                "Pipe it in instead ('cat FILE | limitwatch --source -'), "
                "or run 'limitwatch backtest' on it"
            )
        from producer.files import why_missing

        return fail(f"{args.file}: {why_missing(args.file)}")
    why = _no_first_tick(args)
    if why:
        return fail(why)
    return run_monitor(args, spec=args.file)


def _no_first_tick(args: argparse.Namespace) -> str:
    """Why the file cannot be replayed, said before the screen opens ("" when its first
    tick reads, opened as the replay opens it): an empty, header-only, binary or
    compressed file opened the whole screen to say so in a notice."""
    try:
        for _tick in open_source_from(args, args.file, threading.Event()):
            return ""
    except SourceError as exc:
        return f"{exc}{skip_hint(exc)}"
    return f"{args.file}: no ticks to replay"
