"""What a headless engine publishes: each signal on the `signals` topic (key: symbol;
value: the signal's JSON line, with its stable id), and the input offsets committed only
once what was published for them is delivered.

At least once: after a crash or a rebalance the ticks since the last commit are read
again and their signals published again, with the same ids, so readers drop duplicates
by id. Duplicates are bounded by one commit interval. Everything here runs in the
consumer worker's thread.
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from engine import Signal
from producer.delivery import delivery_summary, produce_with_retry, undelivered
from producer.kafka_config import KAFKA_LOGGER, Connection, client_config, redact
from tui.runtime.jsonout import signal_json

__all__ = ["COMMIT_INTERVAL_S", "SIGNALS", "PositionCommitter", "SignalPublisher"]

log = logging.getLogger(__name__)

#: The topic signals go to unless told otherwise.
SIGNALS = "signals"
#: How often input offsets are committed (after a flush of what was published).
COMMIT_INTERVAL_S = 1.0
#: Longest wait for deliveries before a forced commit (a revocation, the close).
FLUSH_S = 2.0
#: Commit answers that say the partitions went to another member meanwhile (a freeze or a
#: restart of the broker past the session timeout): no fault, the next owner reads on.
_HANDED_OVER = (
    KafkaError._ASSIGNMENT_LOST,
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.REBALANCE_IN_PROGRESS,
)
#: Waits for room in a full local queue before a signal is given up (about 5 s).
_TRIES = 100


#: What a failed commit means for the user (librdkafka says only "Local: Waiting for
#: coordinator" when a broker is away as the engine stops).
NOT_COMMITTED = (
    " (positions not committed: the next reader of those partitions reads again from the "
    "last commit)"
)


class PositionCommitter:
    """Commits the consumer's positions: those of the ticks the worker has handled (their
    signals handed on), at most once per ``commit_interval_s``, and at once on a
    revocation and at the close. The worker's ``committer`` where nothing is published:
    librdkafka's own commits take the positions of every tick read, and a close after a
    failure to write the signals committed those of the batch whose signals were lost.
    The worker calls :meth:`commit` after each batch, on a revocation (``force``) and
    :meth:`close` before it closes its consumer (without ``commit`` after a failure).
    """

    def __init__(self, commit_interval_s: float = COMMIT_INTERVAL_S) -> None:
        self.commit_interval_s = commit_interval_s
        self.commits = 0
        self._failure = ""  # the last failure but a commit's
        self._commit_error = ""  # the last commit's failure, until a commit succeeds
        self._last_commit = time.monotonic()
        #: The positions last committed (or asked to be): an unchanged one is not again.
        self._committed_at: dict[tuple[str, int], int] = {}

    def _ready(self, force: bool) -> bool:
        """Whether what the positions cover is out (always, where nothing is sent)."""
        return True

    def commit(self, consumer: Consumer, force: bool = False) -> bool:
        """Commit the consumer's positions if what they cover is out; at most once per
        interval unless `force`. True if the positions are committed now."""
        now = time.monotonic()
        if not force and now - self._last_commit < self.commit_interval_s:
            return False
        if not self._ready(force):
            return False
        self._last_commit = now
        try:
            # The positions now, every signal up to them delivered: an asynchronous commit
            # of "the positions" takes them when librdkafka's thread gets to it, maybe
            # after the next read, whose signals are not out yet.
            parts = consumer.assignment()
            offsets = [tp for tp in consumer.position(parts) if tp.offset >= 0] if parts else []
            at = {(tp.topic, tp.partition): tp.offset for tp in offsets}
            if not offsets or (at == self._committed_at and not force):
                return False  # nothing read yet, or nothing since the last commit
            self._committed_at = at
            # The periodic commit never waits for the broker: one frozen (its connections
            # kept) held a waiting commit, and with it the engine, for as long as it
            # stayed frozen (its answer comes to committed()). A forced one, at a hand-
            # over or at the end, is waited for.
            consumer.commit(offsets=offsets, asynchronous=not force)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if isinstance(err, KafkaError):
                self.committed(err, [])
            else:
                self._note_commit(f"commit: {exc}{NOT_COMMITTED}")
            return False
        if force:
            self._commit_succeeded()
        return True

    def committed(self, err: KafkaError | None, _partitions: list[TopicPartition]) -> None:
        """The answer to a commit (the consumer's ``on_commit`` for an asynchronous one). A
        commit whose partitions went to another member meanwhile (:data:`_HANDED_OVER`) is
        no fault: the next owner reads on from the last commit."""
        if err is None:
            self._commit_succeeded()
            return
        self._committed_at = {}  # asked again at the next interval
        if err.code() in _HANDED_OVER:
            log.info("commit: %s", err.str())
        elif err.code() != KafkaError._NO_OFFSET:
            self._note_commit(f"commit: {err.str()}{NOT_COMMITTED}")

    def close(self, consumer: Consumer, commit: bool = True) -> None:
        """Commit the positions (before the consumer closes) unless not to ``commit``."""
        if commit:
            self.commit(consumer, force=True)

    @property
    def last_error(self) -> str:
        """The last failure, and a commit's while no commit has succeeded since ("" if
        none): an engine's closing line told of a commit that failed as its broker
        restarted, eight minutes and hundreds of good commits before."""
        return "; ".join(e for e in (self._failure, self._commit_error) if e)

    def _commit_succeeded(self) -> None:
        self.commits += 1
        self._commit_error = ""

    def _note_commit(self, text: str) -> None:
        self._commit_error = redact(text)
        log.warning("%s", text)

    def _note(self, text: str) -> None:
        self._failure = redact(text)
        log.warning("%s", text)


class SignalPublisher(PositionCommitter):
    """Publishes signals and commits the consumer's offsets after their delivery.

    Give :meth:`publish` as the worker's ``on_signals`` and the publisher itself as its
    ``committer`` (see :class:`PositionCommitter`).
    """

    def __init__(
        self,
        connection: Connection | str,
        topic: str = SIGNALS,
        commit_interval_s: float = COMMIT_INTERVAL_S,
    ) -> None:
        super().__init__(commit_interval_s)
        self.topic = topic
        self.producer = Producer(
            client_config(connection, **{"linger.ms": 5, "acks": "all", "error_cb": self._error})
        )
        # Signals queued, delivered and failed (in delivery, or refused by a full queue,
        # `not_queued`: never among those queued).
        self.published = 0
        self.delivered = 0
        self.failed = 0
        self.not_queued = 0

    def publish(self, signals: list[Signal]) -> None:
        """Queue each signal (key: symbol, value: its JSON line with the stable id)."""
        for sig in signals:
            tries = iter(range(_TRIES))
            queued = produce_with_retry(
                self.producer, self.topic, signal_json(sig).encode(),
                key=sig.symbol.encode(), on_delivery=self._delivered,
                give_up=lambda tries=tries: next(tries, None) is None,
            )  # fmt: skip
            if queued:
                self.published += 1
            else:
                self.not_queued += 1
                self._fail("the local queue stayed full; a signal was not published")
        self.producer.poll(0)

    def commit(self, consumer: Consumer, force: bool = False) -> bool:
        """Commit the consumer's positions if every signal so far is delivered; at most
        once per interval unless `force`. True if the positions are committed now.

        Without `force` it never waits: signals still on their way put the commit off
        to the worker's next look. With `force` it waits up to :data:`FLUSH_S`."""
        self.producer.poll(0)
        return super().commit(consumer, force)

    def _ready(self, force: bool) -> bool:
        if self.failed:
            return False  # what failed is read again after a restart, never skipped
        undelivered = self.producer.flush(FLUSH_S) if force else len(self.producer)
        return not undelivered  # else not all delivered yet

    def close(self, consumer: Consumer, commit: bool = True) -> None:
        """Deliver what is queued and commit what it covers (before the consumer closes);
        without ``commit``, only deliver. Both within :data:`FLUSH_S` together: with the
        broker frozen, the commit's wait and then a second one of its own held an engine
        4 s at Ctrl-C."""
        until = time.monotonic() + FLUSH_S
        super().close(consumer, commit)
        # its count holds requests in flight too
        self.producer.flush(max(0.0, until - time.monotonic()))
        if self.left:  # the summary says so; the log too (not twice on one line)
            log.warning("%d signals were not delivered before the engine stopped", self.left)

    @property
    def left(self) -> int:
        """Signals queued that were neither delivered nor failed (yet)."""
        return undelivered(self.published, self.delivered, self.failed, self.not_queued)

    def summary(self) -> str:
        """What became of the signals (:func:`~producer.delivery.delivery_summary`) and of
        the offsets."""
        counts = (self.published, self.delivered, self.failed, self.not_queued)
        said = delivery_summary("signal", self.topic, *counts)
        times = "once" if self.commits == 1 else f"{self.commits:,} times"
        return f"{said}; offsets committed {times}"

    def _delivered(self, err: KafkaError | None, _msg: Message) -> None:
        if err is None:
            self.delivered += 1
        else:
            self._fail(f"signal not delivered: {err.str()}")

    def _fail(self, text: str) -> None:
        self.failed += 1
        self._note(text)

    def _error(self, err: KafkaError) -> None:
        KAFKA_LOGGER.warning("signals producer: %s", err.str())  # runs of like ones cut short
