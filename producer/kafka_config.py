"""Client settings shared by every Kafka client limitwatch creates.

librdkafka writes its logs to stderr unless given a logger, which would corrupt the
terminal UI; every client here logs through Python logging instead. While a broker is
away every client says the same thing at each try to reconnect; the log keeps the first
of such a run and then one line every :data:`REPEAT_S` seconds with the count left out,
so it does not grow by lines a second for as long as the broker is gone.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

__all__ = ["KAFKA_LOGGER", "REPEAT_S", "client_config"]

KAFKA_LOGGER = logging.getLogger("limitwatch.kafka")
#: A librdkafka message repeated within this many seconds is counted, not logged.
REPEAT_S = 30.0
#: Different messages remembered at most (the oldest are forgotten).
_REMEMBERED = 1000
_NUMBERS = re.compile(r"\d+")


class _Repeats(logging.Filter):
    """Lets the first of a run of like messages through (like: equal once numbers are
    left out), then one every REPEAT_S seconds saying how many were left out."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[float, int]] = {}  # like-key: (logged at, left out)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        key = _NUMBERS.sub("#", text)
        now = time.monotonic()
        with self._lock:
            logged_at, left_out = self._seen.get(key, (-REPEAT_S, 0))
            if now - logged_at < REPEAT_S:
                self._seen[key] = (logged_at, left_out + 1)
                return False
            if len(self._seen) >= _REMEMBERED:
                self._seen.clear()
            self._seen[key] = (now, 0)
        if left_out:
            record.msg, record.args = f"{text} (and {left_out} like it left out)", None
        return True


KAFKA_LOGGER.addFilter(_Repeats())


def client_config(bootstrap: str, **extra: Any) -> dict[str, Any]:
    """Base configuration: the bootstrap servers, logging into Python, IPv4 first, and a
    broker that comes back found within a second (librdkafka's default waits up to 10 s
    between tries to reconnect)."""
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "logger": KAFKA_LOGGER,
        "broker.address.family": "v4",
        "socket.connection.setup.timeout.ms": 5000,
        "reconnect.backoff.max.ms": 1000,
    }
    conf.update(extra)
    return conf
