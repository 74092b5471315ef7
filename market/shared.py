"""Market data shared by many bots in one process: one upstream releaser, one cursor per bot.

A `SharedCandleStream` owns one in-memory candle list and releases it, all at once (a backtest)
or paced by a clock (a real-time sim). Each bot reads through its own `StreamCursor`, a
`MarketDataProvider` that is two integers and a reference: the candles themselves are never
copied per bot. The releaser never waits for anyone, so back-pressure is per bot: a slow bot
falls behind on its own, loses nothing, and holds up nobody else.

`FeedHub` hands out cursors by `FeedKey`, loading and starting one stream per key:

    hub = FeedHub()
    key = feed_key_for(bot.market, "BTC/USDT", "1m", speed=60)
    feed = await hub.subscribe(key, lambda: load_market(bot.market, symbol="BTC/USDT", timeframe="1m"),
                               speed=60)
    async for batch in feed.stream():
        ...
    await hub.aclose()

Live candles go the same way, through a `LiveCandleStream` that one upstream task feeds from an
exchange; bots on the same exchange account, symbol and timeframe share it:

    key = live_feed_key("binance", "main", "BTC/USDT", "1m")
    feed = await hub.subscribe_live(key, lambda: CcxtCandleFeed(exchange, "BTC/USDT", "1m", clock=clock),
                                    warmup=200)
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import os
import time
import weakref
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import AsyncIterator, Callable, Sequence

from loguru import logger

from market.config import MarketConfig, SyntheticSource
from market.clock import SYSTEM_CLOCK, Clock
from market.models import Candle, iso_utc
from market.ports import MarketDataProvider

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
        self._wake = asyncio.Event()     # replaced by a fresh one at every release
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

    @staticmethod
    def live(symbol: str, timeframe: str, *, keep_history: int = 0) -> LiveCandleStream:
        """A stream fed while it runs, through `append` and `end` (see `LiveCandleStream`)."""
        return LiveCandleStream(symbol, timeframe, keep_history=keep_history)

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
        self._wake.set()
        self._wake = asyncio.Event()

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
        # A cursor still in `_waiting` is skipped when it reaches the top of the heap.
        # Waking everyone lets a closed cursor's own stream() notice and end; the others
        # re-check and wait again, which only happens when a bot leaves.
        self._wake_all()


class StreamCursor:
    """One bot's `MarketDataProvider` over a `SharedCandleStream`.

    `stream()` yields the released candles from `position` on, in order and each once, in
    batches of whatever has been released and not yet delivered (at most `batch_size`); it
    waits when caught up and ends when the stream has nothing more to give, or the cursor is
    closed. A second `stream()` continues where the first stopped. Asking for the next batch
    tells the stream the previous one is processed (see `release_latencies`).
    """

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

    @property
    def position(self) -> int:
        """Index of the next candle this cursor will deliver."""
        return self._position

    @property
    def closed(self) -> bool:
        return self._closed

    async def history(self, limit: int) -> list[Candle]:
        """Up to `limit` candles before the start index, oldest first: what a restarted bot
        replays into its strategy to warm up."""
        end = min(self._start_index, len(self._source))
        return list(self._source._candles[max(0, end - limit):end]) if limit > 0 else []

    async def stream(self) -> AsyncIterator[Sequence[Candle]]:
        source = self._source
        suspended = False
        while not self._closed:
            if self._active:
                source._acknowledge(self, self._position)
            end = min(source.released, self._position + self._batch_size)
            if end > self._position:
                if not suspended:
                    # One real suspension per batch, or a bot whose strategy never awaits
                    # would hold the loop until it caught up with the whole file.
                    await asyncio.sleep(0)
                    if self._closed:  # closed meanwhile: the batch stays undelivered
                        return
                batch = source._candles[self._position:end]
                self._position = end
                suspended = False
                yield batch
            elif source.finished:
                return
            else:
                await source._wake.wait()
                suspended = True

    async def aclose(self) -> None:
        """Stop this cursor; a `stream()` in progress ends before its next batch."""
        if not self._closed:
            self._closed = True
            self._source._unsubscribe(self)


MAX_LIVE_CANDLES = 100_000


class _LiveCandles:
    """Candles by absolute index whose oldest part can be dropped: index i stays candle i, and a
    slice gives whatever part of it is still held. It stands in for the candle list of a
    `SharedCandleStream`, which its cursors index and slice like a list."""

    __slots__ = ("items", "base")

    def __init__(self) -> None:
        self.items: list[Candle] = []
        self.base = 0  # absolute index of items[0]

    def __len__(self) -> int:
        return self.base + len(self.items)

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, _ = key.indices(len(self))
            return self.items[max(start - self.base, 0):max(stop - self.base, 0)]
        index = key + len(self) if key < 0 else key
        if not self.base <= index < len(self):
            raise IndexError(f"candle {key} is not held (held: {self.base} to {len(self) - 1})")
        return self.items[index - self.base]

    def drop_before(self, index: int) -> None:
        if index > self.base:
            del self.items[:index - self.base]
            self.base = index


class LiveCandleStream(SharedCandleStream):
    """A `SharedCandleStream` fed while it runs: each `append` releases candles to the cursors
    at once (with `release_latencies` measured as for paced releases), `end()` says no more
    will come. `run_upstream` starts a task that does both from a `MarketDataProvider`.

    Cursors subscribe at `released` (the live edge); their `history()` reads the candles held
    before it. Memory stays bounded: the stream keeps the last `keep_history` candles before
    the live edge (the largest warm-up asked for) and whatever an open cursor has not yet
    delivered, never more than `max_candles`.

        stream = SharedCandleStream.live("BTC/USDT", "1m", keep_history=200)
        stream.run_upstream(lambda: CcxtCandleFeed(exchange, "BTC/USDT", "1m", clock=clock), warmup=200)
        await stream.wait_ready()
        cursor = stream.subscribe(stream.released)
    """

    def __init__(self, symbol: str, timeframe: str, *, keep_history: int = 0,
                 max_candles: int = MAX_LIVE_CANDLES) -> None:
        self._buffer = _LiveCandles()
        super().__init__(symbol, timeframe, self._buffer)
        self._max_candles = max(max_candles, 1)
        self._keep = 0
        self.keep_history(keep_history)
        self._last_ts_ms: int | None = None
        self._cursors: weakref.WeakSet[StreamCursor] = weakref.WeakSet()
        self._ready: asyncio.Future[None] | None = None
        self._joining = 0  # FeedHub subscribers waiting for the upstream's history
        self.upstream: MarketDataProvider | None = None
        """The provider `run_upstream` reads (a `CcxtCandleFeed` has `stale` for risk rules)."""
        self.error: BaseException | None = None
        """Why the upstream stopped, when it failed."""

    @property
    def held(self) -> int:
        """Candles in memory."""
        return len(self._buffer.items)

    def keep_history(self, count: int) -> None:
        """Keep at least `count` candles before the live edge (up to `max_candles`)."""
        self._keep = min(max(self._keep, count), self._max_candles)

    async def start(self) -> None:
        """Nothing to start: candles come from `append` (or `run_upstream`)."""

    def append(self, candles: Sequence[Candle]) -> None:
        """Release `candles` (oldest first) to every cursor now.

        A candle not newer than the last one appended is dropped with a warning. Raises
        RuntimeError once the stream has ended.
        """
        if self._finished:
            raise RuntimeError(f"live stream {self.symbol} {self.timeframe} has ended; cannot append")
        last, fresh = self._last_ts_ms, []
        for candle in candles:
            if last is None or candle.ts_ms > last:
                fresh.append(candle)
                last = candle.ts_ms
        if len(fresh) < len(candles):
            logger.warning("Live stream {} {}: dropped {} candles not newer than the last one, {}", self.symbol,
                           self.timeframe, len(candles) - len(fresh), iso_utc(self._last_ts_ms or last or 0))
        if not fresh:
            return
        self._buffer.items.extend(fresh)
        self._last_ts_ms = last
        self._release_to(len(self._buffer))
        self._trim()

    def end(self) -> None:
        """No more candles: cursors deliver what was released, then their streams end."""
        self._finish()

    def run_upstream(self, make_feed: Callable[[], MarketDataProvider], *, warmup: int = 0) -> None:
        """Start the one task that appends `make_feed()`'s `history(warmup)`, then its stream.

        The feed is closed when the task ends: at the stream's end, at `aclose()`, when the
        last cursor closes, or on an error (kept in `error`, the stream then ends).
        `wait_ready()` returns once the history is in.
        """
        if self._task is not None or self._finished:
            raise RuntimeError(f"live stream {self.symbol} {self.timeframe} already has an upstream or has ended")
        self.keep_history(warmup)
        ready = self._ready = asyncio.get_running_loop().create_future()
        ready.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved: no "never retrieved" noise
        self._task = asyncio.create_task(self._pump(make_feed, warmup), name=f"live:{self.symbol}:{self.timeframe}")

    async def wait_ready(self) -> None:
        """Wait until the upstream's warm-up history is in; raises what loading it raised."""
        if self._ready is not None:
            # shield: one subscriber giving up must not cancel the wait of the others.
            await asyncio.shield(self._ready)

    async def _pump(self, make_feed: Callable[[], MarketDataProvider], warmup: int) -> None:
        feed: MarketDataProvider | None = None
        ready = self._ready
        try:
            feed = self.upstream = make_feed()
            self.append(await feed.history(warmup))
            ready.set_result(None)
            logger.info("Live feed {} {} opened with {} warm-up candles", self.symbol, self.timeframe, self.released)
            async for batch in feed.stream():
                self.append(batch)
            logger.info("Live feed {} {} ended: its upstream has no more candles", self.symbol, self.timeframe)
        except Exception as exc:
            self.error = exc
            if not ready.done():
                ready.set_exception(exc)  # the subscribers waiting for the history raise it
            else:
                logger.opt(exception=exc).error("Live feed {} {} stopped ({}: {}); its bots get no more candles",
                                                self.symbol, self.timeframe, type(exc).__name__, exc)
        finally:
            if not ready.done():
                ready.set_exception(RuntimeError(f"live feed {self.symbol} {self.timeframe} closed while loading"))
            self._finish()
            if feed is not None:
                await feed.aclose()

    def _stop_upstream(self) -> None:
        if self._task is not None and not self._task.done():
            logger.info("Live feed {} {}: no bots left; stopping its upstream", self.symbol, self.timeframe)
            self._task.cancel()
        self._finish()

    def _new_cursor(self, start_index: int, batch_size: int) -> StreamCursor:
        cursor = LiveCursor(self, start_index, batch_size)
        self._cursors.add(cursor)
        return cursor

    def _unsubscribe(self, cursor: StreamCursor) -> None:
        super()._unsubscribe(cursor)
        self._cursors.discard(cursor)
        if self.subscribers == 0 and self._joining == 0 and self._task is not None:
            self._stop_upstream()

    def _trim(self) -> None:
        keep_from = self._released - self._keep
        behind = [c.position for c in self._cursors if not c.closed]
        if behind:
            keep_from = min(keep_from, min(behind))
        floor = self._released - self._max_candles
        if keep_from < floor:
            logger.warning("Live stream {} {}: a bot is more than {} candles behind; dropping the oldest it has not "
                           "read", self.symbol, self.timeframe, self._max_candles)
            keep_from = floor
        self._buffer.drop_before(keep_from)

    async def _warm_up(self, cursor: LiveCursor, make_feed: Callable[[], MarketDataProvider], warmup: int) -> None:
        """Give `cursor` (just subscribed at the live edge) its `warmup` candles: those held, and,
        when fewer are held, older ones from a one-off `make_feed().history(warmup)`."""
        start, boundary_ts = cursor.position, self._last_ts_ms  # boundary: the last candle before start
        cursor._warmup = self._buffer[max(start - warmup, 0):start]
        if len(cursor._warmup) >= warmup or warmup <= 0:
            return
        if boundary_ts is None:
            logger.warning("Live feed {} {} holds no candle yet; this bot warms up on none of its {}", self.symbol,
                           self.timeframe, warmup)
            return
        feed = make_feed()
        try:
            extra = await feed.history(warmup)
        finally:
            await feed.aclose()
        held = self._buffer[max(start - warmup, 0):start]  # again: the fetch took a while
        first_held_ts = held[0].ts_ms if held else boundary_ts + 1
        older = [c for c in extra if c.ts_ms < first_held_ts]
        cursor._warmup = (older + held)[-warmup:]


class LiveCursor(StreamCursor):
    """A `StreamCursor` on a `LiveCandleStream`. `FeedHub.subscribe_live` fixes its warm-up when
    it subscribes, so candles dropped from the stream later do not shorten it."""

    _warmup: list[Candle] | None = None

    @property
    def stale(self) -> bool:
        """The upstream has had no new candle for several timeframes (see `CcxtCandleFeed`)."""
        return bool(getattr(self._source.upstream, "stale", False))

    async def history(self, limit: int) -> list[Candle]:
        if self._warmup is None:
            return await super().history(limit)
        return self._warmup[-limit:] if limit > 0 else []


@dataclass(frozen=True)
class FeedKey:
    """What makes two bots' candles the same: where they come from, symbol, timeframe, speed.

    `source` is a tuple of plain values (see `feed_key_for`), so keys compare and hash by value.
    """

    source: tuple[object, ...]
    symbol: str
    timeframe: str
    speed: float | None = None

    def __str__(self) -> str:
        pace = "max" if self.speed is None else f"{self.speed:g}x"
        return f"{':'.join(map(str, self.source))} {self.symbol} {self.timeframe} @{pace}"


def feed_key_for(
    market_config: MarketConfig,
    symbol: str,
    timeframe: str,
    speed: float | None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    path_override: Path | None = None,
) -> FeedKey:
    """The `FeedKey` of the candles `market.factory.load_market` gives for the same arguments.

    Two bots share a key when they read the same file (by absolute path) over the same
    [start, end), or the same synthetic parameters, for the same symbol, timeframe and speed.
    `start`, `end` and `path_override` win over the config's, as in `load_market`.
    """
    if path_override is not None:
        source: tuple[object, ...] = ("file", _absolute(path_override), _epoch_ms(start), _epoch_ms(end))
    elif isinstance(market_config, SyntheticSource):
        c = market_config
        source = ("synthetic", c.seed, c.bars, c.start_price, c.volatility,
                  _epoch_ms(start or c.start), _epoch_ms(end))
    else:
        source = ("file", _absolute(market_config.path),
                  _epoch_ms(start or market_config.start), _epoch_ms(end or market_config.end))
    return FeedKey(source, symbol, timeframe, speed)


def live_feed_key(exchange: str, account: str, symbol: str, timeframe: str) -> FeedKey:
    """The `FeedKey` bots share live candles by: one exchange account, symbol and timeframe."""
    return FeedKey(("live", exchange, account), symbol, timeframe)


def _absolute(path: Path) -> str:
    # abspath, like market.factory: the same path as configured, made absolute.
    return os.path.abspath(path)


def _epoch_ms(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


class FeedHub:
    """One `SharedCandleStream` per `FeedKey`, created, loaded and started on first use."""

    def __init__(self, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._streams: dict[FeedKey, SharedCandleStream] = {}
        self._loading: dict[FeedKey, asyncio.Future[list[Candle]]] = {}
        self._closed = False

    async def subscribe(
        self,
        key: FeedKey,
        load: Callable[[], list[Candle]],
        *,
        start_index: int = 0,
        speed: float | None = None,
    ) -> StreamCursor:
        """A cursor on `key`'s stream from `start_index` on.

        The first subscriber to a key calls `load` (in a worker thread, so a big file does not
        stall the other bots) and starts the stream; the rest share it, and `load` is never
        called again for that key. Raises whatever `load` raises, and ValueError when `speed`
        is not the key's.
        """
        if self._closed:
            raise RuntimeError("FeedHub is closed")
        if speed != key.speed:
            raise ValueError(f"speed {speed} does not match the feed key's {key.speed}")
        stream = self._streams.get(key)
        if stream is not None:
            return stream.subscribe(start_index)
        loading = self._loading.get(key)
        if loading is None:
            loading = self._loading[key] = asyncio.ensure_future(asyncio.to_thread(load))
        try:
            # shield: one subscriber giving up must not cancel the load the others wait for.
            candles = await asyncio.shield(loading)
        finally:
            if loading.done() and self._loading.get(key) is loading:
                del self._loading[key]   # after a failure, the next subscriber tries again
        stream = self._streams.get(key)
        if stream is not None:           # another waiter on the same load got here first
            return stream.subscribe(start_index)
        if self._closed:
            raise RuntimeError("FeedHub closed while loading")
        stream = self._streams[key] = SharedCandleStream(
            key.symbol, key.timeframe, candles, speed=key.speed, clock=self._clock, resume_from=start_index)
        cursor = stream.subscribe(start_index)  # before start(): the first release counts it
        await stream.start()
        logger.info("Feed {} opened: {} candles", key, len(candles))
        return cursor

    async def subscribe_live(
        self,
        key: FeedKey,
        make_feed: Callable[[], MarketDataProvider],
        *,
        warmup: int = 0,
    ) -> StreamCursor:
        """A cursor on `key`'s live candles from the next one on; its `history(warmup)` gives up
        to `warmup` candles just before that, with no overlap.

        The first subscriber to a key starts one upstream task (`LiveCandleStream.run_upstream`)
        that calls `make_feed()` once and appends its `history(warmup)`, then its stream; the
        rest share it. A later subscriber wanting more warm-up than the stream holds gets the
        older candles from a one-off `make_feed().history(warmup)`. When the last cursor on a key
        closes, its upstream stops; the next subscriber starts a new one.

        Raises what the upstream's history raised (say ccxt.AuthenticationError), and
        ValueError when `key` has a speed or names a replay stream.
        """
        if self._closed:
            raise RuntimeError("FeedHub is closed")
        if key.speed is not None:
            raise ValueError(f"a live feed has no speed; got {key.speed} in {key}")
        stream = self._streams.get(key)
        if stream is not None and not isinstance(stream, LiveCandleStream):
            raise ValueError(f"{key} is a replay feed, not a live one")
        if stream is None or stream.finished:
            old, stream = stream, LiveCandleStream(key.symbol, key.timeframe, keep_history=warmup)
            self._streams[key] = stream
            stream.run_upstream(make_feed, warmup=warmup)
            if old is not None:
                await old.aclose()  # reap its finished upstream task
        stream.keep_history(warmup)
        stream._joining += 1
        try:
            await stream.wait_ready()
        except BaseException:
            if stream.subscribers == 0 and stream._joining == 1:
                stream._stop_upstream()  # nobody is left to read it
            if self._streams.get(key) is stream and stream.finished:
                del self._streams[key]  # the next subscriber tries again
            raise
        finally:
            stream._joining -= 1
        cursor = stream.subscribe(stream.released)
        try:
            await stream._warm_up(cursor, make_feed, warmup)
        except BaseException:
            await cursor.aclose()
            raise
        return cursor

    def streams(self) -> dict[FeedKey, SharedCandleStream]:
        """The open streams by key (a copy)."""
        return dict(self._streams)

    async def aclose(self) -> None:
        """Stop every releaser; cursors deliver what was released, then end."""
        self._closed = True
        streams, self._streams = self._streams, {}
        for stream in streams.values():
            await stream.aclose()
