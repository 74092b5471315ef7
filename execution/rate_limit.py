"""ccxt's rolling-window rate limiter, granting every queued request the budget allows at once.

ccxt's own `Throttler.rolling_window_loop` yields to the event loop after each request it lets
through. When forty bots on one account decide at the same candle close, their forty orders
then leave one loop turn apart, and every reply, log line and snapshot that lands meanwhile
runs between them: the fortieth order leaves tens of milliseconds late although the budget had
room for all of them. This subclass keeps ccxt's algorithm, window and costs (same queue, same
`timestamps` bookkeeping) and differs only there: one pass lets through, in order, every queued
request that fits, then yields once. A request that does not fit still waits, first in line.
"""

from __future__ import annotations

import asyncio
from time import time
from typing import Any

from ccxt.async_support.base.throttler import Throttler


class BurstThrottler(Throttler):
    """Drop-in for `client.throttler` (see `install`); leaky-bucket clients are left to ccxt."""

    async def rolling_window_loop(self) -> None:
        config = self.config
        while self.running:
            now = time() * 1000
            cutoff = now - config["windowSize"]
            self.timestamps = [t for t in self.timestamps if t["timestamp"] > cutoff]
            spent = sum(t["cost"] for t in self.timestamps)
            while self.queue:
                future, cost = self.queue[0]
                cost = config["cost"] if cost is None else cost
                # An empty window lets any request through, even one above the whole budget
                # (ccxt's loop would wait for it forever).
                if self.timestamps and spent + cost > config["maxWeight"]:
                    break
                spent += cost
                self.timestamps.append({"timestamp": now, "cost": cost})
                self.queue.popleft()
                if not future.done():
                    future.set_result(None)
            if not self.queue:
                self.running = False
                return
            # Full: wait until the oldest request in the window leaves it.
            await asyncio.sleep(max(1.0, self.timestamps[0]["timestamp"] + config["windowSize"] - now) / 1000)


def install(client: Any) -> None:
    """Give `client` (a ccxt async exchange) a `BurstThrottler` when it uses the rolling window."""
    bucket = client.tokenBucket
    if bucket.get("algorithm") == "rollingWindow":
        client.throttler = BurstThrottler(bucket, client.asyncio_loop)
