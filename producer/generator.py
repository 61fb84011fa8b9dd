"""A seeded market generator: geometric random walks whose drift and volatility regimes
change over time, so that prices really do wander to their limits.

Everything derives from the seed and the start time, so a run can be reproduced exactly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from producer.wire import Tick

#: Made-up symbols; none of them is a real listing.
DEFAULT_SYMBOLS: tuple[str, ...] = (
    "ACME", "BRIX", "CYGN", "DRVX", "ELMR", "FOXL", "GRYF", "HALO",
    "IRIS", "JUNO", "KYTE", "LUMA", "MOXY", "NOVA", "ORCA", "PYRE",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Regime:
    """A market mood: drift and volatility of log price, both per second."""

    name: str
    mu: float
    sigma: float


REGIMES: tuple[Regime, ...] = (
    Regime("calm", 0.0, 0.0008),
    Regime("choppy", 0.0, 0.0025),
    Regime("rally", 0.0006, 0.0012),
    Regime("selloff", -0.0006, 0.0012),
)


def symbol_names(count: int) -> list[str]:
    """The first `count` made-up symbols, extended with numbered ones when needed."""
    names = list(DEFAULT_SYMBOLS[:count])
    names += [f"SYM{i:04d}" for i in range(len(names), count)]
    return names


class MarketGenerator:
    """Ticks from `len(symbols)` random walks at about `rate` ticks per second in all.

    Inter-arrival times are exponential (a Poisson stream); each tick belongs to a
    symbol drawn uniformly; each symbol switches regime at random, on average every
    `regime_s` seconds of event time. Prices are rounded to cents.

    >>> gen = MarketGenerator(symbols=3, rate=10.0, seed=1, start=1_700_000_000.0)
    >>> ticks = [t for t, _ in zip(gen, range(5))]
    >>> [t.symbol for t in ticks] == [t.symbol for t, _ in zip(
    ...     MarketGenerator(symbols=3, rate=10.0, seed=1, start=1_700_000_000.0), range(5))]
    True
    """

    paced = True

    def __init__(
        self,
        symbols: int | list[str] = 12,
        rate: float = 50.0,
        seed: int = 7,
        start: float | None = None,
        regime_s: float = 45.0,
        band: float = 0.015,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.symbols = symbol_names(symbols) if isinstance(symbols, int) else list(symbols)
        if not self.symbols:
            raise ValueError("the generator needs at least one symbol")
        self.rate = float(rate)
        self.seed = seed
        self.start = start
        #: Event times start at the machine's clock and follow it (no ``start`` given):
        #: the producer keeps them on it through a broker outage.
        self.follows_clock = start is None
        self.regime_s = regime_s
        self.name = f"generator(seed={seed}, symbols={len(self.symbols)}, rate={rate:g}/s)"
        rng = np.random.default_rng(seed)
        self._initial = np.round(
            np.exp(rng.uniform(np.log(15.0), np.log(600.0), len(self.symbols))), 2
        )
        self.limits = {
            s: (round(float(p) * (1 - band), 2), round(float(p) * (1 + band), 2))
            for s, p in zip(self.symbols, self._initial, strict=True)
        }

    def __iter__(self) -> Iterator[Tick]:
        rng = np.random.default_rng(self.seed + 1)
        n = len(self.symbols)
        symbols = self.symbols
        t = time.time() if self.start is None else float(self.start)
        # Per-tick work on plain floats and lists: numpy scalars cost ~10x more each.
        log_p = np.log(self._initial).tolist()
        last_t = [t] * n
        regime = rng.integers(0, len(REGIMES), n).tolist()
        drift = [r.mu - 0.5 * r.sigma**2 for r in REGIMES]
        sigma = [r.sigma for r in REGIMES]
        regime_s = self.regime_s
        exp, sqrt = math.exp, math.sqrt
        chunk = 256
        while True:
            gaps = rng.exponential(1.0 / self.rate, chunk).tolist()
            who = rng.integers(0, n, chunk).tolist()
            shocks = rng.standard_normal(chunk).tolist()
            switch_u = rng.random(chunk).tolist()
            new_regime = rng.integers(0, len(REGIMES), chunk).tolist()
            for k in range(chunk):
                t += gaps[k]
                i = who[k]
                dt = t - last_t[i]
                last_t[i] = t
                if switch_u[k] < dt / regime_s:
                    regime[i] = new_regime[k]
                r = regime[i]
                log_p[i] += drift[r] * dt + sigma[r] * sqrt(dt) * shocks[k]
                price = max(round(exp(log_p[i]), 2), 0.01)
                yield Tick(symbols[i], price, round(t, 6))
