"""The embedded broker: loopback only, ours, noticed when the port is taken, gone on stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

import psutil
import pytest
from confluent_kafka.admin import AdminClient

from producer.broker import BrokerError, EmbeddedBroker
from producer.kafka_config import client_config
from producer.topics import dlq_topic, ensure_topics
from tests.waiting import wait_until

pytestmark = pytest.mark.kafka


def test_broker_listens_on_loopback_only(broker: EmbeddedBroker) -> None:
    assert broker.pid is not None
    listening = [
        c for c in psutil.Process(broker.pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]  # fmt: skip
    assert listening, "the broker listens on no socket"
    assert {c.laddr.ip for c in listening} == {"127.0.0.1"}
    assert {c.laddr.port for c in listening} == {broker.port}


def test_broker_is_the_one_we_started(broker: EmbeddedBroker) -> None:
    with AdminClient(client_config(broker.bootstrap)) as admin:
        assert admin.list_topics(timeout=5).cluster_id == broker.cluster_id


def test_port_in_use_is_reported_clearly() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        b = EmbeddedBroker(port=port)
        with pytest.raises(BrokerError, match=rf"127\.0\.0\.1:{port}.*(in use|did not answer)"):
            b.start(timeout=5)
        assert not b.alive()


def test_port_held_by_another_broker_is_reported(broker: EmbeddedBroker) -> None:
    with pytest.raises(BrokerError, match=r"in use|another broker"):
        EmbeddedBroker(port=broker.port).start(timeout=5)


def test_a_broker_killed_as_it_starts_is_said_to_be_killed_not_a_taken_port() -> None:
    """Killed within 0.1 s of its start, five times running, it was reported as "port ...
    is already in use by another program", where nothing else had used the port."""
    b = EmbeddedBroker()
    killed: list[int] = []

    def kill_at_once() -> None:
        wait_until(lambda: b._proc is not None, 10)
        assert b._proc is not None
        os.kill(b._proc.pid, signal.SIGKILL)
        killed.append(b._proc.pid)

    thread = threading.Thread(target=kill_at_once)
    thread.start()
    try:
        with pytest.raises(BrokerError, match=r"^the embedded broker was killed \(SIGKILL\)"):
            b.start(timeout=10)
    finally:
        thread.join(10)
        b.stop()
    assert killed and not b.alive()


def test_stop_leaves_no_process_and_no_workdir() -> None:
    b = EmbeddedBroker()
    b.start()
    pid = b.pid
    workdir = b._workdir
    assert pid is not None and psutil.pid_exists(pid)
    b.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert workdir is not None
    import os

    assert not os.path.exists(workdir)


def test_broker_dies_when_its_parent_is_killed(tmp_path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from producer.broker import EmbeddedBroker
        b = EmbeddedBroker()
        b.start()
        print(b.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        assert psutil.pid_exists(child_pid)
        parent.kill()
        parent.wait(5)
        wait_until(lambda: _gone(child_pid), 5, what="the broker outlived its killed parent")
    finally:
        if parent.poll() is None:
            parent.kill()


def test_topics_are_created_with_the_partitions_asked_for(
    broker: EmbeddedBroker, topic: str
) -> None:
    assert ensure_topics(broker.bootstrap, topic, partitions=3) == 3
    # a second call keeps the topic as it is
    assert ensure_topics(broker.bootstrap, topic, partitions=5) == 3
    with AdminClient(client_config(broker.bootstrap)) as admin:
        assert dlq_topic(topic) in admin.list_topics(timeout=5).topics


def test_impossible_partition_count_is_refused(broker: EmbeddedBroker, topic: str) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ensure_topics(broker.bootstrap, topic, partitions=0)


def _gone(pid: int) -> bool:
    """Whether process `pid` has ended (a zombie has: only its entry is left)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_start_removes_working_directories_whose_owner_is_gone(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    child = subprocess.Popen(["true"])
    child.wait()  # its pid now names a process that is gone
    stale = tmp_path / f"limitwatch-broker-{child.pid}-k1ll3d"
    (stale / "sub").mkdir(parents=True)
    (stale / "sub" / "broker.log").write_text("left behind")
    alive = tmp_path / f"limitwatch-broker-{os.getppid()}-running"  # a running owner
    alive.mkdir()
    unowned = tmp_path / "limitwatch-broker-nopid"  # no owner in the name: not ours to judge
    unowned.mkdir()
    with EmbeddedBroker() as b:
        ours = [
            p for p in tmp_path.iterdir() if p.name.startswith(f"limitwatch-broker-{os.getpid()}-")
        ]
        assert len(ours) == 1 and b.alive()
        assert not stale.exists()
        assert alive.is_dir() and unowned.is_dir()
    assert not ours[0].exists()


def test_a_place_the_broker_cannot_be_unpacked_is_said_with_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """~/.calfkit a file: it said "the embedded broker binary could not be found"."""
    from producer.broker import broker_binary

    (tmp_path / ".calfkit").write_text("not a directory")
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(BrokerError) as info:
        broker_binary()
    said = str(info.value)
    assert said.startswith(f"the embedded broker cannot be installed in {tmp_path}/.calfkit")
    assert "Not a directory" in said and "give --bootstrap-servers" in said
