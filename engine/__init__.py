"""Pure numpy analytics for limitwatch: rolling averages, forecasts and signals.

Arrays in, arrays out: no clock, no I/O. See :class:`Engine` for a runnable example.
"""

from engine.config import EngineConfig, LimitError
from engine.core import Engine
from engine.forecast import first_passage
from engine.signals import Signal, SignalKind
from engine.state import EngineState, History

__all__ = [
    "Engine",
    "EngineConfig",
    "EngineState",
    "History",
    "LimitError",
    "Signal",
    "SignalKind",
    "first_passage",
]
