"""Logging to a file: the terminal belongs to the UI, so nothing may print there."""

from __future__ import annotations

import logging
import logging.handlers
import math
import sys
import threading
import time
import traceback
from pathlib import Path
from types import TracebackType

import platformdirs

from producer.kafka_config import RedactingFilter, redact

__all__ = [
    "LOG_EVERY_S",
    "LOG_FIRST",
    "BoundedLines",
    "LogFileError",
    "default_log_path",
    "redact_tracebacks",
    "setup_logging",
]


#: Of each kind of line a flood can write (a limits record applied or refused, a refused
#: tick), this many are logged one by one every LOG_EVERY_S seconds; the others are counted
#: and said in one line. A line per record rotated a new engine's log (3 x 5 MB) within a
#: minute, taking with it the lines of its start and of its broker's events.
LOG_FIRST = 10
LOG_EVERY_S = 60.0


class LogFileError(OSError):
    """A log file the user chose cannot be written; the message says which and why."""


def default_log_path() -> Path:
    """limitwatch.log in the user's log directory."""
    return Path(platformdirs.user_log_dir("limitwatch")) / "limitwatch.log"


class SharedRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log that other processes may write too (a monitor and the engines
    started beside it share the default one): a rotation that finds the file rotated
    already by another carries on in the current file, where the standard handler
    printed a logging error and the record's arguments to the terminal."""

    def doRollover(self) -> None:
        try:
            super().doRollover()
        except OSError:
            if self.stream is None:
                self.stream = self._open()


def _open(path: Path) -> logging.Handler:
    path.parent.mkdir(parents=True, exist_ok=True)
    return SharedRotatingFileHandler(path, maxBytes=5_000_000, backupCount=2)


def _print_redacted(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None
) -> None:
    text = "".join(traceback.format_exception(kind, value, tb))
    sys.stderr.write(redact(text))


def _thread_hook(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is not None:
        name = args.thread.name if args.thread is not None else "a thread"
        sys.stderr.write(f"Exception in {name}:\n")
        _print_redacted(args.exc_type, args.exc_value, args.exc_traceback)


def redact_tracebacks() -> None:
    """Print uncaught exceptions, of the main thread and of others, with secrets blanked
    out: a traceback may quote a value it was given."""
    sys.excepthook = _print_redacted
    threading.excepthook = _thread_hook


def setup_logging(
    path: Path | None = None, level: int = logging.INFO, what: str = "monitor"
) -> Path | None:
    """Send every log record (librdkafka's too, via its logger) to a rotating file, each
    line naming the command (``what``) and its process id: the processes of one machine
    share the default file, and one limits record read by five of them was logged five
    times alike, applied or refused by which none could tell.

    ``path`` None means :func:`default_log_path`. A path the user chose must work:
    :class:`LogFileError` if it cannot be opened. The default place is only a
    convenience: if it cannot be written, a one-line warning goes to stderr and the
    records are dropped (never printed, which would corrupt the UI); returns None then.
    """
    default = default_log_path()
    target = default if path is None else path
    try:
        handler = _open(target)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if target != default:
            raise LogFileError(
                f"cannot write the log file {target}: {reason}; choose another --log-file"
            ) from None
        print(
            f"limitwatch: warning: cannot write the log file {target} ({reason}); "
            "carrying on without a log file",
            file=sys.stderr,
        )
        handler, target = logging.NullHandler(), None
    else:
        handler.setFormatter(
            logging.Formatter(
                f"%(asctime)s [{what} %(process)d] %(levelname)s %(name)s: %(message)s"
            )
        )
    handler.addFilter(RedactingFilter())  # no secret reaches the file
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    logging.raiseExceptions = False  # a record that cannot be written is never printed
    return target


class BoundedLines:
    """One kind of line written to `logger`, bounded: the first :data:`LOG_FIRST` of
    every :data:`LOG_EVERY_S` are logged one by one, the others counted and said in one
    line (by :meth:`say_left_out`, or by the next :meth:`say` once that time is over).
    Thread-safe."""

    def __init__(self, logger: logging.Logger, level: int, what: str) -> None:
        self.log = logger
        self.level = level
        self.what = what
        self._lock = threading.Lock()
        self._since = -math.inf  # when the current LOG_EVERY_S began
        self._logged = 0  # lines logged one by one since then
        self._left_out = 0  # ... and lines left out

    def say(self, text: str, *args: object) -> None:
        """Log one line (``text % args``), or count it if enough were logged of late."""
        now = time.monotonic()
        with self._lock:
            summary = self._next_window(now) if now - self._since >= LOG_EVERY_S else None
            one = self._logged < LOG_FIRST
            if one:
                self._logged += 1
            else:
                self._left_out += 1
        if summary:
            self.log.log(self.level, "%s", summary)
        if one:
            self.log.log(self.level, text, *args)

    def say_left_out(self, end: bool = False) -> None:
        """Say how many lines were left out, once their LOG_EVERY_S is over (`end`: now)."""
        now = time.monotonic()
        with self._lock:
            if not self._left_out or (not end and now - self._since < LOG_EVERY_S):
                return
            summary = self._next_window(now)
        self.log.log(self.level, "%s", summary)

    def _next_window(self, now: float) -> str | None:
        """Under the lock: a new LOG_EVERY_S begins; what the last one left out."""
        left_out, since = self._left_out, self._since
        self._since, self._logged, self._left_out = now, 0, 0
        if not left_out:
            return None
        return (
            f"{left_out:,} more {self.what} in {now - since:.0f} s, not logged one by one "
            f"(only the first {LOG_FIRST} of every {LOG_EVERY_S:.0f} s are)"
        )
