"""What every command shares: opening a source from the options, the Kafka connection
the options describe, and one-line errors (secrets blanked out)."""

from __future__ import annotations

import argparse
import sys
import threading

from confluent_kafka import KafkaError, KafkaException

from producer.kafka_config import (
    Connection,
    check_connection,
    parse_property,
    read_properties,
    redact,
)
from producer.lookahead import LookaheadReader
from producer.source import Source
from producer.sources import open_source


def kafka_reason(exc: KafkaException) -> str:
    """The readable part of a KafkaException."""
    err = exc.args[0] if exc.args else None
    return err.str() if hasattr(err, "str") else str(exc)


def kafka_problem(bootstrap: str, exc: KafkaException) -> str:
    """What went wrong talking to Kafka at `bootstrap`, in one line."""
    err = exc.args[0] if exc.args else None
    if isinstance(err, KafkaError) and err.code() == KafkaError._AUTHENTICATION:
        return f"Kafka at {bootstrap} refused to authenticate: {kafka_reason(exc)}"
    return f"could not reach Kafka at {bootstrap}: {kafka_reason(exc)}"


def kafka_advice(exc: KafkaException, where: str = "Check --bootstrap-servers.") -> str:
    """What to check after `exc`: the credentials where the cluster refused them (the
    address was right), else `where`."""
    err = exc.args[0] if exc.args else None
    if isinstance(err, KafkaError) and err.code() in (KafkaError._AUTHENTICATION, KafkaError._SSL):
        return "Check the security settings and credentials (--kafka-config, -X)."
    return where


def kafka_fail(bootstrap: str, exc: KafkaException) -> int:
    return fail(kafka_problem(bootstrap, exc))


def fail(message: str) -> int:
    print(f"limitwatch: {redact(message)}", file=sys.stderr)
    return 2


def resolve_kafka(args: argparse.Namespace) -> None:
    """Read ``--kafka-config`` and ``-X`` into ``args.kafka_properties`` (a dict; ``-X``
    beats the file) and check them; ``bootstrap.servers`` among them sets
    ``--bootstrap-servers`` unless that was given. Raises KafkaConfigError."""
    props: dict[str, str] = {}
    if args.kafka_config is not None:
        props.update(read_properties(args.kafka_config))
    for text in args.kafka_properties:
        props.update(parse_property(text))
    bootstrap = props.pop("bootstrap.servers", None)
    if not args.bootstrap_servers and bootstrap:
        args.bootstrap_servers = bootstrap
    if props:
        check_connection(props)
    args.kafka_properties = props


def connection(args: argparse.Namespace) -> Connection:
    """The cluster a headless command talks to (``--bootstrap-servers`` and properties)."""
    return Connection(args.bootstrap_servers, dict(args.kafka_properties))


def open_source_from(
    args: argparse.Namespace, spec: str, stop: threading.Event, stdin: LookaheadReader | None = None
) -> Source:
    return open_source(
        spec, seed=args.seed, rate=args.rate, symbols=args.symbols, loop=args.loop,
        skip_bad=args.skip_bad, stop=stop, stdin=stdin,  # type: ignore[arg-type]
        additive=getattr(args, "additive", ()),
    )  # fmt: skip
