"""Market data replayed from a candle list, as Binance's public endpoints serve it.

Copied behaviour:

- `GET /api/v3/klines`: 12-field rows `[openTime, "o", "h", "l", "c", "v", closeTime, "quoteVolume",
  trades, "takerBuyBase", "takerBuyQuote", "0"]`, oldest first, at most `limit` (default 500,
  max 1000). With `startTime` the rows start there; otherwise they are the latest ones up to
  `endTime` (or now). Only candles that have opened by now are served, and the last one may still
  be open, as on Binance. Coarser intervals are built from the replayed candles, so a coarse
  candle that is still forming holds only the candles seen so far.
- the book: best bid and ask sit half the configured spread either side of the last close,
  rounded outwards to the tick; deeper levels step one tick away with the same quantity.
- `GET /api/v3/ticker/24hr`: built from the candles of the last 24 hours.

Simplification: a replayed candle is seen whole once its open time has come, so the "still open"
last candle shows its final values.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from . import api_errors
from .exchange_info import SpotSymbol, fmt

INTERVAL_MS = {
    "1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000,
    "12h": 43_200_000, "1d": 86_400_000, "1w": 604_800_000,
}
DAY_MS = 86_400_000
WEEK_MS = 604_800_000
# Binance's 1w klines open on Monday 00:00 UTC (its docs' example week opens 2017-07-03, a
# Monday); the epoch was a Thursday, so weeks counted from it are shifted by four days. The
# other intervals open on multiples of their length since the epoch.
_MONDAY_SHIFT_MS = 4 * DAY_MS


def interval_open_ms(ts_ms: int, interval_ms: int) -> int:
    """Open time of the `interval_ms` kline holding `ts_ms`."""
    shift = _MONDAY_SHIFT_MS if interval_ms == WEEK_MS else 0
    return (ts_ms - shift) // interval_ms * interval_ms + shift


@dataclass(frozen=True)
class Bar:
    """A replayed candle, numbers as Decimal. `ts_ms` is its open time."""

    ts_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


def _dec(value: float | int | str | Decimal) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


class CandleTape:
    """The replayed candles of one symbol, all of one timeframe, oldest first."""

    def __init__(self, candles: Iterable[Sequence[Any]], *, timeframe_ms: int | None = None) -> None:
        self.bars = [Bar(int(c[0]), *(_dec(v) for v in c[1:6])) for c in candles]
        if not self.bars:
            raise ValueError("the stand-in needs at least one candle")
        starts = [b.ts_ms for b in self.bars]
        if any(b <= a for a, b in zip(starts, starts[1:])):
            raise ValueError("candles must be in strictly increasing ts_ms order")
        if timeframe_ms is None:
            if len(starts) < 2:
                raise ValueError("give timeframe_ms when replaying a single candle")
            timeframe_ms = starts[1] - starts[0]
        self.timeframe_ms = timeframe_ms
        self._starts = starts

    def visible_count(self, now_ms: int) -> int:
        """How many candles have opened at `now_ms`."""
        return bisect.bisect_right(self._starts, now_ms)

    def current(self, now_ms: int) -> Bar:
        """The last candle opened at `now_ms` (the first one before the replay starts)."""
        return self.bars[max(self.visible_count(now_ms) - 1, 0)]

    def opened_between(self, after_ms: int, until_ms: int) -> list[Bar]:
        """Candles whose open time is in `(after_ms, until_ms]`: what the clock just passed."""
        return self.bars[bisect.bisect_right(self._starts, after_ms):bisect.bisect_right(self._starts, until_ms)]

    def bars_for(self, interval: str, now_ms: int) -> tuple[list[Bar], int]:
        """The candles of `interval` opened by `now_ms` (built from the replayed ones), and its length."""
        interval_ms = INTERVAL_MS.get(interval)
        if interval_ms is None:
            raise api_errors.invalid_interval()
        if interval_ms % self.timeframe_ms:
            raise api_errors.invalid_interval(
                f"the stand-in replays {self.timeframe_ms} ms candles and cannot build {interval} from them")
        seen = self.bars[:self.visible_count(now_ms)]
        if interval_ms == self.timeframe_ms:
            return seen, interval_ms
        merged: list[Bar] = []
        for bar in seen:
            start = interval_open_ms(bar.ts_ms, interval_ms)
            if merged and merged[-1].ts_ms == start:
                last = merged[-1]
                merged[-1] = Bar(start, last.open, max(last.high, bar.high), min(last.low, bar.low), bar.close,
                                 last.volume + bar.volume)
            else:
                merged.append(Bar(start, bar.open, bar.high, bar.low, bar.close, bar.volume))
        return merged, interval_ms

    def klines(self, interval: str, *, now_ms: int, start_ms: int | None, end_ms: int | None,
               limit: int) -> list[list[Any]]:
        bars, interval_ms = self.bars_for(interval, now_ms)
        if start_ms is not None:
            bars = [b for b in bars if b.ts_ms >= start_ms]
        if end_ms is not None:
            bars = [b for b in bars if b.ts_ms <= end_ms]
        bars = bars[:limit] if start_ms is not None else bars[-limit:]
        return [_kline_row(b, interval_ms) for b in bars]

    def average_price(self, now_ms: int, minutes: int) -> Decimal:
        """Binance's average price (`GET /api/v3/avgPrice`, what PERCENT_PRICE_BY_SIDE compares
        with): volume-weighted over the candles opened in the last `minutes`, the current candle
        when none did; the last close when `minutes` is 0 or nothing traded."""
        seen = self.bars[:self.visible_count(now_ms)] or self.bars[:1]
        recent = ([b for b in seen if b.ts_ms > now_ms - minutes * 60_000] or seen[-1:]) if minutes else []
        volume = sum((b.volume for b in recent), Decimal(0))
        if not volume:
            return seen[-1].close
        return sum((b.close * b.volume for b in recent), Decimal(0)) / volume

    def last_24h(self, now_ms: int) -> list[Bar]:
        seen = self.bars[:self.visible_count(now_ms)]
        return [b for b in seen if b.ts_ms > now_ms - DAY_MS] or seen[-1:] or self.bars[:1]


def _kline_row(bar: Bar, interval_ms: int) -> list[Any]:
    quote_volume = bar.volume * bar.close
    trades = max(int(bar.volume * 10), 1)
    return [bar.ts_ms, fmt(bar.open), fmt(bar.high), fmt(bar.low), fmt(bar.close), fmt(bar.volume),
            bar.ts_ms + interval_ms - 1, fmt(quote_volume), trades, fmt(bar.volume / 2), fmt(quote_volume / 2), "0"]


@dataclass(frozen=True)
class Quote:
    """Best bid and ask, and the quantity shown at every level of the synthetic book."""

    bid: Decimal
    ask: Decimal
    level_qty: Decimal


def quote_from(close: Decimal, *, spread_bps: Decimal, tick: Decimal, level_qty: Decimal) -> Quote:
    half = close * spread_bps / Decimal(20_000)
    bid = ((close - half) / tick).to_integral_value(ROUND_FLOOR) * tick
    ask = ((close + half) / tick).to_integral_value(ROUND_CEILING) * tick
    if ask <= bid:
        ask = bid + tick
    return Quote(bid, ask, level_qty)


def depth(quote: Quote, *, tick: Decimal, limit: int, update_id: int) -> dict[str, Any]:
    levels = range(min(limit, 5000))
    return {
        "lastUpdateId": update_id,
        "bids": [[fmt(quote.bid - i * tick), fmt(quote.level_qty)] for i in levels if quote.bid - i * tick > 0],
        "asks": [[fmt(quote.ask + i * tick), fmt(quote.level_qty)] for i in levels],
    }


def ticker_24hr(symbol: SpotSymbol, bars: list[Bar], quote: Quote, *, now_ms: int) -> dict[str, Any]:
    first, last = bars[0], bars[-1]
    volume = sum((b.volume for b in bars), Decimal(0))
    quote_volume = sum((b.volume * b.close for b in bars), Decimal(0))
    change = last.close - first.open
    return {
        "symbol": symbol.id,
        "priceChange": fmt(change),
        "priceChangePercent": fmt(change / first.open * 100, 3),
        "weightedAvgPrice": fmt(quote_volume / volume if volume else last.close),
        "prevClosePrice": fmt(first.open),
        "lastPrice": fmt(last.close),
        "lastQty": fmt(Decimal("0.001")),
        "bidPrice": fmt(quote.bid), "bidQty": fmt(quote.level_qty),
        "askPrice": fmt(quote.ask), "askQty": fmt(quote.level_qty),
        "openPrice": fmt(first.open),
        "highPrice": fmt(max(b.high for b in bars)),
        "lowPrice": fmt(min(b.low for b in bars)),
        "volume": fmt(volume),
        "quoteVolume": fmt(quote_volume),
        "openTime": now_ms - DAY_MS,
        "closeTime": now_ms,
        "firstId": 1,                           # market trades are not simulated: one per candle
        "lastId": len(bars),
        "count": len(bars),
    }
