"""``limitwatch backtest`` on a CSV and a JSON-lines file against a pandas script, measured
in the same run.

    .venv/bin/python tests/bench/bench_backtest.py [--ticks 1000000] [--repeat 3]
        [--rss-ticks 10000000] [--dir DIR]

Writes the same ticks (200 symbols, geometric random walks, one tick per millisecond)
as a CSV and as a JSON-lines file, then times, in this process, each file:

* reading it: the file source's columns, parsing and checks included;
* the backtest with ``--signals-only``: reading, engine, signals written (to /dev/null);
* the backtest as it runs by default, scoring the forecast against the naive alarms;

and the baseline, a typical pandas script: ``read_csv`` of the CSV, both moving averages
(``groupby().rolling().mean()``) and the exponential average
(``groupby().ewm(halflife, times=).mean()``). Times are medians of ``--repeat`` rounds
taken in turn, so the ratios compare runs under the same load. Then, in a child process,
the whole command (interpreter start-up included) and its peak RSS on each file, and
the peak RSS of ``--signals-only`` and of the scored backtest on a file of
``--rss-ticks`` ticks (0 skips it).
No assertions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine import EngineConfig
from producer.sources import open_source
from tui.runtime.backtest import backtest

SYMBOLS = 200


def write_files(n: int, folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """The same `n` ticks as ``prices.csv`` and ``prices.jsonl`` in `folder`."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, SYMBOLS, n)
    ts = 1_750_000_000.0 + np.arange(n) * 0.001
    steps = rng.normal(0.0, 4e-4, n)
    order = np.argsort(ids, kind="stable")
    walk = np.empty(n)
    sorted_steps = np.cumsum(steps[order])
    starts = np.r_[0, np.flatnonzero(np.diff(ids[order])) + 1]
    lengths = np.diff(np.r_[starts, n])
    walk[order] = sorted_steps - np.repeat(sorted_steps[starts] - steps[order][starts], lengths)
    price = np.round(np.exp(np.log(50 + 400 * rng.random(SYMBOLS))[ids] + walk), 4)
    names = np.array([f"SYM{i:03d}" for i in range(SYMBOLS)])[ids].tolist()
    t_text = [f"{t:.3f}" for t in ts.tolist()]
    p_text = [repr(p) for p in price.tolist()]
    csv_path, json_path = folder / "prices.csv", folder / "prices.jsonl"
    with open(csv_path, "w") as out:
        out.write("ts,symbol,price\n")
        out.writelines(f"{t},{s},{p}\n" for t, s, p in zip(t_text, names, p_text, strict=True))
    with open(json_path, "w") as out:
        out.writelines(
            f'{{"symbol":"{s}","price":{p},"ts":{t}}}\n'
            for t, s, p in zip(t_text, names, p_text, strict=True)
        )
    return csv_path, json_path


def read_only(path: Path) -> int:
    return sum(len(c) for c in open_source(str(path)).columns())


def run_backtest(path: Path, score: bool, partitions: int = 4) -> int:
    """The backtest as the command runs it (each symbol calibrated with its partition's,
    of four by default), its signals written to /dev/null."""
    source = open_source(str(path))
    with open(os.devnull, "w") as out:

        def emit(signals: list) -> None:
            out.write("".join(f"{s.kind.name} {s.symbol} {s.t} {s.price}\n" for s in signals))

        result = backtest(
            source, EngineConfig(), source.limits, on_signals=emit, score=score,
            partitions=partitions,
        )  # fmt: skip
    return result.ticks


def pandas_script(path: Path) -> int:
    """read_csv, both rolling means and the EMA by symbol: the usual script."""
    cfg = EngineConfig()
    df = pd.read_csv(path)
    g = df.groupby("symbol")["price"]
    g.rolling(cfg.fast, min_periods=1).mean()
    g.rolling(cfg.slow, min_periods=1).mean()
    times = pd.to_datetime(df["ts"], unit="s")
    g.ewm(halflife=pd.Timedelta(seconds=cfg.halflife_s), times=times).mean()
    return len(df)


def child(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of ``limitwatch backtest ARGS`` in a child process."""
    code = (  # VmHWM: the peak of this process alone (ru_maxrss may carry the parent's)
        "import sys; from tui.runtime.backtest import main; rc = main(sys.argv[1:]); "
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]; "
        "print(hwm.split()[1], file=sys.stderr); sys.exit(rc)"
    )
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    took = time.perf_counter() - start
    return took, int(done.stderr.split()[-1]) / 1024


def main_bench() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ticks", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rss-ticks", type=int, default=10_000_000)
    ap.add_argument(
        "--dir", type=Path, default=None, help="where to write the files (made if missing)"
    )
    args = ap.parse_args()
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        csv_path, json_path = write_files(args.ticks, folder)
        mb = csv_path.stat().st_size / 1e6, json_path.stat().st_size / 1e6
        print(f"{args.ticks:,} ticks, {SYMBOLS} symbols: {mb[0]:.0f} MB CSV, {mb[1]:.0f} MB "
              f"JSON lines (written in {time.perf_counter() - start:.1f} s)")  # fmt: skip
        jobs: dict[str, Callable[[], int]] = {
            "pandas: read_csv + rolling x2 + ewm (baseline)": lambda: pandas_script(csv_path),
            "CSV: read only": lambda: read_only(csv_path),
            "CSV: backtest --signals-only": lambda: run_backtest(csv_path, False),
            "CSV: backtest --signals-only --partitions 1": lambda: run_backtest(
                csv_path, False, partitions=1
            ),
            "CSV: backtest (scored)": lambda: run_backtest(csv_path, True),
            "JSONL: read only": lambda: read_only(json_path),
            "JSONL: backtest --signals-only": lambda: run_backtest(json_path, False),
            "JSONL: backtest (scored)": lambda: run_backtest(json_path, True),
        }
        read_only(csv_path)  # the first read imports the CSV parser: not timed
        times: dict[str, list[float]] = {name: [] for name in jobs}
        for _ in range(args.repeat):
            for name, job in jobs.items():
                start = time.perf_counter()
                count = job()
                times[name].append(time.perf_counter() - start)
                assert count == args.ticks, (name, count)
        base = statistics.median(times[next(iter(jobs))])
        print(f"\nin this process, median of {args.repeat} rounds")
        print(f"{'job':<48} {'seconds':>8} {'ticks/s':>11} {'x pandas':>9}")
        for name, took in times.items():
            mid = statistics.median(took)
            print(f"{name:<48} {mid:>8.3f} {args.ticks / mid:>11,.0f} {base / mid:>9.2f}")

        print("\nthe whole command in a child process (interpreter start-up included)")
        print(f"{'command':<48} {'seconds':>8} {'ticks/s':>11} {'peak RSS':>9}")
        runs = [
            (f"backtest {p.name} --signals-only", [str(p), "--json", "--signals-only"])
            for p in (csv_path, json_path)
        ] + [(f"backtest {p.name}", [str(p), "--json"]) for p in (csv_path, json_path)]
        for label, argv in runs:
            took, rss = child(argv)
            print(f"{label:<48} {took:>8.2f} {args.ticks / took:>11,.0f} {rss:>6.0f} MB")
        if args.rss_ticks:
            big, _ = write_files(args.rss_ticks, folder, seed=1)
            (folder / "prices.jsonl").unlink()
            for label, extra in (("--signals-only", ["--signals-only"]), ("scored", [])):
                took, rss = child([str(big), "--json", *extra])
                label = f"backtest ({args.rss_ticks:,}-tick CSV) {label}"
                print(f"{label:<48} {took:>8.2f} {args.rss_ticks / took:>11,.0f} {rss:>6.0f} MB")


if __name__ == "__main__":
    main_bench()
