"""A plain per-tick reference of the engine's arithmetic and rules, for tests and benchmarks.

Written from the specification, one tick at a time with Python floats, sharing no code
with engine/: moving averages from the window itself (math.fsum), exponential averages by
the decay recursion, the first-passage probability in log space with log_ndtr. The
forecast's drift is the estimate times max(0, 1 - se**2/mu**2), se**2 = sigma**2 / span,
span the decayed sum of time steps; no forecast before the warm-up ticks and span.
Watches and crosses keep the time they last fired: a watch expires a horizon after it
fired unanswered, and neither fires within its quiet time of the previous one.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from scipy.special import log_ndtr

KINDS = ("BUY_WATCH", "SELL_WATCH", "BUY", "SELL", "GOLDEN_CROSS", "DEATH_CROSS")


def hit_probability(d: float, m: float, s: float, horizon: float) -> tuple[float, float]:
    """P(first passage to d within horizon) and d/m, for BM with drift m and vol s."""
    if math.isnan(d) or (d > 0 and (math.isnan(m) or math.isnan(s))):
        return math.nan, math.nan
    if d <= 0:
        return 1.0, 0.0
    eta = d / m if m > 0 else math.nan
    if s == 0:
        return (1.0 if m * horizon >= d else 0.0), eta
    root = s * math.sqrt(horizon)
    z1 = (m * horizon - d) / root
    z2 = (-m * horizon - d) / root
    log_a = float(log_ndtr(z1))
    log_b = 2 * m * d / (s * s) + float(log_ndtr(z2))
    hi = max(log_a, log_b)
    p = math.exp(hi) * (math.exp(log_a - hi) + math.exp(log_b - hi))
    return min(p, 1.0), eta


def watch_loop(
    t: list[float],
    score: list[float],
    reached: list[bool],
    alert: float,
    rearm: float,
    expiry: float,
    quiet: float,
) -> list[int]:
    """Ticks where one stream's watch fires: expiry ``expiry`` after an unanswered fire,
    reaching disarms, a fire needs more than ``quiet`` since the previous one, a score
    at ``rearm`` or below arms."""
    state, last, out = "armed", -math.inf, []
    for i, (ti, si, ri) in enumerate(zip(t, score, reached, strict=True)):
        if state == "fired" and ti >= last + expiry:
            state = "armed"
        if ri:
            state = "reached"
        elif si >= alert:
            if state == "armed" and ti > last + quiet:
                out.append(i)
                state, last = "fired", ti
        elif si <= rearm:
            state = "armed"
    return out


@dataclass
class _Symbol:
    window_fast: deque[float]
    window_slow: deque[float]
    n: int = 0
    t: float = math.nan
    price: float = math.nan
    first: float = math.nan
    num: float = 0.0
    den: float = 0.0
    sum_r: float = 0.0
    sum_rr: float = 0.0
    sum_dt: float = 0.0
    buy: float = math.nan
    sell: float = math.nan
    touched: bool = False
    armed: dict[str, bool] = field(default_factory=dict)
    # watch state per side: "armed", "fired" or "reached"; and when each last fired
    watch: dict[str, str] = field(default_factory=dict)
    fired_at: dict[str, float] = field(default_factory=dict)
    regime: int = 0
    seq: dict[str, int] = field(default_factory=dict)
    p_buy: float = math.nan
    p_sell: float = math.nan
    eta_buy: float = math.nan
    eta_sell: float = math.nan


class Reference:
    """Per-tick engine: ``tick(symbol, t, price)`` returns signal tuples
    ``(symbol, kind, seq, t, price, limit, p_hit, eta_s)``."""

    def __init__(
        self,
        fast: int = 20,
        slow: int = 100,
        halflife_s: float = 30.0,
        horizon_s: float = 60.0,
        alert_p: float = 0.6,
        hysteresis: float = 0.002,
        default_band: float | None = 0.02,
        watch_rearm: float = 0.5,
        warmup_ticks: int = 20,
        warmup_s: float | None = None,
        watch_quiet_s: float | None = None,
        cross_quiet_s: float | None = None,
    ) -> None:
        self.fast, self.slow = fast, slow
        self.halflife, self.horizon = halflife_s, horizon_s
        self.alert, self.hysteresis = alert_p, hysteresis
        self.band, self.rearm = default_band, watch_rearm
        self.warmup_ticks = warmup_ticks
        self.warmup_s = halflife_s / 2 if warmup_s is None else warmup_s
        self.watch_quiet = horizon_s / 2 if watch_quiet_s is None else watch_quiet_s
        self.cross_quiet = self.watch_quiet if cross_quiet_s is None else cross_quiet_s
        self.symbols: dict[str, _Symbol] = {}

    def _get(self, symbol: str) -> _Symbol:
        if symbol not in self.symbols:
            self.symbols[symbol] = _Symbol(
                deque(maxlen=self.fast),
                deque(maxlen=self.slow),
                armed={"BUY": True, "SELL": True},
                watch={"BUY": "armed", "SELL": "armed"},
                fired_at={"BUY": -math.inf, "SELL": -math.inf, "CROSS": -math.inf},
                seq=dict.fromkeys(KINDS, 0),
            )
        return self.symbols[symbol]

    def set_limits(self, symbol: str, buy: float | None = None, sell: float | None = None) -> None:
        s = self._get(symbol)
        s.touched = True
        old = {"BUY": s.buy, "SELL": s.sell}
        if buy is not None:
            s.buy = buy
        if sell is not None:
            s.sell = sell
        if s.n:
            s.p_buy, s.eta_buy, s.p_sell, s.eta_sell = self._forecasts(s)
        for side, new, p in (("BUY", buy, s.p_buy), ("SELL", sell, s.p_sell)):
            if new is None:
                continue
            s.armed[side] = True
            # the watch re-arms only for a new risk: a real move, and p not already high
            was = old[side]
            moved = math.isnan(was) or math.isnan(new) or abs(new - was) > self.hysteresis * was
            if moved and not p >= self.alert:
                s.watch[side] = "armed"

    # indicators ------------------------------------------------------------------

    def sma(self, symbol: str) -> tuple[float, float]:
        s = self.symbols[symbol]
        f, w = s.window_fast, s.window_slow
        return math.fsum(f) / len(f), math.fsum(w) / len(w)

    def ema(self, symbol: str) -> float:
        s = self.symbols[symbol]
        return s.num / s.den

    def drift_vol(self, symbol: str) -> tuple[float, float]:
        s = self.symbols[symbol]
        if s.sum_dt <= 0:
            return math.nan, math.nan
        return s.sum_r / s.sum_dt, math.sqrt(s.sum_rr / s.sum_dt)

    def drift_se(self, symbol: str) -> float:
        """Standard error of the drift: sigma / sqrt(span), span = sum_dt (the time
        steps, each decayed like the returns)."""
        s = self.symbols[symbol]
        if s.sum_dt <= 0:
            return math.nan
        return math.sqrt(s.sum_rr / s.sum_dt) / math.sqrt(s.sum_dt)

    def _forecasts(self, s: _Symbol) -> tuple[float, float, float, float]:
        mu = sigma = math.nan
        if s.sum_dt > 0 and s.n >= self.warmup_ticks and s.sum_dt >= self.warmup_s:
            raw = s.sum_r / s.sum_dt
            sigma = math.sqrt(s.sum_rr / s.sum_dt)
            se2 = sigma * sigma / s.sum_dt
            mu = 0.0 if raw == 0 else raw * max(0.0, 1.0 - se2 / (raw * raw))
        pb = eb = ps = es = math.nan
        if not math.isnan(s.buy):
            pb, eb = hit_probability(math.log(s.price / s.buy), -mu, sigma, self.horizon)
        if not math.isnan(s.sell):
            ps, es = hit_probability(math.log(s.sell / s.price), mu, sigma, self.horizon)
        return pb, eb, ps, es

    # the tick ----------------------------------------------------------------------

    def tick(
        self, symbol: str, t: float, price: float
    ) -> list[tuple[str, str, int, float, float, float, float, float]]:
        s = self._get(symbol)
        if s.n == 0:
            s.first = price
            if self.band is not None and not s.touched:
                s.buy, s.sell = price * (1 - self.band), price * (1 + self.band)
            s.t = t
            s.num, s.den = price, 1.0
        else:
            t = max(t, s.t)
            dt = t - s.t
            decay = 0.5 ** (dt / self.halflife)
            r = math.log(price / s.price)
            s.num = s.num * decay + price
            s.den = s.den * decay + 1.0
            s.sum_r = s.sum_r * decay + r
            s.sum_rr = s.sum_rr * decay + r * r
            s.sum_dt = s.sum_dt * decay + dt
            s.t = t
        s.price = price
        s.n += 1
        s.window_fast.append(price)
        s.window_slow.append(price)
        s.p_buy, s.eta_buy, s.p_sell, s.eta_sell = self._forecasts(s)

        fired: list[tuple[str, float, float, float]] = []
        for side, limit, p, eta, reached, back in (
            (
                "BUY",
                s.buy,
                s.p_buy,
                s.eta_buy,
                price <= s.buy,
                price > s.buy * (1 + self.hysteresis),
            ),
            (
                "SELL",
                s.sell,
                s.p_sell,
                s.eta_sell,
                price >= s.sell,
                price < s.sell * (1 - self.hysteresis),
            ),
        ):
            last = s.fired_at[side]
            if s.watch[side] == "fired" and t >= last + self.horizon:
                s.watch[side] = "armed"  # expired unanswered
            if reached:
                s.watch[side] = "reached"
            elif p >= self.alert:
                if s.watch[side] == "armed" and t > last + self.watch_quiet:
                    fired.append((side + "_WATCH", limit, p, eta))
                    s.watch[side] = "fired"
                    s.fired_at[side] = t
            elif p <= self.rearm * self.alert:
                s.watch[side] = "armed"
            if reached:
                if s.armed[side]:
                    fired.append((side, limit, 1.0, 0.0))
                s.armed[side] = False
            elif back:
                s.armed[side] = True
        if s.n >= self.slow:
            fast, slow = self.sma(symbol)
            tol = 2e-4 * abs(slow)
            regime = 1 if fast - slow > tol else (-1 if fast - slow < -tol else 0)
            if regime and t > s.fired_at["CROSS"] + self.cross_quiet:
                if s.regime and regime != s.regime:
                    kind = "GOLDEN_CROSS" if regime == 1 else "DEATH_CROSS"
                    fired.append((kind, math.nan, math.nan, math.nan))
                    s.fired_at["CROSS"] = t
                s.regime = regime
        fired.sort(key=lambda f: KINDS.index(f[0]))
        out = []
        for kind, limit, p, eta in fired:
            s.seq[kind] += 1
            out.append((symbol, kind, s.seq[kind], t, price, limit, p, eta))
        return out
