"""Memory of the engine for many symbols, and where it goes, against a baseline measured in
the same run.

    .venv/bin/python tests/bench/bench_memory.py [--symbols 10000] [--ticks 300000]
        [--no-kafka]

Each figure comes from a process of its own (a process keeps memory it has freed, so two
measurements in one would hide each other). Two parts:

* The engine alone: the same ticks (random walks, ``--ticks`` over ``--symbols``) given
  to an engine that keeps the chart history (the monitor's, ``history`` 600) and to one
  that keeps none (``limitwatch engine``, backtests), in batches of 5,000. The baseline
  is the same process that makes the ticks and imports everything but builds no engine.
  Prints the resident memory (RSS) at the end and at its peak, what the engine adds
  over the baseline, and the engine's own account of its arrays (``Engine.memory()``).
* The headless engine as a user runs it: ``limitwatch engine`` reading the same number
  of ticks over as many symbols from the embedded broker, against a plain
  confluent-kafka consumer that decodes each message and keeps nothing (the floor of
  any Python consumer of the topic). RSS once every tick is read.
"""

from __future__ import annotations

import argparse
import itertools
import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "engine")]

BATCH = 5_000


def _status(field: str) -> float:
    """A VmRSS-style field of this process's /proc status, MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def engine_child(kind: str, symbols: int, ticks: int) -> None:
    """Run in a child process: print one JSON line of its memory."""
    from streams import random_walk

    from engine import Engine, EngineConfig

    ids, t, price = random_walk(ticks, symbols, seed=1, step_s=1e-3, vol=4e-4)
    out: dict[str, object] = {"kind": kind}
    if kind != "baseline":
        eng = Engine(EngineConfig(history=600 if kind == "chart" else 0, max_symbols=symbols))
        eng.register([f"S{i:05d}" for i in range(symbols)])
        for a in range(0, ticks, BATCH):
            eng.update(ids[a : a + BATCH], t[a : a + BATCH], price[a : a + BATCH])
        out["parts"] = eng.memory()
        out["per_symbol"] = eng.bytes_per_symbol
    out["rss"], out["peak"] = _status("VmRSS"), _status("VmHWM")
    print(json.dumps(out))


def engine_alone(symbols: int, ticks: int) -> None:
    rows = {}
    for kind in ("baseline", "chart", "no-chart"):
        done = subprocess.run(
            [sys.executable, __file__, "--child", kind, "--symbols", str(symbols),
             "--ticks", str(ticks)],
            capture_output=True, text=True, check=True, cwd=ROOT,
        )  # fmt: skip
        rows[kind] = json.loads(done.stdout.splitlines()[-1])
    base = rows["baseline"]["rss"]
    print(f"\nThe engine alone: {ticks:,} ticks over {symbols:,} symbols, batches of {BATCH:,}\n")
    print(f"{'process':<44} {'RSS MiB':>8} {'peak':>7} {'engine adds':>12} {'bytes/symbol':>13}")
    names = {
        "baseline": "ticks made, imports, no engine (baseline)",
        "chart": "engine keeping the chart (history 600)",
        "no-chart": "engine keeping no chart (history 0)",
    }
    for kind, row in rows.items():
        adds = "" if kind == "baseline" else f"{row['rss'] - base:>10.1f}"
        per = "" if kind == "baseline" else f"{row['per_symbol']:>13,}"
        print(f"{names[kind]:<44} {row['rss']:>8.1f} {row['peak']:>7.1f} {adds:>12} {per}")
    print(f"\n{'where the engine arrays go, MiB':<44} {'chart':>8} {'no chart':>9}")
    for part in rows["chart"]["parts"]:
        a, b = rows["chart"]["parts"][part], rows["no-chart"]["parts"][part]
        print(f"{part:<44} {a / 2**20:>8.1f} {b / 2**20:>9.1f}")
    total = {k: sum(rows[k]["parts"].values()) / 2**20 for k in ("chart", "no-chart")}
    print(f"{'total':<44} {total['chart']:>8.1f} {total['no-chart']:>9.1f}")
    print("(symbol slots are preallocated and grow by doubling; the rest of what the engine"
          " adds is Python's: names, dictionaries, the allocator's free lists)")  # fmt: skip


def _fill(bootstrap: str, topic: str, symbols: int, ticks: int) -> None:
    from confluent_kafka import Producer

    from producer.generator import MarketGenerator
    from producer.kafka_config import client_config
    from producer.wire import encode

    producer = Producer(client_config(bootstrap, **{"linger.ms": 20, "batch.num.messages": 10000}))
    gen = MarketGenerator(symbols=symbols, seed=3, start=1.7e9, rate=10_000.0)
    for tick in itertools.islice(gen, ticks):
        while True:
            try:
                producer.produce(topic, value=encode(tick), key=tick.symbol.encode())
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    assert producer.flush(60) == 0


_FLOOR = """
import sys, time
from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
from producer.kafka_config import CONSUMER_SETTINGS, client_config
from producer.wire import BadTick, decode
bootstrap, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = Consumer(client_config(bootstrap, **CONSUMER_SETTINGS, **{"group.id": "floor",
             "enable.auto.commit": False}))
c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(4)])
got = 0
while got < n:
    msg = c.poll(1.0)
    if msg is None or msg.error():
        continue
    try:
        decode(msg.value())
    except BadTick:
        pass
    got += 1
status = {l.split(":")[0]: int(l.split()[1]) for l in open("/proc/self/status")
          if l.startswith(("VmRSS", "VmHWM"))}
print(status["VmRSS"] / 1024, status["VmHWM"] / 1024)
c.close()
"""


def _engine_process(bootstrap: str, topic: str, ticks: int) -> tuple[float, float]:
    """RSS and peak (MiB) of `limitwatch engine` once its status line counts every tick."""
    cmd = [sys.executable, "-c", "from tui.cli import main; main()", "engine",
           "--bootstrap-servers", bootstrap, "--topic", topic, "--from-beginning",
           "--group", f"mem-{secrets.token_hex(3)}", "--max-symbols", "20000"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 600
        for line in proc.stderr:
            if "ticks," in line:
                consumed = int(line.split(":", 1)[1].split("ticks")[0].replace(",", ""))
                if consumed >= ticks:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("limitwatch engine did not read every tick in 10 minutes")
        else:
            raise RuntimeError(f"limitwatch engine stopped early: {proc.wait()}")
        status = {}
        with open(f"/proc/{proc.pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS", "VmHWM")):
                    status[line.split(":")[0]] = int(line.split()[1]) / 1024
        return status["VmRSS"], status["VmHWM"]
    finally:
        proc.terminate()
        proc.wait(30)


def through_kafka(symbols: int, ticks: int) -> None:
    from producer.broker import EmbeddedBroker
    from producer.topics import ensure_topics

    with EmbeddedBroker() as broker:
        topic = f"mem-{secrets.token_hex(3)}"
        ensure_topics(broker.bootstrap, topic, partitions=4)
        print(f"\nproducing {ticks:,} ticks over {symbols:,} symbols ...", file=sys.stderr)
        _fill(broker.bootstrap, topic, symbols, ticks)
        floor = subprocess.run(
            [sys.executable, "-c", _FLOOR, broker.bootstrap, topic, str(ticks)],
            capture_output=True, text=True, check=True, cwd=ROOT,
        )  # fmt: skip
        rows = [("plain poll() consumer, decode only (baseline)",
                 *map(float, floor.stdout.split()))]  # fmt: skip
        print("running limitwatch engine ...", file=sys.stderr)
        rows.append(("limitwatch engine", *_engine_process(broker.bootstrap, topic, ticks)))
    print(f"\nThrough Kafka: {ticks:,} ticks over {symbols:,} symbols, embedded broker, "
          "4 partitions\n")  # fmt: skip
    print(f"{'process':<48} {'RSS MiB':>8} {'peak':>7} {'x baseline':>11}")
    base = rows[0][1]
    for label, rss, peak in rows:
        print(f"{label:<48} {rss:>8.1f} {peak:>7.1f} {rss / base:>10.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=10_000)
    ap.add_argument("--ticks", type=int, default=300_000)
    ap.add_argument("--no-kafka", action="store_true", help="the engine alone, no broker")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        engine_child(args.child, args.symbols, args.ticks)
        return
    engine_alone(args.symbols, args.ticks)
    if not args.no_kafka:
        through_kafka(args.symbols, args.ticks)


if __name__ == "__main__":
    main()
