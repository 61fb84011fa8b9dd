"""The producer's clients keep each partition's order through retries.

A reader takes a tick sent again after its broker came back only if it is newer than the
latest tick of its symbol it has read (the copies are sent oldest first). With librdkafka's
default of a million requests in flight and no idempotence, a request retried after a
later one succeeded lands after it: one newer tick first on the new topic, and every older
copy of its symbol is dropped as read already. That is the signature of a failure seen once
under load (`test_a_broker_frozen_then_killed_loses_no_acknowledged_tick`: 324 acknowledged
ticks of one symbol, from its first unread one on, never read), and too rare to provoke on
purpose, so the setting that rules it out is checked here: every client the thread makes
(the first, and each that replaces a lost or failed one) is made with these settings.
"""

from __future__ import annotations

from typing import Any

import pytest

from producer.generator import MarketGenerator
from producer.kafka_producer import ProducerThread


def _ordered(config: dict[str, Any]) -> bool:
    in_flight = int(config.get("max.in.flight.requests.per.connection", 1_000_000))
    idempotent = str(config.get("enable.idempotence", False)).lower() == "true"
    return in_flight == 1 or (idempotent and in_flight <= 5)


@pytest.mark.parametrize(
    ("given", "in_flight"),
    [
        (None, 1),
        ({"enable.idempotence": "true", "max.in.flight.requests.per.connection": 5}, 5),
    ],
    ids=["shipped", "idempotent"],
)
def test_every_client_of_the_producer_keeps_a_partitions_order_through_retries(
    given: dict[str, object] | None, in_flight: int
) -> None:
    thread = ProducerThread("127.0.0.1:1", MarketGenerator(symbols=2), client_settings=given)
    settings = thread.client_settings(lambda err: None)
    assert _ordered(settings), settings
    assert settings["max.in.flight.requests.per.connection"] == in_flight
