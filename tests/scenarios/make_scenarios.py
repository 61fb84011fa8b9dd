"""Make the shipped scenarios in scenarios/ from fixed seeds, so they can be regenerated.

    python tests/scenarios/make_scenarios.py               # rewrite all of scenarios/
    python tests/scenarios/make_scenarios.py --out DIR     # write them elsewhere
    python tests/scenarios/make_scenarios.py --only rally  # one of them
    python tests/scenarios/make_scenarios.py --golden      # only rewrite the golden files

Beside each scenario NAME.jsonl lies NAME.golden.jsonl: the signals that
``limitwatch backtest --json NAME.jsonl`` prints, one JSON object per line (the summary
line left out). Tests check that the backtest, and a replay through Kafka, reproduce
them exactly; rewrite them with ``--golden`` only when the engine changes on purpose.

Every scenario is short in event time (about 30 s of market, except the overnight gap)
and small on disk, because tests replay them in real time through Kafka. Each header
records the command and seed that made it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from producer.generator import MarketGenerator  # noqa: E402
from producer.header import ScenarioHeader  # noqa: E402
from producer.metrics import (  # noqa: E402
    METRICS,
    Counters,
    default_limits,
    rates,
    read_counters,
    to_ticks,
    write_proc,
)
from producer.scenario import ScenarioWriter  # noqa: E402
from producer.wire import Tick  # noqa: E402

#: Event time of every scenario's first tick: 2025-06-15 15:06:40 UTC.
START = 1_750_000_000.0
COMMAND = "python tests/scenarios/make_scenarios.py"
#: Engine settings that suit half a minute of market at a few ticks per second.
SHORT_ENGINE: dict[str, int | float] = {
    "fast": 10,
    "slow": 40,
    "halflife_s": 4.0,
    "horizon_s": 8.0,
    "alert_p": 0.6,
}


@dataclass(frozen=True)
class Scenario:
    """How to make one scenario file."""

    name: str
    seed: int
    make: Callable[[Scenario], tuple[ScenarioHeader, list[Tick]]]

    def header(
        self,
        description: str,
        limits: dict[str, tuple[float, float]],
        engine: dict[str, int | float] = SHORT_ENGINE,
        symbols: list[str] | None = None,
    ) -> ScenarioHeader:
        return ScenarioHeader(
            name=self.name,
            description=description,
            symbols=sorted(limits) if symbols is None else symbols,
            limits=limits,
            engine=dict(engine),
            made_by=f"{COMMAND} --only {self.name} (seed {self.seed})",
        )


def times(rng: np.random.Generator, start: float, seconds: float, rate: float) -> np.ndarray:
    """Poisson arrival times in [start, start + seconds), rounded to milliseconds."""
    gaps = rng.exponential(1.0 / rate, int(seconds * rate * 2) + 10)
    t = start + np.cumsum(gaps)
    return np.round(t[t < start + seconds], 3)


def path(rng: np.random.Generator, t: np.ndarray, anchor: Callable[[np.ndarray], np.ndarray],
         noise: float, pull: float = 2.0) -> np.ndarray:  # fmt: skip
    """Prices that follow `anchor(t)` with mean-reverting noise (relative sd `noise`).

    An Ornstein-Uhlenbeck wiggle in log price around the anchor, reverting at rate `pull`
    per second, so the anchor shapes the move and the noise makes it look like a market.
    """
    x = np.zeros(len(t))
    for i in range(1, len(t)):
        dt = t[i] - t[i - 1]
        decay = np.exp(-pull * dt)
        x[i] = x[i - 1] * decay + noise * np.sqrt(1 - decay**2) * rng.standard_normal()
    return np.round(anchor(t) * np.exp(x), 2)


def ticks_of(symbol: str, t: np.ndarray, p: np.ndarray) -> list[Tick]:
    return [Tick(symbol, float(pi), float(ti)) for ti, pi in zip(t, p, strict=True)]


def merged(*streams: list[Tick]) -> list[Tick]:
    """Interleave per-symbol streams by event time (stable, so ties keep their order)."""
    return sorted((t for s in streams for t in s), key=lambda t: t.ts)


def ramp(t0: float, t1: float, p0: float, p1: float) -> Callable[[np.ndarray], np.ndarray]:
    """Flat at p0 until t0, a geometric move to p1 by t1, flat after."""

    def anchor(t: np.ndarray) -> np.ndarray:
        f = np.clip((t - START - t0) / (t1 - t0), 0.0, 1.0)
        return p0 * (p1 / p0) ** f

    return anchor


def calm(p: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda t: np.full(len(t), p)


def rally(sc: Scenario) -> tuple[ScenarioHeader, list[Tick]]:
    rng = np.random.default_rng(sc.seed)
    ta = times(rng, START, 32.0, 5.0)
    acme = ticks_of("ACME", ta, path(rng, ta, ramp(8.0, 26.0, 100.0, 104.0), 0.0008))
    tb = times(rng, START, 32.0, 3.0)
    brix = ticks_of("BRIX", tb, path(rng, tb, calm(42.0), 0.0008))
    header = sc.header(
        "ACME rallies 4% in 18 s and runs through its sell limit at 102.50; BRIX stays calm",
        {"ACME": (97.0, 102.5), "BRIX": (40.0, 44.0)},
    )
    return header, merged(acme, brix)


def crash(sc: Scenario) -> tuple[ScenarioHeader, list[Tick]]:
    rng = np.random.default_rng(sc.seed)
    tc = times(rng, START, 32.0, 5.0)
    cygn = ticks_of("CYGN", tc, path(rng, tc, ramp(8.0, 24.0, 50.0, 47.5), 0.0008))
    td = times(rng, START, 32.0, 3.0)
    drvx = ticks_of("DRVX", td, path(rng, td, calm(310.0), 0.0008))
    header = sc.header(
        "CYGN slides 5% in 16 s and falls through its buy limit at 48.50; DRVX stays calm",
        {"CYGN": (48.5, 52.0), "DRVX": (300.0, 320.0)},
    )
    return header, merged(cygn, drvx)


def chop(sc: Scenario) -> tuple[ScenarioHeader, list[Tick]]:
    rng = np.random.default_rng(sc.seed)
    t = times(rng, START, 34.0, 6.0)

    def anchor(tt: np.ndarray) -> np.ndarray:
        s = tt - START
        return 100.0 + 0.3 * np.sin(2 * np.pi * s / 5.0) + 0.1 * np.sin(2 * np.pi * s / 1.7)

    foxl = ticks_of("FOXL", t, path(rng, t, anchor, 0.0006, pull=4.0))
    header = sc.header(
        "FOXL chops sideways just under its sell limit at 100.60 and never reaches it: "
        "the false-alarm trap",
        {"FOXL": (98.0, 100.6)},
    )
    return header, foxl


def flash_crash(sc: Scenario) -> tuple[ScenarioHeader, list[Tick]]:
    rng = np.random.default_rng(sc.seed)
    t = times(rng, START, 32.0, 8.0)

    def anchor(tt: np.ndarray) -> np.ndarray:
        s = tt - START
        drop = np.interp(s, [0, 12.0, 13.5, 15.0, 20.0, 40.0], [0, 0, -0.07, -0.07, -0.005, 0])
        return 200.0 * np.exp(drop)

    gryf = ticks_of("GRYF", t, path(rng, t, anchor, 0.0006, pull=6.0))
    header = sc.header(
        "GRYF flash-crashes 7% in 1.5 s through its buy limit at 192, then recovers in 5 s",
        {"GRYF": (192.0, 206.0)},
    )
    return header, gryf


def overnight_gap(sc: Scenario) -> tuple[ScenarioHeader, list[Tick]]:
    rng = np.random.default_rng(sc.seed)
    close = times(rng, START, 20.0, 4.0)
    day1 = path(rng, close, ramp(0.0, 20.0, 80.0, 79.6), 0.0008)
    reopen = START + 20.0 + 16 * 3600.0
    open_ = times(rng, reopen, 20.0, 4.0)

    def after_gap(tt: np.ndarray) -> np.ndarray:
        return np.full(len(tt), 76.0)

    day2 = path(rng, open_, after_gap, 0.0008)
    header = sc.header(
        "HALO closes near 79.60, then after a 16 h overnight gap opens at 76, below its buy "
        "limit at 77",
        {"HALO": (77.0, 83.0)},
    )
    return header, ticks_of("HALO", close, day1) + ticks_of("HALO", open_, day2)


def busy_market(sc: Scenario) -> tuple[ScenarioHeader, list[Tick]]:
    gen = MarketGenerator(symbols=200, rate=400.0, seed=sc.seed, start=START, regime_s=20.0,
                          band=0.004)  # fmt: skip
    ticks: list[Tick] = []
    for tick in gen:
        if tick.ts >= START + 30.0:
            break
        ticks.append(tick)
    header = sc.header(
        "200 symbols, 400 ticks/s of random walks with limits 0.4% away: many crossings at once",
        gen.limits,
        symbols=gen.symbols,
    )
    return header, ticks


def system_metrics(sc: Scenario) -> tuple[ScenarioHeader, list[Tick]]:
    """A simulated machine read through the real /proc parser: a build pegs the CPU and a
    leak eats memory until it runs low."""
    rng = np.random.default_rng(sc.seed)
    total_kb = 8 * 1024 * 1024
    jiffies = np.zeros(8, dtype=np.int64)
    disk_r = disk_w = net_rx = net_tx = 0
    ticks: list[Tick] = []
    limits: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as root:
        prev: Counters | None = None
        for second in range(41):
            busy = float(np.clip(0.08 + 0.9 * (second - 8) / 22, 0.08, 0.96))
            busy = float(np.clip(busy + rng.normal(0, 0.02), 0.0, 0.99))
            user = int(200 * busy * 0.93)
            system = int(200 * busy * 0.07)
            iowait = int(rng.integers(0, 4))
            idle = max(0, 200 - user - system - iowait)
            jiffies += np.array([user, 0, system, idle, iowait, 0, 0, 0])
            available = int(
                total_kb * float(np.clip(0.7 - 0.65 * max(0, second - 10) / 25, 0.05, 0.7))
            )
            disk_r += int(rng.integers(0, 400))
            disk_w += int(rng.integers(2000, 6000) if 10 <= second <= 30 else rng.integers(0, 200))
            net_rx += int(rng.integers(1000, 50_000))
            net_tx += int(rng.integers(1000, 20_000))
            cur = Counters(
                cpu=tuple(int(v) for v in jiffies),  # type: ignore[arg-type]
                ncpu=2,
                mem_total_kb=total_kb,
                mem_available_kb=available,
                load_1m=round(0.2 + 3.5 * busy * min(1.0, second / 20), 2),
                disk_read_sectors=disk_r,
                disk_write_sectors=disk_w,
                net_rx_bytes=net_rx,
                net_tx_bytes=net_tx,
            )
            write_proc(root, cur)
            read = read_counters(root)
            if prev is None:
                limits = default_limits(read)
            else:
                ticks += to_ticks(rates(prev, read, 1.0), START + second)
            prev = read
    engine = {"fast": 5, "slow": 15, "halflife_s": 5.0, "horizon_s": 10.0, "alert_p": 0.6}
    header = sc.header(
        "a simulated 2-CPU machine read through /proc: a build pegs the CPU past 85% and a "
        "leak drains available memory below 10%",
        {name: (_or_none(buy), _or_none(sell)) for name, (buy, sell) in limits.items()},
        engine=engine,
        symbols=sorted(limits),
    )
    header.price_jumps = True  # gauges: idle to busy in a second is not poison
    header.additive = list(METRICS)  # quantities that sit at 0, not prices
    return header, ticks


def _or_none(x: float) -> float | None:
    return None if np.isnan(x) else x


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("rally", 11, rally),
    Scenario("crash", 12, crash),
    Scenario("chop", 13, chop),
    Scenario("flash_crash", 14, flash_crash),
    Scenario("overnight_gap", 15, overnight_gap),
    Scenario("busy_market", 16, busy_market),
    Scenario("system_metrics", 17, system_metrics),
)


def write_all(out: Path, only: str | None = None) -> Iterator[Path]:
    """Write the scenarios (or the one named `only`) into `out`; yield each path."""
    out.mkdir(parents=True, exist_ok=True)
    for sc in SCENARIOS:
        if only is not None and sc.name != only:
            continue
        header, ticks = sc.make(sc)
        target = out / f"{sc.name}.jsonl"
        with ScenarioWriter(target, header, flush_every=10_000) as writer:
            writer.write_many(ticks)
        yield target


def golden_path(scenario: Path) -> Path:
    """Where the golden signals of `scenario` live: NAME.golden.jsonl beside it."""
    return scenario.with_name(scenario.name.removesuffix(".jsonl") + ".golden.jsonl")


def write_golden(scenario: Path) -> Path:
    """Backtest `scenario` and write its signals, as JSON lines, beside it."""
    import contextlib
    import io

    from tui.runtime.backtest import build_parser, run

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = run(build_parser().parse_args(["--json", str(scenario)]))
    if status != 0:
        raise SystemExit(f"backtest of {scenario} failed with status {status}")
    lines = out.getvalue().splitlines(keepends=True)[:-1]  # the last is the summary
    target = golden_path(scenario)
    target.write_text("".join(lines), encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "scenarios")
    parser.add_argument("--only", choices=[s.name for s in SCENARIOS])
    parser.add_argument(
        "--golden", action="store_true", help="only rewrite the golden signal files"
    )
    args = parser.parse_args(argv)
    if args.golden:
        names = [s.name for s in SCENARIOS if args.only in (None, s.name)]
        for name in names:
            print(write_golden(args.out / f"{name}.jsonl"))
        return 0
    for target in write_all(args.out, args.only):
        print(target)
        print(write_golden(target))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
