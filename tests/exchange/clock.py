"""`StandInClock`: the exchange's clock as a bot's injected clock.

Sleeping moves the stand-in's time forward, so a bot waiting for the next candle close makes
it come at once: an hour of 1m candles passes in about a second of wall time.
"""

from __future__ import annotations

import asyncio

import aiohttp

from .binance_standin import BinanceStandIn


class StandInClock:
    def __init__(self, standin: BinanceStandIn) -> None:
        self._standin = standin

    def now_ms(self) -> int:
        return self._standin.now_ms

    async def sleep(self, seconds: float) -> None:
        self._standin.advance(max(1, int(seconds * 1000)))
        await asyncio.sleep(0)


class SteppedExchangeClock:
    """A feed's clock tied to the stand-in's, moved only by the test: `advance` moves both (or
    only this one, with `exchange=False`: an exchange whose candles stopped), and `sleep`
    returns only once the test has advanced past its end. `step` advances, then waits until
    everything on the clock sleeps again (the feed has done all it can at this time)."""

    def __init__(self, standin: BinanceStandIn) -> None:
        self.standin = standin
        self._now_ms = standin.now_ms
        self._moved = asyncio.Event()
        self._wake_times: list[float] = []

    def now_ms(self) -> int:
        return self._now_ms

    @property
    def sleeping(self) -> bool:
        """Something waits on this clock."""
        return bool(self._wake_times)

    async def sleep(self, seconds: float) -> None:
        until = self._now_ms + seconds * 1000
        self._wake_times.append(until)
        try:
            while self._now_ms < until:
                await self._moved.wait()
        finally:
            self._wake_times.remove(until)

    def advance(self, ms: int, *, exchange: bool = True) -> None:
        self._now_ms += ms
        if exchange:
            self.standin.advance_to(self._now_ms)
        self._moved.set()
        self._moved = asyncio.Event()

    async def settle(self) -> None:
        async with asyncio.timeout(5):
            while not (self._wake_times and all(t > self._now_ms for t in self._wake_times)):
                await asyncio.sleep(0)

    async def step(self, ms: int, *, exchange: bool = True) -> None:
        self.advance(ms, exchange=exchange)
        await self.settle()


class RemoteStandInClock:
    """`StandInClock` for a stand-in in another process (`tests.exchange.serve`): sleeping asks
    it to move its clock on (`POST /_standin/advance`). Only this clock moves that stand-in's
    time, so `now_ms` is the last time it answered, read without a request."""

    def __init__(self, base_url: str, now_ms: int) -> None:
        self._url = f"{base_url}/_standin/advance"
        self._now_ms = now_ms
        self._session: aiohttp.ClientSession | None = None

    def now_ms(self) -> int:
        return self._now_ms

    async def sleep(self, seconds: float) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.post(self._url, params={"ms": str(max(1, int(seconds * 1000)))}) as reply:
            reply.raise_for_status()
            self._now_ms = max(self._now_ms, (await reply.json())["now_ms"])

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
