"""Reading a partition's past again: how a headless engine that is handed partitions (at
its start, or by a rebalance) rebuilds each symbol's state before it emits anything.

An engine in a consumer group starts each partition it is given at the group's committed
offset. What came before that offset made the state of the partition's symbols (their
averages, volatility, drift, warm-up, the signal numbers in the ids, and which signals
are armed); without it a restarted engine starts cold, and its signals differ from those
of an engine that never stopped. So before the first live message, the ticks from where
this process last read the partition (for a partition it never had: the partition's first
retained offset) up to the committed offset are read again, through the same decoding and
checks, and given to the engine with their signals dropped: they were published before.

The read uses a consumer of its own with no group (it commits nothing, and the group does
not see it). It ends when every partition has reached its end offset, when the engine is
stopped, or when nothing arrives for :data:`STALL_S` (a broker that went away): then what
was read stands and the rest is said.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, Message, TopicPartition

from producer.kafka_config import CONSUMER_SETTINGS, Connection, client_config

__all__ = ["STALL_S", "Span", "read_back"]

#: The read gives up on partitions from which nothing arrived for this long, in seconds.
STALL_S = 10.0


@dataclass(frozen=True)
class Span:
    """Offsets ``begin`` (included) to ``end`` (excluded) of one partition to read again."""

    partition: int
    begin: int
    end: int

    @property
    def size(self) -> int:
        return max(0, self.end - self.begin)


@dataclass
class ReadBack:
    """What :func:`read_back` read: how many messages, and the partitions it could not
    read to their end offset (the offset it stopped before)."""

    messages: int = 0
    short: dict[int, int] = field(default_factory=dict)


def read_back(
    connection: Connection | str,
    topic: str,
    spans: list[Span],
    on_batch: Callable[[list[Message]], None],
    stopped: Callable[[], bool],
    batch_size: int = 5000,
    stall_s: float = STALL_S,
) -> ReadBack:
    """Read every span's messages once, in batches, and give them to ``on_batch``.

    Only messages inside their span are given (a partition's messages in offset order).
    Returns what was read; a span not read to its end (``stopped``, or nothing for
    ``stall_s``) is in ``short`` with the offset the read stopped before."""
    todo = {s.partition: s for s in spans if s.size > 0}
    done = ReadBack()
    if not todo:
        return done
    reached = {p: s.begin for p, s in todo.items()}
    consumer = Consumer(
        client_config(
            connection,
            **{
                "group.id": f"limitwatch-rebuild-{id(todo):x}",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                **CONSUMER_SETTINGS,
                "enable.partition.eof": False,
                "allow.auto.create.topics": False,
            },
        )
    )
    try:
        consumer.assign([TopicPartition(topic, p, s.begin) for p, s in todo.items()])
        last_arrival = time.monotonic()
        while todo and not stopped():
            msgs = consumer.consume(num_messages=batch_size, timeout=0.2)
            now = time.monotonic()
            if not msgs:
                if now - last_arrival > stall_s:
                    break
                continue
            last_arrival = now
            taken: list[Message] = []
            for msg in msgs:
                if msg.error() is not None:  # an end-of-partition event, or an error
                    continue
                p = msg.partition()
                span = todo.get(p)
                if span is None:
                    continue
                if msg.offset() >= span.end:  # past the end (the offsets before it may
                    reached[p] = span.end  # hold no record, e.g. a transaction marker)
                    continue
                taken.append(msg)
                reached[p] = msg.offset() + 1
            if taken:
                done.messages += len(taken)
                on_batch(taken)
            finished = [p for p, s in todo.items() if reached[p] >= s.end]
            for p in finished:
                del todo[p]
            if finished and todo:
                consumer.assign([TopicPartition(topic, p, reached[p]) for p in todo])
    finally:
        consumer.close()
    done.short = {p: reached[p] for p in todo}
    return done
