"""Every admin client limitwatch makes is closed by the code that made it, never left to the
garbage collector: a client collected on its own background thread (where librdkafka runs
the Python of its answers) aborts the whole process. Checked by librdkafka's threads: an
open admin client keeps one named ``rdk:bg``; with the collector off, only an explicit close
ends it. On the real embedded broker."""

from __future__ import annotations

import gc
import glob
import os
import time
from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient

from producer.broker import EmbeddedBroker
from producer.kafka_config import Connection, client_config
from producer.keeper import BrokerKeeper
from producer.topics import TopicLook, ensure_compacted, reach, set_up_topics
from tests.waiting import wait_until
from tui.runtime.pipeline import Pipeline, PipelineOptions
from tui.runtime.view import ViewOptions, ViewWorker

pytestmark = pytest.mark.kafka


def _admin_threads() -> int:
    names = []
    for path in glob.glob(f"/proc/{os.getpid()}/task/*/comm"):
        try:
            with open(path) as f:
                names.append(f.read().strip())
        except OSError:  # a thread that ended meanwhile
            continue
    return names.count("rdk:bg")


@pytest.fixture
def no_collector() -> Iterator[None]:
    """Nothing left over from before; then no garbage collection until the test ends."""
    gc.collect()
    wait_until(lambda: _admin_threads() == 0, 10, what=lambda: f"{_admin_threads()} open")
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads Linux's /proc")
def test_an_open_admin_client_is_seen_and_a_closed_one_is_not(
    broker: EmbeddedBroker, no_collector: None
) -> None:
    """The check itself: an open client counts, closing it ends its thread."""
    admin = AdminClient(client_config(broker.bootstrap))
    assert _admin_threads() == 1
    admin.__exit__(None, None, None)
    wait_until(lambda: _admin_threads() == 0, 10)


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads Linux's /proc")
def test_topic_set_up_and_looks_close_their_admin_clients(
    broker: EmbeddedBroker, topic: str, no_collector: None
) -> None:
    assert topic not in reach(broker.bootstrap)
    set_up_topics(broker.bootstrap, topic, partitions=2)
    ensure_compacted(broker.bootstrap, f"{topic}-limits")
    look = TopicLook(AdminClient(client_config(broker.bootstrap)), 60.0, 5.0, 6.0)
    assert look.poll([topic], time.monotonic()) is None  # a question pending
    look.close()
    wait_until(lambda: _admin_threads() == 0, 10, what=lambda: f"{_admin_threads()} open")


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads Linux's /proc")
def test_a_monitor_pipeline_and_a_view_leave_no_admin_client_open(
    broker: EmbeddedBroker, topic: str, no_collector: None
) -> None:
    """The consumer's topic look, the shared limits' reader, the keeper and a view's reader,
    each stopped while its questions come and go."""
    pipeline = Pipeline(
        PipelineOptions(bootstrap=broker.bootstrap, topic=topic, limits_topic=f"{topic}-limits")
    )
    pipeline.start()
    keeper = BrokerKeeper(broker.bootstrap, {topic: 1})
    keeper.start()
    view = ViewWorker(ViewOptions(Connection(broker.bootstrap), topic=topic))
    view.start()
    try:
        wait_until(lambda: _admin_threads() >= 4, 20, what=lambda: f"{_admin_threads()} open")
        # Questions asked and answered on the clients' own threads meanwhile: the consumer
        # asks about its topic at once, the keeper about its topics each second.
        wait_until(lambda: (s := pipeline.latest()) is not None and s.kafka.partitions, 30)
        wait_until(lambda: view.latest() is not None, 30)
    finally:
        view.stop()
        keeper.stop()
        assert pipeline.stop(10.0)
        view.join(10.0)
        keeper.join(10.0)
    wait_until(lambda: _admin_threads() == 0, 10, what=lambda: f"{_admin_threads()} open")
