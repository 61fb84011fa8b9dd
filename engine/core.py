"""The engine: per-symbol state in preallocated arrays, updated a batch of ticks at a time."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from engine.config import EngineConfig, LimitError
from engine.forecast import first_passage
from engine.segments import Pieces, carry_state, stable_order
from engine.signals import Signal, SignalKind
from engine.state import EngineState, History

__all__ = ["Engine"]

_F8 = NDArray[np.float64]
_I8 = NDArray[np.int64]

#: Exponential weights are kept relative to an anchor time; once a tick is this many
#: half-lives past the anchor, the sums are rescaled and the anchor moves to that tick.
#: 2**512 keeps every weighted sum far from overflow.
ANCHOR_SPAN = 512.0
#: Moving averages closer than this (relative to the slow one) count as equal, so
#: rounding noise on a flat price never reads as a cross.
CROSS_TOLERANCE = 1e-10

_INITIAL_CAPACITY = 64
_KINDS = tuple(SignalKind)
# Watch, hit and cross states (int8): armed / disarmed, and which average is above.
_ARMED, _DISARMED = 1, 0
_ABOVE, _BELOW = 1, 2


class _Store:
    """Per-symbol state: one preallocated array per field, the symbol id on axis 0."""

    def __init__(self, cfg: EngineConfig, capacity: int) -> None:
        self.schema: list[tuple[str, Any, tuple[int, ...], Any]] = [
            ("n_ticks", np.int64, (), 0),
            ("t_last", np.float64, (), np.nan),
            ("last", np.float64, (), np.nan),
            ("open", np.float64, (), np.nan),
            ("sma_fast", np.float64, (), np.nan),
            ("sma_slow", np.float64, (), np.nan),
            ("ema", np.float64, (), np.nan),
            ("drift", np.float64, (), np.nan),
            ("vol", np.float64, (), np.nan),
            ("buy", np.float64, (), np.nan),
            ("sell", np.float64, (), np.nan),
            ("p_buy", np.float64, (), np.nan),
            ("p_sell", np.float64, (), np.nan),
            ("eta_buy", np.float64, (), np.nan),
            ("eta_sell", np.float64, (), np.nan),
            ("touched", np.bool_, (), False),
            # Block prefix sums of the moving averages: current block, previous block total.
            ("fast_cur", np.float64, (), 0.0),
            ("fast_prev", np.float64, (), 0.0),
            ("slow_cur", np.float64, (), 0.0),
            ("slow_prev", np.float64, (), 0.0),
            ("fast_ring", np.float64, (cfg.fast,), 0.0),
            ("slow_ring", np.float64, (cfg.slow,), 0.0),
            # Exponentially weighted sums relative to `anchor`: w*p, w, w*r, w*r*r, w*dt.
            ("anchor", np.float64, (), np.nan),
            ("ew", np.float64, (5,), 0.0),
            ("hit_buy", np.int8, (), _ARMED),
            ("hit_sell", np.int8, (), _ARMED),
            ("watch_buy", np.int8, (), _ARMED),
            ("watch_sell", np.int8, (), _ARMED),
            ("regime", np.int8, (), 0),
            ("seq", np.int64, (len(_KINDS),), 0),
            ("h_t", np.float64, (cfg.history,), np.nan),
            ("h_price", np.float64, (cfg.history,), np.nan),
            ("h_fast", np.float64, (cfg.history,), np.nan),
            ("h_slow", np.float64, (cfg.history,), np.nan),
        ]
        self.capacity = 0
        self.grow(capacity)

    def grow(self, capacity: int) -> None:
        """Reallocate every field for ``capacity`` symbols, keeping the existing rows."""
        for name, dtype, shape, fill in self.schema:
            new = np.full((capacity, *shape), fill, dtype=dtype)
            if self.capacity:
                new[: self.capacity] = getattr(self, name)
            setattr(self, name, new)
        self.capacity = capacity

    def bytes_per_symbol(self) -> int:
        """Bytes of state each symbol slot takes."""
        return sum(getattr(self, name).nbytes for name, *_ in self.schema) // self.capacity


class Engine:
    """Rolling indicators, limit forecasts and signals for many symbols.

    Feed it ticks with :meth:`update` (arrays in arrival order, event time from the
    ticks); read an immutable snapshot with :meth:`state`. The engine has no clock and
    does no I/O: the same ticks give the same indicators and signals whatever the batch
    sizes. It is not thread-safe: one thread owns it and hands snapshots to others.

    Parameters
    ----------
    config : EngineConfig, optional
        Settings; the defaults of :class:`EngineConfig` when omitted.

    Notes
    -----
    Signals, per symbol and limit:

    * ``BUY``/``SELL`` when the price reaches the limit (``price <= buy``,
      ``price >= sell``). It then disarms until the price moves back beyond the limit by
      ``hysteresis`` (above ``buy*(1+hysteresis)``, below ``sell*(1-hysteresis)``), so a
      price chopping around a limit gives one signal.
    * ``BUY_WATCH``/``SELL_WATCH`` when the probability of reaching the limit within
      ``horizon_s`` rises to ``alert_p`` while the price has not reached it. Reaching the
      limit also disarms the watch (the hit supersedes it). The watch re-arms once the
      probability falls to ``watch_rearm * alert_p`` or below.
    * Setting a limit with :meth:`set_limits` re-arms both its signals.
    * ``GOLDEN_CROSS``/``DEATH_CROSS`` when the fast average moves above/below the slow
      one, once the slow window is full; the first ordering seen after that only sets
      the state. Averages within ``1e-10`` (relative) of each other count as equal.

    Event times that go backwards within a symbol are held at the symbol's latest time.

    Examples
    --------
    >>> eng = Engine(EngineConfig(fast=2, slow=3, history=3, default_band=None))
    >>> eng.register(["ACME", "BRIX"]).tolist()
    [0, 1]
    >>> eng.set_limits("ACME", buy=95.0, sell=110.0)
    >>> sigs = eng.update([0, 1, 0, 0, 0], [0.0, 0.5, 1.0, 2.0, 3.0],
    ...                   [100.0, 20.0, 99.0, 97.0, 94.0])
    >>> [s.id for s in sigs]
    ['ACME:BUY_WATCH:1', 'ACME:BUY:1']
    >>> st = eng.state()
    >>> st.symbols, st.sma_fast.tolist(), st.n_ticks.tolist()
    (('ACME', 'BRIX'), [95.5, 20.0], [4, 1])
    >>> float(st.p_buy[0])
    1.0
    >>> eng.history("ACME").price.tolist()
    [99.0, 97.0, 94.0]
    """

    def __init__(self, config: EngineConfig | None = None) -> None:
        self._cfg = config if config is not None else EngineConfig()
        self._names: list[str] = []
        self._index: dict[str, int] = {}
        self._refused_names: set[str] = set()
        self._refused = 0
        self._skipped = 0
        self._s = _Store(self._cfg, min(_INITIAL_CAPACITY, self._cfg.max_symbols))

    # ------------------------------------------------------------------ registry

    @property
    def config(self) -> EngineConfig:
        """The settings this engine runs with."""
        return self._cfg

    @property
    def refused(self) -> int:
        """Distinct symbols refused because ``max_symbols`` was reached.

        Exact while fewer than ``max_symbols`` names were refused; beyond that the names
        are no longer remembered (memory stays bounded) and a name refused again may be
        counted again.
        """
        return self._refused

    @property
    def skipped(self) -> int:
        """Ticks ignored by :meth:`update` for a non-finite time or a non-positive price."""
        return self._skipped

    @property
    def symbols(self) -> tuple[str, ...]:
        """Registered symbols, in id order."""
        return tuple(self._names)

    @property
    def bytes_per_symbol(self) -> int:
        """Bytes of preallocated state per symbol slot (fixed by the config)."""
        return self._s.bytes_per_symbol()

    def __len__(self) -> int:
        return len(self._names)

    def register(self, symbols: Iterable[str]) -> NDArray[np.int32]:
        """Ids of ``symbols``, registering new ones in order of first appearance.

        Parameters
        ----------
        symbols : iterable of str

        Returns
        -------
        ndarray of int32
            Stable id of each symbol; -1 where it was refused because ``max_symbols``
            symbols are already registered (see :attr:`refused`).
        """
        index = self._index
        names = symbols if isinstance(symbols, Sequence) else list(symbols)
        out = np.fromiter((index.get(name, -1) for name in names), np.int32, len(names))
        if (out < 0).any():
            for i in np.flatnonzero(out < 0).tolist():
                out[i] = self._add(names[i])
        return out

    def _add(self, name: str) -> int:
        """Id of ``name``, registering it if there is room; -1 if refused."""
        found = self._index.get(name)
        if found is not None:
            return found
        if not isinstance(name, str):
            raise TypeError(f"symbols must be str, got {type(name).__name__}")
        cfg = self._cfg
        count = len(self._names)
        if count >= cfg.max_symbols:
            if name not in self._refused_names:
                self._refused += 1
                if len(self._refused_names) < cfg.max_symbols:
                    self._refused_names.add(name)
            return -1
        if count == self._s.capacity:
            self._s.grow(min(2 * count, cfg.max_symbols))
        self._index[name] = count
        self._names.append(name)
        return count

    def _id(self, symbol: str) -> int:
        try:
            return self._index[symbol]
        except KeyError:
            raise KeyError(f"unknown symbol {symbol!r}") from None

    # ------------------------------------------------------------------ limits

    def set_limits(self, symbol: str, buy: float | None = None, sell: float | None = None) -> None:
        """Set, keep or clear the buy and sell limits of ``symbol``, registering it if new.

        Parameters
        ----------
        symbol : str
        buy, sell : float or None
            New limit; ``None`` leaves it unchanged, ``nan`` clears it.

        Raises
        ------
        LimitError
            If a limit is not positive or infinite, if the resulting buy limit is not
            below the sell limit, or if the symbol is new and ``max_symbols`` is reached.
            Nothing changes then.

        Notes
        -----
        Effective from the next tick; :meth:`state` shows the new limits and forecasts at
        once. Setting a limit (even to its current value) re-arms its signals.
        """
        new_buy = _check_limit("buy", symbol, buy)
        new_sell = _check_limit("sell", symbol, sell)
        sid = self._index.get(symbol)
        s = self._s
        cur_buy = float(s.buy[sid]) if sid is not None else math.nan
        cur_sell = float(s.sell[sid]) if sid is not None else math.nan
        b = cur_buy if new_buy is None else new_buy
        x = cur_sell if new_sell is None else new_sell
        if b >= x:  # False when either is nan
            raise LimitError(f"{symbol}: buy limit {b:g} must be below sell limit {x:g}")
        if sid is None:
            sid = self._add(symbol)
            if sid < 0:
                raise LimitError(
                    f"{symbol}: cannot track it, {self._cfg.max_symbols} symbols already tracked"
                )
        s.buy[sid], s.sell[sid] = b, x
        s.touched[sid] = True
        if new_buy is not None:
            s.hit_buy[sid] = s.watch_buy[sid] = _ARMED
        if new_sell is not None:
            s.hit_sell[sid] = s.watch_sell[sid] = _ARMED
        if s.n_ticks[sid]:
            ids = np.array([sid])
            p, eta = self._forecast(s.last[ids], s.buy[ids], s.drift[ids], s.vol[ids], True)
            s.p_buy[sid], s.eta_buy[sid] = p[0], eta[0]
            p, eta = self._forecast(s.last[ids], s.sell[ids], s.drift[ids], s.vol[ids], False)
            s.p_sell[sid], s.eta_sell[sid] = p[0], eta[0]

    def limits(self, symbol: str) -> tuple[float, float]:
        """``(buy, sell)`` limits of ``symbol``, nan where unset.

        Raises
        ------
        KeyError
            If the symbol is not registered.
        """
        sid = self._id(symbol)
        return float(self._s.buy[sid]), float(self._s.sell[sid])

    # ------------------------------------------------------------------ reading

    def state(self) -> EngineState:
        """Immutable snapshot of every registered symbol (read-only array copies)."""
        s, n = self._s, len(self._names)

        def col(name: str) -> NDArray[Any]:
            a = getattr(s, name)[:n].copy()
            a.flags.writeable = False
            return a

        return EngineState(
            symbols=tuple(self._names),
            n_ticks=col("n_ticks"),
            t_last=col("t_last"),
            last=col("last"),
            open=col("open"),
            sma_fast=col("sma_fast"),
            sma_slow=col("sma_slow"),
            ema=col("ema"),
            drift=col("drift"),
            vol=col("vol"),
            buy=col("buy"),
            sell=col("sell"),
            p_buy=col("p_buy"),
            p_sell=col("p_sell"),
            eta_buy=col("eta_buy"),
            eta_sell=col("eta_sell"),
            config=self._cfg,
            refused=self._refused,
        )

    def history(self, symbol: str) -> History:
        """The latest ticks of ``symbol`` (at most ``config.history``), oldest first.

        Raises
        ------
        KeyError
            If the symbol is not registered.
        """
        sid = self._id(symbol)
        s, size = self._s, self._cfg.history
        n = int(s.n_ticks[sid])
        slots = np.arange(n - min(n, size), n) % size

        def col(name: str) -> _F8:
            a = getattr(s, name)[sid, slots]
            a.flags.writeable = False
            return a

        return History(
            t=col("h_t"), price=col("h_price"), sma_fast=col("h_fast"), sma_slow=col("h_slow")
        )

    # ------------------------------------------------------------------ update

    def update(self, sym_ids: ArrayLike, t: ArrayLike, price: ArrayLike) -> list[Signal]:
        """Advance the engine by a batch of ticks and return the signals they raise.

        Parameters
        ----------
        sym_ids : array_like of int
            Symbol id of each tick (from :meth:`register`); ticks with a negative id are
            skipped.
        t : array_like of float
            Event time of each tick, epoch seconds.
        price : array_like of float
            Price of each tick. Ticks with a non-finite time or a price that is not a
            positive finite number are skipped and counted in :attr:`skipped`.

        Returns
        -------
        list of Signal
            In tick order; signals of one tick ordered by kind.

        Raises
        ------
        ValueError
            If the arrays differ in length or an id was never registered.
        """
        ids = np.asarray(sym_ids)
        tt = np.asarray(t, dtype=np.float64)
        pp = np.asarray(price, dtype=np.float64)
        if ids.ndim != 1 or tt.shape != ids.shape or pp.shape != ids.shape:
            raise ValueError(
                f"sym_ids, t and price must be 1-D of equal length, "
                f"got shapes {ids.shape}, {tt.shape}, {pp.shape}"
            )
        if ids.size == 0:
            return []
        if ids.dtype.kind not in "iu":
            raise ValueError(f"sym_ids must be integers, got dtype {ids.dtype}")
        if ids.max() >= len(self._names):
            raise ValueError(f"symbol id {int(ids.max())} was never registered")
        keep = ids >= 0
        with np.errstate(invalid="ignore"):
            ok = keep & np.isfinite(tt) & (pp > 0.0) & (pp < np.inf)
        if ok.all():
            arrival = np.arange(ids.shape[0])
        else:
            self._skipped += int(np.count_nonzero(keep & ~ok))
            arrival = np.flatnonzero(ok)
            if arrival.size == 0:
                return []
            ids, tt, pp = ids[arrival], tt[arrival], pp[arrival]
        return self._advance(ids.astype(np.int32, copy=False), tt, pp, arrival)

    def _forecast(self, price: _F8, limit: _F8, drift: _F8, vol: _F8, buy: bool) -> tuple[_F8, _F8]:
        """Forecast towards buy (below) or sell (above) limits; nan where no limit."""
        with np.errstate(invalid="ignore", divide="ignore"):
            if buy:
                return first_passage(np.log(price / limit), -drift, vol, self._cfg.horizon_s)
            return first_passage(np.log(limit / price), drift, vol, self._cfg.horizon_s)

    def _advance(self, ids: NDArray[np.int32], t_in: _F8, p_in: _F8, arrival: _I8) -> list[Signal]:
        cfg, s = self._cfg, self._s
        n = ids.shape[0]
        order = stable_order(ids, len(self._names))
        sym_t = ids[order].astype(np.int64)  # symbol of each tick, sorted
        tt = t_in[order]
        pp = p_in[order]
        arr = arrival[order]

        # Segments: the run of each symbol's ticks in the sorted batch.
        newseg = np.empty(n, dtype=bool)
        newseg[0] = True
        np.not_equal(sym_t[1:], sym_t[:-1], out=newseg[1:])
        seg_first = np.flatnonzero(newseg)
        seg_last = np.empty_like(seg_first)
        seg_last[:-1] = seg_first[1:] - 1
        seg_last[-1] = n - 1
        seg_of = np.cumsum(newseg) - 1
        sym = sym_t[seg_first]
        seg_len = seg_last - seg_first + 1
        pos = np.arange(n)
        n0 = s.n_ticks[sym]
        base = n0 - seg_first  # k = base[seg] + position
        k = base[seg_of] + pos
        fresh = n0 == 0

        if fresh.any():
            fsym = sym[fresh]
            first = pp[seg_first[fresh]]
            s.open[fsym] = first
            band = cfg.default_band
            if band is not None:
                dflt = ~s.touched[fsym]
                s.buy[fsym[dflt]] = first[dflt] * (1.0 - band)
                s.sell[fsym[dflt]] = first[dflt] * (1.0 + band)

        # Event time, held at the symbol's latest time if it goes backwards.
        t_seed = s.t_last[sym]
        prev_t = np.empty(n)
        prev_t[1:] = tt[:-1]
        prev_t[seg_first] = t_seed
        with np.errstate(invalid="ignore"):
            backwards = tt < prev_t
        if backwards.any():
            te = _hold_max(tt, t_seed, seg_of)
            prev_t[1:] = te[:-1]
            prev_t[seg_first] = t_seed
        else:
            te = tt
        prev_p = np.empty(n)
        prev_p[1:] = pp[:-1]
        prev_p[seg_first] = s.last[sym]
        first_tick = k == 0
        with np.errstate(invalid="ignore"):
            ret = np.log(pp / prev_p)
            dt = te - prev_t
        ret[first_tick] = 0.0
        dt[first_tick] = 0.0

        # Simple moving averages.
        sma_f = self._sma(
            cfg.fast,
            s.fast_cur,
            s.fast_prev,
            s.fast_ring,
            pp,
            k,
            newseg,
            seg_first,
            seg_last,
            seg_of,
            sym,
            sym_t,
            n0,
            seg_len,
            pos,
        )
        sma_s = self._sma(
            cfg.slow,
            s.slow_cur,
            s.slow_prev,
            s.slow_ring,
            pp,
            k,
            newseg,
            seg_first,
            seg_last,
            seg_of,
            sym,
            sym_t,
            n0,
            seg_len,
            pos,
        )

        # Exponentially weighted sums -> EMA, drift, volatility.
        ew = self._ewm(te, pp, ret, dt, newseg, seg_first, seg_last, seg_of, sym, fresh, pos)
        with np.errstate(invalid="ignore", divide="ignore"):
            ema = ew[0] / ew[1]
            timed = ew[4] > 0.0
            drift = np.where(timed, ew[2] / ew[4], np.nan)
            vol = np.where(timed, np.sqrt(ew[3] / ew[4]), np.nan)

        # Forecasts towards each limit at every tick.
        buy_t = s.buy[sym_t]
        sell_t = s.sell[sym_t]
        p_b, eta_b = self._forecast(pp, buy_t, drift, vol, True)
        p_s, eta_s = self._forecast(pp, sell_t, drift, vol, False)

        # Signal state machines.
        h = cfg.hysteresis
        alert = cfg.alert_p
        rearm_p = cfg.watch_rearm * alert
        carry = _Carry(seg_first, seg_last, seg_of, sym)
        with np.errstate(invalid="ignore"):
            hit_b = pp <= buy_t
            hit_s = pp >= sell_t
            fire_buy = carry.hits(s.hit_buy, hit_b, pp > buy_t * (1.0 + h))
            fire_sell = carry.hits(s.hit_sell, hit_s, pp < sell_t * (1.0 - h))
            fire_bw = carry.watch(s.watch_buy, p_b >= alert, hit_b, p_b <= rearm_p)
            fire_sw = carry.watch(s.watch_sell, p_s >= alert, hit_s, p_s <= rearm_p)
            full = k >= cfg.slow - 1
            gap = sma_f - sma_s
            tol = CROSS_TOLERANCE * np.abs(sma_s)
            code = np.full(n, -1, dtype=np.int8)
            code[full & (gap > tol)] = _ABOVE
            code[full & (gap < -tol)] = _BELOW
        before, after = carry_state(code, s.regime[sym], seg_first, seg_of)
        s.regime[sym] = after[seg_last]
        golden = (code == _ABOVE) & (before == _BELOW)
        death = (code == _BELOW) & (before == _ABOVE)

        # Per-symbol state at each segment's last tick.
        last = seg_last
        s.n_ticks[sym] = n0 + seg_len
        s.t_last[sym] = te[last]
        s.last[sym] = pp[last]
        s.sma_fast[sym] = sma_f[last]
        s.sma_slow[sym] = sma_s[last]
        s.ema[sym] = ema[last]
        s.drift[sym] = drift[last]
        s.vol[sym] = vol[last]
        s.p_buy[sym] = p_b[last]
        s.p_sell[sym] = p_s[last]
        s.eta_buy[sym] = eta_b[last]
        s.eta_sell[sym] = eta_s[last]
        size = cfg.history
        keep = k >= (n0 + seg_len)[seg_of] - size
        slot = sym_t[keep] * size + k[keep] % size
        s.h_t.ravel()[slot] = te[keep]
        s.h_price.ravel()[slot] = pp[keep]
        s.h_fast.ravel()[slot] = sma_f[keep]
        s.h_slow.ravel()[slot] = sma_s[keep]

        nan = np.full(n, np.nan)
        ones = np.ones(n)
        zeros = np.zeros(n)
        rules = (
            (SignalKind.BUY_WATCH, fire_bw, buy_t, p_b, eta_b),
            (SignalKind.SELL_WATCH, fire_sw, sell_t, p_s, eta_s),
            (SignalKind.BUY, fire_buy, buy_t, ones, zeros),
            (SignalKind.SELL, fire_sell, sell_t, ones, zeros),
            (SignalKind.GOLDEN_CROSS, golden, nan, nan, nan),
            (SignalKind.DEATH_CROSS, death, nan, nan, nan),
        )
        return self._signals(rules, sym_t, te, pp, arr)

    def _sma(
        self,
        size: int,
        cur: _F8,
        prev: _F8,
        ring: _F8,
        pp: _F8,
        k: _I8,
        newseg: NDArray[np.bool_],
        seg_first: _I8,
        seg_last: _I8,
        seg_of: _I8,
        sym: _I8,
        sym_t: _I8,
        n0: _I8,
        seg_len: _I8,
        pos: _I8,
    ) -> _F8:
        """Moving average over the last ``size`` ticks (fewer at the start).

        Prefix sums restart every ``size`` ticks (blocks aligned on the tick count), so
        no sum ever holds more than ``size`` terms and long runs cannot drift. The window
        ending at tick k is ``C[k] + (T - C[k-size])``: the sum so far in k's block plus
        the tail of the previous block (its total ``T`` less its first part, read from the
        ring of prefix sums).
        """
        n = k.shape[0]
        pcs = Pieces(newseg | (k % size == 0))
        seeds = np.zeros((1, pcs.count))
        cont = n0 % size != 0
        seeds[0, pcs.piece[seg_first[cont]]] = cur[sym[cont]]
        c = pcs.cumsum(pp[None, :], seeds)[0]
        n0_t = n0[seg_of]
        # Prefix sum at k - size, the first part of the previous block.
        back = k - size
        out = np.zeros(n)
        inside = back >= n0_t
        out[inside] = c[pos[inside] - size]
        old = (back >= 0) & ~inside
        out[old] = ring[sym_t[old], back[old] % size]
        # Total of the previous block, ending at tick q.
        q = k - k % size - 1
        total = np.zeros(n)
        inside = q >= n0_t
        total[inside] = c[pos[inside] - (k[inside] - q[inside])]
        just = (q >= 0) & (q == n0_t - 1)
        total[just] = cur[sym_t[just]]
        older = (q >= 0) & (q < n0_t - 1)
        total[older] = prev[sym_t[older]]
        sums = c + (total - out)
        mean = sums / np.minimum(k + 1, size)
        cur[sym] = c[seg_last]
        prev[sym] = total[seg_last]
        keep = k >= (n0 + seg_len)[seg_of] - size
        ring.ravel()[sym_t[keep] * size + k[keep] % size] = c[keep]
        return mean

    def _ewm(
        self,
        te: _F8,
        pp: _F8,
        ret: _F8,
        dt: _F8,
        newseg: NDArray[np.bool_],
        seg_first: _I8,
        seg_last: _I8,
        seg_of: _I8,
        sym: _I8,
        fresh: NDArray[np.bool_],
        pos: _I8,
    ) -> _F8:
        """Exponentially weighted sums ``w*p, w, w*r, w*r*r, w*dt`` at every tick.

        ``w = 2**((t - anchor)/halflife)`` grows with time instead of the past decaying,
        so each sum is a plain running sum; ratios of sums do not depend on the anchor.
        """
        s = self._s
        hl = self._cfg.halflife_s
        anchor = s.anchor[sym]
        anchor[fresh] = te[seg_first[fresh]]
        a_t = anchor[seg_of]
        span = ANCHOR_SPAN * hl
        change = None
        over = te - a_t > span
        if over.any():
            a_t = a_t.copy()
            change = np.zeros(te.shape[0], dtype=bool)
            while over.any():
                # `over` is a suffix of each segment: re-anchor at its first tick.
                starts = over.copy()
                starts[1:] &= ~(over[:-1] & ~newseg[1:])
                idx = np.where(starts, pos, -1)
                np.maximum.accumulate(idx, out=idx)
                a_t[over] = te[idx[over]]
                change |= starts
                over = te - a_t > span
        w = np.exp2((te - a_t) / hl)
        vals = np.empty((5, te.shape[0]))
        np.multiply(w, pp, out=vals[0])
        vals[1] = w
        np.multiply(w, ret, out=vals[2])
        np.multiply(vals[2], ret, out=vals[3])
        np.multiply(w, dt, out=vals[4])
        seeds = s.ew[sym].T
        if change is None:
            out = Pieces(newseg).cumsum(vals, seeds)
        else:
            out = np.empty_like(vals)
            epoch = np.cumsum(change)
            epoch -= epoch[seg_first][seg_of] - change[seg_first][seg_of]
            carried = seeds.copy()
            carried_anchor = anchor.copy()
            for e in range(int(epoch.max()) + 1):
                sel = np.flatnonzero(epoch == e)
                if sel.size == 0:
                    continue
                starts = np.ones(sel.shape[0], dtype=bool)
                starts[1:] = seg_of[sel[1:]] != seg_of[sel[:-1]]
                pcs = Pieces(starts)
                segs = seg_of[sel[pcs.first]]
                if e:
                    new_anchor = a_t[sel[pcs.first]]
                    carried[:, segs] *= np.exp2((carried_anchor[segs] - new_anchor) / hl)
                    carried_anchor[segs] = new_anchor
                part = pcs.cumsum(vals[:, sel], carried[:, segs])
                out[:, sel] = part
                carried[:, segs] = part[:, pcs.last]
        s.anchor[sym] = a_t[seg_last]
        s.ew[sym] = out[:, seg_last].T
        return out

    def _signals(
        self,
        rules: tuple[tuple[SignalKind, NDArray[np.bool_], _F8, _F8, _F8], ...],
        sym_t: _I8,
        te: _F8,
        pp: _F8,
        arr: _I8,
    ) -> list[Signal]:
        """Number the fired signals per (symbol, kind) and list them in tick order."""
        seq = self._s.seq
        parts = []
        for kind, fired, limit, p, eta in rules:
            idx = np.flatnonzero(fired)
            if idx.size == 0:
                continue
            who = sym_t[idx]
            run = np.empty(idx.size, dtype=bool)
            run[0] = True
            np.not_equal(who[1:], who[:-1], out=run[1:])
            starts = np.flatnonzero(run)
            rank = np.arange(idx.size) - np.repeat(starts, np.diff(np.append(starts, idx.size)))
            number = seq[who, kind] + rank + 1
            np.add.at(seq[:, kind], who, 1)
            parts.append((idx, np.full(idx.size, int(kind)), number, limit[idx], p[idx], eta[idx]))
        if not parts:
            return []
        idx, kinds, number, limit, p, eta = (np.concatenate(c) for c in zip(*parts, strict=True))
        order = np.lexsort((kinds, arr[idx]))
        idx = idx[order]
        names = self._names
        return [
            Signal(names[w], _KINDS[kd], q, tv, pv, lv, ph, et)
            for w, kd, q, tv, pv, lv, ph, et in zip(
                sym_t[idx].tolist(),
                kinds[order].tolist(),
                number[order].tolist(),
                te[idx].tolist(),
                pp[idx].tolist(),
                limit[order].tolist(),
                p[order].tolist(),
                eta[order].tolist(),
                strict=True,
            )
        ]


class _Carry:
    """Arm/disarm state machines carried through the sorted batch, one per symbol."""

    def __init__(self, seg_first: _I8, seg_last: _I8, seg_of: _I8, sym: _I8) -> None:
        self.seg_first, self.seg_last, self.seg_of, self.sym = seg_first, seg_last, seg_of, sym

    def _run(self, state: NDArray[np.int8], code: NDArray[np.int8]) -> NDArray[np.int8]:
        before, after = carry_state(code, state[self.sym], self.seg_first, self.seg_of)
        state[self.sym] = after[self.seg_last]
        return before

    def hits(
        self, state: NDArray[np.int8], hit: NDArray[np.bool_], back: NDArray[np.bool_]
    ) -> NDArray[np.bool_]:
        """Fire where the limit is reached while armed; re-arm once the price moved back."""
        code = np.where(hit, _DISARMED, np.where(back, _ARMED, -1)).astype(np.int8)
        return hit & (self._run(state, code) == _ARMED)

    def watch(
        self,
        state: NDArray[np.int8],
        likely: NDArray[np.bool_],
        hit: NDArray[np.bool_],
        unlikely: NDArray[np.bool_],
    ) -> NDArray[np.bool_]:
        """Fire where the hit becomes likely while armed; the hit itself disarms too."""
        likely = likely & ~hit
        code = np.where(likely | hit, _DISARMED, np.where(unlikely, _ARMED, -1)).astype(np.int8)
        return likely & (self._run(state, code) == _ARMED)


def _check_limit(side: str, symbol: str, value: float | None) -> float | None:
    """Validated limit: None (keep), nan (clear) or a positive finite float."""
    if value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise LimitError(f"{symbol}: {side} limit must be a number, got {value!r}") from None
    if math.isnan(x):
        return x
    if math.isinf(x) or x <= 0.0:
        raise LimitError(f"{symbol}: {side} limit must be positive and finite, got {x!r}")
    return x


def _hold_max(t: _F8, seed: _F8, seg_of: _I8) -> _F8:
    """Running maximum of ``t`` within each segment, starting from ``seed`` (nan: none).

    Exact: the times are replaced by their ranks, which can be offset per segment in
    integers so one global running maximum serves every segment.
    """
    start = np.fmax(t, seed[seg_of])
    values, rank = np.unique(start, return_inverse=True)
    key = seg_of * values.shape[0] + rank
    np.maximum.accumulate(key, out=key)
    return values[key - seg_of * values.shape[0]]
