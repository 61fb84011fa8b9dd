"""The last resort of quitting: a process asked to quit by a signal ends within a bound,
whatever state its user interface is in."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Seconds a quit asked for by a signal may take before the process ends itself. A quit
#: takes 1.5-2 s (the threads stopped, the broker shut down). The user interface's
#: shutdown used to wait forever on an output thread it had started again at the SIGCONT
#: a closing terminal sends (see LimitwatchApp._watch_hangup): this bounds what else may.
QUIT_GRACE_S = 10.0


def exit_hard_after(
    seconds: float, code: int, reason: str, exit_: Callable[[int], object] = os._exit
) -> threading.Thread:
    """Start a daemon thread that ends the process with ``code`` after ``seconds``,
    unless it has ended by then. Nothing is cleaned up on that path but what the
    operating system does: an embedded broker dies with its parent."""

    def last_resort() -> None:
        time.sleep(seconds)
        # Logged from a thread of its own: a hung thread may hold the log's lock, and
        # the exit must not wait for it.
        note = threading.Thread(
            target=log.error, args=("quitting (%s) took over %.0f s: exiting now", reason, seconds),
            daemon=True,
        )  # fmt: skip
        note.start()
        note.join(0.5)
        exit_(code)

    thread = threading.Thread(target=last_resort, name="quit-watchdog", daemon=True)
    thread.start()
    return thread
