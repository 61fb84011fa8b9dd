"""The monitor under load: CPU per frame, ingest with the UI on, and keypress latency,
measured in the same run on the embedded broker.

    .venv/bin/python tests/bench/bench_ui.py [--frames 40] [--ticks 300000] [--presses 20]

1. CPU time per frame: LimitwatchApp runs headless (`run_test(size=(200, 60))`) on an
   in-process feed whose engine advances by a batch of generator ticks before every frame
   (every row, the chart, the signals and the Kafka pane change). A frame is
   `refresh_view()` plus Textual's layout and paint (`pilot.pause()`), timed with
   `time.process_time`; the engine update happens outside the timed part. The same is
   measured for a snapshot that did not change (most of that is the test pilot's own
   wait for idle; `refresh_view()` alone is shown too). Headless Textual renders every strip but
   skips encoding them as escape sequences for a terminal, so a real terminal costs a bit
   more.
2. Ingest: a topic pre-filled with --ticks ticks is drained by the consumer worker,
   headless and with the app running on the pipeline in the same process; ticks/s from the
   first snapshot that counted a tick to the snapshot that counted them all. Best of two.
3. Keypress latency: the app on a live pipeline, the generator producing 50,000 ticks/s
   over 200 symbols (paced), first from a process of its own (`limitwatch produce`, as a
   producer elsewhere feeding the cluster), then from a thread of the monitor's process
   (as `limitwatch` alone runs it; one GIL for producer, consumer and UI, so the flow
   falls short of 50,000). `B` goes in through the driver as a terminal key would, and
   the clock stops at the first frame painted with the new buy limit in the watchlist
   (shown in italics until the engine reports it). Also shown: key -> the app's limit
   command, key -> the worker's snapshot with the new limit, and key -> the first frame
   painted from that snapshot (the limit confirmed, its forecast recomputed).

Slow cases stop early, after at least 3 samples, once they used their time budget; the
sample count is in the table. Run it as a script from the repository root (it reuses
`fill` from bench_consumer.py next to it). No assertions: the targets in the last column
are read, not enforced.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import platform
import random
import secrets
import statistics
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from bench_consumer import fill
from rich.console import RenderableType
from textual import events
from textual.screen import Screen

from engine import Engine, EngineConfig, LimitError, Signal
from producer.broker import EmbeddedBroker
from producer.control import ProducerStats
from producer.generator import MarketGenerator
from producer.topics import ensure_topics
from producer.wire import Tick
from tui.app import REFRESH_HZ, LimitwatchApp
from tui.runtime.pipeline import Pipeline, PipelineOptions
from tui.runtime.snapshot import KafkaStats, Notice, PartitionLag, Snapshot, SnapshotSlot
from tui.widgets.watchlist import Watchlist

SIZE = (200, 60)
START = 1_700_000_000.0
#: Ticks the engine advances by between two frames: 50,000 ticks/s read at 20 snapshots/s.
FRAME_TICKS = 2_500
#: Live flow for the keypress measurement.
LIVE_RATE = 50_000.0
LIVE_SYMBOLS = 200
#: Limit step for the presses: 20 raises stay well inside the generator's 1.5% band.
PRESS_STEP = 0.001
#: Wall-time budgets: slow cases stop early (after 3 samples) to keep the run short.
FRAME_BUDGET_S = 20.0
PRESS_BUDGET_S = 40.0


# -- 1. CPU per frame ----------------------------------------------------------------------
class ChangingFeed:
    """The real engine on seeded generator ticks; `advance()` moves it by one batch and
    publishes a new snapshot, which `latest()` then returns until the next advance."""

    def __init__(self, symbols: int, batch: int = FRAME_TICKS, seed: int = 1) -> None:
        self.batch = batch
        config = EngineConfig()
        self.engine = Engine(config)
        gen = MarketGenerator(symbols=symbols, rate=LIVE_RATE, seed=seed, start=START)
        for symbol, (buy, sell) in gen.limits.items():
            self.engine.set_limits(symbol, buy=buy, sell=sell)
        self._ticks: Iterator[Tick] = iter(gen)
        self.signals: deque[Signal] = deque(maxlen=500)
        self.signal_count = 0
        self.consumed = 0
        self.seq = 0
        self.selected: str | None = None
        self.notices: list[Notice] = []
        # Fill every symbol's slow window so averages, crosses and forecasts are all live.
        self._run(list(itertools.islice(self._ticks, config.slow * 12 // 10 * symbols)))
        self.advance()

    def _run(self, ticks: list[Tick]) -> None:
        ids = self.engine.register([t.symbol for t in ticks])
        fresh = self.engine.update(
            np.asarray(ids, dtype=np.int32),
            np.array([t.ts for t in ticks]),
            np.array([t.price for t in ticks]),
        )
        self.signals.extend(fresh)
        self.signal_count += len(fresh)
        self.consumed += len(ticks)

    def advance(self) -> None:
        """Run the next batch of ticks and publish a snapshot of the result."""
        self._run(list(itertools.islice(self._ticks, self.batch)))
        self._publish()

    def _publish(self) -> None:
        self.seq += 1
        lag = 40 * (self.seq % 7)
        kafka = KafkaStats(
            bootstrap="127.0.0.1:9092",
            embedded=True,
            topic="prices",
            broker_state="UP",
            health="OK",
            partitions=tuple(
                PartitionLag(p, self.consumed // 4 + lag, self.consumed // 4, lag, 0.05, (lag,))
                for p in range(4)
            ),
            consumed=self.consumed,
            rate_in=LIVE_RATE,
            since_last_tick_s=0.01,
            broker_rss=64 * 2**20,
        )
        history = self.engine.history(self.selected) if self.selected else None
        self._snapshot = Snapshot(
            seq=self.seq,
            wall=time.time(),
            engine=self.engine.state(),
            signals=tuple(self.signals),
            signal_count=self.signal_count,
            kafka=kafka,
            notices=tuple(self.notices),
            producer=ProducerStats(source="generator", produced=self.consumed, rate=LIVE_RATE),
            source="generator",
            chart_symbol=self.selected,
            history=history,
        )

    # -- Feed ------------------------------------------------------------------------------
    def latest(self) -> Snapshot:
        return self._snapshot

    def set_limits(self, symbol: str, buy: float | None, sell: float | None) -> None:
        try:
            self.engine.set_limits(symbol, buy=buy, sell=sell)
        except LimitError as exc:
            self.notices.append(Notice(len(self.notices) + 1, f"{symbol}: {exc}", error=True))
        self._publish()

    def share_limits(self, symbol: str, buy: float, sell: float, side: str = "") -> None:
        pass  # one monitor: nobody to tell

    def select(self, symbol: str | None) -> None:
        self.selected = symbol

    def set_paused(self, paused: bool) -> None:
        pass

    def set_speed(self, speed: float) -> None:
        pass

    def record(self, path: str | None) -> None:
        pass


@dataclass(frozen=True)
class FrameCosts:
    """CPU seconds of each timed frame, and of `refresh_view()` alone on the same snapshot."""

    changed: list[float]
    unchanged: list[float]
    unchanged_call: list[float]


async def frame_costs(symbols: int, frames: int, budget_s: float) -> FrameCosts:
    """CPU per frame with a new snapshot each frame, then with the same snapshot.

    New-snapshot frames stop early (after at least 3) once they have taken `budget_s`.
    """
    feed = ChangingFeed(symbols)
    app = LimitwatchApp(feed)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()  # mounted: the rows are added and the chart's symbol is picked
        for _ in range(2):  # the chart's first history, then a steady frame
            feed.advance()
            app.refresh_view()
            await pilot.pause()
        changed: list[float] = []
        deadline = time.monotonic() + budget_s
        while len(changed) < frames and (len(changed) < 3 or time.monotonic() < deadline):
            feed.advance()
            start = time.process_time()
            app.refresh_view()
            await pilot.pause()
            changed.append(time.process_time() - start)
        unchanged: list[float] = []
        unchanged_call: list[float] = []
        for _ in range(frames):
            start = time.process_time()
            app.refresh_view()
            unchanged_call.append(time.process_time() - start)
            await pilot.pause()
            unchanged.append(time.process_time() - start)
    return FrameCosts(changed, unchanged, unchanged_call)


# -- 2. ingest, headless and with the app --------------------------------------------------
def _drain_options(bootstrap: str, topic: str) -> PipelineOptions:
    return PipelineOptions(bootstrap=bootstrap, topic=topic, from_beginning=True)


@dataclass
class DrainClock:
    """First snapshot that counted a tick, and the one that counted them all."""

    n: int
    first: tuple[float, int] | None = None
    last: tuple[float, int] | None = None

    def see(self, snap: Snapshot | None) -> bool:
        """Note `snap`; True once every tick has been counted."""
        if snap is None or snap.kafka.consumed == 0:
            return False
        now = time.perf_counter()
        if self.first is None:
            self.first = (now, snap.kafka.consumed)
        if snap.kafka.consumed >= self.n:
            self.last = (now, snap.kafka.consumed)
            return True
        return False

    @property
    def rate(self) -> float:
        assert self.first is not None and self.last is not None
        took = self.last[0] - self.first[0]
        return (self.last[1] - self.first[1]) / took if took > 0 else math.nan


def drain_headless(bootstrap: str, topic: str, n: int, timeout: float = 60.0) -> float:
    """Ticks/s of the consumer worker alone."""
    pipeline = Pipeline(_drain_options(bootstrap, topic))
    clock = DrainClock(n)
    try:
        pipeline.start()
        deadline = time.monotonic() + timeout
        while not clock.see(pipeline.worker.latest() if pipeline.worker else None):
            if time.monotonic() > deadline:
                raise TimeoutError(f"headless drain of {n:,} ticks took over {timeout:g} s")
            time.sleep(0.002)
    finally:
        pipeline.stop()
    return clock.rate


async def drain_with_app(bootstrap: str, topic: str, n: int, timeout: float = 60.0) -> float:
    """Ticks/s of the consumer worker while the app renders its snapshots."""
    pipeline = Pipeline(_drain_options(bootstrap, topic))
    clock = DrainClock(n)
    try:
        app = LimitwatchApp(pipeline, freeze_gc=True)  # as `limitwatch` runs it
        async with app.run_test(size=SIZE):
            pipeline.start()
            deadline = time.monotonic() + timeout
            # Read the worker's slot, not pipeline.latest(): the measurement must not add
            # work to the UI thread beyond what the app itself does.
            while not clock.see(pipeline.worker.latest() if pipeline.worker else None):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"drain of {n:,} ticks with the app took over {timeout:g} s")
                await asyncio.sleep(0.002)
            await _quiet_exit(pipeline)
    finally:
        pipeline.stop()
    return clock.rate


async def _quiet_exit(pipeline: Pipeline) -> None:
    """Stop the pipeline before the app exits, and let the app show the last snapshot.

    When a `run_test` block ends, the app's 10 Hz timer keeps firing while Textual removes
    the widgets; a new snapshot then makes `refresh_view` query a widget that is gone
    (NoMatches). With the worker stopped first no new snapshot arrives during the exit.
    """
    pipeline.stop()
    await asyncio.sleep(0.25)


# -- 3. keypress latency on a live pipeline ------------------------------------------------
@dataclass(frozen=True)
class Press:
    """One `B`: seconds from the key to the app's command, to the worker's snapshot with
    the new limit, and to the painted frame showing it."""

    to_command: float
    to_snapshot: float
    to_screen: float
    to_confirmed: float
    rate_in: float


class Watch:
    """Notes when the app sends a limit command for one symbol, when the worker publishes a
    snapshot with its new buy limit, and when the app first paints a frame showing it.

    The command is seen by wrapping the pipeline's `set_limits` (the Feed the app calls).
    The worker side wraps the slot's `put` (runs in the worker thread). The app side wraps
    the app's `_display`, which Textual calls with every rendered frame (headless too,
    where it then writes nothing): the frame was rendered from the widgets as they were at
    that moment, so a changed cell seen there is on that frame.
    """

    def __init__(self, app: LimitwatchApp, pipeline: Pipeline, slot: SnapshotSlot) -> None:
        self.app = app
        self.symbol: str | None = None
        self.old_buy = math.nan
        self.old_cell = ""
        self.commanded: float | None = None
        self.published: float | None = None
        self.painted: float | None = None
        self.confirmed: float | None = None
        display: Callable[[Screen[object], RenderableType | None], None] = app._display
        put: Callable[[Snapshot], None] = slot.put
        set_limits: Callable[[str, float | None, float | None], None] = pipeline.set_limits

        def on_display(screen: Screen[object], renderable: RenderableType | None) -> None:
            if self.symbol is not None and self.confirmed is None and self.cell() != self.old_cell:
                now = time.perf_counter()
                if self.painted is None:
                    self.painted = now
                if not self.app.query_one(Watchlist).is_pending(self.symbol):
                    self.confirmed = now
            display(screen, renderable)

        def on_put(snap: Snapshot) -> None:
            symbol = self.symbol
            if symbol is not None and self.published is None and self.buy(snap) != self.old_buy:
                self.published = time.perf_counter()
            put(snap)

        def on_set_limits(symbol: str, buy: float | None, sell: float | None) -> None:
            if symbol == self.symbol and self.commanded is None:
                self.commanded = time.perf_counter()
            set_limits(symbol, buy, sell)

        app._display = on_display  # type: ignore[method-assign]
        slot.put = on_put  # type: ignore[method-assign]
        pipeline.set_limits = on_set_limits  # type: ignore[method-assign]

    def cell(self) -> str:
        assert self.symbol is not None
        return self.app.query_one(Watchlist).cell_text(self.symbol, "buy")

    def buy(self, snap: Snapshot) -> float:
        assert self.symbol is not None
        return float(snap.engine.buy[snap.engine.symbols.index(self.symbol)])

    def arm(self, symbol: str, snap: Snapshot) -> None:
        """Watch `symbol`'s buy limit from its value in `snap` on."""
        self.symbol = None
        self.commanded = self.published = self.painted = self.confirmed = None
        self.old_buy = float(snap.engine.buy[snap.engine.symbols.index(symbol)])
        self.old_cell = self.app.query_one(Watchlist).cell_text(symbol, "buy")
        self.symbol = symbol


def start_producer_process(bootstrap: str, topic: str) -> subprocess.Popen[bytes]:
    """`limitwatch produce` in a process of its own, at LIVE_RATE over LIVE_SYMBOLS."""
    ensure_topics(bootstrap, topic, partitions=4)
    command = [sys.executable, "-m", "tui.cli", "produce", "--bootstrap-servers", bootstrap,
               "--topic", topic, "--rate", f"{LIVE_RATE:g}", "--symbols", str(LIVE_SYMBOLS),
               "--seed", "1"]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def keypress_latency(
    bootstrap: str,
    presses: int,
    budget_s: float,
    separate_producer: bool,
    timeout: float = 30.0,
    settle_s: float = 3.0,
) -> list[Press]:
    """Press `B` and `b` in turn while LIVE_RATE ticks/s are produced; time each press to
    the screen.

    The producer runs as a thread of the monitor's process (as `limitwatch` alone runs
    it), or as a process of its own (`limitwatch produce`, as a producer elsewhere feeding
    the cluster would). Stops after `presses` presses, or (after at least 3) once the
    presses took `budget_s`.
    """
    topic = f"bench-live-{secrets.token_hex(3)}"
    producer: subprocess.Popen[bytes] | None = None
    if separate_producer:
        producer = start_producer_process(bootstrap, topic)
        source = None
    else:
        source = MarketGenerator(symbols=LIVE_SYMBOLS, rate=LIVE_RATE, seed=1)
    pipeline = Pipeline(
        PipelineOptions(bootstrap=bootstrap, topic=topic, source=source, from_beginning=True)
    )
    jitter = random.Random(1)
    results: list[Press] = []
    try:
        pipeline.start()
        assert pipeline.worker is not None
        app = LimitwatchApp(pipeline, step=PRESS_STEP, freeze_gc=True)  # as `limitwatch` does
        async with app.run_test(size=SIZE):
            watch = Watch(app, pipeline, pipeline.worker.slot)
            table = app.query_one(Watchlist)
            # Wait for the flow to reach its pace (the rate is a 3 s window).
            settled = time.monotonic() + settle_s
            while time.monotonic() < settled or table.selected_symbol is None:
                await asyncio.sleep(0.05)
            deadline = time.monotonic() + budget_s
            while len(results) < presses and (len(results) < 3 or time.monotonic() < deadline):
                await asyncio.sleep(jitter.uniform(0.15, 0.35))  # off the timers' beat
                symbol = table.selected_symbol
                before = pipeline.worker.latest()
                assert symbol is not None and before is not None and app._driver is not None
                watch.arm(symbol, before)
                start = time.perf_counter()
                # B and b in turn (as the terminal sends them): twenty B in a row raised
                # the buy limit into the sell limit, where a press is refused.
                key = "b" if len(results) % 2 else "B"
                app._driver.send_message(events.Key(key, key))
                while watch.confirmed is None:
                    if time.perf_counter() - start > timeout:
                        raise TimeoutError(f"{key} on {symbol} not on screen within {timeout:g} s")
                    await asyncio.sleep(0.001)
                painted = watch.painted if watch.painted is not None else watch.confirmed
                published = watch.published if watch.published is not None else painted
                commanded = watch.commanded if watch.commanded is not None else published
                snap = pipeline.worker.latest()
                rate = snap.kafka.rate_in if snap is not None else math.nan
                results.append(
                    Press(
                        commanded - start,
                        published - start,
                        painted - start,
                        watch.confirmed - start,
                        rate,
                    )
                )
            await _quiet_exit(pipeline)
    finally:
        pipeline.stop()
        if producer is not None:
            producer.terminate()
            producer.wait(timeout=10)
    return results


def press_rows(presses: list[Press], where: str) -> list[tuple[str, str, str]]:
    """The table rows of one keypress run."""
    n = len(presses)
    rows = [
        (
            f"live flow, producer {where} ({LIVE_SYMBOLS} symbols)",
            f"{statistics.median(p.rate_in for p in presses):,.0f} ticks/s",
            "~50,000",
        )
    ]
    stages = (
        ("app sends the limit command", [p.to_command for p in presses], ""),
        ("worker snapshot with the new limit", [p.to_snapshot for p in presses], ""),
        ("painted on screen", [p.to_screen for p in presses], "< 100 ms"),
        ("painted as the engine reports it", [p.to_confirmed for p in presses], ""),
    )
    for stage, values, target in stages:
        rows.append(
            (
                f"  B, b -> {stage} (n={n}): median / p95",
                f"{ms(statistics.median(values))} / {ms(p95(values))}",
                target,
            )
        )
    return rows  # fmt: skip


# -- the table -----------------------------------------------------------------------------
def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95))


async def run_ui(args: argparse.Namespace, bootstrap: str) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for symbols in (50, 500):
        costs = await frame_costs(symbols, args.frames, FRAME_BUDGET_S)
        mean = statistics.mean(costs.changed)
        n, m = len(costs.changed), len(costs.unchanged)
        rows += [
            (f"CPU/frame, new snapshot, {symbols} symbols (n={n}): mean",
             f"{ms(mean)} = {mean * REFRESH_HZ:.0%} of a core at {REFRESH_HZ:g} Hz", ""),
            (f"CPU/frame, new snapshot, {symbols} symbols (n={n}): p95",
             ms(p95(costs.changed)), ""),
            (f"CPU/frame, same snapshot, {symbols} symbols (n={m}): mean",
             ms(statistics.mean(costs.unchanged)), ""),
            (f"CPU/frame, same snapshot, {symbols} symbols (n={m}): p95",
             ms(p95(costs.unchanged)), ""),
            (f"  of which refresh_view() itself (n={m}): mean",
             f"{statistics.mean(costs.unchanged_call) * 1e6:.0f} µs", ""),
        ]  # fmt: skip
        print(f"  frames timed for {symbols} symbols", flush=True)

    topic = f"bench-fill-{secrets.token_hex(3)}"
    ensure_topics(bootstrap, topic, partitions=4)
    started = time.perf_counter()
    fill(bootstrap, topic, args.ticks)
    print(f"  {args.ticks:,} ticks produced in {time.perf_counter() - started:.1f} s", flush=True)
    headless: list[float] = []
    with_app: list[float] = []
    for _ in range(2):  # interleaved, so drift in the machine hits both alike
        headless.append(drain_headless(bootstrap, topic, args.ticks))
        with_app.append(await drain_with_app(bootstrap, topic, args.ticks))
    best_headless, best_app = max(headless), max(with_app)
    runs = ", ".join(f"{h:,.0f} / {a:,.0f}" for h, a in zip(headless, with_app, strict=True))
    print(f"  drained headless / with the app (ticks/s): {runs}", flush=True)
    rows += [
        ("ingest, consumer worker headless (baseline)", f"{best_headless:,.0f} ticks/s", ""),
        ("ingest, worker + app in the same process", f"{best_app:,.0f} ticks/s", ""),
        ("ingest with the app / headless", f"{best_app / best_headless:.0%}", ">= 80%"),
    ]

    for separate, where in ((True, "in its own process"), (False, "in the monitor's process")):
        presses = await keypress_latency(bootstrap, args.presses, PRESS_BUDGET_S, separate)
        rows += press_rows(presses, where)
        print(f"  presses timed, producer {where}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40, help="timed frames per case")
    parser.add_argument("--ticks", type=int, default=300_000, help="ticks in the drained topic")
    parser.add_argument("--presses", type=int, default=20, help="B presses timed")
    args = parser.parse_args()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"\n{os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), load average "
        f"{load} at the start, {platform.python_implementation()} {platform.python_version()}"
        f" on {platform.machine()}.\nThe producer, the consumer worker and the UI share one "
        "process (one GIL); the broker is a child process.\n"
        f"Frames at {SIZE[0]}x{SIZE[1]}, {FRAME_TICKS:,} ticks between frames; "
        f"{args.ticks:,} ticks drained; {args.presses} presses at "
        f"{LIVE_RATE:,.0f} ticks/s.\n",
        flush=True,
    )
    started = time.perf_counter()
    with EmbeddedBroker() as broker:
        rows = asyncio.run(run_ui(args, broker.bootstrap))
        rss = broker.rss_bytes() or 0
    took = time.perf_counter() - started
    print(f"\n(broker RSS at the end {rss / 2**20:.0f} MiB; whole run {took:.0f} s)\n")
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    print(f"{'measure':<{width}} | {'value':<{vwidth}} | target")
    print(f"{'-' * width}-+-{'-' * vwidth}-+-{'-' * 8}")
    for name, value, target in rows:
        print(f"{name:<{width}} | {value:<{vwidth}} | {target}")


if __name__ == "__main__":
    main()
