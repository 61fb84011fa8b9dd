"""librdkafka's log while a broker is away: a run of like messages is logged once, then
once every REPEAT_S with the count left out, so the log does not grow by lines a second."""

from __future__ import annotations

import logging

import pytest

from producer import kafka_config
from producer.kafka_config import KAFKA_LOGGER


def test_a_run_of_like_messages_is_logged_once_then_with_the_count_left_out(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(kafka_config.time, "monotonic", lambda: now[0])
    with caplog.at_level(logging.INFO, logger=KAFKA_LOGGER.name):
        for ms in range(50):  # 50 tries to reconnect in 5 s: alike but for the numbers
            KAFKA_LOGGER.error("Connect to 127.0.0.1:9 failed (after %dms in state CONNECT)", ms)
            now[0] += 0.1
        KAFKA_LOGGER.error("something else")
        now[0] += kafka_config.REPEAT_S
        KAFKA_LOGGER.error("Connect to 127.0.0.1:9 failed (after 7ms in state CONNECT)")
    lines = [r.getMessage() for r in caplog.records if r.name == KAFKA_LOGGER.name]
    assert lines == [
        "Connect to 127.0.0.1:9 failed (after 0ms in state CONNECT)",
        "something else",
        "Connect to 127.0.0.1:9 failed (after 7ms in state CONNECT) (and 49 like it left out)",
    ]
