"""Running the app headless under a test script (Textual's pilot)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

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
