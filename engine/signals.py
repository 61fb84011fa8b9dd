"""Signals the engine emits: watches ahead of a limit, limit hits and moving-average crosses."""

from __future__ import annotations

import enum
from collections.abc import Sequence

import msgspec

__all__ = ["Signal", "SignalKind", "signals_from_columns", "with_eta", "with_p"]


class SignalKind(enum.IntEnum):
    """What happened. Signals of one tick are ordered by this value."""

    #: The probability of reaching the buy limit within the horizon rose to ``alert_p``.
    BUY_WATCH = 0
    #: The probability of reaching the sell limit within the horizon rose to ``alert_p``.
    SELL_WATCH = 1
    #: The price reached the buy limit (``price <= buy``).
    BUY = 2
    #: The price reached the sell limit (``price >= sell``).
    SELL = 3
    #: The fast moving average crossed above the slow one.
    GOLDEN_CROSS = 4
    #: The fast moving average crossed below the slow one.
    DEATH_CROSS = 5


class Signal(msgspec.Struct, frozen=True, gc=False):
    """One signal, raised by the tick at event time ``t`` with price ``price``.

    An immutable record (a ``msgspec.Struct``: built in C, and not tracked by the
    garbage collector, since it holds only strings and numbers).

    Attributes
    ----------
    symbol : str
    kind : SignalKind
    seq : int
        Number of this signal among the symbol's signals of the same kind, from 1.
    t : float
        Event time of the tick (epoch seconds).
    price : float
        Price of the tick.
    limit : float
        The limit concerned; nan for crosses.
    p_hit : float
        Probability of reaching the limit within the horizon (1 for BUY/SELL); nan for
        crosses.
    eta_s : float
        Expected seconds until the limit is reached (0 for BUY/SELL); nan when the drift
        points away from it, and for crosses.
    """

    symbol: str
    kind: SignalKind
    seq: int
    t: float
    price: float
    limit: float
    p_hit: float
    eta_s: float

    @property
    def id(self) -> str:
        """Stable identity ``"SYMBOL:KIND:seq"``: the same ticks always give the same ids."""
        return f"{self.symbol}:{self.kind.name}:{self.seq}"


def signals_from_columns(*columns: Sequence[object]) -> list[Signal]:
    """Signals from one sequence per field (in field order), all of one length."""
    return list(map(Signal, *columns))


def with_eta(signal: Signal, eta_s: float) -> Signal:
    """``signal`` with another time to the limit (a corrected one, see
    :meth:`engine.Engine.eta_correction`)."""
    return msgspec.structs.replace(signal, eta_s=eta_s)


def with_p(signal: Signal, p_hit: float) -> Signal:
    """``signal`` with another probability (a WATCH's, corrected by how its stream's
    WATCHes fared, see :meth:`engine.Engine.watch_correction`)."""
    return msgspec.structs.replace(signal, p_hit=p_hit)
