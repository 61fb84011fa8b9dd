"""What keeps one test that dies or hangs from stalling the whole suite.

**A test stuck where pytest-timeout cannot reach.** pytest-timeout's signal ends a test
between two Python instructions; a test blocked inside C code (a Kafka client's close
waiting on a broker, say) never gets there. Past ``hard_timeout`` seconds (an ini setting;
0 turns it off) the process prints every thread's stack to stderr and ends itself; under
xdist the scheduler below reports the test failed and the run goes on (without xdist the
run ends there). It uses faulthandler's one timer: pytest's own ``faulthandler_timeout``
would take it over, and stays unset.

**A worker that dies.** pytest-xdist 3.8.0 hangs for good once a worker dies mid-run (a
crash, an ``os._exit``, the kernel's OOM killer) under ``--dist loadgroup``: the dead
worker's finished work units go back on the queue as empty ones, and a worker handed an
empty unit, or a unit of one test with nothing after it, waits for work that never comes
(pytest-dev/pytest-xdist#1323, #1327, #1378; the fixes are not released). The suite then
runs into its time limit instead of naming the test that died. This scheduler keeps xdist's
own grouping and changes only what a death leaves behind: the test the worker died in is
reported failed and not run again, finished units stay finished, a worker always holds two
tests or its shutdown, and once the queue is empty every worker is told to stop.
"""

from __future__ import annotations

import faulthandler
import os
import sys
from collections.abc import Generator

import pytest
from xdist.scheduler import LoadGroupScheduling
from xdist.workermanage import WorkerController


class CrashSafeLoadGroup(LoadGroupScheduling):
    """LoadGroupScheduling whose run ends, with the dead worker's test failed, if a worker
    dies."""

    def remove_node(self, node: WorkerController) -> str | None:
        workload = self.assigned_work.get(node, {})
        crashed = next(
            (nodeid for unit in workload.values() for nodeid, done in unit.items() if not done),
            None,
        )
        if crashed is None:
            return super().remove_node(node)
        for unit in workload.values():
            if crashed in unit:
                unit[crashed] = True  # reported failed by xdist; never run twice
        # Only units with tests still to run go back on the queue.
        self.assigned_work[node] = {
            scope: unit for scope, unit in workload.items() if not all(unit.values())
        }
        super().remove_node(node)
        return crashed

    def _reschedule(self, node: WorkerController) -> None:
        super()._reschedule(node)
        # A worker runs a test only once it holds the next one too, or its shutdown: a
        # replacement handed a unit of one test would wait for good.
        while (
            not node.shutting_down
            and self.workqueue
            and self._pending_of(self.assigned_work[node]) < 2
            and self._assign_work_unit(node)
        ):
            pass

    def _assign_work_unit(self, node: WorkerController) -> bool:  # type: ignore[override]
        """Hand `node` the next unit; False where it died before the unit could reach it
        (its death, handled next, puts the unit back on the queue: remove_node)."""
        try:
            super()._assign_work_unit(node)
        except OSError:  # "cannot send (already closed?)": seen once in CI
            return False
        if not self.workqueue:
            # A worker holding its last test waits for the next one or for shutdown: with
            # nothing left to hand out, every worker gets its shutdown now.
            for each in self.nodes:
                if not each.shutting_down:
                    each.shutdown()  # (xdist's own shutdown ignores a closed channel)
        return True


_STDERR_FD: int | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "hard_timeout",
        "seconds a test may take before its process dumps every thread's stack and ends "
        "itself, where pytest-timeout cannot interrupt it (0: never)",
        default="0",
    )


def pytest_configure(config: pytest.Config) -> None:
    global _STDERR_FD
    if _STDERR_FD is None:  # the real stderr, as pytest's own faulthandler plugin takes it
        assert sys.__stderr__ is not None
        _STDERR_FD = os.dup(sys.__stderr__.fileno())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    seconds = float(item.config.getini("hard_timeout") or 0)
    if seconds > 0 and _STDERR_FD is not None:
        faulthandler.dump_traceback_later(seconds, exit=True, file=_STDERR_FD)
    try:
        yield
    finally:
        if seconds > 0:
            faulthandler.cancel_dump_traceback_later()


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """The crash-safe scheduler for ``--dist loadgroup``; xdist's own for the others."""
    if config.getvalue("dist") == "loadgroup":
        return CrashSafeLoadGroup(config, log)  # type: ignore[arg-type]
    return None
