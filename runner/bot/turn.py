"""`Turn`: who works on a bot's state now: its loop with a batch of candles, or a kill, a resume
or a governance change by hand. One at a time, first come first served.

An `asyncio.Lock` does the same, but the loop takes the turn for every batch, and on live and
paced feeds a batch is one candle for each of hundreds of bots: `async with lock` made two
coroutines each time (about 1 us of a live bot's candle). `try_take` is the uncontended take as
a plain call; the hand-made requests keep `async with turn`.

    if not turn.try_take():      # someone has it: wait in line
        await turn.take()
    try:
        ...
    finally:
        turn.give()
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["Turn"]


class Turn:
    """A fair asyncio lock with a synchronous uncontended take (see the module docstring)."""

    __slots__ = ("_held", "_waiters")

    def __init__(self) -> None:
        self._held = False
        self._waiters: deque[asyncio.Future[None]] = deque()

    def locked(self) -> bool:
        return self._held

    def try_take(self) -> bool:
        """Take the turn now if it is free and nobody waits for it; False otherwise."""
        if self._held or self._waiters:
            return False
        self._held = True
        return True

    async def take(self) -> None:
        """Wait for the turn, after those already waiting."""
        if self.try_take():
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.give()               # handed the turn, then cancelled before taking it: pass it on
            elif waiter in self._waiters:     # `give` drops cancelled waiters it meets on its way
                self._waiters.remove(waiter)  # one left in line would block `try_take` for good
            raise

    def give(self) -> None:
        """Hand the turn to the first waiter still waiting, or free it."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)   # handed over: the turn stays held, by the waiter now
                return
        self._held = False

    async def __aenter__(self) -> None:
        await self.take()

    async def __aexit__(self, *exc_info: object) -> None:
        self.give()
