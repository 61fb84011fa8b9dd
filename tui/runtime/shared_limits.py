"""Limits shared through Kafka: what a user sets with a key in one monitor reaches every
engine and every other monitor on the cluster.

Each decision is a record on the compacted `limits` topic, keyed by symbol, whose value
states both limits in full (``{"symbol": "ACME", "buy": 148.0, "sell": null, "by": ...,
"t": ...}``; ``null`` is no limit on that side). Compaction keeps each symbol's latest, so
a process started later reads the topic from its start and knows everyone's current
limits; records are applied in the order the topic holds them (one partition), so the
latest decision wins everywhere.

A process skips the records it wrote itself (it applied them when it sent them), and
another's record of a symbol while its own change of that symbol is still on its way
(that record precedes its own in the topic, so everyone ends with its own). A record
that cannot be read, or whose limits the engine's rule refuses (:func:`to_worker` asks
:func:`engine.limits.limit_problem` as the engine does, so a negative buy limit of a
symbol that is not a quantity is refused here, not applied), is counted by reason and
logged, never applied and never fatal. The reader is one thread with its own consumer,
its partitions assigned (no group to join) and always read from the start; it hands each
record to ``apply``, which forwards it to the engine's thread as a command.

What a flood of records cannot do: grow memory without bound (a process keeps the
decisions of at most :data:`MAX_KNOWN` symbols, or the engine's ``max_symbols`` if more:
those set most recently, its own and those its engine tracks; the first time older ones
are forgotten it says so once, and :attr:`SharedLimitsStats.forgotten` counts them), or
rotate the log (of each kind of line a record writes, the first ``LOG_FIRST`` of every
``LOG_EVERY_S`` are logged one by one, the rest in one line with their count: see
:class:`tui.runtime.logs.BoundedLines`).

A broker that comes back without the topic (an embedded one restarted empty) has lost
every decision. The reader asks about the topic every :data:`CHECK_S`; when it is
missing it creates it again, and when it is a new topic (another id) it reads it from
its start and then shares again every decision it knows, its own and the others' it
applied, that the new topic lacks: the processes that outlived the broker put the
limits back for those that start after it (waiting at most :data:`AGAIN_WAIT_S` in all
for room in the producer's queue, then saying in one line how many it could not share).
Such a record is marked ``again``: it gives way to any decision of the topic's own read
before it (so a user's decision made since the restart stands, whichever of the two
lands first), and a process that holds its limits already does not apply it (a limit set
again re-arms its signals). (They kept
reading the old topic's position, past the new one's end, and never applied another
record; a later process knew none of the limits.)
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass
from itertools import islice
from typing import Annotated, Any

import msgspec
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from engine.limits import limit_problem, same_limit
from producer.kafka_config import KAFKA_LOGGER, Connection, client_config, redact
from producer.topics import TopicLook, ensure_compacted
from producer.wire import MAX_SYMBOL_LEN, symbol_problem, twice_in
from tui.runtime.commands import SetLimits
from tui.runtime.consumer import ConsumerWorker
from tui.runtime.logs import BoundedLines

__all__ = [
    "LIMITS",
    "MAX_KNOWN",
    "LimitRecord",
    "SharedLimits",
    "SharedLimitsStats",
    "ToWorker",
    "decode",
    "encode",
]

log = logging.getLogger(__name__)

#: The topic limits are shared on unless told otherwise.
LIMITS = "limits"
#: Longest wait for the topic to be set up or a record to be delivered, in seconds.
TIMEOUT_S = 10.0
#: Longest wait at the start for the limits others set to be read, in seconds.
CATCH_UP_S = 3.0
#: How often the reader asks whether the topic is still the one it reads, in seconds.
CHECK_S = 2.0
#: Symbols whose latest decision a process keeps at least (the engine's default
#: ``max_symbols``; an engine allowed more keeps as many as it may track). 300,000 records
#: of distinct symbols took a monitor from 107 to 265 MB, and after a broker restart every
#: process shared them all again, overflowing its producer's queue.
MAX_KNOWN = 10_000
#: Longest wait, in all, for room in the producer's queue while sharing again the limits a
#: topic created again lacks, in seconds; what is left then is said in one line.
AGAIN_WAIT_S = TIMEOUT_S


class LimitRecord(msgspec.Struct, forbid_unknown_fields=False, omit_defaults=True):
    """One decision: `symbol`'s limits from now on (None: no limit on that side), who
    made it (`by`) and when (`t`, Unix seconds). A symbol is bounded as a tick's is: the
    limits of a 900 KB name were parked, logged whole, and there may be 10,000 of them.
    `again`: an earlier decision shared again into a topic created again (written only
    when true). `side`: the only side the user set ("buy" or "sell"; written only then):
    the other is stated for agreement and set where it differs, not re-set (setting a
    limit re-arms its signals: a buy limit moved re-fired a SELL of a price above an
    unchanged sell limit everywhere else)."""

    symbol: Annotated[str, msgspec.Meta(max_length=MAX_SYMBOL_LEN)]
    buy: float | None
    sell: float | None
    by: Annotated[str, msgspec.Meta(max_length=200)] = ""
    t: float = 0.0
    again: bool = False
    side: str = ""


_DECODER = msgspec.json.Decoder(LimitRecord)
#: The fields of a record that decide what it does, as paths and as written in its JSON.
_RECORD_PATHS = (("symbol",), ("buy",), ("sell",), ("side",))
_RECORD_NAMES = (b'"symbol"', b'"buy"', b'"sell"', b'"side"')
_ENCODER = msgspec.json.Encoder()


def encode(
    symbol: str, buy: float, sell: float, by: str, t: float, again: bool = False, side: str = ""
) -> bytes:
    """A record's value; NaN (no limit) is written as null."""
    return _ENCODER.encode(
        LimitRecord(
            symbol,
            buy if math.isfinite(buy) else None,
            sell if math.isfinite(sell) else None,
            by,
            t,
            again,
            side,
        )
    )


def decode(key: bytes | None, value: bytes | None) -> LimitRecord | str:
    """The record in a message, or what is wrong with it (in words, for the count)."""
    if value is None:
        return "no value"
    try:
        record = _DECODER.decode(value)
    except msgspec.DecodeError as exc:
        return f"not a limits record ({str(exc)[:80]})"
    except RecursionError:  # a field nested a thousand deep: it stopped the reader for good
        return "not a limits record (JSON nested too deeply)"
    # A decoder keeps the last of a field given twice, another program the first: a
    # record that reads as two decisions is none (a tick's fields are refused so too).
    twice = twice_in(value, _RECORD_PATHS, _RECORD_NAMES)
    if twice is not None:
        return f"a field given twice ({twice})"
    if not record.symbol:
        return "no symbol"
    problem = symbol_problem(record.symbol)
    if problem is not None:
        return f"symbol {problem}"
    if record.side not in ("", "buy", "sell"):
        return "side is neither buy nor sell"
    if key is not None and key != record.symbol.encode():
        return "key and symbol differ"
    for side in (record.buy, record.sell):
        if side is not None and not math.isfinite(side):
            return "a limit that is not a finite number"
    buy = math.nan if record.buy is None else record.buy
    sell = math.nan if record.sell is None else record.sell
    # Whether a limit may be 0 or below is the engine's to say (a quantity's may); the
    # order of the two is everyone's rule.
    problem = limit_problem(buy, sell, additive=True)
    if problem is not None:
        return f"impossible limits ({problem})"
    return record


def _same_limits(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Both sides equal, NaN (no limit) equal to NaN."""
    return all(same_limit(x, y) for x, y in zip(a, b, strict=True))


class ToWorker:
    """An ``apply`` that hands each record to `worker`'s engine as a command; a symbol the
    stream has not carried (it may never) gets its limits with its first tick, no row
    before. Limits the engine would refuse (:func:`engine.limits.limit_problem`, with the
    engine's own word on whether the symbol is a quantity) are not handed on: the call
    returns why (None when handed on), and the record is counted as refused.

    It also tells :class:`SharedLimits` what to keep: as many decisions as the engine may
    track symbols (:attr:`max_symbols`), and those of the symbols it tracks
    (:meth:`tracked`) before any other."""

    def __init__(self, worker: ConsumerWorker) -> None:
        self.worker = worker
        self.max_symbols = worker.config.max_symbols
        self._additive = worker.engine.is_additive  # fixed patterns: safe in any thread
        self._tracked: tuple[int, frozenset[str]] = (-1, frozenset())

    def __call__(self, symbol: str, buy: float, sell: float, side: str) -> str | None:
        problem = limit_problem(buy, sell, additive=self._additive(symbol))
        if problem is not None:
            return problem
        self.worker.send(SetLimits(symbol, buy, sell, register=False, side=side))
        return None

    def tracked(self) -> frozenset[str]:
        """The symbols the engine tracks, as its latest snapshot has them."""
        snap = self.worker.latest()
        if snap is None:
            return frozenset()
        seq, names = self._tracked
        if seq != snap.seq:
            names = frozenset(snap.engine.symbols)
            self._tracked = (snap.seq, names)
        return names


def to_worker(worker: ConsumerWorker) -> ToWorker:
    """The ``apply`` of a process whose engine runs in `worker` (see :class:`ToWorker`)."""
    return ToWorker(worker)


def origin_name() -> str:
    """Who a process's records say made them: host, process id and a random part (two
    processes of one host and pid, years apart, are still told apart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class SharedLimitsStats:
    """What the shared limits did so far."""

    shared: int = 0  # records this process sent
    delivered: int = 0  # ... and the broker acknowledged
    applied: int = 0  # records of others applied here
    bad: int = 0  # records that could not be read, or whose limits were refused
    forgotten: int = 0  # decisions forgotten to keep at most MAX_KNOWN (see SharedLimits)
    last_error: str = ""


class SharedLimits:
    """Sends this process's limit decisions to `topic` and applies everyone else's.

    ``apply(symbol, buy, sell, side)`` is called in the reader's thread for each record
    of another process, NaN meaning no limit, `side` the only one its user set ("" both;
    see :class:`LimitRecord`); it must only hand the change on (a command on the engine
    thread's queue), and returns None, or why the limits are refused (then nothing is
    applied, and the record is counted among the refused). Call :meth:`start` once,
    :meth:`share` from any thread, :meth:`stop` at the end.

    The latest decision of at most `max_known` symbols is kept (by default
    :data:`MAX_KNOWN`, or `apply`'s ``max_symbols`` if more): past it, those set longest
    ago are forgotten, but not this process's own nor those `tracked` names (by default
    `apply`'s ``tracked``, see :class:`ToWorker`).
    """

    def __init__(
        self,
        connection: Connection | str,
        apply: Callable[[str, float, float, str], str | None],
        topic: str = LIMITS,
        origin: str | None = None,
        *,
        max_known: int | None = None,
        tracked: Callable[[], Collection[str]] | None = None,
    ) -> None:
        self.connection = connection
        self.apply = apply
        self.topic = topic
        self.origin = origin or origin_name()
        if max_known is None:
            max_known = max(MAX_KNOWN, int(getattr(apply, "max_symbols", 0)))
        self._cap = max(1, max_known)
        self._tracked = tracked if tracked is not None else getattr(apply, "tracked", None)
        #: Past this many decisions known, the oldest are forgotten (see _remember).
        self._trim_at = self._cap
        self._said_forgotten = False
        self._applied = BoundedLines(log, logging.INFO, f"limit changes applied from {topic}")
        self._refused = BoundedLines(log, logging.WARNING, f"limits records refused from {topic}")
        self._deleted = BoundedLines(log, logging.INFO, f"limits deleted from {topic}")
        self._undelivered = BoundedLines(log, logging.WARNING, "limits shared again not delivered")
        self._stop = threading.Event()
        self._unforeseen = 0  # records that raised what no check foresaw
        self._stopped = False
        self._lock = threading.Lock()
        self._stats = SharedLimitsStats()
        self._bad_by: Counter[str] = Counter()
        #: Per symbol, this process's changes sent and not yet read back.
        self._own_pending: Counter[str] = Counter()
        self._thread = threading.Thread(target=self._run, name="limitwatch-limits", daemon=True)
        self._producer: Producer | None = None
        #: Set once the reader has read what the topic held when it started.
        self.caught_up = threading.Event()
        self._at_end: set[int] = set()
        self._partitions = 1
        #: Per symbol, the latest decision this process shared or applied (buy, sell,
        #: whether its own), the one set longest ago first; bounded (see _remember).
        self._known: dict[str, tuple[float, float, bool]] = {}
        self._topic_id: str | None = None
        self._missing = False
        #: While a topic created again is read up to its end: the symbols it holds.
        self._in_new_topic: set[str] | None = None
        #: The symbols the topic read holds a decision of (not one shared again), the
        #: oldest first; bounded as _known is.
        self._decided: dict[str, None] = {}

    # -- the outside ---------------------------------------------------------------------
    def start(self, catch_up_s: float = 0.0) -> bool:
        """Create the topic if it is missing (compacted, one partition) and start reading
        it from its start; wait up to `catch_up_s` for what it holds to be read (and
        handed to ``apply``). Whether it was.

        A cluster that refuses the topic (no right to create it) leaves the limits
        unshared, said in the log and in :meth:`stats`, never an error of the caller."""
        try:
            ensure_compacted(self.connection, self.topic, partitions=1, timeout=TIMEOUT_S)
        except KafkaException as exc:
            self._error(f"limits are not shared: the topic {self.topic} could not be set up: {exc}")
            return False
        settings = {"linger.ms": 0, "acks": "all", "error_cb": self._on_error}
        self._producer = Producer(client_config(self.connection, **settings))
        self._thread.start()
        return self.caught_up.wait(catch_up_s)

    def share(
        self, symbol: str, buy: float, sell: float, side: str = "", again: bool = False
    ) -> None:
        """Tell every other process: `symbol`'s limits are now `buy` and `sell` (NaN: no
        limit on that side), `side` the only one the user set ("" both); `again`: a
        decision known already, shared again."""
        if self._producer is None:
            return
        value = encode(symbol, buy, sell, self.origin, time.time(), again, side)
        if not again:  # (a decision shared again gives way to any other: see _handle)
            with self._lock:
                self._own_pending[symbol] += 1
            self._remember(symbol, buy, sell, own=True)
        try:
            self._producer.produce(
                self.topic, value, key=symbol.encode(),
                on_delivery=self._delivered_again if again else self._delivered,
            )  # fmt: skip
        except (BufferError, KafkaException) as exc:
            if not again:
                self._settled(symbol)
            self._error(f"limits for {symbol} not shared: {exc}")
            return
        self._count(shared=1)
        self._producer.poll(0)

    def stats(self) -> SharedLimitsStats:
        """A copy of the counts so far."""
        with self._lock:
            return self._stats

    def bad_by(self) -> dict[str, int]:
        """Records not applied so far (unreadable, or limits refused), by what was wrong."""
        with self._lock:
            return dict(self._bad_by)

    @property
    def thread(self) -> threading.Thread:
        """The reader's thread (a caller with a longer budget may wait for it after
        :meth:`stop`)."""
        return self._thread

    def stop(self, timeout: float = 2.0) -> None:
        """Deliver what was shared (bounded by `timeout`) and end the reader; once (a
        second call, once the first has returned, does nothing)."""
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        if self._producer is not None:
            left = self._producer.flush(timeout)
            if left:
                self._error(f"{left} limit changes were not delivered before the end")
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._say_left_out(end=True)
        forgotten = self.stats().forgotten
        if forgotten:
            log.info(
                "%s limits read from %s were forgotten here, to keep at most %s",
                f"{forgotten:,}", self.topic, f"{self._cap:,}",
            )  # fmt: skip

    # -- what is kept and said -----------------------------------------------------------
    def _remember(self, symbol: str, buy: float, sell: float, own: bool = False) -> None:
        """`symbol`'s latest decision, known from now on (the most recent last). Past
        `max_known` a tenth are forgotten at once: those set longest ago, but not this
        process's own nor the symbols its engine tracks."""
        say = False
        with self._lock:
            known = self._known
            known.pop(symbol, None)
            known[symbol] = (buy, sell, own)
            if len(known) > self._trim_at:
                keep = self._tracked() if self._tracked is not None else ()
                over = len(known) - (self._cap - self._cap // 10)
                gone = [k for k, v in known.items() if not v[2] and k not in keep][:over]
                for k in gone:
                    del known[k]
                self._trim_at = max(self._cap, len(known) + max(1, self._cap // 10))
                stats = self._stats
                self._stats = dataclasses.replace(stats, forgotten=stats.forgotten + len(gone))
                say = bool(gone) and not self._said_forgotten
                self._said_forgotten |= say
        if say:
            log.warning(
                "limits of more than %s symbols read from %s: those set longest ago are "
                "forgotten here (not shared again if the broker loses the topic); this "
                "process's own and those its engine tracks are kept (said once: how many "
                "comes at the end)",
                f"{self._cap:,}", self.topic,
            )  # fmt: skip

    def _decide(self, symbol: str) -> None:
        """The topic holds a decision of `symbol` (bounded as the decisions known are)."""
        self._decided.pop(symbol, None)
        self._decided[symbol] = None
        if len(self._decided) > self._cap:
            for s in list(islice(self._decided, max(1, self._cap // 10))):
                del self._decided[s]

    def _say_left_out(self, end: bool = False) -> None:
        for lines in (self._applied, self._refused, self._deleted, self._undelivered):
            lines.say_left_out(end)

    def _refuse(self, reason: str) -> None:
        """A record not applied, counted by what was wrong (`reason` without its detail)."""
        with self._lock:
            self._bad_by[reason.split(" (", 1)[0]] += 1
        self._count(bad=1)
        self._refused.say("limits record refused: %s", reason)

    # -- the reader's thread -------------------------------------------------------------
    def _run(self) -> None:
        try:
            consumer = Consumer(
                client_config(
                    self.connection,
                    **{
                        "group.id": f"limitwatch-limits-{self.origin}",
                        "enable.auto.commit": False,
                        "auto.offset.reset": "earliest",
                        "enable.partition.eof": True,
                        "error_cb": self._on_error,
                    },
                )
            )
        except KafkaException as exc:  # said, not a traceback of this thread on quit
            self._error(f"shared limits not read: {exc.args[0].str() if exc.args else exc}")
            return
        admin = AdminClient(client_config(self.connection))
        look = TopicLook(
            admin, CHECK_S, answer_s=CHECK_S, lost_s=3 * CHECK_S, asked=time.monotonic()
        )
        try:
            # Assigned, not subscribed: no group to join, so the first records come at once.
            partitions: list[int] = []
            while not partitions and not self._stop.is_set():
                # A topic just created may not be in the metadata yet: ask until it is.
                try:
                    meta = consumer.list_topics(self.topic, timeout=TIMEOUT_S).topics[self.topic]
                    partitions = [] if meta.error is not None else sorted(meta.partitions)
                except KafkaException as exc:
                    self._error(f"limits topic: {exc}")
                if not partitions:
                    self._stop.wait(0.5)
            self._read_from_start(consumer, partitions)
            try:  # the topic read, to tell it from one created again later
                first = admin.describe_topics(TopicCollection([self.topic]))[self.topic]
                self._topic_id = str(first.result(timeout=TIMEOUT_S).topic_id)
            except Exception as exc:  # not to be had now: the first answer below sets it
                log.info("limits topic id unknown: %s", exc)
            while not self._stop.is_set():
                for msg in consumer.consume(100, timeout=0.25):
                    try:
                        self._handle(msg)
                    except Exception as exc:  # a record no check foresaw: refused, read on
                        self._unforeseen += 1
                        if self._unforeseen <= 3:  # a fault of ours shows, its stack too
                            log.warning("limits record unreadable", exc_info=True)
                        self._refuse(f"unreadable ({type(exc).__name__})")
                self._say_left_out()
                if self._producer is not None:
                    self._producer.poll(0)  # delivery reports of what was shared
                answer = look.poll([self.topic], time.monotonic())
                if answer is not None and self.topic in answer:
                    self._topic_answer(consumer, answer[self.topic])
        except Exception as exc:  # never fatal to the monitor or the engine, and said
            log.exception("the shared limits reader failed")
            self._error(
                f"the shared limits reader stopped ({type(exc).__name__}; see the log): limits "
                "shared from now on are not read here"
            )
        finally:
            look.close()
            consumer.close()

    def _read_from_start(self, consumer: Consumer, partitions: list[int]) -> None:
        consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in partitions])
        self._partitions = len(partitions)

    def _topic_answer(self, consumer: Consumer, desc: Any | None) -> None:
        """Act on what the cluster said of the topic (its description, None if it has no
        such topic; see :class:`producer.topics.TopicLook`): create it again if it is
        missing, read it from its start and share every known decision again if it is
        new."""
        if desc is None:
            if not self._missing:
                self._missing = True
                log.warning("the limits topic %s is missing: creating it again", self.topic)
            try:
                ensure_compacted(self.connection, self.topic, partitions=1, timeout=CHECK_S)
            except KafkaException as again:
                log.info("limits topic not created again yet: %s", again)
            return
        known, self._topic_id = self._topic_id, str(desc.topic_id)
        came_back, self._missing = self._missing, False
        if not came_back and known in (None, self._topic_id):
            return
        log.warning(
            "the limits topic %s was created again (the broker lost it): reading it from its "
            "start, then sharing again the limits known here that it lacks", self.topic,
        )  # fmt: skip
        self._at_end.clear()
        self._in_new_topic = set()  # the symbols the new topic holds decisions of
        self._decided = {}
        self._read_from_start(consumer, [p.id for p in desc.partitions])

    def _share_again(self) -> None:
        """Once the topic created again has been read to its end: share again each
        decision known here that it lacks, the most recent first. One made since the
        restart (by a process started after it, say) is in the topic, and is not
        overwritten by an older one. A queue that stays full leaves the rest unshared,
        said in one line (a line per record had filled an engine's log)."""
        seen, self._in_new_topic = self._in_new_topic or set(), None
        with self._lock:
            decisions = [
                (symbol, buy, sell)
                for symbol, (buy, sell, _) in reversed(self._known.items())
                if symbol not in seen
            ]
        if not decisions:
            return
        log.warning("sharing %d limits again into %s", len(decisions), self.topic)
        sent, problem = self._send_again(decisions)
        if sent < len(decisions):
            self._error(
                f"{len(decisions) - sent:,} of the {len(decisions):,} limits to share again "
                f"into {self.topic} were not shared: {problem}"
            )

    def _send_again(self, decisions: list[tuple[str, float, float]]) -> tuple[int, str]:
        """Produce `decisions` marked ``again``, waiting for room in the producer's queue
        up to AGAIN_WAIT_S in all: how many were sent, and why not the rest."""
        producer = self._producer
        if producer is None:
            return 0, "no producer"
        deadline = time.monotonic() + AGAIN_WAIT_S
        for n, (symbol, buy, sell) in enumerate(decisions):
            value = encode(symbol, buy, sell, self.origin, time.time(), again=True)
            while True:
                try:
                    producer.produce(
                        self.topic, value, key=symbol.encode(), on_delivery=self._delivered_again
                    )
                    break
                except BufferError as exc:  # the queue is full: wait for deliveries
                    if self._stop.is_set() or time.monotonic() >= deadline:
                        return n, str(exc)
                    producer.poll(0.05)
                except KafkaException as exc:
                    return n, str(exc)
            self._count(shared=1)
            if n % 1000 == 999:
                producer.poll(0)
        producer.poll(0)
        return len(decisions), ""

    def _handle(self, msg: object) -> None:
        err = msg.error()  # type: ignore[attr-defined]
        if err is not None:
            if err.code() == KafkaError._PARTITION_EOF:
                self._at_end.add(msg.partition())  # type: ignore[attr-defined]
                if len(self._at_end) >= self._partitions:
                    self.caught_up.set()
                    if self._in_new_topic is not None:
                        self._share_again()
            else:
                self._error(f"limits topic: {err.str()}")
            return
        key = msg.key()  # type: ignore[attr-defined]
        if self._in_new_topic is not None and key:
            self._in_new_topic.add(key.decode("utf-8", "replace"))
            if len(self._in_new_topic) > 2 * self._cap:  # only those known matter
                with self._lock:
                    self._in_new_topic.intersection_update(self._known)
        if msg.value() is None:  # type: ignore[attr-defined]
            # A tombstone: the symbol's decision deleted from the topic (compaction drops
            # it), so a process started later uses its own limits; the running ones keep
            # theirs. Not unreadable: it was counted as a bad record.
            symbol = key.decode("utf-8", "replace") if key else ""
            with self._lock:
                self._known.pop(symbol, None)
            self._deleted.say("limits of %r deleted from the topic: kept here as they are", symbol)
            return
        record = decode(msg.key(), msg.value())  # type: ignore[attr-defined]
        if isinstance(record, str):
            self._refuse(record)
            return
        if record.again and record.symbol in self._decided:
            # An older decision shared again after a decision of the topic's own: it
            # gives way (a process sharing again what it held raced a user who had just
            # set the symbol, and everyone ended with the old limits).
            return
        if not record.again:
            self._decide(record.symbol)
        if record.by == self.origin:
            if not record.again:
                self._settled(record.symbol)  # applied when it was sent
            return
        with self._lock:
            ours_after = self._own_pending[record.symbol] > 0
        if ours_after:
            # This process's own change of the symbol is on its way and comes after this
            # record in the topic: everyone ends with ours, and so must this process.
            return
        buy = math.nan if record.buy is None else record.buy
        sell = math.nan if record.sell is None else record.sell
        with self._lock:
            held = self._known.get(record.symbol)
        if record.again and held is not None and _same_limits(held[:2], (buy, sell)):
            return  # shared again after the topic was lost: applying it would re-arm
        problem = self.apply(record.symbol, buy, sell, record.side)
        if problem is not None:  # the engine's rule refuses them: nothing changed
            self._refuse(f"impossible limits ({record.symbol} from {record.by!r}: {problem})")
            return
        self._remember(record.symbol, buy, sell)
        self._applied.say(
            "limits of %s from %r: buy %s, sell %s", record.symbol, record.by, buy, sell
        )
        self._count(applied=1)

    # -- callbacks -----------------------------------------------------------------------
    def _delivered(self, err: KafkaError | None, msg: object) -> None:
        if err is None:
            self._count(delivered=1)
        else:
            key = msg.key()  # type: ignore[attr-defined]
            self._settled(key.decode("utf-8", "replace") if key else "")
            self._error(f"a limit change was not delivered: {err.str()}")

    def _delivered_again(self, err: KafkaError | None, _msg: object) -> None:
        if err is None:
            self._count(delivered=1)
        else:  # there may be thousands: their lines are bounded
            self._error(f"a limit shared again was not delivered: {err.str()}", self._undelivered)

    def _settled(self, symbol: str) -> None:
        """One of this process's changes of `symbol` was read back, or will never be."""
        with self._lock:
            if self._own_pending[symbol] > 1:
                self._own_pending[symbol] -= 1
            else:
                self._own_pending.pop(symbol, None)

    def _on_error(self, err: KafkaError) -> None:
        # Through the Kafka logger, whose filter cuts a run of like ones short (a broker
        # down is reported by every client every few milliseconds).
        KAFKA_LOGGER.warning("shared limits: %s", err.str())

    def _error(self, text: str, lines: BoundedLines | None = None) -> None:
        text = redact(text)
        with self._lock:
            self._stats = dataclasses.replace(self._stats, last_error=text)
        if lines is None:
            log.warning("%s", text)
        else:
            lines.say("%s", text)

    def _count(self, **more: int) -> None:
        with self._lock:
            s = self._stats
            self._stats = dataclasses.replace(
                s,
                **{k: getattr(s, k) + v for k, v in more.items()},  # type: ignore[arg-type]
            )
