"""Waiting for a condition with a deadline, never for fixed seconds: the one polling helper
of the suite, for threads (:func:`wait_until`) and for a Textual pilot
(:func:`wait_until_async`)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Generator
from typing import TypeVar

T = TypeVar("T")

#: Seconds between two looks at the condition.
INTERVAL_S = 0.05


def _looks(
    predicate: Callable[[], T], timeout: float, what: str | Callable[[], str]
) -> Generator[None, None, T]:
    """Look at `predicate` until it is true, yielding between looks; the generator returns
    its value, or raises AssertionError once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() >= deadline:
            detail = what() if callable(what) else what
            raise AssertionError(
                f"not true within {timeout:g} s" + (f": {detail}" if detail else "")
            )
        yield
    return value


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 20.0,
    *,
    interval: float = INTERVAL_S,
    what: str | Callable[[], str] = "",
) -> T:
    """Poll `predicate` until it returns something true and return that; AssertionError
    after `timeout` seconds, saying `what` was awaited (a callable: the state at the end).

    >>> wait_until(lambda: 42, 1.0)
    42
    """
    looks = _looks(predicate, timeout, what)
    try:
        while True:
            next(looks)
            time.sleep(interval)
    except StopIteration as done:
        return done.value


async def wait_until_async(
    predicate: Callable[[], T],
    pause: Callable[[float], Awaitable[None]],
    timeout: float = 10.0,
    *,
    interval: float = INTERVAL_S,
    what: str | Callable[[], str] = "",
) -> T:
    """:func:`wait_until` inside an event loop: between looks it awaits `pause(interval)`
    (a Textual pilot's ``pilot.pause``), so the app keeps running while the test waits."""
    looks = _looks(predicate, timeout, what)
    try:
        while True:
            next(looks)
            await pause(interval)
    except StopIteration as done:
        return done.value


def holds_for(
    predicate: Callable[[], bool],
    duration: float,
    *,
    interval: float = INTERVAL_S,
    what: str | Callable[[], str] = "",
) -> None:
    """Check `predicate` again and again for `duration` seconds; AssertionError the first
    time it is false. For tests whose point is that something does not happen in time."""
    deadline = time.monotonic() + duration
    while True:
        if not predicate():
            detail = what() if callable(what) else what
            raise AssertionError("stopped being true" + (f": {detail}" if detail else ""))
        if time.monotonic() >= deadline:
            return
        time.sleep(interval)
