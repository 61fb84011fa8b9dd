"""The `limitwatch` command: the monitor by default, plus replay, record, backtest and
headless commands.

    limitwatch                            embedded broker + market generator + monitor
    limitwatch --source prices.csv        the monitor on a file (or -, metrics, generator)
    limitwatch replay scenarios/rally.jsonl --speed 10
    limitwatch record out.jsonl --bootstrap-servers HOST:9092
    limitwatch backtest scenarios/crash.jsonl --json
    limitwatch engine --bootstrap-servers HOST:9092 --group g     headless engine
    limitwatch produce --bootstrap-servers HOST:9092 --source metrics
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from confluent_kafka import KafkaException

from engine import EngineConfig, Signal
from producer.broker import BrokerError
from producer.files import FileSource
from producer.kafka_producer import ProducerThread, parse_speed
from producer.lookahead import LookaheadReader
from producer.source import Source
from producer.sources import SourceError, open_source
from producer.wire import Tick
from tui import backtest
from tui import config as settings_file
from tui import format as fmt
from tui.jsonout import signal_json
from tui.logs import LogFileError, default_log_path, setup_logging
from tui.options import (
    OptionError,
    add_engine_options,
    engine_config,
    fraction,
    header_of,
    limits_from,
    positive_float,
    positive_int,
)
from tui.pipeline import Pipeline, PipelineOptions
from tui.worker import ConsumerWorker, StartRecording

log = logging.getLogger("limitwatch")

#: How long the monitor waits for the first line of piped standard input before it
#: starts, to learn a scenario header's engine settings; a header later than that brings
#: its limits only (the engine is built by then).
HEADER_WAIT_S = 1.0


def _speed(text: str) -> float:
    try:
        return parse_speed(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_kafka_options(p: argparse.ArgumentParser, *, embedded: bool = True) -> None:
    g = p.add_argument_group("Kafka")
    g.add_argument(
        "--bootstrap-servers", metavar="HOST:PORT",
        help="a Kafka cluster to use; without it an embedded broker starts on 127.0.0.1"
        if embedded else "the Kafka cluster to use (required)",
    )  # fmt: skip
    g.add_argument("--topic", default="prices", help="the ticks topic (default: %(default)s)")
    g.add_argument(
        "--partitions", type=positive_int, default=4,
        help="partitions when the topic is created (default: %(default)s)",
    )  # fmt: skip
    if embedded:
        g.add_argument("--broker-port", type=positive_int, help="port of the embedded broker")
    g.add_argument(
        "--log-file", type=Path, default=None,
        help=f"where logs go, librdkafka's included (default: {default_log_path()})",
    )  # fmt: skip


def _add_source_options(p: argparse.ArgumentParser, *, with_source: bool = True) -> None:
    """Where ticks come from; without `with_source` (replay FILE) no generator settings."""
    g = p.add_argument_group("source")
    if with_source:
        g.add_argument(
            "--source", default="generator", metavar="SPEC",
            help="generator, metrics (this machine's /proc figures), a .csv or .jsonl file or "
            "scenario, or - for standard input (default: %(default)s)",
        )  # fmt: skip
        g.add_argument("--seed", type=int, default=7, help="generator seed (default: %(default)s)")
        g.add_argument(
            "--rate", type=positive_float, default=50.0,
            help="generator ticks per second, all symbols together (default: %(default)s)",
        )  # fmt: skip
        g.add_argument(
            "--symbols", type=positive_int, default=12,
            help="how many symbols the generator makes up (default: %(default)s)",
        )  # fmt: skip
    else:
        p.set_defaults(seed=7, rate=50.0, symbols=12)
    g.add_argument(
        "--speed", type=_speed, default=1.0,
        help="pace factor for files and scenarios, e.g. 0.5, 2, 10, or max (default: 1)",
    )  # fmt: skip
    g.add_argument(
        "--max-gap", type=positive_float, default=5.0, metavar="S",
        help="longest wait between two replayed ticks, in event seconds (default: %(default)s)",
    )  # fmt: skip
    g.add_argument("--loop", action="store_true", help="replay a file or scenario forever")
    g.add_argument(
        "--skip-bad",
        action="store_true",
        help="skip and count bad lines of a file instead of stopping",
    )


def _add_monitor_options(p: argparse.ArgumentParser) -> None:
    _add_kafka_options(p)
    add_engine_options(p)
    g = p.add_argument_group("monitor")
    g.add_argument(
        "--step", type=fraction, default=None,
        help="limit step per key press, e.g. 0.5%% (default: from the config file, else 0.5%%)",
    )  # fmt: skip
    g.add_argument(
        "--config", type=Path, default=None, metavar="FILE",
        help=f"settings and remembered limits (default: {settings_file.default_path()})",
    )  # fmt: skip
    g.add_argument(
        "--group", help="consumer group (share partitions with other limitwatch engines)"
    )
    g.add_argument(
        "--no-producer", action="store_true", help="only consume; something else produces"
    )
    g.add_argument(
        "--from-beginning", action=argparse.BooleanOptionalAction, default=None,
        help="start at the oldest tick (default: yes on the embedded broker, no on a cluster)",
    )  # fmt: skip
    g.add_argument(
        "--record-dir", type=Path, default=Path("."),
        help="where r (record) writes scenario files (default: the current directory)",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The full command line."""
    parser = argparse.ArgumentParser(
        prog="limitwatch",
        description=(
            "Watch live prices on Kafka and get told ahead of time when a price is about to "
            "reach your buy limit (low) or your sell limit (high)."
        ),
        epilog=(
            "Keys in the monitor: up/down select, b/B lower/raise buy, s/S lower/raise sell, "
            "space pause, +/- speed, r record, q quit."
        ),
    )
    _add_monitor_options(parser)
    _add_source_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    rep = sub.add_parser(
        "replay", help="the monitor on a scenario or file, replayed through Kafka",
        description="The monitor on a scenario or price file, replayed through Kafka at its "
        "recorded pace (see --speed). A scenario's header sets the limits and engine settings.",
        epilog="example: limitwatch replay scenarios/crash.jsonl --speed 4",
    )  # fmt: skip
    rep.add_argument("file", metavar="FILE", help="a scenario (.jsonl), .csv or .jsonl file")
    _add_monitor_options(rep)
    _add_source_options(rep, with_source=False)
    rep.set_defaults(func=run_replay)

    rec = sub.add_parser(
        "record", help="record the live prices topic to a scenario file",
        description="Record the prices topic of a Kafka cluster to a scenario file, until "
        "Ctrl-C, --duration or --count; replay it with 'limitwatch replay OUT'.",
        epilog="example: limitwatch record today.jsonl --bootstrap-servers HOST:9092 "
        "--duration 600",
    )  # fmt: skip
    rec.add_argument("out", metavar="OUT", type=Path, help="the scenario file to write (.jsonl)")
    _add_kafka_options(rec, embedded=False)
    rec.add_argument("--duration", type=positive_float, metavar="S", help="stop after S seconds")
    rec.add_argument("--count", type=positive_int, help="stop after recording this many ticks")
    rec.add_argument(
        "--from-beginning", action=argparse.BooleanOptionalAction, default=False,
        help="record the ticks already on the topic too (default: only new ones)",
    )  # fmt: skip
    rec.add_argument(
        "--description", default="recorded from the live prices topic",
        help="the scenario's one-line description (default: %(default)s)",
    )  # fmt: skip
    rec.set_defaults(func=run_record)

    backtest.add_parser(sub)

    eng = sub.add_parser(
        "engine", help="headless engine: consume, print signals as JSON lines",
        description="A headless engine: join a consumer group on the prices topic and print "
        "each signal as a JSON line. Engines started with the same --group split the "
        "topic's partitions between them.",
        epilog="example: limitwatch engine --bootstrap-servers HOST:9092 > signals.jsonl",
    )  # fmt: skip
    _add_kafka_options(eng, embedded=False)
    add_engine_options(eng)
    eng.add_argument(
        "--group", default="limitwatch-engine", help="consumer group (default: %(default)s)"
    )
    eng.add_argument(
        "--from-beginning", action=argparse.BooleanOptionalAction, default=True,
        help="when the group has no committed offsets, start at the oldest tick (default: yes)",
    )  # fmt: skip
    eng.set_defaults(func=run_engine)

    prod = sub.add_parser(
        "produce", help="headless producer: send ticks to the topic",
        description="A headless producer: send the ticks of a source to the prices topic "
        "until the source ends, --count, or Ctrl-C.",
        epilog="example: limitwatch produce --bootstrap-servers HOST:9092 --source metrics",
    )  # fmt: skip
    _add_kafka_options(prod, embedded=False)
    _add_source_options(prod)
    prod.add_argument("--count", type=positive_int, help="stop after this many ticks")
    prod.set_defaults(func=run_produce)
    return parser


def _kafka_reason(exc: KafkaException) -> str:
    """The readable part of a KafkaException."""
    err = exc.args[0] if exc.args else None
    return err.str() if hasattr(err, "str") else str(exc)


def _kafka_fail(bootstrap: str, exc: KafkaException) -> int:
    return _fail(f"could not reach Kafka at {bootstrap}: {_kafka_reason(exc)}")


def _fail(message: str) -> int:
    print(f"limitwatch: {message}", file=sys.stderr)
    return 2


def _open(
    args: argparse.Namespace, spec: str, stop: threading.Event, stdin: LookaheadReader | None = None
) -> Source:
    return open_source(
        spec, seed=args.seed, rate=args.rate, symbols=args.symbols, loop=args.loop,
        skip_bad=args.skip_bad, stop=stop, stdin=stdin,  # type: ignore[arg-type]
    )  # fmt: skip


def _source_and_engine(
    args: argparse.Namespace, spec: str, stop: threading.Event, stdin: LookaheadReader | None
) -> tuple[Source | None, EngineConfig]:
    """The monitor's source (None with --no-producer) and engine settings: the options,
    else the source's suggestions (a scenario header's, piped ones included), else the
    defaults."""
    source = None if args.no_producer else _open(args, spec, stop, stdin)
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


def run_monitor(args: argparse.Namespace, spec: str | None = None) -> int:
    """The interactive monitor."""
    from tui.app import LimitwatchApp

    stop = threading.Event()
    spec = spec or args.source
    config_path = args.config or settings_file.default_path()
    settings, problems = settings_file.load(config_path)
    if spec == "-" and sys.stdin.isatty():
        return _fail(
            "--source - reads ticks from standard input: pipe them in (tail -f f.csv | ...)"
        )
    stdin: LookaheadReader | None = None
    if spec == "-" and not args.no_producer:
        try:
            stdin = _take_piped_stdin(stop)
        except OSError as exc:
            return _fail(f"--source - needs a terminal for the keys as well: {exc.strerror or exc}")
    try:
        source, config = _source_and_engine(args, spec, stop, stdin)
    except (SourceError, OptionError, FileNotFoundError) as exc:
        return _fail(str(exc))
    log_path: Path | None = getattr(args, "log_path", None)  # set by main()
    options = PipelineOptions(
        bootstrap=args.bootstrap_servers,
        topic=args.topic,
        partitions=args.partitions,
        source=source,
        speed=args.speed,
        max_gap_s=args.max_gap,
        engine=config,
        group=args.group,
        from_beginning=args.from_beginning,
        broker_port=args.broker_port,
        broker_log=log_path.with_name("broker.log") if log_path else None,
        limits=_startup_limits(args, spec, source, settings),
        pinned=frozenset(sym for sym, _buy, _sell in args.limit),
        source_stop=stop,
    )
    pipeline = Pipeline(options)
    if args.bootstrap_servers:
        print(f"limitwatch: connecting to {args.bootstrap_servers}…", file=sys.stderr, flush=True)
    try:
        pipeline.start()
    except KafkaException as exc:
        return _fail(
            f"could not reach Kafka at {pipeline.bootstrap}: {_kafka_reason(exc)}. "
            "Check --bootstrap-servers, or leave it out to use the embedded broker."
        )
    except (BrokerError, OSError) as exc:
        return _fail(f"could not start the pipeline: {exc}")
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
            freeze_gc=True,
        )
        app.run()
    finally:
        if not pipeline.stop():
            print("limitwatch: some threads did not stop in time (see the log)", file=sys.stderr)
    return 0


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


def run_replay(args: argparse.Namespace) -> int:
    """The monitor on a scenario or file replayed through Kafka."""
    if Path(args.file).is_dir():
        return _fail(f"{args.file}: is a directory; replay takes a scenario or price file")
    if not Path(args.file).is_file():
        if Path(args.file).exists():  # a named pipe, say, as `replay <(cat x.jsonl)` gives
            return _fail(
                f"{args.file}: not a regular file; replay reads a file more than once. "
                "Pipe it in instead ('cat FILE | limitwatch --source -'), "
                "or run 'limitwatch backtest' on it"
            )
        return _fail(f"{args.file}: no such file")
    return run_monitor(args, spec=args.file)


class _Stopper:
    """Turns SIGINT/SIGTERM into an Event for headless loops."""

    def __init__(self) -> None:
        self.event = threading.Event()
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, _signum: int, _frame: FrameType | None) -> None:
        self.event.set()


def _headless_worker(args: argparse.Namespace, **kwargs: Any) -> ConsumerWorker:
    """A ConsumerWorker on --bootstrap-servers for the headless commands."""
    from producer.topics import ensure_topics

    ensure_topics(args.bootstrap_servers, args.topic, args.partitions)
    return ConsumerWorker(args.bootstrap_servers, topic=args.topic, **kwargs)


def run_engine(args: argparse.Namespace) -> int:
    """Headless engine: join the group, print each signal as a JSON line."""
    if not args.bootstrap_servers:
        return _fail("the headless engine needs --bootstrap-servers (the cluster to read)")

    def emit(signals: list[Signal]) -> None:
        for sig in signals:
            print(signal_json(sig), flush=True)

    try:
        config = engine_config(args)
        worker = _headless_worker(
            args, config=config, group=args.group, from_beginning=args.from_beginning,
            limits=limits_from(args), on_signals=emit,
        )  # fmt: skip
    except OptionError as exc:
        return _fail(str(exc))
    except KafkaException as exc:
        return _kafka_fail(args.bootstrap_servers, exc)
    return _run_headless(worker, "engine")


def run_record(args: argparse.Namespace) -> int:
    """Record the prices topic to a scenario file until Ctrl-C, --duration or --count."""
    if args.out.exists():
        return _fail(f"{args.out} exists; choose another name (nothing was overwritten)")
    if not args.bootstrap_servers:
        return _fail("record needs --bootstrap-servers (the cluster whose prices to record)")
    try:  # fail now, not after the recording: can the file be created there?
        with open(args.out, "x"):
            pass
        args.out.unlink()
    except OSError as exc:
        return _fail(f"cannot record to {args.out}: {exc.strerror or exc}")
    try:
        worker = _headless_worker(args, from_beginning=args.from_beginning, group=None)
    except KafkaException as exc:
        return _kafka_fail(args.bootstrap_servers, exc)
    worker.send(StartRecording(str(args.out), args.description, max_ticks=args.count))
    return _run_headless(worker, "record", duration=args.duration, recording=True)


def _run_headless(
    worker: ConsumerWorker, what: str, duration: float | None = None, recording: bool = False
) -> int:
    """Run a headless worker until Ctrl-C, `duration` seconds, or (`recording`) the end of
    its recording (its --count reached, or an error); exit status 1 after an error."""
    stopper = _Stopper()
    worker.start()
    started = last_status = time.monotonic()
    while worker.is_alive() and not stopper.event.wait(0.2):
        snap = worker.latest()
        if duration is not None and time.monotonic() - started >= duration:
            break
        # The worker answers the recording request with a notice (recording, or why not);
        # no file open after that means it ended: its --count reached, or an error.
        if recording and snap is not None and snap.notices and not snap.recording:
            break
        if time.monotonic() - last_status >= 5.0 and snap is not None:
            last_status = time.monotonic()
            k = snap.kafka
            parts = ",".join(str(p.partition) for p in k.partitions) or "none"
            extra = f", recorded {snap.recorded:,}" if snap.recording else ""
            print(
                f"limitwatch {what}: {k.consumed:,} ticks, {snap.signal_count:,} signals, "
                f"partitions {parts}, lag {k.total_lag:,}, {k.health}{extra}",
                file=sys.stderr,
                flush=True,
            )
    worker.stop()
    worker.join(3.0)
    last = worker.latest()
    notices = last.notices if last is not None else ()
    for notice in notices:
        print(f"limitwatch {what}: {notice.text}", file=sys.stderr)
    return 1 if any(n.error for n in notices) else 0


def run_produce(args: argparse.Namespace) -> int:
    """Headless producer: send the source's ticks until it ends, --count, or Ctrl-C."""
    from producer.topics import ensure_topics

    if not args.bootstrap_servers:
        return _fail("the headless producer needs --bootstrap-servers (the cluster to write to)")
    stop = threading.Event()
    stdin = LookaheadReader(os.dup(0), stop) if args.source == "-" else None
    try:
        source = _open(args, args.source, stop, stdin)
        ensure_topics(args.bootstrap_servers, args.topic, args.partitions)
    except (SourceError, FileNotFoundError) as exc:
        return _fail(str(exc))
    except KafkaException as exc:
        return _kafka_fail(args.bootstrap_servers, exc)
    sent = _Limited(source, args.count) if args.count else source
    thread = ProducerThread(
        args.bootstrap_servers, sent, topic=args.topic, speed=args.speed, max_gap_s=args.max_gap
    )
    stopper = _Stopper()
    thread.start()
    while thread.is_alive() and not stopper.event.wait(0.2):
        pass
    stop.set()
    thread.stop()
    thread.join(5.0)
    stats = thread.stats()
    print(
        f"limitwatch produce: {stats.produced:,} produced, {stats.delivered:,} delivered, "
        f"{stats.failed:,} failed" + (f"; {stats.last_error}" if stats.last_error else ""),
        file=sys.stderr,
    )
    skipped = getattr(source, "skipped", 0)
    if skipped:
        reasons = getattr(source, "skipped_reasons", [])
        first = f" (first: {reasons[0]})" if reasons else ""
        lines = fmt.count(skipped, "bad line")
        print(f"limitwatch produce: {lines} skipped{first}", file=sys.stderr)
    return 0 if stats.failed == 0 and not stats.last_error else 1


class _Limited:
    """The first `count` ticks of a source."""

    def __init__(self, source: Source, count: int) -> None:
        self.source = source
        self.count = count
        self.name = f"{source.name}[:{count}]"
        self.paced = source.paced
        self.limits = source.limits

    def __iter__(self) -> Iterator[Tick]:
        for n, tick in enumerate(self.source):
            if n >= self.count:
                return
            yield tick


def _options_before_command(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """Options written before a command that the command defines as well (``limitwatch
    --fast 5 backtest``): the command's own default would silently replace them, so they
    are refused. Options the command lacks (``--log-file``) keep working there."""
    takes_value = {
        option: action.nargs != 0
        for action in parser._actions  # argparse has no public listing of its options
        for option in action.option_strings
    }
    commands: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            commands.update(action.choices)
    given: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token in commands:
            own = commands[token]._option_string_actions
            return [name for name in given if name in own]
        if token.startswith("-") and token != "-":
            name = token.split("=", 1)[0]
            given.append(name)
            if takes_value.get(name) and "=" not in token:
                i += 1  # its value
        i += 1
    return []  # no command: the options are the monitor's


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `limitwatch` console script."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    misplaced = _options_before_command(parser, argv)
    if misplaced and getattr(args, "command", None):
        parser.error(
            f"{', '.join(misplaced)} must come after the command: "
            f"limitwatch {args.command} [options] ..."
        )
    try:
        # None when the default place cannot be written: the broker's log is skipped too.
        args.log_path = setup_logging(getattr(args, "log_file", None))
    except LogFileError as exc:
        return _fail(str(exc))
    func = getattr(args, "func", run_monitor)
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
