"""What every command shares: opening a source from the options, and one-line errors."""

from __future__ import annotations

import argparse
import sys
import threading

from confluent_kafka import KafkaException

from producer.lookahead import LookaheadReader
from producer.source import Source
from producer.sources import open_source


def kafka_reason(exc: KafkaException) -> str:
    """The readable part of a KafkaException."""
    err = exc.args[0] if exc.args else None
    return err.str() if hasattr(err, "str") else str(exc)


def kafka_fail(bootstrap: str, exc: KafkaException) -> int:
    return fail(f"could not reach Kafka at {bootstrap}: {kafka_reason(exc)}")


def fail(message: str) -> int:
    print(f"limitwatch: {message}", file=sys.stderr)
    return 2


def open_source_from(
    args: argparse.Namespace, spec: str, stop: threading.Event, stdin: LookaheadReader | None = None
) -> Source:
    return open_source(
        spec, seed=args.seed, rate=args.rate, symbols=args.symbols, loop=args.loop,
        skip_bad=args.skip_bad, stop=stop, stdin=stdin,  # type: ignore[arg-type]
    )  # fmt: skip
