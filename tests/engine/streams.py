"""Seeded synthetic tick streams shared by the engine tests and the engine benchmark."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def random_walk(
    n: int,
    n_symbols: int,
    *,
    seed: int = 0,
    step_s: float = 0.05,
    vol: float = 0.002,
    drift: float = 0.0,
    backwards: float = 0.0,
    repeats: float = 0.0,
    same_time: float = 0.0,
    closures: int = 0,
    closed_s: float = 0.0,
) -> tuple[NDArray[np.int32], NDArray[np.float64], NDArray[np.float64]]:
    """Interleaved geometric random walks: ``(ids, t, price)`` in arrival order.

    Parameters
    ----------
    n, n_symbols : int
        Ticks and symbols.
    step_s : float
        Mean seconds between consecutive ticks (of any symbol).
    vol, drift : float
        Per-tick standard deviation and mean of the log-price step.
    backwards, repeats, same_time : float
        Fractions of ticks whose time goes back a little, whose price repeats the
        symbol's previous price, and that share the previous tick's time.
    closures, closed_s : int, float
        Times the market closes for ``closed_s`` seconds (a night), evenly spread over
        the ticks; the prices go on from the close.
    """
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, n_symbols, n).astype(np.int32)
    gaps = rng.exponential(step_s, n)
    if closures:
        gaps[np.linspace(0, n, closures + 2)[1:-1].astype(np.int64)] += closed_s
    t = 1.7e9 + np.cumsum(gaps)
    if same_time:
        hold = np.flatnonzero(rng.random(n) < same_time)
        hold = hold[hold > 0]
        t[hold] = t[hold - 1]
        t = np.maximum.accumulate(t)
    if backwards:
        t[rng.random(n) < backwards] -= 3 * step_s
    steps = rng.normal(drift, vol, n)
    if repeats:
        steps[rng.random(n) < repeats] = 0.0
    order = np.argsort(ids, kind="stable")
    walk = steps[order]
    seg = np.r_[True, ids[order][1:] != ids[order][:-1]]
    cum = np.cumsum(walk)
    start = np.maximum.accumulate(np.where(seg, np.arange(n), 0))
    offset = (cum - walk)[start]
    levels = 100.0 * (1.0 + np.arange(n_symbols) % 7)
    price = np.empty(n)
    price[order] = levels[ids[order]] * np.exp(cum - offset)
    return ids, t, price
