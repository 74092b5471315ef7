"""Clocks, injected so that nothing in a bot reads the time by itself.

Trading decisions are stamped with candle time (so a backtest and a live run of the same
candles agree); a clock stamps lifecycle events and measures latency, and paces replays.
"""

from __future__ import annotations

import asyncio

from market.clock import SYSTEM_CLOCK, Clock, SystemClock

__all__ = ["Clock", "ManualClock", "SYSTEM_CLOCK", "SystemClock"]


class ManualClock:
    """Time that moves only when told: `sleep` advances it at once, so a sim runs as fast as
    the CPU allows and a test decides what time it is."""

    def __init__(self, now_ms: int = 0) -> None:
        self._now_ms = now_ms

    def now_ms(self) -> int:
        return self._now_ms

    def advance_to(self, ts_ms: int) -> None:
        if ts_ms > self._now_ms:
            self._now_ms = ts_ms

    async def sleep(self, seconds: float) -> None:
        self._now_ms += int(seconds * 1000)
        await asyncio.sleep(0)

