"""The clock every part takes by injection, so nothing reads the time by itself.

It lives in `market/`, the lowest package that needs it, so that `market/` and `execution/`
can take one without importing `runner/` (dependencies point from runner outwards).
`runner.bot.clock` adds the `ManualClock` tests and sims use.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Wall-clock time."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM_CLOCK = SystemClock()
