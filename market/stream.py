"""One in-memory candle list released to many bots, each reading through its own cursor.

A `SharedCandleStream` releases its candles all at once (a backtest) or paced by a clock (a
real-time sim). Each bot reads through its own `StreamCursor`, a `MarketDataProvider` that is
two integers and a reference: the candles themselves are never copied per bot. The releaser
never waits for anyone, so back-pressure is per bot: a slow bot falls behind on its own, loses
nothing, and holds up nobody else. `market.shared.FeedHub` hands them out by key.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections import deque
from typing import AsyncIterator, Sequence


from market.clock import SYSTEM_CLOCK, Clock
from market.models import Candle

DEFAULT_BATCH_SIZE = 4096
MAX_LATENCIES = 100_000


class _Release:
    """Candles [.., end) went out at `released_at` (perf_counter); `behind` cursors have not
    yet asked for a batch past them."""

    __slots__ = ("end", "released_at", "behind")

    def __init__(self, end: int, released_at: float, behind: int) -> None:
        self.end = end
        self.released_at = released_at
        self.behind = behind


class SharedCandleStream:
    """Releases `candles` once, for any number of `StreamCursor`s to read at their own pace.

    With `speed=None` everything is released at once. With a speed, candle i goes out when
    `(ts_i - ts_0) / speed` of clock time has passed since `start()`: the first candle at once,
    and at speed 60 a 1m candle per second (gaps in the data stay gaps).

    `release_latencies` holds, per release (a candle, or the whole list in fast mode), the
    seconds from the release until every cursor subscribed at that moment had asked for its
    next batch past it, or closed: how long the slowest bot took to digest it. Releases
    nobody was subscribed to are not measured. `released` counts candles released so far.
    """

    def __init__(
        self,
        symbol: str,
        timeframe: str,
        candles: Sequence[Candle],
        *,
        speed: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
        resume_from: int = 0,
    ) -> None:
        if speed is not None and speed <= 0:
            raise ValueError(f"speed must be positive (or None for as fast as possible); got {speed}")
        self.symbol = symbol
        self.timeframe = timeframe
        self.speed = speed
        self._candles = candles          # shared by every cursor, never copied or mutated
        self._clock = clock
        # Paced streams release the first `resume_from` candles at once: bots restarted at
        # candle N go on at the configured pace from N, not after replaying N candles' time.
        self._resume_from = min(max(resume_from, 0), len(candles))
        self._released = 0
        self._finished = False           # no more releases will come
        # Cursors caught up and waiting for the next release, each on a future of its own: a
        # release wakes them all, a cursor closing wakes only itself (see `StreamCursor.stream`).
        self._waiters: list[asyncio.Future[None]] = []
        self._task: asyncio.Task[None] | None = None
        # Latency bookkeeping: release seq -> _Release, for releases some cursor is still behind.
        # A cursor is "active" once a released candle is at or past its start index; from then
        # on it counts in every release, so each cursor is behind a contiguous run of releases.
        self._next_seq = 0
        self._pending: dict[int, _Release] = {}
        self._active = 0
        self._waiting: list[tuple[int, int, StreamCursor]] = []  # heap of not-yet-active cursors
        self._ids = itertools.count()
        self._subscribers = 0
        self._latencies: deque[float] = deque(maxlen=MAX_LATENCIES)

    @property
    def released(self) -> int:
        """Candles released so far."""
        return self._released

    @property
    def finished(self) -> bool:
        """True once nothing more will be released: all of it went out, or the stream closed."""
        return self._finished

    @property
    def subscribers(self) -> int:
        """Open cursors."""
        return self._subscribers

    @property
    def release_latencies(self) -> list[float]:
        """Seconds from each measured release until the last cursor got past it (last 100,000)."""
        return list(self._latencies)

    def __len__(self) -> int:
        return len(self._candles)

    async def start(self) -> None:
        """Start releasing in a background task; a second call does nothing."""
        if self._task is None and not self._finished:
            self._task = asyncio.create_task(self._release_all(), name=f"feed:{self.symbol}:{self.timeframe}")

    async def aclose(self) -> None:
        """Stop releasing. Cursors still deliver what was released, then end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # wait() does not raise the task's CancelledError, but our own cancellation still
            # propagates out of it.
            await asyncio.wait({task})
        self._finish()

    def subscribe(self, start_index: int = 0, *, batch_size: int = DEFAULT_BATCH_SIZE) -> StreamCursor:
        """A cursor delivering the candles from `start_index` on, in batches of up to `batch_size`."""
        if start_index < 0 or batch_size < 1:
            raise ValueError(f"need start_index >= 0 and batch_size >= 1; got {start_index} and {batch_size}")
        cursor = self._new_cursor(start_index, batch_size)
        self._subscribers += 1
        if start_index < self._released:
            self._activate(cursor)
        else:
            heapq.heappush(self._waiting, (start_index, next(self._ids), cursor))
        return cursor

    def _new_cursor(self, start_index: int, batch_size: int) -> StreamCursor:
        return StreamCursor(self, start_index, batch_size)

    async def _release_all(self) -> None:
        try:
            if self.speed is None:
                self._release_to(len(self._candles))
                return
            resume = self._resume_from
            if resume:
                self._release_to(resume)
            if resume >= len(self._candles):
                return
            first_ts_ms = self._candles[resume].ts_ms
            started_ms = self._clock.now_ms()
            for index in range(resume, len(self._candles)):
                candle = self._candles[index]
                # Whole milliseconds: a clock that counts in ms can always reach the due time.
                due_ms = started_ms + math.ceil((candle.ts_ms - first_ts_ms) / self.speed)
                # Time is measured from the start, not from the last release, so the sleeps'
                # overshoot does not add up over a long file.
                if (wait_ms := due_ms - self._clock.now_ms()) > 0:
                    while wait_ms > 0:
                        await self._clock.sleep(wait_ms / 1000)
                        wait_ms = due_ms - self._clock.now_ms()
                elif index and index % DEFAULT_BATCH_SIZE == 0:
                    # Far behind (a high speed, or a stalled loop): catch up, but not in one
                    # stretch that keeps every bot waiting.
                    await asyncio.sleep(0)
                self._release_to(index + 1)
        finally:
            self._finish()

    def _release_to(self, end: int) -> None:
        self._released = end
        while self._waiting and self._waiting[0][0] < end:
            cursor = heapq.heappop(self._waiting)[2]
            if not cursor.closed:
                self._activate(cursor)
        if self._active:
            self._pending[self._next_seq] = _Release(end, time.perf_counter(), self._active)
        self._next_seq += 1
        self._wake_all()

    def _activate(self, cursor: StreamCursor) -> None:
        # Counted from the next release on: one made before the cursor existed is not its business.
        cursor._first_seq = self._next_seq
        cursor._active = True
        self._active += 1

    def _finish(self) -> None:
        if not self._finished:
            self._finished = True
            self._wake_all()

    def _wake_all(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():        # cancelled with its task
                waiter.set_result(None)

    def _acknowledge(self, cursor: StreamCursor, position: int) -> None:
        """`cursor` has processed every candle before `position`: settle the releases it passed."""
        seq = cursor._first_seq
        while seq < self._next_seq:
            release = self._pending[seq]
            if release.end > position:
                break
            release.behind -= 1
            if release.behind == 0:
                # Releases complete in order: a cursor behind a later release was behind this one.
                del self._pending[seq]
                self._latencies.append(time.perf_counter() - release.released_at)
            seq += 1
        cursor._first_seq = seq

    def _unsubscribe(self, cursor: StreamCursor) -> None:
        self._subscribers -= 1
        if cursor._active:
            self._acknowledge(cursor, len(self._candles))  # a closed cursor is behind nothing
            cursor._active = False
            self._active -= 1
        # A cursor still in `_waiting` is skipped when it reaches the top of the heap. Only
        # the closed cursor's own stream() is woken, to notice and end: waking every bot of the
        # stream made each of a hundred bots closing at shutdown wake the others, 5,000 wake-ups.
        waiter = cursor._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class StreamCursor:
    """One bot's `MarketDataProvider` over a `SharedCandleStream`.

    `stream()` yields the released candles from `position` on, in order and each once, in
    batches of whatever has been released and not yet delivered (at most `batch_size`); it
    waits when caught up and ends when the stream has nothing more to give, or the cursor is
    closed. A second `stream()` continues where the first stopped. Asking for the next batch
    tells the stream the previous one is processed (see `release_latencies`).
    """

    stale = False           # replayed candles are never late; `LiveCursor` says when they are

    def __init__(self, source: SharedCandleStream, start_index: int, batch_size: int) -> None:
        self.symbol = source.symbol
        self.timeframe = source.timeframe
        self._source = source
        self._start_index = start_index
        self._position = start_index
        self._batch_size = batch_size
        self._closed = False
        self._active = False
        self._first_seq = 0   # first release this cursor is still counted behind
        self._waiter: asyncio.Future[None] | None = None   # while caught up, set by the next release

    @property
    def position(self) -> int:
        """Index of the next candle this cursor will deliver."""
        return self._position

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def span_ms(self) -> tuple[int, int] | None:
        """(first, last) open time in epoch ms of the stream's candles, whatever this cursor's
        start index; None when it has none."""
        candles = self._source._candles
        return (candles[0].ts_ms, candles[-1].ts_ms) if len(candles) else None

    async def history(self, limit: int) -> list[Candle]:
        """Up to `limit` candles before the start index, oldest first: what a restarted bot
        replays into its strategy to warm up."""
        end = min(self._start_index, len(self._source))
        return list(self._source._candles[max(0, end - limit):end]) if limit > 0 else []

    async def stream(self) -> AsyncIterator[Sequence[Candle]]:
        # Paced and live streams run this loop once per candle for every bot, so it reads the
        # source's fields, not its properties, and keeps the loop and the candles in locals.
        source = self._source
        candles, batch_size = source._candles, self._batch_size
        create_future = asyncio.get_running_loop().create_future
        suspended = False
        acknowledged = -1      # the position last acknowledged: waking at the same one settles nothing
        while not self._closed:
            position = self._position
            if self._active and position != acknowledged:
                source._acknowledge(self, position)
                acknowledged = position
            end = source._released
            if end > position:
                if end - position > batch_size:
                    end = position + batch_size
                if not suspended:
                    # One real suspension per batch, or a bot whose strategy never awaits
                    # would hold the loop until it caught up with the whole file.
                    await asyncio.sleep(0)
                    if self._closed:  # closed meanwhile: the batch stays undelivered
                        return
                batch = candles[position:end]
                self._position = end
                suspended = False
                yield batch
            elif source._finished:
                return
            else:
                # A bare future rather than an asyncio.Event: ten thousand bots wait on every
                # candle, and each Event.wait() made a coroutine, a future and a deque entry.
                waiter = self._waiter = create_future()
                source._waiters.append(waiter)
                await waiter
                suspended = True

    async def aclose(self) -> None:
        """Stop this cursor; a `stream()` in progress ends before its next batch."""
        if not self._closed:
            self._closed = True
            self._source._unsubscribe(self)
