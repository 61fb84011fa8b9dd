"""Topic set-up: the `prices` topic (key = symbol) and its dead-letter topic.

Topics are created explicitly with the partition count asked for; a broker that
auto-creates topics would otherwise pick its own count (Tansu picks 4).
"""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from producer.kafka_config import client_config

log = logging.getLogger(__name__)

PRICES = "prices"
DEAD_LETTERS_SUFFIX = ".dlq"


def dlq_topic(topic: str) -> str:
    """The dead-letter topic that goes with `topic`."""
    return topic + DEAD_LETTERS_SUFFIX


def ensure_topics(
    bootstrap: str, topic: str = PRICES, partitions: int = 4, timeout: float = 10.0
) -> int:
    """Create `topic` and its dead-letter topic if missing; return `topic`'s partition count.

    An existing topic is used as it is (its partition count is reported, not changed).
    """
    return set_up_topics(bootstrap, topic, partitions, timeout)[0]


def set_up_topics(
    bootstrap: str, topic: str = PRICES, partitions: int = 4, timeout: float = 10.0
) -> tuple[int, dict[str, int]]:
    """:func:`ensure_topics`, also saying which topics it created (name: partitions), so
    that they can be created again on a broker that comes back without them."""
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, got {partitions}")
    admin = AdminClient(client_config(bootstrap))
    created = create_missing(admin, {topic: partitions, dlq_topic(topic): 1}, timeout)
    meta = admin.list_topics(topic=topic, timeout=timeout)
    return len(meta.topics[topic].partitions), created


def create_missing(admin: AdminClient, wanted: dict[str, int], timeout: float) -> dict[str, int]:
    """Create those of `wanted` (name: partitions) the cluster lacks; return the ones this
    call created. Raises KafkaException when the cluster does not answer in `timeout`."""
    existing = admin.list_topics(timeout=timeout).topics
    missing = [
        NewTopic(name, num_partitions=n, replication_factor=1)
        for name, n in wanted.items()
        if name not in existing
    ]
    created: dict[str, int] = {}
    if not missing:
        return created
    futures = admin.create_topics(missing, operation_timeout=timeout, request_timeout=timeout)
    for name, fut in futures.items():
        try:
            fut.result(timeout=timeout)
            log.info("created topic %s with %d partitions", name, wanted[name])
            created[name] = wanted[name]
        except KafkaException as exc:
            err = exc.args[0]
            if not (isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS):
                raise
    return created
