"""`TradeCandleFeed`: live candles built from an exchange's trades, as a `MarketDataProvider`.

For a paper or live bot with `exchange: {candles_from: trades}`: instead of the exchange's own
closed candles (`market.ccxt_feed`), the feed polls ccxt's `fetch_trades` (on Binance
`GET /api/v3/aggTrades`) and makes the candles itself with a `TradeCandleBuilder`
(`market.trade_candles`), so a candle closes when its period does, not when the exchange gets
round to publishing its kline, and late trades are counted instead of silently folded in.

- Warm-up history is the exchange's klines (`CcxtCandleFeed.history`): a day of 1m trades is
  hundreds of thousands of rows. The stream then builds from the period after the last of them,
  asking for trades from that period's start, so its first candle is whole.
- Polling: every `poll_secs`, and at each period's end plus `grace_secs`, it asks for the trades
  since the last one seen (`since` = its time; trades already seen are skipped by id), a page of
  `limit` at a time until caught up. A candle is emitted when a trade of a later period
  arrives, or when a poll made at or after its period's end plus the grace has come back.
  A full page within one millisecond would come back the same from its time: on Binance the
  pages go on by id (aggTrades' `fromId`, the page's highest id + 1) until one is not full; on an
  exchange without it, the rest of that millisecond is skipped with a warning.
- With `websocket` and a ccxt.pro client whose exchange has `watchTrades`, trades come from
  `watch_trades` (Binance's `<symbol>@aggTrade` stream, the ids of `aggTrades`), so a candle is
  emitted as soon as the first trade of the next period arrives. A period whose end plus the
  grace comes first is closed after one REST read catches up on what the stream has not
  delivered. At a websocket error the feed polls, and tries the websocket again ten timeframes
  later (at most ten minutes). Trades are taken once whichever way they come: what is older
  than the newest trade seen was seen, and so were the ids seen at its time (a source that
  sends trades out of time order would lose them).
- Errors are those of `CcxtCandleFeed` (`market.feed_retry`): authentication, a bad symbol and
  the like are raised; anything else is retried with backoff (one WARNING per failure streak);
  `stale` turns True after `stale_after_bars` timeframes without a candle (a quiet market
  makes no candle either).
- `late_trades` and `late_volume` count trades that came after their period was closed; each
  candle's are logged once. A trade that is not a usable number is dropped with a warning.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Sequence

from loguru import logger

from market.ccxt_feed import CcxtCandleFeed
from market.clock import Clock
from market.feed_clock import FeedClock, StaleHook, StaleWatch
from market.feed_retry import FATAL_ERRORS, FeedRetry, describe_error
from market.models import Candle, iso_utc, timeframe_ms
from market.tick_periods import period_open_ms
from market.trade_candles import TradeCandleBuilder
from market.trade_intake import TradeIntake

_WINDOW_MS = 3_600_000      # ccxt asks Binance for [since, since + 1 h]; a quiet hour moves `since` on


class TradeCandleFeed:
    """Closed candles of `symbol` on `timeframe` made from the ccxt async `client`'s trades.

    The client is shared and not closed by `aclose()`; `clock` is the exchange's time for the
    feed. Raises ValueError for an exchange without `fetchTrades` in ccxt, or bad settings.
    """

    def __init__(self, client: Any, symbol: str, timeframe: str, *, clock: Clock, grace_secs: float = 2.0,
                 poll_secs: float = 1.0, stale_after_bars: int = 3, limit: int = 1000,
                 on_stale: StaleHook | None = None, retry_initial_secs: float = 1.0, retry_max_secs: float = 60.0,
                 request_timeout_secs: float = 30.0, websocket: bool = False) -> None:
        self.exchange: str = client.id
        if not client.has.get("fetchTrades"):
            raise ValueError(f"{self.exchange} has no public trades (fetchTrades) in ccxt; use its candles")
        if grace_secs < 0 or poll_secs <= 0 or limit < 2 or stale_after_bars < 1:
            raise ValueError(f"need grace_secs >= 0, poll_secs > 0, limit >= 2 and stale_after_bars >= 1; got "
                             f"{grace_secs}, {poll_secs}, {limit} and {stale_after_bars}")
        self.symbol, self.timeframe = symbol, timeframe
        self._client, self._clock = client, FeedClock(clock)
        self._tf_ms = timeframe_ms(timeframe)
        self._grace_ms, self._poll_ms = round(grace_secs * 1000), round(poll_secs * 1000)
        self._stale_after_bars, self._limit = stale_after_bars, limit
        self._source = f"{self.exchange} {symbol} {timeframe} trades"
        # A candle is closed only once its period has ended plus the grace: so is it overdue.
        self._staleness = StaleWatch(self._source, stale_after_bars * self._tf_ms + self._grace_ms, on_stale)
        self._retry = FeedRetry(self._source, "trades", self._clock, initial_secs=retry_initial_secs,
                                max_secs=retry_max_secs, timeout_secs=request_timeout_secs,
                                on_failure=lambda: self._check_stale(self._clock.now_ms()), client=client)
        self._history = CcxtCandleFeed(client, symbol, timeframe, clock=clock, websocket=False,
                                       retry_initial_secs=retry_initial_secs, retry_max_secs=retry_max_secs,
                                       request_timeout_secs=request_timeout_secs)
        self._start_ms: int | None = None       # the first period the stream builds
        self._builder: TradeCandleBuilder | None = None
        self._intake: TradeIntake | None = None
        self._last_candle_close_ms: int | None = None
        self._websocket = websocket and bool(client.has.get("watchTrades"))
        self._websocket_pause_ms = max(self._tf_ms, min(10 * self._tf_ms, 600_000))
        self._websocket_retry_ms = 0

    @property
    def stale(self) -> bool:
        return self._staleness.stale

    @property
    def closed(self) -> bool:
        return self._clock.closed

    @property
    def late_trades(self) -> int:
        """Trades that arrived after their period was closed, left out of every candle."""
        return 0 if self._builder is None else self._builder.late_trades

    @property
    def last_trade_ms(self) -> int | None:
        """Time of the newest trade taken; None before the stream has taken one."""
        return None if self._intake is None else self._intake.last_trade_ms

    @property
    def late_volume(self) -> float:
        return 0.0 if self._builder is None else self._builder.late_volume

    async def history(self, limit: int) -> list[Candle]:
        """The exchange's last `limit` closed candles (klines); the stream goes on after them."""
        candles = await self._history.history(limit)
        if candles:
            self._start_ms = candles[-1].ts_ms + self._tf_ms
        return candles

    async def stream(self) -> AsyncIterator[Sequence[Candle]]:
        """Candles made from trades, in order, each once, as their periods close."""
        if self._start_ms is None:
            self._start_ms = period_open_ms(self._clock.now_ms(), self._tf_ms)
        builder = self._builder = TradeCandleBuilder(self._tf_ms, source=self._source, start_ms=self._start_ms)
        self._intake = TradeIntake(self._source, self._start_ms)
        self._last_candle_close_ms = self._start_ms
        try:
            while not self._clock.closed:
                if self._websocket and self._clock.now_ms() >= self._websocket_retry_ms:
                    async for batch in self._watch(builder):
                        yield batch
                    self._websocket_retry_ms = self._clock.now_ms() + self._websocket_pause_ms
                asked_ms = self._clock.now_ms()
                closed = await self._poll(builder)
                if closed is None:
                    return
                closed += builder.close_until(asked_ms, self._grace_ms)
                if closed:
                    self._candles_came(closed)
                    yield closed
                self._check_stale(self._clock.now_ms())
                due_ms = min(asked_ms + self._poll_ms, builder.next_close_ms + self._grace_ms)
                if not await self._clock.sleep_until(due_ms):
                    return
        finally:
            builder.flush_late()

    async def aclose(self) -> None:
        """End a `stream()` in progress (before its next batch). The client stays open."""
        self._clock.close()
        await self._history.aclose()

    # -- polling -------------------------------------------------------------------------------

    async def _poll(self, builder: TradeCandleBuilder) -> list[Candle] | None:
        """Every trade since the last one seen into `builder`; the candles that closed, or None
        when the feed was closed meanwhile."""
        closed: list[Candle] = []
        from_id: int | None = None                        # paging by id, once a page filled one millisecond
        while not self._clock.closed:
            rows = await self._fetch(self._intake.since_ms, from_id)
            if rows is None:
                return None
            taken = self._intake.take(rows)
            for trade in taken:
                closed += builder.add(*trade)
            if len(rows) >= self._limit and (from_id is not None or _one_millisecond(rows)):
                from_id = self._next_id(rows)             # by time, the next page would be this one again
                if from_id is not None:
                    continue
            elif len(rows) >= self._limit and taken:
                continue                                  # a full page of new trades: more may follow at once
            if not rows and self._intake.since_ms + _WINDOW_MS < self._clock.now_ms():
                self._intake.since_ms += _WINDOW_MS       # a quiet hour after an outage: look further on
                continue
            return closed
        return None

    async def _fetch(self, since_ms: int, from_id: int | None = None) -> list[dict[str, Any]] | None:
        """`fetch_trades` from `since_ms` (or from trade id `from_id`), retried until it works;
        None when closed meanwhile."""
        if from_id is not None:
            return await self._retry(lambda: self._client.fetch_trades(self.symbol, limit=self._limit,
                                                                       params={"fromId": from_id}))
        return await self._retry(lambda: self._client.fetch_trades(self.symbol, since=since_ms, limit=self._limit))

    def _next_id(self, rows: list[dict[str, Any]]) -> int | None:
        """The id to page on from after a full page `rows` within one millisecond: its highest
        + 1 on Binance, whose aggTrades ids count up with no gap; elsewhere None, after skipping
        the rest of that millisecond (its trades beyond the page cannot be reached by time)."""
        ids = [int(row["id"]) for row in rows if isinstance(row.get("id"), str) and row["id"].isdigit()]
        if self.exchange.startswith("binance") and ids:
            return max(ids) + 1
        logger.warning("{}: {} trades at {} fill a page, and {} cannot page by id: any more trades in that "
                       "millisecond are left out", self._source, len(rows), iso_utc(self._intake.since_ms),
                       self.exchange)
        self._intake.skip_millisecond()
        return None

    # -- websocket -----------------------------------------------------------------------------

    async def _watch(self, builder: TradeCandleBuilder) -> AsyncIterator[list[Candle]]:
        """Candles from `watch_trades` (Binance's `<symbol>@aggTrade` stream, the ids of
        aggTrades), until its first error: then the caller polls. When a period's end plus the
        grace comes before a trade of the next period, one REST read catches up on what the
        stream has not delivered yet, and the candle is closed by the clock. So does the first
        answer: the stream has only what came after it subscribed."""
        caught_up = False
        while not self._clock.closed:
            due_ms = builder.next_close_ms + self._grace_ms
            try:
                rows = await self._watch_until(due_ms)
            except FATAL_ERRORS:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: polling is the fallback
                logger.warning("{}: websocket trades stopped ({}); polling REST, and trying the websocket again in "
                               "{} s", self._source, describe_error(exc), self._websocket_pause_ms // 1000)
                return
            if self._clock.closed:
                return
            closed: list[Candle] = []
            if rows is None or not caught_up:         # the clock reached the period's end + grace, or the first answer
                asked_ms = self._clock.now_ms()
                polled = await self._poll(builder)
                if polled is None:
                    return
                closed += polled
                caught_up = True
            if rows is None:
                closed += builder.close_until(asked_ms, self._grace_ms)
            else:
                for trade in self._intake.take(rows):
                    closed += builder.add(*trade)
            if closed:
                self._candles_came(closed)
                yield closed
            self._check_stale(self._clock.now_ms())

    async def _watch_until(self, due_ms: int) -> list[dict[str, Any]] | None:
        """The next `watch_trades` answer, or None once the clock reaches `due_ms` (or the feed
        is closed) first."""
        watched = await self._clock.unless_closed(
            self._client.watch_trades(self.symbol, params={"name": "aggTrade"}), until_ms=due_ms)
        return None if watched is None else watched.result()

    # -- time and staleness --------------------------------------------------------------------

    def _candles_came(self, candles: list[Candle]) -> None:
        self._last_candle_close_ms = candles[-1].ts_ms + self._tf_ms
        if self._staleness.stale:
            logger.info("{}: candles are back: {} closed", self._source, iso_utc(self._last_candle_close_ms))
            self._staleness.turn(False)

    def _check_stale(self, now_ms: int) -> None:
        if self._staleness.overdue(now_ms, self._last_candle_close_ms):
            logger.warning("{}: no candle for {} timeframes (the last closed at {}): no trades, or the exchange "
                           "cannot be reached; bots on this feed wait", self._source, self._stale_after_bars,
                           iso_utc(self._last_candle_close_ms))
            self._staleness.turn(True)


def _one_millisecond(rows: list[dict[str, Any]]) -> bool:
    """Whether every row of a page has one time: the next page by time would start there again."""
    return len({row.get("timestamp") for row in rows}) == 1
