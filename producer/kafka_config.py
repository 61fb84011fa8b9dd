"""Client settings shared by every Kafka client limitwatch creates.

librdkafka writes its logs to stderr unless given a logger, which would corrupt the
terminal UI; every client here logs through Python logging instead.
"""

from __future__ import annotations

import logging
from typing import Any

KAFKA_LOGGER = logging.getLogger("limitwatch.kafka")

#: How the consumer fetches, chosen from measurements (``tests/bench/bench_consumer.py``,
#: figures in the README's Performance section):
#:
#: ``fetch.queue.backoff.ms``
#:     librdkafka stops fetching for this long each time its local queue passes
#:     ``queued.min.messages``; at the default, 1000 ms, a fast consumer spends most of
#:     its time idle waiting for the next fetch. 10 ms keeps it fed.
#: ``fetch.wait.max.ms``
#:     How long the broker may hold a fetch that has too little data: it adds to the
#:     latency of a quiet topic, up to this value, and costs nothing when busy.
#: ``queued.min.messages``
#:     Messages kept ready per partition: several of the worker's ``consume()`` batches.
CONSUMER_SETTINGS: dict[str, Any] = {
    "fetch.queue.backoff.ms": 10,
    "fetch.wait.max.ms": 10,
    "queued.min.messages": 20_000,
}


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
