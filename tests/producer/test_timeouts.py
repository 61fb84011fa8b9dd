"""Ticks whose delivery timed out, with a broker that still answers: sent once more,
each alone, and counted failed only if that fails too; nothing else is held or sent
twice. (With a broker that does not answer, a frozen one, they are held with the rest:
tests/tui/test_freeze.py.)"""

from __future__ import annotations

import itertools
import time
from typing import Any

from confluent_kafka import KafkaError

from producer.kafka_producer import ProducerThread
from producer.wire import Tick, encode, mark_resent


class _Answering:
    """A producer client whose broker answers; records what is produced."""

    def __init__(self) -> None:
        self.produced: list[tuple[bytes | None, bytes, Any]] = []

    def list_topics(self, topic: str, timeout: float) -> object:
        return object()

    def produce(self, topic: str, value: bytes, key: bytes | None, headers: object,
                on_delivery: Any) -> None:  # fmt: skip
        self.produced.append((key, value, on_delivery))

    def poll(self, timeout: float) -> int:
        return 0

    def __len__(self) -> int:
        return 0


class _Message:
    def __init__(self, key: bytes, value: bytes) -> None:
        self._key, self._value = key, value

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes:
        return self._value


class _Source:
    name = "none"
    paced = False
    limits: dict[str, tuple[float, float]] = {}  # noqa: RUF012 - never changed

    def __iter__(self) -> Any:
        return itertools.repeat(Tick("A", 1.0, 1.0), 0)


def test_ticks_that_timed_out_are_sent_once_more_and_fail_only_then() -> None:
    thread = ProducerThread("127.0.0.1:1", _Source())  # type: ignore[arg-type]
    client = _Answering()
    thread._producer = client  # type: ignore[assignment]
    thread._delivered = thread._failed = 0
    ticks = [encode(Tick("A", 10.0 + i, 100.0 + i)) for i in range(3)]
    timed_out = KafkaError(KafkaError._MSG_TIMED_OUT)
    for value in ticks:
        thread._on_delivery(timed_out, _Message(b"A", value))  # type: ignore[arg-type]
    assert thread._failed == 0
    assert thread._recover() is False  # the broker answers: no wait, no new client
    assert thread._producer is client and thread._down_since is None
    # Marked retries: never confirmed, they are read though newer ticks came first.
    assert [v for _, v, _ in client.produced] == [
        mark_resent(v, thread._round, retry=True) for v in ticks
    ]
    assert thread._retry == set()
    first, second, third = (report for _, _, report in client.produced)
    first(None, _Message(b"A", ticks[0]))  # delivered this time
    second(timed_out, _Message(b"A", ticks[1]))  # timed out again: failed
    third(KafkaError(KafkaError._PURGE_QUEUE), _Message(b"A", ticks[2]))  # taken back
    assert (thread._delivered, thread._failed, len(thread._taken_back)) == (1, 1, 1)
    assert thread._recover() is False and client.produced[3:] == []  # nothing more


def test_timed_out_ticks_reported_late_by_a_lost_client_go_out_with_the_rest_in_order() -> None:
    """A client replaced after a freeze may still report ticks timed out while the new
    one waits for the broker (its reports come late on a loaded machine). They were left
    for the next round and sent after the newer ticks taken back, and a consumer took
    them, older than what it had read since, for ticks read already: 3,626 delivered
    ticks never read, with nothing said. They are older than those taken back: sent
    first, in event-time order."""
    thread = ProducerThread("127.0.0.1:1", _Source())  # type: ignore[arg-type]
    client = _Answering()
    thread._producer = client  # type: ignore[assignment]
    thread._delivered = thread._failed = 0
    newer = [encode(Tick("A", 20.0 + i, 110.0 + i)) for i in range(3)]
    older = [encode(Tick("A", 10.0 + i, 100.0 + i)) for i in range(3)]
    thread._taken_back = [(b"A", v) for v in newer]
    timed_out = KafkaError(KafkaError._MSG_TIMED_OUT)
    for value in reversed(older):  # reported by the lost client after the merge
        thread._on_delivery(timed_out, _Message(b"A", value))  # type: ignore[arg-type]
    thread._send_again(time.monotonic())
    assert [v for _, v, _ in client.produced] == [
        *(mark_resent(v, thread._round, retry=True) for v in older),  # they timed out
        *(mark_resent(v, thread._round) for v in newer),  # taken back: never sent
    ]
    assert thread._timed_out == [] and thread._taken_back == []


def test_copies_of_delivered_ticks_that_failed_go_out_once_more_in_time_order() -> None:
    """A copy of a delivered tick that timed out going out again, the broker answering:
    sent once more (in time order, keeping a retry's mark); given up if that fails with
    the broker up, kept for the next outage's round if a lost broker took it back."""
    thread = ProducerThread("127.0.0.1:1", _Source())  # type: ignore[arg-type]
    client = _Answering()
    thread._producer = client  # type: ignore[assignment]
    thread._delivered = thread._failed = 0
    ticks = [encode(Tick("A", 10.0 + i, 100.0 + i)) for i in range(3)]
    copies = [
        mark_resent(ticks[2], 7),
        mark_resent(ticks[0], 7, retry=True),
        mark_resent(ticks[1], 7),
    ]
    timed_out = KafkaError(KafkaError._MSG_TIMED_OUT)
    for value in copies:
        thread._on_redelivery(timed_out, _Message(b"A", value))  # type: ignore[arg-type]
    assert thread._recover() is False  # the broker answers: sent once more, at once
    sent = [v for _, v, _ in client.produced]
    assert sent == [
        mark_resent(ticks[0], thread._round, retry=True),  # its mark kept
        mark_resent(ticks[1], thread._round),
        mark_resent(ticks[2], thread._round),
    ]
    first, second, third = (report for _, _, report in client.produced)
    first(None, _Message(b"A", sent[0]))  # delivered: in the window a next loss sends again
    second(timed_out, _Message(b"A", sent[1]))  # failed twice with the broker up: given up
    third(KafkaError(KafkaError._PURGE_QUEUE), _Message(b"A", sent[2]))  # a broker lost
    assert [v for _, _, v in thread._sent] == [sent[0]]
    assert list(thread._copies_lost) == [(b"A", sent[2])]  # for that outage's round
    assert thread._delivered == 0 and thread._failed == 0  # delivered once, counted once
