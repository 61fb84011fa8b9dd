"""A plain per-tick reference of the engine's arithmetic and rules, for tests and benchmarks.

Written from the specification, one tick at a time with Python floats, sharing no code
with engine/: moving averages from the window itself (math.fsum), exponential averages by
the decay recursion, the first-passage probability in log space with log_ndtr. The
volatility is the smaller of the decayed sum of squared returns plus twice that of each
return times the one before (floored at a tenth of the former) over the decayed time and
pi/2 times the decayed sum of |each return times the one before| over that of
sqrt(its time step times the one before's) (at least pi/4 of the decayed time), all of them
decayed on the volatility's clock (each step at most halflife / vol_returns); the drift is the
return over time decayed with the longer drift half-life, its error se**2 = RV / T**2 (T
the long-decayed time, RV the long-decayed sum of squared returns plus twice that of each
times the one before, less 3 drift**2 (mean time step) T, floored at a tenth of the sum
of squares, and at least sigma**2 T); the forecast averages the first passage over the drift's
normal posterior, mean mu (1 - B) and variance se**2 (1 - B), B = min(1, se**2/mu**2), to
each limit moved away by 0.5826 sigma sqrt(mean time step) for prices seen only at
ticks; its time is the median passage time given a hit within the horizon, found by
Brent's method. No forecast before the warm-up ticks and span.
Watches and crosses keep the time they last fired: a watch expires a horizon after it
fired unanswered, and neither fires within its quiet time of the previous one.
Symbols named in ``additive`` take all of the above in the value itself instead of its
logarithm: returns are differences, distances ``limit - value``, the default band
``first -/+ band*|first|`` (none at 0), the hysteresis ``h*|limit|`` and at least two
typical one-tick moves (the root of the decayed mean squared return).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from scipy.optimize import brentq
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


def mixed_probability(d: float, m: float, v: float, s: float, horizon: float) -> float:
    """P(first passage to d within horizon) for BM with vol s and drift ~ N(m, v):
    Phi((m H - d) / D) + exp(2 d (m + v d / s**2) / s**2) Phi(-(m H + d + 2 v d H / s**2) / D),
    D = sqrt(H (s**2 + v H)), in log space."""
    if math.isnan(d) or (d > 0 and (math.isnan(m) or math.isnan(s) or math.isnan(v))):
        return math.nan
    if d <= 0:
        return 1.0
    if s == 0 and v == 0:
        return 1.0 if m * horizon >= d else 0.0
    root = math.sqrt(horizon * (s * s + v * horizon))
    log_a = float(log_ndtr((m * horizon - d) / root))
    log_b = 2 * d * (m + v * d / (s * s)) / (s * s) + float(
        log_ndtr(-(m * horizon + d + 2 * v * d * horizon / (s * s)) / root)
    )
    hi = max(log_a, log_b)
    return min(math.exp(hi) * (math.exp(log_a - hi) + math.exp(log_b - hi)), 1.0)


def median_time(d: float, m: float, v: float, s: float, horizon: float) -> float:
    """Median passage time given a passage within the horizon (0 if reached)."""
    if d <= 0:
        return 0.0
    total = mixed_probability(d, m, v, s, horizon)
    if math.isnan(total) or not total > 0:
        return math.nan
    if s == 0 and v == 0:
        return d / m
    lo = 1e-12 * horizon
    if mixed_probability(d, m, v, s, lo) >= total / 2:
        return lo
    return brentq(
        lambda t: mixed_probability(d, m, v, s, t) - total / 2,
        lo,
        horizon,
        xtol=1e-15,
        rtol=1e-15,
        maxiter=500,
    )


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
    sum_rr: float = 0.0
    sum_dt: float = 0.0
    den_v: float = 0.0  # the volatility's sums: weights on its clock
    sum_dt_v: float = 0.0
    sum_cross: float = 0.0
    sum_bipower: float = 0.0
    sum_root_dt: float = 0.0  # sqrt(dt_i dt_(i-1)) of the pairs in sum_bipower
    sum_r_long: float = 0.0
    sum_dt_long: float = 0.0
    sum_rr_long: float = 0.0
    sum_cross_long: float = 0.0
    last_r: float = 0.0
    last_dt: float = 0.0  # the time step of last_r
    step: float = 0.0  # the latest non-zero time step, as measured
    grid: float = math.inf  # the smallest non-zero price step so far
    buy: float = math.nan
    sell: float = math.nan
    touched: bool = False
    additive: bool = False
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
        drift_halflife_s: float | None = None,
        vol_returns: int = 8,
        alert_p: float = 0.6,
        hysteresis: float = 0.002,
        default_band: float | None = 0.02,
        watch_rearm: float = 0.5,
        watch_floor: float = 0.3,
        warmup_ticks: int = 20,
        warmup_s: float | None = None,
        watch_quiet_s: float | None = None,
        cross_quiet_s: float | None = None,
        additive: frozenset[str] = frozenset(),
    ) -> None:
        self.additive = additive
        self.fast, self.slow = fast, slow
        self.halflife, self.horizon = halflife_s, horizon_s
        self.drift_halflife = 20 * halflife_s if drift_halflife_s is None else drift_halflife_s
        self.clock_step = halflife_s / vol_returns  # the volatility's clock: steps at most this
        self.alert, self.hysteresis = alert_p, hysteresis
        self.band, self.rearm = default_band, watch_rearm
        # No calibration map here (the engine's is the identity until it has learnt): the
        # floor compares with p as computed.
        self.floor = watch_floor
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
                additive=symbol in self.additive,
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
            moved = (
                math.isnan(was) or math.isnan(new) or abs(new - was) > self.hysteresis * abs(was)
            )
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

    def _variance(self, s: _Symbol) -> float:
        noise_robust = max(s.sum_rr + 2 * s.sum_cross, 0.1 * s.sum_rr) / s.sum_dt_v
        if s.sum_bipower > 0:
            # the pairs' time: at least pi/4 of the time elapsed (coarse time stamps)
            pairs_time = max(s.sum_root_dt, math.pi / 4 * s.sum_dt_v)
            noise_robust = min(noise_robust, math.pi / 2 * s.sum_bipower / pairs_time)
        return noise_robust

    def _drift_rv(self, s: _Symbol) -> float:
        """The long-decayed sum of squared returns plus twice that of each return times
        the one before, less 3 drift**2 (mean time step) T, floored at a tenth of the
        sum of squares: jumps in, rounding noise and the trend itself out."""
        drift = s.sum_r_long / s.sum_dt_long
        trend = 3 * drift * drift * (s.sum_dt / s.den) * s.sum_dt_long
        rv = max(s.sum_rr_long + 2 * s.sum_cross_long - trend, 0.1 * s.sum_rr_long)
        return max(rv / s.sum_dt_long, self._variance(s)) * s.sum_dt_long

    def drift_vol(self, symbol: str) -> tuple[float, float]:
        s = self.symbols[symbol]
        if s.sum_dt <= 0:
            return math.nan, math.nan
        return s.sum_r_long / s.sum_dt_long, math.sqrt(self._variance(s))

    def drift_se(self, symbol: str) -> float:
        """Standard error of the drift: sqrt(RV / T), T = the long-decayed time and RV
        the long-decayed realised variance of all returns (jumps included)."""
        s = self.symbols[symbol]
        if s.sum_dt <= 0:
            return math.nan
        return math.sqrt(self._drift_rv(s)) / s.sum_dt_long

    def _forecasts(self, s: _Symbol) -> tuple[float, float, float, float]:
        mu = var = sigma = math.nan
        shift = 0.0
        if s.sum_dt > 0 and s.n >= self.warmup_ticks and s.sum_dt >= self.warmup_s:
            raw = s.sum_r_long / s.sum_dt_long
            sigma = math.sqrt(self._variance(s))
            se2 = self._drift_rv(s) / (s.sum_dt_long * s.sum_dt_long)
            # its error counted once per window of this span in 0.7 of the settled one
            looks = max(1.0, 0.7 * self.drift_halflife / math.log(2) / s.sum_dt_long)
            keep = 0.0 if raw == 0 else max(0.0, 1.0 - se2 * looks / (raw * raw))
            mu, var = raw * keep, se2 * keep
            shift = 0.5825971579390106 * sigma * math.sqrt(s.sum_dt / s.den)
        pb = eb = ps = es = math.nan
        for side, limit in (("BUY", s.buy), ("SELL", s.sell)):
            if math.isnan(limit):
                continue
            gap = s.price - limit if side == "BUY" else limit - s.price
            on_grid = s.n > 20 and math.isfinite(s.grid)  # a grid from 20 steps or more
            steps = math.ceil(gap / s.grid - 1e-6) if on_grid else 0
            aim = (steps - 0.5) * s.grid
            if steps >= 1 and (side == "SELL" or s.price - aim > 0 or s.additive):
                # the grid level at or beyond the limit, less half a step
                limit = s.price - aim if side == "BUY" else s.price + aim
            if s.additive:
                d = s.price - limit if side == "BUY" else limit - s.price
            else:
                d = math.log(s.price / limit) if side == "BUY" else math.log(limit / s.price)
            m = -mu if side == "BUY" else mu
            if d > 0:
                d += shift
            p = mixed_probability(d, m, var, sigma, self.horizon)
            eta = median_time(d, m, var, sigma, self.horizon) if not math.isnan(p) else math.nan
            if eta > 0:  # and the wait for the tick that shows the limit reached
                eta = min(eta + math.log(2.0) * s.sum_dt / s.den, self.horizon)
            if side == "BUY":
                pb, eb = p, eta
            else:
                ps, es = p, eta
        return pb, eb, ps, es

    # the tick ----------------------------------------------------------------------

    def tick(
        self, symbol: str, t: float, price: float
    ) -> list[tuple[str, str, int, float, float, float, float, float]]:
        s = self._get(symbol)
        if s.n == 0:
            s.first = price
            if self.band is not None and not s.touched and price != 0:  # none at 0
                s.buy, s.sell = (
                    x if _reachable(x, s.additive) else math.nan for x in _band(price, self.band)
                )
            s.t = t
            s.num, s.den = price, 1.0
            s.den_v = 1.0
        else:
            t = max(t, s.t)
            dt = t - s.t
            decay = 0.5 ** (dt / self.halflife)
            decay_long = 0.5 ** (dt / self.drift_halflife)
            r = price - s.price if s.additive else math.log(price / s.price)
            # a market that reopens after a closure: no move in no time
            reopened = dt > 10.0 * self.horizon and dt > 100.0 * s.step and s.step > 0
            if dt > 0:
                s.step = dt
            if reopened:
                dt = r = 0.0
            decay_v = 0.5 ** (min(dt, self.clock_step) / self.halflife)
            s.num = s.num * decay + price
            s.den = s.den * decay + 1.0
            s.sum_dt = s.sum_dt * decay + dt
            s.den_v = s.den_v * decay_v + 1.0
            s.sum_dt_v = s.sum_dt_v * decay_v + dt
            s.sum_rr = s.sum_rr * decay_v + r * r
            s.sum_cross = s.sum_cross * decay_v + r * s.last_r
            s.sum_bipower = s.sum_bipower * decay_v + abs(r * s.last_r)
            s.sum_root_dt = s.sum_root_dt * decay_v + math.sqrt(dt * s.last_dt)
            s.sum_r_long = s.sum_r_long * decay_long + r
            s.sum_dt_long = s.sum_dt_long * decay_long + dt
            s.sum_rr_long = s.sum_rr_long * decay_long + r * r
            s.sum_cross_long = s.sum_cross_long * decay_long + r * s.last_r
            if r != 0:
                s.last_r = r  # the products pair each return with the latest move before it
                s.last_dt = dt
            if price != s.price:
                s.grid = min(s.grid, abs(price - s.price))
            s.t = t
        s.price = price
        s.n += 1
        s.window_fast.append(price)
        s.window_slow.append(price)
        s.p_buy, s.eta_buy, s.p_sell, s.eta_sell = self._forecasts(s)

        fired: list[tuple[str, float, float, float]] = []
        # A hit re-arms only once back by two typical moves as well (a price's: of its
        # log, at this price), and a price on a grid by a whole step.
        least = 2.0 * math.sqrt(s.sum_rr / s.den_v) if s.den_v > 0 else -math.inf
        if not s.additive:
            least *= price
        if s.n > 20 and math.isfinite(s.grid):
            least = max(least, s.grid)
        for side, limit, p, eta, reached, back in (
            (
                "BUY",
                s.buy,
                s.p_buy,
                s.eta_buy,
                price <= s.buy,
                price > max(s.buy * (1 + math.copysign(self.hysteresis, s.buy)), s.buy + least),
            ),
            (
                "SELL",
                s.sell,
                s.p_sell,
                s.eta_sell,
                price >= s.sell,
                price < min(s.sell * (1 - math.copysign(self.hysteresis, s.sell)), s.sell - least),
            ),
        ):
            last = s.fired_at[side]
            if s.watch[side] == "fired" and t >= last + self.horizon:
                s.watch[side] = "armed"  # expired unanswered
            if reached:
                s.watch[side] = "reached"
            elif p >= self.alert:
                if s.watch[side] == "armed" and t > last + self.watch_quiet and p >= self.floor:
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


def _reachable(limit: float, additive: bool) -> bool:
    """Whether a tick could reach ``limit``: a price lies in [1e-12, 1e12), a quantity
    within 1e12 of 0."""
    return abs(limit) < 1e12 if additive else 1e-12 <= limit < 1e12


def _band(price: float, band: float) -> tuple[float, float]:
    """The automatic limits around a first price: to the fewest decimals that give the
    price back, or as many more as keep two significant digits of the
    band's width and of each limit, then to 12 significant digits."""
    places = 0  # the fewest decimals that give the price back
    while round(price, places) != price:
        places += 1
    width = abs(price) * band
    for size in (width, abs(price - width), abs(price + width)):
        if size:  # two significant digits of each
            places = max(places, 1 - math.floor(math.log10(size)))
    return (
        float(f"{round(price - width, places):.12g}"),
        float(f"{round(price + width, places):.12g}"),
    )
