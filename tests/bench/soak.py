"""Soak: the embedded broker, the producer and the consumer worker run headless together
for a long time at a high rate, to show that memory stays flat and nothing stalls.

    .venv/bin/python tests/bench/soak.py [--minutes 60] [--rate 5000] [--symbols 200]
                                         [--broker-memory 512] [--every 30]

Every `--every` seconds it prints this process's resident memory (the app), the embedded
broker's, the consumer's lag (messages and seconds behind), the ticks per second
delivered (out) and read (in), the health word, how often the broker was restarted, the
CPU use of this process and of the broker and the machine's load (a soak on a busy
machine measures the machine).
At the end a summary is checked against the bounds of a long run: the app's memory within
5% of its level after warm-up (the first 5 minutes, or a third of a shorter run), the
broker under its memory budget, the lag bounded, and no stall. Exit status 1 when a bound
is not kept. Logs (librdkafka's included) go to a file in a temporary folder.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from producer.generator import MarketGenerator
from producer.keeper import BROKER_MEMORY_MIB
from tui.runtime.logs import setup_logging
from tui.runtime.pipeline import Pipeline, PipelineOptions
from tui.runtime.snapshot import Snapshot

#: How often the run is looked at between printed rows (stalls, maxima).
LOOK_S = 0.5
#: Bounds of a long run (issue: app memory within 5% after warm-up; lag bounded).
RSS_DRIFT_PCT = 5.0
MAX_LAG_S = 30.0
MIB = 2**20


@dataclass
class Run:
    """What was seen over the run."""

    rows: list[tuple[float, float, float | None]] = field(default_factory=list)  # t, app, broker
    max_lag: int = 0
    max_lag_s: float = 0.0
    broker_max: int = 0
    stalls: int = 0  # times the health word turned STALL
    stall_s: float = 0.0  # seconds spent in STALL
    downs: int = 0  # times it turned DOWN
    health_seen: dict[str, int] = field(default_factory=dict)
    changes: list[tuple[float, str]] = field(default_factory=list)  # t, new health word
    pauses: list[float] = field(default_factory=list)  # budget restarts' measured pauses


class _BrokerCpu:
    """The embedded broker's CPU use since the last look (a restarted broker is a new
    process)."""

    def __init__(self) -> None:
        self._proc: psutil.Process | None = None

    def percent(self, pipeline: Pipeline) -> str:
        pid = pipeline.broker.pid if pipeline.broker is not None else None
        if pid is None:
            return "-"
        try:
            if self._proc is None or self._proc.pid != pid:
                self._proc = psutil.Process(pid)
                self._proc.cpu_percent()
                return "-"
            return f"{self._proc.cpu_percent():.0f}"
        except psutil.Error:
            self._proc = None
            return "-"


def _mib(n: float | None) -> str:
    return "-" if n is None else f"{n / MIB:7.1f}"


def _lag(snap: Snapshot) -> tuple[int, float]:
    k = snap.kafka
    return k.total_lag, max((p.lag_s for p in k.partitions), default=0.0)


def soak(minutes: float, rate: float, symbols: int, budget_mib: float, every: float) -> int:
    logdir = Path(tempfile.mkdtemp(prefix="limitwatch-soak-"))
    setup_logging(logdir / "soak.log")
    source = MarketGenerator(symbols=symbols, rate=rate, seed=11)
    pipeline = Pipeline(PipelineOptions(source=source, broker_memory_mib=budget_mib))
    me = psutil.Process()
    me.cpu_percent()
    broker_cpu = _BrokerCpu()
    duration = minutes * 60.0
    warmup = min(300.0, duration / 3)
    run = Run()
    print(
        f"soak: {minutes:g} min at {rate:g} ticks/s over {symbols} symbols, broker budget "
        f"{budget_mib:g} MiB, warm-up {warmup:.0f} s; log {logdir / 'soak.log'}",
        flush=True,
    )
    header = (
        f"{'t s':>6} {'app MiB':>8} {'brk MiB':>8} {'lag':>8} {'lag s':>6} "
        f"{'out/s':>8} {'in/s':>8} {'health':>7} {'restarts':>8} {'failed':>7} "
        f"{'app %':>6} {'brk %':>6} {'load':>5}"
    )
    print(header, flush=True)
    pipeline.start()
    start = time.monotonic()
    last_row = start
    last_delivered = last_consumed = 0
    last_health = ""
    last_pause = math.nan
    try:
        while (now := time.monotonic()) - start < duration:
            time.sleep(LOOK_S)
            snap = pipeline.latest()
            if snap is None:
                continue
            k = snap.kafka
            lag, lag_s = _lag(snap)
            run.max_lag = max(run.max_lag, lag)
            run.max_lag_s = max(run.max_lag_s, lag_s)
            run.broker_max = max(run.broker_max, k.broker_rss or 0)
            run.health_seen[k.health] = run.health_seen.get(k.health, 0) + 1
            if k.health == "STALL":
                run.stall_s += LOOK_S
                run.stalls += last_health != "STALL"
            run.downs += k.health == "DOWN" and last_health != "DOWN"
            if k.health != last_health:
                run.changes.append((now - start, k.health))
            last_health = k.health
            if pipeline.keeper is not None:
                pause = pipeline.keeper.status().last_pause_s
                if not math.isnan(pause) and pause != last_pause:
                    run.pauses.append(pause)
                    last_pause = pause
            if now - last_row >= every:
                prod = snap.producer
                delivered = prod.delivered if prod is not None else 0
                span = now - last_row
                out_rate = (delivered - last_delivered) / span
                in_rate = (k.consumed - last_consumed) / span
                last_row, last_delivered, last_consumed = now, delivered, k.consumed
                app = me.memory_info().rss
                t = now - start
                run.rows.append((t, app, k.broker_rss))
                print(
                    f"{t:6.0f} {_mib(app):>8} {_mib(k.broker_rss):>8} {lag:8d} {lag_s:6.1f} "
                    f"{out_rate:8.0f} {in_rate:8.0f} {k.health:>7} {k.broker_restarts:8d} "
                    f"{prod.failed if prod is not None else 0:7d} "
                    f"{me.cpu_percent():6.0f} {broker_cpu.percent(pipeline):>6} "
                    f"{os.getloadavg()[0]:5.1f}",
                    flush=True,
                )
    except KeyboardInterrupt:
        print("soak: interrupted; summary of what ran", flush=True)
    finally:
        last = pipeline.latest()
        stopped = pipeline.stop(timeout=5.0)
    return _summary(run, last, warmup, budget_mib, stopped)


def _summary(
    run: Run, last: Snapshot | None, warmup: float, budget_mib: float, stopped: bool
) -> int:
    """Print the summary and the bounds kept or not; 0 if all were kept."""
    print("\nsummary", flush=True)
    after = [(t, app) for t, app, _ in run.rows if t >= warmup]
    checks: list[tuple[str, bool]] = []
    if len(after) >= 2:
        base = after[0][1]
        drift = (after[-1][1] - base) / base * 100
        peak = (max(a for _, a in after) - base) / base * 100
        print(
            f"  app RSS after warm-up ({after[0][0]:.0f} s): {_mib(base).strip()} MiB -> "
            f"{_mib(after[-1][1]).strip()} MiB, drift {drift:+.1f}% (peak {peak:+.1f}%)"
        )
        checks.append((f"app RSS drift within {RSS_DRIFT_PCT:g}%", abs(peak) <= RSS_DRIFT_PCT))
    else:
        print("  app RSS: too few rows after warm-up to measure a drift")
    budget = budget_mib * MIB
    print(
        f"  broker RSS max {_mib(run.broker_max).strip()} MiB of a {budget_mib:g} MiB budget "
        f"({run.broker_max / budget * 100:.0f}%)"
    )
    checks.append(("broker RSS under its budget", 0 < run.broker_max < budget))
    print(f"  max lag {run.max_lag:,} messages, {run.max_lag_s:.1f} s behind")
    checks.append((f"lag under {MAX_LAG_S:g} s", run.max_lag_s < MAX_LAG_S))
    print(f"  stalls {run.stalls} ({run.stall_s:.1f} s in STALL), DOWN {run.downs} times")
    checks.append(("no stall", run.stalls == 0 and run.downs == 0))
    seen = ", ".join(f"{h} {n}" for h, n in sorted(run.health_seen.items()))
    print(f"  health looks ({LOOK_S:g} s apart): {seen} (PAUSE: a budget restart)")
    bad = [(t, word) for t, word in run.changes if word in ("STALL", "DOWN")]
    if bad:
        print("  STALL and DOWN began at: " + ", ".join(f"{t:.1f} s {w}" for t, w in bad))
    changes = ", ".join(f"{t:.1f} s {word}" for t, word in run.changes[:20])
    print(f"  health changes: {changes}" + (" ..." if len(run.changes) > 20 else ""))
    if last is not None:
        k, prod = last.kafka, last.producer
        print(
            f"  ticks delivered {prod.delivered if prod else 0:,}, failed "
            f"{prod.failed if prod else 0:,}, read {k.consumed:,}, bad {k.bad:,}, "
            f"errors {k.errors:,}; broker restarts {k.broker_restarts}"
        )
    pauses = ", ".join(f"{p:.1f} s" for p in run.pauses) or "none"
    print(f"  budget restarts' pauses: {pauses}")
    checks.append(("stopped within its budget", stopped))
    for name, ok in checks:
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    return 0 if all(ok for _, ok in checks) else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--rate", type=float, default=5000.0, help="ticks per second")
    p.add_argument("--symbols", type=int, default=200)
    p.add_argument("--broker-memory", type=float, default=BROKER_MEMORY_MIB, help="MiB")
    p.add_argument("--every", type=float, default=30.0, help="seconds between rows")
    args = p.parse_args()
    logging.captureWarnings(True)
    return soak(args.minutes, args.rate, args.symbols, args.broker_memory, args.every)


if __name__ == "__main__":
    sys.exit(main())
