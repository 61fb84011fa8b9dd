"""Engine settings (a validated, frozen dataclass) and the error raised for bad limits."""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from engine.limits import MAX_PRICE, LimitError

__all__ = [
    "MAX_PRICE",
    "MAX_SYMBOLS",
    "MAX_WINDOW",
    "PORTABLE",
    "SETTINGS",
    "EngineConfig",
    "LimitError",
    "Setting",
    "portable_settings",
    "symbol_matcher",
]

#: Largest ``fast``, ``slow`` and ``history``, in ticks. Each symbol preallocates rings of
#: ``fast + slow`` floats and ``history + slow - 1`` complex numbers, so at this bound a
#: symbol takes about 4.8 MB (64 symbols, the first allocation, about 310 MB).
MAX_WINDOW = 100_000
#: Shortest forecast horizon, seconds: the calibration's slots are a twelfth of it, numbered
#: from the epoch (at 1e-7 s they passed 2**53 and a 3-tick file never finished).
MIN_HORIZON_S = 0.01
#: The longest forecast horizon, seconds: a year and a day (a longer one only makes its
#: times to the limit numbers of hundreds of digits).
MAX_HORIZON_S = 366 * 86400.0
#: The shortest half-life: epoch times as float64 resolve about 0.24 microseconds, so a
#: shorter one spans fewer than about 400 instants that can be told apart.
MIN_HALFLIFE_S = 1e-4
#: Largest ``max_symbols``: at the default windows, about 1.2 GB of state when all are used.
MAX_SYMBOLS = 100_000
#: Narrowest ``default_band``, a fraction of the price (0.0001 %): limits are kept to 12
#: significant digits, and a band of 1e-17 made the buy limit the sell limit, both at the
#: first price, where every symbol fired a BUY and a SELL at its first tick.
MIN_BAND = 1e-6
#: The drift's default half-life in half-lives of the averages and the volatility (600 s
#: at the default 30 s). On `limitwatch evaluate`'s 13 market kinds (seeds 0 and 1) the
#: forecast warned at the proximity alarm's precision with no more alerts than it on 9
#: and 10 kinds instead of 4 and 3 with 4 half-lives (120 s), its lead at least the
#: targets' (1.25x on trending kinds, 1.1x on the others) with no more alerts on 5 and 4
#: kinds instead of 1 and 1, and a Brier skill 0.002-0.005 higher on average; on 36
#: markets written outside the project, calibration within 0.05 on 16 instead of 11, but
#: the median lead ratio 1.07 instead of 1.16 (driftless walks, where a longer window
#: finds less drift to warn early with). The README's forecast section has the tables.
DRIFT_HALFLIVES = 20


def _setting(
    default: Any, option: str, metavar: str, help: str, parse: str, *, portable: bool = True
) -> Any:
    """A field of :class:`EngineConfig` with what the command line and files need to know.

    ``parse`` names how a command line reads the value: ``count`` (a whole number >= 1),
    ``count0`` (a whole number >= 0),
    ``seconds`` (a positive number), ``seconds0`` (a number >= 0), ``seconds_off``
    (a number >= 0 or ``off``, infinity), ``probability`` (strictly between 0 and 1),
    ``probability0`` (at least 0, below 1) or ``fraction`` (below 1, also written as a
    percentage).
    """
    return field(
        default=default,
        metadata={
            "option": option,
            "metavar": metavar,
            "help": help,
            "parse": parse,
            "portable": portable,
        },
    )


@dataclass(frozen=True, slots=True)
class Setting:
    """One engine setting as the outside sees it: field, option, help and default.

    ``portable`` settings travel with a scenario: a header may suggest them and a
    recording writes them.
    """

    name: str
    option: str
    metavar: str
    help: str
    parse: str
    default: Any
    kind: type
    optional: bool
    portable: bool


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Settings of an :class:`~engine.Engine`, validated on construction.

    Parameters
    ----------
    fast, slow : int
        Windows of the fast and slow simple moving averages, in ticks (``1 <= fast < slow``).
    halflife_s : float
        Half-life in seconds of the exponential moving average and of the drift and
        volatility estimates: an observation ``dt`` seconds old weighs ``2**(-dt/halflife_s)``.
    drift_halflife_s : float or None
        Half-life in seconds of the drift estimate the forecasts use, at least
        ``halflife_s``; ``None`` means :data:`DRIFT_HALFLIVES` ``* halflife_s`` (see
        :attr:`drift_halflife`). The drift's standard error falls with the time it
        covers, not with the tick count, so a drift from the volatility's short window
        is mostly noise; the longer window follows a trend that lasts many minutes.
    vol_returns : int
        The volatility's weights age by at most ``halflife_s / vol_returns`` per tick
        (``>= 1``): where ticks come further apart than that, its window holds about
        ``vol_returns / ln 2`` returns instead of the few a half-life of time holds (see
        :class:`~engine.Engine`). Ticks closer together see no difference.
    horizon_s : float
        Forecast horizon ``H`` in seconds: ``p_buy``/``p_sell`` are the probabilities of
        reaching the limit within ``H``.
    alert_p : float
        A ``BUY_WATCH``/``SELL_WATCH`` fires when that probability, as computed (before the
        calibration map), rises to ``alert_p`` or more.
    hysteresis : float
        Fraction of the limit by which the price must move back before a ``BUY``/``SELL``
        can fire again (``>= 0``).
    max_symbols : int
        Most symbols tracked; further symbols are refused and counted (at most
        :data:`MAX_SYMBOLS`).
    history : int
        Ticks kept per symbol for :meth:`~engine.Engine.history` (``>= slow``), or 0 to
        keep none: an engine whose ticks nobody charts (``limitwatch engine``, a
        backtest). The chart's ring is most of a symbol's state (``history + slow - 1``
        complex numbers, 11 KB of about 12.5 KB at the defaults).

        ``fast``, ``slow`` and ``history`` are at most :data:`MAX_WINDOW` ticks: the state
        is preallocated and grows with them.
    default_band : float or None
        Limits given to a symbol at its first tick if none were ever set:
        ``first*(1-band)`` and ``first*(1+band)``. ``None`` leaves such symbols without limits.
    watch_rearm : float
        A watch that fired re-arms once the probability falls to ``watch_rearm * alert_p``
        or below (``0 < watch_rearm < 1``), or when its limit is set again.
    watch_quiet_s : float or None
        Least time between two watches of one symbol and side, in seconds: a watch fires
        only more than this after the previous one. ``None`` means ``horizon_s / 2``
        (see :attr:`watch_quiet`), which keeps at most two watches of one symbol and side
        within any horizon. A watch that was not answered within ``horizon_s`` expires,
        and a probability still at ``alert_p`` warns again.
    watch_floor : float
        A WATCH fires only where the calibration map in force says forecasts of that
        computed probability came true at least this often (``0 <= watch_floor < 1``;
        0: wherever ``alert_p`` is reached). Until the map has learnt, it is the
        identity and ``alert_p`` alone decides. Where prices move by ticks of 0.2 % or
        more, a flicker between two levels sends the computed probability past
        ``alert_p`` while the map has learnt that such forecasts come true about one
        time in six: on 40 random walks near 2.00 on a cent grid, 257 WATCHes in an
        hour at three bands, 2 % of them true, and 75 with a floor of 0.3, most in the
        first 20 minutes, while the map learns; on the twelve other generated kinds of
        ``limitwatch evaluate`` the floor held back 11 of the tick grid's 1,191 WATCHes
        and none elsewhere (0.45 cost the sparse market a quarter of its lead).
    cross_quiet_s : float or None
        Least time between two crossovers of one symbol's fast and slow averages
        (GOLDEN/DEATH), in seconds; ``None`` means the watches' quiet time (see
        :attr:`cross_quiet`). Limit crossings (BUY/SELL) re-arm by the hysteresis instead.
    warmup_ticks : int
        Ticks a symbol needs before it is forecast (``>= 1``). The forecast treats the
        volatility estimate as known; from about 20 ticks (19 returns) on, that costs
        little (a Student t with 19 degrees of freedom is within 7 % of the normal at
        its 97.5 % point), and on generated markets the hit rate of forecasts
        ``>= 0.6`` stops improving between 15 and 20 ticks.
    warmup_s : float or None
        Exponentially weighted time span (see :class:`~engine.Engine`) a symbol's
        estimates must cover before it is forecast, in seconds; ``None`` means
        ``halflife_s / 2`` (see :attr:`warmup_span`). Steady ticks take about
        ``0.6 * halflife_s`` to cover half a half-life, so a burst of ticks in a
        fraction of a second is not mistaken for a history. Must lie below
        ``halflife_s / ln 2``, the span steady ticks approach but never reach.
    calibrate_after_s : float
        Seconds of event time from a symbol's first tick before its forecasts teach the
        engine's calibration map (see :class:`~engine.calibration.Calibrator`), and its
        WATCHes the correction of the time to the limit: while
        its estimates still fill, a symbol's forecasts err in ways its later ones do
        not, and a map learnt from them would correct what is no longer there. The
        default is 120 s. ``inf`` (``off`` on the
        command line) learns no map: the forecasts are reported as computed, and their
        track record is still kept.
        Until both warm-up conditions hold, ``p_buy``/``p_sell`` and the expected times
        are nan (1 and 0 where the price is at the limit) and no watch fires; limit
        hits are facts and fire from the first tick.

    Examples
    --------
    >>> EngineConfig(fast=5, slow=20, history=20).slow
    20
    >>> EngineConfig(fast=20, slow=10)
    Traceback (most recent call last):
    ...
    ValueError: slow (10) must be greater than fast (20)
    >>> EngineConfig(halflife_s=4.0).warmup_span
    2.0
    """

    # Each setting is declared once, here: its command-line option and help text are
    # derived from this (see SETTINGS), and so are the keys a scenario header may carry.
    fast: int = _setting(20, "--fast", "N", "fast average window, ticks", "count")
    slow: int = _setting(100, "--slow", "N", "slow average window, ticks", "count")
    halflife_s: float = _setting(30.0, "--halflife", "S", "EMA/volatility half-life, s", "seconds")
    drift_halflife_s: float | None = _setting(
        None, "--drift-halflife", "S", "half-life of the drift the forecasts use, s "
        f"(default: {DRIFT_HALFLIVES} x the half-life)", "seconds",
    )  # fmt: skip
    vol_returns: int = _setting(
        8, "--vol-returns", "N", "least returns per half-life the volatility rests on "
        "where ticks are sparse", "count",
    )  # fmt: skip
    horizon_s: float = _setting(60.0, "--horizon", "S", "forecast horizon, s", "seconds")
    alert_p: float = _setting(
        0.6,
        "--alert-p",
        "P",
        "probability (as computed, before calibration) that raises a WATCH",
        "probability",
    )
    hysteresis: float = _setting(
        0.002,
        "--hysteresis",
        "F",
        "move back past a limit, as a fraction, that re-arms it",
        "fraction",
    )
    max_symbols: int = _setting(
        10_000, "--max-symbols", "N", "most symbols tracked", "count", portable=False
    )
    history: int = _setting(
        600, "--history", "N", "ticks kept per symbol for the chart, 0 for none", "count0"
    )
    default_band: float | None = _setting(
        0.02, "--band", "PCT", "limits this far either side of a symbol's first price, "
        "e.g. 3%% or 0.03", "band",
    )  # fmt: skip
    watch_rearm: float = _setting(
        0.5, "--watch-rearm", "F", "a WATCH re-arms below this fraction of --alert-p", "probability"
    )
    watch_floor: float = _setting(
        0.3, "--watch-floor", "P", "a WATCH fires only where such forecasts came true at "
        "least this often by the calibration map (0: always)", "probability0",
    )  # fmt: skip
    watch_quiet_s: float | None = _setting(
        None, "--watch-quiet", "S", "least seconds between two WATCHes of a symbol and side "
        "(default: half the horizon)", "seconds0",
    )  # fmt: skip
    cross_quiet_s: float | None = _setting(
        None, "--cross-quiet", "S", "least seconds between two crossovers of a symbol's "
        "fast and slow averages, GOLDEN/DEATH (default: the WATCH quiet time)", "seconds0",
    )  # fmt: skip
    warmup_ticks: int = _setting(
        20, "--warmup-ticks", "N", "ticks a symbol needs before it is forecast", "count"
    )
    warmup_s: float | None = _setting(
        None, "--warmup-s", "S", "weighted seconds a symbol needs before it is forecast "
        "(default: half the half-life)", "seconds0",
    )  # fmt: skip
    calibrate_after_s: float = _setting(
        120.0, "--calibrate-after", "S", "seconds of a symbol's ticks before its forecasts "
        "teach the calibration map and the time to the limit, or off (no map: the forecasts "
        "as computed)", "seconds_off",
        portable=False,
    )  # fmt: skip

    def __post_init__(self) -> None:
        def whole(name: str) -> int:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer, got {value!r}")
            return value

        def real(name: str) -> float:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value!r}")
            return float(value)

        def bounded(name: str, most: int, why: str) -> int:
            value = whole(name)
            if value > most:
                raise ValueError(
                    f"{name} ({value}) must be at most {most:,}: {why}; choose a smaller {name}"
                )
            return value

        ring = "every symbol preallocates a ring of that many ticks"
        fast = bounded("fast", MAX_WINDOW, ring)
        slow = bounded("slow", MAX_WINDOW, ring)
        if fast < 1:
            raise ValueError(f"fast ({fast}) must be at least 1")
        if slow <= fast:
            raise ValueError(f"slow ({slow}) must be greater than fast ({fast})")
        if not MIN_HALFLIFE_S <= real("halflife_s") <= MAX_HORIZON_S:
            # (1e-9 s and 1e12 s were taken: averages of the last tick alone, or of none)
            raise ValueError(
                f"halflife_s ({self.halflife_s:g}) must lie from {MIN_HALFLIFE_S:g} s to "
                f"{MAX_HORIZON_S:,.0f} s (366 days)"
            )
        if self.drift_halflife_s is not None and not real("drift_halflife_s") >= self.halflife_s:
            raise ValueError(
                f"drift_halflife_s ({self.drift_halflife_s}) must be at least halflife_s "
                f"({self.halflife_s})"
            )
        still = "a larger one leaves the volatility's clock all but still"
        if bounded("vol_returns", MAX_WINDOW, still) < 1:
            raise ValueError(f"vol_returns ({self.vol_returns}) must be at least 1")
        if not real("horizon_s") >= MIN_HORIZON_S:
            raise ValueError(
                f"horizon_s ({self.horizon_s}) must be at least {MIN_HORIZON_S:g} s: the "
                "calibration counts event time in twelfths of it, which for shorter horizons "
                "outrun the precision of epoch times"
            )
        if real("horizon_s") > MAX_HORIZON_S:
            raise ValueError(
                f"horizon_s ({self.horizon_s:g}) must be at most {MAX_HORIZON_S:,.0f} s (366 days)"
            )
        if not 0 < real("alert_p") < 1:
            raise ValueError(f"alert_p ({self.alert_p}) must lie strictly between 0 and 1")
        if not 0 <= real("hysteresis") < 1:  # as --hysteresis: a scenario's header took 1e308
            raise ValueError(f"hysteresis ({self.hysteresis}) must be at least 0 and below 1")
        if bounded("max_symbols", MAX_SYMBOLS, "state grows to that many symbol slots") < 1:
            raise ValueError(f"max_symbols ({self.max_symbols}) must be at least 1")
        if bounded("history", MAX_WINDOW, ring) < slow and self.history != 0:
            raise ValueError(
                f"history ({self.history}) must be 0 (no chart) or at least slow ({slow})"
            )
        if self.default_band is not None and not MIN_BAND <= real("default_band") < 1:
            raise ValueError(
                f"default_band ({self.default_band}) must be None or at least {MIN_BAND:g} "
                "and below 1"
            )
        if not 0 < real("watch_rearm") < 1:
            raise ValueError(f"watch_rearm ({self.watch_rearm}) must lie strictly between 0 and 1")
        if not 0 <= real("watch_floor") < 1:
            raise ValueError(f"watch_floor ({self.watch_floor}) must lie in [0, 1)")
        for name in ("watch_quiet_s", "cross_quiet_s"):
            if getattr(self, name) is not None and not real(name) >= 0:
                raise ValueError(f"{name} ({getattr(self, name)}) must not be negative")
        after = self.calibrate_after_s
        if isinstance(after, bool) or not isinstance(after, int | float) or not after >= 0:
            raise ValueError(
                f"calibrate_after_s ({after!r}) must be a number of at least 0 (inf: off)"
            )
        if whole("warmup_ticks") < 1:
            raise ValueError(f"warmup_ticks ({self.warmup_ticks}) must be at least 1")
        if self.warmup_s is not None:
            longest = self.halflife_s / math.log(2.0)
            if not 0 <= real("warmup_s") < longest:
                raise ValueError(
                    f"warmup_s ({self.warmup_s}) must lie in [0, halflife_s / ln 2 = "
                    f"{longest:.6g}): steady ticks never cover a longer weighted span"
                )

    @property
    def warmup_span(self) -> float:
        """Weighted span in seconds a symbol needs before it is forecast: ``warmup_s``,
        or ``halflife_s / 2`` when that is None."""
        return self.halflife_s / 2 if self.warmup_s is None else float(self.warmup_s)

    @property
    def drift_halflife(self) -> float:
        """Half-life of the forecasts' drift: ``drift_halflife_s``, or
        :data:`DRIFT_HALFLIVES` ``* halflife_s`` when that is None."""
        if self.drift_halflife_s is None:
            return DRIFT_HALFLIVES * self.halflife_s
        return float(self.drift_halflife_s)

    @property
    def watch_quiet(self) -> float:
        """Least seconds between two watches of one symbol and side: ``watch_quiet_s``,
        or ``horizon_s / 2`` when that is None."""
        return self.horizon_s / 2 if self.watch_quiet_s is None else float(self.watch_quiet_s)

    @property
    def cross_quiet(self) -> float:
        """Least seconds between two crosses of one symbol: ``cross_quiet_s``, or
        :attr:`watch_quiet` when that is None."""
        return self.watch_quiet if self.cross_quiet_s is None else float(self.cross_quiet_s)


def _settings() -> tuple[Setting, ...]:
    out = []
    for f in fields(EngineConfig):
        kind_text = str(f.type)
        out.append(
            Setting(
                name=f.name,
                option=f.metadata["option"],
                metavar=f.metadata["metavar"],
                help=f.metadata["help"],
                parse=f.metadata["parse"],
                default=f.default,
                kind=int if kind_text.startswith("int") else float,
                optional="None" in kind_text,
                portable=f.metadata["portable"],
            )
        )
    return tuple(out)


#: Every engine setting, in declaration order: the one list the command-line options,
#: scenario headers and recordings are derived from.
SETTINGS: tuple[Setting, ...] = _settings()
#: Settings a scenario header may suggest and a recording writes.
PORTABLE: frozenset[str] = frozenset(s.name for s in SETTINGS if s.portable)


def portable_settings(config: EngineConfig) -> dict[str, int | float]:
    """The portable settings of ``config`` that have a value, for a scenario header.

    >>> sorted(portable_settings(EngineConfig()))[:3]
    ['alert_p', 'default_band', 'fast']
    """
    values = {name: getattr(config, name) for name in sorted(PORTABLE)}
    return {k: v for k, v in values.items() if v is not None}


def symbol_matcher(patterns: Iterable[str]) -> Callable[[str], bool]:
    """Whether a symbol matches any of the shell-style ``patterns`` (``fnmatch``,
    case-sensitive), as one compiled regular expression: the rule for the engine's
    ``additive`` symbols wherever they are named.

    >>> gauge = symbol_matcher(["cpu.*", "load.1m"])
    >>> gauge("cpu.idle"), gauge("load.1m"), gauge("ACME")
    (True, True, False)
    >>> symbol_matcher([])("cpu.idle")
    False
    """
    compiled = [fnmatch.translate(p) for p in patterns]
    if not compiled:
        return lambda _symbol: False
    match = re.compile("|".join(compiled)).match
    return lambda symbol: match(symbol) is not None
