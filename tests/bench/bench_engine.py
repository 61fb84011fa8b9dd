"""Engine throughput against pandas and the per-tick reference, measured in the same run.

    .venv/bin/python tests/bench/bench_engine.py [--batches 60] [--repeat 5] [--profile]

A batch is 10,000 ticks over 1,000 symbols (geometric random walks). Prints the full
update (all indicators, both forecasts, signals) in ticks/s, its ratios to pandas on the
same batch (groupby().rolling() for both averages + groupby().ewm(times=) for the EMA; and
the baseline: that plus the EW drift and volatility, every indicator the engine keeps that
pandas can compute, from ewm(times=) means of log returns, their squares and time steps) and to
the plain per-tick reference loop, the window-length independence (slow window 1024 vs
64), the forecast alone for 1,000 symbols x 2 limits, and the bytes of state per symbol.
Times are the median over batches of the best of --repeat runs; no assertions.
--profile prints where the full update spends its time (cProfile) instead of the table.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).parents[1] / "engine")]

from reference import Reference  # noqa: E402
from streams import random_walk  # noqa: E402

from engine import Engine, EngineConfig, first_passage  # noqa: E402

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


def engine_per_batch(
    cfg: EngineConfig,
    batches: int,
    repeat: int,
    seed: int = 1,
    profile: cProfile.Profile | None = None,
) -> tuple[float, float]:
    """Median seconds per batch of a warm engine, and signals per batch.

    Each repeat replays the same batches on a fresh engine (after the same warm-up), so
    the state seen by each timed batch is identical across repeats. The warm-up fills
    the slow window of every symbol, so all rules, crosses included, are live. With
    ``profile``, only the timed updates are profiled.
    """
    warm = max(20, -(-cfg.slow * 12 * N_SYMBOLS // (10 * N_TICKS)))
    ids, t, price = random_walk(
        (warm + batches) * N_TICKS, N_SYMBOLS, seed=seed, step_s=1e-3, vol=4e-4
    )
    names = [f"S{i:04d}" for i in range(N_SYMBOLS)]
    per_batch = np.full((repeat, batches), np.inf)
    signals = 0
    for r in range(repeat):
        eng = Engine(cfg)
        eng.register(names)
        for b in range(warm):
            sl = slice(b * N_TICKS, (b + 1) * N_TICKS)
            eng.update(ids[sl], t[sl], price[sl])
        signals = 0
        for b in range(warm, warm + batches):
            sl = slice(b * N_TICKS, (b + 1) * N_TICKS)
            i, tt, pp = ids[sl], t[sl], price[sl]
            if profile is not None:
                profile.enable()
            start = time.perf_counter()
            out = eng.update(i, tt, pp)
            per_batch[r, b - warm] = time.perf_counter() - start
            if profile is not None:
                profile.disable()
            signals += len(out)
    return float(np.median(per_batch.min(axis=0))), signals / batches


def pandas_per_batch(repeat: int) -> tuple[float, float]:
    """Seconds per batch for pandas computing (1) the averages only: both rolling means
    and the EMA; (2) every indicator the engine keeps that pandas can: (1) plus the
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

    return best_of(repeat, averages), best_of(repeat, indicators)


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="cProfile the full update")
    args = ap.parse_args()

    default = EngineConfig()
    if args.profile:
        prof = cProfile.Profile()
        engine_per_batch(default, args.batches, 1, profile=prof)
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        return
    full, signals = engine_per_batch(default, args.batches, args.repeat)
    w64, _ = engine_per_batch(EngineConfig(fast=16, slow=64, history=64), args.batches, args.repeat)
    w1024, _ = engine_per_batch(
        EngineConfig(fast=256, slow=1024, history=1024), args.batches, args.repeat
    )
    pd_avg, pd_t = pandas_per_batch(args.repeat)
    ref_t = reference_per_batch(args.repeat)
    fc = forecast_alone(args.repeat)
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
        f" {args.batches} batches, best of {args.repeat}"
    )
    print(f"{'measure':44s} {'value':>12s} {'ticks/s':>8s}  target")
    print("-" * 80)
    for name, value, tps, target in rows:
        print(f"{name:44s} {value:>12s} {tps:>8s}  {target}")


if __name__ == "__main__":
    main()
