"""The `limitwatch` command line: every command's options, and the error line they share.

The parser is built without any UI: the monitor's own code is reached only by
:mod:`tui.cli`, so the headless commands never load a terminal library.
"""

from __future__ import annotations

import argparse
import importlib.metadata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from engine.config import MAX_SYMBOLS
from producer.fields import Fields, FieldsError
from producer.kafka_config import is_secret, redact
from producer.kafka_producer import STOP_FLUSH_S, parse_speed
from producer.keeper import BROKER_MEMORY_MIB, MIN_BROKER_MEMORY_MIB
from producer.markets import HELD_OUT, KINDS
from tui.runtime import backtest, evaluate
from tui.runtime import settings as settings_file
from tui.runtime.common import DEFAULT_RATE
from tui.runtime.headless import PRODUCE_REPORT_S, run_engine, run_produce, run_record
from tui.runtime.history import KEEP_DAYS, KEEP_ROWS, default_export_dir, default_history_path
from tui.runtime.indicators import INDICATORS_TOPIC
from tui.runtime.keys import epilog
from tui.runtime.logs import default_log_path
from tui.runtime.options import (
    MOST_PARTITIONS,
    NO_CHART,
    add_additive_option,
    add_engine_options,
    add_plausibility_options,
    at_least_float,
    at_most,
    group,
    optional_topic,
    port,
    positive_float,
    positive_int,
    seed,
    step_fraction,
    topic,
)
from tui.runtime.publish import SIGNALS
from tui.runtime.recorder import default_record_dir
from tui.runtime.shared_limits import LIMITS

#: The generator's fastest rate, ticks a second. Its event time moves a tick's share of
#: a second per tick, so a rate the producer cannot send (about 150,000 a second unpaced,
#: see the README's Performance) slows the market's clock instead: at 1e9, 1.85 M ticks
#: spanned under 2 ms of event time and every symbol stayed "warming up".
MAX_RATE = 1_000_000.0


def _rate(text: str) -> float:
    """--rate: a positive number of ticks a second, at most MAX_RATE."""
    value = positive_float(text)
    if value > MAX_RATE:
        raise argparse.ArgumentTypeError(
            f"expected at most {MAX_RATE:,.0f} ticks a second, got {text}: the generator's "
            "clock moves by a tick's share of a second per tick, so a rate faster than "
            "ticks can be sent slows its market down instead"
        )
    return value


def _speed(text: str) -> float:
    try:
        return parse_speed(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose error messages never show a secret (argparse repeats the
    arguments it cannot use, and one of them may be a password given to ``-X``), and
    say what is wrong in one line and where the options are listed, instead of after
    twenty lines of usage."""

    def error(self, message: str) -> NoReturn:
        hint = f"`{self.prog} --help` lists the options"
        if self._subparsers is not None:  # the top: the command's own options may be meant
            hint += f", `{self.prog} COMMAND --help` a command's"
        self.exit(2, f"{self.prog}: error: {redact(message)}\n({hint})\n")

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        """As argparse's, but words no option takes are said by the command they follow
        (``limitwatch backtest: error: ...``, with that command's ``--help``): argparse
        says them at the top, which pointed at every command but the one given."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = self._command(getattr(parsed, "command", None))
            (command or self).error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed

    def _command(self, name: str | None) -> argparse.ArgumentParser | None:
        """The parser of command ``name``, if this parser has commands and that is one."""
        if self._subparsers is None or name is None:
            return None
        for action in self._subparsers._group_actions:
            if isinstance(action, argparse._SubParsersAction):
                found = action.choices.get(name)
                if isinstance(found, argparse.ArgumentParser):
                    return found
        return None


#: The option that passes one librdkafka property.
PROPERTY_OPTION = "-X"


def secrets_in_argv(argv: list[str]) -> list[str]:
    """The secret values on a command line, found before it is parsed so that no error
    message can show them: ``-X key=value`` for a secret key, and the next word that is no
    option when the value is missing (``-X sasl.password hunter2``, ``-X sasl.password=
    hunter2``)."""
    found: list[str] = []
    for i, token in enumerate(argv):
        if token == PROPERTY_OPTION:
            given, rest = (argv[i + 1] if i + 1 < len(argv) else ""), argv[i + 2 :]
        elif token.startswith(PROPERTY_OPTION) and not token.startswith("--"):
            given, rest = token[len(PROPERTY_OPTION) :].lstrip("="), argv[i + 1 :]
        else:
            continue
        key, _sep, value = given.partition("=")
        if is_secret(key):
            found.append(value or next((w for w in rest if not w.startswith("-")), ""))
    return [value for value in found if value]


def add_kafka_options(p: argparse.ArgumentParser, *, embedded: bool = True) -> None:
    g = p.add_argument_group("Kafka")
    g.add_argument(
        "--bootstrap-servers", metavar="HOST:PORT",
        help="a Kafka cluster to use; without it an embedded broker starts on 127.0.0.1"
        if embedded else "the Kafka cluster to use (required), unless --kafka-config or -X "
        "gives bootstrap.servers",
    )  # fmt: skip
    g.add_argument(
        PROPERTY_OPTION, dest="kafka_properties", action="append", default=[],
        metavar="KEY=VALUE",
        help="a librdkafka property for every Kafka client, e.g. security.protocol=SASL_SSL "
        "(repeatable; beats --kafka-config; ${VAR} reads the environment)",
    )  # fmt: skip
    g.add_argument(
        "--kafka-config", type=Path, metavar="FILE",
        help="librdkafka properties in the Java .properties format, as Kafka's own tools "
        "read them; ${VAR} reads the environment, so secrets stay out of the file",
    )  # fmt: skip
    g.add_argument(
        "--topic", type=topic, default="prices", help="the ticks topic (default: %(default)s)"
    )
    g.add_argument(
        "--partitions", type=at_most(MOST_PARTITIONS), default=4,
        help=f"partitions when the topic is created, at most {MOST_PARTITIONS:,} "
        "(default: %(default)s)",
    )  # fmt: skip
    if embedded:
        g.add_argument("--broker-port", type=port, help="port of the embedded broker")
        g.add_argument(
            "--broker-memory", default=BROKER_MEMORY_MIB, metavar="MIB",
            type=at_least_float(
                MIN_BROKER_MEMORY_MIB,
                "a fresh broker takes about 18 MiB, and a budget near it restarts the broker "
                "every few seconds",
            ),
            help="memory budget of the embedded broker: at it, the broker is restarted empty "
            "once everything on it is read (default: %(default)s)",
        )  # fmt: skip
    g.add_argument(
        "--log-file", type=Path, default=None,
        help=f"where logs go, librdkafka's included (default: {default_log_path()})",
    )  # fmt: skip


def _fields(text: str) -> Fields:
    try:
        return Fields.parse(text)
    except FieldsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_fields_options(p: argparse.ArgumentParser, *, monitor: bool = False) -> None:
    """The shape of the ticks read, for every command that consumes."""
    g = p.add_argument_group("ticks of another shape")
    g.add_argument(
        "--fields", type=_fields, metavar="MAP",
        help="where symbol, price and time are in each message, e.g. symbol=s,price=p,ts=T:ms "
        "or symbol=@key,price=data.price,ts=@timestamp: dotted names for nested fields, a "
        "price as number or decimal text, ts in s, ms, us, ns or iso; @key and @timestamp "
        "are the message's own (default: limitwatch's own shape; or [topic] fields in "
        "the settings file)",
    )  # fmt: skip
    if not monitor:
        g.add_argument(
            "--config", type=Path, default=None, metavar="FILE",
            help=f"settings file whose [topic] fields apply (default: "
            f"{settings_file.default_path()})",
        )  # fmt: skip


def add_source_options(p: argparse.ArgumentParser, *, with_source: bool = True) -> None:
    """Where ticks come from; without `with_source` (replay FILE) no generator settings."""
    g = p.add_argument_group("source")
    if with_source:
        g.add_argument(
            "--source", default="generator", metavar="SPEC",
            help="generator, metrics (this machine's /proc figures), a file of CSV or JSON "
            "lines or a scenario, or - for standard input (default: %(default)s)",
        )  # fmt: skip
        g.add_argument("--seed", type=seed, default=7, help="generator seed (default: %(default)s)")
        g.add_argument(
            "--rate", type=_rate, default=None,
            help="generator ticks per second, all symbols together, at most "
            f"{MAX_RATE:,.0f} (default: {DEFAULT_RATE:g}); a file keeps its own times",
        )  # fmt: skip
        g.add_argument(
            "--symbols", type=at_most(MAX_SYMBOLS), default=12,
            help="how many symbols the generator makes up (default: %(default)s)",
        )  # fmt: skip
    else:
        p.set_defaults(seed=7, rate=None, symbols=12)
    g.add_argument(
        "--speed", type=_speed, default=1.0,
        help="pace factor for files and scenarios, e.g. 0.5, 2, 10, or max, at least 0.001 "
        "(default: 1)",
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


def add_shared_limits_options(p: argparse._ActionsContainer, *, role: str) -> None:
    """Where limits are shared between monitors and engines (see tui.runtime.shared_limits);
    `role`: "monitor", "engine" or "record"."""
    what = {
        "monitor": "a limit set with a key is sent there, and every engine's and monitor's "
        "applied, the latest of each symbol winning over --limit, the settings file and the "
        "source's",
        "engine": "the limits monitors set there are applied, the latest of each symbol "
        "winning over --limit",
        "record": "the limits monitors set there go in the scenario's header, so a replay "
        "signals as the cluster did (read for up to 3 s first; created if missing, as every "
        "monitor and engine does)",
    }[role]
    p.add_argument(
        "--limits-topic", type=topic, default=LIMITS, metavar="TOPIC",
        help=f"the compacted topic of shared limits: {what} (default: %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--no-shared-limits", dest="limits_topic", action="store_const", const=None,
        help="keep limits to this process",
    )  # fmt: skip


def add_published_topics(p: argparse._ActionsContainer, *, view: bool) -> None:
    """--signals-topic and --indicators-topic: where `engine` publishes, and (`view`)
    where `--view` reads what the engines publish."""
    signals, indicators = (
        ("with --view: where the engines publish signals",
         "with --view: where the engines publish indicators")
        if view else
        ("where signals are published",
         "the compacted topic each symbol's indicators and forecasts are published to "
         "(key: symbol), at most once a second")
    )  # fmt: skip
    p.add_argument(
        "--signals-topic", type=topic, default=SIGNALS, metavar="TOPIC",
        help=signals + " (default: %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--indicators-topic", type=topic if view else optional_topic,
        default=INDICATORS_TOPIC, metavar="TOPIC",
        help=indicators + " (" + ("" if view else "'' for none; ") + "default: %(default)s)",
    )  # fmt: skip


def add_monitor_options(p: argparse.ArgumentParser, *, replay: bool = False) -> None:
    add_kafka_options(p)
    add_engine_options(p)
    add_plausibility_options(p)
    if not replay:  # a replay reads what its own producer writes: limitwatch's shape
        add_fields_options(p, monitor=True)
    g = p.add_argument_group("monitor")
    g.add_argument(
        "--step", type=step_fraction, default=None,
        help="limit step per key press, e.g. 0.5%% (default: from the config file, else 0.5%%)",
    )  # fmt: skip
    g.add_argument(
        "--config", type=Path, default=None, metavar="FILE",
        help=f"settings and remembered limits (default: {settings_file.default_path()})",
    )  # fmt: skip
    g.add_argument(
        "--group",
        type=group,
        help="consumer group (share partitions with other limitwatch engines)",
    )
    g.add_argument(
        "--no-producer", action="store_true", help="only consume; something else produces"
    )
    if not replay:
        g.add_argument(
            "--view", action="store_true",
            help="attach to a cluster's engines (limitwatch engine) and show what they "
            "publish: indicators, signals, each engine's partitions, lag and health; no "
            "producer or engine of its own",
        )  # fmt: skip
        add_published_topics(g, view=True)
    add_shared_limits_options(g, role="monitor")
    g.add_argument(
        "--from-beginning", action=argparse.BooleanOptionalAction, default=None,
        help="start at the oldest tick (default: yes on the embedded broker, no on a cluster)",
    )  # fmt: skip
    g.add_argument(
        "--record-dir", type=Path, default=None,
        help=f"where r (record) writes scenario files (default: {default_record_dir()})",
    )  # fmt: skip
    g.add_argument(
        "--signal-history", type=Path, default=None, metavar="FILE",
        help=f"the SQLite file that keeps signals across runs, {KEEP_DAYS:g} days and "
        f"{KEEP_ROWS:,} signals at most (default: {default_history_path()})",
    )  # fmt: skip
    g.add_argument(
        "--no-signal-history", action="store_true",
        help="keep no signals across runs (e exports nothing then)",
    )  # fmt: skip
    g.add_argument(
        "--export-dir", type=Path, default=None, metavar="DIR",
        help=f"where e and E write the signals they export (default: {default_export_dir()})",
    )  # fmt: skip


def _version() -> str:
    """The installed package's version (``unknown`` when run from a source tree that was
    never installed)."""
    try:
        return importlib.metadata.version("limitwatch")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


#: The port `limitwatch serve` listens on by default.
SERVE_PORT = 8000


def build_parser() -> argparse.ArgumentParser:
    """The full command line."""
    parser = Parser(
        prog="limitwatch",
        description=(
            "Watch live prices on Kafka and get told ahead of time when a price is about to "
            "reach your buy limit (low) or your sell limit (high)."
        ),
        epilog=epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"limitwatch {_version()}",
        help="print limitwatch's version and exit",
    )  # fmt: skip
    add_monitor_options(parser)
    add_source_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    rep = sub.add_parser(
        "replay", help="the monitor on a scenario or file, replayed through Kafka",
        description="The monitor on a scenario or price file, replayed through Kafka at its "
        "recorded pace (see --speed). A scenario's header sets the limits and engine settings.",
        epilog="example: limitwatch replay scenarios/crash.jsonl --speed 4",
    )  # fmt: skip
    rep.add_argument("file", metavar="FILE", help="a scenario, or a file of CSV or JSON lines")
    add_monitor_options(rep, replay=True)
    add_source_options(rep, with_source=False)
    rep.set_defaults(func=None)

    srv = sub.add_parser(
        "serve", help="the monitor as a web page, one monitor per browser tab",
        description="Serve the monitor as a web page (textual-serve): each browser tab that "
        "opens it runs its own monitor with the options given here, the same keys included. "
        "It listens on 127.0.0.1 only unless --host says otherwise; anyone who can open the "
        "page can change limits, so do not expose it beyond machines you trust.",
        epilog="example: limitwatch serve --port 8000 --source metrics, then open "
        "http://127.0.0.1:8000",
        allow_abbrev=False,  # its own options are taken out by name before the monitor's
    )  # fmt: skip
    srv.add_argument(
        "--port", type=port, default=SERVE_PORT,
        help="the port to listen on (default: %(default)s)",
    )  # fmt: skip
    srv.add_argument(
        "--host", default="127.0.0.1",
        help="the address to listen on (default: %(default)s, this machine only)",
    )  # fmt: skip
    add_monitor_options(srv)
    add_source_options(srv)
    srv.set_defaults(func=None)

    rec = sub.add_parser(
        "record", help="record the live prices topic to a scenario file",
        description="Record the prices topic of a Kafka cluster to a scenario file, until "
        "Ctrl-C, --duration or --count; replay it with 'limitwatch replay OUT'.",
        epilog="example: limitwatch record today.jsonl --bootstrap-servers HOST:9092 "
        "--duration 600",
    )  # fmt: skip
    rec.add_argument("out", metavar="OUT", type=Path, help="the scenario file to write (.jsonl)")
    add_kafka_options(rec, embedded=False)
    add_plausibility_options(rec)
    add_additive_option(rec)
    add_fields_options(rec)
    rec.add_argument("--duration", type=positive_float, metavar="S", help="stop after S seconds")
    rec.add_argument("--count", type=positive_int, help="stop after recording this many ticks")
    rec.add_argument(
        "--from-beginning", action=argparse.BooleanOptionalAction, default=False,
        help="record the ticks already on the topic too (default: only new ones)",
    )  # fmt: skip
    rec.add_argument(
        "--group", metavar="GROUP", type=group,
        help="consumer group: a recording started again with the same group goes on where "
        "the last one stopped, even a killed one (offsets are committed only once the ticks "
        "are in the file)",
    )  # fmt: skip
    rec.add_argument(
        "--description", default=None,
        help="the scenario's one-line description (default: recorded from the live TOPIC "
        "topic)",
    )  # fmt: skip
    add_shared_limits_options(rec, role="record")
    rec.set_defaults(func=run_record)

    backtest.add_parser(sub)

    ev = sub.add_parser(
        "evaluate", help="score the forecast on generated markets or your own recorded ticks",
        description="Score the forecast: calibration per decile, Brier skill, lead time "
        "against a proximity and a volatility-scaled alarm at equal precision, ETA accuracy "
        f"and WATCH counts, on generated markets of {len(KINDS)} kinds ({len(HELD_OUT)} of "
        "them held out: never used to choose the engine's settings but the drift's "
        "half-life), with an oracle that "
        "knows the true drift and volatility, or on your own recorded ticks (FILE).",
        epilog="example: limitwatch evaluate --kinds drift,reverting --symbols 50 --minutes 20",
    )  # fmt: skip
    evaluate.add_arguments(ev)
    ev.set_defaults(func=evaluate.run)

    eng = sub.add_parser(
        "engine", help="headless engine: consume, publish and print signals as JSON lines",
        description="A headless engine: join a consumer group on the prices topic, print "
        "each signal as a JSON line and publish it to the signals topic. Engines started "
        "with the same --group split the topic's partitions between them.",
        epilog="example: limitwatch engine --bootstrap-servers HOST:9092 > signals.jsonl",
    )  # fmt: skip
    add_kafka_options(eng, embedded=False)
    add_engine_options(eng, skip=NO_CHART)  # it draws no chart: keeps no history
    add_plausibility_options(eng)
    add_fields_options(eng)
    eng.add_argument(
        "--group",
        default="limitwatch-engine",
        type=group,
        help="consumer group (default: %(default)s)",
    )
    eng.add_argument(
        "--from-beginning", action=argparse.BooleanOptionalAction, default=True,
        help="when the group has no committed offsets, start at the oldest tick (default: yes)",
    )  # fmt: skip
    eng.add_argument(
        "--publish", action=argparse.BooleanOptionalAction, default=True,
        help="publish each signal to --signals-topic (key: symbol; JSON with its stable id) "
        "and commit the input offsets only once those are delivered (default: yes)",
    )  # fmt: skip
    add_published_topics(eng, view=False)
    eng.add_argument(
        "--rebuild", action=argparse.BooleanOptionalAction, default=True,
        help="before reading a partition it is handed (at its start or by a rebalance), "
        "read that partition's ticks up to the group's committed offset again, signals "
        "dropped, so its signals continue as if it had never stopped (default: yes)",
    )  # fmt: skip
    add_shared_limits_options(eng, role="engine")
    eng.set_defaults(func=run_engine)

    prod = sub.add_parser(
        "produce", help="headless producer: send ticks to the topic",
        description="A headless producer: send the ticks of a source to the prices topic "
        "until the source ends, --count, or Ctrl-C. Every "
        f"{PRODUCE_REPORT_S:g} seconds it prints what it has "
        "produced, delivered and failed, and the delivered rate; on stop it waits at most "
        f"{STOP_FLUSH_S:g} s for the last deliveries and counts what is still undelivered "
        "as failed.",
        epilog="example: limitwatch produce --bootstrap-servers HOST:9092 --source metrics",
    )  # fmt: skip
    add_kafka_options(prod, embedded=False)
    add_source_options(prod)
    add_additive_option(prod)
    prod.add_argument("--count", type=positive_int, help="stop after this many ticks")
    prod.set_defaults(func=run_produce)
    return parser


#: Options before a command that every command reads, or that act before any runs.
EVERY_COMMANDS = frozenset({"--log-file", "--version", "-h", "--help"})
#: Commands that run the monitor, and read its options written before them.
MONITOR_COMMANDS = frozenset({"replay", "serve"})


def options_after_command(
    parser: argparse.ArgumentParser,
    argv: list[str],
    warn: Callable[[str], object] | None = None,
) -> list[str]:
    """`argv` with the options written before a command that the command defines as well
    (``limitwatch --fast 5 backtest FILE``) moved to just after it, where they take
    effect (before it, the command's own default would silently replace them). Options
    the command lacks (``--log-file``) stay where they are; those of the monitor before
    a command that runs none (``limitwatch --speed 3 evaluate FILE``) are said to
    ``warn``, as they have no effect."""
    takes_value = {
        option: action.nargs != 0
        for action in parser._actions  # argparse has no public listing of its options
        for option in action.option_strings
    }
    commands: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            commands.update(action.choices)
    given: list[list[str]] = []  # each option with its value
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            break
        if token in commands:
            own = commands[token]._option_string_actions
            moved = [opt for opt in given if _option_name(opt[0], takes_value) in own]
            kept = [opt for opt in given if opt not in moved]
            if warn is not None and token not in MONITOR_COMMANDS:
                for opt in kept:
                    name = _option_name(opt[0], takes_value)
                    if name not in EVERY_COMMANDS:
                        warn(f"{name} is an option of the monitor, not of {token}: ignored")
            return [
                *(t for opt in kept for t in opt),
                token,
                *(t for opt in moved for t in opt),
                *argv[i + 1 :],
            ]
        if token.startswith("-") and token != "-":
            name = _option_name(token, takes_value)
            attached = "=" in token or (not token.startswith("--") and len(token) > 2)
            if takes_value.get(name) and not attached and i + 1 < len(argv):
                given.append([token, argv[i + 1]])
                i += 1  # its value
            else:
                given.append([token])
        else:
            break  # a value argparse will refuse: leave the line as written
        i += 1
    return argv  # no command: the options are the monitor's


def _option_name(token: str, known: dict[str, bool]) -> str:
    """The option a word names, as argparse reads it: ``-Xkey=value`` is ``-X``, and an
    unambiguous prefix (``--fa``) the option it abbreviates."""
    if not token.startswith("--"):
        return token[:2]
    name = token.split("=", 1)[0]
    if name in known:
        return name
    matches = [option for option in known if option.startswith(name)]
    return matches[0] if len(matches) == 1 else name
