"""The user's librdkafka properties: the Java properties format with environment
references, what limitwatch refuses and why, what only the embedded broker gets, and
secrets blanked out of every text."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from producer.kafka_config import (
    EMBEDDED_ONLY,
    REDACTED,
    Connection,
    KafkaConfigError,
    RedactingFilter,
    check_connection,
    client_config,
    parse_properties,
    parse_property,
    read_properties,
    redact,
    remember_secrets,
)


def test_java_properties_format_with_its_separators_comments_escapes_and_continuations() -> None:
    text = (
        "# a comment\n"
        "! another comment\n"
        "\n"
        "bootstrap.servers=pkc-1.example.com:9092\n"
        "security.protocol : SASL_SSL\n"
        "sasl.mechanism SCRAM-SHA-512\n"
        "  client.id = limit\\\n"
        "      watch\n"
        "ssl.ca.location=C\\:\\\\certs\\\\ca.pem\n"
        "client.rack=r\\u00e9gion-1\n"
    )
    assert parse_properties(text, "f.properties") == {
        "bootstrap.servers": "pkc-1.example.com:9092",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "client.id": "limitwatch",
        "ssl.ca.location": "C:\\certs\\ca.pem",
        "client.rack": "région-1",
    }


def test_environment_references_are_expanded_and_a_missing_one_is_named() -> None:
    env = {"KAFKA_USER": "alice", "KAFKA_PASSWORD": "pw-env"}
    text = "sasl.username=${KAFKA_USER}\nsasl.password=${env:KAFKA_PASSWORD}\nclient.id=$${x}\n"
    props = parse_properties(text, "c.properties", env)
    assert props == {"sasl.username": "alice", "sasl.password": "pw-env", "client.id": "${x}"}
    with pytest.raises(KafkaConfigError, match=r"c.properties:1: .*NOPE is not set"):
        parse_properties("sasl.password=${NOPE}\n", "c.properties", {})


def test_a_managed_services_client_file_is_read_as_it_is_handed_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    text = (
        "# Required connection configs for Kafka producer, consumer, and admin\n"
        "bootstrap.servers=pkc-00000.eu-west-1.aws.confluent.cloud:9092\n"
        "security.protocol=SASL_SSL\n"
        "sasl.mechanisms=PLAIN\n"
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
        "username='CLUSTERKEY' password='cloud-secret-0001';\n"
        "client.dns.lookup=use_all_dns_ips\n"
        "session.timeout.ms=45000\n"
        "acks=all\n"
        "schema.registry.url=https://psrc-0000.eu-central-1.aws.confluent.cloud\n"
        "basic.auth.credentials.source=USER_INFO\n"
        "basic.auth.user.info=SRKEY:registry-secret-0002\n"
    )
    with caplog.at_level(logging.INFO):
        props = parse_properties(text, "client.properties")
    assert props == {
        "bootstrap.servers": "pkc-00000.eu-west-1.aws.confluent.cloud:9092",
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "PLAIN",
        "sasl.username": "CLUSTERKEY",
        "sasl.password": "cloud-secret-0001",
        "session.timeout.ms": "45000",
        "acks": "all",
    }
    assert "client.properties:6: client.dns.lookup is for Java clients only" in caplog.text
    for secret in ("cloud-secret-0001", "registry-secret-0002", "CLUSTERKEY"):
        assert secret not in redact(text)
    check_connection(props)


def test_a_file_that_cannot_be_read_says_so(tmp_path: Path) -> None:
    with pytest.raises(KafkaConfigError, match="cannot read"):
        read_properties(tmp_path / "missing.properties")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("group.id=g", "use --group"),
        ("auto.offset.reset=latest", "--from-beginning"),
        ("sasl.jaas.config=x.GssapiLoginModule required;", "PLAIN and SCRAM login modules"),
        ("ssl.truststore.location=/etc/ts.jks", "ssl.ca.location"),
    ],
)
def test_properties_limitwatch_sets_itself_or_only_java_reads_are_refused(
    text: str, says: str
) -> None:
    with pytest.raises(KafkaConfigError, match=says):
        parse_property(text)
    with pytest.raises(KafkaConfigError, match=says):
        parse_properties(text + "\n", "f")


def test_a_property_without_equals_is_refused_without_repeating_a_secret() -> None:
    with pytest.raises(KafkaConfigError) as caught:
        parse_property("sasl.password")
    assert "expected KEY=VALUE" in str(caught.value)
    # A key left out is said as such ("without '='" where there was one), the value unsaid.
    with pytest.raises(KafkaConfigError) as caught:
        parse_property("=hunter2")
    assert str(caught.value) == "-X: expected KEY=VALUE, got no KEY before '='"


def test_the_embedded_brokers_settings_are_not_forced_on_a_cluster() -> None:
    cluster = client_config(Connection("kafka-1.example.com:9092", {"client.id": "x"}))
    embedded = client_config(Connection("127.0.0.1:9092", embedded=True))
    for key, value in EMBEDDED_ONLY.items():
        assert key not in cluster
        assert embedded[key] == value
    assert cluster["client.id"] == "x"


def test_user_properties_beat_the_defaults_but_not_what_limitwatch_sets() -> None:
    conn = Connection("h:9092", {"socket.connection.setup.timeout.ms": "30000", "linger.ms": "7"})
    conf = client_config(conn, **{"linger.ms": 5, "group.id": "mine"})
    assert conf["socket.connection.setup.timeout.ms"] == "30000"
    assert conf["linger.ms"] == "7"
    assert conf["group.id"] == "mine"
    assert conf["bootstrap.servers"] == "h:9092"


def test_an_invalid_sasl_mechanism_gives_a_clear_error() -> None:
    with pytest.raises(KafkaConfigError) as caught:
        check_connection({"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-1024"})
    text = str(caught.value)
    assert "SCRAM-SHA-1024" in text and "SCRAM-SHA-256" in text and "PLAIN" in text


def test_unknown_properties_and_bad_values_are_refused_before_connecting() -> None:
    with pytest.raises(KafkaConfigError, match="No such configuration property"):
        check_connection({"no.such.property": "1"})
    with pytest.raises(KafkaConfigError, match=r"security\.protocol"):
        check_connection({"security.protocol": "SASL_TLS"})
    with pytest.raises(KafkaConfigError, match=r"sasl\.username and sasl\.password must be set"):
        check_connection({"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN"})
    check_connection(
        {"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", "sasl.username": "u",
         "sasl.password": "p"}
    )  # fmt: skip


def test_properties_that_clash_in_a_consumer_are_refused_before_connecting() -> None:
    """Each value is right alone; together they make librdkafka refuse to create a
    consumer. The producer took them, and the monitor waited for ticks with an empty
    Kafka pane (its consumer's thread had died) and a traceback on quit."""
    with pytest.raises(
        KafkaConfigError, match=r"`receive\.message\.max\.bytes` must be >= `fetch\.max\.bytes`"
    ):
        check_connection({"receive.message.max.bytes": "1000"})
    with pytest.raises(KafkaConfigError, match=r"`fetch\.max\.bytes` must be >="):
        check_connection({"fetch.max.bytes": "1000"})
    check_connection({"receive.message.max.bytes": "100000000"})


def test_secret_values_are_remembered_and_blanked_out_of_text_and_log_records() -> None:
    assert parse_property("sasl.password=pw-redact-1") == {"sasl.password": "pw-redact-1"}
    parse_properties("ssl.key.password=pw-redact-2\n", "f")
    remember_secrets(["pw-redact-3"])
    text = "a pw-redact-1 b pw-redact-2 c pw-redact-3"
    assert redact(text) == f"a {REDACTED} b {REDACTED} c {REDACTED}"

    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "bad %s", ("pw-redact-1",), None)
    try:
        raise ValueError("pw-redact-2 in a traceback")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    formatted = logging.Formatter().format(record)
    assert "pw-redact" not in formatted and REDACTED in formatted


def test_values_of_other_properties_are_not_treated_as_secrets() -> None:
    parse_property("client.id=plainly-visible")
    assert redact("client plainly-visible") == "client plainly-visible"


def test_an_uncaught_exception_is_printed_without_the_secret(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import sys
    import threading

    from tui.runtime.logs import redact_tracebacks

    remember_secrets(["pw-in-a-traceback"])
    saved = sys.excepthook, threading.excepthook
    try:
        redact_tracebacks()
        try:
            raise RuntimeError("connect failed with pw-in-a-traceback")
        except RuntimeError as exc:
            sys.excepthook(type(exc), exc, exc.__traceback__)
        thread = threading.Thread(target=lambda: int("pw-in-a-traceback"))
        thread.start()
        thread.join(5)
    finally:
        sys.excepthook, threading.excepthook = saved
    err = capsys.readouterr().err
    assert "RuntimeError: connect failed with [redacted]" in err
    assert "ValueError" in err and "pw-in-a-traceback" not in err


def test_a_short_secret_is_blanked_where_it_stands_alone_not_out_of_every_word() -> None:
    """A password of "e" had hollowed out every word with an e in it (and given itself
    away by the letters missing): short secrets go only where no letter or digit touches
    them; long ones wherever they are."""
    from producer import kafka_config

    remember_secrets(["e", "long-secret-7"])
    try:
        said = "Kafka refused to authenticate: password=e; token xlong-secret-7y"
        blanked = f"Kafka refused to authenticate: password={REDACTED}; token x{REDACTED}y"
        assert redact(said) == blanked
    finally:  # the process's other texts are not this test's
        kafka_config._secrets.difference_update({"e", "long-secret-7"})


def test_the_partitioner_is_refused_a_symbols_ticks_stay_in_one_partition() -> None:
    with pytest.raises(KafkaConfigError, match="partitioner is set by limitwatch"):
        parse_property("partitioner=random")


def test_a_settings_file_that_never_ends_is_refused_not_read_into_memory(tmp_path: Path) -> None:
    """``--kafka-config /dev/zero`` grew the process by gigabytes; a file past 1 MiB, or a
    device that never ends, is refused at once (the monitor's settings file too)."""
    from tui.runtime import settings

    big = tmp_path / "big.properties"
    big.write_bytes(b"# " + b"x" * (1 << 20) + b"\n")
    for path in (big, Path("/dev/zero")):
        with pytest.raises(KafkaConfigError, match="larger than 1 MiB: not a settings file"):
            read_properties(path)
        loaded, problems = settings.load(path)
        assert loaded == settings.Settings()
        assert problems == [f"{path}: larger than 1 MiB: not a settings file; using the defaults"]
