"""Latency from a producer's send to the signal the consumer worker raises for that tick,
on the embedded broker, against a plain consumer's latency to the same ticks measured in
the same run.

    .venv/bin/python tests/bench/bench_latency.py [--rates 1000,10000,50000] [--seconds 10]
        [--probes 300] [--variants shipped,whole-batch,wait100,wait50,wait10,linger0]

A sender process paces background ticks over 200 symbols at each rate and, a few hundred
times a rate, sends a marked tick of one of 16 probe symbols whose limits were set before
the start (buy 99, sell 101): marked ticks alternate 101.5 and 98.5, so each one raises a
SELL or a BUY on that very tick. The sender notes ``time.perf_counter()`` (a clock shared
by the processes of this machine) just before each marked tick's ``produce()``, with the
producer settings of ``limitwatch produce`` (its linger.ms).

Measured, per rate and per marked tick:

- the worker: the real ``ConsumerWorker`` as ``limitwatch engine`` builds it (no group,
  shipped ``CONSUMER_SETTINGS``, batch size and consume timeout), in this process; the
  time its ``on_signals`` callback sees the tick's BUY/SELL. The worker's ``_ingest`` is
  wrapped to note when each batch came out of ``consume()``, which splits the latency
  into send -> batch returned (fetch, the broker, the consume call's wait) and batch
  returned -> signal (decoding and the engine on that batch).
- the floor: a plain ``Consumer`` in a process of its own with the same fetch settings,
  reading the same partitions, that waits for one message with ``poll()`` and then takes
  whatever else is ready with ``consume(timeout=0)``: the time its call returned the tick.

Prints p50, p95, p99 and max per rate for both, the rate the sender achieved, and how
many marked ticks each side saw. ``--variants`` repeats the whole measurement with other
settings (fetch.wait.max.ms, the worker's consume timeout, the producer's linger.ms; see
``VARIANTS``) applied to this run only; nothing shipped is changed. Each measurement has
a broker of its own. Timings depend on the load of the machine: on a busy machine the
tails mostly show the scheduler. No assertions.
"""

from __future__ import annotations

import argparse
import inspect
import multiprocessing as mp
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

import tui.runtime.consumer as consumer_module
from engine import Signal, SignalKind
from producer.broker import EmbeddedBroker
from producer.kafka_config import CONSUMER_SETTINGS, client_config
from producer.kafka_producer import ProducerThread
from producer.topics import ensure_topics
from producer.wire import BadTick, Tick, decode, encode
from tui.runtime.consumer import ConsumerWorker

SYMBOLS = 200
PROBES = 16
BUY, SELL = 99.0, 101.0
#: Marked ticks alternate these prices: each crosses one limit and re-arms the other.
PROBE_PRICES = (101.5, 98.5)
PARTITIONS = 4
#: The producer's linger.ms as ``limitwatch produce`` sends (ProducerThread's default).
SHIPPED_LINGER_MS: int = inspect.signature(ProducerThread).parameters["linger_ms"].default
#: Longest wait for the worker and the floor to read their first marked tick.
READY_S = 30.0
#: Longest wait, after the sender ends, for the last marked ticks to come out.
DRAIN_S = 10.0


@dataclass(frozen=True)
class Variant:
    """Settings of one measurement: the consumers' fetch settings, the worker's consume
    timeout (``STOP_CHECK_S``) and the producer's linger.ms."""

    fetch: dict[str, Any] = field(default_factory=lambda: dict(CONSUMER_SETTINGS))
    consume_timeout_s: float = consumer_module.STOP_CHECK_S
    linger_ms: int = SHIPPED_LINGER_MS
    #: The worker's batch as it was taken before: one ``consume()`` call that waits for a
    #: full batch or the timeout, instead of the messages ready once one is (see
    #: WholeBatchWorker).
    whole_batch: bool = False


VARIANTS: dict[str, Variant] = {
    "shipped": Variant(),
    "whole-batch": Variant(whole_batch=True),
    "wait100": Variant(fetch={**CONSUMER_SETTINGS, "fetch.wait.max.ms": 100}),
    "wait50": Variant(fetch={**CONSUMER_SETTINGS, "fetch.wait.max.ms": 50}),
    "wait10": Variant(fetch={**CONSUMER_SETTINGS, "fetch.wait.max.ms": 10}),
    "timeout5": Variant(consume_timeout_s=0.005),
    "linger0": Variant(linger_ms=0),
}

Key = tuple[str, float]  # a marked tick: its symbol and event time


def probe_symbol(i: int) -> str:
    return f"MK{i % PROBES:02d}"


# -- the sender (a process of its own) ---------------------------------------------------------
def send(
    bootstrap: str,
    topic: str,
    rate: float,
    seconds: float,
    probes: int,
    linger_ms: int,
    go: Any,
    out: Any,
) -> None:
    """Paced background ticks at `rate`; marked ticks every 0.1 s until `go` is set
    (warm-up, not measured), then `probes` marked ticks at jittered times over `seconds`.
    Puts (send times of the measured marked ticks, ticks sent, seconds) on `out`."""
    producer = Producer(
        client_config(
            bootstrap,
            **{
                "linger.ms": linger_ms,
                "enable.idempotence": False,
                "queue.buffering.max.messages": 200_000,
            },
        )
    )
    rng = random.Random(7)
    names = [f"BG{i:03d}".encode() for i in range(SYMBOLS)]
    level = [rng.uniform(50.0, 150.0) for _ in range(SYMBOLS)]
    sent_at: dict[Key, float] = {}
    n_marked = n_warm = 0

    def produce(key: bytes, value: bytes) -> None:
        while True:
            try:
                producer.produce(topic, value=value, key=key)
                return
            except BufferError:
                producer.poll(0.001)

    def marked(measured: bool) -> None:
        nonlocal n_marked, n_warm
        symbol = probe_symbol(n_marked) if measured else "WARM"
        price = PROBE_PRICES[(n_marked // PROBES if measured else n_warm) % 2]
        n_warm += not measured
        ts = time.time()
        value = encode(Tick(symbol, price, ts))
        t = time.perf_counter()
        produce(symbol.encode(), value)
        if measured:
            sent_at[(symbol, ts)] = t
            n_marked += 1

    def paced(until: float, t0: float, due_marks: list[float] | None) -> int:
        """Send at `rate` from `t0` until `until`; returns the ticks sent."""
        sent = 0
        next_warm = t0
        i = 0
        while (now := time.perf_counter()) < until and (due_marks is not None or not go.is_set()):
            if due_marks is None:
                if now >= next_warm:
                    marked(False)
                    next_warm = now + 0.1
            else:
                while i < len(due_marks) and now >= due_marks[i]:
                    marked(True)
                    i += 1
                    sent += 1
            due = int((now - t0) * rate)
            ts = time.time()
            for _ in range(due - sent):
                j = rng.randrange(SYMBOLS)
                level[j] *= 1.0 + rng.gauss(0.0, 1e-4)
                produce(names[j], encode(Tick(names[j].decode(), level[j], ts)))
                sent += 1
            producer.poll(0)
            time.sleep(0.0005)  # pacing only
        return sent

    try:
        paced(time.perf_counter() + READY_S, time.perf_counter(), None)
        t0 = time.perf_counter()
        step = seconds / probes
        marks = [t0 + (k + rng.uniform(0.1, 0.9)) * step for k in range(probes)]
        sent = paced(t0 + seconds, t0, marks)
        took = time.perf_counter() - t0
        producer.flush(10)
        out.put((sent_at, sent, took))
    except Exception as exc:  # said in the parent, which would otherwise wait
        out.put(exc)


# -- the floor (a process of its own) ----------------------------------------------------------
def floor(
    bootstrap: str,
    topic: str,
    fetch: dict[str, Any],
    ready: Any,
    count: Any,
    stop: Any,
    out: Any,
) -> None:
    """Read `topic` with a plain consumer: one ``poll()``, then ``consume(timeout=0)`` for
    whatever else is ready; note when each marked tick came out. Sets `ready` at the first
    warm-up tick, counts marked ticks in `count`; puts {marked tick: seen at} on `out`
    once `stop` is set."""
    group = {"group.id": f"bench-{secrets.token_hex(3)}", "enable.auto.commit": False}
    c = Consumer(client_config(bootstrap, **fetch, **group, **{"enable.partition.eof": False}))
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    seen: dict[Key, float] = {}
    try:
        while not stop.is_set():
            first = c.poll(0.05)
            if first is None:
                continue
            msgs = [first, *c.consume(num_messages=10_000, timeout=0)]
            t = time.perf_counter()
            for msg in msgs:
                key = msg.key()
                if msg.error() or key is None or not key.startswith((b"MK", b"WARM")):
                    continue
                try:
                    tick = decode(msg.value())
                except BadTick:
                    continue
                if tick.symbol == "WARM":
                    ready.set()
                else:
                    seen[(tick.symbol, tick.ts)] = t
                    count.value = len(seen)
    finally:
        c.close()
        out.put(seen)


# -- the worker (this process) -----------------------------------------------------------------
class TimedWorker(ConsumerWorker):
    """The consumer worker, noting when each batch came out of ``consume()``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, on_signals=self._signals, **kwargs)
        self.ready = threading.Event()
        self.seen: dict[Key, tuple[float, float, int]] = {}  # batch returned, signal, batch size
        self._batch: tuple[float, int] = (0.0, 0)

    def _ingest(self, msgs: list[Any]) -> None:
        self._batch = (time.perf_counter(), len(msgs))
        super()._ingest(msgs)

    def _signals(self, signals: list[Signal]) -> None:
        t = time.perf_counter()
        for sig in signals:
            if sig.kind not in (SignalKind.BUY, SignalKind.SELL):
                continue
            if sig.symbol == "WARM":
                self.ready.set()
            elif sig.symbol.startswith("MK"):
                self.seen[(sig.symbol, sig.t)] = (self._batch[0], t, self._batch[1])


class WholeBatchWorker(TimedWorker):
    """The worker taking its batch as it did before: librdkafka's batch call, which
    waits until it has a full batch or the timeout has passed."""

    def _next_batch(self, consumer: Any) -> list[Any]:
        return consumer.consume(
            num_messages=self.batch_size,
            timeout=consumer_module.STOP_CHECK_S,  # type: ignore[attr-defined]
        )


@dataclass
class Result:
    rate: float
    achieved: float
    sent: int
    worker: np.ndarray  # ms, send -> signal
    to_batch: np.ndarray  # ms, send -> the worker's batch out of consume()
    in_batch: np.ndarray  # ms, batch out of consume() -> signal
    batch: np.ndarray  # the worker's batch sizes
    floor: np.ndarray  # ms, send -> the plain consumer's call returned
    broker_mib: float


def wait_until(cond: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def measure(rate: float, seconds: float, probes: int, variant: Variant) -> Result:
    """One rate on a broker of its own."""
    ctx = mp.get_context("spawn")
    consumer_module.STOP_CHECK_S = variant.consume_timeout_s  # type: ignore[attr-defined]
    consumer_module.CONSUMER_SETTINGS = dict(variant.fetch)  # type: ignore[attr-defined]
    with EmbeddedBroker() as broker:
        topic = f"bench-{secrets.token_hex(3)}"
        ensure_topics(broker.bootstrap, topic, partitions=PARTITIONS)
        go, ready, stop = ctx.Event(), ctx.Event(), ctx.Event()
        count = ctx.Value("i", 0, lock=False)
        sent_q, floor_q = ctx.Queue(), ctx.Queue()
        limits = {probe_symbol(i): (BUY, SELL) for i in range(PROBES)} | {"WARM": (BUY, SELL)}
        kind = WholeBatchWorker if variant.whole_batch else TimedWorker
        worker = kind(broker.bootstrap, topic=topic, from_beginning=True, limits=limits)
        reader = ctx.Process(
            target=floor, args=(broker.bootstrap, topic, variant.fetch, ready, count, stop, floor_q)
        )
        sender = ctx.Process(
            target=send,
            args=(broker.bootstrap, topic, rate, seconds, probes, variant.linger_ms, go, sent_q),
        )
        worker.start()
        reader.start()
        sender.start()
        try:
            if not (worker.ready.wait(READY_S) and ready.wait(READY_S)):
                raise RuntimeError("the worker or the floor read no tick")
            go.set()
            got = sent_q.get(timeout=seconds + READY_S + 30)
            if isinstance(got, Exception):
                raise got
            sent_at, sent, took = got
            wait_until(lambda: min(len(worker.seen), count.value) >= len(sent_at), DRAIN_S)
            stop.set()
            seen = floor_q.get(timeout=DRAIN_S + 10)
            rss = (broker.rss_bytes() or 0) / 2**20
        finally:
            go.set()
            stop.set()
            worker.stop()
            worker.join(5)
            for proc in (sender, reader):
                proc.join(15)
                if proc.is_alive():
                    proc.terminate()
                    proc.join(5)
    ms = 1000.0
    w = [(worker.seen[k], t) for k, t in sent_at.items() if k in worker.seen]
    return Result(
        rate=rate,
        achieved=sent / took,
        sent=len(sent_at),
        worker=np.array([(sig - t) * ms for (_, sig, _), t in w]),
        to_batch=np.array([(b - t) * ms for (b, _, _), t in w]),
        in_batch=np.array([(sig - b) * ms for (b, sig, _), _ in w]),
        batch=np.array([n for (_, _, n), _ in w]),
        floor=np.array([(seen[k] - t) * ms for k, t in sent_at.items() if k in seen]),
        broker_mib=rss,
    )


def quantiles(ms: np.ndarray) -> str:
    if ms.size == 0:
        return f"{'-':>8} {'-':>8} {'-':>8} {'-':>8}"
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return f"{p50:>8.1f} {p95:>8.1f} {p99:>8.1f} {ms.max():>8.1f}"


def report(name: str, variant: Variant, results: list[Result]) -> None:
    print(
        f"\n{name}: fetch {variant.fetch}, worker consume timeout "
        f"{variant.consume_timeout_s * 1000:g} ms"
        + (" (waits for a whole batch)" if variant.whole_batch else "")
        + f", producer linger.ms {variant.linger_ms}\n"
    )
    print(
        f"{'rate':>7} {'sent/s':>8} {'path':<34} {'p50 ms':>8} {'p95':>8} {'p99':>8} "
        f"{'max':>8} {'seen':>9}"
    )
    for r in results:
        lead = f"{r.rate:>7,.0f} {r.achieved:>8,.0f}"
        blank = " " * len(lead)
        rows = [
            ("plain consumer (floor)", r.floor),
            ("worker: send -> signal", r.worker),
            ("  send -> batch out of consume()", r.to_batch),
            ("  batch out -> signal", r.in_batch),
        ]
        for i, (path, ms) in enumerate(rows):
            print(f"{lead if i == 0 else blank} {path:<34} {quantiles(ms)} {ms.size:>4}/{r.sent}")
        if r.floor.size and r.worker.size:
            extra = np.median(r.worker) - np.median(r.floor)
            print(
                f"{blank} worker p50 - floor p50: {extra:.1f} ms; median batch "
                f"{np.median(r.batch):,.0f} ticks; broker {r.broker_mib:.0f} MiB"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="1000,10000,50000", help="ticks/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds a rate")
    parser.add_argument("--probes", type=int, default=300, help="marked ticks a rate")
    parser.add_argument(
        "--variants", default="shipped",
        help=f"comma-separated, of: {', '.join(VARIANTS)}",
    )  # fmt: skip
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    names = args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    print(
        f"{SYMBOLS} background symbols, {args.probes} marked ticks over {args.seconds:g} s a "
        f"rate, {PARTITIONS} partitions, embedded broker (one per measurement). Busy machine: "
        "latencies include waits for a core, the tails most of all."
    )
    for name in names:
        variant = VARIANTS[name]
        results = [measure(rate, args.seconds, args.probes, variant) for rate in rates]
        report(name, variant, results)


if __name__ == "__main__":
    main()
