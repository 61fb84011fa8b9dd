"""The producer thread: reads a Source and sends its ticks to the `prices` topic.

Paced sources are spaced out by event time divided by a speed factor, with long quiet
stretches in the data (an overnight gap) shortened to `max_gap_s`; pause, resume and
speed changes arrive as small commands on a queue. Delivery reports are counted (the
rate shown as "out" is of delivered ticks, failed ones are counted apart), the
client is polled after every send, a full local queue is retried rather than dropped,
and the producer is flushed (bounded) on stop.

A broker that goes away is waited for, not fed: when the client reports every broker
down, what it still holds is taken back and sending stops (nothing is counted as "out"
or piles up failing), until the broker answers and the topic is there again. A new
client then sends again, marked as resent, the ticks delivered from :data:`RESEND_S`
seconds before the loss on (a broker restarted empty lost what it had not yet handed to
the consumer), followed by the ones taken back, in their order, before any new tick; a
consumer drops the resent ticks it has already read. Ticks delivered a second time are
not counted again as delivered. A client that hits a fatal error (an idempotent producer
after its broker restarted empty) is replaced the same way. Topics are never
auto-created by sending: whoever set the topic up re-creates it with its partition count.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from producer.control import (
    ForgetSent,
    ProducerCommand,
    ProducerStats,
    SetPaused,
    SetSpeed,
    drain,
)
from producer.delivery import produce_with_retry
from producer.files import cut_short
from producer.kafka_config import Connection, client_config, redact
from producer.lines import SourceError, skip_hint
from producer.source import Source
from producer.wire import RETRY_TAIL, Tick, encode, event_time, mark_resent

log = logging.getLogger(__name__)

#: The longest a thread loop waits before it looks at its stop flag again.
STOP_CHECK_S = 0.1
#: Delivery reports are served after every this many messages (and while waiting).
POLL_EVERY = 32
#: On stop, how long to wait for the last messages to be delivered; what is still
#: queued after that (a dead broker) is counted as failed.
STOP_FLUSH_S = 1.0
#: With a ``backlog`` (how many seconds its reader in the same monitor is behind), the
#: thread holds its source while that passes BACKLOG_MOST_S, until it is back under
#: BACKLOG_RESUME_S, looking every BACKLOG_EVERY ticks: a replay at ``--speed max`` ran
#: ahead of its monitor for good, 414,681 ticks and 20 s behind and growing, every
#: forecast stale, until the broker's budget restart lost what was unread. (Seconds, not
#: ticks: held at 200,000 ticks, a monitor reading 12,000 a second was 14 s behind.)
BACKLOG_MOST_S = 2.0
BACKLOG_RESUME_S = 0.5
BACKLOG_EVERY = 1_000
#: Ticks delivered this many seconds before the broker was lost are sent again when it
#: returns: a broker restarted empty lost those its consumer had not read yet.
RESEND_S = 10.0
#: At most this many delivered ticks are kept to be sent again.
RESEND_MAX = 100_000
#: While the broker is away, how long each look for it may take, and how often it looks.
_PROBE_S = 0.15
_PROBE_EVERY_S = 0.5
#: Longest wait for the broker's answer when ticks timed out, in seconds.
_ANSWER_S = 1.0
#: Longest wait for the reports of what a lost client held, in seconds, before a new
#: client is made; the lost one is then kept and polled while the broker is away, and
#: waited for before anything is sent again, up to LATE_REPORTS_S after the loss (the
#: ticks it gives back are sent again first, in order). What has not reported by then
#: is counted failed: on a loaded machine 3 reports once came after the 2 s.
TAKE_BACK_S = 2.0
LATE_REPORTS_S = 15.0
#: Delivery errors of messages taken back from the client when the broker was lost, or
#: refused by a client that failed fatally (an idempotent one whose broker came back
#: empty): all are sent again, by a new client.
_TAKEN_BACK = (
    KafkaError._PURGE_QUEUE,
    KafkaError._PURGE_INFLIGHT,
    KafkaError._FATAL,
    KafkaError.UNKNOWN_PRODUCER_ID,
    KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER,
)


def _is_fatal(exc: KafkaException) -> bool:
    """Whether `exc` comes from a client that failed fatally and must be replaced."""
    err = exc.args[0] if exc.args else None
    return isinstance(err, KafkaError) and (err.fatal() or err.code() == KafkaError._FATAL)


#: Slowest --speed: slower, a replay of ticks a second apart sends one in hours.
MIN_SPEED = 0.001


def parse_speed(text: str) -> float:
    """Parse a --speed value: a positive number or 'max'."""
    if text.strip().lower() in {"max", "inf"}:
        return math.inf
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"speed must be a positive number or 'max', got {text!r}") from None
    if not value > 0 or math.isnan(value):
        raise ValueError(f"speed must be a positive number or 'max', got {text!r}")
    if value < MIN_SPEED:  # 1e-300 was taken: one tick sent, then silence for ever
        raise ValueError(
            f"speed must be at least {MIN_SPEED:g} (a second of ticks then takes "
            f"{1 / MIN_SPEED / 60:.0f} minutes), got {text!r}"
        )
    return value


class ProducerThread(threading.Thread):
    """Sends `source`'s ticks to `topic` until the source ends or `stop()` is called."""

    def __init__(
        self,
        bootstrap: Connection | str,
        source: Source,
        topic: str = "prices",
        speed: float = 1.0,
        linger_ms: int = 5,
        max_gap_s: float = 5.0,
        on_limits: Callable[[dict[str, tuple[float, float]]], None] | None = None,
        client_settings: dict[str, object] | None = None,
        backlog: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(name="limitwatch-producer", daemon=True)
        #: Seconds the monitor's own reader is behind (see BACKLOG_MOST_S).
        self.backlog = backlog
        self.bootstrap = bootstrap
        self.source = source
        self.topic = topic
        self._linger_ms = linger_ms
        self.max_gap_s = max_gap_s
        #: Called (in this thread, before the first tick is sent) with the source's limits
        #: if it has any by then: a scenario header read from standard input.
        self.on_limits = on_limits
        self._stop_event = threading.Event()
        self._commands: queue.SimpleQueue[ProducerCommand] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._stats = ProducerStats(source=source.name, speed=speed, paced=source.paced)
        self._speed = speed
        self._paused = False
        self._held = False
        #: librdkafka settings that replace the thread's own (e.g. enable.idempotence).
        self._client_settings = dict(client_settings or {})
        self._producer: Producer | None = None
        self._down_since: float | None = None  # monotonic time the broker was lost
        self._fatal = ""  # the client's fatal error, if it hit one
        #: (delivered at, key, value) of recently delivered ticks, oldest first.
        self._sent: deque[tuple[float, bytes | None, bytes]] = deque(maxlen=RESEND_MAX)
        self._taken_back: list[tuple[bytes | None, bytes]] = []
        #: Copies of delivered ticks that did not go out again (see _on_redelivery).
        self._copies_lost: deque[tuple[bytes | None, bytes]] = deque(maxlen=RESEND_MAX)
        #: Ticks whose delivery timed out, to be sent once more (see _recover).
        self._timed_out: list[tuple[bytes | None, bytes]] = []
        #: The values of ticks that timed out and are not sent again yet: their copies
        #: are marked ``retry`` (never confirmed: a reader reads them though newer ticks
        #: of their symbol came first; see producer.wire.Tick).
        self._retry: set[bytes] = set()
        #: Lost clients whose reports had not all come in by TAKE_BACK_S, each with the
        #: time its wait ends (see LATE_REPORTS_S).
        self._lost_clients: list[tuple[float, Producer]] = []
        self._source_ended = False  # read to its end (not stopped before)
        self._generation = 0  # how many clients this thread has made
        self._resent = 0
        self._resent_said = 0  # sent again as of the last "broker back" in the log
        #: The round of the latest sending again (each marks its copies with its own, so
        #: a reader matches every round afresh: two outages within RESEND_S sent the
        #: first round's copies again); from a random start, apart from other producers'.
        self._round = secrets.randbits(30) + 1
        self._rebuilt = 0
        #: How far this thread has moved its paced source's event time ahead of the
        #: machine's clock since its first tick, seconds (negative behind it): a replay
        #: or a generator sped up (``--speed``, ``+``) runs ahead by design, paused it
        #: falls behind. Quiet stretches of the data (longer than ``max_gap_s``) do not
        #: count, so one line dated years ahead in a file does not move it; a source
        #: ahead from its first tick on (a recording of the generator sped up) starts
        #: that far ahead, or a replay of it had every tick refused as "future time". A
        #: consumer in the same process checks event times against the clock plus this.
        self.lead_s = 0.0

    # -- the outside world talks to the thread only through these -------------------------
    def stop(self) -> None:
        """Ask the thread to flush and end; returns at once (join to wait)."""
        self._stop_event.set()
        release = getattr(self.source, "release", None)  # a named pipe nobody writes to
        if callable(release):
            release()

    def send(self, command: ProducerCommand) -> None:
        """Queue a command (pause/resume, speed) for the thread."""
        self._commands.put(command)

    def stats(self) -> ProducerStats:
        """The latest counters."""
        with self._lock:
            return self._stats

    # -- inside the thread ----------------------------------------------------------------
    def _update(self, **changes: object) -> None:
        with self._lock:
            fields = {f: getattr(self._stats, f) for f in ProducerStats.__slots__}
            fields.update(changes)
            self._stats = ProducerStats(**fields)  # type: ignore[arg-type]

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self._delivered += 1
            self._sent.append((time.monotonic(), msg.key(), msg.value()))
        elif err.code() in _TAKEN_BACK or err.fatal() or self._fatal:
            self._taken_back.append((msg.key(), msg.value()))
        elif err.code() == KafkaError._MSG_TIMED_OUT:
            # No broker took it within message.timeout.ms: see _recover.
            self._timed_out.append((msg.key(), msg.value()))
            self._retry.add(msg.value())
        else:
            self._failed += 1
            self._last_error = redact(str(err))

    def _on_retry(self, err: KafkaError | None, msg: Message) -> None:
        """A tick that timed out, sent once more: counted now, failed if it fails again."""
        if err is None or err.code() in _TAKEN_BACK or err.fatal() or self._fatal:
            self._on_delivery(err, msg)
        else:
            self._failed += 1
            self._last_error = redact(str(err))

    def _on_redelivery(self, err: KafkaError | None, msg: Message) -> None:
        """A tick delivered before and sent again: never counted twice; kept to be sent
        again in the next round, delivered (in the window of those sent before a loss) or
        not (its copy taken back by a broker lost again while the copies went out, or
        timed out). Those that failed were only logged, and lost: four kills of the
        embedded broker 1.2 s apart lost 1 to 69 acknowledged ticks in each of three runs,
        each missing from the broker that came back and never sent again."""
        if err is None:
            self._sent.append((time.monotonic(), msg.key(), msg.value()))
        else:
            self._copies_lost.append((msg.key(), msg.value()))

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal = err.str()
        elif err.code() == KafkaError._ALL_BROKERS_DOWN and self._down_since is None:
            self._down_since = time.monotonic()

    def _new_producer(self) -> Producer:
        self._generation += 1
        generation = self._generation

        def on_error(err: KafkaError) -> None:
            # A lost client kept to hear its last reports (_lost_clients) goes on failing
            # to reach its broker: its errors are not the current client's.
            if generation == self._generation:
                self._on_error(err)

        return Producer(client_config(self.bootstrap, **self.client_settings(on_error)))

    def client_settings(self, on_error: Callable[[KafkaError], None]) -> dict[str, object]:
        """The settings of each client this thread makes (the user's own on top)."""
        settings: dict[str, object] = {
            "linger.ms": self._linger_ms,
            "enable.idempotence": False,
            # A retried request must not land after the ones sent behind it: a reader
            # takes a tick sent again only if it is newer than the latest of its symbol
            # read, so one newer tick landing first on a broker back from a loss drops
            # every older copy of that symbol (324 acknowledged ticks of one symbol were
            # never read). Without idempotence only one request in flight keeps the order.
            "max.in.flight.requests.per.connection": 1,
            "message.timeout.ms": 30000,
            "queue.buffering.max.messages": 200000,
            # A restarted broker must not get the topic with its own partition count.
            "allow.auto.create.topics": False,
            "error_cb": on_error,
        }
        settings.update(self._client_settings)
        return settings

    def run(self) -> None:
        self._delivered = 0
        self._failed = 0
        self._last_error = ""
        self._bad_input = False
        self._producer = self._new_producer()
        self._produced = 0
        try:
            self._pump()
        except SourceError as exc:  # bad input, said where and what: no stack to log
            self._last_error = redact(f"{exc}{skip_hint(exc)}")
            self._bad_input = True
            log.error("producer stopped on bad input: %s", self._last_error)
        except Exception as exc:  # a source that fails must not kill the app silently
            log.exception("producer stopped on an error")
            self._last_error = redact(f"{type(exc).__name__}: {exc}")
        finally:
            started = time.monotonic()
            # Stopped while a lost client's reports were still to come: what they give
            # back is counted failed below (taken back, never sent again).
            held = self._forget_lost_clients(started + STOP_FLUSH_S / 2)
            try:
                left_s = max(STOP_FLUSH_S - (time.monotonic() - started), 0.0)
                remaining = held + (0 if self._fatal else self._producer.flush(left_s))
            except Exception:  # a client that failed fatally meanwhile
                remaining = held + len(self._producer)
            flush_s = time.monotonic() - started
            if remaining:
                log.warning("%d messages were not delivered before the producer stopped", remaining)
            # As the backtest of the same file says it: its last tick may be cut short.
            # (Only of a source read to its end, not of one stopped before it.)
            # (Stopped while its last ticks waited for the broker, it was read to its end.)
            ended = self._source_ended and not self._last_error
            note = (cut_short(self.source) or "") if ended else ""
            if note:
                log.warning("%s", note)
            self._update(
                note=redact(note),
                produced=self._produced,  # what was sent before an error, too
                delivered=self._delivered,
                failed=self._failed + remaining + len(self._taken_back) + len(self._timed_out),
                flush_s=flush_s,
                last_error=self._last_error,
                bad_input=self._bad_input,
                finished=True,
                rate=0.0,
                skipped=getattr(self.source, "skipped", 0),
                waiting="",
            )

    @property
    def _client(self) -> Producer:
        assert self._producer is not None
        return self._producer

    def _poll(self, timeout: float) -> None:
        """Serve the client's callbacks; a fatal error it raises marks it for replacing."""
        try:
            self._client.poll(timeout)
        except KafkaException as exc:
            if not _is_fatal(exc):
                raise
            self._fatal = self._fatal or exc.args[0].str()

    # -- a broker that goes away ----------------------------------------------------------
    def _recover(self) -> bool:
        """If the broker was lost or the client failed fatally, wait until the broker and
        the topic are back, then send again what it may have lost. True if it waited.

        Ticks that timed out (no broker took them within message.timeout.ms) are sent
        once more, and counted failed if they fail again, when the broker answers (one
        partition's leader away: nothing else is held or sent twice); when it does not
        (a broker frozen that long keeps its connections, so none is reported down),
        they are held with the rest and sent again once it is back, as for a broker
        that went down. (They were counted failed, and lost: a 43 s freeze, 569.)"""
        if (self._timed_out or self._copies_lost) and self._down_since is None and not self._fatal:
            if self._answers():
                timed_out, self._timed_out = self._timed_out, []
                self._send_once_more(sorted(timed_out, key=lambda kv: event_time(kv[1])))
                self._send_copies_again()
                return False
            self._down_since = time.monotonic()
            log.warning(
                "ticks timed out and the broker does not answer (down, frozen or overloaded): "
                "holding them"
            )
            timed_out_first = True
        else:
            timed_out_first = False
        if self._down_since is None and not self._fatal:
            return False
        lost_at = self._down_since if self._down_since is not None else time.monotonic()
        if self._fatal:
            log.warning("the Kafka producer hit a fatal error (%s); replacing it", self._fatal)
            self._last_error = f"fatal: {self._fatal}; client replaced"
            self._rebuilt += 1
        elif not timed_out_first:  # said above, in other words
            log.warning("every broker is down: sending held until one is back")
        # What the client holds is taken back and a new client takes over: one that failed
        # fatally cannot go on, and a new one has a fresh view of the topic, so the ticks
        # sent again and the new ones go to the same partition per symbol even when the
        # topic came back with another partition count.
        with contextlib.suppress(Exception):
            self._take_back()
        # Those that timed out (reported until now) are older than those taken back.
        self._taken_back[:0] = self._timed_out
        self._timed_out = []
        self._producer = self._new_producer()
        self._fatal = ""
        while not self._stop_event.is_set():
            why = self._probe()
            if not why:
                break
            self._hear_lost_clients()
            self._update(
                waiting=why, rate=0.0, produced=self._produced, delivered=self._delivered,
                failed=self._failed,
            )  # fmt: skip
            self._drain_commands()
            if self._fatal:  # failed again while waiting: start over with a new client
                return self._recover() or True
        if self._stop_event.is_set():
            return True
        self._down_since = None
        self._wait_for_lost_clients()  # what they give back goes first, in order
        self._send_again(lost_at)
        if self._fatal:  # the new client failed too: replace it and send the rest again
            return self._recover() or True
        self._update(waiting="", resent=self._resent, rebuilt=self._rebuilt)
        # (this outage's; the count shown, `resent`, is of every outage)
        log.info(
            "broker back: %d ticks sent again (%d in all)", self._resent - self._resent_said,
            self._resent,
        )  # fmt: skip
        self._resent_said = self._resent
        return True

    def _answers(self) -> bool:
        """Whether the broker answers a question about the topic within _ANSWER_S."""
        try:
            self._client.list_topics(self.topic, timeout=_ANSWER_S)
        except Exception:  # KafkaException: no answer in time
            return False
        return True

    def _copy(self, value: bytes) -> bytes:
        """``value`` marked as sent again in this round, and as a retry if it timed out
        (see ``_retry``)."""
        retry = value in self._retry or value.endswith(RETRY_TAIL)
        self._retry.discard(value)
        return mark_resent(value, self._round, retry=retry)

    def _send_once_more(
        self,
        ticks: list[tuple[bytes | None, bytes]],
        report: Callable[[KafkaError | None, Message], None] | None = None,
        left: deque[tuple[bytes | None, bytes]] | list[tuple[bytes | None, bytes]] | None = None,
    ) -> None:
        """Send ``ticks`` once more, marked as resent, each reported to ``report``: by
        default ticks that timed out (see _on_retry). Those not sent (the client failed
        fatally, or the thread stopped) join ``left``, by default those taken back."""
        report = self._on_retry if report is None else report
        left = self._taken_back if left is None else left
        self._round += 1
        for i, (key, value) in enumerate(ticks):
            try:
                queued = produce_with_retry(
                    self._client, self.topic, self._copy(value), key=key,
                    on_delivery=report, give_up=self._stop_event.is_set, wait_s=STOP_CHECK_S,
                )  # fmt: skip
            except KafkaException as exc:
                if not _is_fatal(exc):
                    raise
                self._fatal = exc.args[0].str()  # the next client sends the rest
                left.extend(ticks[i:])
                return
            if queued:
                self._resent += 1
            else:  # given up at the stop
                left.append((key, value))

    def _send_copies_again(self) -> None:
        """Send once more the copies of delivered ticks that timed out going out again
        while the broker stayed up (see _on_redelivery), in time order."""
        if not self._copies_lost:
            return
        copies = sorted(self._copies_lost, key=lambda kv: event_time(kv[1]))
        self._copies_lost.clear()
        self._send_once_more(copies, self._on_last_copy, self._copies_lost)

    def _on_last_copy(self, err: KafkaError | None, msg: Message) -> None:
        """A copy sent once more while the broker stayed up: kept again only if a broker
        lost since took it back (then it goes with that outage's round); a copy that
        fails once more with the broker up is given up, as a timed-out tick is (sent
        again at every turn, a copy the broker kept refusing would hold the producer)."""
        if err is None or err.code() in _TAKEN_BACK or err.fatal() or self._fatal:
            self._on_redelivery(err, msg)
        else:
            log.warning("a tick delivered before and sent again failed twice: %s", err)

    def _take_back(self) -> None:
        """Take back what the client still holds (delivered to nobody), to send it again
        in order after the ticks sent before it."""
        assert self._producer is not None
        self._producer.purge(in_queue=True, in_flight=True)
        # Their reports land in _taken_back as the client is polled: wait for every one
        # (a report left with the client replaced next was a tick never counted again).
        # (Not past a stop: the rest is heard in the stop's flush; a quit with the broker
        # just killed waited here for up to TAKE_BACK_S on a loaded machine.)
        deadline = time.monotonic() + TAKE_BACK_S
        while len(self._producer) and time.monotonic() < deadline:
            if self._stop_event.is_set():
                break
            self._producer.poll(0.05)
        if len(self._producer):
            # Not all in yet (a loaded machine; the count includes the client's own
            # events): kept, and heard while the broker is away and before sending again.
            self._lost_clients.append((deadline - TAKE_BACK_S + LATE_REPORTS_S, self._producer))
            log.info("a lost client still holds %d reports: kept to hear them", len(self._producer))

    def _hear_lost_clients(self) -> None:
        """Serve the late reports of lost clients (the ticks they give back join
        _taken_back); forget those that have no more."""
        for kept in list(self._lost_clients):
            with contextlib.suppress(KafkaException):  # a fatal error is not news
                kept[1].poll(0)
            if not len(kept[1]):
                self._lost_clients.remove(kept)

    def _wait_for_lost_clients(self) -> None:
        """Before sending again: hear the lost clients until they have reported all or
        their wait ends; what they still hold then is counted failed."""
        while self._lost_clients and not self._stop_event.is_set():
            self._hear_lost_clients()
            due = min(until for until, _ in self._lost_clients) if self._lost_clients else 0
            if time.monotonic() >= due:
                break
            self._update(waiting="the lost client's last reports")
            time.sleep(STOP_CHECK_S / 5)
        if not self._stop_event.is_set():
            self._failed += self._forget_lost_clients(time.monotonic())

    def _forget_lost_clients(self, until: float) -> int:
        """Hear the lost clients up to monotonic time `until` and let them go; how many
        reports they still owed (counted failed by the caller)."""
        owed = 0
        for _, client in self._lost_clients:
            with contextlib.suppress(KafkaException):  # a fatal error is not news
                client.flush(max(until - time.monotonic(), 0.0))
            owed += len(client)
        self._lost_clients.clear()
        if owed:
            log.warning("%d ticks a lost client held gave no report: counted failed", owed)
        return owed

    def _probe(self) -> str:
        """Why sending must wait ("" when the broker answers and has the topic)."""
        assert self._producer is not None
        started = time.monotonic()
        try:
            meta = self._producer.list_topics(self.topic, timeout=_PROBE_S)
        except Exception:  # KafkaException: no broker answered in time
            meta = None
        while not self._stop_event.is_set():  # the rest of the interval, stop-aware
            left = started + _PROBE_EVERY_S - time.monotonic()
            if left <= 0:
                break
            self._poll(min(left, STOP_CHECK_S))
        if meta is None:
            return "broker down"
        t = meta.topics.get(self.topic)
        if t is None or t.error is not None or not t.partitions:
            return f"topic {self.topic} missing"
        return ""

    def _send_again(self, lost_at: float) -> None:
        """Send the ticks delivered from RESEND_S before `lost_at` on and those taken
        back, each marked as resent, oldest first."""
        # Everything delivered since then: the new client has sent nothing yet, so late
        # acknowledgements from the lost broker count too. From RESEND_S before the last
        # acknowledgement, if that came first: a broker frozen for longer before it died
        # acknowledged nothing meanwhile, and its consumer read nothing either (307 ticks
        # acknowledged just before a 10 s freeze were not sent again, and lost).
        # (Only where ticks were left in flight: a source that was merely quiet before
        # the loss would send hour-old ticks again.)
        # With the ticks a lost client reported timed out since they were merged above
        # (late reports, heard while the broker was away): left for the next round, they
        # went out after newer ticks, and a consumer dropped them as read already.
        taken_back, self._taken_back = self._taken_back + self._timed_out, []
        self._timed_out = []
        since = lost_at
        if taken_back and self._sent:
            since = min(lost_at, self._sent[-1][0])
        delivered = [(k, v) for t, k, v in self._sent if t >= since - RESEND_S]
        if self._copies_lost:
            # The copies a lost round did not get out, among the others in time order
            # (a reader takes a copy only if it is newer than the latest tick of its
            # symbol it has read).
            delivered = sorted([*delivered, *self._copies_lost], key=lambda kv: event_time(kv[1]))
            self._copies_lost.clear()
        # Those taken back oldest event time first: their reports come in no order
        # (queued ones before those in flight), and a consumer drops a resent tick not
        # newer than its symbol's last as read already (thousands never read were).
        taken_back.sort(key=lambda kv: event_time(kv[1]))
        self._sent.clear()
        assert self._producer is not None
        self._round += 1
        for i, (key, value) in enumerate(delivered + taken_back):
            if self._stop_event.is_set():
                # Stopped midway: what was taken back and not sent again is counted as
                # failed at the stop, as it was before (produced = delivered + failed).
                self._taken_back.extend(taken_back[max(i - len(delivered), 0) :])
                return
            # A tick delivered before is not counted again; one taken back is counted now.
            report = self._on_redelivery if i < len(delivered) else self._on_delivery
            try:
                queued = produce_with_retry(
                    self._producer, self.topic, self._copy(value), key=key,
                    on_delivery=report, give_up=self._stop_event.is_set, wait_s=STOP_CHECK_S,
                )  # fmt: skip
            except KafkaException as exc:
                if not _is_fatal(exc):
                    raise
                self._fatal = exc.args[0].str()
                # The rest is the next client's to send, in the same two parts.
                now = time.monotonic()
                self._sent.extend((now, k, v) for k, v in delivered[i:])
                self._taken_back.extend(taken_back[max(i - len(delivered), 0) :])
                return
            if queued:
                self._resent += 1
            elif i >= len(delivered):  # given up at the stop: never sent, so not delivered
                self._taken_back.append((key, value))
        self._poll(0)

    def _drain_commands(self) -> bool:
        """Apply queued commands; True if pacing must be re-anchored."""
        return drain(self._commands, self._apply)

    def _apply(self, cmd: ProducerCommand) -> None:
        if isinstance(cmd, SetPaused):
            self._paused = cmd.paused
            self._held = cmd.paused and cmd.held
        elif isinstance(cmd, SetSpeed):
            self._speed = cmd.speed
        elif isinstance(cmd, ForgetSent):
            self._sent.clear()
        self._update(paused=self._paused, held=self._held, speed=self._speed, rate=0.0)

    def _pump(self) -> int:
        self._produced = 0
        self._last_report = 0.0
        self._window: deque[tuple[float, int]] = deque([(time.monotonic(), 0)])
        anchor: tuple[float, float] | None = None  # (event time, wall time) pacing origin
        prev_ts = math.nan
        origin = math.nan  # first event time less its monotonic send time
        ahead = 0.0  # how far the first tick was ahead of the machine's clock
        skipped = 0.0  # event seconds of quiet stretches longer than max_gap_s
        # A source that waits for its writer (standard input, a named pipe) is read by a
        # helper thread: read here, a quiet writer left deliveries unserved and the
        # counters where the last line had left them (a named pipe's second tick
        # unreported for good).
        live = not self.source.paced or getattr(self.source, "streaming", False)
        ticks = self._live() if live else iter(self.source)
        follows_clock = bool(getattr(self.source, "follows_clock", False))
        # Opening a named pipe waits for a writer, then its first line: said until the
        # first tick (it read "a writer on ff" with a writer that had sent the header).
        pipe = getattr(self.source, "named_pipe", None)
        awaiting = callable(pipe) and pipe()
        if awaiting:
            self._update(waiting=f"the first tick on the pipe {self.source.name}")
        for tick in ticks:
            if awaiting:
                awaiting = False
                self._update(waiting="")
            if self._stop_event.is_set():
                break
            if self._drain_commands():
                anchor = None
            while not self._stop_event.is_set():
                while self._paused and not self._stop_event.is_set():
                    self._poll(STOP_CHECK_S)
                    self._report()  # deliveries still come in: counted while paused too
                    if self._drain_commands():
                        anchor = None
                if not self._read_up():
                    break
                # Held for the reader: a pause asked meanwhile holds this tick too (a
                # budget restart's would have let it go to the broker about to be
                # replaced); a replay goes on from here, not in a burst.
                if not follows_clock:
                    anchor = None
            if self._stop_event.is_set():
                break
            gap = tick.ts - prev_ts
            # A quiet stretch in the data (a night, a weekend) is shortened to max_gap_s;
            # a market on the machine's clock (the generator) is not data: its times are
            # when to send (at --rate 0.001 it waited 5 s a tick and stamped them 1,000 s
            # ahead of the clock, which the engine refuses).
            quiet = gap > self.max_gap_s and not follows_clock
            if quiet:
                skipped += gap - self.max_gap_s
            if self.source.paced and math.isfinite(self._speed):
                if anchor is None and follows_clock and not self._produced:
                    # Its first tick too waits for its time, a gap after the clock's start
                    # (a gap of 1,000 s at --rate 0.001).
                    anchor = (time.time(), time.monotonic())
                elif anchor is None:
                    anchor = (tick.ts, time.monotonic())
                elif quiet:
                    # Wait max_gap_s of event time instead of the whole gap; event times
                    # are kept as they are.
                    anchor = (anchor[0] + gap - self.max_gap_s, anchor[1])
                due = anchor[1] + (tick.ts - anchor[0]) / self._speed
                while not self._stop_event.is_set():
                    wait = due - time.monotonic()
                    if wait <= 0:
                        break
                    self._poll(min(wait, STOP_CHECK_S))
                    self._report()
                    if self._drain_commands():
                        anchor = (tick.ts, time.monotonic())
                        due = anchor[1]
                if self._stop_event.is_set():
                    break
            if self._recover() and not follows_clock:
                # A replay goes on from here, not in a burst. A market on the machine's
                # clock (the generator) keeps its origin and sends what came due while
                # the broker was away at once: re-anchored, it fell behind the clock by
                # every outage for good (four broker kills: its ticks 4 s late, every
                # signal stamped so, and "lag 0" on screen).
                anchor = None
            if self._stop_event.is_set():
                break
            if self._produced == 0 and self.on_limits is not None and self.source.limits:
                self.on_limits(dict(self.source.limits))
            prev_ts = tick.ts
            if self.source.paced:
                sent = tick.ts - time.monotonic()
                if math.isnan(origin):
                    origin = sent
                    ahead = max(0.0, tick.ts - time.time())
                self.lead_s = ahead + sent - origin - skipped
            self._produce(tick)
            self._produced += 1
            self._report()
        else:  # the source has ended (not stopped): its ticks are delivered before the end
            self._source_ended = True
            self._deliver_the_rest()
        return self._produced

    def _read_up(self) -> bool:
        """Every BACKLOG_EVERY ticks: while the monitor's reader is more than
        BACKLOG_MOST_S behind, wait until it is under BACKLOG_RESUME_S (commands and
        reports served meanwhile). Whether it waited."""
        if self.backlog is None or self._produced % BACKLOG_EVERY:
            return False
        if not self.backlog() > BACKLOG_MOST_S:
            return False
        self._update(waiting="the monitor to read up")
        while not self._stop_event.is_set() and self.backlog() > BACKLOG_RESUME_S:
            self._poll(STOP_CHECK_S)
            self._report()
            self._drain_commands()
        self._update(waiting="")
        return True

    def _deliver_the_rest(self) -> None:
        """Once the source has ended, wait until every tick sent is delivered, as while
        the broker is away (held, and sent again once it is back), until :meth:`stop`;
        only then is what is left counted failed. The stop's flush of at most
        STOP_FLUSH_S is for a stop asked for: at the natural end of a file on a slow
        broker it counted the last quarter of the file failed (35,650 of 150,000), and
        across a freeze 65,534."""
        while not self._stop_event.is_set():
            self._drain_commands()  # a pause or a speed asked meanwhile: taken (and moot)
            self._recover()
            self._hear_lost_clients()
            left = len(self._producer) + len(self._timed_out)
            if self._down_since is not None or self._fatal:  # sent again once it is back
                left += len(self._taken_back)
            # (Ticks taken back with the broker up, an idempotence error without a fatal
            # one, are not sent again: counted failed at the end, as before, not waited
            # for for ever.)
            if (not left and not self._lost_clients) or self._stop_event.is_set():
                break
            self._update(waiting=f"the last {left:,} ticks to be delivered (the source has ended)")
            self._poll(STOP_CHECK_S)
            self._report()
        self._update(waiting="")

    def _report(self) -> None:
        """Publish the counters, at most 20 times a second."""
        now = time.monotonic()
        if now - self._last_report <= 0.05:
            return
        self._last_report = now
        # The rate is of delivered ticks: sent ones that a dead broker never takes are not
        # "out" (they are counted as failed once their delivery times out).
        self._window.append((now, self._delivered))
        while now - self._window[0][0] > 3.0:
            self._window.popleft()
        t0, n0 = self._window[0]
        rate = (self._delivered - n0) / (now - t0) if now > t0 else 0.0
        self._update(
            produced=self._produced, delivered=self._delivered, failed=self._failed,
            last_error=self._last_error, rate=rate, skipped=getattr(self.source, "skipped", 0),
            resent=self._resent, rebuilt=self._rebuilt,
        )  # fmt: skip

    def _live(self) -> Iterator[Tick]:
        """The ticks of a live source, read by a helper thread so that this thread keeps
        polling the client, reporting, and looking at its stop flag while the source
        blocks (standard input that is quiet, a metrics interval)."""
        inbox: queue.Queue[Tick | BaseException | None] = queue.Queue(maxsize=10_000)
        stop = self._stop_event

        def read() -> None:
            item: Tick | BaseException | None = None
            try:
                for tick in self.source:
                    while not stop.is_set():
                        try:
                            inbox.put(tick, timeout=STOP_CHECK_S)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
            except Exception as exc:  # handed over and raised in the producer thread
                item = exc
            while not stop.is_set():
                try:
                    inbox.put(item, timeout=STOP_CHECK_S)
                    return
                except queue.Full:
                    continue

        threading.Thread(target=read, name="limitwatch-source-reader", daemon=True).start()
        while not stop.is_set():
            try:
                item = inbox.get(timeout=STOP_CHECK_S)
            except queue.Empty:
                self._poll(0)
                self._report()
                continue
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def _produce(self, tick: Tick) -> None:
        value = encode(tick)
        key = tick.symbol.encode()
        try:
            queued = produce_with_retry(
                self._client, self.topic, value, key=key, on_delivery=self._on_delivery,
                give_up=self._stop_event.is_set, wait_s=STOP_CHECK_S,
            )  # fmt: skip
        except KafkaException as exc:
            if not _is_fatal(exc):
                raise
            self._fatal = exc.args[0].str()  # the next tick replaces the client
            self._taken_back.append((key, value))
            return
        if not queued:
            self._failed += 1
            self._last_error = "stopped while the local queue was full"
            return
        if self._produced % POLL_EVERY == 0:
            self._poll(0)  # serve delivery reports
