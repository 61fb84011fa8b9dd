"""Waiting on a running pipeline by polling its snapshots, never by fixed sleeps, and the
health word it shows now."""

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


def health(pipeline: Pipeline) -> str | None:
    """The health word of the newest snapshot (None before the first)."""
    snap = pipeline.latest()
    return snap.kafka.health if snap is not None else None
