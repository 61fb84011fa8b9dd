"""Keeping the Kafka side in place while limitwatch runs: the embedded broker restarted
when it dies or reaches its memory budget, and the topics limitwatch created re-created
on a broker that comes back without them.

The embedded broker keeps every message in memory (Tansu's memory storage has no
retention), so it grows with everything produced. When its resident memory reaches the
budget, the keeper restarts it into a fresh, empty one: the producer is paused first and
the consumer allowed to read everything delivered (what it read is in the engine, so
nothing the monitor needs is lost), then the broker is restarted on the same port, the
topics re-created and the producer resumed. The pause this causes is measured and shown.

A broker that dies is restarted the same way, at most :data:`RESTART_TRIES` times in a
row with a growing wait between tries; each try is shown. The keeper runs in a thread of
its own that lives as long as the broker: a child started from a thread dies with that
thread (parent-death signal), which here is what is wanted.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from producer.broker import BrokerError, EmbeddedBroker
from producer.kafka_config import Connection, client_config
from producer.topics import UNANSWERED, create_missing

__all__ = [
    "BROKER_MEMORY_MIB",
    "RESTART_TRIES",
    "BrokerKeeper",
    "KeeperStatus",
]

log = logging.getLogger(__name__)

#: The embedded broker's default memory budget, in MiB.
BROKER_MEMORY_MIB = 512
#: The least budget one may ask for: a fresh broker takes about 18 MiB, and a budget near
#: that restarts it every few seconds (or, below, is dropped after one needless restart).
MIN_BROKER_MEMORY_MIB = 64
#: Share of the budget at which the keeper restarts the broker. The ticks still in flight
#: while the consumer reads up before the restart (a second's worth at most) land in the
#: remaining 5%, so the broker's resident memory stays under the budget itself.
RESTART_AT = 0.95
#: Restarts of a dead embedded broker tried in a row before giving up.
RESTART_TRIES = 5
#: Waits before each try (seconds); the last one repeats.
BACKOFF_S = (0.2, 1.0, 2.0, 4.0, 8.0)
#: Once those tries are spent, one more try every this many seconds: what held the port
#: (another program) may let it go, and the monitor then comes back by itself.
RETRY_GIVEN_UP_S = 30.0
#: How often the keeper looks at the broker and, less often, at the topics.
LOOK_EVERY_S = 0.2
TOPICS_EVERY_S = 1.0
#: Longest wait for one answer about the topics.
_TOPICS_TIMEOUT_S = 0.5
#: Longest wait for a restarted broker to create the topics, seconds.
_CREATE_S = 5.0


def _now() -> str:
    return time.strftime("%H:%M:%S")


@dataclass(frozen=True, slots=True)
class KeeperStatus:
    """What the keeper has done, for the Kafka pane and the log."""

    restarts: int = 0  # embedded broker restarts (after deaths and for the budget)
    budget: int | None = None  # the embedded broker's memory budget in bytes
    state: str = ""  # the latest thing the keeper did or is doing, in words
    last_pause_s: float = math.nan  # how long the last budget restart held the ticks
    recreated: int = 0  # topics created again on a broker that had lost them
    gave_up: bool = False  # the embedded broker could not be restarted
    pausing: bool = False  # a budget restart is under way: ticks are held on purpose
    lost: int = 0  # ticks still unread at budget restarts (the consumer stopped reading up)


class BrokerKeeper(threading.Thread):
    """Restarts `broker` (None: a cluster limitwatch does not own) and re-creates the
    `topics` (name: partitions) it created, those in `compacted` compacted again.

    Parameters
    ----------
    quiesce:
        Called before a budget restart: pause the producer and wait (bounded) until the
        consumer has read what was delivered. Returns whether the producer was running,
        and how many ticks the consumer had still not read (lost with the broker).
    resume:
        Called after a budget restart with what `quiesce` returned; returns (bounded)
        once ticks flow again.
    """

    def __init__(
        self,
        bootstrap: Connection | str,
        topics: dict[str, int],
        broker: EmbeddedBroker | None = None,
        budget_bytes: int | None = None,
        tries: int = RESTART_TRIES,
        retry_given_up_s: float = RETRY_GIVEN_UP_S,
        quiesce: Callable[[], tuple[bool, int]] | None = None,
        resume: Callable[[bool], None] | None = None,
        compacted: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(name="limitwatch-keeper", daemon=True)
        self.bootstrap = bootstrap
        self.topics = dict(topics)
        self.compacted = compacted
        self.broker = broker
        self.budget_bytes = budget_bytes if broker is not None else None
        self.tries = tries
        self.retry_given_up_s = retry_given_up_s
        self._retry_at = math.inf  # when a broker given up is tried again (monotonic)
        self._died: tuple[float, int | None] = (0.0, None)  # (monotonic time, exit code)
        self._quiesce = quiesce
        self._resume = resume
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._status = KeeperStatus(budget=self.budget_bytes)
        self._just_restarted = False  # the last look restarted the broker for its budget
        self._refused = ""  # why the cluster last refused to create the topics again

    # -- the outside world ----------------------------------------------------------------
    def stop(self) -> None:
        """Ask the thread to end; returns at once."""
        self._stop_event.set()

    def status(self) -> KeeperStatus:
        """The latest status."""
        with self._lock:
            return self._status

    # -- inside the thread ----------------------------------------------------------------
    def _set(self, **changes: object) -> None:
        with self._lock:
            fields = {f: getattr(self._status, f) for f in KeeperStatus.__slots__}
            fields.update(changes)
            self._status = KeeperStatus(**fields)  # type: ignore[arg-type]
        if "state" in changes:
            log.warning("%s", changes["state"])

    def run(self) -> None:
        if self.broker is None and not self.topics:
            return  # a cluster whose topics were there already: nothing to keep
        with AdminClient(client_config(self.bootstrap)) as admin:  # closed here (topics.py)
            self._look_after(admin)

    def _look_after(self, admin: AdminClient) -> None:
        next_topics = 0.0
        while not self._stop_event.wait(LOOK_EVERY_S):
            try:
                broker = self.broker
                if broker is not None and not broker.alive():
                    if not self.status().gave_up:
                        self._restart_dead(broker)
                    elif time.monotonic() >= self._retry_at:
                        self._retry_given_up(broker)
                    continue
                if broker is not None and self.budget_bytes is not None:
                    rss = broker.rss_bytes()
                    high = RESTART_AT * self.budget_bytes
                    if rss is not None and rss >= high and self._over_fresh(rss):
                        self._restart_for_budget(broker, rss)
                        self._just_restarted = True
                        next_topics = 0.0
                        continue
                    self._just_restarted = False
                if self.topics and time.monotonic() >= next_topics:
                    next_topics = time.monotonic() + TOPICS_EVERY_S
                    self._keep_topics(admin)
            except Exception:  # the keeper must outlive anything one look runs into
                log.exception("the broker keeper hit an error")

    def _other_topics(self) -> dict[str, int]:
        """Topics on the broker that limitwatch did not create, with their partitions:
        other clients' (a producer and engines of their own pointed at the monitor's
        broker). A budget restart empties them too: they are made again, and what their
        readers had not read is said lost (it was lost without a word, 27-32% of a
        stream at 20,000 ticks/s, and their producer waited for ever for a topic gone,
        their engines for one that was "missing")."""
        try:
            with AdminClient(client_config(self.bootstrap)) as admin:
                topics = admin.list_topics(timeout=2.0).topics
        except Exception as exc:  # a broker too busy to answer: nothing known
            log.warning("could not list the embedded broker's topics: %s", exc)
            return {}
        return {
            name: len(meta.partitions)
            for name, meta in topics.items()
            if name not in self.topics and not name.startswith("__") and meta.partitions
        }

    def _restart(self, broker: EmbeddedBroker, others: dict[str, int] | None = None) -> None:
        """Restart `broker` (empty) and create the topics on it (and ``others``, other
        clients' topics with their partitions): asked again each second for at most
        :data:`_CREATE_S`, and given up as soon as the broker is gone (one that died as
        it started cost the whole wait before the next try: 5-11 s)."""
        broker.restart()
        deadline = time.monotonic() + _CREATE_S
        topics = {**(others or {}), **self.topics}
        with AdminClient(client_config(self.bootstrap)) as admin:
            while True:
                try:
                    create_missing(admin, topics, 1.0, compacted=self.compacted)
                    return
                except Exception:
                    if not broker.alive():
                        raise BrokerError(
                            f"it died as it started (exit {broker.exit_code()})"
                        ) from None
                    # A refusal comes at once: asked again after a pause, not in a spin.
                    if time.monotonic() >= deadline or self._stop_event.wait(0.2):
                        raise

    def _over_fresh(self, rss: int) -> bool:
        """False, and the budget dropped, when a broker restarted for it is over it at
        once: restarting again would only loop."""
        if not self._just_restarted:
            return True
        assert self.budget_bytes is not None
        mib = 2**20
        self._set(
            state=f"{_now()} budget {self.budget_bytes / mib:.0f} MiB is below a fresh "
            f"broker's {rss / mib:.0f} MiB: not kept"
        )
        self.budget_bytes = None
        return False

    def _keep_topics(self, admin: AdminClient) -> None:
        """Create again the topics limitwatch created that the cluster no longer has."""
        try:
            made = create_missing(admin, self.topics, _TOPICS_TIMEOUT_S, compacted=self.compacted)
        except Exception as exc:  # no answer: the broker is down or busy; try again later
            err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
            unanswered = isinstance(err, KafkaError) and err.code() in UNANSWERED
            why = err.str() if isinstance(err, KafkaError) else str(exc)
            if not unanswered and why != self._refused:  # a refusal (not allowed): said once
                self._refused = why
                log.warning("could not create the missing topics %s again: %s",
                            ", ".join(self.topics), why)  # fmt: skip
            return
        self._refused = ""
        if made:
            names = ", ".join(f"{name} ({n})" for name, n in made.items())  # (partitions)
            self._set(
                recreated=self.status().recreated + len(made), state=f"{_now()} re-created {names}"
            )

    def _restart_dead(self, broker: EmbeddedBroker) -> None:
        """Restart a broker that died: up to `tries` times, waiting longer each time."""
        code = broker.exit_code()
        lost = time.monotonic()
        self._died = (lost, code)
        error = ""
        for attempt in range(1, self.tries + 1):
            wait = BACKOFF_S[min(attempt - 1, len(BACKOFF_S) - 1)]
            self._set(
                state=f"{_now()} died (exit {code}): try {attempt} of {self.tries} in {wait:g} s"
                + (f" (last: {error})" if error else "")
            )
            if self._stop_event.wait(wait):
                return
            try:
                self._restart(broker)
            except Exception as exc:
                error = str(exc)
                log.warning("restart %d of the embedded broker failed: %s", attempt, exc)
                continue
            took = time.monotonic() - lost
            self._set(
                restarts=self.status().restarts + 1,
                state=f"{_now()} restarted after exit {code} (try {attempt}, {took:.1f} s)",
            )
            return
        self._retry_at = time.monotonic() + self.retry_given_up_s
        self._set(
            gave_up=True,
            state=f"{_now()} died: gave up after {self.tries} tries: {error}",
        )

    def _retry_given_up(self, broker: EmbeddedBroker) -> None:
        """One more try at a broker given up; the next one `retry_given_up_s` later."""
        self._retry_at = time.monotonic() + self.retry_given_up_s
        try:
            self._restart(broker)
        except Exception as exc:
            log.info("the embedded broker given up could not be restarted yet: %s", exc)
            return
        lost, code = self._died
        self._set(
            gave_up=False,
            restarts=self.status().restarts + 1,
            state=f"{_now()} restarted after exit {code}, {time.monotonic() - lost:.0f} s after "
            f"it died (tried every {self.retry_given_up_s:g} s once its first tries failed)",
        )

    def _restart_for_budget(self, broker: EmbeddedBroker, rss: int) -> None:
        """Restart into a fresh broker once the consumer has read what was delivered."""
        mib = 2**20
        assert self.budget_bytes is not None
        self._set(
            pausing=True,
            state=f"{_now()} at its budget ({rss / mib:.0f} of "
            f"{self.budget_bytes / mib:.0f} MiB): restarting empty",
        )
        started = time.monotonic()
        try:
            others = self._other_topics()
            running, unread = self._quiesce() if self._quiesce is not None else (False, 0)
            drained = time.monotonic()
            try:
                self._restart(broker, others)
            except Exception as exc:
                log.warning("the budget restart of the embedded broker failed: %s", exc)
                # A dead broker is restarted by the next look, with its tries and waits.
            finally:
                restarted = time.monotonic()
                if self._resume is not None:
                    self._resume(running)
        except BaseException:
            self._set(pausing=False)  # PAUSE must not outlast the restart it stands for
            raise
        done = time.monotonic()
        # Said first: the row is cut to the pane's width.
        lost = f", {unread:,} unread ticks lost with it" if unread else ""
        if others:  # the log has them all
            names = ", ".join(sorted(others))
            lost += (
                f"; other clients' topics emptied too ({names}): what their readers had "
                "not read is lost (give them a Kafka of their own, or a larger "
                "--broker-memory)"
            )
        self._set(
            pausing=False,
            restarts=self.status().restarts + 1,
            last_pause_s=done - started,
            lost=self.status().lost + unread,
            state=f"{_now()} restarted empty at its budget{lost}: ticks paused "
            f"{done - started:.1f} s (reading up {drained - started:.1f}, restart "
            f"{restarted - drained:.1f}, flowing again {done - restarted:.1f})",
        )
