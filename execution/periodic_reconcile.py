"""`PeriodicReconciliation`: when a live engine reconciles in the background, and the task doing it.

Every bot on a symbol's timeframe turns on the same candles (counted from the epoch), so the
bots of one account reconcile together and share one set of requests (see `execution.reconcile`).
It runs in the background, half a candle after the close: its replies (a trade list can take
tens of ms to parse) must not land among this candle's orders. What it finds, the engine hands
over at a later call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from market.clock import Clock
from market.models import Candle, timeframe_ms

__all__ = ["PeriodicReconciliation"]

_DEFAULT_EVERY_MS = 3_600_000       # by default, an hour's worth of candles


class PeriodicReconciliation:
    """Runs `reconcile_now` in the background, half a candle of `timeframe` after every
    `every_candles`-th candle (None: an hour's worth, at least one; 0: never), unless the
    previous run is still under way. `name` names the task."""

    def __init__(self, reconcile_now: Callable[[], Awaitable[None]], *, timeframe: str, every_candles: int | None,
                 clock: Clock, name: str) -> None:
        self._reconcile_now = reconcile_now
        self._clock = clock
        self._name = name
        self._bar_ms = timeframe_ms(timeframe)
        self._every = max(1, _DEFAULT_EVERY_MS // self._bar_ms) if every_candles is None else every_candles
        self._task: asyncio.Task[None] | None = None

    def on_candle(self, candle: Candle) -> None:
        """Start a run when `candle` is one of its turns."""
        if self._every and (candle.ts_ms // self._bar_ms) % self._every == 0:
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._after_half_a_candle(), name=self._name)

    @property
    def running(self) -> bool:
        """A run is under way (or waiting for its half candle)."""
        return self._task is not None and not self._task.done()

    async def aclose(self) -> None:
        """Cancel a run under way and wait for it to end."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _after_half_a_candle(self) -> None:
        await self._clock.sleep(self._bar_ms / 2000)
        await self._reconcile_now()
