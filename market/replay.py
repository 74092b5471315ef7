"""`ReplayProvider`: a `MarketDataProvider` over candles already in memory (backtests, sims)."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Awaitable, Callable, Sequence

from market.models import Candle

Pace = Callable[[Sequence[Candle]], Awaitable[None]]


async def _yield_to_loop(batch: Sequence[Candle]) -> None:
    # Without one real suspension per batch, a backtest that processes candles without
    # awaiting anything would hold the event loop until the data ran out, and stop requests
    # and the other bots would wait for it.
    await asyncio.sleep(0)


class ReplayProvider:
    """Serves `candles` in order: the first `warmup` through `history()`, the rest through
    `stream()` in lists of up to `batch_size`.

    Each candle is streamed once: a second `stream()` continues where the first stopped.
    `aclose()` ends a stream in progress before its next batch. `pace` is awaited before each
    batch goes out; the default only yields to the event loop, and a clock-driven replay
    can pass one that sleeps until the batch's candles would have closed.

        feed = ReplayProvider("BTC/USDT", "1m", candles, warmup=200)
        warm = await feed.history(200)
        async for batch in feed.stream():
            ...
    """

    stale = False           # replayed candles are never late

    def __init__(
        self,
        symbol: str,
        timeframe: str,
        candles: Sequence[Candle],
        *,
        warmup: int = 0,
        batch_size: int = 4096,
        pace: Pace = _yield_to_loop,
    ) -> None:
        if warmup < 0 or batch_size < 1:
            raise ValueError(f"need warmup >= 0 and batch_size >= 1; got {warmup} and {batch_size}")
        self.symbol = symbol
        self.timeframe = timeframe
        self._history = list(candles[:warmup])
        self._live = list(candles[warmup:])
        self._next = 0
        self._batch_size = batch_size
        self._pace = pace
        self._closed = False

    async def history(self, limit: int) -> list[Candle]:
        """The last `limit` of the warm-up candles, oldest first."""
        return self._history[-limit:] if limit > 0 else []

    async def stream(self) -> AsyncIterator[Sequence[Candle]]:
        while not self._closed and self._next < len(self._live):
            batch = self._live[self._next:self._next + self._batch_size]
            await self._pace(batch)
            if self._closed:  # closed while pacing: the batch stays undelivered
                return
            self._next += len(batch)
            yield batch

    async def aclose(self) -> None:
        self._closed = True

    async def __aenter__(self) -> ReplayProvider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
