"""Client settings shared by every Kafka client limitwatch creates.

librdkafka writes its logs to stderr unless given a logger, which would corrupt the
terminal UI; every client here logs through Python logging instead.
"""

from __future__ import annotations

import logging
from typing import Any

KAFKA_LOGGER = logging.getLogger("limitwatch.kafka")


def client_config(bootstrap: str, **extra: Any) -> dict[str, Any]:
    """Base configuration: the bootstrap servers, logging into Python, IPv4 first."""
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "logger": KAFKA_LOGGER,
        "broker.address.family": "v4",
        "socket.connection.setup.timeout.ms": 5000,
    }
    conf.update(extra)
    return conf
