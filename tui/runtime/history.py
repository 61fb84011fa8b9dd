"""Signals kept across runs of the monitor: a local SQLite database (the standard library's
``sqlite3``) in the user's state directory, bounded by age and by rows.

The worker thread adds each batch of signals as the engine raises them; the monitor shows
the latest ones of earlier runs below the current ones, and exports them to CSV or JSON
lines. A database that cannot be opened or written (a read-only disk, a corrupt file,
another program holding a lock for long) never stops the monitor: the history is switched
off, and :attr:`SignalHistory.problem` says why, for a toast.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import platformdirs

from engine import Signal, SignalKind

log = logging.getLogger(__name__)

#: Signals older than this many days are dropped (at the start and as signals come).
KEEP_DAYS = 30.0
#: At most this many signals are kept; the oldest go first.
KEEP_ROWS = 200_000
#: Rows an export reads at a time.
_EXPORT_PAGE = 5_000
#: Pruning runs again after this many signals are added.
PRUNE_EVERY = 5_000
#: Columns of an export, in order (``limit`` empty for crosses, as ``p_hit`` and ``eta_s``
#: where the engine has none).
EXPORT_COLUMNS = ("run", "symbol", "kind", "seq", "t", "time", "price", "limit", "p_hit", "eta_s")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS signals (
    run REAL NOT NULL,       -- wall time the monitor that raised it started, epoch s
    written REAL NOT NULL,   -- wall time it was stored, epoch s (ages count from it)
    symbol TEXT NOT NULL,
    kind TEXT NOT NULL,
    seq INTEGER NOT NULL,
    t REAL NOT NULL,         -- event time of the tick, epoch s
    price REAL NOT NULL,
    lim REAL,                -- NULL: none (crosses)
    p_hit REAL,
    eta_s REAL
);
CREATE INDEX IF NOT EXISTS signals_written ON signals (written);
CREATE INDEX IF NOT EXISTS signals_symbol ON signals (symbol);
"""
_INSERT = "INSERT INTO signals VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def default_history_path() -> Path:
    """Where the monitor keeps its signals without ``--signal-history``."""
    return Path(platformdirs.user_state_dir("limitwatch")) / "history.sqlite3"


def default_export_dir() -> Path:
    """Where ``e`` writes its exports: a folder in the user's data directory."""
    return Path(platformdirs.user_data_dir("limitwatch")) / "exports"


def _spreadsheet_safe(text: str) -> str:
    """A text cell that a spreadsheet will not run as a formula: a symbol read from a
    topic may start with ``=``, ``+``, ``-`` or ``@`` (OWASP's "CSV injection"), and then
    gets a leading apostrophe, which spreadsheets show as text and do not display."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


class SignalHistory:
    """The signals database: :meth:`add` from any thread, reads for the screen and exports.

    Parameters
    ----------
    path:
        The SQLite file (created with its folder if missing).
    keep_days, keep_rows:
        The bounds: older signals and the oldest beyond ``keep_rows`` are deleted.
    clock:
        Wall time, epoch seconds (tests give their own).
    """

    def __init__(
        self,
        path: Path,
        keep_days: float = KEEP_DAYS,
        keep_rows: int = KEEP_ROWS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.keep_days, self.keep_rows = keep_days, keep_rows
        self._clock = clock
        self.run = clock()
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._since_prune = 0
        #: Signals stored by this run.
        self.added = 0
        #: Why the history is off (empty while it works).
        self.problem = ""
        #: What happened to the file while the history went on (empty if nothing).
        self.notice = ""
        #: The file opened, as (device, inode): another one under its name is not it.
        self._identity: tuple[int, int] | None = None
        try:
            self._open()
            self._prune()
        except (OSError, sqlite3.Error) as exc:
            self._fail("cannot be opened", exc)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=2.0, check_same_thread=False)
        self._db = db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        st = self.path.stat()
        self._identity = (st.st_dev, st.st_ino)

    def _follow_file(self) -> None:
        """Open the file under :attr:`path` again if it is no longer the one open (deleted,
        or replaced, while the monitor runs), with this run's signals copied into it.

        SQLite goes on writing to a file deleted under it, and everything written after
        is lost when it closes, without a word. Only this run's signals are copied: an
        earlier run's that were deleted stay deleted. The old file's write-ahead log and
        shared memory, left under the name, are removed first: SQLite would replay that
        log into a new file of the same name (a restored backup took the old file's
        pages)."""
        assert self._db is not None
        try:
            st = self.path.stat()
            if (st.st_dev, st.st_ino) == self._identity:
                return
            what = "replaced"
        except FileNotFoundError:
            what = "deleted"
        old, self._db = self._db, None
        mine = old.execute("SELECT * FROM signals WHERE run = ?", (self.run,)).fetchall()
        old.close()
        # Closed under a file that moved, SQLite leaves its log under the name: opened
        # again, it would be replayed into the new file (the old file's pages in it).
        for log_file in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                self.path.with_name(self.path.name + log_file).unlink()
        self._open()
        with self._db:
            self._db.executemany(_INSERT, mine)
        # Short enough to read whole in a toast at 80x24; the log names the file.
        kept = f"{len(mine):,} signal{'' if len(mine) == 1 else 's'}"
        self.notice = f"its file was {what}: a new one keeps this run's {kept} and those to come"
        log.warning(
            "signal history %s was %s while the monitor ran: it is kept again there, with "
            "this run's %d signals so far (not earlier runs')", self.path, what, len(mine),
        )  # fmt: skip

    @property
    def enabled(self) -> bool:
        """Whether signals are being stored."""
        return self._db is not None

    def _fail(self, what: str, exc: BaseException) -> None:
        self.problem = (
            f"signal history {what} ({self.path}: {exc}); it is off for this run (--signal-history "
            "FILE to use another file, --no-signal-history to go without)"
        )
        log.warning("%s", self.problem)
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
        self._db = None

    def _prune(self) -> None:
        assert self._db is not None
        with self._db:
            self._db.execute(
                "DELETE FROM signals WHERE written < ?", (self._clock() - self.keep_days * 86400,)
            )
            self._db.execute(
                "DELETE FROM signals WHERE rowid <= (SELECT MAX(rowid) FROM signals) - ?",
                (self.keep_rows,),
            )
        self._since_prune = 0

    def add(self, signals: Iterable[Signal]) -> None:
        """Store signals (the worker's ``on_signals``); a failure switches the history off."""
        now = self._clock()
        rows = [
            (self.run, now, s.symbol, s.kind.name, s.seq, s.t, s.price, _none(s.limit),
             _none(s.p_hit), _none(s.eta_s))
            for s in signals
        ]  # fmt: skip
        if not rows:
            return
        with self._lock:
            if self._db is None:
                return
            try:
                self._follow_file()
                with self._db:
                    self._db.executemany(_INSERT, rows)
                self.added += len(rows)
                self._since_prune += len(rows)
                if self._since_prune >= PRUNE_EVERY:
                    self._prune()
            except (OSError, sqlite3.Error) as exc:
                self._fail("could not be written", exc)

    def _select(
        self, where: str, args: tuple[object, ...], limit: int | None, order: str = "DESC"
    ) -> list[tuple]:
        with self._lock:
            if self._db is None:
                return []
            sql = (
                "SELECT run, symbol, kind, seq, t, price, lim, p_hit, eta_s FROM signals "
                f"{where} ORDER BY t {order}, rowid {order}"
            )
            if limit is not None:
                sql += f" LIMIT {int(limit)}"
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                self._fail("could not be read", exc)
                return []

    @staticmethod
    def _signal(row: tuple) -> Signal:
        _run, symbol, kind, seq, t, price, lim, p_hit, eta_s = row
        return Signal(
            str(symbol), SignalKind[kind], int(seq), float(t), float(price), _nan(lim),
            _nan(p_hit), _nan(eta_s),
        )  # fmt: skip

    def past(self, limit: int) -> list[Signal]:
        """The latest ``limit`` signals of earlier runs, newest first (unknown kinds, from
        a newer limitwatch, are left out)."""
        return [
            self._signal(row)
            for row in self._select("WHERE run < ?", (self.run,), limit)
            if row[2] in SignalKind.__members__
        ]

    def rows(
        self, symbol: str | None = None, kinds: Iterable[str] | None = None
    ) -> Iterator[tuple]:
        """Every stored signal (of ``symbol``, of ``kinds``), oldest first, as
        :data:`EXPORT_COLUMNS` without ``time``."""
        where, args = [], []
        if symbol is not None:
            where.append("symbol = ?")
            args.append(symbol)
        if kinds is not None:
            kinds = sorted(kinds)
            where.append(f"kind IN ({', '.join('?' for _ in kinds)})")
            args += kinds
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        if self._db is None:
            return
        # Its own read-only connection, a page at a time: the database is in WAL mode, so
        # the worker's inserts go on while an export of 200,000 rows reads (under the
        # shared lock they waited for the whole read, and the consumer with them).
        sql = (
            "SELECT run, symbol, kind, seq, t, price, lim, p_hit, eta_s FROM signals "
            f"{clause} ORDER BY t ASC, rowid ASC"
        )
        try:
            reader = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise OSError(f"cannot read the signal history {self.path}: {exc}") from None
        try:
            cursor = reader.execute(sql, tuple(args))
            while page := cursor.fetchmany(_EXPORT_PAGE):
                yield from page
        except sqlite3.Error as exc:
            raise OSError(f"cannot read the signal history {self.path}: {exc}") from None
        finally:
            reader.close()

    def export(
        self,
        out: Path,
        *,
        symbol: str | None = None,
        kinds: Iterable[str] | None = None,
        jsonl: bool = False,
    ) -> int:
        """Write the stored signals (of ``symbol``, of ``kinds``), oldest first, to ``out``
        as CSV with a header row (:data:`EXPORT_COLUMNS`) or as JSON lines; how many.

        ``time`` is the event time in ISO 8601 (UTC); a value the engine has none for is
        empty in CSV and null in JSON. Raises OSError if the file cannot be written or
        exists already.
        """
        import datetime as dt

        if out.parent.exists() and not out.parent.is_dir():  # said as "File exists"
            raise NotADirectoryError(errno.ENOTDIR, f"{out.parent} is a file, not a folder")
        out.parent.mkdir(parents=True, exist_ok=True)
        count = 0
        f = out.open("x", encoding="utf-8", newline="")  # never over another file
        try:
            with f:
                writer = None if jsonl else csv.writer(f)
                if writer is not None:
                    writer.writerow(EXPORT_COLUMNS)
                for run, sym, kind, seq, t, price, lim, p_hit, eta_s in self.rows(symbol, kinds):
                    when = dt.datetime.fromtimestamp(t, tz=dt.UTC).isoformat()
                    values = (run, sym, kind, seq, t, when, price, lim, p_hit, eta_s)
                    if writer is not None:
                        cells = ["" if v is None else v for v in values]
                        cells[1] = _spreadsheet_safe(sym)
                        writer.writerow(cells)
                    else:
                        f.write(json.dumps(dict(zip(EXPORT_COLUMNS, values, strict=True))) + "\n")
                    count += 1
        except OSError:  # a full disk: no empty or cut file left behind under its name
            with contextlib.suppress(OSError):
                out.unlink()
            raise
        return count

    def close(self) -> None:
        """Close the database (the worker has stopped adding)."""
        with self._lock:
            if self._db is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._db.close()
                self._db = None
