"""Market data shared by many bots in one process: one upstream releaser, one cursor per bot.

The streams themselves are in `market.stream` (a candle list released at once or paced) and
`market.live_stream` (candles appended from an exchange as they close); this module keys them
and hands them out. `FeedHub` gives each bot a cursor by `FeedKey`, loading and starting one
stream per key:

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
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Callable

from loguru import logger

from market.clock import SYSTEM_CLOCK, Clock
from market.config import MarketConfig, SyntheticSource
from market.live_stream import LiveCandleStream, LiveCursor
from market.models import Candle
from market.ports import MarketDataProvider
from market.stream import DEFAULT_BATCH_SIZE, MAX_LATENCIES, SharedCandleStream, StreamCursor

__all__ = [
    "DEFAULT_BATCH_SIZE", "MAX_LATENCIES", "FeedHub", "FeedKey", "LiveCandleStream", "LiveCursor",
    "SharedCandleStream", "StreamCursor", "feed_key_for", "live_feed_key",
]


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
