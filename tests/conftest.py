"""Shared fixtures: one real embedded broker for the Kafka tests, unique topic names."""

from __future__ import annotations

import contextlib
import faulthandler
import secrets
import sys
from collections.abc import Iterator

import psutil
import pytest

from producer.broker import EmbeddedBroker
from tests.guards import (  # noqa: F401 (hooks: a test that dies or hangs stalls nothing)
    pytest_addoption,
    pytest_configure,
    pytest_runtest_protocol,
    pytest_xdist_make_scheduler,
)


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """A real Tansu broker on 127.0.0.1 for the whole test session."""
    b = EmbeddedBroker()
    b.start()
    yield b
    b.stop()


@pytest.fixture
def topic() -> str:
    """A topic name no other test uses."""
    return f"t-{secrets.token_hex(4)}"


#: Seconds the test process may take to end once its summary is printed.
EXIT_GRACE_S = 120


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``-n``, ``--dist loadgroup``) the Kafka tests run one after
    another in one worker, on one broker at a time, as they were written to: they wait
    on a broker's timeouts more than they compute, while the other workers take the rest."""
    for item in items:
        if item.get_closest_marker("kafka") is not None:
            item.add_marker(pytest.mark.xdist_group("kafka"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A process a test left running would hold the output open after the summary: name
    it, and end it. (Under pytest-xdist each worker checks its own; the controller's
    children are the workers.)"""
    if getattr(session.config.option, "numprocesses", None) and not hasattr(
        session.config, "workerinput"
    ):
        return
    left = psutil.Process().children(recursive=True)
    for proc in left:
        with contextlib.suppress(psutil.Error):
            print(f"\na test left a process running: {proc.pid} {proc.cmdline()}", file=sys.stderr)
            proc.kill()


def pytest_unconfigure(config: pytest.Config) -> None:
    """A thread a test left blocked could keep the interpreter from exiting (once a held
    logging lock did): past the grace time, print every thread's stack and exit 1."""
    faulthandler.dump_traceback_later(EXIT_GRACE_S, exit=True)
