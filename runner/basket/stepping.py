"""The basket backtest's clock: every leg's candle of a time, leg after leg, in one task.

A basket's legs share one cash balance, and each leg's mark reads the basket's equity (every
leg's position at its last price), so a leg's candle must see the other legs' candles of the
same time and no later one: the legs go in lockstep, one candle each per turn. On
`runner.backtest.lockstep`'s clock every turn was a task switch through the event loop (about
70% of a basket backtest). Here each leg's `run()` starts (journal, warm-up) and parks at its
feed's gate (`SteppedReplay`); `step_legs` then hands each leg its candles itself through
`StrategyRunner.step`, the pipeline without `run()`'s per-batch loop (its lock, latency
histogram, checkpoint check: a leg's batch is one candle, so it paid them per candle), and
finally ends each feed so that `run()` finishes as it would at the end of its data. The order is
the clock's (open time, then the leg's place in the basket), so results are the same to the bit;
a leg that awaits something real (a regime fit in a worker thread) is waited for here.

A leg whose step trips the basket's latch (a rule on the basket's equity) has the other legs close
their positions as of that candle's close, right after its step, as the daemon asks its legs at
once: those that read their candle of that time already close now, the others at its close
(`StrategyRunner.close_with_basket`; `runner.bot.kill_flow` says why).
"""

from __future__ import annotations

import asyncio
import heapq
from bisect import bisect_right
from typing import AsyncIterator, Iterator, Sequence

from market.models import Candle, timeframe_ms
from runner.bot.strategy_runner import RunnerState, StrategyRunner

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
    """A leg's `MarketDataProvider`: its stream yields nothing and waits at a gate until
    `step_legs` ends it; the candles go to the runner through `StrategyRunner.step`."""

    stale = False                 # replayed candles are never late

    def __init__(self, symbol: str, timeframe: str, candles: Sequence[Candle]) -> None:
        self.symbol = symbol
        self.timeframe = timeframe
        self.candles = candles
        self.ended = False

    async def history(self, limit: int) -> list[Candle]:
        return []                 # as `botrunner backtest`: the strategy warms up on the first candles

    async def stream(self) -> AsyncIterator[Sequence[Candle]]:
        while not self.ended:
            await _GATE
        return
        yield ()                  # unreachable: makes this an async generator, as the port's stream is

    async def aclose(self) -> None:
        self.ended = True


async def step_legs(runners: Sequence[StrategyRunner], feeds: Sequence[SteppedReplay]) -> None:
    """Run every leg over its feed's candles, in open-time order and leg after leg on a tie.
    A leg that raises ends the others (closed) and the exception propagates."""
    coros = [runner.run() for runner in runners]
    running = [True] * len(coros)
    tripped: list[str] = []                   # the basket's latch tripped during the step just made
    latch = runners[0].kill_switch if runners else None
    if latch is not None and latch.shared:
        latch.listen("backtest", tripped.append)
    try:
        for place, coro in enumerate(coros):
            running[place] = await _advance(coro)             # started, warmed up, parked at its gate
        steps = [runner.step for runner in runners]
        for count, (place, candle) in enumerate(_timeline(feeds), 1):
            if running[place]:
                runner = runners[place]
                # `run()`'s loop asks this before each batch: a leg killed by hand stops here.
                if runner.state is not RunnerState.RUNNING and not runner.flatten_pending:
                    stop = True
                else:
                    try:
                        stop = await _step(steps[place]((candle,)))
                    except BaseException as exc:      # into its run(), which records the failure and re-raises
                        coros[place].throw(exc)
                        raise
                if stop:
                    feeds[place].ended = True
                    running[place] = await _advance(coros[place])
                if tripped:
                    tripped.clear()
                    await _close_with_basket(place, runners, feeds, coros, running)
            if not count % YIELD_EVERY:
                await asyncio.sleep(0)
        for place, coro in enumerate(coros):          # the data ended: each leg finishes its run
            if running[place]:
                feeds[place].ended = True
                running[place] = await _advance(coro)
    finally:
        for coro in coros:
            coro.close()


async def _close_with_basket(tripper: int, runners: Sequence[StrategyRunner], feeds: Sequence[SteppedReplay],
                             coros: list, running: list[bool]) -> None:
    """The leg at `tripper` tripped the basket's latch on its candle: every other running leg
    closes its position as of that candle's close (see the module docstring); a leg done then
    (flat) ends its run, as one whose step said stop."""
    for place, runner in enumerate(runners):
        if place == tripper or not running[place]:
            continue
        feed = feeds[place]
        candles = feed.candles
        index = bisect_right(candles, runner.last_candle_ts_ms, key=_open_ms)   # its next candle
        next_close_ms = candles[index].ts_ms + timeframe_ms(feed.timeframe) if index < len(candles) else None
        if await _step(runner.close_with_basket(next_close_ms)):
            feed.ended = True
            running[place] = await _advance(coros[place])


def _open_ms(candle: Candle) -> int:
    return candle.ts_ms


def _timeline(feeds: Sequence[SteppedReplay]) -> Iterator[tuple[int, Candle]]:
    """(place, candle) in open-time order, the legs in their order on a tie. Legs whose candles
    have the same times (the common case: the backtest cuts them to one span) go by index, without
    a heap."""
    lists = [feed.candles for feed in feeds]
    times = [c.ts_ms for c in lists[0]] if lists else []
    if all(len(candles) == len(times) and [c.ts_ms for c in candles] == times for candles in lists[1:]):
        places = range(len(lists))
        return ((place, lists[place][i]) for i in range(len(times)) for place in places)
    merged = heapq.merge(*(_times(place, candles) for place, candles in enumerate(lists)))
    return ((place, candle) for _, place, candle in merged)


def _times(place: int, candles: Sequence[Candle]) -> Iterator[tuple[int, int, Candle]]:
    # A function, not a generator expression in the loop: that one would read `place` late.
    return ((candle.ts_ms, place, candle) for candle in candles)


async def _step(coro) -> bool:
    """Run one `StrategyRunner.step` coroutine to its end: at once in a plain sim leg (nothing it
    awaits suspends), else waiting for what it awaits. Its result: the leg must stop."""
    try:
        yielded = coro.send(None)
    except StopIteration as done:
        return done.value
    while True:
        if yielded is None:                   # a bare yield (asyncio.sleep(0)): a turn of the loop
            await asyncio.sleep(0)
        else:                                 # an asyncio Future the leg awaits: wait for it, then go on
            yielded._asyncio_future_blocking = False
            await asyncio.wait([yielded])
        try:
            yielded = coro.send(None)
        except StopIteration as done:
            return done.value


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
