"""Logging to a file: the terminal belongs to the UI, so nothing may print there."""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
import traceback
from pathlib import Path
from types import TracebackType

import platformdirs

from producer.kafka_config import RedactingFilter, redact

__all__ = ["LogFileError", "default_log_path", "redact_tracebacks", "setup_logging"]


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


def setup_logging(path: Path | None = None, level: int = logging.INFO) -> Path | None:
    """Send every log record (librdkafka's too, via its logger) to a rotating file.

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
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())  # no secret reaches the file
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    logging.raiseExceptions = False  # a record that cannot be written is never printed
    return target
