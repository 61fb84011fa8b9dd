"""The producer thread (what ``limitwatch produce --rate R`` runs) at target rates on the
embedded broker, against a typical script measured in the same run.

    .venv/bin/python tests/bench/bench_producer.py [--seconds 5] [--repeat 3]
        [--rates 1000,10000,50000,100000]

For each target rate R, the market generator (200 symbols) paced at R, sent by the
producer thread: ticks produced and delivered per second over ``--seconds`` after one
second of warm-up, their ratio to R, failures, and how long the stop flush took (its
bound is ``STOP_FLUSH_S``). Then each side's ceiling, with nothing pacing it: the
thread at ``--speed max``, and the baseline, a plain loop that encodes each tick and
calls ``produce()`` with a delivery callback per message and ``poll(0)`` after each send
(the script one would write first). Medians of ``--repeat`` rounds. No assertions.
"""

from __future__ import annotations

import argparse
import itertools
import math
import secrets
import statistics
import sys
import time
from pathlib import Path

from confluent_kafka import Producer

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from producer.broker import EmbeddedBroker
from producer.generator import MarketGenerator
from producer.kafka_config import client_config
from producer.kafka_producer import STOP_FLUSH_S, ProducerThread
from producer.topics import ensure_topics
from producer.wire import encode

SYMBOLS = 200


def paced(bootstrap: str, rate: float, seconds: float) -> tuple[float, float, int, float]:
    """Produced/s, delivered/s, failed and stop-flush seconds of the thread paced at `rate`."""
    topic = f"bench-{secrets.token_hex(3)}"
    ensure_topics(bootstrap, topic, 4)
    speed = math.inf if math.isinf(rate) else 1.0
    source = MarketGenerator(symbols=SYMBOLS, rate=1e6 if math.isinf(rate) else rate, seed=1)
    thread = ProducerThread(bootstrap, source, topic=topic, speed=speed)
    thread.start()
    time.sleep(1.0)
    a, ta = thread.stats(), time.monotonic()
    time.sleep(seconds)
    b, tb = thread.stats(), time.monotonic()
    thread.stop()
    thread.join(10)
    end = thread.stats()
    took = tb - ta
    return (
        (b.produced - a.produced) / took,
        (b.delivered - a.delivered) / took,
        end.failed,
        end.flush_s or 0.0,
    )


def plain_loop(bootstrap: str, seconds: float) -> float:
    """Ticks/s delivered by the plain script: a callback per message, poll(0) per send."""
    topic = f"bench-{secrets.token_hex(3)}"
    ensure_topics(bootstrap, topic, 4)
    producer = Producer(client_config(bootstrap, **{"linger.ms": 5}))
    delivered = 0

    def on_delivery(err: object, _msg: object) -> None:
        nonlocal delivered
        delivered += err is None

    ticks = iter(MarketGenerator(symbols=SYMBOLS, rate=1e6, seed=1))
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        for tick in itertools.islice(ticks, 1000):
            while True:
                try:
                    producer.produce(
                        topic, encode(tick), tick.symbol.encode(), on_delivery=on_delivery
                    )
                    break
                except BufferError:
                    producer.poll(0.01)
            producer.poll(0)
    producer.flush(30)
    return delivered / (time.monotonic() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rates", default="1000,10000,50000,100000")
    args = ap.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    rows: dict[str, list[tuple[float, float, int, float]]] = {}
    base: list[float] = []
    with EmbeddedBroker() as broker:
        for _ in range(args.repeat):
            for rate in [*rates, math.inf]:
                label = "max" if math.isinf(rate) else f"{rate:,.0f}"
                rows.setdefault(label, []).append(paced(broker.bootstrap, rate, args.seconds))
            base.append(plain_loop(broker.bootstrap, args.seconds))
    print(f"producer thread, {SYMBOLS} symbols, embedded broker, median of {args.repeat} rounds "
          f"of {args.seconds:g} s; stop flush bounded at {STOP_FLUSH_S:g} s")  # fmt: skip
    print(f"{'target/s':>9} {'produced/s':>11} {'delivered/s':>12} {'of target':>10} "
          f"{'failed':>7} {'stop flush s':>13}")  # fmt: skip
    for label, runs in rows.items():
        produced, delivered, failed, flush = (statistics.median(x) for x in zip(*runs, strict=True))
        share = "-" if label == "max" else f"{delivered / float(label.replace(',', '')):.2f}"
        print(f"{label:>9} {produced:>11,.0f} {delivered:>12,.0f} {share:>10} {failed:>7.0f} "
              f"{flush:>13.2f}")  # fmt: skip
    ceiling = statistics.median(r[1] for r in rows["max"])
    plain = statistics.median(base)
    print(
        f"\nbaseline, a plain produce() loop with a callback per message: {plain:,.0f}/s "
        f"delivered; the thread at max speed: {ceiling:,.0f}/s ({ceiling / plain:.2f}x)"
    )


if __name__ == "__main__":
    main()
