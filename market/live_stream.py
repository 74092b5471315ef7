"""Live candles shared by the bots on one exchange account, symbol and timeframe.

A `LiveCandleStream` is a `SharedCandleStream` fed while it runs: one upstream task reads a
`MarketDataProvider` (a `CcxtCandleFeed`) and appends each closed candle, which every bot's
`LiveCursor` then reads at its own pace. `market.shared.FeedHub.subscribe_live` hands them out.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Callable, Sequence

from loguru import logger

from market.models import Candle, iso_utc
from market.ports import MarketDataProvider
from market.stream import SharedCandleStream, StreamCursor


MAX_LIVE_CANDLES = 100_000
TRIM_SLACK = 64
"""Candles held beyond what must be kept before the stream drops the oldest: a trim reads every
cursor's position (0.1 ms with a hundred bots, on the way of every candle), so it is done once
in this many candles."""


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
            start, stop = key.start, key.stop
            # A cursor's [position:end], every bot on every candle, needs no normalising:
            # list slicing clips a stop past the end as `indices` would.
            if start is None or stop is None or start < 0 or stop < 0:
                start, stop, _ = key.indices(len(self))
            base = self.base
            return self.items[max(start - base, 0):max(stop - base, 0)]
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
    delivered, and up to `TRIM_SLACK` more between two trims; never more than `max_candles`.

        stream = LiveCandleStream("BTC/USDT", "1m", keep_history=200)
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
        items = self._buffer.items
        items.extend(fresh)
        self._last_ts_ms = last
        self._release_to(len(self._buffer))
        if len(items) > self._keep + TRIM_SLACK or len(items) > self._max_candles:
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

    @property
    def late_trades(self) -> dict[str, float] | None:
        """Candles made from trades (`market.trade_feed`): how many trades came after their
        candle was emitted, and their volume; None for any other upstream."""
        upstream = self._source.upstream
        count = getattr(upstream, "late_trades", None)
        return None if count is None else {"trades": count, "volume": upstream.late_volume}

    async def history(self, limit: int) -> list[Candle]:
        if self._warmup is None:
            return await super().history(limit)
        return self._warmup[-limit:] if limit > 0 else []
