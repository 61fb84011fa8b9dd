"""--bootstrap-servers checked before any wait, and a failed connection told apart: no
program at the address, or one that does not speak Kafka."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest
from confluent_kafka import KafkaError, KafkaException

from producer.kafka_config import KafkaConfigError
from tui.runtime.common import check_bootstrap, kafka_fail, kafka_problem


@pytest.mark.parametrize(
    "bootstrap",
    ["127.0.0.1:9092", "broker", "a:1,b:65535", "[::1]:9092", "[::1]", "SSL://kafka.example:9093"],
)
def test_addresses_librdkafka_takes_are_taken(bootstrap: str) -> None:
    check_bootstrap(bootstrap)


@pytest.mark.parametrize("bootstrap", ["127.0.0.1:99999", ":9092", "a:1,b:x", "h:0", "h:"])
def test_an_address_that_names_no_broker_is_refused_at_once(bootstrap: str) -> None:
    with pytest.raises(KafkaConfigError, match="is not HOST:PORT with a port between 1 and 65535"):
        check_bootstrap(bootstrap)


@pytest.mark.parametrize(
    ("bootstrap", "write"),
    [
        ("http://127.0.0.1:19392", "127.0.0.1:19392"),
        ("a:1,https://kafka.example:9093/", "kafka.example:9093"),
    ],
)
def test_a_web_address_is_refused_with_the_host_and_port_to_write(
    bootstrap: str, write: str
) -> None:
    # It read "a program listens there but does not answer as Kafka (another service?)".
    with pytest.raises(
        KafkaConfigError, match=f"is a web address; Kafka takes HOST:PORT \\(write '{write}'\\)"
    ):
        check_bootstrap(bootstrap)


@contextlib.contextmanager
def _listening() -> Iterator[int]:
    """A port on 127.0.0.1 where a program listens (and answers nothing) meanwhile."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def test_a_program_that_listens_but_is_not_kafka_is_told_apart_from_none() -> None:
    failure = KafkaException(KafkaError(KafkaError._TRANSPORT))
    with _listening() as port:
        said = kafka_problem(f"127.0.0.1:{port}", failure)
    assert f"a program listens at 127.0.0.1:{port} but does not answer as Kafka" in said
    assert "or a broker that is stopped or frozen?" in said  # a frozen Tansu answers so
    closed = kafka_problem(f"127.0.0.1:{port}", failure)  # the socket is closed now
    assert closed.startswith(
        f"could not reach Kafka at 127.0.0.1:{port} (nothing answers at 127.0.0.1:{port}): "
    )
    assert "listens" not in closed
    unknown = kafka_problem("nonexistent.invalid:9092", failure)
    assert unknown.startswith(
        "could not reach Kafka at nonexistent.invalid:9092 "
        "(no such host: nonexistent.invalid does not resolve): "
    )


def test_tls_asked_of_a_listener_that_never_completes_it_is_named_as_such(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # -X security.protocol=SSL against a plaintext broker was blamed on the address ("a
    # program listens ... but does not answer as Kafka ... Check --bootstrap-servers");
    # only the log said "Connection setup timed out in state SSL_HANDSHAKE".
    failure = KafkaException(KafkaError(KafkaError._TRANSPORT))
    with _listening() as port:
        code = kafka_fail(f"127.0.0.1:{port}", failure, {"security.protocol": "ssl"})
        plain = kafka_problem(f"127.0.0.1:{port}", failure, {"security.protocol": "PLAINTEXT"})
    said = capsys.readouterr().err
    assert code == 2
    assert (
        f"a program listens at 127.0.0.1:{port} but the TLS handshake with it did not "
        "complete (security.protocol=SSL: is that listener TLS?"
    ) in said, said
    assert "Check security.protocol (--kafka-config, -X), then check --bootstrap-servers." in said
    assert "does not answer as Kafka" in plain and "TLS" not in plain
    # a broker's own error: it answered, whatever its TLS (a managed SASL_SSL cluster)
    answered = KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))
    with _listening() as port:
        said = kafka_problem(f"127.0.0.1:{port}", answered, {"security.protocol": "SASL_SSL"})
    assert "TLS" not in said


def test_a_message_repeating_an_address_does_not_pass_its_escapes_to_the_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An address holding an escape sequence is shown as escapes: printed as given it
    recoloured the terminal and set its title."""
    bad = "\x1b[31mRED\x1b]0;PWNED\x07:9092"  # a host that does not resolve
    assert kafka_fail(bad, KafkaException(KafkaError(KafkaError._TRANSPORT))) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err
    assert err.startswith(
        "limitwatch: could not reach Kafka at \\x1b[31mRED\\x1b]0;PWNED\\x07:9092"
    )
