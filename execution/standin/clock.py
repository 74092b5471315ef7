"""`FastForwardClock`: the exchange's clock as a bot's injected clock.

Sleeping moves the stand-in's time forward, so a bot waiting for the next candle close makes
it come at once: an hour of 1m candles passes in about a second of wall time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable

import aiohttp

from .binance_standin import BinanceStandIn


class FastForwardClock:
    """The stand-in's time: `sleep` moves it forward by that much at once.

    `hold_at(ts_ms)` stops time short of `ts_ms` until `release()`: a sleep that would take the
    clock to `ts_ms` or past it waits, so no candle closing at `ts_ms` or later reaches the bot.
    A test holds the clock at the close of the candle its next step is about, waits for the bot
    to be done with the candles before (a fill, say), arms a fault, and releases: the fault
    meets what that candle makes the bot do, however late the test's check ran. Without a
    hold, time runs on as fast as the bot sleeps, and by the time a test looks the bot may be
    several candles further on.
    """

    def __init__(self, standin: BinanceStandIn) -> None:
        self._standin = standin
        self._hold_ms: int | None = None
        self._released = asyncio.Event()

    def now_ms(self) -> int:
        return self._standin.now_ms

    async def sleep(self, seconds: float) -> None:
        ms = max(1, int(seconds * 1000))
        while self._hold_ms is not None and self._standin.now_ms + ms >= self._hold_ms:
            await self._released.wait()
        self._standin.advance(ms)
        await asyncio.sleep(0)

    def hold_at(self, ts_ms: int) -> None:
        """Keep the clock before `ts_ms` until `release()` (see the class)."""
        if ts_ms <= self._standin.now_ms:
            raise ValueError(f"hold_at({ts_ms}): the clock is already at {self._standin.now_ms}")
        self._hold_ms, self._released = ts_ms, asyncio.Event()

    def release(self) -> None:
        """Let time run on from a `hold_at`; the sleeps waiting at the hold go on."""
        self._hold_ms = None
        self._released.set()


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


class VirtualStandInClock:
    """The time of a stand-in in another process (`execution.standin.serve`), as a discrete-event
    clock: a sleeper waits for its deadline, and time moves on to the earliest deadline only
    once the process has been quiet (`quiet()` true at two checks `settle_secs` apart, e.g. no
    request in flight), when the stand-in is told (`POST /_standin/advance`). So the next candle
    closes only after the daemon is done with the last one, background work included, as in a
    real run where candles are a minute apart. `now_ms` is the last time the stand-in answered."""

    def __init__(self, base_url: str, now_ms: int, *, quiet: Callable[[], bool] = lambda: True,
                 settle_secs: float = 0.005) -> None:
        self._url = f"{base_url}/_standin/advance"
        self._now_ms = now_ms
        self._quiet = quiet
        self._settle_secs = settle_secs
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._ids = itertools.count()
        self._driver: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def now_ms(self) -> int:
        return self._now_ms

    async def sleep(self, seconds: float) -> None:
        ms = int(seconds * 1000)
        if ms <= 0:
            await asyncio.sleep(0)
            return
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now_ms + ms, next(self._ids), wake))
        if self._driver is None or self._driver.done():
            self._driver = asyncio.create_task(self._drive(), name="virtual-clock")
        await wake

    async def _drive(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        quiet_checks = 0
        while self._sleepers:
            await asyncio.sleep(self._settle_secs)
            quiet_checks = quiet_checks + 1 if self._quiet() else 0
            if quiet_checks < 2:
                continue
            quiet_checks = 0
            deadline = self._sleepers[0][0]
            if deadline > self._now_ms:
                async with self._session.post(self._url, params={"ms": str(deadline - self._now_ms)}) as reply:
                    reply.raise_for_status()
                    self._now_ms = max(self._now_ms, (await reply.json())["now_ms"])
            while self._sleepers and self._sleepers[0][0] <= self._now_ms:
                _, _, wake = heapq.heappop(self._sleepers)
                if not wake.done():
                    wake.set_result(None)

    async def aclose(self) -> None:
        if self._driver is not None:
            self._driver.cancel()
            await asyncio.gather(self._driver, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
