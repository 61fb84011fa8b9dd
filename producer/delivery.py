"""Queueing a message on a Kafka producer without dropping it when the local queue is full.

The producer thread and the dead-letter path share this one rule: wait for room (serving
delivery reports meanwhile) until the caller says to give up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import Producer

__all__ = ["delivery_summary", "produce_with_retry", "undelivered"]


def undelivered(published: int, delivered: int, failed: int, not_queued: int) -> int:
    """Messages queued (``published``) that were neither delivered nor failed yet;
    ``failed`` counts those a full queue refused too (``not_queued``), never queued.
    (librdkafka's own count of what it still holds adds requests in flight.)"""
    return published - delivered - (failed - not_queued)


def delivery_summary(
    what: str, topic: str, published: int, delivered: int, failed: int, not_queued: int
) -> str:
    """``N whats published to topic, D delivered, F failed[, L not delivered when it
    stopped]``, where N = D + F + L: every message tried, queued or not; ``what`` in the
    singular, made plural unless N is 1.

    >>> delivery_summary("signal", "signals", 1, 1, 0, 0)
    '1 signal published to signals, 1 delivered, 0 failed'
    """
    left = undelivered(published, delivered, failed, not_queued)
    stopped = f", {left:,} not delivered when it stopped" if left else ""
    tried = published + not_queued
    return (
        f"{tried:,} {what}{'' if tried == 1 else 's'} published to {topic}, "
        f"{delivered:,} delivered, {failed:,} failed{stopped}"
    )


def produce_with_retry(
    producer: Producer,
    topic: str,
    value: bytes,
    *,
    key: bytes | None = None,
    headers: list[tuple[str, bytes]] | None = None,
    on_delivery: Callable[[Any, Any], None] | None = None,
    give_up: Callable[[], bool],
    wait_s: float = 0.05,
) -> bool:
    """Queue one message; while the local queue is full, wait ``wait_s`` and try again.

    ``give_up`` is asked after each wait; True ends the attempt. Returns whether the
    message was queued. Errors other than a full queue (an oversize message, an unknown
    topic) are raised to the caller, which knows what to count.
    """
    while True:
        try:
            producer.produce(topic, value=value, key=key, headers=headers, on_delivery=on_delivery)
            return True
        except BufferError:
            # The local queue is full (broker slow or gone): wait for room, do not drop.
            producer.poll(wait_s)
            if give_up():
                return False
