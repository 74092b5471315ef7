"""The market's trades for the stand-in, made from its candle tape so that they agree with it.

Copied behaviour (Binance spot REST, "Market data endpoints"):

- `GET /api/v3/trades` (weight 25): `symbol`, `limit` (default 500, at most 1000); the most
  recent trades, oldest first, each `{"id", "price", "qty", "quoteQty", "time", "isBuyerMaker",
  "isBestMatch"}`.
- `GET /api/v3/aggTrades` (weight 4): `symbol`, `fromId`, `startTime`, `endTime`, `limit`
  (default 500, at most 1000), each `{"a", "p", "q", "f", "l", "T", "m", "M"}`, oldest first.
  `fromId` gives trades from that id on; `startTime`/`endTime` (both inclusive) a window, which
  may not be longer than an hour (-1127; ccxt's `fetch_trades(since=...)` asks exactly one hour);
  `fromId` with a time is -1128; none of them: the most recent trades.

Only trades whose time has come on the stand-in's clock are served. Every candle of the tape
is four trades, a quarter of its period apart from its open time: the open, the extreme away
from the close, the other extreme, the close, with the volume in four (the last takes what
rounding leaves), so the trades of a period make exactly the candle the klines endpoint
serves. Ids count up four per candle. Simplifications: one trade is its own aggregate
(`f == l == a`); a candle of zero volume has no trade (the klines show it, a trade feed sees a
period without trades); the account's own fills are not among the market's trades.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from . import api_errors
from .exchange_info import fmt
from .market_data import Bar, CandleTape

if TYPE_CHECKING:
    from .routes import Params, SpotApi

HOUR_MS = 3_600_000
_PER_CANDLE = 4
_QTY_STEP = Decimal("0.00000001")


class MarketTrade(NamedTuple):
    id: int
    time_ms: int
    price: Decimal
    qty: Decimal
    buyer_maker: bool


def price_path(bar: Bar) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """The prices of a candle's four trades, in time order: the open, the extreme away from
    the close, the other extreme, the close (resting stop orders trigger along the same path)."""
    first, second = (bar.high, bar.low) if bar.close < bar.open else (bar.low, bar.high)
    return bar.open, first, second, bar.close


class MarketTrades:
    """The trades of one candle tape, computed when asked (a long tape holds no trade list)."""

    def __init__(self, tape: CandleTape) -> None:
        self._tape = tape
        self._starts = [bar.ts_ms for bar in tape.bars]
        self._step_ms = max(tape.timeframe_ms // _PER_CANDLE, 1)
        self.publish_delay_ms = 0
        """Test hook: a trade is served only this long after its time (an exchange publishing
        late), so a trade feed's candle can close before its last trades are out."""

    def of_bar(self, index: int) -> list[MarketTrade]:
        """The trades of candle `index` of the tape, in time order."""
        bar: Bar = self._tape.bars[index]
        if bar.volume <= 0:
            return []
        part = (bar.volume / _PER_CANDLE).quantize(_QTY_STEP, rounding=ROUND_FLOOR)
        qtys = [part] * (_PER_CANDLE - 1) + [bar.volume - part * (_PER_CANDLE - 1)]
        base = index * _PER_CANDLE + 1
        return [MarketTrade(base + k, bar.ts_ms + k * self._step_ms, price, qty, k % 2 == 1)
                for k, (price, qty) in enumerate(zip(price_path(bar), qtys)) if qty > 0]

    def forward(self, *, from_id: int | None = None, start_ms: int | None = None) -> Iterator[MarketTrade]:
        """Trades from id `from_id` or time `start_ms` on, oldest first (every trade, whatever the clock)."""
        if from_id is not None:
            first_bar = max(from_id - 1, 0) // _PER_CANDLE
        else:
            first_bar = max(bisect.bisect_right(self._starts, start_ms or 0) - 1, 0)
        for index in range(first_bar, len(self._starts)):
            for trade in self.of_bar(index):
                if (from_id is None or trade.id >= from_id) and (start_ms is None or trade.time_ms >= start_ms):
                    yield trade

    def recent(self, now_ms: int, limit: int, *, until_ms: int | None = None) -> list[MarketTrade]:
        """The last `limit` trades at or before `until_ms` (default: now), oldest first."""
        until = now_ms if until_ms is None else min(until_ms, now_ms)
        found: list[MarketTrade] = []
        for index in range(bisect.bisect_right(self._starts, until) - 1, -1, -1):
            found[:0] = [t for t in self.of_bar(index) if t.time_ms <= until]
            if len(found) >= limit:
                break
        return found[-limit:] if limit else []


def recent_trades(api: SpotApi, params: Params) -> Any:
    """`GET /api/v3/trades`."""
    api._symbol(params)
    limit = _limit(api, params)
    return [{"id": t.id, "price": fmt(t.price), "qty": fmt(t.qty), "quoteQty": fmt(t.price * t.qty),
             "time": t.time_ms, "isBuyerMaker": t.buyer_maker, "isBestMatch": True}
            for t in api.market_trades.recent(api.now_ms - api.market_trades.publish_delay_ms, limit)]


def agg_trades(api: SpotApi, params: Params) -> Any:
    """`GET /api/v3/aggTrades`."""
    api._symbol(params)
    limit = _limit(api, params)
    from_id, start, end = api._int(params, "fromId"), api._int(params, "startTime"), api._int(params, "endTime")
    if from_id is not None and (start is not None or end is not None):
        raise api_errors.bad_param_combination()
    if start is not None and end is not None and end - start > HOUR_MS:
        raise api_errors.BinanceApiError(-1127, "More than 1 hours between startTime and endTime.")
    trades = api.market_trades
    published_ms = api.now_ms - trades.publish_delay_ms
    if from_id is None and start is None:
        chosen = trades.recent(published_ms, limit, until_ms=end)
    else:
        chosen = []
        for trade in trades.forward(from_id=from_id, start_ms=start):
            if len(chosen) >= limit or trade.time_ms > published_ms or (end is not None and trade.time_ms > end):
                break
            chosen.append(trade)
    return [{"a": t.id, "p": fmt(t.price), "q": fmt(t.qty), "f": t.id, "l": t.id, "T": t.time_ms,
             "m": t.buyer_maker, "M": True} for t in chosen]


def _limit(api: SpotApi, params: Params) -> int:
    limit = api._int(params, "limit", 500)
    if limit < 1:
        raise api_errors.BinanceApiError(-1100, "Illegal characters found in parameter 'limit'; legal range is '1'.")
    return min(limit, 1000)


def trade_events(trades: MarketTrades, market_id: str, stream: str, before_ms: int, now_ms: int) -> list[dict[str, Any]]:
    """The events of a `<symbol>@trade` or `<symbol>@aggTrade` stream for the clock moving from
    `before_ms` to `now_ms`: each trade published in between (Binance spot "WebSocket Streams":
    `{"e": "trade", "E", "s", "t", "p", "q", "T", "m", "M"}`, and `aggTrade` with `a`, `f`, `l`)."""
    market, _, kind = stream.partition("@")
    if market != market_id.lower() or kind not in ("trade", "aggTrade"):
        return []
    delay = trades.publish_delay_ms
    events = []
    for trade in trades.forward(start_ms=before_ms - delay + 1):
        if trade.time_ms + delay > now_ms:
            break
        event = {"e": kind, "E": trade.time_ms + delay, "s": market_id, "p": fmt(trade.price), "q": fmt(trade.qty),
                 "T": trade.time_ms, "m": trade.buyer_maker, "M": True}
        event |= {"t": trade.id} if kind == "trade" else {"a": trade.id, "f": trade.id, "l": trade.id}
        events.append(event)
    return events
