"""Topic set-up: the `prices` topic (key = symbol) and its dead-letter topic.

Topics are created explicitly with the partition count asked for; a broker that
auto-creates topics would otherwise pick its own count (Tansu picks 4).

Every admin client here is closed by the code that made it, in its thread (``with``, or
:meth:`TopicLook.close`), never left to the garbage collector: an admin client's answers
come on a thread of librdkafka's own, which runs Python there (the futures' callbacks), and a
client collected on its own thread aborts the whole process ("rd_kafka_destroy() called
from librdkafka owned thread is prohibited").
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import AdminClient, NewTopic

from producer.kafka_config import Connection, client_config

log = logging.getLogger(__name__)

#: Errors that no retry mends (wrong credentials, a TLS failure): raised at once instead
#: of after the whole timeout.
REFUSED = (KafkaError._AUTHENTICATION, KafkaError._SSL)
#: The client's words for a cluster that gave no answer at all (not a refusal).
UNANSWERED = (KafkaError._TRANSPORT, KafkaError._TIMED_OUT, KafkaError._ALL_BROKERS_DOWN)

PRICES = "prices"
DEAD_LETTERS_SUFFIX = ".dlq"


def dlq_topic(topic: str) -> str:
    """The dead-letter topic that goes with `topic`."""
    return topic + DEAD_LETTERS_SUFFIX


def ticks_topics(topic: str, partitions: int) -> dict[str, int]:
    """The ticks topic of `partitions` and its dead-letter topic, with their partition
    counts: what a producer of `topic` keeps in place whoever made them."""
    return {topic: partitions, dlq_topic(topic): 1}


def _list_topics(
    admin: AdminClient,
    errors: list[KafkaError],
    timeout: float,
    waiting: Callable[[float], None] | None = None,
) -> set[str]:
    """The cluster's topic names; a refusal (see :data:`REFUSED`) raises at once.
    ``waiting``, where given, is called once if the first second brings no answer, with
    the seconds still to wait (a command that says nothing for ten seconds looks hung)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return set(admin.list_topics(timeout=min(1.0, timeout)).topics)
        except KafkaException:
            admin.poll(0)  # serves the error callback
            refused = next((e for e in errors if e.code() in REFUSED), None)
            if refused is not None:
                raise KafkaException(refused) from None
            left = deadline - time.monotonic()
            if left <= 0:
                raise
            if waiting is not None:
                waiting(left)
                waiting = None


def reach(
    bootstrap: Connection | str,
    timeout: float = 10.0,
    waiting: Callable[[float], None] | None = None,
) -> set[str]:
    """The cluster's topic names: a check that it answers. KafkaException if it does not
    within `timeout`, at once (with librdkafka's reason) if it refuses the credentials;
    `waiting` as in :func:`_list_topics`."""
    errors: list[KafkaError] = []
    with AdminClient(client_config(bootstrap, error_cb=errors.append)) as admin:
        return _list_topics(admin, errors, timeout, waiting)


class TopicLook:
    """What the cluster says of some topics, asked every `every` seconds and never waited
    for: a frozen broker keeps its connections, and a loop that waited stood still with
    it. The consumer, the shared limits' reader and ``--view`` follow with it a topic
    that a broker which came back empty has lost, or created again (another id).

    :meth:`poll` asks when an answer is due and none is pending, and gives the answer
    once it has come: per topic its description (``TopicDescription``: ``topic_id``,
    ``partitions``), or None where the cluster has no such topic; a topic it did not
    answer for (the broker away) is left out. A question unanswered after `lost_s` is
    dropped and asked again.
    """

    def __init__(
        self,
        admin: AdminClient,
        every: float,
        answer_s: float,
        lost_s: float,
        asked: float = -math.inf,
    ) -> None:
        self._admin = admin
        self.every, self.answer_s, self.lost_s = every, answer_s, lost_s
        self._asked = asked  # monotonic time of the latest question
        self._pending: dict[str, Any] = {}  # topic: the future of its answer

    def close(self) -> None:
        """Close the admin client it was given (see the module's note); a question still
        pending is dropped."""
        self._pending = {}
        self._admin.__exit__(None, None, None)

    def ask_soon(self) -> None:
        """Ask at the next :meth:`poll` (once a pending question is answered)."""
        self._asked = -math.inf

    def poll(
        self, names: Sequence[str], now: float, ask: bool = True
    ) -> dict[str, Any | None] | None:
        """The answer about `names` once it has come, else None; asks (where `ask`) when
        none is pending and `every` seconds have passed since the last question."""
        if not self._pending:
            if ask and names and now - self._asked >= self.every:
                self._asked = now
                self._pending = self._admin.describe_topics(
                    TopicCollection(list(names)), request_timeout=self.answer_s
                )
            return None
        if not all(fut.done() for fut in self._pending.values()):
            if now - self._asked > self.lost_s:
                self._pending = {}  # lost: asked again
            return None
        answers, self._pending = self._pending, {}
        out: dict[str, Any | None] = {}
        for name, fut in answers.items():
            try:
                out[name] = fut.result(0)
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                if isinstance(err, KafkaError) and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    out[name] = None  # the cluster has no such topic
            except Exception:  # a question that failed is asked again
                continue
        return out


def ensure_topics(
    bootstrap: Connection | str,
    topic: str = PRICES,
    partitions: int = 4,
    timeout: float = 10.0,
    dead_letters: bool = True,
    waiting: Callable[[float], None] | None = None,
) -> int:
    """Create `topic` and (with `dead_letters`) its dead-letter topic if missing; return
    `topic`'s partition count.

    An existing topic is used as it is (its partition count is reported, not changed).
    Credentials the cluster refuses raise at once, with librdkafka's reason; `waiting` as
    in :func:`_list_topics`.
    """
    return set_up_topics(bootstrap, topic, partitions, timeout, dead_letters, waiting)[0]


def set_up_topics(
    bootstrap: Connection | str,
    topic: str = PRICES,
    partitions: int = 4,
    timeout: float = 10.0,
    dead_letters: bool = True,
    waiting: Callable[[float], None] | None = None,
) -> tuple[int, dict[str, int]]:
    """:func:`ensure_topics`, also saying which topics it created (name: partitions), so
    that they can be created again on a broker that comes back without them."""
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, got {partitions}")
    errors: list[KafkaError] = []
    wanted = {topic: partitions}
    if dead_letters:
        wanted[dlq_topic(topic)] = 1
    with AdminClient(client_config(bootstrap, error_cb=errors.append)) as admin:
        existing = _list_topics(admin, errors, timeout, waiting)
        created = create_missing(admin, wanted, timeout, existing)
        meta = admin.list_topics(topic=topic, timeout=timeout)
    return len(meta.topics[topic].partitions), created


def create_missing(
    admin: AdminClient,
    wanted: dict[str, int],
    timeout: float,
    existing: set[str] | None = None,
    compacted: frozenset[str] = frozenset(),
) -> dict[str, int]:
    """Create those of `wanted` (name: partitions) the cluster lacks, those named in
    `compacted` with ``cleanup.policy=compact``; return the ones this call created.
    Raises KafkaException when the cluster does not answer in `timeout`. `existing`: the
    cluster's topic names when already known."""
    if existing is None:
        existing = set(admin.list_topics(timeout=timeout).topics)
    missing = [
        NewTopic(name, num_partitions=n, replication_factor=1,
                 config={"cleanup.policy": "compact"} if name in compacted else {})
        for name, n in wanted.items()
        if name not in existing
    ]  # fmt: skip
    created: dict[str, int] = {}
    if not missing:
        return created
    futures = admin.create_topics(missing, operation_timeout=timeout, request_timeout=timeout)
    for name, fut in futures.items():
        try:
            fut.result(timeout=timeout)
            kind = "the compacted topic" if name in compacted else "topic"
            log.info("created %s %s with %d partitions", kind, name, wanted[name])
            created[name] = wanted[name]
        except KafkaException as exc:
            err = exc.args[0]
            if not (isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS):
                raise
    return created


def ensure_compacted(
    bootstrap: Connection | str, topic: str, partitions: int = 1, timeout: float = 10.0
) -> None:
    """Create `topic` compacted (``cleanup.policy=compact``: each key's latest value is
    kept) with `partitions` partitions if the cluster lacks it; an existing one is used as
    it is. KafkaException if the cluster refuses."""
    with AdminClient(client_config(bootstrap)) as admin:
        if topic in admin.list_topics(timeout=timeout).topics:
            return
        wanted = NewTopic(topic, num_partitions=partitions, replication_factor=1,
                          config={"cleanup.policy": "compact"})  # fmt: skip
        futures = admin.create_topics([wanted], operation_timeout=timeout, request_timeout=timeout)
        try:
            futures[topic].result(timeout=timeout)
            log.info("created the compacted topic %s with %d partitions", topic, partitions)
        except KafkaException as exc:
            err = exc.args[0]
            if not (isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS):
                raise
