"""The keeper of the embedded broker, on real brokers: it gives up after its tries when the
port is taken, and drops a memory budget below what a fresh broker takes instead of
restarting against it forever."""

from __future__ import annotations

import logging
import socket

import pytest

from producer.broker import EmbeddedBroker
from producer.keeper import BrokerKeeper
from tests.waiting import wait_until

pytestmark = pytest.mark.kafka


def test_a_broker_that_cannot_be_restarted_is_tried_then_given_up() -> None:
    broker = EmbeddedBroker()
    broker.start()
    keeper = BrokerKeeper(broker.bootstrap, {}, broker=broker, tries=2)
    keeper.start()
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        broker.kill()
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind((broker.host, broker.port))  # someone else takes the port
        squatter.listen()
        status = wait_until(lambda: (s := keeper.status()).gave_up and s, 30)
        assert "gave up after 2 tries" in status.state
        # The last try's reason: the port found taken or, as seen once on a busy
        # machine, a broker started on it that never answered.
        assert "in use" in status.state or "did not answer" in status.state
        assert status.restarts == 0
    finally:
        keeper.stop()
        keeper.join(5)
        squatter.close()
        broker.stop()


def test_a_broker_given_up_comes_back_once_its_port_is_free() -> None:
    """Given up after its quick tries (another program held the port), the broker was never
    tried again, and the monitor stayed down after the port was free; it is tried every
    `retry_given_up_s` (30 s in use; 0.5 s here)."""
    broker = EmbeddedBroker()
    broker.start()
    keeper = BrokerKeeper(broker.bootstrap, {}, broker=broker, tries=1, retry_given_up_s=0.5)
    keeper.start()
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        broker.kill()
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind((broker.host, broker.port))
        squatter.listen()
        wait_until(lambda: keeper.status().gave_up, 30, what=lambda: keeper.status().state)
        squatter.close()  # the port let go
        back = wait_until(lambda: (s := keeper.status()).restarts == 1 and s, 60,
                          what=lambda: keeper.status().state)  # fmt: skip
        assert not back.gave_up and broker.alive()
        assert "restarted after exit -9, " in back.state
        assert "s after it died (tried every 0.5 s once its first tries failed)" in back.state
    finally:
        keeper.stop()
        keeper.join(5)
        squatter.close()
        broker.stop()


def test_a_broker_that_dies_as_it_restarts_is_tried_again_at_once(
    topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Killed a moment after it came up, the keeper waited for its topics' answer until
    its timeout (5-11 s from death to the next try, the reason "Failed to get metadata");
    it sees the death at once and says it."""
    broker = EmbeddedBroker()
    broker.start()
    restarts: list[int] = []
    real_restart = broker.restart

    def restart_then_die() -> None:
        real_restart()
        restarts.append(broker.pid or 0)
        if len(restarts) == 1:
            broker.kill()  # as it starts: before the topics are created

    broker.restart = restart_then_die  # type: ignore[method-assign]
    caplog.set_level(logging.WARNING, logger="producer.keeper")
    keeper = BrokerKeeper(broker.bootstrap, {topic: 1}, broker=broker, tries=3)
    keeper.start()
    try:
        broker.kill()
        wait_until(lambda: keeper.status().restarts == 1, 30, what=lambda: keeper.status().state)
        assert len(restarts) == 2 and broker.alive()
        failed = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
        assert failed == [
            "restart 1 of the embedded broker failed: it died as it started (exit -9)"
        ], failed
    finally:
        keeper.stop()
        keeper.join(5)
        broker.stop()


def test_a_budget_below_a_fresh_brokers_memory_is_dropped_after_one_restart() -> None:
    with EmbeddedBroker() as broker:
        keeper = BrokerKeeper(broker.bootstrap, {}, broker=broker, budget_bytes=1)
        keeper.start()
        try:
            status = wait_until(lambda: keeper.budget_bytes is None and keeper.status(), 30)
            assert broker.alive()  # (a broker the keeper started ends with its thread)
        finally:
            keeper.stop()
            keeper.join(5)
        assert status.restarts == 1
        assert "below a fresh broker's" in status.state


def test_a_budget_restart_that_fails_midway_does_not_leave_pause_shown() -> None:
    def quiesce() -> tuple[bool, int]:
        raise RuntimeError("the producer could not be paused")

    with EmbeddedBroker() as broker:
        keeper = BrokerKeeper(broker.bootstrap, {}, broker=broker, budget_bytes=1, quiesce=quiesce)
        with pytest.raises(RuntimeError):
            keeper._restart_for_budget(broker, 2)
        assert not keeper.status().pausing
        assert broker.alive()  # nothing was restarted


@pytest.mark.kafka
def test_topics_created_again_keep_compaction(broker: EmbeddedBroker, topic: str) -> None:
    """A compacted topic (the shared limits) lost with its broker comes back compacted."""
    from confluent_kafka.admin import AdminClient, ConfigResource

    from producer.topics import create_missing

    with AdminClient({"bootstrap.servers": broker.bootstrap}) as admin:
        made = create_missing(
            admin, {topic: 1, f"{topic}-plain": 1}, 10.0, compacted=frozenset([topic])
        )
        assert made == {topic: 1, f"{topic}-plain": 1}

        def policy(name: str) -> str:
            res = ConfigResource(ConfigResource.Type.TOPIC, name)
            configs = admin.describe_configs([res], request_timeout=10)[res].result(10)
            entry = configs.get("cleanup.policy")  # a broker may list only what was set
            return entry.value if entry is not None else "delete"

        assert policy(topic) == "compact"
        assert policy(f"{topic}-plain") != "compact"


def test_ticks_still_unread_at_a_budget_restart_are_counted_and_said_first() -> None:
    """The consumer stopped reading up before the restart: what it had not read is lost
    with the broker, and the restart row says so before the pause's figures."""
    with EmbeddedBroker() as broker:
        keeper = BrokerKeeper(
            broker.bootstrap, {}, broker=broker, budget_bytes=1, quiesce=lambda: (False, 209_479)
        )
        keeper._restart_for_budget(broker, 2)
        status = keeper.status()
        assert status.lost == 209_479 and status.restarts == 1
        assert "restarted empty at its budget, 209,479 unread ticks lost with it: " in status.state
        keeper._restart_for_budget(broker, 2)
        assert keeper.status().lost == 2 * 209_479


def test_other_clients_topics_are_made_again_at_a_budget_restart_and_their_loss_said() -> None:
    """Engines and a producer of their own pointed at the monitor's broker: a budget
    restart emptied their topic without a word (27-32% of a stream unread, lost), and
    their producer waited for ever for the topic gone. It comes back with its partitions,
    and the restart row names it."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient

    from producer.topics import create_missing

    with EmbeddedBroker() as broker:
        with AdminClient({"bootstrap.servers": broker.bootstrap}) as admin:
            create_missing(admin, {"ours": 1, "theirs": 3}, 10.0)
        producer = Producer({"bootstrap.servers": broker.bootstrap})
        for k in range(5):
            producer.produce("theirs", value=b"x", partition=k % 3)
        assert producer.flush(10) == 0
        keeper = BrokerKeeper(broker.bootstrap, {"ours": 1}, broker=broker, budget_bytes=1)
        keeper._restart_for_budget(broker, 2)
        state = keeper.status().state
        assert "restarted empty at its budget; other clients' topics emptied too (theirs)" in state
        with AdminClient({"bootstrap.servers": broker.bootstrap}) as admin:
            topics = admin.list_topics(timeout=10).topics
        assert len(topics["theirs"].partitions) == 3 and len(topics["ours"].partitions) == 1


def test_a_cluster_that_refuses_to_make_the_topics_again_is_said_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A producer waiting for its topic says to look at the log where it stays missing;
    the keeper's refusals went unsaid (no answer and a refusal alike were tried again)."""
    from confluent_kafka import KafkaError, KafkaException

    import producer.keeper as keeper_module

    refused = KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "not allowed"))
    silent = KafkaException(KafkaError(KafkaError._TIMED_OUT, "no answer"))
    answers = iter([silent, refused, refused, silent, refused])

    def create_missing(*_args: object, **_kwargs: object) -> dict[str, int]:
        raise next(answers)

    monkeypatch.setattr(keeper_module, "create_missing", create_missing)
    keeper = BrokerKeeper("127.0.0.1:1", {"prices": 4})
    with caplog.at_level(logging.WARNING, logger="producer.keeper"):
        for _ in range(5):
            keeper._keep_topics(None)  # type: ignore[arg-type]
    said = [r.getMessage() for r in caplog.records]
    assert said == ["could not create the missing topics prices again: not allowed"], said
