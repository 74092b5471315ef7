"""ccxt's rolling-window rate limiter, granting every queued request the budget allows at once.

ccxt's own `Throttler.rolling_window_loop` yields to the event loop after each request it lets
through. When forty bots on one account decide at the same candle close, their forty orders
then leave one loop turn apart, and every reply, log line and snapshot that lands meanwhile
runs between them: the fortieth order leaves tens of milliseconds late although the budget had
room for all of them. This subclass keeps ccxt's algorithm, window, costs and queue, and differs
there: one pass lets through, in order, every queued request that fits, then yields once. A
request that does not fit still waits, first in line.

A request asked while nobody waits and the window has room is let through there and then (its
future is done when handed back), as ccxt's loop would let it through at its next turn: the
order goes on to be signed and sent in the same step of its bot, without a task started for the
loop and two loop turns on the way of every order (a candle's orders then leave one after
another as their bots resume, instead of all together a turn later).
"""

from __future__ import annotations

import asyncio
from collections import deque
from time import time
from typing import Any

from ccxt.async_support.base.throttler import Throttler


class BurstThrottler(Throttler):
    """Drop-in for `client.throttler` (see `install`); leaky-bucket clients are left to ccxt.

    The window is a deque of (granted at ms, cost) with a running total, so a pass costs what
    leaves and enters the window, not a walk over a minute of requests."""

    def __init__(self, config: dict[str, Any], loop: Any = None) -> None:
        super().__init__(config, loop)
        self._window: deque[tuple[float, float]] = deque()
        self._spent = 0.0

    @property
    def spent(self) -> float:
        """Cost let through within the window, as of the last pass."""
        return self._spent

    def __call__(self, cost: float | None = None) -> asyncio.Future[None]:
        if not self.queue and not self.running:     # nobody in line: the window decides now
            config, window = self.config, self._window
            cost = config["cost"] if cost is None else cost
            now = time() * 1000
            self._forget_before(now - config["windowSize"])
            if not window or self._spent + cost <= config["maxWeight"]:
                self._spent += cost
                window.append((now, cost))
                granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                granted.set_result(None)
                return granted
        return super().__call__(cost)

    def _forget_before(self, cutoff_ms: float) -> None:
        window = self._window
        while window and window[0][0] <= cutoff_ms:
            self._spent -= window.popleft()[1]
        if not window:
            self._spent = 0.0              # no float drift left over from a busy minute

    async def rolling_window_loop(self) -> None:
        config, window = self.config, self._window
        size_ms, budget = config["windowSize"], config["maxWeight"]
        while self.running:
            now = time() * 1000
            self._forget_before(now - size_ms)
            while self.queue:
                future, cost = self.queue[0]
                cost = config["cost"] if cost is None else cost
                # An empty window lets any request through, even one above the whole budget
                # (ccxt's loop would wait for it forever).
                if window and self._spent + cost > budget:
                    break
                self._spent += cost
                window.append((now, cost))
                self.queue.popleft()
                if not future.done():
                    future.set_result(None)
            if not self.queue:
                self.running = False
                return
            # Full: wait until the oldest request in the window leaves it.
            await asyncio.sleep(max(1.0, window[0][0] + size_ms - now) / 1000)


def install(client: Any) -> None:
    """Give `client` (a ccxt async exchange) a `BurstThrottler` when it uses the rolling window."""
    bucket = client.tokenBucket
    if bucket.get("algorithm") == "rollingWindow":
        client.throttler = BurstThrottler(bucket, client.asyncio_loop)
