"""Waiting on a running pipeline by polling its snapshots, never by fixed sleeps."""

from __future__ import annotations

import time
from collections.abc import Callable

from tui.runtime.pipeline import Pipeline
from tui.runtime.snapshot import Snapshot


def wait_for(
    pipeline: Pipeline, done: Callable[[Snapshot], bool], timeout: float = 20.0
) -> Snapshot:
    """The first snapshot for which `done` holds; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    snap = None
    while time.monotonic() < deadline:
        snap = pipeline.latest()
        if snap is not None and done(snap):
            return snap
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout} s; last snapshot: {snap}")
