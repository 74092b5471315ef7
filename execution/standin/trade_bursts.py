"""A burst of trades in one millisecond, for the stand-in's market trades (`market_trades`).

A busy Binance market can print more aggregate trades in one millisecond than one
`GET /api/v3/aggTrades` page holds (1000): paging by `startTime` then asks for the same page
again and again, and only `fromId` reaches the trades after it. `BurstTrades` makes one candle
of the tape such a burst, so that a trade feed's pager can be tested through ccxt:

    standin.api.market_trades = BurstTrades(standin.api.tape, bar_index=60, count=2_500)

Candle `bar_index`'s trades become `count` trades at its open time: the open, the extreme away
from the close, the other extreme, then the close for the rest, the volume shared out as the
four trades of a plain candle share it, so they still make exactly the candle the klines
endpoint serves. Ids stay consecutive in time order: the burst's take the ids of its candle and
those after, and every later candle's ids move up by `count - 4`. `fromId`, `startTime` and
the publishing delay are served as for plain candles (`market_trades.agg_trades`).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import ROUND_FLOOR

from .market_data import CandleTape
from .market_trades import _PER_CANDLE, _QTY_STEP, MarketTrade, MarketTrades


class BurstTrades(MarketTrades):
    """The trades of `tape`, candle `bar_index`'s being `count` (at least 4) in its first millisecond."""

    def __init__(self, tape: CandleTape, bar_index: int, count: int) -> None:
        if count < _PER_CANDLE or not 0 <= bar_index < len(tape.bars) or tape.bars[bar_index].volume <= 0:
            raise ValueError(f"a burst is at least {_PER_CANDLE} trades of a candle with volume; "
                             f"got {count} at candle {bar_index}")
        super().__init__(tape)
        self.bar_index, self.count = bar_index, count
        self._first_id = bar_index * _PER_CANDLE + 1         # the burst's first id, a plain candle's
        self._shift = count - _PER_CANDLE                    # how far later candles' ids move up

    def of_bar(self, index: int) -> list[MarketTrade]:
        if index < self.bar_index:
            return super().of_bar(index)
        if index > self.bar_index:
            return [t._replace(id=t.id + self._shift) for t in super().of_bar(index)]
        bar = self._tape.bars[index]
        first, second = (bar.high, bar.low) if bar.close < bar.open else (bar.low, bar.high)
        prices = [bar.open, first, second] + [bar.close] * (self.count - 3)
        part = (bar.volume / self.count).quantize(_QTY_STEP, rounding=ROUND_FLOOR)
        qtys = [part] * (self.count - 1) + [bar.volume - part * (self.count - 1)]
        return [MarketTrade(self._first_id + k, bar.ts_ms, price, qty, k % 2 == 1)
                for k, (price, qty) in enumerate(zip(prices, qtys))]

    def forward(self, *, from_id: int | None = None, start_ms: int | None = None) -> Iterator[MarketTrade]:
        if from_id is None:
            yield from super().forward(start_ms=start_ms)
            return
        last_burst_id = self._first_id + self.count - 1
        first_bar = (max(from_id - 1, 0) // _PER_CANDLE if from_id < self._first_id else self.bar_index
                     if from_id <= last_burst_id else (from_id - self._shift - 1) // _PER_CANDLE)
        for index in range(first_bar, len(self._starts)):
            for trade in self.of_bar(index):
                if trade.id >= from_id and (start_ms is None or trade.time_ms >= start_ms):
                    yield trade
