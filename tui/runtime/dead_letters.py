"""Copies of refused messages on the dead-letter topic, each with its reason and origin.

A message that cannot become a tick is never fatal and never silently lost: it is counted,
logged (a flood of them in a few lines: see :class:`tui.runtime.logs.BoundedLines`; each
has its copy), and copied to ``<topic>.dlq`` with the headers ``limitwatch.reason`` (the text),
``limitwatch.problem`` (the heading it is counted under, e.g. ``too large``),
``limitwatch.origin`` (topic/partition/offset) and ``limitwatch.size`` (the value's length
in bytes). A value longer than :data:`MAX_COPY_BYTES` is copied as its first
:data:`MAX_COPY_BYTES` bytes, so the copy stays under any broker's message size limit;
``limitwatch.size`` keeps the original length. So is a key (a message with a key of
1 MB was refused by the client, and not copied), with ``limitwatch.key_size`` its length.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from confluent_kafka import Producer

from producer.delivery import produce_with_retry
from producer.topics import dlq_topic
from producer.wire import BadTick
from tui.runtime.logs import BoundedLines

__all__ = ["MAX_COPY_BYTES", "DeadLetters"]

log = logging.getLogger(__name__)

#: Waits for room in a full local queue before a copy is given up (about 1 s in all).
_TRIES = 20
_WAIT_S = 0.05
#: Longest value copied whole; longer ones are cut to this prefix (Kafka's default
#: message size limit is about 1 MB).
MAX_COPY_BYTES = 64 * 1024


class DeadLetters:
    """The dead-letter side of one source topic; errors are reported through ``on_error``."""

    def __init__(self, producer: Producer, topic: str, on_error: Callable[[str], None]) -> None:
        self.producer = producer
        self.topic = dlq_topic(topic)
        self.copied = 0
        self._on_error = on_error
        self._lines = BoundedLines(log, logging.WARNING, f"refused messages of {topic}")

    def say_left_out(self, end: bool = False) -> None:
        """Log how many refused messages were not logged one by one, once their while is
        over (`end`: now)."""
        self._lines.say_left_out(end)

    def send(self, msg: Any, bad: BadTick) -> None:
        """Copy ``msg`` (a consumed message) with why it is ``bad``; counts what was copied."""
        origin = f"{msg.topic()}/{msg.partition()}/{msg.offset()}"
        reason = str(bad)
        self._lines.say("refused message at %s: %s", origin, reason)
        value = msg.value()
        size = len(value) if value is not None else 0
        headers = [
            ("limitwatch.reason", reason.encode("utf-8", "replace")[:1000]),
            ("limitwatch.problem", bad.problem.value.encode()),
            ("limitwatch.origin", origin.encode()),
            ("limitwatch.size", str(size).encode()),
        ]
        if size > MAX_COPY_BYTES:
            value = value[:MAX_COPY_BYTES]
        key = msg.key()
        if key is not None and len(key) > MAX_COPY_BYTES:
            headers.append(("limitwatch.key_size", str(len(key)).encode()))
            key = key[:MAX_COPY_BYTES]
        tries = iter(range(_TRIES))
        try:
            queued = produce_with_retry(
                self.producer, self.topic, value, key=key, headers=headers,
                give_up=lambda: next(tries, None) is None, wait_s=_WAIT_S,
            )  # fmt: skip
        except Exception as exc:  # an oversize or otherwise unproducible message
            self._on_error(f"dead-letter: the copy of {origin} was not sent: {exc}")
            return
        if queued:
            self.copied += 1
        else:
            self._on_error("dead-letter queue full; message left in the source topic only")
