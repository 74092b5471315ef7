"""`TradeCandleBuilder`: live trades in, closed candles of one timeframe out, late trades said.

    builder = TradeCandleBuilder(60_000, source="binance BTC/USDT 1m", start_ms=t0)
    closed = builder.add(ts_ms, price, amount)          # a trade of a later period closes the open one
    closed += builder.close_until(now_ms, grace_ms)     # or the clock, past the period's end plus a grace

A candle is the trades of one period (`market.tick_periods`: UTC boundaries), in the order they
arrive: open the first trade's price, high and low the extremes, close the last, volume the sum
of the amounts. A trade of the open period that arrives out of time order is fine (a trade
feed's order is the exchange's); a period with no trade gives no candle, as in tick files.

A candle is emitted when its period has closed: a trade of a later period arrives, or the clock
passes the period's end plus `grace_ms` (trades published late by the exchange still count).
A trade for a period already emitted (or closed without a trade) is late: it never changes the
candle, which a strategy has already acted on. Late trades are counted (`late_trades`,
`late_volume`) and logged once per candle, with how many and how much volume, when the next
candle is emitted (by then the stragglers of the one before have come).
"""

from __future__ import annotations

from loguru import logger

from market.models import Candle, iso_utc
from market.tick_periods import period_open_ms


class TradeCandleBuilder:
    """Candles of `timeframe_ms` from trades, from the period holding `start_ms` on (trades
    before it are late: the candles before it came from elsewhere, say the klines history)."""

    def __init__(self, timeframe_ms: int, *, source: str, start_ms: int) -> None:
        self._tf_ms = timeframe_ms
        self._source = source
        self._next_open_ms = period_open_ms(start_ms, timeframe_ms)   # no candle before it is made any more
        self._open: list[float] | None = None       # [open_ms, open, high, low, close, volume] being built
        self._late_by_period: dict[int, list[float]] = {}   # period -> [trades, volume] not yet logged
        self.late_trades = 0
        self.late_volume = 0.0
        self.candles_emitted = 0

    @property
    def forming_open_ms(self) -> int | None:
        """Open time of the candle being built, None while its period has had no trade."""
        return None if self._open is None else int(self._open[0])

    @property
    def next_close_ms(self) -> int:
        """When the period being built (or the first not yet closed) ends."""
        start = self._next_open_ms if self._open is None else int(self._open[0])
        return start + self._tf_ms

    def add(self, ts_ms: int, price: float, amount: float) -> list[Candle]:
        """Take one trade; returns the candle it closed, if any (a trade of a later period)."""
        period = period_open_ms(ts_ms, self._tf_ms)
        candle = self._open
        if candle is not None and period == candle[0]:
            if price > candle[2]:
                candle[2] = price
            elif price < candle[3]:
                candle[3] = price
            candle[4] = price
            candle[5] += amount
            return []
        if period < (self._next_open_ms if candle is None else candle[0]):
            self._late(period, amount)
            return []
        closed = self._emit() if candle is not None else []
        self._open = [period, price, price, price, price, amount]
        return closed

    def close_until(self, now_ms: int, grace_ms: int) -> list[Candle]:
        """Emit the candle being built once `now_ms` is past its period's end plus `grace_ms`;
        periods that ended so without a trade are closed too (a trade for them is late)."""
        closed: list[Candle] = []
        if self._open is not None and now_ms >= self._open[0] + self._tf_ms + grace_ms:
            closed = self._emit()
        if self._open is None:
            self._next_open_ms = max(self._next_open_ms, period_open_ms(now_ms - grace_ms, self._tf_ms))
        return closed

    def flush_late(self) -> None:
        """Log the late trades not yet logged (the feed is closing)."""
        for period, (count, volume) in sorted(self._late_by_period.items()):
            logger.warning("{}: {} late trades ({:g} volume) for the period of {}, already closed (its candle was "
                           "emitted, or it had no trade); left out of every candle", self._source, int(count), volume,
                           iso_utc(period))
        self._late_by_period.clear()

    def _emit(self) -> list[Candle]:
        candle = self._open
        self._open = None
        self._next_open_ms = int(candle[0]) + self._tf_ms
        self.candles_emitted += 1
        if self._late_by_period:
            self.flush_late()
        return [Candle(int(candle[0]), *candle[1:])]

    def _late(self, period: int, amount: float) -> None:
        self.late_trades += 1
        self.late_volume += amount
        entry = self._late_by_period.setdefault(period, [0, 0.0])
        entry[0] += 1
        entry[1] += amount
