"""Waiting on a running pipeline by polling its snapshots, never by fixed sleeps."""

from __future__ import annotations

from collections.abc import Callable

from tests.waiting import wait_until
from tui.runtime.pipeline import Pipeline
from tui.runtime.snapshot import Snapshot


def wait_for(
    pipeline: Pipeline, done: Callable[[Snapshot], bool], timeout: float = 20.0
) -> Snapshot:
    """The first snapshot for which `done` holds; AssertionError after `timeout` seconds."""

    def ready() -> Snapshot | None:
        snap = pipeline.latest()
        return snap if snap is not None and done(snap) else None

    return wait_until(ready, timeout, what=lambda: f"last snapshot: {pipeline.latest()}")
