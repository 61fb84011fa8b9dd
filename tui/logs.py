"""Logging to a file: the terminal belongs to the UI, so nothing may print there."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

import platformdirs


def default_log_path() -> Path:
    """limitwatch.log in the user's log directory."""
    return Path(platformdirs.user_log_dir("limitwatch")) / "limitwatch.log"


def setup_logging(path: Path, level: int = logging.INFO) -> Path:
    """Send every log record (librdkafka's too, via its logger) to a rotating file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=5_000_000, backupCount=2)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    return path
