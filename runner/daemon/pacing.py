"""Work that can wait for the candles: let through a few of its waiters per event-loop turn.

At the end of a replay every bot of a daemon finishes within a second, each writing its last
snapshot (`runner.snapshot` and its encoding, 50-100 us on a loaded machine). The streams
release their last candle at slightly different moments, so the bots of a stream released late
found the loop's queue full of the snapshots of those finished before, up to ten thousand of
them. A bot that has finished writes its snapshot through `PacedTurns.wait`: at most `per_turn`
go each turn, so a candle released meanwhile is stepped between two groups, not after all of
them. bench/many_bots.py, 10,000 bots on 100 streams, the slowest stream's last candle: 926 and
492 ms with every snapshot at once, 243 and 423 ms paced (runs alternated, a loaded machine).
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["PacedTurns"]


class PacedTurns:
    """`await wait()` returns in arrival order, at most `per_turn` waiters per event-loop turn."""

    def __init__(self, per_turn: int) -> None:
        if per_turn < 1:
            raise ValueError(f"per_turn must be at least 1; got {per_turn}")
        self._per_turn = per_turn
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._letting = False
        self._quick = 0                 # waiters let through with a plain sleep(0) in this turn
        self._counting = False

    async def wait(self) -> None:
        """Return in a later loop turn, behind the callbacks already queued and at most
        `per_turn` - 1 other waiters. A cancelled waiter gives up its place."""
        loop = asyncio.get_running_loop()
        if not self._waiting and self._quick < self._per_turn:
            # No crowd: the next turn, as a sleep(0), so a daemon with a few bots finishing
            # keeps the order of events it had before (a bot's state changes one turn after
            # its run ends).
            self._quick += 1
            if not self._counting:
                self._counting = True
                loop.call_soon(self._next_turn)
            await asyncio.sleep(0)
            return
        waiter = loop.create_future()
        self._waiting.append(waiter)
        if not self._letting:
            self._letting = True
            loop.call_soon(self._let_through)
        await waiter

    def _next_turn(self) -> None:
        self._quick, self._counting = 0, False

    def _let_through(self) -> None:
        waiting, let = self._waiting, 0
        while waiting and let < self._per_turn:
            waiter = waiting.popleft()
            if not waiter.done():            # cancelled with its task: no place taken
                waiter.set_result(None)
                let += 1
        if waiting:
            # The next group in the next turn: behind the wake-ups of the group let through now
            # and of whatever candle was released meanwhile.
            asyncio.get_running_loop().call_soon(self._let_through)
        else:
            self._letting = False
