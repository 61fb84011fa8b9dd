"""Commands the monitor sends to the consumer worker: small immutable records on a queue,
so no thread ever reaches into another's objects."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "SelectSymbol",
    "SetLimits",
    "ShareLimits",
    "StartRecording",
    "StopRecording",
    "WorkerCommand",
]


@dataclass(frozen=True, slots=True)
class SetLimits:
    """Change one symbol's limits; None leaves a side unchanged. Without `register` a
    symbol the engine does not track yet gets them with its first tick (and no row
    before). `side` ("buy" or "sell"): the only side a user set, the other given in full
    for agreement and changed only where it differs from the engine's (setting a limit,
    even to its current value, re-arms its signals)."""

    symbol: str
    buy: float | None = None
    sell: float | None = None
    register: bool = True
    side: str = ""


@dataclass(frozen=True, slots=True)
class ShareLimits:
    """Tell the cluster `symbol`'s limits as the engine holds them now (after the
    SetLimits queued before this), both sides in full; `side`: the only one the user set
    ("buy" or "sell"; "" both)."""

    symbol: str
    side: str = ""


@dataclass(frozen=True, slots=True)
class SelectSymbol:
    """Include this symbol's recent history (for the chart) in the snapshots."""

    symbol: str | None


@dataclass(frozen=True, slots=True)
class StartRecording:
    """Write every tick the worker reads to a scenario file at `path`."""

    path: str
    description: str | None = None  # None: "recorded from the live TOPIC topic"
    #: Close the file after this many ticks (None: when told to stop).
    max_ticks: int | None = None


@dataclass(frozen=True, slots=True)
class StopRecording:
    """Close the scenario file being recorded."""


WorkerCommand = SetLimits | ShareLimits | SelectSymbol | StartRecording | StopRecording
