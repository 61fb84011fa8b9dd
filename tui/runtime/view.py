"""`limitwatch --view`: a monitor attached to a cluster without an engine of its own. It
shows what the engines publish, the way a dashboard shows what a stream processor
computed:

- each symbol's indicators and forecasts from the compacted `indicators` topic (read
  from its start: every symbol's latest), which fill the watchlist, and, for the chart,
  the updates that arrive while it runs (about one a second per symbol);
- the signals from the `signals` topic (the last :data:`RECENT_SIGNALS` of each
  partition at the start, then each as it comes), a signal published twice (at least
  once delivery) shown once, by its id;
- the engines: each one's heartbeat on the indicators topic (once a second: its
  partitions of `prices` and their lag, its health), ``silent`` when they stop coming
  (an engine killed), ``stopped`` after its last.

Health is ``STALL`` when, for :data:`STALL_S`, nothing has been read and the broker has
not answered the view's questions about its topics (asked every :data:`TOPIC_CHECK_S`):
a frozen broker keeps its connections, and the view went on saying OK. (Records alone
would not tell it from engines all killed, which send no last heartbeat.) The answers
carry the topics' ids: a topic created again (a broker that came back empty) is read
afresh (the old position, past the new topic's end, read nothing new at all). A signal
is known by its id and time, so one read twice is shown once, and the signals of engines
started since, numbered from 1 again, are not taken for old ones.

A limit set with a key goes to the `limits` topic (see :mod:`tui.runtime.shared_limits`);
the engines apply it, and the watchlist shows it once an engine publishes it back. The
view reads and never commits; it has no producer and records nothing.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import threading
import time
import uuid
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

import msgspec
import numpy as np
from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from engine import EngineConfig, EngineState, History, Signal, SignalKind
from engine.limits import MAX_PRICE
from producer.kafka_config import KAFKA_LOGGER, Connection, client_config, redact
from producer.topics import TopicLook
from producer.wire import MAX_SYMBOL_LEN, symbol_problem
from tui.runtime.format import literal
from tui.runtime.jsonout import INDICATORS
from tui.runtime.snapshot import KafkaStats, Notice, PartitionLag, Snapshot, SnapshotSlot

__all__ = ["RECENT_SIGNALS", "ViewFeed", "ViewOptions", "ViewWorker", "parse_indicators",
           "parse_signal"]  # fmt: skip

log = logging.getLogger(__name__)

#: Signals kept for display (and read back per partition at the start).
RECENT_SIGNALS = 500
#: Indicator updates kept per symbol for the chart.
CHART_POINTS = 900
#: Until both topics exist, how often the view looks for them, in seconds.
ATTACH_EVERY_S = 2.0
#: With nothing new read, how often a snapshot is published anyway (ages move on), s.
IDLE_PUBLISH_S = 1.0
#: Ids of signals seen, kept to drop a signal published twice.
SEEN_IDS = 20_000
#: An engine whose heartbeat is older than this is shown silent, in seconds.
BEAT_SILENT_S = 5.0
#: Engines silent or stopped for longer than this are no longer shown, in seconds.
BEAT_FORGET_S = 600.0
#: Most partitions a heartbeat may list.
MAX_PARTITIONS = 10_000
#: Most engines remembered (the oldest heartbeat is forgotten first).
MAX_ENGINES = 256
#: A symbol with no indicator update for this long is marked stale, in seconds (an
#: engine publishes a symbol's at most once a second, when it has ticks).
QUIET_S = 10.0
#: A signal or indicators record whose time is further ahead of this machine's clock is
#: refused, in seconds: an engine refuses ticks more than --max-ahead (5 minutes by
#: default) ahead; a day leaves room for engines run with that check off.
MAX_AHEAD_S = 86_400.0
#: Nothing read and no answer about the topics for this long: STALL, in seconds.
STALL_S = 5.0
#: How often the view asks for the topics' ids (a topic created again), in seconds.
TOPIC_CHECK_S = 2.0


_Symbol = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SYMBOL_LEN)]
_Time = Annotated[float, msgspec.Meta(ge=0.0, lt=1e11)]  # epoch seconds, as on the wire
_P = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]  # a probability
_Count = Annotated[int, msgspec.Meta(ge=0, le=2**53)]
#: Reasons an engine's heartbeat gives for the messages it refused, at most.
MAX_REASONS = 32
_Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
_Lag = Annotated[int, msgspec.Meta(ge=-1, le=2**53)]  # -1: not known
_Partition = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
# A price, limit, average or estimate: within what a tick may carry (a quantity's may be
# negative). 1e308 in a record drew the chart into an OverflowError and ended the app.
_Value = Annotated[float, msgspec.Meta(gt=-MAX_PRICE, lt=MAX_PRICE)]
_Seconds = Annotated[float, msgspec.Meta(ge=0.0, le=1e9)]  # to a limit: 31 years at most


class _Indicators(msgspec.Struct, forbid_unknown_fields=False):
    symbol: _Symbol
    t: _Time
    last: _Value | None = None
    sma_fast: _Value | None = None
    sma_slow: _Value | None = None
    ema: _Value | None = None
    drift: _Value | None = None
    vol: _Value | None = None
    buy: _Value | None = None
    sell: _Value | None = None
    p_buy: _P | None = None
    p_sell: _P | None = None
    eta_buy: _Seconds | None = None
    eta_sell: _Seconds | None = None
    n_ticks: _Count = 0
    open: _Value | None = None
    drift_se: _Value | None = None
    additive: bool = False
    engine: str = ""


class _Beat(msgspec.Struct, forbid_unknown_fields=False):
    engine: Annotated[str, msgspec.Meta(max_length=256)]
    t: _Time
    partitions: Annotated[list[_Partition], msgspec.Meta(max_length=MAX_PARTITIONS)]
    lags: Annotated[list[_Lag], msgspec.Meta(max_length=MAX_PARTITIONS)] = []
    ticks: _Count = 0
    signals: _Count = 0
    health: Annotated[str, msgspec.Meta(max_length=64)] = ""
    bad: Annotated[dict[_Reason, _Count], msgspec.Meta(max_length=MAX_REASONS)] = {}
    dlq: _Count = 0


class _SignalRecord(msgspec.Struct, forbid_unknown_fields=False):
    id: Annotated[str, msgspec.Meta(max_length=MAX_SYMBOL_LEN + 40)]
    kind: str
    symbol: _Symbol
    t: _Time
    price: _Value  # an engine always writes it: the signal history cannot keep one without
    limit: _Value | None = None
    p_hit: _P | None = None
    eta_s: _Seconds | None = None


_IND = msgspec.json.Decoder(_Indicators)
_BEAT = msgspec.json.Decoder(_Beat)
#: Why a record holding JSON nested too deeply to decode is unreadable (a field nested a
#: thousand deep, 2 KB, raised RecursionError and stopped the view's reader for good).
NESTED_TOO_DEEPLY = "JSON nested too deeply"
_SIG = msgspec.json.Decoder(_SignalRecord)


def _f(x: float | None) -> float:
    """A JSON number as a float: null, and what is not finite, as nan."""
    return float(x) if x is not None and math.isfinite(x) else math.nan


def parse_indicators(value: bytes) -> _Indicators:
    """One record of the indicators topic; ValueError if it cannot be read."""
    try:
        rec = _IND.decode(value)
    except msgspec.DecodeError as exc:
        raise ValueError(f"unreadable indicators: {exc}") from None
    except RecursionError:  # a field nested a thousand deep: it stopped the reader for good
        raise ValueError(f"unreadable indicators: {NESTED_TOO_DEEPLY}") from None
    _check(rec.symbol, rec.t, "indicators")
    return rec


def _check(symbol: str, t: float, what: str) -> None:
    """What an engine never writes, refused as a tick would be: a symbol with control
    characters or surrounding spaces, a time further ahead of this machine's clock than
    :data:`MAX_AHEAD_S` (such a signal sat at the top of the list for months)."""
    problem = symbol_problem(symbol)
    if problem is not None:
        raise ValueError(f"unreadable {what}: symbol {problem}")
    if t > time.time() + MAX_AHEAD_S:
        raise ValueError(f"unreadable {what}: time {t:.0f} is more than {MAX_AHEAD_S:g} s ahead")


def parse_beat(value: bytes) -> _Beat:
    """An engine's heartbeat on the indicators topic; ValueError if it cannot be read."""
    try:
        return _BEAT.decode(value)
    except msgspec.DecodeError as exc:
        raise ValueError(f"unreadable heartbeat: {exc}") from None
    except RecursionError:
        raise ValueError(f"unreadable heartbeat: {NESTED_TOO_DEEPLY}") from None


def engine_line(beat: _Beat, now: float) -> str:
    """``OK p0,1 host:pid`` for one engine's latest heartbeat: its health (``silent N s``
    once its beats stopped, as when it was killed; ``stopped`` after its last), its
    partitions of the prices topic, and its name (host and process). Anyone who may write
    the topic may send a heartbeat: what it says is shown literally, its control
    characters escaped, never acted on by the terminal."""
    name = literal(":".join(beat.engine.split(":")[:2])) or "?"
    parts = "p" + (",".join(map(str, beat.partitions)) or "–")
    age = now - beat.t
    if beat.health == "STOPPED":
        state = "stopped"
    elif age > BEAT_SILENT_S:
        state = f"silent {age:.0f} s"
    else:
        state = literal(beat.health) or "?"
    return f"{state} {parts} {name}"  # the name last: a narrow pane cuts it first


def parse_signal(value: bytes) -> Signal:
    """One record of the signals topic as a Signal; ValueError if it cannot be read."""
    try:
        rec = _SIG.decode(value)
        kind = SignalKind[rec.kind]
        seq = int(rec.id.rsplit(":", 1)[1])
        if not 1 <= seq <= 2**53:
            raise ValueError(f"signal number {seq} out of range")
    except (msgspec.DecodeError, KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"unreadable signal: {exc}") from None
    except RecursionError:
        raise ValueError(f"unreadable signal: {NESTED_TOO_DEEPLY}") from None
    _check(rec.symbol, rec.t, "signal")
    return Signal(rec.symbol, kind, seq, rec.t, _f(rec.price), _f(rec.limit), _f(rec.p_hit),
                  _f(rec.eta_s))  # fmt: skip


@dataclass
class ViewOptions:
    """What `--view` reads; see `limitwatch --help`."""

    connection: Connection
    topic: str = "prices"
    signals_topic: str = "signals"
    indicators_topic: str = "indicators"
    engine: EngineConfig = field(default_factory=EngineConfig)
    #: Called in the reader's thread with each batch of signals not seen before.
    on_signals: Callable[[list[Signal]], None] | None = None


class ViewWorker(threading.Thread):
    """Reads the signals and indicators topics (indicators and the engines' heartbeats);
    publishes snapshots at most `publish_hz` a second. Owns its clients."""

    def __init__(self, options: ViewOptions, publish_hz: float = 10.0) -> None:
        super().__init__(name="limitwatch-view", daemon=True)
        self.options = options
        self.slot = SnapshotSlot()
        self._stop_event = threading.Event()
        self._interval = 1.0 / publish_hz
        self._rows: dict[str, _Indicators] = {}
        self._arrived: dict[str, float] = {}  # symbol: wall time of its latest update
        # The rows by how long they have been idle, longest first: those still warming up
        # (fewer ticks than the engine's warm-up), then the rest (see _make_room).
        self._idle: tuple[OrderedDict[str, None], OrderedDict[str, None]] = (
            OrderedDict(),
            OrderedDict(),
        )
        self._evicted = 0  # rows given up for new symbols
        self._chart: dict[str, deque[tuple[float, float, float, float]]] = {}
        self._recent: deque[Signal] = deque(maxlen=RECENT_SIGNALS)
        self._seen: OrderedDict[tuple[str, float], None] = OrderedDict()
        self._signal_count = 0
        self._read = 0
        self._unreadable = 0
        self._duplicates = 0
        self._errors = 0
        self._last_error = ""
        self._broker = "CONNECTING"
        self._last_at = math.nan  # wall time of the last record read
        #: Wall time the heartbeat that last showed an engine's tick count grow came: the
        #: pane's "last tick" (records read, heartbeats among them, read 0.0 s ago with
        #: no tick for minutes).
        self._ticked_at = math.nan
        self._beats: dict[str, _Beat] = {}  # engine: its latest heartbeat
        self._rates: dict[str, float] = {}  # engine: ticks a second between its last two
        self._notices: deque[Notice] = deque(maxlen=20)
        self._notice_seq = 0
        self._told: queue.SimpleQueue[str] = queue.SimpleQueue()  # notices from other threads
        self._changed = True  # something read since the last snapshot
        self._state_cache: EngineState | None = None  # the watchlist's, until a row changes
        self._seq = 0
        self.chart_symbol: str | None = None
        self._assigned: set[str] = set()
        self._attach_asked = -math.inf
        self._topic_ids: dict[str, str] = {}  # topic: its id when last asked
        self._look: TopicLook | None = None  # the topics read, as the cluster has them
        self._failed = False  # the reader stopped on an error
        self._answered = time.monotonic()  # the latest answer about the topics

    def stop(self) -> None:
        self._stop_event.set()

    def latest(self) -> Snapshot | None:
        return self.slot.get()

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:
            log.exception("the view's reader failed")
            # Said on screen: a view whose reader had died went on showing OK, frozen.
            self._failed = True
            self._note_error(f"the view's reader stopped ({type(exc).__name__}; see the log)")
            with contextlib.suppress(Exception):
                self._publish()

    def _run(self) -> None:
        opts = self.options
        consumer = Consumer(
            client_config(
                opts.connection,
                **{
                    "group.id": f"limitwatch-view-{uuid.uuid4().hex[:8]}",
                    "enable.auto.commit": False,
                    "auto.offset.reset": "earliest",
                    "enable.partition.eof": False,
                    "allow.auto.create.topics": False,
                    "error_cb": self._on_error,
                },
            )
        )
        admin = AdminClient(client_config(opts.connection))
        self._look = TopicLook(
            admin, TOPIC_CHECK_S, answer_s=TOPIC_CHECK_S, lost_s=3 * TOPIC_CHECK_S
        )
        try:
            self._loop(consumer, admin)
        finally:
            self._look.close()
            consumer.close()

    def _loop(self, consumer: Consumer, admin: AdminClient) -> None:
        last_publish = 0.0
        while not self._stop_event.is_set():
            now = time.monotonic()
            if self._broker == "DOWN" and now - self._attach_asked >= ATTACH_EVERY_S:
                self._attach_asked = now
                self._reattach(consumer, admin)
            elif len(self._assigned) < 2 and now - self._attach_asked >= ATTACH_EVERY_S:
                self._attach_asked = now
                self._attach(consumer, admin)
            self._watch_topics(consumer, admin, now)
            msgs = consumer.consume(1000, timeout=0.05) if self._assigned else []
            if not self._assigned:
                self._stop_event.wait(0.05)
            fresh: list[Signal] = []
            for msg in msgs:
                self._take(msg, fresh)
            if fresh and self.options.on_signals is not None:
                try:
                    self.options.on_signals(fresh)
                except Exception as exc:  # the history file: shown, never fatal here
                    self._note_error(f"signals not kept: {exc}")
            while not self._told.empty():
                self._notice(self._told.get())
                self._changed = True
            since = time.monotonic() - last_publish
            if since >= IDLE_PUBLISH_S or (self._changed and since >= self._interval):
                last_publish = time.monotonic()
                self._changed = False
                self._publish()

    # -- the two topics -----------------------------------------------------------------
    def _reattach(self, consumer: Consumer, admin: AdminClient) -> None:
        """Once a lost broker answers again, read both topics afresh: a broker that came
        back may be another (an empty one whose topics the engines create again). What
        was shown stays; a signal read again is dropped by its id."""
        try:
            consumer.list_topics(timeout=1.0)
        except KafkaException:
            return
        self._broker = "UP"
        try:
            consumer.unassign()
        except KafkaException as exc:
            log.info("unassign after a broker loss: %s", exc)
        self._assigned.clear()
        self._attach(consumer, admin)
        self._notice("the broker answers again: reading the engines' topics afresh")

    def _attach(self, consumer: Consumer, admin: AdminClient) -> None:
        """Assign the signals topic (its last RECENT_SIGNALS per partition) and the
        indicators topic (from its start) once each exists."""
        opts = self.options
        todo = [t for t in (opts.signals_topic, opts.indicators_topic) if t not in self._assigned]
        try:
            meta = consumer.list_topics(timeout=2.0)
        except KafkaException as exc:
            self._note_error(f"cluster not answering: {exc}")
            return
        self._broker = "UP"
        parts: list[TopicPartition] = []
        for name in todo:
            topic = meta.topics.get(name)
            if topic is None or topic.error is not None or not topic.partitions:
                self._notice(f"waiting for topic {name}: no engine has published to it yet")
                continue
            for p in sorted(topic.partitions):
                start = 0
                if name == opts.signals_topic:
                    try:
                        low, high = consumer.get_watermark_offsets(
                            TopicPartition(name, p), timeout=2.0, cached=False
                        )
                        start = max(low, high - RECENT_SIGNALS)
                    except KafkaException:
                        start = 0
                parts.append(TopicPartition(name, p, start))
            self._assigned.add(name)
        if parts:
            self._know_ids(admin, sorted({tp.topic for tp in parts}))
            consumer.incremental_assign(parts)
            self._answered = time.monotonic()

    def _know_ids(self, admin: AdminClient, names: list[str]) -> None:
        """The ids of topics about to be read, to tell one created again (by a broker
        that came back empty) when the periodic look finds another id: it is then read
        again from its start, and a signal read twice is dropped (see :meth:`_signal`)."""
        try:
            found = admin.describe_topics(TopicCollection(names), request_timeout=2.0)
            ids = {name: str(fut.result(3.0).topic_id) for name, fut in found.items()}
        except Exception as exc:  # not to be had now: the periodic look tells later
            log.info("topic ids unknown: %s", exc)
            return
        for name, topic_id in ids.items():
            known, self._topic_ids[name] = self._topic_ids.get(name), topic_id
            if known is not None and known != topic_id:
                self._notice(f"{name} was created again (the broker lost it): reading it afresh")

    def _watch_topics(self, consumer: Consumer, admin: AdminClient, now: float) -> None:
        """Ask for the ids of the topics read every TOPIC_CHECK_S (never waiting for the
        answer here); read a topic created again afresh."""
        assert self._look is not None
        answers = self._look.poll(sorted(self._assigned), now, ask=self._broker == "UP")
        for name, desc in (answers or {}).items():
            self._answered = now  # an answer: the broker is there
            if desc is None:
                continue  # missing: the attach looks for it again
            topic_id = str(desc.topic_id)
            known = self._topic_ids.get(name)
            if known is not None and known != topic_id and name in self._assigned:
                self._renewed(consumer, admin, name)

    def _renewed(self, consumer: Consumer, admin: AdminClient, name: str) -> None:
        """`name` was created again: read it as at the start (see :meth:`_know_ids`)."""
        try:
            parts = [tp for tp in consumer.assignment() if tp.topic == name]
            if parts:
                consumer.incremental_unassign(parts)
        except KafkaException as exc:
            log.info("unassign of %s created again: %s", name, exc)
        self._assigned.discard(name)
        self._attach(consumer, admin)

    def _take(self, msg: Message, fresh: list[Signal]) -> None:
        err = msg.error()
        if err is not None:
            if err.code() != KafkaError._PARTITION_EOF:
                self._note_error(f"read: {err.str()}")
            return
        self._read += 1
        self._last_at = time.time()
        self._broker = "UP"
        self._changed = True
        value = msg.value()
        if value is None:
            return  # a tombstone: a key's record deleted from the compacted topic
        try:
            if msg.topic() == self.options.indicators_topic:
                if b'"symbol"' not in value and b'"partitions"' in value:
                    self._beat(parse_beat(value))
                else:
                    rec = parse_indicators(value)
                    if msg.key() != rec.symbol.encode():  # an engine keys each by its symbol
                        raise ValueError(f"indicators of {rec.symbol!r} under another key")
                    self._indicators(rec)
            else:
                sig = parse_signal(value)
                if self._signal(sig):
                    fresh.append(sig)
        except Exception as exc:  # ValueError said; anything else must not stop the reader
            self._unreadable += 1
            if not isinstance(exc, ValueError):
                exc = ValueError(f"unreadable ({type(exc).__name__}: {exc})")
            if self._unreadable <= 3 or self._unreadable % 1000 == 0:
                log.warning("%s: %s (%d unreadable so far)", msg.topic(), exc, self._unreadable)

    def _indicators(self, rec: _Indicators) -> None:
        was = self._rows.get(rec.symbol)
        if was is not None and rec.t < was.t:
            return  # an older update (another engine's, before a rebalance)
        if was is None and len(self._rows) >= self.options.engine.max_symbols:
            self._make_room()
        self._rows[rec.symbol] = rec
        self._state_cache = None
        self._arrived[rec.symbol] = time.time()
        warm = rec.n_ticks >= self.options.engine.warmup_ticks
        self._idle[not warm].pop(rec.symbol, None)
        self._idle[warm][rec.symbol] = None
        self._idle[warm].move_to_end(rec.symbol)
        points = self._chart.setdefault(rec.symbol, deque(maxlen=CHART_POINTS))
        if rec.last is not None:
            points.append((rec.t, rec.last, _f(rec.sma_fast), _f(rec.sma_slow)))

    def _make_room(self) -> None:
        """A new symbol's row takes the place of the row idle longest among those still
        warming up, else among the rest, as the engine gives a new symbol the slot of
        such a symbol (``evict_idle``). The rows were refused once as many as an engine
        tracks were shown: a flood of one-tick names published by an engine locked every
        real symbol that came after it out of the view for good."""
        cold, warm = self._idle
        victim, _ = (cold or warm).popitem(last=False)
        del self._rows[victim]
        self._arrived.pop(victim, None)
        self._chart.pop(victim, None)
        self._evicted += 1

    def _beat(self, beat: _Beat) -> None:
        # Never later than its arrival: a clock ahead (or a forged time) must not keep
        # an engine shown running, nor outlive the others.
        beat = msgspec.structs.replace(beat, t=min(beat.t, time.time()))
        was = self._beats.get(beat.engine)
        if was is not None and beat.t <= was.t:
            return
        if was is not None and beat.ticks >= was.ticks:
            self._rates[beat.engine] = (beat.ticks - was.ticks) / (beat.t - was.t)
        if was is not None and beat.ticks > was.ticks:  # when it arrived: the engine's
            self._ticked_at = time.time()  # clock may lag the view's
        self._beats[beat.engine] = beat
        if len(self._beats) > MAX_ENGINES:
            oldest = min(self._beats.values(), key=lambda b: b.t)
            del self._beats[oldest.engine]
            self._rates.pop(oldest.engine, None)

    def _signal(self, sig: Signal) -> bool:
        """Keep `sig` unless it was seen (published twice, or read again); whether it is
        new. Known by its id and time: engines started after a broker came back empty
        number their signals from 1 again, and an id alone took theirs for old ones."""
        key = (sig.id, sig.t)
        if key in self._seen:
            self._duplicates += 1
            return False
        self._seen[key] = None
        if len(self._seen) > SEEN_IDS:
            self._seen.popitem(last=False)
        self._recent.append(sig)
        self._signal_count += 1
        return True

    # -- the engines -------------------------------------------------------------------
    def _lag(self, now: float) -> tuple[PartitionLag, ...]:
        """Each partition's lag as the engine that reads it last said (a stopped or
        silent engine's partitions are left out: another reads them, or none)."""
        out: dict[int, PartitionLag] = {}
        for b in sorted(self._beats.values(), key=lambda b: b.t):
            if b.health == "STOPPED" or now - b.t > BEAT_SILENT_S:
                continue
            for i, p in enumerate(b.partitions):
                if len(out) >= MAX_PARTITIONS and p not in out:
                    break
                lag = b.lags[i] if i < len(b.lags) else -1
                out[p] = PartitionLag(p, -1, -1, lag, 0.0)
        return tuple(out[p] for p in sorted(out))

    # -- what is shown ---------------------------------------------------------------------
    def _publish(self) -> None:
        self._seq += 1
        now = time.time()
        opts = self.options
        health = "OK" if self._broker == "UP" else "DOWN" if self._broker == "DOWN" else "WARN"
        if self._failed:
            health = "WARN"
        live = [e for e, b in self._beats.items()
                if b.health != "STOPPED" and now - b.t <= BEAT_SILENT_S]  # fmt: skip
        bad = (("unreadable", self._unreadable),) if self._unreadable else ()
        # What the engines refused, by reason (they were shown `bad · dlq 0 · 0` and OK
        # while the engines dead-lettered thousands of ticks).
        heard = [b for b in self._beats.values() if now - b.t <= BEAT_FORGET_S]
        refused: Counter[str] = Counter()
        for b in heard:
            refused.update(b.bad)
        bad += tuple((literal(why), n) for why, n in sorted(refused.items()) if n)
        idle = now - self._last_at if self._last_at == self._last_at else math.nan
        # Silent: nothing read and no answer about the topics (asked every 2 s) for
        # STALL_S. Records alone would not tell a frozen broker from engines that are
        # all gone (killed, they send no last heartbeat), and neither is that.
        unanswered = time.monotonic() - self._answered
        silent = 0.0
        if health == "OK" and self._assigned and min(idle, unanswered) > STALL_S:
            silent = min(idle, unanswered)
            health = "STALL"
        kafka = KafkaStats(
            bootstrap=opts.connection.bootstrap, embedded=False, topic=opts.topic,
            broker_state=self._broker, health=health, partitions=self._lag(now),
            # every engine heard from lately, so the total does not drop when one is
            # killed or while the broker is frozen (it fell to 0, then to half)
            consumed=sum(b.ticks for b in heard),
            rate_in=sum(self._rates.get(e, 0.0) for e in live), bad_by=bad,
            since_last_tick_s=now - self._ticked_at, errors=self._errors,
            last_error=self._last_error,
            duplicates=self._duplicates, engines=self._engine_lines(now),
            dead_lettered=sum(b.dlq for b in heard),
            broker_silent_s=silent,
        )  # fmt: skip
        symbol = self.chart_symbol
        self.slot.put(
            Snapshot(
                seq=self._seq, wall=now, engine=self._state(), signals=tuple(self._recent),
                signal_count=self._signal_count, kafka=kafka, notices=tuple(self._notices),
                source=f"view of {opts.indicators_topic} and {opts.signals_topic}",
                chart_symbol=symbol, history=self._history(symbol),
                stale_symbols=frozenset(
                    s for s, at in self._arrived.items() if now - at > QUIET_S
                ),
            )
        )  # fmt: skip

    def _engine_lines(self, now: float) -> tuple[str, ...]:
        """A count, then a line per engine heard from in the last BEAT_FORGET_S."""
        beats = [b for b in self._beats.values() if now - b.t <= BEAT_FORGET_S]
        if not beats:
            return ("none heard from yet",)

        def rank(b: _Beat) -> int:  # running, then silent, then stopped
            return 2 if b.health == "STOPPED" else 1 if now - b.t > BEAT_SILENT_S else 0

        beats.sort(key=lambda b: (rank(b), b.partitions[:1], b.engine))
        running = sum(rank(b) == 0 for b in beats)
        return (f"{running} running", *(engine_line(b, now) for b in beats))

    def _state(self) -> EngineState:
        """The watchlist's rows as an EngineState, built again only when one changed."""
        if self._state_cache is not None:
            return self._state_cache
        rows = list(self._rows.values())

        def col(name: str) -> np.ndarray:
            a = np.array([_f(getattr(r, name)) for r in rows], dtype=np.float64)
            a.flags.writeable = False
            return a

        ticks = np.array([r.n_ticks for r in rows], dtype=np.int64)
        additive = np.array([r.additive for r in rows], dtype=bool)
        t_last = np.array([r.t for r in rows], dtype=np.float64)
        for a in (ticks, additive, t_last):
            a.flags.writeable = False
        self._state_cache = EngineState(
            symbols=tuple(r.symbol for r in rows), n_ticks=ticks, t_last=t_last,
            **{name: col(name) for name in INDICATORS}, open=col("open"),
            drift_se=col("drift_se"), additive=additive, config=self.options.engine,
            refused=0, evicted=self._evicted,
        )  # fmt: skip
        return self._state_cache

    def _history(self, symbol: str | None) -> History | None:
        points = self._chart.get(symbol) if symbol is not None else None
        if not points:
            return None
        t, price, fast, slow = (np.array(c, dtype=np.float64) for c in zip(*points, strict=True))
        return History(t=t, price=price, sma_fast=fast, sma_slow=slow)

    def notice(self, text: str) -> None:
        """Tell the user something (from any thread): shown with the next snapshot."""
        self._told.put(text)

    def _notice(self, text: str, error: bool = False) -> None:
        if self._notices and self._notices[-1].text == text:
            return
        self._notice_seq += 1
        self._notices.append(Notice(self._notice_seq, redact(text), error))

    def _note_error(self, text: str) -> None:
        self._errors += 1
        self._last_error = redact(text)
        log.warning("%s", text)

    def _on_error(self, err: KafkaError) -> None:
        if err.code() == KafkaError._ALL_BROKERS_DOWN:  # one lost connection is not that
            self._broker = "DOWN"
        self._errors += 1
        self._last_error = f"kafka: {err.str()}"
        KAFKA_LOGGER.warning("%s", self._last_error)


class ViewFeed:
    """The monitor's feed in `--view`: a ViewWorker, and limits sent to the limits topic
    (see :class:`tui.runtime.pipeline.Feed`)."""

    def __init__(
        self,
        options: ViewOptions,
        share: Callable[[str, float, float, str], None] | None = None,
    ) -> None:
        self.worker = ViewWorker(options)
        self._share = share

    #: Why a limit set here would change nothing (None: it goes to the engines), and why
    #: the band's re-centring (key a) cannot: the engines keep their automatic limits.
    @property
    def limits_refused(self) -> str | None:
        if self._share is None:
            return "--no-shared-limits: a limit set in this --view reaches no engine"
        return None

    band_refused = (
        "--view: the engines keep their own automatic limits; set a symbol's limits with "
        "b/B/s/S or l, which the engines apply"
    )

    def start(self) -> None:
        self.worker.start()

    def latest(self) -> Snapshot | None:
        return self.worker.latest()

    def set_limits(self, symbol: str, buy: float | None, sell: float | None) -> None:
        """The engines set limits; what a key asks goes out with `share_limits`."""

    def share_limits(self, symbol: str, buy: float, sell: float, side: str = "") -> None:
        if self._share is not None:
            self._share(symbol, buy, sell, side)

    def set_paused(self, paused: bool) -> None:
        """A view has no producer to pause."""
        self.worker.notice("--view has no producer to pause: the engines read on")

    def select(self, symbol: str | None) -> None:
        self.worker.chart_symbol = symbol

    def set_speed(self, speed: float) -> None:
        """A view has no producer."""
        self.worker.notice("--view has no producer: its speed is the engines' topic's")

    def record(self, path: str | None) -> None:
        """A view records nothing (`limitwatch record` records the prices topic)."""
        if path:
            self.worker.notice(
                "--view reads no ticks to record; `limitwatch record FILE "
                "--bootstrap-servers …` records the prices topic"
            )

    def stop(self, timeout: float = 2.0) -> bool:
        self.worker.stop()
        self.worker.join(timeout)
        return not self.worker.is_alive()
