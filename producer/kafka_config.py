"""Client settings shared by every Kafka client limitwatch creates, and where they come
from: the bootstrap servers, the user's own librdkafka properties (``-X key=value`` and a
``--kafka-config`` file in the Java properties format), and the few settings only the
embedded broker needs.

librdkafka writes its logs to stderr unless given a logger, which would corrupt the
terminal UI; every client here logs through Python logging instead. Secret values
(passwords, keys, tokens) are remembered as they are read so that :func:`redact` can
blank them out of every text limitwatch prints or logs. While a broker is away every
client says the same thing at each try to reconnect; the log keeps the first of such a
run and then one line every :data:`REPEAT_S` seconds with the count left out, so it does
not grow by lines a second for as long as the broker is gone.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KAFKA_LOGGER = logging.getLogger("limitwatch.kafka")
log = logging.getLogger(__name__)

#: Settings for the embedded broker only: it listens on IPv4 loopback. A cluster's own
#: addresses are resolved as librdkafka does by default.
EMBEDDED_ONLY: Mapping[str, Any] = {"broker.address.family": "v4"}
#: limitwatch's defaults for every client; the user's properties override them.
DEFAULTS: Mapping[str, Any] = {
    "socket.connection.setup.timeout.ms": 5000,
    # a broker that comes back is found within a second (librdkafka's default waits up
    # to 10 s between tries to reconnect)
    "reconnect.backoff.max.ms": 1000,
}
#: Properties limitwatch sets itself, and the option that says what the user wants instead.
OWNED: Mapping[str, str] = {
    "group.id": "use --group",
    "auto.offset.reset": "use --from-beginning / --no-from-beginning",
    "enable.auto.commit": "limitwatch commits as its command needs",
    "enable.partition.eof": "limitwatch reads partitions to their end itself",
    # Every tick of a symbol goes to one partition (keyed by the symbol): its order, and
    # how engines split the partitions, rest on it.
    "partitioner": "a symbol's ticks go to the partition of its key",
    "partitioner_cb": "a symbol's ticks go to the partition of its key",
}
#: Properties of Java clients that librdkafka cannot use, and what to give instead.
JAVA_ONLY: Mapping[str, str] = {
    "ssl.truststore.location": "give ssl.ca.location (a PEM file) instead",
    "ssl.truststore.password": "give ssl.ca.location (a PEM file) instead",
    "ssl.keystore.type": "give ssl.certificate.location and ssl.key.location instead",
}
#: Properties of Java clients (and of a schema registry) that change nothing here: a
#: file made for Kafka's own tools or a managed service holds them, so the file's are
#: skipped (and logged); given with -X they are refused.
JAVA_IGNORED = frozenset(
    {
        "client.dns.lookup",
        "key.serializer",
        "value.serializer",
        "key.deserializer",
        "value.deserializer",
        "schema.registry.url",
        "basic.auth.credentials.source",
        "basic.auth.user.info",
    }
)
#: A librdkafka message repeated within this many seconds is counted, not logged.
REPEAT_S = 30.0
#: Different messages remembered at most (the oldest are forgotten).
_REMEMBERED = 1000
_NUMBERS = re.compile(r"\d+")


class _Repeats(logging.Filter):
    """Lets the first of a run of like messages through (like: equal once numbers are
    left out), then one every REPEAT_S seconds saying how many were left out."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[float, int]] = {}  # like-key: (logged at, left out)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        key = _NUMBERS.sub("#", text)
        now = time.monotonic()
        with self._lock:
            logged_at, left_out = self._seen.get(key, (-REPEAT_S, 0))
            if now - logged_at < REPEAT_S:
                self._seen[key] = (logged_at, left_out + 1)
                return False
            if len(self._seen) >= _REMEMBERED:
                self._seen.clear()
            self._seen[key] = (now, 0)
        if left_out:
            record.msg, record.args = f"{text} (and {left_out} like it left out)", None
        return True


KAFKA_LOGGER.addFilter(_Repeats())

#: How the consumer fetches, chosen from measurements (``tests/bench/bench_consumer.py``,
#: figures in the README's Performance section):
#:
#: ``fetch.queue.backoff.ms``
#:     librdkafka stops fetching for this long each time its local queue passes
#:     ``queued.min.messages``; at the default, 1000 ms, a fast consumer spends most of
#:     its time idle waiting for the next fetch. 100 ms keeps it fed.
#: ``fetch.wait.max.ms``
#:     How long the broker may hold a fetch that has too little data. At 10 ms (fastest
#:     in a short benchmark) the consumer asks the embedded broker for data a hundred
#:     times a second per partition; its fetches cost more as it stores more, and at
#:     5,000 ticks/s it ran out of CPU after about 90 s and delivered almost nothing
#:     (``tests/bench/soak.py``). At 500 ms (librdkafka's default) the same soak kept
#:     up: lag at most 3.7 s, no stall over 3.5 minutes.
#: ``queued.min.messages``
#:     Messages kept ready per partition: a worker's ``consume()`` batch. The queue is
#:     native memory that fills whenever the worker falls behind: at 20,000 the app's
#:     memory jumped by up to 14 MiB at a lag spike of an hour-long soak. With the 100 ms
#:     backoff, 5,000 still allow 50,000 ticks/s per partition; on a busy machine the
#:     worker read 15-20% less than at 20,000 (``tests/bench/bench_consumer.py``).
CONSUMER_SETTINGS: dict[str, Any] = {
    "fetch.queue.backoff.ms": 100,
    "fetch.wait.max.ms": 500,
    "queued.min.messages": 5_000,
}

#: The Java login modules whose user name and password librdkafka takes as
#: sasl.username and sasl.password.
_JAAS_MODULES = re.compile(r"\b(PlainLoginModule|ScramLoginModule)\b")
_JAAS_OPTION = re.compile(r"""(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)')""")
#: The SASL mechanisms librdkafka implements.
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "GSSAPI")
#: Property names whose values are secrets: never printed, never logged.
_SECRET_NAME = re.compile(
    r"password|secret|passphrase|jaas|private\.key|key\.pem|^ssl_key$|oauthbearer\.config"
    r"|^sasl\.username$|user\.info"
)
#: What a secret is replaced with.
REDACTED = "[redacted]"

_secrets: set[str] = set()
#: Where the throwaway client of :func:`check_connection` logs: nowhere.
_QUIET = logging.getLogger("limitwatch.kafka.check")
_QUIET.propagate = False
_QUIET.addHandler(logging.NullHandler())


class KafkaConfigError(ValueError):
    """A property, a file or a reference in it that cannot be used; the text says which,
    and never holds a secret value."""


def is_secret(key: str) -> bool:
    """Whether the value of librdkafka property `key` must never be shown.

    >>> is_secret("sasl.password"), is_secret("ssl.key.pem"), is_secret("security.protocol")
    (True, True, False)
    """
    return _SECRET_NAME.search(key.strip().lower()) is not None


def remember_secrets(values: Iterable[str]) -> None:
    """Blank these values out of everything :func:`redact` sees from now on."""
    _secrets.update(v for v in values if v)


#: Secrets at least this long are blanked wherever they occur; shorter ones only where no
#: letter or digit touches them (a password of "e" had hollowed out every word with an e,
#: and given itself away by the letters missing).
WHOLE_SECRET = 6


def redact(text: str) -> str:
    """`text` with every remembered secret replaced by :data:`REDACTED`.

    >>> remember_secrets(["hunter2"]); redact("password 'hunter2' refused")
    "password '[redacted]' refused"
    """
    if not _secrets or not text:
        return text
    for secret in sorted(_secrets, key=len, reverse=True):  # longest first: no partial leak
        if secret not in text:
            continue
        if len(secret) >= WHOLE_SECRET:
            text = text.replace(secret, REDACTED)
        else:  # a short one only where it stands alone: "e" is in most words
            text = re.sub(rf"(?<![\w]){re.escape(secret)}(?![\w])", REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """A handler filter that blanks secrets out of each record, its traceback included."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _secrets:
            return True
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


@dataclass(frozen=True)
class Connection:
    """Where a Kafka client connects and with which of the user's properties.

    ``embedded`` adds :data:`EMBEDDED_ONLY`; ``properties`` (strings, as librdkafka takes
    them) override limitwatch's defaults and tuning, never what limitwatch sets itself.
    """

    bootstrap: str
    properties: Mapping[str, str] = field(default_factory=dict)
    embedded: bool = False


def as_connection(where: Connection | str) -> Connection:
    """A Connection; a bare string is bootstrap servers with limitwatch's defaults only."""
    return where if isinstance(where, Connection) else Connection(where)


def client_config(where: Connection | str, **extra: Any) -> dict[str, Any]:
    """The configuration of one client: limitwatch's defaults, then `extra` (the client's
    own tuning), then the user's properties; the bootstrap servers, the logger, and for the
    embedded broker :data:`EMBEDDED_ONLY`."""
    conn = as_connection(where)
    owned = {key: extra.pop(key) for key in list(extra) if key in OWNED or key.endswith("_cb")}
    conf: dict[str, Any] = {**DEFAULTS, **extra, **conn.properties, **owned}
    conf["bootstrap.servers"] = conn.bootstrap
    conf["logger"] = KAFKA_LOGGER
    if conn.embedded:
        conf.update(EMBEDDED_ONLY)
    return conf


# -- reading the user's properties -----------------------------------------------------------

_REFERENCE = re.compile(r"\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)\}")


def expand(value: str, where: str, env: Mapping[str, str] | None = None) -> str:
    """`value` with each ``${VAR}`` (or Kafka's ``${env:VAR}``) replaced by the
    environment variable; :class:`KafkaConfigError` naming `where` and the variable if one
    is not set. ``$${`` stays a literal ``${``."""
    env = os.environ if env is None else env

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise KafkaConfigError(f"{where}: environment variable {name} is not set")
        return env[name]

    parts = value.split("$${")
    return "${".join(_REFERENCE.sub(one, part) for part in parts)


def check_property(key: str, where: str) -> None:
    """Refuse a property limitwatch sets itself or one librdkafka cannot use."""
    if key in OWNED:
        raise KafkaConfigError(f"{where}: {key} is set by limitwatch: {OWNED[key]}")
    if key in JAVA_ONLY:
        raise KafkaConfigError(
            f"{where}: {key} is read by Java clients only, not by librdkafka; {JAVA_ONLY[key]}"
        )


def jaas_credentials(config: str, where: str) -> dict[str, str]:
    """sasl.username and sasl.password from a Java ``sasl.jaas.config`` of the PLAIN or
    SCRAM login module, as managed services hand them out.

    >>> jaas_credentials(
    ...     "org.apache.kafka.common.security.plain.PlainLoginModule required "
    ...     "username='KEY' password='SECRET';", "f:3")
    {'sasl.username': 'KEY', 'sasl.password': 'SECRET'}
    """
    if _JAAS_MODULES.search(config) is None:
        raise KafkaConfigError(
            f"{where}: only the PLAIN and SCRAM login modules can be read here; "
            "give librdkafka's own sasl.* properties instead"
        )
    options = {m[1]: m[2].replace('\\"', '"') if m[2] is not None else m[3]
               for m in _JAAS_OPTION.finditer(config)}  # fmt: skip
    if "username" not in options or "password" not in options:
        raise KafkaConfigError(f"{where}: expected username='…' and password='…' in it")
    return {"sasl.username": options["username"], "sasl.password": options["password"]}


def _entry(key: str, value: str, where: str) -> dict[str, str]:
    """The librdkafka properties one given property stands for: itself, or what a Java
    login module's configuration holds; secrets among them are remembered."""
    check_property(key, where)
    props = jaas_credentials(value, where) if key == "sasl.jaas.config" else {key: value}
    remember_secrets([v for k, v in props.items() if is_secret(k)] + [value] * is_secret(key))
    return props


def parse_property(text: str, where: str = "-X") -> dict[str, str]:
    """One ``key=value`` as given to ``-X`` (the value may refer to ``${VAR}``), as the
    properties it stands for.

    >>> parse_property("security.protocol=SASL_SSL")
    {'security.protocol': 'SASL_SSL'}
    """
    key, sep, value = text.partition("=")
    key = key.strip()
    if sep and not key:  # the value may be a secret: not repeated
        raise KafkaConfigError(f"{where}: expected KEY=VALUE, got no KEY before '='")
    if not sep:
        shown = key if key and not is_secret(key) and " " not in key else "..."
        raise KafkaConfigError(f"{where}: expected KEY=VALUE, got {shown!r} without '='")
    if key in JAVA_IGNORED:
        raise KafkaConfigError(f"{where} {key}: read by Java clients only; leave it out")
    return _entry(key, expand(value, f"{where} {key}"), f"{where} {key}")


_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _unescape(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2 : i + 6]):
                out.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """Java properties lines: comments and blanks dropped, a line ending in an odd number
    of backslashes continued on the next (whose leading blanks are dropped)."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.lstrip(" \t\f")
        if not pending:
            if not line or line[0] in "#!":
                continue
            start = number
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2 == 1:
            pending.append(line[:-1])
            continue
        pending.append(line)
        yield start, "".join(pending)
        pending = []
    if pending:
        yield start, "".join(pending)


def _split_entry(line: str) -> tuple[str, str]:
    """Key and raw value of one logical line: the key ends at an unescaped ``=``, ``:`` or
    blank; blanks and one separator around it are skipped."""
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "\\":
            i += 2
            continue
        if ch in "=: \t\f":
            break
        i += 1
    key = line[:i]
    rest = line[i:].lstrip(" \t\f")
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(" \t\f")
    return key, rest


def parse_properties(text: str, name: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The properties of a Java ``.properties`` text, ``${VAR}`` references expanded;
    errors say ``NAME:LINE`` and the key, never a value."""
    props: dict[str, str] = {}
    for number, line in _logical_lines(text):
        raw_key, raw_value = _split_entry(line)
        key = _unescape(raw_key).strip()
        where = f"{name}:{number}"
        if not key:
            raise KafkaConfigError(f"{where}: a value without a key")
        if key in JAVA_IGNORED:
            if is_secret(key):  # never read, but never shown either
                remember_secrets([_unescape(raw_value)])
            log.info("%s: %s is for Java clients only; skipped", where, key)
            continue
        value = expand(_unescape(raw_value), f"{where}: {key}", env)
        props.update(_entry(key, value, f"{where}: {key}"))
    return props


#: The largest settings file read: a few hundred lines are a lot of settings.
MOST_SETTINGS_BYTES = 1 << 20


def read_small(path: Path, most: int = MOST_SETTINGS_BYTES) -> bytes:
    """The bytes of settings file `path`, at most `most` of them (ValueError past that):
    ``/dev/zero`` named as one grew the process by gigabytes. A pipe (``<(command)``)
    is read as a file is."""
    with path.open("rb") as fh:
        raw = fh.read(most + 1)
    if len(raw) > most:
        raise ValueError(f"larger than {most // 2**20} MiB: not a settings file")
    return raw


def read_properties(path: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The properties of file `path` (see :func:`parse_properties`)."""
    try:
        raw = read_small(path)
    except OSError as exc:
        raise KafkaConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise KafkaConfigError(f"{path}: {exc}") from None
    if b"\0" in raw:  # read as Latin-1 a UTF-16 file gave 'No such ... property: "ÿþ"'
        raise KafkaConfigError(
            f"{path}: not a text file of properties (it holds NUL bytes: UTF-16? save it as UTF-8)"
        )
    return parse_properties(_text(raw), str(path), env)


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # the Java format's own encoding


def property_line(path: Path, key: str) -> int | None:
    """The line of file `path` that sets `key` last (as :func:`read_properties` reads
    it: the last one counts), or None."""
    try:
        text = _text(read_small(path))
    except (OSError, ValueError):
        return None
    found = None
    for number, line in _logical_lines(text):
        if _unescape(_split_entry(line)[0]).strip() == key:
            found = number
    return found


def check_connection(properties: Mapping[str, str]) -> None:
    """Refuse properties librdkafka would not take, before anything connects: an unknown
    property, a value of the wrong kind, an unknown SASL mechanism. The message never
    holds a secret."""
    from confluent_kafka import Consumer, KafkaException, Producer

    for key in ("sasl.mechanism", "sasl.mechanisms"):
        mech = properties.get(key)
        if mech is not None and mech not in SASL_MECHANISMS:
            raise KafkaConfigError(
                f"{key}={mech!r} is not a SASL mechanism librdkafka knows; "
                f"use one of {', '.join(SASL_MECHANISMS)}"
            )
    # A consumer too, with the settings limitwatch's consumers add: properties that clash
    # with each other only there (receive.message.max.bytes below fetch.max.bytes) left
    # the monitor waiting for ticks with an empty Kafka pane and a traceback on quit.
    consumer = {**DEFAULTS, **CONSUMER_SETTINGS, "group.id": "limitwatch-check", **properties}
    for kind, make, conf in (("producer", Producer, properties), ("consumer", Consumer, consumer)):
        try:
            client = make({**conf, "bootstrap.servers": "", "logger": _QUIET})
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            text = err.str() if hasattr(err, "str") else str(exc)
            text = text.removeprefix(f"Failed to create {kind}: ")
            raise KafkaConfigError(f"Kafka settings refused: {redact(text)}") from None
        if kind == "consumer":
            client.close()
