"""`donchian_breakout`: the channel breakout of the turtle traders, long only.

Rule, evaluated once per closed candle t, over the candles before it:

- GO_LONG when close[t] > max(high[t-entry .. t-1]);
- GO_FLAT when close[t] < min(low[t-exit .. t-1]);
- None otherwise, and until `entry` (and `exit`) candles came before t.
"""

from __future__ import annotations

from collections import deque

from market.view import MarketView
from strategies.base import Strategy, StrategyParams
from strategies.params import Period
from strategies.signal import GO_FLAT, GO_LONG, Signal


class DonchianParams(StrategyParams):
    entry: Period = 20
    exit: Period = 10


class DonchianBreakout(Strategy):
    """Buys a break above the recent highs, sells a break below the recent lows."""

    name = "donchian_breakout"
    Params = DonchianParams

    def __init__(self, params: DonchianParams) -> None:
        super().__init__(params)
        self._highs: deque[float] = deque(maxlen=params.entry)
        self._lows: deque[float] = deque(maxlen=params.exit)

    @property
    def warmup_bars(self) -> int:
        return max(self.params.entry, self.params.exit) + 1

    def generate_signal(self, market_data: MarketView) -> Signal | None:
        candle = market_data.candle
        highs, lows = self._highs, self._lows
        signal = None
        if len(highs) == highs.maxlen and candle.close > max(highs):
            signal = GO_LONG
        elif len(lows) == lows.maxlen and candle.close < min(lows):
            signal = GO_FLAT
        highs.append(candle.high)      # after the test: the channel is the candles before t
        lows.append(candle.low)
        return signal
