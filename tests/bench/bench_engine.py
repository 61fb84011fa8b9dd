"""Engine throughput against pandas and the per-tick reference, measured in the same run.

    .venv/bin/python tests/bench/bench_engine.py [--batches 60] [--repeat 5] [--profile]

A batch is 10,000 ticks over 1,000 symbols (geometric random walks). Prints the full
update (all indicators, both forecasts, signals) in ticks/s, its ratios to pandas on the
same batch (groupby().rolling() for both averages + groupby().ewm(times=) for the EMA; and
the baseline: that plus the EW drift and volatility, every indicator the engine keeps that
pandas can compute, from ewm(times=) means of log returns, their squares and time steps) and to
the plain per-tick reference loop, the window-length independence (slow window 1024 vs
64), the forecast alone for 1,000 symbols x 2 limits, the whole engine on a sparse feed
(the market generator's 200 symbols, a tick every 4 s each, batches of 5,000 as the
consumer reads them, in one stream and in four), and the bytes of state per symbol.
The engine, both pandas jobs and both window lengths are measured in --repeat alternating
rounds. Engine times are the median over batches of each batch's best round; pandas
times the best round; the paired line divides pandas by the engine's median of the same
round, which shows how far the ratio moves with the machine's load. No assertions.
--profile prints where the full update spends its time (cProfile) instead of the table.
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import math
import pstats
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).parents[1] / "engine")]

from reference import Reference  # noqa: E402
from streams import random_walk  # noqa: E402

from engine import Engine, EngineConfig, first_passage  # noqa: E402
from producer.generator import MarketGenerator  # noqa: E402

N_TICKS = 10_000
N_SYMBOLS = 1_000


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    """Fastest of ``repeat`` runs, in seconds (the least disturbed by other processes)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


class EngineReplay:
    """The same batches replayed on a fresh engine after the same warm-up: each call is
    one round, so the state seen by each timed batch is identical across rounds. The
    warm-up fills the slow window of every symbol, so all rules, crosses included, are
    live."""

    def __init__(self, cfg: EngineConfig, batches: int, seed: int = 1) -> None:
        self.cfg, self.batches = cfg, batches
        self.warm = max(20, -(-cfg.slow * 12 * N_SYMBOLS // (10 * N_TICKS)))
        self.ids, self.t, self.price = random_walk(
            (self.warm + batches) * N_TICKS, N_SYMBOLS, seed=seed, step_s=1e-3, vol=4e-4
        )
        self.names = [f"S{i:04d}" for i in range(N_SYMBOLS)]

    def __call__(self, profile: cProfile.Profile | None = None) -> tuple[np.ndarray, float]:
        """Seconds of each timed batch, and signals per batch. With ``profile``, only the
        timed updates are profiled."""
        eng = Engine(self.cfg)
        eng.register(self.names)
        ids, t, price = self.ids, self.t, self.price
        for b in range(self.warm):
            sl = slice(b * N_TICKS, (b + 1) * N_TICKS)
            eng.update(ids[sl], t[sl], price[sl])
        took = np.empty(self.batches)
        signals = 0
        for b in range(self.warm, self.warm + self.batches):
            sl = slice(b * N_TICKS, (b + 1) * N_TICKS)
            i, tt, pp = ids[sl], t[sl], price[sl]
            if profile is not None:
                profile.enable()
            start = time.perf_counter()
            out = eng.update(i, tt, pp)
            took[b - self.warm] = time.perf_counter() - start
            if profile is not None:
                profile.disable()
            signals += len(out)
        return took, signals / self.batches


def per_batch(rounds: list[np.ndarray]) -> float:
    """Median over batches of each batch's best round, in seconds."""
    return float(np.median(np.min(rounds, axis=0)))


def pandas_jobs() -> tuple[Callable[[], None], Callable[[], None]]:
    """pandas on one batch computing (1) the averages only: both rolling means and the
    EMA; (2) every indicator the engine keeps that pandas can: (1) plus the
    exponentially weighted drift ``sum(w r) / sum(w dt)`` and volatility
    ``sqrt(sum(w r**2) / sum(w dt))`` of log price per second (r: log return, dt: its
    time step), as ratios of ``ewm(times=).mean()`` of r, r**2 and dt."""
    ids, t, price = random_walk(N_TICKS, N_SYMBOLS, seed=2, step_s=1e-3, vol=4e-4)
    df = pd.DataFrame({"sym": ids, "t": pd.to_datetime(t, unit="s"), "p": price})
    halflife = pd.Timedelta(seconds=EngineConfig().halflife_s)

    def averages() -> None:
        g = df.groupby("sym")["p"]
        g.rolling(20, min_periods=1).mean()
        g.rolling(100, min_periods=1).mean()
        g.ewm(halflife=halflife, times=df["t"]).mean()

    def indicators() -> None:
        averages()
        steps = pd.DataFrame({"lp": np.log(df["p"]), "ts": t, "sym": ids})
        d = steps.groupby("sym")[["lp", "ts"]].diff()
        w = pd.DataFrame({"sym": ids, "r": d["lp"], "r2": d["lp"] ** 2, "dt": d["ts"]})
        m = w.groupby("sym")[["r", "r2", "dt"]].ewm(halflife=halflife, times=df["t"]).mean()
        _drift, _vol = m["r"] / m["dt"], np.sqrt(m["r2"] / m["dt"])

    return averages, indicators


def reference_per_batch(repeat: int) -> float:
    ids, t, price = random_walk(3 * N_TICKS, N_SYMBOLS, seed=3, step_s=1e-3, vol=4e-4)
    names = [f"S{i:04d}" for i in range(N_SYMBOLS)]

    def run() -> None:
        ref = Reference()
        for a in range(0, 3 * N_TICKS, N_TICKS):  # two warm batches, time the third
            if a == 2 * N_TICKS:
                start[0] = time.perf_counter()
            for s, ti, pi in zip(
                ids[a : a + N_TICKS].tolist(),
                t[a : a + N_TICKS].tolist(),
                price[a : a + N_TICKS].tolist(),
                strict=True,
            ):
                ref.tick(names[s], ti, pi)
        took.append(time.perf_counter() - start[0])

    start, took = [0.0], []
    for _ in range(max(1, repeat // 2)):
        run()
    return min(took)


def forecast_alone(repeat: int) -> float:
    rng = np.random.default_rng(4)
    d = np.abs(rng.normal(0.01, 0.01, 2 * N_SYMBOLS))
    m = rng.normal(0.0, 2e-4, 2 * N_SYMBOLS)
    s = np.abs(rng.normal(1e-3, 3e-4, 2 * N_SYMBOLS))
    loops = 200
    return best_of(repeat, lambda: [first_passage(d, m, s, 60.0) for _ in range(loops)]) / loops


#: The sparse feed: the market generator's ticks (a tick every 4 s per symbol, about
#: 100 s of event time in a batch), as the consumer worker reads them from 4 partitions.
FEED_TICKS, FEED_SYMBOLS, FEED_BATCH = 200_000, 200, 5_000


def feed_rates(repeat: int) -> dict[int, float]:
    """Ticks/s of the whole engine over the sparse feed in 1 and in 4 streams (a symbol's
    stream by a hash of its name, as a partition), best of ``repeat`` runs each: there
    most of the work is per slot of event time (the calibration samples every symbol's
    forecast in force each twelfth of a horizon) and per stream, not per tick."""
    ticks = list(
        itertools.islice(MarketGenerator(symbols=FEED_SYMBOLS, seed=3, start=1.7e9), FEED_TICKS)
    )
    names = [tick.symbol for tick in ticks]
    t = np.array([tick.ts for tick in ticks])
    price = np.array([tick.price for tick in ticks])
    best = {1: math.inf, 4: math.inf}
    for _ in range(repeat):
        for streams in best:
            of = [zlib.crc32(name.encode()) % streams for name in names]
            eng = Engine(EngineConfig(history=0))
            start = time.perf_counter()
            for a in range(0, FEED_TICKS, FEED_BATCH):
                b = a + FEED_BATCH
                ids = eng.register(names[a:b], stream=of[a:b])
                eng.update(ids, t[a:b], price[a:b])
            best[streams] = min(best[streams], time.perf_counter() - start)
    return {streams: FEED_TICKS / took for streams, took in best.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="cProfile the full update")
    args = ap.parse_args()

    default = EngineConfig()
    if args.profile:
        prof = cProfile.Profile()
        EngineReplay(default, args.batches)(profile=prof)
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        return
    # Rounds alternate engine and pandas (and the two window lengths), so the ratios
    # also exist per round, from measurements taken moments apart.
    replays = {
        "full": EngineReplay(default, args.batches),
        "w64": EngineReplay(EngineConfig(fast=16, slow=64, history=64), args.batches),
        "w1024": EngineReplay(EngineConfig(fast=256, slow=1024, history=1024), args.batches),
    }
    averages, indicators = pandas_jobs()
    runs: dict[str, list] = {name: [] for name in (*replays, "pd_avg", "pd")}
    signals = 0.0
    for r in range(args.repeat):
        print(f"round {r + 1} of {args.repeat} ...", file=sys.stderr, flush=True)
        for name, replay in replays.items():
            took, per_update = replay()
            runs[name].append(took)
            if name == "full":
                signals = per_update
        runs["pd_avg"].append(best_of(1, averages))
        runs["pd"].append(best_of(1, indicators))
    full, w64, w1024 = (per_batch(runs[name]) for name in replays)
    pd_avg, pd_t = min(runs["pd_avg"]), min(runs["pd"])
    paired = np.array(runs["pd"]) / np.median(runs["full"], axis=1)
    ref_t = reference_per_batch(args.repeat)
    fc = forecast_alone(args.repeat)
    feed = feed_rates(args.repeat)
    eng = Engine(default)

    rate = N_TICKS / full
    rows = [
        (
            "engine full update (default config)",
            f"{full * 1e3:9.3f} ms",
            f"{rate / 1e6:6.2f} M",
            ">= 5 M ticks/s",
        ),
        ("  signals per batch", f"{signals:9.1f}", "", ""),
        (
            "pandas, averages: rolling x2 + ewm(times)",
            f"{pd_avg * 1e3:9.3f} ms",
            f"{N_TICKS / pd_avg / 1e6:6.2f} M",
            "",
        ),
        ("  engine speed-up over that", f"{pd_avg / full:9.1f} x", "", ""),
        (
            "pandas, + EW drift and vol [baseline]",
            f"{pd_t * 1e3:9.3f} ms",
            f"{N_TICKS / pd_t / 1e6:6.2f} M",
            "",
        ),
        ("  engine speed-up over pandas", f"{pd_t / full:9.1f} x", "", ">= 50 x"),
        (
            "  same, round by round: median (min-max)",
            f"{np.median(paired):5.1f} x",
            "",
            f"({paired.min():.1f}-{paired.max():.1f} x)",
        ),
        (
            "per-tick reference loop [baseline]",
            f"{ref_t * 1e3:9.3f} ms",
            f"{N_TICKS / ref_t / 1e6:6.2f} M",
            "",
        ),
        ("  engine speed-up over the reference", f"{ref_t / full:9.1f} x", "", ">= 10 x"),
        ("engine, windows 16/64", f"{w64 * 1e3:9.3f} ms", f"{N_TICKS / w64 / 1e6:6.2f} M", ""),
        (
            "engine, windows 256/1024",
            f"{w1024 * 1e3:9.3f} ms",
            f"{N_TICKS / w1024 / 1e6:6.2f} M",
            "",
        ),
        ("  window 1024 / window 64", f"{w1024 / w64:9.2f} x", "", "<= 1.5 x"),
        ("forecast alone, 1000 symbols x 2 limits", f"{fc * 1e3:9.3f} ms", "", "< 0.5 ms"),
        (f"sparse feed, {FEED_SYMBOLS} symbols, 1 stream", "", f"{feed[1] / 1e6:6.2f} M", ""),
        ("  the same in 4 streams (4 partitions)", "", f"{feed[4] / 1e6:6.2f} M", ""),
        ("state bytes per symbol (default config)", f"{eng.bytes_per_symbol:9d}", "", ""),
        (
            "  windows 256/1024",
            f"{Engine(EngineConfig(fast=256, slow=1024, history=1024)).bytes_per_symbol:9d}",
            "",
            "",
        ),
    ]
    print(
        f"limitwatch engine benchmark: batches of {N_TICKS:,} ticks over {N_SYMBOLS:,} symbols,"
        f" {args.batches} batches, {args.repeat} rounds"
    )
    print(f"{'measure':44s} {'value':>12s} {'ticks/s':>8s}  target")
    print("-" * 80)
    for name, value, tps, target in rows:
        print(f"{name:44s} {value:>12s} {tps:>8s}  {target}")


if __name__ == "__main__":
    main()
