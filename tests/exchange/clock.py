"""`StandInClock`: the exchange's clock as a bot's injected clock.

Sleeping moves the stand-in's time forward, so a bot waiting for the next candle close makes
it come at once: an hour of 1m candles passes in about a second of wall time.
"""

from __future__ import annotations

import asyncio

from .binance_standin import BinanceStandIn


class StandInClock:
    def __init__(self, standin: BinanceStandIn) -> None:
        self._standin = standin

    def now_ms(self) -> int:
        return self._standin.now_ms

    async def sleep(self, seconds: float) -> None:
        self._standin.advance(max(1, int(seconds * 1000)))
        await asyncio.sleep(0)
