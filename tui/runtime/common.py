"""What every command shares: opening a source from the options, the Kafka connection
the options describe, and one-line errors (secrets blanked out)."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import socket
import sys
import threading
from collections.abc import Callable, Mapping

from confluent_kafka import KafkaError, KafkaException

from producer.kafka_config import (
    Connection,
    KafkaConfigError,
    check_connection,
    parse_property,
    property_line,
    read_properties,
    redact,
)
from producer.lookahead import LookaheadReader
from producer.source import Source
from producer.sources import open_source
from producer.topics import UNANSWERED, dlq_topic
from tui.runtime.format import literal


def kafka_reason(exc: KafkaException) -> str:
    """The readable part of a KafkaException."""
    err = exc.args[0] if exc.args else None
    return err.str() if hasattr(err, "str") else str(exc)


def _tls(properties: Mapping[str, str] | None) -> str:
    """The security protocol asked for where it speaks TLS (SSL, SASL_SSL), else ""."""
    protocol = str((properties or {}).get("security.protocol", "")).upper()
    return protocol if protocol.endswith("SSL") else ""


def kafka_problem(
    bootstrap: str, exc: KafkaException, properties: Mapping[str, str] | None = None
) -> str:
    """What went wrong talking to Kafka at `bootstrap`, in one line (`properties`: the
    client settings asked for, -X and --kafka-config)."""
    err = exc.args[0] if exc.args else None
    if isinstance(err, KafkaError) and err.code() == KafkaError._AUTHENTICATION:
        return f"Kafka at {bootstrap} refused to authenticate: {kafka_reason(exc)}"
    listening = [address for address in _addresses(bootstrap) if _answers(*address)]
    # A TLS handshake with a plaintext listener waits, and the client says only that the
    # transport failed or timed out; a broker's own error code says it answered.
    unanswered = not isinstance(err, KafkaError) or err.code() in UNANSWERED
    if listening and _tls(properties) and unanswered:
        host, port = listening[0]
        return (
            f"could not reach Kafka at {bootstrap}: a program listens at {host}:{port} but "
            f"the TLS handshake with it did not complete (security.protocol="
            f"{_tls(properties)}: is that listener TLS? A plaintext one never answers it); "
            f"{kafka_reason(exc)}"
        )
    if listening:  # reached, but no Kafka there: a web server, another service
        host, port = listening[0]
        return (
            f"could not reach Kafka at {bootstrap}: a program listens at {host}:{port} but "
            "does not answer as Kafka (another service on that port, or a broker that is "
            f"stopped or frozen?); {kafka_reason(exc)}"
        )
    why = _unreached(_addresses(bootstrap))
    return f"could not reach Kafka at {bootstrap}{why}: {kafka_reason(exc)}"


def _unreached(addresses: list[tuple[str, int]]) -> str:
    """Why no address of a bootstrap list answered, where it can be told: a host name
    that does not resolve, or nothing listening (the client's own words, 'Broker
    transport failure', say neither)."""
    if not addresses:
        return ""
    host, port = addresses[0]
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return f" (no such host: {host} does not resolve)"
    return f" (nothing answers at {host}:{port})"


def _host_port(entry: str) -> tuple[str, str]:
    """An entry of a bootstrap list as (host, port as written): 9092 where it gives none,
    as librdkafka takes it."""
    address = entry.strip().rpartition("://")[2]
    host, colon, port = address.rpartition(":")
    if address.endswith("]") or not colon:  # [::1] or a host alone
        return address.strip("[]"), "9092"
    return host.strip("[]"), port


def _addresses(bootstrap: str) -> list[tuple[str, int]]:
    """The (host, port) of each entry of a bootstrap list that names one."""
    pairs = [_host_port(entry) for entry in bootstrap.split(",")]
    return [(host, int(port)) for host, port in pairs if host and port.isdigit()]


def _answers(host: str, port: int) -> bool:
    """Whether something accepts a TCP connection at host:port within a second."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


#: The prefixes a bootstrap entry may carry, as librdkafka reads them (a listener's
#: security protocol).
_LISTENER_SCHEMES = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")


def check_bootstrap(bootstrap: str) -> None:
    """KafkaConfigError for a bootstrap list that cannot name a broker: an entry without a
    host, or a port that is not a number between 1 and 65535 (librdkafka tries such an
    address for ten seconds before it says why)."""
    for entry in bootstrap.split(","):
        host, port = _host_port(entry)
        scheme, sep, rest = entry.strip().partition("://")
        if sep and scheme.upper() not in _LISTENER_SCHEMES:  # http://, a web address
            raise KafkaConfigError(
                f"--bootstrap-servers {bootstrap!r}: {entry.strip()!r} is a web address; "
                f"Kafka takes HOST:PORT (write {rest.rstrip('/')!r})"
            )
        if not host or not (port.isdigit() and 1 <= int(port) <= 65535):
            raise KafkaConfigError(
                f"--bootstrap-servers {bootstrap!r}: {entry.strip()!r} is not HOST:PORT "
                "with a port between 1 and 65535"
            )


def kafka_advice(
    exc: KafkaException,
    where: str = "Check --bootstrap-servers.",
    properties: Mapping[str, str] | None = None,
) -> str:
    """What to check after `exc`: the credentials where the cluster refused them (the
    address was right), the security protocol too where TLS was asked for, else `where`."""
    err = exc.args[0] if exc.args else None
    if isinstance(err, KafkaError) and err.code() in (KafkaError._AUTHENTICATION, KafkaError._SSL):
        return "Check the security settings and credentials (--kafka-config, -X)."
    unanswered = not isinstance(err, KafkaError) or err.code() in UNANSWERED
    if _tls(properties) and unanswered:
        return f"Check security.protocol (--kafka-config, -X), then {where[0].lower()}{where[1:]}"
    return where


def kafka_fail(
    bootstrap: str, exc: KafkaException, properties: Mapping[str, str] | None = None
) -> int:
    advice = kafka_advice(exc, properties=properties)
    return fail(f"{kafka_problem(bootstrap, exc, properties)}. {advice}")


def say(message: str) -> None:
    """``message`` on stderr after ``limitwatch:``, its secrets redacted and what a
    terminal would act on shown as escapes: a message repeats what it was given (a
    ``--bootstrap-servers`` holding an escape sequence recoloured the terminal and set its
    title)."""
    print(f"limitwatch: {literal(redact(message), keep=chr(10))}", file=sys.stderr, flush=True)


def still_waiting(bootstrap: str) -> Callable[[float], None]:
    """What a command says when the cluster at ``bootstrap`` has not answered within a
    second (``waiting`` of :func:`producer.topics.reach`), and why where it can be told
    at once: without it an engine pointed at a broker that is down said nothing for ten
    seconds, then that nothing answered there."""

    def said(left: float) -> None:
        # Why, where it can be told at once (nothing listening, a name that does not
        # resolve): it was said only at the end of the wait.
        addresses = _addresses(bootstrap)[:3]
        why = "" if any(_answers(*a) for a in addresses) else _unreached(addresses)
        say(f"no answer yet from Kafka at {bootstrap}{why}; waiting {left:.0f} s more…")

    return said


def quiet_stdout() -> None:
    """Standard output that failed (a full disk, a reader gone) pointed at /dev/null:
    Python's own flush at exit would fail again and print "Exception ignored" with a
    traceback."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def fail(message: str) -> int:
    say(message)
    return 2


#: The topics a command may name, by option.
_TOPIC_OPTIONS = (
    ("--topic", "topic"),
    ("--signals-topic", "signals_topic"),
    ("--indicators-topic", "indicators_topic"),
    ("--limits-topic", "limits_topic"),
)


def topic_clash(args: argparse.Namespace) -> str | None:
    """Why two of the command's topics are one (None if they are not): an engine told to
    publish its signals to the ticks topic read them back as bad ticks, dead-lettered
    each, and every other reader of that topic counted them too.

    >>> print(topic_clash(argparse.Namespace(topic="k1", signals_topic="k1")))
    --topic and --signals-topic both name 'k1': give each a topic of its own
    (the ticks topic carries prices only)
    >>> print(topic_clash(argparse.Namespace(topic="prices", limits_topic="prices.dlq")))
    --limits-topic names 'prices.dlq', the dead-letter topic of --topic 'prices':
    give it another
    >>> topic_clash(argparse.Namespace(topic="prices", signals_topic="signals", limits_topic=None))
    """
    seen: dict[str, str] = {}
    ticks = getattr(args, "topic", None)
    for option, attr in _TOPIC_OPTIONS:
        name = getattr(args, attr, None)
        if not name:
            continue
        if name in seen:
            why = " (the ticks topic carries prices only)" if seen[name] == "--topic" else ""
            return (
                f"{seen[name]} and {option} both name {name!r}: give each a topic of its own{why}"
            )
        if ticks and attr != "topic" and name == dlq_topic(ticks):
            return (
                f"{option} names {name!r}, the dead-letter topic of --topic {ticks!r}: "
                "give it another"
            )
        seen[name] = option
    return None


def resolve_kafka(args: argparse.Namespace) -> None:
    """Read ``--kafka-config`` and ``-X`` into ``args.kafka_properties`` (a dict; ``-X``
    beats the file) and check them; ``bootstrap.servers`` among them sets
    ``--bootstrap-servers`` unless that was given. Raises KafkaConfigError."""
    props: dict[str, str] = {}
    if args.kafka_config is not None:
        props.update(read_properties(args.kafka_config))
    for text in args.kafka_properties:
        props.update(parse_property(text))
    bootstrap = props.pop("bootstrap.servers", None)
    if not args.bootstrap_servers and bootstrap:
        args.bootstrap_servers = bootstrap
    if args.bootstrap_servers:
        check_bootstrap(args.bootstrap_servers)
    if props:
        try:
            check_connection(props)
        except KafkaConfigError as exc:
            raise KafkaConfigError(_where_set(str(exc), args)) from None
    args.kafka_properties = props


def _where_set(message: str, args: argparse.Namespace) -> str:
    """`message` (librdkafka refusing a property it names in quotes) led by where that
    property was set: ``FILE:LINE`` of --kafka-config, or -X, which beats the file."""
    for name in re.findall(r'"([^"\n]{1,200})"', message):
        if any(text.partition("=")[0].strip() == name for text in args.kafka_properties):
            return f"-X {name}: {message}"
        if args.kafka_config is not None:
            line = property_line(args.kafka_config, name)
            if line is not None:
                return f"{args.kafka_config}:{line}: {name}: {message}"
    return message


def connection(args: argparse.Namespace) -> Connection:
    """The cluster a headless command talks to (``--bootstrap-servers`` and properties)."""
    return Connection(args.bootstrap_servers, dict(args.kafka_properties))


#: The generator's ticks a second when --rate is not given.
DEFAULT_RATE = 50.0


def rate_unused(args: argparse.Namespace, spec: str) -> str | None:
    """What to say when ``--rate`` was given for a source other than the generator, which
    it does not pace (a file was sent at its own times, and nothing said so)."""
    rate = getattr(args, "rate", None)
    if rate is None or spec == "generator":
        return None
    return (
        f"--rate {rate:g} paces the generator only: {spec} keeps its own times (--speed "
        "scales a file's)"
    )


def open_source_from(
    args: argparse.Namespace, spec: str, stop: threading.Event, stdin: LookaheadReader | None = None
) -> Source:
    rate = DEFAULT_RATE if args.rate is None else args.rate
    return open_source(
        spec, seed=args.seed, rate=rate, symbols=args.symbols, loop=args.loop,
        skip_bad=args.skip_bad, stop=stop, stdin=stdin,  # type: ignore[arg-type]
        additive=getattr(args, "additive", ()),
    )  # fmt: skip
