"""Running the app headless under a test script (Textual's pilot)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from textual.pilot import Pilot

from tests.waiting import wait_until_async
from tui.app import LimitwatchApp


def drive(
    app: LimitwatchApp,
    script: Callable[[object], Awaitable[None]],
    size: tuple[int, int] = (120, 40),
) -> None:
    """Run `app` at terminal `size`, let it mount, then run `script(pilot)`."""

    async def run() -> None:
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await script(pilot)

    asyncio.run(run())


async def until_shown(pilot: Pilot[object], app: LimitwatchApp, timeout: float = 10.0) -> None:
    """Wait until `app` shows its feed's newest snapshot and no limit it sent is pending:
    what a key changed is then on screen, and the next key starts from it."""

    def caught_up() -> bool:
        snap = app.feed.latest()
        return snap is not None and app._shown_seq == snap.seq and not app._pending

    await wait_until_async(
        caught_up, pilot.pause, timeout, what=lambda: f"shown {app._shown_seq}, {app._pending}"
    )
