"""The engine: per-symbol state in preallocated arrays, updated a batch of ticks at a time.

How far the forecasts trust the drift. The estimate ``mu = sum(w r) / sum(w dt)`` from a
few seconds of ticks is mostly noise: with returns of variance ``sigma**2 dt`` its
standard error is about ``se = sigma / sqrt(T)``, ``T`` the time it covers, and often
larger than ``mu`` itself (it depends on the time covered, not on the tick count:
Merton, "On estimating the expected return on the market", 1980). Taken as known, it
makes the first-passage forecast certain of a move that is only noise (a price 1 % below
its limit "reached in 5 s, 100 %" after three ticks). So:

* ``T`` is ``span = sum(w_i dt_i) / w``, the weights taken relative to this tick's: the
  exponentially weighted time the estimate covers, given by the running sums. Under a
  constant drift the exact variance of ``mu`` is ``sigma**2 sum(w_i**2 dt_i) /
  sum(w_i dt_i)**2``, an effective time between ``span`` and ``2 span`` (the latter for
  steady ticks over many half-lives). ``span`` errs towards less trust, which suits a
  drift that is not constant (the reason it is weighted at all); on generated markets
  whose regimes change (``producer.generator``) it calibrated as well or better.
* The forecasts use ``mu * max(0, 1 - se**2 / mu**2)``, the positive-part James-Stein
  estimate (James & Stein, 1961; Efron & Morris, 1973; see
  :func:`~engine.forecast.shrink_drift`): no drift within one standard error
  of zero, nearly all of it many errors out. Here ``(mu / se)**2 = sum(w r)**2 /
  (w sum(w r**2))``, at most the weighted tick count ``sum(w) / w``, so a single return
  never counts as a drift. (Averaging the forecast over the drift's normal posterior
  has a closed form as well; it improved calibration slightly but delayed the warnings
  of genuine trends, so the plug-in stays.)
* Measured and not adopted: a prior pooled across a stream's prices (parametric
  empirical Bayes, Morris 1983: the spread ``A`` of the true drifts estimated from all
  the symbols' estimates at each refit of the calibrator, DerSimonian & Laird's moment
  estimate with the mean 0, :func:`~engine.forecast.pool_drifts` with ``center=0``, so
  each drift shrunk
  by ``A / (A + se**2)``). On nine generated kinds and two seeds (``limitwatch
  evaluate``) it raised the Brier skill on all 18 runs (by 0.002-0.009) and cut false
  WATCHes by 9-19 %, but warned later: the lead over the proximity alarm at equal
  precision fell on 16 of the 18 (drift 0.85 to 0.82, regimes 1.20 to 1.04, jumps 0.76
  to 0.64 with seed 0), and the largest calibration gap rose past 0.05 on two (intraday
  0.057 to 0.076, stochvol 0.043 to 0.059 with seed 1). One ``A`` shrinks every drift
  of a stream alike, a trend that stands out as much as noise; the symbol's own estimate
  keeps the trends that stand out. (The code: branch ``pooled-drift-prior``.)
* Measured and not adopted: the continuity correction for ticks at random times and
  the chance that a tick comes within the horizon at all. Brownian motion seen at the
  times of a Poisson stream is a random walk with Laplace steps, whose ladder height is
  exponential: the shift's constant is ``1 / sqrt(2)`` there, not 0.5826; and ``p`` is
  times ``1 - exp(-H / mean dt)``, both weighed by how irregular the spacing is. In a
  simulation (ticks 35 s apart on average, a 60 s horizon) it said 0.51 at the limit
  where 0.49 came true, against 0.66 with the constant for even spacing. But the map
  already corrects the middle deciles: on ``limitwatch evaluate`` (13 kinds, seeds 0
  and 1) the Brier skill moved by at most 0.002, the ``sparse`` market's largest gap
  went from 0.113 to 0.053 with seed 0 and from 0.045 to 0.233 with seed 1 (a top
  decile of 54 forecasts), its lead over the proximity alarm from 1.02 to 0.87 and
  0.98 to 0.88 (fewer and later WATCHes: they fire on the computed ``p``), and on
  markets written outside the project with a tick every 10 to 60 s the gaps went from
  0.070/0.085/0.041 to 0.147/0.053/0.071. (The code: branch ``poisson-monitoring``.)
* Measured and not adopted: calibration maps by the drift's lean towards the limit,
  ``drift * sqrt(horizon) / vol``. On strong steady trends (markets written outside the
  project) forecasts with no lean came true 11 points more often than they said and
  those leaning one standard deviation or more towards the limit 25 points less, and
  the error sat in each symbol's minutes 10 to 20. A map per lean (a map of its own, a
  Platt bend of one map of all, or one map for no lean and one each for the rest) took
  those markets' largest gaps from 0.070/0.094/0.047 to at best 0.031/0.061/0.077, but
  the runs over 0.05 of thirty on ten kinds from 6 to 8, 10 and 11 (ticks every 10 to
  60 s: 0.070 to 0.12-0.19): each map rests on fewer outcomes.
* Nothing is forecast before ``warmup_ticks`` ticks and a ``span`` of
  ``warmup_span`` seconds: ``se`` treats ``sigma`` as known, which takes some returns.

Prices on a grid. A price quoted in cents on a 5.00 stock moves in steps of a fifth of a
percent; it reaches a sell limit only at the first cent at or above it. Each symbol keeps
its smallest non-zero price step (its grid, once ``GRID_AFTER_TICKS`` ticks have shown
it), and the forecasts aim at the level where the price, seen as a continuous price
rounded to that grid, starts to be quoted at or beyond the limit
(:func:`~engine.limit_forecast.grid_limits`). A price on no grid has a smallest step far
below any distance that matters, and its limits move by less than half of it. On the
generated tick-grid markets this raised the Brier skill from 0.32-0.36 to 0.35-0.39
(three seeds), took the largest calibration gap from up to 0.15 to at most 0.05, and
the shown time to the limit from 2.2-2.6 to 1.6-2.0 times too short; random walks
without a grid kept their figures. The whole update costs about 5% more.

Self-calibration. The first-passage ``p`` assumes Brownian motion; markets that revert,
jump or trade on a coarse grid make it over- or underconfident. The engine keeps a
:class:`~engine.calibration.Calibrator`: as the *clock* (the running maximum of tick
times) enters each slot of 5 s, every symbol's forecast in force (made at its latest
tick, whether the symbol ticks in that slot or has fallen silent) is sampled, and
resolved a horizon later against the symbol's later ticks; from symbols past
``calibrate_after_s`` it learns a monotone map from computed to reported ``p`` (following
the outcomes of the last few minutes where they are many, see the calibrator's
``recent_halflife``), one for fresh forecasts and one for overdue ones (10 s old and
twice the symbol's mean time between ticks, :func:`age_groups`): every ``p`` the engine
reports goes through the
map of its age (a WATCH's, at its tick, through the fresh one). The maps change
only where the clock reaches the calibrator's next refit, and :meth:`Engine.update` cuts
its batch there, so any split of the ticks into updates meets the same map at every tick
(batch invariance holds bit for bit, maps and records included).

Streams. Symbols are registered in a *stream* (:meth:`Engine.register`, 0 unless given),
and each stream has a calibrator, clock and map of its own. A consumer registers each
symbol in the Kafka partition it arrives on: the ticks of a partition come in one order
whichever engine reads it, while the order in which several partitions interleave
depends on timing, so one clock over several partitions (the running maximum of all their
times) made the calibrated ``p`` depend on which partitions an engine had and on when
they were read. With a calibrator per partition, engines that split a topic's partitions
between them report exactly the ``p`` and the signals that one engine reading them all
reports, in any arrangement and at any speed. Every other estimate is per symbol already.

The WATCH rule compares the forecast *as computed* with ``alert_p`` (where the map says
such forecasts came true at least ``watch_floor`` of the time); the signal reports
the calibrated ``p``, a WATCH's also shifted by how its stream's WATCHes fared (see
:class:`~engine.calibration.TimingRecord`), so it may differ from the watchlist's ``p``
of the same moment. Measured on the generated markets (``limitwatch evaluate``), a rule
on the calibrated ``p`` fired far less on markets where the map caps the forecast (on a
coarse price grid it rarely says more than 60 %: 46 WATCHes instead of about 1,300, a
recall of 0.02) and warned later at equal precision on four of six kinds; the computed
``p`` ranks the risk as well and keeps the warnings early, while what the user reads is
the calibrated chance. The floor is far lower than ``alert_p`` (0.3 against 0.6): it
only holds back WATCHes that the stream's own record disowns, as on prices that move by
ticks of 0.2 % or more, where a flicker between two levels sends the computed ``p``
past ``alert_p`` and the map has learnt that about one such forecast in six comes true.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from engine.calibration import CalibrationRecord, Calibrator, TimingRecord, pooled_record
from engine.config import EngineConfig, LimitError, symbol_matcher
from engine.forecast import MONITORING_SHIFT
from engine.limit_forecast import (
    Estimates,
    forecast_limits,
    grid_limits,
    limit_etas,
    screen_reach,
)
from engine.limits import band_limits, check_limits
from engine.rules import Armed, Rule, fire, signals_fired
from engine.segments import Batch, Recurrence, expand_runs, make_batch
from engine.signals import Signal, SignalKind, with_eta, with_p
from engine.state import EngineState, History
from engine.store import IN_FORCE, LONG, VOLATILITY, WEIGHTED, Store, Sum
from engine.watch import Watch
from engine.windows import reanchor, replay_mean, window_mean, wrap_slots

__all__ = ["Engine", "posterior_drift"]

_F8 = NDArray[np.float64]
_I8 = NDArray[np.int64]
_B = NDArray[np.bool_]


_INITIAL_CAPACITY = 64
#: A hit (BUY or SELL) re-arms only once the price is back beyond the limit by at least
#: this many of its typical moves from one tick to the next (the root of the exponentially
#: weighted mean squared move, noise included; of the log price for a price) as well as by
#: ``hysteresis`` of the limit: a gauge jittering about a threshold of 0, where that is no
#: distance, fired a hit at every fourth tick, and trades alternating between a bid and an
#: ask further apart than the hysteresis fired one at nearly every trade at the bid.
HIT_REARM_MOVES = 2.0
#: A tick is a market's reopening (:func:`reopens`) after a silence longer than this many
#: horizons (10 minutes at the default horizon: longer than the quiet spells of an open
#: market, shorter than a night, a weekend, a lunch break or a halt) ...
REOPEN_HORIZONS = 10.0
#: ... and this many times the latest time step of the symbol before it (ticks a day
#: apart, or irregular ones, are not reopened at each long step).
REOPEN_STEPS = 100.0
#: Ticks of a symbol before its price grid counts (:meth:`Engine._grid`): the smallest of
#: a few steps of a price that is on no grid is still a good part of a typical step.
GRID_AFTER_TICKS = 20
#: A WATCH is not sent where its stream's own WATCHes say it would come true less than
#: this share of ``watch_floor`` (:attr:`TimingRecord.shift` on the map's ``p``; see
#: :meth:`Engine._unsent`):
#: a 30 s recording replayed in a loop sent 2,771 WATCHes in 200,000 ticks, 168 of them
#: saying under 5 % (now 2,277, none under 7.5 %). A quarter, not the whole floor: on the
#: tick grid of ``limitwatch evaluate`` the shifted ``p`` under the whole floor held back
#: WATCHes that came true as often as the rest (see :meth:`Engine._doubted`), and under
#: half of it nearly every WATCH of the market of prices of 1 to 5 (815 to 60), which say
#: 8 to 20 % and come true 10 % of the time, about as often as the proximity alarm's at
#: its best (at a quarter: 812).
SHIFTED_FLOOR = 0.25


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
    evict_idle : bool
        When ``max_symbols`` symbols are tracked, a new symbol takes the slot of the one
        idle longest (whose latest tick came first) among those still warming up, else
        among the rest, instead of being refused; only
        symbols of the same :meth:`register` call are never evicted for it. Its limits
        and signal numbers are kept and given back if it returns (its prices are not).
        An id from :meth:`register` then names its symbol until the next call that
        registers a new one: for a live feed (one call per batch, then :meth:`update`),
        where a flood of new names must not lock out real symbols. Off by default:
        a backtest refuses what does not fit and stays batch-invariant.
    additive : iterable of str
        Shell-style patterns (``fnmatch``, case-sensitive: ``"cpu.*"``) of symbols whose
        values are quantities rather than prices: gauges and counters that sit at zero,
        go below it, or move by amounts rather than in proportion to their level (system
        metrics, spreads, temperatures). For them the engine works in the value itself
        where it otherwise works in log price (arithmetic rather than geometric Brownian
        motion: returns are differences, the distance to a limit is ``limit - value``,
        volatility and drift are in the value's units), takes ticks and limits of any
        finite value, and gives default limits ``first -/+ band*|first|`` (none at a
        first value of 0). A log-price model of a CPU gauge at 0.0 % would call a move to
        0.5 % an infinite return and any threshold unreachable.

    Notes
    -----
    At every tick of a symbol (event time ``t``, price ``p``, log return ``r`` and time
    step ``dt`` since its previous tick):

    * ``sma_fast``, ``sma_slow``: means of the last ``fast``/``slow`` prices (of all
      prices so far while fewer), from running sums that restart every window length,
      so they never drift (see :func:`engine.windows.window_mean`); cost independent of the window.
    * ``ema``: ``sum(w_i p_i) / sum(w_i)`` with ``w_i = 2**(-(t - t_i)/halflife_s)``,
      exact for irregular spacing (pandas ``ewm(halflife=, times=)``): a weighted mean
      as the ratio of running weighted sums (West, 1979), see ``_scan_sums``.
    * ``drift = sum(w_i r_i) / sum(w_i dt_i)`` and
      ``vol = sqrt(sum(v_i r_i**2) / sum(v_i dt_i))``, per second (in outline; see
      ``_estimates``); nan until some time has passed. A jump with ``dt = 0`` adds to
      the variance, never divides by zero.
    * The volatility's weights ``v_i = 2**(-(tau - tau_i)/halflife_s)`` run on their own
      clock ``tau``, which advances by ``min(dt, halflife_s / vol_returns)`` per tick:
      time itself while ticks come closer together than that (3.75 s at the
      defaults), else at most ``1 / vol_returns`` of a half-life per tick, so that the
      estimate always rests on at least about ``vol_returns / ln 2`` returns. A half-life of
      time holds one or two returns where ticks are 20 s apart, and the estimate of so
      few scatters widely: on the generated ``sparse`` market (``limitwatch evaluate``,
      seed 0) the engine's volatility was, across symbols and minutes, within
      0.35-1.19x of the true one (10th to 90th percentile) in time, 0.64-1.14x on
      this clock. Volatility changes far more slowly than a few ticks of a sparse
      feed, and the EMA and the drift keep their weights in time.
    * A market that closes: a tick after a silence of more than ``REOPEN_HORIZONS``
      horizons and ``REOPEN_STEPS`` times the symbol's latest time step before it
      (:func:`reopens`: a night, a weekend, a halt, where the symbol ticked a second or a
      minute apart) counts as a move of 0 in no time (``r = dt = 0``): the closure's time
      is not time the price diffused in. As a 17-hour step it entered the volatility's
      ``sum(v dt)`` whole while its clock advanced one step, and at every open the
      volatility fell to a fraction of the day before's for minutes (4 % of it 20 s after
      the open, ``tests/engine/test_closures.py``), the forecasts near 0 however close
      the limits: on sessions with nights written outside the project the forecast warned
      of 51 % of the crossings, the proximity alarm of 81 %. Now the volatility carries
      over from the close, the averages weighted in time restart (after hours their
      weights are nil), and the symbol warms up again for ``warmup_span`` of ticks. A
      symbol that ticks once a day at a horizon of a minute, or a quiet spell of a few
      minutes, is no closure.
    * ``span = sum(w_i dt_i) / w``, ``w`` the weight of this tick: the exponentially
      weighted time the estimates cover, and ``drift_se = sqrt(rv_long / span)``, the
      realised variance of the returns the drift averages, jumps included (see
      ``_estimates``).
    * ``p_buy``, ``p_sell``, ``eta_buy``, ``eta_sell``: :func:`~engine.first_passage` of
      log price to ``ln(limit)`` within ``horizon_s``, with that volatility and the drift
      shrunk by its error, :func:`~engine.forecast.shrink_drift` (see the module
      docstring). nan until the symbol has ``warmup_ticks`` ticks and ``span`` reaches
      ``warmup_span`` (except where the price is at the limit: 1 and 0).

    Signals, per symbol and limit:

    * ``BUY``/``SELL`` when the price reaches the limit (``price <= buy``,
      ``price >= sell``). It then disarms until the price moves back beyond the limit by
      ``hysteresis`` (above ``buy*(1+hysteresis)``, below ``sell*(1-hysteresis)``), so a
      price chopping around a limit gives one signal. The price must also move back by
      :data:`HIT_REARM_MOVES` of its typical moves from one tick to the next (a price's
      of its log, at the price), and a price on a grid (see :meth:`_grid`) by a whole
      step of it.
    * ``BUY_WATCH``/``SELL_WATCH`` when the probability of reaching the limit within
      ``horizon_s`` is at ``alert_p`` or above while the price has not reached it (so
      never during the warm-up, which leaves the watch armed), the calibration map in
      force says forecasts of that probability came true at least ``watch_floor`` of
      the time (such a tick neither fires nor re-arms), the watch is armed, and
      more than ``watch_quiet`` seconds have passed since the previous watch of that
      symbol and side. The watch then disarms; reaching the limit also disarms it (the
      hit supersedes it). It re-arms once the probability falls to
      ``watch_rearm * alert_p`` or below, or once ``horizon_s`` has passed since it
      fired without the limit being reached: the watch has expired, and a probability
      still high warns again (see :mod:`engine.watch`).
    * Setting a limit with :meth:`set_limits` re-arms its hit signal, and its watch
      only if the risk is new (see there).
    * ``GOLDEN_CROSS``/``DEATH_CROSS`` when the fast average is above/below the slow
      one by more than ``2e-4`` of it (:data:`~engine.rules.CROSS_BAND`) after last
      being so below/above it, once the slow window is full, and more than
      ``cross_quiet`` seconds after the symbol's previous cross; a cross too soon fires
      at the first tick after the quiet time that still sees it. The first ordering
      seen only sets the state.

    Event times that go backwards within a symbol are held at the symbol's latest time.

    Examples
    --------
    >>> eng = Engine(EngineConfig(fast=2, slow=3, history=3, default_band=None,
    ...                           warmup_ticks=3, warmup_s=0.0))
    >>> eng.register(["ACME", "BRIX"]).tolist()
    [0, 1]
    >>> eng.set_limits("ACME", buy=95.0, sell=110.0)
    >>> eng.update([0, 1, 0], [0.0, 0.5, 1.0], [100.0, 20.0, 99.0])
    []
    >>> float(eng.state().p_buy[0])  # two ticks of ACME: still warming up
    nan
    >>> [s.id for s in eng.update([0, 0], [2.0, 3.0], [97.0, 94.0])]
    ['ACME:BUY_WATCH:1', 'ACME:BUY:1']
    >>> st = eng.state()
    >>> st.symbols, st.sma_fast.tolist(), st.n_ticks.tolist()
    (('ACME', 'BRIX'), [95.5, 20.0], [4, 1])
    >>> float(st.p_buy[0])
    1.0
    >>> eng.history("ACME").price.tolist()
    [99.0, 97.0, 94.0]
    """

    def __init__(
        self,
        config: EngineConfig | None = None,
        *,
        evict_idle: bool = False,
        additive: Iterable[str] = (),
    ) -> None:
        self._cfg = config if config is not None else EngineConfig()
        if isinstance(additive, str):
            raise TypeError("additive takes an iterable of patterns, not one str")
        self._additive = tuple(additive)
        self._is_additive = symbol_matcher(self._additive)
        self._any_additive = False  # whether a registered symbol is additive
        self._names: list[str] = []
        self._index: dict[str, int] = {}
        self._refused_names: set[str] = set()
        self._refused = 0
        self._evict = evict_idle
        self._evicted = 0
        self._evicted_ids: list[tuple[int, str]] = []
        # Limits, whether set, and signal numbers of evicted symbols that had any.
        self._parked: dict[str, tuple[float, float, bool, _I8]] = {}
        self._given = 0  # ticks given to update so far (positions for Store.seen)
        self._skipped = 0
        self._s = Store.empty(self._cfg, min(_INITIAL_CAPACITY, self._cfg.max_symbols))
        # Factors of the running sums' recurrence, kept between updates: all 1 but the
        # moving averages' restart columns, which each update sets (see _advance).
        self._ones = np.ones((0, len(Sum)))
        # Each segment's latest non-zero return after an update (see _previous_moves).
        self._last_move = np.empty((2, 0))
        # A calibrator per stream (see the module docstring), made by the first symbol
        # registered in it; each symbol has an id of its own there (Store.local), ids
        # freed by evicted symbols taken again first.
        self._cals: dict[int, Calibrator] = {}
        self._free_local: dict[int, list[int]] = {}
        self._n_local: dict[int, int] = {}
        # Per stream, how the WATCHes fared (the factor that corrects their times to the
        # limit, the shift that corrects their p); the WATCHes still waiting for a tick
        # at their limit, per (symbol id, side): (event time, time to the limit and p
        # shown before correction); and per stream those answered, kept until their
        # horizon has passed: (event time, symbol id, side, time the limit took, time
        # and p shown).
        self._timing: dict[int, TimingRecord] = {}
        self._waiting: dict[tuple[int, int], list[tuple[float, float, float]]] = {}
        self._answered: dict[int, list[tuple[float, int, int, float, float, float]]] = {}
        self._learn_timing = math.isfinite(self._cfg.calibrate_after_s)
        # Forecasts below the watches' re-arm level need not be exact (see forecast_limits).
        self._screen = screen_reach(self._cfg.watch_rearm * self._cfg.alert_p, self._cfg.horizon_s)

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
    def evicted(self) -> int:
        """Symbols evicted to make room for new ones (``evict_idle``)."""
        return self._evicted

    def take_evicted(self) -> list[tuple[int, str]]:
        """``(id, symbol)`` of each symbol evicted since the last call (the id now names
        another symbol): for a caller that keeps something per id or per symbol."""
        gone, self._evicted_ids = self._evicted_ids, []
        return gone

    @property
    def skipped(self) -> int:
        """Ticks ignored by :meth:`update` for a non-finite time or a non-positive price
        (a non-finite value for an additive symbol)."""
        return self._skipped

    @property
    def additive(self) -> tuple[str, ...]:
        """The patterns of additive symbols (see the class docstring)."""
        return self._additive

    def is_additive(self, symbol: str) -> bool:
        """Whether ``symbol`` (registered or not) matches the additive patterns."""
        return self._is_additive(symbol)

    @property
    def symbols(self) -> tuple[str, ...]:
        """Registered symbols, in id order."""
        return tuple(self._names)

    @property
    def bytes_per_symbol(self) -> int:
        """Bytes of preallocated state per symbol slot (fixed by the config)."""
        return self._s.bytes_per_symbol()

    def memory(self) -> dict[str, int]:
        """Bytes of the engine's arrays, by what they hold: the chart history
        (``history`` 0 keeps none), the moving averages' rings, the other per-symbol
        values, and the calibration (per-slot price extremes and pending forecasts of
        every stream). Symbol slots are preallocated and grow by doubling."""
        s = self._s
        chart = s.history.nbytes
        rings = s.fast_ring.nbytes + s.slow_ring.nbytes
        total = sum(getattr(s, f.name).nbytes for f in dataclasses.fields(s))
        return {
            "chart history": chart,
            "moving-average rings": rings,
            "other per-symbol values": total - chart - rings,
            "calibration": sum(cal.nbytes for cal in self._cals.values()),
        }

    def __len__(self) -> int:
        return len(self._names)

    def register(
        self,
        symbols: Iterable[str],
        stream: int | Sequence[int] | NDArray[np.integer] | None = None,
    ) -> NDArray[np.int32]:
        """Ids of ``symbols``, registering new ones in order of first appearance.

        Parameters
        ----------
        symbols : iterable of str
        stream : int or sequence of int, optional
            The stream (``>= 0``) of the symbols, one for all or one per symbol: their
            forecasts are calibrated on that stream's record alone (see the module
            docstring). A symbol stays in the stream it had at its first tick; one
            registered before any tick (by :meth:`set_limits`, say) moves to the stream
            given here. Omitted: stream 0 for new symbols, the others stay.

        Returns
        -------
        ndarray of int32
            Id of each symbol; -1 where it was refused because ``max_symbols`` symbols
            are already registered (see :attr:`refused`; with ``evict_idle`` only those
            of this call count).
        """
        if isinstance(symbols, str):
            raise TypeError("register takes an iterable of symbols, not one str")
        index = self._index
        names = symbols if isinstance(symbols, Sequence) else list(symbols)
        got = list(map(index.get, names))  # in C: no Python call per symbol
        if None in got:
            got = [-1 if sid is None else sid for sid in got]
        out = np.array(got, dtype=np.int32).reshape(len(names))
        streams = np.broadcast_to(np.asarray(0 if stream is None else stream), (len(names),))
        if streams.dtype.kind not in "iu" or (streams < 0).any():
            raise ValueError(f"streams must be integers >= 0, got {stream!r}")
        if stream is not None and out.size:
            s, known = self._s, np.maximum(out, 0)
            moved = (out >= 0) & (s.n_ticks.take(known) == 0) & (s.stream.take(known) != streams)
            for i in np.flatnonzero(moved).tolist():
                self._move(int(out[i]), int(streams[i]))
        if (out < 0).any():
            victims = self._victims(out) if self._evict else None
            for i in np.flatnonzero(out < 0).tolist():
                out[i] = self._add(names[i], victims, int(streams[i]))
        return out

    def first_times(self) -> NDArray[np.float64]:
        """Event time of each registered symbol's first tick, by id (nan before it, and
        after :meth:`restart` until its next).

        >>> eng = Engine(EngineConfig())
        >>> ids = eng.register(["A", "B"])
        >>> _ = eng.update([ids[0], ids[0]], [5.0, 9.0], [1.0, 1.1])
        >>> eng.first_times().tolist()
        [5.0, nan]
        """
        return self._s.t_open[: len(self._names)].copy()

    def restart(self, name: str, fresh: bool = False) -> bool:
        """Start symbol ``name`` afresh, as before its first tick, keeping its limits, its
        stream, its signal numbers and whether each limit is armed; False if it is not
        tracked. For a symbol whose clock a tick stamped ahead moved past its real ticks:
        the engine holds a late tick at its symbol's latest time, so without a restart
        every later tick would wait there until real time caught up. (A limit crossed
        before stays crossed: one tick sent 200 s ahead fired a second BUY of a price
        that had stayed below its buy limit for nine minutes.)

        ``fresh`` keeps only the stream and the limits a user set: the symbol is then as
        in an engine that never saw it (default limits from its next first price, signal
        numbers from 1, every signal armed). For a symbol whose ticks this engine stopped
        reading a while ago, and whose past it cannot read again: state that old would
        fire signals another reader sent long before.

        >>> eng = Engine(EngineConfig())
        >>> sid = eng.register(["ACME"])[0]
        >>> _ = eng.set_limits("ACME", buy=90.0, sell=110.0)
        >>> _ = eng.update([sid, sid], [1000.0, 1290.0], [100.0, 100.5])
        >>> eng.restart("ACME"), eng.restart("NONE")
        (True, False)
        >>> state = eng.state()
        >>> int(state.n_ticks[sid]), state.buy[sid].item(), state.sell[sid].item()
        (0, 90.0, 110.0)
        >>> _ = eng.update([sid], [1300.0], [80.0])  # BUY:1
        >>> _ = eng.restart("ACME", fresh=True)
        >>> [s.id for s in eng.update([sid], [1400.0], [80.0])]
        ['ACME:BUY:1']
        """
        sid = self._index.get(name)
        if sid is None:
            return False
        s = self._s
        hits = slice(Rule.HIT_BUY, Rule.HIT_SELL + 1)
        armed = s.rules[sid, hits].copy()
        kept = (float(s.buy[sid]), float(s.sell[sid]), bool(s.touched[sid]), s.seq[sid].copy())
        stream, additive = int(s.stream[sid]), bool(s.additive[sid])
        self._release(sid)
        self._waiting.pop((sid, 0), None)
        self._waiting.pop((sid, 1), None)
        s.clear(self._cfg, sid)
        if not fresh:
            s.buy[sid], s.sell[sid], s.touched[sid], s.seq[sid] = kept
            s.rules[sid, hits] = armed
        elif kept[2]:  # limits a user set
            s.buy[sid], s.sell[sid], s.touched[sid] = kept[:3]
        s.additive[sid] = additive
        s.seen[sid] = self._given
        s.stream[sid] = stream
        s.local[sid] = self._new_local(stream)
        return True

    def _move(self, sid: int, stream: int) -> None:
        """Put symbol ``sid``, which has had no tick yet, in another ``stream``."""
        self._release(sid)
        self._s.stream[sid] = stream
        self._s.local[sid] = self._new_local(stream)

    def _release(self, sid: int) -> None:
        """Give back the id symbol ``sid`` has in its stream (its calibrator forgets it)."""
        stream, local = int(self._s.stream[sid]), int(self._s.local[sid])
        self._cals[stream].forget([local])
        self._free_local[stream].append(local)

    def _victims(self, keep: NDArray[np.int32]) -> Iterator[int]:
        """Slots a new symbol may take, never one in ``keep`` (read when the first is
        asked for, so ids added to it by then are kept too): those of symbols still
        warming up (fewer than ``warmup_ticks`` ticks) first, then the rest, each idle
        longest first. So a flood of new names takes the places of its own names, not
        of the symbols that tick on (20,000 names in a few reads had evicted every real
        symbol, each idle longer than the names that came after it)."""
        n = len(self._names)
        seen = self._s.seen[:n].copy()
        warm = self._s.n_ticks[:n] >= self._cfg.warmup_ticks
        kept = keep[(keep >= 0) & (keep < n)]
        seen[kept] = np.iinfo(np.int64).max
        warm[kept] = True
        order = np.lexsort((seen, warm))
        yield from order[: n - np.unique(kept).size].tolist()

    def _add(self, name: str, victims: Iterator[int] | None = None, stream: int = 0) -> int:
        """Id of ``name``, registering it in ``stream`` if there is room or a slot in
        ``victims`` to take; -1 if refused."""
        found = self._index.get(name)
        if found is not None:
            return found
        if not isinstance(name, str):
            raise TypeError(f"symbols must be str, got {type(name).__name__}")
        cfg = self._cfg
        count = len(self._names)
        if count >= cfg.max_symbols:
            if victims is None and self._evict:
                victims = self._victims(np.empty(0, dtype=np.int32))
            sid = next(victims, -1) if victims is not None else -1
            if sid < 0:
                if name not in self._refused_names:
                    self._refused += 1
                    if len(self._refused_names) < cfg.max_symbols:
                        self._refused_names.add(name)
                return -1
            self._evict_slot(sid)
            self._names[sid] = name
        else:
            if count == self._s.capacity:
                self._s = self._s.grown(cfg, min(2 * count, cfg.max_symbols))
            sid = count
            self._names.append(name)
        self._index[name] = sid
        s = self._s
        s.seen[sid] = self._given
        s.stream[sid] = stream
        s.local[sid] = self._new_local(stream)
        if self.is_additive(name):
            s.additive[sid] = True
            self._any_additive = True
        parked = self._parked.pop(name, None)
        if parked is not None:
            s.buy[sid], s.sell[sid], s.touched[sid], s.seq[sid] = parked
        return sid

    def _evict_slot(self, sid: int) -> None:
        """Free slot ``sid``: its symbol's limits and signal numbers are parked (so a
        returning symbol keeps its limits and its signal ids stay unique)."""
        s, old = self._s, self._names[sid]
        self._release(sid)
        self._waiting.pop((sid, 0), None)
        self._waiting.pop((sid, 1), None)
        del self._index[old]
        if s.touched[sid] or s.seq[sid].any():
            self._parked[old] = (
                float(s.buy[sid]), float(s.sell[sid]), bool(s.touched[sid]), s.seq[sid].copy()
            )  # fmt: skip
            if len(self._parked) > self._cfg.max_symbols:  # bounded: forget the oldest
                del self._parked[next(iter(self._parked))]
        s.clear(self._cfg, sid)
        self._evicted += 1
        self._evicted_ids.append((sid, old))

    def _new_local(self, stream: int) -> int:
        """An id for a new symbol in ``stream`` (its calibrator made if it is new)."""
        if stream not in self._cals:
            self._cals[stream] = _calibrator(self._cfg)
            self._timing[stream] = TimingRecord()
            self._free_local[stream] = []
            self._n_local[stream] = 0
        free = self._free_local[stream]
        if free:
            return free.pop()
        self._n_local[stream] += 1
        return self._n_local[stream] - 1

    def _id(self, symbol: str) -> int:
        try:
            return self._index[symbol]
        except KeyError:
            raise KeyError(f"unknown symbol {symbol!r}") from None

    # ------------------------------------------------------------------ limits

    def set_limits(
        self,
        symbol: str,
        buy: float | None = None,
        sell: float | None = None,
        *,
        register: bool = True,
    ) -> None:
        """Set, keep or clear the buy and sell limits of ``symbol``, registering it if new.

        Parameters
        ----------
        symbol : str
        buy, sell : float or None
            New limit; ``None`` leaves it unchanged, ``nan`` clears it.
        register : bool
            With ``False`` a symbol not tracked yet is not registered: its limits are
            kept aside and take effect with its first tick (limits remembered from
            another day, or set elsewhere, for symbols this stream may never carry).

        Raises
        ------
        LimitError
            If a limit is not positive or infinite, if the resulting buy limit is not
            below the sell limit, or if the symbol is new and ``max_symbols`` is reached.
            Nothing changes then.

        Notes
        -----
        Effective from the next tick; :meth:`state` shows the new limits and forecasts at
        once. Setting a limit (even to its current value) re-arms its hit signal. Its
        watch re-arms only when the risk is new: the limit moved by more than
        ``hysteresis`` (relative to the old one, or there was none) and the probability
        of reaching the new one is not at ``alert_p`` (a limit moved while the watch
        still holds for it, or moved a little with the price, re-fires nothing). The
        quiet time since the previous watch still applies.
        """
        sid = self._index.get(symbol)
        if sid is not None:
            cur_buy, cur_sell = float(self._s.buy[sid]), float(self._s.sell[sid])
        else:  # new, or evicted with its limits parked
            cur_buy, cur_sell = self._parked.get(symbol, (math.nan, math.nan))[:2]
        b, x = check_limits(
            cur_buy if buy is None else buy,
            cur_sell if sell is None else sell,
            symbol,
            additive=self.is_additive(symbol),
        )
        if sid is None and not register:
            seq = self._parked.get(symbol, (0, 0, False, None))[3]
            if seq is None:
                seq = np.zeros(self._s.seq.shape[1:], dtype=self._s.seq.dtype)
            self._parked[symbol] = (b, x, True, seq)
            if len(self._parked) > self._cfg.max_symbols:  # bounded: forget the oldest
                del self._parked[next(iter(self._parked))]
            return
        if sid is None:
            sid = self._add(symbol)
            if sid < 0:
                raise LimitError(
                    f"{symbol}: cannot track it, {self._cfg.max_symbols} symbols already tracked"
                )
        s = self._s  # after _add, which may have grown it
        before = (s.buy[sid], s.sell[sid])
        s.buy[sid], s.sell[sid] = b, x
        s.touched[sid] = True
        s.stale[sid] = s.n_ticks[sid] > 0
        # Its p now (the WATCH's re-arm below asks it), the rest when a snapshot asks:
        # refreshing and reporting every symbol here made setting the limits of N
        # symbols (a scenario header's) take time in N**2, 100 s for 40,000.
        one = np.array([sid])
        if s.stale[sid]:
            (s.raw_buy[sid],), (s.raw_sell[sid],) = forecast_limits(*self._forecast_args(one))
        self._report(one)
        if s.n_ticks[sid] > 0:  # the forecast in force from now, as the calibrator samples it
            s.in_force[sid, :4] = s.raw_buy[sid], s.raw_sell[sid], b, x
        for given, hit, watch, old, new, p in (
            (buy, Rule.HIT_BUY, Rule.WATCH_BUY, before[0], b, s.p_buy[sid]),
            (sell, Rule.HIT_SELL, Rule.WATCH_SELL, before[1], x, s.p_sell[sid]),
        ):
            if given is None:
                continue
            if old != new:  # a WATCH for the old limit says nothing of the new one
                self._waiting.pop((sid, int(hit == Rule.HIT_SELL)), None)
            s.rules[sid, hit] = Armed.ARMED
            if _risk_is_new(old, new, p, self._cfg):
                s.rules[sid, watch] = Watch.ARMED

    def waiting_limits(self) -> dict[str, tuple[float, float]]:
        """Limits set for symbols not tracked now (set before their first tick, with
        ``register=False``, or kept from an evicted symbol): ``{symbol: (buy, sell)}``,
        nan where unset. Each takes effect with its symbol's next tick."""
        return {name: (b, x) for name, (b, x, touched, _) in self._parked.items() if touched}

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
        self._refresh_forecasts()
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
            drift_se=col("drift_se"),
            vol=col("vol"),
            buy=col("buy"),
            sell=col("sell"),
            p_buy=col("p_buy"),
            p_sell=col("p_sell"),
            eta_buy=self._shown_eta(col("eta_buy"), n),
            eta_sell=self._shown_eta(col("eta_sell"), n),
            additive=col("additive"),
            config=self._cfg,
            refused=self._refused,
            evicted=self._evicted,
            stream=col("stream"),
        )

    def latest_times(self) -> tuple[tuple[str, ...], _F8, _I8]:
        """Each symbol's name, the event time of its latest tick (nan before any) and how
        many of its ticks were at that very time: what a reader of ticks sent again
        needs to tell those read already from those not (a source stamped to the second
        sends many ticks of a symbol at one time)."""
        n = len(self._names)
        return tuple(self._names), self._s.t_last[:n].copy(), self._s.n_last[:n].copy()

    def _shown_eta(self, eta: _F8, n: int) -> _F8:
        """Times to the limit as computed (read-only, of the first ``n`` symbols), each
        times its stream's correction, at most the horizon (it is the median time among
        paths that reach the limit within it)."""
        scaled = [(k, r.scale) for k, r in self._timing.items() if r.scale != 1.0]
        if not scaled:
            return eta
        eta = eta.copy()
        stream = self._s.stream[:n]
        for k, scale in scaled:
            eta[stream == k] *= scale
        np.minimum(eta, self._cfg.horizon_s, out=eta)  # within the horizon; nan (no limit) stays
        eta.flags.writeable = False
        return eta

    @property
    def streams(self) -> tuple[int, ...]:
        """The streams symbols were registered in, ascending."""
        return tuple(sorted(self._cals))

    def start_afresh(self, stream: int) -> list[tuple[int, str]]:
        """Start every symbol of ``stream`` afresh (:meth:`restart` ``fresh``), and the
        stream's track record with them: the stream is then as in an engine that never
        saw it, but for the limits a user set. ``(id, symbol)`` of the symbols.

        >>> eng = Engine(EngineConfig())
        >>> ids = eng.register(["A", "B", "C"], stream=[0, 1, 1])
        >>> _ = eng.update(ids, [1.0, 1.0, 1.0], [10.0, 20.0, 30.0])
        >>> eng.start_afresh(1), eng.state().n_ticks.tolist()
        ([(1, 'B'), (2, 'C')], [1, 0, 0])
        """
        n = len(self._names)
        symbols = [(int(i), self._names[i]) for i in np.flatnonzero(self._s.stream[:n] == stream)]
        for _, name in symbols:
            self.restart(name, fresh=True)
        for per_stream in (self._cals, self._timing, self._free_local, self._n_local):
            per_stream.pop(stream, None)
        self._answered.pop(stream, None)
        for sid, _ in symbols:
            self._s.local[sid] = self._new_local(stream)
        return symbols

    def eta_correction(self, stream: int = 0) -> tuple[float, int]:
        """The factor the times to the limit of ``stream`` are shown multiplied by, and
        how many WATCHes that came true it rests on (``(1.0, 0)`` before any, or with
        ``calibrate_after_s`` off); see :class:`~engine.calibration.TimingRecord`."""
        record = self._timing.get(stream)
        return (record.scale, record.outcomes) if record is not None else (1.0, 0)

    def watch_correction(self, stream: int = 0) -> tuple[float, int]:
        """The log-odds added to the ``p`` of ``stream``'s WATCHes, and how many WATCHes
        whose horizon has passed it rests on (``(0.0, 0)`` before any, or with
        ``calibrate_after_s`` off); see :class:`~engine.calibration.TimingRecord`."""
        record = self._timing.get(stream)
        return (record.shift, record.watches) if record is not None else (0.0, 0)

    def track_record(self, stream: int | None = None) -> CalibrationRecord:
        """How the forecasts reported so far fared: per decile of ``p``, how often the
        limit was reached within the horizon (every symbol and side of ``stream``
        together; None: of every stream; see :class:`~engine.calibration.Calibrator`)."""
        if stream is None:
            return pooled_record(list(self._cals.values()) or [_calibrator(self._cfg)])
        cal = self._cals.get(stream)
        return (cal if cal is not None else _calibrator(self._cfg)).record()

    def calibration_map(self, stream: int = 0, overdue: bool = False) -> tuple[_F8, _F8]:
        """The calibration map in force in ``stream`` for fresh forecasts (``overdue``:
        for overdue ones, see :func:`age_groups`): raw and reported ``p`` at its knots
        (the identity until outcomes come due, and always with ``calibrate_after_s``
        off)."""
        cal = self._cals.get(stream)
        return (cal if cal is not None else _calibrator(self._cfg)).knots(int(overdue))

    def history(self, symbol: str) -> History:
        """The latest ticks of ``symbol`` (at most ``config.history``), oldest first;
        none when ``config.history`` is 0 (no chart kept).

        Raises
        ------
        KeyError
            If the symbol is not registered.
        """
        sid = self._id(symbol)
        cfg, s = self._cfg, self._s
        n = int(s.n_ticks[sid])
        k0 = n - min(n, cfg.history)  # tick count of the oldest tick returned
        if k0 == n:  # nothing kept (history 0), or no tick yet
            empty = np.empty(0)
            empty.flags.writeable = False
            return History(t=empty, price=empty, sma_fast=empty, sma_slow=empty)
        # The averages are replayed from the prices of the ticks their windows reach.
        lo = max(k0 - cfg.slow + 1, 0)
        ring = s.history[sid]
        cells = ring[np.arange(lo, n) % ring.shape[0]]
        rows = np.empty((4, n - k0))
        rows[0] = cells.real[k0 - lo :]
        rows[1] = cells.imag[k0 - lo :]
        for row, size in ((2, cfg.fast), (3, cfg.slow)):
            start = max(k0 - size + 1, 0)
            rows[row] = replay_mean(cells.imag[start - lo :], start, k0, size)
        rows.flags.writeable = False
        return History(t=rows[0], price=rows[1], sma_fast=rows[2], sma_slow=rows[3])

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
            positive finite number (not a finite number, for an additive symbol) are
            skipped and counted in :attr:`skipped`.

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
        times = np.asarray(t, dtype=np.float64)
        prices = np.asarray(price, dtype=np.float64)
        if ids.ndim != 1 or times.shape != ids.shape or prices.shape != ids.shape:
            raise ValueError(
                f"sym_ids, t and price must be 1-D of equal length, "
                f"got shapes {ids.shape}, {times.shape}, {prices.shape}"
            )
        if ids.size == 0:
            return []
        first_position = self._given
        self._given += ids.shape[0]
        if ids.dtype.kind not in "iu":
            raise ValueError(f"sym_ids must be integers, got dtype {ids.dtype}")
        if ids.max() >= len(self._names):
            raise ValueError(f"symbol id {int(ids.max())} was never registered")
        keep = ids >= 0
        with np.errstate(invalid="ignore"):
            valued = (prices > 0.0) & (prices < np.inf)
            if self._any_additive:  # a quantity's value may be 0 or below
                valued |= self._s.additive.take(np.maximum(ids, 0)) & np.isfinite(prices)
            ok = keep & np.isfinite(times) & valued
        if ok.all():
            arrival = np.arange(ids.shape[0])
        else:
            self._skipped += int(np.count_nonzero(keep & ~ok))
            arrival = np.flatnonzero(ok)
            if arrival.size == 0:
                return []
            ids, times, prices = ids[arrival], times[arrival], prices[arrival]
        # nan (unset limits, undefined estimates) and 0/0 are expected throughout.
        with np.errstate(invalid="ignore", divide="ignore"):
            return self._by_slot(
                ids.astype(np.int32, copy=False), times, prices, arrival, first_position
            )

    def _members(self, sids: NDArray[np.integer]) -> list[tuple[int, _I8 | None]]:
        """The streams of the symbols ``sids``, each with the positions of its own in
        ``sids`` (None: all of them, the usual case of one stream)."""
        stream = self._s.stream.take(sids)
        if len(self._cals) == 1 or (stream == stream[0]).all():
            return [(int(stream[0]), None)]
        return [(int(k), np.flatnonzero(stream == k)) for k in np.unique(stream)]

    def _by_slot(
        self, ids: NDArray[np.int32], t: _F8, price: _F8, arrival: _I8, given: int
    ) -> list[Signal]:
        """Process valid ticks in pieces cut where a stream's event-time clock (the
        running maximum of its tick times) reaches its calibrator's next refit: its map
        changes only there, so every tick's ``p`` goes through the same map whatever the
        updates the ticks came in (usually no cut; at most one a minute of event time per
        stream, fewer as the stream ages)."""
        members = dict(self._members(ids))
        length = self._cals[next(iter(members))].slot_length  # alike in all
        slot = np.empty_like(t)
        for k, pos in members.items():  # each stream's own clock, in whole slots
            mine = np.fmax.accumulate(t if pos is None else t.take(pos))
            # Slot k holds the times in (k, k + 1] slot lengths: a tick stamped at a
            # slot's start belongs to the slot before, so the forecast it makes is the
            # one in force as that slot begins, and its price is no outcome of it, as a
            # reading of the screen at that time sees it (ticks stamped to the whole 10 s,
            # on slot starts, otherwise taught the map forecasts 10 s old: said 14-45%,
            # came true 10-40%).
            np.divide(mine, length, out=mine)
            np.ceil(mine, out=mine)
            mine -= 1.0
            # Never before its calibrator's slot, counted as a number: a time in it,
            # divided again, can round to the slot before (horizon 1.2 s: a fifth of the
            # slots), and a late tick first in an update then fell there.
            np.fmax(mine, self._cals[k].slot, out=mine)
            if pos is None:
                slot = mine
            else:
                slot[pos] = mine
        cuts = {k: self._next_cut(k, pos, slot) for k, pos in members.items()}
        out: list[Signal] = []
        start = 0
        while True:
            k = min(cuts, key=cuts.__getitem__)
            cut = cuts[k]
            if cut > start:
                out += self._advance(
                    ids[start:cut], t[start:cut], price[start:cut], arrival[start:cut], given,
                    slot[start:cut],
                )  # fmt: skip
            if cut == slot.size:
                return out
            self._refit_at(k, int(slot[cut]))
            cuts[k] = self._next_cut(k, members[k], slot)
            start = cut

    def _next_cut(self, stream: int, pos: _I8 | None, slot: _F8) -> int:
        """Position in ``slot`` of the first tick of ``stream`` (at ``pos``, None: every
        tick) whose clock slot reaches its calibrator's next refit; ``slot.size`` if none."""
        mine = slot if pos is None else slot.take(pos)
        refit = self._cals[stream].next_refit(first=int(mine[0]))
        if refit > mine[-1]:
            return slot.size
        at = int(np.searchsorted(mine, refit, side="left"))
        return at if pos is None else int(pos[at])

    def _refit_at(self, stream: int, slot: int) -> None:
        """The clock of ``stream`` enters ``slot``, the first of a refit period: outcomes
        come due and the map is refitted; what is reported follows the new map."""
        cal = self._cals[stream]
        refits = cal.refits
        cal.advance_slot(slot)
        if cal.refits != refits:  # what is reported follows on the next read
            self._expire_watches(stream, cal.slot_start)
            self._timing[stream].refit()

    def _expire_watches(self, stream: int, now: float) -> None:
        """Record the WATCHes of ``stream`` whose horizon ended before event time ``now``:
        those answered as come true, those still waiting as not. Only then, and all in
        one order (by time, symbol and side): a hit is known as soon as the price gets
        there and a miss only a horizon later, and a record that took hits at once held,
        at each refit, the recent WATCHes that had come true but not those about to fail
        (its first shift, from eight hits and no miss, raised the chances shown)."""
        horizon, of = self._cfg.horizon_s, self._s.stream
        done = []
        for key in [k for k in self._waiting if of[k[0]] == stream]:
            waiting = self._waiting[key]
            done += [(t0, *key, math.inf, eta, p) for t0, eta, p in waiting if t0 + horizon < now]
            left = [w for w in waiting if w[0] + horizon >= now]
            if left:
                self._waiting[key] = left
            else:
                del self._waiting[key]
        answered = self._answered.get(stream, [])
        done += [a for a in answered if a[0] + horizon < now]
        self._answered[stream] = [a for a in answered if a[0] + horizon >= now]
        record = self._timing[stream]
        for _t0, _sid, _side, took, shown_eta, p in sorted(done):
            came = took <= horizon
            if came:
                record.add(took, shown_eta)
            record.add_watch(p, came)

    def _doubted(self, p_hit: _F8, sym_t: NDArray[np.integer]) -> _F8:
        """``p_hit`` as the WATCH rule takes it: held just under ``alert_p`` (neither
        firing nor re-arming) where it is at ``alert_p`` or above but its stream's map in
        force says forecasts of it came true less than ``watch_floor`` of the time.

        The map's ``p``, not the one a WATCH reports (:meth:`_timed` shifts that by how
        the stream's WATCHes fared): on the tick grid of ``limitwatch evaluate`` a floor
        on the shifted ``p`` held back 299 of 1,191 WATCHes that came true as often as
        the rest (precision 0.37 either way) and cut the recall from 0.51 to 0.39. Far
        under the floor, the shifted ``p`` keeps a WATCH from being sent
        (:meth:`_unsent`)."""
        floor, alert = self._cfg.watch_floor, self._cfg.alert_p
        if not floor > 0:
            return p_hit
        cand = np.flatnonzero((p_hit >= alert).any(axis=0))
        if not cand.size:
            return p_hit
        raw = p_hit[:, cand]
        doubt = (self._apply(raw, sym_t.take(cand)) < floor) & (raw >= alert)
        if not doubt.any():
            return p_hit
        raw[doubt] = np.nextafter(alert, 0.0)
        out = p_hit.copy()
        out[:, cand] = raw
        return out

    def _unsent(
        self, fired: NDArray[np.bool_], shown: _F8, sym: NDArray[np.integer]
    ) -> NDArray[np.bool_]:
        """``fired`` less the WATCHes whose ``p`` as they would report it (the map's,
        ``shown``, corrected by their stream's record of WATCHes, as :meth:`_timed` does)
        is under :data:`SHIFTED_FLOOR` of ``watch_floor``: such a WATCH belies itself.
        Each still counts as fired (the rule's state and quiet time move on) and is
        followed to its outcome, so the record learns from the WATCHes not sent as from
        the others: held back from the record too, a stream whose WATCHes had failed for a
        while would never learn that they came true again."""
        least = self._cfg.watch_floor * SHIFTED_FLOOR
        if not least > 0:
            return fired
        sides, ticks = np.nonzero(fired[: SignalKind.SELL_WATCH + 1])
        out = fired
        for side, i in zip(sides.tolist(), ticks.tolist(), strict=True):
            record = self._timing[int(self._s.stream[sym[i]])]
            if record.shift != 0.0 and record.correct(float(shown[side, i])) < least:
                if out is fired:
                    out = fired.copy()
                out[side, i] = False
        return out

    def _apply(self, raw: _F8, sids: NDArray[np.integer], group: _I8 | None = None) -> _F8:
        """``raw`` probabilities (last axis: one per symbol of ``sids``) through the
        calibration map of each symbol's stream: of each one's ``group`` (its forecast's
        age, :func:`age_groups`), the fresh forecasts' map if None."""
        members = self._members(sids) if sids.size else []
        if len(members) <= 1:
            return self._cals[members[0][0]].apply(raw, group) if members else raw.copy()
        out = np.empty_like(raw)
        for k, pos in members:
            mine = None if group is None else group[pos]
            out[..., pos] = self._cals[k].apply(raw[..., pos], mine)
        return out

    def _learn(
        self, batch: Batch, slot: _F8, limits: _F8, aims: _F8, price: _F8, t_event: _F8,
        est: Estimates, sums: _F8, ids: NDArray[np.int32], price_in: _F8,
    ) -> None:  # fmt: skip
        """Feed the calibrator a piece's ticks (within one refit period). At each slot of
        the clock that a stream's ticks enter, the forecast in force for every symbol of
        the stream as the slot began (the one made at the symbol's latest tick before it:
        its ``p`` as computed, towards the levels ``aims``, with that tick's limits and
        price) is sampled, in the group of its age then (:func:`age_groups`), and every
        tick's price counts towards the outcomes of earlier samples (whether it reached
        ``limits``). A symbol is sampled whether it ticks in the slot or not: the
        forecast a silent symbol leaves on screen is scored too, and its own map learns
        what an old forecast is worth (on a market whose symbols fall silent for
        minutes, a forecast of 65 % left on screen by a symbol that had stopped ticking
        came true about 20 % of the time). The sample's outcome is over the ``horizon``
        slots from its own, the first tick included: the forecast in force at a time,
        scored over the horizon from that time, as the evaluation and a user reading the
        screen score it. (Sampling the first tick's own forecast instead scored it over
        slots that began before that tick, and on daily closes sampled at a day's one
        tick, the close five days on was left out: its map came out too cautious, by
        about 0.05 on every decile.) ``slot`` is each tick's clock slot in arrival order;
        ``ids`` and ``price_in`` are the piece's ticks in arrival order, the other arrays
        in batch order.

        The samples of a slot are all taken in the piece whose ticks enter it, and in
        the order of slot then symbol, so the calibrator's sums are the same however the
        ticks were split into updates."""
        s, cfg = self._s, self._cfg
        sym = batch.sym
        slot_b = slot.take(batch.order)
        # Each symbol's forecasts in force were sampled up to slot ``done``; nothing is in
        # force before a symbol's first tick.
        done = s.clock_slot.take(sym)
        new = np.flatnonzero(np.isinf(done))
        done[new] = slot_b.take(batch.first.take(new))
        since = batch.shifted(slot_b, done)  # sampled up to here before each tick
        cand = np.flatnonzero(slot_b > since)
        c_sym = batch.sym_t.take(cand)
        # The forecast in force before each such tick: the previous tick's in this
        # piece, or the one the symbol's last tick left in the store.
        inside = np.flatnonzero(batch.j.take(cand) > 0)
        made = np.concatenate((batch.back_index(cand[inside], 1), batch.last))
        in_force = np.empty((made.shape[0], IN_FORCE))
        in_force[:, :2] = forecast_limits(
            price.take(made), aims[0].take(made), aims[1].take(made),
            est.take(made), cfg.horizon_s,
        ).T  # fmt: skip
        in_force[:, 2] = limits[0].take(made)
        in_force[:, 3] = limits[1].take(made)
        in_force[:, 4] = price.take(made)
        in_force[:, 5] = t_event.take(made)
        at_made = sums.take(made, axis=0)
        np.divide(at_made[:, Sum.W_DT], at_made[:, Sum.WEIGHT], out=in_force[:, 6])
        sampled = s.in_force.take(c_sym, axis=0)
        sampled[inside] = in_force[: inside.shape[0]]
        s.in_force[sym] = in_force[inside.shape[0] :]
        s.clock_slot[sym] = slot_b[batch.last]
        c_since, c_slot = since.take(cand), slot_b.take(cand)
        members = self._members(ids)
        c_stream = s.stream.take(c_sym) if len(members) > 1 else None
        n = len(self._names)
        for k, pos in members:
            cal = self._cals[k]
            mine = slot if pos is None else slot.take(pos)
            active = mine[np.diff(mine, prepend=-np.inf) > 0]  # the slots its ticks enter
            end = active[-1]
            at = slice(None) if c_stream is None else np.flatnonzero(c_stream == k)
            # The stream's symbols not sampled up to its last slot: silent since.
            quiet = (s.clock_slot[:n] < end) & (s.clock_slot[:n] > -np.inf)
            if len(self._cals) > 1:
                quiet &= s.stream[:n] == k
            quiet = np.flatnonzero(quiet)
            s_since = s.clock_slot.take(quiet)
            s.clock_slot[quiet] = end
            each = np.concatenate((c_sym[at], quiet))
            forecasts = np.concatenate((sampled[at], s.in_force.take(quiet, axis=0)))
            lo = np.searchsorted(active, np.concatenate((c_since[at], s_since)), side="right")
            hi = np.searchsorted(
                active, np.concatenate((c_slot[at], np.full(quiet.size, end))), side="right"
            )
            self._teach(cal, each, forecasts, lo, hi, active, (
                ids if pos is None else ids.take(pos),
                price_in if pos is None else price_in.take(pos),
                mine,
            ))  # fmt: skip

    def _teach(
        self, cal: Calibrator, each: _I8, in_force: _F8, lo: _I8, hi: _I8, active: _F8,
        ticks: tuple[Any, ...],
    ) -> None:  # fmt: skip
        """Feed one stream's calibrator a piece: the forecasts in force of symbols
        ``each`` (rows of ``in_force``: ``p`` as computed towards the buy and the sell
        limit, both limits, the price, the time made), each sampled at the ``active``
        slots from position ``lo`` to ``hi`` (exclusive), and the ticks (symbol, price,
        clock slot, in arrival order)."""
        ids, price_in, slot = ticks
        local = self._s.local
        # One sample per forecast and slot, in the order of slot then symbol.
        row, place = expand_runs(hi - lo)
        c_slot = active.take(lo.take(row) + place)
        age = c_slot * cal.slot_length - in_force[:, 5].take(row)
        # A symbol silent for longer is taken as gone until it ticks again.
        alive = np.flatnonzero(age < CALIBRATION_SILENT_MOST_HORIZONS * self._cfg.horizon_s)
        row, c_slot, age = row.take(alive), c_slot.take(alive), age.take(alive)
        c_sym = local.take(each.take(row))
        order = np.lexsort((c_sym, c_slot))
        row, c_slot, c_sym, age = (a.take(order) for a in (row, c_slot, c_sym, age))
        made = in_force.take(row, axis=0)
        raw = made[:, :2]
        c_lim = made[:, 2:4].ravel()
        c_price = made[:, 4]
        teach = made[:, 5] - self._s.t_open.take(each.take(row)) >= self._cfg.calibrate_after_s
        group = age_groups(age, made[:, 6], self._cfg.horizon_s)
        ids = local.take(ids)
        # The piece's ticks (before the next refit) at most refit_every of slots at once:
        # the forecasts sampled in them (buy and sell of each, in slot order), the prices
        # seen in them, then the outcomes that came due.
        lo_t, n, most = 0, slot.shape[0], cal.slots_per_refit
        c_lo = 0
        while lo_t < n:
            hi_t = int(np.searchsorted(slot, slot[lo_t] + most, side="left"))
            c_hi = int(np.searchsorted(c_slot, slot[lo_t] + most, side="left"))
            cal.advance_slot(int(slot[lo_t]))
            cal.open_to(int(slot[hi_t - 1]))
            if c_hi > c_lo:
                two = slice(c_lo, c_hi)
                cal.sample(
                    np.repeat(c_sym[two], 2),
                    np.tile((False, True), c_hi - c_lo),
                    raw[two].ravel(),
                    c_lim[2 * c_lo : 2 * c_hi],
                    np.repeat(c_price[two], 2),
                    group=np.repeat(group[two], 2),
                    teach=np.repeat(teach[two], 2),
                    slot=np.repeat(c_slot[two], 2).astype(np.int64),
                )
            cal.observe(
                ids[lo_t:hi_t], price_in[lo_t:hi_t], price_in[lo_t:hi_t],
                slot=slot[lo_t:hi_t].astype(np.int64),
            )  # fmt: skip
            cal.resolve_due()
            lo_t, c_lo = hi_t, c_hi

    def _refresh_forecasts(self) -> None:
        """Bring the stored forecasts of symbols that moved up to date, and report ``p``."""
        s = self._s
        stale = np.flatnonzero(s.stale[: len(self._names)])
        if stale.size:
            s.stale[stale] = False
            args = self._forecast_args(stale)
            s.raw_buy[stale], s.raw_sell[stale] = forecast_limits(*args)
            # the mean gap between ticks at the latest (see limit_etas)
            s.eta_buy[stale], s.eta_sell[stale] = limit_etas(*args, gap=s.in_force[stale, 6])
        self._report()

    def _forecast_args(self, ids: NDArray[np.intp]) -> tuple[Any, ...]:
        """The arguments of forecast_limits and limit_etas for symbols ``ids``: price,
        the levels each limit is reached at, estimates, horizon."""
        s = self._s
        additive = s.additive[ids] if self._any_additive else None
        est = Estimates(
            s.forecast_drift[ids], s.forecast_var[ids], s.vol[ids], s.shift[ids], additive
        )
        last = s.last[ids]
        grid = np.where(s.n_ticks[ids] > GRID_AFTER_TICKS, s.grid[ids], np.inf)
        aims = grid_limits(last, s.buy[ids], s.sell[ids], grid, additive)
        return (last, *aims, est, self._cfg.horizon_s)

    def _report(self, sids: NDArray[np.intp] | None = None) -> None:
        """``p`` of every symbol (or of ids ``sids``) as reported: its ``p`` as computed
        through its stream's map for the age of its forecast (:func:`age_groups`) as the
        calibrator will sample it next, at the start of the stream's next slot."""
        s = self._s
        if sids is None:
            sids = np.arange(len(self._names))
        n = sids.size
        sampled = np.empty(n)
        for k, pos in self._members(sids) if n else []:
            cal = self._cals[k]
            sampled[slice(None) if pos is None else pos] = (cal.slot + 1.0) * cal.slot_length
        made = s.in_force[sids, 5:7]  # time made and the mean gap then, as sampled
        group = age_groups(sampled - made[:, 0], made[:, 1], self._cfg.horizon_s)
        raw = np.stack((s.raw_buy[sids], s.raw_sell[sids]))
        s.p_buy[sids], s.p_sell[sids] = self._apply(raw, sids, group)

    def _advance(
        self,
        ids: NDArray[np.int32],
        t_in: _F8,
        price_in: _F8,
        arrival: _I8,
        given: int,
        slot: _F8,
    ) -> list[Signal]:
        """Process valid ticks: sort by symbol, scan every recurrence, apply the rules.
        ``given`` is the position of the update's first tick in all ticks given so far.

        Runs with invalid and divide-by-zero warnings off (see :meth:`update`).
        """
        cfg, s = self._cfg, self._s
        batch = make_batch(ids, len(self._names))
        sym, last = batch.sym, batch.last  # per segment: its symbol and last tick
        price = price_in.take(batch.order)
        n_before = s.n_ticks[sym]
        counts, n_before_mod = self._tick_counts(batch, n_before)
        k, slot_fast, slot_slow, slot_history = counts
        first_ever = np.flatnonzero(n_before == 0)  # segments of symbols new to the engine
        if first_ever.size:
            self._open(sym[first_ever], price[batch.first[first_ever]])
        additive = None  # per tick, where any tick's symbol is additive
        if self._any_additive:
            per_segment = s.additive.take(sym)
            if per_segment.any():
                additive = batch.expand(per_segment)
        t_raw = t_in.take(batch.order)
        t_event, dt, log_return, prev = self._steps(batch, t_raw, price, first_ever, additive)
        if first_ever.size:
            s.t_open[sym[first_ever]] = t_event[batch.first[first_ever]]

        # Exponential weights 2**((t - anchor) / halflife), re-anchored far from overflow.
        # The anchor and the limits of each tick's symbol, spread over the ticks at once.
        halflife = cfg.halflife_s
        per_symbol = np.empty((3, batch.count))
        anchor = per_symbol[0]
        s.anchor.take(sym, out=anchor)
        if first_ever.size:
            anchor[first_ever] = t_event[batch.first[first_ever]]
        s.buy.take(sym, out=per_symbol[1])
        s.sell.take(sym, out=per_symbol[2])
        per_tick = batch.expand(per_symbol)
        anchor_at, limits = per_tick[0], per_tick[1:]
        rescale = reanchor(batch, t_event, anchor, anchor_at, halflife)
        age = t_event - anchor_at
        # The volatility's clock, each step at most a fraction of its half-life, and its
        # own anchor (see the class docstring).
        clock = np.minimum(dt, halflife / cfg.vol_returns)
        clock = batch.scan(Recurrence(clock[:, None], s.clock.take(sym)[:, None]))[:, 0]
        clock_anchor = s.clock_anchor.take(sym)
        if first_ever.size:
            clock_anchor[first_ever] = clock[batch.first[first_ever]]
        clock_anchor_at = batch.expand(clock_anchor)
        clock_rescale = reanchor(batch, clock, clock_anchor, clock_anchor_at, halflife)
        weights = np.empty((3, batch.n))  # short, long for the drift, the volatility's
        np.divide(age, halflife, out=weights[0])
        np.divide(age, cfg.drift_halflife, out=weights[1])
        np.subtract(clock, clock_anchor_at, out=weights[2])
        weights[2] /= halflife
        np.exp2(weights, out=weights)

        seeds = s.sums.take(sym, axis=0)
        sums = self._scan_sums(
            batch, seeds, price, log_return, dt, weights, (rescale, clock_rescale), counts
        )
        # The moving averages, each from its block prefix sums and the previous block's
        # total as carried into the batch: the prefix sum before the batch if a block
        # ended just then, else the total kept.
        windows = (
            (cfg.fast, Sum.FAST_BLOCK, slot_fast, s.fast_prev, s.fast_ring),
            (cfg.slow, Sum.SLOW_BLOCK, slot_slow, s.slow_prev, s.slow_ring),
        )
        carried = np.empty((2, batch.count))
        for row, (_, column, _, prev_total, _) in enumerate(windows):
            ended = n_before_mod[row] == 0
            carried[row] = np.where(ended, seeds[:, column], prev_total.take(sym))
        totals = batch.expand(carried)
        sma_fast, sma_slow = (
            window_mean(batch, size, sums[:, column].copy(), k, slot, n_before, total, prev, ring)
            for (size, column, slot, prev, ring), total in zip(windows, totals, strict=True)
        )
        at_end = sums.take(last, axis=0)
        s.sums[sym] = at_end
        s.anchor[sym] = anchor_at[last]
        s.clock[sym] = clock[last]
        s.clock_anchor[sym] = clock_anchor_at[last]
        s.ema[sym] = at_end[:, Sum.W_PRICE] / at_end[:, Sum.WEIGHT]  # only the latest is kept
        drift, drift_se2, est = _estimates(sums, weights, k, n_before, cfg)
        if additive is not None:
            est = est._replace(additive=additive)
        grid = self._grid(batch, price, prev)
        grid[k < GRID_AFTER_TICKS] = np.inf  # a few steps do not show a grid
        aims = np.stack(grid_limits(price, limits[0], limits[1], grid, additive))

        # The rules compare the forecast as computed with alert_p (see the module
        # docstring); signals report it through the calibration map.
        p_hit = forecast_limits(price, aims[0], aims[1], est, cfg.horizon_s, self._screen)
        p_rule = self._doubted(p_hit, batch.sym_t)
        slow_full = k >= cfg.slow - 1 if (n_before < cfg.slow - 1).any() else None
        # A hit re-arms only once the price is back beyond the limit by HIT_REARM_MOVES of
        # its typical moves from one tick to the next, and a price that moves by whole
        # ticks by a whole tick: with moves larger than the hysteresis (a cent on a price
        # of 2 is 0.5 %; trades at a bid and an ask 0.4 % apart) a flicker either side of
        # a limit re-armed and fired it again, 23 SELLs of one limit in half an hour.
        rearm = np.where(np.isfinite(grid), grid, np.nan)
        moves = sums[:, Sum.V_RETURN_SQ] / sums[:, Sum.V_WEIGHT]  # mean squared move
        np.sqrt(moves, out=moves)
        moves *= HIT_REARM_MOVES
        if additive is None:  # a price's moves are of its log: in price, at this price
            moves *= price
        else:  # a quantity's limit may be 0: h of it is no distance
            np.multiply(moves, price, out=moves, where=~additive)
        np.fmax(rearm, moves, out=rearm)
        fired, s.rules[sym], s.last_fire[sym] = fire(
            batch,
            s.rules.take(sym, axis=0),
            s.last_fire.take(sym, axis=0),
            t_event,
            price,
            limits,
            p_rule,
            sma_fast,
            sma_slow,
            slow_full,
            cfg,
            rearm,
        )

        # Per-symbol state at each segment's last tick, and the chart history.
        s.n_ticks[sym] = n_before + batch.length
        s.seen[sym] = given + arrival.take(batch.order.take(last))
        # Ticks stamped at the latest time (not those held there, stamped before it), with
        # those seen before where no tick moved the latest time on.
        final = t_event.take(last)
        at_final = np.bincount(batch.seg[t_raw == final.take(batch.seg)], minlength=batch.count)
        carried = final == s.t_last.take(sym)
        s.n_last[sym] = at_final + np.where(carried, s.n_last.take(sym), 0)
        s.t_last[sym] = final
        s.last[sym] = price[last]
        s.sma_fast[sym] = sma_fast[last]
        s.sma_slow[sym] = sma_slow[last]
        s.drift[sym] = drift[last]
        s.vol[sym] = est.vol[last]
        s.drift_se[sym] = np.sqrt(drift_se2[last])
        s.forecast_drift[sym] = est.drift[last]
        s.forecast_var[sym] = est.drift_var[last]
        s.shift[sym] = est.shift[last]
        s.last_return[sym], s.last_move_dt[sym] = self._last_move
        s.stale[sym] = True
        self._learn(batch, slot, limits, aims, price, t_event, est, sums, ids, price_in)
        size = s.history.shape[1]
        if size:  # the chart's ring, where one is kept
            cell = batch.sym_t * size
            cell += slot_history
            tick = np.empty(batch.n, dtype=np.complex128)
            tick.real = t_event
            tick.imag = price
            batch.put_latest(s.history.ravel(), cell, tick, size)

        eta = _watch_etas(fired, price, aims, est, sums, cfg.horizon_s)
        shown = p_hit
        ticks = np.flatnonzero(fired.any(axis=0))
        if ticks.size:  # the forecast a signal reports: through the map
            shown = p_hit.copy()
            shown[:, ticks] = self._apply(p_hit[:, ticks], batch.sym_t.take(ticks))
        if self._learn_timing and (self._waiting or ticks.size):
            self._follow(batch, fired, t_event, price, limits, shown, eta)
            if ticks.size:
                fired = self._unsent(fired, shown, batch.sym_t)
        out = signals_fired(
            fired, batch, arrival, self._names, s.seq, t_event, price, limits, shown, eta
        )
        return self._timed(out) if self._learn_timing and out else out

    def _follow(
        self,
        batch: Batch,
        fired: NDArray[np.bool_],
        t_event: _F8,
        price: _F8,
        limits: _F8,
        shown: _F8,
        eta: _F8,
    ) -> None:
        """Follow the WATCHes to their outcome: the batch's new ones (of symbols past
        ``calibrate_after_s``: a young symbol's teach nothing, as its forecasts teach
        the map nothing) wait for a later tick of their symbol (later in event time, as
        ``evaluate`` and ``backtest`` judge them) at or beyond their limit, and come
        true if it is within the horizon; :meth:`_expire_watches` records them once the
        horizon has passed. The price, not the crossing signal: a crossing that re-arms
        only once the price has moved back does not fire for a price that touched the
        limit and comes back to it."""
        s, after = self._s, self._cfg.calibrate_after_s
        sym = batch.sym_t
        sides, ticks = np.nonzero(fired[: SignalKind.SELL_WATCH + 1])
        for side, i in zip(sides.tolist(), ticks.tolist(), strict=True):
            sid = int(sym[i])
            if t_event[i] - s.t_open[sid] >= after:
                entry = (float(t_event[i]), float(eta[side, i]), float(shown[side, i]))
                self._waiting.setdefault((sid, side), []).append(entry)
        if not self._waiting:
            return
        waits = np.zeros((2, len(s.n_ticks)), dtype=bool)
        keys = np.array(list(self._waiting), dtype=np.int64)
        waits[keys[:, 1], keys[:, 0]] = True
        reach = waits.take(sym, axis=1)
        reach[0] &= price <= limits[0]
        reach[1] &= price >= limits[1]
        sides, ticks = np.nonzero(reach)
        # A symbol's ticks are in time order in the batch: its first tick at the limit
        # after a WATCH answers it.
        for side, j in zip(sides.tolist(), ticks.tolist(), strict=True):
            key = (int(sym[j]), side)
            waiting = self._waiting.get(key)
            if not waiting:
                continue
            t = float(t_event[j])
            left = [w for w in waiting if w[0] >= t]  # not before it: not answered by it
            if len(left) < len(waiting):
                answered = self._answered.setdefault(int(s.stream[key[0]]), [])
                answered += [(t0, *key, t - t0, eta, p) for t0, eta, p in waiting if t0 < t]
            if left:
                self._waiting[key] = left
            else:
                del self._waiting[key]

    def _timed(self, signals: list[Signal]) -> list[Signal]:
        """``signals`` with each WATCH's time to the limit (at most the horizon) and ``p``
        corrected by its stream's :class:`~engine.calibration.TimingRecord`."""
        s, horizon, index = self._s, self._cfg.horizon_s, self._index
        out = []
        for sig in signals:
            if sig.kind <= SignalKind.SELL_WATCH:
                record = self._timing[int(s.stream[index[sig.symbol]])]
                if record.scale != 1.0 and math.isfinite(sig.eta_s):
                    sig = with_eta(sig, min(sig.eta_s * record.scale, horizon))
                if record.shift != 0.0:
                    sig = with_p(sig, record.correct(sig.p_hit))
            out.append(sig)
        return out

    def _grid(self, batch: Batch, price: _F8, prev: _F8) -> _F8:
        """Each tick's price grid: the smallest non-zero step of its symbol's price so far,
        this tick's included (``inf`` before any). Kept per symbol; usually no tick of a
        batch finds a smaller one, and then the kept values serve as they are."""
        s, sym = self._s, batch.sym
        seed = s.grid.take(sym)
        step = price - prev
        np.abs(step, out=step)
        step[~(step > 0.0)] = np.inf  # a repeated price, or a symbol's first tick
        grid = batch.expand(seed)
        if (step < grid).any():
            np.negative(step, out=step)
            grid = batch.running_max(step, -seed)
            np.negative(grid, out=grid)
            s.grid[sym] = grid.take(batch.last)
        return grid

    def _tick_counts(self, batch: Batch, n_before: _I8) -> tuple[_I8, _I8]:
        """Each tick's count ``k`` (ticks of its symbol before it) and its slots in the
        fast, slow and history rings (``k`` modulo their sizes), rows of shape (4, n);
        and each segment's ``n_before`` modulo the fast and slow window, shape (2, count).

        Per-symbol values spread over the ticks in one pass.
        """
        # Without a chart ring (history 0) its slot row is all 0 and goes unused.
        sizes = (self._cfg.fast, self._cfg.slow, max(self._s.history.shape[1], 1))
        n_before_mod = np.empty((4, batch.count), dtype=np.int64)
        n_before_mod[0] = n_before
        for row, size in enumerate(sizes, 1):
            np.remainder(n_before, size, out=n_before_mod[row])
        counts = batch.expand(n_before_mod)
        counts += batch.j
        for slot, size in zip(counts[1:], sizes, strict=True):
            wrap_slots(slot, size, batch.width)
        return counts, n_before_mod[1:3]

    def _open(self, new_sym: _I8, first_price: _F8) -> None:
        """First ticks of symbols: their opening price, and the default limits around
        it where none was set (``first -/+ band*|first|``, none for an additive symbol
        whose first value is 0)."""
        s, band = self._s, self._cfg.default_band
        s.open[new_sym] = first_price
        if band is not None:
            untouched = ~s.touched[new_sym]
            at, first = new_sym[untouched], first_price[untouched]
            quantity = s.additive[at].tolist() if self._any_additive else None
            s.buy[at], s.sell[at] = band_limits(first.tolist(), band, quantity)
            if self._any_additive:
                zero = s.additive[at] & (first == 0.0)
                s.buy[at[zero]] = s.sell[at[zero]] = np.nan

    def _steps(
        self, batch: Batch, t_raw: _F8, price: _F8, first_ever: _I8, additive: _B | None
    ) -> tuple[_F8, _F8, _F8, _F8]:
        """Event time (held at the symbol's latest time when it goes backwards), the time
        step and log return since the symbol's previous tick (0 at its first; the
        difference at ``additive`` ticks), and the previous tick's price (nan before a
        symbol's first)."""
        s, sym = self._s, batch.sym
        t_seed = s.t_last[sym]
        t_prev = batch.shifted(t_raw, t_seed)
        if (t_raw < t_prev).any():
            t_event = batch.running_max(t_raw, t_seed)
            t_prev = batch.shifted(t_event, t_seed)
        else:
            t_event = t_raw
        dt = t_event - t_prev
        prev = batch.shifted(price, s.last[sym])
        log_return = price / prev
        np.log(log_return, out=log_return)
        if additive is not None:
            np.subtract(price, prev, out=log_return, where=additive)
        if first_ever.size:
            dt[batch.first[first_ever]] = 0.0
            log_return[batch.first[first_ever]] = 0.0
        # Each symbol's latest non-zero step, before each tick and after its last one.
        carried = s.last_step.take(sym)
        none = np.full(batch.count, -1.0)
        latest = batch.running_max(
            np.where(dt > 0.0, np.arange(batch.n, dtype=np.float64), -1.0), none
        )
        at_end = latest.take(batch.last).astype(np.int64)
        s.last_step[sym] = np.where(at_end >= 0, dt.take(np.maximum(at_end, 0)), carried)
        long = dt > REOPEN_HORIZONS * self._cfg.horizon_s
        if long.any():
            before_at = batch.shifted(latest, none).astype(np.int64)
            before = np.where(
                before_at >= 0, dt.take(np.maximum(before_at, 0)), batch.expand(carried)
            )
            closed = np.flatnonzero(long & reopens(dt, before, self._cfg.horizon_s))
            dt[closed] = 0.0
            log_return[closed] = 0.0
        return t_event, dt, log_return, prev

    def _previous_moves(self, batch: Batch, log_return: _F8, dt: _F8) -> tuple[_F8, _F8]:
        """The latest non-zero log return of each tick's symbol before the tick and the
        time step it took (0 and 0 if none yet); each segment's latest ones after its
        last tick are kept in ``_last_move`` (rows: return, time step).

        Zero returns are skipped: a feed that repeats prices (or sends every tick twice)
        would otherwise make every product of neighbouring returns 0, and with it the
        bipower estimate of the volatility (see :func:`_estimates`).
        """
        n, count, s = batch.n, batch.count, self._s
        carried = np.stack((s.last_return.take(batch.sym), s.last_move_dt.take(batch.sym)))
        if np.all(log_return):  # every tick moved: the previous move is the previous tick's
            self._last_move = np.stack((log_return.take(batch.last), dt.take(batch.last)))
            return batch.shifted(log_return, carried[0]), batch.shifted(dt, carried[1])
        none = np.full(count, -1.0)
        moved = np.where(log_return != 0.0, np.arange(n, dtype=np.float64), -1.0)
        latest = batch.running_max(moved, none)
        before = batch.shifted(latest, none).astype(np.int64)
        previous = batch.expand(carried)
        seen = np.flatnonzero(before >= 0)
        previous[0, seen] = log_return[before[seen]]
        previous[1, seen] = dt[before[seen]]
        at_end = latest[batch.last].astype(np.int64)
        found = at_end >= 0
        at_end = np.maximum(at_end, 0)
        self._last_move = np.where(found, np.stack((log_return[at_end], dt[at_end])), carried)
        return previous[0], previous[1]

    def _scan_sums(
        self,
        batch: Batch,
        seeds: _F8,
        price: _F8,
        log_return: _F8,
        dt: _F8,
        weights: _F8,
        rescales: tuple[_F8 | None, _F8 | None],
        counts: _I8,
    ) -> _F8:
        """Every running sum at every tick, columns :class:`~engine.store.Sum`, in one
        recurrence from ``seeds``, the sums before the batch: the moving averages' block
        prefix sums (restarting where a tick's slot is 0, see
        :func:`~engine.windows.window_mean`), then the weighted sums, rescaled where an
        anchor moves (see :func:`~engine.windows.reanchor`). ``weights``: rows the short,
        the long and the volatility's weights; ``rescales``: the factors of the time
        anchor and of the volatility's clock anchor."""
        n = batch.n
        weight, vol_weight = weights[0], weights[2]
        terms = np.empty((n, len(Sum)))
        terms[:, Sum.FAST_BLOCK] = price
        terms[:, Sum.SLOW_BLOCK] = price
        np.multiply(weight, price, out=terms[:, Sum.W_PRICE])
        terms[:, Sum.WEIGHT] = weight
        np.multiply(weight, dt, out=terms[:, Sum.W_DT])
        terms[:, Sum.V_WEIGHT] = vol_weight
        np.multiply(vol_weight, dt, out=terms[:, Sum.V_DT])
        moved = np.multiply(vol_weight, log_return)
        np.multiply(moved, log_return, out=terms[:, Sum.V_RETURN_SQ])
        previous, previous_dt = self._previous_moves(batch, log_return, dt)
        np.multiply(moved, previous, out=terms[:, Sum.V_CROSS])
        np.abs(terms[:, Sum.V_CROSS], out=terms[:, Sum.V_BIPOWER])
        root_dt = terms[:, Sum.V_ROOT_DT]
        np.multiply(dt, previous_dt, out=root_dt)
        np.sqrt(root_dt, out=root_dt)
        root_dt *= vol_weight
        cfg = self._cfg
        long_weight = weights[1]
        np.multiply(long_weight, log_return, out=terms[:, Sum.W_RETURN_LONG])
        np.multiply(long_weight, dt, out=terms[:, Sum.W_DT_LONG])
        np.multiply(terms[:, Sum.W_RETURN_LONG], log_return, out=terms[:, Sum.W_RETURN_SQ_LONG])
        np.multiply(terms[:, Sum.W_RETURN_LONG], previous, out=terms[:, Sum.W_CROSS_LONG])
        rescale, clock_rescale = rescales
        if rescale is None and clock_rescale is None:
            # The weighted columns of the kept ones stay 1; the block columns are
            # overwritten just below.
            if self._ones.shape[0] < n:
                self._ones = np.ones((n, len(Sum)))
            factor = self._ones[:n]
        else:
            factor = np.ones((n, len(Sum)))
            if rescale is not None:
                factor[:, WEIGHTED] = rescale[:, None]
                # w_long = w ** (halflife / drift_halflife), and so are its rescale factors
                factor[:, LONG] = (rescale ** (cfg.halflife_s / cfg.drift_halflife))[:, None]
            if clock_rescale is not None:
                factor[:, VOLATILITY] = clock_rescale[:, None]
        np.not_equal(counts[1], 0, out=factor[:, Sum.FAST_BLOCK])
        np.not_equal(counts[2], 0, out=factor[:, Sum.SLOW_BLOCK])
        return batch.scan(Recurrence(terms, seeds, factor, overwrite=True))


def _risk_is_new(old: float, new: float, p: float, cfg: EngineConfig) -> bool:
    """Whether a limit set from ``old`` to ``new`` (nan: none), with ``p`` the probability
    of reaching the new one, re-arms its watch: it moved by more than ``hysteresis`` of
    the old limit (or there was none) and ``p`` is not at ``alert_p``."""
    moved = not abs(new - old) <= cfg.hysteresis * abs(old)
    return moved and not p >= cfg.alert_p


def posterior_drift(drift: _F8, se2: _F8, looks: _F8 | float = 1.0) -> tuple[_F8, _F8]:
    """Mean and variance of a drift given its estimate and the estimate's squared error.

    The true drift is taken as drawn from ``N(0, A)`` and the estimate as the drift plus
    noise ``N(0, se2)``; ``A`` is estimated from the same estimate, ``max(0, drift**2 -
    se2)`` (the empirical Bayes reading of James & Stein, 1961, by Efron & Morris,
    1973). With ``B = min(1, se2 / drift**2)`` the normal posterior has mean ``drift (1 -
    B)``, the positive-part James-Stein estimate (no drift within one standard error of
    zero), and variance ``se2 (1 - B)``. The forecasts average over it
    (:func:`engine.forecast.mixed_passage`) rather than plug in the mean: a plug-in is
    overconfident where the drift carries the path to the limit.

    ``looks`` (at least 1) multiplies ``se2`` in ``B``: a drift must stand out by
    ``sqrt(looks)`` errors before any of it is kept (:data:`DRIFT_SETTLED_FILL`).

    Examples
    --------
    >>> mean, var = posterior_drift(np.array([4.0, 1.0, 0.0]), np.array([4.0, 4.0, 0.0]))
    >>> mean.tolist(), var.tolist()
    ([3.0, 0.0, 0.0], [3.0, 0.0, 0.0])
    >>> four = np.array([4.0, 4.0])
    >>> mean, var = posterior_drift(four, four, np.array([1.0, 2.0]))
    >>> mean.tolist(), var.tolist()
    ([3.0, 2.0], [3.0, 2.0])
    """
    # (a drift so small that its square underflows overflows the ratio: -inf, kept at 0)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        keep = 1.0 - se2 * looks / (drift * drift)
        # fmax drops the nan of 0/0 (no drift, no noise): no drift then.
        np.fmax(keep, 0.0, out=keep)
    unknown = np.isnan(se2) | np.isnan(drift)
    if unknown.any():
        keep[unknown] = np.nan
    return drift * keep, se2 * keep


#: Newton steps of the median time a watch reports. A watch fires at ``p >= alert_p``,
#: where 5 steps reach the root to 2e-15 relative for ``p >= 0.6`` (the default), 2e-8
#: for ``p >= 0.3`` and 1e-5 for ``p >= 0.1`` (40,000 random cases over three orders of
#: magnitude in each parameter); the snapshot's times take the full count
#: (:func:`~engine.forecast.median_hit_time`).
_WATCH_ETA_STEPS = 5


def _watch_etas(
    fired: NDArray[np.bool_], price: _F8, limits: _F8, est: Estimates, sums: _F8, horizon: float
) -> _F8:
    """The median time to the limit (:func:`~engine.limit_forecast.limit_etas`, the wait
    for the tick that shows it included, from each tick's mean gap in ``sums``) at the
    ticks where a watch fired, rows buy and sell; nan elsewhere (only the watches report
    one: hits report 0, crosses none)."""
    n = price.shape[0]
    side, tick = np.nonzero(fired[SignalKind.BUY_WATCH : SignalKind.SELL_WATCH + 1])
    eta = np.full((2, n), np.nan)
    if tick.size:
        picked = est.take(tick)
        gap = sums[tick, Sum.W_DT] / sums[tick, Sum.WEIGHT]
        both = limit_etas(
            price[tick], limits[0, tick], limits[1, tick], picked, horizon, _WATCH_ETA_STEPS, gap
        )
        eta[side, tick] = both[side, np.arange(tick.size)]
    return eta


#: The share of its window at length (the drift's ``span`` settles at ``drift_halflife /
#: ln 2``, 173 s by default) below which its error counts more than once. The posterior
#: (:func:`posterior_drift`) reads one estimate at a time, but a monitor looks at every
#: symbol at every tick and a WATCH fires the first time a forecast is high: while the
#: window is short its estimate swings fast, and a symbol's first minutes give many
#: independent chances of a drift three errors out by chance. So the estimate's squared
#: error counts ``looks = DRIFT_SETTLED_FILL * settled span / span`` times (at least
#: once): the positive-part shrinkage keeps a drift only where it stands out by
#: ``sqrt(looks)`` errors, as a Bonferroni bound over that many looks would, and a
#: trend that stands out by far more (the shipped scenarios' rallies and crashes) keeps
#: its warning at the same tick. On 500 driftless random walks (0.39 % a minute, limits
#: at +-2 %, two seeds), the WATCHes of each symbol's first minute said 64 % and none of
#: 43 came true, of its second 63-66 % and 9-25 % of 46 came true; with this rule 8
#: (none true) and 31 (6-20 %). From a span of 121 s (about 3.5 minutes of ticks at the
#: defaults) it counts once: past the 10 minutes ``limitwatch evaluate`` leaves out, so
#: its figures move only through the map those minutes teach (13 kinds, seed 0: the
#: largest gaps within 0.003 of before but the tick grid's, 0.155 to 0.082; alerts 0-2 %
#: fewer; the lead the same). Scaling the drift by the share filled instead (a ramp to
#: full trust at the same span) cut the first minutes' WATCHes further, but weakened a
#: real trend's as much as noise.
DRIFT_SETTLED_FILL = 0.7

#: The least share of the elapsed time the bipower estimate's ``sum(w sqrt(dt_i
#: dt_(i-1)))`` is taken to be: ``pi / 4``, its expectation for ticks at random times
#: (see :func:`_estimates`).
ROOT_DT_LEAST = math.pi / 4


def reopens(dt: ArrayLike, before: ArrayLike, horizon: float) -> _B:
    """Whether a time step ``dt`` reopens a closed market: longer than ``REOPEN_HORIZONS``
    horizons and ``REOPEN_STEPS`` times the symbol's latest non-zero step ``before`` it
    (0: none yet, no reopening).

    >>> reopens([63_900.0, 63_900.0, 900.0, 900.0, 700.0], [1.0, 86_400.0, 5.0, 0.0, 5.0],
    ...         60.0).tolist()
    [True, False, True, False, True]
    """
    step = np.asarray(dt, dtype=np.float64)
    prior = np.asarray(before, dtype=np.float64)
    return (step > REOPEN_HORIZONS * horizon) & (step > REOPEN_STEPS * prior) & (prior > 0.0)


def _estimates(
    sums: _F8, weights: _F8, k: _I8, n_before: _I8, cfg: EngineConfig
) -> tuple[_F8, _F8, Estimates]:
    """The drift, its squared standard error, and what the forecasts rest on, at every
    tick, from the running weighted sums.

    * ``vol**2``, per unit time, the smaller of two exponentially weighted estimates
      (RiskMetrics, 1996), each robust to one way prices depart from a diffusion; nan
      until some time has passed:

      - noise: ``(sum(w r**2) + 2 sum(w r_i r_(i-1))) / sum(w dt)``, the realised
        variance (Barndorff-Nielsen & Shephard, 2002) with the first-order
        autocovariance correction of Zhou (1996), "High-frequency data and volatility in
        foreign-exchange rates" (the one-lag realised kernel of Barndorff-Nielsen,
        Hansen, Lunde & Shephard, 2008). Prices rounded to a tick grid or bouncing
        between bid and ask add noise ``e_i - e_(i-1)`` to each return, which inflates
        the plain sum of squares (1.6x on a 0.01 grid) and makes neighbouring returns
        covary by ``-Var(e)``; the correction removes it. Floored at a tenth of the
        plain estimate, where a short sample makes it small or negative.
      - jumps: ``(pi / 2) sum(w |r_i r_(i-1)|) / sum(w sqrt(dt_i dt_(i-1)))``, the
        bipower variation of Barndorff-Nielsen & Shephard (2004), "Power and bipower
        variation with stochastic volatility and jumps". One 1 % jump among returns of
        0.02 % enters the sum of squares as 1e-4 and, for a minute, multiplies the
        estimate many times over (and with it every forecast); here it enters only
        multiplied by its neighbours. Zero returns are skipped (each return is paired
        with the latest non-zero one before it), and until two moves are seen the other
        estimate stands. Each pair is normalised by its own time steps: for
        Brownian increments ``E|r_i r_(i-1)| = (2 / pi) vol**2 sqrt(dt_i dt_(i-1))``,
        which equals ``(2 / pi) vol**2 dt`` only where ticks are evenly spaced. Over
        the plain ``sum(w dt)``, ticks at random times (exponential gaps, for which
        ``E sqrt(dt_i dt_(i-1)) = (pi / 4) E dt``) made the estimate 0.89x the true
        volatility: on the generated random walk with drift (seed 0) the engine's was a
        median 0.87x the true one, 0.95x with this normalisation. The sum of the
        ``sqrt(dt_i dt_(i-1))`` is taken as at least :data:`ROOT_DT_LEAST` of
        ``sum(w dt)``, what exponential gaps give: time stamps coarser than the ticks
        (several ticks a second stamped to the second, ``dt = 0`` between them) make
        the stamped steps understate the pairs' time, and uncapped the bipower
        estimate came out 1.34x the truth with one to three ticks per stamp, or was
        lost altogether (a sum of 0) with two, leaving jumps in the volatility.

      On six generated market kinds the smaller of the two raised the Brier skill over
      the noise-robust one alone by 0.03 to 0.15 on mean-reverting, jumpy and
      price-grid markets and left the others within 0.015.
    * ``drift = sum(w_long r) / sum(w_long dt)``: the maximum-likelihood drift of
      Brownian motion from its increments, weighted with the longer ``drift_halflife``;
      its squared error ``se2 = rv_long / span``, ``span = sum(w_long dt) / w_long`` the
      weighted time it covers (Merton, "On estimating the expected return on the
      market", 1980: the error depends on the time covered, not on the tick count) and
      ``rv_long`` the realised variance with the drift's own weights, jumps included:
      ``sum(w_long r**2) + 2 sum(w_long r_i r_(i-1))`` (the noise correction above: a
      price bouncing on a grid does not hide a drift) less ``3 drift**2 mean_dt
      sum(w_long dt)`` (the returns taken about the drift rather than zero, for ticks
      ``mean_dt`` apart: a steady trend is not noise), floored at a tenth of the sum of
      squares, over ``sum(w_long dt)``; and never below ``vol**2`` (a few returns
      about their own mean say little of the noise). The drift is a mean of *all* returns, so a
      jump moves it as much as any other return of its size: its error is that of the
      returns it averages, not of the jump-robust ``vol``. With ``vol`` instead, one jump
      looked like a drift many standard errors out and the forecast followed it: on a
      jumpy generated market (``limitwatch evaluate``, seed 0) forecasts near 0.95 came
      true 0.47 of the time in each symbol's first ten minutes and 0.73 after; with
      the realised variance, forecasts near 0.93 came true 0.84 and 0.89 of the time.
    * The forecasts' drift: its posterior, :func:`posterior_drift`, its error counted
      as many times as :data:`DRIFT_SETTLED_FILL` says while its window fills; nan
      while the symbol warms up (``warmup_ticks`` and ``warmup_span`` of the short
      weights).
    * ``shift = MONITORING_SHIFT * vol * sqrt(mean dt)``, ``mean dt = sum(w dt) /
      sum(w)`` the weighted mean time between ticks: Broadie, Glasserman & Kou (1997)'s
      continuity correction for a limit seen only at ticks
      (:func:`engine.forecast.monitored_distance`).

    (The volatility's sums ``v`` are weighted on its own clock, see :class:`Engine`.)
    """
    elapsed = sums[:, Sum.W_DT]
    variance = sums[:, Sum.V_CROSS] * 2.0
    variance += sums[:, Sum.V_RETURN_SQ]
    np.fmax(variance, 0.1 * sums[:, Sum.V_RETURN_SQ], out=variance)
    variance /= sums[:, Sum.V_DT]
    # The bipower sum needs two moves: until then (0) the noise-robust estimate stands.
    bipower = sums[:, Sum.V_BIPOWER] * (np.pi / 2)
    has_pairs = bipower > 0.0
    pairs_time = sums[:, Sum.V_DT] * ROOT_DT_LEAST
    np.fmax(pairs_time, sums[:, Sum.V_ROOT_DT], out=pairs_time)
    bipower /= pairs_time
    np.fmin(variance, bipower, out=variance, where=has_pairs)
    long_elapsed = sums[:, Sum.W_DT_LONG]
    drift = sums[:, Sum.W_RETURN_LONG] / long_elapsed
    undefined = ~(elapsed > 0.0)
    if undefined.any():
        drift[undefined] = np.nan
        variance[undefined] = np.nan
    span = long_elapsed / weights[1]
    squares = sums[:, Sum.W_RETURN_SQ_LONG]
    mean_dt = sums[:, Sum.W_DT] / sums[:, Sum.WEIGHT]
    drift_se2 = sums[:, Sum.W_CROSS_LONG] * 2.0
    drift_se2 += squares
    drift_se2 -= 3.0 * drift * drift * mean_dt * long_elapsed  # returns about the drift
    np.fmax(drift_se2, 0.1 * squares, out=drift_se2)
    drift_se2 /= long_elapsed
    np.fmax(drift_se2, variance, out=drift_se2)  # never below vol**2
    drift_se2 /= span
    vol = np.sqrt(variance, out=variance)
    # As many looks as windows of this span fit in the settled one (see the constant).
    looks = (DRIFT_SETTLED_FILL * cfg.drift_halflife / math.log(2.0)) / span
    np.fmax(looks, 1.0, out=looks)
    mean, var = posterior_drift(drift, drift_se2, looks)
    cold = elapsed / weights[0] < cfg.warmup_span
    if (n_before < cfg.warmup_ticks - 1).any():
        cold |= k < cfg.warmup_ticks - 1
    np.copyto(mean, np.nan, where=cold)
    shift = np.sqrt(mean_dt, out=mean_dt)
    shift *= vol
    shift *= MONITORING_SHIFT
    np.nan_to_num(shift, copy=False, nan=0.0)
    return drift, drift_se2, Estimates(mean, var, vol, shift)


#: The calibrator's clock, in horizons of event time (at the default 60 s horizon: a
#: sample of every forecast in force each 5 s, the first refit after a minute, later
#: refits an eighth of the stream's age apart but at most five minutes, and the outcomes
#: of about the last five minutes followed where they are many). In horizons, so that a
#: horizon of days (daily closes) or of seconds keeps the same number of samples per
#: outcome and the same memory of recent outcomes.
CALIBRATION_SAMPLES_PER_HORIZON = 12
CALIBRATION_REFIT_HORIZONS = 1.0
CALIBRATION_REFIT_GROWTH = 1 / 8
CALIBRATION_REFIT_MOST_HORIZONS = 5.0
#: Half-life of the recent outcomes' weight, and how many of them per bin the whole
#: record is worth.
CALIBRATION_RECENT_HALFLIFE_HORIZONS = 5.0
CALIBRATION_RECENT_WEIGHT = 100.0
#: Forecasts are mapped in two groups by age, the time from the tick that made one to the
#: start of the slot it is sampled in (on screen: of the next slot): fresh, and *overdue*,
#: at least a sixth of the horizon (10 s at the default 60 s) and at least
#: ``CALIBRATION_OVERDUE_GAPS`` times the symbol's mean time between ticks, each group with
#: a map of its own. A symbol that stops ticking leaves its last forecast on screen, and it
#: is scored as it is shown: on a market whose symbols fall silent for minutes, forecasts
#: near 65 % left by symbols silent for 10 s to 1 minute came true about 20 % of the time,
#: fresh ones near 65 % 67 %; one map for all spread that error over every forecast
#: (largest gap per decile 0.139 and 0.141 with seeds 0 and 1). The symbol's own pace
#: counts: on daily closes a forecast a day old is the usual one, and splitting those by
#: the sixth of a five-day horizon alone took the gap from 0.056 to 0.103. Edges at 1/6,
#: 1/2 and 1 horizon (four groups) left the older groups few of the rare high forecasts,
#: and one of them said 73 % where 8 % came true.
CALIBRATION_STALE_HORIZONS = 1 / 6
CALIBRATION_OVERDUE_GAPS = 2.0
#: A symbol silent for this many horizons is no longer sampled until it ticks again:
#: one that has stopped for good (a listing gone, a feed filtered) would otherwise be
#: sampled at every slot for ever, at a cost that grows with every symbol ever seen, and
#: teach the overdue forecasts' map only that they never come true. Five horizons keep
#: silences of a few minutes at the default horizon (those the ``lulls`` market has).
CALIBRATION_SILENT_MOST_HORIZONS = 5.0


def age_groups(age: ArrayLike, gap: ArrayLike, horizon: float) -> _I8:
    """The map (group) for forecasts ``age`` seconds old, of symbols whose ticks come a
    mean ``gap`` seconds apart, at a ``horizon``: 1 (overdue) where the age is at least
    ``CALIBRATION_STALE_HORIZONS`` of the horizon and ``CALIBRATION_OVERDUE_GAPS`` gaps
    (a nan gap, before a symbol's second tick, counts for nothing), else 0.

    >>> age_groups([0.0, 9.9, 10.0, 10.0, 30.0, 3600.0],
    ...            [1.0, 1.0, 1.0, 6.0, float("nan"), 86400.0], 60.0).tolist()
    [0, 0, 1, 0, 1, 0]
    """
    least = np.fmax(
        CALIBRATION_STALE_HORIZONS * horizon,
        CALIBRATION_OVERDUE_GAPS * np.asarray(gap, dtype=np.float64),
    )
    return (np.asarray(age, dtype=np.float64) >= least).astype(np.intp)


def _calibrator(cfg: EngineConfig) -> Calibrator:
    """The engine's calibrator: every forecast in force sampled each twelfth of the
    horizon of event time, resolved a horizon later, the map refitted a horizon after
    the first tick and then at most five horizons apart (all symbols together: one
    market's forecasts err alike, and a symbol alone would need hours of outcomes)."""
    per = CALIBRATION_SAMPLES_PER_HORIZON
    every = cfg.horizon_s / per
    refit = every * max(1, round(CALIBRATION_REFIT_HORIZONS * per))
    return Calibrator(
        cfg.horizon_s,
        sample_every=every,
        refit_every=refit,
        refit_growth=CALIBRATION_REFIT_GROWTH,
        refit_most=max(refit, CALIBRATION_REFIT_MOST_HORIZONS * cfg.horizon_s),
        recent_halflife=CALIBRATION_RECENT_HALFLIFE_HORIZONS * cfg.horizon_s,
        recent_weight=CALIBRATION_RECENT_WEIGHT,
        learn=math.isfinite(cfg.calibrate_after_s),
        groups=2,
        nested=True,
        # A refit period's samples are taken at once, ahead of their slots' outcomes.
        capacity=2 * cfg.max_symbols * (per + round(refit / every) + 1),
    )
