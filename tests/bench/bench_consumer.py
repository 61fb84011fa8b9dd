"""Consumer throughput against a poll()-per-message baseline, measured in the same run on
the embedded broker.

    .venv/bin/python tests/bench/bench_consumer.py [--ticks 200000] [--repeat 3] [--sweep]

Prints ticks/s for: a poll() per message with per-message decode (the baseline), the
batched consume() + msgspec decode into numpy columns that the worker uses, and the whole
consumer worker (decode, engine update, snapshots), with ratios to the baseline. Then,
without the broker, decoding alone: limitwatch's own shape in batches of 5,000, as the
worker decodes them (the baseline there), against the same one message at a time (what a
batch holding a bad message takes) and ticks of other shapes read through a field
mapping (`--fields`).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import secrets
import statistics
import time

import numpy as np
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

import tui.runtime.consumer as consumer_module
from producer.broker import EmbeddedBroker
from producer.fields import Fields
from producer.generator import MarketGenerator
from producer.kafka_config import CONSUMER_SETTINGS, client_config
from producer.topics import ensure_topics
from producer.wire import BadTick, decode, decode_batch, encode
from tui.runtime.consumer import ConsumerWorker


def fill(bootstrap: str, topic: str, n: int) -> None:
    producer = Producer(client_config(bootstrap, **{"linger.ms": 20, "batch.num.messages": 10000}))
    for tick in itertools.islice(MarketGenerator(symbols=200, seed=3, start=1.7e9), n):
        while True:
            try:
                producer.produce(topic, value=encode(tick), key=tick.symbol.encode())
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    assert producer.flush(30) == 0


#: The fetch settings every client of this run uses (the worker's own, unless --sweep
#: swaps them).
SETTINGS: dict[str, object] = dict(CONSUMER_SETTINGS)


def _consumer(bootstrap: str, topic: str, partitions: int) -> Consumer:
    group = {"group.id": f"bench-{secrets.token_hex(3)}", "enable.auto.commit": False}
    c = Consumer(client_config(bootstrap, **SETTINGS, **group))
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    return c


def poll_per_message(bootstrap: str, topic: str, partitions: int, n: int) -> float:
    c = _consumer(bootstrap, topic, partitions)
    got = 0
    prices: list[float] = []
    start = time.perf_counter()
    while got < n:
        msg = c.poll(1.0)
        if msg is None or msg.error():
            continue
        with contextlib.suppress(BadTick):
            prices.append(decode(msg.value()).price)
        got += 1
    took = time.perf_counter() - start
    c.close()
    return took


def consume_batched(bootstrap: str, topic: str, partitions: int, n: int) -> float:
    c = _consumer(bootstrap, topic, partitions)
    got = 0
    start = time.perf_counter()
    while got < n:
        msgs = c.consume(num_messages=5000, timeout=1.0)
        sym, ts, px = [], [], []
        for msg in msgs:
            if msg.error():
                continue
            try:
                tick = decode(msg.value())
            except BadTick:
                continue
            sym.append(tick.symbol)
            ts.append(tick.ts)
            px.append(tick.price)
        np.asarray(ts)
        np.asarray(px)
        got += len(msgs)
    took = time.perf_counter() - start
    c.close()
    return took


def raw(bootstrap: str, topic: str, partitions: int, n: int, batched: bool) -> float:
    """Messages only, no decoding: what the client itself costs."""
    c = _consumer(bootstrap, topic, partitions)
    got = 0
    start = time.perf_counter()
    while got < n:
        if batched:
            got += sum(1 for m in c.consume(num_messages=5000, timeout=1.0) if not m.error())
        else:
            msg = c.poll(1.0)
            got += msg is not None and not msg.error()
    took = time.perf_counter() - start
    c.close()
    return took


def whole_worker(bootstrap: str, topic: str, n: int) -> float:
    worker = ConsumerWorker(bootstrap, topic=topic, from_beginning=True)
    start = time.perf_counter()
    worker.start()
    while True:
        snap = worker.latest()
        if snap is not None and snap.kafka.consumed >= n:
            break
        time.sleep(0.01)
    took = time.perf_counter() - start
    worker.stop()
    worker.join(5)
    return took


class _Msg:
    """A consumed message as the decoders read it."""

    __slots__ = ("_key", "_value")

    def __init__(self, value: bytes, key: bytes) -> None:
        self._value, self._key = value, key

    def value(self) -> bytes:
        return self._value

    def key(self) -> bytes:
        return self._key

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_700_000_000_123)


#: The worker's own decoding of whole batches (`decode_batch`), as a shape's spec.
BATCHED = "batched"


def decode_in_memory(n: int) -> list[tuple[str, float]]:
    """Seconds to decode `n` messages of each shape, best of three rounds."""
    ticks = list(itertools.islice(MarketGenerator(symbols=200, seed=3, start=1.7e9), n))
    own = [_Msg(encode(t), t.symbol.encode()) for t in ticks]
    shapes = {
        "own shape, batches of 5,000 (baseline)": (BATCHED, own),
        "own shape, one message at a time": (None, own),
        "--fields symbol=s,price=p,ts=T:ms": (
            "symbol=s,price=p,ts=T:ms",
            [_Msg(b'{"e":"trade","s":"%s","p":"%.2f","q":"0.01","T":%d}'
                  % (t.symbol.encode(), t.price, t.ts * 1000), b"") for t in ticks]),
        "--fields symbol=data.s,price=data.p,ts=data.T:ms": (
            "symbol=data.s,price=data.p,ts=data.T:ms",
            [_Msg(b'{"stream":"x","data":{"s":"%s","p":%.2f,"T":%d}}'
                  % (t.symbol.encode(), t.price, t.ts * 1000), b"") for t in ticks]),
        "--fields symbol=@key,price=bid,ts=@timestamp": (
            "symbol=@key,price=bid,ts=@timestamp",
            [_Msg(b'{"bid":%.2f,"ask":%.2f}' % (t.price, t.price + 0.01), t.symbol.encode())
             for t in ticks]),
    }  # fmt: skip
    rows = []
    for name, (spec, msgs) in shapes.items():
        mapped = Fields.parse(spec).decoder() if spec and spec is not BATCHED else None
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            if spec is BATCHED:  # the worker's usual batch: one call of the C decoder
                for at in range(0, len(msgs), 5000):
                    got = decode_batch([m.value() for m in msgs[at : at + 5000]])
                    assert got is not None, "a batch of plain ticks fell back to one by one"
            else:  # a mapping, or a batch with a bad message: one call per message
                for msg in msgs:
                    decode(msg.value()) if mapped is None else mapped(msg)
            best = min(best, time.perf_counter() - start)
        rows.append((name, best))
    return rows


def measure(bootstrap: str, topic: str, n: int, repeat: int) -> dict[str, float]:
    """Median seconds of each path over `repeat` rounds taken in turn."""
    paths = {
        "poll() per message, no decode": lambda: raw(bootstrap, topic, 4, n, batched=False),
        "consume(5000), no decode (raw)": lambda: raw(bootstrap, topic, 4, n, batched=True),
        "poll() per message + decode (baseline)": lambda: poll_per_message(bootstrap, topic, 4, n),
        "consume(5000) + decode to columns": lambda: consume_batched(bootstrap, topic, 4, n),
        "consumer worker: decode + engine + snapshots": lambda: whole_worker(bootstrap, topic, n),
    }
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(repeat):
        for name, path in paths.items():
            times[name].append(path())
    return {name: statistics.median(t) for name, t in times.items()}


def use(settings: dict[str, object]) -> None:
    """Make every client of the run, the worker's included, fetch with `settings`."""
    SETTINGS.clear()
    SETTINGS.update(settings)
    consumer_module.CONSUMER_SETTINGS = dict(settings)  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--sweep", action="store_true",
        help="also the raw consume() loop and the worker under other fetch settings",
    )  # fmt: skip
    args = parser.parse_args()
    n = args.ticks
    with EmbeddedBroker() as broker:
        topic = f"bench-{secrets.token_hex(3)}"
        ensure_topics(broker.bootstrap, topic, partitions=4)
        t0 = time.perf_counter()
        fill(broker.bootstrap, topic, n)
        fill_s = time.perf_counter() - t0
        rss = broker.rss_bytes() or 0
        took = measure(broker.bootstrap, topic, n, args.repeat)
        sweep: list[tuple[str, float, float]] = []
        if args.sweep:
            for backoff, wait, queued in itertools.product(
                (1000, 10, 1), (100, 10), (100_000, 20_000)
            ):
                settings = {"fetch.queue.backoff.ms": backoff, "fetch.wait.max.ms": wait,
                            "queued.min.messages": queued}  # fmt: skip
                use(settings)
                raws, works = [], []
                for _ in range(args.repeat):
                    raws.append(raw(broker.bootstrap, topic, 4, n, batched=True))
                    works.append(whole_worker(broker.bootstrap, topic, n))
                label = f"backoff {backoff} ms, wait {wait} ms, queued {queued:,}"
                sweep.append((label, statistics.median(raws), statistics.median(works)))
            use(CONSUMER_SETTINGS)
    base = took["poll() per message + decode (baseline)"]
    raw_batch = took["consume(5000), no decode (raw)"]
    print(f"\n{n:,} ticks over 200 symbols, 4 partitions, embedded broker "
          f"(produced in {fill_s:.2f} s, broker RSS {rss / 2**20:.0f} MiB), median of "
          f"{args.repeat}; every client with {CONSUMER_SETTINGS}\n")  # fmt: skip
    print(f"{'path':<48} {'seconds':>9} {'ticks/s':>12} {'vs baseline':>12} {'of raw':>7}")
    for name, secs in took.items():
        print(f"{name:<48} {secs:>9.3f} {n / secs:>12,.0f} {base / secs:>11.1f}x "
              f"{raw_batch / secs:>7.2f}")  # fmt: skip
    if sweep:
        print(f"\n{'fetch settings':<46} {'raw ticks/s':>12} {'worker ticks/s':>15} {'of raw':>7}")
        for label, r, w in sweep:
            print(f"{label:<46} {n / r:>12,.0f} {n / w:>15,.0f} {r / w:>7.2f}")
    decoded = decode_in_memory(n)
    own = decoded[0][1]
    print(f"\ndecoding only, {n:,} messages in memory, best of 3\n")
    print(f"{'shape':<48} {'seconds':>9} {'ticks/s':>12} {'vs own':>12}")
    for name, secs in decoded:
        print(f"{name:<48} {secs:>9.3f} {n / secs:>12,.0f} {own / secs:>11.2f}x")


if __name__ == "__main__":
    main()
