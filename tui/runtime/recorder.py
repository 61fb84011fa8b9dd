"""Recording the ticks the consumer reads to a scenario file, with the engine's limits and
settings in its header so a replay calls the market as it was seen."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import msgspec
import platformdirs

from engine import EngineConfig, EngineState
from engine.config import portable_settings
from producer.header import HEADER_MAX_WINDOW, HEADER_WINDOWS, ScenarioHeader
from producer.lines import BadLine
from producer.scenario import ScenarioWriter
from producer.wire import Tick
from tui.runtime import format as fmt

__all__ = ["Recorder", "default_record_dir"]


def default_record_dir() -> Path:
    """Where the monitor's ``r`` key records to without ``--record-dir``: a folder in the
    user's data directory."""
    return Path(platformdirs.user_data_dir("limitwatch")) / "recordings"


def _or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


class Recorder:
    """One scenario file at a time; what happens is told through ``notify(text, error)``."""

    def __init__(self, notify: Callable[[str, bool], None]) -> None:
        self._notify = notify
        self._writer: ScenarioWriter | None = None
        self._max: int | None = None
        #: The limits the current recording's header holds, and the symbols whose change
        #: since was told.
        self._limits: dict[str, tuple[float | None, float | None]] = {}
        self._told: set[str] = set()
        self.path: str | None = None
        #: Writing or flushing the current recording failed (it was closed then).
        self.failed = False
        #: Ticks written more than a horizon behind a tick written before them (of any
        #: symbol), how far behind at most, the latest time written, and the horizon.
        self._behind = 0
        self._most_behind = 0.0
        self._latest = -math.inf
        self._horizon = 60.0

    @property
    def count(self) -> int:
        """Ticks written to the current recording (0 when not recording)."""
        return self._writer.count if self._writer is not None else 0

    @property
    def active(self) -> bool:
        """Whether a recording is open."""
        return self._writer is not None

    def start(
        self,
        path: str,
        description: str,
        state: EngineState,
        config: EngineConfig,
        made_by: str,
        max_ticks: int | None = None,
        additive: tuple[str, ...] = (),
        waiting: dict[str, tuple[float, float]] | None = None,
    ) -> None:
        """Close any recording and open ``path``, its header taken from ``state`` (and
        ``additive``, the engine's patterns of quantities, so a replay models them alike;
        ``waiting``, the limits of symbols not tracked yet, as the limits topic's are
        before their first tick)."""
        self.stop()
        # Every limit someone set, a symbol's cleared ones too ([null, null]: a replay
        # leaves it without limits rather than giving it the band).
        limits = {
            sym: (_or_none(buy), _or_none(sell)) for sym, (buy, sell) in (waiting or {}).items()
        }
        limits.update(
            (sym, (_or_none(state.buy[i]), _or_none(state.sell[i])))
            for i, sym in enumerate(state.symbols)
        )
        # A window or history longer than a header may ask for (--slow 5000, say) is left
        # out, with the other two (the defaults of a replay must fit together): with it the
        # recording could not be read back; a replay gives them again.
        engine = portable_settings(config)
        if any(engine.get(k, 0) > HEADER_MAX_WINDOW for k in HEADER_WINDOWS):
            engine = {k: v for k, v in engine.items() if k not in HEADER_WINDOWS}
        header = ScenarioHeader(
            name=Path(path).stem,
            description=description,
            limits=limits,
            engine=engine,
            made_by=made_by,
            additive=list(additive) if additive else msgspec.UNSET,
        )
        try:
            self._writer = ScenarioWriter(path, header, flush_every=500, list_symbols=True)
        except (OSError, BadLine) as exc:  # BadLine: a header no reader would take back
            self._notify(f"cannot record to {path}: {getattr(exc, 'strerror', None) or exc}", True)
            return
        self.path = path
        self._max = max_ticks
        self.failed = False
        self._limits = limits
        self._told = set()
        self._behind, self._most_behind, self._latest = 0, 0.0, -math.inf
        self._horizon = config.horizon_s
        self._notify(f"recording to {path}", False)

    def _out_of_order(self) -> str:
        """What to know of a file whose ticks are not in time order across symbols: a
        backlog (``--from-beginning``) comes a partition at a time, each in its own order,
        and is written as it came."""
        return (
            f"{self.path}: {fmt.count(self._behind, 'tick')} came more than the horizon "
            f"({self._horizon:g} s) behind a tick written before them, up to "
            f"{fmt.interval(self._most_behind)} (a backlog is read a partition at a time): "
            "each symbol's ticks are in order, but a backtest reads the file in its order "
            "and cannot score their forecasts; `limitwatch evaluate FILE` reads it in time "
            "order"
        )

    def limits_changed(self, symbol: str) -> None:
        """Say, once per symbol and recording, that a limit changed while recording is not
        in the file: its header holds the limits of the start, which a replay uses."""
        if self._writer is None or symbol in self._told:
            return
        self._told.add(symbol)
        buy, sell = self._limits.get(symbol, (None, None))
        then = " / ".join("none" if x is None else fmt.price(x) for x in (buy, sell))
        self._notify(
            f"recording: {symbol}'s new limits are not recorded; a replay of it keeps the "
            f"limits it started with ({then}). Set limits before starting a recording.",
            False,
        )

    def write(self, tick: Tick) -> None:
        """Append one tick; closes the file when its tick budget is reached."""
        if self._writer is None:
            return
        try:
            self._writer.write(tick)
        except OSError as exc:
            self._fail(exc)
            return
        back = self._latest - tick.ts
        if back > self._horizon:
            self._behind += 1
            self._most_behind = max(self._most_behind, back)
        elif back < 0.0:
            self._latest = tick.ts
        if self._max is not None and self._writer.count >= self._max:
            self.stop()

    def flush(self) -> bool:
        """Hand what was written to the operating system (a killed process loses none of
        it then); False if the recording failed."""
        if self._writer is not None:
            try:
                self._writer.flush()
            except OSError as exc:
                self._fail(exc)
        return not self.failed

    def _fail(self, exc: OSError) -> None:
        # Which file, and that its last line may be cut where the write failed (a full
        # disk): a backtest stops on such a line, and --skip-bad reads the rest.
        self._notify(
            f"recording to {self.path} stopped: {exc.strerror or exc}; its last line may be "
            "cut (a backtest with --skip-bad skips it)",
            True,
        )
        self._writer = None
        self.path = None
        self.failed = True

    def stop(self) -> None:
        """Close the recording, if one is open, and say how many ticks it holds."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        try:
            writer.close()
            if writer.count == 0 and self.path is not None:
                # A header alone replays as "no ticks after the header": keep nothing.
                Path(self.path).unlink(missing_ok=True)
                said = f"nothing was recorded (no tick was taken); {self.path} not kept"
                self._notify(said, False)
            else:
                self._notify(f"recorded {fmt.count(writer.count, 'tick')} to {self.path}", False)
                if self._behind:
                    self._notify(self._out_of_order(), False)
        except OSError as exc:
            self._notify(f"recording not closed cleanly: {exc.strerror or exc}", True)
        self.path = None
