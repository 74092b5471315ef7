"""A live feed's time: sleeps on the injected clock that closing the feed cuts short
(`FeedClock`), and the watch that says when its candles are overdue (`StaleWatch`).

Both live feeds (`market.ccxt_feed`, candles from the exchange; `market.trade_feed`, candles
made from trades) wait on the clock between requests and must stop waiting at once when the bot
stops; both turn `stale` when candles stop coming and tell a hook. What is overdue, and the
words logged, stay with each feed: they differ (a trade feed allows its grace period).
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from loguru import logger

from market.clock import Clock

StaleHook = Callable[[bool], None]


class FeedClock:
    """`clock` with a stop: once `close()` is called, every wait returns at once with a no.

        time = FeedClock(SYSTEM_CLOCK)
        if not await time.sleep_until(due_ms):     # False: the feed was closed meanwhile
            return
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._closed = False
        self._closing = asyncio.Event()

    @property
    def closed(self) -> bool:
        return self._closed

    def now_ms(self) -> int:
        return self._clock.now_ms()

    def close(self) -> None:
        """End every wait in progress and every later one."""
        self._closed = True
        self._closing.set()

    async def sleep_until(self, due_ms: int) -> bool:
        """Sleep until the clock reaches `due_ms`; False when closed meanwhile."""
        while (wait_ms := due_ms - self._clock.now_ms()) > 0:
            if not await self.sleep(wait_ms / 1000):
                return False
        return not self._closed

    async def sleep(self, seconds: float) -> bool:
        """Sleep on the clock, cut short by `close()`; False when closed."""
        if self._closed:
            return False
        return await self.unless_closed(self._clock.sleep(seconds)) is not None

    async def unless_closed(self, awaitable: Awaitable[Any], *,
                            until_ms: int | None = None) -> asyncio.Future[Any] | None:
        """Run `awaitable` until it is done: its finished future; or None, with the awaitable
        cancelled, when `close()` is called first, or the clock reaches `until_ms` first."""
        task = asyncio.ensure_future(awaitable)
        closing = asyncio.ensure_future(self._closing.wait())
        waits = {task, closing}
        if until_ms is not None:
            waits.add(asyncio.ensure_future(self._clock.sleep(max(until_ms - self._clock.now_ms(), 0) / 1000)))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits - {task}:
                waiting.cancel()
            finished = task.done()
            if not finished:
                task.cancel()
        return task if finished and not task.cancelled() and not self._closed else None


class StaleWatch:
    """A feed's `stale` flag: overdue once the clock is `after_ms` past the last candle's close,
    back with the next candle; `on_stale` hears each change. The feed logs why, in its words."""

    def __init__(self, source: str, after_ms: int, on_stale: StaleHook | None) -> None:
        self.stale = False
        self._source = source
        self._after_ms = after_ms
        self._on_stale = on_stale

    def overdue(self, now_ms: int, last_close_ms: int | None) -> bool:
        """True when not stale yet and no candle has closed since `after_ms` before `now_ms`."""
        return not self.stale and last_close_ms is not None and now_ms - last_close_ms >= self._after_ms

    def turn(self, stale: bool) -> None:
        """Set the flag and tell the hook; a hook that raises is logged, not raised."""
        self.stale = stale
        if self._on_stale is None:
            return
        try:
            self._on_stale(stale)
        except Exception:  # a broken hook must not stop the candles
            logger.exception("{}: the on_stale hook failed", self._source)
