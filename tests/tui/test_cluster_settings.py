"""Connecting to any cluster: `-X key=value` and `--kafka-config FILE` reach every Kafka
client, and a secret given through either route, or through the environment, is never
printed (stdout, stderr, the log file, the monitor's error line), even when the value is
wrong and librdkafka or argparse complain about it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from producer.broker import EmbeddedBroker
from producer.kafka_config import Connection
from tests.waiting import wait_until
from tui.runtime.consumer import ConsumerWorker

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.kafka

#: SASL against the embedded broker, which accepts no credentials: every attempt fails.
SASL = ("security.protocol=SASL_PLAINTEXT", "sasl.mechanism=PLAIN", "sasl.username=lw-user")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def _never_shown(secret: str, result: subprocess.CompletedProcess[str], log: Path) -> None:
    assert secret not in result.stdout
    assert secret not in result.stderr
    if log.exists():
        assert secret not in log.read_text(errors="replace")


def _x(*props: str) -> list[str]:
    return [arg for prop in props for arg in ("-X", prop)]


def test_a_secret_through_x_is_never_printed(broker: EmbeddedBroker, tmp_path: Path) -> None:
    secret, log = "lw-secret-via-x-31337", tmp_path / "x.log"
    for command in ("engine", "produce"):
        result = _cli(
            command, "--bootstrap-servers", broker.bootstrap, "--log-file", str(log),
            *_x(*SASL, f"sasl.password={secret}"),
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert "refused to authenticate" in result.stderr, result.stderr
        _never_shown(secret, result, log)
    assert "SASL" in log.read_text()  # librdkafka's own complaint reached the log


def test_a_secret_in_the_file_or_the_environment_is_never_printed(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    in_file, in_env, log = "lw-secret-in-file-4242", "lw-secret-in-env-2424", tmp_path / "f.log"
    lines = [f"bootstrap.servers={broker.bootstrap}", *SASL]
    direct = tmp_path / "direct.properties"
    direct.write_text("\n".join([*lines, f"sasl.password = {in_file}"]) + "\n")
    via_env = tmp_path / "env.properties"
    via_env.write_text("\n".join([*lines, "sasl.password=${LW_TEST_KAFKA_PASSWORD}"]) + "\n")
    for path, secret in ((direct, in_file), (via_env, in_env)):
        result = _cli(
            "record", str(tmp_path / "out.jsonl"), "--kafka-config", str(path),
            "--log-file", str(log),
            env={"LW_TEST_KAFKA_PASSWORD": in_env},
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert "refused to authenticate" in result.stderr, result.stderr
        _never_shown(secret, result, log)


def test_a_secret_that_argparse_would_repeat_is_never_printed(tmp_path: Path) -> None:
    secret, log = "lw-secret-argparse-777", tmp_path / "a.log"
    # '=' forgotten: the password becomes a stray argument, which argparse repeats
    result = _cli("engine", "--log-file", str(log), "-X", "sasl.password", secret)
    assert result.returncode == 2
    assert "unrecognized arguments" in result.stderr
    _never_shown(secret, result, log)
    result = _cli("engine", "--log-file", str(log), "-X", "sasl.password=", secret)
    assert result.returncode == 2
    _never_shown(secret, result, log)
    result = _cli("engine", "--log-file", str(log), "-X", "sasl.password", "-v", secret)
    assert result.returncode == 2
    _never_shown(secret, result, log)


def test_an_invalid_sasl_mechanism_gives_a_clear_error(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    secret, log = "lw-secret-mechanism-55", tmp_path / "m.log"
    result = _cli(
        "engine", "--bootstrap-servers", broker.bootstrap, "--log-file", str(log),
        *_x("security.protocol=SASL_SSL", "sasl.mechanism=SCRAM-SHA-1",
            f"sasl.password={secret}"),
    )  # fmt: skip
    assert result.returncode == 2
    assert "'SCRAM-SHA-1' is not a SASL mechanism" in result.stderr, result.stderr
    assert "SCRAM-SHA-256" in result.stderr and "Traceback" not in result.stderr
    _never_shown(secret, result, log)


def test_the_monitors_error_line_never_shows_a_secret(broker: EmbeddedBroker, topic: str) -> None:
    secret = "lw-secret-monitor-909"
    from producer.kafka_config import remember_secrets

    remember_secrets([secret])  # as reading -X or the file does
    props = dict(p.split("=", 1) for p in SASL)
    worker = ConsumerWorker(
        Connection(broker.bootstrap, {**props, "sasl.password": secret}), topic=topic
    )
    worker.start()
    try:
        snap = wait_until(lambda: (s := worker.latest()) is not None and s.kafka.last_error and s)
    finally:
        worker.stop()
        worker.join(5)
    assert not worker.is_alive()
    assert secret not in snap.kafka.last_error
    # an error text that repeats the value, as a client may: the error line blanks it
    worker._note_error(f"kafka: a message repeating {secret}")
    worker._publish()  # the thread has ended: the test is the only publisher now
    last = worker.latest()
    assert last is not None and "[redacted]" in last.kafka.last_error
    assert secret not in last.kafka.last_error


def test_the_monitor_stops_at_refused_credentials_without_showing_them(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    secret, log = "lw-secret-monitor-cli-64", tmp_path / "mon.log"
    result = _cli(
        "--bootstrap-servers", broker.bootstrap, "--no-producer", "--log-file", str(log),
        "--config", str(tmp_path / "config.toml"), *_x(*SASL, f"sasl.password={secret}"),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "refused to authenticate" in result.stderr
    assert "Check the security settings and credentials" in result.stderr
    _never_shown(secret, result, log)


def test_the_view_stops_at_refused_credentials_as_the_others_do(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """--view said 'could not reach Kafka ... Check --bootstrap-servers' after its whole
    10 s wait, where every other command says the credentials were refused."""
    secret, log = "lw-secret-view-cli-65", tmp_path / "view.log"
    result = _cli(
        "--view", "--bootstrap-servers", broker.bootstrap, "--log-file", str(log),
        "--config", str(tmp_path / "config.toml"), *_x(*SASL, f"sasl.password={secret}"),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "refused to authenticate" in result.stderr, result.stderr
    assert "Check the security settings and credentials" in result.stderr
    _never_shown(secret, result, log)


def test_properties_from_the_file_and_x_reach_the_clients(
    broker: EmbeddedBroker, topic: str, tmp_path: Path
) -> None:
    log = tmp_path / "ok.log"
    conf = tmp_path / "client.properties"
    conf.write_text(f"bootstrap.servers={broker.bootstrap}\nclient.id=lw-from-file\n")
    result = _cli(
        "produce", "--kafka-config", str(conf), "--topic", topic, "--count", "20",
        "--speed", "max", "--log-file", str(log), *_x("linger.ms=1", "acks=all"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "20 produced, 20 delivered, 0 failed" in result.stderr
    refused = _cli(
        "produce", "--kafka-config", str(conf), "--topic", topic, "--count", "1",
        "--log-file", str(log), *_x("no.such.property=1"),
    )  # fmt: skip
    assert refused.returncode == 2
    assert 'No such configuration property: "no.such.property"' in refused.stderr
    assert "limitwatch: -X no.such.property: Kafka settings refused" in refused.stderr
    # set in the file: said with the file and the line, as its other errors are
    conf.write_text(f"bootstrap.servers={broker.bootstrap}\n\nthis=that\n")
    in_file = _cli("produce", "--kafka-config", str(conf), "--log-file", str(log))
    assert in_file.returncode == 2
    assert f"limitwatch: {conf}:3: this: Kafka settings refused: No such configuration " in (
        in_file.stderr
    )
    conf.write_bytes(f"bootstrap.servers={broker.bootstrap}\n".encode("utf-16"))
    utf16 = _cli("produce", "--kafka-config", str(conf), "--log-file", str(log))
    assert utf16.returncode == 2
    assert f"{conf}: not a text file of properties (it holds NUL bytes: UTF-16?" in utf16.stderr
