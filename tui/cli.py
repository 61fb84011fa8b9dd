"""The `limitwatch` command: the monitor by default, plus headless and offline commands.

limitwatch                      embedded broker + market generator + monitor
limitwatch --bootstrap-servers HOST:9092 --group g     monitor a real cluster
limitwatch engine --bootstrap-servers HOST:9092 --group g   headless engine (JSON lines)
limitwatch produce --bootstrap-servers HOST:9092        headless producer
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from confluent_kafka import KafkaException

from engine import EngineConfig
from producer.broker import BrokerError
from producer.generator import MarketGenerator
from producer.kafka_producer import ProducerThread, parse_speed
from producer.source import Source
from tui.jsonout import signal_json
from tui.logs import default_log_path, setup_logging
from tui.pipeline import Pipeline, PipelineOptions

log = logging.getLogger("limitwatch")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _probability(text: str) -> float:
    value = _positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a probability between 0 and 1, got {text!r}")
    return value


def _speed(text: str) -> float:
    try:
        return parse_speed(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _percent(text: str) -> float:
    raw = text.strip()
    value = _positive_float(raw[:-1]) / 100 if raw.endswith("%") else _positive_float(raw)
    if value >= 1:
        raise argparse.ArgumentTypeError(
            f"expected a fraction below 1 or a percentage, got {text!r}"
        )
    return value


def _limit(text: str) -> tuple[str, float, float]:
    try:
        symbol, rest = text.rsplit("=", 1)
        buy_text, sell_text = rest.split(":", 1)
        buy, sell = float(buy_text), float(sell_text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected SYMBOL=BUY:SELL, got {text!r}") from None
    if not (0 < buy < sell and math.isfinite(sell)):
        raise argparse.ArgumentTypeError(f"{text!r}: need 0 < buy < sell")
    return symbol, buy, sell


def _add_kafka_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Kafka")
    g.add_argument(
        "--bootstrap-servers",
        metavar="HOST:PORT",
        help="a Kafka cluster to use; without it an embedded broker starts on 127.0.0.1",
    )
    g.add_argument("--topic", default="prices", help="the ticks topic (default: %(default)s)")
    g.add_argument(
        "--partitions", type=_positive_int, default=4,
        help="partitions when the topic is created (default: %(default)s)",
    )  # fmt: skip
    g.add_argument("--broker-port", type=_positive_int, help="port of the embedded broker")
    g.add_argument(
        "--log-file", type=Path, default=None,
        help=f"where logs go, librdkafka's included (default: {default_log_path()})",
    )  # fmt: skip


def _add_source_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("source")
    g.add_argument(
        "--seed", type=int, default=7, help="market generator seed (default: %(default)s)"
    )
    g.add_argument(
        "--rate", type=_positive_float, default=50.0,
        help="generator ticks per second, all symbols together (default: %(default)s)",
    )  # fmt: skip
    g.add_argument(
        "--symbols", type=_positive_int, default=12,
        help="how many symbols the generator makes up (default: %(default)s)",
    )  # fmt: skip
    g.add_argument(
        "--speed", type=_speed, default=1.0,
        help="pace factor for timed sources, or 'max' (default: 1)",
    )  # fmt: skip


def _add_engine_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("engine")
    d = EngineConfig()
    g.add_argument(
        "--fast",
        type=_positive_int,
        default=d.fast,
        help="fast average window in ticks (default: %(default)s)",
    )
    g.add_argument(
        "--slow",
        type=_positive_int,
        default=d.slow,
        help="slow average window in ticks (default: %(default)s)",
    )
    g.add_argument(
        "--halflife",
        type=_positive_float,
        default=d.halflife_s,
        help="EMA/volatility half-life in seconds (default: %(default)s)",
    )
    g.add_argument(
        "--horizon",
        type=_positive_float,
        default=d.horizon_s,
        help="forecast horizon in seconds (default: %(default)s)",
    )
    g.add_argument(
        "--alert-p",
        type=_probability,
        default=d.alert_p,
        help="probability that raises a WATCH signal (default: %(default)s)",
    )
    g.add_argument(
        "--limit", type=_limit, action="append", default=[], metavar="SYMBOL=BUY:SELL",
        help="a symbol's limits (repeatable)",
    )  # fmt: skip


def _engine_config(args: argparse.Namespace) -> EngineConfig:
    return EngineConfig(
        fast=args.fast,
        slow=max(args.slow, args.fast + 1),
        halflife_s=args.halflife,
        horizon_s=args.horizon,
        alert_p=args.alert_p,
    )


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
            "q quit."
        ),
    )
    _add_kafka_options(parser)
    _add_source_options(parser)
    _add_engine_options(parser)
    g = parser.add_argument_group("monitor")
    g.add_argument(
        "--step",
        type=_percent,
        default=0.005,
        help="limit step per key press, e.g. 0.5%% (default: 0.5%%)",
    )
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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    eng = sub.add_parser("engine", help="headless engine: consume, print signals as JSON lines")
    _add_kafka_options(eng)
    _add_engine_options(eng)
    eng.add_argument(
        "--group", default="limitwatch-engine", help="consumer group (default: %(default)s)"
    )
    eng.add_argument("--from-beginning", action=argparse.BooleanOptionalAction, default=True)
    eng.set_defaults(func=run_engine)

    prod = sub.add_parser("produce", help="headless producer: send ticks to the topic")
    _add_kafka_options(prod)
    _add_source_options(prod)
    prod.add_argument("--count", type=_positive_int, help="stop after this many ticks")
    prod.set_defaults(func=run_produce)
    return parser


def _source(args: argparse.Namespace) -> Source:
    return MarketGenerator(symbols=args.symbols, rate=args.rate, seed=args.seed)


def _fail(message: str) -> int:
    print(f"limitwatch: {message}", file=sys.stderr)
    return 2


def run_monitor(args: argparse.Namespace) -> int:
    """The interactive monitor."""
    from tui.app import LimitwatchApp

    source = None if args.no_producer else _source(args)
    options = PipelineOptions(
        bootstrap=args.bootstrap_servers,
        topic=args.topic,
        partitions=args.partitions,
        source=source,
        speed=args.speed,
        engine=_engine_config(args),
        group=args.group,
        from_beginning=args.from_beginning,
        broker_port=args.broker_port,
        broker_log=args.log_file.with_name("broker.log")
        if args.log_file
        else default_log_path().with_name("broker.log"),
        limits={s: (b, x) for s, b, x in args.limit},
    )
    pipeline = Pipeline(options)
    try:
        pipeline.start()
    except (BrokerError, KafkaException, OSError) as exc:
        return _fail(f"could not start the pipeline: {exc}")
    try:
        where = "embedded broker" if pipeline.broker else pipeline.bootstrap
        LimitwatchApp(pipeline, step=args.step, sub_title=f"{where} · {args.topic}").run()
    finally:
        if not pipeline.stop():
            print("limitwatch: some threads did not stop in time (see the log)", file=sys.stderr)
    return 0


class _Stopper:
    """Turns SIGINT/SIGTERM into an Event for headless loops."""

    def __init__(self) -> None:
        self.event = threading.Event()
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, _signum: int, _frame: FrameType | None) -> None:
        self.event.set()


def run_engine(args: argparse.Namespace) -> int:
    """Headless engine: join the group, print each signal as a JSON line."""
    from tui.worker import ConsumerWorker

    if not args.bootstrap_servers:
        return _fail("the headless engine needs --bootstrap-servers (the cluster to read)")

    def emit(signals: list) -> None:
        for sig in signals:
            print(signal_json(sig), flush=True)

    worker = ConsumerWorker(
        args.bootstrap_servers,
        topic=args.topic,
        config=_engine_config(args),
        group=args.group,
        from_beginning=args.from_beginning,
        limits={s: (b, x) for s, b, x in args.limit},
        on_signals=emit,
    )
    stopper = _Stopper()
    worker.start()
    last_status = time.monotonic()
    while worker.is_alive() and not stopper.event.wait(0.2):
        if time.monotonic() - last_status >= 5.0:
            last_status = time.monotonic()
            snap = worker.latest()
            if snap is not None:
                k = snap.kafka
                parts = ",".join(str(p.partition) for p in k.partitions) or "none"
                print(
                    f"limitwatch engine: {k.consumed:,} ticks, {snap.signal_count:,} signals, "
                    f"partitions {parts}, lag {k.total_lag:,}, {k.health}",
                    file=sys.stderr,
                    flush=True,
                )
    worker.stop()
    worker.join(3.0)
    return 0


def run_produce(args: argparse.Namespace) -> int:
    """Headless producer: send the source's ticks until it ends, --count, or Ctrl-C."""
    from producer.topics import ensure_topics

    if not args.bootstrap_servers:
        return _fail("the headless producer needs --bootstrap-servers (the cluster to write to)")
    try:
        ensure_topics(args.bootstrap_servers, args.topic, args.partitions)
    except KafkaException as exc:
        return _fail(f"could not reach Kafka at {args.bootstrap_servers}: {exc}")
    source = _source(args)
    if args.count:
        source = _Limited(source, args.count)
    thread = ProducerThread(args.bootstrap_servers, source, topic=args.topic, speed=args.speed)
    stopper = _Stopper()
    thread.start()
    while thread.is_alive() and not stopper.event.wait(0.2):
        pass
    thread.stop()
    thread.join(5.0)
    stats = thread.stats()
    print(
        f"limitwatch produce: {stats.produced:,} produced, {stats.delivered:,} delivered, "
        f"{stats.failed:,} failed",
        file=sys.stderr,
    )
    return 0 if stats.failed == 0 else 1


class _Limited:
    """The first `count` ticks of a source."""

    def __init__(self, source: Source, count: int) -> None:
        self.source = source
        self.count = count
        self.name = f"{source.name}[:{count}]"
        self.paced = source.paced
        self.limits = source.limits

    def __iter__(self):  # type: ignore[no-untyped-def]
        for n, tick in enumerate(self.source):
            if n >= self.count:
                return
            yield tick


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `limitwatch` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_file or default_log_path())
    func = getattr(args, "func", run_monitor)
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
