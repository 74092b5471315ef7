"""`CcxtCandleFeed`: live closed candles from any ccxt exchange, as a `MarketDataProvider`.

REST polling, aligned to the timeframe: the feed sleeps (on the injected clock) until the next
candle should have closed plus `poll_delay_secs`, asks for the candles after the last one it gave
out (`fetch_ohlcv(since=last + timeframe)`), and yields those that have closed by the clock. A
gap (the feed was slow, the network was down) is caught up page by page, in order, each candle
once. An exchange that is late with a candle is asked again after 1 s, 2 s, 4 s ... (at most a
timeframe apart), so a 1h bot does not lose an hour to a two-second lag.

Errors, by what the feed does with them (`market.feed_retry`):

    ccxt.AuthenticationError, BadRequest (BadSymbol),   raised: a person has to fix the config
      NotSupported, ExchangeClosedByUser
    any other ccxt.ExchangeError, ccxt.OperationFailed  retried with backoff, forever; one WARNING
      (NetworkError, RateLimitExceeded, a 5xx ...)       per failure streak, one INFO when it ends
      and a request that outlives `request_timeout_secs`
    the account backing off (a 429 or a 418 ban,        waited out before the request, one INFO saying
      met by any request of the shared client)           until when; not a failure

A ccxt.pro client whose exchange has `watchOHLCV` is read by websocket; at a websocket error the
feed logs one warning, polls, and tries the websocket again ten timeframes later (at most ten
minutes). Candles missed in between are fetched by REST, so none is lost or given twice.

    feed = CcxtCandleFeed(exchange, "BTC/USDT", "1m", clock=SYSTEM_CLOCK)
    warm = await feed.history(200)            # the stream goes on right after these
    async for batch in feed.stream():
        ...
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Sequence

from loguru import logger

from market.models import Candle, iso_utc, timeframe_ms
from market.clock import Clock
from market.feed_clock import FeedClock, StaleHook, StaleWatch
from market.feed_retry import FATAL_ERRORS, FeedRetry, describe_error
from market.validation import clean_candles


class CcxtCandleFeed:
    """Closed candles of `symbol` on `timeframe` from the ccxt async `client`, as they close.

    The client is shared (one per exchange account) and is not closed by `aclose()`. `clock`
    is the exchange's time for the feed's purposes: it decides when a candle has closed (open
    time + timeframe <= now) and paces the polls and retries. `limit` is the page size asked
    of `fetch_ohlcv`; keep it within the exchange's maximum.

    `stale` turns True, with one WARNING and a call to `on_stale(True)`, once no new candle has
    arrived for `stale_after_bars` timeframes; the next candle turns it back, with
    `on_stale(False)`. A risk rule can hook in there to hold new entries on stale data.

    One `stream()` at a time. Without a `history()` call first, the stream starts with the
    candle forming when it starts. Raises ValueError for a timeframe the exchange does not
    offer, or an exchange without OHLCV.
    """

    def __init__(
        self,
        client: Any,
        symbol: str,
        timeframe: str,
        *,
        clock: Clock,
        poll_delay_secs: float = 1.0,
        stale_after_bars: int = 3,
        limit: int = 500,
        on_stale: StaleHook | None = None,
        retry_initial_secs: float = 1.0,
        retry_max_secs: float = 60.0,
        request_timeout_secs: float = 30.0,
        websocket: bool = True,
    ) -> None:
        self.exchange: str = client.id
        self._tf_ms = timeframe_ms(timeframe)
        if not client.has.get("fetchOHLCV"):
            raise ValueError(f"{self.exchange} has no OHLCV candles (fetchOHLCV) in ccxt")
        if client.timeframes and timeframe not in client.timeframes:
            raise ValueError(f"{self.exchange} has no {timeframe} candles; it offers {', '.join(client.timeframes)}")
        if stale_after_bars < 1 or limit < 2 or poll_delay_secs < 0:
            raise ValueError(f"need stale_after_bars >= 1, limit >= 2 and poll_delay_secs >= 0; "
                             f"got {stale_after_bars}, {limit} and {poll_delay_secs}")
        self.symbol = symbol
        self.timeframe = timeframe
        self._client = client
        self._clock = FeedClock(clock)
        self._poll_delay_ms = round(poll_delay_secs * 1000)
        self._stale_after_bars = stale_after_bars
        self._limit = limit
        self._websocket = websocket and bool(client.has.get("watchOHLCV"))
        # After a websocket error the feed polls, and tries the websocket again this much later.
        self._websocket_pause_ms = max(self._tf_ms, min(10 * self._tf_ms, 600_000))
        self._websocket_retry_ms = 0
        self._source = f"{self.exchange} {symbol} {timeframe}"
        # Open time of the last candle given out (by history or stream). `_aligned` is False while
        # it is only a guess made at the stream's start, not a candle the exchange sent.
        self._after_ms: int | None = None
        self._aligned = False
        self._last_poll_ms = 0
        self._misses = 0      # polls in a row that found no new candle though one was due
        self._staleness = StaleWatch(self._source, stale_after_bars * self._tf_ms, on_stale)
        self._retry = FeedRetry(self._source, "candles", self._clock, initial_secs=retry_initial_secs,
                                max_secs=retry_max_secs, timeout_secs=request_timeout_secs,
                                on_failure=lambda: self._check_stale(self._clock.now_ms()), client=client)

    @property
    def stale(self) -> bool:
        """True while no new candle has come for `stale_after_bars` timeframes."""
        return self._staleness.stale

    @property
    def closed(self) -> bool:
        return self._clock.closed

    @property
    def last_candle_age_secs(self) -> float | None:
        """Seconds since the last candle given out closed (before the first one: since the
        stream started); None before `history()` or `stream()`."""
        if self._after_ms is None:
            return None
        return (self._clock.now_ms() - self._after_ms - self._tf_ms) / 1000

    async def history(self, limit: int) -> list[Candle]:
        """The last `limit` closed candles before now, oldest first (fewer if the exchange has
        fewer); `stream()` goes on right after the last of them. Paged by `limit` per request.

        Temporary errors are retried as in the stream; raises ccxt.AuthenticationError and the
        other errors listed in the module docstring.
        """
        if limit <= 0:
            return []
        since = self._clock.now_ms() - (limit + 1) * self._tf_ms
        candles: list[Candle] = []
        async for page in self._pages(since, after_ms=since - 1):
            candles.extend(page)
        candles = candles[-limit:]
        if candles:
            self._after_ms, self._aligned = candles[-1].ts_ms, True
        return candles

    async def stream(self) -> AsyncIterator[Sequence[Candle]]:
        """Closed candles in order, each once, in batches (one page at most) as they close."""
        if self._after_ms is None:
            # No history: start with the candle forming now. Its open time is in (now - tf, now],
            # whatever the exchange aligns candles to.
            self._after_ms, self._aligned = self._clock.now_ms() - self._tf_ms, False
        while not self._clock.closed:
            if self._websocket and self._clock.now_ms() >= self._websocket_retry_ms:
                async for batch in self._watch():
                    yield batch
                self._websocket_retry_ms = self._clock.now_ms() + self._websocket_pause_ms
            if not await self._clock.sleep_until(self._next_poll_ms()):
                return
            found = False
            async for batch in self._pages(self._next_since(), after_ms=self._after_ms):
                found = True
                yield batch
            self._misses = 0 if found else self._misses + 1
            self._check_stale(self._clock.now_ms())

    async def aclose(self) -> None:
        """End a `stream()` in progress (before its next batch). The client stays open."""
        self._clock.close()

    async def __aenter__(self) -> CcxtCandleFeed:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- polling -------------------------------------------------------------------------------

    def _next_since(self) -> int:
        return self._after_ms + (self._tf_ms if self._aligned else 1)

    def _next_poll_ms(self) -> int:
        tf = self._tf_ms
        # The next candle closes one timeframe after it opens; before the first one arrives,
        # guess candles are aligned to the epoch (true for minutes, hours and days).
        next_close = self._after_ms + 2 * tf if self._aligned else (self._after_ms // tf + 2) * tf
        due = next_close + self._poll_delay_ms
        if self._misses:
            # The candle was due and did not come: ask again soon, less often the longer it takes.
            backoff_ms = min(max(self._poll_delay_ms, 1000) * 2 ** (self._misses - 1), tf)
            due = max(due, self._last_poll_ms + backoff_ms)
        return due

    async def _pages(self, since: int, *, after_ms: int) -> AsyncIterator[list[Candle]]:
        """New closed candles from `since` on, a page at a time, until caught up with the clock.

        Candles at or before `after_ms` (or `self._after_ms`, once something was taken) are
        left out, so a page that overlaps what was given out cannot repeat a candle."""
        tf = self._tf_ms
        while not self._clock.closed:
            fetched = await self._fetch(since)
            if fetched is None:      # closed while waiting to retry
                return
            rows, now = fetched
            self._last_poll_ms = now
            new = self._take_new(rows, now, after_ms if self._after_ms is None else max(after_ms, self._after_ms))
            if new:
                yield new
            # Another page only if a closed candle could follow the last row, and the exchange
            # moved forward (one that ignores `since` would otherwise be asked forever).
            last_ts = rows[-1][0] if rows and isinstance(rows[-1][0], int) else None
            if last_ts is None or last_ts < since or last_ts + 2 * tf > now:
                break
            since = last_ts + tf

    def _take_new(self, rows: list[list[Any]], now: int, after_ms: int) -> list[Candle]:
        """The closed candles in `rows` newer than `after_ms`, checked; records them as given out."""
        if not rows:
            return []
        checked = clean_candles(((f"item {i}", *row[:6]) for i, row in enumerate(rows)), source=self._source)
        new = [c for c in checked.candles if c.ts_ms > after_ms and c.ts_ms + self._tf_ms <= now]
        if not new:
            return []
        if self._aligned and self._after_ms is not None and new[0].ts_ms > self._after_ms + self._tf_ms:
            missing = (new[0].ts_ms - self._after_ms) // self._tf_ms - 1
            logger.warning("{}: the exchange has no candles from {} to {} ({} missing); going on from {}",
                           self._source, iso_utc(self._after_ms + self._tf_ms), iso_utc(new[0].ts_ms), missing,
                           iso_utc(new[0].ts_ms))
        self._after_ms, self._aligned = new[-1].ts_ms, True
        if self._staleness.stale:
            logger.info("{} {} candles from {} are back: {} closed", self.symbol, self.timeframe, self.exchange,
                        iso_utc(new[-1].ts_ms + self._tf_ms))
            self._staleness.turn(False)
        return new

    async def _fetch(self, since: int) -> tuple[list[list[Any]], int] | None:
        """`fetch_ohlcv` from `since`, retried until it works: (rows, clock time when asked), or
        None when the feed was closed meanwhile."""
        async def ask() -> tuple[list[list[Any]], int]:
            now = self._clock.now_ms()
            return await self._client.fetch_ohlcv(self.symbol, self.timeframe, since=since, limit=self._limit), now

        return await self._retry(ask)

    # -- websocket -----------------------------------------------------------------------------

    async def _watch(self) -> AsyncIterator[list[Candle]]:
        """Closed candles from `watch_ohlcv`, until its first error (then the caller polls)."""
        quiet_secs = self._stale_after_bars * self._tf_ms / 1000
        while not self._clock.closed:
            try:
                async with asyncio.timeout(quiet_secs):
                    rows = await self._watch_once()
                if rows is None:                  # closed meanwhile
                    return
            except FATAL_ERRORS:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: polling is the fallback
                logger.warning("{}: websocket candles stopped ({}); polling REST, and trying the websocket "
                               "again in {}", self._source, describe_error(exc), _duration(self._websocket_pause_ms))
                return
            now = self._clock.now_ms()
            if self._aligned and rows and rows[0][0] > self._after_ms + self._tf_ms:
                # The websocket's cache starts after the last candle given out: fill the hole by REST.
                async for batch in self._pages(self._next_since(), after_ms=self._after_ms):
                    yield batch
            elif new := self._take_new(rows, now, self._after_ms):
                yield new
            self._check_stale(now)

    async def _watch_once(self) -> list[list[Any]] | None:
        """The next `watch_ohlcv` answer, or None once `aclose()` is called meanwhile."""
        watched = await self._clock.unless_closed(self._client.watch_ohlcv(self.symbol, self.timeframe))
        return None if watched is None else watched.result()

    # -- time and staleness --------------------------------------------------------------------

    def _check_stale(self, now: int) -> None:
        last_close_ms = None if self._after_ms is None else self._after_ms + self._tf_ms
        if self._staleness.overdue(now, last_close_ms):
            since = "the last closed at" if self._aligned else "since the feed started at"
            logger.warning("no new {} {} candle from {} for {} ({} {}); check the exchange's status and the network. "
                           "Bots on this feed wait and go on when candles come back", self.symbol, self.timeframe,
                           self.exchange, _duration(self._stale_after_bars * self._tf_ms), since,
                           iso_utc(last_close_ms))
            self._staleness.turn(True)


def _duration(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"
