"""What the cluster says of topics, asked without waiting (producer.topics.TopicLook), on
the real embedded broker: a topic's description, None for a missing one, no question
before its time and none while one is pending."""

from __future__ import annotations

import time

import pytest
from confluent_kafka.admin import AdminClient

from producer.broker import EmbeddedBroker
from producer.kafka_config import client_config
from producer.topics import TopicLook, ensure_topics
from tests.waiting import wait_until

pytestmark = pytest.mark.kafka


def test_a_look_gives_each_topic_its_description_or_none_once_answered(
    broker: EmbeddedBroker, topic: str
) -> None:
    ensure_topics(broker.bootstrap, topic, partitions=3, dead_letters=False)
    look = TopicLook(AdminClient(client_config(broker.bootstrap)), 60.0, 5.0, 6.0)
    try:
        names = [topic, f"{topic}-absent"]
        assert look.poll(names, time.monotonic()) is None  # asked: nothing to give yet
        answers: list[dict] = []

        def answered() -> bool:
            got = look.poll(names, time.monotonic())
            if got is not None:
                answers.append(got)
            return bool(answers)

        wait_until(answered, 10)
        (got,) = answers
        assert sorted(p.id for p in got[topic].partitions) == [0, 1, 2]
        assert got[f"{topic}-absent"] is None
        # the next question waits for `every` (60 s) unless asked for sooner
        assert look.poll(names, time.monotonic()) is None and not look._pending
        look.ask_soon()
        assert look.poll(names, time.monotonic()) is None and look._pending
    finally:
        look.close()
