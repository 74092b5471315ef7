"""One clock for many replays: bots step through their candles in close-time order, one at a time.

A portfolio backtest runs every bot of a daemon folder at full speed. Left to the event loop,
each bot would take a batch of thousands of candles per turn, so a bot could decide on a candle
of 10:00 while its group partner was still at 08:00, and what a risk group refuses would
depend on the batch size and on which task the loop ran first (the daemon's sim groups are
pace-dependent for that reason). Here every bot's feed is a `ClockedReplay` of one
`CandleClock`, which gives one feed at a time the right to go on, and only with candles that
close before the next candle of any other feed:

    bot a (1m):  10:01 10:02 10:03 10:04 10:05 ...
    bot b (5m):                          10:05 ...
    turns:       a[10:01..10:04]  a[10:05]  b[10:05]  a[10:06..]

A candle closing at the same time as another feed's goes first for the feed made first (the
bot's place in the folder), so a group sees the same state on every run and at every batch
size. While a feed has its turn the others wait, even while its bot awaits something (a regime
fit), so nothing else moves under it.

The clock starts handing out turns once every feed has asked for one (or has ended): a bot
that is slow to start cannot fall behind the others.
"""

from __future__ import annotations

import asyncio
import heapq
from typing import AsyncIterator, Sequence

from market.models import Candle, timeframe_ms

__all__ = ["CandleClock", "ClockedReplay"]

_Key = tuple[int, int]          # (close time of the feed's next candle in ms, the feed's place)


class CandleClock:
    """Gives turns to its `ClockedReplay`s in close-time order; see the module docstring.

        clock = CandleClock()
        feeds = [clock.replay(cfg.symbol, cfg.timeframe, candles[cfg.id]) for cfg in bots]
        # each runner streams its feed; the driver calls `feed.end()` once its runner returns
    """

    def __init__(self, *, batch_size: int = 4096) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self._batch_size = batch_size
        self._feeds: list[ClockedReplay] = []
        self._waiting: list[tuple[_Key, ClockedReplay]] = []      # a heap: the next turn first
        self._turns: dict[int, asyncio.Future[int]] = {}          # feed place -> its turn's end index
        self._active: ClockedReplay | None = None
        self.turns = 0

    def replay(self, symbol: str, timeframe: str, candles: Sequence[Candle]) -> ClockedReplay:
        """A feed over `candles` (in time order) that streams only on this clock's turns."""
        feed = ClockedReplay(self, len(self._feeds), symbol, timeframe, candles)
        self._feeds.append(feed)
        return feed

    async def _turn(self, feed: ClockedReplay) -> int | None:
        """Wait for `feed`'s next turn (its previous one, if any, is over); the index its turn
        ends before, or None when the feed was ended while it waited."""
        if self._active is feed:
            self._active = None
        future = asyncio.get_running_loop().create_future()
        self._turns[feed.place] = future
        heapq.heappush(self._waiting, ((feed.next_close_ms(), feed.place), feed))
        self._dispatch()
        return await future

    def _end(self, feed: ClockedReplay) -> None:
        if self._active is feed:
            self._active = None
        future = self._turns.pop(feed.place, None)
        if future is not None:                 # ended while waiting for a turn
            self._waiting = [(k, f) for k, f in self._waiting if f is not feed]
            heapq.heapify(self._waiting)
            if not future.done():
                future.set_result(None)
        self._dispatch()

    def _dispatch(self) -> None:
        if self._active is not None or not self._waiting:
            return
        if len(self._waiting) < sum(1 for f in self._feeds if not f.ended):
            return                             # a feed has not asked yet: it may have the earliest candle
        _, feed = heapq.heappop(self._waiting)
        rival = self._waiting[0][0] if self._waiting else None
        end = feed.turn_end(rival, self._batch_size)
        self._active = feed
        self.turns += 1
        self._turns.pop(feed.place).set_result(end)


class ClockedReplay:
    """A `MarketDataProvider` over candles in memory that streams on its `CandleClock`'s turns.
    Made by `CandleClock.replay`; `end()` (or `aclose()`) gives up its turns for good, and must
    be called when the bot reading it stops, or the other feeds would wait for it forever."""

    stale = False               # replayed candles are never late

    def __init__(self, clock: CandleClock, place: int, symbol: str, timeframe: str,
                 candles: Sequence[Candle]) -> None:
        self.symbol = symbol
        self.timeframe = timeframe
        self.place = place
        self._clock = clock
        self._candles = list(candles)
        self._bar_ms = timeframe_ms(timeframe)
        self._next = 0
        self.ended = False

    async def history(self, limit: int) -> list[Candle]:
        return []               # as `botrunner backtest`: the strategy warms up on the first candles

    async def stream(self) -> AsyncIterator[Sequence[Candle]]:
        candles = self._candles
        while not self.ended and self._next < len(candles):
            end = await self._clock._turn(self)
            if end is None:
                return
            batch = candles[self._next:end]
            self._next = end
            yield batch
        self.end()

    def next_close_ms(self) -> int:
        return self._candles[self._next].ts_ms + self._bar_ms

    def turn_end(self, rival: _Key | None, batch_size: int) -> int:
        """The index this turn ends before: candles that close before `rival`'s next one."""
        candles, bar_ms, place = self._candles, self._bar_ms, self.place
        end = self._next + 1                   # the first candle is this feed's by the heap's order
        limit = min(len(candles), self._next + batch_size)
        while end < limit and (rival is None or (candles[end].ts_ms + bar_ms, place) < rival):
            end += 1
        return end

    def end(self) -> None:
        if not self.ended:
            self.ended = True
            self._clock._end(self)

    async def aclose(self) -> None:
        self.end()
