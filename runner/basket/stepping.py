"""The basket backtest's clock: every leg's candle of a time, leg after leg, in one task.

A basket's legs share one timeframe, so on one clock (`runner.backtest.lockstep`) each turn is
one leg's one candle, and every turn is a switch of task through the event loop: about 70% of
a basket backtest went there. Here the legs' `run()` coroutines are stepped by hand, the way
an asyncio Task steps a coroutine: each leg's feed (`SteppedReplay`) parks its stream at a gate
that hands control back to `step_legs`, which gives the next leg its candle. The order is the
clock's (close time, then the leg's place), so results are the same to the bit; a leg that
awaits something real (a regime fit in a worker thread) is waited for here, then stepped on.
"""

from __future__ import annotations

import asyncio
import heapq
from typing import AsyncIterator, Iterator, Sequence

from market.models import Candle
from runner.bot.strategy_runner import StrategyRunner

__all__ = ["SteppedReplay", "step_legs"]

YIELD_EVERY = 4096            # candles handed over between two turns of the event loop (progress, signals)


class _Parked:
    """What a parked leg hands back to its stepper (never an asyncio Future)."""


_PARKED = _Parked()


class _Gate:
    __slots__ = ()

    def __await__(self):
        yield _PARKED


_GATE = _Gate()


class SteppedReplay:
    """A leg's `MarketDataProvider`: its stream yields what `step_legs` hands it, one candle at a time."""

    stale = False                 # replayed candles are never late

    def __init__(self, symbol: str, timeframe: str, candles: Sequence[Candle]) -> None:
        self.symbol = symbol
        self.timeframe = timeframe
        self.candles = candles
        self.next_batch: list[Candle] = []
        self.ended = False

    async def history(self, limit: int) -> list[Candle]:
        return []                 # as `botrunner backtest`: the strategy warms up on the first candles

    async def stream(self) -> AsyncIterator[Sequence[Candle]]:
        while True:
            await _GATE
            if self.ended:
                return
            yield self.next_batch

    async def aclose(self) -> None:
        self.ended = True


async def step_legs(runners: Sequence[StrategyRunner], feeds: Sequence[SteppedReplay]) -> None:
    """Run every leg over its feed's candles, in close-time order and leg after leg on a tie.
    A leg that raises ends the others (closed) and the exception propagates."""
    coros = [runner.run() for runner in runners]
    running = [True] * len(coros)
    try:
        for place, coro in enumerate(coros):
            running[place] = await _advance(coro)
        timeline = heapq.merge(*(_times(place, feed.candles) for place, feed in enumerate(feeds)))
        for count, (_, place, candle) in enumerate(timeline, 1):
            if running[place]:
                feeds[place].next_batch = [candle]
                running[place] = await _advance(coros[place])
            if not count % YIELD_EVERY:
                await asyncio.sleep(0)
        for place, coro in enumerate(coros):          # the data ended: each leg finishes its run
            if running[place]:
                feeds[place].ended = True
                running[place] = await _advance(coro)
    finally:
        for coro in coros:
            coro.close()


def _times(place: int, candles: Sequence[Candle]) -> Iterator[tuple[int, int, Candle]]:
    # A function, not a generator expression in the loop: that one would read `place` late.
    return ((candle.ts_ms, place, candle) for candle in candles)


async def _advance(coro) -> bool:
    """Step `coro` until it parks at its feed's gate (True) or returns (False)."""
    while True:
        try:
            yielded = coro.send(None)
        except StopIteration:
            return False
        if yielded is _PARKED:
            return True
        if yielded is None:                   # a bare yield (asyncio.sleep(0)): a turn of the loop
            await asyncio.sleep(0)
        else:                                 # an asyncio Future the leg awaits: wait for it, then go on
            yielded._asyncio_future_blocking = False
            await asyncio.wait([yielded])
