"""The headless commands: `engine` (signals as JSON lines, and on the signals topic),
`record` and `produce`.

None of them loads a UI library; each runs until its work ends, a limit, or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from types import FrameType
from typing import Any

from confluent_kafka import KafkaException

from engine import Signal
from engine.config import symbol_matcher
from producer.control import ProducerStats
from producer.fields import Fields
from producer.files import STDIN_CLOSED
from producer.kafka_config import redact
from producer.kafka_producer import STOP_FLUSH_S, ProducerThread
from producer.keeper import BrokerKeeper
from producer.lookahead import LookaheadReader
from producer.source import Source
from producer.sources import SourceError
from producer.topics import set_up_topics, ticks_topics
from producer.wire import Tick
from tui.runtime import format as fmt
from tui.runtime import settings as settings_file
from tui.runtime.commands import StartRecording
from tui.runtime.common import (
    connection,
    fail,
    kafka_fail,
    open_source_from,
    quiet_stdout,
    rate_unused,
    say,
    still_waiting,
)
from tui.runtime.consumer import ConsumerWorker, OutputError
from tui.runtime.health import lag_unknown
from tui.runtime.indicators import IndicatorPublisher
from tui.runtime.jsonout import signal_json
from tui.runtime.options import OptionError, engine_config, impossible_limit, limits_from
from tui.runtime.plausibility import plausibility_for
from tui.runtime.publish import PositionCommitter, SignalPublisher
from tui.runtime.shared_limits import CATCH_UP_S, SharedLimits, origin_name, to_worker
from tui.runtime.snapshot import KafkaStats, Notice, Snapshot

#: While `produce` runs, how often it prints what it has sent, in seconds.
PRODUCE_REPORT_S = 5.0
#: How long an engine that stops with its broker silent or down waits for its last
#: heartbeat to be delivered, in seconds.
INDICATORS_DOWN_FLUSH_S = 0.5
#: How long a headless command waits for its worker to end at the stop: its signals
#: delivered and their offsets committed take milliseconds with the broker up; with it
#: frozen they never come, and the wait was the most of an engine's 5 s at Ctrl-C.
WORKER_STOP_S = 2.0


class _Stopper:
    """Turns SIGINT, SIGTERM and SIGHUP (the terminal closed) into an Event for headless
    loops: each stops the command as Ctrl-C does, its offsets committed and its summary
    given (SIGHUP used to end it on the spot, leaving a monitor's view of the engines
    to list it as silent for good). Standard output and error on a terminal are wrapped
    in :class:`_TerminalStream`, as that terminal may be the one that closed."""

    def __init__(self) -> None:
        self.event = threading.Event()
        for fd, name in ((1, "stdout"), (2, "stderr")):
            if _is_tty(fd):  # asked now: once the terminal has hung up, asking may fail
                setattr(sys, name, _TerminalStream(getattr(sys, name), fd))
        for name in ("SIGINT", "SIGTERM", "SIGHUP"):
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            # SIGHUP ignored when the command started stays ignored: under `nohup
            # limitwatch engine &` the engine and producer ended when the terminal that
            # started them closed. (SIGINT is taken whatever: a script's background job
            # starts with it ignored, and `kill -INT` is how such a job is stopped.)
            if sig == signal.SIGHUP and signal.getsignal(sig) is signal.SIG_IGN:
                continue
            signal.signal(sig, self._handle)

    def _handle(self, _signum: int, _frame: FrameType | None) -> None:
        self.event.set()


class _TerminalStream:
    """Standard output or error on a terminal that may hang up: a write or flush that
    fails with EIO (the terminal is gone) points the descriptor at /dev/null instead of
    raising. A line written to a closed terminal, before or after its SIGHUP was
    handled, ended the command with a traceback before its offsets were committed (in
    the consumer's thread, a signal printed ended that thread). A SIGHUP sent while the
    terminal is still there leaves the output on it."""

    def __init__(self, stream: Any, fd: int) -> None:
        self._stream, self._fd = stream, fd

    def write(self, text: str) -> int:
        self._guarded(self._stream.write, text)
        return len(text)  # all of it, as a text stream says (or gone where nothing reads)

    def flush(self) -> None:
        self._guarded(self._stream.flush)

    def _guarded(self, call: Callable[..., object], *args: Any) -> None:
        """``call(*args)``; if the terminal is gone, /dev/null from now on."""
        try:
            call(*args)
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            with contextlib.suppress(OSError):
                sink = os.open(os.devnull, os.O_WRONLY)
                os.dup2(sink, self._fd)
                os.close(sink)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _is_tty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def fields_of(args: argparse.Namespace) -> Fields | None:
    """The shape of the ticks to read: --fields, else the settings file's [topic] fields,
    else limitwatch's own. OptionError when the file's mapping cannot be read."""
    if args.fields is not None:
        return args.fields
    if args.config is not None and not args.config.is_file():
        exists = args.config.exists()
        what = "a folder" if args.config.is_dir() else "not a file" if exists else "no such file"
        raise OptionError(f"--config {args.config}: {what}")
    settings, problems = settings_file.load(args.config or settings_file.default_path())
    for problem in problems:
        # A file named with --config that cannot be read stops the command; the default
        # one (written by the monitor, which reads the rest) is only a word of warning.
        if "topic.fields" in problem or args.config is not None:
            raise OptionError(problem.removesuffix("; using the defaults"))
        say(problem)
    return settings.fields


def _topics_kept(args: argparse.Namespace, writes: bool = False) -> BrokerKeeper:
    """Set up the topics on --bootstrap-servers; a keeper (not started) that creates them
    again if the cluster comes back without them: those this command created and, where
    it ``writes`` the ticks (the producer), the prices topic whoever made it, with the
    partitions found (one made by an engine killed since was made again by nobody after
    the broker came back empty, and the producer waited for it for ever)."""
    conn = connection(args)
    waiting = still_waiting(args.bootstrap_servers)
    count, created = set_up_topics(conn, args.topic, args.partitions, waiting=waiting)
    if writes:
        created = {**ticks_topics(args.topic, count), **created}
    return BrokerKeeper(conn, created)


def _headless_worker(
    args: argparse.Namespace, fields: Fields | None, **kwargs: Any
) -> tuple[ConsumerWorker, BrokerKeeper]:
    """A ConsumerWorker on --bootstrap-servers for the headless commands, and the keeper
    of the topics it set up."""
    keeper = _topics_kept(args)
    checks = plausibility_for(None, args.max_ahead, args.max_jump, args.max_behind)
    worker = ConsumerWorker(
        connection(args), topic=args.topic, plausibility=checks, fields=fields,
        additive=tuple(getattr(args, "additive", ())),
        started_at=getattr(args, "started_at", None), **kwargs,
    )  # fmt: skip
    return worker, keeper


def run_engine(args: argparse.Namespace) -> int:
    """Headless engine: join the group, print each signal as a JSON line and publish it
    to the signals topic; commit the input offsets once those are delivered."""
    from producer.topics import ensure_topics

    if not args.bootstrap_servers:
        return fail("the headless engine needs --bootstrap-servers (the cluster to read)")
    publisher: SignalPublisher | None = None

    def emit(signals: list[Signal]) -> None:
        try:
            for sig in signals:
                print(signal_json(sig), flush=True)
        except OSError as exc:  # a full disk, a pipe whose reader has gone
            quiet_stdout()
            why = exc.strerror or str(exc)
            raise OutputError(
                f"stopped: the signals cannot be written to standard output ({why}); no "
                "offset is committed past them: the next run with this --group reads them "
                "again"
            ) from exc
        if publisher is not None:
            publisher.publish(signals)

    try:
        config = engine_config(args, chart=False)
        wrong = impossible_limit(args, symbol_matcher(getattr(args, "additive", ())))
        if wrong:
            return fail(wrong)
        fields = fields_of(args)  # a bad mapping is said before anything connects
        indicators = None
        if args.publish:
            ensure_topics(
                connection(args), args.signals_topic, args.partitions, dead_letters=False,
                waiting=still_waiting(args.bootstrap_servers),
            )  # fmt: skip
            publisher = SignalPublisher(connection(args), args.signals_topic)
            if args.indicators_topic:
                indicators = IndicatorPublisher(
                    connection(args), args.indicators_topic, args.partitions, origin_name()
                )
        worker, keeper = _headless_worker(
            args, fields, config=config, group=args.group, from_beginning=args.from_beginning,
            limits=limits_from(args), on_signals=emit,
            committer=publisher if publisher is not None else PositionCommitter(),
            rebuild=args.rebuild, on_event=lambda name, fields: print_event("engine", name, fields),
        )  # fmt: skip
        shared = _shared_limits(args, worker)
    except OptionError as exc:
        return fail(str(exc))
    except KafkaException as exc:
        return kafka_fail(args.bootstrap_servers, exc, args.kafka_properties)

    def on_snapshot(snap: Snapshot) -> None:
        assert indicators is not None
        indicators.publish(snap.engine)
        _beat(indicators, snap, "REBUILDING" if worker.rebuilding else None)

    # At the stop the shared limits' reader ends beside the worker, not after it: each
    # waits for a frozen broker up to its own bound, and one after the other they held
    # an engine 5.5 s at Ctrl-C.
    stopping = threading.Thread(target=shared.stop if shared is not None else lambda: None)
    code = _run_headless(
        worker, keeper, "engine", on_snapshot=on_snapshot if indicators else None,
        on_stop=stopping.start,
    )  # fmt: skip
    if indicators is not None:
        last = worker.latest()
        if last is not None:  # what the last ticks left, however soon after the previous
            indicators.publish(last.engine, now=math.inf)
            _beat(indicators, last, "STOPPED")
        # With the broker silent or down the last heartbeat cannot be delivered: no 2 s
        # wait for it (an engine took 6.4 s to quit during a broker's freeze). Nor where
        # the signals could not be, or the worker got no answer to its close: a freeze too
        # young for the lag to be unknown.
        silent = last is not None and lag_unknown(last.kafka)
        if silent or worker.is_alive() or (publisher is not None and publisher.left):
            indicators.close(INDICATORS_DOWN_FLUSH_S)
        else:
            indicators.close()
        said = f"limitwatch engine: {indicators.summary()}"
        print(redact(said + (f"; {indicators.last_error}" if indicators.last_error else "")),
              file=sys.stderr)  # fmt: skip
    if stopping.ident is not None:  # started at the stop; bounded by its own waits
        stopping.join()
    _stop_shared(shared, "engine", args.limits_topic)  # said now (stopping again is nothing)
    if publisher is not None:
        said = f"limitwatch engine: {publisher.summary()}"
        if publisher.last_error:
            said += f"; {publisher.last_error}"
        print(redact(said), file=sys.stderr)
        code = code or (1 if publisher.failed else 0)
    else:  # what it did all the same (stopped by SIGTERM it said nothing at all)
        last = worker.latest()
        if last is not None:
            read, printed = fmt.count(last.kafka.consumed, "tick"), last.signal_count
            print(f"limitwatch engine: {read} read, {fmt.count(printed, 'signal')} printed, "
                  "none published (--no-publish)", file=sys.stderr)  # fmt: skip
    return code


def _shared_limits(args: argparse.Namespace, worker: ConsumerWorker) -> SharedLimits | None:
    """The reader of --limits-topic handing what users set to `worker`'s engine, started
    and caught up (before the first tick is read); None under --no-shared-limits."""
    if not args.limits_topic:
        return None
    shared = SharedLimits(connection(args), to_worker(worker), topic=args.limits_topic)
    shared.start(catch_up_s=CATCH_UP_S)
    return shared


def _stop_shared(shared: SharedLimits | None, what: str, topic: str) -> None:
    """Stop the shared limits' reader and say what it applied and refused."""
    if shared is None:
        return
    shared.stop()
    s, bad = shared.stats(), shared.bad_by()
    if s.applied or bad:
        said = f"limitwatch {what}: {fmt.count(s.applied, 'limit change')} read from {topic}"
        if bad:
            said += (
                f"; {sum(bad.values()):,} unreadable ("
                + ", ".join(f"{why} {n:,}" for why, n in sorted(bad.items()))
                + ")"
            )
        print(redact(said), file=sys.stderr)


def _beat(indicators: IndicatorPublisher, snap: Snapshot, health: str | None = None) -> None:
    """The engine's heartbeat on the indicators topic, from its latest snapshot; `health`
    in place of the snapshot's (``REBUILDING``, ``STOPPED``)."""
    k = snap.kafka
    parts = sorted(k.partitions, key=lambda p: p.partition)
    indicators.beat(
        [p.partition for p in parts], [p.lag for p in parts], k.consumed, snap.signal_count,
        health or k.health, bad=k.bad_by, dead_lettered=k.dead_lettered,
    )  # fmt: skip


def event_line(what: str, name: str, fields: dict[str, Any]) -> str:
    """One event as one line of ``key=value`` pairs (logfmt): ``limitwatch engine:
    event=rebuilt partitions=0,1 ticks=1200``. Lists are joined by commas, a value with
    a space or a quote is quoted."""
    parts = [f"event={name}"]
    for key, value in fields.items():
        if isinstance(value, (list, tuple)):
            text = ",".join(str(v) for v in value) or "-"
        elif isinstance(value, dict):
            text = ",".join(f"{k}:{v}" for k, v in value.items()) or "-"
        else:
            text = str(value)
        if not text or any(c in text for c in ' "='):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        parts.append(f"{key}={text}")
    return f"limitwatch {what}: " + " ".join(parts)


def say_line(text: str) -> None:
    """Write one line to stderr in a single write: ``print`` writes the text and the
    newline apart, and a line said by another thread (an event of the consumer's, a
    status line) could land between them (``... OKlimitwatch engine: event=lost``, the
    event lost to a reader of lines)."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def print_event(what: str, name: str, fields: dict[str, Any]) -> None:
    """Say an event of a headless command on stderr, one line (see :func:`event_line`)."""
    say_line(redact(event_line(what, name, fields)))


def run_record(args: argparse.Namespace) -> int:
    """Record the prices topic to a scenario file until Ctrl-C, --duration or --count."""
    if str(args.out) == "-":
        return fail("record writes a scenario file, not standard output: give a file name")
    if args.out.exists():
        return fail(f"{args.out} exists; choose another name (nothing was overwritten)")
    if not args.bootstrap_servers:
        return fail("record needs --bootstrap-servers (the cluster whose prices to record)")
    try:  # fail now, not after the recording: can the file be created there?
        with open(args.out, "x"):
            pass
        args.out.unlink()
    except OSError as exc:
        return fail(f"cannot record to {args.out}: {exc.strerror or exc}")
    try:
        worker, keeper = _headless_worker(
            args, fields_of(args), from_beginning=args.from_beginning, group=args.group,
            commit_recorded=True,
        )  # fmt: skip
        # The limits users set, in the header (a replay signals as the cluster did).
        shared = _shared_limits(args, worker)
    except OptionError as exc:
        return fail(str(exc))
    except KafkaException as exc:
        return kafka_fail(args.bootstrap_servers, exc, args.kafka_properties)
    worker.send(StartRecording(str(args.out), args.description, max_ticks=args.count))
    code = _run_headless(worker, keeper, "record", duration=args.duration, recording=True)
    _stop_shared(shared, "record", args.limits_topic)
    return code


def _run_headless(
    worker: ConsumerWorker,
    keeper: BrokerKeeper,
    what: str,
    duration: float | None = None,
    recording: bool = False,
    on_snapshot: Callable[[Snapshot], object] | None = None,
    on_stop: Callable[[], object] | None = None,
) -> int:
    """Run a headless worker until Ctrl-C, `duration` seconds, or (`recording`) the end of
    its recording (its --count reached, or an error); exit status 1 after an error."""
    stopper = _Stopper()
    keeper.start()
    worker.start()
    started = last_status = time.monotonic()
    told = 0  # the notices said so far, by their sequence number
    told_recovery = ""  # the consumer's last reset, once said
    while worker.is_alive() and not stopper.event.wait(0.2):
        snap = worker.latest()
        if snap is not None:  # as they come (a refused limit was told only at the end)
            told = _tell(snap.notices, told, what)
        if duration is not None and time.monotonic() - started >= duration:
            break
        # The worker answers the recording request with a notice (recording, or why not);
        # no file open after that means it ended: its --count reached, or an error.
        if recording and snap is not None and snap.notices and not snap.recording:
            break
        if on_snapshot is not None and snap is not None:
            on_snapshot(snap)
        if time.monotonic() - last_status >= 5.0 and snap is not None:
            last_status = time.monotonic()
            line = status_line(snap, told_recovery, worker.rebuild_progress)
            told_recovery = snap.kafka.recovery
            say_line(f"limitwatch {what}: {redact(line)}")
    keeper.stop()
    worker.stop()
    if on_stop is not None:  # what else ends at the stop, beside the worker
        on_stop()
    worker.join(WORKER_STOP_S)
    keeper.join(1.0)
    last = worker.latest()
    notices = last.notices if last is not None else ()
    _tell(notices, told, what)
    if last is not None and last.kafka.bad:  # not in the file, no signal of theirs: say so
        k = last.kafka
        left = " and not recorded" if recording else ""
        say_line(
            f"limitwatch {what}: {fmt.count(k.bad, 'message')} refused{left} "
            f"({_reasons(k)}), {k.dead_lettered:,} copied to the dead-letter topic"
        )
    if worker.failure is not None:
        say_line(f"limitwatch {what}: {redact(worker.failure)}")
        return 1
    return 1 if any(n.error for n in notices) else 0


def _tell(notices: Iterable[Notice], told: int, what: str) -> int:
    """Print the notices after sequence number `told`; the last one printed."""
    for notice in notices:
        if notice.seq > told:
            say_line(f"limitwatch {what}: {redact(notice.text)}")
            told = notice.seq
    return told


def _reasons(k: KafkaStats) -> str:
    """The messages refused, by reason: ``future time 3, old time 1``."""
    return ", ".join(f"{problem} {n:,}" for problem, n in k.bad_by)


def status_line(
    snap: Snapshot,
    told_recovery: str = "",
    rebuilding: tuple[tuple[int, ...], int, int] | None = None,
) -> str:
    """What a headless command says every few seconds: ticks, signals, partitions, lag
    (``?`` while the broker is down or silent), health, refused messages by reason and
    refused symbols when there are any, and the consumer's last reset unless it is
    `told_recovery` (said on an earlier line). While the partitions given to it are read
    again (``rebuilding``: them, ticks read, of how many) it says so: no snapshot comes
    meanwhile, and the last one's "partitions none yet, WAIT" (or STALL, the ticks
    waiting unread) was said for 13 s of a rebuild with the broker well."""
    k = snap.kafka
    head = f"{fmt.count(k.consumed, 'tick')}, {fmt.count(snap.signal_count, 'signal')}, "
    if rebuilding is not None:
        given, read, total = rebuilding
        parts = ",".join(map(str, given)) or "none"
        done = f"{read:,} of {total:,} ticks read again"
        return f"{head}partitions {parts}, lag ?, REBUILDING ({done})"
    parts = ",".join(str(p.partition) for p in k.partitions) or "none yet"
    if k.topic_missing:  # not the group's doing: the cluster has no such topic now
        parts = f"none (topic {k.topic} missing)"
    elif k.idle:  # not "yet": the group gave them all to its other members
        parts = "none (the group's other members hold them all)"
    # With no partitions there is no lag to tell: "partitions none, lag 0, OK" was said
    # while the group had yet to assign any and tens of thousands of ticks waited.
    lag = "?" if lag_unknown(k) or not k.partitions else f"{k.total_lag:,}"
    health = k.health
    # None to read yet. Nor is a stall with none: just after `event=assigned`, while the
    # engine rebuilt its state, the line said "partitions none yet, STALL" (a broker
    # gone silent meanwhile is still said).
    if not k.partitions and (health == "OK" or (health == "STALL" and not k.broker_silent_s)):
        health = "WAIT"
    if k.idle and health in ("WAIT", "STALL"):  # an idle member is not stalled
        health = "IDLE"
    line = f"{head}partitions {parts}, lag {lag}, {health}"
    if k.bad_by:
        line += f", bad {k.bad:,} ({_reasons(k)}), dead-lettered {k.dead_lettered:,}"
    if snap.engine.refused:
        line += f", {fmt.count(snap.engine.refused, 'symbol')} refused (max_symbols)"
    if snap.engine.evicted:
        line += f", {snap.engine.evicted:,} idle evicted for new symbols (max_symbols)"
    if snap.recording:
        line += f", recorded {snap.recorded:,}"
    if k.duplicates:
        line += f", {k.duplicates:,} read twice (sent again after the broker was away)"
    if k.recovery and k.recovery != told_recovery:
        line += f"; last reset {k.recovery}"
    return line


def run_produce(args: argparse.Namespace) -> int:
    """Headless producer: send the source's ticks until it ends, --count, or Ctrl-C."""
    if not args.bootstrap_servers:
        return fail("the headless producer needs --bootstrap-servers (the cluster to write to)")
    if args.source == "-" and sys.stdin is None:  # started with it closed (`<&-`)
        return fail(f"{STDIN_CLOSED}: give a file, or pipe ticks in")
    stop = threading.Event()
    stdin = LookaheadReader(os.dup(0), stop) if args.source == "-" else None
    unused = rate_unused(args, args.source)
    if unused:
        say(unused)
    try:
        source = open_source_from(args, args.source, stop, stdin)
        keeper = _topics_kept(args, writes=True)
    except (SourceError, FileNotFoundError) as exc:
        return fail(str(exc))
    except KafkaException as exc:
        return kafka_fail(args.bootstrap_servers, exc, args.kafka_properties)
    sent = _Limited(source, args.count) if args.count else source
    thread = ProducerThread(
        connection(args), sent, topic=args.topic, speed=args.speed, max_gap_s=args.max_gap
    )
    stopper = _Stopper()
    keeper.start()
    thread.start()
    last_report = time.monotonic()
    moved = (0, last_report)  # the delivered count, and when it last moved
    while thread.is_alive() and not stopper.event.wait(0.2):
        if time.monotonic() - last_report >= PRODUCE_REPORT_S:  # a sign of life meanwhile
            last_report = time.monotonic()
            stats = thread.stats()
            if stats.delivered != moved[0]:
                moved = (stats.delivered, last_report)
            print(
                f"limitwatch produce: {_sent(stats)}{_rate(stats)}"
                f"{_stuck(stats, last_report - moved[1])}",
                file=sys.stderr,
                flush=True,
            )
    stop.set()
    keeper.stop()
    thread.stop()
    thread.join(5.0)
    keeper.join(1.0)
    stats = thread.stats()
    print(
        f"limitwatch produce: {_sent(stats, final=True)}{_flushed(stats)}"
        + (f"; {fmt.literal(redact(stats.last_error))}" if stats.last_error else ""),
        file=sys.stderr,
    )
    if stats.note:  # its last tick may be cut short, as the backtest says too
        print(f"limitwatch produce: {fmt.literal(stats.note)}", file=sys.stderr)
    skipped = getattr(source, "skipped", 0)
    if skipped:
        reasons = getattr(source, "skipped_reasons", [])
        first = f" (first: {fmt.literal(reasons[0])}; the log file names them)" if reasons else ""
        lines = fmt.count(skipped, "bad line")
        print(f"limitwatch produce: {lines} skipped{first}", file=sys.stderr)
    if stats.bad_input:  # as the other commands: the input, not a tick, failed
        return 2
    return 0 if stats.failed == 0 and not stats.last_error else 1


def _sent(stats: ProducerStats, final: bool = False) -> str:
    """Ticks produced, delivered and failed (`final`: said of the failed, at the stop, that
    a tick the broker wrote but whose answer was lost is among them: stopped while it was
    frozen, 224 "failed" and the topic held one of them)."""
    line = f"{stats.produced:,} produced, {stats.delivered:,} delivered, {stats.failed:,} failed"
    if final and stats.failed:
        line += " (not confirmed: one the broker wrote but whose answer was lost counts too)"
    if stats.resent:
        line += f", {stats.resent:,} sent again after the broker was away"
    if stats.waiting:
        line += f"; waiting: {stats.waiting}"
        if stats.waiting.endswith(" missing"):  # made again by this command's keeper
            line += (
                " (made again here within seconds; if it stays missing, the cluster may not "
                "let this producer create topics: see the log)"
            )
    return line


def _rate(stats: ProducerStats) -> str:
    return f", {stats.rate:,.0f} ticks/s delivered"


def _stuck(stats: ProducerStats, still_s: float) -> str:
    """Why nothing is delivered where ticks wait for the broker's answer (a broker frozen
    less than the 30 s after which its client calls it down read as "0 ticks/s
    delivered" only, while "produced" rose).

    >>> _stuck(ProducerStats("g", produced=900, delivered=400), 12.0)
    '; none delivered for 12 s, 500 waiting: the broker does not answer (frozen or overloaded?)'
    >>> _stuck(ProducerStats("g", produced=400, delivered=400), 12.0)
    ''
    """
    waiting = stats.produced - stats.delivered - stats.failed
    if still_s < PRODUCE_REPORT_S or waiting <= 0 or stats.waiting:
        return ""
    return (
        f"; none delivered for {still_s:.0f} s, {waiting:,} waiting: the broker does not "
        "answer (frozen or overloaded?)"
    )


def _flushed(stats: ProducerStats) -> str:
    """How long the stop flush took, against its bound."""
    if stats.flush_s is None:
        return ""
    return f"; stop flush {stats.flush_s:.2f} s (at most {STOP_FLUSH_S:g} s)"


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

    def __getattr__(self, name: str) -> Any:
        """The rest as the source has it (a named pipe's `streaming`, `release`,
        `named_pipe`: without them `produce --source FIFO --count N` read the pipe in the
        sending thread, which a quiet writer held)."""
        return getattr(self.source, name)
