"""Reading a topic's dead letters back with an independent client, for the Kafka tests."""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition

from producer.broker import EmbeddedBroker
from producer.kafka_config import client_config
from producer.topics import dlq_topic
from tests.waiting import wait_until


def read_dead_letters(
    broker: EmbeddedBroker, topic: str, expected: int
) -> list[tuple[dict[str, str], bytes]]:
    """Headers (decoded) and value of the first `expected` dead letters of `topic`."""
    consumer = Consumer(client_config(broker.bootstrap, **{"group.id": f"{topic}-dlq-reader"}))
    consumer.assign([TopicPartition(dlq_topic(topic), 0, 0)])
    got: list[tuple[dict[str, str], bytes]] = []

    def all_read() -> bool:
        for msg in consumer.consume(100, timeout=0.2):
            if msg.error() is None:
                got.append(({k: v.decode() for k, v in msg.headers() or []}, msg.value()))
        return len(got) >= expected

    try:
        wait_until(all_read, 15, what=lambda: f"dead letters read: {[h for h, _ in got]}")
    finally:
        consumer.close()
    return got
